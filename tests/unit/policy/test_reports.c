/* Report aggregation: one report per namespace, ClusterPolicyReport for
 * cluster-scoped objects, result fields, summary counts, stable order. */
#include "../test.h"
#include "helpers.h"
#include "core/json.h"
#include "policy/reports.h"

static pol_policy *load(const char *doc) {
  json_t *d = J(doc);
  pol_policy *p = NULL;
  idp_err e = IDP_ERR_INIT;
  if (pol_policy_load(d, "t", &p, &e)) fail_msg("%s", e.msg);
  json_decref(d);
  return p;
}

#define RULE "{\"name\":\"r\",\"match\":{\"any\":[{\"resources\":{\"kinds\":[\"Pod\"]}}]},\"validate\":{\"pattern\":{\"a\":1}}}"

static void test_result_fields(void **state) {
  (void)state;
  pol_policy *p = load("{\"apiVersion\":\"kyverno.io/v1\",\"kind\":\"Policy\",\"metadata\":{\"name\":\"p\","
                       "\"namespace\":\"team-a\",\"annotations\":{\"policies.kyverno.io/severity\":\"high\","
                       "\"policies.kyverno.io/category\":\"Best Practices\",\"policies.kyverno.io/scored\":\"false\"}},"
                       "\"spec\":{\"rules\":[" RULE "]}}");
  json_t *pod = J("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\",\"namespace\":\"team-a\",\"uid\":\"123\"}}");
  pol_rule_result r = {"r", POL_VALIDATE, POL_WARN, "bad", NULL};
  json_t *res = pol_reports_result(pod, p, &r, "admission review", 42);
  assert_string_equal(idp_json_get_str(res, "policy", NULL), "team-a/p");
  assert_string_equal(idp_json_get_str(res, "rule", NULL), "r");
  assert_string_equal(idp_json_get_str(res, "result", NULL), "warn");
  assert_string_equal(idp_json_get_str(res, "source", NULL), "kyverno");
  assert_string_equal(idp_json_get_str(res, "severity", NULL), "high");
  assert_string_equal(idp_json_get_str(res, "category", NULL), "Best Practices");
  assert_string_equal(idp_json_get_str(res, "message", NULL), "bad");
  assert_true(json_is_false(json_object_get(res, "scored")));
  assert_string_equal(idp_json_get_str(res, "properties", "process", NULL), "admission review");
  assert_int_equal(json_integer_value(idp_json_get(res, "timestamp", "seconds", NULL)), 42);
  const json_t *ref = json_array_get(json_object_get(res, "resources"), 0);
  assert_string_equal(idp_json_get_str(ref, "kind", NULL), "Pod");
  assert_string_equal(idp_json_get_str(ref, "name", NULL), "web");
  assert_string_equal(idp_json_get_str(ref, "namespace", NULL), "team-a");
  assert_string_equal(idp_json_get_str(ref, "uid", NULL), "123");
  json_decref(res);
  json_decref(pod);
  pol_policy_free(p);
}

static void test_build_namespace_and_cluster(void **state) {
  (void)state;
  pol_policy *p = load("{\"apiVersion\":\"kyverno.io/v1\",\"kind\":\"ClusterPolicy\",\"metadata\":{\"name\":\"cp\"},"
                       "\"spec\":{\"rules\":[" RULE "]}}");
  json_t *table = json_object();
  const char *names[] = {"c", "a", "b"};
  pol_status st[] = {POL_FAIL, POL_PASS, POL_FAIL};
  for (size_t i = 0; i < 3; i++) {
    char buf[256];
    snprintf(buf, sizeof buf, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"ns1\"}}", names[i]);
    json_t *pod = J(buf);
    pol_rule_result r = {"r", POL_VALIDATE, st[i], "m", NULL};
    json_object_set_new(table, names[i], pol_reports_result(pod, p, &r, "background scan", 1));
    json_decref(pod);
  }
  json_t *rep = pol_reports_build("ns1", table);
  assert_string_equal(idp_json_get_str(rep, "apiVersion", NULL), "wgpolicyk8s.io/v1alpha2");
  assert_string_equal(idp_json_get_str(rep, "kind", NULL), "PolicyReport");
  assert_string_equal(idp_json_get_str(rep, "metadata", "name", NULL), "polr-ns-ns1");
  assert_string_equal(idp_json_get_str(rep, "metadata", "namespace", NULL), "ns1");
  assert_string_equal(idp_json_get_str(rep, "metadata", "labels", "app.kubernetes.io/managed-by", NULL),
                      "kyverno");
  const json_t *results = json_object_get(rep, "results");
  assert_int_equal(json_array_size(results), 3); /* one report, all objects of the namespace */
  /* stable key order */
  const char *first = idp_json_get_str(json_array_get(json_object_get(json_array_get(results, 0), "resources"), 0), "name", NULL);
  assert_string_equal(first, "a");
  assert_int_equal(json_integer_value(idp_json_get(rep, "summary", "pass", NULL)), 1);
  assert_int_equal(json_integer_value(idp_json_get(rep, "summary", "fail", NULL)), 2);
  assert_int_equal(json_integer_value(idp_json_get(rep, "summary", "error", NULL)), 0);
  json_decref(rep);
  rep = pol_reports_build("", table);
  assert_string_equal(idp_json_get_str(rep, "kind", NULL), "ClusterPolicyReport");
  assert_string_equal(idp_json_get_str(rep, "metadata", "name", NULL), "clusterpolicyreport");
  assert_null(idp_json_get(rep, "metadata", "namespace", NULL));
  json_decref(rep);
  json_t *empty = json_object();
  rep = pol_reports_build("x", empty);
  assert_int_equal(json_array_size(json_object_get(rep, "results")), 0);
  assert_int_equal(json_integer_value(idp_json_get(rep, "summary", "fail", NULL)), 0);
  json_decref(rep);
  json_decref(empty);
  json_decref(table);
  pol_policy_free(p);
}

static void test_size_cap(void **state) {
  (void)state;
  pol_policy *p = load("{\"apiVersion\":\"kyverno.io/v1\",\"kind\":\"ClusterPolicy\",\"metadata\":{\"name\":\"cp\"},"
                       "\"spec\":{\"rules\":[" RULE "]}}");
  json_t *table = json_object();
  char *msg = malloc(2001);
  memset(msg, 'x', 2000);
  msg[2000] = 0;
  size_t total = 3000; /* 3000 x 2 KB = 6 MB of results */
  for (size_t i = 0; i < total; i++) {
    char buf[256], key[32];
    snprintf(buf, sizeof buf, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p%zu\",\"namespace\":\"n\"}}", i);
    json_t *pod = J(buf);
    pol_rule_result r = {"r", POL_VALIDATE, i % 2 ? POL_FAIL : POL_PASS, msg, NULL};
    snprintf(key, sizeof key, "%06zu", i);
    json_object_set_new(table, key, pol_reports_result(pod, p, &r, "background scan", 1));
    json_decref(pod);
  }
  json_t *rep = pol_reports_build("n", table);
  const json_t *results = json_object_get(rep, "results");
  char *txt = json_dumps(results, JSON_COMPACT);
  assert_true(strlen(txt) <= POL_REPORT_MAX_BYTES);
  free(txt);
  /* no pass result is kept while fails are dropped; the summary counts all */
  for (size_t i = 0; i < json_array_size(results); i++)
    assert_string_equal(idp_json_get_str(json_array_get(results, i), "result", NULL), "fail");
  assert_int_equal(json_integer_value(idp_json_get(rep, "summary", "pass", NULL)), 1500);
  assert_int_equal(json_integer_value(idp_json_get(rep, "summary", "fail", NULL)), 1500);
  const char *omitted = idp_json_get_str(rep, "metadata", "annotations", "idp.dev/results-omitted", NULL);
  assert_non_null(omitted);
  assert_int_equal(strtoll(omitted, NULL, 10) + (long long)json_array_size(results), (long long)total);
  json_decref(rep);
  json_decref(table);
  free(msg);
  pol_policy_free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_result_fields),
      cmocka_unit_test(test_build_namespace_and_cluster),
      cmocka_unit_test(test_size_cap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
