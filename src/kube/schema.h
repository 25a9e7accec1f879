/* schema.h: structural-schema validation, pruning and defaulting of custom
 * resources against a CRD version's openAPIV3Schema, the way
 * kube-apiserver's apiextensions does it.
 *
 * Order of work (as the apiserver): prune unknown fields (reporting them per
 * fieldValidation), apply defaults, then validate.  `obj` is modified in
 * place (pruned and defaulted) even when validation fails afterwards; the
 * caller discards it then.
 *
 * Field paths in messages are Kubernetes' ("spec.containers[0].name",
 * "metadata.labels[app]" style for map keys of additionalProperties).
 * The schema is borrowed and never modified.  Deep schemas and objects are
 * bounded by a recursion limit (IDP_SCHEMA_MAX_DEPTH) -> IDP_EINVAL. */
#ifndef IDP_KUBE_SCHEMA_H
#define IDP_KUBE_SCHEMA_H

#include <jansson.h>

#include "core/err.h"

#define IDP_SCHEMA_MAX_DEPTH 100

typedef enum { IDP_FIELDVAL_IGNORE, IDP_FIELDVAL_WARN, IDP_FIELDVAL_STRICT } idp_fieldval;

/* "Ignore" | "Warn" | "Strict" (case-insensitive as query values are) -> value;
 * NULL or "" gives `dflt`; anything else IDP_EINVAL. */
idp_code idp_fieldval_parse(const char *s, idp_fieldval dflt, idp_fieldval *out, idp_err *e);

/* Validates obj against an openAPIV3Schema (type, properties, required, enum, items,
 * additionalProperties, nullable, format int32/int64, minimum/maximum, minLength/maxLength,
 * pattern, minItems/maxItems, x-kubernetes-preserve-unknown-fields, x-kubernetes-int-or-string,
 * x-kubernetes-embedded-resource, default values applied).  Unknown fields are pruned
 * (IGNORE), pruned with a warning string appended to `warnings` (WARN), or an error (STRICT:
 * IDP_EINVAL, 'strict decoding error: unknown field "spec.foo"').  Violations give
 * IDP_EINVALID with Kubernetes' message: `<Kind>.<group> "<name>" is invalid: spec.replicas:
 * Invalid value: "string": spec.replicas in body must be of type integer: "string"`, and
 * *causes (if not NULL) a new array of {"reason":"FieldValueInvalid","message":...,"field":...}.
 * metadata, apiVersion and kind are not validated against the schema (server-managed).
 * `warnings` may be NULL (then WARN behaves as IGNORE); `group` may be "" for the core group.
 * On success *causes (if asked) is set to NULL. */
idp_code idp_schema_validate(const json_t *schema, json_t *obj, idp_fieldval fv,
                             const char *kind, const char *group, json_t *warnings,
                             json_t **causes, idp_err *e);

#endif
