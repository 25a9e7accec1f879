/* Strategic merge patch: the examples of the Kubernetes task page "Update
 * API Objects in Place Using kubectl patch" and of the API machinery
 * document on strategic merge patch, plus the merge-key table. */
#include "../test.h"
#include "helpers.h"

static json_t *smp(const char *target, const char *patch, const char *group, const char *kind) {
  json_t *t = Y(target), *p = Y(patch), *out = NULL;
  idp_err e = IDP_ERR_INIT;
  idp_code rc = idp_smp(t, p, group, kind, &out, &e);
  if (rc != IDP_OK) fail_msg("idp_smp: %s", e.msg);
  json_decref(t);
  json_decref(p);
  return out;
}

static const char *patch_demo =
    "apiVersion: apps/v1\n"
    "kind: Deployment\n"
    "metadata:\n"
    "  name: patch-demo\n"
    "spec:\n"
    "  replicas: 2\n"
    "  selector:\n"
    "    matchLabels:\n"
    "      app: nginx\n"
    "  template:\n"
    "    metadata:\n"
    "      labels:\n"
    "        app: nginx\n"
    "    spec:\n"
    "      containers:\n"
    "      - name: patch-demo-ctr\n"
    "        image: nginx\n"
    "      tolerations:\n"
    "      - effect: NoSchedule\n"
    "        key: dedicated\n"
    "        value: test-team\n";

/* patch-file.yaml: the containers list is merged by name; the new
 * container comes first, as in the page's output. */
static void test_docs_containers_merge(void **state) {
  (void)state;
  json_t *out = smp(patch_demo,
                    "spec:\n  template:\n    spec:\n      containers:\n"
                    "      - name: patch-demo-ctr-2\n        image: redis\n",
                    "apps", "Deployment");
  json_t *ctrs = idp_json_pointer_get(out, "/spec/template/spec/containers");
  assert_json_ordered(json_incref(ctrs),
                      J("[{\"name\":\"patch-demo-ctr-2\",\"image\":\"redis\"},"
                        "{\"name\":\"patch-demo-ctr\",\"image\":\"nginx\"}]"));
  assert_int_equal(json_integer_value(idp_json_pointer_get(out, "/spec/replicas")), 2);
  json_decref(out);
}

/* patch-file-tolerations.yaml: tolerations have no patch strategy, so the
 * list is replaced. */
static void test_docs_tolerations_replace(void **state) {
  (void)state;
  json_t *out = smp(patch_demo,
                    "spec:\n  template:\n    spec:\n      tolerations:\n"
                    "      - effect: NoSchedule\n        key: disktype\n        value: ssd\n",
                    "apps", "Deployment");
  assert_json(json_incref(idp_json_pointer_get(out, "/spec/template/spec/tolerations")),
              J("[{\"effect\":\"NoSchedule\",\"key\":\"disktype\",\"value\":\"ssd\"}]"));
  assert_int_equal(json_array_size(idp_json_pointer_get(out, "/spec/template/spec/containers")),
                   1);
  json_decref(out);
}

static const char *retainkeys_demo =
    "apiVersion: apps/v1\n"
    "kind: Deployment\n"
    "metadata:\n"
    "  name: retainkeys-demo\n"
    "spec:\n"
    "  selector:\n"
    "    matchLabels:\n"
    "      app: nginx\n"
    "  strategy:\n"
    "    rollingUpdate:\n"
    "      maxSurge: 30%\n"
    "  template:\n"
    "    metadata:\n"
    "      labels:\n"
    "        app: nginx\n"
    "    spec:\n"
    "      containers:\n"
    "      - name: retainkeys-demo-ctr\n"
    "        image: nginx\n";

/* Without $retainKeys the old rollingUpdate stays (the docs show the
 * validation error this causes); with it only `type` is kept. */
static void test_docs_retain_keys(void **state) {
  (void)state;
  json_t *out = smp(retainkeys_demo, "spec:\n  strategy:\n    type: Recreate\n", "apps",
                    "Deployment");
  assert_json(json_incref(idp_json_pointer_get(out, "/spec/strategy")),
              J("{\"type\":\"Recreate\",\"rollingUpdate\":{\"maxSurge\":\"30%\"}}"));
  json_decref(out);
  out = smp(retainkeys_demo,
            "spec:\n  strategy:\n    $retainKeys:\n    - type\n    type: Recreate\n", "apps",
            "Deployment");
  assert_json(json_incref(idp_json_pointer_get(out, "/spec/strategy")),
              J("{\"type\":\"Recreate\"}"));
  json_decref(out);
}

/* $retainKeys on a volume (patchStrategy merge,retainKeys): switching the
 * volume source drops the old one. */
static void test_retain_keys_volume(void **state) {
  (void)state;
  json_t *out = smp("spec:\n  volumes:\n  - name: data\n    emptyDir: {}\n  - name: cfg\n"
                    "    configMap:\n      name: c\n",
                    "spec:\n  volumes:\n  - name: data\n    $retainKeys: [name, hostPath]\n"
                    "    hostPath:\n      path: /x\n",
                    "", "Pod");
  assert_json_ordered(json_incref(idp_json_pointer_get(out, "/spec/volumes")),
                      J("[{\"name\":\"data\",\"hostPath\":{\"path\":\"/x\"}},"
                        "{\"name\":\"cfg\",\"configMap\":{\"name\":\"c\"}}]"));
  json_decref(out);
}

/* $patch: replace inside a list replaces the whole list. */
static void test_patch_replace_list(void **state) {
  (void)state;
  json_t *out = smp("spec:\n  containers:\n  - name: nginx\n    image: nginx-1.0\n"
                    "  - name: log-tailer\n    image: log-tailer-1.0\n",
                    "spec:\n  containers:\n  - name: nginx\n    image: nginx-1.0\n"
                    "  - $patch: replace\n",
                    "", "Pod");
  assert_json(json_incref(idp_json_pointer_get(out, "/spec/containers")),
              J("[{\"name\":\"nginx\",\"image\":\"nginx-1.0\"}]"));
  json_decref(out);
}

/* $patch: replace in a map replaces the map; $patch: delete empties it. */
static void test_patch_replace_delete_map(void **state) {
  (void)state;
  json_t *out = smp("spec:\n  template:\n    spec:\n      nodeSelector:\n        a: \"1\"\n"
                    "        b: \"2\"\n",
                    "spec:\n  template:\n    spec:\n      nodeSelector:\n        $patch: replace\n"
                    "        c: \"3\"\n",
                    "apps", "Deployment");
  assert_json(json_incref(idp_json_pointer_get(out, "/spec/template/spec/nodeSelector")),
              J("{\"c\":\"3\"}"));
  json_decref(out);
  out = smp("metadata:\n  labels:\n    a: x\nspec:\n  replicas: 1\n",
            "metadata:\n  labels:\n    $patch: delete\n", "apps", "Deployment");
  assert_json(out, J("{\"metadata\":{\"labels\":{}},\"spec\":{\"replicas\":1}}"));
  out = smp("spec:\n  replicas: 1\n", "$patch: replace\nspec:\n  paused: true\n", "apps",
            "Deployment");
  assert_json(out, J("{\"spec\":{\"paused\":true}}"));
  /* $patch: merge is the default and changes nothing */
  out = smp("spec:\n  replicas: 1\n", "spec:\n  $patch: merge\n  paused: true\n", "apps",
            "Deployment");
  assert_json(out, J("{\"spec\":{\"replicas\":1,\"paused\":true}}"));
}

/* $patch: delete in a list removes the item with that merge key; the
 * kustomize example adds and modifies in the same patch. */
static void test_patch_delete_item(void **state) {
  (void)state;
  json_t *out = smp("spec:\n  containers:\n  - name: guestbook\n    image: guestbook:latest\n"
                    "  - name: haproxy\n    image: haproxy:latest\n",
                    "spec:\n  containers:\n  - name: guestbook\n    resources:\n      limits:\n"
                    "        memory: 1Gi\n  - $patch: delete\n    name: haproxy\n"
                    "  - name: nginx\n    image: nginx:latest\n",
                    "", "Pod");
  assert_json_ordered(
      json_incref(idp_json_pointer_get(out, "/spec/containers")),
      J("[{\"name\":\"guestbook\",\"image\":\"guestbook:latest\",\"resources\":{\"limits\":"
        "{\"memory\":\"1Gi\"}}},{\"name\":\"nginx\",\"image\":\"nginx:latest\"}]"));
  json_decref(out);
}

/* $deleteFromPrimitiveList and merging of primitive lists (finalizers). */
static void test_primitive_lists(void **state) {
  (void)state;
  json_t *out = smp("metadata:\n  finalizers: [a, b, c]\n",
                    "metadata:\n  $deleteFromPrimitiveList/finalizers: [b]\n", "", "ConfigMap");
  assert_json_ordered(json_incref(idp_json_pointer_get(out, "/metadata/finalizers")),
                      J("[\"a\",\"c\"]"));
  json_decref(out);
  out = smp("metadata:\n  finalizers: [a, b]\n", "metadata:\n  finalizers: [b, c]\n", "",
            "ConfigMap");
  assert_json_ordered(json_incref(idp_json_pointer_get(out, "/metadata/finalizers")),
                      J("[\"a\",\"b\",\"c\"]"));
  json_decref(out);
  /* args has no strategy: replaced */
  out = smp("spec:\n  containers:\n  - name: a\n    args: [x, y]\n",
            "spec:\n  containers:\n  - name: a\n    args: [z]\n", "", "Pod");
  assert_json(json_incref(idp_json_pointer_get(out, "/spec/containers/0/args")), J("[\"z\"]"));
  json_decref(out);
}

/* $setElementOrder: kubectl apply sends the desired order of a merge
 * list; items only on the server keep their place. */
static void test_set_element_order(void **state) {
  (void)state;
  json_t *out = smp("metadata:\n  finalizers: [a, b, c]\n",
                    "metadata:\n  $setElementOrder/finalizers: [c, a, b]\n", "", "Pod");
  assert_json_ordered(json_incref(idp_json_pointer_get(out, "/metadata/finalizers")),
                      J("[\"c\",\"a\",\"b\"]"));
  json_decref(out);
  out = smp("spec:\n  containers:\n  - name: a\n    image: a:1\n  - name: b\n    image: b:1\n",
            "spec:\n  $setElementOrder/containers:\n  - name: b\n  - name: a\n  - name: c\n"
            "  containers:\n  - name: c\n    image: c:1\n",
            "", "Pod");
  assert_json_ordered(json_incref(idp_json_pointer_get(out, "/spec/containers")),
                      J("[{\"name\":\"b\",\"image\":\"b:1\"},{\"name\":\"a\",\"image\":\"a:1\"},"
                        "{\"name\":\"c\",\"image\":\"c:1\"}]"));
  json_decref(out);
  /* what kubectl apply sends when env var w moves before x and z is added */
  out = smp("spec:\n  containers:\n  - name: a\n    env:\n    - name: x\n      value: \"1\"\n"
            "    - name: w\n      value: \"2\"\n",
            "spec:\n  $setElementOrder/containers:\n  - name: a\n  containers:\n  - name: a\n"
            "    $setElementOrder/env:\n    - name: w\n    - name: z\n    - name: x\n"
            "    env:\n    - name: z\n      value: \"3\"\n",
            "", "Pod");
  assert_json_ordered(json_incref(idp_json_pointer_get(out, "/spec/containers/0/env")),
                      J("[{\"name\":\"w\",\"value\":\"2\"},{\"name\":\"z\",\"value\":\"3\"},"
                        "{\"name\":\"x\",\"value\":\"1\"}]"));
  json_decref(out);
  /* what kubectl apply sends when container b leaves the configuration */
  out = smp("spec:\n  containers:\n  - name: a\n    image: a:1\n  - name: b\n    image: b:1\n",
            "spec:\n  $setElementOrder/containers:\n  - name: a\n  containers:\n"
            "  - $patch: delete\n    name: b\n",
            "", "Pod");
  assert_json_ordered(json_incref(idp_json_pointer_get(out, "/spec/containers")),
                      J("[{\"name\":\"a\",\"image\":\"a:1\"}]"));
  json_decref(out);
}

/* Nested merge lists under a CronJob: ports by containerPort, env by name,
 * volumeMounts by mountPath; nulls delete. */
static void test_nested_lists_cronjob(void **state) {
  (void)state;
  json_t *out = smp("spec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n"
                    "          containers:\n          - name: w\n            ports:\n"
                    "            - containerPort: 80\n              name: http\n"
                    "            env:\n            - name: A\n              value: a\n"
                    "            - name: B\n              value: b\n"
                    "            volumeMounts:\n            - mountPath: /d\n              name: d\n",
                    "spec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n"
                    "          containers:\n          - name: w\n            ports:\n"
                    "            - containerPort: 80\n              name: web\n"
                    "            env:\n            - name: B\n              value: null\n"
                    "              valueFrom:\n                fieldRef:\n"
                    "                  fieldPath: metadata.name\n"
                    "            volumeMounts:\n            - mountPath: /d\n              readOnly: true\n",
                    "batch", "CronJob");
  json_t *c = idp_json_pointer_get(out, "/spec/jobTemplate/spec/template/spec/containers/0");
  assert_json(json_incref(c),
              Y("name: w\nports:\n- containerPort: 80\n  name: web\nenv:\n- name: A\n  value: a\n"
                "- name: B\n  valueFrom:\n    fieldRef:\n      fieldPath: metadata.name\n"
                "volumeMounts:\n- mountPath: /d\n  name: d\n  readOnly: true\n"));
  json_decref(out);
}

/* Kinds outside the table (custom resources) merge maps and replace lists. */
static void test_unknown_kind(void **state) {
  (void)state;
  json_t *out = smp("spec:\n  containers:\n  - name: a\n  m:\n    x: 1\n",
                    "spec:\n  containers:\n  - name: b\n  m:\n    z: 2\n", "example.com", "Widget");
  assert_json(json_incref(json_object_get(out, "spec")),
              J("{\"containers\":[{\"name\":\"b\"}],\"m\":{\"x\":1,\"z\":2}}"));
  json_decref(out);
}

/* Service ports merge by port; ownerReferences by uid on any kind. */
static void test_service_and_owner_refs(void **state) {
  (void)state;
  json_t *out = smp("spec:\n  ports:\n  - port: 80\n    targetPort: 8080\n  - port: 443\n",
                    "spec:\n  ports:\n  - port: 80\n    targetPort: 9090\n", "", "Service");
  assert_json_ordered(json_incref(idp_json_pointer_get(out, "/spec/ports")),
                      J("[{\"port\":80,\"targetPort\":9090},{\"port\":443}]"));
  json_decref(out);
  out = smp("metadata:\n  ownerReferences:\n  - uid: u1\n    name: a\n",
            "metadata:\n  ownerReferences:\n  - uid: u2\n    name: b\n", "example.com", "Widget");
  assert_int_equal(json_array_size(idp_json_pointer_get(out, "/metadata/ownerReferences")), 2);
  json_decref(out);
}

/* List order: the API server interleaves server-only items by their live
 * position; kustomize puts the patch's items first.  Expected kustomize
 * results were produced with `kubectl kustomize` (v1.32). */
static void test_order_modes(void **state) {
  (void)state;
  static const struct {
    const char *patch_names[3];
    const char *apiserver, *kustomize;
  } cases[] = {
      {{"c", "new", "a"}, "b0 c1 new1 a1", "c1 new1 a1 b0"},
      {{"a", "c", NULL}, "a1 b0 c1", "a1 c1 b0"},
      {{"b", NULL, NULL}, "a0 b1 c0", "b1 a0 c0"},
  };
  json_t *target = Y("spec:\n  containers:\n  - {name: a, image: \"0\"}\n"
                     "  - {name: b, image: \"0\"}\n  - {name: c, image: \"0\"}\n");
  for (size_t i = 0; i < IDP_ARRAY_LEN(cases); i++) {
    json_t *list = json_array();
    for (int k = 0; k < 3 && cases[i].patch_names[k]; k++)
      json_array_append_new(list, json_pack("{s:s,s:s}", "name", cases[i].patch_names[k],
                                            "image", "1"));
    json_t *patch = json_pack("{s:{s:o}}", "spec", "containers", list);
    for (int mode = 0; mode < 2; mode++) {
      json_t *out = NULL;
      idp_err e = IDP_ERR_INIT;
      assert_int_equal(idp_smp_ex(target, patch, "", "Pod", mode ? IDP_SMP_ORDER_KUSTOMIZE
                                                                 : IDP_SMP_ORDER_APISERVER,
                                  &out, &e),
                       IDP_OK);
      char got[128] = "";
      size_t j;
      json_t *x;
      json_array_foreach(idp_json_pointer_get(out, "/spec/containers"), j, x) {
        size_t l = strlen(got);
        snprintf(got + l, sizeof got - l, "%s%s%s", l ? " " : "",
                 json_string_value(json_object_get(x, "name")),
                 json_string_value(json_object_get(x, "image")));
      }
      const char *want = mode ? cases[i].kustomize : cases[i].apiserver;
      if (strcmp(got, want) != 0)
        fail_msg("case %zu mode %d: got \"%s\", want \"%s\"", i, mode, got, want);
      json_decref(out);
    }
    json_decref(patch);
  }
  json_decref(target);
}

static void test_errors(void **state) {
  (void)state;
  json_t *t = Y("spec:\n  containers:\n  - name: a\n"), *out = NULL;
  idp_err e = IDP_ERR_INIT;
  json_t *p = Y("spec:\n  containers:\n  - image: x\n");
  assert_int_equal(idp_smp(t, p, "", "Pod", &out, &e), IDP_EINVAL);
  assert_non_null(strstr(e.msg, "spec.containers"));
  assert_non_null(strstr(e.msg, "name"));
  assert_null(out);
  json_decref(p);
  p = Y("spec:\n  containers:\n  - $patch: frob\n");
  assert_int_equal(idp_smp(t, p, "", "Pod", &out, &e), IDP_EINVAL);
  json_decref(p);
  p = J("[1]");
  assert_int_equal(idp_smp(t, p, "", "Pod", &out, &e), IDP_EINVAL);
  json_decref(p);
  json_decref(t);
}

static void test_list_info(void **state) {
  (void)state;
  const char *key = NULL, *strat = NULL;
  assert_true(idp_smp_list_info("apps", "Deployment", "spec.template.spec.containers", &key,
                                &strat));
  assert_string_equal(key, "name");
  assert_string_equal(strat, "merge");
  assert_true(idp_smp_list_info("", "Pod", "spec.containers", &key, &strat));
  assert_string_equal(key, "name");
  assert_true(idp_smp_list_info("batch", "CronJob",
                                "spec.jobTemplate.spec.template.spec.containers", &key, &strat));
  assert_true(idp_smp_list_info("apps", "StatefulSet",
                                "spec.template.spec.containers[0].ports", &key, &strat));
  assert_string_equal(key, "containerPort");
  assert_true(idp_smp_list_info("apps", "DaemonSet",
                                "spec.template.spec.initContainers.1.volumeMounts", &key, NULL));
  assert_string_equal(key, "mountPath");
  assert_true(idp_smp_list_info("", "Pod", "spec.volumes", &key, &strat));
  assert_string_equal(strat, "merge,retainKeys");
  assert_true(idp_smp_list_info("", "Service", "spec.ports", &key, NULL));
  assert_string_equal(key, "port");
  assert_true(idp_smp_list_info("example.com", "Widget", "metadata.ownerReferences", &key, NULL));
  assert_string_equal(key, "uid");
  assert_true(idp_smp_list_info("", "ConfigMap", "metadata.finalizers", &key, &strat));
  assert_null(key);
  assert_true(idp_smp_list_info("apps", "Deployment", "status.conditions", &key, NULL));
  assert_string_equal(key, "type");
  assert_true(idp_smp_list_info("apps", "Deployment", "spec.template.spec.hostAliases", &key,
                                NULL));
  assert_string_equal(key, "ip");
  assert_false(idp_smp_list_info("apps", "Deployment", "spec.template.spec.tolerations", &key,
                                 &strat));
  assert_false(idp_smp_list_info("rbac.authorization.k8s.io", "Role", "rules", NULL, NULL));
  assert_false(idp_smp_list_info("", "Pod", "spec.template.spec.containers", NULL, NULL));
  assert_false(idp_smp_list_info("example.com", "Widget", "spec.containers", NULL, NULL));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_docs_containers_merge),
      cmocka_unit_test(test_docs_tolerations_replace),
      cmocka_unit_test(test_docs_retain_keys),
      cmocka_unit_test(test_retain_keys_volume),
      cmocka_unit_test(test_patch_replace_list),
      cmocka_unit_test(test_patch_replace_delete_map),
      cmocka_unit_test(test_patch_delete_item),
      cmocka_unit_test(test_primitive_lists),
      cmocka_unit_test(test_set_element_order),
      cmocka_unit_test(test_nested_lists_cronjob),
      cmocka_unit_test(test_unknown_kind),
      cmocka_unit_test(test_service_and_owner_refs),
      cmocka_unit_test(test_order_modes),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_list_info),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
