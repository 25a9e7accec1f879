/* ClusterExternalSecret: one ExternalSecret (spec.externalSecretSpec,
 * named spec.externalSecretName or the ClusterExternalSecret's name, with
 * spec.externalSecretMetadata) in every namespace chosen by
 * spec.namespaceSelectors (any matches), the deprecated
 * spec.namespaceSelector, or spec.namespaces.  The ExternalSecrets are
 * owned by the ClusterExternalSecret (garbage-collected with it) and
 * deleted from namespaces that stop matching.  An ExternalSecret of the
 * same name that someone else owns is left alone and reported in
 * status.failedNamespaces.  Namespaces are re-checked every
 * spec.refreshTime (default 1m) and on every Namespace event. */
#include "core/common.h"

#include "core/json.h"
#include "kube/selector.h"
#include "secrets/internal.h"

static bool ns_matches(const json_t *ces, const json_t *nsobj, idp_err *e) {
  const char *name = idp_json_get_str(nsobj, "metadata", "name", NULL);
  json_t *labels = idp_json_get(nsobj, "metadata", "labels", NULL);
  json_t *spec = json_object_get(ces, "spec");
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(spec, "namespaces"), i, v) if (json_is_string(v) && name && !strcmp(json_string_value(v), name)) return true;
  json_t *sels = json_object_get(spec, "namespaceSelectors");
  json_t *one = json_object_get(spec, "namespaceSelector");
  json_t *all = json_array();
  json_array_extend(all, json_is_array(sels) ? sels : NULL);
  if (json_is_object(one)) json_array_append(all, one);
  bool ok = false;
  json_array_foreach(all, i, v) {
    idp_selector *s = NULL;
    if (idp_selector_from_json(v, &s, e)) continue;
    if (idp_selector_matches(s, labels)) ok = true;
    idp_selector_free(s);
  }
  json_decref(all);
  return ok;
}

static bool owned_by_ces(const json_t *es, const char *uid) {
  size_t i;
  json_t *r;
  json_array_foreach(idp_json_get(es, "metadata", "ownerReferences", NULL), i, r) {
    const char *u = idp_json_get_str(r, "uid", NULL);
    if (u && uid && !strcmp(u, uid)) return true;
  }
  return false;
}

idp_code sp_ces_reconcile(void *ud, const char *key, int64_t *again, idp_err *e) {
  idp_secrets *s = ud;
  json_t *ces = idp_informer_get_key(s->ces_inf, key);
  if (!ces) return IDP_OK;
  if (idp_json_get(ces, "metadata", "deletionTimestamp", NULL)) {
    json_decref(ces);
    return IDP_OK;
  }
  const char *cname = idp_json_get_str(ces, "metadata", "name", NULL);
  const char *cuid = idp_json_get_str(ces, "metadata", "uid", NULL);
  const char *esname = idp_json_get_str(ces, "spec", "externalSecretName", NULL);
  if (!esname || !*esname) esname = cname;
  json_t *esspec = idp_json_get(ces, "spec", "externalSecretSpec", NULL);
  json_t *meta = idp_json_get(ces, "spec", "externalSecretMetadata", NULL);
  int64_t refresh = 60000;
  const char *rt = idp_json_get_str(ces, "spec", "refreshTime", NULL);
  idp_err pe = IDP_ERR_INIT;
  if (rt && sp_parse_duration(rt, &refresh, &pe)) refresh = 60000;
  if (refresh < 1000) refresh = 1000;

  json_t *provisioned = json_array(), *failed = json_array();
  json_t *nss = idp_informer_list(s->ns_inf, NULL);
  json_t *matched = json_object();
  size_t i;
  json_t *nso;
  idp_code rc = IDP_OK;
  json_array_foreach(nss, i, nso) {
    const char *ns = idp_json_get_str(nso, "metadata", "name", NULL);
    if (!ns || idp_json_get(nso, "metadata", "deletionTimestamp", NULL)) continue;
    idp_err me = IDP_ERR_INIT;
    if (!ns_matches(ces, nso, &me)) continue;
    json_object_set_new(matched, ns, json_true());
    json_t *cur = idp_informer_get(s->es_inf, ns, esname);
    if (cur && !owned_by_ces(cur, cuid)) {
      json_array_append_new(failed, json_pack("{s:s,s:s}", "namespace", ns, "reason",
                                              "external secret already exists in namespace"));
      json_decref(cur);
      continue;
    }
    json_t *want = cur ? json_deep_copy(cur)
                       : json_pack("{s:s,s:s,s:{s:s,s:s,s:[{s:s,s:s,s:s,s:s,s:b,s:b}]}}", "apiVersion",
                                   "external-secrets.io/v1", "kind", "ExternalSecret", "metadata", "name",
                                   esname, "namespace", ns, "ownerReferences", "apiVersion",
                                   "external-secrets.io/v1", "kind", "ClusterExternalSecret", "name",
                                   cname, "uid", cuid ? cuid : "", "controller", 1, "blockOwnerDeletion", 1);
    json_t *m = idp_json_child_object(want, "metadata");
    if (json_object_size(json_object_get(meta, "labels")))
      json_object_update(idp_json_child_object(m, "labels"), json_object_get(meta, "labels"));
    if (json_object_size(json_object_get(meta, "annotations")))
      json_object_update(idp_json_child_object(m, "annotations"), json_object_get(meta, "annotations"));
    json_object_set(want, "spec", esspec ? esspec : json_object());
    if (!esspec) json_decref(json_object_get(want, "spec"));
    idp_err we = IDP_ERR_INIT;
    idp_code wrc = IDP_OK;
    if (!cur || !json_equal(cur, want)) {
      idp_kref r = {.group = "external-secrets.io", .version = "v1", .resource = "externalsecrets",
                    .ns = ns, .name = cur ? esname : NULL};
      wrc = cur ? idp_kclient_update(s->kc, &r, want, &(idp_kwrite_opts){.field_manager = "external-secrets"}, NULL, &we)
                : idp_kclient_create(s->kc, &r, want, &(idp_kwrite_opts){.field_manager = "external-secrets"}, NULL, &we);
    }
    if (wrc) {
      json_array_append_new(failed, json_pack("{s:s,s:s}", "namespace", ns, "reason", we.msg));
      if (wrc == IDP_ECONFLICT) rc = idp_err_set(e, wrc, "%s", we.msg);
    } else {
      json_array_append_new(provisioned, json_string(ns));
    }
    json_decref(want);
    json_decref(cur);
  }
  /* namespaces that no longer match: delete our ExternalSecrets there */
  json_t *prev = idp_json_get(ces, "status", "provisionedNamespaces", NULL);
  json_t *pv;
  json_array_foreach(prev, i, pv) {
    const char *ns = json_string_value(pv);
    if (!ns || json_object_get(matched, ns)) continue;
    json_t *cur = idp_informer_get(s->es_inf, ns, esname);
    if (cur && owned_by_ces(cur, cuid)) {
      idp_kref r = {.group = "external-secrets.io", .version = "v1", .resource = "externalsecrets",
                    .ns = ns, .name = esname};
      idp_err de = IDP_ERR_INIT;
      idp_kclient_delete(s->kc, &r, NULL, NULL, &de);
    }
    json_decref(cur);
  }
  char now[32];
  sp_rfc3339(sp_now_ms(), now);
  bool ok = json_array_size(failed) == 0;
  json_t *oldc = NULL;
  json_t *c;
  json_array_foreach(idp_json_get(ces, "status", "conditions", NULL), i, c) if (!strcmp(idp_json_get_str(c, "type", NULL) ? idp_json_get_str(c, "type", NULL) : "", "Ready")) oldc = c;
  const char *os = idp_json_get_str(oldc, "status", NULL);
  const char *ltt = os && !strcmp(os, ok ? "True" : "False") ? idp_json_get_str(oldc, "lastTransitionTime", NULL) : NULL;
  json_t *st = json_pack("{s:s,s:O,s:[{s:s,s:s,s:s,s:s}]}", "externalSecretName", esname,
                         "provisionedNamespaces", provisioned, "conditions", "type", "Ready", "status",
                         ok ? "True" : "False", "message",
                         ok ? "ExternalSecrets are provisioned" : "one or more namespaces failed",
                         "lastTransitionTime", ltt ? ltt : now);
  if (json_array_size(failed)) json_object_set(st, "failedNamespaces", failed);
  json_t *oldst = json_deep_copy(json_object_get(ces, "status"));
  json_t *cmp = json_deep_copy(st);
  if (!json_array_size(failed)) json_object_set_new(cmp, "failedNamespaces", json_null());
  json_t *oldf = json_object_get(oldst, "failedNamespaces");
  bool same = oldst && json_equal(json_object_get(oldst, "provisionedNamespaces"), provisioned) &&
              (oldf ? json_equal(oldf, failed) : json_array_size(failed) == 0) &&
              os && !strcmp(os, ok ? "True" : "False");
  if (!same) {
    json_t *patch = json_pack("{s:O}", "status", st);
    if (!json_array_size(failed)) json_object_set_new(json_object_get(patch, "status"), "failedNamespaces", json_null());
    idp_kref r = {.group = "external-secrets.io", .version = "v1", .resource = "clusterexternalsecrets",
                  .name = cname, .subresource = "status"};
    idp_err pe2 = IDP_ERR_INIT;
    idp_code prc = idp_kclient_patch(s->kc, &r, IDP_PATCH_MERGE, patch, &(idp_kwrite_opts){.field_manager = "external-secrets"}, NULL, &pe2);
    if (prc && !rc) rc = idp_err_set(e, prc, "%s", pe2.msg);
    json_decref(patch);
    if (!ok) sp_event(s, ces, "Warning", "NamespacesFailed", "one or more namespaces failed");
  }
  json_decref(oldst);
  json_decref(cmp);
  json_decref(st);
  json_decref(nss);
  json_decref(matched);
  json_decref(provisioned);
  json_decref(failed);
  json_decref(ces);
  *again = refresh;
  return rc;
}
