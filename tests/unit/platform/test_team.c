#include "../test.h"

#include "check.h"
#include "core/yaml.h"
#include "platform/platform.h"

static const char team_yaml[] =
    "apiVersion: platform.idp.io/v1alpha1\n"
    "kind: Team\n"
    "metadata: {name: backend, uid: u-1}\n"
    "spec:\n"
    "  description: Order APIs\n"
    "  owner: {name: Backend Team, email: backend@example.com, slack: '#backend'}\n"
    "  members: [{name: bob, role: developer}, {name: vic, role: viewer}]\n"
    "  groups: [{name: backend-engineers, role: developer}]\n"
    "  resourceQuota:\n"
    "    requests: {cpu: '8', memory: 16Gi}\n"
    "    limits: {cpu: 16, memory: 32Gi}\n"
    "    pods: 40\n"
    "    secrets: '30'\n"
    "  limitRange:\n"
    "    default: {cpu: 500m, memory: 512Mi}\n"
    "    defaultRequest: {cpu: 100m}\n"
    "    max: {cpu: '4'}\n"
    "  networkPolicy: {allowIngress: true, allowEgress: true, allowFromNamespaces: [team-frontend, monitoring]}\n"
    "  nodeSelector: {pool: batch}\n"
    "  tolerations: [{key: dedicated, value: batch, effect: NoSchedule}]\n"
    "  apps:\n"
    "  - {name: api, repoURL: 'https://git.example/backend.git', path: apps/api, environment: production}\n"
    "  - {name: jobs, repoURL: 'https://git.example/backend.git', path: apps/jobs, targetRevision: v1}\n";

static json_t *load(const char *y) {
  json_t *doc = NULL;
  idp_err e = IDP_ERR_INIT;
  if (idp_yaml_load_one(y, strlen(y), "t", NULL, &doc, &e)) fail_msg("%s", e.msg);
  return doc;
}

static void test_full_team(void **st) {
  (void)st;
  json_t *team = load(team_yaml), *objs = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_team_objects(team, NULL, true, &objs, &e), IDP_OK);
  static const check_row rows[] = {
      {"Namespace", "team-backend", "metadata|labels|platform.idp.io/team", "\"backend\""},
      {"Namespace", "team-backend", "metadata|labels|platform.idp.io/managed-by", "\"team-controller\""},
      {"Namespace", "team-backend", "metadata|labels|pod-security.kubernetes.io/enforce", "\"restricted\""},
      {"Namespace", "team-backend", "metadata|labels|pod-security.kubernetes.io/warn", "\"restricted\""},
      {"Namespace", "team-backend", "metadata|labels|pod-security.kubernetes.io/audit", "\"restricted\""},
      {"Namespace", "team-backend", "metadata|annotations|platform.idp.io/owner-email", "\"backend@example.com\""},
      {"Namespace", "team-backend", "metadata|annotations|scheduler.alpha.kubernetes.io/node-selector", "\"pool=batch\""},
      {"Namespace", "team-backend", "metadata|annotations|scheduler.alpha.kubernetes.io/defaultTolerations",
       "\"[{\\\"key\\\":\\\"dedicated\\\",\\\"value\\\":\\\"batch\\\",\\\"effect\\\":\\\"NoSchedule\\\"}]\""},
      {"Namespace", "team-backend", "metadata|ownerReferences|0|kind", "\"Team\""},
      {"Namespace", "team-backend", "metadata|ownerReferences|0|uid", "\"u-1\""},
      {"ResourceQuota", "backend-quota", "metadata|namespace", "\"team-backend\""},
      {"ResourceQuota", "backend-quota", "spec|hard",
       "{\"requests.cpu\":\"8\",\"requests.memory\":\"16Gi\",\"limits.cpu\":\"16\",\"limits.memory\":\"32Gi\",\"pods\":\"40\",\"secrets\":\"30\"}"},
      {"LimitRange", "backend-limits", "spec|limits",
       "[{\"type\":\"Container\",\"default\":{\"cpu\":\"500m\",\"memory\":\"512Mi\"},\"defaultRequest\":{\"cpu\":\"100m\"},\"max\":{\"cpu\":\"4\"}}]"},
      {"NetworkPolicy", "default-deny-all", "spec", "{\"podSelector\":{},\"policyTypes\":[\"Ingress\",\"Egress\"]}"},
      {"NetworkPolicy", "allow-dns", "spec|egress|0|ports", "[{\"protocol\":\"UDP\",\"port\":53},{\"protocol\":\"TCP\",\"port\":53}]"},
      {"NetworkPolicy", "allow-dns", "spec|egress|0|to|0|podSelector|matchLabels|k8s-app", "\"kube-dns\""},
      {"NetworkPolicy", "allow-same-namespace", "spec|ingress", "[{\"from\":[{\"podSelector\":{}}]}]"},
      {"NetworkPolicy", "allow-from-namespaces", "spec|ingress|0|from",
       "[{\"namespaceSelector\":{\"matchLabels\":{\"kubernetes.io/metadata.name\":\"team-frontend\"}}},"
       "{\"namespaceSelector\":{\"matchLabels\":{\"kubernetes.io/metadata.name\":\"monitoring\"}}},"
       "{\"namespaceSelector\":{\"matchLabels\":{\"kubernetes.io/metadata.name\":\"kube-system\"}}}]"},
      {"NetworkPolicy", "allow-from-namespaces", "spec|policyTypes", "[\"Ingress\",\"Egress\"]"},
      {"NetworkPolicy", "allow-from-namespaces", "spec|egress", "[{}]"},
      {"ServiceAccount", "backend-workload", "automountServiceAccountToken", "false"},
      {"Role", "developer", "rules|3", "{\"apiGroups\":[\"\"],\"resources\":[\"secrets\"],\"verbs\":[\"get\",\"list\",\"watch\"]}"},
      {"RoleBinding", "developer", "subjects",
       "[{\"kind\":\"User\",\"apiGroup\":\"rbac.authorization.k8s.io\",\"name\":\"bob\"},"
       "{\"kind\":\"Group\",\"apiGroup\":\"rbac.authorization.k8s.io\",\"name\":\"backend-engineers\"}]"},
      {"RoleBinding", "viewer", "roleRef|name", "\"viewer\""},
      {"RoleBinding", "viewer", "subjects|0|name", "\"vic\""},
      {"AppProject", "team-backend", "metadata|namespace", "\"argocd\""},
      {"AppProject", "team-backend", "spec|sourceRepos", "[\"https://git.example/backend.git\"]"},
      {"AppProject", "team-backend", "spec|destinations", "[{\"server\":\"https://kubernetes.default.svc\",\"namespace\":\"team-backend\"}]"},
      {"AppProject", "team-backend", "spec|clusterResourceWhitelist", "[]"},
      {"AppProject", "team-backend", "spec|namespaceResourceBlacklist|2", "{\"group\":\"networking.k8s.io\",\"kind\":\"NetworkPolicy\"}"},
      {"AppProject", "team-backend", "spec|roles|0|groups", "[\"backend-engineers\"]"},
      {"AppProject", "team-backend", "spec|roles|1|policies", "[\"p, proj:team-backend:viewer, applications, get, team-backend/*, allow\",\"p, proj:team-backend:viewer, logs, get, team-backend/*, allow\"]"},
      {"Application", "backend-api", "spec|project", "\"team-backend\""},
      {"Application", "backend-api", "spec|source", "{\"repoURL\":\"https://git.example/backend.git\",\"path\":\"apps/api\",\"targetRevision\":\"HEAD\"}"},
      {"Application", "backend-api", "spec|destination|namespace", "\"team-backend\""},
      {"Application", "backend-api", "spec|syncPolicy|automated", "{\"prune\":true,\"selfHeal\":true}"},
      {"Application", "backend-api", "metadata|labels|environment", "\"production\""},
      {"Application", "backend-jobs", "metadata|labels|environment", "\"development\""},
      {"Application", "backend-jobs", "spec|source|targetRevision", "\"v1\""},
  };
  run_checks(objs, rows, sizeof rows / sizeof rows[0]);
  /* viewer cannot read secrets */
  const json_t *viewer = find_obj(objs, "Role", "viewer");
  char *txt = json_dumps(viewer, JSON_COMPACT);
  assert_null(strstr(txt, "\"secrets\""));
  assert_null(strstr(txt, "\"create\""));
  free(txt);
  assert_int_equal(json_array_size(objs), 15);
  json_decref(objs);
  /* without Argo CD: no AppProject / Application */
  assert_int_equal(idp_team_objects(team, NULL, false, &objs, &e), IDP_OK);
  assert_null(find_obj(objs, "AppProject", "team-backend"));
  assert_int_equal(json_array_size(objs), 12);
  json_decref(objs);
  json_decref(team);
}

/* CRD defaults when networkPolicy is absent: no ingress from outside, egress allowed */
static void test_minimal_team(void **st) {
  (void)st;
  json_t *team = load("kind: Team\nmetadata: {name: x}\nspec: {owner: {name: X, email: x@y}}\n");
  json_t *objs = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_team_objects(team, NULL, true, &objs, &e), IDP_OK);
  static const check_row rows[] = {
      {"Namespace", "team-x", "metadata|ownerReferences", NULL},
      {"NetworkPolicy", "allow-from-namespaces", "spec|ingress", "[]"},
      {"NetworkPolicy", "allow-from-namespaces", "spec|egress", "[{}]"},
      {"AppProject", "team-x", "spec|sourceRepos", "[]"},
  };
  run_checks(objs, rows, sizeof rows / sizeof rows[0]);
  assert_null(find_obj(objs, "ResourceQuota", "x-quota"));
  assert_null(find_obj(objs, "RoleBinding", "developer"));
  json_decref(objs);
  json_decref(team);
  team = load("kind: Team\nmetadata: {name: why}\nspec: {owner: {name: X, email: x@y}, networkPolicy: {allowEgress: false}}\n");
  assert_int_equal(idp_team_objects(team, NULL, false, &objs, &e), IDP_OK);
  static const check_row rows2[] = {
      {"NetworkPolicy", "allow-from-namespaces", "spec|policyTypes", "[\"Ingress\"]"},
      {"NetworkPolicy", "allow-from-namespaces", "spec|egress", NULL},
  };
  run_checks(objs, rows2, sizeof rows2 / sizeof rows2[0]);
  json_decref(objs);
  json_decref(team);
}

static void test_invalid(void **st) {
  (void)st;
  static const struct {
    const char *yaml, *msg;
  } rows[] = {
      {"kind: Team\nmetadata: {}\nspec: {}\n", "metadata.name is required"},
      {"kind: Team\nmetadata: {name: a}\n", "Team a: spec: must be an object"},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    json_t *t = load(rows[i].yaml), *objs = NULL;
    idp_err e = IDP_ERR_INIT;
    assert_int_equal(idp_team_objects(t, NULL, true, &objs, &e), IDP_EINVALID);
    assert_non_null(strstr(e.msg, rows[i].msg));
    assert_null(objs);
    json_decref(t);
  }
}

static void test_subset(void **st) {
  (void)st;
  static const struct {
    const char *want, *have;
    bool ok;
  } rows[] = {
      {"{\"a\":1}", "{\"a\":1,\"b\":2}", true},
      {"{\"a\":{\"x\":1}}", "{\"a\":{\"x\":1,\"y\":2}}", true},
      {"{\"a\":[{\"x\":1}]}", "{\"a\":[{\"x\":1,\"d\":0}]}", true},
      {"{\"a\":[{\"x\":1}]}", "{\"a\":[{\"x\":1},{\"x\":2}]}", false},
      {"{\"a\":1}", "{\"a\":2}", false},
      {"{\"a\":1}", "{}", false},
      {"{\"a\":53}", "{\"a\":53.0}", true},
      {"{\"a\":[]}", "{}", false},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    json_t *w = json_loads(rows[i].want, 0, NULL), *h = json_loads(rows[i].have, 0, NULL);
    if (idp_platform_subset(w, h) != rows[i].ok) fail_msg("row %zu", i);
    json_decref(w);
    json_decref(h);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_full_team),
      cmocka_unit_test(test_minimal_team),
      cmocka_unit_test(test_invalid),
      cmocka_unit_test(test_subset),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
