/* kubeconfig.h: where the API server is and how to authenticate to it.
 *
 * An idp_kconfig is the resolved connection settings of ONE context: the
 * server URL, how to trust it (CA file or CA bytes, or skip verification),
 * and the client credentials (bearer token or token file, client
 * certificate/key as files or bytes, or basic auth).  It is plain data,
 * owned by the caller and freed with idp_kconfig_free; the REST client
 * (client/rest.h) copies what it needs, so the config may be freed once
 * the client is created.
 *
 * Sources, as client-go reads them:
 *  - a kubeconfig file (clusters/users/contexts, `current-context` or a
 *    chosen context).  `*-data` fields are base64 and are decoded here;
 *    relative file paths (certificate-authority, client-certificate,
 *    client-key, tokenFile) are resolved against the kubeconfig's directory.
 *    When both a `*-data` field and its file form are set, the data wins
 *    (client-go's rule).  A token and a tokenFile: the token wins.
 *  - in-cluster: KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT and the
 *    service-account directory (token, ca.crt, namespace).  The token is
 *    kept as a token *file* so that rotated tokens are picked up.
 *  - idp_kconfig_load_default: explicit path, else the first existing file
 *    of $KUBECONFIG (colon list), else in-cluster when
 *    KUBERNETES_SERVICE_HOST is set, else $HOME/.kube/config.
 *
 * Not supported (reported as IDP_EUNSUPPORTED naming the user and field):
 * `exec` and `auth-provider` credential plugins.
 *
 * Errors name the source and the field, e.g.
 *   "/home/a/.kube/config: context \"dev\": cluster \"x\" not found in clusters"
 *   "/tmp/kc: users[\"admin\"].user.client-key-data: invalid base64".
 * Secret values (tokens, keys, passwords) never appear in error messages. */
#ifndef IDP_CLIENT_KUBECONFIG_H
#define IDP_CLIENT_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

typedef struct idp_kconfig {
  char *source;  /* kubeconfig path or "in-cluster" */
  char *context; /* context name used; NULL for in-cluster */
  char *server;  /* "https://host:port[/prefix]" without trailing '/' */
  char *namespace_; /* context namespace, SA namespace, or "default" */
  /* Trust */
  char *ca_file;      /* PEM file path or NULL */
  char *ca_data;      /* PEM bytes (decoded) or NULL */
  size_t ca_data_len;
  bool insecure;      /* insecure-skip-tls-verify */
  char *tls_server_name; /* tls-server-name or NULL */
  /* Client credentials (secret: never log) */
  char *token;      /* bearer token or NULL */
  char *token_file; /* re-read by the client (rotation) or NULL */
  char *cert_file, *key_file;
  char *cert_data, *key_data; /* PEM bytes (decoded) or NULL */
  size_t cert_data_len, key_data_len;
  char *username, *password; /* basic auth or NULL */
} idp_kconfig;

/* Loads `path`; `context` NULL = current-context.  *out is new (caller
 * frees with idp_kconfig_free). */
idp_code idp_kconfig_load_file(const char *path, const char *context, idp_kconfig **out,
                               idp_err *e);

/* Same from bytes; `name` is used in errors and `base_dir` (may be NULL =
 * current directory) resolves relative paths. */
idp_code idp_kconfig_load_data(const char *data, size_t len, const char *name,
                               const char *base_dir, const char *context, idp_kconfig **out,
                               idp_err *e);

/* In-cluster config.  `sa_dir` NULL = /var/run/secrets/kubernetes.io/
 * serviceaccount.  IDP_ENOTFOUND when KUBERNETES_SERVICE_HOST/PORT are unset
 * or the token file is missing. */
idp_code idp_kconfig_in_cluster(const char *sa_dir, idp_kconfig **out, idp_err *e);

/* The usual search order (see above).  `path` and `context` may be NULL. */
idp_code idp_kconfig_load_default(const char *path, const char *context, idp_kconfig **out,
                                  idp_err *e);

void idp_kconfig_free(idp_kconfig *c);

/* Decodes standard base64 (whitespace ignored, padding optional).  *out is
 * malloc'd and NUL-terminated (not counted in *out_len).  IDP_EINVAL on a
 * bad character. */
idp_code idp_base64_decode(const char *in, size_t len, char **out, size_t *out_len);

#endif
