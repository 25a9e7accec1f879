/* The object store: CRUD, revisions, lists and continue tokens, compaction,
 * watch replay/live/drop, concurrency, encryption at rest, kill -9. */
#include "../test.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "fixture.h"

static int64_t count_rows(const char *path, const char *sql) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  int64_t n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

static void update_cm(idp_store *s, const char *name) {
  json_t *o = cm(name, "updated");
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_store_update(s, "core/configmaps", "default", name, o, 0, NULL, &e), IDP_OK);
  json_decref(o);
}

/* ---- CRUD ------------------------------------------------------------------- */

static void test_crud(void **state) {
  fx *f = *state;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_store_revision(f->s), 0);
  json_t *o = cm("a", "1"), *st = NULL, *got = NULL;
  assert_int_equal(idp_store_create(f->s, "core/configmaps", "default", "a", o, &st, &e), IDP_OK);
  assert_int_equal(rv_of(st), 1);
  assert_int_equal(idp_store_revision(f->s), 1);
  assert_null(json_object_get(json_object_get(o, "metadata"), "resourceVersion")); /* borrowed */
  json_decref(st);

  assert_int_equal(idp_store_create(f->s, "core/configmaps", "default", "a", o, NULL, &e),
                   IDP_EEXIST);
  assert_string_equal(e.msg, "configmaps \"a\" already exists");
  assert_int_equal(idp_store_revision(f->s), 1);

  assert_int_equal(idp_store_get(f->s, "core/configmaps", "default", "a", &got, &e), IDP_OK);
  assert_int_equal(rv_of(got), 1);
  assert_string_equal(json_string_value(json_object_get(json_object_get(got, "data"), "k")), "1");
  json_decref(got);

  assert_int_equal(idp_store_get(f->s, "core/configmaps", "other", "a", &got, &e), IDP_ENOTFOUND);
  assert_string_equal(e.msg, "configmaps \"a\" not found");
  assert_null(got);
  assert_int_equal(idp_store_get(f->s, "apps/deployments", "default", "a", &got, &e),
                   IDP_ENOTFOUND);
  assert_string_equal(e.msg, "deployments.apps \"a\" not found");

  json_t *o2 = cm("a", "2");
  assert_int_equal(idp_store_update(f->s, "core/configmaps", "default", "a", o2, 1, &st, &e),
                   IDP_OK);
  assert_int_equal(rv_of(st), 2);
  json_decref(st);
  /* stale precondition */
  assert_int_equal(idp_store_update(f->s, "core/configmaps", "default", "a", o2, 1, &st, &e),
                   IDP_ECONFLICT);
  assert_null(st);
  assert_string_equal(e.msg,
                      "Operation cannot be fulfilled on configmaps \"a\": the object has "
                      "been modified; please apply your changes to the latest version "
                      "and try again");
  /* no precondition */
  assert_int_equal(idp_store_update(f->s, "core/configmaps", "default", "a", o2, 0, NULL, &e),
                   IDP_OK);
  assert_int_equal(idp_store_update(f->s, "core/configmaps", "default", "zz", o2, 0, NULL, &e),
                   IDP_ENOTFOUND);
  assert_int_equal(idp_store_revision(f->s), 3);

  assert_int_equal(idp_store_delete(f->s, "core/configmaps", "default", "a", 2, &got, &e),
                   IDP_ECONFLICT);
  assert_int_equal(idp_store_delete(f->s, "core/configmaps", "default", "a", 3, &got, &e), IDP_OK);
  assert_int_equal(rv_of(got), 4);
  assert_string_equal(json_string_value(json_object_get(json_object_get(got, "data"), "k")), "2");
  json_decref(got);
  assert_int_equal(idp_store_delete(f->s, "core/configmaps", "default", "a", 0, &got, &e),
                   IDP_ENOTFOUND);
  assert_int_equal(idp_store_get(f->s, "core/configmaps", "default", "a", &got, &e), IDP_ENOTFOUND);
  /* re-create after delete */
  assert_int_equal(idp_store_create(f->s, "core/configmaps", "default", "a", o, &st, &e), IDP_OK);
  assert_int_equal(rv_of(st), 5);
  json_decref(st);

  /* bad input */
  assert_int_equal(idp_store_create(f->s, "core/configmaps", "default", "", o, NULL, &e),
                   IDP_EINVAL);
  json_t *arr = json_array();
  assert_int_equal(idp_store_create(f->s, "core/configmaps", "default", "b", arr, NULL, &e),
                   IDP_EINVAL);
  json_t *badmd = json_pack("{s:i}", "metadata", 3);
  assert_int_equal(idp_store_create(f->s, "core/configmaps", "default", "b", badmd, NULL, &e),
                   IDP_EINVAL);
  assert_non_null(strstr(e.msg, "metadata"));
  assert_int_equal(idp_store_revision(f->s), 5);
  json_decref(badmd);
  json_decref(arr);
  json_decref(o);
  json_decref(o2);
}

static void test_reopen_keeps_revision(void **state) {
  fx *f = *state;
  for (int i = 0; i < 10; i++) {
    char n[16];
    snprintf(n, sizeof n, "o%d", i);
    create_ok(f->s, "core/configmaps", "default", n);
  }
  idp_store_close(f->s);
  f->s = open_at(f->path, 0);
  assert_int_equal(idp_store_revision(f->s), 10);
  create_ok(f->s, "core/configmaps", "default", "next");
  assert_int_equal(idp_store_revision(f->s), 11);
  json_t *got = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_store_get(f->s, "core/configmaps", "default", "o3", &got, &e), IDP_OK);
  assert_int_equal(rv_of(got), 4);
  json_decref(got);
}

/* ---- list ------------------------------------------------------------------- */

static void test_list_order_and_pages(void **state) {
  fx *f = *state;
  idp_err e = IDP_ERR_INIT;
  const char *keys[][2] = {{"b", "x"}, {"a", "z"}, {"a", "y"}, {"", "c"}, {"b", "a"}, {"a", "a"}};
  for (size_t i = 0; i < IDP_ARRAY_LEN(keys); i++)
    create_ok(f->s, "core/configmaps", keys[i][0], keys[i][1]);
  create_ok(f->s, "core/secrets", "a", "other-resource");
  const char *want[] = {"/c", "a/a", "a/y", "a/z", "b/a", "b/x"};

  json_t *items = NULL;
  int64_t rev = 0;
  char *cont = NULL;
  idp_store_list_opts lo = {0};
  assert_int_equal(idp_store_list(f->s, "core/configmaps", &lo, &items, &rev, &cont, &e), IDP_OK);
  assert_int_equal(json_array_size(items), 6);
  assert_int_equal(rev, 7);
  assert_null(cont);
  json_decref(items);

  /* pages of 4: concatenation is the full ordered list */
  for (size_t limit = 1; limit <= 7; limit++) {
    size_t got = 0;
    char *tok = NULL;
    int pages = 0;
    do {
      idp_store_list_opts po = {.limit = limit, .cont = tok};
      char *next = NULL;
      assert_int_equal(idp_store_list(f->s, "core/configmaps", &po, &items, &rev, &next, &e),
                       IDP_OK);
      assert_int_equal(rev, 7);
      assert_true(json_array_size(items) <= limit);
      size_t i;
      json_t *it;
      json_array_foreach(items, i, it) {
        /* item keys are the map (ns, name); the object carries name only */
        char key[64];
        snprintf(key, sizeof key, "%s", want[got]);
        (void)key;
        const char *name =
            json_string_value(json_object_get(json_object_get(it, "metadata"), "name"));
        assert_string_equal(name, strchr(want[got], '/') + 1);
        got++;
      }
      json_decref(items);
      free(tok);
      tok = next;
      pages++;
    } while (tok);
    assert_int_equal(got, 6);
    assert_int_equal(pages, (int)((6 + limit - 1) / limit));
  }

  /* namespace filter, with pages */
  idp_store_list_opts no = {.ns = "a", .limit = 2};
  assert_int_equal(idp_store_list(f->s, "core/configmaps", &no, &items, &rev, &cont, &e), IDP_OK);
  assert_int_equal(json_array_size(items), 2);
  assert_non_null(cont);
  json_decref(items);
  no.cont = cont;
  char *cont2 = NULL;
  assert_int_equal(idp_store_list(f->s, "core/configmaps", &no, &items, &rev, &cont2, &e), IDP_OK);
  assert_int_equal(json_array_size(items), 1);
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(json_array_get(items, 0), "metadata"), "name")),
                      "z");
  assert_null(cont2);
  json_decref(items);
  free(cont);

  /* garbage tokens */
  const char *bad[] = {"garbage!!", "eyJ2IjoxfQ", "", "AAAA", "e30"};
  for (size_t i = 0; i < IDP_ARRAY_LEN(bad); i++) {
    idp_store_list_opts bo = {.cont = bad[i]};
    idp_code c = idp_store_list(f->s, "core/configmaps", &bo, &items, &rev, &cont, &e);
    if (bad[i][0]) {
      assert_int_equal(c, IDP_EINVAL);
      assert_null(items);
    } else {
      assert_int_equal(c, IDP_OK); /* empty = no token */
      json_decref(items);
    }
  }

  /* empty resource */
  assert_int_equal(idp_store_list(f->s, "apps/deployments", NULL, &items, &rev, &cont, &e), IDP_OK);
  assert_int_equal(json_array_size(items), 0);
  json_decref(items);
}

static void test_list_raw(void **state) {
  fx *f = *state;
  idp_err e = IDP_ERR_INIT;
  idp_buf b;
  idp_buf_init(&b, 0);
  size_t n = 99;
  int64_t rev = -1;
  char *cont = NULL;
  assert_int_equal(idp_store_list_raw(f->s, "core/configmaps", NULL, &b, &n, &rev, &cont, &e),
                   IDP_OK);
  assert_string_equal(idp_buf_str(&b), "[]");
  assert_int_equal(n, 0);
  assert_int_equal(rev, 0);
  for (int i = 0; i < 5; i++) {
    char name[8];
    snprintf(name, sizeof name, "n%d", 4 - i);
    create_ok(f->s, "core/configmaps", "default", name);
  }
  create_ok(f->s, "core/secrets", "default", "s1"); /* encrypted: comes out decrypted */
  for (size_t limit = 0; limit <= 6; limit++) {
    json_t *all = json_array();
    char *tok = NULL;
    do {
      idp_buf_reset(&b);
      idp_buf_adds(&b, "prefix:");
      idp_store_list_opts lo = {.limit = limit, .cont = tok};
      char *next = NULL;
      assert_int_equal(idp_store_list_raw(f->s, "core/configmaps", &lo, &b, &n, &rev, &next, &e),
                       IDP_OK);
      assert_int_equal(rev, 6);
      assert_int_equal(strncmp(b.data, "prefix:", 7), 0); /* appends */
      json_t *page = json_loadb(b.data + 7, b.len - 7, 0, NULL);
      assert_non_null(page);
      assert_int_equal(json_array_size(page), n);
      json_array_extend(all, page);
      json_decref(page);
      free(tok);
      tok = next;
    } while (tok);
    /* identical to the parsed list */
    json_t *items = NULL;
    assert_int_equal(idp_store_list(f->s, "core/configmaps", NULL, &items, &rev, &cont, &e),
                     IDP_OK);
    assert_true(json_equal(items, all));
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_array_get(items, 0), "metadata"), "name")),
                        "n0");
    json_decref(items);
    json_decref(all);
  }
  idp_buf_reset(&b);
  assert_int_equal(idp_store_list_raw(f->s, "core/secrets", NULL, &b, &n, &rev, &cont, &e), IDP_OK);
  assert_non_null(strstr(b.data, "\"name\":\"s1\""));
  /* errors leave the buffer as it was */
  idp_buf_reset(&b);
  idp_buf_adds(&b, "keep");
  idp_store_list_opts bad = {.cont = "!!!"};
  assert_int_equal(idp_store_list_raw(f->s, "core/configmaps", &bad, &b, &n, &rev, &cont, &e),
                   IDP_EINVAL);
  assert_string_equal(idp_buf_str(&b), "keep");
  assert_null(cont);
  idp_buf_free(&b);
}

/* A token taken from an all-namespaces list, used with a namespace filter,
 * continues from the same key. */
static void test_token_across_namespaces(void **state) {
  fx *f = *state;
  idp_err e = IDP_ERR_INIT;
  create_ok(f->s, "core/configmaps", "a", "1");
  create_ok(f->s, "core/configmaps", "b", "1");
  create_ok(f->s, "core/configmaps", "b", "2");
  create_ok(f->s, "core/configmaps", "c", "1");
  json_t *items;
  int64_t rev;
  char *cont = NULL, *next = NULL;
  idp_store_list_opts lo = {.limit = 2};
  assert_int_equal(idp_store_list(f->s, "core/configmaps", &lo, &items, &rev, &cont, &e), IDP_OK);
  json_decref(items); /* a/1, b/1 */
  idp_store_list_opts b = {.ns = "b", .cont = cont};
  assert_int_equal(idp_store_list(f->s, "core/configmaps", &b, &items, &rev, &next, &e), IDP_OK);
  assert_int_equal(json_array_size(items), 1); /* b/2 */
  json_decref(items);
  idp_store_list_opts a = {.ns = "a", .cont = cont};
  assert_int_equal(idp_store_list(f->s, "core/configmaps", &a, &items, &rev, &next, &e), IDP_OK);
  assert_int_equal(json_array_size(items), 0); /* already past namespace a */
  json_decref(items);
  idp_store_list_opts c = {.ns = "c", .cont = cont};
  assert_int_equal(idp_store_list(f->s, "core/configmaps", &c, &items, &rev, &next, &e), IDP_OK);
  assert_int_equal(json_array_size(items), 1);
  json_decref(items);
  free(cont);
}

/* A sealed value that was altered in the file gives a clear error, and a
 * sealed value moved onto another object's row fails too (AAD). */
static void test_tampered_blob(void **state) {
  fx *f = *state;
  idp_err e = IDP_ERR_INIT;
  json_t *sec =
      json_pack("{s:{s:s}, s:{s:s}}", "metadata", "name", "s1", "data", "k", "c2VjcmV0LXZhbHVl");
  assert_int_equal(idp_store_create(f->s, "core/secrets", "default", "s1", sec, NULL, &e), IDP_OK);
  assert_int_equal(idp_store_create(f->s, "core/secrets", "default", "s2", sec, NULL, &e), IDP_OK);
  idp_store_close(f->s);
  f->s = NULL;
  sqlite3 *db;
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  /* flip one ciphertext byte of s1 */
  sqlite3_stmt *st;
  assert_int_equal(
      sqlite3_prepare_v2(db, "SELECT value FROM events WHERE name='s1'", -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  int n = sqlite3_column_bytes(st, 0);
  unsigned char *v = malloc((size_t)n);
  memcpy(v, sqlite3_column_blob(st, 0), (size_t)n);
  sqlite3_finalize(st);
  v[30] ^= 1;
  assert_int_equal(
      sqlite3_prepare_v2(db, "UPDATE events SET value=?1 WHERE name='s1'", -1, &st, NULL),
      SQLITE_OK);
  sqlite3_bind_blob(st, 1, v, n, SQLITE_STATIC);
  assert_int_equal(sqlite3_step(st), SQLITE_DONE);
  sqlite3_finalize(st);
  free(v);
  /* and point a new object s3 at s2's sealed value */
  assert_int_equal(sqlite3_exec(db,
                                "INSERT INTO objects(resource, ns, name, rev) "
                                "SELECT resource, ns, 's3', rev FROM objects WHERE name='s2'",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
  f->s = open_at(f->path, 0);
  json_t *got = NULL;
  assert_int_equal(idp_store_get(f->s, "core/secrets", "default", "s2", &got, &e), IDP_OK);
  json_decref(got);
  got = NULL;
  assert_int_equal(idp_store_get(f->s, "core/secrets", "default", "s3", &got, &e), IDP_EIO);
  assert_null(got);
  assert_non_null(strstr(e.msg, "secrets \"s3\""));
  assert_non_null(strstr(e.msg, "wrong encryption key or tampered data"));
  assert_int_equal(idp_store_get(f->s, "core/secrets", "default", "s1", &got, &e), IDP_EIO);
  assert_null(strstr(e.msg, "c2VjcmV0LXZhbHVl"));
  /* a list containing the bad rows fails as a whole rather than lying */
  json_t *items = NULL;
  int64_t rev;
  char *cont;
  assert_int_equal(idp_store_list(f->s, "core/secrets", NULL, &items, &rev, &cont, &e), IDP_EIO);
  assert_null(items);
  json_decref(sec);
}

static void test_in_use_and_memory(void **state) {
  fx *f = *state;
  idp_err e = IDP_ERR_INIT;
  create_ok(f->s, "core/configmaps", "default", "a");
  /* a second process cannot open the same file while it is in use */
  pid_t pid = fork();
  if (pid == 0) {
    idp_store_opts o = {.path = f->path};
    idp_store *s2 = NULL;
    idp_err e2 = IDP_ERR_INIT;
    idp_code c = idp_store_open(&o, &s2, &e2);
    _exit(c == IDP_EUNAVAILABLE && strstr(e2.msg, "in use") ? 0 : 1);
  }
  int status;
  waitpid(pid, &status, 0);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);

  /* nor can a second handle in the same process */
  idp_store_opts so = {.path = f->path};
  idp_store *twice = NULL;
  assert_int_equal(idp_store_open(&so, &twice, &e), IDP_EUNAVAILABLE);
  assert_null(twice);
  assert_non_null(strstr(e.msg, "in use"));
  create_ok(f->s, "core/configmaps", "default", "still-works");

  /* ":memory:" works without a key file and encrypts with an ephemeral key */
  idp_store_opts mo = {.path = ":memory:"};
  idp_store *m = NULL;
  assert_int_equal(idp_store_open(&mo, &m, &e), IDP_OK);
  create_ok(m, "core/secrets", "default", "x");
  json_t *got = NULL;
  assert_int_equal(idp_store_get(m, "core/secrets", "default", "x", &got, &e), IDP_OK);
  json_decref(got);
  assert_int_equal(access(":memory:.key", F_OK), -1);
  idp_store_close(m);

  /* an empty encrypt list stores in clear (and still reads sealed rows) */
  const char *none[] = {NULL};
  idp_store_close(f->s);
  idp_store_opts po = {.path = f->path, .encrypt = none};
  assert_int_equal(idp_store_open(&po, &f->s, &e), IDP_OK);
  create_ok(f->s, "core/secrets", "default", "clear");
  idp_store_opts bo = {.path = NULL};
  idp_store *x = NULL;
  assert_int_equal(idp_store_open(&bo, &x, &e), IDP_EINVAL);
  idp_store_opts bh = {.path = f->path, .history_revisions = -1};
  assert_int_equal(idp_store_open(&bh, &x, &e), IDP_EINVAL);
  assert_null(x);
}

/* Pages continue the first page's snapshot, as etcd's do: whatever is
 * written between pages, later pages show the state as of the list
 * revision, and keep doing so after a compaction up to that revision. */
static char *names_of(json_t *items, int64_t max_rv) {
  static char buf[256];
  buf[0] = '\0';
  size_t i;
  json_t *it;
  json_array_foreach(items, i, it) {
    const char *n = json_string_value(json_object_get(json_object_get(it, "metadata"), "name"));
    const char *v = json_string_value(json_object_get(json_object_get(it, "data"), "k"));
    assert_true(rv_of(it) <= max_rv);
    size_t l = strlen(buf);
    snprintf(buf + l, sizeof buf - l, "%s%s=%s", i ? " " : "", n, v);
  }
  return buf;
}

static void page(idp_store *s, const char *ns, size_t limit, const char *cont, int64_t want_rev,
                 const char *want, char **next) {
  idp_store_list_opts lo = {.ns = ns, .limit = limit, .cont = cont};
  json_t *items = NULL;
  int64_t rev = 0;
  idp_err e = IDP_ERR_INIT;
  idp_code c = idp_store_list(s, "core/configmaps", &lo, &items, &rev, next, &e);
  if (c) fprintf(stderr, "list: %s\n", e.msg);
  assert_int_equal(c, IDP_OK);
  assert_int_equal(rev, want_rev);
  assert_string_equal(names_of(items, want_rev), want);
  json_decref(items);
  /* the raw form returns the same page */
  idp_buf b;
  idp_buf_init(&b, 0);
  char *n2 = NULL;
  assert_int_equal(idp_store_list_raw(s, "core/configmaps", &lo, &b, NULL, &rev, &n2, &e), IDP_OK);
  json_t *raw = json_loadb(b.data, b.len, 0, NULL);
  assert_string_equal(names_of(raw, want_rev), want);
  json_decref(raw);
  assert_true((*next == NULL) == (n2 == NULL));
  free(n2);
  idp_buf_free(&b);
}

static void put(idp_store *s, const char *ns, const char *name, const char *v, bool create) {
  json_t *o = cm(name, v);
  idp_err e = IDP_ERR_INIT;
  idp_code c = create ? idp_store_create(s, "core/configmaps", ns, name, o, NULL, &e)
                      : idp_store_update(s, "core/configmaps", ns, name, o, 0, NULL, &e);
  assert_int_equal(c, IDP_OK);
  json_decref(o);
}

static void del(idp_store *s, const char *ns, const char *name) {
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_store_delete(s, "core/configmaps", ns, name, 0, NULL, &e), IDP_OK);
}

static void test_pages_are_snapshots(void **state) {
  fx *f = *state;
  const char *names[] = {"a", "b", "c", "d", "e", "f"};
  for (size_t i = 0; i < IDP_ARRAY_LEN(names); i++) put(f->s, "default", names[i], "1", true);
  put(f->s, "x", "a", "1", true); /* another namespace, after "default" */
  put(f->s, "default", "c", "2", false);
  int64_t R = idp_store_revision(f->s); /* 8 */
  char *t1 = NULL, *t2 = NULL, *t3 = NULL, *tn = NULL;
  page(f->s, NULL, 2, NULL, R, "a=1 b=1", &t1);
  assert_non_null(t1);
  char *tns = NULL;
  page(f->s, "default", 2, NULL, R, "a=1 b=1", &tns);

  /* between the pages */
  put(f->s, "default", "bb", "new", true); /* created after R, after the cursor */
  put(f->s, "default", "aa", "new", true); /* created after R, before the cursor */
  put(f->s, "default", "c", "3", false);   /* modified after R */
  put(f->s, "default", "c", "4", false);
  del(f->s, "default", "d"); /* deleted after R */
  del(f->s, "default", "e"); /* deleted and re-created */
  put(f->s, "default", "e", "again", true);
  put(f->s, "default", "ca", "tmp", true); /* born and gone after R */
  del(f->s, "default", "ca");
  del(f->s, "x", "a");
  put(f->s, "x", "b", "new", true);

  page(f->s, NULL, 2, t1, R, "c=2 d=1", &t2);
  assert_non_null(t2);
  page(f->s, NULL, 2, t2, R, "e=1 f=1", &t3);
  assert_non_null(t3);
  page(f->s, NULL, 2, t3, R, "a=1", &tn); /* x/a, deleted since */
  assert_null(tn);
  page(f->s, NULL, 0, t1, R, "c=2 d=1 e=1 f=1 a=1", &tn); /* no limit */
  assert_null(tn);
  page(f->s, "default", 3, tns, R, "c=2 d=1 e=1", &tn);
  free(tn);
  page(f->s, "x", 5, t1, R, "a=1", &tn);
  assert_null(tn);
  /* a fresh list sees the present */
  page(f->s, "default", 0, NULL, idp_store_revision(f->s), "a=1 aa=new b=1 bb=new c=4 e=again f=1",
       &tn);

  /* compaction up to R keeps the snapshot readable; past R it is gone */
  int64_t now = idp_store_revision(f->s);
  idp_store_close(f->s);
  f->s = open_at(f->path, now - R);
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_store_compact(f->s, &e), IDP_OK);
  assert_int_equal(idp_store_compacted(f->s), R);
  page(f->s, NULL, 2, t1, R, "c=2 d=1", &tn);
  free(tn);
  page(f->s, NULL, 0, t2, R, "e=1 f=1 a=1", &tn);
  assert_null(tn);
  put(f->s, "default", "g", "1", true);
  idp_store_close(f->s);
  f->s = open_at(f->path, now - R - 1);
  assert_int_equal(idp_store_compact(f->s, &e), IDP_OK);
  assert_int_equal(idp_store_compacted(f->s), R + 2);
  idp_store_list_opts lo = {.cont = t1};
  json_t *items = NULL;
  int64_t rev;
  assert_int_equal(idp_store_list(f->s, "core/configmaps", &lo, &items, &rev, &tn, &e), IDP_EGONE);
  free(t1);
  free(t2);
  free(t3);
  free(tns);
}

/* A database from before events.prev (schema 2) is migrated on open; an
 * unknown schema version is refused with a clear error. */
static void test_schema_migration(void **state) {
  fx *f = *state;
  idp_store_close(f->s);
  f->s = NULL;
  unlink(f->path);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  assert_int_equal(
      sqlite3_exec(db,
                   "PRAGMA journal_mode=WAL;"
                   "CREATE TABLE meta(k TEXT PRIMARY KEY, v);"
                   "CREATE TABLE objects(resource TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT "
                   "NULL, rev INTEGER NOT NULL, PRIMARY KEY(resource, ns, name)) WITHOUT ROWID;"
                   "CREATE TABLE events(rev INTEGER PRIMARY KEY, type INTEGER NOT NULL, resource "
                   "TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL, value BLOB NOT NULL);"
                   "CREATE INDEX events_resource ON events(resource, rev);"
                   "INSERT INTO meta VALUES('schema', 2);"
                   "INSERT INTO events VALUES(1, 0, 'core/configmaps', 'default', 'old', "
                   "'{\"metadata\":{\"name\":\"old\",\"resourceVersion\":\"1\"}}');"
                   "INSERT INTO objects VALUES('core/configmaps', 'default', 'old', 1);",
                   NULL, NULL, NULL),
      SQLITE_OK);
  sqlite3_close(db);
  f->s = open_at(f->path, 0); /* creates a key file too: none existed */
  assert_int_equal(idp_store_revision(f->s), 1);
  json_t *got = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_store_get(f->s, "core/configmaps", "default", "old", &got, &e), IDP_OK);
  json_decref(got);
  update_cm(f->s, "old");
  idp_store_close(f->s);
  f->s = NULL;
  assert_int_equal(count_rows(f->path, "SELECT v FROM meta WHERE k='schema'"), 3);
  assert_int_equal(count_rows(f->path, "SELECT prev FROM events WHERE rev=2"), 1);
  assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "UPDATE meta SET v=99 WHERE k='schema'", NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
  idp_store_opts o = {.path = f->path};
  assert_int_equal(idp_store_open(&o, &f->s, &e), IDP_EIO);
  assert_non_null(strstr(e.msg, "schema version 99"));
  assert_null(f->s);
  f->s = NULL;
}

/* ---- watch ------------------------------------------------------------------ */

static void test_watch_replay_then_live(void **state) {
  fx *f = *state;
  idp_err e = IDP_ERR_INIT;
  create_ok(f->s, "core/configmaps", "default", "a"); /* 1 */
  create_ok(f->s, "core/secrets", "default", "s");    /* 2 */
  create_ok(f->s, "core/configmaps", "default", "b"); /* 3 */
  json_t *o = cm("a", "2");
  assert_int_equal(idp_store_update(f->s, "core/configmaps", "default", "a", o, 0, NULL, &e),
                   IDP_OK); /* 4 */
  idp_watch *w = NULL;
  assert_int_equal(idp_store_watch(f->s, "core/configmaps", NULL, 1, 10, &w, &e), IDP_OK);
  struct pollfd pfd = {.fd = idp_watch_fd(w), .events = POLLIN};
  assert_int_equal(poll(&pfd, 1, 0), 1);
  idp_event *ev = next_ev(w, 0);
  assert_non_null(ev);
  assert_int_equal(ev->rev, 3);
  assert_int_equal(ev->type, IDP_EV_ADDED);
  assert_string_equal(ev->name, "b");
  assert_int_equal(rv_of(ev->obj), 3);
  idp_event_free(ev);
  ev = next_ev(w, 0);
  assert_int_equal(ev->rev, 4);
  assert_int_equal(ev->type, IDP_EV_MODIFIED);
  idp_event_free(ev);
  assert_null(next_ev(w, 0));
  assert_int_equal(poll(&pfd, 1, 0), 0);
  /* live */
  assert_int_equal(idp_store_delete(f->s, "core/configmaps", "default", "b", 0, NULL, &e), IDP_OK);
  assert_int_equal(poll(&pfd, 1, 0), 1);
  ev = next_ev(w, 1000);
  assert_int_equal(ev->rev, 5);
  assert_int_equal(ev->type, IDP_EV_DELETED);
  assert_int_equal(rv_of(ev->obj), 5);
  idp_event_free(ev);
  assert_null(next_ev(w, 20)); /* timeout */
  idp_watch_close(w);
  json_decref(o);
}

static void test_watch_namespace_and_from_now(void **state) {
  fx *f = *state;
  idp_err e = IDP_ERR_INIT;
  create_ok(f->s, "core/configmaps", "a", "x");
  idp_watch *all = NULL, *nsa = NULL;
  assert_int_equal(idp_store_watch(f->s, "core/configmaps", "", 0, 10, &all, &e), IDP_OK);
  assert_int_equal(idp_store_watch(f->s, "core/configmaps", "a", 0, 10, &nsa, &e), IDP_OK);
  assert_null(next_ev(all, 0)); /* from now: nothing old */
  create_ok(f->s, "core/configmaps", "b", "y");
  create_ok(f->s, "core/configmaps", "a", "z");
  idp_event *ev = next_ev(all, 0);
  assert_string_equal(ev->ns, "b");
  idp_event_free(ev);
  ev = next_ev(all, 0);
  assert_string_equal(ev->ns, "a");
  idp_event_free(ev);
  ev = next_ev(nsa, 0);
  assert_string_equal(ev->name, "z");
  idp_event_free(ev);
  assert_null(next_ev(nsa, 0));
  idp_watch_close(all);
  idp_watch_close(nsa);
}

static void test_slow_watcher_dropped(void **state) {
  fx *f = *state;
  idp_err e = IDP_ERR_INIT;
  idp_watch *slow = NULL, *fast = NULL;
  assert_int_equal(idp_store_watch(f->s, "core/configmaps", NULL, 0, 5, &slow, &e), IDP_OK);
  assert_int_equal(idp_store_watch(f->s, "core/configmaps", NULL, 0, 5, &fast, &e), IDP_OK);
  for (int i = 0; i < 20; i++) {
    char n[16];
    snprintf(n, sizeof n, "o%d", i);
    create_ok(f->s, "core/configmaps", "default", n);
    idp_event *ev = next_ev(fast, 0);
    assert_int_equal(ev->rev, i + 1);
    idp_event_free(ev);
  }
  idp_event *ev = NULL;
  assert_int_equal(idp_watch_next(slow, 0, &ev, &e), IDP_EGONE);
  assert_null(ev);
  assert_non_null(strstr(e.msg, "behind"));
  idp_watch_close(slow);
  idp_watch_close(fast);
}

static void test_compaction_gone(void **state) {
  fx *f = *state;
  idp_store_close(f->s);
  f->s = open_at(f->path, 5);
  idp_err e = IDP_ERR_INIT;
  for (int i = 0; i < 8; i++) {
    char n[16];
    snprintf(n, sizeof n, "o%02d", i);
    create_ok(f->s, "core/configmaps", "default", n);
  }
  json_t *items = NULL;
  int64_t rev;
  char *cont = NULL;
  idp_store_list_opts lo = {.limit = 3};
  assert_int_equal(idp_store_list(f->s, "core/configmaps", &lo, &items, &rev, &cont, &e), IDP_OK);
  assert_int_equal(rev, 8);
  json_decref(items);
  for (int i = 8; i < 20; i++) {
    char n[16];
    snprintf(n, sizeof n, "o%02d", i);
    create_ok(f->s, "core/configmaps", "default", n);
  }
  /* the token still works before compaction, at the list's revision */
  char *c1 = NULL;
  lo.cont = cont;
  assert_int_equal(idp_store_list(f->s, "core/configmaps", &lo, &items, &rev, &c1, &e), IDP_OK);
  assert_int_equal(rev, 8);
  json_decref(items);
  free(c1);
  idp_watch *w_old = NULL;
  assert_int_equal(idp_store_watch(f->s, "core/configmaps", NULL, 2, 100, &w_old, &e), IDP_OK);

  assert_int_equal(idp_store_compact(f->s, &e), IDP_OK);
  assert_int_equal(idp_store_compacted(f->s), 15);
  idp_watch *w = NULL;
  assert_int_equal(idp_store_watch(f->s, "core/configmaps", NULL, 14, 100, &w, &e), IDP_EGONE);
  assert_non_null(strstr(e.msg, "too old resource version"));
  assert_null(w);
  /* a watch that had not caught up yet is now gone too */
  idp_event *ev = NULL;
  assert_int_equal(idp_watch_next(w_old, 0, &ev, &e), IDP_EGONE);
  idp_watch_close(w_old);
  /* from the compaction point: the five kept events, from the database */
  idp_store_close(f->s);
  f->s = open_at(f->path, 5);
  assert_int_equal(idp_store_compacted(f->s), 15);
  assert_int_equal(idp_store_watch(f->s, "core/configmaps", NULL, 15, 100, &w, &e), IDP_OK);
  for (int r = 16; r <= 20; r++) {
    ev = next_ev(w, 0);
    assert_non_null(ev);
    assert_int_equal(ev->rev, r);
    idp_event_free(ev);
  }
  assert_null(next_ev(w, 0));
  idp_watch_close(w);
  /* the old continue token */
  char *c2 = NULL;
  assert_int_equal(idp_store_list(f->s, "core/configmaps", &lo, &items, &rev, &c2, &e), IDP_EGONE);
  assert_null(items);
  assert_non_null(strstr(e.msg, "continue parameter is too old"));
  /* the compaction left exactly the newest five events */
  assert_int_equal(idp_store_compact(f->s, &e), IDP_OK); /* idempotent */
  free(cont);
}

/* Compaction drops old history but never a live object's current value. */
static void test_compaction_keeps_live_objects(void **state) {
  fx *f = *state;
  idp_store_close(f->s);
  f->s = open_at(f->path, 3);
  idp_err e = IDP_ERR_INIT;
  create_ok(f->s, "core/configmaps", "default", "old");  /* 1: never touched again */
  create_ok(f->s, "core/secrets", "default", "sealed");  /* 2: encrypted, live */
  create_ok(f->s, "core/configmaps", "default", "gone"); /* 3 */
  for (int i = 0; i < 2500; i++) {                       /* 4..2503: several batches */
    json_t *o = cm("hot", i % 2 ? "odd" : "even");
    idp_code c = i == 0
                     ? idp_store_create(f->s, "core/configmaps", "default", "hot", o, NULL, &e)
                     : idp_store_update(f->s, "core/configmaps", "default", "hot", o, 0, NULL, &e);
    assert_int_equal(c, IDP_OK);
    json_decref(o);
  }
  assert_int_equal(idp_store_delete(f->s, "core/configmaps", "default", "gone", 0, NULL, &e),
                   IDP_OK); /* 2504 */
  assert_int_equal(idp_store_compact(f->s, &e), IDP_OK);
  assert_int_equal(idp_store_compacted(f->s), 2501);
  json_t *got = NULL;
  const char *live[][2] = {
      {"core/configmaps", "old"}, {"core/secrets", "sealed"}, {"core/configmaps", "hot"}};
  for (size_t i = 0; i < IDP_ARRAY_LEN(live); i++) {
    assert_int_equal(idp_store_get(f->s, live[i][0], "default", live[i][1], &got, &e), IDP_OK);
    json_decref(got);
  }
  assert_int_equal(idp_store_get(f->s, "core/configmaps", "default", "hot", &got, &e), IDP_OK);
  assert_int_equal(rv_of(got), 2503);
  json_decref(got);
  json_t *items;
  int64_t rev;
  char *cont;
  assert_int_equal(idp_store_list(f->s, "core/configmaps", NULL, &items, &rev, &cont, &e), IDP_OK);
  assert_int_equal(json_array_size(items), 2);
  json_decref(items);
  /* writes and a second compaction go on normally */
  for (int i = 0; i < 10; i++) update_cm(f->s, "old");
  assert_int_equal(idp_store_compact(f->s, &e), IDP_OK);
  assert_int_equal(idp_store_compacted(f->s), 2511);
  idp_store_close(f->s);
  f->s = NULL;
  /* history, as etcd keeps it: the newest 3 revisions (2512..2514), the
   * state as of the compaction point (old@2511, superseded only after it),
   * and the current values of live objects older than that (sealed@2,
   * hot@2503).  old@1 and the hot churn went; so did gone's tombstone. */
  assert_int_equal(count_rows(f->path, "SELECT count(*) FROM events"), 6);
  assert_int_equal(count_rows(f->path,
                              "SELECT count(*) FROM events WHERE rev IN "
                              "(2, 2503, 2511, 2512, 2513, 2514)"),
                   6);
  assert_int_equal(count_rows(f->path, "SELECT min(rev) FROM events WHERE rev > 2"), 2503);
  assert_int_equal(count_rows(f->path, "SELECT count(*) FROM objects"), 3);
  f->s = open_at(f->path, 3);
  assert_int_equal(idp_store_revision(f->s), 2514);
  assert_int_equal(idp_store_compacted(f->s), 2511);
  assert_int_equal(idp_store_get(f->s, "core/secrets", "default", "sealed", &got, &e), IDP_OK);
  json_decref(got);
}

/* ---- encryption ------------------------------------------------------------- */

static bool file_contains(const char *path, const char *needle) {
  idp_buf b;
  idp_buf_init(&b, 0);
  idp_err e = IDP_ERR_INIT;
  bool found = false;
  if (idp_buf_read_file(&b, path, &e) == IDP_OK && b.len)
    found = memmem(b.data, b.len, needle, strlen(needle)) != NULL;
  idp_buf_free(&b);
  return found;
}

static void test_encryption(void **state) {
  fx *f = *state;
  idp_err e = IDP_ERR_INIT;
  const char *plain = "hunter2-very-secret-value";
  const char *b64 = "aHVudGVyMi12ZXJ5LXNlY3JldC12YWx1ZQ=="; /* base64(plain) */
  json_t *sec = json_pack("{s:s, s:{s:s}, s:{s:s}}", "kind", "Secret", "metadata", "name", "s",
                          "data", "password", b64);
  json_t *sec2 = json_pack("{s:s, s:{s:s}, s:{s:s}}", "kind", "Secret", "metadata", "name", "s",
                           "stringData", "password", plain);
  assert_int_equal(idp_store_create(f->s, "core/secrets", "default", "s", sec, NULL, &e), IDP_OK);
  assert_int_equal(idp_store_update(f->s, "core/secrets", "default", "s", sec2, 0, NULL, &e),
                   IDP_OK);
  json_t *cmo = cm("visible", "plain-config-value");
  assert_int_equal(idp_store_create(f->s, "core/configmaps", "default", "c", cmo, NULL, &e),
                   IDP_OK);
  json_t *got = NULL;
  assert_int_equal(idp_store_get(f->s, "core/secrets", "default", "s", &got, &e), IDP_OK);
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(got, "stringData"), "password")), plain);
  json_decref(got);

  char wal[160], key[160];
  snprintf(wal, sizeof wal, "%s-wal", f->path);
  snprintf(key, sizeof key, "%s.key", f->path);
  assert_true(file_contains(wal, "plain-config-value") ||
              file_contains(f->path, "plain-config-value"));
  assert_false(file_contains(f->path, plain));
  assert_false(file_contains(wal, plain));
  assert_false(file_contains(f->path, b64));
  assert_false(file_contains(wal, b64));
  struct stat st;
  assert_int_equal(stat(key, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(st.st_size, 32);

  /* checkpointed into the main file: still absent */
  idp_store_close(f->s);
  f->s = open_at(f->path, 0);
  assert_false(file_contains(f->path, plain));
  assert_false(file_contains(f->path, b64));
  assert_int_equal(idp_store_get(f->s, "core/secrets", "default", "s", &got, &e), IDP_OK);
  json_decref(got);
  /* watch replay from the database (the ring is empty after reopen) decrypts */
  idp_watch *w = NULL;
  assert_int_equal(idp_store_watch(f->s, "core/secrets", NULL, 1, 10, &w, &e), IDP_OK);
  idp_event *ev = next_ev(w, 0);
  assert_int_equal(ev->rev, 2);
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(ev->obj, "stringData"), "password")),
      plain);
  idp_event_free(ev);
  assert_null(next_ev(w, 0));
  idp_watch_close(w);
  idp_store_close(f->s);
  f->s = NULL;

  /* wrong key file: a clear error at open, never garbage */
  char other[160];
  snprintf(other, sizeof other, "%s/other.key", f->dir);
  idp_store_opts o = {.path = f->path, .key_file = other};
  idp_store *s2 = NULL;
  assert_int_equal(idp_store_open(&o, &s2, &e), IDP_EIO);
  assert_null(s2);
  assert_non_null(strstr(e.msg, "other.key"));
  /* a key file of the wrong size */
  char bad[160];
  snprintf(bad, sizeof bad, "%s/bad.key", f->dir);
  FILE *fp = fopen(bad, "w");
  fputs("short", fp);
  fclose(fp);
  o.key_file = bad;
  assert_int_equal(idp_store_open(&o, &s2, &e), IDP_EINVAL);
  assert_non_null(strstr(e.msg, "bad.key"));
  f->s = open_at(f->path, 0);
  json_decref(sec);
  json_decref(sec2);
  json_decref(cmo);
}

/* ---- concurrency ------------------------------------------------------------ */

#define NTHREADS 4
#define PER_THREAD 250

typedef struct worker {
  idp_store *s;
  int id;
  int64_t revs[PER_THREAD];
} worker;

static void *writer(void *arg) {
  worker *wk = arg;
  for (int i = 0; i < PER_THREAD; i++) {
    char n[32];
    snprintf(n, sizeof n, "t%d-%d", wk->id, i);
    json_t *o = cm(n, "v"), *st = NULL;
    idp_err e = IDP_ERR_INIT;
    if (idp_store_create(wk->s, "core/configmaps", "default", n, o, &st, &e) != IDP_OK) abort();
    wk->revs[i] = rv_of(st);
    json_decref(st);
    json_decref(o);
  }
  return NULL;
}

static int cmp64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static void test_concurrent_writers(void **state) {
  fx *f = *state;
  idp_err e = IDP_ERR_INIT;
  idp_watch *w = NULL;
  assert_int_equal(idp_store_watch(f->s, "core/configmaps", NULL, 0, NTHREADS * PER_THREAD, &w, &e),
                   IDP_OK);
  pthread_t th[NTHREADS];
  worker wk[NTHREADS];
  for (int i = 0; i < NTHREADS; i++) {
    wk[i].s = f->s;
    wk[i].id = i;
    pthread_create(&th[i], NULL, writer, &wk[i]);
  }
  for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
  int64_t all[NTHREADS * PER_THREAD];
  for (int i = 0; i < NTHREADS; i++)
    for (int j = 0; j < PER_THREAD; j++) {
      if (j) assert_true(wk[i].revs[j] > wk[i].revs[j - 1]); /* monotonic per thread */
      all[i * PER_THREAD + j] = wk[i].revs[j];
    }
  idp_sort(all, NTHREADS * PER_THREAD, sizeof all[0], cmp64);
  for (int i = 0; i < NTHREADS * PER_THREAD; i++) assert_int_equal(all[i], i + 1);
  assert_int_equal(idp_store_revision(f->s), NTHREADS * PER_THREAD);
  /* the watcher saw every revision exactly once, in order */
  for (int i = 0; i < NTHREADS * PER_THREAD; i++) {
    idp_event *ev = next_ev(w, 0);
    assert_non_null(ev);
    assert_int_equal(ev->rev, i + 1);
    idp_event_free(ev);
  }
  assert_null(next_ev(w, 0));
  idp_watch_close(w);
}

/* Threads race to create the same names (one winner each) and to bump a
 * counter with compare-and-swap updates (no lost update). */
#define RACERS 4
#define NAMES 60
#define BUMPS 40

typedef struct racer {
  idp_store *s;
  int created, conflicts;
} racer;

static void *race(void *arg) {
  racer *r = arg;
  for (int i = 0; i < NAMES; i++) {
    char n[16];
    snprintf(n, sizeof n, "dup-%d", i);
    json_t *o = cm(n, "v");
    idp_err e = IDP_ERR_INIT;
    idp_code c = idp_store_create(r->s, "core/configmaps", "default", n, o, NULL, &e);
    if (c == IDP_OK)
      r->created++;
    else if (c != IDP_EEXIST)
      abort();
    json_decref(o);
  }
  for (int i = 0; i < BUMPS; i++) {
    for (;;) {
      json_t *cur = NULL;
      idp_err e = IDP_ERR_INIT;
      if (idp_store_get(r->s, "core/configmaps", "default", "counter", &cur, &e)) abort();
      json_t *data = json_object_get(cur, "data");
      json_int_t v = json_integer_value(json_object_get(data, "n"));
      json_object_set_new(data, "n", json_integer(v + 1));
      idp_code c = idp_store_update(r->s, "core/configmaps", "default", "counter", cur, rv_of(cur),
                                    NULL, &e);
      json_decref(cur);
      if (c == IDP_OK) break;
      if (c != IDP_ECONFLICT) abort();
      r->conflicts++;
    }
  }
  return NULL;
}

static void test_racing_writers(void **state) {
  fx *f = *state;
  idp_err e = IDP_ERR_INIT;
  json_t *counter = json_pack("{s:{s:s}, s:{s:i}}", "metadata", "name", "counter", "data", "n", 0);
  assert_int_equal(
      idp_store_create(f->s, "core/configmaps", "default", "counter", counter, NULL, &e), IDP_OK);
  json_decref(counter);
  pthread_t th[RACERS];
  racer r[RACERS];
  for (int i = 0; i < RACERS; i++) {
    r[i] = (racer){f->s, 0, 0};
    pthread_create(&th[i], NULL, race, &r[i]);
  }
  int created = 0;
  for (int i = 0; i < RACERS; i++) {
    pthread_join(th[i], NULL);
    created += r[i].created;
  }
  assert_int_equal(created, NAMES);
  json_t *got = NULL;
  assert_int_equal(idp_store_get(f->s, "core/configmaps", "default", "counter", &got, &e), IDP_OK);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(got, "data"), "n")),
                   RACERS * BUMPS);
  json_decref(got);
  /* every successful write, and only those, took a revision */
  assert_int_equal(idp_store_revision(f->s), 1 + NAMES + RACERS * BUMPS);
  idp_store_stats st;
  idp_store_get_stats(f->s, &st);
  assert_int_equal(st.writes, 1 + NAMES + RACERS * BUMPS);
  assert_true(st.commits >= 1 && st.commits <= st.writes);
  assert_int_equal(st.revision, 1 + NAMES + RACERS * BUMPS);
  assert_int_equal(st.watches_open, 0);
}

/* ---- injected failures --------------------------------------------------- */

/* The file system refuses to grow the files (RLIMIT_FSIZE): writes fail
 * with IDP_EIO and a message, the revision does not move, reads go on, and
 * after a reopen exactly the acknowledged writes are there. */
static int fsize_child(const char *path) {
  idp_store_opts o = {.path = path};
  idp_store *s = NULL;
  idp_err e = IDP_ERR_INIT;
  if (idp_store_open(&o, &s, &e)) return 10;
  signal(SIGXFSZ, SIG_IGN);
  struct rlimit rl = {.rlim_cur = 1 << 20, .rlim_max = RLIM_INFINITY};
  if (setrlimit(RLIMIT_FSIZE, &rl)) return 11;
  char big[2048];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  int ok = 0, failed = 0;
  for (int i = 0; i < 1000 && failed < 5; i++) {
    char n[32];
    snprintf(n, sizeof n, "f%04d", i);
    json_t *obj = cm(n, big);
    int64_t before = idp_store_revision(s);
    idp_code c = idp_store_create(s, "core/configmaps", "default", n, obj, NULL, &e);
    json_decref(obj);
    if (c == IDP_OK) {
      if (failed) return 12; /* the limit does not go away */
      ok++;
      continue;
    }
    if (c != IDP_EIO && c != IDP_EUNAVAILABLE) return 13;
    if (!strstr(e.msg, path)) return 14;            /* names the store */
    if (idp_store_revision(s) != before) return 15; /* nothing half-written */
    json_t *got = NULL;
    if (idp_store_get(s, "core/configmaps", "default", n, &got, &e) != IDP_ENOTFOUND) return 16;
    if (ok && idp_store_get(s, "core/configmaps", "default", "f0000", &got, &e) != IDP_OK)
      return 17;
    json_decref(got);
    failed++;
  }
  if (!failed || ok < 10) return 18;
  printf("%d\n", ok);
  fflush(stdout);
  idp_store_close(s);
  return 0;
}

static void test_disk_full(void **state) {
  fx *f = *state;
  idp_store_close(f->s);
  f->s = NULL;
  int p[2];
  assert_int_equal(pipe(p), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    dup2(p[1], 1);
    _exit(fsize_child(f->path));
  }
  close(p[1]);
  char buf[32] = {0};
  ssize_t n = read(p[0], buf, sizeof buf - 1);
  close(p[0]);
  int status;
  waitpid(pid, &status, 0);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  assert_true(n > 0);
  long ok = strtol(buf, NULL, 10);
  f->s = open_at(f->path, 0);
  assert_int_equal(idp_store_revision(f->s), ok);
  json_t *items = NULL;
  int64_t rev;
  char *cont;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_store_list(f->s, "core/configmaps", NULL, &items, &rev, &cont, &e), IDP_OK);
  assert_int_equal(json_array_size(items), (size_t)ok);
  json_decref(items);
  create_ok(f->s, "core/configmaps", "default", "after"); /* and writes work again */
}

/* ---- durability ------------------------------------------------------------- */

/* The child writes from two threads (so group commit batches are in
 * flight when it dies) and reports every acknowledged name through a pipe
 * (4-byte writes to a pipe are atomic); the parent kill -9s it mid-stream. */
typedef struct kctx {
  idp_store *s;
  int fd, id;
} kctx;

static void *kill_writer(void *arg) {
  kctx *k = arg;
  for (int i = 0;; i++) {
    char n[32];
    snprintf(n, sizeof n, "k%d-%08d", k->id, i);
    json_t *o = cm(n, "v");
    idp_err e = IDP_ERR_INIT;
    if (idp_store_create(k->s, "core/configmaps", "default", n, o, NULL, &e) != IDP_OK) _exit(2);
    json_decref(o);
    int32_t msg = k->id << 24 | i; /* acknowledged: tell the parent */
    if (write(k->fd, &msg, sizeof msg) != (ssize_t)sizeof msg) _exit(3);
  }
  return NULL;
}

static void test_kill9_durability(void **state) {
  fx *f = *state;
  idp_store_close(f->s);
  f->s = NULL;
  int p[2];
  assert_int_equal(pipe(p), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(p[0]);
    idp_store_opts o = {.path = f->path};
    idp_store *s = NULL;
    idp_err e = IDP_ERR_INIT;
    if (idp_store_open(&o, &s, &e)) _exit(4);
    pthread_t th[2];
    kctx k[2] = {{s, p[1], 0}, {s, p[1], 1}};
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, kill_writer, &k[i]);
    pthread_join(th[0], NULL); /* never returns: killed */
    _exit(5);
  }
  close(p[1]);
  int last[2] = {-1, -1}, total = 0;
  int32_t v;
  while (total < 600 && read(p[0], &v, sizeof v) == (ssize_t)sizeof v) {
    last[v >> 24] = v & 0xffffff;
    total++;
  }
  kill(pid, SIGKILL);
  /* acknowledgements written before the kill still count */
  while (read(p[0], &v, sizeof v) == (ssize_t)sizeof v) last[v >> 24] = v & 0xffffff;
  int status;
  waitpid(pid, &status, 0);
  close(p[0]);
  assert_true(WIFSIGNALED(status));
  assert_int_equal(WTERMSIG(status), SIGKILL);
  f->s = open_at(f->path, 0);
  int64_t acked = 0;
  for (int t = 0; t < 2; t++) {
    for (int i = 0; i <= last[t]; i++) {
      char n[32];
      snprintf(n, sizeof n, "k%d-%08d", t, i);
      json_t *got = NULL;
      idp_err e = IDP_ERR_INIT;
      idp_code c = idp_store_get(f->s, "core/configmaps", "default", n, &got, &e);
      if (c) fprintf(stderr, "lost acknowledged write %s\n", n);
      assert_int_equal(c, IDP_OK);
      json_decref(got);
    }
    acked += last[t] + 1;
  }
  assert_true(acked >= 600);
  /* at most the writes in flight at the kill are there unacknowledged */
  int64_t rev = idp_store_revision(f->s);
  assert_true(rev >= acked && rev <= acked + 2);
  /* the history is consistent with the current state: a replay of the
   * whole history gives exactly `rev` events in order */
  idp_watch *w = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_store_watch(f->s, "core/configmaps", NULL, 0, 0, &w, &e), IDP_OK);
  idp_watch_close(w);
  json_t *items;
  int64_t lrev;
  char *cont;
  assert_int_equal(idp_store_list(f->s, "core/configmaps", NULL, &items, &lrev, &cont, &e), IDP_OK);
  assert_int_equal((int64_t)json_array_size(items), rev);
  json_decref(items);
}

/* Random and truncated continue tokens never crash and give IDP_EINVAL. */
static void test_garbage_tokens(void **state) {
  fx *f = *state;
  idp_err e = IDP_ERR_INIT;
  for (int i = 0; i < 5; i++) {
    char n[8];
    snprintf(n, sizeof n, "g%d", i);
    create_ok(f->s, "core/configmaps", "default", n);
  }
  json_t *items;
  int64_t rev;
  char *good = NULL;
  idp_store_list_opts lo = {.limit = 2};
  assert_int_equal(idp_store_list(f->s, "core/configmaps", &lo, &items, &rev, &good, &e), IDP_OK);
  json_decref(items);
  assert_non_null(good);
  unsigned seed = 12345;
  char tok[256];
  for (int i = 0; i < 2000; i++) {
    size_t n = strlen(good);
    if (i % 2) { /* a mutation of a good token */
      memcpy(tok, good, n + 1);
      tok[rand_r(&seed) % n] = "AZaz09-_!~=."[rand_r(&seed) % 12];
      if (i % 4 == 1) tok[rand_r(&seed) % n] = '\0';
    } else { /* random bytes */
      size_t len = 1 + rand_r(&seed) % (sizeof tok - 1);
      for (size_t k = 0; k < len; k++) tok[k] = (char)(1 + rand_r(&seed) % 255);
      tok[len] = '\0';
    }
    idp_store_list_opts bo = {.cont = tok};
    char *next = NULL;
    items = NULL;
    idp_code c = idp_store_list(f->s, "core/configmaps", &bo, &items, &rev, &next, &e);
    assert_true(c == IDP_OK || c == IDP_EINVAL);
    if (c == IDP_OK)
      json_decref(items);
    else
      assert_null(items);
    free(next);
  }
  /* a well-formed token from the future */
  const char *future = "eyJ2IjoiaWRwL3YxIiwicnYiOjk5OTksIm5zIjoiIiwibmFtZSI6ImEifQ";
  idp_store_list_opts fo = {.cont = future};
  char *next = NULL;
  assert_int_equal(idp_store_list(f->s, "core/configmaps", &fo, &items, &rev, &next, &e),
                   IDP_EINVAL);
  free(good);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_crud, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reopen_keeps_revision, setup, teardown),
      cmocka_unit_test_setup_teardown(test_list_order_and_pages, setup, teardown),
      cmocka_unit_test_setup_teardown(test_list_raw, setup, teardown),
      cmocka_unit_test_setup_teardown(test_token_across_namespaces, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pages_are_snapshots, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tampered_blob, setup, teardown),
      cmocka_unit_test_setup_teardown(test_in_use_and_memory, setup, teardown),
      cmocka_unit_test_setup_teardown(test_watch_replay_then_live, setup, teardown),
      cmocka_unit_test_setup_teardown(test_watch_namespace_and_from_now, setup, teardown),
      cmocka_unit_test_setup_teardown(test_slow_watcher_dropped, setup, teardown),
      cmocka_unit_test_setup_teardown(test_compaction_gone, setup, teardown),
      cmocka_unit_test_setup_teardown(test_compaction_keeps_live_objects, setup, teardown),
      cmocka_unit_test_setup_teardown(test_schema_migration, setup, teardown),
      cmocka_unit_test_setup_teardown(test_encryption, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_racing_writers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
      cmocka_unit_test_setup_teardown(test_garbage_tokens, setup, teardown),
      cmocka_unit_test_setup_teardown(test_kill9_durability, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
