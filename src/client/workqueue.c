#include "core/common.h"
#include "client/workqueue.h"

#include <math.h>
#include <pthread.h>
#include <time.h>

/* Key sets are jansson objects (string-keyed hash tables) used as sets and
 * maps: one well-tested hash table instead of a new one. */

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *kdup(const char *s) {
  size_t n = strlen(s);
  char *p = malloc(n + 1);
  if (p) memcpy(p, s, n + 1);
  return p;
}

/* ---- Rate limiter --------------------------------------------------- */

struct idp_ratelimiter {
  pthread_mutex_t mu;
  double base_ms, max_ms, qps;
  int burst;
  json_t *failures; /* key -> count */
  double tokens;
  int64_t last_ms;
};

idp_ratelimiter *idp_ratelimiter_new(const idp_ratelimit_opts *o) {
  idp_ratelimiter *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->base_ms = o && o->base_ms > 0 ? o->base_ms : 5;
  r->max_ms = o && o->max_ms > 0 ? o->max_ms : 1000.0 * 1000;
  r->qps = o && o->qps != 0 ? o->qps : 10;
  r->burst = o && o->burst > 0 ? o->burst : 100;
  r->tokens = r->burst;
  r->last_ms = now_ms();
  r->failures = json_object();
  pthread_mutex_init(&r->mu, NULL);
  if (!r->failures) {
    idp_ratelimiter_free(r);
    return NULL;
  }
  return r;
}

void idp_ratelimiter_free(idp_ratelimiter *r) {
  if (!r) return;
  json_decref(r->failures);
  pthread_mutex_destroy(&r->mu);
  free(r);
}

int64_t idp_ratelimiter_when(idp_ratelimiter *r, const char *key) {
  pthread_mutex_lock(&r->mu);
  json_int_t n = json_integer_value(json_object_get(r->failures, key));
  json_object_set_new(r->failures, key, json_integer(n + 1));
  /* Per key: base * 2^n, capped (n capped first so pow cannot overflow). */
  double per = r->base_ms * pow(2.0, (double)(n > 60 ? 60 : n));
  if (per > r->max_ms) per = r->max_ms;
  /* Overall: a token bucket with reservations (tokens may go negative, the
   * deficit is the wait), as golang.org/x/time/rate. */
  double bucket = 0;
  if (r->qps > 0) {
    int64_t now = now_ms();
    r->tokens += (double)(now - r->last_ms) * r->qps / 1000.0;
    if (r->tokens > r->burst) r->tokens = r->burst;
    r->last_ms = now;
    r->tokens -= 1;
    if (r->tokens < 0) bucket = -r->tokens / r->qps * 1000.0;
  }
  pthread_mutex_unlock(&r->mu);
  double d = per > bucket ? per : bucket;
  return (int64_t)ceil(d);
}

void idp_ratelimiter_forget(idp_ratelimiter *r, const char *key) {
  pthread_mutex_lock(&r->mu);
  json_object_del(r->failures, key);
  pthread_mutex_unlock(&r->mu);
}

int idp_ratelimiter_num_requeues(idp_ratelimiter *r, const char *key) {
  pthread_mutex_lock(&r->mu);
  int n = (int)json_integer_value(json_object_get(r->failures, key));
  pthread_mutex_unlock(&r->mu);
  return n;
}

/* ---- Queue ---------------------------------------------------------- */

typedef struct delayed {
  int64_t at;
  uint64_t seq; /* FIFO among equal deadlines */
  char *key;
} delayed;

struct idp_workqueue {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  char *name;
  bool shutdown;
  /* FIFO of ready keys (ring buffer). */
  char **ring;
  size_t head, count, cap;
  json_t *dirty;      /* keys that need processing (queued or re-added) */
  json_t *processing; /* keys a worker holds */
  /* Delayed keys: min-heap on (at, seq); `waiting` holds each key's live
   * deadline, heap entries that disagree with it are stale and skipped. */
  delayed *heap;
  size_t nheap, heapcap;
  uint64_t seq;
  json_t *waiting;
  idp_ratelimiter *rl;
};

idp_workqueue *idp_workqueue_new(const char *name, const idp_ratelimit_opts *rl) {
  idp_workqueue *q = calloc(1, sizeof *q);
  if (!q) return NULL;
  pthread_mutex_init(&q->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&q->cv, &ca);
  pthread_condattr_destroy(&ca);
  q->name = kdup(name ? name : "queue");
  q->dirty = json_object();
  q->processing = json_object();
  q->waiting = json_object();
  q->rl = idp_ratelimiter_new(rl);
  if (!q->name || !q->dirty || !q->processing || !q->waiting || !q->rl) {
    idp_workqueue_free(q);
    return NULL;
  }
  return q;
}

void idp_workqueue_free(idp_workqueue *q) {
  if (!q) return;
  for (size_t i = 0; i < q->count; i++) free(q->ring[(q->head + i) % q->cap]);
  free(q->ring);
  for (size_t i = 0; i < q->nheap; i++) free(q->heap[i].key);
  free(q->heap);
  json_decref(q->dirty);
  json_decref(q->processing);
  json_decref(q->waiting);
  idp_ratelimiter_free(q->rl);
  pthread_mutex_destroy(&q->mu);
  pthread_cond_destroy(&q->cv);
  free(q->name);
  free(q);
}

static bool ring_push(idp_workqueue *q, const char *key) {
  if (q->count == q->cap) {
    size_t ncap = q->cap ? q->cap * 2 : 16;
    char **n = malloc(ncap * sizeof *n);
    if (!n) return false;
    for (size_t i = 0; i < q->count; i++) n[i] = q->ring[(q->head + i) % q->cap];
    free(q->ring);
    q->ring = n;
    q->cap = ncap;
    q->head = 0;
  }
  char *k = kdup(key);
  if (!k) return false;
  q->ring[(q->head + q->count) % q->cap] = k;
  q->count++;
  return true;
}

static char *ring_pop(idp_workqueue *q) {
  if (!q->count) return NULL;
  char *k = q->ring[q->head];
  q->head = (q->head + 1) % q->cap;
  q->count--;
  return k;
}

static bool before(const delayed *a, const delayed *b) {
  return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static bool heap_push(idp_workqueue *q, int64_t at, const char *key) {
  if (q->nheap == q->heapcap) {
    size_t ncap = q->heapcap ? q->heapcap * 2 : 16;
    delayed *n = realloc(q->heap, ncap * sizeof *n);
    if (!n) return false;
    q->heap = n;
    q->heapcap = ncap;
  }
  delayed d = {at, q->seq++, kdup(key)};
  if (!d.key) return false;
  size_t i = q->nheap++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!before(&d, &q->heap[p])) break;
    q->heap[i] = q->heap[p];
    i = p;
  }
  q->heap[i] = d;
  return true;
}

static delayed heap_pop(idp_workqueue *q) {
  delayed top = q->heap[0];
  delayed last = q->heap[--q->nheap];
  size_t i = 0;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    const delayed *best = &last;
    if (l < q->nheap && before(&q->heap[l], best)) m = l, best = &q->heap[l];
    if (r < q->nheap && before(&q->heap[r], best)) m = r;
    if (m == i) break;
    q->heap[i] = q->heap[m];
    i = m;
  }
  if (q->nheap) q->heap[i] = last;
  return top;
}

static void add_locked(idp_workqueue *q, const char *key) {
  if (q->shutdown || json_object_get(q->dirty, key)) return;
  json_object_set_new(q->dirty, key, json_true());
  if (json_object_get(q->processing, key)) return; /* done() requeues it */
  if (!ring_push(q, key)) {
    json_object_del(q->dirty, key); /* out of memory: drop, a later add retries */
    return;
  }
  pthread_cond_signal(&q->cv);
}

/* Moves delayed keys whose time has come to the ready queue. */
static void promote_locked(idp_workqueue *q, int64_t now) {
  while (q->nheap && q->heap[0].at <= now) {
    delayed d = heap_pop(q);
    json_t *live = json_object_get(q->waiting, d.key);
    if (live && json_integer_value(live) == d.at) {
      json_object_del(q->waiting, d.key);
      add_locked(q, d.key);
    }
    free(d.key);
  }
}

void idp_workqueue_add(idp_workqueue *q, const char *key) {
  pthread_mutex_lock(&q->mu);
  add_locked(q, key);
  pthread_mutex_unlock(&q->mu);
}

void idp_workqueue_add_after(idp_workqueue *q, const char *key, int64_t delay_ms) {
  pthread_mutex_lock(&q->mu);
  if (delay_ms <= 0) {
    add_locked(q, key);
  } else if (!q->shutdown) {
    int64_t at = now_ms() + delay_ms;
    json_t *live = json_object_get(q->waiting, key);
    if (!live || json_integer_value(live) > at) {
      if (heap_push(q, at, key)) {
        json_object_set_new(q->waiting, key, json_integer(at));
        pthread_cond_broadcast(&q->cv); /* waiters recompute their deadline */
      }
    }
  }
  pthread_mutex_unlock(&q->mu);
}

void idp_workqueue_add_rate_limited(idp_workqueue *q, const char *key) {
  idp_workqueue_add_after(q, key, idp_ratelimiter_when(q->rl, key));
}

void idp_workqueue_forget(idp_workqueue *q, const char *key) {
  idp_ratelimiter_forget(q->rl, key);
}

int idp_workqueue_num_requeues(idp_workqueue *q, const char *key) {
  return idp_ratelimiter_num_requeues(q->rl, key);
}

static void to_timespec(int64_t ms, struct timespec *ts) {
  ts->tv_sec = (time_t)(ms / 1000);
  ts->tv_nsec = (long)(ms % 1000) * 1000000L;
}

char *idp_workqueue_get_timeout(idp_workqueue *q, int64_t timeout_ms) {
  int64_t deadline = timeout_ms < 0 ? INT64_MAX : now_ms() + timeout_ms;
  char *key = NULL;
  pthread_mutex_lock(&q->mu);
  for (;;) {
    if (q->shutdown) break;
    int64_t now = now_ms();
    promote_locked(q, now);
    if (q->count) {
      key = ring_pop(q);
      json_object_del(q->dirty, key);
      json_object_set_new(q->processing, key, json_true());
      break;
    }
    if (now >= deadline) break;
    int64_t wake = deadline;
    if (q->nheap && q->heap[0].at < wake) wake = q->heap[0].at;
    if (wake == INT64_MAX) {
      pthread_cond_wait(&q->cv, &q->mu);
    } else {
      struct timespec ts;
      to_timespec(wake, &ts);
      pthread_cond_timedwait(&q->cv, &q->mu, &ts);
    }
  }
  pthread_mutex_unlock(&q->mu);
  return key;
}

char *idp_workqueue_get(idp_workqueue *q) { return idp_workqueue_get_timeout(q, -1); }

void idp_workqueue_done(idp_workqueue *q, const char *key) {
  pthread_mutex_lock(&q->mu);
  json_object_del(q->processing, key);
  if (json_object_get(q->dirty, key) && !q->shutdown) {
    if (ring_push(q, key))
      pthread_cond_signal(&q->cv);
    else
      json_object_del(q->dirty, key);
  }
  pthread_mutex_unlock(&q->mu);
}

void idp_workqueue_shutdown(idp_workqueue *q) {
  pthread_mutex_lock(&q->mu);
  q->shutdown = true;
  pthread_cond_broadcast(&q->cv);
  pthread_mutex_unlock(&q->mu);
}

bool idp_workqueue_shutting_down(idp_workqueue *q) {
  pthread_mutex_lock(&q->mu);
  bool s = q->shutdown;
  pthread_mutex_unlock(&q->mu);
  return s;
}

size_t idp_workqueue_len(idp_workqueue *q) {
  pthread_mutex_lock(&q->mu);
  size_t n = q->count;
  pthread_mutex_unlock(&q->mu);
  return n;
}

size_t idp_workqueue_delayed_len(idp_workqueue *q) {
  pthread_mutex_lock(&q->mu);
  size_t n = json_object_size(q->waiting);
  pthread_mutex_unlock(&q->mu);
  return n;
}
