#include "core/common.h"

#include <time.h>

#include "apiserver/apiserver.h"
#include "core/json.h"
#include "core/yaml.h"
#include "harness.h"
#include "store/store.h"

int harness_start(harness *h, bool with_controller, const idp_secrets_opts *opts) {
  memset(h, 0, sizeof *h);
  idp_err e = IDP_ERR_INIT;
  if (idp_store_open(&(idp_store_opts){.path = ":memory:"}, &h->store, &e)) {
    fprintf(stderr, "store: %s\n", e.msg);
    return -1;
  }
  if (idp_apiserver_new(&(idp_apiserver_opts){.store = h->store, .listen = "127.0.0.1:0"}, &h->api, &e) ||
      idp_apiserver_listen(h->api, &e)) {
    fprintf(stderr, "apiserver: %s\n", e.msg);
    return -1;
  }
  snprintf(h->url, sizeof h->url, "http://127.0.0.1:%u", (unsigned)idp_apiserver_port(h->api));
  idp_kconfig cfg = {.server = h->url, .namespace_ = "default"};
  if (idp_kclient_new(&cfg, &(idp_kclient_opts){.timeout_ms = 10000}, &h->kc, &e)) {
    fprintf(stderr, "client: %s\n", e.msg);
    return -1;
  }
  if (with_controller) {
    idp_secrets_opts o = opts ? *opts : (idp_secrets_opts){0};
    o.install_crds = true;
    if (idp_secrets_start(h->kc, &o, &h->ctl, &e)) {
      fprintf(stderr, "secrets controller: %s\n", e.msg);
      return -1;
    }
  }
  return 0;
}

void harness_stop(harness *h) {
  idp_secrets_stop(h->ctl);
  idp_kclient_free(h->kc);
  idp_apiserver_free(h->api);
  idp_store_close(h->store);
  memset(h, 0, sizeof *h);
}

int apply(harness *h, const char *yaml) {
  json_t *docs = NULL;
  idp_err e = IDP_ERR_INIT;
  if (idp_yaml_load(yaml, strlen(yaml), "test", NULL, &docs, &e)) {
    fprintf(stderr, "apply: %s\n", e.msg);
    return -1;
  }
  size_t i;
  json_t *d;
  int bad = 0;
  json_array_foreach(docs, i, d) {
    if (!json_is_object(d)) continue;
    idp_kgvr g;
    idp_kref r;
    idp_code rc = IDP_OK;
    for (int t = 0; t < 50; t++) { /* CRDs may take a moment to be served */
      rc = idp_kclient_ref_for(h->kc, d, &g, &r, &e);
      if (rc != IDP_ENOTFOUND) break;
      idp_kclient_discovery_reset(h->kc);
      struct timespec ts = {0, 100000000L};
      nanosleep(&ts, NULL);
    }
    if (rc) {
      fprintf(stderr, "apply: %s\n", e.msg);
      bad = -1;
      continue;
    }
    json_t *cur = NULL;
    if (idp_kclient_get(h->kc, &r, &cur, &e) == IDP_OK) {
      json_t *upd = json_deep_copy(d);
      json_object_set(json_object_get(upd, "metadata"), "resourceVersion",
                      idp_json_get(cur, "metadata", "resourceVersion", NULL));
      if (json_object_get(cur, "status") && !json_object_get(upd, "status"))
        json_object_set(upd, "status", json_object_get(cur, "status"));
      rc = idp_kclient_update(h->kc, &r, upd, NULL, NULL, &e);
      json_decref(upd);
    } else {
      idp_kref col = r;
      col.name = NULL;
      rc = idp_kclient_create(h->kc, &col, d, NULL, NULL, &e);
    }
    json_decref(cur);
    if (rc) {
      fprintf(stderr, "apply %s: %s\n", idp_json_get_str(d, "metadata", "name", NULL), e.msg);
      bad = -1;
    }
  }
  json_decref(docs);
  return bad;
}

static int ref_of(harness *h, const char *av, const char *kind, const char *ns, const char *name,
                  idp_kgvr *g, idp_kref *r) {
  idp_err e = IDP_ERR_INIT;
  if (idp_kclient_resolve(h->kc, av, kind, g, &e)) return -1;
  const char *slash = strchr(av, '/');
  *r = (idp_kref){.group = slash ? g->group : "", .version = g->version, .resource = g->resource,
                  .ns = g->namespaced ? ns : NULL, .name = name};
  return 0;
}

json_t *get_obj(harness *h, const char *av, const char *kind, const char *ns, const char *name) {
  idp_kgvr g;
  idp_kref r;
  if (ref_of(h, av, kind, ns, name, &g, &r)) return NULL;
  json_t *o = NULL;
  idp_err e = IDP_ERR_INIT;
  if (idp_kclient_get(h->kc, &r, &o, &e)) return NULL;
  return o;
}

int delete_obj(harness *h, const char *av, const char *kind, const char *ns, const char *name) {
  idp_kgvr g;
  idp_kref r;
  if (ref_of(h, av, kind, ns, name, &g, &r)) return -1;
  idp_err e = IDP_ERR_INIT;
  return idp_kclient_delete(h->kc, &r, NULL, NULL, &e) ? -1 : 0;
}

char *secret_value(harness *h, const char *ns, const char *name, const char *key) {
  json_t *s = get_obj(h, "v1", "Secret", ns, name);
  const char *v = idp_json_get_str(s, "data", key, NULL);
  char *out = NULL;
  if (v) {
    size_t n = 0;
    char *d = NULL;
    if (!idp_base64_decode(v, strlen(v), &d, &n)) {
      out = malloc(n + 1);
      memcpy(out, d, n);
      out[n] = 0;
      free(d);
    }
  }
  json_decref(s);
  return out;
}

char *ready_of(harness *h, const char *av, const char *kind, const char *ns, const char *name) {
  json_t *o = get_obj(h, av, kind, ns, name);
  size_t i;
  json_t *c;
  char *out = NULL;
  json_array_foreach(idp_json_get(o, "status", "conditions", NULL), i, c) {
    const char *t = idp_json_get_str(c, "type", NULL);
    if (!t || strcmp(t, "Ready")) continue;
    const char *st = idp_json_get_str(c, "status", NULL), *rs = idp_json_get_str(c, "reason", NULL),
               *m = idp_json_get_str(c, "message", NULL);
    size_t n = 16 + (st ? strlen(st) : 0) + (rs ? strlen(rs) : 0) + (m ? strlen(m) : 0);
    out = malloc(n);
    snprintf(out, n, "%s|%s|%s", st ? st : "", rs ? rs : "", m ? m : "");
  }
  json_decref(o);
  return out;
}

bool wait_for(bool (*fn)(harness *h, void *arg), harness *h, void *arg, long ms) {
  for (long t = 0; t <= ms; t += 50) {
    if (fn(h, arg)) return true;
    struct timespec ts = {0, 50000000L};
    nanosleep(&ts, NULL);
  }
  return false;
}

typedef struct sw {
  const char *ns, *name, *key, *want;
} sw;

static bool secret_is(harness *h, void *arg) {
  sw *w = arg;
  if (!w->want) {
    json_t *s = get_obj(h, "v1", "Secret", w->ns, w->name);
    json_decref(s);
    return s == NULL;
  }
  char *v = secret_value(h, w->ns, w->name, w->key);
  bool ok = v && !strcmp(v, w->want);
  free(v);
  return ok;
}

bool wait_secret(harness *h, const char *ns, const char *name, const char *key, const char *want, long ms) {
  sw w = {ns, name, key, want};
  return wait_for(secret_is, h, &w, ms);
}

typedef struct rw {
  const char *kind, *ns, *name, *prefix;
} rw;

static bool ready_is(harness *h, void *arg) {
  rw *w = arg;
  char *r = ready_of(h, "external-secrets.io/v1", w->kind, w->ns, w->name);
  bool ok = r && !strncmp(r, w->prefix, strlen(w->prefix));
  free(r);
  return ok;
}

bool wait_ready(harness *h, const char *kind, const char *ns, const char *name, const char *prefix, long ms) {
  rw w = {kind, ns, name, prefix};
  return wait_for(ready_is, h, &w, ms);
}

int force_sync(harness *h, const char *ns, const char *name) {
  static int counter;
  char v[32];
  snprintf(v, sizeof v, "%d-%ld", ++counter, (long)time(NULL));
  json_t *patch = json_pack("{s:{s:{s:s}}}", "metadata", "annotations", "force-sync", v);
  idp_kref r = {.group = "external-secrets.io", .version = "v1", .resource = "externalsecrets",
                .ns = ns, .name = name};
  idp_err e = IDP_ERR_INIT;
  idp_code rc = idp_kclient_patch(h->kc, &r, IDP_PATCH_MERGE, patch, NULL, NULL, &e);
  json_decref(patch);
  return rc ? -1 : 0;
}
