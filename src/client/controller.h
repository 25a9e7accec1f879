/* controller.h: the reconcile loop every idp controller runs (informer
 * events -> work queue -> N workers calling reconcile(key)).
 *
 * A controller owns a work queue and its worker threads; informers feed it
 * keys (idp_controller_handlers gives handlers that enqueue the object's
 * own key; controllers that map events to other keys, e.g. an owner, call
 * idp_controller_enqueue from their own handlers).
 *
 * reconcile(ud, key, &requeue_after_ms, e) is called on a worker thread,
 * never concurrently for the same key (work queue guarantee).  It should
 * read current state from informer caches, act, and return:
 *   IDP_OK                 done: the key's backoff is reset (forget);
 *                          if it set *requeue_after_ms > 0 the key comes
 *                          back after that delay (periodic re-checks);
 *   any error              the key is re-queued with per-key exponential
 *                          backoff (add_rate_limited) and the error logged;
 *                          after max_retries retries (1 + max_retries
 *                          attempts; if max_retries is set) it is
 *                          dropped and logged instead.
 * A key deleted from the cache still reaches reconcile: it must treat a
 * missing object as "deleted" (clean up), not as an error. */
#ifndef IDP_CLIENT_CONTROLLER_H
#define IDP_CLIENT_CONTROLLER_H

#include <stdint.h>

#include "client/informer.h"
#include "client/workqueue.h"
#include "core/err.h"

typedef idp_code (*idp_reconcile_fn)(void *ud, const char *key, int64_t *requeue_after_ms,
                                     idp_err *e);

typedef struct idp_controller_opts {
  const char *name;       /* for logs; required */
  int workers;            /* 0 = 1 */
  idp_reconcile_fn reconcile;
  void *ud;
  const idp_ratelimit_opts *rate_limit; /* NULL = client-go defaults */
  int max_retries;        /* 0 = retry forever (backoff capped) */
} idp_controller_opts;

typedef struct idp_controller idp_controller;

idp_code idp_controller_new(const idp_controller_opts *o, idp_controller **out, idp_err *e);
idp_code idp_controller_start(idp_controller *c, idp_err *e);
/* Shuts the queue down and joins the workers (a running reconcile
 * finishes first); idempotent. */
void idp_controller_stop(idp_controller *c);
void idp_controller_free(idp_controller *c);

void idp_controller_enqueue(idp_controller *c, const char *key);
void idp_controller_enqueue_after(idp_controller *c, const char *key, int64_t delay_ms);
/* The object's key ("ns/name" or "name"); ignores objects without a name. */
void idp_controller_enqueue_object(idp_controller *c, const json_t *obj);
/* Handlers that enqueue the key of every added, updated and deleted
 * object (pass to idp_informer_new). */
idp_informer_handlers idp_controller_handlers(idp_controller *c);
idp_workqueue *idp_controller_queue(idp_controller *c);

#endif
