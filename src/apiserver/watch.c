#include "core/common.h"

#include <poll.h>
#include <time.h>

#include "apiserver/api_int.h"
#include "core/json.h"

/* A watch stream: synthetic ADDED events for the current state (when the
 * client asked for it), an optional initial-events-end BOOKMARK, then live
 * events from the store in revision order.  Bytes are produced into `out`
 * and drained by the transport; `out` has a hard cap and the store queue a
 * bounded length, so a client that stops reading is dropped rather than
 * letting memory grow. */

enum { STREAM_OUT_MAX = 8 << 20, INITIAL_BATCH = 64 * 1024 };

struct idp_api_stream {
  idp_apiserver *srv;
  api_resource *res;
  api_filter *filter;
  idp_watch *w;
  json_t *initial;      /* array of current objects or NULL */
  size_t initial_idx;
  bool initial_bookmark; /* sendInitialEvents: BOOKMARK after the initial items */
  bool bookmarks;
  bool table, include_object;
  int64_t last_rev;
  int64_t deadline_ms, next_beat_ms;
  int beat_ms;
  idp_buf out;
  size_t out_off;
  bool ended;
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *const type_names[] = {"ADDED", "MODIFIED", "DELETED"};

static void emit(idp_api_stream *st, const char *type, json_t *obj /* borrowed */) {
  json_t *o = obj;
  json_t *table = NULL;
  if (st->table && strcmp(type, "BOOKMARK")) {
    json_t *arr = json_pack("[O]", obj);
    table = api_table(st->res, arr, st->include_object, NULL, NULL);
    json_decref(arr);
    if (table) o = table;
  }
  json_t *ev = json_pack("{s:s, s:O}", "type", type, "object", o);
  char *s = ev ? idp_json_dump(ev) : NULL;
  json_decref(ev);
  json_decref(table);
  if (!s || idp_buf_adds(&st->out, s) || idp_buf_addc(&st->out, '\n')) st->ended = true;
  free(s);
}

static void emit_bookmark(idp_api_stream *st, bool initial_end) {
  char gv[600], rv[32];
  api_gv(st->res, gv, sizeof gv);
  snprintf(rv, sizeof rv, "%" PRId64, st->last_rev);
  json_t *b = json_pack("{s:s, s:s, s:{s:s}}", "kind", st->res->kind, "apiVersion", gv,
                        "metadata", "resourceVersion", rv);
  if (initial_end)
    json_object_set_new(json_object_get(b, "metadata"), "annotations",
                        json_pack("{s:s}", "k8s.io/initial-events-end", "true"));
  emit(st, "BOOKMARK", b);
  json_decref(b);
}

/* Every watcher of a resource sends the same bytes for an event: the first
 * one to get there encodes it, the others copy (a ring keyed by revision;
 * a revision is one write, so one object and one event type). */
enum { SHARED_EVENTS = 64 };

static struct {
  pthread_mutex_t mu;
  int64_t rev[SHARED_EVENTS];
  char *text[SHARED_EVENTS];
  size_t len[SHARED_EVENTS];
} shared = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void emit_shared(idp_api_stream *st, idp_event *ev) {
  size_t slot = (size_t)(ev->rev % SHARED_EVENTS);
  pthread_mutex_lock(&shared.mu);
  if (shared.rev[slot] == ev->rev && shared.text[slot]) {
    if (idp_buf_add(&st->out, shared.text[slot], shared.len[slot])) st->ended = true;
    pthread_mutex_unlock(&shared.mu);
    return;
  }
  pthread_mutex_unlock(&shared.mu);
  size_t start = st->out.len;
  emit(st, type_names[ev->type], ev->obj);
  if (st->ended || st->out.len <= start) return;
  size_t n = st->out.len - start;
  char *copy = malloc(n);
  if (!copy) return;
  memcpy(copy, st->out.data + start, n);
  pthread_mutex_lock(&shared.mu);
  free(shared.text[slot]);
  shared.text[slot] = copy;
  shared.len[slot] = n;
  shared.rev[slot] = ev->rev;
  pthread_mutex_unlock(&shared.mu);
}

void idp_api_stream_free(idp_api_stream *st) {
  if (!st) return;
  idp_watch_close(st->w);
  api_filter_free(st->filter);
  api_resource_unref(st->res);
  json_decref(st->initial);
  idp_buf_free(&st->out);
  atomic_fetch_sub(&st->srv->watchers, 1);
  free(st);
}

static long drain(idp_api_stream *st, char *buf, size_t max) {
  size_t avail = st->out.len - st->out_off;
  size_t n = avail < max ? avail : max;
  memcpy(buf, st->out.data + st->out_off, n);
  st->out_off += n;
  if (st->out_off == st->out.len) {
    idp_buf_reset(&st->out);
    st->out_off = 0;
  }
  return (long)n;
}

long idp_api_stream_read(idp_api_stream *st, char *buf, size_t max, int timeout_ms) {
  int64_t until = now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
  for (;;) {
    if (st->out.len > st->out_off) return drain(st, buf, max);
    if (st->ended || atomic_load(&st->srv->stopping)) return -1;
    if (st->initial) {
      while (st->initial_idx < json_array_size(st->initial) && st->out.len < INITIAL_BATCH)
        emit(st, "ADDED", json_array_get(st->initial, st->initial_idx++));
      if (st->initial_idx >= json_array_size(st->initial)) {
        json_decref(st->initial);
        st->initial = NULL;
        if (st->initial_bookmark) emit_bookmark(st, true);
      }
      continue;
    }
    int64_t now = now_ms();
    if (now >= st->deadline_ms) {
      st->ended = true;
      continue;
    }
    if (now >= st->next_beat_ms) {
      /* heartbeats let a dead client be noticed (the write fails) */
      if (st->bookmarks)
        emit_bookmark(st, false);
      else if (idp_buf_addc(&st->out, '\n'))
        st->ended = true;
      st->next_beat_ms = now + st->beat_ms;
      continue;
    }
    int64_t wait = until - now;
    if (st->deadline_ms - now < wait) wait = st->deadline_ms - now;
    if (st->next_beat_ms - now < wait) wait = st->next_beat_ms - now;
    if (wait < 0) wait = 0;
    /* sleep on the watch and on the server's stop signal together */
    struct pollfd pf[2] = {{.fd = idp_watch_fd(st->w), .events = POLLIN},
                           {.fd = st->srv->stop_fd, .events = POLLIN}};
    if (wait > 0 && poll(pf, st->srv->stop_fd >= 0 ? 2 : 1, (int)wait) < 0 && errno != EINTR) {
      st->ended = true;
      continue;
    }
    idp_event *ev = NULL;
    idp_err e = IDP_ERR_INIT;
    idp_code code = idp_watch_next(st->w, 0, &ev, &e);
    if (code) {
      st->ended = true;
      continue;
    }
    if (!ev) {
      if (now_ms() >= until) return 0;
      continue;
    }
    if (ev->rev > st->last_rev) st->last_rev = ev->rev;
    if (ev->obj && api_filter_match(st->filter, ev->obj)) {
      if (!st->table && st->res->single_version)
        emit_shared(st, ev);
      else {
        api_set_type(st->res, ev->obj);
        emit(st, type_names[ev->type], ev->obj);
      }
    }
    idp_event_free(ev);
  }
}

void api_watch(api_ctx *c) {
  idp_err e = IDP_ERR_INIT;
  idp_apiserver *s = c->srv;
  const idp_api_request *rq = c->rq;
  const char *rvs = api_query(rq, "resourceVersion");
  const char *match = api_query(rq, "resourceVersionMatch");
  bool send_initial = api_query_bool(rq, "sendInitialEvents");
  bool send_initial_set = api_query(rq, "sendInitialEvents") != NULL;
  if (send_initial_set && (!match || strcmp(match, "NotOlderThan"))) {
    idp_err_set(&e, IDP_EINVALID,
                "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: "
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan");
    api_status_error(c, &e, NULL, NULL);
    return;
  }
  if (match && *match && !send_initial_set) {
    idp_err_set(&e, IDP_EINVALID,
                "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: "
                "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided");
    api_status_error(c, &e, NULL, NULL);
    return;
  }
  int64_t from = 0;
  bool synthetic = send_initial || !rvs || !*rvs || !strcmp(rvs, "0");
  if (send_initial_set && !send_initial) synthetic = false;
  if (rvs && *rvs) {
    char *end;
    errno = 0;
    long long v = strtoll(rvs, &end, 10);
    if (errno || *end || v < 0) {
      idp_err_set(&e, IDP_EINVAL, "resourceVersion: invalid value \"%s\"", rvs);
      api_status_error(c, &e, NULL, NULL);
      return;
    }
    from = v;
  }
  long long timeout = 1800 + (long long)(idp_store_revision(s->store) % 1800);
  const char *ts = api_query(rq, "timeoutSeconds");
  if (ts && *ts) {
    char *end;
    errno = 0;
    long long v = strtoll(ts, &end, 10);
    if (errno || *end || v < 0) {
      idp_err_set(&e, IDP_EINVAL, "timeoutSeconds: invalid value \"%s\"", ts);
      api_status_error(c, &e, NULL, NULL);
      return;
    }
    if (v > 0) timeout = v;
  }
  idp_api_stream *st = calloc(1, sizeof *st);
  if (!st) {
    idp_err_set(&e, IDP_ENOMEM, "allocating a watch");
    api_status_error(c, &e, NULL, NULL);
    return;
  }
  atomic_fetch_add(&s->watchers, 1);
  st->srv = s;
  st->res = c->res;
  atomic_fetch_add(&c->res->refs, 1);
  idp_buf_init(&st->out, STREAM_OUT_MAX);
  st->bookmarks = api_query_bool(rq, "allowWatchBookmarks");
  st->table = api_wants_table(c);
  const char *io = api_query(rq, "includeObject");
  st->include_object = io && !strcmp(io, "Object");
  st->initial_bookmark = send_initial;
  st->beat_ms = s->o.watch_heartbeat_ms > 0 ? s->o.watch_heartbeat_ms : 15000;
  idp_code code = api_filter_new(c, &st->filter, &e);
  if (!code && c->p.route == R_ITEM) {
    /* the legacy single-object watch: the name filters */
    api_filter_free(st->filter);
    st->filter = NULL;
    idp_api_query q[2] = {{"fieldSelector", NULL}, {NULL, NULL}};
    char fs[400];
    snprintf(fs, sizeof fs, "metadata.name=%s", c->p.name);
    q[0].value = fs;
    idp_api_request r2 = *rq;
    r2.query = q;
    r2.nquery = 1;
    api_ctx c2 = *c;
    c2.rq = &r2;
    code = api_filter_new(&c2, &st->filter, &e);
  }
  const char *ns = c->p.has_ns ? c->p.ns : NULL;
  if (!code && synthetic) {
    char *next = NULL;
    int64_t rev = 0;
    code = api_list_items(s, c->res, ns, st->filter, 0, NULL, &st->initial, &rev, &next, &e);
    free(next);
    if (!code) from = rev;
  }
  if (!code) {
    size_t q = s->o.watch_queue ? s->o.watch_queue : 10000;
    code = idp_store_watch(s->store, c->res->store_key, ns, from, q, &st->w, &e);
    if (code == IDP_EGONE)
      idp_err_set(&e, IDP_EGONE, "too old resource version: %" PRId64 " (%" PRId64 ")", from,
                  idp_store_compacted(s->store));
  }
  if (code) {
    idp_api_stream_free(st);
    api_status_error(c, &e, NULL, NULL);
    return;
  }
  st->last_rev = from ? from : idp_store_revision(s->store);
  int64_t now = now_ms();
  st->deadline_ms = now + timeout * 1000;
  st->next_beat_ms = now + st->beat_ms;
  c->rs->status = 200;
  c->rs->content_type = "application/json";
  c->rs->stream = st;
}
