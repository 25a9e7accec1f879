/* policy.h: cert-manager's issuance policy chain (the trigger controller's
 * policies.Chain): given a Certificate spec and its Secret, whether to
 * issue and why.  Pure (no API calls), unit-tested in
 * tests/unit/certs_controller/test_policy.c.
 *
 * Order (first match wins): DoesNotExist, MissingData (no data, no key, no
 * certificate), InvalidKeyPair (unparsable key), InvalidCertificate,
 * InvalidKeyPair (key does not match the certificate), SecretMismatch
 * (key algorithm/size differ from spec.privateKey), IncorrectIssuer (the
 * Secret's issuer annotations name another issuer), IncorrectCertificate
 * (annotated for another Certificate), SecretMismatch (issued certificate
 * differs from the spec: names, subject, isCA, usages, duration), Expired,
 * Renewing (renewalTime reached). */
#ifndef IDP_CERTS_CONTROLLER_POLICY_H
#define IDP_CERTS_CONTROLLER_POLICY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "certs/controller/spec.h"

/* `secret` may be NULL (absent); crt/key are its decoded tls.crt/tls.key
 * (NULL when absent).  Returns NULL when the Secret is up to date, else the
 * reason (a static string) with cert-manager's message in msg.  *facts gets
 * a new reference to the issued certificate's facts (idp_cm_cert_facts)
 * whenever the certificate parses, else NULL. */
const char *idp_cm_evaluate(const idp_cm_cert_spec *s, const json_t *secret, const char *crt,
                            const char *key, json_t **facts, int64_t now, char *msg, size_t n);

#endif
