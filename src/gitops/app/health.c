#include "core/common.h"

#include "core/json.h"
#include "gitops/app/health.h"

static const char *const names[] = {"Healthy", "Suspended", "Progressing",
                                    "Missing", "Degraded",  "Unknown"};

const char *idp_health_name(idp_health_status s) {
  return (unsigned)s < IDP_ARRAY_LEN(names) ? names[s] : "Unknown";
}

idp_health_status idp_health_parse(const char *s) {
  for (size_t i = 0; s && i < IDP_ARRAY_LEN(names); i++)
    if (strcmp(s, names[i]) == 0) return (idp_health_status)i;
  return IDP_HEALTH_UNKNOWN;
}

static long long num(const json_t *o, const char *dotted, long long dflt) {
  json_t *v = idp_json_path(o, dotted);
  return json_is_integer(v) ? json_integer_value(v) : dflt;
}

static const char *str(const json_t *o, const char *dotted) {
  return json_string_value(idp_json_path(o, dotted));
}

static bool set(idp_health *h, idp_health_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool set(idp_health *h, idp_health_status s, const char *fmt, ...) {
  h->status = s;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(h->message, sizeof h->message, fmt, ap);
  va_end(ap);
  return true;
}

/* The condition of `type` in status.conditions, or NULL. */
static const json_t *condition(const json_t *o, const char *type) {
  json_t *cs = idp_json_path(o, "status.conditions");
  size_t i;
  json_t *c;
  json_array_foreach(cs, i, c) {
    const char *t = json_string_value(json_object_get(c, "type"));
    if (t && strcmp(t, type) == 0) return c;
  }
  return NULL;
}

static bool cond_is(const json_t *c, const char *status) {
  const char *s = c ? json_string_value(json_object_get(c, "status")) : NULL;
  return s && strcmp(s, status) == 0;
}

static const char *cond_msg(const json_t *c) {
  const char *m = c ? json_string_value(json_object_get(c, "message")) : NULL;
  return m ? m : "";
}

static bool generation_observed(const json_t *o) {
  return num(o, "metadata.generation", 0) <= num(o, "status.observedGeneration", -1);
}

static bool deployment(const json_t *o, idp_health *h) {
  json_t *paused = idp_json_path(o, "spec.paused");
  if (json_is_true(paused)) return set(h, IDP_HEALTH_SUSPENDED, "Deployment is paused");
  if (!generation_observed(o))
    return set(h, IDP_HEALTH_PROGRESSING,
               "Waiting for rollout to finish: observed deployment generation less than desired "
               "generation");
  const json_t *pc = condition(o, "Progressing");
  const char *reason = pc ? json_string_value(json_object_get(pc, "reason")) : NULL;
  if (reason && strcmp(reason, "ProgressDeadlineExceeded") == 0)
    return set(h, IDP_HEALTH_DEGRADED, "Deployment %s has exceeded its progress deadline",
               str(o, "metadata.name"));
  long long want = num(o, "spec.replicas", 1), upd = num(o, "status.updatedReplicas", 0),
            rep = num(o, "status.replicas", 0), av = num(o, "status.availableReplicas", 0);
  if (upd < want)
    return set(h, IDP_HEALTH_PROGRESSING,
               "Waiting for rollout to finish: %lld out of %lld new replicas have been updated...",
               upd, want);
  if (rep > upd)
    return set(h, IDP_HEALTH_PROGRESSING,
               "Waiting for rollout to finish: %lld old replicas are pending termination...",
               rep - upd);
  if (av < upd)
    return set(h, IDP_HEALTH_PROGRESSING,
               "Waiting for rollout to finish: %lld of %lld updated replicas are available...", av,
               upd);
  return set(h, IDP_HEALTH_HEALTHY, "%s", "");
}

static bool statefulset(const json_t *o, idp_health *h) {
  long long og = num(o, "status.observedGeneration", 0);
  if (og == 0 || og < num(o, "metadata.generation", 0))
    return set(h, IDP_HEALTH_PROGRESSING, "Waiting for statefulset spec update to be observed...");
  long long want = num(o, "spec.replicas", 1), ready = num(o, "status.readyReplicas", 0);
  if (ready < want)
    return set(h, IDP_HEALTH_PROGRESSING, "Waiting for %lld pods to be ready...", want - ready);
  const char *strategy = str(o, "spec.updateStrategy.type");
  if (strategy && strcmp(strategy, "OnDelete") == 0)
    return set(h, IDP_HEALTH_HEALTHY, "statefulset has %lld ready pods", ready);
  json_t *part = idp_json_path(o, "spec.updateStrategy.rollingUpdate.partition");
  if (json_is_integer(part)) {
    long long need = want - json_integer_value(part);
    if (num(o, "status.updatedReplicas", 0) < need)
      return set(h, IDP_HEALTH_PROGRESSING, "Waiting for partitioned roll out to finish...");
    return set(h, IDP_HEALTH_HEALTHY, "partitioned roll out complete");
  }
  const char *ur = str(o, "status.updateRevision"), *cr = str(o, "status.currentRevision");
  if (ur && cr && strcmp(ur, cr) != 0)
    return set(h, IDP_HEALTH_PROGRESSING, "waiting for statefulset rolling update to complete");
  return set(h, IDP_HEALTH_HEALTHY, "%s", "");
}

static bool daemonset(const json_t *o, idp_health *h) {
  if (!generation_observed(o))
    return set(h, IDP_HEALTH_PROGRESSING,
               "Waiting for rollout to finish: observed daemon set generation less than desired "
               "generation");
  const char *strategy = str(o, "spec.updateStrategy.type");
  if (strategy && strcmp(strategy, "OnDelete") == 0) return set(h, IDP_HEALTH_HEALTHY, "%s", "");
  long long want = num(o, "status.desiredNumberScheduled", 0);
  if (num(o, "status.updatedNumberScheduled", 0) < want)
    return set(h, IDP_HEALTH_PROGRESSING, "Waiting for daemon set rollout to finish");
  if (num(o, "status.numberAvailable", 0) < want)
    return set(h, IDP_HEALTH_PROGRESSING, "Waiting for daemon set pods to be available");
  return set(h, IDP_HEALTH_HEALTHY, "%s", "");
}

static bool replicaset(const json_t *o, idp_health *h) {
  if (!generation_observed(o))
    return set(h, IDP_HEALTH_PROGRESSING,
               "Waiting for rollout to finish: observed replica set generation less than desired "
               "generation");
  const json_t *rf = condition(o, "ReplicaFailure");
  if (cond_is(rf, "True")) return set(h, IDP_HEALTH_DEGRADED, "%s", cond_msg(rf));
  long long want = num(o, "spec.replicas", 1), av = num(o, "status.availableReplicas", 0);
  if (av < want)
    return set(h, IDP_HEALTH_PROGRESSING,
               "Waiting for rollout to finish: %lld out of %lld new replicas are available...", av,
               want);
  return set(h, IDP_HEALTH_HEALTHY, "%s", "");
}

static bool lb_ingress(const json_t *o, idp_health *h) {
  json_t *ing = idp_json_path(o, "status.loadBalancer.ingress");
  if (json_array_size(ing) > 0) return set(h, IDP_HEALTH_HEALTHY, "%s", "");
  return set(h, IDP_HEALTH_PROGRESSING, "Waiting for load balancer ingress");
}

static bool service(const json_t *o, idp_health *h) {
  const char *t = str(o, "spec.type");
  if (t && strcmp(t, "LoadBalancer") == 0) return lb_ingress(o, h);
  return set(h, IDP_HEALTH_HEALTHY, "%s", "");
}

static bool pvc(const json_t *o, idp_health *h) {
  const char *p = str(o, "status.phase");
  static const struct {
    const char *phase;
    idp_health_status s;
  } map[] = {{"Bound", IDP_HEALTH_HEALTHY},
             {"Pending", IDP_HEALTH_PROGRESSING},
             {"Lost", IDP_HEALTH_DEGRADED}};
  for (size_t i = 0; p && i < IDP_ARRAY_LEN(map); i++)
    if (strcmp(p, map[i].phase) == 0) return set(h, map[i].s, "%s", "");
  return set(h, IDP_HEALTH_UNKNOWN, "%s", "");
}

static bool job(const json_t *o, idp_health *h) {
  const json_t *failed = condition(o, "Failed"), *complete = condition(o, "Complete"),
               *susp = condition(o, "Suspended");
  if (cond_is(failed, "True")) return set(h, IDP_HEALTH_DEGRADED, "%s", cond_msg(failed));
  if (cond_is(susp, "True")) return set(h, IDP_HEALTH_SUSPENDED, "%s", cond_msg(susp));
  if (cond_is(complete, "True")) return set(h, IDP_HEALTH_HEALTHY, "%s", cond_msg(complete));
  return set(h, IDP_HEALTH_PROGRESSING, "job is running");
}

static bool suffix(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && strcmp(s + a - b, suf) == 0;
}

static bool pod(const json_t *o, idp_health *h) {
  const char *phase = str(o, "status.phase");
  const char *policy = str(o, "spec.restartPolicy");
  bool always = !policy || strcmp(policy, "Always") == 0;
  json_t *css = idp_json_path(o, "status.containerStatuses");
  size_t i;
  json_t *cs;
  json_array_foreach(css, i, cs) {
    const char *wr = idp_json_get_str(cs, "state", "waiting", "reason", NULL);
    if (wr && (strncmp(wr, "Err", 3) == 0 || suffix(wr, "Error") || suffix(wr, "BackOff")))
      return set(h, IDP_HEALTH_DEGRADED, "%s", wr);
  }
  if (phase && strcmp(phase, "Failed") == 0) return set(h, IDP_HEALTH_DEGRADED, "pod failed");
  if (phase && strcmp(phase, "Succeeded") == 0) return set(h, IDP_HEALTH_HEALTHY, "%s", "");
  if (always && phase && strcmp(phase, "Running") == 0) {
    if (cond_is(condition(o, "Ready"), "True")) return set(h, IDP_HEALTH_HEALTHY, "%s", "");
    return set(h, IDP_HEALTH_PROGRESSING, "pod is not ready");
  }
  return set(h, IDP_HEALTH_PROGRESSING, "pod is %s", phase ? phase : "Pending");
}

static bool hpa(const json_t *o, idp_health *h) {
  /* ScalingActive False with FailedGet* reasons is Degraded; AbleToScale
   * False is Degraded; otherwise Healthy (gitops-engine's hpa.go). */
  const json_t *able = condition(o, "AbleToScale"), *active = condition(o, "ScalingActive");
  if (cond_is(able, "False")) return set(h, IDP_HEALTH_DEGRADED, "%s", cond_msg(able));
  if (cond_is(active, "False")) {
    const char *r = json_string_value(json_object_get(active, "reason"));
    if (r && strncmp(r, "Failed", 6) == 0)
      return set(h, IDP_HEALTH_DEGRADED, "%s", cond_msg(active));
  }
  if (!able && !active) return set(h, IDP_HEALTH_PROGRESSING, "Waiting to autoscale");
  return set(h, IDP_HEALTH_HEALTHY, "%s", "");
}

static bool apiservice(const json_t *o, idp_health *h) {
  const json_t *c = condition(o, "Available");
  if (cond_is(c, "True")) return set(h, IDP_HEALTH_HEALTHY, "%s", cond_msg(c));
  if (c) return set(h, IDP_HEALTH_PROGRESSING, "%s", cond_msg(c));
  return set(h, IDP_HEALTH_PROGRESSING, "Waiting to be processed");
}

static bool application(const json_t *o, idp_health *h) {
  /* The App-of-Apps override Argo CD documents: the child's own health. */
  const char *s = str(o, "status.health.status");
  if (!s) return set(h, IDP_HEALTH_PROGRESSING, "Waiting for the Application's health");
  const char *m = str(o, "status.health.message");
  return set(h, idp_health_parse(s), "%s", m ? m : "");
}

typedef bool (*health_fn)(const json_t *, idp_health *);

/* The kinds with a built-in health check (gitops-engine GetHealthCheckFunc). */
static const struct {
  const char *group, *kind;
  health_fn fn;
} rules[] = {
    {"apps", "Deployment", deployment},
    {"extensions", "Deployment", deployment},
    {"apps", "StatefulSet", statefulset},
    {"apps", "DaemonSet", daemonset},
    {"extensions", "DaemonSet", daemonset},
    {"apps", "ReplicaSet", replicaset},
    {"extensions", "ReplicaSet", replicaset},
    {"", "Service", service},
    {"networking.k8s.io", "Ingress", lb_ingress},
    {"extensions", "Ingress", lb_ingress},
    {"", "PersistentVolumeClaim", pvc},
    {"batch", "Job", job},
    {"", "Pod", pod},
    {"autoscaling", "HorizontalPodAutoscaler", hpa},
    {"apiregistration.k8s.io", "APIService", apiservice},
    {"argoproj.io", "Application", application},
};

bool idp_health_assess(const json_t *obj, idp_health *out) {
  out->message[0] = 0;
  const char *ign = idp_json_get_str(obj, "metadata", "annotations",
                                     "argocd.argoproj.io/ignore-healthcheck", NULL);
  if (ign && strcmp(ign, "true") == 0) return false;
  const char *av = idp_json_get_str(obj, "apiVersion", NULL);
  const char *kind = idp_json_get_str(obj, "kind", NULL);
  if (!av || !kind) return false;
  const char *slash = strchr(av, '/');
  size_t gl = slash ? (size_t)(slash - av) : 0;
  bool known = false;
  for (size_t i = 0; i < IDP_ARRAY_LEN(rules); i++) {
    if (strcmp(rules[i].kind, kind) != 0 || strlen(rules[i].group) != gl ||
        strncmp(rules[i].group, av, gl) != 0)
      continue;
    known = true;
    if (idp_json_get(obj, "metadata", "deletionTimestamp", NULL))
      return set(out, IDP_HEALTH_PROGRESSING, "Pending deletion");
    return rules[i].fn(obj, out);
  }
  if (idp_json_get(obj, "metadata", "deletionTimestamp", NULL))
    return set(out, IDP_HEALTH_PROGRESSING, "Pending deletion");
  /* Custom resources: a Ready (or Available) condition when present. */
  if (!known && gl > 0 && !strstr(av, ".k8s.io/")) {
    const json_t *c = condition(obj, "Ready");
    if (!c) c = condition(obj, "Available");
    if (c) {
      if (cond_is(c, "True")) return set(out, IDP_HEALTH_HEALTHY, "%s", cond_msg(c));
      if (cond_is(c, "False")) return set(out, IDP_HEALTH_DEGRADED, "%s", cond_msg(c));
      return set(out, IDP_HEALTH_PROGRESSING, "%s", cond_msg(c));
    }
  }
  return false;
}
