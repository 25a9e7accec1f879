#include "core/common.h"

#include "core/json.h"
#include "gitops/app/diff.h"
#include "patch/patch.h"

static void split_av(const char *av, char *group, size_t gn) {
  const char *slash = av ? strchr(av, '/') : NULL;
  if (!slash) {
    if (gn) group[0] = 0;
    return;
  }
  snprintf(group, gn, "%.*s", (int)(slash - av), av);
}

void idp_app_tracking_id(const char *instance, const json_t *obj, char *out, size_t n) {
  char group[256];
  split_av(idp_json_get_str(obj, "apiVersion", NULL), group, sizeof group);
  const char *kind = idp_json_get_str(obj, "kind", NULL);
  const char *ns = idp_json_get_str(obj, "metadata", "namespace", NULL);
  const char *name = idp_json_get_str(obj, "metadata", "name", NULL);
  snprintf(out, n, "%s:%s/%s:%s/%s", instance, group, kind ? kind : "", ns ? ns : "",
           name ? name : "");
}

static bool cut(const char **p, char sep, char *out, size_t n) {
  const char *s = strchr(*p, sep);
  if (!s) return false;
  if (out && n) snprintf(out, n, "%.*s", (int)(s - *p), *p);
  *p = s + 1;
  return true;
}

bool idp_app_tracking_parse(const char *id, char *app, size_t an, char *group, size_t gn,
                            char *kind, size_t kn, char *ns, size_t nn, char *name, size_t mn) {
  if (!id) return false;
  const char *p = id;
  if (!cut(&p, ':', app, an) || !cut(&p, '/', group, gn) || !cut(&p, ':', kind, kn) ||
      !cut(&p, '/', ns, nn))
    return false;
  if (name && mn) snprintf(name, mn, "%s", p);
  return *p != 0;
}

json_t *idp_app_normalize(const json_t *obj) {
  json_t *c = json_deep_copy(obj);
  if (!c) return NULL;
  json_object_del(c, "status");
  json_t *md = json_object_get(c, "metadata");
  static const char *const server_fields[] = {
      "uid",           "resourceVersion", "generation",        "creationTimestamp",
      "managedFields", "selfLink",        "deletionTimestamp", "deletionGracePeriodSeconds"};
  for (size_t i = 0; md && i < IDP_ARRAY_LEN(server_fields); i++)
    json_object_del(md, server_fields[i]);
  json_t *ann = json_object_get(md, "annotations");
  if (ann) {
    json_object_del(ann, IDP_APP_LAST_APPLIED);
    if (json_object_size(ann) == 0) json_object_del(md, "annotations");
  }
  if (md && json_object_size(json_object_get(md, "labels")) == 0) json_object_del(md, "labels");
  /* Secrets: stringData is write-only sugar for data. */
  const char *kind = json_string_value(json_object_get(c, "kind"));
  json_t *sd = json_object_get(c, "stringData");
  if (kind && strcmp(kind, "Secret") == 0 && json_is_object(sd)) {
    json_t *data = idp_json_child_object(c, "data");
    const char *k;
    json_t *v;
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    json_object_foreach(sd, k, v) {
      const unsigned char *s = (const unsigned char *)json_string_value(v);
      if (!s) continue;
      size_t l = strlen((const char *)s);
      char *enc = malloc(4 * ((l + 2) / 3) + 1);
      if (!enc) continue;
      size_t o = 0;
      for (size_t i = 0; i < l; i += 3) {
        unsigned v3 = (unsigned)s[i] << 16 | (i + 1 < l ? (unsigned)s[i + 1] << 8 : 0) |
                      (i + 2 < l ? s[i + 2] : 0);
        enc[o++] = b64[v3 >> 18 & 63];
        enc[o++] = b64[v3 >> 12 & 63];
        enc[o++] = i + 1 < l ? b64[v3 >> 6 & 63] : '=';
        enc[o++] = i + 2 < l ? b64[v3 & 63] : '=';
      }
      enc[o] = 0;
      json_object_set_new(data, k, json_string(enc));
      free(enc);
    }
    json_object_del(c, "stringData");
  }
  return c;
}

/* Decodes one RFC 6901 token (~1 -> /, ~0 -> ~). */
static void unescape_token(const char *s, size_t n, char *out, size_t on) {
  size_t o = 0;
  for (size_t i = 0; i < n && o + 1 < on; i++) {
    if (s[i] == '~' && i + 1 < n && (s[i + 1] == '0' || s[i + 1] == '1')) {
      out[o++] = s[i + 1] == '0' ? '~' : '/';
      i++;
    } else {
      out[o++] = s[i];
    }
  }
  out[o] = 0;
}

bool idp_json_pointer_remove(json_t *doc, const char *pointer) {
  if (!pointer || pointer[0] != '/') return false;
  json_t *cur = doc;
  const char *p = pointer + 1;
  char tok[512];
  for (;;) {
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    unescape_token(p, n, tok, sizeof tok);
    if (!slash) {
      if (json_is_object(cur)) return json_object_del(cur, tok) == 0;
      if (json_is_array(cur)) {
        char *end;
        long long i = strtoll(tok, &end, 10);
        return *tok && !*end && i >= 0 && json_array_remove(cur, (size_t)i) == 0;
      }
      return false;
    }
    if (json_is_object(cur)) {
      cur = json_object_get(cur, tok);
    } else if (json_is_array(cur)) {
      char *end;
      long long i = strtoll(tok, &end, 10);
      cur = (*tok && !*end && i >= 0) ? json_array_get(cur, (size_t)i) : NULL;
    } else {
      return false;
    }
    if (!cur) return false;
    p = slash + 1;
  }
}

/* ".spec.replicas" / ".metadata.annotations[\"a/b\"]" -> removes it. */
static void jq_path_remove(json_t *doc, const char *expr) {
  char ptr[1024];
  size_t o = 0;
  const char *p = expr;
  while (*p && o + 2 < sizeof ptr) {
    if (*p == '.') {
      p++;
      if (*p == '[') continue;
      ptr[o++] = '/';
      while (*p && *p != '.' && *p != '[' && o + 2 < sizeof ptr) {
        if (*p == '/') { /* keys with '/' only in the bracket form */
          return;
        }
        ptr[o++] = *p++;
      }
    } else if (p[0] == '[' && p[1] == '"') {
      const char *q = strchr(p + 2, '"');
      if (!q || q[1] != ']') return;
      ptr[o++] = '/';
      for (const char *c = p + 2; c < q && o + 3 < sizeof ptr; c++) {
        if (*c == '/') {
          ptr[o++] = '~';
          ptr[o++] = '1';
        } else if (*c == '~') {
          ptr[o++] = '~';
          ptr[o++] = '0';
        } else {
          ptr[o++] = *c;
        }
      }
      p = q + 2;
    } else {
      return; /* not a simple path: not supported, ignored */
    }
  }
  ptr[o] = 0;
  if (o > 0) idp_json_pointer_remove(doc, ptr);
}

/* Removes from obj what a managedFields FieldsV1 set covers. */
static void fields_remove(json_t *obj, const json_t *fields) {
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)fields, k, v) {
    if (strncmp(k, "f:", 2) == 0 && json_is_object(obj)) {
      json_t *child = json_object_get(obj, k + 2);
      if (!child) continue;
      if (json_object_size(v) == 0 || (json_object_size(v) == 1 && json_object_get(v, ".")))
        json_object_del(obj, k + 2);
      else
        fields_remove(child, v);
    } else if (strncmp(k, "k:", 2) == 0 && json_is_array(obj)) {
      json_t *key = json_loads(k + 2, 0, NULL);
      size_t i;
      json_t *item;
      json_array_foreach(obj, i, item) {
        const char *kk;
        json_t *kv;
        bool match = json_is_object(key);
        json_object_foreach(key, kk, kv) {
          json_t *iv = json_object_get(item, kk);
          if (!iv || !json_equal(iv, kv)) match = false;
        }
        if (match) fields_remove(item, v);
      }
      json_decref(key);
    }
  }
}

static void parse_group(const json_t *obj, char *group, size_t n) {
  split_av(idp_json_get_str(obj, "apiVersion", NULL), group, n);
}

void idp_app_apply_ignores(json_t *obj, const json_t *ignores, const json_t *live) {
  char group[256];
  parse_group(obj, group, sizeof group);
  const char *kind = idp_json_get_str(obj, "kind", NULL);
  const char *name = idp_json_get_str(obj, "metadata", "name", NULL);
  const char *ns = idp_json_get_str(obj, "metadata", "namespace", NULL);
  size_t i;
  json_t *ig;
  json_array_foreach(ignores, i, ig) {
    const char *g = json_string_value(json_object_get(ig, "group"));
    const char *k = json_string_value(json_object_get(ig, "kind"));
    const char *n = json_string_value(json_object_get(ig, "name"));
    const char *s = json_string_value(json_object_get(ig, "namespace"));
    if (!idp_wildcard_match(g ? g : "", group) || !k || !kind || !idp_wildcard_match(k, kind))
      continue;
    if (n && *n && (!name || strcmp(n, name) != 0)) continue;
    if (s && *s && (!ns || strcmp(s, ns) != 0)) continue;
    size_t j;
    json_t *x;
    json_array_foreach(json_object_get(ig, "jsonPointers"), j, x)
      idp_json_pointer_remove(obj, json_string_value(x));
    json_array_foreach(json_object_get(ig, "jqPathExpressions"), j, x) {
      const char *ex = json_string_value(x);
      if (ex) jq_path_remove(obj, ex);
    }
    json_t *mgrs = json_object_get(ig, "managedFieldsManagers");
    json_t *mf = live ? idp_json_get(live, "metadata", "managedFields", NULL) : NULL;
    json_array_foreach(mgrs, j, x) {
      size_t m;
      json_t *entry;
      json_array_foreach(mf, m, entry) {
        const char *mgr = json_string_value(json_object_get(entry, "manager"));
        if (mgr && json_string_value(x) && strcmp(mgr, json_string_value(x)) == 0)
          fields_remove(obj, json_object_get(entry, "fieldsV1"));
      }
    }
  }
}

static void path_add(char *why, size_t n, const char *base, const char *seg, long idx) {
  if (!why || !n) return;
  if (seg)
    snprintf(why, n, "%s.%s", base, seg);
  else
    snprintf(why, n, "%s[%ld]", base, idx);
}

/* Metadata the server sets or kubectl keeps: never drift, never needs the
 * last-applied configuration to be explained. */
static bool server_only(const char *path, const char *k) {
  static const char *const meta[] = {"uid",
                                     "resourceVersion",
                                     "generation",
                                     "creationTimestamp",
                                     "managedFields",
                                     "selfLink",
                                     "deletionTimestamp",
                                     "deletionGracePeriodSeconds",
                                     "ownerReferences",
                                     "finalizers"};
  if (strcmp(path, ".metadata") == 0) {
    for (size_t i = 0; i < IDP_ARRAY_LEN(meta); i++)
      if (strcmp(k, meta[i]) == 0) return true;
  } else if (strcmp(path, ".metadata.annotations") == 0) {
    return strcmp(k, IDP_APP_LAST_APPLIED) == 0;
  } else if (*path == 0) {
    return strcmp(k, "status") == 0;
  }
  return false;
}

typedef struct cmp_ctx {
  char *why;
  size_t n;
  bool live_only; /* live had a field desired lacks (last-applied decides) */
} cmp_ctx;

/* Every field of d equals l; fields only in l count when `last` had them
 * (last NULL: they are noted in c->live_only). */
static bool subset_eq(const json_t *d, const json_t *l, const json_t *last, const char *path,
                      cmp_ctx *c) {
  char sub[512];
  if (json_is_object(d) && json_is_object(l)) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)d, k, v) {
      if (!*path && strcmp(k, "status") == 0) continue;
      json_t *lv = json_object_get(l, k);
      path_add(sub, sizeof sub, path, k, 0);
      if (json_is_null(v) && !lv) continue;
      if (!lv) {
        /* an empty map or list in Git equals a field the server dropped */
        if ((json_is_object(v) && json_object_size(v) == 0) ||
            (json_is_array(v) && json_array_size(v) == 0))
          continue;
        snprintf(c->why, c->n, "%s", sub);
        return false;
      }
      if (!subset_eq(v, lv, last ? json_object_get(last, k) : NULL, sub, c)) return false;
    }
    json_object_foreach((json_t *)l, k, v) {
      if (json_object_get(d, k) || server_only(path, k)) continue;
      if (json_is_object(last) && json_object_get(last, k)) {
        path_add(c->why, c->n, path, k, 0);
        return false;
      }
      if (!last) c->live_only = true;
    }
    return true;
  }
  if (json_is_array(d) && json_is_array(l)) {
    if (json_array_size(d) != json_array_size(l)) {
      snprintf(c->why, c->n, "%s", path);
      return false;
    }
    for (size_t i = 0; i < json_array_size(d); i++) {
      path_add(sub, sizeof sub, path, NULL, (long)i);
      if (!subset_eq(json_array_get(d, i), json_array_get(l, i),
                     json_is_array(last) ? json_array_get(last, i) : NULL, sub, c))
        return false;
    }
    return true;
  }
  if (idp_json_equal(d, l)) return true;
  snprintf(c->why, c->n, "%s", *path ? path : ".");
  return false;
}

static bool needs_normalize(const json_t *o) {
  const char *kind = idp_json_get_str(o, "kind", NULL);
  return kind && strcmp(kind, "Secret") == 0 && json_object_get(o, "stringData");
}

bool idp_app_compare(const json_t *desired, const json_t *live, const json_t *ignores, char *why,
                     size_t n) {
  char dummy[8];
  if (!why || !n) {
    why = dummy;
    n = sizeof dummy;
  }
  why[0] = 0;
  if (!live) {
    snprintf(why, n, "missing");
    return false;
  }
  /* Copies only when something must be rewritten first; the common case
   * compares the objects as they are (this runs for every object of every
   * Application on every reconcile). */
  bool copy = json_array_size(ignores) > 0 || needs_normalize(desired);
  json_t *d = copy ? idp_app_normalize(desired) : json_incref((json_t *)desired);
  json_t *l = copy ? idp_app_normalize(live) : json_incref((json_t *)live);
  if (copy && ignores) {
    idp_app_apply_ignores(d, ignores, live);
    idp_app_apply_ignores(l, ignores, live);
  }
  cmp_ctx c = {why, n, false};
  bool eq = subset_eq(d, l, NULL, "", &c);
  const char *la = idp_json_get_str(live, "metadata", "annotations", IDP_APP_LAST_APPLIED, NULL);
  if (eq && c.live_only && la) {
    /* Fields only live has: drift when the last apply set them. */
    json_t *parsed = json_loads(la, 0, NULL);
    if (parsed) {
      json_t *last = idp_app_normalize(parsed);
      json_decref(parsed);
      if (ignores) idp_app_apply_ignores(last, ignores, live);
      eq = subset_eq(d, l, last, "", &c);
      json_decref(last);
    }
  }
  json_decref(d);
  json_decref(l);
  return eq;
}
