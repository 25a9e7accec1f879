/* patchStrategicMerge with anchors, JSON patch. */
#include "../test.h"
#include "helpers.h"
#include "core/json.h"
#include "policy/internal.h"

static const char *pod = "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\","
                         "\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":["
                         "{\"name\":\"a\",\"image\":\"nginx:latest\"},{\"name\":\"b\",\"image\":\"redis:7\"}]}}";

static json_t *smp(const char *patch, bool *skipped) {
  json_t *r = J(pod), *p = J(patch);
  idp_err e = IDP_ERR_INIT;
  json_t *out = pol_mutate_smp(r, p, skipped, &e);
  if (!out) fail_msg("smp failed: %s", e.msg);
  json_decref(r);
  json_decref(p);
  return out;
}

static void test_add_if_absent(void **state) {
  (void)state;
  bool sk;
  json_t *o = smp("{\"metadata\":{\"labels\":{\"+(app)\":\"x\",\"+(tier)\":\"fe\"}}}", &sk);
  assert_false(sk);
  assert_string_equal(idp_json_get_str(o, "metadata", "labels", "app", NULL), "web");
  assert_string_equal(idp_json_get_str(o, "metadata", "labels", "tier", NULL), "fe");
  json_decref(o);
}

static void test_conditional_list(void **state) {
  (void)state;
  bool sk;
  json_t *o = smp("{\"spec\":{\"containers\":[{\"(image)\":\"*:latest\",\"imagePullPolicy\":\"Always\"}]}}", &sk);
  json_t *cs = idp_json_get(o, "spec", "containers", NULL);
  assert_int_equal(json_array_size(cs), 2);
  assert_string_equal(idp_json_get_str(json_array_get(cs, 0), "imagePullPolicy", NULL), "Always");
  assert_null(idp_json_get_str(json_array_get(cs, 1), "imagePullPolicy", NULL));
  json_decref(o);
}

static void test_conditional_skip(void **state) {
  (void)state;
  bool sk;
  json_t *o = smp("{\"metadata\":{\"labels\":{\"(app)\":\"db\"}},\"spec\":{\"x\":1}}", &sk);
  assert_true(sk);
  assert_null(idp_json_get(o, "spec", "x", NULL));
  json_decref(o);
}

static void test_merge_keys(void **state) {
  (void)state;
  bool sk;
  json_t *o = smp("{\"spec\":{\"containers\":[{\"name\":\"b\",\"image\":\"redis:8\"},{\"name\":\"c\",\"image\":\"x\"}]}}", &sk);
  json_t *cs = idp_json_get(o, "spec", "containers", NULL);
  assert_int_equal(json_array_size(cs), 3);
  assert_string_equal(idp_json_get_str(json_array_get(cs, 1), "image", NULL), "redis:8");
  assert_string_equal(idp_json_get_str(json_array_get(cs, 2), "name", NULL), "c");
  json_decref(o);
  /* $patch: delete removes a list element */
  o = smp("{\"spec\":{\"containers\":[{\"name\":\"a\",\"$patch\":\"delete\"}]}}", &sk);
  cs = idp_json_get(o, "spec", "containers", NULL);
  assert_int_equal(json_array_size(cs), 1);
  assert_string_equal(idp_json_get_str(json_array_get(cs, 0), "name", NULL), "b");
  json_decref(o);
  /* null deletes */
  o = smp("{\"metadata\":{\"labels\":{\"app\":null}}}", &sk);
  assert_null(idp_json_get(o, "metadata", "labels", "app", NULL));
  json_decref(o);
}

static void test_json6902(void **state) {
  (void)state;
  json_t *r = J(pod);
  json_t *ops = J("[{\"op\":\"add\",\"path\":\"/spec/tolerations/-\",\"value\":{\"key\":\"k\"}},"
                  "{\"op\":\"remove\",\"path\":\"/metadata/annotations/none\"},"
                  "{\"op\":\"replace\",\"path\":\"/spec/containers/0/image\",\"value\":\"nginx:1\"}]");
  idp_err e = IDP_ERR_INIT;
  json_t *o = pol_mutate_json6902(r, ops, &e);
  assert_non_null(o);
  assert_int_equal(json_array_size(idp_json_get(o, "spec", "tolerations", NULL)), 1);
  assert_string_equal(idp_json_get_str(json_array_get(idp_json_get(o, "spec", "containers", NULL), 0), "image", NULL), "nginx:1");
  json_decref(o);
  json_decref(ops);
  json_decref(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_add_if_absent),
      cmocka_unit_test(test_conditional_list),
      cmocka_unit_test(test_conditional_skip),
      cmocka_unit_test(test_merge_keys),
      cmocka_unit_test(test_json6902),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
