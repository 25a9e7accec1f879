/* store_int.h: internals shared by store.c and watch.c (not a public API).
 *
 * Locking: s->mu guards the SQLite connection, the revision counters, the
 * event ring and the watcher list.  w->mu guards one watcher's queue and
 * flags.  s->qmu guards the group-commit queue and is never held while
 * taking s->mu.  Order: s->mu before w->mu, never the other way round, and
 * no SQLite call is made while holding a w->mu. */
#ifndef IDP_STORE_INT_H
#define IDP_STORE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>

#include "core/buf.h"
#include "store/seal.h"
#include "store/store.h"

/* The store lock is a FIFO ticket lock.  A plain mutex let one busy writer
 * starve readers on a loaded machine (measured: 14k creates/s against 300
 * gets/s), because the writer re-takes the lock before a woken reader is
 * scheduled; tickets serve waiters in arrival order. */
typedef struct store_lock {
  pthread_mutex_t m;
  pthread_cond_t c;
  uint64_t next, serving;
} store_lock;

void store_lock_init(store_lock *l);
void store_lock_destroy(store_lock *l);
void store_lock_take(store_lock *l);
void store_lock_give(store_lock *l);

/* One committed event, shared (refcounted) by the ring and every watcher
 * queue that holds it; immutable once published.  `json` is the object's
 * plaintext JSON (memory only; each reader parses its own copy so nobody
 * shares a mutable json_t across threads). */
typedef struct ev_rec {
  atomic_int refs;
  int64_t rev;
  idp_event_type type;
  char *resource, *ns, *name;
  char *json;
  size_t len;
} ev_rec;

ev_rec *ev_rec_new(int64_t rev, idp_event_type type, const char *resource, const char *ns,
                   const char *name, const char *json, size_t len);
void ev_rec_unref(ev_rec *r);

enum {
  ST_BEGIN,
  ST_COMMIT,
  ST_ROLLBACK,
  ST_GET,
  ST_GETREV,
  ST_INS_OBJ,
  ST_UPD_OBJ,
  ST_DEL_OBJ,
  ST_INS_EV,
  ST_EV_ROW,
  ST_DELETED_AFTER,
  ST_LIST,
  ST_LIST_NS,
  ST_EV_AFTER,
  ST_EV_AFTER_NS,
  ST_META_SET,
  ST_META_GET,
  ST_COMPACT,
  ST_COMPACT_TOMB,
  ST_COUNT
};

/* Memory caps: the ring keeps at most RING_CAP events and RING_MAX_BYTES of
 * JSON (older events are then replayed from SQLite); a watcher whose queue
 * holds more than WATCH_MAX_BYTES is dropped like one that exceeds its
 * max_queue count (huge objects must not pin unbounded memory). */
#define RING_CAP 4096
#define RING_MAX_BYTES ((size_t)64 << 20)
#define WATCH_MAX_BYTES ((size_t)128 << 20)

#define WATCH_GONE_BEHIND 1
#define WATCH_GONE_CLOSING 2
#define WATCH_GONE_COMPACTED 3

struct idp_watch {
  idp_store *s;
  char *resource;
  char *ns; /* NULL = every namespace */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  ev_rec **q; /* ring buffer of cap entries */
  size_t cap, head, n;
  size_t bytes;     /* JSON bytes queued, capped by WATCH_MAX_BYTES */
  int64_t cursor;   /* catching up: last revision queued; live: threshold */
  int64_t gone_rev; /* for the "too old" message */
  bool live;        /* written under s->mu and w->mu; read under either */
  bool gone;
  bool linked; /* in s->watchers (under s->mu) */
  int gone_why;
  int efd;
  idp_watch *prev, *next;
};

struct idp_store {
  store_lock mu; /* fair: see store_lock below */
  sqlite3 *db;
  sqlite3_stmt *st[ST_COUNT];
  char *path;
  int64_t rev, compacted, history;
  unsigned char key[IDP_SEAL_KEY_LEN];
  char **encrypt;
  size_t n_encrypt;
  idp_buf scratch; /* seal/unseal buffer, under mu */
  idp_buf aad;
  /* The newest events in memory: revisions ring_first .. ring_first+ring_n-1
   * (consecutive: every committed write is exactly one event). */
  ev_rec **ring;
  size_t ring_cap, ring_head, ring_n;
  size_t ring_bytes; /* sum of the JSON sizes held, capped by RING_MAX_BYTES */
  int64_t ring_first;
  idp_watch *watchers;
  /* group commit (store.c): queued write requests, guarded by qmu */
  pthread_mutex_t qmu;
  pthread_cond_t qcv;
  struct wreq *qhead, *qtail;
  bool leading;                            /* a leader is applying a batch */
  uint64_t n_writes, n_commits, n_dropped; /* under s->mu */
  int refs;                                /* 1 for the store handle + 1 per open watch */
  bool closing;
};

/* Under s->mu: publishes a committed event to the ring and live watchers
 * (takes over the caller's reference to r). */
void store_publish(idp_store *s, ev_rec *r);
/* Under s->mu: closes every watcher (store closing). */
void store_close_watchers(idp_store *s);
/* Under s->mu: decodes a stored value (unsealing it when sealed) into its
 * plaintext JSON text, in s->scratch or pointing at blob. */
idp_code store_plain(idp_store *s, const char *resource, const char *ns, const char *name,
                     const void *blob, size_t n, const char **text, size_t *text_len, idp_err *e);
/* "configmaps", "deployments.apps": Kubernetes' way of naming a resource. */
void store_qualified(const char *resource, char *out, size_t n);
void store_destroy(idp_store *s);

#endif
