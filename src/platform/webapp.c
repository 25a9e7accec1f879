#include "core/common.h"

#include "core/json.h"
#include "platform/internal.h"
#include "platform/platform.h"

/* WebApplication -> desired objects (pure).  See platform.h. */

static const char *str_or(const json_t *o, const char *key, const char *def) {
  const char *s = json_string_value(json_object_get(o, key));
  return s && *s ? s : def;
}

static json_int_t int_or(const json_t *o, const char *key, json_int_t def) {
  json_t *v = json_object_get(o, key);
  return json_is_integer(v) ? json_integer_value(v) : def;
}

static bool bool_or(const json_t *o, const char *key, bool def) {
  json_t *v = json_object_get(o, key);
  return json_is_boolean(v) ? json_is_true(v) : def;
}

void idp_webapp_url(const json_t *app, char *buf, size_t n) {
  const json_t *route = idp_json_get(app, "spec", "route", NULL);
  const char *host = str_or(route, "host", NULL);
  if (!host) {
    if (n) buf[0] = 0;
    return;
  }
  const char *path = str_or(route, "path", "/");
  snprintf(buf, n, "%s://%s%s%s", bool_or(route, "tls", true) ? "https" : "http", host,
           path[0] == '/' ? "" : "/", path);
}

static json_t *mkobj(const char *api, const char *kind, const char *name, const char *ns,
                     const json_t *labels, const json_t *owner) {
  json_t *o = json_pack("{s:s,s:s,s:o}", "apiVersion", api, "kind", kind, "metadata",
                        pl_meta(name, ns, json_deep_copy(labels), (json_t *)owner));
  return o;
}

/* envFrom of the container: configMapRef, secretRef, externalSecretRef (its
 * target Secret), then the database connection Secret. */
static json_t *env_from(const json_t *spec, const json_t *es_targets, const char *db_secret) {
  json_t *out = json_array(), *it;
  size_t i;
  json_array_foreach(json_object_get(spec, "envFrom"), i, it) {
    const char *cm = str_or(it, "configMapRef", NULL), *s = str_or(it, "secretRef", NULL);
    const char *es = str_or(it, "externalSecretRef", NULL);
    if (cm) json_array_append_new(out, json_pack("{s:{s:s}}", "configMapRef", "name", cm));
    if (s) json_array_append_new(out, json_pack("{s:{s:s}}", "secretRef", "name", s));
    if (es) {
      const char *t = json_string_value(json_object_get(es_targets, es));
      json_array_append_new(out, json_pack("{s:{s:s}}", "secretRef", "name", t ? t : es));
    }
  }
  if (db_secret) json_array_append_new(out, json_pack("{s:{s:s}}", "secretRef", "name", db_secret));
  return out;
}

idp_code idp_webapp_objects(const json_t *app, const idp_platform_opts *o,
                            const json_t *es_targets, json_t **out, idp_err *e) {
  *out = NULL;
  const char *n = idp_json_get_str(app, "metadata", "name", NULL);
  const char *ns = idp_json_get_str(app, "metadata", "namespace", NULL);
  if (!n || !*n) return idp_err_set(e, IDP_EINVALID, "WebApplication: metadata.name is required");
  if (!ns || !*ns) ns = "default";
  const json_t *spec = json_object_get(app, "spec");
  const json_t *image = json_object_get(spec, "image");
  const char *repo = str_or(image, "repository", NULL), *tag = str_or(image, "tag", NULL);
  if (!repo || !tag)
    return idp_err_set(e, IDP_EINVALID, "WebApplication %s/%s: spec.image.%s: Required value",
                       ns, n, !repo ? "repository" : "tag");
  const char *gw_ns = o && o->gateway_namespace ? o->gateway_namespace : "kube-system";
  const char *gw = o && o->gateway_name ? o->gateway_name : "idp-gateway";
  const char *claim_api = o && o->claim_api_version ? o->claim_api_version : PL_GROUP "/" PL_VERSION;
  const char *claim_kind = o && o->claim_kind ? o->claim_kind : "PostgreSQLInstance";

  json_int_t replicas = int_or(spec, "replicas", 2), port = int_or(spec, "port", 8080);
  const json_t *as = json_object_get(spec, "autoscaling");
  bool as_on = bool_or(as, "enabled", false);
  json_int_t as_min = int_or(as, "minReplicas", 2), as_max = int_or(as, "maxReplicas", 10);
  const json_t *mon = json_object_get(spec, "monitoring");
  bool mon_on = bool_or(mon, "enabled", true);
  json_int_t mon_port = int_or(mon, "port", 9090);
  const json_t *route = json_object_get(spec, "route");
  const char *host = str_or(route, "host", NULL);
  const json_t *db = json_object_get(spec, "database");
  const char *db_type = str_or(db, "type", NULL);
  char db_secret[300];
  snprintf(db_secret, sizeof db_secret, "%s-db", n);

  /* labels: the WebApplication's own (part-of, team…) plus the recommended ones */
  json_t *labels = json_object();
  const char *k;
  json_t *v;
  json_object_foreach(idp_json_get(app, "metadata", "labels", NULL), k, v)
    json_object_set(labels, k, v);
  json_object_set_new(labels, "app.kubernetes.io/name", json_string(n));
  json_object_set_new(labels, "app.kubernetes.io/instance", json_string(n));
  json_object_set_new(labels, "app.kubernetes.io/managed-by", json_string(PL_MANAGER));
  if (!json_object_get(labels, "app.kubernetes.io/part-of"))
    json_object_set_new(labels, "app.kubernetes.io/part-of", json_string(n));
  json_t *sel = json_pack("{s:s,s:s}", "app.kubernetes.io/name", n, "app.kubernetes.io/instance", n);
  json_t *owner = pl_owner_ref(app);
  json_t *res = json_array();

  /* Deployment */
  char img[1024];
  snprintf(img, sizeof img, "%s:%s", repo, tag);
  json_t *ports = json_pack("[{s:s,s:I,s:s}]", "name", "http", "containerPort", port, "protocol", "TCP");
  bool metrics_port = mon_on && mon_port != port;
  if (metrics_port)
    json_array_append_new(ports, json_pack("{s:s,s:I,s:s}", "name", "metrics", "containerPort",
                                           mon_port, "protocol", "TCP"));
  const json_t *probes = json_object_get(spec, "probes");
  json_t *c = json_pack(
      "{s:s,s:s,s:s,s:o,s:{s:{s:s,s:s},s:i,s:i},s:{s:{s:s,s:s},s:i,s:i},"
      "s:{s:b,s:b,s:b,s:{s:[s]},s:{s:s}},s:[{s:s,s:s}]}",
      "name", "app", "image", img, "imagePullPolicy", str_or(image, "pullPolicy", "IfNotPresent"),
      "ports", ports, "livenessProbe", "httpGet", "path", str_or(probes, "liveness", "/healthz"),
      "port", "http", "initialDelaySeconds", 10, "periodSeconds", 10, "readinessProbe",
      "httpGet", "path", str_or(probes, "readiness", "/readyz"), "port", "http",
      "initialDelaySeconds", 5, "periodSeconds", 5, "securityContext",
      "allowPrivilegeEscalation", 0, "readOnlyRootFilesystem", 1, "runAsNonRoot", 1,
      "capabilities", "drop", "ALL", "seccompProfile", "type", "RuntimeDefault", "volumeMounts",
      "name", "tmp", "mountPath", "/tmp");
  json_t *env = json_object_get(spec, "env");
  if (json_is_array(env) && json_array_size(env)) json_object_set_new(c, "env", json_deep_copy(env));
  json_t *ef = env_from(spec, es_targets, db_type ? db_secret : NULL);
  if (json_array_size(ef)) json_object_set_new(c, "envFrom", ef);
  else json_decref(ef);
  json_t *resources = json_object_get(spec, "resources");
  if (json_is_object(resources)) json_object_set_new(c, "resources", json_deep_copy(resources));

  json_t *dep = mkobj("apps/v1", "Deployment", n, ns, labels, owner);
  json_t *pod = json_pack(
      "{s:{s:O},s:{s:b,s:{s:b,s:i,s:i,s:i,s:{s:s}},s:[o],s:[{s:s,s:{}}]}}", "metadata",
      "labels", labels, "spec", "automountServiceAccountToken", 0, "securityContext",
      "runAsNonRoot", 1, "runAsUser", 10001, "runAsGroup", 10001, "fsGroup", 10001,
      "seccompProfile", "type", "RuntimeDefault", "containers", c, "volumes", "name", "tmp",
      "emptyDir");
  json_t *dspec = json_pack("{s:{s:O},s:o}", "selector", "matchLabels", sel, "template", pod);
  /* with an HPA the replica count is the HPA's: leaving it out avoids a tug of war */
  if (!as_on) json_object_set_new(dspec, "replicas", json_integer(replicas));
  json_object_set_new(dep, "spec", dspec);
  json_array_append_new(res, dep);

  /* Service */
  json_t *sports = json_pack("[{s:s,s:i,s:s,s:s}]", "name", "http", "port", 80, "targetPort",
                             "http", "protocol", "TCP");
  if (metrics_port)
    json_array_append_new(sports, json_pack("{s:s,s:I,s:s,s:s}", "name", "metrics", "port",
                                            mon_port, "targetPort", "metrics", "protocol", "TCP"));
  json_t *svc = mkobj("v1", "Service", n, ns, labels, owner);
  json_object_set_new(svc, "spec", json_pack("{s:s,s:O,s:o}", "type", "ClusterIP", "selector",
                                             sel, "ports", sports));
  json_array_append_new(res, svc);

  if (as_on) {
    json_t *hpa = mkobj("autoscaling/v2", "HorizontalPodAutoscaler", n, ns, labels, owner);
    json_object_set_new(
        hpa, "spec",
        json_pack("{s:{s:s,s:s,s:s},s:I,s:I,s:[{s:s,s:{s:s,s:{s:s,s:I}}}]}", "scaleTargetRef",
                  "apiVersion", "apps/v1", "kind", "Deployment", "name", n, "minReplicas",
                  as_min, "maxReplicas", as_max, "metrics", "type", "Resource", "resource",
                  "name", "cpu", "target", "type", "Utilization", "averageUtilization",
                  int_or(as, "targetCPUUtilization", 70)));
    json_array_append_new(res, hpa);
  }

  if ((as_on ? as_min : replicas) > 1) {
    json_t *pdb = mkobj("policy/v1", "PodDisruptionBudget", n, ns, labels, owner);
    json_object_set_new(pdb, "spec", json_pack("{s:i,s:{s:O}}", "maxUnavailable", 1,
                                               "selector", "matchLabels", sel));
    json_array_append_new(res, pdb);
  }

  if (host) {
    const char *path = str_or(route, "path", "/");
    json_t *r;
    if (o && o->istio) {
      char gwref[600], dst[600];
      snprintf(gwref, sizeof gwref, "%s/%s", gw_ns, gw);
      snprintf(dst, sizeof dst, "%s.%s.svc.cluster.local", n, ns);
      r = mkobj("networking.istio.io/v1beta1", "VirtualService", n, ns, labels, owner);
      json_object_set_new(
          r, "spec",
          json_pack("{s:[s],s:[s],s:[{s:[{s:{s:s}}],s:[{s:{s:s,s:{s:i}}}]}]}", "hosts", host,
                    "gateways", gwref, "http", "match", "uri", "prefix", path, "route",
                    "destination", "host", dst, "port", "number", 80));
    } else {
      r = mkobj("gateway.networking.k8s.io/v1", "HTTPRoute", n, ns, labels, owner);
      json_object_set_new(
          r, "spec",
          json_pack("{s:[{s:s,s:s}],s:[s],s:[{s:[{s:{s:s,s:s}}],s:[{s:s,s:i}]}]}",
                    "parentRefs", "name", gw, "namespace", gw_ns, "hostnames", host, "rules",
                    "matches", "path", "type", "PathPrefix", "value", path, "backendRefs",
                    "name", n, "port", 80));
    }
    json_array_append_new(res, r);
  }

  if (mon_on) {
    json_t *sm = mkobj("monitoring.coreos.com/v1", "ServiceMonitor", n, ns, labels, owner);
    json_object_set_new(sm, "spec",
                        json_pack("{s:{s:O},s:[{s:s,s:s,s:s}]}", "selector", "matchLabels", sel,
                                  "endpoints", "port", metrics_port ? "metrics" : "http", "path",
                                  str_or(mon, "path", "/metrics"), "interval", "30s"));
    json_array_append_new(res, sm);
  }

  if (db_type) {
    json_t *claim = mkobj(claim_api, claim_kind, db_secret, ns, labels, owner);
    json_object_set_new(claim, "spec",
                        json_pack("{s:{s:s,s:s},s:{s:s}}", "parameters", "engine", db_type,
                                  "size", str_or(db, "size", "small"),
                                  "writeConnectionSecretToRef", "name", db_secret));
    json_array_append_new(res, claim);
  }

  json_decref(labels);
  json_decref(sel);
  json_decref(owner);
  *out = res;
  return IDP_OK;
}
