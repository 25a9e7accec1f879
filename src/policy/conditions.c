/* conditions.c: precondition / deny operators (pkg/engine/variables/operator).
 *
 * The operator table maps each name (current and deprecated spellings) to
 * one handler.  Keys and values may be scalars or lists; strings compare
 * with wildcards, and the ordering operators understand numbers, Go
 * durations, Kubernetes quantities and semantic versions. */
#include "core/common.h"

#include <math.h>

#include "core/json.h"
#include "policy/internal.h"

/* ---- Equals ---- */

static bool equal_string_key(const char *key, const json_t *value) {
  double dk, dv;
  /* durations first: the only kind comparable across types */
  if (pol_parse_duration(key, &dk)) {
    if (json_is_string(value) && pol_parse_duration(json_string_value(value), &dv))
      return dk == dv;
    if (pol_json_number(value, &dv) && !pol_parse_number(key, &dk)) {
      pol_parse_duration(key, &dk);
      return dk == dv;
    }
  }
  long double qk, qv;
  if (pol_parse_quantity(key, &qk) && json_is_string(value)) {
    if (!pol_parse_quantity(json_string_value(value), &qv)) return false;
    return fabsl(qk - qv) <= 1e-12L * fmaxl(fabsl(qk), fabsl(qv));
  }
  if (json_is_string(value)) {
    const char *v = json_string_value(value);
    return pol_wild(v, key) || strcmp(v, key) == 0;
  }
  return false;
}

static bool op_equals(const json_t *key, const json_t *value) {
  double dk, dv;
  if (json_is_boolean(key)) return json_is_boolean(value) && json_equal((json_t *)key, (json_t *)value);
  if (pol_json_number(key, &dk)) {
    if (pol_json_number(value, &dv)) return dk == dv;
    if (json_is_string(value) && pol_parse_number(json_string_value(value), &dv)) return dk == dv;
    return false;
  }
  if (json_is_string(key)) return equal_string_key(json_string_value(key), value);
  if (json_is_object(key) || json_is_array(key)) return pol_json_equal(key, value);
  if (json_is_null(key)) return json_is_null(value);
  return false;
}

static bool op_not_equals(const json_t *key, const json_t *value) {
  return !op_equals(key, value);
}

/* ---- set operators ---- */

/* Value side as a list of strings: an array, a JSON-array string, or a
 * single string.  Returns false when the type is unusable. */
typedef struct {
  char **v;
  size_t n;
} strlist;

static void strlist_free(strlist *l) {
  for (size_t i = 0; i < l->n; i++) free(l->v[i]);
  free(l->v);
  l->v = NULL;
  l->n = 0;
}

static bool strlist_from(const json_t *x, bool allow_scalar, strlist *out) {
  out->v = NULL;
  out->n = 0;
  json_t *arr = NULL;
  if (json_is_array(x)) {
    arr = json_incref((json_t *)x);
  } else if (json_is_string(x)) {
    const char *s = json_string_value(x);
    json_t *p = json_loads(s, JSON_DECODE_ANY, NULL);
    if (json_is_array(p)) {
      arr = p;
    } else {
      json_decref(p);
      out->v = calloc(1, sizeof(char *));
      out->v[0] = strdup(s);
      out->n = 1;
      return true;
    }
  } else if (allow_scalar && x && !json_is_null(x) && !json_is_object(x)) {
    out->v = calloc(1, sizeof(char *));
    out->v[0] = pol_sprint(x);
    out->n = 1;
    return true;
  } else {
    return false;
  }
  out->n = json_array_size(arr);
  out->v = calloc(out->n ? out->n : 1, sizeof(char *));
  for (size_t i = 0; i < out->n; i++) out->v[i] = pol_sprint(json_array_get(arr, i));
  json_decref(arr);
  return true;
}

static bool str_in(const char *k, const strlist *vals) {
  for (size_t i = 0; i < vals->n; i++)
    if (strcmp(k, vals->v[i]) == 0 || pol_wild(vals->v[i], k) || pol_wild(k, vals->v[i]))
      return true;
  return false;
}

typedef enum { SET_ANY_IN, SET_ALL_IN, SET_ANY_NOT_IN, SET_ALL_NOT_IN } setop;

static bool set_op(const json_t *key, const json_t *value, setop op) {
  strlist ks, vs;
  if (json_is_array(key)) {
    strlist_from(key, false, &ks);
  } else if (json_is_string(key) || json_is_number(key) || json_is_boolean(key)) {
    ks.v = calloc(1, sizeof(char *));
    ks.v[0] = pol_sprint(key);
    ks.n = 1;
  } else {
    return false;
  }
  if (!strlist_from(value, true, &vs)) {
    strlist_free(&ks);
    return false;
  }
  size_t found = 0;
  for (size_t i = 0; i < ks.n; i++)
    if (str_in(ks.v[i], &vs)) found++;
  bool r = false;
  switch (op) {
  case SET_ANY_IN: r = found > 0; break;
  case SET_ALL_IN: r = found == ks.n && ks.n > 0; break;
  case SET_ANY_NOT_IN: r = found < ks.n; break;
  case SET_ALL_NOT_IN: r = found == 0 && ks.n > 0; break;
  }
  if (ks.n == 0) r = (op == SET_ALL_NOT_IN || op == SET_ALL_IN) ? false : r;
  strlist_free(&ks);
  strlist_free(&vs);
  return r;
}

static bool op_any_in(const json_t *k, const json_t *v) { return set_op(k, v, SET_ANY_IN); }
static bool op_all_in(const json_t *k, const json_t *v) { return set_op(k, v, SET_ALL_IN); }
static bool op_any_not_in(const json_t *k, const json_t *v) {
  return set_op(k, v, SET_ANY_NOT_IN);
}
static bool op_all_not_in(const json_t *k, const json_t *v) {
  return set_op(k, v, SET_ALL_NOT_IN);
}
/* Deprecated In / NotIn: a list key must be wholly (not) contained. */
static bool op_in(const json_t *k, const json_t *v) { return set_op(k, v, SET_ALL_IN); }
static bool op_not_in(const json_t *k, const json_t *v) {
  if (json_is_array(k)) return set_op(k, v, SET_ANY_NOT_IN);
  return set_op(k, v, SET_ALL_NOT_IN);
}

/* ---- ordering ---- */

/* Compares key to value: sets *cmp (-1/0/1); false when not comparable. */
static bool order_cmp(const json_t *key, const json_t *value, int *cmp) {
  double a, b;
  bool an = pol_json_number(key, &a) || (json_is_string(key) &&
                                         pol_parse_number(json_string_value(key), &a));
  bool bn = pol_json_number(value, &b) || (json_is_string(value) &&
                                           pol_parse_number(json_string_value(value), &b));
  if (an && bn) {
    *cmp = a < b ? -1 : a > b;
    return true;
  }
  const char *ks = json_is_string(key) ? json_string_value(key) : NULL;
  const char *vs = json_is_string(value) ? json_string_value(value) : NULL;
  double da, db;
  if (ks && pol_parse_duration(ks, &da) &&
      ((vs && pol_parse_duration(vs, &db)) || pol_json_number(value, &db))) {
    *cmp = da < db ? -1 : da > db;
    return true;
  }
  if (vs && pol_parse_duration(vs, &db) && pol_json_number(key, &da)) {
    *cmp = da < db ? -1 : da > db;
    return true;
  }
  long double qa, qb;
  bool qka = ks ? pol_parse_quantity(ks, &qa) : (an ? (qa = a, true) : false);
  bool qvb = vs ? pol_parse_quantity(vs, &qb) : (bn ? (qb = b, true) : false);
  if (qka && qvb) {
    *cmp = qa < qb ? -1 : qa > qb;
    return true;
  }
  if (ks && vs) {
    bool ok;
    int c = pol_semver_cmp(ks, vs, &ok);
    if (ok) {
      *cmp = c;
      return true;
    }
  }
  return false;
}

static bool op_gt(const json_t *k, const json_t *v) {
  int c;
  return order_cmp(k, v, &c) && c > 0;
}
static bool op_ge(const json_t *k, const json_t *v) {
  int c;
  return order_cmp(k, v, &c) && c >= 0;
}
static bool op_lt(const json_t *k, const json_t *v) {
  int c;
  return order_cmp(k, v, &c) && c < 0;
}
static bool op_le(const json_t *k, const json_t *v) {
  int c;
  return order_cmp(k, v, &c) && c <= 0;
}

/* Duration operators: numbers are seconds. */
static bool as_duration(const json_t *x, double *d) {
  if (pol_json_number(x, d)) return true;
  return json_is_string(x) && pol_parse_duration(json_string_value(x), d);
}
static int dur_cmp(const json_t *k, const json_t *v, bool *ok) {
  double a, b;
  *ok = as_duration(k, &a) && as_duration(v, &b);
  if (!*ok) return 0;
  return a < b ? -1 : a > b;
}
static bool op_dgt(const json_t *k, const json_t *v) {
  bool ok;
  int c = dur_cmp(k, v, &ok);
  return ok && c > 0;
}
static bool op_dge(const json_t *k, const json_t *v) {
  bool ok;
  int c = dur_cmp(k, v, &ok);
  return ok && c >= 0;
}
static bool op_dlt(const json_t *k, const json_t *v) {
  bool ok;
  int c = dur_cmp(k, v, &ok);
  return ok && c < 0;
}
static bool op_dle(const json_t *k, const json_t *v) {
  bool ok;
  int c = dur_cmp(k, v, &ok);
  return ok && c <= 0;
}

static const struct {
  const char *name;
  bool (*fn)(const json_t *key, const json_t *value);
} operators[] = {
    {"Equals", op_equals},
    {"Equal", op_equals},
    {"NotEquals", op_not_equals},
    {"NotEqual", op_not_equals},
    {"In", op_in},
    {"NotIn", op_not_in},
    {"AnyIn", op_any_in},
    {"AllIn", op_all_in},
    {"AnyNotIn", op_any_not_in},
    {"AllNotIn", op_all_not_in},
    {"GreaterThan", op_gt},
    {"GreaterThanOrEquals", op_ge},
    {"LessThan", op_lt},
    {"LessThanOrEquals", op_le},
    {"DurationGreaterThan", op_dgt},
    {"DurationGreaterThanOrEquals", op_dge},
    {"DurationLessThan", op_dlt},
    {"DurationLessThanOrEquals", op_dle},
};

bool pol_operator_known(const char *op) {
  for (size_t i = 0; i < IDP_ARRAY_LEN(operators); i++)
    if (strcasecmp(op, operators[i].name) == 0) return true;
  return false;
}

int pol_operator(const char *op, const json_t *key, const json_t *value) {
  for (size_t i = 0; i < IDP_ARRAY_LEN(operators); i++)
    if (strcasecmp(op, operators[i].name) == 0) return operators[i].fn(key, value) ? 1 : 0;
  return -1;
}

/* One condition: 1/0/-1. */
static int eval_one(const json_t *cond, const json_t *ctx, pol_vars_mode mode, char *msg,
                    size_t msgn, idp_err *e) {
  const char *op = json_string_value(json_object_get(cond, "operator"));
  if (!op) return idp_err_set(e, IDP_EINVALID, "condition without operator"), -1;
  json_t *key = pol_subst(json_object_get(cond, "key"), ctx, mode, e);
  if (!key) {
    idp_err_prefix(e, "failed to substitute variables in condition key");
    return -1;
  }
  json_t *value = pol_subst(json_object_get(cond, "value"), ctx, mode, e);
  if (!value) {
    json_decref(key);
    idp_err_prefix(e, "failed to substitute variables in condition value");
    return -1;
  }
  int r = pol_operator(op, key, value);
  json_decref(key);
  json_decref(value);
  if (r < 0) return idp_err_set(e, IDP_EINVALID, "unknown operator %s", op), -1;
  if (msg && msgn && json_is_string(json_object_get(cond, "message")) && r == 1 && !*msg) {
    json_t *m = pol_subst(json_object_get(cond, "message"), ctx, mode, NULL);
    if (json_is_string(m)) snprintf(msg, msgn, "%s", json_string_value(m));
    json_decref(m);
  }
  return r;
}

int pol_conditions(const json_t *conds, const json_t *ctx, pol_vars_mode mode, char *msg,
                   size_t msgn, idp_err *e) {
  if (!conds || json_is_null(conds)) return 1;
  if (json_is_array(conds)) { /* legacy list: all must hold */
    for (size_t i = 0; i < json_array_size(conds); i++) {
      int r = eval_one(json_array_get(conds, i), ctx, mode, msg, msgn, e);
      if (r != 1) return r;
    }
    return 1;
  }
  if (!json_is_object(conds)) return idp_err_set(e, IDP_EINVALID, "conditions must be a list or {any, all}"), -1;
  const json_t *any = json_object_get(conds, "any");
  const json_t *all = json_object_get(conds, "all");
  if (json_is_array(any)) { /* present, even empty: one must hold */
    int hit = 0;
    for (size_t i = 0; i < json_array_size(any) && !hit; i++) {
      int r = eval_one(json_array_get(any, i), ctx, mode, msg, msgn, e);
      if (r < 0) return -1;
      hit = r;
    }
    if (!hit) return 0;
  }
  for (size_t i = 0; i < json_array_size(all); i++) {
    int r = eval_one(json_array_get(all, i), ctx, mode, msg, msgn, e);
    if (r != 1) return r;
  }
  return 1;
}
