/* The HTTP layer: a real listener on a free port, spoken to with libcurl. */
#include "../test.h"

#include <curl/curl.h>
#include <unistd.h>

#include "apiserver/apiserver.h"
#include "core/buf.h"
#include "core/json.h"

static size_t sink(char *p, size_t s, size_t n, void *ud) {
  idp_buf_add(ud, p, s * n);
  return s * n;
}

static long http(uint16_t port, const char *method, const char *path, const char *token,
                 const char *body, idp_buf *out) {
  CURL *c = curl_easy_init();
  char url[512];
  snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
  struct curl_slist *h = NULL;
  char auth[200];
  if (token) {
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    h = curl_slist_append(h, auth);
  }
  h = curl_slist_append(h, "Content-Type: application/json");
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
  if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  long code = 0;
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  return code;
}

static void test_http(void **state) {
  IDP_UNUSED(state);
  idp_err e = IDP_ERR_INIT;
  char key[] = "/tmp/idp-api-srv-key-XXXXXX";
  int fd = mkstemp(key);
  close(fd);
  unlink(key);
  idp_store_opts so = {.path = ":memory:", .key_file = key};
  idp_store *store = NULL;
  assert_int_equal(idp_store_open(&so, &store, &e), IDP_OK);
  idp_apiserver_opts ao = {.store = store, .listen = "127.0.0.1:0", .token = "s3cret",
                           .max_body = 4096};
  idp_apiserver *srv = NULL;
  assert_int_equal(idp_apiserver_new(&ao, &srv, &e), IDP_OK);
  if (idp_apiserver_listen(srv, &e)) fail_msg("%s", e.msg);
  uint16_t port = idp_apiserver_port(srv);
  assert_true(port > 0);
  idp_buf b;
  idp_buf_init(&b, 1 << 20);
  assert_int_equal(http(port, "GET", "/healthz", NULL, NULL, &b), 200);
  assert_string_equal(idp_buf_str(&b), "ok");
  idp_buf_reset(&b);
  assert_int_equal(http(port, "GET", "/version", NULL, NULL, &b), 200);
  idp_buf_reset(&b);
  assert_int_equal(http(port, "GET", "/api", NULL, NULL, &b), 401);
  assert_non_null(strstr(idp_buf_str(&b), "\"reason\":\"Unauthorized\""));
  idp_buf_reset(&b);
  assert_int_equal(http(port, "GET", "/api", "wrong", NULL, &b), 401);
  idp_buf_reset(&b);
  assert_int_equal(http(port, "GET", "/api", "s3cret", NULL, &b), 200);
  assert_non_null(strstr(idp_buf_str(&b), "APIVersions"));
  idp_buf_reset(&b);
  assert_int_equal(http(port, "GET", "/apis", "s3cret", NULL, &b), 200);
  assert_non_null(strstr(idp_buf_str(&b), "\"apps\""));
  idp_buf_reset(&b);
  assert_int_equal(http(port, "POST", "/api/v1/namespaces/default/configmaps", "s3cret",
                        "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"h\"}}", &b), 201);
  idp_buf_reset(&b);
  assert_int_equal(http(port, "GET", "/api/v1/namespaces/default/configmaps/h", "s3cret", NULL, &b), 200);
  idp_buf_reset(&b);
  /* a body over the cap gets 413 */
  char big[6000];
  memset(big, ' ', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  assert_int_equal(http(port, "POST", "/api/v1/namespaces/default/configmaps", "s3cret", big, &b), 413);
  idp_buf_reset(&b);
  /* a watch ends at timeoutSeconds with the events in between */
  assert_int_equal(http(port, "GET", "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1",
                        "s3cret", NULL, &b), 200);
  assert_non_null(strstr(idp_buf_str(&b), "\"type\":\"ADDED\""));
  idp_buf_free(&b);
  idp_apiserver_free(srv);
  idp_store_close(store);
  unlink(key);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_http),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
