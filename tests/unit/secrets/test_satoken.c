#include "../test.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "core/json.h"
#include "secrets/satoken.h"

static char *gen_key(bool ec) {
  EVP_PKEY *k = ec ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048);
  assert_non_null(k);
  BIO *b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
  char *p = NULL;
  long n = BIO_get_mem_data(b, &p);
  char *out = strndup(p, (size_t)n);
  BIO_free(b);
  EVP_PKEY_free(k);
  return out;
}

static const int64_t NOW = 1700000000;

static void roundtrip(bool ec) {
  char *pem = gen_key(ec);
  idp_satoken_signer *s = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_satoken_signer_new(pem, "https://idp.local", NULL, &s, &e), IDP_OK);
  assert_string_equal(idp_satoken_alg(s), ec ? "ES256" : "RS256");
  json_t *jwks = idp_satoken_jwks(s);
  json_t *k0 = json_array_get(json_object_get(jwks, "keys"), 0);
  assert_string_equal(idp_json_get_str(k0, "kty", NULL), ec ? "EC" : "RSA");
  assert_string_equal(idp_json_get_str(k0, "kid", NULL), idp_satoken_kid(s));
  assert_non_null(idp_json_get_str(k0, ec ? "x" : "n", NULL));
  if (ec) assert_int_equal(strlen(idp_json_get_str(k0, "x", NULL)), 43); /* 32 bytes base64url */
  else assert_string_equal(idp_json_get_str(k0, "e", NULL), "AQAB");
  json_decref(jwks);
  json_t *aud = json_pack("[s]", "vault");
  char *tok = NULL;
  int64_t exp = 0;
  idp_satoken_req r = {.ns = "apps", .name = "web", .uid = "u-1", .audiences = aud, .now = NOW};
  assert_int_equal(idp_satoken_issue(s, &r, &tok, &exp, &e), IDP_OK);
  assert_int_equal(exp, NOW + 3600);
  json_t *claims = NULL;
  assert_int_equal(idp_satoken_verify(s, tok, aud, NOW + 10, &claims, &e), IDP_OK);
  assert_string_equal(idp_json_get_str(claims, "sub", NULL), "system:serviceaccount:apps:web");
  assert_string_equal(idp_json_get_str(claims, "kubernetes.io", "serviceaccount", "uid", NULL), "u-1");
  assert_int_equal(json_integer_value(json_object_get(claims, "nbf")), NOW);
  json_decref(claims);
  /* expired, wrong audience (API audience = issuer), tampered */
  assert_int_equal(idp_satoken_verify(s, tok, aud, NOW + 3600 + 61, NULL, &e), IDP_EUNAUTH);
  assert_non_null(strstr(e.msg, "expired"));
  assert_int_equal(idp_satoken_verify(s, tok, NULL, NOW, NULL, &e), IDP_EUNAUTH);
  assert_non_null(strstr(e.msg, "audiences"));
  char *bad = strdup(tok);
  size_t n = strlen(bad);
  bad[n - 2] = bad[n - 2] == 'A' ? 'B' : 'A';
  assert_int_equal(idp_satoken_verify(s, bad, aud, NOW, NULL, &e), IDP_EUNAUTH);
  free(bad);
  /* a different key does not verify it */
  char *pem2 = gen_key(ec);
  idp_satoken_signer *s2 = NULL;
  assert_int_equal(idp_satoken_signer_new(pem2, "https://idp.local", NULL, &s2, &e), IDP_OK);
  assert_int_equal(idp_satoken_verify(s2, tok, aud, NOW, NULL, &e), IDP_EUNAUTH);
  idp_satoken_signer_free(s2);
  free(pem2);
  free(tok);
  json_decref(aud);
  idp_satoken_signer_free(s);
  free(pem);
}

static void test_rs256(void **st) { (void)st; roundtrip(false); }
static void test_es256(void **st) { (void)st; roundtrip(true); }

static void test_alg_none_rejected(void **st) {
  (void)st;
  char *pem = gen_key(true);
  idp_satoken_signer *s = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_satoken_signer_new(pem, "iss", NULL, &s, &e), IDP_OK);
  const char *h = "{\"alg\":\"none\"}";
  const char *c = "{\"iss\":\"iss\",\"aud\":[\"iss\"],\"exp\":9999999999,\"sub\":\"system:serviceaccount:a:b\"}";
  char *h64 = idp_b64url_encode(h, strlen(h)), *c64 = idp_b64url_encode(c, strlen(c));
  char tok[1024];
  snprintf(tok, sizeof tok, "%s.%s.", h64, c64);
  assert_int_equal(idp_satoken_verify(s, tok, NULL, NOW, NULL, &e), IDP_EUNAUTH);
  assert_int_equal(idp_satoken_verify(s, "abc", NULL, NOW, NULL, &e), IDP_EUNAUTH);
  free(h64);
  free(c64);
  idp_satoken_signer_free(s);
  free(pem);
}

static void test_request_and_review(void **st) {
  (void)st;
  char *pem = gen_key(false);
  idp_satoken_signer *s = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_satoken_signer_new(pem, "https://kubernetes.default.svc", NULL, &s, &e), IDP_OK);
  json_t *body = json_pack("{s:{s:[s],s:i}}", "spec", "audiences", "vault", "expirationSeconds", 1200);
  json_t *tr = NULL;
  assert_int_equal(idp_satoken_token_request(s, "ns1", "sa1", "uid-9", body, NOW, &tr, &e), IDP_OK);
  assert_string_equal(idp_json_get_str(tr, "status", "expirationTimestamp", NULL), "2023-11-14T22:33:20Z");
  const char *tok = idp_json_get_str(tr, "status", "token", NULL);
  assert_non_null(tok);
  json_t *rv = json_pack("{s:{s:s,s:[s]}}", "spec", "token", tok, "audiences", "vault");
  json_t *res = NULL;
  assert_int_equal(idp_satoken_token_review(s, rv, NOW, &res, &e), IDP_OK);
  assert_true(json_is_true(idp_json_get(res, "status", "authenticated", NULL)));
  assert_string_equal(idp_json_get_str(res, "status", "user", "username", NULL), "system:serviceaccount:ns1:sa1");
  assert_string_equal(idp_json_get_str(res, "status", "user", "uid", NULL), "uid-9");
  assert_string_equal(json_string_value(json_array_get(idp_json_get(res, "status", "audiences", NULL), 0)), "vault");
  json_decref(res);
  /* review without audiences: API audience (issuer) not in the token */
  json_t *rv2 = json_pack("{s:{s:s}}", "spec", "token", tok);
  assert_int_equal(idp_satoken_token_review(s, rv2, NOW, &res, &e), IDP_OK);
  assert_true(json_is_false(idp_json_get(res, "status", "authenticated", NULL)));
  assert_non_null(idp_json_get_str(res, "status", "error", NULL));
  json_decref(res);
  json_decref(rv2);
  json_decref(rv);
  json_decref(tr);
  json_decref(body);
  /* too short an expiration */
  body = json_pack("{s:{s:i}}", "spec", "expirationSeconds", 60);
  assert_int_equal(idp_satoken_token_request(s, "ns1", "sa1", "u", body, NOW, &tr, &e), IDP_EINVALID);
  assert_non_null(strstr(e.msg, "expirationSeconds"));
  json_decref(body);
  idp_satoken_signer_free(s);
  free(pem);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rs256),
      cmocka_unit_test(test_es256),
      cmocka_unit_test(test_alg_none_rejected),
      cmocka_unit_test(test_request_and_review),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
