/* kustomize_repl.c: `replacements` (kustomize's ReplacementTransformer).
 *
 * Each replacement copies one value, found at source.fieldPath (default
 * metadata.name) of the single resource the source selects (exact
 * group/version/kind/name/namespace, current or previous id), into the
 * fieldPaths of every resource a target selects (anchored regexes, label
 * and annotation selectors) and no `reject` entry matches.  Field paths are
 * dot-separated; "[key=value]" picks list items by a field, "[=value]" a
 * primitive item, a number an index, "*" every item.  A missing target
 * field is an error unless options.create.  A scalar target keeps its type
 * and takes the source's text (kustomize copies only the YAML value, not
 * the tag); options.delimiter/index splice a part of a string. */
#include "core/common.h"

#include <sys/stat.h>

#include "core/json.h"
#include "core/yaml.h"
#include "gitops/kustomize_int.h"
#include "kube/selector.h"

#define RP_MAX_SEGS 64

/* SmarterPathSplitter: '.' separates, except inside [...]. */
static int split_path(const char *fp, char *buf, size_t bn, char **segs) {
  int n = 0, depth = 0;
  size_t o = 0;
  if (strlen(fp) + 1 > bn) return -1;
  segs[n++] = buf;
  for (const char *p = fp; *p; p++) {
    if (*p == '[') depth++;
    if (*p == ']' && depth > 0) depth--;
    if (*p == '.' && depth == 0) {
      buf[o++] = '\0';
      if (n == RP_MAX_SEGS) return -1;
      segs[n++] = buf + o;
    } else {
      buf[o++] = *p;
    }
  }
  buf[o] = '\0';
  return n;
}

/* Text of a scalar as YAML would print it (what kustomize copies). */
static bool scalar_text(const json_t *v, char *out, size_t n) {
  switch (json_typeof(v)) {
  case JSON_STRING:
    snprintf(out, n, "%s", json_string_value(v));
    return true;
  case JSON_INTEGER:
    snprintf(out, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return true;
  case JSON_REAL:
    snprintf(out, n, "%.17g", json_real_value(v));
    return true;
  case JSON_TRUE:
    snprintf(out, n, "true");
    return true;
  case JSON_FALSE:
    snprintf(out, n, "false");
    return true;
  case JSON_NULL:
    snprintf(out, n, "null");
    return true;
  default:
    return false;
  }
}

/* A scalar of the target's type holding `text`. */
static json_t *typed_like(const json_t *target, const char *text) {
  char *end;
  switch (json_typeof(target)) {
  case JSON_INTEGER: {
    errno = 0;
    long long v = strtoll(text, &end, 0);
    if (!*end && end != text && !errno) return json_integer(v);
    break;
  }
  case JSON_REAL: {
    double d = strtod(text, &end);
    if (!*end && end != text) return json_real(d);
    break;
  }
  case JSON_TRUE:
  case JSON_FALSE:
    if (!strcmp(text, "true")) return json_true();
    if (!strcmp(text, "false")) return json_false();
    break;
  default:
    break;
  }
  return json_string(text);
}

typedef struct rpctx {
  const json_t *value; /* source value */
  const json_t *opts;  /* target options */
  bool create;
  int hits;
} rpctx;

static idp_code set_slot(rpctx *c, json_t *parent, const char *key, size_t idx, idp_err *e) {
  json_t *cur = key ? json_object_get(parent, key) : json_array_get(parent, idx);
  json_t *nv;
  const char *delim = idp_json_get_str(c->opts, "delimiter", NULL);
  if (delim && *delim) {
    char tv[8192], sv[4096];
    if (!cur || !scalar_text(cur, tv, sizeof tv) || json_is_null(cur))
      return idp_err_set(e, IDP_EINVAL, "delimiter option can only be used with scalar nodes");
    if (!scalar_text(c->value, sv, sizeof sv))
      return idp_err_set(e, IDP_EINVAL, "delimiter option can only be used with scalar nodes");
    json_int_t index = json_integer_value(json_object_get(c->opts, "index"));
    /* split tv by delim, splice sv at index (prefix when < 0, suffix past
     * the end), join */
    json_t *parts = json_array();
    size_t dl = strlen(delim);
    const char *p = tv;
    for (;;) {
      const char *q = strstr(p, delim);
      if (!q) {
        json_array_append_new(parts, json_string(p));
        break;
      }
      json_array_append_new(parts, json_stringn(p, (size_t)(q - p)));
      p = q + dl;
    }
    if (index < 0)
      json_array_insert_new(parts, 0, json_string(sv));
    else if ((size_t)index >= json_array_size(parts))
      json_array_append_new(parts, json_string(sv));
    else
      json_array_set_new(parts, (size_t)index, json_string(sv));
    char joined[16384];
    size_t o = 0;
    size_t i;
    json_t *x;
    joined[0] = '\0';
    json_array_foreach(parts, i, x) {
      int w = snprintf(joined + o, sizeof joined - o, "%s%s", i ? delim : "", json_string_value(x));
      if (w < 0 || (size_t)w >= sizeof joined - o) break;
      o += (size_t)w;
    }
    json_decref(parts);
    nv = typed_like(cur, joined);
  } else if (cur && !json_is_object(cur) && !json_is_array(cur) && !json_is_null(cur) &&
             !json_is_object(c->value) && !json_is_array(c->value)) {
    char sv[8192];
    scalar_text(c->value, sv, sizeof sv);
    nv = typed_like(cur, sv);
  } else {
    nv = json_deep_copy(c->value);
  }
  if (key)
    json_object_set_new(parent, key, nv);
  else
    json_array_set_new(parent, idx, nv);
  c->hits++;
  return IDP_OK;
}

static bool item_matches(const json_t *el, const char *k, size_t kl, const char *v) {
  char buf[4096];
  if (kl == 0) return scalar_text(el, buf, sizeof buf) && !strcmp(buf, v);
  if (!json_is_object(el)) return false;
  char key[256];
  snprintf(key, sizeof key, "%.*s", (int)kl, k);
  const json_t *f = json_object_get(el, key);
  return f && scalar_text(f, buf, sizeof buf) && !strcmp(buf, v);
}

static bool is_index(const char *s) {
  if (!*s) return false;
  for (const char *p = s; *p; p++)
    if (*p < '0' || *p > '9') return false;
  return true;
}

/* Walks `node` along segs[i..]; the last segment is a slot to set. */
static idp_code walk(rpctx *c, json_t *node, char **segs, int n, int i, idp_err *e) {
  const char *seg = segs[i];
  bool last = i == n - 1;
  size_t sl = strlen(seg);
  if (seg[0] == '[' && sl >= 2 && seg[sl - 1] == ']') {
    if (!json_is_array(node)) return IDP_OK;
    const char *eq = memchr(seg + 1, '=', sl - 2);
    if (!eq) return idp_err_set(e, IDP_EINVAL, "invalid field path element '%s'", seg);
    char val[1024];
    snprintf(val, sizeof val, "%.*s", (int)(seg + sl - 1 - eq - 1), eq + 1);
    const char *k = seg + 1;
    size_t kl = (size_t)(eq - k);
    bool found = false;
    for (size_t j = 0; j < json_array_size(node); j++) {
      json_t *el = json_array_get(node, j);
      if (!item_matches(el, k, kl, val)) continue;
      found = true;
      idp_code rc = last ? set_slot(c, node, NULL, j, e) : walk(c, el, segs, n, i + 1, e);
      if (rc) return rc;
    }
    if (!found && c->create && kl > 0) {
      char key[256];
      snprintf(key, sizeof key, "%.*s", (int)kl, k);
      json_t *el = json_object();
      json_object_set_new(el, key, json_string(val));
      json_array_append_new(node, el);
      return last ? set_slot(c, node, NULL, json_array_size(node) - 1, e)
                  : walk(c, el, segs, n, i + 1, e);
    }
    return IDP_OK;
  }
  if (!strcmp(seg, "*")) {
    if (json_is_array(node)) {
      for (size_t j = 0; j < json_array_size(node); j++) {
        idp_code rc = last ? set_slot(c, node, NULL, j, e)
                           : walk(c, json_array_get(node, j), segs, n, i + 1, e);
        if (rc) return rc;
      }
    } else if (json_is_object(node)) {
      const char *k;
      json_t *v;
      void *tmp;
      json_object_foreach_safe(node, tmp, k, v) {
        idp_code rc = last ? set_slot(c, node, k, 0, e) : walk(c, v, segs, n, i + 1, e);
        if (rc) return rc;
      }
    }
    return IDP_OK;
  }
  if (json_is_array(node)) {
    if (!is_index(seg)) return IDP_OK;
    size_t j = (size_t)strtoull(seg, NULL, 10);
    if (j >= json_array_size(node)) return IDP_OK;
    return last ? set_slot(c, node, NULL, j, e) : walk(c, json_array_get(node, j), segs, n, i + 1, e);
  }
  if (!json_is_object(node)) return IDP_OK;
  json_t *v = json_object_get(node, seg);
  if (last) {
    if (!v && !c->create) return IDP_OK;
    return set_slot(c, node, seg, 0, e);
  }
  if (!v || json_is_null(v)) {
    if (!c->create) return IDP_OK;
    v = segs[i + 1][0] == '[' ? json_array() : json_object();
    json_object_set_new(node, seg, v);
  }
  return walk(c, v, segs, n, i + 1, e);
}

/* Read-only lookup of the source value (first match). */
static const json_t *lookup(const json_t *node, char **segs, int n, int i) {
  if (i == n) return node;
  const char *seg = segs[i];
  size_t sl = strlen(seg);
  if (seg[0] == '[' && sl >= 2 && seg[sl - 1] == ']') {
    if (!json_is_array(node)) return NULL;
    const char *eq = memchr(seg + 1, '=', sl - 2);
    if (!eq) return NULL;
    char val[1024];
    snprintf(val, sizeof val, "%.*s", (int)(seg + sl - 1 - eq - 1), eq + 1);
    for (size_t j = 0; j < json_array_size(node); j++) {
      const json_t *el = json_array_get(node, j);
      if (item_matches(el, seg + 1, (size_t)(eq - seg - 1), val))
        return lookup(el, segs, n, i + 1);
    }
    return NULL;
  }
  if (json_is_array(node)) {
    if (!is_index(seg)) return NULL;
    return lookup(json_array_get(node, (size_t)strtoull(seg, NULL, 10)), segs, n, i + 1);
  }
  return lookup(json_object_get(node, seg), segs, n, i + 1);
}

/* Exact id selection over current and previous ids (IsSelectedBy). */
static bool id_eq(const char *want, const char *have) { return !want || !*want || !strcmp(want, have); }

static bool source_selects(const json_t *src, const kres *r) {
  const char *k = idp_json_get_str(src, "kind", NULL), *nm = idp_json_get_str(src, "name", NULL);
  const char *ns = idp_json_get_str(src, "namespace", NULL);
  char rg[256], rv[128];
  kres_gv(r, rg, sizeof rg, rv, sizeof rv);
  if (!id_eq(idp_json_get_str(src, "group", NULL), rg) ||
      !id_eq(idp_json_get_str(src, "version", NULL), rv))
    return false;
  if (id_eq(k, kres_kind(r)) && id_eq(nm, kres_name(r)) && (!ns || !*ns || ns_equal(ns, kres_ns(r))))
    return true;
  size_t i;
  json_t *t;
  json_array_foreach(r->prev, i, t) {
    if (id_eq(k, json_string_value(json_array_get(t, 0))) &&
        id_eq(nm, json_string_value(json_array_get(t, 1))) &&
        (!ns || !*ns || ns_equal(ns, json_string_value(json_array_get(t, 2)))))
      return true;
  }
  return false;
}

static const char *str_or(const json_t *o, const char *key) {
  const char *s = idp_json_get_str(o, key, NULL);
  return s ? s : "";
}

/* Regex selection (Select / Reject) against the current and previous ids,
 * plus label and annotation selectors. */
static idp_code id_regex_selects(const json_t *sel, const kres *r, const char *kind,
                                 const char *name, const char *ns, bool *ok, idp_err *e) {
  char g[256], v[128];
  kres_gv(r, g, sizeof g, v, sizeof v);
  const char *fields[5][2] = {{"group", g}, {"version", v}, {"kind", kind},
                              {"name", name}, {"namespace", ns}};
  *ok = false;
  for (int i = 0; i < 5; i++) {
    bool m;
    idp_code rc = kx_regex_match(idp_json_get_str(sel, fields[i][0], NULL), fields[i][1], &m, e);
    if (rc) return rc;
    if (!m) return IDP_OK;
  }
  *ok = true;
  return IDP_OK;
}

static idp_code any_id_selects(const json_t *sel, const kres *r, bool *ok, idp_err *e) {
  idp_code rc = id_regex_selects(sel, r, kres_kind(r), kres_name(r), kres_ns(r), ok, e);
  if (rc || *ok) return rc;
  size_t i;
  json_t *t;
  json_array_foreach(r->prev, i, t) {
    rc = id_regex_selects(sel, r, json_string_value(json_array_get(t, 0)),
                          json_string_value(json_array_get(t, 1)),
                          json_string_value(json_array_get(t, 2)), ok, e);
    if (rc || *ok) return rc;
  }
  return IDP_OK;
}

static idp_code meta_selects(const json_t *sel, const kres *r, bool *ok, idp_err *e) {
  const char *keys[2] = {"labelSelector", "annotationSelector"};
  const char *maps[2] = {"labels", "annotations"};
  *ok = true;
  for (int i = 0; i < 2 && *ok; i++) {
    const char *text = idp_json_get_str(sel, keys[i], NULL);
    if (!text || !*text) continue;
    idp_selector *s = NULL;
    idp_code rc = idp_selector_parse(text, &s, e);
    if (rc) return rc;
    *ok = idp_selector_matches(s, idp_json_get(r->obj, "metadata", maps[i], NULL));
    idp_selector_free(s);
  }
  return IDP_OK;
}

static idp_code one_replacement(kset *s, const json_t *rp, const char *where, idp_err *e) {
  const json_t *src = json_object_get(rp, "source");
  const json_t *targets = json_object_get(rp, "targets");
  if (!json_is_object(src) || !json_is_array(targets))
    return idp_err_set(e, IDP_EINVAL, "%s: replacements must specify a source and at least one "
                       "target", where);
  kres *found = NULL;
  for (size_t i = 0; i < s->n; i++) {
    if (!source_selects(src, s->v[i])) continue;
    if (found)
      return idp_err_set(e, IDP_EINVALID, "%s: multiple matches for replacement source %s %s",
                         where, str_or(src, "kind"), str_or(src, "name"));
    found = s->v[i];
  }
  if (!found)
    return idp_err_set(e, IDP_EINVALID, "%s: nothing selected by replacement source %s %s", where,
                       str_or(src, "kind"), str_or(src, "name"));
  const char *sfp = idp_json_get_str(src, "fieldPath", NULL);
  if (!sfp || !*sfp) sfp = "metadata.name";
  char buf[2048];
  char *segs[RP_MAX_SEGS];
  int n = split_path(sfp, buf, sizeof buf, segs);
  if (n < 0) return idp_err_set(e, IDP_EINVAL, "%s: source fieldPath too long", where);
  const json_t *val = lookup(found->obj, segs, n, 0);
  if (!val || json_is_null(val) || (json_is_object(val) && !json_object_size(val)) ||
      (json_is_array(val) && !json_array_size(val)) ||
      (json_is_string(val) && !json_string_length(val)))
    return idp_err_set(e, IDP_EINVALID, "%s: fieldPath `%s` is missing for replacement source %s "
                       "%s", where, sfp, kres_kind(found), kres_name(found));
  json_t *value = json_deep_copy(val);
  const json_t *sopts = json_object_get(src, "options");
  const char *sdelim = idp_json_get_str(sopts, "delimiter", NULL);
  if (sdelim && *sdelim) {
    char text[8192];
    if (json_is_object(value) || json_is_array(value) || !scalar_text(value, text, sizeof text)) {
      json_decref(value);
      return idp_err_set(e, IDP_EINVAL, "%s: delimiter option can only be used with scalar nodes",
                         where);
    }
    json_int_t index = json_integer_value(json_object_get(sopts, "index"));
    json_t *parts = json_array();
    size_t dl = strlen(sdelim);
    for (const char *p = text;;) {
      const char *q = strstr(p, sdelim);
      json_array_append_new(parts, q ? json_stringn(p, (size_t)(q - p)) : json_string(p));
      if (!q) break;
      p = q + dl;
    }
    if (index < 0 || (size_t)index >= json_array_size(parts)) {
      json_decref(parts);
      json_decref(value);
      return idp_err_set(e, IDP_EINVAL, "%s: options.index %" JSON_INTEGER_FORMAT
                         " is out of bounds for value %s", where, index, text);
    }
    json_decref(value);
    value = json_string(json_string_value(json_array_get(parts, (size_t)index)));
    json_decref(parts);
  }
  idp_code rc = IDP_OK;
  size_t ti;
  json_t *t;
  json_array_foreach(targets, ti, t) {
    const json_t *sel = json_object_get(t, "select");
    if (!json_is_object(sel)) {
      rc = idp_err_set(e, IDP_EINVAL, "%s: target must specify resources to select", where);
      break;
    }
    const json_t *fps = json_object_get(t, "fieldPaths");
    json_t *deffp = NULL;
    if (!json_array_size(fps)) fps = deffp = json_pack("[s]", "metadata.name");
    rpctx c = {value, json_object_get(t, "options"),
               json_is_true(idp_json_get(t, "options", "create", NULL)), 0};
    for (size_t i = 0; i < s->n && !rc; i++) {
      kres *r = s->v[i];
      bool ok;
      if ((rc = meta_selects(sel, r, &ok, e)) || !ok) continue;
      if ((rc = any_id_selects(sel, r, &ok, e)) || !ok) continue;
      bool rejected = false;
      size_t ri;
      json_t *rej;
      json_array_foreach(json_object_get(t, "reject"), ri, rej) {
        bool m1, m2;
        if ((rc = any_id_selects(rej, r, &m1, e))) break;
        if ((rc = meta_selects(rej, r, &m2, e))) break;
        if (m1 && m2) rejected = true;
      }
      if (rc || rejected) continue;
      size_t fi;
      json_t *fp;
      json_array_foreach(fps, fi, fp) {
        const char *path = json_string_value(fp);
        if (!path) continue;
        char tb[2048];
        char *ts[RP_MAX_SEGS];
        int tn = split_path(path, tb, sizeof tb, ts);
        if (tn < 0) {
          rc = idp_err_set(e, IDP_EINVAL, "%s: fieldPath too long", where);
          break;
        }
        c.hits = 0;
        if ((rc = walk(&c, r->obj, ts, tn, 0, e))) break;
        if (!c.hits) {
          rc = idp_err_set(e, IDP_EINVALID, "%s: unable to %s field \"%s\" in replacement target "
                           "%s %s", where, c.create ? "find or create" : "find", path,
                           kres_kind(r), kres_name(r));
          break;
        }
      }
    }
    json_decref(deffp);
    if (rc) break;
  }
  json_decref(value);
  return rc;
}

idp_code krepl_run(kset *s, const char *dir, const json_t *kust, const char *kpath, idp_err *e) {
  json_t *list = json_object_get(kust, "replacements");
  if (!list || json_is_null(list)) return IDP_OK;
  if (!json_is_array(list))
    return idp_err_set(e, IDP_EINVAL, "%s: replacements must be a list", kpath);
  size_t i;
  json_t *it;
  json_array_foreach(list, i, it) {
    char where[PATH_MAX + 64];
    snprintf(where, sizeof where, "%s: replacements[%zu]", kpath, i);
    const char *path = idp_json_get_str(it, "path", NULL);
    idp_code rc;
    if (path) {
      char p[PATH_MAX];
      if ((rc = kfile_resolve(dir, path, p, sizeof p, kpath, "replacements", e))) return rc;
      json_t *docs = NULL;
      if ((rc = idp_yaml_load_file(p, &kz_yaml_limits, &docs, e))) {
        idp_err_prefix(e, "%s", where);
        return rc;
      }
      size_t j;
      json_t *d;
      json_array_foreach(docs, j, d) {
        if (json_is_array(d)) {
          size_t k;
          json_t *x;
          json_array_foreach(d, k, x) if ((rc = one_replacement(s, x, where, e))) break;
        } else if (json_is_object(d)) {
          rc = one_replacement(s, d, where, e);
        }
        if (rc) break;
      }
      json_decref(docs);
    } else {
      rc = one_replacement(s, it, where, e);
    }
    if (rc) return rc;
  }
  return IDP_OK;
}
