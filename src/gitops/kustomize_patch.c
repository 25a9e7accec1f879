/* kustomize_patch.c: patches, patchesStrategicMerge, patchesJson6902.
 *
 * A patch is JSON 6902 when its text parses to a list of operations, else
 * a stream of strategic-merge patches.  Without a target a strategic-merge
 * patch applies to the one resource whose current or previous id is the
 * patch's own apiVersion/kind/name/namespace; with a target it applies to
 * every resource the selector picks (group/version/kind/name/namespace are
 * anchored regular expressions matched against the original or current
 * name and namespace; labelSelector/annotationSelector are label-selector
 * expressions).  After a strategic merge the resource keeps its name and
 * kind unless options.allowNameChange / allowKindChange, and always its
 * namespace; a JSON patch may rename. */
#include "core/common.h"

#include <sys/stat.h>

#include "core/json.h"
#include "core/yaml.h"
#include "gitops/kustomize_int.h"
#include "kube/selector.h"
#include "patch/patch.h"

typedef struct ptarget {
  const char *group, *version, *kind, *name, *ns, *lsel, *asel;
} ptarget;

static idp_code target_matches(const ptarget *t, kres *r, bool *ok, idp_err *e) {
  *ok = false;
  char g[256], v[128];
  kres_gv(r, g, sizeof g, v, sizeof v);
  bool m;
  idp_code rc;
  if (t->ns && *t->ns) {
    bool cluster = kres_cluster_scoped(r);
    const char *org = cluster ? "_non_namespaceable_" : (*kres_org_ns(r) ? kres_org_ns(r) : "default");
    const char *cur = cluster ? "_non_namespaceable_" : (*kres_ns(r) ? kres_ns(r) : "default");
    if ((rc = kx_regex_match(t->ns, org, &m, e))) return rc;
    if (!m && (rc = kx_regex_match(t->ns, cur, &m, e))) return rc;
    if (!m) return IDP_OK;
  }
  if (t->name && *t->name) {
    if ((rc = kx_regex_match(t->name, kres_org_name(r), &m, e))) return rc;
    if (!m && (rc = kx_regex_match(t->name, kres_name(r), &m, e))) return rc;
    if (!m) return IDP_OK;
  }
  if ((rc = kx_regex_match(t->group, g, &m, e)) || !m) return rc;
  if ((rc = kx_regex_match(t->version, v, &m, e)) || !m) return rc;
  if ((rc = kx_regex_match(t->kind, kres_kind(r), &m, e)) || !m) return rc;
  const char *sels[2] = {t->lsel, t->asel};
  const char *maps[2] = {"labels", "annotations"};
  for (int i = 0; i < 2; i++) {
    if (!sels[i] || !*sels[i]) continue;
    idp_selector *sel = NULL;
    if ((rc = idp_selector_parse(sels[i], &sel, e))) return rc;
    m = idp_selector_matches(sel, idp_json_get(r->obj, "metadata", maps[i], NULL));
    idp_selector_free(sel);
    if (!m) return IDP_OK;
  }
  *ok = true;
  return IDP_OK;
}

static idp_code parse_target(const json_t *t, ptarget *pt, const char *kpath, const char *where,
                             idp_err *e) {
  memset(pt, 0, sizeof *pt);
  if (!t || json_is_null(t)) return IDP_OK;
  if (!json_is_object(t))
    return idp_err_set(e, IDP_EINVAL, "%s: %s.target must be a map", kpath, where);
  pt->group = idp_json_get_str(t, "group", NULL);
  pt->version = idp_json_get_str(t, "version", NULL);
  pt->kind = idp_json_get_str(t, "kind", NULL);
  pt->name = idp_json_get_str(t, "name", NULL);
  pt->ns = idp_json_get_str(t, "namespace", NULL);
  pt->lsel = idp_json_get_str(t, "labelSelector", NULL);
  pt->asel = idp_json_get_str(t, "annotationSelector", NULL);
  return IDP_OK;
}

/* Applies one strategic-merge patch document to r.  *deleted set when the
 * patch deletes the whole resource. */
static idp_code apply_smp(kres *r, const json_t *patch, bool allow_name, bool allow_kind,
                          bool *deleted, idp_err *e) {
  *deleted = false;
  const char *pp = idp_json_get_str(patch, "$patch", NULL);
  if (pp && !strcmp(pp, "delete")) {
    *deleted = true;
    return IDP_OK;
  }
  char *name = strdup(kres_name(r)), *ns = strdup(kres_ns(r)), *kind = strdup(kres_kind(r));
  char g[256], v[128];
  kres_gv(r, g, sizeof g, v, sizeof v);
  idp_code rc = IDP_OK;
  if (!name || !ns || !kind) {
    rc = idp_err_set(e, IDP_ENOMEM, "out of memory");
    goto out;
  }
  if (allow_name || allow_kind) kres_store_prev(r);
  json_t *pc = json_deep_copy(patch);
  json_object_set(pc, "apiVersion", json_object_get(r->obj, "apiVersion"));
  json_t *res = NULL;
  rc = idp_smp(r->obj, pc, g, kind, &res, e);
  json_decref(pc);
  if (rc) goto out;
  if (!json_is_object(res) || json_object_size(res) == 0) {
    json_decref(res);
    *deleted = true;
    goto out;
  }
  json_decref(r->obj);
  r->obj = res;
  if (!allow_kind) json_object_set_new(r->obj, "kind", json_string(kind));
  if (!allow_name) kres_set_name(r, name);
  kres_set_ns(r, ns);
out:
  free(name);
  free(ns);
  free(kind);
  return rc;
}

static idp_code apply_json6902(kres *r, const json_t *ops, idp_err *e) {
  kres_store_prev(r);
  json_t *res = NULL;
  idp_code rc = idp_json_patch(r->obj, ops, &res, e);
  if (rc) return rc;
  json_decref(r->obj);
  r->obj = res;
  return IDP_OK;
}

/* Loads patch text (inline or file) into a docs array. */
static idp_code load_patch(const char *dir, const char *kpath, const char *where,
                           const char *path, const char *inline_text, json_t **docs,
                           idp_err *e) {
  idp_code rc;
  if (path) {
    char p[PATH_MAX];
    if ((rc = kfile_resolve(dir, path, p, sizeof p, kpath, where, e))) return rc;
    rc = idp_yaml_load_file(p, &kz_yaml_limits, docs, e);
    if (rc) idp_err_prefix(e, "%s: %s", kpath, where);
    return rc;
  }
  char name[PATH_MAX + 64];
  snprintf(name, sizeof name, "%s: %s", kpath, where);
  return idp_yaml_load(inline_text, strlen(inline_text), name, &kz_yaml_limits, docs, e);
}

static idp_code smp_by_id(kset *s, const json_t *patch, bool allow_name, bool allow_kind,
                          const char *kpath, const char *where, idp_err *e) {
  const char *av = idp_json_get_str(patch, "apiVersion", NULL);
  const char *kind = idp_json_get_str(patch, "kind", NULL);
  const char *name = idp_json_get_str(patch, "metadata", "name", NULL);
  const char *ns = idp_json_get_str(patch, "metadata", "namespace", NULL);
  if (!kind || !name)
    return idp_err_set(e, IDP_EINVAL,
                       "%s: %s: a strategic merge patch without a target needs kind and "
                       "metadata.name",
                       kpath, where);
  size_t found = SIZE_MAX, n = 0;
  for (size_t i = 0; i < s->n; i++)
    if (kres_any_id_equals(s->v[i], av ? av : "", kind, name, ns ? ns : "")) {
      found = i;
      n++;
    }
  if (n != 1)
    return idp_err_set(e, IDP_EINVALID,
                       "%s: %s: %s resource matches strategic merge patch %s %s/%s; failed to "
                       "find unique target for patch",
                       kpath, where, n ? "more than one" : "no", kind, ns && *ns ? ns : "[noNs]",
                       name);
  bool deleted;
  idp_code rc = apply_smp(s->v[found], patch, allow_name, allow_kind, &deleted, e);
  if (rc) {
    idp_err_prefix(e, "%s: %s", kpath, where);
    return rc;
  }
  if (deleted) kset_remove_at(s, found);
  return IDP_OK;
}

static idp_code select_targets(kset *s, const ptarget *t, kres ***out, size_t *n, idp_err *e) {
  *out = malloc((s->n ? s->n : 1) * sizeof **out);
  *n = 0;
  if (!*out) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  for (size_t i = 0; i < s->n; i++) {
    bool ok;
    idp_code rc = target_matches(t, s->v[i], &ok, e);
    if (rc) {
      free(*out);
      *out = NULL;
      return rc;
    }
    if (ok) (*out)[(*n)++] = s->v[i];
  }
  return IDP_OK;
}

static void remove_res(kset *s, kres *r) {
  for (size_t i = 0; i < s->n; i++)
    if (s->v[i] == r) {
      kset_remove_at(s, i);
      return;
    }
}

static idp_code one_patch(kset *s, const char *dir, const char *kpath, const char *where,
                          const char *path, const char *text, const json_t *target,
                          bool allow_name, bool allow_kind, bool force_json, idp_err *e) {
  json_t *docs = NULL;
  idp_code rc = load_patch(dir, kpath, where, path, text, &docs, e);
  if (rc) return rc;
  ptarget t;
  if ((rc = parse_target(target, &t, kpath, where, e))) goto out;
  bool is_json = json_array_size(docs) == 1 && json_is_array(json_array_get(docs, 0));
  if (force_json && !is_json) {
    rc = idp_err_set(e, IDP_EINVAL, "%s: %s: a JSON 6902 patch must be a list of operations",
                     kpath, where);
    goto out;
  }
  if (is_json) {
    if (!target || json_is_null(target)) {
      rc = idp_err_set(e, IDP_EINVAL, "%s: %s: must specify a target for JSON patch", kpath,
                       where);
      goto out;
    }
    kres **sel;
    size_t n;
    if ((rc = select_targets(s, &t, &sel, &n, e))) {
      idp_err_prefix(e, "%s: %s: target", kpath, where);
      goto out;
    }
    for (size_t i = 0; i < n && !rc; i++) {
      rc = apply_json6902(sel[i], json_array_get(docs, 0), e);
      if (rc) idp_err_prefix(e, "%s: %s: %s %s", kpath, where, kres_kind(sel[i]),
                             kres_name(sel[i]));
    }
    free(sel);
    goto out;
  }
  size_t i;
  json_t *p;
  if (!json_array_size(docs)) {
    rc = idp_err_set(e, IDP_EINVAL, "%s: %s: empty patch", kpath, where);
    goto out;
  }
  json_array_foreach(docs, i, p) {
    if (!json_is_object(p)) {
      rc = idp_err_set(e, IDP_EINVAL, "%s: %s: unable to parse SM or JSON patch", kpath, where);
      goto out;
    }
  }
  if (!target || json_is_null(target)) {
    json_array_foreach(docs, i, p) {
      if ((rc = smp_by_id(s, p, allow_name, allow_kind, kpath, where, e))) goto out;
    }
    goto out;
  }
  kres **sel;
  size_t n;
  if ((rc = select_targets(s, &t, &sel, &n, e))) {
    idp_err_prefix(e, "%s: %s: target", kpath, where);
    goto out;
  }
  for (size_t k = 0; k < n && !rc; k++) {
    bool deleted = false;
    json_array_foreach(docs, i, p) {
      rc = apply_smp(sel[k], p, allow_name, allow_kind, &deleted, e);
      if (rc) {
        idp_err_prefix(e, "%s: %s: %s %s", kpath, where, kres_kind(sel[k]), kres_name(sel[k]));
        break;
      }
      if (deleted) break;
    }
    if (!rc && deleted) remove_res(s, sel[k]);
  }
  free(sel);
out:
  json_decref(docs);
  return rc;
}

static bool file_exists(const char *dir, const char *rel) {
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/%s", dir, rel);
  struct stat st;
  return stat(p, &st) == 0;
}

idp_code kpatch_run(kset *s, const char *dir, const json_t *kust, const char *kpath,
                    const char *field, idp_err *e) {
  json_t *list = json_object_get(kust, field);
  if (!list || json_is_null(list)) return IDP_OK;
  if (!json_is_array(list))
    return idp_err_set(e, IDP_EINVAL, "%s: %s must be a list", kpath, field);
  size_t i;
  json_t *it;
  json_array_foreach(list, i, it) {
    char where[96];
    snprintf(where, sizeof where, "%s[%zu]", field, i);
    idp_code rc;
    if (!strcmp(field, "patchesStrategicMerge")) {
      const char *str = json_string_value(it);
      if (!str) return idp_err_set(e, IDP_EINVAL, "%s: %s must be a string", kpath, where);
      /* a path when such a file exists or it cannot be YAML, else inline */
      bool inline_patch = !file_exists(dir, str) && (strchr(str, '\n') || strchr(str, ':'));
      rc = one_patch(s, dir, kpath, where, inline_patch ? NULL : str, inline_patch ? str : NULL,
                     NULL, false, false, false, e);
    } else {
      if (!json_is_object(it))
        return idp_err_set(e, IDP_EINVAL, "%s: %s must be a map", kpath, where);
      const char *path = idp_json_get_str(it, "path", NULL);
      const char *text = idp_json_get_str(it, "patch", NULL);
      if (!path && !text)
        return idp_err_set(e, IDP_EINVAL, "%s: %s: must specify one of patch and path", kpath,
                           where);
      if (path && text)
        return idp_err_set(e, IDP_EINVAL, "%s: %s: patch and path can't be set at the same time",
                           kpath, where);
      json_t *opts = json_object_get(it, "options");
      bool json6902 = !strcmp(field, "patchesJson6902");
      rc = one_patch(s, dir, kpath, where, path, text, json_object_get(it, "target"),
                     json_is_true(json_object_get(opts, "allowNameChange")),
                     json_is_true(json_object_get(opts, "allowKindChange")), json6902, e);
    }
    if (rc) return rc;
  }
  return IDP_OK;
}
