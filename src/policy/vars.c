/* vars.c: Kyverno variable substitution.
 *
 * `{{ expr }}` in string leaves and map keys is a JMESPath query against the
 * context.  A string that is exactly one variable takes the typed result;
 * otherwise results are interpolated as text (fmt %v).  Variables nest
 * inner-first (`{{ a.{{ b }} }}`), `\{{` is left alone, `{{ @ }}` is the
 * value at the same path of request.object, and on DELETE request.object
 * reads request.oldObject.  A failed query is an error naming the variable
 * and the path, except in conditions (preconditions, deny) where an
 * unresolved variable reads as "". */
#include "core/common.h"

#include "core/buf.h"
#include "core/json.h"
#include "policy/internal.h"

#define MAX_NEST 16
#define MAX_PATH 64

typedef struct {
  const json_t *ctx;
  pol_vars_mode mode;
  bool is_delete;
  const char *path[MAX_PATH];
  size_t depth;
  idp_err *e;
} subst;

bool pol_has_vars(const char *s) {
  const char *p = strstr(s, "{{");
  while (p) {
    if (p == s || p[-1] != '\\') return strstr(p + 2, "}}") != NULL;
    p = strstr(p + 2, "{{");
  }
  return false;
}

static void path_text(const subst *st, idp_buf *b) {
  for (size_t i = 0; i < st->depth && i < MAX_PATH; i++) {
    idp_buf_addc(b, '/');
    idp_buf_adds(b, st->path[i]);
  }
  if (!st->depth) idp_buf_addc(b, '/');
}

/* Replaces every occurrence of `from` in `s` by `to` (new string). */
static char *replace_all(const char *s, const char *from, const char *to) {
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  size_t fl = strlen(from);
  const char *p = s, *q;
  while ((q = strstr(p, from))) {
    idp_buf_add(&b, p, (size_t)(q - p));
    idp_buf_adds(&b, to);
    p = q + fl;
  }
  idp_buf_adds(&b, p);
  char *r = idp_buf_detach(&b, NULL);
  return r ? r : strdup("");
}

/* JMESPath path of the current leaf under request.object, for {{@}}. */
static char *at_path(const subst *st) {
  idp_buf b;
  idp_buf_init(&b, 1 << 16);
  idp_buf_adds(&b, "request.object");
  for (size_t i = 0; i < st->depth && i < MAX_PATH; i++) {
    const char *seg = st->path[i];
    const char *k;
    size_t n;
    if (pol_anchor_parse(seg, &k, &n) == POL_A_NONE) {
      k = seg;
      n = strlen(seg);
    }
    char *end;
    strtoll(seg, &end, 10);
    if (*seg && !*end)
      idp_buf_printf(&b, "[%s]", seg);
    else
      idp_buf_printf(&b, ".\"%.*s\"", (int)n, k);
  }
  char *r = idp_buf_detach(&b, NULL);
  return r ? r : strdup("request.object");
}

static json_t *resolve(subst *st, const char *raw, bool *failed) {
  /* trim */
  while (*raw == ' ' || *raw == '\t' || *raw == '\n') raw++;
  size_t n = strlen(raw);
  while (n && (raw[n - 1] == ' ' || raw[n - 1] == '\t' || raw[n - 1] == '\n')) n--;
  char *name = strndup(raw, n);
  if (!name) return *failed = true, NULL;
  if (name[0] == '-') { /* {{- x }}: shallow, same query */
    memmove(name, name + 1, strlen(name));
  }
  if (strcmp(name, "@") == 0) {
    char *ap = at_path(st);
    free(name);
    name = ap;
  }
  if (st->is_delete && strstr(name, "request.object")) {
    char *r = replace_all(name, "request.object", "request.oldObject");
    free(name);
    name = r;
  }
  json_t *out = NULL;
  idp_err le = IDP_ERR_INIT;
  pol_jp_rc rc = pol_jp_eval(name, st->ctx, &out, &le);
  if (rc != POL_JP_OK && st->mode == POL_VARS_PRECONDITION) {
    /* conditions read an unresolved variable as "" (Kyverno's
     * preconditions resolver, also used for deny conditions) */
    free(name);
    return json_string("");
  }
  if (rc != POL_JP_OK) {
    idp_buf b;
    idp_buf_init(&b, 4096);
    path_text(st, &b);
    idp_err_set(st->e, IDP_EINVALID, "failed to resolve %s at path %s: %s", name,
                idp_buf_str(&b), le.msg);
    idp_buf_free(&b);
    free(name);
    *failed = true;
    return NULL;
  }
  free(name);
  return out;
}

/* Interpolation: strings as they are, anything else as JSON with sorted
 * keys (Go's json.Marshal of the untyped value). */
static void append_value(idp_buf *b, const json_t *v) {
  if (json_is_string(v)) {
    idp_buf_add(b, json_string_value(v), json_string_length(v));
    return;
  }
  char *s = json_is_number(v) ? pol_sprint(v)
                              : json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
  idp_buf_adds(b, s ? s : "");
  free(s);
}

/* Substitutes one string; new reference or NULL on failure. */
static json_t *subst_string(subst *st, const char *value) {
  if (!strstr(value, "{{")) return json_string(value);
  size_t len = strlen(value);
  idp_buf out, stack[MAX_NEST];
  idp_buf_init(&out, IDP_BUF_DEFAULT_MAX);
  size_t sp = 0;
  bool dirty = false;
  json_t *result = NULL;
  for (size_t i = 0; i < len; i++) {
    char c = value[i];
    if (sp == 0) {
      if (c == '\\' && value[i + 1] == '{' && value[i + 2] == '{') {
        /* escaped \{{...}}: kept as literal text, the backslash dropped */
        const char *close = strstr(value + i + 3, "}}");
        size_t n = close ? (size_t)(close + 2 - (value + i + 1)) : 2;
        idp_buf_add(&out, value + i + 1, n);
        i += n;
        dirty = true;
        continue;
      }
      if (c == '{' && value[i + 1] == '{') {
        idp_buf_init(&stack[sp++], IDP_BUF_DEFAULT_MAX);
        i++;
        continue;
      }
      idp_buf_addc(&out, c);
      dirty = true;
      continue;
    }
    /* inside a variable */
    if (c == '{' && value[i + 1] == '{') {
      if (sp == MAX_NEST) goto fail_depth;
      idp_buf_init(&stack[sp++], IDP_BUF_DEFAULT_MAX);
      i++;
      continue;
    }
    if (c == '}' && value[i + 1] == '}') {
      i++;
      bool failed = false;
      json_t *v = resolve(st, idp_buf_str(&stack[sp - 1]), &failed);
      idp_buf_free(&stack[--sp]);
      if (failed) goto fail;
      if (sp > 0) {
        append_value(&stack[sp - 1], v);
        json_decref(v);
        continue;
      }
      if (!dirty && i == len - 1) {
        result = v;
        goto done;
      }
      append_value(&out, v);
      json_decref(v);
      dirty = true;
      continue;
    }
    idp_buf_addc(&stack[sp - 1], c);
  }
  if (sp > 0) { /* unterminated: keep the text as written */
    idp_buf_free(&out);
    for (size_t k = 0; k < sp; k++) idp_buf_free(&stack[k]);
    return json_string(value);
  }
  result = json_stringn(out.data ? out.data : "", out.len);
done:
  idp_buf_free(&out);
  return result;
fail_depth:
  idp_err_set(st->e, IDP_EINVALID, "variables nested deeper than %d", MAX_NEST);
fail:
  idp_buf_free(&out);
  for (size_t k = 0; k < sp; k++) idp_buf_free(&stack[k]);
  return NULL;
}

static json_t *walk(subst *st, const json_t *doc) {
  if (json_is_string(doc)) return subst_string(st, json_string_value(doc));
  if (json_is_array(doc)) {
    json_t *a = json_array();
    for (size_t i = 0; i < json_array_size(doc); i++) {
      char idx[24];
      snprintf(idx, sizeof idx, "%zu", i);
      if (st->depth < MAX_PATH) st->path[st->depth] = idx;
      st->depth++;
      json_t *v = walk(st, json_array_get(doc, i));
      st->depth--;
      if (!v) {
        json_decref(a);
        return NULL;
      }
      json_array_append_new(a, v);
    }
    return a;
  }
  if (json_is_object(doc)) {
    json_t *o = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)doc, k, v) {
      if (st->depth < MAX_PATH) st->path[st->depth] = k;
      st->depth++;
      json_t *nv = walk(st, v);
      json_t *nk = nv && strstr(k, "{{") ? subst_string(st, k) : NULL;
      st->depth--;
      if (!nv || (strstr(k, "{{") && !nk)) {
        json_decref(nv);
        json_decref(nk);
        json_decref(o);
        return NULL;
      }
      if (nk) {
        char *ks = json_is_string(nk) ? strdup(json_string_value(nk)) : pol_sprint(nk);
        json_object_set_new(o, ks ? ks : "", nv);
        free(ks);
        json_decref(nk);
      } else {
        json_object_set_new(o, k, nv);
      }
    }
    return o;
  }
  return doc ? json_deep_copy(doc) : json_null();
}

/* True when some string or key below v holds "{{". */
static bool any_vars(const json_t *v) {
  if (json_is_string(v)) return strstr(json_string_value(v), "{{") != NULL;
  if (json_is_array(v)) {
    for (size_t i = 0; i < json_array_size(v); i++)
      if (any_vars(json_array_get(v, i))) return true;
    return false;
  }
  if (json_is_object(v)) {
    const char *k;
    json_t *c;
    json_object_foreach((json_t *)v, k, c) {
      if (strstr(k, "{{") || any_vars(c)) return true;
    }
  }
  return false;
}

json_t *pol_subst(const json_t *doc, const json_t *ctx, pol_vars_mode mode, idp_err *e) {
  /* documents without variables are shared, not copied: callers treat the
   * result as read-only */
  if (!doc) return json_null();
  if (!any_vars(doc)) return json_incref((json_t *)doc);
  subst st = {.ctx = ctx, .mode = mode, .e = e};
  const char *op = idp_json_get_str(ctx, "request", "operation", NULL);
  st.is_delete = op && strcmp(op, "DELETE") == 0;
  return walk(&st, doc);
}
