/* test_kustomize.c: kustomize's name hash (the vectors of kustomize's own
 * hasher tests and values read from `kubectl kustomize`), the Go JSON
 * encoding under it, and builds of small kustomizations: generators,
 * prefixes and name references, patches, and errors that name the file. */
#include "../test.h"

#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/yaml.h"
#include "gitops/kustomize.h"

static void hash_of(const char *yaml, const char *want) {
  json_t *doc = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_yaml_load_one(yaml, strlen(yaml), "test", NULL, &doc, &e), IDP_OK);
  char h[11];
  assert_int_equal(idp_kustomize_hash(doc, h, &e), IDP_OK);
  assert_string_equal(h, want);
  json_decref(doc);
}

static void test_hash_vectors(void **state) {
  IDP_UNUSED(state);
  /* kustomize api/hasher tests */
  hash_of("apiVersion: v1\nkind: ConfigMap\n", "6ct58987ht");
  hash_of("apiVersion: v1\nkind: ConfigMap\ndata:\n  one: \"\"\n", "9g67k2htb6");
  hash_of("apiVersion: v1\nkind: ConfigMap\ndata:\n  two: 2\n  one: \"\"\n  three: 3\n",
          "7757f9kkct");
  hash_of("apiVersion: v1\nkind: ConfigMap\nbinaryData:\n  one: \"\"\n", "6mtk2m274t");
  hash_of("apiVersion: v1\nkind: ConfigMap\nbinaryData:\n  two: 2\n  one: \"\"\n  three: 3\n",
          "9th7kc28dg");
  hash_of("apiVersion: v1\nkind: ConfigMap\ndata:\n  one: \"\"\nbinaryData:\n  two: \"\"\n",
          "698h7c7t9m");
  hash_of("apiVersion: v1\nkind: Secret\ntype: my-type\n", "5gmgkf8578");
  hash_of("apiVersion: v1\nkind: Secret\ntype: my-type\ndata:\n  one: \"\"\n", "74bd68bm66");
  hash_of("apiVersion: v1\nkind: Secret\ntype: my-type\ndata:\n  two: 2\n  one: \"\"\n"
          "  three: 3\n",
          "4gf75c7476");
  hash_of("apiVersion: v1\nkind: Secret\ntype: my-type\ndata:\n  one: \"\"\nstringData:\n"
          "  two: 2\n",
          "c4h4264gdb");
  /* the name does not count; HTML characters are escaped as Go does
   * (values read from kubectl kustomize v5.5) */
  hash_of("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: anything}\ndata:\n  a: \"1\"\n"
          "  b: <x>\n",
          "fdtb6gftgd");
  hash_of("apiVersion: v1\nkind: Secret\nmetadata: {name: sec}\ntype: Opaque\ndata:\n"
          "  p: cQ==\n",
          "hb2dth72f6");

  json_t *other = json_pack("{s:s}", "kind", "Deployment");
  char h[11];
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_kustomize_hash(other, h, &e), IDP_EUNSUPPORTED);
  json_decref(other);
}

static void test_gojson(void **state) {
  IDP_UNUSED(state);
  json_t *v = json_pack("{s:s, s:[i, b, n], s:s}", "z", "<a&b>\n\t\"\\\x01", "a", 1, 1, "m",
                        "\xe2\x80\xa8");
  idp_buf b;
  idp_buf_init(&b, 4096);
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_kustomize_gojson(&b, v, &e), IDP_OK);
  assert_string_equal(idp_buf_str(&b),
                      "{\"a\":[1,true,null],\"m\":\"\\u2028\","
                      "\"z\":\"\\u003ca\\u0026b\\u003e\\n\\t\\\"\\\\\\u0001\"}");
  idp_buf_free(&b);
  json_decref(v);
}

/* ------------------------------------------------------------ builds */

static char root[256];

static void put(const char *rel, const char *text) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", root, rel);
  for (char *s = p + strlen(root) + 1; *s; s++)
    if (*s == '/') {
      *s = '\0';
      mkdir(p, 0755);
      *s = '/';
    }
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static int setup(void **state) {
  IDP_UNUSED(state);
  snprintf(root, sizeof root, "/tmp/idp-test-kustomize-XXXXXX");
  return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state) {
  IDP_UNUSED(state);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  return system(cmd) == 0 ? 0 : -1;
}

static json_t *build(const char *sub) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/%s", root, sub);
  json_t *objs = NULL;
  idp_err e = IDP_ERR_INIT;
  idp_code rc = idp_kustomize_build(dir, &objs, &e);
  if (rc) fprintf(stderr, "build %s: %s\n", sub, e.msg);
  assert_int_equal(rc, IDP_OK);
  return objs;
}

static const char *name_at(const json_t *objs, size_t i) {
  return idp_json_get_str(json_array_get(objs, i), "metadata", "name", NULL);
}

static void test_generator_prefix_nameref(void **state) {
  IDP_UNUSED(state);
  put("g/base/kustomization.yaml",
      "resources: [deploy.yaml]\nconfigMapGenerator:\n- name: cfg\n  literals: [a=1, b=<x>]\n");
  put("g/base/deploy.yaml",
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n"
      "    spec:\n      containers:\n      - name: c\n        image: nginx\n"
      "        envFrom: [{configMapRef: {name: cfg}}]\n");
  put("g/kustomization.yaml", "namePrefix: p-\nnamespace: ns\nresources: [base]\n");
  json_t *objs = build("g");
  assert_int_equal(json_array_size(objs), 2);
  /* legacy order: ConfigMap before Deployment; hash over data only */
  assert_string_equal(name_at(objs, 0), "p-cfg-fdtb6gftgd");
  assert_string_equal(name_at(objs, 1), "p-d");
  assert_string_equal(idp_json_get_str(json_array_get(objs, 1), "metadata", "namespace", NULL),
                      "ns");
  json_t *c0 = json_array_get(idp_json_get(json_array_get(objs, 1), "spec", "template", "spec",
                                           "containers", NULL),
                              0);
  assert_string_equal(
      idp_json_get_str(json_array_get(json_object_get(c0, "envFrom"), 0), "configMapRef", "name",
                       NULL),
      "p-cfg-fdtb6gftgd");
  json_decref(objs);
}

static void test_patches(void **state) {
  IDP_UNUSED(state);
  put("p/kustomization.yaml",
      "resources: [cm.yaml]\npatches:\n- patch: |-\n    - op: add\n      path: /data/j\n"
      "      value: json\n  target: {kind: ConfigMap, name: 'c.*'}\n"
      "- patch: |-\n    apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: c1}\n"
      "    data: {s: smp}\n");
  put("p/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c1}\ndata: {k: v}\n---\n"
                   "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\ndata: {k: v}\n");
  json_t *objs = build("p");
  assert_int_equal(json_array_size(objs), 2);
  json_t *c1 = json_array_get(objs, 0), *other = json_array_get(objs, 1);
  assert_string_equal(idp_json_get_str(c1, "data", "j", NULL), "json");
  assert_string_equal(idp_json_get_str(c1, "data", "s", NULL), "smp");
  assert_null(idp_json_get(other, "data", "j", NULL));
  json_decref(objs);
}

static void build_err(const char *sub, idp_code want, const char *s1, const char *s2) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/%s", root, sub);
  json_t *objs = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_kustomize_build(dir, &objs, &e), want);
  assert_null(objs);
  if (!strstr(e.msg, s1) || (s2 && !strstr(e.msg, s2)))
    fail_msg("error '%s' does not name '%s'/'%s'", e.msg, s1, s2 ? s2 : "");
}

static void test_errors(void **state) {
  IDP_UNUSED(state);
  put("e1/kustomization.yaml", "resources: [ok.yaml, broken.yaml]\n");
  put("e1/ok.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n");
  put("e1/broken.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [\n");
  build_err("e1", IDP_EINVAL, "broken.yaml:", NULL);

  put("e2/kustomization.yaml", "resources: [missing.yaml]\n");
  build_err("e2", IDP_ENOTFOUND, "e2/kustomization.yaml", "missing.yaml");

  build_err("e3-no-such-dir", IDP_ENOTFOUND, "e3-no-such-dir", NULL);

  put("e4/kustomization.yaml", "crds: [x.yaml]\n");
  build_err("e4", IDP_EUNSUPPORTED, "crds", NULL);

  put("e5/kustomization.yaml", "configMapGenerator:\n- name: x\n  literals: [a=1, a=2]\n");
  build_err("e5", IDP_EINVAL, "repeats the key", NULL);

  put("e6/kustomization.yaml", "resources: [../e1/ok.yaml]\n");
  build_err("e6", IDP_EFORBIDDEN, "security", "ok.yaml");

  put("e7/kustomization.yaml", "components: [c]\n");
  put("e7/c/kustomization.yaml", "kind: Kustomization\n");
  build_err("e7", IDP_EINVAL, "Component", NULL);

  put("e8/kustomization.yaml", "replicas: [{name: nothing, count: 2}]\n");
  build_err("e8", IDP_EINVALID, "nothing", NULL);
}

/* Argo CD's source.kustomize equals writing the same edits into the
 * kustomization. */
static void test_argocd_overrides(void **state) {
  IDP_UNUSED(state);
  static const char res[] =
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n"
      "  template:\n    spec:\n      containers:\n      - {name: a, image: nginx:1.0}\n"
      "      - {name: b, image: 'reg:5000/x/side@sha256:aa'}\n";
  put("o1/kustomization.yaml", "resources: [d.yaml]\nnamePrefix: old-\ncommonLabels: {a: '1'}\n");
  put("o1/d.yaml", res);
  put("o2/kustomization.yaml",
      "resources: [d.yaml]\nnamePrefix: new-\nnamespace: team\ncommonLabels: {a: '1', b: '2'}\n"
      "commonAnnotations: {c: '3'}\nimages:\n- {name: nginx, newTag: '1.27'}\n"
      "- {name: reg:5000/x/side, newName: reg:5000/x/side2, newTag: v2}\n"
      "replicas: [{name: web, count: 4}]\n");
  put("o2/d.yaml", res);
  json_t *ov = json_pack("{s:s, s:s, s:{s:s}, s:{s:s}, s:[s, s], s:[{s:s, s:s}]}", "namePrefix",
                         "new-", "namespace", "team", "commonLabels", "b", "2",
                         "commonAnnotations", "c", "3", "images", "nginx:1.27",
                         "reg:5000/x/side=reg:5000/x/side2:v2", "replicas", "name", "web",
                         "count", "4");
  char dir[512];
  snprintf(dir, sizeof dir, "%s/o1", root);
  json_t *got = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_kustomize_build_with(dir, ov, &got, &e), IDP_OK);
  json_t *want = build("o2");
  assert_true(json_equal(got, want));
  json_decref(got);
  json_decref(want);
  json_decref(ov);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hash_vectors),
      cmocka_unit_test(test_gojson),
      cmocka_unit_test(test_generator_prefix_nameref),
      cmocka_unit_test(test_patches),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_argocd_overrides),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
