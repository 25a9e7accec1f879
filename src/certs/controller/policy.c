#include "core/common.h"

#include "certs/controller/issue.h"
#include "certs/controller/policy.h"
#include "core/json.h"

#define ANN "cert-manager.io/"

static const char *str_or(const char *s, const char *d) { return s && *s ? s : d; }

/* cert-manager's issuance policy chain over the current Secret.  Returns
 * NULL (reason) when the Secret is up to date; *facts gets the issued
 * certificate's facts when it parses. */
const char *idp_cm_evaluate(const idp_cm_cert_spec *s, const json_t *secret, const char *crt,
                            const char *key, json_t **facts, int64_t now, char *msg, size_t n) {
  *facts = NULL;
  if (!secret) {
    snprintf(msg, n, "Issuing certificate as Secret does not exist");
    return "DoesNotExist";
  }
  if (!json_object_size(json_object_get(secret, "data"))) {
    snprintf(msg, n, "Issuing certificate as Secret does not contain any data");
    return "MissingData";
  }
  if (!key) {
    snprintf(msg, n, "Issuing certificate as Secret does not contain a private key");
    return "MissingData";
  }
  if (!crt) {
    snprintf(msg, n, "Issuing certificate as Secret does not contain a certificate");
    return "MissingData";
  }
  idp_cm_key_info ki;
  idp_err e = IDP_ERR_INIT;
  if (idp_cm_key_info_get(key, &ki, &e)) {
    snprintf(msg, n, "Issuing certificate as Secret contains invalid private key data: %s", e.msg);
    return "InvalidKeyPair";
  }
  if (idp_cm_cert_facts(crt, facts, &e)) {
    snprintf(msg, n, "Issuing certificate as Secret contains an invalid certificate: %s", e.msg);
    return "InvalidCertificate";
  }
  if (!idp_cm_keypair_match(crt, key)) {
    snprintf(msg, n, "Issuing certificate as Secret contains a private key that does not match the certificate");
    return "InvalidKeyPair";
  }
  char why[512];
  if (idp_cm_key_mismatches(&ki, s, why, sizeof why)) {
    snprintf(msg, n, "Existing private key is not up to date for spec: [%s]", why);
    return "SecretMismatch";
  }
  const json_t *anns = idp_json_get(secret, "metadata", "annotations", NULL);
  const char *an = json_string_value(json_object_get(anns, ANN "issuer-name"));
  const char *ak = json_string_value(json_object_get(anns, ANN "issuer-kind"));
  const char *ag = json_string_value(json_object_get(anns, ANN "issuer-group"));
  if ((an || ak || ag) && (strcmp(str_or(an, ""), s->issuer_name) != 0 ||
                           strcmp(str_or(ak, "Issuer"), s->issuer_kind) != 0 ||
                           strcmp(str_or(ag, IDP_CM_GROUP), s->issuer_group) != 0)) {
    snprintf(msg, n, "Issuing certificate as Secret was previously issued by \"%s.%s/%s\"",
             str_or(ak, "Issuer"), str_or(ag, IDP_CM_GROUP), str_or(an, ""));
    return "IncorrectIssuer";
  }
  const char *cn = json_string_value(json_object_get(anns, ANN "certificate-name"));
  if (cn && strcmp(cn, s->name) != 0) {
    snprintf(msg, n,
             "Secret was issued for \"%s\". If this message is not transient, you might have two "
             "conflicting Certificates pointing to the same secret.",
             cn);
    return "IncorrectCertificate";
  }
  if (idp_cm_cert_mismatches(*facts, s, why, sizeof why)) {
    snprintf(msg, n, "Issuing certificate as Existing issued Secret is not up to date for spec: [%s]", why);
    return "SecretMismatch";
  }
  int64_t nb = json_integer_value(json_object_get(*facts, "notBefore"));
  int64_t na = json_integer_value(json_object_get(*facts, "notAfter"));
  int64_t rt = idp_cm_renewal_time(nb, na, s->renew_before_ns, s->renew_before_pct);
  if (now > na) {
    char ts[40];
    idp_cm_time_format(na, ts, sizeof ts);
    snprintf(msg, n, "Certificate expired on %s", ts);
    return "Expired";
  }
  if (rt <= now) {
    char ts[40];
    idp_cm_time_format(rt, ts, sizeof ts);
    snprintf(msg, n, "Renewing certificate as renewal was scheduled at %s", ts);
    return "Renewing";
  }
  return NULL;
}

