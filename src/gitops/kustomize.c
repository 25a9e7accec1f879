/* kustomize.c: loading kustomizations and resources, accumulation order,
 * components, configurations, helmCharts, Argo CD overrides, and the final
 * steps.  The order follows kustomize's KustTarget: resources,
 * configurations, generators (configMap, secret, helm), components,
 * transformers (patchesStrategicMerge, patches, namespace, prefix, suffix,
 * labels, annotations, patchesJson6902, replicas, images, replacements),
 * vars collected, for each kustomization; then, once at the top: name
 * hashes, back references, vars, buildMetadata, sort. */
#include "core/common.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/yaml.h"
#include "gitops/helm.h"
#include "gitops/kustomize.h"
#include "gitops/kustomize_int.h"

const idp_yaml_limits kz_yaml_limits = {
    .max_bytes = (size_t)64 << 20,
    .max_depth = 256,
    .max_alias_nodes = 1000000,
    .core_schema = 1,
};

#define KUST_MAX_DEPTH 64

/* ------------------------------------------------------------ kres / kset */

kres *kres_new(json_t *obj) {
  kres *r = calloc(1, sizeof *r);
  if (!r) {
    json_decref(obj);
    return NULL;
  }
  r->obj = obj;
  r->prev = json_array();
  r->prefixes = json_array();
  r->suffixes = json_array();
  return r;
}

void kres_free(kres *r) {
  if (!r) return;
  json_decref(r->obj);
  json_decref(r->prev);
  json_decref(r->prefixes);
  json_decref(r->suffixes);
  free(r->origin);
  free(r);
}

void kset_invalidate(kset *s) {
  json_decref(s->ids);
  s->ids = NULL;
}

static const char *const cfg_categories[] = {
    "commonLabels", "templateLabels", "commonAnnotations", "namespace", "namePrefix",
    "nameSuffix", "images", "replicas", "varReference", "nameReference",
};

const json_t *kset_cfg(const kset *s, const char *category) {
  return s->cfg ? json_object_get(s->cfg, category) : NULL;
}

idp_code kset_merge_cfg(kset *s, const json_t *cfg, const char *where, idp_err *e) {
  if (!cfg || json_is_null(cfg)) return IDP_OK;
  if (!json_is_object(cfg))
    return idp_err_set(e, IDP_EINVAL, "%s: a transformer configuration must be a map", where);
  const char *key;
  json_t *list;
  json_object_foreach((json_t *)cfg, key, list) {
    bool known = false;
    for (size_t i = 0; i < IDP_ARRAY_LEN(cfg_categories) && !known; i++)
      known = !strcmp(key, cfg_categories[i]);
    if (!known)
      return idp_err_set(e, IDP_EINVAL, "%s: unknown transformer configuration '%s'", where, key);
    if (json_is_null(list)) continue;
    if (!json_is_array(list))
      return idp_err_set(e, IDP_EINVAL, "%s: %s must be a list", where, key);
    size_t i;
    json_t *fs;
    json_array_foreach(list, i, fs) {
      bool ok = json_is_object(fs) &&
                (!strcmp(key, "nameReference") ? json_is_array(json_object_get(fs, "fieldSpecs"))
                                               : json_is_string(json_object_get(fs, "path")));
      if (!ok)
        return idp_err_set(e, IDP_EINVAL, "%s: %s[%zu] must be a field spec with a path%s",
                           where, key, i,
                           strcmp(key, "nameReference") ? "" : " (kind and fieldSpecs)");
    }
    if (!s->cfg) s->cfg = json_object();
    json_t *dst = json_object_get(s->cfg, key);
    if (!dst) {
      dst = json_array();
      json_object_set_new(s->cfg, key, dst);
    }
    json_array_extend(dst, list);
  }
  return IDP_OK;
}

void kset_free(kset *s) {
  json_decref(s->cfg);
  s->cfg = NULL;
  kset_invalidate(s);
  for (size_t i = 0; i < s->n; i++) kres_free(s->v[i]);
  free(s->v);
  s->v = NULL;
  s->n = s->cap = 0;
}

idp_code kset_push(kset *s, kres *r, idp_err *e) {
  kset_invalidate(s);
  if (!r) return idp_err_set(e, IDP_ENOMEM, "kustomize: out of memory");
  if (s->n == s->cap) {
    size_t nc = s->cap ? s->cap * 2 : 16;
    kres **nv = realloc(s->v, nc * sizeof *nv);
    if (!nv) {
      kres_free(r);
      return idp_err_set(e, IDP_ENOMEM, "kustomize: out of memory");
    }
    s->v = nv;
    s->cap = nc;
  }
  s->v[s->n++] = r;
  return IDP_OK;
}

void kset_remove_at(kset *s, size_t i) {
  kset_invalidate(s);
  kres_free(s->v[i]);
  memmove(s->v + i, s->v + i + 1, (s->n - i - 1) * sizeof *s->v);
  s->n--;
}

const char *kres_kind(const kres *r) {
  const char *k = idp_json_get_str(r->obj, "kind", NULL);
  return k ? k : "";
}
const char *kres_name(const kres *r) {
  const char *k = idp_json_get_str(r->obj, "metadata", "name", NULL);
  return k ? k : "";
}
const char *kres_ns(const kres *r) {
  const char *k = idp_json_get_str(r->obj, "metadata", "namespace", NULL);
  return k ? k : "";
}

static void split_api_version(const char *av, char *group, size_t gn, char *version,
                              size_t vn) {
  if (!av) av = "";
  const char *slash = strchr(av, '/');
  if (slash) {
    snprintf(group, gn, "%.*s", (int)(slash - av), av);
    snprintf(version, vn, "%s", slash + 1);
  } else {
    snprintf(group, gn, "%s", "");
    snprintf(version, vn, "%s", av);
  }
}

void kres_gv(const kres *r, char *group, size_t gn, char *version, size_t vn) {
  split_api_version(idp_json_get_str(r->obj, "apiVersion", NULL), group, gn, version, vn);
}

void kres_store_prev(kres *r) {
  json_t *t = json_array();
  json_array_append_new(t, json_string(kres_kind(r)));
  json_array_append_new(t, json_string(kres_name(r)));
  json_array_append_new(t, json_string(kres_ns(r)));
  json_array_append_new(r->prev, t);
}

void kres_set_name(kres *r, const char *name) {
  json_t *md = idp_json_child_object(r->obj, "metadata");
  if (md) json_object_set_new(md, "name", json_string(name));
}

void kres_set_ns(kres *r, const char *ns) {
  json_t *md = idp_json_child_object(r->obj, "metadata");
  if (!md) return;
  if (ns && *ns)
    json_object_set_new(md, "namespace", json_string(ns));
  else
    json_object_del(md, "namespace");
}

const char *kres_org_name(const kres *r) {
  if (json_array_size(r->prev))
    return json_string_value(json_array_get(json_array_get(r->prev, 0), 1));
  return kres_name(r);
}
const char *kres_org_ns(const kres *r) {
  if (json_array_size(r->prev))
    return json_string_value(json_array_get(json_array_get(r->prev, 0), 2));
  return kres_ns(r);
}

/* Built-in cluster-scoped kinds (kustomize asks its built-in OpenAPI
 * schema; kinds it does not know, i.e. custom resources, count as
 * namespaced). */
static const struct {
  const char *group, *kind;
} cluster_kinds[] = {
    {"", "Namespace"},
    {"", "Node"},
    {"", "PersistentVolume"},
    {"", "ComponentStatus"},
    {"rbac.authorization.k8s.io", "ClusterRole"},
    {"rbac.authorization.k8s.io", "ClusterRoleBinding"},
    {"apiextensions.k8s.io", "CustomResourceDefinition"},
    {"apiregistration.k8s.io", "APIService"},
    {"storage.k8s.io", "StorageClass"},
    {"storage.k8s.io", "CSIDriver"},
    {"storage.k8s.io", "CSINode"},
    {"storage.k8s.io", "VolumeAttachment"},
    {"storage.k8s.io", "VolumeAttributesClass"},
    {"scheduling.k8s.io", "PriorityClass"},
    {"admissionregistration.k8s.io", "ValidatingWebhookConfiguration"},
    {"admissionregistration.k8s.io", "MutatingWebhookConfiguration"},
    {"admissionregistration.k8s.io", "ValidatingAdmissionPolicy"},
    {"admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"},
    {"node.k8s.io", "RuntimeClass"},
    {"networking.k8s.io", "IngressClass"},
    {"networking.k8s.io", "IPAddress"},
    {"networking.k8s.io", "ServiceCIDR"},
    {"policy", "PodSecurityPolicy"},
    {"extensions", "PodSecurityPolicy"},
    {"certificates.k8s.io", "CertificateSigningRequest"},
    {"certificates.k8s.io", "ClusterTrustBundle"},
    {"flowcontrol.apiserver.k8s.io", "FlowSchema"},
    {"flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"},
    {"authentication.k8s.io", "TokenReview"},
    {"authentication.k8s.io", "SelfSubjectReview"},
    {"authorization.k8s.io", "SelfSubjectAccessReview"},
    {"authorization.k8s.io", "SelfSubjectRulesReview"},
    {"authorization.k8s.io", "SubjectAccessReview"},
    {"resource.k8s.io", "DeviceClass"},
};

bool kind_is_cluster_scoped(const char *group, const char *kind) {
  for (size_t i = 0; i < IDP_ARRAY_LEN(cluster_kinds); i++)
    if (!strcmp(cluster_kinds[i].kind, kind) && !strcmp(cluster_kinds[i].group, group))
      return true;
  return false;
}

bool kres_cluster_scoped(const kres *r) {
  char g[256], v[128];
  kres_gv(r, g, sizeof g, v, sizeof v);
  return kind_is_cluster_scoped(g, kres_kind(r));
}

bool ns_equal(const char *a, const char *b) {
  if (!a || !*a) a = "default";
  if (!b || !*b) b = "default";
  return !strcmp(a, b);
}

bool kres_any_id_equals(const kres *r, const char *api_version, const char *kind,
                        const char *name, const char *ns) {
  const char *av = idp_json_get_str(r->obj, "apiVersion", NULL);
  if (strcmp(av ? av : "", api_version ? api_version : "")) return false;
  if (!strcmp(kres_kind(r), kind) && !strcmp(kres_name(r), name) && ns_equal(kres_ns(r), ns))
    return true;
  size_t i;
  json_t *t;
  json_array_foreach(r->prev, i, t) {
    if (!strcmp(json_string_value(json_array_get(t, 0)), kind) &&
        !strcmp(json_string_value(json_array_get(t, 1)), name) &&
        ns_equal(json_string_value(json_array_get(t, 2)), ns))
      return true;
  }
  return false;
}

/* The id key kustomize's ResId.Equals compares ("" namespace = default). */
static void id_key(const kres *r, char *out, size_t n) {
  const char *av = idp_json_get_str(r->obj, "apiVersion", NULL);
  snprintf(out, n, "%s|%s|%s|%s", kres_kind(r), *kres_ns(r) ? kres_ns(r) : "default",
           kres_name(r), av ? av : "");
}

idp_code kset_append(kset *s, kres *r, const char *where, idp_err *e) {
  if (!r) return idp_err_set(e, IDP_ENOMEM, "kustomize: out of memory");
  char key[2048];
  if (!s->ids) { /* (re)build the index: linear once, then O(1) per append */
    s->ids = json_object();
    for (size_t i = 0; i < s->n; i++) {
      id_key(s->v[i], key, sizeof key);
      json_object_set_new(s->ids, key, json_true());
    }
  }
  id_key(r, key, sizeof key);
  if (json_object_get(s->ids, key)) {
    idp_err_set(e, IDP_EINVALID,
                "%s: may not add resource with an already registered id: %s %s/%s", where,
                kres_kind(r), *kres_ns(r) ? kres_ns(r) : "[noNs]", kres_name(r));
    kres_free(r);
    return e ? e->code : IDP_EINVALID;
  }
  json_t *ids = s->ids;
  s->ids = NULL; /* kset_push invalidates; keep ours */
  idp_code rc = kset_push(s, r, e);
  s->ids = ids;
  if (!rc) json_object_set_new(s->ids, key, json_true());
  return rc;
}

/* ------------------------------------------------------------ files */

static bool is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}
static bool is_file(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static const char *const kfile_names[] = {"kustomization.yaml", "kustomization.yml",
                                          "Kustomization"};

bool idp_kustomize_is_dir(const char *dir) {
  char p[4096];
  for (size_t i = 0; i < IDP_ARRAY_LEN(kfile_names); i++) {
    snprintf(p, sizeof p, "%s/%s", dir, kfile_names[i]);
    if (is_file(p)) return true;
  }
  return false;
}

idp_code kfile_resolve(const char *dir, const char *rel, char *out, size_t outn,
                       const char *kpath, const char *field, idp_err *e) {
  int n = rel[0] == '/' ? snprintf(out, outn, "%s", rel) : snprintf(out, outn, "%s/%s", dir, rel);
  if (n < 0 || (size_t)n >= outn)
    return idp_err_set(e, IDP_EINVAL, "%s: %s '%s': path too long", kpath, field, rel);
  char rdir[PATH_MAX], rfile[PATH_MAX];
  if (!realpath(out, rfile)) {
    if (errno == ENOENT || errno == ENOTDIR)
      return idp_err_set(e, IDP_ENOTFOUND, "%s: %s '%s': no such file (%s)", kpath, field, rel,
                         out);
    return idp_err_set(e, IDP_EIO, "%s: %s '%s': %s", kpath, field, rel, strerror(errno));
  }
  if (!realpath(dir, rdir))
    return idp_err_set(e, IDP_EIO, "%s: %s: %s", kpath, dir, strerror(errno));
  size_t dl = strlen(rdir);
  if (strncmp(rfile, rdir, dl) != 0 || (rfile[dl] != '/' && rfile[dl] != '\0' && dl > 1))
    return idp_err_set(e, IDP_EFORBIDDEN,
                       "%s: %s '%s': security; file '%s' is not in or below '%s'", kpath, field,
                       rel, rfile, rdir);
  return IDP_OK;
}

/* Loads one resource file: every non-empty document, List kinds expanded. */
static idp_code load_resource_file(const char *path, const char *kpath, kset *ra,
                                   idp_err *e) {
  json_t *docs = NULL;
  idp_code rc = idp_yaml_load_file(path, &kz_yaml_limits, &docs, e);
  if (rc) {
    idp_err_prefix(e, "%s: resources", kpath);
    return rc;
  }
  size_t i;
  json_t *d;
  json_array_foreach(docs, i, d) {
    if (json_is_null(d)) continue;
    if (!json_is_object(d)) {
      json_decref(docs);
      return idp_err_set(e, IDP_EINVAL, "%s: document %zu is not an object", path, i + 1);
    }
    const char *kind = idp_json_get_str(d, "kind", NULL);
    json_t *items = json_object_get(d, "items");
    size_t kl = kind ? strlen(kind) : 0;
    if (kind && kl >= 4 && !strcmp(kind + kl - 4, "List") && json_is_array(items)) {
      size_t j;
      json_t *it;
      json_array_foreach(items, j, it) {
        if (!json_is_object(it)) continue;
        rc = kset_append(ra, kres_new(json_deep_copy(it)), path, e);
        if (rc) goto out;
      }
      continue;
    }
    if (!kind || !*kind) {
      rc = idp_err_set(e, IDP_EINVAL, "%s: document %zu: missing kind", path, i + 1);
      goto out;
    }
    if (!idp_json_get_str(d, "metadata", "name", NULL)) {
      rc = idp_err_set(e, IDP_EINVAL, "%s: document %zu (%s): missing metadata.name", path,
                       i + 1, kind);
      goto out;
    }
    rc = kset_append(ra, kres_new(json_deep_copy(d)), path, e);
    if (rc) goto out;
  }
out:
  json_decref(docs);
  return rc;
}

/* ------------------------------------------------------------ targets */

typedef struct kctx {
  int depth;
  json_t *stack;            /* real paths being built (cycle detection) */
  const json_t *overrides;  /* Argo CD source.kustomize, for the top one */
  json_t *top;              /* the top kustomization (sortOptions) */
  char top_path[PATH_MAX];
  char top_real[PATH_MAX];  /* its directory, resolved */
  bool origins;             /* buildMetadata: originAnnotations */
  bool managed_by;          /* buildMetadata: managedByLabel */
  json_t *vars;             /* vars of every kustomization, by name */
} kctx;

/* `path` relative to the directory `base` (both resolved). */
static void rel_path(const char *base, const char *path, char *out, size_t n) {
  char rp[PATH_MAX];
  if (!realpath(path, rp)) {
    snprintf(out, n, "%s", path);
    return;
  }
  size_t common = 0, i = 0;
  for (; base[i] && rp[i] && base[i] == rp[i]; i++)
    if (base[i] == '/') common = i;
  if (!base[i] && (rp[i] == '/' || !rp[i])) common = i;
  size_t o = 0;
  out[0] = '\0';
  for (const char *b = base + common; *b; b++)
    if (*b == '/' && o + 4 < n) {
      memcpy(out + o, "../", 3);
      o += 3;
    }
  snprintf(out + o, n - o, "%s", rp[common] == '/' ? rp + common + 1 : rp + common);
}

/* kustomize's config.kubernetes.io/origin text for a file or a generator. */
static void set_origin(kctx *c, kres *r, const char *file, const char *kfile) {
  if (r->origin) return;
  char rel[PATH_MAX];
  idp_buf b;
  idp_buf_init(&b, 2 * PATH_MAX);
  if (file) {
    rel_path(c->top_real, file, rel, sizeof rel);
    idp_buf_printf(&b, "path: %s\n", rel);
  } else {
    rel_path(c->top_real, kfile, rel, sizeof rel);
    idp_buf_printf(&b, "configuredIn: %s\nconfiguredBy:\n  apiVersion: builtin\n  kind: %s\n",
                   rel, r->gen_kind);
  }
  r->origin = idp_buf_detach(&b, NULL);
}

static const char *const known_fields[] = {
    "apiVersion", "kind", "metadata", "resources", "bases", "components", "namespace",
    "namePrefix", "nameSuffix", "commonLabels", "labels", "commonAnnotations", "images",
    "replicas", "patches", "patchesStrategicMerge", "patchesJson6902", "configMapGenerator",
    "secretGenerator", "generatorOptions", "sortOptions", "buildMetadata", "helmCharts",
    "helmGlobals", "replacements", "vars", "configurations", "generators", "transformers",
};
static const char *const unsupported_fields[] = {
    "crds",
    "validators", "openapi", "helmChartInflationGenerator",
};

static idp_code load_kustomization(const char *dir, json_t **out, char *kpath, size_t kn,
                                   idp_err *e) {
  int found = 0;
  char p[PATH_MAX];
  for (size_t i = 0; i < IDP_ARRAY_LEN(kfile_names); i++) {
    snprintf(p, sizeof p, "%s/%s", dir, kfile_names[i]);
    if (is_file(p)) {
      if (found++)
        return idp_err_set(e, IDP_EINVAL,
                           "%s: found multiple kustomization files (kustomization.yaml, "
                           "kustomization.yml, Kustomization): keep one",
                           dir);
      snprintf(kpath, kn, "%s", p);
    }
  }
  if (!found) {
    if (!is_dir(dir))
      return idp_err_set(e, IDP_ENOTFOUND, "%s: no such directory", dir);
    return idp_err_set(e, IDP_ENOTFOUND,
                       "unable to find one of 'kustomization.yaml', 'kustomization.yml' or "
                       "'Kustomization' in directory '%s'",
                       dir);
  }
  json_t *docs = NULL;
  idp_code rc = idp_yaml_load_file(kpath, &kz_yaml_limits, &docs, e);
  if (rc) return rc;
  if (json_array_size(docs) > 1) {
    json_decref(docs);
    return idp_err_set(e, IDP_EINVAL, "%s: a kustomization must be one YAML document", kpath);
  }
  json_t *k = json_array_size(docs) ? json_incref(json_array_get(docs, 0)) : json_object();
  json_decref(docs);
  if (json_is_null(k)) {
    json_decref(k);
    k = json_object();
  }
  if (!json_is_object(k)) {
    json_decref(k);
    return idp_err_set(e, IDP_EINVAL, "%s: a kustomization must be a YAML mapping", kpath);
  }
  const char *key;
  json_t *v;
  json_object_foreach(k, key, v) {
    bool ok = false;
    for (size_t i = 0; i < IDP_ARRAY_LEN(known_fields) && !ok; i++)
      ok = !strcmp(key, known_fields[i]);
    if (ok) continue;
    idp_code rc = IDP_EINVAL;
    for (size_t i = 0; i < IDP_ARRAY_LEN(unsupported_fields); i++)
      if (!strcmp(key, unsupported_fields[i]))
        rc = idp_err_set(e, IDP_EUNSUPPORTED,
                         "%s: field '%s' is not supported by the native kustomize renderer",
                         kpath, key);
    if (rc == IDP_EINVAL)
      idp_err_set(e, IDP_EINVAL, "%s: invalid Kustomization: json: unknown field \"%s\"", kpath,
                  key);
    json_decref(k); /* after the message: `key` lives in k */
    return rc;
  }
  *out = k;
  return IDP_OK;
}

static idp_code accumulate(kctx *c, const char *dir, kset *ra, bool component, idp_err *e);

static idp_code accumulate_resources(kctx *c, const char *dir, const char *kpath,
                                     const json_t *list, const char *field, kset *ra,
                                     idp_err *e) {
  if (!list) return IDP_OK;
  if (!json_is_array(list))
    return idp_err_set(e, IDP_EINVAL, "%s: %s must be a list", kpath, field);
  size_t i;
  json_t *it;
  json_array_foreach(list, i, it) {
    const char *rel = json_string_value(it);
    if (!rel)
      return idp_err_set(e, IDP_EINVAL, "%s: %s[%zu] must be a string", kpath, field, i);
    if (strstr(rel, "://") || !strncmp(rel, "git@", 4) || !strncmp(rel, "github.com/", 11))
      return idp_err_set(e, IDP_EUNSUPPORTED,
                         "%s: %s[%zu] '%s': remote resources are not supported by the native "
                         "kustomize renderer",
                         kpath, field, i, rel);
    char p[PATH_MAX];
    int n = rel[0] == '/' ? snprintf(p, sizeof p, "%s", rel) : snprintf(p, sizeof p, "%s/%s", dir, rel);
    if (n < 0 || (size_t)n >= sizeof p)
      return idp_err_set(e, IDP_EINVAL, "%s: %s[%zu]: path too long", kpath, field, i);
    if (is_dir(p)) {
      kset sub = {0};
      idp_code rc = accumulate(c, p, &sub, false, e);
      if (!rc) rc = kset_merge_cfg(ra, sub.cfg, kpath, e);
      if (rc) {
        kset_free(&sub);
        return rc;
      }
      for (size_t j = 0; j < sub.n; j++) {
        kres *r = sub.v[j];
        sub.v[j] = NULL;
        rc = kset_append(ra, r, kpath, e);
        if (rc) {
          for (size_t k = j + 1; k < sub.n; k++) kres_free(sub.v[k]);
          sub.n = 0;
          kset_free(&sub);
          return rc;
        }
      }
      sub.n = 0;
      kset_free(&sub);
      continue;
    }
    char fieldname[64];
    snprintf(fieldname, sizeof fieldname, "%s[%zu]", field, i);
    char fp[PATH_MAX];
    idp_code rc = kfile_resolve(dir, rel, fp, sizeof fp, kpath, fieldname, e);
    if (rc) return rc;
    if (!is_file(fp))
      return idp_err_set(e, IDP_EINVAL, "%s: %s '%s': not a regular file or directory", kpath,
                         fieldname, rel);
    size_t before = ra->n;
    rc = load_resource_file(fp, kpath, ra, e);
    if (rc) return rc;
    if (c->origins)
      for (size_t j = before; j < ra->n; j++) set_origin(c, ra->v[j], fp, NULL);
  }
  return IDP_OK;
}

/* `configurations`: files of extra field specs for the builtin
 * transformers (custom resources' selectors, name references, images...). */
static idp_code load_configurations(const char *dir, const char *kpath, const json_t *list,
                                    kset *ra, idp_err *e) {
  if (!list || json_is_null(list)) return IDP_OK;
  if (!json_is_array(list))
    return idp_err_set(e, IDP_EINVAL, "%s: configurations must be a list", kpath);
  size_t i;
  json_t *it;
  json_array_foreach(list, i, it) {
    const char *rel = json_string_value(it);
    if (!rel)
      return idp_err_set(e, IDP_EINVAL, "%s: configurations[%zu] must be a string", kpath, i);
    char p[PATH_MAX];
    idp_code rc = kfile_resolve(dir, rel, p, sizeof p, kpath, "configurations", e);
    if (rc) return rc;
    json_t *docs = NULL;
    if ((rc = idp_yaml_load_file(p, &kz_yaml_limits, &docs, e))) {
      idp_err_prefix(e, "%s: configurations", kpath);
      return rc;
    }
    size_t j;
    json_t *d;
    json_array_foreach(docs, j, d) {
      if ((rc = kset_merge_cfg(ra, d, p, e))) break;
    }
    json_decref(docs);
    if (rc) return rc;
  }
  return IDP_OK;
}

static idp_code accumulate_components(kctx *c, const char *dir, const char *kpath,
                                      const json_t *list, kset *ra, idp_err *e) {
  if (!list) return IDP_OK;
  if (!json_is_array(list))
    return idp_err_set(e, IDP_EINVAL, "%s: components must be a list", kpath);
  size_t i;
  json_t *it;
  json_array_foreach(list, i, it) {
    const char *rel = json_string_value(it);
    if (!rel)
      return idp_err_set(e, IDP_EINVAL, "%s: components[%zu] must be a string", kpath, i);
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    if (!is_dir(p))
      return idp_err_set(e, IDP_ENOTFOUND,
                         "%s: components[%zu] '%s': must be a directory holding a "
                         "kustomization of kind Component",
                         kpath, i, rel);
    idp_code rc = accumulate(c, p, ra, true, e);
    if (rc) return rc;
  }
  return IDP_OK;
}

static const char *str_field(const json_t *k, const char *key, const char *kpath, idp_err *e,
                             idp_code *rc) {
  json_t *v = json_object_get(k, key);
  *rc = IDP_OK;
  if (!v || json_is_null(v)) return NULL;
  if (!json_is_string(v)) {
    *rc = idp_err_set(e, IDP_EINVAL, "%s: %s must be a string", kpath, key);
    return NULL;
  }
  return json_string_value(v);
}

static idp_code run_transformers(const char *dir, const char *kpath, const json_t *k,
                                 kset *ra, idp_err *e) {
  idp_code rc;
  kset_invalidate(ra); /* names and namespaces change from here on */
  if ((rc = kpatch_run(ra, dir, k, kpath, "patchesStrategicMerge", e))) return rc;
  if ((rc = kpatch_run(ra, dir, k, kpath, "patches", e))) return rc;
  const char *ns = str_field(k, "namespace", kpath, e, &rc);
  if (rc) return rc;
  if (ns && *ns && (rc = kx_namespace(ra, ns, e))) return rc;
  const char *prefix = str_field(k, "namePrefix", kpath, e, &rc);
  if (rc) return rc;
  const char *suffix = str_field(k, "nameSuffix", kpath, e, &rc);
  if (rc) return rc;
  if ((prefix && *prefix) || (suffix && *suffix)) {
    if (prefix && *prefix && (rc = kx_prefix_suffix(ra, prefix, NULL, e))) return rc;
    if (suffix && *suffix && (rc = kx_prefix_suffix(ra, NULL, suffix, e))) return rc;
  }
  if ((rc = kx_labels(ra, k, kpath, e))) return rc;
  json_t *ann = json_object_get(k, "commonAnnotations");
  if (ann && (rc = kx_annotations(ra, ann, kpath, e))) return rc;
  if ((rc = kpatch_run(ra, dir, k, kpath, "patchesJson6902", e))) return rc;
  json_t *rep = json_object_get(k, "replicas");
  if (rep && (rc = kx_replicas(ra, rep, kpath, e))) return rc;
  json_t *img = json_object_get(k, "images");
  if (img && (rc = kx_images(ra, img, kpath, e))) return rc;
  if ((rc = krepl_run(ra, dir, k, kpath, e))) return rc;
  return IDP_OK;
}

/* ------------------------------------------------------------ helmCharts */

/* kustomize's HelmChartInflationGenerator (as with --enable-helm, which
 * Argo CD passes when helm is enabled): each chart is looked up under
 * helmGlobals.chartHome (default "charts"), as <name>-<version>/<name> or
 * <name>; charts are not downloaded (no network access from a render). */
idp_code khelm_run(const char *dir, const json_t *k, const char *kpath, kset *ra, idp_err *e) {
  json_t *charts = json_object_get(k, "helmCharts");
  if (!charts || json_is_null(charts)) return IDP_OK;
  if (!json_is_array(charts))
    return idp_err_set(e, IDP_EINVAL, "%s: helmCharts must be a list", kpath);
  const char *home = idp_json_get_str(k, "helmGlobals", "chartHome", NULL);
  char homedir[PATH_MAX];
  if (home && home[0] == '/')
    snprintf(homedir, sizeof homedir, "%s", home);
  else
    snprintf(homedir, sizeof homedir, "%s/%s", dir, home ? home : "charts");
  size_t i;
  json_t *c;
  json_array_foreach(charts, i, c) {
    const char *name = idp_json_get_str(c, "name", NULL);
    if (!name || !*name)
      return idp_err_set(e, IDP_EINVAL, "%s: helmCharts[%zu].name is required", kpath, i);
    const char *version = idp_json_get_str(c, "version", NULL);
    char chart[PATH_MAX];
    bool found = false;
    if (version && *version) {
      snprintf(chart, sizeof chart, "%s/%s-%s/%s", homedir, name, version, name);
      found = is_dir(chart);
    }
    if (!found) {
      snprintf(chart, sizeof chart, "%s/%s", homedir, name);
      found = is_dir(chart);
    }
    if (!found)
      return idp_err_set(e, IDP_ENOTFOUND,
                         "%s: helmCharts[%zu] '%s': chart not found under %s (charts are not "
                         "downloaded by the native renderer; vendor it there)",
                         kpath, i, name, homedir);
    json_t *vf = json_array();
    const char *values_file = idp_json_get_str(c, "valuesFile", NULL);
    char p[PATH_MAX];
    idp_code rc = IDP_OK;
    if (values_file && *values_file) {
      rc = kfile_resolve(dir, values_file, p, sizeof p, kpath, "helmCharts.valuesFile", e);
      if (!rc) json_array_append_new(vf, json_string(p));
    }
    size_t j;
    json_t *av;
    json_array_foreach(json_object_get(c, "additionalValuesFiles"), j, av) {
      if (rc || !json_is_string(av)) continue;
      rc = kfile_resolve(dir, json_string_value(av), p, sizeof p, kpath,
                         "helmCharts.additionalValuesFiles", e);
      if (!rc) json_array_append_new(vf, json_string(p));
    }
    const json_t *inl = json_object_get(c, "valuesInline");
    idp_helm_args a = {
        .chart_dir = chart,
        .release = idp_json_get_str(c, "releaseName", NULL),
        .namespace_ = idp_json_get_str(c, "namespace", NULL),
        .value_files = vf,
        .values = json_is_object(inl) ? inl : NULL,
        .include_crds = json_is_true(json_object_get(c, "includeCRDs")),
        .skip_tests = json_is_true(json_object_get(c, "skipTests")),
        .kube_version = idp_json_get_str(c, "kubeVersion", NULL),
        .api_versions = json_object_get(c, "apiVersions"),
    };
    json_t *objs = NULL;
    if (!rc) rc = idp_helm_template(&a, &objs, e);
    json_decref(vf);
    if (rc) {
      idp_err_prefix(e, "%s: helmCharts[%zu] '%s'", kpath, i, name);
      return rc;
    }
    json_t *o;
    json_array_foreach(objs, j, o) {
      kres *hr = kres_new(json_incref(o));
      if (hr) hr->gen_kind = "HelmChartInflationGenerator";
      rc = kset_append(ra, hr, kpath, e);
      if (rc) break;
    }
    json_decref(objs);
    if (rc) return rc;
  }
  return IDP_OK;
}

/* ------------------------------------------------------------ Argo CD overrides */

/* `kustomize edit set image` forms: name:tag, name@digest,
 * name=newName[:tag][@digest]. */
static idp_code parse_image_override(const char *s, json_t **out, idp_err *e) {
  char name[512], rest[1024];
  const char *eq = strchr(s, '=');
  json_t *img = json_object();
  if (eq) {
    snprintf(name, sizeof name, "%.*s", (int)(eq - s), s);
    snprintf(rest, sizeof rest, "%s", eq + 1);
  } else {
    snprintf(rest, sizeof rest, "%s", s);
    name[0] = '\0';
  }
  /* split rest into image name, tag, digest (the tag colon comes after the
   * last '/', so registry ports are kept) */
  char *at = strchr(rest, '@');
  if (at) *at++ = '\0';
  char *slash = strrchr(rest, '/');
  char *colon = strrchr(slash ? slash : rest, ':');
  if (colon) *colon++ = '\0';
  if (!*rest) {
    json_decref(img);
    return idp_err_set(e, IDP_EINVAL, "source.kustomize.images: invalid image '%s'", s);
  }
  if (eq) {
    json_object_set_new(img, "name", json_string(name));
    json_object_set_new(img, "newName", json_string(rest));
  } else {
    json_object_set_new(img, "name", json_string(rest));
  }
  if (colon && *colon) json_object_set_new(img, "newTag", json_string(colon));
  if (at && *at) json_object_set_new(img, "digest", json_string(at));
  *out = img;
  return IDP_OK;
}

/* Replaces the entry of `list` whose `key` equals item's, else appends. */
static void upsert(json_t *list, json_t *item /* stolen */, const char *key) {
  size_t i;
  json_t *x;
  json_array_foreach(list, i, x) {
    if (json_equal(json_object_get(x, key), json_object_get(item, key))) {
      json_array_set_new(list, i, item);
      return;
    }
  }
  json_array_append_new(list, item);
}

static json_t *child_array(json_t *k, const char *key) {
  json_t *a = json_object_get(k, key);
  if (!json_is_array(a)) {
    a = json_array();
    json_object_set_new(k, key, a);
  }
  return a;
}

/* Argo CD applies source.kustomize with `kustomize edit` on the app's own
 * kustomization; the same edits, in memory. */
static idp_code apply_overrides(json_t *k, const json_t *o, const char *kpath, idp_err *e) {
  static const char *const scalars[] = {"namePrefix", "nameSuffix", "namespace"};
  for (size_t i = 0; i < IDP_ARRAY_LEN(scalars); i++) {
    const char *v = idp_json_get_str(o, scalars[i], NULL);
    if (v && *v) json_object_set_new(k, scalars[i], json_string(v));
  }
  json_t *labels = json_object_get(o, "commonLabels");
  if (json_object_size(labels)) {
    if (json_is_true(json_object_get(o, "labelWithoutSelector"))) {
      json_t *l = json_pack("{s:O, s:b}", "pairs", labels, "includeTemplates",
                            json_is_true(json_object_get(o, "labelIncludeTemplates")));
      json_array_append_new(child_array(k, "labels"), l);
    } else {
      json_t *cl = json_object_get(k, "commonLabels");
      if (!json_is_object(cl)) {
        cl = json_object();
        json_object_set_new(k, "commonLabels", cl);
      }
      json_object_update(cl, labels);
    }
  }
  json_t *ann = json_object_get(o, "commonAnnotations");
  if (json_object_size(ann)) {
    json_t *ca = json_object_get(k, "commonAnnotations");
    if (!json_is_object(ca)) {
      ca = json_object();
      json_object_set_new(k, "commonAnnotations", ca);
    }
    json_object_update(ca, ann);
  }
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(o, "images"), i, v) {
    json_t *img = NULL;
    if (!json_is_string(v))
      return idp_err_set(e, IDP_EINVAL, "%s: source.kustomize.images[%zu] must be a string",
                         kpath, i);
    idp_code rc = parse_image_override(json_string_value(v), &img, e);
    if (rc) return rc;
    upsert(child_array(k, "images"), img, "name");
  }
  json_array_foreach(json_object_get(o, "replicas"), i, v) {
    json_t *cnt = json_object_get(v, "count");
    json_int_t n = 0;
    if (json_is_integer(cnt)) {
      n = json_integer_value(cnt);
    } else if (json_is_string(cnt)) {
      char *end;
      n = strtoll(json_string_value(cnt), &end, 10);
      if (*end || end == json_string_value(cnt)) cnt = NULL;
    } else {
      cnt = NULL;
    }
    const char *name = idp_json_get_str(v, "name", NULL);
    if (!name || !cnt)
      return idp_err_set(e, IDP_EINVAL,
                         "%s: source.kustomize.replicas[%zu] needs a name and an integer count",
                         kpath, i);
    upsert(child_array(k, "replicas"), json_pack("{s:s, s:I}", "name", name, "count", n), "name");
  }
  json_array_foreach(json_object_get(o, "components"), i, v)
      json_array_append(child_array(k, "components"), v);
  json_array_foreach(json_object_get(o, "patches"), i, v)
      json_array_append(child_array(k, "patches"), v);
  return IDP_OK;
}

/* `generators` / `transformers`: each entry is a file of plugin
 * configurations, inline YAML, or a directory whose kustomization renders
 * to them. */
static idp_code plugins(kctx *c, const char *dir, const char *kpath, const json_t *k,
                        const char *field, kset *ra, idp_err *e) {
  json_t *list = json_object_get(k, field);
  if (!list || json_is_null(list)) return IDP_OK;
  if (!json_is_array(list))
    return idp_err_set(e, IDP_EINVAL, "%s: %s must be a list", kpath, field);
  json_t *configs = json_array();
  idp_code rc = IDP_OK;
  size_t i;
  json_t *it;
  json_array_foreach(list, i, it) {
    const char *entry = json_string_value(it);
    char where[96];
    snprintf(where, sizeof where, "%s[%zu]", field, i);
    json_t *docs = NULL;
    if (!entry) {
      rc = idp_err_set(e, IDP_EINVAL, "%s: %s must be a string", kpath, where);
    } else if (strchr(entry, '\n')) {
      char name[PATH_MAX + 96];
      snprintf(name, sizeof name, "%s: %s", kpath, where);
      rc = idp_yaml_load(entry, strlen(entry), name, &kz_yaml_limits, &docs, e);
    } else {
      char p[PATH_MAX];
      snprintf(p, sizeof p, "%s/%s", dir, entry);
      if (is_dir(p)) {
        kset sub = {0};
        rc = accumulate(c, p, &sub, false, e);
        docs = json_array();
        for (size_t j = 0; !rc && j < sub.n; j++) json_array_append(docs, sub.v[j]->obj);
        kset_free(&sub);
      } else if (!(rc = kfile_resolve(dir, entry, p, sizeof p, kpath, where, e))) {
        rc = idp_yaml_load_file(p, &kz_yaml_limits, &docs, e);
        if (rc) idp_err_prefix(e, "%s: %s", kpath, where);
      }
    }
    size_t j;
    json_t *d;
    json_array_foreach(docs, j, d) if (json_is_object(d)) json_array_append(configs, d);
    json_decref(docs);
    if (rc) break;
  }
  if (!rc)
    rc = !strcmp(field, "generators") ? kplugins_generate(ra, dir, configs, kpath, e)
                                      : kplugins_transform(ra, dir, configs, kpath, e);
  json_decref(configs);
  return rc;
}

static idp_code accumulate(kctx *c, const char *dir, kset *ra, bool component, idp_err *e) {
  if (++c->depth > KUST_MAX_DEPTH) {
    c->depth--;
    return idp_err_set(e, IDP_EINVAL, "%s: kustomizations nested deeper than %d", dir,
                       KUST_MAX_DEPTH);
  }
  char real[PATH_MAX];
  if (!realpath(dir, real)) {
    c->depth--;
    return idp_err_set(e, IDP_ENOTFOUND, "%s: %s", dir, strerror(errno));
  }
  size_t si;
  json_t *sv;
  json_array_foreach(c->stack, si, sv) {
    if (!strcmp(json_string_value(sv), real)) {
      c->depth--;
      return idp_err_set(e, IDP_EINVALID, "%s: cycle detected: kustomization includes itself",
                         real);
    }
  }
  json_array_append_new(c->stack, json_string(real));

  json_t *k = NULL;
  char kpath[PATH_MAX];
  idp_code rc = load_kustomization(dir, &k, kpath, sizeof kpath, e);
  if (rc) goto out;
  if (c->depth == 1 && c->overrides && (rc = apply_overrides(k, c->overrides, kpath, e)))
    goto out;
  if (c->depth == 1 && !component) {
    c->top = json_incref(k);
    snprintf(c->top_path, sizeof c->top_path, "%s", kpath);
    snprintf(c->top_real, sizeof c->top_real, "%s", real);
    /* buildMetadata counts in the top kustomization only */
    size_t bi;
    json_t *bm;
    json_array_foreach(json_object_get(k, "buildMetadata"), bi, bm) {
      const char *opt = json_string_value(bm);
      if (opt && !strcmp(opt, "originAnnotations")) {
        c->origins = true;
      } else if (opt && !strcmp(opt, "managedByLabel")) {
        c->managed_by = true;
      } else {
        rc = idp_err_set(e, IDP_EUNSUPPORTED, "%s: buildMetadata '%s' is not supported by the "
                         "native kustomize renderer", kpath, opt ? opt : "?");
        goto out;
      }
    }
  }
  const char *kind = idp_json_get_str(k, "kind", NULL);
  if (component) {
    if (!kind || strcmp(kind, "Component")) {
      rc = idp_err_set(e, IDP_EINVAL, "%s: expected kind 'Component' for path '%s' but got '%s'",
                       kpath, dir, kind ? kind : "Kustomization");
      goto out;
    }
  } else if (kind && strcmp(kind, "Kustomization")) {
    rc = idp_err_set(e, IDP_EINVAL, "%s: expected kind 'Kustomization' for path '%s' but got '%s'",
                     kpath, dir, kind);
    goto out;
  }
  if ((rc = accumulate_resources(c, dir, kpath, json_object_get(k, "resources"), "resources",
                                 ra, e)))
    goto out;
  if ((rc = accumulate_resources(c, dir, kpath, json_object_get(k, "bases"), "bases", ra, e)))
    goto out;
  if ((rc = load_configurations(dir, kpath, json_object_get(k, "configurations"), ra, e)))
    goto out;
  kset_invalidate(ra);
  if ((rc = kgen_run(ra, dir, k, kpath, e))) goto out;
  if ((rc = khelm_run(dir, k, kpath, ra, e))) goto out;
  if ((rc = plugins(c, dir, kpath, k, "generators", ra, e))) goto out;
  if (c->origins)
    for (size_t j = 0; j < ra->n; j++)
      if (ra->v[j]->gen_kind) set_origin(c, ra->v[j], NULL, kpath);
  if ((rc = accumulate_components(c, dir, kpath, json_object_get(k, "components"), ra, e)))
    goto out;
  rc = run_transformers(dir, kpath, k, ra, e);
  if (!rc) rc = plugins(c, dir, kpath, k, "transformers", ra, e);
  if (!rc) rc = kvars_collect(c->vars, k, kpath, e);
out:
  json_decref(k);
  json_array_remove(c->stack, json_array_size(c->stack) - 1);
  c->depth--;
  return rc;
}

/* ------------------------------------------------------------ legacy sort */

static const char *const order_first[] = {
    "Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition",
    "ServiceAccount", "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding",
    "ClusterRoleBinding", "ConfigMap", "Secret", "Endpoints", "Service", "LimitRange",
    "PriorityClass", "PersistentVolume", "PersistentVolumeClaim", "Deployment",
    "StatefulSet", "CronJob", "PodDisruptionBudget",
};
static const char *const order_last[] = {"MutatingWebhookConfiguration",
                                         "ValidatingWebhookConfiguration"};

static bool json_str_is(const json_t *v, const char *s) {
  const char *x = json_string_value(v);
  return x && !strcmp(x, s);
}

/* Rank of a kind: negative for orderFirst, positive for orderLast, 0 for
 * everything else (kustomize's typeOrders).  With custom lists (from
 * sortOptions.legacySortOptions; NULL = empty) the defaults are not used. */
static int kind_rank(const char *kind, bool custom, const json_t *first, const json_t *last) {
  int nf = custom ? (int)json_array_size(first) : (int)IDP_ARRAY_LEN(order_first);
  for (int i = 0; i < nf; i++)
    if (custom ? json_str_is(json_array_get(first, (size_t)i), kind) : !strcmp(order_first[i], kind))
      return -nf + i;
  int nl = custom ? (int)json_array_size(last) : (int)IDP_ARRAY_LEN(order_last);
  for (int i = 0; i < nl; i++)
    if (custom ? json_str_is(json_array_get(last, (size_t)i), kind) : !strcmp(order_last[i], kind))
      return 1 + i;
  return 0;
}

typedef struct sortkey {
  kres *r;
  int rank;
  char gvk[512]; /* group_version_kind with ~G ~V ~K for empties */
  char id[1024]; /* gvk|ns|name with ~X ~N */
  bool ns_kind, core;
} sortkey;

static int cmp_sortkey(const void *pa, const void *pb) {
  const sortkey *a = pa, *b = pb;
  if (strcmp(a->gvk, b->gvk)) {
    if (a->rank != b->rank) return a->rank < b->rank ? -1 : 1;
    int c = strcmp(a->gvk, b->gvk);
    /* kustomize compares two Namespace kinds, one of them core, backwards */
    if (a->ns_kind && b->ns_kind && (a->core || b->core)) return -c;
    return c;
  }
  return strcmp(a->id, b->id);
}

static void legacy_sort(kset *s, bool custom, const json_t *first, const json_t *last) {
  sortkey *k = calloc(s->n ? s->n : 1, sizeof *k);
  if (!k) return; /* defensive: output stays in input order */
  for (size_t i = 0; i < s->n; i++) {
    kres *r = s->v[i];
    char g[256], v[128];
    kres_gv(r, g, sizeof g, v, sizeof v);
    const char *kind = kres_kind(r);
    k[i].r = r;
    k[i].rank = kind_rank(kind, custom, first, last);
    snprintf(k[i].gvk, sizeof k[i].gvk, "%s_%s_%s", *g ? g : "~G", *v ? v : "~V",
             *kind ? kind : "~K");
    snprintf(k[i].id, sizeof k[i].id, "%s|%s|%s", k[i].gvk, *kres_ns(r) ? kres_ns(r) : "~X",
             *kres_name(r) ? kres_name(r) : "~N");
    k[i].ns_kind = !strcmp(kind, "Namespace");
    k[i].core = !*g;
  }
  idp_sort(k, s->n, sizeof *k, cmp_sortkey);
  for (size_t i = 0; i < s->n; i++) s->v[i] = k[i].r;
  free(k);
}

/* ------------------------------------------------------------ build */


idp_code idp_kustomize_build(const char *dir, json_t **objects, idp_err *e) {
  return idp_kustomize_build_with(dir, NULL, objects, e);
}

idp_code idp_kustomize_build_with(const char *dir, const json_t *overrides, json_t **objects,
                                  idp_err *e) {
  *objects = NULL;
  kctx c = {0, json_array(), overrides, NULL, "", "", false, false, json_object()};
  kset ra = {0};
  idp_code rc = accumulate(&c, dir, &ra, false, e);
  json_decref(c.stack);
  if (!rc) rc = kgen_hash_names(&ra, e);
  if (!rc) rc = kx_namerefs(&ra, e);
  if (!rc && (rc = kvars_resolve(&ra, c.vars, kset_cfg(&ra, "varReference"), e)))
    idp_err_prefix(e, "%s: vars", c.top_path);
  json_decref(c.vars);
  /* objects marked config.kubernetes.io/local-config: "true" are inputs
   * (e.g. replacement sources), never output */
  for (size_t i = ra.n; !rc && i-- > 0;) {
    const char *lc = idp_json_get_str(ra.v[i]->obj, "metadata", "annotations",
                                      "config.kubernetes.io/local-config", NULL);
    if (lc && !strcmp(lc, "true")) kset_remove_at(&ra, i);
  }
  for (size_t i = 0; !rc && i < ra.n; i++) {
    kres *r = ra.v[i];
    json_t *md = idp_json_child_object(r->obj, "metadata");
    if (c.origins && r->origin)
      json_object_set_new(idp_json_child_object(md, "annotations"), "config.kubernetes.io/origin",
                          json_string(r->origin));
    /* kubectl's embedded kustomize reports its version as "(devel)" */
    if (c.managed_by)
      json_object_set_new(idp_json_child_object(md, "labels"), "app.kubernetes.io/managed-by",
                          json_string("kustomize-(devel)"));
  }
  if (rc) {
    json_decref(c.top);
    kset_free(&ra);
    return rc;
  }
  /* sortOptions of the top kustomization only */
  const json_t *so = json_object_get(c.top, "sortOptions");
  const char *order = idp_json_get_str(so, "order", NULL);
  const json_t *lso = json_object_get(so, "legacySortOptions");
  if (order && strcmp(order, "fifo") && strcmp(order, "legacy"))
    rc = idp_err_set(e, IDP_EINVAL, "%s: the field 'sortOptions.order' must be one of [fifo, "
                     "legacy]", c.top_path);
  else if (order && !strcmp(order, "fifo") && lso)
    rc = idp_err_set(e, IDP_EINVAL, "%s: the field 'sortOptions.legacySortOptions' is set but "
                     "the selected sort order is 'fifo', not 'legacy'", c.top_path);
  if (!rc && !(order && !strcmp(order, "fifo"))) {
    const json_t *first = json_object_get(lso, "orderFirst");
    const json_t *last = json_object_get(lso, "orderLast");
    legacy_sort(&ra, lso != NULL, first, last);
  }
  json_decref(c.top);
  if (rc) {
    kset_free(&ra);
    return rc;
  }
  json_t *out = json_array();
  for (size_t i = 0; i < ra.n; i++) json_array_append(out, ra.v[i]->obj);
  kset_free(&ra);
  *objects = out;
  return IDP_OK;
}
