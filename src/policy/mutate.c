/* mutate.c: patchStrategicMerge with anchors, and patchesJson6902.
 *
 * Strategic merge follows Kyverno: the patch is first preprocessed against
 * the resource (pkg/engine/mutate/patch/strategicPreprocessing.go):
 * `+(k)` keys are dropped when the resource has k and unwrapped otherwise,
 * conditional `(k)` and global `<(k)` anchors are checked with validate
 * semantics (a failing condition skips the patch, or only that list element
 * for lists of maps, where the surviving elements are re-keyed by the
 * resource element's name), and anchors are then removed.  The cleaned patch
 * is merged the way kustomize's kyaml merge2 does it (Kyverno's merger):
 * maps merge, null deletes, lists with a merge key (the built-in table of
 * src/patch, or kyaml's associative-key inference) merge element-wise
 * keeping the resource's order and appending new elements, other lists are
 * replaced; `$patch: delete` removes a map or list element and
 * `$patch: replace` replaces instead of merging. */
#include "core/common.h"

#include "core/json.h"
#include "core/yaml.h"
#include "patch/patch.h"
#include "policy/internal.h"

typedef enum { PP_OK = 0, PP_COND, PP_GLOBAL, PP_ERR } pp_rc;

static bool contains_condition(pol_anchor a) {
  return a == POL_A_COND || a == POL_A_GLOBAL || a == POL_A_EQUAL || a == POL_A_NEG ||
         a == POL_A_EXIST;
}
static bool has_anchor_kind(pol_anchor a) { return contains_condition(a) || a == POL_A_ADD; }

static bool has_anchors(const json_t *p, bool (*pred)(pol_anchor)) {
  if (json_is_object(p)) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)p, k, v) {
      pol_anchor a = pol_anchor_parse(k, NULL, NULL);
      if (a != POL_A_NONE && pred(a)) return true;
      if (has_anchors(v, pred)) return true;
    }
    return false;
  }
  if (json_is_array(p)) {
    for (size_t i = 0; i < json_array_size(p); i++)
      if (has_anchors(json_array_get(p, i), pred)) return true;
    return false;
  }
  if (json_is_string(p)) {
    pol_anchor a = pol_anchor_parse(json_string_value(p), NULL, NULL);
    return a != POL_A_NONE && contains_condition(a);
  }
  return false;
}
static bool is_global(pol_anchor a) { return a == POL_A_GLOBAL; }

static char *anchor_key(const char *k) {
  const char *key;
  size_t n;
  if (pol_anchor_parse(k, &key, &n) == POL_A_NONE) return strdup(k);
  return strndup(key, n);
}

/* Renames key `from` to `to` in place, keeping the position. */
static void rename_key(json_t *obj, const char *from, const char *to) {
  json_t *copy = json_object();
  const char *k;
  json_t *v;
  json_object_foreach(obj, k, v) {
    json_object_set(copy, strcmp(k, from) == 0 ? to : k, v);
  }
  json_object_clear(obj);
  json_object_update(obj, copy);
  json_decref(copy);
}

static int handle_add_if_absent(json_t *pat, const json_t *res) {
  if (!json_is_object(pat)) return 0;
  int count = 0;
  const char *k;
  json_t *v;
  /* collect first: renaming while iterating is not safe */
  json_t *keys = json_array();
  json_object_foreach(pat, k, v) {
    if (pol_anchor_parse(k, NULL, NULL) == POL_A_ADD) json_array_append_new(keys, json_string(k));
  }
  for (size_t i = 0; i < json_array_size(keys); i++) {
    const char *ak = json_string_value(json_array_get(keys, i));
    char *key = anchor_key(ak);
    if (json_is_object(res) && json_object_get(res, key))
      json_object_del(pat, ak);
    else
      rename_key(pat, ak, key);
    free(key);
    count++;
  }
  json_decref(keys);
  return count;
}

static pp_rc validate_conditions_of(json_t *pat, const json_t *res, bool global) {
  if (!json_is_object(pat)) return PP_OK;
  const char *k;
  json_t *v;
  json_object_foreach(pat, k, v) {
    pol_anchor a = pol_anchor_parse(k, NULL, NULL);
    if (global ? a != POL_A_GLOBAL : a != POL_A_COND) continue;
    char *key = anchor_key(k);
    const json_t *rv = json_is_object(res) ? json_object_get(res, key) : NULL;
    free(key);
    if (!rv) return global ? PP_GLOBAL : PP_COND;
    if (handle_add_if_absent(v, rv) > 0) continue;
    if (pol_match_pattern(rv, v, NULL, 0) != 0) return global ? PP_GLOBAL : PP_COND;
  }
  return PP_OK;
}

static pp_rc pre_recursive(json_t *pat, const json_t *res);

/* Drops anchors; returns true when the node should be deleted. */
static bool delete_anchors(json_t *node, bool delete_scalar, bool traverse_maps);

static bool delete_anchors_in_map(json_t *node, bool traverse) {
  json_t *keys = json_array();
  const char *k;
  json_t *v;
  json_object_foreach(node, k, v) {
    pol_anchor a = pol_anchor_parse(k, NULL, NULL);
    if (a != POL_A_NONE && contains_condition(a)) json_array_append_new(keys, json_string(k));
  }
  bool anchors_exist = false;
  for (size_t i = 0; i < json_array_size(keys); i++) {
    const char *ak = json_string_value(json_array_get(keys, i));
    if (delete_anchors(json_object_get(node, ak), true, traverse))
      json_object_del(node, ak);
    else
      anchors_exist = true;
  }
  json_decref(keys);
  if (anchors_exist) {
    json_t *ks = json_array();
    json_object_foreach(node, k, v) {
      pol_anchor a = pol_anchor_parse(k, NULL, NULL);
      if (a != POL_A_NONE && contains_condition(a)) json_array_append_new(ks, json_string(k));
    }
    for (size_t i = 0; i < json_array_size(ks); i++) {
      const char *ak = json_string_value(json_array_get(ks, i));
      char *key = anchor_key(ak);
      rename_key(node, ak, key);
      free(key);
    }
    json_decref(ks);
  }
  bool need_delete = true;
  json_t *all = json_array();
  json_object_foreach(node, k, v) { json_array_append_new(all, json_string(k)); }
  for (size_t i = 0; i < json_array_size(all); i++) {
    const char *fk = json_string_value(json_array_get(all, i));
    if (delete_anchors(json_object_get(node, fk), false, traverse))
      json_object_del(node, fk);
    else
      need_delete = false;
  }
  json_decref(all);
  return need_delete;
}

static bool delete_anchors_in_list(json_t *node, bool traverse) {
  size_t n = json_array_size(node);
  bool was_empty = n == 0;
  /* Kyverno decides on the original elements but deletes by index from
   * the shrinking list; keep that behaviour. */
  json_t *orig = json_copy(node);
  for (size_t i = 0; i < n; i++) {
    json_t *el = json_array_get(orig, i);
    bool del;
    if (has_anchors(el, has_anchor_kind)) {
      del = true;
      if (traverse && json_is_object(el)) del = delete_anchors(el, true, traverse);
    } else {
      del = delete_anchors(el, false, traverse);
    }
    if (del && i < json_array_size(node)) json_array_remove(node, i);
  }
  json_decref(orig);
  return json_array_size(node) == 0 && !was_empty;
}

static bool delete_anchors(json_t *node, bool delete_scalar, bool traverse) {
  if (json_is_object(node)) return delete_anchors_in_map(node, traverse);
  if (json_is_array(node)) return delete_anchors_in_list(node, traverse);
  return delete_scalar;
}

static pp_rc process_list_of_maps(json_t *pat, const json_t *res) {
  size_t n = json_array_size(pat);
  for (size_t i = 0; i < n; i++) {
    json_t *pel = json_array_get(pat, i);
    if (!has_anchors(pel, has_anchor_kind)) continue;
    bool has_global = has_anchors(pel, is_global);
    bool any_global_passed = false;
    pp_rc last_global = PP_OK;
    json_t *copy = json_deep_copy(pel);
    for (size_t j = 0; j < json_array_size(res); j++) {
      const json_t *rel = json_array_get(res, j);
      pp_rc r = pre_recursive(copy, rel);
      if (r == PP_COND) continue;
      if (r == PP_GLOBAL) {
        last_global = r;
        continue;
      }
      if (r != PP_OK) {
        json_decref(copy);
        return r;
      }
      if (has_global) {
        any_global_passed = true;
      } else {
        const json_t *name = json_object_get(rel, "name");
        if (!name || json_is_null(name) || (json_is_string(name) && !json_string_length(name)))
          continue;
        json_t *nn = json_deep_copy(copy);
        if (delete_anchors(nn, true, false)) {
          json_decref(nn);
          continue;
        }
        json_object_set(nn, "name", (json_t *)name);
        json_array_append_new(pat, nn);
      }
    }
    if (!res) {
      pp_rc r = pre_recursive(copy, NULL);
      if (r == PP_COND) {
        json_decref(copy);
        continue;
      }
      if (r != PP_OK) {
        json_decref(copy);
        return r;
      }
      if (has_global) any_global_passed = true;
    }
    json_decref(copy);
    if (!any_global_passed && last_global != PP_OK) return last_global;
  }
  return PP_OK;
}

static pp_rc pre_recursive(json_t *pat, const json_t *res) {
  if (json_is_object(pat)) {
    handle_add_if_absent(pat, res);
    pp_rc r = validate_conditions_of(pat, res, true);
    if (r != PP_OK) return PP_GLOBAL;
    r = validate_conditions_of(pat, res, false);
    if (r != PP_OK) return PP_COND;
    json_t *keys = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(pat, k, v) {
      pol_anchor a = pol_anchor_parse(k, NULL, NULL);
      if (a == POL_A_NONE || !has_anchor_kind(a)) json_array_append_new(keys, json_string(k));
    }
    for (size_t i = 0; i < json_array_size(keys); i++) {
      const char *f = json_string_value(json_array_get(keys, i));
      const json_t *rv = json_is_object(res) ? json_object_get(res, f) : NULL;
      r = pre_recursive(json_object_get(pat, f), rv);
      if (r != PP_OK) {
        json_decref(keys);
        return r;
      }
    }
    json_decref(keys);
    return PP_OK;
  }
  if (json_is_array(pat) && json_array_size(pat) > 0 && json_is_object(json_array_get(pat, 0)))
    return process_list_of_maps(pat, json_is_array(res) ? res : NULL);
  return PP_OK;
}

/* ---- kyaml merge2 ---- */

static const char *const assoc_keys[] = {"mountPath", "devicePath", "ip", "type",
                                         "topologyKey", "name", "containerPort"};

static const char *infer_key(const json_t *a, const json_t *b) {
  for (size_t k = 0; k < IDP_ARRAY_LEN(assoc_keys); k++) {
    bool all = json_array_size(a) + json_array_size(b) > 0;
    const json_t *lists[2] = {a, b};
    for (size_t l = 0; l < 2 && all; l++)
      for (size_t i = 0; i < json_array_size(lists[l]) && all; i++) {
        const json_t *el = json_array_get(lists[l], i);
        if (!json_is_object(el) || !json_object_get(el, assoc_keys[k])) all = false;
      }
    if (all) return assoc_keys[k];
  }
  return NULL;
}

static json_t *strip_nulls(const json_t *v) {
  if (json_is_object(v)) {
    json_t *o = json_object();
    const char *k;
    json_t *c;
    json_object_foreach((json_t *)v, k, c) {
      if (!json_is_null(c) && strcmp(k, "$patch") != 0) json_object_set_new(o, k, strip_nulls(c));
    }
    return o;
  }
  if (json_is_array(v)) {
    json_t *a = json_array();
    for (size_t i = 0; i < json_array_size(v); i++)
      json_array_append_new(a, strip_nulls(json_array_get(v, i)));
    return a;
  }
  return json_deep_copy(v);
}

typedef struct {
  const char *group, *kind;
} merge_ctx;

static json_t *merge(const merge_ctx *mc, const json_t *dest, const json_t *src, const char *path);

static json_t *merge_list(const merge_ctx *mc, const json_t *dest, const json_t *src,
                          const char *path) {
  const char *key = NULL, *strategy = NULL;
  bool known = idp_smp_list_info(mc->group, mc->kind, path, &key, &strategy);
  if (!known || !key) key = infer_key(dest, src);
  if (!key) return strip_nulls(src);
  json_t *out = json_deep_copy(dest);
  for (size_t i = 0; i < json_array_size(src); i++) {
    const json_t *se = json_array_get(src, i);
    const json_t *sk = json_object_get(se, key);
    bool merged = false;
    const char *directive = idp_json_get_str(se, "$patch", NULL);
    for (size_t j = 0; sk && j < json_array_size(out); j++) {
      json_t *de = json_array_get(out, j);
      if (pol_json_equal(json_object_get(de, key), sk)) {
        if (directive && strcmp(directive, "delete") == 0) {
          json_array_remove(out, j); /* $patch: delete removes the element */
        } else {
          char sub[1024];
          snprintf(sub, sizeof sub, "%s", path);
          json_array_set_new(out, j, merge(mc, de, se, sub));
        }
        merged = true;
        break;
      }
    }
    if (!merged && !(directive && strcmp(directive, "delete") == 0))
      json_array_append_new(out, strip_nulls(se));
  }
  return out;
}

static json_t *merge(const merge_ctx *mc, const json_t *dest, const json_t *src, const char *path) {
  if (json_is_object(src)) {
    const char *directive = idp_json_get_str(src, "$patch", NULL);
    if (directive && strcmp(directive, "replace") == 0) { /* $patch: replace */
      json_t *r = strip_nulls(src);
      json_object_del(r, "$patch");
      return r;
    }
    if (!json_is_object(dest)) return strip_nulls(src);
    json_t *out = json_deep_copy(dest);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)src, k, v) {
      if (strcmp(k, "$patch") == 0) continue;
      const char *cd = idp_json_get_str(v, "$patch", NULL);
      if (json_is_null(v) || (cd && strcmp(cd, "delete") == 0)) {
        json_object_del(out, k);
        continue;
      }
      char sub[1024];
      snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", k);
      const json_t *d = json_object_get(out, k);
      json_object_set_new(out, k, d ? merge(mc, d, v, sub) : strip_nulls(v));
    }
    return out;
  }
  if (json_is_array(src)) {
    if (!json_is_array(dest)) return strip_nulls(src);
    return merge_list(mc, dest, src, path);
  }
  return json_deep_copy(src);
}

json_t *pol_mutate_smp(const json_t *resource, const json_t *patch, bool *skipped, idp_err *e) {
  *skipped = false;
  json_t *pat = json_deep_copy(patch);
  pp_rc r = pre_recursive(pat, resource);
  if (r == PP_COND || r == PP_GLOBAL) {
    json_decref(pat);
    *skipped = true;
    return json_deep_copy(resource);
  }
  if (r != PP_OK) {
    json_decref(pat);
    idp_err_set(e, IDP_EINVALID, "failed to preprocess the strategic merge patch");
    return NULL;
  }
  /* deleteConditionElements on the top level */
  if (json_is_object(pat)) {
    json_t *keys = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(pat, k, v) { json_array_append_new(keys, json_string(k)); }
    for (size_t i = 0; i < json_array_size(keys); i++) {
      const char *f = json_string_value(json_array_get(keys, i));
      pol_anchor a = pol_anchor_parse(f, NULL, NULL);
      bool del_scalar = a != POL_A_NONE && contains_condition(a);
      if (delete_anchors(json_object_get(pat, f), del_scalar, false)) json_object_del(pat, f);
    }
    json_decref(keys);
  }
  char group[256] = "";
  const char *av = idp_json_get_str(resource, "apiVersion", NULL);
  const char *sl = av ? strchr(av, '/') : NULL;
  if (sl) snprintf(group, sizeof group, "%.*s", (int)(sl - av), av);
  merge_ctx mc = {group, idp_json_get_str(resource, "kind", NULL)};
  if (!mc.kind) mc.kind = "";
  json_t *out = merge(&mc, resource, pat, "");
  json_decref(pat);
  return out;
}

/* Does the RFC 6901 pointer resolve in doc? */
static json_t *pointer_get(json_t *doc, const char *ptr, bool create_parents) {
  if (!*ptr) return doc;
  json_t *cur = doc;
  const char *p = ptr + 1;
  while (cur) {
    const char *sl = strchr(p, '/');
    size_t n = sl ? (size_t)(sl - p) : strlen(p);
    char tok[512];
    size_t t = 0;
    for (size_t i = 0; i < n && t < sizeof tok - 1; i++) {
      if (p[i] == '~' && i + 1 < n && p[i + 1] == '1') tok[t++] = '/', i++;
      else if (p[i] == '~' && i + 1 < n && p[i + 1] == '0') tok[t++] = '~', i++;
      else tok[t++] = p[i];
    }
    tok[t] = 0;
    json_t *next = NULL;
    if (json_is_object(cur)) {
      next = json_object_get(cur, tok);
      if (!next && create_parents && sl) {
        /* the next token decides the container: "-" or an index makes a list */
        const char *nt = sl + 1;
        bool idx = *nt == '-' || (*nt >= '0' && *nt <= '9');
        for (const char *q = nt + 1; idx && *q && *q != '/'; q++)
          if (!(*q >= '0' && *q <= '9')) idx = false;
        next = idx ? json_array() : json_object();
        json_object_set_new(cur, tok, next);
      }
    } else if (json_is_array(cur)) {
      char *end;
      long long idx = strtoll(tok, &end, 10);
      if (*end || end == tok) return NULL;
      if (idx < 0) idx += (long long)json_array_size(cur);
      next = json_array_get(cur, (size_t)idx);
    }
    if (!sl) return next;
    cur = next;
    p = sl + 1;
  }
  return NULL;
}

json_t *pol_mutate_json6902(const json_t *resource, const json_t *ops, idp_err *e) {
  json_t *doc = json_deep_copy(resource);
  json_t *keep = json_array();
  for (size_t i = 0; i < json_array_size(ops); i++) {
    json_t *op = json_array_get(ops, i);
    const char *o = idp_json_get_str(op, "op", NULL);
    const char *path = idp_json_get_str(op, "path", NULL);
    if (o && path && strcmp(o, "remove") == 0 && !pointer_get(doc, path, false))
      continue; /* AllowMissingPathOnRemove */
    if (o && path && strcmp(o, "add") == 0) {
      /* EnsurePathExistsOnAdd: create missing parent objects */
      char parent[1024];
      snprintf(parent, sizeof parent, "%s", path);
      char *last = strrchr(parent, '/');
      if (last && last != parent) pointer_get(doc, parent, true);
    }
    json_array_append(keep, op);
  }
  json_t *out = NULL;
  idp_code rc = idp_json_patch(doc, keep, &out, e);
  json_decref(doc);
  json_decref(keep);
  return rc == IDP_OK ? out : NULL;
}
