/* kyverno_time.c: Kyverno's time_* functions with Go's semantics: Go
 * durations (time.ParseDuration / Duration.String), RFC 3339 times with
 * their UTC offset kept, and time_parse/time_since layouts written in Go's
 * reference-time notation ("2006-01-02T15:04:05Z07:00"). */
#include "core/common.h"

#include <time.h>

#include "jmespath/kyverno.h"

/* ---- durations ---- */

bool jp_duration_parse(const char *s, size_t n, int64_t *ns) {
  size_t i = 0;
  bool neg = false;
  if (i < n && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
  if (n - i == 1 && s[i] == '0') {
    *ns = 0;
    return true;
  }
  if (i == n) return false;
  unsigned __int128 total = 0;
  while (i < n) {
    uint64_t whole = 0;
    size_t st = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
      if (whole > (UINT64_MAX - 9) / 10) return false;
      whole = whole * 10 + (uint64_t)(s[i++] - '0');
    }
    bool pre = i > st;
    double frac = 0, scale = 1;
    bool post = false;
    if (i < n && s[i] == '.') {
      i++;
      size_t fs = i;
      while (i < n && s[i] >= '0' && s[i] <= '9') {
        if (scale < 1e18) {
          frac = frac * 10 + (s[i] - '0');
          scale *= 10;
        }
        i++;
      }
      post = i > fs;
    }
    if (!pre && !post) return false;
    size_t us = i;
    while (i < n && s[i] != '.' && (s[i] < '0' || s[i] > '9')) i++;
    size_t ul = i - us;
    const char *u = s + us;
    uint64_t unit;
    if (ul == 2 && memcmp(u, "ns", 2) == 0) unit = 1;
    else if ((ul == 2 && memcmp(u, "us", 2) == 0) || (ul == 3 && memcmp(u, "\xc2\xb5s", 3) == 0) ||
             (ul == 3 && memcmp(u, "\xce\xbcs", 3) == 0))
      unit = 1000;
    else if (ul == 2 && memcmp(u, "ms", 2) == 0) unit = 1000000;
    else if (ul == 1 && u[0] == 's') unit = 1000000000ULL;
    else if (ul == 1 && u[0] == 'm') unit = 60000000000ULL;
    else if (ul == 1 && u[0] == 'h') unit = 3600000000000ULL;
    else return false;
    total += (unsigned __int128)whole * unit + (uint64_t)(frac * ((double)unit / scale));
    if (total > (unsigned __int128)INT64_MAX + (neg ? 1 : 0)) return false;
  }
  *ns = neg ? (int64_t)(-(__int128)total) : (int64_t)total;
  return true;
}

/* Appends v / 10^prec's fraction (".5", none when zero); returns v / 10^prec. */
static uint64_t frac_text(char *buf, size_t *w, uint64_t v, int prec) {
  bool print = false;
  for (int i = 0; i < prec; i++) {
    int digit = (int)(v % 10);
    print = print || digit != 0;
    if (print) buf[--*w] = (char)('0' + digit);
    v /= 10;
  }
  if (print) buf[--*w] = '.';
  return v;
}

static void int_text(char *buf, size_t *w, uint64_t v) {
  do {
    buf[--*w] = (char)('0' + (int)(v % 10));
    v /= 10;
  } while (v);
}

idp_code jp_duration_format(idp_buf *b, int64_t d) {
  char buf[40];
  size_t w = sizeof buf;
  buf[--w] = '\0';
  uint64_t u = d < 0 ? (uint64_t)0 - (uint64_t)d : (uint64_t)d;
  if (u < 1000000000ULL) {
    if (u == 0) return idp_buf_adds(b, "0s");
    buf[--w] = 's';
    int prec;
    if (u < 1000) {
      prec = 0;
      buf[--w] = 'n';
    } else if (u < 1000000) {
      prec = 3;
      buf[--w] = '\xb5';
      buf[--w] = '\xc2';
    } else {
      prec = 6;
      buf[--w] = 'm';
    }
    u = frac_text(buf, &w, u, prec);
    int_text(buf, &w, u);
  } else {
    buf[--w] = 's';
    u = frac_text(buf, &w, u, 9);
    int_text(buf, &w, u % 60);
    u /= 60;
    if (u > 0) {
      buf[--w] = 'm';
      int_text(buf, &w, u % 60);
      u /= 60;
      if (u > 0) {
        buf[--w] = 'h';
        int_text(buf, &w, u);
      }
    }
  }
  if (d < 0) buf[--w] = '-';
  return idp_buf_adds(b, buf + w);
}

/* ---- civil time ---- */

typedef struct gtime {
  int64_t sec; /* Unix seconds (UTC instant) */
  int32_t nsec;
  int32_t off; /* seconds east of UTC, kept for formatting */
} gtime;

static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

static int64_t floordiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

typedef struct civil {
  int64_t year;
  int month, day, hour, min, sec, wday;
} civil;

static civil to_civil(gtime t) {
  civil c;
  int64_t local = t.sec + t.off;
  int64_t days = floordiv(local, 86400);
  int64_t rem = local - days * 86400;
  civil_from_days(days, &c.year, &c.month, &c.day);
  c.hour = (int)(rem / 3600);
  c.min = (int)(rem / 60 % 60);
  c.sec = (int)(rem % 60);
  c.wday = (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday (4) */
  return c;
}

static idp_code rfc3339(idp_buf *b, gtime t) {
  civil c = to_civil(t);
  idp_code rc = idp_buf_printf(b, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02d", c.year, c.month,
                               c.day, c.hour, c.min, c.sec);
  if (rc) return rc;
  if (t.off == 0) return idp_buf_addc(b, 'Z');
  int off = t.off < 0 ? -t.off : t.off;
  return idp_buf_printf(b, "%c%02d:%02d", t.off < 0 ? '-' : '+', off / 3600, off / 60 % 60);
}

/* ---- Go layouts ---- */

static const char *const months[] = {"January", "February", "March",     "April",
                                     "May",     "June",     "July",      "August",
                                     "September", "October", "November", "December"};
static const char *const days[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                   "Thursday", "Friday", "Saturday"};

typedef struct pstate {
  const char *v;
  size_t i, n;
} pstate;

static bool num(pstate *p, int min, int max, int *out) {
  int k = 0, x = 0;
  while (k < max && p->i < p->n && p->v[p->i] >= '0' && p->v[p->i] <= '9') {
    x = x * 10 + (p->v[p->i++] - '0');
    k++;
  }
  if (k < min) return false;
  *out = x;
  return true;
}

static bool name(pstate *p, const char *const *tab, size_t count, bool abbrev, int *out) {
  for (size_t k = 0; k < count; k++) {
    size_t l = abbrev ? 3 : strlen(tab[k]);
    if (p->n - p->i >= l && strncasecmp(p->v + p->i, tab[k], l) == 0) {
      p->i += l;
      *out = (int)k;
      return true;
    }
  }
  return false;
}

static bool has(const char *s, const char *tok) { return strncmp(s, tok, strlen(tok)) == 0; }

/* time.Parse(layout, value) for the common layout elements. */
static bool go_parse(const char *layout, const char *value, size_t vlen, gtime *out) {
  pstate p = {value, 0, vlen};
  int64_t year = 1;
  int month = 1, day = 1, hour = 0, min = 0, sec = 0, nsec = 0, off = 0, pm = -1;
  const char *l = layout;
  while (*l) {
    int x;
    if (has(l, "2006")) {
      if (!num(&p, 4, 4, &x)) return false;
      year = x;
      l += 4;
    } else if (has(l, "January")) {
      if (!name(&p, months, 12, false, &x)) return false;
      month = x + 1;
      l += 7;
    } else if (has(l, "Jan")) {
      if (!name(&p, months, 12, true, &x)) return false;
      month = x + 1;
      l += 3;
    } else if (has(l, "Monday")) {
      if (!name(&p, days, 7, false, &x)) return false;
      l += 6;
    } else if (has(l, "Mon")) {
      if (!name(&p, days, 7, true, &x)) return false;
      l += 3;
    } else if (has(l, "MST")) {
      while (p.i < p.n && ((p.v[p.i] >= 'A' && p.v[p.i] <= 'Z'))) p.i++;
      l += 3;
    } else if (has(l, "01")) {
      if (!num(&p, 2, 2, &month)) return false;
      l += 2;
    } else if (has(l, "02")) {
      if (!num(&p, 2, 2, &day)) return false;
      l += 2;
    } else if (has(l, "_2")) {
      if (p.i < p.n && p.v[p.i] == ' ') p.i++;
      if (!num(&p, 1, 2, &day)) return false;
      l += 2;
    } else if (has(l, "06")) {
      if (!num(&p, 2, 2, &x)) return false;
      year = x >= 69 ? 1900 + x : 2000 + x;
      l += 2;
    } else if (has(l, "15")) {
      if (!num(&p, 1, 2, &hour)) return false;
      l += 2;
    } else if (has(l, "03")) {
      if (!num(&p, 2, 2, &hour)) return false;
      l += 2;
    } else if (has(l, "04")) {
      if (!num(&p, 2, 2, &min)) return false;
      l += 2;
    } else if (has(l, "05")) {
      if (!num(&p, 2, 2, &sec)) return false;
      l += 2;
      /* A fractional second may follow even when the layout has none. */
      if (p.i + 1 < p.n && (p.v[p.i] == '.' || p.v[p.i] == ',') && p.v[p.i + 1] >= '0' &&
          p.v[p.i + 1] <= '9' && !(l[0] == '.' && (l[1] == '0' || l[1] == '9'))) {
        p.i++;
        int k = 0;
        nsec = 0;
        while (p.i < p.n && p.v[p.i] >= '0' && p.v[p.i] <= '9') {
          if (k < 9) nsec = nsec * 10 + (p.v[p.i] - '0'), k++;
          p.i++;
        }
        while (k++ < 9) nsec *= 10;
      }
    } else if ((l[0] == '.' || l[0] == ',') && (l[1] == '0' || l[1] == '9')) {
      char dig = l[1];
      size_t k = 1;
      while (l[k] == dig) k++;
      l += k;
      if (p.i < p.n && (p.v[p.i] == '.' || p.v[p.i] == ',')) {
        p.i++;
        int cnt = 0;
        nsec = 0;
        while (p.i < p.n && p.v[p.i] >= '0' && p.v[p.i] <= '9') {
          if (cnt < 9) nsec = nsec * 10 + (p.v[p.i] - '0'), cnt++;
          p.i++;
        }
        while (cnt++ < 9) nsec *= 10;
      } else if (dig == '0') {
        return false;
      }
    } else if (has(l, "PM") || has(l, "pm")) {
      if (p.n - p.i < 2) return false;
      if (strncasecmp(p.v + p.i, "PM", 2) == 0) pm = 1;
      else if (strncasecmp(p.v + p.i, "AM", 2) == 0) pm = 0;
      else return false;
      p.i += 2;
      l += 2;
    } else if (has(l, "Z07:00") || has(l, "-07:00") || has(l, "Z0700") || has(l, "-0700") ||
               has(l, "Z07") || has(l, "-07")) {
      bool z = l[0] == 'Z';
      size_t tl = has(l, "Z07:00") || has(l, "-07:00") ? 6 : has(l, "Z0700") || has(l, "-0700") ? 5 : 3;
      bool colon = tl == 6, mins = tl >= 5;
      l += tl;
      if (z && p.i < p.n && p.v[p.i] == 'Z') {
        p.i++;
        off = 0;
        continue;
      }
      if (p.i >= p.n || (p.v[p.i] != '+' && p.v[p.i] != '-')) return false;
      int sign = p.v[p.i++] == '-' ? -1 : 1, hh, mm = 0;
      if (!num(&p, 2, 2, &hh)) return false;
      if (mins) {
        if (colon) {
          if (p.i >= p.n || p.v[p.i] != ':') return false;
          p.i++;
        }
        if (!num(&p, 2, 2, &mm)) return false;
      }
      off = sign * (hh * 3600 + mm * 60);
    } else if (l[0] == '1' && !(l[1] >= '0' && l[1] <= '9')) {
      if (!num(&p, 1, 2, &month)) return false;
      l += 1;
    } else if (l[0] == '2' && !(l[1] >= '0' && l[1] <= '9')) {
      if (!num(&p, 1, 2, &day)) return false;
      l += 1;
    } else if (l[0] == '3') {
      if (!num(&p, 1, 2, &hour)) return false;
      l += 1;
    } else if (l[0] == '4') {
      if (!num(&p, 1, 2, &min)) return false;
      l += 1;
    } else if (l[0] == '5') {
      if (!num(&p, 1, 2, &sec)) return false;
      l += 1;
    } else {
      if (p.i >= p.n || p.v[p.i] != *l) return false;
      p.i++;
      l++;
    }
  }
  if (p.i != p.n) return false;
  if (pm == 1 && hour < 12) hour += 12;
  if (pm == 0 && hour == 12) hour = 0;
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1 || day > mdays[month - 1] || hour > 23 || min > 59 ||
      sec > 59)
    return false;
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (month == 2 && day == 29 && !leap) return false;
  out->sec = days_from_civil(year, month, day) * 86400 + hour * 3600 + min * 60 + sec - off;
  out->nsec = nsec;
  out->off = off;
  return true;
}

static const char *RFC3339 = "2006-01-02T15:04:05Z07:00";

static idp_code time_arg(jp_ctx *c, const char *fn, const json_t *v, const char *layout,
                         gtime *t) {
  if (!go_parse(layout, json_string_value(v), json_string_length(v), t))
    return jp_kerr(c, fn, "cannot parse \"%.100s\" as a time with layout \"%.100s\"",
                   json_string_value(v), layout);
  return IDP_OK;
}

static idp_code dur_arg(jp_ctx *c, const char *fn, const json_t *v, int64_t *d) {
  if (!jp_duration_parse(json_string_value(v), json_string_length(v), d))
    return jp_kerr(c, fn, "invalid duration \"%.100s\"", json_string_value(v));
  return IDP_OK;
}

static idp_code ret_buf(jp_ctx *c, idp_buf *b, idp_code rc, json_t **out) {
  json_t *r = rc ? NULL : json_stringn(b->data ? b->data : "", b->len);
  idp_buf_free(b);
  if (!r) return JP_OOM(c);
  *out = r;
  return IDP_OK;
}

static idp_code ret_time(jp_ctx *c, gtime t, json_t **out) {
  idp_buf b;
  idp_buf_init(&b, 64);
  return ret_buf(c, &b, rfc3339(&b, t), out);
}

static idp_code ret_dur(jp_ctx *c, __int128 ns, json_t **out) {
  if (ns > INT64_MAX) ns = INT64_MAX; /* Go's Sub saturates */
  if (ns < INT64_MIN) ns = INT64_MIN;
  idp_buf b;
  idp_buf_init(&b, 64);
  return ret_buf(c, &b, jp_duration_format(&b, (int64_t)ns), out);
}

static __int128 ns_of(gtime t) { return (__int128)t.sec * 1000000000 + t.nsec; }

static gtime now(bool utc) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  gtime t = {ts.tv_sec, (int32_t)ts.tv_nsec, 0};
  if (!utc) {
    struct tm tm;
    time_t s = ts.tv_sec;
    if (localtime_r(&s, &tm)) t.off = (int32_t)tm.tm_gmtoff;
  }
  return t;
}

JP_KFN(jp_k_time_since) {
  IDP_UNUSED(n);
  const char *layout = json_string_length(a[0].v) ? json_string_value(a[0].v) : RFC3339;
  gtime t1, t2;
  idp_code rc = time_arg(c, "time_since", a[1].v, layout, &t1);
  if (rc) return rc;
  if (json_string_length(a[2].v)) {
    if ((rc = time_arg(c, "time_since", a[2].v, layout, &t2))) return rc;
  } else {
    t2 = now(false);
  }
  return ret_dur(c, ns_of(t2) - ns_of(t1), out);
}

JP_KFN(jp_k_time_now) {
  IDP_UNUSED(a);
  IDP_UNUSED(n);
  return ret_time(c, now(false), out);
}

JP_KFN(jp_k_time_now_utc) {
  IDP_UNUSED(a);
  IDP_UNUSED(n);
  return ret_time(c, now(true), out);
}

JP_KFN(jp_k_time_to_cron) {
  IDP_UNUSED(n);
  gtime t;
  idp_code rc = time_arg(c, "time_to_cron", a[0].v, RFC3339, &t);
  if (rc) return rc;
  civil cv = to_civil(t);
  idp_buf b;
  idp_buf_init(&b, 64);
  rc = idp_buf_printf(&b, "%d %d %d %d %d", cv.min, cv.hour, cv.day, cv.month, cv.wday);
  return ret_buf(c, &b, rc, out);
}

JP_KFN(jp_k_time_add) {
  IDP_UNUSED(n);
  gtime t;
  int64_t d;
  idp_code rc = time_arg(c, "time_add", a[0].v, RFC3339, &t);
  if (rc || (rc = dur_arg(c, "time_add", a[1].v, &d))) return rc;
  __int128 ns = ns_of(t) + d;
  t.sec = (int64_t)(ns / 1000000000);
  t.nsec = (int32_t)(ns % 1000000000);
  if (t.nsec < 0) t.nsec += 1000000000, t.sec--;
  return ret_time(c, t, out);
}

JP_KFN(jp_k_time_parse) {
  IDP_UNUSED(n);
  const char *layout = json_string_value(a[0].v);
  char *end;
  gtime t = {0, 0, 0};
  if (*layout) {
    errno = 0;
    strtoll(layout, &end, 10);
    if (!errno && *end == '\0') { /* an integer layout means epoch seconds */
      const char *v = json_string_value(a[1].v);
      errno = 0;
      long long s = strtoll(v, &end, 10);
      if (errno || !*v || *end) return jp_kerr(c, "time_parse", "invalid epoch time \"%.100s\"", v);
      t.sec = s;
      return ret_time(c, t, out);
    }
  }
  idp_code rc = time_arg(c, "time_parse", a[1].v, layout, &t);
  return rc ? rc : ret_time(c, t, out);
}

JP_KFN(jp_k_time_utc) {
  IDP_UNUSED(n);
  gtime t;
  idp_code rc = time_arg(c, "time_utc", a[0].v, RFC3339, &t);
  if (rc) return rc;
  t.off = 0;
  return ret_time(c, t, out);
}

JP_KFN(jp_k_time_diff) {
  IDP_UNUSED(n);
  gtime t1, t2;
  idp_code rc = time_arg(c, "time_diff", a[0].v, RFC3339, &t1);
  if (rc || (rc = time_arg(c, "time_diff", a[1].v, RFC3339, &t2))) return rc;
  return ret_dur(c, ns_of(t2) - ns_of(t1), out);
}

JP_KFN(jp_k_time_before) {
  IDP_UNUSED(n);
  gtime t1, t2;
  idp_code rc = time_arg(c, "time_before", a[0].v, RFC3339, &t1);
  if (rc || (rc = time_arg(c, "time_before", a[1].v, RFC3339, &t2))) return rc;
  *out = json_boolean(ns_of(t1) < ns_of(t2));
  return IDP_OK;
}

JP_KFN(jp_k_time_after) {
  IDP_UNUSED(n);
  gtime t1, t2;
  idp_code rc = time_arg(c, "time_after", a[0].v, RFC3339, &t1);
  if (rc || (rc = time_arg(c, "time_after", a[1].v, RFC3339, &t2))) return rc;
  *out = json_boolean(ns_of(t1) > ns_of(t2));
  return IDP_OK;
}

JP_KFN(jp_k_time_between) {
  IDP_UNUSED(n);
  gtime t, s, e;
  idp_code rc = time_arg(c, "time_between", a[0].v, RFC3339, &t);
  if (rc || (rc = time_arg(c, "time_between", a[1].v, RFC3339, &s)) ||
      (rc = time_arg(c, "time_between", a[2].v, RFC3339, &e)))
    return rc;
  *out = json_boolean(ns_of(t) > ns_of(s) && ns_of(t) < ns_of(e));
  return IDP_OK;
}

JP_KFN(jp_k_time_truncate) {
  IDP_UNUSED(n);
  gtime t;
  int64_t d;
  idp_code rc = time_arg(c, "time_truncate", a[0].v, RFC3339, &t);
  if (rc || (rc = dur_arg(c, "time_truncate", a[1].v, &d))) return rc;
  if (d > 0) {
    /* Go truncates relative to the zero Time (year 1), in absolute time. */
    const __int128 zero_offset = (__int128)62135596800LL * 1000000000;
    __int128 abs_ns = ns_of(t) + zero_offset;
    __int128 r = abs_ns % d;
    if (r < 0) r += d;
    abs_ns -= r;
    __int128 ns = abs_ns - zero_offset;
    t.sec = (int64_t)(ns / 1000000000);
    t.nsec = (int32_t)(ns % 1000000000);
    if (t.nsec < 0) t.nsec += 1000000000, t.sec--;
  }
  return ret_time(c, t, out);
}
