/* kustomize_int.h: internals shared by the kustomize_*.c files (not a
 * public API).
 *
 * A kres is one object being built plus kustomize's bookkeeping that
 * kustomize itself keeps in build annotations: the ids it had before each
 * rename (namespace, prefix/suffix, hash, name-changing patch), the
 * prefixes/suffixes applied, and whether a generator asked for a hash
 * suffix.  A kset owns its kres and keeps them in accumulation order. */
#ifndef IDP_GITOPS_KUSTOMIZE_INT_H
#define IDP_GITOPS_KUSTOMIZE_INT_H

#include "core/common.h"
#include "core/yaml.h"

typedef struct kres {
  json_t *obj;      /* owned */
  json_t *prev;     /* owned array of [kind, name, namespace], oldest first */
  json_t *prefixes; /* owned array of strings */
  json_t *suffixes;
  bool needs_hash;
  const char *gen_kind; /* "ConfigMapGenerator", ... for generated objects */
  char *origin;         /* buildMetadata originAnnotations text, or NULL */
  int8_t cluster; /* scratch for kx_namerefs: cluster-scoped (1) or not (0) */
} kres;

typedef struct kset {
  kres **v;
  size_t n, cap;
  json_t *ids; /* id -> true while only appends happen; NULL = not built */
  json_t *cfg; /* `configurations` field specs by category, or NULL */
} kset;

/* Field spec: where a transformer writes, for which kinds. */
typedef struct kfs {
  const char *group, *version, *kind; /* NULL or "" = any */
  const char *path;                   /* "spec/template/metadata/labels" */
  bool create;
} kfs;

/* ---- kustomize.c: resources and sets */
kres *kres_new(json_t *obj /* stolen */);
void kres_free(kres *r);
void kset_free(kset *s);
idp_code kset_push(kset *s, kres *r, idp_err *e); /* no conflict check */
/* Appends with kustomize's "already registered id" check. */
idp_code kset_append(kset *s, kres *r, const char *where, idp_err *e);
void kset_remove_at(kset *s, size_t i);
/* Drops the id index (call before changing names/namespaces/kinds). */
void kset_invalidate(kset *s);
/* Appends the field specs of transformer configuration `cfg` (the format of
 * kustomize's `configurations` files) to s->cfg. */
idp_code kset_merge_cfg(kset *s, const json_t *cfg, const char *where, idp_err *e);

const char *kres_kind(const kres *r);
const char *kres_name(const kres *r);
const char *kres_ns(const kres *r);
/* group and version from apiVersion, into caller buffers */
void kres_gv(const kres *r, char *group, size_t gn, char *version, size_t vn);
void kres_store_prev(kres *r);
void kres_set_name(kres *r, const char *name);
void kres_set_ns(kres *r, const char *ns);
/* Original id (first previous id, else current). */
const char *kres_org_name(const kres *r);
const char *kres_org_ns(const kres *r);
bool kind_is_cluster_scoped(const char *group, const char *kind);
bool kres_cluster_scoped(const kres *r);
bool ns_equal(const char *a, const char *b); /* "" == "default" */
/* True when the id (kind/apiVersion/name/ns) equals the current or any
 * previous id of r (kustomize's GetMatchingResourcesByAnyId(id.Equals)). */
bool kres_any_id_equals(const kres *r, const char *api_version, const char *kind,
                        const char *name, const char *ns);

/* ---- kustomize_xform.c: field specs and transformers */
typedef idp_code (*kfs_setfn)(json_t *parent, const char *key, json_t *value, void *ctx,
                              idp_err *e);
bool kfs_selects(const kfs *fs, const kres *r);
idp_code kfs_apply(json_t *obj, const char *path, bool create, kfs_setfn fn, void *ctx,
                   idp_err *e);
/* Extra field specs of a category from `configurations` (borrowed array
 * or NULL). */
const json_t *kset_cfg(const kset *s, const char *category);
idp_code kx_namespace(kset *s, const char *ns, idp_err *e);
idp_code kx_prefix_suffix(kset *s, const char *prefix, const char *suffix, idp_err *e);
idp_code kx_labels(kset *s, const json_t *kust, const char *kpath, idp_err *e);
idp_code kx_annotations(kset *s, const json_t *annotations, const char *kpath, idp_err *e);
idp_code kx_images(kset *s, const json_t *images, const char *kpath, idp_err *e);
idp_code kx_replicas(kset *s, const json_t *replicas, const char *kpath, idp_err *e);
idp_code kx_namerefs(kset *s, idp_err *e);
/* Variants with a transformer plugin's own field specs (JSON array). */
idp_code kx_namespace_opt(kset *s, const char *ns, bool unset_only, idp_err *e);
idp_code kx_prefix_suffix_fs(kset *s, const char *prefix, const char *suffix, const json_t *fs,
                             idp_err *e);
idp_code kx_apply_pairs(kset *s, const json_t *pairs, const json_t *fs, const char *what,
                        idp_err *e);
idp_code kx_images_fs(kset *s, const json_t *images, const json_t *fs, const char *kpath,
                      idp_err *e);
idp_code kx_replicas_fs(kset *s, const json_t *replicas, const json_t *fs, const char *kpath,
                        idp_err *e);
/* Anchored regex match ("" pattern matches everything). */
idp_code kx_regex_match(const char *pattern, const char *s, bool *match, idp_err *e);

/* ---- kustomize_gen.c: generators and hashes */
idp_code kgen_run(kset *s, const char *dir, const json_t *kust, const char *kpath,
                  idp_err *e);
idp_code kgen_hash_names(kset *s, idp_err *e);

/* ---- kustomize_patch.c */
idp_code kpatch_run(kset *s, const char *dir, const json_t *kust, const char *kpath,
                    const char *field, idp_err *e);

/* ---- kustomize_plugins.c: `generators` and `transformers` entries
 * (builtin plugin configurations).  configs: the config objects. */
idp_code kplugins_generate(kset *s, const char *dir, const json_t *configs, const char *kpath,
                           idp_err *e);
idp_code kplugins_transform(kset *s, const char *dir, const json_t *configs, const char *kpath,
                            idp_err *e);
idp_code khelm_run(const char *dir, const json_t *k, const char *kpath, kset *ra, idp_err *e);

/* ---- kustomize_repl.c */
idp_code krepl_run(kset *s, const char *dir, const json_t *kust, const char *kpath, idp_err *e);

/* ---- kustomize_vars.c */
/* Adds the kustomization's vars to `all` (name -> var); names are unique. */
idp_code kvars_collect(json_t *all, const json_t *kust, const char *kpath, idp_err *e);
idp_code kvars_resolve(kset *s, const json_t *vars, const json_t *extra_fs, idp_err *e);
/* A kfs view of a JSON field spec {group, version, kind, path, create}
 * (strings borrowed from fs). */
kfs kfs_from_json(const json_t *fs);

/* ---- file helpers (kustomize.c) */
/* Resolves `rel` against `dir`, checking it stays inside dir (root-only load
 * restriction).  Writes the path into out. */
idp_code kfile_resolve(const char *dir, const char *rel, char *out, size_t outn,
                       const char *kpath, const char *field, idp_err *e);

/* YAML limits for everything kustomize reads: kyaml resolves scalars with
 * the YAML 1.2 core schema (yes/no/on/off stay strings), unlike kubectl. */
extern const idp_yaml_limits kz_yaml_limits;

#endif
