/* internal.h: shared between the files of src/secrets (not a public API).
 *
 * A provider is a row of the table in provider.c: its spec.provider key
 * and functions.  Fetched values travel as a JSON object of
 * key -> JSON string (binary-safe: jansson strings carry a length).
 * Every function returns a new reference through `out`, fills `e` with a
 * message that names the store, key and property but never a value, and
 * uses IDP_ENOTFOUND for "the provider has no such key/property" (which
 * deletionPolicy acts on) versus IDP_EUNAVAILABLE/IDP_EUNAUTH/IDP_EIO for
 * store failures (which back off per store). */
#ifndef IDP_SECRETS_INTERNAL_H
#define IDP_SECRETS_INTERNAL_H

#include <pthread.h>

#include "client/client.h"
#include "core/buf.h"
#include "secrets/secrets.h"

typedef struct idp_secrets idp_secrets;

/* What a provider call knows about its store. */
typedef struct sp_ctx {
  idp_secrets *s;
  idp_kclient *kc;
  const json_t *store;     /* the SecretStore/ClusterSecretStore (borrowed) */
  const json_t *cfg;       /* store.spec.provider.<name> (borrowed) */
  const char *store_kind;  /* "SecretStore" | "ClusterSecretStore" */
  const char *store_key;   /* "Kind/ns/name", cache key */
  const char *ns;          /* namespace of the ExternalSecret (secret refs) */
} sp_ctx;

typedef struct sp_provider {
  const char *name;
  /* one value: data[].remoteRef -> JSON string */
  idp_code (*get)(sp_ctx *c, const json_t *ref, json_t **out, idp_err *e);
  /* dataFrom[].extract -> object of key -> string */
  idp_code (*get_map)(sp_ctx *c, const json_t *ref, json_t **out, idp_err *e);
  /* dataFrom[].find -> object of key -> string; NULL = unsupported */
  idp_code (*find)(sp_ctx *c, const json_t *find, json_t **out, idp_err *e);
  /* store validation (reachability, credentials) */
  idp_code (*validate)(sp_ctx *c, idp_err *e);
} sp_provider;

extern const sp_provider sp_kubernetes, sp_vault, sp_aws;
/* The provider configured in store.spec.provider, *cfg its config. */
const sp_provider *sp_lookup(const json_t *store, const json_t **cfg, idp_err *e);

/* ---- the controller object ------------------------------------------------- */

struct idp_secrets {
  idp_kclient *kc;
  idp_secrets_opts o;
  char *aws_endpoint;
  idp_informer *es_inf, *ss_inf, *css_inf, *ces_inf, *ns_inf, *sec_inf;
  idp_controller *es_ctl, *store_ctl, *ces_ctl;
  pthread_mutex_t mu;     /* guards the maps below and stats */
  json_t *synced;         /* es key -> [syncedRV, time_ms] of our last sync */
  json_t *backoff;        /* store key -> {"n", "until", "msg"} */
  json_t *last_cond;      /* es key -> "reason|message" last reported (events) */
  struct sp_vault_cache *vault;
  idp_secrets_stats stats;
};

void sp_stat_add(idp_secrets *s, unsigned long *field);

/* ---- helpers (util.c) ------------------------------------------------------- */

/* Go time.ParseDuration subset -> milliseconds; "0" ok. */
idp_code sp_parse_duration(const char *s, int64_t *ms, idp_err *e);
int64_t sp_now_ms(void);
void sp_rfc3339(int64_t ms, char out[32]);
int64_t sp_parse_rfc3339(const char *s); /* ms, 0 on failure */

/* Reads key `key` of Secret `name` in `ns` (decoded bytes as a JSON string). */
idp_code sp_secret_value(idp_kclient *kc, const char *ns, const char *name, const char *key,
                         json_t **out, idp_err *e);
/* ESO SecretKeySelector {name, key, namespace}: namespace honoured only for
 * ClusterSecretStores (default: the ExternalSecret's namespace). */
idp_code sp_secret_ref(sp_ctx *c, const json_t *sel, const char *field, json_t **out,
                       idp_err *e);

/* base64 (std) encode/decode of binary-safe strings. */
char *sp_b64enc(const char *p, size_t n);
idp_code sp_b64dec(const char *p, size_t n, bool url, json_t **out);

/* Property lookup in a JSON document (ESO/gjson subset): an exact
 * top-level key first, then a dotted path with array indexes
 * ("a.b.1.c"); non-string values become their JSON text.  NULL when
 * absent.  New reference. */
json_t *sp_json_property(const json_t *doc, const char *prop);
/* A JSON string's text parsed as JSON (object/array) or NULL. */
json_t *sp_parse_value(const json_t *str);
/* A value as the string stored in a Secret: strings as is, others JSON. */
json_t *sp_as_string(const json_t *v);

/* Hex SHA-224 of a JSON value's canonical text (labels, hashes). */
void sp_hash(const json_t *v, char out[57]);

/* ---- HTTP for Vault and AWS (http.c) --------------------------------------- */

typedef struct sp_http_req {
  const char *method;
  const char *url;
  const char *const *headers; /* "Name: value", NULL-terminated; may be NULL */
  const char *body;
  size_t body_len;
  const char *ca_pem;         /* extra trust (caBundle); NULL = system */
  long timeout_ms;            /* 0 = 10000 */
} sp_http_req;

/* *status = HTTP status (0 when no answer).  Transport errors:
 * IDP_EUNAVAILABLE (refused/DNS), IDP_ETIMEOUT, IDP_EIO; the message
 * names the URL without its query. */
idp_code sp_http(const sp_http_req *r, long *status, idp_buf *resp, idp_err *e);

/* ---- stores (store.c) --------------------------------------------------------- */

/* Finds the store an ExternalSecret refers to (new ref) and checks the
 * ClusterSecretStore conditions allow `ns`.  Kind defaults to SecretStore. */
idp_code sp_store_get(idp_secrets *s, const json_t *es, json_t **store, char *key, size_t keyn,
                      idp_err *e);
/* Flood gate: true when the store is backing off (msg filled). */
bool sp_store_backing_off(idp_secrets *s, const char *store_key, int64_t *until, char *msg,
                          size_t n);
void sp_store_failed(idp_secrets *s, const char *store_key, const char *msg);
void sp_store_ok(idp_secrets *s, const char *store_key);
idp_code sp_store_reconcile(void *ud, const char *key, int64_t *again, idp_err *e);
extern const char *const sp_store_kinds[2]; /* "SecretStore", "ClusterSecretStore" */

/* ---- ClusterExternalSecret (ces.c) ----------------------------------------------- */

idp_code sp_ces_reconcile(void *ud, const char *key, int64_t *again, idp_err *e);

/* ---- events (controller.c) ------------------------------------------------------- */

void sp_event(idp_secrets *s, const json_t *obj, const char *type, const char *reason,
              const char *msg);

/* ---- Vault token cache (prov_vault.c) ----------------------------------------------- */

void sp_vault_cache_free(struct sp_vault_cache *c);

#endif
