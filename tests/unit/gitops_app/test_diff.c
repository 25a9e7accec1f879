#include "../test.h"

#include "gitops/app/diff.h"

static json_t *J(const char *s) {
  json_error_t err;
  json_t *v = json_loads(s, 0, &err);
  if (!v) fail_msg("bad JSON in test: %s: %s", s, err.text);
  return v;
}

static void test_tracking(void **state) {
  (void)state;
  static const struct {
    const char *obj, *inst, *want;
  } cases[] = {
      {"{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\","
       "\"namespace\":\"default\"}}",
       "guestbook", "guestbook:apps/Deployment:default/web"},
      {"{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"my-ns\"}}", "my-app",
       "my-app:/Namespace:/my-ns"},
      {"{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\","
       "\"namespace\":\"n\"}}",
       "team_app", "team_app:/ConfigMap:n/c"},
  };
  for (size_t i = 0; i < IDP_ARRAY_LEN(cases); i++) {
    json_t *o = J(cases[i].obj);
    char id[256];
    idp_app_tracking_id(cases[i].inst, o, id, sizeof id);
    assert_string_equal(id, cases[i].want);
    char app[64], g[64], k[64], ns[64], n[64];
    assert_true(idp_app_tracking_parse(id, app, sizeof app, g, sizeof g, k, sizeof k, ns, sizeof ns,
                                       n, sizeof n));
    assert_string_equal(app, cases[i].inst);
    json_decref(o);
  }
  assert_false(idp_app_tracking_parse("garbage", NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0));
  assert_false(idp_app_tracking_parse(NULL, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0));
}

/* desired, live, ignores (or NULL), expected in-sync, expected field */
static const struct {
  const char *desired, *live, *ignores;
  bool eq;
  const char *why;
} cmp[] = {
    /* server fields and status are ignored */
    {"{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\"},\"data\":{\"k\":\"v\"}}",
     "{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\",\"uid\":\"u\",\"resourceVersion\":\"5\","
     "\"creationTimestamp\":\"t\",\"managedFields\":[]},\"data\":{\"k\":\"v\"},\"status\":{}}",
     NULL, true, ""},
    {"{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\"},\"data\":{\"k\":\"v\"}}",
     "{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\"},\"data\":{\"k\":\"x\"}}", NULL, false,
     ".data.k"},
    /* server defaults (fields only live has) are not drift */
    {"{\"kind\":\"Service\",\"spec\":{\"ports\":[{\"port\":80}]}}",
     "{\"kind\":\"Service\",\"spec\":{\"clusterIP\":\"10.0.0.1\",\"ports\":[{\"port\":80,"
     "\"protocol\":\"TCP\"}]}}",
     NULL, true, ""},
    /* but a field removed from Git that the last apply set is drift */
    {"{\"kind\":\"ConfigMap\",\"data\":{\"a\":\"1\"}}",
     "{\"kind\":\"ConfigMap\",\"metadata\":{\"annotations\":{\"kubectl.kubernetes.io/"
     "last-applied-configuration\":\"{\\\"kind\\\":\\\"ConfigMap\\\",\\\"data\\\":{\\\"a\\\":"
     "\\\"1\\\",\\\"b\\\":\\\"2\\\"}}\"}},\"data\":{\"a\":\"1\",\"b\":\"2\"}}",
     NULL, false, ".data.b"},
    /* list length differs */
    {"{\"spec\":{\"l\":[1,2]}}", "{\"spec\":{\"l\":[1]}}", NULL, false, ".spec.l"},
    /* ignoreDifferences by JSON pointer */
    {"{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\"},"
     "\"spec\":{\"replicas\":1}}",
     "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\"},"
     "\"spec\":{\"replicas\":5}}",
     "[{\"group\":\"apps\",\"kind\":\"Deployment\",\"jsonPointers\":[\"/spec/replicas\"]}]", true,
     ""},
    /* ... not for another kind */
    {"{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\",\"spec\":{\"replicas\":1}}",
     "{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\",\"spec\":{\"replicas\":5}}",
     "[{\"group\":\"apps\",\"kind\":\"Deployment\",\"jsonPointers\":[\"/spec/replicas\"]}]", false,
     ".spec.replicas"},
    /* jq path expression */
    {"{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"annotations\":{\"a/"
     "b\":\"1\"}}}",
     "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"annotations\":{\"a/"
     "b\":\"2\"}}}",
     "[{\"kind\":\"ConfigMap\",\"jqPathExpressions\":[\".metadata.annotations[\\\"a/b\\\"]\"]}]",
     true, ""},
    /* managedFieldsManagers: fields owned by the HPA controller */
    {"{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"spec\":{\"replicas\":1}}",
     "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"managedFields\":[{"
     "\"manager\":\"hpa\",\"fieldsV1\":{\"f:spec\":{\"f:replicas\":{}}}}]},\"spec\":{\"replicas\":"
     "4}}",
     "[{\"group\":\"apps\",\"kind\":\"Deployment\",\"managedFieldsManagers\":[\"hpa\"]}]", true,
     ""},
    /* Secret stringData equals base64 data */
    {"{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"stringData\":{\"p\":\"hello\"}}",
     "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"data\":{\"p\":\"aGVsbG8=\"}}", NULL, true, ""},
    /* empty map in Git vs field dropped by the server */
    {"{\"kind\":\"X\",\"spec\":{\"m\":{}}}", "{\"kind\":\"X\",\"spec\":{}}", NULL, true, ""},
};

static void test_compare(void **state) {
  (void)state;
  for (size_t i = 0; i < IDP_ARRAY_LEN(cmp); i++) {
    json_t *d = J(cmp[i].desired), *l = J(cmp[i].live);
    json_t *ig = cmp[i].ignores ? J(cmp[i].ignores) : NULL;
    char why[128];
    bool eq = idp_app_compare(d, l, ig, why, sizeof why);
    if (eq != cmp[i].eq) fail_msg("case %zu: got %d want %d (%s)", i, eq, cmp[i].eq, why);
    if (!eq) assert_string_equal(why, cmp[i].why);
    json_decref(d);
    json_decref(l);
    json_decref(ig);
  }
  json_t *d = J("{\"kind\":\"X\"}");
  char why[32];
  assert_false(idp_app_compare(d, NULL, NULL, why, sizeof why));
  assert_string_equal(why, "missing");
  json_decref(d);
}

static void test_pointer_remove(void **state) {
  (void)state;
  json_t *d = J("{\"a\":{\"b/c\":1,\"l\":[1,2,3]},\"x~y\":2}");
  assert_true(idp_json_pointer_remove(d, "/a/b~1c"));
  assert_true(idp_json_pointer_remove(d, "/a/l/1"));
  assert_true(idp_json_pointer_remove(d, "/x~0y"));
  assert_false(idp_json_pointer_remove(d, "/nope/x"));
  assert_false(idp_json_pointer_remove(d, "no-slash"));
  json_t *want = J("{\"a\":{\"l\":[1,3]}}");
  assert_true(json_equal(d, want));
  json_decref(d);
  json_decref(want);
}

static void test_normalize(void **state) {
  (void)state;
  json_t *o =
      J("{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\",\"generation\":3,"
        "\"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":\"{}\"},"
        "\"labels\":{}},\"status\":{\"x\":1}}");
  json_t *n = idp_app_normalize(o);
  json_t *want = J("{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\"}}");
  assert_true(json_equal(n, want));
  json_decref(o);
  json_decref(n);
  json_decref(want);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tracking), cmocka_unit_test(test_compare),
      cmocka_unit_test(test_pointer_remove), cmocka_unit_test(test_normalize)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
