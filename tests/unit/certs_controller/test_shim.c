#include "../test.h"

#include "certs/controller/shim.h"
#include "core/json.h"

static json_t *load(const char *s) {
  json_error_t je;
  json_t *o = json_loads(s, 0, &je);
  if (!o) fail_msg("bad test JSON: %s", je.text);
  return o;
}

static void test_gateway(void **state) {
  (void)state;
  json_t *gw = load(
      "{\"apiVersion\":\"gateway.networking.k8s.io/v1\",\"kind\":\"Gateway\","
      "\"metadata\":{\"name\":\"gw\",\"namespace\":\"infra\",\"uid\":\"u1\",\"annotations\":{"
      "\"cert-manager.io/cluster-issuer\":\"ca-issuer\",\"cert-manager.io/duration\":\"720h\","
      "\"cert-manager.io/usages\":\"server auth, client auth\",\"cert-manager.io/private-key-size\":\"384\","
      "\"cert-manager.io/private-key-algorithm\":\"ECDSA\",\"cert-manager.io/subject-organizations\":\"idp,platform\"}},"
      "\"spec\":{\"gatewayClassName\":\"idp\",\"listeners\":["
      "{\"name\":\"a\",\"hostname\":\"a.example\",\"port\":443,\"protocol\":\"HTTPS\",\"tls\":{\"mode\":\"Terminate\","
      "\"certificateRefs\":[{\"kind\":\"Secret\",\"group\":\"\",\"name\":\"shared\"}]}},"
      "{\"name\":\"b\",\"hostname\":\"b.example\",\"port\":443,\"protocol\":\"HTTPS\",\"tls\":{"
      "\"certificateRefs\":[{\"name\":\"shared\"},{\"name\":\"b-only\"}]}},"
      "{\"name\":\"a2\",\"hostname\":\"a.example\",\"port\":8443,\"protocol\":\"HTTPS\",\"tls\":{"
      "\"certificateRefs\":[{\"name\":\"shared\"}]}},"
      "{\"name\":\"p\",\"hostname\":\"p.example\",\"port\":443,\"protocol\":\"TLS\",\"tls\":{\"mode\":\"Passthrough\","
      "\"certificateRefs\":[{\"name\":\"pass\"}]}},"
      "{\"name\":\"nohost\",\"port\":443,\"protocol\":\"HTTPS\",\"tls\":{\"certificateRefs\":[{\"name\":\"nohost\"}]}},"
      "{\"name\":\"x\",\"hostname\":\"x.example\",\"port\":443,\"protocol\":\"HTTPS\",\"tls\":{\"certificateRefs\":["
      "{\"name\":\"other-ns\",\"namespace\":\"elsewhere\"},{\"name\":\"cm\",\"kind\":\"ConfigMap\"}]}},"
      "{\"name\":\"h\",\"hostname\":\"h.example\",\"port\":80,\"protocol\":\"HTTP\"}]}}");
  json_t *certs = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_cm_shim_certificates(gw, &certs, &e), IDP_OK);
  assert_int_equal(json_array_size(certs), 2);
  json_t *c0 = json_array_get(certs, 0), *c1 = json_array_get(certs, 1);
  assert_string_equal(idp_json_get_str(c0, "metadata", "name", NULL), "shared");
  assert_string_equal(idp_json_get_str(c0, "metadata", "namespace", NULL), "infra");
  assert_string_equal(idp_json_get_str(c0, "spec", "secretName", NULL), "shared");
  json_t *dns = idp_json_get(c0, "spec", "dnsNames", NULL);
  assert_int_equal(json_array_size(dns), 2); /* a.example once */
  assert_string_equal(json_string_value(json_array_get(dns, 0)), "a.example");
  assert_string_equal(json_string_value(json_array_get(dns, 1)), "b.example");
  assert_string_equal(idp_json_get_str(c0, "spec", "issuerRef", "kind", NULL), "ClusterIssuer");
  assert_string_equal(idp_json_get_str(c0, "spec", "issuerRef", "name", NULL), "ca-issuer");
  assert_string_equal(idp_json_get_str(c0, "spec", "issuerRef", "group", NULL), "cert-manager.io");
  assert_string_equal(idp_json_get_str(c0, "spec", "duration", NULL), "720h");
  assert_int_equal(json_array_size(idp_json_get(c0, "spec", "usages", NULL)), 2);
  assert_string_equal(json_string_value(json_array_get(idp_json_get(c0, "spec", "usages", NULL), 1)), "client auth");
  assert_int_equal(json_integer_value(idp_json_get(c0, "spec", "privateKey", "size", NULL)), 384);
  assert_int_equal(json_array_size(idp_json_get(c0, "spec", "subject", "organizations", NULL)), 2);
  json_t *owner = json_array_get(idp_json_get(c0, "metadata", "ownerReferences", NULL), 0);
  assert_string_equal(json_string_value(json_object_get(owner, "kind")), "Gateway");
  assert_string_equal(json_string_value(json_object_get(owner, "uid")), "u1");
  assert_true(json_is_true(json_object_get(owner, "controller")));
  assert_string_equal(idp_json_get_str(c1, "metadata", "name", NULL), "b-only");
  json_decref(certs);
  json_decref(gw);
}

static void test_ingress(void **state) {
  (void)state;
  json_t *ing = load(
      "{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"Ingress\",\"metadata\":{\"name\":\"shop\","
      "\"namespace\":\"a\",\"uid\":\"u2\",\"annotations\":{\"cert-manager.io/issuer\":\"team-ca\","
      "\"cert-manager.io/issuer-kind\":\"ExternalIssuer\",\"cert-manager.io/issuer-group\":\"example.io\","
      "\"cert-manager.io/common-name\":\"shop.example\"}},"
      "\"spec\":{\"tls\":[{\"hosts\":[\"shop.example\",\"www.shop.example\"],\"secretName\":\"shop-tls\"},"
      "{\"hosts\":[\"x\"]}]}}");
  json_t *certs = NULL;
  assert_int_equal(idp_cm_shim_certificates(ing, &certs, NULL), IDP_OK);
  assert_int_equal(json_array_size(certs), 1);
  json_t *c = json_array_get(certs, 0);
  assert_string_equal(idp_json_get_str(c, "metadata", "name", NULL), "shop-tls");
  assert_int_equal(json_array_size(idp_json_get(c, "spec", "dnsNames", NULL)), 2);
  assert_string_equal(idp_json_get_str(c, "spec", "issuerRef", "kind", NULL), "ExternalIssuer");
  assert_string_equal(idp_json_get_str(c, "spec", "issuerRef", "group", NULL), "example.io");
  assert_string_equal(idp_json_get_str(c, "spec", "commonName", NULL), "shop.example");
  json_decref(certs);
  json_decref(ing);
}

static void test_annotations(void **state) {
  (void)state;
  static const struct {
    const char *annotations, *want; /* want NULL: OK with no Certificate */
  } t[] = {
      {"{}", NULL},
      {"{\"cert-manager.io/issuer\":\"a\",\"cert-manager.io/cluster-issuer\":\"b\"}", "both"},
      {"{\"cert-manager.io/issuer\":\"a\",\"cert-manager.io/duration\":\"2d\"}", "cert-manager.io/duration"},
      {"{\"cert-manager.io/issuer\":\"a\",\"cert-manager.io/private-key-size\":\"big\"}", "private-key-size"},
      {"{\"cert-manager.io/issuer\":\"a\",\"cert-manager.io/revision-history-limit\":\"0\"}", "revision-history-limit"},
  };
  for (size_t i = 0; i < IDP_ARRAY_LEN(t); i++) {
    char buf[1024];
    snprintf(buf, sizeof buf,
             "{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"Ingress\",\"metadata\":{\"name\":\"i\","
             "\"namespace\":\"n\",\"annotations\":%s},\"spec\":{\"tls\":[{\"hosts\":[\"h\"],\"secretName\":\"s\"}]}}",
             t[i].annotations);
    json_t *o = load(buf), *certs = NULL;
    idp_err e = IDP_ERR_INIT;
    idp_code rc = idp_cm_shim_certificates(o, &certs, &e);
    if (!t[i].want) {
      assert_int_equal(rc, IDP_OK);
      assert_int_equal(json_array_size(certs), 0);
    } else {
      assert_int_equal(rc, IDP_EINVALID);
      if (!strstr(e.msg, t[i].want)) fail_msg("case %zu: \"%s\" lacks \"%s\"", i, e.msg, t[i].want);
    }
    json_decref(certs);
    json_decref(o);
  }
  json_t *cm = load("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\"}}"), *out = NULL;
  assert_int_equal(idp_cm_shim_certificates(cm, &out, NULL), IDP_EINVAL);
  json_decref(cm);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gateway),
      cmocka_unit_test(test_ingress),
      cmocka_unit_test(test_annotations),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
