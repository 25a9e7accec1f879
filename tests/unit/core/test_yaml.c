/* YAML loader/emitter: scalar resolution as kubectl, limits, positions. */
#include "../test.h"
#include "core/yaml.h"

static json_t *load1(const char *text) {
  json_t *doc = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_yaml_load_one(text, strlen(text), "t.yaml", NULL, &doc, &e), IDP_OK);
  return doc;
}

static void test_scalars(void **state) {
  (void)state;
  json_t *d = load1("a: yes\nb: No\nc: on\nd: 0x1F\ne: 0o17\nf: 0755\ng: 1_000\nh: 1.5\n"
                    "i: ~\nj: null\nk: \"yes\"\nl: '12'\nm: 1e3\nnn: -42\no: hello\np: .5\n"
                    "q: 12abc\nr: !!str 12\ns: y\nt: ''\nu: 9223372036854775807\ny: 1\n");
  assert_true(json_is_true(json_object_get(d, "a")));
  assert_true(json_is_false(json_object_get(d, "b")));
  assert_true(json_is_true(json_object_get(d, "c")));
  assert_int_equal(json_integer_value(json_object_get(d, "d")), 31);
  assert_int_equal(json_integer_value(json_object_get(d, "e")), 15);
  assert_int_equal(json_integer_value(json_object_get(d, "f")), 493);
  assert_int_equal(json_integer_value(json_object_get(d, "g")), 1000);
  assert_true(json_real_value(json_object_get(d, "h")) == 1.5);
  assert_true(json_is_null(json_object_get(d, "i")));
  assert_true(json_is_null(json_object_get(d, "j")));
  assert_string_equal(json_string_value(json_object_get(d, "k")), "yes");
  assert_string_equal(json_string_value(json_object_get(d, "l")), "12");
  assert_true(json_real_value(json_object_get(d, "m")) == 1000.0);
  assert_int_equal(json_integer_value(json_object_get(d, "nn")), -42);
  assert_string_equal(json_string_value(json_object_get(d, "o")), "hello");
  assert_true(json_real_value(json_object_get(d, "p")) == 0.5);
  assert_string_equal(json_string_value(json_object_get(d, "q")), "12abc");
  assert_string_equal(json_string_value(json_object_get(d, "r")), "12");
  assert_true(json_is_true(json_object_get(d, "s")));
  assert_string_equal(json_string_value(json_object_get(d, "t")), "");
  assert_true(json_integer_value(json_object_get(d, "u")) == INT64_MAX);
  /* YAML 1.1: the plain key y is the boolean true, stringified */
  assert_int_equal(json_integer_value(json_object_get(d, "true")), 1);
  json_decref(d);
}

static void test_multidoc_and_empty(void **state) {
  (void)state;
  const char *text = "# comment\n---\na: 1\n---\n---\n# only comment\n---\n- x\n- y\n...\n";
  json_t *docs;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_yaml_load(text, strlen(text), "m.yaml", NULL, &docs, &e), IDP_OK);
  assert_int_equal(json_array_size(docs), 2);
  assert_true(json_is_array(json_array_get(docs, 1)));
  json_decref(docs);
}

static void test_anchors_and_merge(void **state) {
  (void)state;
  json_t *d = load1("base: &b\n  x: 1\n  z: 2\nuse: *b\nmerged:\n  <<: *b\n  z: 3\n");
  assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "use"), "z")), 2);
  json_t *mg = json_object_get(d, "merged");
  assert_int_equal(json_integer_value(json_object_get(mg, "x")), 1);
  assert_int_equal(json_integer_value(json_object_get(mg, "z")), 3);
  assert_null(json_object_get(mg, "<<"));
  json_decref(d);
}

static void test_error_position(void **state) {
  (void)state;
  const char *text = "a: 1\nb: [1, 2\nc: 3\n";
  json_t *docs = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_yaml_load(text, strlen(text), "bad.yaml", NULL, &docs, &e), IDP_EINVAL);
  assert_null(docs);
  assert_non_null(strstr(e.msg, "bad.yaml:"));
  /* libyaml reports the flow sequence problem on line 3 */
  assert_non_null(strstr(e.msg, "bad.yaml:3:"));
}

static void test_limits(void **state) {
  (void)state;
  idp_yaml_limits lim = idp_yaml_default_limits;
  lim.max_depth = 5;
  const char *deep = "a: {b: {c: {d: {e: {f: 1}}}}}\n";
  json_t *docs = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_yaml_load(deep, strlen(deep), "deep.yaml", &lim, &docs, &e), IDP_EINVAL);
  assert_non_null(strstr(e.msg, "nesting deeper"));
  /* billion laughs */
  const char *bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                     "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                     "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                     "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                     "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
  assert_int_equal(idp_yaml_load(bomb, strlen(bomb), "bomb.yaml", NULL, &docs, &e), IDP_EINVAL);
  assert_non_null(strstr(e.msg, "alias expansion"));
  lim = idp_yaml_default_limits;
  lim.max_bytes = 4;
  assert_int_equal(idp_yaml_load("a: 12345", 8, "big.yaml", &lim, &docs, &e), IDP_ETOOLARGE);
  assert_int_equal(idp_yaml_load("a: *nope\n", 9, "x.yaml", NULL, &docs, &e), IDP_EINVAL);
  assert_non_null(strstr(e.msg, "unknown anchor"));
  assert_int_equal(idp_yaml_load("a: !!int abc\n", 13, "x.yaml", NULL, &docs, &e), IDP_EINVAL);
}

static void test_emit_roundtrip(void **state) {
  (void)state;
  const char *text = "kind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: \"yes\"\n  b: \"12\"\n"
                     "  c: |\n    line1\n    line2\n  d: plain\n  e: \"\"\nlist:\n- 1\n- true\n- 1.5\n"
                     "empty: {}\nnone: []\n";
  json_t *d = load1(text);
  idp_buf out;
  idp_buf_init(&out, 0);
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_yaml_emit(&out, d, 0, &e), IDP_OK);
  assert_string_equal(idp_buf_str(&out), text);
  json_t *back = load1(idp_buf_str(&out));
  assert_true(json_equal(d, back));
  json_decref(back);
  json_decref(d);
  idp_buf_free(&out);
}

static void test_emit_stream_sorted(void **state) {
  (void)state;
  json_t *docs = json_pack("[{s:i,s:i},{s:s}]", "b", 1, "a", 2, "k", "on");
  idp_buf out;
  idp_buf_init(&out, 0);
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_yaml_emit_stream(&out, docs, IDP_YAML_SORT_KEYS, &e), IDP_OK);
  assert_string_equal(idp_buf_str(&out), "a: 2\nb: 1\n---\nk: \"on\"\n");
  json_decref(docs);
  idp_buf_free(&out);
}

static void test_core_schema(void **state) {
  (void)state;
  idp_yaml_limits lim = idp_yaml_default_limits;
  lim.core_schema = 1;
  const char *text = "a: yes\nb: on\nc: True\nd: n\ne: 0x10\n";
  json_t *d = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_yaml_load_one(text, strlen(text), "k.yaml", &lim, &d, &e), IDP_OK);
  assert_string_equal(json_string_value(json_object_get(d, "a")), "yes");
  assert_string_equal(json_string_value(json_object_get(d, "b")), "on");
  assert_true(json_is_true(json_object_get(d, "c")));
  assert_string_equal(json_string_value(json_object_get(d, "d")), "n");
  assert_int_equal(json_integer_value(json_object_get(d, "e")), 16);
  json_decref(d);
}

static void test_emit_reals(void **state) {
  (void)state;
  json_t *doc = json_pack("{s:f,s:f,s:f,s:f,s:f}", "a", 1000.0, "b", 0.5, "c", 1e21, "d",
                          0.0001, "e", 123.456);
  idp_buf out;
  idp_buf_init(&out, 0);
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_yaml_emit(&out, doc, 0, &e), IDP_OK);
  assert_string_equal(idp_buf_str(&out), "a: 1000\nb: 0.5\nc: 1e+21\nd: 0.0001\ne: 123.456\n");
  json_decref(doc);
  idp_buf_free(&out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_scalars),         cmocka_unit_test(test_multidoc_and_empty),
      cmocka_unit_test(test_anchors_and_merge), cmocka_unit_test(test_error_position),
      cmocka_unit_test(test_limits),          cmocka_unit_test(test_emit_roundtrip),
      cmocka_unit_test(test_emit_stream_sorted), cmocka_unit_test(test_core_schema),
      cmocka_unit_test(test_emit_reals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
