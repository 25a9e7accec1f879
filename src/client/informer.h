/* informer.h: list+watch informer with a local cache (client-go's
 * reflector + store + shared informer, for one resource).
 *
 * Lifecycle: new -> start (spawns one thread) -> ... -> stop (cancels the
 * watch, joins the thread) -> free.  The thread:
 *   1. LISTs the collection in pages (idp_kclient_list_all), replaces the
 *      cache and emits add/update/delete for the difference with what the
 *      cache held (first list: adds only), then sets has_synced;
 *   2. WATCHes from the list's resourceVersion, applying each event to the
 *      cache before calling the handlers; BOOKMARKs only advance the RV;
 *   3. when the watch ends normally, re-watches from the last RV seen;
 *      on 410 Gone (RV compacted) goes back to 1 (relist); on any other
 *      error waits with exponential backoff (initial .. max, with jitter)
 *      and re-watches from the last RV (a relist follows if that is gone).
 *      A failed LIST is retried with the same backoff.
 *
 * Cache.  Keyed "namespace/name" (or "name" for cluster-scoped objects),
 * guarded by a lock, readable from any thread.  Objects in the cache are
 * shared and IMMUTABLE: get/list return new references to them (jansson's
 * reference counts are atomic); never modify one — json_deep_copy first.
 *
 * Handlers run on the informer thread, one at a time, after the cache was
 * updated, with borrowed objects (incref to keep).  They must not block for
 * long: the usual handler computes the key and adds it to a work queue.
 * on_update gets (old, new); on_delete gets the last known state.  A
 * handler may read the cache (get/list) but must not call stop/free.
 * An event whose resourceVersion equals the cached one (a replay) is not
 * delivered again. */
#ifndef IDP_CLIENT_INFORMER_H
#define IDP_CLIENT_INFORMER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "client/rest.h"
#include "core/err.h"

typedef struct idp_informer idp_informer;

typedef struct idp_informer_handlers {
  void (*on_add)(void *ud, const json_t *obj);
  void (*on_update)(void *ud, const json_t *old_obj, const json_t *new_obj);
  void (*on_delete)(void *ud, const json_t *obj);
  void *ud;
} idp_informer_handlers;

typedef struct idp_informer_opts {
  idp_kref resource;          /* collection: name must be NULL; ns NULL = all */
  const char *label_selector; /* NULL = everything */
  const char *field_selector;
  long page_size;             /* LIST page size; 0 = 500 */
  long watch_timeout_s;       /* timeoutSeconds per watch; 0 = 300 */
  long backoff_initial_ms;    /* 0 = 800 (client-go's reflector) */
  long backoff_max_ms;        /* 0 = 30000 */
} idp_informer_opts;

/* Copies opts (strings included) and handlers; `c` must outlive the
 * informer.  handlers may be NULL. */
idp_code idp_informer_new(idp_kclient *c, const idp_informer_opts *o,
                          const idp_informer_handlers *h, idp_informer **out, idp_err *e);
idp_code idp_informer_start(idp_informer *inf, idp_err *e);
/* Cancels the watch or backoff and joins the thread; idempotent. */
void idp_informer_stop(idp_informer *inf);
void idp_informer_free(idp_informer *inf); /* stops first */

/* True once the first LIST has been applied. */
bool idp_informer_has_synced(idp_informer *inf);
/* Waits until synced or timeout (ms, < 0 = forever); returns has_synced. */
bool idp_informer_wait_synced(idp_informer *inf, long timeout_ms);

/* Cached object (new reference to the shared immutable object) or NULL.
 * ns NULL/"" for cluster-scoped. */
json_t *idp_informer_get(idp_informer *inf, const char *ns, const char *name);
json_t *idp_informer_get_key(idp_informer *inf, const char *key);
/* Snapshot: a new array of (shared) objects, in namespace NULL = all. */
json_t *idp_informer_list(idp_informer *inf, const char *ns);
size_t idp_informer_size(idp_informer *inf);

/* The last resourceVersion seen (list, event or bookmark), copied. */
void idp_informer_last_rv(idp_informer *inf, char *buf, size_t n);

/* Counters for tests and metrics. */
typedef struct idp_informer_stats {
  unsigned long lists;    /* LISTs done (1 + relists) */
  unsigned long watches;  /* watch requests started */
  unsigned long errors;   /* failed lists/watches (backoffs) */
} idp_informer_stats;
void idp_informer_get_stats(idp_informer *inf, idp_informer_stats *out);

/* The cache key of an object: "ns/name" or "name".  Returns false when
 * the object has no metadata.name or the key does not fit. */
bool idp_object_key(const json_t *obj, char *buf, size_t n);
/* Splits a key; ns gets "" for "name" keys.  False when a part does not fit. */
bool idp_key_split(const char *key, char *ns, size_t nsn, char *name, size_t namen);

#endif
