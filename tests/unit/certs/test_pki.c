#include "../test.h"

#include <sys/stat.h>
#include <unistd.h>

#include "certs/pki.h"

static void test_ca_and_leaf(void **state) {
  IDP_UNUSED(state);
  idp_err e = IDP_ERR_INIT;
  char *ca = NULL, *cakey = NULL, *key = NULL, *cert = NULL;
  assert_int_equal(idp_pki_ca_new("test-ca", 10, IDP_PKI_ECDSA_P256, &ca, &cakey, &e), IDP_OK);
  idp_pki_cert_info info;
  assert_int_equal(idp_pki_cert_info_get(ca, &info, &e), IDP_OK);
  assert_true(info.is_ca);
  assert_string_equal(info.common_name, "test-ca");
  assert_true(info.not_after - info.not_before > 9LL * 365 * 86400);

  assert_int_equal(idp_pki_key_new(IDP_PKI_RSA, 2048, &key, &e), IDP_OK);
  const char *dns[] = {"example.test", "localhost", NULL};
  const char *ips[] = {"127.0.0.1", "::1", NULL};
  idp_pki_spec spec = {.common_name = "leaf", .dns_names = dns, .ip_addresses = ips, .key_pem = key};
  assert_int_equal(idp_pki_issue(&spec, ca, cakey, &cert, &e), IDP_OK);
  assert_int_equal(idp_pki_verify(cert, ca, &e), IDP_OK);
  assert_true(idp_pki_cert_covers(cert, "example.test"));
  assert_true(idp_pki_cert_covers(cert, "::1"));
  assert_true(idp_pki_cert_covers(cert, "127.0.0.1"));
  assert_false(idp_pki_cert_covers(cert, "other.test"));
  assert_int_equal(idp_pki_cert_info_get(cert, &info, &e), IDP_OK);
  assert_false(info.is_ca);

  /* a certificate from another CA does not verify */
  char *ca2 = NULL, *ca2key = NULL;
  assert_int_equal(idp_pki_ca_new("other", 1, IDP_PKI_ED25519, &ca2, &ca2key, &e), IDP_OK);
  assert_int_equal(idp_pki_verify(cert, ca2, &e), IDP_EINVALID);
  free(ca2);
  free(ca2key);
  free(ca);
  free(cakey);
  free(key);
  free(cert);
}

static void test_bad_input(void **state) {
  IDP_UNUSED(state);
  idp_err e = IDP_ERR_INIT;
  char *cert = NULL, *key = NULL, *ca = NULL, *cakey = NULL;
  idp_pki_spec spec = {.common_name = "x", .key_pem = "not a key"};
  assert_int_equal(idp_pki_issue(&spec, NULL, NULL, &cert, &e), IDP_EINVALID);
  assert_non_null(strstr(e.msg, "key"));
  assert_null(cert);
  assert_int_equal(idp_pki_key_new(IDP_PKI_ECDSA_P256, 0, &key, &e), IDP_OK);
  const char *ips[] = {"not-an-ip", NULL};
  assert_int_equal(idp_pki_ca_new("ca", 1, IDP_PKI_ECDSA_P256, &ca, &cakey, &e), IDP_OK);
  idp_pki_spec s2 = {.common_name = "x", .ip_addresses = ips, .key_pem = key};
  assert_int_equal(idp_pki_issue(&s2, ca, cakey, &cert, &e), IDP_EINVALID);
  assert_non_null(strstr(e.msg, "not-an-ip"));
  /* mismatched CA key */
  idp_pki_spec s3 = {.common_name = "x", .key_pem = key};
  assert_int_equal(idp_pki_issue(&s3, ca, key, &cert, &e), IDP_EINVALID);
  assert_int_equal(idp_pki_issue(&s3, NULL, NULL, &cert, &e), IDP_OK); /* self-signed */
  free(cert);
  free(key);
  free(ca);
  free(cakey);
}

static void test_ensure_serving(void **state) {
  IDP_UNUSED(state);
  char dir[] = "/tmp/idp-pki-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char sub[256];
  snprintf(sub, sizeof sub, "%s/data", dir);
  idp_err e = IDP_ERR_INIT;
  idp_pki_serving s1, s2;
  const char *extra[] = {"idp.example", NULL};
  assert_int_equal(idp_pki_ensure_serving(sub, extra, &s1, &e), IDP_OK);
  assert_true(idp_pki_cert_covers(s1.cert, "idp.example"));
  assert_true(idp_pki_cert_covers(s1.cert, "localhost"));
  assert_int_equal(idp_pki_verify(s1.cert, s1.ca_cert, &e), IDP_OK);
  char path[300];
  snprintf(path, sizeof path, "%s/ca.key", sub);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  /* reused on the second start */
  assert_int_equal(idp_pki_ensure_serving(sub, extra, &s2, &e), IDP_OK);
  assert_string_equal(s1.cert, s2.cert);
  assert_string_equal(s1.ca_cert, s2.ca_cert);
  idp_pki_serving_free(&s2);
  /* a new name re-issues the serving certificate, the CA stays */
  const char *extra2[] = {"10.1.2.3", NULL};
  assert_int_equal(idp_pki_ensure_serving(sub, extra2, &s2, &e), IDP_OK);
  assert_string_equal(s1.ca_cert, s2.ca_cert);
  assert_string_not_equal(s1.cert, s2.cert);
  assert_true(idp_pki_cert_covers(s2.cert, "10.1.2.3"));
  idp_pki_serving_free(&s1);
  idp_pki_serving_free(&s2);
  const char *files[] = {"ca.crt", "ca.key", "server.crt", "server.key"};
  for (size_t i = 0; i < IDP_ARRAY_LEN(files); i++) {
    snprintf(path, sizeof path, "%s/%s", sub, files[i]);
    unlink(path);
  }
  rmdir(sub);
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ca_and_leaf),
      cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_ensure_serving),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
