/* The admission evaluator: mutate patch, Kyverno's denial message, Audit
 * warnings, dryRun, filters, generate list, policy validation, set swaps,
 * JSON diff and base64. */
#include "../test.h"
#include "helpers.h"
#include "core/json.h"
#include "core/yaml.h"
#include "patch/patch.h"
#include "policy/admission.h"

static const char *POLICIES =
    "apiVersion: kyverno.io/v1\n"
    "kind: ClusterPolicy\n"
    "metadata: {name: add-labels}\n"
    "spec:\n"
    "  rules:\n"
    "  - name: add-env\n"
    "    match: {any: [{resources: {kinds: [Pod]}}]}\n"
    "    mutate:\n"
    "      patchStrategicMerge:\n"
    "        metadata: {labels: {+(env): dev}}\n"
    "---\n"
    "apiVersion: kyverno.io/v1\n"
    "kind: ClusterPolicy\n"
    "metadata: {name: require-team}\n"
    "spec:\n"
    "  validationFailureAction: Enforce\n"
    "  rules:\n"
    "  - name: check-team\n"
    "    match: {any: [{resources: {kinds: [Pod]}}]}\n"
    "    validate:\n"
    "      message: team label required\n"
    "      pattern: {metadata: {labels: {team: '?*'}}}\n"
    "  - name: check-env\n"
    "    match: {any: [{resources: {kinds: [Pod]}}]}\n"
    "    validate:\n"
    "      message: env must be dev\n"
    "      pattern: {metadata: {labels: {env: dev}}}\n"
    "---\n"
    "apiVersion: kyverno.io/v1\n"
    "kind: ClusterPolicy\n"
    "metadata: {name: disallow-latest}\n"
    "spec:\n"
    "  validationFailureAction: Audit\n"
    "  rules:\n"
    "  - name: no-latest\n"
    "    match: {any: [{resources: {kinds: [Pod]}}]}\n"
    "    validate:\n"
    "      message: latest tag is not allowed\n"
    "      pattern: {spec: {containers: [{image: '!*:latest'}]}}\n"
    "---\n"
    "apiVersion: kyverno.io/v1\n"
    "kind: ClusterPolicy\n"
    "metadata: {name: default-netpol}\n"
    "spec:\n"
    "  rules:\n"
    "  - name: deny-all\n"
    "    match: {any: [{resources: {kinds: [Namespace]}}]}\n"
    "    generate:\n"
    "      apiVersion: networking.k8s.io/v1\n"
    "      kind: NetworkPolicy\n"
    "      name: default-deny\n"
    "      namespace: '{{request.object.metadata.name}}'\n"
    "      synchronize: true\n"
    "      data: {spec: {podSelector: {}, policyTypes: [Ingress]}}\n";

typedef struct {
  int calls, fails;
} rec_t;

static void record(void *ud, const json_t *res, const pol_policy *p, const pol_rule_result *r,
                   const char *action) {
  (void)res;
  (void)p;
  (void)action;
  rec_t *x = ud;
  x->calls++;
  if (r->status == POL_FAIL) x->fails++;
}

static pol_adm *setup(rec_t *rec) {
  pol_adm *a = NULL;
  idp_err e = IDP_ERR_INIT;
  pol_adm_opts o = {.on_result = record, .result_ud = rec};
  assert_int_equal(pol_admission_new(&o, &a, &e), IDP_OK);
  json_t *docs = NULL;
  assert_int_equal(idp_yaml_load(POLICIES, strlen(POLICIES), "t", NULL, &docs, &e), IDP_OK);
  for (size_t i = 0; i < json_array_size(docs); i++)
    if (pol_admission_set_policy(a, json_array_get(docs, i), &e)) fail_msg("%s", e.msg);
  json_decref(docs);
  return a;
}

static json_t *pod_request(const char *labels, const char *image, const char *extra) {
  char buf[4096];
  snprintf(buf, sizeof buf,
           "{\"uid\":\"u1\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
           "\"namespace\":\"team-a\",\"name\":\"web\",\"operation\":\"CREATE\"%s,"
           "\"userInfo\":{\"username\":\"alice\"},\"object\":{\"apiVersion\":\"v1\",\"kind\":"
           "\"Pod\",\"metadata\":{\"name\":\"web\",\"labels\":%s},\"spec\":{\"containers\":"
           "[{\"name\":\"c\",\"image\":\"%s\"}]}}}",
           extra ? extra : "", labels, image);
  return J(buf);
}

static json_t *decode_patch(const json_t *resp) {
  const char *b64 = idp_json_get_str(resp, "patch", NULL);
  if (!b64) return NULL;
  char *raw = NULL;
  size_t n = 0;
  /* reuse the client's decoder through a tiny local one: base64 -> JSON */
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t len = strlen(b64);
  raw = calloc(len, 1);
  unsigned v = 0;
  int bits = 0;
  for (size_t i = 0; i < len && b64[i] != '='; i++) {
    const char *p = strchr(tab, b64[i]);
    assert_non_null(p);
    v = (v << 6) | (unsigned)(p - tab);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      raw[n++] = (char)((v >> bits) & 0xff);
    }
  }
  json_t *ops = json_loadb(raw, n, 0, NULL);
  free(raw);
  return ops;
}

static void test_mutate_patch(void **state) {
  (void)state;
  rec_t rec = {0};
  pol_adm *a = setup(&rec);
  json_t *req = pod_request("{\"team\":\"a\"}", "nginx:1.25", NULL);
  pol_admit_out out;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(pol_admit_ex(a, req, POL_ADMIT_ALL, &out, &e), IDP_OK);
  assert_true(out.allowed);
  assert_string_equal(idp_json_get_str(out.response, "uid", NULL), "u1");
  assert_string_equal(idp_json_get_str(out.response, "patchType", NULL), "JSONPatch");
  json_t *ops = decode_patch(out.response);
  assert_non_null(ops);
  /* the patch applied to the original gives the mutated object */
  json_t *res = NULL;
  assert_int_equal(idp_json_patch(json_object_get(req, "object"), ops, &res, &e), IDP_OK);
  assert_string_equal(idp_json_get_str(res, "metadata", "labels", "env", NULL), "dev");
  assert_string_equal(idp_json_get_str(res, "metadata", "labels", "team", NULL), "a");
  /* validation ran on the mutated object: check-env passed */
  assert_null(json_object_get(out.response, "warnings"));
  assert_true(rec.calls >= 3);
  assert_int_equal(rec.fails, 0);
  json_decref(res);
  json_decref(ops);
  pol_admit_out_clear(&out);
  json_decref(req);
  pol_admission_free(a);
}

static void test_deny_message(void **state) {
  (void)state;
  rec_t rec = {0};
  pol_adm *a = setup(&rec);
  json_t *req = pod_request("{\"app\":\"x\"}", "nginx:1.25", NULL);
  json_t *resp = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(pol_admit(a, req, &resp, &e), IDP_OK);
  assert_true(json_is_false(json_object_get(resp, "allowed")));
  assert_int_equal(json_integer_value(idp_json_get(resp, "status", "code", NULL)), 400);
  const char *msg = idp_json_get_str(resp, "status", "message", NULL);
  assert_string_equal(msg,
                      "\n\nresource Pod/team-a/web was blocked due to the following policies "
                      "\n\nrequire-team:\n  check-team: 'validation error: team label required. "
                      "rule check-team failed at path /metadata/labels/team/'\n");
  assert_null(json_object_get(resp, "patch")); /* denied: no patch */
  assert_int_equal(rec.calls, 0);             /* denied: nothing reported */
  assert_non_null(strstr(pol_admission_denial_prefix(false), "validate.kyverno.svc-fail"));
  json_decref(resp);
  json_decref(req);
  pol_admission_free(a);
}

static void test_audit_warning(void **state) {
  (void)state;
  rec_t rec = {0};
  pol_adm *a = setup(&rec);
  json_t *req = pod_request("{\"team\":\"a\"}", "nginx:latest", NULL);
  json_t *resp = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(pol_admit(a, req, &resp, &e), IDP_OK);
  assert_true(json_is_true(json_object_get(resp, "allowed")));
  const json_t *w = json_object_get(resp, "warnings");
  assert_int_equal(json_array_size(w), 1);
  assert_string_equal(json_string_value(json_array_get(w, 0)),
                      "policy disallow-latest.no-latest: validation error: latest tag is not "
                      "allowed. rule no-latest failed at path /spec/containers/0/image/");
  assert_int_equal(rec.fails, 1); /* recorded for the report */
  json_decref(resp);
  json_decref(req);
  pol_admission_free(a);
}

static void test_dry_run(void **state) {
  (void)state;
  rec_t rec = {0};
  pol_adm *a = setup(&rec);
  json_t *req = pod_request("{\"team\":\"a\"}", "nginx:latest", ",\"dryRun\":true");
  pol_admit_out out;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(pol_admit_ex(a, req, POL_ADMIT_ALL, &out, &e), IDP_OK);
  assert_true(out.allowed);
  assert_non_null(json_object_get(out.response, "patch")); /* dry run still mutates */
  assert_int_equal(rec.calls, 0);                          /* but reports nothing */
  pol_admit_out_clear(&out);
  json_decref(req);
  /* a denied dry run is denied the same way */
  req = pod_request("{}", "nginx:1", ",\"dryRun\":true");
  assert_int_equal(pol_admit_ex(a, req, POL_ADMIT_ALL, &out, &e), IDP_OK);
  assert_false(out.allowed);
  pol_admit_out_clear(&out);
  json_decref(req);
  pol_admission_free(a);
}

static void test_modes_and_filters(void **state) {
  (void)state;
  rec_t rec = {0};
  pol_adm *a = setup(&rec);
  idp_err e = IDP_ERR_INIT;
  pol_admit_out out;
  /* /mutate only: no validation, so no denial */
  json_t *req = pod_request("{}", "nginx:1", NULL);
  assert_int_equal(pol_admit_ex(a, req, POL_ADMIT_MUTATE, &out, &e), IDP_OK);
  assert_true(out.allowed);
  assert_non_null(out.patched);
  pol_admit_out_clear(&out);
  /* /validate only: no patch, denial */
  assert_int_equal(pol_admit_ex(a, req, POL_ADMIT_VALIDATE, &out, &e), IDP_OK);
  assert_false(out.allowed);
  assert_null(json_object_get(out.response, "patch"));
  pol_admit_out_clear(&out);
  json_decref(req);
  /* kube-system is never processed */
  req = pod_request("{}", "nginx:1", NULL);
  json_object_set_new(req, "namespace", json_string("kube-system"));
  assert_int_equal(pol_admit_ex(a, req, POL_ADMIT_ALL, &out, &e), IDP_OK);
  assert_true(out.allowed);
  assert_null(json_object_get(out.response, "patch"));
  pol_admit_out_clear(&out);
  json_decref(req);
  /* malformed requests are errors, not crashes */
  req = J("{\"kind\":{\"kind\":\"Pod\"}}");
  assert_int_equal(pol_admit_ex(a, req, POL_ADMIT_ALL, &out, &e), IDP_EINVAL);
  pol_admit_out_clear(&out);
  json_decref(req);
  pol_admission_free(a);
}

static void test_generate_list(void **state) {
  (void)state;
  rec_t rec = {0};
  pol_adm *a = setup(&rec);
  json_t *req = J("{\"uid\":\"u2\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Namespace\"},"
                  "\"name\":\"team-b\",\"operation\":\"CREATE\",\"object\":{\"apiVersion\":\"v1\","
                  "\"kind\":\"Namespace\",\"metadata\":{\"name\":\"team-b\"}}}");
  pol_admit_out out;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(pol_admit_ex(a, req, POL_ADMIT_ALL, &out, &e), IDP_OK);
  assert_true(out.allowed);
  assert_int_equal(json_array_size(out.generate), 1);
  const json_t *g = json_array_get(out.generate, 0);
  assert_true(json_is_true(json_object_get(g, "synchronize")));
  const json_t *o = json_object_get(g, "object");
  assert_string_equal(idp_json_get_str(o, "kind", NULL), "NetworkPolicy");
  assert_string_equal(idp_json_get_str(o, "metadata", "namespace", NULL), "team-b");
  const json_t *l = idp_json_get(o, "metadata", "labels", NULL);
  assert_string_equal(idp_json_get_str(l, "generate.kyverno.io/policy-name", NULL), "default-netpol");
  assert_string_equal(idp_json_get_str(l, "generate.kyverno.io/rule-name", NULL), "deny-all");
  assert_string_equal(idp_json_get_str(l, "generate.kyverno.io/trigger-kind", NULL), "Namespace");
  assert_string_equal(idp_json_get_str(l, "app.kubernetes.io/managed-by", NULL), "kyverno");
  pol_admit_out_clear(&out);
  /* dry run: nothing generated */
  json_object_set_new(req, "dryRun", json_true());
  assert_int_equal(pol_admit_ex(a, req, POL_ADMIT_ALL, &out, &e), IDP_OK);
  assert_null(out.generate);
  pol_admit_out_clear(&out);
  json_decref(req);
  pol_admission_free(a);
}

static void test_policy_validation_and_swap(void **state) {
  (void)state;
  rec_t rec = {0};
  pol_adm *a = setup(&rec);
  idp_err e = IDP_ERR_INIT;
  json_t *bad = J("{\"apiVersion\":\"kyverno.io/v1\",\"kind\":\"ClusterPolicy\",\"metadata\":"
                  "{\"name\":\"bad\"},\"spec\":{\"rules\":[{\"name\":\"r1\",\"match\":{\"any\":"
                  "[{\"resources\":{\"kinds\":[\"Pod\"]}}]},\"validate\":{\"deny\":{\"conditions\":"
                  "{\"any\":[{\"key\":\"a\",\"operator\":\"Bogus\",\"value\":\"b\"}]}}}}]}}");
  assert_int_equal(pol_admission_validate_policy(bad, &e), IDP_EINVALID);
  assert_non_null(strstr(e.msg, "bad"));
  assert_non_null(strstr(e.msg, "r1"));
  assert_int_equal(pol_admission_set_policy(a, bad, &e), IDP_EINVALID);
  json_decref(bad);
  pol_set *s = pol_admission_snapshot(a);
  assert_int_equal(pol_set_size(s), 4);
  /* deleting the Enforce policy: the old snapshot is unchanged, a new
   * request is admitted */
  pol_admission_delete_policy(a, NULL, "require-team");
  assert_int_equal(pol_set_size(s), 4);
  assert_non_null(pol_set_find(s, NULL, "require-team"));
  pol_set_release(s);
  s = pol_admission_snapshot(a);
  assert_int_equal(pol_set_size(s), 3);
  assert_null(pol_set_find(s, NULL, "require-team"));
  pol_set_release(s);
  json_t *req = pod_request("{}", "nginx:1", NULL);
  json_t *resp = NULL;
  assert_int_equal(pol_admit(a, req, &resp, &e), IDP_OK);
  assert_true(json_is_true(json_object_get(resp, "allowed")));
  json_decref(resp);
  json_decref(req);
  pol_admission_free(a);
}

static void test_diff_and_base64(void **state) {
  (void)state;
  const char *cases[][2] = {
      {"{\"a\":1,\"b\":{\"c\":[1,2,3]},\"d~/x\":1}", "{\"a\":2,\"b\":{\"c\":[1,5]},\"e\":[1]}"},
      {"{\"l\":[1]}", "{\"l\":[1,2,{\"x\":1}]}"},
      {"{\"s\":\"x\"}", "{\"s\":\"x\"}"},
  };
  for (size_t i = 0; i < IDP_ARRAY_LEN(cases); i++) {
    json_t *a = J(cases[i][0]), *b = J(cases[i][1]);
    json_t *ops = pol_json_diff(a, b), *res = NULL;
    idp_err e = IDP_ERR_INIT;
    assert_int_equal(idp_json_patch(a, ops, &res, &e), IDP_OK);
    assert_true(json_equal(res, b));
    if (i == 2) assert_int_equal(json_array_size(ops), 0);
    json_decref(res);
    json_decref(ops);
    json_decref(a);
    json_decref(b);
  }
  const char *b64[][2] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
                          {"foobar", "Zm9vYmFy"}};
  for (size_t i = 0; i < IDP_ARRAY_LEN(b64); i++) {
    char *s = pol_base64((const unsigned char *)b64[i][0], strlen(b64[i][0]));
    assert_string_equal(s, b64[i][1]);
    free(s);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mutate_patch),      cmocka_unit_test(test_deny_message),
      cmocka_unit_test(test_audit_warning),     cmocka_unit_test(test_dry_run),
      cmocka_unit_test(test_modes_and_filters), cmocka_unit_test(test_generate_list),
      cmocka_unit_test(test_policy_validation_and_swap), cmocka_unit_test(test_diff_and_base64),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
