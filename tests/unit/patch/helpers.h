/* helpers.h: JSON/YAML literals and comparison for the patch unit tests
 * (included after ../test.h). */
#ifndef IDP_PATCH_TEST_HELPERS_H
#define IDP_PATCH_TEST_HELPERS_H

#include "core/yaml.h"
#include "patch/patch.h"

/* Parses JSON text (any value); fails the test on a syntax error. */
static inline json_t *J(const char *text) {
  json_error_t je;
  json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
  if (!v) fail_msg("bad JSON literal %s: %s", text, je.text);
  return v;
}

/* First document of a YAML literal. */
static inline json_t *Y(const char *text) {
  json_t *docs = NULL;
  idp_err e = IDP_ERR_INIT;
  if (idp_yaml_load(text, strlen(text), "literal", NULL, &docs, &e) != IDP_OK)
    fail_msg("bad YAML literal: %s", e.msg);
  json_t *d = json_incref(json_array_get(docs, 0));
  json_decref(docs);
  return d;
}

/* Asserts equality (numeric-aware, key order ignored); steals both. */
#define assert_json(got, want) assert_json_at((got), (want), __FILE__, __LINE__)
static inline void assert_json_at(json_t *got, json_t *want, const char *file, int line) {
  if (!idp_json_equal(got, want)) {
    char *g = got ? json_dumps(got, JSON_ENCODE_ANY | JSON_SORT_KEYS) : NULL;
    char *w = want ? json_dumps(want, JSON_ENCODE_ANY | JSON_SORT_KEYS) : NULL;
    print_error("%s:%d: JSON differs\n   got: %s\n  want: %s\n", file, line, g ? g : "NULL",
                w ? w : "NULL");
    free(g);
    free(w);
    json_decref(got);
    json_decref(want);
    _fail(file, line);
  }
  json_decref(got);
  json_decref(want);
}

/* Asserts the same JSON text, key order included (ordering tests); steals both. */
#define assert_json_ordered(got, want) assert_json_ordered_at((got), (want), __FILE__, __LINE__)
static inline void assert_json_ordered_at(json_t *got, json_t *want, const char *file,
                                          int line) {
  char *g = got ? json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
  char *w = want ? json_dumps(want, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
  bool same = g && w && strcmp(g, w) == 0;
  if (!same)
    print_error("%s:%d: JSON differs\n   got: %s\n  want: %s\n", file, line, g ? g : "NULL",
                w ? w : "NULL");
  free(g);
  free(w);
  json_decref(got);
  json_decref(want);
  if (!same) _fail(file, line);
}

#endif
