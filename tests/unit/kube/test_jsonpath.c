/* Kubernetes JSONPath: each expression form, formatting, errors. */
#include "../test.h"
#include "core/buf.h"
#include "kube/jsonpath.h"

static json_t *doc;

static int setup(void **state) {
  (void)state;
  doc = json_loads(
      "{\"kind\":\"List\",\"metadata\":{\"name\":\"x\",\"labels\":{\"app.kubernetes.io/name\":\"web\"}},"
      "\"items\":[{\"name\":\"a\",\"n\":1,\"tags\":[\"t1\"]},{\"name\":\"b\",\"n\":5},"
      "{\"name\":\"c\",\"n\":10,\"deep\":{\"name\":\"inner\"}}],"
      "\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"},"
      "{\"type\":\"Synced\",\"status\":\"False\"}],\"replicas\":3,\"ok\":true}}",
      0, NULL);
  return doc ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  json_decref(doc);
  return 0;
}

/* Evaluates and formats as kubectl prints. */
static void expect(const char *expr, const char *want) {
  json_t *r;
  idp_err e = IDP_ERR_INIT;
  if (idp_jsonpath_eval(expr, doc, &r, &e)) fail_msg("%s: %s", expr, e.msg);
  idp_buf b;
  idp_buf_init(&b, 1 << 20);
  assert_int_equal(idp_jsonpath_format(r, &b, &e), IDP_OK);
  if (strcmp(idp_buf_str(&b), want)) fail_msg("%s: got '%s', want '%s'", expr, idp_buf_str(&b), want);
  idp_buf_free(&b);
  json_decref(r);
}

static void test_fields(void **state) {
  (void)state;
  expect("{.metadata.name}", "x");
  expect(".metadata.name", "x");
  expect("$.metadata.name", "x");
  expect("metadata.name", "x");
  expect("{.status.replicas}", "3");
  expect("{.status.ok}", "true");
  expect("{.metadata.missing}", "");
  expect("{.metadata.name.deeper}", "");
  expect("{.metadata.labels}", "{\"app.kubernetes.io/name\":\"web\"}");
  expect("{.metadata.labels['app.kubernetes.io/name']}", "web");
  expect("{.metadata.labels[\"app.kubernetes.io/name\"]}", "web");
  expect("{.metadata.labels.app\\.kubernetes\\.io/name}", "web");
  expect("{.metadata.labels.app\\.kubernetes}", "");
}

static void test_arrays(void **state) {
  (void)state;
  expect("{.items[*].name}", "a b c");
  expect("{.items[0].name}", "a");
  expect("{.items[-1].name}", "c");
  expect("{.items[5].name}", "");
  expect("{.items[-1:].name}", "c");
  expect("{.items[0:2].name}", "a b");
  expect("{.items[::2].name}", "a c");
  expect("{.items[0,2].name}", "a c");
  expect("{.items[*].tags[0]}", "t1");
  expect("{.metadata.*}", "x {\"app.kubernetes.io/name\":\"web\"}");
}

static void test_recursive(void **state) {
  (void)state;
  expect("{..name}", "x a b c inner");
  expect("{.items..name}", "a b c inner");
  expect("{..conditions[0].type}", "Ready");
}

static void test_filters(void **state) {
  (void)state;
  expect("{.status.conditions[?(@.type=='Ready')].status}", "True");
  expect("{.status.conditions[?(@.type==\"Synced\")].status}", "False");
  expect("{.status.conditions[?(@.type!='Ready')].type}", "Synced");
  expect("{.items[?(@.n>1)].name}", "b c");
  expect("{.items[?(@.n <= 5)].name}", "a b");
  expect("{.items[?(@.tags)].name}", "a");
  expect("{.items[?(@.deep.name=='inner')].n}", "10");
  expect("{.items[?(@.name=='zzz')].n}", "");
}

static void test_multiple_groups(void **state) {
  (void)state;
  expect("{.metadata.name}{.status.replicas}", "x 3");
}

static void test_errors(void **state) {
  (void)state;
  static const char *const bad[] = {"{.items[0}", "{.items[?(@.n>)]}", "{.metadata.name",
                                    "{.items[a]}", "{.items[1:2:0]}", "{.items[?(@.n=='x)]}", "{.metadata.name\\}"};
  for (size_t i = 0; i < IDP_ARRAY_LEN(bad); i++) {
    json_t *r = (json_t *)1;
    idp_err e = IDP_ERR_INIT;
    idp_code rc = idp_jsonpath_eval(bad[i], doc, &r, &e);
    if (rc != IDP_EINVAL) fail_msg("%s: rc %d", bad[i], rc);
    assert_null(r);
    assert_non_null(strstr(e.msg, "jsonpath"));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fields),   cmocka_unit_test(test_arrays),
      cmocka_unit_test(test_recursive), cmocka_unit_test(test_filters),
      cmocka_unit_test(test_multiple_groups), cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
