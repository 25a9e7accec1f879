/* kustomize_xform.c: field specs and the builtin transformers (namespace,
 * prefix/suffix, labels, annotations, images, replicas) and the
 * name-reference fix-up.  The field-spec tables are kustomize's built-in
 * configuration (api/internal/konfig/builtinpluginconsts), as data. */
#include "core/common.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/json.h"
#include "gitops/kustomize_int.h"

/* ------------------------------------------------------------ tables */

/* commonLabels = selectors + metadata labels (commonLabelFieldSpecs +
 * metadataLabelsFieldSpecs). */
#define AFFINITY(G, K)                                                                         \
  {G, NULL, K,                                                                                 \
   "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/"  \
   "podAffinityTerm/labelSelector/matchLabels",                                                \
   false},                                                                                     \
      {G, NULL, K,                                                                             \
       "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/" \
       "labelSelector/matchLabels",                                                            \
       false},                                                                                 \
      {G, NULL, K,                                                                             \
       "spec/template/spec/affinity/podAntiAffinity/"                                          \
       "preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/"        \
       "matchLabels",                                                                          \
       false},                                                                                 \
      {G, NULL, K,                                                                             \
       "spec/template/spec/affinity/podAntiAffinity/"                                          \
       "requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",             \
       false},                                                                                 \
      {G, NULL, K, "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",   \
       false}

#define TEMPLATE_LABELS                                                                  \
  {NULL, "v1", "ReplicationController", "spec/template/metadata/labels", true},          \
      {NULL, NULL, "Deployment", "spec/template/metadata/labels", true},                 \
      {NULL, NULL, "ReplicaSet", "spec/template/metadata/labels", true},                 \
      {NULL, NULL, "DaemonSet", "spec/template/metadata/labels", true},                  \
      {"apps", NULL, "StatefulSet", "spec/template/metadata/labels", true},              \
      {"apps", NULL, "StatefulSet", "spec/volumeClaimTemplates[]/metadata/labels", true}, \
      {"batch", NULL, "Job", "spec/template/metadata/labels", true},                     \
      {"batch", NULL, "CronJob", "spec/jobTemplate/metadata/labels", true},              \
      {"batch", NULL, "CronJob", "spec/jobTemplate/spec/template/metadata/labels", true}

static const kfs common_labels_fs[] = {
    {NULL, "v1", "Service", "spec/selector", true},
    {NULL, "v1", "ReplicationController", "spec/selector", true},
    {NULL, NULL, "Deployment", "spec/selector/matchLabels", true},
    AFFINITY("apps", "Deployment"),
    {NULL, NULL, "ReplicaSet", "spec/selector/matchLabels", true},
    {NULL, NULL, "DaemonSet", "spec/selector/matchLabels", true},
    {"apps", NULL, "StatefulSet", "spec/selector/matchLabels", true},
    AFFINITY("apps", "StatefulSet"),
    {"batch", NULL, "Job", "spec/selector/matchLabels", false},
    {"batch", NULL, "CronJob", "spec/jobTemplate/spec/selector/matchLabels", false},
    {"policy", NULL, "PodDisruptionBudget", "spec/selector/matchLabels", false},
    {"networking.k8s.io", NULL, "NetworkPolicy", "spec/podSelector/matchLabels", false},
    {"networking.k8s.io", NULL, "NetworkPolicy", "spec/ingress/from/podSelector/matchLabels",
     false},
    {"networking.k8s.io", NULL, "NetworkPolicy", "spec/egress/to/podSelector/matchLabels",
     false},
    {NULL, NULL, NULL, "metadata/labels", true},
    TEMPLATE_LABELS,
};

static const kfs template_labels_fs[] = {TEMPLATE_LABELS};
static const kfs metadata_labels_fs[] = {{NULL, NULL, NULL, "metadata/labels", true}};

static const kfs common_annotations_fs[] = {
    {NULL, NULL, NULL, "metadata/annotations", true},
    {NULL, "v1", "ReplicationController", "spec/template/metadata/annotations", true},
    {NULL, NULL, "Deployment", "spec/template/metadata/annotations", true},
    {NULL, NULL, "ReplicaSet", "spec/template/metadata/annotations", true},
    {NULL, NULL, "DaemonSet", "spec/template/metadata/annotations", true},
    {"apps", NULL, "StatefulSet", "spec/template/metadata/annotations", true},
    {"batch", NULL, "Job", "spec/template/metadata/annotations", true},
    {"batch", NULL, "CronJob", "spec/jobTemplate/metadata/annotations", true},
    {"batch", NULL, "CronJob", "spec/jobTemplate/spec/template/metadata/annotations", true},
};

static const kfs replicas_fs[] = {
    {NULL, NULL, "Deployment", "spec/replicas", true},
    {NULL, NULL, "ReplicationController", "spec/replicas", true},
    {NULL, NULL, "ReplicaSet", "spec/replicas", true},
    {NULL, NULL, "StatefulSet", "spec/replicas", true},
};

/* nameReference: a referral kind and the fields (in referrer kinds) that
 * hold its name. */
typedef struct nref {
  const char *group, *version, *kind; /* the referral */
  kfs fs;                             /* the referring field */
} nref;

#define REF(RG, RV, RK, G, V, K, P) {RG, RV, RK, {G, V, K, P, false}}
/* Pod-spec fields in every kind that embeds a pod template. */
#define IN_PODS(RG, RV, RK, SUB)                                                        \
  REF(RG, RV, RK, NULL, "v1", "Pod", "spec/" SUB),                                      \
      REF(RG, RV, RK, NULL, NULL, "PodTemplate", "template/spec/" SUB),                 \
      REF(RG, RV, RK, NULL, NULL, "Deployment", "spec/template/spec/" SUB),             \
      REF(RG, RV, RK, NULL, NULL, "ReplicaSet", "spec/template/spec/" SUB),             \
      REF(RG, RV, RK, NULL, NULL, "DaemonSet", "spec/template/spec/" SUB),              \
      REF(RG, RV, RK, NULL, NULL, "StatefulSet", "spec/template/spec/" SUB),            \
      REF(RG, RV, RK, NULL, NULL, "Job", "spec/template/spec/" SUB),                    \
      REF(RG, RV, RK, NULL, NULL, "CronJob", "spec/jobTemplate/spec/template/spec/" SUB)
/* The shorter list used for ServiceAccount, PVC and PriorityClass. */
#define IN_WORKLOADS(RG, RV, RK, SUB)                                                   \
  REF(RG, RV, RK, NULL, NULL, "Pod", "spec/" SUB),                                      \
      REF(RG, RV, RK, NULL, NULL, "StatefulSet", "spec/template/spec/" SUB),            \
      REF(RG, RV, RK, NULL, NULL, "Deployment", "spec/template/spec/" SUB),             \
      REF(RG, RV, RK, NULL, NULL, "ReplicationController", "spec/template/spec/" SUB),  \
      REF(RG, RV, RK, NULL, NULL, "CronJob", "spec/jobTemplate/spec/template/spec/" SUB), \
      REF(RG, RV, RK, NULL, NULL, "Job", "spec/template/spec/" SUB),                    \
      REF(RG, RV, RK, NULL, NULL, "DaemonSet", "spec/template/spec/" SUB)

static const nref name_refs[] = {
    REF(NULL, NULL, "Deployment", NULL, NULL, "HorizontalPodAutoscaler", "spec/scaleTargetRef/name"),
    REF(NULL, NULL, "ReplicationController", NULL, NULL, "HorizontalPodAutoscaler",
        "spec/scaleTargetRef/name"),
    REF(NULL, NULL, "ReplicaSet", NULL, NULL, "HorizontalPodAutoscaler", "spec/scaleTargetRef/name"),
    REF(NULL, NULL, "StatefulSet", NULL, NULL, "HorizontalPodAutoscaler", "spec/scaleTargetRef/name"),

    IN_PODS(NULL, "v1", "ConfigMap", "volumes/configMap/name"),
    IN_PODS(NULL, "v1", "ConfigMap", "containers/env/valueFrom/configMapKeyRef/name"),
    IN_PODS(NULL, "v1", "ConfigMap", "initContainers/env/valueFrom/configMapKeyRef/name"),
    IN_PODS(NULL, "v1", "ConfigMap", "containers/envFrom/configMapRef/name"),
    IN_PODS(NULL, "v1", "ConfigMap", "initContainers/envFrom/configMapRef/name"),
    IN_PODS(NULL, "v1", "ConfigMap", "volumes/projected/sources/configMap/name"),
    REF(NULL, "v1", "ConfigMap", NULL, NULL, "Node", "spec/configSource/configMap"),
    REF(NULL, "v1", "ConfigMap", NULL, NULL, "Role", "rules/resourceNames"),
    REF(NULL, "v1", "ConfigMap", NULL, NULL, "ClusterRole", "rules/resourceNames"),
    REF(NULL, "v1", "ConfigMap", NULL, NULL, "Ingress",
        "metadata/annotations/nginx.ingress.kubernetes.io\\/fastcgi-params-configmap"),

    IN_PODS(NULL, "v1", "Secret", "volumes/secret/secretName"),
    IN_PODS(NULL, "v1", "Secret", "containers/env/valueFrom/secretKeyRef/name"),
    IN_PODS(NULL, "v1", "Secret", "initContainers/env/valueFrom/secretKeyRef/name"),
    IN_PODS(NULL, "v1", "Secret", "containers/envFrom/secretRef/name"),
    IN_PODS(NULL, "v1", "Secret", "initContainers/envFrom/secretRef/name"),
    IN_PODS(NULL, "v1", "Secret", "imagePullSecrets/name"),
    IN_PODS(NULL, "v1", "Secret", "volumes/projected/sources/secret/name"),
    REF(NULL, "v1", "Secret", NULL, NULL, "Ingress", "spec/tls/secretName"),
    REF(NULL, "v1", "Secret", NULL, NULL, "Ingress",
        "metadata/annotations/ingress.kubernetes.io\\/auth-secret"),
    REF(NULL, "v1", "Secret", NULL, NULL, "Ingress",
        "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret"),
    REF(NULL, "v1", "Secret", NULL, NULL, "Ingress",
        "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret"),
    REF(NULL, "v1", "Secret", NULL, NULL, "ServiceAccount", "imagePullSecrets/name"),
    REF(NULL, "v1", "Secret", NULL, NULL, "StorageClass", "parameters/secretName"),
    REF(NULL, "v1", "Secret", NULL, NULL, "StorageClass", "parameters/adminSecretName"),
    REF(NULL, "v1", "Secret", NULL, NULL, "StorageClass", "parameters/userSecretName"),
    REF(NULL, "v1", "Secret", NULL, NULL, "StorageClass", "parameters/secretRef"),
    REF(NULL, "v1", "Secret", NULL, NULL, "Role", "rules/resourceNames"),
    REF(NULL, "v1", "Secret", NULL, NULL, "ClusterRole", "rules/resourceNames"),
    REF(NULL, "v1", "Secret", "serving.knative.dev", "v1", "Service",
        "spec/template/spec/containers/env/valueFrom/secretKeyRef/name"),
    REF(NULL, "v1", "Secret", NULL, NULL, "PersistentVolume", "spec/azureFile/secretName"),

    REF(NULL, "v1", "Service", "apps", NULL, "StatefulSet", "spec/serviceName"),
    REF(NULL, "v1", "Service", NULL, NULL, "Ingress", "spec/rules/http/paths/backend/serviceName"),
    REF(NULL, "v1", "Service", NULL, NULL, "Ingress", "spec/backend/serviceName"),
    REF(NULL, "v1", "Service", NULL, NULL, "Ingress", "spec/rules/http/paths/backend/service/name"),
    REF(NULL, "v1", "Service", NULL, NULL, "Ingress", "spec/defaultBackend/service/name"),
    REF(NULL, "v1", "Service", "apiregistration.k8s.io", NULL, "APIService", "spec/service"),
    REF(NULL, "v1", "Service", "admissionregistration.k8s.io", NULL,
        "ValidatingWebhookConfiguration", "webhooks/clientConfig/service"),
    REF(NULL, "v1", "Service", "admissionregistration.k8s.io", NULL,
        "MutatingWebhookConfiguration", "webhooks/clientConfig/service"),
    REF(NULL, "v1", "Service", NULL, NULL, "HTTPRoute", "spec/rules/backendRefs/name"),

    REF("rbac.authorization.k8s.io", NULL, "Role", "rbac.authorization.k8s.io", NULL,
        "RoleBinding", "roleRef/name"),
    REF("rbac.authorization.k8s.io", NULL, "ClusterRole", "rbac.authorization.k8s.io", NULL,
        "RoleBinding", "roleRef/name"),
    REF("rbac.authorization.k8s.io", NULL, "ClusterRole", "rbac.authorization.k8s.io", NULL,
        "ClusterRoleBinding", "roleRef/name"),

    REF(NULL, "v1", "ServiceAccount", "rbac.authorization.k8s.io", NULL, "RoleBinding",
        "subjects"),
    REF(NULL, "v1", "ServiceAccount", "rbac.authorization.k8s.io", NULL, "ClusterRoleBinding",
        "subjects"),
    IN_WORKLOADS(NULL, "v1", "ServiceAccount", "serviceAccountName"),

    IN_WORKLOADS(NULL, "v1", "PersistentVolumeClaim", "volumes/persistentVolumeClaim/claimName"),

    REF(NULL, "v1", "PersistentVolume", NULL, NULL, "PersistentVolumeClaim", "spec/volumeName"),
    REF(NULL, "v1", "PersistentVolume", NULL, NULL, "ClusterRole", "rules/resourceNames"),

    REF("storage.k8s.io", "v1", "StorageClass", NULL, NULL, "PersistentVolume",
        "spec/storageClassName"),
    REF("storage.k8s.io", "v1", "StorageClass", NULL, NULL, "PersistentVolumeClaim",
        "spec/storageClassName"),
    REF("storage.k8s.io", "v1", "StorageClass", NULL, NULL, "StatefulSet",
        "spec/volumeClaimTemplates/spec/storageClassName"),

    IN_WORKLOADS("scheduling.k8s.io", "v1", "PriorityClass", "priorityClassName"),

    /* kustomize's table names the group "networking.k8s.io/v1", which never
     * equals a group: IngressClass references are never rewritten. */
    REF("networking.k8s.io/v1", "v1", "IngressClass", NULL, NULL, "Ingress",
        "spec/ingressClassName"),
};

/* ------------------------------------------------------------ field specs */

static bool sel_eq(const char *want, const char *have) {
  return !want || !*want || !strcmp(want, have);
}

bool kfs_selects(const kfs *fs, const kres *r) {
  char g[256], v[128];
  kres_gv(r, g, sizeof g, v, sizeof v);
  return sel_eq(fs->group, g) && sel_eq(fs->version, v) && sel_eq(fs->kind, kres_kind(r));
}

kfs kfs_from_json(const json_t *f) {
  kfs x = {idp_json_get_str(f, "group", NULL), idp_json_get_str(f, "version", NULL),
           idp_json_get_str(f, "kind", NULL), idp_json_get_str(f, "path", NULL),
           json_is_true(json_object_get(f, "create"))};
  return x;
}

#define KFS_MAX_SEGS 32

static idp_code kfs_walk(json_t *node, char **segs, size_t nseg, size_t i, bool create,
                         kfs_setfn fn, void *ctx, idp_err *e) {
  if (json_is_array(node)) {
    size_t j;
    json_t *el;
    json_array_foreach(node, j, el) {
      idp_code rc = kfs_walk(el, segs, nseg, i, create, fn, ctx, e);
      if (rc) return rc;
    }
    return IDP_OK;
  }
  if (!json_is_object(node)) return IDP_OK;
  char key[512];
  const char *seg = segs[i];
  size_t sl = strlen(seg);
  bool is_list = sl >= 2 && !strcmp(seg + sl - 2, "[]");
  snprintf(key, sizeof key, "%.*s", (int)(is_list ? sl - 2 : sl), seg);
  json_t *v = json_object_get(node, key);
  if (i == nseg - 1) {
    if ((!v || json_is_null(v)) && !create) return IDP_OK;
    return fn(node, key, v, ctx, e);
  }
  if (!v || json_is_null(v)) {
    if (!create || is_list) return IDP_OK;
    v = json_object();
    json_object_set_new(node, key, v);
  }
  return kfs_walk(v, segs, nseg, i + 1, create, fn, ctx, e);
}

idp_code kfs_apply(json_t *obj, const char *path, bool create, kfs_setfn fn, void *ctx,
                   idp_err *e) {
  /* split on '/', "\/" is a literal slash inside a key */
  char buf[1024];
  char *segs[KFS_MAX_SEGS];
  size_t nseg = 0, o = 0;
  segs[nseg++] = buf;
  for (const char *p = path; *p; p++) {
    if (o + 2 >= sizeof buf) return idp_err_set(e, IDP_EINVAL, "field path too long: %s", path);
    if (p[0] == '\\' && p[1] == '/') {
      buf[o++] = '/';
      p++;
    } else if (*p == '/') {
      buf[o++] = '\0';
      if (nseg == KFS_MAX_SEGS)
        return idp_err_set(e, IDP_EINVAL, "field path too deep: %s", path);
      segs[nseg++] = buf + o;
    } else {
      buf[o++] = *p;
    }
  }
  buf[o] = '\0';
  return kfs_walk(obj, segs, nseg, 0, create, fn, ctx, e);
}

/* ------------------------------------------------------------ regex */

static pcre2_code *re_compile(const char *pattern, const char *pre, const char *post,
                              idp_err *e) {
  char buf[2048];
  int n = snprintf(buf, sizeof buf, "%s%s%s", pre, pattern, post);
  if (n < 0 || (size_t)n >= sizeof buf) {
    idp_err_set(e, IDP_EINVAL, "regular expression too long: %.64s", pattern);
    return NULL;
  }
  int ec;
  PCRE2_SIZE eo;
  pcre2_code *re = pcre2_compile((PCRE2_SPTR)buf, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &eo, NULL);
  if (!re) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(ec, msg, sizeof msg);
    idp_err_set(e, IDP_EINVAL, "invalid regular expression '%s': %s", pattern, (char *)msg);
  }
  return re;
}

static bool re_match(pcre2_code *re, const char *s) {
  pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
  if (!md) return false;
  int rc = pcre2_match(re, (PCRE2_SPTR)s, PCRE2_ZERO_TERMINATED, 0, 0, md, NULL);
  pcre2_match_data_free(md);
  return rc >= 0;
}

idp_code kx_regex_match(const char *pattern, const char *s, bool *match, idp_err *e) {
  if (!pattern || !*pattern) {
    *match = true;
    return IDP_OK;
  }
  pcre2_code *re = re_compile(pattern, "^(?:", ")$", e);
  if (!re) return e ? e->code : IDP_EINVAL;
  *match = re_match(re, s);
  pcre2_code_free(re);
  return IDP_OK;
}

/* ------------------------------------------------------------ namespace */

static idp_code set_string(json_t *parent, const char *key, json_t *v, void *ctx, idp_err *e) {
  IDP_UNUSED(v);
  IDP_UNUSED(e);
  json_object_set_new(parent, key, json_string((const char *)ctx));
  return IDP_OK;
}

static int cmp_cstr(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

idp_code kx_namespace(kset *s, const char *ns, idp_err *e) {
  return kx_namespace_opt(s, ns, false, e);
}

idp_code kx_namespace_opt(kset *s, const char *ns, bool unset_only, idp_err *e) {
  for (size_t i = 0; i < s->n; i++) {
    kres *r = s->v[i];
    kres_store_prev(r);
    char g[256], v[128];
    kres_gv(r, g, sizeof g, v, sizeof v);
    const char *kind = kres_kind(r);
    if (!kind_is_cluster_scoped(g, kind) && (!unset_only || !*kres_ns(r))) kres_set_ns(r, ns);
    if (!strcmp(kind, "Namespace") && !unset_only) kres_set_name(r, ns);
    size_t xi;
    json_t *xf;
    json_array_foreach(kset_cfg(s, "namespace"), xi, xf) {
      kfs x = kfs_from_json(xf);
      /* metadata.namespace and binding subjects have their own rules above */
      if (!x.path || !strcmp(x.path, "metadata/namespace") || !strcmp(x.path, "subjects") ||
          !kfs_selects(&x, r))
        continue;
      idp_code rc = kfs_apply(r->obj, x.path, x.create, set_string, (void *)ns, e);
      if (rc) return rc;
    }
    if (!strcmp(kind, "RoleBinding") || !strcmp(kind, "ClusterRoleBinding")) {
      json_t *subjects = json_object_get(r->obj, "subjects");
      size_t j;
      json_t *sub;
      json_array_foreach(subjects, j, sub) {
        const char *n = idp_json_get_str(sub, "name", NULL);
        if (n && !strcmp(n, "default")) json_object_set_new(sub, "namespace", json_string(ns));
      }
    }
  }
  /* the transformation must not make two ids equal: sort the ids */
  size_t n = s->n;
  char **ids = malloc((n ? n : 1) * sizeof *ids);
  if (!ids) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  idp_code rc = IDP_OK;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    kres *r = s->v[i];
    const char *av = idp_json_get_str(r->obj, "apiVersion", NULL);
    const char *rns = *kres_ns(r) ? kres_ns(r) : "default";
    size_t len = strlen(av ? av : "") + strlen(kres_kind(r)) + strlen(rns) + strlen(kres_name(r)) + 4;
    ids[k] = malloc(len);
    if (!ids[k]) {
      rc = idp_err_set(e, IDP_ENOMEM, "out of memory");
      break;
    }
    snprintf(ids[k++], len, "%s|%s|%s|%s", kres_kind(r), rns, kres_name(r), av ? av : "");
  }
  if (!rc) {
    idp_sort(ids, k, sizeof *ids, cmp_cstr);
    for (size_t i = 1; i < k && !rc; i++)
      if (!strcmp(ids[i - 1], ids[i]))
        rc = idp_err_set(e, IDP_EINVALID, "namespace transformation produces ID conflict: %s",
                         ids[i]);
  }
  for (size_t i = 0; i < k; i++) free(ids[i]);
  free(ids);
  return rc;
}

/* ------------------------------------------------------------ prefix/suffix */

static const struct {
  const char *group, *kind;
} prefix_skip[] = {
    {NULL, "CustomResourceDefinition"},
    {"apiregistration.k8s.io", "APIService"},
    {NULL, "Namespace"},
};

static idp_code add_affix(json_t *parent, const char *key, json_t *v, void *ctx, idp_err *e) {
  IDP_UNUSED(e);
  const char *const *affix = ctx;
  if (!json_is_string(v)) return IDP_OK;
  char buf[1024];
  snprintf(buf, sizeof buf, "%s%s%s", affix[0] ? affix[0] : "", json_string_value(v),
           affix[1] ? affix[1] : "");
  json_object_set_new(parent, key, json_string(buf));
  return IDP_OK;
}

/* fs: NULL for the builtin namePrefix/nameSuffix (metadata/name plus
 * `configurations`), else a PrefixSuffixTransformer's own field specs. */
idp_code kx_prefix_suffix_fs(kset *s, const char *prefix, const char *suffix,
                             const json_t *fs, idp_err *e) {
  for (size_t i = 0; i < s->n; i++) {
    kres *r = s->v[i];
    char g[256], v[128];
    kres_gv(r, g, sizeof g, v, sizeof v);
    bool skip = false;
    for (size_t k = 0; k < IDP_ARRAY_LEN(prefix_skip) && !skip; k++)
      skip = sel_eq(prefix_skip[k].group, g) && !strcmp(prefix_skip[k].kind, kres_kind(r));
    if (skip) continue;
    const char *affix[2] = {prefix, suffix};
    bool name_fs = fs == NULL;
    size_t xi;
    json_t *xf;
    json_array_foreach(fs, xi, xf) {
      kfs x = kfs_from_json(xf);
      if (x.path && !strcmp(x.path, "metadata/name") && kfs_selects(&x, r)) name_fs = true;
    }
    if (name_fs) {
      if ((prefix && *prefix) || (suffix && *suffix)) kres_store_prev(r);
      char name[1024];
      snprintf(name, sizeof name, "%s%s%s", prefix ? prefix : "", kres_name(r),
               suffix ? suffix : "");
      kres_set_name(r, name);
      if (prefix) json_array_append_new(r->prefixes, json_string(prefix));
      if (suffix) json_array_append_new(r->suffixes, json_string(suffix));
    }
    const json_t *extra = fs ? fs : kset_cfg(s, prefix ? "namePrefix" : "nameSuffix");
    json_array_foreach(extra, xi, xf) {
      kfs x = kfs_from_json(xf);
      if (!x.path || !strcmp(x.path, "metadata/name") || !kfs_selects(&x, r)) continue;
      idp_code rc = kfs_apply(r->obj, x.path, x.create, add_affix, affix, e);
      if (rc) return rc;
    }
  }
  return IDP_OK;
}

idp_code kx_prefix_suffix(kset *s, const char *prefix, const char *suffix, idp_err *e) {
  return kx_prefix_suffix_fs(s, prefix, suffix, NULL, e);
}

/* ------------------------------------------------------------ labels */

static json_t *scalar_string(const json_t *v) {
  char buf[64];
  if (json_is_string(v)) return json_string(json_string_value(v));
  if (json_is_integer(v)) {
    snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return json_string(buf);
  }
  if (json_is_real(v)) {
    snprintf(buf, sizeof buf, "%g", json_real_value(v));
    return json_string(buf);
  }
  if (json_is_boolean(v)) return json_string(json_is_true(v) ? "true" : "false");
  if (json_is_null(v)) return json_string("");
  return NULL;
}

static idp_code set_pairs(json_t *parent, const char *key, json_t *v, void *ctx, idp_err *e) {
  const json_t *pairs = ctx;
  if (!v || json_is_null(v)) {
    v = json_object();
    json_object_set_new(parent, key, v);
  }
  if (!json_is_object(v))
    return idp_err_set(e, IDP_EINVAL, "field '%s' is not a map; cannot add labels or annotations",
                       key);
  const char *k;
  json_t *pv;
  json_object_foreach((json_t *)pairs, k, pv) {
    json_t *s = scalar_string(pv);
    if (!s) return idp_err_set(e, IDP_EINVAL, "value of '%s' must be a string", k);
    json_object_set_new(v, k, s);
  }
  return IDP_OK;
}

static idp_code apply_fs_list(kset *s, const kfs *fs, size_t nfs, const json_t *extra,
                              kfs_setfn fn, void *ctx, const char *kpath, idp_err *e) {
  for (size_t i = 0; i < s->n; i++) {
    kres *r = s->v[i];
    for (size_t k = 0; k < nfs; k++) {
      if (!kfs_selects(&fs[k], r)) continue;
      idp_code rc = kfs_apply(r->obj, fs[k].path, fs[k].create, fn, ctx, e);
      if (rc) return rc;
    }
    size_t j;
    json_t *f;
    json_array_foreach(extra, j, f) {
      kfs x = kfs_from_json(f);
      if (!x.path)
        return idp_err_set(e, IDP_EINVAL, "%s: labels: fields[%zu].path is required", kpath, j);
      if (!kfs_selects(&x, r)) continue;
      idp_code rc = kfs_apply(r->obj, x.path, x.create, fn, ctx, e);
      if (rc) return rc;
    }
  }
  return IDP_OK;
}

idp_code kx_apply_pairs(kset *s, const json_t *pairs, const json_t *fs, const char *what,
                        idp_err *e) {
  if (!json_is_object(pairs))
    return idp_err_set(e, IDP_EINVAL, "%s: the labels or annotations must be a map", what);
  return apply_fs_list(s, NULL, 0, fs, set_pairs, (void *)pairs, what, e);
}

idp_code kx_labels(kset *s, const json_t *kust, const char *kpath, idp_err *e) {
  json_t *labels = json_object_get(kust, "labels");
  if (labels && !json_is_array(labels))
    return idp_err_set(e, IDP_EINVAL, "%s: labels must be a list", kpath);
  size_t i;
  json_t *l;
  json_array_foreach(labels, i, l) {
    json_t *pairs = json_object_get(l, "pairs");
    if (!pairs) continue;
    if (!json_is_object(pairs))
      return idp_err_set(e, IDP_EINVAL, "%s: labels[%zu].pairs must be a map", kpath, i);
    json_t *fields = json_object_get(l, "fields");
    idp_code rc;
    if (json_is_true(json_object_get(l, "includeSelectors"))) {
      rc = apply_fs_list(s, common_labels_fs, IDP_ARRAY_LEN(common_labels_fs), fields,
                         set_pairs, pairs, kpath, e);
      if (!rc)
        rc = apply_fs_list(s, NULL, 0, kset_cfg(s, "commonLabels"), set_pairs, pairs, kpath, e);
    } else {
      rc = apply_fs_list(s, metadata_labels_fs, 1, fields, set_pairs, pairs, kpath, e);
      if (!rc && json_is_true(json_object_get(l, "includeTemplates")))
        rc = apply_fs_list(s, template_labels_fs, IDP_ARRAY_LEN(template_labels_fs),
                           kset_cfg(s, "templateLabels"), set_pairs, pairs, kpath, e);
    }
    if (rc) {
      idp_err_prefix(e, "%s: labels[%zu]", kpath, i);
      return rc;
    }
  }
  json_t *cl = json_object_get(kust, "commonLabels");
  if (cl && !json_is_null(cl)) {
    if (!json_is_object(cl))
      return idp_err_set(e, IDP_EINVAL, "%s: commonLabels must be a map", kpath);
    idp_code rc = apply_fs_list(s, common_labels_fs, IDP_ARRAY_LEN(common_labels_fs),
                                kset_cfg(s, "commonLabels"), set_pairs, cl, kpath, e);
    if (rc) {
      idp_err_prefix(e, "%s: commonLabels", kpath);
      return rc;
    }
  }
  return IDP_OK;
}

idp_code kx_annotations(kset *s, const json_t *ann, const char *kpath, idp_err *e) {
  if (json_is_null(ann)) return IDP_OK;
  if (!json_is_object(ann))
    return idp_err_set(e, IDP_EINVAL, "%s: commonAnnotations must be a map", kpath);
  idp_code rc = apply_fs_list(s, common_annotations_fs, IDP_ARRAY_LEN(common_annotations_fs),
                              kset_cfg(s, "commonAnnotations"), set_pairs, (void *)ann, kpath, e);
  if (rc) idp_err_prefix(e, "%s: commonAnnotations", kpath);
  return rc;
}

/* ------------------------------------------------------------ images */

typedef struct imgx {
  pcre2_code *re;
  const char *new_name, *new_tag, *digest;
  char tagbuf[64];
} imgx;

/* kustomize image.Split: name, tag, digest of "[host[:port]/]path[:tag][@digest]". */
static void image_split(const char *img, char *name, size_t nn, char *tag, size_t tn,
                        char *digest, size_t dn) {
  size_t len = strlen(img);
  const char *slash = strchr(img, '/');
  size_t base = (slash && slash > img) ? (size_t)(slash - img) : 0;
  const char *search = img + base;
  const char *at = strchr(search, '@');
  const char *colon = strchr(search, ':');
  tag[0] = digest[0] = '\0';
  if (!at && !colon) {
    snprintf(name, nn, "%s", img);
    return;
  }
  if (at && (!colon || at < colon)) {
    snprintf(name, nn, "%.*s", (int)(at - img), img);
    snprintf(digest, dn, "%s", at + 1);
    return;
  }
  if (at && colon) {
    snprintf(name, nn, "%.*s", (int)(colon - img), img);
    snprintf(tag, tn, "%.*s", (int)(at - colon - 1), colon + 1);
    snprintf(digest, dn, "%s", at + 1);
    return;
  }
  snprintf(name, nn, "%.*s", (int)(colon - img), img);
  snprintf(tag, tn, "%.*s", (int)(len - (size_t)(colon + 1 - img)), colon + 1);
}

static void image_update_at(json_t *parent, const char *key, const imgx *x);

static void image_update(json_t *container, const imgx *x) {
  image_update_at(container, "image", x);
}

static idp_code set_image(json_t *parent, const char *key, json_t *v, void *ctx, idp_err *e) {
  IDP_UNUSED(v);
  IDP_UNUSED(e);
  image_update_at(parent, key, ctx);
  return IDP_OK;
}

static void image_update_at(json_t *container, const char *key, const imgx *x) {
  json_t *iv = json_object_get(container, key);
  const char *img = json_string_value(iv);
  if (!img || !re_match(x->re, img)) return;
  char name[1024], tag[256], digest[256];
  image_split(img, name, sizeof name, tag, sizeof tag, digest, sizeof digest);
  if (x->new_name && *x->new_name) snprintf(name, sizeof name, "%s", x->new_name);
  bool nt = x->new_tag && *x->new_tag, dg = x->digest && *x->digest;
  if (nt) snprintf(tag, sizeof tag, "%s", x->new_tag);
  if (dg) snprintf(digest, sizeof digest, "%s", x->digest);
  if (nt && !dg) digest[0] = '\0';
  if (dg && !nt) tag[0] = '\0';
  char out[1600];
  snprintf(out, sizeof out, "%s%s%s%s%s", name, *tag ? ":" : "", tag, *digest ? "@" : "", digest);
  json_object_set_new(container, key, json_string(out));
}

/* kustomize's legacy image filter: every containers/initContainers list
 * anywhere in the object. */
static void image_walk(json_t *node, const imgx *x, int depth) {
  if (depth > 64) return;
  if (json_is_array(node)) {
    size_t i;
    json_t *el;
    json_array_foreach(node, i, el) image_walk(el, x, depth + 1);
    return;
  }
  if (!json_is_object(node)) return;
  const char *k;
  json_t *v;
  json_object_foreach(node, k, v) {
    if ((!strcmp(k, "containers") || !strcmp(k, "initContainers")) && json_is_array(v)) {
      size_t i;
      json_t *c;
      json_array_foreach(v, i, c) if (json_is_object(c)) image_update(c, x);
    }
    image_walk(v, x, depth + 1);
  }
}

static const char *scalar_text(const json_t *v, char *buf, size_t n) {
  if (json_is_string(v)) return json_string_value(v);
  if (json_is_integer(v)) {
    snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return buf;
  }
  if (json_is_real(v)) {
    snprintf(buf, n, "%g", json_real_value(v));
    return buf;
  }
  return NULL;
}

idp_code kx_images(kset *s, const json_t *images, const char *kpath, idp_err *e) {
  return kx_images_fs(s, images, kset_cfg(s, "images"), kpath, e);
}

idp_code kx_images_fs(kset *s, const json_t *images, const json_t *fs, const char *kpath,
                      idp_err *e) {
  if (json_is_null(images)) return IDP_OK;
  if (!json_is_array(images))
    return idp_err_set(e, IDP_EINVAL, "%s: images must be a list", kpath);
  size_t i;
  json_t *im;
  json_array_foreach(images, i, im) {
    const char *name = idp_json_get_str(im, "name", NULL);
    if (!name || !*name)
      return idp_err_set(e, IDP_EINVAL, "%s: images[%zu].name is required", kpath, i);
    imgx x = {0};
    x.new_name = idp_json_get_str(im, "newName", NULL);
    x.new_tag = scalar_text(json_object_get(im, "newTag"), x.tagbuf, sizeof x.tagbuf);
    x.digest = idp_json_get_str(im, "digest", NULL);
    /* Go's RE2 accepts a quantifier right after "^" ("*" as an image name
     * repeats the anchor, so it matches every image); PCRE2 wants the
     * anchor grouped for that. */
    bool leading_quant = strchr("*+?{", name[0]) != NULL;
    x.re = re_compile(name, leading_quant ? "(?:^)" : "^",
                      "(:[a-zA-Z0-9_.{}-]*)?(@sha256:[a-zA-Z0-9_.{}-]*)?$", e);
    if (!x.re) {
      idp_err_prefix(e, "%s: images[%zu]", kpath, i);
      return e ? e->code : IDP_EINVAL;
    }
    idp_code rc = IDP_OK;
    for (size_t j = 0; j < s->n && !rc; j++) {
      image_walk(s->v[j]->obj, &x, 0);
      size_t xi;
      json_t *xf;
      json_array_foreach(fs, xi, xf) {
        kfs f = kfs_from_json(xf);
        if (f.path && kfs_selects(&f, s->v[j]) &&
            (rc = kfs_apply(s->v[j]->obj, f.path, false, set_image, &x, e)))
          break;
      }
    }
    pcre2_code_free(x.re);
    if (rc) return rc;
  }
  return IDP_OK;
}

/* ------------------------------------------------------------ replicas */

static idp_code set_count(json_t *parent, const char *key, json_t *v, void *ctx, idp_err *e) {
  IDP_UNUSED(v);
  IDP_UNUSED(e);
  json_object_set_new(parent, key, json_integer(*(json_int_t *)ctx));
  return IDP_OK;
}

idp_code kx_replicas(kset *s, const json_t *replicas, const char *kpath, idp_err *e) {
  return kx_replicas_fs(s, replicas, NULL, kpath, e);
}

idp_code kx_replicas_fs(kset *s, const json_t *replicas, const json_t *fs, const char *kpath,
                        idp_err *e) {
  if (json_is_null(replicas)) return IDP_OK;
  if (!json_is_array(replicas))
    return idp_err_set(e, IDP_EINVAL, "%s: replicas must be a list", kpath);
  size_t i;
  json_t *rp;
  json_array_foreach(replicas, i, rp) {
    const char *name = idp_json_get_str(rp, "name", NULL);
    json_t *cv = json_object_get(rp, "count");
    if (!name || !json_is_integer(cv))
      return idp_err_set(e, IDP_EINVAL, "%s: replicas[%zu] needs a name and an integer count",
                         kpath, i);
    json_int_t count = json_integer_value(cv);
    bool found = false;
    for (size_t k = 0; !fs && k < IDP_ARRAY_LEN(replicas_fs); k++) {
      for (size_t j = 0; j < s->n; j++) {
        kres *r = s->v[j];
        if (strcmp(kres_org_name(r), name) && strcmp(kres_name(r), name)) continue;
        if (!kfs_selects(&replicas_fs[k], r)) continue;
        found = true;
        idp_code rc = kfs_apply(r->obj, replicas_fs[k].path, true, set_count, &count, e);
        if (rc) return rc;
      }
    }
    size_t xi;
    json_t *xf;
    json_array_foreach(fs ? fs : kset_cfg(s, "replicas"), xi, xf) {
      kfs f = kfs_from_json(xf);
      if (!f.path) continue;
      for (size_t j = 0; j < s->n; j++) {
        kres *r = s->v[j];
        if (strcmp(kres_org_name(r), name) && strcmp(kres_name(r), name)) continue;
        if (!kfs_selects(&f, r)) continue;
        found = true;
        idp_code rc = kfs_apply(r->obj, f.path, f.create, set_count, &count, e);
        if (rc) return rc;
      }
    }
    if (!found)
      return idp_err_set(e, IDP_EINVALID,
                         "%s: replicas[%zu]: resource with name %s does not match a config with "
                         "the following GVK [~G_~V_Deployment ~G_~V_ReplicationController "
                         "~G_~V_ReplicaSet ~G_~V_StatefulSet]",
                         kpath, i, name);
  }
  return IDP_OK;
}

/* ------------------------------------------------------------ name references */

typedef struct nrctx {
  kset *all;
  bool have_cand; /* cand/ncand computed for this referrer */
  kres *referrer;
  const nref *ref;
  kres **cand; /* candidates that could be referenced by the referrer */
  size_t ncand;
  kres **tmp;
} nrctx;

static bool id_selected(const char *group, const char *version, const char *kind,
                        const nref *ref) {
  return sel_eq(ref->group, group) && sel_eq(ref->version, version) && sel_eq(ref->kind, kind);
}

static bool prev_gvk_selected(const kres *r, const char *group, const char *version,
                              const nref *ref) {
  /* previous ids share the current group/version; only kinds change */
  size_t i;
  json_t *t;
  json_array_foreach(r->prev, i, t) {
    if (id_selected(group, version, json_string_value(json_array_get(t, 0)), ref)) return true;
  }
  return false;
}

static bool prev_name_matches(const kres *r, const char *name) {
  size_t i;
  json_t *t;
  json_array_foreach(r->prev, i, t) {
    if (!strcmp(json_string_value(json_array_get(t, 1)), name)) return true;
  }
  return false;
}

/* SameEndingSubSlice: the shorter list equals the end of the longer. */
static bool same_ending(const json_t *a, const json_t *b) {
  size_t na = json_array_size(a), nb = json_array_size(b);
  const json_t *s = na <= nb ? a : b, *l = na <= nb ? b : a;
  size_t ns = json_array_size(s), nl = json_array_size(l);
  for (size_t i = 0; i < ns; i++)
    if (!json_equal(json_array_get(s, i), json_array_get(l, nl - ns + i))) return false;
  return true;
}

static size_t sieve_common(nrctx *c, kres **in, size_t n, const char *old_name, kres **out) {
  size_t m = 0;
  bool referrer_cluster = c->referrer->cluster;
  /* roleRef: the candidate must also be of roleRef's apiGroup/kind */
  const char *rr_group = NULL, *rr_kind = NULL;
  size_t pl = strlen(c->ref->fs.path);
  if (pl >= 12 && !strcmp(c->ref->fs.path + pl - 12, "roleRef/name")) {
    rr_group = idp_json_get_str(c->referrer->obj, "roleRef", "apiGroup", NULL);
    rr_kind = idp_json_get_str(c->referrer->obj, "roleRef", "kind", NULL);
    if (!rr_group || !rr_kind) rr_group = rr_kind = NULL;
  }
  for (size_t i = 0; i < n; i++) {
    kres *r = in[i];
    if (!prev_name_matches(r, old_name)) continue;
    char g[256], v[128];
    kres_gv(r, g, sizeof g, v, sizeof v);
    if (!prev_gvk_selected(r, g, v, c->ref)) continue;
    if (rr_kind) {
      nref rr = {rr_group, NULL, rr_kind, {0}};
      if (!prev_gvk_selected(r, g, v, &rr)) continue;
    }
    if (!referrer_cluster && !r->cluster &&
        strcmp(kres_kind(r), "ServiceAccount") && !ns_equal(kres_ns(c->referrer), kres_ns(r)))
      continue;
    out[m++] = r;
  }
  return m;
}

/* selectReferral: NULL when nothing (or nothing unambiguous) matches. */
static idp_code select_referral(nrctx *c, const char *old_name, kres **in, size_t n,
                                bool need_ns_same, kres **res, idp_err *e) {
  *res = NULL;
  size_t m = sieve_common(c, in, n, old_name, c->tmp);
  if (m == 1) {
    *res = c->tmp[0];
    return IDP_OK;
  }
  size_t k = 0;
  for (size_t i = 0; i < m; i++)
    if (same_ending(c->tmp[i]->prefixes, c->referrer->prefixes) &&
        same_ending(c->tmp[i]->suffixes, c->referrer->suffixes))
      c->tmp[k++] = c->tmp[i];
  if (k == 0) return IDP_OK;
  if (k == 1) {
    *res = c->tmp[0];
    return IDP_OK;
  }
  for (size_t i = 1; i < k; i++) {
    if (strcmp(kres_name(c->tmp[i]), kres_name(c->tmp[0])) ||
        (need_ns_same && strcmp(kres_ns(c->tmp[i]), kres_ns(c->tmp[0]))))
      return idp_err_set(e, IDP_EINVALID,
                         "%s %s: found multiple possible referrals for '%s' (%s %s and %s %s)",
                         kres_kind(c->referrer), kres_name(c->referrer), old_name,
                         kres_kind(c->tmp[0]), kres_name(c->tmp[0]), kres_kind(c->tmp[i]),
                         kres_name(c->tmp[i]));
  }
  *res = c->tmp[0];
  return IDP_OK;
}

static idp_code nr_scalar(nrctx *c, json_t *holder, const char *key, size_t idx, json_t *v,
                          idp_err *e) {
  const char *old = json_string_value(v);
  if (!old) return IDP_OK;
  kres *ref = NULL;
  idp_code rc = select_referral(c, old, c->cand, c->ncand, false, &ref, e);
  if (rc || !ref) return rc;
  if (!strcmp(kres_name(ref), old)) return IDP_OK;
  json_t *nv = json_string(kres_name(ref));
  if (key)
    json_object_set_new(holder, key, nv);
  else
    json_array_set_new(holder, idx, nv);
  return IDP_OK;
}

static idp_code nr_mapping(nrctx *c, json_t *m, idp_err *e) {
  json_t *namev = json_object_get(m, "name");
  if (!namev)
    return idp_err_set(e, IDP_EINVAL, "%s %s: path config error; no 'name' field in node",
                       kres_kind(c->referrer), kres_name(c->referrer));
  const char *old = json_string_value(namev);
  if (!old) return IDP_OK;
  kres **in = c->cand;
  size_t n = c->ncand;
  kres **sub = NULL;
  json_t *nsv = json_object_get(m, "namespace");
  if (nsv) {
    const char *ns = json_string_value(nsv);
    if (!ns) ns = "";
    /* compared as effective namespaces: "" is "default" */
    sub = malloc((c->all->n + 1) * sizeof *sub);
    if (!sub) return idp_err_set(e, IDP_ENOMEM, "kustomize: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < c->ncand; i++)
      if (ns_equal(kres_org_ns(c->cand[i]), ns)) sub[k++] = c->cand[i];
    if (k == 0)
      for (size_t i = 0; i < c->ncand; i++)
        if (ns_equal(kres_ns(c->cand[i]), ns)) sub[k++] = c->cand[i];
    in = sub;
    n = k;
  }
  kres *ref = NULL;
  idp_code rc = select_referral(c, old, in, n, true, &ref, e);
  free(sub);
  if (rc || !ref) return rc;
  if (!strcmp(kres_name(ref), old) && !*kres_ns(ref)) return IDP_OK;
  json_object_set_new(m, "name", json_string(kres_name(ref)));
  if (*kres_ns(ref)) json_object_set_new(m, "namespace", json_string(kres_ns(ref)));
  return IDP_OK;
}

static size_t referable_by(kset *s, kres *referrer, kres **out);

static idp_code nr_set(json_t *parent, const char *key, json_t *v, void *ctx, idp_err *e) {
  nrctx *c = ctx;
  if (!v || json_is_null(v)) return IDP_OK;
  if (!c->have_cand) { /* only referrers that hold a reference pay for this */
    c->ncand = referable_by(c->all, c->referrer, c->cand);
    c->have_cand = true;
  }
  if (json_is_string(v)) return nr_scalar(c, parent, key, 0, v, e);
  if (json_is_object(v)) return nr_mapping(c, v, e);
  if (json_is_array(v)) {
    size_t i;
    json_t *el;
    json_array_foreach(v, i, el) {
      idp_code rc = IDP_OK;
      if (json_is_string(el))
        rc = nr_scalar(c, v, NULL, i, el, e);
      else if (json_is_object(el))
        rc = nr_mapping(c, el, e);
      if (rc) return rc;
    }
  }
  return IDP_OK;
}

/* Candidates a referrer may point at: everything when it is cluster-scoped;
 * else cluster-scoped objects, objects in its namespace, and for a
 * RoleBinding objects in the namespaces of its ServiceAccount subjects. */
static size_t referable_by(kset *s, kres *referrer, kres **out) {
  char g[256], v[128];
  kres_gv(referrer, g, sizeof g, v, sizeof v);
  size_t m = 0;
  if (referrer->cluster) {
    for (size_t i = 0; i < s->n; i++) out[m++] = s->v[i];
    return m;
  }
  const char *rns = kres_ns(referrer);
  json_t *subjects =
      !strcmp(kres_kind(referrer), "RoleBinding") ? json_object_get(referrer->obj, "subjects") : NULL;
  for (size_t i = 0; i < s->n; i++) {
    kres *r = s->v[i];
    if (r->cluster || ns_equal(kres_ns(r), rns)) {
      out[m++] = r;
      continue;
    }
    size_t j;
    json_t *sub;
    json_array_foreach(subjects, j, sub) {
      const char *sk = idp_json_get_str(sub, "kind", NULL);
      const char *sns = idp_json_get_str(sub, "namespace", NULL);
      if (sk && sns && !strcmp(sk, "ServiceAccount") && !strcmp(sns, kres_ns(r))) {
        out[m++] = r;
        break;
      }
    }
  }
  return m;
}

idp_code kx_namerefs(kset *s, idp_err *e) {
  if (!s->n) return IDP_OK;
  nrctx c = {0};
  c.all = s;
  c.cand = malloc(s->n * sizeof *c.cand);
  c.tmp = malloc(s->n * sizeof *c.tmp);
  if (!c.cand || !c.tmp) {
    free(c.cand);
    free(c.tmp);
    return idp_err_set(e, IDP_ENOMEM, "kustomize: out of memory");
  }
  /* the built-in table, then rows from `configurations` */
  size_t nextra = 0, ei;
  json_t *ent;
  json_array_foreach(kset_cfg(s, "nameReference"), ei, ent)
      nextra += json_array_size(json_object_get(ent, "fieldSpecs"));
  nref *extra = calloc(nextra ? nextra : 1, sizeof *extra);
  if (!extra) {
    free(c.cand);
    free(c.tmp);
    return idp_err_set(e, IDP_ENOMEM, "kustomize: out of memory");
  }
  size_t ne = 0;
  json_array_foreach(kset_cfg(s, "nameReference"), ei, ent) {
    size_t fi;
    json_t *f;
    json_array_foreach(json_object_get(ent, "fieldSpecs"), fi, f) {
      kfs x = kfs_from_json(f);
      if (!x.path) continue;
      extra[ne].group = idp_json_get_str(ent, "group", NULL);
      extra[ne].version = idp_json_get_str(ent, "version", NULL);
      extra[ne].kind = idp_json_get_str(ent, "kind", NULL);
      extra[ne].fs = x;
      ne++;
    }
  }
  idp_code rc = IDP_OK;
  for (size_t i = 0; i < s->n; i++) s->v[i]->cluster = kres_cluster_scoped(s->v[i]);
  for (size_t i = 0; i < s->n && !rc; i++) {
    kres *r = s->v[i];
    char g[256], v[128];
    kres_gv(r, g, sizeof g, v, sizeof v);
    const char *kind = kres_kind(r);
    c.have_cand = false;
    for (size_t k = 0; k < IDP_ARRAY_LEN(name_refs) + ne && !rc; k++) {
      const nref *ref = k < IDP_ARRAY_LEN(name_refs) ? &name_refs[k]
                                                      : &extra[k - IDP_ARRAY_LEN(name_refs)];
      if (!sel_eq(ref->fs.group, g) || !sel_eq(ref->fs.version, v) || !sel_eq(ref->fs.kind, kind))
        continue;
      c.referrer = r;
      c.ref = ref;
      rc = kfs_apply(r->obj, ref->fs.path, false, nr_set, &c, e);
      if (rc)
        idp_err_prefix(e, "updating name reference in '%s' field of %s %s", ref->fs.path,
                       kres_kind(r), kres_name(r));
    }
  }
  free(extra);
  free(c.cand);
  free(c.tmp);
  return rc;
}
