/* selector.h: Kubernetes label selectors.
 *
 * One compiled form for both syntaxes: the text of `kubectl -l` /
 * `?labelSelector=` and the metav1.LabelSelector object of specs
 * (Deployment.spec.selector, NetworkPolicy, Kyverno, ApplicationSet).  A
 * selector is a conjunction of requirements (key, operator, values).
 *
 * Ownership: an idp_selector is owned by the caller of the parse function
 * and released with idp_selector_free (NULL is fine).  It holds copies of
 * its strings; it borrows nothing.  A selector is immutable after parse and
 * may be shared between threads for matching.
 *
 * Semantics (k8s.io/apimachinery/pkg/labels):
 *   a=b, a==b     label a present and equal to b
 *   a!=b          label a absent, or present and different
 *   a in (x,y)    present with one of the values
 *   a notin (x)   absent, or present with none of the values
 *   a             present (Exists);  !a  absent (DoesNotExist)
 *   a>3, a<3      present and an integer greater / less (text form only)
 * The empty selector ("" or {}) matches everything.  A NULL LabelSelector
 * in idp_selector_from_json also gives the empty selector (callers that
 * need "nil matches nothing" check for NULL themselves).  Keys and values
 * are validated as Kubernetes label keys/values. */
#ifndef IDP_KUBE_SELECTOR_H
#define IDP_KUBE_SELECTOR_H

#include <jansson.h>
#include <stdbool.h>

#include "core/err.h"

typedef struct idp_selector idp_selector;

/* kubectl -l / labelSelector= syntax: a=b, a==b, a!=b, a in (x,y), a notin (x), a, !a,
 * comma = AND; errors name the offending term (HTTP 400 style message). */
idp_code idp_selector_parse(const char *text, idp_selector **out, idp_err *e);

/* metav1.LabelSelector {matchLabels, matchExpressions[{key, operator In|NotIn|Exists|DoesNotExist,
 * values}]}.  Errors (IDP_EINVAL) name the field, e.g. "matchExpressions[1].operator". */
idp_code idp_selector_from_json(const json_t *label_selector, idp_selector **out, idp_err *e);

bool idp_selector_matches(const idp_selector *s, const json_t *labels /* object or NULL */);
bool idp_selector_empty(const idp_selector *s);
void idp_selector_free(idp_selector *s);

/* Canonical text form (the one kube-apiserver prints, requirements sorted by
 * key): "app=web,tier in (a,b)".  New malloc'd string, NULL on ENOMEM. */
char *idp_selector_string(const idp_selector *s);

/* Label key / value syntax checks (qualified name with optional DNS prefix;
 * value <= 63 chars of [A-Za-z0-9._-], alphanumeric at both ends).  On
 * failure fill `e` (IDP_EINVAL) with the reason; `what` names the field. */
idp_code idp_label_key_check(const char *key, const char *what, idp_err *e);
idp_code idp_label_value_check(const char *value, const char *what, idp_err *e);

#endif
