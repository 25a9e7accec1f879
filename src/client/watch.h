/* watch.h: Kubernetes watch streams.
 *
 * A watch is `GET <collection>?watch=1&resourceVersion=RV&
 * allowWatchBookmarks=true&timeoutSeconds=N`; the answer is a chunked
 * stream of newline-delimited JSON events {"type": ADDED | MODIFIED |
 * DELETED | BOOKMARK | ERROR, "object": {...}}.  Events arrive strictly
 * after RV (RV "" or "0": synthetic ADDED events for the current state
 * first).
 *
 * Two layers:
 *  - idp_watch_parser: the incremental line parser (bytes in arbitrary
 *    chunks, one callback per complete event).  A line longer than
 *    max_line is IDP_ETOOLARGE (the stream must be dropped: the event
 *    cannot be skipped safely); a line that is not a JSON event is IDP_EIO.
 *  - idp_kclient_watch: the blocking stream on its own curl handle.
 *
 * ERROR events: the callback sees them, then the watch ends with the
 * Status mapped to an idp_code (code 410 / reason Expired or Gone is
 * IDP_EGONE: the RV is too old, relist).  An HTTP error before the stream
 * starts is reported the same way.
 *
 * Cancellation (idp_kcancel, declared in client/rest.h): firing it from
 * any thread ends a running watch (returns IDP_OK) within milliseconds. */
#ifndef IDP_CLIENT_WATCH_H
#define IDP_CLIENT_WATCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "client/rest.h"
#include "core/buf.h"
#include "core/err.h"

typedef enum idp_watch_type {
  IDP_WATCH_ADDED,
  IDP_WATCH_MODIFIED,
  IDP_WATCH_DELETED,
  IDP_WATCH_BOOKMARK,
  IDP_WATCH_ERROR,
} idp_watch_type;

const char *idp_watch_type_name(idp_watch_type t);

typedef struct idp_watch_event {
  idp_watch_type type;
  json_t *object; /* borrowed: valid during the callback; incref to keep */
} idp_watch_event;

/* Returns true to continue, false to end the watch (it then returns
 * IDP_OK). */
typedef bool (*idp_watch_cb)(void *ud, const idp_watch_event *ev);

/* ---- Line parser ---------------------------------------------------- */

#define IDP_WATCH_DEFAULT_MAX_LINE ((size_t)16 << 20)

typedef struct idp_watch_parser {
  idp_buf line; /* the incomplete line so far */
  idp_watch_cb cb;
  void *ud;
  bool stopped;     /* the callback returned false */
  idp_code end_rc;  /* set after an ERROR event (its mapped code) */
  const char *what; /* names the stream in errors (borrowed); "watch" */
} idp_watch_parser;

/* max_line 0 = IDP_WATCH_DEFAULT_MAX_LINE. */
void idp_watch_parser_init(idp_watch_parser *p, size_t max_line, idp_watch_cb cb, void *ud);
void idp_watch_parser_free(idp_watch_parser *p);

/* Feeds bytes.  Returns IDP_OK to keep reading; any other code ends the
 * stream (e filled): IDP_ETOOLARGE, IDP_EIO (bad event), or the mapped
 * code of an ERROR event.  After the callback returned false, returns
 * IDP_OK and sets p->stopped; further input is ignored. */
idp_code idp_watch_parser_feed(idp_watch_parser *p, const char *data, size_t len, idp_err *e);

/* End of stream: a last line without '\n' is parsed too. */
idp_code idp_watch_parser_finish(idp_watch_parser *p, idp_err *e);

/* ---- Streaming watch ------------------------------------------------ */

typedef struct idp_watch_opts {
  const char *resource_version; /* NULL/"" = from now with synthetic ADDED */
  const char *label_selector;
  const char *field_selector;
  long timeout_seconds;   /* server-side end of stream; 0 = 300 */
  bool no_bookmarks;      /* do not ask for BOOKMARK events */
  size_t max_line;        /* 0 = IDP_WATCH_DEFAULT_MAX_LINE */
  idp_kcancel *cancel;    /* may be NULL */
} idp_watch_opts;

/* Watches collection `r` (r->name must be NULL; use a field selector
 * metadata.name=X for one object), calling cb for each event until the
 * server ends the stream or the callback/cancel stops it (IDP_OK), or an
 * error: ERROR event / HTTP error (mapped code), transport failure
 * (IDP_EUNAVAILABLE ...), or no byte for timeout_seconds + 30 s
 * (IDP_ETIMEOUT: a half-open connection). */
idp_code idp_kclient_watch(idp_kclient *c, const idp_kref *r, const idp_watch_opts *o,
                           idp_watch_cb cb, void *ud, idp_err *e);

#endif
