/* policy.h: the Kyverno-compatible policy engine (kyverno.io/v1 ClusterPolicy / Policy).
 *
 * Model.  A pol_policy owns the policy document (json_t) plus its computed rule
 * list: the rules as written followed by the autogen rules Kyverno derives for
 * Pod controllers (`autogen-<rule>`, `autogen-cronjob-<rule>`).  A policy is
 * immutable after pol_policy_load and may be shared for evaluation.
 *
 * Evaluation.  pol_eval runs one phase (mutate, validate, generate) of one
 * policy against one admission request described by a pol_request, and fills
 * a pol_response: one pol_rule_result per rule that matched (rules that did
 * not match or were excluded produce no result, as in Kyverno).  Mutation
 * results carry the patched object, which the caller feeds into the next
 * policy.  Results follow Kyverno's semantics: pass / fail / skip
 * (preconditions false, conditional or global anchor not met) / error
 * (variable substitution or evaluation failure); a kyverno.io
 * PolicyException in req->exceptions that names the rule and matches the
 * resource turns its result into a skip.  For the validate phase,
 * req->object is the object as mutated by all mutate phases.
 *
 * Data for context entries (configMap, apiCall) comes from the request's
 * `cluster` array (objects of a fake cluster) and `api_responses` mocks, the
 * way `kyverno test` serves them offline, then from the live API when
 * req->api is set (admission, background scans: see pol_api); with none,
 * those entries are left unresolved (their data may come from
 * `rule_values`).  Generate clone/cloneList sources follow the same order.
 *
 * Ownership: everything a pol_request points to is borrowed; a pol_response
 * owns its strings and JSON and is released with pol_response_clear.
 * Library code never prints. */
#ifndef IDP_POLICY_H
#define IDP_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

typedef enum pol_status { POL_PASS, POL_FAIL, POL_WARN, POL_ERROR, POL_SKIP } pol_status;
typedef enum pol_rtype { POL_VALIDATE, POL_MUTATE, POL_GENERATE, POL_VERIFY, POL_RNONE } pol_rtype;
typedef enum pol_phase { POL_PHASE_MUTATE, POL_PHASE_VALIDATE, POL_PHASE_GENERATE } pol_phase;

const char *pol_status_name(pol_status s); /* "pass", "fail", ... */

typedef struct pol_policy {
  json_t *doc;   /* the policy as loaded (owned) */
  json_t *rules; /* spec.rules followed by autogen rules (owned array) */
  char *name;
  char *ns; /* namespace of a namespaced Policy, else NULL */
  bool namespaced;
  bool scored; /* false when policies.kyverno.io/scored: "false" */
  bool apply_one; /* spec.applyRules: One */
} pol_policy;

/* True when `doc` is a kyverno.io ClusterPolicy/Policy that this engine runs
 * (not a CEL-only kind); `why` (may be NULL) gets the reason otherwise. */
bool pol_is_classic(const json_t *doc, const char **why);

/* Loads and validates a ClusterPolicy/Policy document (borrowed; copied).
 * IDP_EINVALID names policy, rule and field for a bad anchor, an unknown
 * operator, a malformed JMESPath or a wrong type. `source` names the file. */
idp_code pol_policy_load(const json_t *doc, const char *source, pol_policy **out, idp_err *e);
void pol_policy_free(pol_policy *p);

/* "Enforce" or "Audit" for a validate `rule` of `p` on a resource in
 * namespace `ns` (NULL for cluster-scoped) whose namespace has labels
 * `ns_labels` (may be NULL): validate.failureAction, else the deprecated
 * spec.validationFailureAction (case-insensitive), else Audit; then the
 * first matching override (validate.failureActionOverrides, else
 * spec.validationFailureActionOverrides) by namespaces (wildcards) and
 * namespaceSelector.  Returns a static string. */
const char *pol_failure_action(const pol_policy *p, const json_t *rule, const char *ns,
                               const json_t *ns_labels);

/* Autogen: new array holding the autogen rules for `policy` (may be empty).
 * Exposed for tests; pol_policy_load appends them to p->rules. */
json_t *pol_autogen_rules(const json_t *policy);

/* Live API access for a running engine (admission, background scans): the
 * callbacks the embedded API server implements in-process and the webhook
 * implements with the REST client.  Every callback may be NULL; results are
 * NEW references; IDP_ENOTFOUND when the object does not exist.  Used
 * after the offline sources (cluster, api_responses) found nothing. */
typedef struct pol_api {
  /* apiCall.urlPath / configMap: a Kubernetes API path ("/api/v1/...",
   * "/apis/G/V/..."), method GET or POST with an optional JSON body. */
  idp_code (*call)(void *ud, const char *method, const char *path, const json_t *body,
                   json_t **out, idp_err *e);
  /* generate clone / cloneList sources: one object (name non-NULL) or the
   * items array of a list (name NULL) of apiVersion+kind in ns. */
  idp_code (*get)(void *ud, const char *api_version, const char *kind, const char *ns,
                  const char *name, json_t **out, idp_err *e);
  void *ud;
} pol_api;

typedef struct pol_request {
  const json_t *object;     /* request.object (NULL on DELETE) */
  const json_t *old_object; /* request.oldObject (NULL on CREATE) */
  const char *operation;    /* CREATE (default), UPDATE, DELETE, CONNECT */
  const json_t *user_info;  /* {username, uid, groups[]} or NULL */
  const json_t *roles, *cluster_roles; /* arrays of strings or NULL */
  const json_t *namespace_labels;      /* {ns: {label: value}} or NULL */
  const json_t *values;      /* dotted path -> value, added to the context */
  const json_t *rule_values; /* {rule: {var: value}} for this policy, or NULL */
  const json_t *foreach_values; /* {rule: {var: [v0, v1]}} or NULL */
  const json_t *cluster;        /* array of objects of the fake cluster, or NULL */
  const json_t *api_responses;  /* [{urlPath|url, method, response{statusCode, body}}] */
  const json_t *generate_sources; /* objects usable as clone sources */
  const json_t *exceptions;       /* kyverno.io PolicyException objects, or NULL */
  /* subresource requests (e.g. Scale for deployments/scale): the parent
   * kind/apiVersion to match and the subresource name; NULL otherwise */
  const char *parent_kind, *parent_api_version, *subresource;
  const pol_api *api; /* live API access, or NULL (offline) */
} pol_request;

typedef struct pol_rule_result {
  char *rule;
  pol_rtype type;
  pol_status status;
  char *message;
  json_t *generated; /* generate rules: array of generated objects (owned) */
} pol_rule_result;

typedef struct pol_response {
  pol_rule_result *rules;
  size_t n, cap;
  json_t *patched; /* mutate phase: resource after this policy (owned), else NULL */
} pol_response;

void pol_response_clear(pol_response *r);

/* Runs `phase` of `p` for `req`; appends to `out`.  Only an internal failure
 * (allocation) returns non-zero: evaluation problems are `error` results. */
idp_code pol_eval(const pol_policy *p, const pol_request *req, pol_phase phase,
                  pol_response *out, idp_err *e);

/* Kyverno pattern matching (validate.pattern semantics) of `resource` against
 * `pattern`: 0 pass, 1 fail, 2 skip (conditional/global anchor not met).
 * `msg` (may be NULL, size n) receives the failure path/reason. */
int pol_match_pattern(const json_t *resource, const json_t *pattern, char *msg, size_t n);

/* Value-level comparison of one scalar against one pattern scalar
 * (operators > < >= <= ! | & ranges, quantities, durations, wildcards). */
bool pol_value_matches(const json_t *value, const json_t *pattern);

/* Gives a namespaced object without metadata.namespace the namespace
 * `default`, as the CLI's resource loader does (kinds outside its table of
 * cluster-scoped built-in and Kyverno kinds count as namespaced). */
void pol_default_namespace(json_t *obj);

/* ---- policy reports (report.c) ---- */

/* A new, empty wgpolicyk8s.io/v1alpha2 PolicyReport (ClusterPolicyReport for
 * a cluster-scoped resource) scoped to `resource`, named by its uid (or
 * name); new reference. */
json_t *pol_report_new(const json_t *resource);
/* Appends one rule result (category and severity from the policy's
 * annotations, `ns/name` for a namespaced Policy) and counts it in the
 * summary.  `seconds` is the result timestamp. */
void pol_report_add(json_t *report, const pol_policy *p, const pol_rule_result *r,
                    long long seconds);

/* ---- CLI values (cli.kyverno.io/v1alpha1 Values, values.c) ---- */

typedef struct pol_values {
  json_t *subresources; /* {kind, apiVersion, parentKind, parentApiVersion, subresource} */
  json_t *global;    /* globalValues: dotted path -> value */
  json_t *policies;  /* policies[]: {name, resources[{name, values}], rules[{name, values, foreachValues}]} */
  json_t *ns_labels; /* namespace -> labels, from namespaceSelector[] and namespaces[] */
} pol_values;

/* Reads a Values document (or the inline `values` of a Test; NULL gives
 * empty values).  Keys match case-insensitively, as Go's encoding/json. */
void pol_values_load(const json_t *doc, pol_values *v);
void pol_values_free(pol_values *v);

/* The values for one policy and one resource: globalValues overlaid with
 * the resource's values, and the per-rule values.  `operation` is
 * "UPDATE" or "DELETE" when request.operation says so (the CLI then runs
 * the admission with that operation: UPDATE with the resource also as the
 * old object, DELETE with it as the old object only), else NULL.  New
 * references, released with pol_bound_free. */
typedef struct pol_bound {
  json_t *values, *rule_values, *foreach_values;
  const char *operation;
  bool is_delete;
} pol_bound;
void pol_values_bind(const pol_values *v, const char *policy, const char *resource_name,
                     pol_bound *out);
/* `obj` with the values under `prefix` ("request.object" or
 * "request.oldObject") written into it, as the CLI reads the resource back
 * from its context after injecting values (new reference; NULL for NULL
 * `obj` when nothing applies). */
json_t *pol_values_object(const json_t *obj, const json_t *values, const char *prefix);
/* For an object whose group/version/kind is a declared subresource kind,
 * sets the parent's kind and apiVersion and the subresource name (the part
 * after '/' of subresource.name) into `req`; otherwise leaves them NULL.
 * The strings are borrowed from `v`. */
void pol_values_subresource(const pol_values *v, const json_t *obj, pol_request *req);
void pol_bound_free(pol_bound *b);

/* ---- the `kyverno test` runner (testrunner.c) ---- */

typedef struct pol_test_row {
  char *test;     /* test file path */
  char *category; /* top-level folder below the root given to the runner */
  char *policy, *rule, *resource;
  char *want, *got;
  char *reason;
  bool ok;
  bool classic;     /* the policy is a classic ClusterPolicy/Policy */
  bool unsupported; /* policy kind not run by this engine (reported by name) */
} pol_test_row;

typedef struct pol_test_report {
  pol_test_row *rows;
  size_t n, cap;
  size_t files, load_errors;
} pol_test_report;

/* Finds every file named `file_name` (default kyverno-test.yaml) below `root`
 * (a directory, walked in byte order, or one test file) and runs each,
 * appending rows.  A row's category is the first path component below
 * `root`.  A file that does not load (YAML error, deprecated schema, unknown
 * field, bad Values/UserInfo file) adds one failing row and counts in
 * load_errors.  IDP_ENOTFOUND when `root` does not exist. */
idp_code pol_test_run_path(const char *root, const char *file_name, pol_test_report *rep,
                           idp_err *e);
/* Runs one test file (every YAML document in it is a Test). */
idp_code pol_test_run_file(const char *path, const char *category, pol_test_report *rep,
                           idp_err *e);
void pol_test_report_free(pol_test_report *rep);

#endif
