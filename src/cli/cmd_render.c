/* cmd_render.c: `idp render` — print what a source directory renders to
 * (native kustomize, helm template, or plain manifests), as a CI step or to
 * check a GitOps repository before pushing. */
#include "core/common.h"

#include "core/buf.h"
#include "core/json.h"
#include "core/yaml.h"
#include "gitops/render.h"

static int usage(void) {
  fprintf(stderr,
          "usage: idp render PATH [--app FILE] [--path P] [-o yaml|json]\n"
          "  PATH        a directory: kustomization, Helm chart or plain manifests\n"
          "  --app FILE  an Argo CD Application manifest; renders PATH/<path> of its\n"
          "              spec.source (or of each spec.sources entry with a path; the last\n"
          "              source defining an object wins) with the source's directory,\n"
          "              kustomize and helm options\n"
          "  --path P    render PATH/P\n"
          "  -o FORMAT   yaml (default, multi-document) or json (an array)\n");
  return 2;
}

/* Loads the Application: *sources a new array (spec.source, or the
 * spec.sources that have a path), name and destination namespace copied. */
static int load_app(const char *file, json_t **sources, char *name, size_t nn, char *ns,
                    size_t nsn) {
  json_t *docs = NULL;
  idp_err e = IDP_ERR_INIT;
  if (idp_yaml_load_file(file, NULL, &docs, &e)) {
    fprintf(stderr, "idp render: %s\n", e.msg);
    return 1;
  }
  json_t *app = NULL;
  size_t i;
  json_t *d;
  json_array_foreach(docs, i, d) {
    const char *kind = idp_json_get_str(d, "kind", NULL);
    if (kind && !strcmp(kind, "Application")) {
      app = d;
      break;
    }
  }
  if (!app) {
    fprintf(stderr, "idp render: %s: no Application in the file\n", file);
    json_decref(docs);
    return 1;
  }
  json_t *out = json_array();
  json_t *src = idp_json_get(app, "spec", "source", NULL);
  if (json_is_object(src)) {
    json_array_append(out, src);
  } else {
    /* multiple sources: those with a path render; a `ref`-only source just
     * names a repository for $ref value files */
    json_array_foreach(idp_json_get(app, "spec", "sources", NULL), i, d) {
      if (json_is_object(d) && json_object_get(d, "path")) json_array_append(out, d);
    }
  }
  if (!json_array_size(out)) {
    fprintf(stderr, "idp render: %s: Application has no spec.source with a path\n", file);
    json_decref(out);
    json_decref(docs);
    return 1;
  }
  const char *n = idp_json_get_str(app, "metadata", "name", NULL);
  const char *dn = idp_json_get_str(app, "spec", "destination", "namespace", NULL);
  snprintf(name, nn, "%s", n ? n : "");
  snprintf(ns, nsn, "%s", dn ? dn : "");
  *sources = out;
  json_decref(docs);
  return 0;
}

/* group/kind/namespace/name of an object, for "the last source wins". */
static void obj_key(const json_t *o, char *out, size_t n) {
  const char *av = idp_json_get_str(o, "apiVersion", NULL);
  const char *slash = av ? strchr(av, '/') : NULL;
  snprintf(out, n, "%.*s|%s|%s|%s", slash ? (int)(slash - av) : 0, av ? av : "",
           idp_json_get_str(o, "kind", NULL) ? idp_json_get_str(o, "kind", NULL) : "",
           idp_json_get_str(o, "metadata", "namespace", NULL)
               ? idp_json_get_str(o, "metadata", "namespace", NULL)
               : "",
           idp_json_get_str(o, "metadata", "name", NULL)
               ? idp_json_get_str(o, "metadata", "name", NULL)
               : "");
}

int cmd_render(int argc, char **argv) {
  const char *root = NULL, *app = NULL, *sub = NULL, *fmt = "yaml";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--app") && i + 1 < argc) app = argv[++i];
    else if (!strcmp(argv[i], "--path") && i + 1 < argc) sub = argv[++i];
    else if (!strcmp(argv[i], "-o") && i + 1 < argc) fmt = argv[++i];
    else if (!strncmp(argv[i], "-o", 2) && argv[i][2]) fmt = argv[i] + 2;
    else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return usage() - 2;
    else if (argv[i][0] == '-' || root) return usage();
    else root = argv[i];
  }
  if (!root || (strcmp(fmt, "yaml") && strcmp(fmt, "json"))) return usage();
  json_t *sources = NULL;
  char app_name[256] = "", dest_ns[256] = "";
  if (app && load_app(app, &sources, app_name, sizeof app_name, dest_ns, sizeof dest_ns))
    return 1;
  if (!sources) {
    sources = json_array();
    json_array_append_new(sources, json_object());
  }
  size_t rl = strlen(root);
  while (rl > 1 && root[rl - 1] == '/') rl--; /* "dir/" names files as "dir//x" otherwise */
  json_t *objs = json_array();
  json_t *seen = json_object(); /* key -> index in objs */
  size_t si;
  json_t *source;
  json_array_foreach(sources, si, source) {
    const char *p = sub ? sub : idp_json_get_str(source, "path", NULL);
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s%s%s", (int)rl, root, p && *p ? "/" : "", p && *p ? p : "");
    json_t *part = NULL;
    idp_err e = IDP_ERR_INIT;
    if (idp_render_app_path(dir, source, *app_name ? app_name : NULL, *dest_ns ? dest_ns : NULL,
                            &part, &e)) {
      fprintf(stderr, "idp render: %s\n", e.msg);
      json_decref(objs);
      json_decref(seen);
      json_decref(sources);
      return 1;
    }
    size_t i;
    json_t *o;
    json_array_foreach(part, i, o) {
      char key[1024];
      obj_key(o, key, sizeof key);
      json_t *at = json_object_get(seen, key);
      if (at) { /* Argo CD: the last source defining an object wins */
        json_array_set(objs, (size_t)json_integer_value(at), o);
      } else {
        json_object_set_new(seen, key, json_integer((json_int_t)json_array_size(objs)));
        json_array_append(objs, o);
      }
    }
    json_decref(part);
  }
  json_decref(seen);
  json_decref(sources);
  idp_err e = IDP_ERR_INIT;
  int status = 0;
  if (!strcmp(fmt, "json")) {
    char *s = json_dumps(objs, JSON_INDENT(2));
    if (s) {
      fputs(s, stdout);
      fputc('\n', stdout);
      free(s);
    } else {
      status = 1;
    }
  } else {
    idp_buf b;
    idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
    if (idp_yaml_emit_stream(&b, objs, IDP_YAML_SORT_KEYS, &e)) {
      fprintf(stderr, "idp render: %s\n", e.msg);
      status = 1;
    } else {
      fwrite(b.data ? b.data : "", 1, b.len, stdout);
    }
    idp_buf_free(&b);
  }
  json_decref(objs);
  if (fflush(stdout)) status = 1;
  return status;
}
