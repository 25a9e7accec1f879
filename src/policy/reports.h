/* reports.h: the PolicyReport controller (Kyverno's reports controller and
 * background scanner in one, through the REST client).
 *
 * Reports.  ONE wgpolicyk8s.io/v1alpha2 PolicyReport per namespace, named
 * "polr-ns-<namespace>", and ONE ClusterPolicyReport "clusterpolicyreport"
 * for cluster-scoped objects (not one report per object: report volume is
 * Kyverno's most common complaint).  Each result: source "kyverno",
 * policy (ns/name for a namespaced Policy), rule, result, message, scored,
 * category/severity from the policies.kyverno.io annotations,
 * properties.process ("background scan" / "admission review"), timestamp,
 * resources[{apiVersion, kind, name, namespace, uid}]; the summary counts
 * each result value.  A namespace with no result has no report (an empty
 * one is deleted).  Reports carry app.kubernetes.io/managed-by: kyverno.
 *
 * Results are held in memory, keyed by (resource, policy, rule): a newer
 * result replaces an older one, a background scan of a policy replaces
 * every result of that policy (so results of deleted objects disappear;
 * a policy with background: false is never scanned and keeps its
 * admission results), deleting a policy removes its results.  Changed namespaces are written
 * by a controller worker (create, or update with the current
 * resourceVersion; conflicts retry).
 *
 * Background scans (policies with spec.background not false; validate
 * rules): every `interval_ms` (default 1 h) and about one second after a
 * policy is added, changed or deleted (changes coming together are
 * scanned once).  The scan lists the kinds the policy's rules match
 * (Kind, Version/Kind, Group/Version/Kind; wildcard kinds are not
 * scanned, as Kyverno forbids them with background) and evaluates each
 * object as a CREATE without user info.
 *
 * Admission results: pol_reports_record (a pol_result_fn, see
 * admission.h) merges results of admitted requests into the same reports.
 *
 * Threads: one scan thread, one informer pair on policies, one controller
 * worker; pol_reports_record is safe from any thread. */
#ifndef IDP_POLICY_REPORTS_H
#define IDP_POLICY_REPORTS_H

#include <jansson.h>
#include <stdbool.h>

#include "client/client.h"
#include "core/err.h"
#include "policy/admission.h"

typedef struct pol_reports_opts {
  long long interval_ms; /* background scan period; 0 = 3600000 (1 h) */
  bool omit_pass;        /* leave pass results out (Kyverno's --allowedResults) */
  bool skip_crds;        /* do not install the CRDs */
  /* use this evaluator's policy set instead of watching policies (the
   * embedded server / webhook share theirs); NULL = own watcher */
  pol_adm *adm;
} pol_reports_opts;

typedef struct pol_reports pol_reports;

idp_code pol_reports_start(idp_kclient *kc, const pol_reports_opts *o, pol_reports **out,
                           idp_err *e);
void pol_reports_stop(pol_reports *r); /* joins threads, frees */

/* Records one admission result (matches pol_result_fn; ud = pol_reports*). */
void pol_reports_record(void *ud, const json_t *resource, const pol_policy *p,
                        const pol_rule_result *r, const char *action);

/* Policy changed (policy document, or deleted): schedules a scan of that
 * policy, drops its results when deleted.  Called by the own watcher; the
 * owner of a shared pol_adm calls it from its policy events. */
void pol_reports_policy_changed(pol_reports *r, const json_t *policy, bool deleted);

/* Runs a full background scan now and writes the reports before
 * returning (tests, `idp` one-shot use). */
idp_code pol_reports_scan_now(pol_reports *r, idp_err *e);

/* ---- pure aggregation (exposed for tests) ---- */

/* Results of one report are capped at this size (etcd refuses requests
 * over 3 MiB): pass results are dropped first, then the last results; the
 * summary still counts every result and the annotation
 * idp.dev/results-omitted says how many were left out. */
#define POL_REPORT_MAX_BYTES ((size_t)2 << 20)

/* The report for namespace `ns` ("" = the ClusterPolicyReport) from a
 * results table {key: result} (new reference). */
json_t *pol_reports_build(const char *ns, const json_t *results);
/* One report result (new reference). */
json_t *pol_reports_result(const json_t *resource, const pol_policy *p, const pol_rule_result *r,
                           const char *process, long long seconds);

#endif
