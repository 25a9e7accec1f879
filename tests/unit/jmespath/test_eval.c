/* jmespath: evaluation semantics, Kyverno's NotFound mode, the cache. */
#include "../test.h"
#include <pthread.h>
#include "jmespath/jmespath.h"

static const char *DOC =
    "{\"metadata\":{\"name\":\"web\",\"labels\":{\"app\":\"web\",\"tier\":\"fe\"}},"
    "\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"nginx:1\",\"cpu\":1},"
    "{\"name\":\"b\",\"image\":\"redis\",\"cpu\":2.5},{\"name\":\"c\"}]}}";

/* Evaluates `expr` over DOC and compares with JSON `want`. */
static void check(const char *expr, const char *want) {
  json_t *doc = json_loads(DOC, 0, NULL);
  json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
  assert_non_null(doc);
  assert_non_null(w);
  json_t *got = NULL;
  idp_err e = IDP_ERR_INIT;
  idp_code rc = jp_eval(expr, doc, &got, &e);
  if (rc) fail_msg("%s: %s", expr, e.msg);
  if (!jp_value_equal(got, w)) {
    char *g = jp_to_json_text(got);
    fail_msg("%s: want %s, got %s", expr, want, g);
  }
  json_decref(got);
  json_decref(w);
  json_decref(doc);
}

static void test_paths_and_projections(void **state) {
  (void)state;
  check("metadata.name", "\"web\"");
  check("metadata.nope", "null");
  check("spec.containers[*].name", "[\"a\",\"b\",\"c\"]");
  check("spec.containers[*].image", "[\"nginx:1\",\"redis\"]");
  check("spec.containers[?cpu > `1`].name", "[\"b\"]");
  check("spec.containers[?cpu >= `1`] | length(@)", "2");
  check("spec.containers[-1].name", "\"c\"");
  check("spec.containers[::-1] | [0].name", "\"c\"");
  check("spec.containers[::-1][0].name", "[]");
  check("spec.containers[*].name | [0]", "\"a\"");
  check("metadata.labels.*", "[\"web\",\"fe\"]");
  check("keys(metadata.labels)", "[\"app\",\"tier\"]");
  check("{n: metadata.name, c: length(spec.containers)}", "{\"n\":\"web\",\"c\":3}");
  check("[metadata.name, metadata.nope]", "[\"web\",null]");
  check("metadata.nope || 'dflt'", "\"dflt\"");
  check("!(metadata.nope)", "true");
  check("`1` == `1.0`", "true");
  check("sort_by(spec.containers[?cpu], &cpu)[*].name", "[\"a\",\"b\"]");
  check("max_by(spec.containers[?cpu], &cpu).name", "\"b\"");
  check("to_string(spec.containers[0])", "\"{\\\"name\\\":\\\"a\\\",\\\"image\\\":\\\"nginx:1\\\",\\\"cpu\\\":1}\"");
  check("to_string(`2.5`)", "\"2.5\"");
  check("map(&name, spec.containers)", "[\"a\",\"b\",\"c\"]");
  check("[[`1`,`2`],[`3`]][]", "[1,2,3]");
  check("contains(spec.containers[*].name, 'b')", "true");
  check("join(',', spec.containers[*].name)", "\"a,b,c\"");
}

static void test_type_errors(void **state) {
  (void)state;
  json_t *got = NULL;
  idp_err e = IDP_ERR_INIT;
  json_t *doc = json_loads(DOC, 0, NULL);
  assert_int_equal(jp_eval("abs(metadata)", doc, &got, &e), IDP_EINVAL);
  assert_string_equal(jp_error_class(&e), "invalid-type");
  assert_non_null(strstr(e.msg, "abs()"));
  assert_null(got);
  json_decref(doc);
}

static void test_notfound_mode(void **state) {
  (void)state;
  json_t *doc = json_loads(DOC, 0, NULL);
  json_t *got = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(jp_eval_flags("metadata.annotations.x", doc, JP_NOTFOUND_ERRORS, &got, &e),
                   IDP_ENOTFOUND);
  assert_string_equal(e.msg, "Unknown key \"annotations\" in path");
  assert_null(got);
  /* Null-tolerant constructs turn the miss back into null. */
  const char *ok[] = {"metadata.annotations.x || 'd'", "length(metadata.annotations || `{}`)",
                      "spec.containers[*].cpu", "[metadata.nope]", "metadata.nope == null",
                      "spec.containers[?image == 'redis'].name"};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    assert_int_equal(jp_eval_flags(ok[i], doc, JP_NOTFOUND_ERRORS, &got, &e), IDP_OK);
    json_decref(got);
  }
  /* Without the flag a miss is null. */
  assert_int_equal(jp_eval("metadata.annotations.x", doc, &got, &e), IDP_OK);
  assert_true(json_is_null(got));
  json_decref(doc);
}

static void test_results_share_input(void **state) {
  (void)state;
  json_t *doc = json_loads(DOC, 0, NULL);
  json_t *got = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(jp_eval("metadata.labels", doc, &got, &e), IDP_OK);
  assert_ptr_equal(got, json_object_get(json_object_get(doc, "metadata"), "labels"));
  json_decref(got);
  json_decref(doc);
}

static void *worker(void *arg) {
  json_t *doc = arg;
  char expr[64];
  for (int i = 0; i < 2000; i++) {
    snprintf(expr, sizeof expr, "spec.containers[%d].name || '%d'", i % 5, i % 300);
    json_t *r = NULL;
    idp_err e = IDP_ERR_INIT;
    if (jp_eval(expr, doc, &r, &e) != IDP_OK || !json_is_string(r)) return (void *)1;
    json_decref(r);
  }
  return NULL;
}

static void test_cache_threads(void **state) {
  (void)state;
  json_t *doc = json_loads(DOC, 0, NULL);
  pthread_t t[4];
  for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, worker, doc);
  for (int i = 0; i < 4; i++) {
    void *r;
    pthread_join(t[i], &r);
    assert_null(r);
  }
  jp_cache_clear();
  json_decref(doc);
}

static void test_cache_is_bounded(void **state) {
  (void)state;
  json_t *doc = json_object();
  char expr[64];
  for (int i = 0; i < JP_CACHE_MAX + 100; i++) {
    snprintf(expr, sizeof expr, "a%d", i);
    json_t *r = NULL;
    idp_err e = IDP_ERR_INIT;
    assert_int_equal(jp_eval(expr, doc, &r, &e), IDP_OK);
    json_decref(r);
  }
  jp_cache_clear();
  json_decref(doc);
}

static void test_number_text(void **state) {
  (void)state;
  const struct {
    double d;
    const char *s;
  } cases[] = {{0.1, "0.1"}, {1e21, "1e+21"}, {123456789.0, "123456789"}, {1e-7, "1e-07"},
               {-2.5, "-2.5"}, {0.000001, "0.000001"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    json_t *v = json_real(cases[i].d);
    char *s = jp_to_json_text(v);
    assert_string_equal(s, cases[i].s);
    free(s);
    json_decref(v);
  }
}

/* Failure injection: the n-th jansson allocation fails.  Every outcome
 * must be a result or an error, never a crash or a leak (run under ASan). */
static long fail_at = -1, allocs;
static void *failing_malloc(size_t n) {
  if (fail_at >= 0 && allocs++ == fail_at) return NULL;
  return malloc(n);
}

static void test_allocation_failures(void **state) {
  (void)state;
  json_t *doc = json_loads(DOC, 0, NULL);
  const char *exprs[] = {"spec.containers[*].{n: name, i: image}", "sort_by(spec.containers, &name)[].name",
                         "to_string(metadata)", "keys(metadata.labels)", "add('1Gi', '512Mi')",
                         "split('a,b,c', ',')", "items(metadata.labels, 'k', 'v')",
                         "[spec.containers[].name, metadata][]"};
  json_set_alloc_funcs(failing_malloc, free);
  for (size_t k = 0; k < sizeof exprs / sizeof exprs[0]; k++) {
    jp_expr *x = NULL;
    idp_err e = IDP_ERR_INIT;
    fail_at = -1;
    assert_int_equal(jp_compile(exprs[k], &x, &e), IDP_OK);
    int saw_error = 0;
    for (long n = 0; n < 200; n++) {
      fail_at = n;
      allocs = 0;
      json_t *r = NULL;
      idp_code rc = jp_search(x, doc, &r, &e);
      if (rc) {
        assert_null(r);
        saw_error = 1;
      } else {
        assert_non_null(r);
        json_decref(r);
      }
      if (allocs <= n) break; /* no allocation left to fail */
    }
    fail_at = -1;
    assert_true(saw_error);
    jp_expr_free(x);
  }
  json_set_alloc_funcs(malloc, free);
  json_decref(doc);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_paths_and_projections), cmocka_unit_test(test_type_errors),
      cmocka_unit_test(test_notfound_mode),         cmocka_unit_test(test_results_share_input),
      cmocka_unit_test(test_cache_threads),         cmocka_unit_test(test_cache_is_bounded),
      cmocka_unit_test(test_number_text),           cmocka_unit_test(test_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
