/* pki.h: X.509 helpers over OpenSSL 3 (keys, CAs, issued certificates).
 *
 * Everything crosses this interface as PEM text: keys and certificates are
 * malloc'd NUL-terminated strings the caller frees.  Nothing here touches
 * global OpenSSL state beyond what OpenSSL initialises itself.
 *
 * Two layers:
 *  - idp_pki_key_new / idp_pki_issue: general issuance from a CSR-like spec
 *    (subject, SANs, validity, usages, CA flag) signed by a CA key, or
 *    self-signed.  The subject public key comes from a private key PEM, a
 *    public key PEM, or a PKCS#10 CSR PEM.  (cert-manager compatibility
 *    builds on this.)
 *  - idp_pki_ensure_serving: the embedded API server's material in a data
 *    directory: ca.crt/ca.key (ECDSA P-256, 10 years) and
 *    server.crt/server.key for 127.0.0.1, ::1, localhost and extra names,
 *    written 0600 at first start and reused after (the serving certificate is
 *    re-issued when it misses a requested name or expires within 30 days).
 */
#ifndef IDP_CERTS_PKI_H
#define IDP_CERTS_PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef enum idp_pki_alg {
  IDP_PKI_ECDSA_P256 = 0,
  IDP_PKI_ECDSA_P384,
  IDP_PKI_RSA, /* bits from idp_pki_key_new's `bits` (0 = 2048) */
  IDP_PKI_ED25519,
} idp_pki_alg;

/* New private key as PKCS#8 PEM (*key_pem malloc'd). */
idp_code idp_pki_key_new(idp_pki_alg alg, int bits, char **key_pem, idp_err *e);

/* Key usages (bit set). */
enum {
  IDP_PKI_USE_DIGITAL_SIGNATURE = 1 << 0,
  IDP_PKI_USE_KEY_ENCIPHERMENT = 1 << 1,
  IDP_PKI_USE_CERT_SIGN = 1 << 2,
  IDP_PKI_USE_CRL_SIGN = 1 << 3,
  IDP_PKI_USE_SERVER_AUTH = 1 << 8, /* extended */
  IDP_PKI_USE_CLIENT_AUTH = 1 << 9, /* extended */
};

typedef struct idp_pki_spec {
  const char *common_name;               /* may be NULL */
  const char *const *organizations;      /* NULL-terminated or NULL */
  const char *const *dns_names;          /* NULL-terminated or NULL */
  const char *const *ip_addresses;       /* NULL-terminated or NULL ("127.0.0.1", "::1") */
  const char *const *uris;               /* NULL-terminated or NULL */
  const char *const *emails;             /* NULL-terminated or NULL */
  int64_t not_before;                    /* unix seconds; 0 = now - 5 minutes */
  int64_t duration_seconds;              /* 0 = 90 days */
  bool is_ca;
  int path_len;                          /* CA only; -1 = unlimited */
  unsigned usages;                       /* 0 = digital signature + key encipherment + server auth */
  /* The subject's public key: exactly one of these.  When csr_pem is given
   * its signature is verified; the spec's names are used, not the CSR's
   * (the caller decides what to copy from idp_pki_csr_info). */
  const char *key_pem;                   /* private or public key PEM */
  const char *csr_pem;
} idp_pki_spec;

/* Issues a certificate for spec signed by (ca_cert_pem, ca_key_pem), or
 * self-signed with spec->key_pem (a private key) when ca_cert_pem is NULL.
 * *cert_pem malloc'd.  Serial numbers are 128 random bits. */
idp_code idp_pki_issue(const idp_pki_spec *spec, const char *ca_cert_pem, const char *ca_key_pem,
                       char **cert_pem, idp_err *e);

/* Convenience: a new self-signed CA (key + certificate), `years` valid. */
idp_code idp_pki_ca_new(const char *common_name, int years, idp_pki_alg alg, char **cert_pem,
                        char **key_pem, idp_err *e);

/* Facts about a certificate PEM (first certificate in the text). */
typedef struct idp_pki_cert_info {
  int64_t not_before, not_after; /* unix seconds */
  bool is_ca;
  char common_name[256];
  char serial_hex[80];
} idp_pki_cert_info;

idp_code idp_pki_cert_info_get(const char *cert_pem, idp_pki_cert_info *info, idp_err *e);

/* True when the certificate's SANs cover `name` (an IP literal is matched
 * against IP SANs, anything else against DNS SANs, exact match). */
bool idp_pki_cert_covers(const char *cert_pem, const char *name);

/* Verifies that cert_pem was signed by ca_cert_pem (and is within validity). */
idp_code idp_pki_verify(const char *cert_pem, const char *ca_cert_pem, idp_err *e);

/* The serving material of the embedded API server (all malloc'd PEM). */
typedef struct idp_pki_serving {
  char *ca_cert, *ca_key, *cert, *key;
} idp_pki_serving;

/* Loads or creates DIR/ca.crt, ca.key, server.crt, server.key (0600).
 * extra_names: NULL-terminated DNS names or IPs to include besides
 * 127.0.0.1, ::1 and localhost (may be NULL). */
idp_code idp_pki_ensure_serving(const char *dir, const char *const *extra_names,
                                idp_pki_serving *out, idp_err *e);
void idp_pki_serving_free(idp_pki_serving *s);

/* Writes `data` to `path` atomically with mode 0600 (temp file + rename). */
idp_code idp_pki_write_private(const char *path, const char *data, size_t len, idp_err *e);

#endif
