#include "core/common.h"

#include <time.h>

#include "certs/controller/spec.h"
#include "core/json.h"

/* ---- Go durations ------------------------------------------------------ */

static const struct {
  const char *unit;
  int64_t ns;
} duration_units[] = {
    /* longest first so "ms" wins over "m" */
    {"ns", 1},
    {"us", 1000},
    {"\xC2\xB5s", 1000}, /* U+00B5 micro sign */
    {"\xCE\xBCs", 1000}, /* U+03BC greek mu */
    {"ms", 1000000},
    {"s", IDP_CM_NS_PER_S},
    {"m", 60 * IDP_CM_NS_PER_S},
    {"h", 3600 * IDP_CM_NS_PER_S},
};

idp_code idp_cm_duration_parse(const char *s, int64_t *ns, idp_err *e) {
  *ns = 0;
  if (!s) return idp_err_set(e, IDP_EINVAL, "invalid duration: empty");
  const char *p = s;
  bool neg = false;
  if (*p == '-' || *p == '+') neg = *p++ == '-';
  if (strcmp(p, "0") == 0) return IDP_OK;
  if (!*p) return idp_err_set(e, IDP_EINVAL, "invalid duration \"%s\"", s);
  /* Go caps at 1<<63 - 1 ns; accumulate in unsigned to detect overflow. */
  uint64_t total = 0;
  while (*p) {
    if (!(*p >= '0' && *p <= '9') && *p != '.')
      return idp_err_set(e, IDP_EINVAL, "invalid duration \"%s\"", s);
    uint64_t whole = 0;
    bool digits = false, overflow = false;
    while (*p >= '0' && *p <= '9') {
      if (whole > (UINT64_MAX - 9) / 10) overflow = true;
      whole = whole * 10 + (uint64_t)(*p++ - '0');
      digits = true;
    }
    uint64_t frac = 0, scale = 1;
    if (*p == '.') {
      p++;
      while (*p >= '0' && *p <= '9') {
        if (scale < UINT64_C(1000000000000000000)) {
          frac = frac * 10 + (uint64_t)(*p - '0');
          scale *= 10;
        }
        p++;
        digits = true;
      }
    }
    if (!digits || overflow) return idp_err_set(e, IDP_EINVAL, "invalid duration \"%s\"", s);
    size_t best = 0;
    int64_t unit = 0;
    for (size_t i = 0; i < IDP_ARRAY_LEN(duration_units); i++) {
      size_t l = strlen(duration_units[i].unit);
      if (l > best && strncmp(p, duration_units[i].unit, l) == 0) {
        best = l;
        unit = duration_units[i].ns;
      }
    }
    if (!best) {
      if (!*p) return idp_err_set(e, IDP_EINVAL, "missing unit in duration \"%s\"", s);
      return idp_err_set(e, IDP_EINVAL, "unknown unit in duration \"%s\"", s);
    }
    p += best;
    if (whole > (uint64_t)INT64_MAX / (uint64_t)unit)
      return idp_err_set(e, IDP_EINVAL, "invalid duration \"%s\": out of range", s);
    uint64_t v = whole * (uint64_t)unit;
    /* fraction: frac/scale of a unit, computed without overflow */
    v += (uint64_t)((long double)frac * (long double)unit / (long double)scale);
    if (v > (uint64_t)INT64_MAX - total)
      return idp_err_set(e, IDP_EINVAL, "invalid duration \"%s\": out of range", s);
    total += v;
  }
  *ns = neg ? -(int64_t)total : (int64_t)total;
  return IDP_OK;
}

/* Appends v/10^prec with trailing zeros of the fraction dropped. */
static int fmt_frac(char *buf, size_t n, uint64_t v, int prec) {
  uint64_t pow = 1;
  for (int i = 0; i < prec; i++) pow *= 10;
  uint64_t w = v / pow, f = v % pow;
  if (!f) return snprintf(buf, n, "%" PRIu64, w);
  char fs[32];
  snprintf(fs, sizeof fs, "%0*" PRIu64, prec, f);
  size_t l = strlen(fs);
  while (l > 0 && fs[l - 1] == '0') fs[--l] = '\0';
  return snprintf(buf, n, "%" PRIu64 ".%s", w, fs);
}

void idp_cm_duration_format(int64_t ns, char *buf, size_t n) {
  if (!n) return;
  if (ns == 0) {
    snprintf(buf, n, "0s");
    return;
  }
  uint64_t u = ns < 0 ? (uint64_t)(-(ns + 1)) + 1 : (uint64_t)ns;
  size_t off = 0;
  if (ns < 0) off = (size_t)snprintf(buf, n, "-");
  if (off >= n) return;
  char *b = buf + off;
  size_t bn = n - off;
  if (u < (uint64_t)IDP_CM_NS_PER_S) {
    if (u < 1000) {
      snprintf(b, bn, "%" PRIu64 "ns", u);
    } else if (u < 1000000) {
      int l = fmt_frac(b, bn, u, 3);
      if (l >= 0 && (size_t)l < bn) snprintf(b + l, bn - (size_t)l, "\xC2\xB5s");
    } else {
      int l = fmt_frac(b, bn, u, 6);
      if (l >= 0 && (size_t)l < bn) snprintf(b + l, bn - (size_t)l, "ms");
    }
    return;
  }
  uint64_t h = u / (3600 * (uint64_t)IDP_CM_NS_PER_S);
  u -= h * 3600 * (uint64_t)IDP_CM_NS_PER_S;
  uint64_t m = u / (60 * (uint64_t)IDP_CM_NS_PER_S);
  u -= m * 60 * (uint64_t)IDP_CM_NS_PER_S;
  int l = 0;
  if (h) l = snprintf(b, bn, "%" PRIu64 "h%" PRIu64 "m", h, m);
  else if (m) l = snprintf(b, bn, "%" PRIu64 "m", m);
  if (l < 0 || (size_t)l >= bn) return;
  int k = fmt_frac(b + l, bn - (size_t)l, u, 9);
  if (k >= 0 && (size_t)(l + k) < bn) snprintf(b + l + k, bn - (size_t)(l + k), "s");
}

/* ---- RFC 3339 --------------------------------------------------------- */

void idp_cm_time_format(int64_t unix_s, char *buf, size_t n) {
  time_t t = (time_t)unix_s;
  struct tm tm;
  if (!gmtime_r(&t, &tm) || !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
    if (n) buf[0] = '\0';
  }
}

static bool digits(const char **p, int count, int *out) {
  int v = 0;
  for (int i = 0; i < count; i++) {
    char c = (*p)[i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *p += count;
  *out = v;
  return true;
}

idp_code idp_cm_time_parse(const char *s, int64_t *unix_s, idp_err *e) {
  *unix_s = 0;
  const char *p = s ? s : "";
  int Y, M, D, h, m, sec;
  struct tm tm = {0};
  if (!digits(&p, 4, &Y) || *p++ != '-' || !digits(&p, 2, &M) || *p++ != '-' ||
      !digits(&p, 2, &D) || (*p != 'T' && *p != 't' && *p != ' ') || !(p++, digits(&p, 2, &h)) ||
      *p++ != ':' || !digits(&p, 2, &m) || *p++ != ':' || !digits(&p, 2, &sec))
    return idp_err_set(e, IDP_EINVAL, "invalid RFC 3339 time \"%s\"", s ? s : "");
  if (*p == '.') {
    p++;
    if (*p < '0' || *p > '9') return idp_err_set(e, IDP_EINVAL, "invalid RFC 3339 time \"%s\"", s);
    while (*p >= '0' && *p <= '9') p++;
  }
  int64_t off = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int sign = *p++ == '-' ? -1 : 1, oh, om;
    if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om))
      return idp_err_set(e, IDP_EINVAL, "invalid RFC 3339 time \"%s\"", s);
    off = sign * (oh * 3600 + om * 60);
  } else {
    return idp_err_set(e, IDP_EINVAL, "invalid RFC 3339 time \"%s\": no zone", s);
  }
  if (*p || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
    return idp_err_set(e, IDP_EINVAL, "invalid RFC 3339 time \"%s\"", s);
  tm.tm_year = Y - 1900;
  tm.tm_mon = M - 1;
  tm.tm_mday = D;
  tm.tm_hour = h;
  tm.tm_min = m;
  tm.tm_sec = sec;
  *unix_s = (int64_t)timegm(&tm) - off;
  return IDP_OK;
}

/* ---- Renewal ------------------------------------------------------------ */

int64_t idp_cm_renew_before(int64_t lifetime_ns, int64_t renew_before_ns, int pct) {
  if (renew_before_ns > 0 && renew_before_ns < lifetime_ns) return renew_before_ns;
  if (pct > 0 && pct < 100) return lifetime_ns / 100 * pct + lifetime_ns % 100 * pct / 100;
  return lifetime_ns / 3;
}

int64_t idp_cm_renewal_time(int64_t not_before, int64_t not_after, int64_t renew_before_ns,
                            int pct) {
  int64_t life = (not_after - not_before) * IDP_CM_NS_PER_S;
  int64_t rb = idp_cm_renew_before(life, renew_before_ns, pct);
  /* notAfter - rb, truncated down to the second (toward the past) */
  int64_t t_ns = not_after * IDP_CM_NS_PER_S - rb;
  int64_t t = t_ns / IDP_CM_NS_PER_S;
  if (t_ns % IDP_CM_NS_PER_S < 0) t--;
  return t;
}

/* ---- Usages -------------------------------------------------------------- */

/* cert-manager's KeyUsage strings (pkg/apis/certmanager/v1/types.go) and
 * what apiutil.KeyUsageType / ExtKeyUsageType map them to. */
static const struct {
  const char *name;
  unsigned ku, eku;
} usage_table[] = {
    {"signing", IDP_CM_KU_DIGITAL_SIGNATURE, 0},
    {"digital signature", IDP_CM_KU_DIGITAL_SIGNATURE, 0},
    {"content commitment", IDP_CM_KU_CONTENT_COMMITMENT, 0},
    {"key encipherment", IDP_CM_KU_KEY_ENCIPHERMENT, 0},
    {"key agreement", IDP_CM_KU_KEY_AGREEMENT, 0},
    {"data encipherment", IDP_CM_KU_DATA_ENCIPHERMENT, 0},
    {"cert sign", IDP_CM_KU_CERT_SIGN, 0},
    {"crl sign", IDP_CM_KU_CRL_SIGN, 0},
    {"encipher only", IDP_CM_KU_ENCIPHER_ONLY, 0},
    {"decipher only", IDP_CM_KU_DECIPHER_ONLY, 0},
    {"any", 0, IDP_CM_EKU_ANY},
    {"server auth", 0, IDP_CM_EKU_SERVER_AUTH},
    {"client auth", 0, IDP_CM_EKU_CLIENT_AUTH},
    {"code signing", 0, IDP_CM_EKU_CODE_SIGNING},
    {"email protection", 0, IDP_CM_EKU_EMAIL_PROTECTION},
    {"s/mime", 0, IDP_CM_EKU_EMAIL_PROTECTION},
    {"ipsec end system", 0, IDP_CM_EKU_IPSEC_END_SYSTEM},
    {"ipsec tunnel", 0, IDP_CM_EKU_IPSEC_TUNNEL},
    {"ipsec user", 0, IDP_CM_EKU_IPSEC_USER},
    {"timestamping", 0, IDP_CM_EKU_TIMESTAMPING},
    {"ocsp signing", 0, IDP_CM_EKU_OCSP_SIGNING},
    {"microsoft sgc", 0, IDP_CM_EKU_MICROSOFT_SGC},
    {"netscape sgc", 0, IDP_CM_EKU_NETSCAPE_SGC},
};

bool idp_cm_usage_lookup(const char *name, idp_cm_usages *out) {
  for (size_t i = 0; i < IDP_ARRAY_LEN(usage_table); i++)
    if (strcmp(usage_table[i].name, name) == 0) {
      out->ku = usage_table[i].ku;
      out->eku = usage_table[i].eku;
      return true;
    }
  return false;
}

idp_code idp_cm_usages_build(const json_t *usages, bool is_ca, idp_cm_usages *out, idp_err *e) {
  out->ku = is_ca ? IDP_CM_KU_CERT_SIGN : 0;
  out->eku = 0;
  if (usages && !json_is_array(usages))
    return idp_err_set(e, IDP_EINVALID, "spec.usages: must be a list");
  if (json_array_size(usages) == 0) {
    out->ku |= IDP_CM_KU_DIGITAL_SIGNATURE | IDP_CM_KU_KEY_ENCIPHERMENT;
    return IDP_OK;
  }
  size_t i;
  const json_t *u;
  json_array_foreach(usages, i, u) {
    idp_cm_usages one;
    if (!json_is_string(u) || !idp_cm_usage_lookup(json_string_value(u), &one))
      return idp_err_set(e, IDP_EINVALID, "spec.usages[%zu]: unknown key usage \"%s\"", i,
                         json_is_string(u) ? json_string_value(u) : "(not a string)");
    out->ku |= one.ku;
    out->eku |= one.eku;
  }
  return IDP_OK;
}

/* ---- Certificate spec ---------------------------------------------------- */

/* Go's pkix.Name RDN order: C, ST, L, street, postalCode, O, OU, (CN), serial. */
const idp_cm_subject_field idp_cm_subject_fields[] = {
    {"countries", "C", "cert-manager.io/subject-countries"},
    {"provinces", "ST", "cert-manager.io/subject-provinces"},
    {"localities", "L", "cert-manager.io/subject-localities"},
    {"streetAddresses", "street", "cert-manager.io/subject-streetaddresses"},
    {"postalCodes", "postalCode", "cert-manager.io/subject-postalcodes"},
    {"organizations", "O", "cert-manager.io/subject-organizations"},
    {"organizationalUnits", "OU", "cert-manager.io/subject-organizationalunits"},
    {"serialNumber", "serialNumber", "cert-manager.io/subject-serialnumber"},
};
const size_t idp_cm_subject_fields_len = IDP_ARRAY_LEN(idp_cm_subject_fields);

size_t idp_cm_strs_len(const json_t *arr) { return json_is_array(arr) ? json_array_size(arr) : 0; }

static bool strs_contains(const json_t *arr, const char *s) {
  size_t i;
  const json_t *v;
  json_array_foreach(arr, i, v) if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
      return true;
  return false;
}

bool idp_cm_strs_same_set(const json_t *a, const json_t *b) {
  size_t i;
  const json_t *v;
  if (json_is_array(a))
    json_array_foreach(a, i, v) if (!json_is_array(b) || !strs_contains(b, json_string_value(v)))
        return false;
  if (json_is_array(b))
    json_array_foreach(b, i, v) if (!json_is_array(a) || !strs_contains(a, json_string_value(v)))
        return false;
  return true;
}

static idp_code str_list(const json_t *spec, const char *field, const char *prefix,
                         const json_t **out, idp_err *e) {
  const json_t *v = json_object_get(spec, field);
  *out = NULL;
  if (!v || json_is_null(v)) return IDP_OK;
  if (!json_is_array(v)) return idp_err_set(e, IDP_EINVALID, "%s%s: must be a list of strings", prefix, field);
  size_t i;
  const json_t *s;
  json_array_foreach(v, i, s) {
    if (!json_is_string(s) || !*json_string_value(s))
      return idp_err_set(e, IDP_EINVALID, "%s%s[%zu]: must be a non-empty string", prefix, field, i);
  }
  *out = v;
  return IDP_OK;
}

static idp_code opt_str(const json_t *o, const char *field, const char *path, const char **out,
                        idp_err *e) {
  const json_t *v = json_object_get(o, field);
  *out = NULL;
  if (!v || json_is_null(v)) return IDP_OK;
  if (!json_is_string(v)) return idp_err_set(e, IDP_EINVALID, "%s: must be a string", path);
  if (*json_string_value(v)) *out = json_string_value(v);
  return IDP_OK;
}

static idp_code opt_duration(const json_t *spec, const char *field, int64_t *out, idp_err *e) {
  const char *s;
  idp_code c = opt_str(spec, field, field, &s, e);
  *out = 0;
  if (c || !s) return c;
  c = idp_cm_duration_parse(s, out, e);
  if (c) idp_err_prefix(e, "spec.%s", field);
  return c ? IDP_EINVALID : IDP_OK;
}

static idp_code parse_key(const json_t *pk, idp_cm_cert_spec *o, idp_err *e) {
  o->key_alg = IDP_CM_KEY_RSA;
  o->key_size = 0;
  o->key_enc = IDP_CM_ENC_PKCS1;
  o->rotate_always = true;
  if (pk && !json_is_object(pk) && !json_is_null(pk))
    return idp_err_set(e, IDP_EINVALID, "spec.privateKey: must be an object");
  const char *alg = NULL, *enc = NULL, *rot = NULL;
  idp_code c;
  if ((c = opt_str(pk, "algorithm", "spec.privateKey.algorithm", &alg, e)) ||
      (c = opt_str(pk, "encoding", "spec.privateKey.encoding", &enc, e)) ||
      (c = opt_str(pk, "rotationPolicy", "spec.privateKey.rotationPolicy", &rot, e)))
    return c;
  if (alg) {
    if (strcmp(alg, "RSA") == 0) o->key_alg = IDP_CM_KEY_RSA;
    else if (strcmp(alg, "ECDSA") == 0) o->key_alg = IDP_CM_KEY_ECDSA;
    else if (strcmp(alg, "Ed25519") == 0) o->key_alg = IDP_CM_KEY_ED25519;
    else
      return idp_err_set(e, IDP_EINVALID,
                         "spec.privateKey.algorithm: unsupported value \"%s\" (RSA, ECDSA, Ed25519)", alg);
  }
  if (enc) {
    if (strcmp(enc, "PKCS1") == 0) o->key_enc = IDP_CM_ENC_PKCS1;
    else if (strcmp(enc, "PKCS8") == 0) o->key_enc = IDP_CM_ENC_PKCS8;
    else
      return idp_err_set(e, IDP_EINVALID,
                         "spec.privateKey.encoding: unsupported value \"%s\" (PKCS1, PKCS8)", enc);
  }
  if (rot) {
    if (strcmp(rot, "Always") == 0) o->rotate_always = true;
    else if (strcmp(rot, "Never") == 0) o->rotate_always = false;
    else
      return idp_err_set(e, IDP_EINVALID,
                         "spec.privateKey.rotationPolicy: unsupported value \"%s\" (Always, Never)", rot);
  }
  const json_t *sz = json_object_get(pk, "size");
  if (sz && !json_is_null(sz)) {
    if (!json_is_integer(sz) || json_integer_value(sz) < 0 || json_integer_value(sz) > 65536)
      return idp_err_set(e, IDP_EINVALID, "spec.privateKey.size: must be a non-negative integer");
    o->key_size = (int)json_integer_value(sz);
  }
  switch (o->key_alg) {
  case IDP_CM_KEY_RSA:
    if (!o->key_size) o->key_size = 2048;
    if (o->key_size < 2048 || o->key_size > 8192)
      return idp_err_set(e, IDP_EINVALID,
                         "spec.privateKey.size: RSA key size must be between 2048 and 8192, got %d",
                         o->key_size);
    break;
  case IDP_CM_KEY_ECDSA:
    if (!o->key_size) o->key_size = 256;
    if (o->key_size != 256 && o->key_size != 384 && o->key_size != 521)
      return idp_err_set(e, IDP_EINVALID,
                         "spec.privateKey.size: ECDSA key size must be 256, 384 or 521, got %d",
                         o->key_size);
    break;
  case IDP_CM_KEY_ED25519:
    o->key_size = 0; /* size is ignored for Ed25519 */
    break;
  }
  return IDP_OK;
}

idp_code idp_cm_cert_spec_parse(const json_t *cert, idp_cm_cert_spec *o, idp_err *e) {
  memset(o, 0, sizeof *o);
  o->name = idp_json_get_str(cert, "metadata", "name", NULL);
  o->ns = idp_json_get_str(cert, "metadata", "namespace", NULL);
  const json_t *spec = json_object_get(cert, "spec");
  if (!json_is_object(spec)) return idp_err_set(e, IDP_EINVALID, "spec: required");
  idp_code c;
  if ((c = opt_str(spec, "secretName", "spec.secretName", &o->secret_name, e))) return c;
  if (!o->secret_name) return idp_err_set(e, IDP_EINVALID, "spec.secretName: required");
  if ((c = opt_str(spec, "commonName", "spec.commonName", &o->common_name, e))) return c;
  if (o->common_name && strlen(o->common_name) > 64)
    return idp_err_set(e, IDP_EINVALID, "spec.commonName: must be no more than 64 characters");
  if ((c = str_list(spec, "dnsNames", "spec.", &o->dns_names, e)) ||
      (c = str_list(spec, "ipAddresses", "spec.", &o->ip_addresses, e)) ||
      (c = str_list(spec, "uris", "spec.", &o->uris, e)) ||
      (c = str_list(spec, "emailAddresses", "spec.", &o->emails, e)))
    return c;
  const json_t *lit = json_object_get(spec, "literalSubject");
  if (json_is_string(lit) && *json_string_value(lit))
    return idp_err_set(e, IDP_EINVALID, "spec.literalSubject: not supported by idp (use spec.subject)");
  const json_t *subj = json_object_get(spec, "subject");
  if (subj && !json_is_null(subj)) {
    if (!json_is_object(subj)) return idp_err_set(e, IDP_EINVALID, "spec.subject: must be an object");
    for (size_t i = 0; i < idp_cm_subject_fields_len; i++) {
      const json_t *dummy;
      const char *sv;
      if (strcmp(idp_cm_subject_fields[i].field, "serialNumber") == 0)
        c = opt_str(subj, "serialNumber", "spec.subject.serialNumber", &sv, e);
      else
        c = str_list(subj, idp_cm_subject_fields[i].field, "spec.subject.", &dummy, e);
      if (c) return c;
    }
    o->subject = subj;
  }
  if (!o->common_name && !idp_cm_strs_len(o->dns_names) && !idp_cm_strs_len(o->ip_addresses) &&
      !idp_cm_strs_len(o->uris) && !idp_cm_strs_len(o->emails))
    return idp_err_set(e, IDP_EINVALID,
                       "spec: at least one of commonName, dnsNames, uris, ipAddresses or "
                       "emailAddresses must be set");

  if ((c = opt_duration(spec, "duration", &o->duration_ns, e))) return c;
  if (!o->duration_ns) o->duration_ns = IDP_CM_DEFAULT_DURATION;
  if (o->duration_ns < IDP_CM_MIN_DURATION)
    return idp_err_set(e, IDP_EINVALID, "spec.duration: certificate duration must be greater than 1h0m0s");
  if ((c = opt_duration(spec, "renewBefore", &o->renew_before_ns, e))) return c;
  const json_t *pct = json_object_get(spec, "renewBeforePercentage");
  if (pct && !json_is_null(pct)) {
    if (!json_is_integer(pct))
      return idp_err_set(e, IDP_EINVALID, "spec.renewBeforePercentage: must be an integer");
    if (o->renew_before_ns)
      return idp_err_set(e, IDP_EINVALID,
                         "spec.renewBefore: renewBefore and renewBeforePercentage are mutually exclusive");
    json_int_t p = json_integer_value(pct);
    if (p <= 0 || p >= 100)
      return idp_err_set(e, IDP_EINVALID, "spec.renewBeforePercentage: must be between 0 and 100 (exclusive)");
    o->renew_before_pct = (int)p;
  }
  if (o->renew_before_ns) {
    char a[64], b[64];
    if (o->renew_before_ns < IDP_CM_MIN_RENEW_BEFORE)
      return idp_err_set(e, IDP_EINVALID, "spec.renewBefore: certificate renewBefore must be greater than 5m0s");
    if (o->renew_before_ns >= o->duration_ns) {
      idp_cm_duration_format(o->duration_ns, a, sizeof a);
      idp_cm_duration_format(o->renew_before_ns, b, sizeof b);
      return idp_err_set(e, IDP_EINVALID,
                         "spec.renewBefore: certificate duration %s must be greater than renewBefore %s", a, b);
    }
  }
  const json_t *isca = json_object_get(spec, "isCA");
  if (isca && !json_is_null(isca) && !json_is_boolean(isca))
    return idp_err_set(e, IDP_EINVALID, "spec.isCA: must be a boolean");
  o->is_ca = json_is_true(isca);
  if ((c = parse_key(json_object_get(spec, "privateKey"), o, e))) return c;
  if ((c = idp_cm_usages_build(json_object_get(spec, "usages"), o->is_ca, &o->usages, e))) return c;

  const json_t *ir = json_object_get(spec, "issuerRef");
  if (!json_is_object(ir)) return idp_err_set(e, IDP_EINVALID, "spec.issuerRef: required");
  if ((c = opt_str(ir, "name", "spec.issuerRef.name", &o->issuer_name, e)) ||
      (c = opt_str(ir, "kind", "spec.issuerRef.kind", &o->issuer_kind, e)) ||
      (c = opt_str(ir, "group", "spec.issuerRef.group", &o->issuer_group, e)))
    return c;
  if (!o->issuer_name) return idp_err_set(e, IDP_EINVALID, "spec.issuerRef.name: required");
  if (!o->issuer_kind) o->issuer_kind = "Issuer";
  if (!o->issuer_group) o->issuer_group = IDP_CM_GROUP;

  const json_t *formats = json_object_get(spec, "additionalOutputFormats");
  if (formats && !json_is_null(formats) && !json_is_array(formats))
    return idp_err_set(e, IDP_EINVALID, "spec.additionalOutputFormats: must be a list");
  size_t fi;
  const json_t *f;
  json_array_foreach(formats, fi, f) {
    const char *t = json_string_value(json_object_get(f, "type"));
    if (t && strcmp(t, "CombinedPEM") == 0) o->out_combined_pem = true;
    else if (t && strcmp(t, "DER") == 0) o->out_der = true;
    else
      return idp_err_set(e, IDP_EINVALID,
                         "spec.additionalOutputFormats[%zu].type: unsupported value \"%s\" (CombinedPEM, DER)", fi,
                         t ? t : "");
  }
  const json_t *tmpl = json_object_get(spec, "secretTemplate");
  if (json_is_object(tmpl)) {
    o->tmpl_labels = json_is_object(json_object_get(tmpl, "labels")) ? json_object_get(tmpl, "labels") : NULL;
    o->tmpl_annotations =
        json_is_object(json_object_get(tmpl, "annotations")) ? json_object_get(tmpl, "annotations") : NULL;
    const char *k;
    const json_t *v;
    for (int pass = 0; pass < 2; pass++) {
      const json_t *m = pass ? o->tmpl_annotations : o->tmpl_labels;
      json_object_foreach((json_t *)m, k, v) {
        if (!json_is_string(v))
          return idp_err_set(e, IDP_EINVALID, "spec.secretTemplate.%s[%s]: must be a string",
                             pass ? "annotations" : "labels", k);
        if (pass && strncmp(k, "cert-manager.io/", 16) == 0)
          return idp_err_set(e, IDP_EINVALID,
                             "spec.secretTemplate.annotations[%s]: cert-manager.io/* annotations are "
                             "reserved", k);
      }
    }
  }
  return IDP_OK;
}

/* ---- Conditions ------------------------------------------------------------ */

json_t *idp_cm_condition_set(json_t *conds, const char *type, const char *status,
                             const char *reason, const char *message, int64_t observed_generation,
                             int64_t now) {
  if (!conds) conds = json_array();
  if (!conds) return NULL;
  char ts[40];
  idp_cm_time_format(now, ts, sizeof ts);
  json_t *c = json_object();
  json_object_set_new(c, "type", json_string(type));
  json_object_set_new(c, "status", json_string(status));
  json_object_set_new(c, "lastTransitionTime", json_string(ts));
  if (reason) json_object_set_new(c, "reason", json_string(reason));
  json_object_set_new(c, "message", json_string(message ? message : ""));
  if (observed_generation >= 0) json_object_set_new(c, "observedGeneration", json_integer(observed_generation));
  size_t i;
  json_t *old;
  json_array_foreach(conds, i, old) {
    const char *t = json_string_value(json_object_get(old, "type"));
    if (!t || strcmp(t, type) != 0) continue;
    const char *os = json_string_value(json_object_get(old, "status"));
    const json_t *olt = json_object_get(old, "lastTransitionTime");
    if (os && strcmp(os, status) == 0 && json_is_string(olt))
      json_object_set(c, "lastTransitionTime", (json_t *)olt);
    json_array_set_new(conds, i, c);
    return conds;
  }
  json_array_append_new(conds, c);
  return conds;
}

void idp_cm_condition_remove(json_t *conds, const char *type) {
  for (size_t i = 0; i < json_array_size(conds); i++) {
    const char *t = json_string_value(json_object_get(json_array_get(conds, i), "type"));
    if (t && strcmp(t, type) == 0) {
      json_array_remove(conds, i);
      i--;
    }
  }
}

const json_t *idp_cm_condition_get(const json_t *obj, const char *type) {
  const json_t *conds = idp_json_get(obj, "status", "conditions", NULL);
  size_t i;
  const json_t *c;
  json_array_foreach(conds, i, c) {
    const char *t = json_string_value(json_object_get(c, "type"));
    if (t && strcmp(t, type) == 0) return c;
  }
  return NULL;
}

bool idp_cm_is_ready(const json_t *obj) {
  const json_t *c = idp_cm_condition_get(obj, "Ready");
  if (!c) return false;
  const char *s = json_string_value(json_object_get(c, "status"));
  if (!s || strcmp(s, "True") != 0) return false;
  const json_t *og = json_object_get(c, "observedGeneration");
  const json_t *g = idp_json_get(obj, "metadata", "generation", NULL);
  if (json_is_integer(og) && json_is_integer(g) && json_integer_value(og) != json_integer_value(g))
    return false;
  return true;
}
