/* The request core without HTTP: every verb against an in-memory store. */
#include "../test.h"

#include <unistd.h>

#include "apiserver/apiserver.h"
#include "core/json.h"

typedef struct fixture {
  idp_store *store;
  idp_apiserver *srv;
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  idp_err e = IDP_ERR_INIT;
  char key[] = "/tmp/idp-api-test-key-XXXXXX";
  int fd = mkstemp(key);
  close(fd);
  unlink(key);
  idp_store_opts so = {.path = ":memory:", .key_file = key};
  assert_int_equal(idp_store_open(&so, &f->store, &e), IDP_OK);
  idp_apiserver_opts ao = {.store = f->store, .ca_pem = "CA", .watch_heartbeat_ms = 200};
  if (idp_apiserver_new(&ao, &f->srv, &e)) fail_msg("%s", e.msg);
  unlink(key);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  idp_apiserver_free(f->srv);
  idp_store_close(f->store);
  free(f);
  return 0;
}

/* Performs a request; returns the HTTP status, *out the parsed body (or NULL). */
static int req(fixture *f, const char *method, const char *path, const char *query,
               const char *ct, const char *body, json_t **out) {
  idp_api_query *q = NULL;
  size_t nq = 0;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_api_query_parse(query, &q, &nq, &e), IDP_OK);
  idp_api_request rq = {.method = method, .path = path, .query = q, .nquery = nq,
                        .content_type = ct ? ct : "application/json", .body = body,
                        .body_len = body ? strlen(body) : 0, .user_agent = "test/1.0"};
  idp_api_response rs;
  idp_api_response_init(&rs);
  idp_apiserver_handle(f->srv, &rq, &rs);
  int st = rs.status;
  if (out) {
    *out = NULL;
    if (rs.body.len) idp_json_parse(rs.body.data, rs.body.len, "response", out, &e);
  }
  idp_api_response_free(&rs);
  free(q);
  return st;
}

static const char *str(json_t *o, const char *a, const char *b) {
  const char *s = b ? idp_json_get_str(o, a, b, NULL) : idp_json_get_str(o, a, NULL);
  return s ? s : "";
}

#define CM(name, extra) \
  "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"" name "\"" extra "},\"data\":{\"a\":\"1\"}}"

static void test_bootstrap(void **state) {
  fixture *f = *state;
  json_t *o = NULL;
  assert_int_equal(req(f, "GET", "/api/v1/namespaces", "", NULL, NULL, &o), 200);
  assert_string_equal(str(o, "kind", NULL), "NamespaceList");
  assert_true(json_array_size(json_object_get(o, "items")) >= 3);
  json_decref(o);
  assert_int_equal(req(f, "GET", "/api/v1/namespaces/kube-system/serviceaccounts/default", "", NULL, NULL, &o), 200);
  json_decref(o);
  assert_int_equal(req(f, "GET", "/api/v1/namespaces/default/configmaps/kube-root-ca.crt", "", NULL, NULL, &o), 200);
  assert_string_equal(idp_json_get_str(o, "data", "ca.crt", NULL), "CA");
  json_decref(o);
}

static void test_crud(void **state) {
  fixture *f = *state;
  json_t *o = NULL;
  const char *coll = "/api/v1/namespaces/default/configmaps";
  assert_int_equal(req(f, "POST", coll, "", NULL, CM("c1", ",\"labels\":{\"app\":\"x\"}"), &o), 201);
  assert_string_equal(str(o, "metadata", "name"), "c1");
  assert_int_equal(json_integer_value(idp_json_get(o, "metadata", "generation", NULL)), 1);
  assert_true(strlen(str(o, "metadata", "uid")) == 36);
  assert_true(*str(o, "metadata", "creationTimestamp"));
  char rv[32];
  snprintf(rv, sizeof rv, "%s", str(o, "metadata", "resourceVersion"));
  json_decref(o);
  assert_int_equal(req(f, "POST", coll, "", NULL, CM("c1", ""), &o), 409);
  assert_string_equal(str(o, "reason", NULL), "AlreadyExists");
  json_decref(o);
  assert_int_equal(req(f, "GET", "/api/v1/namespaces/default/configmaps/c1", "", NULL, NULL, &o), 200);
  assert_string_equal(str(o, "metadata", "resourceVersion"), rv);
  json_decref(o);
  assert_int_equal(req(f, "GET", "/api/v1/namespaces/default/configmaps/nope", "", NULL, NULL, &o), 404);
  assert_string_equal(str(o, "message", NULL), "configmaps \"nope\" not found");
  json_decref(o);
  /* stale resourceVersion -> 409 Conflict */
  assert_int_equal(req(f, "PUT", "/api/v1/namespaces/default/configmaps/c1", "", NULL,
                       CM("c1", ",\"resourceVersion\":\"1\""), &o), 409);
  assert_string_equal(str(o, "reason", NULL), "Conflict");
  json_decref(o);
  /* update bumps generation when data changes */
  assert_int_equal(req(f, "PUT", "/api/v1/namespaces/default/configmaps/c1", "", NULL,
                       "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c1\"},\"data\":{\"a\":\"2\"}}", &o), 200);
  assert_int_equal(json_integer_value(idp_json_get(o, "metadata", "generation", NULL)), 2);
  json_decref(o);
  /* patches */
  assert_int_equal(req(f, "PATCH", "/api/v1/namespaces/default/configmaps/c1", "",
                       "application/merge-patch+json", "{\"data\":{\"b\":\"3\"}}", &o), 200);
  assert_string_equal(idp_json_get_str(o, "data", "b", NULL), "3");
  json_decref(o);
  assert_int_equal(req(f, "PATCH", "/api/v1/namespaces/default/configmaps/c1", "",
                       "application/json-patch+json",
                       "[{\"op\":\"remove\",\"path\":\"/data/b\"}]", &o), 200);
  assert_null(idp_json_get(o, "data", "b", NULL));
  json_decref(o);
  assert_int_equal(req(f, "PATCH", "/api/v1/namespaces/default/configmaps/c1", "",
                       "application/strategic-merge-patch+json", "{\"data\":{\"c\":\"4\"}}", &o), 200);
  json_decref(o);
  assert_int_equal(req(f, "PATCH", "/api/v1/namespaces/default/configmaps/c1", "",
                       "text/plain", "{}", &o), 415);
  json_decref(o);
  /* server-side apply needs a field manager, then creates */
  const char *applied = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c2\ndata:\n  k: v\n";
  assert_int_equal(req(f, "PATCH", "/api/v1/namespaces/default/configmaps/c2", "",
                       "application/apply-patch+yaml", applied, &o), 422);
  json_decref(o);
  assert_int_equal(req(f, "PATCH", "/api/v1/namespaces/default/configmaps/c2", "fieldManager=me",
                       "application/apply-patch+yaml", applied, &o), 201);
  assert_string_equal(idp_json_get_str(o, "data", "k", NULL), "v");
  json_decref(o);
  /* delete */
  assert_int_equal(req(f, "DELETE", "/api/v1/namespaces/default/configmaps/c2", "", NULL, NULL, &o), 200);
  json_decref(o);
  assert_int_equal(req(f, "GET", "/api/v1/namespaces/default/configmaps/c2", "", NULL, NULL, &o), 404);
  json_decref(o);
}

static void test_bad_input(void **state) {
  fixture *f = *state;
  json_t *o = NULL;
  const char *coll = "/api/v1/namespaces/default/configmaps";
  assert_int_equal(req(f, "POST", coll, "", NULL, "{\"apiVersion\":\"v1\",", &o), 400);
  assert_string_equal(str(o, "reason", NULL), "BadRequest");
  json_decref(o);
  assert_int_equal(req(f, "POST", coll, "", NULL,
                       "{\"apiVersion\":\"apps/v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\"}}", &o), 400);
  assert_non_null(strstr(str(o, "message", NULL), "apps/v1"));
  json_decref(o);
  assert_int_equal(req(f, "POST", coll, "", NULL, CM("Bad_Name", ""), &o), 422);
  assert_string_equal(str(o, "reason", NULL), "Invalid");
  assert_non_null(strstr(str(o, "message", NULL), "metadata.name"));
  json_decref(o);
  assert_int_equal(req(f, "POST", "/api/v1/namespaces/nowhere/configmaps", "", NULL, CM("x", ""), &o), 404);
  assert_string_equal(str(o, "message", NULL), "namespaces \"nowhere\" not found");
  json_decref(o);
  assert_int_equal(req(f, "POST", coll, "", "application/yaml", "a: [unclosed", &o), 400);
  json_decref(o);
  /* deep nesting is refused, not crashed on */
  char deep[5000];
  size_t k = 0;
  for (int i = 0; i < 2400; i++) deep[k++] = '[';
  deep[k] = '\0';
  assert_int_equal(req(f, "POST", coll, "", NULL, deep, &o), 400);
  json_decref(o);
  assert_int_equal(req(f, "GET", "/apis/nope.io/v1/things", "", NULL, NULL, &o), 404);
  json_decref(o);
  assert_int_equal(req(f, "GET", coll, "fieldSelector=spec.foo%3Dbar", NULL, NULL, &o), 400);
  json_decref(o);
  assert_int_equal(req(f, "GET", coll, "labelSelector=%3D%3D%3D", NULL, NULL, &o), 400);
  json_decref(o);
  assert_int_equal(req(f, "POST", coll, "dryRun=Some", NULL, CM("x", ""), &o), 400);
  json_decref(o);
  idp_api_request rq = {.method = "POST", .path = coll, .body_too_large = true};
  idp_api_response rs;
  idp_api_response_init(&rs);
  idp_apiserver_handle(f->srv, &rq, &rs);
  assert_int_equal(rs.status, 413);
  idp_api_response_free(&rs);
}

static void test_list_paging_selectors(void **state) {
  fixture *f = *state;
  json_t *o = NULL;
  assert_int_equal(req(f, "POST", "/api/v1/namespaces", "", NULL,
                       "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"pg\"}}", &o), 201);
  json_decref(o);
  for (int i = 0; i < 7; i++) {
    char body[300];
    snprintf(body, sizeof body,
             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"m%d\",\"labels\":{\"odd\":\"%s\"}}}",
             i, i % 2 ? "yes" : "no");
    assert_int_equal(req(f, "POST", "/api/v1/namespaces/pg/configmaps", "", NULL, body, &o), 201);
    json_decref(o);
  }
  /* the namespace also holds kube-root-ca.crt: 8 objects */
  size_t seen = 0;
  char cont[512] = "";
  for (int page = 0; page < 10; page++) {
    char q[700];
    snprintf(q, sizeof q, "limit=3%s%s", *cont ? "&continue=" : "", cont);
    assert_int_equal(req(f, "GET", "/api/v1/namespaces/pg/configmaps", q, NULL, NULL, &o), 200);
    seen += json_array_size(json_object_get(o, "items"));
    const char *c = idp_json_get_str(o, "metadata", "continue", NULL);
    snprintf(cont, sizeof cont, "%s", c ? c : "");
    json_decref(o);
    if (!*cont) break;
  }
  assert_int_equal(seen, 8);
  assert_int_equal(req(f, "GET", "/api/v1/namespaces/pg/configmaps", "labelSelector=odd%3Dyes", NULL, NULL, &o), 200);
  assert_int_equal(json_array_size(json_object_get(o, "items")), 3);
  json_decref(o);
  assert_int_equal(req(f, "GET", "/api/v1/configmaps", "fieldSelector=metadata.namespace%3Dpg,metadata.name!%3Dm0", NULL, NULL, &o), 200);
  assert_int_equal(json_array_size(json_object_get(o, "items")), 7);
  json_decref(o);
  /* Table */
  idp_api_request rq = {.method = "GET", .path = "/api/v1/namespaces/pg/configmaps",
                        .accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"};
  idp_api_response rs;
  idp_api_response_init(&rs);
  idp_apiserver_handle(f->srv, &rq, &rs);
  assert_int_equal(rs.status, 200);
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_json_parse(rs.body.data, rs.body.len, "t", &o, &e), IDP_OK);
  assert_string_equal(str(o, "kind", NULL), "Table");
  assert_int_equal(json_array_size(json_object_get(o, "rows")), 8);
  assert_non_null(idp_json_get(json_array_get(json_object_get(o, "rows"), 0), "object", "metadata", NULL));
  json_decref(o);
  idp_api_response_free(&rs);
  /* deleting the namespace removes its content, then the namespace */
  assert_int_equal(req(f, "DELETE", "/api/v1/namespaces/pg", "", NULL, NULL, &o), 202);
  assert_string_equal(idp_json_get_str(o, "status", "phase", NULL), "Terminating");
  json_decref(o);
  int st = 0;
  for (int i = 0; i < 100 && st != 404; i++) {
    st = req(f, "GET", "/api/v1/namespaces/pg", "", NULL, NULL, &o);
    json_decref(o);
    if (st != 404) usleep(20000);
  }
  assert_int_equal(st, 404);
}

static void test_finalizers_dryrun(void **state) {
  fixture *f = *state;
  json_t *o = NULL;
  const char *item = "/api/v1/namespaces/default/configmaps/fin";
  assert_int_equal(req(f, "POST", "/api/v1/namespaces/default/configmaps", "dryRun=All", NULL, CM("fin", ""), &o), 201);
  json_decref(o);
  assert_int_equal(req(f, "GET", item, "", NULL, NULL, &o), 404);
  json_decref(o);
  assert_int_equal(req(f, "POST", "/api/v1/namespaces/default/configmaps", "", NULL,
                       CM("fin", ",\"finalizers\":[\"x.io/hold\"]"), &o), 201);
  json_decref(o);
  assert_int_equal(req(f, "DELETE", item, "", NULL, NULL, &o), 202);
  assert_non_null(idp_json_get(o, "metadata", "deletionTimestamp", NULL));
  json_decref(o);
  assert_int_equal(req(f, "GET", item, "", NULL, NULL, &o), 200);
  json_decref(o);
  assert_int_equal(req(f, "PATCH", item, "", "application/merge-patch+json",
                       "{\"metadata\":{\"finalizers\":null}}", &o), 200);
  json_decref(o);
  assert_int_equal(req(f, "GET", item, "", NULL, NULL, &o), 404);
  json_decref(o);
}

static void test_crd_and_gc(void **state) {
  fixture *f = *state;
  json_t *o = NULL;
  const char *crd =
      "{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
      "\"metadata\":{\"name\":\"gadgets.ex.io\"},\"spec\":{\"group\":\"ex.io\",\"scope\":"
      "\"Namespaced\",\"names\":{\"plural\":\"gadgets\",\"kind\":\"Gadget\"},\"versions\":[{"
      "\"name\":\"v1\",\"served\":true,\"storage\":true,\"subresources\":{\"status\":{}},"
      "\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\",\"properties\":{\"spec\":{\"type\":"
      "\"object\",\"properties\":{\"n\":{\"type\":\"integer\"}}},\"status\":{\"type\":\"object\","
      "\"x-kubernetes-preserve-unknown-fields\":true}}}}}]}}";
  const char *bad = "{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
                    "\"metadata\":{\"name\":\"wrong.ex.io\"},\"spec\":{\"group\":\"ex.io\",\"scope\":"
                    "\"Namespaced\",\"names\":{\"plural\":\"gadgets\",\"kind\":\"Gadget\"},"
                    "\"versions\":[{\"name\":\"v1\",\"served\":true,\"storage\":true}]}}";
  assert_int_equal(req(f, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", "", NULL, bad, &o), 422);
  json_decref(o);
  assert_int_equal(req(f, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", "", NULL, crd, &o), 201);
  json_t *conds = idp_json_get(o, "status", "conditions", NULL);
  assert_int_equal(json_array_size(conds), 2);
  json_decref(o);
  assert_int_equal(req(f, "GET", "/apis/ex.io/v1", "", NULL, NULL, &o), 200);
  assert_string_equal(str(json_array_get(json_object_get(o, "resources"), 0), "name", NULL), "gadgets");
  json_decref(o);
  const char *g1 = "{\"apiVersion\":\"ex.io/v1\",\"kind\":\"Gadget\",\"metadata\":{\"name\":\"g1\"},\"spec\":{\"n\":1},\"status\":{\"s\":1}}";
  assert_int_equal(req(f, "POST", "/apis/ex.io/v1/namespaces/default/gadgets", "", NULL, g1, &o), 201);
  assert_null(json_object_get(o, "status")); /* status subresource: ignored on create */
  char uid[64];
  snprintf(uid, sizeof uid, "%s", str(o, "metadata", "uid"));
  json_decref(o);
  const char *g2 = "{\"apiVersion\":\"ex.io/v1\",\"kind\":\"Gadget\",\"metadata\":{\"name\":\"g2\"},\"spec\":{\"n\":\"x\"}}";
  assert_int_equal(req(f, "POST", "/apis/ex.io/v1/namespaces/default/gadgets", "", NULL, g2, &o), 422);
  json_decref(o);
  assert_int_equal(req(f, "POST", "/apis/ex.io/v1/namespaces/default/gadgets", "fieldValidation=Strict", NULL,
                       "{\"apiVersion\":\"ex.io/v1\",\"kind\":\"Gadget\",\"metadata\":{\"name\":\"g3\"},\"spec\":{\"zz\":1}}", &o), 400);
  json_decref(o);
  assert_int_equal(req(f, "PATCH", "/apis/ex.io/v1/namespaces/default/gadgets/g1", "",
                       "application/strategic-merge-patch+json", "{}", &o), 415);
  json_decref(o);
  assert_int_equal(req(f, "PATCH", "/apis/ex.io/v1/namespaces/default/gadgets/g1/status", "",
                       "application/merge-patch+json", "{\"status\":{\"ok\":true},\"spec\":{\"n\":9}}", &o), 200);
  assert_true(json_is_true(idp_json_get(o, "status", "ok", NULL)));
  assert_int_equal(json_integer_value(idp_json_get(o, "spec", "n", NULL)), 1);
  assert_int_equal(json_integer_value(idp_json_get(o, "metadata", "generation", NULL)), 1);
  json_decref(o);
  /* a dependent is collected with its owner */
  char dep[800];
  snprintf(dep, sizeof dep,
           "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"dep\",\"ownerReferences\":"
           "[{\"apiVersion\":\"ex.io/v1\",\"kind\":\"Gadget\",\"name\":\"g1\",\"uid\":\"%s\"}]}}", uid);
  assert_int_equal(req(f, "POST", "/api/v1/namespaces/default/configmaps", "", NULL, dep, &o), 201);
  json_decref(o);
  /* deleting the CRD deletes its objects (and so the dependent) */
  assert_int_equal(req(f, "DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.ex.io", "", NULL, NULL, &o), 202);
  json_decref(o);
  int st = 0;
  for (int i = 0; i < 100 && st != 404; i++) {
    st = req(f, "GET", "/api/v1/namespaces/default/configmaps/dep", "", NULL, NULL, &o);
    json_decref(o);
    if (st != 404) usleep(20000);
  }
  assert_int_equal(st, 404);
  for (int i = 0; i < 100 && st != 404; i++) {
    st = req(f, "GET", "/apis/ex.io/v1/namespaces/default/gadgets", "", NULL, NULL, &o);
    json_decref(o);
    if (st != 404) usleep(20000);
  }
  st = req(f, "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.ex.io", "", NULL, NULL, &o);
  json_decref(o);
  assert_int_equal(st, 404);
}

static void test_watch(void **state) {
  fixture *f = *state;
  json_t *o = NULL;
  idp_api_query *q = NULL;
  size_t nq = 0;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_api_query_parse("watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&fieldSelector=metadata.name%3Dw1",
                                       &q, &nq, &e), IDP_OK);
  assert_int_equal(req(f, "POST", "/api/v1/namespaces/default/configmaps", "", NULL, CM("w1", ""), &o), 201);
  json_decref(o);
  idp_api_request rq = {.method = "GET", .path = "/api/v1/namespaces/default/configmaps", .query = q, .nquery = nq};
  idp_api_response rs;
  idp_api_response_init(&rs);
  idp_apiserver_handle(f->srv, &rq, &rs);
  assert_int_equal(rs.status, 200);
  assert_non_null(rs.stream);
  char buf[65536] = "";
  size_t got = 0;
  for (int i = 0; i < 20 && !strstr(buf, "initial-events-end"); i++) {
    long n = idp_api_stream_read(rs.stream, buf + got, sizeof buf - got - 1, 100);
    assert_true(n >= 0);
    got += (size_t)n;
    buf[got] = '\0';
  }
  assert_non_null(strstr(buf, "\"type\":\"ADDED\""));
  assert_non_null(strstr(buf, "initial-events-end"));
  assert_int_equal(req(f, "DELETE", "/api/v1/namespaces/default/configmaps/w1", "", NULL, NULL, &o), 200);
  json_decref(o);
  for (int i = 0; i < 20 && !strstr(buf, "DELETED"); i++) {
    long n = idp_api_stream_read(rs.stream, buf + got, sizeof buf - got - 1, 100);
    assert_true(n >= 0);
    got += (size_t)n;
    buf[got] = '\0';
  }
  assert_non_null(strstr(buf, "\"type\":\"DELETED\""));
  idp_api_response_free(&rs);
  free(q);
  /* sendInitialEvents without resourceVersionMatch is refused up front */
  assert_int_equal(req(f, "GET", "/api/v1/namespaces/default/configmaps", "watch=1&sendInitialEvents=true", NULL, NULL, &o), 422);
  json_decref(o);
}

/* The admission hook: denies objects labelled deny=yes, mutates the rest. */
static int admitted;

static idp_code admit_fn(void *ctx, const json_t *request, json_t **obj, json_t *warnings,
                         idp_err *e) {
  IDP_UNUSED(ctx);
  admitted++;
  const char *op = idp_json_get_str(request, "operation", NULL);
  if (!strcmp(op, "DELETE") && idp_json_get_str(request, "oldObject", "metadata", "labels", "keep", NULL))
    return idp_err_set(e, IDP_EFORBIDDEN, "admission webhook denied the request: keep");
  if (strcmp(op, "DELETE") && idp_json_get_str(*obj, "metadata", "labels", "deny", NULL))
    return idp_err_set(e, IDP_EFORBIDDEN, "admission webhook denied the request: label deny");
  if (!strcmp(op, "CREATE")) {
    json_t *copy = json_deep_copy(*obj);
    json_object_set_new(idp_json_child_object(idp_json_child_object(copy, "metadata"), "annotations"),
                        "admitted", json_string("yes"));
    *obj = copy;
    json_array_append_new(warnings, json_string("mutated"));
  }
  return IDP_OK;
}

static int stored_calls;
static void admitted_fn(void *ctx, const json_t *stored) {
  IDP_UNUSED(ctx);
  if (stored) stored_calls++;
}

static void test_admission(void **state) {
  fixture *f = *state;
  idp_apiserver_set_admission(f->srv, admit_fn, admitted_fn, NULL);
  json_t *o = NULL;
  assert_int_equal(req(f, "POST", "/api/v1/namespaces/default/configmaps", "", NULL,
                       CM("adm1", ",\"labels\":{\"deny\":\"yes\"}"), &o), 403);
  assert_non_null(strstr(idp_json_get_str(o, "message", NULL), "label deny"));
  json_decref(o);
  assert_int_equal(req(f, "GET", "/api/v1/namespaces/default/configmaps/adm1", "", NULL, NULL, &o), 404);
  json_decref(o);
  assert_int_equal(req(f, "POST", "/api/v1/namespaces/default/configmaps", "", NULL, CM("adm2", ""), &o), 201);
  assert_string_equal(idp_json_get_str(o, "metadata", "annotations", "admitted", NULL), "yes");
  json_decref(o);
  assert_true(admitted >= 2);
  assert_int_equal(req(f, "POST", "/api/v1/namespaces/default/configmaps", "", NULL,
                       CM("adm3", ",\"labels\":{\"keep\":\"yes\"}"), &o), 201);
  json_decref(o);
  int dst = req(f, "DELETE", "/api/v1/namespaces/default/configmaps/adm3", "", NULL, NULL, &o);
  if (dst != 403) fail_msg("DELETE: %d %s", dst, idp_json_get_str(o, "message", NULL));
  json_decref(o);
  assert_int_equal(req(f, "GET", "/api/v1/namespaces/default/configmaps/adm3", "", NULL, NULL, &o), 200);
  json_decref(o);
  idp_apiserver_set_admission(f->srv, NULL, NULL, NULL);
  assert_true(stored_calls >= 1);
  /* the per-namespace defaults come back after a delete */
  assert_int_equal(req(f, "DELETE", "/api/v1/namespaces/default/configmaps/kube-root-ca.crt", "", NULL, NULL, &o), 200);
  json_decref(o);
  assert_int_equal(req(f, "GET", "/api/v1/namespaces/default/configmaps/kube-root-ca.crt", "", NULL, NULL, &o), 200);
  json_decref(o);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bootstrap),
      cmocka_unit_test(test_crud),
      cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_list_paging_selectors),
      cmocka_unit_test(test_finalizers_dryrun),
      cmocka_unit_test(test_crd_and_gc),
      cmocka_unit_test(test_watch),
      cmocka_unit_test(test_admission),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
