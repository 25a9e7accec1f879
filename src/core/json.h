/* json.h: small helpers over jansson, the one object model.
 *
 * Getters borrow (never change reference counts); functions named *_new or
 * documented as "new reference" return a reference the caller owns; setters
 * that end in _new steal their value, as jansson's own do. */
#ifndef IDP_JSON_H
#define IDP_JSON_H

#include <jansson.h>
#include <stdbool.h>

#include "core/err.h"

/* Walks nested objects by keys ending with NULL; borrowed or NULL. */
json_t *idp_json_get(const json_t *o, ...) __attribute__((sentinel));
/* String at nested keys, or NULL when absent or not a string. */
const char *idp_json_get_str(const json_t *o, ...) __attribute__((sentinel));
/* Object member `key` of `o`, created empty when absent (borrowed). */
json_t *idp_json_child_object(json_t *o, const char *key);
/* Dotted path: "metadata.name"; keys cannot contain '.', for fixed paths. */
json_t *idp_json_path(const json_t *o, const char *dotted);

/* Parses JSON strictly (duplicate keys rejected); name used in errors. */
idp_code idp_json_parse(const char *data, size_t len, const char *name, json_t **out,
                        idp_err *e);
/* Compact JSON text, malloc'd; NULL on failure. */
char *idp_json_dump(const json_t *v);

/* True when `s` matches `pattern` with '*' (any run) and '?' (one char). */
bool idp_wildcard_match(const char *pattern, const char *s);

#endif
