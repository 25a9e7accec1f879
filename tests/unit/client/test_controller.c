/* Controller loop: informer -> queue -> workers; retries with backoff,
 * forget on success, requeue_after, max_retries. */
#include "../test.h"
#include "client/controller.h"
#include "core/json.h"
#include "core/log.h"
#include "fakeapi.h"

#include <pthread.h>
#include <unistd.h>

typedef struct state {
  pthread_mutex_t mu;
  json_t *calls;     /* key -> count */
  int concurrent, max_concurrent;
  idp_controller *ctrl;
} state;

static int calls(state *s, const char *key) {
  pthread_mutex_lock(&s->mu);
  int n = (int)json_integer_value(json_object_get(s->calls, key));
  pthread_mutex_unlock(&s->mu);
  return n;
}

static idp_code reconcile(void *ud, const char *key, int64_t *after, idp_err *e) {
  state *s = ud;
  pthread_mutex_lock(&s->mu);
  int n = (int)json_integer_value(json_object_get(s->calls, key)) + 1;
  json_object_set_new(s->calls, key, json_integer(n));
  s->concurrent++;
  if (s->concurrent > s->max_concurrent) s->max_concurrent = s->concurrent;
  pthread_mutex_unlock(&s->mu);
  usleep(2000);
  pthread_mutex_lock(&s->mu);
  s->concurrent--;
  pthread_mutex_unlock(&s->mu);
  if (strcmp(key, "ns/flaky") == 0 && n < 3)
    return idp_err_set(e, IDP_EUNAVAILABLE, "flaky: attempt %d", n);
  if (strcmp(key, "ns/always") == 0) return idp_err_set(e, IDP_EIO, "always fails");
  if (strcmp(key, "ns/periodic") == 0 && n == 1) *after = 50;
  return IDP_OK;
}

static bool wait_calls(state *s, const char *key, int want) {
  for (int i = 0; i < 300; i++) {
    if (calls(s, key) >= want) return true;
    usleep(10000);
  }
  return false;
}

static void test_retries_and_requeue(void **st) {
  (void)st;
  state s = {.calls = json_object()};
  pthread_mutex_init(&s.mu, NULL);
  idp_ratelimit_opts rl = {.base_ms = 5, .qps = -1};
  idp_controller_opts o = {.name = "test", .workers = 3, .reconcile = reconcile, .ud = &s,
                           .rate_limit = &rl, .max_retries = 2};
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_controller_new(&o, &s.ctrl, &e), IDP_OK);
  assert_int_equal(idp_controller_start(s.ctrl, &e), IDP_OK);
  idp_controller_enqueue(s.ctrl, "ns/flaky");
  idp_controller_enqueue(s.ctrl, "ns/always");
  idp_controller_enqueue(s.ctrl, "ns/periodic");
  idp_controller_enqueue_after(s.ctrl, "ns/later", 30);
  assert_true(wait_calls(&s, "ns/flaky", 3));
  assert_true(wait_calls(&s, "ns/periodic", 2));
  assert_true(wait_calls(&s, "ns/later", 1));
  assert_true(wait_calls(&s, "ns/always", 3));
  usleep(100 * 1000);
  assert_int_equal(calls(&s, "ns/flaky"), 3);   /* succeeded on the 3rd */
  assert_int_equal(calls(&s, "ns/always"), 3);  /* 1 + max_retries, then dropped */
  assert_int_equal(calls(&s, "ns/periodic"), 2);
  idp_workqueue *q = idp_controller_queue(s.ctrl);
  assert_int_equal(idp_workqueue_num_requeues(q, "ns/flaky"), 0); /* forgotten */
  assert_int_equal(idp_workqueue_num_requeues(q, "ns/always"), 0);
  idp_controller_free(s.ctrl);
  json_decref(s.calls);
  pthread_mutex_destroy(&s.mu);
}

static void test_informer_feeds_controller(void **st) {
  (void)st;
  state s = {.calls = json_object()};
  pthread_mutex_init(&s.mu, NULL);
  fakeapi *f = fakeapi_start();
  assert_non_null(f);
  idp_kconfig cfg = {.server = (char *)fakeapi_url(f)};
  idp_kclient *c = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_kclient_new(&cfg, NULL, &c, &e), IDP_OK);
  idp_controller_opts o = {.name = "cm", .workers = 2, .reconcile = reconcile, .ud = &s};
  assert_int_equal(idp_controller_new(&o, &s.ctrl, &e), IDP_OK);
  json_t *obj = json_pack("{s:{s:s,s:s}}", "metadata", "name", "one", "namespace", "x");
  fakeapi_put(f, "configmaps", obj);
  idp_informer_opts io = {.resource = {"", "v1", "configmaps", NULL, NULL, NULL}};
  idp_informer_handlers h = idp_controller_handlers(s.ctrl);
  idp_informer *inf = NULL;
  assert_int_equal(idp_informer_new(c, &io, &h, &inf, &e), IDP_OK);
  assert_int_equal(idp_informer_start(inf, &e), IDP_OK);
  assert_true(idp_informer_wait_synced(inf, 5000));
  assert_int_equal(idp_controller_start(s.ctrl, &e), IDP_OK);
  assert_true(wait_calls(&s, "x/one", 1));
  fakeapi_put(f, "configmaps", obj); /* modified */
  assert_true(wait_calls(&s, "x/one", 2));
  fakeapi_del(f, "configmaps", "x", "one");
  assert_true(wait_calls(&s, "x/one", 3));
  idp_informer_free(inf);
  idp_controller_stop(s.ctrl);
  idp_controller_stop(s.ctrl); /* idempotent */
  assert_true(s.max_concurrent <= 2);
  idp_controller_free(s.ctrl);
  idp_kclient_free(c);
  fakeapi_stop(f);
  json_decref(obj);
  json_decref(s.calls);
  pthread_mutex_destroy(&s.mu);
}

static void test_bad_options(void **st) {
  (void)st;
  idp_controller *c = NULL;
  idp_err e = IDP_ERR_INIT;
  idp_controller_opts o = {.name = "x"};
  assert_int_equal(idp_controller_new(&o, &c, &e), IDP_EINVAL);
  o.reconcile = reconcile;
  o.workers = 1000;
  assert_int_equal(idp_controller_new(&o, &c, &e), IDP_EINVAL);
  assert_null(c);
}

int main(void) {
  idp_log_set_level(IDP_LOG_OFF);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_retries_and_requeue),
      cmocka_unit_test(test_informer_feeds_controller),
      cmocka_unit_test(test_bad_options),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
