/* autogen.c: Kyverno's rule generation for Pod controllers (pkg/autogen).
 *
 * A rule that matches Pods is copied as `autogen-<rule>` for the
 * controllers with a pod template under spec.template, and as
 * `autogen-cronjob-<rule>` for CronJob (spec.jobTemplate.spec.template):
 * kinds become the controllers, patterns and strategic-merge patches are
 * wrapped in the template path, and `request.object.spec|metadata`
 * references anywhere else in the rule are rewritten to the template.
 * Autogen is off for the whole policy when any rule's match/exclude uses
 * names, selector or annotations, mixes Pod with other kinds, or mutates
 * with a JSON patch; the annotation
 * pod-policies.kyverno.io/autogen-controllers picks the controllers
 * ("none" disables). */
#include "core/common.h"

#include "core/buf.h"
#include "core/json.h"
#include "policy/internal.h"

static const char *const default_controllers =
    "DaemonSet,Deployment,Job,StatefulSet,ReplicaSet,ReplicationController,CronJob";

static const char *const template_controllers[] = {
    "DaemonSet", "Deployment", "Job", "StatefulSet", "ReplicaSet", "ReplicationController",
};

/* Calls fn on every resource description (legacy, any[], all[]) of match
 * and exclude. */
typedef bool (*rd_fn)(const json_t *rd, void *arg);
static bool each_rd(const json_t *rule, rd_fn fn, void *arg) {
  static const char *const blocks[] = {"match", "exclude"};
  for (size_t b = 0; b < 2; b++) {
    const json_t *m = json_object_get(rule, blocks[b]);
    if (!json_is_object(m)) continue;
    const json_t *rd = json_object_get(m, "resources");
    if (rd && !fn(rd, arg)) return false;
    static const char *const lists[] = {"any", "all"};
    for (size_t l = 0; l < 2; l++) {
      const json_t *arr = json_object_get(m, lists[l]);
      for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *r = json_object_get(json_array_get(arr, i), "resources");
        if (r && !fn(r, arg)) return false;
      }
    }
  }
  return true;
}

static bool kinds_has(const json_t *kinds, const char *k) {
  for (size_t i = 0; i < json_array_size(kinds); i++) {
    const char *s = json_string_value(json_array_get(kinds, i));
    if (!s) continue;
    const char *slash = strrchr(s, '/');
    const char *base = slash ? slash + 1 : s;
    if (strcmp(base, k) == 0 || strcmp(s, k) == 0) return true;
  }
  return false;
}

static bool rd_supports(const json_t *rd, void *arg) {
  bool *needed = arg;
  const char *name = json_string_value(json_object_get(rd, "name"));
  if ((name && *name) || json_array_size(json_object_get(rd, "names")) > 0 ||
      (json_object_get(rd, "selector") && !json_is_null(json_object_get(rd, "selector"))) ||
      (json_object_get(rd, "annotations") && !json_is_null(json_object_get(rd, "annotations"))))
    return false;
  const json_t *kinds = json_object_get(rd, "kinds");
  if (json_array_size(kinds) > 1 && kinds_has(kinds, "Pod")) return false;
  static const char *const pod_kinds[] = {"Pod", "DaemonSet", "Deployment", "Job", "StatefulSet",
                                          "ReplicaSet", "ReplicationController", "CronJob"};
  for (size_t i = 0; i < IDP_ARRAY_LEN(pod_kinds); i++)
    if (kinds_has(kinds, pod_kinds[i])) *needed = true;
  return true;
}

/* CanAutoGen: whether the policy allows autogen at all. */
static bool can_autogen(const json_t *rules) {
  bool needed = false;
  for (size_t i = 0; i < json_array_size(rules); i++) {
    const json_t *r = json_array_get(rules, i);
    if (json_object_get(r, "generate")) return false;
    if (!each_rd(r, rd_supports, &needed)) return false;
    const json_t *mut = json_object_get(r, "mutate");
    if (json_object_get(mut, "patchesJson6902")) return false;
    const json_t *fe = json_object_get(mut, "foreach");
    for (size_t j = 0; j < json_array_size(fe); j++)
      if (json_object_get(json_array_get(fe, j), "patchesJson6902")) return false;
  }
  return needed;
}

static bool collect_kinds(const json_t *rd, void *arg) {
  json_t *out = arg;
  const json_t *kinds = json_object_get(rd, "kinds");
  for (size_t i = 0; i < json_array_size(kinds); i++) json_array_append(out, json_array_get(kinds, i));
  return true;
}

static char *replace_all(const char *s, const char *from, const char *to) {
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  size_t fl = strlen(from);
  const char *p = s, *q;
  while ((q = strstr(p, from))) {
    idp_buf_add(&b, p, (size_t)(q - p));
    idp_buf_adds(&b, to);
    p = q + fl;
  }
  idp_buf_adds(&b, p);
  char *r = idp_buf_detach(&b, NULL);
  return r ? r : strdup("");
}

/* Rewrites request.(old)object.spec/metadata in every string of v. */
static json_t *rewrite(const json_t *v, const char *tmpl /* "spec.template" */) {
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    if (!strstr(s, "request.")) return json_incref((json_t *)v);
    static const char *const objs[] = {"request.object", "request.oldObject"};
    char *cur = strdup(s);
    for (size_t i = 0; i < 2; i++) {
      char from[64], to[160], *n;
      /* one pass per prefix with a placeholder so replaced text is not re-matched */
      snprintf(from, sizeof from, "%s.spec", objs[i]);
      snprintf(to, sizeof to, "%s.\x01.spec", objs[i]);
      n = replace_all(cur, from, to);
      free(cur);
      cur = n;
      snprintf(from, sizeof from, "%s.metadata", objs[i]);
      snprintf(to, sizeof to, "%s.\x01.metadata", objs[i]);
      n = replace_all(cur, from, to);
      free(cur);
      cur = n;
    }
    char *fin = replace_all(cur, "\x01", tmpl);
    free(cur);
    json_t *r = json_string(fin);
    free(fin);
    return r;
  }
  if (json_is_array(v)) {
    json_t *a = json_array();
    for (size_t i = 0; i < json_array_size(v); i++)
      json_array_append_new(a, rewrite(json_array_get(v, i), tmpl));
    return a;
  }
  if (json_is_object(v)) {
    json_t *o = json_object();
    const char *k;
    json_t *c;
    json_object_foreach((json_t *)v, k, c) { json_object_set_new(o, k, rewrite(c, tmpl)); }
    return o;
  }
  return json_incref((json_t *)v);
}

/* {spec: {template: p}} or {spec: {jobTemplate: {spec: {template: p}}}} */
static json_t *wrap(const json_t *p, bool cron) {
  json_t *t = json_pack("{s:{s:O}}", "spec", "template", p);
  if (!cron) return t;
  return json_pack("{s:{s:o}}", "spec", "jobTemplate", t);
}

/* Kinds of the generated rule: the legacy filter always takes them, any/all
 * filters only where they named Pod (every filter for the CronJob rule). */
static void set_kinds(json_t *m, json_t *kinds, bool exclude, bool all_filters) {
  if (!json_is_object(m)) return;
  static const char *const lists[] = {"any", "all"};
  for (size_t l = 0; l < 2; l++) {
    json_t *arr = json_object_get(m, lists[l]);
    if (!json_array_size(arr)) continue;
    for (size_t i = 0; i < json_array_size(arr); i++) {
      json_t *r = json_object_get(json_array_get(arr, i), "resources");
      if (!json_is_object(r)) continue;
      if (all_filters || kinds_has(json_object_get(r, "kinds"), "Pod"))
        json_object_set(r, "kinds", kinds);
    }
    return;
  }
  json_t *rd = json_object_get(m, "resources");
  if (!json_is_object(rd)) {
    if (exclude) return;
    rd = json_object();
    json_object_set_new(m, "resources", rd);
  }
  if (!exclude || json_array_size(json_object_get(rd, "kinds")) > 0)
    json_object_set(rd, "kinds", kinds);
}

static json_t *gen_rule(const json_t *rule, json_t *kinds, bool cron) {
  const char *tmpl = cron ? "spec.jobTemplate.spec.template" : "spec.template";
  json_t *r = json_object();
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)rule, k, v) {
    if (strcmp(k, "match") == 0 || strcmp(k, "exclude") == 0) {
      json_t *c = json_deep_copy(v);
      set_kinds(c, kinds, strcmp(k, "exclude") == 0, cron);
      json_object_set_new(r, k, c);
    } else if (strcmp(k, "name") == 0) {
      char name[320];
      snprintf(name, sizeof name, "%s%s", cron ? "autogen-cronjob-" : "autogen-",
               json_string_value(v) ? json_string_value(v) : "");
      name[63] = '\0'; /* rule names are capped at 63 characters */
      json_object_set_new(r, "name", json_string(name));
    } else {
      json_object_set_new(r, k, rewrite(v, tmpl));
    }
  }
  json_t *val = json_object_get(r, "validate");
  if (json_is_object(val)) {
    json_t *pat = json_object_get(val, "pattern");
    if (pat) json_object_set_new(val, "pattern", wrap(pat, cron));
    json_t *any = json_object_get(val, "anyPattern");
    if (json_is_array(any)) {
      json_t *na = json_array();
      for (size_t i = 0; i < json_array_size(any); i++)
        json_array_append_new(na, wrap(json_array_get(any, i), cron));
      json_object_set_new(val, "anyPattern", na);
    }
  }
  json_t *mut = json_object_get(r, "mutate");
  if (json_is_object(mut)) {
    json_t *smp = json_object_get(mut, "patchStrategicMerge");
    json_t *fe = json_object_get(mut, "foreach");
    if (smp) {
      json_t *nm = json_pack("{s:o}", "patchStrategicMerge", wrap(smp, cron));
      json_object_set_new(r, "mutate", nm);
    } else if (json_array_size(fe) > 0) {
      /* foreach entries keep list, context and preconditions; the patch is
       * wrapped like the rule-level one */
      json_t *nf = json_array();
      for (size_t i = 0; i < json_array_size(fe); i++) {
        json_t *f = json_array_get(fe, i), *e = json_object();
        static const char *const keep[] = {"list", "context", "preconditions"};
        for (size_t k2 = 0; k2 < IDP_ARRAY_LEN(keep); k2++)
          if (json_object_get(f, keep[k2])) json_object_set(e, keep[k2], json_object_get(f, keep[k2]));
        json_t *fp = json_object_get(f, "patchStrategicMerge");
        json_object_set_new(e, "patchStrategicMerge", wrap(fp ? fp : json_null(), cron));
        json_array_append_new(nf, e);
      }
      json_object_set_new(r, "mutate", json_pack("{s:o}", "foreach", nf));
    }
  }
  return r;
}

json_t *pol_autogen_rules(const json_t *policy) {
  json_t *out = json_array();
  const json_t *rules = idp_json_get(policy, "spec", "rules", NULL);
  if (!can_autogen(rules)) return out;
  const char *ann = idp_json_get_str(policy, "metadata", "annotations",
                                     "pod-policies.kyverno.io/autogen-controllers", NULL);
  const char *ctl = ann ? ann : default_controllers;
  if (strcmp(ctl, "none") == 0) return out;
  if (strcmp(ctl, "all") == 0) ctl = default_controllers;
  json_t *tkinds = json_array();
  bool cron = false;
  char buf[512];
  snprintf(buf, sizeof buf, "%s", ctl);
  for (char *s = buf; s && *s;) {
    char *c = strchr(s, ',');
    if (c) *c = 0;
    while (*s == ' ') s++;
    if (strcmp(s, "CronJob") == 0) cron = true;
    for (size_t i = 0; i < IDP_ARRAY_LEN(template_controllers); i++)
      if (strcmp(s, template_controllers[i]) == 0) json_array_append_new(tkinds, json_string(s));
    s = c ? c + 1 : NULL;
  }
  json_t *ckinds = json_pack("[s]", "CronJob");
  for (size_t i = 0; i < json_array_size(rules); i++) {
    const json_t *rule = json_array_get(rules, i);
    const char *name = idp_json_get_str(rule, "name", NULL);
    if (name && strncmp(name, "autogen-", 8) == 0) continue;
    if (json_object_get(rule, "generate")) continue;
    json_t *mk = json_array(), *xk = json_array();
    const json_t *m = json_object_get(rule, "match"), *x = json_object_get(rule, "exclude");
    json_t *tmp = json_pack("{s:O?}", "match", m);
    each_rd(tmp, collect_kinds, mk);
    json_decref(tmp);
    tmp = json_pack("{s:O?}", "match", x);
    each_rd(tmp, collect_kinds, xk);
    json_decref(tmp);
    bool ok = kinds_has(mk, "Pod") && (json_array_size(xk) == 0 || kinds_has(xk, "Pod"));
    json_decref(mk);
    json_decref(xk);
    if (!ok) continue;
    if (json_array_size(tkinds) > 0) json_array_append_new(out, gen_rule(rule, tkinds, false));
    if (cron) json_array_append_new(out, gen_rule(rule, ckinds, true));
  }
  json_decref(tkinds);
  json_decref(ckinds);
  return out;
}
