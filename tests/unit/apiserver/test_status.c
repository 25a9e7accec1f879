#include "../test.h"

#include "apiserver/api_int.h"
#include "core/json.h"

static void test_status_shape(void **state) {
  IDP_UNUSED(state);
  json_t *st = api_status_new(404, "NotFound", "configmaps \"x\" not found", "x", "", "configmaps",
                              NULL);
  assert_string_equal(idp_json_get_str(st, "kind", NULL), "Status");
  assert_string_equal(idp_json_get_str(st, "apiVersion", NULL), "v1");
  assert_string_equal(idp_json_get_str(st, "status", NULL), "Failure");
  assert_string_equal(idp_json_get_str(st, "reason", NULL), "NotFound");
  assert_string_equal(idp_json_get_str(st, "details", "name", NULL), "x");
  assert_string_equal(idp_json_get_str(st, "details", "kind", NULL), "configmaps");
  assert_null(idp_json_get(st, "details", "group", NULL));
  assert_int_equal(json_integer_value(json_object_get(st, "code")), 404);
  assert_true(json_is_object(json_object_get(st, "metadata")));
  json_decref(st);
  json_t *causes = json_pack("[{s:s, s:s, s:s}]", "reason", "FieldValueInvalid", "message", "bad",
                             "field", "spec.x");
  st = api_status_new(422, "Invalid", "w is invalid", "w", "example.com", "widgets", causes);
  assert_string_equal(idp_json_get_str(st, "details", "group", NULL), "example.com");
  assert_int_equal(json_array_size(idp_json_get(st, "details", "causes", NULL)), 1);
  json_decref(st);
}

static void test_error_codes(void **state) {
  IDP_UNUSED(state);
  static const struct {
    idp_code code;
    int http;
    const char *reason;
  } want[] = {
      {IDP_EINVAL, 400, "BadRequest"},       {IDP_EUNAUTH, 401, "Unauthorized"},
      {IDP_ENOTFOUND, 404, "NotFound"},      {IDP_EEXIST, 409, "AlreadyExists"},
      {IDP_ECONFLICT, 409, "Conflict"},      {IDP_EGONE, 410, "Expired"},
      {IDP_ETOOLARGE, 413, "RequestEntityTooLarge"},
      {IDP_EUNSUPPORTED, 415, "UnsupportedMediaType"},
      {IDP_EINVALID, 422, "Invalid"},
  };
  for (size_t i = 0; i < IDP_ARRAY_LEN(want); i++) {
    idp_api_request rq = {.method = "GET", .path = "/x"};
    idp_api_response rs;
    idp_api_response_init(&rs);
    api_ctx c = {.rq = &rq, .rs = &rs};
    idp_err e;
    idp_err_set(&e, want[i].code, "message %d", (int)i);
    api_status_error(&c, &e, "obj", NULL);
    assert_int_equal(rs.status, want[i].http);
    json_t *st = NULL;
    assert_int_equal(idp_json_parse(rs.body.data, rs.body.len, "status", &st, &e), IDP_OK);
    assert_string_equal(idp_json_get_str(st, "reason", NULL), want[i].reason);
    assert_int_equal(json_integer_value(json_object_get(st, "code")), want[i].http);
    json_decref(st);
    idp_api_response_free(&rs);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_status_shape),
      cmocka_unit_test(test_error_codes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
