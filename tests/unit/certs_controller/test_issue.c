#include "../test.h"

#include <time.h>

#include "certs/controller/issue.h"

static json_t *cert_obj(const char *spec_json) {
  char buf[4096];
  snprintf(buf, sizeof buf,
           "{\"metadata\":{\"name\":\"c\",\"namespace\":\"ns\"},\"spec\":%s}", spec_json);
  json_t *o = json_loads(buf, 0, NULL);
  assert_non_null(o);
  return o;
}

static void test_keys(void **state) {
  (void)state;
  static const struct {
    idp_cm_key_alg alg;
    int size;
    idp_cm_key_enc enc;
    const char *header;
  } t[] = {
      {IDP_CM_KEY_RSA, 2048, IDP_CM_ENC_PKCS1, "-----BEGIN RSA PRIVATE KEY-----"},
      {IDP_CM_KEY_RSA, 2048, IDP_CM_ENC_PKCS8, "-----BEGIN PRIVATE KEY-----"},
      {IDP_CM_KEY_ECDSA, 256, IDP_CM_ENC_PKCS1, "-----BEGIN EC PRIVATE KEY-----"},
      {IDP_CM_KEY_ECDSA, 384, IDP_CM_ENC_PKCS8, "-----BEGIN PRIVATE KEY-----"},
      {IDP_CM_KEY_ECDSA, 521, IDP_CM_ENC_PKCS1, "-----BEGIN EC PRIVATE KEY-----"},
      {IDP_CM_KEY_ED25519, 0, IDP_CM_ENC_PKCS1, "-----BEGIN PRIVATE KEY-----"}, /* always PKCS#8 */
      {IDP_CM_KEY_ED25519, 0, IDP_CM_ENC_PKCS8, "-----BEGIN PRIVATE KEY-----"},
  };
  for (size_t i = 0; i < IDP_ARRAY_LEN(t); i++) {
    char *pem = NULL;
    idp_err e = IDP_ERR_INIT;
    assert_int_equal(idp_cm_key_new(t[i].alg, t[i].size, t[i].enc, &pem, &e), IDP_OK);
    assert_non_null(strstr(pem, t[i].header));
    idp_cm_key_info ki;
    assert_int_equal(idp_cm_key_info_get(pem, &ki, &e), IDP_OK);
    assert_int_equal(ki.alg, t[i].alg);
    assert_int_equal(ki.size, t[i].size);
    free(pem);
  }
  char *pem = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_cm_key_new(IDP_CM_KEY_ECDSA, 512, IDP_CM_ENC_PKCS1, &pem, &e), IDP_EINVALID);
  assert_int_equal(idp_cm_key_new(IDP_CM_KEY_RSA, 1024, IDP_CM_ENC_PKCS1, &pem, &e), IDP_EINVALID);
  idp_cm_key_info ki;
  assert_int_equal(idp_cm_key_info_get("not a key", &ki, &e), IDP_EINVALID);
  /* re-encoding keeps the key */
  assert_int_equal(idp_cm_key_new(IDP_CM_KEY_ECDSA, 256, IDP_CM_ENC_PKCS1, &pem, &e), IDP_OK);
  char *p8 = NULL;
  assert_int_equal(idp_cm_key_encode(pem, IDP_CM_ENC_PKCS8, &p8, &e), IDP_OK);
  assert_int_equal(idp_cm_key_info_get(p8, &ki, &e), IDP_OK);
  assert_int_equal(ki.enc, IDP_CM_ENC_PKCS8);
  /* DER output (additionalOutputFormats DER): the PEM's bytes */
  unsigned char *der = NULL;
  size_t dlen = 0;
  assert_int_equal(idp_cm_key_der(p8, &der, &dlen, &e), IDP_OK);
  assert_true(dlen > 100);
  assert_int_equal(der[0], 0x30); /* an ASN.1 SEQUENCE */
  free(der);
  assert_int_equal(idp_cm_key_der("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", &der, &dlen, &e),
                   IDP_EINVALID);
  free(pem);
  free(p8);
}

/* A CA (self-signed) then a leaf signed by it; checks the chain layout,
 * the facts, verification and the spec comparison. */
static void test_sign_chain(void **state) {
  (void)state;
  idp_err e = IDP_ERR_INIT;
  int64_t now = (int64_t)time(NULL);
  json_t *ca_obj = cert_obj("{\"secretName\":\"ca\",\"commonName\":\"idp-demo-ca\",\"isCA\":true,"
                            "\"privateKey\":{\"algorithm\":\"ECDSA\"},\"issuerRef\":{\"name\":\"self\"}}");
  idp_cm_cert_spec ca_spec;
  assert_int_equal(idp_cm_cert_spec_parse(ca_obj, &ca_spec, &e), IDP_OK);
  char *ca_key, *ca_chain, *ca_ca;
  assert_int_equal(idp_cm_key_new(ca_spec.key_alg, ca_spec.key_size, ca_spec.key_enc, &ca_key, &e), IDP_OK);
  assert_int_equal(idp_cm_sign(&ca_spec, ca_key, NULL, NULL, now, &ca_chain, &ca_ca, &e), IDP_OK);
  assert_string_equal(ca_chain, ca_ca); /* self-signed: ca.crt is the certificate */
  assert_int_equal(idp_cm_check_ca(ca_chain, ca_key, NULL, &e), IDP_OK);
  assert_true(idp_cm_keypair_match(ca_chain, ca_key));

  json_t *leaf_obj = cert_obj(
      "{\"secretName\":\"w\",\"commonName\":\"*.127-0-0-1.sslip.io\","
      "\"dnsNames\":[\"*.127-0-0-1.sslip.io\",\"127-0-0-1.sslip.io\"],\"ipAddresses\":[\"127.0.0.1\",\"::1\"],"
      "\"uris\":[\"spiffe://cluster.local/ns/a/sa/b\"],\"emailAddresses\":[\"a@example.com\"],"
      "\"subject\":{\"organizations\":[\"idp\"],\"countries\":[\"FR\"],\"serialNumber\":\"42\"},"
      "\"usages\":[\"server auth\",\"client auth\",\"digital signature\"],\"duration\":\"2160h\","
      "\"privateKey\":{\"algorithm\":\"ECDSA\",\"size\":256},\"issuerRef\":{\"name\":\"ca-issuer\",\"kind\":\"ClusterIssuer\"}}");
  idp_cm_cert_spec s;
  assert_int_equal(idp_cm_cert_spec_parse(leaf_obj, &s, &e), IDP_OK);
  char *key, *chain, *ca;
  assert_int_equal(idp_cm_key_new(s.key_alg, s.key_size, s.key_enc, &key, &e), IDP_OK);
  assert_int_equal(idp_cm_sign(&s, key, ca_chain, ca_key, now, &chain, &ca, &e), IDP_OK);
  assert_string_equal(ca, ca_chain);        /* ca.crt = the root */
  assert_null(strstr(chain, ca_chain));    /* the root stays out of tls.crt */
  assert_int_equal(idp_cm_verify(chain, ca, &e), IDP_OK);
  assert_true(idp_cm_keypair_match(chain, key));
  assert_false(idp_cm_keypair_match(chain, ca_key));
  bool invalid = false;
  assert_int_equal(idp_cm_check_ca(chain, key, &invalid, &e), IDP_EINVALID);
  assert_true(invalid);
  assert_non_null(strstr(e.msg, "not a CA"));

  json_t *f;
  assert_int_equal(idp_cm_cert_facts(chain, &f, &e), IDP_OK);
  assert_string_equal(json_string_value(json_object_get(f, "commonName")), "*.127-0-0-1.sslip.io");
  assert_int_equal(json_array_size(json_object_get(f, "dnsNames")), 2);
  assert_string_equal(json_string_value(json_array_get(json_object_get(f, "ipAddresses"), 1)), "::1");
  assert_true(json_integer_value(json_object_get(f, "notBefore")) == now);
  assert_true(json_integer_value(json_object_get(f, "notAfter")) == now + 2160 * 3600);
  assert_int_equal(json_integer_value(json_object_get(f, "keyUsage")), IDP_CM_KU_DIGITAL_SIGNATURE);
  assert_int_equal(json_integer_value(json_object_get(f, "extKeyUsage")),
                   IDP_CM_EKU_SERVER_AUTH | IDP_CM_EKU_CLIENT_AUTH);
  char why[256];
  assert_int_equal(idp_cm_cert_mismatches(f, &s, why, sizeof why), 0);

  /* the spec changes: each change is named */
  static const struct {
    const char *spec, *field;
  } changes[] = {
      {"{\"secretName\":\"w\",\"commonName\":\"other\",\"dnsNames\":[\"*.127-0-0-1.sslip.io\",\"127-0-0-1.sslip.io\"],"
       "\"ipAddresses\":[\"127.0.0.1\",\"0:0::1\"],\"uris\":[\"spiffe://cluster.local/ns/a/sa/b\"],"
       "\"emailAddresses\":[\"a@example.com\"],\"subject\":{\"organizations\":[\"idp\"],\"countries\":[\"FR\"],"
       "\"serialNumber\":\"42\"},\"usages\":[\"server auth\",\"client auth\",\"digital signature\"],"
       "\"issuerRef\":{\"name\":\"x\"}}",
       "spec.commonName"},
      {"{\"secretName\":\"w\",\"commonName\":\"*.127-0-0-1.sslip.io\",\"dnsNames\":[\"a.example\"],"
       "\"issuerRef\":{\"name\":\"x\"}}",
       "spec.dnsNames"},
      {"{\"secretName\":\"w\",\"commonName\":\"*.127-0-0-1.sslip.io\",\"issuerRef\":{\"name\":\"x\"}}",
       "spec.ipAddresses"},
      {"{\"secretName\":\"w\",\"commonName\":\"*.127-0-0-1.sslip.io\",\"isCA\":true,\"issuerRef\":{\"name\":\"x\"}}",
       "spec.isCA"},
      {"{\"secretName\":\"w\",\"commonName\":\"*.127-0-0-1.sslip.io\",\"issuerRef\":{\"name\":\"x\"}}",
       "spec.subject.organizations"},
      {"{\"secretName\":\"w\",\"commonName\":\"*.127-0-0-1.sslip.io\",\"issuerRef\":{\"name\":\"x\"}}",
       "spec.usages"},
      {"{\"secretName\":\"w\",\"commonName\":\"*.127-0-0-1.sslip.io\",\"duration\":\"24h\",\"issuerRef\":{\"name\":\"x\"}}",
       "spec.duration"},
  };
  for (size_t i = 0; i < IDP_ARRAY_LEN(changes); i++) {
    json_t *o = cert_obj(changes[i].spec);
    idp_cm_cert_spec s2;
    assert_int_equal(idp_cm_cert_spec_parse(o, &s2, &e), IDP_OK);
    int n = idp_cm_cert_mismatches(f, &s2, why, sizeof why);
    assert_true(n > 0);
    if (!strstr(why, changes[i].field)) fail_msg("case %zu: \"%s\" lacks %s", i, why, changes[i].field);
    json_decref(o);
  }
  /* key vs spec */
  idp_cm_key_info ki;
  assert_int_equal(idp_cm_key_info_get(key, &ki, &e), IDP_OK);
  assert_int_equal(idp_cm_key_mismatches(&ki, &s, why, sizeof why), 0);
  s.key_size = 384;
  assert_int_equal(idp_cm_key_mismatches(&ki, &s, why, sizeof why), 1);
  assert_string_equal(why, "spec.privateKey.size");
  s.key_alg = IDP_CM_KEY_RSA;
  assert_int_equal(idp_cm_key_mismatches(&ki, &s, why, sizeof why), 1);
  assert_string_equal(why, "spec.privateKey.algorithm");

  /* a wrong CA key is refused; a bogus CA too */
  char *c2, *a2;
  assert_int_equal(idp_cm_sign(&s, key, ca_chain, key, now, &c2, &a2, &e), IDP_EINVALID);
  assert_non_null(strstr(e.msg, "does not match"));
  assert_int_equal(idp_cm_sign(&s, key, "garbage", ca_key, now, &c2, &a2, &e), IDP_EINVALID);
  /* verification against an unrelated CA fails */
  char *other_key, *other, *other_ca;
  assert_int_equal(idp_cm_key_new(IDP_CM_KEY_ED25519, 0, IDP_CM_ENC_PKCS8, &other_key, &e), IDP_OK);
  assert_int_equal(idp_cm_sign(&ca_spec, other_key, NULL, NULL, now, &other, &other_ca, &e), IDP_OK);
  assert_int_equal(idp_cm_verify(chain, other, &e), IDP_EINVALID);
  free(other_key);
  free(other);
  free(other_ca);

  json_decref(f);
  free(key);
  free(chain);
  free(ca);
  free(ca_key);
  free(ca_chain);
  free(ca_ca);
  json_decref(ca_obj);
  json_decref(leaf_obj);
}

/* Intermediate CA: tls.crt = leaf + intermediate, ca.crt = root. */
static void test_intermediate(void **state) {
  (void)state;
  idp_err e = IDP_ERR_INIT;
  int64_t now = (int64_t)time(NULL);
  json_t *o = cert_obj("{\"secretName\":\"x\",\"commonName\":\"root\",\"isCA\":true,"
                       "\"privateKey\":{\"algorithm\":\"RSA\",\"size\":2048},\"issuerRef\":{\"name\":\"i\"}}");
  idp_cm_cert_spec s;
  assert_int_equal(idp_cm_cert_spec_parse(o, &s, &e), IDP_OK);
  char *rk, *root, *rca;
  assert_int_equal(idp_cm_key_new(s.key_alg, s.key_size, s.key_enc, &rk, &e), IDP_OK);
  assert_int_equal(idp_cm_sign(&s, rk, NULL, NULL, now, &root, &rca, &e), IDP_OK);
  json_decref(o);
  o = cert_obj("{\"secretName\":\"x\",\"commonName\":\"inter\",\"isCA\":true,"
               "\"privateKey\":{\"algorithm\":\"ECDSA\",\"size\":384},\"issuerRef\":{\"name\":\"i\"}}");
  assert_int_equal(idp_cm_cert_spec_parse(o, &s, &e), IDP_OK);
  char *ik, *inter, *ica;
  assert_int_equal(idp_cm_key_new(s.key_alg, s.key_size, s.key_enc, &ik, &e), IDP_OK);
  assert_int_equal(idp_cm_sign(&s, ik, root, rk, now, &inter, &ica, &e), IDP_OK);
  assert_string_equal(ica, root);
  json_decref(o);
  /* the intermediate's Secret holds tls.crt = inter (root removed); a CA issuer
   * configured with inter + root gives ca.crt = root */
  size_t l1 = strlen(inter), l2 = strlen(root);
  char *bundle = malloc(l1 + l2 + 1);
  memcpy(bundle, inter, l1);
  memcpy(bundle + l1, root, l2 + 1);
  o = cert_obj("{\"secretName\":\"x\",\"dnsNames\":[\"svc.local\"],"
               "\"privateKey\":{\"algorithm\":\"Ed25519\"},\"issuerRef\":{\"name\":\"i\"}}");
  assert_int_equal(idp_cm_cert_spec_parse(o, &s, &e), IDP_OK);
  char *lk, *leaf, *lca;
  assert_int_equal(idp_cm_key_new(s.key_alg, s.key_size, s.key_enc, &lk, &e), IDP_OK);
  assert_int_equal(idp_cm_sign(&s, lk, bundle, ik, now, &leaf, &lca, &e), IDP_OK);
  assert_string_equal(lca, root);
  assert_non_null(strstr(leaf, inter));
  assert_null(strstr(leaf, root));
  assert_int_equal(idp_cm_verify(leaf, lca, &e), IDP_OK);
  free(lk); free(leaf); free(lca);
  /* without the root: ca.crt is the top-most certificate (the intermediate) */
  assert_int_equal(idp_cm_sign(&s, lk = NULL, NULL, NULL, now, &leaf, &lca, &e), IDP_EINVALID);
  char *lk2;
  assert_int_equal(idp_cm_key_new(s.key_alg, s.key_size, s.key_enc, &lk2, &e), IDP_OK);
  assert_int_equal(idp_cm_sign(&s, lk2, inter, ik, now, &leaf, &lca, &e), IDP_OK);
  assert_string_equal(lca, inter);
  free(lk2); free(leaf); free(lca);
  json_decref(o);
  free(bundle);
  free(rk); free(root); free(rca); free(ik); free(inter); free(ica);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_keys),
      cmocka_unit_test(test_sign_chain),
      cmocka_unit_test(test_intermediate),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
