/* diff.h: desired vs live comparison and resource tracking (Argo CD's
 * gitops-engine diff + util/argo/resource_tracking).  Pure functions.
 *
 * Tracking: annotation argocd.argoproj.io/tracking-id with Argo CD 3's
 * format "<app>:<group>/<kind>:<namespace>/<name>" (empty group for the
 * core group, empty namespace for cluster-scoped objects).  <app> is the
 * Application's instance name: its name in the control-plane namespace,
 * else "<appNamespace>_<appName>".
 *
 * Comparison (the Legacy strategy): both sides are normalised (status,
 * metadata uid/resourceVersion/generation/creationTimestamp/managedFields/
 * selfLink/deletionTimestamp/ownerReferences-free of server fields, the
 * kubectl last-applied annotation), the Application's ignoreDifferences are
 * applied to both (jsonPointers, simple jqPathExpressions ".a.b" and
 * managedFieldsManagers), then every field of desired must equal live
 * (fields only live has are server defaults and ignored, unless the live
 * last-applied configuration shows they were set by a previous apply and
 * are now gone from Git).  Lists compare by position with the same rule.
 * Secrets' stringData is folded into data (base64) first. */
#ifndef IDP_GITOPS_APP_DIFF_H
#define IDP_GITOPS_APP_DIFF_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define IDP_APP_TRACKING_ANNOTATION "argocd.argoproj.io/tracking-id"
#define IDP_APP_LAST_APPLIED "kubectl.kubernetes.io/last-applied-configuration"

/* "<app>:<group>/<kind>:<ns>/<name>" for obj. */
void idp_app_tracking_id(const char *instance, const json_t *obj, char *out, size_t n);

/* Splits a tracking id; false when malformed.  Any out may be NULL. */
bool idp_app_tracking_parse(const char *id, char *app, size_t an, char *group, size_t gn,
                            char *kind, size_t kn, char *ns, size_t nn, char *name, size_t mn);

/* New reference: obj without status and server-set metadata. */
json_t *idp_app_normalize(const json_t *obj);

/* Removes, in place, what an ignoreDifferences array ignores for this
 * object (matched by group, kind and optional name/namespace).  live is the
 * live object (for managedFieldsManagers; may be NULL). */
void idp_app_apply_ignores(json_t *obj, const json_t *ignores, const json_t *live);

/* True when live matches desired.  On a difference, `why` gets the first
 * differing field (".spec.replicas").  ignores may be NULL. */
bool idp_app_compare(const json_t *desired, const json_t *live, const json_t *ignores, char *why,
                     size_t n);

/* Removes the value at an RFC 6901 pointer (in place); false if absent. */
bool idp_json_pointer_remove(json_t *doc, const char *pointer);

#endif
