/* controllers.h: the whole Kyverno runtime of idp in one handle, for
 * `idp up` (embedded API server), `idp controller` and `idp webhook`.
 *
 * pol_controllers_start(kc, opts):
 *   1. installs the kyverno.io ClusterPolicy/Policy and wgpolicyk8s.io
 *      PolicyReport/ClusterPolicyReport CRDs when missing (unless
 *      skip_crds) and waits until they are served;
 *   2. creates the admission evaluator (pol_adm, admission.h) and keeps its
 *      policy set in line with the cluster's ClusterPolicies/Policies
 *      (informers; invalid ones are logged and left out);
 *   3. runs the reports controller (reports.h) and the generate controller
 *      (generate.h) on that shared policy set — always, or only while this
 *      process holds the Lease <lease_ns>/idp-policy-controllers when
 *      lease_ns is set (they stop when the lease is lost and start again
 *      when it is re-acquired).
 *
 * Admission chain of the embedded API server (create/update/delete):
 *     pol_admit_out out;
 *     pol_admit_ex(pol_controllers_adm(c), review_request, POL_ADMIT_ALL, &out, &e);
 *     if (!out.allowed) -> 400 with pol_admission_denial_prefix(false) +
 *                          response.status.message
 *     else apply out.patched (if non-NULL) as the object to store, add
 *          response.warnings as Warning headers, store, then
 *          pol_controllers_admitted(c, stored_object, &out);
 *     pol_admit_out_clear(&out);
 * and on ClusterPolicy/Policy create/update, pol_admission_validate_policy
 * (IDP_EINVALID -> 422 with its message).
 *
 * Threads: every function is safe from any thread; stop joins all. */
#ifndef IDP_POLICY_CONTROLLERS_H
#define IDP_POLICY_CONTROLLERS_H

#include <jansson.h>
#include <stdbool.h>

#include "client/client.h"
#include "core/err.h"
#include "policy/admission.h"
#include "policy/generate.h"
#include "policy/reports.h"

typedef struct pol_controllers_opts {
  pol_reports_opts reports; /* interval_ms, omit_pass (adm/skip_crds are set here) */
  bool no_reports;          /* no PolicyReports at all */
  bool no_generate;         /* no generate controller */
  bool skip_crds;
  /* live data for admission (namespace labels, configMap, apiCall, clone
   * sources): NULL = through `kc`; the embedded server may pass an
   * in-process implementation (borrowed for the handle's life) */
  const pol_api *api;
  /* Lease namespace for leader election of the reports/generate
   * controllers; NULL = no election (they always run) */
  const char *lease_ns;
  const char *identity; /* Lease holder identity; NULL = hostname_pid */
} pol_controllers_opts;

typedef struct pol_controllers pol_controllers;

idp_code pol_controllers_start(idp_kclient *kc, const pol_controllers_opts *o,
                               pol_controllers **out, idp_err *e);
void pol_controllers_stop(pol_controllers *c); /* joins threads, frees */

/* = pol_install_crds (runtime.h). */
idp_code pol_controllers_install_crds(idp_kclient *kc, idp_err *e);

/* The admission evaluator (borrowed; valid until stop). */
pol_adm *pol_controllers_adm(pol_controllers *c);

/* True once the policies were listed (ms, < 0 = forever). */
bool pol_controllers_synced(pol_controllers *c, long timeout_ms);

/* After an admitted request was stored: hands generate work
 * (out->generate) to the generate controller.  `object` is the stored
 * object (or the admitted one). */
void pol_controllers_admitted(pol_controllers *c, const json_t *object, const pol_admit_out *out);

#endif
