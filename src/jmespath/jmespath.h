/* jmespath.h: JMESPath interpreter with Kyverno's custom functions.
 *
 * An expression is compiled once to an AST (jp_expr, immutable after
 * compile, so one compiled expression may be searched from many threads at
 * once) and evaluated against jansson values without re-parsing.  Evaluation
 * never modifies `data`; results share subtrees of `data` by reference
 * (json_incref; jansson's reference counts are atomic), so callers must treat
 * results as read-only or json_deep_copy them before changing them.
 *
 * Files: parse.c (lexer + Pratt parser, the reference implementation's
 * binding powers), interp.c (evaluation, values, public API), cache.c
 * (jp_eval's cache), functions.c (the spec's built-ins), kyverno_*.c
 * (Kyverno's functions: strings/regex/encodings/objects, arithmetic on
 * quantities and durations, time, x509).  Functions are tables of {name,
 * arity, argument types, fn}; arity and unknown names are compile errors,
 * argument types are checked from the table at each call.
 *
 * Limits: expressions nest at most 256 levels while parsing and the AST is
 * at most 2000 deep (the evaluator recurses on it); both are syntax errors.
 *
 * Conformance: the whole JMESPath compliance suite passes in both dialects
 * (tests/conformance/jmespath.sh); Kyverno functions follow Kyverno's
 * pkg/engine/jmespath, including its own test vectors (test_kyverno.c).
 *
 * Dialects:
 *  - JP_DIALECT_KYVERNO (the default of jp_compile/jp_eval): the spec
 *    grammar and built-ins plus Kyverno's custom functions (compare,
 *    add('1Gi','512Mi'), regex_match, time_*, ...).  As in Kyverno, `sum`
 *    is replaced by its arithmetic version (numbers, quantities, durations;
 *    an empty array is an error).
 *  - JP_DIALECT_SPEC: exactly the JMESPath specification (the compliance
 *    suite runs in this dialect).
 *
 * Errors: every failure returns a non-zero idp_code and fills `e` with a
 * message "jmespath <class>: <detail>", where <class> is one of the
 * compliance-suite error classes (syntax, invalid-type, invalid-value,
 * invalid-arity, unknown-function) or "error" for other failures (a Kyverno
 * function's own error, a limit).  Syntax errors name the column.
 * Codes: IDP_EINVAL for syntax, arity, unknown function and type errors;
 * IDP_EINVALID for a bad value at evaluation; IDP_ENOTFOUND for Kyverno's
 * "Unknown key" (JP_NOTFOUND_ERRORS only); IDP_ENOMEM on allocation failure.
 */
#ifndef IDP_JMESPATH_H
#define IDP_JMESPATH_H

#include <jansson.h>
#include <stdbool.h>

#include "core/err.h"

typedef struct jp_expr jp_expr;

typedef enum jp_dialect {
  JP_DIALECT_KYVERNO = 0,
  JP_DIALECT_SPEC = 1,
} jp_dialect;

/* Search flags. */
enum {
  /* Kyverno's go-jmespath fork: a key missing from an object, when it
   * decides the final result, is an error (IDP_ENOTFOUND, message
   * `Unknown key "k" in path`) instead of null.  Inside comparators,
   * function arguments, projections and filters, multiselects, `||`, `&&`
   * and `!` a missing key is still null. */
  JP_NOTFOUND_ERRORS = 1 << 0,
};

/* Compiles (Kyverno dialect); IDP_EINVAL with a message naming the position
 * on a syntax error.  *out is owned by the caller (jp_expr_free). */
idp_code jp_compile(const char *text, jp_expr **out, idp_err *e);
/* Same with an explicit dialect. */
idp_code jp_compile_dialect(const char *text, jp_dialect d, jp_expr **out, idp_err *e);
void jp_expr_free(jp_expr *x);
/* The source text of a compiled expression (borrowed). */
const char *jp_expr_text(const jp_expr *x);

/* Evaluates; *result is a new reference (JSON null when nothing matches). */
idp_code jp_search(const jp_expr *x, const json_t *data, json_t **result, idp_err *e);
/* Same with flags (JP_NOTFOUND_ERRORS). */
idp_code jp_search_flags(const jp_expr *x, const json_t *data, int flags, json_t **result,
                         idp_err *e);

/* Compile through a process-wide, thread-safe cache keyed by text (Kyverno
 * dialect, bounded to JP_CACHE_MAX entries, least recently used evicted),
 * then search. */
#define JP_CACHE_MAX 4096
idp_code jp_eval(const char *text, const json_t *data, json_t **result, idp_err *e);
idp_code jp_eval_flags(const char *text, const json_t *data, int flags, json_t **result,
                       idp_err *e);
/* Drops every cached expression (tests, shutdown). */
void jp_cache_clear(void);

/* The JMESPath error class of the last failure recorded in e:
 * "syntax", "invalid-type", "invalid-value", "invalid-arity",
 * "unknown-function", or NULL for none/other. */
const char *jp_error_class(const idp_err *e);

/* JMESPath equality: deep, numbers compared by value (1 == 1.0). */
bool jp_value_equal(const json_t *a, const json_t *b);
/* JMESPath truthiness: false, null, "", [], {} are false. */
bool jp_truthy(const json_t *v);
/* Compact JSON text as JMESPath's to_string gives it (numbers in shortest
 * round-trip form); malloc'd, NULL on allocation failure. */
char *jp_to_json_text(const json_t *v);

#endif
