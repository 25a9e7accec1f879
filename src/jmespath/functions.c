/* functions.c: the JMESPath specification's built-in functions, as a table
 * of {name, arity, argument types, implementation}.  The interpreter checks
 * arity (at compile time) and argument types (before each call) from the
 * table; implementations only check what the table cannot express
 * (homogeneous sort keys, for instance). */
#include "core/common.h"

#include <math.h>

#include "jmespath/internal.h"

#define OOM(c) JP_OOM(c)

static idp_code ret(jp_ctx *c, json_t *v, json_t **out) {
  if (!v) return OOM(c);
  *out = v;
  return IDP_OK;
}

static idp_code f_abs(jp_ctx *c, const jp_arg *a, size_t n, json_t **out) {
  IDP_UNUSED(n);
  json_t *v = a[0].v;
  if (json_is_integer(v) && json_integer_value(v) != INT64_MIN)
    return ret(c, json_integer(llabs((long long)json_integer_value(v))), out);
  return ret(c, jp_num_new(fabs(jp_num(v))), out);
}

static idp_code f_avg(jp_ctx *c, const jp_arg *a, size_t n, json_t **out) {
  IDP_UNUSED(n);
  size_t m = json_array_size(a[0].v);
  if (m == 0) {
    *out = json_null();
    return IDP_OK;
  }
  double s = 0;
  for (size_t i = 0; i < m; i++) s += jp_num(json_array_get(a[0].v, i));
  return ret(c, json_real(s / (double)m), out);
}

static idp_code f_ceil(jp_ctx *c, const jp_arg *a, size_t n, json_t **out) {
  IDP_UNUSED(n);
  if (json_is_integer(a[0].v)) return ret(c, json_incref(a[0].v), out);
  return ret(c, jp_num_new(ceil(jp_num(a[0].v))), out);
}

static idp_code f_floor(jp_ctx *c, const jp_arg *a, size_t n, json_t **out) {
  IDP_UNUSED(n);
  if (json_is_integer(a[0].v)) return ret(c, json_incref(a[0].v), out);
  return ret(c, jp_num_new(floor(jp_num(a[0].v))), out);
}

static idp_code f_contains(jp_ctx *c, const jp_arg *a, size_t n, json_t **out) {
  IDP_UNUSED(c);
  IDP_UNUSED(n);
  json_t *s = a[0].v, *x = a[1].v;
  bool found = false;
  if (json_is_array(s)) {
    for (size_t i = 0; i < json_array_size(s) && !found; i++)
      found = jp_value_equal(json_array_get(s, i), x);
  } else if (json_is_string(x)) {
    found = memmem(json_string_value(s), json_string_length(s), json_string_value(x),
                   json_string_length(x)) != NULL;
  }
  *out = json_boolean(found);
  return IDP_OK;
}

static idp_code f_ends_with(jp_ctx *c, const jp_arg *a, size_t n, json_t **out) {
  IDP_UNUSED(c);
  IDP_UNUSED(n);
  size_t sl = json_string_length(a[0].v), xl = json_string_length(a[1].v);
  *out = json_boolean(xl <= sl && memcmp(json_string_value(a[0].v) + sl - xl,
                                         json_string_value(a[1].v), xl) == 0);
  return IDP_OK;
}

static idp_code f_starts_with(jp_ctx *c, const jp_arg *a, size_t n, json_t **out) {
  IDP_UNUSED(c);
  IDP_UNUSED(n);
  size_t sl = json_string_length(a[0].v), xl = json_string_length(a[1].v);
  *out = json_boolean(xl <= sl &&
                      memcmp(json_string_value(a[0].v), json_string_value(a[1].v), xl) == 0);
  return IDP_OK;
}

static idp_code f_join(jp_ctx *c, const jp_arg *a, size_t n, json_t **out) {
  IDP_UNUSED(n);
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  json_t *arr = a[1].v;
  idp_code rc = IDP_OK;
  for (size_t i = 0; i < json_array_size(arr) && !rc; i++) {
    if (i) rc = idp_buf_add(&b, json_string_value(a[0].v), json_string_length(a[0].v));
    json_t *x = json_array_get(arr, i);
    if (!rc) rc = idp_buf_add(&b, json_string_value(x), json_string_length(x));
  }
  json_t *r = rc ? NULL : json_stringn(b.data ? b.data : "", b.len);
  idp_buf_free(&b);
  return ret(c, r, out);
}

static idp_code f_keys(jp_ctx *c, const jp_arg *a, size_t n, json_t **out) {
  IDP_UNUSED(n);
  json_t *r = json_array();
  const char *k;
  size_t kl;
  json_t *v;
  json_object_keylen_foreach(a[0].v, k, kl, v) {
    if (!r || json_array_append_new(r, json_stringn(k, kl))) {
      json_decref(r);
      return OOM(c);
    }
  }
  return ret(c, r, out);
}

static idp_code f_values(jp_ctx *c, const jp_arg *a, size_t n, json_t **out) {
  IDP_UNUSED(n);
  json_t *r = json_array();
  const char *k;
  json_t *v;
  json_object_foreach(a[0].v, k, v) {
    if (!r || json_array_append(r, v)) {
      json_decref(r);
      return OOM(c);
    }
  }
  return ret(c, r, out);
}

static idp_code f_length(jp_ctx *c, const jp_arg *a, size_t n, json_t **out) {
  IDP_UNUSED(n);
  json_t *v = a[0].v;
  size_t len = json_is_string(v)  ? jp_utf8_len(json_string_value(v), json_string_length(v))
               : json_is_array(v) ? json_array_size(v)
                                  : json_object_size(v);
  return ret(c, json_integer((json_int_t)len), out);
}

static idp_code f_map(jp_ctx *c, const jp_arg *a, size_t n, json_t **out) {
  IDP_UNUSED(n);
  json_t *r = json_array();
  if (!r) return OOM(c);
  for (size_t i = 0; i < json_array_size(a[1].v); i++) {
    json_t *v;
    idp_code rc = jp_apply_ref(c, a[0].ref, json_array_get(a[1].v, i), &v);
    if (rc) {
      json_decref(r);
      return rc;
    }
    if (json_array_append_new(r, v)) {
      json_decref(r);
      return OOM(c);
    }
  }
  *out = r;
  return IDP_OK;
}

/* Order of two sort keys of the same type (numbers or strings). */
static int key_cmp(const json_t *x, const json_t *y) {
  if (json_is_number(x)) return jp_num_cmp(x, y);
  size_t xl = json_string_length(x), yl = json_string_length(y);
  int k = memcmp(json_string_value(x), json_string_value(y), xl < yl ? xl : yl);
  if (k) return k;
  return (xl > yl) - (xl < yl);
}

static idp_code f_minmax(jp_ctx *c, const jp_arg *a, bool max, json_t **out) {
  json_t *arr = a[0].v, *best = NULL;
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *x = json_array_get(arr, i);
    if (!best || (max ? key_cmp(x, best) > 0 : key_cmp(x, best) < 0)) best = x;
  }
  *out = best ? json_incref(best) : json_null();
  IDP_UNUSED(c);
  return IDP_OK;
}
static idp_code f_max(jp_ctx *c, const jp_arg *a, size_t n, json_t **out) {
  IDP_UNUSED(n);
  return f_minmax(c, a, true, out);
}
static idp_code f_min(jp_ctx *c, const jp_arg *a, size_t n, json_t **out) {
  IDP_UNUSED(n);
  return f_minmax(c, a, false, out);
}

/* Evaluates the key expression over every element; keys must all be
 * numbers or all strings.  *keys is a new array, same length as arr. */
static idp_code eval_keys(jp_ctx *c, const char *fname, json_t *arr, const jp_node *ref,
                          json_t **keys) {
  json_t *k = json_array();
  if (!k) return OOM(c);
  int kind = 0; /* 1 number, 2 string */
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *v;
    idp_code rc = jp_apply_ref(c, ref, json_array_get(arr, i), &v);
    if (rc) {
      json_decref(k);
      return rc;
    }
    int vk = json_is_number(v) ? 1 : json_is_string(v) ? 2 : 0;
    if (!vk || (kind && vk != kind)) {
      rc = jp_err(c, "invalid-type", "%s(): the expression gave %s; keys must all be numbers or "
                  "all strings", fname, jp_type_name(v));
      json_decref(v);
      json_decref(k);
      return rc;
    }
    kind = vk;
    if (json_array_append_new(k, v)) {
      json_decref(k);
      return OOM(c);
    }
  }
  *keys = k;
  return IDP_OK;
}

static idp_code f_by(jp_ctx *c, const jp_arg *a, bool max, json_t **out) {
  json_t *keys;
  idp_code rc = eval_keys(c, max ? "max_by" : "min_by", a[0].v, a[1].ref, &keys);
  if (rc) return rc;
  long best = -1;
  for (size_t i = 0; i < json_array_size(keys); i++) {
    json_t *x = json_array_get(keys, i);
    if (best < 0) {
      best = (long)i;
      continue;
    }
    int k = key_cmp(x, json_array_get(keys, (size_t)best));
    if (max ? k > 0 : k < 0) best = (long)i;
  }
  json_decref(keys);
  *out = best < 0 ? json_null() : json_incref(json_array_get(a[0].v, (size_t)best));
  return IDP_OK;
}
static idp_code f_max_by(jp_ctx *c, const jp_arg *a, size_t n, json_t **out) {
  IDP_UNUSED(n);
  return f_by(c, a, true, out);
}
static idp_code f_min_by(jp_ctx *c, const jp_arg *a, size_t n, json_t **out) {
  IDP_UNUSED(n);
  return f_by(c, a, false, out);
}

static idp_code f_merge(jp_ctx *c, const jp_arg *a, size_t n, json_t **out) {
  json_t *r = json_object();
  for (size_t i = 0; i < n && r; i++)
    if (json_object_update(r, a[i].v)) {
      json_decref(r);
      r = NULL;
    }
  return ret(c, r, out);
}

static idp_code f_not_null(jp_ctx *c, const jp_arg *a, size_t n, json_t **out) {
  IDP_UNUSED(c);
  for (size_t i = 0; i < n; i++)
    if (!json_is_null(a[i].v)) {
      *out = json_incref(a[i].v);
      return IDP_OK;
    }
  *out = json_null();
  return IDP_OK;
}

static idp_code f_reverse(jp_ctx *c, const jp_arg *a, size_t n, json_t **out) {
  IDP_UNUSED(n);
  json_t *v = a[0].v;
  if (json_is_array(v)) {
    json_t *r = json_array();
    for (size_t i = json_array_size(v); i-- > 0 && r;)
      if (json_array_append(r, json_array_get(v, i))) {
        json_decref(r);
        r = NULL;
      }
    return ret(c, r, out);
  }
  /* Reverse by code point, keeping each UTF-8 sequence intact. */
  const char *s = json_string_value(v);
  size_t len = json_string_length(v);
  char *b = malloc(len + 1);
  if (!b) return OOM(c);
  size_t w = len;
  for (size_t i = 0; i < len;) {
    size_t j = i + 1;
    while (j < len && ((unsigned char)s[j] & 0xC0) == 0x80) j++;
    w -= j - i;
    memcpy(b + w, s + i, j - i);
    i = j;
  }
  json_t *r = json_stringn(b, len);
  free(b);
  return ret(c, r, out);
}

/* Stable merge sort of idx[0..n) by keys. */
static void msort(size_t *idx, size_t *tmp, size_t n, json_t *keys) {
  if (n < 2) return;
  size_t h = n / 2;
  msort(idx, tmp, h, keys);
  msort(idx + h, tmp, n - h, keys);
  size_t i = 0, j = h, k = 0;
  while (i < h && j < n) {
    if (key_cmp(json_array_get(keys, idx[j]), json_array_get(keys, idx[i])) < 0)
      tmp[k++] = idx[j++];
    else
      tmp[k++] = idx[i++];
  }
  while (i < h) tmp[k++] = idx[i++];
  while (j < n) tmp[k++] = idx[j++];
  memcpy(idx, tmp, n * sizeof *idx);
}

static idp_code sorted(jp_ctx *c, json_t *arr, json_t *keys, json_t **out) {
  size_t m = json_array_size(arr);
  size_t *idx = malloc((m + 1) * sizeof *idx), *tmp = malloc((m + 1) * sizeof *tmp);
  json_t *r = json_array();
  if (!idx || !tmp || !r) goto oom;
  for (size_t i = 0; i < m; i++) idx[i] = i;
  msort(idx, tmp, m, keys);
  for (size_t i = 0; i < m; i++)
    if (json_array_append(r, json_array_get(arr, idx[i]))) goto oom;
  free(idx);
  free(tmp);
  *out = r;
  return IDP_OK;
oom:
  free(idx);
  free(tmp);
  json_decref(r);
  return OOM(c);
}

static idp_code f_sort(jp_ctx *c, const jp_arg *a, size_t n, json_t **out) {
  IDP_UNUSED(n);
  return sorted(c, a[0].v, a[0].v, out);
}

static idp_code f_sort_by(jp_ctx *c, const jp_arg *a, size_t n, json_t **out) {
  IDP_UNUSED(n);
  json_t *keys;
  idp_code rc = eval_keys(c, "sort_by", a[0].v, a[1].ref, &keys);
  if (rc) return rc;
  rc = sorted(c, a[0].v, keys, out);
  json_decref(keys);
  return rc;
}

static idp_code f_sum(jp_ctx *c, const jp_arg *a, size_t n, json_t **out) {
  IDP_UNUSED(n);
  json_int_t is = 0;
  double ds = 0;
  bool ints = true;
  for (size_t i = 0; i < json_array_size(a[0].v); i++) {
    json_t *x = json_array_get(a[0].v, i);
    ds += jp_num(x);
    if (ints && json_is_integer(x) &&
        !__builtin_add_overflow(is, json_integer_value(x), &is))
      continue;
    ints = false;
  }
  return ret(c, ints ? json_integer(is) : jp_num_new(ds), out);
}

static idp_code f_to_array(jp_ctx *c, const jp_arg *a, size_t n, json_t **out) {
  IDP_UNUSED(n);
  if (json_is_array(a[0].v)) return ret(c, json_incref(a[0].v), out);
  json_t *r = json_array();
  if (r && json_array_append(r, a[0].v)) {
    json_decref(r);
    r = NULL;
  }
  return ret(c, r, out);
}

static idp_code f_to_string(jp_ctx *c, const jp_arg *a, size_t n, json_t **out) {
  IDP_UNUSED(n);
  if (json_is_string(a[0].v)) return ret(c, json_incref(a[0].v), out);
  char *s = jp_to_json_text(a[0].v);
  if (!s) return OOM(c);
  json_t *r = json_string(s);
  free(s);
  return ret(c, r, out);
}

static idp_code f_to_number(jp_ctx *c, const jp_arg *a, size_t n, json_t **out) {
  IDP_UNUSED(n);
  json_t *v = a[0].v;
  if (json_is_number(v)) return ret(c, json_incref(v), out);
  *out = json_null();
  if (!json_is_string(v)) return IDP_OK;
  const char *s = json_string_value(v);
  size_t len = json_string_length(v);
  if (len == 0 || len > 64 || strspn(s, "0123456789+-.eE") != len) return IDP_OK;
  char *end;
  errno = 0;
  if (!strpbrk(s, ".eE")) {
    long long x = strtoll(s, &end, 10);
    if (!errno && *end == '\0') return ret(c, json_integer(x), out);
  }
  double d = strtod(s, &end);
  if (*end != '\0' || !isfinite(d)) return IDP_OK;
  return ret(c, json_real(d), out);
}

static idp_code f_type(jp_ctx *c, const jp_arg *a, size_t n, json_t **out) {
  IDP_UNUSED(n);
  return ret(c, json_string(jp_type_name(a[0].v)), out);
}

#define ARR_ANY JT_ARRAY
const jp_func jp_spec_functions[] = {
    {"abs", 1, 1, {JT_NUMBER}, f_abs},
    {"avg", 1, 1, {JT_ARR_NUM}, f_avg},
    {"ceil", 1, 1, {JT_NUMBER}, f_ceil},
    {"contains", 2, 2, {JT_ARRAY | JT_STRING, JT_ANY}, f_contains},
    {"ends_with", 2, 2, {JT_STRING, JT_STRING}, f_ends_with},
    {"floor", 1, 1, {JT_NUMBER}, f_floor},
    {"join", 2, 2, {JT_STRING, JT_ARR_STR}, f_join},
    {"keys", 1, 1, {JT_OBJECT}, f_keys},
    {"length", 1, 1, {JT_STRING | JT_ARRAY | JT_OBJECT}, f_length},
    {"map", 2, 2, {JT_EXPREF, ARR_ANY}, f_map},
    {"max", 1, 1, {JT_ARR_NUM | JT_ARR_STR}, f_max},
    {"max_by", 2, 2, {ARR_ANY, JT_EXPREF}, f_max_by},
    {"merge", 1, -1, {JT_OBJECT}, f_merge},
    {"min", 1, 1, {JT_ARR_NUM | JT_ARR_STR}, f_min},
    {"min_by", 2, 2, {ARR_ANY, JT_EXPREF}, f_min_by},
    {"not_null", 1, -1, {JT_ANY}, f_not_null},
    {"reverse", 1, 1, {JT_STRING | JT_ARRAY}, f_reverse},
    {"sort", 1, 1, {JT_ARR_NUM | JT_ARR_STR}, f_sort},
    {"sort_by", 2, 2, {ARR_ANY, JT_EXPREF}, f_sort_by},
    {"starts_with", 2, 2, {JT_STRING, JT_STRING}, f_starts_with},
    {"sum", 1, 1, {JT_ARR_NUM}, f_sum},
    {"to_array", 1, 1, {JT_ANY}, f_to_array},
    {"to_number", 1, 1, {JT_ANY}, f_to_number},
    {"to_string", 1, 1, {JT_ANY}, f_to_string},
    {"type", 1, 1, {JT_ANY}, f_type},
    {"values", 1, 1, {JT_OBJECT}, f_values},
    {NULL, 0, 0, {0}, NULL},
};

static const jp_func *find(const jp_func *t, const char *name, size_t len) {
  for (; t->name; t++)
    if (strlen(t->name) == len && memcmp(t->name, name, len) == 0) return t;
  return NULL;
}

const jp_func *jp_func_lookup(jp_dialect d, const char *name, size_t len) {
  if (d == JP_DIALECT_KYVERNO) {
    const jp_func *f = find(jp_kyverno_functions, name, len);
    if (f) return f;
  }
  return find(jp_spec_functions, name, len);
}
