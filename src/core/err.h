/* err.h: the project-wide error value.
 *
 * Library code never prints or exits: it fills an idp_err and returns its
 * code (non-zero).  Codes are stable and map, through one table in err.c, to
 * the HTTP status and Kubernetes Status `reason` the API server answers
 * with, so an error raised deep in the store reaches kubectl unchanged.
 * The message is a fixed-size buffer owned by the idp_err; it must never
 * contain a secret value. */
#ifndef IDP_ERR_H
#define IDP_ERR_H

#include <stdarg.h>

typedef enum idp_code {
  IDP_OK = 0,
  IDP_EINVAL,       /* 400 BadRequest: malformed input */
  IDP_EINVALID,     /* 422 Invalid: well-formed but fails validation */
  IDP_ENOTFOUND,    /* 404 NotFound */
  IDP_EEXIST,       /* 409 AlreadyExists */
  IDP_ECONFLICT,    /* 409 Conflict: stale resourceVersion, SSA conflict */
  IDP_EGONE,        /* 410 Expired: compacted revision, old continue token */
  IDP_ETOOLARGE,    /* 413 RequestEntityTooLarge */
  IDP_EUNSUPPORTED, /* 415 UnsupportedMediaType */
  IDP_EMETHOD,      /* 405 MethodNotAllowed */
  IDP_EUNAUTH,      /* 401 Unauthorized */
  IDP_EFORBIDDEN,   /* 403 Forbidden */
  IDP_ETIMEOUT,     /* 504 Timeout */
  IDP_EIO,          /* 500 InternalError: I/O, database */
  IDP_ENOMEM,       /* 500 InternalError: allocation or cap */
  IDP_EINTERNAL,    /* 500 InternalError: a bug */
  IDP_EUNAVAILABLE, /* 503 ServiceUnavailable */
  IDP_CODE_COUNT
} idp_code;

#define IDP_ERR_MSG_MAX 1024

typedef struct idp_err {
  idp_code code;
  char msg[IDP_ERR_MSG_MAX];
} idp_err;

#define IDP_ERR_INIT {IDP_OK, {0}}

/* Sets code and message (printf-style, truncated to fit); returns code.
 * `e` may be NULL, then only the code is returned. */
idp_code idp_err_set(idp_err *e, idp_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
idp_code idp_err_vset(idp_err *e, idp_code code, const char *fmt, va_list ap);

/* Prefixes the existing message with "prefix: " (adds context going up). */
void idp_err_prefix(idp_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void idp_err_clear(idp_err *e);

/* HTTP status and Kubernetes reason for a code. */
int idp_code_http(idp_code code);
const char *idp_code_reason(idp_code code);
const char *idp_code_name(idp_code code);

#endif
