#include "core/common.h"

#include <pthread.h>
#include <time.h>

#include "core/json.h"
#include "core/log.h"
#include "simulate/simulate.h"

/* Work-queue keys are "<kind letter>|<ns>/<name>" so one queue serves
 * every kind. */
enum { K_DEPLOY, K_RS, K_STS, K_DS, K_JOB, K_POD, K_N };

typedef struct kind_row {
  char letter;
  const char *group, *plural, *kind;
} kind_row;

static const kind_row kinds[K_N] = {
    [K_DEPLOY] = {'d', "apps", "deployments", "Deployment"},
    [K_RS] = {'r', "apps", "replicasets", "ReplicaSet"},
    [K_STS] = {'s', "apps", "statefulsets", "StatefulSet"},
    [K_DS] = {'a', "apps", "daemonsets", "DaemonSet"},
    [K_JOB] = {'j', "batch", "jobs", "Job"},
    [K_POD] = {'p', "", "pods", "Pod"},
};

/* When the simulator first saw an object's generation: the clock of the
 * rollout / job delay.  Entries go when the object is gone. */
typedef struct timer {
  char key[600];
  char uid[64];
  long long gen;
  int64_t since_ms;
} timer;

typedef struct hctx {
  struct idp_simulate *s;
  int kind;
} hctx;

struct idp_simulate {
  idp_kclient *kc;
  long delay_ms;
  bool create_pods;
  idp_informer *inf[K_N];
  hctx hc[K_N];
  idp_controller *ctl;
  pthread_mutex_t mu;
  timer *timers;
  size_t ntimers, captimers;
  idp_simulate_stats stats;
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void now_str(char *buf, size_t n) { idp_sim_rfc3339((long long)time(NULL), buf, n); }

static void count(idp_simulate *s, unsigned long *field) {
  pthread_mutex_lock(&s->mu);
  (*field)++;
  pthread_mutex_unlock(&s->mu);
}

void idp_simulate_get_stats(idp_simulate *s, idp_simulate_stats *out) {
  pthread_mutex_lock(&s->mu);
  *out = s->stats;
  pthread_mutex_unlock(&s->mu);
}

/* ---- timers ------------------------------------------------------------ */

/* Milliseconds since the simulator first saw (key, uid, gen); a first
 * sighting of an object whose status is already complete counts as long
 * ago (`settled`), so restarts do not replay rollouts. */
static int64_t timer_age(idp_simulate *s, const char *key, const char *uid, long long gen,
                         bool settled) {
  int64_t now = now_ms();
  pthread_mutex_lock(&s->mu);
  timer *t = NULL;
  for (size_t i = 0; i < s->ntimers; i++)
    if (!strcmp(s->timers[i].key, key)) t = &s->timers[i];
  if (!t) {
    if (s->ntimers == s->captimers) {
      size_t cap = s->captimers ? s->captimers * 2 : 16;
      timer *nt = realloc(s->timers, cap * sizeof *nt);
      if (!nt) {
        pthread_mutex_unlock(&s->mu);
        return INT64_MAX; /* no memory: no delay rather than no progress */
      }
      s->timers = nt;
      s->captimers = cap;
    }
    t = &s->timers[s->ntimers++];
    snprintf(t->key, sizeof t->key, "%s", key);
    t->uid[0] = 0;
    t->gen = -1;
  }
  if (strcmp(t->uid, uid) || t->gen != gen) {
    bool first = t->gen == -1;
    snprintf(t->uid, sizeof t->uid, "%s", uid);
    t->gen = gen;
    t->since_ms = first && settled ? INT64_MIN / 2 : now;
  }
  int64_t age = now - t->since_ms;
  pthread_mutex_unlock(&s->mu);
  return age;
}

static void timer_forget(idp_simulate *s, const char *key) {
  pthread_mutex_lock(&s->mu);
  for (size_t i = 0; i < s->ntimers; i++)
    if (!strcmp(s->timers[i].key, key)) {
      s->timers[i] = s->timers[--s->ntimers];
      break;
    }
  pthread_mutex_unlock(&s->mu);
}

/* ---- writes -------------------------------------------------------------- */

static idp_kref ref_of(int kind, const char *ns, const char *name, const char *sub) {
  return (idp_kref){.group = kinds[kind].group, .version = "v1", .resource = kinds[kind].plural,
                    .ns = ns, .name = name, .subresource = sub};
}

/* Merge-patches .status to exactly `desired` (keys the current status has
 * and desired lacks are nulled) when they differ.  Takes `desired`. */
static idp_code write_status(idp_simulate *s, int kind, const json_t *obj, json_t *desired,
                             idp_err *e) {
  const json_t *cur = json_object_get(obj, "status");
  idp_sim_keep_times(desired, cur);
  if (json_equal(desired, cur)) {
    json_decref(desired);
    return IDP_OK;
  }
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)cur, k, v) {
    if (!json_object_get(desired, k)) json_object_set_new(desired, k, json_null());
  }
  json_t *patch = json_pack("{s:o}", "status", desired);
  idp_kref r = ref_of(kind, idp_json_get_str(obj, "metadata", "namespace", NULL),
                      idp_json_get_str(obj, "metadata", "name", NULL), "status");
  idp_code rc = idp_kclient_patch(s->kc, &r, IDP_PATCH_MERGE, patch, NULL, NULL, e);
  json_decref(patch);
  if (!rc) count(s, &s->stats.status_writes);
  return rc;
}

/* Ensures metadata.annotations hold every pair of `want` (an object of
 * strings); patches once when one differs.  *obj is replaced by the
 * patched object (new reference) so later writes see it. */
static idp_code ensure_annotations(idp_simulate *s, int kind, json_t **obj, json_t *want,
                                   idp_err *e) {
  json_t *ann = idp_json_get(*obj, "metadata", "annotations", NULL);
  const char *k;
  json_t *v;
  bool same = true;
  json_object_foreach(want, k, v) {
    if (!json_equal(json_object_get(ann, k), v)) same = false;
  }
  if (same) {
    json_decref(want);
    return IDP_OK;
  }
  json_t *patch = json_pack("{s:{s:o}}", "metadata", "annotations", want);
  idp_kref r = ref_of(kind, idp_json_get_str(*obj, "metadata", "namespace", NULL),
                      idp_json_get_str(*obj, "metadata", "name", NULL), NULL);
  json_t *out = NULL;
  idp_code rc = idp_kclient_patch(s->kc, &r, IDP_PATCH_MERGE, patch, NULL, &out, e);
  json_decref(patch);
  if (rc) return rc;
  count(s, &s->stats.meta_patches);
  json_decref(*obj);
  *obj = out;
  return IDP_OK;
}

static json_t *sim_annotation(void) { return json_pack("{s:s}", IDP_SIM_ANNOTATION, "true"); }

/* ---- ownership --------------------------------------------------------- */

static bool controlled_by(const json_t *obj, const char *uid) {
  json_t *o;
  size_t i;
  json_array_foreach(idp_json_get(obj, "metadata", "ownerReferences", NULL), i, o) {
    const char *u = json_string_value(json_object_get(o, "uid"));
    if (u && uid && !strcmp(u, uid) && json_is_true(json_object_get(o, "controller"))) return true;
  }
  return false;
}

static const json_t *controller_ref(const json_t *obj, const char *kind) {
  json_t *o;
  size_t i;
  json_array_foreach(idp_json_get(obj, "metadata", "ownerReferences", NULL), i, o) {
    const char *k = json_string_value(json_object_get(o, "kind"));
    if (json_is_true(json_object_get(o, "controller")) && k && !strcmp(k, kind)) return o;
  }
  return NULL;
}

static long long revision_of(const json_t *rs) {
  const char *r =
      idp_json_get_str(rs, "metadata", "annotations", "deployment.kubernetes.io/revision", NULL);
  if (!r) return 0;
  char *end = NULL;
  long long v = strtoll(r, &end, 10);
  return end && *end == 0 && v > 0 ? v : 0;
}

/* True when the owner (kind, ns, name) still exists with `uid` and is not
 * being deleted.  Checked with a fresh GET right before creating a
 * dependent: the informer cache may still hold an owner the API already
 * removed, and a dependent created then would name a dead owner. */
static bool owner_alive(idp_simulate *s, int kind, const char *ns, const char *name,
                        const char *uid) {
  idp_kref r = ref_of(kind, ns, name, NULL);
  json_t *o = NULL;
  idp_err e = IDP_ERR_INIT;
  if (idp_kclient_get(s->kc, &r, &o, &e)) return false;
  const char *u = idp_json_get_str(o, "metadata", "uid", NULL);
  bool ok = u && !strcmp(u, uid) && !idp_json_get(o, "metadata", "deletionTimestamp", NULL);
  json_decref(o);
  return ok;
}

/* ---- Deployment ------------------------------------------------------- */

static json_t *new_replicaset(const json_t *d, const char *rsname, const char *hash,
                              long long want, long long revision) {
  const char *ns = idp_json_get_str(d, "metadata", "namespace", NULL);
  json_t *tmpl = json_deep_copy(idp_json_get(d, "spec", "template", NULL));
  if (!json_is_object(tmpl)) {
    json_decref(tmpl);
    tmpl = json_object();
  }
  json_t *tmd = idp_json_child_object(tmpl, "metadata");
  json_t *labels = idp_json_child_object(tmd, "labels");
  json_object_set_new(labels, "pod-template-hash", json_string(hash));
  json_t *sel = json_deep_copy(idp_json_get(d, "spec", "selector", NULL));
  if (!json_is_object(sel)) {
    json_decref(sel);
    sel = json_object();
  }
  json_object_set_new(idp_json_child_object(sel, "matchLabels"), "pod-template-hash",
                      json_string(hash));
  char rev[32], desired[32], maxr[32];
  snprintf(rev, sizeof rev, "%lld", revision);
  snprintf(desired, sizeof desired, "%lld", want);
  snprintf(maxr, sizeof maxr, "%lld", want + idp_sim_max_surge(d, want));
  json_t *rs = json_pack(
      "{s:s, s:s, s:{s:s, s:s, s:O, s:{s:s, s:s, s:s, s:s}, s:[{s:s, s:s, s:s, s:s, s:b, s:b}]},"
      " s:{s:I, s:o, s:o}}",
      "apiVersion", "apps/v1", "kind", "ReplicaSet", "metadata", "name", rsname, "namespace",
      ns ? ns : "", "labels", labels, "annotations", "deployment.kubernetes.io/desired-replicas",
      desired, "deployment.kubernetes.io/max-replicas", maxr, "deployment.kubernetes.io/revision",
      rev, IDP_SIM_ANNOTATION, "true", "ownerReferences", "apiVersion", "apps/v1", "kind",
      "Deployment", "name", idp_json_get_str(d, "metadata", "name", NULL), "uid",
      idp_json_get_str(d, "metadata", "uid", NULL), "controller", 1, "blockOwnerDeletion", 1,
      "spec", "replicas", (json_int_t)want, "selector", sel, "template", tmpl);
  json_t *mrs = idp_json_get(d, "spec", "minReadySeconds", NULL);
  if (rs && json_is_integer(mrs)) json_object_set(json_object_get(rs, "spec"), "minReadySeconds", mrs);
  return rs;
}

static idp_code scale_rs(idp_simulate *s, const json_t *rs, long long replicas,
                         long long revision, idp_err *e) {
  json_t *patch = json_pack("{s:{s:I}}", "spec", "replicas", (json_int_t)replicas);
  if (revision > 0) {
    char rev[32];
    snprintf(rev, sizeof rev, "%lld", revision);
    json_object_set_new(patch, "metadata",
                        json_pack("{s:{s:s}}", "annotations", "deployment.kubernetes.io/revision", rev));
  }
  idp_kref r = ref_of(K_RS, idp_json_get_str(rs, "metadata", "namespace", NULL),
                      idp_json_get_str(rs, "metadata", "name", NULL), NULL);
  idp_code rc = idp_kclient_patch(s->kc, &r, IDP_PATCH_MERGE, patch, NULL, NULL, e);
  json_decref(patch);
  if (!rc) count(s, &s->stats.scales);
  return rc;
}

static idp_code reconcile_deploy(idp_simulate *s, const char *key, json_t *d, int64_t *again,
                                 idp_err *e) {
  const char *ns = idp_json_get_str(d, "metadata", "namespace", NULL);
  const char *name = idp_json_get_str(d, "metadata", "name", NULL);
  const char *uid = idp_json_get_str(d, "metadata", "uid", NULL);
  if (!ns || !name || !uid) return IDP_OK;
  if (idp_json_get(d, "metadata", "deletionTimestamp", NULL)) return IDP_OK;
  bool paused = json_is_true(idp_json_get(d, "spec", "paused", NULL));
  long long want = idp_sim_replicas(d);
  json_t *cc = idp_json_get(d, "status", "collisionCount", NULL);
  char hash[16], rsname[320];
  idp_sim_template_hash(idp_json_get(d, "spec", "template", NULL),
                        json_is_integer(cc) ? json_integer_value(cc) : -1, hash, sizeof hash);
  snprintf(rsname, sizeof rsname, "%s-%s", name, hash);

  json_t *all = idp_informer_list(s->inf[K_RS], ns);
  json_t *newrs = NULL, *rs;
  long long maxrev = 0;
  size_t i;
  json_array_foreach(all, i, rs) {
    const char *n = idp_json_get_str(rs, "metadata", "name", NULL);
    if (n && !strcmp(n, rsname)) newrs = rs;
    if (!controlled_by(rs, uid)) continue;
    long long r = revision_of(rs);
    if (r > maxrev) maxrev = r;
  }
  idp_code rc = IDP_OK;
  if (newrs && !controlled_by(newrs, uid)) {
    rc = idp_err_set(e, IDP_ECONFLICT, "deployment %s/%s: ReplicaSet %s exists and is not controlled by it",
                     ns, name, rsname);
    goto out;
  }
  long long rev = newrs ? revision_of(newrs) : 0;
  if (!paused) {
    if (!newrs) {
      if (!owner_alive(s, K_DEPLOY, ns, name, uid)) goto out; /* its delete event follows */
      rev = maxrev + 1;
      json_t *obj = new_replicaset(d, rsname, hash, want, rev);
      idp_kref r = ref_of(K_RS, ns, NULL, NULL);
      rc = obj ? idp_kclient_create(s->kc, &r, obj, NULL, NULL, e)
               : idp_err_set(e, IDP_ENOMEM, "deployment %s/%s: building ReplicaSet", ns, name);
      json_decref(obj);
      if (rc == IDP_EEXIST) { /* the cache is behind our own create: look again soon */
        idp_err_clear(e);
        rc = IDP_OK;
        *again = 100;
        goto out;
      }
      if (rc) goto out;
      count(s, &s->stats.creates);
    } else if (idp_sim_replicas(newrs) != want || rev < maxrev) {
      /* a rollback to an old template makes its ReplicaSet the newest */
      long long nrev = rev < maxrev ? maxrev + 1 : 0;
      if ((rc = scale_rs(s, newrs, want, nrev, e))) goto out;
      if (nrev) rev = nrev;
    }
    json_array_foreach(all, i, rs) {
      if (rs == newrs || !controlled_by(rs, uid) || idp_sim_replicas(rs) == 0) continue;
      if ((rc = scale_rs(s, rs, 0, 0, e))) goto out;
    }
  } else if (newrs && idp_sim_replicas(newrs) != want) {
    if ((rc = scale_rs(s, newrs, want, 0, e))) goto out;
  }

  json_t *ann = sim_annotation();
  if (rev > 0) {
    char rv[32];
    snprintf(rv, sizeof rv, "%lld", rev);
    json_object_set_new(ann, "deployment.kubernetes.io/revision", json_string(rv));
  }
  json_incref(d);
  json_t *cur = d;
  if ((rc = ensure_annotations(s, K_DEPLOY, &cur, ann, e))) {
    json_decref(cur);
    goto out;
  }
  json_t *g = idp_json_get(cur, "metadata", "generation", NULL);
  long long gen = json_is_integer(g) ? json_integer_value(g) : 1;
  json_t *og = idp_json_get(cur, "status", "observedGeneration", NULL);
  bool settled = json_is_integer(og) && json_integer_value(og) == gen &&
                 json_integer_value(idp_json_get(cur, "status", "availableReplicas", NULL)) == want &&
                 json_integer_value(idp_json_get(cur, "status", "updatedReplicas", NULL)) == want;
  int64_t age = timer_age(s, key, uid, gen, settled);
  bool done = age >= s->delay_ms;
  char now[32];
  now_str(now, sizeof now);
  rc = write_status(s, K_DEPLOY, cur, idp_sim_deployment_status(cur, rsname, done, now), e);
  json_decref(cur);
  if (!rc && !done) *again = s->delay_ms - age + 10;
out:
  json_decref(all);
  return rc;
}

/* ---- ReplicaSet (and its Pods) ----------------------------------------- */

static idp_code sync_pods(idp_simulate *s, const json_t *rs, idp_err *e) {
  const char *ns = idp_json_get_str(rs, "metadata", "namespace", NULL);
  const char *name = idp_json_get_str(rs, "metadata", "name", NULL);
  const char *uid = idp_json_get_str(rs, "metadata", "uid", NULL);
  long long want = idp_sim_replicas(rs);
  char now[32];
  now_str(now, sizeof now);
  idp_code rc = IDP_OK;
  json_t *wanted = json_object();
  int alive = idp_json_get(rs, "metadata", "deletionTimestamp", NULL) ? 0 : -1; /* -1: not checked */
  for (long long i = 0; i < want && !rc; i++) {
    json_t *pod = idp_sim_pod(rs, i, now);
    const char *pn = idp_json_get_str(pod, "metadata", "name", NULL);
    json_object_set_new(wanted, pn, json_true());
    json_t *have = idp_informer_get(s->inf[K_POD], ns, pn);
    idp_kref r = ref_of(K_POD, ns, pn, NULL);
    if (!have && alive < 0) alive = owner_alive(s, K_RS, ns, name, uid);
    if (!have && !alive) {
      json_decref(pod);
      break;
    }
    if (!have) {
      idp_kref c = ref_of(K_POD, ns, NULL, NULL);
      rc = idp_kclient_create(s->kc, &c, pod, NULL, &have, e);
      if (rc == IDP_EEXIST) rc = IDP_OK; /* the cache is behind; next event settles it */
      else if (!rc) count(s, &s->stats.creates);
    }
    if (!rc && have) {
      const char *phase = idp_json_get_str(have, "status", "phase", NULL);
      if (!phase || strcmp(phase, "Running")) {
        json_t *patch = json_pack("{s:O}", "status", json_object_get(pod, "status"));
        r.subresource = "status";
        rc = idp_kclient_patch(s->kc, &r, IDP_PATCH_MERGE, patch, NULL, NULL, e);
        json_decref(patch);
        if (!rc) count(s, &s->stats.status_writes);
      }
    }
    json_decref(have);
    json_decref(pod);
  }
  json_t *pods = idp_informer_list(s->inf[K_POD], ns), *p;
  size_t i;
  json_array_foreach(pods, i, p) {
    const char *pn = idp_json_get_str(p, "metadata", "name", NULL);
    if (rc || !pn || !controlled_by(p, uid) || json_object_get(wanted, pn)) continue;
    idp_kref r = ref_of(K_POD, ns, pn, NULL);
    rc = idp_kclient_delete(s->kc, &r, NULL, NULL, e);
    if (rc == IDP_ENOTFOUND) rc = IDP_OK;
    else if (!rc) count(s, &s->stats.deletes);
  }
  json_decref(pods);
  json_decref(wanted);
  if (rc) idp_err_prefix(e, "replicaset %s/%s pods", ns, name);
  return rc;
}

static idp_code reconcile_rs(idp_simulate *s, json_t *rs, idp_err *e) {
  json_incref(rs);
  json_t *cur = rs;
  idp_code rc = ensure_annotations(s, K_RS, &cur, sim_annotation(), e);
  if (!rc) rc = write_status(s, K_RS, cur, idp_sim_replicaset_status(cur), e);
  if (!rc && s->create_pods) rc = sync_pods(s, cur, e);
  json_decref(cur);
  return rc;
}

/* ---- StatefulSet, DaemonSet, Job ---------------------------------------- */

static idp_code reconcile_simple(idp_simulate *s, int kind, json_t *obj, idp_err *e) {
  json_incref(obj);
  json_t *cur = obj;
  idp_code rc = ensure_annotations(s, kind, &cur, sim_annotation(), e);
  if (!rc)
    rc = write_status(s, kind, cur,
                      kind == K_STS ? idp_sim_statefulset_status(cur) : idp_sim_daemonset_status(cur),
                      e);
  json_decref(cur);
  return rc;
}

static idp_code reconcile_job(idp_simulate *s, const char *key, json_t *job, int64_t *again,
                              idp_err *e) {
  if (idp_sim_job_finished(job)) return IDP_OK; /* terminal: never touched again */
  const char *uid = idp_json_get_str(job, "metadata", "uid", NULL);
  json_incref(job);
  json_t *cur = job;
  idp_code rc = ensure_annotations(s, K_JOB, &cur, sim_annotation(), e);
  if (rc) goto out;
  bool suspended = json_is_true(idp_json_get(cur, "spec", "suspend", NULL));
  /* the delay runs from the first unsuspended sighting; a Job that already
   * started before a restart completes at once */
  bool started = idp_json_get(cur, "status", "startTime", NULL) != NULL;
  json_t *g = idp_json_get(cur, "metadata", "generation", NULL);
  long long gen = suspended ? -2 : json_is_integer(g) ? json_integer_value(g) : 1;
  int64_t age = timer_age(s, key, uid ? uid : "", gen, started);
  bool done = !suspended && age >= s->delay_ms;
  char now[32];
  now_str(now, sizeof now);
  rc = write_status(s, K_JOB, cur, idp_sim_job_status(cur, done, now), e);
  if (!rc && !suspended && !done) *again = s->delay_ms - age + 10;
out:
  json_decref(cur);
  return rc;
}

/* ---- dispatch ---------------------------------------------------------- */

static idp_code reconcile(void *ud, const char *key, int64_t *again, idp_err *e) {
  idp_simulate *s = ud;
  int kind = -1;
  for (int k = 0; k < K_N; k++)
    if (key[0] == kinds[k].letter && key[1] == '|') kind = k;
  if (kind < 0 || !s->inf[kind]) return IDP_OK;
  json_t *obj = idp_informer_get_key(s->inf[kind], key + 2);
  if (!obj) {
    timer_forget(s, key); /* deleted: owned objects go with the API's GC */
    return IDP_OK;
  }
  idp_code rc = IDP_OK;
  switch (kind) {
  case K_DEPLOY: rc = reconcile_deploy(s, key, obj, again, e); break;
  case K_RS: rc = reconcile_rs(s, obj, e); break;
  case K_STS:
  case K_DS: rc = reconcile_simple(s, kind, obj, e); break;
  case K_JOB: rc = reconcile_job(s, key, obj, again, e); break;
  default: break;
  }
  json_decref(obj);
  return rc;
}

static void enqueue(idp_simulate *s, int kind, const char *ns, const char *name) {
  char key[600];
  if (!name) return;
  if (ns && *ns) snprintf(key, sizeof key, "%c|%s/%s", kinds[kind].letter, ns, name);
  else snprintf(key, sizeof key, "%c|%s", kinds[kind].letter, name);
  idp_controller_enqueue(s->ctl, key);
}

/* An event enqueues the object itself and, for owned kinds, its owner:
 * a changed or deleted ReplicaSet wakes its Deployment, a Pod its
 * ReplicaSet. */
static void on_event(hctx *h, const json_t *obj) {
  const char *ns = idp_json_get_str(obj, "metadata", "namespace", NULL);
  if (h->kind != K_POD) enqueue(h->s, h->kind, ns, idp_json_get_str(obj, "metadata", "name", NULL));
  const json_t *o = NULL;
  if (h->kind == K_RS) o = controller_ref(obj, "Deployment");
  if (h->kind == K_POD) o = controller_ref(obj, "ReplicaSet");
  if (o) enqueue(h->s, h->kind == K_RS ? K_DEPLOY : K_RS, ns, json_string_value(json_object_get(o, "name")));
}

static void h_add(void *ud, const json_t *obj) { on_event(ud, obj); }
static void h_update(void *ud, const json_t *old, const json_t *obj) {
  (void)old;
  on_event(ud, obj);
}
static void h_delete(void *ud, const json_t *obj) { on_event(ud, obj); }

idp_code idp_simulate_install_crds(idp_kclient *kc, idp_err *e) {
  (void)kc;
  (void)e;
  return IDP_OK;
}

void idp_simulate_stop(idp_simulate *s) {
  if (!s) return;
  for (int k = 0; k < K_N; k++)
    if (s->inf[k]) idp_informer_stop(s->inf[k]);
  if (s->ctl) {
    idp_controller_stop(s->ctl);
    idp_controller_free(s->ctl);
  }
  for (int k = 0; k < K_N; k++) idp_informer_free(s->inf[k]);
  pthread_mutex_destroy(&s->mu);
  free(s->timers);
  free(s);
}

idp_code idp_simulate_start(idp_kclient *kc, const idp_simulate_opts *o, idp_simulate **out,
                            idp_err *e) {
  idp_simulate_opts def = {0};
  if (!o) o = &def;
  *out = NULL;
  idp_simulate *s = calloc(1, sizeof *s);
  if (!s) return idp_err_set(e, IDP_ENOMEM, "simulate: out of memory");
  pthread_mutex_init(&s->mu, NULL);
  s->kc = kc;
  s->delay_ms = o->delay_ms == 0 ? 1000 : o->delay_ms < 0 ? 0 : o->delay_ms;
  s->create_pods = o->create_pods;
  idp_code rc = idp_controller_new(
      &(idp_controller_opts){.name = "simulate", .workers = o->workers > 0 ? o->workers : 2,
                             .reconcile = reconcile, .ud = s},
      &s->ctl, e);
  for (int k = 0; k < K_N && !rc; k++) {
    if (k == K_POD && !s->create_pods) continue;
    s->hc[k] = (hctx){s, k};
    idp_informer_handlers h = {h_add, h_update, h_delete, &s->hc[k]};
    rc = idp_informer_new(kc,
                          &(idp_informer_opts){.resource = {.group = kinds[k].group,
                                                            .version = "v1",
                                                            .resource = kinds[k].plural,
                                                            .ns = o->ns}},
                          &h, &s->inf[k], e);
    if (!rc) rc = idp_informer_start(s->inf[k], e);
  }
  long timeout = o->sync_timeout_ms > 0 ? o->sync_timeout_ms : 30000;
  for (int k = 0; k < K_N && !rc; k++)
    if (s->inf[k] && !idp_informer_wait_synced(s->inf[k], timeout))
      rc = idp_err_set(e, IDP_ETIMEOUT, "simulate: the %s cache did not sync in %ld ms",
                       kinds[k].plural, timeout);
  if (!rc) rc = idp_controller_start(s->ctl, e);
  if (rc) {
    idp_simulate_stop(s);
    return rc;
  }
  idp_log(IDP_LOG_INFO, "workload simulator started", "create_pods", s->create_pods ? "true" : "false",
          NULL);
  *out = s;
  return IDP_OK;
}
