/* schema.c: lookup in the list-merge table (schema.def). */
#include "core/common.h"
#include "patch/internal.h"
#include "patch/patch.h"

typedef enum row_type { ROW_KIND, ROW_SUB, ROW_FIELD } row_type;

typedef struct schema_row {
  row_type type;
  const char *a; /* KIND: group; SUB/FIELD: struct */
  const char *b; /* KIND: kind;  SUB/FIELD: path */
  const char *c; /* KIND: struct; SUB: ref */
  patch_field f;
} schema_row;

#define IDP_KIND(g, k, s) {ROW_KIND, g, k, s, {NULL, NULL, NULL, false, false}},
#define IDP_SUB(s, p, r) {ROW_SUB, s, p, r, {NULL, NULL, NULL, false, false}},
#define IDP_LIST(s, p, key, strat, ssa) {ROW_FIELD, s, p, NULL, {key, strat, ssa, true, false}},
#define IDP_MAP(s, p, strat) {ROW_FIELD, s, p, NULL, {NULL, strat, NULL, false, false}},
#define IDP_ATOMIC(s, p) {ROW_FIELD, s, p, NULL, {NULL, NULL, NULL, false, true}},
static const schema_row rows[] = {
#include "patch/schema.def"
};
#undef IDP_KIND
#undef IDP_SUB
#undef IDP_LIST
#undef IDP_MAP
#undef IDP_ATOMIC

const char *patch_schema_root(const char *group, const char *kind) {
  if (!group) group = "";
  if (kind)
    for (size_t i = 0; i < IDP_ARRAY_LEN(rows); i++)
      if (rows[i].type == ROW_KIND && strcmp(rows[i].a, group) == 0 &&
          strcmp(rows[i].b, kind) == 0)
        return rows[i].c;
  return "Object";
}

/* Depth bounds the SUB recursion; the table has no cycles but a bad edit
 * must not hang the server. */
static const patch_field *resolve(const char *st, const char *path, int depth) {
  if (depth > 16) return NULL;
  for (size_t i = 0; i < IDP_ARRAY_LEN(rows); i++) {
    const schema_row *r = &rows[i];
    if (r->type != ROW_FIELD || strcmp(r->a, st) != 0) continue;
    if (strcmp(r->b, path) == 0) return &r->f;
  }
  for (size_t i = 0; i < IDP_ARRAY_LEN(rows); i++) {
    const schema_row *r = &rows[i];
    if (r->type != ROW_SUB || strcmp(r->a, st) != 0) continue;
    size_t n = strlen(r->b);
    if (strncmp(path, r->b, n) == 0 && path[n] == '.') {
      const patch_field *f = resolve(r->c, path + n + 1, depth + 1);
      if (f) return f;
    }
  }
  return NULL;
}

const patch_field *patch_schema_field(const char *root, const char *dotted) {
  if (!dotted) return NULL;
  const patch_field *f = resolve(root ? root : "Object", dotted, 0);
  if (!f && root && strcmp(root, "Object") != 0) f = resolve("Object", dotted, 0);
  return f;
}

/* Copies `in` without list positions: "[...]" suffixes and all-digit
 * segments are dropped, a leading '.' or '$.' is skipped. */
static bool normalize_path(const char *in, char *out, size_t cap) {
  size_t o = 0;
  if (in[0] == '$') in++;
  while (*in) {
    while (*in == '.') in++;
    if (!*in) break;
    const char *seg = in;
    size_t n = 0;
    while (seg[n] && seg[n] != '.' && seg[n] != '[') n++;
    bool digits = n > 0;
    for (size_t i = 0; i < n; i++)
      if (seg[i] < '0' || seg[i] > '9') digits = false;
    in = seg + n;
    while (*in == '[') { /* skip bracket groups, quotes may hold ']' */
      char q = 0;
      in++;
      while (*in && (q || *in != ']')) {
        if (q && *in == q) q = 0;
        else if (!q && (*in == '"' || *in == '\'')) q = *in;
        in++;
      }
      if (*in == ']') in++;
    }
    if (n == 0 || digits) continue;
    if (o + n + 2 > cap) return false;
    if (o) out[o++] = '.';
    memcpy(out + o, seg, n);
    o += n;
  }
  out[o] = '\0';
  return true;
}

bool idp_smp_list_info(const char *group, const char *kind, const char *dotted_path,
                       const char **merge_key, const char **strategy) {
  char norm[1024];
  if (merge_key) *merge_key = NULL;
  if (strategy) *strategy = NULL;
  if (!dotted_path || !normalize_path(dotted_path, norm, sizeof norm)) return false;
  const patch_field *f = patch_schema_field(patch_schema_root(group, kind), norm);
  if (!f || !f->is_list || !f->smp_strategy || !strstr(f->smp_strategy, "merge")) return false;
  if (merge_key) *merge_key = f->smp_key;
  if (strategy) *strategy = f->smp_strategy;
  return true;
}

void patch_path_init(patch_path *p) {
  p->s[0] = '\0';
  p->len = 0;
  p->overflow = 0;
}

size_t patch_path_push(patch_path *p, const char *seg) {
  size_t mark = p->len;
  if (p->overflow) {
    p->overflow++;
    return mark;
  }
  size_t n = strlen(seg);
  size_t need = n + (p->len ? 1 : 0);
  if (p->len + need + 1 > sizeof p->s) {
    p->overflow = 1;
    return mark;
  }
  if (p->len) p->s[p->len++] = '.';
  memcpy(p->s + p->len, seg, n);
  p->len += n;
  p->s[p->len] = '\0';
  return mark;
}

void patch_path_pop(patch_path *p, size_t mark) {
  if (p->overflow) {
    if (--p->overflow) return;
  }
  p->len = mark;
  p->s[mark] = '\0';
}

const char *patch_path_str(const patch_path *p) { return p->overflow ? NULL : p->s; }

json_t *patch_copy_without_nulls(const json_t *v) {
  if (json_is_object(v)) {
    json_t *o = json_object();
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x) {
      if (json_is_null(x)) continue;
      json_object_set_new(o, k, patch_copy_without_nulls(x));
    }
    return o;
  }
  if (json_is_array(v)) {
    json_t *a = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) json_array_append_new(a, patch_copy_without_nulls(x));
    return a;
  }
  return json_deep_copy(v);
}
