/* generators.c: ApplicationSet generators and the rendering of the
 * desired Applications (Argo CD's generators.Transform and
 * template.GenerateApplications).  Generators are one table; each turns
 * its spec into a list of parameter sets (JSON objects).  With goTemplate a
 * parameter set is nested data (numbers as float64, as Go decodes YAML and
 * JSON); with fasttemplate it is flat: string values under dotted keys. */
#include "core/common.h"

#include <math.h>

#include "core/json.h"
#include "core/yaml.h"
#include "gitops/appset/appset.h"
#include "gitops/appset/gitread.h"
#include "gitops/appset/gotmpl.h"
#include "gitops/appset/gotmpl_int.h"
#include "kube/selector.h"
#include "patch/patch.h"

#define IN_CLUSTER_SERVER "https://kubernetes.default.svc"
#define RESOURCES_FINALIZER "resources-finalizer.argocd.argoproj.io"
#define GIT_DEFAULT_REQUEUE_MS (180 * 1000)

typedef struct gen_ctx {
  const idp_appset_env *env;
  const json_t *appset;
  const char *appset_name;
  bool go;
  const json_t *gopts; /* goTemplateOptions */
  int64_t requeue_ms;  /* smallest generator interval seen; 0 = none */
  int depth;
} gen_ctx;

typedef idp_code (*gen_fn)(gen_ctx *c, const json_t *body, json_t **params, idp_err *e);

static idp_code transform(gen_ctx *c, const json_t *gen, const json_t *parent, json_t **params,
                          const json_t **tmpl_override, idp_err *e);

static void note_requeue(gen_ctx *c, int64_t ms) {
  if (ms > 0 && (c->requeue_ms == 0 || ms < c->requeue_ms)) c->requeue_ms = ms;
}

/* ---- parameter helpers --------------------------------------------------- */

/* Go decodes YAML/JSON numbers into float64. */
static json_t *go_numbers(const json_t *v) {
  if (json_is_integer(v)) return json_real((double)json_integer_value(v));
  if (json_is_array(v)) {
    json_t *r = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) json_array_append_new(r, go_numbers(x));
    return r;
  }
  if (json_is_object(v)) {
    json_t *r = json_object();
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x) json_object_set_new(r, k, go_numbers(x));
    return r;
  }
  return json_incref((json_t *)v);
}

/* fmt.Sprintf("%v", v) as a JSON string. */
static json_t *sprint_v(const json_t *v) {
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  gt_print(&b, v);
  json_t *s = json_stringn(b.data ? b.data : "", b.len);
  idp_buf_free(&b);
  return s;
}

/* jeremywohl/flatten (DotStyle): nested maps and lists become dotted keys
 * ("a.b", "list.0"); leaves are printed with %v. */
static void flatten(const json_t *v, const char *prefix, json_t *out) {
  char key[1024];
  if (json_is_object(v) && json_object_size(v) > 0) {
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x) {
      if (*prefix) snprintf(key, sizeof key, "%s.%s", prefix, k);
      else snprintf(key, sizeof key, "%s", k);
      flatten(x, key, out);
    }
  } else if (json_is_array(v) && json_array_size(v) > 0) {
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
      snprintf(key, sizeof key, "%s%s%zu", prefix, *prefix ? "." : "", i);
      flatten(x, key, out);
    }
  } else if (*prefix) {
    json_object_set_new(out, prefix, sprint_v(v));
  }
}

static char *path_dir(const char *p) { /* Go's path.Dir */
  const char *sl = strrchr(p, '/');
  if (!sl) return strdup(".");
  if (sl == p) return strdup("/");
  return strndup(p, (size_t)(sl - p));
}

static const char *path_base(const char *p) { /* Go's path.Base (no trailing '/') */
  const char *sl = strrchr(p, '/');
  return sl ? sl + 1 : p;
}

/* path params of a directory (and file name for the files generator). */
static void add_path_params(gen_ctx *c, json_t *params, const char *dir, const char *file,
                            const char *prefix) {
  char *bn_norm = idp_gotmpl_normalize(path_base(dir));
  char *fn_norm = file ? idp_gotmpl_normalize(path_base(file)) : NULL;
  if (c->go) {
    json_t *pp = json_object();
    json_object_set_new(pp, "path", json_string(dir));
    json_object_set_new(pp, "basename", json_string(path_base(dir)));
    if (file) json_object_set_new(pp, "filename", json_string(path_base(file)));
    json_object_set_new(pp, "basenameNormalized", json_string(bn_norm ? bn_norm : ""));
    if (file) json_object_set_new(pp, "filenameNormalized", json_string(fn_norm ? fn_norm : ""));
    json_t *segs = json_array(); /* strings.Split(path, "/") */
    for (const char *sg = dir; sg;) {
      const char *sl = strchr(sg, '/');
      json_array_append_new(segs, json_stringn(sg, sl ? (size_t)(sl - sg) : strlen(sg)));
      sg = sl ? sl + 1 : NULL;
    }
    json_object_set_new(pp, "segments", segs);
    if (prefix && *prefix) json_object_set_new(params, prefix, json_pack("{s:o}", "path", pp));
    else json_object_set_new(params, "path", pp);
  } else {
    char name[512], key[600];
    if (prefix && *prefix) snprintf(name, sizeof name, "%s.path", prefix);
    else snprintf(name, sizeof name, "path");
    json_object_set_new(params, name, json_string(dir));
    snprintf(key, sizeof key, "%s.basename", name);
    json_object_set_new(params, key, json_string(path_base(dir)));
    if (file) {
      snprintf(key, sizeof key, "%s.filename", name);
      json_object_set_new(params, key, json_string(path_base(file)));
    }
    snprintf(key, sizeof key, "%s.basenameNormalized", name);
    json_object_set_new(params, key, json_string(bn_norm ? bn_norm : ""));
    if (file) {
      snprintf(key, sizeof key, "%s.filenameNormalized", name);
      json_object_set_new(params, key, json_string(fn_norm ? fn_norm : ""));
    }
    int idx = 0;
    for (const char *s = dir; s;) {
      const char *sl = strchr(s, '/');
      size_t l = sl ? (size_t)(sl - s) : strlen(s);
      if (l) {
        snprintf(key, sizeof key, "%s[%d]", name, idx);
        json_object_set_new(params, key, json_stringn(s, l));
      }
      idx++;
      s = sl ? sl + 1 : NULL;
    }
  }
  free(bn_norm);
  free(fn_norm);
}

/* The generator's `values` (string map) rendered with the params, added as
 * values.<k> (fasttemplate) or .values.<k> (goTemplate). */
static idp_code append_values(gen_ctx *c, const json_t *values, json_t *params, idp_err *e) {
  if (!values || json_is_null(values)) return IDP_OK;
  if (!json_is_object(values)) return idp_err_set(e, IDP_EINVAL, "values: must be a map of strings");
  json_t *vo = NULL;
  if (c->go) {
    vo = json_object_get(params, "values");
    if (!json_is_object(vo)) {
      vo = json_object();
      json_object_set_new(params, "values", vo);
    }
  }
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)values, k, v) {
    if (!json_is_string(v)) return idp_err_set(e, IDP_EINVAL, "values.%s: must be a string", k);
    char *r;
    idp_code rc = idp_appset_replace(json_string_value(v), params, c->go, c->gopts, &r, e);
    if (rc) {
      idp_err_prefix(e, "failed to append templated values");
      return rc;
    }
    if (c->go) {
      json_object_set_new(vo, k, json_string(r));
    } else {
      char key[600];
      snprintf(key, sizeof key, "values.%s", k);
      json_object_set_new(params, key, json_string(r));
    }
    free(r);
  }
  return IDP_OK;
}

/* ---- list -------------------------------------------------------------------- */

static idp_code gen_list(gen_ctx *c, const json_t *body, json_t **out, idp_err *e) {
  json_t *all = json_array();
  json_t *elements = json_object_get(body, "elements");
  if (json_is_array(elements)) json_array_extend(all, elements);
  else if (elements && !json_is_null(elements)) {
    json_decref(all);
    return idp_err_set(e, IDP_EINVAL, "list.elements: must be a list");
  }
  const char *ey = json_string_value(json_object_get(body, "elementsYaml"));
  if (ey && *ey) {
    json_t *doc = NULL;
    idp_err ye = IDP_ERR_INIT;
    if (idp_yaml_load_one(ey, strlen(ey), "elementsYaml", NULL, &doc, &ye) ||
        !(json_is_array(doc) || json_is_null(doc))) {
      json_decref(doc);
      json_decref(all);
      return idp_err_set(e, IDP_EINVAL, "error unmarshling decoded ElementsYaml %s: %s", ey,
                         ye.code ? ye.msg : "not a list");
    }
    if (json_is_array(doc)) json_array_extend(all, doc);
    json_decref(doc);
  }
  json_t *res = json_array();
  size_t i;
  json_t *el;
  json_array_foreach(all, i, el) {
    if (!json_is_object(el)) {
      json_decref(all);
      json_decref(res);
      return idp_err_set(e, IDP_EINVAL, "error unmarshling element %zu: not an object", i);
    }
    if (c->go) {
      json_array_append_new(res, go_numbers(el));
      continue;
    }
    json_t *p = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(el, k, v) {
      if (!strcmp(k, "values")) {
        if (!json_is_object(v)) {
          json_decref(p);
          json_decref(all);
          json_decref(res);
          return idp_err_set(e, IDP_EINVAL, "error parsing values map of element %zu", i);
        }
        const char *vk;
        json_t *vv;
        json_object_foreach(v, vk, vv) {
          if (!json_is_string(vv)) {
            json_decref(p);
            json_decref(all);
            json_decref(res);
            return idp_err_set(e, IDP_EINVAL, "error parsing value as string: element %zu values.%s", i, vk);
          }
          char key[600];
          snprintf(key, sizeof key, "values.%s", vk);
          json_object_set(p, key, vv);
        }
      } else if (json_is_string(v)) {
        json_object_set(p, k, v);
      } else {
        json_decref(p);
        json_decref(all);
        json_decref(res);
        return idp_err_set(e, IDP_EINVAL,
                           "error parsing value as string: element %zu key %s is a %s (fasttemplate needs strings; use goTemplate)",
                           i, k, gt_type_name(v));
      }
    }
    json_array_append_new(res, p);
  }
  json_decref(all);
  *out = res;
  return IDP_OK;
}

/* ---- git ----------------------------------------------------------------------- */

static bool hidden_path(const char *p) { /* any segment starting with '.' */
  for (const char *s = p; s; s = strchr(s, '/') ? strchr(s, '/') + 1 : NULL)
    if (*s == '.') return true;
  return false;
}

/* Parses one file: a single object, or a list of objects. */
static idp_code parse_git_file(const char *path, const char *data, size_t len, json_t **objs,
                               idp_err *e) {
  json_t *doc = NULL;
  idp_err ye = IDP_ERR_INIT;
  if (idp_yaml_load_one(data, len, path, NULL, &doc, &ye))
    return idp_err_set(e, IDP_EINVAL, "unable to process file '%s': unable to parse file: %s", path, ye.msg);
  json_t *r = json_array();
  if (json_is_null(doc)) {
    json_array_append_new(r, json_object());
  } else if (json_is_object(doc)) {
    json_array_append(r, doc);
  } else if (json_is_array(doc)) {
    size_t i;
    json_t *x;
    json_array_foreach(doc, i, x) {
      if (!json_is_object(x)) {
        json_decref(doc);
        json_decref(r);
        return idp_err_set(e, IDP_EINVAL, "unable to process file '%s': unable to parse file: item %zu is not an object", path, i);
      }
      json_array_append(r, x);
    }
  } else {
    json_decref(doc);
    json_decref(r);
    return idp_err_set(e, IDP_EINVAL, "unable to process file '%s': unable to parse file: not an object or a list of objects", path);
  }
  json_decref(doc);
  *objs = r;
  return IDP_OK;
}

static idp_code gen_git(gen_ctx *c, const json_t *body, json_t **out, idp_err *e) {
  const char *url = json_string_value(json_object_get(body, "repoURL"));
  const char *rev = json_string_value(json_object_get(body, "revision"));
  const char *prefix = json_string_value(json_object_get(body, "pathParamPrefix"));
  json_t *dirs_spec = json_object_get(body, "directories");
  json_t *files_spec = json_object_get(body, "files");
  json_t *values = json_object_get(body, "values");
  json_t *rq = json_object_get(body, "requeueAfterSeconds");
  note_requeue(c, json_is_integer(rq) ? json_integer_value(rq) * 1000 : GIT_DEFAULT_REQUEUE_MS);
  bool use_dirs = json_array_size(dirs_spec) > 0, use_files = json_array_size(files_spec) > 0;
  if (!use_dirs && !use_files)
    return idp_err_set(e, IDP_EINVAL, "git generator: one of directories or files is required");
  if (!url || !*url) return idp_err_set(e, IDP_EINVAL, "git generator: repoURL is required");
  if (!c->env || !c->env->git) return idp_err_set(e, IDP_EUNAVAILABLE, "git generator: no git access configured");
  char sha[41];
  idp_asgit_tree *t;
  if (c->env->refresh) idp_asgit_invalidate(c->env->git, url);
  idp_code rc = idp_asgit_open(c->env->git, url, rev, sha, &t, e);
  if (rc) {
    idp_err_prefix(e, "error generating params from git");
    return rc;
  }
  if (c->env->on_git_read) c->env->on_git_read(c->env->ud, url, rev ? rev : "", sha);
  json_t *res = json_array();
  json_t *dirs = NULL, *files = NULL;
  rc = idp_asgit_list(t, use_dirs ? &dirs : NULL, use_files ? &files : NULL, e);
  if (rc) goto out;
  if (use_dirs) {
    size_t i;
    json_t *d;
    json_array_foreach(dirs, i, d) {
      const char *dir = json_string_value(d);
      if (hidden_path(dir)) continue;
      bool inc = false, exc = false;
      size_t k;
      json_t *it;
      json_array_foreach(dirs_spec, k, it) {
        const char *pat = json_string_value(json_object_get(it, "path"));
        if (!pat || !idp_asgit_glob(pat, dir, false)) continue;
        if (json_is_true(json_object_get(it, "exclude"))) exc = true;
        else inc = true;
      }
      if (!inc || exc) continue; /* exclude always wins */
      json_t *p = json_object();
      add_path_params(c, p, dir, NULL, prefix);
      if ((rc = append_values(c, values, p, e))) {
        json_decref(p);
        goto out;
      }
      json_array_append_new(res, p);
    }
  } else {
    idp_buf data;
    idp_buf_init(&data, (size_t)16 << 20);
    size_t i;
    json_t *f;
    json_array_foreach(files, i, f) {
      const char *file = json_string_value(f);
      bool inc = false, exc = false;
      size_t k;
      json_t *it;
      json_array_foreach(files_spec, k, it) {
        const char *pat = json_string_value(json_object_get(it, "path"));
        if (!pat || !idp_asgit_glob(pat, file, true)) continue;
        if (json_is_true(json_object_get(it, "exclude"))) exc = true;
        else inc = true;
      }
      if (!inc || exc) continue;
      idp_buf_reset(&data);
      if ((rc = idp_asgit_read(t, file, &data, e))) break;
      json_t *objs = NULL;
      if ((rc = parse_git_file(file, data.data ? data.data : "", data.len, &objs, e))) break;
      char *dir = path_dir(file);
      size_t oi;
      json_t *obj;
      json_array_foreach(objs, oi, obj) {
        json_t *p;
        if (c->go) {
          p = go_numbers(obj);
        } else {
          p = json_object();
          flatten(obj, "", p);
        }
        add_path_params(c, p, dir ? dir : ".", file, prefix);
        if ((rc = append_values(c, values, p, e))) {
          json_decref(p);
          break;
        }
        json_array_append_new(res, p);
      }
      free(dir);
      json_decref(objs);
      if (rc) break;
    }
    idp_buf_free(&data);
    if (rc) idp_err_prefix(e, "error generating params from git");
  }
out:
  json_decref(dirs);
  json_decref(files);
  idp_asgit_tree_free(t);
  if (rc) {
    json_decref(res);
    return rc;
  }
  *out = res;
  return IDP_OK;
}

/* ---- clusters ------------------------------------------------------------------ */

static char *b64_decode(const char *s) {
  static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t n = strlen(s);
  char *out = malloc(n + 1);
  if (!out) return NULL;
  size_t o = 0;
  unsigned acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n && s[i] != '='; i++) {
    const char *p = strchr(tbl, s[i]);
    if (!p || !s[i]) continue;
    acc = acc << 6 | (unsigned)(p - tbl);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (char)(acc >> bits & 0xFF);
    }
  }
  out[o] = 0;
  return out;
}

static json_t *secret_field(const json_t *secret, const char *key) {
  const char *sd = json_string_value(idp_json_get(secret, "stringData", key, NULL));
  if (sd) return json_string(sd);
  const char *d = json_string_value(idp_json_get(secret, "data", key, NULL));
  if (!d) return NULL;
  char *v = b64_decode(d);
  json_t *r = v ? json_string(v) : NULL;
  free(v);
  return r;
}

static json_t *cluster_params(gen_ctx *c, const char *name, const char *server, const char *project,
                              const json_t *labels, const json_t *annotations) {
  json_t *p = json_object();
  char *norm = idp_gotmpl_normalize(name);
  json_object_set_new(p, "name", json_string(name));
  json_object_set_new(p, "nameNormalized", json_string(norm ? norm : ""));
  json_object_set_new(p, "server", json_string(server));
  json_object_set_new(p, "project", json_string(project ? project : ""));
  free(norm);
  if (c->go) {
    json_t *md = json_object();
    json_object_set_new(md, "labels", json_is_object(labels) ? json_deep_copy(labels) : json_object());
    json_object_set_new(md, "annotations", json_is_object(annotations) ? json_deep_copy(annotations) : json_object());
    json_object_set_new(p, "metadata", md);
  } else {
    const char *k;
    json_t *v;
    char key[600];
    if (json_is_object(labels))
      json_object_foreach((json_t *)labels, k, v) {
        snprintf(key, sizeof key, "metadata.labels.%s", k);
        json_object_set(p, key, v);
      }
    if (json_is_object(annotations))
      json_object_foreach((json_t *)annotations, k, v) {
        snprintf(key, sizeof key, "metadata.annotations.%s", k);
        json_object_set(p, key, v);
      }
  }
  return p;
}

static idp_code gen_clusters(gen_ctx *c, const json_t *body, json_t **out, idp_err *e) {
  json_t *secrets = NULL;
  if (c->env && c->env->list_clusters) {
    idp_code rc = c->env->list_clusters(c->env->ud, &secrets, e);
    if (rc) {
      idp_err_prefix(e, "error getting cluster secrets");
      return rc;
    }
  }
  if (!secrets) secrets = json_array();
  json_t *sel_json = json_object_get(body, "selector");
  idp_selector *sel = NULL;
  idp_code rc = idp_selector_from_json(json_is_object(sel_json) ? sel_json : NULL, &sel, e);
  if (rc) {
    json_decref(secrets);
    idp_err_prefix(e, "clusters.selector");
    return rc;
  }
  json_t *values = json_object_get(body, "values");
  json_t *res = json_array();
  bool has_local = false;
  size_t i;
  json_t *s;
  json_array_foreach(secrets, i, s) {
    json_t *srv = secret_field(s, "server");
    if (srv && !strcmp(json_string_value(srv), IN_CLUSTER_SERVER)) has_local = true;
    json_decref(srv);
  }
  /* the in-cluster destination is generated when no Secret describes it
   * and the selector is empty (Argo CD's local cluster) */
  if (!has_local && idp_selector_empty(sel)) {
    json_t *p = cluster_params(c, "in-cluster", IN_CLUSTER_SERVER, NULL, NULL, NULL);
    if ((rc = append_values(c, values, p, e))) json_decref(p);
    else json_array_append_new(res, p);
  }
  json_array_foreach(secrets, i, s) {
    if (rc) break;
    json_t *labels = idp_json_get(s, "metadata", "labels", NULL);
    if (!idp_selector_matches(sel, labels)) continue;
    json_t *name = secret_field(s, "name"), *server = secret_field(s, "server"),
           *project = secret_field(s, "project");
    json_t *p = cluster_params(c, name ? json_string_value(name) : "",
                               server ? json_string_value(server) : "",
                               project ? json_string_value(project) : NULL, labels,
                               idp_json_get(s, "metadata", "annotations", NULL));
    json_decref(name);
    json_decref(server);
    json_decref(project);
    if ((rc = append_values(c, values, p, e))) json_decref(p);
    else json_array_append_new(res, p);
  }
  idp_selector_free(sel);
  json_decref(secrets);
  if (rc) {
    json_decref(res);
    return rc;
  }
  *out = res;
  return IDP_OK;
}

/* ---- matrix and merge ----------------------------------------------------------- */

/* mergo.Merge(dst, src, WithOverride): src's non-empty values win, maps
 * merged recursively. */
static void merge_override(json_t *dst, const json_t *src) {
  const char *k;
  json_t *sv;
  json_object_foreach((json_t *)src, k, sv) {
    json_t *dv = json_object_get(dst, k);
    if (dv && json_is_object(dv) && json_is_object(sv)) {
      json_t *cpy = json_deep_copy(dv);
      merge_override(cpy, sv);
      json_object_set_new(dst, k, cpy);
    } else if (!dv || gt_truth(sv)) {
      json_object_set_new(dst, k, json_deep_copy(sv));
    }
  }
}

static idp_code gen_matrix(gen_ctx *c, const json_t *body, json_t **out, idp_err *e) {
  json_t *gens = json_object_get(body, "generators");
  size_t n = json_array_size(gens);
  if (n < 2) return idp_err_set(e, IDP_EINVAL, "found less than two generators, Matrix support only two");
  if (n > 2) return idp_err_set(e, IDP_EINVAL, "found more than two generators, Matrix support only two");
  json_t *p0;
  idp_code rc = transform(c, json_array_get(gens, 0), NULL, &p0, NULL, e);
  if (rc) {
    idp_err_prefix(e, "error failed to get params for first generator in matrix generator");
    return rc;
  }
  json_t *res = json_array();
  size_t i;
  json_t *a;
  json_array_foreach(p0, i, a) {
    json_t *p1;
    if ((rc = transform(c, json_array_get(gens, 1), a, &p1, NULL, e))) {
      idp_err_prefix(e, "failed to get params for second generator in the matrix generator");
      break;
    }
    size_t j;
    json_t *b;
    json_array_foreach(p1, j, b) {
      json_t *m;
      if (c->go) { /* Argo CD merges b, then a over it */
        m = json_deep_copy(b);
        merge_override(m, a);
      } else {
        m = json_deep_copy(a);
        const char *k;
        json_t *v;
        json_object_foreach(b, k, v) {
          json_t *old = json_object_get(m, k);
          if (old && !json_equal(old, v)) {
            char *so = gt_strval(old), *sv = gt_strval(v);
            rc = idp_err_set(e, IDP_EINVAL, "found duplicate key %s with different value, a: %s ,b: %s", k,
                             so ? so : "", sv ? sv : "");
            free(so);
            free(sv);
            break;
          }
          json_object_set(m, k, v);
        }
      }
      if (rc) {
        json_decref(m);
        break;
      }
      json_array_append_new(res, m);
    }
    json_decref(p1);
    if (rc) break;
  }
  json_decref(p0);
  if (rc) {
    json_decref(res);
    return rc;
  }
  *out = res;
  return IDP_OK;
}

/* The merge key of a parameter set: the JSON of {key: value}. */
static char *merge_key(const json_t *p, const json_t *keys) {
  json_t *o = json_object();
  size_t i;
  json_t *k;
  json_array_foreach(keys, i, k) {
    const char *ks = json_string_value(k);
    if (!ks) continue;
    json_t *v = json_object_get(p, ks);
    json_object_set(o, ks, v ? v : json_null());
  }
  char *s = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
  json_decref(o);
  return s;
}

static idp_code gen_merge(gen_ctx *c, const json_t *body, json_t **out, idp_err *e) {
  json_t *gens = json_object_get(body, "generators");
  json_t *keys = json_object_get(body, "mergeKeys");
  if (json_array_size(keys) == 0) return idp_err_set(e, IDP_EINVAL, "no merge keys were specified");
  if (json_array_size(gens) < 2)
    return idp_err_set(e, IDP_EINVAL, "found less than two generators, Merge requires two or more");
  json_t *base;
  idp_code rc = transform(c, json_array_get(gens, 0), NULL, &base, NULL, e);
  if (rc) return rc;
  json_t *res = json_deep_copy(base);
  json_decref(base);
  json_t *index = json_object(); /* key -> position in res */
  size_t i;
  json_t *p;
  json_array_foreach(res, i, p) {
    char *k = merge_key(p, keys);
    if (k && json_object_get(index, k)) {
      rc = idp_err_set(e, IDP_EINVAL,
                       "the parameters from a generator were not unique by the given mergeKeys, Merge requires all param sets to be unique. Duplicate key was %s", k);
      free(k);
      break;
    }
    if (k) json_object_set_new(index, k, json_integer((json_int_t)i));
    free(k);
  }
  for (size_t g = 1; g < json_array_size(gens) && !rc; g++) {
    json_t *other;
    if ((rc = transform(c, json_array_get(gens, g), NULL, &other, NULL, e))) break;
    json_t *seen = json_object();
    json_array_foreach(other, i, p) {
      char *k = merge_key(p, keys);
      if (!k) continue;
      if (json_object_get(seen, k)) {
        rc = idp_err_set(e, IDP_EINVAL,
                         "the parameters from a generator were not unique by the given mergeKeys, Merge requires all param sets to be unique. Duplicate key was %s", k);
        free(k);
        break;
      }
      json_object_set_new(seen, k, json_true());
      json_t *pos = json_object_get(index, k);
      free(k);
      if (!pos) continue;
      json_t *target = json_array_get(res, (size_t)json_integer_value(pos));
      if (c->go) {
        merge_override(target, p);
      } else {
        const char *pk;
        json_t *pv;
        json_object_foreach(p, pk, pv) json_object_set(target, pk, pv);
      }
    }
    json_decref(seen);
    json_decref(other);
  }
  json_decref(index);
  if (rc) {
    json_decref(res);
    idp_err_prefix(e, "error generating params from merge");
    return rc;
  }
  *out = res;
  return IDP_OK;
}

/* ---- the table --------------------------------------------------------------------- */

static const struct gen_kind {
  const char *key;
  gen_fn fn;
} kinds[] = {
    {"list", gen_list},         {"git", gen_git},     {"clusters", gen_clusters},
    {"matrix", gen_matrix},     {"merge", gen_merge},
};

/* Known to Argo CD, not implemented here: named in the error. */
static const char *const unsupported[] = {"scmProvider", "pullRequest", "plugin",
                                          "clusterDecisionResource"};

/* Flattened string labels of a parameter set, for post selectors. */
static json_t *selector_labels(gen_ctx *c, const json_t *p) {
  json_t *flat = json_object();
  if (c->go) flatten(p, "", flat);
  else json_object_update(flat, (json_t *)p);
  return flat;
}

static idp_code transform(gen_ctx *c, const json_t *gen, const json_t *parent, json_t **params,
                          const json_t **tmpl_override, idp_err *e) {
  *params = NULL;
  if (tmpl_override) *tmpl_override = NULL;
  if (!json_is_object(gen)) return idp_err_set(e, IDP_EINVAL, "generator must be an object");
  if (++c->depth > 8) {
    c->depth--;
    return idp_err_set(e, IDP_EINVAL, "generators nested too deeply");
  }
  const struct gen_kind *kind = NULL;
  const json_t *body = NULL;
  for (size_t i = 0; i < IDP_ARRAY_LEN(kinds) && !kind; i++)
    if ((body = json_object_get(gen, kinds[i].key)) && !json_is_null(body)) kind = &kinds[i];
  idp_code rc = IDP_OK;
  if (!kind) {
    for (size_t i = 0; i < IDP_ARRAY_LEN(unsupported); i++)
      if (json_object_get(gen, unsupported[i])) {
        c->depth--;
        return idp_err_set(e, IDP_EUNSUPPORTED, "generator %s is not supported by idp", unsupported[i]);
      }
    c->depth--;
    return idp_err_set(e, IDP_EINVAL, "ApplicationSet %s contains unrecognized generators", c->appset_name);
  }
  json_t *interp = NULL;
  if (parent) { /* matrix: the second child sees the first child's params */
    if ((rc = idp_appset_render_value(body, parent, c->go, c->gopts, &interp, e))) {
      idp_err_prefix(e, "failed to replace parameters in generator");
      c->depth--;
      return rc;
    }
    body = interp;
  }
  json_t *res = NULL;
  rc = kind->fn(c, body, &res, e);
  if (!rc) {
    json_t *sel_json = json_object_get(gen, "selector");
    if (json_is_object(sel_json)) {
      idp_selector *sel;
      if ((rc = idp_selector_from_json(sel_json, &sel, e))) {
        idp_err_prefix(e, "error parsing the generator's selector");
      } else {
        json_t *kept = json_array();
        size_t i;
        json_t *p;
        json_array_foreach(res, i, p) {
          json_t *lab = selector_labels(c, p);
          if (idp_selector_matches(sel, lab)) json_array_append(kept, p);
          json_decref(lab);
        }
        idp_selector_free(sel);
        json_decref(res);
        res = kept;
      }
    }
  }
  if (!rc && tmpl_override) {
    json_t *t = json_object_get(json_object_get(gen, kind->key), "template");
    *tmpl_override = json_is_object(t) ? t : NULL;
  }
  json_decref(interp);
  c->depth--;
  if (rc) {
    json_decref(res);
    return rc;
  }
  *params = res;
  return IDP_OK;
}

/* ---- rendering Applications ------------------------------------------------------ */

static bool empty_value(const json_t *v) {
  return !v || json_is_null(v) || (json_is_string(v) && !json_string_length(v)) ||
         (json_is_object(v) && !json_object_size(v)) || (json_is_array(v) && !json_array_size(v));
}

/* mergo.Merge(dst = generator template, src = ApplicationSet template):
 * fields the generator's template leaves empty come from the
 * ApplicationSet's, maps recursively. */
static void merge_fill(json_t *dst, const json_t *src) {
  const char *k;
  json_t *sv;
  json_object_foreach((json_t *)src, k, sv) {
    json_t *dv = json_object_get(dst, k);
    if (empty_value(dv)) json_object_set_new(dst, k, json_deep_copy(sv));
    else if (json_is_object(dv) && json_is_object(sv)) merge_fill(dv, sv);
  }
}

static const char *const meta_fields[] = {"name", "namespace", "labels", "annotations", "finalizers"};

static idp_code render_app(gen_ctx *c, const json_t *tmpl, const json_t *params, bool preserve,
                           const char *tpatch, json_t **out, idp_err *e) {
  json_t *t = json_object(), *md = json_object();
  json_t *tmd = json_object_get(tmpl, "metadata");
  for (size_t i = 0; i < IDP_ARRAY_LEN(meta_fields); i++) {
    json_t *v = json_object_get(tmd, meta_fields[i]);
    if (v && !json_is_null(v)) json_object_set(md, meta_fields[i], v);
  }
  json_object_set_new(t, "metadata", md);
  json_t *spec = json_object_get(tmpl, "spec");
  json_object_set(t, "spec", spec ? spec : json_object());
  json_t *r = NULL;
  idp_code rc = IDP_OK;
  if (json_object_size(params) > 0) rc = idp_appset_render_value(t, params, c->go, c->gopts, &r, e);
  else r = json_incref(t);
  json_decref(t);
  if (rc) return rc;
  json_t *app = json_pack("{s:s,s:s}", "apiVersion", "argoproj.io/v1alpha1", "kind", "Application");
  json_t *rmd = json_object_get(r, "metadata");
  json_object_set(app, "metadata", rmd);
  json_object_set(app, "spec", json_object_get(r, "spec"));
  json_decref(r);
  rmd = json_object_get(app, "metadata");
  if (!preserve && json_array_size(json_object_get(rmd, "finalizers")) == 0)
    json_object_set_new(rmd, "finalizers", json_pack("[s]", RESOURCES_FINALIZER));
  if (tpatch && *tpatch) {
    char *txt;
    if ((rc = idp_appset_replace(tpatch, params, c->go, c->gopts, &txt, e))) {
      idp_err_prefix(e, "error replacing values in templatePatch");
      json_decref(app);
      return rc;
    }
    json_t *patch = NULL;
    idp_err ye = IDP_ERR_INIT;
    rc = idp_yaml_load_one(txt, strlen(txt), "templatePatch", NULL, &patch, &ye);
    if (!rc && !json_is_object(patch) && !json_is_null(patch)) {
      rc = IDP_EINVAL;
      snprintf(ye.msg, sizeof ye.msg, "not a map");
    }
    if (rc) {
      idp_err_set(e, IDP_EINVAL, "error while converting template to json %s: %s", txt, ye.msg);
      free(txt);
      json_decref(patch);
      json_decref(app);
      return IDP_EINVAL;
    }
    free(txt);
    if (json_is_object(patch)) {
      json_t *patched = NULL;
      idp_err pe = IDP_ERR_INIT;
      if (idp_smp(app, patch, "argoproj.io", "Application", &patched, &pe)) {
        json_decref(patch);
        json_decref(app);
        return idp_err_set(e, IDP_EINVAL, "error while applying templatePatch template to json: %s", pe.msg);
      }
      /* the project cannot be changed by a patch (Argo CD's guard) */
      json_t *proj = idp_json_get(app, "spec", "project", NULL);
      json_t *pspec = json_object_get(patched, "spec");
      if (json_is_object(pspec)) {
        if (proj) json_object_set(pspec, "project", proj);
        else json_object_del(pspec, "project");
      }
      json_decref(app);
      app = patched;
    }
    json_decref(patch);
  }
  /* Applications live in their ApplicationSet's namespace, whatever the
   * template or patch says (Argo CD's appsets-in-any-namespace boundary) */
  const char *ns = idp_json_get_str(c->appset, "metadata", "namespace", NULL);
  if (!ns && c->env) ns = c->env->namespace;
  if (ns) {
    json_t *omd = json_object_get(app, "metadata");
    json_t *nmd = json_object(); /* keep Kubernetes' usual key order */
    const char *k;
    json_t *v;
    json_object_foreach(omd, k, v) {
      if (!strcmp(k, "namespace")) continue;
      json_object_set(nmd, k, v);
      if (!strcmp(k, "name")) json_object_set_new(nmd, "namespace", json_string(ns));
    }
    if (!json_object_get(nmd, "namespace")) json_object_set_new(nmd, "namespace", json_string(ns));
    json_object_set_new(app, "metadata", nmd);
  }
  *out = app;
  return IDP_OK;
}

idp_code idp_appset_generate(const idp_appset_env *env, const json_t *appset, json_t **apps,
                             idp_appset_reason *reason, int64_t *requeue_ms, idp_err *e) {
  *apps = NULL;
  if (reason) *reason = IDP_APPSET_OK;
  if (requeue_ms) *requeue_ms = 0;
  const char *name = idp_json_get_str(appset, "metadata", "name", NULL);
  json_t *spec = json_object_get(appset, "spec");
  if (!json_is_object(spec)) {
    if (reason) *reason = IDP_APPSET_PARAMS_ERROR;
    return idp_err_set(e, IDP_EINVALID, "ApplicationSet %s: spec is required", name ? name : "");
  }
  gen_ctx c = {.env = env, .appset = appset, .appset_name = name ? name : "",
               .go = json_is_true(json_object_get(spec, "goTemplate")),
               .gopts = json_object_get(spec, "goTemplateOptions")};
  idp_gotmpl_opts chk;
  idp_code rc = idp_gotmpl_opts_from_json(c.gopts, &chk, e);
  if (rc) {
    if (reason) *reason = IDP_APPSET_RENDER_ERROR;
    return rc;
  }
  json_t *tmpl = json_object_get(spec, "template");
  json_t *gens = json_object_get(spec, "generators");
  const char *tpatch = json_string_value(json_object_get(spec, "templatePatch"));
  bool preserve = json_is_true(idp_json_get(spec, "syncPolicy", "preserveResourcesOnDeletion", NULL));
  if (!json_is_array(gens)) {
    if (reason) *reason = IDP_APPSET_PARAMS_ERROR;
    return idp_err_set(e, IDP_EINVALID, "ApplicationSet %s: spec.generators must be a list", c.appset_name);
  }
  json_t *res = json_array();
  size_t gi;
  json_t *g;
  json_array_foreach(gens, gi, g) {
    json_t *params;
    const json_t *override;
    if ((rc = transform(&c, g, NULL, &params, &override, e))) {
      if (reason) *reason = IDP_APPSET_PARAMS_ERROR;
      break;
    }
    json_t *t = json_is_object(tmpl) ? json_deep_copy(tmpl) : json_object();
    if (override) {
      json_t *o = json_deep_copy(override);
      merge_fill(o, t);
      json_decref(t);
      t = o;
    }
    size_t pi;
    json_t *p;
    json_array_foreach(params, pi, p) {
      json_t *app;
      if ((rc = render_app(&c, t, p, preserve, tpatch, &app, e))) {
        if (reason) *reason = IDP_APPSET_RENDER_ERROR;
        break;
      }
      json_array_append_new(res, app);
    }
    json_decref(t);
    json_decref(params);
    if (rc) break;
  }
  if (rc) {
    json_decref(res);
    return rc;
  }
  if (requeue_ms) *requeue_ms = c.requeue_ms;
  *apps = res;
  return IDP_OK;
}
