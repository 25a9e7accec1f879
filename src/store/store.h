/* store.h: the object store of the embedded API server (SQLite, WAL).
 *
 * Ownership: an idp_store owns one SQLite database file and the in-memory
 * watch fan-out.  It is safe to call from many threads; writes are
 * serialised inside.  Objects go in and come out as jansson values; the
 * store never keeps a caller's reference (it serialises on write) and every
 * json_t it returns is a new reference the caller must json_decref.
 *
 * Keys.  An object is addressed by (resource, namespace, name): `resource`
 * is "<group>/<plural>" with "core" for the legacy group ("core/configmaps",
 * "apps/deployments", "argoproj.io/applications"); `ns` is "" for
 * cluster-scoped objects.
 *
 * Revisions.  One global counter, starting at 1, bumped by every write
 * (create, update, delete).  The revision of a write is the object's
 * metadata.resourceVersion (as a decimal string): the store sets it in the
 * stored and returned object.  It does not set uid, creationTimestamp or
 * generation: that is API-server policy.
 *
 * History.  Every write is also an event row kept for watch replay.  Events
 * older than the compaction point are deleted by idp_store_compact (keeps
 * the newest `history_revisions` revisions); a watch or a continue token
 * from before the compaction point fails with IDP_EGONE.
 *
 * Encryption at rest.  Values of resources listed in opts.encrypt (default
 * "core/secrets") are sealed with AES-256-GCM under a 32-byte key kept in
 * opts.key_file (created 0600 when missing).  Reading the database file
 * directly never shows such a value in clear, neither in the current table
 * nor in the history.  (Additions: the blob format is in store/seal.h; a
 * key file that does not match the database fails idp_store_open with
 * IDP_EIO naming the key file; a tampered value fails its read with IDP_EIO,
 * never garbage; ":memory:" without key_file uses a random in-memory key.)
 *
 * Errors name the object in Kubernetes' words: `configmaps "x" not found`,
 * `deployments.apps "x" already exists`, `Operation cannot be fulfilled on
 * configmaps "x": the object has been modified; please apply your changes
 * to the latest version and try again` (IDP_ECONFLICT).
 *
 * Concurrent writers are group-committed: requests queued while a
 * transaction runs are applied together in the next one, each checked as if
 * it ran alone, in queue order (see store.c).
 *
 * Durability.  A write that returned IDP_OK survives kill -9 of the process
 * at any moment (WAL, synchronous=NORMAL: committed to the OS before return).
 *
 * One process.  The store holds the database file in SQLite's EXCLUSIVE
 * locking mode for as long as it is open: a second process (or a second
 * idp_store_open of the same file) gets IDP_EUNAVAILABLE "the database is in
 * use by another process".  Inspect a live store through the API, or close
 * it first (the sqlite3 shell then works on the file as usual).
 *
 * Lifetime.  idp_store_close must not race with other calls on the same
 * store, except that open watches may outlive it: they are woken with
 * IDP_EGONE and must still be closed with idp_watch_close.
 *
 * Layout (see store.c): each value is stored once, in its event row;
 * `objects` maps a key to the revision holding its current value.
 * Compaction keeps those rows, so it never loses current state.
 */
#ifndef IDP_STORE_H
#define IDP_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

typedef struct idp_store idp_store;

typedef struct idp_store_opts {
  const char *path;          /* SQLite file; ":memory:" for tests */
  const char *key_file;      /* encryption key; NULL = <path>.key */
  const char *const *encrypt; /* NULL-terminated resource list; NULL = {"core/secrets"} */
  int64_t history_revisions; /* 0 = 100000 */
} idp_store_opts;

idp_code idp_store_open(const idp_store_opts *opts, idp_store **out, idp_err *e);
void idp_store_close(idp_store *s);

/* The newest revision written (0 for an empty store). */
int64_t idp_store_revision(idp_store *s);
/* The oldest revision a watch may start after (the compaction point). */
int64_t idp_store_compacted(idp_store *s);

/* Reads one object.  IDP_ENOTFOUND when absent. */
idp_code idp_store_get(idp_store *s, const char *resource, const char *ns, const char *name,
                       json_t **obj, idp_err *e);

typedef struct idp_store_list_opts {
  const char *ns;        /* NULL or "" = every namespace */
  const char *cont;      /* continue token from a previous page, or NULL */
  size_t limit;          /* 0 = no limit */
} idp_store_list_opts;

/* Lists objects in key order (namespace, then name).  *items is a new JSON
 * array; *list_rev the store revision the list reflects; *next_cont a
 * malloc'd continue token when more items remain (else NULL).  A token
 * whose revision has been compacted gives IDP_EGONE. */
idp_code idp_store_list(idp_store *s, const char *resource, const idp_store_list_opts *o,
                        json_t **items, int64_t *list_rev, char **next_cont, idp_err *e);
/* Pages are snapshots, as etcd's are: every page of a list reports the
 * first page's revision as *list_rev and shows each object as it was at
 * that revision, whatever was created, changed or deleted in between
 * (objects written since are read back through their history; objects
 * deleted since are merged back in).  A token stays valid until compaction
 * moves past its revision (then IDP_EGONE), like etcd's.  A garbage
 * token gives IDP_EINVAL.  Items are parsed after the store lock is
 * released, so a long list does not stall writers (the same holds for
 * idp_store_get).  One page holds at most 1 GiB of JSON (IDP_ETOOLARGE
 * beyond: use limit).  Parsing costs about 12 us per 1 KiB object
 * (jansson); idp_store_list_raw skips it. */

/* Like idp_store_list, but appends the page as JSON text to `out`: a JSON
 * array "[item,item,...]" of the stored objects exactly as stored (with
 * resourceVersion), never parsed, for servers that write the list body
 * straight out (about 10x cheaper than parsing and re-serialising).
 * *count (if not NULL) receives the number of items.  On error `out` is
 * left as it was. */
idp_code idp_store_list_raw(idp_store *s, const char *resource, const idp_store_list_opts *o,
                            idp_buf *out, size_t *count, int64_t *list_rev, char **next_cont,
                            idp_err *e);

/* Creates; IDP_EEXIST when the key exists.  `obj` is borrowed; *stored (if
 * not NULL) receives the stored object with resourceVersion set. */
idp_code idp_store_create(idp_store *s, const char *resource, const char *ns, const char *name,
                          const json_t *obj, json_t **stored, idp_err *e);

/* Replaces.  expect_rev > 0 is a precondition: IDP_ECONFLICT when the
 * current revision differs.  IDP_ENOTFOUND when absent. */
idp_code idp_store_update(idp_store *s, const char *resource, const char *ns, const char *name,
                          const json_t *obj, int64_t expect_rev, json_t **stored, idp_err *e);

/* Deletes.  expect_rev as for update.  *last (if not NULL) receives the
 * deleted object, its resourceVersion set to the delete's revision. */
idp_code idp_store_delete(idp_store *s, const char *resource, const char *ns, const char *name,
                          int64_t expect_rev, json_t **last, idp_err *e);

/* Drops history older than the newest history_revisions revisions (as etcd
 * does: the state as of the compaction point stays readable).  The
 * store never compacts on its own: call this periodically (kube-apiserver
 * compacts every 5 minutes).  It deletes in batches and releases the lock
 * between them, so writers are not stalled; an interrupted compaction is
 * finished by the next call. */
idp_code idp_store_compact(idp_store *s, idp_err *e);

/* Counters for /metrics (monotonic since open unless noted). */
typedef struct idp_store_stats {
  int64_t revision, compacted; /* current values */
  uint64_t writes;             /* successful creates/updates/deletes */
  uint64_t commits;            /* transactions; < writes when group commit batched */
  uint64_t watches_open;       /* current value */
  uint64_t watches_dropped;    /* closed for falling behind */
  uint64_t ring_events, ring_bytes; /* current in-memory event history */
} idp_store_stats;

void idp_store_get_stats(idp_store *s, idp_store_stats *out);

/* ---- watch ---------------------------------------------------------------
 * A watch sees every event on `resource` (in namespace `ns`, or all when
 * NULL/"") with revision > from_rev, in revision order: first replayed from
 * history, then live.  from_rev == 0 means "from now" (the caller lists
 * first).  from_rev older than the compaction point gives IDP_EGONE.
 * Each watch has a bounded queue (max_queue events, 0 = 1000, and at most
 * 128 MiB of queued JSON); a watcher that falls further behind is closed:
 * idp_watch_next then returns IDP_EGONE.  Writers never wait for a watcher.
 * Recent events are kept in memory (4096 events / 64 MiB), older ones are
 * replayed from the database in batches, then the watch switches to live
 * delivery with no gap and no duplicate.  A from_rev newer than the store's
 * revision is allowed: events up to it are skipped.
 * A watch is meant for one consumer thread at a time; different watches may
 * be used from different threads. */

typedef enum idp_event_type { IDP_EV_ADDED, IDP_EV_MODIFIED, IDP_EV_DELETED } idp_event_type;

typedef struct idp_event {
  idp_event_type type;
  int64_t rev;
  char *resource, *ns, *name;
  json_t *obj; /* the object after the event (DELETED: its last state) */
} idp_event;

void idp_event_free(idp_event *ev);

typedef struct idp_watch idp_watch;

idp_code idp_store_watch(idp_store *s, const char *resource, const char *ns, int64_t from_rev,
                         size_t max_queue, idp_watch **out, idp_err *e);

/* Waits up to timeout_ms (-1 = forever) for the next event.  IDP_OK with
 * *ev == NULL on timeout; IDP_EGONE when the watcher was dropped for falling
 * behind or the store is closing. */
idp_code idp_watch_next(idp_watch *w, int timeout_ms, idp_event **ev, idp_err *e);

/* A file descriptor that becomes readable when events are queued (for
 * poll-based servers); read it with idp_watch_next(w, 0, ...). */
int idp_watch_fd(idp_watch *w);

void idp_watch_close(idp_watch *w);

#endif
