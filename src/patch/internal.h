/* internal.h: what the files of src/patch share (not part of the public
 * API; other modules include only patch/patch.h).
 *
 * Field paths are dotted JSON paths with list items transparent
 * ("spec.template.spec.containers.ports"), built while walking an object
 * in a patch_path (fixed buffer; a path too long for it simply finds no
 * table entry, which means "plain map / atomic list"). */
#ifndef IDP_PATCH_INTERNAL_H
#define IDP_PATCH_INTERNAL_H

#include "core/common.h"

/* One row of schema.def describing a list or map field. */
typedef struct patch_field {
  const char *smp_key;      /* patchMergeKey or NULL */
  const char *smp_strategy; /* "merge", "merge,retainKeys", "retainKeys", "replace" or NULL */
  const char *ssa_keys;     /* "a,b=Default", "" (set) or NULL (atomic) */
  bool is_list;
  bool ssa_atomic; /* a map applied as one value (+structType/+mapType=atomic) */
} patch_field;

/* Root structure name of a kind ("Object" when the kind is not in the
 * table); static string. */
const char *patch_schema_root(const char *group, const char *kind);
/* The table row for `dotted` (no list positions) under root; NULL when the
 * field has no row.  Static. */
const patch_field *patch_schema_field(const char *root, const char *dotted);

typedef struct patch_path {
  char s[1024];
  size_t len;
  size_t overflow; /* > 0: segments pushed past the buffer */
} patch_path;

void patch_path_init(patch_path *p);
/* Appends ".seg" (or "seg" at the root); returns the length to pop back to. */
size_t patch_path_push(patch_path *p, const char *seg);
void patch_path_pop(patch_path *p, size_t mark);
/* Current path, or NULL when it overflowed. */
const char *patch_path_str(const patch_path *p);

/* Deep copy that drops JSON nulls inside objects (what a patch value
 * becomes when it lands where nothing was).  New reference. */
json_t *patch_copy_without_nulls(const json_t *v);



/* ---- fieldset.c: sets of field paths ------------------------------------
 * A set is a tree of JSON objects in the shape of FieldsV1: keys are path
 * elements "f:<field>", "k:<json of the key fields>", "v:<json value>",
 * "i:<index>", and the key "." marks the node itself as a member of the
 * set.  Invariant: a non-member node has children (fs_compact restores it).
 * Leaves written as {} in FieldsV1 are {".":{}} here. */
bool fs_is_member(const json_t *node);
void fs_mark(json_t *node);
void fs_unmark(json_t *node);
/* Child node for path element pe, created when absent (borrowed). */
json_t *fs_child(json_t *node, const char *pe);
bool fs_is_empty(const json_t *s);
/* Drops empty non-member nodes below (and says whether s itself is empty). */
bool fs_compact(json_t *s);
/* New sets. b may be NULL (empty). */
json_t *fs_union(const json_t *a, const json_t *b);
json_t *fs_difference(const json_t *a, const json_t *b);
json_t *fs_intersection(const json_t *a, const json_t *b);
/* FieldsV1 <-> set; `what` names the entry in errors. New references. */
idp_code fs_from_fieldsv1(const json_t *v, const char *what, json_t **out, idp_err *e);
json_t *fs_to_fieldsv1(const json_t *s);
/* Calls fn with each member's path in Kubernetes' text form
 * (.spec.containers[name="web"].image, .metadata.finalizers[="x"]); a
 * non-zero return stops the walk and is returned. */
int fs_foreach_member(const json_t *s, int (*fn)(const char *path, void *arg), void *arg);


#endif
