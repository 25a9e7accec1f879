/* watch.c: watch fan-out (see store.h and store_int.h for the locking).
 *
 * A watcher is in one of two modes:
 *  - catching up (!live): idp_watch_next fetches the next batch of matching
 *    events after w->cursor, from the in-memory ring when it still holds
 *    them, else from the events table; all under s->mu, so when a batch
 *    comes back short the watcher has seen every event up to s->rev and is
 *    switched to live in the same critical section: no gap, no duplicate.
 *  - live: writers push each committed matching event onto the watcher's
 *    bounded queue (pointer + refcount, never a copy, never a wait).  A full
 *    queue drops the watcher (IDP_EGONE) instead of slowing the writer.
 * The eventfd is readable while the queue is non-empty, while catching up,
 * and once the watcher is gone. */
#include "core/common.h"

#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "store/store_int.h"

#define DEFAULT_MAX_QUEUE 1000

static void efd_signal(idp_watch *w) {
  uint64_t one = 1;
  ssize_t r = write(w->efd, &one, sizeof one);
  (void)r; /* EAGAIN only when the counter is saturated: still readable */
}

static void efd_drain(idp_watch *w) {
  uint64_t v;
  ssize_t r = read(w->efd, &v, sizeof v);
  (void)r;
}

static void queue_clear(idp_watch *w) {
  while (w->n) {
    ev_rec_unref(w->q[w->head]);
    w->head = (w->head + 1) % w->cap;
    w->n--;
  }
  w->bytes = 0;
}

/* Under w->mu. */
static void push(idp_watch *w, ev_rec *r) {
  assert(w->n < w->cap);
  atomic_fetch_add(&r->refs, 1);
  w->q[(w->head + w->n) % w->cap] = r;
  w->bytes += r->len;
  if (w->n++ == 0) efd_signal(w);
  pthread_cond_signal(&w->cv);
}

/* Under s->mu and w->mu. */
static void make_gone(idp_watch *w, int why) {
  w->gone = true;
  w->gone_why = why;
  queue_clear(w); /* a dropped watcher releases its memory at once */
  efd_signal(w);
  pthread_cond_broadcast(&w->cv);
}

static void unlink_watch(idp_store *s, idp_watch *w) {
  if (!w->linked) return;
  if (w->prev)
    w->prev->next = w->next;
  else
    s->watchers = w->next;
  if (w->next) w->next->prev = w->prev;
  w->prev = w->next = NULL;
  w->linked = false;
}

static bool matches(const idp_watch *w, const ev_rec *r) {
  return strcmp(w->resource, r->resource) == 0 && (!w->ns || strcmp(w->ns, r->ns) == 0);
}

void store_publish(idp_store *s, ev_rec *r) {
  while (s->ring_n && (s->ring_n == s->ring_cap || s->ring_bytes + r->len > RING_MAX_BYTES)) {
    ev_rec *old = s->ring[s->ring_head];
    s->ring_bytes -= old->len;
    ev_rec_unref(old);
    s->ring_head = (s->ring_head + 1) % s->ring_cap;
    s->ring_n--;
    s->ring_first++;
  }
  if (s->ring_n == 0) s->ring_first = r->rev;
  assert(r->rev == s->ring_first + (int64_t)s->ring_n);
  s->ring[(s->ring_head + s->ring_n) % s->ring_cap] = r; /* takes the caller's ref */
  s->ring_n++;
  s->ring_bytes += r->len;
  for (idp_watch *w = s->watchers, *next; w; w = next) {
    next = w->next;
    if (!w->live || r->rev <= w->cursor || !matches(w, r)) continue;
    pthread_mutex_lock(&w->mu);
    if (w->n == w->cap || (w->n && w->bytes + r->len > WATCH_MAX_BYTES)) {
      make_gone(w, WATCH_GONE_BEHIND);
      unlink_watch(s, w);
      s->n_dropped++;
    } else if (!w->gone) {
      push(w, r);
    }
    pthread_mutex_unlock(&w->mu);
  }
}

void store_close_watchers(idp_store *s) {
  while (s->watchers) {
    idp_watch *w = s->watchers;
    pthread_mutex_lock(&w->mu);
    make_gone(w, WATCH_GONE_CLOSING);
    pthread_mutex_unlock(&w->mu);
    unlink_watch(s, w);
  }
}

static char *dupstr(const char *p) {
  size_t n = strlen(p) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, p, n);
  return d;
}

idp_code idp_store_watch(idp_store *s, const char *resource, const char *ns, int64_t from_rev,
                         size_t max_queue, idp_watch **out, idp_err *e) {
  *out = NULL;
  if (!resource || !*resource) return idp_err_set(e, IDP_EINVAL, "store: resource is required");
  if (from_rev < 0)
    return idp_err_set(e, IDP_EINVAL, "invalid resource version %lld", (long long)from_rev);
  idp_watch *w = calloc(1, sizeof *w);
  if (!w) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  w->cap = max_queue ? max_queue : DEFAULT_MAX_QUEUE;
  w->q = calloc(w->cap, sizeof *w->q);
  w->resource = dupstr(resource);
  w->ns = ns && *ns ? dupstr(ns) : NULL;
  w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (!w->q || !w->resource || (ns && *ns && !w->ns) || w->efd < 0) {
    if (w->efd >= 0) close(w->efd);
    free(w->q);
    free(w->resource);
    free(w->ns);
    free(w);
    return idp_err_set(e, IDP_ENOMEM, "cannot create a watch: %s", strerror(errno));
  }
  pthread_mutex_init(&w->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&w->cv, &ca);
  pthread_condattr_destroy(&ca);
  w->s = s;

  store_lock_take(&s->mu);
  idp_code c = IDP_OK;
  if (s->closing) {
    c = idp_err_set(e, IDP_EUNAVAILABLE, "store %s is closed", s->path);
  } else if (from_rev > 0 && from_rev < s->compacted) {
    c = idp_err_set(e, IDP_EGONE, "too old resource version: %lld (%lld)", (long long)from_rev,
                    (long long)s->compacted);
  }
  if (!c) {
    if (from_rev == 0 || from_rev >= s->rev) {
      w->live = true;
      w->cursor = from_rev > s->rev ? from_rev : s->rev;
    } else {
      w->cursor = from_rev;
      efd_signal(w); /* there is catching up to do */
    }
    w->linked = true;
    w->next = s->watchers;
    if (s->watchers) s->watchers->prev = w;
    s->watchers = w;
    s->refs++;
  }
  store_lock_give(&s->mu);
  if (c) {
    w->s = NULL;
    idp_watch_close(w);
    return c;
  }
  *out = w;
  return IDP_OK;
}

/* Fetches the next batch for a catching-up watcher.  Called without locks. */
static idp_code catch_up(idp_watch *w, idp_err *e) {
  idp_store *s = w->s;
  idp_code c = IDP_OK;
  ev_rec **batch = NULL;
  size_t nb = 0;
  store_lock_take(&s->mu);
  if (s->closing) {
    pthread_mutex_lock(&w->mu);
    make_gone(w, WATCH_GONE_CLOSING);
    pthread_mutex_unlock(&w->mu);
    unlink_watch(s, w);
    goto out;
  }
  if (w->cursor < s->compacted) {
    pthread_mutex_lock(&w->mu);
    w->gone_rev = w->cursor;
    make_gone(w, WATCH_GONE_COMPACTED);
    pthread_mutex_unlock(&w->mu);
    unlink_watch(s, w);
    goto out;
  }
  size_t max = w->cap; /* the queue is empty when we get here */
  batch = malloc(max * sizeof *batch);
  if (!batch) {
    c = idp_err_set(e, IDP_ENOMEM, "out of memory");
    goto out;
  }
  bool done = false;
  int64_t cursor = w->cursor;
  size_t bytes = 0;
  if (s->ring_n && cursor + 1 >= s->ring_first) {
    int64_t r = cursor + 1;
    for (; r <= s->rev && nb < max; r++) {
      ev_rec *rec = s->ring[(s->ring_head + (size_t)(r - s->ring_first)) % s->ring_cap];
      if (!matches(w, rec)) continue;
      atomic_fetch_add(&rec->refs, 1);
      batch[nb++] = rec;
      bytes += rec->len;
      if (bytes > WATCH_MAX_BYTES / 2) {
        r++;
        break;
      }
    }
    cursor = r - 1;
    done = r > s->rev;
  } else if (cursor >= s->rev) {
    done = true;
  } else {
    sqlite3_stmt *st = s->st[w->ns ? ST_EV_AFTER_NS : ST_EV_AFTER];
    sqlite3_bind_text(st, 1, w->resource, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, cursor);
    sqlite3_bind_int64(st, 3, (int64_t)max);
    if (w->ns) sqlite3_bind_text(st, 4, w->ns, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      int64_t rev = sqlite3_column_int64(st, 0);
      int type = sqlite3_column_int(st, 1);
      const char *rns = (const char *)sqlite3_column_text(st, 2);
      const char *rname = (const char *)sqlite3_column_text(st, 3);
      const char *text;
      size_t len;
      c = store_plain(s, w->resource, rns, rname, sqlite3_column_blob(st, 4),
                      (size_t)sqlite3_column_bytes(st, 4), &text, &len, e);
      if (c) break;
      ev_rec *rec = ev_rec_new(rev, (idp_event_type)type, w->resource, rns, rname, text, len);
      idp_buf_reset(&s->scratch);
      if (!rec) {
        c = idp_err_set(e, IDP_ENOMEM, "out of memory");
        break;
      }
      batch[nb++] = rec;
      cursor = rev;
      bytes += len;
      if (bytes > WATCH_MAX_BYTES / 2) break; /* a short batch; more next time */
    }
    if (!c && rc != SQLITE_ROW && rc != SQLITE_DONE)
      c = idp_err_set(e, IDP_EIO, "store %s: watch replay: %s", s->path, sqlite3_errmsg(s->db));
    sqlite3_reset(st);
    done = !c && nb < max && bytes <= WATCH_MAX_BYTES / 2;
  }
  if (c) goto out;
  pthread_mutex_lock(&w->mu);
  for (size_t i = 0; i < nb; i++) {
    push(w, batch[i]);
    ev_rec_unref(batch[i]);
  }
  nb = 0;
  if (done) {
    w->live = true;
    w->cursor = s->rev;
  } else {
    w->cursor = cursor;
  }
  pthread_mutex_unlock(&w->mu);
out:
  store_lock_give(&s->mu);
  for (size_t i = 0; i < nb; i++) ev_rec_unref(batch[i]);
  free(batch);
  return c;
}

static idp_code to_event(const ev_rec *r, idp_event **out, idp_err *e) {
  idp_event *ev = calloc(1, sizeof *ev);
  if (!ev) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  ev->type = r->type;
  ev->rev = r->rev;
  ev->resource = dupstr(r->resource);
  ev->ns = dupstr(r->ns);
  ev->name = dupstr(r->name);
  json_error_t je;
  ev->obj = json_loadb(r->json, r->len, JSON_ALLOW_NUL, &je);
  if (!ev->resource || !ev->ns || !ev->name || !ev->obj) {
    idp_event_free(ev);
    return idp_err_set(e, IDP_EINTERNAL, "watch: cannot decode event %lld", (long long)r->rev);
  }
  *out = ev;
  return IDP_OK;
}

static idp_code gone_err(idp_watch *w, idp_err *e) {
  switch (w->gone_why) {
    case WATCH_GONE_BEHIND:
      return idp_err_set(e, IDP_EGONE, "watch closed: the client fell more than %zu events behind",
                         w->cap);
    case WATCH_GONE_COMPACTED:
      return idp_err_set(e, IDP_EGONE, "too old resource version: %lld (%lld)",
                         (long long)w->gone_rev, (long long)idp_store_compacted(w->s));
    default:
      return idp_err_set(e, IDP_EGONE, "watch closed: the store is shutting down");
  }
}

idp_code idp_watch_next(idp_watch *w, int timeout_ms, idp_event **ev, idp_err *e) {
  *ev = NULL;
  struct timespec deadline;
  if (timeout_ms > 0) {
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
      deadline.tv_sec++;
      deadline.tv_nsec -= 1000000000L;
    }
  }
  for (;;) {
    pthread_mutex_lock(&w->mu);
    if (w->n) {
      ev_rec *r = w->q[w->head];
      w->head = (w->head + 1) % w->cap;
      w->n--;
      w->bytes -= r->len;
      if (w->n == 0 && w->live && !w->gone) efd_drain(w);
      pthread_mutex_unlock(&w->mu);
      idp_code c = to_event(r, ev, e);
      ev_rec_unref(r);
      return c;
    }
    if (w->gone) {
      pthread_mutex_unlock(&w->mu);
      return gone_err(w, e);
    }
    if (!w->live) {
      pthread_mutex_unlock(&w->mu);
      idp_code c = catch_up(w, e);
      if (c) return c;
      continue;
    }
    if (timeout_ms == 0) {
      efd_drain(w);
      pthread_mutex_unlock(&w->mu);
      return IDP_OK;
    }
    int rc = timeout_ms < 0 ? pthread_cond_wait(&w->cv, &w->mu)
                            : pthread_cond_timedwait(&w->cv, &w->mu, &deadline);
    bool empty = w->n == 0 && !w->gone;
    pthread_mutex_unlock(&w->mu);
    if (rc == ETIMEDOUT && empty) return IDP_OK;
  }
}

int idp_watch_fd(idp_watch *w) { return w->efd; }

void idp_watch_close(idp_watch *w) {
  if (!w) return;
  idp_store *s = w->s;
  bool last = false;
  if (s) {
    store_lock_take(&s->mu);
    unlink_watch(s, w);
    last = --s->refs == 0;
    store_lock_give(&s->mu);
  }
  queue_clear(w);
  free(w->q);
  free(w->resource);
  free(w->ns);
  close(w->efd);
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cv);
  free(w);
  if (last) store_destroy(s);
}

void idp_event_free(idp_event *ev) {
  if (!ev) return;
  free(ev->resource);
  free(ev->ns);
  free(ev->name);
  json_decref(ev->obj);
  free(ev);
}
