/* internal.h: shared declarations between the files of src/policy (not a
 * public interface; see policy.h for the manual). */
#ifndef IDP_POLICY_INTERNAL_H
#define IDP_POLICY_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"
#include "policy/policy.h"

/* ---- util.c: Kubernetes quantities, Go durations, semver, Go-like text ---- */

/* Kubernetes resource.Quantity ("512Mi", "0.5", "100m", "1e3"). */
bool pol_parse_quantity(const char *s, long double *out);
/* Go time.ParseDuration ("1h30m", "300ms", "0"); seconds. */
bool pol_parse_duration(const char *s, double *out);
/* Semantic version "v1.2.3-rc.1"; compare returns <0, 0, >0. */
bool pol_parse_semver(const char *s, long long v[3], const char **pre);
int pol_semver_cmp(const char *a, const char *b, bool *ok);
/* Strict number text (strconv.ParseFloat). */
bool pol_parse_number(const char *s, double *out);
/* fmt.Sprint of a JSON value (strings bare, numbers shortest, maps as JSON);
 * malloc'd. */
char *pol_sprint(const json_t *v);
/* Number value of a JSON integer or real. */
bool pol_json_number(const json_t *v, double *out);
/* Deep equality where 1 == 1.0 (Go unmarshals both to float64). */
bool pol_json_equal(const json_t *a, const json_t *b);
/* Sets a dotted path ("request.object.metadata.name") creating objects and
 * copying shared ones on the way (copy on write); an object value merges
 * into an existing object (JSON merge patch).  Steals `v`. */
void pol_set_dotted(json_t *root, const char *dotted, json_t *v);
/* Kyverno wildcard match ('*' any run, '?' one char). */
bool pol_wild(const char *pattern, const char *s);
bool pol_has_wild(const char *s);

/* ---- jp.c: JMESPath through src/jmespath (Kyverno's fork semantics) ---- */

typedef enum { POL_JP_OK = 0, POL_JP_NOTFOUND, POL_JP_ERROR } pol_jp_rc;
/* Evaluates `expr` against `data`; *out is a new reference (JSON null for a
 * null result).  NOTFOUND mirrors the fork's "Unknown key" error. */
pol_jp_rc pol_jp_eval(const char *expr, const json_t *data, json_t **out, idp_err *e);
/* Checks that `expr` compiles. */
bool pol_jp_valid(const char *expr, idp_err *e);

/* ---- vars.c: {{ }} substitution ---- */

typedef enum { POL_VARS_DEFAULT, POL_VARS_PRECONDITION } pol_vars_mode;
/* Returns `doc` with variables substituted in string leaves and keys (a
 * new reference: a fresh copy when something was substituted, `doc` itself
 * when it holds no variable, so treat it as read-only); NULL with e set
 * (the message names the variable) on failure. */
json_t *pol_subst(const json_t *doc, const json_t *ctx, pol_vars_mode mode, idp_err *e);
/* True when the string contains a {{ }} variable. */
bool pol_has_vars(const char *s);

/* ---- conditions.c ---- */

/* Evaluates Kyverno conditions (list form = all, or {any, all}) after
 * substitution. Returns 1 true, 0 false, -1 error (e set). */
int pol_conditions(const json_t *conds, const json_t *ctx, pol_vars_mode mode, char *msg,
                   size_t msgn, idp_err *e);
/* One operator on already-substituted key/value: 1/0, -1 unknown operator. */
int pol_operator(const char *op, const json_t *key, const json_t *value);
bool pol_operator_known(const char *op);

/* ---- pattern.c ---- */

/* Anchor parsing of a map key: returns the anchor kind and sets key/len. */
typedef enum {
  POL_A_NONE = 0,
  POL_A_COND,   /* (k) */
  POL_A_EQUAL,  /* =(k) */
  POL_A_NEG,    /* X(k) */
  POL_A_EXIST,  /* ^(k) */
  POL_A_GLOBAL, /* <(k) */
  POL_A_ADD,    /* +(k) */
} pol_anchor;
pol_anchor pol_anchor_parse(const char *k, const char **key, size_t *len);

/* ---- match.c ---- */

typedef struct pol_admission {
  const json_t *user_info;
  const json_t *roles, *cluster_roles;
  const json_t *namespace_labels;
  const char *operation;
  /* a subresource request: the parent's kind and apiVersion are matched
   * (with `subresource`) instead of the object's own; NULL otherwise */
  const char *kind, *api_version;
} pol_admission;
/* Does `rule` (match/exclude) select `resource`?  `p` (may be NULL) limits a
 * namespaced Policy to its namespace; `subresource` may be NULL. */
bool pol_rule_matches(const pol_policy *p, const json_t *rule, const json_t *resource,
                      const pol_admission *adm, const char *subresource);
/* GVK matching of one kinds[] entry: Kind, Version/Kind, Group/Version/Kind,
 * wildcards, Kind/subresource or Kind.subresource. */
bool pol_kind_matches(const char *entry, const char *api_version, const char *kind,
                      const char *subresource);
/* Kyverno label selector (matchLabels values accept wildcards). */
bool pol_selector_matches(const json_t *sel, const json_t *labels);

/* ---- context.c (engine context) ---- */
/* The context for one rule evaluation (new reference); `object` is
 * request.object (NULL on DELETE).  Values of the request are applied. */
json_t *pol_ctx_new(const pol_request *req, const json_t *object);
/* Loads rule.context[] entries into ctx. 0 ok, -1 error (e set). */
int pol_ctx_load(json_t *ctx, const json_t *entries, const pol_request *req, idp_err *e);
/* images.{containers,initContainers,ephemeralContainers}.<name>.{registry,
 * path, name, tag, digest, reference, referenceWithTag} of a Pod or pod
 * controller (new reference, NULL for other kinds). */
json_t *pol_images(const json_t *object);

/* ---- pss.c ---- */
/* Pod Security Standards check of a Pod or pod controller against
 * validate.podSecurity {level, version, exclude}; returns 1 pass, 0 fail
 * (msg lists the violated controls). */
int pol_pss_check(const json_t *pod_spec_owner, const json_t *podsec, char *msg, size_t n);

/* ---- mutate.c ---- */
/* Kyverno SMP with anchors applied to `resource`; new reference or NULL
 * (e set). *skipped is set when conditional anchors did not match (the
 * result is then an unchanged copy). */
json_t *pol_mutate_smp(const json_t *resource, const json_t *patch, bool *skipped, idp_err *e);
/* RFC 6902 ops as Kyverno applies them: missing parents are created on
 * add, removing a missing path is a no-op.  New reference or NULL (e set). */
json_t *pol_mutate_json6902(const json_t *resource, const json_t *ops, idp_err *e);

/* ---- response helpers (engine.c) ---- */
void pol_resp_add(pol_response *r, const char *rule, pol_rtype t, pol_status s, const char *msg,
                  json_t *generated /* stolen */);

#endif
