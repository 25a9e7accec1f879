#include "core/common.h"
#include "client/leader.h"
#include "client/watch.h"
#include "core/json.h"
#include "core/log.h"

#include <pthread.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct idp_leader {
  idp_kclient *c;
  char *ns, *name, *identity;
  long lease_ms, renew_ms, retry_ms;
  bool release_on_stop;
  idp_leader_opts cb; /* callbacks only */

  pthread_mutex_t mu; /* guards the fields below */
  bool leading;
  char holder[256];
  char observed_renew[64]; /* renewTime of the last observed record */
  int64_t observed_at;     /* our monotonic ms when the record last changed */

  idp_kcancel *cancel;
  pthread_t th;
  bool running;
  unsigned seed;
};

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *sdup(const char *s) {
  size_t n = strlen(s);
  char *p = malloc(n + 1);
  if (p) memcpy(p, s, n + 1);
  return p;
}

/* metav1.MicroTime: RFC 3339 with microseconds, UTC. */
static void micro_now(char *buf, size_t n) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  struct tm tm;
  gmtime_r(&tv.tv_sec, &tm);
  char base[32];
  strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf, n, "%s.%06ldZ", base, (long)tv.tv_usec);
}

idp_code idp_leader_new(idp_kclient *c, const idp_leader_opts *o, idp_leader **out, idp_err *e) {
  if (!o->ns || !*o->ns || !o->name || !*o->name)
    return idp_err_set(e, IDP_EINVAL, "leader election: lease namespace and name are required");
  long lease = o->lease_duration_ms > 0 ? o->lease_duration_ms : 15000;
  long renew = o->renew_deadline_ms > 0 ? o->renew_deadline_ms : 10000;
  long retry = o->retry_period_ms > 0 ? o->retry_period_ms : 2000;
  if (renew >= lease)
    return idp_err_set(e, IDP_EINVAL,
                       "leader election %s/%s: renew deadline (%ld ms) must be shorter than the "
                       "lease duration (%ld ms)", o->ns, o->name, renew, lease);
  if (retry >= renew)
    return idp_err_set(e, IDP_EINVAL,
                       "leader election %s/%s: retry period (%ld ms) must be shorter than the "
                       "renew deadline (%ld ms)", o->ns, o->name, retry, renew);
  idp_leader *l = calloc(1, sizeof *l);
  if (!l) return idp_err_set(e, IDP_ENOMEM, "leader election: out of memory");
  char ident[300];
  if (o->identity && *o->identity) {
    snprintf(ident, sizeof ident, "%s", o->identity);
  } else {
    char host[256] = "idp";
    gethostname(host, sizeof host - 1);
    snprintf(ident, sizeof ident, "%s_%ld", host, (long)getpid());
  }
  l->c = c;
  l->ns = sdup(o->ns);
  l->name = sdup(o->name);
  l->identity = sdup(ident);
  l->lease_ms = lease;
  l->renew_ms = renew;
  l->retry_ms = retry;
  l->release_on_stop = o->release_on_stop;
  l->cb = *o;
  l->cb.ns = l->cb.name = l->cb.identity = NULL;
  l->cancel = idp_kcancel_new();
  l->seed = (unsigned)getpid() ^ (unsigned)(uintptr_t)l;
  pthread_mutex_init(&l->mu, NULL);
  if (!l->ns || !l->name || !l->identity || !l->cancel) {
    idp_leader_free(l);
    return idp_err_set(e, IDP_ENOMEM, "leader election: out of memory");
  }
  *out = l;
  return IDP_OK;
}

void idp_leader_free(idp_leader *l) {
  if (!l) return;
  idp_leader_stop(l);
  idp_kcancel_free(l->cancel);
  pthread_mutex_destroy(&l->mu);
  free(l->ns);
  free(l->name);
  free(l->identity);
  free(l);
}

bool idp_leader_is_leader(idp_leader *l) {
  pthread_mutex_lock(&l->mu);
  bool b = l->leading;
  pthread_mutex_unlock(&l->mu);
  return b;
}

void idp_leader_holder(idp_leader *l, char *buf, size_t n) {
  pthread_mutex_lock(&l->mu);
  snprintf(buf, n, "%s", l->holder);
  pthread_mutex_unlock(&l->mu);
}

static idp_kref lease_ref(idp_leader *l) {
  return (idp_kref){"coordination.k8s.io", "v1", "leases", l->ns, l->name, NULL};
}

/* Records what we saw; calls on_new_leader when the holder changes. */
static void observe(idp_leader *l, const char *holder, const char *renew) {
  bool changed_holder;
  pthread_mutex_lock(&l->mu);
  changed_holder = strcmp(l->holder, holder) != 0;
  if (changed_holder || strcmp(l->observed_renew, renew) != 0) {
    snprintf(l->holder, sizeof l->holder, "%s", holder);
    snprintf(l->observed_renew, sizeof l->observed_renew, "%s", renew);
    l->observed_at = mono_ms();
  }
  pthread_mutex_unlock(&l->mu);
  if (changed_holder && *holder && l->cb.on_new_leader) l->cb.on_new_leader(l->cb.ud, holder);
}

static json_t *lease_spec(const char *holder, const char *acquire, const char *now,
                          json_int_t transitions, long duration_s) {
  return json_pack("{s:s,s:I,s:s,s:s,s:I}", "holderIdentity", holder, "leaseDurationSeconds",
                   (json_int_t)duration_s, "acquireTime", acquire, "renewTime", now,
                   "leaseTransitions", transitions);
}

idp_code idp_leader_try_acquire_or_renew(idp_leader *l, bool *leading, idp_err *e) {
  *leading = false;
  idp_kref r = lease_ref(l);
  char now[64];
  micro_now(now, sizeof now);
  long dur_s = (l->lease_ms + 999) / 1000;
  json_t *cur = NULL;
  idp_code rc = idp_kclient_get(l->c, &r, &cur, e);
  if (rc == IDP_ENOTFOUND) {
    json_t *lease = json_pack("{s:s,s:s,s:{s:s,s:s},s:o}", "apiVersion", "coordination.k8s.io/v1",
                              "kind", "Lease", "metadata", "name", l->name, "namespace", l->ns,
                              "spec", lease_spec(l->identity, now, now, 0, dur_s));
    rc = idp_kclient_create(l->c, &r, lease, NULL, NULL, e);
    json_decref(lease);
    if (rc) return rc; /* AlreadyExists: someone was faster */
    observe(l, l->identity, now);
    *leading = true;
    return IDP_OK;
  }
  if (rc) return rc;
  json_t *spec = json_object_get(cur, "spec");
  const char *holder = idp_json_get_str(spec, "holderIdentity", NULL);
  const char *renew = idp_json_get_str(spec, "renewTime", NULL);
  const char *acquire = idp_json_get_str(spec, "acquireTime", NULL);
  json_int_t transitions = json_integer_value(json_object_get(spec, "leaseTransitions"));
  json_int_t rec_dur = json_integer_value(json_object_get(spec, "leaseDurationSeconds"));
  if (!holder) holder = "";
  observe(l, holder, renew ? renew : "");
  bool mine = strcmp(holder, l->identity) == 0;
  if (*holder && !mine) {
    /* Another holder: valid until the record's lease duration after WE
     * saw it change (client-go: observedTime + LeaseDurationSeconds). */
    pthread_mutex_lock(&l->mu);
    int64_t seen = l->observed_at;
    pthread_mutex_unlock(&l->mu);
    int64_t dur_ms = rec_dur > 0 ? (int64_t)rec_dur * 1000 : l->lease_ms;
    if (mono_ms() < seen + dur_ms) {
      json_decref(cur);
      return IDP_OK;
    }
  }
  json_t *upd = json_deep_copy(cur);
  /* holder/acquire borrow from cur: release it only after use. */
  json_object_set_new(upd, "spec",
                      lease_spec(l->identity, mine && acquire ? acquire : now, now,
                                 mine ? transitions : transitions + 1, dur_s));
  json_decref(cur);
  rc = idp_kclient_update(l->c, &r, upd, NULL, NULL, e); /* RV in upd: optimistic */
  json_decref(upd);
  if (rc) return rc;
  observe(l, l->identity, now);
  *leading = true;
  return IDP_OK;
}

/* Gives the Lease up: empty holder, so others need not wait it out. */
static void release(idp_leader *l) {
  idp_kref r = lease_ref(l);
  idp_err e = IDP_ERR_INIT;
  json_t *cur = NULL;
  if (idp_kclient_get(l->c, &r, &cur, &e)) return;
  const char *holder = idp_json_get_str(cur, "spec", "holderIdentity", NULL);
  if (holder && strcmp(holder, l->identity) == 0) {
    char now[64];
    micro_now(now, sizeof now);
    json_t *spec = json_object_get(cur, "spec");
    json_object_set_new(spec, "holderIdentity", json_string(""));
    json_object_set_new(spec, "leaseDurationSeconds", json_integer(1));
    json_object_set_new(spec, "renewTime", json_string(now));
    if (idp_kclient_update(l->c, &r, cur, NULL, NULL, &e))
      idp_log(IDP_LOG_WARN, "leader election: release failed", "lease", l->name, "error", e.msg,
              NULL);
  }
  json_decref(cur);
}

static long jittered(idp_leader *l) {
  return l->retry_ms + (long)(rand_r(&l->seed) % (unsigned)(l->retry_ms / 5 + 1));
}

static void set_leading(idp_leader *l, bool v) {
  pthread_mutex_lock(&l->mu);
  bool was = l->leading;
  l->leading = v;
  pthread_mutex_unlock(&l->mu);
  if (v && !was) {
    idp_log(IDP_LOG_INFO, "leader election: acquired", "lease", l->name, "identity",
            l->identity, NULL);
    if (l->cb.on_started_leading) l->cb.on_started_leading(l->cb.ud);
  } else if (!v && was) {
    idp_log(IDP_LOG_WARN, "leader election: lost", "lease", l->name, "identity", l->identity,
            NULL);
    if (l->cb.on_stopped_leading) l->cb.on_stopped_leading(l->cb.ud);
  }
}

static void *run(void *arg) {
  idp_leader *l = arg;
  int64_t last_renew = 0;
  while (!idp_kcancel_fired(l->cancel)) {
    bool got = false;
    idp_err e = IDP_ERR_INIT;
    idp_code rc = idp_leader_try_acquire_or_renew(l, &got, &e);
    if (idp_kcancel_fired(l->cancel)) break;
    if (got) {
      last_renew = mono_ms();
      set_leading(l, true);
    } else if (idp_leader_is_leader(l)) {
      /* Keep trying until the renew deadline, then step down. */
      if (rc == IDP_OK || mono_ms() - last_renew >= l->renew_ms) set_leading(l, false);
    }
    if (rc && rc != IDP_ECONFLICT && rc != IDP_EEXIST)
      idp_log(IDP_LOG_WARN, "leader election: attempt failed", "lease", l->name, "error", e.msg,
              NULL);
    if (idp_kcancel_sleep(l->cancel, jittered(l))) break;
  }
  if (idp_leader_is_leader(l)) {
    if (l->release_on_stop) release(l);
    set_leading(l, false);
  }
  return NULL;
}

idp_code idp_leader_start(idp_leader *l, idp_err *e) {
  if (l->running || idp_kcancel_fired(l->cancel))
    return idp_err_set(e, IDP_EINVAL, "leader election %s/%s: already started", l->ns, l->name);
  int err = pthread_create(&l->th, NULL, run, l);
  if (err) return idp_err_set(e, IDP_EIO, "leader election: thread: %s", strerror(err));
  l->running = true;
  return IDP_OK;
}

void idp_leader_stop(idp_leader *l) {
  if (!l) return;
  idp_kcancel_fire(l->cancel);
  if (l->running) {
    pthread_join(l->th, NULL);
    l->running = false;
  }
}
