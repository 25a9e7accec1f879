#include "core/common.h"

#include "apiserver/api_int.h"
#include "core/json.h"

static const char crd_cleanup_finalizer[] = "customresourcecleanup.apiextensions.k8s.io";

static idp_code crd_invalid(const char *name, const char *field, const char *value,
                            const char *detail, idp_err *e) {
  if (value)
    return idp_err_set(e, IDP_EINVALID,
                       "CustomResourceDefinition.apiextensions.k8s.io \"%s\" is invalid: %s: "
                       "Invalid value: \"%s\": %s",
                       name, field, value, detail);
  return idp_err_set(e, IDP_EINVALID,
                     "CustomResourceDefinition.apiextensions.k8s.io \"%s\" is invalid: %s: %s",
                     name, field, detail);
}

static bool dns_label(const char *s) {
  size_t n = strlen(s);
  if (!n || n > 63) return false;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || (ch == '-' && i && i + 1 < n);
    if (!ok) return false;
  }
  return true;
}

static json_t *condition(const char *type, const char *reason, const char *msg, const char *now) {
  return json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", type, "status", "True",
                   "lastTransitionTime", now, "reason", reason, "message", msg);
}

idp_code api_crd_prepare(api_registry *reg, json_t *crd, bool is_update, idp_err *e) {
  IDP_UNUSED(reg);
  const char *name = api_obj_name(crd);
  if (!name) name = "";
  json_t *spec = json_object_get(crd, "spec");
  if (!json_is_object(spec)) return crd_invalid(name, "spec", NULL, "Required value", e);
  const char *group = idp_json_get_str(spec, "group", NULL);
  json_t *names = json_object_get(spec, "names");
  const char *plural = idp_json_get_str(names, "plural", NULL);
  const char *kind = idp_json_get_str(names, "kind", NULL);
  const char *scope = idp_json_get_str(spec, "scope", NULL);
  if (!group || !*group) return crd_invalid(name, "spec.group", NULL, "Required value", e);
  if (!strchr(group, '.'))
    return crd_invalid(name, "spec.group", group, "should be a domain with at least one dot", e);
  if (!plural || !*plural) return crd_invalid(name, "spec.names.plural", NULL, "Required value", e);
  if (!dns_label(plural))
    return crd_invalid(name, "spec.names.plural", plural, "a lowercase RFC 1123 label is required", e);
  if (!kind || !*kind) return crd_invalid(name, "spec.names.kind", NULL, "Required value", e);
  char want[600];
  snprintf(want, sizeof want, "%s.%s", plural, group);
  if (strcmp(name, want))
    return crd_invalid(name, "metadata.name", name, "must be spec.names.plural+\".\"+spec.group", e);
  if (!scope || (strcmp(scope, "Namespaced") && strcmp(scope, "Cluster")))
    return crd_invalid(name, "spec.scope", scope ? scope : "", "supported values: \"Cluster\", \"Namespaced\"", e);
  json_t *versions = json_object_get(spec, "versions");
  if (!json_is_array(versions) || !json_array_size(versions))
    return crd_invalid(name, "spec.versions", NULL, "Required value: must have at least one version", e);
  size_t storage = 0, i;
  json_t *v;
  const char *storage_name = NULL;
  json_array_foreach(versions, i, v) {
    const char *vn = idp_json_get_str(v, "name", NULL);
    char field[64];
    snprintf(field, sizeof field, "spec.versions[%zu].name", i);
    if (!vn || !dns_label(vn)) return crd_invalid(name, field, vn ? vn : "", "must be a DNS-1035 label", e);
    if (!json_is_boolean(json_object_get(v, "served")) || !json_is_boolean(json_object_get(v, "storage"))) {
      snprintf(field, sizeof field, "spec.versions[%zu]", i);
      return crd_invalid(name, field, NULL, "Required value: served and storage are required", e);
    }
    if (json_is_true(json_object_get(v, "storage"))) {
      storage++;
      storage_name = vn;
    }
    json_t *schema = idp_json_get(v, "schema", "openAPIV3Schema", NULL);
    if (schema && !json_is_object(schema)) {
      snprintf(field, sizeof field, "spec.versions[%zu].schema.openAPIV3Schema", i);
      return crd_invalid(name, field, NULL, "must be an object", e);
    }
  }
  if (storage != 1)
    return crd_invalid(name, "spec.versions", NULL,
                       "Invalid value: must have exactly one version marked as storage version", e);
  /* defaults */
  char lower[256];
  if (!idp_json_get_str(names, "singular", NULL)) {
    size_t k = 0;
    for (; kind[k] && k + 1 < sizeof lower; k++)
      lower[k] = (char)((kind[k] >= 'A' && kind[k] <= 'Z') ? kind[k] + 32 : kind[k]);
    lower[k] = '\0';
    json_object_set_new(names, "singular", json_string(lower));
  }
  if (!idp_json_get_str(names, "listKind", NULL)) {
    char lk[300];
    snprintf(lk, sizeof lk, "%sList", kind);
    json_object_set_new(names, "listKind", json_string(lk));
  }
  /* the cleanup finalizer: deleting the CRD first deletes its objects */
  json_t *md = idp_json_child_object(crd, "metadata");
  if (!is_update) {
    json_t *fl = json_object_get(md, "finalizers");
    if (!json_is_array(fl)) {
      fl = json_array();
      json_object_set_new(md, "finalizers", fl);
    }
    bool have = false;
    json_array_foreach(fl, i, v) have |= json_is_string(v) && !strcmp(json_string_value(v), crd_cleanup_finalizer);
    if (!have) json_array_append_new(fl, json_string(crd_cleanup_finalizer));
  }
  /* status */
  char now[32];
  api_now_rfc3339(now, sizeof now);
  json_t *status = json_object_get(crd, "status");
  if (!json_is_object(status)) {
    status = json_object();
    json_object_set_new(crd, "status", status);
  }
  json_object_set(status, "acceptedNames", names);
  json_t *stored = json_object_get(status, "storedVersions");
  if (!json_is_array(stored)) {
    stored = json_array();
    json_object_set_new(status, "storedVersions", stored);
  }
  bool have = false;
  json_array_foreach(stored, i, v) have |= json_is_string(v) && !strcmp(json_string_value(v), storage_name);
  if (!have) json_array_append_new(stored, json_string(storage_name));
  json_t *conds = json_object_get(status, "conditions");
  bool terminating = idp_json_get(crd, "metadata", "deletionTimestamp", NULL) != NULL;
  if (!json_is_array(conds) || !is_update) {
    conds = json_array();
    json_array_append_new(conds, condition("NamesAccepted", "NoConflicts", "no conflicts found", now));
    json_array_append_new(conds, condition("Established", "InitialNamesAccepted",
                                           "the initial names have been accepted", now));
    json_object_set_new(status, "conditions", conds);
  }
  if (terminating) {
    bool has_t = false;
    json_array_foreach(conds, i, v) has_t |= !strcmp(idp_json_get_str(v, "type", NULL) ? idp_json_get_str(v, "type", NULL) : "", "Terminating");
    if (!has_t)
      json_array_append_new(conds, condition("Terminating", "InstanceDeletionInProgress",
                                             "CustomResource deletion is in progress", now));
  }
  return IDP_OK;
}
