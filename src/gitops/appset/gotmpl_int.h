/* gotmpl_int.h: internals shared by gotmpl.c (parser, executor) and
 * gotmpl_funcs.c (builtins and Sprig).  Not a public header.
 *
 * Values are json_t; nil (Go's nil interface, also a missing map key) is
 * json_null().  Function arguments are borrowed; results are new
 * references. */
#ifndef IDP_GITOPS_APPSET_GOTMPL_INT_H
#define IDP_GITOPS_APPSET_GOTMPL_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

/* A function: args[0..n) borrowed (never NULL).  On error, fill e with the
 * bare reason; the executor prefixes "error calling NAME: ". */
typedef idp_code (*gt_fn)(json_t *const *args, int n, json_t **out, idp_err *e);

typedef struct gt_func {
  const char *name;
  int min_args;
  int max_args; /* -1 = variadic */
  gt_fn fn;
} gt_func;

/* The function table (builtins + Sprig), sorted by name; NULL if unknown.
 * and/or are listed (for the parser) but evaluated lazily by the executor. */
const gt_func *gt_func_lookup(const char *name);

/* Go's truth: false, 0, nil, "" and empty lists/maps are false. */
bool gt_truth(const json_t *v);
/* Go type name for messages: string, int, float64, bool, []interface {},
 * map[string]interface {}, <nil>. */
const char *gt_type_name(const json_t *v);
/* fmt %v (top = false) */
idp_code gt_print(idp_buf *b, const json_t *v);
/* fmt.Sprint(args...): spaces between operands when neither is a string. */
idp_code gt_sprint(idp_buf *b, json_t *const *args, int n);
/* Sprig's strval: strings as is, nil "", others %v.  New malloc'd. */
char *gt_strval(const json_t *v);
/* Go's float64 %v text into buf (at least 32 bytes). */
void gt_format_float(double d, char *buf, size_t n);
/* encoding/json: sorted keys, HTML escaping; indent NULL = compact. */
idp_code gt_json_encode(idp_buf *b, const json_t *v, const char *indent, int depth);
/* Sprig's toInt64 (cast.ToInt64E without error: bad input gives 0). */
int64_t gt_to_int64(const json_t *v);
double gt_to_float(const json_t *v);
/* Go printf. */
idp_code gt_printf(idp_buf *b, const char *fmt, json_t *const *args, int n, idp_err *e);
/* Equality for eq/ne (numbers compared by value; IDP_EINVAL for
 * incompatible kinds). */
idp_code gt_equal(const json_t *a, const json_t *b, bool *eq, idp_err *e);

#endif
