/* fuzz_engine: libFuzzer target for policy loading and evaluation.
 *
 * Input: a JSON document used as one rule of a ClusterPolicy (match on
 * Pods is added when missing), run through pol_policy_load and, when it
 * loads, every phase against a fixed Pod and a Deployment.  Exercises
 * validation of the policy, autogen, variables, conditions, anchors,
 * foreach, mutation and generation for crashes and leaks. */
#include "core/common.h"

#include "core/json.h"
#include "policy/policy.h"

static const char pod[] =
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\","
    "\"labels\":{\"app\":\"x\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"nginx:1\","
    "\"env\":[{\"name\":\"A\",\"value\":\"1\"}]}],\"volumes\":[{\"name\":\"v\",\"emptyDir\":{}}]}}";
static const char deploy[] =
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\",\"namespace\":\"ns\"},"
    "\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x:latest\"}]}}}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 1 << 14) return 0;
  json_t *rule = json_loadb((const char *)data, size, 0, NULL);
  if (!json_is_object(rule)) {
    json_decref(rule);
    return 0;
  }
  if (!json_object_get(rule, "name")) json_object_set_new(rule, "name", json_string("r"));
  if (!json_object_get(rule, "match"))
    json_object_set_new(rule, "match", json_pack("{s:[{s:{s:[s]}}]}", "any", "resources", "kinds", "Pod"));
  json_t *policy = json_pack("{s:s,s:s,s:{s:s},s:{s:[O]}}", "apiVersion", "kyverno.io/v1", "kind",
                             "ClusterPolicy", "metadata", "name", "fuzz", "spec", "rules", rule);
  pol_policy *p = NULL;
  idp_err e = IDP_ERR_INIT;
  if (pol_policy_load(policy, "fuzz", &p, &e) == IDP_OK) {
    const char *objs[] = {pod, deploy};
    for (size_t i = 0; i < 2; i++) {
      json_t *o = json_loads(objs[i], 0, NULL);
      for (int ph = 0; ph < 3; ph++) {
        pol_request req = {.object = o, .operation = "CREATE"};
        pol_response r = {0};
        pol_eval(p, &req, (pol_phase)ph, &r, &e);
        pol_response_clear(&r);
      }
      json_decref(o);
    }
    pol_policy_free(p);
  }
  json_decref(policy);
  json_decref(rule);
  return 0;
}
