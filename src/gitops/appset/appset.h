/* appset.h: the Argo CD-compatible ApplicationSet controller
 * (argoproj.io/v1alpha1 ApplicationSet -> Application).
 *
 * Layers, each usable on its own:
 *
 *   generators   idp_appset_generate(env, appset) runs spec.generators and
 *                renders spec.template (+ per-generator template
 *                overrides, post selectors, templatePatch) into the list of
 *                desired Applications.  Pure apart from reading Git
 *                (gitops/appset/gitread.h) and cluster Secrets (through the
 *                env callback), so `idp appset render` and unit tests use it
 *                without a server.  Generators are a table (generators.c):
 *                list (elements, elementsYaml), git (directories with
 *                exclude, files with YAML/JSON and path params), clusters
 *                (cluster Secrets + the in-cluster destination), matrix (two
 *                children; the second is interpolated with each parameter
 *                set of the first), merge (mergeKeys).  scmProvider,
 *                pullRequest, plugin and clusterDecisionResource are reported
 *                as unsupported.
 *   templates    fasttemplate ({{param}} / {{ param }} string substitution,
 *                unknown or non-string params left as written) or, with
 *                spec.goTemplate, Go text/template + Sprig
 *                (gitops/appset/gotmpl.h) with spec.goTemplateOptions.  As in
 *                Argo CD every string of the template (map keys included) is
 *                rendered on its own; other scalars are copied.  Generated
 *                Applications get the resources finalizer unless the
 *                template lists finalizers or
 *                syncPolicy.preserveResourcesOnDeletion is true.
 *   controller   idp_appset_start(): informers on ApplicationSets,
 *                Applications and cluster Secrets of the control-plane
 *                namespace, a work queue, workers; creates / updates /
 *                deletes the owned Applications (controller ownerReference
 *                to the ApplicationSet) as syncPolicy.applicationsSync
 *                allows (create-only, create-update, create-delete, sync =
 *                default), keeps preserved annotations/labels
 *                (notified.notifications.argoproj.io, argocd.argoproj.io/
 *                refresh, spec.preservedFields), honours
 *                ignoreApplicationDifferences (jsonPointers), removes the
 *                resources finalizer before deleting when
 *                preserveResourcesOnDeletion is set, and writes the status
 *                conditions ErrorOccurred / ParametersGenerated /
 *                ResourcesUpToDate (Argo CD's reasons and messages) and
 *                status.resources.  Requeue: the smallest
 *                requeueAfterSeconds of the generators (Git default 180 s)
 *                and at once when a Git revision the ApplicationSet read
 *                moves (a poller re-resolves the revisions every
 *                git_poll_ms).  The annotation
 *                argocd.argoproj.io/application-set-refresh (set by Argo
 *                CD's webhook) forces a fetch and is removed afterwards.
 *                Remote repositories use the credentials of Argo CD
 *                repository Secrets (secret-type repository, or the
 *                longest-prefix repo-creds).
 *
 * Threads: the controller owns its threads; stop joins them.  Nothing here
 * prints or exits; errors are idp_err values naming the ApplicationSet and
 * the generator/file/field. */
#ifndef IDP_GITOPS_APPSET_APPSET_H
#define IDP_GITOPS_APPSET_APPSET_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "client/client.h"
#include "core/err.h"
#include "gitops/appset/gitread.h"

/* ---- generation (no server needed) ------------------------------------ */

/* Where generators read the outside world. */
typedef struct idp_appset_env {
  idp_asgit *git;        /* Git reader (required by git generators) */
  const char *namespace; /* control-plane namespace: generated apps' default */
  /* Cluster Secrets (label argocd.argoproj.io/secret-type=cluster) of the
   * control-plane namespace: *out a new JSON array.  NULL = none. */
  idp_code (*list_clusters)(void *ud, json_t **out, idp_err *e);
  void *ud;
  bool refresh; /* fetch remote repositories before reading (no cache) */
  /* Called for every (repoURL, revision) -> commit a git generator read. */
  void (*on_git_read)(void *ud, const char *url, const char *revision, const char *sha);
} idp_appset_env;

/* Why generation failed (Argo CD's ApplicationSet reasons). */
typedef enum idp_appset_reason {
  IDP_APPSET_OK = 0,
  IDP_APPSET_PARAMS_ERROR,  /* ApplicationGenerationFromParamsError */
  IDP_APPSET_RENDER_ERROR,  /* RenderTemplateParamsError */
} idp_appset_reason;

/* Runs the generators of `appset` (an ApplicationSet object) and renders
 * the desired Applications: *apps a new JSON array of Application objects
 * (apiVersion/kind/metadata/spec, no ownerReferences).  On error *apps is
 * NULL, *reason says which step failed and e holds Argo CD's message
 * (e.g. "failed to execute go template {{.x}}: template: :1:2: executing
 * \"\" at <.x>: map has no entry for key \"x\"").  *requeue_ms (may be
 * NULL) gets the smallest generator requeue interval (0 = none). */
idp_code idp_appset_generate(const idp_appset_env *env, const json_t *appset, json_t **apps,
                             idp_appset_reason *reason, int64_t *requeue_ms, idp_err *e);

/* Renders one string with params: goTemplate (opts from
 * goTemplateOptions) or fasttemplate.  *out new malloc'd. */
idp_code idp_appset_replace(const char *tmpl, const json_t *params, bool go_template,
                            const json_t *go_template_options, char **out, idp_err *e);

/* Renders every string (and object key) of `tmpl` with params; *out is a
 * new value. */
idp_code idp_appset_render_value(const json_t *tmpl, const json_t *params, bool go_template,
                                 const json_t *go_template_options, json_t **out, idp_err *e);

/* ---- the controller ------------------------------------------------------ */

typedef struct idp_appset_opts {
  const char *namespace;   /* control-plane namespace; NULL = "argocd" */
  int workers;             /* 0 = 2 */
  const char *git_cache;   /* dir for clones of remote repos; NULL = $TMPDIR/idp-appset-git */
  long git_poll_ms;        /* re-resolve read revisions this often; 0 = 15000, < 0 = off */
  const char *policy;      /* controller policy (create-only, create-update,
                            * create-delete, sync); NULL = sync */
  bool no_policy_override; /* true: ignore spec.syncPolicy.applicationsSync */
  bool skip_crds;          /* do not install the ApplicationSet CRD */
} idp_appset_opts;

typedef struct idp_appset idp_appset;

/* Installs the CRDs if missing, starts informers and workers; returns once
 * the caches are synced and workers run. */
idp_code idp_appset_start(idp_kclient *kc, const idp_appset_opts *o, idp_appset **out,
                          idp_err *e);
/* Stops threads, frees everything (NULL is fine). */
void idp_appset_stop(idp_appset *a);

/* Creates the ApplicationSet CRD (crds/applicationset.yaml), or updates it
 * when its spec differs; waits until it is Established/served. */
idp_code idp_appset_install_crds(idp_kclient *kc, idp_err *e);

/* A push to repo_url happened (a Git webhook): forgets the cached fetch of
 * that repository and requeues every ApplicationSet whose git generators
 * read it.  URLs compare without scheme case, trailing "/" or ".git", and
 * "git@host:org/repo" equals "https://host/org/repo".  Returns how many
 * ApplicationSets were requeued. */
int idp_appset_notify_push(idp_appset *a, const char *repo_url);

/* The identity of a repository URL for comparisons (notify_push,
 * repository credentials): scp-like and ssh:// forms become https://,
 * user info and a trailing "/" or ".git" are dropped, scheme and host are
 * lower-cased.  Writes into out. */
void idp_appset_url_key(const char *url, char *out, size_t n);

/* Counters (tests, metrics). */
typedef struct idp_appset_stats {
  unsigned long reconciles, created, updated, deleted, errors;
} idp_appset_stats;
void idp_appset_get_stats(idp_appset *a, idp_appset_stats *out);

#endif
