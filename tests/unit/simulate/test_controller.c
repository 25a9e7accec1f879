/* End-to-end test of the simulator against an in-process API server
 * (store in memory, plain HTTP on loopback): rollouts, the progressing
 * phase before the delay, new templates, pods, jobs, and that a settled
 * simulator writes nothing. */
#include "../test.h"

#include <time.h>

#include "apiserver/apiserver.h"
#include "core/json.h"
#include "simulate/simulate.h"
#include "store/store.h"

typedef struct env {
  idp_store *store;
  idp_apiserver *api;
  idp_kclient *kc;
  idp_simulate *sim;
} env;

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int setup(void **state) {
  env *v = calloc(1, sizeof *v);
  idp_err e = IDP_ERR_INIT;
  char url[64];
  if (idp_store_open(&(idp_store_opts){.path = ":memory:"}, &v->store, &e) ||
      idp_apiserver_new(&(idp_apiserver_opts){.store = v->store, .listen = "127.0.0.1:0"}, &v->api, &e) ||
      idp_apiserver_listen(v->api, &e)) {
    fprintf(stderr, "server: %s\n", e.msg);
    return -1;
  }
  snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)idp_apiserver_port(v->api));
  idp_kconfig cfg = {.server = url, .namespace_ = "default"};
  if (idp_kclient_new(&cfg, &(idp_kclient_opts){.timeout_ms = 10000}, &v->kc, &e) ||
      idp_simulate_install_crds(v->kc, &e) ||
      idp_simulate_start(v->kc, &(idp_simulate_opts){.delay_ms = 400, .create_pods = true}, &v->sim, &e)) {
    fprintf(stderr, "simulator: %s\n", e.msg);
    return -1;
  }
  *state = v;
  return 0;
}

static int teardown(void **state) {
  env *v = *state;
  idp_simulate_stop(v->sim);
  idp_kclient_free(v->kc);
  idp_apiserver_free(v->api);
  idp_store_close(v->store);
  free(v);
  return 0;
}

static idp_kref R(const char *group, const char *plural, const char *name) {
  return (idp_kref){.group = group, .version = "v1", .resource = plural, .ns = "default", .name = name};
}

static json_t *get(env *v, const char *group, const char *plural, const char *name) {
  idp_kref r = R(group, plural, name);
  json_t *o = NULL;
  idp_err e = IDP_ERR_INIT;
  if (idp_kclient_get(v->kc, &r, &o, &e)) return NULL;
  return o;
}

static json_t *deployment(const char *name, const char *image, int replicas) {
  return json_pack("{s:s, s:s, s:{s:s}, s:{s:i, s:{s:{s:s}}, s:{s:{s:{s:s}}, s:{s:[{s:s, s:s}]}}}}",
                   "apiVersion", "apps/v1", "kind", "Deployment", "metadata", "name", name, "spec",
                   "replicas", replicas, "selector", "matchLabels", "app", name, "template",
                   "metadata", "labels", "app", name, "spec", "containers", "name", "app", "image",
                   image);
}

static const char *cond_reason(const json_t *o, const char *type) {
  json_t *c;
  size_t i;
  json_array_foreach(idp_json_get(o, "status", "conditions", NULL), i, c) {
    if (!strcmp(json_string_value(json_object_get(c, "type")), type))
      return json_string_value(json_object_get(c, "reason"));
  }
  return NULL;
}

/* Polls until the object's condition `type` has `reason` (ms budget). */
static bool wait_reason(env *v, const char *group, const char *plural, const char *name,
                        const char *type, const char *reason, long ms) {
  for (long t = 0; t <= ms; t += 50) {
    json_t *o = get(v, group, plural, name);
    const char *r = o ? cond_reason(o, type) : NULL;
    bool ok = r && !strcmp(r, reason);
    json_decref(o);
    if (ok) return true;
    sleep_ms(50);
  }
  return false;
}

/* ReplicaSets owned by (controller ref) the object with `uid`, as a new array. */
static json_t *owned(env *v, const char *group, const char *plural, const char *uid) {
  idp_kref r = R(group, plural, NULL);
  json_t *list = NULL, *out = json_array(), *o;
  idp_err e = IDP_ERR_INIT;
  if (idp_kclient_list(v->kc, &r, NULL, &list, &e)) return out;
  size_t i;
  json_array_foreach(json_object_get(list, "items"), i, o) {
    const char *u = idp_json_get_str(json_array_get(idp_json_get(o, "metadata", "ownerReferences", NULL), 0), "uid", NULL);
    if (u && !strcmp(u, uid)) json_array_append(out, o);
  }
  json_decref(list);
  return out;
}

static void test_rollout(void **state) {
  env *v = *state;
  idp_err e = IDP_ERR_INIT;
  idp_kref r = R("apps", "deployments", NULL);
  json_t *d = deployment("web", "nginx:1.25", 3);
  assert_int_equal(idp_kclient_create(v->kc, &r, d, NULL, NULL, &e), IDP_OK);
  json_decref(d);
  /* first the progressing phase, then the completed rollout */
  assert_true(wait_reason(v, "apps", "deployments", "web", "Progressing", "ReplicaSetUpdated", 3000));
  assert_true(wait_reason(v, "apps", "deployments", "web", "Progressing", "NewReplicaSetAvailable", 5000));
  json_t *got = get(v, "apps", "deployments", "web");
  assert_int_equal(json_integer_value(idp_json_get(got, "status", "availableReplicas", NULL)), 3);
  assert_null(idp_json_get(got, "status", "unavailableReplicas", NULL));
  assert_string_equal(cond_reason(got, "Available"), "MinimumReplicasAvailable");
  assert_string_equal(idp_json_get_str(got, "metadata", "annotations", IDP_SIM_ANNOTATION, NULL), "true");
  const char *uid = idp_json_get_str(got, "metadata", "uid", NULL);
  json_t *rss = owned(v, "apps", "replicasets", uid);
  assert_int_equal(json_array_size(rss), 1);
  const char *rsname = idp_json_get_str(json_array_get(rss, 0), "metadata", "name", NULL);
  const char *hash = idp_json_get_str(json_array_get(rss, 0), "metadata", "labels", "pod-template-hash", NULL);
  char want[128];
  snprintf(want, sizeof want, "web-%s", hash);
  assert_string_equal(rsname, want);

  /* pods of the ReplicaSet */
  json_t *rs_uid = json_string(idp_json_get_str(json_array_get(rss, 0), "metadata", "uid", NULL));
  json_t *pods = NULL;
  for (int t = 0; t < 60; t++) {
    json_decref(pods);
    pods = owned(v, "", "pods", json_string_value(rs_uid));
    if (json_array_size(pods) == 3) break;
    sleep_ms(50);
  }
  assert_int_equal(json_array_size(pods), 3);
  json_decref(pods);

  /* a new image: a second ReplicaSet; the first one goes to 0 */
  json_t *patch = json_pack("{s:{s:{s:{s:[{s:s, s:s}]}}}}", "spec", "template", "spec", "containers",
                            "name", "app", "image", "nginx:1.26");
  idp_kref dr = R("apps", "deployments", "web");
  json_t *after = NULL;
  assert_int_equal(idp_kclient_patch(v->kc, &dr, IDP_PATCH_STRATEGIC, patch, NULL, &after, &e), IDP_OK);
  json_decref(patch);
  long long gen = json_integer_value(idp_json_get(after, "metadata", "generation", NULL));
  json_decref(after);
  bool ok = false;
  for (int t = 0; t < 100 && !ok; t++) {
    json_t *cur = get(v, "apps", "deployments", "web");
    const char *reason = cond_reason(cur, "Progressing");
    ok = json_integer_value(idp_json_get(cur, "status", "observedGeneration", NULL)) == gen && reason &&
         !strcmp(reason, "NewReplicaSetAvailable");
    json_decref(cur);
    if (!ok) sleep_ms(50);
  }
  assert_true(ok);
  json_t *old = get(v, "apps", "replicasets", rsname);
  assert_int_equal(json_integer_value(idp_json_get(old, "spec", "replicas", NULL)), 0);
  json_decref(old);
  json_t *rss2 = owned(v, "apps", "replicasets", uid);
  assert_int_equal(json_array_size(rss2), 2);
  json_decref(rss2);
  json_decref(rss);
  json_decref(rs_uid);
  json_decref(got);
}

static void test_job_and_idle(void **state) {
  env *v = *state;
  idp_err e = IDP_ERR_INIT;
  idp_kref r = R("batch", "jobs", NULL);
  json_t *job = json_pack("{s:s, s:s, s:{s:s}, s:{s:i, s:{s:{s:s, s:[{s:s, s:s}]}}}}", "apiVersion",
                          "batch/v1", "kind", "Job", "metadata", "name", "once", "spec",
                          "completions", 2, "template", "spec", "restartPolicy", "Never",
                          "containers", "name", "m", "image", "busybox");
  assert_int_equal(idp_kclient_create(v->kc, &r, job, NULL, NULL, &e), IDP_OK);
  json_decref(job);
  assert_true(wait_reason(v, "batch", "jobs", "once", "Complete", "CompletionsReached", 5000));
  json_t *got = get(v, "batch", "jobs", "once");
  assert_int_equal(json_integer_value(idp_json_get(got, "status", "succeeded", NULL)), 2);
  json_decref(got);

  /* settled: no more writes of any kind */
  sleep_ms(1000);
  idp_simulate_stats a, b;
  idp_simulate_get_stats(v->sim, &a);
  sleep_ms(1500);
  idp_simulate_get_stats(v->sim, &b);
  assert_int_equal(a.status_writes, b.status_writes);
  assert_int_equal(a.meta_patches, b.meta_patches);
  assert_int_equal(a.creates, b.creates);
  assert_true(a.status_writes > 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rollout),
      cmocka_unit_test(test_job_and_idle),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
