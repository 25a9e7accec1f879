/* values.c: the CLI's Values (cli.kyverno.io/v1alpha1) bound to one policy
 * and one resource, as `kyverno test` and `kyverno apply` use them. */
#include "core/common.h"

#include "core/json.h"
#include "policy/internal.h"

/* Case-insensitive member lookup (Go encoding/json). */
static json_t *ci_get(const json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  if (v) return v;
  const char *k;
  json_object_foreach((json_t *)o, k, v) {
    if (strcasecmp(k, key) == 0) return v;
  }
  return NULL;
}

static const json_t *find_named(const json_t *arr, const char *name) {
  for (size_t i = 0; name && i < json_array_size(arr); i++) {
    const char *n = json_string_value(ci_get(json_array_get(arr, i), "name"));
    if (n && strcmp(n, name) == 0) return json_array_get(arr, i);
  }
  return NULL;
}

/* "group/version" or "version" of a {group, version} pair, into buf. */
static const char *gv_text(const json_t *o, char *buf, size_t n) {
  const char *g = json_string_value(ci_get(o, "group"));
  const char *ver = json_string_value(ci_get(o, "version"));
  if (g && *g)
    snprintf(buf, n, "%s/%s", g, ver ? ver : "");
  else
    snprintf(buf, n, "%s", ver ? ver : "");
  return buf;
}

void pol_values_load(const json_t *vs, pol_values *v) {
  v->subresources = json_array();
  v->global = json_object();
  v->policies = json_array();
  v->ns_labels = json_object();
  if (!json_is_object(vs)) return;
  /* subresources[] normalised to {kind, apiVersion, parentKind,
   * parentApiVersion, subresource} for lookups */
  json_t *sr = ci_get(vs, "subresources");
  for (size_t i = 0; i < json_array_size(sr); i++) {
    const json_t *e = json_array_get(sr, i);
    const json_t *sub = ci_get(e, "subresource"), *parent = ci_get(e, "parentResource");
    const char *sk = json_string_value(ci_get(sub, "kind"));
    const char *pk = json_string_value(ci_get(parent, "kind"));
    const char *name = json_string_value(ci_get(sub, "name"));
    if (!sk || !pk) continue;
    char sav[256], pav[256];
    const char *slash = name ? strchr(name, '/') : NULL;
    json_array_append_new(v->subresources,
                          json_pack("{s:s,s:s,s:s,s:s,s:s}", "kind", sk, "apiVersion",
                                    gv_text(sub, sav, sizeof sav), "parentKind", pk,
                                    "parentApiVersion", gv_text(parent, pav, sizeof pav),
                                    "subresource", slash ? slash + 1 : ""));
  }
  json_t *g = ci_get(vs, "globalValues");
  if (json_is_object(g)) json_object_update(v->global, g);
  json_t *p = ci_get(vs, "policies");
  if (json_is_array(p)) json_array_extend(v->policies, p);
  json_t *nss = ci_get(vs, "namespaceSelector");
  for (size_t i = 0; i < json_array_size(nss); i++) {
    const char *n = json_string_value(ci_get(json_array_get(nss, i), "name"));
    json_t *l = ci_get(json_array_get(nss, i), "labels");
    if (n && json_is_object(l)) json_object_set(v->ns_labels, n, l);
  }
  /* Namespace objects take precedence over namespaceSelector entries */
  json_t *nsobjs = ci_get(vs, "namespaces");
  for (size_t i = 0; i < json_array_size(nsobjs); i++) {
    const json_t *o = json_array_get(nsobjs, i);
    const char *n = idp_json_get_str(o, "metadata", "name", NULL);
    json_t *l = idp_json_get(o, "metadata", "labels", NULL);
    if (n) json_object_set_new(v->ns_labels, n, l ? json_deep_copy(l) : json_object());
  }
}

void pol_values_free(pol_values *v) {
  json_decref(v->subresources);
  json_decref(v->global);
  json_decref(v->policies);
  json_decref(v->ns_labels);
  memset(v, 0, sizeof *v);
}

void pol_values_bind(const pol_values *v, const char *policy, const char *resource_name,
                     pol_bound *out) {
  out->values = v->global ? json_deep_copy(v->global) : json_object();
  out->rule_values = json_object();
  out->foreach_values = json_object();
  const json_t *pv = find_named(v->policies, policy);
  const json_t *rv = find_named(ci_get(pv, "resources"), resource_name);
  const json_t *rvv = ci_get(rv, "values");
  if (json_is_object(rvv)) json_object_update(out->values, (json_t *)rvv);
  const json_t *rules = ci_get(pv, "rules");
  for (size_t k = 0; k < json_array_size(rules); k++) {
    const json_t *ru = json_array_get(rules, k);
    const char *rn = json_string_value(ci_get(ru, "name"));
    if (!rn) continue;
    if (ci_get(ru, "values")) json_object_set(out->rule_values, rn, ci_get(ru, "values"));
    if (ci_get(ru, "foreachValues"))
      json_object_set(out->foreach_values, rn, ci_get(ru, "foreachValues"));
  }
  const char *op = json_string_value(json_object_get(out->values, "request.operation"));
  out->is_delete = op && strcmp(op, "DELETE") == 0;
  out->operation = out->is_delete ? "DELETE" : (op && strcmp(op, "UPDATE") == 0) ? "UPDATE" : NULL;
}

void pol_bound_free(pol_bound *b) {
  json_decref(b->values);
  json_decref(b->rule_values);
  json_decref(b->foreach_values);
  memset(b, 0, sizeof *b);
}

json_t *pol_values_object(const json_t *obj, const json_t *values, const char *prefix) {
  size_t pl = strlen(prefix);
  json_t *out = NULL;
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)values, k, v) {
    if (strncmp(k, prefix, pl) != 0 || k[pl] != '.') continue;
    if (!out) out = json_is_object(obj) ? json_deep_copy(obj) : json_object();
    pol_set_dotted(out, k + pl + 1, json_deep_copy(v));
  }
  return out ? out : (obj ? json_incref((json_t *)obj) : NULL);
}

void pol_values_subresource(const pol_values *v, const json_t *obj, pol_request *req) {
  req->parent_kind = req->parent_api_version = req->subresource = NULL;
  const char *kind = idp_json_get_str(obj, "kind", NULL);
  const char *api = idp_json_get_str(obj, "apiVersion", NULL);
  for (size_t i = 0; kind && api && i < json_array_size(v->subresources); i++) {
    const json_t *e = json_array_get(v->subresources, i);
    if (strcmp(idp_json_get_str(e, "kind", NULL), kind) != 0 ||
        strcmp(idp_json_get_str(e, "apiVersion", NULL), api) != 0)
      continue;
    req->parent_kind = idp_json_get_str(e, "parentKind", NULL);
    req->parent_api_version = idp_json_get_str(e, "parentApiVersion", NULL);
    req->subresource = idp_json_get_str(e, "subresource", NULL);
    return;
  }
}
