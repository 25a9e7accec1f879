/* kyverno_functions.c: Kyverno's custom JMESPath functions (kyverno/kyverno
 * pkg/engine/jmespath), as a table of {name, arity, argument types, fn}.
 * Names, argument types and error texts follow Kyverno; the arithmetic
 * lives in kyverno_arith.c, time in kyverno_time.c, x509 in kyverno_x509.c.
 * Regexes use PCRE2 in UTF mode (Kyverno uses Go's RE2: the common syntax
 * is the same; RE2 rejects backreferences, PCRE2 accepts them). */
#include "core/common.h"

#include <math.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/json.h"
#include "core/yaml.h"
#include "jmespath/kyverno.h"

#define OOM(c) JP_OOM(c)

idp_code jp_kerr(jp_ctx *c, const char *fn, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return jp_err(c, "error", "JMESPath function '%s': %s", fn, msg);
}

static idp_code ret(jp_ctx *c, json_t *v, json_t **out) {
  if (!v) return OOM(c);
  *out = v;
  return IDP_OK;
}

static idp_code ret_buf(jp_ctx *c, idp_buf *b, json_t **out) {
  json_t *r = json_stringn(b->data ? b->data : "", b->len);
  idp_buf_free(b);
  return ret(c, r, out);
}

#define S(i) json_string_value(a[i].v)
#define SL(i) json_string_length(a[i].v)

/* Go's strconv.FormatFloat(f, 'f', -1, 32): shortest float32 digits, no
 * exponent (Kyverno's ifaceToString for numbers). */
static idp_code f32_text(idp_buf *b, double d) {
  float f = (float)d;
  if (!isfinite(f)) return idp_buf_adds(b, f != f ? "NaN" : f > 0 ? "+Inf" : "-Inf");
  char e[48];
  int prec;
  for (prec = 1; prec <= 9; prec++) {
    snprintf(e, sizeof e, "%.*e", prec - 1, (double)f);
    if (strtof(e, NULL) == f) break;
  }
  /* Lay the shortest digits out without an exponent. */
  char *ep = strchr(e, 'e');
  int exp10 = (int)strtol(ep + 1, NULL, 10);
  char digits[16];
  int nd = 0;
  for (const char *q = e; q < ep; q++)
    if (*q >= '0' && *q <= '9') digits[nd++] = *q;
  idp_code rc = f < 0 ? idp_buf_addc(b, '-') : IDP_OK;
  if (exp10 < 0) {
    rc = rc ? rc : idp_buf_adds(b, "0.");
    for (int i = -1; i > exp10 && !rc; i--) rc = idp_buf_addc(b, '0');
    return rc ? rc : idp_buf_add(b, digits, (size_t)nd);
  }
  for (int i = 0; i <= exp10 && !rc; i++) rc = idp_buf_addc(b, i < nd ? digits[i] : '0');
  if (!rc && nd > exp10 + 1) {
    rc = idp_buf_addc(b, '.');
    if (!rc) rc = idp_buf_add(b, digits + exp10 + 1, (size_t)(nd - exp10 - 1));
  }
  return rc;
}

/* Kyverno's ifaceToString: strings, numbers (float32 text), booleans. */
static bool to_text(const json_t *v, idp_buf *b) {
  switch (json_typeof(v)) {
  case JSON_STRING: return !idp_buf_add(b, json_string_value(v), json_string_length(v));
  case JSON_INTEGER:
  case JSON_REAL: return !f32_text(b, jp_num(v));
  case JSON_TRUE: return !idp_buf_adds(b, "true");
  case JSON_FALSE: return !idp_buf_adds(b, "false");
  default: return false;
  }
}

/* ---- strings ---- */

static JP_KFN(k_compare) {
  IDP_UNUSED(n);
  size_t x = SL(0), y = SL(1);
  int k = memcmp(S(0), S(1), x < y ? x : y);
  if (!k) k = (x > y) - (x < y);
  return ret(c, json_integer(k < 0 ? -1 : k > 0), out);
}

/* Simple Unicode folding for ASCII and Latin-1/Latin Extended via towlower
 * would need a locale; ASCII case folding covers Kubernetes names. */
static int fold(int ch) { return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch; }

static JP_KFN(k_equal_fold) {
  IDP_UNUSED(n);
  bool eq = SL(0) == SL(1);
  for (size_t i = 0; eq && i < SL(0); i++) eq = fold((unsigned char)S(0)[i]) == fold((unsigned char)S(1)[i]);
  *out = json_boolean(eq);
  IDP_UNUSED(c);
  return IDP_OK;
}

/* Go strings.Replace(s, old, new, n); n < 0 replaces all.  An empty `old`
 * matches before every code point and at the end, as in Go. */
static idp_code replace(jp_ctx *c, const char *s, size_t sl, const char *o, size_t ol,
                        const char *r, size_t rl, long long n, json_t **out) {
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  size_t i = 0;
  long long done = 0;
  idp_code rc = IDP_OK;
  while (!rc && i <= sl && (n < 0 || done < n)) {
    if (ol == 0) {
      rc = idp_buf_add(&b, r, rl);
      done++;
      if (i == sl) {
        i++;
        break;
      }
      size_t j = i + 1;
      while (j < sl && ((unsigned char)s[j] & 0xC0) == 0x80) j++;
      if (!rc) rc = idp_buf_add(&b, s + i, j - i);
      i = j;
      continue;
    }
    const char *hit = memmem(s + i, sl - i, o, ol);
    if (!hit) break;
    size_t h = (size_t)(hit - s);
    rc = idp_buf_add(&b, s + i, h - i);
    if (!rc) rc = idp_buf_add(&b, r, rl);
    i = h + ol;
    done++;
  }
  if (!rc && i < sl) rc = idp_buf_add(&b, s + i, sl - i);
  if (rc) {
    idp_buf_free(&b);
    return OOM(c);
  }
  return ret_buf(c, &b, out);
}

static JP_KFN(k_replace) {
  IDP_UNUSED(n);
  double k = jp_num(a[3].v);
  long long cnt = k < 0 ? -1 : k > 1e15 ? (long long)1e15 : (long long)k;
  return replace(c, S(0), SL(0), S(1), SL(1), S(2), SL(2), cnt, out);
}

static JP_KFN(k_replace_all) {
  IDP_UNUSED(n);
  return replace(c, S(0), SL(0), S(1), SL(1), S(2), SL(2), -1, out);
}

static idp_code map_case(jp_ctx *c, const jp_arg *a, bool upper, json_t **out) {
  json_t *r = json_stringn(S(0), SL(0));
  if (!r) return OOM(c);
  char *p = (char *)json_string_value(r); /* a new string we own */
  for (size_t i = 0; i < SL(0); i++) {
    if (upper && p[i] >= 'a' && p[i] <= 'z') p[i] = (char)(p[i] - 32);
    if (!upper && p[i] >= 'A' && p[i] <= 'Z') p[i] = (char)(p[i] + 32);
  }
  *out = r;
  return IDP_OK;
}
static JP_KFN(k_to_upper) {
  IDP_UNUSED(n);
  return map_case(c, a, true, out);
}
static JP_KFN(k_to_lower) {
  IDP_UNUSED(n);
  return map_case(c, a, false, out);
}

/* Is the code point at s[i] (length *len) in the cutset? */
static bool in_cutset(const char *s, size_t i, size_t sl, const char *cut, size_t cl, size_t *len) {
  size_t j = i + 1;
  while (j < sl && ((unsigned char)s[j] & 0xC0) == 0x80) j++;
  *len = j - i;
  for (size_t k = 0; k < cl;) {
    size_t m = k + 1;
    while (m < cl && ((unsigned char)cut[m] & 0xC0) == 0x80) m++;
    if (m - k == *len && memcmp(cut + k, s + i, *len) == 0) return true;
    k = m;
  }
  return false;
}

static JP_KFN(k_trim) {
  IDP_UNUSED(n);
  const char *s = S(0);
  size_t sl = SL(0), st = 0, en = sl, len;
  while (st < en && in_cutset(s, st, sl, S(1), SL(1), &len)) st += len;
  while (en > st) {
    size_t k = en - 1;
    while (k > st && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
    if (!in_cutset(s, k, en, S(1), SL(1), &len)) break;
    en = k;
  }
  return ret(c, json_stringn(s + st, en - st), out);
}

static JP_KFN(k_trim_prefix) {
  IDP_UNUSED(n);
  if (SL(1) <= SL(0) && memcmp(S(0), S(1), SL(1)) == 0)
    return ret(c, json_stringn(S(0) + SL(1), SL(0) - SL(1)), out);
  return ret(c, json_incref(a[0].v), out);
}

static JP_KFN(k_trim_suffix) {
  IDP_UNUSED(n);
  if (SL(1) <= SL(0) && memcmp(S(0) + SL(0) - SL(1), S(1), SL(1)) == 0)
    return ret(c, json_stringn(S(0), SL(0) - SL(1)), out);
  return ret(c, json_incref(a[0].v), out);
}

/* Go strings.Split: an empty separator splits into code points. */
static JP_KFN(k_split) {
  IDP_UNUSED(n);
  json_t *r = json_array();
  if (!r) return OOM(c);
  const char *s = S(0), *sep = S(1);
  size_t sl = SL(0), pl = SL(1), i = 0;
  bool bad = false;
  if (pl == 0) {
    while (i < sl && !bad) {
      size_t j = i + 1;
      while (j < sl && ((unsigned char)s[j] & 0xC0) == 0x80) j++;
      bad = json_array_append_new(r, json_stringn(s + i, j - i)) != 0;
      i = j;
    }
  } else {
    for (;;) {
      const char *hit = memmem(s + i, sl - i, sep, pl);
      size_t end = hit ? (size_t)(hit - s) : sl;
      if ((bad = json_array_append_new(r, json_stringn(s + i, end - i)) != 0) || !hit) break;
      i = end + pl;
    }
  }
  if (bad) {
    json_decref(r);
    return OOM(c);
  }
  *out = r;
  return IDP_OK;
}

/* ---- regex ---- */

static idp_code regex_compile(jp_ctx *c, const char *fn, const char *re, size_t len,
                              pcre2_code **code) {
  int err;
  PCRE2_SIZE off;
  *code = pcre2_compile((PCRE2_SPTR)re, len, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &err, &off, NULL);
  if (!*code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    return jp_kerr(c, fn, "error parsing regexp at offset %zu: %s", (size_t)off, (char *)msg);
  }
  return IDP_OK;
}

/* Go's Regexp.Expand template: $1, ${1}, $name, ${name}, $$. */
static idp_code expand(idp_buf *b, const char *t, size_t tl, const pcre2_code *code,
                       const char *subj, const PCRE2_SIZE *ov, uint32_t npairs) {
  idp_code rc = IDP_OK;
  for (size_t i = 0; i < tl && !rc; i++) {
    if (t[i] != '$' || i + 1 >= tl) {
      rc = idp_buf_addc(b, t[i]);
      continue;
    }
    if (t[i + 1] == '$') {
      rc = idp_buf_addc(b, '$');
      i++;
      continue;
    }
    size_t ns, ne, next;
    if (t[i + 1] == '{') {
      ns = i + 2;
      ne = ns;
      while (ne < tl && t[ne] != '}') ne++;
      if (ne >= tl || ne == ns) {
        rc = idp_buf_addc(b, '$');
        continue;
      }
      next = ne + 1;
    } else {
      ns = ne = i + 1;
      while (ne < tl && (t[ne] == '_' || (t[ne] >= '0' && t[ne] <= '9') ||
                         (t[ne] >= 'a' && t[ne] <= 'z') || (t[ne] >= 'A' && t[ne] <= 'Z')))
        ne++;
      if (ne == ns) {
        rc = idp_buf_addc(b, '$');
        continue;
      }
      next = ne;
    }
    char name[128];
    size_t nl = ne - ns < sizeof name - 1 ? ne - ns : sizeof name - 1;
    memcpy(name, t + ns, nl);
    name[nl] = '\0';
    long grp = -1;
    char *end;
    long v = strtol(name, &end, 10);
    if (*end == '\0' && name[0] >= '0' && name[0] <= '9') grp = v;
    else grp = pcre2_substring_number_from_name(code, (PCRE2_SPTR)name);
    if (grp >= 0 && (uint32_t)grp < npairs && ov[2 * grp] != PCRE2_UNSET)
      rc = idp_buf_add(b, subj + ov[2 * grp], ov[2 * grp + 1] - ov[2 * grp]);
    i = next - 1;
  }
  return rc;
}

/* Go's Regexp.ReplaceAll / ReplaceAllLiteral loop (empty-match rules). */
static idp_code regex_replace(jp_ctx *c, const char *fn, const jp_arg *a, bool literal,
                              json_t **out) {
  idp_buf src, repl, b;
  idp_buf_init(&src, IDP_BUF_DEFAULT_MAX);
  idp_buf_init(&repl, IDP_BUF_DEFAULT_MAX);
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  pcre2_code *code = NULL;
  pcre2_match_data *md = NULL;
  idp_code rc = IDP_OK;
  if (!to_text(a[1].v, &src) || !idp_buf_str(&src)) {
    rc = jp_kerr(c, fn, "2 argument is expected of String or Real type");
    goto done;
  }
  if (!to_text(a[2].v, &repl)) {
    rc = jp_kerr(c, fn, "3 argument is expected of String or Real type");
    goto done;
  }
  if ((rc = regex_compile(c, fn, S(0), SL(0), &code))) goto done;
  md = pcre2_match_data_create_from_pattern(code, NULL);
  if (!md) {
    rc = OOM(c);
    goto done;
  }
  const char *s = idp_buf_str(&src);
  size_t sl = src.len, pos = 0, last = 0;
  while (pos <= sl) {
    int m = pcre2_match(code, (PCRE2_SPTR)s, sl, pos, 0, md, NULL);
    if (m < 0) break;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    size_t ms = ov[0], me = ov[1];
    if (idp_buf_add(&b, s + last, ms - last)) goto oom;
    if (me > last || ms == 0) {
      if (literal ? idp_buf_add(&b, idp_buf_str(&repl), repl.len)
                  : expand(&b, idp_buf_str(&repl), repl.len, code, s, ov,
                           pcre2_get_ovector_count(md)))
        goto oom;
    }
    last = me;
    size_t width = 1;
    while (pos + width < sl && ((unsigned char)s[pos + width] & 0xC0) == 0x80) width++;
    if (pos + width > me) pos += width;
    else if (pos + 1 > me) pos++;
    else pos = me;
  }
  if (idp_buf_add(&b, s + last, sl - last)) goto oom;
  rc = ret(c, json_stringn(b.data ? b.data : "", b.len), out);
  goto done;
oom:
  rc = OOM(c);
done:
  pcre2_match_data_free(md);
  pcre2_code_free(code);
  idp_buf_free(&src);
  idp_buf_free(&repl);
  idp_buf_free(&b);
  return rc;
}

static JP_KFN(k_regex_replace_all) {
  IDP_UNUSED(n);
  return regex_replace(c, "regex_replace_all", a, false, out);
}
static JP_KFN(k_regex_replace_all_literal) {
  IDP_UNUSED(n);
  return regex_replace(c, "regex_replace_all_literal", a, true, out);
}

static JP_KFN(k_regex_match) {
  IDP_UNUSED(n);
  idp_buf src;
  idp_buf_init(&src, IDP_BUF_DEFAULT_MAX);
  if (!to_text(a[1].v, &src)) {
    idp_buf_free(&src);
    return jp_kerr(c, "regex_match", "2 argument is expected of String or Real type");
  }
  pcre2_code *code;
  idp_code rc = regex_compile(c, "regex_match", S(0), SL(0), &code);
  if (!rc) {
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md) {
      rc = OOM(c);
    } else {
      int m = pcre2_match(code, (PCRE2_SPTR)idp_buf_str(&src), src.len, 0, 0, md, NULL);
      *out = json_boolean(m >= 0);
      pcre2_match_data_free(md);
    }
    pcre2_code_free(code);
  }
  idp_buf_free(&src);
  return rc;
}

static JP_KFN(k_pattern_match) {
  IDP_UNUSED(n);
  idp_buf src;
  idp_buf_init(&src, IDP_BUF_DEFAULT_MAX);
  if (!to_text(a[1].v, &src)) {
    idp_buf_free(&src);
    return jp_kerr(c, "pattern_match", "2 argument is expected of String or Real type");
  }
  *out = json_boolean(idp_wildcard_match(S(0), idp_buf_str(&src)));
  idp_buf_free(&src);
  return IDP_OK;
}

/* ---- objects ---- */

static JP_KFN(k_label_match) {
  IDP_UNUSED(n);
  IDP_UNUSED(c);
  const char *k;
  size_t kl;
  json_t *v;
  bool ok = true;
  json_object_keylen_foreach(a[0].v, k, kl, v) {
    json_t *w = json_object_getn(a[1].v, k, kl);
    if (!w || !jp_value_equal(v, w)) {
      ok = false;
      break;
    }
  }
  *out = json_boolean(ok);
  return IDP_OK;
}

static JP_KFN(k_to_boolean) {
  IDP_UNUSED(n);
  if (strcasecmp(S(0), "true") == 0 && SL(0) == 4) {
    *out = json_true();
    return IDP_OK;
  }
  if (strcasecmp(S(0), "false") == 0 && SL(0) == 5) {
    *out = json_false();
    return IDP_OK;
  }
  return jp_kerr(c, "to_boolean", "lowercase argument must be 'true' or 'false' (provided: '%.100s')",
                 S(0));
}

static JP_KFN(k_lookup) {
  IDP_UNUSED(n);
  json_t *src = a[0].v, *key = a[1].v;
  if (json_is_object(src)) {
    if (!json_is_string(key))
      return jp_kerr(c, "lookup", "2 argument is expected of String type");
    json_t *v = json_object_getn(src, json_string_value(key), json_string_length(key));
    *out = v ? json_incref(v) : json_null();
    return IDP_OK;
  }
  if (!json_is_number(key)) return jp_kerr(c, "lookup", "2 argument is expected of Number type");
  double d = jp_num(key);
  if (d != floor(d)) return jp_kerr(c, "lookup", "argument #2: expected an integer, got %g", d);
  json_t *v = (d >= 0 && d < (double)json_array_size(src)) ? json_array_get(src, (size_t)d) : NULL;
  *out = v ? json_incref(v) : json_null();
  return IDP_OK;
}

static int strp_cmp(const void *x, const void *y) {
  return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static JP_KFN(k_items) {
  IDP_UNUSED(n);
  json_t *src = a[0].v, *r = json_array();
  if (!r) return OOM(c);
  bool bad = false;
  if (json_is_object(src)) {
    size_t m = json_object_size(src), i = 0;
    const char **keys = malloc((m + 1) * sizeof *keys);
    if (!keys) {
      json_decref(r);
      return OOM(c);
    }
    const char *k;
    json_t *v;
    json_object_foreach(src, k, v) keys[i++] = k;
    idp_sort(keys, m, sizeof *keys, strp_cmp); /* Kyverno sorts keys */
    for (i = 0; i < m && !bad; i++)
      bad = json_array_append_new(r, json_pack("{s:s,s:O}", S(1), keys[i], S(2),
                                               json_object_get(src, keys[i]))) != 0;
    free(keys);
  } else {
    for (size_t i = 0; i < json_array_size(src) && !bad; i++)
      bad = json_array_append_new(r, json_pack("{s:I,s:O}", S(1), (json_int_t)i, S(2),
                                               json_array_get(src, i))) != 0;
  }
  if (bad) {
    json_decref(r);
    return OOM(c);
  }
  *out = r;
  return IDP_OK;
}

static JP_KFN(k_object_from_lists) {
  IDP_UNUSED(n);
  json_t *keys = a[0].v, *vals = a[1].v, *r = json_object();
  if (!r) return OOM(c);
  for (size_t i = 0; i < json_array_size(keys); i++) {
    idp_buf k;
    idp_buf_init(&k, 1 << 20);
    if (!to_text(json_array_get(keys, i), &k) || idp_buf_add(&k, "", 0)) {
      idp_buf_free(&k);
      json_decref(r);
      return jp_kerr(c, "object_from_lists", "1 argument is expected of StringArray type");
    }
    json_t *v = i < json_array_size(vals) ? json_incref(json_array_get(vals, i)) : json_null();
    int bad = json_object_setn_new(r, idp_buf_str(&k), k.len, v);
    idp_buf_free(&k);
    if (bad) {
      json_decref(r);
      return OOM(c);
    }
  }
  *out = r;
  return IDP_OK;
}

/* ---- encodings ---- */

static JP_KFN(k_base64_decode) {
  IDP_UNUSED(n);
  /* Go's StdEncoding: padding required, '\r' and '\n' ignored. */
  const char *s = S(0);
  size_t sl = SL(0);
  char *clean = malloc(sl + 1);
  unsigned char *dec = malloc(sl + 3);
  if (!clean || !dec) {
    free(clean);
    free(dec);
    return OOM(c);
  }
  size_t cl = 0;
  for (size_t i = 0; i < sl; i++)
    if (s[i] != '\r' && s[i] != '\n') clean[cl++] = s[i];
  idp_code rc = IDP_OK;
  int len = -1;
  bool valid = cl % 4 == 0;
  for (size_t i = 0; i < cl && valid; i++) {
    char ch = clean[i];
    bool alpha = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                 ch == '+' || ch == '/';
    if (ch == '=') valid = i >= cl - 2 && (i == cl - 1 || clean[cl - 1] == '=');
    else valid = alpha;
  }
  if (valid && cl) len = EVP_DecodeBlock(dec, (const unsigned char *)clean, (int)cl);
  if (valid && cl == 0) len = 0;
  if (!valid || len < 0) {
    rc = jp_kerr(c, "base64_decode", "illegal base64 data");
  } else {
    size_t pad = 0;
    if (cl && clean[cl - 1] == '=') pad++;
    if (cl > 1 && clean[cl - 2] == '=') pad++;
    json_t *r = json_stringn((const char *)dec, (size_t)len - pad);
    if (!r) r = json_stringn_nocheck((const char *)dec, (size_t)len - pad); /* binary data */
    rc = ret(c, r, out);
  }
  free(clean);
  free(dec);
  return rc;
}

static JP_KFN(k_base64_encode) {
  IDP_UNUSED(n);
  size_t sl = SL(0);
  unsigned char *enc = malloc(4 * ((sl + 2) / 3) + 1);
  if (!enc) return OOM(c);
  int len = EVP_EncodeBlock(enc, (const unsigned char *)S(0), (int)sl);
  json_t *r = json_stringn((const char *)enc, (size_t)len);
  free(enc);
  return ret(c, r, out);
}

static idp_code digest(jp_ctx *c, const EVP_MD *md, const jp_arg *a, json_t **out) {
  unsigned char h[EVP_MAX_MD_SIZE];
  unsigned int hl = 0;
  if (!EVP_Digest(S(0), SL(0), h, &hl, md, NULL)) return jp_err(c, "error", "digest failed");
  char hex[2 * EVP_MAX_MD_SIZE + 1];
  for (unsigned int i = 0; i < hl; i++) snprintf(hex + 2 * i, 3, "%02x", h[i]);
  return ret(c, json_stringn(hex, 2 * hl), out);
}
static JP_KFN(k_sha256) {
  IDP_UNUSED(n);
  return digest(c, EVP_sha256(), a, out);
}
static JP_KFN(k_sha1) {
  IDP_UNUSED(n);
  return digest(c, EVP_sha1(), a, out);
}
static JP_KFN(k_md5) {
  IDP_UNUSED(n);
  return digest(c, EVP_md5(), a, out);
}

/* ---- paths, text ---- */

/* Go's filepath.Join(p) == Clean(p) for one non-empty element. */
static JP_KFN(k_path_canonicalize) {
  IDP_UNUSED(n);
  const char *s = S(0);
  size_t sl = SL(0);
  if (sl == 0) return ret(c, json_string(""), out);
  bool rooted = s[0] == '/';
  char *w = malloc(sl + 2);
  if (!w) return OOM(c);
  size_t wl = 0, dotdot = 0; /* dotdot: where '..' may no longer backtrack */
  if (rooted) w[wl++] = '/', dotdot = 1;
  for (size_t r = 0; r < sl;) {
    if (s[r] == '/') {
      r++;
    } else if (s[r] == '.' && (r + 1 == sl || s[r + 1] == '/')) {
      r++;
    } else if (s[r] == '.' && s[r + 1] == '.' && (r + 2 == sl || s[r + 2] == '/')) {
      r += 2;
      if (wl > dotdot) {
        wl--;
        while (wl > dotdot && w[wl] != '/') wl--;
      } else if (!rooted) {
        if (wl > 0) w[wl++] = '/';
        w[wl++] = '.';
        w[wl++] = '.';
        dotdot = wl;
      }
    } else {
      if ((rooted && wl != 1) || (!rooted && wl != 0)) w[wl++] = '/';
      while (r < sl && s[r] != '/') w[wl++] = s[r++];
    }
  }
  if (wl == 0) w[wl++] = '.';
  json_t *r = json_stringn(w, wl);
  free(w);
  return ret(c, r, out);
}

static JP_KFN(k_truncate) {
  IDP_UNUSED(n);
  double lim = jp_num(a[1].v);
  size_t keep = lim <= 0 ? 0 : lim > 1e12 ? (size_t)1e12 : (size_t)lim;
  const char *s = S(0);
  size_t sl = SL(0), i = 0, cps = 0;
  while (i < sl && cps < keep) {
    i++;
    while (i < sl && ((unsigned char)s[i] & 0xC0) == 0x80) i++;
    cps++;
  }
  return ret(c, json_stringn(s, i), out);
}

/* ---- semver (blang/semver v4 ranges) ---- */

typedef struct semver {
  long long v[3];
  char pre[128]; /* dot-separated pre-release, "" for none */
} semver;

static bool semver_parse(const char *s, size_t n, semver *out) {
  memset(out, 0, sizeof *out);
  size_t i = 0;
  for (int k = 0; k < 3; k++) {
    if (k) {
      if (i >= n || s[i] != '.') return false;
      i++;
    }
    size_t st = i;
    long long x = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9' && i - st < 18) x = x * 10 + (s[i++] - '0');
    if (i == st || (i - st > 1 && s[st] == '0')) return false;
    out->v[k] = x;
  }
  if (i < n && s[i] == '-') {
    size_t st = ++i;
    while (i < n && s[i] != '+') i++;
    if (i == st || i - st >= sizeof out->pre) return false;
    memcpy(out->pre, s + st, i - st);
    out->pre[i - st] = '\0';
  }
  if (i < n && s[i] == '+') {
    if (i + 1 >= n) return false;
    i = n;
  }
  return i == n;
}

static int pre_cmp(const char *a, const char *b) {
  if (!*a || !*b) return *a ? -1 : *b ? 1 : 0; /* a release outranks its pre-releases */
  while (*a && *b) {
    size_t al = strcspn(a, "."), bl = strcspn(b, ".");
    bool an = strspn(a, "0123456789") == al, bn = strspn(b, "0123456789") == bl;
    int k;
    if (an && bn) {
      k = al != bl ? (al > bl ? 1 : -1) : memcmp(a, b, al);
    } else if (an || bn) {
      k = an ? -1 : 1;
    } else {
      k = memcmp(a, b, al < bl ? al : bl);
      if (!k) k = (al > bl) - (al < bl);
    }
    if (k) return k > 0 ? 1 : -1;
    a += al + (a[al] == '.');
    b += bl + (b[bl] == '.');
  }
  return *a ? 1 : *b ? -1 : 0;
}

static int semver_cmp(const semver *x, const semver *y) {
  for (int k = 0; k < 3; k++)
    if (x->v[k] != y->v[k]) return x->v[k] > y->v[k] ? 1 : -1;
  return pre_cmp(x->pre, y->pre);
}

/* One comparator ("<=1.2.3", "1.x", "!1.0.0"); false on a syntax error. */
static bool semver_check(const char *t, size_t n, const semver *v, bool *ok) {
  size_t i = 0;
  char op[3] = "";
  while (i < n && i < 2 && strchr("<>=!", t[i])) op[i] = t[i], i++;
  op[i] = '\0';
  const char *vs = t + i;
  size_t vl = n - i;
  /* Wildcards: "1.x", "1.2.x", "1.*". */
  int parts = 0;
  long long nums[3] = {0, 0, 0};
  bool wild = false;
  size_t k = 0;
  while (k < vl && parts < 3) {
    if (vs[k] == 'x' || vs[k] == 'X' || vs[k] == '*') {
      wild = true;
      k++;
      break;
    }
    size_t st = k;
    while (k < vl && vs[k] >= '0' && vs[k] <= '9' && k - st < 18) nums[parts] = nums[parts] * 10 + (vs[k++] - '0');
    if (k == st) return false;
    parts++;
    if (k < vl && vs[k] == '.') k++;
    else break;
  }
  semver want;
  if (wild) {
    while (k + 1 < vl && vs[k] == '.' && strchr("xX*", vs[k + 1])) k += 2; /* "4.x.x" */
    if (k != vl) return false;
    semver lo = {{nums[0], parts >= 2 ? nums[1] : 0, 0}, ""};
    semver hi = lo;
    if (parts == 0) {
      *ok = strcmp(op, "!=") != 0 && strcmp(op, "!") != 0 && strcmp(op, "<") != 0 && strcmp(op, ">") != 0;
      return true;
    }
    if (parts == 1) hi.v[0]++, hi.v[1] = 0;
    else hi.v[1]++;
    int cl = semver_cmp(v, &lo), ch = semver_cmp(v, &hi);
    if (!*op || !strcmp(op, "=") || !strcmp(op, "==")) *ok = cl >= 0 && ch < 0;
    else if (!strcmp(op, "!=") || !strcmp(op, "!")) *ok = cl < 0 || ch >= 0;
    else if (!strcmp(op, ">")) *ok = ch >= 0;
    else if (!strcmp(op, ">=")) *ok = cl >= 0;
    else if (!strcmp(op, "<")) *ok = cl < 0;
    else if (!strcmp(op, "<=")) *ok = ch < 0;
    else return false;
    return true;
  }
  if (!semver_parse(vs, vl, &want)) return false;
  int cmp = semver_cmp(v, &want);
  if (!*op || !strcmp(op, "=") || !strcmp(op, "==")) *ok = cmp == 0;
  else if (!strcmp(op, "!=") || !strcmp(op, "!")) *ok = cmp != 0;
  else if (!strcmp(op, ">")) *ok = cmp > 0;
  else if (!strcmp(op, ">=")) *ok = cmp >= 0;
  else if (!strcmp(op, "<")) *ok = cmp < 0;
  else if (!strcmp(op, "<=")) *ok = cmp <= 0;
  else return false;
  return true;
}

static JP_KFN(k_semver_compare) {
  IDP_UNUSED(n);
  semver v;
  if (!semver_parse(S(0), SL(0), &v)) memset(&v, 0, sizeof v); /* Kyverno ignores the error */
  const char *r = S(1);
  size_t rl = SL(1), i = 0;
  bool any = false, parsed = false;
  while (i <= rl) {
    /* One OR part up to "||". */
    const char *bar = memmem(r + i, rl - i, "||", 2);
    size_t end = bar ? (size_t)(bar - r) : rl;
    bool all = true;
    size_t j = i;
    char tok[160];
    size_t tl = 0;
    bool nonempty = false;
    while (j <= end) {
      bool sp = j == end || r[j] == ' ' || r[j] == '\t';
      if (!sp) {
        if (tl < sizeof tok - 1) tok[tl++] = r[j];
      } else if (tl) {
        bool only_op = strspn(tok, "<>=!") == tl;
        if (!only_op || j == end) {
          bool ok;
          if (!semver_check(tok, tl, &v, &ok))
            return jp_kerr(c, "semver_compare", "invalid range \"%.100s\"", r);
          all = all && ok;
          nonempty = true;
          tl = 0;
        }
        /* an operator alone (">= 1.0.0") joins the next token */
      }
      j++;
    }
    if (!nonempty) return jp_kerr(c, "semver_compare", "invalid range \"%.100s\"", r);
    parsed = true;
    any = any || all;
    if (!bar) break;
    i = end + 2;
  }
  *out = json_boolean(parsed && any);
  return IDP_OK;
}

/* ---- parsing ---- */

static JP_KFN(k_parse_json) {
  IDP_UNUSED(n);
  json_error_t je;
  json_t *v = json_loadb(S(0), SL(0), JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
  if (!v) return jp_kerr(c, "parse_json", "%s", je.text);
  *out = v;
  return IDP_OK;
}

static JP_KFN(k_parse_yaml) {
  IDP_UNUSED(n);
  json_t *v;
  idp_err ye = IDP_ERR_INIT;
  if (idp_yaml_load_one(S(0), SL(0), "parse_yaml argument", NULL, &v, &ye))
    return jp_kerr(c, "parse_yaml", "%s", ye.msg);
  *out = v;
  return IDP_OK;
}

/* ---- random (regex-driven generator, like goregen) ---- */

typedef struct rgen {
  const char *p;
  size_t i, n;
  idp_buf *out;
  int depth;
} rgen;

static unsigned rnd(unsigned bound) {
  unsigned x = 0;
  if (RAND_bytes((unsigned char *)&x, sizeof x) != 1) x = (unsigned)rand();
  return bound ? x % bound : 0;
}

static bool gen_alt(rgen *g);

/* Collects the characters of one atom into set[] (a class) or runs a group. */
static bool gen_atom(rgen *g, char *set, size_t *setn, bool *group, size_t *gstart) {
  *group = false;
  *setn = 0;
  char ch = g->p[g->i++];
  if (ch == '(') {
    *group = true;
    if (g->i + 1 < g->n && g->p[g->i] == '?' && g->p[g->i + 1] == ':') g->i += 2;
    *gstart = g->i;
    int d = 1;
    while (g->i < g->n && d) {
      if (g->p[g->i] == '\\') g->i++;
      else if (g->p[g->i] == '(') d++;
      else if (g->p[g->i] == ')') d--;
      g->i++;
    }
    return d == 0;
  }
  if (ch == '[') {
    bool neg = g->i < g->n && g->p[g->i] == '^';
    if (neg) g->i++;
    bool in[128] = {false};
    bool first = true;
    while (g->i < g->n && (g->p[g->i] != ']' || first)) {
      first = false;
      unsigned char lo = (unsigned char)g->p[g->i++];
      if (lo == '\\' && g->i < g->n) {
        char e = g->p[g->i++];
        const char *cls = e == 'd' ? "0123456789" : e == 'w' ? "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_" : e == 's' ? " \t\n" : NULL;
        if (cls) {
          for (; *cls; cls++) in[(int)*cls] = true;
          continue;
        }
        lo = (unsigned char)e;
      }
      unsigned char hi = lo;
      if (g->i + 1 < g->n && g->p[g->i] == '-' && g->p[g->i + 1] != ']') {
        hi = (unsigned char)g->p[g->i + 1];
        g->i += 2;
      }
      for (unsigned x = lo; x <= hi && x < 128; x++) in[x] = true;
    }
    if (g->i >= g->n) return false;
    g->i++;
    for (int x = 32; x < 127; x++)
      if (in[x] != neg) set[(*setn)++] = (char)x;
    return *setn > 0;
  }
  if (ch == '\\' && g->i < g->n) {
    char e = g->p[g->i++];
    const char *cls = e == 'd' ? "0123456789" : e == 'w' ? "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_" : e == 's' ? " " : NULL;
    if (cls) {
      for (; *cls; cls++) set[(*setn)++] = *cls;
      return true;
    }
    set[(*setn)++] = e;
    return true;
  }
  if (ch == '.') {
    for (int x = 33; x < 127; x++) set[(*setn)++] = (char)x;
    return true;
  }
  set[(*setn)++] = ch;
  return true;
}

static bool gen_seq(rgen *g, size_t end) {
  while (g->i < end && g->p[g->i] != '|') {
    if (g->p[g->i] == '^' || g->p[g->i] == '$') {
      g->i++;
      continue;
    }
    char set[128];
    size_t setn, gstart = 0;
    bool group;
    if (!gen_atom(g, set, &setn, &group, &gstart)) return false;
    size_t gend = g->i - 1;
    int lo = 1, hi = 1;
    if (g->i < end) {
      char q = g->p[g->i];
      if (q == '?') lo = 0, hi = 1, g->i++;
      else if (q == '*') lo = 0, hi = 10, g->i++;
      else if (q == '+') lo = 1, hi = 10, g->i++;
      else if (q == '{') {
        const char *b1 = g->p + g->i + 1;
        char *e;
        lo = (int)strtol(b1, &e, 10);
        if (e == b1) return false;
        hi = lo;
        if (*e == ',') {
          const char *b2 = e + 1;
          if (*b2 == '}') {
            hi = lo + 10;
            e = (char *)b2;
          } else {
            hi = (int)strtol(b2, &e, 10);
            if (e == b2) return false;
          }
        }
        if (*e != '}') return false;
        g->i = (size_t)(e - g->p) + 1;
      }
    }
    if (lo < 0 || hi < lo || hi > 1000) return false;
    int times = lo + (int)rnd((unsigned)(hi - lo + 1));
    for (int t = 0; t < times; t++) {
      if (group) {
        if (g->depth > 20) return false;
        rgen sub = {g->p, gstart, gend, g->out, g->depth + 1};
        if (!gen_alt(&sub)) return false;
      } else if (idp_buf_addc(g->out, set[rnd((unsigned)setn)])) {
        return false;
      }
    }
  }
  return true;
}

/* Picks one alternative of p[i..n) at random and generates it. */
static bool gen_alt(rgen *g) {
  size_t starts[64], ends[64], k = 0, d = 0, st = g->i;
  for (size_t j = g->i; j < g->n; j++) {
    char ch = g->p[j];
    if (ch == '\\') {
      j++;
      continue;
    }
    if (ch == '[') {
      while (j < g->n && g->p[j] != ']') j++;
      continue;
    }
    if (ch == '(') d++;
    if (ch == ')') d--;
    if (ch == '|' && d == 0 && k < 63) {
      starts[k] = st;
      ends[k++] = j;
      st = j + 1;
    }
  }
  starts[k] = st;
  ends[k++] = g->n;
  size_t pick = rnd((unsigned)k);
  rgen sub = {g->p, starts[pick], ends[pick], g->out, g->depth};
  return gen_seq(&sub, ends[pick]);
}

static JP_KFN(k_random) {
  IDP_UNUSED(n);
  if (SL(0) == 0) return jp_kerr(c, "random", "no pattern provided");
  idp_buf b;
  idp_buf_init(&b, 1 << 20);
  rgen g = {S(0), 0, SL(0), &b, 0};
  if (!gen_alt(&g)) {
    idp_buf_free(&b);
    return jp_kerr(c, "random", "unsupported pattern \"%.100s\"", S(0));
  }
  return ret_buf(c, &b, out);
}

/* ---- images, URLs ---- */

static JP_KFN(k_image_normalize) {
  IDP_UNUSED(n);
  const char *s = S(0);
  size_t sl = SL(0);
  if (sl == 0 || strpbrk(s, " \t\n"))
    return jp_kerr(c, "image_normalize", "invalid image reference \"%.100s\"", s);
  const char *slash = memchr(s, '/', sl);
  bool has_reg = false;
  if (slash) {
    size_t fl = (size_t)(slash - s);
    has_reg = memchr(s, '.', fl) || memchr(s, ':', fl) || (fl == 9 && memcmp(s, "localhost", 9) == 0);
  }
  const char *at = memchr(s, '@', sl);
  size_t name_end = at ? (size_t)(at - s) : sl;
  /* A tag is a ':' after the last '/'. */
  const char *last_slash = NULL;
  for (size_t i = 0; i < name_end; i++)
    if (s[i] == '/') last_slash = s + i;
  const char *colon = memchr(last_slash ? last_slash : s, ':', name_end - (size_t)((last_slash ? last_slash : s) - s));
  idp_buf b;
  idp_buf_init(&b, 4096);
  idp_code rc = IDP_OK;
  if (!has_reg) rc = idp_buf_adds(&b, "docker.io/");
  if (at) {
    size_t repo_end = colon ? (size_t)(colon - s) : name_end;
    rc = rc ? rc : idp_buf_add(&b, s, repo_end);
    rc = rc ? rc : idp_buf_add(&b, at, sl - (size_t)(at - s));
  } else {
    rc = rc ? rc : idp_buf_add(&b, s, sl);
    if (!colon) rc = rc ? rc : idp_buf_adds(&b, ":latest");
  }
  if (rc) {
    idp_buf_free(&b);
    return OOM(c);
  }
  return ret_buf(c, &b, out);
}

static JP_KFN(k_is_external_url) {
  IDP_UNUSED(n);
  IDP_UNUSED(c);
  const char *s = S(0);
  const char *p = strstr(s, "://");
  bool ext = false;
  if (p) {
    p += 3;
    const char *at = strchr(p, '@');
    const char *end = p + strcspn(p, "/?#");
    if (at && at < end) p = at + 1;
    char host[256];
    size_t hl;
    if (*p == '[') {
      const char *rb = strchr(p, ']');
      hl = rb ? (size_t)(rb - p - 1) : 0;
      p++;
    } else {
      hl = strcspn(p, ":/?#");
    }
    if (hl > 0 && hl < sizeof host) {
      memcpy(host, p, hl);
      host[hl] = '\0';
      for (size_t i = 0; i < hl; i++) host[i] = (char)fold((unsigned char)host[i]);
      unsigned o[4];
      char tail;
      if (sscanf(host, "%u.%u.%u.%u%c", &o[0], &o[1], &o[2], &o[3], &tail) == 4) {
        bool priv = o[0] == 10 || o[0] == 127 || o[0] == 0 || (o[0] == 169 && o[1] == 254) ||
                    (o[0] == 172 && o[1] >= 16 && o[1] < 32) || (o[0] == 192 && o[1] == 168) ||
                    (o[0] == 100 && o[1] >= 64 && o[1] < 128);
        ext = !priv;
      } else if (strchr(host, ':')) {
        ext = !(strcmp(host, "::1") == 0 || strncmp(host, "fe80", 4) == 0 ||
                strncmp(host, "fc", 2) == 0 || strncmp(host, "fd", 2) == 0 || strcmp(host, "::") == 0);
      } else {
        size_t l = strlen(host);
#define ENDS(x) (l >= strlen(x) && strcmp(host + l - strlen(x), x) == 0)
        ext = strchr(host, '.') && strcmp(host, "localhost") != 0 && !ENDS(".localhost") &&
              !ENDS(".local") && !ENDS(".svc") && !ENDS(".cluster.local") && !ENDS(".internal");
#undef ENDS
      }
    }
  }
  *out = json_boolean(ext);
  return IDP_OK;
}

/* ---- the table ---- */

#define STR JT_STRING
#define NUM JT_NUMBER
#define OBJ JT_OBJECT
#define ARR JT_ARRAY
#define ANY JT_ANY
const jp_func jp_kyverno_functions[] = {
    {"compare", 2, 2, {STR, STR}, k_compare},
    {"equal_fold", 2, 2, {STR, STR}, k_equal_fold},
    {"replace", 4, 4, {STR, STR, STR, NUM}, k_replace},
    {"replace_all", 3, 3, {STR, STR, STR}, k_replace_all},
    {"to_upper", 1, 1, {STR}, k_to_upper},
    {"to_lower", 1, 1, {STR}, k_to_lower},
    {"trim", 2, 2, {STR, STR}, k_trim},
    {"trim_prefix", 2, 2, {STR, STR}, k_trim_prefix},
    {"trim_suffix", 2, 2, {STR, STR}, k_trim_suffix},
    {"split", 2, 2, {STR, STR}, k_split},
    {"regex_replace_all", 3, 3, {STR, STR | NUM, STR | NUM}, k_regex_replace_all},
    {"regex_replace_all_literal", 3, 3, {STR, STR | NUM, STR | NUM}, k_regex_replace_all_literal},
    {"regex_match", 2, 2, {STR, STR | NUM}, k_regex_match},
    {"pattern_match", 2, 2, {STR, STR | NUM}, k_pattern_match},
    {"label_match", 2, 2, {OBJ, OBJ}, k_label_match},
    {"to_boolean", 1, 1, {STR}, k_to_boolean},
    {"add", 2, 2, {ANY, ANY}, jp_k_add},
    {"sum", 1, 1, {ARR}, jp_k_sum},
    {"subtract", 2, 2, {ANY, ANY}, jp_k_subtract},
    {"multiply", 2, 2, {ANY, ANY}, jp_k_multiply},
    {"divide", 2, 2, {ANY, ANY}, jp_k_divide},
    {"modulo", 2, 2, {ANY, ANY}, jp_k_modulo},
    {"round", 2, 2, {NUM, NUM}, jp_k_round},
    {"base64_decode", 1, 1, {STR}, k_base64_decode},
    {"base64_encode", 1, 1, {STR}, k_base64_encode},
    {"time_since", 3, 3, {STR, STR, STR}, jp_k_time_since},
    {"time_now", 0, 0, {0}, jp_k_time_now},
    {"time_now_utc", 0, 0, {0}, jp_k_time_now_utc},
    {"path_canonicalize", 1, 1, {STR}, k_path_canonicalize},
    {"truncate", 2, 2, {STR, NUM}, k_truncate},
    {"semver_compare", 2, 2, {STR, STR}, k_semver_compare},
    {"parse_json", 1, 1, {STR}, k_parse_json},
    {"parse_yaml", 1, 1, {STR}, k_parse_yaml},
    {"lookup", 2, 2, {OBJ | ARR, STR | NUM}, k_lookup},
    {"items", 3, 3, {OBJ | ARR, STR, STR}, k_items},
    {"object_from_lists", 2, 2, {ARR, ARR}, k_object_from_lists},
    {"random", 1, 1, {STR}, k_random},
    {"x509_decode", 1, 1, {STR}, jp_k_x509_decode},
    {"time_to_cron", 1, 1, {STR}, jp_k_time_to_cron},
    {"time_add", 2, 2, {STR, STR}, jp_k_time_add},
    {"time_parse", 2, 2, {STR, STR}, jp_k_time_parse},
    {"time_utc", 1, 1, {STR}, jp_k_time_utc},
    {"time_diff", 2, 2, {STR, STR}, jp_k_time_diff},
    {"time_before", 2, 2, {STR, STR}, jp_k_time_before},
    {"time_after", 2, 2, {STR, STR}, jp_k_time_after},
    {"time_between", 3, 3, {STR, STR, STR}, jp_k_time_between},
    {"time_truncate", 2, 2, {STR, STR}, jp_k_time_truncate},
    {"image_normalize", 1, 1, {STR}, k_image_normalize},
    {"is_external_url", 1, 1, {STR}, k_is_external_url},
    {"sha256", 1, 1, {STR}, k_sha256},
    {"sha1", 1, 1, {STR}, k_sha1},
    {"md5", 1, 1, {STR}, k_md5},
    {NULL, 0, 0, {0}, NULL},
};
