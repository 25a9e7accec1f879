#include "core/common.h"

#include <time.h>

#include "core/json.h"
#include "simulate/status.h"

void idp_sim_rfc3339(long long unix_s, char *buf, size_t n) {
  time_t t = (time_t)unix_s;
  struct tm tm;
  gmtime_r(&t, &tm);
  if (!strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) && n) buf[0] = 0;
}

/* Drops nulls, empty objects and empty arrays, recursively: Go's omitempty
 * makes them the same template as an absent field (kubectl rollout undo
 * sends back "creationTimestamp": null, "resources": {}). */
static void prune_empty(json_t *v) {
  if (json_is_object(v)) {
    const char *k;
    json_t *c;
    void *tmp;
    json_object_foreach_safe(v, tmp, k, c) {
      prune_empty(c);
      if (json_is_null(c) || (json_is_object(c) && !json_object_size(c)) ||
          (json_is_array(c) && !json_array_size(c)))
        json_object_del(v, k);
    }
  } else if (json_is_array(v)) {
    json_t *c;
    size_t i;
    json_array_foreach(v, i, c) prune_empty(c);
  }
}

void idp_sim_template_hash(const json_t *tmpl, long long collision_count, char *out, size_t n) {
  static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  uint32_t h = 2166136261u;
  json_t *norm = tmpl ? json_deep_copy(tmpl) : NULL;
  prune_empty(norm);
  char *text = norm ? json_dumps(norm, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
  json_decref(norm);
  for (const char *p = text ? text : ""; *p; p++) {
    h ^= (unsigned char)*p;
    h *= 16777619u;
  }
  free(text);
  if (collision_count >= 0) {
    uint32_t c = (uint32_t)collision_count;
    for (int i = 0; i < 4; i++) {
      h ^= (c >> (8 * i)) & 0xffu;
      h *= 16777619u;
    }
  }
  char dec[16];
  snprintf(dec, sizeof dec, "%u", (unsigned)h);
  size_t i = 0;
  for (; dec[i] && i + 1 < n; i++) out[i] = alphabet[(dec[i] - '0') % (sizeof alphabet - 1)];
  if (n) out[i < n ? i : n - 1] = 0;
}

long long idp_sim_replicas(const json_t *obj) {
  json_t *r = idp_json_get(obj, "spec", "replicas", NULL);
  if (json_is_integer(r)) return json_integer_value(r) < 0 ? 0 : json_integer_value(r);
  return 1;
}

/* An IntOrString of the rolling-update strategy resolved against replicas
 * (a percentage rounds up or down as Kubernetes' GetScaledValueFromIntOrPercent). */
static long long int_or_percent(const json_t *v, long long replicas, bool round_up,
                                long long dflt_pct) {
  long long pct = dflt_pct;
  if (json_is_integer(v)) return json_integer_value(v);
  const char *s = json_string_value(v);
  if (s) {
    char *end = NULL;
    long long p = strtoll(s, &end, 10);
    if (end != s && end && *end == '%' && end[1] == 0) pct = p;
  }
  long long num = replicas * pct;
  return round_up ? (num + 99) / 100 : num / 100;
}

static bool recreate(const json_t *deploy) {
  const char *t = idp_json_get_str(deploy, "spec", "strategy", "type", NULL);
  return t && !strcmp(t, "Recreate");
}

long long idp_sim_max_unavailable(const json_t *deploy, long long replicas) {
  if (recreate(deploy) || replicas == 0) return 0;
  long long u = int_or_percent(
      idp_json_get(deploy, "spec", "strategy", "rollingUpdate", "maxUnavailable", NULL), replicas,
      false, 25);
  return u > replicas ? replicas : u < 0 ? 0 : u;
}

long long idp_sim_max_surge(const json_t *deploy, long long replicas) {
  if (recreate(deploy)) return 0;
  long long s = int_or_percent(
      idp_json_get(deploy, "spec", "strategy", "rollingUpdate", "maxSurge", NULL), replicas, true,
      25);
  return s < 0 ? 0 : s;
}

/* Sets an omitempty integer: absent when zero. */
static void set_oe(json_t *o, const char *k, long long v) {
  if (v) json_object_set_new(o, k, json_integer(v));
}

static json_t *condition(const char *type, const char *status, const char *reason,
                         const char *msg, const char *now, bool deployment_style) {
  json_t *c = json_object();
  json_object_set_new(c, "type", json_string(type));
  json_object_set_new(c, "status", json_string(status));
  /* Deployment conditions carry lastUpdateTime; Job ones lastProbeTime */
  json_object_set_new(c, deployment_style ? "lastUpdateTime" : "lastProbeTime", json_string(now));
  json_object_set_new(c, "lastTransitionTime", json_string(now));
  json_object_set_new(c, "reason", json_string(reason));
  json_object_set_new(c, "message", json_string(msg));
  return c;
}

static void observed(json_t *st, const json_t *obj) {
  json_t *g = idp_json_get(obj, "metadata", "generation", NULL);
  json_object_set_new(st, "observedGeneration", json_integer(json_is_integer(g) ? json_integer_value(g) : 1));
}

static long long status_int(const json_t *obj, const char *k) {
  return json_integer_value(idp_json_get(obj, "status", k, NULL));
}

json_t *idp_sim_deployment_status(const json_t *deploy, const char *new_rs, bool done,
                                  const char *now) {
  long long want = idp_sim_replicas(deploy);
  bool paused = json_is_true(idp_json_get(deploy, "spec", "paused", NULL));
  json_t *st = json_object();
  observed(st, deploy);
  long long avail = done ? want : status_int(deploy, "availableReplicas");
  long long ready = done ? want : status_int(deploy, "readyReplicas");
  if (avail > want) avail = want;
  if (ready > want) ready = want;
  set_oe(st, "replicas", want);
  set_oe(st, "updatedReplicas", want);
  set_oe(st, "readyReplicas", ready);
  set_oe(st, "availableReplicas", avail);
  set_oe(st, "unavailableReplicas", want - avail);
  json_t *cc = idp_json_get(deploy, "status", "collisionCount", NULL);
  if (json_is_integer(cc)) json_object_set_new(st, "collisionCount", json_integer(json_integer_value(cc)));

  json_t *conds = json_array();
  if (avail >= want - idp_sim_max_unavailable(deploy, want))
    json_array_append_new(conds, condition("Available", "True", "MinimumReplicasAvailable",
                                           "Deployment has minimum availability.", now, true));
  else
    json_array_append_new(conds, condition("Available", "False", "MinimumReplicasUnavailable",
                                           "Deployment does not have minimum availability.", now,
                                           true));
  char msg[512];
  if (paused) {
    json_array_append_new(conds, condition("Progressing", "Unknown", "DeploymentPaused",
                                           "Deployment is paused", now, true));
  } else if (done) {
    snprintf(msg, sizeof msg, "ReplicaSet \"%s\" has successfully progressed.", new_rs ? new_rs : "");
    json_array_append_new(conds, condition("Progressing", "True", "NewReplicaSetAvailable", msg, now, true));
  } else {
    snprintf(msg, sizeof msg, "ReplicaSet \"%s\" is progressing.", new_rs ? new_rs : "");
    json_array_append_new(conds, condition("Progressing", "True", "ReplicaSetUpdated", msg, now, true));
  }
  json_object_set_new(st, "conditions", conds);
  return st;
}

json_t *idp_sim_replicaset_status(const json_t *rs) {
  long long n = idp_sim_replicas(rs);
  json_t *st = json_object();
  /* replicas is required in ReplicaSetStatus; the others are omitempty */
  json_object_set_new(st, "replicas", json_integer(n));
  set_oe(st, "fullyLabeledReplicas", n);
  set_oe(st, "readyReplicas", n);
  set_oe(st, "availableReplicas", n);
  observed(st, rs);
  return st;
}

json_t *idp_sim_statefulset_status(const json_t *sts) {
  long long n = idp_sim_replicas(sts);
  json_t *st = json_object();
  observed(st, sts);
  json_object_set_new(st, "replicas", json_integer(n));
  set_oe(st, "readyReplicas", n);
  set_oe(st, "currentReplicas", n);
  set_oe(st, "updatedReplicas", n);
  char hash[16], rev[320];
  json_t *cc = idp_json_get(sts, "status", "collisionCount", NULL);
  long long ccv = json_is_integer(cc) ? json_integer_value(cc) : 0;
  idp_sim_template_hash(idp_json_get(sts, "spec", "template", NULL), ccv, hash, sizeof hash);
  const char *name = idp_json_get_str(sts, "metadata", "name", NULL);
  snprintf(rev, sizeof rev, "%s-%s", name ? name : "", hash);
  json_object_set_new(st, "currentRevision", json_string(rev));
  json_object_set_new(st, "updateRevision", json_string(rev));
  json_object_set_new(st, "collisionCount", json_integer(ccv));
  json_object_set_new(st, "availableReplicas", json_integer(n));
  return st;
}

json_t *idp_sim_daemonset_status(const json_t *ds) {
  json_t *st = json_object();
  json_object_set_new(st, "currentNumberScheduled", json_integer(1));
  json_object_set_new(st, "numberMisscheduled", json_integer(0));
  json_object_set_new(st, "desiredNumberScheduled", json_integer(1));
  json_object_set_new(st, "numberReady", json_integer(1));
  observed(st, ds);
  json_object_set_new(st, "updatedNumberScheduled", json_integer(1));
  json_object_set_new(st, "numberAvailable", json_integer(1));
  return st;
}

static bool has_true_condition(const json_t *obj, const char *type) {
  json_t *c;
  size_t i;
  json_array_foreach(idp_json_get(obj, "status", "conditions", NULL), i, c) {
    const char *t = json_string_value(json_object_get(c, "type"));
    const char *s = json_string_value(json_object_get(c, "status"));
    if (t && s && !strcmp(t, type) && !strcmp(s, "True")) return true;
  }
  return false;
}

bool idp_sim_job_finished(const json_t *job) {
  return has_true_condition(job, "Complete") || has_true_condition(job, "Failed");
}

json_t *idp_sim_job_status(const json_t *job, bool done, const char *now) {
  json_t *st = json_object();
  json_t *conds = json_array();
  if (json_is_true(idp_json_get(job, "spec", "suspend", NULL)) && !done) {
    json_array_append_new(conds, condition("Suspended", "True", "JobSuspended", "Job suspended", now, false));
    json_object_set_new(st, "conditions", conds);
    return st;
  }
  json_t *c = idp_json_get(job, "spec", "completions", NULL);
  json_t *p = idp_json_get(job, "spec", "parallelism", NULL);
  /* completions unset: the Job is done when one pod succeeds */
  long long completions = json_is_integer(c) ? json_integer_value(c) : 1;
  long long parallelism = json_is_integer(p) ? json_integer_value(p) : 1;
  if (completions < 0) completions = 0;
  long long active = parallelism < completions ? parallelism : completions;
  const char *mode = idp_json_get_str(job, "spec", "completionMode", NULL);
  bool indexed = mode && !strcmp(mode, "Indexed");
  json_object_set_new(st, "startTime", json_string(now));
  if (done) {
    json_object_set_new(st, "completionTime", json_string(now));
    set_oe(st, "succeeded", completions);
    if (indexed && completions > 0) {
      char idx[48];
      if (completions == 1) snprintf(idx, sizeof idx, "0");
      else snprintf(idx, sizeof idx, "0-%lld", completions - 1);
      json_object_set_new(st, "completedIndexes", json_string(idx));
    }
    json_object_set_new(st, "ready", json_integer(0));
    const char *msg = "Reached expected number of succeeded pods";
    json_array_append_new(conds, condition("SuccessCriteriaMet", "True", "CompletionsReached", msg, now, false));
    json_array_append_new(conds, condition("Complete", "True", "CompletionsReached", msg, now, false));
    json_object_set_new(st, "conditions", conds);
  } else {
    json_decref(conds);
    set_oe(st, "active", active);
    json_object_set_new(st, "ready", json_integer(active));
  }
  json_object_set_new(st, "terminating", json_integer(0));
  json_object_set_new(st, "uncountedTerminatedPods", json_object());
  return st;
}

static const json_t *find_cond(const json_t *conds, const char *type) {
  json_t *c;
  size_t i;
  json_array_foreach(conds, i, c) {
    const char *t = json_string_value(json_object_get(c, "type"));
    if (t && !strcmp(t, type)) return c;
  }
  return NULL;
}

static bool same_str(const json_t *a, const json_t *b, const char *k) {
  return json_equal(json_object_get(a, k), json_object_get(b, k));
}

static void keep(json_t *dst, const json_t *src, const char *k) {
  json_t *v = json_object_get(src, k);
  if (v && json_object_get(dst, k)) json_object_set(dst, k, v);
}

void idp_sim_keep_times(json_t *desired, const json_t *current) {
  if (!json_is_object(desired) || !json_is_object(current)) return;
  keep(desired, current, "startTime");
  keep(desired, current, "completionTime");
  const json_t *cur = json_object_get(current, "conditions");
  json_t *c;
  size_t i;
  json_array_foreach(json_object_get(desired, "conditions"), i, c) {
    const json_t *old = find_cond(cur, json_string_value(json_object_get(c, "type")));
    if (!old || !same_str(c, old, "status")) continue;
    keep(c, old, "lastTransitionTime");
    if (same_str(c, old, "reason") && same_str(c, old, "message")) {
      keep(c, old, "lastUpdateTime");
      keep(c, old, "lastProbeTime");
    }
  }
}

static uint32_t fnv(const char *s, uint32_t h) {
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 16777619u;
  }
  return h;
}

void idp_sim_pod_name(const char *rs, long long index, char *out, size_t n) {
  static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  char idx[32];
  snprintf(idx, sizeof idx, "/%lld", index);
  uint32_t h = fnv(idx, fnv(rs ? rs : "", 2166136261u));
  char sfx[6];
  for (int i = 0; i < 5; i++) {
    sfx[i] = alphabet[h % (sizeof alphabet - 1)];
    h /= (uint32_t)(sizeof alphabet - 1);
  }
  sfx[5] = 0;
  snprintf(out, n, "%s-%s", rs ? rs : "", sfx);
}

static json_t *pod_cond(const char *type, const char *now) {
  json_t *c = json_object();
  json_object_set_new(c, "type", json_string(type));
  json_object_set_new(c, "status", json_string("True"));
  json_object_set_new(c, "lastProbeTime", json_null());
  json_object_set_new(c, "lastTransitionTime", json_string(now));
  return c;
}

json_t *idp_sim_pod(const json_t *rs, long long index, const char *now) {
  const char *rsname = idp_json_get_str(rs, "metadata", "name", NULL);
  const char *ns = idp_json_get_str(rs, "metadata", "namespace", NULL);
  const char *uid = idp_json_get_str(rs, "metadata", "uid", NULL);
  char name[320];
  idp_sim_pod_name(rsname, index, name, sizeof name);
  json_t *tmpl = idp_json_get(rs, "spec", "template", NULL);

  json_t *md = json_object();
  json_object_set_new(md, "name", json_string(name));
  if (ns) json_object_set_new(md, "namespace", json_string(ns));
  json_t *labels = json_deep_copy(idp_json_get(tmpl, "metadata", "labels", NULL));
  json_object_set_new(md, "labels", json_is_object(labels) ? labels : json_object());
  if (!json_is_object(labels)) json_decref(labels);
  json_t *ann = json_deep_copy(idp_json_get(tmpl, "metadata", "annotations", NULL));
  if (!json_is_object(ann)) {
    json_decref(ann);
    ann = json_object();
  }
  json_object_set_new(ann, IDP_SIM_ANNOTATION, json_string("true"));
  json_object_set_new(md, "annotations", ann);
  json_t *own = json_object();
  json_object_set_new(own, "apiVersion", json_string("apps/v1"));
  json_object_set_new(own, "kind", json_string("ReplicaSet"));
  json_object_set_new(own, "name", json_string(rsname ? rsname : ""));
  json_object_set_new(own, "uid", json_string(uid ? uid : ""));
  json_object_set_new(own, "controller", json_true());
  json_object_set_new(own, "blockOwnerDeletion", json_true());
  json_object_set_new(md, "ownerReferences", json_pack("[o]", own));

  json_t *spec = json_deep_copy(idp_json_get(tmpl, "spec", NULL));
  if (!json_is_object(spec)) {
    json_decref(spec);
    spec = json_object();
  }
  json_object_set_new(spec, "nodeName", json_string(IDP_SIM_NODE));

  uint32_t h = fnv(name, 2166136261u);
  char ip[32];
  snprintf(ip, sizeof ip, "10.244.%u.%u", (unsigned)((h >> 8) & 0xffu), (unsigned)(h % 254u + 1u));
  json_t *st = json_object();
  json_object_set_new(st, "phase", json_string("Running"));
  json_t *conds = json_array();
  static const char *const types[] = {"PodReadyToStartContainers", "Initialized", "Ready",
                                      "ContainersReady", "PodScheduled"};
  for (size_t i = 0; i < sizeof types / sizeof *types; i++)
    json_array_append_new(conds, pod_cond(types[i], now));
  json_object_set_new(st, "conditions", conds);
  json_object_set_new(st, "hostIP", json_string("10.0.0.2"));
  json_object_set_new(st, "hostIPs", json_pack("[{s:s}]", "ip", "10.0.0.2"));
  json_object_set_new(st, "podIP", json_string(ip));
  json_object_set_new(st, "podIPs", json_pack("[{s:s}]", "ip", ip));
  json_object_set_new(st, "startTime", json_string(now));
  json_object_set_new(st, "qosClass", json_string("BestEffort"));
  json_t *cs = json_array(), *c;
  size_t i;
  json_array_foreach(json_object_get(spec, "containers"), i, c) {
    const char *cn = json_string_value(json_object_get(c, "name"));
    const char *img = json_string_value(json_object_get(c, "image"));
    char cid[400];
    snprintf(cid, sizeof cid, "idp://%s/%s", name, cn ? cn : "");
    json_array_append_new(
        cs, json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:i, s:{s:{s:s}}, s:{}}", "name",
                      cn ? cn : "", "image", img ? img : "", "imageID", "", "containerID", cid,
                      "ready", 1, "started", 1, "restartCount", 0, "state", "running",
                      "startedAt", now, "lastState"));
  }
  json_object_set_new(st, "containerStatuses", cs);

  return json_pack("{s:s, s:s, s:o, s:o, s:o}", "apiVersion", "v1", "kind", "Pod", "metadata", md,
                   "spec", spec, "status", st);
}
