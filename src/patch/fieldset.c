/* fieldset.c: field-path sets in FieldsV1 shape (see internal.h). */
#include "core/common.h"
#include "core/buf.h"
#include "patch/internal.h"

#define FS_MAX_DEPTH 256

bool fs_is_member(const json_t *node) { return json_object_get(node, ".") != NULL; }

void fs_mark(json_t *node) {
  if (!fs_is_member(node)) json_object_set_new(node, ".", json_object());
}

void fs_unmark(json_t *node) { json_object_del(node, "."); }

json_t *fs_child(json_t *node, const char *pe) {
  json_t *c = json_object_get(node, pe);
  if (!c) {
    c = json_object();
    json_object_set_new(node, pe, c);
  }
  return c;
}

bool fs_is_empty(const json_t *s) { return !s || json_object_size(s) == 0; }

bool fs_compact(json_t *s) {
  const char *k;
  json_t *v;
  void *tmp;
  json_object_foreach_safe(s, tmp, k, v) {
    if (strcmp(k, ".") == 0) continue;
    if (fs_compact(v)) json_object_del(s, k);
  }
  return json_object_size(s) == 0;
}

json_t *fs_union(const json_t *a, const json_t *b) {
  json_t *out = a ? json_deep_copy(a) : json_object();
  if (!b) return out;
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)b, k, v) {
    if (strcmp(k, ".") == 0) {
      fs_mark(out);
      continue;
    }
    json_t *u = fs_union(json_object_get(out, k), v);
    json_object_set_new(out, k, u);
  }
  return out;
}

json_t *fs_difference(const json_t *a, const json_t *b) {
  json_t *out = json_object();
  if (!a) return out;
  if (fs_is_member(a) && !(b && fs_is_member(b))) fs_mark(out);
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)a, k, v) {
    if (strcmp(k, ".") == 0) continue;
    json_t *d = fs_difference(v, b ? json_object_get(b, k) : NULL);
    if (json_object_size(d)) json_object_set_new(out, k, d);
    else json_decref(d);
  }
  return out;
}

json_t *fs_intersection(const json_t *a, const json_t *b) {
  json_t *out = json_object();
  if (!a || !b) return out;
  if (fs_is_member(a) && fs_is_member(b)) fs_mark(out);
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)a, k, v) {
    if (strcmp(k, ".") == 0) continue;
    json_t *bv = json_object_get(b, k);
    if (!bv) continue;
    json_t *d = fs_intersection(v, bv);
    if (json_object_size(d)) json_object_set_new(out, k, d);
    else json_decref(d);
  }
  return out;
}

static bool valid_pe(const char *k) {
  return strlen(k) >= 2 && k[1] == ':' && strchr("fkvi", k[0]) != NULL;
}

static idp_code from_v1(const json_t *v, const char *what, int depth, json_t **out, idp_err *e) {
  if (!json_is_object(v))
    return idp_err_set(e, IDP_EINVAL, "managedFields %s: fieldsV1 nodes must be objects", what);
  if (depth > FS_MAX_DEPTH)
    return idp_err_set(e, IDP_EINVAL, "managedFields %s: fieldsV1 nested too deeply", what);
  json_t *n = json_object();
  if (json_object_size(v) == 0) fs_mark(n);
  const char *k;
  json_t *c;
  json_object_foreach((json_t *)v, k, c) {
    if (strcmp(k, ".") == 0) {
      fs_mark(n);
      continue;
    }
    if (!valid_pe(k)) {
      json_decref(n);
      return idp_err_set(e, IDP_EINVAL, "managedFields %s: invalid fieldsV1 key \"%.64s\"",
                         what, k);
    }
    json_t *cn = NULL;
    idp_code rc = from_v1(c, what, depth + 1, &cn, e);
    if (rc) {
      json_decref(n);
      return rc;
    }
    json_object_set_new(n, k, cn);
  }
  *out = n;
  return IDP_OK;
}

idp_code fs_from_fieldsv1(const json_t *v, const char *what, json_t **out, idp_err *e) {
  *out = NULL;
  if (!v || json_is_null(v)) {
    *out = json_object();
    return IDP_OK;
  }
  json_t *root = NULL;
  idp_code rc = from_v1(v, what, 0, &root, e);
  if (rc) return rc;
  /* The root of FieldsV1 is the object itself, never a member. */
  fs_unmark(root);
  fs_compact(root);
  *out = root;
  return IDP_OK;
}

/* Children order of structured-merge-diff: fields, keys, values, indices. */
static int pe_rank(const char *k) {
  switch (k[0]) {
  case 'f': return 0;
  case 'k': return 1;
  case 'v': return 2;
  default: return 3;
  }
}

static int pe_cmp(const void *pa, const void *pb) {
  const char *a = *(const char *const *)pa, *b = *(const char *const *)pb;
  int ra = pe_rank(a), rb = pe_rank(b);
  if (ra != rb) return ra - rb;
  if (ra == 3) {
    long long ia = strtoll(a + 2, NULL, 10), ib = strtoll(b + 2, NULL, 10);
    return ia < ib ? -1 : ia > ib;
  }
  return strcmp(a, b);
}

json_t *fs_to_fieldsv1(const json_t *s) {
  json_t *out = json_object();
  size_t n = json_object_size(s);
  if (fs_is_member(s) && n > 1) json_object_set_new(out, ".", json_object());
  const char **keys = n ? malloc(n * sizeof *keys) : NULL;
  size_t m = 0;
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)s, k, v) {
    if (strcmp(k, ".") != 0 && keys) keys[m++] = k;
  }
  if (m) idp_sort(keys, m, sizeof *keys, pe_cmp);
  for (size_t i = 0; i < m; i++)
    json_object_set_new(out, keys[i], fs_to_fieldsv1(json_object_get(s, keys[i])));
  free(keys);
  return out;
}

/* Appends the text form of one path element. */
static void pe_text(idp_buf *b, const char *pe) {
  const char *rest = pe + 2;
  if (pe[0] == 'f') {
    idp_buf_printf(b, ".%s", rest);
  } else if (pe[0] == 'i') {
    idp_buf_printf(b, "[%s]", rest);
  } else if (pe[0] == 'v') {
    idp_buf_printf(b, "[=%s]", rest);
  } else {
    json_t *key = json_loads(rest, JSON_DECODE_ANY, NULL);
    idp_buf_addc(b, '[');
    if (json_is_object(key)) {
      const char *k;
      json_t *v;
      bool first = true;
      json_object_foreach(key, k, v) {
        char *val = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        idp_buf_printf(b, "%s%s=%s", first ? "" : ",", k, val ? val : "");
        free(val);
        first = false;
      }
    } else {
      idp_buf_adds(b, rest);
    }
    idp_buf_addc(b, ']');
    json_decref(key);
  }
}

static int walk_members(const json_t *s, idp_buf *b, int (*fn)(const char *, void *),
                        void *arg) {
  if (fs_is_member(s)) {
    int r = fn(idp_buf_str(b), arg);
    if (r) return r;
  }
  size_t n = json_object_size(s), m = 0;
  const char **keys = n ? malloc(n * sizeof *keys) : NULL;
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)s, k, v) {
    if (strcmp(k, ".") != 0 && keys) keys[m++] = k;
  }
  if (m) idp_sort(keys, m, sizeof *keys, pe_cmp);
  int r = 0;
  for (size_t i = 0; i < m && !r; i++) {
    size_t mark = b->len;
    pe_text(b, keys[i]);
    r = walk_members(json_object_get(s, keys[i]), b, fn, arg);
    b->len = mark;
    if (b->data) b->data[mark] = '\0';
  }
  free(keys);
  return r;
}

int fs_foreach_member(const json_t *s, int (*fn)(const char *path, void *arg), void *arg) {
  idp_buf b;
  idp_buf_init(&b, 1 << 20);
  int r = walk_members(s, &b, fn, arg);
  idp_buf_free(&b);
  return r;
}
