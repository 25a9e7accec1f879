#include "core/common.h"

#include <math.h>

#include "core/json.h"
#include "patch/patch.h"
#include "policy/internal.h"

/* Quantity suffixes as data: binary, then decimal SI (k8s resource.Quantity). */
static const struct {
  const char *sfx;
  long double mul;
} quantity_suffixes[] = {
    {"Ki", 1024.0L},
    {"Mi", 1048576.0L},
    {"Gi", 1073741824.0L},
    {"Ti", 1099511627776.0L},
    {"Pi", 1125899906842624.0L},
    {"Ei", 1152921504606846976.0L},
    {"n", 1e-9L},
    {"u", 1e-6L},
    {"m", 1e-3L},
    {"k", 1e3L},
    {"M", 1e6L},
    {"G", 1e9L},
    {"T", 1e12L},
    {"P", 1e15L},
    {"E", 1e18L},
};

bool pol_parse_quantity(const char *s, long double *out) {
  if (!s || !*s) return false;
  const char *p = s;
  int sign = 1;
  if (*p == '+' || *p == '-') sign = (*p++ == '-') ? -1 : 1;
  const char *digits = p;
  long double v = 0;
  while (*p >= '0' && *p <= '9') v = v * 10 + (*p++ - '0');
  bool any = p > digits;
  if (*p == '.') {
    p++;
    long double f = 0.1L;
    const char *fd = p;
    while (*p >= '0' && *p <= '9') {
      v += (*p++ - '0') * f;
      f /= 10;
    }
    any = any || p > fd;
  }
  if (!any) return false;
  if (*p == '\0') {
    *out = sign * v;
    return true;
  }
  if ((*p == 'e' || *p == 'E') && p[1] != '\0') {
    const char *q = p + 1;
    int esign = 1;
    if (*q == '+' || *q == '-') esign = (*q++ == '-') ? -1 : 1;
    if (*q >= '0' && *q <= '9') {
      long ex = 0;
      while (*q >= '0' && *q <= '9' && ex < 100000) ex = ex * 10 + (*q++ - '0');
      if (*q == '\0') {
        *out = sign * v * powl(10.0L, (long double)(esign * ex));
        return true;
      }
      return false;
    }
  }
  for (size_t i = 0; i < IDP_ARRAY_LEN(quantity_suffixes); i++)
    if (strcmp(p, quantity_suffixes[i].sfx) == 0) {
      *out = sign * v * quantity_suffixes[i].mul;
      return true;
    }
  return false;
}

static const struct {
  const char *unit;
  double secs;
} duration_units[] = {
    {"ns", 1e-9}, {"us", 1e-6}, {"\xc2\xb5s", 1e-6}, {"\xce\xbcs", 1e-6},
    {"ms", 1e-3}, {"s", 1},     {"m", 60},           {"h", 3600},
};

bool pol_parse_duration(const char *s, double *out) {
  if (!s || !*s) return false;
  const char *p = s;
  int sign = 1;
  if (*p == '+' || *p == '-') sign = (*p++ == '-') ? -1 : 1;
  if (strcmp(p, "0") == 0) {
    *out = 0;
    return true;
  }
  if (!*p) return false;
  double total = 0;
  while (*p) {
    const char *st = p;
    double v = 0;
    while (*p >= '0' && *p <= '9') v = v * 10 + (*p++ - '0');
    bool any = p > st;
    if (*p == '.') {
      p++;
      double f = 0.1;
      const char *fd = p;
      while (*p >= '0' && *p <= '9') {
        v += (*p++ - '0') * f;
        f /= 10;
      }
      any = any || p > fd;
    }
    if (!any) return false;
    size_t best = 0;
    double mul = 0;
    for (size_t i = 0; i < IDP_ARRAY_LEN(duration_units); i++) {
      size_t n = strlen(duration_units[i].unit);
      if (strncmp(p, duration_units[i].unit, n) == 0 && n > best) {
        best = n;
        mul = duration_units[i].secs;
      }
    }
    if (!best) return false; /* Go: "missing unit in duration" */
    p += best;
    total += v * mul;
  }
  *out = sign * total;
  return true;
}

bool pol_parse_semver(const char *s, long long v[3], const char **pre) {
  const char *p = s;
  if (*p == 'v' || *p == 'V') p++;
  for (int i = 0; i < 3; i++) {
    if (!(*p >= '0' && *p <= '9')) return false;
    char *end;
    v[i] = strtoll(p, &end, 10);
    p = end;
    if (i < 2) {
      if (*p != '.') return false;
      p++;
    }
  }
  if (*p == '-') {
    if (pre) *pre = p + 1;
    return true;
  }
  if (*p == '+' || *p == '\0') {
    if (pre) *pre = NULL;
    return true;
  }
  return false;
}

int pol_semver_cmp(const char *a, const char *b, bool *ok) {
  long long va[3], vb[3];
  const char *pa, *pb;
  *ok = pol_parse_semver(a, va, &pa) && pol_parse_semver(b, vb, &pb);
  if (!*ok) return 0;
  for (int i = 0; i < 3; i++)
    if (va[i] != vb[i]) return va[i] < vb[i] ? -1 : 1;
  if (!pa && !pb) return 0;
  if (!pa) return 1; /* release > pre-release */
  if (!pb) return -1;
  return strcmp(pa, pb) < 0 ? -1 : strcmp(pa, pb) > 0;
}

bool pol_parse_number(const char *s, double *out) {
  if (!s || !*s) return false;
  char *end;
  errno = 0;
  double d = strtod(s, &end);
  if (*end != '\0' || end == s) return false;
  /* strtod accepts hex, inf and nan; ParseFloat accepts some too but the
   * library never relies on them: keep decimals only. */
  for (const char *p = s; *p; p++)
    if (!strchr("0123456789+-.eE", *p)) return false;
  *out = d;
  return true;
}

bool pol_json_number(const json_t *v, double *out) {
  if (json_is_integer(v)) {
    *out = (double)json_integer_value(v);
    return true;
  }
  if (json_is_real(v)) {
    *out = json_real_value(v);
    return true;
  }
  return false;
}

static void fmt_number(double d, char *buf, size_t n) {
  if (d == floor(d) && fabs(d) < 1e21) {
    snprintf(buf, n, "%.0f", d);
    return;
  }
  /* shortest round-trip, like Go's %v ('g' with minimal digits) */
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, n, "%.*g", prec, d);
    if (strtod(buf, NULL) == d) return;
  }
}

char *pol_sprint(const json_t *v) {
  char num[64];
  double d;
  if (!v || json_is_null(v)) return strdup("<nil>");
  if (json_is_string(v)) return strdup(json_string_value(v));
  if (json_is_true(v)) return strdup("true");
  if (json_is_false(v)) return strdup("false");
  if (pol_json_number(v, &d)) {
    fmt_number(d, num, sizeof num);
    return strdup(num);
  }
  return idp_json_dump(v);
}

bool pol_json_equal(const json_t *a, const json_t *b) {
  double x, y;
  if (pol_json_number(a, &x) && pol_json_number(b, &y)) return x == y;
  if (json_is_object(a) && json_is_object(b)) {
    if (json_object_size(a) != json_object_size(b)) return false;
    const char *k;
    json_t *va;
    json_object_foreach((json_t *)a, k, va) {
      if (!pol_json_equal(va, json_object_get(b, k))) return false;
    }
    return true;
  }
  if (json_is_array(a) && json_is_array(b)) {
    if (json_array_size(a) != json_array_size(b)) return false;
    for (size_t i = 0; i < json_array_size(a); i++)
      if (!pol_json_equal(json_array_get(a, i), json_array_get(b, i))) return false;
    return true;
  }
  if (!a || !b) return a == b;
  return json_equal((json_t *)a, (json_t *)b);
}

void pol_set_dotted(json_t *root, const char *dotted, json_t *v) {
  json_t *cur = root;
  const char *p = dotted;
  for (;;) {
    const char *dot = strchr(p, '.');
    if (!dot) {
      /* objects merge into what is there (JSON merge patch), as Kyverno's
       * context does for added variables; anything else replaces */
      json_t *old = json_object_get(cur, p);
      if (json_is_object(old) && json_is_object(v)) {
        json_t *merged = idp_merge_patch(old, v);
        json_decref(v);
        v = merged ? merged : json_object();
      }
      json_object_set_new(cur, p, v);
      return;
    }
    char key[256];
    size_t n = (size_t)(dot - p);
    if (n >= sizeof key) n = sizeof key - 1;
    memcpy(key, p, n);
    key[n] = '\0';
    json_t *child = json_object_get(cur, key);
    /* copy on write: context members may share the caller's objects */
    if (json_is_object(child) && child->refcount > 1) {
      child = json_deep_copy(child);
      json_object_set_new(cur, key, child);
    }
    cur = idp_json_child_object(cur, key);
    p = dot + 1;
  }
}

bool pol_wild(const char *pattern, const char *s) {
  if (!pattern || !s) return false;
  return idp_wildcard_match(pattern, s);
}

bool pol_has_wild(const char *s) { return s && (strchr(s, '*') || strchr(s, '?')); }
