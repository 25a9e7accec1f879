/* cache.c: the process-wide compiled-expression cache behind jp_eval.
 *
 * A hash table (open chaining) plus an LRU list, under one mutex held only
 * for lookup/insert.  Entries are reference counted so an entry evicted
 * while another thread is still searching with it is freed by the last
 * user, never under it.  Compile errors are not cached. */
#include "core/common.h"

#include <pthread.h>

#include "jmespath/internal.h"

typedef struct centry {
  char *text;
  uint64_t hash;
  jp_expr *x;
  int refs; /* the cache's own reference + users */
  struct centry *hnext;
  struct centry *prev, *next; /* LRU: head = most recent */
} centry;

#define NBUCKETS 8192

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static centry *buckets[NBUCKETS];
static centry *lru_head, *lru_tail;
static size_t count;

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

static void lru_unlink(centry *c) {
  if (c->prev) c->prev->next = c->next;
  else lru_head = c->next;
  if (c->next) c->next->prev = c->prev;
  else lru_tail = c->prev;
  c->prev = c->next = NULL;
}

static void lru_push(centry *c) {
  c->next = lru_head;
  c->prev = NULL;
  if (lru_head) lru_head->prev = c;
  lru_head = c;
  if (!lru_tail) lru_tail = c;
}

static void entry_release(centry *c) { /* called with mu held */
  if (--c->refs == 0) {
    jp_expr_free(c->x);
    free(c->text);
    free(c);
  }
}

static void remove_entry(centry *c) { /* mu held */
  centry **pp = &buckets[c->hash % NBUCKETS];
  while (*pp && *pp != c) pp = &(*pp)->hnext;
  if (*pp) *pp = c->hnext;
  lru_unlink(c);
  count--;
  entry_release(c);
}

static idp_code acquire(const char *text, centry **out, idp_err *e) {
  uint64_t h = fnv1a(text);
  pthread_mutex_lock(&mu);
  for (centry *c = buckets[h % NBUCKETS]; c; c = c->hnext) {
    if (c->hash == h && strcmp(c->text, text) == 0) {
      c->refs++;
      lru_unlink(c);
      lru_push(c);
      pthread_mutex_unlock(&mu);
      *out = c;
      return IDP_OK;
    }
  }
  pthread_mutex_unlock(&mu);

  /* Compile outside the lock; a racing thread may insert the same text,
   * which is harmless (the later one wins the slot, both are valid). */
  jp_expr *x;
  idp_code rc = jp_compile(text, &x, e);
  if (rc) return rc;
  centry *c = calloc(1, sizeof *c);
  if (!c || !(c->text = strdup(text))) {
    free(c);
    jp_expr_free(x);
    return jp_err_e(e, IDP_ENOMEM, "error", "out of memory");
  }
  c->hash = h;
  c->x = x;
  c->refs = 2; /* cache + caller */
  pthread_mutex_lock(&mu);
  c->hnext = buckets[h % NBUCKETS];
  buckets[h % NBUCKETS] = c;
  lru_push(c);
  count++;
  while (count > JP_CACHE_MAX && lru_tail) remove_entry(lru_tail);
  pthread_mutex_unlock(&mu);
  *out = c;
  return IDP_OK;
}

static void release(centry *c) {
  pthread_mutex_lock(&mu);
  entry_release(c);
  pthread_mutex_unlock(&mu);
}

idp_code jp_eval_flags(const char *text, const json_t *data, int flags, json_t **result,
                       idp_err *e) {
  *result = NULL;
  if (!text) return jp_err_e(e, IDP_EINVAL, "syntax", "empty expression");
  centry *c = NULL;
  idp_code rc = acquire(text, &c, e);
  if (rc) return rc;
  rc = jp_search_flags(c->x, data, flags, result, e);
  release(c);
  return rc;
}

idp_code jp_eval(const char *text, const json_t *data, json_t **result, idp_err *e) {
  return jp_eval_flags(text, data, 0, result, e);
}

void jp_cache_clear(void) {
  pthread_mutex_lock(&mu);
  while (lru_tail) remove_entry(lru_tail);
  pthread_mutex_unlock(&mu);
}
