/* reports.c: per-namespace PolicyReports from background scans and
 * admission results (reports.h). */
#include "core/common.h"

#include <pthread.h>
#include <time.h>

#include "core/json.h"
#include "core/log.h"
#include "policy/internal.h"
#include "policy/reports.h"
#include "policy/runtime.h"

#define CLUSTER_KEY "_cluster" /* controller key of the ClusterPolicyReport */

struct pol_reports {
  idp_kclient *kc;
  pol_reports_opts o;
  pol_adm *adm;
  bool own_adm;
  pol_api api;
  pol_watch *watch;
  idp_controller *ctl;
  pthread_t scan_thread;
  bool scan_started;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool stopping;
  json_t *store;   /* {ns: {key: result}}, ns "" = cluster */
  json_t *pending; /* {"ns/name": true} policies to scan; "*" = all */
  long long next_full_ms;
};

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- pure aggregation ---- */

static void policy_label(const pol_policy *p, char *buf, size_t n) {
  if (p->namespaced)
    snprintf(buf, n, "%s/%s", p->ns ? p->ns : "", p->name);
  else
    snprintf(buf, n, "%s", p->name);
}

json_t *pol_reports_result(const json_t *resource, const pol_policy *p, const pol_rule_result *r,
                           const char *process, long long seconds) {
  char pname[600];
  policy_label(p, pname, sizeof pname);
  json_t *ref = json_object();
  static const char *const top[] = {"apiVersion", "kind"};
  for (size_t i = 0; i < IDP_ARRAY_LEN(top); i++) {
    const char *v = idp_json_get_str(resource, top[i], NULL);
    if (v) json_object_set_new(ref, top[i], json_string(v));
  }
  static const char *const meta[] = {"name", "namespace", "uid"};
  for (size_t i = 0; i < IDP_ARRAY_LEN(meta); i++) {
    const char *v = idp_json_get_str(resource, "metadata", meta[i], NULL);
    if (v) json_object_set_new(ref, meta[i], json_string(v));
  }
  json_t *res = json_pack("{s:s,s:s,s:s,s:s,s:b,s:s,s:{s:s},s:{s:I,s:i},s:[o]}", "source",
                          "kyverno", "policy", pname, "rule", r->rule ? r->rule : "", "result",
                          pol_status_name(r->status), "scored", p->scored, "message",
                          r->message ? r->message : "", "properties", "process", process,
                          "timestamp", "seconds", (json_int_t)seconds, "nanos", 0, "resources",
                          ref);
  const json_t *ann = idp_json_get(p->doc, "metadata", "annotations", NULL);
  const char *cat = idp_json_get_str(ann, "policies.kyverno.io/category", NULL);
  const char *sev = idp_json_get_str(ann, "policies.kyverno.io/severity", NULL);
  if (cat) json_object_set_new(res, "category", json_string(cat));
  if (sev) json_object_set_new(res, "severity", json_string(sev));
  return res;
}

static int cmp_keys(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *pol_reports_build(const char *ns, const json_t *results) {
  bool cluster = !ns || !*ns;
  json_t *meta = json_pack("{s:s,s:{s:s}}", "name", "", "labels", "app.kubernetes.io/managed-by",
                           "kyverno");
  char name[300];
  if (cluster) {
    snprintf(name, sizeof name, "clusterpolicyreport");
  } else {
    snprintf(name, sizeof name, "polr-ns-%s", ns);
    json_object_set_new(meta, "namespace", json_string(ns));
  }
  json_object_set_new(meta, "name", json_string(name));
  json_t *summary = json_pack("{s:i,s:i,s:i,s:i,s:i}", "pass", 0, "fail", 0, "warn", 0, "error",
                              0, "skip", 0);
  json_t *list = json_array();
  /* results in key order: stable reports, no churn on rewrite */
  size_t n = json_object_size(results), i = 0;
  const char **keys = calloc(n ? n : 1, sizeof *keys);
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)results, k, v) {
    if (keys) keys[i++] = k;
  }
  if (keys) idp_sort(keys, i, sizeof *keys, cmp_keys);
  for (size_t j = 0; keys && j < i; j++) {
    json_t *r = json_object_get(results, keys[j]);
    json_array_append(list, r);
    const char *st = idp_json_get_str(r, "result", NULL);
    json_t *c = st ? json_object_get(summary, st) : NULL;
    if (json_is_integer(c)) json_integer_set(c, json_integer_value(c) + 1);
  }
  free(keys);
  /* stay well below etcd's 3 MiB request limit (Kyverno #7138, #2674):
   * drop pass results first, then the tail; the summary keeps counting
   * everything and an annotation says how many results were left out */
  char *txt = json_dumps(list, JSON_COMPACT);
  size_t size = txt ? strlen(txt) : 0;
  free(txt);
  if (size > POL_REPORT_MAX_BYTES) {
    size_t before = json_array_size(list);
    for (size_t j = json_array_size(list); j-- > 0;)
      if (!strcmp(idp_json_get_str(json_array_get(list, j), "result", NULL) ?: "", "pass"))
        json_array_remove(list, j);
    while (json_array_size(list) > 0) {
      txt = json_dumps(list, JSON_COMPACT);
      size = txt ? strlen(txt) : 0;
      free(txt);
      if (size <= POL_REPORT_MAX_BYTES) break;
      /* cut by the average result size, at least one */
      size_t n = json_array_size(list);
      size_t cut = (size - POL_REPORT_MAX_BYTES) / (size / n + 1) + 1;
      for (size_t c = 0; c < cut && json_array_size(list); c++)
        json_array_remove(list, json_array_size(list) - 1);
    }
    char left[32];
    snprintf(left, sizeof left, "%zu", before - json_array_size(list));
    json_object_set_new(idp_json_child_object(meta, "annotations"), "idp.dev/results-omitted",
                        json_string(left));
  }
  return json_pack("{s:s,s:s,s:o,s:o,s:o}", "apiVersion", "wgpolicyk8s.io/v1alpha2", "kind",
                   cluster ? "ClusterPolicyReport" : "PolicyReport", "metadata", meta, "summary",
                   summary, "results", list);
}

/* ---- the in-memory store ---- */

static void result_key(const json_t *resource, const pol_policy *p, const char *rule, char *buf,
                       size_t n) {
  char pname[600];
  policy_label(p, pname, sizeof pname);
  snprintf(buf, n, "%s|%s|%s|%s|%s|%s", idp_json_get_str(resource, "apiVersion", NULL) ?: "",
           idp_json_get_str(resource, "kind", NULL) ?: "",
           idp_json_get_str(resource, "metadata", "namespace", NULL) ?: "",
           idp_json_get_str(resource, "metadata", "name", NULL) ?: "", pname, rule ? rule : "");
}

/* Caller holds mu.  Marks the namespace dirty through the controller. */
static void store_put(pol_reports *r, const json_t *resource, const pol_policy *p,
                      const pol_rule_result *rr, const char *process) {
  if (rr->type != POL_VALIDATE && rr->type != POL_VERIFY) return;
  if (r->o.omit_pass && rr->status == POL_PASS) return;
  const char *ns = idp_json_get_str(resource, "metadata", "namespace", NULL);
  if (!ns) ns = "";
  json_t *bucket = idp_json_child_object(r->store, ns);
  char key[2048];
  result_key(resource, p, rr->rule, key, sizeof key);
  json_object_set_new(bucket, key,
                      pol_reports_result(resource, p, rr, process, now_ms() / 1000));
}

/* Caller holds mu.  Drops every result of policy `pname` ("ns/name" or
 * "name"), enqueueing the namespaces that changed. */
static void store_drop_policy(pol_reports *r, const char *pname, json_t *touched) {
  const char *ns;
  json_t *bucket;
  json_object_foreach(r->store, ns, bucket) {
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(bucket, tmp, k, v) {
      const char *pol = idp_json_get_str(v, "policy", NULL);
      if (pol && strcmp(pol, pname) == 0) {
        json_object_del(bucket, k);
        json_object_set_new(touched, ns, json_true());
      }
    }
  }
}

static void enqueue_ns(pol_reports *r, const char *ns) {
  if (r->ctl) idp_controller_enqueue(r->ctl, ns && *ns ? ns : CLUSTER_KEY);
}

void pol_reports_record(void *ud, const json_t *resource, const pol_policy *p,
                        const pol_rule_result *rr, const char *action) {
  pol_reports *r = ud;
  IDP_UNUSED(action);
  if (!r || !resource || !p || !rr) return;
  pthread_mutex_lock(&r->mu);
  store_put(r, resource, p, rr, "admission review");
  pthread_mutex_unlock(&r->mu);
  enqueue_ns(r, idp_json_get_str(resource, "metadata", "namespace", NULL));
}

/* ---- writing reports ---- */

static const idp_kref PREPORTS = {"wgpolicyk8s.io", "v1alpha2", "policyreports"};
static const idp_kref CPREPORTS = {"wgpolicyk8s.io", "v1alpha2", "clusterpolicyreports"};

static idp_code reconcile(void *ud, const char *key, int64_t *again, idp_err *e) {
  pol_reports *r = ud;
  IDP_UNUSED(again);
  bool cluster = strcmp(key, CLUSTER_KEY) == 0;
  const char *ns = cluster ? "" : key;
  pthread_mutex_lock(&r->mu);
  json_t *bucket = json_object_get(r->store, ns);
  json_t *want = json_object_size(bucket) ? pol_reports_build(ns, bucket) : NULL;
  pthread_mutex_unlock(&r->mu);
  idp_kref ref = cluster ? CPREPORTS : PREPORTS;
  char name[300];
  snprintf(name, sizeof name, cluster ? "clusterpolicyreport" : "polr-ns-%s", ns);
  ref.ns = cluster ? NULL : ns;
  ref.name = name;
  json_t *cur = NULL;
  idp_code rc = idp_kclient_get(r->kc, &ref, &cur, e);
  if (rc && rc != IDP_ENOTFOUND) {
    json_decref(want);
    return rc;
  }
  idp_err_clear(e);
  if (!want) { /* no results: no report */
    if (cur) rc = idp_kclient_delete(r->kc, &ref, NULL, NULL, e);
    if (rc == IDP_ENOTFOUND) rc = IDP_OK;
    json_decref(cur);
    return rc;
  }
  if (!cur) {
    ref.name = NULL;
    rc = idp_kclient_create(r->kc, &ref, want, NULL, NULL, e);
  } else {
    const char *rv = idp_json_get_str(cur, "metadata", "resourceVersion", NULL);
    if (rv) json_object_set_new(json_object_get(want, "metadata"), "resourceVersion",
                                json_string(rv));
    /* unchanged results (ignoring timestamps would hide re-evaluations):
     * skip identical writes */
    if (!json_equal(json_object_get(cur, "results"), json_object_get(want, "results")))
      rc = idp_kclient_update(r->kc, &ref, want, NULL, NULL, e);
  }
  json_decref(cur);
  json_decref(want);
  return rc;
}

/* ---- background scans ---- */

static bool has_validate(const pol_policy *p) {
  for (size_t i = 0; i < json_array_size(p->rules); i++)
    if (json_object_get(json_array_get(p->rules, i), "validate")) return true;
  return false;
}

/* Scans one policy over the live objects; results go to the store. */
static void scan_policy(pol_reports *r, const pol_policy *p, const json_t *nslabels,
                        json_t *cache, json_t *touched) {
  char pname[600];
  policy_label(p, pname, sizeof pname);
  bool background = !json_is_false(idp_json_get(p->doc, "spec", "background", NULL));
  /* background: false: only admission results, which a scan must keep */
  if (!background) return;
  json_t *fresh = json_array(); /* [resource, response...] collected outside the lock */
  if (has_validate(p)) {
    json_t *targets = json_object();
    for (size_t i = 0; i < json_array_size(p->rules); i++) {
      const json_t *rule = json_array_get(p->rules, i);
      if (json_object_get(rule, "validate")) pol_rule_kind_targets(r->kc, rule, targets);
    }
    const char *tk;
    json_t *tv;
    json_object_foreach(targets, tk, tv) {
      char av[300], kind[300];
      if (!pol_target_split(tk, av, sizeof av, kind, sizeof kind)) continue;
      IDP_UNUSED(tv);
      /* one LIST per kind and namespace per scan, shared by the policies
       * (not one per policy: API-server load is a known Kyverno pain) */
      char ckey[900];
      snprintf(ckey, sizeof ckey, "%s|%s|%s", av, kind, p->namespaced && p->ns ? p->ns : "");
      json_t *items = json_incref(json_object_get(cache, ckey));
      idp_err e = IDP_ERR_INIT;
      if (!items) {
        if (r->api.get(r->api.ud, av, kind, p->namespaced ? p->ns : NULL, NULL, &items, &e)) {
          idp_log(IDP_LOG_DEBUG, "background scan: list failed", "policy", pname, "kind", kind,
                  "error", e.msg, NULL);
          continue;
        }
        json_object_set(cache, ckey, items);
      }
      for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *obj = json_array_get(items, i);
        pol_request req = {0};
        req.object = obj;
        req.operation = "CREATE";
        req.namespace_labels = nslabels;
        req.api = &r->api;
        pol_response resp = {0};
        pol_eval(p, &req, POL_PHASE_VALIDATE, &resp, NULL);
        for (size_t k = 0; k < resp.n; k++) {
          json_t *row = json_pack("{s:O,s:s,s:i,s:s}", "resource", obj, "rule", resp.rules[k].rule,
                                  "status", (int)resp.rules[k].status, "message",
                                  resp.rules[k].message ? resp.rules[k].message : "");
          json_array_append_new(fresh, row);
        }
        pol_response_clear(&resp);
      }
      json_decref(items);
    }
    json_decref(targets);
  }
  pthread_mutex_lock(&r->mu);
  store_drop_policy(r, pname, touched);
  for (size_t i = 0; i < json_array_size(fresh); i++) {
    json_t *row = json_array_get(fresh, i);
    pol_rule_result rr = {(char *)idp_json_get_str(row, "rule", NULL), POL_VALIDATE,
                          (pol_status)json_integer_value(json_object_get(row, "status")),
                          (char *)idp_json_get_str(row, "message", NULL), NULL};
    const json_t *res = json_object_get(row, "resource");
    store_put(r, res, p, &rr, "background scan");
    const char *ns = idp_json_get_str(res, "metadata", "namespace", NULL);
    json_object_set_new(touched, ns ? ns : "", json_true());
  }
  pthread_mutex_unlock(&r->mu);
  json_decref(fresh);
}

static json_t *all_namespace_labels(pol_reports *r) {
  json_t *items = NULL, *out = json_object();
  idp_err e = IDP_ERR_INIT;
  if (r->api.get(r->api.ud, "v1", "Namespace", NULL, NULL, &items, &e) == IDP_OK)
    for (size_t i = 0; i < json_array_size(items); i++) {
      const json_t *ns = json_array_get(items, i);
      const char *n = idp_json_get_str(ns, "metadata", "name", NULL);
      const json_t *l = idp_json_get(ns, "metadata", "labels", NULL);
      if (n) json_object_set_new(out, n, json_is_object(l) ? json_deep_copy(l) : json_object());
    }
  json_decref(items);
  return out;
}

/* Scans the policies named in `which` ("*" = all); writes touched
 * namespaces through the controller, or directly when `sync`. */
static void scan(pol_reports *r, json_t *which, bool sync) {
  json_t *touched = json_object();
  json_t *nslabels = all_namespace_labels(r);
  pol_set *set = pol_admission_snapshot(r->adm);
  bool all = json_object_get(which, "*") != NULL;
  json_t *cache = json_object();
  for (size_t i = 0; i < pol_set_size(set); i++) {
    const pol_policy *p = pol_set_get(set, i);
    char pname[600];
    policy_label(p, pname, sizeof pname);
    if (all || json_object_get(which, pname)) scan_policy(r, p, nslabels, cache, touched);
  }
  json_decref(cache);
  pol_set_release(set);
  json_decref(nslabels);
  const char *ns;
  json_t *v;
  json_object_foreach(touched, ns, v) {
    if (sync) {
      idp_err e = IDP_ERR_INIT;
      int64_t again = 0;
      if (reconcile(r, *ns ? ns : CLUSTER_KEY, &again, &e))
        idp_log(IDP_LOG_WARN, "writing policy report failed", "namespace", ns, "error", e.msg,
                NULL);
    } else {
      enqueue_ns(r, ns);
    }
  }
  json_decref(touched);
}

static void *scan_main(void *arg) {
  pol_reports *r = arg;
  pthread_mutex_lock(&r->mu);
  while (!r->stopping) {
    long long now = now_ms();
    bool due = now >= r->next_full_ms;
    if (!due && json_object_size(r->pending) == 0) {
      long long wait = r->next_full_ms - now;
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      long long until = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + wait;
      ts.tv_sec = until / 1000;
      ts.tv_nsec = (until % 1000) * 1000000;
      pthread_cond_timedwait(&r->cv, &r->mu, &ts);
      continue;
    }
    if (!due) {
      /* debounce: policy events arrive in bursts (initial list) */
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_sec += 1;
      pthread_cond_timedwait(&r->cv, &r->mu, &ts);
      if (r->stopping) break;
    }
    json_t *which = r->pending;
    r->pending = json_object();
    if (due) {
      json_object_set_new(which, "*", json_true());
      r->next_full_ms = now_ms() + r->o.interval_ms;
    }
    pthread_mutex_unlock(&r->mu);
    scan(r, which, false);
    json_decref(which);
    pthread_mutex_lock(&r->mu);
  }
  pthread_mutex_unlock(&r->mu);
  return NULL;
}

void pol_reports_policy_changed(pol_reports *r, const json_t *policy, bool deleted) {
  const char *name = idp_json_get_str(policy, "metadata", "name", NULL);
  const char *ns = idp_json_get_str(policy, "metadata", "namespace", NULL);
  if (!r || !name) return;
  char pname[600];
  if (ns && *ns) snprintf(pname, sizeof pname, "%s/%s", ns, name);
  else snprintf(pname, sizeof pname, "%s", name);
  pthread_mutex_lock(&r->mu);
  if (deleted) {
    json_t *touched = json_object();
    store_drop_policy(r, pname, touched);
    pthread_mutex_unlock(&r->mu);
    const char *k;
    json_t *v;
    json_object_foreach(touched, k, v) enqueue_ns(r, k);
    json_decref(touched);
    return;
  }
  json_object_set_new(r->pending, pname, json_true());
  pthread_cond_signal(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

static void on_policy(void *ud, const json_t *policy, const json_t *old, bool deleted) {
  IDP_UNUSED(old);
  pol_reports_policy_changed(ud, policy, deleted);
}

idp_code pol_reports_scan_now(pol_reports *r, idp_err *e) {
  IDP_UNUSED(e);
  json_t *all = json_pack("{s:b}", "*", 1);
  scan(r, all, true);
  json_decref(all);
  return IDP_OK;
}

idp_code pol_reports_start(idp_kclient *kc, const pol_reports_opts *o, pol_reports **out,
                           idp_err *e) {
  idp_code rc;
  if (!(o && o->skip_crds) && (rc = pol_install_crds(kc, e))) return rc;
  pol_reports *r = calloc(1, sizeof *r);
  if (!r) return idp_err_set(e, IDP_ENOMEM, "allocating the reports controller");
  r->kc = kc;
  if (o) r->o = *o;
  if (r->o.interval_ms <= 0) r->o.interval_ms = 3600 * 1000LL;
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cv, NULL);
  r->store = json_object();
  r->pending = json_object();
  pol_kapi_init(&r->api, kc);
  r->next_full_ms = now_ms() + r->o.interval_ms;
  idp_controller_opts co = {.name = "policy-reports", .workers = 1, .reconcile = reconcile,
                            .ud = r};
  if ((rc = idp_controller_new(&co, &r->ctl, e))) goto fail;
  if (r->o.adm) {
    r->adm = r->o.adm;
  } else {
    if ((rc = pol_admission_new(NULL, &r->adm, e))) goto fail;
    r->own_adm = true;
    if ((rc = pol_watch_start(kc, r->adm, on_policy, r, &r->watch, e))) goto fail;
    pol_watch_synced(r->watch, 30000);
  }
  if ((rc = idp_controller_start(r->ctl, e))) goto fail;
  if (pthread_create(&r->scan_thread, NULL, scan_main, r) != 0) {
    rc = idp_err_set(e, IDP_ENOMEM, "starting the background scan thread");
    goto fail;
  }
  r->scan_started = true;
  /* a first scan of everything soon after start */
  pthread_mutex_lock(&r->mu);
  json_object_set_new(r->pending, "*", json_true());
  pthread_cond_signal(&r->cv);
  pthread_mutex_unlock(&r->mu);
  *out = r;
  return IDP_OK;
fail:
  pol_reports_stop(r);
  return rc;
}

void pol_reports_stop(pol_reports *r) {
  if (!r) return;
  pthread_mutex_lock(&r->mu);
  r->stopping = true;
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
  if (r->scan_started) pthread_join(r->scan_thread, NULL);
  pol_watch_stop(r->watch);
  if (r->ctl) {
    idp_controller_stop(r->ctl);
    idp_controller_free(r->ctl);
  }
  if (r->own_adm) pol_admission_free(r->adm);
  json_decref(r->store);
  json_decref(r->pending);
  pthread_cond_destroy(&r->cv);
  pthread_mutex_destroy(&r->mu);
  free(r);
}
