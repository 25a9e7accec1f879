/* interp.c: evaluates the AST over jansson values.  Results share subtrees
 * of the input by reference (json_incref); nothing is deep-copied.
 * Missing keys under JP_NOTFOUND_ERRORS travel up as IDP_ENOTFOUND and are
 * turned back into null by the constructs Kyverno's fork treats that way. */
#include "core/common.h"

#include <math.h>

#include "jmespath/internal.h"

/* ---- errors ---- */

static idp_code verr(idp_err *e, idp_code code, const char *cls, const char *fmt, va_list ap) {
  char msg[IDP_ERR_MSG_MAX];
  vsnprintf(msg, sizeof msg, fmt, ap);
  return idp_err_set(e, code, "jmespath %s: %s", cls, msg);
}

idp_code jp_err_e(idp_err *e, idp_code code, const char *cls, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  idp_code rc = verr(e, code, cls, fmt, ap);
  va_end(ap);
  return rc;
}

idp_code jp_err(jp_ctx *c, const char *cls, const char *fmt, ...) {
  idp_code code = IDP_EINVAL;
  if (strcmp(cls, "invalid-value") == 0 || strcmp(cls, "error") == 0) code = IDP_EINVALID;
  va_list ap;
  va_start(ap, fmt);
  idp_code rc = verr(c->e, code, cls, fmt, ap);
  va_end(ap);
  return rc;
}

const char *jp_error_class(const idp_err *e) {
  static const char *const classes[] = {"syntax", "invalid-type", "invalid-value",
                                        "invalid-arity", "unknown-function"};
  if (!e || e->code == IDP_OK) return NULL;
  const char *p = strstr(e->msg, "jmespath ");
  if (!p) return NULL;
  p += strlen("jmespath ");
  for (size_t i = 0; i < IDP_ARRAY_LEN(classes); i++) {
    size_t n = strlen(classes[i]);
    if (strncmp(p, classes[i], n) == 0 && p[n] == ':') return classes[i];
  }
  return NULL;
}

/* ---- values ---- */

const char *jp_type_name(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT: return "object";
  case JSON_ARRAY: return "array";
  case JSON_STRING: return "string";
  case JSON_INTEGER:
  case JSON_REAL: return "number";
  case JSON_TRUE:
  case JSON_FALSE: return "boolean";
  default: return "null";
  }
}

double jp_num(const json_t *v) {
  return json_is_integer(v) ? (double)json_integer_value(v) : json_real_value(v);
}

json_t *jp_num_new(double d) {
  if (isfinite(d) && d == floor(d) && fabs(d) <= 9007199254740992.0)
    return json_integer((json_int_t)d);
  return json_real(d);
}

int jp_num_cmp(const json_t *a, const json_t *b) {
  if (json_is_integer(a) && json_is_integer(b)) {
    json_int_t x = json_integer_value(a), y = json_integer_value(b);
    return (x > y) - (x < y);
  }
  double x = jp_num(a), y = jp_num(b);
  return (x > y) - (x < y);
}

bool jp_truthy(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT: return json_object_size(v) > 0;
  case JSON_ARRAY: return json_array_size(v) > 0;
  case JSON_STRING: return json_string_length(v) > 0;
  case JSON_FALSE:
  case JSON_NULL: return false;
  default: return true;
  }
}

bool jp_value_equal(const json_t *a, const json_t *b) {
  if (a == b) return true;
  if (!a || !b) return false;
  if (json_is_number(a) && json_is_number(b)) return jp_num_cmp(a, b) == 0;
  if (json_typeof(a) != json_typeof(b)) return false;
  switch (json_typeof(a)) {
  case JSON_STRING:
    return json_string_length(a) == json_string_length(b) &&
           memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
  case JSON_ARRAY: {
    size_t n = json_array_size(a);
    if (n != json_array_size(b)) return false;
    for (size_t i = 0; i < n; i++)
      if (!jp_value_equal(json_array_get(a, i), json_array_get(b, i))) return false;
    return true;
  }
  case JSON_OBJECT: {
    if (json_object_size(a) != json_object_size(b)) return false;
    const char *k;
    size_t kl;
    json_t *v;
    json_object_keylen_foreach((json_t *)a, k, kl, v) {
      if (!jp_value_equal(v, json_object_getn(b, k, kl))) return false;
    }
    return true;
  }
  default: return true; /* true, false, null */
  }
}

size_t jp_utf8_len(const char *s, size_t n) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++)
    if (((unsigned char)s[i] & 0xC0) != 0x80) c++;
  return c;
}

idp_code jp_num_text(idp_buf *b, double d) {
  if (!isfinite(d)) return idp_buf_adds(b, "null");
  if (d == 0) return idp_buf_adds(b, signbit(d) ? "-0" : "0");
  /* Shortest digits that read back as d, then Go's layout: plain decimal
   * for 1e-6 <= |d| < 1e21, exponent form otherwise. */
  char e[40];
  int prec;
  for (prec = 1; prec <= 17; prec++) {
    snprintf(e, sizeof e, "%.*e", prec - 1, d);
    if (strtod(e, NULL) == d) break;
  }
  char *ep = strchr(e, 'e');
  int exp10 = (int)strtol(ep + 1, NULL, 10);
  char digits[24];
  size_t nd = 0;
  for (const char *q = e; q < ep; q++)
    if (*q >= '0' && *q <= '9') digits[nd++] = *q;
  digits[nd] = '\0';
  idp_code rc = IDP_OK;
  if (d < 0) rc = idp_buf_addc(b, '-');
  double ad = fabs(d);
  if (ad < 1e-6 || ad >= 1e21) {
    rc = rc ? rc : idp_buf_addc(b, digits[0]);
    if (nd > 1) rc = rc ? rc : idp_buf_printf(b, ".%s", digits + 1);
    return rc ? rc : idp_buf_printf(b, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
  }
  if (exp10 < 0) {
    rc = rc ? rc : idp_buf_adds(b, "0.");
    for (int i = -1; i > exp10 && !rc; i--) rc = idp_buf_addc(b, '0');
    return rc ? rc : idp_buf_adds(b, digits);
  }
  for (int i = 0; i <= exp10 && !rc; i++) rc = idp_buf_addc(b, i < (int)nd ? digits[i] : '0');
  if (!rc && (int)nd > exp10 + 1) rc = idp_buf_printf(b, ".%s", digits + exp10 + 1);
  return rc;
}

static idp_code dump_string(idp_buf *b, const char *s, size_t n) {
  idp_code rc = idp_buf_addc(b, '"');
  for (size_t i = 0; i < n && !rc; i++) {
    unsigned char ch = (unsigned char)s[i];
    switch (ch) {
    case '"': rc = idp_buf_adds(b, "\\\""); break;
    case '\\': rc = idp_buf_adds(b, "\\\\"); break;
    case '\n': rc = idp_buf_adds(b, "\\n"); break;
    case '\r': rc = idp_buf_adds(b, "\\r"); break;
    case '\t': rc = idp_buf_adds(b, "\\t"); break;
    case '\b': rc = idp_buf_adds(b, "\\b"); break;
    case '\f': rc = idp_buf_adds(b, "\\f"); break;
    default:
      if (ch < 0x20) rc = idp_buf_printf(b, "\\u%04x", ch);
      else rc = idp_buf_addc(b, (char)ch);
    }
  }
  return rc ? rc : idp_buf_addc(b, '"');
}

idp_code jp_dump_buf(idp_buf *b, const json_t *v) {
  idp_code rc = IDP_OK;
  switch (json_typeof(v)) {
  case JSON_OBJECT: {
    rc = idp_buf_addc(b, '{');
    const char *k;
    size_t kl;
    json_t *x;
    bool first = true;
    json_object_keylen_foreach((json_t *)v, k, kl, x) {
      if (rc) break;
      if (!first) rc = idp_buf_addc(b, ',');
      first = false;
      rc = rc ? rc : dump_string(b, k, kl);
      rc = rc ? rc : idp_buf_addc(b, ':');
      rc = rc ? rc : jp_dump_buf(b, x);
    }
    return rc ? rc : idp_buf_addc(b, '}');
  }
  case JSON_ARRAY:
    rc = idp_buf_addc(b, '[');
    for (size_t i = 0; i < json_array_size(v) && !rc; i++) {
      if (i) rc = idp_buf_addc(b, ',');
      rc = rc ? rc : jp_dump_buf(b, json_array_get(v, i));
    }
    return rc ? rc : idp_buf_addc(b, ']');
  case JSON_STRING: return dump_string(b, json_string_value(v), json_string_length(v));
  case JSON_INTEGER: return idp_buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
  case JSON_REAL: return jp_num_text(b, json_real_value(v));
  case JSON_TRUE: return idp_buf_adds(b, "true");
  case JSON_FALSE: return idp_buf_adds(b, "false");
  default: return idp_buf_adds(b, "null");
  }
}

char *jp_to_json_text(const json_t *v) {
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  if (jp_dump_buf(&b, v) || idp_buf_add(&b, "", 0)) {
    idp_buf_free(&b);
    return NULL;
  }
  if (!b.data) return strdup("");
  return idp_buf_detach(&b, NULL);
}

/* ---- evaluation ---- */

#define OOM(c) JP_OOM(c)

static idp_code ev(jp_ctx *c, const jp_node *n, json_t *cur, json_t **out);

/* Evaluates where a missing key is plain null (Kyverno's fork). */
static idp_code ev_null(jp_ctx *c, const jp_node *n, json_t *cur, json_t **out) {
  idp_code rc = ev(c, n, cur, out);
  if (rc == IDP_ENOTFOUND) {
    *out = json_null();
    return IDP_OK;
  }
  return rc;
}

static idp_code ev_slice(jp_ctx *c, const jp_node *n, json_t *cur, json_t **out) {
  if (!json_is_array(cur)) {
    *out = json_null();
    return IDP_OK;
  }
  long long len = (long long)json_array_size(cur);
  long long step = n->has[2] ? n->slice[2] : 1;
  if (step == 0) return jp_err(c, "invalid-value", "slice step cannot be 0");
  long long start, stop;
  /* Python's slice.indices(). */
  if (!n->has[0]) {
    start = step < 0 ? len - 1 : 0;
  } else {
    start = n->slice[0];
    if (start < 0) {
      start += len;
      if (start < 0) start = step < 0 ? -1 : 0;
    } else if (start >= len) {
      start = step < 0 ? len - 1 : len;
    }
  }
  if (!n->has[1]) {
    stop = step < 0 ? -1 : len;
  } else {
    stop = n->slice[1];
    if (stop < 0) {
      stop += len;
      if (stop < 0) stop = step < 0 ? -1 : 0;
    } else if (stop >= len) {
      stop = step < 0 ? len - 1 : len;
    }
  }
  json_t *r = json_array();
  if (!r) return OOM(c);
  if (step > 0) {
    for (long long i = start; i < stop; i += step)
      if (json_array_append(r, json_array_get(cur, (size_t)i))) goto oom;
  } else {
    for (long long i = start; i > stop; i += step)
      if (json_array_append(r, json_array_get(cur, (size_t)i))) goto oom;
  }
  *out = r;
  return IDP_OK;
oom:
  json_decref(r);
  return OOM(c);
}

/* Applies `rhs` to each element, keeping the non-null results. */
static idp_code project(jp_ctx *c, const jp_node *rhs, json_t *elem, json_t *acc) {
  json_t *r;
  idp_code rc = ev_null(c, rhs, elem, &r);
  if (rc) return rc;
  if (json_is_null(r)) return IDP_OK;
  if (json_array_append_new(acc, r)) return OOM(c);
  return IDP_OK;
}

static idp_code ev_function(jp_ctx *c, const jp_node *n, json_t *cur, json_t **out) {
  const jp_func *f = n->fn;
  jp_arg stack[JP_MAX_ARGS];
  jp_arg *args = n->nkids <= JP_MAX_ARGS ? stack : calloc(n->nkids, sizeof *args);
  if (!args) return OOM(c);
  size_t done = 0;
  idp_code rc = IDP_OK;
  for (; done < n->nkids; done++) {
    const jp_node *k = n->kids[done];
    if (k->kind == JP_N_EXPREF) {
      args[done].v = NULL;
      args[done].ref = k->a;
    } else {
      args[done].ref = NULL;
      if ((rc = ev_null(c, k, cur, &args[done].v))) break;
    }
  }
  if (!rc) {
    /* Type check against the table. */
    for (size_t i = 0; i < n->nkids && !rc; i++) {
      size_t ti = i; /* variadic: extra arguments take the last declared type */
      if (f->max_args < 0 && f->min_args > 0 && ti >= (size_t)f->min_args) ti = f->min_args - 1;
      if (ti >= JP_MAX_ARGS) ti = JP_MAX_ARGS - 1;
      unsigned want = f->types[ti];
      const jp_arg *a = &args[i];
      bool ok;
      if (a->ref) {
        ok = want & JT_EXPREF;
      } else {
        json_t *v = a->v;
        switch (json_typeof(v)) {
        case JSON_NULL: ok = want & JT_NULL; break;
        case JSON_TRUE:
        case JSON_FALSE: ok = want & JT_BOOL; break;
        case JSON_INTEGER:
        case JSON_REAL: ok = want & JT_NUMBER; break;
        case JSON_STRING: ok = want & JT_STRING; break;
        case JSON_OBJECT: ok = want & JT_OBJECT; break;
        case JSON_ARRAY:
          ok = want & JT_ARRAY;
          if (!ok && (want & (JT_ARR_NUM | JT_ARR_STR))) {
            size_t m = json_array_size(v), num = 0, str = 0;
            for (size_t j = 0; j < m; j++) {
              json_t *x = json_array_get(v, j);
              num += json_is_number(x);
              str += json_is_string(x);
            }
            ok = ((want & JT_ARR_NUM) && num == m) || ((want & JT_ARR_STR) && str == m);
          }
          break;
        default: ok = false;
        }
      }
      if (!ok)
        rc = jp_err(c, "invalid-type", "function %s() argument %zu: unexpected %s", f->name,
                    i + 1, a->ref ? "expression reference" : jp_type_name(a->v));
    }
  }
  if (!rc) rc = f->fn(c, args, n->nkids, out);
  for (size_t i = 0; i < done; i++)
    if (!args[i].ref) json_decref(args[i].v);
  if (args != stack) free(args);
  return rc;
}

static idp_code ev(jp_ctx *c, const jp_node *n, json_t *cur, json_t **out) {
  idp_code rc;
  json_t *l = NULL, *r = NULL;
  switch (n->kind) {
  case JP_N_FIELD:
    if (json_is_object(cur)) {
      json_t *v = json_object_getn(cur, n->name, n->name_len);
      if (v) {
        *out = json_incref(v);
        return IDP_OK;
      }
      if (c->flags & JP_NOTFOUND_ERRORS) {
        c->nf_key = n->name;
        c->nf_len = n->name_len;
        return IDP_ENOTFOUND;
      }
    }
    *out = json_null();
    return IDP_OK;
  case JP_N_CURRENT:
    *out = json_incref(cur);
    return IDP_OK;
  case JP_N_LITERAL:
    *out = json_incref(n->lit);
    return IDP_OK;
  case JP_N_INDEX: {
    if (!json_is_array(cur)) {
      *out = json_null();
      return IDP_OK;
    }
    long long len = (long long)json_array_size(cur), i = n->idx;
    if (i < 0) i += len;
    json_t *v = (i >= 0 && i < len) ? json_array_get(cur, (size_t)i) : NULL;
    *out = v ? json_incref(v) : json_null();
    return IDP_OK;
  }
  case JP_N_SLICE:
    return ev_slice(c, n, cur, out);
  case JP_N_SUBEXPR:
  case JP_N_INDEX_EXPR:
  case JP_N_PIPE:
    if ((rc = ev(c, n->a, cur, &l))) return rc;
    rc = ev(c, n->b, l, out);
    json_decref(l);
    return rc;
  case JP_N_FLATTEN: {
    if ((rc = ev(c, n->a, cur, &l))) return rc;
    if (!json_is_array(l)) {
      json_decref(l);
      *out = json_null();
      return IDP_OK;
    }
    json_t *acc = json_array();
    if (!acc) goto oom;
    for (size_t i = 0; i < json_array_size(l); i++) {
      json_t *x = json_array_get(l, i);
      int bad = json_is_array(x) ? json_array_extend(acc, x) : json_array_append(acc, x);
      if (bad) {
        json_decref(acc);
        goto oom;
      }
    }
    json_decref(l);
    *out = acc;
    return IDP_OK;
  }
  case JP_N_PROJECTION:
  case JP_N_VALUE_PROJ:
  case JP_N_FILTER: {
    if ((rc = ev(c, n->a, cur, &l))) return rc;
    bool ok = n->kind == JP_N_VALUE_PROJ ? json_is_object(l) : json_is_array(l);
    if (!ok) {
      json_decref(l);
      *out = json_null();
      return IDP_OK;
    }
    json_t *acc = json_array();
    if (!acc) goto oom;
    rc = IDP_OK;
    if (n->kind == JP_N_VALUE_PROJ) {
      const char *k;
      json_t *v;
      json_object_foreach(l, k, v) {
        if ((rc = project(c, n->b, v, acc))) break;
      }
    } else {
      for (size_t i = 0; i < json_array_size(l) && !rc; i++) {
        json_t *x = json_array_get(l, i);
        if (n->kind == JP_N_FILTER) {
          json_t *cond;
          if ((rc = ev_null(c, n->c, x, &cond))) break;
          bool t = jp_truthy(cond);
          json_decref(cond);
          if (!t) continue;
        }
        rc = project(c, n->b, x, acc);
      }
    }
    json_decref(l);
    if (rc) {
      json_decref(acc);
      return rc;
    }
    *out = acc;
    return IDP_OK;
  }
  case JP_N_OR:
  case JP_N_AND: {
    if ((rc = ev_null(c, n->a, cur, &l))) return rc;
    bool t = jp_truthy(l);
    if ((n->kind == JP_N_OR) == t) {
      *out = l;
      return IDP_OK;
    }
    json_decref(l);
    return ev_null(c, n->b, cur, out);
  }
  case JP_N_NOT:
    if ((rc = ev_null(c, n->a, cur, &l))) return rc;
    *out = json_boolean(!jp_truthy(l));
    json_decref(l);
    return IDP_OK;
  case JP_N_CMP: {
    if ((rc = ev_null(c, n->a, cur, &l))) return rc;
    if ((rc = ev_null(c, n->b, cur, &r))) {
      json_decref(l);
      return rc;
    }
    if (n->op == JP_EQ || n->op == JP_NE) {
      bool eq = jp_value_equal(l, r);
      *out = json_boolean(n->op == JP_EQ ? eq : !eq);
    } else if (json_is_number(l) && json_is_number(r)) {
      int k = jp_num_cmp(l, r);
      bool v = n->op == JP_LT ? k < 0 : n->op == JP_LTE ? k <= 0 : n->op == JP_GT ? k > 0 : k >= 0;
      *out = json_boolean(v);
    } else {
      *out = json_null();
    }
    json_decref(l);
    json_decref(r);
    return IDP_OK;
  }
  case JP_N_MULTI_LIST:
  case JP_N_MULTI_HASH: {
    if (json_is_null(cur)) {
      *out = json_null();
      return IDP_OK;
    }
    bool list = n->kind == JP_N_MULTI_LIST;
    json_t *acc = list ? json_array() : json_object();
    if (!acc) goto oom;
    for (size_t i = 0; i < n->nkids; i++) {
      json_t *v;
      if ((rc = ev_null(c, n->kids[i], cur, &v))) {
        json_decref(acc);
        return rc;
      }
      int bad = list ? json_array_append_new(acc, v)
                     : json_object_setn_new(acc, n->keys[i], n->keylens[i], v);
      if (bad) {
        json_decref(acc);
        goto oom;
      }
    }
    *out = acc;
    return IDP_OK;
  }
  case JP_N_FUNCTION:
    return ev_function(c, n, cur, out);
  case JP_N_EXPREF:
    /* Only meaningful as a function argument (handled there). */
    return jp_err(c, "invalid-type", "an expression reference can only be a function argument");
  }
  return jp_err(c, "error", "internal: unknown node kind %d", (int)n->kind);
oom:
  json_decref(l);
  return OOM(c);
}

idp_code jp_eval_node(jp_ctx *c, const jp_node *n, json_t *cur, json_t **out) {
  return ev(c, n, cur, out);
}

idp_code jp_apply_ref(jp_ctx *c, const jp_node *ref, json_t *cur, json_t **out) {
  return ev_null(c, ref, cur, out);
}

/* ---- public API ---- */

idp_code jp_compile_dialect(const char *text, jp_dialect d, jp_expr **out, idp_err *e) {
  *out = NULL;
  if (!text) return jp_err_e(e, IDP_EINVAL, "syntax", "empty expression");
  jp_expr *x = calloc(1, sizeof *x);
  if (!x || !(x->text = strdup(text))) {
    free(x);
    return jp_err_e(e, IDP_ENOMEM, "error", "out of memory");
  }
  x->dialect = d;
  idp_code rc = jp_parse(x->text, d, &x->root, e);
  if (rc) {
    free(x->text);
    free(x);
    return rc;
  }
  *out = x;
  return IDP_OK;
}

idp_code jp_compile(const char *text, jp_expr **out, idp_err *e) {
  return jp_compile_dialect(text, JP_DIALECT_KYVERNO, out, e);
}

void jp_expr_free(jp_expr *x) {
  if (!x) return;
  jp_node_free(x->root);
  free(x->text);
  free(x);
}

const char *jp_expr_text(const jp_expr *x) { return x ? x->text : NULL; }

idp_code jp_search_flags(const jp_expr *x, const json_t *data, int flags, json_t **result,
                         idp_err *e) {
  *result = NULL;
  jp_ctx c = {.flags = flags, .e = e, .dialect = x->dialect};
  json_t *in = data ? (json_t *)data : json_null();
  json_t *r = NULL;
  idp_code rc = ev(&c, x->root, in, &r);
  if (rc == IDP_ENOTFOUND)
    return idp_err_set(e, IDP_ENOTFOUND, "Unknown key \"%.*s\" in path", (int)c.nf_len,
                       c.nf_key);
  if (rc) return rc;
  *result = r;
  return IDP_OK;
}

idp_code jp_search(const jp_expr *x, const json_t *data, json_t **result, idp_err *e) {
  return jp_search_flags(x, data, 0, result, e);
}
