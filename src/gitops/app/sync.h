/* sync.h: how a sync orders and treats resources (gitops-engine
 * pkg/sync): hook phases, sync waves, Argo CD's kind order, sync options.
 * Pure functions over objects; the controller (app.c) executes the plan.
 *
 * Order: phase (PreSync, Sync, PostSync; SyncFail only when the operation
 * failed), then argocd.argoproj.io/sync-wave (integer, default 0), then the
 * kind order of sync_tasks.go (Namespace first ... APIService; unknown kinds
 * such as custom resources after all of them), then name.
 *
 * Hooks: argocd.argoproj.io/hook (comma list of PreSync, Sync, PostSync,
 * SyncFail, Skip, PreDelete, PostDelete) or Helm's helm.sh/hook
 * (pre-install/pre-upgrade -> PreSync, post-install/post-upgrade ->
 * PostSync) with helm.sh/hook-weight as the wave.  Delete policies from
 * argocd.argoproj.io/hook-delete-policy (or helm.sh/hook-delete-policy):
 * HookSucceeded, HookFailed, BeforeHookCreation (the default).
 *
 * Sync options: "Key=Value" strings of spec.syncPolicy.syncOptions; the
 * resource annotation argocd.argoproj.io/sync-options ("A=b,C=d")
 * overrides the Application's value for that resource. */
#ifndef IDP_GITOPS_APP_SYNC_H
#define IDP_GITOPS_APP_SYNC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum idp_sync_phase {
  IDP_PHASE_PRESYNC = 0,
  IDP_PHASE_SYNC,
  IDP_PHASE_POSTSYNC,
  IDP_PHASE_SYNCFAIL,
  IDP_PHASE_COUNT
} idp_sync_phase;

/* Hook phase bits (1 << idp_sync_phase), plus these. */
#define IDP_HOOK_SKIP (1u << 8)
#define IDP_HOOK_PREDELETE (1u << 9)
#define IDP_HOOK_POSTDELETE (1u << 10)

/* 0 when obj is not a hook. */
unsigned idp_app_hook_phases(const json_t *obj);

#define IDP_HOOK_DEL_SUCCEEDED 1u
#define IDP_HOOK_DEL_FAILED 2u
#define IDP_HOOK_DEL_BEFORE_CREATION 4u
unsigned idp_app_hook_delete_policy(const json_t *obj);

const char *idp_app_phase_name(idp_sync_phase p);

/* Wave of obj (annotation; hook-weight for Helm hooks), default 0. */
int idp_app_sync_wave(const json_t *obj);

/* Position of (group, kind) in Argo CD's kind order; unknown kinds get the
 * count of known kinds (they sort after all). */
int idp_app_kind_order(const char *group, const char *kind);

typedef struct idp_sync_task {
  json_t *obj; /* borrowed */
  idp_sync_phase phase;
  int wave;
  int kind_order;
  const char *name; /* borrowed from obj */
  bool hook;
  void *ud; /* caller data */
} idp_sync_task;

/* Sorts by phase, wave, kind order, name; then moves each Namespace before
 * the first task in it and each CRD before the first of its resources
 * (taking that task's phase and wave), as sync_tasks.go does. */
void idp_app_sort_tasks(idp_sync_task *t, size_t n);

/* Value of a sync option for obj (resource annotation first, then the
 * Application's list), copied into out; false when unset. */
bool idp_app_sync_option(const json_t *app_opts, const json_t *obj, const char *key, char *out,
                         size_t n);
/* True when the option is set to `value` (case-insensitive). */
bool idp_app_sync_option_is(const json_t *app_opts, const json_t *obj, const char *key,
                            const char *value);

#endif
