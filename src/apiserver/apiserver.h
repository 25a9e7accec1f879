/* apiserver.h: the embedded Kubernetes-compatible API server.
 *
 * What it serves (enough for real kubectl and client-go):
 *   /version /healthz /livez /readyz           (no authentication)
 *   /api /apis /api/v1 /apis/G /apis/G/V       legacy discovery
 *   /openapi/v2, /openapi/v3[/api/v1|/apis/G/V] stubs advertising PATCH with
 *                                               the fieldValidation parameter
 *   /api/v1/..., /apis/G/V/...                 CRUD, list, watch, patch
 *                                               (merge, JSON, strategic, apply),
 *                                               status/scale subresources,
 *                                               deletecollection, dryRun
 * Bodies are JSON, YAML, or (for the kinds kubectl's typed clients send:
 * ConfigMap, Secret, Namespace, ServiceAccount, Service, RBAC, Deployment,
 * Job, CronJob) Kubernetes protobuf; responses are always JSON.  Limited
 * lists are consistent snapshots (continue tokens expire after 5 minutes,
 * on eviction, or with compaction of their revision: 410 Expired).
 *
 * Objects live in the idp_store (store/store.h): the key is
 * (<group or "core">/<plural>, namespace, name) and resourceVersion is the
 * store revision.  Custom resource definitions add rows to the resource
 * registry at runtime; deleting one deletes its custom resources.
 *
 * Ownership and threads.  An idp_apiserver borrows its store (which must
 * outlive it) and owns a registry, a garbage-collection worker thread (owner
 * references, foreground/orphan deletion, namespace and CRD termination),
 * and, once listening, a libmicrohttpd daemon (one thread per connection, so
 * a watch may block in its own thread; connections capped).
 * idp_apiserver_free stops everything: watches end, the daemon joins.
 *
 * Limits.  Request bodies over opts.max_body (default 3 MiB) get 413; YAML
 * bodies are loaded with depth and alias limits; every watch has a bounded
 * event queue and output buffer, after which the watcher is closed.
 *
 * The request core (idp_apiserver_handle) is transport-free: the HTTP
 * layer and the unit tests both call it. */
#ifndef IDP_APISERVER_H
#define IDP_APISERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "store/store.h"

typedef struct idp_apiserver idp_apiserver;

/* Admission hook (the policy engine plugs in here).  Called for create,
 * update, patch and delete after defaulting and before persisting, with an
 * AdmissionReview-style request object {operation, kind{group,version,kind},
 * resource{...}, namespace, name, object, oldObject, dryRun, userInfo}.
 * It may replace *obj (mutation: set *obj to a new reference, the old one is
 * released by the server) or deny by returning an error (its message and
 * code go to the client).  `warnings` is an array to append strings to. */
typedef idp_code (*idp_api_admit_fn)(void *ctx, const json_t *request, json_t **obj,
                                     json_t *warnings, idp_err *e);
/* Called after an admitted create/update was persisted (not for dryRun),
 * on the same thread as the admit call, with the stored object (borrowed);
 * also called with stored NULL when the write failed after admission. */
typedef void (*idp_api_admitted_fn)(void *ctx, const json_t *stored);

typedef struct idp_apiserver_opts {
  idp_store *store;          /* borrowed; required */
  const char *listen;        /* "127.0.0.1:6443", "[::1]:6443", ":6443"; port 0 = any */
  const char *cert_pem;      /* serving certificate; NULL = plain HTTP (tests) */
  const char *key_pem;
  const char *ca_pem;        /* published in every namespace's kube-root-ca.crt */
  const char *token;         /* bearer token; NULL = no authentication */
  size_t max_body;           /* 0 = 3 MiB */
  unsigned max_connections;  /* 0 = 2048 */
  int watch_heartbeat_ms;    /* 0 = 15000: bookmark or newline on idle watches */
  size_t watch_queue;        /* events a watcher may lag behind; 0 = 10000 */
  idp_api_admit_fn admit;    /* may be NULL */
  idp_api_admitted_fn admitted; /* may be NULL */
  void *admit_ctx;
} idp_apiserver_opts;

/* Creates the server: registry (built-ins + CRDs found in the store),
 * bootstrap objects (namespaces default, kube-system, kube-public, each
 * namespace's default ServiceAccount and kube-root-ca.crt), GC worker.
 * Does not listen yet. */
idp_code idp_apiserver_new(const idp_apiserver_opts *opts, idp_apiserver **out, idp_err *e);

/* Installs (or with fn NULL removes) the admission hooks; call before
 * listening (the policy engine is usually built after the server).
 * Operations: CREATE and UPDATE (object = the new state) and DELETE
 * (object null, oldObject = the current state). */
void idp_apiserver_set_admission(idp_apiserver *s, idp_api_admit_fn fn,
                                 idp_api_admitted_fn admitted, void *ctx);

/* Starts the HTTP(S) daemon on opts.listen. */
idp_code idp_apiserver_listen(idp_apiserver *s, idp_err *e);
/* The bound port (after listen). */
uint16_t idp_apiserver_port(const idp_apiserver *s);

/* Stops the daemon and the worker, ends watches, frees.  NULL is fine. */
void idp_apiserver_free(idp_apiserver *s);

/* ---- transport-free request core ------------------------------------- */

typedef struct idp_api_query {
  const char *key, *value; /* decoded */
} idp_api_query;

typedef struct idp_api_request {
  const char *method;        /* "GET", "POST", ... */
  const char *path;          /* decoded path, no query */
  const idp_api_query *query;
  size_t nquery;
  const char *accept;        /* may be NULL */
  const char *content_type;  /* may be NULL */
  const char *user_agent;    /* may be NULL (default field manager) */
  const char *authorization; /* may be NULL */
  const char *body;          /* may be NULL */
  size_t body_len;
  bool body_too_large;       /* the transport dropped a body over max_body */
} idp_api_request;

typedef struct idp_api_stream idp_api_stream;

typedef struct idp_api_response {
  int status;
  const char *content_type; /* static string */
  idp_buf body;
  json_t *warnings;         /* array of strings for Warning headers, or NULL */
  idp_api_stream *stream;   /* a watch: body is empty, read with idp_api_stream_read */
} idp_api_response;

void idp_api_response_init(idp_api_response *rs);
void idp_api_response_free(idp_api_response *rs);

/* Handles one request; never fails (errors become Status responses). */
void idp_apiserver_handle(idp_apiserver *s, const idp_api_request *rq, idp_api_response *rs);

/* Reads up to `max` bytes of a watch stream, waiting at most timeout_ms
 * for an event.  Returns bytes written (0 = nothing yet) or -1 when the
 * stream has ended (timeoutSeconds, server stopping, watcher too slow). */
long idp_api_stream_read(idp_api_stream *st, char *buf, size_t max, int timeout_ms);
void idp_api_stream_free(idp_api_stream *st);

/* Splits a raw query string "a=b&c=%2F" into decoded pairs (tests and
 * transports without their own parser).  *pairs is one malloc'd block
 * (pairs and strings), free() it. */
idp_code idp_api_query_parse(const char *raw, idp_api_query **pairs, size_t *n, idp_err *e);

#endif
