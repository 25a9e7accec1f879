/* store.c: the SQLite object store (see store.h for the contract).
 *
 * Schema (one database file, WAL):
 *   events(rev PRIMARY KEY, type, resource, ns, name, value, prev)
 *       every write, with the object's state after it (DELETED: last state)
 *       and `prev`, the revision of the value it superseded (0 for ADDED),
 *       which links each key's history like kine's prev_revision
 *   objects(resource, ns, name, rev) WITHOUT ROWID
 *       current state: which event row holds each live object's value
 *   meta(k, v)  schema version, compaction point and sweep progress, key check
 * A value is stored once (in its event row), which halves the file and the
 * WAL bytes per commit compared with keeping a second copy in `objects`
 * (measured: ~15-40% more creates/s).  Compaction deletes a value only once
 * it was superseded at or before the compaction point, so live values and
 * every state as of a revision >= that point stay (snapshot list pages read
 * them).  Each write is one IMMEDIATE transaction touching one objects row
 * and one events row; the revision counter lives in memory (s->rev) and is
 * the largest events.rev on open (compaction keeps the newest event, and
 * records the revision in meta). */
#include "core/common.h"

#include <openssl/crypto.h>

#include "store/store_int.h"

#define SCHEMA_VERSION 3
#define DEFAULT_HISTORY 100000
#define COMPACT_BATCH 1000
#define LIST_MAX_BYTES ((size_t)1 << 30) /* JSON of one idp_store_list page */
#define KEYCHECK_TEXT "idp-store-keycheck-v1"

static const char *const SQL[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_GET] =
        "SELECT o.rev, e.value FROM objects o JOIN events e ON e.rev = o.rev "
        "WHERE o.resource=?1 AND o.ns=?2 AND o.name=?3",
    [ST_GETREV] = "SELECT rev FROM objects WHERE resource=?1 AND ns=?2 AND name=?3",
    [ST_INS_OBJ] = "INSERT INTO objects(resource, ns, name, rev) VALUES(?1,?2,?3,?4)",
    [ST_UPD_OBJ] = "UPDATE objects SET rev=?4 WHERE resource=?1 AND ns=?2 AND name=?3",
    [ST_DEL_OBJ] = "DELETE FROM objects WHERE resource=?1 AND ns=?2 AND name=?3",
    [ST_INS_EV] =
        "INSERT INTO events(rev, type, resource, ns, name, value, prev) "
        "VALUES(?1,?2,?3,?4,?5,?6,?7)",
    [ST_EV_ROW] = "SELECT type, prev, value FROM events WHERE rev=?1",
    [ST_DELETED_AFTER] =
        "SELECT ns, name, rev FROM events WHERE resource=?1 AND rev > ?2 AND "
        "type=2 AND (?3 IS NULL OR ns=?3) ORDER BY ns, name",
    [ST_LIST] =
        "SELECT o.ns, o.name, e.value, o.rev FROM objects o JOIN events e ON e.rev = o.rev "
        "WHERE o.resource=?1 AND (o.ns, o.name) > (?2, ?3) ORDER BY o.ns, o.name "
        "LIMIT ?4",
    [ST_LIST_NS] =
        "SELECT o.ns, o.name, e.value, o.rev FROM objects o JOIN events e ON e.rev = o.rev "
        "WHERE o.resource=?1 AND o.ns=?2 AND o.name > ?3 ORDER BY o.name LIMIT ?4",
    [ST_EV_AFTER] =
        "SELECT rev, type, ns, name, value FROM events WHERE resource=?1 AND "
        "rev > ?2 ORDER BY rev LIMIT ?3",
    [ST_EV_AFTER_NS] =
        "SELECT rev, type, ns, name, value FROM events WHERE resource=?1 AND "
        "rev > ?2 AND ns=?4 ORDER BY rev LIMIT ?3",
    [ST_META_SET] = "INSERT OR REPLACE INTO meta(k, v) VALUES(?1, ?2)",
    [ST_META_GET] = "SELECT v FROM meta WHERE k=?1",
    /* A batch (lo, hi] of a compaction to `target` >= hi: every value
     * superseded by an event in the batch goes, then the batch's tombstones.
     * A value superseded only after the target stays: it is the state as of
     * the target, which snapshot list pages may still read. */
    [ST_COMPACT] =
        "DELETE FROM events WHERE rev IN (SELECT prev FROM events WHERE rev > ?1 AND "
        "rev <= ?2 AND prev > 0)",
    [ST_COMPACT_TOMB] = "DELETE FROM events WHERE rev > ?1 AND rev <= ?2 AND type=2",
};

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v);"
    "CREATE TABLE IF NOT EXISTS objects(resource TEXT NOT NULL, ns TEXT NOT NULL,"
    " name TEXT NOT NULL, rev INTEGER NOT NULL, PRIMARY KEY(resource, ns, name)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS events(rev INTEGER PRIMARY KEY, type INTEGER NOT NULL,"
    " resource TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL, value BLOB NOT NULL,"
    " prev INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS events_resource ON events(resource, rev);";

/* ---- small helpers -------------------------------------------------------- */

void store_lock_init(store_lock *l) {
  pthread_mutex_init(&l->m, NULL);
  pthread_cond_init(&l->c, NULL);
  l->next = l->serving = 0;
}

void store_lock_destroy(store_lock *l) {
  pthread_mutex_destroy(&l->m);
  pthread_cond_destroy(&l->c);
}

void store_lock_take(store_lock *l) {
  pthread_mutex_lock(&l->m);
  uint64_t ticket = l->next++;
  while (ticket != l->serving) pthread_cond_wait(&l->c, &l->m);
  pthread_mutex_unlock(&l->m);
}

void store_lock_give(store_lock *l) {
  pthread_mutex_lock(&l->m);
  l->serving++;
  bool waiters = l->next != l->serving;
  pthread_mutex_unlock(&l->m);
  if (waiters) pthread_cond_broadcast(&l->c);
}

void store_qualified(const char *resource, char *out, size_t n) {
  const char *slash = strchr(resource, '/');
  if (!slash) {
    snprintf(out, n, "%s", resource);
  } else if ((size_t)(slash - resource) == 4 && memcmp(resource, "core", 4) == 0) {
    snprintf(out, n, "%s", slash + 1);
  } else {
    snprintf(out, n, "%s.%.*s", slash + 1, (int)(slash - resource), resource);
  }
}

static idp_code db_err(idp_store *s, idp_err *e, const char *what) {
  int rc = sqlite3_extended_errcode(s->db);
  idp_code code = IDP_EIO;
  if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) code = IDP_EUNAVAILABLE;
  if ((rc & 0xff) == SQLITE_NOMEM) code = IDP_ENOMEM;
  return idp_err_set(e, code, "store %s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

/* Runs a statement that returns no rows, then resets it. */
static idp_code step_done(idp_store *s, int which, idp_err *e) {
  sqlite3_stmt *st = s->st[which];
  int rc = sqlite3_step(st);
  idp_code code = IDP_OK;
  if (rc != SQLITE_DONE) code = db_err(s, e, SQL[which]);
  sqlite3_reset(st);
  return code;
}

static void bind_key(sqlite3_stmt *st, const char *resource, const char *ns, const char *name) {
  sqlite3_bind_text(st, 1, resource, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
}

static bool is_encrypted(const idp_store *s, const char *resource) {
  for (size_t i = 0; i < s->n_encrypt; i++)
    if (strcmp(s->encrypt[i], resource) == 0) return true;
  return false;
}

/* AAD binds a sealed value to its key: resource NUL ns NUL name. */
static idp_code make_aad(idp_store *s, const char *resource, const char *ns, const char *name) {
  idp_buf_reset(&s->aad);
  idp_code rc = idp_buf_add(&s->aad, resource, strlen(resource) + 1);
  if (!rc) rc = idp_buf_add(&s->aad, ns, strlen(ns) + 1);
  if (!rc) rc = idp_buf_add(&s->aad, name, strlen(name));
  return rc;
}

idp_code store_plain(idp_store *s, const char *resource, const char *ns, const char *name,
                     const void *blob, size_t n, const char **text, size_t *text_len, idp_err *e) {
  if (!idp_sealed(blob, n)) {
    *text = blob;
    *text_len = n;
    return IDP_OK;
  }
  if (make_aad(s, resource, ns, name)) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  idp_code rc = idp_unseal(s->key, s->aad.data, s->aad.len, blob, n, &s->scratch, e);
  if (rc) {
    char q[256];
    store_qualified(resource, q, sizeof q);
    idp_err_prefix(e, "%s \"%s\"%s%s", q, name, *ns ? " in namespace " : "", ns);
    return rc;
  }
  *text = s->scratch.data ? s->scratch.data : "";
  *text_len = s->scratch.len;
  return IDP_OK;
}

static void wipe_free(char *t, size_t len) {
  if (t) OPENSSL_cleanse(t, len);
  free(t);
}

static void scratch_wipe(idp_store *s) {
  if (s->scratch.data) OPENSSL_cleanse(s->scratch.data, s->scratch.cap);
  idp_buf_reset(&s->scratch);
}

/* Decodes a stored value into a new json_t. */
static idp_code decode(idp_store *s, const char *resource, const char *ns, const char *name,
                       const void *blob, size_t n, json_t **out, idp_err *e) {
  const char *text;
  size_t len;
  idp_code rc = store_plain(s, resource, ns, name, blob, n, &text, &len, e);
  if (rc) return rc;
  json_error_t je;
  *out = json_loadb(text, len, JSON_ALLOW_NUL, &je);
  if (text == s->scratch.data) scratch_wipe(s);
  if (!*out) {
    char q[256];
    store_qualified(resource, q, sizeof q);
    return idp_err_set(e, IDP_EIO, "store %s: %s \"%s\": stored value is not valid JSON (%s)",
                       s->path, q, name, je.text);
  }
  return IDP_OK;
}

/* Binds the value for storage: sealed for encrypted resources.  The bound
 * pointer stays valid until s->scratch is next used. */
static idp_code bind_value(idp_store *s, sqlite3_stmt *st, int col, const char *resource,
                           const char *ns, const char *name, const char *json, size_t len,
                           idp_err *e) {
  if (!is_encrypted(s, resource)) {
    sqlite3_bind_blob(st, col, json, (int)len, SQLITE_STATIC);
    return IDP_OK;
  }
  if (make_aad(s, resource, ns, name)) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  idp_code rc = idp_seal(s->key, s->aad.data, s->aad.len, json, len, &s->scratch, e);
  if (rc) return rc;
  sqlite3_bind_blob(st, col, s->scratch.data, (int)s->scratch.len, SQLITE_STATIC);
  return IDP_OK;
}

/* ---- event records -------------------------------------------------------- */

static char *dupstr(const char *p) {
  size_t n = strlen(p) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, p, n);
  return d;
}

ev_rec *ev_rec_new(int64_t rev, idp_event_type type, const char *resource, const char *ns,
                   const char *name, const char *json, size_t len) {
  ev_rec *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  atomic_init(&r->refs, 1);
  r->rev = rev;
  r->type = type;
  r->resource = dupstr(resource);
  r->ns = dupstr(ns);
  r->name = dupstr(name);
  r->json = malloc(len + 1);
  if (!r->resource || !r->ns || !r->name || !r->json) {
    ev_rec_unref(r);
    return NULL;
  }
  memcpy(r->json, json, len);
  r->json[len] = '\0';
  r->len = len;
  return r;
}

void ev_rec_unref(ev_rec *r) {
  if (!r || atomic_fetch_sub(&r->refs, 1) != 1) return;
  if (r->json) OPENSSL_cleanse(r->json, r->len); /* may be a secret */
  free(r->resource);
  free(r->ns);
  free(r->name);
  free(r->json);
  free(r);
}

/* ---- open / close ----------------------------------------------------------- */

static idp_code exec_sql(idp_store *s, const char *sql, idp_err *e) {
  char *msg = NULL;
  if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
    idp_code rc = idp_err_set(e, IDP_EIO, "store %s: %s: %s", s->path, sql,
                              msg ? msg : sqlite3_errmsg(s->db));
    sqlite3_free(msg);
    return rc;
  }
  return IDP_OK;
}

static idp_code meta_get_int(idp_store *s, const char *k, int64_t *v, bool *found, idp_err *e) {
  sqlite3_stmt *st = s->st[ST_META_GET];
  sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  *found = rc == SQLITE_ROW;
  if (*found) *v = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_err(s, e, "reading meta");
  return IDP_OK;
}

static idp_code meta_set_int(idp_store *s, const char *k, int64_t v, idp_err *e) {
  sqlite3_stmt *st = s->st[ST_META_SET];
  sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, v);
  return step_done(s, ST_META_SET, e);
}

/* Seals a known text on first open and checks it on every later one, so
 * that a wrong key file is reported at open, not on the first secret read. */
static idp_code check_key(idp_store *s, const char *key_path, idp_err *e) {
  sqlite3_stmt *st = s->st[ST_META_GET];
  sqlite3_bind_text(st, 1, "keycheck", -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  idp_code code = IDP_OK;
  if (rc == SQLITE_ROW) {
    const void *blob = sqlite3_column_blob(st, 0);
    size_t n = (size_t)sqlite3_column_bytes(st, 0);
    if (idp_unseal(s->key, "keycheck", 8, blob, n, &s->scratch, e) != IDP_OK ||
        s->scratch.len != strlen(KEYCHECK_TEXT) ||
        memcmp(s->scratch.data, KEYCHECK_TEXT, s->scratch.len) != 0)
      code = idp_err_set(e, IDP_EIO,
                         "store %s: the encryption key in %s does not match the one the "
                         "database was written with",
                         s->path, key_path);
    sqlite3_reset(st);
    idp_buf_reset(&s->scratch);
    return code;
  }
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) return db_err(s, e, "reading meta");
  if ((code =
           idp_seal(s->key, "keycheck", 8, KEYCHECK_TEXT, strlen(KEYCHECK_TEXT), &s->scratch, e)))
    return code;
  st = s->st[ST_META_SET];
  sqlite3_bind_text(st, 1, "keycheck", -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, s->scratch.data, (int)s->scratch.len, SQLITE_STATIC);
  code = step_done(s, ST_META_SET, e);
  idp_buf_reset(&s->scratch);
  return code;
}

/* Brings an older database to SCHEMA_VERSION (before statements are
 * prepared).  2 -> 3 added events.prev: rows written before it have prev 0,
 * so the values they superseded are not compacted (harmless, bounded). */
static idp_code migrate(idp_store *s, idp_err *e) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db, "SELECT v FROM meta WHERE k='schema'", -1, &st, NULL) != SQLITE_OK)
    return db_err(s, e, "reading the schema version");
  int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
  sqlite3_finalize(st);
  idp_code c = IDP_OK;
  if (v == 2)
    c = exec_sql(s,
                 "BEGIN IMMEDIATE; ALTER TABLE events ADD COLUMN prev INTEGER NOT NULL "
                 "DEFAULT 0; UPDATE meta SET v=3 WHERE k='schema'; COMMIT",
                 e);
  else if (v == 0)
    c = exec_sql(s, "INSERT INTO meta(k, v) VALUES('schema', 3)", e);
  else if (v != SCHEMA_VERSION)
    c = idp_err_set(e, IDP_EIO, "store %s: schema version %lld is not supported (want %d)", s->path,
                    (long long)v, SCHEMA_VERSION);
  if (c) exec_sql(s, "ROLLBACK", &(idp_err)IDP_ERR_INIT);
  return c;
}

static idp_code open_db(idp_store *s, const idp_store_opts *o, idp_err *e) {
  int rc = sqlite3_open_v2(o->path, &s->db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) {
    idp_code c = idp_err_set(e, IDP_EIO, "store %s: cannot open: %s", o->path,
                             s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    return c;
  }
  sqlite3_extended_result_codes(s->db, 1);
  sqlite3_busy_timeout(s->db, 1000);
  idp_code c;
  /* page_size only takes effect on a new database: 8 KiB pages hold
   * Kubernetes-sized (~2 KiB) values without half-empty pages. */
  if ((c = exec_sql(s, "PRAGMA locking_mode=EXCLUSIVE; PRAGMA page_size=8192", e))) return c;
  bool mem = strcmp(o->path, ":memory:") == 0;
  if (!mem) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK)
      return db_err(s, e, "PRAGMA journal_mode=WAL");
    rc = sqlite3_step(st);
    const char *mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    bool wal = mode && strcmp(mode, "wal") == 0;
    sqlite3_finalize(st);
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
      return idp_err_set(e, IDP_EUNAVAILABLE, "store %s: the database is in use by another process",
                         o->path);
    if (!wal)
      return idp_err_set(e, IDP_EIO, "store %s: cannot switch the database to WAL mode", o->path);
  }
  /* EXCLUSIVE: the one process that owns the file keeps its lock, which
   * saves two fcntl calls per transaction (about +15% creates/s) and makes
   * a second process opening the same file fail fast instead of sharing it
   * (kine forbids sharing a SQLite file too).  journal_size_limit keeps
   * the WAL from staying large after a burst. */
  if ((c = exec_sql(s,
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA cache_size=-32768; PRAGMA journal_size_limit=67108864;"
                    "PRAGMA temp_store=MEMORY; PRAGMA foreign_keys=OFF",
                    e)))
    return c;
  if ((c = exec_sql(s, SCHEMA, e))) return c;
  if ((c = migrate(s, e))) return c;
  for (int i = 0; i < ST_COUNT; i++) {
    if (sqlite3_prepare_v3(s->db, SQL[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL) !=
        SQLITE_OK)
      return db_err(s, e, SQL[i]);
  }
  int64_t v = 0;
  bool found = false;
  if ((c = meta_get_int(s, "compacted", &v, &found, e))) return c;
  s->compacted = found ? v : 0;
  if ((c = meta_get_int(s, "rev", &v, &found, e))) return c;
  s->rev = found ? v : 0;
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db, "SELECT max(rev) FROM events", -1, &st, NULL) != SQLITE_OK)
    return db_err(s, e, "SELECT max(rev)");
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL &&
      sqlite3_column_int64(st, 0) > s->rev)
    s->rev = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return IDP_OK;
}

idp_code idp_store_open(const idp_store_opts *o, idp_store **out, idp_err *e) {
  *out = NULL;
  if (!o || !o->path || !*o->path)
    return idp_err_set(e, IDP_EINVAL, "store: a database path is required");
  if (o->history_revisions < 0)
    return idp_err_set(e, IDP_EINVAL, "store %s: history_revisions must not be negative", o->path);
  idp_store *s = calloc(1, sizeof *s);
  if (!s) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  store_lock_init(&s->mu);
  pthread_mutex_init(&s->qmu, NULL);
  pthread_cond_init(&s->qcv, NULL);
  s->refs = 1;
  idp_buf_init(&s->scratch, 0);
  idp_buf_init(&s->aad, 0);
  s->history = o->history_revisions ? o->history_revisions : DEFAULT_HISTORY;
  s->path = dupstr(o->path);
  s->ring_cap = RING_CAP;
  s->ring = calloc(s->ring_cap, sizeof *s->ring);
  static const char *const default_encrypt[] = {"core/secrets", NULL};
  const char *const *enc = o->encrypt ? o->encrypt : default_encrypt;
  for (size_t i = 0; enc[i]; i++) s->n_encrypt++;
  s->encrypt = calloc(s->n_encrypt + 1, sizeof *s->encrypt);
  idp_code c = IDP_OK;
  if (!s->path || !s->ring || !s->encrypt) c = idp_err_set(e, IDP_ENOMEM, "out of memory");
  for (size_t i = 0; !c && i < s->n_encrypt; i++)
    if (!(s->encrypt[i] = dupstr(enc[i]))) c = idp_err_set(e, IDP_ENOMEM, "out of memory");

  /* The key is always loaded (even with an empty encrypt list) so values
   * sealed under an earlier configuration stay readable. */
  char key_path[4096];
  bool mem = strcmp(o->path, ":memory:") == 0;
  if (!c) {
    if (o->key_file)
      snprintf(key_path, sizeof key_path, "%s", o->key_file);
    else if (!mem)
      snprintf(key_path, sizeof key_path, "%s.key", o->path);
    else
      key_path[0] = '\0';
    if (key_path[0])
      c = idp_seal_key_load(key_path, s->key, e);
    else
      c = idp_seal_key_random(s->key, e);
  }
  if (!c && (c = open_db(s, o, e)) && s->db) {
    int x = sqlite3_extended_errcode(s->db) & 0xff;
    if (x == SQLITE_BUSY || x == SQLITE_LOCKED)
      c = idp_err_set(e, IDP_EUNAVAILABLE, "store %s: the database is in use by another process",
                      o->path);
  }
  if (!c) c = check_key(s, key_path[0] ? key_path : "(ephemeral key)", e);
  if (c) {
    store_destroy(s);
    return c;
  }
  s->ring_first = s->rev + 1;
  *out = s;
  return IDP_OK;
}

/* Frees everything; the caller ensured no watch still refers to s. */
void store_destroy(idp_store *s) {
  for (int i = 0; i < ST_COUNT; i++)
    if (s->st[i]) sqlite3_finalize(s->st[i]);
  if (s->db) sqlite3_close(s->db);
  s->db = NULL;
  for (size_t i = 0; i < s->ring_n; i++) ev_rec_unref(s->ring[(s->ring_head + i) % s->ring_cap]);
  free(s->ring);
  for (size_t i = 0; s->encrypt && i < s->n_encrypt; i++) free(s->encrypt[i]);
  free(s->encrypt);
  scratch_wipe(s);
  idp_buf_free(&s->scratch);
  idp_buf_free(&s->aad);
  OPENSSL_cleanse(s->key, sizeof s->key);
  free(s->path);
  store_lock_destroy(&s->mu);
  pthread_mutex_destroy(&s->qmu);
  pthread_cond_destroy(&s->qcv);
  free(s);
}

void idp_store_close(idp_store *s) {
  if (!s) return;
  store_lock_take(&s->mu);
  s->closing = true;
  store_close_watchers(s);
  /* Release the database now; the struct lives until the last watch closes. */
  for (int i = 0; i < ST_COUNT; i++) {
    if (s->st[i]) sqlite3_finalize(s->st[i]);
    s->st[i] = NULL;
  }
  if (s->db) sqlite3_close(s->db);
  s->db = NULL;
  bool last = --s->refs == 0;
  store_lock_give(&s->mu);
  if (last) store_destroy(s);
}

int64_t idp_store_revision(idp_store *s) {
  store_lock_take(&s->mu);
  int64_t r = s->rev;
  store_lock_give(&s->mu);
  return r;
}

void idp_store_get_stats(idp_store *s, idp_store_stats *out) {
  memset(out, 0, sizeof *out);
  store_lock_take(&s->mu);
  out->revision = s->rev;
  out->compacted = s->compacted;
  out->writes = s->n_writes;
  out->commits = s->n_commits;
  for (idp_watch *w = s->watchers; w; w = w->next) out->watches_open++;
  out->watches_dropped = s->n_dropped;
  out->ring_events = s->ring_n;
  out->ring_bytes = s->ring_bytes;
  store_lock_give(&s->mu);
}

int64_t idp_store_compacted(idp_store *s) {
  store_lock_take(&s->mu);
  int64_t r = s->compacted;
  store_lock_give(&s->mu);
  return r;
}

/* ---- reads ------------------------------------------------------------------ */

static idp_code check_key_args(const char *resource, const char *name, idp_err *e) {
  if (!resource || !*resource) return idp_err_set(e, IDP_EINVAL, "store: resource is required");
  if (!name || !*name) {
    char q[256];
    store_qualified(resource, q, sizeof q);
    return idp_err_set(e, IDP_EINVAL, "%s: name is required", q);
  }
  return IDP_OK;
}

static idp_code not_found(const char *resource, const char *name, idp_err *e) {
  char q[256];
  store_qualified(resource, q, sizeof q);
  return idp_err_set(e, IDP_ENOTFOUND, "%s \"%s\" not found", q, name);
}

idp_code idp_store_get(idp_store *s, const char *resource, const char *ns, const char *name,
                       json_t **obj, idp_err *e) {
  *obj = NULL;
  if (!ns) ns = "";
  idp_code c = check_key_args(resource, name, e);
  if (c) return c;
  /* Only the lookup (and unsealing) happens under the lock; the text is
   * copied out and parsed after unlocking so readers do not stall writers. */
  char *copy = NULL;
  size_t len = 0;
  store_lock_take(&s->mu);
  if (s->closing) {
    store_lock_give(&s->mu);
    return idp_err_set(e, IDP_EUNAVAILABLE, "store %s is closed", s->path);
  }
  sqlite3_stmt *st = s->st[ST_GET];
  bind_key(st, resource, ns, name);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    const char *text;
    c = store_plain(s, resource, ns, name, sqlite3_column_blob(st, 1),
                    (size_t)sqlite3_column_bytes(st, 1), &text, &len, e);
    if (!c && !(copy = malloc(len + 1))) c = idp_err_set(e, IDP_ENOMEM, "out of memory");
    if (!c) memcpy(copy, text, len);
    if (!c && text == s->scratch.data) scratch_wipe(s);
  } else if (rc == SQLITE_DONE) {
    c = not_found(resource, name, e);
  } else {
    c = db_err(s, e, "get");
  }
  sqlite3_reset(st);
  store_lock_give(&s->mu);
  if (c) return c;
  json_error_t je;
  *obj = json_loadb(copy, len, JSON_ALLOW_NUL, &je);
  wipe_free(copy, len);
  if (!*obj) {
    char q[256];
    store_qualified(resource, q, sizeof q);
    return idp_err_set(e, IDP_EIO, "store %s: %s \"%s\": stored value is not valid JSON (%s)",
                       s->path, q, name, je.text);
  }
  return IDP_OK;
}

/* ---- continue tokens -------------------------------------------------------
 * base64url (no padding) of {"v":"idp/v1","rv":N,"ns":"…","name":"…"}: the
 * list's revision and the last key returned.  Opaque to clients. */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *b64url_encode(const unsigned char *p, size_t n) {
  char *out = malloc(n / 3 * 4 + 5);
  if (!out) return NULL;
  size_t o = 0, i = 0;
  for (; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    out[o++] = B64[v >> 18 & 63];
    out[o++] = B64[v >> 12 & 63];
    out[o++] = B64[v >> 6 & 63];
    out[o++] = B64[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)p[i] << 16;
    out[o++] = B64[v >> 18 & 63];
    out[o++] = B64[v >> 12 & 63];
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
    out[o++] = B64[v >> 18 & 63];
    out[o++] = B64[v >> 12 & 63];
    out[o++] = B64[v >> 6 & 63];
  }
  out[o] = '\0';
  return out;
}

static int b64val(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-' || c == '+') return 62; /* accept both alphabets */
  if (c == '_' || c == '/') return 63;
  return -1;
}

/* Decodes into out (caller frees); false on any invalid character. */
static bool b64url_decode(const char *s, unsigned char **out, size_t *outlen) {
  size_t n = strlen(s);
  while (n && s[n - 1] == '=') n--;
  if (n % 4 == 1) return false;
  unsigned char *o = malloc(n / 4 * 3 + 3);
  if (!o) return false;
  size_t k = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = b64val(s[i]);
    if (v < 0) {
      free(o);
      return false;
    }
    acc = acc << 6 | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      o[k++] = (unsigned char)(acc >> bits & 0xff);
    }
  }
  *out = o;
  *outlen = k;
  return true;
}

static char *token_make(int64_t rv, const char *ns, const char *name) {
  json_t *t = json_pack("{s:s, s:I, s:s, s:s}", "v", "idp/v1", "rv", (json_int_t)rv, "ns", ns,
                        "name", name);
  if (!t) return NULL;
  char *js = json_dumps(t, JSON_COMPACT);
  json_decref(t);
  if (!js) return NULL;
  char *tok = b64url_encode((const unsigned char *)js, strlen(js));
  free(js);
  return tok;
}

static idp_code token_parse(const char *tok, int64_t *rv, char **ns, char **name, idp_err *e) {
  unsigned char *raw = NULL;
  size_t n = 0;
  json_t *t = NULL;
  if (strlen(tok) < 8192 && b64url_decode(tok, &raw, &n)) t = json_loadb((char *)raw, n, 0, NULL);
  free(raw);
  const char *v = t ? json_string_value(json_object_get(t, "v")) : NULL;
  json_t *jrv = t ? json_object_get(t, "rv") : NULL;
  const char *jns = t ? json_string_value(json_object_get(t, "ns")) : NULL;
  const char *jname = t ? json_string_value(json_object_get(t, "name")) : NULL;
  if (!v || strcmp(v, "idp/v1") != 0 || !json_is_integer(jrv) || json_integer_value(jrv) <= 0 ||
      !jns || !jname) {
    json_decref(t);
    return idp_err_set(e, IDP_EINVAL, "invalid continue token");
  }
  *rv = json_integer_value(jrv);
  *ns = dupstr(jns);
  *name = dupstr(jname);
  json_decref(t);
  if (!*ns || !*name) {
    free(*ns);
    free(*name);
    return idp_err_set(e, IDP_ENOMEM, "out of memory");
  }
  return IDP_OK;
}

/* ---- snapshot pages ----------------------------------------------------------
 * A page is read as of the list revision R, as etcd does.  Objects not
 * written since R are read as they are.  For an object written since R its
 * state at R is found by following `prev` (the revision each event
 * superseded) back to a revision <= R, or it did not exist at R (the chain
 * ends in its ADDED event).  Objects deleted since R are absent from
 * `objects`: their DELETED events after R are merged in, in key order, with
 * their state at R found the same way.  Compaction keeps every state as of
 * a revision >= the compaction point, and R is never below it.  For a
 * first page R is the current revision, nothing is newer, and this is just
 * the ordered read of `objects`. */

/* The revision holding the key's state at R, following prev from `rev`
 * (one of the key's events); 0 when the key did not exist at R. */
static idp_code state_at(idp_store *s, int64_t rev, int64_t R, int64_t *at, idp_err *e) {
  sqlite3_stmt *st = s->st[ST_EV_ROW];
  while (rev > R) {
    sqlite3_bind_int64(st, 1, rev);
    int rc = sqlite3_step(st);
    int64_t prev = rc == SQLITE_ROW ? sqlite3_column_int64(st, 1) : -1;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_err(s, e, "list history");
    if (prev < 0)
      return idp_err_set(e, IDP_EGONE, "too old resource version: %lld (%lld)", (long long)R,
                         (long long)s->compacted);
    rev = prev;
  }
  *at = rev;
  return IDP_OK;
}

static int keycmp(const char *ans, const char *aname, const char *bns, const char *bname) {
  int c = strcmp(ans, bns);
  return c ? c : strcmp(aname, bname);
}

/* Appends a stored value's plaintext and a NUL to texts. */
static idp_code emit_text(idp_store *s, const char *resource, const char *ns, const char *name,
                          const void *blob, size_t n, idp_buf *texts, idp_err *e) {
  const char *text;
  size_t len;
  idp_code c = store_plain(s, resource, ns, name, blob, n, &text, &len, e);
  if (c) return c;
  idp_code ac = idp_buf_add(texts, text, len);
  if (!ac) ac = idp_buf_addc(texts, '\0');
  if (text == s->scratch.data) scratch_wipe(s);
  if (ac)
    return idp_err_set(e, ac,
                       "list of %s: result too large (over %zu MiB); use limit and "
                       "continue",
                       resource, texts->max >> 20);
  return IDP_OK;
}

static idp_code emit_rev(idp_store *s, const char *resource, const char *ns, const char *name,
                         int64_t rev, idp_buf *texts, idp_err *e) {
  sqlite3_stmt *st = s->st[ST_EV_ROW];
  sqlite3_bind_int64(st, 1, rev);
  int rc = sqlite3_step(st);
  idp_code c;
  if (rc == SQLITE_ROW)
    c = emit_text(s, resource, ns, name, sqlite3_column_blob(st, 2),
                  (size_t)sqlite3_column_bytes(st, 2), texts, e);
  else if (rc == SQLITE_DONE)
    c = idp_err_set(e, IDP_EGONE, "too old resource version: revision %lld was compacted",
                    (long long)rev);
  else
    c = db_err(s, e, "list history");
  sqlite3_reset(st);
  return c;
}

typedef struct del_key {
  char *ns, *name;
  int64_t at; /* the state at R */
} del_key;

/* Reads one page under the lock into `texts`: the plaintext JSON of each
 * item followed by a NUL (so parsing and output happen after unlocking and
 * never stall writers).  *count items; *rev the list revision. */
static idp_code list_texts(idp_store *s, const char *resource, const idp_store_list_opts *o,
                           idp_buf *texts, size_t *count, int64_t *list_rev, char **next_cont,
                           idp_err *e) {
  *count = 0;
  if (next_cont) *next_cont = NULL;
  if (list_rev) *list_rev = 0;
  if (!resource || !*resource) return idp_err_set(e, IDP_EINVAL, "store: resource is required");
  const char *ns = o && o->ns && *o->ns ? o->ns : NULL;
  size_t limit = o ? o->limit : 0;
  int64_t tok_rv = 0;
  char *after_ns = NULL, *after_name = NULL, *last_ns = NULL, *last_name = NULL;
  if (o && o->cont && *o->cont) {
    idp_code c = token_parse(o->cont, &tok_rv, &after_ns, &after_name, e);
    if (c) return c;
  }
  /* The page starts after key (k_ns, k_name); with a namespace filter a
   * token from an all-namespaces list may point before or after ns. */
  const char *k_ns = after_ns ? after_ns : "", *k_name = after_name ? after_name : "";
  bool none = false;
  if (ns) {
    int cmp = after_ns ? strcmp(after_ns, ns) : -1;
    if (cmp > 0) none = true; /* already past this namespace */
    if (cmp < 0) k_name = "";
    k_ns = ns;
  }
  del_key *dk = NULL;
  size_t nd = 0, n = 0;
  bool more = false;
  idp_code c = IDP_OK;
  store_lock_take(&s->mu);
  if (s->closing) {
    c = idp_err_set(e, IDP_EUNAVAILABLE, "store %s is closed", s->path);
  } else if (tok_rv && tok_rv < s->compacted) {
    c = idp_err_set(e, IDP_EGONE,
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter.");
  } else if (tok_rv > s->rev) {
    c = idp_err_set(e, IDP_EINVAL, "invalid continue token: revision %lld is in the future",
                    (long long)tok_rv);
  }
  const int64_t R = tok_rv ? tok_rv : s->rev;
  if (!c && !none && R < s->rev) {
    /* Keys deleted since R that existed at R. */
    sqlite3_stmt *st = s->st[ST_DELETED_AFTER];
    sqlite3_bind_text(st, 1, resource, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, R);
    if (ns)
      sqlite3_bind_text(st, 3, ns, -1, SQLITE_STATIC);
    else
      sqlite3_bind_null(st, 3);
    size_t cap = 0;
    int rc;
    while (!c && (rc = sqlite3_step(st)) == SQLITE_ROW) {
      const char *rns = (const char *)sqlite3_column_text(st, 0);
      const char *rname = (const char *)sqlite3_column_text(st, 1);
      if (keycmp(rns, rname, k_ns, k_name) <= 0) continue;
      int64_t at = 0;
      if ((c = state_at(s, sqlite3_column_int64(st, 2), R, &at, e)) || !at) continue;
      if (nd == cap) {
        cap = cap ? cap * 2 : 16;
        del_key *grown = realloc(dk, cap * sizeof *dk);
        if (!grown) {
          c = idp_err_set(e, IDP_ENOMEM, "out of memory");
          break;
        }
        dk = grown;
      }
      dk[nd] = (del_key){dupstr(rns), dupstr(rname), at};
      if (!dk[nd].ns || !dk[nd].name) {
        free(dk[nd].ns);
        free(dk[nd].name);
        c = idp_err_set(e, IDP_ENOMEM, "out of memory");
        break;
      }
      nd++;
    }
    if (!c && rc != SQLITE_DONE) c = db_err(s, e, "list deleted");
    sqlite3_reset(st);
  }
  if (!c && !none) {
    sqlite3_stmt *st = s->st[ns ? ST_LIST_NS : ST_LIST];
    sqlite3_bind_text(st, 1, resource, -1, SQLITE_STATIC);
    if (ns) {
      sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 3, k_name, -1, SQLITE_STATIC);
    } else {
      sqlite3_bind_text(st, 2, k_ns, -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 3, k_name, -1, SQLITE_STATIC);
    }
    /* A page as of the current revision needs limit+1 rows; an older one
     * may skip rows created since, so it reads on as needed. */
    sqlite3_bind_int64(st, 4, limit && R == s->rev ? (int64_t)limit + 1 : -1);
    int rc = sqlite3_step(st);
    size_t di = 0;
    while (!c) {
      bool have_o = rc == SQLITE_ROW, have_d = di < nd;
      if (!have_o && !have_d) break;
      const char *rns = have_o ? (const char *)sqlite3_column_text(st, 0) : NULL;
      const char *rname = have_o ? (const char *)sqlite3_column_text(st, 1) : NULL;
      bool take_o = have_o && (!have_d || keycmp(rns, rname, dk[di].ns, dk[di].name) <= 0);
      int64_t at = 0;
      if (take_o) {
        int64_t orev = sqlite3_column_int64(st, 3);
        if (orev <= R)
          at = orev;
        else if ((c = state_at(s, orev, R, &at, e)))
          break;
      } else {
        rns = dk[di].ns;
        rname = dk[di].name;
        at = dk[di].at;
      }
      if (at) {
        if (limit && n == limit) {
          more = true; /* one more item exists: more pages */
          break;
        }
        if (take_o && at == sqlite3_column_int64(st, 3))
          c = emit_text(s, resource, rns, rname, sqlite3_column_blob(st, 2),
                        (size_t)sqlite3_column_bytes(st, 2), texts, e);
        else
          c = emit_rev(s, resource, rns, rname, at, texts, e);
        if (c) break;
        if (++n == limit && limit) {
          /* The token's key (not in after_*: those are bound to `st`). */
          last_ns = dupstr(rns);
          last_name = dupstr(rname);
          if (!last_ns || !last_name) c = idp_err_set(e, IDP_ENOMEM, "out of memory");
        }
      }
      if (take_o)
        rc = sqlite3_step(st);
      else
        di++;
    }
    if (!c && rc != SQLITE_ROW && rc != SQLITE_DONE) c = db_err(s, e, "list");
    sqlite3_reset(st);
    if (!c && more && next_cont) {
      *next_cont = token_make(R, last_ns, last_name);
      if (!*next_cont) c = idp_err_set(e, IDP_ENOMEM, "out of memory");
    }
  }
  store_lock_give(&s->mu);
  for (size_t i = 0; i < nd; i++) {
    free(dk[i].ns);
    free(dk[i].name);
  }
  free(dk);
  free(after_ns);
  free(after_name);
  free(last_ns);
  free(last_name);
  if (c) {
    if (next_cont) {
      free(*next_cont);
      *next_cont = NULL;
    }
    return c;
  }
  *count = n;
  if (list_rev) *list_rev = R;
  return IDP_OK;
}

static void texts_wipe(idp_buf *b) {
  if (b->data) OPENSSL_cleanse(b->data, b->len);
  idp_buf_free(b);
}

idp_code idp_store_list(idp_store *s, const char *resource, const idp_store_list_opts *o,
                        json_t **items, int64_t *list_rev, char **next_cont, idp_err *e) {
  *items = NULL;
  idp_buf texts;
  idp_buf_init(&texts, LIST_MAX_BYTES);
  size_t n = 0;
  idp_code c = list_texts(s, resource, o, &texts, &n, list_rev, next_cont, e);
  if (c) {
    texts_wipe(&texts);
    return c;
  }
  json_t *arr = json_array();
  const char *p = texts.data;
  for (size_t i = 0; arr && i < n; i++) {
    size_t len = strlen(p);
    json_error_t je;
    json_t *obj = json_loadb(p, len, JSON_ALLOW_NUL, &je);
    if (!obj || json_array_append_new(arr, obj)) {
      json_decref(arr);
      arr = NULL;
      c = obj ? idp_err_set(e, IDP_ENOMEM, "out of memory")
              : idp_err_set(e, IDP_EIO,
                            "store %s: list of %s: stored value is not valid JSON "
                            "(%s)",
                            s->path, resource, je.text);
    }
    p += len + 1;
  }
  if (!arr && !c) c = idp_err_set(e, IDP_ENOMEM, "out of memory");
  texts_wipe(&texts);
  if (c) {
    if (next_cont) {
      free(*next_cont);
      *next_cont = NULL;
    }
    if (list_rev) *list_rev = 0;
    return c;
  }
  *items = arr;
  return IDP_OK;
}

idp_code idp_store_list_raw(idp_store *s, const char *resource, const idp_store_list_opts *o,
                            idp_buf *out, size_t *count, int64_t *list_rev, char **next_cont,
                            idp_err *e) {
  size_t n = 0;
  size_t start = out->len;
  if (count) *count = 0;
  idp_code c = idp_buf_addc(out, '[');
  if (c) return idp_err_set(e, c, "list of %s: result too large", resource ? resource : "");
  c = list_texts(s, resource, o, out, &n, list_rev, next_cont, e);
  if (!c) {
    /* Items were appended NUL-separated after '[': turn the separators into
     * commas and close the array, in place. */
    char *p = out->data + start + 1;
    for (size_t i = 0; i < n; i++) {
      size_t len = strlen(p);
      p[len] = i + 1 < n ? ',' : ']';
      p += len + 1;
    }
    if (n == 0) c = idp_buf_addc(out, ']');
    if (c) c = idp_err_set(e, c, "list of %s: result too large", resource);
  }
  if (c) {
    if (out->data) OPENSSL_cleanse(out->data + start, out->len - start);
    out->len = start;
    if (out->data) out->data[start] = '\0';
    if (next_cont) {
      free(*next_cont);
      *next_cont = NULL;
    }
    return c;
  }
  if (count) *count = n;
  return IDP_OK;
}

/* ---- writes ----------------------------------------------------------------- */

/* Checks obj and makes the copy the store will stamp and return (done
 * before taking the lock: a deep copy is a third of the JSON work). */
static idp_code prepare(const char *resource, const char *name, const json_t *obj, json_t **copy,
                        idp_err *e) {
  char q[256];
  *copy = NULL;
  if (!json_is_object(obj)) {
    store_qualified(resource, q, sizeof q);
    return idp_err_set(e, IDP_EINVAL, "%s \"%s\": the object must be a JSON object", q, name);
  }
  json_t *md = json_object_get(obj, "metadata");
  if (md && !json_is_object(md)) {
    store_qualified(resource, q, sizeof q);
    return idp_err_set(e, IDP_EINVAL, "%s \"%s\": metadata must be an object", q, name);
  }
  json_t *c = json_deep_copy(obj);
  if (!c || (!md && json_object_set_new(c, "metadata", json_object()))) {
    json_decref(c);
    return idp_err_set(e, IDP_ENOMEM, "out of memory");
  }
  *copy = c;
  return IDP_OK;
}

/* Sets metadata.resourceVersion = rev in `obj` (ours, prepared) and
 * serialises it into *text (malloc'd). */
static idp_code stamp(const char *resource, const char *name, json_t *obj, int64_t rev, char **text,
                      size_t *len, idp_err *e) {
  *text = NULL;
  json_t *md = json_object_get(obj, "metadata");
  if (!json_is_object(md)) {
    /* only a corrupted stored object (delete path) gets here */
    char q[256];
    store_qualified(resource, q, sizeof q);
    return idp_err_set(e, IDP_EIO, "%s \"%s\": stored object has no metadata", q, name);
  }
  char rv[32];
  snprintf(rv, sizeof rv, "%lld", (long long)rev);
  if (json_object_set_new(md, "resourceVersion", json_string(rv)))
    return idp_err_set(e, IDP_ENOMEM, "out of memory");
  char *t = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(17));
  if (!t) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  size_t n = strlen(t);
  if (n > INT_MAX / 2) {
    free(t);
    char q[256];
    store_qualified(resource, q, sizeof q);
    return idp_err_set(e, IDP_ETOOLARGE, "%s \"%s\": object too large", q, name);
  }
  *text = t;
  *len = n;
  return IDP_OK;
}

/* Reads the current row inside the write transaction. */
static idp_code current(idp_store *s, const char *resource, const char *ns, const char *name,
                        int64_t *rev, json_t **obj, idp_err *e) {
  sqlite3_stmt *st = s->st[obj ? ST_GET : ST_GETREV];
  bind_key(st, resource, ns, name);
  int rc = sqlite3_step(st);
  idp_code c = IDP_OK;
  *rev = 0;
  if (rc == SQLITE_ROW) {
    *rev = sqlite3_column_int64(st, 0);
    if (obj)
      c = decode(s, resource, ns, name, sqlite3_column_blob(st, 1),
                 (size_t)sqlite3_column_bytes(st, 1), obj, e);
  } else if (rc != SQLITE_DONE) {
    c = db_err(s, e, "read");
  }
  sqlite3_reset(st);
  return c;
}

static idp_code conflict(const char *resource, const char *name, idp_err *e) {
  char q[256];
  store_qualified(resource, q, sizeof q);
  return idp_err_set(e, IDP_ECONFLICT,
                     "Operation cannot be fulfilled on %s \"%s\": the object has been modified; "
                     "please apply your changes to the latest version and try again",
                     q, name);
}

typedef enum { OP_CREATE, OP_UPDATE, OP_DELETE } write_op;

/* ---- the write path: group commit ------------------------------------------
 * A writer prepares its copy without any lock, then queues a request.  The
 * first writer to find no batch running becomes the leader: it takes every
 * queued request (up to BATCH_MAX), applies them in queue order inside one
 * transaction (each gets the next revision; the checks of a later request
 * see the earlier ones, exactly as if they had run one after the other),
 * commits once, publishes the events and wakes the others.  A lone writer
 * is a batch of one.  Under concurrency the commit cost (WAL frames, lock
 * calls) is shared, which is what lets many API-server threads write
 * faster than one.  A request failing its own check (exists, not found,
 * conflict) fails alone; a database error fails the whole batch, none of
 * which was committed. */

#define BATCH_MAX 256

typedef struct wreq {
  write_op op;
  const char *resource, *ns, *name;
  int64_t expect_rev;
  json_t *copy; /* create/update: prepared copy; the stored object after */
  idp_code code;
  idp_err err;
  ev_rec *rec; /* the event, until published */
  bool done;
  struct wreq *next;
} wreq;

/* Applies one request inside the open transaction, at revision `rev`.
 * Returns true when a database error makes the whole batch fail. */
static bool apply_one(idp_store *s, wreq *r, int64_t rev) {
  idp_err *e = &r->err;
  json_t *prev = NULL;
  char *text = NULL;
  size_t len = 0;
  bool fatal = false;
  int64_t cur = 0;
  idp_code c = current(s, r->resource, r->ns, r->name, &cur, r->op == OP_DELETE ? &prev : NULL, e);
  if (c) goto out; /* a read error (or an undecryptable last state) fails alone */
  if (r->op == OP_CREATE && cur) {
    char q[256];
    store_qualified(r->resource, q, sizeof q);
    c = idp_err_set(e, IDP_EEXIST, "%s \"%s\" already exists", q, r->name);
    goto out;
  }
  if (r->op != OP_CREATE && !cur) {
    c = not_found(r->resource, r->name, e);
    goto out;
  }
  if (r->op != OP_CREATE && r->expect_rev > 0 && cur != r->expect_rev) {
    c = conflict(r->resource, r->name, e);
    goto out;
  }
  if (r->op == OP_DELETE) {
    r->copy = prev; /* the last state is returned with the delete's revision */
    prev = NULL;
  }
  if ((c = stamp(r->resource, r->name, r->copy, rev, &text, &len, e))) goto out;
  /* Allocated before the commit so that publishing cannot fail after it. */
  idp_event_type type = r->op == OP_CREATE   ? IDP_EV_ADDED
                        : r->op == OP_UPDATE ? IDP_EV_MODIFIED
                                             : IDP_EV_DELETED;
  if (!(r->rec = ev_rec_new(rev, type, r->resource, r->ns, r->name, text, len))) {
    c = idp_err_set(e, IDP_ENOMEM, "out of memory");
    goto out;
  }
  /* From here on a failure is the database's: the batch fails. */
  fatal = true;
  int which = r->op == OP_CREATE ? ST_INS_OBJ : r->op == OP_UPDATE ? ST_UPD_OBJ : ST_DEL_OBJ;
  sqlite3_stmt *st = s->st[which];
  bind_key(st, r->resource, r->ns, r->name);
  if (r->op != OP_DELETE) sqlite3_bind_int64(st, 4, rev);
  c = step_done(s, which, e);
  if (!c && sqlite3_changes(s->db) != 1)
    c = idp_err_set(e, IDP_EINTERNAL, "store: write of %s/%s affected no row", r->resource,
                    r->name);
  if (c) goto out;
  st = s->st[ST_INS_EV];
  sqlite3_bind_int64(st, 1, rev);
  sqlite3_bind_int(st, 2, (int)type);
  sqlite3_bind_text(st, 3, r->resource, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, r->ns, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, r->name, -1, SQLITE_STATIC);
  if ((c = bind_value(s, st, 6, r->resource, r->ns, r->name, text, len, e))) goto out;
  sqlite3_bind_int64(st, 7, r->op == OP_CREATE ? 0 : cur); /* the value this one supersedes */
  if ((c = step_done(s, ST_INS_EV, e))) goto out;
  fatal = false;
out:
  if (s->scratch.len) idp_buf_reset(&s->scratch);
  wipe_free(text, len);
  json_decref(prev);
  r->code = c;
  if (c) {
    ev_rec_unref(r->rec);
    r->rec = NULL;
  }
  return fatal;
}

/* Fails every request of the batch that had succeeded so far. */
static void fail_batch(wreq *batch, const idp_err *why) {
  for (wreq *r = batch; r; r = r->next) {
    if (r->code != IDP_OK) continue;
    r->code = why->code;
    r->err = *why;
    ev_rec_unref(r->rec);
    r->rec = NULL;
  }
}

/* Leader, under s->mu: one transaction for the whole batch. */
static void run_batch(idp_store *s, wreq *batch) {
  idp_err e = IDP_ERR_INIT;
  for (wreq *r = batch; r; r = r->next) r->code = IDP_OK;
  if (s->closing) {
    idp_err_set(&e, IDP_EUNAVAILABLE, "store %s is closed", s->path);
    fail_batch(batch, &e);
    return;
  }
  if (step_done(s, ST_BEGIN, &e)) {
    fail_batch(batch, &e);
    return;
  }
  int64_t rev = s->rev;
  for (wreq *r = batch; r; r = r->next) {
    if (apply_one(s, r, rev + 1)) {
      e = r->err;
      idp_err ignore = IDP_ERR_INIT;
      step_done(s, ST_ROLLBACK, &ignore);
      fail_batch(batch, &e);
      return;
    }
    if (r->code == IDP_OK) rev++;
  }
  if (rev == s->rev) { /* every request failed its check: nothing to commit */
    step_done(s, ST_ROLLBACK, &e);
    return;
  }
  if (step_done(s, ST_COMMIT, &e)) {
    idp_err ignore = IDP_ERR_INIT;
    step_done(s, ST_ROLLBACK, &ignore);
    fail_batch(batch, &e);
    return;
  }
  s->n_writes += (uint64_t)(rev - s->rev);
  s->n_commits++;
  s->rev = rev;
  for (wreq *r = batch; r; r = r->next) {
    if (r->code != IDP_OK) continue;
    store_publish(s, r->rec); /* takes the reference */
    r->rec = NULL;
  }
}

static idp_code do_write(idp_store *s, write_op op, const char *resource, const char *ns,
                         const char *name, const json_t *obj, int64_t expect_rev, json_t **out,
                         idp_err *e) {
  if (out) *out = NULL;
  if (!ns) ns = "";
  idp_code c = check_key_args(resource, name, e);
  if (c) return c;
  wreq r = {.op = op, .resource = resource, .ns = ns, .name = name, .expect_rev = expect_rev};
  if (op != OP_DELETE && (c = prepare(resource, name, obj, &r.copy, e))) return c;

  pthread_mutex_lock(&s->qmu);
  if (s->qtail)
    s->qtail->next = &r;
  else
    s->qhead = &r;
  s->qtail = &r;
  while (!r.done) {
    if (s->leading) {
      pthread_cond_wait(&s->qcv, &s->qmu);
      continue;
    }
    /* Lead: take up to BATCH_MAX queued requests (ours among them, unless
     * more than BATCH_MAX are ahead of it: then we lead again). */
    s->leading = true;
    wreq *batch = s->qhead, *last = batch;
    for (int k = 1; k < BATCH_MAX && last->next; k++) last = last->next;
    s->qhead = last->next;
    if (!s->qhead) s->qtail = NULL;
    last->next = NULL;
    pthread_mutex_unlock(&s->qmu);

    store_lock_take(&s->mu);
    run_batch(s, batch);
    store_lock_give(&s->mu);

    pthread_mutex_lock(&s->qmu);
    for (wreq *b = batch, *nx; b; b = nx) {
      nx = b->next; /* b may return (and vanish) as soon as done is set */
      b->done = true;
    }
    s->leading = false;
    pthread_cond_broadcast(&s->qcv);
  }
  pthread_mutex_unlock(&s->qmu);

  if (r.code) {
    if (e) *e = r.err;
    json_decref(r.copy);
    return r.code;
  }
  if (out)
    *out = r.copy;
  else
    json_decref(r.copy);
  return IDP_OK;
}

idp_code idp_store_create(idp_store *s, const char *resource, const char *ns, const char *name,
                          const json_t *obj, json_t **stored, idp_err *e) {
  return do_write(s, OP_CREATE, resource, ns, name, obj, 0, stored, e);
}

idp_code idp_store_update(idp_store *s, const char *resource, const char *ns, const char *name,
                          const json_t *obj, int64_t expect_rev, json_t **stored, idp_err *e) {
  return do_write(s, OP_UPDATE, resource, ns, name, obj, expect_rev, stored, e);
}

idp_code idp_store_delete(idp_store *s, const char *resource, const char *ns, const char *name,
                          int64_t expect_rev, json_t **last, idp_err *e) {
  return do_write(s, OP_DELETE, resource, ns, name, NULL, expect_rev, last, e);
}

/* ---- compaction --------------------------------------------------------------
 * The compaction point moves first (one small transaction), so from then on
 * older watches and tokens get IDP_EGONE; the rows are then deleted in
 * batches of COMPACT_BATCH revisions, releasing the lock between batches so
 * writers are not stalled behind one long delete (k3s-io/k3s#13720).  Each
 * batch records how far it swept ("swept") in the same transaction, so a
 * compaction interrupted by a crash or close is finished by the next one,
 * and kept rows (live objects' current values) are not rescanned. */
idp_code idp_store_compact(idp_store *s, idp_err *e) {
  store_lock_take(&s->mu);
  if (s->closing) {
    store_lock_give(&s->mu);
    return idp_err_set(e, IDP_EUNAVAILABLE, "store %s is closed", s->path);
  }
  int64_t target = s->rev - s->history;
  int64_t lo = 0;
  bool found = false;
  idp_code c = meta_get_int(s, "swept", &lo, &found, e);
  if (!found) lo = 0;
  if (!c && target > s->compacted) {
    if (!(c = step_done(s, ST_BEGIN, e))) {
      c = meta_set_int(s, "compacted", target, e);
      if (!c) c = meta_set_int(s, "rev", s->rev, e);
      if (!c) c = step_done(s, ST_COMMIT, e);
      if (c) {
        idp_err ignore = IDP_ERR_INIT;
        step_done(s, ST_ROLLBACK, &ignore);
      }
    }
    if (!c) s->compacted = target;
  }
  target = s->compacted;
  store_lock_give(&s->mu);
  while (!c && lo < target) {
    int64_t hi = lo + COMPACT_BATCH < target ? lo + COMPACT_BATCH : target;
    store_lock_take(&s->mu);
    if (s->closing) {
      store_lock_give(&s->mu);
      break;
    }
    if (!(c = step_done(s, ST_BEGIN, e))) {
      for (int which = ST_COMPACT; !c && which <= ST_COMPACT_TOMB; which++) {
        sqlite3_bind_int64(s->st[which], 1, lo);
        sqlite3_bind_int64(s->st[which], 2, hi);
        c = step_done(s, which, e);
      }
      if (!c) c = meta_set_int(s, "swept", hi, e);
      if (!c) c = step_done(s, ST_COMMIT, e);
      if (c) {
        idp_err ignore = IDP_ERR_INIT;
        step_done(s, ST_ROLLBACK, &ignore);
      }
    }
    store_lock_give(&s->mu);
    lo = hi;
  }
  return c;
}
