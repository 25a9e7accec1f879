#include "core/common.h"
#include "client/informer.h"
#include "client/watch.h"
#include "core/json.h"
#include "core/log.h"

#include <pthread.h>
#include <time.h>

#define RV_MAX 128
#define KEY_MAX 512

struct idp_informer {
  idp_kclient *c;
  char *group, *version, *resource, *ns, *label, *field;
  idp_kref ref;
  long page, wto, b0, bmax;
  idp_informer_handlers h;

  pthread_rwlock_t lock; /* guards cache */
  json_t *cache;         /* key -> immutable object */

  pthread_mutex_t mu; /* guards the fields below */
  pthread_cond_t cv;  /* signalled when synced */
  bool synced;
  char rv[RV_MAX];
  idp_informer_stats stats;

  idp_kcancel *cancel;
  pthread_t th;
  bool running;
  unsigned seed;
  unsigned long events; /* events seen by the current watch (thread only) */
};

static char *sdup(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s);
  char *p = malloc(n + 1);
  if (p) memcpy(p, s, n + 1);
  return p;
}

bool idp_object_key(const json_t *obj, char *buf, size_t n) {
  const char *name = idp_json_get_str(obj, "metadata", "name", NULL);
  const char *ns = idp_json_get_str(obj, "metadata", "namespace", NULL);
  if (!name || !*name) return false;
  int w = ns && *ns ? snprintf(buf, n, "%s/%s", ns, name) : snprintf(buf, n, "%s", name);
  return w >= 0 && (size_t)w < n;
}

bool idp_key_split(const char *key, char *ns, size_t nsn, char *name, size_t namen) {
  const char *slash = strchr(key, '/');
  int a, b;
  if (slash) {
    a = snprintf(ns, nsn, "%.*s", (int)(slash - key), key);
    b = snprintf(name, namen, "%s", slash + 1);
  } else {
    a = snprintf(ns, nsn, "%s", "");
    b = snprintf(name, namen, "%s", key);
  }
  return a >= 0 && (size_t)a < nsn && b >= 0 && (size_t)b < namen;
}

idp_code idp_informer_new(idp_kclient *c, const idp_informer_opts *o,
                          const idp_informer_handlers *h, idp_informer **out, idp_err *e) {
  if (o->resource.name && *o->resource.name)
    return idp_err_set(e, IDP_EINVAL, "informer %s: resource must be a collection (no name)",
                       o->resource.resource ? o->resource.resource : "?");
  idp_buf probe;
  idp_buf_init(&probe, 4096);
  idp_code rc = idp_kref_path(&o->resource, &probe, e);
  idp_buf_free(&probe);
  if (rc) return rc;
  idp_informer *inf = calloc(1, sizeof *inf);
  if (!inf) return idp_err_set(e, IDP_ENOMEM, "informer: out of memory");
  inf->c = c;
  inf->group = sdup(o->resource.group);
  inf->version = sdup(o->resource.version);
  inf->resource = sdup(o->resource.resource);
  inf->ns = sdup(o->resource.ns);
  inf->label = sdup(o->label_selector);
  inf->field = sdup(o->field_selector);
  inf->ref = (idp_kref){inf->group, inf->version, inf->resource, inf->ns, NULL, NULL};
  inf->page = o->page_size > 0 ? o->page_size : 500;
  inf->wto = o->watch_timeout_s > 0 ? o->watch_timeout_s : 300;
  inf->b0 = o->backoff_initial_ms > 0 ? o->backoff_initial_ms : 800;
  inf->bmax = o->backoff_max_ms > 0 ? o->backoff_max_ms : 30000;
  if (h) inf->h = *h;
  inf->cache = json_object();
  inf->cancel = idp_kcancel_new();
  inf->seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)inf;
  pthread_rwlock_init(&inf->lock, NULL);
  pthread_mutex_init(&inf->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&inf->cv, &ca);
  pthread_condattr_destroy(&ca);
  if (!inf->version || !inf->resource || !inf->cache || !inf->cancel) {
    idp_informer_free(inf);
    return idp_err_set(e, IDP_ENOMEM, "informer: out of memory");
  }
  *out = inf;
  return IDP_OK;
}

void idp_informer_free(idp_informer *inf) {
  if (!inf) return;
  idp_informer_stop(inf);
  json_decref(inf->cache);
  idp_kcancel_free(inf->cancel);
  pthread_rwlock_destroy(&inf->lock);
  pthread_mutex_destroy(&inf->mu);
  pthread_cond_destroy(&inf->cv);
  free(inf->group);
  free(inf->version);
  free(inf->resource);
  free(inf->ns);
  free(inf->label);
  free(inf->field);
  free(inf);
}

/* ---- State ---------------------------------------------------------- */

static void set_rv(idp_informer *inf, const char *rv) {
  if (!rv || !*rv) return;
  pthread_mutex_lock(&inf->mu);
  snprintf(inf->rv, sizeof inf->rv, "%s", rv);
  pthread_mutex_unlock(&inf->mu);
}

void idp_informer_last_rv(idp_informer *inf, char *buf, size_t n) {
  pthread_mutex_lock(&inf->mu);
  snprintf(buf, n, "%s", inf->rv);
  pthread_mutex_unlock(&inf->mu);
}

static void count(idp_informer *inf, unsigned long *field) {
  pthread_mutex_lock(&inf->mu);
  (*field)++;
  pthread_mutex_unlock(&inf->mu);
}

void idp_informer_get_stats(idp_informer *inf, idp_informer_stats *out) {
  pthread_mutex_lock(&inf->mu);
  *out = inf->stats;
  pthread_mutex_unlock(&inf->mu);
}

bool idp_informer_has_synced(idp_informer *inf) {
  pthread_mutex_lock(&inf->mu);
  bool s = inf->synced;
  pthread_mutex_unlock(&inf->mu);
  return s;
}

bool idp_informer_wait_synced(idp_informer *inf, long timeout_ms) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  if (timeout_ms >= 0) {
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&inf->mu);
  while (!inf->synced) {
    if (timeout_ms < 0)
      pthread_cond_wait(&inf->cv, &inf->mu);
    else if (pthread_cond_timedwait(&inf->cv, &inf->mu, &ts) == ETIMEDOUT)
      break;
  }
  bool s = inf->synced;
  pthread_mutex_unlock(&inf->mu);
  return s;
}

/* ---- Cache reads ------------------------------------------------------ */

json_t *idp_informer_get_key(idp_informer *inf, const char *key) {
  pthread_rwlock_rdlock(&inf->lock);
  json_t *o = json_incref(json_object_get(inf->cache, key));
  pthread_rwlock_unlock(&inf->lock);
  return o;
}

json_t *idp_informer_get(idp_informer *inf, const char *ns, const char *name) {
  char key[KEY_MAX];
  int w = ns && *ns ? snprintf(key, sizeof key, "%s/%s", ns, name)
                    : snprintf(key, sizeof key, "%s", name);
  if (w < 0 || (size_t)w >= sizeof key) return NULL;
  return idp_informer_get_key(inf, key);
}

json_t *idp_informer_list(idp_informer *inf, const char *ns) {
  json_t *arr = json_array();
  if (!arr) return NULL;
  pthread_rwlock_rdlock(&inf->lock);
  const char *k;
  json_t *v;
  json_object_foreach(inf->cache, k, v) {
    if (ns) {
      const char *ons = idp_json_get_str(v, "metadata", "namespace", NULL);
      if (strcmp(ons ? ons : "", ns) != 0) continue;
    }
    json_array_append(arr, v);
  }
  pthread_rwlock_unlock(&inf->lock);
  return arr;
}

size_t idp_informer_size(idp_informer *inf) {
  pthread_rwlock_rdlock(&inf->lock);
  size_t n = json_object_size(inf->cache);
  pthread_rwlock_unlock(&inf->lock);
  return n;
}

/* ---- List ------------------------------------------------------------- */

static const char *obj_rv(const json_t *o) {
  return idp_json_get_str(o, "metadata", "resourceVersion", NULL);
}

static bool same_rv(const json_t *a, const json_t *b) {
  const char *x = obj_rv(a), *y = obj_rv(b);
  return x && y && strcmp(x, y) == 0;
}

/* LIST, then swap the cache and deliver the difference. */
static idp_code do_list(idp_informer *inf, idp_err *e) {
  idp_klist_opts lo = {.label_selector = inf->label, .field_selector = inf->field,
                       .limit = inf->page, .cancel = inf->cancel};
  json_t *list = NULL;
  count(inf, &inf->stats.lists);
  idp_code rc = idp_kclient_list_all(inf->c, &inf->ref, &lo, &list, e);
  if (rc) return rc;
  /* Items of typed lists may omit kind/apiVersion: restore them so cached
   * objects are self-describing. */
  const char *lkind = idp_json_get_str(list, "kind", NULL);
  const char *lav = idp_json_get_str(list, "apiVersion", NULL);
  char kind[IDP_KNAME_MAX] = "";
  if (lkind) {
    size_t n = strlen(lkind);
    if (n > 4 && strcmp(lkind + n - 4, "List") == 0 && n - 4 < sizeof kind)
      snprintf(kind, sizeof kind, "%.*s", (int)(n - 4), lkind);
  }
  json_t *fresh = json_object();
  size_t i;
  json_t *it;
  char key[KEY_MAX];
  json_array_foreach(json_object_get(list, "items"), i, it) {
    if (!json_is_object(it) || !idp_object_key(it, key, sizeof key)) continue;
    if (*kind && !json_object_get(it, "kind")) json_object_set_new(it, "kind", json_string(kind));
    if (lav && !json_object_get(it, "apiVersion"))
      json_object_set_new(it, "apiVersion", json_string(lav));
    json_object_set(fresh, key, it);
  }
  char rv[RV_MAX];
  snprintf(rv, sizeof rv, "%s", idp_json_get_str(list, "metadata", "resourceVersion", NULL)
                                    ? idp_json_get_str(list, "metadata", "resourceVersion", NULL)
                                    : "");
  json_decref(list);

  pthread_rwlock_wrlock(&inf->lock);
  json_t *old = inf->cache;
  inf->cache = fresh;
  pthread_rwlock_unlock(&inf->lock);

  const char *k;
  json_t *v;
  json_object_foreach(fresh, k, v) {
    json_t *o = json_object_get(old, k);
    if (!o) {
      if (inf->h.on_add) inf->h.on_add(inf->h.ud, v);
    } else if (!same_rv(o, v)) {
      if (inf->h.on_update) inf->h.on_update(inf->h.ud, o, v);
    }
  }
  json_object_foreach(old, k, v) {
    if (!json_object_get(fresh, k) && inf->h.on_delete) inf->h.on_delete(inf->h.ud, v);
  }
  json_decref(old);
  /* rv "" would make the watch start with synthetic ADDs: never after a
   * list (the server always returns one). */
  set_rv(inf, rv);
  pthread_mutex_lock(&inf->mu);
  if (!inf->synced) {
    inf->synced = true;
    pthread_cond_broadcast(&inf->cv);
  }
  pthread_mutex_unlock(&inf->mu);
  return IDP_OK;
}

/* ---- Watch ------------------------------------------------------------- */

static bool on_event(void *ud, const idp_watch_event *ev) {
  idp_informer *inf = ud;
  json_t *obj = ev->object;
  char key[KEY_MAX];
  inf->events++;
  switch (ev->type) {
    case IDP_WATCH_BOOKMARK:
      break;
    case IDP_WATCH_ERROR:
      return false; /* the watch reports the Status */
    case IDP_WATCH_ADDED:
    case IDP_WATCH_MODIFIED: {
      if (!idp_object_key(obj, key, sizeof key)) break;
      pthread_rwlock_wrlock(&inf->lock);
      json_t *old = json_incref(json_object_get(inf->cache, key));
      bool replay = old && same_rv(old, obj);
      if (!replay) json_object_set(inf->cache, key, obj);
      pthread_rwlock_unlock(&inf->lock);
      if (!replay) {
        if (!old && inf->h.on_add) inf->h.on_add(inf->h.ud, obj);
        if (old && inf->h.on_update) inf->h.on_update(inf->h.ud, old, obj);
      }
      json_decref(old);
      break;
    }
    case IDP_WATCH_DELETED: {
      if (!idp_object_key(obj, key, sizeof key)) break;
      pthread_rwlock_wrlock(&inf->lock);
      bool had = json_object_get(inf->cache, key) != NULL;
      if (had) json_object_del(inf->cache, key);
      pthread_rwlock_unlock(&inf->lock);
      if (had && inf->h.on_delete) inf->h.on_delete(inf->h.ud, obj);
      break;
    }
  }
  set_rv(inf, obj_rv(obj));
  return true;
}

static idp_code do_watch(idp_informer *inf, idp_err *e) {
  char rv[RV_MAX];
  idp_informer_last_rv(inf, rv, sizeof rv);
  idp_watch_opts wo = {.resource_version = rv, .label_selector = inf->label,
                       .field_selector = inf->field, .timeout_seconds = inf->wto,
                       .cancel = inf->cancel};
  count(inf, &inf->stats.watches);
  inf->events = 0;
  return idp_kclient_watch(inf->c, &inf->ref, &wo, on_event, inf, e);
}

static long jitter(idp_informer *inf, long ms) {
  /* +0..25 %: informers started together do not retry in lockstep. */
  return ms + (long)(rand_r(&inf->seed) % (unsigned)(ms / 4 + 1));
}

static void *run(void *arg) {
  idp_informer *inf = arg;
  bool need_list = true;
  long backoff = inf->b0;
  idp_err e = IDP_ERR_INIT;
  while (!idp_kcancel_fired(inf->cancel)) {
    if (need_list) {
      idp_code rc = do_list(inf, &e);
      if (rc) {
        count(inf, &inf->stats.errors);
        idp_log(IDP_LOG_WARN, "informer list failed", "resource", inf->resource, "error", e.msg,
                NULL);
        if (idp_kcancel_sleep(inf->cancel, jitter(inf, backoff))) break;
        backoff = backoff * 2 > inf->bmax ? inf->bmax : backoff * 2;
        continue;
      }
      need_list = false;
      backoff = inf->b0;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    idp_code rc = do_watch(inf, &e);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (idp_kcancel_fired(inf->cancel)) break;
    bool quick = t1.tv_sec - t0.tv_sec < 1 && inf->events == 0;
    if (rc == IDP_EGONE) {
      need_list = true; /* RV compacted: relist now */
      idp_log(IDP_LOG_INFO, "informer relisting", "resource", inf->resource, "reason", e.msg,
              NULL);
      continue;
    }
    if (rc == IDP_OK && !quick) {
      backoff = inf->b0;
      continue; /* normal end of a watch: resume from the last RV */
    }
    /* An error, or a watch that ended at once without events (a server
     * that cannot watch): back off instead of spinning. */
    if (rc) {
      count(inf, &inf->stats.errors);
      idp_log(IDP_LOG_WARN, "informer watch failed", "resource", inf->resource, "error", e.msg,
              NULL);
    }
    if (inf->events > 0) backoff = inf->b0;
    if (idp_kcancel_sleep(inf->cancel, jitter(inf, backoff))) break;
    backoff = backoff * 2 > inf->bmax ? inf->bmax : backoff * 2;
  }
  return NULL;
}

idp_code idp_informer_start(idp_informer *inf, idp_err *e) {
  if (inf->running) return idp_err_set(e, IDP_EINVAL, "informer %s: already started",
                                       inf->resource);
  if (idp_kcancel_fired(inf->cancel))
    return idp_err_set(e, IDP_EINVAL, "informer %s: stopped informers cannot restart",
                       inf->resource);
  int err = pthread_create(&inf->th, NULL, run, inf);
  if (err) return idp_err_set(e, IDP_EIO, "informer %s: thread: %s", inf->resource,
                              strerror(err));
  inf->running = true;
  return IDP_OK;
}

void idp_informer_stop(idp_informer *inf) {
  if (!inf) return;
  idp_kcancel_fire(inf->cancel);
  if (inf->running) {
    pthread_join(inf->th, NULL);
    inf->running = false;
  }
}
