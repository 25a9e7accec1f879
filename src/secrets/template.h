/* template.h: the Go text/template subset ExternalSecret templates use.
 *
 * target.template.data / metadata values are rendered against the fetched
 * secret data (a JSON object of key -> string value; values may be binary,
 * jansson strings with a length).  Supported, with Go/sprig semantics:
 *
 *   text {{ pipeline }} text        {{- and -}} trim surrounding white space
 *   pipeline   cmd | cmd | ...      the previous result is the last argument
 *   cmd        .key  .key.sub  .  $  "str"  `raw`  123  true/false
 *              (pipeline)           parenthesised sub-pipeline
 *              fn arg...            a function from the table below
 *   functions  b64enc b64dec upper lower title trim trimPrefix trimSuffix
 *              trimAll quote squote toJson toString fromJson default
 *              replace nospace sha256sum printf (%s %v %d %q %%) index
 *              get (maps) indent nindent contains hasPrefix hasSuffix
 *              required join (lists) list
 *   {{/ * comment * /}}   (Go comment action; written without the spaces)
 *   {{ if pipeline }} ... {{ else }} ... {{ end }}   (truthiness as Go)
 *   {{ range $k, $v := pipeline }} ... {{ end }}     (maps: sorted keys)
 *
 * Missing keys are errors (ESO runs templates with missingkey=error).
 * Errors name the template key, the position and the function or key at
 * fault, never a secret value.
 *
 * Ownership: `data` is borrowed; *out is appended to. */
#ifndef IDP_SECRETS_TEMPLATE_H
#define IDP_SECRETS_TEMPLATE_H

#include <jansson.h>

#include "core/buf.h"
#include "core/err.h"

/* Renders `tpl` (name used in errors) into `out`. */
idp_code idp_gotpl_render(const char *name, const char *tpl, const json_t *data, idp_buf *out,
                          idp_err *e);

#endif
