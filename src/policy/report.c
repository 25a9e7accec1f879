/* report.c: wgpolicyk8s.io/v1alpha2 PolicyReport / ClusterPolicyReport,
 * one per resource (Kyverno's aggregated reports): scope names the
 * resource, results carry policy, rule, category and severity from the
 * policy annotations, and the summary counts each result value. */
#include "core/common.h"

#include "core/json.h"
#include "policy/internal.h"

json_t *pol_report_new(const json_t *resource) {
  const char *ns = idp_json_get_str(resource, "metadata", "namespace", NULL);
  const char *uid = idp_json_get_str(resource, "metadata", "uid", NULL);
  const char *name = idp_json_get_str(resource, "metadata", "name", NULL);
  json_t *scope = json_object();
  static const char *const fields[] = {"apiVersion", "kind"};
  for (size_t i = 0; i < 2; i++) {
    const char *v = idp_json_get_str(resource, fields[i], NULL);
    if (v) json_object_set_new(scope, fields[i], json_string(v));
  }
  if (name) json_object_set_new(scope, "name", json_string(name));
  if (ns) json_object_set_new(scope, "namespace", json_string(ns));
  if (uid) json_object_set_new(scope, "uid", json_string(uid));
  json_t *meta = json_pack("{s:s,s:{s:s}}", "name", uid ? uid : (name ? name : ""), "labels",
                           "app.kubernetes.io/managed-by", "kyverno");
  if (ns) json_object_set_new(meta, "namespace", json_string(ns));
  return json_pack("{s:s,s:s,s:o,s:o,s:{s:i,s:i,s:i,s:i,s:i},s:[]}", "apiVersion",
                   "wgpolicyk8s.io/v1alpha2", "kind", ns ? "PolicyReport" : "ClusterPolicyReport",
                   "metadata", meta, "scope", scope, "summary", "pass", 0, "fail", 0, "warn", 0,
                   "error", 0, "skip", 0, "results");
}

void pol_report_add(json_t *report, const pol_policy *p, const pol_rule_result *r,
                    long long seconds) {
  const json_t *ann = idp_json_get(p->doc, "metadata", "annotations", NULL);
  char pname[600];
  if (p->namespaced)
    snprintf(pname, sizeof pname, "%s/%s", p->ns ? p->ns : "", p->name);
  else
    snprintf(pname, sizeof pname, "%s", p->name);
  const char *status = pol_status_name(r->status);
  json_t *res = json_pack("{s:s,s:s,s:s,s:s,s:b,s:s,s:{s:s},s:{s:I,s:i}}", "source", "kyverno",
                          "policy", pname, "rule", r->rule, "result", status, "scored",
                          p->scored, "message", r->message, "properties", "process",
                          "background scan", "timestamp", "seconds", (json_int_t)seconds,
                          "nanos", 0);
  const char *cat = idp_json_get_str(ann, "policies.kyverno.io/category", NULL);
  const char *sev = idp_json_get_str(ann, "policies.kyverno.io/severity", NULL);
  if (cat) json_object_set_new(res, "category", json_string(cat));
  if (sev) json_object_set_new(res, "severity", json_string(sev));
  json_array_append_new(json_object_get(report, "results"), res);
  json_t *summary = json_object_get(report, "summary");
  json_t *n = json_object_get(summary, status);
  if (json_is_integer(n)) json_integer_set(n, json_integer_value(n) + 1);
}
