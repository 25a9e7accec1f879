#include "../test.h"

#include <ctype.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "gitops/app/webhook.h"

static void sig_of(const char *secret, const char *body, char *out, size_t n) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int ml = 0;
  HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, strlen(body), mac,
       &ml);
  size_t o = (size_t)snprintf(out, n, "sha256=");
  for (unsigned i = 0; i < ml && o + 3 <= n; i++)
    o += (size_t)snprintf(out + o, n - o, "%02x", mac[i]);
}

static void test_verify(void **state) {
  (void)state;
  const char *body = "{\"ref\":\"refs/heads/main\"}";
  char good[128], upper[128];
  sig_of("s3cret", body, good, sizeof good);
  snprintf(upper, sizeof upper, "sha256=");
  for (size_t i = 7; good[i]; i++) upper[i] = (char)toupper((unsigned char)good[i]);
  upper[strlen(good)] = 0;
  char other[128];
  sig_of("other", body, other, sizeof other);
  static const struct {
    const char *event_hdr, *event, *sig_hdr;
    int sig; /* 0 good, 1 upper-case hex, 2 other secret, 3 literal below */
    const char *literal, *gh, *gl;
    bool want;
  } cases[] = {
      {"X-GitHub-Event", "push", "X-Hub-Signature-256", 0, NULL, "s3cret", NULL, true},
      {"x-github-event", "push", "x-hub-signature-256", 0, NULL, "s3cret", NULL, true},
      {"X-GitHub-Event", "push", "X-Hub-Signature-256", 1, NULL, "s3cret", NULL, true},
      {"X-GitHub-Event", "push", "X-Hub-Signature-256", 2, NULL, "s3cret", NULL, false},
      {"X-GitHub-Event", "push", "X-Hub-Signature-256", 3, "sha256=00", "s3cret", NULL, false},
      {"X-GitHub-Event", "push", "X-Hub-Signature-256", 3, "sha1=abc", "s3cret", NULL, false},
      {"X-GitHub-Event", "push", "X-Other", 0, NULL, "s3cret", NULL, false},
      {"X-GitHub-Event", "push", "X-Other", 0, NULL, NULL, NULL, true}, /* no secret: accepted */
      {"X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", 3, "tok", NULL, "tok", true},
      {"X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", 3, "tok2", NULL, "tok", false},
      {"X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", 3, "to", NULL, "tok", false},
      {"X-Other-Event", "push", "X-Hub-Signature-256", 0, NULL, "s3cret", "tok", false},
  };
  for (size_t i = 0; i < IDP_ARRAY_LEN(cases); i++) {
    const char *sig = cases[i].sig == 0   ? good
                      : cases[i].sig == 1 ? upper
                      : cases[i].sig == 2 ? other
                                          : cases[i].literal;
    json_t *h = json_pack("{s:s, s:s}", cases[i].event_hdr, cases[i].event, cases[i].sig_hdr, sig);
    bool got = idp_webhook_verify(h, body, strlen(body), cases[i].gh, cases[i].gl);
    if (got != cases[i].want) fail_msg("case %zu: got %d", i, got);
    json_decref(h);
  }
}

static void test_parse_and_match(void **state) {
  (void)state;
  json_t *gh = json_loads(
      "{\"ref\":\"refs/heads/main\",\"repository\":{\"html_url\":"
      "\"https://github.com/org/repo\",\"clone_url\":"
      "\"https://github.com/org/repo.git\",\"default_branch\":\"main\"}}",
      0, NULL);
  json_t *urls;
  const char *ref, *dflt;
  assert_true(idp_webhook_parse_push(gh, IDP_WEBHOOK_GITHUB, &urls, &ref, &dflt));
  assert_string_equal(ref, "refs/heads/main");
  assert_string_equal(dflt, "main");
  assert_int_equal(json_array_size(urls), 2);
  static const struct {
    const char *source;
    bool want;
  } cases[] = {
      {"{\"repoURL\":\"https://github.com/org/repo.git\",\"targetRevision\":\"HEAD\"}", true},
      {"{\"repoURL\":\"https://GitHub.com/org/repo\"}", true},
      {"{\"repoURL\":\"git@github.com:org/repo.git\",\"targetRevision\":\"main\"}", true},
      {"{\"repoURL\":\"https://github.com/org/repo\",\"targetRevision\":\"refs/heads/main\"}",
       true},
      {"{\"repoURL\":\"https://github.com/org/repo\",\"targetRevision\":\"dev\"}", false},
      {"{\"repoURL\":\"https://github.com/org/other\",\"targetRevision\":\"main\"}", false},
      {"{\"targetRevision\":\"main\"}", false},
  };
  for (size_t i = 0; i < IDP_ARRAY_LEN(cases); i++) {
    json_t *src = json_loads(cases[i].source, 0, NULL);
    if (idp_webhook_source_matches(src, urls, ref, dflt) != cases[i].want)
      fail_msg("case %zu: %s", i, cases[i].source);
    json_decref(src);
  }
  /* a push to another branch does not refresh HEAD-following apps */
  json_t *src = json_loads("{\"repoURL\":\"https://github.com/org/repo\"}", 0, NULL);
  assert_false(idp_webhook_source_matches(src, urls, "refs/heads/feature", "main"));
  assert_true(idp_webhook_source_matches(src, urls, "refs/heads/feature", NULL));
  json_decref(src);
  src = json_loads("{\"repoURL\":\"https://github.com/org/repo\",\"targetRevision\":\"v1\"}", 0,
                   NULL);
  assert_true(idp_webhook_source_matches(src, urls, "refs/tags/v1", "main"));
  json_decref(src);
  json_decref(urls);
  json_decref(gh);

  json_t *gl = json_loads(
      "{\"object_kind\":\"push\",\"ref\":\"refs/heads/main\",\"project\":{"
      "\"git_http_url\":\"https://gitlab.com/g/p.git\",\"web_url\":"
      "\"https://gitlab.com/g/p\",\"default_branch\":\"main\"}}",
      0, NULL);
  assert_true(idp_webhook_parse_push(gl, IDP_WEBHOOK_GITLAB, &urls, &ref, &dflt));
  assert_int_equal(json_array_size(urls), 2);
  json_decref(urls);
  json_decref(gl);
  json_t *ping = json_loads("{\"zen\":\"hi\",\"repository\":{\"html_url\":\"x\"}}", 0, NULL);
  assert_false(idp_webhook_parse_push(ping, IDP_WEBHOOK_GITHUB, &urls, &ref, &dflt));
  assert_null(urls);
  json_decref(ping);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_verify),
                                     cmocka_unit_test(test_parse_and_match)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
