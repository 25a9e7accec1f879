#include "core/common.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs/pki.h"
#include "core/buf.h"

/* The newest OpenSSL error text, for messages (never contains key material). */
static const char *ossl_reason(char *buf, size_t n) {
  unsigned long code = ERR_get_error();
  if (!code) {
    snprintf(buf, n, "unknown OpenSSL error");
  } else {
    ERR_error_string_n(code, buf, n);
  }
  ERR_clear_error();
  return buf;
}

static idp_code ossl_fail(idp_err *e, idp_code code, const char *what) {
  char r[256];
  return idp_err_set(e, code, "%s: %s", what, ossl_reason(r, sizeof r));
}

static char *bio_to_string(BIO *b) {
  char *p = NULL;
  long n = BIO_get_mem_data(b, &p);
  if (n < 0) return NULL;
  char *s = malloc((size_t)n + 1);
  if (!s) return NULL;
  memcpy(s, p, (size_t)n);
  s[n] = '\0';
  return s;
}

static char *pkey_to_pem(EVP_PKEY *k) {
  BIO *b = BIO_new(BIO_s_mem());
  if (!b) return NULL;
  char *s = NULL;
  if (PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)) s = bio_to_string(b);
  BIO_free(b);
  return s;
}

static char *cert_to_pem(X509 *x) {
  BIO *b = BIO_new(BIO_s_mem());
  if (!b) return NULL;
  char *s = NULL;
  if (PEM_write_bio_X509(b, x)) s = bio_to_string(b);
  BIO_free(b);
  return s;
}

static EVP_PKEY *keygen(idp_pki_alg alg, int bits) {
  switch (alg) {
  case IDP_PKI_ECDSA_P256: return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  case IDP_PKI_ECDSA_P384: return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
  case IDP_PKI_RSA: return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)(bits > 0 ? bits : 2048));
  case IDP_PKI_ED25519: return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
  }
  return NULL;
}

idp_code idp_pki_key_new(idp_pki_alg alg, int bits, char **key_pem, idp_err *e) {
  *key_pem = NULL;
  if (alg == IDP_PKI_RSA && bits != 0 && (bits < 2048 || bits > 8192))
    return idp_err_set(e, IDP_EINVALID, "RSA key size %d out of range 2048..8192", bits);
  EVP_PKEY *k = keygen(alg, bits);
  if (!k) return ossl_fail(e, IDP_EINTERNAL, "generating a private key");
  *key_pem = pkey_to_pem(k);
  EVP_PKEY_free(k);
  if (!*key_pem) return idp_err_set(e, IDP_ENOMEM, "encoding a private key");
  return IDP_OK;
}

static EVP_PKEY *load_private(const char *pem) {
  BIO *b = BIO_new_mem_buf(pem, -1);
  if (!b) return NULL;
  EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
  BIO_free(b);
  return k;
}

/* A private key PEM, else a public key PEM. */
static EVP_PKEY *load_any_key(const char *pem) {
  EVP_PKEY *k = load_private(pem);
  if (k) return k;
  ERR_clear_error();
  BIO *b = BIO_new_mem_buf(pem, -1);
  if (!b) return NULL;
  k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
  BIO_free(b);
  return k;
}

static X509 *load_cert(const char *pem) {
  BIO *b = BIO_new_mem_buf(pem, -1);
  if (!b) return NULL;
  X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
  BIO_free(b);
  return x;
}

static X509_REQ *load_csr(const char *pem) {
  BIO *b = BIO_new_mem_buf(pem, -1);
  if (!b) return NULL;
  X509_REQ *r = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
  BIO_free(b);
  return r;
}

static bool is_ip_literal(const char *s) {
  ASN1_OCTET_STRING *ip = a2i_IPADDRESS(s);
  if (!ip) {
    ERR_clear_error();
    return false;
  }
  ASN1_OCTET_STRING_free(ip);
  return true;
}

static idp_code add_gen(GENERAL_NAMES *gens, int type, const char *value, idp_err *e) {
  GENERAL_NAME *g = GENERAL_NAME_new();
  if (!g) return idp_err_set(e, IDP_ENOMEM, "allocating a subject alternative name");
  if (type == GEN_IPADD) {
    ASN1_OCTET_STRING *ip = a2i_IPADDRESS(value);
    if (!ip) {
      GENERAL_NAME_free(g);
      ERR_clear_error();
      return idp_err_set(e, IDP_EINVALID, "ipAddresses: \"%s\" is not an IP address", value);
    }
    GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
  } else {
    ASN1_IA5STRING *s = ASN1_IA5STRING_new();
    if (!s || !ASN1_STRING_set(s, value, -1)) {
      ASN1_IA5STRING_free(s);
      GENERAL_NAME_free(g);
      return idp_err_set(e, IDP_ENOMEM, "allocating a subject alternative name");
    }
    GENERAL_NAME_set0_value(g, type, s);
  }
  if (!sk_GENERAL_NAME_push(gens, g)) {
    GENERAL_NAME_free(g);
    return idp_err_set(e, IDP_ENOMEM, "allocating a subject alternative name");
  }
  return IDP_OK;
}

static idp_code add_ext(X509 *x, X509 *issuer, int nid, const char *value, idp_err *e) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  if (!ext) return ossl_fail(e, IDP_EINTERNAL, "building a certificate extension");
  int ok = X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  if (!ok) return ossl_fail(e, IDP_EINTERNAL, "adding a certificate extension");
  return IDP_OK;
}

static idp_code set_subject(X509 *x, const idp_pki_spec *spec, idp_err *e) {
  X509_NAME *n = X509_get_subject_name(x);
  if (spec->organizations)
    for (const char *const *o = spec->organizations; *o; o++)
      if (!X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)*o, -1, -1,
                                      0))
        return ossl_fail(e, IDP_EINVALID, "subject organization");
  if (spec->common_name && *spec->common_name) {
    if (strlen(spec->common_name) > 64)
      return idp_err_set(e, IDP_EINVALID, "commonName is longer than 64 bytes");
    if (!X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
                                    (const unsigned char *)spec->common_name, -1, -1, 0))
      return ossl_fail(e, IDP_EINVALID, "subject common name");
  }
  return IDP_OK;
}

static idp_code set_sans(X509 *x, const idp_pki_spec *spec, idp_err *e) {
  GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
  if (!gens) return idp_err_set(e, IDP_ENOMEM, "allocating subject alternative names");
  idp_code c = IDP_OK;
  static const struct {
    size_t off;
    int type;
  } lists[] = {
      {offsetof(idp_pki_spec, dns_names), GEN_DNS},
      {offsetof(idp_pki_spec, ip_addresses), GEN_IPADD},
      {offsetof(idp_pki_spec, uris), GEN_URI},
      {offsetof(idp_pki_spec, emails), GEN_EMAIL},
  };
  for (size_t i = 0; i < IDP_ARRAY_LEN(lists) && c == IDP_OK; i++) {
    const char *const *l = *(const char *const *const *)((const char *)spec + lists[i].off);
    for (; l && *l && c == IDP_OK; l++) c = add_gen(gens, lists[i].type, *l, e);
  }
  if (c == IDP_OK && sk_GENERAL_NAME_num(gens) > 0 &&
      !X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT))
    c = ossl_fail(e, IDP_EINTERNAL, "adding subject alternative names");
  GENERAL_NAMES_free(gens);
  return c;
}

static idp_code set_usages(X509 *x, X509 *issuer, const idp_pki_spec *spec, idp_err *e) {
  unsigned u = spec->usages;
  if (!u)
    u = spec->is_ca ? (IDP_PKI_USE_DIGITAL_SIGNATURE | IDP_PKI_USE_CERT_SIGN | IDP_PKI_USE_CRL_SIGN)
                    : (IDP_PKI_USE_DIGITAL_SIGNATURE | IDP_PKI_USE_KEY_ENCIPHERMENT |
                       IDP_PKI_USE_SERVER_AUTH);
  char v[160];
  if (spec->is_ca) {
    if (spec->path_len >= 0)
      snprintf(v, sizeof v, "critical,CA:TRUE,pathlen:%d", spec->path_len);
    else
      snprintf(v, sizeof v, "critical,CA:TRUE");
  } else {
    snprintf(v, sizeof v, "critical,CA:FALSE");
  }
  idp_code c = add_ext(x, issuer, NID_basic_constraints, v, e);
  if (c) return c;
  static const struct {
    unsigned bit;
    const char *name;
    bool extended;
  } names[] = {
      {IDP_PKI_USE_DIGITAL_SIGNATURE, "digitalSignature", false},
      {IDP_PKI_USE_KEY_ENCIPHERMENT, "keyEncipherment", false},
      {IDP_PKI_USE_CERT_SIGN, "keyCertSign", false},
      {IDP_PKI_USE_CRL_SIGN, "cRLSign", false},
      {IDP_PKI_USE_SERVER_AUTH, "serverAuth", true},
      {IDP_PKI_USE_CLIENT_AUTH, "clientAuth", true},
  };
  for (int pass = 0; pass < 2; pass++) {
    bool ext = pass == 1;
    size_t n = 0;
    int len = snprintf(v, sizeof v, "%s", ext ? "" : "critical");
    for (size_t i = 0; i < IDP_ARRAY_LEN(names); i++) {
      if (names[i].extended != ext || !(u & names[i].bit)) continue;
      len += snprintf(v + len, sizeof v - (size_t)len, "%s%s", (len > 0) ? "," : "",
                      names[i].name);
      n++;
    }
    if (n == 0) continue;
    c = add_ext(x, issuer, ext ? NID_ext_key_usage : NID_key_usage, v, e);
    if (c) return c;
  }
  return IDP_OK;
}

idp_code idp_pki_issue(const idp_pki_spec *spec, const char *ca_cert_pem, const char *ca_key_pem,
                       char **cert_pem, idp_err *e) {
  *cert_pem = NULL;
  if (!!spec->key_pem == !!spec->csr_pem)
    return idp_err_set(e, IDP_EINVAL, "issue: exactly one of key_pem and csr_pem is required");
  idp_code c = IDP_OK;
  EVP_PKEY *subject_key = NULL, *signer = NULL;
  X509 *ca = NULL, *x = NULL;
  X509_REQ *csr = NULL;
  BIGNUM *bn = NULL;

  if (spec->csr_pem) {
    csr = load_csr(spec->csr_pem);
    if (!csr) {
      c = ossl_fail(e, IDP_EINVALID, "csr: not a PEM certificate request");
      goto out;
    }
    subject_key = X509_REQ_get_pubkey(csr);
    if (!subject_key || X509_REQ_verify(csr, subject_key) != 1) {
      c = ossl_fail(e, IDP_EINVALID, "csr: signature does not verify");
      goto out;
    }
  } else {
    subject_key = load_any_key(spec->key_pem);
    if (!subject_key) {
      c = ossl_fail(e, IDP_EINVALID, "key: not a PEM private or public key");
      goto out;
    }
  }
  if (ca_cert_pem) {
    ca = load_cert(ca_cert_pem);
    if (!ca) {
      c = ossl_fail(e, IDP_EINVALID, "ca: not a PEM certificate");
      goto out;
    }
    signer = ca_key_pem ? load_private(ca_key_pem) : NULL;
    if (!signer) {
      c = ossl_fail(e, IDP_EINVALID, "ca: the CA private key is missing or not PEM");
      goto out;
    }
    if (X509_check_private_key(ca, signer) != 1) {
      c = ossl_fail(e, IDP_EINVALID, "ca: the private key does not match the CA certificate");
      goto out;
    }
  } else {
    signer = load_private(spec->key_pem ? spec->key_pem : "");
    if (!signer) {
      c = ossl_fail(e, IDP_EINVALID, "self-signed: key_pem must be a private key");
      goto out;
    }
  }

  x = X509_new();
  bn = BN_new();
  if (!x || !bn || !X509_set_version(x, 2) || !BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
      !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x))) {
    c = ossl_fail(e, IDP_ENOMEM, "allocating a certificate");
    goto out;
  }
  time_t now = time(NULL);
  time_t nb = spec->not_before ? (time_t)spec->not_before : now - 300;
  int64_t dur = spec->duration_seconds ? spec->duration_seconds : 90LL * 86400;
  if (dur < 0) {
    c = idp_err_set(e, IDP_EINVALID, "duration must be positive");
    goto out;
  }
  if (!ASN1_TIME_set(X509_getm_notBefore(x), nb) ||
      !ASN1_TIME_set(X509_getm_notAfter(x), (time_t)((int64_t)nb + dur))) {
    c = ossl_fail(e, IDP_EINVALID, "validity period");
    goto out;
  }
  if ((c = set_subject(x, spec, e))) goto out;
  if (!X509_set_issuer_name(x, X509_get_subject_name(ca ? ca : x)) ||
      !X509_set_pubkey(x, subject_key)) {
    c = ossl_fail(e, IDP_EINTERNAL, "setting issuer or public key");
    goto out;
  }
  X509 *issuer = ca ? ca : x;
  if ((c = add_ext(x, issuer, NID_subject_key_identifier, "hash", e))) goto out;
  if ((c = add_ext(x, issuer, NID_authority_key_identifier, "keyid:always", e))) goto out;
  if ((c = set_usages(x, issuer, spec, e))) goto out;
  if ((c = set_sans(x, spec, e))) goto out;
  const EVP_MD *md = EVP_PKEY_get_id(signer) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
  if (!X509_sign(x, signer, md)) {
    c = ossl_fail(e, IDP_EINTERNAL, "signing the certificate");
    goto out;
  }
  *cert_pem = cert_to_pem(x);
  if (!*cert_pem) c = idp_err_set(e, IDP_ENOMEM, "encoding the certificate");
out:
  BN_free(bn);
  X509_free(x);
  X509_free(ca);
  X509_REQ_free(csr);
  EVP_PKEY_free(subject_key);
  EVP_PKEY_free(signer);
  ERR_clear_error();
  return c;
}

idp_code idp_pki_ca_new(const char *common_name, int years, idp_pki_alg alg, char **cert_pem,
                        char **key_pem, idp_err *e) {
  *cert_pem = NULL;
  idp_code c = idp_pki_key_new(alg, 0, key_pem, e);
  if (c) return c;
  idp_pki_spec spec = {.common_name = common_name,
                       .is_ca = true,
                       .path_len = -1,
                       .duration_seconds = (int64_t)(years > 0 ? years : 10) * 365 * 86400,
                       .key_pem = *key_pem};
  c = idp_pki_issue(&spec, NULL, NULL, cert_pem, e);
  if (c) {
    free(*key_pem);
    *key_pem = NULL;
  }
  return c;
}

static int64_t asn1_to_unix(const ASN1_TIME *t) {
  struct tm tm;
  if (!t || !ASN1_TIME_to_tm(t, &tm)) return 0;
  return (int64_t)timegm(&tm);
}

idp_code idp_pki_cert_info_get(const char *cert_pem, idp_pki_cert_info *info, idp_err *e) {
  memset(info, 0, sizeof *info);
  X509 *x = load_cert(cert_pem);
  if (!x) return ossl_fail(e, IDP_EINVALID, "not a PEM certificate");
  info->not_before = asn1_to_unix(X509_get0_notBefore(x));
  info->not_after = asn1_to_unix(X509_get0_notAfter(x));
  info->is_ca = X509_check_ca(x) > 0;
  X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, info->common_name,
                            (int)sizeof info->common_name);
  BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
  char *hex = bn ? BN_bn2hex(bn) : NULL;
  if (hex) snprintf(info->serial_hex, sizeof info->serial_hex, "%s", hex);
  OPENSSL_free(hex);
  BN_free(bn);
  X509_free(x);
  ERR_clear_error();
  return IDP_OK;
}

bool idp_pki_cert_covers(const char *cert_pem, const char *name) {
  X509 *x = load_cert(cert_pem);
  if (!x) {
    ERR_clear_error();
    return false;
  }
  int r = is_ip_literal(name) ? X509_check_ip_asc(x, name, 0)
                              : X509_check_host(x, name, 0, X509_CHECK_FLAG_NO_WILDCARDS, NULL);
  X509_free(x);
  ERR_clear_error();
  return r == 1;
}

idp_code idp_pki_verify(const char *cert_pem, const char *ca_cert_pem, idp_err *e) {
  X509 *x = load_cert(cert_pem), *ca = load_cert(ca_cert_pem);
  X509_STORE *st = X509_STORE_new();
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  idp_code c = IDP_OK;
  if (!x || !ca) {
    c = ossl_fail(e, IDP_EINVALID, "not a PEM certificate");
  } else if (!st || !ctx || !X509_STORE_add_cert(st, ca) ||
             !X509_STORE_CTX_init(ctx, st, x, NULL)) {
    c = ossl_fail(e, IDP_ENOMEM, "setting up verification");
  } else if (X509_verify_cert(ctx) != 1) {
    c = idp_err_set(e, IDP_EINVALID, "certificate does not verify: %s",
                    X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
  }
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(st);
  X509_free(x);
  X509_free(ca);
  ERR_clear_error();
  return c;
}

idp_code idp_pki_write_private(const char *path, const char *data, size_t len, idp_err *e) {
  char tmp[4096];
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp)
    return idp_err_set(e, IDP_EINVAL, "%s: path too long", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return idp_err_set(e, IDP_EIO, "%s: %s", tmp, strerror(errno));
  size_t off = 0;
  while (off < len) {
    ssize_t n = write(fd, data + off, len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      close(fd);
      unlink(tmp);
      return idp_err_set(e, IDP_EIO, "%s: %s", tmp, strerror(err));
    }
    off += (size_t)n;
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    unlink(tmp);
    return idp_err_set(e, IDP_EIO, "%s: %s", tmp, strerror(errno));
  }
  if (rename(tmp, path) != 0) {
    int err = errno;
    unlink(tmp);
    return idp_err_set(e, IDP_EIO, "%s: %s", path, strerror(err));
  }
  return IDP_OK;
}

static idp_code read_opt(const char *dir, const char *file, char **out, idp_err *e) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  idp_buf b;
  idp_buf_init(&b, 1 << 20);
  idp_code c = idp_buf_read_file(&b, path, e);
  if (c == IDP_ENOTFOUND) {
    idp_buf_free(&b);
    *out = NULL;
    idp_err_clear(e);
    return IDP_OK;
  }
  if (c) {
    idp_buf_free(&b);
    return c;
  }
  *out = idp_buf_detach(&b, NULL);
  if (!*out) *out = calloc(1, 1);
  return IDP_OK;
}

static idp_code write_in(const char *dir, const char *file, const char *data, idp_err *e) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  return idp_pki_write_private(path, data, strlen(data), e);
}

void idp_pki_serving_free(idp_pki_serving *s) {
  if (!s) return;
  free(s->ca_cert);
  free(s->ca_key);
  free(s->cert);
  free(s->key);
  memset(s, 0, sizeof *s);
}

static bool serving_ok(const idp_pki_serving *s, const char *const *names) {
  if (!s->cert || !s->key || idp_pki_verify(s->cert, s->ca_cert, NULL) != IDP_OK) return false;
  idp_pki_cert_info info;
  if (idp_pki_cert_info_get(s->cert, &info, NULL)) return false;
  if (info.not_after < (int64_t)time(NULL) + 30 * 86400) return false;
  for (const char *const *n = names; *n; n++)
    if (!idp_pki_cert_covers(s->cert, *n)) return false;
  /* the key must match the certificate */
  X509 *x = load_cert(s->cert);
  EVP_PKEY *k = load_private(s->key);
  bool ok = x && k && X509_check_private_key(x, k) == 1;
  X509_free(x);
  EVP_PKEY_free(k);
  ERR_clear_error();
  return ok;
}

idp_code idp_pki_ensure_serving(const char *dir, const char *const *extra_names,
                                idp_pki_serving *out, idp_err *e) {
  memset(out, 0, sizeof *out);
  if (mkdir(dir, 0700) != 0 && errno != EEXIST)
    return idp_err_set(e, IDP_EIO, "%s: %s", dir, strerror(errno));
  enum { MAX_NAMES = 64 };
  const char *names[MAX_NAMES + 4] = {"127.0.0.1", "::1", "localhost"};
  size_t n = 3;
  for (const char *const *x = extra_names; x && *x; x++) {
    if (n >= MAX_NAMES) return idp_err_set(e, IDP_EINVAL, "too many certificate names (max %d)", MAX_NAMES);
    names[n++] = *x;
  }
  names[n] = NULL;
  idp_code c;
  if ((c = read_opt(dir, "ca.crt", &out->ca_cert, e)) || (c = read_opt(dir, "ca.key", &out->ca_key, e)) ||
      (c = read_opt(dir, "server.crt", &out->cert, e)) || (c = read_opt(dir, "server.key", &out->key, e)))
    goto fail;
  if (!out->ca_cert || !out->ca_key) {
    free(out->ca_cert);
    free(out->ca_key);
    out->ca_cert = out->ca_key = NULL;
    if ((c = idp_pki_ca_new("idp-ca", 10, IDP_PKI_ECDSA_P256, &out->ca_cert, &out->ca_key, e)))
      goto fail;
    if ((c = write_in(dir, "ca.key", out->ca_key, e)) || (c = write_in(dir, "ca.crt", out->ca_cert, e)))
      goto fail;
  }
  if (serving_ok(out, names)) return IDP_OK;
  free(out->cert);
  free(out->key);
  out->cert = out->key = NULL;
  if ((c = idp_pki_key_new(IDP_PKI_ECDSA_P256, 0, &out->key, e))) goto fail;
  const char *dns[MAX_NAMES + 1], *ips[MAX_NAMES + 1];
  size_t nd = 0, ni = 0;
  for (size_t i = 0; i < n; i++) {
    if (is_ip_literal(names[i]))
      ips[ni++] = names[i];
    else
      dns[nd++] = names[i];
  }
  dns[nd] = ips[ni] = NULL;
  idp_pki_spec spec = {.common_name = "idp-apiserver",
                       .dns_names = dns,
                       .ip_addresses = ips,
                       .duration_seconds = 365LL * 86400,
                       .usages = IDP_PKI_USE_DIGITAL_SIGNATURE | IDP_PKI_USE_KEY_ENCIPHERMENT |
                                 IDP_PKI_USE_SERVER_AUTH,
                       .key_pem = out->key};
  if ((c = idp_pki_issue(&spec, out->ca_cert, out->ca_key, &out->cert, e))) goto fail;
  if ((c = write_in(dir, "server.key", out->key, e)) || (c = write_in(dir, "server.crt", out->cert, e)))
    goto fail;
  return IDP_OK;
fail:
  idp_err_prefix(e, "%s", dir);
  idp_pki_serving_free(out);
  return c;
}
