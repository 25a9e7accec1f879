/* Whole-rule evaluation: results, preconditions, foreach, errors, policy checks. */
#include "../test.h"
#include "helpers.h"
#include "core/json.h"
#include "policy/internal.h"

static pol_policy *load(const char *rules) {
  char buf[8192];
  snprintf(buf, sizeof buf,
           "{\"apiVersion\":\"kyverno.io/v1\",\"kind\":\"ClusterPolicy\",\"metadata\":{\"name\":\"p\"},"
           "\"spec\":{\"rules\":%s}}", rules);
  json_t *doc = J(buf);
  pol_policy *p = NULL;
  idp_err e = IDP_ERR_INIT;
  if (pol_policy_load(doc, "test", &p, &e) != IDP_OK) fail_msg("load: %s", e.msg);
  json_decref(doc);
  return p;
}

static pol_status run1(pol_policy *p, const char *res, pol_phase ph) {
  json_t *o = J(res);
  pol_request req = {.object = o, .operation = "CREATE"};
  pol_response r = {0};
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(pol_eval(p, &req, ph, &r, &e), IDP_OK);
  pol_status s = r.n ? r.rules[0].status : (pol_status)-1;
  pol_response_clear(&r);
  json_decref(o);
  return s;
}

#define MATCH_POD "\"match\":{\"any\":[{\"resources\":{\"kinds\":[\"Pod\"]}}]}"
static const char *good = "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\",\"labels\":{\"app\":\"x\"}},"
                          "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"nginx:1\"}]}}";
static const char *bad = "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"b\"},"
                         "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"nginx:latest\"}]}}";

static void test_pattern_rule(void **state) {
  (void)state;
  pol_policy *p = load("[{\"name\":\"r\"," MATCH_POD ",\"validate\":{\"pattern\":{\"spec\":{\"containers\":[{\"image\":\"!*:latest\"}]}}}}]");
  assert_int_equal(run1(p, good, POL_PHASE_VALIDATE), POL_PASS);
  assert_int_equal(run1(p, bad, POL_PHASE_VALIDATE), POL_FAIL);
  /* a Service does not match: no result at all */
  assert_int_equal((int)run1(p, "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"s\"}}", POL_PHASE_VALIDATE), -1);
  pol_policy_free(p);
}

static void test_preconditions_and_deny(void **state) {
  (void)state;
  pol_policy *p = load("[{\"name\":\"r\"," MATCH_POD ",\"preconditions\":{\"all\":[{\"key\":\"{{request.object.metadata.labels.app || ''}}\",\"operator\":\"Equals\",\"value\":\"x\"}]},"
                       "\"validate\":{\"deny\":{\"conditions\":{\"any\":[{\"key\":\"{{request.object.spec.containers[].image}}\",\"operator\":\"AnyIn\",\"value\":[\"*:1\"]}]}}}}]");
  assert_int_equal(run1(p, good, POL_PHASE_VALIDATE), POL_FAIL);
  assert_int_equal(run1(p, bad, POL_PHASE_VALIDATE), POL_SKIP);
  pol_policy_free(p);
}

static void test_foreach(void **state) {
  (void)state;
  pol_policy *p = load("[{\"name\":\"r\"," MATCH_POD ",\"validate\":{\"foreach\":[{\"list\":\"request.object.spec.containers\","
                       "\"deny\":{\"conditions\":{\"any\":[{\"key\":\"{{element.image}}\",\"operator\":\"Equals\",\"value\":\"*:latest\"}]}}}]}}]");
  assert_int_equal(run1(p, good, POL_PHASE_VALIDATE), POL_PASS);
  assert_int_equal(run1(p, bad, POL_PHASE_VALIDATE), POL_FAIL);
  pol_policy_free(p);
}

static void test_error_result(void **state) {
  (void)state;
  pol_policy *p = load("[{\"name\":\"r\"," MATCH_POD ",\"validate\":{\"pattern\":{\"metadata\":{\"name\":\"{{request.object.metadata.nothere}}\"}}}}]");
  assert_int_equal(run1(p, good, POL_PHASE_VALIDATE), POL_ERROR);
  pol_policy_free(p);
}

static void test_mutate_rule(void **state) {
  (void)state;
  pol_policy *p = load("[{\"name\":\"m\"," MATCH_POD ",\"mutate\":{\"patchStrategicMerge\":{\"metadata\":{\"labels\":{\"+(app)\":\"d\"}}}}}]");
  assert_int_equal(run1(p, good, POL_PHASE_MUTATE), POL_SKIP); /* nothing to add */
  assert_int_equal(run1(p, bad, POL_PHASE_MUTATE), POL_PASS);
  pol_policy_free(p);
}

static void test_invalid_policies(void **state) {
  (void)state;
  const char *bad_rules[] = {
      "[{\"name\":\"r\"," MATCH_POD ",\"validate\":{\"deny\":{\"conditions\":[{\"key\":1,\"operator\":\"Sorta\",\"value\":1}]}}}]",
      "[{\"name\":\"r\"," MATCH_POD ",\"validate\":{\"pattern\":{\"+(a)\":1}}}]",
      "[{\"name\":\"r\"," MATCH_POD "}]",
      "[{\"name\":\"r\"," MATCH_POD ",\"validate\":{\"message\":\"{{ request.object.metadata.name[ }}\",\"pattern\":{}}}]",
      "[{\"name\":\"r\"," MATCH_POD ",\"validate\":{\"anyPattern\":{\"a\":1}}}]",
      "[{\"name\":\"r\"," MATCH_POD ",\"mutate\":{\"patchesJson6902\":[]}}]",
      "[]",
  };
  for (size_t i = 0; i < IDP_ARRAY_LEN(bad_rules); i++) {
    char buf[4096];
    snprintf(buf, sizeof buf,
             "{\"apiVersion\":\"kyverno.io/v1\",\"kind\":\"ClusterPolicy\",\"metadata\":{\"name\":\"p\"},\"spec\":{\"rules\":%s}}",
             bad_rules[i]);
    json_t *doc = J(buf);
    pol_policy *p = NULL;
    idp_err e = IDP_ERR_INIT;
    assert_int_equal(pol_policy_load(doc, "t", &p, &e), IDP_EINVALID);
    assert_non_null(strstr(e.msg, "policy p"));
    assert_null(p);
    json_decref(doc);
  }
}

static void test_failure_action(void **state) {
  (void)state;
  char buf[4096];
  snprintf(buf, sizeof buf,
           "{\"apiVersion\":\"kyverno.io/v1\",\"kind\":\"ClusterPolicy\",\"metadata\":{\"name\":\"p\"},"
           "\"spec\":{\"validationFailureAction\":\"enforce\",\"validationFailureActionOverrides\":"
           "[{\"action\":\"audit\",\"namespaces\":[\"dev-*\"]}],\"rules\":[{\"name\":\"r\"," MATCH_POD ","
           "\"validate\":{\"pattern\":{}}},{\"name\":\"r2\"," MATCH_POD ",\"validate\":{\"failureAction\":\"Audit\",\"pattern\":{}}}]}}");
  json_t *doc = J(buf);
  pol_policy *p = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(pol_policy_load(doc, "t", &p, &e), IDP_OK);
  const json_t *r = json_array_get(p->rules, 0), *r2 = json_array_get(p->rules, 1);
  assert_string_equal(pol_failure_action(p, r, "prod", NULL), "Enforce");
  assert_string_equal(pol_failure_action(p, r, "dev-1", NULL), "Audit");
  assert_string_equal(pol_failure_action(p, r, NULL, NULL), "Enforce");
  assert_string_equal(pol_failure_action(p, r2, "prod", NULL), "Audit");
  pol_policy_free(p);
  json_decref(doc);
}

static void test_report(void **state) {
  (void)state;
  pol_policy *p = load("[{\"name\":\"r\"," MATCH_POD ",\"validate\":{\"pattern\":{\"spec\":{\"containers\":[{\"image\":\"!*:latest\"}]}}}}]");
  json_t *o = J(bad);
  json_object_set_new(json_object_get(o, "metadata"), "namespace", json_string("team-a"));
  pol_request req = {.object = o, .operation = "CREATE"};
  pol_response r = {0};
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(pol_eval(p, &req, POL_PHASE_VALIDATE, &r, &e), IDP_OK);
  json_t *rep = pol_report_new(o);
  for (size_t i = 0; i < r.n; i++) pol_report_add(rep, p, &r.rules[i], 1700000000);
  assert_string_equal(idp_json_get_str(rep, "kind", NULL), "PolicyReport");
  assert_string_equal(idp_json_get_str(rep, "metadata", "namespace", NULL), "team-a");
  assert_int_equal(json_integer_value(idp_json_get(rep, "summary", "fail", NULL)), 1);
  json_t *res0 = json_array_get(json_object_get(rep, "results"), 0);
  assert_string_equal(idp_json_get_str(res0, "policy", NULL), "p");
  assert_string_equal(idp_json_get_str(res0, "result", NULL), "fail");
  json_decref(rep);
  pol_response_clear(&r);
  json_decref(o);
  pol_policy_free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pattern_rule),   cmocka_unit_test(test_preconditions_and_deny),
      cmocka_unit_test(test_foreach),        cmocka_unit_test(test_error_result),
      cmocka_unit_test(test_mutate_rule),    cmocka_unit_test(test_invalid_policies),
      cmocka_unit_test(test_failure_action), cmocka_unit_test(test_report),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
