/* The `kyverno test` runner on a small generated test directory: rows,
 * Excluded / Not found, values, exceptions, patched-resource comparison,
 * autogen rule names and load errors. */
#include "../test.h"
#include <sys/stat.h>
#include <unistd.h>
#include "policy/policy.h"

static char dir[256];

static void put(const char *name, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static const char *policy =
    "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata: {name: disallow-latest}\n"
    "spec:\n  rules:\n  - name: no-latest\n    match: {any: [{resources: {kinds: [Pod]}}]}\n"
    "    validate:\n      message: no latest\n      pattern: {spec: {containers: [{image: '!*:latest'}]}}\n"
    "---\napiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata: {name: add-team}\n"
    "spec:\n  rules:\n  - name: team\n    match: {any: [{resources: {kinds: [Pod]}}]}\n"
    "    mutate: {patchStrategicMerge: {metadata: {labels: {+(team): '{{ team }}'}}}}\n"
    "---\napiVersion: policies.kyverno.io/v1\nkind: ValidatingPolicy\nmetadata: {name: cel-one}\n"
    "spec: {validations: [{expression: 'true'}]}\n";

static const char *resources =
    "apiVersion: v1\nkind: Pod\nmetadata: {name: good}\nspec: {containers: [{name: a, image: 'nginx:1'}]}\n"
    "---\napiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec: {containers: [{name: a, image: 'nginx:latest'}]}\n"
    "---\napiVersion: v1\nkind: Pod\nmetadata: {name: exempt-1}\nspec: {containers: [{name: a, image: 'x:latest'}]}\n"
    "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: dep}\n"
    "spec: {template: {spec: {containers: [{name: a, image: 'nginx:latest'}]}}}\n"
    "---\napiVersion: v1\nkind: Service\nmetadata: {name: svc}\nspec: {}\n";

static const char *patched =
    "apiVersion: v1\nkind: Pod\nmetadata: {name: good, namespace: default, labels: {team: blue}}\n"
    "spec: {containers: [{name: a, image: 'nginx:1'}]}\n";

static const char *exception =
    "apiVersion: kyverno.io/v2\nkind: PolicyException\nmetadata: {name: ex, namespace: default}\n"
    "spec:\n  exceptions: [{policyName: disallow-latest, ruleNames: [no-latest]}]\n"
    "  match: {any: [{resources: {kinds: [Pod], names: ['exempt*']}}]}\n";

static const char *test =
    "apiVersion: cli.kyverno.io/v1alpha1\nkind: Test\nmetadata: {name: t}\n"
    "policies: [policies.yaml]\nresources: [resources.yaml]\nexceptions: [exception.yaml]\n"
    "values:\n  policies:\n  - name: add-team\n    rules: [{name: team, values: {team: blue}}]\n"
    "results:\n"
    "- {policy: disallow-latest, rule: no-latest, resources: [good], result: pass}\n"
    "- {policy: disallow-latest, rule: no-latest, resources: [bad, dep], result: fail}\n"
    "- {policy: disallow-latest, rule: no-latest, resources: [exempt-1], result: skip}\n"
    "- {policy: disallow-latest, rule: no-latest, resources: [svc], result: fail}\n"
    "- {policy: add-team, rule: team, resources: [good], patchedResources: patched.yaml, result: pass}\n"
    "- {policy: missing-policy, rule: x, resources: [good], result: pass}\n"
    "- {policy: cel-one, resources: [good], result: pass, isValidatingPolicy: true}\n";

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/idp-policy-runner-%d", (int)getpid());
  mkdir(dir, 0700);
  put("policies.yaml", policy);
  put("resources.yaml", resources);
  put("patched.yaml", patched);
  put("exception.yaml", exception);
  put("kyverno-test.yaml", test);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  const char *files[] = {"policies.yaml", "resources.yaml", "patched.yaml", "exception.yaml",
                         "kyverno-test.yaml", "bad/kyverno-test.yaml"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, files[i]);
    unlink(p);
  }
  char p[512];
  snprintf(p, sizeof p, "%s/bad", dir);
  rmdir(p);
  rmdir(dir);
  return 0;
}

static const pol_test_row *find(const pol_test_report *r, const char *resource, const char *rule) {
  for (size_t i = 0; i < r->n; i++)
    if (strstr(r->rows[i].resource, resource) && (!rule || !strcmp(r->rows[i].rule, rule)))
      return &r->rows[i];
  return NULL;
}

static void test_rows(void **state) {
  (void)state;
  pol_test_report rep = {0};
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(pol_test_run_path(dir, NULL, &rep, &e), IDP_OK);
  assert_int_equal(rep.files, 1);
  const pol_test_row *r = find(&rep, "Pod/good", "no-latest");
  assert_non_null(r);
  assert_true(r->ok);
  r = find(&rep, "Pod/bad", "no-latest");
  assert_non_null(r);
  assert_true(r->ok);
  assert_string_equal(r->got, "fail");
  /* autogen rule row for the Deployment */
  r = find(&rep, "Deployment/dep", "autogen-no-latest");
  assert_non_null(r);
  assert_true(r->ok);
  r = find(&rep, "exempt-1", "no-latest");
  assert_non_null(r);
  assert_string_equal(r->got, "skip");
  assert_true(r->ok);
  /* the Service is not matched: Excluded, a pass whatever was wanted */
  r = find(&rep, "Service/svc", NULL);
  assert_non_null(r);
  assert_string_equal(r->reason, "Excluded");
  assert_true(r->ok);
  /* mutation with rule values, compared with the patched resource */
  r = find(&rep, "Pod/good", "team");
  assert_non_null(r);
  assert_true(r->ok);
  /* unknown policy name */
  bool notfound = false, unsupported = false;
  for (size_t i = 0; i < rep.n; i++) {
    if (!strcmp(rep.rows[i].reason, "Not found")) notfound = !rep.rows[i].ok;
    if (rep.rows[i].unsupported) unsupported = !strcmp(rep.rows[i].policy, "cel-one") && !rep.rows[i].ok;
  }
  assert_true(notfound);
  assert_true(unsupported);
  pol_test_report_free(&rep);
}

static void test_load_errors(void **state) {
  (void)state;
  char p[512];
  snprintf(p, sizeof p, "%s/bad", dir);
  mkdir(p, 0700);
  put("bad/kyverno-test.yaml", "name: old-schema\npolicies: [x.yaml]\nresults: []\n");
  pol_test_report rep = {0};
  idp_err e = IDP_ERR_INIT;
  snprintf(p, sizeof p, "%s/bad/kyverno-test.yaml", dir);
  assert_int_equal(pol_test_run_file(p, "bad", &rep, &e), IDP_OK);
  assert_int_equal(rep.load_errors, 1);
  assert_false(rep.rows[0].ok);
  pol_test_report_free(&rep);
  put("bad/kyverno-test.yaml",
      "apiVersion: cli.kyverno.io/v1alpha1\nkind: Test\nmetadata: {name: x}\nbogus: 1\n");
  assert_int_equal(pol_test_run_file(p, "bad", &rep, &e), IDP_OK);
  assert_int_equal(rep.load_errors, 1);
  assert_non_null(strstr(rep.rows[0].reason, "bogus"));
  pol_test_report_free(&rep);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rows),
      cmocka_unit_test(test_load_errors),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
