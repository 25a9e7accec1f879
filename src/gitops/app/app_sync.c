#include "core/common.h"

#include <ctype.h>
#include <time.h>

#include "core/json.h"
#include "core/log.h"
#include "gitops/app/app_int.h"
#include "gitops/app/diff.h"
#include "gitops/app/health.h"
#include "gitops/app/sync.h"
#include "patch/patch.h"

/* One unit of work of an operation. */
typedef struct task {
  idp_sync_task t; /* obj, phase, wave, kind order, name */
  idp_kgvr g;
  bool resolved;
  bool prune; /* delete instead of apply */
  bool prune_last;
  bool applied;
  bool failed;
  json_t *result;      /* the syncResult entry (owned) */
  char made_name[254]; /* name the server generated (generateName hooks) */
  json_t *own;         /* desired rewritten for RespectIgnoreDifferences (owned) */
  bool missing;        /* the comparison found no live object: create at once */
  json_t *after;       /* the object as the server answered the write (owned) */
} task;

static void sleep_ms(long ms) {
  if (ms <= 0) return;
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Sleeps in slices so a stopping controller is not held up. */
static void pause_ms(idp_app *a, long ms) {
  while (ms > 0 && !a->stopping) {
    long s = ms < 100 ? ms : 100;
    sleep_ms(s);
    ms -= s;
  }
}

static json_t *result_new(const task *k, const char *status, const char *msg) {
  const json_t *o = k->t.obj;
  json_t *r = json_object();
  json_object_set_new(r, "group", json_string(k->g.group));
  json_object_set_new(r, "version", json_string(k->g.version));
  json_object_set_new(r, "kind", json_string(idp_json_get_str(o, "kind", NULL)));
  const char *ns = idp_json_get_str(o, "metadata", "namespace", NULL);
  json_object_set_new(r, "namespace", json_string(ns && k->g.namespaced ? ns : ""));
  json_object_set_new(r, "name", json_string(k->t.name ? k->t.name : ""));
  json_object_set_new(r, "status", json_string(status));
  json_object_set_new(r, "message", json_string(msg));
  json_object_set_new(r, "syncPhase", json_string(idp_app_phase_name(k->t.phase)));
  if (k->t.hook) {
    json_object_set_new(r, "hookType", json_string(idp_app_phase_name(k->t.phase)));
    json_object_set_new(r, "hookPhase", json_string("Running"));
  }
  return r;
}

static void set_result(task *k, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_result(task *k, const char *status, const char *fmt, ...) {
  char msg[1200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  json_decref(k->result);
  k->result = result_new(k, status, msg);
}

/* kubectl-style "deployment.apps/web" */
static void res_name(const task *k, char *out, size_t n) {
  char lower[256];
  snprintf(lower, sizeof lower, "%s", k->g.kind);
  for (char *c = lower; *c; c++) *c = (char)tolower((unsigned char)*c);
  snprintf(out, n, "%s%s%s/%s", lower, k->g.group[0] ? "." : "", k->g.group,
           k->t.name ? k->t.name : "");
}

/* 3-way JSON merge patch (kubectl apply without strategic lists):
 * fields the last apply set and Git dropped become null; fields whose
 * desired value differs from live are set.  NULL when nothing to do. */
static json_t *three_way(const json_t *last, const json_t *desired, const json_t *live) {
  json_t *p = json_object();
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)desired, k, v) {
    json_t *lv = json_object_get(live, k);
    if (json_is_object(v) && json_is_object(lv)) {
      json_t *sub = three_way(json_object_get(last, k), v, lv);
      if (sub) json_object_set_new(p, k, sub);
    } else if (!lv || !idp_json_equal(v, lv)) {
      json_object_set(p, k, v);
    }
  }
  json_object_foreach((json_t *)last, k, v) {
    if (!json_object_get(desired, k) && json_object_get(live, k))
      json_object_set_new(p, k, json_null());
  }
  if (json_object_size(p) == 0) {
    json_decref(p);
    return NULL;
  }
  return p;
}

static idp_code resolve_task(idp_app *a, const app_dest *d, const json_t *desired, task *k,
                             idp_err *e) {
  if (k->resolved) return IDP_OK;
  const char *av = idp_json_get_str(k->t.obj, "apiVersion", NULL);
  const char *kind = idp_json_get_str(k->t.obj, "kind", NULL);
  /* A CRD applied in an earlier wave takes a moment to be served. */
  idp_code rc = IDP_OK;
  for (int i = 0; i < 50; i++) {
    rc = idp_kclient_resolve(d->kc, av, kind, &k->g, e);
    if (rc != IDP_ENOTFOUND) break;
    idp_kgvr tmp;
    if (app_resolve(a, d, av, kind, desired, &tmp, NULL) != IDP_OK) break; /* no CRD here */
    idp_kclient_discovery_reset(d->kc);
    sleep_ms(100);
  }
  if (rc == IDP_OK) k->resolved = true;
  return rc;
}

static idp_kref ref_of(const task *k) {
  idp_kref r = {k->g.group,
                k->g.version,
                k->g.resource,
                k->g.namespaced ? idp_json_get_str(k->t.obj, "metadata", "namespace", NULL) : NULL,
                k->t.name,
                NULL};
  return r;
}

static bool wait_gone(const app_dest *d, const idp_kref *r, long ms) {
  int64_t end = app_now_ms() + ms;
  while (app_now_ms() < end) {
    json_t *o = NULL;
    idp_err e = IDP_ERR_INIT;
    idp_code rc = idp_kclient_get(d->kc, r, &o, &e);
    json_decref(o);
    if (rc == IDP_ENOTFOUND) return true;
    sleep_ms(100);
  }
  return false;
}

/* RespectIgnoreDifferences=true: the fields ignoreDifferences ignores keep
 * their live values (jsonPointers), so a sync does not fight e.g. an HPA. */
static void respect_ignores(const json_t *ignores, const json_t *live, task *k) {
  char group[256];
  const char *av = idp_json_get_str(k->t.obj, "apiVersion", NULL);
  const char *sl = av ? strchr(av, '/') : NULL;
  snprintf(group, sizeof group, "%.*s", sl ? (int)(sl - av) : 0, sl ? av : "");
  const char *kind = idp_json_get_str(k->t.obj, "kind", NULL);
  size_t i;
  json_t *ig;
  json_array_foreach(ignores, i, ig) {
    const char *g = json_string_value(json_object_get(ig, "group"));
    const char *kk = json_string_value(json_object_get(ig, "kind"));
    const char *n = json_string_value(json_object_get(ig, "name"));
    if (!kk || !kind || !idp_wildcard_match(kk, kind) || !idp_wildcard_match(g ? g : "", group))
      continue;
    if (n && *n && (!k->t.name || strcmp(n, k->t.name) != 0)) continue;
    size_t j;
    json_t *ptr;
    json_array_foreach(json_object_get(ig, "jsonPointers"), j, ptr) {
      const char *p = json_string_value(ptr);
      if (!p) continue;
      json_t *lv = idp_json_pointer_get(live, p);
      json_t *ops = lv ? json_pack("[{s:s, s:s, s:O}]", "op", "add", "path", p, "value", lv)
                       : json_pack("[{s:s, s:s}]", "op", "remove", "path", p);
      json_t *next = NULL;
      if (idp_json_patch(k->own ? k->own : k->t.obj, ops, &next, NULL) == IDP_OK) {
        json_decref(k->own);
        k->own = next;
        k->t.obj = next;
      }
      json_decref(ops);
    }
  }
}

static void apply_task(idp_app *a, const app_dest *d, const json_t *opts, const json_t *desired,
                       const json_t *ignores, task *k) {
  idp_err e = IDP_ERR_INIT;
  char rn[600];
  if (resolve_task(a, d, desired, k, &e)) {
    k->failed = true;
    const char *av = idp_json_get_str(k->t.obj, "apiVersion", NULL);
    const char *ns = idp_json_get_str(k->t.obj, "metadata", "namespace", NULL);
    if (e.code == IDP_ENOTFOUND)
      set_result(k, "SyncFailed",
                 "The Kubernetes API could not find %s/%s for requested resource %s%s%s. Make "
                 "sure the \"%s\" CRD is installed on the destination cluster.",
                 av ? av : "", k->g.kind, ns ? ns : "", ns ? "/" : "", k->t.name ? k->t.name : "",
                 k->g.kind);
    else
      set_result(k, "SyncFailed", "%s", e.msg);
    return;
  }
  res_name(k, rn, sizeof rn);
  idp_kref r = ref_of(k);
  if (!k->t.hook &&
      (idp_app_sync_option_is(opts, k->t.obj, "FailOnSharedResource", "true") ||
       (ignores && idp_app_sync_option_is(opts, k->t.obj, "RespectIgnoreDifferences", "true")))) {
    json_t *live = NULL;
    if (idp_kclient_get(d->kc, &r, &live, &e) == IDP_OK) {
      const char *mine =
          idp_json_get_str(k->t.obj, "metadata", "annotations", IDP_APP_TRACKING_ANNOTATION, NULL);
      const char *theirs =
          idp_json_get_str(live, "metadata", "annotations", IDP_APP_TRACKING_ANNOTATION, NULL);
      char ma[300] = "", ta[300] = "";
      idp_app_tracking_parse(mine, ma, sizeof ma, NULL, 0, NULL, 0, NULL, 0, NULL, 0);
      idp_app_tracking_parse(theirs, ta, sizeof ta, NULL, 0, NULL, 0, NULL, 0, NULL, 0);
      if (idp_app_sync_option_is(opts, k->t.obj, "FailOnSharedResource", "true") && *ta &&
          strcmp(ma, ta) != 0) {
        k->failed = true;
        set_result(k, "SyncFailed", "%s is part of applications %s and %s", rn, ta, ma);
        json_decref(live);
        return;
      }
      if (ignores && idp_app_sync_option_is(opts, k->t.obj, "RespectIgnoreDifferences", "true"))
        respect_ignores(ignores, live, k);
    }
    json_decref(live);
    idp_err_clear(&e);
  }
  const json_t *obj = k->t.obj;
  idp_kwrite_opts wo = {0};
  if (idp_app_sync_option_is(opts, obj, "Validate", "false")) wo.field_validation = "Ignore";
  idp_code rc;
  const char *verb = "configured";
  if (k->t.hook) {
    unsigned pol = idp_app_hook_delete_policy(obj);
    json_t *old = NULL;
    if (k->t.name && idp_kclient_get(d->kc, &r, &old, &e) == IDP_OK) {
      if (pol & IDP_HOOK_DEL_BEFORE_CREATION) {
        idp_kdelete_opts dopt = {.propagation_policy = "Background"};
        idp_kclient_delete(d->kc, &r, &dopt, NULL, &e);
        wait_gone(d, &r, 10000);
      }
    }
    json_decref(old);
    idp_err_clear(&e);
    json_t *made = NULL;
    rc = idp_kclient_create(d->kc, &r, obj, &wo, &made, &e);
    verb = "created";
    const char *mn = idp_json_get_str(made, "metadata", "name", NULL);
    if (rc == IDP_OK && !k->t.name && mn) {
      snprintf(k->made_name, sizeof k->made_name, "%s", mn);
      k->t.name = k->made_name;
      res_name(k, rn, sizeof rn);
    }
    json_decref(made);
    if (rc == IDP_EEXIST) { /* kept by its policy: run it again in place */
      rc = IDP_OK;
      verb = "unchanged";
    }
  } else if (idp_app_sync_option_is(opts, obj, "Replace", "true")) {
    json_t *live = NULL;
    rc = idp_kclient_get(d->kc, &r, &live, &e);
    if (rc == IDP_ENOTFOUND) {
      idp_err_clear(&e);
      rc = idp_kclient_create(d->kc, &r, obj, &wo, &k->after, &e);
      verb = "created";
    } else if (rc == IDP_OK) {
      bool force = idp_app_sync_option_is(opts, obj, "Force", "true");
      if (force) {
        idp_kdelete_opts dopt = {.propagation_policy = "Foreground"};
        idp_kclient_delete(d->kc, &r, &dopt, NULL, &e);
        wait_gone(d, &r, 30000);
        rc = idp_kclient_create(d->kc, &r, obj, &wo, &k->after, &e);
        verb = "replaced";
      } else {
        json_t *u = json_deep_copy(obj);
        json_object_set(json_object_get(u, "metadata"), "resourceVersion",
                        idp_json_get(live, "metadata", "resourceVersion", NULL));
        rc = idp_kclient_update(d->kc, &r, u, &wo, &k->after, &e);
        json_decref(u);
        verb = "replaced";
      }
    }
    json_decref(live);
  } else if (idp_app_sync_option_is(opts, obj, "ServerSideApply", "true")) {
    wo.field_manager = APP_MANAGER;
    wo.force = true;
    rc = idp_kclient_patch(d->kc, &r, IDP_PATCH_APPLY, obj, &wo, &k->after, &e);
    verb = "serverside-applied";
  } else {
    /* client-side apply, as kubectl apply does */
    json_t *want = json_deep_copy(obj);
    char *la = idp_json_dump(obj);
    json_object_set_new(
        idp_json_child_object(idp_json_child_object(want, "metadata"), "annotations"),
        IDP_APP_LAST_APPLIED, json_string(la ? la : "{}"));
    free(la);
    json_t *live = NULL;
    /* Known missing: create without a GET first (half the requests of a
     * cold sync); if it exists after all, read it and patch. */
    rc = k->missing ? IDP_ENOTFOUND : idp_kclient_get(d->kc, &r, &live, &e);
    if (rc == IDP_ENOTFOUND) {
      idp_err_clear(&e);
      rc = idp_kclient_create(d->kc, &r, want, &wo, &k->after, &e);
      verb = "created";
      if (rc == IDP_EEXIST) { /* created meanwhile (or a lagging read): apply over it */
        idp_err_clear(&e);
        rc = idp_kclient_get(d->kc, &r, &live, &e);
        verb = "configured";
      }
    }
    if (rc == IDP_OK && live) {
      const char *ls =
          idp_json_get_str(live, "metadata", "annotations", IDP_APP_LAST_APPLIED, NULL);
      json_t *last = ls ? json_loads(ls, 0, NULL) : NULL;
      json_t *p = three_way(last, want, live);
      if (!p) {
        verb = "unchanged";
        k->after = json_incref(live);
      } else {
        rc = idp_kclient_patch(d->kc, &r, IDP_PATCH_MERGE, p, &wo, &k->after, &e);
        json_decref(p);
      }
      json_decref(last);
    }
    json_decref(live);
    json_decref(want);
  }
  if (rc) {
    k->failed = true;
    set_result(k, "SyncFailed", "%s", e.msg);
    return;
  }
  a->applies++;
  k->applied = true;
  set_result(k, "Synced", "%s %s", rn, verb);
}

static void prune_task(idp_app *a, const app_dest *d, const json_t *opts, bool prune, task *k) {
  char rn[600];
  res_name(k, rn, sizeof rn);
  if (!prune) {
    set_result(k, "PruneSkipped", "ignored (requires pruning)");
    return;
  }
  if (idp_app_sync_option_is(opts, k->t.obj, "Prune", "false")) {
    set_result(k, "PruneSkipped", "ignored (no prune)");
    return;
  }
  char pol[32] = "foreground";
  idp_app_sync_option(opts, k->t.obj, "PrunePropagationPolicy", pol, sizeof pol);
  pol[0] = (char)toupper((unsigned char)pol[0]);
  idp_kdelete_opts dopt = {.propagation_policy = pol};
  idp_kref r = ref_of(k);
  idp_err e = IDP_ERR_INIT;
  idp_code rc = idp_kclient_delete(d->kc, &r, &dopt, NULL, &e);
  if (rc && rc != IDP_ENOTFOUND) {
    k->failed = true;
    set_result(k, "SyncFailed", "%s", e.msg);
    return;
  }
  a->prunes++;
  k->applied = true;
  set_result(k, "Pruned", "pruned");
}

/* Waits until every applied task in [from, to) is done: resources healthy
 * (or without health), hooks completed.  only_hooks: resources are not
 * waited for (end of the operation).  False on failure or timeout, with the
 * reason in msg. */
static bool wait_healthy(idp_app *a, const app_dest *d, task *ts, size_t from, size_t to,
                         bool only_hooks, char *msg, size_t mn) {
  int64_t end = app_now_ms() + a->o.health_timeout_ms;
  for (;;) {
    bool pending = false;
    for (size_t i = from; i < to; i++) {
      task *k = &ts[i];
      if (!k->applied || k->prune || (only_hooks && !k->t.hook)) continue;
      idp_kref r = ref_of(k);
      json_t *live = NULL;
      idp_err e = IDP_ERR_INIT;
      idp_health h;
      if (idp_kclient_get(d->kc, &r, &live, &e) != IDP_OK) {
        if (k->t.hook) { /* a hook deleted by someone: treat as done */
          json_object_set_new(k->result, "hookPhase", json_string("Succeeded"));
          k->applied = false;
          continue;
        }
        pending = true;
        continue;
      }
      bool has = idp_health_assess(live, &h);
      json_decref(live);
      if (!has || h.status == IDP_HEALTH_HEALTHY || h.status == IDP_HEALTH_SUSPENDED) {
        if (k->t.hook) json_object_set_new(k->result, "hookPhase", json_string("Succeeded"));
        if (k->t.hook) k->applied = false; /* completed: not waited for again */
        continue;
      }
      if (h.status == IDP_HEALTH_DEGRADED) {
        k->failed = true;
        if (k->t.hook) json_object_set_new(k->result, "hookPhase", json_string("Failed"));
        json_object_set_new(k->result, "message", json_string(h.message));
        char rn[600];
        res_name(k, rn, sizeof rn);
        snprintf(msg, mn, "%s %s: %s", k->t.hook ? "hook" : "resource", rn, h.message);
        return false;
      }
      pending = true;
    }
    if (!pending) return true;
    if (a->stopping) {
      snprintf(msg, mn, "controller stopping");
      return false;
    }
    if (app_now_ms() > end) {
      snprintf(msg, mn, "timed out waiting for the resources of the previous wave to be healthy");
      return false;
    }
    sleep_ms(200);
  }
}

static bool selected(const json_t *sel, const task *k) {
  if (!json_is_array(sel) || json_array_size(sel) == 0) return true;
  size_t i;
  json_t *s;
  const char *kind = idp_json_get_str(k->t.obj, "kind", NULL);
  const char *ns = idp_json_get_str(k->t.obj, "metadata", "namespace", NULL);
  json_array_foreach(sel, i, s) {
    const char *g = json_string_value(json_object_get(s, "group"));
    const char *kk = json_string_value(json_object_get(s, "kind"));
    const char *n = json_string_value(json_object_get(s, "name"));
    const char *sn = json_string_value(json_object_get(s, "namespace"));
    if (kk && kind && strcmp(kk, kind) == 0 && n && k->t.name && strcmp(n, k->t.name) == 0 &&
        strcmp(g ? g : "", k->g.group) == 0 && (!sn || !*sn || (ns && strcmp(sn, ns) == 0)))
      return true;
  }
  return false;
}

static void ensure_namespace(const app_dest *d, const json_t *spec, json_t *results) {
  if (!d->ns || !*d->ns) return;
  idp_kref r = {"", "v1", "namespaces", NULL, d->ns, NULL};
  json_t *meta = idp_json_get(spec, "syncPolicy", "managedNamespaceMetadata", NULL);
  json_t *ns = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace", "metadata",
                         "name", d->ns);
  if (json_is_object(meta)) {
    json_t *md = json_object_get(ns, "metadata");
    if (json_object_get(meta, "labels"))
      json_object_set(md, "labels", json_object_get(meta, "labels"));
    if (json_object_get(meta, "annotations"))
      json_object_set(md, "annotations", json_object_get(meta, "annotations"));
  }
  idp_err e = IDP_ERR_INIT;
  idp_code rc = idp_kclient_create(d->kc, &r, ns, NULL, NULL, &e);
  if (rc == IDP_EEXIST && json_is_object(meta)) {
    json_t *p = json_pack("{s:O}", "metadata", json_object_get(ns, "metadata"));
    idp_kclient_patch(d->kc, &r, IDP_PATCH_MERGE, p, NULL, NULL, &e);
    json_decref(p);
  } else if (rc == IDP_OK) {
    json_array_append_new(
        results, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "group", "", "version", "v1",
                           "kind", "Namespace", "namespace", "", "name", d->ns, "status", "Synced",
                           "message", "namespace created", "syncPhase", "PreSync"));
  }
  json_decref(ns);
}

bool app_sync_run(idp_app *a, const json_t *app, const app_dest *d, const json_t *op,
                  const json_t *desired, const json_t *prev_resources, const char *revision,
                  json_t *os, json_t *after) {
  const json_t *spec = json_object_get(app, "spec");
  const json_t *ignores = json_object_get(spec, "ignoreDifferences");
  json_t *opts = json_array();
  size_t i;
  json_t *v;
  json_array_foreach(idp_json_get(spec, "syncPolicy", "syncOptions", NULL), i, v)
    json_array_append(opts, v);
  /* options given with the operation win: they come first */
  json_t *all_opts = json_array();
  json_array_foreach(json_object_get(op, "syncOptions"), i, v) json_array_append(all_opts, v);
  json_array_extend(all_opts, opts);
  json_decref(opts);
  opts = all_opts;
  bool prune = json_is_true(json_object_get(op, "prune"));
  const json_t *sel = json_object_get(op, "resources");
  bool selective = json_array_size(sel) > 0;
  /* syncStrategy.apply: plain apply, hooks are skipped (Argo CD's
   * "apply" strategy); the default "hook" strategy runs them. */
  bool no_hooks = selective || idp_json_get(op, "syncStrategy", "apply", NULL) != NULL;
  bool oos_only = idp_app_sync_option_is(opts, NULL, "ApplyOutOfSyncOnly", "true");
  json_t *results = json_array();
  if (idp_app_sync_option_is(opts, NULL, "CreateNamespace", "true"))
    ensure_namespace(d, spec, results);

  /* Tasks: resources, hooks per phase, prunes. */
  size_t cap = json_array_size(desired) * 4 + json_array_size(prev_resources) + 4, n = 0;
  task *ts = calloc(cap, sizeof *ts);
  json_t *prune_objs = json_array();
  json_t *missing = json_object(); /* "kind/ns/name" the comparison found absent */
  {
    size_t mi;
    json_t *mr;
    json_array_foreach(prev_resources, mi, mr) {
      const char *hs = idp_json_get_str(mr, "health", "status", NULL);
      if (!hs || strcmp(hs, "Missing") != 0) continue;
      char mk[800];
      snprintf(mk, sizeof mk, "%s/%s/%s", json_string_value(json_object_get(mr, "kind")),
               json_string_value(json_object_get(mr, "namespace")) ?: "",
               json_string_value(json_object_get(mr, "name")));
      json_object_set_new(missing, mk, json_true());
    }
  }
  json_t *o;
  json_array_foreach(desired, i, o) {
    unsigned hp = idp_app_hook_phases(o);
    int wave = idp_app_sync_wave(o);
    const char *kind = idp_json_get_str(o, "kind", NULL);
    const char *av = idp_json_get_str(o, "apiVersion", NULL);
    char grp[256];
    const char *sl = strchr(av, '/');
    snprintf(grp, sizeof grp, "%.*s", sl ? (int)(sl - av) : 0, sl ? av : "");
    for (int ph = 0; ph < IDP_PHASE_COUNT; ph++) {
      bool in = hp ? (hp & (1u << ph)) != 0 : ph == IDP_PHASE_SYNC;
      if (!in || n >= cap) continue;
      if (hp && no_hooks) continue; /* hooks do not run during selective sync */
      task *k = &ts[n];
      memset(k, 0, sizeof *k);
      k->t = (idp_sync_task){(json_t *)o,
                             (idp_sync_phase)ph,
                             wave,
                             idp_app_kind_order(grp, kind),
                             idp_json_get_str(o, "metadata", "name", NULL),
                             hp != 0,
                             NULL};
      resolve_task(a, d, desired, k, &(idp_err){0});
      if (!k->resolved) {
        snprintf(k->g.kind, sizeof k->g.kind, "%s", kind);
        snprintf(k->g.group, sizeof k->g.group, "%s", grp);
        k->g.namespaced = true;
      }
      if (!selected(sel, k)) continue;
      if (!hp && k->t.name) {
        char mk[800];
        const char *mns = idp_json_get_str(o, "metadata", "namespace", NULL);
        snprintf(mk, sizeof mk, "%s/%s/%s", kind, k->g.namespaced && mns ? mns : "", k->t.name);
        k->missing = json_object_get(missing, mk) != NULL;
      }
      if (!hp && oos_only) {
        /* the comparison said Synced: nothing to apply */
        size_t j;
        json_t *r;
        bool synced = false;
        const char *ns = idp_json_get_str(o, "metadata", "namespace", NULL);
        json_array_foreach(prev_resources, j, r) {
          if (strcmp(json_string_value(json_object_get(r, "kind")) ?: "", kind) == 0 &&
              strcmp(json_string_value(json_object_get(r, "name")) ?: "", k->t.name) == 0 &&
              strcmp(json_string_value(json_object_get(r, "namespace")) ?: "", ns ? ns : "") == 0 &&
              strcmp(json_string_value(json_object_get(r, "status")) ?: "", "Synced") == 0)
            synced = true;
        }
        if (synced) continue;
      }
      n++;
    }
  }
  json_t *r;
  json_array_foreach(prev_resources, i, r) {
    if (!json_is_true(json_object_get(r, "requiresPruning")) || n >= cap) continue;
    const char *grp = json_string_value(json_object_get(r, "group"));
    const char *ver = json_string_value(json_object_get(r, "version"));
    const char *kind = json_string_value(json_object_get(r, "kind"));
    const char *ns = json_string_value(json_object_get(r, "namespace"));
    const char *name = json_string_value(json_object_get(r, "name"));
    char av[600];
    snprintf(av, sizeof av, "%s%s%s", grp && *grp ? grp : "", grp && *grp ? "/" : "",
             ver ? ver : "v1");
    task *k = &ts[n];
    memset(k, 0, sizeof *k);
    idp_err e = IDP_ERR_INIT;
    if (idp_kclient_resolve(d->kc, av, kind, &k->g, &e) != IDP_OK) continue;
    k->resolved = true;
    idp_kref ref = {k->g.group, k->g.version, k->g.resource, k->g.namespaced ? ns : NULL,
                    name,       NULL};
    json_t *live = NULL;
    if (idp_kclient_get(d->kc, &ref, &live, &e) != IDP_OK) continue;
    json_array_append_new(prune_objs, live);
    k->t = (idp_sync_task){
        live, IDP_PHASE_SYNC, idp_app_sync_wave(live), idp_app_kind_order(grp, kind), name, false,
        NULL};
    k->prune = true;
    k->prune_last = idp_app_sync_option_is(opts, live, "PruneLast", "true");
    if (!selected(sel, k)) continue;
    n++;
  }
  /* Sort everything but prunes (they run after the Sync phase's waves,
   * highest wave first). */
  size_t np = 0;
  for (size_t x = 0; x < n; x++)
    if (!ts[x].prune) {
      task tmp = ts[np];
      ts[np++] = ts[x];
      ts[x] = tmp;
    }
  {
    idp_sync_task *st = calloc(np ? np : 1, sizeof *st);
    task *copy = calloc(np ? np : 1, sizeof *copy);
    for (size_t x = 0; x < np; x++) {
      st[x] = ts[x].t;
      st[x].ud = &copy[x];
      copy[x] = ts[x];
    }
    idp_app_sort_tasks(st, np);
    for (size_t x = 0; x < np; x++) {
      ts[x] = *(task *)st[x].ud;
      ts[x].t.phase = st[x].phase;
      ts[x].t.wave = st[x].wave;
    }
    free(st);
    free(copy);
  }

  bool ok = true;
  char msg[1400] = "";
  size_t applied_upto = 0; /* tasks [0, applied_upto) were run */
  int running_waves = 0;
  for (int ph = IDP_PHASE_PRESYNC; ph <= IDP_PHASE_POSTSYNC && ok; ph++) {
    size_t x = 0;
    while (x < np && ok) {
      if ((int)ts[x].t.phase != ph) {
        x++;
        continue;
      }
      size_t y = x;
      while (y < np && (int)ts[y].t.phase == ph && ts[y].t.wave == ts[x].t.wave) y++;
      /* Before a new wave: what ran before must be healthy, then a pause. */
      if (running_waves > 0) {
        if (running_waves == 1) { /* show progress once the operation spans waves */
          json_t *partial = json_array();
          for (size_t z = 0; z < applied_upto; z++)
            if (ts[z].result) json_array_append(partial, ts[z].result);
          json_object_set_new(os, "syncResult",
                              json_pack("{s:o, s:s}", "resources", partial, "revision", revision));
          json_object_set_new(os, "message",
                              json_string("waiting for healthy state of the "
                                          "previous wave"));
          app_write_running(a, app, os);
        }
        if (!a->o.skip_health_wait &&
            !wait_healthy(a, d, ts, 0, applied_upto, false, msg, sizeof msg)) {
          ok = false;
          break;
        }
        pause_ms(a, a->o.wave_delay_ms);
      }
      for (size_t z = x; z < y; z++) {
        apply_task(a, d, opts, desired, ignores, &ts[z]);
        if (ts[z].failed) {
          ok = false;
          snprintf(msg, sizeof msg, "one or more objects failed to apply, reason: %s",
                   json_string_value(json_object_get(ts[z].result, "message")));
        }
      }
      if (y > applied_upto) applied_upto = y;
      running_waves++;
      x = y;
    }
    if (ph == IDP_PHASE_SYNC && ok) {
      /* prunes: reverse wave order; PruneLast ones after PostSync */
      int maxw = INT_MIN, minw = INT_MAX;
      for (size_t z = np; z < n; z++) {
        if (ts[z].t.wave > maxw) maxw = ts[z].t.wave;
        if (ts[z].t.wave < minw) minw = ts[z].t.wave;
      }
      for (int w = maxw; n > np && w >= minw && ok; w--)
        for (size_t z = np; z < n; z++)
          if (!ts[z].prune_last && ts[z].t.wave == w) {
            prune_task(a, d, opts, prune, &ts[z]);
            if (ts[z].failed) {
              ok = false;
              snprintf(msg, sizeof msg, "failed to prune: %s",
                       json_string_value(json_object_get(ts[z].result, "message")));
            }
          }
    }
  }
  if (ok) {
    bool any_last = false;
    for (size_t z = np; z < n; z++) any_last |= ts[z].prune_last;
    if (any_last && !a->o.skip_health_wait &&
        !wait_healthy(a, d, ts, 0, applied_upto, false, msg, sizeof msg))
      ok = false;
    for (size_t z = np; z < n && ok; z++)
      if (ts[z].prune_last) prune_task(a, d, opts, prune, &ts[z]);
  }
  /* The operation ends when its hooks have completed. */
  if (ok && !wait_healthy(a, d, ts, 0, applied_upto, true, msg, sizeof msg)) ok = false;
  if (!ok) {
    /* SyncFail hooks */
    for (size_t z = 0; z < np; z++)
      if (ts[z].t.phase == IDP_PHASE_SYNCFAIL) apply_task(a, d, opts, desired, ignores, &ts[z]);
  }
  /* Hook deletion policies. */
  for (size_t z = 0; z < np; z++) {
    task *k = &ts[z];
    if (!k->t.hook || !k->result) continue;
    const char *hp = json_string_value(json_object_get(k->result, "hookPhase"));
    bool succeeded = hp && strcmp(hp, "Succeeded") == 0;
    unsigned pol = idp_app_hook_delete_policy(k->t.obj);
    if ((succeeded && (pol & IDP_HOOK_DEL_SUCCEEDED)) ||
        (k->failed && (pol & IDP_HOOK_DEL_FAILED))) {
      idp_kref ref = ref_of(k);
      idp_kdelete_opts dopt = {.propagation_policy = "Background"};
      idp_kclient_delete(d->kc, &ref, &dopt, NULL, &(idp_err){0});
    }
  }
  for (size_t z = 0; z < n; z++) {
    /* What the writes returned, for the status comparison that follows. */
    if (after && !ts[z].t.hook && ts[z].t.name &&
        (ts[z].after || (ts[z].prune && ts[z].applied))) {
      char ak[800];
      const char *ans = idp_json_get_str(ts[z].t.obj, "metadata", "namespace", NULL);
      snprintf(ak, sizeof ak, "%s/%s/%s", idp_json_get_str(ts[z].t.obj, "kind", NULL),
               ts[z].g.namespaced && ans ? ans : "", ts[z].t.name);
      json_object_set(after, ak, ts[z].after ? ts[z].after : json_null());
    }
    json_decref(ts[z].after);
    if (ts[z].result) json_array_append(results, ts[z].result);
    json_decref(ts[z].result);
    json_decref(ts[z].own);
  }
  free(ts);
  json_decref(missing);
  json_decref(prune_objs);
  json_decref(opts);
  json_t *sr = json_pack("{s:o, s:s}", "resources", results, "revision", revision);
  const json_t *src = json_is_object(json_object_get(op, "source"))
                          ? json_object_get(op, "source")
                          : json_object_get(spec, "source");
  if (json_is_object(src)) json_object_set(sr, "source", (json_t *)src);
  json_object_set_new(os, "syncResult", sr);
  json_object_set_new(os, "phase", json_string(ok ? "Succeeded" : "Failed"));
  json_object_set_new(os, "message", json_string(ok ? "successfully synced (all tasks run)" : msg));
  if (!ok)
    idp_log(IDP_LOG_WARN, "sync failed", "application",
            idp_json_get_str(app, "metadata", "name", NULL), "reason", msg, NULL);
  return ok;
}
