/* kustomize_plugins.c: the `generators` and `transformers` fields with
 * kustomize's builtin plugin configurations (apiVersion: builtin).
 *
 * Unlike the kustomization fields, a plugin configuration carries its own
 * field specs and no defaults apply (a LabelTransformer labels exactly the
 * paths it lists).  Each kind maps onto the same code as the matching
 * kustomization field, fed with a one-entry configuration; kinds that are
 * not builtin (exec/container/Go plugins) are refused. */
#include "core/common.h"

#include "core/json.h"
#include "gitops/kustomize_int.h"

static const char *kind_of(const json_t *cfg) {
  const char *k = idp_json_get_str(cfg, "kind", NULL);
  return k ? k : "";
}

/* A generator spec {name, namespace, ...} from a plugin config whose name
 * and namespace live in metadata. */
static json_t *generator_spec(const json_t *cfg) {
  json_t *g = json_deep_copy(cfg);
  json_object_del(g, "apiVersion");
  json_object_del(g, "kind");
  json_object_del(g, "metadata");
  const char *name = idp_json_get_str(cfg, "metadata", "name", NULL);
  const char *ns = idp_json_get_str(cfg, "metadata", "namespace", NULL);
  if (name) json_object_set_new(g, "name", json_string(name));
  if (ns) json_object_set_new(g, "namespace", json_string(ns));
  return g;
}

static idp_code not_builtin(const json_t *cfg, const char *what, const char *kpath,
                            idp_err *e) {
  return idp_err_set(e, IDP_EUNSUPPORTED,
                     "%s: %s '%s' (apiVersion %s): only kustomize's builtin plugins are "
                     "supported by the native renderer",
                     kpath, what, kind_of(cfg),
                     idp_json_get_str(cfg, "apiVersion", NULL) ? idp_json_get_str(cfg, "apiVersion", NULL)
                                                               : "?");
}

idp_code kplugins_generate(kset *s, const char *dir, const json_t *configs, const char *kpath,
                           idp_err *e) {
  size_t i;
  json_t *cfg;
  json_array_foreach(configs, i, cfg) {
    const char *kind = kind_of(cfg);
    json_t *synth = json_object();
    idp_code rc;
    if (!strcmp(kind, "ConfigMapGenerator") || !strcmp(kind, "SecretGenerator")) {
      json_object_set_new(synth,
                          !strcmp(kind, "ConfigMapGenerator") ? "configMapGenerator"
                                                              : "secretGenerator",
                          json_pack("[o]", generator_spec(cfg)));
      rc = kgen_run(s, dir, synth, kpath, e);
    } else if (!strcmp(kind, "HelmChartInflationGenerator")) {
      json_t *chart = generator_spec(cfg);
      /* the chart's name is `name`, the plugin's own name metadata.name */
      const char *cname = idp_json_get_str(cfg, "name", NULL);
      if (cname) json_object_set_new(chart, "name", json_string(cname));
      json_t *home = json_object_get(cfg, "chartHome");
      if (home) json_object_set_new(synth, "helmGlobals", json_pack("{s:O}", "chartHome", home));
      json_object_set_new(synth, "helmCharts", json_pack("[o]", chart));
      rc = khelm_run(dir, synth, kpath, s, e);
    } else {
      rc = not_builtin(cfg, "generator", kpath, e);
    }
    json_decref(synth);
    if (rc) return rc;
  }
  return IDP_OK;
}

idp_code kplugins_transform(kset *s, const char *dir, const json_t *configs, const char *kpath,
                            idp_err *e) {
  size_t i;
  json_t *cfg;
  json_array_foreach(configs, i, cfg) {
    const char *kind = kind_of(cfg);
    const json_t *fs = json_object_get(cfg, "fieldSpecs");
    json_t *synth = json_object();
    char what[PATH_MAX + 96];
    snprintf(what, sizeof what, "%s: transformer %s", kpath, kind);
    idp_code rc;
    kset_invalidate(s);
    if (!strcmp(kind, "LabelTransformer")) {
      rc = kx_apply_pairs(s, json_object_get(cfg, "labels"), fs, what, e);
    } else if (!strcmp(kind, "AnnotationsTransformer")) {
      rc = kx_apply_pairs(s, json_object_get(cfg, "annotations"), fs, what, e);
    } else if (!strcmp(kind, "PrefixSuffixTransformer") || !strcmp(kind, "PrefixTransformer") ||
               !strcmp(kind, "SuffixTransformer")) {
      const char *p = idp_json_get_str(cfg, "prefix", NULL);
      const char *x = idp_json_get_str(cfg, "suffix", NULL);
      bool both = !strcmp(kind, "PrefixSuffixTransformer");
      if (both) {
        /* kustomize records both affixes, even empty ones */
        rc = kx_prefix_suffix_fs(s, p ? p : "", x ? x : "", fs, e);
      } else {
        bool is_prefix = !strcmp(kind, "PrefixTransformer");
        rc = kx_prefix_suffix_fs(s, is_prefix ? (p ? p : "") : NULL,
                                 is_prefix ? NULL : (x ? x : ""), fs, e);
      }
    } else if (!strcmp(kind, "NamespaceTransformer")) {
      const char *ns = idp_json_get_str(cfg, "metadata", "namespace", NULL);
      const char *sub = idp_json_get_str(cfg, "setRoleBindingSubjects", NULL);
      if (sub && strcmp(sub, "defaultOnly"))
        rc = idp_err_set(e, IDP_EUNSUPPORTED, "%s: setRoleBindingSubjects '%s' is not supported",
                         what, sub);
      else
        rc = ns && *ns ? kx_namespace_opt(s, ns, json_is_true(json_object_get(cfg, "unsetOnly")), e)
                       : IDP_OK;
    } else if (!strcmp(kind, "ImageTagTransformer")) {
      json_t *img = json_object_get(cfg, "imageTag");
      json_t *list = json_pack("[O]", img ? img : json_null());
      rc = kx_images_fs(s, list, fs, what, e);
      json_decref(list);
    } else if (!strcmp(kind, "ReplicaCountTransformer")) {
      json_t *rep = json_object_get(cfg, "replica");
      json_t *list = json_pack("[O]", rep ? rep : json_null());
      rc = kx_replicas_fs(s, list, json_array_size(fs) ? fs : NULL, what, e);
      json_decref(list);
    } else if (!strcmp(kind, "PatchTransformer")) {
      json_t *p = json_deep_copy(cfg);
      json_object_del(p, "apiVersion");
      json_object_del(p, "kind");
      json_object_del(p, "metadata");
      json_object_set_new(synth, "patches", json_pack("[o]", p));
      rc = kpatch_run(s, dir, synth, kpath, "patches", e);
    } else if (!strcmp(kind, "PatchJson6902Transformer")) {
      json_t *p = json_object();
      json_t *t = json_object_get(cfg, "target");
      if (t) json_object_set(p, "target", t);
      const char *path = idp_json_get_str(cfg, "path", NULL);
      const char *op = idp_json_get_str(cfg, "jsonOp", NULL);
      if (path) json_object_set_new(p, "path", json_string(path));
      if (op) json_object_set_new(p, "patch", json_string(op));
      json_object_set_new(synth, "patchesJson6902", json_pack("[o]", p));
      rc = kpatch_run(s, dir, synth, kpath, "patchesJson6902", e);
    } else if (!strcmp(kind, "PatchStrategicMergeTransformer")) {
      json_t *list = json_array();
      size_t j;
      json_t *pth;
      json_array_foreach(json_object_get(cfg, "paths"), j, pth) json_array_append(list, pth);
      const char *inl = idp_json_get_str(cfg, "patches", NULL);
      if (inl) json_array_append_new(list, json_string(inl));
      json_object_set_new(synth, "patchesStrategicMerge", list);
      rc = kpatch_run(s, dir, synth, kpath, "patchesStrategicMerge", e);
    } else if (!strcmp(kind, "ReplacementTransformer")) {
      json_t *r = json_object_get(cfg, "replacements");
      json_object_set_new(synth, "replacements", r ? json_incref(r) : json_array());
      rc = krepl_run(s, dir, synth, kpath, e);
    } else {
      rc = not_builtin(cfg, "transformer", kpath, e);
    }
    json_decref(synth);
    if (rc) return rc;
  }
  return IDP_OK;
}
