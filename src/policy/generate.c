/* generate.c: generate rules run in the background (generate.h). */
#include "core/common.h"

#include <pthread.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "policy/generate.h"
#include "policy/runtime.h"

#define MANAGED "app.kubernetes.io/managed-by=kyverno"
#define FRESH_TRIES 20 /* ~10 s for a trigger admitted but not stored yet */

typedef struct dswatch {
  char gvr[700];
  idp_informer *inf;
} dswatch;

struct pol_generate {
  idp_kclient *kc;
  pol_generate_opts o;
  pol_adm *adm;
  bool own_adm;
  pol_api api;
  pol_watch *watch;
  idp_controller *ctl;
  pthread_mutex_t mu;
  json_t *fresh; /* {trigger key: tries left} */
  json_t *seen;  /* {"P|ns|name": last policy doc} */
  dswatch *ws;
  size_t nws, capws;
};

/* ---- keys ---- */

static void trigger_key(const char *av, const char *kind, const char *ns, const char *name,
                        char *buf, size_t n) {
  snprintf(buf, n, "T|%s|%s|%s|%s", av ? av : "", kind ? kind : "", ns ? ns : "",
           name ? name : "");
}

static bool split4(const char *key, char parts[4][300]) {
  const char *p = key + 2;
  for (int i = 0; i < 4; i++) {
    const char *bar = i < 3 ? strchr(p, '|') : p + strlen(p);
    if (!bar) return false;
    snprintf(parts[i], 300, "%.*s", (int)(bar - p), p);
    p = bar + 1;
  }
  return true;
}

static void enqueue_from_labels(pol_generate *g, const json_t *obj) {
  const json_t *l = idp_json_get(obj, "metadata", "labels", NULL);
  const char *pol = idp_json_get_str(l, "generate.kyverno.io/policy-name", NULL);
  const char *kind = idp_json_get_str(l, "generate.kyverno.io/trigger-kind", NULL);
  const char *name = idp_json_get_str(l, "generate.kyverno.io/trigger-name", NULL);
  if (!pol || !kind || !name) return;
  const char *grp = idp_json_get_str(l, "generate.kyverno.io/trigger-group", NULL);
  const char *ver = idp_json_get_str(l, "generate.kyverno.io/trigger-version", NULL);
  char av[300];
  if (grp && *grp) snprintf(av, sizeof av, "%s/%s", grp, ver ? ver : "v1");
  else snprintf(av, sizeof av, "%s", ver ? ver : "v1");
  char key[1400];
  trigger_key(av, kind, idp_json_get_str(l, "generate.kyverno.io/trigger-namespace", NULL), name,
              key, sizeof key);
  idp_controller_enqueue(g->ctl, key);
}

/* ---- downstream watches ---- */

static void ds_update(void *ud, const json_t *old, const json_t *obj) {
  IDP_UNUSED(old);
  enqueue_from_labels(ud, obj);
}
static void ds_delete(void *ud, const json_t *obj) { enqueue_from_labels(ud, obj); }

static void ensure_watch(pol_generate *g, const idp_kgvr *gv) {
  char id[700];
  snprintf(id, sizeof id, "%s/%s/%s", gv->group, gv->version, gv->resource);
  pthread_mutex_lock(&g->mu);
  for (size_t i = 0; i < g->nws; i++)
    if (strcmp(g->ws[i].gvr, id) == 0) {
      pthread_mutex_unlock(&g->mu);
      return;
    }
  if (g->nws == g->capws) {
    size_t cap = g->capws ? g->capws * 2 : 8;
    dswatch *n = realloc(g->ws, cap * sizeof *n);
    if (!n) {
      pthread_mutex_unlock(&g->mu);
      return;
    }
    g->ws = n;
    g->capws = cap;
  }
  idp_informer_handlers h = {NULL, ds_update, ds_delete, g};
  idp_informer_opts io = {.resource = {gv->group, gv->version, gv->resource},
                          .label_selector = MANAGED};
  idp_err e = IDP_ERR_INIT;
  idp_informer *inf = NULL;
  if (idp_informer_new(g->kc, &io, &h, &inf, &e) == IDP_OK &&
      idp_informer_start(inf, &e) == IDP_OK) {
    dswatch *w = &g->ws[g->nws++];
    snprintf(w->gvr, sizeof w->gvr, "%s", id);
    w->inf = inf;
  } else {
    idp_informer_free(inf);
    idp_log(IDP_LOG_WARN, "generate: watching downstream failed", "resource", id, "error", e.msg,
            NULL);
  }
  pthread_mutex_unlock(&g->mu);
}

/* ---- helpers ---- */

static const json_t *find_rule(const pol_policy *p, const char *name) {
  for (size_t i = 0; i < json_array_size(p->rules); i++) {
    const char *n = idp_json_get_str(json_array_get(p->rules, i), "name", NULL);
    if (n && strcmp(n, name) == 0) return json_array_get(p->rules, i);
  }
  return NULL;
}

static const json_t *find_rule_doc(const json_t *doc, const char *name) {
  const json_t *rules = idp_json_get(doc, "spec", "rules", NULL);
  for (size_t i = 0; i < json_array_size(rules); i++) {
    const char *n = idp_json_get_str(json_array_get(rules, i), "name", NULL);
    if (n && strcmp(n, name) == 0) return json_array_get(rules, i);
  }
  return NULL;
}

static bool rule_sync(const json_t *rule) {
  return json_is_true(idp_json_get(rule, "generate", "synchronize", NULL));
}

/* Lists objects of apiVersion/kind (all namespaces) matching `selector`;
 * new array or NULL. */
static json_t *list_selected(pol_generate *g, const char *av, const char *kind,
                             const char *selector, idp_kgvr *gv) {
  idp_err e = IDP_ERR_INIT;
  if (idp_kclient_resolve(g->kc, av, kind, gv, &e)) return NULL;
  idp_kref r = {gv->group, gv->version, gv->resource, NULL, NULL, NULL};
  idp_klist_opts lo = {.label_selector = selector};
  json_t *list = NULL;
  if (idp_kclient_list_all(g->kc, &r, &lo, &list, &e)) return NULL;
  json_t *items = json_incref(json_object_get(list, "items"));
  json_decref(list);
  return items;
}

static void delete_obj(pol_generate *g, const idp_kgvr *gv, const json_t *obj) {
  idp_kref r = {gv->group, gv->version, gv->resource,
                gv->namespaced ? idp_json_get_str(obj, "metadata", "namespace", NULL) : NULL,
                idp_json_get_str(obj, "metadata", "name", NULL), NULL};
  idp_err e = IDP_ERR_INIT;
  idp_code rc = idp_kclient_delete(g->kc, &r, NULL, NULL, &e);
  if (rc && rc != IDP_ENOTFOUND)
    idp_log(IDP_LOG_WARN, "generate: deleting downstream failed", "name", r.name, "error", e.msg,
            NULL);
}

/* The generate targets (apiVersion, kind) of a rule: generate itself or
 * its foreach entries. */
static void gen_kinds(const json_t *rule, json_t *out) {
  const json_t *gen = json_object_get(rule, "generate");
  const json_t *fe = json_object_get(gen, "foreach");
  const json_t *list[64];
  size_t n = 0;
  if (json_is_array(fe))
    for (size_t i = 0; i < json_array_size(fe) && n < 64; i++) list[n++] = json_array_get(fe, i);
  else if (gen)
    list[n++] = gen;
  for (size_t i = 0; i < n; i++) {
    const char *av = idp_json_get_str(list[i], "apiVersion", NULL);
    const char *kind = idp_json_get_str(list[i], "kind", NULL);
    if (!kind || strstr(kind, "{{")) continue;
    char k[600];
    snprintf(k, sizeof k, "%s|%s", av ? av : "v1", kind);
    json_object_set_new(out, k, json_true());
  }
}

/* ---- reconcile: one trigger ---- */

static idp_code apply_one(pol_generate *g, const json_t *desired, bool sync, idp_err *e) {
  idp_kgvr gv;
  idp_kref r;
  idp_code rc = idp_kclient_ref_for(g->kc, desired, &gv, &r, e);
  if (rc) return rc;
  ensure_watch(g, &gv);
  json_t *cur = NULL;
  rc = idp_kclient_get(g->kc, &r, &cur, e);
  if (rc == IDP_ENOTFOUND) {
    idp_err_clear(e);
    idp_kref c = r;
    c.name = NULL;
    rc = idp_kclient_create(g->kc, &c, desired, NULL, NULL, e);
    if (rc == IDP_EEXIST) rc = IDP_OK, idp_err_clear(e);
    return rc;
  }
  if (rc) return rc;
  if (!sync) {
    json_decref(cur);
    return IDP_OK;
  }
  /* synchronize: the rule's output wins for everything but metadata and
   * status; our labels are restored */
  json_t *want = json_deep_copy(cur);
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)desired, k, v) {
    if (strcmp(k, "metadata") && strcmp(k, "status")) json_object_set(want, k, v);
  }
  void *tmp;
  json_object_foreach_safe(want, tmp, k, v) {
    if (strcmp(k, "metadata") && strcmp(k, "status") && strcmp(k, "apiVersion") &&
        strcmp(k, "kind") && !json_object_get(desired, k))
      json_object_del(want, k);
  }
  json_t *labels = idp_json_child_object(idp_json_child_object(want, "metadata"), "labels");
  json_object_update(labels, idp_json_get(desired, "metadata", "labels", NULL));
  if (!json_equal(want, cur)) rc = idp_kclient_update(g->kc, &r, want, NULL, NULL, e);
  json_decref(want);
  json_decref(cur);
  return rc;
}

/* The trigger is gone: delete synchronized downstream it generated. */
static void trigger_gone(pol_generate *g, const char *kind, const char *ns, const char *name) {
  pol_set *set = pol_admission_snapshot(g->adm);
  for (size_t i = 0; i < pol_set_size(set); i++) {
    const pol_policy *p = pol_set_get(set, i);
    json_t *kinds = json_object();
    for (size_t k = 0; k < json_array_size(p->rules); k++)
      if (rule_sync(json_array_get(p->rules, k))) gen_kinds(json_array_get(p->rules, k), kinds);
    const char *tk;
    json_t *tv;
    json_object_foreach(kinds, tk, tv) {
      char av[300], gk[300];
      if (!pol_target_split(tk, av, sizeof av, gk, sizeof gk)) continue;
      idp_buf sel;
      idp_buf_init(&sel, 4096);
      idp_buf_printf(&sel, "generate.kyverno.io/policy-name=%s,generate.kyverno.io/trigger-kind=%s,"
                           "generate.kyverno.io/trigger-name=%s",
                     p->name, kind, name);
      if (ns && *ns) idp_buf_printf(&sel, ",generate.kyverno.io/trigger-namespace=%s", ns);
      idp_kgvr gv;
      json_t *items = list_selected(g, av, gk, idp_buf_str(&sel), &gv);
      idp_buf_free(&sel);
      for (size_t j = 0; j < json_array_size(items); j++) {
        const json_t *o = json_array_get(items, j);
        const char *rn = idp_json_get_str(o, "metadata", "labels", "generate.kyverno.io/rule-name",
                                          NULL);
        const json_t *rule = rn ? find_rule(p, rn) : NULL;
        if (rule && rule_sync(rule)) delete_obj(g, &gv, o);
      }
      json_decref(items);
    }
    json_decref(kinds);
  }
  pol_set_release(set);
}

static idp_code reconcile_trigger(pol_generate *g, const char *key, int64_t *again, idp_err *e) {
  char p[4][300];
  if (!split4(key, p)) return IDP_OK;
  json_t *trig = NULL;
  idp_err le = IDP_ERR_INIT;
  idp_code rc = g->api.get(g->api.ud, p[0], p[1], p[2][0] ? p[2] : NULL, p[3], &trig, &le);
  if (rc == IDP_ENOTFOUND) {
    pthread_mutex_lock(&g->mu);
    json_t *f = json_object_get(g->fresh, key);
    long long left = json_integer_value(f);
    if (f) {
      if (left > 1) json_object_set_new(g->fresh, key, json_integer(left - 1));
      else json_object_del(g->fresh, key);
    }
    pthread_mutex_unlock(&g->mu);
    if (f && left > 1) { /* admitted, not stored yet */
      *again = 500;
      return IDP_OK;
    }
    trigger_gone(g, p[1], p[2], p[3]);
    return IDP_OK;
  }
  if (rc) return idp_err_set(e, rc, "generate: reading trigger %s: %s", key + 2, le.msg);
  pthread_mutex_lock(&g->mu);
  json_object_del(g->fresh, key);
  pthread_mutex_unlock(&g->mu);
  if (!json_object_get(trig, "kind")) json_object_set_new(trig, "kind", json_string(p[1]));
  if (!json_object_get(trig, "apiVersion")) json_object_set_new(trig, "apiVersion", json_string(p[0]));
  pol_set *set = pol_admission_snapshot(g->adm);
  idp_code first = IDP_OK;
  bool any_sync = false;
  for (size_t i = 0; i < pol_set_size(set); i++) {
    const pol_policy *pol = pol_set_get(set, i);
    pol_request req = {0};
    req.object = trig;
    req.operation = "CREATE";
    req.api = &g->api;
    pol_response resp = {0};
    pol_eval(pol, &req, POL_PHASE_GENERATE, &resp, NULL);
    for (size_t k = 0; k < resp.n; k++) {
      const pol_rule_result *rr = &resp.rules[k];
      if (rr->status != POL_PASS) continue;
      bool sync = rule_sync(find_rule(pol, rr->rule));
      any_sync = any_sync || sync;
      for (size_t j = 0; j < json_array_size(rr->generated); j++) {
        json_t *o = json_deep_copy(json_array_get(rr->generated, j));
        pol_generate_labels(o, pol, rr->rule, trig);
        idp_err ae = IDP_ERR_INIT;
        idp_code arc = apply_one(g, o, sync, &ae);
        if (arc && !first) {
          first = arc;
          idp_err_set(e, arc, "generate %s/%s for %s: %s", pol->name, rr->rule, key + 2, ae.msg);
        }
        json_decref(o);
      }
    }
    pol_response_clear(&resp);
  }
  pol_set_release(set);
  json_decref(trig);
  if (!first && any_sync) *again = g->o.resync_ms;
  return first;
}

/* ---- reconcile: one policy changed or deleted ---- */

static idp_code reconcile_policy(pol_generate *g, const char *key, idp_err *e) {
  IDP_UNUSED(e);
  char ns[300], name[300];
  const char *a = key + 2, *bar = strchr(a, '|');
  if (!bar) return IDP_OK;
  snprintf(ns, sizeof ns, "%.*s", (int)(bar - a), a);
  snprintf(name, sizeof name, "%s", bar + 1);
  pthread_mutex_lock(&g->mu);
  json_t *last = json_incref(json_object_get(g->seen, key));
  pthread_mutex_unlock(&g->mu);
  pol_set *set = pol_admission_snapshot(g->adm);
  const pol_policy *cur = pol_set_find(set, ns, name);
  /* downstream of the old and new generate rules */
  json_t *kinds = json_object();
  const json_t *rules = idp_json_get(last, "spec", "rules", NULL);
  for (size_t i = 0; i < json_array_size(rules); i++) gen_kinds(json_array_get(rules, i), kinds);
  for (size_t i = 0; cur && i < json_array_size(cur->rules); i++)
    gen_kinds(json_array_get(cur->rules, i), kinds);
  bool orphan = json_is_true(idp_json_get(last, "spec", "orphanDownstreamOnPolicyDelete", NULL));
  const char *tk;
  json_t *tv;
  json_object_foreach(kinds, tk, tv) {
    char av[300], gk[300];
    if (!pol_target_split(tk, av, sizeof av, gk, sizeof gk)) continue;
    char sel[800];
    snprintf(sel, sizeof sel, "generate.kyverno.io/policy-name=%s,generate.kyverno.io/policy-namespace=%s",
             name, ns);
    idp_kgvr gv;
    json_t *items = list_selected(g, av, gk, sel, &gv);
    for (size_t j = 0; j < json_array_size(items); j++) {
      const json_t *o = json_array_get(items, j);
      const char *rn =
          idp_json_get_str(o, "metadata", "labels", "generate.kyverno.io/rule-name", NULL);
      if (!rn) continue;
      const json_t *now_rule = cur ? find_rule(cur, rn) : NULL;
      const json_t *old_rule = last ? find_rule_doc(last, rn) : NULL;
      if (!now_rule) {
        /* rule or policy removed: synchronized downstream goes with it */
        if (old_rule && rule_sync(old_rule) && !(orphan && !cur)) delete_obj(g, &gv, o);
      } else {
        enqueue_from_labels(g, o); /* re-sync with the changed rule */
      }
    }
    json_decref(items);
  }
  json_decref(kinds);
  /* generateExisting: apply to the triggers that exist now */
  if (cur) {
    bool spec_ex = json_is_true(idp_json_get(cur->doc, "spec", "generateExisting", NULL)) ||
                   json_is_true(idp_json_get(cur->doc, "spec", "generateExistingOnPolicyUpdate",
                                             NULL));
    for (size_t i = 0; i < json_array_size(cur->rules); i++) {
      const json_t *rule = json_array_get(cur->rules, i);
      if (!json_object_get(rule, "generate")) continue;
      const json_t *ge = idp_json_get(rule, "generate", "generateExisting", NULL);
      if (!(json_is_true(ge) || (!ge && spec_ex))) continue;
      json_t *targets = json_object();
      pol_rule_kind_targets(g->kc, rule, targets);
      const char *k2;
      json_t *v2;
      json_object_foreach(targets, k2, v2) {
        char av[300], kind[300];
        if (!pol_target_split(k2, av, sizeof av, kind, sizeof kind)) continue;
        json_t *items = NULL;
        idp_err le = IDP_ERR_INIT;
        if (g->api.get(g->api.ud, av, kind, cur->namespaced ? cur->ns : NULL, NULL, &items, &le))
          continue;
        for (size_t j = 0; j < json_array_size(items); j++) {
          const json_t *o = json_array_get(items, j);
          char tkey[1400];
          trigger_key(av, kind, idp_json_get_str(o, "metadata", "namespace", NULL),
                      idp_json_get_str(o, "metadata", "name", NULL), tkey, sizeof tkey);
          idp_controller_enqueue(g->ctl, tkey);
        }
        json_decref(items);
      }
      json_decref(targets);
    }
  }
  pthread_mutex_lock(&g->mu);
  if (cur) json_object_set(g->seen, key, cur->doc);
  else json_object_del(g->seen, key);
  pthread_mutex_unlock(&g->mu);
  pol_set_release(set);
  json_decref(last);
  return IDP_OK;
}

static idp_code reconcile(void *ud, const char *key, int64_t *again, idp_err *e) {
  pol_generate *g = ud;
  if (key[0] == 'T' && key[1] == '|') return reconcile_trigger(g, key, again, e);
  if (key[0] == 'P' && key[1] == '|') return reconcile_policy(g, key, e);
  return IDP_OK;
}

/* ---- public ---- */

void pol_generate_enqueue(pol_generate *g, const json_t *trigger, const json_t *generate) {
  if (!g || !trigger || !json_array_size(generate)) return;
  char key[1400];
  trigger_key(idp_json_get_str(trigger, "apiVersion", NULL), idp_json_get_str(trigger, "kind", NULL),
              idp_json_get_str(trigger, "metadata", "namespace", NULL),
              idp_json_get_str(trigger, "metadata", "name", NULL), key, sizeof key);
  pthread_mutex_lock(&g->mu);
  json_object_set_new(g->fresh, key, json_integer(FRESH_TRIES));
  pthread_mutex_unlock(&g->mu);
  idp_controller_enqueue_after(g->ctl, key, 200);
}

void pol_generate_policy_changed(pol_generate *g, const json_t *policy, const json_t *old,
                                 bool deleted) {
  IDP_UNUSED(deleted);
  const char *name = idp_json_get_str(policy, "metadata", "name", NULL);
  if (!g || !name) return;
  const char *kind = idp_json_get_str(policy, "kind", NULL);
  const char *ns = idp_json_get_str(policy, "metadata", "namespace", NULL);
  if (kind && strcmp(kind, "ClusterPolicy") == 0) ns = NULL;
  char key[700];
  snprintf(key, sizeof key, "P|%s|%s", ns ? ns : "", name);
  pthread_mutex_lock(&g->mu);
  /* remember the last version: what a deleted/changed rule used to be */
  if (!json_object_get(g->seen, key)) json_object_set(g->seen, key, (json_t *)(old ? old : policy));
  if (deleted) json_object_set(g->seen, key, (json_t *)policy);
  pthread_mutex_unlock(&g->mu);
  idp_controller_enqueue(g->ctl, key);
}

static void on_policy(void *ud, const json_t *policy, const json_t *old, bool deleted) {
  pol_generate_policy_changed(ud, policy, old, deleted);
}

idp_code pol_generate_start(idp_kclient *kc, const pol_generate_opts *o, pol_generate **out,
                            idp_err *e) {
  idp_code rc;
  if (!(o && o->skip_crds) && (rc = pol_install_crds(kc, e))) return rc;
  pol_generate *g = calloc(1, sizeof *g);
  if (!g) return idp_err_set(e, IDP_ENOMEM, "allocating the generate controller");
  g->kc = kc;
  if (o) g->o = *o;
  if (g->o.resync_ms <= 0) g->o.resync_ms = 300000;
  pthread_mutex_init(&g->mu, NULL);
  g->fresh = json_object();
  g->seen = json_object();
  pol_kapi_init(&g->api, kc);
  idp_controller_opts co = {.name = "policy-generate",
                            .workers = g->o.workers > 0 ? g->o.workers : 2,
                            .reconcile = reconcile, .ud = g, .max_retries = 10};
  if ((rc = idp_controller_new(&co, &g->ctl, e))) goto fail;
  if ((rc = idp_controller_start(g->ctl, e))) goto fail;
  if (g->o.adm) {
    g->adm = g->o.adm;
  } else {
    if ((rc = pol_admission_new(NULL, &g->adm, e))) goto fail;
    g->own_adm = true;
    if ((rc = pol_watch_start(kc, g->adm, on_policy, g, &g->watch, e))) goto fail;
    pol_watch_synced(g->watch, 30000);
  }
  *out = g;
  return IDP_OK;
fail:
  pol_generate_stop(g);
  return rc;
}

void pol_generate_stop(pol_generate *g) {
  if (!g) return;
  pol_watch_stop(g->watch);
  if (g->ctl) {
    idp_controller_stop(g->ctl);
  }
  for (size_t i = 0; i < g->nws; i++) idp_informer_free(g->ws[i].inf);
  free(g->ws);
  idp_controller_free(g->ctl);
  if (g->own_adm) pol_admission_free(g->adm);
  json_decref(g->fresh);
  json_decref(g->seen);
  pthread_mutex_destroy(&g->mu);
  free(g);
}
