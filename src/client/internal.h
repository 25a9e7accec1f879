/* internal.h: what rest.c shares with watch.c (not a public API). */
#ifndef IDP_CLIENT_INTERNAL_H
#define IDP_CLIENT_INTERNAL_H

#include <curl/curl.h>

#include "client/rest.h"

/* A new curl handle configured for `c` (TLS, credentials, timeouts off:
 * the caller sets them) or NULL. */
CURL *kc_handle_new(idp_kclient *c);
/* Applies TLS, auth and common options to `h` (after curl_easy_reset). */
void kc_configure(idp_kclient *c, CURL *h);
/* Standard request headers (Accept, Content-Type, Authorization); free
 * with curl_slist_free_all.  NULL on failure. */
struct curl_slist *kc_headers(idp_kclient *c, const char *content_type);
/* The full URL for `path_query` into `out`. */
idp_code kc_url(idp_kclient *c, const char *path_query, idp_buf *out);
/* curl transport error to idp_code + message. */
idp_code kc_curl_error(idp_err *e, const char *method, const char *path, CURLcode cc,
                       const char *errbuf);

#endif
