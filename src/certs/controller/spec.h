/* spec.h: the pure part of the cert-manager compatible controller — Go
 * durations and RFC 3339 times, the Certificate spec with cert-manager's
 * defaults, renewal arithmetic, the key-usage table, and conditions.
 *
 * Nothing here talks to the API or to OpenSSL, so every rule is unit-tested
 * from tables (tests/unit/certs_controller/test_spec.c).
 *
 * Ownership.  idp_cm_cert_spec BORROWS from the Certificate object it was
 * parsed from (strings and arrays point into it): keep the object alive
 * (a reference) while the spec is used.  Durations are nanoseconds (Go's
 * time.Duration), times are unix seconds. */
#ifndef IDP_CERTS_CONTROLLER_SPEC_H
#define IDP_CERTS_CONTROLLER_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define IDP_CM_GROUP "cert-manager.io"
#define IDP_CM_NS_PER_S INT64_C(1000000000)
/* cert-manager's defaults and limits (pkg/apis/certmanager/v1). */
#define IDP_CM_DEFAULT_DURATION (INT64_C(2160) * 3600 * IDP_CM_NS_PER_S) /* 90 days */
#define IDP_CM_MIN_DURATION (INT64_C(3600) * IDP_CM_NS_PER_S)            /* 1h */
#define IDP_CM_MIN_RENEW_BEFORE (INT64_C(300) * IDP_CM_NS_PER_S)         /* 5m */

/* ---- Go durations and RFC 3339 times --------------------------------- */

/* Go's time.ParseDuration: "2160h", "1h30m", "59m50s", "1.5h", "300ms",
 * "-1h", units ns us µs ms s m h (no "d": cert-manager#1269).  IDP_EINVAL
 * with the text in the message. */
idp_code idp_cm_duration_parse(const char *s, int64_t *ns, idp_err *e);
/* Go's Duration.String(): 2160h0m0s, 59m50s, 1.5s, 300ms, 0s. */
void idp_cm_duration_format(int64_t ns, char *buf, size_t n);

/* "2006-01-02T15:04:05Z" (UTC, seconds), as metav1.Time serialises. */
void idp_cm_time_format(int64_t unix_s, char *buf, size_t n);
/* RFC 3339 with 'Z' or an offset, optional fraction; IDP_EINVAL if not. */
idp_code idp_cm_time_parse(const char *s, int64_t *unix_s, idp_err *e);

/* ---- Renewal ----------------------------------------------------------- */

/* How long before expiry to renew (pki.RenewBefore): renewBefore when
 * 0 < renewBefore < lifetime, else renewBeforePercentage of the lifetime
 * when 0 < pct < 100, else a third of the lifetime.  0 = unset. */
int64_t idp_cm_renew_before(int64_t lifetime_ns, int64_t renew_before_ns, int pct);
/* notAfter - renewBefore, truncated to the second (pki.RenewalTime). */
int64_t idp_cm_renewal_time(int64_t not_before, int64_t not_after, int64_t renew_before_ns,
                            int pct);

/* ---- Key usages ------------------------------------------------------- */

/* X.509 keyUsage bits (RFC 5280 order) and extended key usages; issue.c maps
 * them to OpenSSL. */
enum {
  IDP_CM_KU_DIGITAL_SIGNATURE = 1u << 0,
  IDP_CM_KU_CONTENT_COMMITMENT = 1u << 1,
  IDP_CM_KU_KEY_ENCIPHERMENT = 1u << 2,
  IDP_CM_KU_DATA_ENCIPHERMENT = 1u << 3,
  IDP_CM_KU_KEY_AGREEMENT = 1u << 4,
  IDP_CM_KU_CERT_SIGN = 1u << 5,
  IDP_CM_KU_CRL_SIGN = 1u << 6,
  IDP_CM_KU_ENCIPHER_ONLY = 1u << 7,
  IDP_CM_KU_DECIPHER_ONLY = 1u << 8,
};
enum {
  IDP_CM_EKU_ANY = 1u << 0,
  IDP_CM_EKU_SERVER_AUTH = 1u << 1,
  IDP_CM_EKU_CLIENT_AUTH = 1u << 2,
  IDP_CM_EKU_CODE_SIGNING = 1u << 3,
  IDP_CM_EKU_EMAIL_PROTECTION = 1u << 4,
  IDP_CM_EKU_IPSEC_END_SYSTEM = 1u << 5,
  IDP_CM_EKU_IPSEC_TUNNEL = 1u << 6,
  IDP_CM_EKU_IPSEC_USER = 1u << 7,
  IDP_CM_EKU_TIMESTAMPING = 1u << 8,
  IDP_CM_EKU_OCSP_SIGNING = 1u << 9,
  IDP_CM_EKU_MICROSOFT_SGC = 1u << 10,
  IDP_CM_EKU_NETSCAPE_SGC = 1u << 11,
};

typedef struct idp_cm_usages {
  unsigned ku, eku;
} idp_cm_usages;

/* spec.usages -> bits, as cert-manager's BuildKeyUsages: empty means
 * "digital signature, key encipherment"; isCA adds "cert sign".  `usages`
 * may be NULL.  IDP_EINVALID naming the unknown usage. */
idp_code idp_cm_usages_build(const json_t *usages, bool is_ca, idp_cm_usages *out, idp_err *e);
/* One usage name ("server auth") -> bits; false when unknown. */
bool idp_cm_usage_lookup(const char *name, idp_cm_usages *out);

/* ---- Certificate spec ------------------------------------------------- */

typedef enum { IDP_CM_KEY_RSA, IDP_CM_KEY_ECDSA, IDP_CM_KEY_ED25519 } idp_cm_key_alg;
typedef enum { IDP_CM_ENC_PKCS1, IDP_CM_ENC_PKCS8 } idp_cm_key_enc;

/* Subject attributes: spec.subject field -> OpenSSL short name. */
typedef struct idp_cm_subject_field {
  const char *field; /* "organizations" */
  const char *sn;    /* "O" */
  const char *annotation; /* cert-manager.io/subject-... */
} idp_cm_subject_field;
extern const idp_cm_subject_field idp_cm_subject_fields[];
extern const size_t idp_cm_subject_fields_len;

typedef struct idp_cm_cert_spec {
  const char *name, *ns;         /* metadata */
  const char *secret_name;
  const char *common_name;       /* NULL when unset */
  const json_t *dns_names, *ip_addresses, *uris, *emails; /* string arrays or NULL */
  const json_t *subject;         /* object or NULL */
  int64_t duration_ns;           /* defaulted */
  int64_t renew_before_ns;       /* 0 = unset */
  int renew_before_pct;          /* 0 = unset */
  bool is_ca;
  idp_cm_key_alg key_alg;
  int key_size;                  /* defaulted: RSA 2048, ECDSA 256, Ed25519 0 */
  idp_cm_key_enc key_enc;
  bool rotate_always;            /* rotationPolicy Always (default since v1.18) */
  idp_cm_usages usages;
  const char *issuer_name, *issuer_kind, *issuer_group; /* kind/group defaulted */
  const json_t *tmpl_labels, *tmpl_annotations;           /* secretTemplate, or NULL */
  bool out_combined_pem;         /* additionalOutputFormats CombinedPEM: tls-combined.pem */
  bool out_der;                  /* additionalOutputFormats DER: key.der */
} idp_cm_cert_spec;

/* Parses and validates a Certificate object (cert-manager's webhook rules
 * that matter here).  IDP_EINVALID with "spec.<field>: <problem>". */
idp_code idp_cm_cert_spec_parse(const json_t *cert, idp_cm_cert_spec *out, idp_err *e);

/* Number of strings in a string array (0 for NULL). */
size_t idp_cm_strs_len(const json_t *arr);
/* True when the two string lists hold the same set (order and duplicates
 * ignored).  Either may be NULL (= empty). */
bool idp_cm_strs_same_set(const json_t *a, const json_t *b);

/* ---- Conditions -------------------------------------------------------- */

/* Sets condition `type` in the array `conds` (created when NULL; returns
 * the array, new reference when it created one, else the same borrowed
 * pointer): lastTransitionTime is kept when the status does not change.
 * `now` unix seconds; observed_generation < 0 omits the field. */
json_t *idp_cm_condition_set(json_t *conds, const char *type, const char *status,
                             const char *reason, const char *message, int64_t observed_generation,
                             int64_t now);
/* Removes condition `type` (no-op when absent). */
void idp_cm_condition_remove(json_t *conds, const char *type);
/* Borrowed condition `type` of obj.status.conditions, or NULL. */
const json_t *idp_cm_condition_get(const json_t *obj, const char *type);
/* True when obj has condition Ready=True with observedGeneration (if present)
 * equal to metadata.generation. */
bool idp_cm_is_ready(const json_t *obj);

#endif
