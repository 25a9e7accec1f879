/* RFC 7386 JSON merge patch: the examples of Appendix A and section 3. */
#include "../test.h"
#include "helpers.h"

static const struct {
  const char *target, *patch, *result;
} rfc7386_appendix_a[] = {
    {"{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
    {"{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}"},
    {"{\"a\":\"b\"}", "{\"a\":null}", "{}"},
    {"{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}"},
    {"{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}"},
    {"{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}"},
    {"{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}"},
    {"{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}"},
    {"[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]"},
    {"{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]"},
    {"{\"a\":\"foo\"}", "null", "null"},
    {"{\"a\":\"foo\"}", "\"bar\"", "\"bar\""},
    {"{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}"},
    {"[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}"},
    {"{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}"},
};

static void test_appendix_a(void **state) {
  (void)state;
  for (size_t i = 0; i < IDP_ARRAY_LEN(rfc7386_appendix_a); i++) {
    json_t *t = J(rfc7386_appendix_a[i].target), *p = J(rfc7386_appendix_a[i].patch);
    assert_json(idp_merge_patch(t, p), J(rfc7386_appendix_a[i].result));
    json_decref(t);
    json_decref(p);
  }
}

static void test_section3_example(void **state) {
  (void)state;
  json_t *t = J("{\"title\":\"Goodbye!\",\"author\":{\"givenName\":\"John\",\"familyName\":"
                "\"Doe\"},\"tags\":[\"example\",\"sample\"],\"content\":\"This will be "
                "unchanged\"}");
  json_t *p = J("{\"title\":\"Hello!\",\"phoneNumber\":\"+01-123-456-7890\",\"author\":"
                "{\"familyName\":null},\"tags\":[\"example\"]}");
  json_t *before = json_deep_copy(t);
  assert_json(idp_merge_patch(t, p),
              J("{\"title\":\"Hello!\",\"author\":{\"givenName\":\"John\"},\"tags\":"
                "[\"example\"],\"content\":\"This will be unchanged\",\"phoneNumber\":"
                "\"+01-123-456-7890\"}"));
  assert_json(json_incref(t), before); /* the target is not modified */
  json_decref(t);
  json_decref(p);
}

/* kubectl patch --type merge on the docs' Deployment replaces the list. */
static void test_kubectl_docs_merge(void **state) {
  (void)state;
  json_t *t = Y("spec:\n  template:\n    spec:\n      containers:\n      - name: patch-demo-ctr\n"
                "        image: nginx\n      - name: patch-demo-ctr-2\n        image: redis\n");
  json_t *p = Y("spec:\n  template:\n    spec:\n      containers:\n      - name: patch-demo-ctr-3\n"
                "        image: gcr.io/google-samples/hello-app:2.0\n");
  assert_json(idp_merge_patch(t, p),
              Y("spec:\n  template:\n    spec:\n      containers:\n      - name: patch-demo-ctr-3\n"
                "        image: gcr.io/google-samples/hello-app:2.0\n"));
  json_decref(t);
  json_decref(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_appendix_a),
      cmocka_unit_test(test_section3_example),
      cmocka_unit_test(test_kubectl_docs_merge),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
