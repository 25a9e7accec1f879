#include "../test.h"

#include "certs/controller/spec.h"
#include "core/json.h"

#define S IDP_CM_NS_PER_S

static void test_duration_parse(void **state) {
  (void)state;
  static const struct {
    const char *in;
    int64_t ns;
  } ok[] = {
      {"0", 0},
      {"2160h", 2160 * 3600 * S},
      {"1h", 3600 * S},
      {"59m50s", (59 * 60 + 50) * S},
      {"1h30m", 5400 * S},
      {"1.5h", 5400 * S},
      {"300ms", 300000000},
      {"1us", 1000},
      {"1\xC2\xB5s", 1000},
      {"10ns", 10},
      {"-1m", -60 * S},
      {"2h0m0s", 7200 * S},
      {".5s", S / 2},
  };
  for (size_t i = 0; i < IDP_ARRAY_LEN(ok); i++) {
    int64_t ns = -12345;
    idp_err e = IDP_ERR_INIT;
    assert_int_equal(idp_cm_duration_parse(ok[i].in, &ns, &e), IDP_OK);
    assert_true(ns == ok[i].ns);
  }
  static const char *bad[] = {"", "90d", "1", "h", "1hh", "abc", ".h", "-", "99999999999999999999h"};
  for (size_t i = 0; i < IDP_ARRAY_LEN(bad); i++) {
    int64_t ns;
    idp_err e = IDP_ERR_INIT;
    assert_int_equal(idp_cm_duration_parse(bad[i], &ns, &e), IDP_EINVAL);
    assert_true(strlen(e.msg) > 0);
  }
}

static void test_duration_format(void **state) {
  (void)state;
  static const struct {
    int64_t ns;
    const char *out;
  } t[] = {
      {0, "0s"},
      {2160 * 3600 * S, "2160h0m0s"},
      {(59 * 60 + 50) * S, "59m50s"},
      {3600 * S, "1h0m0s"},
      {90 * S, "1m30s"},
      {S + S / 2, "1.5s"},
      {300000000, "300ms"},
      {1500, "1.5\xC2\xB5s"},
      {7, "7ns"},
      {-60 * S, "-1m0s"},
  };
  for (size_t i = 0; i < IDP_ARRAY_LEN(t); i++) {
    char buf[64];
    idp_cm_duration_format(t[i].ns, buf, sizeof buf);
    assert_string_equal(buf, t[i].out);
  }
}

static void test_time(void **state) {
  (void)state;
  char buf[40];
  idp_cm_time_format(0, buf, sizeof buf);
  assert_string_equal(buf, "1970-01-01T00:00:00Z");
  idp_cm_time_format(1700000000, buf, sizeof buf);
  assert_string_equal(buf, "2023-11-14T22:13:20Z");
  int64_t t;
  assert_int_equal(idp_cm_time_parse("2023-11-14T22:13:20Z", &t, NULL), IDP_OK);
  assert_true(t == 1700000000);
  assert_int_equal(idp_cm_time_parse("2023-11-14T23:13:20.123+01:00", &t, NULL), IDP_OK);
  assert_true(t == 1700000000);
  assert_int_equal(idp_cm_time_parse("2023-11-14 22:13:20", &t, NULL), IDP_EINVAL);
  assert_int_equal(idp_cm_time_parse("yesterday", &t, NULL), IDP_EINVAL);
}

static void test_renewal(void **state) {
  (void)state;
  const int64_t day = 86400;
  static const struct {
    int64_t life_s, rb_ns;
    int pct;
    int64_t want_rb_s;
  } t[] = {
      {90 * 86400, 0, 0, 30 * 86400},                  /* default: a third */
      {90 * 86400, 720 * 3600 * S, 0, 30 * 86400},     /* renewBefore 720h */
      {90 * 86400, 360 * 3600 * S, 0, 15 * 86400},
      {3600, (59 * 60 + 50) * S, 0, 59 * 60 + 50},     /* 1h / 59m50s */
      {3600, 3600 * S, 0, 1200},                       /* renewBefore >= life: default */
      {100 * 86400, 0, 25, 25 * 86400},                /* percentage */
      {100 * 86400, 0, 100, 100 * 86400 / 3},          /* 100%: invalid, default */
      {100 * 86400, 0, 0, 100 * 86400 / 3},
  };
  for (size_t i = 0; i < IDP_ARRAY_LEN(t); i++) {
    int64_t rb = idp_cm_renew_before(t[i].life_s * S, t[i].rb_ns, t[i].pct);
    assert_true(rb / S == t[i].want_rb_s);
    int64_t nb = 1700000000;
    int64_t rt = idp_cm_renewal_time(nb, nb + t[i].life_s, t[i].rb_ns, t[i].pct);
    assert_true(rt == nb + t[i].life_s - t[i].want_rb_s);
  }
  /* truncation to the second toward the past: 100s lifetime / 3 = 33.33s */
  assert_true(idp_cm_renewal_time(1000, 1100, 0, 0) == 1066);
  (void)day;
}

static void test_usages(void **state) {
  (void)state;
  idp_cm_usages u;
  assert_int_equal(idp_cm_usages_build(NULL, false, &u, NULL), IDP_OK);
  assert_int_equal(u.ku, IDP_CM_KU_DIGITAL_SIGNATURE | IDP_CM_KU_KEY_ENCIPHERMENT);
  assert_int_equal(u.eku, 0);
  assert_int_equal(idp_cm_usages_build(NULL, true, &u, NULL), IDP_OK);
  assert_int_equal(u.ku, IDP_CM_KU_DIGITAL_SIGNATURE | IDP_CM_KU_KEY_ENCIPHERMENT | IDP_CM_KU_CERT_SIGN);
  static const struct {
    const char *json;
    bool ca;
    unsigned ku, eku;
  } t[] = {
      {"[\"server auth\",\"client auth\"]", false, 0, IDP_CM_EKU_SERVER_AUTH | IDP_CM_EKU_CLIENT_AUTH},
      {"[\"signing\",\"key encipherment\",\"server auth\"]", false,
       IDP_CM_KU_DIGITAL_SIGNATURE | IDP_CM_KU_KEY_ENCIPHERMENT, IDP_CM_EKU_SERVER_AUTH},
      {"[\"s/mime\",\"content commitment\"]", false, IDP_CM_KU_CONTENT_COMMITMENT,
       IDP_CM_EKU_EMAIL_PROTECTION},
      {"[\"crl sign\"]", true, IDP_CM_KU_CRL_SIGN | IDP_CM_KU_CERT_SIGN, 0},
      {"[\"ocsp signing\",\"timestamping\",\"ipsec tunnel\",\"any\"]", false, 0,
       IDP_CM_EKU_OCSP_SIGNING | IDP_CM_EKU_TIMESTAMPING | IDP_CM_EKU_IPSEC_TUNNEL | IDP_CM_EKU_ANY},
      {"[\"encipher only\",\"decipher only\",\"key agreement\",\"data encipherment\"]", false,
       IDP_CM_KU_ENCIPHER_ONLY | IDP_CM_KU_DECIPHER_ONLY | IDP_CM_KU_KEY_AGREEMENT |
           IDP_CM_KU_DATA_ENCIPHERMENT,
       0},
  };
  for (size_t i = 0; i < IDP_ARRAY_LEN(t); i++) {
    json_t *a = json_loads(t[i].json, 0, NULL);
    assert_int_equal(idp_cm_usages_build(a, t[i].ca, &u, NULL), IDP_OK);
    assert_int_equal(u.ku, t[i].ku);
    assert_int_equal(u.eku, t[i].eku);
    json_decref(a);
  }
  json_t *bad = json_loads("[\"server auth\",\"serverAuth\"]", 0, NULL);
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_cm_usages_build(bad, false, &u, &e), IDP_EINVALID);
  assert_non_null(strstr(e.msg, "spec.usages[1]"));
  assert_non_null(strstr(e.msg, "serverAuth"));
  json_decref(bad);
}

static json_t *cert(const char *spec_json) {
  char buf[4096];
  snprintf(buf, sizeof buf,
           "{\"apiVersion\":\"cert-manager.io/v1\",\"kind\":\"Certificate\","
           "\"metadata\":{\"name\":\"c\",\"namespace\":\"ns\"},\"spec\":%s}",
           spec_json);
  json_t *o = json_loads(buf, 0, NULL);
  assert_non_null(o);
  return o;
}

static void test_spec_defaults(void **state) {
  (void)state;
  json_t *c = cert("{\"secretName\":\"s\",\"dnsNames\":[\"a.example\"],\"issuerRef\":{\"name\":\"ca\"}}");
  idp_cm_cert_spec s;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_cm_cert_spec_parse(c, &s, &e), IDP_OK);
  assert_string_equal(s.secret_name, "s");
  assert_true(s.duration_ns == IDP_CM_DEFAULT_DURATION);
  assert_true(s.renew_before_ns == 0);
  assert_int_equal(s.key_alg, IDP_CM_KEY_RSA);
  assert_int_equal(s.key_size, 2048);
  assert_int_equal(s.key_enc, IDP_CM_ENC_PKCS1);
  assert_true(s.rotate_always);
  assert_string_equal(s.issuer_kind, "Issuer");
  assert_string_equal(s.issuer_group, "cert-manager.io");
  assert_int_equal(s.usages.ku, IDP_CM_KU_DIGITAL_SIGNATURE | IDP_CM_KU_KEY_ENCIPHERMENT);
  json_decref(c);

  c = cert("{\"secretName\":\"s\",\"commonName\":\"x\",\"isCA\":true,\"duration\":\"87600h\","
           "\"privateKey\":{\"algorithm\":\"ECDSA\",\"encoding\":\"PKCS8\",\"rotationPolicy\":\"Never\"},"
           "\"issuerRef\":{\"name\":\"self\",\"kind\":\"ClusterIssuer\"},"
           "\"secretTemplate\":{\"labels\":{\"a\":\"b\"}},"
           "\"additionalOutputFormats\":[{\"type\":\"DER\"},{\"type\":\"CombinedPEM\"}]}");
  assert_int_equal(idp_cm_cert_spec_parse(c, &s, &e), IDP_OK);
  assert_int_equal(s.key_alg, IDP_CM_KEY_ECDSA);
  assert_int_equal(s.key_size, 256);
  assert_int_equal(s.key_enc, IDP_CM_ENC_PKCS8);
  assert_false(s.rotate_always);
  assert_true(s.is_ca);
  assert_true(s.duration_ns == INT64_C(87600) * 3600 * S);
  assert_non_null(s.tmpl_labels);
  assert_true(s.out_der);
  assert_true(s.out_combined_pem);
  assert_int_equal(s.usages.ku & IDP_CM_KU_CERT_SIGN, IDP_CM_KU_CERT_SIGN);
  json_decref(c);
}

static void test_spec_errors(void **state) {
  (void)state;
  static const struct {
    const char *spec, *want;
  } t[] = {
      {"{\"dnsNames\":[\"a\"],\"issuerRef\":{\"name\":\"i\"}}", "spec.secretName"},
      {"{\"secretName\":\"s\",\"issuerRef\":{\"name\":\"i\"}}", "at least one of"},
      {"{\"secretName\":\"s\",\"dnsNames\":[\"a\"]}", "spec.issuerRef"},
      {"{\"secretName\":\"s\",\"dnsNames\":[\"a\"],\"issuerRef\":{\"name\":\"i\"},\"duration\":\"90d\"}",
       "spec.duration"},
      {"{\"secretName\":\"s\",\"dnsNames\":[\"a\"],\"issuerRef\":{\"name\":\"i\"},\"duration\":\"30m\"}",
       "greater than 1h0m0s"},
      {"{\"secretName\":\"s\",\"dnsNames\":[\"a\"],\"issuerRef\":{\"name\":\"i\"},\"duration\":\"1h\","
       "\"renewBefore\":\"2h\"}",
       "must be greater than renewBefore"},
      {"{\"secretName\":\"s\",\"dnsNames\":[\"a\"],\"issuerRef\":{\"name\":\"i\"},\"renewBefore\":\"1m\"}",
       "greater than 5m0s"},
      {"{\"secretName\":\"s\",\"dnsNames\":[\"a\"],\"issuerRef\":{\"name\":\"i\"},"
       "\"renewBeforePercentage\":100}",
       "spec.renewBeforePercentage"},
      {"{\"secretName\":\"s\",\"dnsNames\":[\"a\"],\"issuerRef\":{\"name\":\"i\"},"
       "\"privateKey\":{\"algorithm\":\"DSA\"}}",
       "spec.privateKey.algorithm"},
      {"{\"secretName\":\"s\",\"dnsNames\":[\"a\"],\"issuerRef\":{\"name\":\"i\"},"
       "\"privateKey\":{\"algorithm\":\"ECDSA\",\"size\":512}}",
       "spec.privateKey.size"},
      {"{\"secretName\":\"s\",\"dnsNames\":[\"a\"],\"issuerRef\":{\"name\":\"i\"},"
       "\"privateKey\":{\"size\":1024}}",
       "between 2048 and 8192"},
      {"{\"secretName\":\"s\",\"dnsNames\":[3],\"issuerRef\":{\"name\":\"i\"}}", "spec.dnsNames[0]"},
      {"{\"secretName\":\"s\",\"dnsNames\":[\"a\"],\"issuerRef\":{\"name\":\"i\"},\"usages\":[\"x\"]}",
       "spec.usages[0]"},
      {"{\"secretName\":\"s\",\"dnsNames\":[\"a\"],\"issuerRef\":{\"name\":\"i\"},"
       "\"additionalOutputFormats\":[{\"type\":\"JKS\"}]}",
       "spec.additionalOutputFormats[0].type"},
  };
  for (size_t i = 0; i < IDP_ARRAY_LEN(t); i++) {
    json_t *c = cert(t[i].spec);
    idp_cm_cert_spec s;
    idp_err e = IDP_ERR_INIT;
    assert_int_equal(idp_cm_cert_spec_parse(c, &s, &e), IDP_EINVALID);
    if (!strstr(e.msg, t[i].want)) fail_msg("case %zu: \"%s\" lacks \"%s\"", i, e.msg, t[i].want);
    json_decref(c);
  }
}

static void test_conditions(void **state) {
  (void)state;
  json_t *conds = idp_cm_condition_set(NULL, "Ready", "False", "DoesNotExist", "m", 1, 1000);
  assert_int_equal(json_array_size(conds), 1);
  idp_cm_condition_set(conds, "Issuing", "True", "DoesNotExist", "m", 1, 1000);
  /* same status: the transition time is kept */
  idp_cm_condition_set(conds, "Ready", "False", "Pending", "m2", 1, 2000);
  assert_string_equal(json_string_value(json_object_get(json_array_get(conds, 0), "lastTransitionTime")),
                      "1970-01-01T00:16:40Z");
  assert_string_equal(json_string_value(json_object_get(json_array_get(conds, 0), "reason")), "Pending");
  idp_cm_condition_set(conds, "Ready", "True", "Ready", "ok", 2, 3000);
  assert_string_equal(json_string_value(json_object_get(json_array_get(conds, 0), "lastTransitionTime")),
                      "1970-01-01T00:50:00Z");
  idp_cm_condition_remove(conds, "Issuing");
  assert_int_equal(json_array_size(conds), 1);
  json_t *obj = json_pack("{s:{s:I},s:{s:O}}", "metadata", "generation", (json_int_t)2, "status",
                          "conditions", conds);
  assert_true(idp_cm_is_ready(obj));
  json_object_set_new(json_object_get(obj, "metadata"), "generation", json_integer(3));
  assert_false(idp_cm_is_ready(obj)); /* stale observedGeneration */
  json_decref(obj);
  json_decref(conds);
}

static void test_same_set(void **state) {
  (void)state;
  json_t *a = json_loads("[\"a\",\"b\",\"a\"]", 0, NULL), *b = json_loads("[\"b\",\"a\"]", 0, NULL),
         *c = json_loads("[\"a\"]", 0, NULL);
  assert_true(idp_cm_strs_same_set(a, b));
  assert_false(idp_cm_strs_same_set(a, c));
  assert_false(idp_cm_strs_same_set(NULL, c));
  assert_true(idp_cm_strs_same_set(NULL, NULL));
  json_decref(a);
  json_decref(b);
  json_decref(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_duration_parse), cmocka_unit_test(test_duration_format),
      cmocka_unit_test(test_time),           cmocka_unit_test(test_renewal),
      cmocka_unit_test(test_usages),         cmocka_unit_test(test_spec_defaults),
      cmocka_unit_test(test_spec_errors),    cmocka_unit_test(test_conditions),
      cmocka_unit_test(test_same_set),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
