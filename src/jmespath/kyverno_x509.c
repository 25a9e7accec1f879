/* kyverno_x509.c: x509_decode(pem) -> object: Go's x509.Certificate (or
 * x509.CertificateRequest) as encoding/json writes it, which is what Kyverno
 * returns: Raw* fields and Signature in base64, SignatureAlgorithm,
 * PublicKeyAlgorithm and ExtKeyUsage as Go's enum numbers, Subject/Issuer
 * as pkix.Name (CommonName, Country, ..., Names [{Type: OID ints, Value}]),
 * NotBefore/NotAfter in RFC 3339, KeyUsage as Go's bit set, Extensions
 * [{Id, Critical, Value}], SANs, basic constraints, key identifiers, and
 * PublicKey rewritten as {N: decimal string, E}.  As in Kyverno only RSA
 * keys are accepted.  Fields Go leaves nil are JSON null.  PEM text whose
 * line breaks arrive as the two characters backslash-n (a raw string in a
 * policy) is accepted too. */
#include "core/common.h"

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "jmespath/kyverno.h"

static json_t *b64(const unsigned char *p, int len) {
  if (len < 0) return json_null();
  unsigned char *enc = malloc(4 * ((size_t)len + 2) / 3 + 4);
  if (!enc) return NULL;
  int n = EVP_EncodeBlock(enc, p, len);
  json_t *r = json_stringn((const char *)enc, (size_t)n);
  free(enc);
  return r;
}

/* DER of an object through its i2d function, in base64. */
#define DER_B64(fn, obj)                                    \
  ({                                                        \
    unsigned char *der_ = NULL;                             \
    int dl_ = fn(obj, &der_);                               \
    json_t *r_ = dl_ >= 0 ? b64(der_, dl_) : json_null();   \
    OPENSSL_free(der_);                                     \
    r_;                                                     \
  })

static json_t *oid_ints(const ASN1_OBJECT *o) {
  char txt[128];
  if (OBJ_obj2txt(txt, sizeof txt, o, 1) <= 0) return json_null();
  json_t *a = json_array();
  for (char *p = txt; a && *p;) {
    char *end;
    long v = strtol(p, &end, 10);
    json_array_append_new(a, json_integer(v));
    p = *end == '.' ? end + 1 : end;
    if (end == p && *p) break;
  }
  return a;
}

static json_t *str_list(X509_NAME *nm, int nid) {
  json_t *a = NULL;
  int idx = -1;
  while ((idx = X509_NAME_get_index_by_NID(nm, nid, idx)) >= 0) {
    ASN1_STRING *d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(nm, idx));
    unsigned char *u = NULL;
    int l = ASN1_STRING_to_UTF8(&u, d);
    if (l < 0) continue;
    if (!a) a = json_array();
    json_array_append_new(a, json_stringn((const char *)u, (size_t)l));
    OPENSSL_free(u);
  }
  return a ? a : json_null();
}

static json_t *name_obj(X509_NAME *nm) {
  json_t *o = json_object();
  if (!o) return NULL;
  json_object_set_new(o, "Country", str_list(nm, NID_countryName));
  json_object_set_new(o, "Organization", str_list(nm, NID_organizationName));
  json_object_set_new(o, "OrganizationalUnit", str_list(nm, NID_organizationalUnitName));
  json_object_set_new(o, "Locality", str_list(nm, NID_localityName));
  json_object_set_new(o, "Province", str_list(nm, NID_stateOrProvinceName));
  json_object_set_new(o, "StreetAddress", str_list(nm, NID_streetAddress));
  json_object_set_new(o, "PostalCode", str_list(nm, NID_postalCode));
  json_t *sn = str_list(nm, NID_serialNumber), *cn = str_list(nm, NID_commonName);
  json_object_set_new(o, "SerialNumber",
                      json_is_array(sn) ? json_incref(json_array_get(sn, json_array_size(sn) - 1))
                                        : json_string(""));
  json_object_set_new(o, "CommonName",
                      json_is_array(cn) ? json_incref(json_array_get(cn, json_array_size(cn) - 1))
                                        : json_string(""));
  json_decref(sn);
  json_decref(cn);
  json_t *names = json_array();
  for (int i = 0; names && i < X509_NAME_entry_count(nm); i++) {
    X509_NAME_ENTRY *ent = X509_NAME_get_entry(nm, i);
    unsigned char *u = NULL;
    int l = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(ent));
    if (l < 0) continue;
    json_array_append_new(names, json_pack("{s:o,s:s%}", "Type",
                                           oid_ints(X509_NAME_ENTRY_get_object(ent)), "Value",
                                           (const char *)u, (size_t)l));
    OPENSSL_free(u);
  }
  json_object_set_new(o, "Names", names ? names : json_null());
  json_object_set_new(o, "ExtraNames", json_null());
  return o;
}

static json_t *extensions(const STACK_OF(X509_EXTENSION) *exts) {
  if (sk_X509_EXTENSION_num(exts) <= 0) return json_null();
  json_t *a = json_array();
  for (int i = 0; a && i < sk_X509_EXTENSION_num(exts); i++) {
    X509_EXTENSION *x = sk_X509_EXTENSION_value(exts, i);
    ASN1_OCTET_STRING *d = X509_EXTENSION_get_data(x);
    json_array_append_new(a, json_pack("{s:o,s:b,s:o}", "Id", oid_ints(X509_EXTENSION_get_object(x)),
                                       "Critical", X509_EXTENSION_get_critical(x) > 0, "Value",
                                       b64(ASN1_STRING_get0_data(d), ASN1_STRING_length(d))));
  }
  return a;
}

/* Go's x509.SignatureAlgorithm numbering. */
static int go_sig_alg(int nid) {
  static const int map[][2] = {
      {NID_md2WithRSAEncryption, 1},     {NID_md5WithRSAEncryption, 2},
      {NID_sha1WithRSAEncryption, 3},    {NID_sha256WithRSAEncryption, 4},
      {NID_sha384WithRSAEncryption, 5},  {NID_sha512WithRSAEncryption, 6},
      {NID_dsaWithSHA1, 7},              {NID_dsa_with_SHA256, 8},
      {NID_ecdsa_with_SHA1, 9},          {NID_ecdsa_with_SHA256, 10},
      {NID_ecdsa_with_SHA384, 11},       {NID_ecdsa_with_SHA512, 12},
      {NID_rsassaPss, 13},               {NID_ED25519, 16},
  };
  for (size_t i = 0; i < IDP_ARRAY_LEN(map); i++)
    if (map[i][0] == nid) return map[i][1];
  return 0;
}

static json_t *ext_key_usage(X509 *x) {
  EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
  if (!eku) return json_null();
  static const int map[][2] = {
      {NID_anyExtendedKeyUsage, 0}, {NID_server_auth, 1},  {NID_client_auth, 2},
      {NID_code_sign, 3},           {NID_email_protect, 4}, {NID_ipsecEndSystem, 5},
      {NID_ipsecTunnel, 6},         {NID_ipsecUser, 7},     {NID_time_stamp, 8},
      {NID_OCSP_sign, 9},
  };
  json_t *a = json_array();
  for (int i = 0; a && i < sk_ASN1_OBJECT_num(eku); i++) {
    int nid = OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i));
    for (size_t k = 0; k < IDP_ARRAY_LEN(map); k++)
      if (map[k][0] == nid) json_array_append_new(a, json_integer(map[k][1]));
  }
  sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
  return a;
}

static json_t *asn1_time(const ASN1_TIME *t) {
  struct tm tm;
  if (!t || !ASN1_TIME_to_tm(t, &tm)) return json_null();
  char buf[40];
  snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return json_string(buf);
}

static void add_sans(json_t *o, GENERAL_NAMES *gens) {
  json_t *dns = NULL, *email = NULL, *ip = NULL, *uri = NULL;
  for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
    GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
    json_t **dst = NULL;
    json_t *v = NULL;
    if (g->type == GEN_DNS || g->type == GEN_EMAIL || g->type == GEN_URI) {
      ASN1_IA5STRING *s = g->d.ia5;
      v = json_stringn((const char *)ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
      dst = g->type == GEN_DNS ? &dns : g->type == GEN_EMAIL ? &email : &uri;
    } else if (g->type == GEN_IPADD) {
      const unsigned char *b = ASN1_STRING_get0_data(g->d.ip);
      int l = ASN1_STRING_length(g->d.ip);
      char buf[64] = "";
      if (l == 4) {
        snprintf(buf, sizeof buf, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
      } else if (l == 16) {
        size_t w = 0;
        for (int k = 0; k < 16; k += 2)
          w += (size_t)snprintf(buf + w, sizeof buf - w, "%s%x", k ? ":" : "", (b[k] << 8) | b[k + 1]);
      }
      v = json_string(buf);
      dst = &ip;
    }
    if (!dst || !v) {
      json_decref(v);
      continue;
    }
    if (!*dst) *dst = json_array();
    json_array_append_new(*dst, v);
  }
  json_object_set_new(o, "DNSNames", dns ? dns : json_null());
  json_object_set_new(o, "EmailAddresses", email ? email : json_null());
  json_object_set_new(o, "IPAddresses", ip ? ip : json_null());
  json_object_set_new(o, "URIs", uri ? uri : json_null());
}

static void add_pubkey(json_t *o, EVP_PKEY *pk) {
  int alg = 0; /* Go: RSA=1 DSA=2 ECDSA=3 Ed25519=4 */
  json_t *pub = json_null();
  if (pk) {
    int id = EVP_PKEY_get_base_id(pk);
    alg = id == EVP_PKEY_RSA ? 1 : id == EVP_PKEY_DSA ? 2 : id == EVP_PKEY_EC ? 3 : id == EVP_PKEY_ED25519 ? 4 : 0;
    if (id == EVP_PKEY_RSA) {
      BIGNUM *nb = NULL, *eb = NULL;
      if (EVP_PKEY_get_bn_param(pk, "n", &nb) && EVP_PKEY_get_bn_param(pk, "e", &eb)) {
        char *dec = BN_bn2dec(nb);
        pub = json_pack("{s:s,s:I}", "N", dec ? dec : "", "E", (json_int_t)BN_get_word(eb));
        OPENSSL_free(dec);
      }
      BN_free(nb);
      BN_free(eb);
    }
  }
  json_object_set_new(o, "PublicKeyAlgorithm", json_integer(alg));
  json_object_set_new(o, "PublicKey", pub ? pub : json_null());
}

static json_t *serial(const ASN1_INTEGER *s) {
  BIGNUM *bn = ASN1_INTEGER_to_BN(s, NULL);
  if (!bn) return json_null();
  json_t *r;
  if (BN_num_bits(bn) <= 53) {
    r = json_integer((json_int_t)BN_get_word(bn) * (BN_is_negative(bn) ? -1 : 1));
  } else { /* Go's big.Int marshals as a bare number; keep the digits exact */
    char *dec = BN_bn2dec(bn);
    r = json_real(strtod(dec ? dec : "0", NULL));
    OPENSSL_free(dec);
  }
  BN_free(bn);
  return r;
}

static json_t *decode_cert(X509 *x) {
  json_t *o = json_object();
  if (!o) return NULL;
  json_object_set_new(o, "Raw", DER_B64(i2d_X509, x));
  json_object_set_new(o, "RawTBSCertificate", DER_B64(i2d_re_X509_tbs, x));
  json_object_set_new(o, "RawSubjectPublicKeyInfo", DER_B64(i2d_X509_PUBKEY, X509_get_X509_PUBKEY(x)));
  json_object_set_new(o, "RawSubject", DER_B64(i2d_X509_NAME, X509_get_subject_name(x)));
  json_object_set_new(o, "RawIssuer", DER_B64(i2d_X509_NAME, X509_get_issuer_name(x)));
  const ASN1_BIT_STRING *sig = NULL;
  X509_get0_signature(&sig, NULL, x);
  json_object_set_new(o, "Signature", sig ? b64(ASN1_STRING_get0_data(sig), ASN1_STRING_length(sig)) : json_null());
  json_object_set_new(o, "SignatureAlgorithm", json_integer(go_sig_alg(X509_get_signature_nid(x))));
  json_object_set_new(o, "Version", json_integer(X509_get_version(x) + 1));
  json_object_set_new(o, "SerialNumber", serial(X509_get0_serialNumber(x)));
  json_object_set_new(o, "Issuer", name_obj(X509_get_issuer_name(x)));
  json_object_set_new(o, "Subject", name_obj(X509_get_subject_name(x)));
  json_object_set_new(o, "NotBefore", asn1_time(X509_get0_notBefore(x)));
  json_object_set_new(o, "NotAfter", asn1_time(X509_get0_notAfter(x)));
  /* Go's KeyUsage bits are OpenSSL's in reverse bit order within the
   * DER bit string: digitalSignature = 1 << 0, ... */
  uint32_t ku = X509_get_key_usage(x), gku = 0;
  if (ku != UINT32_MAX) {
    static const uint32_t map[][2] = {
        {KU_DIGITAL_SIGNATURE, 1}, {KU_NON_REPUDIATION, 2}, {KU_KEY_ENCIPHERMENT, 4},
        {KU_DATA_ENCIPHERMENT, 8}, {KU_KEY_AGREEMENT, 16},  {KU_KEY_CERT_SIGN, 32},
        {KU_CRL_SIGN, 64},         {KU_ENCIPHER_ONLY, 128}, {KU_DECIPHER_ONLY, 256}};
    for (size_t i = 0; i < IDP_ARRAY_LEN(map); i++)
      if (ku & map[i][0]) gku |= map[i][1];
  }
  json_object_set_new(o, "KeyUsage", json_integer(gku));
  json_object_set_new(o, "Extensions", extensions(X509_get0_extensions(x)));
  json_object_set_new(o, "ExtraExtensions", json_null());
  json_object_set_new(o, "UnhandledCriticalExtensions", json_null());
  json_object_set_new(o, "ExtKeyUsage", ext_key_usage(x));
  json_object_set_new(o, "UnknownExtKeyUsage", json_null());
  uint32_t flags = X509_get_extension_flags(x);
  bool bc = (flags & EXFLAG_BCONS) != 0;
  json_object_set_new(o, "BasicConstraintsValid", json_boolean(bc));
  json_object_set_new(o, "IsCA", json_boolean(bc && (flags & EXFLAG_CA)));
  long pl = X509_get_pathlen(x);
  json_object_set_new(o, "MaxPathLen", json_integer(pl >= 0 ? pl : bc ? -1 : 0));
  json_object_set_new(o, "MaxPathLenZero", json_boolean(bc && pl == 0));
  const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(x);
  json_object_set_new(o, "SubjectKeyId", skid ? b64(ASN1_STRING_get0_data(skid), ASN1_STRING_length(skid)) : json_null());
  const ASN1_OCTET_STRING *akid = X509_get0_authority_key_id(x);
  json_object_set_new(o, "AuthorityKeyId", akid ? b64(ASN1_STRING_get0_data(akid), ASN1_STRING_length(akid)) : json_null());
  static const char *const nulls[] = {"OCSPServer", "IssuingCertificateURL", "PermittedDNSDomains",
                                      "ExcludedDNSDomains", "PermittedIPRanges", "ExcludedIPRanges",
                                      "PermittedEmailAddresses", "ExcludedEmailAddresses",
                                      "PermittedURIDomains", "ExcludedURIDomains",
                                      "CRLDistributionPoints", "PolicyIdentifiers"};
  for (size_t i = 0; i < IDP_ARRAY_LEN(nulls); i++) json_object_set_new(o, nulls[i], json_null());
  json_object_set_new(o, "PermittedDNSDomainsCritical", json_false());
  GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
  add_sans(o, gens);
  GENERAL_NAMES_free(gens);
  add_pubkey(o, X509_get0_pubkey(x));
  return o;
}

static json_t *decode_csr(X509_REQ *r) {
  json_t *o = json_object();
  if (!o) return NULL;
  json_object_set_new(o, "Raw", DER_B64(i2d_X509_REQ, r));
  json_object_set_new(o, "RawTBSCertificateRequest", DER_B64(i2d_re_X509_REQ_tbs, r));
  json_object_set_new(o, "RawSubjectPublicKeyInfo", DER_B64(i2d_X509_PUBKEY, X509_REQ_get_X509_PUBKEY(r)));
  json_object_set_new(o, "RawSubject", DER_B64(i2d_X509_NAME, X509_REQ_get_subject_name(r)));
  const ASN1_BIT_STRING *sig = NULL;
  X509_REQ_get0_signature(r, &sig, NULL);
  json_object_set_new(o, "Signature", sig ? b64(ASN1_STRING_get0_data(sig), ASN1_STRING_length(sig)) : json_null());
  json_object_set_new(o, "SignatureAlgorithm", json_integer(go_sig_alg(X509_REQ_get_signature_nid(r))));
  json_object_set_new(o, "Version", json_integer(X509_REQ_get_version(r)));
  json_object_set_new(o, "Subject", name_obj(X509_REQ_get_subject_name(r)));
  json_object_set_new(o, "Attributes", json_null());
  json_object_set_new(o, "ExtraExtensions", json_null());
  STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(r);
  json_object_set_new(o, "Extensions", extensions(exts));
  GENERAL_NAMES *gens = exts ? X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL) : NULL;
  add_sans(o, gens);
  GENERAL_NAMES_free(gens);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  add_pubkey(o, X509_REQ_get0_pubkey(r));
  return o;
}

JP_KFN(jp_k_x509_decode) {
  IDP_UNUSED(n);
  const char *in = json_string_value(a[0].v);
  size_t len = json_string_length(a[0].v);
  if (len > (1 << 20)) return jp_kerr(c, "x509_decode", "input too large");
  char *pem = malloc(len + 1);
  if (!pem) return JP_OOM(c);
  bool escaped = !memchr(in, '\n', len) && strstr(in, "\\n");
  size_t w = 0;
  for (size_t i = 0; i < len; i++) {
    if (escaped && in[i] == '\\' && i + 1 < len && in[i + 1] == 'n') {
      pem[w++] = '\n';
      i++;
    } else {
      pem[w++] = in[i];
    }
  }
  pem[w] = '\0';
  BIO *bio = BIO_new_mem_buf(pem, (int)w);
  if (!bio) {
    free(pem);
    return JP_OOM(c);
  }
  json_t *r = NULL;
  idp_code rc = IDP_OK;
  if (strstr(pem, "-----BEGIN CERTIFICATE REQUEST-----")) {
    X509_REQ *req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
    if (req) r = decode_csr(req);
    X509_REQ_free(req);
  } else if (strstr(pem, "-----BEGIN CERTIFICATE-----")) {
    X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (x) r = decode_cert(x);
    X509_free(x);
  } else {
    rc = jp_kerr(c, "x509_decode", "failed to decode PEM block");
  }
  BIO_free(bio);
  free(pem);
  if (rc) return rc;
  if (!r) return jp_kerr(c, "x509_decode", "failed to parse certificate");
  if (json_integer_value(json_object_get(r, "PublicKeyAlgorithm")) != 1) {
    json_decref(r);
    return jp_kerr(c, "x509_decode", "certificate should use rsa algorithm");
  }
  *out = r;
  return IDP_OK;
}
