#include "core/common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include <openssl/evp.h>

#include "certs/controller/certmanager.h"
#include "certs/controller/issue.h"
#include "certs/controller/policy.h"
#include "certs/controller/shim.h"
#include "certs/controller/spec.h"
#include "client/client.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/yaml.h"

#define FAO_LABEL "controller.cert-manager.io/fao"
#define FIELD_MANAGER "cert-manager-certificates"
#define ANN "cert-manager.io/"

struct idp_certctl {
  idp_kclient *kc;
  char crns[IDP_KNAME_MAX]; /* cluster resource namespace */
  bool owner_ref;
  idp_informer *certs, *issuers, *cissuers, *secrets, *gateways, *ingresses;
  idp_controller *cert_ctl, *issuer_ctl, *cissuer_ctl, *shim_ctl;
  atomic_uint_fast64_t issued, failed, reconciles;
};

static const idp_kref CERTS = {"cert-manager.io", "v1", "certificates", NULL, NULL, NULL};
static const idp_kref ISSUERS = {"cert-manager.io", "v1", "issuers", NULL, NULL, NULL};
static const idp_kref CISSUERS = {"cert-manager.io", "v1", "clusterissuers", NULL, NULL, NULL};
static const idp_kref SECRETS = {"", "v1", "secrets", NULL, NULL, NULL};
static const idp_kref GATEWAYS = {"gateway.networking.k8s.io", "v1", "gateways", NULL, NULL, NULL};
static const idp_kref INGRESSES = {"networking.k8s.io", "v1", "ingresses", NULL, NULL, NULL};

static int64_t now_s(void) { return (int64_t)time(NULL); }

static const char *str_or(const char *s, const char *d) { return s && *s ? s : d; }

/* ---- Small helpers ---------------------------------------------------------- */

static char *b64_encode_n(const unsigned char *p, size_t n) {
  char *out = malloc(4 * ((n + 2) / 3) + 1);
  if (out) EVP_EncodeBlock((unsigned char *)out, p, (int)n);
  return out;
}

static char *b64_encode(const char *s) { return b64_encode_n((const unsigned char *)s, strlen(s)); }

/* additionalOutputFormats as Secret data: a new object {"tls-combined.pem":
 * base64 or null, "key.der": base64 or null} (null = must be absent). */
static json_t *extra_outputs(const idp_cm_cert_spec *s, const char *chain, const char *key) {
  json_t *o = json_object();
  json_object_set_new(o, "tls-combined.pem", json_null());
  json_object_set_new(o, "key.der", json_null());
  if (s->out_combined_pem && chain && key) {
    idp_buf b;
    idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
    idp_buf_adds(&b, key);
    idp_buf_adds(&b, "\n");
    idp_buf_adds(&b, chain);
    char *v = b64_encode_n((const unsigned char *)b.data, b.len);
    if (v) json_object_set_new(o, "tls-combined.pem", json_string(v));
    free(v);
    OPENSSL_cleanse(b.data, b.len);
    idp_buf_free(&b);
  }
  unsigned char *der = NULL;
  size_t len = 0;
  if (s->out_der && key && !idp_cm_key_der(key, &der, &len, NULL)) {
    char *v = b64_encode_n(der, len);
    if (v) json_object_set_new(o, "key.der", json_string(v));
    free(v);
    OPENSSL_cleanse(der, len);
  }
  free(der);
  return o;
}

/* data[key] of a Secret, decoded; NULL when absent or not base64. */
static char *secret_value(const json_t *secret, const char *key) {
  const char *v = idp_json_get_str(secret, "data", key, NULL);
  if (!v || !*v) return NULL;
  char *out = NULL;
  size_t len;
  if (idp_base64_decode(v, strlen(v), &out, &len)) return NULL;
  if (len == 0 || memchr(out, '\0', len)) { /* PEM is text */
    free(out);
    return NULL;
  }
  return out;
}

/* A Secret: labelled ones come from the cache, others with one GET.  *out is
 * a new reference or NULL when the Secret does not exist. */
static idp_code get_secret(idp_certctl *c, const char *ns, const char *name, json_t **out, idp_err *e) {
  *out = idp_informer_get(c->secrets, ns, name);
  if (*out) return IDP_OK;
  idp_kref r = SECRETS;
  r.ns = ns;
  r.name = name;
  idp_code rc = idp_kclient_get(c->kc, &r, out, e);
  if (rc == IDP_ENOTFOUND) {
    idp_err_clear(e);
    *out = NULL;
    return IDP_OK;
  }
  return rc;
}

/* Writes `new_status` when it differs from the object's, with the object's
 * resourceVersion (PUT on the status subresource): a reconcile that read a
 * stale cache gets IDP_ECONFLICT and is retried, it never rolls the status
 * back (revision, times). */
static idp_code write_status(idp_certctl *c, const idp_kref *base, const json_t *obj, json_t *new_status,
                             idp_err *e) {
  const json_t *old_status = json_object_get(obj, "status");
  if (old_status && json_equal((json_t *)old_status, new_status)) return IDP_OK;
  json_t *upd = json_copy((json_t *)obj); /* shallow: the cached object stays untouched */
  if (!upd) return idp_err_set(e, IDP_ENOMEM, "copying an object");
  json_object_set(upd, "status", new_status);
  idp_kref r = *base;
  const char *ns = idp_json_get_str(obj, "metadata", "namespace", NULL);
  r.ns = ns && *ns ? ns : NULL;
  r.name = idp_json_get_str(obj, "metadata", "name", NULL);
  idp_code rc = idp_kclient_update_status(c->kc, &r, upd, NULL, NULL, e);
  json_decref(upd);
  if (rc == IDP_ENOTFOUND) { /* deleted meanwhile */
    idp_err_clear(e);
    return IDP_OK;
  }
  return rc;
}

/* The conditions of a status copy (created when absent), borrowed. */
static json_t *conds_of(json_t *status) {
  json_t *cs = json_object_get(status, "conditions");
  if (!json_is_array(cs)) {
    cs = json_array();
    json_object_set_new(status, "conditions", cs);
  }
  return cs;
}

static json_t *status_copy(const json_t *obj) {
  const json_t *st = json_object_get(obj, "status");
  return json_is_object(st) ? json_deep_copy(st) : json_object();
}

static int64_t generation(const json_t *obj) {
  const json_t *g = idp_json_get(obj, "metadata", "generation", NULL);
  return json_is_integer(g) ? (int64_t)json_integer_value(g) : 0;
}

/* ---- Issuers ------------------------------------------------------------------ */

typedef struct issuer_state {
  bool ready;
  const char *reason;
  char message[IDP_ERR_MSG_MAX];
} issuer_state;

/* Where a CA issuer's Secret lives. */
static const char *issuer_secret_ns(idp_certctl *c, const json_t *iss, bool cluster) {
  return cluster ? c->crns : idp_json_get_str(iss, "metadata", "namespace", NULL);
}

static void issuer_evaluate(idp_certctl *c, const json_t *iss, bool cluster, issuer_state *st) {
  const json_t *spec = json_object_get(iss, "spec");
  st->ready = false;
  st->message[0] = '\0';
  static const char *types[] = {"acme", "vault", "venafi"};
  const json_t *ca = json_object_get(spec, "ca");
  bool self = json_is_object(json_object_get(spec, "selfSigned"));
  if (self && ca) {
    st->reason = "ConfigError";
    snprintf(st->message, sizeof st->message,
             "Resource validation failed: spec: may not specify more than one issuer type");
    return;
  }
  if (self) {
    st->ready = true;
    st->reason = "IsReady";
    return;
  }
  if (!json_is_object(ca)) {
    st->reason = "ConfigError";
    for (size_t i = 0; i < IDP_ARRAY_LEN(types); i++)
      if (json_object_get(spec, types[i])) {
        snprintf(st->message, sizeof st->message,
                 "Resource validation failed: spec.%s: issuer type not supported by idp (supported: "
                 "selfSigned, ca)",
                 types[i]);
        return;
      }
    snprintf(st->message, sizeof st->message,
             "Resource validation failed: spec: no issuer type specified for Issuer");
    return;
  }
  const char *sname = json_string_value(json_object_get(ca, "secretName"));
  if (!sname || !*sname) {
    st->reason = "ConfigError";
    snprintf(st->message, sizeof st->message, "Resource validation failed: spec.ca.secretName: Required value");
    return;
  }
  const char *ns = issuer_secret_ns(c, iss, cluster);
  json_t *secret = NULL;
  idp_err e = IDP_ERR_INIT;
  st->reason = "ErrGetKeyPair";
  if (get_secret(c, ns, sname, &secret, &e)) {
    snprintf(st->message, sizeof st->message, "Error getting keypair for CA issuer: %s", e.msg);
    return;
  }
  if (!secret) {
    snprintf(st->message, sizeof st->message,
             "Error getting keypair for CA issuer: secret \"%s\" not found in namespace \"%s\"", sname, ns);
    return;
  }
  char *crt = secret_value(secret, "tls.crt"), *key = secret_value(secret, "tls.key");
  bool invalid = false;
  if (!crt || !key) {
    snprintf(st->message, sizeof st->message,
             "Error getting keypair for CA issuer: secret %s/%s has no %s", ns, sname,
             !crt ? "tls.crt" : "tls.key");
  } else if (idp_cm_check_ca(crt, key, &invalid, &e)) {
    if (invalid) st->reason = "ErrInvalidKeyPair";
    snprintf(st->message, sizeof st->message, "Error getting keypair for CA issuer: %s", e.msg);
  } else {
    st->ready = true;
    st->reason = "KeyPairVerified";
    snprintf(st->message, sizeof st->message, "Signing CA verified");
  }
  free(crt);
  free(key);
  json_decref(secret);
}

static idp_code reconcile_issuer(idp_certctl *c, bool cluster, const char *key, int64_t *again,
                                 idp_err *e) {
  json_t *iss = idp_informer_get_key(cluster ? c->cissuers : c->issuers, key);
  if (!iss) return IDP_OK;
  issuer_state st;
  issuer_evaluate(c, iss, cluster, &st);
  json_t *status = status_copy(iss);
  idp_cm_condition_set(conds_of(status), "Ready", st.ready ? "True" : "False", st.reason, st.message,
                       generation(iss), now_s());
  idp_code rc = write_status(c, cluster ? &CISSUERS : &ISSUERS, iss, status, e);
  json_decref(status);
  /* a CA Secret written by someone else is not watched: look again */
  if (!st.ready && strcmp(st.reason, "ConfigError") != 0) *again = 5000;
  json_decref(iss);
  if (rc == IDP_ECONFLICT) { /* stale cache: retried quietly */
    idp_err_clear(e);
    *again = 200;
    return IDP_OK;
  }
  return rc;
}

static idp_code reconcile_issuer_ns(void *ud, const char *key, int64_t *again, idp_err *e) {
  return reconcile_issuer(ud, false, key, again, e);
}
static idp_code reconcile_cissuer(void *ud, const char *key, int64_t *again, idp_err *e) {
  return reconcile_issuer(ud, true, key, again, e);
}

/* ---- Certificates ------------------------------------------------------------- */

/* The issuer a Certificate names: new reference or NULL; *why explains. */
static json_t *lookup_issuer(idp_certctl *c, const idp_cm_cert_spec *s, bool *cluster, char *why,
                             size_t n) {
  why[0] = '\0';
  if (strcmp(s->issuer_group, IDP_CM_GROUP) != 0) {
    snprintf(why, n, "issuerRef.group \"%s\" is an external issuer, which idp does not sign for",
             s->issuer_group);
    return NULL;
  }
  *cluster = strcmp(s->issuer_kind, "ClusterIssuer") == 0;
  if (!*cluster && strcmp(s->issuer_kind, "Issuer") != 0) {
    snprintf(why, n, "issuerRef.kind \"%s\" is not Issuer or ClusterIssuer", s->issuer_kind);
    return NULL;
  }
  json_t *iss = *cluster ? idp_informer_get(c->cissuers, NULL, s->issuer_name)
                         : idp_informer_get(c->issuers, s->ns, s->issuer_name);
  if (!iss) {
    snprintf(why, n, "Referenced \"%s\" not found: %s.cert-manager.io \"%s\" not found", s->issuer_kind,
             *cluster ? "clusterissuers" : "issuers", s->issuer_name);
    return NULL;
  }
  if (!idp_cm_is_ready(iss)) {
    snprintf(why, n, "Referenced issuer %s/%s does not have a Ready status condition", s->issuer_kind,
             s->issuer_name);
    json_decref(iss);
    return NULL;
  }
  return iss;
}

/* The strings of arr joined with ',' as a new JSON string. */
static json_t *join_strs(const json_t *arr) {
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  size_t i;
  const json_t *v;
  json_array_foreach(arr, i, v) {
    if (i) idp_buf_addc(&b, ',');
    idp_buf_adds(&b, json_string_value(v) ? json_string_value(v) : "");
  }
  json_t *out = json_string(idp_buf_str(&b));
  idp_buf_free(&b);
  return out;
}

/* The annotations and labels cert-manager puts on the Secret (new object
 * {"annotations":{}, "labels":{}}). */
static json_t *secret_meta(const idp_cm_cert_spec *s, const json_t *facts) {
  json_t *a = json_object(), *l = json_object();
  if (s->tmpl_annotations) json_object_update(a, (json_t *)s->tmpl_annotations);
  if (s->tmpl_labels) json_object_update(l, (json_t *)s->tmpl_labels);
  json_object_set_new(l, FAO_LABEL, json_string("true"));
  json_object_set_new(a, ANN "certificate-name", json_string(s->name));
  json_object_set_new(a, ANN "issuer-name", json_string(s->issuer_name));
  json_object_set_new(a, ANN "issuer-kind", json_string(s->issuer_kind));
  json_object_set_new(a, ANN "issuer-group", json_string(s->issuer_group));
  json_object_set_new(a, ANN "common-name", json_string(str_or(json_string_value(json_object_get(facts, "commonName")), "")));
  static const struct {
    const char *fact, *ann;
    bool always;
  } lists[] = {{"dnsNames", ANN "alt-names", true},
               {"ipAddresses", ANN "ip-sans", true},
               {"uris", ANN "uri-sans", true},
               {"emailAddresses", ANN "email-sans", false}};
  for (size_t i = 0; i < IDP_ARRAY_LEN(lists); i++) {
    const json_t *arr = json_object_get(facts, lists[i].fact);
    if (!lists[i].always && !json_array_size(arr)) continue;
    json_object_set_new(a, lists[i].ann, join_strs(arr));
  }
  const json_t *subj = json_object_get(facts, "subject");
  for (size_t i = 0; i < idp_cm_subject_fields_len; i++) {
    const json_t *fv = json_object_get(subj, idp_cm_subject_fields[i].field);
    if (json_is_string(fv)) json_object_set_new(a, idp_cm_subject_fields[i].annotation, json_copy((json_t *)fv));
    else if (json_array_size(fv)) {
      json_object_set_new(a, idp_cm_subject_fields[i].annotation, join_strs(fv));
    }
  }
  return json_pack("{s:o,s:o}", "annotations", a, "labels", l);
}

/* True when every key of `want` has that value in `have`. */
static bool map_covers(const json_t *have, const json_t *want) {
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)want, k, v) {
    const json_t *h = json_object_get(have, k);
    if (!h || !json_equal((json_t *)h, v)) return false;
  }
  return true;
}

static json_t *owner_ref_for(const json_t *cert) {
  return json_pack("{s:s,s:s,s:s,s:s,s:b,s:b}", "apiVersion", "cert-manager.io/v1", "kind", "Certificate",
                   "name", idp_json_get_str(cert, "metadata", "name", NULL), "uid",
                   str_or(idp_json_get_str(cert, "metadata", "uid", NULL), ""), "controller", 1,
                   "blockOwnerDeletion", 1);
}

/* Repairs the Secret's metadata (annotations, labels, template) without
 * re-issuing when it drifted. */
static idp_code ensure_secret_meta(idp_certctl *c, const idp_cm_cert_spec *s, const json_t *secret,
                                   const json_t *facts, const char *chain, const char *key, idp_err *e) {
  json_t *want = secret_meta(s, facts);
  json_t *extras = extra_outputs(s, chain, key);
  const json_t *meta = json_object_get(secret, "metadata");
  const json_t *data = json_object_get(secret, "data");
  bool extras_ok = true;
  const char *k;
  json_t *v;
  json_object_foreach(extras, k, v) {
    const json_t *have = json_object_get(data, k);
    if (json_is_null(v) ? have != NULL : (!have || !json_equal((json_t *)have, v))) extras_ok = false;
  }
  idp_code rc = IDP_OK;
  if (!extras_ok || !map_covers(json_object_get(meta, "annotations"), json_object_get(want, "annotations")) ||
      !map_covers(json_object_get(meta, "labels"), json_object_get(want, "labels"))) {
    json_t *patch = json_pack("{s:O,s:O}", "metadata", want, "data", extras);
    idp_kref r = SECRETS;
    r.ns = s->ns;
    r.name = s->secret_name;
    rc = idp_kclient_patch(c->kc, &r, IDP_PATCH_MERGE, patch, NULL, NULL, e);
    json_decref(patch);
  }
  json_decref(extras);
  json_decref(want);
  return rc;
}

/* Creates or updates the Secret with the issued material. */
static idp_code write_secret(idp_certctl *c, const json_t *cert, const idp_cm_cert_spec *s,
                             const json_t *existing, const char *chain, const char *key, const char *ca,
                             const json_t *facts, idp_err *e) {
  json_t *obj = existing ? json_deep_copy(existing)
                         : json_pack("{s:s,s:s,s:{s:s,s:s}}", "apiVersion", "v1", "kind", "Secret",
                                     "metadata", "name", s->secret_name, "namespace", s->ns);
  const char *type = json_string_value(json_object_get(obj, "type"));
  if (existing && type && strcmp(type, "kubernetes.io/tls") != 0) {
    json_decref(obj);
    return idp_err_set(e, IDP_EINVALID, "Secret %s/%s has type \"%s\", not kubernetes.io/tls", s->ns,
                       s->secret_name, type);
  }
  json_object_set_new(obj, "type", json_string("kubernetes.io/tls"));
  json_t *meta = idp_json_child_object(obj, "metadata");
  json_t *want = secret_meta(s, facts);
  json_object_update(idp_json_child_object(meta, "annotations"), json_object_get(want, "annotations"));
  json_object_update(idp_json_child_object(meta, "labels"), json_object_get(want, "labels"));
  json_decref(want);
  if (c->owner_ref && !json_array_size(json_object_get(meta, "ownerReferences")))
    json_object_set_new(meta, "ownerReferences", json_pack("[o]", owner_ref_for(cert)));
  json_object_del(meta, "managedFields");
  json_t *data = idp_json_child_object(obj, "data");
  const struct {
    const char *k, *v;
  } kv[] = {{"tls.crt", chain}, {"tls.key", key}, {"ca.crt", ca}};
  for (size_t i = 0; i < IDP_ARRAY_LEN(kv); i++) {
    char *b = b64_encode(kv[i].v);
    if (!b) {
      json_decref(obj);
      return idp_err_set(e, IDP_ENOMEM, "encoding Secret data");
    }
    json_object_set_new(data, kv[i].k, json_string(b));
    free(b);
  }
  json_t *extras = extra_outputs(s, chain, key);
  const char *ek;
  json_t *ev;
  json_object_foreach(extras, ek, ev) {
    if (json_is_null(ev)) json_object_del(data, ek);
    else json_object_set(data, ek, ev);
  }
  json_decref(extras);
  idp_kref r = SECRETS;
  r.ns = s->ns;
  idp_kwrite_opts wo = {.field_manager = FIELD_MANAGER};
  idp_code rc;
  if (existing) {
    r.name = s->secret_name;
    rc = idp_kclient_update(c->kc, &r, obj, &wo, NULL, e);
  } else {
    rc = idp_kclient_create(c->kc, &r, obj, &wo, NULL, e);
  }
  json_decref(obj);
  return rc;
}

/* Records an Event on the Certificate (best effort: an API that refuses
 * Events does not fail issuance).  Names are unique per nanosecond. */
static void emit_event(idp_certctl *c, const json_t *cert, const char *type, const char *reason,
                       const char *message) {
  const char *ns = idp_json_get_str(cert, "metadata", "namespace", NULL);
  const char *name = idp_json_get_str(cert, "metadata", "name", NULL);
  if (!ns || !name) return;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  char ev_name[IDP_KNAME_MAX], when[40];
  snprintf(ev_name, sizeof ev_name, "%.200s.%" PRIx64, name,
           (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
  idp_cm_time_format((int64_t)ts.tv_sec, when, sizeof when);
  json_t *ev = json_pack(
      "{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s,s:s,s:s,s:s},s:s,s:s,s:s,s:{s:s},s:s,s:s,s:i,s:s}", "apiVersion", "v1",
      "kind", "Event", "metadata", "name", ev_name, "namespace", ns, "involvedObject", "apiVersion",
      "cert-manager.io/v1", "kind", "Certificate", "name", name, "namespace", ns, "uid",
      str_or(idp_json_get_str(cert, "metadata", "uid", NULL), ""), "type", type, "reason", reason, "message",
      message, "source", "component", "cert-manager-certificates", "firstTimestamp", when, "lastTimestamp", when,
      "count", 1, "reportingComponent", "cert-manager-certificates");
  if (!ev) return;
  idp_kref r = {"", "v1", "events", ns, NULL, NULL};
  idp_err e = IDP_ERR_INIT;
  idp_kclient_create(c->kc, &r, ev, NULL, NULL, &e);
  json_decref(ev);
}

/* cert-manager's re-issuance backoff after failures: 1h * 2^(n-1), max 32h. */
static int64_t failure_backoff_s(int64_t attempts) {
  int64_t b = 3600;
  for (int64_t i = 1; i < attempts && b < 32 * 3600; i++) b *= 2;
  return b > 32 * 3600 ? 32 * 3600 : b;
}

static void set_times(json_t *status, const json_t *facts, const idp_cm_cert_spec *s, int64_t *renew) {
  int64_t nb = json_integer_value(json_object_get(facts, "notBefore"));
  int64_t na = json_integer_value(json_object_get(facts, "notAfter"));
  *renew = idp_cm_renewal_time(nb, na, s->renew_before_ns, s->renew_before_pct);
  char ts[40];
  idp_cm_time_format(nb, ts, sizeof ts);
  json_object_set_new(status, "notBefore", json_string(ts));
  idp_cm_time_format(na, ts, sizeof ts);
  json_object_set_new(status, "notAfter", json_string(ts));
  idp_cm_time_format(*renew, ts, sizeof ts);
  json_object_set_new(status, "renewalTime", json_string(ts));
}

static int64_t requeue_ms(int64_t at, int64_t now) {
  int64_t d = (at - now) * 1000 + 250;
  return d < 1000 ? 1000 : d;
}

/* Signs per spec with the named issuer.  Outputs malloc'd PEM. */
static idp_code sign_with(idp_certctl *c, const idp_cm_cert_spec *s, const json_t *iss, bool cluster,
                          const char *key, int64_t now, char **chain, char **ca, idp_err *e) {
  const json_t *spec = json_object_get(iss, "spec");
  if (json_is_object(json_object_get(spec, "selfSigned")))
    return idp_cm_sign(s, key, NULL, NULL, now, chain, ca, e);
  const char *sname = idp_json_get_str(spec, "ca", "secretName", NULL);
  const char *ns = issuer_secret_ns(c, iss, cluster);
  json_t *secret = NULL;
  idp_code rc = get_secret(c, ns, str_or(sname, ""), &secret, e);
  if (rc) return rc;
  if (!secret)
    return idp_err_set(e, IDP_ENOTFOUND, "CA Secret %s/%s not found", ns, str_or(sname, ""));
  char *crt = secret_value(secret, "tls.crt"), *ckey = secret_value(secret, "tls.key");
  json_decref(secret);
  if (!crt || !ckey) {
    rc = idp_err_set(e, IDP_EINVALID, "CA Secret %s/%s lacks %s", ns, sname, !crt ? "tls.crt" : "tls.key");
  } else {
    rc = idp_cm_sign(s, key, crt, ckey, now, chain, ca, e);
  }
  free(crt);
  free(ckey);
  return rc;
}

static idp_code reconcile_cert(void *ud, const char *k, int64_t *again, idp_err *e) {
  idp_certctl *c = ud;
  atomic_fetch_add(&c->reconciles, 1);
  json_t *cert = idp_informer_get_key(c->certs, k);
  if (!cert) return IDP_OK; /* deleted: the Secret stays (cert-manager's default) */
  int64_t now = now_s(), gen = generation(cert);
  const char *ns = idp_json_get_str(cert, "metadata", "namespace", NULL);
  const json_t *old_status = json_object_get(cert, "status");
  json_t *status = status_copy(cert);
  json_t *conds = conds_of(status);
  json_t *secret = NULL, *facts = NULL, *iss = NULL;
  char *crt = NULL, *key = NULL, *new_key = NULL, *chain = NULL, *ca = NULL;
  char msg[1024], why[768];
  idp_code rc = IDP_OK;

  idp_cm_cert_spec s;
  idp_err pe = IDP_ERR_INIT;
  if (idp_cm_cert_spec_parse(cert, &s, &pe)) {
    snprintf(msg, sizeof msg, "Resource validation failed: %s", pe.msg);
    idp_cm_condition_set(conds, "Ready", "False", "ConfigError", msg, gen, now);
    idp_cm_condition_remove(conds, "Issuing");
    rc = write_status(c, &CERTS, cert, status, e);
    goto out;
  }
  if ((rc = get_secret(c, ns, s.secret_name, &secret, e))) goto out;
  if (secret) {
    crt = secret_value(secret, "tls.crt");
    key = secret_value(secret, "tls.key");
  }
  /* Two Certificates sharing one Secret would take it from each other
   * forever (cert-manager 1.12's runaway issuance): a Secret issued for
   * another Certificate that still exists and still names it is left
   * alone, whatever else differs. */
  const char *other = idp_json_get_str(secret, "metadata", "annotations", ANN "certificate-name", NULL);
  if (other && strcmp(other, s.name) != 0) {
    json_t *oc = idp_informer_get(c->certs, ns, other);
    const char *osn = idp_json_get_str(oc, "spec", "secretName", NULL);
    bool contested = osn && strcmp(osn, s.secret_name) == 0;
    json_decref(oc);
    if (contested) {
      snprintf(msg, sizeof msg,
               "Secret was issued for \"%s\". If this message is not transient, you might have two "
               "conflicting Certificates pointing to the same secret.",
               other);
      idp_cm_condition_set(conds, "Ready", "False", "IncorrectCertificate", msg, gen, now);
      idp_cm_condition_remove(conds, "Issuing");
      rc = write_status(c, &CERTS, cert, status, e);
      goto out;
    }
  }
  const char *reason = idp_cm_evaluate(&s, secret, crt, key, &facts, now, msg, sizeof msg);
  if (!reason) {
    /* up to date: metadata repaired, status Ready */
    if ((rc = ensure_secret_meta(c, &s, secret, facts, crt, key, e))) goto out;
    int64_t renew;
    set_times(status, facts, &s, &renew);
    idp_cm_condition_set(conds, "Ready", "True", "Ready", "Certificate is up to date and has not expired",
                         gen, now);
    idp_cm_condition_remove(conds, "Issuing");
    if (!json_is_integer(json_object_get(status, "revision")))
      json_object_set_new(status, "revision", json_integer(1));
    json_object_del(status, "lastFailureTime");
    json_object_del(status, "failedIssuanceAttempts");
    rc = write_status(c, &CERTS, cert, status, e);
    *again = requeue_ms(renew, now);
    goto out;
  }

  /* needs issuance */
  idp_cm_condition_set(conds, "Ready", "False", reason, msg, gen, now);
  const json_t *issuing = idp_cm_condition_get(cert, "Issuing");
  int64_t attempts = json_integer_value(json_object_get(old_status, "failedIssuanceAttempts"));
  const char *lft = json_string_value(json_object_get(old_status, "lastFailureTime"));
  int64_t last_fail = 0;
  if (attempts > 0 && lft && !idp_cm_time_parse(lft, &last_fail, NULL) && issuing &&
      json_integer_value(json_object_get(issuing, "observedGeneration")) == gen &&
      now < last_fail + failure_backoff_s(attempts)) {
    /* backing off after a failure; a spec change (generation) retries at once */
    rc = write_status(c, &CERTS, cert, status, e);
    *again = requeue_ms(last_fail + failure_backoff_s(attempts), now);
    goto out;
  }
  bool cluster = false;
  iss = lookup_issuer(c, &s, &cluster, why, sizeof why);
  if (!iss) {
    char m2[2048];
    snprintf(m2, sizeof m2, "%s; waiting: %s", msg, why);
    idp_cm_condition_set(conds, "Issuing", "True", reason, m2, gen, now);
    rc = write_status(c, &CERTS, cert, status, e);
    *again = 30000; /* issuer events enqueue us sooner */
    goto out;
  }
  /* the private key: kept with rotationPolicy Never when it still fits */
  idp_cm_key_info ki;
  if (!s.rotate_always && key && !idp_cm_key_info_get(key, &ki, NULL) &&
      !idp_cm_key_mismatches(&ki, &s, why, sizeof why)) {
    rc = ki.enc == s.key_enc ? ((new_key = strdup(key)) ? IDP_OK : IDP_ENOMEM)
                             : idp_cm_key_encode(key, s.key_enc, &new_key, e);
  } else {
    rc = idp_cm_key_new(s.key_alg, s.key_size, s.key_enc, &new_key, e);
  }
  if (!rc) rc = sign_with(c, &s, iss, cluster, new_key, now, &chain, &ca, e);
  json_decref(facts);
  facts = NULL;
  if (!rc) rc = idp_cm_cert_facts(chain, &facts, e);
  if (!rc) {
    rc = write_secret(c, cert, &s, secret, chain, new_key, ca, facts, e);
    if (rc == IDP_ECONFLICT || rc == IDP_EEXIST || rc == IDP_EUNAVAILABLE || rc == IDP_ETIMEOUT ||
        rc == IDP_EIO)
      goto out; /* transient: the queue retries with backoff */
  }
  if (rc) {
    atomic_fetch_add(&c->failed, 1);
    snprintf(why, sizeof why, "The certificate request has failed to complete and will be retried: %s",
             e->msg);
    idp_log(IDP_LOG_WARN, "certificate issuance failed", "certificate", k, "error", e->msg, NULL);
    idp_err_clear(e);
    char ts[40];
    idp_cm_time_format(now, ts, sizeof ts);
    json_object_set_new(status, "lastFailureTime", json_string(ts));
    json_object_set_new(status, "failedIssuanceAttempts", json_integer(attempts + 1));
    idp_cm_condition_set(conds, "Issuing", "False", "Failed", why, gen, now);
    emit_event(c, cert, "Warning", "Failed", why);
    rc = write_status(c, &CERTS, cert, status, e);
    *again = requeue_ms(now + failure_backoff_s(attempts + 1), now);
    goto out;
  }
  atomic_fetch_add(&c->issued, 1);
  int64_t renew;
  set_times(status, facts, &s, &renew);
  json_object_set_new(status, "revision",
                      json_integer(json_integer_value(json_object_get(old_status, "revision")) + 1));
  json_object_del(status, "lastFailureTime");
  json_object_del(status, "failedIssuanceAttempts");
  idp_cm_condition_set(conds, "Ready", "True", "Ready", "Certificate is up to date and has not expired", gen,
                       now);
  idp_cm_condition_remove(conds, "Issuing");
  idp_log(IDP_LOG_INFO, "certificate issued", "certificate", k, "reason", reason, NULL);
  emit_event(c, cert, "Normal", "Issuing", "The certificate has been successfully issued");
  rc = write_status(c, &CERTS, cert, status, e);
  *again = requeue_ms(renew, now);
out:
  json_decref(status);
  json_decref(secret);
  json_decref(facts);
  json_decref(iss);
  json_decref(cert);
  if (key) OPENSSL_cleanse(key, strlen(key));
  if (new_key) OPENSSL_cleanse(new_key, strlen(new_key));
  free(crt);
  free(key);
  free(new_key);
  free(chain);
  free(ca);
  if (rc == IDP_ECONFLICT) {
    /* a stale cache read: normal with informers, retried quietly */
    idp_err_clear(e);
    *again = 200;
    return IDP_OK;
  }
  return rc;
}

/* ---- Shims ---------------------------------------------------------------------- */

static bool owned_by(const json_t *obj, const char *uid) {
  size_t i;
  const json_t *r;
  json_array_foreach(idp_json_get(obj, "metadata", "ownerReferences", NULL), i, r) {
    const char *u = json_string_value(json_object_get(r, "uid"));
    if (u && uid && strcmp(u, uid) == 0) return true;
  }
  return false;
}

static idp_code reconcile_shim(void *ud, const char *key, int64_t *again, idp_err *e) {
  idp_certctl *c = ud;
  (void)again;
  bool gateway = strncmp(key, "Gateway/", 8) == 0;
  const char *okey = strchr(key, '/') + 1;
  json_t *obj = idp_informer_get_key(gateway ? c->gateways : c->ingresses, okey);
  if (!obj) return IDP_OK; /* deleted: garbage collection removes its Certificates */
  json_t *want = NULL;
  idp_code rc = idp_cm_shim_certificates(obj, &want, e);
  if (rc) {
    idp_log(IDP_LOG_WARN, "shim: skipping object", "object", key, "error", e->msg, NULL);
    idp_err_clear(e);
    json_decref(obj);
    return IDP_OK; /* fixed by the next edit of the object */
  }
  const char *ns = idp_json_get_str(obj, "metadata", "namespace", NULL);
  const char *uid = idp_json_get_str(obj, "metadata", "uid", NULL);
  bool annotated = json_object_get(idp_json_get(obj, "metadata", "annotations", NULL), ANN "issuer") ||
                   json_object_get(idp_json_get(obj, "metadata", "annotations", NULL), ANN "cluster-issuer");
  size_t i;
  json_t *d;
  idp_kref r = CERTS;
  r.ns = ns;
  json_array_foreach(want, i, d) {
    const char *name = idp_json_get_str(d, "metadata", "name", NULL);
    json_t *cur = idp_informer_get(c->certs, ns, name);
    idp_code one = IDP_OK;
    if (!cur) {
      r.name = NULL;
      one = idp_kclient_create(c->kc, &r, d, NULL, NULL, e);
      if (one == IDP_EEXIST) one = IDP_OK, idp_err_clear(e); /* cache lag: next event */
    } else if (!owned_by(cur, uid)) {
      idp_log(IDP_LOG_WARN, "shim: Certificate exists and is not owned by this object", "object", key,
              "certificate", name, NULL);
    } else {
      /* keep only the fields the shim manages in sync */
      json_t *spec = json_deep_copy(json_object_get(cur, "spec"));
      if (!spec) spec = json_object();
      json_object_update(spec, json_object_get(d, "spec"));
      if (!json_object_get(json_object_get(d, "spec"), "dnsNames")) json_object_del(spec, "dnsNames");
      if (!json_equal(spec, json_object_get(cur, "spec"))) {
        json_t *upd = json_deep_copy(cur);
        json_object_set(upd, "spec", spec);
        json_object_del(upd, "status");
        r.name = name;
        one = idp_kclient_update(c->kc, &r, upd, NULL, NULL, e);
        json_decref(upd);
      }
      json_decref(spec);
    }
    json_decref(cur);
    if (one && !rc) rc = one;
    else if (one) idp_err_clear(e);
  }
  /* Certificates this object owns but no longer asks for */
  if (annotated) {
    json_t *all = idp_informer_list(c->certs, ns);
    json_array_foreach(all, i, d) {
      if (!owned_by(d, uid)) continue;
      const char *name = idp_json_get_str(d, "metadata", "name", NULL);
      bool wanted = false;
      size_t j;
      json_t *w;
      json_array_foreach(want, j, w) if (strcmp(idp_json_get_str(w, "metadata", "name", NULL), name) == 0)
          wanted = true;
      if (wanted) continue;
      r.name = name;
      idp_err de = IDP_ERR_INIT;
      idp_code dc = idp_kclient_delete(c->kc, &r, NULL, NULL, &de);
      if (dc && dc != IDP_ENOTFOUND && !rc) {
        rc = dc;
        *e = de;
      }
    }
    json_decref(all);
  }
  json_decref(want);
  json_decref(obj);
  return rc;
}

/* ---- Event fan-out ---------------------------------------------------------------- */

/* Enqueues the Certificates (in ns, NULL = all) matching pred. */
static void enqueue_certs_where(idp_certctl *c, const char *ns,
                                bool (*pred)(const json_t *cert, const void *arg), const void *arg) {
  json_t *all = idp_informer_list(c->certs, ns);
  size_t i;
  json_t *cert;
  json_array_foreach(all, i, cert) if (pred(cert, arg)) idp_controller_enqueue_object(c->cert_ctl, cert);
  json_decref(all);
}

typedef struct issuer_match {
  const char *name;
  bool cluster;
} issuer_match;

static bool refs_issuer(const json_t *cert, const void *arg) {
  const issuer_match *m = arg;
  const char *n = idp_json_get_str(cert, "spec", "issuerRef", "name", NULL);
  const char *kind = str_or(idp_json_get_str(cert, "spec", "issuerRef", "kind", NULL), "Issuer");
  return n && strcmp(n, m->name) == 0 && (strcmp(kind, "ClusterIssuer") == 0) == m->cluster;
}

static bool uses_secret(const json_t *cert, const void *arg) {
  const char *sn = idp_json_get_str(cert, "spec", "secretName", NULL);
  return sn && strcmp(sn, (const char *)arg) == 0;
}

static void issuer_changed(idp_certctl *c, const json_t *iss, bool cluster) {
  idp_controller_enqueue_object(cluster ? c->cissuer_ctl : c->issuer_ctl, iss);
  issuer_match m = {idp_json_get_str(iss, "metadata", "name", NULL), cluster};
  if (!m.name) return;
  enqueue_certs_where(c, cluster ? NULL : idp_json_get_str(iss, "metadata", "namespace", NULL), refs_issuer, &m);
}

static void on_issuer_add(void *ud, const json_t *o) { issuer_changed(ud, o, false); }
static void on_issuer_upd(void *ud, const json_t *a, const json_t *b) {
  (void)a;
  issuer_changed(ud, b, false);
}
static void on_cissuer_add(void *ud, const json_t *o) { issuer_changed(ud, o, true); }
static void on_cissuer_upd(void *ud, const json_t *a, const json_t *b) {
  (void)a;
  issuer_changed(ud, b, true);
}

static void secret_changed(void *ud, const json_t *secret) {
  idp_certctl *c = ud;
  const char *ns = idp_json_get_str(secret, "metadata", "namespace", NULL);
  const char *name = idp_json_get_str(secret, "metadata", "name", NULL);
  if (!ns || !name) return;
  enqueue_certs_where(c, ns, uses_secret, name);
  /* issuers whose CA this is */
  for (int cl = 0; cl < 2; cl++) {
    if (cl && strcmp(ns, c->crns) != 0) continue;
    json_t *all = idp_informer_list(cl ? c->cissuers : c->issuers, cl ? NULL : ns);
    size_t i;
    json_t *iss;
    json_array_foreach(all, i, iss) {
      const char *sn = idp_json_get_str(iss, "spec", "ca", "secretName", NULL);
      if (sn && strcmp(sn, name) == 0) idp_controller_enqueue_object(cl ? c->cissuer_ctl : c->issuer_ctl, iss);
    }
    json_decref(all);
  }
}
static void on_secret_upd(void *ud, const json_t *a, const json_t *b) {
  (void)a;
  secret_changed(ud, b);
}

/* Certificates: own key, and the owning Gateway/Ingress (to restore a
 * deleted or edited shim Certificate). */
static void cert_changed(idp_certctl *c, const json_t *cert) {
  idp_controller_enqueue_object(c->cert_ctl, cert);
  size_t i;
  const json_t *r;
  const char *ns = idp_json_get_str(cert, "metadata", "namespace", NULL);
  json_array_foreach(idp_json_get(cert, "metadata", "ownerReferences", NULL), i, r) {
    const char *kind = json_string_value(json_object_get(r, "kind"));
    const char *name = json_string_value(json_object_get(r, "name"));
    if (!kind || !name || !ns || (strcmp(kind, "Gateway") != 0 && strcmp(kind, "Ingress") != 0)) continue;
    if ((strcmp(kind, "Gateway") == 0 && !c->gateways) || (strcmp(kind, "Ingress") == 0 && !c->ingresses))
      continue;
    char key[IDP_KNAME_MAX * 2 + 16];
    snprintf(key, sizeof key, "%s/%s/%s", kind, ns, name);
    idp_controller_enqueue(c->shim_ctl, key);
  }
}
static void on_cert_add(void *ud, const json_t *o) { cert_changed(ud, o); }
static void on_cert_upd(void *ud, const json_t *a, const json_t *b) {
  (void)a;
  cert_changed(ud, b);
}

static void shim_enqueue(idp_certctl *c, const char *kind, const json_t *obj) {
  char k[IDP_KNAME_MAX * 2 + 2], key[IDP_KNAME_MAX * 2 + 16];
  if (!idp_object_key(obj, k, sizeof k)) return;
  snprintf(key, sizeof key, "%s/%s", kind, k);
  idp_controller_enqueue(c->shim_ctl, key);
}
static void on_gw(void *ud, const json_t *o) { shim_enqueue(ud, "Gateway", o); }
static void on_gw_upd(void *ud, const json_t *a, const json_t *b) {
  (void)a;
  shim_enqueue(ud, "Gateway", b);
}
static void on_ing(void *ud, const json_t *o) { shim_enqueue(ud, "Ingress", o); }
static void on_ing_upd(void *ud, const json_t *a, const json_t *b) {
  (void)a;
  shim_enqueue(ud, "Ingress", b);
}

/* ---- CRDs ------------------------------------------------------------------------- */

extern const char *const idp_certctl_crd_files[];
extern const char *const idp_certctl_crd_names[];

static const idp_kref CRDS = {"apiextensions.k8s.io", "v1", "customresourcedefinitions", NULL, NULL, NULL};

idp_code idp_certctl_install_crds(idp_kclient *kc, idp_err *e) {
  for (size_t f = 0; idp_certctl_crd_files[f]; f++) {
    json_t *docs = NULL;
    const char *text = idp_certctl_crd_files[f];
    idp_code rc = idp_yaml_load(text, strlen(text), idp_certctl_crd_names[f], NULL, &docs, e);
    if (rc) return rc;
    size_t i;
    json_t *crd;
    json_array_foreach(docs, i, crd) {
      if (!json_is_object(crd)) continue;
      idp_kref r = CRDS;
      r.name = idp_json_get_str(crd, "metadata", "name", NULL);
      json_t *cur = NULL;
      rc = idp_kclient_get(kc, &r, &cur, e);
      json_decref(cur);
      if (rc == IDP_ENOTFOUND) {
        idp_err_clear(e);
        r.name = NULL;
        rc = idp_kclient_create(kc, &r, crd, NULL, NULL, e);
        if (rc == IDP_EEXIST) rc = IDP_OK, idp_err_clear(e); /* another installer won */
      }
      if (rc) {
        idp_err_prefix(e, "installing CRD %s", idp_json_get_str(crd, "metadata", "name", NULL));
        json_decref(docs);
        return rc;
      }
    }
    json_decref(docs);
  }
  /* wait until the kinds are served (CRDs become established asynchronously) */
  static const char *const kinds[][2] = {{"cert-manager.io/v1", "Certificate"},
                                         {"cert-manager.io/v1", "ClusterIssuer"},
                                         {"gateway.networking.k8s.io/v1", "Gateway"}};
  for (size_t k = 0; k < IDP_ARRAY_LEN(kinds); k++) {
    idp_kgvr g;
    idp_code rc = IDP_OK;
    for (int tries = 0; tries < 150; tries++) {
      rc = idp_kclient_resolve(kc, kinds[k][0], kinds[k][1], &g, e);
      if (!rc) break;
      idp_kclient_discovery_reset(kc);
      struct timespec ts = {0, 100 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
    if (rc) {
      idp_err_prefix(e, "waiting for %s %s to be served", kinds[k][0], kinds[k][1]);
      return rc;
    }
    idp_err_clear(e);
  }
  return IDP_OK;
}

/* ---- Lifecycle ----------------------------------------------------------------------- */

void idp_certctl_get_stats(idp_certctl *c, idp_certctl_stats *out) {
  out->issued = atomic_load(&c->issued);
  out->failed = atomic_load(&c->failed);
  out->reconciles = atomic_load(&c->reconciles);
}

void idp_certctl_stop(idp_certctl *c) {
  if (!c) return;
  idp_controller *ctls[] = {c->cert_ctl, c->issuer_ctl, c->cissuer_ctl, c->shim_ctl};
  idp_informer *infs[] = {c->certs, c->issuers, c->cissuers, c->secrets, c->gateways, c->ingresses};
  for (size_t i = 0; i < IDP_ARRAY_LEN(infs); i++)
    if (infs[i]) idp_informer_stop(infs[i]);
  for (size_t i = 0; i < IDP_ARRAY_LEN(ctls); i++)
    if (ctls[i]) idp_controller_stop(ctls[i]);
  for (size_t i = 0; i < IDP_ARRAY_LEN(infs); i++) idp_informer_free(infs[i]);
  for (size_t i = 0; i < IDP_ARRAY_LEN(ctls); i++) idp_controller_free(ctls[i]);
  free(c);
}

static idp_code new_informer(idp_certctl *c, idp_kref res, const char *label_selector,
                             const idp_informer_handlers *h, idp_informer **out, idp_err *e) {
  idp_informer_opts o = {.resource = res, .label_selector = label_selector};
  idp_code rc = idp_informer_new(c->kc, &o, h, out, e);
  if (!rc) rc = idp_informer_start(*out, e);
  return rc;
}

idp_code idp_certctl_start(idp_kclient *kc, const idp_certctl_opts *o, idp_certctl **out, idp_err *e) {
  *out = NULL;
  idp_certctl_opts def = {0};
  if (!o) o = &def;
  idp_code rc;
  if (!o->skip_crds && (rc = idp_certctl_install_crds(kc, e))) return rc;
  idp_certctl *c = calloc(1, sizeof *c);
  if (!c) return idp_err_set(e, IDP_ENOMEM, "allocating the certificate controller");
  c->kc = kc;
  c->owner_ref = o->certificate_owner_ref;
  snprintf(c->crns, sizeof c->crns, "%s", str_or(o->cluster_resource_namespace, "cert-manager"));
  int workers = o->workers > 0 ? o->workers : 4;
  /* qps < 0: no global token bucket, bursts of issuance are the job */
  static const idp_ratelimit_opts rl = {.base_ms = 50, .max_ms = 300000, .qps = -1};
  const struct {
    const char *name;
    int workers;
    idp_reconcile_fn fn;
    idp_controller **slot;
  } ctls[] = {{"certificates", workers, reconcile_cert, &c->cert_ctl},
              {"issuers", 1, reconcile_issuer_ns, &c->issuer_ctl},
              {"clusterissuers", 1, reconcile_cissuer, &c->cissuer_ctl},
              {"certificate-shims", 1, reconcile_shim, &c->shim_ctl}};
  for (size_t i = 0; i < IDP_ARRAY_LEN(ctls); i++) {
    idp_controller_opts co = {.name = ctls[i].name, .workers = ctls[i].workers, .reconcile = ctls[i].fn,
                              .ud = c, .rate_limit = &rl};
    if ((rc = idp_controller_new(&co, ctls[i].slot, e))) goto fail;
  }
  idp_informer_handlers hc = {on_cert_add, on_cert_upd, on_cert_add, c};
  idp_informer_handlers hi = {on_issuer_add, on_issuer_upd, on_issuer_add, c};
  idp_informer_handlers hci = {on_cissuer_add, on_cissuer_upd, on_cissuer_add, c};
  idp_informer_handlers hs = {secret_changed, on_secret_upd, secret_changed, c};
  if ((rc = new_informer(c, SECRETS, FAO_LABEL "=true", &hs, &c->secrets, e)) ||
      (rc = new_informer(c, ISSUERS, NULL, &hi, &c->issuers, e)) ||
      (rc = new_informer(c, CISSUERS, NULL, &hci, &c->cissuers, e)) ||
      (rc = new_informer(c, CERTS, NULL, &hc, &c->certs, e)))
    goto fail;
  /* a cluster without the Gateway API (CRDs not installed by us) runs
   * without the gateway shim rather than failing */
  idp_kgvr g;
  idp_err ge = IDP_ERR_INIT;
  bool gw_served = idp_kclient_resolve(kc, "gateway.networking.k8s.io/v1", "Gateway", &g, &ge) == IDP_OK;
  if (!o->disable_gateway_shim && !gw_served)
    idp_log(IDP_LOG_WARN, "gateway shim disabled: Gateway API not served", "error", ge.msg, NULL);
  if (!o->disable_gateway_shim && gw_served) {
    idp_informer_handlers hg = {on_gw, on_gw_upd, NULL, c};
    if ((rc = new_informer(c, GATEWAYS, NULL, &hg, &c->gateways, e))) goto fail;
  }
  if (!o->disable_ingress_shim) {
    idp_informer_handlers hn = {on_ing, on_ing_upd, NULL, c};
    if ((rc = new_informer(c, INGRESSES, NULL, &hn, &c->ingresses, e))) goto fail;
  }
  long wait = o->sync_timeout_ms > 0 ? o->sync_timeout_ms : 60000;
  idp_informer *infs[] = {c->secrets, c->issuers, c->cissuers, c->certs, c->gateways, c->ingresses};
  for (size_t i = 0; i < IDP_ARRAY_LEN(infs); i++)
    if (infs[i] && !idp_informer_wait_synced(infs[i], wait)) {
      rc = idp_err_set(e, IDP_ETIMEOUT, "certificate controller: caches did not sync within %ld ms", wait);
      goto fail;
    }
  for (size_t i = 0; i < IDP_ARRAY_LEN(ctls); i++)
    if ((rc = idp_controller_start(*ctls[i].slot, e))) goto fail;
  idp_log(IDP_LOG_INFO, "certificate controller started", "clusterResourceNamespace", c->crns, NULL);
  *out = c;
  return IDP_OK;
fail:
  idp_certctl_stop(c);
  return rc;
}
