/* secrets.h: the External Secrets-compatible controller (external-secrets.io/v1).
 *
 * Resources (CRDs shipped in src/secrets/crds/, installed by
 * idp_secrets_install_crds):
 *   ExternalSecret         fetches values from a store and keeps a Secret
 *   ClusterExternalSecret  stamps an ExternalSecret into selected namespaces
 *   SecretStore            namespaced provider configuration
 *   ClusterSecretStore     cluster-wide provider configuration
 *
 * Providers (a table, provider.c / internal.h): `kubernetes` (Secrets of
 * remoteNamespace, read through the controller's own client when the
 * server is this cluster, else with a client built from server.caBundle /
 * caProvider and auth token / cert / serviceAccount), `vault` (KV v1/v2,
 * token and Kubernetes auth
 * with a cached, renewed token), `aws` (Secrets Manager GetSecretValue,
 * SigV4, static credentials, endpoint override for LocalStack).
 *
 * ExternalSecret behaviour (ESO v2 semantics):
 *  - refreshInterval: Go duration, default 1h; "0" syncs once per spec
 *    change.  A refresh happens when the interval has passed, the spec,
 *    labels or annotations changed (syncedResourceVersion =
 *    "<generation>-<hash of labels+annotations>", so `kubectl annotate es x
 *    force-sync=$(date +%s) --overwrite` forces one), or the target Secret
 *    is missing or was modified (data-hash annotation mismatch).  Each
 *    requeue gets 0-10% jitter so refreshes never run in lock step.
 *  - target: name (default the ExternalSecret's name), creationPolicy
 *    Owner (ownerReference; garbage-collected with the ExternalSecret) |
 *    Orphan | Merge (merge keys into an existing Secret; missing Secret =
 *    Ready False SecretMissing) | None (fetch only); deletionPolicy Retain
 *    (default: values the provider no longer has leave the Secret as is) |
 *    Delete (the Secret is deleted when every value is gone) | Merge (gone
 *    keys are removed); immutable; template {type, metadata, data,
 *    mergePolicy Replace|Merge, engineVersion ignored} rendered with
 *    secrets/template.h.
 *  - data[] {secretKey, remoteRef{key, property, version, decodingStrategy
 *    None|Base64|Base64URL|Auto}}; dataFrom[] {extract{...}, find{path,
 *    name{regexp}, tags}}; later entries override earlier keys.
 *  - status: conditions[type Ready] (True SecretSynced "Secret was synced";
 *    False SecretSyncedError with the precise cause; False SecretMissing;
 *    type Deleted SecretDeleted), refreshTime, syncedResourceVersion,
 *    binding{name}.  Events: Normal Updated/Created; Warning UpdateFailed
 *    with the same cause.  Messages name stores, keys and properties,
 *    never values.
 *  - A failed refresh leaves the last good Secret untouched.
 *  - Store failures (unreachable, auth) back off per store (5 s doubling to
 *    5 min): ExternalSecrets of a store in backoff are not sent to it
 *    (ESO's flood gate) and report the store's last error.
 *
 * Threads: informers for the four kinds, Namespaces and the managed
 * Secrets (label reconcile.external-secrets.io/managed=true: only Secrets
 * this controller wrote are cached), one controller per kind.  All calls
 * go through the idp_kclient. */
#ifndef IDP_SECRETS_SECRETS_H
#define IDP_SECRETS_SECRETS_H

#include <stdbool.h>
#include <stdint.h>

#include "client/client.h"
#include "core/buf.h"
#include "core/err.h"

typedef struct idp_secrets idp_secrets;

typedef struct idp_secrets_opts {
  int workers;                 /* ExternalSecret workers; 0 = 4 */
  long store_requeue_ms;       /* SecretStore re-validation; 0 = 5 min */
  long backoff_initial_ms;     /* per-store backoff start; 0 = 5000 */
  long backoff_max_ms;         /* 0 = 300000 */
  bool install_crds;           /* install missing CRDs at start */
  bool no_events;              /* do not emit Kubernetes Events */
  const char *aws_endpoint;    /* Secrets Manager endpoint override; NULL =
                                  env AWS_ENDPOINT_URL_SECRETS_MANAGER,
                                  AWS_SECRETSMANAGER_ENDPOINT, AWS_ENDPOINT_URL */
  const char *controller_class; /* spec.controller to serve; NULL/"" = unset only */
} idp_secrets_opts;

/* Installs (create-or-update) the four CRDs and waits until they are served. */
idp_code idp_secrets_install_crds(idp_kclient *kc, idp_err *e);

/* Installs CRDs when o->install_crds, starts informers (waits for their
 * first list) and the controllers.  `kc` must outlive the controller. */
idp_code idp_secrets_start(idp_kclient *kc, const idp_secrets_opts *o, idp_secrets **out,
                           idp_err *e);
/* Stops controllers and informers, joins threads, frees.  NULL is fine. */
void idp_secrets_stop(idp_secrets *s);

/* Counters (tests, metrics). */
typedef struct idp_secrets_stats {
  unsigned long syncs;          /* successful ExternalSecret syncs */
  unsigned long sync_errors;    /* failed syncs */
  unsigned long secret_writes;  /* Secrets created/updated/deleted */
  unsigned long provider_calls; /* requests to providers */
  unsigned long vault_logins;   /* Vault auth logins (token cache misses) */
  unsigned long vault_renewals; /* renew-self calls */
} idp_secrets_stats;
void idp_secrets_get_stats(idp_secrets *s, idp_secrets_stats *out);

/* Appends the counters in Prometheus text format under ESO's metric names
 * (externalsecret_sync_calls_total, externalsecret_sync_calls_error,
 * externalsecret_provider_api_calls_count, plus idp_secrets_* extras) for
 * the platform's /metrics. */
idp_code idp_secrets_metrics(idp_secrets *s, idp_buf *out);

#endif
