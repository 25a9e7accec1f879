/* fakeapi.h: a tiny Kubernetes-like API server for the client's tests.
 *
 * libmicrohttpd on 127.0.0.1 (free port), plain HTTP, thread per
 * connection.  It serves discovery for a fixed table of resources
 * (core v1 configmaps/namespaces, example.com/v1 widgets,
 * coordination.k8s.io/v1 leases), an in-memory store with one global
 * resourceVersion counter and an event history, lists with limit/continue
 * and an equality labelSelector, watches (rv semantics, bookmarks, 410 after
 * fakeapi_compact), create/update/status/merge-patch/apply/delete with
 * AlreadyExists / Conflict / NotFound Status errors.  Tests drive it
 * directly (put/del/compact/close_watches/fail_next) and inspect the
 * requests it received.  Not a model of the real API server beyond that. */
#ifndef IDP_TEST_FAKEAPI_H
#define IDP_TEST_FAKEAPI_H

#include <jansson.h>
#include <stdbool.h>

typedef struct fakeapi fakeapi;

fakeapi *fakeapi_start(void);
void fakeapi_stop(fakeapi *f);
/* "http://127.0.0.1:PORT" */
const char *fakeapi_url(fakeapi *f);

/* Server-side writes (as if another client wrote): create or replace
 * (`obj` is copied; metadata.name/namespace must be set), delete. */
void fakeapi_put(fakeapi *f, const char *plural, json_t *obj);
void fakeapi_del(fakeapi *f, const char *plural, const char *ns, const char *name);
/* Sends a BOOKMARK at the current revision to bookmark-enabled watches. */
void fakeapi_bookmark(fakeapi *f);
/* Forgets the history: watches/continues from an older RV get 410. */
void fakeapi_compact(fakeapi *f);
/* 410 on watch start as an HTTP status (true) or as an ERROR event (false,
 * the default, like kube-apiserver). */
void fakeapi_gone_as_http(fakeapi *f, bool http);
/* Ends every open watch stream (as a server timeout would). */
void fakeapi_close_watches(fakeapi *f);
/* The next `count` requests get this Status error. */
void fakeapi_fail_next(fakeapi *f, int count, int code, const char *reason, const char *msg);
/* Requires "Authorization: Bearer <token>" (NULL = no auth). */
void fakeapi_require_token(fakeapi *f, const char *token);

int64_t fakeapi_rv(fakeapi *f);
int fakeapi_open_watches(fakeapi *f);
/* Number of requests whose "METHOD /path?query" starts with `prefix`. */
int fakeapi_count(fakeapi *f, const char *prefix);
/* Copies of the last request line, Content-Type and body ("" if none). */
void fakeapi_last(fakeapi *f, char *line, size_t ln, char *ctype, size_t cn, char *body,
                  size_t bn);

#endif
