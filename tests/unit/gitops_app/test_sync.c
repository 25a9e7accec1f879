#include "../test.h"

#include "gitops/app/sync.h"

static json_t *obj(const char *av, const char *kind, const char *name, const char *ns,
                   const char *wave, const char *hook) {
  json_t *o =
      json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", av, "kind", kind, "metadata", "name", name);
  json_t *md = json_object_get(o, "metadata");
  if (ns) json_object_set_new(md, "namespace", json_string(ns));
  json_t *ann = json_object();
  if (wave) json_object_set_new(ann, "argocd.argoproj.io/sync-wave", json_string(wave));
  if (hook) json_object_set_new(ann, "argocd.argoproj.io/hook", json_string(hook));
  json_object_set_new(md, "annotations", ann);
  return o;
}

static idp_sync_task task_of(json_t *o) {
  unsigned hp = idp_app_hook_phases(o);
  idp_sync_phase ph = IDP_PHASE_SYNC;
  for (int p = 0; p < IDP_PHASE_COUNT; p++)
    if (hp & (1u << p)) {
      ph = (idp_sync_phase)p;
      break;
    }
  const char *av = json_string_value(json_object_get(o, "apiVersion"));
  const char *kind = json_string_value(json_object_get(o, "kind"));
  return (idp_sync_task){o,
                         ph,
                         idp_app_sync_wave(o),
                         idp_app_kind_order(av, kind),
                         json_string_value(json_object_get(json_object_get(o, "metadata"), "name")),
                         hp != 0,
                         NULL};
}

static void test_order(void **state) {
  (void)state;
  json_t *objs[] = {
      obj("apps/v1", "Deployment", "web", "app", NULL, NULL),
      obj("v1", "Service", "web", "app", NULL, NULL),
      obj("v1", "ConfigMap", "b", "app", NULL, NULL),
      obj("v1", "ConfigMap", "a", "app", NULL, NULL),
      obj("example.com/v1", "Widget", "w", "app", NULL, NULL),
      obj("v1", "ConfigMap", "late", "app", "5", NULL),
      obj("v1", "ConfigMap", "early", "app", "-1", NULL),
      obj("batch/v1", "Job", "migrate", "app", NULL, "PreSync"),
      obj("batch/v1", "Job", "smoke", "app", NULL, "PostSync"),
      obj("v1", "Namespace", "app", NULL, "3", NULL),
  };
  /* The Namespace bubbles up before the first task in it (the PreSync
   * hook) and takes its phase and wave, as sync_tasks.go does. */
  const char *want[] = {"app", "migrate", "early", "a", "b", "web", "web", "w", "late", "smoke"};
  idp_sync_task t[IDP_ARRAY_LEN(objs)];
  for (size_t i = 0; i < IDP_ARRAY_LEN(objs); i++) t[i] = task_of(objs[i]);
  idp_app_sort_tasks(t, IDP_ARRAY_LEN(objs));
  for (size_t i = 0; i < IDP_ARRAY_LEN(objs); i++)
    if (strcmp(t[i].name, want[i]) != 0)
      fail_msg("position %zu: %s, want %s", i, t[i].name, want[i]);
  /* the Service comes before the Deployment (kind order) */
  assert_string_equal(json_string_value(json_object_get(t[5].obj, "kind")), "Service");
  assert_int_equal(t[0].phase, IDP_PHASE_PRESYNC);
  assert_int_equal(t[0].wave, 0);
  assert_int_equal(t[2].wave, -1);
  for (size_t i = 0; i < IDP_ARRAY_LEN(objs); i++) json_decref(objs[i]);
}

static void test_crd_first(void **state) {
  (void)state;
  json_t *cr = obj("example.com/v1", "Widget", "w", "app", "-5", NULL);
  json_t *crd = obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.example.com",
                    NULL, NULL, NULL);
  json_object_set_new(
      crd, "spec", json_pack("{s:s, s:{s:s}}", "group", "example.com", "names", "kind", "Widget"));
  idp_sync_task t[2] = {task_of(cr), task_of(crd)};
  idp_app_sort_tasks(t, 2);
  assert_string_equal(t[0].name, "widgets.example.com");
  assert_int_equal(t[0].wave, -5);
  json_decref(cr);
  json_decref(crd);
}

static void test_hooks(void **state) {
  (void)state;
  static const struct {
    const char *ann_key, *value;
    unsigned want;
  } cases[] = {
      {"argocd.argoproj.io/hook", "PreSync", 1u << IDP_PHASE_PRESYNC},
      {"argocd.argoproj.io/hook", "PreSync, PostSync",
       (1u << IDP_PHASE_PRESYNC) | (1u << IDP_PHASE_POSTSYNC)},
      {"argocd.argoproj.io/hook", "Skip", IDP_HOOK_SKIP},
      {"argocd.argoproj.io/hook", "SyncFail", 1u << IDP_PHASE_SYNCFAIL},
      {"helm.sh/hook", "pre-install,pre-upgrade", 1u << IDP_PHASE_PRESYNC},
      {"helm.sh/hook", "post-install", 1u << IDP_PHASE_POSTSYNC},
      {"other", "x", 0},
  };
  for (size_t i = 0; i < IDP_ARRAY_LEN(cases); i++) {
    json_t *o =
        json_pack("{s:{s:{s:s}}}", "metadata", "annotations", cases[i].ann_key, cases[i].value);
    assert_int_equal(idp_app_hook_phases(o), cases[i].want);
    json_decref(o);
  }
  json_t *o = json_pack("{s:{s:{s:s}}}", "metadata", "annotations",
                        "argocd.argoproj.io/hook-delete-policy", "HookSucceeded,HookFailed");
  assert_int_equal(idp_app_hook_delete_policy(o), IDP_HOOK_DEL_SUCCEEDED | IDP_HOOK_DEL_FAILED);
  json_decref(o);
  o = json_object();
  assert_int_equal(idp_app_hook_delete_policy(o), IDP_HOOK_DEL_BEFORE_CREATION);
  assert_int_equal(idp_app_sync_wave(o), 0);
  json_decref(o);
  o = json_pack("{s:{s:{s:s}}}", "metadata", "annotations", "argocd.argoproj.io/sync-wave", "abc");
  assert_int_equal(idp_app_sync_wave(o), 0);
  json_decref(o);
}

static void test_options(void **state) {
  (void)state;
  json_t *opts = json_pack("[s, s, s]", "CreateNamespace=true", "ServerSideApply=true",
                           "PrunePropagationPolicy=background");
  json_t *res = json_pack("{s:{s:{s:s}}}", "metadata", "annotations",
                          "argocd.argoproj.io/sync-options", "ServerSideApply=false,Prune=false");
  assert_true(idp_app_sync_option_is(opts, NULL, "CreateNamespace", "true"));
  assert_true(idp_app_sync_option_is(opts, NULL, "ServerSideApply", "true"));
  assert_true(idp_app_sync_option_is(opts, res, "ServerSideApply", "false"));
  assert_true(idp_app_sync_option_is(opts, res, "Prune", "false"));
  assert_false(idp_app_sync_option_is(opts, res, "Replace", "true"));
  char v[32];
  assert_true(idp_app_sync_option(opts, res, "PrunePropagationPolicy", v, sizeof v));
  assert_string_equal(v, "background");
  assert_false(idp_app_sync_option(NULL, NULL, "X", v, sizeof v));
  json_decref(opts);
  json_decref(res);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_order), cmocka_unit_test(test_crd_first),
                                     cmocka_unit_test(test_hooks), cmocka_unit_test(test_options)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
