/* Work queue: dedup, requeue while processing, delays, backoff, shutdown. */
#include "../test.h"
#include "client/workqueue.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_dedup_fifo(void **state) {
  (void)state;
  idp_workqueue *q = idp_workqueue_new("t", NULL);
  idp_workqueue_add(q, "ns/a");
  idp_workqueue_add(q, "ns/b");
  idp_workqueue_add(q, "ns/a");
  idp_workqueue_add(q, "ns/a");
  assert_int_equal(idp_workqueue_len(q), 2);
  char *k1 = idp_workqueue_get(q);
  char *k2 = idp_workqueue_get(q);
  assert_string_equal(k1, "ns/a");
  assert_string_equal(k2, "ns/b");
  assert_null(idp_workqueue_get_timeout(q, 20)); /* nothing else */
  idp_workqueue_done(q, k1);
  idp_workqueue_done(q, k2);
  free(k1);
  free(k2);
  assert_int_equal(idp_workqueue_len(q), 0);
  idp_workqueue_free(q);
}

static void test_requeue_while_processing(void **state) {
  (void)state;
  idp_workqueue *q = idp_workqueue_new("t", NULL);
  idp_workqueue_add(q, "k");
  char *k = idp_workqueue_get(q);
  assert_string_equal(k, "k");
  /* Re-added twice while held: not handed out concurrently... */
  idp_workqueue_add(q, "k");
  idp_workqueue_add(q, "k");
  assert_int_equal(idp_workqueue_len(q), 0);
  assert_null(idp_workqueue_get_timeout(q, 20));
  /* ...and queued once when done. */
  idp_workqueue_done(q, k);
  free(k);
  assert_int_equal(idp_workqueue_len(q), 1);
  k = idp_workqueue_get(q);
  assert_string_equal(k, "k");
  idp_workqueue_done(q, k);
  free(k);
  assert_int_equal(idp_workqueue_len(q), 0);
  idp_workqueue_free(q);
}

static void test_add_after_ordering(void **state) {
  (void)state;
  idp_workqueue *q = idp_workqueue_new("t", NULL);
  int64_t t0 = now_ms();
  idp_workqueue_add_after(q, "late", 120);
  idp_workqueue_add_after(q, "early", 40);
  idp_workqueue_add_after(q, "mid", 200);
  idp_workqueue_add_after(q, "late", 300); /* later deadline: the earlier one stays */
  idp_workqueue_add(q, "now");
  assert_int_equal(idp_workqueue_delayed_len(q), 3);
  char *k = idp_workqueue_get(q);
  assert_string_equal(k, "now");
  idp_workqueue_done(q, k);
  free(k);
  k = idp_workqueue_get(q);
  assert_string_equal(k, "early");
  assert_true(now_ms() - t0 >= 40);
  idp_workqueue_done(q, k);
  free(k);
  k = idp_workqueue_get(q);
  assert_string_equal(k, "late"); /* at 120 ms, before "mid" (200 ms) */
  assert_true(now_ms() - t0 >= 120);
  idp_workqueue_done(q, k);
  free(k);
  k = idp_workqueue_get(q);
  assert_string_equal(k, "mid");
  idp_workqueue_done(q, k);
  free(k);
  /* An earlier deadline replaces a later one. */
  idp_workqueue_add_after(q, "x", 5000);
  idp_workqueue_add_after(q, "x", 10);
  k = idp_workqueue_get_timeout(q, 1000);
  assert_non_null(k);
  assert_string_equal(k, "x");
  idp_workqueue_done(q, k);
  free(k);
  assert_null(idp_workqueue_get_timeout(q, 30)); /* the stale 5 s entry is not live */
  assert_int_equal(idp_workqueue_delayed_len(q), 0);
  idp_workqueue_free(q);
}

static void test_backoff_growth(void **state) {
  (void)state;
  idp_ratelimiter *r = idp_ratelimiter_new(&(idp_ratelimit_opts){.qps = -1});
  int64_t want = 5;
  for (int i = 0; i < 10; i++) {
    assert_int_equal(idp_ratelimiter_when(r, "a"), want);
    want *= 2;
  }
  assert_int_equal(idp_ratelimiter_num_requeues(r, "a"), 10);
  assert_int_equal(idp_ratelimiter_when(r, "b"), 5); /* per key */
  for (int i = 0; i < 40; i++) idp_ratelimiter_when(r, "a");
  assert_int_equal(idp_ratelimiter_when(r, "a"), 1000 * 1000); /* capped at 1000 s */
  idp_ratelimiter_forget(r, "a");
  assert_int_equal(idp_ratelimiter_num_requeues(r, "a"), 0);
  assert_int_equal(idp_ratelimiter_when(r, "a"), 5);
  idp_ratelimiter_free(r);
}

static void test_token_bucket(void **state) {
  (void)state;
  /* Burst 3 at 10 qps: the 4th..6th distinct keys wait ~100, 200, 300 ms. */
  idp_ratelimiter *r = idp_ratelimiter_new(&(idp_ratelimit_opts){.qps = 10, .burst = 3,
                                                                 .base_ms = 1});
  assert_int_equal(idp_ratelimiter_when(r, "a"), 1);
  assert_int_equal(idp_ratelimiter_when(r, "b"), 1);
  assert_int_equal(idp_ratelimiter_when(r, "c"), 1);
  int64_t d4 = idp_ratelimiter_when(r, "d");
  int64_t d5 = idp_ratelimiter_when(r, "e");
  assert_true(d4 >= 90 && d4 <= 100);
  assert_true(d5 >= 190 && d5 <= 200);
  idp_ratelimiter_free(r);
}

static void test_rate_limited_queue(void **state) {
  (void)state;
  idp_workqueue *q = idp_workqueue_new("t", &(idp_ratelimit_opts){.base_ms = 20, .qps = -1});
  int64_t t0 = now_ms();
  idp_workqueue_add_rate_limited(q, "k"); /* 20 ms */
  char *k = idp_workqueue_get(q);
  assert_true(now_ms() - t0 >= 20);
  idp_workqueue_done(q, k);
  idp_workqueue_add_rate_limited(q, k); /* 40 ms */
  t0 = now_ms();
  free(k);
  k = idp_workqueue_get(q);
  assert_true(now_ms() - t0 >= 40);
  assert_int_equal(idp_workqueue_num_requeues(q, k), 2);
  idp_workqueue_forget(q, k);
  assert_int_equal(idp_workqueue_num_requeues(q, k), 0);
  idp_workqueue_done(q, k);
  free(k);
  idp_workqueue_free(q);
}

typedef struct worker_arg {
  idp_workqueue *q;
  int got;
  bool returned;
} worker_arg;

static void *worker(void *p) {
  worker_arg *a = p;
  char *k;
  while ((k = idp_workqueue_get(a->q))) {
    __atomic_fetch_add(&a->got, 1, __ATOMIC_SEQ_CST);
    idp_workqueue_done(a->q, k);
    free(k);
  }
  a->returned = true;
  return NULL;
}

static void test_shutdown_wakes_workers(void **state) {
  (void)state;
  idp_workqueue *q = idp_workqueue_new("t", NULL);
  worker_arg a[3] = {{q, 0, false}, {q, 0, false}, {q, 0, false}};
  pthread_t th[3];
  for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, worker, &a[i]);
  char key[32];
  for (int i = 0; i < 50; i++) {
    snprintf(key, sizeof key, "k%d", i);
    idp_workqueue_add(q, key);
  }
  /* Wait until all were processed. */
  int total = 0;
  for (int i = 0; i < 200 && total < 50; i++) {
    total = 0;
    for (int j = 0; j < 3; j++) total += __atomic_load_n(&a[j].got, __ATOMIC_SEQ_CST);
    if (total < 50) usleep(5000);
  }
  assert_int_equal(total, 50);
  idp_workqueue_add_after(q, "never", 60000);
  idp_workqueue_shutdown(q);
  for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < 3; i++) assert_true(a[i].returned);
  assert_true(idp_workqueue_shutting_down(q));
  idp_workqueue_add(q, "ignored");
  assert_int_equal(idp_workqueue_len(q), 0);
  assert_null(idp_workqueue_get(q));
  idp_workqueue_free(q);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dedup_fifo),
      cmocka_unit_test(test_requeue_while_processing),
      cmocka_unit_test(test_add_after_ordering),
      cmocka_unit_test(test_backoff_growth),
      cmocka_unit_test(test_token_bucket),
      cmocka_unit_test(test_rate_limited_queue),
      cmocka_unit_test(test_shutdown_wakes_workers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
