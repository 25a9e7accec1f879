/* ssa.c: server-side apply and managedFields, after Kubernetes'
 * structured-merge-diff (merge/update.go) and the API server's field
 * manager: a manager's Apply entry owns exactly the fields of its last
 * applied configuration; every write moves the fields it changed to its
 * writer and drops removed fields from everyone. */
#include "core/common.h"
#include "core/buf.h"
#include "core/json.h"
#include "patch/internal.h"
#include "patch/patch.h"

#define SSA_MAX_DEPTH 128

typedef struct ssa_ctx {
  const char *root;
  const json_t *schema; /* OpenAPI v3 schema of a custom resource, or NULL */
  json_t *interned;     /* keys strings built from the schema (owned) */
  patch_path path;
  bool strict; /* reading an applied configuration: duplicate keys are errors */
  int depth;
  idp_err *e;
} ssa_ctx;

static void ctx_init(ssa_ctx *c, const char *group, const char *kind, const json_t *schema,
                     idp_err *e) {
  c->root = patch_schema_root(group, kind);
  c->schema = json_is_object(schema) ? schema : NULL;
  c->interned = json_object();
  patch_path_init(&c->path);
  c->strict = false;
  c->depth = 0;
  c->e = e;
}

static const char *where(const ssa_ctx *c) {
  const char *p = patch_path_str(&c->path);
  return p ? (*p ? p : "<root>") : "<deep path>";
}

typedef enum list_kind { L_ATOMIC, L_MAP, L_SET } list_kind;

/* The schema node at the current path when a custom resource schema is in
 * use (metadata is always ObjectMeta, from the table).  List items are
 * transparent in paths, so an array schema is entered through `items`. */
static const json_t *schema_here(const ssa_ctx *c, bool *use_schema) {
  const char *p = patch_path_str(&c->path);
  *use_schema = false;
  if (!c->schema || !p) return NULL;
  if (strncmp(p, "metadata", 8) == 0 && (p[8] == '\0' || p[8] == '.')) return NULL;
  *use_schema = true;
  const json_t *s = c->schema;
  char seg[256];
  while (s && *p) {
    size_t n = strcspn(p, ".");
    if (n >= sizeof seg) return NULL;
    memcpy(seg, p, n);
    seg[n] = '\0';
    p += n + (p[n] == '.');
    while (json_is_object(json_object_get(s, "items"))) s = json_object_get(s, "items");
    const json_t *next = idp_json_get(s, "properties", seg, NULL);
    if (!next) {
      const json_t *ap = json_object_get(s, "additionalProperties");
      next = json_is_object(ap) ? ap : NULL;
    }
    s = next;
  }
  return s;
}

static list_kind list_kind_at(const ssa_ctx *c, const char **keys) {
  bool use_schema;
  const json_t *sn = schema_here(c, &use_schema);
  if (use_schema) {
    const char *lt = json_string_value(json_object_get(sn, "x-kubernetes-list-type"));
    if (!lt || strcmp(lt, "map") != 0) return lt && strcmp(lt, "set") == 0 ? L_SET : L_ATOMIC;
    const json_t *mk = json_object_get(sn, "x-kubernetes-list-map-keys");
    if (!json_is_array(mk) || !json_array_size(mk)) return L_ATOMIC;
    /* "a,b=<json default>", interned so the pointer outlives nested walks */
    idp_buf b;
    idp_buf_init(&b, 64 << 10);
    size_t i;
    json_t *k;
    json_array_foreach(mk, i, k) {
      if (!json_is_string(k)) continue;
      idp_buf_printf(&b, "%s%s", b.len ? "," : "", json_string_value(k));
      const json_t *def = idp_json_get(sn, "items", "properties", json_string_value(k),
                                       "default", NULL);
      char *dj = def ? json_dumps(def, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
      if (dj) idp_buf_printf(&b, "=%s", dj);
      free(dj);
    }
    const char *ks = idp_buf_str(&b);
    json_t *in = json_object_get(c->interned, ks);
    if (!in) {
      in = json_string(ks);
      json_object_set_new(c->interned, ks, in);
    }
    idp_buf_free(&b);
    *keys = json_string_value(in);
    return **keys ? L_MAP : L_ATOMIC;
  }
  const char *p = patch_path_str(&c->path);
  const patch_field *f = p ? patch_schema_field(c->root, p) : NULL;
  if (!f || !f->is_list || !f->ssa_keys) return L_ATOMIC;
  if (!*f->ssa_keys) return L_SET;
  *keys = f->ssa_keys;
  return L_MAP;
}

/* The path element of a list item, "k:{...}" (key fields sorted by name,
 * absent ones from their default) or "v:<json>".  malloc'd; NULL with *rc
 * set (or, when rc is NULL, silently: live data is taken as it is). */
static char *item_pe(ssa_ctx *c, list_kind lk, const char *keys, const json_t *item, size_t i,
                     idp_code *rc) {
  char *pe = NULL;
  if (lk == L_SET) {
    char *v = json_dumps(item, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!v) goto oom;
    size_t n = strlen(v) + 3;
    pe = malloc(n);
    if (pe) snprintf(pe, n, "v:%s", v);
    free(v);
    if (!pe) goto oom;
    return pe;
  }
  if (!json_is_object(item)) {
    if (rc)
      *rc = idp_err_set(c->e, IDP_EINVALID, "%s[%zu]: associative list item must be an object",
                        where(c), i);
    return NULL;
  }
  json_t *key = json_object();
  const char *s = keys;
  while (*s) {
    size_t n = strcspn(s, ",");
    char spec[128];
    if (n >= sizeof spec) n = sizeof spec - 1;
    memcpy(spec, s, n);
    spec[n] = '\0';
    s += n + (s[n] == ',');
    char *def = strchr(spec, '=');
    if (def) *def++ = '\0';
    json_t *v = json_object_get(item, spec);
    if (v && !json_is_null(v)) {
      json_object_set(key, spec, v);
    } else if (def) { /* a JSON default (from a schema) or a bare string */
      json_t *dv = json_loads(def, JSON_DECODE_ANY, NULL);
      json_object_set_new(key, spec, dv ? dv : json_string(def));
    } else {
      json_decref(key);
      if (rc)
        *rc = idp_err_set(c->e, IDP_EINVALID,
                          "%s[%zu]: associative list with keys has an element that omits key "
                          "field \"%s\"", where(c), i, spec);
      return NULL;
    }
  }
  char *kj = json_dumps(key, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(key);
  if (!kj) goto oom;
  size_t n = strlen(kj) + 3;
  pe = malloc(n);
  if (pe) snprintf(pe, n, "k:%s", kj);
  free(kj);
  if (!pe) goto oom;
  return pe;
oom:
  if (rc) *rc = idp_err_set(c->e, IDP_ENOMEM, "out of memory");
  return NULL;
}

/* ---- ToFieldSet ----------------------------------------------------------- */

static idp_code set_of_object(ssa_ctx *c, const json_t *obj, json_t *node);

static bool atomic_map_at(const ssa_ctx *c) {
  bool use_schema;
  const json_t *sn = schema_here(c, &use_schema);
  if (use_schema) {
    const char *mt = json_string_value(json_object_get(sn, "x-kubernetes-map-type"));
    return mt && strcmp(mt, "atomic") == 0;
  }
  const char *p = patch_path_str(&c->path);
  const patch_field *f = p ? patch_schema_field(c->root, p) : NULL;
  return f && f->ssa_atomic;
}

static idp_code set_of_value(ssa_ctx *c, const json_t *v, json_t *node) {
  if (json_is_object(v)) {
    if (json_object_size(v) == 0 || atomic_map_at(c)) {
      fs_mark(node);
      return IDP_OK;
    }
    return set_of_object(c, v, node);
  }
  if (json_is_array(v)) {
    const char *keys = NULL;
    list_kind lk = list_kind_at(c, &keys);
    if (lk == L_ATOMIC) {
      fs_mark(node);
      return IDP_OK;
    }
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) {
      idp_code rc = IDP_OK;
      char *pe = item_pe(c, lk, keys, item, i, c->strict ? &rc : NULL);
      if (!pe) {
        if (rc) return rc;
        continue;
      }
      if (c->strict && json_object_get(node, pe)) {
        rc = idp_err_set(c->e, IDP_EINVALID, "%s[%zu]: duplicate entries for key %s", where(c),
                         i, pe + 2);
        free(pe);
        return rc;
      }
      json_t *in = fs_child(node, pe);
      free(pe);
      fs_mark(in);
      if (lk == L_MAP && json_object_size(item)) {
        rc = set_of_object(c, item, in);
        if (rc) return rc;
      }
    }
    return IDP_OK;
  }
  fs_mark(node); /* scalars and null */
  return IDP_OK;
}

static idp_code set_of_object(ssa_ctx *c, const json_t *obj, json_t *node) {
  if (++c->depth > SSA_MAX_DEPTH) {
    c->depth--;
    return idp_err_set(c->e, IDP_EINVALID, "%s: object nested too deeply", where(c));
  }
  const char *k;
  json_t *v;
  idp_code rc = IDP_OK;
  json_object_foreach((json_t *)obj, k, v) {
    size_t n = strlen(k) + 3;
    char *pe = malloc(n);
    if (!pe) {
      rc = idp_err_set(c->e, IDP_ENOMEM, "out of memory");
      break;
    }
    snprintf(pe, n, "f:%s", k);
    json_t *child = fs_child(node, pe);
    free(pe);
    size_t mark = patch_path_push(&c->path, k);
    rc = set_of_value(c, v, child);
    patch_path_pop(&c->path, mark);
    if (rc) break;
  }
  c->depth--;
  return rc;
}

/* Fields the API server never records as owned (fieldmanager's stripMeta). */
static const char *const stripped_meta[] = {
    "f:name", "f:namespace", "f:creationTimestamp", "f:selfLink", "f:uid", "f:clusterName",
    "f:generation", "f:managedFields", "f:resourceVersion",
};

static idp_code object_set(ssa_ctx *c, const json_t *obj, bool strict, json_t **out) {
  json_t *s = json_object();
  c->strict = strict;
  patch_path_init(&c->path);
  idp_code rc = set_of_object(c, obj, s);
  c->strict = false;
  if (rc) {
    json_decref(s);
    return rc;
  }
  json_object_del(s, "f:apiVersion");
  json_object_del(s, "f:kind");
  json_t *md = json_object_get(s, "f:metadata");
  if (md) {
    fs_unmark(md);
    for (size_t i = 0; i < IDP_ARRAY_LEN(stripped_meta); i++) json_object_del(md, stripped_meta[i]);
  }
  fs_compact(s);
  *out = s;
  return IDP_OK;
}

/* ---- merge (structured-merge-diff Merge) ----------------------------------- */

static json_t *merge_object(ssa_ctx *c, const json_t *lhs, const json_t *rhs, idp_code *rc);

static json_t *merge_item(ssa_ctx *c, const json_t *l, const json_t *r, idp_code *rc) {
  if (!r) return json_deep_copy(l);
  if (json_is_object(l) && json_is_object(r)) return merge_object(c, l, r, rc);
  return patch_copy_without_nulls(r);
}

static long pe_index(char **pes, size_t n, const char *pe) {
  for (size_t i = 0; i < n; i++)
    if (pes[i] && strcmp(pes[i], pe) == 0) return (long)i;
  return -1;
}

static void free_pes(char **pes, size_t n) {
  for (size_t i = 0; i < n; i++) free(pes[i]);
  free(pes);
}

/* Associative list / set merge.  The order follows the applied list for
 * the items it names; live-only items stay where they were relative to
 * the shared ones (the two-pointer walk of merge.go visitListItems). */
static json_t *merge_list(ssa_ctx *c, const json_t *lhs, const json_t *rhs, list_kind lk,
                          const char *keys, idp_code *rc) {
  size_t ln = json_array_size(lhs), rn = json_array_size(rhs);
  char **lpe = calloc(ln + 1, sizeof *lpe), **rpe = calloc(rn + 1, sizeof *rpe);
  bool *merged_r = calloc(rn + 1, sizeof *merged_r);
  size_t *shared = calloc(rn + 1, sizeof *shared);
  json_t *out = NULL;
  if (!lpe || !rpe || !merged_r || !shared) {
    *rc = idp_err_set(c->e, IDP_ENOMEM, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < rn; i++) {
    rpe[i] = item_pe(c, lk, keys, json_array_get(rhs, i), i, rc);
    if (!rpe[i]) goto done;
    if (pe_index(rpe, i, rpe[i]) >= 0) {
      *rc = idp_err_set(c->e, IDP_EINVALID, "%s[%zu]: duplicate entries for key %s", where(c),
                        i, rpe[i] + 2);
      goto done;
    }
  }
  for (size_t i = 0; i < ln; i++) lpe[i] = item_pe(c, lk, keys, json_array_get(lhs, i), i, NULL);
  size_t nshared = 0, next = 0;
  for (size_t i = 0; i < rn; i++)
    if (pe_index(lpe, ln, rpe[i]) >= 0) shared[nshared++] = i;
  /* next_shared: index into rpe of the shared item expected next, or -1 */
  long next_shared = nshared ? (long)shared[next++] : -1;
  out = json_array();
  size_t li = 0, ri = 0;
  while (li < ln || ri < rn) {
    if (li < ln && ri < rn) {
      if (lpe[li] && strcmp(lpe[li], rpe[ri]) == 0) {
        merged_r[ri] = true;
        json_t *m = merge_item(c, json_array_get(lhs, li), json_array_get(rhs, ri), rc);
        if (!m) goto fail;
        json_array_append_new(out, m);
        li++;
        ri++;
        next_shared = next < nshared ? (long)shared[next++] : -1;
        continue;
      }
      if (lpe[li] && pe_index(rpe, rn, lpe[li]) >= 0 && next_shared >= 0 &&
          strcmp(rpe[next_shared], lpe[li]) != 0) {
        li++; /* a shared item, but not the one this round wants */
        continue;
      }
    }
    if (li < ln) {
      long at = lpe[li] ? pe_index(rpe, rn, lpe[li]) : -1;
      if (at < 0) {
        json_array_append_new(out, json_deep_copy(json_array_get(lhs, li)));
        li++;
        continue;
      }
      if (merged_r[at]) {
        li++;
        continue;
      }
    }
    if (ri < rn) {
      merged_r[ri] = true;
      long at = pe_index(lpe, ln, rpe[ri]);
      json_t *m = merge_item(c, at >= 0 ? json_array_get(lhs, (size_t)at) : NULL,
                             json_array_get(rhs, ri), rc);
      if (!m && at >= 0) goto fail;
      if (!m) m = patch_copy_without_nulls(json_array_get(rhs, ri));
      json_array_append_new(out, m);
      if (next_shared == (long)ri) next_shared = next < nshared ? (long)shared[next++] : -1;
      ri++;
    }
  }
  goto done;
fail:
  json_decref(out);
  out = NULL;
done:
  if (lpe) free_pes(lpe, ln);
  if (rpe) free_pes(rpe, rn);
  free(merged_r);
  free(shared);
  return out;
}

static json_t *merge_value(ssa_ctx *c, const json_t *lhs, const json_t *rhs, idp_code *rc) {
  if (json_is_object(rhs)) {
    if (json_is_object(lhs) && !atomic_map_at(c)) return merge_object(c, lhs, rhs, rc);
    return patch_copy_without_nulls(rhs);
  }
  if (json_is_array(rhs)) {
    const char *keys = NULL;
    list_kind lk = list_kind_at(c, &keys);
    if (lk != L_ATOMIC) {
      json_t *empty = json_array();
      json_t *m = merge_list(c, json_is_array(lhs) ? lhs : empty, rhs, lk, keys, rc);
      json_decref(empty);
      return m;
    }
    return patch_copy_without_nulls(rhs);
  }
  return json_deep_copy(rhs);
}

static json_t *merge_object(ssa_ctx *c, const json_t *lhs, const json_t *rhs, idp_code *rc) {
  if (++c->depth > SSA_MAX_DEPTH) {
    c->depth--;
    *rc = idp_err_set(c->e, IDP_EINVALID, "%s: object nested too deeply", where(c));
    return NULL;
  }
  json_t *out = lhs ? json_deep_copy(lhs) : json_object();
  const char *k;
  json_t *rv;
  json_object_foreach((json_t *)rhs, k, rv) {
    if (json_is_null(rv)) { /* an applied null owns the field and clears it */
      json_object_del(out, k);
      continue;
    }
    size_t mark = patch_path_push(&c->path, k);
    json_t *m = merge_value(c, json_object_get(lhs, k), rv, rc);
    patch_path_pop(&c->path, mark);
    if (!m) {
      json_decref(out);
      out = NULL;
      break;
    }
    json_object_set_new(out, k, m);
  }
  c->depth--;
  return out;
}

/* ---- pruning of fields the applier gave up ---------------------------------- */

static void prune_object(ssa_ctx *c, json_t *obj, const json_t *rnode);

static void prune_list(ssa_ctx *c, json_t *arr, const json_t *rnode) {
  const char *keys = NULL;
  list_kind lk = list_kind_at(c, &keys);
  if (lk == L_ATOMIC) return;
  for (size_t i = json_array_size(arr); i-- > 0;) {
    json_t *item = json_array_get(arr, i);
    char *pe = item_pe(c, lk, keys, item, i, NULL);
    if (!pe) continue;
    const json_t *cn = json_object_get(rnode, pe);
    free(pe);
    if (!cn) continue;
    if (fs_is_member(cn)) json_array_remove(arr, i);
    else if (json_is_object(item)) prune_object(c, item, cn);
  }
}

/* Removes the members of rnode from obj; maps and lists emptied by the
 * removal go too (Kubernetes drops them when it encodes typed objects). */
static void prune_object(ssa_ctx *c, json_t *obj, const json_t *rnode) {
  const char *pe;
  json_t *cn;
  json_object_foreach((json_t *)rnode, pe, cn) {
    if (pe[0] != 'f') continue;
    const char *k = pe + 2;
    json_t *v = json_object_get(obj, k);
    if (!v) continue;
    if (fs_is_member(cn)) {
      json_object_del(obj, k);
      continue;
    }
    size_t mark = patch_path_push(&c->path, k);
    if (json_is_object(v) && json_object_size(v)) {
      prune_object(c, v, cn);
      if (!json_object_size(v)) json_object_del(obj, k);
    } else if (json_is_array(v) && json_array_size(v)) {
      prune_list(c, v, cn);
      if (!json_array_size(v)) json_object_del(obj, k);
    }
    patch_path_pop(&c->path, mark);
  }
}

/* ---- comparison ---------------------------------------------------------------- */

/* For a list value: an object mapping each item's path element to the
 * item (borrowed references held by the index), so lookups are O(1).
 * NULL for non-lists and atomic lists. */
static json_t *index_items(ssa_ctx *c, const json_t *v) {
  if (!json_is_array(v)) return NULL;
  const char *keys = NULL;
  list_kind lk = list_kind_at(c, &keys);
  if (lk == L_ATOMIC) return NULL;
  json_t *idx = json_object();
  size_t i;
  json_t *item;
  json_array_foreach(v, i, item) {
    char *pe = item_pe(c, lk, keys, item, i, NULL);
    if (pe && !json_object_get(idx, pe)) json_object_set(idx, pe, item);
    free(pe);
  }
  return idx;
}

static const json_t *child_value(const json_t *v, const json_t *idx, const char *pe) {
  if (pe[0] == 'f') return json_object_get(v, pe + 2);
  if (pe[0] == 'i') {
    char *end;
    long long i = strtoll(pe + 2, &end, 10);
    return (*end || i < 0 || !json_is_array(v)) ? NULL : json_array_get(v, (size_t)i);
  }
  return idx ? json_object_get(idx, pe) : NULL;
}

static bool has_children(const json_t *node) {
  return json_object_size(node) > (fs_is_member(node) ? 1u : 0u);
}

static void modified_walk(ssa_ctx *c, const json_t *ov, const json_t *nv, const json_t *on,
                          const json_t *nn, json_t *out) {
  json_t *oidx = index_items(c, ov), *nidx = index_items(c, nv);
  const char *pe;
  json_t *ncn;
  json_object_foreach((json_t *)nn, pe, ncn) {
    if (strcmp(pe, ".") == 0) continue;
    const json_t *ocn = json_object_get(on, pe);
    if (!ocn) continue;
    size_t mark = c->path.len;
    bool pushed = pe[0] == 'f';
    if (pushed) mark = patch_path_push(&c->path, pe + 2);
    const json_t *oc = child_value(ov, oidx, pe), *nc = child_value(nv, nidx, pe);
    if (fs_is_member(ocn) && fs_is_member(ncn) && !has_children(ocn) && !has_children(ncn)) {
      if (!idp_json_equal(oc, nc)) fs_mark(fs_child(out, pe));
    } else if (oc && nc) {
      json_t *sub = json_object();
      modified_walk(c, oc, nc, ocn, ncn, sub);
      if (json_object_size(sub)) json_object_set_new(out, pe, sub);
      else json_decref(sub);
    }
    if (pushed) patch_path_pop(&c->path, mark);
  }
  json_decref(oidx);
  json_decref(nidx);
}

typedef struct comparison {
  json_t *added, *removed, *modified;
} comparison;

static void comparison_free(comparison *k) {
  json_decref(k->added);
  json_decref(k->removed);
  json_decref(k->modified);
}

static idp_code compare(ssa_ctx *c, const json_t *old, const json_t *new_, comparison *k) {
  json_t *os = NULL, *ns = NULL;
  idp_code rc = object_set(c, old, false, &os);
  if (!rc) rc = object_set(c, new_, false, &ns);
  if (rc) {
    json_decref(os);
    return rc;
  }
  k->added = fs_difference(ns, os);
  k->removed = fs_difference(os, ns);
  k->modified = json_object();
  patch_path_init(&c->path);
  modified_walk(c, old, new_, os, ns, k->modified);
  fs_compact(k->modified);
  json_decref(os);
  json_decref(ns);
  return IDP_OK;
}

/* ---- managedFields entries ------------------------------------------------------- */

typedef struct mf_entry {
  char *manager, *operation, *api_version, *time, *subresource;
  json_t *set;
} mf_entry;

typedef struct mf_list {
  mf_entry *v;
  size_t n, cap;
} mf_list;

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static void mf_entry_free(mf_entry *x) {
  free(x->manager);
  free(x->operation);
  free(x->api_version);
  free(x->time);
  free(x->subresource);
  json_decref(x->set);
}

static void mf_free(mf_list *l) {
  for (size_t i = 0; i < l->n; i++) mf_entry_free(&l->v[i]);
  free(l->v);
  l->v = NULL;
  l->n = l->cap = 0;
}

static mf_entry *mf_add(mf_list *l, const char *manager, const char *op, const char *api,
                        const char *time, const char *sub, json_t *set) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 4;
    mf_entry *v = realloc(l->v, cap * sizeof *v);
    if (!v) {
      json_decref(set);
      return NULL;
    }
    l->v = v;
    l->cap = cap;
  }
  mf_entry *x = &l->v[l->n++];
  x->manager = dup_or_null(manager ? manager : "");
  x->operation = dup_or_null(op ? op : "");
  x->api_version = dup_or_null(api);
  x->time = dup_or_null(time);
  x->subresource = dup_or_null(sub);
  x->set = set;
  return x;
}

static bool str_eq(const char *a, const char *b) {
  return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Identity as the API server keys managers: Apply entries by manager (and
 * subresource), Update entries also by apiVersion. */
static mf_entry *mf_find(mf_list *l, const char *manager, const char *op, const char *api) {
  for (size_t i = 0; i < l->n; i++) {
    mf_entry *x = &l->v[i];
    if (!str_eq(x->manager, manager) || !str_eq(x->operation, op) || x->subresource) continue;
    if (strcmp(op, "Update") == 0 && !str_eq(x->api_version, api)) continue;
    return x;
  }
  return NULL;
}

static idp_code mf_parse(const json_t *mf, mf_list *l, idp_err *e) {
  if (!mf || json_is_null(mf)) return IDP_OK;
  if (!json_is_array(mf))
    return idp_err_set(e, IDP_EINVAL, "metadata.managedFields must be a list");
  size_t i;
  json_t *x;
  json_array_foreach(mf, i, x) {
    char what[32];
    snprintf(what, sizeof what, "[%zu]", i);
    if (!json_is_object(x))
      return idp_err_set(e, IDP_EINVAL, "metadata.managedFields[%zu] must be an object", i);
    const char *ft = json_string_value(json_object_get(x, "fieldsType"));
    if (ft && strcmp(ft, "FieldsV1") != 0)
      return idp_err_set(e, IDP_EINVAL,
                         "metadata.managedFields[%zu].fieldsType: only FieldsV1 is supported", i);
    const char *op = json_string_value(json_object_get(x, "operation"));
    if (op && strcmp(op, "Apply") != 0 && strcmp(op, "Update") != 0)
      return idp_err_set(e, IDP_EINVAL,
                         "metadata.managedFields[%zu].operation must be Apply or Update", i);
    json_t *set = NULL;
    idp_code rc = fs_from_fieldsv1(json_object_get(x, "fieldsV1"), what, &set, e);
    if (rc) return rc;
    if (!mf_add(l, json_string_value(json_object_get(x, "manager")), op,
                json_string_value(json_object_get(x, "apiVersion")),
                json_string_value(json_object_get(x, "time")),
                json_string_value(json_object_get(x, "subresource")), set))
      return idp_err_set(e, IDP_ENOMEM, "out of memory");
  }
  return IDP_OK;
}

static int entry_cmp(const void *pa, const void *pb) {
  const mf_entry *a = pa, *b = pb;
  int r;
  if ((r = strcmp(a->operation, b->operation))) return r;
  if ((r = strcmp(a->time ? a->time : "", b->time ? b->time : ""))) return r;
  if ((r = strcmp(a->manager, b->manager))) return r;
  if ((r = strcmp(a->api_version ? a->api_version : "", b->api_version ? b->api_version : "")))
    return r;
  return strcmp(a->subresource ? a->subresource : "", b->subresource ? b->subresource : "");
}

static int entry_cmp_manager(const mf_entry *a, const mf_entry *b) {
  int r = strcmp(a->manager, b->manager);
  return r ? r : strcmp(a->operation, b->operation);
}

/* Drops empty entries, sorts as the API server does and stores the list
 * in obj.metadata.managedFields (removed when empty). */
static void mf_store(mf_list *l, json_t *obj) {
  size_t w = 0;
  for (size_t i = 0; i < l->n; i++) {
    if (fs_is_empty(l->v[i].set)) {
      mf_entry_free(&l->v[i]);
      continue;
    }
    l->v[w++] = l->v[i];
  }
  l->n = w;
  idp_sort(l->v, l->n, sizeof *l->v, entry_cmp);
  json_t *md = json_object_get(obj, "metadata");
  if (!l->n) {
    if (md) json_object_del(md, "managedFields");
    return;
  }
  if (!json_is_object(md)) md = idp_json_child_object(obj, "metadata");
  json_t *arr = json_array();
  for (size_t i = 0; i < l->n; i++) {
    mf_entry *x = &l->v[i];
    json_t *o = json_object();
    json_object_set_new(o, "manager", json_string(x->manager));
    json_object_set_new(o, "operation", json_string(x->operation));
    if (x->api_version) json_object_set_new(o, "apiVersion", json_string(x->api_version));
    if (x->time) json_object_set_new(o, "time", json_string(x->time));
    json_object_set_new(o, "fieldsType", json_string("FieldsV1"));
    json_object_set_new(o, "fieldsV1", fs_to_fieldsv1(x->set));
    if (x->subresource) json_object_set_new(o, "subresource", json_string(x->subresource));
    json_array_append_new(arr, o);
  }
  json_object_set_new(md, "managedFields", arr);
}

/* ---- conflicts --------------------------------------------------------------------- */

/* Kubernetes' printManager: "\"name\"", "\"name\" using apps/v1" for
 * Update entries, "... with subresource \"status\"". */
static void print_manager(idp_buf *b, const mf_entry *m) {
  idp_buf_printf(b, "\"%s\"", m->manager);
  if (m->subresource) idp_buf_printf(b, " with subresource \"%s\"", m->subresource);
  if (strcmp(m->operation, "Update") == 0)
    idp_buf_printf(b, " using %s", m->api_version ? m->api_version : "");
}

typedef struct conflict_acc {
  json_t *arr;
  const mf_entry *m;
  idp_buf *text; /* "- path" lines for the message */
  size_t count;
  char first[512]; /* "conflict with ...: path" of the first one */
} conflict_acc;

static int add_conflict(const char *path, void *arg) {
  conflict_acc *a = arg;
  idp_buf who;
  idp_buf_init(&who, 4096);
  idp_buf_adds(&who, "conflict with ");
  print_manager(&who, a->m);
  json_t *o = json_object();
  json_object_set_new(o, "manager", json_string(a->m->manager));
  json_object_set_new(o, "operation", json_string(a->m->operation));
  if (a->m->api_version) json_object_set_new(o, "apiVersion", json_string(a->m->api_version));
  if (a->m->subresource) json_object_set_new(o, "subresource", json_string(a->m->subresource));
  json_object_set_new(o, "field", json_string(path));
  json_object_set_new(o, "message", json_string(idp_buf_str(&who)));
  json_array_append_new(a->arr, o);
  idp_buf_printf(a->text, "\n- %s", path);
  if (a->count++ == 0) snprintf(a->first, sizeof a->first, "%s: %s", idp_buf_str(&who), path);
  idp_buf_free(&who);
  return 0;
}

/* ---- server-side apply ------------------------------------------------------------------ */

static json_t *copy_without_managed_fields(const json_t *obj) {
  json_t *o = obj ? json_deep_copy(obj) : json_object();
  json_t *md = json_object_get(o, "metadata");
  if (json_is_object(md)) json_object_del(md, "managedFields");
  return o;
}

static const json_t *managed_fields_of(const json_t *obj) {
  return idp_json_get(obj, "metadata", "managedFields", NULL);
}

idp_code idp_ssa(const json_t *live, const json_t *applied, const char *group,
                 const char *kind, const char *manager, bool force, const char *now,
                 json_t **out, json_t **conflicts, idp_err *e) {
  return idp_ssa_ex(live, applied, group, kind, NULL, manager, force, now, out, conflicts, e);
}

idp_code idp_ssa_ex(const json_t *live, const json_t *applied, const char *group,
                    const char *kind, const json_t *schema, const char *manager, bool force,
                    const char *now, json_t **out, json_t **conflicts, idp_err *e) {
  *out = NULL;
  if (conflicts) *conflicts = NULL;
  if (!json_is_object(applied))
    return idp_err_set(e, IDP_EINVAL, "server-side apply: the configuration must be an object");
  if (!manager || !*manager)
    return idp_err_set(e, IDP_EINVAL, "server-side apply: fieldManager is required");
  if (live && !json_is_object(live))
    return idp_err_set(e, IDP_EINVAL, "server-side apply: the live object must be an object");

  ssa_ctx c;
  ctx_init(&c, group, kind, schema, e);
  mf_list ml = {0};
  json_t *live_obj = NULL, *cfg = NULL, *new_set = NULL, *merged = NULL, *last = NULL;
  json_t *changed = NULL;
  comparison cmp = {0};
  json_t **taken = NULL;
  idp_code rc = mf_parse(managed_fields_of(live), &ml, e);
  if (rc) goto done;
  live_obj = copy_without_managed_fields(live);
  cfg = copy_without_managed_fields(applied);
  rc = object_set(&c, cfg, true, &new_set);
  if (rc) goto done;
  patch_path_init(&c.path);
  merged = merge_object(&c, live_obj, cfg, &rc);
  if (!merged) {
    if (!rc) rc = idp_err_set(e, IDP_ENOMEM, "out of memory");
    goto done;
  }

  const char *api = json_string_value(json_object_get(cfg, "apiVersion"));
  mf_entry *self = mf_find(&ml, manager, "Apply", NULL);
  bool fresh = self == NULL;
  if (self) {
    last = self->set;
    self->set = json_incref(new_set);
    free(self->api_version);
    self->api_version = dup_or_null(api);
  } else {
    self = mf_add(&ml, manager, "Apply", api, NULL, NULL, json_incref(new_set));
    if (!self) {
      rc = idp_err_set(e, IDP_ENOMEM, "out of memory");
      goto done;
    }
  }
  size_t self_i = (size_t)(self - ml.v);

  /* Fields applied last time and not now go, unless someone else owns them. */
  if (last && !fs_is_empty(last)) {
    json_t *owned = json_object();
    for (size_t i = 0; i < ml.n; i++) {
      json_t *u = fs_union(owned, ml.v[i].set);
      json_decref(owned);
      owned = u;
    }
    json_t *rm = fs_difference(last, owned);
    json_decref(owned);
    patch_path_init(&c.path);
    prune_object(&c, merged, rm);
    json_decref(rm);
  }

  rc = compare(&c, live_obj, merged, &cmp);
  if (rc) goto done;
  changed = fs_union(cmp.modified, cmp.added);
  taken = calloc(ml.n + 1, sizeof *taken);
  if (!taken) {
    rc = idp_err_set(e, IDP_ENOMEM, "out of memory");
    goto done;
  }
  bool any = false;
  for (size_t i = 0; i < ml.n; i++) {
    if (i == self_i) continue;
    taken[i] = fs_intersection(ml.v[i].set, changed);
    if (!fs_is_empty(taken[i])) any = true;
  }
  if (any && !force) {
    json_t *arr = json_array();
    idp_buf text;
    idp_buf_init(&text, 1 << 16);
    size_t total = 0;
    char first[512] = "";
    /* grouped by manager, managers in name order */
    size_t *order = calloc(ml.n + 1, sizeof *order);
    size_t no = 0;
    for (size_t i = 0; i < ml.n; i++)
      if (taken[i] && !fs_is_empty(taken[i])) order[no++] = i;
    for (size_t a = 1; a < no; a++)
      for (size_t b = a; b > 0 && entry_cmp_manager(&ml.v[order[b - 1]], &ml.v[order[b]]) > 0; b--) {
        size_t t = order[b];
        order[b] = order[b - 1];
        order[b - 1] = t;
      }
    for (size_t j = 0; j < no; j++) {
      const mf_entry *m = &ml.v[order[j]];
      idp_buf_adds(&text, j ? "\nconflicts with " : "conflicts with ");
      print_manager(&text, m);
      idp_buf_addc(&text, ':');
      conflict_acc acc = {arr, m, &text, 0, {0}};
      fs_foreach_member(taken[order[j]], add_conflict, &acc);
      if (!total) snprintf(first, sizeof first, "%s", acc.first);
      total += acc.count;
    }
    free(order);
    if (total == 1)
      idp_err_set(e, IDP_ECONFLICT, "Apply failed with 1 conflict: %s", first);
    else
      idp_err_set(e, IDP_ECONFLICT, "Apply failed with %zu conflicts: %s", total,
                  idp_buf_str(&text));
    idp_buf_free(&text);
    if (conflicts) *conflicts = arr;
    else json_decref(arr);
    rc = IDP_ECONFLICT;
    goto done;
  }
  for (size_t i = 0; i < ml.n; i++) {
    if (i == self_i) continue;
    json_t *s = fs_difference(ml.v[i].set, taken[i]);
    json_t *s2 = fs_difference(s, cmp.removed);
    json_decref(s);
    json_decref(ml.v[i].set);
    ml.v[i].set = s2;
  }
  if (fresh || !idp_json_equal(live_obj, merged)) {
    free(self->time);
    self->time = dup_or_null(now);
  }
  mf_store(&ml, merged);
  *out = merged;
  merged = NULL;
done:
  if (taken) {
    for (size_t i = 0; i < ml.n; i++) json_decref(taken[i]);
    free(taken);
  }
  mf_free(&ml);
  comparison_free(&cmp);
  json_decref(changed);
  json_decref(last);
  json_decref(new_set);
  json_decref(live_obj);
  json_decref(cfg);
  json_decref(merged);
  json_decref(c.interned);
  return rc;
}

/* ---- Update bookkeeping -------------------------------------------------------------------- */

idp_code idp_managed_fields_update(const json_t *old, json_t *obj, const char *group,
                                   const char *kind, const char *manager, const char *now,
                                   idp_err *e) {
  return idp_managed_fields_update_ex(old, obj, group, kind, NULL, manager, now, e);
}

idp_code idp_managed_fields_update_ex(const json_t *old, json_t *obj, const char *group,
                                      const char *kind, const json_t *schema,
                                      const char *manager, const char *now, idp_err *e) {
  if (!json_is_object(obj))
    return idp_err_set(e, IDP_EINVAL, "managedFields: the object must be an object");
  if (!manager || !*manager)
    return idp_err_set(e, IDP_EINVAL, "managedFields: a field manager is required");
  ssa_ctx c;
  ctx_init(&c, group, kind, schema, e);
  mf_list ml = {0};
  comparison cmp = {0};
  json_t *changed = NULL, *old_obj = NULL, *new_obj = NULL;
  const json_t *own = managed_fields_of(obj);
  idp_code rc = mf_parse(json_is_array(own) && json_array_size(own) ? own : managed_fields_of(old),
                         &ml, e);
  if (rc) goto done;
  old_obj = copy_without_managed_fields(old);
  new_obj = copy_without_managed_fields(obj);
  rc = compare(&c, old_obj, new_obj, &cmp);
  if (rc) goto done;
  changed = fs_union(cmp.modified, cmp.added);
  for (size_t i = 0; i < ml.n; i++) {
    json_t *s = fs_difference(ml.v[i].set, changed);
    json_t *s2 = fs_difference(s, cmp.removed);
    json_decref(s);
    json_decref(ml.v[i].set);
    ml.v[i].set = s2;
  }
  const char *api = json_string_value(json_object_get(obj, "apiVersion"));
  if (!fs_is_empty(changed)) {
    mf_entry *self = mf_find(&ml, manager, "Update", api);
    if (!self) self = mf_add(&ml, manager, "Update", api, NULL, NULL, json_object());
    if (!self) {
      rc = idp_err_set(e, IDP_ENOMEM, "out of memory");
      goto done;
    }
    json_t *u = fs_union(self->set, changed);
    json_decref(self->set);
    self->set = u;
    free(self->time);
    self->time = dup_or_null(now);
  }
  mf_store(&ml, obj);
done:
  mf_free(&ml);
  comparison_free(&cmp);
  json_decref(changed);
  json_decref(old_obj);
  json_decref(new_obj);
  json_decref(c.interned);
  return rc;
}
