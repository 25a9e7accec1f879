/* fixture.h: shared fixtures of the store unit tests (a fresh store in a
 * temporary directory under /tmp per test). */
#ifndef IDP_TEST_STORE_FIXTURE_H
#define IDP_TEST_STORE_FIXTURE_H

#include <unistd.h>

#include "core/buf.h"
#include "store/store.h"

/* ---- fixtures ----------------------------------------------------------- */

typedef struct fx {
  char dir[64];
  char path[128];
  idp_store *s;
} fx;

static inline void rm_dir(const char *dir) {
  const char *suffix[] = {"/db", "/db-wal", "/db-shm", "/db.key", "/other.key", "/bad.key"};
  char p[256];
  for (size_t i = 0; i < IDP_ARRAY_LEN(suffix); i++) {
    snprintf(p, sizeof p, "%s%s", dir, suffix[i]);
    unlink(p);
  }
  rmdir(dir);
}

static inline idp_store *open_at(const char *path, int64_t history) {
  idp_store_opts o = {.path = path, .history_revisions = history};
  idp_store *s = NULL;
  idp_err e = IDP_ERR_INIT;
  idp_code c = idp_store_open(&o, &s, &e);
  if (c) fprintf(stderr, "open: %s\n", e.msg);
  assert_int_equal(c, IDP_OK);
  return s;
}

static inline int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "/tmp/idp-store-test-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->path, sizeof f->path, "%s/db", f->dir);
  f->s = open_at(f->path, 0);
  *state = f;
  return 0;
}

static inline int teardown(void **state) {
  fx *f = *state;
  idp_store_close(f->s);
  rm_dir(f->dir);
  free(f);
  return 0;
}

static inline json_t *cm(const char *name, const char *val) {
  return json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
                   "metadata", "name", name, "namespace", "default", "data", "k", val);
}

static inline int64_t rv_of(const json_t *o) {
  const char *rv =
      json_string_value(json_object_get(json_object_get(o, "metadata"), "resourceVersion"));
  assert_non_null(rv);
  return strtoll(rv, NULL, 10);
}

static inline void create_ok(idp_store *s, const char *res, const char *ns, const char *name) {
  json_t *o = cm(name, "v");
  idp_err e = IDP_ERR_INIT;
  idp_code c = idp_store_create(s, res, ns, name, o, NULL, &e);
  if (c) fprintf(stderr, "create %s: %s\n", name, e.msg);
  assert_int_equal(c, IDP_OK);
  json_decref(o);
}

static inline idp_event *next_ev(idp_watch *w, int timeout) {
  idp_event *ev = NULL;
  idp_err e = IDP_ERR_INIT;
  idp_code c = idp_watch_next(w, timeout, &ev, &e);
  if (c) fprintf(stderr, "watch next: %s\n", e.msg);
  assert_int_equal(c, IDP_OK);
  return ev;
}

#endif
