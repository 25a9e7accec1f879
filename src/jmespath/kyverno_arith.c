/* kyverno_arith.c: Kyverno's arithmetic functions.  Each operand is a
 * scalar (a JSON number), a Kubernetes quantity ('10Mi', '500m', '1.5') or a
 * Go duration ('1h30m') -- a string is tried as a quantity first, so '1m' is
 * one milli-unit, not a minute.  The result table (Kyverno's arithmetic.go):
 *   Q+-Q -> Q   D+-D -> D   S+-S -> S
 *   Q*S, S*Q -> Q   D*S, S*D -> D   S*S -> S
 *   Q/Q -> S   Q/S -> Q   D/D -> S   D/S -> D   S/S -> S
 *   Q%Q -> Q   D%D -> D   S%S -> S (integers only)
 * Quantities are exact decimals (int128 mantissa, base-10 exponent) printed
 * in Kubernetes' canonical form ("1536Mi", "1500m", "2k"); durations are
 * int64 nanoseconds printed as Go does ("1h30m0s"). */
#include "core/common.h"

#include <math.h>

#include "jmespath/kyverno.h"

typedef __int128 i128;

typedef enum qfmt { Q_DEC_SI, Q_BIN_SI, Q_DEC_EXP } qfmt;

typedef struct quantity {
  i128 m;  /* value = m * 10^e */
  int e;
  qfmt fmt;
} quantity;

typedef enum okind { O_SCALAR, O_QUANTITY, O_DURATION } okind;

typedef struct operand {
  okind kind;
  double s;
  quantity q;
  int64_t d;
} operand;

#define I128_LIMIT ((i128)1 << 120)

static bool mul10(i128 *m, int times) {
  while (times-- > 0) {
    if (*m > I128_LIMIT / 10 || *m < -I128_LIMIT / 10) return false;
    *m *= 10;
  }
  return true;
}

static const struct {
  const char *s;
  int exp;
  qfmt fmt;
} suffixes[] = {
    {"", 0, Q_DEC_SI},   {"n", -9, Q_DEC_SI}, {"u", -6, Q_DEC_SI}, {"m", -3, Q_DEC_SI},
    {"k", 3, Q_DEC_SI},  {"M", 6, Q_DEC_SI},  {"G", 9, Q_DEC_SI},  {"T", 12, Q_DEC_SI},
    {"P", 15, Q_DEC_SI}, {"E", 18, Q_DEC_SI}, {"Ki", 10, Q_BIN_SI}, {"Mi", 20, Q_BIN_SI},
    {"Gi", 30, Q_BIN_SI}, {"Ti", 40, Q_BIN_SI}, {"Pi", 50, Q_BIN_SI}, {"Ei", 60, Q_BIN_SI},
};

/* resource.ParseQuantity. */
static bool quantity_parse(const char *s, size_t n, quantity *q) {
  size_t i = 0;
  bool neg = false;
  if (i < n && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  size_t ds = i;
  while (i < n && s[i] >= '0' && s[i] <= '9') i++;
  size_t nd = i - ds, fs = i, nf = 0;
  if (i < n && s[i] == '.') {
    fs = ++i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    nf = i - fs;
  }
  if (nd + nf == 0 || nd + nf > 30) return false;
  const char *suf = s + i;
  size_t sl = n - i;
  int exp = 0;
  qfmt fmt = Q_DEC_SI;
  bool found = false;
  for (size_t k = 0; k < IDP_ARRAY_LEN(suffixes); k++)
    if (strlen(suffixes[k].s) == sl && memcmp(suffixes[k].s, suf, sl) == 0) {
      exp = suffixes[k].exp;
      fmt = suffixes[k].fmt;
      found = true;
      break;
    }
  if (!found) {
    if (sl < 2 || (suf[0] != 'e' && suf[0] != 'E')) return false;
    size_t k = 1;
    if (suf[k] == '+' || suf[k] == '-') k++;
    if (k >= sl || sl - k > 4) return false;
    for (size_t j = k; j < sl; j++)
      if (suf[j] < '0' || suf[j] > '9') return false;
    char tmp[8];
    memcpy(tmp, suf + 1, sl - 1);
    tmp[sl - 1] = '\0';
    exp = (int)strtol(tmp, NULL, 10);
    if (exp > 60 || exp < -60) return false;
    fmt = Q_DEC_EXP;
  }
  i128 m = 0;
  for (size_t k = 0; k < nd; k++) m = m * 10 + (s[ds + k] - '0');
  for (size_t k = 0; k < nf; k++) m = m * 10 + (s[fs + k] - '0');
  int e = -(int)nf;
  if (fmt == Q_BIN_SI) {
    for (int k = 0; k < exp; k++) {
      if (m > I128_LIMIT / 2) return false;
      m *= 2;
    }
  } else {
    e += exp;
  }
  /* Kubernetes keeps at most nano precision, rounding away from zero. */
  if (e < -9) {
    int drop = -9 - e;
    i128 p = 1;
    for (int k = 0; k < drop && k < 38; k++) p *= 10;
    i128 r = m / p;
    if (m % p) r += 1;
    m = r;
    e = -9;
  }
  /* The slow path of ParseQuantity (binary with a fraction) yields scale 9. */
  if (fmt == Q_BIN_SI && nf > 0 && e > -9) {
    if (!mul10(&m, e + 9)) return false;
    e = -9;
  }
  if (fmt == Q_BIN_SI && m < 1 && m > 0) fmt = Q_DEC_SI;
  q->m = neg ? -m : m;
  q->e = e;
  q->fmt = fmt;
  return true;
}

static idp_code put_i128(idp_buf *b, i128 v) {
  char tmp[48];
  size_t k = sizeof tmp;
  tmp[--k] = '\0';
  bool neg = v < 0;
  unsigned __int128 u = neg ? (unsigned __int128)(-(v + 1)) + 1 : (unsigned __int128)v;
  do {
    tmp[--k] = (char)('0' + (int)(u % 10));
    u /= 10;
  } while (u);
  if (neg) tmp[--k] = '-';
  return idp_buf_adds(b, tmp + k);
}

/* Quantity.String(): Kubernetes' canonical form. */
static idp_code quantity_format(idp_buf *b, quantity q) {
  if (q.m == 0) return idp_buf_adds(b, "0");
  qfmt fmt = q.fmt;
  if (fmt == Q_BIN_SI) {
    /* Small or fractional binary quantities print as decimal SI. */
    i128 whole = q.m;
    bool exact = true;
    if (q.e >= 0) {
      if (!mul10(&whole, q.e)) exact = false;
    } else {
      for (int k = 0; k < -q.e; k++) {
        if (whole % 10) exact = false;
        whole /= 10;
      }
    }
    if (!exact || (whole > -1024 && whole < 1024)) {
      fmt = Q_DEC_SI;
    } else {
      int k = 0;
      while (k < 6 && whole % 1024 == 0) {
        whole /= 1024;
        k++;
      }
      static const char *const bin[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
      idp_code rc = put_i128(b, whole);
      return rc ? rc : idp_buf_adds(b, bin[k]);
    }
  }
  i128 m = q.m;
  int e = q.e;
  while (m % 10 == 0) {
    m /= 10;
    e++;
  }
  while (((e % 3) + 3) % 3 != 0) {
    if (!mul10(&m, 1)) break;
    e--;
  }
  idp_code rc = put_i128(b, m);
  if (rc || e == 0) return rc;
  if (fmt == Q_DEC_SI) {
    static const char *const dec[] = {"n", "u", "m", "", "k", "M", "G", "T", "P", "E"};
    if (e >= -9 && e <= 18) return idp_buf_adds(b, dec[(e + 9) / 3]);
  }
  return idp_buf_printf(b, "e%d", e);
}

static double quantity_float(quantity q) { return (double)q.m * pow(10.0, q.e); }

/* Aligns two quantities to the smaller exponent. */
static bool align(quantity *a, quantity *b) {
  if (a->e > b->e) {
    if (!mul10(&a->m, a->e - b->e)) return false;
    a->e = b->e;
  } else if (b->e > a->e) {
    if (!mul10(&b->m, b->e - a->e)) return false;
    b->e = a->e;
  }
  return true;
}

static bool parse_operand(const json_t *v, operand *o) {
  if (json_is_number(v)) {
    o->kind = O_SCALAR;
    o->s = jp_num(v);
    return true;
  }
  if (!json_is_string(v)) return false;
  const char *s = json_string_value(v);
  size_t n = json_string_length(v);
  if (quantity_parse(s, n, &o->q)) {
    o->kind = O_QUANTITY;
    return true;
  }
  if (jp_duration_parse(s, n, &o->d)) {
    o->kind = O_DURATION;
    return true;
  }
  return false;
}

/* A scalar as a quantity, via its shortest decimal text (Kyverno formats
 * it with %v and parses that). */
static bool scalar_quantity(double s, quantity *q) {
  idp_buf b;
  idp_buf_init(&b, 64);
  bool ok = !jp_num_text(&b, s) && b.data && quantity_parse(b.data, b.len, q);
  idp_buf_free(&b);
  return ok;
}

static idp_code ret_str(jp_ctx *c, idp_buf *b, json_t **out) {
  json_t *r = json_stringn(b->data ? b->data : "", b->len);
  idp_buf_free(b);
  if (!r) return JP_OOM(c);
  *out = r;
  return IDP_OK;
}

static idp_code ret_quantity(jp_ctx *c, quantity q, json_t **out) {
  idp_buf b;
  idp_buf_init(&b, 128);
  if (quantity_format(&b, q)) {
    idp_buf_free(&b);
    return JP_OOM(c);
  }
  return ret_str(c, &b, out);
}

static idp_code ret_duration(jp_ctx *c, int64_t d, json_t **out) {
  idp_buf b;
  idp_buf_init(&b, 64);
  if (jp_duration_format(&b, d)) {
    idp_buf_free(&b);
    return JP_OOM(c);
  }
  return ret_str(c, &b, out);
}

static idp_code ret_scalar(jp_ctx *c, double d, json_t **out) {
  json_t *r = jp_num_new(d);
  if (!r) return JP_OOM(c);
  *out = r;
  return IDP_OK;
}

typedef enum aop { A_ADD, A_SUB, A_MUL, A_DIV, A_MOD } aop;

static idp_code arith(jp_ctx *c, const char *fn, aop op, const json_t *x, const json_t *y,
                      json_t **out) {
  operand a, b;
  if (!parse_operand(x, &a) || !parse_operand(y, &b)) return jp_kerr(c, fn, "invalid operands");
  if (op == A_MUL && a.kind == O_SCALAR && b.kind != O_SCALAR) {
    operand t = a; /* S*Q and S*D commute */
    a = b;
    b = t;
  }
  bool same = a.kind == b.kind;
  switch (op) {
  case A_ADD:
  case A_SUB:
    if (!same) break;
    if (a.kind == O_SCALAR) return ret_scalar(c, op == A_ADD ? a.s + b.s : a.s - b.s, out);
    if (a.kind == O_DURATION) {
      int64_t r;
      bool ovf = op == A_ADD ? __builtin_add_overflow(a.d, b.d, &r)
                             : __builtin_sub_overflow(a.d, b.d, &r);
      if (ovf) return jp_kerr(c, fn, "duration overflow");
      return ret_duration(c, r, out);
    }
    {
      quantity qa = a.q, qb = b.q;
      if (!align(&qa, &qb)) return jp_kerr(c, fn, "quantity out of range");
      if (qa.m == 0 && a.q.m == 0) qa.fmt = b.q.fmt; /* Quantity.Add on zero */
      qa.m = op == A_ADD ? qa.m + qb.m : qa.m - qb.m;
      return ret_quantity(c, qa, out);
    }
  case A_MUL:
    if (b.kind != O_SCALAR) break;
    if (a.kind == O_SCALAR) return ret_scalar(c, a.s * b.s, out);
    if (a.kind == O_DURATION) {
      double ns = ((double)a.d / 1e9) * b.s * 1e9;
      if (!(fabs(ns) < 9.2e18)) return jp_kerr(c, fn, "duration overflow");
      return ret_duration(c, (int64_t)ns, out);
    }
    {
      quantity qs;
      if (!scalar_quantity(b.s, &qs)) return jp_kerr(c, fn, "invalid operands");
      quantity r = a.q;
      if ((qs.m != 0 && (r.m > I128_LIMIT / (qs.m < 0 ? -qs.m : qs.m) ||
                         r.m < -I128_LIMIT / (qs.m < 0 ? -qs.m : qs.m))))
        return jp_kerr(c, fn, "quantity out of range");
      r.m *= qs.m;
      r.e += qs.e;
      return ret_quantity(c, r, out);
    }
  case A_DIV:
    if (b.kind == O_SCALAR && b.s == 0) return jp_kerr(c, fn, "Zero divisor passed");
    if (a.kind == O_SCALAR && b.kind == O_SCALAR) return ret_scalar(c, a.s / b.s, out);
    if (a.kind == O_QUANTITY && b.kind == O_QUANTITY) {
      double d = quantity_float(b.q);
      if (d == 0) return jp_kerr(c, fn, "Zero divisor passed");
      return ret_scalar(c, quantity_float(a.q) / d, out);
    }
    if (a.kind == O_DURATION && b.kind == O_DURATION) {
      if (b.d == 0) return jp_kerr(c, fn, "Zero divisor passed");
      return ret_scalar(c, ((double)a.d / 1e9) / ((double)b.d / 1e9), out);
    }
    if (a.kind == O_DURATION && b.kind == O_SCALAR) {
      double ns = ((double)a.d / 1e9) / b.s * 1e9;
      if (!(fabs(ns) < 9.2e18)) return jp_kerr(c, fn, "duration overflow");
      return ret_duration(c, (int64_t)ns, out);
    }
    if (a.kind == O_QUANTITY && b.kind == O_SCALAR) {
      /* inf.Dec QuoRound at the larger scale of the two, rounding down. */
      quantity qs;
      if (!scalar_quantity(b.s, &qs) || qs.m == 0) return jp_kerr(c, fn, "invalid operands");
      int scale = -a.q.e > -qs.e ? -a.q.e : -qs.e;
      /* result m = a.m*10^(a.e+scale) / (qs.m*10^qs.e) */
      i128 num = a.q.m, den = qs.m;
      int shift = a.q.e + scale - qs.e;
      if (shift >= 0) {
        if (!mul10(&num, shift)) return jp_kerr(c, fn, "quantity out of range");
      } else if (!mul10(&den, -shift)) {
        return jp_kerr(c, fn, "quantity out of range");
      }
      quantity r = {num / den, -scale, a.q.fmt};
      return ret_quantity(c, r, out);
    }
    break;
  case A_MOD:
    if (!same) break;
    if (a.kind == O_DURATION) {
      if (b.d == 0) return jp_kerr(c, fn, "Zero divisor passed");
      return ret_duration(c, a.d % b.d, out);
    }
    {
      double f1 = a.kind == O_SCALAR ? a.s : quantity_float(a.q);
      double f2 = b.kind == O_SCALAR ? b.s : quantity_float(b.q);
      if (!(fabs(f1) < 9.2e18) || !(fabs(f2) < 9.2e18) || f1 != (double)(int64_t)f1 ||
          f2 != (double)(int64_t)f2)
        return jp_kerr(c, fn, "Non-integer argument(s) passed for modulo");
      int64_t i1 = (int64_t)f1, i2 = (int64_t)f2;
      if (i2 == 0) return jp_kerr(c, fn, "Zero divisor passed");
      int64_t r = (i2 == -1) ? 0 : i1 % i2;
      if (a.kind == O_SCALAR) return ret_scalar(c, (double)r, out);
      quantity q = {r, 0, a.q.fmt};
      return ret_quantity(c, q, out);
    }
  }
  return jp_kerr(c, fn, "types mismatch");
}

JP_KFN(jp_k_add) {
  IDP_UNUSED(n);
  return arith(c, "add", A_ADD, a[0].v, a[1].v, out);
}
JP_KFN(jp_k_subtract) {
  IDP_UNUSED(n);
  return arith(c, "subtract", A_SUB, a[0].v, a[1].v, out);
}
JP_KFN(jp_k_multiply) {
  IDP_UNUSED(n);
  return arith(c, "multiply", A_MUL, a[0].v, a[1].v, out);
}
JP_KFN(jp_k_divide) {
  IDP_UNUSED(n);
  return arith(c, "divide", A_DIV, a[0].v, a[1].v, out);
}
JP_KFN(jp_k_modulo) {
  IDP_UNUSED(n);
  return arith(c, "modulo", A_MOD, a[0].v, a[1].v, out);
}

JP_KFN(jp_k_sum) {
  IDP_UNUSED(n);
  json_t *arr = a[0].v;
  size_t m = json_array_size(arr);
  if (m == 0) return jp_kerr(c, "sum", "at least one element in the array is required");
  json_t *acc = json_incref(json_array_get(arr, 0));
  for (size_t i = 1; i < m; i++) {
    json_t *r;
    idp_code rc = arith(c, "sum", A_ADD, acc, json_array_get(arr, i), &r);
    json_decref(acc);
    if (rc) return rc;
    acc = r;
  }
  *out = acc;
  return IDP_OK;
}

JP_KFN(jp_k_round) {
  IDP_UNUSED(n);
  double v = jp_num(a[0].v), places = jp_num(a[1].v);
  if (places != floor(places) || fabs(places) > 1e6)
    return jp_kerr(c, "round", "Non-integer argument(s) passed for round off");
  if (places < 0) return jp_kerr(c, "round", "Argument out of bounds for round off");
  double shift = pow(10, places);
  return ret_scalar(c, round(v * shift) / shift, out);
}
