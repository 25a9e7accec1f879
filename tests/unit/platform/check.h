/* check.h: table rows "find object KIND/NAME in an array, compare the
 * value at PATH (segments separated by '|', numbers index arrays) with
 * EXPECT (JSON text; NULL = must be absent)". */
#ifndef PLATFORM_CHECK_H
#define PLATFORM_CHECK_H

#include "core/json.h"

typedef struct check_row {
  const char *kind, *name, *path, *expect;
} check_row;

static inline const json_t *find_obj(const json_t *objs, const char *kind, const char *name) {
  json_t *o;
  size_t i;
  json_array_foreach(objs, i, o) {
    const char *k = idp_json_get_str(o, "kind", NULL), *n = idp_json_get_str(o, "metadata", "name", NULL);
    if (k && n && !strcmp(k, kind) && !strcmp(n, name)) return o;
  }
  return NULL;
}

static inline const json_t *at_path(const json_t *o, const char *path) {
  char seg[256];
  const char *p = path;
  while (o && *p) {
    const char *bar = strchr(p, '|');
    size_t n = bar ? (size_t)(bar - p) : strlen(p);
    if (n >= sizeof seg) return NULL;
    memcpy(seg, p, n);
    seg[n] = 0;
    if (json_is_array(o)) {
      char *end;
      long idx = strtol(seg, &end, 10);
      o = *end ? NULL : json_array_get(o, (size_t)idx);
    } else {
      o = json_object_get(o, seg);
    }
    p += n + (bar ? 1 : 0);
  }
  return o;
}

static inline void run_checks(const json_t *objs, const check_row *rows, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const json_t *o = find_obj(objs, rows[i].kind, rows[i].name);
    if (!o) fail_msg("row %zu: no %s/%s", i, rows[i].kind, rows[i].name);
    const json_t *v = at_path(o, rows[i].path);
    if (!rows[i].expect) {
      if (v) fail_msg("row %zu: %s/%s %s should be absent", i, rows[i].kind, rows[i].name, rows[i].path);
      continue;
    }
    json_t *want = json_loads(rows[i].expect, JSON_DECODE_ANY, NULL);
    assert_non_null(want);
    if (!v || !json_equal((json_t *)v, want)) {
      char *got = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
      fail_msg("row %zu: %s/%s %s = %s, want %s", i, rows[i].kind, rows[i].name, rows[i].path,
               got ? got : "(absent)", rows[i].expect);
    }
    json_decref(want);
  }
}

#endif
