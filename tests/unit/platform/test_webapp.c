#include "../test.h"

#include "check.h"
#include "core/yaml.h"
#include "platform/platform.h"

static const char app_yaml[] =
    "apiVersion: platform.idp.io/v1alpha1\n"
    "kind: WebApplication\n"
    "metadata: {name: api, namespace: team-backend, uid: u-9, labels: {app.kubernetes.io/part-of: shop}}\n"
    "spec:\n"
    "  image: {repository: ghcr.io/idp-demo/api, tag: '1.4.2'}\n"
    "  replicas: 3\n"
    "  port: 8080\n"
    "  env: [{name: LOG_LEVEL, value: info}]\n"
    "  envFrom: [{configMapRef: cfg}, {secretRef: sec}, {externalSecretRef: creds}, {externalSecretRef: other}]\n"
    "  resources: {requests: {cpu: 100m}}\n"
    "  probes: {liveness: /live}\n"
    "  autoscaling: {enabled: true, minReplicas: 2, maxReplicas: 6, targetCPUUtilization: 60}\n"
    "  route: {host: api.example.io, path: /v1}\n"
    "  monitoring: {enabled: true, port: 9090}\n"
    "  database: {type: postgresql, size: medium}\n";

static json_t *load(const char *y) {
  json_t *doc = NULL;
  idp_err e = IDP_ERR_INIT;
  if (idp_yaml_load_one(y, strlen(y), "t", NULL, &doc, &e)) fail_msg("%s", e.msg);
  return doc;
}

static void test_full(void **st) {
  (void)st;
  json_t *app = load(app_yaml), *objs = NULL;
  json_t *targets = json_pack("{s:s}", "creds", "creds-secret");
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_webapp_objects(app, NULL, targets, &objs, &e), IDP_OK);
  static const check_row rows[] = {
      {"Deployment", "api", "metadata|labels",
       "{\"app.kubernetes.io/part-of\":\"shop\",\"app.kubernetes.io/name\":\"api\",\"app.kubernetes.io/instance\":\"api\",\"app.kubernetes.io/managed-by\":\"idp-platform\"}"},
      {"Deployment", "api", "metadata|ownerReferences|0|kind", "\"WebApplication\""},
      {"Deployment", "api", "spec|replicas", NULL}, /* the HPA owns the count */
      {"Deployment", "api", "spec|selector|matchLabels", "{\"app.kubernetes.io/name\":\"api\",\"app.kubernetes.io/instance\":\"api\"}"},
      {"Deployment", "api", "spec|template|spec|securityContext|runAsNonRoot", "true"},
      {"Deployment", "api", "spec|template|spec|securityContext|seccompProfile|type", "\"RuntimeDefault\""},
      {"Deployment", "api", "spec|template|spec|containers|0|image", "\"ghcr.io/idp-demo/api:1.4.2\""},
      {"Deployment", "api", "spec|template|spec|containers|0|securityContext",
       "{\"allowPrivilegeEscalation\":false,\"readOnlyRootFilesystem\":true,\"runAsNonRoot\":true,\"capabilities\":{\"drop\":[\"ALL\"]},\"seccompProfile\":{\"type\":\"RuntimeDefault\"}}"},
      {"Deployment", "api", "spec|template|spec|containers|0|livenessProbe|httpGet|path", "\"/live\""},
      {"Deployment", "api", "spec|template|spec|containers|0|readinessProbe|httpGet|path", "\"/readyz\""},
      {"Deployment", "api", "spec|template|spec|containers|0|env", "[{\"name\":\"LOG_LEVEL\",\"value\":\"info\"}]"},
      {"Deployment", "api", "spec|template|spec|containers|0|envFrom",
       "[{\"configMapRef\":{\"name\":\"cfg\"}},{\"secretRef\":{\"name\":\"sec\"}},{\"secretRef\":{\"name\":\"creds-secret\"}},"
       "{\"secretRef\":{\"name\":\"other\"}},{\"secretRef\":{\"name\":\"api-db\"}}]"},
      {"Deployment", "api", "spec|template|spec|containers|0|resources", "{\"requests\":{\"cpu\":\"100m\"}}"},
      {"Deployment", "api", "spec|template|spec|containers|0|ports|1", "{\"name\":\"metrics\",\"containerPort\":9090,\"protocol\":\"TCP\"}"},
      {"Service", "api", "spec|ports|0", "{\"name\":\"http\",\"port\":80,\"targetPort\":\"http\",\"protocol\":\"TCP\"}"},
      {"HorizontalPodAutoscaler", "api", "spec|minReplicas", "2"},
      {"HorizontalPodAutoscaler", "api", "spec|maxReplicas", "6"},
      {"HorizontalPodAutoscaler", "api", "spec|metrics|0|resource|target|averageUtilization", "60"},
      {"HorizontalPodAutoscaler", "api", "apiVersion", "\"autoscaling/v2\""},
      {"PodDisruptionBudget", "api", "spec|maxUnavailable", "1"},
      {"HTTPRoute", "api", "spec|parentRefs", "[{\"name\":\"idp-gateway\",\"namespace\":\"kube-system\"}]"},
      {"HTTPRoute", "api", "spec|hostnames", "[\"api.example.io\"]"},
      {"HTTPRoute", "api", "spec|rules|0|matches|0|path|value", "\"/v1\""},
      {"ServiceMonitor", "api", "spec|endpoints|0|port", "\"metrics\""},
      {"ServiceMonitor", "api", "spec|endpoints|0|path", "\"/metrics\""},
      {"PostgreSQLInstance", "api-db", "apiVersion", "\"platform.idp.io/v1alpha1\""},
      {"PostgreSQLInstance", "api-db", "spec|writeConnectionSecretToRef|name", "\"api-db\""},
      {"PostgreSQLInstance", "api-db", "spec|parameters|size", "\"medium\""},
  };
  run_checks(objs, rows, sizeof rows / sizeof rows[0]);
  char url[256];
  idp_webapp_url(app, url, sizeof url);
  assert_string_equal(url, "https://api.example.io/v1");
  json_decref(objs);
  /* Istio and a configured claim kind */
  idp_platform_opts o = {.istio = true, .claim_api_version = "db.example.org/v1", .claim_kind = "Database"};
  assert_int_equal(idp_webapp_objects(app, &o, NULL, &objs, &e), IDP_OK);
  static const check_row rows2[] = {
      {"VirtualService", "api", "spec|gateways", "[\"kube-system/idp-gateway\"]"},
      {"VirtualService", "api", "spec|http|0|route|0|destination|host", "\"api.team-backend.svc.cluster.local\""},
      {"Database", "api-db", "apiVersion", "\"db.example.org/v1\""},
      {"Deployment", "api", "spec|template|spec|containers|0|envFrom|2", "{\"secretRef\":{\"name\":\"creds\"}}"},
  };
  run_checks(objs, rows2, sizeof rows2 / sizeof rows2[0]);
  assert_null(find_obj(objs, "HTTPRoute", "api"));
  json_decref(objs);
  json_decref(targets);
  json_decref(app);
}

/* defaults: 2 replicas -> PDB, no HPA, no route, monitoring on /metrics on port 9090 */
static void test_defaults(void **st) {
  (void)st;
  static const struct {
    const char *yaml;
    size_t count;
    check_row row;
  } rows[] = {
      {"metadata: {name: w, namespace: ns1}\nspec: {image: {repository: r, tag: t}}\n", 4,
       {"Deployment", "w", "spec|replicas", "2"}},
      {"metadata: {name: w, namespace: ns1}\nspec: {image: {repository: r, tag: t}}\n", 4,
       {"Deployment", "w", "spec|template|spec|containers|0|readinessProbe|httpGet|path", "\"/readyz\""}},
      {"metadata: {name: w, namespace: ns1}\nspec: {image: {repository: r, tag: t}}\n", 4,
       {"PodDisruptionBudget", "w", "spec|selector|matchLabels|app.kubernetes.io/instance", "\"w\""}},
      {"metadata: {name: w, namespace: ns1}\nspec: {image: {repository: r, tag: t}, replicas: 1, monitoring: {enabled: false}}\n", 2,
       {"Deployment", "w", "spec|replicas", "1"}},
      {"metadata: {name: w, namespace: ns1}\nspec: {image: {repository: r, tag: t}, port: 9090}\n", 4,
       {"ServiceMonitor", "w", "spec|endpoints|0|port", "\"http\""}},
      {"metadata: {name: w, namespace: ns1}\nspec: {image: {repository: r, tag: t}, route: {host: h, tls: false}}\n", 5,
       {"HTTPRoute", "w", "spec|rules|0|matches|0|path", "{\"type\":\"PathPrefix\",\"value\":\"/\"}"}},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    json_t *app = load(rows[i].yaml), *objs = NULL;
    idp_err e = IDP_ERR_INIT;
    assert_int_equal(idp_webapp_objects(app, NULL, NULL, &objs, &e), IDP_OK);
    if (json_array_size(objs) != rows[i].count) fail_msg("row %zu: %zu objects", i, json_array_size(objs));
    run_checks(objs, &rows[i].row, 1);
    json_decref(objs);
    json_decref(app);
  }
  json_t *app = load("metadata: {name: w, namespace: ns1}\nspec: {image: {repository: r, tag: t}, route: {host: h, tls: false}}\n");
  char url[64];
  idp_webapp_url(app, url, sizeof url);
  assert_string_equal(url, "http://h/");
  json_decref(app);
}

static void test_invalid(void **st) {
  (void)st;
  static const struct {
    const char *yaml, *msg;
  } rows[] = {
      {"metadata: {namespace: ns1}\nspec: {}\n", "metadata.name is required"},
      {"metadata: {name: w, namespace: ns1}\nspec: {}\n", "WebApplication ns1/w: spec.image.repository: Required value"},
      {"metadata: {name: w, namespace: ns1}\nspec: {image: {repository: r}}\n", "spec.image.tag: Required value"},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    json_t *app = load(rows[i].yaml), *objs = NULL;
    idp_err e = IDP_ERR_INIT;
    assert_int_equal(idp_webapp_objects(app, NULL, NULL, &objs, &e), IDP_EINVALID);
    if (!strstr(e.msg, rows[i].msg)) fail_msg("row %zu: %s", i, e.msg);
    json_decref(app);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_full),
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_invalid),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
