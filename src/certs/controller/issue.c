#include "core/common.h"

#include <arpa/inet.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs/controller/issue.h"
#include "core/buf.h"

/* OpenSSL's newest error text (never key material), queue cleared. */
static idp_code ossl_fail(idp_err *e, idp_code code, const char *what) {
  char r[256];
  unsigned long err = ERR_get_error();
  if (err)
    ERR_error_string_n(err, r, sizeof r);
  else
    snprintf(r, sizeof r, "unknown error");
  ERR_clear_error();
  return idp_err_set(e, code, "%s: %s", what, r);
}

static char *bio_string(BIO *b) {
  char *p = NULL;
  long n = BIO_get_mem_data(b, &p);
  if (n < 0) return NULL;
  char *s = malloc((size_t)n + 1);
  if (!s) return NULL;
  if (n) memcpy(s, p, (size_t)n);
  s[n] = '\0';
  return s;
}

static EVP_PKEY *load_key(const char *pem) {
  BIO *b = BIO_new_mem_buf(pem, -1);
  if (!b) return NULL;
  EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
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

/* Every certificate of a PEM bundle, in order (NULL when none parses). */
static STACK_OF(X509) *load_chain(const char *pem) {
  BIO *b = BIO_new_mem_buf(pem, -1);
  STACK_OF(X509) *sk = sk_X509_new_null();
  if (!b || !sk) {
    BIO_free(b);
    sk_X509_free(sk);
    return NULL;
  }
  X509 *x;
  while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
    if (!sk_X509_push(sk, x)) {
      X509_free(x);
      break;
    }
  ERR_clear_error(); /* the read that ends the loop leaves "no start line" */
  BIO_free(b);
  if (sk_X509_num(sk) == 0) {
    sk_X509_free(sk);
    return NULL;
  }
  return sk;
}

static char *cert_pem(X509 *x) {
  BIO *b = BIO_new(BIO_s_mem());
  char *s = NULL;
  if (b && PEM_write_bio_X509(b, x)) s = bio_string(b);
  BIO_free(b);
  return s;
}

/* ---- Keys ------------------------------------------------------------------ */

static char *key_pem_enc(EVP_PKEY *k, idp_cm_key_enc enc) {
  BIO *b = BIO_new(BIO_s_mem());
  if (!b) return NULL;
  int ok;
  if (enc == IDP_CM_ENC_PKCS1 && EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519)
    ok = PEM_write_bio_PrivateKey_traditional(b, k, NULL, NULL, 0, NULL, NULL);
  else
    ok = PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
  char *s = ok ? bio_string(b) : NULL;
  BIO_free(b);
  return s;
}

idp_code idp_cm_key_new(idp_cm_key_alg alg, int size, idp_cm_key_enc enc, char **pem, idp_err *e) {
  *pem = NULL;
  EVP_PKEY *k = NULL;
  switch (alg) {
  case IDP_CM_KEY_RSA:
    if (size < 2048 || size > 8192)
      return idp_err_set(e, IDP_EINVALID, "RSA key size %d out of range 2048..8192", size);
    k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)size);
    break;
  case IDP_CM_KEY_ECDSA: {
    const char *curve = size == 256 ? "P-256" : size == 384 ? "P-384" : size == 521 ? "P-521" : NULL;
    if (!curve) return idp_err_set(e, IDP_EINVALID, "ECDSA key size %d is not 256, 384 or 521", size);
    k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
    break;
  }
  case IDP_CM_KEY_ED25519:
    k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    break;
  }
  if (!k) return ossl_fail(e, IDP_EINTERNAL, "generating a private key");
  *pem = key_pem_enc(k, enc);
  EVP_PKEY_free(k);
  if (!*pem) return ossl_fail(e, IDP_ENOMEM, "encoding a private key");
  return IDP_OK;
}

idp_code idp_cm_key_encode(const char *key_pem, idp_cm_key_enc enc, char **pem, idp_err *e) {
  *pem = NULL;
  EVP_PKEY *k = load_key(key_pem);
  if (!k) return ossl_fail(e, IDP_EINVALID, "not a PEM private key");
  *pem = key_pem_enc(k, enc);
  EVP_PKEY_free(k);
  if (!*pem) return ossl_fail(e, IDP_ENOMEM, "encoding a private key");
  return IDP_OK;
}

idp_code idp_cm_key_der(const char *key_pem, unsigned char **der, size_t *len, idp_err *e) {
  *der = NULL;
  *len = 0;
  BIO *b = BIO_new_mem_buf(key_pem, -1);
  char *name = NULL, *header = NULL;
  unsigned char *data = NULL;
  long n = 0;
  int ok = b && PEM_read_bio(b, &name, &header, &data, &n) && n > 0;
  BIO_free(b);
  idp_code c = IDP_OK;
  if (!ok || !strstr(name, "PRIVATE KEY")) {
    c = idp_err_set(e, IDP_EINVALID, "not a PEM private key");
  } else if (!(*der = malloc((size_t)n))) {
    c = idp_err_set(e, IDP_ENOMEM, "copying a key");
  } else {
    memcpy(*der, data, (size_t)n);
    *len = (size_t)n;
  }
  if (data) OPENSSL_cleanse(data, (size_t)n);
  OPENSSL_free(name);
  OPENSSL_free(header);
  OPENSSL_free(data);
  ERR_clear_error();
  return c;
}

idp_code idp_cm_key_info_get(const char *key_pem, idp_cm_key_info *out, idp_err *e) {
  memset(out, 0, sizeof *out);
  EVP_PKEY *k = load_key(key_pem);
  if (!k) return ossl_fail(e, IDP_EINVALID, "not a PEM private key");
  int id = EVP_PKEY_get_base_id(k);
  idp_code c = IDP_OK;
  if (id == EVP_PKEY_RSA) out->alg = IDP_CM_KEY_RSA;
  else if (id == EVP_PKEY_EC) out->alg = IDP_CM_KEY_ECDSA;
  else if (id == EVP_PKEY_ED25519) out->alg = IDP_CM_KEY_ED25519;
  else c = idp_err_set(e, IDP_EINVALID, "unsupported private key type %s", OBJ_nid2sn(id));
  out->size = out->alg == IDP_CM_KEY_ED25519 ? 0 : EVP_PKEY_get_bits(k);
  /* PKCS#8 PEM says "BEGIN PRIVATE KEY" (or ENCRYPTED); PKCS#1/SEC1 name the type */
  out->enc = strstr(key_pem, "-----BEGIN PRIVATE KEY-----") ? IDP_CM_ENC_PKCS8 : IDP_CM_ENC_PKCS1;
  EVP_PKEY_free(k);
  ERR_clear_error();
  return c;
}

/* ---- Usage tables ------------------------------------------------------ */

/* idp_cm keyUsage bit i is X.509 KeyUsage bit i (RFC 5280 order); the
 * OpenSSL KU_* flags are what X509_get_key_usage reports. */
static const unsigned ku_openssl[] = {KU_DIGITAL_SIGNATURE, KU_NON_REPUDIATION, KU_KEY_ENCIPHERMENT,
                                      KU_DATA_ENCIPHERMENT, KU_KEY_AGREEMENT,   KU_KEY_CERT_SIGN,
                                      KU_CRL_SIGN,          KU_ENCIPHER_ONLY,   KU_DECIPHER_ONLY};

static const struct {
  unsigned bit;
  int nid;
} eku_nids[] = {
    {IDP_CM_EKU_ANY, NID_anyExtendedKeyUsage},
    {IDP_CM_EKU_SERVER_AUTH, NID_server_auth},
    {IDP_CM_EKU_CLIENT_AUTH, NID_client_auth},
    {IDP_CM_EKU_CODE_SIGNING, NID_code_sign},
    {IDP_CM_EKU_EMAIL_PROTECTION, NID_email_protect},
    {IDP_CM_EKU_IPSEC_END_SYSTEM, NID_ipsecEndSystem},
    {IDP_CM_EKU_IPSEC_TUNNEL, NID_ipsecTunnel},
    {IDP_CM_EKU_IPSEC_USER, NID_ipsecUser},
    {IDP_CM_EKU_TIMESTAMPING, NID_time_stamp},
    {IDP_CM_EKU_OCSP_SIGNING, NID_OCSP_sign},
    {IDP_CM_EKU_MICROSOFT_SGC, NID_ms_sgc},
    {IDP_CM_EKU_NETSCAPE_SGC, NID_ns_sgc},
};

/* ---- Building a certificate -------------------------------------------------- */

static idp_code add_name(X509_NAME *n, const char *sn, const char *v, idp_err *e) {
  if (!X509_NAME_add_entry_by_txt(n, sn, MBSTRING_UTF8, (const unsigned char *)v, -1, -1, 0))
    return ossl_fail(e, IDP_EINVALID, "subject attribute");
  return IDP_OK;
}

static idp_code set_subject(X509 *x, const idp_cm_cert_spec *s, bool *empty, idp_err *e) {
  X509_NAME *n = X509_get_subject_name(x);
  idp_code c;
  for (size_t i = 0; i < idp_cm_subject_fields_len; i++) {
    const idp_cm_subject_field *f = &idp_cm_subject_fields[i];
    const json_t *v = json_object_get(s->subject, f->field);
    if (strcmp(f->sn, "serialNumber") == 0) continue; /* after CN, as Go orders it */
    size_t j;
    const json_t *item;
    json_array_foreach(v, j, item) if ((c = add_name(n, f->sn, json_string_value(item), e))) return c;
  }
  if (s->common_name && (c = add_name(n, "CN", s->common_name, e))) return c;
  const char *serial = json_string_value(json_object_get(s->subject, "serialNumber"));
  if (serial && *serial && (c = add_name(n, "serialNumber", serial, e))) return c;
  *empty = X509_NAME_entry_count(n) == 0;
  return IDP_OK;
}

static idp_code push_gen(GENERAL_NAMES *g, int type, const char *v, idp_err *e) {
  GENERAL_NAME *gn = GENERAL_NAME_new();
  if (!gn) return idp_err_set(e, IDP_ENOMEM, "allocating a SAN");
  if (type == GEN_IPADD) {
    ASN1_OCTET_STRING *ip = a2i_IPADDRESS(v);
    if (!ip) {
      GENERAL_NAME_free(gn);
      ERR_clear_error();
      return idp_err_set(e, IDP_EINVALID, "spec.ipAddresses: \"%s\" is not an IP address", v);
    }
    GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
  } else {
    ASN1_IA5STRING *s = ASN1_IA5STRING_new();
    if (!s || !ASN1_STRING_set(s, v, -1)) {
      ASN1_IA5STRING_free(s);
      GENERAL_NAME_free(gn);
      return idp_err_set(e, IDP_ENOMEM, "allocating a SAN");
    }
    GENERAL_NAME_set0_value(gn, type, s);
  }
  if (!sk_GENERAL_NAME_push(g, gn)) {
    GENERAL_NAME_free(gn);
    return idp_err_set(e, IDP_ENOMEM, "allocating a SAN");
  }
  return IDP_OK;
}

static idp_code set_sans(X509 *x, const idp_cm_cert_spec *s, bool subject_empty, idp_err *e) {
  GENERAL_NAMES *g = sk_GENERAL_NAME_new_null();
  if (!g) return idp_err_set(e, IDP_ENOMEM, "allocating SANs");
  const struct {
    const json_t *list;
    int type;
  } lists[] = {{s->dns_names, GEN_DNS}, {s->emails, GEN_EMAIL}, {s->ip_addresses, GEN_IPADD}, {s->uris, GEN_URI}};
  idp_code c = IDP_OK;
  for (size_t i = 0; i < IDP_ARRAY_LEN(lists) && !c; i++) {
    size_t j;
    const json_t *v;
    json_array_foreach(lists[i].list, j, v) {
      if ((c = push_gen(g, lists[i].type, json_string_value(v), e))) break;
    }
  }
  /* RFC 5280 4.2.1.6: critical when the subject is empty */
  if (!c && sk_GENERAL_NAME_num(g) > 0 &&
      !X509_add1_ext_i2d(x, NID_subject_alt_name, g, subject_empty ? 1 : 0, X509V3_ADD_DEFAULT))
    c = ossl_fail(e, IDP_EINTERNAL, "adding SANs");
  GENERAL_NAMES_free(g);
  return c;
}

static idp_code set_constraints_and_usages(X509 *x, const idp_cm_cert_spec *s, idp_err *e) {
  BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
  if (!bc) return idp_err_set(e, IDP_ENOMEM, "allocating basicConstraints");
  bc->ca = s->is_ca ? 0xFF : 0;
  int ok = X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT);
  BASIC_CONSTRAINTS_free(bc);
  if (!ok) return ossl_fail(e, IDP_EINTERNAL, "adding basicConstraints");
  if (s->usages.ku) {
    ASN1_BIT_STRING *bs = ASN1_BIT_STRING_new();
    ok = bs != NULL;
    for (int i = 0; ok && i < 9; i++)
      if (s->usages.ku & (1u << i)) ok = ASN1_BIT_STRING_set_bit(bs, i, 1);
    ok = ok && X509_add1_ext_i2d(x, NID_key_usage, bs, 1, X509V3_ADD_DEFAULT);
    ASN1_BIT_STRING_free(bs);
    if (!ok) return ossl_fail(e, IDP_EINTERNAL, "adding keyUsage");
  }
  if (s->usages.eku) {
    EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
    ok = eku != NULL;
    for (size_t i = 0; ok && i < IDP_ARRAY_LEN(eku_nids); i++)
      if (s->usages.eku & eku_nids[i].bit) ok = sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(eku_nids[i].nid)) > 0;
    ok = ok && X509_add1_ext_i2d(x, NID_ext_key_usage, eku, 0, X509V3_ADD_DEFAULT);
    sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
    if (!ok) return ossl_fail(e, IDP_EINTERNAL, "adding extKeyUsage");
  }
  return IDP_OK;
}

static idp_code add_conf_ext(X509 *x, X509 *issuer, int nid, const char *value, idp_err *e) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  if (!ext) return ossl_fail(e, IDP_EINTERNAL, "building a key identifier");
  int ok = X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  return ok ? IDP_OK : ossl_fail(e, IDP_EINTERNAL, "adding a key identifier");
}

/* The digest cert-manager's signer picks for the signing key. */
static const EVP_MD *digest_for(EVP_PKEY *signer) {
  int id = EVP_PKEY_get_base_id(signer);
  if (id == EVP_PKEY_ED25519) return NULL;
  if (id == EVP_PKEY_EC) {
    int bits = EVP_PKEY_get_bits(signer);
    if (bits > 384) return EVP_sha512();
    if (bits > 256) return EVP_sha384();
  }
  return EVP_sha256();
}

static bool self_signed(X509 *x) {
  if (X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) != 0) return false;
  EVP_PKEY *pk = X509_get0_pubkey(x);
  bool ok = pk && X509_verify(x, pk) == 1;
  ERR_clear_error();
  return ok;
}

idp_code idp_cm_sign(const idp_cm_cert_spec *spec, const char *key_pem, const char *ca_chain_pem,
                     const char *ca_key_pem, int64_t now, char **chain, char **ca, idp_err *e) {
  *chain = *ca = NULL;
  idp_code c = IDP_OK;
  EVP_PKEY *subject_key = load_key(key_pem), *signer = NULL;
  STACK_OF(X509) *cas = NULL;
  X509 *x = NULL;
  BIGNUM *bn = NULL;
  idp_buf out;
  idp_buf_init(&out, (size_t)1 << 22);
  if (!subject_key) {
    c = ossl_fail(e, IDP_EINVALID, "the private key is not PEM");
    goto done;
  }
  if (ca_chain_pem) {
    cas = load_chain(ca_chain_pem);
    if (!cas) {
      c = ossl_fail(e, IDP_EINVALID, "CA: tls.crt holds no PEM certificate");
      goto done;
    }
    signer = ca_key_pem ? load_key(ca_key_pem) : NULL;
    if (!signer) {
      c = ossl_fail(e, IDP_EINVALID, "CA: tls.key is not a PEM private key");
      goto done;
    }
    if (X509_check_private_key(sk_X509_value(cas, 0), signer) != 1) {
      c = ossl_fail(e, IDP_EINVALID, "CA: tls.key does not match tls.crt");
      goto done;
    }
  } else {
    signer = subject_key;
    EVP_PKEY_up_ref(signer);
  }
  x = X509_new();
  bn = BN_new();
  if (!x || !bn || !X509_set_version(x, 2) ||
      !BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
      !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x))) {
    c = ossl_fail(e, IDP_ENOMEM, "allocating a certificate");
    goto done;
  }
  int64_t secs = spec->duration_ns / IDP_CM_NS_PER_S;
  if (!ASN1_TIME_set(X509_getm_notBefore(x), (time_t)now) ||
      !ASN1_TIME_set(X509_getm_notAfter(x), (time_t)(now + secs))) {
    c = ossl_fail(e, IDP_EINVALID, "validity period");
    goto done;
  }
  bool empty = true;
  if ((c = set_subject(x, spec, &empty, e))) goto done;
  X509 *issuer = cas ? sk_X509_value(cas, 0) : x;
  if (!X509_set_issuer_name(x, X509_get_subject_name(issuer)) || !X509_set_pubkey(x, subject_key)) {
    c = ossl_fail(e, IDP_EINTERNAL, "setting issuer or public key");
    goto done;
  }
  if ((c = add_conf_ext(x, issuer, NID_subject_key_identifier, "hash", e))) goto done;
  if (cas && (c = add_conf_ext(x, issuer, NID_authority_key_identifier, "keyid:always", e))) goto done;
  if ((c = set_constraints_and_usages(x, spec, e))) goto done;
  if ((c = set_sans(x, spec, empty, e))) goto done;
  if (!X509_sign(x, signer, digest_for(signer))) {
    c = ossl_fail(e, IDP_EINTERNAL, "signing the certificate");
    goto done;
  }
  char *leaf = cert_pem(x);
  if (!leaf || idp_buf_adds(&out, leaf)) {
    free(leaf);
    c = idp_err_set(e, IDP_ENOMEM, "encoding the certificate");
    goto done;
  }
  if (!cas) {
    *ca = leaf;
  } else {
    free(leaf);
    int n = sk_X509_num(cas);
    X509 *top = sk_X509_value(cas, n - 1);
    /* the root stays out of tls.crt; ca.crt is the root, or the top-most
     * certificate when the issuer's chain stops below a root */
    int keep = (n > 0 && self_signed(top)) ? n - 1 : n;
    for (int i = 0; i < keep; i++) {
      char *p = cert_pem(sk_X509_value(cas, i));
      if (!p || idp_buf_adds(&out, p)) {
        free(p);
        c = idp_err_set(e, IDP_ENOMEM, "encoding the chain");
        goto done;
      }
      free(p);
    }
    *ca = cert_pem(top);
    if (!*ca) {
      c = idp_err_set(e, IDP_ENOMEM, "encoding the CA");
      goto done;
    }
  }
  *chain = idp_buf_detach(&out, NULL);
  if (!*chain) c = idp_err_set(e, IDP_ENOMEM, "encoding the chain");
done:
  if (c) {
    free(*ca);
    *ca = NULL;
  }
  idp_buf_free(&out);
  BN_free(bn);
  X509_free(x);
  sk_X509_pop_free(cas, X509_free);
  EVP_PKEY_free(subject_key);
  EVP_PKEY_free(signer);
  ERR_clear_error();
  return c;
}

/* ---- Checks ---------------------------------------------------------------- */

idp_code idp_cm_check_ca(const char *cert, const char *key, bool *invalid, idp_err *e) {
  if (invalid) *invalid = false;
  X509 *x = cert ? load_cert(cert) : NULL;
  EVP_PKEY *k = key ? load_key(key) : NULL;
  idp_code c = IDP_OK;
  if (!x) {
    c = idp_err_set(e, IDP_EINVALID, "tls.crt: no PEM certificate");
  } else if (!k) {
    c = idp_err_set(e, IDP_EINVALID, "tls.key: no PEM private key");
  } else if (!(X509_get_extension_flags(x) & EXFLAG_CA)) {
    if (invalid) *invalid = true;
    c = idp_err_set(e, IDP_EINVALID, "certificate is not a CA");
  } else if (X509_check_private_key(x, k) != 1) {
    if (invalid) *invalid = true;
    c = idp_err_set(e, IDP_EINVALID, "the private key does not match the certificate");
  }
  X509_free(x);
  EVP_PKEY_free(k);
  ERR_clear_error();
  return c;
}

bool idp_cm_keypair_match(const char *cert, const char *key) {
  X509 *x = load_cert(cert);
  EVP_PKEY *k = load_key(key);
  bool ok = x && k && X509_check_private_key(x, k) == 1;
  X509_free(x);
  EVP_PKEY_free(k);
  ERR_clear_error();
  return ok;
}

static int64_t asn1_unix(const ASN1_TIME *t) {
  struct tm tm;
  if (!t || !ASN1_TIME_to_tm(t, &tm)) return 0;
  return (int64_t)timegm(&tm);
}

static void ip_text(const ASN1_OCTET_STRING *ip, char *buf, size_t n) {
  buf[0] = '\0';
  int len = ASN1_STRING_length(ip);
  const unsigned char *d = ASN1_STRING_get0_data(ip);
  if (len == 4) inet_ntop(AF_INET, d, buf, (socklen_t)n);
  else if (len == 16) inet_ntop(AF_INET6, d, buf, (socklen_t)n);
}

static void add_str(json_t *o, const char *key, const char *v, int len) {
  json_t *a = json_object_get(o, key);
  if (!a) {
    a = json_array();
    json_object_set_new(o, key, a);
  }
  json_array_append_new(a, len >= 0 ? json_stringn(v, (size_t)len) : json_string(v));
}

idp_code idp_cm_cert_facts(const char *pem, json_t **out, idp_err *e) {
  *out = NULL;
  X509 *x = load_cert(pem);
  if (!x) return ossl_fail(e, IDP_EINVALID, "not a PEM certificate");
  json_t *f = json_object();
  json_object_set_new(f, "dnsNames", json_array());
  json_object_set_new(f, "ipAddresses", json_array());
  json_object_set_new(f, "uris", json_array());
  json_object_set_new(f, "emailAddresses", json_array());
  json_t *subj = json_object();
  json_object_set_new(f, "subject", subj);
  X509_NAME *n = X509_get_subject_name(x);
  for (int i = 0; i < X509_NAME_entry_count(n); i++) {
    X509_NAME_ENTRY *ne = X509_NAME_get_entry(n, i);
    int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(ne));
    const ASN1_STRING *d = X509_NAME_ENTRY_get_data(ne);
    const char *v = (const char *)ASN1_STRING_get0_data(d);
    int len = ASN1_STRING_length(d);
    if (nid == NID_commonName) {
      json_object_set_new(f, "commonName", json_stringn(v, (size_t)len));
      continue;
    }
    for (size_t k = 0; k < idp_cm_subject_fields_len; k++)
      if (OBJ_sn2nid(idp_cm_subject_fields[k].sn) == nid) {
        if (nid == NID_serialNumber)
          json_object_set_new(subj, "serialNumber", json_stringn(v, (size_t)len));
        else
          add_str(subj, idp_cm_subject_fields[k].field, v, len);
      }
  }
  GENERAL_NAMES *g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
  for (int i = 0; i < sk_GENERAL_NAME_num(g); i++) {
    GENERAL_NAME *gn = sk_GENERAL_NAME_value(g, i);
    int type;
    void *v = GENERAL_NAME_get0_value(gn, &type);
    const ASN1_STRING *s = v;
    if (type == GEN_DNS) add_str(f, "dnsNames", (const char *)ASN1_STRING_get0_data(s), ASN1_STRING_length(s));
    else if (type == GEN_URI) add_str(f, "uris", (const char *)ASN1_STRING_get0_data(s), ASN1_STRING_length(s));
    else if (type == GEN_EMAIL)
      add_str(f, "emailAddresses", (const char *)ASN1_STRING_get0_data(s), ASN1_STRING_length(s));
    else if (type == GEN_IPADD) {
      char ip[64];
      ip_text(s, ip, sizeof ip);
      add_str(f, "ipAddresses", ip, -1);
    }
  }
  GENERAL_NAMES_free(g);
  uint32_t flags = X509_get_extension_flags(x);
  json_object_set_new(f, "isCA", json_boolean(flags & EXFLAG_CA));
  json_object_set_new(f, "notBefore", json_integer(asn1_unix(X509_get0_notBefore(x))));
  json_object_set_new(f, "notAfter", json_integer(asn1_unix(X509_get0_notAfter(x))));
  unsigned ku = 0;
  uint32_t oku = X509_get_key_usage(x);
  if (oku != UINT32_MAX)
    for (size_t i = 0; i < IDP_ARRAY_LEN(ku_openssl); i++)
      if (oku & ku_openssl[i]) ku |= 1u << i;
  unsigned eku = 0;
  EXTENDED_KEY_USAGE *xk = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
  for (int i = 0; i < sk_ASN1_OBJECT_num(xk); i++) {
    int nid = OBJ_obj2nid(sk_ASN1_OBJECT_value(xk, i));
    for (size_t j = 0; j < IDP_ARRAY_LEN(eku_nids); j++)
      if (eku_nids[j].nid == nid) eku |= eku_nids[j].bit;
  }
  sk_ASN1_OBJECT_pop_free(xk, ASN1_OBJECT_free);
  json_object_set_new(f, "keyUsage", json_integer(ku));
  json_object_set_new(f, "extKeyUsage", json_integer(eku));
  X509_free(x);
  ERR_clear_error();
  *out = f;
  return IDP_OK;
}

/* IP lists compare by address, not spelling ("::1" == "0:0::1"). */
static json_t *normalize_ips(const json_t *ips) {
  json_t *o = json_array();
  size_t i;
  const json_t *v;
  json_array_foreach(ips, i, v) {
    const char *s = json_string_value(v);
    unsigned char b[16];
    char t[64];
    if (s && inet_pton(AF_INET, s, b) == 1) inet_ntop(AF_INET, b, t, sizeof t);
    else if (s && inet_pton(AF_INET6, s, b) == 1) inet_ntop(AF_INET6, b, t, sizeof t);
    else snprintf(t, sizeof t, "%s", s ? s : "");
    json_array_append_new(o, json_string(t));
  }
  return o;
}

static void note(char *buf, size_t n, int *count, const char *field) {
  size_t l = strlen(buf);
  if (l < n) snprintf(buf + l, n - l, "%s%s", l ? " " : "", field);
  (*count)++;
}

int idp_cm_cert_mismatches(const json_t *f, const idp_cm_cert_spec *s, char *buf, size_t n) {
  int count = 0;
  if (n) buf[0] = '\0';
  const char *cn = json_string_value(json_object_get(f, "commonName"));
  if (strcmp(cn ? cn : "", s->common_name ? s->common_name : "") != 0) note(buf, n, &count, "spec.commonName");
  if (!idp_cm_strs_same_set(json_object_get(f, "dnsNames"), s->dns_names)) note(buf, n, &count, "spec.dnsNames");
  json_t *a = normalize_ips(json_object_get(f, "ipAddresses")), *b = normalize_ips(s->ip_addresses);
  if (!idp_cm_strs_same_set(a, b)) note(buf, n, &count, "spec.ipAddresses");
  json_decref(a);
  json_decref(b);
  if (!idp_cm_strs_same_set(json_object_get(f, "uris"), s->uris)) note(buf, n, &count, "spec.uris");
  if (!idp_cm_strs_same_set(json_object_get(f, "emailAddresses"), s->emails))
    note(buf, n, &count, "spec.emailAddresses");
  if (json_is_true(json_object_get(f, "isCA")) != s->is_ca) note(buf, n, &count, "spec.isCA");
  const json_t *fs = json_object_get(f, "subject");
  for (size_t i = 0; i < idp_cm_subject_fields_len; i++) {
    const char *field = idp_cm_subject_fields[i].field;
    const json_t *have = json_object_get(fs, field), *want = json_object_get(s->subject, field);
    bool same;
    if (strcmp(field, "serialNumber") == 0) {
      const char *h = json_string_value(have), *w = json_string_value(want);
      same = strcmp(h ? h : "", w ? w : "") == 0;
    } else {
      same = idp_cm_strs_same_set(have, want);
    }
    if (!same) {
      char path[64];
      snprintf(path, sizeof path, "spec.subject.%s", field);
      note(buf, n, &count, path);
    }
  }
  if ((unsigned)json_integer_value(json_object_get(f, "keyUsage")) != s->usages.ku ||
      (unsigned)json_integer_value(json_object_get(f, "extKeyUsage")) != s->usages.eku)
    note(buf, n, &count, "spec.usages");
  int64_t life = json_integer_value(json_object_get(f, "notAfter")) -
                 json_integer_value(json_object_get(f, "notBefore"));
  int64_t want = s->duration_ns / IDP_CM_NS_PER_S;
  if (life < want - 1 || life > want + 1) note(buf, n, &count, "spec.duration");
  return count;
}

int idp_cm_key_mismatches(const idp_cm_key_info *k, const idp_cm_cert_spec *s, char *buf, size_t n) {
  int count = 0;
  if (n) buf[0] = '\0';
  if (k->alg != s->key_alg) note(buf, n, &count, "spec.privateKey.algorithm");
  else if (k->alg != IDP_CM_KEY_ED25519 && k->size != s->key_size) note(buf, n, &count, "spec.privateKey.size");
  return count;
}

idp_code idp_cm_verify(const char *cert, const char *ca_pem, idp_err *e) {
  STACK_OF(X509) *leaf = load_chain(cert), *anchors = load_chain(ca_pem);
  X509_STORE *st = X509_STORE_new();
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  STACK_OF(X509) *untrusted = sk_X509_new_null();
  idp_code c = IDP_OK;
  if (!leaf || !anchors) {
    c = idp_err_set(e, IDP_EINVALID, "not a PEM certificate");
    goto done;
  }
  for (int i = 0; i < sk_X509_num(anchors); i++) X509_STORE_add_cert(st, sk_X509_value(anchors, i));
  for (int i = 1; i < sk_X509_num(leaf); i++) sk_X509_push(untrusted, sk_X509_value(leaf, i));
  if (!st || !ctx || !X509_STORE_CTX_init(ctx, st, sk_X509_value(leaf, 0), untrusted)) {
    c = ossl_fail(e, IDP_ENOMEM, "setting up verification");
  } else if (X509_verify_cert(ctx) != 1) {
    c = idp_err_set(e, IDP_EINVALID, "certificate does not verify: %s",
                    X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
  }
done:
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(st);
  sk_X509_free(untrusted);
  sk_X509_pop_free(leaf, X509_free);
  sk_X509_pop_free(anchors, X509_free);
  ERR_clear_error();
  return c;
}
