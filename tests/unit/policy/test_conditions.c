/* Condition operators (deny / preconditions). */
#include "../test.h"
#include "helpers.h"
#include "policy/internal.h"

static int op(const char *o, const char *k, const char *v) {
  json_t *a = J(k), *b = J(v);
  int r = pol_operator(o, a, b);
  json_decref(a);
  json_decref(b);
  return r;
}

static void test_equals(void **state) {
  (void)state;
  assert_int_equal(op("Equals", "\"abc\"", "\"a*\""), 1);
  assert_int_equal(op("Equals", "\"1Gi\"", "\"1024Mi\""), 1);
  assert_int_equal(op("Equals", "\"1h\"", "\"60m\""), 1);
  assert_int_equal(op("Equals", "3", "\"3\""), 1);
  assert_int_equal(op("Equals", "true", "\"true\""), 0);
  assert_int_equal(op("Equals", "{\"a\":1}", "{\"a\":1.0}"), 1);
  assert_int_equal(op("NotEquals", "\"x.mycompany.com\"", "\"*.mycompany.com\""), 0);
  assert_int_equal(op("Equal", "\"a\"", "\"a\""), 1);
  assert_int_equal(op("Bogus", "1", "1"), -1);
  assert_false(pol_operator_known("Bogus"));
  assert_true(pol_operator_known("AnyNotIn"));
}

static void test_sets(void **state) {
  (void)state;
  assert_int_equal(op("AnyIn", "[\"a\",\"z\"]", "[\"a\",\"b\"]"), 1);
  assert_int_equal(op("AllIn", "[\"a\",\"z\"]", "[\"a\",\"b\"]"), 0);
  assert_int_equal(op("AllIn", "[\"a\",\"b\"]", "[\"a\",\"b\",\"c\"]"), 1);
  assert_int_equal(op("AnyNotIn", "[\"a\",\"z\"]", "[\"a\",\"b\"]"), 1);
  assert_int_equal(op("AllNotIn", "[\"y\",\"z\"]", "[\"a\",\"b\"]"), 1);
  assert_int_equal(op("AnyIn", "\"CREATE\"", "[\"CREATE\",\"UPDATE\"]"), 1);
  assert_int_equal(op("AnyIn", "\"team-a\"", "[\"team-*\"]"), 1);
  /* value written as a JSON array in a string */
  assert_int_equal(op("AnyIn", "\"b\"", "\"[\\\"a\\\",\\\"b\\\"]\""), 1);
  assert_int_equal(op("In", "\"a\"", "[\"a\"]"), 1);
  assert_int_equal(op("NotIn", "\"c\"", "[\"a\"]"), 1);
  assert_int_equal(op("AnyIn", "[1,2]", "[2]"), 1);
}

static void test_ordering(void **state) {
  (void)state;
  assert_int_equal(op("GreaterThan", "5", "3"), 1);
  assert_int_equal(op("GreaterThan", "\"5\"", "3"), 1);
  assert_int_equal(op("LessThan", "\"512Mi\"", "\"1Gi\""), 1);
  assert_int_equal(op("GreaterThanOrEquals", "\"2h\"", "\"120m\""), 1);
  assert_int_equal(op("LessThan", "\"1.2.3\"", "\"1.10.0\""), 1);
  assert_int_equal(op("DurationGreaterThan", "\"2h\"", "\"1h\""), 1);
  assert_int_equal(op("DurationLessThanOrEquals", "60", "\"1m\""), 1);
  assert_int_equal(op("GreaterThan", "\"abc\"", "1"), 0);
}

static void test_blocks(void **state) {
  (void)state;
  json_t *ctx = J("{\"request\":{\"operation\":\"CREATE\",\"object\":{\"metadata\":{\"name\":\"x\"}}}}");
  idp_err e = IDP_ERR_INIT;
  json_t *c = J("{\"any\":[{\"key\":\"{{request.operation}}\",\"operator\":\"Equals\",\"value\":\"DELETE\"},"
                "{\"key\":\"{{request.object.metadata.name}}\",\"operator\":\"Equals\",\"value\":\"x\"}]}");
  assert_int_equal(pol_conditions(c, ctx, POL_VARS_PRECONDITION, NULL, 0, &e), 1);
  json_decref(c);
  c = J("{\"any\":[{\"key\":\"a\",\"operator\":\"Equals\",\"value\":\"a\"}],"
        "\"all\":[{\"key\":\"a\",\"operator\":\"Equals\",\"value\":\"b\"}]}");
  assert_int_equal(pol_conditions(c, ctx, POL_VARS_PRECONDITION, NULL, 0, &e), 0);
  json_decref(c);
  /* legacy list = all */
  c = J("[{\"key\":\"a\",\"operator\":\"Equals\",\"value\":\"a\"},{\"key\":1,\"operator\":\"Equals\",\"value\":1}]");
  assert_int_equal(pol_conditions(c, ctx, POL_VARS_PRECONDITION, NULL, 0, &e), 1);
  json_decref(c);
  /* an unresolved variable reads as "" in conditions */
  c = J("[{\"key\":\"{{request.object.metadata.labels.app}}\",\"operator\":\"Equals\",\"value\":\"\"}]");
  assert_int_equal(pol_conditions(c, ctx, POL_VARS_PRECONDITION, NULL, 0, &e), 1);
  json_decref(c);
  c = J("[{\"key\":\"a\",\"operator\":\"Nope\",\"value\":\"a\"}]");
  assert_int_equal(pol_conditions(c, ctx, POL_VARS_PRECONDITION, NULL, 0, &e), -1);
  assert_non_null(strstr(e.msg, "Nope"));
  json_decref(c);
  json_decref(ctx);
}

static void test_units(void **state) {
  (void)state;
  long double q;
  double d;
  assert_true(pol_parse_quantity("1Gi", &q) && q == 1073741824.0L);
  assert_true(pol_parse_quantity("100m", &q) && q > 0.0999L && q < 0.1001L);
  assert_true(pol_parse_quantity("1e3", &q) && q == 1000.0L);
  assert_false(pol_parse_quantity("abc", &q));
  assert_false(pol_parse_quantity("1Mb", &q));
  assert_true(pol_parse_duration("1h30m", &d) && d == 5400);
  assert_true(pol_parse_duration("300ms", &d) && d > 0.29 && d < 0.31);
  assert_false(pol_parse_duration("10", &d));
  assert_true(pol_parse_duration("0", &d) && d == 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_equals),   cmocka_unit_test(test_sets),
      cmocka_unit_test(test_ordering), cmocka_unit_test(test_blocks),
      cmocka_unit_test(test_units),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
