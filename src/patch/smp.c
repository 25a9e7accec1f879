/* smp.c: Kubernetes strategic merge patch, following apimachinery's
 * strategicpatch.StrategicMergePatch as the API server runs it
 * (MergeParallelList and IgnoreUnmatchedNulls both on). */
#include "core/common.h"
#include "patch/internal.h"
#include "patch/patch.h"

#define DIRECTIVE "$patch"
#define RETAIN_KEYS "$retainKeys"
#define SET_ORDER_PREFIX "$setElementOrder/"
#define DELETE_PRIMITIVE_PREFIX "$deleteFromPrimitiveList/"
#define SMP_MAX_DEPTH 128

typedef struct smp_ctx {
  const char *root;
  idp_smp_order order;
  patch_path path;
  int depth;
  idp_err *e;
} smp_ctx;

static const char *where(const smp_ctx *c) {
  const char *p = patch_path_str(&c->path);
  return p ? (*p ? p : "<root>") : "<deep path>";
}

static const patch_field *field_at(smp_ctx *c) {
  const char *p = patch_path_str(&c->path);
  return p ? patch_schema_field(c->root, p) : NULL;
}

static bool is_merge_list(const patch_field *f) {
  return f && f->is_list && f->smp_strategy && strstr(f->smp_strategy, "merge");
}

static json_t *merge_map(smp_ctx *c, json_t *orig, json_t *patch, idp_code *rc);
static json_t *merge_slice(smp_ctx *c, const json_t *orig, const json_t *patch,
                           const char *key, bool delete_list, idp_code *rc);

/* What a patch value becomes where the target has nothing (or a value of
 * another type): maps and merge lists are merged into emptiness so their
 * directives and nulls are resolved, other values are copied. */
static json_t *fresh_value(smp_ctx *c, const json_t *v, idp_code *rc) {
  if (json_is_object(v)) {
    json_t *empty = json_object();
    json_t *r = merge_map(c, empty, json_deep_copy(v), rc);
    json_decref(empty);
    return r;
  }
  if (json_is_array(v)) {
    const patch_field *f = field_at(c);
    if (is_merge_list(f)) {
      json_t *empty = json_array();
      json_t *r = merge_slice(c, empty, v, f->smp_key, false, rc);
      json_decref(empty);
      return r;
    }
  }
  return patch_copy_without_nulls(v);
}

/* Go decodes every JSON number as float64, so 1 and 1.0 are one type. */
static int go_kind(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_INTEGER:
  case JSON_REAL: return 1;
  case JSON_TRUE:
  case JSON_FALSE: return 2;
  default: return (int)json_typeof(v) + 10;
  }
}

/* ---- list ordering (apimachinery normalizeElementOrder) ----------------- */

static const json_t *item_id(const json_t *item, const char *key) {
  return key ? json_object_get(item, key) : item;
}

static long index_of(const json_t *list, const json_t *item, const char *key) {
  const json_t *id = item_id(item, key);
  if (!id) return -1;
  for (size_t i = 0; i < json_array_size(list); i++) {
    const json_t *o = item_id(json_array_get(list, i), key);
    if (o && idp_json_equal(o, id)) return (long)i;
  }
  return -1;
}

/* One item during ordering, with its positions looked up once. */
typedef struct ord_item {
  json_t *item;
  long order_idx;  /* in the patch (or $setElementOrder) list; LONG_MAX if absent */
  long server_idx; /* in the live list, -1 if absent */
  size_t pos;      /* tie-breaker: keeps the sort stable */
} ord_item;

static int by_order(const void *pa, const void *pb) {
  const ord_item *a = pa, *b = pb;
  if (a->order_idx != b->order_idx) return a->order_idx < b->order_idx ? -1 : 1;
  return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* Items of `merged` named in `order_list` come in that order; the others
 * (server-only) keep their live order and are interleaved: one goes first
 * only when both it and the next patch item are in the live list and it
 * comes earlier there (apimachinery normalizeElementOrder +
 * mergeSortedSlice).  New list. */
static json_t *normalize_order(const smp_ctx *c, const json_t *merged,
                               const json_t *order_list, const json_t *server_order,
                               const char *key) {
  size_t n = json_array_size(merged);
  ord_item *p = calloc(n + 1, sizeof *p), *srv = calloc(n + 1, sizeof *srv);
  json_t *out = json_array();
  if (!p || !srv) {
    free(p);
    free(srv);
    json_decref(out);
    return json_deep_copy(merged);
  }
  size_t np = 0, ns = 0;
  for (size_t i = 0; i < n; i++) {
    json_t *x = json_array_get(merged, i);
    long oi = index_of(order_list, x, key);
    long si = index_of(server_order, x, key);
    if (oi >= 0) p[np++] = (ord_item){x, oi, si, i};
    else srv[ns++] = (ord_item){x, si < 0 ? LONG_MAX : si, si, i};
  }
  idp_sort(p, np, sizeof *p, by_order);
  idp_sort(srv, ns, sizeof *srv, by_order);
  size_t i = 0, j = 0;
  while (i < ns || j < np) {
    bool left;
    if (i >= ns) left = false;
    else if (j >= np) left = true;
    else if (c->order == IDP_SMP_ORDER_KUSTOMIZE) left = false;
    else left = srv[i].server_idx >= 0 && p[j].server_idx >= 0 &&
                srv[i].server_idx < p[j].server_idx;
    json_array_append(out, left ? srv[i++].item : p[j++].item);
  }
  free(p);
  free(srv);
  return out;
}

/* ---- lists -------------------------------------------------------------- */

/* 0 empty, 1 all objects, 2 all scalars, -1 mixed or nested lists. */
static int element_class(const json_t *a, const json_t *b) {
  int cls = 0, kind = 0;
  const json_t *lists[2] = {a, b};
  for (int l = 0; l < 2; l++) {
    size_t i;
    json_t *x;
    json_array_foreach(lists[l], i, x) {
      if (json_is_array(x)) return -1;
      int k = go_kind(x);
      if (kind && k != kind) return -1;
      kind = k;
      cls = json_is_object(x) ? 1 : 2;
    }
  }
  return cls;
}

static json_t *merge_slice(smp_ctx *c, const json_t *orig, const json_t *patch,
                           const char *key, bool delete_list, idp_code *rc) {
  if (json_array_size(orig) == 0 && json_array_size(patch) == 0) return json_array();
  int cls = element_class(orig, patch);
  if (cls < 0) {
    *rc = idp_err_set(c->e, IDP_EINVAL,
                      "strategic merge patch: %s: list elements must all have one type",
                      where(c));
    return NULL;
  }
  if (cls == 2) {
    json_t *merged = json_array();
    size_t i;
    json_t *x;
    if (delete_list) {
      json_array_foreach(orig, i, x) {
        if (index_of(patch, x, NULL) < 0) json_array_append(merged, x);
      }
      return merged;
    }
    const json_t *both[2] = {orig, patch};
    for (int l = 0; l < 2; l++)
      json_array_foreach(both[l], i, x) {
        if (index_of(merged, x, NULL) < 0) json_array_append_new(merged, json_deep_copy(x));
      }
    json_t *out = normalize_order(c, merged, patch, orig, NULL);
    json_decref(merged);
    return out;
  }
  if (!key) {
    *rc = idp_err_set(c->e, IDP_EINVAL,
                      "strategic merge patch: %s: cannot merge a list of objects without a "
                      "merge key", where(c));
    return NULL;
  }
  /* $patch elements: delete by key, replace the whole list. */
  json_t *base = json_deep_copy(orig);
  json_t *items = json_array();
  bool replace = false;
  size_t i;
  json_t *x;
  json_array_foreach(patch, i, x) {
    json_t *d = json_object_get(x, DIRECTIVE);
    if (!d) {
      json_array_append(items, x);
      continue;
    }
    const char *ds = json_string_value(d);
    if (ds && strcmp(ds, "delete") == 0) {
      json_t *kv = json_object_get(x, key);
      if (!kv) {
        *rc = idp_err_set(c->e, IDP_EINVAL,
                          "strategic merge patch: %s[%zu]: $patch: delete needs the merge "
                          "key \"%s\"", where(c), i, key);
        goto fail;
      }
      for (size_t k = json_array_size(base); k-- > 0;) {
        json_t *o = json_object_get(json_array_get(base, k), key);
        if (o && idp_json_equal(o, kv)) json_array_remove(base, k);
      }
    } else if (ds && strcmp(ds, "replace") == 0) {
      replace = true;
    } else if (ds && strcmp(ds, "merge") == 0) {
      /* the default; nothing to do */
    } else {
      *rc = idp_err_set(c->e, IDP_EINVAL, "strategic merge patch: %s[%zu]: unknown $patch "
                        "directive (want replace, delete or merge)", where(c), i);
      goto fail;
    }
  }
  if (replace) {
    json_decref(base);
    base = json_array();
    json_array_foreach(items, i, x) json_array_append_new(base, patch_copy_without_nulls(x));
    json_decref(items);
    items = json_array();
  }
  json_t *server_order = json_deep_copy(base);
  json_array_foreach(items, i, x) {
    json_t *kv = json_object_get(x, key);
    if (!kv) {
      *rc = idp_err_set(c->e, IDP_EINVAL,
                        "strategic merge patch: %s[%zu]: list item has no merge key \"%s\"",
                        where(c), i, key);
      json_decref(server_order);
      goto fail;
    }
    long at = index_of(base, x, key);
    json_t *m;
    if (at >= 0) {
      m = merge_map(c, json_array_get(base, (size_t)at), json_deep_copy(x), rc);
      if (!m) {
        json_decref(server_order);
        goto fail;
      }
      json_array_set_new(base, (size_t)at, m);
    } else {
      json_t *empty = json_object();
      m = merge_map(c, empty, json_deep_copy(x), rc);
      json_decref(empty);
      if (!m) {
        json_decref(server_order);
        goto fail;
      }
      json_array_append_new(base, m);
    }
  }
  json_t *out = normalize_order(c, base, items, server_order, key);
  json_decref(server_order);
  json_decref(base);
  json_decref(items);
  return out;
fail:
  json_decref(base);
  json_decref(items);
  return NULL;
}

/* ---- maps ---------------------------------------------------------------- */

static bool apply_retain_keys(smp_ctx *c, json_t *orig, json_t *patch, idp_code *rc) {
  json_t *keep = json_object_get(patch, RETAIN_KEYS);
  if (!keep) return true;
  if (!json_is_array(keep)) {
    *rc = idp_err_set(c->e, IDP_EINVAL, "strategic merge patch: %s: $retainKeys must be a "
                      "list of field names", where(c));
    return false;
  }
  size_t i;
  json_t *x;
  json_array_foreach(keep, i, x) {
    if (!json_is_string(x)) {
      *rc = idp_err_set(c->e, IDP_EINVAL, "strategic merge patch: %s: $retainKeys[%zu] is not "
                        "a string", where(c), i);
      return false;
    }
  }
  const char *k;
  json_t *v;
  void *tmp;
  json_object_foreach_safe(orig, tmp, k, v) {
    bool listed = false;
    json_array_foreach(keep, i, x) {
      if (strcmp(json_string_value(x), k) == 0) listed = true;
    }
    if (!listed) json_object_del(orig, k);
  }
  json_object_del(patch, RETAIN_KEYS);
  return true;
}

/* $setElementOrder/<field>: merges <field> and orders it as the directive
 * says; both keys leave the patch. */
static bool apply_set_order(smp_ctx *c, json_t *orig, json_t *patch, idp_code *rc) {
  /* Collect the directive keys first: handling one deletes two keys. */
  json_t *directives = json_array();
  const char *dk;
  json_t *dv;
  size_t pl = strlen(SET_ORDER_PREFIX);
  json_object_foreach(patch, dk, dv) {
    if (strncmp(dk, SET_ORDER_PREFIX, pl) == 0) json_array_append_new(directives, json_string(dk));
  }
  size_t di;
  json_t *dname;
  json_array_foreach(directives, di, dname) {
    const char *k = json_string_value(dname);
    json_t *v = json_object_get(patch, k);
    char *field = strdup(k + pl);
    if (!field) {
      *rc = idp_err_set(c->e, IDP_ENOMEM, "out of memory");
      json_decref(directives);
      return false;
    }
    size_t mark = patch_path_push(&c->path, field);
    if (!json_is_array(v)) {
      *rc = idp_err_set(c->e, IDP_EINVAL, "strategic merge patch: %s: %s must be a list",
                        where(c), k);
      patch_path_pop(&c->path, mark);
      free(field);
      json_decref(directives);
      return false;
    }
    const patch_field *f = field_at(c);
    const char *key = f ? f->smp_key : NULL;
    json_t *ov = json_object_get(orig, field);
    json_t *pv = json_object_get(patch, field);
    json_t *olist = json_is_array(ov) ? json_incref(ov) : json_array();
    json_t *plist = json_is_array(pv) ? json_incref(pv) : json_array();
    json_t *merged;
    if (is_merge_list(f)) merged = merge_slice(c, olist, plist, key, false, rc);
    else merged = json_deep_copy(pv ? plist : olist);
    if (merged) {
      json_t *ordered = normalize_order(c, merged, v, olist, key);
      json_decref(merged);
      if (ov || pv || json_array_size(ordered)) json_object_set_new(orig, field, ordered);
      else json_decref(ordered);
    }
    json_decref(olist);
    json_decref(plist);
    patch_path_pop(&c->path, mark);
    if (!merged) {
      free(field);
      json_decref(directives);
      return false;
    }
    json_object_del(patch, field);
    json_object_del(patch, k);
    free(field);
  }
  json_decref(directives);
  return true;
}

/* Merges patch (owned, consumed) into orig (borrowed, modified); returns a
 * new reference, NULL with *rc set on error. */
static json_t *merge_map(smp_ctx *c, json_t *orig, json_t *patch, idp_code *rc) {
  if (++c->depth > SMP_MAX_DEPTH) {
    c->depth--;
    json_decref(patch);
    *rc = idp_err_set(c->e, IDP_EINVAL, "strategic merge patch: %s: nested too deeply",
                      where(c));
    return NULL;
  }
  json_t *result = NULL;
  json_t *d = json_object_get(patch, DIRECTIVE);
  if (d) {
    const char *ds = json_string_value(d);
    if (ds && strcmp(ds, "replace") == 0) {
      json_object_del(patch, DIRECTIVE);
      result = patch_copy_without_nulls(patch);
      goto done;
    }
    if (ds && strcmp(ds, "delete") == 0) {
      result = json_object();
      goto done;
    }
    if (!ds || strcmp(ds, "merge") != 0) {
      *rc = idp_err_set(c->e, IDP_EINVAL, "strategic merge patch: %s: unknown $patch "
                        "directive (want replace, delete or merge)", where(c));
      goto done;
    }
    json_object_del(patch, DIRECTIVE);
  }
  if (!apply_retain_keys(c, orig, patch, rc) || !apply_set_order(c, orig, patch, rc))
    goto done;

  const char *k;
  json_t *pv;
  json_object_foreach(patch, k, pv) {
    const char *name = k;
    bool delete_list = false;
    size_t dl = strlen(DELETE_PRIMITIVE_PREFIX);
    if (strncmp(k, DELETE_PRIMITIVE_PREFIX, dl) == 0) {
      name = k + dl;
      delete_list = true;
    }
    if (json_is_null(pv)) {
      json_object_del(orig, name);
      continue;
    }
    size_t mark = patch_path_push(&c->path, name);
    json_t *ov = json_object_get(orig, name);
    json_t *nv = NULL;
    bool ok = true;
    if (!ov || go_kind(ov) != go_kind(pv)) {
      if (!delete_list) {
        nv = fresh_value(c, pv, rc);
        ok = nv != NULL;
      }
    } else if (json_is_object(ov)) {
      const patch_field *f = field_at(c);
      if (f && !f->is_list && f->smp_strategy && strcmp(f->smp_strategy, "replace") == 0) {
        nv = patch_copy_without_nulls(pv);
      } else {
        nv = merge_map(c, ov, json_deep_copy(pv), rc);
        ok = nv != NULL;
      }
    } else if (json_is_array(ov)) {
      const patch_field *f = field_at(c);
      if (is_merge_list(f) || delete_list) {
        nv = merge_slice(c, ov, pv, f ? f->smp_key : NULL, delete_list, rc);
        ok = nv != NULL;
      } else {
        nv = patch_copy_without_nulls(pv);
      }
    } else if (!delete_list) {
      nv = json_deep_copy(pv);
    }
    patch_path_pop(&c->path, mark);
    if (!ok) goto done;
    if (nv) json_object_set_new(orig, name, nv);
  }
  result = json_incref(orig);
done:
  c->depth--;
  json_decref(patch);
  return result;
}

idp_code idp_smp(const json_t *target, const json_t *patch, const char *group,
                 const char *kind, json_t **out, idp_err *e) {
  return idp_smp_ex(target, patch, group, kind, IDP_SMP_ORDER_APISERVER, out, e);
}

idp_code idp_smp_ex(const json_t *target, const json_t *patch, const char *group,
                    const char *kind, idp_smp_order order, json_t **out, idp_err *e) {
  *out = NULL;
  if (!json_is_object(patch))
    return idp_err_set(e, IDP_EINVAL, "strategic merge patch: the patch must be a JSON object");
  if (target && !json_is_object(target))
    return idp_err_set(e, IDP_EINVAL, "strategic merge patch: the target must be an object");
  smp_ctx c = {patch_schema_root(group, kind), order, {{0}, 0, 0}, 0, e};
  patch_path_init(&c.path);
  json_t *orig = target ? json_deep_copy(target) : json_object();
  idp_code rc = IDP_OK;
  json_t *r = merge_map(&c, orig, json_deep_copy(patch), &rc);
  json_decref(orig);
  if (!r) return rc ? rc : idp_err_set(e, IDP_EINTERNAL, "strategic merge patch failed");
  *out = r;
  return IDP_OK;
}
