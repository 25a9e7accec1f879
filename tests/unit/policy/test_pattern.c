/* validate.pattern: anchors, wildcards, value operators. */
#include "../test.h"
#include "helpers.h"
#include "policy/internal.h"

static int match(const char *res, const char *pat) {
  json_t *r = J(res), *p = J(pat);
  int m = pol_match_pattern(r, p, NULL, 0);
  json_decref(r);
  json_decref(p);
  return m;
}

static bool value(const char *v, const char *p) {
  json_t *a = J(v), *b = J(p);
  bool r = pol_value_matches(a, b);
  json_decref(a);
  json_decref(b);
  return r;
}

static void test_values(void **state) {
  (void)state;
  assert_true(value("\"nginx:1.2\"", "\"*:*\""));
  assert_false(value("\"nginx:latest\"", "\"!*:latest\""));
  assert_true(value("\"nginx:1.2\"", "\"!*:latest\""));
  assert_true(value("\"512Mi\"", "\"<=1Gi\""));
  assert_false(value("\"2Gi\"", "\"<=1Gi\""));
  assert_true(value("\"500m\"", "\"<1\""));
  assert_true(value("5", "\"1-10\""));
  assert_false(value("11", "\"1-10\""));
  assert_true(value("11", "\"1!-10\""));
  assert_true(value("\"30s\"", "\"<1m\""));
  assert_true(value("\"a\"", "\"b | a\""));
  assert_true(value("8080", "\">1024 & <65536\""));
  assert_false(value("80", "\">1024 & <65536\""));
  assert_true(value("null", "null"));
  assert_true(value("\"\"", "null"));
  assert_false(value("\"x\"", "null"));
  assert_true(value("\"x\"", "\"?*\""));
  assert_false(value("\"\"", "\"?*\""));
  assert_true(value("3", "3"));
  assert_true(value("3.0", "3"));
  assert_true(value("\"3\"", "3"));
  assert_false(value("\"true\"", "true"));
  assert_true(value("{\"a\":1}", "{}"));
  assert_false(value("[1]", "[1]"));
  /* numbers meet wildcard strings in Go's %E form, as the CLI reads them */
  assert_true(value("8080", "\"?*\""));
  assert_false(value("8080", "\"80*\""));
  assert_true(value("8080", "\"8.08E+03\""));
  /* a missing value reads as 0 for quantity comparisons */
  assert_true(value("null", "\"<10\""));
}

static void test_plain_and_lists(void **state) {
  (void)state;
  assert_int_equal(match("{\"a\":{\"b\":\"x\"}}", "{\"a\":{\"b\":\"x\"}}"), 0);
  assert_int_equal(match("{\"a\":{}}", "{\"a\":{\"b\":\"?*\"}}"), 1);
  assert_int_equal(match("{\"a\":1}", "{\"a\":\"*\"}"), 0);
  assert_int_equal(match("{}", "{\"a\":\"*\"}"), 1);
  /* every element must match */
  assert_int_equal(match("{\"c\":[{\"i\":\"a:1\"},{\"i\":\"b:latest\"}]}",
                         "{\"c\":[{\"i\":\"!*:latest\"}]}"), 1);
  assert_int_equal(match("{\"c\":[{\"i\":\"a:1\"}]}", "{\"c\":[{\"i\":\"!*:latest\"}]}"), 0);
  /* scalar pattern against a list of scalars */
  assert_int_equal(match("{\"l\":[\"a\",\"ab\"]}", "{\"l\":\"a*\"}"), 0);
  assert_int_equal(match("{\"l\":[\"a\",\"b\"]}", "{\"l\":\"a*\"}"), 1);
}

static void test_anchors(void **state) {
  (void)state;
  /* equality: absent passes, present must match */
  assert_int_equal(match("{}", "{\"=(hostNetwork)\":false}"), 0);
  assert_int_equal(match("{\"hostNetwork\":true}", "{\"=(hostNetwork)\":false}"), 1);
  /* negation */
  assert_int_equal(match("{\"a\":1}", "{\"X(a)\":\"null\"}"), 1);
  assert_int_equal(match("{\"b\":1}", "{\"X(a)\":\"null\"}"), 0);
  /* conditional: skip when the condition does not hold */
  assert_int_equal(match("{\"kind\":\"Pod\",\"x\":1}", "{\"(kind)\":\"Deployment\",\"x\":2}"), 2);
  assert_int_equal(match("{\"kind\":\"Pod\",\"x\":1}", "{\"(kind)\":\"Pod\",\"x\":2}"), 1);
  assert_int_equal(match("{\"x\":1}", "{\"(kind)\":\"Pod\",\"x\":2}"), 2);
  /* conditional inside a list: non-matching elements are skipped */
  assert_int_equal(match("{\"c\":[{\"n\":\"a\",\"p\":true},{\"n\":\"b\",\"p\":false}]}",
                         "{\"c\":[{\"(n)\":\"b\",\"p\":false}]}"), 0);
  assert_int_equal(match("{\"c\":[{\"n\":\"a\"}]}", "{\"c\":[{\"(n)\":\"b\",\"p\":false}]}"), 2);
  /* existence: at least one element */
  assert_int_equal(match("{\"c\":[{\"i\":\"a\"},{\"i\":\"b\"}]}", "{\"^(c)\":[{\"i\":\"b\"}]}"), 0);
  assert_int_equal(match("{\"c\":[{\"i\":\"a\"}]}", "{\"^(c)\":[{\"i\":\"b\"}]}"), 1);
  /* global: a failing global condition skips the whole rule */
  assert_int_equal(match("{\"spec\":{\"c\":[{\"image\":\"x/a\"}]},\"m\":1}",
                         "{\"spec\":{\"c\":[{\"<(image)\":\"corp/*\"}]},\"m\":2}"), 2);
  /* wildcard label keys take the resource's key */
  assert_int_equal(match("{\"metadata\":{\"labels\":{\"app.io/x\":\"v\"}}}",
                         "{\"metadata\":{\"labels\":{\"app.io/*\":\"?*\"}}}"), 0);
  assert_int_equal(match("{\"metadata\":{\"labels\":{\"other\":\"v\"}}}",
                         "{\"metadata\":{\"labels\":{\"app.io/*\":\"?*\"}}}"), 1);
  assert_int_equal(match("{\"metadata\":{\"annotations\":{\"a/x-snippet\":\"v\"}}}",
                         "{\"metadata\":{\"=(annotations)\":{\"X(*-snippet)\":\"?*\"}}}"), 1);
}

static void test_anchor_parse(void **state) {
  (void)state;
  const char *k;
  size_t n;
  assert_int_equal(pol_anchor_parse("(name)", &k, &n), POL_A_COND);
  assert_int_equal(n, 4);
  assert_int_equal(pol_anchor_parse("=(a)", NULL, NULL), POL_A_EQUAL);
  assert_int_equal(pol_anchor_parse("X(a)", NULL, NULL), POL_A_NEG);
  assert_int_equal(pol_anchor_parse("^(a)", NULL, NULL), POL_A_EXIST);
  assert_int_equal(pol_anchor_parse("<(a)", NULL, NULL), POL_A_GLOBAL);
  assert_int_equal(pol_anchor_parse("+(a)", NULL, NULL), POL_A_ADD);
  assert_int_equal(pol_anchor_parse("name", NULL, NULL), POL_A_NONE);
  assert_int_equal(pol_anchor_parse("()", NULL, NULL), POL_A_NONE);
  assert_int_equal(pol_anchor_parse("Y(a)", NULL, NULL), POL_A_NONE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_values),
      cmocka_unit_test(test_plain_and_lists),
      cmocka_unit_test(test_anchors),
      cmocka_unit_test(test_anchor_parse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
