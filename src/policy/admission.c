/* admission.c: the admission evaluator (see admission.h): a swappable
 * snapshot of loaded policies, AdmissionReview request -> response
 * (mutate patch, Kyverno's denial message, Audit warnings, generate list). */
#include "core/common.h"

#include <pthread.h>
#include <stdatomic.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/yaml.h"
#include "policy/admission.h"

/* ---- policy set snapshots ---- */

/* policies are immutable once loaded and shared between snapshots */
typedef struct polref {
  atomic_int refs;
  pol_policy *p;
} polref;

static void polref_release(polref *r) {
  if (r && atomic_fetch_sub(&r->refs, 1) == 1) {
    pol_policy_free(r->p);
    free(r);
  }
}

struct pol_set {
  atomic_int refs;
  polref **v;
  size_t n;
};

struct pol_adm {
  pthread_mutex_t mu;
  pol_set *cur;
  pol_adm_opts opts;
};

static pol_set *set_new(size_t cap) {
  pol_set *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->v = calloc(cap ? cap : 1, sizeof *s->v);
  if (!s->v) {
    free(s);
    return NULL;
  }
  atomic_init(&s->refs, 1);
  return s;
}

void pol_set_release(pol_set *s) {
  if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
  for (size_t i = 0; i < s->n; i++) polref_release(s->v[i]);
  free(s->v);
  free(s);
}

size_t pol_set_size(const pol_set *s) { return s ? s->n : 0; }
const pol_policy *pol_set_get(const pol_set *s, size_t i) {
  return s && i < s->n ? s->v[i]->p : NULL;
}

static bool same_ns(const char *a, const char *b) {
  return strcmp(a ? a : "", b ? b : "") == 0;
}

const pol_policy *pol_set_find(const pol_set *s, const char *ns, const char *name) {
  for (size_t i = 0; s && i < s->n; i++)
    if (strcmp(s->v[i]->p->name, name) == 0 && same_ns(s->v[i]->p->ns, ns)) return s->v[i]->p;
  return NULL;
}

pol_set *pol_admission_snapshot(pol_adm *a) {
  pthread_mutex_lock(&a->mu);
  pol_set *s = a->cur;
  atomic_fetch_add(&s->refs, 1);
  pthread_mutex_unlock(&a->mu);
  return s;
}

idp_code pol_admission_new(const pol_adm_opts *o, pol_adm **out, idp_err *e) {
  pol_adm *a = calloc(1, sizeof *a);
  if (!a || !(a->cur = set_new(1))) {
    free(a);
    return idp_err_set(e, IDP_ENOMEM, "allocating the admission evaluator");
  }
  pthread_mutex_init(&a->mu, NULL);
  if (o) a->opts = *o;
  *out = a;
  return IDP_OK;
}

void pol_admission_free(pol_adm *a) {
  if (!a) return;
  pol_set_release(a->cur);
  pthread_mutex_destroy(&a->mu);
  free(a);
}

idp_code pol_admission_validate_policy(const json_t *doc, idp_err *e) {
  const char *kind = idp_json_get_str(doc, "kind", NULL);
  if (!json_is_object(doc) || !kind ||
      (strcmp(kind, "ClusterPolicy") != 0 && strcmp(kind, "Policy") != 0))
    return idp_err_set(e, IDP_EINVALID, "not a kyverno.io ClusterPolicy or Policy");
  if (!pol_is_classic(doc, NULL)) return IDP_OK;
  pol_policy *p = NULL;
  const char *name = idp_json_get_str(doc, "metadata", "name", NULL);
  idp_code rc = pol_policy_load(doc, name ? name : "policy", &p, e);
  pol_policy_free(p);
  return rc;
}

static int cmp_pol(const void *x, const void *y) {
  const pol_policy *a = (*(polref *const *)x)->p, *b = (*(polref *const *)y)->p;
  int c = strcmp(a->ns ? a->ns : "", b->ns ? b->ns : "");
  return c ? c : strcmp(a->name, b->name);
}

/* Builds the next snapshot from the current one without (ns, name), plus
 * `add` (may be NULL), and swaps it in. */
static idp_code swap_in(pol_adm *a, const char *ns, const char *name, pol_policy *add,
                        idp_err *e) {
  pthread_mutex_lock(&a->mu);
  pol_set *old = a->cur;
  pol_set *s = set_new(old->n + 1);
  if (!s) {
    pthread_mutex_unlock(&a->mu);
    pol_policy_free(add);
    return idp_err_set(e, IDP_ENOMEM, "allocating the policy set");
  }
  for (size_t i = 0; i < old->n; i++) {
    polref *r = old->v[i];
    if (strcmp(r->p->name, name) == 0 && same_ns(r->p->ns, ns)) continue;
    atomic_fetch_add(&r->refs, 1);
    s->v[s->n++] = r;
  }
  if (add) {
    polref *r = calloc(1, sizeof *r);
    if (!r) {
      pthread_mutex_unlock(&a->mu);
      pol_policy_free(add);
      pol_set_release(s);
      return idp_err_set(e, IDP_ENOMEM, "allocating the policy set");
    }
    atomic_init(&r->refs, 1);
    r->p = add;
    s->v[s->n++] = r;
  }
  idp_sort(s->v, s->n, sizeof *s->v, cmp_pol);
  a->cur = s;
  pthread_mutex_unlock(&a->mu);
  pol_set_release(old);
  return IDP_OK;
}

idp_code pol_admission_set_policy(pol_adm *a, const json_t *doc, idp_err *e) {
  const char *kind = idp_json_get_str(doc, "kind", NULL);
  const char *name = idp_json_get_str(doc, "metadata", "name", NULL);
  if (!kind || !name) return idp_err_set(e, IDP_EINVALID, "policy without kind or metadata.name");
  if (!pol_is_classic(doc, NULL)) return IDP_OK;
  pol_policy *p = NULL;
  idp_code rc = pol_policy_load(doc, name, &p, e);
  if (rc) return rc;
  const char *ns = strcmp(kind, "Policy") == 0 ? p->ns : NULL;
  return swap_in(a, ns, name, p, e);
}

void pol_admission_delete_policy(pol_adm *a, const char *ns, const char *name) {
  if (name) swap_in(a, ns, name, NULL, NULL);
}

/* ---- JSON patch (RFC 6902) between two documents ---- */

static void ptr_append(idp_buf *b, const char *key) {
  idp_buf_addc(b, '/');
  for (const char *c = key; *c; c++) {
    if (*c == '~') idp_buf_adds(b, "~0");
    else if (*c == '/') idp_buf_adds(b, "~1");
    else idp_buf_addc(b, *c);
  }
}

static void op(json_t *ops, const char *o, const idp_buf *path, const json_t *v) {
  json_t *x = json_pack("{s:s,s:s}", "op", o, "path", idp_buf_str(path));
  if (v) json_object_set_new(x, "value", json_deep_copy(v));
  json_array_append_new(ops, x);
}

static void diff(json_t *ops, idp_buf *path, const json_t *a, const json_t *b) {
  size_t mark = path->len;
  if (json_is_object(a) && json_is_object(b)) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)a, k, v) {
      ptr_append(path, k);
      json_t *w = json_object_get(b, k);
      if (!w) op(ops, "remove", path, NULL);
      else diff(ops, path, v, w);
      path->len = mark;
      path->data[mark] = 0;
    }
    json_object_foreach((json_t *)b, k, v) {
      if (json_object_get(a, k)) continue;
      ptr_append(path, k);
      op(ops, "add", path, v);
      path->len = mark;
      path->data[mark] = 0;
    }
    return;
  }
  if (json_is_array(a) && json_is_array(b)) {
    size_t na = json_array_size(a), nb = json_array_size(b);
    size_t common = na < nb ? na : nb;
    for (size_t i = 0; i < common; i++) {
      idp_buf_printf(path, "/%zu", i);
      diff(ops, path, json_array_get(a, i), json_array_get(b, i));
      path->len = mark;
      path->data[mark] = 0;
    }
    /* removals from the end backwards keep the indexes valid */
    for (size_t i = na; i > nb; i--) {
      idp_buf_printf(path, "/%zu", i - 1);
      op(ops, "remove", path, NULL);
      path->len = mark;
      path->data[mark] = 0;
    }
    for (size_t i = na; i < nb; i++) {
      idp_buf_adds(path, "/-");
      op(ops, "add", path, json_array_get(b, i));
      path->len = mark;
      path->data[mark] = 0;
    }
    return;
  }
  if (!json_equal((json_t *)a, (json_t *)b)) op(ops, "replace", path, b);
}

json_t *pol_json_diff(const json_t *from, const json_t *to) {
  json_t *ops = json_array();
  idp_buf path;
  idp_buf_init(&path, IDP_BUF_DEFAULT_MAX);
  idp_buf_adds(&path, "");
  diff(ops, &path, from, to);
  idp_buf_free(&path);
  return ops;
}

char *pol_base64(const unsigned char *p, size_t n) {
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char *out = malloc((n + 2) / 3 * 4 + 1);
  if (!out) return NULL;
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned)p[i] << 16;
    if (i + 1 < n) v |= (unsigned)p[i + 1] << 8;
    if (i + 2 < n) v |= p[i + 2];
    out[o++] = tab[(v >> 18) & 63];
    out[o++] = tab[(v >> 12) & 63];
    out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < n ? tab[v & 63] : '=';
  }
  out[o] = 0;
  return out;
}

/* ---- generate labels ---- */

/* Label values are at most 63 characters (names longer than that are cut,
 * as Kyverno does for the trigger name). */
static void set_label(json_t *labels, const char *k, const char *v) {
  char b[64];
  snprintf(b, sizeof b, "%s", v ? v : "");
  size_t n = strlen(b);
  while (n && (b[n - 1] == '-' || b[n - 1] == '.' || b[n - 1] == '_')) b[--n] = 0;
  json_object_set_new(labels, k, json_string(b));
}

void pol_generate_labels(json_t *obj, const pol_policy *p, const char *rule,
                         const json_t *trigger) {
  json_t *labels = idp_json_child_object(idp_json_child_object(obj, "metadata"), "labels");
  const char *av = idp_json_get_str(trigger, "apiVersion", NULL);
  const char *slash = av ? strchr(av, '/') : NULL;
  char group[256] = "";
  if (slash) snprintf(group, sizeof group, "%.*s", (int)(slash - av), av);
  set_label(labels, "app.kubernetes.io/managed-by", "kyverno");
  set_label(labels, "generate.kyverno.io/policy-name", p->name);
  set_label(labels, "generate.kyverno.io/policy-namespace", p->namespaced ? p->ns : "");
  set_label(labels, "generate.kyverno.io/rule-name", rule);
  set_label(labels, "generate.kyverno.io/trigger-group", group);
  set_label(labels, "generate.kyverno.io/trigger-version", slash ? slash + 1 : av);
  set_label(labels, "generate.kyverno.io/trigger-kind", idp_json_get_str(trigger, "kind", NULL));
  set_label(labels, "generate.kyverno.io/trigger-namespace",
            idp_json_get_str(trigger, "metadata", "namespace", NULL));
  set_label(labels, "generate.kyverno.io/trigger-name",
            idp_json_get_str(trigger, "metadata", "name", NULL));
  const char *uid = idp_json_get_str(trigger, "metadata", "uid", NULL);
  if (uid) set_label(labels, "generate.kyverno.io/trigger-uid", uid);
}

/* ---- request filters (Kyverno's default resourceFilters) ---- */

static const struct {
  const char *kind, *ns;
} FILTERS[] = {
    {"Event", NULL},        {"*", "kube-system"},        {"*", "kube-public"},
    {"*", "kube-node-lease"}, {"Node", NULL},           {"APIService", NULL},
    {"TokenReview", NULL},  {"SubjectAccessReview", NULL}, {"SelfSubjectAccessReview", NULL},
    {"Binding", NULL},      {"ReplicaSet", NULL},        {"EphemeralReport", NULL},
    {"ClusterEphemeralReport", NULL}, {"PolicyReport", NULL}, {"ClusterPolicyReport", NULL},
    {"Lease", NULL},
};

static bool filtered(const char *kind, const char *ns, const char *sub) {
  if (sub && strcmp(kind, "Pod") == 0 && strcmp(sub, "binding") == 0) return true;
  for (size_t i = 0; i < IDP_ARRAY_LEN(FILTERS); i++) {
    bool k = strcmp(FILTERS[i].kind, "*") == 0 || strcmp(FILTERS[i].kind, kind) == 0;
    bool n = !FILTERS[i].ns || (ns && strcmp(FILTERS[i].ns, ns) == 0);
    if (k && n) return true;
  }
  return false;
}

/* ---- evaluation ---- */

static const json_t *find_rule(const pol_policy *p, const char *name) {
  for (size_t i = 0; i < json_array_size(p->rules); i++) {
    const char *n = idp_json_get_str(json_array_get(p->rules, i), "name", NULL);
    if (n && strcmp(n, name) == 0) return json_array_get(p->rules, i);
  }
  return NULL;
}

static bool fail_closed(const pol_policy *p) {
  const char *fp = idp_json_get_str(p->doc, "spec", "webhookConfiguration", "failurePolicy", NULL);
  if (!fp) fp = idp_json_get_str(p->doc, "spec", "failurePolicy", NULL);
  return !fp || strcasecmp(fp, "Ignore") != 0;
}

static bool admission_enabled(const pol_policy *p) {
  return !json_is_false(idp_json_get(p->doc, "spec", "admission", NULL));
}

/* {policy: {rule: message}} of the denying rules -> Kyverno's text */
static char *blocked_message(const json_t *failures, const char *kind, const char *ns,
                             const char *name) {
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  idp_buf_printf(&b, "\n\nresource %s/%s/%s was blocked due to the following policies \n\n",
                 kind, ns ? ns : "", name ? name : "");
  idp_err e = IDP_ERR_INIT;
  if (idp_yaml_emit(&b, failures, IDP_YAML_SORT_KEYS, &e) != IDP_OK) {
    char *t = idp_json_dump(failures);
    idp_buf_adds(&b, t ? t : "");
    free(t);
  }
  return idp_buf_detach(&b, NULL);
}

static void add_failure(json_t *failures, const pol_policy *p, const pol_rule_result *r) {
  json_t *m = json_object_get(failures, p->name);
  if (!m) {
    m = json_object();
    json_object_set_new(failures, p->name, m);
  }
  json_object_set_new(m, r->rule, json_string(r->message ? r->message : ""));
}

static json_t *namespace_labels(const pol_api *api, const char *ns) {
  if (!api || !api->call || !ns || !*ns) return NULL;
  char path[400];
  snprintf(path, sizeof path, "/api/v1/namespaces/%s", ns);
  json_t *obj = NULL;
  idp_err e = IDP_ERR_INIT;
  if (api->call(api->ud, "GET", path, NULL, &obj, &e) != IDP_OK) return NULL;
  json_t *labels = json_object_get(idp_json_get(obj, "metadata", NULL), "labels");
  json_t *out = json_pack("{s:O}", ns, json_is_object(labels) ? labels : json_object());
  json_decref(obj);
  return out;
}

void pol_admit_out_clear(pol_admit_out *o) {
  if (!o) return;
  json_decref(o->response);
  json_decref(o->patched);
  json_decref(o->generate);
  memset(o, 0, sizeof *o);
}

const char *pol_admission_denial_prefix(bool mutate) {
  return mutate ? "admission webhook \"mutate.kyverno.svc-fail\" denied the request: "
                : "admission webhook \"validate.kyverno.svc-fail\" denied the request: ";
}

json_t *pol_admission_review(const json_t *response) {
  return json_pack("{s:s,s:s,s:O}", "apiVersion", "admission.k8s.io/v1", "kind",
                   "AdmissionReview", "response", response);
}

static void deny(json_t *resp, const char *msg) {
  json_object_set_new(resp, "allowed", json_false());
  json_object_set_new(resp, "status", json_pack("{s:s,s:i,s:s,s:s}", "status", "Failure", "code",
                                                400, "reason", "BadRequest", "message", msg));
}

idp_code pol_admit_ex(pol_adm *a, const json_t *request, pol_admit_mode mode,
                      pol_admit_out *out, idp_err *e) {
  memset(out, 0, sizeof *out);
  const char *uid = idp_json_get_str(request, "uid", NULL);
  const char *kind = idp_json_get_str(request, "kind", "kind", NULL);
  const char *op = idp_json_get_str(request, "operation", NULL);
  if (!json_is_object(request) || !uid || !kind || !op)
    return idp_err_set(e, IDP_EINVAL, "AdmissionReview request: uid, kind.kind and operation "
                                      "are required");
  const json_t *object = json_object_get(request, "object");
  const json_t *old = json_object_get(request, "oldObject");
  if (object && !json_is_null(object) && !json_is_object(object))
    return idp_err_set(e, IDP_EINVAL, "AdmissionReview request.object: not an object");
  if (json_is_null(object)) object = NULL;
  if (json_is_null(old)) old = NULL;
  const char *ns = idp_json_get_str(request, "namespace", NULL);
  const char *name = idp_json_get_str(request, "name", NULL);
  const char *sub = idp_json_get_str(request, "subResource", NULL);
  if (sub && !*sub) sub = NULL;
  bool dry = json_is_true(json_object_get(request, "dryRun"));
  bool is_delete = strcmp(op, "DELETE") == 0;

  json_t *resp = json_pack("{s:s,s:b}", "uid", uid, "allowed", 1);
  out->response = resp;
  out->allowed = true;
  if (filtered(kind, ns, sub) || (!object && !old) || strcmp(op, "CONNECT") == 0) return IDP_OK;

  /* the object as the engine sees it: namespace filled from the request
   * (the API server sets it after admission for some creates) */
  json_t *orig = json_deep_copy(object ? object : old);
  if (ns && *ns && !idp_json_get_str(orig, "metadata", "namespace", NULL))
    json_object_set_new(idp_json_child_object(orig, "metadata"), "namespace", json_string(ns));
  if (name && *name && !idp_json_get_str(orig, "metadata", "name", NULL))
    json_object_set_new(idp_json_child_object(orig, "metadata"), "name", json_string(name));
  json_t *old_copy = old ? json_deep_copy(old) : NULL;
  if (old_copy && ns && *ns && !idp_json_get_str(old_copy, "metadata", "namespace", NULL))
    json_object_set_new(idp_json_child_object(old_copy, "metadata"), "namespace",
                        json_string(ns));
  const char *objns = idp_json_get_str(orig, "metadata", "namespace", NULL);
  const char *objname = idp_json_get_str(orig, "metadata", "name", NULL);
  if (!objname) objname = idp_json_get_str(orig, "metadata", "generateName", NULL);
  const char *objkind = idp_json_get_str(orig, "kind", NULL);
  if (!objkind) objkind = kind;

  pol_set *set = pol_admission_snapshot(a);
  json_t *nslab = namespace_labels(a->opts.api, objns);
  pol_request req = {0};
  req.object = is_delete ? NULL : orig;
  req.old_object = is_delete ? orig : old_copy;
  req.operation = op;
  req.user_info = json_object_get(request, "userInfo");
  req.namespace_labels = nslab;
  req.api = a->opts.api;
  req.subresource = sub;

  json_t *failures = json_object(), *warnings = json_array();
  bool blocked = false;
  json_t *cur = json_incref(orig);
  bool mutate_blocked = false;

  /* 1. mutate */
  if (!is_delete && mode != POL_ADMIT_VALIDATE) {
    for (size_t i = 0; i < set->n; i++) {
      const pol_policy *p = set->v[i]->p;
      if (!admission_enabled(p)) continue;
      pol_response r = {0};
      req.object = cur;
      pol_eval(p, &req, POL_PHASE_MUTATE, &r, NULL);
      for (size_t k = 0; k < r.n; k++) {
        if (r.rules[k].status != POL_ERROR && r.rules[k].status != POL_FAIL) continue;
        if (fail_closed(p)) {
          add_failure(failures, p, &r.rules[k]);
          blocked = mutate_blocked = true;
        } else {
          char w[2048];
          snprintf(w, sizeof w, "policy %s.%s: %s", p->name, r.rules[k].rule,
                   r.rules[k].message ? r.rules[k].message : "");
          json_array_append_new(warnings, json_string(w));
        }
      }
      if (r.patched && json_is_object(r.patched) && !json_equal(r.patched, cur)) {
        json_decref(cur);
        cur = json_incref(r.patched);
      }
      pol_response_clear(&r);
    }
    req.object = cur;
  }

  /* 2. validate on the mutated object */
  typedef struct {
    const pol_policy *p;
    pol_rule_result r;
    const char *action;
  } keep_t;
  keep_t *kept = NULL;
  size_t nkept = 0, capkept = 0;
  if (!blocked && mode != POL_ADMIT_MUTATE) {
    for (size_t i = 0; i < set->n; i++) {
      const pol_policy *p = set->v[i]->p;
      if (!admission_enabled(p)) continue;
      pol_response r = {0};
      pol_eval(p, &req, POL_PHASE_VALIDATE, &r, NULL);
      for (size_t k = 0; k < r.n; k++) {
        pol_rule_result *rr = &r.rules[k];
        const char *action =
            pol_failure_action(p, find_rule(p, rr->rule), objns,
                               objns ? json_object_get(nslab, objns) : NULL);
        bool enforce = strcmp(action, "Enforce") == 0;
        bool bad = rr->status == POL_FAIL || rr->status == POL_ERROR || rr->status == POL_WARN;
        if (enforce && (rr->status == POL_FAIL || (rr->status == POL_ERROR && fail_closed(p)))) {
          add_failure(failures, p, rr);
          blocked = true;
        } else if (bad) {
          char w[2048];
          snprintf(w, sizeof w, "policy %s.%s: %s", p->name, rr->rule,
                   rr->message ? rr->message : "");
          json_array_append_new(warnings, json_string(w));
        }
        if (nkept == capkept) {
          capkept = capkept ? capkept * 2 : 8;
          keep_t *nk = realloc(kept, capkept * sizeof *kept);
          if (!nk) continue;
          kept = nk;
        }
        kept[nkept].p = p;
        kept[nkept].action = action;
        kept[nkept].r = *rr;
        kept[nkept].r.rule = strdup(rr->rule ? rr->rule : "");
        kept[nkept].r.message = strdup(rr->message ? rr->message : "");
        kept[nkept].r.generated = NULL;
        nkept++;
      }
      pol_response_clear(&r);
    }
  }

  if (blocked) {
    char *msg = blocked_message(failures, objkind, objns, objname);
    deny(resp, msg ? msg : "blocked");
    free(msg);
    out->allowed = false;
    IDP_UNUSED(mutate_blocked);
  } else {
    /* 3. the patch */
    if (!is_delete && !json_equal(cur, orig)) {
      json_t *base = object ? (json_t *)object : orig;
      json_t *ops = pol_json_diff(base, cur);
      if (json_array_size(ops)) {
        char *txt = json_dumps(ops, JSON_COMPACT);
        char *b64 = txt ? pol_base64((const unsigned char *)txt, strlen(txt)) : NULL;
        if (b64) {
          json_object_set_new(resp, "patchType", json_string("JSONPatch"));
          json_object_set_new(resp, "patch", json_string(b64));
        }
        free(b64);
        free(txt);
        out->patched = json_incref(cur);
      }
      json_decref(ops);
    }
    /* 4. report results */
    if (!dry && !is_delete && a->opts.on_result)
      for (size_t i = 0; i < nkept; i++)
        a->opts.on_result(a->opts.result_ud, cur, kept[i].p, &kept[i].r, kept[i].action);
    /* 5. generate */
    if (!dry && !is_delete && mode != POL_ADMIT_MUTATE) {
      json_t *gen = json_array();
      for (size_t i = 0; i < set->n; i++) {
        const pol_policy *p = set->v[i]->p;
        if (!admission_enabled(p)) continue;
        pol_response r = {0};
        pol_eval(p, &req, POL_PHASE_GENERATE, &r, NULL);
        for (size_t k = 0; k < r.n; k++) {
          const pol_rule_result *rr = &r.rules[k];
          if (rr->status == POL_ERROR) {
            char w[2048];
            snprintf(w, sizeof w, "policy %s.%s: %s", p->name, rr->rule,
                     rr->message ? rr->message : "");
            json_array_append_new(warnings, json_string(w));
            continue;
          }
          const json_t *rule = find_rule(p, rr->rule);
          bool sync = json_is_true(idp_json_get(rule, "generate", "synchronize", NULL));
          for (size_t g = 0; g < json_array_size(rr->generated); g++) {
            json_t *o = json_deep_copy(json_array_get(rr->generated, g));
            pol_generate_labels(o, p, rr->rule, cur);
            json_array_append_new(
                gen, json_pack("{s:s,s:s,s:s,s:b,s:o}", "policy", p->name, "policyNamespace",
                               p->namespaced && p->ns ? p->ns : "", "rule", rr->rule,
                               "synchronize", sync, "object", o));
          }
        }
        pol_response_clear(&r);
      }
      if (json_array_size(gen)) out->generate = gen;
      else json_decref(gen);
    }
  }
  if (json_array_size(warnings)) json_object_set(resp, "warnings", warnings);
  for (size_t i = 0; i < nkept; i++) {
    free(kept[i].r.rule);
    free(kept[i].r.message);
  }
  free(kept);
  json_decref(warnings);
  json_decref(failures);
  json_decref(cur);
  json_decref(orig);
  json_decref(old_copy);
  json_decref(nslab);
  pol_set_release(set);
  return IDP_OK;
}

idp_code pol_admit(pol_adm *a, const json_t *request, json_t **response, idp_err *e) {
  pol_admit_out o;
  idp_code rc = pol_admit_ex(a, request, POL_ADMIT_ALL, &o, e);
  if (rc) return rc;
  *response = json_incref(o.response);
  pol_admit_out_clear(&o);
  return IDP_OK;
}
