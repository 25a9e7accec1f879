/* harness.h: an in-process API server (store in memory, plain HTTP on a
 * loopback port) and a client for the secrets end-to-end tests, plus
 * small helpers.  Not a test itself. */
#ifndef SECRETS_TEST_HARNESS_H
#define SECRETS_TEST_HARNESS_H

#include "client/client.h"
#include "secrets/secrets.h"

typedef struct harness {
  struct idp_store *store;
  struct idp_apiserver *api;
  idp_kclient *kc;
  idp_secrets *ctl;
  char url[64];
} harness;

/* Starts the server and client; with_controller also installs the CRDs
 * and starts the secrets controller (opts may be NULL). */
int harness_start(harness *h, bool with_controller, const idp_secrets_opts *opts);
void harness_stop(harness *h);

/* Creates or replaces (update with the current resourceVersion) every
 * object of a YAML stream; returns 0 on success (prints errors). */
int apply(harness *h, const char *yaml);
/* GET an object by apiVersion/kind/ns/name; new ref or NULL. */
json_t *get_obj(harness *h, const char *api_version, const char *kind, const char *ns, const char *name);
int delete_obj(harness *h, const char *api_version, const char *kind, const char *ns, const char *name);
/* A key of a Secret's data, decoded (malloc'd) or NULL. */
char *secret_value(harness *h, const char *ns, const char *name, const char *key);
/* The Ready condition's "status|reason|message" of an object (malloc'd) or NULL. */
char *ready_of(harness *h, const char *api_version, const char *kind, const char *ns, const char *name);
/* Polls fn(arg) every 50 ms for up to ms; true once it returned true. */
bool wait_for(bool (*fn)(harness *h, void *arg), harness *h, void *arg, long ms);
/* Waits until secret ns/name key == want (want NULL: until the Secret is gone). */
bool wait_secret(harness *h, const char *ns, const char *name, const char *key, const char *want, long ms);
/* Waits until the Ready condition starts with `prefix` ("True|SecretSynced"). */
bool wait_ready(harness *h, const char *kind, const char *ns, const char *name, const char *prefix, long ms);
/* Sets annotation force-sync=<counter> on an ExternalSecret. */
int force_sync(harness *h, const char *ns, const char *name);

#endif
