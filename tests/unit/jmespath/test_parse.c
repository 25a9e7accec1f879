/* jmespath: compilation, syntax errors and their classes, limits. */
#include "../test.h"
#include "jmespath/jmespath.h"

static void expect_error(const char *text, const char *cls) {
  jp_expr *x = (jp_expr *)1;
  idp_err e = IDP_ERR_INIT;
  idp_code rc = jp_compile(text, &x, &e);
  assert_int_not_equal(rc, IDP_OK);
  assert_null(x);
  assert_non_null(jp_error_class(&e));
  assert_string_equal(jp_error_class(&e), cls);
}

static void test_syntax_errors(void **state) {
  (void)state;
  expect_error("foo.", "syntax");
  expect_error("foo[", "syntax");
  expect_error("a = b", "syntax");
  expect_error("[a, ]", "syntax");
  expect_error("\"foo\"(@)", "syntax");
  expect_error("foo[?]", "syntax");
  expect_error("{a: }", "syntax");
  expect_error("`\"abc`", "syntax");
  expect_error("`[1, 2`x", "syntax");
  expect_error("a b", "syntax");
  expect_error("foo[::0]", "invalid-value");
  expect_error("no_such_function(@)", "unknown-function");
  expect_error("length(@, @)", "invalid-arity");
  expect_error("abs()", "invalid-arity");
  expect_error("not_null()", "invalid-arity");
  expect_error("add('1')", "invalid-arity");
}

static void test_error_names_column(void **state) {
  (void)state;
  jp_expr *x;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(jp_compile("foo.bar[", &x, &e), IDP_EINVAL);
  assert_non_null(strstr(e.msg, "column 9"));
  assert_non_null(strstr(e.msg, "foo.bar["));
  /* jp_error_class survives a prefix added by a caller. */
  idp_err_prefix(&e, "policy p rule r");
  assert_string_equal(jp_error_class(&e), "syntax");
  idp_err none = IDP_ERR_INIT;
  assert_null(jp_error_class(&none));
  idp_err other = IDP_ERR_INIT;
  idp_err_set(&other, IDP_EIO, "disk");
  assert_null(jp_error_class(&other));
}

static void test_compile_ok(void **state) {
  (void)state;
  const char *ok[] = {"a.b.c", "a[0].b[-1]", "a[1:2:-1]", "a[*].b[?c > `1`] | [0]", "{x: a, y: b}",
                      "[a, b][0]", "sort_by(@, &a)", "'raw \\' quote'", "`legacy`", "@",
                      "!a && (b || c)", "a[].b[]", "*.a", "foo.\"quoted id\"",
                      "request.object.metadata.labels.\"app.kubernetes.io/name\" || ''"};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    jp_expr *x = NULL;
    idp_err e = IDP_ERR_INIT;
    assert_int_equal(jp_compile(ok[i], &x, &e), IDP_OK);
    assert_string_equal(jp_expr_text(x), ok[i]);
    jp_expr_free(x);
  }
}

static void test_spec_dialect(void **state) {
  (void)state;
  jp_expr *x = NULL;
  idp_err e = IDP_ERR_INIT;
  /* Kyverno's functions exist only in the Kyverno dialect. */
  assert_int_equal(jp_compile_dialect("to_upper('a')", JP_DIALECT_SPEC, &x, &e), IDP_EINVAL);
  assert_string_equal(jp_error_class(&e), "unknown-function");
  assert_int_equal(jp_compile_dialect("to_upper('a')", JP_DIALECT_KYVERNO, &x, &e), IDP_OK);
  jp_expr_free(x);
}

static void test_deep_nesting_is_an_error(void **state) {
  (void)state;
  char buf[4096];
  size_t n = 0;
  for (int i = 0; i < 1000; i++) buf[n++] = '(';
  buf[n++] = 'a';
  for (int i = 0; i < 1000; i++) buf[n++] = ')';
  buf[n] = '\0';
  jp_expr *x = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(jp_compile(buf, &x, &e), IDP_EINVAL);
  assert_string_equal(jp_error_class(&e), "syntax");
  assert_int_equal(jp_compile(NULL, &x, &e), IDP_EINVAL);
  /* Long left-deep chains are bounded too (the evaluator recurses on them). */
  size_t len = 3 * 5000;
  char *chain = malloc(len + 2);
  for (size_t i = 0; i < 5000; i++) memcpy(chain + 3 * i, "a.b", 3), chain[3 * i + 3] = '.';
  chain[len - 1] = '\0';
  assert_int_equal(jp_compile(chain, &x, &e), IDP_EINVAL);
  assert_string_equal(jp_error_class(&e), "syntax");
  free(chain);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_syntax_errors),
      cmocka_unit_test(test_error_names_column),
      cmocka_unit_test(test_compile_ok),
      cmocka_unit_test(test_spec_dialect),
      cmocka_unit_test(test_deep_nesting_is_an_error),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
