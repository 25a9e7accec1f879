/* double.h: a tiny HTTP test double (libmicrohttpd) for the vault and aws
 * provider tests: every request is handed, with its body, to a callback
 * that answers with a status and a JSON body. */
#ifndef SECRETS_TEST_DOUBLE_H
#define SECRETS_TEST_DOUBLE_H

#include <stddef.h>

typedef struct dbl_req {
  const char *method, *url;
  const char *body;
  size_t body_len;
  void *conn; /* for dbl_header / dbl_query */
} dbl_req;

/* Returns the HTTP status; *resp a malloc'd body (may stay NULL). */
typedef int (*dbl_fn)(void *ud, const dbl_req *r, char **resp);

typedef struct dbl dbl;
dbl *dbl_start(dbl_fn fn, void *ud, unsigned short *port);
void dbl_stop(dbl *d);
const char *dbl_header(const dbl_req *r, const char *name);
const char *dbl_query(const dbl_req *r, const char *name);
/* Calls fn(ud, name, value) for every request header. */
void dbl_headers(const dbl_req *r, void (*fn)(void *ud, const char *name, const char *value), void *ud);

#endif
