/* simulate.h: the workload simulator (`idp up --simulate-workloads`).
 *
 * There is no kubelet behind `idp up`.  Like KWOK, this controller gives
 * workloads the status a healthy cluster's controllers would write, so
 * that rollouts (`kubectl rollout status`, `kubectl wait`) and Argo
 * CD-style health can be exercised:
 *
 *   Deployment   on every generation: the ReplicaSet "<name>-<hash>"
 *                (status.h: idp_sim_template_hash) owned by the Deployment,
 *                with the template's labels + pod-template-hash and the
 *                deployment.kubernetes.io/revision annotation (max+1; a
 *                rollback to an old template re-numbers that ReplicaSet);
 *                old ReplicaSets scaled to 0; status first "progressing"
 *                (Progressing ReplicaSetUpdated), after delay_ms the
 *                completed rollout (Available MinimumReplicasAvailable,
 *                Progressing NewReplicaSetAvailable).  spec.paused: no new
 *                ReplicaSet, Progressing Unknown DeploymentPaused (a paused
 *                Deployment is still scaled when the ReplicaSet of its current
 *                template exists).
 *   ReplicaSet   replicas/fullyLabeled/ready/available = spec.replicas;
 *                with create_pods, Pods "<rs>-<5 chars>" (stable names)
 *                Running and Ready on node idp-node with a fake podIP, and
 *                surplus owned Pods deleted.
 *   StatefulSet  all replicas ready, current = update revision.
 *   DaemonSet    one node (idp-node): every count 1.
 *   Job          started at once (startTime, active), after delay_ms
 *                Complete + SuccessCriteriaMet with succeeded =
 *                completions; a finished Job is never touched again;
 *                spec.suspend gives the Suspended condition.
 *   CronJob      nothing: its Jobs would come from a cronjob controller,
 *                which idp does not simulate.
 *
 * Every object it handles carries the annotation idp.io/simulated: "true",
 * written by a metadata merge patch only when missing.  Status goes
 * through a merge patch on the status subresource, and only when the
 * computed status differs from the current one (no update storms).
 * Deletion: the API server's garbage collector removes owned ReplicaSets
 * and Pods; the simulator only forgets its per-object timers.
 *
 * Threads: one informer thread per kind, `workers` reconcile threads. */
#ifndef IDP_SIMULATE_SIMULATE_H
#define IDP_SIMULATE_SIMULATE_H

#include <stdbool.h>

#include "client/client.h"
#include "core/err.h"
#include "simulate/status.h"

typedef struct idp_simulate_opts {
  long delay_ms;      /* rollout / job completion delay; 0 = 1000, < 0 = none */
  bool create_pods;   /* create Running Pods for ReplicaSets (default off) */
  int workers;        /* 0 = 2 */
  const char *ns;     /* NULL = all namespaces */
  long sync_timeout_ms; /* wait for the caches at start; 0 = 30000 */
} idp_simulate_opts;

typedef struct idp_simulate idp_simulate;

/* Starts informers on deployments, replicasets, statefulsets, daemonsets,
 * jobs (and pods with create_pods), waits for their first list, starts the
 * workers.  `kc` must outlive the simulator.  o may be NULL (defaults). */
idp_code idp_simulate_start(idp_kclient *kc, const idp_simulate_opts *o, idp_simulate **out,
                            idp_err *e);
/* Stops informers and workers (a running reconcile finishes), frees. NULL ok. */
void idp_simulate_stop(idp_simulate *s);
/* The simulator needs no CRDs (built-in kinds only): always IDP_OK.  Here
 * for the controller contract. */
idp_code idp_simulate_install_crds(idp_kclient *kc, idp_err *e);

/* Counters for tests: status writes, metadata patches, objects created. */
typedef struct idp_simulate_stats {
  unsigned long status_writes, meta_patches, creates, deletes, scales;
} idp_simulate_stats;
void idp_simulate_get_stats(idp_simulate *s, idp_simulate_stats *out);

#endif
