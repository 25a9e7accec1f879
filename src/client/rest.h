/* rest.h: the Kubernetes REST client every idp controller uses.
 *
 * One code path for idp's embedded API server and for real clusters: JSON
 * over HTTP/1.1 (libcurl), the paths and query parameters of the
 * Kubernetes API, Status objects turned into idp_err.
 *
 * Ownership and threads.  An idp_kclient is created from an idp_kconfig
 * (copied; the config may be freed afterwards) and is safe to use from any
 * number of threads at once: requests borrow a curl easy handle from a
 * small pool (each handle keeps its connection alive) and give it back.
 * Watches (client/watch.h) use a handle of their own for their lifetime.
 * Every json_t returned through an `out` parameter is a NEW reference the
 * caller must json_decref; objects passed in are only read.
 *
 * Addressing.  A resource is an idp_kref: (group, version, resource plural,
 * namespace, name, subresource).  group "" or NULL is the core group
 * (/api/v1/...), otherwise /apis/<group>/<version>/...; ns NULL or "" on a
 * collection means cluster-scoped or all namespaces.  Every segment is
 * validated (no '/', no "..", no control characters, at most 253 bytes)
 * so a name taken from an object can never escape its path.
 *
 * Errors.  A non-2xx answer becomes the idp_code of its Status (404
 * IDP_ENOTFOUND, 409 reason AlreadyExists IDP_EEXIST, other 409
 * IDP_ECONFLICT, 410 IDP_EGONE, 422 IDP_EINVALID, 403 IDP_EFORBIDDEN, 401
 * IDP_EUNAUTH, 400 IDP_EINVAL, 405 IDP_EMETHOD, 413 IDP_ETOOLARGE, 415
 * IDP_EUNSUPPORTED, 429/502/503 IDP_EUNAVAILABLE, 504 IDP_ETIMEOUT, other
 * 5xx IDP_EIO) with the message "<METHOD> <path>: <code> <reason>: <Status
 * message>".  Transport failures: connection refused/DNS IDP_EUNAVAILABLE,
 * timeouts IDP_ETIMEOUT, TLS and others IDP_EIO, with curl's text.  A
 * response body larger than opts.max_body is IDP_ETOOLARGE.  Tokens,
 * passwords, keys and request/response bodies are never logged nor put in
 * error messages. */
#ifndef IDP_CLIENT_REST_H
#define IDP_CLIENT_REST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "client/kubeconfig.h"
#include "core/buf.h"
#include "core/err.h"

typedef struct idp_kclient idp_kclient;

typedef struct idp_kclient_opts {
  long timeout_ms;         /* whole request (not watches); 0 = 30000 */
  long connect_timeout_ms; /* 0 = 10000 */
  size_t max_body;         /* response body cap; 0 = 64 MiB */
  int max_idle_handles;    /* pooled curl handles kept; 0 = 8 */
  const char *user_agent;  /* NULL = "idp/<version>" */
} idp_kclient_opts;

idp_code idp_kclient_new(const idp_kconfig *cfg, const idp_kclient_opts *opts,
                         idp_kclient **out, idp_err *e);
void idp_kclient_free(idp_kclient *c);

/* The server URL and the default namespace of the config (borrowed,
 * valid while the client lives). */
const char *idp_kclient_server(const idp_kclient *c);
/* (kubeconfig tls-server-name is read but not applied: libcurl has no SNI
 * override; use a server URL whose host matches the certificate.) */
const char *idp_kclient_namespace(const idp_kclient *c);

/* ---- Cancellation --------------------------------------------------- */

/* A cancel token: a flag plus a wake-up, fired from any thread.  A watch
 * using it ends at once (IDP_OK); a list using it is aborted within about
 * a second (IDP_EUNAVAILABLE "cancelled"); idp_kcancel_sleep wakes.  One
 * token may serve one watch at a time (and any number of lists/sleeps). */
typedef struct idp_kcancel idp_kcancel;

idp_kcancel *idp_kcancel_new(void); /* NULL on allocation failure */
void idp_kcancel_free(idp_kcancel *k);
void idp_kcancel_fire(idp_kcancel *k);
bool idp_kcancel_fired(idp_kcancel *k);
/* Sleeps up to ms; returns true when fired (at once if already fired). */
bool idp_kcancel_sleep(idp_kcancel *k, long ms);

/* ---- Addressing ---------------------------------------------------- */

typedef struct idp_kref {
  const char *group;       /* NULL/"" = core */
  const char *version;     /* "v1" */
  const char *resource;    /* plural, lower case: "configmaps" */
  const char *ns;          /* NULL/"" = cluster-scoped or all namespaces */
  const char *name;        /* NULL = the collection */
  const char *subresource; /* NULL, "status", "scale", ... */
} idp_kref;

/* Appends the URL path of `r` (no query) to `out`.  IDP_EINVAL naming the
 * bad segment. */
idp_code idp_kref_path(const idp_kref *r, idp_buf *out, idp_err *e);

/* Appends `s` percent-encoded for a query value (RFC 3986 unreserved kept). */
idp_code idp_url_escape(idp_buf *out, const char *s);

/* ---- Raw requests ---------------------------------------------------- */

/* Sends `method` to `path_query` (starting with '/', already escaped) with
 * an optional body.  On 2xx, *status is the HTTP code and *out (if
 * non-NULL) the parsed JSON body (new reference; JSON null for an empty
 * body).  Non-2xx: the mapped error (see above); *status still set. */
idp_code idp_kclient_request(idp_kclient *c, const char *method, const char *path_query,
                             const char *content_type, const char *body, size_t body_len,
                             long *status, json_t **out, idp_err *e);

/* ---- Typed verbs ----------------------------------------------------- */

idp_code idp_kclient_get(idp_kclient *c, const idp_kref *r, json_t **out, idp_err *e);

typedef struct idp_klist_opts {
  const char *label_selector;   /* "app=web,tier in (a,b)" */
  const char *field_selector;   /* "metadata.name=x" */
  long limit;                   /* 0 = no limit (one page) */
  const char *continue_token;   /* from a previous page */
  const char *resource_version; /* NULL = most recent; "0" = any */
  const char *resource_version_match; /* "NotOlderThan" / "Exact" / NULL */
  idp_kcancel *cancel;          /* may be NULL */
} idp_klist_opts;

/* One page of a list (a *List object).  `o` may be NULL. */
idp_code idp_kclient_list(idp_kclient *c, const idp_kref *r, const idp_klist_opts *o,
                          json_t **out, idp_err *e);

/* Every page (o->limit is the page size, 0 = 500), concatenated into one
 * list object whose metadata.resourceVersion is the snapshot RV.  An
 * expired continue token gives IDP_EGONE. */
idp_code idp_kclient_list_all(idp_kclient *c, const idp_kref *r, const idp_klist_opts *o,
                              json_t **out, idp_err *e);

typedef struct idp_kwrite_opts {
  const char *field_manager;    /* required for IDP_PATCH_APPLY */
  const char *field_validation; /* "Strict" / "Warn" / "Ignore" / NULL */
  bool dry_run;                 /* dryRun=All */
  bool force;                   /* server-side apply: take ownership */
} idp_kwrite_opts;

/* For create/update/update_status a NULL r->ns (and for update a NULL
 * r->name) is taken from the object's metadata. */
idp_code idp_kclient_create(idp_kclient *c, const idp_kref *r, const json_t *obj,
                            const idp_kwrite_opts *o, json_t **out, idp_err *e);
idp_code idp_kclient_update(idp_kclient *c, const idp_kref *r, const json_t *obj,
                            const idp_kwrite_opts *o, json_t **out, idp_err *e);
idp_code idp_kclient_update_status(idp_kclient *c, const idp_kref *r, const json_t *obj,
                                   const idp_kwrite_opts *o, json_t **out, idp_err *e);

typedef enum idp_patch_type {
  IDP_PATCH_MERGE,     /* application/merge-patch+json (RFC 7386) */
  IDP_PATCH_JSON,      /* application/json-patch+json (RFC 6902) */
  IDP_PATCH_STRATEGIC, /* application/strategic-merge-patch+json */
  IDP_PATCH_APPLY,     /* application/apply-patch+yaml (server-side apply) */
} idp_patch_type;

idp_code idp_kclient_patch(idp_kclient *c, const idp_kref *r, idp_patch_type type,
                           const json_t *patch, const idp_kwrite_opts *o, json_t **out,
                           idp_err *e);

typedef struct idp_kdelete_opts {
  const char *propagation_policy; /* "Background" / "Foreground" / "Orphan" / NULL */
  bool has_grace_period;          /* send grace_period_seconds (0 = now) */
  long long grace_period_seconds;
  const char *precondition_uid;
  const char *precondition_rv;
  bool dry_run;
} idp_kdelete_opts;

/* DELETE with a DeleteOptions body.  *out (may be NULL) is what the server
 * answered: the object (finalizers pending) or a Status. */
idp_code idp_kclient_delete(idp_kclient *c, const idp_kref *r, const idp_kdelete_opts *o,
                            json_t **out, idp_err *e);

/* ---- Discovery -------------------------------------------------------- */

#define IDP_KNAME_MAX 254

/* One API resource as discovery describes it; plain values. */
typedef struct idp_kgvr {
  char group[IDP_KNAME_MAX];
  char version[IDP_KNAME_MAX];
  char resource[IDP_KNAME_MAX]; /* plural */
  char kind[IDP_KNAME_MAX];
  bool namespaced;
} idp_kgvr;

/* Maps apiVersion ("v1", "apps/v1") + kind to the resource.  The
 * group-version document (/api/v1 or /apis/G/V) is cached per client; a
 * kind not found in the cached document refetches it once (CRDs appear
 * later).  IDP_ENOTFOUND when the group-version or the kind is unknown. */
idp_code idp_kclient_resolve(idp_kclient *c, const char *api_version, const char *kind,
                             idp_kgvr *out, idp_err *e);

/* Resolves an object's apiVersion/kind and fills `r` (pointers into `g`
 * and `obj`, valid while both live) for the object itself: ns from
 * metadata.namespace (or the client's default namespace for a namespaced
 * kind without one; ignored for cluster-scoped kinds), name from
 * metadata.name. */
idp_code idp_kclient_ref_for(idp_kclient *c, const json_t *obj, idp_kgvr *g, idp_kref *r,
                             idp_err *e);

/* Lists every group-version the server serves (/api + /apis) as a new JSON
 * array of strings ("v1", "apps/v1", ...). */
idp_code idp_kclient_group_versions(idp_kclient *c, json_t **out, idp_err *e);

/* Drops the discovery cache. */
void idp_kclient_discovery_reset(idp_kclient *c);

/* ---- Shared with client/watch.c --------------------------------------- */

/* Maps an HTTP status and Status reason to an idp_code (the table above). */
idp_code idp_kstatus_code(long http, const char *reason);

/* Fills `e` from a non-2xx answer: Status body (may be NULL/unparsable). */
idp_code idp_kstatus_error(idp_err *e, const char *method, const char *path, long http,
                           const char *body, size_t len);

#endif
