/* gotmpl_funcs.c: value printing (Go's fmt and encoding/json) and the
 * function table of the Go template engine: text/template builtins, the
 * Sprig functions, and Argo CD's additions (normalize, slugify, toYaml,
 * fromYaml, fromYamlArray).  The table at the bottom is the one place a
 * function is declared. */
#include "core/common.h"

#include <ctype.h>
#include <math.h>
#include <time.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <openssl/sha.h>
#include <pcre2.h>

#include "core/yaml.h"
#include "gitops/appset/gotmpl.h"
#include "gitops/appset/gotmpl_int.h"

/* ---- value basics ------------------------------------------------------ */

bool gt_truth(const json_t *v) {
  if (!v) return false;
  switch (json_typeof(v)) {
    case JSON_NULL: return false;
    case JSON_FALSE: return false;
    case JSON_TRUE: return true;
    case JSON_INTEGER: return json_integer_value(v) != 0;
    case JSON_REAL: return json_real_value(v) != 0;
    case JSON_STRING: return json_string_length(v) > 0;
    case JSON_ARRAY: return json_array_size(v) > 0;
    case JSON_OBJECT: return json_object_size(v) > 0;
  }
  return false;
}

const char *gt_type_name(const json_t *v) {
  if (!v) return "<nil>";
  switch (json_typeof(v)) {
    case JSON_NULL: return "<nil>";
    case JSON_TRUE:
    case JSON_FALSE: return "bool";
    case JSON_INTEGER: return "int";
    case JSON_REAL: return "float64";
    case JSON_STRING: return "string";
    case JSON_ARRAY: return "[]interface {}";
    case JSON_OBJECT: return "map[string]interface {}";
  }
  return "?";
}

/* Shortest decimal digits that read back as d (d > 0, finite). */
static int shortest(double d, char *digs, int *dp) {
  char buf[48];
  for (int p = 1; p <= 17; p++) {
    snprintf(buf, sizeof buf, "%.*e", p - 1, d);
    if (strtod(buf, NULL) == d) break;
  }
  int nd = 0;
  const char *c = buf;
  for (; *c && *c != 'e'; c++)
    if (*c >= '0' && *c <= '9') digs[nd++] = *c;
  int exp = (int)strtol(c + 1, NULL, 10);
  while (nd > 1 && digs[nd - 1] == '0') nd--;
  digs[nd] = 0;
  *dp = exp + 1;
  return nd;
}

/* fmt 'e' (exp_min2: exponent at least two digits, as strconv) or 'f'
 * shortest forms. */
static void fmt_float(double d, bool use_e, bool json, char *out, size_t n) {
  if (isnan(d)) {
    snprintf(out, n, "NaN");
    return;
  }
  if (isinf(d)) {
    snprintf(out, n, d > 0 ? "+Inf" : "-Inf");
    return;
  }
  if (d == 0) {
    snprintf(out, n, signbit(d) && !json ? "-0" : "0");
    return;
  }
  char digs[32];
  int dp;
  bool neg = d < 0;
  int nd = shortest(fabs(d), digs, &dp);
  idp_buf b;
  idp_buf_init(&b, 128);
  if (neg) idp_buf_addc(&b, '-');
  if (use_e) {
    idp_buf_addc(&b, digs[0]);
    if (nd > 1) {
      idp_buf_addc(&b, '.');
      idp_buf_add(&b, digs + 1, (size_t)nd - 1);
    }
    int exp = dp - 1;
    if (json)
      idp_buf_printf(&b, "e%c%d", exp < 0 ? '-' : '+', abs(exp));
    else
      idp_buf_printf(&b, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
  } else {
    if (dp <= 0) {
      idp_buf_adds(&b, "0.");
      for (int i = 0; i < -dp; i++) idp_buf_addc(&b, '0');
      idp_buf_add(&b, digs, (size_t)nd);
    } else if (dp >= nd) {
      idp_buf_add(&b, digs, (size_t)nd);
      for (int i = nd; i < dp; i++) idp_buf_addc(&b, '0');
    } else {
      idp_buf_add(&b, digs, (size_t)dp);
      idp_buf_addc(&b, '.');
      idp_buf_add(&b, digs + dp, (size_t)(nd - dp));
    }
  }
  snprintf(out, n, "%s", idp_buf_str(&b));
  idp_buf_free(&b);
}

void gt_format_float(double d, char *buf, size_t n) {
  if (d == 0 || isnan(d) || isinf(d)) {
    fmt_float(d, false, false, buf, n);
    return;
  }
  char digs[32];
  int dp;
  shortest(fabs(d), digs, &dp);
  int exp = dp - 1;
  /* strconv 'g' with shortest precision decides with eprec = 6 */
  fmt_float(d, exp < -4 || exp >= 6, false, buf, n);
}

static idp_code print_rec(idp_buf *b, const json_t *v, int depth) {
  if (depth > 200) return idp_buf_adds(b, "...");
  char num[64];
  switch (json_typeof(v)) {
    case JSON_NULL: return idp_buf_adds(b, "<nil>");
    case JSON_TRUE: return idp_buf_adds(b, "true");
    case JSON_FALSE: return idp_buf_adds(b, "false");
    case JSON_INTEGER: return idp_buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL:
      gt_format_float(json_real_value(v), num, sizeof num);
      return idp_buf_adds(b, num);
    case JSON_STRING: return idp_buf_add(b, json_string_value(v), json_string_length(v));
    case JSON_ARRAY: {
      idp_code rc = idp_buf_addc(b, '[');
      size_t i;
      json_t *x;
      json_array_foreach(v, i, x) {
        if (i && !rc) rc = idp_buf_addc(b, ' ');
        if (!rc) rc = print_rec(b, x, depth + 1);
      }
      return rc ? rc : idp_buf_addc(b, ']');
    }
    case JSON_OBJECT: {
      size_t n = json_object_size(v), k = 0;
      const char **keys = calloc(n ? n : 1, sizeof *keys);
      if (!keys) return IDP_ENOMEM;
      const char *key;
      json_t *x;
      json_object_foreach((json_t *)v, key, x) keys[k++] = key;
      for (size_t a = 1; a < n; a++)
        for (size_t c = a; c > 0 && strcmp(keys[c - 1], keys[c]) > 0; c--) {
          const char *t = keys[c];
          keys[c] = keys[c - 1];
          keys[c - 1] = t;
        }
      idp_code rc = idp_buf_adds(b, "map[");
      for (size_t a = 0; a < n && !rc; a++) {
        if (a) rc = idp_buf_addc(b, ' ');
        if (!rc) rc = idp_buf_printf(b, "%s:", keys[a]);
        if (!rc) rc = print_rec(b, json_object_get(v, keys[a]), depth + 1);
      }
      free(keys);
      return rc ? rc : idp_buf_addc(b, ']');
    }
  }
  return IDP_OK;
}

idp_code gt_print(idp_buf *b, const json_t *v) { return print_rec(b, v, 0); }

idp_code idp_gotmpl_print_value(idp_buf *out, const json_t *v) {
  if (!v || json_is_null(v)) return idp_buf_adds(out, "<no value>");
  return gt_print(out, v);
}

idp_code gt_sprint(idp_buf *b, json_t *const *args, int n) {
  idp_code rc = IDP_OK;
  for (int i = 0; i < n && !rc; i++) {
    if (i > 0 && !json_is_string(args[i]) && !json_is_string(args[i - 1])) rc = idp_buf_addc(b, ' ');
    if (!rc) rc = gt_print(b, args[i]);
  }
  return rc;
}

char *gt_strval(const json_t *v) {
  if (!v || json_is_null(v)) return strdup("");
  if (json_is_string(v)) return strndup(json_string_value(v), json_string_length(v));
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  gt_print(&b, v);
  if (!b.data) return strdup("");
  return idp_buf_detach(&b, NULL);
}

/* ---- encoding/json ---------------------------------------------------------- */

static idp_code json_str(idp_buf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  idp_code rc = idp_buf_addc(b, '"');
  for (size_t i = 0; i < n && !rc; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      char esc[2] = {'\\', (char)c};
      rc = idp_buf_add(b, esc, 2);
    } else if (c == '\n') rc = idp_buf_adds(b, "\\n");
    else if (c == '\r') rc = idp_buf_adds(b, "\\r");
    else if (c == '\t') rc = idp_buf_adds(b, "\\t");
    else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
      char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      rc = idp_buf_add(b, esc, 6);
    } else if (c == 0xE2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
               ((unsigned char)s[i + 2] == 0xA8 || (unsigned char)s[i + 2] == 0xA9)) {
      rc = idp_buf_adds(b, (unsigned char)s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029");
      i += 2;
    } else {
      rc = idp_buf_addc(b, (char)c);
    }
  }
  return rc ? rc : idp_buf_addc(b, '"');
}

static int cmp_keys(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static idp_code newline_indent(idp_buf *b, const char *indent, int depth) {
  idp_code rc = idp_buf_addc(b, '\n');
  for (int i = 0; i < depth && !rc; i++) rc = idp_buf_adds(b, indent);
  return rc;
}

idp_code gt_json_encode(idp_buf *b, const json_t *v, const char *indent, int depth) {
  if (depth > 500) return IDP_EINVAL;
  char num[64];
  switch (json_typeof(v)) {
    case JSON_NULL: return idp_buf_adds(b, "null");
    case JSON_TRUE: return idp_buf_adds(b, "true");
    case JSON_FALSE: return idp_buf_adds(b, "false");
    case JSON_INTEGER: return idp_buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL: {
      double d = json_real_value(v), a = fabs(d);
      if (isnan(d) || isinf(d)) return IDP_EINVAL;
      fmt_float(d, a != 0 && (a < 1e-6 || a >= 1e21), true, num, sizeof num);
      return idp_buf_adds(b, num);
    }
    case JSON_STRING: return json_str(b, json_string_value(v), json_string_length(v));
    case JSON_ARRAY: {
      if (json_array_size(v) == 0) return idp_buf_adds(b, "[]");
      idp_code rc = idp_buf_addc(b, '[');
      size_t i;
      json_t *x;
      json_array_foreach(v, i, x) {
        if (i && !rc) rc = idp_buf_addc(b, ',');
        if (indent && !rc) rc = newline_indent(b, indent, depth + 1);
        if (!rc) rc = gt_json_encode(b, x, indent, depth + 1);
      }
      if (indent && !rc) rc = newline_indent(b, indent, depth);
      return rc ? rc : idp_buf_addc(b, ']');
    }
    case JSON_OBJECT: {
      size_t n = json_object_size(v), k = 0;
      if (n == 0) return idp_buf_adds(b, "{}");
      const char **keys = calloc(n, sizeof *keys);
      if (!keys) return IDP_ENOMEM;
      const char *key;
      json_t *x;
      json_object_foreach((json_t *)v, key, x) keys[k++] = key;
      idp_sort(keys, n, sizeof *keys, cmp_keys);
      idp_code rc = idp_buf_addc(b, '{');
      for (size_t a = 0; a < n && !rc; a++) {
        if (a) rc = idp_buf_addc(b, ',');
        if (indent && !rc) rc = newline_indent(b, indent, depth + 1);
        if (!rc) rc = json_str(b, keys[a], strlen(keys[a]));
        if (!rc) rc = idp_buf_adds(b, indent ? ": " : ":");
        if (!rc) rc = gt_json_encode(b, json_object_get(v, keys[a]), indent, depth + 1);
      }
      free(keys);
      if (indent && !rc) rc = newline_indent(b, indent, depth);
      return rc ? rc : idp_buf_addc(b, '}');
    }
  }
  return IDP_OK;
}

/* ---- conversions ------------------------------------------------------------- */

int64_t gt_to_int64(const json_t *v) {
  switch (json_typeof(v)) {
    case JSON_INTEGER: return json_integer_value(v);
    case JSON_REAL: return (int64_t)json_real_value(v);
    case JSON_TRUE: return 1;
    case JSON_STRING: {
      const char *s = json_string_value(v);
      char *end;
      errno = 0;
      long long x = strtoll(s, &end, 0);
      if (*s && !*end && !errno) return x;
      double d = strtod(s, &end);
      if (*s && !*end) return (int64_t)d;
      return 0;
    }
    default: return 0;
  }
}

double gt_to_float(const json_t *v) {
  switch (json_typeof(v)) {
    case JSON_INTEGER: return (double)json_integer_value(v);
    case JSON_REAL: return json_real_value(v);
    case JSON_TRUE: return 1;
    case JSON_STRING: {
      char *end;
      double d = strtod(json_string_value(v), &end);
      return *end ? 0 : d;
    }
    default: return 0;
  }
}

static bool is_num(const json_t *v) { return json_is_integer(v) || json_is_real(v); }

idp_code gt_equal(const json_t *a, const json_t *b, bool *eq, idp_err *e) {
  if (is_num(a) && is_num(b)) {
    if (json_is_integer(a) && json_is_integer(b))
      *eq = json_integer_value(a) == json_integer_value(b);
    else
      *eq = gt_to_float(a) == gt_to_float(b);
    return IDP_OK;
  }
  if (json_is_null(a) || json_is_null(b)) {
    *eq = json_is_null(a) && json_is_null(b);
    return IDP_OK;
  }
  if (json_is_boolean(a) && json_is_boolean(b)) {
    *eq = json_typeof(a) == json_typeof(b);
    return IDP_OK;
  }
  if (json_is_string(a) && json_is_string(b)) {
    *eq = json_string_length(a) == json_string_length(b) &&
          !memcmp(json_string_value(a), json_string_value(b), json_string_length(a));
    return IDP_OK;
  }
  if ((json_is_array(a) || json_is_object(a)) && json_typeof(a) == json_typeof(b))
    return idp_err_set(e, IDP_EINVAL, "non-comparable type %s", gt_type_name(a));
  return idp_err_set(e, IDP_EINVAL, "incompatible types for comparison");
}

/* ---- printf ------------------------------------------------------------------- */

static void go_quote(idp_buf *b, const char *s, size_t n) {
  idp_buf_addc(b, '"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (c) {
      case '"': idp_buf_adds(b, "\\\""); break;
      case '\\': idp_buf_adds(b, "\\\\"); break;
      case '\n': idp_buf_adds(b, "\\n"); break;
      case '\r': idp_buf_adds(b, "\\r"); break;
      case '\t': idp_buf_adds(b, "\\t"); break;
      case '\a': idp_buf_adds(b, "\\a"); break;
      case '\b': idp_buf_adds(b, "\\b"); break;
      case '\f': idp_buf_adds(b, "\\f"); break;
      case '\v': idp_buf_adds(b, "\\v"); break;
      default:
        if (c < 0x20 || c == 0x7f) idp_buf_printf(b, "\\x%02x", c);
        else idp_buf_addc(b, (char)c);
    }
  }
  idp_buf_addc(b, '"');
}

static void pad(idp_buf *b, const char *s, size_t n, int width, bool left, bool zero) {
  int fill = width > (int)n ? width - (int)n : 0;
  if (!left) {
    size_t skip = 0;
    if (zero && n > 0 && (s[0] == '-' || s[0] == '+')) {
      idp_buf_addc(b, s[0]);
      skip = 1;
    }
    for (int i = 0; i < fill; i++) idp_buf_addc(b, zero ? '0' : ' ');
    idp_buf_add(b, s + skip, n - skip);
  } else {
    idp_buf_add(b, s, n);
    for (int i = 0; i < fill; i++) idp_buf_addc(b, ' ');
  }
}

static void bad_verb(idp_buf *b, char verb, const json_t *v) {
  idp_buf_printf(b, "%%!%c(", verb);
  if (json_is_null(v)) idp_buf_adds(b, "<nil>");
  else {
    idp_buf_printf(b, "%s=", gt_type_name(v));
    gt_print(b, v);
  }
  idp_buf_addc(b, ')');
}

idp_code gt_printf(idp_buf *b, const char *f, json_t *const *args, int n, idp_err *e) {
  int ai = 0;
  IDP_UNUSED(e);
  for (const char *p = f; *p; p++) {
    if (*p != '%') {
      idp_buf_addc(b, *p);
      continue;
    }
    p++;
    bool left = false, plus = false, zero = false, sharp = false, space = false;
    for (;; p++) {
      if (*p == '-') left = true;
      else if (*p == '+') plus = true;
      else if (*p == '0') zero = !left;
      else if (*p == '#') sharp = true;
      else if (*p == ' ') space = true;
      else break;
    }
    int width = -1, prec = -1;
    if (*p == '*') {
      width = ai < n ? (int)gt_to_int64(args[ai++]) : 0;
      p++;
    } else {
      while (*p >= '0' && *p <= '9') width = (width < 0 ? 0 : width * 10) + (*p++ - '0');
    }
    if (*p == '.') {
      p++;
      prec = 0;
      if (*p == '*') {
        prec = ai < n ? (int)gt_to_int64(args[ai++]) : 0;
        p++;
      } else {
        while (*p >= '0' && *p <= '9') prec = prec * 10 + (*p++ - '0');
      }
    }
    char verb = *p;
    if (!verb) {
      idp_buf_adds(b, "%!(NOVERB)");
      break;
    }
    if (verb == '%') {
      idp_buf_addc(b, '%');
      continue;
    }
    if (ai >= n) {
      idp_buf_printf(b, "%%!%c(MISSING)", verb);
      continue;
    }
    const json_t *v = args[ai++];
    idp_buf t;
    idp_buf_init(&t, IDP_BUF_DEFAULT_MAX);
    bool num = false;
    switch (verb) {
      case 'v':
        if (sharp && json_is_string(v)) go_quote(&t, json_string_value(v), json_string_length(v));
        else gt_print(&t, v);
        break;
      case 's':
        if (json_is_string(v) || json_is_array(v) || json_is_object(v)) {
          if (json_is_string(v)) {
            size_t l = json_string_length(v);
            if (prec >= 0 && (size_t)prec < l) l = (size_t)prec;
            idp_buf_add(&t, json_string_value(v), l);
          } else {
            gt_print(&t, v);
          }
        } else {
          bad_verb(&t, verb, v);
        }
        break;
      case 'q':
        if (json_is_string(v)) go_quote(&t, json_string_value(v), json_string_length(v));
        else if (json_is_integer(v)) {
          char c = (char)json_integer_value(v);
          idp_buf_printf(&t, "'%c'", c);
        } else bad_verb(&t, verb, v);
        break;
      case 't':
        if (json_is_boolean(v)) idp_buf_adds(&t, json_is_true(v) ? "true" : "false");
        else bad_verb(&t, verb, v);
        break;
      case 'd': case 'b': case 'o': case 'x': case 'X': case 'c': case 'U':
        if (json_is_integer(v)) {
          long long x = json_integer_value(v);
          num = true;
          if (verb == 'd') idp_buf_printf(&t, plus ? "%+lld" : space ? "% lld" : "%lld", x);
          else if (verb == 'x') idp_buf_printf(&t, sharp ? "%#llx" : "%llx", x);
          else if (verb == 'X') idp_buf_printf(&t, sharp ? "%#llX" : "%llX", x);
          else if (verb == 'o') idp_buf_printf(&t, "%llo", x);
          else if (verb == 'c') {
            char u[8];
            snprintf(u, sizeof u, "%c", (int)x);
            idp_buf_adds(&t, u);
          } else if (verb == 'U') idp_buf_printf(&t, "U+%04llX", x);
          else {
            char bits[72];
            int k = 0;
            unsigned long long ux = x < 0 ? (unsigned long long)(-x) : (unsigned long long)x;
            do { bits[k++] = (char)('0' + (ux & 1)); ux >>= 1; } while (ux && k < 70);
            if (x < 0) idp_buf_addc(&t, '-');
            while (k) idp_buf_addc(&t, bits[--k]);
          }
        } else if ((verb == 'x' || verb == 'X') && json_is_string(v)) {
          const unsigned char *s = (const unsigned char *)json_string_value(v);
          for (size_t i = 0; i < json_string_length(v); i++)
            idp_buf_printf(&t, verb == 'x' ? "%02x" : "%02X", s[i]);
        } else {
          bad_verb(&t, verb, v);
        }
        break;
      case 'f': case 'F': case 'e': case 'E': case 'g': case 'G':
        if (json_is_real(v) || json_is_integer(v)) {
          if (json_is_integer(v)) {
            bad_verb(&t, verb, v);
            break;
          }
          num = true;
          double d = json_real_value(v);
          if ((verb == 'g' || verb == 'G') && prec < 0) {
            char fb[64];
            char digs[32];
            int dp;
            if (d != 0 && !isnan(d) && !isinf(d)) {
              shortest(fabs(d), digs, &dp);
              fmt_float(d, dp - 1 < -4 || dp - 1 >= 6, false, fb, sizeof fb);
            } else {
              fmt_float(d, false, false, fb, sizeof fb);
            }
            if (plus && d >= 0) idp_buf_addc(&t, '+');
            idp_buf_adds(&t, fb);
          } else {
            char spec[16];
            snprintf(spec, sizeof spec, "%%%s.%d%c", plus ? "+" : "", prec < 0 ? 6 : prec, verb);
            idp_buf_printf(&t, spec, d);
          }
        } else {
          bad_verb(&t, verb, v);
        }
        break;
      default:
        idp_buf_printf(&t, "%%!%c(", verb);
        gt_print(&t, v);
        idp_buf_addc(&t, ')');
    }
    pad(b, idp_buf_str(&t), t.len, width, left, zero && num);
    idp_buf_free(&t);
  }
  if (ai < n) {
    idp_buf_adds(b, "%!(EXTRA ");
    for (int i = ai; i < n; i++) {
      if (i > ai) idp_buf_adds(b, ", ");
      idp_buf_printf(b, "%s=", gt_type_name(args[i]));
      gt_print(b, args[i]);
    }
    idp_buf_addc(b, ')');
  }
  return IDP_OK;
}

/* ---- helpers for the functions ----------------------------------------------- */

#define FN(name) static idp_code name(json_t *const *a, int n, json_t **out, idp_err *e)
#define UNUSED_ARGS IDP_UNUSED(a); IDP_UNUSED(n); IDP_UNUSED(e)

static idp_code ret_str(json_t **out, const char *s, size_t n, idp_err *e) {
  *out = json_stringn(s ? s : "", s ? n : 0);
  return *out ? IDP_OK : idp_err_set(e, IDP_ENOMEM, "out of memory");
}

static idp_code ret_buf(json_t **out, idp_buf *b, idp_err *e) {
  idp_code rc = ret_str(out, idp_buf_str(b), b->len, e);
  idp_buf_free(b);
  return rc;
}

static idp_code ret_owned(json_t **out, char *s, idp_err *e) {
  if (!s) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  idp_code rc = ret_str(out, s, strlen(s), e);
  free(s);
  return rc;
}

static bool is_space_c(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* Sprig's "empty". */
static bool is_empty(const json_t *v) { return !gt_truth(v); }

/* Go's reflect-based len/index types require lists or maps; Sprig's list
 * functions accept lists only. */
static idp_code need_list(const json_t *v, const char *fn, idp_err *e) {
  if (json_is_array(v)) return IDP_OK;
  return idp_err_set(e, IDP_EINVAL, "Cannot %s on type %s", fn, gt_type_name(v));
}

/* ---- builtins ------------------------------------------------------------------ */

FN(fn_not) {
  UNUSED_ARGS;
  *out = json_boolean(!gt_truth(a[0]));
  return IDP_OK;
}

FN(fn_andor) { /* evaluated lazily by the executor; never called */
  UNUSED_ARGS;
  *out = json_incref(a[n - 1]);
  return IDP_OK;
}

FN(fn_eq) {
  for (int i = 1; i < n; i++) {
    bool eq;
    idp_code rc = gt_equal(a[0], a[i], &eq, e);
    if (rc) return rc;
    if (eq) {
      *out = json_true();
      return IDP_OK;
    }
  }
  *out = json_false();
  return IDP_OK;
}

FN(fn_ne) {
  IDP_UNUSED(n);
  bool eq;
  idp_code rc = gt_equal(a[0], a[1], &eq, e);
  if (rc) return rc;
  *out = json_boolean(!eq);
  return IDP_OK;
}

static idp_code compare(const json_t *x, const json_t *y, int *c, idp_err *e) {
  if (is_num(x) && is_num(y)) {
    if (json_is_integer(x) && json_is_integer(y)) {
      json_int_t p = json_integer_value(x), q = json_integer_value(y);
      *c = p < q ? -1 : p > q;
    } else {
      double p = gt_to_float(x), q = gt_to_float(y);
      *c = p < q ? -1 : p > q;
    }
    return IDP_OK;
  }
  if (json_is_string(x) && json_is_string(y)) {
    int r = strcmp(json_string_value(x), json_string_value(y));
    *c = r < 0 ? -1 : r > 0;
    return IDP_OK;
  }
  if (json_typeof(x) == json_typeof(y) || (json_is_boolean(x) && json_is_boolean(y)))
    return idp_err_set(e, IDP_EINVAL, "invalid type for comparison");
  return idp_err_set(e, IDP_EINVAL, "incompatible types for comparison");
}

#define CMPFN(name, expr)                         \
  FN(name) {                                      \
    IDP_UNUSED(n);                                \
    int c;                                        \
    idp_code rc = compare(a[0], a[1], &c, e);     \
    if (rc) return rc;                            \
    *out = json_boolean(expr);                    \
    return IDP_OK;                                \
  }
CMPFN(fn_lt, c < 0)
CMPFN(fn_le, c <= 0)
CMPFN(fn_gt, c > 0)
CMPFN(fn_ge, c >= 0)

FN(fn_len) {
  IDP_UNUSED(n);
  const json_t *v = a[0];
  size_t l;
  if (json_is_string(v)) l = json_string_length(v);
  else if (json_is_array(v)) l = json_array_size(v);
  else if (json_is_object(v)) l = json_object_size(v);
  else return idp_err_set(e, IDP_EINVAL, "len of type %s", gt_type_name(v));
  *out = json_integer((json_int_t)l);
  return IDP_OK;
}

FN(fn_index) {
  json_t *v = a[0];
  for (int i = 1; i < n; i++) {
    if (json_is_array(v) || json_is_string(v)) {
      if (!json_is_integer(a[i])) return idp_err_set(e, IDP_EINVAL, "cannot index slice/array with type %s", gt_type_name(a[i]));
      json_int_t x = json_integer_value(a[i]);
      size_t len = json_is_array(v) ? json_array_size(v) : json_string_length(v);
      if (x < 0 || (size_t)x >= len) return idp_err_set(e, IDP_EINVAL, "index out of range: %lld", (long long)x);
      if (json_is_string(v)) {
        *out = json_integer((unsigned char)json_string_value(v)[x]);
        return i == n - 1 ? IDP_OK : idp_err_set(e, IDP_EINVAL, "can't index item of type uint8");
      }
      v = json_array_get(v, (size_t)x);
    } else if (json_is_object(v)) {
      if (!json_is_string(a[i])) return idp_err_set(e, IDP_EINVAL, "value has type %s; should be string", gt_type_name(a[i]));
      v = json_object_get(v, json_string_value(a[i]));
      if (!v) v = json_null();
    } else if (json_is_null(v)) {
      return idp_err_set(e, IDP_EINVAL, "index of untyped nil");
    } else {
      return idp_err_set(e, IDP_EINVAL, "can't index item of type %s", gt_type_name(v));
    }
  }
  *out = json_incref(v);
  return IDP_OK;
}

FN(fn_slice) {
  json_t *v = a[0];
  size_t len;
  if (json_is_string(v)) len = json_string_length(v);
  else if (json_is_array(v)) len = json_array_size(v);
  else return idp_err_set(e, IDP_EINVAL, "can't slice item of type %s", gt_type_name(v));
  json_int_t idx[3] = {0, (json_int_t)len, (json_int_t)len};
  for (int i = 1; i < n; i++) {
    if (!json_is_integer(a[i])) return idp_err_set(e, IDP_EINVAL, "cannot index slice/array with type %s", gt_type_name(a[i]));
    idx[i - 1] = json_integer_value(a[i]);
    if (idx[i - 1] < 0 || (size_t)idx[i - 1] > len) return idp_err_set(e, IDP_EINVAL, "index out of range: %lld", (long long)idx[i - 1]);
  }
  if (n < 3) idx[1] = (json_int_t)len;
  if (idx[0] > idx[1]) return idp_err_set(e, IDP_EINVAL, "invalid slice index: %lld > %lld", (long long)idx[0], (long long)idx[1]);
  if (json_is_string(v)) return ret_str(out, json_string_value(v) + idx[0], (size_t)(idx[1] - idx[0]), e);
  json_t *r = json_array();
  for (json_int_t i = idx[0]; i < idx[1]; i++) json_array_append(r, json_array_get(v, (size_t)i));
  *out = r;
  return IDP_OK;
}

FN(fn_print) {
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  gt_sprint(&b, a, n);
  return ret_buf(out, &b, e);
}

FN(fn_println) {
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  for (int i = 0; i < n; i++) {
    if (i) idp_buf_addc(&b, ' ');
    gt_print(&b, a[i]);
  }
  idp_buf_addc(&b, '\n');
  return ret_buf(out, &b, e);
}

FN(fn_printf) {
  if (!json_is_string(a[0])) return idp_err_set(e, IDP_EINVAL, "wrong type for value; expected string; got %s", gt_type_name(a[0]));
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  gt_printf(&b, json_string_value(a[0]), a + 1, n - 1, e);
  return ret_buf(out, &b, e);
}

/* html/js/urlquery: one string argument as is, else fmt.Sprint of all. */
static char *eval_args_str(json_t *const *a, int n) {
  if (n == 1 && json_is_string(a[0])) return strdup(json_string_value(a[0]));
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  gt_sprint(&b, a, n);
  if (!b.data) return strdup("");
  return idp_buf_detach(&b, NULL);
}

FN(fn_html) {
  char *s = eval_args_str(a, n);
  if (!s) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  for (const char *p = s; *p; p++) {
    switch (*p) {
      case '<': idp_buf_adds(&b, "&lt;"); break;
      case '>': idp_buf_adds(&b, "&gt;"); break;
      case '&': idp_buf_adds(&b, "&amp;"); break;
      case '\'': idp_buf_adds(&b, "&#39;"); break;
      case '"': idp_buf_adds(&b, "&#34;"); break;
      default: idp_buf_addc(&b, *p);
    }
  }
  free(s);
  return ret_buf(out, &b, e);
}

FN(fn_js) {
  char *s = eval_args_str(a, n);
  if (!s) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
      case '\\': idp_buf_adds(&b, "\\\\"); break;
      case '\'': idp_buf_adds(&b, "\\'"); break;
      case '"': idp_buf_adds(&b, "\\\""); break;
      case '<': idp_buf_adds(&b, "\\u003C"); break;
      case '>': idp_buf_adds(&b, "\\u003E"); break;
      case '&': idp_buf_adds(&b, "\\u0026"); break;
      case '=': idp_buf_adds(&b, "\\u003D"); break;
      case '\n': idp_buf_adds(&b, "\\n"); break;
      case '\r': idp_buf_adds(&b, "\\r"); break;
      case '\t': idp_buf_adds(&b, "\\t"); break;
      default:
        if (*p < 0x20) idp_buf_printf(&b, "\\u%04X", *p);
        else idp_buf_addc(&b, (char)*p);
    }
  }
  free(s);
  return ret_buf(out, &b, e);
}

FN(fn_urlquery) {
  char *s = eval_args_str(a, n);
  if (!s) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    unsigned char c = *p;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~')
      idp_buf_addc(&b, (char)c);
    else if (c == ' ')
      idp_buf_addc(&b, '+');
    else
      idp_buf_printf(&b, "%%%02X", c);
  }
  free(s);
  return ret_buf(out, &b, e);
}

/* ---- Sprig: defaults and logic ------------------------------------------------ */

FN(fn_default) {
  IDP_UNUSED(e);
  *out = json_incref(n < 2 || is_empty(a[1]) ? a[0] : a[1]);
  return IDP_OK;
}

FN(fn_empty) {
  UNUSED_ARGS;
  *out = json_boolean(is_empty(a[0]));
  return IDP_OK;
}

FN(fn_coalesce) {
  IDP_UNUSED(e);
  for (int i = 0; i < n; i++)
    if (!is_empty(a[i])) {
      *out = json_incref(a[i]);
      return IDP_OK;
    }
  *out = json_null();
  return IDP_OK;
}

FN(fn_ternary) {
  UNUSED_ARGS;
  *out = json_incref(json_is_true(a[2]) ? a[0] : a[1]);
  return IDP_OK;
}

FN(fn_fail) {
  IDP_UNUSED(n);
  IDP_UNUSED(out);
  char *s = gt_strval(a[0]);
  idp_err_set(e, IDP_EINVALID, "%s", s ? s : "");
  free(s);
  return IDP_EINVALID;
}

/* ---- Sprig: encodings ------------------------------------------------------------ */

/* Sprig's toJson (json.Marshal: sorted keys, HTML escaped); errors give "". */
FN(fn_tojson) {
  IDP_UNUSED(n);
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  if (gt_json_encode(&b, a[0], NULL, 0)) idp_buf_reset(&b);
  return ret_buf(out, &b, e);
}

FN(fn_toprettyjson) {
  IDP_UNUSED(n);
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  if (gt_json_encode(&b, a[0], "  ", 0)) idp_buf_reset(&b);
  return ret_buf(out, &b, e);
}

/* Go's JSON -> YAML goes through float64 -> int for integral numbers. */
static json_t *yaml_ready(const json_t *v) {
  if (json_is_real(v)) {
    double d = json_real_value(v);
    if (d == floor(d) && fabs(d) < 9e15) return json_integer((json_int_t)d);
    return json_incref((json_t *)v);
  }
  if (json_is_array(v)) {
    json_t *r = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) json_array_append_new(r, yaml_ready(x));
    return r;
  }
  if (json_is_object(v)) {
    json_t *r = json_object();
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x) json_object_set_new(r, k, yaml_ready(x));
    return r;
  }
  return json_incref((json_t *)v);
}

/* Argo CD's toYaml: sigs.k8s.io/yaml Marshal (sorted keys), trailing
 * newline removed; errors give "". */
FN(fn_toyaml) {
  IDP_UNUSED(n);
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  json_t *v = yaml_ready(a[0]);
  idp_err ye = IDP_ERR_INIT;
  if (json_is_null(v)) idp_buf_adds(&b, "null");
  else if (idp_yaml_emit(&b, v, IDP_YAML_SORT_KEYS, &ye)) idp_buf_reset(&b);
  json_decref(v);
  while (b.len && b.data[b.len - 1] == '\n') b.data[--b.len] = 0;
  return ret_buf(out, &b, e);
}

static json_t *reals(const json_t *v) { /* YAML numbers decode as float64 in Go */
  if (json_is_integer(v)) return json_real((double)json_integer_value(v));
  if (json_is_array(v)) {
    json_t *r = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) json_array_append_new(r, reals(x));
    return r;
  }
  if (json_is_object(v)) {
    json_t *r = json_object();
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x) json_object_set_new(r, k, reals(x));
    return r;
  }
  return json_incref((json_t *)v);
}

/* fromYaml: a map; on a parse error a map {"Error": message} (Helm's and
 * Argo CD's convention). */
static idp_code from_yaml(json_t *const *a, bool array, json_t **out, idp_err *e) {
  char *s = gt_strval(a[0]);
  if (!s) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  json_t *doc = NULL;
  idp_err ye = IDP_ERR_INIT;
  idp_code rc = idp_yaml_load_one(s, strlen(s), "fromYaml", NULL, &doc, &ye);
  free(s);
  if (!rc && !json_is_null(doc) && (array ? !json_is_array(doc) : !json_is_object(doc))) {
    rc = IDP_EINVAL;
    snprintf(ye.msg, sizeof ye.msg, "cannot unmarshal %s into Go value of type %s",
             json_is_array(doc) ? "array" : "scalar", array ? "[]interface {}" : "map[string]interface {}");
  }
  if (rc) {
    json_decref(doc);
    *out = array ? json_pack("[s]", ye.msg) : json_pack("{s:s}", "Error", ye.msg);
    return IDP_OK;
  }
  if (json_is_null(doc)) {
    json_decref(doc);
    doc = array ? json_array() : json_object();
  }
  *out = reals(doc);
  json_decref(doc);
  return IDP_OK;
}

FN(fn_fromyaml) {
  IDP_UNUSED(n);
  return from_yaml(a, false, out, e);
}
FN(fn_fromyamlarray) {
  IDP_UNUSED(n);
  return from_yaml(a, true, out, e);
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

FN(fn_b64enc) {
  IDP_UNUSED(n);
  char *s = gt_strval(a[0]);
  if (!s) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  size_t l = strlen(s);
  const unsigned char *u = (const unsigned char *)s;
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  for (size_t i = 0; i < l; i += 3) {
    unsigned v = (unsigned)u[i] << 16 | (i + 1 < l ? (unsigned)u[i + 1] << 8 : 0) | (i + 2 < l ? u[i + 2] : 0);
    char q[4] = {b64chars[v >> 18 & 63], b64chars[v >> 12 & 63], i + 1 < l ? b64chars[v >> 6 & 63] : '=',
                 i + 2 < l ? b64chars[v & 63] : '='};
    idp_buf_add(&b, q, 4);
  }
  free(s);
  return ret_buf(out, &b, e);
}

FN(fn_b64dec) {
  IDP_UNUSED(n);
  char *s = gt_strval(a[0]);
  if (!s) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  unsigned acc = 0;
  int bits = 0;
  bool bad = false;
  for (const char *p = s; *p; p++) {
    if (*p == '=') break;
    const char *c = strchr(b64chars, *p);
    if (!c || !*p) {
      bad = true;
      break;
    }
    acc = acc << 6 | (unsigned)(c - b64chars);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      idp_buf_addc(&b, (char)(acc >> bits & 0xFF));
    }
  }
  if (bad) { /* Sprig returns the decoder's error text */
    idp_buf_reset(&b);
    idp_buf_adds(&b, "illegal base64 data at input byte 0");
  }
  free(s);
  return ret_buf(out, &b, e);
}

FN(fn_sha256sum) {
  IDP_UNUSED(n);
  char *s = gt_strval(a[0]);
  if (!s) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256((const unsigned char *)s, strlen(s), md);
  free(s);
  char hex[SHA256_DIGEST_LENGTH * 2 + 1];
  for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
  return ret_str(out, hex, strlen(hex), e);
}

FN(fn_sha1sum) {
  IDP_UNUSED(n);
  char *s = gt_strval(a[0]);
  if (!s) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  unsigned char md[SHA_DIGEST_LENGTH];
  SHA1((const unsigned char *)s, strlen(s), md);
  free(s);
  char hex[SHA_DIGEST_LENGTH * 2 + 1];
  for (int i = 0; i < SHA_DIGEST_LENGTH; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
  return ret_str(out, hex, strlen(hex), e);
}

/* ---- Sprig: strings -------------------------------------------------------------- */

static idp_code map_chars(json_t *const *a, json_t **out, idp_err *e, int (*f)(int)) {
  char *s = gt_strval(a[0]);
  if (!s) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  for (char *p = s; *p; p++)
    if ((unsigned char)*p < 0x80) *p = (char)f(*p);
  return ret_owned(out, s, e);
}

static int lower_c(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }
static int upper_c(int c) { return c >= 'a' && c <= 'z' ? c - 32 : c; }
FN(fn_lower) { IDP_UNUSED(n); return map_chars(a, out, e, lower_c); }
FN(fn_upper) { IDP_UNUSED(n); return map_chars(a, out, e, upper_c); }

FN(fn_title) {
  IDP_UNUSED(n);
  char *s = gt_strval(a[0]);
  if (!s) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  bool start = true;
  for (char *p = s; *p; p++) {
    bool letter = ((*p | 32) >= 'a' && (*p | 32) <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
                  (unsigned char)*p >= 0x80 || *p == '\'';
    if (letter && start) *p = (char)upper_c(*p);
    start = !letter;
  }
  return ret_owned(out, s, e);
}

FN(fn_untitle) {
  IDP_UNUSED(n);
  char *s = gt_strval(a[0]);
  if (!s) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  bool start = true;
  for (char *p = s; *p; p++) {
    bool sp = *p == ' ' || *p == '\t' || *p == '\n';
    if (!sp && start) *p = (char)lower_c(*p);
    start = sp;
  }
  return ret_owned(out, s, e);
}

static bool in_set(char c, const char *set) { return c && strchr(set, c); }

static idp_code trim_set(json_t *const *a, const char *set, bool left, bool right, json_t **out, idp_err *e) {
  char *s = gt_strval(a[0]);
  if (!s) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  size_t b = 0, l = strlen(s);
  if (left)
    while (b < l && in_set(s[b], set)) b++;
  if (right)
    while (l > b && in_set(s[l - 1], set)) l--;
  idp_code rc = ret_str(out, s + b, l - b, e);
  free(s);
  return rc;
}

FN(fn_trim) { IDP_UNUSED(n); return trim_set(a, " \t\n\r\v\f", true, true, out, e); }

FN(fn_trimall) {
  IDP_UNUSED(n);
  char *set = gt_strval(a[0]);
  if (!set) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  idp_code rc = trim_set(a + 1, set, true, true, out, e);
  free(set);
  return rc;
}

FN(fn_trimprefix) {
  IDP_UNUSED(n);
  char *p = gt_strval(a[0]), *s = gt_strval(a[1]);
  idp_code rc;
  if (!p || !s) rc = idp_err_set(e, IDP_ENOMEM, "out of memory");
  else {
    size_t pl = strlen(p);
    rc = ret_str(out, strncmp(s, p, pl) ? s : s + pl, strncmp(s, p, pl) ? strlen(s) : strlen(s) - pl, e);
  }
  free(p);
  free(s);
  return rc;
}

FN(fn_trimsuffix) {
  IDP_UNUSED(n);
  char *p = gt_strval(a[0]), *s = gt_strval(a[1]);
  idp_code rc;
  if (!p || !s) rc = idp_err_set(e, IDP_ENOMEM, "out of memory");
  else {
    size_t pl = strlen(p), sl = strlen(s);
    bool has = sl >= pl && !strcmp(s + sl - pl, p);
    rc = ret_str(out, s, has ? sl - pl : sl, e);
  }
  free(p);
  free(s);
  return rc;
}

/* strings.Replace(src, old, new, -1); old "" inserts between runes. */
static void replace_all(idp_buf *b, const char *s, const char *old, const char *nw) {
  size_t ol = strlen(old);
  if (!ol) {
    idp_buf_adds(b, nw);
    for (const char *p = s; *p; p++) {
      idp_buf_addc(b, *p);
      if (((unsigned char)p[1] & 0xC0) != 0x80) idp_buf_adds(b, nw);
    }
    return;
  }
  const char *p = s, *q;
  while ((q = strstr(p, old))) {
    idp_buf_add(b, p, (size_t)(q - p));
    idp_buf_adds(b, nw);
    p = q + ol;
  }
  idp_buf_adds(b, p);
}

FN(fn_replace) {
  IDP_UNUSED(n);
  char *old = gt_strval(a[0]), *nw = gt_strval(a[1]), *s = gt_strval(a[2]);
  idp_code rc;
  if (!old || !nw || !s) rc = idp_err_set(e, IDP_ENOMEM, "out of memory");
  else {
    idp_buf b;
    idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
    replace_all(&b, s, old, nw);
    rc = ret_buf(out, &b, e);
  }
  free(old);
  free(nw);
  free(s);
  return rc;
}

FN(fn_trunc) {
  IDP_UNUSED(n);
  int64_t c = gt_to_int64(a[0]);
  char *s = gt_strval(a[1]);
  if (!s) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  int64_t l = (int64_t)strlen(s);
  idp_code rc;
  if (c < 0 && l + c > 0) rc = ret_str(out, s + l + c, (size_t)-c, e);
  else if (c >= 0 && l > c) rc = ret_str(out, s, (size_t)c, e);
  else rc = ret_str(out, s, (size_t)l, e);
  free(s);
  return rc;
}

FN(fn_substr) {
  IDP_UNUSED(n);
  int64_t st = gt_to_int64(a[0]), en = gt_to_int64(a[1]);
  char *s = gt_strval(a[2]);
  if (!s) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  int64_t l = (int64_t)strlen(s);
  if (st < 0) st = 0;
  if (en < 0 || en > l) en = l;
  if (st > en) st = en;
  idp_code rc = ret_str(out, s + st, (size_t)(en - st), e);
  free(s);
  return rc;
}

static idp_code quote_impl(json_t *const *a, int n, char q, json_t **out, idp_err *e) {
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  bool first = true;
  for (int i = 0; i < n; i++) {
    if (json_is_null(a[i])) continue;
    if (!first) idp_buf_addc(&b, ' ');
    first = false;
    char *s = gt_strval(a[i]);
    if (!s) continue;
    if (q == '"') go_quote(&b, s, strlen(s));
    else {
      idp_buf_addc(&b, '\'');
      idp_buf_adds(&b, s);
      idp_buf_addc(&b, '\'');
    }
    free(s);
  }
  return ret_buf(out, &b, e);
}
FN(fn_quote) { return quote_impl(a, n, '"', out, e); }
FN(fn_squote) { return quote_impl(a, n, '\'', out, e); }

FN(fn_contains) {
  IDP_UNUSED(n);
  char *sub = gt_strval(a[0]), *s = gt_strval(a[1]);
  if (!sub || !s) {
    free(sub);
    free(s);
    return idp_err_set(e, IDP_ENOMEM, "out of memory");
  }
  *out = json_boolean(strstr(s, sub) != NULL);
  free(sub);
  free(s);
  return IDP_OK;
}

FN(fn_hasprefix) {
  IDP_UNUSED(n);
  char *p = gt_strval(a[0]), *s = gt_strval(a[1]);
  if (!p || !s) {
    free(p);
    free(s);
    return idp_err_set(e, IDP_ENOMEM, "out of memory");
  }
  *out = json_boolean(!strncmp(s, p, strlen(p)));
  free(p);
  free(s);
  return IDP_OK;
}

FN(fn_hassuffix) {
  IDP_UNUSED(n);
  char *p = gt_strval(a[0]), *s = gt_strval(a[1]);
  if (!p || !s) {
    free(p);
    free(s);
    return idp_err_set(e, IDP_ENOMEM, "out of memory");
  }
  size_t pl = strlen(p), sl = strlen(s);
  *out = json_boolean(sl >= pl && !strcmp(s + sl - pl, p));
  free(p);
  free(s);
  return IDP_OK;
}

/* strings.Split: sep "" splits into UTF-8 sequences. */
static json_t *split(const char *s, const char *sep) {
  json_t *r = json_array();
  size_t sl = strlen(sep);
  if (!sl) {
    for (const char *p = s; *p;) {
      const char *q = p + 1;
      while (*q && ((unsigned char)*q & 0xC0) == 0x80) q++;
      json_array_append_new(r, json_stringn(p, (size_t)(q - p)));
      p = q;
    }
    return r;
  }
  const char *p = s, *q;
  while ((q = strstr(p, sep))) {
    json_array_append_new(r, json_stringn(p, (size_t)(q - p)));
    p = q + sl;
  }
  json_array_append_new(r, json_string(p));
  return r;
}

FN(fn_splitlist) {
  IDP_UNUSED(n);
  char *sep = gt_strval(a[0]), *s = gt_strval(a[1]);
  if (!sep || !s) {
    free(sep);
    free(s);
    return idp_err_set(e, IDP_ENOMEM, "out of memory");
  }
  *out = split(s, sep);
  free(sep);
  free(s);
  return IDP_OK;
}

FN(fn_split) { /* map _0, _1, ... */
  json_t *l;
  idp_code rc = fn_splitlist(a, n, &l, e);
  if (rc) return rc;
  json_t *m = json_object();
  size_t i;
  json_t *x;
  json_array_foreach(l, i, x) {
    char k[32];
    snprintf(k, sizeof k, "_%zu", i);
    json_object_set(m, k, x);
  }
  json_decref(l);
  *out = m;
  return IDP_OK;
}

FN(fn_join) {
  IDP_UNUSED(n);
  char *sep = gt_strval(a[0]);
  if (!sep) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  if (json_is_array(a[1])) {
    size_t i;
    json_t *x;
    bool first = true;
    json_array_foreach(a[1], i, x) {
      if (json_is_null(x)) continue;
      if (!first) idp_buf_adds(&b, sep);
      first = false;
      char *s = gt_strval(x);
      if (s) idp_buf_adds(&b, s);
      free(s);
    }
  } else if (!json_is_null(a[1])) {
    char *s = gt_strval(a[1]);
    if (s) idp_buf_adds(&b, s);
    free(s);
  }
  free(sep);
  return ret_buf(out, &b, e);
}

FN(fn_repeat) {
  IDP_UNUSED(n);
  int64_t c = gt_to_int64(a[0]);
  char *s = gt_strval(a[1]);
  if (!s) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  if (c < 0) {
    free(s);
    return idp_err_set(e, IDP_EINVAL, "strings: negative Repeat count");
  }
  idp_buf b;
  idp_buf_init(&b, (size_t)1 << 20);
  for (int64_t i = 0; i < c; i++)
    if (idp_buf_adds(&b, s)) {
      free(s);
      idp_buf_free(&b);
      return idp_err_set(e, IDP_ETOOLARGE, "repeat: result too large");
    }
  free(s);
  return ret_buf(out, &b, e);
}

FN(fn_nospace) {
  IDP_UNUSED(n);
  char *s = gt_strval(a[0]);
  if (!s) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  char *w = s;
  for (char *p = s; *p; p++)
    if (!is_space_c(*p)) *w++ = *p;
  *w = 0;
  return ret_owned(out, s, e);
}

static idp_code indent_impl(json_t *const *a, bool nl, json_t **out, idp_err *e) {
  int64_t c = gt_to_int64(a[0]);
  char *s = gt_strval(a[1]);
  if (!s) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  if (nl) idp_buf_addc(&b, '\n');
  for (int64_t i = 0; i < c && i < 4096; i++) idp_buf_addc(&b, ' ');
  for (const char *p = s; *p; p++) {
    idp_buf_addc(&b, *p);
    if (*p == '\n')
      for (int64_t i = 0; i < c && i < 4096; i++) idp_buf_addc(&b, ' ');
  }
  free(s);
  return ret_buf(out, &b, e);
}
FN(fn_indent) { IDP_UNUSED(n); return indent_impl(a, false, out, e); }
FN(fn_nindent) { IDP_UNUSED(n); return indent_impl(a, true, out, e); }

FN(fn_cat) {
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  bool first = true;
  for (int i = 0; i < n; i++) {
    if (json_is_null(a[i])) continue;
    if (!first) idp_buf_addc(&b, ' ');
    first = false;
    gt_print(&b, a[i]);
  }
  return ret_buf(out, &b, e);
}

/* kebabcase/snakecase: Sprig (xstrings) inserts the separator at word
 * boundaries (lower->upper, and between letters and separators). */
static idp_code case_conv(json_t *const *a, char sep, json_t **out, idp_err *e) {
  char *s = gt_strval(a[0]);
  if (!s) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  char prev = 0;
  for (const char *p = s; *p; p++) {
    char c = *p;
    bool up = c >= 'A' && c <= 'Z';
    if (c == ' ' || c == '_' || c == '-' || c == '.') {
      if (b.len && b.data[b.len - 1] != sep) idp_buf_addc(&b, sep);
      prev = sep;
      continue;
    }
    if (up && prev && ((prev >= 'a' && prev <= 'z') || (prev >= '0' && prev <= '9')) && b.len &&
        b.data[b.len - 1] != sep)
      idp_buf_addc(&b, sep);
    idp_buf_addc(&b, (char)lower_c(c));
    prev = c;
  }
  while (b.len && b.data[b.len - 1] == sep) b.data[--b.len] = 0;
  free(s);
  return ret_buf(out, &b, e);
}
FN(fn_kebabcase) { IDP_UNUSED(n); return case_conv(a, '-', out, e); }
FN(fn_snakecase) { IDP_UNUSED(n); return case_conv(a, '_', out, e); }

FN(fn_camelcase) {
  IDP_UNUSED(n);
  char *s = gt_strval(a[0]);
  if (!s) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  bool up = true;
  for (const char *p = s; *p; p++) {
    if (*p == '_' || *p == '-' || *p == ' ') {
      up = true;
      continue;
    }
    idp_buf_addc(&b, up ? (char)upper_c(*p) : *p);
    up = false;
  }
  free(s);
  return ret_buf(out, &b, e);
}

/* ---- Argo CD: normalize, slugify ---------------------------------------------- */

char *idp_gotmpl_normalize(const char *in) {
  size_t l = strlen(in);
  char *s = malloc(l + 1);
  if (!s) return NULL;
  for (size_t i = 0; i < l; i++) {
    char c = (char)lower_c(in[i]);
    s[i] = ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.') ? c : '-';
  }
  /* a multi-byte rune is one '-' in Go's regexp replacement */
  size_t w = 0;
  for (size_t i = 0; i < l; i++) {
    if (((unsigned char)in[i] & 0xC0) == 0x80) continue;
    s[w++] = s[i];
  }
  s[w] = 0;
  if (w > 253) s[w = 253] = 0;
  size_t b = 0;
  while (s[b] == '-' || s[b] == '.') b++;
  while (w > b && (s[w - 1] == '-' || s[w - 1] == '.')) w--;
  memmove(s, s + b, w - b);
  s[w - b] = 0;
  return s;
}

FN(fn_normalize) {
  IDP_UNUSED(n);
  char *s = gt_strval(a[0]);
  if (!s) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  char *r = idp_gotmpl_normalize(s);
  free(s);
  return ret_owned(out, r, e);
}

/* slugify [maxSize=50] [smartTruncate=true] name: normalize, then the
 * slug rules (a-z0-9 and '-', collapsed), truncated at maxSize (at a '-'
 * boundary when smart). */
FN(fn_slugify) {
  int64_t max = 50;
  bool smart = true;
  if (n >= 2) max = gt_to_int64(a[0]);
  if (n >= 3) smart = gt_truth(a[1]);
  char *s = gt_strval(a[n - 1]);
  if (!s) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  char *norm = idp_gotmpl_normalize(s);
  free(s);
  if (!norm) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  for (const char *p = norm; *p; p++) {
    char c = *p;
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (ok) idp_buf_addc(&b, c);
    else if (b.len && b.data[b.len - 1] != '-') idp_buf_addc(&b, '-');
  }
  free(norm);
  while (b.len && b.data[b.len - 1] == '-') b.data[--b.len] = 0;
  if (max > 0 && b.len > (size_t)max) {
    size_t cut = (size_t)max;
    if (smart) {
      size_t k = cut;
      while (k > 0 && b.data[k] != '-') k--;
      if (k > 0) cut = k;
    }
    b.data[cut] = 0;
    b.len = cut;
    while (b.len && b.data[b.len - 1] == '-') b.data[--b.len] = 0;
  }
  return ret_buf(out, &b, e);
}

/* ---- Sprig: regular expressions ---------------------------------------------- */

static pcre2_code *re_compile(const char *re, idp_err *e) {
  int err;
  PCRE2_SIZE off;
  pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &err, &off, NULL);
  if (!c) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    idp_err_set(e, IDP_EINVAL, "error parsing regexp: %s: `%s`", (char *)msg, re);
  }
  return c;
}

FN(fn_regexmatch) {
  IDP_UNUSED(n);
  char *re = gt_strval(a[0]), *s = gt_strval(a[1]);
  idp_code rc = IDP_OK;
  pcre2_code *c = re ? re_compile(re, e) : NULL;
  if (!c || !s) rc = e && e->code ? e->code : idp_err_set(e, IDP_ENOMEM, "out of memory");
  else {
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(c, NULL);
    int r = pcre2_match(c, (PCRE2_SPTR)s, strlen(s), 0, 0, md, NULL);
    pcre2_match_data_free(md);
    *out = json_boolean(r >= 0);
  }
  pcre2_code_free(c);
  free(re);
  free(s);
  return rc;
}

FN(fn_regexfind) {
  IDP_UNUSED(n);
  char *re = gt_strval(a[0]), *s = gt_strval(a[1]);
  idp_code rc = IDP_OK;
  pcre2_code *c = re ? re_compile(re, e) : NULL;
  if (!c || !s) rc = e && e->code ? e->code : idp_err_set(e, IDP_ENOMEM, "out of memory");
  else {
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(c, NULL);
    int r = pcre2_match(c, (PCRE2_SPTR)s, strlen(s), 0, 0, md, NULL);
    if (r >= 0) {
      PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
      rc = ret_str(out, s + ov[0], ov[1] - ov[0], e);
    } else {
      rc = ret_str(out, "", 0, e);
    }
    pcre2_match_data_free(md);
  }
  pcre2_code_free(c);
  free(re);
  free(s);
  return rc;
}

static idp_code regex_replace(json_t *const *a, bool literal, json_t **out, idp_err *e) {
  char *re = gt_strval(a[0]), *s = gt_strval(a[1]), *rep = gt_strval(a[2]);
  idp_code rc = IDP_OK;
  pcre2_code *c = re ? re_compile(re, e) : NULL;
  if (!c || !s || !rep) {
    rc = e && e->code ? e->code : idp_err_set(e, IDP_ENOMEM, "out of memory");
  } else {
    idp_buf b;
    idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(c, NULL);
    size_t len = strlen(s), pos = 0;
    while (pos <= len) {
      int r = pcre2_match(c, (PCRE2_SPTR)s, len, pos, 0, md, NULL);
      if (r < 0) break;
      PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
      idp_buf_add(&b, s + pos, ov[0] - pos);
      if (literal) {
        idp_buf_adds(&b, rep);
      } else { /* Go's Expand: $1, ${1}, ${name}, $$ */
        for (const char *p = rep; *p; p++) {
          if (*p != '$') {
            idp_buf_addc(&b, *p);
            continue;
          }
          if (p[1] == '$') {
            idp_buf_addc(&b, '$');
            p++;
            continue;
          }
          const char *st = p + 1, *en;
          bool brace = *st == '{';
          if (brace) st++;
          en = st;
          while (*en && (isalnum((unsigned char)*en) || *en == '_')) en++;
          if (en == st || (brace && *en != '}')) {
            idp_buf_addc(&b, '$');
            continue;
          }
          char name[64];
          snprintf(name, sizeof name, "%.*s", (int)(en - st), st);
          char *endn;
          long g = strtol(name, &endn, 10);
          if (*endn) g = pcre2_substring_number_from_name(c, (PCRE2_SPTR)name);
          if (g >= 0 && g < r) idp_buf_add(&b, s + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
          p = brace ? en : en - 1;
        }
      }
      if (ov[1] == ov[0]) {
        if (ov[0] < len) idp_buf_addc(&b, s[ov[0]]);
        pos = ov[0] + 1;
      } else {
        pos = ov[1];
      }
    }
    if (pos < len) idp_buf_adds(&b, s + pos);
    pcre2_match_data_free(md);
    rc = ret_buf(out, &b, e);
  }
  pcre2_code_free(c);
  free(re);
  free(s);
  free(rep);
  return rc;
}
FN(fn_regexreplaceall) { IDP_UNUSED(n); return regex_replace(a, false, out, e); }
FN(fn_regexreplaceallliteral) { IDP_UNUSED(n); return regex_replace(a, true, out, e); }

/* ---- Sprig: numbers ------------------------------------------------------------ */

FN(fn_int) { UNUSED_ARGS; *out = json_integer(gt_to_int64(a[0])); return IDP_OK; }
FN(fn_float64) { UNUSED_ARGS; *out = json_real(gt_to_float(a[0])); return IDP_OK; }
FN(fn_atoi) {
  UNUSED_ARGS;
  const char *s = json_string_value(a[0]);
  char *end;
  long long v = s ? strtoll(s, &end, 10) : 0;
  *out = json_integer(s && *s && !*end ? v : 0);
  return IDP_OK;
}
FN(fn_tostring) {
  IDP_UNUSED(n);
  return ret_owned(out, gt_strval(a[0]), e);
}
FN(fn_tostrings) {
  IDP_UNUSED(n);
  json_t *r = json_array();
  if (json_is_array(a[0])) {
    size_t i;
    json_t *x;
    json_array_foreach(a[0], i, x) {
      char *s = gt_strval(x);
      json_array_append_new(r, json_string(s ? s : ""));
      free(s);
    }
  } else {
    char *s = gt_strval(a[0]);
    json_array_append_new(r, json_string(s ? s : ""));
    free(s);
  }
  *out = r;
  IDP_UNUSED(e);
  return IDP_OK;
}

FN(fn_add) {
  IDP_UNUSED(e);
  int64_t s = 0;
  for (int i = 0; i < n; i++) s += gt_to_int64(a[i]);
  *out = json_integer(s);
  return IDP_OK;
}
FN(fn_add1) { UNUSED_ARGS; *out = json_integer(gt_to_int64(a[0]) + 1); return IDP_OK; }
FN(fn_sub) { UNUSED_ARGS; *out = json_integer(gt_to_int64(a[0]) - gt_to_int64(a[1])); return IDP_OK; }
FN(fn_mul) {
  IDP_UNUSED(e);
  int64_t s = 1;
  for (int i = 0; i < n; i++) s *= gt_to_int64(a[i]);
  *out = json_integer(s);
  return IDP_OK;
}
FN(fn_div) {
  IDP_UNUSED(n);
  int64_t d = gt_to_int64(a[1]);
  if (!d) return idp_err_set(e, IDP_EINVAL, "runtime error: integer divide by zero");
  *out = json_integer(gt_to_int64(a[0]) / d);
  return IDP_OK;
}
FN(fn_mod) {
  IDP_UNUSED(n);
  int64_t d = gt_to_int64(a[1]);
  if (!d) return idp_err_set(e, IDP_EINVAL, "runtime error: integer divide by zero");
  *out = json_integer(gt_to_int64(a[0]) % d);
  return IDP_OK;
}
FN(fn_max) {
  IDP_UNUSED(e);
  int64_t m = gt_to_int64(a[0]);
  for (int i = 1; i < n; i++) if (gt_to_int64(a[i]) > m) m = gt_to_int64(a[i]);
  *out = json_integer(m);
  return IDP_OK;
}
FN(fn_min) {
  IDP_UNUSED(e);
  int64_t m = gt_to_int64(a[0]);
  for (int i = 1; i < n; i++) if (gt_to_int64(a[i]) < m) m = gt_to_int64(a[i]);
  *out = json_integer(m);
  return IDP_OK;
}

FN(fn_until) {
  IDP_UNUSED(n);
  int64_t c = gt_to_int64(a[0]);
  if (c > 100000 || c < -100000) return idp_err_set(e, IDP_EINVAL, "until: count too large");
  json_t *r = json_array();
  for (int64_t i = 0; c >= 0 ? i < c : i > c; c >= 0 ? i++ : i--) json_array_append_new(r, json_integer(i));
  *out = r;
  return IDP_OK;
}

/* ---- Sprig: lists -------------------------------------------------------------- */

FN(fn_list) {
  IDP_UNUSED(e);
  json_t *r = json_array();
  for (int i = 0; i < n; i++) json_array_append(r, a[i]);
  *out = r;
  return IDP_OK;
}

FN(fn_first) {
  IDP_UNUSED(n);
  idp_code rc = need_list(a[0], "first", e);
  if (rc) return rc;
  json_t *x = json_array_get(a[0], 0);
  *out = x ? json_incref(x) : json_null();
  return IDP_OK;
}

FN(fn_last) {
  IDP_UNUSED(n);
  idp_code rc = need_list(a[0], "last", e);
  if (rc) return rc;
  size_t l = json_array_size(a[0]);
  *out = l ? json_incref(json_array_get(a[0], l - 1)) : json_null();
  return IDP_OK;
}

static idp_code sub_list(json_t *const *a, const char *fn, size_t from, size_t cut_end, json_t **out, idp_err *e) {
  idp_code rc = need_list(a[0], fn, e);
  if (rc) return rc;
  size_t l = json_array_size(a[0]);
  json_t *r = json_array();
  for (size_t i = from; i + cut_end < l; i++) json_array_append(r, json_array_get(a[0], i));
  *out = r;
  return IDP_OK;
}
FN(fn_rest) { IDP_UNUSED(n); return sub_list(a, "rest", 1, 0, out, e); }
FN(fn_initial) { IDP_UNUSED(n); return sub_list(a, "initial", 0, 1, out, e); }

FN(fn_append) {
  IDP_UNUSED(n);
  idp_code rc = need_list(a[0], "append", e);
  if (rc) return rc;
  json_t *r = json_copy(a[0]);
  json_array_append(r, a[1]);
  *out = r;
  return IDP_OK;
}

FN(fn_prepend) {
  IDP_UNUSED(n);
  idp_code rc = need_list(a[0], "prepend", e);
  if (rc) return rc;
  json_t *r = json_copy(a[0]);
  json_array_insert(r, 0, a[1]);
  *out = r;
  return IDP_OK;
}

FN(fn_concat) {
  json_t *r = json_array();
  for (int i = 0; i < n; i++) {
    if (!json_is_array(a[i])) {
      json_decref(r);
      return idp_err_set(e, IDP_EINVAL, "Cannot concat type %s as list", gt_type_name(a[i]));
    }
    json_array_extend(r, a[i]);
  }
  *out = r;
  return IDP_OK;
}

static bool list_has(const json_t *l, const json_t *v) {
  size_t i;
  json_t *x;
  json_array_foreach(l, i, x) if (json_equal(x, (json_t *)v)) return true;
  return false;
}

FN(fn_uniq) {
  IDP_UNUSED(n);
  idp_code rc = need_list(a[0], "uniq", e);
  if (rc) return rc;
  json_t *r = json_array();
  size_t i;
  json_t *x;
  json_array_foreach(a[0], i, x) if (!list_has(r, x)) json_array_append(r, x);
  *out = r;
  return IDP_OK;
}

FN(fn_has) {
  IDP_UNUSED(n);
  IDP_UNUSED(e);
  *out = json_boolean(json_is_array(a[1]) && list_has(a[1], a[0]));
  return IDP_OK;
}

FN(fn_without) {
  idp_code rc = need_list(a[0], "without", e);
  if (rc) return rc;
  json_t *r = json_array();
  size_t i;
  json_t *x;
  json_array_foreach(a[0], i, x) {
    bool drop = false;
    for (int k = 1; k < n && !drop; k++) drop = json_equal(x, a[k]);
    if (!drop) json_array_append(r, x);
  }
  *out = r;
  return IDP_OK;
}

FN(fn_compact) {
  IDP_UNUSED(n);
  idp_code rc = need_list(a[0], "compact", e);
  if (rc) return rc;
  json_t *r = json_array();
  size_t i;
  json_t *x;
  json_array_foreach(a[0], i, x) if (!is_empty(x)) json_array_append(r, x);
  *out = r;
  return IDP_OK;
}

FN(fn_reverse) {
  IDP_UNUSED(n);
  idp_code rc = need_list(a[0], "reverse", e);
  if (rc) return rc;
  json_t *r = json_array();
  for (size_t i = json_array_size(a[0]); i > 0; i--) json_array_append(r, json_array_get(a[0], i - 1));
  *out = r;
  return IDP_OK;
}

static int cmp_strs(const void *x, const void *y) {
  return strcmp(json_string_value(*(json_t *const *)x), json_string_value(*(json_t *const *)y));
}

FN(fn_sortalpha) {
  IDP_UNUSED(n);
  if (!json_is_array(a[0])) {
    char *s = gt_strval(a[0]);
    *out = json_pack("[s]", s ? s : "");
    free(s);
    return IDP_OK;
  }
  size_t l = json_array_size(a[0]);
  json_t **items = calloc(l ? l : 1, sizeof *items);
  if (!items) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  for (size_t i = 0; i < l; i++) {
    char *s = gt_strval(json_array_get(a[0], i));
    items[i] = json_string(s ? s : "");
    free(s);
  }
  idp_sort(items, l, sizeof *items, cmp_strs);
  json_t *r = json_array();
  for (size_t i = 0; i < l; i++) json_array_append_new(r, items[i]);
  free(items);
  *out = r;
  return IDP_OK;
}

/* ---- Sprig: dicts ------------------------------------------------------------------ */

FN(fn_dict) {
  IDP_UNUSED(e);
  json_t *r = json_object();
  for (int i = 0; i < n; i += 2) {
    char *k = gt_strval(a[i]);
    if (k) json_object_set(r, k, i + 1 < n ? a[i + 1] : json_string(""));
    if (k && i + 1 >= n) json_object_set_new(r, k, json_string(""));
    free(k);
  }
  *out = r;
  return IDP_OK;
}

static idp_code need_dict(const json_t *v, idp_err *e) {
  if (json_is_object(v)) return IDP_OK;
  return idp_err_set(e, IDP_EINVAL, "wrong type for value; expected map[string]interface {}; got %s",
                     gt_type_name(v));
}

FN(fn_get) {
  IDP_UNUSED(n);
  idp_code rc = need_dict(a[0], e);
  if (rc) return rc;
  json_t *v = json_is_string(a[1]) ? json_object_get(a[0], json_string_value(a[1])) : NULL;
  *out = v ? json_incref(v) : json_string("");
  return IDP_OK;
}

/* set/unset mutate the dict in Go; values here are shared, so they return
 * a modified copy (visible through the pipeline result). */
FN(fn_set) {
  IDP_UNUSED(n);
  idp_code rc = need_dict(a[0], e);
  if (rc) return rc;
  json_t *r = json_copy(a[0]);
  char *k = gt_strval(a[1]);
  if (k) json_object_set(r, k, a[2]);
  free(k);
  *out = r;
  return IDP_OK;
}

FN(fn_unset) {
  IDP_UNUSED(n);
  idp_code rc = need_dict(a[0], e);
  if (rc) return rc;
  json_t *r = json_copy(a[0]);
  char *k = gt_strval(a[1]);
  if (k) json_object_del(r, k);
  free(k);
  *out = r;
  return IDP_OK;
}

FN(fn_haskey) {
  IDP_UNUSED(n);
  idp_code rc = need_dict(a[0], e);
  if (rc) return rc;
  *out = json_boolean(json_is_string(a[1]) && json_object_get(a[0], json_string_value(a[1])));
  return IDP_OK;
}

FN(fn_keys) {
  json_t *r = json_array();
  for (int i = 0; i < n; i++) {
    if (!json_is_object(a[i])) {
      json_decref(r);
      return need_dict(a[i], e);
    }
    const char *k;
    json_t *x;
    json_object_foreach(a[i], k, x) json_array_append_new(r, json_string(k));
  }
  *out = r;
  return IDP_OK;
}

FN(fn_values) {
  IDP_UNUSED(n);
  idp_code rc = need_dict(a[0], e);
  if (rc) return rc;
  json_t *r = json_array();
  const char *k;
  json_t *x;
  json_object_foreach(a[0], k, x) json_array_append(r, x);
  *out = r;
  return IDP_OK;
}

FN(fn_pick) {
  idp_code rc = need_dict(a[0], e);
  if (rc) return rc;
  json_t *r = json_object();
  for (int i = 1; i < n; i++) {
    const char *k = json_string_value(a[i]);
    json_t *v = k ? json_object_get(a[0], k) : NULL;
    if (v) json_object_set(r, k, v);
  }
  *out = r;
  return IDP_OK;
}

FN(fn_omit) {
  idp_code rc = need_dict(a[0], e);
  if (rc) return rc;
  json_t *r = json_copy(a[0]);
  for (int i = 1; i < n; i++)
    if (json_is_string(a[i])) json_object_del(r, json_string_value(a[i]));
  *out = r;
  return IDP_OK;
}

/* mergo.Merge: keys missing (or empty) in dst are filled from src, maps
 * recursively; overwrite = mergeOverwrite (src wins when non-empty). */
static void merge_into(json_t *dst, const json_t *src, bool overwrite) {
  const char *k;
  json_t *sv;
  json_object_foreach((json_t *)src, k, sv) {
    json_t *dv = json_object_get(dst, k);
    if (dv && json_is_object(dv) && json_is_object(sv)) {
      json_t *c = json_deep_copy(dv);
      merge_into(c, sv, overwrite);
      json_object_set_new(dst, k, c);
    } else if (!dv || is_empty(dv) || (overwrite && !is_empty(sv))) {
      json_object_set_new(dst, k, json_deep_copy(sv));
    }
  }
}

static idp_code merge_impl(json_t *const *a, int n, bool overwrite, json_t **out, idp_err *e) {
  for (int i = 0; i < n; i++) {
    idp_code rc = need_dict(a[i], e);
    if (rc) return rc;
  }
  json_t *r = json_deep_copy(a[0]);
  for (int i = 1; i < n; i++) merge_into(r, a[i], overwrite);
  *out = r;
  return IDP_OK;
}
FN(fn_merge) { return merge_impl(a, n, false, out, e); }
FN(fn_mergeoverwrite) { return merge_impl(a, n, true, out, e); }

FN(fn_dig) { /* dig "a" "b" default dict */
  json_t *d = a[n - 1];
  idp_code rc = need_dict(d, e);
  if (rc) return rc;
  json_t *cur = d;
  for (int i = 0; i < n - 2; i++) {
    const char *k = json_string_value(a[i]);
    json_t *x = json_is_object(cur) && k ? json_object_get(cur, k) : NULL;
    if (!x) {
      *out = json_incref(a[n - 2]);
      return IDP_OK;
    }
    cur = x;
  }
  *out = json_incref(cur);
  return IDP_OK;
}

FN(fn_deepcopy) { UNUSED_ARGS; *out = json_deep_copy(a[0]); return IDP_OK; }

/* ---- Sprig: dates ------------------------------------------------------------- */

/* `now` is the current Unix time in seconds (an int: Go's time.Time has no
 * JSON form here); date/dateInZone/unixEpoch accept it, as Sprig accepts
 * ints as Unix seconds. */
FN(fn_now) {
  UNUSED_ARGS;
  *out = json_integer((json_int_t)time(NULL));
  return IDP_OK;
}

/* Go's reference-time layout ("2006-01-02T15:04:05Z07:00") with strftime
 * underneath; the layout tokens, longest first. */
static const struct {
  const char *tok, *fmt;
} layout_tokens[] = {
    {"January", "%B"}, {"Monday", "%A"}, {"Z07:00", "Z:"}, {"-07:00", "::"}, {"-0700", "%z"},
    {"2006", "%Y"},    {"Jan", "%b"},    {"Mon", "%a"},    {"MST", "%Z"},    {".000", ".ms"},
    {"01", "%m"},      {"02", "%d"},     {"_2", "%e"},     {"15", "%H"},     {"03", "%I"},
    {"04", "%M"},      {"05", "%S"},     {"06", "%y"},     {"PM", "%p"},     {"pm", "pm"},
    {"1", "%-m"},      {"2", "%-d"},     {"3", "%-I"},     {"4", "%-M"},     {"5", "%-S"},
};

static void go_date(idp_buf *b, const char *layout, time_t t, bool utc) {
  struct tm tm;
  if (utc) gmtime_r(&t, &tm);
  else localtime_r(&t, &tm);
  for (const char *p = layout; *p;) {
    size_t k = 0;
    for (; k < IDP_ARRAY_LEN(layout_tokens); k++)
      if (!strncmp(p, layout_tokens[k].tok, strlen(layout_tokens[k].tok))) break;
    if (k == IDP_ARRAY_LEN(layout_tokens)) {
      idp_buf_addc(b, *p++);
      continue;
    }
    const char *f = layout_tokens[k].fmt;
    char out[64];
    long off = tm.tm_gmtoff;
    if (!strcmp(f, "Z:") || !strcmp(f, "::")) {
      if (off == 0 && f[0] == 'Z') snprintf(out, sizeof out, "Z");
      else snprintf(out, sizeof out, "%c%02ld:%02ld", off < 0 ? '-' : '+', labs(off) / 3600, labs(off) % 3600 / 60);
    } else if (!strcmp(f, ".ms")) {
      snprintf(out, sizeof out, ".000");
    } else if (!strcmp(f, "pm")) {
      snprintf(out, sizeof out, "%s", tm.tm_hour < 12 ? "am" : "pm");
    } else {
      strftime(out, sizeof out, f, &tm);
    }
    idp_buf_adds(b, out);
    p += strlen(layout_tokens[k].tok);
  }
}

static idp_code date_impl(json_t *const *a, const json_t *when, bool utc, json_t **out, idp_err *e) {
  char *layout = gt_strval(a[0]);
  if (!layout) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  time_t t = is_num(when) ? (time_t)gt_to_int64(when) : time(NULL);
  idp_buf b;
  idp_buf_init(&b, 4096);
  go_date(&b, layout, t, utc);
  free(layout);
  return ret_buf(out, &b, e);
}

FN(fn_date) { IDP_UNUSED(n); return date_impl(a, a[1], false, out, e); }
FN(fn_dateinzone) {
  IDP_UNUSED(n);
  const char *z = json_string_value(a[2]);
  return date_impl(a, a[1], z && !strcmp(z, "UTC"), out, e);
}
FN(fn_unixepoch) {
  IDP_UNUSED(n);
  char buf[32];
  snprintf(buf, sizeof buf, "%lld", (long long)(is_num(a[0]) ? gt_to_int64(a[0]) : (int64_t)time(NULL)));
  return ret_str(out, buf, strlen(buf), e);
}

/* ---- Sprig: types ------------------------------------------------------------- */

static const char *kind_name(const json_t *v) {
  switch (json_typeof(v)) {
    case JSON_NULL: return "invalid";
    case JSON_TRUE: case JSON_FALSE: return "bool";
    case JSON_INTEGER: return "int";
    case JSON_REAL: return "float64";
    case JSON_STRING: return "string";
    case JSON_ARRAY: return "slice";
    case JSON_OBJECT: return "map";
  }
  return "invalid";
}
FN(fn_typeof) { IDP_UNUSED(n); const char *t = gt_type_name(a[0]); return ret_str(out, t, strlen(t), e); }
FN(fn_kindof) { IDP_UNUSED(n); const char *t = kind_name(a[0]); return ret_str(out, t, strlen(t), e); }
FN(fn_kindis) {
  UNUSED_ARGS;
  *out = json_boolean(json_is_string(a[0]) && !strcmp(json_string_value(a[0]), kind_name(a[1])));
  return IDP_OK;
}
FN(fn_typeis) {
  UNUSED_ARGS;
  *out = json_boolean(json_is_string(a[0]) && !strcmp(json_string_value(a[0]), gt_type_name(a[1])));
  return IDP_OK;
}

/* ---- the table ------------------------------------------------------------------ */

static const gt_func funcs[] = {
    {"add", 0, -1, fn_add},
    {"add1", 1, 1, fn_add1},
    {"and", 1, -1, fn_andor},
    {"append", 2, 2, fn_append},
    {"atoi", 1, 1, fn_atoi},
    {"b64dec", 1, 1, fn_b64dec},
    {"b64enc", 1, 1, fn_b64enc},
    {"camelcase", 1, 1, fn_camelcase},
    {"cat", 0, -1, fn_cat},
    {"coalesce", 0, -1, fn_coalesce},
    {"compact", 1, 1, fn_compact},
    {"concat", 0, -1, fn_concat},
    {"contains", 2, 2, fn_contains},
    {"date", 2, 2, fn_date},
    {"dateInZone", 3, 3, fn_dateinzone},
    {"deepCopy", 1, 1, fn_deepcopy},
    {"default", 1, 2, fn_default},
    {"dict", 0, -1, fn_dict},
    {"dig", 3, -1, fn_dig},
    {"div", 2, 2, fn_div},
    {"empty", 1, 1, fn_empty},
    {"eq", 2, -1, fn_eq},
    {"fail", 1, 1, fn_fail},
    {"first", 1, 1, fn_first},
    {"float64", 1, 1, fn_float64},
    {"fromYaml", 1, 1, fn_fromyaml},
    {"fromYamlArray", 1, 1, fn_fromyamlarray},
    {"ge", 2, 2, fn_ge},
    {"get", 2, 2, fn_get},
    {"gt", 2, 2, fn_gt},
    {"has", 2, 2, fn_has},
    {"hasKey", 2, 2, fn_haskey},
    {"hasPrefix", 2, 2, fn_hasprefix},
    {"hasSuffix", 2, 2, fn_hassuffix},
    {"html", 0, -1, fn_html},
    {"indent", 2, 2, fn_indent},
    {"index", 1, -1, fn_index},
    {"initial", 1, 1, fn_initial},
    {"int", 1, 1, fn_int},
    {"int64", 1, 1, fn_int},
    {"js", 0, -1, fn_js},
    {"join", 2, 2, fn_join},
    {"kebabcase", 1, 1, fn_kebabcase},
    {"keys", 1, -1, fn_keys},
    {"kindIs", 2, 2, fn_kindis},
    {"kindOf", 1, 1, fn_kindof},
    {"last", 1, 1, fn_last},
    {"le", 2, 2, fn_le},
    {"len", 1, 1, fn_len},
    {"list", 0, -1, fn_list},
    {"lower", 1, 1, fn_lower},
    {"lt", 2, 2, fn_lt},
    {"max", 1, -1, fn_max},
    {"merge", 1, -1, fn_merge},
    {"mergeOverwrite", 1, -1, fn_mergeoverwrite},
    {"min", 1, -1, fn_min},
    {"mod", 2, 2, fn_mod},
    {"mul", 1, -1, fn_mul},
    {"ne", 2, 2, fn_ne},
    {"nindent", 2, 2, fn_nindent},
    {"normalize", 1, 1, fn_normalize},
    {"nospace", 1, 1, fn_nospace},
    {"not", 1, 1, fn_not},
    {"now", 0, 0, fn_now},
    {"omit", 1, -1, fn_omit},
    {"or", 1, -1, fn_andor},
    {"pick", 1, -1, fn_pick},
    {"prepend", 2, 2, fn_prepend},
    {"print", 0, -1, fn_print},
    {"printf", 1, -1, fn_printf},
    {"println", 0, -1, fn_println},
    {"quote", 0, -1, fn_quote},
    {"regexFind", 2, 2, fn_regexfind},
    {"regexMatch", 2, 2, fn_regexmatch},
    {"regexReplaceAll", 3, 3, fn_regexreplaceall},
    {"regexReplaceAllLiteral", 3, 3, fn_regexreplaceallliteral},
    {"repeat", 2, 2, fn_repeat},
    {"replace", 3, 3, fn_replace},
    {"rest", 1, 1, fn_rest},
    {"reverse", 1, 1, fn_reverse},
    {"set", 3, 3, fn_set},
    {"sha1sum", 1, 1, fn_sha1sum},
    {"sha256sum", 1, 1, fn_sha256sum},
    {"slice", 1, 4, fn_slice},
    {"slugify", 1, 3, fn_slugify},
    {"snakecase", 1, 1, fn_snakecase},
    {"sortAlpha", 1, 1, fn_sortalpha},
    {"split", 2, 2, fn_split},
    {"splitList", 2, 2, fn_splitlist},
    {"squote", 0, -1, fn_squote},
    {"sub", 2, 2, fn_sub},
    {"substr", 3, 3, fn_substr},
    {"ternary", 3, 3, fn_ternary},
    {"title", 1, 1, fn_title},
    {"toJson", 1, 1, fn_tojson},
    {"toPrettyJson", 1, 1, fn_toprettyjson},
    {"toRawJson", 1, 1, fn_tojson},
    {"toString", 1, 1, fn_tostring},
    {"toStrings", 1, 1, fn_tostrings},
    {"toYaml", 1, 1, fn_toyaml},
    {"trim", 1, 1, fn_trim},
    {"trimAll", 2, 2, fn_trimall},
    {"trimPrefix", 2, 2, fn_trimprefix},
    {"trimSuffix", 2, 2, fn_trimsuffix},
    {"trunc", 2, 2, fn_trunc},
    {"typeIs", 2, 2, fn_typeis},
    {"typeOf", 1, 1, fn_typeof},
    {"uniq", 1, 1, fn_uniq},
    {"unixEpoch", 1, 1, fn_unixepoch},
    {"unset", 2, 2, fn_unset},
    {"until", 1, 1, fn_until},
    {"untitle", 1, 1, fn_untitle},
    {"upper", 1, 1, fn_upper},
    {"urlquery", 0, -1, fn_urlquery},
    {"values", 1, 1, fn_values},
    {"without", 1, -1, fn_without},
};

/* Looked up once per call site at parse time: a linear scan is enough. */
const gt_func *gt_func_lookup(const char *name) {
  for (size_t i = 0; i < IDP_ARRAY_LEN(funcs); i++)
    if (!strcmp(funcs[i].name, name)) return &funcs[i];
  return NULL;
}
