/* jsonpath.h: Kubernetes JSONPath (k8s.io/client-go/util/jsonpath), as used
 * by `kubectl -o jsonpath`, `kubectl wait --for=jsonpath`, and CRD
 * additionalPrinterColumns.
 *
 * Supported: the optional outer braces "{...}", a leading "$" or "@",
 * ".a.b" child fields, ".*" / "[*]" wildcards, "[0]" / "[-1]" indices,
 * slices "[1:3]" "[-1:]" "[::2]", unions "[0,2]" and "['a','b']",
 * quoted keys "['a.b']", recursive descent "..name", filters
 * "[?(@.type=='Ready')]" with ==, !=, <, <=, >, >= against numbers, quoted
 * strings, true/false/null or another @-path, and existence "[?(@.x)]".
 * Missing fields produce no match (not an error); a malformed expression is
 * IDP_EINVAL with the position.  Template text outside braces and range/end
 * are not supported here (that is output formatting, not evaluation):
 * an expression with more than one {...} group is evaluated group by group
 * and the results are concatenated.
 *
 * Ownership: `obj` is borrowed and never modified; *results is a new array
 * whose elements are references into `obj` (incref'd), so it can outlive
 * nothing but is safe to decref. */
#ifndef IDP_KUBE_JSONPATH_H
#define IDP_KUBE_JSONPATH_H

#include <jansson.h>

#include "core/buf.h"
#include "core/err.h"

/* "{.a.b}", ".a.b", ".items[*].name", "[0]", "[-1:]", "..name" (recursive),
 * "[?(@.type=='Ready')].status", quoted keys ['a.b'].  *results is a new array of matches. */
idp_code idp_jsonpath_eval(const char *expr, const json_t *obj, json_t **results, idp_err *e);

/* Formats results as kubectl prints them: strings bare, other scalars as
 * JSON text, objects/arrays as compact JSON, joined with a space. */
idp_code idp_jsonpath_format(const json_t *results, idp_buf *out, idp_err *e);

#endif
