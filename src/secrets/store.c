/* SecretStore / ClusterSecretStore: lookup for ExternalSecrets, the
 * ClusterSecretStore namespace conditions, per-store backoff (the flood
 * gate) and the store controller that reports reachability in status. */
#include "core/common.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/json.h"
#include "kube/selector.h"
#include "secrets/internal.h"

const char *const sp_store_kinds[2] = {"SecretStore", "ClusterSecretStore"};

static bool regex_match(const char *re, const char *s) {
  int err;
  PCRE2_SIZE off;
  pcre2_code *code = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, 0, &err, &off, NULL);
  if (!code) return false;
  pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
  bool ok = pcre2_match(code, (PCRE2_SPTR)s, strlen(s), 0, 0, md, NULL) >= 0;
  pcre2_match_data_free(md);
  pcre2_code_free(code);
  return ok;
}

/* ESO: a ClusterSecretStore with conditions is usable from a namespace
 * that any condition admits (selector, name list or regex). */
static bool namespace_allowed(idp_secrets *s, const json_t *store, const char *ns) {
  json_t *conds = idp_json_get(store, "spec", "conditions", NULL);
  if (!json_is_array(conds) || json_array_size(conds) == 0) return true;
  json_t *nsobj = idp_informer_get(s->ns_inf, NULL, ns);
  json_t *labels = idp_json_get(nsobj, "metadata", "labels", NULL);
  bool ok = false;
  size_t i, j;
  json_t *c, *v;
  json_array_foreach(conds, i, c) {
    json_t *sel = json_object_get(c, "namespaceSelector");
    if (json_is_object(sel)) {
      idp_selector *ps = NULL;
      idp_err e = IDP_ERR_INIT;
      if (!idp_selector_from_json(sel, &ps, &e) && idp_selector_matches(ps, labels)) ok = true;
      idp_selector_free(ps);
    }
    json_array_foreach(json_object_get(c, "namespaces"), j, v) if (json_is_string(v) && !strcmp(json_string_value(v), ns)) ok = true;
    json_array_foreach(json_object_get(c, "namespaceRegexes"), j, v) if (json_is_string(v) && regex_match(json_string_value(v), ns)) ok = true;
  }
  json_decref(nsobj);
  return ok;
}

idp_code sp_store_get(idp_secrets *s, const json_t *es, json_t **store, char *key, size_t keyn,
                      idp_err *e) {
  *store = NULL;
  const char *ns = idp_json_get_str(es, "metadata", "namespace", NULL);
  const char *name = idp_json_get_str(es, "spec", "secretStoreRef", "name", NULL);
  const char *kind = idp_json_get_str(es, "spec", "secretStoreRef", "kind", NULL);
  if (!kind || !*kind) kind = "SecretStore";
  if (!name || !*name) return idp_err_set(e, IDP_EINVALID, "spec.secretStoreRef.name is required");
  bool cluster = !strcmp(kind, "ClusterSecretStore");
  if (!cluster && strcmp(kind, "SecretStore"))
    return idp_err_set(e, IDP_EINVALID, "spec.secretStoreRef.kind \"%s\": must be SecretStore or ClusterSecretStore", kind);
  *store = cluster ? idp_informer_get(s->css_inf, NULL, name) : idp_informer_get(s->ss_inf, ns, name);
  snprintf(key, keyn, "%s/%s/%s", kind, cluster ? "" : ns, name);
  if (!*store)
    return idp_err_set(e, IDP_ENOTFOUND, "could not get %s \"%s\": %s.external-secrets.io \"%s\" not found",
                       kind, name, kind, name);
  if (cluster && !namespace_allowed(s, *store, ns)) {
    json_decref(*store);
    *store = NULL;
    return idp_err_set(e, IDP_EFORBIDDEN,
                       "using cluster store \"%s\" is not allowed from namespace \"%s\": denied by spec.conditions",
                       name, ns);
  }
  return IDP_OK;
}

bool sp_store_backing_off(idp_secrets *s, const char *store_key, int64_t *until, char *msg,
                          size_t n) {
  pthread_mutex_lock(&s->mu);
  json_t *b = json_object_get(s->backoff, store_key);
  int64_t u = b ? json_integer_value(json_object_get(b, "until")) : 0;
  bool on = b && sp_now_ms() < u;
  if (on) {
    if (until) *until = u;
    if (msg) snprintf(msg, n, "%s", idp_json_get_str(b, "msg", NULL) ? idp_json_get_str(b, "msg", NULL) : "");
  }
  pthread_mutex_unlock(&s->mu);
  return on;
}

void sp_store_failed(idp_secrets *s, const char *store_key, const char *msg) {
  pthread_mutex_lock(&s->mu);
  json_t *b = json_object_get(s->backoff, store_key);
  json_int_t n = b ? json_integer_value(json_object_get(b, "n")) + 1 : 1;
  int64_t d = s->o.backoff_initial_ms;
  for (json_int_t i = 1; i < n && d < s->o.backoff_max_ms; i++) d *= 2;
  if (d > s->o.backoff_max_ms) d = s->o.backoff_max_ms;
  d += d * (rand() % 100) / 1000; /* up to 10% jitter */
  json_object_set_new(s->backoff, store_key,
                      json_pack("{s:I,s:I,s:s}", "n", n, "until", (json_int_t)(sp_now_ms() + d), "msg", msg));
  pthread_mutex_unlock(&s->mu);
}

void sp_store_ok(idp_secrets *s, const char *store_key) {
  pthread_mutex_lock(&s->mu);
  json_object_del(s->backoff, store_key);
  pthread_mutex_unlock(&s->mu);
}

/* ---- the store controller ---------------------------------------------------- */

static idp_code patch_status(idp_secrets *s, const json_t *store, bool cluster, json_t *status,
                             idp_err *e) {
  idp_kref r = {.group = "external-secrets.io", .version = "v1",
                .resource = cluster ? "clustersecretstores" : "secretstores",
                .ns = cluster ? NULL : idp_json_get_str(store, "metadata", "namespace", NULL),
                .name = idp_json_get_str(store, "metadata", "name", NULL), .subresource = "status"};
  json_t *patch = json_pack("{s:O}", "status", status);
  idp_code rc = idp_kclient_patch(s->kc, &r, IDP_PATCH_MERGE, patch, &(idp_kwrite_opts){.field_manager = "external-secrets"}, NULL, e);
  json_decref(patch);
  return rc;
}

idp_code sp_store_reconcile(void *ud, const char *key, int64_t *again, idp_err *e) {
  idp_secrets *s = ud;
  bool cluster = !strchr(key, '/');
  json_t *store = cluster ? idp_informer_get_key(s->css_inf, key) : idp_informer_get_key(s->ss_inf, key);
  char skey[600];
  if (!store) return IDP_OK;
  const char *ns = idp_json_get_str(store, "metadata", "namespace", NULL);
  const char *name = idp_json_get_str(store, "metadata", "name", NULL);
  const char *kind = cluster ? "ClusterSecretStore" : "SecretStore";
  snprintf(skey, sizeof skey, "%s/%s/%s", kind, cluster ? "" : (ns ? ns : ""), name ? name : "");
  const char *cls = idp_json_get_str(store, "spec", "controller", NULL);
  const char *mine = s->o.controller_class ? s->o.controller_class : "";
  if (strcmp(cls ? cls : "", mine)) {
    json_decref(store);
    return IDP_OK; /* another controller's store */
  }
  const json_t *cfg = NULL;
  idp_err ve = IDP_ERR_INIT;
  const char *reason = "Valid", *status = "True";
  char msg[IDP_ERR_MSG_MAX] = "store validated";
  const sp_provider *p = sp_lookup(store, &cfg, &ve);
  if (!p) {
    reason = "InvalidProviderConfig";
    status = "False";
    snprintf(msg, sizeof msg, "%s", ve.msg);
  } else {
    sp_ctx c = {.s = s, .kc = s->kc, .store = store, .cfg = cfg, .store_kind = kind,
                .store_key = skey, .ns = cluster ? NULL : ns};
    idp_code rc = p->validate(&c, &ve);
    if (rc) {
      reason = (rc == IDP_EINVALID || rc == IDP_EINVALID || rc == IDP_EUNSUPPORTED)
                   ? "InvalidProviderConfig"
                   : "ValidationFailed";
      status = "False";
      snprintf(msg, sizeof msg, "unable to validate store: %s", ve.msg);
      if (rc == IDP_EUNAVAILABLE || rc == IDP_ETIMEOUT || rc == IDP_EIO) sp_store_failed(s, skey, ve.msg);
    } else {
      sp_store_ok(s, skey);
    }
  }
  /* status: only written when it changes */
  json_t *old = idp_json_get(store, "status", "conditions", NULL);
  json_t *oldc = NULL;
  size_t i;
  json_t *c;
  json_array_foreach(old, i, c) if (!strcmp(idp_json_get_str(c, "type", NULL) ? idp_json_get_str(c, "type", NULL) : "", "Ready")) oldc = c;
  const char *os = idp_json_get_str(oldc, "status", NULL), *orr = idp_json_get_str(oldc, "reason", NULL),
             *om = idp_json_get_str(oldc, "message", NULL);
  bool same = os && orr && om && !strcmp(os, status) && !strcmp(orr, reason) && !strcmp(om, msg) &&
              json_is_string(idp_json_get(store, "status", "capabilities", NULL));
  idp_code rc = IDP_OK;
  if (!same) {
    char now[32];
    sp_rfc3339(sp_now_ms(), now);
    const char *ltt = (os && !strcmp(os, status)) ? idp_json_get_str(oldc, "lastTransitionTime", NULL) : NULL;
    json_t *st = json_pack("{s:[{s:s,s:s,s:s,s:s,s:s}],s:s}", "conditions", "type", "Ready", "status",
                           status, "reason", reason, "message", msg, "lastTransitionTime",
                           ltt ? ltt : now, "capabilities", "ReadOnly");
    rc = patch_status(s, store, cluster, st, e);
    json_decref(st);
    if (!strcmp(status, "False")) sp_event(s, store, "Warning", reason, msg);
    else if (os) sp_event(s, store, "Normal", reason, msg);
  }
  int64_t base = !strcmp(status, "True") ? s->o.store_requeue_ms : 30000;
  /* spec.refreshInterval (seconds, ESO) overrides the re-validation period */
  json_t *ri = idp_json_get(store, "spec", "refreshInterval", NULL);
  if (!strcmp(status, "True") && json_is_integer(ri) && json_integer_value(ri) > 0)
    base = (int64_t)json_integer_value(ri) * 1000;
  json_decref(store);
  *again = base + base * (rand() % 100) / 1000;
  return rc;
}
