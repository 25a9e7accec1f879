/* admission.h: the Kyverno admission evaluator shared by the embedded API
 * server's admission chain and `idp webhook`.
 *
 * A pol_adm holds the current policy set (ClusterPolicies and Policies,
 * loaded with pol_policy_load) as an immutable, reference-counted snapshot:
 * pol_admission_set_policy / _delete_policy build a new snapshot and swap it
 * in under a lock, so any number of threads may call pol_admit while the
 * set changes; a request always sees one consistent set.  A policy whose
 * spec.admission is false is kept (background scans use it) but skipped
 * here.
 *
 * pol_admit takes the `request` of an AdmissionReview v1 (uid, kind,
 * resource, subResource, namespace, name, operation, userInfo, object,
 * oldObject, dryRun) and answers its `response`:
 *   1. mutate rules of every policy, in policy order then rule order, each
 *      seeing the previous result; the RFC 6902 patch between the original
 *      and the final object is returned base64-encoded (patchType
 *      JSONPatch) when something changed;
 *   2. validate rules on the mutated object.  A `fail` of an Enforce rule
 *      (validate.failureAction / validationFailureAction and overrides),
 *      or an `error` of a policy whose failurePolicy is Fail (the default),
 *      denies the request with Kyverno's message:
 *        "\n\nresource Kind/ns/name was blocked due to the following
 *         policies \n\n<policy>:\n  <rule>: <message>\n"
 *      (the YAML of {policy: {rule: message}}, keys sorted); the API
 *      server prefixes it with `admission webhook "validate.kyverno.svc-
 *      fail" denied the request: ` (pol_admission_denial_prefix).  Audit
 *      failures admit the request and come back as warnings
 *      "policy <policy>.<rule>: <message>";
 *   3. generate rules (not on DELETE, not for dryRun, not when denied):
 *      the generated objects are returned in pol_admit_out.generate, for
 *      the caller to create after admission (pol_generate_enqueue does it
 *      with the generate controller).
 * Results of an admitted, non-dryRun request are passed to opts.on_result
 * (the reports controller's pol_reports_record) for the PolicyReports.
 *
 * Requests Kyverno never processes (its default resourceFilters: Events,
 * kube-system / kube-public / kube-node-lease, report kinds, review kinds)
 * are allowed untouched.  Live data (namespace labels for
 * namespaceSelector, configMap and apiCall context entries, clone sources)
 * comes through opts.api; without it those are unresolved as offline.
 *
 * Ownership: inputs are borrowed; outputs are new references. */
#ifndef IDP_POLICY_ADMISSION_H
#define IDP_POLICY_ADMISSION_H

#include <jansson.h>
#include <stdbool.h>

#include "core/err.h"
#include "policy/policy.h"

typedef struct pol_adm pol_adm;

/* Called once per rule result of an admitted request (validate rules),
 * `resource` is the object as admitted (mutated), `action` "Enforce" or
 * "Audit".  Runs on the admitting thread: must be quick. */
typedef void (*pol_result_fn)(void *ud, const json_t *resource, const pol_policy *p,
                              const pol_rule_result *r, const char *action);

typedef struct pol_adm_opts {
  const pol_api *api; /* live lookups; may be NULL; borrowed for the adm's life */
  pol_result_fn on_result;
  void *result_ud;
} pol_adm_opts;

idp_code pol_admission_new(const pol_adm_opts *o, pol_adm **out, idp_err *e);
void pol_admission_free(pol_adm *a);

/* Validates a ClusterPolicy/Policy document as the API server must on
 * create/update: IDP_EINVALID (422) naming policy, rule and path for an
 * invalid policy.  CEL-only kinds are accepted (not run). */
idp_code pol_admission_validate_policy(const json_t *doc, idp_err *e);

/* Adds or replaces (by kind, namespace and name) one policy; an invalid
 * policy is rejected (IDP_EINVALID) and the previous version, if any,
 * stays.  A non-classic policy (CEL kinds) is ignored (IDP_OK). */
idp_code pol_admission_set_policy(pol_adm *a, const json_t *doc, idp_err *e);
/* Removes a policy; ns NULL/"" for a ClusterPolicy. */
void pol_admission_delete_policy(pol_adm *a, const char *ns, const char *name);

/* An immutable snapshot of the set (policies in name order). */
typedef struct pol_set pol_set;
pol_set *pol_admission_snapshot(pol_adm *a); /* new reference */
void pol_set_release(pol_set *s);
size_t pol_set_size(const pol_set *s);
const pol_policy *pol_set_get(const pol_set *s, size_t i);
/* The policy named ns/name (ns NULL/"" = ClusterPolicy) or NULL; borrowed
 * from the snapshot. */
const pol_policy *pol_set_find(const pol_set *s, const char *ns, const char *name);

typedef enum pol_admit_mode {
  POL_ADMIT_ALL,      /* mutate, validate, generate (the embedded server) */
  POL_ADMIT_MUTATE,   /* the webhook's /mutate */
  POL_ADMIT_VALIDATE, /* the webhook's /validate (validate + generate) */
} pol_admit_mode;

typedef struct pol_admit_out {
  json_t *response; /* AdmissionReview v1 `response` */
  json_t *patched;  /* the object after mutation when it changed, else NULL */
  /* generate: array of {policy, policyNamespace, rule, synchronize,
   * object} where object carries the generate.kyverno.io labels; NULL
   * when nothing is to be generated */
  json_t *generate;
  bool allowed;
} pol_admit_out;

/* Evaluates one AdmissionReview `request`.  IDP_EINVAL when the request is
 * malformed (no uid/kind/operation, object not an object). */
idp_code pol_admit_ex(pol_adm *a, const json_t *request, pol_admit_mode mode,
                      pol_admit_out *out, idp_err *e);
void pol_admit_out_clear(pol_admit_out *o);

/* pol_admit_ex(POL_ADMIT_ALL) keeping only the response. */
idp_code pol_admit(pol_adm *a, const json_t *request, json_t **response, idp_err *e);

/* "admission webhook \"validate.kyverno.svc-fail\" denied the request: "
 * (or mutate.kyverno.svc-fail): what kube-apiserver puts before a
 * webhook's message; the embedded server uses it to answer 400. */
const char *pol_admission_denial_prefix(bool mutate);

/* Wraps a response into a whole AdmissionReview (new reference). */
json_t *pol_admission_review(const json_t *response);

/* ---- helpers shared with the controllers (exposed for tests) ---- */

/* RFC 6902 operations turning `from` into `to` (new array; empty when
 * equal).  Objects are diffed member-wise, arrays element-wise with
 * add/remove at the tail. */
json_t *pol_json_diff(const json_t *from, const json_t *to);
/* Standard base64 (malloc'd, NUL-terminated). */
char *pol_base64(const unsigned char *p, size_t n);

/* Adds the generate.kyverno.io labels Kyverno puts on a generated object
 * (policy-name, policy-namespace, rule-name, trigger-group/-version/-kind/
 * -namespace/-uid, app.kubernetes.io/managed-by: kyverno). */
void pol_generate_labels(json_t *obj, const pol_policy *p, const char *rule,
                         const json_t *trigger);

#endif
