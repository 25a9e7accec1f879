#include "core/common.h"

#include <time.h>

#include "core/json.h"
#include "core/log.h"
#include "core/yaml.h"
#include "platform/internal.h"
#include "platform/platform.h"

/* The Team and WebApplication controllers: informers on the two kinds and
 * on the kinds they generate (label-selected), one controller each.  The
 * reconcilers build the desired objects (team.c, webapp.c), apply them with
 * apply_one and write the status. */

extern const char *const pl_crd_yaml[]; /* embed.sh */

#define MAX_OWNED 16

typedef struct owned_inf {
  idp_informer *inf;
  bool team; /* team object (label platform.idp.io/team) or WebApplication's */
  struct idp_platform *p;
} owned_inf;

struct idp_platform {
  idp_kclient *kc;
  idp_platform_opts o;
  idp_informer *teams, *apps;
  idp_controller *team_ctl, *app_ctl;
  owned_inf owned[MAX_OWNED];
  size_t nowned;
};

/* Generated kinds watched so drift is repaired at once: (group, version,
 * resource, team?).  Kinds that are not served are left out at start. */
static const struct {
  const char *api, *kind, *group, *version, *resource;
  bool team;
} watched[] = {
    {"v1", "Namespace", "", "v1", "namespaces", true},
    {"v1", "ResourceQuota", "", "v1", "resourcequotas", true},
    {"v1", "LimitRange", "", "v1", "limitranges", true},
    {"networking.k8s.io/v1", "NetworkPolicy", "networking.k8s.io", "v1", "networkpolicies", true},
    {"v1", "ServiceAccount", "", "v1", "serviceaccounts", true},
    {"rbac.authorization.k8s.io/v1", "Role", "rbac.authorization.k8s.io", "v1", "roles", true},
    {"rbac.authorization.k8s.io/v1", "RoleBinding", "rbac.authorization.k8s.io", "v1", "rolebindings", true},
    {"argoproj.io/v1alpha1", "AppProject", "argoproj.io", "v1alpha1", "appprojects", true},
    {"argoproj.io/v1alpha1", "Application", "argoproj.io", "v1alpha1", "applications", true},
    {"apps/v1", "Deployment", "apps", "v1", "deployments", false},
    {"v1", "Service", "", "v1", "services", false},
    {"autoscaling/v2", "HorizontalPodAutoscaler", "autoscaling", "v2", "horizontalpodautoscalers", false},
    {"policy/v1", "PodDisruptionBudget", "policy", "v1", "poddisruptionbudgets", false},
};

/* Fields the server assigns that an update must not drop (the rest of a
 * top-level field is replaced by the desired value). */
static const struct {
  const char *kind, *field, *sub;
} server_fields[] = {
    {"Service", "spec", "clusterIP"},
    {"Service", "spec", "clusterIPs"},
    {"Service", "spec", "ipFamilies"},
    {"Service", "spec", "ipFamilyPolicy"},
    {"Namespace", "spec", "finalizers"},
};

static void now_rfc3339(char *buf, size_t n) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- apply ------------------------------------------------------------- */

static void merge_map(json_t *meta, const json_t *want, const char *key) {
  json_t *w = json_object_get(want, key);
  if (!json_is_object(w)) return;
  json_t *h = json_object_get(meta, key);
  if (!json_is_object(h)) {
    json_object_set_new(meta, key, json_deep_copy(w));
    return;
  }
  json_object_update(h, w);
}

/* The update body: `have` with the desired labels/annotations/owners and
 * every desired top-level field (server-assigned sub-fields kept). */
static json_t *merged(const json_t *want, const json_t *have) {
  json_t *u = json_deep_copy(have);
  json_t *um = json_object_get(u, "metadata");
  const json_t *wm = json_object_get(want, "metadata");
  merge_map(um, wm, "labels");
  merge_map(um, wm, "annotations");
  json_t *ow = json_object_get(wm, "ownerReferences");
  if (ow) json_object_set_new(um, "ownerReferences", json_deep_copy(ow));
  const char *kind = json_string_value(json_object_get(want, "kind"));
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)want, k, v) {
    if (!strcmp(k, "apiVersion") || !strcmp(k, "kind") || !strcmp(k, "metadata") ||
        !strcmp(k, "status"))
      continue;
    json_t *nv = json_deep_copy(v);
    const json_t *old = json_object_get(have, k);
    for (size_t i = 0; i < IDP_ARRAY_LEN(server_fields); i++) {
      if (kind && !strcmp(kind, server_fields[i].kind) && !strcmp(k, server_fields[i].field) &&
          json_is_object(nv) && !json_object_get(nv, server_fields[i].sub)) {
        json_t *sv = json_object_get(old, server_fields[i].sub);
        if (sv) json_object_set(nv, server_fields[i].sub, sv);
      }
    }
    json_object_set_new(u, k, nv);
  }
  return u;
}

typedef enum { AP_UNCHANGED, AP_CREATED, AP_UPDATED } ap_result;

/* Creates or updates `want`.  *cur (may be NULL) gets the live object (new
 * ref).  IDP_ENOTFOUND with `*not_served` set when the kind is not served. */
static idp_code apply_one(idp_kclient *kc, const json_t *want, bool *not_served, ap_result *res,
                          json_t **cur, idp_err *e) {
  *not_served = false;
  if (cur) *cur = NULL;
  idp_kgvr g;
  idp_kref r;
  idp_code rc = idp_kclient_ref_for(kc, want, &g, &r, e);
  if (rc == IDP_ENOTFOUND) {
    *not_served = true;
    return rc;
  }
  if (rc) return rc;
  json_t *have = NULL, *live = NULL;
  rc = idp_kclient_get(kc, &r, &have, e);
  if (rc == IDP_ENOTFOUND) {
    idp_kref col = r;
    col.name = NULL;
    rc = idp_kclient_create(kc, &col, want, NULL, &live, e);
    if (!rc) *res = AP_CREATED;
  } else if (!rc) {
    if (idp_platform_subset(want, have)) {
      *res = AP_UNCHANGED;
      live = json_incref(have);
    } else {
      json_t *u = merged(want, have);
      rc = idp_kclient_update(kc, &r, u, NULL, &live, e);
      json_decref(u);
      if (!rc) *res = AP_UPDATED;
    }
  }
  json_decref(have);
  if (rc) {
    idp_err_prefix(e, "%s %s%s%s", g.kind, r.ns && *r.ns ? r.ns : "", r.ns && *r.ns ? "/" : "",
                   r.name ? r.name : "");
    json_decref(live);
    return rc;
  }
  if (cur) *cur = live;
  else json_decref(live);
  return IDP_OK;
}

static json_t *obj_ref(const json_t *o) {
  json_t *r = json_pack("{s:s,s:s,s:s}", "apiVersion", idp_json_get_str(o, "apiVersion", NULL),
                        "kind", idp_json_get_str(o, "kind", NULL), "name",
                        idp_json_get_str(o, "metadata", "name", NULL));
  const char *ns = idp_json_get_str(o, "metadata", "namespace", NULL);
  if (ns) json_object_set_new(r, "namespace", json_string(ns));
  return r;
}

/* Deletes the objects of `before` (refs {apiVersion, kind, namespace?,
 * name} from the last status) that are no longer in `desired`, when the
 * live object is still controlled by `owner_uid` (never someone else's). */
static void prune(idp_kclient *kc, const json_t *before, const json_t *desired, const char *ns,
                  const char *owner_uid, const char *what) {
  json_t *b;
  size_t i;
  json_array_foreach((json_t *)before, i, b) {
    const char *api = idp_json_get_str(b, "apiVersion", NULL), *kind = idp_json_get_str(b, "kind", NULL);
    const char *name = idp_json_get_str(b, "name", NULL), *bns = idp_json_get_str(b, "namespace", NULL);
    if (!bns) bns = ns;
    if (!api || !kind || !name || !owner_uid) continue;
    bool keep = false;
    json_t *d;
    size_t j;
    json_array_foreach((json_t *)desired, j, d) {
      const char *dk = idp_json_get_str(d, "kind", NULL), *dn = idp_json_get_str(d, "metadata", "name", NULL);
      const char *dns = idp_json_get_str(d, "metadata", "namespace", NULL);
      if (dk && dn && !strcmp(dk, kind) && !strcmp(dn, name) &&
          (!dns || !bns || !strcmp(dns, bns)))
        keep = true;
    }
    if (keep) continue;
    idp_kgvr g;
    idp_err e2 = IDP_ERR_INIT;
    if (idp_kclient_resolve(kc, api, kind, &g, &e2)) continue;
    idp_kref r = {.group = g.group, .version = g.version, .resource = g.resource,
                  .ns = g.namespaced ? bns : NULL, .name = name};
    json_t *live = NULL;
    if (idp_kclient_get(kc, &r, &live, &e2)) continue;
    bool mine = false;
    json_t *ref;
    size_t k;
    json_array_foreach(idp_json_get(live, "metadata", "ownerReferences", NULL), k, ref) {
      const char *u = idp_json_get_str(ref, "uid", NULL);
      mine = mine || (u && !strcmp(u, owner_uid));
    }
    json_decref(live);
    if (!mine) continue;
    if (!idp_kclient_delete(kc, &r, &(idp_kdelete_opts){.propagation_policy = "Background"}, NULL, &e2))
      idp_log(IDP_LOG_INFO, "pruned", "owner", what, "kind", kind, "name", name, NULL);
  }
}

/* A condition; keeps lastTransitionTime when the status did not change. */
static json_t *condition(const json_t *old_status, const char *type, bool ok, const char *reason,
                         const char *msg, json_int_t gen) {
  char now[40];
  now_rfc3339(now, sizeof now);
  const char *ltt = now;
  json_t *c;
  size_t i;
  json_array_foreach(json_object_get(old_status, "conditions"), i, c) {
    const char *t = idp_json_get_str(c, "type", NULL), *s = idp_json_get_str(c, "status", NULL);
    const char *l = idp_json_get_str(c, "lastTransitionTime", NULL);
    if (t && s && l && !strcmp(t, type) && !strcmp(s, ok ? "True" : "False")) ltt = l;
  }
  return json_pack("{s:s,s:s,s:s,s:s,s:s,s:I}", "type", type, "status", ok ? "True" : "False",
                   "reason", reason, "message", msg, "lastTransitionTime", ltt,
                   "observedGeneration", gen);
}

/* Writes `status` when it differs from the object's. */
static idp_code write_status(idp_kclient *kc, const char *resource, const json_t *obj,
                             json_t *status, idp_err *e) {
  if (json_equal(json_object_get(obj, "status"), status)) return IDP_OK;
  json_t *u = json_deep_copy(obj);
  json_object_set(u, "status", status);
  idp_kref r = {.group = PL_GROUP, .version = PL_VERSION, .resource = resource,
                .ns = idp_json_get_str(obj, "metadata", "namespace", NULL),
                .name = idp_json_get_str(obj, "metadata", "name", NULL), .subresource = "status"};
  idp_code rc = idp_kclient_update_status(kc, &r, u, NULL, NULL, e);
  json_decref(u);
  return rc;
}

static bool has_finalizer(const json_t *o, const char *f) {
  json_t *v;
  size_t i;
  json_array_foreach(idp_json_get(o, "metadata", "finalizers", NULL), i, v) {
    if (json_is_string(v) && !strcmp(json_string_value(v), f)) return true;
  }
  return false;
}

/* Adds (add=true) or removes the finalizer with a resourceVersion-guarded
 * merge patch. */
static idp_code set_finalizer(idp_kclient *kc, const idp_kref *r, const json_t *o, const char *f,
                              bool add, idp_err *e) {
  json_t *fins = json_array(), *v;
  size_t i;
  json_array_foreach(idp_json_get(o, "metadata", "finalizers", NULL), i, v) {
    if (json_is_string(v) && !strcmp(json_string_value(v), f)) continue;
    json_array_append(fins, v);
  }
  if (add) json_array_append_new(fins, json_string(f));
  json_t *patch = json_pack("{s:{s:o,s:s}}", "metadata", "finalizers", fins, "resourceVersion",
                            idp_json_get_str(o, "metadata", "resourceVersion", NULL)
                                ? idp_json_get_str(o, "metadata", "resourceVersion", NULL)
                                : "");
  idp_code rc = idp_kclient_patch(kc, r, IDP_PATCH_MERGE, patch, NULL, NULL, e);
  json_decref(patch);
  return rc;
}

static bool argocd_served(idp_kclient *kc) {
  idp_kgvr g;
  idp_err e2 = IDP_ERR_INIT;
  return idp_kclient_resolve(kc, "argoproj.io/v1alpha1", "AppProject", &g, &e2) == IDP_OK &&
         idp_kclient_resolve(kc, "argoproj.io/v1alpha1", "Application", &g, &e2) == IDP_OK;
}

/* ---- Team -------------------------------------------------------------- */

static idp_code team_cleanup(idp_platform *p, const char *t, idp_err *e) {
  const char *argo_ns = p->o.argocd_namespace ? p->o.argocd_namespace : "argocd";
  char sel[300], name[300];
  snprintf(sel, sizeof sel, PL_TEAM_LABEL "=%s", t);
  idp_code rc;
  if (argocd_served(p->kc)) {
    idp_kref apps = {.group = "argoproj.io", .version = "v1alpha1", .resource = "applications",
                     .ns = argo_ns};
    json_t *list = NULL;
    rc = idp_kclient_list_all(p->kc, &apps, &(idp_klist_opts){.label_selector = sel}, &list, e);
    if (rc) return rc;
    json_t *it;
    size_t i;
    json_array_foreach(json_object_get(list, "items"), i, it) {
      idp_kref r = apps;
      r.name = idp_json_get_str(it, "metadata", "name", NULL);
      rc = idp_kclient_delete(p->kc, &r, NULL, NULL, e);
      if (rc && rc != IDP_ENOTFOUND) {
        json_decref(list);
        return rc;
      }
    }
    json_decref(list);
    snprintf(name, sizeof name, "team-%s", t);
    idp_kref proj = {.group = "argoproj.io", .version = "v1alpha1", .resource = "appprojects",
                     .ns = argo_ns, .name = name};
    rc = idp_kclient_delete(p->kc, &proj, NULL, NULL, e);
    if (rc && rc != IDP_ENOTFOUND) return rc;
  }
  snprintf(name, sizeof name, "team-%s", t);
  idp_kref nsr = {.version = "v1", .resource = "namespaces", .name = name};
  json_t *nso = NULL;
  rc = idp_kclient_get(p->kc, &nsr, &nso, e);
  if (rc == IDP_ENOTFOUND) return IDP_OK;
  if (rc) return rc;
  /* only a namespace this Team manages */
  const char *lt = idp_json_get_str(nso, "metadata", "labels", PL_TEAM_LABEL, NULL);
  bool mine = lt && !strcmp(lt, t);
  json_decref(nso);
  if (!mine) return IDP_OK;
  rc = idp_kclient_delete(p->kc, &nsr, NULL, NULL, e);
  return rc == IDP_ENOTFOUND ? IDP_OK : rc;
}

static idp_code team_reconcile(void *ud, const char *key, int64_t *again, idp_err *e) {
  idp_platform *p = ud;
  json_t *team = idp_informer_get_key(p->teams, key);
  if (!team) return IDP_OK; /* gone: ownerReferences and the finalizer did the cleanup */
  idp_kref tr = {.group = PL_GROUP, .version = PL_VERSION, .resource = "teams", .name = key};
  json_decref(team);
  idp_code rc = idp_kclient_get(p->kc, &tr, &team, e); /* live: the cache may lag */
  if (rc == IDP_ENOTFOUND) return IDP_OK;
  if (rc) return rc;
  if (idp_json_get(team, "metadata", "deletionTimestamp", NULL)) {
    if (has_finalizer(team, PL_TEAM_FINALIZER)) {
      rc = team_cleanup(p, key, e);
      if (!rc) rc = set_finalizer(p->kc, &tr, team, PL_TEAM_FINALIZER, false, e);
      if (!rc) idp_log(IDP_LOG_INFO, "team cleaned up", "team", key, NULL);
    }
    json_decref(team);
    return rc;
  }
  if (!has_finalizer(team, PL_TEAM_FINALIZER)) {
    rc = set_finalizer(p->kc, &tr, team, PL_TEAM_FINALIZER, true, e);
    json_decref(team);
    return rc; /* the update event brings the key back */
  }

  bool argo = argocd_served(p->kc);
  json_t *objs = NULL;
  json_int_t gen = json_integer_value(idp_json_get(team, "metadata", "generation", NULL));
  const json_t *old_status = json_object_get(team, "status");
  json_t *owned = json_array();
  char first_err[IDP_ERR_MSG_MAX] = "";
  idp_code first_rc = IDP_OK;
  rc = idp_team_objects(team, &p->o, argo, &objs, e);
  if (rc) {
    snprintf(first_err, sizeof first_err, "%s", e->msg);
    first_rc = rc;
  }
  json_t *o;
  size_t i;
  json_array_foreach(objs, i, o) {
    bool ns_ = false;
    ap_result ar = AP_UNCHANGED;
    idp_err e2 = IDP_ERR_INIT;
    idp_code r2 = apply_one(p->kc, o, &ns_, &ar, NULL, &e2);
    if (r2) {
      if (!first_rc) {
        first_rc = r2;
        snprintf(first_err, sizeof first_err, "%s", e2.msg);
      }
      continue;
    }
    if (ar != AP_UNCHANGED)
      idp_log(IDP_LOG_INFO, ar == AP_CREATED ? "created" : "updated", "team", key, "kind",
              idp_json_get_str(o, "kind", NULL), "name",
              idp_json_get_str(o, "metadata", "name", NULL), NULL);
    json_array_append_new(owned, obj_ref(o));
  }
  if (!first_rc)
    prune(p->kc, json_object_get(old_status, "ownedObjects"), objs, NULL,
          idp_json_get_str(team, "metadata", "uid", NULL), key);
  json_decref(objs);

  char ns[300], msg[IDP_ERR_MSG_MAX + 64];
  snprintf(ns, sizeof ns, "team-%s", key);
  json_t *conds = json_array();
  if (first_rc) snprintf(msg, sizeof msg, "%s", first_err);
  else snprintf(msg, sizeof msg, "namespace %s and %zu objects are in place", ns, json_array_size(owned));
  json_array_append_new(conds, condition(old_status, "Ready", !first_rc,
                                         first_rc ? "ReconcileError" : "Reconciled", msg, gen));
  json_array_append_new(
      conds, condition(old_status, "ArgoCD", argo, argo ? "Applied" : "ArgoCDNotServed",
                       argo ? "AppProject and Applications are in place"
                            : "argoproj.io/v1alpha1 AppProject/Application are not served; "
                              "the Team's AppProject and Applications were skipped",
                       gen));
  json_t *status = json_pack("{s:I,s:s,s:I,s:o,s:o}", "observedGeneration", gen, "namespace", ns,
                             "appCount", (json_int_t)json_array_size(idp_json_get(team, "spec", "apps", NULL)),
                             "conditions", conds, "ownedObjects", owned);
  idp_err e3 = IDP_ERR_INIT;
  idp_code src = write_status(p->kc, "teams", team, status, &e3);
  json_decref(status);
  json_decref(team);
  *again = p->o.resync_ms;
  if (first_rc) return idp_err_set(e, first_rc, "team %s: %s", key, first_err);
  if (src) {
    *e = e3;
    return src;
  }
  return IDP_OK;
}

/* ---- WebApplication ----------------------------------------------------- */

static idp_code app_reconcile(void *ud, const char *key, int64_t *again, idp_err *e) {
  idp_platform *p = ud;
  json_t *app = idp_informer_get_key(p->apps, key);
  if (!app) return IDP_OK; /* deleted: the generated objects are garbage-collected */
  /* The cache may lag a deletion: objects created for an owner that is
   * already gone would never be collected, so work from a live read. */
  {
    char kns[256], kname[256];
    idp_key_split(key, kns, sizeof kns, kname, sizeof kname);
    idp_kref ar = {.group = PL_GROUP, .version = PL_VERSION, .resource = "webapplications",
                   .ns = kns, .name = kname};
    json_t *live = NULL;
    idp_code lrc = idp_kclient_get(p->kc, &ar, &live, e);
    json_decref(app);
    if (lrc == IDP_ENOTFOUND) return IDP_OK;
    if (lrc) return lrc;
    app = live;
  }
  if (idp_json_get(app, "metadata", "deletionTimestamp", NULL)) {
    json_decref(app);
    return IDP_OK;
  }
  const char *ns = idp_json_get_str(app, "metadata", "namespace", NULL);
  json_int_t gen = json_integer_value(idp_json_get(app, "metadata", "generation", NULL));
  const json_t *old_status = json_object_get(app, "status");

  /* externalSecretRef -> the ExternalSecret's target Secret name */
  json_t *targets = json_object(), *it;
  size_t i;
  json_array_foreach(idp_json_get(app, "spec", "envFrom", NULL), i, it) {
    const char *es = idp_json_get_str(it, "externalSecretRef", NULL);
    if (!es) continue;
    idp_kref r = {.group = "external-secrets.io", .version = "v1", .resource = "externalsecrets",
                  .ns = ns, .name = es};
    json_t *eso = NULL;
    idp_err e2 = IDP_ERR_INIT;
    if (!idp_kclient_get(p->kc, &r, &eso, &e2)) {
      const char *t = idp_json_get_str(eso, "spec", "target", "name", NULL);
      if (t && *t) json_object_set_new(targets, es, json_string(t));
    }
    json_decref(eso);
  }

  json_t *objs = NULL, *conds = json_array(), *resources = json_array();
  char first_err[IDP_ERR_MSG_MAX] = "", msg[IDP_ERR_MSG_MAX + 128];
  idp_code first_rc = idp_webapp_objects(app, &p->o, targets, &objs, e);
  if (first_rc) snprintf(first_err, sizeof first_err, "%s", e->msg);
  json_decref(targets);
  const char *phase = first_rc ? "Failed" : "Pending";
  json_t *o;
  json_array_foreach(objs, i, o) {
    bool not_served = false;
    ap_result ar = AP_UNCHANGED;
    json_t *live = NULL;
    idp_err e2 = IDP_ERR_INIT;
    const char *kind = idp_json_get_str(o, "kind", NULL);
    const char *name = idp_json_get_str(o, "metadata", "name", NULL);
    idp_code r2 = apply_one(p->kc, o, &not_served, &ar, &live, &e2);
    json_t *rs = json_pack("{s:s,s:s,s:s}", "apiVersion", idp_json_get_str(o, "apiVersion", NULL),
                           "kind", kind, "name", name);
    if (not_served) {
      snprintf(msg, sizeof msg, "%s %s is not served by the API server; skipped", kind,
               idp_json_get_str(o, "apiVersion", NULL));
      json_array_append_new(conds, condition(old_status, kind, false, "NotServed", msg, gen));
      json_object_set_new(rs, "ready", json_false());
      json_object_set_new(rs, "message", json_string(msg));
    } else if (r2) {
      if (!first_rc) {
        first_rc = r2;
        snprintf(first_err, sizeof first_err, "%s", e2.msg);
      }
      json_object_set_new(rs, "ready", json_false());
      json_object_set_new(rs, "message", json_string(e2.msg));
    } else {
      if (ar != AP_UNCHANGED)
        idp_log(IDP_LOG_INFO, ar == AP_CREATED ? "created" : "updated", "webapplication", key,
                "kind", kind, "name", name, NULL);
      bool ready = true;
      if (!strcmp(kind, "Deployment")) {
        json_t *st = json_object_get(live, "status");
        json_int_t want = json_is_integer(idp_json_get(live, "spec", "replicas", NULL))
                              ? json_integer_value(idp_json_get(live, "spec", "replicas", NULL))
                              : 1;
        json_int_t rdy = json_integer_value(json_object_get(st, "readyReplicas"));
        ready = st && rdy >= want;
        if (!first_rc) phase = ready ? "Ready" : (st && json_object_size(st) ? "Progressing" : "Pending");
        snprintf(msg, sizeof msg, "%lld/%lld replicas ready", (long long)rdy, (long long)want);
        json_object_set_new(rs, "message", json_string(msg));
      }
      json_object_set_new(rs, "ready", json_boolean(ready));
    }
    json_array_append_new(resources, rs);
    json_decref(live);
  }
  if (!first_rc)
    prune(p->kc, json_object_get(old_status, "resources"), objs, ns,
          idp_json_get_str(app, "metadata", "uid", NULL), key);
  json_decref(objs);
  if (first_rc) phase = "Failed";
  bool ok = !strcmp(phase, "Ready");
  if (first_rc) snprintf(msg, sizeof msg, "%s", first_err);
  else snprintf(msg, sizeof msg, "Deployment %s", ok ? "is ready" : "is not ready yet");
  json_array_insert_new(conds, 0, condition(old_status, "Ready", ok,
                                            first_rc ? "ReconcileError" : ok ? "DeploymentReady" : "DeploymentProgressing",
                                            msg, gen));
  char url[1200];
  idp_webapp_url(app, url, sizeof url);
  json_t *status = json_pack("{s:I,s:s,s:o,s:o}", "observedGeneration", gen, "phase", phase,
                             "conditions", conds, "resources", resources);
  if (url[0]) json_object_set_new(status, "url", json_string(url));
  idp_err e3 = IDP_ERR_INIT;
  idp_code src = write_status(p->kc, "webapplications", app, status, &e3);
  json_decref(status);
  json_decref(app);
  *again = p->o.resync_ms;
  if (first_rc) return idp_err_set(e, first_rc, "webapplication %s: %s", key, first_err);
  if (src) {
    *e = e3;
    return src;
  }
  return IDP_OK;
}

/* ---- owned-object events -> owner key ----------------------------------- */

static void owned_event(owned_inf *oi, const json_t *obj) {
  if (oi->team) {
    const char *t = idp_json_get_str(obj, "metadata", "labels", PL_TEAM_LABEL, NULL);
    if (t && *t) idp_controller_enqueue(oi->p->team_ctl, t);
    return;
  }
  json_t *ref;
  size_t i;
  json_array_foreach(idp_json_get(obj, "metadata", "ownerReferences", NULL), i, ref) {
    const char *k = idp_json_get_str(ref, "kind", NULL), *n = idp_json_get_str(ref, "name", NULL);
    const char *ns = idp_json_get_str(obj, "metadata", "namespace", NULL);
    if (k && n && ns && !strcmp(k, "WebApplication")) {
      char key[600];
      snprintf(key, sizeof key, "%s/%s", ns, n);
      idp_controller_enqueue(oi->p->app_ctl, key);
    }
  }
}
static void oh_add(void *ud, const json_t *o) { owned_event(ud, o); }
static void oh_update(void *ud, const json_t *a, const json_t *b) {
  (void)a;
  owned_event(ud, b);
}
static void oh_delete(void *ud, const json_t *o) { owned_event(ud, o); }

/* ---- CRDs --------------------------------------------------------------- */

static idp_code install_one(idp_kclient *kc, const char *yaml, idp_err *e) {
  json_t *crd = NULL;
  idp_code rc = idp_yaml_load_one(yaml, strlen(yaml), "platform CRD", NULL, &crd, e);
  if (rc) return rc;
  const char *name = idp_json_get_str(crd, "metadata", "name", NULL);
  idp_kref r = {.group = "apiextensions.k8s.io", .version = "v1",
                .resource = "customresourcedefinitions", .name = name};
  json_t *cur = NULL;
  rc = idp_kclient_get(kc, &r, &cur, e);
  if (rc == IDP_ENOTFOUND) {
    idp_kref col = r;
    col.name = NULL;
    rc = idp_kclient_create(kc, &col, crd, NULL, NULL, e);
    if (rc == IDP_EEXIST) rc = IDP_OK;
  } else if (!rc && !json_equal(json_object_get(cur, "spec"), json_object_get(crd, "spec"))) {
    json_t *upd = json_deep_copy(cur);
    json_object_set(upd, "spec", json_object_get(crd, "spec"));
    rc = idp_kclient_update(kc, &r, upd, NULL, NULL, e);
    json_decref(upd);
  }
  if (rc) idp_err_prefix(e, "install CRD %s", name ? name : "?");
  json_decref(cur);
  json_decref(crd);
  return rc;
}

idp_code idp_platform_install_crds(idp_kclient *kc, idp_err *e) {
  for (size_t i = 0; pl_crd_yaml[i]; i++) {
    idp_code rc = install_one(kc, pl_crd_yaml[i], e);
    if (rc) return rc;
  }
  static const char *const kinds[] = {"Team", "WebApplication"};
  for (size_t k = 0; k < IDP_ARRAY_LEN(kinds); k++) {
    idp_kgvr g;
    idp_code rc = IDP_ENOTFOUND;
    for (int t = 0; t < 100; t++) {
      rc = idp_kclient_resolve(kc, PL_GROUP "/" PL_VERSION, kinds[k], &g, e);
      if (rc != IDP_ENOTFOUND) break;
      struct timespec ts = {0, 100 * 1000000L};
      nanosleep(&ts, NULL);
      idp_kclient_discovery_reset(kc);
    }
    if (rc) {
      idp_err_prefix(e, "CRD for %s is not served", kinds[k]);
      return rc;
    }
  }
  return IDP_OK;
}

/* ---- start / stop ------------------------------------------------------- */

void idp_platform_stop(idp_platform *p) {
  if (!p) return;
  /* informers feed the queues and workers read the caches: stop the
   * informers, then the workers, then free */
  for (size_t i = 0; i < p->nowned; i++) idp_informer_stop(p->owned[i].inf);
  if (p->teams) idp_informer_stop(p->teams);
  if (p->apps) idp_informer_stop(p->apps);
  if (p->team_ctl) idp_controller_stop(p->team_ctl);
  if (p->app_ctl) idp_controller_stop(p->app_ctl);
  for (size_t i = 0; i < p->nowned; i++) idp_informer_free(p->owned[i].inf);
  idp_informer_free(p->teams);
  idp_informer_free(p->apps);
  idp_controller_free(p->team_ctl);
  idp_controller_free(p->app_ctl);
  free(p);
}

idp_code idp_platform_start(idp_kclient *kc, const idp_platform_opts *o, idp_platform **out,
                            idp_err *e) {
  *out = NULL;
  idp_platform *p = calloc(1, sizeof *p);
  if (!p) return idp_err_set(e, IDP_ENOMEM, "platform: out of memory");
  p->kc = kc;
  if (o) p->o = *o; /* option strings are borrowed: they must outlive the controller */
  if (p->o.workers <= 0) p->o.workers = 2;
  if (p->o.resync_ms <= 0) p->o.resync_ms = 60000;
  idp_code rc = IDP_OK;
  if (p->o.install_crds && (rc = idp_platform_install_crds(kc, e))) goto fail;
  if ((rc = idp_controller_new(&(idp_controller_opts){.name = "team", .workers = p->o.workers,
                                                      .reconcile = team_reconcile, .ud = p},
                               &p->team_ctl, e)) ||
      (rc = idp_controller_new(&(idp_controller_opts){.name = "webapplication",
                                                      .workers = p->o.workers,
                                                      .reconcile = app_reconcile, .ud = p},
                               &p->app_ctl, e)))
    goto fail;
  idp_informer_handlers th = idp_controller_handlers(p->team_ctl);
  idp_informer_handlers ah = idp_controller_handlers(p->app_ctl);
  if ((rc = idp_informer_new(kc, &(idp_informer_opts){.resource = {PL_GROUP, PL_VERSION, "teams"}},
                             &th, &p->teams, e)) ||
      (rc = idp_informer_new(kc, &(idp_informer_opts){.resource = {PL_GROUP, PL_VERSION, "webapplications"}},
                             &ah, &p->apps, e)))
    goto fail;
  for (size_t i = 0; i < IDP_ARRAY_LEN(watched) && p->nowned < MAX_OWNED; i++) {
    idp_kgvr g;
    idp_err e2 = IDP_ERR_INIT;
    if (idp_kclient_resolve(kc, watched[i].api, watched[i].kind, &g, &e2)) continue; /* not served */
    owned_inf *oi = &p->owned[p->nowned];
    oi->team = watched[i].team;
    oi->p = p;
    idp_informer_handlers h = {.on_add = oh_add, .on_update = oh_update, .on_delete = oh_delete,
                               .ud = oi};
    const char *sel = watched[i].team ? PL_TEAM_LABEL : "app.kubernetes.io/managed-by=" PL_MANAGER;
    if ((rc = idp_informer_new(kc, &(idp_informer_opts){.resource = {watched[i].group, watched[i].version,
                                                                     watched[i].resource},
                                                        .label_selector = sel},
                               &h, &oi->inf, e)))
      goto fail;
    p->nowned++;
  }
  if ((rc = idp_informer_start(p->teams, e)) || (rc = idp_informer_start(p->apps, e))) goto fail;
  for (size_t i = 0; i < p->nowned; i++)
    if ((rc = idp_informer_start(p->owned[i].inf, e))) goto fail;
  idp_informer_wait_synced(p->teams, 30000);
  idp_informer_wait_synced(p->apps, 30000);
  for (size_t i = 0; i < p->nowned; i++) idp_informer_wait_synced(p->owned[i].inf, 30000);
  if ((rc = idp_controller_start(p->team_ctl, e)) || (rc = idp_controller_start(p->app_ctl, e)))
    goto fail;
  *out = p;
  return IDP_OK;
fail:
  idp_err_prefix(e, "platform controller");
  idp_platform_stop(p);
  return rc;
}
