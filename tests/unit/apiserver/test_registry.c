#include "../test.h"

#include "apiserver/api_int.h"
#include "core/json.h"

static void test_builtins(void **state) {
  IDP_UNUSED(state);
  api_registry *g = api_registry_new();
  assert_non_null(g);
  api_resource *r = api_registry_find(g, "apps", "v1", "deployments");
  assert_non_null(r);
  assert_string_equal(r->kind, "Deployment");
  assert_string_equal(r->list_kind, "DeploymentList");
  assert_string_equal(r->store_key, "apps/deployments");
  assert_true(r->namespaced && r->has_status && r->has_scale);
  assert_string_equal(json_string_value(json_array_get(r->short_names, 0)), "deploy");
  assert_string_equal(json_string_value(json_array_get(r->categories, 0)), "all");
  api_resource_unref(r);
  r = api_registry_find(g, "", "v1", "namespaces");
  assert_non_null(r);
  assert_false(r->namespaced);
  assert_string_equal(r->store_key, "core/namespaces");
  api_resource_unref(r);
  assert_null(api_registry_find(g, "apps", "v2", "deployments"));
  assert_null(api_registry_find(g, "", "v1", "widgets"));
  r = api_registry_find_kind(g, "autoscaling", "HorizontalPodAutoscaler");
  assert_non_null(r);
  assert_string_equal(r->version, "v2");
  api_resource_unref(r);
  static const char *const expected[] = {
      "namespaces", "configmaps", "secrets", "serviceaccounts", "services", "endpoints", "events",
      "pods", "persistentvolumeclaims", "resourcequotas", "limitranges", "deployments",
      "statefulsets", "daemonsets", "replicasets", "jobs", "cronjobs", "ingresses",
      "networkpolicies", "roles", "rolebindings", "clusterroles", "clusterrolebindings",
      "horizontalpodautoscalers", "poddisruptionbudgets", "leases", "customresourcedefinitions"};
  size_t n = 0;
  api_resource **rows = api_registry_snapshot(g, &n);
  assert_int_equal(n, IDP_ARRAY_LEN(expected));
  for (size_t i = 0; i < IDP_ARRAY_LEN(expected); i++) {
    bool found = false;
    for (size_t k = 0; k < n; k++) found |= !strcmp(rows[k]->plural, expected[i]);
    if (!found) fail_msg("missing built-in %s", expected[i]);
  }
  api_registry_snapshot_free(rows, n);
  api_registry_free(g);
}

static void test_crd_rows(void **state) {
  IDP_UNUSED(state);
  api_registry *g = api_registry_new();
  json_t *crd = json_pack(
      "{s:{s:s}, s:{s:s, s:s, s:{s:s, s:s, s:[s], s:[s]}, s:[{s:s, s:b, s:b, s:{s:{}}}, {s:s, s:b, s:b}, "
      "{s:s, s:b, s:b}]}}",
      "metadata", "name", "widgets.example.com", "spec", "group", "example.com", "scope",
      "Cluster", "names", "plural", "widgets", "kind", "Widget", "shortNames", "wd", "categories",
      "all", "versions", "name", "v1", "served", 1, "storage", 1, "subresources", "status", "name",
      "v1beta1", "served", 1, "storage", 0, "name", "v0", "served", 0, "storage", 0);
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(api_registry_put_crd(g, crd, &e), IDP_OK);
  api_resource *r = api_registry_find(g, "example.com", "v1", "widgets");
  assert_non_null(r);
  assert_true(r->crd && r->has_status && !r->namespaced && r->storage_version);
  assert_string_equal(r->singular, "widget");
  assert_string_equal(r->store_key, "example.com/widgets");
  api_resource *r2 = api_registry_find(g, "example.com", "v1beta1", "widgets");
  assert_non_null(r2);
  assert_false(r2->storage_version);
  assert_null(api_registry_find(g, "example.com", "v0", "widgets")); /* not served */
  api_resource *k = api_registry_find_kind(g, "example.com", "Widget");
  assert_ptr_equal(k, r); /* storage version preferred */
  api_resource_unref(k);
  assert_true(api_registry_has(g, "example.com", "widgets"));
  api_registry_remove_crd(g, "example.com", "widgets");
  assert_false(api_registry_has(g, "example.com", "widgets"));
  /* rows handed out before the removal stay valid */
  assert_string_equal(r->kind, "Widget");
  api_resource_unref(r);
  api_resource_unref(r2);
  json_decref(crd);
  api_registry_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_builtins),
      cmocka_unit_test(test_crd_rows),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
