/* sigv4.h: AWS Signature Version 4 (HMAC-SHA256), header and query signing.
 *
 * Semantics follow the AWS test suite as published by awslabs/aws-c-auth
 * (IDP_SHARED/conformance/sigv4): the signer reproduces its canonical
 * request, string to sign, signature and signed request byte for byte.
 *
 *  - Canonical URI: the raw (not yet encoded) path; with normalize_path,
 *    "." and ".." segments are removed and runs of '/' collapse (a trailing
 *    '/' stays); then every byte but RFC 3986 unreserved characters and '/'
 *    is percent-encoded (upper-case hex).  S3 wants normalize_path false.
 *  - Canonical query: each parameter percent-decoded then re-encoded, sorted
 *    by key then value; "k" and "k=" both become "k=".
 *  - Canonical headers: names lower-cased, values trimmed with inner runs of
 *    white space (folded continuation lines included) collapsed to one
 *    space, repeated names joined with ',' in request order, sorted by name.
 *    Hop-by-hop and volatile headers (user-agent, x-amzn-trace-id,
 *    connection, expect, authorization, ...) are never signed: the table
 *    is in sigv4.c.
 *  - Header signing adds X-Amz-Security-Token (when a session token is
 *    given), X-Amz-Date, x-amz-content-sha256 (with sign_body) and
 *    Authorization.  Query signing (presign) adds X-Amz-Algorithm,
 *    -Credential, -Date, -SignedHeaders, -Expires, [-Security-Token],
 *    -Signature to the query.  omit_session_token signs without the token
 *    and adds it afterwards (the STS convention of some services).
 *  - The payload hash is SHA-256 of the body (UNSIGNED-PAYLOAD is not used).
 *
 * Ownership: the request and params are borrowed; the result owns its
 * buffers (idp_sigv4_result_free).  The secret key never appears in the
 * result or in error messages (only the derived signature does). */
#ifndef IDP_SECRETS_SIGV4_H
#define IDP_SECRETS_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core/buf.h"
#include "core/err.h"

typedef struct idp_sigv4_header {
  const char *name;
  const char *value; /* raw; may hold folded continuation lines */
} idp_sigv4_header;

typedef struct idp_sigv4_request {
  const char *method;  /* "GET", "POST" */
  const char *path;    /* raw path, not percent-encoded: "/", "/a b/" */
  const char *query;   /* raw query without '?', or NULL */
  const idp_sigv4_header *headers; /* must include Host */
  size_t nheaders;
  const void *body;
  size_t body_len;
} idp_sigv4_request;

typedef struct idp_sigv4_params {
  const char *access_key_id;
  const char *secret_access_key;
  const char *session_token; /* NULL = none */
  const char *region;        /* "us-east-1" */
  const char *service;       /* "secretsmanager" */
  time_t time;               /* signing time (UTC seconds) */
  bool normalize_path;
  bool sign_body;            /* header mode: add x-amz-content-sha256 */
  bool omit_session_token;
  bool presign;              /* query-string signing instead of headers */
  long expires_s;            /* presign: X-Amz-Expires; 0 = 3600 */
} idp_sigv4_params;

#define IDP_SIGV4_MAX_ADDED 4

typedef struct idp_sigv4_result {
  idp_buf canonical_request;
  idp_buf string_to_sign;
  char signature[65];      /* lower-case hex */
  idp_buf authorization;   /* header mode: the Authorization value */
  /* Header mode: headers to add, in this order (names as sent). */
  const char *added_name[IDP_SIGV4_MAX_ADDED];
  char *added_value[IDP_SIGV4_MAX_ADDED];
  size_t nadded;
  idp_buf query_suffix;    /* presign: "X-Amz-Algorithm=...&X-Amz-Signature=..." */
} idp_sigv4_result;

/* Signs `rq`.  IDP_EINVAL names the missing field (credentials, region,
 * service, Host header); the result is valid only on IDP_OK and must be
 * freed in every case. */
idp_code idp_sigv4_sign(const idp_sigv4_request *rq, const idp_sigv4_params *p,
                        idp_sigv4_result *out, idp_err *e);
void idp_sigv4_result_free(idp_sigv4_result *r);

/* Helpers shared with the providers and their tests. */
void idp_sha256_hex(const void *data, size_t len, char out[65]);
/* "20150830T123600Z" (16 chars + NUL). */
void idp_sigv4_amz_date(time_t t, char out[17]);
/* Appends `s` (n bytes) percent-encoded, keeping unreserved characters and,
 * when keep_slash, '/'. */
idp_code idp_sigv4_uri_encode(idp_buf *out, const char *s, size_t n, bool keep_slash);

#endif
