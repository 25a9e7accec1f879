/* engine.c: per-rule evaluation (match -> context -> preconditions -> body)
 * for the three phases, with Kyverno's result semantics. */
#include "core/common.h"

#include "core/json.h"
#include "core/yaml.h"
#include "policy/internal.h"

#define MSG 2048

const char *pol_status_name(pol_status s) {
  static const char *const names[] = {"pass", "fail", "warn", "error", "skip"};
  return (unsigned)s < IDP_ARRAY_LEN(names) ? names[s] : "?";
}

void pol_resp_add(pol_response *r, const char *rule, pol_rtype t, pol_status s, const char *msg,
                  json_t *generated) {
  if (r->n == r->cap) {
    size_t nc = r->cap ? r->cap * 2 : 8;
    pol_rule_result *nr = realloc(r->rules, nc * sizeof *nr);
    if (!nr) {
      json_decref(generated);
      return;
    }
    r->rules = nr;
    r->cap = nc;
  }
  pol_rule_result *x = &r->rules[r->n++];
  x->rule = strdup(rule ? rule : "");
  x->type = t;
  x->status = s;
  x->message = strdup(msg ? msg : "");
  x->generated = generated;
}

void pol_response_clear(pol_response *r) {
  for (size_t i = 0; i < r->n; i++) {
    free(r->rules[i].rule);
    free(r->rules[i].message);
    json_decref(r->rules[i].generated);
  }
  free(r->rules);
  json_decref(r->patched);
  memset(r, 0, sizeof *r);
}

static pol_rtype rule_type(const json_t *rule) {
  if (json_object_get(rule, "validate")) return POL_VALIDATE;
  if (json_object_get(rule, "mutate")) return POL_MUTATE;
  if (json_object_get(rule, "generate")) return POL_GENERATE;
  if (json_object_get(rule, "verifyImages")) return POL_VERIFY;
  return POL_RNONE;
}

typedef struct {
  const pol_policy *p;
  const pol_request *req;
  const json_t *rule;
  const char *rule_name;
  json_t *ctx;
  int nesting;
} rctx;

/* Values given for a rule also serve its autogen copies. */
static const json_t *values_for_rule(const json_t *all, const char *rule) {
  const json_t *v = json_object_get(all, rule);
  if (v) return v;
  if (strncmp(rule, "autogen-cronjob-", 16) == 0) return json_object_get(all, rule + 16);
  if (strncmp(rule, "autogen-", 8) == 0) return json_object_get(all, rule + 8);
  return NULL;
}

/* Adds rule values (CLI) to the context before context entries. */
static void add_rule_values(rctx *rc) {
  const json_t *rv = values_for_rule(rc->req->rule_values, rc->rule_name);
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)rv, k, v) { pol_set_dotted(rc->ctx, k, json_deep_copy(v)); }
}

static void add_foreach_values(rctx *rc, size_t index) {
  const json_t *fv = values_for_rule(rc->req->foreach_values, rc->rule_name);
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)fv, k, v) {
    if (json_is_array(v) && index < json_array_size(v))
      pol_set_dotted(rc->ctx, k, json_deep_copy(json_array_get(v, index)));
  }
}

static void add_element(json_t *ctx, const json_t *el, size_t idx, int nesting) {
  char k[32];
  json_object_set(ctx, "element", (json_t *)el);
  json_object_set_new(ctx, "elementIndex", json_integer((json_int_t)idx));
  snprintf(k, sizeof k, "element%d", nesting);
  json_object_set(ctx, k, (json_t *)el);
  snprintf(k, sizeof k, "elementIndex%d", nesting);
  json_object_set_new(ctx, k, json_integer((json_int_t)idx));
}

/* foreach list: JMESPath on the context; non-lists become one element. */
static json_t *eval_list(const json_t *fe, json_t *ctx, idp_err *e) {
  const char *list = idp_json_get_str(fe, "list", NULL);
  if (!list) return NULL;
  json_t *lv = json_string(list);
  json_t *sub = pol_subst(lv, ctx, POL_VARS_DEFAULT, e);
  json_decref(lv);
  if (!sub || !json_is_string(sub)) {
    json_decref(sub);
    return NULL;
  }
  json_t *out = NULL;
  pol_jp_rc rc = pol_jp_eval(json_string_value(sub), ctx, &out, e);
  json_decref(sub);
  if (rc != POL_JP_OK) return NULL;
  if (!json_is_array(out)) {
    json_t *a = json_array();
    json_array_append_new(a, out);
    return a;
  }
  return out;
}

/* Substitutes `message`; falls back to the raw text. */
static void rule_message(const json_t *v, json_t *ctx, char *buf, size_t n) {
  const json_t *m = json_object_get(v, "message");
  buf[0] = 0;
  if (!json_is_string(m)) return;
  json_t *s = pol_subst(m, ctx, POL_VARS_DEFAULT, NULL);
  if (json_is_string(s))
    snprintf(buf, n, "%s", json_string_value(s));
  else
    snprintf(buf, n, "%s", json_string_value(m));
  json_decref(s);
}

/* ---- validate ---- */

typedef struct {
  pol_status st;
  char msg[MSG];
  bool none; /* nil response (nothing to do) */
} vres;

static vres validate_body(rctx *rc, const json_t *v, const json_t *resource, bool element_scope);

static vres validate_patterns(rctx *rc, const json_t *v, const json_t *resource) {
  vres r = {POL_PASS, {0}, false};
  char umsg[MSG];
  rule_message(v, rc->ctx, umsg, sizeof umsg);
  const json_t *pat = json_object_get(v, "pattern");
  const json_t *any = json_object_get(v, "anyPattern");
  idp_err e = IDP_ERR_INIT;
  if (pat) {
    json_t *sp = pol_subst(pat, rc->ctx, POL_VARS_DEFAULT, &e);
    if (!sp) {
      r.st = POL_ERROR;
      snprintf(r.msg, sizeof r.msg, "variable substitution failed: %s", e.msg);
      return r;
    }
    char path[512];
    int m = pol_match_pattern(resource, sp, path, sizeof path);
    json_decref(sp);
    if (m == 0) {
      snprintf(r.msg, sizeof r.msg, "validation rule '%s' passed.", rc->rule_name);
      return r;
    }
    if (m == 2) {
      r.st = POL_SKIP;
      snprintf(r.msg, sizeof r.msg, "conditional anchor mismatch");
      return r;
    }
    r.st = POL_FAIL;
    snprintf(r.msg, sizeof r.msg, "validation error: %s. rule %s failed at path %s", umsg,
             rc->rule_name, path);
    return r;
  }
  if (json_is_array(any)) {
    json_t *sa = pol_subst(any, rc->ctx, POL_VARS_DEFAULT, &e);
    if (!sa) {
      r.st = POL_ERROR;
      snprintf(r.msg, sizeof r.msg, "variable substitution failed: %s", e.msg);
      return r;
    }
    size_t skips = 0;
    for (size_t i = 0; i < json_array_size(sa); i++) {
      int m = pol_match_pattern(resource, json_array_get(sa, i), NULL, 0);
      if (m == 0) {
        json_decref(sa);
        snprintf(r.msg, sizeof r.msg, "validation rule '%s' anyPattern[%zu] passed.",
                 rc->rule_name, i);
        return r;
      }
      if (m == 2) skips++;
    }
    size_t n = json_array_size(sa);
    json_decref(sa);
    if (n > 0 && skips == n) {
      r.st = POL_SKIP;
      snprintf(r.msg, sizeof r.msg, "all patterns skipped");
      return r;
    }
    r.st = POL_FAIL;
    snprintf(r.msg, sizeof r.msg, "validation error: %s. rule %s failed", umsg, rc->rule_name);
    return r;
  }
  r.none = true;
  return r;
}

static vres validate_deny(rctx *rc, const json_t *v) {
  vres r = {POL_PASS, {0}, false};
  const json_t *deny = json_object_get(v, "deny");
  const json_t *conds = json_object_get(deny, "conditions");
  idp_err e = IDP_ERR_INIT;
  char cmsg[512] = "";
  int d = conds ? pol_conditions(conds, rc->ctx, POL_VARS_PRECONDITION, cmsg, sizeof cmsg, &e) : 1;
  if (d < 0) {
    r.st = POL_ERROR;
    snprintf(r.msg, sizeof r.msg, "failed to check deny conditions: %s", e.msg);
    return r;
  }
  char umsg[MSG];
  rule_message(v, rc->ctx, umsg, sizeof umsg);
  if (d == 1) {
    r.st = POL_FAIL;
    snprintf(r.msg, sizeof r.msg, "%s", *cmsg ? cmsg : umsg);
  } else {
    snprintf(r.msg, sizeof r.msg, "%s", umsg);
  }
  return r;
}

static vres validate_foreach(rctx *rc, const json_t *list, const json_t *resource);

/* Shared body of a validate rule and of a foreach entry. */
static bool is_delete(const pol_request *req) {
  return req->operation && strcmp(req->operation, "DELETE") == 0;
}

static vres validate_body(rctx *rc, const json_t *v, const json_t *resource, bool element_scope) {
  if (json_object_get(v, "deny")) return validate_deny(rc, v);
  if (json_object_get(v, "pattern") || json_object_get(v, "anyPattern")) {
    /* patterns do not apply to a deleted object (only to foreach elements) */
    if (!element_scope && is_delete(rc->req)) {
      vres r = {POL_PASS, {0}, true};
      return r;
    }
    return validate_patterns(rc, v, resource);
  }
  if (json_object_get(v, "foreach")) return validate_foreach(rc, json_object_get(v, "foreach"), resource);
  if (json_object_get(v, "podSecurity")) {
    vres r = {POL_PASS, {0}, is_delete(rc->req)};
    if (r.none) return r;
    int ok = pol_pss_check(resource, json_object_get(v, "podSecurity"), r.msg, sizeof r.msg);
    if (!ok) r.st = POL_FAIL;
    return r;
  }
  vres r = {POL_PASS, {0}, true};
  return r;
}

static vres validate_elements(rctx *rc, const json_t *fe, const json_t *elements,
                              const json_t *resource, size_t *applied) {
  vres r = {POL_PASS, {0}, false};
  const json_t *es = json_object_get(fe, "elementScope");
  json_t *saved = json_copy(rc->ctx);
  for (size_t i = 0; i < json_array_size(elements); i++) {
    const json_t *el = json_array_get(elements, i);
    if (json_is_null(el)) continue;
    json_object_clear(rc->ctx);
    json_object_update(rc->ctx, saved);
    add_element(rc->ctx, el, i, rc->nesting);
    bool scoped = json_is_object(el);
    if (json_is_boolean(es)) {
      if (json_is_true(es) && !json_is_object(el)) {
        r.st = POL_ERROR;
        snprintf(r.msg, sizeof r.msg, "cannot use elementScope=true foreach rules for elements that are not maps");
        goto out;
      }
      scoped = json_is_true(es);
    }
    /* the element's own context, preconditions and body; an error on one
     * element only counts when it is the last (Kyverno's validateElements) */
    idp_err e = IDP_ERR_INIT;
    vres x = {POL_ERROR, {0}, false};
    add_foreach_values(rc, i);
    int pc = 0;
    if (pol_ctx_load(rc->ctx, json_object_get(fe, "context"), rc->req, &e) != 0) {
      snprintf(x.msg, sizeof x.msg, "failed to load context: %s", e.msg);
    } else if ((pc = pol_conditions(json_object_get(fe, "preconditions"), rc->ctx,
                                    POL_VARS_PRECONDITION, NULL, 0, &e)) < 0) {
      snprintf(x.msg, sizeof x.msg, "failed to evaluate preconditions: %s", e.msg);
    } else if (pc == 0) {
      continue;
    } else {
      rc->nesting++;
      x = validate_body(rc, fe, scoped ? el : resource, scoped);
      rc->nesting--;
    }
    if (x.none || x.st == POL_SKIP) continue;
    if (x.st != POL_PASS) {
      if (x.st == POL_ERROR && i + 1 < json_array_size(elements)) continue;
      r.st = x.st;
      snprintf(r.msg, sizeof r.msg, "validation failure: %.2000s", x.msg);
      goto out;
    }
    (*applied)++;
  }
out:
  json_object_clear(rc->ctx);
  json_object_update(rc->ctx, saved);
  json_decref(saved);
  return r;
}

static vres validate_foreach(rctx *rc, const json_t *list, const json_t *resource) {
  size_t applied = 0;
  for (size_t i = 0; i < json_array_size(list); i++) {
    const json_t *fe = json_array_get(list, i);
    idp_err e = IDP_ERR_INIT;
    json_t *elements = eval_list(fe, rc->ctx, &e);
    if (!elements) continue;
    vres r = validate_elements(rc, fe, elements, resource, &applied);
    json_decref(elements);
    if (r.st != POL_PASS) return r;
  }
  vres r = {POL_PASS, {0}, false};
  if (applied == 0) {
    r.st = POL_SKIP;
    snprintf(r.msg, sizeof r.msg, "rule skipped");
  } else {
    snprintf(r.msg, sizeof r.msg, "rule passed");
  }
  return r;
}

/* ---- mutate ---- */

typedef struct {
  pol_status st;
  char msg[MSG];
  json_t *res; /* current resource (owned) */
  bool changed;
} mres;

static void mutate_body(rctx *rc, const json_t *m, mres *mr);

static void apply_patches(rctx *rc, const json_t *m, mres *mr) {
  idp_err e = IDP_ERR_INIT;
  const json_t *smp = json_object_get(m, "patchStrategicMerge");
  const json_t *j6902 = json_object_get(m, "patchesJson6902");
  if (smp) {
    json_t *sp = pol_subst(smp, rc->ctx, POL_VARS_DEFAULT, &e);
    if (!sp) {
      mr->st = POL_ERROR;
      snprintf(mr->msg, sizeof mr->msg, "variable substitution failed: %s", e.msg);
      return;
    }
    bool skipped = false;
    json_t *out = pol_mutate_smp(mr->res, sp, &skipped, &e);
    json_decref(sp);
    if (!out) {
      mr->st = POL_ERROR;
      snprintf(mr->msg, sizeof mr->msg, "failed to patch resource: %s", e.msg);
      return;
    }
    if (!pol_json_equal(out, mr->res)) mr->changed = true;
    json_decref(mr->res);
    mr->res = out;
  }
  if (json_is_string(j6902)) {
    json_t *sp = pol_subst(j6902, rc->ctx, POL_VARS_DEFAULT, &e);
    if (!sp) {
      mr->st = POL_ERROR;
      snprintf(mr->msg, sizeof mr->msg, "variable substitution failed: %s", e.msg);
      return;
    }
    json_t *ops = NULL;
    const char *txt = json_is_string(sp) ? json_string_value(sp) : "";
    if (idp_yaml_load_one(txt, strlen(txt), "patchesJson6902", NULL, &ops, &e) != IDP_OK ||
        !json_is_array(ops)) {
      json_decref(sp);
      json_decref(ops);
      mr->st = POL_ERROR;
      snprintf(mr->msg, sizeof mr->msg, "failed to parse patchesJson6902: %s", e.msg);
      return;
    }
    json_decref(sp);
    json_t *out = pol_mutate_json6902(mr->res, ops, &e);
    json_decref(ops);
    if (!out) {
      mr->st = POL_ERROR;
      snprintf(mr->msg, sizeof mr->msg, "failed to apply JSON patch: %s", e.msg);
      return;
    }
    if (!pol_json_equal(out, mr->res)) mr->changed = true;
    json_decref(mr->res);
    mr->res = out;
  }
}

static void mutate_foreach(rctx *rc, const json_t *list, mres *mr) {
  for (size_t i = 0; i < json_array_size(list) && mr->st != POL_ERROR; i++) {
    const json_t *fe = json_array_get(list, i);
    idp_err e = IDP_ERR_INIT;
    /* the list is evaluated against the resource as patched so far */
    json_t *req = json_object_get(rc->ctx, "request");
    json_object_set(req, "object", mr->res);
    json_t *elements = eval_list(fe, rc->ctx, &e);
    if (!elements) continue;
    const char *order = idp_json_get_str(fe, "order", NULL);
    bool desc = order && strcmp(order, "Descending") == 0;
    json_t *saved = json_copy(rc->ctx);
    size_t n = json_array_size(elements);
    for (size_t k = 0; k < n; k++) {
      size_t idx = desc ? n - 1 - k : k;
      const json_t *el = json_array_get(elements, idx);
      if (json_is_null(el)) continue;
      json_object_clear(rc->ctx);
      json_object_update(rc->ctx, saved);
      json_object_set(json_object_get(rc->ctx, "request"), "object", mr->res);
      add_element(rc->ctx, el, idx, rc->nesting);
      add_foreach_values(rc, idx);
      if (pol_ctx_load(rc->ctx, json_object_get(fe, "context"), rc->req, &e) != 0) {
        mr->st = POL_ERROR;
        snprintf(mr->msg, sizeof mr->msg, "failed to load context: %s", e.msg);
        break;
      }
      int pc = pol_conditions(json_object_get(fe, "preconditions"), rc->ctx,
                              POL_VARS_PRECONDITION, NULL, 0, &e);
      if (pc < 0) {
        mr->st = POL_ERROR;
        snprintf(mr->msg, sizeof mr->msg, "failed to evaluate preconditions: %s", e.msg);
        break;
      }
      if (pc == 0) continue;
      rc->nesting++;
      mutate_body(rc, fe, mr);
      rc->nesting--;
      if (mr->st == POL_ERROR) break;
    }
    json_object_clear(rc->ctx);
    json_object_update(rc->ctx, saved);
    json_decref(saved);
    json_decref(elements);
  }
}

static void mutate_body(rctx *rc, const json_t *m, mres *mr) {
  if (json_object_get(m, "foreach")) {
    mutate_foreach(rc, json_object_get(m, "foreach"), mr);
    return;
  }
  apply_patches(rc, m, mr);
}

/* ---- generate ---- */

static void set_meta(json_t *obj, const char *k, const char *v) {
  json_t *meta = idp_json_child_object(obj, "metadata");
  if (v && *v) json_object_set_new(meta, k, json_string(v));
}

/* The clone source: from the offline lists, else from the live API
 * (new reference or NULL). */
static json_t *find_object(const pol_request *req, const char *api_version, const char *kind,
                           const char *ns, const char *name) {
  const json_t *lists[2] = {req->generate_sources, req->cluster};
  for (size_t l = 0; l < 2; l++)
    for (size_t i = 0; i < json_array_size(lists[l]); i++) {
      const json_t *o = json_array_get(lists[l], i);
      const char *k = idp_json_get_str(o, "kind", NULL);
      const char *n = idp_json_get_str(o, "metadata", "name", NULL);
      const char *s = idp_json_get_str(o, "metadata", "namespace", NULL);
      if (k && n && (!kind || strcmp(k, kind) == 0) && strcmp(n, name) == 0 &&
          (!ns || !*ns || (s && strcmp(s, ns) == 0)))
        return json_incref((json_t *)o);
    }
  if (req->api && req->api->get && kind) {
    json_t *o = NULL;
    idp_err e = IDP_ERR_INIT;
    if (req->api->get(req->api->ud, api_version ? api_version : "v1", kind, ns, name, &o, &e) ==
        IDP_OK)
      return o;
  }
  return NULL;
}

static void drop_server_fields(json_t *obj) {
  json_t *meta = json_object_get(obj, "metadata");
  static const char *const drop[] = {"uid", "resourceVersion", "creationTimestamp",
                                     "managedFields", "ownerReferences", "generation", "selfLink"};
  for (size_t i = 0; i < IDP_ARRAY_LEN(drop); i++) json_object_del(meta, drop[i]);
}

/* cloneList: every object of the source namespace whose kind is listed
 * (Kind, v1/Kind or group/version/Kind) and whose labels match the
 * selector, copied into the target namespace under its own name. */
static void generate_clone_list(rctx *rc, const json_t *sg, json_t *out) {
  const json_t *cl = json_object_get(sg, "cloneList");
  const char *sns = idp_json_get_str(cl, "namespace", NULL);
  const json_t *kinds = json_object_get(cl, "kinds");
  const json_t *sel = json_object_get(cl, "selector");
  const char *tns = idp_json_get_str(sg, "namespace", NULL);
  json_t *live = json_array();
  const pol_api *api = rc->req->api;
  for (size_t k = 0; api && api->get && k < json_array_size(kinds); k++) {
    /* kinds entries are Kind, v1/Kind or group/version/Kind */
    const char *ke = json_string_value(json_array_get(kinds, k));
    if (!ke) continue;
    char avb[256];
    const char *kind = strrchr(ke, '/');
    if (kind) {
      snprintf(avb, sizeof avb, "%.*s", (int)(kind - ke), ke);
      kind++;
    } else {
      snprintf(avb, sizeof avb, "v1");
      kind = ke;
    }
    json_t *items = NULL;
    idp_err e = IDP_ERR_INIT;
    if (api->get(api->ud, avb, kind, sns, NULL, &items, &e) == IDP_OK && json_is_array(items))
      json_array_extend(live, items);
    json_decref(items);
  }
  const json_t *lists[3] = {rc->req->generate_sources, rc->req->cluster, live};
  json_t *seen = json_object();
  for (size_t l = 0; l < 3; l++)
    for (size_t i = 0; i < json_array_size(lists[l]); i++) {
      const json_t *o = json_array_get(lists[l], i);
      const char *ons = idp_json_get_str(o, "metadata", "namespace", NULL);
      const char *on = idp_json_get_str(o, "metadata", "name", NULL);
      if (!on || (sns && (!ons || strcmp(ons, sns) != 0))) continue;
      bool kind_ok = false;
      for (size_t k = 0; k < json_array_size(kinds) && !kind_ok; k++) {
        const char *ke = json_string_value(json_array_get(kinds, k));
        kind_ok = ke && pol_kind_matches(ke, idp_json_get_str(o, "apiVersion", NULL),
                                         idp_json_get_str(o, "kind", NULL), NULL);
      }
      if (!kind_ok) continue;
      if (json_is_object(sel) &&
          !pol_selector_matches(sel, idp_json_get(o, "metadata", "labels", NULL)))
        continue;
      char key[600];
      snprintf(key, sizeof key, "%s/%s", idp_json_get_str(o, "kind", NULL), on);
      if (json_object_get(seen, key)) continue;
      json_object_set_new(seen, key, json_true());
      json_t *c = json_deep_copy(o);
      drop_server_fields(c);
      if (tns) set_meta(c, "namespace", tns);
      json_array_append_new(out, c);
    }
  json_decref(seen);
  json_decref(live);
}

static json_t *generate_one(rctx *rc, const json_t *g, char *msg, size_t n, bool *err) {
  idp_err e = IDP_ERR_INIT;
  json_t *sg = pol_subst(g, rc->ctx, POL_VARS_DEFAULT, &e);
  if (!sg) {
    *err = true;
    snprintf(msg, n, "variable substitution failed: %s", e.msg);
    return NULL;
  }
  const char *av = idp_json_get_str(sg, "apiVersion", NULL);
  const char *kind = idp_json_get_str(sg, "kind", NULL);
  const char *name = idp_json_get_str(sg, "name", NULL);
  const char *ns = idp_json_get_str(sg, "namespace", NULL);
  json_t *obj = NULL;
  const json_t *data = json_object_get(sg, "data");
  const json_t *clone = json_object_get(sg, "clone");
  if (data) {
    obj = json_deep_copy(data);
    if (!json_is_object(obj)) {
      json_decref(obj);
      obj = json_object();
    }
  } else if (json_is_object(clone)) {
    const char *cn = idp_json_get_str(clone, "name", NULL);
    const char *cns = idp_json_get_str(clone, "namespace", NULL);
    json_t *src = cn ? find_object(rc->req, av, kind, cns, cn) : NULL;
    if (!src) {
      *err = true;
      snprintf(msg, n, "source resource %s/%s not found", cns ? cns : "", cn ? cn : "");
      json_decref(sg);
      return NULL;
    }
    obj = json_deep_copy(src);
    json_decref(src);
    drop_server_fields(obj);
  } else if (json_is_object(json_object_get(sg, "cloneList"))) {
    json_t *many = json_array();
    generate_clone_list(rc, sg, many);
    json_decref(sg);
    return many; /* an array: several generated objects */
  } else {
    obj = json_object();
  }
  if (av) json_object_set_new(obj, "apiVersion", json_string(av));
  if (kind) json_object_set_new(obj, "kind", json_string(kind));
  set_meta(obj, "name", name);
  set_meta(obj, "namespace", ns);
  json_decref(sg);
  return obj;
}

/* ---- policy exceptions ---- */

/* A PolicyException naming this policy and rule whose match (and
 * conditions) select the resource turns the rule into a skip. */
static const char *matching_exception(const pol_policy *p, const char *rule,
                                      const json_t *resource, const pol_request *req,
                                      const pol_admission *adm, json_t *ctx) {
  for (size_t i = 0; i < json_array_size(req->exceptions); i++) {
    const json_t *x = json_array_get(req->exceptions, i);
    const char *kind = idp_json_get_str(x, "kind", NULL);
    if (!kind || strcmp(kind, "PolicyException") != 0) continue;
    const json_t *list = idp_json_get(x, "spec", "exceptions", NULL);
    bool named = false;
    for (size_t j = 0; j < json_array_size(list) && !named; j++) {
      const json_t *en = json_array_get(list, j);
      const char *pn = idp_json_get_str(en, "policyName", NULL);
      if (!pn) continue;
      const char *slash = strrchr(pn, '/');
      if (strcmp(slash ? slash + 1 : pn, p->name) != 0 && !pol_wild(pn, p->name)) continue;
      const json_t *rules = json_object_get(en, "ruleNames");
      for (size_t k = 0; k < json_array_size(rules); k++) {
        const char *rn = json_string_value(json_array_get(rules, k));
        if (rn && (pol_wild(rn, rule) || strcmp(rn, rule) == 0)) named = true;
      }
    }
    if (!named) continue;
    json_t *fake = json_pack("{s:O?}", "match", idp_json_get(x, "spec", "match", NULL));
    bool m = pol_rule_matches(NULL, fake, resource, adm, req->subresource);
    json_decref(fake);
    if (!m) continue;
    const json_t *conds = idp_json_get(x, "spec", "conditions", NULL);
    if (conds && pol_conditions(conds, ctx, POL_VARS_PRECONDITION, NULL, 0, NULL) != 1) continue;
    const char *xn = idp_json_get_str(x, "metadata", "name", NULL);
    return xn ? xn : "";
  }
  return NULL;
}

/* ---- driver ---- */

static bool is_update(const pol_request *req) {
  return req->operation && strcmp(req->operation, "UPDATE") == 0;
}

static idp_code eval_rule(const pol_policy *p, const pol_request *req, const json_t *rule,
                          pol_phase phase, const json_t *resource, pol_response *out,
                          json_t **cur) {
  const char *name = idp_json_get_str(rule, "name", NULL);
  if (!name) name = "";
  pol_rtype t = rule_type(rule);
  if ((phase == POL_PHASE_MUTATE) != (t == POL_MUTATE)) return IDP_OK;
  if (phase == POL_PHASE_VALIDATE && t != POL_VALIDATE) return IDP_OK;
  if (phase == POL_PHASE_GENERATE && t != POL_GENERATE) return IDP_OK;
  const json_t *match_obj = resource;
  if (!match_obj || json_is_null(match_obj)) match_obj = req->old_object;
  pol_admission adm = {req->user_info, req->roles,        req->cluster_roles,
                       req->namespace_labels, req->operation, req->parent_kind,
                       req->parent_api_version};
  /* a rule applies when the new object, or on UPDATE the old one, matches */
  bool matched = match_obj && pol_rule_matches(p, rule, match_obj, &adm, req->subresource);
  if (!matched && is_update(req) && req->old_object && req->old_object != match_obj)
    matched = pol_rule_matches(p, rule, req->old_object, &adm, req->subresource);
  if (!matched) return IDP_OK;

  rctx rc = {p, req, rule, name, NULL, 0};
  rc.ctx = pol_ctx_new(req, resource);
  add_rule_values(&rc);
  idp_err e = IDP_ERR_INIT;
  char msg[MSG];
  const char *exc = matching_exception(p, name, match_obj, req, &adm, rc.ctx);
  if (exc) {
    snprintf(msg, sizeof msg, "rule is skipped due to policy exception %s", exc);
    pol_resp_add(out, name, t, POL_SKIP, msg, NULL);
    goto done;
  }
  if (pol_ctx_load(rc.ctx, json_object_get(rule, "context"), req, &e) != 0) {
    snprintf(msg, sizeof msg, "failed to load context: %s", e.msg);
    pol_resp_add(out, name, t, POL_ERROR, msg, NULL);
    goto done;
  }
  int pc = pol_conditions(json_object_get(rule, "preconditions"), rc.ctx, POL_VARS_PRECONDITION,
                          NULL, 0, &e);
  if (pc < 0) {
    snprintf(msg, sizeof msg, "failed to evaluate preconditions: %s", e.msg);
    pol_resp_add(out, name, t, POL_ERROR, msg, NULL);
    goto done;
  }
  if (pc == 0) {
    pol_resp_add(out, name, t, POL_SKIP, "preconditions not met", NULL);
    goto done;
  }
  if (t == POL_VALIDATE) {
    const json_t *v = json_object_get(rule, "validate");
    vres r = validate_body(&rc, v, resource, false);
    if (r.none) goto done;
    /* allowExistingViolations: on UPDATE a pattern / podSecurity rule whose
     * result on the old object is the same (status and message) does not
     * fail again; deny and foreach rules are not compared */
    bool compared = json_object_get(v, "pattern") || json_object_get(v, "anyPattern") ||
                    json_object_get(v, "podSecurity");
    if (compared && r.st != POL_PASS && is_update(req) && req->old_object &&
        !json_is_false(json_object_get(v, "allowExistingViolations"))) {
      rctx oc = rc;
      pol_request oreq = *req;
      oreq.object = req->old_object;
      oc.req = &oreq;
      oc.ctx = pol_ctx_new(&oreq, req->old_object);
      add_rule_values(&oc);
      idp_err oe = IDP_ERR_INIT;
      if (pol_ctx_load(oc.ctx, json_object_get(rule, "context"), &oreq, &oe) == 0) {
        vres o = validate_body(&oc, v, req->old_object, false);
        if (!o.none && o.st == r.st && strcmp(o.msg, r.msg) == 0) {
          r.st = POL_SKIP;
          snprintf(r.msg, sizeof r.msg, "skipping modified resource as validation results have not changed");
        }
      }
      json_decref(oc.ctx);
    }
    if (r.st == POL_FAIL && !p->scored) r.st = POL_WARN;
    pol_resp_add(out, name, t, r.st, r.msg, NULL);
  } else if (t == POL_MUTATE) {
    const json_t *m = json_object_get(rule, "mutate");
    if (json_object_get(m, "targets")) goto done; /* mutate existing: background only */
    mres mr = {POL_PASS, {0}, json_incref(*cur), false};
    mutate_body(&rc, m, &mr);
    if (mr.st == POL_ERROR) {
      pol_resp_add(out, name, t, POL_ERROR, mr.msg, NULL);
      json_decref(mr.res);
    } else if (!mr.changed) {
      pol_resp_add(out, name, t, POL_SKIP, "no patches applied", NULL);
      json_decref(mr.res);
    } else {
      pol_resp_add(out, name, t, POL_PASS, "resource patched", NULL);
      json_decref(*cur);
      *cur = mr.res;
    }
  } else if (t == POL_GENERATE) {
    const json_t *g = json_object_get(rule, "generate");
    json_t *gen = json_array();
    bool err = false;
    msg[0] = 0;
    const json_t *fe = json_object_get(g, "foreach");
    if (json_is_array(fe)) {
      for (size_t i = 0; i < json_array_size(fe) && !err; i++) {
        const json_t *f = json_array_get(fe, i);
        json_t *elements = eval_list(f, rc.ctx, &e);
        json_t *saved = json_copy(rc.ctx);
        for (size_t k = 0; k < json_array_size(elements) && !err; k++) {
          json_object_clear(rc.ctx);
          json_object_update(rc.ctx, saved);
          add_element(rc.ctx, json_array_get(elements, k), k, 0);
          if (pol_ctx_load(rc.ctx, json_object_get(f, "context"), req, &e) != 0) {
            err = true;
            snprintf(msg, sizeof msg, "failed to load context: %s", e.msg);
            break;
          }
          int fpc = pol_conditions(json_object_get(f, "preconditions"), rc.ctx,
                                   POL_VARS_PRECONDITION, NULL, 0, &e);
          if (fpc != 1) continue;
          json_t *o = generate_one(&rc, f, msg, sizeof msg, &err);
          if (json_is_array(o)) json_array_extend(gen, o), json_decref(o);
          else if (o) json_array_append_new(gen, o);
        }
        json_decref(saved);
        json_decref(elements);
      }
    } else {
      json_t *o = generate_one(&rc, g, msg, sizeof msg, &err);
      if (json_is_array(o)) json_array_extend(gen, o), json_decref(o);
      else if (o) json_array_append_new(gen, o);
    }
    if (err) {
      pol_resp_add(out, name, t, POL_ERROR, msg, NULL);
      json_decref(gen);
    } else {
      pol_resp_add(out, name, t, POL_PASS, "", gen);
    }
  }
done:
  json_decref(rc.ctx);
  return IDP_OK;
}

idp_code pol_eval(const pol_policy *p, const pol_request *req, pol_phase phase,
                  pol_response *out, idp_err *e) {
  IDP_UNUSED(e);
  json_t *cur = req->object ? json_incref((json_t *)req->object) : json_null();
  for (size_t i = 0; i < json_array_size(p->rules); i++) {
    const json_t *rule = json_array_get(p->rules, i);
    size_t before = out->n;
    /* mutate rules see the output of the previous ones */
    const json_t *res = phase == POL_PHASE_MUTATE ? cur : req->object;
    eval_rule(p, req, rule, phase, res, out, &cur);
    if (p->apply_one && out->n > before && out->rules[out->n - 1].status != POL_SKIP) break;
  }
  if (phase == POL_PHASE_MUTATE) {
    json_decref(out->patched);
    out->patched = cur;
  } else {
    json_decref(cur);
  }
  return IDP_OK;
}
