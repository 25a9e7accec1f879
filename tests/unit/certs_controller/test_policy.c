#include "../test.h"

#include <time.h>

#include "certs/controller/issue.h"
#include "certs/controller/policy.h"

static json_t *cert_obj(const char *spec_json) {
  char buf[2048];
  snprintf(buf, sizeof buf, "{\"metadata\":{\"name\":\"web\",\"namespace\":\"ns\"},\"spec\":%s}", spec_json);
  json_t *o = json_loads(buf, 0, NULL);
  assert_non_null(o);
  return o;
}

#define SPEC_BASE                                                                                     \
  "\"secretName\":\"web-tls\",\"commonName\":\"web.example\",\"dnsNames\":[\"web.example\"],"         \
  "\"privateKey\":{\"algorithm\":\"ECDSA\"},\"issuerRef\":{\"name\":\"ca\",\"kind\":\"ClusterIssuer\"}"

/* A Secret as the controller writes it (data values are placeholders: the
 * chain reads the decoded crt/key passed separately). */
static json_t *secret_obj(const char *cert_name, const char *issuer_name) {
  return json_pack("{s:{s:s,s:{s:s,s:s,s:s,s:s}},s:{s:s,s:s}}", "metadata", "name", "web-tls", "annotations",
                   "cert-manager.io/certificate-name", cert_name, "cert-manager.io/issuer-name", issuer_name,
                   "cert-manager.io/issuer-kind", "ClusterIssuer", "cert-manager.io/issuer-group",
                   "cert-manager.io", "data", "tls.crt", "x", "tls.key", "y");
}

static void test_chain(void **state) {
  (void)state;
  idp_err e = IDP_ERR_INIT;
  int64_t now = (int64_t)time(NULL);
  json_t *co = cert_obj("{" SPEC_BASE ",\"duration\":\"2h\",\"renewBefore\":\"30m\"}");
  idp_cm_cert_spec s;
  assert_int_equal(idp_cm_cert_spec_parse(co, &s, &e), IDP_OK);
  char *key, *crt, *ca, *other_key;
  assert_int_equal(idp_cm_key_new(s.key_alg, s.key_size, s.key_enc, &key, &e), IDP_OK);
  assert_int_equal(idp_cm_key_new(s.key_alg, s.key_size, s.key_enc, &other_key, &e), IDP_OK);
  assert_int_equal(idp_cm_sign(&s, key, NULL, NULL, now, &crt, &ca, &e), IDP_OK);
  json_t *good = secret_obj("web", "ca"), *empty = json_pack("{s:{s:s},s:{}}", "metadata", "name", "web-tls", "data");
  json_t *wrong_issuer = secret_obj("web", "other-ca"), *wrong_cert = secret_obj("other-cert", "ca");

  json_t *rsa_o = cert_obj("{" SPEC_BASE ",\"duration\":\"2h\",\"privateKey\":{\"algorithm\":\"RSA\"}}");
  idp_cm_cert_spec rsa;
  assert_int_equal(idp_cm_cert_spec_parse(rsa_o, &rsa, &e), IDP_OK);
  json_t *dns_o = cert_obj("{\"secretName\":\"web-tls\",\"commonName\":\"web.example\",\"dnsNames\":[\"web.example\","
                           "\"new.example\"],\"duration\":\"2h\",\"privateKey\":{\"algorithm\":\"ECDSA\"},"
                           "\"issuerRef\":{\"name\":\"ca\",\"kind\":\"ClusterIssuer\"}}");
  idp_cm_cert_spec dns;
  assert_int_equal(idp_cm_cert_spec_parse(dns_o, &dns, &e), IDP_OK);

  const struct {
    const char *name;
    const idp_cm_cert_spec *spec;
    const json_t *secret;
    const char *crt, *key;
    int64_t now;
    const char *reason, *msg; /* reason NULL: up to date */
  } t[] = {
      {"no Secret", &s, NULL, NULL, NULL, now, "DoesNotExist", "Secret does not exist"},
      {"no data", &s, empty, NULL, NULL, now, "MissingData", "does not contain any data"},
      {"no key", &s, good, crt, NULL, now, "MissingData", "does not contain a private key"},
      {"no certificate", &s, good, NULL, key, now, "MissingData", "does not contain a certificate"},
      {"garbage key", &s, good, crt, "junk", now, "InvalidKeyPair", "invalid private key data"},
      {"garbage certificate", &s, good, "junk", key, now, "InvalidCertificate", "an invalid certificate"},
      {"foreign key", &s, good, crt, other_key, now, "InvalidKeyPair", "does not match the certificate"},
      {"key algorithm changed", &rsa, good, crt, key, now, "SecretMismatch", "spec.privateKey.algorithm"},
      {"other issuer", &s, wrong_issuer, crt, key, now, "IncorrectIssuer", "ClusterIssuer.cert-manager.io/other-ca"},
      {"other Certificate", &s, wrong_cert, crt, key, now, "IncorrectCertificate", "other-cert"},
      {"dnsNames changed", &dns, good, crt, key, now, "SecretMismatch", "spec.dnsNames"},
      {"renewal time reached", &s, good, crt, key, now + 5400, "Renewing", "renewal was scheduled"},
      {"expired", &s, good, crt, key, now + 7201, "Expired", "Certificate expired on"},
      {"up to date", &s, good, crt, key, now, NULL, NULL},
      {"up to date just before renewal", &s, good, crt, key, now + 5399, NULL, NULL},
  };
  for (size_t i = 0; i < IDP_ARRAY_LEN(t); i++) {
    char msg[1024] = "";
    json_t *facts = NULL;
    const char *r = idp_cm_evaluate(t[i].spec, t[i].secret, t[i].crt, t[i].key, &facts, t[i].now, msg, sizeof msg);
    if ((r == NULL) != (t[i].reason == NULL) || (r && strcmp(r, t[i].reason) != 0))
      fail_msg("%s: reason %s, want %s (%s)", t[i].name, r ? r : "(none)", t[i].reason ? t[i].reason : "(none)", msg);
    if (t[i].msg && !strstr(msg, t[i].msg)) fail_msg("%s: message \"%s\" lacks \"%s\"", t[i].name, msg, t[i].msg);
    if (!t[i].reason) assert_non_null(facts);
    json_decref(facts);
  }
  json_decref(good);
  json_decref(empty);
  json_decref(wrong_issuer);
  json_decref(wrong_cert);
  json_decref(rsa_o);
  json_decref(dns_o);
  json_decref(co);
  free(key);
  free(other_key);
  free(crt);
  free(ca);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_chain)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
