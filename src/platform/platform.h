/* platform.h: the Team and WebApplication controllers (platform.idp.io/v1alpha1).
 *
 * CRDs: examples/platform/platform/crds/{team,webapplication}.yaml are the
 * single source; the build embeds them (embed.sh) and
 * idp_platform_install_crds creates or updates them.
 *
 * Team (cluster-scoped) -> objects, all labelled platform.idp.io/team=<t>
 * and owned (ownerReferences, controller=true) by the Team:
 *   Namespace team-<t>: labels platform.idp.io/team, platform.idp.io/
 *     managed-by=team-controller, pod-security.kubernetes.io/{enforce,warn,
 *     audit}=restricted; annotations platform.idp.io/owner-{name,email,slack},
 *     description.  nodeSelector and tolerations are recorded as the
 *     annotations scheduler.alpha.kubernetes.io/node-selector ("k=v,k2=v2")
 *     and scheduler.alpha.kubernetes.io/defaultTolerations (JSON array): the
 *     contract of the PodNodeSelector / PodTolerationRestriction admission
 *     plugins, which apply them to every Pod of the namespace.
 *   ResourceQuota <t>-quota (requests.cpu/memory, limits.cpu/memory, pods,
 *     services, configmaps, secrets, persistentvolumeclaims),
 *   LimitRange <t>-limits (type Container: default/defaultRequest/max),
 *   NetworkPolicies default-deny-all, allow-dns (egress to kube-system
 *     k8s-app=kube-dns 53/UDP+TCP), allow-same-namespace (ingress+egress
 *     within the namespace), allow-from-namespaces (ingress from the
 *     allowFromNamespaces by kubernetes.io/metadata.name, from kube-system
 *     (the gateway) when allowIngress, egress anywhere when allowEgress —
 *     absent fields take the CRD defaults allowIngress=false,
 *     allowEgress=true),
 *   ServiceAccount <t>-workload, Roles developer / viewer and RoleBindings
 *     developer / viewer for members (User) and groups (Group) by role,
 *   AppProject team-<t> in argocd and one Application <t>-<app> per apps[]
 *     entry (when argoproj.io/v1alpha1 is served; otherwise the condition
 *     ArgoCD=False ArgoCDNotServed and the rest of the Team still applies).
 *   A finalizer platform.idp.io/team-cleanup deletes the Argo CD objects
 *   and the namespace explicitly (ownerReferences cover the rest).
 *   Status: conditions[Ready (reason Reconciled|ReconcileError), ArgoCD],
 *   namespace, appCount, ownedObjects[{apiVersion,kind,namespace,name}],
 *   observedGeneration.
 *
 * WebApplication (namespaced) -> Deployment, Service, HorizontalPodAutoscaler
 *   (autoscaling/v2, autoscaling.enabled), PodDisruptionBudget (replicas > 1),
 *   HTTPRoute (gateway.networking.k8s.io/v1, parent kube-system/idp-gateway)
 *   or Istio VirtualService (opts.istio) when route.host is set,
 *   ServiceMonitor (monitoring.enabled, default on), the database claim
 *   (opts.claim_api_version/claim_kind, default platform.idp.io/v1alpha1
 *   PostgreSQLInstance, writeConnectionSecretToRef <app>-db wired into
 *   envFrom).  Labels app.kubernetes.io/{name,instance,managed-by=idp-platform}
 *   and ownerReferences to the WebApplication on all.  The Deployment runs
 *   non-root (uid 10001), read-only root filesystem (with an emptyDir /tmp),
 *   seccomp RuntimeDefault, capabilities drop ALL, no privilege escalation;
 *   liveness/readiness probes on probes.liveness|readiness (defaults
 *   /healthz, /readyz).  envFrom externalSecretRef X reads the ExternalSecret
 *   X's spec.target.name (default X) as a secretRef.
 *   Kinds the server does not serve are skipped with a condition
 *   (<Kind>=False NotServed), never a failure.
 *   Status: phase Pending|Progressing|Ready|Failed, url (https://host/path,
 *   http when route.tls=false), conditions, resources[{kind,name,ready}],
 *   observedGeneration.
 *
 * Objects are kept in line by a subset comparison: an object is updated
 * when a field the controller sets differs (drift is reverted), fields
 * others add are kept (and server-assigned ones such as a Service's
 * clusterIP).  Owned kinds are watched (label selectors), so a deleted or
 * edited object is repaired at once; every object is also re-checked every
 * opts.resync_ms.  Objects listed in the last status (ownedObjects /
 * resources) that are no longer wanted (an app removed, autoscaling off,
 * replicas down to 1, no members of a role) are deleted when they are
 * still controlled by the owner's uid.  Reconcilers read the owner live
 * (not from the cache) so nothing is created for an owner already deleted.
 *
 * Wiring: idp_platform_start(kc, &(idp_platform_opts){.install_crds = true},
 * &p, &e) at start, idp_platform_stop(p) at shutdown; the test runner
 * tests/unit/platform/platform_run does the same from a kubeconfig. */
#ifndef IDP_PLATFORM_PLATFORM_H
#define IDP_PLATFORM_PLATFORM_H

#include <stdbool.h>

#include "client/client.h"
#include "core/err.h"

typedef struct idp_platform idp_platform;

typedef struct idp_platform_opts {
  int workers;                   /* per controller; 0 = 2 */
  bool install_crds;             /* install/upgrade the CRDs at start */
  bool istio;                    /* routes as Istio VirtualServices */
  const char *gateway_namespace; /* NULL = "kube-system" */
  const char *gateway_name;      /* NULL = "idp-gateway" */
  const char *argocd_namespace;  /* NULL = "argocd" */
  const char *claim_api_version; /* NULL = "platform.idp.io/v1alpha1" */
  const char *claim_kind;        /* NULL = "PostgreSQLInstance" */
  long resync_ms;                /* periodic re-check; 0 = 60000 */
} idp_platform_opts;

/* Creates or updates both CRDs and waits (10 s) until they are served. */
idp_code idp_platform_install_crds(idp_kclient *kc, idp_err *e);

/* Installs the CRDs when o->install_crds, starts informers (Teams,
 * WebApplications, owned kinds) and both controllers; returns once the
 * caches are synced.  `kc` must outlive the controller.  o may be NULL. */
idp_code idp_platform_start(idp_kclient *kc, const idp_platform_opts *o, idp_platform **out,
                            idp_err *e);
/* Stops controllers and informers, joins threads, frees.  NULL is fine. */
void idp_platform_stop(idp_platform *p);

/* ---- Pure builders (no I/O; unit-tested) -------------------------------- */

/* Desired objects of a Team, in apply order (Namespace first), as a NEW
 * array.  `argocd` false leaves out AppProject and Applications.  Each
 * object carries the Team's ownerReference when the Team has a uid.
 * IDP_EINVALID naming the field for a Team without metadata.name. */
idp_code idp_team_objects(const json_t *team, const idp_platform_opts *o, bool argocd,
                          json_t **out, idp_err *e);

/* Desired objects of a WebApplication (Deployment first) as a NEW array.
 * `es_targets` (may be NULL) maps ExternalSecret name -> target Secret
 * name; a missing entry means the ExternalSecret's own name.  IDP_EINVALID
 * naming the field when image.repository/tag is missing. */
idp_code idp_webapp_objects(const json_t *app, const idp_platform_opts *o,
                            const json_t *es_targets, json_t **out, idp_err *e);

/* The URL a WebApplication is served at ("" when no route), into buf. */
void idp_webapp_url(const json_t *app, char *buf, size_t n);

/* True when every field of `want` is present and equal in `have`
 * (objects recursively, arrays element-wise with equal length). */
bool idp_platform_subset(const json_t *want, const json_t *have);

#endif
