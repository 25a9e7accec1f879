/* {{ }} substitution. */
#include "../test.h"
#include "helpers.h"
#include "policy/internal.h"

static json_t *ctx(void) {
  return J("{\"request\":{\"operation\":\"CREATE\",\"object\":{\"metadata\":{\"name\":\"web\","
           "\"labels\":{\"app\":\"a\"}},\"spec\":{\"replicas\":3}}},\"which\":\"name\","
           "\"list\":[1,2]}");
}

static char *subst_text(const char *doc, pol_vars_mode mode, idp_err *e) {
  json_t *c = ctx(), *d = J(doc);
  json_t *r = pol_subst(d, c, mode, e);
  char *s = r ? json_dumps(r, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
  json_decref(r);
  json_decref(d);
  json_decref(c);
  return s;
}

static void expect(const char *doc, const char *want) {
  idp_err e = IDP_ERR_INIT;
  char *s = subst_text(doc, POL_VARS_DEFAULT, &e);
  if (!s) fail_msg("substitution of %s failed: %s", doc, e.msg);
  assert_string_equal(s, want);
  free(s);
}

static void test_basic(void **state) {
  (void)state;
  expect("\"{{request.object.metadata.name}}\"", "\"web\"");
  expect("\"{{ request.object.spec.replicas }}\"", "3");
  expect("\"n={{request.object.spec.replicas}}\"", "\"n=3\"");
  expect("\"{{list}}\"", "[1,2]");
  expect("\"x-{{list}}\"", "\"x-[1,2]\"");
  expect("{\"{{request.object.metadata.name}}\":1}", "{\"web\":1}");
  expect("\"plain\"", "\"plain\"");
  expect("\"a \\\\{{ escaped }} b\"", "\"a {{ escaped }} b\"");
  expect("\"n={{request.object.metadata.labels}}\"", "\"n={\\\"app\\\":\\\"a\\\"}\"");
}

static void test_nested(void **state) {
  (void)state;
  expect("\"{{request.object.metadata.{{which}}}}\"", "\"web\"");
}

static void test_errors(void **state) {
  (void)state;
  idp_err e = IDP_ERR_INIT;
  char *s = subst_text("{\"a\":\"{{request.object.metadata.missing}}\"}", POL_VARS_DEFAULT, &e);
  assert_null(s);
  assert_non_null(strstr(e.msg, "request.object.metadata.missing"));
  assert_non_null(strstr(e.msg, "/a"));
  s = subst_text("\"{{request.object.metadata.missing}}\"", POL_VARS_PRECONDITION, &e);
  assert_string_equal(s, "\"\"");
  free(s);
  assert_true(pol_has_vars("a {{b}}"));
  assert_false(pol_has_vars("a \\{{b}}"));
}

static void test_delete_reads_old(void **state) {
  (void)state;
  json_t *c = J("{\"request\":{\"operation\":\"DELETE\",\"object\":null,\"oldObject\":{\"a\":\"old\"}}}");
  json_t *d = J("\"{{request.object.a}}\"");
  idp_err e = IDP_ERR_INIT;
  json_t *r = pol_subst(d, c, POL_VARS_DEFAULT, &e);
  assert_non_null(r);
  assert_string_equal(json_string_value(r), "old");
  json_decref(r);
  json_decref(d);
  json_decref(c);
}

static void test_set_dotted_merges(void **state) {
  (void)state;
  json_t *c = ctx();
  json_t *shared = json_incref(json_object_get(c, "request"));
  /* an object value merges (request.object survives); a dotted path writes through */
  pol_set_dotted(c, "request", J("{\"operation\":\"UPDATE\",\"userInfo\":{\"groups\":[\"g\"]}}"));
  pol_set_dotted(c, "request.object.metadata.name", json_string("renamed"));
  assert_string_equal(json_string_value(json_object_get(json_object_get(c, "request"), "operation")), "UPDATE");
  json_t *name = json_object_get(json_object_get(json_object_get(json_object_get(c, "request"), "object"), "metadata"), "name");
  assert_string_equal(json_string_value(name), "renamed");
  /* the shared original was not written to (copy on write) */
  json_t *orig = json_object_get(json_object_get(json_object_get(shared, "object"), "metadata"), "name");
  assert_string_equal(json_string_value(orig), "web");
  json_decref(shared);
  json_decref(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_basic),
      cmocka_unit_test(test_nested),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_delete_reads_old),
      cmocka_unit_test(test_set_dotted_merges),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
