/* controllers.c: evaluator + policy watcher + reports + generate, with
 * optional Lease election (controllers.h). */
#include "core/common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "core/json.h"
#include "core/log.h"
#include "policy/controllers.h"
#include "policy/runtime.h"

struct pol_controllers {
  idp_kclient *kc;
  pol_controllers_opts o;
  pol_api api;
  pol_adm *adm;
  pol_watch *watch;
  idp_leader *leader;
  pthread_mutex_t mu; /* start/stop of the controllers */
  _Atomic(pol_reports *) reports;
  _Atomic(pol_generate *) gen;
  idp_controller *status; /* the Ready condition of policies */
};

/* ---- policy status: Ready condition, rule counts, autogen rules ---- */

static const idp_kref CPOLS = {"kyverno.io", "v1", "clusterpolicies"};
static const idp_kref POLS = {"kyverno.io", "v1", "policies"};

static json_t *rule_count(const pol_policy *p) {
  static const char *const kinds[][2] = {{"validate", "validate"}, {"mutate", "mutate"},
                                         {"generate", "generate"},
                                         {"verifyImages", "verifyimages"}};
  json_t *out = json_object();
  const json_t *rules = idp_json_get(p->doc, "spec", "rules", NULL);
  for (size_t k = 0; k < IDP_ARRAY_LEN(kinds); k++) {
    json_int_t n = 0;
    for (size_t i = 0; i < json_array_size(rules); i++)
      if (json_object_get(json_array_get(rules, i), kinds[k][0])) n++;
    json_object_set_new(out, kinds[k][1], json_integer(n));
  }
  return out;
}

static idp_code reconcile_status(void *ud, const char *key, int64_t *again, idp_err *e) {
  pol_controllers *c = ud;
  IDP_UNUSED(again);
  char ns[256], name[256];
  if (!idp_key_split(key, ns, sizeof ns, name, sizeof name)) return IDP_OK;
  pol_set *set = pol_admission_snapshot(c->adm);
  const pol_policy *p = pol_set_find(set, ns, name);
  if (!p) {
    pol_set_release(set);
    return IDP_OK;
  }
  idp_kref r = *ns ? POLS : CPOLS;
  r.ns = *ns ? ns : NULL;
  r.name = name;
  json_t *cur = NULL;
  idp_code rc = idp_kclient_get(c->kc, &r, &cur, e);
  if (rc) {
    pol_set_release(set);
    return rc == IDP_ENOTFOUND ? (idp_err_clear(e), IDP_OK) : rc;
  }
  json_t *st = json_deep_copy(json_object_get(cur, "status"));
  if (!json_is_object(st)) {
    json_decref(st);
    st = json_object();
  }
  json_t *autogen = json_array();
  for (size_t i = 0; i < json_array_size(p->rules); i++) {
    const char *rn = idp_json_get_str(json_array_get(p->rules, i), "name", NULL);
    if (rn && strncmp(rn, "autogen-", 8) == 0) json_array_append(autogen, json_array_get(p->rules, i));
  }
  const json_t *old_cond = json_array_get(json_object_get(st, "conditions"), 0);
  bool up_to_date = json_is_true(json_object_get(st, "ready")) &&
                    !strcmp(idp_json_get_str(old_cond, "type", NULL) ?: "", "Ready") &&
                    !strcmp(idp_json_get_str(old_cond, "status", NULL) ?: "", "True");
  json_t *rc_new = rule_count(p);
  up_to_date = up_to_date && json_equal(rc_new, json_object_get(st, "rulecount")) &&
               json_equal(autogen, idp_json_get(st, "autogen", "rules", NULL) ?: json_array());
  pol_set_release(set);
  if (up_to_date) {
    json_decref(rc_new);
    json_decref(autogen);
    json_decref(st);
    json_decref(cur);
    return IDP_OK;
  }
  char now[32];
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", &tm);
  json_object_set_new(st, "ready", json_true());
  json_object_set_new(st, "rulecount", rc_new);
  json_object_set_new(st, "autogen", json_pack("{s:o}", "rules", autogen));
  json_object_set_new(st, "conditions",
                      json_pack("[{s:s,s:s,s:s,s:s,s:s}]", "type", "Ready", "status", "True",
                                "reason", "Succeeded", "message", "Ready",
                                "lastTransitionTime", now));
  json_object_set_new(cur, "status", st);
  rc = idp_kclient_update_status(c->kc, &r, cur, NULL, NULL, e);
  json_decref(cur);
  return rc;
}

static void on_result(void *ud, const json_t *resource, const pol_policy *p,
                      const pol_rule_result *r, const char *action) {
  pol_controllers *c = ud;
  pol_reports *rep = atomic_load(&c->reports);
  if (rep) pol_reports_record(rep, resource, p, r, action);
}

static void on_policy(void *ud, const json_t *policy, const json_t *old, bool deleted) {
  pol_controllers *c = ud;
  if (!deleted && c->status) idp_controller_enqueue_object(c->status, policy);
  pol_reports *rep = atomic_load(&c->reports);
  pol_generate *gen = atomic_load(&c->gen);
  if (rep) pol_reports_policy_changed(rep, policy, deleted);
  if (gen) pol_generate_policy_changed(gen, policy, old, deleted);
}

static void run_controllers(pol_controllers *c) {
  pthread_mutex_lock(&c->mu);
  idp_err e = IDP_ERR_INIT;
  if (!c->o.no_reports && !atomic_load(&c->reports)) {
    pol_reports_opts ro = c->o.reports;
    ro.adm = c->adm;
    ro.skip_crds = true;
    pol_reports *rep = NULL;
    if (pol_reports_start(c->kc, &ro, &rep, &e))
      idp_log(IDP_LOG_ERROR, "policy reports controller failed to start", "error", e.msg, NULL);
    else
      atomic_store(&c->reports, rep);
  }
  if (!c->o.no_generate && !atomic_load(&c->gen)) {
    pol_generate_opts go = {.adm = c->adm, .skip_crds = true};
    pol_generate *gen = NULL;
    if (pol_generate_start(c->kc, &go, &gen, &e))
      idp_log(IDP_LOG_ERROR, "policy generate controller failed to start", "error", e.msg, NULL);
    else {
      atomic_store(&c->gen, gen);
      /* policies known before the controller ran: generateExisting */
      pol_set *set = pol_admission_snapshot(c->adm);
      for (size_t i = 0; i < pol_set_size(set); i++)
        pol_generate_policy_changed(gen, pol_set_get(set, i)->doc, NULL, false);
      pol_set_release(set);
    }
  }
  pthread_mutex_unlock(&c->mu);
}

static void halt_controllers(pol_controllers *c) {
  pthread_mutex_lock(&c->mu);
  pol_generate_stop(atomic_exchange(&c->gen, NULL));
  pol_reports_stop(atomic_exchange(&c->reports, NULL));
  pthread_mutex_unlock(&c->mu);
}

static void on_started_leading(void *ud) {
  idp_log(IDP_LOG_INFO, "policy controllers: leading", NULL);
  run_controllers(ud);
}

static void on_stopped_leading(void *ud) {
  idp_log(IDP_LOG_WARN, "policy controllers: lease lost, stopping", NULL);
  halt_controllers(ud);
}

idp_code pol_controllers_install_crds(idp_kclient *kc, idp_err *e) {
  return pol_install_crds(kc, e);
}

idp_code pol_controllers_start(idp_kclient *kc, const pol_controllers_opts *o,
                               pol_controllers **out, idp_err *e) {
  idp_code rc;
  if (!(o && o->skip_crds) && (rc = pol_install_crds(kc, e))) return rc;
  pol_controllers *c = calloc(1, sizeof *c);
  if (!c) return idp_err_set(e, IDP_ENOMEM, "allocating the policy controllers");
  c->kc = kc;
  if (o) c->o = *o;
  pthread_mutex_init(&c->mu, NULL);
  pol_kapi_init(&c->api, kc);
  pol_adm_opts ao = {.api = c->o.api ? c->o.api : &c->api, .on_result = on_result,
                     .result_ud = c};
  if ((rc = pol_admission_new(&ao, &c->adm, e))) goto fail;
  idp_controller_opts so = {.name = "policy-status", .workers = 1, .reconcile = reconcile_status,
                            .ud = c, .max_retries = 5};
  if ((rc = idp_controller_new(&so, &c->status, e)) || (rc = idp_controller_start(c->status, e)))
    goto fail;
  if ((rc = pol_watch_start(kc, c->adm, on_policy, c, &c->watch, e))) goto fail;
  pol_watch_synced(c->watch, 30000);
  if (c->o.no_reports && c->o.no_generate) {
    /* admission only */
  } else if (c->o.lease_ns) {
    idp_leader_opts lo = {.ns = c->o.lease_ns, .name = "idp-policy-controllers",
                          .identity = c->o.identity, .release_on_stop = true,
                          .on_started_leading = on_started_leading,
                          .on_stopped_leading = on_stopped_leading, .ud = c};
    if ((rc = idp_leader_new(kc, &lo, &c->leader, e)) || (rc = idp_leader_start(c->leader, e)))
      goto fail;
  } else {
    run_controllers(c);
  }
  *out = c;
  return IDP_OK;
fail:
  pol_controllers_stop(c);
  return rc;
}

void pol_controllers_stop(pol_controllers *c) {
  if (!c) return;
  if (c->leader) {
    idp_leader_stop(c->leader);
    idp_leader_free(c->leader);
  }
  halt_controllers(c);
  pol_watch_stop(c->watch);
  if (c->status) {
    idp_controller_stop(c->status);
    idp_controller_free(c->status);
  }
  pol_admission_free(c->adm);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

pol_adm *pol_controllers_adm(pol_controllers *c) { return c ? c->adm : NULL; }

bool pol_controllers_synced(pol_controllers *c, long timeout_ms) {
  return c && c->watch && pol_watch_synced(c->watch, timeout_ms);
}

void pol_controllers_admitted(pol_controllers *c, const json_t *object, const pol_admit_out *out) {
  pol_generate *gen = c ? atomic_load(&c->gen) : NULL;
  if (gen && out && out->allowed && out->generate) pol_generate_enqueue(gen, object, out->generate);
}
