/* workqueue.h: the controllers' work queue (client-go workqueue semantics).
 *
 * Items are string keys ("namespace/name", or "name" for cluster-scoped
 * objects); the queue copies them.  Guarantees:
 *  - Deduplication: a key added any number of times before a worker takes
 *    it is handed out once.
 *  - No concurrent processing of one key: a key added while a worker holds
 *    it (between get and done) is not handed to another worker; done()
 *    puts it back in the queue.
 *  - Fairness: keys are handed out in the order they became ready.
 *  - Delays: add_after(key, ms) makes the key ready after ms (an earlier
 *    pending deadline for the same key wins).
 *  - Rate limiting: add_rate_limited(key) delays by the rate limiter's
 *    answer: max(per-key exponential backoff base_ms * 2^failures capped at
 *    max_ms, overall token bucket qps/burst) — client-go's default is
 *    5 ms .. 1000 s and 10 qps, burst 100.  forget(key) resets the key's
 *    failure count (call it after a successful reconcile).
 *  - shutdown(): get() returns NULL to every worker once the queue is
 *    shut down (pending keys are dropped; keys being processed may still
 *    call done()).  add after shutdown is ignored.
 *
 * Thread-safe; any number of producers and workers.  get() blocks. */
#ifndef IDP_CLIENT_WORKQUEUE_H
#define IDP_CLIENT_WORKQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Rate limiter --------------------------------------------------- */

typedef struct idp_ratelimit_opts {
  double base_ms; /* first per-key delay; 0 = 5 */
  double max_ms;  /* per-key cap; 0 = 1000 s */
  double qps;     /* overall bucket refill rate; 0 = 10; < 0 disables */
  int burst;      /* bucket size; 0 = 100 */
} idp_ratelimit_opts;

typedef struct idp_ratelimiter idp_ratelimiter;

idp_ratelimiter *idp_ratelimiter_new(const idp_ratelimit_opts *o); /* o may be NULL */
void idp_ratelimiter_free(idp_ratelimiter *r);
/* The delay (ms) before `key` may be retried; counts a failure. */
int64_t idp_ratelimiter_when(idp_ratelimiter *r, const char *key);
void idp_ratelimiter_forget(idp_ratelimiter *r, const char *key);
int idp_ratelimiter_num_requeues(idp_ratelimiter *r, const char *key);

/* ---- Queue ---------------------------------------------------------- */

typedef struct idp_workqueue idp_workqueue;

/* `rl` may be NULL (default limiter).  NULL on allocation failure. */
idp_workqueue *idp_workqueue_new(const char *name, const idp_ratelimit_opts *rl);
/* Call only after every worker has returned. */
void idp_workqueue_free(idp_workqueue *q);

void idp_workqueue_add(idp_workqueue *q, const char *key);
void idp_workqueue_add_after(idp_workqueue *q, const char *key, int64_t delay_ms);
void idp_workqueue_add_rate_limited(idp_workqueue *q, const char *key);
void idp_workqueue_forget(idp_workqueue *q, const char *key);
int idp_workqueue_num_requeues(idp_workqueue *q, const char *key);

/* Blocks until a key is ready (returns a malloc'd copy the caller frees
 * AFTER calling done) or the queue is shut down (NULL). */
char *idp_workqueue_get(idp_workqueue *q);
/* Like get but waits at most timeout_ms; NULL on timeout or shutdown. */
char *idp_workqueue_get_timeout(idp_workqueue *q, int64_t timeout_ms);
void idp_workqueue_done(idp_workqueue *q, const char *key);

void idp_workqueue_shutdown(idp_workqueue *q);
bool idp_workqueue_shutting_down(idp_workqueue *q);

/* Keys ready now (not counting delayed or in-process ones). */
size_t idp_workqueue_len(idp_workqueue *q);
/* Keys waiting for a delay. */
size_t idp_workqueue_delayed_len(idp_workqueue *q);

#endif
