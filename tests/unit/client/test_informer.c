/* Informer end to end against fakeapi: list, watch, resume, relist on 410,
 * backoff on errors, cache reads, prompt stop. */
#include "../test.h"
#include "client/informer.h"
#include "client/workqueue.h"
#include "core/json.h"
#include "fakeapi.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

typedef struct counts {
  pthread_mutex_t mu;
  int adds, updates, deletes;
  char last[64];
  idp_workqueue *q;
} counts;

static void on_add(void *ud, const json_t *o) {
  counts *c = ud;
  char key[256];
  assert_true(idp_object_key(o, key, sizeof key));
  pthread_mutex_lock(&c->mu);
  c->adds++;
  snprintf(c->last, sizeof c->last, "add %s", key);
  pthread_mutex_unlock(&c->mu);
  if (c->q) idp_workqueue_add(c->q, key);
}

static void on_update(void *ud, const json_t *old, const json_t *o) {
  counts *c = ud;
  char key[256];
  assert_true(idp_object_key(o, key, sizeof key));
  /* old and new differ in resourceVersion */
  assert_string_not_equal(idp_json_get_str(old, "metadata", "resourceVersion", NULL),
                          idp_json_get_str(o, "metadata", "resourceVersion", NULL));
  pthread_mutex_lock(&c->mu);
  c->updates++;
  snprintf(c->last, sizeof c->last, "update %s", key);
  pthread_mutex_unlock(&c->mu);
  if (c->q) idp_workqueue_add(c->q, key);
}

static void on_delete(void *ud, const json_t *o) {
  counts *c = ud;
  char key[256];
  assert_true(idp_object_key(o, key, sizeof key));
  pthread_mutex_lock(&c->mu);
  c->deletes++;
  snprintf(c->last, sizeof c->last, "delete %s", key);
  pthread_mutex_unlock(&c->mu);
  if (c->q) idp_workqueue_add(c->q, key);
}

static void put_cm(fakeapi *f, const char *ns, const char *name, const char *v) {
  json_t *o = json_pack("{s:{s:s,s:s,s:{s:s}},s:{s:s}}", "metadata", "name", name, "namespace",
                        ns, "labels", "app", "demo", "data", "k", v);
  fakeapi_put(f, "configmaps", o);
  json_decref(o);
}

/* Waits up to 5 s for a condition on the counters. */
#define WAIT_FOR(c, cond)                                   \
  do {                                                      \
    bool ok_ = false;                                       \
    for (int i_ = 0; i_ < 500 && !ok_; i_++) {              \
      pthread_mutex_lock(&(c)->mu);                         \
      ok_ = (cond);                                         \
      pthread_mutex_unlock(&(c)->mu);                       \
      if (!ok_) usleep(10000);                              \
    }                                                       \
    assert_true(ok_);                                       \
  } while (0)

typedef struct fixture {
  fakeapi *f;
  idp_kclient *c;
  counts n;
  idp_informer *inf;
} fixture;

static int setup(void **state) {
  fixture *x = calloc(1, sizeof *x);
  x->f = fakeapi_start();
  if (!x->f) return -1;
  idp_kconfig cfg = {.server = (char *)fakeapi_url(x->f)};
  idp_err e = IDP_ERR_INIT;
  if (idp_kclient_new(&cfg, &(idp_kclient_opts){.timeout_ms = 5000}, &x->c, &e)) return -1;
  pthread_mutex_init(&x->n.mu, NULL);
  *state = x;
  return 0;
}

static int teardown(void **state) {
  fixture *x = *state;
  idp_informer_free(x->inf);
  idp_kclient_free(x->c);
  fakeapi_stop(x->f);
  if (x->n.q) idp_workqueue_free(x->n.q);
  pthread_mutex_destroy(&x->n.mu);
  free(x);
  return 0;
}

static void start(fixture *x, const char *ns, const char *label) {
  idp_informer_opts o = {.resource = {"", "v1", "configmaps", ns, NULL, NULL},
                         .label_selector = label,
                         .page_size = 2,
                         .watch_timeout_s = 30,
                         .backoff_initial_ms = 20,
                         .backoff_max_ms = 100};
  idp_informer_handlers h = {on_add, on_update, on_delete, &x->n};
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_informer_new(x->c, &o, &h, &x->inf, &e), IDP_OK);
  assert_false(idp_informer_has_synced(x->inf));
  assert_int_equal(idp_informer_start(x->inf, &e), IDP_OK);
  assert_true(idp_informer_wait_synced(x->inf, 5000));
}

static void test_list_then_watch(void **state) {
  fixture *x = *state;
  put_cm(x->f, "a", "one", "1");
  put_cm(x->f, "a", "two", "1");
  put_cm(x->f, "a", "three", "1");
  put_cm(x->f, "b", "other", "1");
  x->n.q = idp_workqueue_new("cm", NULL);
  start(x, "a", NULL);
  assert_int_equal(x->n.adds, 3); /* initial list: 2 pages of 2 */
  assert_int_equal(idp_informer_size(x->inf), 3);
  json_t *o = idp_informer_get(x->inf, "a", "two");
  assert_non_null(o);
  assert_string_equal(idp_json_get_str(o, "kind", NULL), "ConfigMap"); /* restored */
  assert_string_equal(idp_json_get_str(o, "apiVersion", NULL), "v1");
  json_decref(o);
  assert_null(idp_informer_get(x->inf, "b", "other"));

  /* Live changes. */
  put_cm(x->f, "a", "four", "1");
  put_cm(x->f, "a", "one", "2");
  fakeapi_del(x->f, "configmaps", "a", "two");
  put_cm(x->f, "b", "other", "2"); /* not ours */
  WAIT_FOR(&x->n, x->n.adds == 4 && x->n.updates == 1 && x->n.deletes == 1);
  o = idp_informer_get_key(x->inf, "a/one");
  assert_string_equal(idp_json_get_str(o, "data", "k", NULL), "2");
  json_decref(o);
  assert_null(idp_informer_get(x->inf, "a", "two"));
  json_t *l = idp_informer_list(x->inf, "a");
  assert_int_equal(json_array_size(l), 3);
  json_decref(l);
  char rv[64], want[64];
  snprintf(want, sizeof want, "%" PRId64, fakeapi_rv(x->f) - 1); /* last event in ns a */
  for (int i = 0; i < 100; i++) { /* the RV is recorded right after the handler */
    idp_informer_last_rv(x->inf, rv, sizeof rv);
    if (strcmp(rv, want) == 0) break;
    usleep(10000);
  }
  assert_string_equal(rv, want);

  /* The handlers fed a work queue: keys deduplicated. */
  size_t len = idp_workqueue_len(x->n.q);
  assert_int_equal(len, 4); /* one two three four */
}

static void test_resume_after_close(void **state) {
  fixture *x = *state;
  put_cm(x->f, "r", "a", "1");
  start(x, "r", NULL);
  for (int i = 0; i < 100 && fakeapi_open_watches(x->f) == 0; i++) usleep(10000);
  fakeapi_close_watches(x->f);
  usleep(100 * 1000);
  put_cm(x->f, "r", "b", "1");
  fakeapi_bookmark(x->f);
  WAIT_FOR(&x->n, x->n.adds == 2);
  idp_informer_stats st;
  idp_informer_get_stats(x->inf, &st);
  assert_int_equal(st.lists, 1); /* resumed from the RV, no relist */
  assert_true(st.watches >= 2);
  /* The bookmark advanced the RV to the newest revision. */
  char rv[64], want[64];
  snprintf(want, sizeof want, "%" PRId64, fakeapi_rv(x->f));
  for (int i = 0; i < 100; i++) {
    idp_informer_last_rv(x->inf, rv, sizeof rv);
    if (strcmp(rv, want) == 0) break;
    usleep(10000);
  }
  assert_string_equal(rv, want);
  assert_int_equal(x->n.updates, 0);
  assert_int_equal(x->n.deletes, 0);
}

static void test_relist_on_gone(void **state) {
  fixture *x = *state;
  put_cm(x->f, "g", "keep", "1");
  put_cm(x->f, "g", "change", "1");
  put_cm(x->f, "g", "remove", "1");
  start(x, "g", NULL);
  assert_int_equal(x->n.adds, 3);
  /* Make the re-watch fail, drop the stream, change things unseen, compact. */
  for (int i = 0; i < 100 && fakeapi_open_watches(x->f) == 0; i++) usleep(10000);
  fakeapi_fail_next(x->f, 1000, 503, "ServiceUnavailable", "down for a moment");
  fakeapi_close_watches(x->f);
  usleep(150 * 1000);
  put_cm(x->f, "g", "change", "2");
  fakeapi_del(x->f, "configmaps", "g", "remove");
  put_cm(x->f, "g", "new", "1");
  fakeapi_compact(x->f);
  fakeapi_fail_next(x->f, 0, 503, "", "");
  /* Re-watch from the old RV -> 410 -> relist -> synthetic events. */
  WAIT_FOR(&x->n, x->n.adds == 4 && x->n.updates == 1 && x->n.deletes == 1);
  idp_informer_stats st;
  idp_informer_get_stats(x->inf, &st);
  assert_int_equal(st.lists, 2);
  assert_true(st.errors >= 1); /* the 503s were backed off */
  assert_non_null(strstr(x->n.last, "delete g/remove"));
  assert_int_equal(idp_informer_size(x->inf), 3);
  json_t *o = idp_informer_get(x->inf, "g", "change");
  assert_string_equal(idp_json_get_str(o, "data", "k", NULL), "2");
  json_decref(o);
  /* And it keeps watching after the relist. */
  put_cm(x->f, "g", "later", "1");
  WAIT_FOR(&x->n, x->n.adds == 5);
}

static void test_label_selector_and_all_ns(void **state) {
  fixture *x = *state;
  put_cm(x->f, "n1", "a", "1");
  put_cm(x->f, "n2", "b", "1");
  json_t *o = json_pack("{s:{s:s,s:s},s:{}}", "metadata", "name", "nolabel", "namespace", "n1",
                        "data");
  fakeapi_put(x->f, "configmaps", o);
  json_decref(o);
  start(x, NULL, "app=demo");
  assert_int_equal(idp_informer_size(x->inf), 2);
  json_t *l = idp_informer_list(x->inf, NULL);
  assert_int_equal(json_array_size(l), 2);
  json_decref(l);
  assert_true(fakeapi_count(x->f, "GET /api/v1/configmaps?labelSelector=app=demo") >= 1);
}

static void test_list_failure_backoff_and_stop(void **state) {
  fixture *x = *state;
  fakeapi_fail_next(x->f, 3, 500, "InternalError", "db down");
  put_cm(x->f, "s", "a", "1");
  start(x, "s", NULL); /* synced after 3 failed lists */
  idp_informer_stats st;
  idp_informer_get_stats(x->inf, &st);
  assert_int_equal(st.lists, 4);
  assert_int_equal(st.errors, 3);
  assert_int_equal(x->n.adds, 1);
  /* Stop while a watch is open: prompt. */
  for (int i = 0; i < 100 && fakeapi_open_watches(x->f) == 0; i++) usleep(10000);
  assert_int_equal(fakeapi_open_watches(x->f), 1);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  idp_informer_stop(x->inf);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double el = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  assert_true(el < 1.0);
  idp_informer_stop(x->inf); /* idempotent */
  /* The cache stays readable after stop. */
  json_t *o = idp_informer_get(x->inf, "s", "a");
  assert_non_null(o);
  json_decref(o);
}

static void test_bad_options(void **state) {
  fixture *x = *state;
  idp_informer *inf = NULL;
  idp_err e = IDP_ERR_INIT;
  idp_informer_opts o = {.resource = {"", "v1", "configmaps", "ns", "name", NULL}};
  assert_int_equal(idp_informer_new(x->c, &o, NULL, &inf, &e), IDP_EINVAL);
  o.resource.name = NULL;
  o.resource.resource = "bad/plural";
  assert_int_equal(idp_informer_new(x->c, &o, NULL, &inf, &e), IDP_EINVAL);
  assert_null(inf);
  char ns[8], name[64];
  assert_true(idp_key_split("ns1/obj", ns, sizeof ns, name, sizeof name));
  assert_string_equal(ns, "ns1");
  assert_string_equal(name, "obj");
  assert_true(idp_key_split("cluster-obj", ns, sizeof ns, name, sizeof name));
  assert_string_equal(ns, "");
  assert_false(idp_key_split("much-too-long-namespace/x", ns, sizeof ns, name, sizeof name));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_list_then_watch, setup, teardown),
      cmocka_unit_test_setup_teardown(test_resume_after_close, setup, teardown),
      cmocka_unit_test_setup_teardown(test_relist_on_gone, setup, teardown),
      cmocka_unit_test_setup_teardown(test_label_selector_and_all_ns, setup, teardown),
      cmocka_unit_test_setup_teardown(test_list_failure_backoff_and_stop, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
