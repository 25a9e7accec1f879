#include "../test.h"

#include "gitops/app/project.h"

static json_t *proj(const char *spec) {
  json_t *s = json_loads(spec, 0, NULL);
  if (!s) fail_msg("bad spec %s", spec);
  return json_pack("{s:{s:s}, s:o}", "metadata", "name", "p", "spec", s);
}

static void test_sources(void **state) {
  (void)state;
  static const struct {
    const char *repos, *url;
    bool ok;
  } cases[] = {
      {"[\"*\"]", "https://github.com/a/b", true},
      {"[\"https://github.com/org/*\"]", "https://github.com/org/repo.git", true},
      {"[\"https://github.com/org/*\"]", "https://github.com/other/repo", false},
      {"[\"https://github.com/org/*\", \"!https://github.com/org/secret\"]",
       "https://github.com/org/secret.git", false},
      {"[\"https://GitHub.com/org/repo\"]", "https://github.com/org/repo/", true},
      {"[\"git@github.com:org/*\"]", "https://github.com/org/x", true},
      {"[]", "https://github.com/a/b", false},
  };
  for (size_t i = 0; i < IDP_ARRAY_LEN(cases); i++) {
    char spec[512];
    snprintf(spec, sizeof spec, "{\"sourceRepos\":%s}", cases[i].repos);
    json_t *p = proj(spec);
    idp_err e = IDP_ERR_INIT;
    idp_code rc = idp_app_project_check_source(p, cases[i].url, &e);
    if ((rc == IDP_OK) != cases[i].ok) fail_msg("case %zu: %s", i, e.msg);
    if (rc) assert_non_null(strstr(e.msg, "not permitted in project 'p'"));
    json_decref(p);
  }
}

static void test_destinations(void **state) {
  (void)state;
  json_t *p = proj(
      "{\"destinations\":[{\"server\":\"https://kubernetes.default.svc\","
      "\"namespace\":\"team-*\"},{\"name\":\"prod\",\"namespace\":\"*\"},"
      "{\"server\":\"*\",\"namespace\":\"!kube-system\"}]}");
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(
      idp_app_project_check_dest(p, "https://kubernetes.default.svc", NULL, "team-a", &e), IDP_OK);
  assert_int_equal(
      idp_app_project_check_dest(p, "https://kubernetes.default.svc", NULL, "other", &e),
      IDP_EFORBIDDEN);
  assert_int_equal(idp_app_project_check_dest(p, NULL, "prod", "anything", &e), IDP_OK);
  assert_int_equal(idp_app_project_check_dest(p, "https://x", "prod", "kube-system", &e),
                   IDP_EFORBIDDEN);
  json_decref(p);
}

static void test_resources(void **state) {
  (void)state;
  json_t *p = proj(
      "{\"clusterResourceWhitelist\":[{\"group\":\"\",\"kind\":\"Namespace\"}],"
      "\"namespaceResourceBlacklist\":[{\"group\":\"\",\"kind\":\"ResourceQuota\"}]}");
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_app_project_check_resource(p, "", "Namespace", "x", false, &e), IDP_OK);
  assert_int_equal(
      idp_app_project_check_resource(p, "rbac.authorization.k8s.io", "ClusterRole", "x", false, &e),
      IDP_EFORBIDDEN);
  assert_non_null(strstr(e.msg, "ClusterRole is not permitted in project p"));
  assert_int_equal(idp_app_project_check_resource(p, "", "ConfigMap", "x", true, &e), IDP_OK);
  assert_int_equal(idp_app_project_check_resource(p, "", "ResourceQuota", "x", true, &e),
                   IDP_EFORBIDDEN);
  json_decref(p);
  p = proj("{\"namespaceResourceWhitelist\":[{\"group\":\"apps\",\"kind\":\"*\"}]}");
  assert_int_equal(idp_app_project_check_resource(p, "apps", "Deployment", "x", true, &e), IDP_OK);
  assert_int_equal(idp_app_project_check_resource(p, "", "Secret", "x", true, &e), IDP_EFORBIDDEN);
  /* empty cluster whitelist: no cluster-scoped kind */
  assert_int_equal(idp_app_project_check_resource(p, "", "Namespace", "x", false, &e),
                   IDP_EFORBIDDEN);
  json_decref(p);
  json_t *d = idp_app_project_default("argocd");
  assert_int_equal(idp_app_project_check_resource(d, "", "Namespace", "x", false, &e), IDP_OK);
  assert_int_equal(idp_app_project_check_source(d, "https://any/repo", &e), IDP_OK);
  assert_int_equal(idp_app_project_check_dest(d, "https://kubernetes.default.svc", NULL, "x", &e),
                   IDP_OK);
  json_decref(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_sources),
                                     cmocka_unit_test(test_destinations),
                                     cmocka_unit_test(test_resources)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
