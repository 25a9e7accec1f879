/* issue.h: cert-manager compatible issuance over OpenSSL 3 — private keys
 * per spec.privateKey, certificates per Certificate spec (full subject,
 * SANs, usages, isCA), signed self or by a CA key pair, and the checks the
 * controller runs on an issued Secret (key pair matches, key matches the
 * spec, certificate matches the spec, CA verification).
 *
 * A more general signer than certs/pki.h (which serves the API server's own
 * material): any subject attribute, every cert-manager key usage, P-521,
 * PKCS#1/SEC1 or PKCS#8 key encoding, no backdated notBefore.
 *
 * Everything crosses as PEM text; returned strings are malloc'd and the
 * caller frees them.  Thread-safe (no shared state).  Key material never
 * reaches an error message. */
#ifndef IDP_CERTS_CONTROLLER_ISSUE_H
#define IDP_CERTS_CONTROLLER_ISSUE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "certs/controller/spec.h"
#include "core/err.h"

/* A new private key of (alg, size) in `enc` (PKCS1 = "RSA PRIVATE KEY" /
 * SEC1 "EC PRIVATE KEY"; Ed25519 is always PKCS#8). */
idp_code idp_cm_key_new(idp_cm_key_alg alg, int size, idp_cm_key_enc enc, char **pem, idp_err *e);

/* Re-encodes a private key PEM in `enc` (*pem malloc'd). */
idp_code idp_cm_key_encode(const char *key_pem, idp_cm_key_enc enc, char **pem, idp_err *e);

/* The DER bytes of a PEM private key as written (PKCS#1/SEC1 or PKCS#8,
 * like the PEM), for additionalOutputFormats DER (*der malloc'd). */
idp_code idp_cm_key_der(const char *key_pem, unsigned char **der, size_t *len, idp_err *e);

/* Describes a private key: algorithm and size (RSA bits, EC curve bits), and
 * its PEM encoding.  IDP_EINVALID when it is not a private key PEM. */
typedef struct idp_cm_key_info {
  idp_cm_key_alg alg;
  int size;
  idp_cm_key_enc enc;
} idp_cm_key_info;
idp_code idp_cm_key_info_get(const char *key_pem, idp_cm_key_info *out, idp_err *e);

/* Signs a certificate for `spec` with subject key `key_pem`:
 *   ca_chain_pem NULL  -> self-signed (selfSigned issuer);
 *   otherwise          -> signed by the first certificate of ca_chain_pem
 *                         with ca_key_pem (CA issuer).
 * notBefore = now, notAfter = now + spec->duration (cert-manager does not
 * backdate).  Outputs (malloc'd PEM): *chain = leaf followed by the CA
 * chain with a self-signed root removed; *ca = that root, or the top-most
 * certificate when the chain has no root; for self-signed both are the
 * leaf. */
idp_code idp_cm_sign(const idp_cm_cert_spec *spec, const char *key_pem, const char *ca_chain_pem,
                     const char *ca_key_pem, int64_t now, char **chain, char **ca, idp_err *e);

/* A CA key pair as a CA issuer needs it: tls.crt parses, is a CA
 * (basicConstraints CA:TRUE), tls.key parses and matches.  Messages follow
 * cert-manager ("certificate is not a CA").  *invalid (may be NULL) is set
 * when the data parsed but is not a usable CA (ErrInvalidKeyPair) rather
 * than missing/unparsable (ErrGetKeyPair). */
idp_code idp_cm_check_ca(const char *cert_pem, const char *key_pem, bool *invalid, idp_err *e);

/* True when the private key's public half is the certificate's public key. */
bool idp_cm_keypair_match(const char *cert_pem, const char *key_pem);

/* Facts of the first certificate in cert_pem, for status and annotations:
 * a new JSON object {"commonName", "dnsNames":[], "ipAddresses":[], "uris":[],
 * "emailAddresses":[], "subject":{field:[...]} (spec.subject names),
 * "isCA", "notBefore", "notAfter" (unix s), "keyUsage", "extKeyUsage" (bits,
 * idp_cm_usages)}.  IDP_EINVALID when not a certificate. */
idp_code idp_cm_cert_facts(const char *cert_pem, json_t **out, idp_err *e);

/* Compares issued-certificate facts with the spec, as cert-manager does
 * when deciding to re-issue; appends the names of the differing fields
 * ("spec.dnsNames", "spec.commonName", ...) space-separated to buf, returns
 * how many differ (0 = up to date). */
int idp_cm_cert_mismatches(const json_t *facts, const idp_cm_cert_spec *spec, char *buf, size_t n);

/* Compares a key with spec.privateKey (algorithm and size, as
 * pki.PrivateKeyMatchesSpec); appends the differing fields, returns count. */
int idp_cm_key_mismatches(const idp_cm_key_info *k, const idp_cm_cert_spec *spec, char *buf, size_t n);

/* Verifies cert_pem against the trust anchor ca_pem (chain in between taken
 * from cert_pem's following certificates). */
idp_code idp_cm_verify(const char *cert_pem, const char *ca_pem, idp_err *e);

#endif
