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
 * nor in the history.
 *
 * Durability.  A write that returned IDP_OK survives kill -9 of the process
 * at any moment (WAL, synchronous=NORMAL: committed to the OS before return).
 */
#ifndef IDP_STORE_H
#define IDP_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

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

/* Drops history older than the newest history_revisions revisions. */
idp_code idp_store_compact(idp_store *s, idp_err *e);

/* ---- watch ---------------------------------------------------------------
 * A watch sees every event on `resource` (in namespace `ns`, or all when
 * NULL/"") with revision > from_rev, in revision order: first replayed from
 * history, then live.  from_rev == 0 means "from now" (the caller lists
 * first).  from_rev older than the compaction point gives IDP_EGONE.
 * Each watch has a bounded queue (max_queue events); a watcher that falls
 * further behind is closed: idp_watch_next then returns IDP_EGONE. */

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
