/* testrunner.c: `kyverno test` (cli.kyverno.io/v1alpha1 Test) semantics.
 *
 * For each test file: load policies (classic ones run here; CEL-only kinds
 * are recorded by name and reported as unsupported), resources (namespaced
 * ones without a namespace get `default`), values and user info; apply
 * every policy to every resource (mutate across all policies first, then
 * validate on the mutated object, then generate), once per admission
 * operation named by the results; then turn each results[] entry into rows
 * the way the CLI does: resources are selected by name or ns/name (all
 * resources when none matches), one row per rule response named `rule`,
 * `autogen-<rule>` or `autogen-cronjob-<rule>`, "Excluded" (a pass) when the
 * policy produced no response, patched/generated objects compared after
 * tidying. */
#include "core/common.h"

#include <dirent.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/yaml.h"
#include "policy/internal.h"

/* Cluster-scoped kinds: the built-in Kubernetes resources and Kyverno's own,
 * as in the CLI's discovery table; every other kind (CRDs the CLI cannot
 * discover) counts as namespaced, as it does there. */
static const char *const cluster_kinds[] = {
    "Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding",
    "CustomResourceDefinition", "StorageClass", "PriorityClass", "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration", "APIService", "IngressClass", "RuntimeClass", "CSIDriver",
    "CSINode", "VolumeAttachment", "ComponentStatus", "CertificateSigningRequest", "FlowSchema",
    "PriorityLevelConfiguration", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding", "PodSecurityPolicy",
    "TokenReview", "SubjectAccessReview", "SelfSubjectAccessReview", "SelfSubjectReview",
    "ClusterTrustBundle", "IPAddress", "ServiceCIDR", "DeviceClass", "ResourceSlice",
    "VolumeAttributesClass", "StorageVersion", "StorageVersionMigration",
    /* kyverno.io, policies.kyverno.io, wgpolicyk8s.io */
    "ClusterPolicy", "ClusterCleanupPolicy", "GlobalContextEntry", "ClusterPolicyReport",
    "ClusterEphemeralReport", "ValidatingPolicy", "MutatingPolicy", "GeneratingPolicy",
    "ImageValidatingPolicy", "DeletingPolicy",
};

static bool is_cluster_kind(const char *k) {
  for (size_t i = 0; k && i < IDP_ARRAY_LEN(cluster_kinds); i++)
    if (strcmp(k, cluster_kinds[i]) == 0) return true;
  return false;
}

void pol_default_namespace(json_t *o) {
  const char *kind = idp_json_get_str(o, "kind", NULL);
  if (!json_is_object(o) || is_cluster_kind(kind)) return;
  json_t *meta = idp_json_child_object(o, "metadata");
  const char *ns = idp_json_get_str(meta, "namespace", NULL);
  if (!ns || !*ns) json_object_set_new(meta, "namespace", json_string("default"));
}

static void add_row(pol_test_report *rep, const pol_test_row *r) {
  if (rep->n == rep->cap) {
    size_t nc = rep->cap ? rep->cap * 2 : 64;
    pol_test_row *nr = realloc(rep->rows, nc * sizeof *nr);
    if (!nr) return;
    rep->rows = nr;
    rep->cap = nc;
  }
  pol_test_row *x = &rep->rows[rep->n++];
  x->test = strdup(r->test ? r->test : "");
  x->category = strdup(r->category ? r->category : "");
  x->policy = strdup(r->policy ? r->policy : "");
  x->rule = strdup(r->rule ? r->rule : "");
  x->resource = strdup(r->resource ? r->resource : "");
  x->want = strdup(r->want ? r->want : "");
  x->got = strdup(r->got ? r->got : "");
  x->reason = strdup(r->reason ? r->reason : "");
  x->ok = r->ok;
  x->classic = r->classic;
  x->unsupported = r->unsupported;
}

void pol_test_report_free(pol_test_report *rep) {
  for (size_t i = 0; i < rep->n; i++) {
    pol_test_row *r = &rep->rows[i];
    free(r->test);
    free(r->category);
    free(r->policy);
    free(r->rule);
    free(r->resource);
    free(r->want);
    free(r->got);
    free(r->reason);
  }
  free(rep->rows);
  memset(rep, 0, sizeof *rep);
}

/* ---- loading ---- */

static char *join_path(const char *dir, const char *rel) {
  char *p = NULL;
  if (rel[0] == '/') return strdup(rel);
  if (asprintf(&p, "%s/%s", dir, rel) < 0) return NULL;
  return p;
}

/* Appends every document of every file in `paths` (relative to dir). */
static idp_code load_docs(const char *dir, const json_t *paths, json_t *into, idp_err *e) {
  for (size_t i = 0; i < json_array_size(paths); i++) {
    const char *rel = json_string_value(json_array_get(paths, i));
    if (!rel) continue;
    char *full = join_path(dir, rel);
    json_t *docs = NULL;
    idp_code rc = idp_yaml_load_file(full, NULL, &docs, e);
    free(full);
    if (rc != IDP_OK) return rc;
    for (size_t k = 0; k < json_array_size(docs); k++) {
      json_t *d = json_array_get(docs, k);
      /* a v1 List expands into its items */
      const char *kind = idp_json_get_str(d, "kind", NULL);
      if (kind && strcmp(kind, "List") == 0 && json_is_array(json_object_get(d, "items"))) {
        json_array_extend(into, json_object_get(d, "items"));
      } else if (json_is_object(d)) {
        json_array_append(into, d);
      }
    }
    json_decref(docs);
  }
  return IDP_OK;
}

static const char *const test_fields[] = {
    "apiVersion", "kind", "metadata", "policies", "resources", "targetResources", "exceptions",
    "variables", "values", "userinfo", "context", "paramResources", "clusterResources",
    "apiCallResponses", "globalContextEntries", "jsonPayloads", "httpPayloads", "envoyPayloads",
    "results", "checks"};

static const char *const result_fields[] = {
    "policy", "rule", "resources", "resourceSpecs", "kind", "result", "status", "operation",
    "patchedResources", "patchedResource", "generatedResource", "generatedResources",
    "cloneSourceResource", "isValidatingPolicy", "isMutatingPolicy", "isGeneratingPolicy",
    "isImageValidatingPolicy", "isDeletingPolicy", "isValidatingAdmissionPolicy",
    "isMutatingAdmissionPolicy", "failOnMissingResources", "namespace", "resource"};

static bool known_field(const char *k, const char *const *list, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strcasecmp(k, list[i]) == 0) return true;
  return false;
}

/* Case-insensitive member lookup (Go encoding/json). */
static json_t *ci_get(const json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  if (v) return v;
  const char *k;
  json_object_foreach((json_t *)o, k, v) {
    if (strcasecmp(k, key) == 0) return v;
  }
  return NULL;
}

/* ---- resources ---- */

typedef struct {
  json_t *obj;   /* the trigger resource (owned) */
  char key[600]; /* apiVersion,kind,namespace,name */
} tres;

typedef struct {
  const char *name;
  pol_policy *pol;   /* NULL when unsupported or invalid */
  bool unsupported;
  bool invalid;
  char kind[64];
} tpol;

/* per (resource, operation, policy) outcome */
typedef struct {
  pol_response resp; /* all phases' rule results */
  json_t *patched;   /* resource after this policy's mutation (owned) */
} tout;

static const char *res_name(const json_t *o) {
  const char *n = idp_json_get_str(o, "metadata", "name", NULL);
  return n ? n : "";
}
static const char *res_ns(const json_t *o) {
  const char *n = idp_json_get_str(o, "metadata", "namespace", NULL);
  return n ? n : "";
}

/* ---- tidy + compare ---- */

static json_t *tidy(const json_t *v) {
  if (json_is_object(v)) {
    json_t *o = json_object();
    const char *k;
    json_t *c;
    json_object_foreach((json_t *)v, k, c) {
      json_t *t = tidy(c);
      if (!t) continue;
      json_object_set_new(o, k, t);
    }
    if (json_object_size(o) == 0) {
      json_decref(o);
      return NULL;
    }
    return o;
  }
  if (json_is_array(v)) {
    json_t *a = json_array();
    for (size_t i = 0; i < json_array_size(v); i++) {
      json_t *t = tidy(json_array_get(v, i));
      json_array_append_new(a, t ? t : json_null());
    }
    if (json_array_size(a) == 0) {
      json_decref(a);
      return NULL;
    }
    return a;
  }
  if (!v || json_is_null(v)) return NULL;
  return json_deep_copy(v);
}

static json_t *normalize_for_compare(const json_t *o, bool generated) {
  json_t *c = json_deep_copy(o);
  json_t *labels = idp_json_get(c, "metadata", "labels", NULL);
  if (json_is_object(labels)) {
    json_t *keys = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(labels, k, v) {
      if (strncmp(k, "generate.kyverno.io/", 20) == 0) json_array_append_new(keys, json_string(k));
    }
    for (size_t i = 0; i < json_array_size(keys); i++)
      json_object_del(labels, json_string_value(json_array_get(keys, i)));
    json_decref(keys);
  }
  if (generated) {
    json_t *meta = idp_json_child_object(c, "metadata");
    json_t *l = idp_json_child_object(meta, "labels");
    json_object_set_new(l, "app.kubernetes.io/managed-by", json_string("kyverno"));
  }
  json_t *t = tidy(c);
  json_decref(c);
  return t ? t : json_object();
}

static bool same_object(const json_t *a, const json_t *b) {
  const char *fa[] = {idp_json_get_str(a, "apiVersion", NULL), idp_json_get_str(a, "kind", NULL)};
  const char *fb[] = {idp_json_get_str(b, "apiVersion", NULL), idp_json_get_str(b, "kind", NULL)};
  for (int i = 0; i < 2; i++)
    if (!fa[i] || !fb[i] || strcmp(fa[i], fb[i]) != 0) return false;
  return strcmp(res_name(a), res_name(b)) == 0 && strcmp(res_ns(a), res_ns(b)) == 0;
}

/* 1 equal, 0 differ, -1 no expected object with the same identity */
static int compare_expected(const json_t *actual, const json_t *expected_docs, bool generated) {
  for (size_t i = 0; i < json_array_size(expected_docs); i++) {
    const json_t *x = json_array_get(expected_docs, i);
    if (!same_object(actual, x)) continue;
    json_t *na = normalize_for_compare(actual, generated);
    json_t *nx = normalize_for_compare(x, generated);
    bool eq = pol_json_equal(na, nx);
    json_decref(na);
    json_decref(nx);
    return eq ? 1 : 0;
  }
  return -1;
}

/* ---- evaluation ---- */

typedef struct {
  const char *dir;
  const char *path;
  const char *category;
  tpol *pols;
  size_t npols;
  tres *res;
  size_t nres;
  pol_values values;
  json_t *userinfo; /* {roles, clusterRoles, userInfo} */
  json_t *cluster;
  json_t *api_responses;
  json_t *clone_sources;
  json_t *exceptions;
  /* outcomes[op][res][pol] */
  tout *outs[3];
} trun;

static const char *const ops[] = {"CREATE", "UPDATE", "DELETE"};

static int op_index(const char *op) {
  for (int i = 0; i < 3; i++)
    if (op && strcasecmp(op, ops[i]) == 0) return i;
  return 0;
}

/* Runs one policy phase on the current object, as the CLI's processor
 * does: values bound for (policy, resource), the operation they may name,
 * request.object / request.oldObject injections read back into the
 * objects.  Returns the object the next policy sees (new reference). */
static json_t *run_phase(trun *t, size_t p, const json_t *trigger, int opi, pol_phase phase,
                         json_t *cur, tout *o) {
  pol_bound b;
  pol_values_bind(&t->values, t->pols[p].pol->name, res_name(trigger), &b);
  /* request.operation in values sets the admission operation (UPDATE: the
   * resource is also the old object; DELETE: only the old one) */
  const char *op = b.operation ? b.operation : ops[opi];
  bool del = strcmp(op, "DELETE") == 0;
  json_t *obj = del ? NULL : pol_values_object(cur, b.values, "request.object");
  json_t *old = strcmp(op, "CREATE") == 0
                    ? NULL
                    : pol_values_object(del && phase != POL_PHASE_MUTATE ? trigger : cur, b.values,
                                        "request.oldObject");
  pol_request req = {0};
  req.operation = op;
  req.user_info = json_object_get(t->userinfo, "userInfo");
  req.roles = json_object_get(t->userinfo, "roles");
  req.cluster_roles = json_object_get(t->userinfo, "clusterRoles");
  req.namespace_labels = t->values.ns_labels;
  req.values = b.values;
  req.rule_values = b.rule_values;
  req.foreach_values = b.foreach_values;
  req.cluster = t->cluster;
  req.api_responses = t->api_responses;
  req.generate_sources = t->clone_sources;
  req.exceptions = t->exceptions;
  req.object = obj;
  req.old_object = old;
  pol_values_subresource(&t->values, trigger, &req);
  pol_response resp = {0};
  idp_err e = IDP_ERR_INIT;
  pol_eval(t->pols[p].pol, &req, phase, &resp, &e);
  for (size_t k = 0; k < resp.n; k++)
    pol_resp_add(&o->resp, resp.rules[k].rule, resp.rules[k].type, resp.rules[k].status,
                 resp.rules[k].message,
                 resp.rules[k].generated ? json_incref(resp.rules[k].generated) : NULL);
  json_t *next;
  if (phase == POL_PHASE_MUTATE && !del && json_is_object(resp.patched))
    next = json_incref(resp.patched);
  else if (phase != POL_PHASE_GENERATE && obj)
    next = json_incref(obj);
  else
    next = json_incref(cur);
  if (phase == POL_PHASE_MUTATE) o->patched = json_incref(next);
  pol_response_clear(&resp);
  json_decref(obj);
  json_decref(old);
  pol_bound_free(&b);
  return next;
}

static void run_operation(trun *t, int opi) {
  t->outs[opi] = calloc(t->nres * (t->npols ? t->npols : 1), sizeof(tout));
  static const pol_phase phases[] = {POL_PHASE_MUTATE, POL_PHASE_VALIDATE, POL_PHASE_GENERATE};
  for (size_t r = 0; r < t->nres; r++) {
    const json_t *trigger = t->res[r].obj;
    json_t *cur = json_deep_copy(trigger);
    /* mutate across all policies (each sees the previous result), then
     * validate the mutated object, then generate */
    for (size_t ph = 0; ph < IDP_ARRAY_LEN(phases); ph++)
      for (size_t p = 0; p < t->npols; p++) {
        if (!t->pols[p].pol) continue;
        json_t *next = run_phase(t, p, trigger, opi, phases[ph], cur, &t->outs[opi][r * t->npols + p]);
        json_decref(cur);
        cur = next;
      }
    json_decref(cur);
  }
}

static void emit(trun *t, pol_test_report *rep, const char *policy, const char *rule,
                 const char *resource, const char *want, const char *got, const char *reason,
                 bool ok, bool classic, bool unsupported) {
  pol_test_row row = {(char *)t->path, (char *)t->category, (char *)policy, (char *)rule,
                      (char *)resource, (char *)want, (char *)got, (char *)reason,
                      ok, classic, unsupported};
  add_row(rep, &row);
}

static bool rule_name_matches(const char *want, const char *got) {
  if (strcmp(want, got) == 0) return true;
  if (strncmp(got, "autogen-cronjob-", 16) == 0 && strcmp(got + 16, want) == 0) return true;
  if (strncmp(got, "autogen-", 8) == 0 && strcmp(got + 8, want) == 0) return true;
  return false;
}

static void check_result(trun *t, const json_t *res, pol_test_report *rep) {
  const char *pname = json_string_value(ci_get(res, "policy"));
  const char *rule = json_string_value(ci_get(res, "rule"));
  const char *want = json_string_value(ci_get(res, "result"));
  if (!want) want = json_string_value(ci_get(res, "status"));
  if (!pname) pname = "";
  if (!want) want = "";
  const char *slash = strrchr(pname, '/');
  const char *base = slash ? slash + 1 : pname;
  tpol *tp = NULL;
  size_t pidx = 0;
  for (size_t i = 0; i < t->npols; i++)
    if (t->pols[i].name && strcmp(t->pols[i].name, base) == 0) {
      tp = &t->pols[i];
      pidx = i;
      break;
    }
  const json_t *rlist = ci_get(res, "resources");
  json_t *single = NULL; /* the deprecated `resource: name` form */
  if (!rlist && json_is_string(ci_get(res, "resource")))
    rlist = single = json_pack("[O]", ci_get(res, "resource"));
  if (tp && tp->unsupported) {
    char reason[160];
    snprintf(reason, sizeof reason, "unsupported policy kind %s", tp->kind);
    size_t n = json_array_size(rlist);
    for (size_t i = 0; i < (n ? n : 1); i++) {
      const char *rn = n ? json_string_value(json_array_get(rlist, i)) : "";
      emit(t, rep, pname, rule ? rule : "", rn ? rn : "", want, "unsupported", reason, false, false, true);
    }
    json_decref(single);
    return;
  }
  /* select resources */
  size_t nsel = 0;
  size_t *sel = calloc(t->nres ? t->nres : 1, sizeof *sel);
  for (size_t r = 0; r < t->nres; r++) {
    const char *n = res_name(t->res[r].obj), *ns = res_ns(t->res[r].obj);
    bool hit = false;
    for (size_t i = 0; i < json_array_size(rlist) && !hit; i++) {
      const char *want_r = json_string_value(json_array_get(rlist, i));
      if (!want_r) continue;
      char nsn[600];
      snprintf(nsn, sizeof nsn, "%s/%s", ns, n);
      if (strcmp(want_r, n) == 0 || strcmp(want_r, nsn) == 0) hit = true;
    }
    if (hit) sel[nsel++] = r;
  }
  if (nsel == 0)
    for (size_t r = 0; r < t->nres; r++) sel[nsel++] = r;
  int opi = op_index(json_string_value(ci_get(res, "operation")));
  if (!t->outs[opi]) run_operation(t, opi);
  json_t *patched_docs = NULL, *gen_docs = NULL;
  const char *pr = json_string_value(ci_get(res, "patchedResources"));
  if (!pr) pr = json_string_value(ci_get(res, "patchedResource"));
  json_t *gpaths = json_array(); /* generatedResource(s): any of these files */
  static const char *const gkeys[] = {"generatedResource", "generatedResources"};
  for (size_t g = 0; g < 2; g++) {
    const json_t *gv = ci_get(res, gkeys[g]);
    if (json_is_string(gv)) json_array_append(gpaths, (json_t *)gv);
    for (size_t k = 0; json_is_array(gv) && k < json_array_size(gv); k++)
      if (json_is_string(json_array_get(gv, k))) json_array_append(gpaths, json_array_get(gv, k));
  }
  idp_err e = IDP_ERR_INIT;
  char load_err[600] = ""; /* an expected-resource file that does not load fails its rows */
  if (pr) {
    patched_docs = json_array();
    json_t *paths = json_pack("[s]", pr);
    if (load_docs(t->dir, paths, patched_docs, &e) != IDP_OK)
      snprintf(load_err, sizeof load_err, "Resource error: %s", e.msg);
    json_decref(paths);
    for (size_t i = 0; i < json_array_size(patched_docs); i++) pol_default_namespace(json_array_get(patched_docs, i));
  }
  if (json_array_size(gpaths)) {
    gen_docs = json_array();
    if (load_docs(t->dir, gpaths, gen_docs, &e) != IDP_OK)
      snprintf(load_err, sizeof load_err, "Resource error: %s", e.msg);
    for (size_t i = 0; i < json_array_size(gen_docs); i++) pol_default_namespace(json_array_get(gen_docs, i));
  }
  json_decref(gpaths);
  bool fail_missing = json_is_true(ci_get(res, "failOnMissingResources"));
  for (size_t s = 0; s < nsel; s++) {
    const json_t *obj = t->res[sel[s]].obj;
    char rdesc[700];
    snprintf(rdesc, sizeof rdesc, "%s%s%s/%s", res_ns(obj), *res_ns(obj) ? "/" : "",
             idp_json_get_str(obj, "kind", NULL) ? idp_json_get_str(obj, "kind", NULL) : "",
             res_name(obj));
    if (!tp) {
      emit(t, rep, pname, rule ? rule : "", rdesc, want, "", "Not found", false, true, false);
      continue;
    }
    if (tp->invalid) {
      emit(t, rep, pname, rule ? rule : "", rdesc, want, "skip", "invalid policy", true, true, false);
      continue;
    }
    tout *o = &t->outs[opi][sel[s] * t->npols + pidx];
    bool any = false;
    for (size_t k = 0; k < o->resp.n; k++) {
      const pol_rule_result *rr = &o->resp.rules[k];
      if (rule && !rule_name_matches(rule, rr->rule)) continue;
      any = true;
      const char *got = pol_status_name(rr->status);
      char reason[1200];
      snprintf(reason, sizeof reason, "%s", "Ok");
      bool ok = strcmp(got, want) == 0;
      if (*load_err && ((rr->type == POL_MUTATE && patched_docs) ||
                        (rr->type == POL_GENERATE && gen_docs))) {
        emit(t, rep, pname, rr->rule, rdesc, want, got, load_err, false, true, false);
        continue;
      }
      if (rr->type == POL_MUTATE && patched_docs) {
        int c = compare_expected(o->patched, patched_docs, false);
        if (c < 0 && !fail_missing) continue;
        if (c != 1) {
          ok = false;
          snprintf(reason, sizeof reason, "Resource diff");
        }
      }
      if (rr->type == POL_GENERATE && gen_docs) {
        bool found = false, equal = false;
        for (size_t g = 0; g < json_array_size(rr->generated); g++) {
          int c = compare_expected(json_array_get(rr->generated, g), gen_docs, true);
          if (c >= 0) found = true;
          if (c == 1) equal = true;
        }
        if (!found && !fail_missing && json_array_size(rr->generated) == 0) continue;
        if (!equal) {
          ok = false;
          snprintf(reason, sizeof reason, "Resource diff");
        }
      }
      if (ok) {
        snprintf(reason, sizeof reason, "Ok");
      } else if (strcmp(reason, "Resource diff") != 0) {
        snprintf(reason, sizeof reason, "Want %s, got %s: %.1100s", want, got, rr->message);
      }
      emit(t, rep, pname, rr->rule, rdesc, want, got, reason, ok, true, false);
    }
    if (!any) emit(t, rep, pname, rule ? rule : "", rdesc, want, "skip", "Excluded", true, true, false);
  }
  json_decref(patched_docs);
  json_decref(gen_docs);
  json_decref(single);
  free(sel);
}

static void free_run(trun *t) {
  for (int op = 0; op < 3; op++) {
    if (!t->outs[op]) continue;
    for (size_t i = 0; i < t->nres * t->npols; i++) {
      pol_response_clear(&t->outs[op][i].resp);
      json_decref(t->outs[op][i].patched);
    }
    free(t->outs[op]);
  }
  for (size_t i = 0; i < t->npols; i++) pol_policy_free(t->pols[i].pol);
  free(t->pols);
  for (size_t i = 0; i < t->nres; i++) json_decref(t->res[i].obj);
  free(t->res);
  pol_values_free(&t->values);
  json_decref(t->userinfo);
  json_decref(t->cluster);
  json_decref(t->api_responses);
  json_decref(t->clone_sources);
  json_decref(t->exceptions);
}

static void load_error(pol_test_report *rep, const char *path, const char *category,
                       const char *msg) {
  pol_test_row row = {(char *)path, (char *)category, "", "", "", "", "error", (char *)msg,
                      false, true, false};
  add_row(rep, &row);
  rep->load_errors++;
}

/* A Values / UserInfo file: one document with non-empty apiVersion and
 * kind (anything else is the deprecated schema, an error for the test). */
static int load_typed_doc(const char *dir, const char *rel, const char *what, json_t **out,
                          char *msg, size_t n) {
  char *full = join_path(dir, rel);
  json_t *docs = NULL;
  idp_err e = IDP_ERR_INIT;
  *out = NULL;
  if (idp_yaml_load_file(full, NULL, &docs, &e) != IDP_OK) {
    snprintf(msg, n, "%s", e.msg);
    free(full);
    return -1;
  }
  json_t *d = json_array_get(docs, 0);
  const char *av = idp_json_get_str(d, "apiVersion", NULL);
  const char *kind = idp_json_get_str(d, "kind", NULL);
  if (!json_is_object(d) || !av || !*av || !kind || !*kind) {
    snprintf(msg, n, "%s: %s file uses the deprecated schema (apiVersion and kind are required)",
             full, what);
    json_decref(docs);
    free(full);
    return -1;
  }
  *out = json_incref(d);
  json_decref(docs);
  free(full);
  return 0;
}

static idp_code run_test_doc(const char *path, const char *dir, const char *category,
                             const json_t *test, pol_test_report *rep) {
  idp_err e = IDP_ERR_INIT;
  char msg[1400];
  const char *av = idp_json_get_str(test, "apiVersion", NULL);
  const char *kind = idp_json_get_str(test, "kind", NULL);
  if (!av || !*av || !kind || !*kind || json_object_get(test, "name")) {
    load_error(rep, path, category, "test uses the deprecated schema (no apiVersion/kind)");
    return IDP_OK;
  }
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)test, k, v) {
    if (!known_field(k, test_fields, IDP_ARRAY_LEN(test_fields))) {
      snprintf(msg, sizeof msg, "unknown field \"%s\" in Test", k);
      load_error(rep, path, category, msg);
      return IDP_OK;
    }
  }
  const json_t *results = ci_get(test, "results");
  for (size_t i = 0; i < json_array_size(results); i++) {
    json_object_foreach(json_array_get(results, i), k, v) {
      if (!known_field(k, result_fields, IDP_ARRAY_LEN(result_fields))) {
        snprintf(msg, sizeof msg, "unknown field \"%s\" in results[%zu]", k, i);
        load_error(rep, path, category, msg);
        return IDP_OK;
      }
    }
  }
  trun t = {0};
  t.dir = dir;
  t.path = path;
  t.category = category;
  /* policies */
  json_t *pdocs = json_array();
  json_t *rdocs = json_array();
  if (load_docs(dir, ci_get(test, "policies"), pdocs, &e) != IDP_OK ||
      load_docs(dir, ci_get(test, "resources"), rdocs, &e) != IDP_OK) {
    load_error(rep, path, category, e.msg);
    json_decref(pdocs);
    json_decref(rdocs);
    return IDP_OK;
  }
  t.pols = calloc(json_array_size(pdocs) + 1, sizeof(tpol));
  for (size_t i = 0; i < json_array_size(pdocs); i++) {
    const json_t *d = json_array_get(pdocs, i);
    const char *pn = idp_json_get_str(d, "metadata", "name", NULL);
    const char *pk = idp_json_get_str(d, "kind", NULL);
    if (!pn) continue;
    bool dup = false;
    for (size_t j = 0; j < t.npols; j++)
      if (strcmp(t.pols[j].name, pn) == 0) dup = true;
    if (dup) continue;
    tpol *tp = &t.pols[t.npols++];
    tp->name = pn;
    snprintf(tp->kind, sizeof tp->kind, "%s", pk ? pk : "?");
    if (!pol_is_classic(d, NULL)) {
      const char *why = NULL;
      pol_is_classic(d, &why);
      tp->unsupported = true;
      if (pk && (strcmp(pk, "ClusterPolicy") == 0 || strcmp(pk, "Policy") == 0))
        snprintf(tp->kind, sizeof tp->kind, "%s (%s)", pk, why ? why : "");
      continue;
    }
    if (pol_policy_load(d, path, &tp->pol, &e) != IDP_OK) tp->invalid = true;
  }
  /* resources, deduplicated by apiVersion,kind,namespace,name */
  t.res = calloc(json_array_size(rdocs) + 1, sizeof(tres));
  for (size_t i = 0; i < json_array_size(rdocs); i++) {
    json_t *o = json_deep_copy(json_array_get(rdocs, i));
    pol_default_namespace(o);
    tres r;
    snprintf(r.key, sizeof r.key, "%s,%s,%s,%s", idp_json_get_str(o, "apiVersion", NULL) ? idp_json_get_str(o, "apiVersion", NULL) : "",
             idp_json_get_str(o, "kind", NULL) ? idp_json_get_str(o, "kind", NULL) : "", res_ns(o), res_name(o));
    bool dup = false;
    for (size_t j = 0; j < t.nres; j++)
      if (strcmp(t.res[j].key, r.key) == 0) dup = true;
    if (dup) {
      json_decref(o);
      continue;
    }
    r.obj = o;
    t.res[t.nres++] = r;
  }
  json_decref(rdocs);
  /* values: inline Test.values wins; the file is then not read */
  const json_t *vals = ci_get(test, "values");
  json_t *vdoc = NULL;
  const char *vfile = json_string_value(ci_get(test, "variables"));
  if (!vals && vfile) {
    if (load_typed_doc(dir, vfile, "Values", &vdoc, msg, sizeof msg) != 0) {
      load_error(rep, path, category, msg);
      free_run(&t);
      json_decref(pdocs);
      return IDP_OK;
    }
    vals = vdoc;
  }
  pol_values_load(vals, &t.values);
  json_decref(vdoc);
  const char *ufile = json_string_value(ci_get(test, "userinfo"));
  if (ufile && load_typed_doc(dir, ufile, "UserInfo", &t.userinfo, msg, sizeof msg) != 0) {
    load_error(rep, path, category, msg);
    free_run(&t);
    json_decref(pdocs);
    return IDP_OK;
  }
  /* fake cluster for configMap / apiCall */
  if (ci_get(test, "clusterResources")) {
    t.cluster = json_array();
    json_t *crdocs = json_array();
    load_docs(dir, ci_get(test, "clusterResources"), crdocs, &e);
    for (size_t i = 0; i < json_array_size(crdocs); i++) {
      json_t *d = json_array_get(crdocs, i);
      const char *ck = idp_json_get_str(d, "kind", NULL);
      if (ck && strcmp(ck, "ClusterResource") == 0) {
        json_array_extend(t.cluster, idp_json_get(d, "spec", "resources", NULL));
      } else {
        json_t *c = json_deep_copy(d);
        pol_default_namespace(c);
        json_array_append_new(t.cluster, c);
      }
    }
    json_decref(crdocs);
    for (size_t i = 0; i < t.nres; i++) json_array_append(t.cluster, t.res[i].obj);
  }
  t.api_responses = json_incref(ci_get(test, "apiCallResponses"));
  if (ci_get(test, "exceptions")) {
    t.exceptions = json_array();
    if (load_docs(dir, ci_get(test, "exceptions"), t.exceptions, &e) != IDP_OK) {
      load_error(rep, path, category, e.msg);
      free_run(&t);
      json_decref(pdocs);
      return IDP_OK;
    }
  }
  t.clone_sources = json_array();
  for (size_t i = 0; i < json_array_size(results); i++) {
    const char *cs = json_string_value(ci_get(json_array_get(results, i), "cloneSourceResource"));
    if (cs) {
      json_t *paths = json_pack("[s]", cs);
      load_docs(dir, paths, t.clone_sources, &e);
      json_decref(paths);
    }
  }
  for (size_t i = 0; i < json_array_size(t.clone_sources); i++)
    pol_default_namespace(json_array_get(t.clone_sources, i));
  for (size_t i = 0; i < json_array_size(results); i++)
    check_result(&t, json_array_get(results, i), rep);
  free_run(&t);
  json_decref(pdocs);
  return IDP_OK;
}

idp_code pol_test_run_file(const char *path, const char *category, pol_test_report *rep,
                           idp_err *e) {
  json_t *docs = NULL;
  rep->files++;
  if (idp_yaml_load_file(path, NULL, &docs, e) != IDP_OK) {
    load_error(rep, path, category, e->msg);
    return IDP_OK;
  }
  char *dir = strdup(path);
  char *sl = strrchr(dir, '/');
  if (sl)
    *sl = 0;
  else
    snprintf(dir, strlen(dir) + 1, ".");
  for (size_t i = 0; i < json_array_size(docs); i++)
    run_test_doc(path, dir, category, json_array_get(docs, i), rep);
  free(dir);
  json_decref(docs);
  return IDP_OK;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk_dir(const char *dir, const char *root, const char *name, pol_test_report *rep,
                     idp_err *e) {
  DIR *d = opendir(dir);
  if (!d) return;
  char **ents = NULL;
  size_t n = 0, cap = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 32;
      char **ne = realloc(ents, cap * sizeof *ne);
      if (!ne) break;
      ents = ne;
    }
    ents[n++] = strdup(de->d_name);
  }
  closedir(d);
  idp_sort(ents, n, sizeof *ents, cmp_str);
  for (size_t i = 0; i < n; i++) {
    char *full = join_path(dir, ents[i]);
    struct stat st;
    if (stat(full, &st) == 0) {
      if (S_ISDIR(st.st_mode)) {
        walk_dir(full, root, name, rep, e);
      } else if (strcmp(ents[i], name) == 0) {
        /* category: first path component below root */
        const char *rel = full + strlen(root);
        while (*rel == '/') rel++;
        char cat[256];
        const char *sl = strchr(rel, '/');
        snprintf(cat, sizeof cat, "%.*s", (int)(sl ? (size_t)(sl - rel) : strlen(rel)), rel);
        if (strcmp(cat, name) == 0 || !sl) snprintf(cat, sizeof cat, ".");
        pol_test_run_file(full, cat, rep, e);
      }
    }
    free(full);
    free(ents[i]);
  }
  free(ents);
}

idp_code pol_test_run_path(const char *root, const char *file_name, pol_test_report *rep,
                           idp_err *e) {
  struct stat st;
  if (!file_name) file_name = "kyverno-test.yaml";
  if (stat(root, &st) != 0) return idp_err_set(e, IDP_ENOTFOUND, "%s: no such file or directory", root);
  if (!S_ISDIR(st.st_mode)) return pol_test_run_file(root, ".", rep, e);
  char r[4096];
  snprintf(r, sizeof r, "%s", root);
  size_t l = strlen(r);
  while (l > 1 && r[l - 1] == '/') r[--l] = 0;
  walk_dir(r, r, file_name, rep, e);
  return IDP_OK;
}
