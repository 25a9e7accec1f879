#include "core/common.h"

#include "apiserver/api_int.h"
#include "core/json.h"
#include "core/log.h"

static const char *const initial_namespaces[] = {"default", "kube-system", "kube-public",
                                                 "kube-node-lease"};

static void ensure(idp_apiserver *s, const char *group, const char *plural, json_t *obj) {
  api_resource *r = NULL;
  size_t n = 0;
  api_resource **rows = api_registry_snapshot(s->reg, &n);
  for (size_t i = 0; i < n && !r; i++)
    if (!strcmp(rows[i]->group, group) && !strcmp(rows[i]->plural, plural)) {
      r = rows[i];
      atomic_fetch_add(&r->refs, 1);
    }
  api_registry_snapshot_free(rows, n);
  if (!r) {
    json_decref(obj);
    return;
  }
  json_t *cur = NULL;
  idp_err e = IDP_ERR_INIT;
  if (idp_store_get(s->store, r->store_key, r->namespaced ? api_obj_ns(obj) : "",
                    api_obj_name(obj), &cur, &e) == IDP_ENOTFOUND) {
    if (api_create_internal(s, r, obj, &e) && e.code != IDP_EEXIST)
      idp_log(IDP_LOG_WARN, "bootstrap object not created", "name", api_obj_name(obj), "error",
              e.msg, NULL);
  }
  json_decref(cur);
  json_decref(obj);
  api_resource_unref(r);
}

void api_namespace_defaults(idp_apiserver *s, const char *ns) {
  if (!ns) return;
  ensure(s, "", "serviceaccounts",
         json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "v1", "kind", "ServiceAccount",
                   "metadata", "name", "default", "namespace", ns));
  ensure(s, "", "configmaps",
         json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:{s:s}}", "apiVersion", "v1", "kind",
                   "ConfigMap", "metadata", "name", "kube-root-ca.crt", "namespace", ns,
                   "annotations", "kubernetes.io/description",
                   "Contains a CA bundle that can be used to verify the kube-apiserver when using "
                   "internal endpoints such as the internal service IP or "
                   "kubernetes.default.svc. No other usage is guaranteed across distributions of "
                   "Kubernetes clusters.",
                   "data", "ca.crt", s->ca_pem ? s->ca_pem : ""));
}

idp_code api_bootstrap(idp_apiserver *s, idp_err *e) {
  /* CRDs in the store serve again */
  json_t *crds = NULL;
  int64_t rev;
  char *next = NULL;
  idp_store_list_opts o = {0};
  idp_code c = idp_store_list(s->store, "apiextensions.k8s.io/customresourcedefinitions", &o,
                              &crds, &rev, &next, e);
  if (c) return c;
  free(next);
  size_t i;
  json_t *crd;
  json_array_foreach(crds, i, crd) {
    idp_err ce = IDP_ERR_INIT;
    if (api_registry_put_crd(s->reg, crd, &ce))
      idp_log(IDP_LOG_WARN, "stored CRD not served", "name", api_obj_name(crd), "error", ce.msg,
              NULL);
  }
  json_decref(crds);
  for (i = 0; i < IDP_ARRAY_LEN(initial_namespaces); i++)
    ensure(s, "", "namespaces",
           json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace", "metadata",
                     "name", initial_namespaces[i]));
  /* every namespace (also ones created before a restart) has its defaults */
  json_t *nss = NULL;
  c = idp_store_list(s->store, "core/namespaces", &o, &nss, &rev, &next, e);
  if (c) return c;
  free(next);
  json_t *ns;
  json_array_foreach(nss, i, ns) {
    if (!idp_json_get(ns, "metadata", "deletionTimestamp", NULL))
      api_namespace_defaults(s, api_obj_name(ns));
  }
  json_decref(nss);
  return IDP_OK;
}
