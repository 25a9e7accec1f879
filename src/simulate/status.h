/* status.h: the pure part of the workload simulator: the status a healthy
 * cluster's controllers (deployment, replicaset, statefulset, daemonset,
 * job) would write, computed from an object alone.  No I/O, no clock: the
 * caller passes "now" as an RFC 3339 string.
 *
 * Every function returns a NEW reference (the desired .status object) and
 * only reads its arguments.  Status integers follow the Go types' JSON
 * tags: fields tagged omitempty are left out when zero (so a completed
 * Deployment has no unavailableReplicas), required ones are always set.
 *
 * Condition timestamps: idp_sim_keep_times copies lastTransitionTime from
 * the current condition of the same type when its status is unchanged, and
 * lastUpdateTime/lastProbeTime too when reason and message are unchanged
 * (what the Kubernetes controllers do), plus Job startTime/completionTime.
 * After it, json_equal(desired, current) is the "nothing to write" test. */
#ifndef IDP_SIMULATE_STATUS_H
#define IDP_SIMULATE_STATUS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* The annotation every simulated object carries (metadata). */
#define IDP_SIM_ANNOTATION "idp.io/simulated"
/* The one simulated node DaemonSets and Pods are scheduled on. */
#define IDP_SIM_NODE "idp-node"

/* Kubernetes' pod-template-hash, computed the same way in shape: FNV-1a 32
 * over the template (here its canonical JSON: sorted keys, compact, with
 * nulls and empty objects/arrays dropped as Go's omitempty does) then,
 * when collision_count >= 0, its 4 little-endian bytes; the uint32 printed
 * in decimal and each digit mapped through rand.SafeEncodeString's
 * alphabet ("bcdfghjklmnpqrstvwxz2456789").  Stable across runs; not
 * byte-identical to kube-controller-manager (which hashes a Go spew dump).
 * out gets at most 10 chars + NUL (n >= 11). */
void idp_sim_template_hash(const json_t *tmpl, long long collision_count, char *out, size_t n);

/* spec.replicas with the API default (1) when absent. */
long long idp_sim_replicas(const json_t *obj);

/* maxUnavailable / maxSurge of a Deployment for `replicas` (int or
 * percentage, defaults 25%; unavailable rounds down, surge up; Recreate:
 * 0 unavailable, 0 surge). */
long long idp_sim_max_unavailable(const json_t *deploy, long long replicas);
long long idp_sim_max_surge(const json_t *deploy, long long replicas);

/* Deployment status.  new_rs: the name of the ReplicaSet of the current
 * template (for condition messages).  done=false: the rollout has started
 * (observedGeneration, updatedReplicas = replicas, ready/available carried
 * from the current status, Progressing ReplicaSetUpdated, Available by
 * the maxUnavailable rule); done=true: the completed rollout
 * (Available MinimumReplicasAvailable, Progressing NewReplicaSetAvailable).
 * A paused Deployment gets Progressing Unknown DeploymentPaused. */
json_t *idp_sim_deployment_status(const json_t *deploy, const char *new_rs, bool done,
                                  const char *now);
json_t *idp_sim_replicaset_status(const json_t *rs);
/* revision: "<name>-<template hash>" (both current and update revision). */
json_t *idp_sim_statefulset_status(const json_t *sts);
json_t *idp_sim_daemonset_status(const json_t *ds);
/* done=false: started (startTime, active); done=true: Complete and
 * SuccessCriteriaMet with succeeded = completions.  spec.suspend: the
 * Suspended condition only. */
json_t *idp_sim_job_status(const json_t *job, bool done, const char *now);

/* True when the Job already has a terminal condition (Complete/Failed True). */
bool idp_sim_job_finished(const json_t *job);

void idp_sim_keep_times(json_t *desired, const json_t *current);

/* The name of Pod number `index` of a ReplicaSet: "<rs>-<5 chars>", the
 * chars derived from (rs name, index) so names are stable. */
void idp_sim_pod_name(const char *rs, long long index, char *out, size_t n);
/* Pod number `index` of ReplicaSet `rs` as the API would hold it once
 * running: metadata (name, namespace, template labels, controller
 * ownerReference to the ReplicaSet, the simulated annotation), spec (the
 * template's, nodeName idp-node) and status (Running, Ready, fake podIP
 * 10.244.x.y derived from the name).  New reference. */
json_t *idp_sim_pod(const json_t *rs, long long index, const char *now);

/* RFC 3339 UTC for a Unix time (seconds); buf >= 21. */
void idp_sim_rfc3339(long long unix_s, char *buf, size_t n);

#endif
