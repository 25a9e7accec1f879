/* yaml.h: YAML at the edges of idp, jansson inside.
 *
 * The loader turns a multi-document YAML stream into a JSON array of
 * documents (json_t), resolving plain scalars as kubectl does (sigs.k8s.io/
 * yaml over go-yaml v2: YAML 1.1 booleans yes/no/on/off/y/n, ints with
 * 0x/0o/0b and leading-zero octal and `_` separators, floats, null and ~).
 * Quoted and block scalars are always strings; explicit !!str/!!int/...
 * tags are honoured.  Anchors and aliases are expanded (merge keys `<<`
 * too) up to a node budget; nesting deeper than max_depth, input larger than
 * max_bytes, or alias expansion beyond max_alias_nodes is an error.  Every
 * error names the source, line and column ("file.yaml:3:7: ...").
 * Empty documents (only comments, or `---` with nothing) are skipped.
 *
 * The emitter writes JSON values as block YAML deterministically: object
 * key order as stored (or sorted with IDP_YAML_SORT_KEYS), strings quoted
 * exactly when a plain scalar would read back as another type, multi-line
 * strings as literal blocks. */
#ifndef IDP_YAML_H
#define IDP_YAML_H

#include <jansson.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

typedef struct idp_yaml_limits {
  size_t max_bytes;
  int max_depth;
  size_t max_alias_nodes; /* nodes created by expanding aliases, total */
  /* Resolve plain scalars with the YAML 1.2 core schema as kustomize's
   * kyaml does: only true/false (any case) are booleans, so yes/no/on/off/
   * y/n stay strings.  Off (0) = kubectl's YAML 1.1 rules. */
  int core_schema;
} idp_yaml_limits;

extern const idp_yaml_limits idp_yaml_default_limits;

/* On success *docs is a new JSON array (caller owns).  `name` is used in
 * error messages (a file path, "request body", ...).  `limits` may be NULL. */
idp_code idp_yaml_load(const char *data, size_t len, const char *name,
                       const idp_yaml_limits *limits, json_t **docs, idp_err *e);

/* Reads and loads a file; the path is the name in errors. */
idp_code idp_yaml_load_file(const char *path, const idp_yaml_limits *limits, json_t **docs,
                            idp_err *e);

/* Loads exactly one document (errors if the stream holds more than one;
 * an empty stream gives JSON null). */
idp_code idp_yaml_load_one(const char *data, size_t len, const char *name,
                           const idp_yaml_limits *limits, json_t **doc, idp_err *e);

/* Resolves a plain (unquoted, untagged) scalar to a new JSON value
 * (kubectl's YAML 1.1 rules). */
json_t *idp_yaml_resolve_plain(const char *s, size_t len);
/* The same with the YAML 1.2 core schema's booleans (see core_schema). */
json_t *idp_yaml_resolve_plain_core(const char *s, size_t len);

enum {
  IDP_YAML_SORT_KEYS = 1 << 0,
};

/* Appends one document (no leading "---"). */
idp_code idp_yaml_emit(idp_buf *out, const json_t *doc, int flags, idp_err *e);

/* Appends every element of `docs` (a JSON array) separated by "---" lines. */
idp_code idp_yaml_emit_stream(idp_buf *out, const json_t *docs, int flags, idp_err *e);

#endif
