/* runtime.c: the policy engine against a live API server (runtime.h). */
#include "core/common.h"

#include <time.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/yaml.h"
#include "policy/runtime.h"

extern const char *const pol_crd_files[];
extern const char *const pol_crd_names[];

/* ---- pol_api over the REST client ---- */

static idp_code kapi_call(void *ud, const char *method, const char *path, const json_t *body,
                          json_t **out, idp_err *e) {
  idp_kclient *kc = ud;
  if (!path || path[0] != '/' || strstr(path, ".."))
    return idp_err_set(e, IDP_EINVAL, "apiCall urlPath must be an absolute API path");
  char *txt = body ? json_dumps(body, JSON_COMPACT) : NULL;
  long status = 0;
  idp_code rc = idp_kclient_request(kc, method ? method : "GET", path,
                                    txt ? "application/json" : NULL, txt, txt ? strlen(txt) : 0,
                                    &status, out, e);
  free(txt);
  return rc;
}

static idp_code kapi_get(void *ud, const char *api_version, const char *kind, const char *ns,
                         const char *name, json_t **out, idp_err *e) {
  idp_kclient *kc = ud;
  idp_kgvr g;
  idp_code rc = idp_kclient_resolve(kc, api_version, kind, &g, e);
  if (rc) return rc;
  idp_kref r = {g.group, g.version, g.resource, g.namespaced ? ns : NULL, name, NULL};
  if (name) return idp_kclient_get(kc, &r, out, e);
  json_t *list = NULL;
  if ((rc = idp_kclient_list_all(kc, &r, NULL, &list, e))) return rc;
  json_t *items = json_object_get(list, "items");
  *out = json_is_array(items) ? json_incref(items) : json_array();
  /* list items carry no apiVersion/kind: put them back */
  for (size_t i = 0; i < json_array_size(*out); i++) {
    json_t *it = json_array_get(*out, i);
    if (!json_object_get(it, "kind")) json_object_set_new(it, "kind", json_string(kind));
    if (!json_object_get(it, "apiVersion"))
      json_object_set_new(it, "apiVersion", json_string(api_version));
  }
  json_decref(list);
  return IDP_OK;
}

void pol_kapi_init(pol_api *api, idp_kclient *kc) {
  memset(api, 0, sizeof *api);
  api->call = kapi_call;
  api->get = kapi_get;
  api->ud = kc;
}

/* ---- CRDs ---- */

idp_code pol_install_crds(idp_kclient *kc, idp_err *e) {
  static const idp_kref CRDS = {"apiextensions.k8s.io", "v1", "customresourcedefinitions"};
  for (size_t f = 0; pol_crd_files[f]; f++) {
    json_t *docs = NULL;
    const char *text = pol_crd_files[f];
    idp_code rc = idp_yaml_load(text, strlen(text), pol_crd_names[f], NULL, &docs, e);
    if (rc) return rc;
    size_t i;
    json_t *crd;
    json_array_foreach(docs, i, crd) {
      if (!json_is_object(crd)) continue;
      idp_kref r = CRDS;
      r.name = idp_json_get_str(crd, "metadata", "name", NULL);
      json_t *cur = NULL;
      rc = idp_kclient_get(kc, &r, &cur, e);
      json_decref(cur);
      if (rc == IDP_ENOTFOUND) {
        idp_err_clear(e);
        r.name = NULL;
        rc = idp_kclient_create(kc, &r, crd, NULL, NULL, e);
        if (rc == IDP_EEXIST) rc = IDP_OK, idp_err_clear(e); /* another installer won */
      }
      if (rc) {
        idp_err_prefix(e, "installing CRD %s", idp_json_get_str(crd, "metadata", "name", NULL));
        json_decref(docs);
        return rc;
      }
    }
    json_decref(docs);
  }
  /* CRDs become established asynchronously: wait until served */
  static const char *const kinds[][2] = {{"kyverno.io/v1", "ClusterPolicy"},
                                         {"kyverno.io/v1", "Policy"},
                                         {"wgpolicyk8s.io/v1alpha2", "PolicyReport"},
                                         {"wgpolicyk8s.io/v1alpha2", "ClusterPolicyReport"}};
  for (size_t k = 0; k < IDP_ARRAY_LEN(kinds); k++) {
    idp_kgvr g;
    idp_code rc = IDP_OK;
    for (int tries = 0; tries < 150; tries++) {
      rc = idp_kclient_resolve(kc, kinds[k][0], kinds[k][1], &g, e);
      if (!rc) break;
      idp_kclient_discovery_reset(kc);
      struct timespec ts = {0, 100 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
    if (rc) {
      idp_err_prefix(e, "waiting for %s %s to be served", kinds[k][0], kinds[k][1]);
      return rc;
    }
  }
  return IDP_OK;
}

/* ---- kinds a rule matches ---- */

/* apiVersion for a bare Kind (kinds: [Pod]) among the common built-ins;
 * other kinds are found through discovery. */
static const struct {
  const char *kind, *av;
} BUILTIN[] = {
    {"Pod", "v1"}, {"Service", "v1"}, {"ConfigMap", "v1"}, {"Secret", "v1"},
    {"Namespace", "v1"}, {"ServiceAccount", "v1"}, {"PersistentVolumeClaim", "v1"},
    {"PersistentVolume", "v1"}, {"Node", "v1"}, {"LimitRange", "v1"}, {"ResourceQuota", "v1"},
    {"ReplicationController", "v1"}, {"Endpoints", "v1"},
    {"Deployment", "apps/v1"}, {"StatefulSet", "apps/v1"}, {"DaemonSet", "apps/v1"},
    {"ReplicaSet", "apps/v1"}, {"Job", "batch/v1"}, {"CronJob", "batch/v1"},
    {"Ingress", "networking.k8s.io/v1"}, {"NetworkPolicy", "networking.k8s.io/v1"},
    {"IngressClass", "networking.k8s.io/v1"},
    {"Role", "rbac.authorization.k8s.io/v1"}, {"ClusterRole", "rbac.authorization.k8s.io/v1"},
    {"RoleBinding", "rbac.authorization.k8s.io/v1"},
    {"ClusterRoleBinding", "rbac.authorization.k8s.io/v1"},
    {"HorizontalPodAutoscaler", "autoscaling/v2"},
    {"PodDisruptionBudget", "policy/v1"}, {"StorageClass", "storage.k8s.io/v1"},
    {"CustomResourceDefinition", "apiextensions.k8s.io/v1"},
};

/* Adds {apiVersion: kind} targets of one kinds[] entry to `targets`. */
static void add_kind_targets(idp_kclient *kc, const char *entry, json_t *targets) {
  if (!entry || strchr(entry, '*') || strchr(entry, '?')) return;
  char buf[512];
  snprintf(buf, sizeof buf, "%s", entry);
  char *dot = strchr(buf, '.');
  if (dot && !strchr(buf, '/')) *dot = 0; /* Kind.subresource */
  char *parts[4];
  size_t n = 0;
  char *save = NULL;
  for (char *t = strtok_r(buf, "/", &save); t && n < 4; t = strtok_r(NULL, "/", &save))
    parts[n++] = t;
  char av[300] = "", kind[200] = "";
  /* Kind | Version/Kind | Group/Version/Kind | .../subresource */
  if (n >= 3 && !(parts[n - 1][0] >= 'A' && parts[n - 1][0] <= 'Z')) n--; /* subresource */
  if (n == 2 && !(parts[1][0] >= 'A' && parts[1][0] <= 'Z')) n = 1;      /* Kind/subresource */
  if (n == 1) {
    snprintf(kind, sizeof kind, "%s", parts[0]);
  } else if (n == 2) {
    snprintf(av, sizeof av, "%s", parts[0]);
    snprintf(kind, sizeof kind, "%s", parts[1]);
  } else if (n >= 3) {
    snprintf(av, sizeof av, "%s/%s", parts[0], parts[1]);
    snprintf(kind, sizeof kind, "%s", parts[2]);
  }
  if (!kind[0]) return;
  if (!av[0])
    for (size_t i = 0; i < IDP_ARRAY_LEN(BUILTIN); i++)
      if (strcmp(BUILTIN[i].kind, kind) == 0) snprintf(av, sizeof av, "%s", BUILTIN[i].av);
  if (!av[0] || (n == 2 && !strchr(av, '.') && strcmp(av, "v1") != 0)) {
    /* a bare Kind (or Version/Kind) outside the table: ask discovery */
    json_t *gvs = NULL;
    idp_err e = IDP_ERR_INIT;
    if (idp_kclient_group_versions(kc, &gvs, &e) == IDP_OK) {
      for (size_t i = 0; i < json_array_size(gvs); i++) {
        const char *gv = json_string_value(json_array_get(gvs, i));
        const char *sl = gv ? strrchr(gv, '/') : NULL;
        if (!gv || (av[0] && strcmp(sl ? sl + 1 : gv, av) != 0)) continue;
        idp_kgvr g;
        if (idp_kclient_resolve(kc, gv, kind, &g, &e) == IDP_OK) {
          char tkey[600];
          snprintf(tkey, sizeof tkey, "%s|%s", gv, kind);
          json_object_set_new(targets, tkey, json_true());
          break;
        }
      }
    }
    json_decref(gvs);
    return;
  }
  char tkey[600];
  snprintf(tkey, sizeof tkey, "%s|%s", av, kind);
  json_object_set_new(targets, tkey, json_true());
}

void pol_rule_kind_targets(idp_kclient *kc, const json_t *rule, json_t *targets) {
  const json_t *m = json_object_get(rule, "match");
  const json_t *groups[3] = {json_object_get(m, "any"), json_object_get(m, "all"), NULL};
  for (size_t g = 0; g < 2; g++)
    for (size_t i = 0; i < json_array_size(groups[g]); i++) {
      const json_t *ks = idp_json_get(json_array_get(groups[g], i), "resources", "kinds", NULL);
      for (size_t k = 0; k < json_array_size(ks); k++)
        add_kind_targets(kc, json_string_value(json_array_get(ks, k)), targets);
    }
  const json_t *ks = idp_json_get(m, "resources", "kinds", NULL);
  for (size_t k = 0; k < json_array_size(ks); k++)
    add_kind_targets(kc, json_string_value(json_array_get(ks, k)), targets);
}

bool pol_target_split(const char *key, char *av, size_t avn, char *kind, size_t kindn) {
  const char *bar = strchr(key, '|');
  if (!bar) return false;
  snprintf(av, avn, "%.*s", (int)(bar - key), key);
  snprintf(kind, kindn, "%s", bar + 1);
  return true;
}

/* ---- policy watcher ---- */

struct pol_watch {
  idp_informer *cpol, *pol;
  pol_adm *adm;
  pol_policy_event_fn notify;
  void *ud;
};

static void load(pol_watch *w, const json_t *obj, const json_t *old) {
  idp_err e = IDP_ERR_INIT;
  /* the informer's list items may lack kind: a ClusterPolicy has no namespace */
  json_t *doc = json_deep_copy(obj);
  if (!json_object_get(doc, "kind"))
    json_object_set_new(doc, "kind", json_string(idp_json_get_str(doc, "metadata", "namespace",
                                                                  NULL) ? "Policy"
                                                                        : "ClusterPolicy"));
  if (!json_object_get(doc, "apiVersion"))
    json_object_set_new(doc, "apiVersion", json_string("kyverno.io/v1"));
  /* a status-only write (the Ready condition) is not a policy change:
   * no rescan, no generate re-sync */
  bool same = old && json_equal(json_object_get(old, "spec"), json_object_get(doc, "spec")) &&
              json_equal(idp_json_get(old, "metadata", "annotations", NULL),
                         idp_json_get(doc, "metadata", "annotations", NULL));
  if (pol_admission_set_policy(w->adm, doc, &e) != IDP_OK)
    idp_log(IDP_LOG_WARN, "policy rejected", "policy",
            idp_json_get_str(doc, "metadata", "name", NULL), "error", e.msg, NULL);
  else if (w->notify && !same)
    w->notify(w->ud, doc, old, false);
  json_decref(doc);
}

static void on_add(void *ud, const json_t *obj) { load(ud, obj, NULL); }
static void on_update(void *ud, const json_t *old, const json_t *obj) { load(ud, obj, old); }
static void on_delete(void *ud, const json_t *obj) {
  pol_watch *w = ud;
  const char *ns = idp_json_get_str(obj, "metadata", "namespace", NULL);
  const char *name = idp_json_get_str(obj, "metadata", "name", NULL);
  pol_admission_delete_policy(w->adm, ns, name);
  if (w->notify) w->notify(w->ud, obj, NULL, true);
}

idp_code pol_watch_start(idp_kclient *kc, pol_adm *adm, pol_policy_event_fn notify, void *ud,
                         pol_watch **out, idp_err *e) {
  pol_watch *w = calloc(1, sizeof *w);
  if (!w) return idp_err_set(e, IDP_ENOMEM, "allocating the policy watcher");
  w->adm = adm;
  w->notify = notify;
  w->ud = ud;
  idp_informer_handlers h = {on_add, on_update, on_delete, w};
  idp_informer_opts co = {.resource = {"kyverno.io", "v1", "clusterpolicies"}};
  idp_informer_opts po = {.resource = {"kyverno.io", "v1", "policies"}};
  idp_code rc;
  if ((rc = idp_informer_new(kc, &co, &h, &w->cpol, e)) ||
      (rc = idp_informer_new(kc, &po, &h, &w->pol, e)) ||
      (rc = idp_informer_start(w->cpol, e)) || (rc = idp_informer_start(w->pol, e))) {
    pol_watch_stop(w);
    return rc;
  }
  *out = w;
  return IDP_OK;
}

bool pol_watch_synced(pol_watch *w, long timeout_ms) {
  return idp_informer_wait_synced(w->cpol, timeout_ms) &&
         idp_informer_wait_synced(w->pol, timeout_ms);
}

void pol_watch_stop(pol_watch *w) {
  if (!w) return;
  idp_informer_free(w->cpol);
  idp_informer_free(w->pol);
  free(w);
}
