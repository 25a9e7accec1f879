/* kubeconfig loading: contexts, every credential form, in-cluster, errors. */
#include "../test.h"
#include "client/kubeconfig.h"

#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static void write_file(const char *name, const char *text) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", tmpdir, name);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static int setup(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/idp-kc-XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

/* "-----BEGIN CERTIFICATE-----\nabc\n" and "secret-key" in base64. */
#define CA_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCmFiYwo="
#define KEY_B64 "c2VjcmV0LWtleQ=="

static const char *kc_text =
    "apiVersion: v1\n"
    "kind: Config\n"
    "current-context: dev\n"
    "clusters:\n"
    "- name: c1\n"
    "  cluster:\n"
    "    server: https://10.0.0.1:6443/\n"
    "    certificate-authority-data: " CA_B64 "\n"
    "- name: c2\n"
    "  cluster:\n"
    "    server: http://127.0.0.1:8080\n"
    "    certificate-authority: certs/ca.pem\n"
    "    insecure-skip-tls-verify: true\n"
    "users:\n"
    "- name: tok\n"
    "  user:\n"
    "    token: abc.def\n"
    "- name: cert\n"
    "  user:\n"
    "    client-certificate-data: " CA_B64 "\n"
    "    client-key-data: " KEY_B64 "\n"
    "- name: certfile\n"
    "  user:\n"
    "    client-certificate: /abs/cert.pem\n"
    "    client-key: rel/key.pem\n"
    "    tokenFile: tok.txt\n"
    "- name: basic\n"
    "  user: {username: admin, password: hunter2}\n"
    "- name: exec\n"
    "  user:\n"
    "    exec: {command: aws}\n"
    "- name: halfcert\n"
    "  user: {client-certificate: /x.pem}\n"
    "contexts:\n"
    "- name: dev\n"
    "  context: {cluster: c1, user: tok, namespace: team-a}\n"
    "- name: certs\n"
    "  context: {cluster: c1, user: cert}\n"
    "- name: files\n"
    "  context: {cluster: c2, user: certfile}\n"
    "- name: basic\n"
    "  context: {cluster: c2, user: basic}\n"
    "- name: exec\n"
    "  context: {cluster: c1, user: exec}\n"
    "- name: nouser\n"
    "  context: {cluster: c1, user: ghost}\n"
    "- name: nocluster\n"
    "  context: {cluster: ghost, user: tok}\n"
    "- name: half\n"
    "  context: {cluster: c1, user: halfcert}\n";

static idp_kconfig *load(const char *ctx) {
  idp_kconfig *c = NULL;
  idp_err e = IDP_ERR_INIT;
  char p[512];
  snprintf(p, sizeof p, "%s/config", tmpdir);
  idp_code rc = idp_kconfig_load_file(p, ctx, &c, &e);
  if (rc) fprintf(stderr, "load %s: %s\n", ctx ? ctx : "(current)", e.msg);
  assert_int_equal(rc, IDP_OK);
  return c;
}

static void expect_error(const char *ctx, idp_code code, const char *needle) {
  idp_kconfig *c = NULL;
  idp_err e = IDP_ERR_INIT;
  char p[512];
  snprintf(p, sizeof p, "%s/config", tmpdir);
  assert_int_equal(idp_kconfig_load_file(p, ctx, &c, &e), code);
  assert_null(c);
  if (!strstr(e.msg, needle)) fprintf(stderr, "message: %s\n", e.msg);
  assert_non_null(strstr(e.msg, needle));
  assert_non_null(strstr(e.msg, p)); /* names the file */
}

static void test_current_context_token(void **state) {
  (void)state;
  write_file("config", kc_text);
  idp_kconfig *c = load(NULL);
  assert_string_equal(c->context, "dev");
  assert_string_equal(c->server, "https://10.0.0.1:6443"); /* trailing '/' dropped */
  assert_string_equal(c->namespace_, "team-a");
  assert_string_equal(c->token, "abc.def");
  assert_int_equal(c->ca_data_len, 32);
  assert_memory_equal(c->ca_data, "-----BEGIN CERTIFICATE-----\nabc\n", 32);
  assert_null(c->ca_file);
  assert_false(c->insecure);
  idp_kconfig_free(c);
}

static void test_client_cert_data(void **state) {
  (void)state;
  write_file("config", kc_text);
  idp_kconfig *c = load("certs");
  assert_string_equal(c->namespace_, "default");
  assert_null(c->token);
  assert_int_equal(c->key_data_len, 10);
  assert_memory_equal(c->key_data, "secret-key", 10);
  assert_non_null(c->cert_data);
  idp_kconfig_free(c);
}

static void test_files_relative(void **state) {
  (void)state;
  write_file("config", kc_text);
  idp_kconfig *c = load("files");
  char want[512];
  snprintf(want, sizeof want, "%s/certs/ca.pem", tmpdir);
  assert_string_equal(c->ca_file, want);
  assert_true(c->insecure);
  assert_string_equal(c->cert_file, "/abs/cert.pem");
  snprintf(want, sizeof want, "%s/rel/key.pem", tmpdir);
  assert_string_equal(c->key_file, want);
  snprintf(want, sizeof want, "%s/tok.txt", tmpdir);
  assert_string_equal(c->token_file, want);
  assert_string_equal(c->server, "http://127.0.0.1:8080");
  idp_kconfig_free(c);
}

static void test_basic(void **state) {
  (void)state;
  write_file("config", kc_text);
  idp_kconfig *c = load("basic");
  assert_string_equal(c->username, "admin");
  assert_string_equal(c->password, "hunter2");
  idp_kconfig_free(c);
}

static void test_errors(void **state) {
  (void)state;
  write_file("config", kc_text);
  expect_error("exec", IDP_EUNSUPPORTED, "users[\"exec\"].user.exec");
  expect_error("nouser", IDP_ENOTFOUND, "user \"ghost\" not found");
  expect_error("nocluster", IDP_ENOTFOUND, "cluster \"ghost\" not found");
  expect_error("missing", IDP_ENOTFOUND, "context \"missing\" not found");
  expect_error("half", IDP_EINVAL, "client-certificate without client-key");

  write_file("config", "apiVersion: v1\nkind: Config\nclusters: []\n");
  expect_error(NULL, IDP_EINVAL, "current-context");

  write_file("config", "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c}\n"
                       "clusters:\n- name: c\n  cluster: {server: ftp://x}\n");
  expect_error(NULL, IDP_EINVAL, "clusters[\"c\"].cluster.server");

  write_file("config", "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c, "
                       "user: u}\nclusters:\n- name: c\n  cluster: {server: https://x}\n"
                       "users:\n- name: u\n  user: {client-key-data: 'not*base64', "
                       "client-certificate-data: " CA_B64 "}\n");
  expect_error(NULL, IDP_EINVAL, "client-key-data: invalid base64");

  write_file("config", "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c}\n"
                       "clusters:\n- name: c\n  cluster: {server: [1]}\n");
  expect_error(NULL, IDP_EINVAL, "server: expected a string");

  write_file("config", "kind: Pod\n");
  expect_error(NULL, IDP_EINVAL, "kind: expected Config");

  write_file("config", "a: [\n");
  expect_error(NULL, IDP_EINVAL, "config");

  idp_kconfig *c = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_kconfig_load_file("/nonexistent/kc", NULL, &c, &e), IDP_ENOTFOUND);
  assert_non_null(strstr(e.msg, "/nonexistent/kc"));
}

static void test_secret_not_in_errors(void **state) {
  (void)state;
  /* A bad field next to a token: the message must not carry the token. */
  write_file("config", "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c, "
                       "user: u}\nclusters:\n- name: c\n  cluster: {server: https://x}\n"
                       "users:\n- name: u\n  user: {token: s3cr3t-t0ken, client-key: /k}\n");
  idp_kconfig *c = NULL;
  idp_err e = IDP_ERR_INIT;
  char p[512];
  snprintf(p, sizeof p, "%s/config", tmpdir);
  assert_int_equal(idp_kconfig_load_file(p, NULL, &c, &e), IDP_EINVAL);
  assert_null(strstr(e.msg, "s3cr3t"));
}

static void test_in_cluster(void **state) {
  (void)state;
  char sa[512];
  snprintf(sa, sizeof sa, "%s/sa", tmpdir);
  mkdir(sa, 0700);
  write_file("sa/token", "tok\n");
  write_file("sa/ca.crt", "PEM");
  write_file("sa/namespace", "idp-system\n");
  unsetenv("KUBERNETES_SERVICE_HOST");
  idp_kconfig *c = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_kconfig_in_cluster(sa, &c, &e), IDP_ENOTFOUND);
  assert_non_null(strstr(e.msg, "KUBERNETES_SERVICE_HOST"));
  setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  assert_int_equal(idp_kconfig_in_cluster(sa, &c, &e), IDP_OK);
  assert_string_equal(c->server, "https://10.96.0.1:443");
  assert_string_equal(c->namespace_, "idp-system");
  char want[512];
  snprintf(want, sizeof want, "%s/token", sa);
  assert_string_equal(c->token_file, want);
  assert_null(c->token);
  snprintf(want, sizeof want, "%s/ca.crt", sa);
  assert_string_equal(c->ca_file, want);
  idp_kconfig_free(c);
  setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
  assert_int_equal(idp_kconfig_in_cluster(sa, &c, &e), IDP_OK);
  assert_string_equal(c->server, "https://[fd00::1]:443");
  idp_kconfig_free(c);
  snprintf(want, sizeof want, "%s/none", tmpdir);
  assert_int_equal(idp_kconfig_in_cluster(want, &c, &e), IDP_ENOTFOUND);
  assert_non_null(strstr(e.msg, "token"));
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
}

static void test_default_order(void **state) {
  (void)state;
  write_file("config", kc_text);
  char p[512];
  snprintf(p, sizeof p, "/nonexistent/a:%s/config", tmpdir);
  setenv("KUBECONFIG", p, 1);
  idp_kconfig *c = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_kconfig_load_default(NULL, "basic", &c, &e), IDP_OK);
  assert_string_equal(c->username, "admin");
  idp_kconfig_free(c);
  unsetenv("KUBECONFIG");
  setenv("HOME", "/nonexistent-home", 1);
  assert_int_equal(idp_kconfig_load_default(NULL, NULL, &c, &e), IDP_ENOTFOUND);
}

static void test_base64(void **state) {
  (void)state;
  char *out;
  size_t n;
  assert_int_equal(idp_base64_decode("aGVsbG8=", 8, &out, &n), IDP_OK);
  assert_int_equal(n, 5);
  assert_string_equal(out, "hello");
  free(out);
  assert_int_equal(idp_base64_decode("aGVs\nbG8", 8, &out, &n), IDP_OK); /* no padding */
  assert_string_equal(out, "hello");
  free(out);
  assert_int_equal(idp_base64_decode("aGV$", 4, &out, &n), IDP_EINVAL);
  assert_int_equal(idp_base64_decode("a", 1, &out, &n), IDP_EINVAL);
  assert_int_equal(idp_base64_decode("", 0, &out, &n), IDP_OK);
  assert_int_equal(n, 0);
  free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_current_context_token),
      cmocka_unit_test(test_client_cert_data),
      cmocka_unit_test(test_files_relative),
      cmocka_unit_test(test_basic),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_secret_not_in_errors),
      cmocka_unit_test(test_in_cluster),
      cmocka_unit_test(test_default_order),
      cmocka_unit_test(test_base64),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
