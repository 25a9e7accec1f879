/* generate.h: the generate controller (Kyverno's background controller for
 * generate rules, through the REST client).
 *
 * Work is keyed by trigger ("apiVersion|Kind|namespace|name").  For a
 * trigger the controller reads the live object, runs the generate phase of
 * every policy and, for each generated object (labelled with
 * pol_generate_labels: generate.kyverno.io/policy-name, rule-name,
 * trigger-*, app.kubernetes.io/managed-by: kyverno):
 *   - creates it when missing;
 *   - with generate.synchronize: true, reverts edits (everything but
 *     metadata/status is set back to the rule's output, labels restored);
 *     without synchronize an existing object is left alone.
 * Downstream objects are watched (one informer per generated resource type,
 * label app.kubernetes.io/managed-by=kyverno): deleting or editing one
 * re-queues its trigger, so a synchronized object comes back.  A trigger
 * that is gone has its synchronized downstream deleted.  When a policy is
 * deleted, downstream of its synchronized rules is deleted (unless
 * orphanDownstreamOnPolicyDelete); a removed synchronized rule likewise;
 * a changed policy re-syncs the triggers of its downstream.
 * generateExisting (rule or spec) applies a rule to the triggers that
 * exist when the policy is created or changed.
 *
 * New triggers come from admission: pol_generate_enqueue (the trigger may
 * not be stored yet when admission answers: a missing trigger is retried
 * for a few seconds before it counts as deleted). */
#ifndef IDP_POLICY_GENERATE_H
#define IDP_POLICY_GENERATE_H

#include <jansson.h>
#include <stdbool.h>

#include "client/client.h"
#include "core/err.h"
#include "policy/admission.h"

typedef struct pol_generate_opts {
  pol_adm *adm;        /* shared policy set; NULL = own policy watcher */
  bool skip_crds;      /* do not install the kyverno.io CRDs */
  int workers;         /* 0 = 2 */
  long long resync_ms; /* periodic re-check of synchronized triggers; 0 = 300000 */
} pol_generate_opts;

typedef struct pol_generate pol_generate;

idp_code pol_generate_start(idp_kclient *kc, const pol_generate_opts *o, pol_generate **out,
                            idp_err *e);
void pol_generate_stop(pol_generate *g);

/* A request was admitted for `trigger` (the object as admitted): queue it.
 * `generate` is pol_admit_out.generate (may be NULL: nothing queued then). */
void pol_generate_enqueue(pol_generate *g, const json_t *trigger, const json_t *generate);

/* Policy added/changed/deleted (called by the own watcher; owners of a
 * shared pol_adm call it from their policy events). */
void pol_generate_policy_changed(pol_generate *g, const json_t *policy, const json_t *old,
                                 bool deleted);

#endif
