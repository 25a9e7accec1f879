#include "core/common.h"

#include <time.h>

#include "apiserver/api_int.h"
#include "core/json.h"
#include "core/log.h"

/* The garbage collector: one worker thread fed by a queue.
 *
 *  removed(uid)   an object left the store: its dependents (objects whose
 *                 ownerReferences name the uid) lose that reference and are
 *                 deleted when no owner is left; owners waiting in
 *                 foreground deletion are re-examined.
 *  pending(key)   an object carries deletionTimestamp: finish the work its
 *                 finalizers stand for (foregroundDeletion, orphan, a
 *                 Namespace's "kubernetes", a CRD's cleanup finalizer).
 *                 Work that cannot finish yet (objects still held by other
 *                 finalizers) is retried every RETRY_MS.
 *  dangling(key)  an object was written with ownerReferences: when none of
 *                 its owners exists (by name and uid) it is collected, as
 *                 kube's garbage collector does for an owner deleted before
 *                 the dependent was created (a race every controller has).
 *
 * Scanning for dependents is a list of every resource type, so the worker
 * keeps the set of uids that some object names as owner and scans only for
 * those. */

enum { RETRY_MS = 300, QUEUE_MAX = 100000 };

static const char fin_foreground[] = "foregroundDeletion";
static const char fin_orphan[] = "orphan";
static const char fin_namespace[] = "kubernetes";
static const char fin_crd[] = "customresourcecleanup.apiextensions.k8s.io";

typedef enum { GC_REMOVED, GC_PENDING, GC_DANGLING } gc_kind;

typedef struct gc_item {
  gc_kind kind;
  char *store_key, *ns, *name, *uid;
  bool owner_namespaced;
  struct gc_item *next;
} gc_item;

struct api_gc {
  idp_apiserver *s;
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  gc_item *head, *tail;
  size_t n;
  bool stop, started;
  json_t *owner_uids; /* set: uid -> true */
};

static char *dup0(const char *s) {
  if (!s) s = "";
  size_t n = strlen(s);
  char *d = malloc(n + 1);
  if (d) memcpy(d, s, n + 1);
  return d;
}

static void item_free(gc_item *it) {
  if (!it) return;
  free(it->store_key);
  free(it->ns);
  free(it->name);
  free(it->uid);
  free(it);
}

static bool same(const gc_item *a, const gc_item *b) {
  return a->kind == b->kind && !strcmp(a->store_key, b->store_key) && !strcmp(a->ns, b->ns) &&
         !strcmp(a->name, b->name) && !strcmp(a->uid, b->uid);
}

static void enqueue(api_gc *g, gc_item *it) {
  pthread_mutex_lock(&g->mu);
  bool dup = false;
  for (gc_item *x = g->head; x && !dup; x = x->next) dup = same(x, it);
  if (dup || g->n >= QUEUE_MAX || g->stop) {
    if (!dup && !g->stop) idp_log(IDP_LOG_WARN, "gc queue full, dropping work", "name", it->name, NULL);
    pthread_mutex_unlock(&g->mu);
    item_free(it);
    return;
  }
  if (g->tail)
    g->tail->next = it;
  else
    g->head = it;
  g->tail = it;
  g->n++;
  pthread_cond_signal(&g->cv);
  pthread_mutex_unlock(&g->mu);
}

static gc_item *item_new(gc_kind k, const char *key, const char *ns, const char *name,
                         const char *uid) {
  gc_item *it = calloc(1, sizeof *it);
  if (!it) return NULL;
  it->kind = k;
  it->store_key = dup0(key);
  it->ns = dup0(ns);
  it->name = dup0(name);
  it->uid = dup0(uid);
  if (!it->store_key || !it->ns || !it->name || !it->uid) {
    item_free(it);
    return NULL;
  }
  return it;
}

static void note_owners(api_gc *g, const json_t *obj) {
  json_t *refs = idp_json_get(obj, "metadata", "ownerReferences", NULL);
  if (!json_array_size(refs)) return;
  pthread_mutex_lock(&g->mu);
  size_t i;
  json_t *r;
  json_array_foreach(refs, i, r) {
    const char *uid = idp_json_get_str(r, "uid", NULL);
    if (uid && *uid) json_object_set_new(g->owner_uids, uid, json_true());
  }
  pthread_mutex_unlock(&g->mu);
}

static bool is_owner(api_gc *g, const char *uid) {
  pthread_mutex_lock(&g->mu);
  bool yes = json_object_get(g->owner_uids, uid) != NULL;
  pthread_mutex_unlock(&g->mu);
  return yes;
}

/* The resource of an apiVersion + kind (new reference) or NULL. */
static api_resource *find_kind(api_gc *g, const char *api_version, const char *kind) {
  if (!api_version || !kind) return NULL;
  char group[256] = "";
  const char *slash = strchr(api_version, '/');
  if (slash && (size_t)(slash - api_version) < sizeof group) {
    memcpy(group, api_version, (size_t)(slash - api_version));
    group[slash - api_version] = '\0';
  }
  return api_registry_find_kind(g->s->reg, group, kind);
}

void api_gc_note(api_gc *g, const json_t *obj) {
  if (!g) return;
  note_owners(g, obj);
  if (!json_array_size(idp_json_get(obj, "metadata", "ownerReferences", NULL))) return;
  api_resource *r = find_kind(g, idp_json_get_str(obj, "apiVersion", NULL),
                              idp_json_get_str(obj, "kind", NULL));
  if (!r) return;
  gc_item *it = item_new(GC_DANGLING, r->store_key, r->namespaced ? api_obj_ns(obj) : "",
                         api_obj_name(obj), "");
  api_resource_unref(r);
  if (it) enqueue(g, it);
}

void api_gc_removed(api_gc *g, const api_resource *r, const json_t *obj) {
  if (!g) return;
  const char *uid = idp_json_get_str(obj, "metadata", "uid", NULL);
  bool owner = uid && is_owner(g, uid);
  bool has_owners = json_array_size(idp_json_get(obj, "metadata", "ownerReferences", NULL)) > 0;
  if (!owner && !has_owners) return;
  gc_item *it = item_new(GC_REMOVED, r->store_key, api_obj_ns(obj), api_obj_name(obj), uid);
  if (!it) return;
  it->owner_namespaced = r->namespaced;
  /* the removed object's own owners may be waiting for it (foreground) */
  if (has_owners) {
    json_t *refs = idp_json_get(obj, "metadata", "ownerReferences", NULL);
    size_t i;
    json_t *ref;
    json_array_foreach(refs, i, ref) {
      const char *name = idp_json_get_str(ref, "name", NULL);
      if (!name) continue;
      api_resource *or = find_kind(g, idp_json_get_str(ref, "apiVersion", NULL),
                                   idp_json_get_str(ref, "kind", NULL));
      if (!or) continue;
      gc_item *p = item_new(GC_PENDING, or->store_key, or->namespaced ? api_obj_ns(obj) : "", name, "");
      api_resource_unref(or);
      if (p) enqueue(g, p);
    }
  }
  if (owner)
    enqueue(g, it);
  else
    item_free(it);
}

void api_gc_pending(api_gc *g, const api_resource *r, const char *ns, const char *name) {
  if (!g) return;
  gc_item *it = item_new(GC_PENDING, r->store_key, r->namespaced ? ns : "", name, "");
  if (it) enqueue(g, it);
}

/* ---- dependents --------------------------------------------------------- */

typedef bool (*dep_fn)(api_gc *g, const api_resource *r, json_t *dep, const char *owner_uid,
                       void *arg);

static bool refs_uid(const json_t *obj, const char *uid) {
  size_t i;
  json_t *ref;
  json_array_foreach(idp_json_get(obj, "metadata", "ownerReferences", NULL), i, ref) {
    const char *u = idp_json_get_str(ref, "uid", NULL);
    if (u && !strcmp(u, uid)) return true;
  }
  return false;
}

/* Calls fn for every object naming uid as owner; returns how many exist. */
static size_t for_dependents(api_gc *g, const char *uid, const char *owner_ns,
                             bool owner_namespaced, dep_fn fn, void *arg) {
  if (!is_owner(g, uid)) return 0;
  size_t n = 0, count = 0;
  api_resource **rows = api_registry_snapshot(g->s->reg, &n);
  json_t *seen = json_object();
  for (size_t i = 0; i < n; i++) {
    api_resource *r = rows[i];
    if (json_object_get(seen, r->store_key)) continue;
    json_object_set_new(seen, r->store_key, json_true());
    if (!r->namespaced && owner_namespaced) continue; /* cluster objects cannot have namespaced owners */
    json_t *items = NULL;
    int64_t rev;
    char *next = NULL;
    idp_err e = IDP_ERR_INIT;
    if (api_list_items(g->s, r, r->namespaced && owner_namespaced ? owner_ns : NULL, NULL, 0, NULL,
                       &items, &rev, &next, &e))
      continue;
    free(next);
    size_t k;
    json_t *it;
    json_array_foreach(items, k, it) {
      if (!refs_uid(it, uid)) continue;
      count++;
      if (fn) fn(g, r, it, uid, arg);
    }
    json_decref(items);
  }
  json_decref(seen);
  api_registry_snapshot_free(rows, n);
  return count;
}

static json_t *refs_without(const json_t *obj, const char *uid) {
  json_t *out = json_array();
  size_t i;
  json_t *ref;
  json_array_foreach(idp_json_get(obj, "metadata", "ownerReferences", NULL), i, ref) {
    const char *u = idp_json_get_str(ref, "uid", NULL);
    if (!u || strcmp(u, uid)) json_array_append(out, ref);
  }
  return out;
}

static bool strip_ref(api_gc *g, const api_resource *r, json_t *dep, const char *uid) {
  json_t *rest = refs_without(dep, uid);
  json_t *md = json_object_get(dep, "metadata");
  if (json_array_size(rest))
    json_object_set(md, "ownerReferences", rest);
  else
    json_object_del(md, "ownerReferences");
  json_decref(rest);
  idp_err e = IDP_ERR_INIT;
  return api_store_put(g->s, r, dep, api_obj_rv(dep), NULL, &e) == IDP_OK;
}

/* Owner gone: drop the reference; delete the dependent when no owner is left. */
static bool collect_dep(api_gc *g, const api_resource *r, json_t *dep, const char *uid, void *arg) {
  IDP_UNUSED(arg);
  json_t *rest = refs_without(dep, uid);
  bool orphaned = json_array_size(rest) == 0;
  json_decref(rest);
  idp_err e = IDP_ERR_INIT;
  if (!orphaned) return strip_ref(g, r, dep, uid);
  if (idp_json_get(dep, "metadata", "deletionTimestamp", NULL)) return true;
  json_t *out = NULL;
  idp_code c = api_delete_object(g->s, r, api_obj_ns(dep), api_obj_name(dep), "Background", NULL,
                                 false, &out, &e);
  json_decref(out);
  return c == IDP_OK || c == IDP_ENOTFOUND;
}

static bool orphan_dep(api_gc *g, const api_resource *r, json_t *dep, const char *uid, void *arg) {
  IDP_UNUSED(arg);
  return strip_ref(g, r, dep, uid);
}

static bool foreground_dep(api_gc *g, const api_resource *r, json_t *dep, const char *uid,
                           void *arg) {
  IDP_UNUSED(uid);
  IDP_UNUSED(arg);
  if (idp_json_get(dep, "metadata", "deletionTimestamp", NULL)) return true;
  json_t *out = NULL;
  idp_err e = IDP_ERR_INIT;
  idp_code c = api_delete_object(g->s, r, api_obj_ns(dep), api_obj_name(dep), "Foreground", NULL,
                                 false, &out, &e);
  json_decref(out);
  return c == IDP_OK;
}

/* ---- pending work ---------------------------------------------------------- */

static bool remove_from(json_t *list, const char *name) {
  size_t i;
  json_t *v;
  json_array_foreach(list, i, v) {
    if (json_is_string(v) && !strcmp(json_string_value(v), name)) {
      json_array_remove(list, i);
      return true;
    }
  }
  return false;
}

static bool has(const json_t *list, const char *name) {
  size_t i;
  json_t *v;
  json_array_foreach(list, i, v) {
    if (json_is_string(v) && !strcmp(json_string_value(v), name)) return true;
  }
  return false;
}

/* Deletes every object of r in ns (NULL = all); returns how many remain. */
static size_t delete_all(api_gc *g, const api_resource *r, const char *ns) {
  json_t *items = NULL;
  int64_t rev;
  char *next = NULL;
  idp_err e = IDP_ERR_INIT;
  if (api_list_items(g->s, r, ns, NULL, 0, NULL, &items, &rev, &next, &e)) return 1;
  free(next);
  size_t remain = 0, k;
  json_t *it;
  json_array_foreach(items, k, it) {
    json_t *out = NULL;
    idp_code c = api_delete_object(g->s, r, api_obj_ns(it), api_obj_name(it), "Background", NULL,
                                   false, &out, &e);
    if (c == IDP_OK && idp_json_get(out, "metadata", "deletionTimestamp", NULL)) remain++;
    if (c != IDP_OK && c != IDP_ENOTFOUND) remain++;
    json_decref(out);
  }
  json_decref(items);
  return remain;
}

static size_t empty_namespace(api_gc *g, const char *ns) {
  size_t n = 0, remain = 0;
  api_resource **rows = api_registry_snapshot(g->s->reg, &n);
  json_t *seen = json_object();
  for (size_t i = 0; i < n; i++) {
    api_resource *r = rows[i];
    if (!r->namespaced || json_object_get(seen, r->store_key)) continue;
    json_object_set_new(seen, r->store_key, json_true());
    remain += delete_all(g, r, ns);
  }
  json_decref(seen);
  api_registry_snapshot_free(rows, n);
  return remain;
}

/* Returns true when the work is finished (or moot). */
static bool process_pending(api_gc *g, const gc_item *it) {
  idp_apiserver *s = g->s;
  api_resource *r = api_registry_find_store_key(s->reg, it->store_key);
  if (!r) return true;
  json_t *obj = NULL;
  idp_err e = IDP_ERR_INIT;
  bool done = true;
  if (idp_store_get(s->store, r->store_key, it->ns, it->name, &obj, &e) != IDP_OK ||
      !idp_json_get(obj, "metadata", "deletionTimestamp", NULL))
    goto out;
  api_set_type(r, obj);
  json_t *md = json_object_get(obj, "metadata");
  json_t *fins = json_object_get(md, "finalizers");
  const char *uid = idp_json_get_str(md, "uid", NULL);
  bool changed = false;
  if (!uid) uid = "";
  if (has(fins, fin_orphan)) {
    for_dependents(g, uid, it->ns, r->namespaced, orphan_dep, NULL);
    changed |= remove_from(fins, fin_orphan);
  }
  if (has(fins, fin_foreground)) {
    size_t deps = for_dependents(g, uid, it->ns, r->namespaced, foreground_dep, NULL);
    if (deps == 0)
      changed |= remove_from(fins, fin_foreground);
    else
      done = false;
  }
  bool is_ns = !r->crd && !*r->group && !strcmp(r->plural, "namespaces");
  json_t *spec_fins = idp_json_get(obj, "spec", "finalizers", NULL);
  if (is_ns && has(spec_fins, fin_namespace)) {
    if (empty_namespace(g, it->name) == 0)
      changed |= remove_from(spec_fins, fin_namespace);
    else
      done = false;
  }
  bool is_crd = !r->crd && !strcmp(r->kind, "CustomResourceDefinition");
  if (is_crd && has(fins, fin_crd)) {
    const char *grp = idp_json_get_str(obj, "spec", "group", NULL);
    const char *plural = idp_json_get_str(obj, "spec", "names", "plural", NULL);
    char key[600];
    snprintf(key, sizeof key, "%s/%s", grp ? grp : "", plural ? plural : "");
    api_resource *cr = api_registry_find_store_key(s->reg, key);
    size_t remain = cr ? delete_all(g, cr, NULL) : 0;
    api_resource_unref(cr);
    if (remain == 0)
      changed |= remove_from(fins, fin_crd);
    else
      done = false;
  }
  if (changed) {
    idp_code c = api_store_put(s, r, obj, api_obj_rv(obj), NULL, &e);
    if (c == IDP_ECONFLICT) done = false;
  }
out:
  json_decref(obj);
  api_resource_unref(r);
  return done;
}

/* True when the owner a reference names exists with the same uid (an owner
 * of an unknown kind counts as existing: nothing can be proven). */
static bool owner_exists(api_gc *g, const json_t *ref, const char *dep_ns) {
  const char *name = idp_json_get_str(ref, "name", NULL);
  const char *uid = idp_json_get_str(ref, "uid", NULL);
  api_resource *or = find_kind(g, idp_json_get_str(ref, "apiVersion", NULL),
                               idp_json_get_str(ref, "kind", NULL));
  if (!or || !name) {
    api_resource_unref(or);
    return true;
  }
  json_t *owner = NULL;
  idp_err e = IDP_ERR_INIT;
  idp_code c = idp_store_get(g->s->store, or->store_key, or->namespaced ? dep_ns : "", name, &owner, &e);
  api_resource_unref(or);
  bool exists = c != IDP_ENOTFOUND;
  if (c == IDP_OK && uid && *uid) {
    const char *have = idp_json_get_str(owner, "metadata", "uid", NULL);
    exists = have && !strcmp(have, uid);
  }
  json_decref(owner);
  return exists;
}

static void process_dangling(api_gc *g, const gc_item *it) {
  json_t *dep = NULL;
  idp_err e = IDP_ERR_INIT;
  if (idp_store_get(g->s->store, it->store_key, it->ns, it->name, &dep, &e)) return;
  json_t *refs = idp_json_get(dep, "metadata", "ownerReferences", NULL);
  bool any_owner = false;
  size_t i;
  json_t *ref;
  json_array_foreach(refs, i, ref) any_owner = any_owner || owner_exists(g, ref, it->ns);
  if (json_array_size(refs) && !any_owner &&
      !idp_json_get(dep, "metadata", "deletionTimestamp", NULL)) {
    api_resource *r = find_kind(g, idp_json_get_str(dep, "apiVersion", NULL),
                                idp_json_get_str(dep, "kind", NULL));
    if (r) {
      json_t *out = NULL;
      api_delete_object(g->s, r, api_obj_ns(dep), api_obj_name(dep), "Background", NULL, false,
                        &out, &e);
      json_decref(out);
      api_resource_unref(r);
    }
  }
  json_decref(dep);
}

static void process(api_gc *g, gc_item *it, bool *retry) {
  *retry = false;
  if (it->kind == GC_DANGLING) {
    process_dangling(g, it);
  } else if (it->kind == GC_REMOVED) {
    for_dependents(g, it->uid, it->ns, it->owner_namespaced, collect_dep, NULL);
    pthread_mutex_lock(&g->mu);
    json_object_del(g->owner_uids, it->uid);
    pthread_mutex_unlock(&g->mu);
  } else {
    *retry = !process_pending(g, it);
  }
}

static void *worker(void *arg) {
  api_gc *g = arg;
  gc_item *retry_head = NULL, *retry_tail = NULL;
  pthread_mutex_lock(&g->mu);
  while (!g->stop) {
    if (!g->head) {
      if (retry_head) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)RETRY_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&g->cv, &g->mu, &ts);
        /* requeue the items that could not finish */
        for (gc_item *x = retry_head; x;) {
          gc_item *nx = x->next;
          x->next = NULL;
          bool dup = false;
          for (gc_item *y = g->head; y && !dup; y = y->next) dup = same(x, y);
          if (dup) {
            item_free(x);
          } else {
            if (g->tail)
              g->tail->next = x;
            else
              g->head = x;
            g->tail = x;
            g->n++;
          }
          x = nx;
        }
        retry_head = retry_tail = NULL;
      } else {
        pthread_cond_wait(&g->cv, &g->mu);
      }
      continue;
    }
    gc_item *it = g->head;
    g->head = it->next;
    if (!g->head) g->tail = NULL;
    g->n--;
    it->next = NULL;
    pthread_mutex_unlock(&g->mu);
    bool again = false;
    process(g, it, &again);
    if (again) {
      if (retry_tail)
        retry_tail->next = it;
      else
        retry_head = it;
      retry_tail = it;
    } else {
      item_free(it);
    }
    pthread_mutex_lock(&g->mu);
  }
  pthread_mutex_unlock(&g->mu);
  while (retry_head) {
    gc_item *nx = retry_head->next;
    item_free(retry_head);
    retry_head = nx;
  }
  return NULL;
}

/* At start: remember owner uids and resume unfinished deletions. */
static void scan_existing(api_gc *g) {
  size_t n = 0;
  api_resource **rows = api_registry_snapshot(g->s->reg, &n);
  json_t *seen = json_object();
  for (size_t i = 0; i < n; i++) {
    api_resource *r = rows[i];
    if (json_object_get(seen, r->store_key)) continue;
    json_object_set_new(seen, r->store_key, json_true());
    json_t *items = NULL;
    int64_t rev;
    char *next = NULL;
    idp_err e = IDP_ERR_INIT;
    if (api_list_items(g->s, r, NULL, NULL, 0, NULL, &items, &rev, &next, &e)) continue;
    free(next);
    size_t k;
    json_t *it;
    json_array_foreach(items, k, it) {
      note_owners(g, it);
      if (idp_json_get(it, "metadata", "deletionTimestamp", NULL))
        api_gc_pending(g, r, api_obj_ns(it), api_obj_name(it));
    }
    json_decref(items);
  }
  json_decref(seen);
  api_registry_snapshot_free(rows, n);
}

api_gc *api_gc_start(idp_apiserver *s) {
  api_gc *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  g->s = s;
  g->owner_uids = json_object();
  pthread_mutex_init(&g->mu, NULL);
  pthread_cond_init(&g->cv, NULL);
  scan_existing(g);
  if (pthread_create(&g->th, NULL, worker, g) != 0) {
    api_gc_stop(g);
    return NULL;
  }
  g->started = true;
  return g;
}

void api_gc_stop(api_gc *g) {
  if (!g) return;
  pthread_mutex_lock(&g->mu);
  g->stop = true;
  pthread_cond_broadcast(&g->cv);
  pthread_mutex_unlock(&g->mu);
  if (g->started) pthread_join(g->th, NULL);
  while (g->head) {
    gc_item *nx = g->head->next;
    item_free(g->head);
    g->head = nx;
  }
  json_decref(g->owner_uids);
  pthread_cond_destroy(&g->cv);
  pthread_mutex_destroy(&g->mu);
  free(g);
}
