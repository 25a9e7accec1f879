/* Structural schemas: each keyword, prune/warn/strict, messages, defaults. */
#include "../test.h"
#include "core/json.h"
#include "kube/schema.h"

static json_t *schema;

static const char schema_text[] =
    "{\"type\":\"object\",\"properties\":{"
    " \"spec\":{\"type\":\"object\",\"required\":[\"image\"],\"properties\":{"
    "  \"replicas\":{\"type\":\"integer\",\"format\":\"int32\",\"minimum\":1,\"maximum\":10,\"default\":1},"
    "  \"image\":{\"type\":\"string\",\"minLength\":3,\"maxLength\":20,\"pattern\":\"^[a-z:./0-9]+$\"},"
    "  \"mode\":{\"type\":\"string\",\"enum\":[\"fast\",\"safe\"],\"default\":\"safe\"},"
    "  \"ratio\":{\"type\":\"number\",\"exclusiveMaximum\":true,\"maximum\":1},"
    "  \"port\":{\"x-kubernetes-int-or-string\":true},"
    "  \"note\":{\"type\":\"string\",\"nullable\":true},"
    "  \"tags\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":3,\"x-kubernetes-list-type\":\"set\","
    "           \"items\":{\"type\":\"string\"}},"
    "  \"env\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
    "       \"name\":{\"type\":\"string\"},\"value\":{\"type\":\"string\",\"default\":\"\"}}}},"
    "  \"labels\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}},"
    "  \"extra\":{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":true,"
    "            \"properties\":{\"known\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}}},"
    "  \"template\":{\"type\":\"object\",\"x-kubernetes-embedded-resource\":true,"
    "            \"properties\":{\"spec\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"string\"}}}}},"
    "  \"opts\":{\"type\":\"object\",\"default\":{},\"properties\":{\"level\":{\"type\":\"integer\",\"default\":3}}}"
    " }},"
    " \"status\":{\"type\":\"object\",\"properties\":{\"phase\":{\"type\":\"string\"}}}"
    "}}";

static int setup(void **state) {
  (void)state;
  json_error_t je;
  schema = json_loads(schema_text, 0, &je);
  if (!schema) fprintf(stderr, "schema: %s at %d\n", je.text, je.position);
  return schema ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  json_decref(schema);
  return 0;
}

static json_t *obj(const char *spec) {
  char buf[4096];
  snprintf(buf, sizeof buf,
           "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\",\"metadata\":{\"name\":\"w1\","
           "\"namespace\":\"default\",\"labels\":{\"x\":\"y\"}},\"spec\":%s}",
           spec);
  json_t *o = json_loads(buf, 0, NULL);
  if (!o) fail_msg("bad test object %s", spec);
  return o;
}

/* Validates and expects an IDP_EINVALID message equal to want. */
static void invalid(const char *spec, const char *want) {
  json_t *o = obj(spec), *causes = NULL;
  idp_err e = IDP_ERR_INIT;
  idp_code rc = idp_schema_validate(schema, o, IDP_FIELDVAL_STRICT, "Widget", "example.com",
                                    NULL, &causes, &e);
  if (rc != IDP_EINVALID) fail_msg("%s: rc %d (%s)", spec, rc, e.msg);
  if (strcmp(e.msg, want)) fail_msg("%s:\n got  %s\n want %s", spec, e.msg, want);
  assert_true(json_array_size(causes) > 0);
  json_decref(causes);
  json_decref(o);
}

static json_t *valid(const char *spec, idp_fieldval fv, json_t *warnings) {
  json_t *o = obj(spec), *causes = NULL;
  idp_err e = IDP_ERR_INIT;
  idp_code rc = idp_schema_validate(schema, o, fv, "Widget", "example.com", warnings, &causes, &e);
  if (rc) fail_msg("%s: rc %d: %s", spec, rc, e.msg);
  assert_null(causes);
  return o;
}

static void test_type_messages(void **state) {
  (void)state;
  invalid("{\"image\":\"nginx\",\"replicas\":\"two\"}",
          "Widget.example.com \"w1\" is invalid: spec.replicas: Invalid value: \"string\": "
          "spec.replicas in body must be of type integer: \"string\"");
  invalid("{\"image\":5}", "Widget.example.com \"w1\" is invalid: spec.image: Invalid value: "
                          "\"integer\": spec.image in body must be of type string: \"integer\"");
  invalid("{\"image\":\"nginx\",\"tags\":\"a\"}",
          "Widget.example.com \"w1\" is invalid: spec.tags: Invalid value: \"string\": spec.tags "
          "in body must be of type array: \"string\"");
  invalid("{\"image\":\"nginx\",\"env\":[{\"name\":1}]}",
          "Widget.example.com \"w1\" is invalid: spec.env[0].name: Invalid value: \"integer\": "
          "spec.env[0].name in body must be of type string: \"integer\"");
  invalid("{\"image\":\"nginx\",\"labels\":{\"a\":true}}",
          "Widget.example.com \"w1\" is invalid: spec.labels.a: Invalid value: \"boolean\": "
          "spec.labels.a in body must be of type string: \"boolean\"");
  invalid("{\"image\":\"nginx\",\"port\":1.5}",
          "Widget.example.com \"w1\" is invalid: spec.port: Invalid value: \"number\": spec.port "
          "in body must be of type integer,string: \"number\"");
  invalid("{\"image\":\"nginx\",\"mode\":null,\"ratio\":null}",
          "Widget.example.com \"w1\" is invalid: spec.ratio: Invalid value: \"null\": spec.ratio "
          "in body must be of type number: \"null\"");
}

static void test_keywords(void **state) {
  (void)state;
  invalid("{}", "Widget.example.com \"w1\" is invalid: spec.image: Required value");
  invalid("{\"image\":\"nginx\",\"replicas\":0}",
          "Widget.example.com \"w1\" is invalid: spec.replicas: Invalid value: 0: spec.replicas "
          "in body should be greater than or equal to 1");
  invalid("{\"image\":\"nginx\",\"replicas\":11}",
          "Widget.example.com \"w1\" is invalid: spec.replicas: Invalid value: 11: spec.replicas "
          "in body should be less than or equal to 10");
  invalid("{\"image\":\"nginx\",\"ratio\":1}",
          "Widget.example.com \"w1\" is invalid: spec.ratio: Invalid value: 1: spec.ratio in "
          "body should be less than 1");
  invalid("{\"image\":\"nginx\",\"replicas\":3000000000}",
          "Widget.example.com \"w1\" is invalid: [spec.replicas: Invalid value: 3000000000: "
          "spec.replicas in body should be less than or equal to 10, spec.replicas: Invalid "
          "value: 3000000000: spec.replicas in body must be of type int32: \"3000000000\"]");
  invalid("{\"image\":\"ab\"}", "Widget.example.com \"w1\" is invalid: spec.image: Invalid value: "
                               "\"ab\": spec.image in body should be at least 3 chars long");
  invalid("{\"image\":\"abcdefghijklmnopqrstuvwxyz\"}",
          "Widget.example.com \"w1\" is invalid: spec.image: Too long: may not be more than 20 "
          "bytes");
  invalid("{\"image\":\"NGINX\"}",
          "Widget.example.com \"w1\" is invalid: spec.image: Invalid value: \"NGINX\": spec.image "
          "in body should match '^[a-z:./0-9]+$'");
  invalid("{\"image\":\"nginx\",\"mode\":\"slow\"}",
          "Widget.example.com \"w1\" is invalid: spec.mode: Unsupported value: \"slow\": "
          "supported values: \"fast\", \"safe\"");
  invalid("{\"image\":\"nginx\",\"tags\":[]}",
          "Widget.example.com \"w1\" is invalid: spec.tags: Invalid value: 0: spec.tags in body "
          "should have at least 1 items");
  invalid("{\"image\":\"nginx\",\"tags\":[\"a\",\"b\",\"c\",\"d\"]}",
          "Widget.example.com \"w1\" is invalid: spec.tags: Too many: 4: must have at most 3 items");
  invalid("{\"image\":\"nginx\",\"tags\":[\"a\",\"a\"]}",
          "Widget.example.com \"w1\" is invalid: spec.tags[1]: Duplicate value: \"a\"");
  invalid("{\"image\":\"nginx\",\"template\":{\"spec\":{}}}",
          "Widget.example.com \"w1\" is invalid: [spec.template.apiVersion: Required value: must "
          "not be empty, spec.template.kind: Required value: must not be empty]");
}

static void test_causes(void **state) {
  (void)state;
  json_t *o = obj("{\"image\":\"nginx\",\"replicas\":\"x\"}"), *causes = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_schema_validate(schema, o, IDP_FIELDVAL_IGNORE, "Widget", "example.com",
                                       NULL, &causes, &e),
                   IDP_EINVALID);
  assert_int_equal(json_array_size(causes), 1);
  json_t *c = json_array_get(causes, 0);
  assert_string_equal(json_string_value(json_object_get(c, "reason")), "FieldValueInvalid");
  assert_string_equal(json_string_value(json_object_get(c, "field")), "spec.replicas");
  assert_string_equal(json_string_value(json_object_get(c, "message")),
                      "Invalid value: \"string\": spec.replicas in body must be of type integer: "
                      "\"string\"");
  json_decref(causes);
  json_decref(o);
  /* core group: no ".group" suffix */
  o = obj("{}");
  assert_int_equal(idp_schema_validate(schema, o, IDP_FIELDVAL_IGNORE, "Widget", "", NULL, NULL, &e),
                   IDP_EINVALID);
  assert_string_equal(e.msg, "Widget \"w1\" is invalid: spec.image: Required value");
  json_decref(o);
}

static void test_pruning(void **state) {
  (void)state;
  /* Ignore: dropped silently, metadata/apiVersion/kind untouched */
  json_t *o = valid("{\"image\":\"nginx\",\"foo\":1,\"extra\":{\"any\":{\"thing\":1},"
                    "\"known\":{\"a\":\"x\",\"b\":2}},\"template\":{\"apiVersion\":\"v1\","
                    "\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},\"spec\":{\"x\":\"1\",\"y\":2}}}",
                    IDP_FIELDVAL_IGNORE, NULL);
  assert_null(json_object_get(json_object_get(o, "spec"), "foo"));
  assert_non_null(idp_json_path(o, "spec.extra.any.thing"));
  assert_non_null(idp_json_path(o, "spec.extra.known.a"));
  assert_null(idp_json_path(o, "spec.extra.known.b"));
  assert_string_equal(json_string_value(idp_json_path(o, "spec.template.metadata.name")), "p");
  assert_null(idp_json_path(o, "spec.template.spec.y"));
  assert_string_equal(json_string_value(idp_json_path(o, "metadata.labels.x")), "y");
  assert_string_equal(json_string_value(json_object_get(o, "kind")), "Widget");
  json_decref(o);
  /* Warn: dropped with one warning per field */
  json_t *w = json_array();
  o = valid("{\"image\":\"nginx\",\"foo\":1,\"env\":[{\"name\":\"a\",\"bad\":1}]}", IDP_FIELDVAL_WARN, w);
  assert_int_equal(json_array_size(w), 2);
  assert_string_equal(json_string_value(json_array_get(w, 0)), "unknown field \"spec.foo\"");
  assert_string_equal(json_string_value(json_array_get(w, 1)), "unknown field \"spec.env[0].bad\"");
  assert_null(json_object_get(json_object_get(o, "spec"), "foo"));
  json_decref(o);
  json_decref(w);
  /* Strict: an error naming every unknown field */
  o = obj("{\"image\":\"nginx\",\"foo\":1,\"bar\":{}}");
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_schema_validate(schema, o, IDP_FIELDVAL_STRICT, "Widget", "example.com",
                                       NULL, NULL, &e),
                   IDP_EINVAL);
  assert_string_equal(e.msg, "strict decoding error: unknown field \"spec.foo\", unknown field "
                             "\"spec.bar\"");
  json_decref(o);
  /* unknown top-level field */
  o = json_loads("{\"kind\":\"Widget\",\"metadata\":{\"name\":\"w\"},\"spec\":{\"image\":\"abc\"},"
                 "\"oops\":1}", 0, NULL);
  assert_int_equal(idp_schema_validate(schema, o, IDP_FIELDVAL_STRICT, "Widget", "example.com",
                                       NULL, NULL, &e),
                   IDP_EINVAL);
  assert_non_null(strstr(e.msg, "unknown field \"oops\""));
  json_decref(o);
}

static void test_defaults(void **state) {
  (void)state;
  json_t *o = valid("{\"image\":\"nginx\",\"mode\":null,\"env\":[{\"name\":\"a\"}]}",
                    IDP_FIELDVAL_STRICT, NULL);
  assert_int_equal(json_integer_value(idp_json_path(o, "spec.replicas")), 1);
  assert_string_equal(json_string_value(idp_json_path(o, "spec.mode")), "safe");
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(idp_json_path(o, "spec.env"), 0), "value")),
      "");
  /* defaults inside a defaulted object are applied too */
  assert_int_equal(json_integer_value(idp_json_path(o, "spec.opts.level")), 3);
  /* status is not defaulted into existence, and given values are kept */
  assert_null(json_object_get(o, "status"));
  json_decref(o);
  o = valid("{\"image\":\"nginx\",\"replicas\":4,\"port\":\"http\",\"note\":null}",
            IDP_FIELDVAL_STRICT, NULL);
  assert_int_equal(json_integer_value(idp_json_path(o, "spec.replicas")), 4);
  assert_true(json_is_null(idp_json_path(o, "spec.note")));
  json_decref(o);
}

static void test_fieldval_parse(void **state) {
  (void)state;
  idp_fieldval fv;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_fieldval_parse("Strict", IDP_FIELDVAL_WARN, &fv, &e), IDP_OK);
  assert_int_equal(fv, IDP_FIELDVAL_STRICT);
  assert_int_equal(idp_fieldval_parse(NULL, IDP_FIELDVAL_WARN, &fv, &e), IDP_OK);
  assert_int_equal(fv, IDP_FIELDVAL_WARN);
  assert_int_equal(idp_fieldval_parse("ignore", IDP_FIELDVAL_WARN, &fv, &e), IDP_OK);
  assert_int_equal(fv, IDP_FIELDVAL_IGNORE);
  assert_int_equal(idp_fieldval_parse("Loose", IDP_FIELDVAL_WARN, &fv, &e), IDP_EINVAL);
  assert_non_null(strstr(e.msg, "\"Loose\""));
}

static void test_not_object(void **state) {
  (void)state;
  json_t *a = json_array();
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_schema_validate(schema, a, IDP_FIELDVAL_STRICT, "Widget", "example.com",
                                       NULL, NULL, &e),
                   IDP_EINVAL);
  json_decref(a);
}

/* Validates spec against a schema given as text; returns the message ("" when valid). */
static const char *check_with(const char *schema_json, const char *spec, char *msg, size_t n) {
  json_t *sc = json_loads(schema_json, 0, NULL);
  if (!sc) fail_msg("bad schema %s", schema_json);
  json_t *o = obj(spec);
  idp_err e = IDP_ERR_INIT;
  idp_code rc = idp_schema_validate(sc, o, IDP_FIELDVAL_STRICT, "Widget", "example.com", NULL, NULL, &e);
  snprintf(msg, n, "%s", rc ? e.msg : "");
  json_decref(o);
  json_decref(sc);
  return msg;
}

#define WRAP(props) "{\"type\":\"object\",\"properties\":{\"spec\":{\"type\":\"object\",\"properties\":{" props "}}}}"

static void test_combinators(void **state) {
  (void)state;
  char m[1024];
  const char *any = WRAP("\"a\":{\"type\":\"string\"},\"b\":{\"type\":\"string\"}},"
                         "\"anyOf\":[{\"required\":[\"a\"]},{\"required\":[\"b\"]}],\"x\":{");
  assert_string_equal(check_with(any, "{\"a\":\"1\"}", m, sizeof m), "");
  assert_string_equal(check_with(any, "{\"b\":\"1\"}", m, sizeof m), "");
  check_with(any, "{}", m, sizeof m);
  assert_non_null(strstr(m, "spec.a: Required value"));
  assert_non_null(strstr(m, "spec: Invalid value: \"object\": spec in body must validate at least one schema (anyOf)"));
  const char *one = WRAP("\"a\":{\"type\":\"string\"},\"b\":{\"type\":\"string\"}},"
                         "\"oneOf\":[{\"required\":[\"a\"]},{\"required\":[\"b\"]}],\"x\":{");
  assert_string_equal(check_with(one, "{\"a\":\"1\"}", m, sizeof m), "");
  check_with(one, "{\"a\":\"1\",\"b\":\"2\"}", m, sizeof m);
  assert_non_null(strstr(m, "must validate one and only one schema (oneOf)"));
  const char *all = WRAP("\"n\":{\"type\":\"integer\",\"allOf\":[{\"minimum\":1},{\"maximum\":5}],"
                         "\"not\":{\"enum\":[3]}}");
  assert_string_equal(check_with(all, "{\"n\":2}", m, sizeof m), "");
  check_with(all, "{\"n\":7}", m, sizeof m);
  assert_non_null(strstr(m, "spec.n in body should be less than or equal to 5"));
  check_with(all, "{\"n\":3}", m, sizeof m);
  assert_non_null(strstr(m, "spec.n in body should not validate the schema (not)"));
  /* int-or-string with its anyOf, as CRDs generated by controller-gen carry */
  const char *ios = WRAP("\"p\":{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"string\"}],"
                         "\"x-kubernetes-int-or-string\":true}");
  assert_string_equal(check_with(ios, "{\"p\":80}", m, sizeof m), "");
  assert_string_equal(check_with(ios, "{\"p\":\"http\"}", m, sizeof m), "");
  check_with(ios, "{\"p\":true}", m, sizeof m);
  assert_non_null(strstr(m, "must be of type integer,string: \"boolean\""));
}

static void test_list_map_and_formats(void **state) {
  (void)state;
  char m[1024];
  const char *lm = WRAP("\"ports\":{\"type\":\"array\",\"x-kubernetes-list-type\":\"map\","
                        "\"x-kubernetes-list-map-keys\":[\"name\",\"protocol\"],\"items\":{\"type\":\"object\","
                        "\"properties\":{\"name\":{\"type\":\"string\"},\"protocol\":{\"type\":\"string\"},"
                        "\"port\":{\"type\":\"integer\"}}}}");
  assert_string_equal(check_with(lm, "{\"ports\":[{\"name\":\"a\",\"protocol\":\"TCP\"},"
                                     "{\"name\":\"a\",\"protocol\":\"UDP\"}]}", m, sizeof m), "");
  check_with(lm, "{\"ports\":[{\"name\":\"a\",\"protocol\":\"TCP\",\"port\":1},"
                 "{\"name\":\"a\",\"protocol\":\"TCP\",\"port\":2}]}", m, sizeof m);
  assert_string_equal(m, "Widget.example.com \"w1\" is invalid: spec.ports[1]: Duplicate value: "
                         "{\"name\":\"a\",\"protocol\":\"TCP\"}");
  const char *f = WRAP("\"t\":{\"type\":\"string\",\"format\":\"date-time\"},"
                       "\"u\":{\"type\":\"string\",\"format\":\"uuid\"},"
                       "\"ip\":{\"type\":\"string\",\"format\":\"ipv4\"},"
                       "\"b\":{\"type\":\"string\",\"format\":\"byte\"},"
                       "\"d\":{\"type\":\"string\",\"format\":\"date\"},"
                       "\"o\":{\"type\":\"string\",\"format\":\"something-else\"}");
  assert_string_equal(check_with(f, "{\"t\":\"2024-05-01T10:00:00Z\",\"u\":\"123e4567-e89b-12d3-a456-426614174000\","
                                    "\"ip\":\"10.0.0.1\",\"b\":\"aGk=\",\"d\":\"2024-05-01\",\"o\":\"x\"}",
                                 m, sizeof m), "");
  assert_string_equal(check_with(f, "{\"t\":\"2024-05-01T10:00:00.5+02:00\"}", m, sizeof m), "");
  check_with(f, "{\"t\":\"yesterday\"}", m, sizeof m);
  assert_string_equal(m, "Widget.example.com \"w1\" is invalid: spec.t: Invalid value: \"yesterday\": "
                         "spec.t in body must be of type date-time: \"yesterday\"");
  check_with(f, "{\"ip\":\"10.0.0.256\"}", m, sizeof m);
  assert_non_null(strstr(m, "must be of type ipv4"));
  check_with(f, "{\"u\":\"nope\"}", m, sizeof m);
  assert_non_null(strstr(m, "must be of type uuid"));
  check_with(f, "{\"b\":\"a\"}", m, sizeof m);
  assert_non_null(strstr(m, "must be of type byte"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_type_messages), cmocka_unit_test(test_keywords),
      cmocka_unit_test(test_causes),        cmocka_unit_test(test_pruning),
      cmocka_unit_test(test_defaults),      cmocka_unit_test(test_fieldval_parse),
      cmocka_unit_test(test_not_object),    cmocka_unit_test(test_combinators),
      cmocka_unit_test(test_list_map_and_formats),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
