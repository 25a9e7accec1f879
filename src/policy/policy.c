/* policy.c: loading and validating ClusterPolicy / Policy documents. */
#include "core/common.h"

#include "core/json.h"
#include "policy/internal.h"

bool pol_is_classic(const json_t *doc, const char **why) {
  const char *av = idp_json_get_str(doc, "apiVersion", NULL);
  const char *kind = idp_json_get_str(doc, "kind", NULL);
  if (!av || !kind || strncmp(av, "kyverno.io/", 11) != 0 ||
      (strcmp(kind, "ClusterPolicy") != 0 && strcmp(kind, "Policy") != 0)) {
    if (why) *why = "not a kyverno.io ClusterPolicy/Policy";
    return false;
  }
  const json_t *rules = idp_json_get(doc, "spec", "rules", NULL);
  for (size_t i = 0; i < json_array_size(rules); i++) {
    const json_t *r = json_array_get(rules, i);
    if (idp_json_get(r, "validate", "cel", NULL)) {
      if (why) *why = "validate.cel (CEL expressions)";
      return false;
    }
    if (json_object_get(r, "celPreconditions")) {
      if (why) *why = "celPreconditions";
      return false;
    }
  }
  return true;
}

typedef struct {
  const char *policy;
  const char *rule;
  idp_err *e;
} vctx;

/* Walks a pattern checking anchors: `+()` is only valid in mutate. */
static bool check_anchors(vctx *v, const json_t *pat, const char *path, bool mutate) {
  if (json_is_object(pat)) {
    const char *k;
    json_t *c;
    json_object_foreach((json_t *)pat, k, c) {
      pol_anchor a = pol_anchor_parse(k, NULL, NULL);
      if (!mutate && a == POL_A_ADD) {
        idp_err_set(v->e, IDP_EINVALID,
                    "policy %s rule %s: %s/%s: add-if-not-present anchor +() is only allowed in mutate",
                    v->policy, v->rule, path, k);
        return false;
      }
      if (mutate && (a == POL_A_NEG || a == POL_A_EXIST)) {
        idp_err_set(v->e, IDP_EINVALID, "policy %s rule %s: %s/%s: anchor not allowed in mutate",
                    v->policy, v->rule, path, k);
        return false;
      }
      if (k[0] && strchr("(=X^<+", k[0]) && k[strlen(k) - 1] == ')' && a == POL_A_NONE &&
          strchr(k, '(') == k + (k[0] == '(' ? 0 : 1)) {
        idp_err_set(v->e, IDP_EINVALID, "policy %s rule %s: %s/%s: malformed anchor", v->policy,
                    v->rule, path, k);
        return false;
      }
      char sub[1024];
      snprintf(sub, sizeof sub, "%s/%s", path, k);
      if (!check_anchors(v, c, sub, mutate)) return false;
    }
  } else if (json_is_array(pat)) {
    for (size_t i = 0; i < json_array_size(pat); i++) {
      char sub[1024];
      snprintf(sub, sizeof sub, "%s/%zu", path, i);
      if (!check_anchors(v, json_array_get(pat, i), sub, mutate)) return false;
    }
  }
  return true;
}

static bool check_conditions(vctx *v, const json_t *conds, const char *where) {
  if (!conds || json_is_null(conds)) return true;
  const json_t *lists[2] = {NULL, NULL};
  if (json_is_array(conds)) {
    lists[0] = conds;
  } else if (json_is_object(conds)) {
    lists[0] = json_object_get(conds, "any");
    lists[1] = json_object_get(conds, "all");
  } else {
    idp_err_set(v->e, IDP_EINVALID, "policy %s rule %s: %s: must be a list or {any, all}",
                v->policy, v->rule, where);
    return false;
  }
  for (size_t l = 0; l < 2; l++)
    for (size_t i = 0; i < json_array_size(lists[l]); i++) {
      const json_t *c = json_array_get(lists[l], i);
      const char *op = idp_json_get_str(c, "operator", NULL);
      if (!op || !pol_operator_known(op)) {
        idp_err_set(v->e, IDP_EINVALID, "policy %s rule %s: %s[%zu].operator: unknown operator %s",
                    v->policy, v->rule, where, i, op ? op : "(missing)");
        return false;
      }
    }
  return true;
}

static bool check_foreach(vctx *v, const json_t *fe, const char *where, bool mutate) {
  for (size_t i = 0; i < json_array_size(fe); i++) {
    const json_t *f = json_array_get(fe, i);
    char w[256];
    snprintf(w, sizeof w, "%s.foreach[%zu]", where, i);
    if (!json_is_string(json_object_get(f, "list"))) {
      idp_err_set(v->e, IDP_EINVALID, "policy %s rule %s: %s.list: required string", v->policy,
                  v->rule, w);
      return false;
    }
    idp_err je = IDP_ERR_INIT;
    const char *list = json_string_value(json_object_get(f, "list"));
    if (!pol_has_vars(list) && !pol_jp_valid(list, &je)) {
      idp_err_set(v->e, IDP_EINVALID, "policy %s rule %s: %s.list: malformed JMESPath: %s",
                  v->policy, v->rule, w, je.msg);
      return false;
    }
    if (!check_conditions(v, json_object_get(f, "preconditions"), w)) return false;
    if (!check_conditions(v, idp_json_get(f, "deny", "conditions", NULL), w)) return false;
    if (!check_anchors(v, json_object_get(f, "pattern"), w, false)) return false;
    if (!check_anchors(v, json_object_get(f, "patchStrategicMerge"), w, true)) return false;
    if (!check_foreach(v, json_object_get(f, "foreach"), w, mutate)) return false;
  }
  return true;
}

/* Every innermost {{ expr }} of every string below v must compile as
 * JMESPath; nested variables are checked after their inner part resolves,
 * at evaluation time. */
static bool check_vars(vctx *v, const json_t *node, const char *path) {
  if (json_is_string(node)) {
    const char *s = json_string_value(node);
    for (const char *p = strstr(s, "{{"); p; p = strstr(p + 2, "{{")) {
      if (p > s && p[-1] == '\\') continue;
      const char *end = strstr(p + 2, "}}");
      if (!end) break;
      const char *inner = strstr(p + 2, "{{");
      if (inner && inner < end) continue; /* nested: check the inner one */
      char expr[2048];
      size_t n = (size_t)(end - (p + 2));
      if (n >= sizeof expr) continue;
      memcpy(expr, p + 2, n);
      expr[n] = '\0';
      char *x = expr;
      while (*x == ' ' || *x == '\t' || *x == '-') x++;
      size_t l = strlen(x);
      while (l && (x[l - 1] == ' ' || x[l - 1] == '\t')) x[--l] = '\0';
      if (!*x || strcmp(x, "@") == 0) continue;
      idp_err je = IDP_ERR_INIT;
      if (!pol_jp_valid(x, &je)) {
        idp_err_set(v->e, IDP_EINVALID, "policy %s rule %s: %s: malformed JMESPath in {{%s}}: %s",
                    v->policy, v->rule, path, x, je.msg);
        return false;
      }
    }
    return true;
  }
  if (json_is_object(node)) {
    const char *k;
    json_t *c;
    json_object_foreach((json_t *)node, k, c) {
      char sub[1024];
      snprintf(sub, sizeof sub, "%s.%s", path, k);
      json_t *ks = json_string(k);
      bool ok = check_vars(v, ks, sub) && check_vars(v, c, sub);
      json_decref(ks);
      if (!ok) return false;
    }
  } else if (json_is_array(node)) {
    for (size_t i = 0; i < json_array_size(node); i++) {
      char sub[1024];
      snprintf(sub, sizeof sub, "%s[%zu]", path, i);
      if (!check_vars(v, json_array_get(node, i), sub)) return false;
    }
  }
  return true;
}

/* Field types as data: (block, field, expected JSON type). */
static const struct {
  const char *block, *field;
  json_type type;
} field_types[] = {
    {"validate", "pattern", JSON_OBJECT},       {"validate", "anyPattern", JSON_ARRAY},
    {"validate", "deny", JSON_OBJECT},          {"validate", "foreach", JSON_ARRAY},
    {"validate", "podSecurity", JSON_OBJECT},   {"validate", "message", JSON_STRING},
    {"mutate", "patchesJson6902", JSON_STRING}, {"mutate", "foreach", JSON_ARRAY},
    {"mutate", "targets", JSON_ARRAY},          {"generate", "kind", JSON_STRING},
    {"generate", "clone", JSON_OBJECT},         {"generate", "cloneList", JSON_OBJECT},
    {"generate", "foreach", JSON_ARRAY},
};

static bool check_types(vctx *v, const json_t *rule) {
  for (size_t i = 0; i < IDP_ARRAY_LEN(field_types); i++) {
    const json_t *b = json_object_get(rule, field_types[i].block);
    const json_t *f = json_object_get(b, field_types[i].field);
    if (f && !json_is_null(f) && json_typeof(f) != field_types[i].type) {
      idp_err_set(v->e, IDP_EINVALID, "policy %s rule %s: %s.%s: wrong type", v->policy, v->rule,
                  field_types[i].block, field_types[i].field);
      return false;
    }
  }
  const json_t *ctx = json_object_get(rule, "context");
  if (ctx && !json_is_array(ctx)) {
    idp_err_set(v->e, IDP_EINVALID, "policy %s rule %s: context: must be a list", v->policy, v->rule);
    return false;
  }
  for (size_t i = 0; i < json_array_size(ctx); i++) {
    const json_t *en = json_array_get(ctx, i);
    if (!json_is_string(json_object_get(en, "name"))) {
      idp_err_set(v->e, IDP_EINVALID, "policy %s rule %s: context[%zu].name: required", v->policy,
                  v->rule, i);
      return false;
    }
  }
  return true;
}

static idp_code validate_policy(const json_t *doc, const char *name, idp_err *e) {
  const json_t *spec = json_object_get(doc, "spec");
  if (!json_is_object(spec))
    return idp_err_set(e, IDP_EINVALID, "policy %s: spec: required object", name);
  const json_t *rules = json_object_get(spec, "rules");
  if (!json_is_array(rules) || json_array_size(rules) == 0)
    return idp_err_set(e, IDP_EINVALID, "policy %s: spec.rules: at least one rule is required", name);
  for (size_t i = 0; i < json_array_size(rules); i++) {
    const json_t *r = json_array_get(rules, i);
    const char *rn = idp_json_get_str(r, "name", NULL);
    if (!json_is_object(r) || !rn || !*rn)
      return idp_err_set(e, IDP_EINVALID, "policy %s: spec.rules[%zu].name: required", name, i);
    vctx v = {name, rn, e};
    int kinds = !!json_object_get(r, "validate") + !!json_object_get(r, "mutate") +
                !!json_object_get(r, "generate") + !!json_object_get(r, "verifyImages");
    if (kinds != 1)
      return idp_err_set(e, IDP_EINVALID,
                         "policy %s rule %s: exactly one of validate, mutate, generate, "
                         "verifyImages is required",
                         name, rn);
    if (!json_is_object(json_object_get(r, "match")))
      return idp_err_set(e, IDP_EINVALID, "policy %s rule %s: match: required object", name, rn);
    if (!check_types(&v, r) ||
        !check_conditions(&v, json_object_get(r, "preconditions"), "preconditions"))
      return IDP_EINVALID;
    static const char *const with_vars[] = {"context", "preconditions", "validate", "mutate",
                                            "generate"};
    for (size_t k = 0; k < IDP_ARRAY_LEN(with_vars); k++)
      if (!check_vars(&v, json_object_get(r, with_vars[k]), with_vars[k])) return IDP_EINVALID;
    const json_t *val = json_object_get(r, "validate");
    if (val) {
      if (json_object_get(val, "pattern") && json_object_get(val, "anyPattern"))
        return idp_err_set(e, IDP_EINVALID,
                           "policy %s rule %s: validate: pattern and anyPattern are exclusive",
                           name, rn);
      if (!check_anchors(&v, json_object_get(val, "pattern"), "validate.pattern", false) ||
          !check_anchors(&v, json_object_get(val, "anyPattern"), "validate.anyPattern", false) ||
          !check_conditions(&v, idp_json_get(val, "deny", "conditions", NULL),
                            "validate.deny.conditions") ||
          !check_foreach(&v, json_object_get(val, "foreach"), "validate", false))
        return IDP_EINVALID;
    }
    const json_t *mut = json_object_get(r, "mutate");
    if (mut) {
      if (!check_anchors(&v, json_object_get(mut, "patchStrategicMerge"),
                         "mutate.patchStrategicMerge", true) ||
          !check_foreach(&v, json_object_get(mut, "foreach"), "mutate", true))
        return IDP_EINVALID;
    }
  }
  return IDP_OK;
}

idp_code pol_policy_load(const json_t *doc, const char *source, pol_policy **out, idp_err *e) {
  *out = NULL;
  const char *why = NULL;
  if (!pol_is_classic(doc, &why))
    return idp_err_set(e, IDP_EUNSUPPORTED, "%s: %s", source ? source : "policy", why);
  const char *name = idp_json_get_str(doc, "metadata", "name", NULL);
  if (!name || !*name)
    return idp_err_set(e, IDP_EINVALID, "%s: metadata.name: required", source ? source : "policy");
  idp_code rc = validate_policy(doc, name, e);
  if (rc != IDP_OK) return rc;
  pol_policy *p = calloc(1, sizeof *p);
  if (!p) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  p->doc = json_deep_copy(doc);
  p->name = strdup(name);
  p->namespaced = strcmp(idp_json_get_str(doc, "kind", NULL), "Policy") == 0;
  const char *ns = idp_json_get_str(doc, "metadata", "namespace", NULL);
  if (p->namespaced) p->ns = strdup(ns ? ns : "default");
  const char *scored =
      idp_json_get_str(doc, "metadata", "annotations", "policies.kyverno.io/scored", NULL);
  p->scored = !(scored && strcmp(scored, "false") == 0);
  const char *ar = idp_json_get_str(doc, "spec", "applyRules", NULL);
  p->apply_one = ar && strcmp(ar, "One") == 0;
  p->rules = json_deep_copy(idp_json_get(doc, "spec", "rules", NULL));
  json_t *gen = pol_autogen_rules(doc);
  json_array_extend(p->rules, gen);
  json_decref(gen);
  *out = p;
  return IDP_OK;
}

void pol_policy_free(pol_policy *p) {
  if (!p) return;
  json_decref(p->doc);
  json_decref(p->rules);
  free(p->name);
  free(p->ns);
  free(p);
}

static const char *action_name(const char *a) {
  if (a && strcasecmp(a, "enforce") == 0) return "Enforce";
  return "Audit";
}

const char *pol_failure_action(const pol_policy *p, const json_t *rule, const char *ns,
                               const json_t *ns_labels) {
  const json_t *spec = json_object_get(p->doc, "spec");
  const json_t *val = json_object_get(rule, "validate");
  const char *a = idp_json_get_str(val, "failureAction", NULL);
  if (!a) a = idp_json_get_str(spec, "validationFailureAction", NULL);
  const json_t *ov = json_object_get(val, "failureActionOverrides");
  if (!json_array_size(ov)) ov = json_object_get(spec, "validationFailureActionOverrides");
  for (size_t i = 0; ns && i < json_array_size(ov); i++) {
    const json_t *o = json_array_get(ov, i);
    const json_t *nss = json_object_get(o, "namespaces");
    const json_t *sel = json_object_get(o, "namespaceSelector");
    bool hit = false;
    for (size_t k = 0; k < json_array_size(nss) && !hit; k++) {
      const char *pat = json_string_value(json_array_get(nss, k));
      hit = pat && pol_wild(pat, ns);
    }
    if (!hit && json_is_object(sel)) {
      json_t *empty = json_object();
      hit = pol_selector_matches(sel, ns_labels ? ns_labels : empty);
      json_decref(empty);
    }
    if (hit) return action_name(idp_json_get_str(o, "action", NULL));
  }
  return action_name(a);
}
