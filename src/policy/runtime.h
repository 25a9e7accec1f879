/* runtime.h: what the policy engine needs to run against a live API server
 * through the REST client (client/rest.h): a pol_api backed by an
 * idp_kclient, a watcher that keeps a pol_adm's policy set in line with
 * the ClusterPolicies and Policies of the cluster, and the CRD installer.
 *
 * Threads: the pol_api callbacks are safe from any thread (the client is);
 * the watcher runs two informers (own threads). */
#ifndef IDP_POLICY_RUNTIME_H
#define IDP_POLICY_RUNTIME_H

#include <jansson.h>

#include "client/client.h"
#include "core/err.h"
#include "policy/admission.h"

/* Fills `api` with callbacks using `kc` (which must outlive it):
 * call = idp_kclient_request on the path, get = resolve apiVersion+kind,
 * then GET the object or LIST (items array) the namespace. */
void pol_kapi_init(pol_api *api, idp_kclient *kc);

/* Installs (create when missing) the kyverno.io ClusterPolicy/Policy and
 * wgpolicyk8s.io PolicyReport/ClusterPolicyReport CRDs (src/policy/crds)
 * and waits until the kinds are served. */
idp_code pol_install_crds(idp_kclient *kc, idp_err *e);

/* Keeps `adm` loaded with every ClusterPolicy and Policy (informers).  An
 * invalid policy is logged with the engine's message and left out.
 * `notify` (may be NULL) is called on the informer thread after each
 * change with the policy document and whether it was deleted (for the
 * controllers' "on policy change" work). */
typedef struct pol_watch pol_watch;
typedef void (*pol_policy_event_fn)(void *ud, const json_t *policy, const json_t *old,
                                    bool deleted);
idp_code pol_watch_start(idp_kclient *kc, pol_adm *adm, pol_policy_event_fn notify, void *ud,
                         pol_watch **out, idp_err *e);
/* Waits (ms, < 0 forever) until both informers listed once. */
bool pol_watch_synced(pol_watch *w, long timeout_ms);
void pol_watch_stop(pol_watch *w); /* stops and frees */

/* Adds "apiVersion|Kind" keys to `targets` for every kinds[] entry of the
 * rule's match (any/all/legacy): Kind (built-in table, else discovery),
 * Version/Kind, Group/Version/Kind; subresources are reduced to their
 * parent, wildcard kinds are skipped. */
void pol_rule_kind_targets(idp_kclient *kc, const json_t *rule, json_t *targets);
/* Splits such a key. */
bool pol_target_split(const char *key, char *av, size_t avn, char *kind, size_t kindn);

#endif
