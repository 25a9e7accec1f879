/* Label selectors: text syntax, LabelSelector objects, matching, errors. */
#include "../test.h"
#include "kube/selector.h"

static json_t *labels(const char *json) { return json_loads(json, 0, NULL); }

static bool sel_match(const char *sel, const char *lbl) {
  idp_selector *s;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_selector_parse(sel, &s, &e), IDP_OK);
  json_t *l = labels(lbl);
  bool r = idp_selector_matches(s, l);
  json_decref(l);
  idp_selector_free(s);
  return r;
}

static void test_equality(void **state) {
  (void)state;
  assert_true(sel_match("app=web", "{\"app\":\"web\"}"));
  assert_true(sel_match("app==web", "{\"app\":\"web\",\"x\":\"y\"}"));
  assert_false(sel_match("app=web", "{\"app\":\"db\"}"));
  assert_false(sel_match("app=web", "{}"));
  assert_true(sel_match("app!=web", "{}"));
  assert_true(sel_match("app!=web", "{\"app\":\"db\"}"));
  assert_false(sel_match("app!=web", "{\"app\":\"web\"}"));
  assert_true(sel_match("app=", "{\"app\":\"\"}"));
  assert_false(sel_match("app=", "{}"));
}

static void test_sets_and_existence(void **state) {
  (void)state;
  assert_true(sel_match("env in (prod, staging)", "{\"env\":\"staging\"}"));
  assert_false(sel_match("env in (prod,staging)", "{\"env\":\"dev\"}"));
  assert_false(sel_match("env in (prod)", "{}"));
  assert_true(sel_match("env notin (prod)", "{}"));
  assert_true(sel_match("env notin (prod)", "{\"env\":\"dev\"}"));
  assert_false(sel_match("env notin (prod,dev)", "{\"env\":\"dev\"}"));
  assert_true(sel_match("tier", "{\"tier\":\"x\"}"));
  assert_false(sel_match("tier", "{}"));
  assert_true(sel_match("!tier", "{}"));
  assert_false(sel_match("!tier", "{\"tier\":\"\"}"));
  assert_true(sel_match("a=1,b in (x),!c,d", "{\"a\":\"1\",\"b\":\"x\",\"d\":\"\"}"));
  assert_false(sel_match("a=1,b in (x),!c", "{\"a\":\"1\",\"b\":\"x\",\"c\":\"z\"}"));
  assert_true(sel_match("example.com/team=a", "{\"example.com/team\":\"a\"}"));
  assert_true(sel_match("n>3", "{\"n\":\"10\"}"));
  assert_false(sel_match("n<3", "{\"n\":\"10\"}"));
  assert_false(sel_match("n>3", "{\"n\":\"abc\"}"));
  /* keywords only in operator position: a label called "in" works */
  assert_true(sel_match("in=in", "{\"in\":\"in\"}"));
}

static void test_empty(void **state) {
  (void)state;
  idp_selector *s;
  assert_int_equal(idp_selector_parse("", &s, NULL), IDP_OK);
  assert_true(idp_selector_empty(s));
  assert_true(idp_selector_matches(s, NULL));
  idp_selector_free(s);
  assert_int_equal(idp_selector_parse("   ", &s, NULL), IDP_OK);
  assert_true(idp_selector_empty(s));
  idp_selector_free(s);
  assert_true(idp_selector_empty(NULL));
  json_t *j = json_object();
  assert_int_equal(idp_selector_from_json(j, &s, NULL), IDP_OK);
  assert_true(idp_selector_empty(s));
  assert_true(idp_selector_matches(s, j));
  idp_selector_free(s);
  json_decref(j);
}

static void expect_error(const char *sel, const char *needle) {
  idp_selector *s = (idp_selector *)1;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_selector_parse(sel, &s, &e), IDP_EINVAL);
  assert_null(s);
  if (!strstr(e.msg, needle)) fail_msg("selector %s: message '%s' lacks '%s'", sel, e.msg, needle);
}

static void test_errors(void **state) {
  (void)state;
  expect_error("a in x", "found 'x'");
  expect_error("a in (x", "end of string");
  expect_error("a=b,", "end of string");
  expect_error(",a", "found ','");
  expect_error("a b", "found 'b'");
  expect_error("a=b c", "found 'c'");
  expect_error("-bad=x", "\"-bad\"");
  expect_error("a=b!c", "found '!' at position 4");
  expect_error("a=-x-", "values[0][a]");
  expect_error("a>x", "must be an integer");
  expect_error("!a=b", "found '='");
  expect_error("Bad_Prefix/x=y", "prefix part");
}

static void test_from_json(void **state) {
  (void)state;
  json_t *ls = json_loads("{\"matchLabels\":{\"app\":\"web\"},\"matchExpressions\":["
                          "{\"key\":\"env\",\"operator\":\"In\",\"values\":[\"prod\",\"qa\"]},"
                          "{\"key\":\"legacy\",\"operator\":\"DoesNotExist\"}]}",
                          0, NULL);
  idp_selector *s;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_selector_from_json(ls, &s, &e), IDP_OK);
  json_t *l1 = labels("{\"app\":\"web\",\"env\":\"qa\"}");
  json_t *l2 = labels("{\"app\":\"web\",\"env\":\"qa\",\"legacy\":\"1\"}");
  json_t *l3 = labels("{\"app\":\"web\"}");
  assert_true(idp_selector_matches(s, l1));
  assert_false(idp_selector_matches(s, l2));
  assert_false(idp_selector_matches(s, l3));
  char *txt = idp_selector_string(s);
  assert_string_equal(txt, "app=web,env in (prod,qa),!legacy");
  free(txt);
  idp_selector_free(s);
  json_decref(l1);
  json_decref(l2);
  json_decref(l3);
  json_decref(ls);
}

static void test_from_json_errors(void **state) {
  (void)state;
  static const struct {
    const char *json, *needle;
  } cases[] = {
      {"{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Foo\"}]}",
       "matchExpressions[0].operator: Invalid value: \"Foo\""},
      {"{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"In\"}]}",
       "matchExpressions[0].values: Required value"},
      {"{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\",\"values\":[\"x\"]}]}",
       "matchExpressions[0].values: Forbidden"},
      {"{\"matchExpressions\":[{\"operator\":\"Exists\"}]}", "matchExpressions[0].key: Required"},
      {"{\"matchLabels\":{\"a\":1}}", "matchLabels[a]"},
      {"{\"matchLabels\":{\"a\":\"b c\"}}", "\"b c\""},
      {"[1]", "must be an object"},
  };
  for (size_t i = 0; i < IDP_ARRAY_LEN(cases); i++) {
    json_t *j = json_loads(cases[i].json, 0, NULL);
    idp_selector *s;
    idp_err e = IDP_ERR_INIT;
    assert_int_equal(idp_selector_from_json(j, &s, &e), IDP_EINVAL);
    if (!strstr(e.msg, cases[i].needle)) fail_msg("%s: '%s'", cases[i].json, e.msg);
    json_decref(j);
  }
}

static void test_canonical_string(void **state) {
  (void)state;
  idp_selector *s;
  assert_int_equal(idp_selector_parse("z=1, a notin (c,b,b), !m, k", &s, NULL), IDP_OK);
  char *t = idp_selector_string(s);
  assert_string_equal(t, "a notin (b,c),k,!m,z=1");
  free(t);
  idp_selector_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_equality),      cmocka_unit_test(test_sets_and_existence),
      cmocka_unit_test(test_empty),         cmocka_unit_test(test_errors),
      cmocka_unit_test(test_from_json),     cmocka_unit_test(test_from_json_errors),
      cmocka_unit_test(test_canonical_string),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
