/* schema.c: structural-schema pruning, defaulting and validation of custom
 * resources (k8s.io/apiextensions-apiserver: pruning, defaulting, then the
 * kube-openapi validator whose messages are reproduced here).
 *
 * Paths: ".name" for properties and map keys, "[i]" for list items, with
 * no leading dot at the root ("spec.replicas", "spec.ports[0].port"). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "core/common.h"
#include "core/buf.h"
#include "kube/schema.h"

#include <pcre2.h>

#define PATH_MAX_LEN 2048

typedef struct {
  idp_fieldval fv;
  json_t *unknown; /* array of unknown field paths, in order found */
  json_t *errors;  /* array of {reason, message, field} */
  bool oom;
  bool too_deep;
} sctx;

/* Field error types as field.ErrorType prints them, and the reason code
 * they carry in Status causes. */
typedef enum { FE_INVALID, FE_REQUIRED, FE_UNSUPPORTED, FE_TOOLONG, FE_TOOMANY, FE_DUPLICATE } fe_type;
static const struct {
  const char *text;
  const char *reason;
} fe_names[] = {
    [FE_INVALID] = {"Invalid value", "FieldValueInvalid"},
    [FE_REQUIRED] = {"Required value", "FieldValueRequired"},
    [FE_UNSUPPORTED] = {"Unsupported value", "FieldValueNotSupported"},
    [FE_TOOLONG] = {"Too long", "FieldValueTooLong"},
    [FE_TOOMANY] = {"Too many", "FieldValueTooMany"},
    [FE_DUPLICATE] = {"Duplicate value", "FieldValueDuplicate"},
};

/* JSON type names as the validator reports the type it received. */
static const char *type_name(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT: return "object";
  case JSON_ARRAY: return "array";
  case JSON_STRING: return "string";
  case JSON_INTEGER: return "integer";
  case JSON_REAL: return "number";
  case JSON_TRUE:
  case JSON_FALSE: return "boolean";
  case JSON_NULL: return "null";
  }
  return "unknown";
}

static void add_error(sctx *c, fe_type t, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add_error(sctx *c, fe_type t, const char *path, const char *fmt, ...) {
  char detail[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  char body[900];
  if (detail[0]) snprintf(body, sizeof body, "%s: %s", fe_names[t].text, detail);
  else snprintf(body, sizeof body, "%s", fe_names[t].text);
  json_t *cause = json_pack("{s:s,s:s,s:s}", "reason", fe_names[t].reason, "message", body,
                            "field", path);
  if (!cause || json_array_append_new(c->errors, cause)) c->oom = true;
}

/* Value as the validator prints it: JSON text (strings quoted). */
static void value_text(const json_t *v, char *buf, size_t n) {
  char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  snprintf(buf, n, "%s", s ? s : "?");
  if (s && strlen(s) >= n && n > 4) memcpy(buf + n - 4, "...", 4);
  free(s);
}

static void path_child(char *out, size_t n, const char *path, const char *key) {
  if (path[0]) snprintf(out, n, "%s.%s", path, key);
  else snprintf(out, n, "%s", key);
}

static void path_index(char *out, size_t n, const char *path, size_t i) {
  snprintf(out, n, "%s[%zu]", path, i);
}

static bool flag(const json_t *schema, const char *key) {
  return json_is_true(json_object_get(schema, key));
}

/* Fields the API server owns at the top level (and in embedded resources). */
static const char *const managed_fields[] = {"apiVersion", "kind", "metadata"};

static bool is_managed(const char *k) {
  for (size_t i = 0; i < IDP_ARRAY_LEN(managed_fields); i++)
    if (!strcmp(k, managed_fields[i])) return true;
  return false;
}

/* ---- pruning ---- */

static void prune(sctx *c, const json_t *schema, json_t *v, const char *path, bool root,
                  int depth) {
  if (!json_is_object(schema) || c->oom) return;
  if (depth > IDP_SCHEMA_MAX_DEPTH) {
    c->too_deep = true;
    return;
  }
  char sub[PATH_MAX_LEN];
  if (json_is_object(v)) {
    const json_t *props = json_object_get(schema, "properties");
    const json_t *addl = json_object_get(schema, "additionalProperties");
    bool preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
    bool embedded = flag(schema, "x-kubernetes-embedded-resource");
    const char *k;
    json_t *val;
    void *tmp;
    json_object_foreach_safe(v, tmp, k, val) {
      if ((root || embedded) && is_managed(k)) continue;
      path_child(sub, sizeof sub, path, k);
      const json_t *ps = json_object_get(props, k);
      if (ps) prune(c, ps, val, sub, false, depth + 1);
      else if (json_is_object(addl)) prune(c, addl, val, sub, false, depth + 1);
      else if (json_is_true(addl) || preserve) continue;
      else {
        json_t *p = json_string(sub);
        if (!p || json_array_append_new(c->unknown, p)) c->oom = true;
        json_object_del(v, k);
      }
    }
  } else if (json_is_array(v)) {
    const json_t *items = json_object_get(schema, "items");
    size_t i;
    json_t *el;
    json_array_foreach(v, i, el) {
      path_index(sub, sizeof sub, path, i);
      prune(c, items, el, sub, false, depth + 1);
    }
  }
}

/* ---- defaulting ---- */

static void apply_defaults(sctx *c, const json_t *schema, json_t *v, bool root, int depth) {
  if (!json_is_object(schema) || c->oom || depth > IDP_SCHEMA_MAX_DEPTH) return;
  if (json_is_object(v)) {
    const json_t *props = json_object_get(schema, "properties");
    const char *k;
    json_t *ps;
    json_object_foreach((json_t *)props, k, ps) {
      if (root && is_managed(k)) continue;
      const json_t *dflt = json_object_get(ps, "default");
      json_t *cur = json_object_get(v, k);
      /* a null for a non-nullable field with a default is defaulted too */
      if (dflt && (!cur || (json_is_null(cur) && !flag(ps, "nullable")))) {
        json_t *copy = json_deep_copy(dflt);
        if (!copy || json_object_set_new(v, k, copy)) {
          c->oom = true;
          return;
        }
      }
    }
    const json_t *addl = json_object_get(schema, "additionalProperties");
    json_t *val;
    json_object_foreach(v, k, val) {
      if (root && is_managed(k)) continue;
      const json_t *sub = json_object_get(props, k);
      if (!sub && json_is_object(addl)) sub = addl;
      if (sub) apply_defaults(c, sub, val, false, depth + 1);
    }
  } else if (json_is_array(v)) {
    const json_t *items = json_object_get(schema, "items");
    size_t i;
    json_t *el;
    json_array_foreach(v, i, el) apply_defaults(c, items, el, false, depth + 1);
  }
}

/* ---- validation ---- */

static bool type_ok(const char *type, const json_t *v) {
  if (!strcmp(type, "object")) return json_is_object(v);
  if (!strcmp(type, "array")) return json_is_array(v);
  if (!strcmp(type, "string")) return json_is_string(v);
  if (!strcmp(type, "boolean")) return json_is_boolean(v);
  if (!strcmp(type, "number")) return json_is_number(v);
  if (!strcmp(type, "integer")) {
    if (json_is_integer(v)) return true;
    if (!json_is_real(v)) return false;
    double d = json_real_value(v);
    return d == (double)(long long)d; /* 3.0 decodes as an integer */
  }
  return true; /* unknown type names are the CRD author's problem, not the object's */
}

/* UTF-8 code points, as the validator counts string length. */
static size_t rune_count(const char *s, size_t n) {
  size_t r = 0;
  for (size_t i = 0; i < n; i++)
    if (((unsigned char)s[i] & 0xC0) != 0x80) r++;
  return r;
}

static bool pattern_match(const char *pattern, const char *s, size_t n, bool *bad_pattern) {
  int errc;
  PCRE2_SIZE erroff;
  pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &errc,
                                 &erroff, NULL);
  if (!re) {
    *bad_pattern = true;
    return true;
  }
  pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
  int rc = md ? pcre2_match(re, (PCRE2_SPTR)s, n, 0, 0, md, NULL) : -1;
  pcre2_match_data_free(md);
  pcre2_code_free(re);
  return rc >= 0;
}

static void validate(sctx *c, const json_t *schema, const json_t *v, const char *path, bool root,
                     int depth);
static void validate_combinators(sctx *c, const json_t *schema, const json_t *v, const char *path,
                                 bool root, int depth);

static void validate_number(sctx *c, const json_t *schema, const json_t *v, const char *path) {
  double x = json_number_value(v);
  char vt[64];
  value_text(v, vt, sizeof vt);
  const json_t *min = json_object_get(schema, "minimum");
  const json_t *max = json_object_get(schema, "maximum");
  bool exmin = flag(schema, "exclusiveMinimum"), exmax = flag(schema, "exclusiveMaximum");
  char bound[64];
  if (json_is_number(min)) {
    double m = json_number_value(min);
    value_text(min, bound, sizeof bound);
    if (exmin ? !(x > m) : !(x >= m))
      add_error(c, FE_INVALID, path, "%s: %s in body should be greater than %s%s", vt, path,
                exmin ? "" : "or equal to ", bound);
  }
  if (json_is_number(max)) {
    double m = json_number_value(max);
    value_text(max, bound, sizeof bound);
    if (exmax ? !(x < m) : !(x <= m))
      add_error(c, FE_INVALID, path, "%s: %s in body should be less than %s%s", vt, path,
                exmax ? "" : "or equal to ", bound);
  }
  const json_t *mult = json_object_get(schema, "multipleOf");
  if (json_is_number(mult) && json_number_value(mult) > 0) {
    double q = x / json_number_value(mult);
    if (q != (double)(long long)q) {
      value_text(mult, bound, sizeof bound);
      add_error(c, FE_INVALID, path, "%s: %s in body should be a multiple of %s", vt, path, bound);
    }
  }
  const char *fmt = json_string_value(json_object_get(schema, "format"));
  if (fmt && !strcmp(fmt, "int32") && json_is_integer(v)) {
    json_int_t i = json_integer_value(v);
    if (i < INT32_MIN || i > INT32_MAX)
      add_error(c, FE_INVALID, path, "%s: %s in body must be of type int32: \"%s\"", vt, path, vt);
  }
}

/* ---- string formats (the subset of kube-openapi's strfmt registry that
 * CRDs use; unknown formats are accepted, as the apiserver does) ---- */

static bool all_in(const char *s, size_t n, const char *set) {
  for (size_t i = 0; i < n; i++)
    if (!strchr(set, s[i])) return false;
  return true;
}

static bool fmt_date(const char *s, size_t n) {
  int y, m, d, used = 0;
  if (n < 10 || sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &used) != 3 || used != 10) return false;
  return m >= 1 && m <= 12 && d >= 1 && d <= 31 && s[4] == '-' && s[7] == '-';
}

static bool fmt_date_time(const char *s, size_t n) {
  if (n < 20 || !fmt_date(s, 10) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ')) return false;
  int hh, mm, ss, used = 0;
  if (sscanf(s + 11, "%2d:%2d:%2d%n", &hh, &mm, &ss, &used) != 3 || used != 8) return false;
  if (hh > 23 || mm > 59 || ss > 60) return false;
  const char *p = s + 19, *end = s + n;
  if (p < end && *p == '.') {
    p++;
    if (p >= end || *p < '0' || *p > '9') return false;
    while (p < end && *p >= '0' && *p <= '9') p++;
  }
  if (p < end && (*p == 'Z' || *p == 'z')) return p + 1 == end;
  return end - p == 6 && (*p == '+' || *p == '-') && p[3] == ':' && all_in(p + 1, 2, "0123456789") &&
         all_in(p + 4, 2, "0123456789");
}

static bool fmt_uuid(const char *s, size_t n) {
  if (n != 36) return false;
  for (size_t i = 0; i < n; i++) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !strchr("0123456789abcdefABCDEF", s[i])) return false;
  }
  return true;
}

static bool fmt_ipv4(const char *s, size_t n) {
  int parts = 0;
  size_t i = 0;
  while (i < n) {
    size_t st = i;
    int val = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9' && i - st < 3) val = val * 10 + (s[i++] - '0');
    if (i == st || val > 255 || (i - st > 1 && s[st] == '0')) return false;
    parts++;
    if (i == n) break;
    if (s[i++] != '.' || i == n) return false;
  }
  return parts == 4;
}

static bool fmt_byte(const char *s, size_t n) {
  if (n % 4) return false;
  size_t pad = 0;
  while (pad < 2 && pad < n && s[n - 1 - pad] == '=') pad++;
  return all_in(s, n - pad,
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
}

static const struct {
  const char *name;
  bool (*ok)(const char *s, size_t n);
} formats[] = {
    {"date", fmt_date}, {"date-time", fmt_date_time}, {"uuid", fmt_uuid},
    {"ipv4", fmt_ipv4}, {"byte", fmt_byte},
};

static void validate_string(sctx *c, const json_t *schema, const json_t *v, const char *path) {
  const char *s = json_string_value(v);
  size_t n = json_string_length(v);
  size_t runes = rune_count(s, n);
  char vt[300];
  value_text(v, vt, sizeof vt);
  const json_t *maxl = json_object_get(schema, "maxLength");
  const json_t *minl = json_object_get(schema, "minLength");
  if (json_is_integer(maxl) && (json_int_t)runes > json_integer_value(maxl))
    add_error(c, FE_TOOLONG, path, "may not be more than %" JSON_INTEGER_FORMAT " bytes",
              json_integer_value(maxl));
  if (json_is_integer(minl) && (json_int_t)runes < json_integer_value(minl))
    add_error(c, FE_INVALID, path, "%s: %s in body should be at least %" JSON_INTEGER_FORMAT
              " chars long", vt, path, json_integer_value(minl));
  const char *pat = json_string_value(json_object_get(schema, "pattern"));
  bool bad = false;
  if (pat && !pattern_match(pat, s, n, &bad))
    add_error(c, FE_INVALID, path, "%s: %s in body should match '%s'", vt, path, pat);
  const char *fmt = json_string_value(json_object_get(schema, "format"));
  for (size_t i = 0; fmt && i < IDP_ARRAY_LEN(formats); i++) {
    if (!strcmp(fmt, formats[i].name) && !formats[i].ok(s, n))
      add_error(c, FE_INVALID, path, "%s: %s in body must be of type %s: %s", vt, path, fmt, vt);
  }
}

static void validate_array(sctx *c, const json_t *schema, const json_t *v, const char *path,
                           int depth) {
  size_t n = json_array_size(v);
  const json_t *maxi = json_object_get(schema, "maxItems");
  const json_t *mini = json_object_get(schema, "minItems");
  if (json_is_integer(maxi) && (json_int_t)n > json_integer_value(maxi))
    add_error(c, FE_TOOMANY, path, "%zu: must have at most %" JSON_INTEGER_FORMAT " items", n,
              json_integer_value(maxi));
  if (json_is_integer(mini) && (json_int_t)n < json_integer_value(mini))
    add_error(c, FE_INVALID, path, "%zu: %s in body should have at least %" JSON_INTEGER_FORMAT
              " items", n, path, json_integer_value(mini));
  const char *lt = json_string_value(json_object_get(schema, "x-kubernetes-list-type"));
  bool set = (lt && !strcmp(lt, "set")) || flag(schema, "uniqueItems");
  char sub[PATH_MAX_LEN];
  for (size_t i = 0; set && i < n; i++) {
    for (size_t j = 0; j < i; j++) {
      if (json_equal(json_array_get(v, i), json_array_get(v, j))) {
        char vt[300];
        value_text(json_array_get(v, i), vt, sizeof vt);
        path_index(sub, sizeof sub, path, i);
        add_error(c, FE_DUPLICATE, sub, "%s", vt);
        break;
      }
    }
  }
  const json_t *mk = json_object_get(schema, "x-kubernetes-list-map-keys");
  if (lt && !strcmp(lt, "map") && json_array_size(mk) > 0) {
    /* entries are identified by the values of the map keys */
    for (size_t i = 0; i < n; i++) {
      json_t *a = json_array_get(v, i);
      for (size_t j = 0; j < i; j++) {
        json_t *b = json_array_get(v, j);
        bool same = true;
        size_t k;
        json_t *key;
        json_array_foreach(mk, k, key) {
          const char *kn = json_string_value(key);
          json_t *x = kn ? json_object_get(a, kn) : NULL, *y = kn ? json_object_get(b, kn) : NULL;
          if (!((!x && !y) || (x && y && json_equal(x, y)))) same = false;
        }
        if (!same) continue;
        json_t *id = json_object();
        json_array_foreach(mk, k, key) {
          const char *kn = json_string_value(key);
          if (kn && json_object_get(a, kn)) json_object_set(id, kn, json_object_get(a, kn));
        }
        char vt[300];
        value_text(id, vt, sizeof vt);
        json_decref(id);
        path_index(sub, sizeof sub, path, i);
        add_error(c, FE_DUPLICATE, sub, "%s", vt);
        break;
      }
    }
  }
  const json_t *items = json_object_get(schema, "items");
  if (json_is_object(items)) {
    for (size_t i = 0; i < n; i++) {
      path_index(sub, sizeof sub, path, i);
      validate(c, items, json_array_get(v, i), sub, false, depth + 1);
    }
  }
}

static void validate_object(sctx *c, const json_t *schema, const json_t *v, const char *path,
                            bool root, int depth) {
  char sub[PATH_MAX_LEN];
  bool embedded = flag(schema, "x-kubernetes-embedded-resource");
  const json_t *req = json_object_get(schema, "required");
  size_t i;
  json_t *r;
  json_array_foreach(req, i, r) {
    const char *k = json_string_value(r);
    if (!k || (root && is_managed(k))) continue;
    if (!json_object_get(v, k)) {
      path_child(sub, sizeof sub, path, k);
      add_error(c, FE_REQUIRED, sub, "%s", "");
    }
  }
  if (embedded) {
    for (size_t m = 0; m < 2; m++) {
      const char *k = managed_fields[m];
      const char *s = json_string_value(json_object_get(v, k));
      if (!s || !*s) {
        path_child(sub, sizeof sub, path, k);
        add_error(c, FE_REQUIRED, sub, "must not be empty");
      }
    }
  }
  const json_t *minp = json_object_get(schema, "minProperties");
  const json_t *maxp = json_object_get(schema, "maxProperties");
  size_t np = json_object_size(v);
  if (json_is_integer(maxp) && (json_int_t)np > json_integer_value(maxp))
    add_error(c, FE_TOOMANY, path, "%zu: must have at most %" JSON_INTEGER_FORMAT " items", np,
              json_integer_value(maxp));
  if (json_is_integer(minp) && (json_int_t)np < json_integer_value(minp))
    add_error(c, FE_INVALID, path, "%zu: %s in body should have at least %" JSON_INTEGER_FORMAT
              " properties", np, path, json_integer_value(minp));
  const json_t *props = json_object_get(schema, "properties");
  const json_t *addl = json_object_get(schema, "additionalProperties");
  const char *k;
  json_t *val;
  json_object_foreach((json_t *)v, k, val) {
    if ((root || embedded) && is_managed(k)) continue;
    const json_t *ps = json_object_get(props, k);
    if (!ps && json_is_object(addl)) ps = addl;
    if (!ps) continue;
    path_child(sub, sizeof sub, path, k);
    validate(c, ps, val, sub, false, depth + 1);
  }
}

/* Number of errors `schema` alone gives for v (errors discarded). */
static size_t errors_of(sctx *c, const json_t *schema, const json_t *v, const char *path, bool root,
                        int depth, json_t **keep) {
  json_t *saved = c->errors;
  c->errors = json_array();
  if (!c->errors) {
    c->errors = saved;
    c->oom = true;
    return 1;
  }
  validate(c, schema, v, path, root, depth + 1);
  size_t n = json_array_size(c->errors);
  if (keep && !*keep) *keep = json_incref(c->errors);
  json_decref(c->errors);
  c->errors = saved;
  return n;
}

/* allOf / anyOf / oneOf / not: value validations only (structural schemas
 * forbid them to declare types or fields the main schema does not). */
static void validate_combinators(sctx *c, const json_t *schema, const json_t *v, const char *path,
                                 bool root, int depth) {
  size_t i;
  json_t *sub;
  json_array_foreach(json_object_get(schema, "allOf"), i, sub) validate(c, sub, v, path, root, depth + 1);
  const json_t *any = json_object_get(schema, "anyOf");
  if (json_array_size(any) > 0 && !flag(schema, "x-kubernetes-int-or-string")) {
    json_t *first = NULL;
    bool ok = false;
    json_array_foreach(any, i, sub) {
      if (errors_of(c, sub, v, path, root, depth, &first) == 0) {
        ok = true;
        break;
      }
    }
    if (!ok) {
      json_array_extend(c->errors, first);
      add_error(c, FE_INVALID, path,
                "\"%s\": %s in body must validate at least one schema (anyOf)", type_name(v),
                path);
    }
    json_decref(first);
  }
  const json_t *one = json_object_get(schema, "oneOf");
  if (json_array_size(one) > 0) {
    size_t matched = 0;
    json_array_foreach(one, i, sub) matched += errors_of(c, sub, v, path, root, depth, NULL) == 0;
    if (matched != 1)
      add_error(c, FE_INVALID, path, "\"%s\": %s in body must validate one and only one schema (oneOf)",
                type_name(v), path);
  }
  const json_t *not = json_object_get(schema, "not");
  if (json_is_object(not) && errors_of(c, not, v, path, root, depth, NULL) == 0)
    add_error(c, FE_INVALID, path, "\"%s\": %s in body should not validate the schema (not)",
              type_name(v), path);
}

static void validate(sctx *c, const json_t *schema, const json_t *v, const char *path, bool root,
                     int depth) {
  if (!json_is_object(schema) || c->oom) return;
  if (depth > IDP_SCHEMA_MAX_DEPTH) {
    c->too_deep = true;
    return;
  }
  const char *type = json_string_value(json_object_get(schema, "type"));
  if (json_is_null(v)) {
    if (flag(schema, "nullable") || (!type && !flag(schema, "x-kubernetes-int-or-string")))
      return;
    add_error(c, FE_INVALID, path, "\"null\": %s in body must be of type %s: \"null\"", path,
              type ? type : "integer,string");
    return;
  }
  if (flag(schema, "x-kubernetes-int-or-string")) {
    if (!json_is_integer(v) && !json_is_string(v)) {
      add_error(c, FE_INVALID, path, "\"%s\": %s in body must be of type integer,string: \"%s\"",
                type_name(v), path, type_name(v));
      return;
    }
  } else if (type && !type_ok(type, v)) {
    add_error(c, FE_INVALID, path, "\"%s\": %s in body must be of type %s: \"%s\"", type_name(v),
              path, type, type_name(v));
    return;
  }
  const json_t *en = json_object_get(schema, "enum");
  if (json_is_array(en) && json_array_size(en) > 0) {
    bool found = false;
    size_t i;
    json_t *x;
    json_array_foreach(en, i, x) {
      if (json_equal(x, (json_t *)v) ||
          (json_is_number(x) && json_is_number(v) && json_number_value(x) == json_number_value(v)))
        found = true;
    }
    if (!found) {
      idp_buf b;
      idp_buf_init(&b, 4096);
      json_array_foreach(en, i, x) {
        char t[128];
        value_text(x, t, sizeof t);
        idp_buf_printf(&b, "%s%s", i ? ", " : "", t);
      }
      char vt[300];
      value_text(v, vt, sizeof vt);
      add_error(c, FE_UNSUPPORTED, path, "%s: supported values: %s", vt, idp_buf_str(&b));
      idp_buf_free(&b);
    }
  }
  if (json_is_number(v)) validate_number(c, schema, v, path);
  else if (json_is_string(v)) validate_string(c, schema, v, path);
  else if (json_is_array(v)) validate_array(c, schema, v, path, depth);
  else if (json_is_object(v)) validate_object(c, schema, v, path, root, depth);
  validate_combinators(c, schema, v, path, root, depth);
}

/* ---- entry points ---- */

idp_code idp_fieldval_parse(const char *s, idp_fieldval dflt, idp_fieldval *out, idp_err *e) {
  static const struct {
    const char *name;
    idp_fieldval v;
  } names[] = {{"Ignore", IDP_FIELDVAL_IGNORE}, {"Warn", IDP_FIELDVAL_WARN},
               {"Strict", IDP_FIELDVAL_STRICT}};
  *out = dflt;
  if (!s || !*s) return IDP_OK;
  for (size_t i = 0; i < IDP_ARRAY_LEN(names); i++) {
    if (!strcasecmp(s, names[i].name)) {
      *out = names[i].v;
      return IDP_OK;
    }
  }
  return idp_err_set(e, IDP_EINVAL,
                     "fieldValidation: Invalid value: \"%s\": must be one of Ignore, Warn, Strict",
                     s);
}

static idp_code invalid_message(sctx *c, const json_t *obj, const char *kind, const char *group,
                                idp_err *e) {
  const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
  idp_buf b;
  idp_buf_init(&b, IDP_ERR_MSG_MAX);
  if (group && *group) idp_buf_printf(&b, "%s.%s \"%s\" is invalid: ", kind, group, name ? name : "");
  else idp_buf_printf(&b, "%s \"%s\" is invalid: ", kind, name ? name : "");
  size_t n = json_array_size(c->errors);
  if (n > 1) idp_buf_addc(&b, '[');
  size_t i;
  json_t *x;
  json_array_foreach(c->errors, i, x) {
    idp_buf_printf(&b, "%s%s: %s", i ? ", " : "", json_string_value(json_object_get(x, "field")),
                   json_string_value(json_object_get(x, "message")));
  }
  if (n > 1) idp_buf_addc(&b, ']');
  idp_code rc = idp_err_set(e, IDP_EINVALID, "%s", idp_buf_str(&b));
  idp_buf_free(&b);
  return rc;
}

idp_code idp_schema_validate(const json_t *schema, json_t *obj, idp_fieldval fv,
                             const char *kind, const char *group, json_t *warnings,
                             json_t **causes, idp_err *e) {
  if (causes) *causes = NULL;
  if (!kind) kind = "Object";
  if (!json_is_object(obj))
    return idp_err_set(e, IDP_EINVAL, "%s: object must be a JSON object, got %s", kind,
                       obj ? type_name(obj) : "nothing");
  if (!json_is_object(schema)) return IDP_OK; /* no schema: nothing to check */
  sctx c = {.fv = fv, .unknown = json_array(), .errors = json_array()};
  idp_code rc = IDP_OK;
  if (!c.unknown || !c.errors) {
    rc = idp_err_set(e, IDP_ENOMEM, "schema validation: out of memory");
    goto out;
  }
  prune(&c, schema, obj, "", true, 0);
  if (c.too_deep) {
    rc = idp_err_set(e, IDP_EINVAL, "%s: object nested deeper than %d levels", kind,
                     IDP_SCHEMA_MAX_DEPTH);
    goto out;
  }
  if (json_array_size(c.unknown) > 0 && fv != IDP_FIELDVAL_IGNORE) {
    idp_buf b;
    idp_buf_init(&b, IDP_ERR_MSG_MAX);
    size_t i;
    json_t *p;
    json_array_foreach(c.unknown, i, p) {
      if (fv == IDP_FIELDVAL_WARN && warnings) {
        char w[PATH_MAX_LEN + 32];
        snprintf(w, sizeof w, "unknown field \"%s\"", json_string_value(p));
        json_array_append_new(warnings, json_string(w));
      }
      idp_buf_printf(&b, "%sunknown field \"%s\"", i ? ", " : "", json_string_value(p));
    }
    if (fv == IDP_FIELDVAL_STRICT)
      rc = idp_err_set(e, IDP_EINVAL, "strict decoding error: %s", idp_buf_str(&b));
    idp_buf_free(&b);
    if (rc) goto out;
  }
  apply_defaults(&c, schema, obj, true, 0);
  validate(&c, schema, obj, "", true, 0);
  if (c.oom) {
    rc = idp_err_set(e, IDP_ENOMEM, "schema validation: out of memory");
    goto out;
  }
  if (c.too_deep) {
    rc = idp_err_set(e, IDP_EINVAL, "%s: object nested deeper than %d levels", kind,
                     IDP_SCHEMA_MAX_DEPTH);
    goto out;
  }
  if (json_array_size(c.errors) > 0) {
    rc = invalid_message(&c, obj, kind, group, e);
    if (causes) *causes = json_incref(c.errors);
  }
out:
  json_decref(c.unknown);
  json_decref(c.errors);
  return rc;
}
