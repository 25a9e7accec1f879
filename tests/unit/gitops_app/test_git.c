#include "../test.h"

#include <unistd.h>

#include "core/buf.h"
#include "gitops/app/git.h"

static char dir[256];

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...) {
  char cmd[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  if (system(cmd) != 0) fail_msg("command failed: %s", cmd);
}

static void out_of(const char *cmd, char *buf, size_t n) {
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  if (!fgets(buf, (int)n, p)) buf[0] = 0;
  pclose(p);
  buf[strcspn(buf, "\n")] = 0;
}

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/idp-gittest.XXXXXX");
  if (!mkdtemp(dir)) return -1;
  setenv("GIT_AUTHOR_NAME", "t", 1);
  setenv("GIT_AUTHOR_EMAIL", "t@e", 1);
  setenv("GIT_COMMITTER_NAME", "t", 1);
  setenv("GIT_COMMITTER_EMAIL", "t@e", 1);
  sh("cd %s && git init -q -b main repo && cd repo && mkdir -p app && echo one > app/f.txt && "
     "git add -A && git commit -qm one && git tag -a v1 -m v1 && git tag light && "
     "git checkout -q -b dev && echo dev > app/f.txt && git commit -qam dev && "
     "git checkout -q main && echo two > app/f.txt && git commit -qam two",
     dir);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  sh("rm -rf %s", dir);
  return 0;
}

static void read_tree_file(const char *tree, char *buf, size_t n) {
  char p[1024];
  snprintf(p, sizeof p, "%s/app/f.txt", tree);
  idp_buf b;
  idp_buf_init(&b, 1024);
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_buf_read_file(&b, p, &e), IDP_OK);
  snprintf(buf, n, "%s", idp_buf_str(&b));
  buf[strcspn(buf, "\n")] = 0;
  idp_buf_free(&b);
}

static void test_revisions(void **state) {
  (void)state;
  char cache[512], url[512], want[64], cmd[1024];
  snprintf(cache, sizeof cache, "%s/cache", dir);
  snprintf(url, sizeof url, "file://%s/repo", dir);
  idp_git *g;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_git_new(cache, 1, &g, &e), IDP_OK);
  static const struct {
    const char *rev, *gitrev, *content;
  } cases[] = {
      {"HEAD", "main", "two"},      {"", "main", "two"},
      {"main", "main", "two"},      {"dev", "dev", "dev"},
      {"v1", "v1^{commit}", "one"}, {"refs/tags/v1", "v1^{commit}", "one"},
      {"light", "light", "one"},    {"refs/heads/dev", "dev", "dev"},
  };
  for (size_t i = 0; i < IDP_ARRAY_LEN(cases); i++) {
    snprintf(cmd, sizeof cmd, "git -C %s/repo rev-parse %s", dir, cases[i].gitrev);
    out_of(cmd, want, sizeof want);
    char sha[41], content[64];
    char *tree = NULL;
    idp_code rc = idp_git_resolve(g, url, cases[i].rev, NULL, sha, &tree, &e);
    if (rc) fail_msg("rev %s: %s", cases[i].rev, e.msg);
    assert_string_equal(sha, want);
    read_tree_file(tree, content, sizeof content);
    assert_string_equal(content, cases[i].content);
    free(tree);
  }
  /* abbreviated and full SHAs */
  snprintf(cmd, sizeof cmd, "git -C %s/repo rev-parse dev", dir);
  out_of(cmd, want, sizeof want);
  char abbrev[8], sha[41];
  snprintf(abbrev, sizeof abbrev, "%.7s", want);
  char *tree = NULL;
  assert_int_equal(idp_git_resolve(g, url, abbrev, NULL, sha, &tree, &e), IDP_OK);
  assert_string_equal(sha, want);
  free(tree);
  assert_int_equal(idp_git_resolve(g, url, want, NULL, sha, &tree, &e), IDP_OK);
  free(tree);
  /* missing revision, unreachable repository */
  assert_int_equal(idp_git_resolve(g, url, "nope", NULL, sha, &tree, &e), IDP_ENOTFOUND);
  assert_non_null(strstr(e.msg, "revision nope not found"));
  char bad[512];
  snprintf(bad, sizeof bad, "%s/does-not-exist", dir);
  assert_int_equal(idp_git_resolve(g, bad, "HEAD", NULL, sha, &tree, &e), IDP_EUNAVAILABLE);
  assert_non_null(strstr(e.msg, "unreachable"));
  assert_int_equal(idp_git_resolve(g, "", "HEAD", NULL, sha, &tree, &e), IDP_EINVAL);
  /* a new commit is seen once the listing expired (ttl 1 ms) */
  sh("cd %s/repo && echo three > app/f.txt && git commit -qam three", dir);
  usleep(5000);
  assert_int_equal(idp_git_resolve(g, url, "main", NULL, sha, &tree, &e), IDP_OK);
  char content[64];
  read_tree_file(tree, content, sizeof content);
  assert_string_equal(content, "three");
  free(tree);
  idp_git_free(g);
}

static void test_ttl_and_invalidate(void **state) {
  (void)state;
  char cache[512], url[512], sha1[41], sha2[41];
  snprintf(cache, sizeof cache, "%s/cache2", dir);
  snprintf(url, sizeof url, "%s/repo", dir);
  idp_git *g;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_git_new(cache, 600000, &g, &e), IDP_OK);
  char *tree = NULL;
  assert_int_equal(idp_git_resolve(g, url, "main", NULL, sha1, &tree, &e), IDP_OK);
  free(tree);
  sh("cd %s/repo && echo four > app/f.txt && git commit -qam four", dir);
  assert_int_equal(idp_git_resolve(g, url, "main", NULL, sha2, &tree, &e), IDP_OK);
  free(tree);
  assert_string_equal(sha1, sha2); /* cached listing */
  idp_git_invalidate(g, url);
  assert_int_equal(idp_git_resolve(g, url, "main", NULL, sha2, &tree, &e), IDP_OK);
  free(tree);
  assert_string_not_equal(sha1, sha2);
  idp_git_free(g);
}

static void test_normalize(void **state) {
  (void)state;
  static const struct {
    const char *in, *want;
  } cases[] = {
      {"https://GitHub.com/Org/Repo.git", "https://github.com/Org/Repo"},
      {"https://github.com/org/repo/", "https://github.com/org/repo"},
      {"git@github.com:org/repo.git", "https://github.com/org/repo"},
      {"https://user:pw@github.com/org/repo", "https://github.com/org/repo"},
      {"file:///srv/repo", "/srv/repo"},
      {"/srv/repo/", "/srv/repo"},
  };
  for (size_t i = 0; i < IDP_ARRAY_LEN(cases); i++) {
    char out[256];
    idp_git_url_normalize(cases[i].in, out, sizeof out);
    assert_string_equal(out, cases[i].want);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_revisions),
                                     cmocka_unit_test(test_ttl_and_invalidate),
                                     cmocka_unit_test(test_normalize)};
  return cmocka_run_group_tests(tests, setup, teardown);
}
