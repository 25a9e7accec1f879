/* api_int.h: the API server's internal interfaces (not for other modules).
 *
 * registry.c   resource table (built-ins as data + CRD rows), refcounted rows
 * route.c      URL -> api_path, query helpers
 * status.c     Kubernetes Status bodies for errors
 * discovery.c  /api /apis /api/v1 /apis/G/V
 * openapi.c    /openapi/v2 and /openapi/v3 stubs
 * read.c       get, list, Table output
 * write.c      create, update, patch (+ status/scale subresources)
 * delete.c     delete, deletecollection, finalizers
 * watch.c      watch streams
 * crd.c        CustomResourceDefinition validation and status
 * gc.c         worker: owner references, namespaces and CRDs terminating
 * bootstrap.c  default namespaces and per-namespace objects
 * objects.c    shared object helpers (bodies, names, timestamps, uids)
 * pager.c      list snapshots behind continue tokens
 * protobuf.c   protobuf request bodies of kubectl's typed clients
 * server.c     libmicrohttpd daemon, TLS, authentication, dispatch */
#ifndef IDP_APISERVER_INT_H
#define IDP_APISERVER_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "apiserver/apiserver.h"

/* ---- registry ---------------------------------------------------------- */

enum {
  API_VERB_GET = 1 << 0,
  API_VERB_LIST = 1 << 1,
  API_VERB_WATCH = 1 << 2,
  API_VERB_CREATE = 1 << 3,
  API_VERB_UPDATE = 1 << 4,
  API_VERB_PATCH = 1 << 5,
  API_VERB_DELETE = 1 << 6,
  API_VERB_DELETECOLLECTION = 1 << 7,
  API_VERBS_ALL = 0xff,
};

/* One served (group, version, plural).  Immutable after publication; shared
 * between threads by reference count. */
typedef struct api_resource {
  atomic_int refs;
  char *group;   /* "" for core */
  char *version;
  char *kind, *list_kind, *plural, *singular;
  char *store_key; /* "<group|core>/<plural>" */
  bool namespaced, has_status, has_scale, crd, storage_version;
  bool single_version; /* the only served version: stored objects need no apiVersion rewrite */
  unsigned verbs;
  json_t *short_names; /* array of strings */
  json_t *categories;  /* array of strings */
  json_t *columns;     /* CRD additionalPrinterColumns (array) or NULL */
  json_t *schema;      /* CRD openAPIV3Schema or NULL */
  json_t *scale;       /* CRD subresources.scale or NULL */
} api_resource;

typedef struct api_registry api_registry;

api_registry *api_registry_new(void);
void api_registry_free(api_registry *r);
void api_resource_unref(api_resource *r);
/* Lookup by URL parts; a new reference or NULL. */
api_resource *api_registry_find(api_registry *r, const char *group, const char *version,
                                const char *plural);
/* Lookup by group and kind (any served version, storage version first). */
api_resource *api_registry_find_kind(api_registry *r, const char *group, const char *kind);
/* Any row with that store key (storage version first). */
api_resource *api_registry_find_store_key(api_registry *r, const char *store_key);
/* Every row, new references in a NULL-terminated malloc'd array. */
api_resource **api_registry_snapshot(api_registry *r, size_t *n);
void api_registry_snapshot_free(api_resource **rows, size_t n);
/* Adds or replaces the rows of one CRD (its served versions). */
idp_code api_registry_put_crd(api_registry *r, const json_t *crd, idp_err *e);
/* Removes the rows of a CRD by group and plural. */
void api_registry_remove_crd(api_registry *r, const char *group, const char *plural);
/* Does group/plural (any version) exist? true for built-ins too. */
bool api_registry_has(api_registry *r, const char *group, const char *plural);

/* ---- server state ------------------------------------------------------ */

typedef struct api_gc api_gc;
typedef struct api_pager api_pager;

/* pager.c: list snapshots behind continue tokens.  A snapshot is a list's
 * items as one compact JSON array text with item offsets; refcounted and
 * immutable, so pages are served while another request evicts it. */
typedef struct api_snap {
  atomic_int refs;
  char *raw; /* "[item,item,...]" */
  size_t len;
  size_t *off; /* n+1 offsets: item i is raw[off[i] .. off[i+1]-1) */
  size_t n;
  int64_t rev;
} api_snap;

/* Takes ownership of raw (malloc'd); NULL when raw is not a JSON array. */
api_snap *api_snap_new(char *raw, size_t len, int64_t rev);
void api_snap_unref(api_snap *s);
void api_snap_item(const api_snap *s, size_t i, const char **p, size_t *len);

api_pager *api_pager_new(void);
void api_pager_free(api_pager *p);
/* Keeps a reference to snap; writes the continue token for `offset`. */
void api_pager_put(api_pager *p, api_snap *snap, size_t offset, char *token, size_t n);
/* IDP_ENOTFOUND: not a pager token; IDP_EINVAL: malformed; IDP_EGONE:
 * expired (evicted, too old, or its revision compacted); else *snap (a new
 * reference) and *offset. */
idp_code api_pager_get(api_pager *p, const char *token, int64_t compacted, api_snap **snap,
                       size_t *offset);

struct idp_apiserver {
  idp_apiserver_opts o;
  idp_store *store;
  api_registry *reg;
  api_gc *gc;
  api_pager *pager;
  char *ca_pem, *token, *cert_pem, *key_pem, *listen;
  struct MHD_Daemon *daemon;
  uint16_t port;
  atomic_bool stopping;
  int stop_fd; /* eventfd, readable once stopping: wakes sleeping watches */
  atomic_long watchers;
};

/* ---- routing ----------------------------------------------------------- */

typedef enum api_route {
  R_NONE = 0,
  R_VERSION,
  R_HEALTH,
  R_API,         /* /api */
  R_APIS,        /* /apis */
  R_GROUP,       /* /apis/G */
  R_GV,          /* /api/v1, /apis/G/V */
  R_OPENAPI_V2,
  R_OPENAPI_V3,  /* root listing */
  R_OPENAPI_V3_GV,
  R_COLLECTION,  /* .../plural */
  R_ITEM,        /* .../plural/name[/sub] */
} api_route;

#define API_SEG_MAX 256

typedef struct api_path {
  api_route route;
  char group[API_SEG_MAX], version[API_SEG_MAX], ns[API_SEG_MAX];
  char plural[API_SEG_MAX], name[API_SEG_MAX], sub[API_SEG_MAX];
  bool has_ns; /* the URL had /namespaces/<ns>/ */
} api_path;

/* Parses a decoded URL path.  IDP_ENOTFOUND for paths that serve nothing. */
idp_code api_route_parse(const char *path, api_path *p, idp_err *e);

/* Query value (last occurrence) or NULL. */
const char *api_query(const idp_api_request *rq, const char *key);
bool api_query_bool(const idp_api_request *rq, const char *key);

/* ---- per-request context ------------------------------------------------ */

typedef struct api_ctx {
  idp_apiserver *srv;
  const idp_api_request *rq;
  idp_api_response *rs;
  api_path p;
  api_resource *res; /* for R_COLLECTION / R_ITEM */
  char obj_name[API_SEG_MAX]; /* name from the body, for error details */
  bool admitted;              /* the admission hook passed; `admitted` is owed */
} api_ctx;

/* ---- status.c ----------------------------------------------------------- */

/* Writes a Status error response from e (details: name, group, kind). */
void api_status_error(api_ctx *c, const idp_err *e, const char *name, json_t *causes);
/* A Status with status "Success" (deletes of some kinds). */
void api_status_success(api_ctx *c, const char *name);
/* Sets body to the JSON value (steals v) with status code. */
void api_reply_json(api_ctx *c, int status, json_t *v);
/* Builds a Status object (new reference). */
json_t *api_status_new(int code, const char *reason, const char *message, const char *name,
                       const char *group, const char *kind, json_t *causes /* stolen */);
void api_warn(api_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- common object helpers (objects.c) ---------------------------------- */

char *api_now_rfc3339(char *buf, size_t n);
void api_uuid(char out[37]);
/* Rewrites kind/apiVersion for the resource row (CRD versions share storage). */
void api_set_type(const api_resource *r, json_t *obj);
const char *api_obj_name(const json_t *obj);
const char *api_obj_ns(const json_t *obj);
int64_t api_obj_rv(const json_t *obj);
/* The resource's apiVersion string "group/version" or "v1". */
void api_gv(const api_resource *r, char *buf, size_t n);
/* Object body of the request (JSON or YAML by content type); new ref. */
idp_code api_body_object(api_ctx *c, json_t **obj, idp_err *e);
/* protobuf.c: a Kubernetes protobuf body (k8s\0 + runtime.Unknown) as JSON
 * for the kinds kubectl's typed clients send; IDP_EUNSUPPORTED otherwise. */
idp_code api_protobuf_decode(const char *data, size_t len, json_t **obj, idp_err *e);
/* The field manager from ?fieldManager or the User-Agent's program name. */
void api_field_manager(const api_ctx *c, const char *dflt, char *buf, size_t n);
/* dryRun=All present?  IDP_EINVAL for other values. */
idp_code api_dry_run(const api_ctx *c, bool *dry, idp_err *e);
/* Does the namespace exist (and is it not terminating when `for_create`)? */
idp_code api_namespace_check(idp_apiserver *s, const char *ns, bool for_create, idp_err *e);
/* Canonical not-found error for an object. */
idp_code api_err_notfound(const api_resource *r, const char *name, idp_err *e);
/* "plural.group" or "plural" (Kubernetes' qualified resource). */
void api_qualified(const api_resource *r, char *buf, size_t n);

/* ---- handlers ----------------------------------------------------------- */

void api_discovery(api_ctx *c);
void api_openapi(api_ctx *c);
void api_get(api_ctx *c);
void api_list(api_ctx *c);
void api_create(api_ctx *c);
void api_update(api_ctx *c);
void api_patch(api_ctx *c);
void api_delete(api_ctx *c);
void api_delete_collection(api_ctx *c);
void api_watch(api_ctx *c);

/* Table output wanted (Accept: ...;as=Table)? */
bool api_wants_table(const api_ctx *c);
/* Table for objects (borrowed array) of resource r; new reference. */
json_t *api_table(const api_resource *r, const json_t *objects, bool include_object,
                  const char *rv, const char *cont);

/* ---- list helpers (read.c): selectors on objects ------------------------ */

typedef struct api_filter api_filter;
/* Parses labelSelector and fieldSelector of the request; IDP_EINVAL naming
 * the selector.  *out NULL when neither is set. */
idp_code api_filter_new(const api_ctx *c, api_filter **out, idp_err *e);
bool api_filter_match(const api_filter *f, const json_t *obj);
void api_filter_free(api_filter *f);
/* Lists objects of r (ns NULL = all) matching f, at most `limit` (0 = all)
 * from continue token `cont`; *items new array with kind/apiVersion set,
 * *rev the list revision, *next a malloc'd continue token or NULL. */
idp_code api_list_items(idp_apiserver *s, const api_resource *r, const char *ns,
                        const api_filter *f, size_t limit, const char *cont, json_t **items,
                        int64_t *rev, char **next, idp_err *e);
/* The autoscaling/v1 Scale view of an object (new reference, NULL + e). */
json_t *api_scale_from(const api_resource *r, const json_t *obj, idp_err *e);

/* ---- write core (write.c), used by the GC and bootstrap too ------------- */

/* Persists obj as the new state of an existing object (finalizer-aware:
 * an object being deleted whose finalizers became empty is removed). */
idp_code api_store_put(idp_apiserver *s, const api_resource *r, json_t *obj, int64_t expect_rev,
                       json_t **stored, idp_err *e);
/* Removes an object from the store now (GC notified, CRD rows dropped). */
idp_code api_store_remove(idp_apiserver *s, const api_resource *r, const char *ns,
                          const char *name, int64_t expect_rev, json_t **last, idp_err *e);
/* No finalizer holds the object (Namespace: spec.finalizers too). */
bool api_finalizers_empty(const api_resource *r, const json_t *obj);
/* Deletes one object honouring finalizers and the propagation policy
 * ("Background", "Foreground", "Orphan").  *result: the object after the
 * call (with deletionTimestamp when it stays) or its last state. */
idp_code api_delete_object(idp_apiserver *s, const api_resource *r, const char *ns,
                           const char *name, const char *policy, const json_t *preconditions,
                           bool dry, json_t **result, idp_err *e);
/* Server-side create used by bootstrap (sets uid, timestamps). */
idp_code api_create_internal(idp_apiserver *s, const api_resource *r, json_t *obj, idp_err *e);

/* Runs the admission hook (op "CREATE", "UPDATE", "DELETE"); may replace
 * *obj.  api_admitted reports the outcome of the write afterwards. */
idp_code api_admit(api_ctx *c, const char *op, json_t **obj, const json_t *old, bool dry,
                   idp_err *e);
void api_admitted(api_ctx *c, const json_t *stored);

/* ---- crd.c --------------------------------------------------------------- */

/* Validates a CRD object and fills status (acceptedNames, conditions,
 * storedVersions); IDP_EINVALID naming the field. */
idp_code api_crd_prepare(api_registry *reg, json_t *crd, bool is_update, idp_err *e);

/* ---- gc.c ---------------------------------------------------------------- */

api_gc *api_gc_start(idp_apiserver *s);
void api_gc_stop(api_gc *g);
/* An object was written: remember the owner uids it names. */
void api_gc_note(api_gc *g, const json_t *obj);
/* An object left the store: collect its dependents. */
void api_gc_removed(api_gc *g, const api_resource *r, const json_t *obj);
/* An object needs finalizing work (foreground/orphan deletion, namespace or
 * CRD terminating). */
void api_gc_pending(api_gc *g, const api_resource *r, const char *ns, const char *name);

/* ---- bootstrap.c --------------------------------------------------------- */

idp_code api_bootstrap(idp_apiserver *s, idp_err *e);
/* Per-namespace defaults (default ServiceAccount, kube-root-ca.crt). */
void api_namespace_defaults(idp_apiserver *s, const char *ns);

#endif
