/* pattern.c: validate.pattern matching (pkg/engine/validate, anchor, pattern).
 *
 * The walk returns an error kind rather than a message so that callers can
 * tell a failure from a skip: a conditional `(k)` or global `<(k)` anchor
 * that does not hold turns the whole subtree (and, when nothing else
 * applied, the rule) into a skip, a negation `X(k)` that finds its key is a
 * hard failure, and any other mismatch is a failure.  Errors keep the kind
 * of the outermost anchor that wrapped them, as Kyverno's error types do. */
#include "core/common.h"

#include <math.h>

#include "core/buf.h"
#include "core/json.h"
#include "policy/internal.h"

typedef enum { E_OK = 0, E_FAIL, E_COND, E_GLOBAL, E_NEG, E_SKIP } ekind;

typedef struct {
  char path[512];
  char msg[512];
} perr;

static bool is_skip(ekind k) { return k == E_COND || k == E_GLOBAL || k == E_SKIP; }

pol_anchor pol_anchor_parse(const char *k, const char **key, size_t *len) {
  size_t n = strlen(k);
  if (n < 3) return POL_A_NONE;
  pol_anchor a;
  const char *body;
  switch (k[0]) {
  case '(': a = POL_A_COND; body = k + 1; break;
  case '=': a = POL_A_EQUAL; body = k + 2; break;
  case 'X': a = POL_A_NEG; body = k + 2; break;
  case '^': a = POL_A_EXIST; body = k + 2; break;
  case '<': a = POL_A_GLOBAL; body = k + 2; break;
  case '+': a = POL_A_ADD; body = k + 2; break;
  default: return POL_A_NONE;
  }
  if (a != POL_A_COND && k[1] != '(') return POL_A_NONE;
  if (k[n - 1] != ')') return POL_A_NONE;
  size_t bl = (size_t)(k + n - 1 - body);
  if (bl == 0) return POL_A_NONE;
  if (key) *key = body;
  if (len) *len = bl;
  return a;
}

/* ---- scalar values ---- */

typedef enum { OP_EQ, OP_NE, OP_GT, OP_LT, OP_GE, OP_LE, OP_RANGE, OP_NRANGE } vop;

static bool range_form(const char *p, const char *sep) {
  /* ^\d+(\.\d+)?[^-]*SEP\d+(\.\d+)?[^-]*$ */
  const char *s = strstr(p, sep);
  if (!s) return false;
  const char *q = p;
  if (!(*q >= '0' && *q <= '9')) return false;
  for (; q < s; q++)
    if (*q == '-') return false;
  q = s + strlen(sep);
  if (!(*q >= '0' && *q <= '9')) return false;
  for (; *q; q++)
    if (*q == '-') return false;
  return true;
}

static vop op_of(const char *p, size_t *skip) {
  *skip = 0;
  if (strlen(p) < 2) return OP_EQ;
  if (strncmp(p, ">=", 2) == 0) return *skip = 2, OP_GE;
  if (strncmp(p, "<=", 2) == 0) return *skip = 2, OP_LE;
  if (*p == '>') return *skip = 1, OP_GT;
  if (*p == '<') return *skip = 1, OP_LT;
  if (*p == '!') return *skip = 1, OP_NE;
  if (range_form(p, "!-")) return OP_NRANGE;
  if (range_form(p, "-")) return OP_RANGE;
  return OP_EQ;
}

static bool cmp_result(int c, vop op) {
  switch (op) {
  case OP_EQ: return c == 0;
  case OP_NE: return c != 0;
  case OP_GT: return c > 0;
  case OP_LT: return c < 0;
  case OP_GE: return c >= 0;
  case OP_LE: return c <= 0;
  default: return false;
  }
}

/* convertNumberToString: nil reads as "0", floats as %f. */
static bool number_text(const json_t *v, char *buf, size_t n) {
  if (!v || json_is_null(v)) return snprintf(buf, n, "0"), true;
  if (json_is_string(v)) return snprintf(buf, n, "%s", json_string_value(v)), true;
  if (json_is_integer(v)) return snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v)), true;
  if (json_is_real(v)) return snprintf(buf, n, "%f", json_real_value(v)), true;
  return false;
}

static bool compare_duration(const json_t *value, const char *pat, vop op) {
  double p, v;
  char buf[256];
  if (!pol_parse_duration(pat, &p)) return false;
  if (!number_text(value, buf, sizeof buf) || !pol_parse_duration(buf, &v)) return false;
  return cmp_result(v < p ? -1 : v > p, op);
}

static bool compare_quantity(const json_t *value, const char *pat, vop op) {
  long double p, v;
  char buf[256];
  if (!pol_parse_quantity(pat, &p)) return false;
  if (!number_text(value, buf, sizeof buf) || !pol_parse_quantity(buf, &v)) return false;
  int c = fabsl(v - p) <= 1e-12L * fmaxl(fabsl(v), fabsl(p)) ? 0 : (v < p ? -1 : 1);
  return cmp_result(c, op);
}

/* Go's strconv.FormatFloat(d, 'E', -1, 64): shortest digits, "8.08E+03". */
static void go_format_e(double d, char *buf, size_t n) {
  char tmp[64];
  for (int prec = 0; prec <= 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*E", prec, d);
    if (strtod(tmp, NULL) == d) break;
  }
  /* C prints at least two exponent digits too: 8.08E+03 */
  snprintf(buf, n, "%s", tmp);
}

static bool compare_string(const json_t *value, const char *pat, vop op) {
  if (op != OP_EQ && op != OP_NE) return false;
  char buf[64];
  const char *s;
  double d;
  if (json_is_string(value)) {
    s = json_string_value(value);
  } else if (pol_json_number(value, &d)) {
    /* the CLI decodes every number as float64 and compares its 'E' form */
    go_format_e(d, buf, sizeof buf);
    s = buf;
  } else if (json_is_boolean(value)) {
    s = json_is_true(value) ? "true" : "false";
  } else {
    return false;
  }
  bool m = pol_wild(pat, s);
  return op == OP_NE ? !m : m;
}

static bool string_term(const json_t *value, const char *term) {
  size_t skip;
  vop op = op_of(term, &skip);
  if (op == OP_RANGE || op == OP_NRANGE) {
    const char *sep = op == OP_RANGE ? "-" : "!-";
    const char *s = strstr(term, sep);
    char lo[128], hi[128], t[160];
    snprintf(lo, sizeof lo, "%.*s", (int)(s - term), term);
    snprintf(hi, sizeof hi, "%s", s + strlen(sep));
    if (op == OP_RANGE) {
      snprintf(t, sizeof t, ">= %s", lo);
      bool a = string_term(value, t);
      snprintf(t, sizeof t, "<= %s", hi);
      return a && string_term(value, t);
    }
    snprintf(t, sizeof t, "< %s", lo);
    bool a = string_term(value, t);
    snprintf(t, sizeof t, "> %s", hi);
    return a || string_term(value, t);
  }
  const char *p = term + skip;
  while (*p == ' ') p++;
  char pat[1024];
  snprintf(pat, sizeof pat, "%s", p);
  size_t n = strlen(pat);
  while (n && pat[n - 1] == ' ') pat[--n] = 0;
  return compare_duration(value, pat, op) || compare_quantity(value, pat, op) ||
         compare_string(value, pat, op);
}

static char *trim_dup(const char *s, size_t n) {
  while (n && *s == ' ') s++, n--;
  while (n && s[n - 1] == ' ') n--;
  return strndup(s, n);
}

static bool string_pattern(const json_t *value, const char *pattern) {
  if (json_is_string(value) && strcmp(json_string_value(value), pattern) == 0) return true;
  const char *p = pattern;
  for (;;) {
    const char *bar = strchr(p, '|');
    size_t n = bar ? (size_t)(bar - p) : strlen(p);
    char *alt = trim_dup(p, n);
    bool all = true;
    const char *q = alt;
    for (;;) {
      const char *amp = strchr(q, '&');
      size_t m = amp ? (size_t)(amp - q) : strlen(q);
      char *term = trim_dup(q, m);
      bool ok = string_term(value, term);
      free(term);
      if (!ok) {
        all = false;
        break;
      }
      if (!amp) break;
      q = amp + 1;
    }
    free(alt);
    if (all) return true;
    if (!bar) return false;
    p = bar + 1;
  }
}

bool pol_value_matches(const json_t *value, const json_t *pattern) {
  double pv, vv;
  if (json_is_boolean(pattern))
    return json_is_boolean(value) && json_is_true(pattern) == json_is_true(value);
  if (json_is_integer(pattern)) {
    json_int_t p = json_integer_value(pattern);
    if (json_is_integer(value)) return json_integer_value(value) == p;
    if (json_is_real(value)) {
      vv = json_real_value(value);
      return vv == trunc(vv) && (json_int_t)vv == p;
    }
    if (json_is_string(value)) {
      char *end;
      errno = 0;
      long long x = strtoll(json_string_value(value), &end, 10);
      return *json_string_value(value) && !*end && !errno && x == p;
    }
    return false;
  }
  if (json_is_real(pattern)) {
    pv = json_real_value(pattern);
    if (pol_json_number(value, &vv)) return vv == pv;
    if (json_is_string(value) && pol_parse_number(json_string_value(value), &vv)) return vv == pv;
    return false;
  }
  if (!pattern || json_is_null(pattern)) {
    if (!value || json_is_null(value)) return true;
    if (pol_json_number(value, &vv)) return vv == 0;
    if (json_is_string(value)) return json_string_length(value) == 0;
    if (json_is_boolean(value)) return json_is_false(value);
    return false;
  }
  if (json_is_object(pattern)) return json_is_object(value);
  if (json_is_string(pattern)) return string_pattern(value, json_string_value(pattern));
  return false;
}

/* ---- structure walk ---- */

static ekind walk(const json_t *res, const json_t *pat, const char *path, perr *err);

static void set_err(perr *err, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(perr *err, const char *path, const char *fmt, ...) {
  snprintf(err->path, sizeof err->path, "%s", path);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
}

static bool has_anchor_inside(const json_t *v) {
  if (json_is_object(v)) {
    const char *k;
    json_t *c;
    json_object_foreach((json_t *)v, k, c) {
      if (pol_anchor_parse(k, NULL, NULL) != POL_A_NONE) return true;
      if (has_anchor_inside(c)) return true;
    }
  } else if (json_is_array(v)) {
    for (size_t i = 0; i < json_array_size(v); i++)
      if (has_anchor_inside(json_array_get(v, i))) return true;
  }
  return false;
}

/* Key of `o` whose name without anchor is `tag` (NULL if none). */
static const char *find_tag(const json_t *o, const char *tag) {
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)o, k, v) {
    const char *key;
    size_t n;
    if (pol_anchor_parse(k, &key, &n) == POL_A_NONE) {
      key = k;
      n = strlen(k);
    }
    if (strlen(tag) == n && strncmp(key, tag, n) == 0) return k;
  }
  return NULL;
}

static bool all_strings(const json_t *o) {
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)o, k, v) {
    if (!json_is_string(v)) return false;
  }
  return true;
}

/* One labels/annotations map: wildcard keys (anchors kept) take the first
 * resource key that matches key and value; unmatched wildcards become '0'
 * (characters Kubernetes keys cannot hold) so they match nothing. */
static json_t *expand_meta_map(const json_t *pmap, const json_t *rmap) {
  json_t *out = json_object();
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)pmap, k, v) {
    const char *key;
    size_t kl;
    pol_anchor a = pol_anchor_parse(k, &key, &kl);
    if (a == POL_A_NONE) {
      key = k;
      kl = strlen(k);
    }
    char bare[512];
    snprintf(bare, sizeof bare, "%.*s", (int)kl, key);
    const char *vs = json_string_value(v);
    if (!pol_has_wild(bare)) {
      json_object_set(out, k, v);
      continue;
    }
    size_t prefix = a == POL_A_NONE ? 0 : (size_t)(key - k);
    const char *rk;
    json_t *rv;
    bool done = false;
    json_object_foreach((json_t *)rmap, rk, rv) {
      if (pol_wild(bare, rk) && json_is_string(rv) &&
          (a != POL_A_NONE || pol_wild(vs, json_string_value(rv)))) {
        char nk[1100];
        snprintf(nk, sizeof nk, "%.*s%s%s", (int)prefix, k, rk, a == POL_A_NONE ? "" : ")");
        json_object_set(out, nk, v);
        done = true;
        break;
      }
    }
    if (!done) {
      char *nk = strdup(k);
      for (char *c = nk; *c; c++)
        if (*c == '*' || *c == '?') *c = '0';
      json_object_set(out, nk, v);
      free(nk);
    }
  }
  return out;
}

/* wildcards.ExpandInMetadata: wildcard label/annotation keys in the pattern
 * take the matching resource entries.  New reference or NULL (no change). */
static json_t *expand_metadata(const json_t *pat, const json_t *res) {
  const char *mk = find_tag(pat, "metadata");
  const json_t *pm = mk ? json_object_get(pat, mk) : NULL;
  const json_t *rm = json_object_get(res, "metadata");
  if (!json_is_object(pm) || !json_is_object(rm)) return NULL;
  json_t *npm = NULL;
  static const char *const maps[] = {"labels", "annotations"};
  for (size_t i = 0; i < 2; i++) {
    const char *tk = find_tag(pm, maps[i]);
    const json_t *pl = tk ? json_object_get(pm, tk) : NULL;
    const json_t *rl = json_object_get(rm, maps[i]);
    if (!json_is_object(pl) || !all_strings(pl) || !json_is_object(rl) || !all_strings(rl))
      continue;
    bool wild = false;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)pl, k, v) {
      if (pol_has_wild(k)) wild = true;
    }
    if (!wild) continue;
    json_t *nl = expand_meta_map(pl, rl);
    if (!npm) npm = json_deep_copy(pm);
    json_object_set_new(npm, tk, nl);
  }
  if (!npm) return NULL;
  json_t *np = json_copy((json_t *)pat);
  json_object_set_new(np, mk, npm);
  return np;
}

static ekind handle_key(const json_t *rmap, const char *k, const json_t *pv, const char *path,
                        perr *err) {
  const char *key;
  size_t kl;
  char cur[1024];
  pol_anchor a = pol_anchor_parse(k, &key, &kl);
  char kbuf[512];
  if (a != POL_A_NONE) {
    snprintf(kbuf, sizeof kbuf, "%.*s", (int)kl, key);
  } else {
    snprintf(kbuf, sizeof kbuf, "%s", k);
  }
  snprintf(cur, sizeof cur, "%s%s/", path, kbuf);
  const json_t *rv = json_object_get(rmap, kbuf);
  switch (a) {
  case POL_A_NEG:
    if (rv) {
      set_err(err, cur, "%s is not allowed", cur);
      return E_NEG;
    }
    return E_OK;
  case POL_A_EQUAL:
    return rv ? walk(rv, pv, cur, err) : E_OK;
  case POL_A_COND: {
    if (!rv) {
      set_err(err, cur, "conditional anchor key doesn't exist in the resource");
      return E_COND;
    }
    ekind r = walk(rv, pv, cur, err);
    return r == E_OK ? E_OK : E_COND;
  }
  case POL_A_GLOBAL: {
    if (!rv) return E_OK;
    ekind r = walk(rv, pv, cur, err);
    return r == E_OK ? E_OK : E_GLOBAL;
  }
  case POL_A_EXIST: {
    if (!rv) return E_OK;
    if (!json_is_array(rv)) {
      set_err(err, cur, "existence anchor ^() can be used only on list/array type resource");
      return E_FAIL;
    }
    if (!json_is_array(pv)) {
      set_err(err, cur, "existence anchor pattern has to be a list");
      return E_FAIL;
    }
    for (size_t i = 0; i < json_array_size(pv); i++) {
      const json_t *pm = json_array_get(pv, i);
      if (!json_is_object(pm)) {
        set_err(err, cur, "existence anchor pattern items have to be maps");
        return E_FAIL;
      }
      bool found = false;
      for (size_t j = 0; j < json_array_size(rv) && !found; j++) {
        perr tmp;
        char ep[1100];
        snprintf(ep, sizeof ep, "%s%zu/", cur, j);
        if (walk(json_array_get(rv, j), pm, ep, &tmp) == E_OK) found = true;
      }
      if (!found) {
        set_err(err, cur, "existence anchor validation failed at path %s", cur);
        return E_FAIL;
      }
    }
    return E_OK;
  }
  case POL_A_ADD:
  case POL_A_NONE:
  default:
    if (json_is_string(pv) && strcmp(json_string_value(pv), "*") == 0) {
      if (rv && !json_is_null(rv)) return E_OK;
      set_err(err, path, "%s%s not found", path, kbuf);
      return E_FAIL;
    }
    return walk(rv, pv, cur, err);
  }
}

static ekind walk_map(const json_t *rmap, const json_t *pmap, const char *path, perr *err) {
  json_t *expanded = expand_metadata(pmap, rmap);
  if (expanded) pmap = expanded;
  ekind r = E_OK;
  const char *k;
  json_t *v;
  /* phase 1: anchors */
  json_object_foreach((json_t *)pmap, k, v) {
    pol_anchor a = pol_anchor_parse(k, NULL, NULL);
    if (a == POL_A_NONE || a == POL_A_ADD) continue;
    r = handle_key(rmap, k, v, path, err);
    if (r != E_OK) goto out;
  }
  /* phase 2: plain keys, those hiding anchors first */
  for (int pass = 0; pass < 2; pass++) {
    json_object_foreach((json_t *)pmap, k, v) {
      pol_anchor a = pol_anchor_parse(k, NULL, NULL);
      if (a != POL_A_NONE && a != POL_A_ADD) continue;
      if (has_anchor_inside(v) != (pass == 0)) continue;
      r = handle_key(rmap, k, v, path, err);
      if (r != E_OK) goto out;
    }
  }
out:
  json_decref(expanded);
  return r;
}

static ekind walk_array(const json_t *rarr, const json_t *parr, const char *path, perr *err) {
  if (json_array_size(parr) == 0) {
    set_err(err, path, "pattern Array empty");
    return E_FAIL;
  }
  const json_t *p0 = json_array_get(parr, 0);
  if (json_is_object(p0)) {
    size_t applied = 0, skipped = 0;
    for (size_t i = 0; i < json_array_size(rarr); i++) {
      char ep[1100];
      snprintf(ep, sizeof ep, "%s%zu/", path, i);
      ekind r = walk(json_array_get(rarr, i), p0, ep, err);
      if (r == E_OK) {
        applied++;
      } else if (is_skip(r)) {
        skipped++;
      } else {
        return r;
      }
    }
    if (applied == 0 && skipped > 0) return E_SKIP;
    return E_OK;
  }
  if (!json_is_array(p0)) return walk(rarr, p0, path, err);
  if (json_array_size(rarr) < json_array_size(parr)) {
    set_err(err, path, "validate Array failed, array length mismatch");
    return E_FAIL;
  }
  size_t applied = 0, skipped = 0;
  for (size_t i = 0; i < json_array_size(parr); i++) {
    char ep[1100];
    snprintf(ep, sizeof ep, "%s%zu/", path, i);
    ekind r = walk(json_array_get(rarr, i), json_array_get(parr, i), ep, err);
    if (r == E_OK) applied++;
    else if (is_skip(r)) skipped++;
    else return r;
  }
  if (applied == 0 && skipped > 0) return E_SKIP;
  return E_OK;
}

static ekind walk(const json_t *res, const json_t *pat, const char *path, perr *err) {
  if (json_is_object(pat)) {
    if (!json_is_object(res)) {
      set_err(err, path, "pattern and resource have different structures. Path: %s", path);
      return E_FAIL;
    }
    return walk_map(res, pat, path, err);
  }
  if (json_is_array(pat)) {
    if (!json_is_array(res)) {
      set_err(err, path,
              "validation rule failed at path %s, resource does not satisfy the expected "
              "overlay pattern",
              path);
      return E_FAIL;
    }
    return walk_array(res, pat, path, err);
  }
  if (json_is_array(res)) {
    for (size_t i = 0; i < json_array_size(res); i++)
      if (!pol_value_matches(json_array_get(res, i), pat)) {
        set_err(err, path, "resource value does not match pattern at path %s", path);
        return E_FAIL;
      }
    return E_OK;
  }
  if (!pol_value_matches(res, pat)) {
    char *rs = pol_sprint(res), *ps = pol_sprint(pat);
    set_err(err, path, "resource value '%s' does not match '%s' at path %s", rs ? rs : "",
            ps ? ps : "", path);
    free(rs);
    free(ps);
    return E_FAIL;
  }
  return E_OK;
}

int pol_match_pattern(const json_t *resource, const json_t *pattern, char *msg, size_t n) {
  perr err = {{0}, {0}};
  ekind r = walk(resource, pattern, "/", &err);
  if (msg && n) snprintf(msg, n, "%s", r == E_OK ? "" : err.path);
  if (r == E_OK) return 0;
  if (is_skip(r)) return 2;
  return 1;
}
