/* test_render.c: the plain-directory renderer (Argo CD directory source:
 * recurse, include/exclude globs with brace lists, multi-document files,
 * JSON, List kinds) and tool detection in idp_render_path. */
#include "../test.h"

#include <sys/stat.h>
#include <unistd.h>

#include "core/json.h"
#include "gitops/render.h"

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
  snprintf(root, sizeof root, "/tmp/idp-test-render-XXXXXX");
  assert_non_null(mkdtemp(root));
  put("a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n"
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a2}\n---\n# empty\n");
  put("b.yml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n");
  put("c.json", "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"}}");
  put("notes.txt", "not a manifest");
  put("list.yaml", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Secret, "
                   "metadata: {name: l1}}\n- {apiVersion: v1, kind: Secret, metadata: {name: l2}}\n");
  put("sub/d.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\n");
  put("sub/deeper/e.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: e}\n");
  put(".hidden/f.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: f}\n");
  return 0;
}

static int teardown(void **state) {
  IDP_UNUSED(state);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  return system(cmd) == 0 ? 0 : -1;
}

/* Names of the rendered objects joined by ','. */
static void names(const json_t *objs, char *out, size_t n) {
  out[0] = '\0';
  size_t i;
  json_t *o;
  size_t len = 0;
  json_array_foreach(objs, i, o) {
    int w = snprintf(out + len, n - len, "%s%s", i ? "," : "",
                     idp_json_get_str(o, "metadata", "name", NULL));
    assert_true(w > 0 && (size_t)w < n - len);
    len += (size_t)w;
  }
}

static void render(bool recurse, const char *inc, const char *exc, const char *want) {
  json_t *objs = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_render_directory(root, recurse, inc, exc, &objs, &e), IDP_OK);
  char got[512];
  names(objs, got, sizeof got);
  assert_string_equal(got, want);
  json_decref(objs);
}

static void test_flat(void **state) {
  IDP_UNUSED(state);
  /* lexical file order, multi-doc, JSON, List expanded, .txt ignored */
  render(false, NULL, NULL, "a,a2,b,c,l1,l2");
}

static void test_recurse(void **state) {
  IDP_UNUSED(state);
  render(true, NULL, NULL, "a,a2,b,c,l1,l2,d,e");
}

static void test_include_exclude(void **state) {
  IDP_UNUSED(state);
  render(true, "*.yml", NULL, "b");
  render(true, "{*.yml,*.json}", NULL, "b,c");
  /* '*' crosses '/' like Argo CD's globs */
  render(true, "sub/*", NULL, "d,e");
  render(true, NULL, "sub/*", "a,a2,b,c,l1,l2");
  /* exclude wins over include */
  render(true, "*.yaml", "{list.yaml,sub/deeper/*}", "a,a2,d");
  render(false, "", "", "a,a2,b,c,l1,l2");
}

static void test_glob(void **state) {
  IDP_UNUSED(state);
  assert_true(idp_render_glob_match("*.yaml", "x/y.yaml"));
  assert_true(idp_render_glob_match("{a,b{c,d}}.yaml", "bd.yaml"));
  assert_false(idp_render_glob_match("{a,b{c,d}}.yaml", "be.yaml"));
  assert_true(idp_render_glob_match("file?.json", "file1.json"));
  assert_true(idp_render_glob_match("[ab]*.yml", "b-x.yml"));
  assert_false(idp_render_glob_match("[ab]*.yml", "c-x.yml"));
  assert_false(idp_render_glob_match("{", "x"));
}

static void test_errors(void **state) {
  IDP_UNUSED(state);
  json_t *objs = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_render_directory("/nonexistent/idp", false, NULL, NULL, &objs, &e),
                   IDP_ENOTFOUND);
  assert_null(objs);
  assert_non_null(strstr(e.msg, "/nonexistent/idp"));

  put("bad/broken.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n");
  char dir[512];
  snprintf(dir, sizeof dir, "%s/bad", root);
  idp_err_clear(&e);
  assert_int_equal(idp_render_directory(dir, false, NULL, NULL, &objs, &e), IDP_EINVAL);
  assert_non_null(strstr(e.msg, "broken.yaml:"));
  assert_null(objs);

  /* a symlink leading out of the source directory */
  put("escape/ok.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n");
  char link[512];
  snprintf(link, sizeof link, "%s/escape/passwd.yaml", root);
  assert_int_equal(symlink("/etc/passwd", link), 0);
  snprintf(dir, sizeof dir, "%s/escape", root);
  idp_err_clear(&e);
  assert_int_equal(idp_render_directory(dir, false, NULL, NULL, &objs, &e), IDP_EFORBIDDEN);
  assert_non_null(strstr(e.msg, "passwd.yaml"));
  assert_null(objs);
  assert_int_equal(unlink(link), 0);

  put("nokind/x.yaml", "apiVersion: v1\nmetadata: {name: x}\n");
  snprintf(dir, sizeof dir, "%s/nokind", root);
  idp_err_clear(&e);
  assert_int_equal(idp_render_directory(dir, false, NULL, NULL, &objs, &e), IDP_EINVAL);
  assert_non_null(strstr(e.msg, "x.yaml"));
}

static void test_render_path(void **state) {
  IDP_UNUSED(state);
  /* kustomization wins over plain files */
  put("k/kustomization.yaml", "resources: [cm.yaml]\nnamePrefix: k-\n");
  put("k/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n");
  put("k/ignored.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ignored}\n");
  char dir[512];
  snprintf(dir, sizeof dir, "%s/k", root);
  json_t *objs = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_render_path(dir, NULL, &objs, &e), IDP_OK);
  char got[256];
  names(objs, got, sizeof got);
  assert_string_equal(got, "k-x");
  json_decref(objs);

  /* directory options on a kustomize path are an error, as in Argo CD */
  json_t *src = json_pack("{s:{s:b}}", "directory", "recurse", 1);
  assert_int_equal(idp_render_path(dir, src, &objs, &e), IDP_EINVAL);
  assert_non_null(strstr(e.msg, "directory"));
  json_decref(src);

  /* plain directory with the source's options */
  src = json_pack("{s:{s:b, s:s}}", "directory", "recurse", 1, "include", "sub/deeper/*");
  assert_int_equal(idp_render_path(root, src, &objs, &e), IDP_OK);
  names(objs, got, sizeof got);
  assert_string_equal(got, "e");
  json_decref(objs);
  json_decref(src);

  /* a Helm chart without helm on PATH: a clear "unavailable" error */
  put("chart/Chart.yaml", "apiVersion: v2\nname: demo\nversion: 0.1.0\n");
  snprintf(dir, sizeof dir, "%s/chart", root);
  char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
  setenv("PATH", "/nonexistent", 1);
  idp_err_clear(&e);
  assert_int_equal(idp_render_path(dir, NULL, &objs, &e), IDP_EUNAVAILABLE);
  assert_non_null(strstr(e.msg, "helm"));
  if (old) {
    setenv("PATH", old, 1);
    free(old);
  }

  idp_err_clear(&e);
  assert_int_equal(idp_render_path("/nonexistent/app", NULL, &objs, &e), IDP_ENOTFOUND);
}

/* A stand-in helm on PATH: prints one ConfigMap naming the release and
 * echoing its arguments, or fails when the chart says so. */
static void test_helm_exec(void **state) {
  IDP_UNUSED(state);
  put("bin/helm", "#!/bin/sh\n"
                  "case \"$3\" in *fail*) echo 'Error: chart is broken' >&2; exit 1;; esac\n"
                  "printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: %s\\n"
                  "data:\\n  args: \"%s\"\\n' \"$2\" \"$*\"\n");
  char bin[512], dir[512];
  snprintf(bin, sizeof bin, "%s/bin/helm", root);
  assert_int_equal(chmod(bin, 0755), 0);
  put("hchart/Chart.yaml", "apiVersion: v2\nname: demo\nversion: 0.1.0\n");
  put("hchart/values-prod.yaml", "replicas: 2\n");
  put("hfail/Chart.yaml", "apiVersion: v2\nname: demo\nversion: 0.1.0\n");
  char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
  char path[600];
  snprintf(path, sizeof path, "%s/bin:/usr/bin:/bin", root);
  setenv("PATH", path, 1);

  json_t *src = json_pack("{s:{s:s, s:[s], s:{s:i}, s:[{s:s, s:s}]}}", "helm", "releaseName",
                          "rel", "valueFiles", "values-prod.yaml", "valuesObject", "a", 1,
                          "parameters", "name", "image.tag", "value", "v2");
  snprintf(dir, sizeof dir, "%s/hchart", root);
  json_t *objs = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_render_path(dir, src, &objs, &e), IDP_OK);
  assert_int_equal(json_array_size(objs), 1);
  json_t *cm = json_array_get(objs, 0);
  assert_string_equal(idp_json_get_str(cm, "metadata", "name", NULL), "rel");
  const char *args = idp_json_get_str(cm, "data", "args", NULL);
  assert_non_null(args);
  assert_non_null(strstr(args, "template rel "));
  assert_non_null(strstr(args, "--include-crds"));
  assert_non_null(strstr(args, "hchart/values-prod.yaml"));
  assert_non_null(strstr(args, "--set image.tag=v2"));
  assert_non_null(strstr(args, "idp-helm-values-"));
  json_decref(objs);
  json_decref(src);

  snprintf(dir, sizeof dir, "%s/hfail", root);
  assert_int_equal(idp_render_path(dir, NULL, &objs, &e), IDP_EINVALID);
  assert_non_null(strstr(e.msg, "chart is broken"));
  assert_non_null(strstr(e.msg, "hfail"));

  /* kustomize helmCharts with a vendored chart */
  put("kh/kustomization.yaml", "namePrefix: k-\nhelmCharts:\n- name: demo\n  version: 1.0.0\n"
                               "  releaseName: r1\n  valuesInline: {x: 1}\n");
  put("kh/charts/demo-1.0.0/demo/Chart.yaml", "apiVersion: v2\nname: demo\nversion: 1.0.0\n");
  snprintf(dir, sizeof dir, "%s/kh", root);
  assert_int_equal(idp_render_path(dir, NULL, &objs, &e), IDP_OK);
  assert_int_equal(json_array_size(objs), 1);
  assert_string_equal(idp_json_get_str(json_array_get(objs, 0), "metadata", "name", NULL), "k-r1");
  json_decref(objs);
  put("kh2/kustomization.yaml", "helmCharts:\n- name: absent\n");
  snprintf(dir, sizeof dir, "%s/kh2", root);
  assert_int_equal(idp_render_path(dir, NULL, &objs, &e), IDP_ENOTFOUND);
  assert_non_null(strstr(e.msg, "absent"));

  if (old) {
    setenv("PATH", old, 1);
    free(old);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_flat),         cmocka_unit_test(test_recurse),
      cmocka_unit_test(test_include_exclude), cmocka_unit_test(test_glob),
      cmocka_unit_test(test_errors),       cmocka_unit_test(test_render_path),
      cmocka_unit_test(test_helm_exec),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
