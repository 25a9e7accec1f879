#include "core/common.h"

#include <strings.h>

#include "core/json.h"
#include "gitops/app/sync.h"

/* gitops-engine pkg/sync/sync_tasks.go kindOrder. */
static const char *const kind_order[] = {"Namespace",
                                         "NetworkPolicy",
                                         "ResourceQuota",
                                         "LimitRange",
                                         "PodSecurityPolicy",
                                         "PodDisruptionBudget",
                                         "ServiceAccount",
                                         "Secret",
                                         "SecretList",
                                         "ConfigMap",
                                         "StorageClass",
                                         "PersistentVolume",
                                         "PersistentVolumeClaim",
                                         "CustomResourceDefinition",
                                         "ClusterRole",
                                         "ClusterRoleList",
                                         "ClusterRoleBinding",
                                         "ClusterRoleBindingList",
                                         "Role",
                                         "RoleList",
                                         "RoleBinding",
                                         "RoleBindingList",
                                         "Service",
                                         "DaemonSet",
                                         "Pod",
                                         "ReplicationController",
                                         "ReplicaSet",
                                         "Deployment",
                                         "HorizontalPodAutoscaler",
                                         "StatefulSet",
                                         "Job",
                                         "CronJob",
                                         "IngressClass",
                                         "Ingress",
                                         "APIService"};

int idp_app_kind_order(const char *group, const char *kind) {
  IDP_UNUSED(group); /* the Go table is keyed by kind only */
  for (size_t i = 0; kind && i < IDP_ARRAY_LEN(kind_order); i++)
    if (strcmp(kind_order[i], kind) == 0) return (int)i;
  return (int)IDP_ARRAY_LEN(kind_order);
}

static const char *const phase_names[] = {"PreSync", "Sync", "PostSync", "SyncFail"};

const char *idp_app_phase_name(idp_sync_phase p) {
  return (unsigned)p < IDP_ARRAY_LEN(phase_names) ? phase_names[p] : "Sync";
}

static const char *ann(const json_t *obj, const char *key) {
  return idp_json_get_str(obj, "metadata", "annotations", key, NULL);
}

typedef struct name_bits {
  const char *name;
  unsigned bits;
} name_bits;

/* ORs the bits of each trimmed item of a comma-separated list. */
static unsigned map_list(const char *list, const name_bits *table, size_t n) {
  unsigned bits = 0;
  if (!list) return 0;
  const char *p = list;
  while (*p) {
    while (*p == ' ' || *p == ',') p++;
    const char *s = p;
    while (*p && *p != ',') p++;
    const char *e = p;
    while (e > s && e[-1] == ' ') e--;
    for (size_t i = 0; i < n; i++)
      if (strlen(table[i].name) == (size_t)(e - s) &&
          strncmp(table[i].name, s, (size_t)(e - s)) == 0)
        bits |= table[i].bits;
  }
  return bits;
}

static const name_bits hook_names[] = {
    {"PreSync", 1u << IDP_PHASE_PRESYNC},
    {"Sync", 1u << IDP_PHASE_SYNC},
    {"PostSync", 1u << IDP_PHASE_POSTSYNC},
    {"SyncFail", 1u << IDP_PHASE_SYNCFAIL},
    {"Skip", IDP_HOOK_SKIP},
    {"PreDelete", IDP_HOOK_PREDELETE},
    {"PostDelete", IDP_HOOK_POSTDELETE},
    /* Helm hooks (docs/user-guide/helm.md) */
    {"pre-install", 1u << IDP_PHASE_PRESYNC},
    {"pre-upgrade", 1u << IDP_PHASE_PRESYNC},
    {"post-install", 1u << IDP_PHASE_POSTSYNC},
    {"post-upgrade", 1u << IDP_PHASE_POSTSYNC},
    {"pre-delete", IDP_HOOK_PREDELETE},
    {"post-delete", IDP_HOOK_POSTDELETE},
};

unsigned idp_app_hook_phases(const json_t *obj) {
  const char *h = ann(obj, "argocd.argoproj.io/hook");
  if (h) return map_list(h, hook_names, IDP_ARRAY_LEN(hook_names));
  return map_list(ann(obj, "helm.sh/hook"), hook_names, IDP_ARRAY_LEN(hook_names));
}

static const name_bits del_names[] = {
    {"HookSucceeded", IDP_HOOK_DEL_SUCCEEDED},
    {"HookFailed", IDP_HOOK_DEL_FAILED},
    {"BeforeHookCreation", IDP_HOOK_DEL_BEFORE_CREATION},
    {"hook-succeeded", IDP_HOOK_DEL_SUCCEEDED},
    {"hook-failed", IDP_HOOK_DEL_FAILED},
    {"before-hook-creation", IDP_HOOK_DEL_BEFORE_CREATION},
};

unsigned idp_app_hook_delete_policy(const json_t *obj) {
  const char *p = ann(obj, "argocd.argoproj.io/hook-delete-policy");
  if (!p) p = ann(obj, "helm.sh/hook-delete-policy");
  unsigned bits = map_list(p, del_names, IDP_ARRAY_LEN(del_names));
  return bits ? bits : IDP_HOOK_DEL_BEFORE_CREATION;
}

int idp_app_sync_wave(const json_t *obj) {
  const char *w = ann(obj, "argocd.argoproj.io/sync-wave");
  if (!w && !ann(obj, "argocd.argoproj.io/hook")) w = ann(obj, "helm.sh/hook-weight");
  if (!w) return 0;
  char *end;
  long long v = strtoll(w, &end, 10);
  if (end == w || v < INT_MIN || v > INT_MAX) return 0;
  return (int)v;
}

static int task_cmp(const void *a, const void *b) {
  const idp_sync_task *x = a, *y = b;
  if (x->phase != y->phase) return x->phase < y->phase ? -1 : 1;
  if (x->wave != y->wave) return x->wave < y->wave ? -1 : 1;
  if (x->kind_order != y->kind_order) return x->kind_order < y->kind_order ? -1 : 1;
  return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

static void move_before(idp_sync_task *t, size_t from, size_t to) {
  idp_sync_task keep = t[from];
  memmove(&t[to + 1], &t[to], (from - to) * sizeof *t);
  t[to] = keep;
  t[to].phase = t[to + 1].phase;
  t[to].wave = t[to + 1].wave;
}

void idp_app_sort_tasks(idp_sync_task *t, size_t n) {
  idp_sort(t, n, sizeof *t, task_cmp);
  /* Dependency fix-ups: a Namespace before the first resource in it, a CRD
   * before the first resource of its group/kind. */
  for (size_t i = 0; i < n; i++) {
    const char *kind = idp_json_get_str(t[i].obj, "kind", NULL);
    const char *av = idp_json_get_str(t[i].obj, "apiVersion", NULL);
    if (!kind || !av) continue;
    bool is_ns = strcmp(kind, "Namespace") == 0 && strcmp(av, "v1") == 0;
    bool is_crd = strcmp(kind, "CustomResourceDefinition") == 0;
    if (!is_ns && !is_crd) continue;
    const char *crd_group = is_crd ? idp_json_get_str(t[i].obj, "spec", "group", NULL) : NULL;
    const char *crd_kind =
        is_crd ? idp_json_get_str(t[i].obj, "spec", "names", "kind", NULL) : NULL;
    for (size_t j = 0; j < i; j++) {
      bool dep = false;
      if (is_ns) {
        const char *ns = idp_json_get_str(t[j].obj, "metadata", "namespace", NULL);
        dep = ns && t[i].name && strcmp(ns, t[i].name) == 0;
      } else if (crd_group && crd_kind) {
        const char *k = idp_json_get_str(t[j].obj, "kind", NULL);
        const char *a = idp_json_get_str(t[j].obj, "apiVersion", NULL);
        size_t gl = strlen(crd_group);
        dep = k && a && strcmp(k, crd_kind) == 0 && strncmp(a, crd_group, gl) == 0 && a[gl] == '/';
      }
      if (dep) {
        move_before(t, i, j);
        break;
      }
    }
  }
}

static bool find_opt(const char *list, char sep, const char *key, char *out, size_t n) {
  size_t kl = strlen(key);
  const char *p = list;
  while (p && *p) {
    while (*p == ' ' || *p == sep) p++;
    const char *s = p;
    while (*p && *p != sep) p++;
    const char *e = p;
    while (e > s && e[-1] == ' ') e--;
    if ((size_t)(e - s) > kl && strncasecmp(s, key, kl) == 0 && s[kl] == '=') {
      snprintf(out, n, "%.*s", (int)(e - s - (long)kl - 1), s + kl + 1);
      return true;
    }
  }
  return false;
}

bool idp_app_sync_option(const json_t *app_opts, const json_t *obj, const char *key, char *out,
                         size_t n) {
  const char *a = obj ? ann(obj, "argocd.argoproj.io/sync-options") : NULL;
  if (a && find_opt(a, ',', key, out, n)) return true;
  size_t i;
  json_t *v;
  json_array_foreach(app_opts, i, v) {
    const char *s = json_string_value(v);
    if (s && find_opt(s, ',', key, out, n)) return true;
  }
  return false;
}

bool idp_app_sync_option_is(const json_t *app_opts, const json_t *obj, const char *key,
                            const char *value) {
  char v[64];
  return idp_app_sync_option(app_opts, obj, key, v, sizeof v) && strcasecmp(v, value) == 0;
}
