/* REST client and watch end to end against fakeapi (a loopback server). */
#include "../test.h"
#include "client/rest.h"
#include "client/watch.h"
#include "core/json.h"
#include "fakeapi.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

typedef struct fixture {
  fakeapi *f;
  idp_kclient *c;
} fixture;

static idp_kclient *client_for(const char *url, const char *token, size_t max_body) {
  idp_kconfig cfg = {0};
  cfg.server = (char *)url;
  cfg.namespace_ = (char *)"default";
  cfg.token = (char *)token;
  idp_kclient_opts o = {.timeout_ms = 5000, .max_body = max_body};
  idp_kclient *c = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_kclient_new(&cfg, &o, &c, &e), IDP_OK);
  return c;
}

static int setup(void **state) {
  fixture *x = calloc(1, sizeof *x);
  x->f = fakeapi_start();
  if (!x->f) return -1;
  x->c = client_for(fakeapi_url(x->f), NULL, 0);
  *state = x;
  return 0;
}

static int teardown(void **state) {
  fixture *x = *state;
  idp_kclient_free(x->c);
  fakeapi_stop(x->f);
  free(x);
  return 0;
}

static const idp_kref CM = {"", "v1", "configmaps", "default", NULL, NULL};

static json_t *cm(const char *name, const char *val) {
  return json_pack("{s:s,s:s,s:{s:s},s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
                   "metadata", "name", name, "data", "k", val);
}

static void test_crud(void **state) {
  fixture *x = *state;
  idp_err e = IDP_ERR_INIT;
  json_t *obj = cm("a", "1"), *out = NULL;
  assert_int_equal(idp_kclient_create(x->c, &CM, obj, NULL, &out, &e), IDP_OK);
  assert_non_null(idp_json_get_str(out, "metadata", "resourceVersion", NULL));
  json_decref(out);
  /* Create again: AlreadyExists. */
  assert_int_equal(idp_kclient_create(x->c, &CM, obj, NULL, &out, &e), IDP_EEXIST);
  assert_null(out);
  assert_non_null(strstr(e.msg, "POST /api/v1/namespaces/default/configmaps: 409 AlreadyExists"));
  assert_non_null(strstr(e.msg, "\"a\" already exists"));
  json_decref(obj);

  idp_kref one = CM;
  one.name = "a";
  assert_int_equal(idp_kclient_get(x->c, &one, &out, &e), IDP_OK);
  assert_string_equal(idp_json_get_str(out, "data", "k", NULL), "1");
  /* Update with the current RV, then again with the stale one. */
  json_t *upd = json_deep_copy(out);
  json_decref(out);
  json_object_set_new(json_object_get(upd, "data"), "k", json_string("2"));
  assert_int_equal(idp_kclient_update(x->c, &CM, upd, NULL, &out, &e), IDP_OK);
  assert_string_equal(idp_json_get_str(out, "data", "k", NULL), "2");
  json_decref(out);
  assert_int_equal(idp_kclient_update(x->c, &CM, upd, NULL, &out, &e), IDP_ECONFLICT);
  assert_non_null(strstr(e.msg, "409 Conflict"));
  assert_non_null(strstr(e.msg, "the object has been modified"));
  json_decref(upd);

  /* Status subresource: PUT .../a/status. */
  json_t *st = json_pack("{s:{s:s},s:{s:s}}", "metadata", "name", "a", "status", "phase", "ok");
  assert_int_equal(idp_kclient_update_status(x->c, &CM, st, NULL, &out, &e), IDP_OK);
  json_decref(out);
  json_decref(st);
  char line[512], ctype[128], body[4096];
  fakeapi_last(x->f, line, sizeof line, ctype, sizeof ctype, body, sizeof body);
  assert_string_equal(line, "PUT /api/v1/namespaces/default/configmaps/a/status");

  /* Missing object. */
  one.name = "zzz";
  assert_int_equal(idp_kclient_get(x->c, &one, &out, &e), IDP_ENOTFOUND);
  assert_non_null(strstr(e.msg, "404 NotFound"));
  assert_non_null(strstr(e.msg, "\"zzz\" not found"));
}

static void test_patch_and_delete(void **state) {
  fixture *x = *state;
  idp_err e = IDP_ERR_INIT;
  json_t *obj = cm("p", "1"), *out = NULL;
  assert_int_equal(idp_kclient_create(x->c, &CM, obj, NULL, NULL, &e), IDP_OK);
  json_decref(obj);
  idp_kref one = CM;
  one.name = "p";
  char line[512], ctype[128], body[4096];

  json_t *mp = json_pack("{s:{s:s,s:n}}", "data", "k2", "v2", "k");
  assert_int_equal(idp_kclient_patch(x->c, &one, IDP_PATCH_MERGE, mp, NULL, &out, &e), IDP_OK);
  assert_string_equal(idp_json_get_str(out, "data", "k2", NULL), "v2");
  assert_null(idp_json_get(out, "data", "k", NULL));
  json_decref(out);
  fakeapi_last(x->f, line, sizeof line, ctype, sizeof ctype, body, sizeof body);
  assert_string_equal(ctype, "application/merge-patch+json");

  /* Server-side apply: fieldManager required (checked before sending). */
  int before = fakeapi_count(x->f, "PATCH");
  assert_int_equal(idp_kclient_patch(x->c, &one, IDP_PATCH_APPLY, mp, NULL, &out, &e),
                   IDP_EINVAL);
  assert_non_null(strstr(e.msg, "fieldManager"));
  assert_int_equal(fakeapi_count(x->f, "PATCH"), before);
  idp_kwrite_opts wo = {.field_manager = "idp-gitops", .force = true, .dry_run = true};
  assert_int_equal(idp_kclient_patch(x->c, &one, IDP_PATCH_APPLY, mp, &wo, &out, &e), IDP_OK);
  json_decref(out);
  fakeapi_last(x->f, line, sizeof line, ctype, sizeof ctype, body, sizeof body);
  assert_string_equal(line, "PATCH /api/v1/namespaces/default/configmaps/p?fieldManager="
                            "idp-gitops&dryRun=All&force=true");
  assert_string_equal(ctype, "application/apply-patch+yaml");
  json_decref(mp);

  /* JSON patch needs an array; the fake answers 415. */
  json_t *jp = json_pack("[{s:s,s:s}]", "op", "remove", "path", "/data/k2");
  assert_int_equal(idp_kclient_patch(x->c, &one, IDP_PATCH_JSON, jp, NULL, &out, &e),
                   IDP_EUNSUPPORTED);
  fakeapi_last(x->f, line, sizeof line, ctype, sizeof ctype, body, sizeof body);
  assert_string_equal(ctype, "application/json-patch+json");
  assert_int_equal(idp_kclient_patch(x->c, &one, IDP_PATCH_MERGE, jp, NULL, &out, &e),
                   IDP_EINVAL);
  json_decref(jp);

  /* Delete with a stale precondition, then for real. */
  idp_kdelete_opts d = {.propagation_policy = "Foreground", .precondition_rv = "1"};
  assert_int_equal(idp_kclient_delete(x->c, &one, &d, NULL, &e), IDP_ECONFLICT);
  fakeapi_last(x->f, line, sizeof line, ctype, sizeof ctype, body, sizeof body);
  assert_non_null(strstr(body, "\"propagationPolicy\":\"Foreground\""));
  assert_non_null(strstr(body, "\"preconditions\":{\"resourceVersion\":\"1\"}"));
  d.precondition_rv = NULL;
  d.has_grace_period = true;
  d.grace_period_seconds = 0;
  assert_int_equal(idp_kclient_delete(x->c, &one, &d, &out, &e), IDP_OK);
  assert_string_equal(idp_json_get_str(out, "metadata", "name", NULL), "p");
  json_decref(out);
  fakeapi_last(x->f, line, sizeof line, ctype, sizeof ctype, body, sizeof body);
  assert_non_null(strstr(body, "\"gracePeriodSeconds\":0"));
  assert_int_equal(idp_kclient_delete(x->c, &one, NULL, NULL, &e), IDP_ENOTFOUND);
}

static void test_list_paging(void **state) {
  fixture *x = *state;
  idp_err e = IDP_ERR_INIT;
  char name[16];
  for (int i = 0; i < 7; i++) {
    snprintf(name, sizeof name, "item%d", i);
    json_t *o = json_pack("{s:{s:s,s:s,s:{s:s}}}", "metadata", "name", name, "namespace",
                          "paged", "labels", "tier", i % 2 ? "odd" : "even");
    fakeapi_put(x->f, "configmaps", o);
    json_decref(o);
  }
  idp_kref r = {"", "v1", "configmaps", "paged", NULL, NULL};
  int before = fakeapi_count(x->f, "GET /api/v1/namespaces/paged/configmaps");
  json_t *all = NULL;
  idp_klist_opts lo = {.limit = 3};
  assert_int_equal(idp_kclient_list_all(x->c, &r, &lo, &all, &e), IDP_OK);
  assert_int_equal(json_array_size(json_object_get(all, "items")), 7);
  assert_int_equal(fakeapi_count(x->f, "GET /api/v1/namespaces/paged/configmaps") - before, 3);
  assert_null(idp_json_get(all, "metadata", "continue", NULL));
  assert_non_null(idp_json_get_str(all, "metadata", "resourceVersion", NULL));
  json_decref(all);

  /* Selectors are passed through (escaped) and honoured. */
  lo = (idp_klist_opts){.label_selector = "tier=odd", .field_selector = "metadata.name!=x"};
  assert_int_equal(idp_kclient_list(x->c, &r, &lo, &all, &e), IDP_OK);
  assert_int_equal(json_array_size(json_object_get(all, "items")), 3);
  json_decref(all);
  char line[512];
  fakeapi_last(x->f, line, sizeof line, NULL, 0, NULL, 0);
  assert_string_equal(line, "GET /api/v1/namespaces/paged/configmaps?labelSelector=tier=odd&"
                            "fieldSelector=metadata.name!=x");

  /* A continue token from before a compaction: 410 -> IDP_EGONE. */
  lo = (idp_klist_opts){.limit = 2};
  assert_int_equal(idp_kclient_list(x->c, &r, &lo, &all, &e), IDP_OK);
  const char *cont = idp_json_get_str(all, "metadata", "continue", NULL);
  assert_non_null(cont);
  fakeapi_compact(x->f);
  lo.continue_token = cont;
  json_t *next = NULL;
  assert_int_equal(idp_kclient_list(x->c, &r, &lo, &next, &e), IDP_EGONE);
  assert_non_null(strstr(e.msg, "continue parameter is too old"));
  json_decref(all);

  /* A fired cancel token aborts a list. */
  idp_kcancel *k = idp_kcancel_new();
  idp_kcancel_fire(k);
  lo = (idp_klist_opts){.cancel = k};
  assert_int_equal(idp_kclient_list_all(x->c, &r, &lo, &all, &e), IDP_EUNAVAILABLE);
  assert_non_null(strstr(e.msg, "cancelled"));
  idp_kcancel_free(k);
}

static void test_status_mapping(void **state) {
  fixture *x = *state;
  static const struct {
    int http;
    const char *reason;
    idp_code want;
  } cases[] = {
      {400, "BadRequest", IDP_EINVAL},     {401, "Unauthorized", IDP_EUNAUTH},
      {403, "Forbidden", IDP_EFORBIDDEN},  {404, "NotFound", IDP_ENOTFOUND},
      {405, "MethodNotAllowed", IDP_EMETHOD}, {409, "AlreadyExists", IDP_EEXIST},
      {409, "Conflict", IDP_ECONFLICT},    {410, "Expired", IDP_EGONE},
      {413, "RequestEntityTooLarge", IDP_ETOOLARGE},
      {415, "UnsupportedMediaType", IDP_EUNSUPPORTED},
      {422, "Invalid", IDP_EINVALID},      {429, "TooManyRequests", IDP_EUNAVAILABLE},
      {500, "InternalError", IDP_EIO},     {503, "ServiceUnavailable", IDP_EUNAVAILABLE},
      {504, "Timeout", IDP_ETIMEOUT},      {418, "Teapot", IDP_EINVAL},
  };
  idp_kref one = CM;
  one.name = "x";
  for (size_t i = 0; i < IDP_ARRAY_LEN(cases); i++) {
    idp_err e = IDP_ERR_INIT;
    json_t *out = NULL;
    fakeapi_fail_next(x->f, 1, cases[i].http, cases[i].reason, "injected failure");
    assert_int_equal(idp_kclient_get(x->c, &one, &out, &e), cases[i].want);
    assert_non_null(strstr(e.msg, "injected failure"));
    assert_non_null(strstr(e.msg, cases[i].reason));
  }
}

static void test_auth_token(void **state) {
  fixture *x = *state;
  idp_err e = IDP_ERR_INIT;
  fakeapi_require_token(x->f, "t0k3n");
  idp_kref one = CM;
  one.name = "x";
  json_t *out = NULL;
  assert_int_equal(idp_kclient_get(x->c, &one, &out, &e), IDP_EUNAUTH);
  idp_kclient *ok = client_for(fakeapi_url(x->f), "t0k3n", 0);
  assert_int_equal(idp_kclient_get(ok, &one, &out, &e), IDP_ENOTFOUND); /* authenticated */
  assert_null(strstr(e.msg, "t0k3n"));
  idp_kclient_free(ok);

  /* A token file (in-cluster style) is read. */
  char path[] = "/tmp/idp-tok-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "t0k3n\n", 6), 6);
  close(fd);
  idp_kconfig cfg = {.server = (char *)fakeapi_url(x->f), .token_file = path};
  idp_kclient *tf = NULL;
  assert_int_equal(idp_kclient_new(&cfg, NULL, &tf, &e), IDP_OK);
  assert_int_equal(idp_kclient_get(tf, &one, &out, &e), IDP_ENOTFOUND);
  idp_kclient_free(tf);
  unlink(path);
  fakeapi_require_token(x->f, NULL);
}

static void test_discovery(void **state) {
  fixture *x = *state;
  idp_err e = IDP_ERR_INIT;
  idp_kgvr g;
  assert_int_equal(idp_kclient_resolve(x->c, "v1", "ConfigMap", &g, &e), IDP_OK);
  assert_string_equal(g.group, "");
  assert_string_equal(g.version, "v1");
  assert_string_equal(g.resource, "configmaps");
  assert_true(g.namespaced);
  assert_int_equal(idp_kclient_resolve(x->c, "v1", "Namespace", &g, &e), IDP_OK);
  assert_false(g.namespaced);
  int before = fakeapi_count(x->f, "GET /api/v1");
  assert_int_equal(idp_kclient_resolve(x->c, "v1", "ConfigMap", &g, &e), IDP_OK);
  assert_int_equal(fakeapi_count(x->f, "GET /api/v1"), before); /* cached */
  assert_int_equal(idp_kclient_resolve(x->c, "example.com/v1", "Widget", &g, &e), IDP_OK);
  assert_string_equal(g.group, "example.com");
  assert_string_equal(g.resource, "widgets");
  /* Unknown kind: refetched once, then NotFound. */
  assert_int_equal(idp_kclient_resolve(x->c, "v1", "Gadget", &g, &e), IDP_ENOTFOUND);
  assert_int_equal(fakeapi_count(x->f, "GET /api/v1"), before + 1);
  assert_non_null(strstr(e.msg, "Gadget"));
  assert_int_equal(idp_kclient_resolve(x->c, "nope.io/v9", "X", &g, &e), IDP_ENOTFOUND);
  assert_non_null(strstr(e.msg, "nope.io/v9"));
  assert_int_equal(idp_kclient_resolve(x->c, "v1", NULL, &g, &e), IDP_EINVAL);

  json_t *w = json_pack("{s:s,s:s,s:{s:s}}", "apiVersion", "example.com/v1", "kind", "Widget",
                        "metadata", "name", "w1");
  idp_kref r;
  assert_int_equal(idp_kclient_ref_for(x->c, w, &g, &r, &e), IDP_OK);
  assert_string_equal(r.ns, "default"); /* the client's namespace */
  assert_string_equal(r.name, "w1");
  assert_int_equal(idp_kclient_create(x->c, &r, w, NULL, NULL, &e), IDP_OK);
  char line[512];
  fakeapi_last(x->f, line, sizeof line, NULL, 0, NULL, 0);
  assert_string_equal(line, "POST /apis/example.com/v1/namespaces/default/widgets");
  json_decref(w);

  json_t *gvs = NULL;
  assert_int_equal(idp_kclient_group_versions(x->c, &gvs, &e), IDP_OK);
  assert_string_equal(json_string_value(json_array_get(gvs, 0)), "v1");
  assert_true(json_array_size(gvs) >= 3);
  json_decref(gvs);
}

static void test_paths(void **state) {
  (void)state;
  idp_buf b;
  idp_err e = IDP_ERR_INIT;
  idp_buf_init(&b, 0);
  idp_kref r = {"apps", "v1", "deployments", "ns1", "web", "scale"};
  assert_int_equal(idp_kref_path(&r, &b, &e), IDP_OK);
  assert_string_equal(idp_buf_str(&b), "/apis/apps/v1/namespaces/ns1/deployments/web/scale");
  idp_buf_reset(&b);
  r = (idp_kref){NULL, "v1", "namespaces", NULL, "kube-system", NULL};
  assert_int_equal(idp_kref_path(&r, &b, &e), IDP_OK);
  assert_string_equal(idp_buf_str(&b), "/api/v1/namespaces/kube-system");
  const char *bad[] = {"a/b", "..", ".", "a b", "a?x", "a%2f"};
  for (size_t i = 0; i < IDP_ARRAY_LEN(bad); i++) {
    idp_buf_reset(&b);
    r = (idp_kref){"", "v1", "configmaps", "ns", bad[i], NULL};
    assert_int_equal(idp_kref_path(&r, &b, &e), IDP_EINVAL);
    assert_non_null(strstr(e.msg, "name"));
  }
  r = (idp_kref){"", "v1", "configmaps", "ns", NULL, "status"};
  assert_int_equal(idp_kref_path(&r, &b, &e), IDP_EINVAL);
  idp_buf_reset(&b);
  assert_int_equal(idp_url_escape(&b, "a=b,c in (d)&e"), IDP_OK);
  assert_string_equal(idp_buf_str(&b), "a%3Db%2Cc%20in%20%28d%29%26e");
  idp_buf_free(&b);
}

static void test_transport_errors(void **state) {
  fixture *x = *state;
  idp_err e = IDP_ERR_INIT;
  /* Nothing listens on port 1. */
  idp_kclient *dead = client_for("http://127.0.0.1:1", NULL, 0);
  idp_kref one = CM;
  one.name = "x";
  json_t *out = NULL;
  assert_int_equal(idp_kclient_get(dead, &one, &out, &e), IDP_EUNAVAILABLE);
  assert_non_null(strstr(e.msg, "GET /api/v1/namespaces/default/configmaps/x"));
  idp_kclient_free(dead);
  /* Response larger than the cap. */
  json_t *big = json_pack("{s:{s:s,s:s},s:{s:s}}", "metadata", "name", "big", "namespace",
                          "default", "data", "k", "");
  char *blob = malloc(10000);
  memset(blob, 'x', 9999);
  blob[9999] = '\0';
  json_object_set_new(json_object_get(big, "data"), "k", json_string(blob));
  free(blob);
  fakeapi_put(x->f, "configmaps", big);
  json_decref(big);
  idp_kclient *small = client_for(fakeapi_url(x->f), NULL, 4096);
  one.name = "big";
  assert_int_equal(idp_kclient_get(small, &one, &out, &e), IDP_ETOOLARGE);
  assert_non_null(strstr(e.msg, "larger than 4096"));
  idp_kclient_free(small);
}

/* ---- watch ------------------------------------------------------------ */

typedef struct wseen {
  int n, bookmarks;
  char last_type[16];
  char last_rv[32];
  int stop_at;
} wseen;

static bool wcb(void *ud, const idp_watch_event *ev) {
  wseen *s = ud;
  if (ev->type == IDP_WATCH_BOOKMARK) s->bookmarks++;
  else s->n++;
  snprintf(s->last_type, sizeof s->last_type, "%s", idp_watch_type_name(ev->type));
  const char *rv = idp_json_get_str(ev->object, "metadata", "resourceVersion", NULL);
  snprintf(s->last_rv, sizeof s->last_rv, "%s", rv ? rv : "");
  return !(s->stop_at && s->n >= s->stop_at);
}

static void put_cm(fakeapi *f, const char *ns, const char *name, const char *v) {
  json_t *o = json_pack("{s:{s:s,s:s},s:{s:s}}", "metadata", "name", name, "namespace", ns,
                        "data", "k", v);
  fakeapi_put(f, "configmaps", o);
  json_decref(o);
}

static void test_watch_events(void **state) {
  fixture *x = *state;
  idp_err e = IDP_ERR_INIT;
  char rv[32];
  snprintf(rv, sizeof rv, "%" PRId64, fakeapi_rv(x->f));
  put_cm(x->f, "w", "a", "1");
  put_cm(x->f, "w", "a", "2");
  fakeapi_del(x->f, "configmaps", "w", "a");
  put_cm(x->f, "other", "b", "1"); /* another namespace: not seen */
  put_cm(x->f, "w", "c", "1");
  idp_kref r = {"", "v1", "configmaps", "w", NULL, NULL};
  wseen s = {.stop_at = 4};
  idp_watch_opts wo = {.resource_version = rv, .timeout_seconds = 5};
  assert_int_equal(idp_kclient_watch(x->c, &r, &wo, wcb, &s, &e), IDP_OK);
  assert_int_equal(s.n, 4);
  assert_string_equal(s.last_type, "ADDED");
  char line[512];
  fakeapi_last(x->f, line, sizeof line, NULL, 0, NULL, 0);
  char want[256];
  snprintf(want, sizeof want, "GET /api/v1/namespaces/w/configmaps?watch=1&resourceVersion=%s&"
           "allowWatchBookmarks=true&timeoutSeconds=5", rv);
  assert_string_equal(line, want);
  /* A name is refused: watches are on collections. */
  r.name = "a";
  assert_int_equal(idp_kclient_watch(x->c, &r, &wo, wcb, &s, &e), IDP_EINVAL);
}

typedef struct bg {
  fakeapi *f;
  idp_kcancel *k;
  int what; /* 0 = put + bookmark + close, 1 = cancel */
} bg;

static void *bg_run(void *p) {
  bg *b = p;
  usleep(200 * 1000);
  if (b->what == 0) {
    put_cm(b->f, "live", "x", "1");
    fakeapi_bookmark(b->f);
    usleep(100 * 1000);
    fakeapi_close_watches(b->f);
  } else {
    idp_kcancel_fire(b->k);
  }
  return NULL;
}

static void test_watch_live_close_cancel(void **state) {
  fixture *x = *state;
  idp_err e = IDP_ERR_INIT;
  char rv[32];
  snprintf(rv, sizeof rv, "%" PRId64, fakeapi_rv(x->f));
  idp_kref r = {"", "v1", "configmaps", "live", NULL, NULL};
  wseen s = {0};
  idp_watch_opts wo = {.resource_version = rv, .timeout_seconds = 30};
  bg b = {x->f, NULL, 0};
  pthread_t th;
  pthread_create(&th, NULL, bg_run, &b);
  /* Live event, a bookmark, then the server ends the stream: IDP_OK. */
  assert_int_equal(idp_kclient_watch(x->c, &r, &wo, wcb, &s, &e), IDP_OK);
  pthread_join(th, NULL);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.bookmarks, 1);
  char cur[32];
  snprintf(cur, sizeof cur, "%" PRId64, fakeapi_rv(x->f));
  assert_string_equal(s.last_rv, cur);

  /* Cancel from another thread ends a silent watch at once. */
  idp_kcancel *k = idp_kcancel_new();
  wo.cancel = k;
  b = (bg){x->f, k, 1};
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pthread_create(&th, NULL, bg_run, &b);
  assert_int_equal(idp_kclient_watch(x->c, &r, &wo, wcb, &s, &e), IDP_OK);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  pthread_join(th, NULL);
  double el = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  assert_true(el < 2.0);
  assert_true(idp_kcancel_sleep(k, 10000)); /* fired: returns at once */
  idp_kcancel_free(k);
}

static void test_watch_gone(void **state) {
  fixture *x = *state;
  idp_err e = IDP_ERR_INIT;
  put_cm(x->f, "g", "a", "1");
  fakeapi_compact(x->f);
  idp_kref r = {"", "v1", "configmaps", "g", NULL, NULL};
  wseen s = {0};
  idp_watch_opts wo = {.resource_version = "2", .timeout_seconds = 5};
  /* As an ERROR event in a 200 stream (kube-apiserver)... */
  assert_int_equal(idp_kclient_watch(x->c, &r, &wo, wcb, &s, &e), IDP_EGONE);
  assert_string_equal(s.last_type, "ERROR");
  assert_non_null(strstr(e.msg, "too old resource version"));
  /* ...and as an HTTP 410 before the stream. */
  fakeapi_gone_as_http(x->f, true);
  assert_int_equal(idp_kclient_watch(x->c, &r, &wo, wcb, &s, &e), IDP_EGONE);
  assert_non_null(strstr(e.msg, "410 Expired"));
  fakeapi_gone_as_http(x->f, false);
  /* Other HTTP errors map through the table. */
  fakeapi_fail_next(x->f, 1, 403, "Forbidden", "cannot watch configmaps");
  assert_int_equal(idp_kclient_watch(x->c, &r, &wo, wcb, &s, &e), IDP_EFORBIDDEN);
  assert_non_null(strstr(e.msg, "cannot watch configmaps"));
}

static void test_watch_from_now(void **state) {
  fixture *x = *state;
  idp_err e = IDP_ERR_INIT;
  put_cm(x->f, "now", "a", "1");
  put_cm(x->f, "now", "b", "1");
  idp_kref r = {"", "v1", "configmaps", "now", NULL, NULL};
  wseen s = {.stop_at = 2};
  idp_watch_opts wo = {.timeout_seconds = 5, .no_bookmarks = true};
  /* No RV: synthetic ADDED for the current state. */
  assert_int_equal(idp_kclient_watch(x->c, &r, &wo, wcb, &s, &e), IDP_OK);
  assert_int_equal(s.n, 2);
  char line[512];
  fakeapi_last(x->f, line, sizeof line, NULL, 0, NULL, 0);
  assert_null(strstr(line, "resourceVersion"));
  assert_null(strstr(line, "allowWatchBookmarks"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_crud, setup, teardown),
      cmocka_unit_test_setup_teardown(test_patch_and_delete, setup, teardown),
      cmocka_unit_test_setup_teardown(test_list_paging, setup, teardown),
      cmocka_unit_test_setup_teardown(test_status_mapping, setup, teardown),
      cmocka_unit_test_setup_teardown(test_auth_token, setup, teardown),
      cmocka_unit_test_setup_teardown(test_discovery, setup, teardown),
      cmocka_unit_test(test_paths),
      cmocka_unit_test_setup_teardown(test_transport_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_watch_events, setup, teardown),
      cmocka_unit_test_setup_teardown(test_watch_live_close_cancel, setup, teardown),
      cmocka_unit_test_setup_teardown(test_watch_gone, setup, teardown),
      cmocka_unit_test_setup_teardown(test_watch_from_now, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
