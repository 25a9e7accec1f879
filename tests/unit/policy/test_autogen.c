/* Autogen rules for Pod controllers. */
#include "../test.h"
#include "helpers.h"
#include "core/json.h"
#include "policy/internal.h"

static const char *policy =
    "{\"apiVersion\":\"kyverno.io/v1\",\"kind\":\"ClusterPolicy\",\"metadata\":{\"name\":\"p\"%s},"
    "\"spec\":{\"rules\":[{\"name\":\"r\",\"match\":{\"any\":[{\"resources\":{\"kinds\":[\"Pod\"]%s}}]},"
    "\"validate\":{\"message\":\"{{request.object.metadata.name}}\",\"pattern\":{\"spec\":{\"x\":1}}}}]}}";

static json_t *gen(const char *ann, const char *extra) {
  char buf[2048];
  snprintf(buf, sizeof buf, policy, ann, extra);
  json_t *p = J(buf);
  json_t *r = pol_autogen_rules(p);
  json_decref(p);
  return r;
}

static void test_default(void **state) {
  (void)state;
  json_t *r = gen("", "");
  assert_int_equal(json_array_size(r), 2);
  json_t *a = json_array_get(r, 0), *c = json_array_get(r, 1);
  assert_string_equal(idp_json_get_str(a, "name", NULL), "autogen-r");
  assert_string_equal(idp_json_get_str(c, "name", NULL), "autogen-cronjob-r");
  json_t *kinds = json_object_get(json_object_get(json_array_get(idp_json_get(a, "match", "any", NULL), 0), "resources"), "kinds");
  assert_int_equal(json_array_size(kinds), 6);
  assert_non_null(idp_json_get(a, "validate", "pattern", "spec", "template", "spec", "x", NULL));
  assert_non_null(idp_json_get(c, "validate", "pattern", "spec", "jobTemplate", "spec", "template", "spec", "x", NULL));
  assert_string_equal(idp_json_get_str(a, "validate", "message", NULL),
                      "{{request.object.spec.template.metadata.name}}");
  assert_string_equal(idp_json_get_str(c, "validate", "message", NULL),
                      "{{request.object.spec.jobTemplate.spec.template.metadata.name}}");
  json_decref(r);
}

static void test_annotation(void **state) {
  (void)state;
  json_t *r = gen(",\"annotations\":{\"pod-policies.kyverno.io/autogen-controllers\":\"none\"}", "");
  assert_int_equal(json_array_size(r), 0);
  json_decref(r);
  r = gen(",\"annotations\":{\"pod-policies.kyverno.io/autogen-controllers\":\"Deployment\"}", "");
  assert_int_equal(json_array_size(r), 1);
  json_t *kinds = json_object_get(json_object_get(json_array_get(idp_json_get(json_array_get(r, 0), "match", "any", NULL), 0), "resources"), "kinds");
  assert_int_equal(json_array_size(kinds), 1);
  json_decref(r);
}

static void test_skipped(void **state) {
  (void)state;
  json_t *r = gen("", ",\"names\":[\"x\"]");
  assert_int_equal(json_array_size(r), 0);
  json_decref(r);
  r = gen("", ",\"selector\":{\"matchLabels\":{\"a\":\"b\"}}");
  assert_int_equal(json_array_size(r), 0);
  json_decref(r);
}

static void test_loaded(void **state) {
  (void)state;
  char buf[2048];
  snprintf(buf, sizeof buf, policy, "", "");
  json_t *doc = J(buf);
  pol_policy *p = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(pol_policy_load(doc, "t", &p, &e), IDP_OK);
  assert_int_equal(json_array_size(p->rules), 3);
  pol_policy_free(p);
  json_decref(doc);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_default),
      cmocka_unit_test(test_annotation),
      cmocka_unit_test(test_skipped),
      cmocka_unit_test(test_loaded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
