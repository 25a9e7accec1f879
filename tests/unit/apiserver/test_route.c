#include "../test.h"

#include "apiserver/api_int.h"

typedef struct route_case {
  const char *path;
  api_route route;
  const char *group, *version, *ns, *plural, *name, *sub;
} route_case;

static const route_case cases[] = {
    {"/version", R_VERSION, "", "", "", "", "", ""},
    {"/healthz", R_HEALTH, "", "", "", "", "", ""},
    {"/livez/ping", R_HEALTH, "", "", "", "", "", ""},
    {"/readyz", R_HEALTH, "", "", "", "", "", ""},
    {"/api", R_API, "", "", "", "", "", ""},
    {"/apis", R_APIS, "", "", "", "", "", ""},
    {"/apis/apps", R_GROUP, "apps", "", "", "", "", ""},
    {"/api/v1", R_GV, "", "v1", "", "", "", ""},
    {"/apis/apps/v1/", R_GV, "apps", "v1", "", "", "", ""},
    {"/openapi/v2", R_OPENAPI_V2, "", "", "", "", "", ""},
    {"/openapi/v3", R_OPENAPI_V3, "", "", "", "", "", ""},
    {"/openapi/v3/api/v1", R_OPENAPI_V3_GV, "", "v1", "", "", "", ""},
    {"/openapi/v3/apis/apps/v1", R_OPENAPI_V3_GV, "apps", "v1", "", "", "", ""},
    {"/api/v1/namespaces", R_COLLECTION, "", "v1", "", "namespaces", "", ""},
    {"/api/v1/namespaces/foo", R_ITEM, "", "v1", "", "namespaces", "foo", ""},
    {"/api/v1/namespaces/foo/status", R_ITEM, "", "v1", "", "namespaces", "foo", "status"},
    {"/api/v1/namespaces/foo/finalize", R_ITEM, "", "v1", "", "namespaces", "foo", "finalize"},
    {"/api/v1/namespaces/foo/configmaps", R_COLLECTION, "", "v1", "foo", "configmaps", "", ""},
    {"/api/v1/namespaces/foo/configmaps/x", R_ITEM, "", "v1", "foo", "configmaps", "x", ""},
    {"/api/v1/configmaps", R_COLLECTION, "", "v1", "", "configmaps", "", ""},
    {"/apis/apps/v1/namespaces/d/deployments/web/scale", R_ITEM, "apps", "v1", "d",
     "deployments", "web", "scale"},
    {"/apis/example.com/v1/widgets/w", R_ITEM, "example.com", "v1", "", "widgets", "w", ""},
    {"/apis/rbac.authorization.k8s.io/v1/clusterroles/system:admin", R_ITEM,
     "rbac.authorization.k8s.io", "v1", "", "clusterroles", "system:admin", ""},
};

static void test_routes(void **state) {
  IDP_UNUSED(state);
  for (size_t i = 0; i < IDP_ARRAY_LEN(cases); i++) {
    const route_case *c = &cases[i];
    api_path p;
    idp_err e = IDP_ERR_INIT;
    assert_int_equal(api_route_parse(c->path, &p, &e), IDP_OK);
    if (p.route != c->route) fail_msg("%s: route %d, want %d", c->path, p.route, c->route);
    assert_string_equal(p.group, c->group);
    assert_string_equal(p.version, c->version);
    assert_string_equal(p.ns, c->ns);
    assert_string_equal(p.plural, c->plural);
    assert_string_equal(p.name, c->name);
    assert_string_equal(p.sub, c->sub);
  }
}

static void test_bad_routes(void **state) {
  IDP_UNUSED(state);
  static const char *const bad[] = {"", "relative", "/", "/foo", "/openapi/v4",
                                    "/api/v1/namespaces/a/configmaps/b/c/d",
                                    "/apis/a/b/c/d/e/f/g/h/i/j/k/l/m/n"};
  for (size_t i = 0; i < IDP_ARRAY_LEN(bad); i++) {
    api_path p;
    idp_err e = IDP_ERR_INIT;
    assert_int_not_equal(api_route_parse(bad[i], &p, &e), IDP_OK);
  }
  char longseg[600];
  memset(longseg, 'a', sizeof longseg - 1);
  longseg[0] = '/';
  longseg[sizeof longseg - 1] = '\0';
  api_path p;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(api_route_parse(longseg, &p, &e), IDP_EINVAL);
}

static void test_query(void **state) {
  IDP_UNUSED(state);
  idp_api_query *q = NULL;
  size_t n = 0;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_api_query_parse("watch=1&labelSelector=app%3Dweb%2Ctier+in+(a)&x&&limit=5&limit=7",
                                       &q, &n, &e),
                   IDP_OK);
  assert_int_equal(n, 5);
  idp_api_request rq = {.query = q, .nquery = n};
  assert_string_equal(api_query(&rq, "labelSelector"), "app=web,tier in (a)");
  assert_string_equal(api_query(&rq, "limit"), "7");
  assert_string_equal(api_query(&rq, "x"), "");
  assert_null(api_query(&rq, "missing"));
  assert_true(api_query_bool(&rq, "watch"));
  assert_false(api_query_bool(&rq, "missing"));
  free(q);
  assert_int_equal(idp_api_query_parse("a=%zz%4", &q, &n, &e), IDP_OK);
  assert_int_equal(n, 1);
  assert_string_equal(q[0].value, "%zz%4");
  free(q);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_routes),
      cmocka_unit_test(test_bad_routes),
      cmocka_unit_test(test_query),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
