/* Unit tests of simulate/status.h: the statuses the simulator writes,
 * table-driven over workload specs. */
#include "../test.h"

#include "core/json.h"
#include "simulate/status.h"

static json_t *J(const char *text) {
  json_error_t err;
  json_t *v = json_loads(text, 0, &err);
  if (!v) fail_msg("bad JSON in test: %s: %s", err.text, text);
  return v;
}

/* Status field (integer) or -1 when absent. */
static long long I(const json_t *st, const char *k) {
  json_t *v = json_object_get(st, k);
  return v ? json_integer_value(v) : -1;
}

static const char *cond(const json_t *st, const char *type, const char *field) {
  json_t *c;
  size_t i;
  json_array_foreach(json_object_get(st, "conditions"), i, c) {
    if (!strcmp(json_string_value(json_object_get(c, "type")), type))
      return json_string_value(json_object_get(c, field));
  }
  return NULL;
}

#define NOW "2026-01-02T03:04:05Z"
#define LATER "2026-01-02T03:09:00Z"

typedef struct deploy_case {
  const char *name, *obj;
  bool done;
  long long replicas, updated, ready, available, unavailable, observed; /* -1 = absent */
  const char *avail_status, *avail_reason, *prog_status, *prog_reason;
} deploy_case;

static const deploy_case deploy_cases[] = {
    {"new, done", "{\"metadata\":{\"name\":\"web\",\"generation\":1},\"spec\":{\"replicas\":3}}",
     true, 3, 3, 3, 3, -1, 1, "True", "MinimumReplicasAvailable", "True", "NewReplicaSetAvailable"},
    {"replicas default to 1", "{\"metadata\":{\"name\":\"web\",\"generation\":2},\"spec\":{}}",
     true, 1, 1, 1, 1, -1, 2, "True", "MinimumReplicasAvailable", "True", "NewReplicaSetAvailable"},
    {"new, progressing", "{\"metadata\":{\"name\":\"web\",\"generation\":1},\"spec\":{\"replicas\":4}}",
     false, 4, 4, -1, -1, 4, 1, "False", "MinimumReplicasUnavailable", "True", "ReplicaSetUpdated"},
    {"update, progressing keeps availability",
     "{\"metadata\":{\"name\":\"web\",\"generation\":3},\"spec\":{\"replicas\":4},"
     "\"status\":{\"availableReplicas\":4,\"readyReplicas\":4}}",
     false, 4, 4, 4, 4, -1, 3, "True", "MinimumReplicasAvailable", "True", "ReplicaSetUpdated"},
    {"scale up, 25% maxUnavailable rounds down",
     "{\"metadata\":{\"name\":\"web\",\"generation\":3},\"spec\":{\"replicas\":8},"
     "\"status\":{\"availableReplicas\":5,\"readyReplicas\":5}}",
     false, 8, 8, 5, 5, 3, 3, "False", "MinimumReplicasUnavailable", "True", "ReplicaSetUpdated"},
    {"scale up within maxUnavailable 50%",
     "{\"metadata\":{\"name\":\"web\",\"generation\":3},\"spec\":{\"replicas\":8,"
     "\"strategy\":{\"rollingUpdate\":{\"maxUnavailable\":\"50%\"}}},"
     "\"status\":{\"availableReplicas\":5,\"readyReplicas\":5}}",
     false, 8, 8, 5, 5, 3, 3, "True", "MinimumReplicasAvailable", "True", "ReplicaSetUpdated"},
    {"zero replicas", "{\"metadata\":{\"name\":\"web\",\"generation\":5},\"spec\":{\"replicas\":0}}",
     true, -1, -1, -1, -1, -1, 5, "True", "MinimumReplicasAvailable", "True", "NewReplicaSetAvailable"},
    {"paused", "{\"metadata\":{\"name\":\"web\",\"generation\":2},\"spec\":{\"replicas\":2,\"paused\":true}}",
     true, 2, 2, 2, 2, -1, 2, "True", "MinimumReplicasAvailable", "Unknown", "DeploymentPaused"},
};

static void test_deployment_table(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof deploy_cases / sizeof *deploy_cases; i++) {
    const deploy_case *c = &deploy_cases[i];
    json_t *d = J(c->obj);
    json_t *st = idp_sim_deployment_status(d, "web-abc", c->done, NOW);
    print_message("case: %s\n", c->name);
    assert_int_equal(I(st, "replicas"), c->replicas);
    assert_int_equal(I(st, "updatedReplicas"), c->updated);
    assert_int_equal(I(st, "readyReplicas"), c->ready);
    assert_int_equal(I(st, "availableReplicas"), c->available);
    assert_int_equal(I(st, "unavailableReplicas"), c->unavailable);
    assert_int_equal(I(st, "observedGeneration"), c->observed);
    assert_string_equal(cond(st, "Available", "status"), c->avail_status);
    assert_string_equal(cond(st, "Available", "reason"), c->avail_reason);
    assert_string_equal(cond(st, "Progressing", "status"), c->prog_status);
    assert_string_equal(cond(st, "Progressing", "reason"), c->prog_reason);
    assert_string_equal(cond(st, "Available", "lastUpdateTime"), NOW);
    json_decref(st);
    json_decref(d);
  }
}

static void test_deployment_messages(void **state) {
  (void)state;
  json_t *d = J("{\"metadata\":{\"name\":\"web\",\"generation\":1},\"spec\":{}}");
  json_t *st = idp_sim_deployment_status(d, "web-5d8f", true, NOW);
  assert_string_equal(cond(st, "Progressing", "message"), "ReplicaSet \"web-5d8f\" has successfully progressed.");
  assert_string_equal(cond(st, "Available", "message"), "Deployment has minimum availability.");
  json_decref(st);
  st = idp_sim_deployment_status(d, "web-5d8f", false, NOW);
  assert_string_equal(cond(st, "Progressing", "message"), "ReplicaSet \"web-5d8f\" is progressing.");
  json_decref(st);
  json_decref(d);
}

typedef struct mu_case {
  const char *strategy;
  long long replicas, unavailable, surge;
} mu_case;

static const mu_case mu_cases[] = {
    {"{}", 4, 1, 1},
    {"{}", 10, 2, 3},
    {"{}", 1, 0, 1},
    {"{\"type\":\"Recreate\"}", 5, 0, 0},
    {"{\"rollingUpdate\":{\"maxUnavailable\":2,\"maxSurge\":0}}", 5, 2, 0},
    {"{\"rollingUpdate\":{\"maxUnavailable\":\"100%\",\"maxSurge\":\"50%\"}}", 3, 3, 2},
    {"{\"rollingUpdate\":{\"maxUnavailable\":9}}", 3, 3, 1},
};

static void test_max_unavailable_surge(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof mu_cases / sizeof *mu_cases; i++) {
    json_t *d = json_pack("{s:{s:o}}", "spec", "strategy", J(mu_cases[i].strategy));
    assert_int_equal(idp_sim_max_unavailable(d, mu_cases[i].replicas), mu_cases[i].unavailable);
    assert_int_equal(idp_sim_max_surge(d, mu_cases[i].replicas), mu_cases[i].surge);
    json_decref(d);
  }
}

static void test_template_hash(void **state) {
  (void)state;
  json_t *a = J("{\"metadata\":{\"labels\":{\"app\":\"web\",\"tier\":\"fe\"}},"
                "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"nginx:1.25\"}]}}");
  json_t *b = J("{\"spec\":{\"containers\":[{\"image\":\"nginx:1.25\",\"name\":\"c\"}]},"
                "\"metadata\":{\"labels\":{\"tier\":\"fe\",\"app\":\"web\"}}}");
  json_t *c = J("{\"metadata\":{\"labels\":{\"app\":\"web\",\"tier\":\"fe\"}},"
                "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"nginx:1.26\"}]}}");
  char ha[16], hb[16], hc[16], hcc[16], again[16];
  idp_sim_template_hash(a, -1, ha, sizeof ha);
  idp_sim_template_hash(b, -1, hb, sizeof hb);
  idp_sim_template_hash(c, -1, hc, sizeof hc);
  idp_sim_template_hash(a, 1, hcc, sizeof hcc);
  idp_sim_template_hash(a, -1, again, sizeof again);
  assert_string_equal(ha, hb);    /* key order does not matter */
  assert_string_equal(ha, again); /* stable */
  assert_string_not_equal(ha, hc);  /* a new image is a new template */
  assert_string_not_equal(ha, hcc); /* collisionCount changes it */
  assert_true(strlen(ha) >= 1 && strlen(ha) <= 10);
  /* what `kubectl rollout undo` sends back: nulls and empty objects */
  json_t *u = J("{\"metadata\":{\"creationTimestamp\":null,\"labels\":{\"app\":\"web\",\"tier\":\"fe\"}},"
                "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"nginx:1.25\",\"resources\":{}}]}}");
  char hu[16];
  idp_sim_template_hash(u, -1, hu, sizeof hu);
  assert_string_equal(ha, hu);
  json_decref(u);
  for (const char *p = ha; *p; p++) assert_non_null(strchr("bcdfghjklmnpqrstvwxz2456789", *p));
  json_decref(a);
  json_decref(b);
  json_decref(c);
}

typedef struct simple_case {
  const char *obj;
  long long replicas, ready, current, updated, available, observed;
} simple_case;

static void test_replicaset_table(void **state) {
  (void)state;
  static const simple_case cases[] = {
      {"{\"metadata\":{\"generation\":4},\"spec\":{\"replicas\":3}}", 3, 3, -1, -1, 3, 4},
      {"{\"metadata\":{\"generation\":1},\"spec\":{}}", 1, 1, -1, -1, 1, 1},
      {"{\"metadata\":{\"generation\":2},\"spec\":{\"replicas\":0}}", 0, -1, -1, -1, -1, 2},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    json_t *o = J(cases[i].obj);
    json_t *st = idp_sim_replicaset_status(o);
    assert_int_equal(I(st, "replicas"), cases[i].replicas);
    assert_int_equal(I(st, "readyReplicas"), cases[i].ready);
    assert_int_equal(I(st, "fullyLabeledReplicas"), cases[i].ready);
    assert_int_equal(I(st, "availableReplicas"), cases[i].available);
    assert_int_equal(I(st, "observedGeneration"), cases[i].observed);
    json_decref(st);
    json_decref(o);
  }
}

static void test_statefulset_table(void **state) {
  (void)state;
  static const simple_case cases[] = {
      {"{\"metadata\":{\"name\":\"db\",\"generation\":2},\"spec\":{\"replicas\":3,\"template\":{}}}", 3, 3, 3, 3, 3, 2},
      {"{\"metadata\":{\"name\":\"db\",\"generation\":1},\"spec\":{\"template\":{}}}", 1, 1, 1, 1, 1, 1},
      {"{\"metadata\":{\"name\":\"db\",\"generation\":7},\"spec\":{\"replicas\":0}}", 0, -1, -1, -1, 0, 7},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    json_t *o = J(cases[i].obj);
    json_t *st = idp_sim_statefulset_status(o);
    assert_int_equal(I(st, "replicas"), cases[i].replicas);
    assert_int_equal(I(st, "readyReplicas"), cases[i].ready);
    assert_int_equal(I(st, "currentReplicas"), cases[i].current);
    assert_int_equal(I(st, "updatedReplicas"), cases[i].updated);
    assert_int_equal(I(st, "availableReplicas"), cases[i].available);
    assert_int_equal(I(st, "observedGeneration"), cases[i].observed);
    const char *cur = json_string_value(json_object_get(st, "currentRevision"));
    const char *upd = json_string_value(json_object_get(st, "updateRevision"));
    assert_non_null(cur);
    assert_string_equal(cur, upd);
    assert_memory_equal(cur, "db-", 3);
    json_decref(st);
    json_decref(o);
  }
}

static void test_daemonset(void **state) {
  (void)state;
  json_t *o = J("{\"metadata\":{\"generation\":3},\"spec\":{}}");
  json_t *st = idp_sim_daemonset_status(o);
  static const char *const ones[] = {"currentNumberScheduled", "desiredNumberScheduled", "numberReady",
                                     "updatedNumberScheduled", "numberAvailable"};
  for (size_t i = 0; i < 5; i++) assert_int_equal(I(st, ones[i]), 1);
  assert_int_equal(I(st, "numberMisscheduled"), 0);
  assert_int_equal(I(st, "observedGeneration"), 3);
  json_decref(st);
  json_decref(o);
}

typedef struct job_case {
  const char *obj;
  bool done;
  long long succeeded, active;
  const char *complete, *suspended, *indexes;
} job_case;

static void test_job_table(void **state) {
  (void)state;
  static const job_case cases[] = {
      {"{\"spec\":{}}", true, 1, -1, "True", NULL, NULL},
      {"{\"spec\":{}}", false, -1, 1, NULL, NULL, NULL},
      {"{\"spec\":{\"completions\":5,\"parallelism\":2}}", true, 5, -1, "True", NULL, NULL},
      {"{\"spec\":{\"completions\":5,\"parallelism\":2}}", false, -1, 2, NULL, NULL, NULL},
      {"{\"spec\":{\"completions\":3,\"completionMode\":\"Indexed\"}}", true, 3, -1, "True", NULL, "0-2"},
      {"{\"spec\":{\"suspend\":true}}", false, -1, -1, NULL, "True", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const job_case *c = &cases[i];
    json_t *o = J(c->obj);
    json_t *st = idp_sim_job_status(o, c->done, NOW);
    assert_int_equal(I(st, "succeeded"), c->succeeded);
    assert_int_equal(I(st, "active"), c->active);
    const char *cs = cond(st, "Complete", "status");
    if (c->complete) {
      assert_string_equal(cs, c->complete);
      assert_string_equal(cond(st, "SuccessCriteriaMet", "status"), "True");
      assert_string_equal(cond(st, "Complete", "reason"), "CompletionsReached");
      assert_string_equal(json_string_value(json_object_get(st, "completionTime")), NOW);
    } else {
      assert_null(cs);
      assert_null(json_object_get(st, "completionTime"));
    }
    if (c->suspended) {
      assert_string_equal(cond(st, "Suspended", "status"), "True");
      assert_null(json_object_get(st, "startTime"));
    } else {
      assert_string_equal(json_string_value(json_object_get(st, "startTime")), NOW);
    }
    const char *ix = json_string_value(json_object_get(st, "completedIndexes"));
    if (c->indexes) assert_string_equal(ix, c->indexes);
    else assert_null(ix);
    /* a finished Job is terminal */
    json_object_set(o, "status", st);
    assert_int_equal(idp_sim_job_finished(o), c->complete != NULL);
    json_decref(st);
    json_decref(o);
  }
}

/* keep_times: what makes a second computation equal to the first (no
 * write), and a real change keep only lastTransitionTime. */
static void test_keep_times(void **state) {
  (void)state;
  json_t *d = J("{\"metadata\":{\"name\":\"web\",\"generation\":1},\"spec\":{\"replicas\":2}}");
  json_t *first = idp_sim_deployment_status(d, "web-x", true, NOW);
  json_t *second = idp_sim_deployment_status(d, "web-x", true, LATER);
  assert_false(json_equal(first, second));
  idp_sim_keep_times(second, first);
  assert_true(json_equal(first, second));

  json_t *prog = idp_sim_deployment_status(d, "web-x", false, NOW);
  json_t *fin = idp_sim_deployment_status(d, "web-x", true, LATER);
  idp_sim_keep_times(fin, prog);
  /* Progressing stays True: transition time kept, update time moves */
  assert_string_equal(cond(fin, "Progressing", "lastTransitionTime"), NOW);
  assert_string_equal(cond(fin, "Progressing", "lastUpdateTime"), LATER);
  /* Available went False -> True: both move */
  assert_string_equal(cond(fin, "Available", "lastTransitionTime"), LATER);

  json_t *job = J("{\"spec\":{}}");
  json_t *started = idp_sim_job_status(job, false, NOW);
  json_t *done = idp_sim_job_status(job, true, LATER);
  idp_sim_keep_times(done, started);
  assert_string_equal(json_string_value(json_object_get(done, "startTime")), NOW);
  assert_string_equal(json_string_value(json_object_get(done, "completionTime")), LATER);
  json_t *v[] = {d, first, second, prog, fin, job, started, done};
  for (size_t i = 0; i < sizeof v / sizeof *v; i++) json_decref(v[i]);
}

static void test_pod(void **state) {
  (void)state;
  json_t *rs = J("{\"metadata\":{\"name\":\"web-abc\",\"namespace\":\"team\",\"uid\":\"u1\"},"
                 "\"spec\":{\"replicas\":2,\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},"
                 "\"spec\":{\"containers\":[{\"name\":\"app\",\"image\":\"nginx:1.25\"}]}}}}");
  json_t *p0 = idp_sim_pod(rs, 0, NOW), *p1 = idp_sim_pod(rs, 1, NOW), *again = idp_sim_pod(rs, 0, NOW);
  const char *n0 = idp_json_get_str(p0, "metadata", "name", NULL);
  const char *n1 = idp_json_get_str(p1, "metadata", "name", NULL);
  assert_int_equal(strlen(n0), strlen("web-abc-") + 5);
  assert_memory_equal(n0, "web-abc-", 8);
  assert_string_not_equal(n0, n1);
  assert_true(json_equal(p0, again));
  assert_string_equal(idp_json_get_str(p0, "metadata", "namespace", NULL), "team");
  assert_string_equal(idp_json_get_str(p0, "metadata", "labels", "app", NULL), "web");
  assert_string_equal(idp_json_get_str(p0, "metadata", "annotations", IDP_SIM_ANNOTATION, NULL), "true");
  json_t *own = json_array_get(idp_json_get(p0, "metadata", "ownerReferences", NULL), 0);
  assert_string_equal(json_string_value(json_object_get(own, "uid")), "u1");
  assert_true(json_is_true(json_object_get(own, "controller")));
  assert_string_equal(idp_json_get_str(p0, "spec", "nodeName", NULL), IDP_SIM_NODE);
  assert_string_equal(idp_json_get_str(p0, "status", "phase", NULL), "Running");
  assert_string_equal(cond(json_object_get(p0, "status"), "Ready", "status"), "True");
  const char *ip = idp_json_get_str(p0, "status", "podIP", NULL);
  assert_memory_equal(ip, "10.244.", 7);
  json_t *cs = json_array_get(idp_json_get(p0, "status", "containerStatuses", NULL), 0);
  assert_true(json_is_true(json_object_get(cs, "ready")));
  assert_string_equal(json_string_value(json_object_get(cs, "image")), "nginx:1.25");
  json_decref(p0);
  json_decref(p1);
  json_decref(again);
  json_decref(rs);
}

static void test_rfc3339(void **state) {
  (void)state;
  char b[32];
  idp_sim_rfc3339(0, b, sizeof b);
  assert_string_equal(b, "1970-01-01T00:00:00Z");
  idp_sim_rfc3339(1700000000, b, sizeof b);
  assert_string_equal(b, "2023-11-14T22:13:20Z");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_deployment_table), cmocka_unit_test(test_deployment_messages),
      cmocka_unit_test(test_max_unavailable_surge), cmocka_unit_test(test_template_hash),
      cmocka_unit_test(test_replicaset_table), cmocka_unit_test(test_statefulset_table),
      cmocka_unit_test(test_daemonset), cmocka_unit_test(test_job_table),
      cmocka_unit_test(test_keep_times), cmocka_unit_test(test_pod),
      cmocka_unit_test(test_rfc3339),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
