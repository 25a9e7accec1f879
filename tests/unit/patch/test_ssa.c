/* Server-side apply and managedFields bookkeeping. */
#include "../test.h"
#include "helpers.h"

#define T1 "2026-01-01T00:00:00Z"
#define T2 "2026-01-02T00:00:00Z"
#define T3 "2026-01-03T00:00:00Z"

static const char *deploy_v1 =
    "apiVersion: apps/v1\n"
    "kind: Deployment\n"
    "metadata:\n"
    "  name: web\n"
    "  namespace: default\n"
    "  labels:\n"
    "    app: web\n"
    "    tier: front\n"
    "spec:\n"
    "  replicas: 2\n"
    "  selector:\n"
    "    matchLabels:\n"
    "      app: web\n"
    "  template:\n"
    "    metadata:\n"
    "      labels:\n"
    "        app: web\n"
    "    spec:\n"
    "      containers:\n"
    "      - name: nginx\n"
    "        image: nginx:1.25\n"
    "        ports:\n"
    "        - containerPort: 80\n";

static json_t *apply(const json_t *live, const char *yaml, const char *manager, bool force,
                     const char *now) {
  json_t *cfg = Y(yaml), *out = NULL, *conflicts = NULL;
  idp_err e = IDP_ERR_INIT;
  idp_code rc = idp_ssa(live, cfg, "apps", "Deployment", manager, force, now, &out, &conflicts, &e);
  json_decref(cfg);
  if (rc != IDP_OK) fail_msg("idp_ssa: %s", e.msg);
  assert_null(conflicts);
  return out;
}

static json_t *entry_of(const json_t *obj, const char *manager, const char *op) {
  json_t *mf = idp_json_pointer_get(obj, "/metadata/managedFields");
  size_t i;
  json_t *x;
  json_array_foreach(mf, i, x) {
    if (strcmp(json_string_value(json_object_get(x, "manager")), manager) == 0 &&
        strcmp(json_string_value(json_object_get(x, "operation")), op) == 0)
      return x;
  }
  return NULL;
}

/* Create: the object is the configuration, the entry has Kubernetes'
 * exact FieldsV1 (selector is an atomic struct, ports keyed by
 * containerPort+protocol with the protocol default, name/namespace
 * stripped). */
static void test_create(void **state) {
  (void)state;
  json_t *out = apply(NULL, deploy_v1, "kubectl", false, T1);
  json_t *want = Y(deploy_v1);
  json_t *got = json_deep_copy(out);
  json_object_del(json_object_get(got, "metadata"), "managedFields");
  assert_json(got, want);
  json_t *mf = idp_json_pointer_get(out, "/metadata/managedFields");
  assert_int_equal(json_array_size(mf), 1);
  json_t *en = json_array_get(mf, 0);
  assert_json(json_incref(en),
              J("{\"manager\":\"kubectl\",\"operation\":\"Apply\",\"apiVersion\":\"apps/v1\","
                "\"time\":\"" T1 "\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{"
                "\"f:metadata\":{\"f:labels\":{\"f:app\":{},\"f:tier\":{}}},"
                "\"f:spec\":{\"f:replicas\":{},\"f:selector\":{},\"f:template\":{"
                "\"f:metadata\":{\"f:labels\":{\"f:app\":{}}},\"f:spec\":{\"f:containers\":{"
                "\"k:{\\\"name\\\":\\\"nginx\\\"}\":{\".\":{},\"f:image\":{},\"f:name\":{},"
                "\"f:ports\":{\"k:{\\\"containerPort\\\":80,\\\"protocol\\\":\\\"TCP\\\"}\":"
                "{\".\":{},\"f:containerPort\":{}}}}}}}}}}"));
  /* "." comes first in a member with children, as Kubernetes writes it */
  json_t *item = idp_json_pointer_get(
      en, "/fieldsV1/f:spec/f:template/f:spec/f:containers/k:{\"name\":\"nginx\"}");
  assert_non_null(item);
  void *it = json_object_iter(item);
  assert_string_equal(json_object_iter_key(it), ".");
  json_decref(out);
}

/* Re-applying the same configuration changes nothing, not even the time. */
static void test_reapply_idempotent(void **state) {
  (void)state;
  json_t *one = apply(NULL, deploy_v1, "kubectl", false, T1);
  json_t *two = apply(one, deploy_v1, "kubectl", false, T2);
  assert_json(two, json_incref(one));
  json_decref(one);
}

/* A field the manager applied before and no longer applies is removed. */
static void test_removed_field(void **state) {
  (void)state;
  json_t *one = apply(NULL, deploy_v1, "kubectl", false, T1);
  char *v2 = strdup(deploy_v1);
  char *tier = strstr(v2, "    tier: front\n");
  memmove(tier, tier + strlen("    tier: front\n"), strlen(tier + strlen("    tier: front\n")) + 1);
  json_t *two = apply(one, v2, "kubectl", false, T2);
  free(v2);
  assert_null(idp_json_pointer_get(two, "/metadata/labels/tier"));
  assert_string_equal(json_string_value(idp_json_pointer_get(two, "/metadata/labels/app")), "web");
  json_t *en = entry_of(two, "kubectl", "Apply");
  assert_null(idp_json_pointer_get(en, "/fieldsV1/f:metadata/f:labels/f:tier"));
  assert_string_equal(json_string_value(json_object_get(en, "time")), T2);
  /* dropping a container removes it and its ownership */
  json_t *three = apply(two,
                        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
                        "spec:\n  replicas: 2\n",
                        "kubectl", false, T3);
  assert_null(idp_json_pointer_get(three, "/spec/template"));
  assert_null(idp_json_pointer_get(three, "/spec/selector"));
  assert_null(idp_json_pointer_get(three, "/metadata/labels"));
  assert_string_equal(json_string_value(idp_json_pointer_get(three, "/metadata/name")), "web");
  assert_json(json_incref(idp_json_pointer_get(entry_of(three, "kubectl", "Apply"), "/fieldsV1")),
              J("{\"f:spec\":{\"f:replicas\":{}}}"));
  json_decref(one);
  json_decref(two);
  json_decref(three);
}

/* An object written by client-side apply (Update entry), then applied
 * server-side with another replica count: a 409 naming the other manager
 * and the field; the same value is shared without conflict; force moves
 * the ownership. */
static void test_conflict_and_force(void **state) {
  (void)state;
  json_t *obj = Y(deploy_v1);
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_managed_fields_update(NULL, obj, "apps", "Deployment",
                                             "kubectl-client-side-apply", T1, &e),
                   IDP_OK);
  json_t *upd = entry_of(obj, "kubectl-client-side-apply", "Update");
  assert_non_null(upd);
  assert_non_null(idp_json_pointer_get(upd, "/fieldsV1/f:spec/f:replicas"));
  assert_string_equal(json_string_value(json_object_get(upd, "apiVersion")), "apps/v1");

  const char *cfg3 = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
                     "spec:\n  replicas: 3\n";
  json_t *cfg = Y(cfg3), *out = NULL, *conflicts = NULL;
  assert_int_equal(idp_ssa(obj, cfg, "apps", "Deployment", "kubectl", false, T2, &out,
                           &conflicts, &e),
                   IDP_ECONFLICT);
  assert_null(out);
  assert_json(conflicts, J("[{\"manager\":\"kubectl-client-side-apply\",\"operation\":\"Update\","
                           "\"apiVersion\":\"apps/v1\",\"field\":\".spec.replicas\",\"message\":"
                           "\"conflict with \\\"kubectl-client-side-apply\\\" using apps/v1\"}]"));
  assert_string_equal(e.msg, "Apply failed with 1 conflict: conflict with "
                             "\"kubectl-client-side-apply\" using apps/v1: .spec.replicas");
  json_decref(cfg);

  /* same value: no conflict, both own .spec.replicas */
  json_t *shared = apply(obj, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
                              "spec:\n  replicas: 2\n", "kubectl", false, T2);
  assert_non_null(idp_json_pointer_get(entry_of(shared, "kubectl", "Apply"),
                                       "/fieldsV1/f:spec/f:replicas"));
  assert_non_null(idp_json_pointer_get(entry_of(shared, "kubectl-client-side-apply", "Update"),
                                       "/fieldsV1/f:spec/f:replicas"));
  json_decref(shared);

  json_t *forced = apply(obj, cfg3, "kubectl", true, T2);
  assert_int_equal(json_integer_value(idp_json_pointer_get(forced, "/spec/replicas")), 3);
  assert_null(idp_json_pointer_get(entry_of(forced, "kubectl-client-side-apply", "Update"),
                                   "/fieldsV1/f:spec/f:replicas"));
  assert_non_null(idp_json_pointer_get(entry_of(forced, "kubectl-client-side-apply", "Update"),
                                       "/fieldsV1/f:spec/f:template"));
  assert_non_null(idp_json_pointer_get(entry_of(forced, "kubectl", "Apply"),
                                       "/fieldsV1/f:spec/f:replicas"));
  /* Apply entries sort before Update entries */
  assert_string_equal(
      json_string_value(idp_json_pointer_get(forced, "/metadata/managedFields/0/operation")),
      "Apply");
  json_decref(forced);
  json_decref(obj);
}

/* Several conflicts: Kubernetes' multi-line message. */
static void test_many_conflicts(void **state) {
  (void)state;
  json_t *a = apply(NULL, deploy_v1, "alpha", false, T1);
  json_t *cfg = Y("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n"
                  "    app: other\nspec:\n  replicas: 5\n");
  json_t *out = NULL, *conflicts = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_ssa(a, cfg, "apps", "Deployment", "beta", false, T2, &out, &conflicts,
                           &e),
                   IDP_ECONFLICT);
  assert_int_equal(json_array_size(conflicts), 2);
  assert_string_equal(e.msg, "Apply failed with 2 conflicts: conflicts with \"alpha\":\n"
                             "- .metadata.labels.app\n- .spec.replicas");
  json_decref(conflicts);
  json_decref(cfg);
  json_decref(a);
}

/* Two managers own different items of one associative list. */
static void test_two_managers_list_items(void **state) {
  (void)state;
  const char *base = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
                     "spec:\n  template:\n    spec:\n      containers:\n";
  char a_cfg[512], b_cfg[512];
  snprintf(a_cfg, sizeof a_cfg, "%s      - name: app\n        image: app:1\n", base);
  snprintf(b_cfg, sizeof b_cfg, "%s      - name: sidecar\n        image: proxy:1\n", base);
  json_t *one = apply(NULL, a_cfg, "team-a", false, T1);
  json_t *two = apply(one, b_cfg, "mesh", false, T2);
  json_t *ctrs = idp_json_pointer_get(two, "/spec/template/spec/containers");
  assert_json(json_incref(ctrs), J("[{\"name\":\"app\",\"image\":\"app:1\"},"
                                   "{\"name\":\"sidecar\",\"image\":\"proxy:1\"}]"));
  assert_json(json_incref(idp_json_pointer_get(entry_of(two, "mesh", "Apply"),
                                               "/fieldsV1/f:spec/f:template/f:spec/f:containers")),
              J("{\"k:{\\\"name\\\":\\\"sidecar\\\"}\":{\".\":{},\"f:image\":{},\"f:name\":{}}}"));
  assert_non_null(idp_json_pointer_get(
      entry_of(two, "team-a", "Apply"),
      "/fieldsV1/f:spec/f:template/f:spec/f:containers/k:{\"name\":\"app\"}/f:image"));
  /* team-a changes its own image: no conflict with mesh */
  snprintf(a_cfg, sizeof a_cfg, "%s      - name: app\n        image: app:2\n", base);
  json_t *three = apply(two, a_cfg, "team-a", false, T3);
  assert_string_equal(json_string_value(idp_json_pointer_get(
                          three, "/spec/template/spec/containers/0/image")), "app:2");
  assert_int_equal(json_array_size(idp_json_pointer_get(three, "/spec/template/spec/containers")),
                   2);
  /* mesh stops applying its sidecar: only that item goes */
  json_t *four = apply(three, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
                              "  labels:\n    mesh: \"on\"\n", "mesh", false, T3);
  assert_json(json_incref(idp_json_pointer_get(four, "/spec/template/spec/containers")),
              J("[{\"name\":\"app\",\"image\":\"app:2\"}]"));
  /* mesh touching team-a's image conflicts */
  json_t *cfg = Y("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n"
                  "  template:\n    spec:\n      containers:\n      - name: app\n"
                  "        image: app:evil\n");
  json_t *out = NULL, *conflicts = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_ssa(four, cfg, "apps", "Deployment", "mesh", false, T3, &out, &conflicts,
                           &e),
                   IDP_ECONFLICT);
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(conflicts, 0), "field")),
      ".spec.template.spec.containers[name=\"app\"].image");
  json_decref(conflicts);
  json_decref(cfg);
  json_decref(one);
  json_decref(two);
  json_decref(three);
  json_decref(four);
}

/* Sets (finalizers) use v: elements; live-only items are kept. */
static void test_set_list(void **state) {
  (void)state;
  json_t *live = Y("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  finalizers:\n"
                   "  - keep.example.com\n");
  json_t *cfg = Y("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  finalizers:\n"
                  "  - mine.example.com\ndata:\n  k: v\n");
  json_t *out = NULL, *conflicts = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_ssa(live, cfg, "", "ConfigMap", "op", false, T1, &out, &conflicts, &e),
                   IDP_OK);
  assert_json(json_incref(idp_json_pointer_get(out, "/metadata/finalizers")),
              J("[\"keep.example.com\",\"mine.example.com\"]"));
  assert_json(json_incref(idp_json_pointer_get(out, "/metadata/managedFields/0/fieldsV1")),
              J("{\"f:data\":{\"f:k\":{}},\"f:metadata\":{\"f:finalizers\":{"
                "\"v:\\\"mine.example.com\\\"\":{}}}}"));
  json_decref(out);
  json_decref(cfg);
  json_decref(live);
}

/* Update bookkeeping: changed fields move to the writer, removed fields
 * leave every manager; an unchanged write keeps the time. */
static void test_update_entries(void **state) {
  (void)state;
  json_t *one = apply(NULL, deploy_v1, "kubectl", false, T1);
  json_t *obj = json_deep_copy(one);
  json_object_set_new(json_object_get(obj, "spec"), "replicas", json_integer(4));
  json_object_del(idp_json_pointer_get(obj, "/metadata/labels"), "tier");
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_managed_fields_update(one, obj, "apps", "Deployment",
                                             "kube-controller-manager", T2, &e),
                   IDP_OK);
  json_t *kc = entry_of(obj, "kube-controller-manager", "Update");
  assert_json(json_incref(json_object_get(kc, "fieldsV1")),
              J("{\"f:spec\":{\"f:replicas\":{}}}"));
  assert_string_equal(json_string_value(json_object_get(kc, "time")), T2);
  json_t *ap = entry_of(obj, "kubectl", "Apply");
  assert_null(idp_json_pointer_get(ap, "/fieldsV1/f:spec/f:replicas"));
  assert_null(idp_json_pointer_get(ap, "/fieldsV1/f:metadata/f:labels/f:tier"));
  assert_non_null(idp_json_pointer_get(ap, "/fieldsV1/f:metadata/f:labels/f:app"));
  /* no change: nothing recorded */
  json_t *same = json_deep_copy(obj);
  assert_int_equal(idp_managed_fields_update(obj, same, "apps", "Deployment", "other", T3, &e),
                   IDP_OK);
  assert_json(same, json_incref(obj));
  json_decref(obj);
  json_decref(one);
}

/* Service ports are keyed by port+protocol (protocol defaults to TCP);
 * spec.selector is an atomic map. */
static void test_service_ports(void **state) {
  (void)state;
  json_t *cfg = Y("apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  selector:\n"
                  "    app: web\n  ports:\n  - port: 53\n    protocol: UDP\n  - port: 80\n"
                  "    targetPort: 8080\n");
  json_t *out = NULL, *conflicts = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_ssa(NULL, cfg, "", "Service", "m", false, T1, &out, &conflicts, &e),
                   IDP_OK);
  assert_json(json_incref(idp_json_pointer_get(out, "/metadata/managedFields/0/fieldsV1")),
              J("{\"f:spec\":{\"f:ports\":{"
                "\"k:{\\\"port\\\":53,\\\"protocol\\\":\\\"UDP\\\"}\":{\".\":{},\"f:port\":{},"
                "\"f:protocol\":{}},"
                "\"k:{\\\"port\\\":80,\\\"protocol\\\":\\\"TCP\\\"}\":{\".\":{},\"f:port\":{},"
                "\"f:targetPort\":{}}},\"f:selector\":{}}}"));
  json_decref(cfg);
  /* a second manager adds a port; selector replaced as a whole by its owner */
  cfg = Y("apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  ports:\n"
          "  - port: 443\n");
  json_t *two = NULL;
  assert_int_equal(idp_ssa(out, cfg, "", "Service", "other", false, T2, &two, &conflicts, &e),
                   IDP_OK);
  assert_int_equal(json_array_size(idp_json_pointer_get(two, "/spec/ports")), 3);
  json_decref(cfg);
  cfg = Y("apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  selector:\n"
          "    app: api\n  ports:\n  - port: 53\n    protocol: UDP\n  - port: 80\n"
          "    targetPort: 8080\n");
  json_t *three = NULL;
  assert_int_equal(idp_ssa(two, cfg, "", "Service", "m", false, T3, &three, &conflicts, &e),
                   IDP_OK);
  assert_json(json_incref(idp_json_pointer_get(three, "/spec/selector")), J("{\"app\":\"api\"}"));
  json_decref(cfg);
  json_decref(out);
  json_decref(two);
  json_decref(three);
}

/* Force against another Apply manager moves the field; the loser keeps
 * the rest, and the field is no longer removed when the loser re-applies
 * without it. */
static void test_force_between_appliers(void **state) {
  (void)state;
  json_t *a = apply(NULL, deploy_v1, "argocd-controller", false, T1);
  json_t *b = apply(a, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
                       "spec:\n  replicas: 7\n", "hpa", true, T2);
  assert_null(idp_json_pointer_get(entry_of(b, "argocd-controller", "Apply"),
                                   "/fieldsV1/f:spec/f:replicas"));
  assert_non_null(idp_json_pointer_get(entry_of(b, "hpa", "Apply"),
                                       "/fieldsV1/f:spec/f:replicas"));
  /* argocd re-applies without replicas: hpa still owns it, value stays */
  char *v2 = strdup(deploy_v1);
  char *r = strstr(v2, "  replicas: 2\n");
  memmove(r, r + strlen("  replicas: 2\n"), strlen(r + strlen("  replicas: 2\n")) + 1);
  json_t *c = apply(b, v2, "argocd-controller", false, T3);
  free(v2);
  assert_int_equal(json_integer_value(idp_json_pointer_get(c, "/spec/replicas")), 7);
  json_decref(a);
  json_decref(b);
  json_decref(c);
}

/* A write that carries rewritten managedFields (kubectl's client-side to
 * server-side apply migration) starts from those entries. */
static void test_update_with_client_entries(void **state) {
  (void)state;
  json_t *old = Y(deploy_v1);
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_managed_fields_update(NULL, old, "apps", "Deployment",
                                             "kubectl-client-side-apply", T1, &e),
                   IDP_OK);
  json_t *obj = json_deep_copy(old);
  json_t *mf = idp_json_pointer_get(obj, "/metadata/managedFields/0");
  json_object_set_new(mf, "manager", json_string("kubectl"));
  json_object_set_new(mf, "operation", json_string("Apply"));
  assert_int_equal(idp_managed_fields_update(old, obj, "apps", "Deployment", "kubectl", T2, &e),
                   IDP_OK);
  assert_non_null(entry_of(obj, "kubectl", "Apply"));
  assert_null(entry_of(obj, "kubectl-client-side-apply", "Update"));
  assert_null(entry_of(obj, "kubectl", "Update"));
  json_decref(old);
  json_decref(obj);
}

/* A custom resource with a schema: list types from the CRD decide. */
static void test_crd_schema(void **state) {
  (void)state;
  json_t *schema = Y("type: object\nproperties:\n  spec:\n    type: object\n    properties:\n"
                     "      ports:\n        type: array\n        x-kubernetes-list-type: map\n"
                     "        x-kubernetes-list-map-keys: [name, proto]\n        items:\n"
                     "          type: object\n          properties:\n            name: {type: string}\n"
                     "            proto: {type: string, default: tcp}\n"
                     "      tags:\n        type: array\n        x-kubernetes-list-type: set\n"
                     "        items: {type: string}\n"
                     "      args:\n        type: array\n        items: {type: string}\n"
                     "      sel:\n        type: object\n        x-kubernetes-map-type: atomic\n"
                     "        additionalProperties: {type: string}\n");
  json_t *c1 = Y("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n"
                 "  finalizers: [f1]\nspec:\n  ports:\n  - name: a\n    num: 1\n  tags: [x]\n"
                 "  args: [p, q]\n  sel:\n    k1: v1\n");
  json_t *one = NULL, *two = NULL, *conflicts = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_ssa_ex(NULL, c1, "example.com", "Widget", schema, "m1", false, T1, &one,
                              &conflicts, &e),
                   IDP_OK);
  assert_json(json_incref(idp_json_pointer_get(one, "/metadata/managedFields/0/fieldsV1")),
              J("{\"f:metadata\":{\"f:finalizers\":{\"v:\\\"f1\\\"\":{}}},\"f:spec\":{"
                "\"f:args\":{},\"f:ports\":{\"k:{\\\"name\\\":\\\"a\\\",\\\"proto\\\":"
                "\\\"tcp\\\"}\":{\".\":{},\"f:name\":{},\"f:num\":{}}},\"f:sel\":{},"
                "\"f:tags\":{\"v:\\\"x\\\"\":{}}}}"));
  json_t *c2 = Y("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n"
                 "  ports:\n  - name: b\n  tags: [z2]\n");
  assert_int_equal(idp_ssa_ex(one, c2, "example.com", "Widget", schema, "m2", false, T2, &two,
                              &conflicts, &e),
                   IDP_OK);
  assert_json(json_incref(idp_json_pointer_get(two, "/spec/tags")), J("[\"x\",\"z2\"]"));
  assert_int_equal(json_array_size(idp_json_pointer_get(two, "/spec/ports")), 2);
  json_decref(c2);
  /* args is atomic (no list type): another value conflicts as a whole */
  c2 = Y("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n"
         "  args: [r]\n");
  json_t *three = NULL;
  assert_int_equal(idp_ssa_ex(two, c2, "example.com", "Widget", schema, "m2", false, T3, &three,
                              &conflicts, &e),
                   IDP_ECONFLICT);
  assert_string_equal(json_string_value(json_object_get(json_array_get(conflicts, 0), "field")),
                      ".spec.args");
  json_decref(conflicts);
  json_decref(c2);
  json_decref(c1);
  json_decref(one);
  json_decref(two);
  json_decref(schema);
}

static void test_errors(void **state) {
  (void)state;
  json_t *cfg = Y("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n"
                  "  template:\n    spec:\n      containers:\n      - image: x\n");
  json_t *out = NULL, *conflicts = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_ssa(NULL, cfg, "apps", "Deployment", "m", false, T1, &out, &conflicts, &e),
                   IDP_EINVALID);
  assert_non_null(strstr(e.msg, "spec.template.spec.containers"));
  assert_non_null(strstr(e.msg, "\"name\""));
  json_decref(cfg);
  cfg = Y("apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n"
          "      containers:\n      - name: a\n      - name: a\n");
  assert_int_equal(idp_ssa(NULL, cfg, "apps", "Deployment", "m", false, T1, &out, &conflicts, &e),
                   IDP_EINVALID);
  assert_non_null(strstr(e.msg, "duplicate"));
  assert_int_equal(idp_ssa(NULL, cfg, "apps", "Deployment", "", false, T1, &out, &conflicts, &e),
                   IDP_EINVAL);
  json_decref(cfg);
  json_t *live = Y("metadata:\n  managedFields:\n  - manager: x\n    fieldsType: FieldsV2\n");
  cfg = Y("metadata:\n  name: a\n");
  assert_int_equal(idp_ssa(live, cfg, "", "ConfigMap", "m", false, T1, &out, &conflicts, &e),
                   IDP_EINVAL);
  assert_non_null(strstr(e.msg, "managedFields[0]"));
  json_decref(cfg);
  json_decref(live);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_create),
      cmocka_unit_test(test_reapply_idempotent),
      cmocka_unit_test(test_removed_field),
      cmocka_unit_test(test_conflict_and_force),
      cmocka_unit_test(test_many_conflicts),
      cmocka_unit_test(test_two_managers_list_items),
      cmocka_unit_test(test_set_list),
      cmocka_unit_test(test_update_entries),
      cmocka_unit_test(test_service_ports),
      cmocka_unit_test(test_force_between_appliers),
      cmocka_unit_test(test_update_with_client_entries),
      cmocka_unit_test(test_crd_schema),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
