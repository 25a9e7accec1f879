/* gotmpl.h: a Go text/template interpreter with the Sprig functions, over
 * jansson values (the goTemplate engine of ApplicationSets).
 *
 * Syntax (text/template): actions {{ pipeline }}, trim markers "{{- " and
 * " -}}", comments (slash-star inside the braces), pipelines with '|', .field chains, $ and
 * variables ($x := ..., $x = ...), parenthesised pipelines with field access
 * ((pipe).a.b), literals (strings "..." and `raw`, chars, ints, floats, true,
 * false, nil), control structures if / else if / else / end, range (over
 * lists, maps in sorted key order, and ints; "$i, $v :=" declarations;
 * else; break; continue), with / else with / else, define / template /
 * block.  Builtins: and, or (short-circuit), not, eq, ne, lt, le, gt, ge,
 * len, index, slice, print, printf, println, html, js, urlquery; the Sprig
 * functions ApplicationSets use (see gotmpl_funcs.c: one table) and Argo
 * CD's own normalize, slugify, toYaml, fromYaml, fromYamlArray.  `now` is
 * the Unix time in seconds (an int), which date / dateInZone (Go layouts)
 * and unixEpoch accept; env, expandenv and getHostByName are absent, as in
 * Argo CD.
 *
 * Values.  Data is JSON: objects are Go map[string]any, arrays []any,
 * integers int, reals float64 (printed as Go's %v prints a float64: 3 ->
 * "3", 1e6 -> "1e+06").  A missing map key is Go's "no value": printed as
 * "<no value>" unless the option missingkey=error makes it an error naming
 * the key, as Go words it ("map has no entry for key \"x\"").
 *
 * Errors are Go's messages with positions: parse errors
 * "template: NAME:LINE: ..." and execution errors
 * "template: NAME:LINE:COL: executing \"NAME\" at <.a.b>: ...".
 *
 * Ownership: a parsed idp_gotmpl is immutable and may be executed from any
 * number of threads at once; data passed to exec is only read (functions
 * like `set` that mutate in Go operate on copies here). */
#ifndef IDP_GITOPS_APPSET_GOTMPL_H
#define IDP_GITOPS_APPSET_GOTMPL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

typedef struct idp_gotmpl idp_gotmpl;

typedef enum idp_missingkey {
  IDP_MISSINGKEY_DEFAULT = 0, /* "default" / "invalid": <no value> */
  IDP_MISSINGKEY_ZERO,        /* "zero": the zero value (nil for any) */
  IDP_MISSINGKEY_ERROR,       /* "error": execution stops */
} idp_missingkey;

typedef struct idp_gotmpl_opts {
  idp_missingkey missingkey;
  size_t max_output; /* 0 = 1 MiB per execution */
  int max_depth;     /* nested template calls / range depth; 0 = 100 */
} idp_gotmpl_opts;

/* Parses Go's Option strings ("missingkey=error", ...) from a JSON array of
 * strings (goTemplateOptions; NULL = defaults).  IDP_EINVAL naming the bad
 * option, as Go panics on an unknown one. */
idp_code idp_gotmpl_opts_from_json(const json_t *options, idp_gotmpl_opts *o, idp_err *e);

/* Parses `text` (len bytes).  name is the template name in messages (Argo
 * CD uses "").  *out owned by the caller (idp_gotmpl_free). */
idp_code idp_gotmpl_parse(const char *text, size_t len, const char *name, idp_gotmpl **out,
                          idp_err *e);
void idp_gotmpl_free(idp_gotmpl *t);

/* Executes with dot = data (borrowed; NULL = nil), appending to out.  On
 * error, out may hold partial output. */
idp_code idp_gotmpl_exec(const idp_gotmpl *t, const json_t *data, const idp_gotmpl_opts *o,
                         idp_buf *out, idp_err *e);

/* Parse + execute in one go; *out is a new malloc'd string. */
idp_code idp_gotmpl_render(const char *text, const json_t *data, const idp_gotmpl_opts *o,
                           char **out, idp_err *e);

/* Argo CD's SanitizeName ("normalize"): lower case, [^-a-z0-9.] -> '-',
 * at most 253 bytes, '-' and '.' trimmed at both ends.  New string. */
char *idp_gotmpl_normalize(const char *s);

/* Go's fmt %v of a JSON value (maps as map[k:v ...] with sorted keys,
 * lists as [a b], floats as float64) appended to out; NULL = "<no value>". */
idp_code idp_gotmpl_print_value(idp_buf *out, const json_t *v);

#endif
