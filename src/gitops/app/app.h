/* app.h: the Argo CD–compatible Application controller (argoproj.io/v1alpha1
 * Application and AppProject), the manual of src/gitops/app.
 *
 *   gitops/app/git.h      Git sources: cache of clones, revisions, trees
 *   gitops/app/diff.h     normalisation, desired-vs-live, tracking ids
 *   gitops/app/health.h   per-kind health table
 *   gitops/app/sync.h     hooks, waves, kind order, sync options
 *   gitops/app/project.h  AppProject restrictions
 *   this header           the controller, its options, the webhook
 *
 * What the controller does (Argo CD semantics, see
 * shared/reference/gitops-k8s.md §1):
 *  - watches Applications and AppProjects in the control-plane namespace
 *    (opts.namespace_, "argocd" by default) and the repository/cluster
 *    Secrets there (label argocd.argoproj.io/secret-type); creates the
 *    namespace and the `default` AppProject at start when missing;
 *  - per Application: checks the project (sourceRepos, destinations,
 *    resource allow/deny lists; a violation is an InvalidSpecError
 *    condition and nothing is applied), resolves the source revision
 *    (gitops/app/git.h), renders the path (gitops/render.h), compares every
 *    object with the live one and writes status.sync / health / resources /
 *    summary / conditions / operationState / history / reconciledAt;
 *    errors while fetching or rendering become a ComparisonError condition
 *    naming the repository, revision or file, and nothing is applied (the
 *    last applied state stays);
 *  - syncs when `operation.sync` is set (kubectl/`idp app sync`/rollback) or
 *    when spec.syncPolicy.automated is on and the app is OutOfSync (at most
 *    once per revision unless selfHeal; prune and allowEmpty honoured);
 *    phases PreSync/Sync/PostSync (SyncFail on failure), waves, kind order,
 *    health waits between waves, prune (PruneLast), retries with backoff;
 *  - managed objects carry argocd.argoproj.io/tracking-id; their kinds are
 *    watched through informers so drift is seen at once (self-heal);
 *  - deletion with resources-finalizer.argocd.argoproj.io deletes the
 *    managed objects first (cascade);
 *  - the argocd.argoproj.io/refresh annotation (normal|hard) forces a
 *    refresh and is removed; a hard refresh re-lists the repository.
 *
 * Cost of an unchanged Application: when its generation, its project, its
 * source commits and the resourceVersion of every object it read are the
 * same as at the last full comparison, a reconcile only checks those (a few
 * informer lookups) and writes nothing.  Status is written with a merge
 * patch and only when it changed; a reconcile that reads an older copy of
 * the Application than the controller last wrote (generation) is skipped.
 *
 * Running it: `idp up` starts it in-process (controllers list "gitops");
 * `idp app controller --kubeconfig F --data-dir D [...]` runs it alone
 * against any API server (see src/cli/cmd_app.c for the flags).
 *
 * Threads: start() spawns informer threads, opts.workers reconcile workers
 * and, with webhook_listen, a libmicrohttpd listener.  A sync runs on the
 * worker that reconciles its Application (waves wait there, up to
 * health_timeout_ms per wave).  stop() interrupts those waits, joins all
 * threads and frees everything.  All public functions are thread-safe. */
#ifndef IDP_GITOPS_APP_APP_H
#define IDP_GITOPS_APP_APP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "client/rest.h"
#include "core/err.h"

typedef struct idp_app_opts {
  const char *namespace_;             /* control-plane namespace; NULL = "argocd" */
  const char *application_namespaces; /* other namespaces whose Applications
                                  are processed (comma-separated globs, Argo
                                  CD's --application-namespaces); the
                                  project must list them in sourceNamespaces */
  const char *data_dir;               /* Git cache lives in <data_dir>/git; required */
  int workers;                        /* reconcile workers; 0 = 4 */
  long resync_ms;                     /* reconciliation period; 0 = 120000 */
  long jitter_ms;                     /* random extra delay; 0 = 60000, < 0 = none */
  long repo_ttl_ms;                   /* trust a repo listing this long; 0 = 3000 */
  long wave_delay_ms;                 /* pause between sync waves; 0 = 2000, < 0 = none */
  long health_timeout_ms;             /* wait for a wave to be healthy; 0 = 300000 */
  const char *instance_label_key;     /* also set this label (annotation+label
                                         tracking); NULL = as the argocd-cm
                                         ConfigMap of the namespace says
                                         (application.resourceTrackingMethod,
                                         application.instanceLabelKey), else
                                         annotation only */
  const char *webhook_listen;         /* "127.0.0.1:8081" or NULL = no listener */
  const char *webhook_github_secret;  /* NULL = not verified (as Argo CD) */
  const char *webhook_gitlab_secret;
  bool skip_crds;        /* do not install the CRDs at start */
  bool skip_health_wait; /* do not wait for a wave to be healthy before
                            the next (embedded mode without kubelet,
                            where workloads never become ready) */
} idp_app_opts;

typedef struct idp_app idp_app;

/* Installs the Application and AppProject CRDs (create, or update when the
 * installed one differs), then waits until they are served. */
idp_code idp_app_install_crds(idp_kclient *kc, idp_err *e);

/* Installs CRDs (unless skip_crds), ensures the namespace and the default
 * AppProject, starts informers (waits for their first list), the workers
 * and the webhook listener.  kc must outlive the controller. */
idp_code idp_app_start(idp_kclient *kc, const idp_app_opts *o, idp_app **out, idp_err *e);
void idp_app_stop(idp_app *a);

/* Queues a refresh of one Application ("name" or "ns/name"); hard also
 * re-lists its repository. */
void idp_app_refresh(idp_app *a, const char *key, bool hard);

/* The port the webhook listener bound (0 when none). */
int idp_app_webhook_port(const idp_app *a);

/* Handles a Git push webhook (POST /api/webhook).  headers: a JSON object
 * of header name (any case) -> value; body: the raw payload.  Verifies
 * GitHub X-Hub-Signature-256 (HMAC-SHA256 of the body with the GitHub
 * secret, constant-time compare) or GitLab X-Gitlab-Token when the
 * matching secret is configured; a missing or bad signature gives 401 and
 * does nothing.  A push event refreshes (at once, listing the repository
 * again) every Application whose repoURL matches the pushed repository and
 * whose targetRevision is the pushed branch/tag or HEAD.  *http_status is
 * the status to answer (200, 400, 401, 413); *refreshed (may be NULL) how
 * many Applications were queued. */
idp_code idp_gitops_webhook_handle(idp_app *a, const json_t *headers, const char *body, size_t len,
                                   int *http_status, int *refreshed, idp_err *e);

/* `idp app diff`: renders Application ns/name (ns NULL = "argocd") from Git
 * and compares every object with the live one, changing nothing.  *out is a
 * new array of {group, kind, namespace, name, status ("Synced", "OutOfSync",
 * "Missing" or "Extraneous"), field (first difference), desired, live}
 * (desired/live normalised as compared; absent when missing).  data_dir
 * holds the Git cache.  Errors as the controller's conditions would say
 * them (repository, revision, file). */
idp_code idp_app_diff(idp_kclient *kc, const char *ns, const char *name, const char *data_dir,
                      json_t **out, idp_err *e);

/* Counters for tests and benchmarks. */
typedef struct idp_app_stats {
  unsigned long reconciles;      /* reconcile calls started */
  unsigned long reconciles_done; /* reconcile calls finished */
  unsigned long syncs;           /* sync operations run */
  unsigned long applies;         /* objects created/updated/patched */
  unsigned long prunes;          /* objects deleted by prune */
  unsigned long status_writes;
  unsigned long render_cache_hits;
  unsigned long fast_paths; /* reconciles skipped: nothing changed */
} idp_app_stats;
void idp_app_get_stats(idp_app *a, idp_app_stats *out);

#endif
