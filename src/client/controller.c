#include "core/common.h"
#include "client/controller.h"
#include "core/log.h"

#include <pthread.h>

#define MAX_WORKERS 64

struct idp_controller {
  char *name;
  int nworkers;
  idp_reconcile_fn reconcile;
  void *ud;
  int max_retries;
  idp_workqueue *q;
  pthread_t th[MAX_WORKERS];
  int started;
};

idp_code idp_controller_new(const idp_controller_opts *o, idp_controller **out, idp_err *e) {
  if (!o->name || !*o->name || !o->reconcile)
    return idp_err_set(e, IDP_EINVAL, "controller: name and reconcile are required");
  if (o->workers < 0 || o->workers > MAX_WORKERS)
    return idp_err_set(e, IDP_EINVAL, "controller %s: workers must be 0..%d", o->name,
                       MAX_WORKERS);
  idp_controller *c = calloc(1, sizeof *c);
  if (!c) return idp_err_set(e, IDP_ENOMEM, "controller %s: out of memory", o->name);
  size_t n = strlen(o->name);
  c->name = malloc(n + 1);
  if (c->name) memcpy(c->name, o->name, n + 1);
  c->nworkers = o->workers ? o->workers : 1;
  c->reconcile = o->reconcile;
  c->ud = o->ud;
  c->max_retries = o->max_retries;
  c->q = idp_workqueue_new(o->name, o->rate_limit);
  if (!c->name || !c->q) {
    idp_controller_free(c);
    return idp_err_set(e, IDP_ENOMEM, "controller %s: out of memory", o->name);
  }
  *out = c;
  return IDP_OK;
}

static void process(idp_controller *c, const char *key) {
  int64_t after = 0;
  idp_err e = IDP_ERR_INIT;
  idp_code rc = c->reconcile(c->ud, key, &after, &e);
  if (rc == IDP_OK) {
    idp_workqueue_forget(c->q, key);
    if (after > 0) idp_workqueue_add_after(c->q, key, after);
    return;
  }
  int n = idp_workqueue_num_requeues(c->q, key);
  if (c->max_retries > 0 && n >= c->max_retries) {
    idp_workqueue_forget(c->q, key);
    idp_log(IDP_LOG_ERROR, "reconcile failed, dropping key", "controller", c->name, "key", key,
            "error", e.msg, NULL);
    return;
  }
  idp_log(IDP_LOG_WARN, "reconcile failed, retrying", "controller", c->name, "key", key,
          "error", e.msg, NULL);
  idp_workqueue_add_rate_limited(c->q, key);
}

static void *worker(void *arg) {
  idp_controller *c = arg;
  char *key;
  while ((key = idp_workqueue_get(c->q))) {
    process(c, key);
    idp_workqueue_done(c->q, key);
    free(key);
  }
  return NULL;
}

idp_code idp_controller_start(idp_controller *c, idp_err *e) {
  if (c->started || idp_workqueue_shutting_down(c->q))
    return idp_err_set(e, IDP_EINVAL, "controller %s: already started", c->name);
  for (int i = 0; i < c->nworkers; i++) {
    int err = pthread_create(&c->th[i], NULL, worker, c);
    if (err) {
      idp_controller_stop(c);
      return idp_err_set(e, IDP_EIO, "controller %s: thread: %s", c->name, strerror(err));
    }
    c->started++;
  }
  return IDP_OK;
}

void idp_controller_stop(idp_controller *c) {
  if (!c) return;
  idp_workqueue_shutdown(c->q);
  for (int i = 0; i < c->started; i++) pthread_join(c->th[i], NULL);
  c->started = 0;
}

void idp_controller_free(idp_controller *c) {
  if (!c) return;
  if (c->q) idp_controller_stop(c);
  idp_workqueue_free(c->q);
  free(c->name);
  free(c);
}

void idp_controller_enqueue(idp_controller *c, const char *key) { idp_workqueue_add(c->q, key); }

void idp_controller_enqueue_after(idp_controller *c, const char *key, int64_t delay_ms) {
  idp_workqueue_add_after(c->q, key, delay_ms);
}

void idp_controller_enqueue_object(idp_controller *c, const json_t *obj) {
  char key[512];
  if (idp_object_key(obj, key, sizeof key)) idp_workqueue_add(c->q, key);
}

static void h_add(void *ud, const json_t *o) { idp_controller_enqueue_object(ud, o); }
static void h_update(void *ud, const json_t *old, const json_t *o) {
  (void)old;
  idp_controller_enqueue_object(ud, o);
}
static void h_delete(void *ud, const json_t *o) { idp_controller_enqueue_object(ud, o); }

idp_informer_handlers idp_controller_handlers(idp_controller *c) {
  return (idp_informer_handlers){h_add, h_update, h_delete, c};
}

idp_workqueue *idp_controller_queue(idp_controller *c) { return c->q; }
