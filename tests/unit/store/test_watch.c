/* Store watches: blocking waits, the eventfd, catch-up from the database
 * and the ring with writes in between (no gap, no duplicate), future
 * revisions, store shutdown, and a reader racing many writers. */
#include "../test.h"

#include <poll.h>
#include <pthread.h>

#include "fixture.h"

static bool readable(idp_watch *w) {
  struct pollfd p = {.fd = idp_watch_fd(w), .events = POLLIN};
  return poll(&p, 1, 0) == 1;
}

static void update_ok(idp_store *s, const char *res, const char *name) {
  json_t *o = cm(name, "u");
  idp_err e = IDP_ERR_INIT;
  idp_code c = idp_store_update(s, res, "default", name, o, 0, NULL, &e);
  if (c) fprintf(stderr, "update %s: %s\n", name, e.msg);
  assert_int_equal(c, IDP_OK);
  json_decref(o);
}

typedef struct waiter {
  idp_watch *w;
  idp_code code;
  int64_t rev;
  char msg[IDP_ERR_MSG_MAX];
} waiter;

static void *wait_one(void *arg) {
  waiter *wt = arg;
  idp_event *ev = NULL;
  idp_err e = IDP_ERR_INIT;
  wt->code = idp_watch_next(wt->w, -1, &ev, &e);
  wt->rev = ev ? ev->rev : -1;
  snprintf(wt->msg, sizeof wt->msg, "%s", e.msg);
  idp_event_free(ev);
  return NULL;
}

static void test_blocking_next(void **state) {
  fx *f = *state;
  idp_err e = IDP_ERR_INIT;
  waiter wt = {0};
  assert_int_equal(idp_store_watch(f->s, "core/configmaps", NULL, 0, 10, &wt.w, &e), IDP_OK);
  assert_false(readable(wt.w));
  pthread_t th;
  pthread_create(&th, NULL, wait_one, &wt);
  usleep(20000);
  create_ok(f->s, "core/configmaps", "default", "a");
  pthread_join(th, NULL);
  assert_int_equal(wt.code, IDP_OK);
  assert_int_equal(wt.rev, 1);
  assert_false(readable(wt.w));
  idp_watch_close(wt.w);
}

static void test_close_store_wakes_watchers(void **state) {
  fx *f = *state;
  idp_err e = IDP_ERR_INIT;
  waiter wt = {0};
  idp_watch *idle = NULL;
  assert_int_equal(idp_store_watch(f->s, "core/configmaps", NULL, 0, 10, &wt.w, &e), IDP_OK);
  assert_int_equal(idp_store_watch(f->s, "core/secrets", NULL, 0, 10, &idle, &e), IDP_OK);
  pthread_t th;
  pthread_create(&th, NULL, wait_one, &wt);
  usleep(20000);
  idp_store_close(f->s);
  f->s = NULL;
  pthread_join(th, NULL);
  assert_int_equal(wt.code, IDP_EGONE);
  assert_non_null(strstr(wt.msg, "shutting down"));
  /* watches outlive the store handle and are closed afterwards */
  assert_true(readable(idle));
  idp_event *ev = NULL;
  assert_int_equal(idp_watch_next(idle, 0, &ev, &e), IDP_EGONE);
  idp_watch_close(wt.w);
  idp_watch_close(idle);
  f->s = open_at(f->path, 0);
}

static void test_future_revision(void **state) {
  fx *f = *state;
  idp_err e = IDP_ERR_INIT;
  create_ok(f->s, "core/configmaps", "default", "a"); /* 1 */
  idp_watch *w = NULL;
  assert_int_equal(idp_store_watch(f->s, "core/configmaps", NULL, 5, 10, &w, &e), IDP_OK);
  for (int i = 0; i < 4; i++) update_ok(f->s, "core/configmaps", "a"); /* 2..5 */
  assert_null(next_ev(w, 0));
  update_ok(f->s, "core/configmaps", "a"); /* 6 */
  idp_event *ev = next_ev(w, 0);
  assert_non_null(ev);
  assert_int_equal(ev->rev, 6);
  idp_event_free(ev);
  idp_watch_close(w);
  assert_int_equal(idp_store_watch(f->s, "core/configmaps", NULL, -1, 10, &w, &e), IDP_EINVAL);
}

/* Replays `total` revisions after `from` while writing more between reads;
 * checks the watcher sees exactly the matching revisions, in order. */
static void replay_with_writes(idp_store *s, int64_t from, size_t max_queue, const char *ns) {
  idp_err e = IDP_ERR_INIT;
  idp_watch *w = NULL;
  assert_int_equal(idp_store_watch(s, "core/configmaps", ns, from, max_queue, &w, &e), IDP_OK);
  int64_t last = from;
  int extra = 0;
  static int call;
  call++;
  for (;;) {
    idp_event *ev = next_ev(w, 0);
    if (!ev) break;
    assert_true(ev->rev > last);
    assert_string_equal(ev->resource, "core/configmaps");
    if (ns) assert_string_equal(ev->ns, ns);
    assert_int_equal(rv_of(ev->obj), ev->rev);
    last = ev->rev;
    idp_event_free(ev);
    /* writers keep going while the watcher catches up */
    if (extra < 40 && ++extra % 4 == 0) {
      char n[32];
      snprintf(n, sizeof n, "extra%d-%d", call, extra);
      create_ok(s, extra % 8 ? "core/configmaps" : "core/secrets", "default", n);
    }
  }
  assert_int_equal(extra, 40);
  /* everything matching was seen: the count of matching events equals the
   * number of matching revisions in history */
  json_t *items;
  int64_t rev;
  char *cont;
  assert_int_equal(idp_store_list(s, "core/configmaps", NULL, &items, &rev, &cont, &e), IDP_OK);
  json_decref(items);
  if (!ns) {
    /* the last configmap write is the newest configmap revision */
    json_t *got = NULL;
    char n[32];
    snprintf(n, sizeof n, "extra%d-36", call);
    assert_int_equal(idp_store_get(s, "core/configmaps", "default", n, &got, &e), IDP_OK);
    assert_int_equal(last, rv_of(got));
    json_decref(got);
  }
  idp_watch_close(w);
}

static int count_events(idp_store *s, int64_t from, const char *ns, int64_t *first,
                        int64_t *lastp) {
  idp_err e = IDP_ERR_INIT;
  idp_watch *w = NULL;
  assert_int_equal(idp_store_watch(s, "core/configmaps", ns, from, 100000, &w, &e), IDP_OK);
  int n = 0;
  int64_t prev = from;
  idp_event *ev;
  while ((ev = next_ev(w, 0))) {
    assert_int_equal(ev->rev > prev, 1);
    if (n == 0 && first) *first = ev->rev;
    prev = ev->rev;
    n++;
    idp_event_free(ev);
  }
  if (lastp) *lastp = prev;
  idp_watch_close(w);
  return n;
}

static void test_catch_up_from_db_and_ring(void **state) {
  fx *f = *state;
  /* 300 configmap writes interleaved with 100 secret writes, two namespaces */
  for (int i = 0; i < 300; i++) {
    char n[32];
    snprintf(n, sizeof n, "c%03d", i);
    create_ok(f->s, "core/configmaps", i % 3 ? "default" : "other", n);
    if (i % 3 == 0) {
      snprintf(n, sizeof n, "s%03d", i);
      create_ok(f->s, "core/secrets", "default", n);
    }
  }
  /* from the ring */
  assert_int_equal(count_events(f->s, 0 + 1, NULL, NULL, NULL), 299);
  replay_with_writes(f->s, 1, 7, NULL);
  /* from the database (the ring is empty after reopening) */
  idp_store_close(f->s);
  f->s = open_at(f->path, 0);
  assert_int_equal(count_events(f->s, 1, NULL, NULL, NULL), 299 + 5);
  assert_int_equal(count_events(f->s, 1, "other", NULL, NULL), 99);
  replay_with_writes(f->s, 1, 7, NULL);
  replay_with_writes(f->s, 3, 5, "default");
}

static void test_ring_overflow(void **state) {
  fx *f = *state;
  /* more events than the in-memory ring holds: the start comes from the
   * database, the rest from the ring, seamlessly */
  for (int i = 0; i < 5000; i++) {
    char n[32];
    snprintf(n, sizeof n, "c%05d", i);
    create_ok(f->s, "core/configmaps", "default", n);
  }
  int64_t first = 0, last = 0;
  assert_int_equal(count_events(f->s, 10, NULL, &first, &last), 4990);
  assert_int_equal(first, 11);
  assert_int_equal(last, 5000);
  /* batches smaller than the gap between database and ring */
  idp_err e = IDP_ERR_INIT;
  idp_watch *w = NULL;
  assert_int_equal(idp_store_watch(f->s, "core/configmaps", NULL, 100, 3, &w, &e), IDP_OK);
  for (int64_t r = 101; r <= 5000; r++) {
    idp_event *ev = next_ev(w, 0);
    assert_non_null(ev);
    assert_int_equal(ev->rev, r);
    idp_event_free(ev);
  }
  assert_null(next_ev(w, 0));
  idp_watch_close(w);
}

static void test_fd_semantics(void **state) {
  fx *f = *state;
  idp_err e = IDP_ERR_INIT;
  idp_watch *w = NULL;
  assert_int_equal(idp_store_watch(f->s, "core/configmaps", NULL, 0, 2, &w, &e), IDP_OK);
  assert_false(readable(w));
  create_ok(f->s, "core/secrets", "default", "x"); /* another resource */
  assert_false(readable(w));
  create_ok(f->s, "core/configmaps", "default", "a");
  create_ok(f->s, "core/configmaps", "default", "b");
  assert_true(readable(w));
  idp_event *ev = next_ev(w, 0);
  idp_event_free(ev);
  assert_true(readable(w)); /* one left */
  ev = next_ev(w, 0);
  idp_event_free(ev);
  assert_false(readable(w));
  /* overflow: readable, and next reports the drop */
  for (int i = 0; i < 3; i++) {
    char n[8];
    snprintf(n, sizeof n, "o%d", i);
    create_ok(f->s, "core/configmaps", "default", n);
  }
  assert_true(readable(w));
  assert_int_equal(idp_watch_next(w, 0, &ev, &e), IDP_EGONE);
  assert_int_equal(idp_watch_next(w, 100, &ev, &e), IDP_EGONE); /* stays gone */
  idp_store_stats st;
  idp_store_get_stats(f->s, &st);
  assert_int_equal(st.watches_dropped, 1);
  assert_int_equal(st.watches_open, 0);
  assert_int_equal(st.ring_events, 6);
  assert_true(st.ring_bytes > 6 * 50);
  idp_watch_close(w);
  /* DELETED from history carries the last state */
  assert_int_equal(idp_store_delete(f->s, "core/configmaps", "default", "a", 0, NULL, &e), IDP_OK);
  idp_store_close(f->s);
  f->s = open_at(f->path, 0);
  int64_t rev = idp_store_revision(f->s);
  assert_int_equal(idp_store_watch(f->s, "core/configmaps", NULL, rev - 1, 2, &w, &e), IDP_OK);
  assert_true(readable(w));
  ev = next_ev(w, 0);
  assert_int_equal(ev->type, IDP_EV_DELETED);
  assert_string_equal(ev->name, "a");
  assert_string_equal(json_string_value(json_object_get(json_object_get(ev->obj, "data"), "k")),
                      "v");
  assert_int_equal(rv_of(ev->obj), rev);
  idp_event_free(ev);
  assert_false(readable(w) && next_ev(w, 0) != NULL);
  idp_watch_close(w);
}

/* ---- a watcher racing writers ------------------------------------------- */

#define WRITERS 3
#define WRITES 300

typedef struct wctx {
  idp_store *s;
  int id;
} wctx;

static void *writer(void *arg) {
  wctx *c = arg;
  for (int i = 0; i < WRITES; i++) {
    char n[32];
    snprintf(n, sizeof n, "w%d-%d", c->id, i);
    json_t *o = cm(n, "v");
    idp_err e = IDP_ERR_INIT;
    if (idp_store_create(c->s, c->id == 0 ? "core/secrets" : "core/configmaps", "default", n, o,
                         NULL, &e) != IDP_OK)
      abort();
    json_decref(o);
  }
  return NULL;
}

static void test_watch_races_writers(void **state) {
  fx *f = *state;
  idp_err e = IDP_ERR_INIT;
  for (int i = 0; i < 50; i++) {
    char n[16];
    snprintf(n, sizeof n, "pre%d", i);
    create_ok(f->s, "core/configmaps", "default", n);
  }
  pthread_t th[WRITERS];
  wctx c[WRITERS];
  for (int i = 0; i < WRITERS; i++) {
    c[i].s = f->s;
    c[i].id = i;
    pthread_create(&th[i], NULL, writer, &c[i]);
  }
  /* start from the past while writes go on: catch-up, then live delivery
   * (the queue is large enough that the watcher is never dropped) */
  idp_watch *w = NULL;
  assert_int_equal(idp_store_watch(f->s, "core/configmaps", NULL, 10, 1000, &w, &e), IDP_OK);
  int want = 40 + (WRITERS - 1) * WRITES, got = 0;
  int64_t prev = 10;
  while (got < want) {
    idp_event *ev = NULL;
    assert_int_equal(idp_watch_next(w, 5000, &ev, &e), IDP_OK);
    assert_non_null(ev); /* 5 s without an event means one was lost */
    assert_true(ev->rev > prev);
    assert_string_equal(ev->resource, "core/configmaps");
    prev = ev->rev;
    got++;
    idp_event_free(ev);
  }
  for (int i = 0; i < WRITERS; i++) pthread_join(th[i], NULL);
  assert_null(next_ev(w, 50));
  idp_watch_close(w);
  assert_int_equal(idp_store_revision(f->s), 50 + WRITERS * WRITES);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_blocking_next, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close_store_wakes_watchers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_future_revision, setup, teardown),
      cmocka_unit_test_setup_teardown(test_catch_up_from_db_and_ring, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ring_overflow, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fd_semantics, setup, teardown),
      cmocka_unit_test_setup_teardown(test_watch_races_writers, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
