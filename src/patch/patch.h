/* patch.h: the four ways Kubernetes changes an object in place, shared by
 * the API server (PATCH verbs, managedFields), the Kyverno mutate engine
 * (patchesJson6902, patchStrategicMerge) and the kustomize renderer.
 *
 *   idp_merge_patch   RFC 7386 JSON merge patch (application/merge-patch+json)
 *   idp_json_patch    RFC 6902 JSON patch (application/json-patch+json)
 *   idp_smp           strategic merge patch (application/strategic-merge-patch+json)
 *   idp_ssa           server-side apply (application/apply-patch+yaml) and
 *   idp_managed_fields_update   the managedFields bookkeeping of other writes
 *
 * Ownership: inputs are never modified (except `obj` of
 * idp_managed_fields_update, documented there); every json_t* result is a
 * new reference the caller owns.  Nothing here prints, logs or keeps state;
 * all functions are re-entrant.
 *
 * The list-merge table (merge keys, patch strategies, SSA list-map keys) is
 * data in patch/schema.def, taken from the patchMergeKey / patchStrategy /
 * listType / listMapKey tags of the Kubernetes API types.  It covers the
 * built-in kinds the API server serves; Pod-spec structures are described
 * once and mounted under each workload kind's prefix.  metadata (ObjectMeta:
 * finalizers as a merged primitive list, ownerReferences by uid) applies to
 * every kind.  Kinds and fields outside the table merge maps and REPLACE
 * lists (strategic merge patch) / treat lists as atomic (server-side apply),
 * which is what Kubernetes does for fields without tags and for custom
 * resources whose schema declares no x-kubernetes-list-type. */
#ifndef IDP_PATCH_H
#define IDP_PATCH_H

#include <jansson.h>
#include <stdbool.h>

#include "core/err.h"

/* RFC 7386 JSON merge patch; new reference; null in patch deletes.  A patch
 * that is not an object replaces the target.  NULL only on out of memory. */
json_t *idp_merge_patch(const json_t *target, const json_t *patch);

/* RFC 6902 JSON patch (add, remove, replace, move, copy, test; "-" index;
 * RFC 6901 pointers with ~0 ~1).  *out new reference; errors IDP_EINVAL
 * (malformed op) or IDP_EINVALID (path not found / test failed) naming the
 * op index and path.  The ops are applied to a copy: on error *out is NULL
 * and nothing is half-applied. */
idp_code idp_json_patch(const json_t *target, const json_t *ops, json_t **out, idp_err *e);

/* Kubernetes strategic merge patch for a built-in kind.  Lists are merged by
 * the patchMergeKey/patchStrategy of that field (from the built-in table),
 * replaced when the field has no strategy; supports $patch: replace|delete|merge,
 * $setElementOrder/<field>, $deleteFromPrimitiveList/<field>, $retainKeys,
 * null deletes.  group "" = core.
 * Ordering follows apimachinery: items named in the patch come in patch
 * order (or $setElementOrder order), interleaved with the items only the
 * server has in their live order.  $patch: merge is the default and a
 * no-op.  Errors: IDP_EINVAL for a malformed patch (unknown $patch value,
 * list item without its merge key, mixed element types) naming the JSON
 * path, e.g. "spec.template.spec.containers[1]". */
idp_code idp_smp(const json_t *target, const json_t *patch, const char *group,
                 const char *kind, json_t **out, idp_err *e);

/* List ordering of a strategic merge patch. */
typedef enum idp_smp_order {
  /* apimachinery (the API server, kubectl patch): what idp_smp does */
  IDP_SMP_ORDER_APISERVER = 0,
  /* kustomize (kyaml merge2, `kubectl kustomize` patches): the items the
   * patch names come first in patch order, then the target's other items
   * in target order */
  IDP_SMP_ORDER_KUSTOMIZE,
} idp_smp_order;

/* idp_smp with a choice of list ordering (the merge itself is the same). */
idp_code idp_smp_ex(const json_t *target, const json_t *patch, const char *group,
                    const char *kind, idp_smp_order order, json_t **out, idp_err *e);

/* Looks up the merge key / strategy of a list field at a JSON path for a kind,
 * e.g. ("apps","Deployment","spec.template.spec.containers") -> key "name",
 * strategy "merge".  Returns false when the field is not a merge list.
 * The path may carry list positions ("spec.containers[0].ports",
 * "spec.containers.0.ports" or "spec.containers[name=web].ports"); they are
 * ignored.  A primitive merge list (metadata.finalizers) returns true with
 * *merge_key NULL.  Returned strings are static.  Either out pointer may be
 * NULL. */
bool idp_smp_list_info(const char *group, const char *kind, const char *dotted_path,
                       const char **merge_key, const char **strategy);

/* Server-side apply.  live may be NULL (create).  Merges `applied` into
 * `live` as the field manager `manager` (operation Apply), maintaining
 * metadata.managedFields (FieldsV1 format, Kubernetes' exact encoding:
 * "f:<field>", "k:{json merge key}", "v:<value>", "." ), removing fields the
 * manager owned before and no longer applies (unless another manager owns
 * them), and detecting conflicts with other managers: IDP_ECONFLICT with
 * *conflicts a new array of {"manager":..., "field": ".spec.replicas"} unless
 * force (then ownership moves).  Lists with merge keys (built-in table) are
 * associative; others atomic.  `now` is an RFC 3339 timestamp for the entry.
 *
 * Details: `applied` must be an object; its metadata.managedFields is
 * ignored and apiVersion/kind/metadata.{name,namespace,uid,resourceVersion,
 * generation,creationTimestamp,...} are never recorded as owned (as
 * Kubernetes strips them).  Each conflict element also carries
 * "apiVersion" (the other manager's) and "message" in Kubernetes' wording
 * ("conflict with \"mgr\" using apps/v1"); e->msg is Kubernetes' "Apply
 * failed with N conflicts: ..." text.  When the apply changes nothing the
 * entry's time is kept, so a re-apply is idempotent.  *conflicts is set
 * (or NULL) only on IDP_ECONFLICT; conflicts may be NULL.  Other errors:
 * IDP_EINVAL (applied not an object, bad managedFields in live),
 * IDP_EINVALID (an associative list item lacks a key field, duplicate
 * keys).  Also from the table: primitive merge lists are sets ("v:"),
 * LabelSelectors and Service spec.selector are atomic maps, ports are keyed
 * by port+protocol (protocol defaulting to TCP).  A null in `applied`
 * clears that field.  `status` is merged like any other field: for kinds
 * with a status subresource the caller drops it from `applied` first.
 * The result's list order follows the applied configuration, live-only
 * items staying next to their neighbours (structured-merge-diff). */
idp_code idp_ssa(const json_t *live, const json_t *applied, const char *group,
                 const char *kind, const char *manager, bool force, const char *now,
                 json_t **out, json_t **conflicts, idp_err *e);

/* idp_ssa for a custom resource: `schema` is the openAPIV3Schema of its
 * CRD version; x-kubernetes-list-type (map with x-kubernetes-list-map-keys
 * and the keys' defaults, set, atomic — the default) and
 * x-kubernetes-map-type: atomic decide how lists and maps merge, as they
 * do in Kubernetes; metadata still follows ObjectMeta.  schema NULL is
 * idp_ssa. */
idp_code idp_ssa_ex(const json_t *live, const json_t *applied, const char *group,
                    const char *kind, const json_t *schema, const char *manager, bool force,
                    const char *now, json_t **out, json_t **conflicts, idp_err *e);

/* Records an Update-operation managedFields entry for `manager` covering the
 * fields that changed between old (NULL on create) and *obj (modified in place).
 * Fields removed by the write are dropped from every manager; fields the
 * write added or changed move to `manager` (updates never conflict).  The
 * entry's time is `now` when it gained fields, else kept.  The starting
 * entries are obj's own metadata.managedFields when it is a non-empty array
 * (a client may rewrite them, as kubectl's CSA->SSA migration does), else
 * old's; obj's metadata.managedFields is replaced by the result. */
idp_code idp_managed_fields_update(const json_t *old, json_t *obj, const char *group,
                                   const char *kind, const char *manager, const char *now,
                                   idp_err *e);

/* idp_managed_fields_update with a custom resource schema (see idp_ssa_ex). */
idp_code idp_managed_fields_update_ex(const json_t *old, json_t *obj, const char *group,
                                      const char *kind, const json_t *schema,
                                      const char *manager, const char *now, idp_err *e);

/* RFC 6901 pointer lookup; borrowed or NULL. "" is the whole document. */
json_t *idp_json_pointer_get(const json_t *doc, const char *pointer);

/* Numeric-aware deep equality (1 == 1.0), as RFC 6902 "test" requires. */
bool idp_json_equal(const json_t *a, const json_t *b);

#endif
