/* JSON helpers, wildcard matching and the error table. */
#include "../test.h"
#include "core/json.h"

static void test_get(void **state) {
  (void)state;
  json_t *o = json_pack("{s:{s:s,s:{s:s}}}", "metadata", "name", "x", "labels", "app", "web");
  assert_string_equal(idp_json_get_str(o, "metadata", "name", NULL), "x");
  assert_string_equal(json_string_value(idp_json_path(o, "metadata.labels.app")), "web");
  assert_null(idp_json_get_str(o, "metadata", "nope", NULL));
  assert_null(idp_json_get(o, "metadata", "name", "deeper", NULL));
  json_decref(o);
}

static void test_parse_strict(void **state) {
  (void)state;
  json_t *v;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_json_parse("{\"a\":1,\"a\":2}", 13, "body", &v, &e), IDP_EINVAL);
  assert_non_null(strstr(e.msg, "body:"));
  assert_int_equal(idp_json_parse("{\"a\":9223372036854775807}", 25, "body", &v, &e), IDP_OK);
  assert_true(json_integer_value(json_object_get(v, "a")) == INT64_MAX);
  json_decref(v);
}

static void test_wildcard(void **state) {
  (void)state;
  assert_true(idp_wildcard_match("*", ""));
  assert_true(idp_wildcard_match("team-*", "team-a"));
  assert_false(idp_wildcard_match("team-*", "teama"));
  assert_true(idp_wildcard_match("a?c*z", "abcxyz"));
  assert_false(idp_wildcard_match("a?c", "ac"));
}

static void test_err_table(void **state) {
  (void)state;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_err_set(&e, IDP_ECONFLICT, "x %d", 1), IDP_ECONFLICT);
  idp_err_prefix(&e, "store");
  assert_string_equal(e.msg, "store: x 1");
  assert_int_equal(idp_code_http(IDP_EGONE), 410);
  assert_string_equal(idp_code_reason(IDP_EINVALID), "Invalid");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_get),
      cmocka_unit_test(test_parse_strict),
      cmocka_unit_test(test_wildcard),
      cmocka_unit_test(test_err_table),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
