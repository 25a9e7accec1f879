#include "core/common.h"

#include "apiserver/api_int.h"
#include "core/json.h"

/* The finalizer a propagation policy adds while the GC works. */
static const struct {
  const char *policy, *finalizer;
} policy_finalizers[] = {
    {"Background", NULL},
    {"Foreground", "foregroundDeletion"},
    {"Orphan", "orphan"},
};

static idp_code policy_finalizer(const char *policy, const char **fin, idp_err *e) {
  *fin = NULL;
  if (!policy || !*policy) return IDP_OK;
  for (size_t i = 0; i < IDP_ARRAY_LEN(policy_finalizers); i++)
    if (!strcmp(policy, policy_finalizers[i].policy)) {
      *fin = policy_finalizers[i].finalizer;
      return IDP_OK;
    }
  return idp_err_set(e, IDP_EINVAL,
                     "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported "
                     "value: \"%s\": supported values: \"Foreground\", \"Background\", \"Orphan\"",
                     policy);
}

static bool has_finalizer(const json_t *obj, const char *f) {
  size_t i;
  json_t *v;
  json_array_foreach(idp_json_get(obj, "metadata", "finalizers", NULL), i, v) {
    if (json_is_string(v) && !strcmp(json_string_value(v), f)) return true;
  }
  return false;
}

static bool is_namespace(const api_resource *r) {
  return !r->crd && !*r->group && !strcmp(r->plural, "namespaces");
}

idp_code api_delete_object(idp_apiserver *s, const api_resource *r, const char *ns,
                           const char *name, const char *policy, const json_t *pre, bool dry,
                           json_t **result, idp_err *e) {
  *result = NULL;
  const char *fin = NULL;
  idp_code code = policy_finalizer(policy, &fin, e);
  if (code) return code;
  for (int attempt = 0; attempt < 8; attempt++) {
    json_t *cur = NULL;
    code = idp_store_get(s->store, r->store_key, r->namespaced ? ns : "", name, &cur, e);
    if (code == IDP_ENOTFOUND) return api_err_notfound(r, name, e);
    if (code) return code;
    api_set_type(r, cur);
    const char *puid = idp_json_get_str(pre, "uid", NULL);
    const char *prv = idp_json_get_str(pre, "resourceVersion", NULL);
    const char *uid = idp_json_get_str(cur, "metadata", "uid", NULL);
    const char *rv = idp_json_get_str(cur, "metadata", "resourceVersion", NULL);
    if (puid && *puid && (!uid || strcmp(puid, uid))) {
      code = idp_err_set(e, IDP_ECONFLICT,
                         "Precondition failed: UID in precondition: %s, UID in object meta: %s",
                         puid, uid ? uid : "");
      json_decref(cur);
      return code;
    }
    if (prv && *prv && (!rv || strcmp(prv, rv))) {
      code = idp_err_set(e, IDP_ECONFLICT,
                         "Precondition failed: ResourceVersion in precondition: %s, "
                         "ResourceVersion in object meta: %s",
                         prv, rv ? rv : "");
      json_decref(cur);
      return code;
    }
    json_t *md = json_object_get(cur, "metadata");
    bool deleting = json_object_get(md, "deletionTimestamp") != NULL;
    bool add_fin = fin && !has_finalizer(cur, fin);
    if (deleting && !add_fin) {
      /* already terminating: nothing more to do, the GC finishes it */
      *result = cur;
      return IDP_OK;
    }
    bool stays = add_fin || !api_finalizers_empty(r, cur);
    if (!stays) {
      if (dry) {
        *result = cur;
        return IDP_OK;
      }
      int64_t crv = api_obj_rv(cur);
      json_decref(cur);
      code = api_store_remove(s, r, r->namespaced ? ns : "", name, crv, result, e);
      if (code == IDP_ECONFLICT) continue;
      if (code == IDP_ENOTFOUND) return api_err_notfound(r, name, e);
      return code;
    }
    if (!deleting) {
      char now[32];
      api_now_rfc3339(now, sizeof now);
      json_object_set_new(md, "deletionTimestamp", json_string(now));
      json_object_set_new(md, "deletionGracePeriodSeconds", json_integer(0));
    }
    if (add_fin) {
      json_t *fl = json_object_get(md, "finalizers");
      if (!json_is_array(fl)) {
        fl = json_array();
        json_object_set_new(md, "finalizers", fl);
      }
      json_array_append_new(fl, json_string(fin));
    }
    if (is_namespace(r))
      json_object_set_new(idp_json_child_object(cur, "status"), "phase", json_string("Terminating"));
    if (dry) {
      *result = cur;
      return IDP_OK;
    }
    code = api_store_put(s, r, cur, api_obj_rv(cur), result, e);
    json_decref(cur);
    if (code == IDP_ECONFLICT) continue;
    if (!code) api_gc_pending(s->gc, r, ns, name);
    return code;
  }
  return code;
}

/* DeleteOptions from the body (kubectl) and/or the query. */
static idp_code delete_options(api_ctx *c, json_t **opts, const char **policy, bool *dry,
                               idp_err *e) {
  *opts = NULL;
  *policy = api_query(c->rq, "propagationPolicy");
  idp_code code = api_dry_run(c, dry, e);
  if (code) return code;
  if (c->rq->body && c->rq->body_len) {
    if ((code = api_body_object(c, opts, e))) return code;
    if (!json_is_object(*opts)) return idp_err_set(e, IDP_EINVAL, "DeleteOptions: expected an object");
    const char *p = idp_json_get_str(*opts, "propagationPolicy", NULL);
    if (p) *policy = p;
    if (json_is_true(json_object_get(*opts, "orphanDependents"))) *policy = "Orphan";
    json_t *dr = json_object_get(*opts, "dryRun");
    size_t i;
    json_t *v;
    json_array_foreach(dr, i, v) {
      if (json_is_string(v) && !strcmp(json_string_value(v), "All"))
        *dry = true;
      else
        return idp_err_set(e, IDP_EINVAL, "DeleteOptions: dryRun: Unsupported value");
    }
  }
  return IDP_OK;
}

void api_delete(api_ctx *c) {
  idp_err e = IDP_ERR_INIT;
  if (c->p.sub[0]) {
    idp_err_set(&e, IDP_EMETHOD, "the server does not allow this method on the requested resource");
    api_status_error(c, &e, NULL, NULL);
    return;
  }
  json_t *opts = NULL, *out = NULL;
  const char *policy = NULL;
  bool dry = false;
  idp_code code = delete_options(c, &opts, &policy, &dry, &e);
  if (!code && c->srv->o.admit) {
    json_t *cur = NULL, *none = NULL;
    code = idp_store_get(c->srv->store, c->res->store_key, c->p.ns, c->p.name, &cur, &e);
    if (code == IDP_ENOTFOUND) api_err_notfound(c->res, c->p.name, &e);
    if (!code) {
      api_set_type(c->res, cur);
      code = api_admit(c, "DELETE", &none, cur, dry, &e);
      json_decref(none);
      c->admitted = false; /* nothing is stored for a delete */
    }
    json_decref(cur);
  }
  if (!code)
    code = api_delete_object(c->srv, c->res, c->p.ns, c->p.name, policy,
                             json_object_get(opts, "preconditions"), dry, &out, &e);
  json_decref(opts);
  if (code) {
    api_status_error(c, &e, NULL, NULL);
    return;
  }
  /* 202 while finalizers hold the object, 200 once gone (kube-apiserver) */
  bool stays = idp_json_get(out, "metadata", "deletionTimestamp", NULL) != NULL;
  api_reply_json(c, stays && !dry ? 202 : 200, out);
}

void api_delete_collection(api_ctx *c) {
  idp_err e = IDP_ERR_INIT;
  json_t *opts = NULL, *items = NULL;
  const char *policy = NULL;
  bool dry = false;
  api_filter *f = NULL;
  int64_t rev = 0;
  char *next = NULL;
  idp_code code = delete_options(c, &opts, &policy, &dry, &e);
  if (!code) code = api_filter_new(c, &f, &e);
  if (!code)
    code = api_list_items(c->srv, c->res, c->p.has_ns ? c->p.ns : NULL, f, 0, NULL, &items, &rev,
                          &next, &e);
  api_filter_free(f);
  free(next);
  if (code) {
    json_decref(opts);
    api_status_error(c, &e, NULL, NULL);
    return;
  }
  json_t *done = json_array();
  size_t i;
  json_t *it;
  json_array_foreach(items, i, it) {
    json_t *out = NULL;
    idp_err ie = IDP_ERR_INIT;
    idp_code ic = api_delete_object(c->srv, c->res, api_obj_ns(it), api_obj_name(it), policy,
                                    NULL, dry, &out, &ie);
    if (ic == IDP_ENOTFOUND) continue;
    if (ic) {
      e = ie;
      code = ic;
      break;
    }
    json_array_append_new(done, out);
  }
  json_decref(items);
  json_decref(opts);
  if (code) {
    json_decref(done);
    api_status_error(c, &e, NULL, NULL);
    return;
  }
  char gv[600], rvs[32];
  api_gv(c->res, gv, sizeof gv);
  snprintf(rvs, sizeof rvs, "%" PRId64, idp_store_revision(c->srv->store));
  api_reply_json(c, 200,
                 json_pack("{s:s, s:s, s:{s:s}, s:o}", "kind", c->res->list_kind, "apiVersion", gv,
                           "metadata", "resourceVersion", rvs, "items", done));
}
