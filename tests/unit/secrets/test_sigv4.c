#include "../test.h"

#include "secrets/sigv4.h"

/* get-vanilla and post-vanilla of the AWS suite, inline; plus input errors. */
static void test_vanilla(void **st) {
  (void)st;
  idp_sigv4_header h[] = {{"Host", "example.amazonaws.com"}};
  idp_sigv4_request rq = {.method = "GET", .path = "/", .headers = h, .nheaders = 1};
  idp_sigv4_params p = {.access_key_id = "AKIDEXAMPLE",
                        .secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                        .region = "us-east-1", .service = "service", .time = 1440938160,
                        .normalize_path = true};
  idp_sigv4_result r;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_sigv4_sign(&rq, &p, &r, &e), IDP_OK);
  assert_string_equal(r.signature, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  assert_string_equal(idp_buf_str(&r.authorization),
                      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                      "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  assert_null(strstr(idp_buf_str(&r.canonical_request), "wJalr"));
  idp_sigv4_result_free(&r);
  rq.method = "POST";
  assert_int_equal(idp_sigv4_sign(&rq, &p, &r, &e), IDP_OK);
  assert_string_equal(r.signature, "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
  idp_sigv4_result_free(&r);
}

static void test_errors(void **st) {
  (void)st;
  idp_sigv4_request rq = {.method = "GET", .path = "/"};
  idp_sigv4_params p = {.access_key_id = "A", .secret_access_key = "S", .region = "r", .service = "s"};
  idp_sigv4_result r;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_sigv4_sign(&rq, &p, &r, &e), IDP_EINVAL);
  assert_non_null(strstr(e.msg, "Host"));
  idp_sigv4_result_free(&r);
  p.secret_access_key = "";
  assert_int_equal(idp_sigv4_sign(&rq, &p, &r, &e), IDP_EINVAL);
  assert_non_null(strstr(e.msg, "secret access key"));
  idp_sigv4_result_free(&r);
}

static void test_uri_encode(void **st) {
  (void)st;
  static const struct {
    const char *in, *out;
    bool slash;
  } cases[] = {
      {"a b/c", "a%20b/c", true}, {"a b/c", "a%20b%2Fc", false}, {"-._~", "-._~", false},
      {"\xe1\x88\xb4", "%E1%88%B4", false}, {"a+b=c&", "a%2Bb%3Dc%26", false},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    idp_buf b;
    idp_buf_init(&b, 1024);
    assert_int_equal(idp_sigv4_uri_encode(&b, cases[i].in, strlen(cases[i].in), cases[i].slash), IDP_OK);
    assert_string_equal(idp_buf_str(&b), cases[i].out);
    idp_buf_free(&b);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vanilla),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_uri_encode),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
