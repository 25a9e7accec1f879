/* jsonpatch.c: RFC 6901 JSON pointers and RFC 6902 JSON patch. */
#include "core/common.h"
#include "patch/patch.h"

/* Kubernetes caps a JSON patch at 10000 operations (maxJSONPatchOperations). */
#define JSONPATCH_MAX_OPS 10000
#define POINTER_MAX_DEPTH 256

/* A parsed pointer: tokens are unescaped copies. */
typedef struct pointer {
  char *tok[POINTER_MAX_DEPTH];
  size_t n;
} pointer;

static void pointer_free(pointer *p) {
  for (size_t i = 0; i < p->n; i++) free(p->tok[i]);
  p->n = 0;
}

/* false on a syntax error (no leading '/', bad ~ escape, too deep). */
static bool pointer_parse(const char *s, pointer *p) {
  p->n = 0;
  if (*s == '\0') return true;
  if (*s != '/') return false;
  s++;
  for (;;) {
    if (p->n == POINTER_MAX_DEPTH) goto bad;
    size_t n = strcspn(s, "/");
    char *t = malloc(n + 1);
    if (!t) goto bad;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
      if (s[i] == '~') {
        if (i + 1 < n && s[i + 1] == '0') t[o++] = '~';
        else if (i + 1 < n && s[i + 1] == '1') t[o++] = '/';
        else {
          free(t);
          goto bad;
        }
        i++;
      } else {
        t[o++] = s[i];
      }
    }
    t[o] = '\0';
    p->tok[p->n++] = t;
    if (s[n] == '\0') return true;
    s += n + 1;
  }
bad:
  pointer_free(p);
  return false;
}

/* Array index token: digits without leading zeros and within size_t. */
static bool parse_index(const char *t, size_t *out) {
  if (!*t || (t[0] == '0' && t[1])) return false;
  size_t v = 0;
  for (const char *c = t; *c; c++) {
    if (*c < '0' || *c > '9') return false;
    if (v > (SIZE_MAX - 9) / 10) return false;
    v = v * 10 + (size_t)(*c - '0');
  }
  *out = v;
  return true;
}

static json_t *step(const json_t *cur, const char *tok) {
  if (json_is_object(cur)) return json_object_get(cur, tok);
  if (json_is_array(cur)) {
    size_t i;
    if (!parse_index(tok, &i)) return NULL;
    return json_array_get(cur, i);
  }
  return NULL;
}

static json_t *walk(const json_t *doc, const pointer *p, size_t upto) {
  const json_t *cur = doc;
  for (size_t i = 0; cur && i < upto; i++) cur = step(cur, p->tok[i]);
  return (json_t *)cur;
}

json_t *idp_json_pointer_get(const json_t *doc, const char *ptr) {
  pointer p;
  if (!doc || !ptr || !pointer_parse(ptr, &p)) return NULL;
  json_t *v = walk(doc, &p, p.n);
  pointer_free(&p);
  return v;
}

/* ---- operations on a private copy ------------------------------------ */

typedef struct opctx {
  size_t index;
  const char *op;
  const char *path;
  idp_err *e;
} opctx;

static idp_code op_fail(const opctx *c, idp_code code, const char *what) {
  return idp_err_set(c->e, code, "json patch operation %zu (%s %s): %s", c->index,
                     c->op ? c->op : "?", c->path ? c->path : "?", what);
}

/* Steals value. */
static idp_code do_add(json_t **doc, const char *path, json_t *value, const opctx *c) {
  pointer p;
  if (!pointer_parse(path, &p)) {
    json_decref(value);
    return op_fail(c, IDP_EINVAL, "malformed JSON pointer");
  }
  idp_code rc = IDP_OK;
  if (p.n == 0) {
    json_decref(*doc);
    *doc = value;
    return IDP_OK;
  }
  json_t *parent = walk(*doc, &p, p.n - 1);
  const char *last = p.tok[p.n - 1];
  if (json_is_object(parent)) {
    json_object_set_new(parent, last, value);
  } else if (json_is_array(parent)) {
    size_t i;
    if (strcmp(last, "-") == 0) {
      json_array_append_new(parent, value);
    } else if (!parse_index(last, &i)) {
      json_decref(value);
      rc = op_fail(c, IDP_EINVALID, "invalid array index");
    } else if (i > json_array_size(parent)) {
      json_decref(value);
      rc = op_fail(c, IDP_EINVALID, "array index out of range");
    } else {
      json_array_insert_new(parent, i, value);
    }
  } else {
    json_decref(value);
    rc = op_fail(c, IDP_EINVALID, parent ? "parent is not an object or array"
                                          : "path not found");
  }
  pointer_free(&p);
  return rc;
}

/* Detaches the value at path; *removed gets the reference when non-NULL. */
static idp_code do_remove(json_t *doc, const char *path, json_t **removed, const opctx *c,
                          const char *role) {
  char what[64];
  pointer p;
  if (!pointer_parse(path, &p)) return op_fail(c, IDP_EINVAL, "malformed JSON pointer");
  if (p.n == 0) return op_fail(c, IDP_EINVALID, "cannot remove the whole document");
  json_t *parent = walk(doc, &p, p.n - 1);
  json_t *v = parent ? step(parent, p.tok[p.n - 1]) : NULL;
  idp_code rc = IDP_OK;
  if (!v) {
    snprintf(what, sizeof what, "%s not found", role);
    rc = op_fail(c, IDP_EINVALID, what);
  } else {
    if (removed) *removed = json_incref(v);
    if (json_is_object(parent)) {
      json_object_del(parent, p.tok[p.n - 1]);
    } else {
      size_t i = 0;
      parse_index(p.tok[p.n - 1], &i);
      json_array_remove(parent, i);
    }
  }
  pointer_free(&p);
  return rc;
}

static const char *member_str(const json_t *op, const char *k) {
  return json_string_value(json_object_get(op, k));
}

static idp_code apply_op(json_t **doc, const json_t *op, opctx *c) {
  if (!json_is_object(op)) return op_fail(c, IDP_EINVAL, "operation is not an object");
  c->op = member_str(op, "op");
  c->path = member_str(op, "path");
  if (!c->op) return op_fail(c, IDP_EINVAL, "missing or non-string \"op\"");
  if (!c->path) return op_fail(c, IDP_EINVAL, "missing or non-string \"path\"");
  const json_t *value = json_object_get(op, "value");
  const char *from = member_str(op, "from");
  bool needs_value = !strcmp(c->op, "add") || !strcmp(c->op, "replace") ||
                     !strcmp(c->op, "test");
  bool needs_from = !strcmp(c->op, "move") || !strcmp(c->op, "copy");
  if (!needs_value && !needs_from && strcmp(c->op, "remove") != 0)
    return op_fail(c, IDP_EINVAL, "unknown operation");
  if (needs_value && !value) return op_fail(c, IDP_EINVAL, "missing \"value\"");
  if (needs_from && !from) return op_fail(c, IDP_EINVAL, "missing or non-string \"from\"");
  pointer chk;
  if (!pointer_parse(c->path, &chk)) return op_fail(c, IDP_EINVAL, "malformed JSON pointer");
  pointer_free(&chk);
  if (from) {
    if (!pointer_parse(from, &chk)) return op_fail(c, IDP_EINVAL, "malformed \"from\" pointer");
    pointer_free(&chk);
  }

  if (!strcmp(c->op, "add")) return do_add(doc, c->path, json_deep_copy(value), c);
  if (!strcmp(c->op, "remove")) return do_remove(*doc, c->path, NULL, c, "path");
  if (!strcmp(c->op, "replace")) {
    if (c->path[0] == '\0') {
      json_decref(*doc);
      *doc = json_deep_copy(value);
      return IDP_OK;
    }
    idp_code rc = do_remove(*doc, c->path, NULL, c, "path");
    if (rc) return rc;
    return do_add(doc, c->path, json_deep_copy(value), c);
  }
  if (!strcmp(c->op, "test")) {
    json_t *cur = idp_json_pointer_get(*doc, c->path);
    if (!cur) return op_fail(c, IDP_EINVALID, "path not found");
    if (!idp_json_equal(cur, value)) return op_fail(c, IDP_EINVALID, "test failed");
    return IDP_OK;
  }
  json_t *src = idp_json_pointer_get(*doc, from);
  if (!src) return op_fail(c, IDP_EINVALID, "\"from\" not found");
  if (!strcmp(c->op, "copy")) return do_add(doc, c->path, json_deep_copy(src), c);
  /* move: a location cannot be moved into one of its own children. */
  size_t fl = strlen(from);
  if (strncmp(c->path, from, fl) == 0 && c->path[fl] == '/')
    return op_fail(c, IDP_EINVALID, "cannot move a value into itself");
  if (strcmp(c->path, from) == 0) return IDP_OK;
  json_t *moved = NULL;
  if (from[0] == '\0') return op_fail(c, IDP_EINVALID, "cannot move the whole document");
  idp_code rc = do_remove(*doc, from, &moved, c, "\"from\"");
  if (rc) return rc;
  return do_add(doc, c->path, moved, c);
}

idp_code idp_json_patch(const json_t *target, const json_t *ops, json_t **out, idp_err *e) {
  *out = NULL;
  if (!json_is_array(ops))
    return idp_err_set(e, IDP_EINVAL, "json patch: the patch must be a JSON array of operations");
  if (json_array_size(ops) > JSONPATCH_MAX_OPS)
    return idp_err_set(e, IDP_EINVAL, "json patch: %zu operations exceed the limit of %d",
                       json_array_size(ops), JSONPATCH_MAX_OPS);
  json_t *doc = target ? json_deep_copy(target) : json_null();
  size_t i;
  json_t *op;
  json_array_foreach(ops, i, op) {
    opctx c = {i, NULL, NULL, e};
    idp_code rc = apply_op(&doc, op, &c);
    if (rc) {
      json_decref(doc);
      return rc;
    }
  }
  *out = doc;
  return IDP_OK;
}
