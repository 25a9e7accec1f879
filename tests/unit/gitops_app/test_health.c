#include "../test.h"

#include "gitops/app/health.h"

/* Table: object (JSON) -> expected health ("-" = no health). */
static const struct {
  const char *obj;
  const char *want;
} cases[] = {
    /* Deployment */
    {"{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"generation\":2},"
     "\"spec\":{\"replicas\":2},\"status\":{\"observedGeneration\":2,\"replicas\":2,"
     "\"updatedReplicas\":2,\"availableReplicas\":2}}",
     "Healthy"},
    {"{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"generation\":3},"
     "\"spec\":{\"replicas\":2},\"status\":{\"observedGeneration\":2}}",
     "Progressing"},
    {"{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"generation\":1},"
     "\"spec\":{\"replicas\":2},\"status\":{\"observedGeneration\":1,\"updatedReplicas\":1}}",
     "Progressing"},
    {"{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"generation\":1},"
     "\"spec\":{\"replicas\":1},\"status\":{\"observedGeneration\":1,\"conditions\":[{\"type\":"
     "\"Progressing\",\"status\":\"False\",\"reason\":\"ProgressDeadlineExceeded\"}]}}",
     "Degraded"},
    {"{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"spec\":{\"paused\":true}}",
     "Suspended"},
    {"{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"generation\":1,"
     "\"deletionTimestamp\":\"2024-01-01T00:00:00Z\"},\"spec\":{\"replicas\":1}}",
     "Progressing"},
    /* StatefulSet */
    {"{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\",\"metadata\":{\"generation\":1},"
     "\"spec\":{\"replicas\":1},\"status\":{\"observedGeneration\":1,\"readyReplicas\":1,"
     "\"currentRevision\":\"a\",\"updateRevision\":\"a\"}}",
     "Healthy"},
    {"{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\",\"metadata\":{\"generation\":1},"
     "\"spec\":{\"replicas\":1},\"status\":{\"observedGeneration\":1,\"readyReplicas\":1,"
     "\"currentRevision\":\"a\",\"updateRevision\":\"b\"}}",
     "Progressing"},
    {"{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\",\"metadata\":{\"generation\":1},"
     "\"spec\":{\"replicas\":3,\"updateStrategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":"
     "{\"partition\":2}}},\"status\":{\"observedGeneration\":1,\"readyReplicas\":3,"
     "\"updatedReplicas\":1}}",
     "Healthy"},
    /* DaemonSet */
    {"{\"apiVersion\":\"apps/v1\",\"kind\":\"DaemonSet\",\"metadata\":{\"generation\":1},"
     "\"status\":{\"observedGeneration\":1,\"desiredNumberScheduled\":2,"
     "\"updatedNumberScheduled\":2,\"numberAvailable\":1}}",
     "Progressing"},
    {"{\"apiVersion\":\"apps/v1\",\"kind\":\"DaemonSet\",\"metadata\":{\"generation\":1},"
     "\"status\":{\"observedGeneration\":1,\"desiredNumberScheduled\":2,"
     "\"updatedNumberScheduled\":2,\"numberAvailable\":2}}",
     "Healthy"},
    /* ReplicaSet */
    {"{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"metadata\":{\"generation\":1},"
     "\"spec\":{\"replicas\":1},\"status\":{\"observedGeneration\":1,\"conditions\":[{\"type\":"
     "\"ReplicaFailure\",\"status\":\"True\",\"message\":\"quota\"}]}}",
     "Degraded"},
    /* Service */
    {"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"spec\":{\"type\":\"ClusterIP\"}}", "Healthy"},
    {"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"spec\":{\"type\":\"LoadBalancer\"}}",
     "Progressing"},
    {"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"spec\":{\"type\":\"LoadBalancer\"},"
     "\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"1.2.3.4\"}]}}}",
     "Healthy"},
    /* Ingress */
    {"{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"Ingress\"}", "Progressing"},
    /* PVC */
    {"{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\",\"status\":{\"phase\":\"Bound\"}}",
     "Healthy"},
    {"{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\",\"status\":{\"phase\":\"Lost\"}}",
     "Degraded"},
    {"{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\",\"status\":{\"phase\":\"Pending\"}"
     "}",
     "Progressing"},
    /* Job */
    {"{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\"}", "Progressing"},
    {"{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"status\":{\"conditions\":[{\"type\":"
     "\"Complete\",\"status\":\"True\"}]}}",
     "Healthy"},
    {"{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"status\":{\"conditions\":[{\"type\":"
     "\"Failed\",\"status\":\"True\",\"message\":\"BackoffLimitExceeded\"}]}}",
     "Degraded"},
    {"{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"status\":{\"conditions\":[{\"type\":"
     "\"Suspended\",\"status\":\"True\"}]}}",
     "Suspended"},
    /* Pod */
    {"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"status\":{\"phase\":\"Running\",\"conditions\":"
     "[{\"type\":\"Ready\",\"status\":\"True\"}]}}",
     "Healthy"},
    {"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"status\":{\"phase\":\"Pending\","
     "\"containerStatuses\":"
     "[{\"state\":{\"waiting\":{\"reason\":\"ImagePullBackOff\"}}}]}}",
     "Degraded"},
    {"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"spec\":{\"restartPolicy\":\"Never\"},"
     "\"status\":{\"phase\":\"Running\"}}",
     "Progressing"},
    {"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"spec\":{\"restartPolicy\":\"Never\"},"
     "\"status\":{\"phase\":\"Succeeded\"}}",
     "Healthy"},
    /* HPA */
    {"{\"apiVersion\":\"autoscaling/v2\",\"kind\":\"HorizontalPodAutoscaler\",\"status\":{"
     "\"conditions\":[{\"type\":\"AbleToScale\",\"status\":\"True\"},{\"type\":\"ScalingActive\","
     "\"status\":\"False\",\"reason\":\"FailedGetResourceMetric\"}]}}",
     "Degraded"},
    {"{\"apiVersion\":\"autoscaling/v2\",\"kind\":\"HorizontalPodAutoscaler\",\"status\":{"
     "\"conditions\":[{\"type\":\"AbleToScale\",\"status\":\"True\"}]}}",
     "Healthy"},
    /* Application (App-of-Apps) */
    {"{\"apiVersion\":\"argoproj.io/v1alpha1\",\"kind\":\"Application\",\"status\":{\"health\":"
     "{\"status\":\"Degraded\"}}}",
     "Degraded"},
    {"{\"apiVersion\":\"argoproj.io/v1alpha1\",\"kind\":\"Application\"}", "Progressing"},
    /* CRs with Ready conditions; kinds without health */
    {"{\"apiVersion\":\"cert-manager.io/v1\",\"kind\":\"Certificate\",\"status\":{\"conditions\":"
     "[{\"type\":\"Ready\",\"status\":\"True\"}]}}",
     "Healthy"},
    {"{\"apiVersion\":\"cert-manager.io/v1\",\"kind\":\"Certificate\",\"status\":{\"conditions\":"
     "[{\"type\":\"Ready\",\"status\":\"False\"}]}}",
     "Degraded"},
    {"{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\"}", "-"},
    {"{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\"}", "-"},
    {"{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"annotations\":{"
     "\"argocd.argoproj.io/ignore-healthcheck\":\"true\"}}}",
     "-"},
};

static void test_table(void **state) {
  (void)state;
  for (size_t i = 0; i < IDP_ARRAY_LEN(cases); i++) {
    json_t *o = json_loads(cases[i].obj, 0, NULL);
    assert_non_null(o);
    idp_health h;
    bool has = idp_health_assess(o, &h);
    const char *got = has ? idp_health_name(h.status) : "-";
    if (strcmp(got, cases[i].want) != 0)
      fail_msg("case %zu: %s: got %s want %s", i, cases[i].obj, got, cases[i].want);
    json_decref(o);
  }
}

static void test_names(void **state) {
  (void)state;
  for (int s = IDP_HEALTH_HEALTHY; s <= IDP_HEALTH_UNKNOWN; s++)
    assert_int_equal(idp_health_parse(idp_health_name((idp_health_status)s)), s);
  assert_int_equal(idp_health_parse("bogus"), IDP_HEALTH_UNKNOWN);
  /* order best -> worst, as Argo CD aggregates */
  assert_true(IDP_HEALTH_DEGRADED > IDP_HEALTH_PROGRESSING);
  assert_true(IDP_HEALTH_MISSING > IDP_HEALTH_SUSPENDED);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_table), cmocka_unit_test(test_names)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
