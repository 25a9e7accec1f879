/* The ExternalSecret controller: informers, the reconcile of one
 * ExternalSecret (fetch, render, write the target Secret, status, events),
 * start/stop.  Behaviour is documented in secrets/secrets.h. */
#include "core/common.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/json.h"
#include "core/log.h"
#include "secrets/internal.h"
#include "secrets/template.h"

#define LABEL_MANAGED "reconcile.external-secrets.io/managed"
#define LABEL_CREATED_BY "reconcile.external-secrets.io/created-by"
#define ANN_DATA_HASH "reconcile.external-secrets.io/data-hash"
#define FIELD_MANAGER "external-secrets"
#define DEFAULT_REFRESH_MS (3600 * 1000)

/* Annotations never copied from the ExternalSecret to its Secret. */
static const char *const skip_annotations[] = {
    "kubectl.kubernetes.io/last-applied-configuration",
};

static int64_t jitter(int64_t ms) { return ms <= 0 ? ms : ms + ms * (rand() % 100) / 1000; }

/* ---- events -------------------------------------------------------------------- */

void sp_event(idp_secrets *s, const json_t *obj, const char *type, const char *reason,
              const char *msg) {
  if (s->o.no_events) return;
  const char *ns = idp_json_get_str(obj, "metadata", "namespace", NULL);
  const char *name = idp_json_get_str(obj, "metadata", "name", NULL);
  if (!name) return;
  char now[32], gen[300];
  sp_rfc3339(sp_now_ms(), now);
  snprintf(gen, sizeof gen, "%s.", name);
  const char *evns = ns && *ns ? ns : "default";
  json_t *ev = json_pack(
      "{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s,s:s,s:s,s:s},s:s,s:s,s:s,s:{s:s},s:s,s:s,s:i,s:s,s:s}",
      "apiVersion", "v1", "kind", "Event", "metadata", "generateName", gen, "namespace", evns,
      "involvedObject", "apiVersion",
      idp_json_get_str(obj, "apiVersion", NULL) ? idp_json_get_str(obj, "apiVersion", NULL) : "external-secrets.io/v1",
      "kind", idp_json_get_str(obj, "kind", NULL) ? idp_json_get_str(obj, "kind", NULL) : "", "name", name,
      "uid", idp_json_get_str(obj, "metadata", "uid", NULL) ? idp_json_get_str(obj, "metadata", "uid", NULL) : "",
      "resourceVersion",
      idp_json_get_str(obj, "metadata", "resourceVersion", NULL) ? idp_json_get_str(obj, "metadata", "resourceVersion", NULL) : "",
      "reason", reason, "message", msg, "type", type, "source", "component", "external-secrets",
      "firstTimestamp", now, "lastTimestamp", now, "count", 1, "reportingComponent", "external-secrets",
      "reportingInstance", "idp");
  if (!ev) return;
  if (ns && *ns) json_object_set_new(json_object_get(ev, "involvedObject"), "namespace", json_string(ns));
  idp_kref r = {.version = "v1", .resource = "events", .ns = evns};
  idp_err e = IDP_ERR_INIT;
  if (idp_kclient_create(s->kc, &r, ev, NULL, NULL, &e))
    idp_log(IDP_LOG_DEBUG, "secrets: event not recorded", "object", name, "error", e.msg, NULL);
  json_decref(ev);
}

/* ---- helpers ------------------------------------------------------------------------ */

/* "<generation>-<hash of labels and annotations>" (ESO's syncedResourceVersion). */
static void synced_rv(const json_t *es, char *out, size_t n) {
  json_t *meta = json_pack("{s:O?,s:O?}", "labels", idp_json_get(es, "metadata", "labels", NULL),
                           "annotations", idp_json_get(es, "metadata", "annotations", NULL));
  char h[57];
  sp_hash(meta, h);
  json_decref(meta);
  json_int_t gen = json_integer_value(idp_json_get(es, "metadata", "generation", NULL));
  snprintf(n ? out : out, n, "%" JSON_INTEGER_FORMAT "-%.32s", gen, h);
}

static json_t *ready_condition(const json_t *obj, const char *type) {
  size_t i;
  json_t *c;
  json_array_foreach(idp_json_get(obj, "status", "conditions", NULL), i, c) {
    const char *t = idp_json_get_str(c, "type", NULL);
    if (t && !strcmp(t, type)) return c;
  }
  return NULL;
}

/* Base64 data map of a Secret from key -> bytes. */
static json_t *encode_data(const json_t *m) {
  json_t *out = json_object();
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)m, k, v) {
    char *b = sp_b64enc(json_string_value(v), json_string_length(v));
    if (b) json_object_set_new(out, k, json_string(b));
    free(b);
  }
  return out;
}

static idp_code decode_value(const char *strategy, json_t *v, json_t **out, const char *what,
                             idp_err *e) {
  if (!strategy || !*strategy || !strcmp(strategy, "None")) {
    *out = json_incref(v);
    return IDP_OK;
  }
  bool url = !strcmp(strategy, "Base64URL");
  if (!strcmp(strategy, "Base64") || url) {
    if (sp_b64dec(json_string_value(v), json_string_length(v), url, out))
      return idp_err_set(e, IDP_EINVALID, "%s: decodingStrategy %s: the value is not base64", what, strategy);
    return IDP_OK;
  }
  if (!strcmp(strategy, "Auto")) {
    if (!sp_b64dec(json_string_value(v), json_string_length(v), false, out)) return IDP_OK;
    if (!sp_b64dec(json_string_value(v), json_string_length(v), true, out)) return IDP_OK;
    *out = json_incref(v);
    return IDP_OK;
  }
  return idp_err_set(e, IDP_EINVALID, "%s: decodingStrategy \"%s\" is not None, Base64, Base64URL or Auto", what, strategy);
}

/* dataFrom[].rewrite[]: regexp {source, target} renames keys. */
static idp_code rewrite_keys(const json_t *rw, json_t **m, const char *what, idp_err *e) {
  size_t i;
  json_t *r;
  json_array_foreach(rw, i, r) {
    const char *src = idp_json_get_str(r, "regexp", "source", NULL);
    const char *tgt = idp_json_get_str(r, "regexp", "target", NULL);
    if (!src || !tgt) {
      if (json_object_get(r, "transform"))
        return idp_err_set(e, IDP_EUNSUPPORTED, "%s.rewrite[%zu].transform is not supported", what, i);
      continue;
    }
    int err;
    PCRE2_SIZE off;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED, 0, &err, &off, NULL);
    if (!code) return idp_err_set(e, IDP_EINVALID, "%s.rewrite[%zu].regexp.source is not a regular expression", what, i);
    /* Go's $1 / ${1} references map onto PCRE2's extended replacement */
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(*m, k, v) {
      PCRE2_UCHAR buf[1024];
      PCRE2_SIZE bl = sizeof buf;
      int n = pcre2_substitute(code, (PCRE2_SPTR)k, PCRE2_ZERO_TERMINATED, 0, PCRE2_SUBSTITUTE_GLOBAL,
                               NULL, NULL, (PCRE2_SPTR)tgt, PCRE2_ZERO_TERMINATED, buf, &bl);
      json_object_set(out, n >= 0 ? (const char *)buf : k, v);
    }
    pcre2_code_free(code);
    json_decref(*m);
    *m = out;
  }
  return IDP_OK;
}

/* ---- status ---------------------------------------------------------------------------- */

typedef struct result {
  bool ok;
  const char *reason; /* condition reason */
  const char *event;  /* event reason on failure */
  char msg[IDP_ERR_MSG_MAX];
} result;

static idp_code patch_es_status(idp_secrets *s, const json_t *es, json_t *status, idp_err *e) {
  idp_kref r = {.group = "external-secrets.io", .version = "v1", .resource = "externalsecrets",
                .ns = idp_json_get_str(es, "metadata", "namespace", NULL),
                .name = idp_json_get_str(es, "metadata", "name", NULL), .subresource = "status"};
  json_t *patch = json_pack("{s:O}", "status", status);
  idp_code rc = idp_kclient_patch(s->kc, &r, IDP_PATCH_MERGE, patch, &(idp_kwrite_opts){.field_manager = "external-secrets"}, NULL, e);
  json_decref(patch);
  if (rc == IDP_ENOTFOUND) rc = IDP_OK; /* deleted meanwhile */
  return rc;
}

/* Writes the Ready condition (and on success refreshTime etc.). */
static idp_code report(idp_secrets *s, const char *key, const json_t *es, const result *res,
                       const char *rv, const char *target, const json_t *extra_cond, idp_err *e) {
  char now[32];
  int64_t nowms = sp_now_ms();
  sp_rfc3339(nowms, now);
  const char *status = res->ok ? "True" : "False";
  json_t *old = ready_condition(es, "Ready");
  const char *os = idp_json_get_str(old, "status", NULL);
  const char *ltt = (os && !strcmp(os, status)) ? idp_json_get_str(old, "lastTransitionTime", NULL) : NULL;
  json_t *conds = json_array();
  json_array_append_new(conds, json_pack("{s:s,s:s,s:s,s:s,s:s}", "type", "Ready", "status", status,
                                         "reason", res->reason, "message", res->msg,
                                         "lastTransitionTime", ltt ? ltt : now));
  if (extra_cond) json_array_append(conds, (json_t *)extra_cond);
  json_t *st = json_pack("{s:o}", "conditions", conds);
  if (res->ok) {
    json_object_set_new(st, "refreshTime", json_string(now));
    json_object_set_new(st, "syncedResourceVersion", json_string(rv));
    json_object_set_new(st, "binding", json_pack("{s:s}", "name", target));
  } else {
    /* keep what the last good sync recorded */
    json_t *prev = json_object_get(es, "status");
    const char *k;
    json_t *v;
    json_object_foreach(prev, k, v) if (strcmp(k, "conditions")) json_object_set(st, k, v);
  }
  /* events: on every failure whose message changed, on recovery */
  char sig[IDP_ERR_MSG_MAX + 64];
  snprintf(sig, sizeof sig, "%s|%s", res->reason, res->msg);
  pthread_mutex_lock(&s->mu);
  const char *last = idp_json_get_str(s->last_cond, key, NULL);
  bool changed = !last || strcmp(last, sig);
  if (changed) json_object_set_new(s->last_cond, key, json_string(sig));
  pthread_mutex_unlock(&s->mu);
  idp_code rc = IDP_OK;
  bool same_cond = old && os && !strcmp(os, status) &&
                   !strcmp(idp_json_get_str(old, "reason", NULL) ? idp_json_get_str(old, "reason", NULL) : "", res->reason) &&
                   !strcmp(idp_json_get_str(old, "message", NULL) ? idp_json_get_str(old, "message", NULL) : "", res->msg);
  if (res->ok || !same_cond || extra_cond) rc = patch_es_status(s, es, st, e);
  json_decref(st);
  if (!res->ok && changed) sp_event(s, es, "Warning", res->event ? res->event : "UpdateFailed", res->msg);
  return rc;
}

/* ---- fetching ----------------------------------------------------------------------------- */

/* Fetches every value; *gone gets secretKeys the provider no longer has
 * (only when deletionPolicy is Delete or Merge). */
static idp_code fetch_all(idp_secrets *s, const json_t *es, const sp_provider *p, sp_ctx *c,
                          const char *delpol, json_t **out, json_t *gone, idp_err *e) {
  IDP_UNUSED(s);
  json_t *data = json_object();
  bool tolerate = strcmp(delpol, "Retain") != 0;
  idp_code rc = IDP_OK;
  size_t i;
  json_t *df;
  json_array_foreach(idp_json_get(es, "spec", "dataFrom", NULL), i, df) {
    char what[64];
    snprintf(what, sizeof what, "spec.dataFrom[%zu]", i);
    json_t *m = NULL;
    json_t *ext = json_object_get(df, "extract"), *find = json_object_get(df, "find");
    const char *strategy = NULL;
    if (json_object_get(df, "sourceRef")) {
      rc = idp_err_set(e, IDP_EUNSUPPORTED, "%s.sourceRef (generators, per-item stores) is not supported", what);
    } else if (json_is_object(ext)) {
      strategy = idp_json_get_str(ext, "decodingStrategy", NULL);
      rc = p->get_map(c, ext, &m, e);
      if (rc) idp_err_prefix(e, "%s.extract", what);
    } else if (json_is_object(find)) {
      strategy = idp_json_get_str(find, "decodingStrategy", NULL);
      rc = p->find ? p->find(c, find, &m, e)
                   : idp_err_set(e, IDP_EUNSUPPORTED, "provider %s does not support find", p->name);
      if (rc) idp_err_prefix(e, "%s.find", what);
    } else {
      rc = idp_err_set(e, IDP_EINVALID, "%s: one of extract or find is required", what);
    }
    if (rc == IDP_ENOTFOUND && tolerate) {
      rc = IDP_OK;
      continue;
    }
    if (!rc) rc = rewrite_keys(json_object_get(df, "rewrite"), &m, what, e);
    const char *k;
    json_t *v;
    json_object_foreach(rc ? NULL : m, k, v) {
      json_t *d = NULL;
      if ((rc = decode_value(strategy, v, &d, what, e))) break;
      json_object_set_new(data, k, d);
    }
    json_decref(m);
    if (rc) goto out;
  }
  json_t *item;
  json_array_foreach(idp_json_get(es, "spec", "data", NULL), i, item) {
    char what[64];
    snprintf(what, sizeof what, "spec.data[%zu]", i);
    const char *sk = idp_json_get_str(item, "secretKey", NULL);
    json_t *ref = json_object_get(item, "remoteRef");
    if (!sk || !*sk) {
      rc = idp_err_set(e, IDP_EINVALID, "%s.secretKey is required", what);
      goto out;
    }
    if (json_object_get(item, "sourceRef")) {
      rc = idp_err_set(e, IDP_EUNSUPPORTED, "%s.sourceRef is not supported", what);
      goto out;
    }
    if (!json_is_object(ref) || !idp_json_get_str(ref, "key", NULL)) {
      rc = idp_err_set(e, IDP_EINVALID, "%s.remoteRef.key is required", what);
      goto out;
    }
    json_t *v = NULL;
    rc = p->get(c, ref, &v, e);
    if (rc == IDP_ENOTFOUND && tolerate) {
      json_array_append_new(gone, json_string(sk));
      rc = IDP_OK;
      continue;
    }
    if (rc) {
      idp_err_prefix(e, "%s (secretKey %s)", what, sk);
      goto out;
    }
    json_t *d = NULL;
    rc = decode_value(idp_json_get_str(ref, "decodingStrategy", NULL), v, &d, what, e);
    json_decref(v);
    if (rc) goto out;
    json_object_set_new(data, sk, d);
  }
out:
  if (rc) {
    json_decref(data);
    return rc;
  }
  *out = data;
  return IDP_OK;
}

/* Renders template metadata maps (labels/annotations): values are templates. */
static idp_code render_map(const json_t *in, const json_t *data, const char *what, json_t **out,
                           idp_err *e) {
  *out = json_object();
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)in, k, v) {
    if (!json_is_string(v)) continue;
    idp_buf b;
    idp_buf_init(&b, 1 << 20);
    char name[300];
    snprintf(name, sizeof name, "%s[%s]", what, k);
    idp_code rc = idp_gotpl_render(name, json_string_value(v), data, &b, e);
    if (rc) {
      idp_buf_free(&b);
      json_decref(*out);
      *out = NULL;
      return rc;
    }
    json_object_set_new(*out, k, json_stringn_nocheck(b.data ? b.data : "", b.len));
    idp_buf_free(&b);
  }
  return IDP_OK;
}

/* The desired Secret's data (bytes), type, labels and annotations. */
static idp_code build_target(const json_t *es, const json_t *fetched, json_t **data, const char **type,
                             json_t **labels, json_t **annotations, idp_err *e) {
  const json_t *t = idp_json_get(es, "spec", "target", "template", NULL);
  *type = NULL;
  *labels = *annotations = NULL;
  if (!json_is_object(t)) {
    *data = json_deep_copy(fetched);
    *labels = json_deep_copy(idp_json_get(es, "metadata", "labels", NULL));
    *annotations = json_deep_copy(idp_json_get(es, "metadata", "annotations", NULL));
    for (size_t i = 0; *annotations && i < IDP_ARRAY_LEN(skip_annotations); i++)
      json_object_del(*annotations, skip_annotations[i]);
    return IDP_OK;
  }
  if (json_array_size(json_object_get(t, "templateFrom")))
    return idp_err_set(e, IDP_EUNSUPPORTED, "spec.target.template.templateFrom is not supported");
  *type = idp_json_get_str(t, "type", NULL);
  const char *mp = idp_json_get_str(t, "mergePolicy", NULL);
  json_t *td = json_object_get(t, "data");
  *data = (mp && !strcmp(mp, "Merge")) || !json_object_size(td) ? json_deep_copy(fetched) : json_object();
  const char *k;
  json_t *v;
  json_object_foreach(td, k, v) {
    if (!json_is_string(v)) {
      json_decref(*data);
      *data = NULL;
      return idp_err_set(e, IDP_EINVALID, "spec.target.template.data[%s] must be a string", k);
    }
    idp_buf b;
    idp_buf_init(&b, 4 << 20);
    char name[300];
    snprintf(name, sizeof name, "spec.target.template.data[%s]", k);
    idp_code rc = idp_gotpl_render(name, json_string_value(v), fetched, &b, e);
    if (rc) {
      idp_buf_free(&b);
      json_decref(*data);
      *data = NULL;
      return rc;
    }
    json_object_set_new(*data, k, json_stringn_nocheck(b.data ? b.data : "", b.len));
    idp_buf_free(&b);
  }
  idp_code rc = render_map(idp_json_get(t, "metadata", "labels", NULL), fetched,
                           "spec.target.template.metadata.labels", labels, e);
  if (!rc)
    rc = render_map(idp_json_get(t, "metadata", "annotations", NULL), fetched,
                    "spec.target.template.metadata.annotations", annotations, e);
  if (rc) {
    json_decref(*data);
      *data = NULL;
    json_decref(*labels);
    *labels = NULL;
  }
  return rc;
}

static bool owned_by(const json_t *obj, const char *uid, const char **other) {
  size_t i;
  json_t *r;
  json_array_foreach(idp_json_get(obj, "metadata", "ownerReferences", NULL), i, r) {
    const char *ru = idp_json_get_str(r, "uid", NULL);
    if (ru && uid && !strcmp(ru, uid)) return true;
    if (json_is_true(json_object_get(r, "controller")) && other) *other = idp_json_get_str(r, "name", NULL);
  }
  return false;
}

/* The current target Secret: the managed cache first, then the API. */
static idp_code get_target(idp_secrets *s, const char *ns, const char *name, json_t **out, idp_err *e) {
  *out = idp_informer_get(s->sec_inf, ns, name);
  if (*out) return IDP_OK;
  idp_kref r = {.version = "v1", .resource = "secrets", .ns = ns, .name = name};
  idp_code rc = idp_kclient_get(s->kc, &r, out, e);
  if (rc == IDP_ENOTFOUND) {
    *out = NULL;
    return IDP_OK;
  }
  return rc;
}

static bool target_valid(idp_secrets *s, const char *ns, const char *name) {
  json_t *sec = idp_informer_get(s->sec_inf, ns, name);
  if (!sec) return false;
  const char *h = idp_json_get_str(sec, "metadata", "annotations", ANN_DATA_HASH, NULL);
  char want[57];
  json_t *d = json_object_get(sec, "data");
  json_t *empty = d ? NULL : json_object();
  sp_hash(d ? d : empty, want);
  json_decref(empty);
  bool ok = h && !strcmp(h, want);
  json_decref(sec);
  return ok;
}

/* ---- reconcile ------------------------------------------------------------------------------ */

static idp_code sync_es(idp_secrets *s, const char *key, const json_t *es, const char *rv,
                        int64_t interval, int64_t *again, idp_err *e);

static idp_code es_reconcile(void *ud, const char *key, int64_t *again, idp_err *e) {
  idp_secrets *s = ud;
  json_t *es = idp_informer_get_key(s->es_inf, key);
  if (!es) {
    pthread_mutex_lock(&s->mu);
    json_object_del(s->synced, key);
    json_object_del(s->last_cond, key);
    pthread_mutex_unlock(&s->mu);
    return IDP_OK; /* Owner Secrets go with the garbage collector */
  }
  if (idp_json_get(es, "metadata", "deletionTimestamp", NULL)) {
    json_decref(es);
    return IDP_OK;
  }
  const char *ns = idp_json_get_str(es, "metadata", "namespace", NULL);
  const char *name = idp_json_get_str(es, "metadata", "name", NULL);
  char rv[128];
  synced_rv(es, rv, sizeof rv);
  result res = {.ok = false, .reason = "SecretSyncedError"};
  int64_t interval = DEFAULT_REFRESH_MS;
  const char *ri = idp_json_get_str(es, "spec", "refreshInterval", NULL);
  idp_err pe = IDP_ERR_INIT;
  if (ri && sp_parse_duration(ri, &interval, &pe)) {
    snprintf(res.msg, sizeof res.msg, "spec.refreshInterval: %s", pe.msg);
    idp_code rc = report(s, key, es, &res, rv, "", NULL, e);
    json_decref(es);
    return rc;
  }
  if (interval < 0) interval = 0;
  const char *target = idp_json_get_str(es, "spec", "target", "name", NULL);
  if (!target || !*target) target = name;
  const char *cp = idp_json_get_str(es, "spec", "target", "creationPolicy", NULL);
  const char *refresh_policy = idp_json_get_str(es, "spec", "refreshPolicy", NULL);

  /* is a refresh due? */
  int64_t last = 0;
  pthread_mutex_lock(&s->mu);
  json_t *mem = json_object_get(s->synced, key);
  if (mem && !strcmp(json_string_value(json_array_get(mem, 0)), rv))
    last = json_integer_value(json_array_get(mem, 1));
  pthread_mutex_unlock(&s->mu);
  const char *srv = idp_json_get_str(es, "status", "syncedResourceVersion", NULL);
  if (srv && !strcmp(srv, rv)) {
    int64_t t = sp_parse_rfc3339(idp_json_get_str(es, "status", "refreshTime", NULL));
    if (t > last) last = t;
  }
  json_t *ready = ready_condition(es, "Ready");
  bool is_ready = ready && !strcmp(idp_json_get_str(ready, "status", NULL) ? idp_json_get_str(ready, "status", NULL) : "", "True");
  if (last && is_ready && (cp && !strcmp(cp, "None") ? true : target_valid(s, ns, target))) {
    int64_t now = sp_now_ms();
    bool once = interval == 0 || (refresh_policy && (!strcmp(refresh_policy, "CreatedOnce") || !strcmp(refresh_policy, "OnChange")));
    if (once) {
      json_decref(es);
      return IDP_OK;
    }
    if (now < last + interval) {
      *again = jitter(last + interval - now);
      json_decref(es);
      return IDP_OK;
    }
  }
  idp_code rc = sync_es(s, key, es, rv, interval, again, e);
  json_decref(es);
  return rc;
}

static idp_code sync_es(idp_secrets *s, const char *key, const json_t *es, const char *rv,
                        int64_t interval, int64_t *again, idp_err *e) {
  const char *ns = idp_json_get_str(es, "metadata", "namespace", NULL);
  const char *name = idp_json_get_str(es, "metadata", "name", NULL);
  const char *uid = idp_json_get_str(es, "metadata", "uid", NULL);
  const char *target = idp_json_get_str(es, "spec", "target", "name", NULL);
  if (!target || !*target) target = name;
  const char *cp = idp_json_get_str(es, "spec", "target", "creationPolicy", NULL);
  const char *dp = idp_json_get_str(es, "spec", "target", "deletionPolicy", NULL);
  if (!cp || !*cp) cp = "Owner";
  if (!dp || !*dp) dp = "Retain";
  result res = {.ok = false, .reason = "SecretSyncedError", .event = "UpdateFailed"};
  idp_err fe = IDP_ERR_INIT;
  idp_code rc = IDP_OK, frc = IDP_OK;
  json_t *store = NULL, *fetched = NULL, *gone = json_array(), *cur = NULL, *data = NULL;
  json_t *labels = NULL, *annotations = NULL, *extra = NULL;
  char skey[600] = "";
  bool retry_err = false; /* failure that the queue should retry with backoff */

  if (strcmp(cp, "Owner") && strcmp(cp, "Orphan") && strcmp(cp, "Merge") && strcmp(cp, "None")) {
    snprintf(res.msg, sizeof res.msg, "spec.target.creationPolicy \"%s\": must be Owner, Orphan, Merge or None", cp);
    goto fail;
  }
  if (strcmp(dp, "Retain") && strcmp(dp, "Delete") && strcmp(dp, "Merge")) {
    snprintf(res.msg, sizeof res.msg, "spec.target.deletionPolicy \"%s\": must be Retain, Delete or Merge", dp);
    goto fail;
  }
  if ((frc = sp_store_get(s, es, &store, skey, sizeof skey, &fe))) {
    snprintf(res.msg, sizeof res.msg, "%s", fe.msg);
    res.event = "InvalidStoreRef";
    retry_err = true;
    goto fail;
  }
  const char *cls = idp_json_get_str(store, "spec", "controller", NULL);
  if (strcmp(cls ? cls : "", s->o.controller_class ? s->o.controller_class : "")) goto done; /* not ours */
  int64_t until = 0;
  char bmsg[IDP_ERR_MSG_MAX];
  if (sp_store_backing_off(s, skey, &until, bmsg, sizeof bmsg)) {
    snprintf(res.msg, sizeof res.msg, "store %s is backing off after errors: %s", skey, bmsg);
    res.event = "ProviderBackoff";
    report(s, key, es, &res, rv, target, NULL, e);
    *again = until - sp_now_ms() + 100 + rand() % 500;
    goto done;
  }
  const json_t *cfg = NULL;
  const sp_provider *p = sp_lookup(store, &cfg, &fe);
  if (!p) {
    snprintf(res.msg, sizeof res.msg, "%s", fe.msg);
    res.event = "InvalidProviderConfig";
    goto fail;
  }
  sp_ctx c = {.s = s, .kc = s->kc, .store = store, .cfg = cfg,
              .store_kind = strncmp(skey, "Cluster", 7) ? "SecretStore" : "ClusterSecretStore",
              .store_key = skey, .ns = ns};
  frc = fetch_all(s, es, p, &c, dp, &fetched, gone, &fe);
  if (frc) {
    snprintf(res.msg, sizeof res.msg, "could not get secret data from provider: %s", fe.msg);
    if (frc == IDP_EUNAVAILABLE || frc == IDP_ETIMEOUT || frc == IDP_EIO || frc == IDP_EUNAUTH) {
      sp_store_failed(s, skey, fe.msg);
      retry_err = true;
    }
    goto fail;
  }
  sp_store_ok(s, skey);

  /* every value gone and deletionPolicy Delete: delete the Secret we manage */
  bool all_gone = json_array_size(gone) && !json_object_size(fetched);
  if (all_gone && !strcmp(dp, "Delete") && strcmp(cp, "None") && strcmp(cp, "Merge")) {
    if ((rc = get_target(s, ns, target, &cur, e))) goto out;
    if (cur && idp_json_get_str(cur, "metadata", "labels", LABEL_MANAGED, NULL)) {
      idp_kref r = {.version = "v1", .resource = "secrets", .ns = ns, .name = target};
      rc = idp_kclient_delete(s->kc, &r, NULL, NULL, e);
      if (rc == IDP_ENOTFOUND) rc = IDP_OK;
      if (rc) goto out;
      sp_stat_add(s, &s->stats.secret_writes);
      sp_event(s, es, "Normal", "Deleted", "secret deleted due to DeletionPolicy");
    }
    char now[32];
    sp_rfc3339(sp_now_ms(), now);
    extra = json_pack("{s:s,s:s,s:s,s:s,s:s}", "type", "Deleted", "status", "False", "reason",
                      "SecretDeleted", "message", "secret deleted due to DeletionPolicy",
                      "lastTransitionTime", now);
    res.ok = true;
    res.reason = "SecretSynced";
    snprintf(res.msg, sizeof res.msg, "Secret was synced");
    rc = report(s, key, es, &res, rv, target, extra, e);
    goto scheduled;
  }

  const char *type = NULL;
  if ((frc = build_target(es, fetched, &data, &type, &labels, &annotations, &fe))) {
    snprintf(res.msg, sizeof res.msg, "could not apply template: %s", fe.msg);
    res.event = "TemplateError";
    goto fail;
  }
  if (!strcmp(cp, "None")) goto synced;

  if ((rc = get_target(s, ns, target, &cur, e))) goto out;
  if (!cur && !strcmp(cp, "Merge")) {
    res.reason = "SecretMissing";
    snprintf(res.msg, sizeof res.msg,
             "secret \"%s\" does not exist: creationPolicy Merge only adds keys to an existing Secret", target);
    goto fail;
  }
  const char *other = NULL;
  if (cur && !strcmp(cp, "Owner") && !owned_by(cur, uid, &other) && other && strcmp(other, name)) {
    snprintf(res.msg, sizeof res.msg, "target Secret \"%s\" is already owned by ExternalSecret \"%s\"", target, other);
    goto fail;
  }
  {
    json_t *want = cur ? json_deep_copy(cur)
                       : json_pack("{s:s,s:s,s:{s:s,s:s}}", "apiVersion", "v1", "kind", "Secret",
                                   "metadata", "name", target, "namespace", ns);
    json_t *meta = idp_json_child_object(want, "metadata");
    json_t *wl = idp_json_child_object(meta, "labels");
    json_t *wa = idp_json_child_object(meta, "annotations");
    if (labels) json_object_update(wl, labels);
    if (annotations) json_object_update(wa, annotations);
    json_object_set_new(wl, LABEL_MANAGED, json_string("true"));
    if (!strcmp(cp, "Owner")) {
      char h[57];
      json_t *who = json_pack("{s:s,s:s}", "ns", ns, "name", name);
      sp_hash(who, h);
      json_decref(who);
      json_object_set_new(wl, LABEL_CREATED_BY, json_string(h));
      if (!owned_by(want, uid, NULL)) {
        json_t *refs = json_object_get(meta, "ownerReferences");
        if (!json_is_array(refs)) json_object_set_new(meta, "ownerReferences", refs = json_array());
        json_array_append_new(refs, json_pack("{s:s,s:s,s:s,s:s,s:b,s:b}", "apiVersion",
                                              "external-secrets.io/v1", "kind", "ExternalSecret",
                                              "name", name, "uid", uid ? uid : "", "controller", 1,
                                              "blockOwnerDeletion", 1));
      }
    }
    json_t *enc = encode_data(data);
    json_t *newdata;
    if (!strcmp(cp, "Merge") && cur) {
      newdata = json_deep_copy(json_object_get(cur, "data"));
      if (!newdata) newdata = json_object();
      json_object_update(newdata, enc);
    } else {
      newdata = json_incref(enc);
    }
    if (!strcmp(dp, "Merge") || !strcmp(dp, "Delete")) {
      size_t gi;
      json_t *g;
      json_array_foreach(gone, gi, g) json_object_del(newdata, json_string_value(g));
    }
    json_decref(enc);
    if (cur && json_is_true(json_object_get(cur, "immutable")) &&
        !json_equal(json_object_get(cur, "data") ? json_object_get(cur, "data") : newdata, newdata)) {
      json_decref(newdata);
      json_decref(want);
      snprintf(res.msg, sizeof res.msg, "target Secret \"%s\" is immutable and its data would change", target);
      goto fail;
    }
    char h[57];
    sp_hash(newdata, h);
    json_object_set_new(wa, ANN_DATA_HASH, json_string(h));
    json_object_set_new(want, "data", newdata);
    json_object_del(want, "stringData");
    if (type && *type) json_object_set_new(want, "type", json_string(type));
    else if (!cur) json_object_set_new(want, "type", json_string("Opaque"));
    if (json_is_true(idp_json_get(es, "spec", "target", "immutable", NULL)))
      json_object_set_new(want, "immutable", json_true());
    if (!json_object_size(wa)) json_object_del(meta, "annotations");
    if (!cur || !json_equal(cur, want)) {
      idp_kref r = {.version = "v1", .resource = "secrets", .ns = ns, .name = cur ? target : NULL};
      idp_kwrite_opts wo = {.field_manager = FIELD_MANAGER};
      rc = cur ? idp_kclient_update(s->kc, &r, want, &wo, NULL, e)
               : idp_kclient_create(s->kc, &r, want, &wo, NULL, e);
      if (!rc) {
        sp_stat_add(s, &s->stats.secret_writes);
        if (!s->o.no_events) sp_event(s, es, "Normal", cur ? "Updated" : "Created", cur ? "Updated Secret" : "Created Secret");
      }
    }
    json_decref(want);
    if (rc == IDP_EINVALID || rc == IDP_EINVAL || rc == IDP_EFORBIDDEN) {
      /* the API refuses the Secret (e.g. a type change): report it */
      snprintf(res.msg, sizeof res.msg, "could not update Secret \"%s\": %s", target, e ? e->msg : "");
      res.event = "UpdateFailed";
      if (e) idp_err_clear(e);
      goto fail;
    }
    if (rc) goto out; /* conflicts and unavailability: the queue retries */
  }

synced:
  res.ok = true;
  res.reason = "SecretSynced";
  snprintf(res.msg, sizeof res.msg, "Secret was synced");
  rc = report(s, key, es, &res, rv, target, NULL, e);
scheduled:
  if (!rc) {
    pthread_mutex_lock(&s->mu);
    json_object_set_new(s->synced, key, json_pack("[s,I]", rv, (json_int_t)sp_now_ms()));
    pthread_mutex_unlock(&s->mu);
    sp_stat_add(s, &s->stats.syncs);
    if (interval > 0) *again = jitter(interval);
  }
  goto out;

fail:
  sp_stat_add(s, &s->stats.sync_errors);
  rc = report(s, key, es, &res, rv, target, NULL, e);
  if (!rc) {
    if (retry_err) rc = idp_err_set(e, frc ? frc : IDP_EUNAVAILABLE, "ExternalSecret %s: %s", key, res.msg);
    else *again = jitter(interval > 0 && interval < 300000 ? interval : 300000);
  }
  goto out;
done:
out:
  json_decref(store);
  json_decref(fetched);
  json_decref(gone);
  json_decref(cur);
  json_decref(data);
  json_decref(labels);
  json_decref(annotations);
  json_decref(extra);
  return rc;
}

/* ---- event routing --------------------------------------------------------------------------- */

static void enqueue_es_for_store(idp_secrets *s, const json_t *store) {
  const char *sns = idp_json_get_str(store, "metadata", "namespace", NULL);
  const char *sname = idp_json_get_str(store, "metadata", "name", NULL);
  bool cluster = !sns || !*sns;
  json_t *all = idp_informer_list(s->es_inf, cluster ? NULL : sns);
  size_t i;
  json_t *es;
  json_array_foreach(all, i, es) {
    const char *n = idp_json_get_str(es, "spec", "secretStoreRef", "name", NULL);
    const char *k = idp_json_get_str(es, "spec", "secretStoreRef", "kind", NULL);
    bool kc = k && !strcmp(k, "ClusterSecretStore");
    if (n && sname && !strcmp(n, sname) && kc == cluster) idp_controller_enqueue_object(s->es_ctl, es);
  }
  json_decref(all);
}

static void store_add(void *ud, const json_t *o) {
  idp_secrets *s = ud;
  idp_controller_enqueue_object(s->store_ctl, o);
  enqueue_es_for_store(s, o);
}
static void store_update(void *ud, const json_t *old, const json_t *o) {
  idp_secrets *s = ud;
  idp_controller_enqueue_object(s->store_ctl, o);
  if (!json_equal(json_object_get(old, "spec"), json_object_get(o, "spec"))) {
    char k[600];
    const char *ns = idp_json_get_str(o, "metadata", "namespace", NULL);
    const char *nm = idp_json_get_str(o, "metadata", "name", NULL);
    snprintf(k, sizeof k, "%s/%s/%s", ns && *ns ? "SecretStore" : "ClusterSecretStore", ns ? ns : "",
             nm ? nm : "");
    sp_store_ok(s, k);
    enqueue_es_for_store(s, o);
  }
}
static void store_delete(void *ud, const json_t *o) {
  idp_secrets *s = ud;
  idp_controller_enqueue_object(s->store_ctl, o);
  enqueue_es_for_store(s, o);
}

/* A managed Secret changed or went away: its ExternalSecret re-checks. */
static void secret_event(idp_secrets *s, const json_t *sec) {
  const char *ns = idp_json_get_str(sec, "metadata", "namespace", NULL);
  const char *name = idp_json_get_str(sec, "metadata", "name", NULL);
  if (!ns || !name) return;
  size_t i;
  json_t *r;
  json_array_foreach(idp_json_get(sec, "metadata", "ownerReferences", NULL), i, r) {
    const char *k = idp_json_get_str(r, "kind", NULL);
    const char *n = idp_json_get_str(r, "name", NULL);
    if (k && n && !strcmp(k, "ExternalSecret")) {
      char key[600];
      snprintf(key, sizeof key, "%s/%s", ns, n);
      idp_controller_enqueue(s->es_ctl, key);
      return;
    }
  }
  json_t *all = idp_informer_list(s->es_inf, ns);
  json_t *es;
  json_array_foreach(all, i, es) {
    const char *t = idp_json_get_str(es, "spec", "target", "name", NULL);
    if (!t || !*t) t = idp_json_get_str(es, "metadata", "name", NULL);
    if (t && !strcmp(t, name)) idp_controller_enqueue_object(s->es_ctl, es);
  }
  json_decref(all);
}
static void sec_update(void *ud, const json_t *old, const json_t *o) {
  (void)old;
  secret_event(ud, o);
}
static void sec_delete(void *ud, const json_t *o) { secret_event(ud, o); }

static void es_changed(idp_secrets *s, const json_t *o) {
  idp_controller_enqueue_object(s->es_ctl, o);
  size_t i;
  json_t *r;
  json_array_foreach(idp_json_get(o, "metadata", "ownerReferences", NULL), i, r) {
    const char *k = idp_json_get_str(r, "kind", NULL);
    const char *n = idp_json_get_str(r, "name", NULL);
    if (k && n && !strcmp(k, "ClusterExternalSecret")) idp_controller_enqueue(s->ces_ctl, n);
  }
}
static void es_add(void *ud, const json_t *o) { es_changed(ud, o); }
static void es_update(void *ud, const json_t *old, const json_t *o) {
  (void)old;
  es_changed(ud, o);
}
static void es_delete(void *ud, const json_t *o) { es_changed(ud, o); }

static void ns_any(idp_secrets *s) {
  json_t *all = idp_informer_list(s->ces_inf, NULL);
  size_t i;
  json_t *c;
  json_array_foreach(all, i, c) idp_controller_enqueue_object(s->ces_ctl, c);
  json_decref(all);
}
static void ns_add(void *ud, const json_t *o) {
  (void)o;
  ns_any(ud);
}
static void ns_update(void *ud, const json_t *old, const json_t *o) {
  if (!json_equal(idp_json_get(old, "metadata", "labels", NULL), idp_json_get(o, "metadata", "labels", NULL)))
    ns_any(ud);
}

/* ---- lifecycle -------------------------------------------------------------------------------- */

void idp_secrets_get_stats(idp_secrets *s, idp_secrets_stats *out) {
  pthread_mutex_lock(&s->mu);
  *out = s->stats;
  pthread_mutex_unlock(&s->mu);
}

idp_code idp_secrets_metrics(idp_secrets *s, idp_buf *out) {
  idp_secrets_stats st;
  idp_secrets_get_stats(s, &st);
  size_t n_es = idp_informer_size(s->es_inf);
  return idp_buf_printf(
      out,
      "# HELP externalsecret_sync_calls_total Total number of the External Secret sync calls\n"
      "# TYPE externalsecret_sync_calls_total counter\n"
      "externalsecret_sync_calls_total %lu\n"
      "# HELP externalsecret_sync_calls_error Total number of the External Secret sync errors\n"
      "# TYPE externalsecret_sync_calls_error counter\n"
      "externalsecret_sync_calls_error %lu\n"
      "# HELP externalsecret_provider_api_calls_count Number of API calls towards the secret provider\n"
      "# TYPE externalsecret_provider_api_calls_count counter\n"
      "externalsecret_provider_api_calls_count %lu\n"
      "# HELP idp_secrets_secret_writes_total Secrets created, updated or deleted by the controller\n"
      "# TYPE idp_secrets_secret_writes_total counter\n"
      "idp_secrets_secret_writes_total %lu\n"
      "# HELP idp_secrets_vault_logins_total Vault auth logins (token cache misses)\n"
      "# TYPE idp_secrets_vault_logins_total counter\n"
      "idp_secrets_vault_logins_total %lu\n"
      "# HELP idp_secrets_vault_renewals_total Vault token renew-self calls\n"
      "# TYPE idp_secrets_vault_renewals_total counter\n"
      "idp_secrets_vault_renewals_total %lu\n"
      "# HELP idp_secrets_externalsecrets ExternalSecrets in the informer cache\n"
      "# TYPE idp_secrets_externalsecrets gauge\n"
      "idp_secrets_externalsecrets %zu\n",
      st.syncs + st.sync_errors, st.sync_errors, st.provider_calls, st.secret_writes, st.vault_logins,
      st.vault_renewals, n_es);
}

void idp_secrets_stop(idp_secrets *s) {
  if (!s) return;
  if (s->es_ctl) idp_controller_stop(s->es_ctl);
  if (s->store_ctl) idp_controller_stop(s->store_ctl);
  if (s->ces_ctl) idp_controller_stop(s->ces_ctl);
  idp_informer *infs[] = {s->es_inf, s->ss_inf, s->css_inf, s->ces_inf, s->ns_inf, s->sec_inf};
  for (size_t i = 0; i < IDP_ARRAY_LEN(infs); i++)
    if (infs[i]) idp_informer_free(infs[i]);
  idp_controller_free(s->es_ctl);
  idp_controller_free(s->store_ctl);
  idp_controller_free(s->ces_ctl);
  sp_vault_cache_free(s->vault);
  json_decref(s->synced);
  json_decref(s->backoff);
  json_decref(s->last_cond);
  free(s->aws_endpoint);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

static idp_code new_informer(idp_secrets *s, const char *group, const char *res, const char *sel,
                             idp_informer_handlers h, idp_informer **out, idp_err *e) {
  idp_informer_opts o = {.resource = {.group = group, .version = "v1", .resource = res},
                         .label_selector = sel};
  return idp_informer_new(s->kc, &o, &h, out, e);
}

idp_code idp_secrets_start(idp_kclient *kc, const idp_secrets_opts *o, idp_secrets **out,
                           idp_err *e) {
  *out = NULL;
  idp_secrets *s = calloc(1, sizeof *s);
  if (!s) return idp_err_set(e, IDP_ENOMEM, "secrets: out of memory");
  pthread_mutex_init(&s->mu, NULL);
  s->kc = kc;
  if (o) s->o = *o;
  if (s->o.workers <= 0) s->o.workers = 4;
  if (s->o.store_requeue_ms <= 0) s->o.store_requeue_ms = 300000;
  if (s->o.backoff_initial_ms <= 0) s->o.backoff_initial_ms = 5000;
  if (s->o.backoff_max_ms <= 0) s->o.backoff_max_ms = 300000;
  const char *ep = s->o.aws_endpoint;
  if (!ep || !*ep) ep = getenv("AWS_ENDPOINT_URL_SECRETS_MANAGER");
  if (!ep || !*ep) ep = getenv("AWS_SECRETSMANAGER_ENDPOINT");
  if (!ep || !*ep) ep = getenv("AWS_ENDPOINT_URL");
  s->aws_endpoint = ep && *ep ? strdup(ep) : NULL;
  s->o.aws_endpoint = NULL;
  s->synced = json_object();
  s->backoff = json_object();
  s->last_cond = json_object();
  idp_code rc = IDP_OK;
  if (s->o.install_crds && (rc = idp_secrets_install_crds(kc, e))) goto fail;
  if ((rc = idp_controller_new(&(idp_controller_opts){.name = "externalsecrets", .workers = s->o.workers,
                                                      .reconcile = es_reconcile, .ud = s},
                               &s->es_ctl, e)) ||
      (rc = idp_controller_new(&(idp_controller_opts){.name = "secretstores", .workers = 1,
                                                      .reconcile = sp_store_reconcile, .ud = s},
                               &s->store_ctl, e)) ||
      (rc = idp_controller_new(&(idp_controller_opts){.name = "clusterexternalsecrets", .workers = 1,
                                                      .reconcile = sp_ces_reconcile, .ud = s},
                               &s->ces_ctl, e)))
    goto fail;
  idp_informer_handlers esh = {es_add, es_update, es_delete, s};
  idp_informer_handlers sth = {store_add, store_update, store_delete, s};
  idp_informer_handlers sech = {NULL, sec_update, sec_delete, s};
  idp_informer_handlers nsh = {ns_add, ns_update, NULL, s};
  if ((rc = new_informer(s, "external-secrets.io", "externalsecrets", NULL, esh, &s->es_inf, e)) ||
      (rc = new_informer(s, "external-secrets.io", "secretstores", NULL, sth, &s->ss_inf, e)) ||
      (rc = new_informer(s, "external-secrets.io", "clustersecretstores", NULL, sth, &s->css_inf, e)) ||
      (rc = new_informer(s, "external-secrets.io", "clusterexternalsecrets", NULL,
                         idp_controller_handlers(s->ces_ctl), &s->ces_inf, e)) ||
      (rc = new_informer(s, "", "namespaces", NULL, nsh, &s->ns_inf, e)) ||
      (rc = new_informer(s, "", "secrets", LABEL_MANAGED "=true", sech, &s->sec_inf, e)))
    goto fail;
  idp_informer *infs[] = {s->ns_inf, s->sec_inf, s->ss_inf, s->css_inf, s->es_inf, s->ces_inf};
  for (size_t i = 0; i < IDP_ARRAY_LEN(infs); i++)
    if ((rc = idp_informer_start(infs[i], e))) goto fail;
  for (size_t i = 0; i < IDP_ARRAY_LEN(infs); i++)
    if (!idp_informer_wait_synced(infs[i], 30000)) {
      rc = idp_err_set(e, IDP_ETIMEOUT, "secrets: informer %zu did not sync within 30 s (are the CRDs installed?)", i);
      goto fail;
    }
  if ((rc = idp_controller_start(s->store_ctl, e)) || (rc = idp_controller_start(s->es_ctl, e)) ||
      (rc = idp_controller_start(s->ces_ctl, e)))
    goto fail;
  *out = s;
  return IDP_OK;
fail:
  idp_secrets_stop(s);
  return rc;
}
