/* RFC 6902 JSON patch: the examples of Appendix A, pointers, errors. */
#include "../test.h"
#include "core/json.h"
#include "helpers.h"

static const struct {
  const char *name, *doc, *patch, *result; /* result NULL: error */
  idp_code code;
} appendix_a[] = {
    {"A.1 add object member", "{\"foo\":\"bar\"}",
     "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\"}]", "{\"baz\":\"qux\",\"foo\":\"bar\"}",
     IDP_OK},
    {"A.2 add array element", "{\"foo\":[\"bar\",\"baz\"]}",
     "[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":\"qux\"}]",
     "{\"foo\":[\"bar\",\"qux\",\"baz\"]}", IDP_OK},
    {"A.3 remove object member", "{\"baz\":\"qux\",\"foo\":\"bar\"}",
     "[{\"op\":\"remove\",\"path\":\"/baz\"}]", "{\"foo\":\"bar\"}", IDP_OK},
    {"A.4 remove array element", "{\"foo\":[\"bar\",\"qux\",\"baz\"]}",
     "[{\"op\":\"remove\",\"path\":\"/foo/1\"}]", "{\"foo\":[\"bar\",\"baz\"]}", IDP_OK},
    {"A.5 replace", "{\"baz\":\"qux\",\"foo\":\"bar\"}",
     "[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":\"boo\"}]",
     "{\"baz\":\"boo\",\"foo\":\"bar\"}", IDP_OK},
    {"A.6 move a value", "{\"foo\":{\"bar\":\"baz\",\"waldo\":\"fred\"},\"qux\":{\"corge\":\"grault\"}}",
     "[{\"op\":\"move\",\"from\":\"/foo/waldo\",\"path\":\"/qux/thud\"}]",
     "{\"foo\":{\"bar\":\"baz\"},\"qux\":{\"corge\":\"grault\",\"thud\":\"fred\"}}", IDP_OK},
    {"A.7 move an array element", "{\"foo\":[\"all\",\"grass\",\"cows\",\"eat\"]}",
     "[{\"op\":\"move\",\"from\":\"/foo/1\",\"path\":\"/foo/3\"}]",
     "{\"foo\":[\"all\",\"cows\",\"eat\",\"grass\"]}", IDP_OK},
    {"A.8 test success", "{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}",
     "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"qux\"},"
     "{\"op\":\"test\",\"path\":\"/foo/1\",\"value\":2}]",
     "{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}", IDP_OK},
    {"A.9 test error", "{\"baz\":\"qux\"}",
     "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"bar\"}]", NULL, IDP_EINVALID},
    {"A.10 add nested member", "{\"foo\":\"bar\"}",
     "[{\"op\":\"add\",\"path\":\"/child\",\"value\":{\"grandchild\":{}}}]",
     "{\"foo\":\"bar\",\"child\":{\"grandchild\":{}}}", IDP_OK},
    {"A.11 ignore unrecognized members", "{\"foo\":\"bar\"}",
     "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\",\"xyz\":123}]",
     "{\"foo\":\"bar\",\"baz\":\"qux\"}", IDP_OK},
    {"A.12 add to a nonexistent target", "{\"foo\":\"bar\"}",
     "[{\"op\":\"add\",\"path\":\"/baz/bat\",\"value\":\"qux\"}]", NULL, IDP_EINVALID},
    {"A.14 ~ escape ordering", "{\"/\":9,\"~1\":10}",
     "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":10}]", "{\"/\":9,\"~1\":10}", IDP_OK},
    {"A.15 comparing strings and numbers", "{\"/\":9,\"~1\":10}",
     "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":\"10\"}]", NULL, IDP_EINVALID},
    {"A.16 add an array value", "{\"foo\":[\"bar\"]}",
     "[{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":[\"abc\",\"def\"]}]",
     "{\"foo\":[\"bar\",[\"abc\",\"def\"]]}", IDP_OK},
    /* beyond the appendix */
    {"replace the root", "{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"\",\"value\":[1]}]", "[1]",
     IDP_OK},
    {"replace a missing member", "{\"a\":1}",
     "[{\"op\":\"replace\",\"path\":\"/b\",\"value\":2}]", NULL, IDP_EINVALID},
    {"remove a missing member", "{\"a\":1}", "[{\"op\":\"remove\",\"path\":\"/b\"}]", NULL,
     IDP_EINVALID},
    {"index past the end", "{\"a\":[1]}", "[{\"op\":\"add\",\"path\":\"/a/2\",\"value\":2}]", NULL,
     IDP_EINVALID},
    {"index at the end", "{\"a\":[1]}", "[{\"op\":\"add\",\"path\":\"/a/1\",\"value\":2}]",
     "{\"a\":[1,2]}", IDP_OK},
    {"leading zero index", "{\"a\":[1,2]}", "[{\"op\":\"remove\",\"path\":\"/a/01\"}]", NULL,
     IDP_EINVALID},
    {"copy", "{\"a\":{\"x\":1}}", "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/b\"}]",
     "{\"a\":{\"x\":1},\"b\":{\"x\":1}}", IDP_OK},
    {"move into own child", "{\"a\":{\"b\":{}}}",
     "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a/b/c\"}]", NULL, IDP_EINVALID},
    {"test numbers numerically", "{\"a\":1}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":1.0}]",
     "{\"a\":1}", IDP_OK},
    {"test null value", "{\"a\":null}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":null}]",
     "{\"a\":null}", IDP_OK},
    {"unknown op", "{}", "[{\"op\":\"frob\",\"path\":\"/a\"}]", NULL, IDP_EINVAL},
    {"missing value", "{}", "[{\"op\":\"add\",\"path\":\"/a\"}]", NULL, IDP_EINVAL},
    {"missing path", "{}", "[{\"op\":\"remove\"}]", NULL, IDP_EINVAL},
    {"bad pointer", "{}", "[{\"op\":\"add\",\"path\":\"a\",\"value\":1}]", NULL, IDP_EINVAL},
    {"bad escape", "{}", "[{\"op\":\"add\",\"path\":\"/a~2\",\"value\":1}]", NULL, IDP_EINVAL},
    {"not an array", "{}", "{\"op\":\"add\"}", NULL, IDP_EINVAL},
};

static void test_appendix_a(void **state) {
  (void)state;
  for (size_t i = 0; i < IDP_ARRAY_LEN(appendix_a); i++) {
    json_t *doc = J(appendix_a[i].doc), *ops = J(appendix_a[i].patch), *out = NULL;
    idp_err e = IDP_ERR_INIT;
    idp_code rc = idp_json_patch(doc, ops, &out, &e);
    if (rc != appendix_a[i].code)
      fail_msg("%s: got %s (%s), want %s", appendix_a[i].name, idp_code_name(rc), e.msg,
               idp_code_name(appendix_a[i].code));
    if (appendix_a[i].result) assert_json(out, J(appendix_a[i].result));
    else assert_null(out);
    json_decref(doc);
    json_decref(ops);
  }
}

/* A.13: a patch object with a duplicate "op" is an invalid document; the
 * strict parser the API server uses rejects it before patching. */
static void test_a13_duplicate_member(void **state) {
  (void)state;
  const char *text = "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\",\"op\":\"remove\"}]";
  json_t *v = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_json_parse(text, strlen(text), "patch", &v, &e), IDP_EINVAL);
  assert_null(v);
}

static void test_error_names_op_and_path(void **state) {
  (void)state;
  json_t *doc = J("{\"spec\":{}}");
  json_t *ops = J("[{\"op\":\"add\",\"path\":\"/spec/a\",\"value\":1},"
                  "{\"op\":\"replace\",\"path\":\"/spec/replicas\",\"value\":3}]");
  json_t *out = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_json_patch(doc, ops, &out, &e), IDP_EINVALID);
  assert_non_null(strstr(e.msg, "operation 1"));
  assert_non_null(strstr(e.msg, "/spec/replicas"));
  assert_json(json_incref(doc), J("{\"spec\":{}}")); /* untouched */
  json_decref(doc);
  json_decref(ops);
}

static void test_pointer_get(void **state) {
  (void)state;
  /* RFC 6901 section 5 */
  json_t *d = J("{\"foo\":[\"bar\",\"baz\"],\"\":0,\"a/b\":1,\"c%d\":2,\"e^f\":3,\"g|h\":4,"
                "\"i\\\\j\":5,\"k\\\"l\":6,\" \":7,\"m~n\":8}");
  assert_ptr_equal(idp_json_pointer_get(d, ""), d);
  assert_json(json_incref(idp_json_pointer_get(d, "/foo")), J("[\"bar\",\"baz\"]"));
  assert_string_equal(json_string_value(idp_json_pointer_get(d, "/foo/0")), "bar");
  const char *ptrs[] = {"/", "/a~1b", "/c%d", "/e^f", "/g|h", "/i\\j", "/k\"l", "/ ", "/m~0n"};
  for (size_t i = 0; i < IDP_ARRAY_LEN(ptrs); i++) {
    json_t *v = idp_json_pointer_get(d, ptrs[i]);
    assert_non_null(v);
    assert_int_equal(json_integer_value(v), (json_int_t)i);
  }
  assert_null(idp_json_pointer_get(d, "/foo/2"));
  assert_null(idp_json_pointer_get(d, "/foo/-"));
  assert_null(idp_json_pointer_get(d, "foo"));
  json_decref(d);
}

/* The docs' kubectl patch --type json examples on a Deployment. */
static void test_kubectl_style(void **state) {
  (void)state;
  json_t *d = Y("spec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n"
                "      - name: app\n        image: nginx\n");
  json_t *ops = J("[{\"op\":\"replace\",\"path\":\"/spec/template/spec/containers/0/image\","
                  "\"value\":\"new-image\"},{\"op\":\"add\",\"path\":\"/metadata\",\"value\":"
                  "{\"labels\":{\"a/b\":\"x\"}}},{\"op\":\"remove\",\"path\":"
                  "\"/metadata/labels/a~1b\"},{\"op\":\"replace\",\"path\":\"/spec/replicas\","
                  "\"value\":3}]");
  json_t *out = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_json_patch(d, ops, &out, &e), IDP_OK);
  assert_json(out, Y("metadata:\n  labels: {}\nspec:\n  replicas: 3\n  template:\n    spec:\n"
                     "      containers:\n      - name: app\n        image: new-image\n"));
  json_decref(d);
  json_decref(ops);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_appendix_a),
      cmocka_unit_test(test_a13_duplicate_member),
      cmocka_unit_test(test_error_names_op_and_path),
      cmocka_unit_test(test_pointer_get),
      cmocka_unit_test(test_kubectl_style),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
