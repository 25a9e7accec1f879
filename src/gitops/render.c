/* render.c: plain-directory sources and tool detection (helm.c runs helm,
 * kustomize*.c builds kustomizations). */
#include "core/common.h"

#include <dirent.h>
#include <fnmatch.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/yaml.h"
#include "gitops/kustomize.h"
#include "gitops/helm.h"
#include "gitops/render.h"

#define RENDER_MAX_FILES 100000
#define RENDER_MAX_DEPTH 64

/* ------------------------------------------------------------ globs */

/* Expands the first (outermost) {a,b} group and recurses; falls back to
 * fnmatch without FNM_PATHNAME, so '*' also matches '/' as in gobwas/glob
 * without separators (what Argo CD uses). */
static bool glob_match_depth(const char *pat, const char *path, int depth) {
  if (depth > 16) return false;
  const char *open = NULL;
  for (const char *p = pat; *p; p++) {
    if (*p == '\\' && p[1]) {
      p++;
      continue;
    }
    if (*p == '{') {
      open = p;
      break;
    }
  }
  if (!open) return fnmatch(pat, path, 0) == 0;
  int level = 0;
  const char *close = NULL;
  for (const char *p = open; *p; p++) {
    if (*p == '\\' && p[1]) {
      p++;
      continue;
    }
    if (*p == '{') level++;
    else if (*p == '}' && --level == 0) {
      close = p;
      break;
    }
  }
  if (!close) return fnmatch(pat, path, 0) == 0;
  size_t plen = strlen(pat);
  char *buf = malloc(plen + 1);
  if (!buf) return false;
  bool matched = false;
  const char *alt = open + 1;
  level = 0;
  for (const char *p = open + 1; p <= close && !matched; p++) {
    if (*p == '\\' && p < close) {
      p++;
      continue;
    }
    if (*p == '{') level++;
    else if (*p == '}' && level > 0 && p != close) level--;
    else if ((*p == ',' && level == 0) || p == close) {
      size_t pre = (size_t)(open - pat), al = (size_t)(p - alt), post = strlen(close + 1);
      memcpy(buf, pat, pre);
      memcpy(buf + pre, alt, al);
      memcpy(buf + pre + al, close + 1, post + 1);
      matched = glob_match_depth(buf, path, depth + 1);
      alt = p + 1;
    }
  }
  free(buf);
  return matched;
}

bool idp_render_glob_match(const char *pattern, const char *path) {
  return glob_match_depth(pattern, path, 0);
}

/* ------------------------------------------------------------ directory */

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_ext(const char *name, const char *ext) {
  size_t n = strlen(name), e = strlen(ext);
  return n > e && !strcmp(name + n - e, ext);
}

static idp_code add_docs(json_t *out, json_t *docs, const char *path, idp_err *e) {
  size_t i;
  json_t *d;
  json_array_foreach(docs, i, d) {
    if (json_is_null(d)) continue;
    if (json_is_array(d)) { /* a JSON file holding a list of objects */
      size_t j;
      json_t *x;
      json_array_foreach(d, j, x) if (json_is_object(x)) json_array_append(out, x);
      continue;
    }
    if (!json_is_object(d))
      return idp_err_set(e, IDP_EINVAL, "%s: document %zu is not a Kubernetes object", path,
                         i + 1);
    const char *kind = idp_json_get_str(d, "kind", NULL);
    json_t *items = json_object_get(d, "items");
    size_t kl = kind ? strlen(kind) : 0;
    if (kind && kl >= 4 && !strcmp(kind + kl - 4, "List") && json_is_array(items)) {
      size_t j;
      json_t *x;
      json_array_foreach(items, j, x) if (json_is_object(x)) json_array_append(out, x);
      continue;
    }
    if (!kind)
      return idp_err_set(e, IDP_EINVAL, "%s: document %zu: Object 'Kind' is missing", path,
                         i + 1);
    json_array_append(out, d);
  }
  return IDP_OK;
}

typedef struct dwalk {
  const char *root;
  char root_real[PATH_MAX];
  bool recurse;
  const char *include, *exclude;
  json_t *out;
  size_t files;
} dwalk;

static idp_code walk_dir(dwalk *w, const char *rel, int depth, idp_err *e) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s%s%s", w->root, *rel ? "/" : "", rel);
  DIR *d = opendir(path);
  if (!d) {
    if (errno == ENOENT || errno == ENOTDIR)
      return idp_err_set(e, IDP_ENOTFOUND, "%s: no such directory", path);
    return idp_err_set(e, IDP_EIO, "%s: %s", path, strerror(errno));
  }
  size_t n = 0, cap = 0;
  char **names = NULL;
  idp_code rc = IDP_OK;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.') continue; /* ".", "..", hidden (.git) */
    if (n == cap) {
      cap = cap ? cap * 2 : 32;
      char **nn = realloc(names, cap * sizeof *nn);
      if (!nn) {
        rc = idp_err_set(e, IDP_ENOMEM, "out of memory");
        break;
      }
      names = nn;
    }
    names[n] = strdup(de->d_name);
    if (!names[n]) {
      rc = idp_err_set(e, IDP_ENOMEM, "out of memory");
      break;
    }
    n++;
  }
  closedir(d);
  if (!rc) idp_sort(names, n, sizeof *names, cmp_names);
  for (size_t i = 0; i < n && !rc; i++) {
    char crel[PATH_MAX], cpath[PATH_MAX];
    snprintf(crel, sizeof crel, "%s%s%s", rel, *rel ? "/" : "", names[i]);
    snprintf(cpath, sizeof cpath, "%s/%s", w->root, crel);
    struct stat st;
    if (lstat(cpath, &st) == 0 && S_ISLNK(st.st_mode)) {
      /* as Argo CD: a symlink may not lead out of the source directory */
      char target[PATH_MAX];
      size_t rl = strlen(w->root_real);
      if (!realpath(cpath, target)) continue; /* dangling */
      if (strncmp(target, w->root_real, rl) || (target[rl] != '/' && target[rl] != '\0')) {
        rc = idp_err_set(e, IDP_EFORBIDDEN, "%s: illegal symlink out of the source directory",
                         cpath);
        break;
      }
    }
    if (stat(cpath, &st) != 0) continue; /* dangling symlink */
    if (S_ISDIR(st.st_mode)) {
      if (!w->recurse) continue;
      if (depth >= RENDER_MAX_DEPTH) {
        rc = idp_err_set(e, IDP_EINVAL, "%s: directories nested too deep", cpath);
        break;
      }
      rc = walk_dir(w, crel, depth + 1, e);
      continue;
    }
    if (!S_ISREG(st.st_mode)) continue;
    bool json = has_ext(names[i], ".json");
    if (!json && !has_ext(names[i], ".yaml") && !has_ext(names[i], ".yml")) {
      if (has_ext(names[i], ".jsonnet") &&
          !(w->exclude && *w->exclude && idp_render_glob_match(w->exclude, crel)) &&
          (!w->include || !*w->include || idp_render_glob_match(w->include, crel)))
        rc = idp_err_set(e, IDP_EUNSUPPORTED, "%s: jsonnet is not supported", cpath);
      continue;
    }
    if (w->exclude && *w->exclude && idp_render_glob_match(w->exclude, crel)) continue;
    if (w->include && *w->include && !idp_render_glob_match(w->include, crel)) continue;
    if (++w->files > RENDER_MAX_FILES) {
      rc = idp_err_set(e, IDP_ETOOLARGE, "%s: more than %d manifest files", w->root,
                       RENDER_MAX_FILES);
      break;
    }
    json_t *docs = NULL;
    rc = idp_yaml_load_file(cpath, NULL, &docs, e);
    if (!rc) rc = add_docs(w->out, docs, cpath, e);
    json_decref(docs);
  }
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  return rc;
}

idp_code idp_render_directory(const char *dir, bool recurse, const char *include,
                              const char *exclude, json_t **objects, idp_err *e) {
  *objects = NULL;
  dwalk w = {dir, "", recurse, include, exclude, json_array(), 0};
  if (!realpath(dir, w.root_real)) {
    json_decref(w.out);
    if (errno == ENOENT || errno == ENOTDIR)
      return idp_err_set(e, IDP_ENOTFOUND, "%s: no such directory", dir);
    return idp_err_set(e, IDP_EIO, "%s: %s", dir, strerror(errno));
  }
  idp_code rc = walk_dir(&w, "", 0, e);
  if (rc) {
    json_decref(w.out);
    return rc;
  }
  *objects = w.out;
  return IDP_OK;
}

/* ------------------------------------------------------------ helm */

static idp_code render_helm(const char *dir, const json_t *source, const char *app_name,
                            const char *dest_ns, json_t **objects, idp_err *e) {
  const json_t *h = json_object_get(source, "helm");
  const char *release = idp_json_get_str(h, "releaseName", NULL);
  if (!release) release = app_name;
  const char *ns = idp_json_get_str(h, "namespace", NULL);
  if (!ns) ns = dest_ns;
  /* Argo CD value files are relative to the chart's path */
  json_t *vf = json_array();
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(h, "valueFiles"), i, v) {
    if (!json_is_string(v)) continue;
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", dir, json_string_value(v));
    struct stat st;
    if (stat(p, &st) != 0 && json_is_true(json_object_get(h, "ignoreMissingValueFiles")))
      continue;
    json_array_append_new(vf, json_string(p));
  }
  const json_t *vo = json_object_get(h, "valuesObject");
  idp_helm_args a = {
      .chart_dir = dir,
      .release = release,
      .namespace_ = ns,
      .value_files = vf,
      .values = json_is_object(vo) ? vo : NULL,
      .values_text = json_is_object(vo) ? NULL : idp_json_get_str(h, "values", NULL),
      .parameters = json_object_get(h, "parameters"),
      .include_crds = !json_is_true(json_object_get(h, "skipCrds")),
      .kube_version = idp_json_get_str(h, "kubeVersion", NULL),
      .api_versions = json_object_get(h, "apiVersions"),
  };
  idp_code rc = idp_helm_template(&a, objects, e);
  json_decref(vf);
  return rc;
}

/* ------------------------------------------------------------ path */

idp_code idp_render_path(const char *dir, const json_t *source, json_t **objects, idp_err *e) {
  return idp_render_app_path(dir, source, NULL, NULL, objects, e);
}

idp_code idp_render_app_path(const char *dir, const json_t *source, const char *app_name,
                             const char *dest_namespace, json_t **objects, idp_err *e) {
  *objects = NULL;
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
    return idp_err_set(e, IDP_ENOTFOUND, "%s: app path does not exist", dir);
  char chart[PATH_MAX];
  snprintf(chart, sizeof chart, "%s/Chart.yaml", dir);
  bool is_kust = idp_kustomize_is_dir(dir);
  bool is_helm = stat(chart, &st) == 0;
  const json_t *d = json_object_get(source, "directory");
  if (d && !json_is_null(d) && (is_kust || is_helm))
    return idp_err_set(e, IDP_EINVAL,
                       "%s: application source has 'directory' but the path holds a %s; remove "
                       "'directory' from the source",
                       dir, is_kust ? "kustomization" : "Helm chart");
  if (is_kust) {
    const json_t *k = json_object_get(source, "kustomize");
    return idp_kustomize_build_with(dir, json_is_object(k) ? k : NULL, objects, e);
  }
  if (is_helm) return render_helm(dir, source, app_name, dest_namespace, objects, e);
  const char *inc = idp_json_get_str(d, "include", NULL);
  const char *exc = idp_json_get_str(d, "exclude", NULL);
  bool recurse = json_is_true(json_object_get(d, "recurse"));
  return idp_render_directory(dir, recurse, inc, exc, objects, e);
}
