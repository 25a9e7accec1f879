#include "core/common.h"

#include "apiserver/api_int.h"
#include "core/json.h"

/* Built-in resources as data.  short names and categories are comma lists;
 * categories "all" is what `kubectl get all` selects. */
typedef struct builtin_row {
  const char *group, *version, *kind, *plural, *singular;
  bool namespaced;
  const char *short_names, *categories;
  bool status, scale;
} builtin_row;

static const builtin_row builtins[] = {
    {"", "v1", "Namespace", "namespaces", "namespace", false, "ns", "", true, false},
    {"", "v1", "ConfigMap", "configmaps", "configmap", true, "cm", "", false, false},
    {"", "v1", "Secret", "secrets", "secret", true, "", "", false, false},
    {"", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", true, "sa", "", false, false},
    {"", "v1", "Service", "services", "service", true, "svc", "all", true, false},
    {"", "v1", "Endpoints", "endpoints", "endpoints", true, "ep", "", false, false},
    {"", "v1", "Event", "events", "event", true, "ev", "", false, false},
    {"", "v1", "Pod", "pods", "pod", true, "po", "all", true, false},
    {"", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim", true,
     "pvc", "", true, false},
    {"", "v1", "ResourceQuota", "resourcequotas", "resourcequota", true, "quota", "", true, false},
    {"", "v1", "LimitRange", "limitranges", "limitrange", true, "limits", "", false, false},
    {"apps", "v1", "Deployment", "deployments", "deployment", true, "deploy", "all", true, true},
    {"apps", "v1", "StatefulSet", "statefulsets", "statefulset", true, "sts", "all", true, true},
    {"apps", "v1", "DaemonSet", "daemonsets", "daemonset", true, "ds", "all", true, false},
    {"apps", "v1", "ReplicaSet", "replicasets", "replicaset", true, "rs", "all", true, true},
    {"batch", "v1", "Job", "jobs", "job", true, "", "all", true, false},
    {"batch", "v1", "CronJob", "cronjobs", "cronjob", true, "cj", "all", true, false},
    {"networking.k8s.io", "v1", "Ingress", "ingresses", "ingress", true, "ing", "", true, false},
    {"networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", "networkpolicy", true,
     "netpol", "", false, false},
    {"rbac.authorization.k8s.io", "v1", "Role", "roles", "role", true, "", "", false, false},
    {"rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", "rolebinding", true, "", "",
     false, false},
    {"rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", "clusterrole", false, "",
     "", false, false},
    {"rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings",
     "clusterrolebinding", false, "", "", false, false},
    {"autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
     "horizontalpodautoscaler", true, "hpa", "all", true, false},
    {"policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", "poddisruptionbudget", true,
     "pdb", "", true, false},
    {"coordination.k8s.io", "v1", "Lease", "leases", "lease", true, "", "", false, false},
    {"apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
     "customresourcedefinition", false, "crd,crds", "api-extensions", true, false},
};

struct api_registry {
  pthread_rwlock_t lock;
  api_resource **rows;
  size_t n, cap;
};

static json_t *comma_list(const char *s) {
  json_t *a = json_array();
  while (s && *s) {
    const char *c = strchr(s, ',');
    size_t n = c ? (size_t)(c - s) : strlen(s);
    json_array_append_new(a, json_stringn(s, n));
    s = c ? c + 1 : NULL;
  }
  return a;
}

static char *dupstr(const char *s) {
  size_t n = strlen(s);
  char *d = malloc(n + 1);
  if (d) memcpy(d, s, n + 1);
  return d;
}

static api_resource *row_new(const char *group, const char *version, const char *kind,
                             const char *plural, const char *singular, bool namespaced) {
  api_resource *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  atomic_init(&r->refs, 1);
  r->group = dupstr(group);
  r->version = dupstr(version);
  r->kind = dupstr(kind);
  r->plural = dupstr(plural);
  r->singular = dupstr(singular);
  size_t kl = strlen(kind);
  r->list_kind = malloc(kl + 5);
  if (r->list_kind) snprintf(r->list_kind, kl + 5, "%sList", kind);
  size_t sl = strlen(group) + strlen(plural) + 6;
  r->store_key = malloc(sl);
  if (r->store_key) snprintf(r->store_key, sl, "%s/%s", *group ? group : "core", plural);
  r->namespaced = namespaced;
  r->verbs = API_VERBS_ALL;
  r->storage_version = true;
  r->single_version = true;
  if (!r->group || !r->version || !r->kind || !r->plural || !r->singular || !r->list_kind ||
      !r->store_key) {
    api_resource_unref(r);
    return NULL;
  }
  return r;
}

void api_resource_unref(api_resource *r) {
  if (!r || atomic_fetch_sub(&r->refs, 1) != 1) return;
  free(r->group);
  free(r->version);
  free(r->kind);
  free(r->list_kind);
  free(r->plural);
  free(r->singular);
  free(r->store_key);
  json_decref(r->short_names);
  json_decref(r->categories);
  json_decref(r->columns);
  json_decref(r->schema);
  json_decref(r->scale);
  free(r);
}

static api_resource *ref(api_resource *r) {
  if (r) atomic_fetch_add(&r->refs, 1);
  return r;
}

static bool push(api_registry *g, api_resource *r) {
  if (g->n == g->cap) {
    size_t nc = g->cap ? g->cap * 2 : 64;
    api_resource **nr = realloc(g->rows, nc * sizeof *nr);
    if (!nr) return false;
    g->rows = nr;
    g->cap = nc;
  }
  g->rows[g->n++] = r;
  return true;
}

api_registry *api_registry_new(void) {
  api_registry *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  pthread_rwlock_init(&g->lock, NULL);
  for (size_t i = 0; i < IDP_ARRAY_LEN(builtins); i++) {
    const builtin_row *b = &builtins[i];
    api_resource *r = row_new(b->group, b->version, b->kind, b->plural, b->singular, b->namespaced);
    if (!r) goto fail;
    r->short_names = comma_list(b->short_names);
    r->categories = comma_list(b->categories);
    r->has_status = b->status;
    r->has_scale = b->scale;
    if (!push(g, r)) {
      api_resource_unref(r);
      goto fail;
    }
  }
  return g;
fail:
  api_registry_free(g);
  return NULL;
}

void api_registry_free(api_registry *g) {
  if (!g) return;
  for (size_t i = 0; i < g->n; i++) api_resource_unref(g->rows[i]);
  free(g->rows);
  pthread_rwlock_destroy(&g->lock);
  free(g);
}

api_resource *api_registry_find(api_registry *g, const char *group, const char *version,
                                const char *plural) {
  api_resource *found = NULL;
  pthread_rwlock_rdlock(&g->lock);
  for (size_t i = 0; i < g->n && !found; i++) {
    api_resource *r = g->rows[i];
    if (!strcmp(r->plural, plural) && !strcmp(r->group, group) && !strcmp(r->version, version))
      found = ref(r);
  }
  pthread_rwlock_unlock(&g->lock);
  return found;
}

api_resource *api_registry_find_kind(api_registry *g, const char *group, const char *kind) {
  api_resource *found = NULL;
  pthread_rwlock_rdlock(&g->lock);
  for (size_t i = 0; i < g->n; i++) {
    api_resource *r = g->rows[i];
    if (strcmp(r->kind, kind) || strcmp(r->group, group)) continue;
    if (!found || (r->storage_version && !found->storage_version)) found = r;
  }
  ref(found);
  pthread_rwlock_unlock(&g->lock);
  return found;
}

api_resource *api_registry_find_store_key(api_registry *g, const char *key) {
  api_resource *found = NULL;
  pthread_rwlock_rdlock(&g->lock);
  for (size_t i = 0; i < g->n; i++) {
    api_resource *r = g->rows[i];
    if (strcmp(r->store_key, key)) continue;
    if (!found || (r->storage_version && !found->storage_version)) found = r;
  }
  ref(found);
  pthread_rwlock_unlock(&g->lock);
  return found;
}

bool api_registry_has(api_registry *g, const char *group, const char *plural) {
  bool has = false;
  pthread_rwlock_rdlock(&g->lock);
  for (size_t i = 0; i < g->n && !has; i++)
    has = !strcmp(g->rows[i]->plural, plural) && !strcmp(g->rows[i]->group, group);
  pthread_rwlock_unlock(&g->lock);
  return has;
}

api_resource **api_registry_snapshot(api_registry *g, size_t *n) {
  pthread_rwlock_rdlock(&g->lock);
  api_resource **rows = calloc(g->n + 1, sizeof *rows);
  *n = 0;
  if (rows) {
    for (size_t i = 0; i < g->n; i++) rows[i] = ref(g->rows[i]);
    *n = g->n;
  }
  pthread_rwlock_unlock(&g->lock);
  return rows;
}

void api_registry_snapshot_free(api_resource **rows, size_t n) {
  if (!rows) return;
  for (size_t i = 0; i < n; i++) api_resource_unref(rows[i]);
  free(rows);
}

static void remove_locked(api_registry *g, const char *group, const char *plural) {
  size_t w = 0;
  for (size_t i = 0; i < g->n; i++) {
    api_resource *r = g->rows[i];
    if (r->crd && !strcmp(r->group, group) && !strcmp(r->plural, plural))
      api_resource_unref(r);
    else
      g->rows[w++] = r;
  }
  g->n = w;
}

void api_registry_remove_crd(api_registry *g, const char *group, const char *plural) {
  pthread_rwlock_wrlock(&g->lock);
  remove_locked(g, group, plural);
  pthread_rwlock_unlock(&g->lock);
}

static json_t *copy_or_empty(json_t *v) {
  return json_is_array(v) ? json_deep_copy(v) : json_array();
}

idp_code api_registry_put_crd(api_registry *g, const json_t *crd, idp_err *e) {
  const char *group = idp_json_get_str(crd, "spec", "group", NULL);
  const char *plural = idp_json_get_str(crd, "spec", "names", "plural", NULL);
  const char *kind = idp_json_get_str(crd, "spec", "names", "kind", NULL);
  const char *singular = idp_json_get_str(crd, "spec", "names", "singular", NULL);
  const char *scope = idp_json_get_str(crd, "spec", "scope", NULL);
  json_t *versions = idp_json_get(crd, "spec", "versions", NULL);
  if (!group || !plural || !kind || !json_is_array(versions))
    return idp_err_set(e, IDP_EINVALID, "CustomResourceDefinition: spec.group, spec.names and "
                                        "spec.versions are required");
  char lower[256];
  if (!singular || !*singular) {
    size_t i = 0;
    for (; kind[i] && i + 1 < sizeof lower; i++)
      lower[i] = (char)((kind[i] >= 'A' && kind[i] <= 'Z') ? kind[i] + 32 : kind[i]);
    lower[i] = '\0';
    singular = lower;
  }
  const char *list_kind = idp_json_get_str(crd, "spec", "names", "listKind", NULL);
  api_resource **fresh = NULL;
  size_t nf = 0, nv = json_array_size(versions);
  fresh = calloc(nv ? nv : 1, sizeof *fresh);
  if (!fresh) return idp_err_set(e, IDP_ENOMEM, "registering a CRD");
  size_t i;
  json_t *v;
  json_array_foreach(versions, i, v) {
    const char *vname = idp_json_get_str(v, "name", NULL);
    json_t *served = json_object_get(v, "served");
    if (!vname || !json_is_true(served)) continue;
    api_resource *r = row_new(group, vname, kind, plural, singular,
                              !scope || strcmp(scope, "Cluster") != 0);
    if (!r) continue;
    if (list_kind && *list_kind) {
      char *lk = dupstr(list_kind);
      if (lk) {
        free(r->list_kind);
        r->list_kind = lk;
      }
    }
    r->crd = true;
    r->storage_version = json_is_true(json_object_get(v, "storage"));
    r->short_names = copy_or_empty(idp_json_get(crd, "spec", "names", "shortNames", NULL));
    r->categories = copy_or_empty(idp_json_get(crd, "spec", "names", "categories", NULL));
    json_t *sub = json_object_get(v, "subresources");
    if (!sub) sub = idp_json_get(crd, "spec", "subresources", NULL);
    r->has_status = json_is_object(json_object_get(sub, "status"));
    json_t *scale = json_object_get(sub, "scale");
    if (json_is_object(scale)) {
      r->has_scale = true;
      r->scale = json_deep_copy(scale);
    }
    json_t *cols = json_object_get(v, "additionalPrinterColumns");
    if (!cols) cols = idp_json_get(crd, "spec", "additionalPrinterColumns", NULL);
    if (json_is_array(cols)) r->columns = json_deep_copy(cols);
    json_t *schema = idp_json_get(v, "schema", "openAPIV3Schema", NULL);
    if (!schema) schema = idp_json_get(crd, "spec", "validation", "openAPIV3Schema", NULL);
    if (json_is_object(schema)) r->schema = json_deep_copy(schema);
    fresh[nf++] = r;
  }
  for (i = 0; i < nf; i++) fresh[i]->single_version = nf == 1;
  pthread_rwlock_wrlock(&g->lock);
  remove_locked(g, group, plural);
  for (i = 0; i < nf; i++)
    if (!push(g, fresh[i])) api_resource_unref(fresh[i]);
  pthread_rwlock_unlock(&g->lock);
  free(fresh);
  return IDP_OK;
}
