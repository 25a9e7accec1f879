/* app_int.h: internals shared by app.c (controller, reconcile), app_sync.c
 * (sync operations) and webhook.c.  Not a public header. */
#ifndef IDP_GITOPS_APP_APP_INT_H
#define IDP_GITOPS_APP_APP_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "client/client.h"
#include "gitops/app/app.h"
#include "gitops/app/git.h"

#define APP_FINALIZER "resources-finalizer.argocd.argoproj.io"
#define APP_FINALIZER_BG "resources-finalizer.argocd.argoproj.io/background"
#define APP_IN_CLUSTER "https://kubernetes.default.svc"
#define APP_MANAGER "argocd-controller"

/* A watched kind of managed objects (in-cluster only). */
typedef struct app_dyn {
  char key[700]; /* group/version/resource */
  idp_kgvr gvr;
  idp_informer *inf;
} app_dyn;

/* A destination cluster from a cluster Secret. */
typedef struct app_cluster {
  char server[512];
  char name[254];
  char secret_rv[64];
  idp_kclient *kc;
} app_cluster;

struct idp_app {
  idp_kclient *kc;
  char ns[254];
  idp_app_opts o;
  char *data_dir, *label_key, *gh_secret, *gl_secret, *app_namespaces;
  idp_git *git;
  idp_informer *apps, *projects, *secrets;
  idp_controller *ctl;
  pthread_mutex_t mu; /* dyns, rcache, state, clusters */
  app_dyn *dyns;
  size_t ndyn, capdyn;
  json_t *rcache; /* render cache: key -> array of objects */
  json_t *state;  /* app key -> {rev, failed, retries, next_ms} */
  app_cluster *clusters;
  size_t ncl;
  void *mhd;
  int port;
  atomic_bool stopping; /* ends health waits and wave pauses at once */
  atomic_ulong reconciles, reconciles_done, syncs, applies, prunes, status_writes, cache_hits,
      fast_paths;
};

/* One destination of a reconcile: the client and whether informers serve
 * its live objects. */
typedef struct app_dest {
  idp_kclient *kc;
  bool in_cluster;
  const char *server, *name, *ns;
} app_dest;

/* Live object of (gvr, ns, name): new reference or NULL (absent). */
idp_code app_live_get(idp_app *a, const app_dest *d, const idp_kgvr *g, const char *ns,
                      const char *name, json_t **out, idp_err *e);

/* Resolves apiVersion+kind on the destination (with a fallback to CRDs
 * in `desired` not yet installed); fills g. */
idp_code app_resolve(idp_app *a, const app_dest *d, const char *api_version, const char *kind,
                     const json_t *desired, idp_kgvr *g, idp_err *e);

int64_t app_now_ms(void);
void app_rfc3339(char *buf, size_t n);

/* The sync operation: see app_sync.c.  desired: rendered objects (with
 * tracking), live: array parallel to the non-hook resources (or NULL
 * entries), prev_resources: status.resources of the last reconcile (prune
 * candidates).  `op` is operation.sync (may be an automated one built by
 * the caller).  Fills op_state (operationState) and returns whether the
 * operation succeeded.  `after` (may be NULL) receives "kind/ns/name" ->
 * the object as the server answered each write (JSON null when pruned). */
/* Writes operationState (phase Running, results so far) while a sync waits
 * between waves, so kubectl shows progress. */
void app_write_running(idp_app *a, const json_t *app, const json_t *os);

bool app_sync_run(idp_app *a, const json_t *app, const app_dest *d, const json_t *op,
                  const json_t *desired, const json_t *prev_resources, const char *revision,
                  json_t *op_state, json_t *after);

#endif
