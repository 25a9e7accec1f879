/* Lease leader election against fakeapi: one leader, takeover after
 * release and after expiry, optimistic-concurrency races. */
#include "../test.h"
#include "client/leader.h"
#include "core/json.h"
#include "core/log.h"
#include "fakeapi.h"

#include <pthread.h>
#include <unistd.h>

typedef struct fixture {
  fakeapi *f;
  idp_kclient *c;
} fixture;

static int setup(void **state) {
  fixture *x = calloc(1, sizeof *x);
  x->f = fakeapi_start();
  if (!x->f) return -1;
  idp_kconfig cfg = {.server = (char *)fakeapi_url(x->f)};
  idp_err e = IDP_ERR_INIT;
  if (idp_kclient_new(&cfg, &(idp_kclient_opts){.timeout_ms = 5000}, &x->c, &e)) return -1;
  *state = x;
  return 0;
}

static int teardown(void **state) {
  fixture *x = *state;
  idp_kclient_free(x->c);
  fakeapi_stop(x->f);
  free(x);
  return 0;
}

typedef struct cbs {
  int started, stopped, new_leader;
  char last_leader[64];
} cbs;

static void started(void *ud) { __atomic_fetch_add(&((cbs *)ud)->started, 1, __ATOMIC_SEQ_CST); }
static void stopped(void *ud) { __atomic_fetch_add(&((cbs *)ud)->stopped, 1, __ATOMIC_SEQ_CST); }
static void new_leader(void *ud, const char *id) {
  cbs *c = ud;
  c->new_leader++; /* elector thread only */
  snprintf(c->last_leader, sizeof c->last_leader, "%s", id);
}

static idp_leader *elector(fixture *x, const char *id, bool release, cbs *cb) {
  idp_leader_opts o = {.ns = "idp-system", .name = "idp-controller", .identity = id,
                       .lease_duration_ms = 1000, .renew_deadline_ms = 600,
                       .retry_period_ms = 50, .release_on_stop = release,
                       .on_started_leading = started, .on_stopped_leading = stopped,
                       .on_new_leader = new_leader, .ud = cb};
  idp_leader *l = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_leader_new(x->c, &o, &l, &e), IDP_OK);
  return l;
}

static bool wait_leader(idp_leader *l, bool want, int ms) {
  for (int i = 0; i < ms / 10; i++) {
    if (idp_leader_is_leader(l) == want) return true;
    usleep(10000);
  }
  return idp_leader_is_leader(l) == want;
}

static json_t *get_lease(fixture *x) {
  idp_kref r = {"coordination.k8s.io", "v1", "leases", "idp-system", "idp-controller", NULL};
  json_t *o = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_kclient_get(x->c, &r, &o, &e), IDP_OK);
  return o;
}

static void test_single_leader_and_release(void **state) {
  fixture *x = *state;
  cbs ca = {0}, cb = {0};
  idp_leader *a = elector(x, "a", true, &ca), *b = elector(x, "b", true, &cb);
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_leader_start(a, &e), IDP_OK);
  assert_true(wait_leader(a, true, 2000));
  assert_int_equal(idp_leader_start(b, &e), IDP_OK);
  usleep(300 * 1000); /* b tries several times, the lease is valid */
  assert_false(idp_leader_is_leader(b));
  char h[64];
  idp_leader_holder(b, h, sizeof h);
  assert_string_equal(h, "a");
  json_t *lease = get_lease(x);
  assert_string_equal(idp_json_get_str(lease, "spec", "holderIdentity", NULL), "a");
  assert_int_equal(json_integer_value(idp_json_get(lease, "spec", "leaseDurationSeconds", NULL)),
                   1);
  const char *rt = idp_json_get_str(lease, "spec", "renewTime", NULL);
  assert_non_null(rt);
  assert_int_equal(strlen(rt), strlen("2026-01-02T03:04:05.000000Z"));
  json_decref(lease);
  /* Renewals keep a in charge. */
  usleep(1200 * 1000);
  assert_true(idp_leader_is_leader(a));
  assert_false(idp_leader_is_leader(b));
  /* a steps down and releases: b takes over well before the lease expiry. */
  idp_leader_stop(a);
  assert_int_equal(ca.started, 1);
  assert_int_equal(ca.stopped, 1);
  assert_true(wait_leader(b, true, 500));
  lease = get_lease(x);
  assert_string_equal(idp_json_get_str(lease, "spec", "holderIdentity", NULL), "b");
  assert_int_equal(json_integer_value(idp_json_get(lease, "spec", "leaseTransitions", NULL)), 1);
  json_decref(lease);
  idp_leader_stop(b);
  assert_string_equal(cb.last_leader, "b");
  idp_leader_free(a);
  idp_leader_free(b);
}

static void test_takeover_after_expiry(void **state) {
  fixture *x = *state;
  cbs ca = {0}, cb = {0};
  idp_leader *a = elector(x, "a", false, &ca), *b = elector(x, "b", false, &cb);
  idp_err e = IDP_ERR_INIT;
  bool lead = false;
  /* Step by step: a takes the free lease, b sees it held. */
  assert_int_equal(idp_leader_try_acquire_or_renew(a, &lead, &e), IDP_OK);
  assert_true(lead);
  assert_int_equal(idp_leader_try_acquire_or_renew(b, &lead, &e), IDP_OK);
  assert_false(lead);
  assert_int_equal(idp_leader_try_acquire_or_renew(a, &lead, &e), IDP_OK); /* renew */
  assert_true(lead);
  /* a "crashes" (no more renewals): b must wait a full lease duration
   * from when it last saw the record change. */
  assert_int_equal(idp_leader_try_acquire_or_renew(b, &lead, &e), IDP_OK);
  assert_false(lead);
  usleep(500 * 1000);
  assert_int_equal(idp_leader_try_acquire_or_renew(b, &lead, &e), IDP_OK);
  assert_false(lead);
  usleep(600 * 1000);
  assert_int_equal(idp_leader_try_acquire_or_renew(b, &lead, &e), IDP_OK);
  assert_true(lead);
  /* a comes back: it sees b's fresh lease and does not take it. */
  assert_int_equal(idp_leader_try_acquire_or_renew(a, &lead, &e), IDP_OK);
  assert_false(lead);
  idp_leader_free(a);
  idp_leader_free(b);
}

static void test_conflict_and_errors(void **state) {
  fixture *x = *state;
  cbs ca = {0};
  idp_leader *a = elector(x, "a", false, &ca);
  idp_err e = IDP_ERR_INIT;
  bool lead = true;
  /* The API refuses: the error is returned, not leadership. */
  fakeapi_fail_next(x->f, 1, 403, "Forbidden", "leases is forbidden");
  assert_int_equal(idp_leader_try_acquire_or_renew(a, &lead, &e), IDP_EFORBIDDEN);
  assert_false(lead);
  assert_int_equal(idp_leader_try_acquire_or_renew(a, &lead, &e), IDP_OK);
  assert_true(lead);
  /* Someone else wrote the lease between our GET and PUT: Conflict. */
  json_t *l = get_lease(x);
  fakeapi_put(x->f, "leases", l); /* bumps the RV behind our back... */
  json_decref(l);
  /* ...our next renew re-reads, so it still succeeds; a stale PUT would
   * not: simulate one directly. */
  l = get_lease(x);
  fakeapi_put(x->f, "leases", l);
  idp_kref r = {"coordination.k8s.io", "v1", "leases", "idp-system", "idp-controller", NULL};
  assert_int_equal(idp_kclient_update(x->c, &r, l, NULL, NULL, &e), IDP_ECONFLICT);
  json_decref(l);
  assert_int_equal(idp_leader_try_acquire_or_renew(a, &lead, &e), IDP_OK);
  assert_true(lead);
  idp_leader_free(a);

  /* Option validation. */
  idp_leader *bad = NULL;
  idp_leader_opts o = {.ns = "x", .name = "y", .lease_duration_ms = 1000,
                       .renew_deadline_ms = 1000};
  assert_int_equal(idp_leader_new(x->c, &o, &bad, &e), IDP_EINVAL);
  assert_non_null(strstr(e.msg, "renew deadline"));
  o = (idp_leader_opts){.name = "y"};
  assert_int_equal(idp_leader_new(x->c, &o, &bad, &e), IDP_EINVAL);
  assert_null(bad);
}

int main(void) {
  idp_log_set_level(IDP_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_single_leader_and_release, setup, teardown),
      cmocka_unit_test_setup_teardown(test_takeover_after_expiry, setup, teardown),
      cmocka_unit_test_setup_teardown(test_conflict_and_errors, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
