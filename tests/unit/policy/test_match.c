/* match / exclude. */
#include "../test.h"
#include "helpers.h"
#include "policy/internal.h"

static const char *pod = "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-1\","
                         "\"namespace\":\"prod\",\"labels\":{\"app\":\"web\"},"
                         "\"annotations\":{\"team\":\"a\"}}}";

static bool matches(const char *rule, const char *res, const pol_admission *adm) {
  json_t *r = J(rule), *o = J(res);
  pol_admission def = {0};
  bool m = pol_rule_matches(NULL, r, o, adm ? adm : &def, NULL);
  json_decref(r);
  json_decref(o);
  return m;
}

static void test_kinds(void **state) {
  (void)state;
  assert_true(pol_kind_matches("Pod", "v1", "Pod", NULL));
  assert_true(pol_kind_matches("v1/Pod", "v1", "Pod", NULL));
  assert_true(pol_kind_matches("*/Pod", "v1", "Pod", NULL));
  assert_true(pol_kind_matches("apps/v1/Deployment", "apps/v1", "Deployment", NULL));
  assert_false(pol_kind_matches("apps/v1/Deployment", "v1", "Deployment", NULL));
  assert_true(pol_kind_matches("networking.k8s.io/v1/Ingress", "networking.k8s.io/v1", "Ingress", NULL));
  assert_true(pol_kind_matches("apps/*/Deployment", "apps/v1", "Deployment", NULL));
  assert_true(pol_kind_matches("*", "x/v1", "Anything", NULL));
  assert_false(pol_kind_matches("Pod/status", "v1", "Pod", NULL));
  assert_true(pol_kind_matches("Pod/status", "v1", "Pod", "status"));
  assert_true(pol_kind_matches("Pod.status", "v1", "Pod", "status"));
  assert_false(pol_kind_matches("Pod", "v1", "Pod", "status"));
  assert_false(pol_kind_matches("Deployment", "v1", "Pod", NULL));
}

static void test_filters(void **state) {
  (void)state;
  assert_true(matches("{\"match\":{\"any\":[{\"resources\":{\"kinds\":[\"Pod\"]}}]}}", pod, NULL));
  assert_true(matches("{\"match\":{\"resources\":{\"kinds\":[\"Pod\"],\"names\":[\"web-*\"]}}}", pod, NULL));
  assert_false(matches("{\"match\":{\"resources\":{\"kinds\":[\"Pod\"],\"names\":[\"db-*\"]}}}", pod, NULL));
  assert_true(matches("{\"match\":{\"resources\":{\"kinds\":[\"Pod\"],\"namespaces\":[\"pr?d\"]}}}", pod, NULL));
  assert_true(matches("{\"match\":{\"resources\":{\"kinds\":[\"Pod\"],\"selector\":{\"matchLabels\":{\"app\":\"w*\"}}}}}", pod, NULL));
  assert_false(matches("{\"match\":{\"resources\":{\"kinds\":[\"Pod\"],\"selector\":{\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"NotIn\",\"values\":[\"web\"]}]}}}}", pod, NULL));
  assert_true(matches("{\"match\":{\"resources\":{\"kinds\":[\"Pod\"],\"annotations\":{\"team\":\"*\"}}}}", pod, NULL));
  /* all: every filter; any: one */
  assert_false(matches("{\"match\":{\"all\":[{\"resources\":{\"kinds\":[\"Pod\"]}},{\"resources\":{\"namespaces\":[\"dev\"]}}]}}", pod, NULL));
  assert_true(matches("{\"match\":{\"any\":[{\"resources\":{\"kinds\":[\"Service\"]}},{\"resources\":{\"namespaces\":[\"prod\"]}}]}}", pod, NULL));
  /* an empty match matches nothing */
  assert_false(matches("{\"match\":{}}", pod, NULL));
}

static void test_exclude(void **state) {
  (void)state;
  assert_false(matches("{\"match\":{\"any\":[{\"resources\":{\"kinds\":[\"Pod\"]}}]},"
                       "\"exclude\":{\"any\":[{\"resources\":{\"namespaces\":[\"prod\"]}}]}}", pod, NULL));
  assert_true(matches("{\"match\":{\"any\":[{\"resources\":{\"kinds\":[\"Pod\"]}}]},"
                      "\"exclude\":{\"all\":[{\"resources\":{\"namespaces\":[\"prod\"]}},{\"resources\":{\"names\":[\"db\"]}}]}}", pod, NULL));
  assert_false(matches("{\"match\":{\"any\":[{\"resources\":{\"kinds\":[\"Pod\"]}}]},"
                       "\"exclude\":{\"resources\":{\"kinds\":[\"Pod\"]}}}", pod, NULL));
}

static void test_admission(void **state) {
  (void)state;
  json_t *ui = J("{\"username\":\"system:serviceaccount:ns:sa\",\"groups\":[\"devs\"]}");
  json_t *roles = J("[\"ns:editor\"]"), *croles = J("[\"admin\"]");
  json_t *nsl = J("{\"prod\":{\"env\":\"production\"}}");
  pol_admission adm = {ui, roles, croles, nsl, "UPDATE"};
  assert_true(matches("{\"match\":{\"any\":[{\"resources\":{\"kinds\":[\"Pod\"],\"operations\":[\"UPDATE\"]}}]}}", pod, &adm));
  assert_false(matches("{\"match\":{\"any\":[{\"resources\":{\"kinds\":[\"Pod\"],\"operations\":[\"CREATE\"]}}]}}", pod, &adm));
  assert_true(matches("{\"match\":{\"any\":[{\"resources\":{\"kinds\":[\"Pod\"],\"namespaceSelector\":{\"matchLabels\":{\"env\":\"production\"}}}}]}}", pod, &adm));
  assert_false(matches("{\"match\":{\"any\":[{\"resources\":{\"kinds\":[\"Pod\"],\"namespaceSelector\":{\"matchLabels\":{\"env\":\"dev\"}}}}]}}", pod, &adm));
  assert_true(matches("{\"match\":{\"any\":[{\"resources\":{\"kinds\":[\"Pod\"]},\"subjects\":[{\"kind\":\"ServiceAccount\",\"name\":\"sa\",\"namespace\":\"ns\"}]}]}}", pod, &adm));
  assert_true(matches("{\"match\":{\"any\":[{\"resources\":{\"kinds\":[\"Pod\"]},\"subjects\":[{\"kind\":\"Group\",\"name\":\"devs\"}]}]}}", pod, &adm));
  assert_true(matches("{\"match\":{\"any\":[{\"resources\":{\"kinds\":[\"Pod\"]},\"clusterRoles\":[\"admin\"]}]}}", pod, &adm));
  assert_false(matches("{\"match\":{\"any\":[{\"resources\":{\"kinds\":[\"Pod\"]},\"roles\":[\"ns:viewer\"]}]}}", pod, &adm));
  /* a subresource request matches through its parent kind */
  pol_admission sub = {0};
  sub.kind = "Deployment";
  sub.api_version = "apps/v1";
  json_t *rule = J("{\"match\":{\"any\":[{\"resources\":{\"kinds\":[\"Deployment/scale\"]}}]}}");
  json_t *scale = J("{\"apiVersion\":\"autoscaling/v1\",\"kind\":\"Scale\",\"metadata\":{\"name\":\"d\"}}");
  assert_true(pol_rule_matches(NULL, rule, scale, &sub, "scale"));
  assert_false(pol_rule_matches(NULL, rule, scale, &sub, NULL));
  json_decref(rule);
  json_decref(scale);
  json_decref(ui);
  json_decref(roles);
  json_decref(croles);
  json_decref(nsl);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kinds),
      cmocka_unit_test(test_filters),
      cmocka_unit_test(test_exclude),
      cmocka_unit_test(test_admission),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
