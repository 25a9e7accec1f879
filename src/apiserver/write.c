#include "core/common.h"

#include "apiserver/api_int.h"
#include "core/json.h"
#include "kube/schema.h"
#include "kube/selector.h"
#include "patch/patch.h"

/* ---- names -------------------------------------------------------------- */

typedef enum { NAME_SUBDOMAIN, NAME_LABEL, NAME_LABEL_1035, NAME_PATH_SEGMENT } name_rule;

/* Which name syntax a resource uses (kube-apiserver's per-type ValidateName). */
static const struct {
  const char *group, *plural;
  name_rule rule;
} name_rules[] = {
    {"", "namespaces", NAME_LABEL},
    {"", "services", NAME_LABEL_1035},
    {"rbac.authorization.k8s.io", "roles", NAME_PATH_SEGMENT},
    {"rbac.authorization.k8s.io", "rolebindings", NAME_PATH_SEGMENT},
    {"rbac.authorization.k8s.io", "clusterroles", NAME_PATH_SEGMENT},
    {"rbac.authorization.k8s.io", "clusterrolebindings", NAME_PATH_SEGMENT},
};

static bool is_alnum_lower(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

static const char *name_problem(name_rule rule, const char *n) {
  size_t len = strlen(n);
  if (rule == NAME_PATH_SEGMENT) {
    if (!strcmp(n, ".") || !strcmp(n, "..")) return "may not be '.' or '..'";
    if (strchr(n, '/') || strchr(n, '%')) return "may not contain '/' or '%'";
    return len ? NULL : "name or generateName is required";
  }
  size_t max = rule == NAME_SUBDOMAIN ? 253 : 63;
  if (len > max)
    return rule == NAME_SUBDOMAIN ? "must be no more than 253 characters"
                                  : "must be no more than 63 characters";
  bool ok = len > 0 && is_alnum_lower(n[0]) && is_alnum_lower(n[len - 1]);
  if (rule == NAME_LABEL_1035) ok = ok && n[0] >= 'a' && n[0] <= 'z';
  for (size_t i = 0; ok && i < len; i++)
    ok = is_alnum_lower(n[i]) || n[i] == '-' || (rule == NAME_SUBDOMAIN && n[i] == '.');
  if (ok) return NULL;
  switch (rule) {
  case NAME_LABEL:
    return "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
           "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
           "'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
  case NAME_LABEL_1035:
    return "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
           "with an alphabetic character, and end with an alphanumeric character (e.g. "
           "'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
  default:
    return "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
           "'-' or '.', and must start and end with an alphanumeric character (e.g. "
           "'example.com', regex used for validation is "
           "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
  }
}

static name_rule rule_for(const api_resource *r) {
  for (size_t i = 0; i < IDP_ARRAY_LEN(name_rules); i++)
    if (!strcmp(name_rules[i].group, r->group) && !strcmp(name_rules[i].plural, r->plural))
      return name_rules[i].rule;
  return NAME_SUBDOMAIN;
}

static void add_cause(json_t **causes, const char *reason, const char *field, const char *msg) {
  if (!*causes) *causes = json_array();
  json_array_append_new(*causes,
                        json_pack("{s:s, s:s, s:s}", "reason", reason, "message", msg, "field", field));
}

static idp_code invalid(const api_resource *r, const char *name, const char *field,
                        const char *value, const char *detail, json_t **causes, idp_err *e) {
  char msg[900];
  if (value)
    snprintf(msg, sizeof msg, "Invalid value: \"%s\": %s", value, detail);
  else
    snprintf(msg, sizeof msg, "%s", detail);
  add_cause(causes, value ? "FieldValueInvalid" : "FieldValueRequired", field, msg);
  if (*r->group)
    return idp_err_set(e, IDP_EINVALID, "%s.%s \"%s\" is invalid: %s: %s", r->kind, r->group,
                       name ? name : "", field, msg);
  return idp_err_set(e, IDP_EINVALID, "%s \"%s\" is invalid: %s: %s", r->kind, name ? name : "",
                     field, msg);
}

/* ---- metadata checks ---------------------------------------------------- */

static idp_code check_string_map(const api_resource *r, const char *name, const json_t *m,
                                 const char *field, bool labels, json_t **causes, idp_err *e) {
  if (!m || json_is_null(m)) return IDP_OK;
  if (!json_is_object(m))
    return idp_err_set(e, IDP_EINVAL, "metadata.%s: expected an object of strings", field);
  const char *k;
  json_t *v;
  size_t total = 0;
  json_object_foreach((json_t *)m, k, v) {
    if (!json_is_string(v))
      return idp_err_set(e, IDP_EINVAL,
                         "json: cannot unmarshal %s into Go struct field ObjectMeta.metadata.%s "
                         "of type string (key \"%s\")",
                         json_is_integer(v) || json_is_real(v) ? "number"
                         : json_is_boolean(v)                  ? "bool"
                                                               : "object",
                         field, k);
    char path[400];
    snprintf(path, sizeof path, "metadata.%s", field);
    idp_err le = IDP_ERR_INIT;
    if (idp_label_key_check(k, path, &le)) return invalid(r, name, path, k, le.msg, causes, e);
    if (labels && idp_label_value_check(json_string_value(v), path, &le))
      return invalid(r, name, path, json_string_value(v), le.msg, causes, e);
    total += strlen(k) + json_string_length(v);
  }
  if (!labels && total > 256 * 1024)
    return invalid(r, name, "metadata.annotations", NULL,
                   "Too long: must have at most 262144 bytes", causes, e);
  return IDP_OK;
}

static idp_code check_metadata(const api_resource *r, json_t *obj, json_t **causes, idp_err *e) {
  json_t *md = json_object_get(obj, "metadata");
  const char *name = api_obj_name(obj);
  idp_code c;
  if ((c = check_string_map(r, name, json_object_get(md, "labels"), "labels", true, causes, e)))
    return c;
  if ((c = check_string_map(r, name, json_object_get(md, "annotations"), "annotations", false,
                            causes, e)))
    return c;
  json_t *fin = json_object_get(md, "finalizers");
  if (fin && !json_is_null(fin)) {
    if (!json_is_array(fin)) return idp_err_set(e, IDP_EINVAL, "metadata.finalizers: expected a list");
    size_t i;
    json_t *f;
    json_array_foreach(fin, i, f) {
      if (!json_is_string(f) || !json_string_length(f))
        return invalid(r, name, "metadata.finalizers", NULL, "Required value: finalizer name",
                       causes, e);
    }
  }
  json_t *owners = json_object_get(md, "ownerReferences");
  if (owners && !json_is_null(owners)) {
    if (!json_is_array(owners))
      return idp_err_set(e, IDP_EINVAL, "metadata.ownerReferences: expected a list");
    size_t i;
    json_t *o;
    json_array_foreach(owners, i, o) {
      if (!idp_json_get_str(o, "apiVersion", NULL) || !idp_json_get_str(o, "kind", NULL) ||
          !idp_json_get_str(o, "name", NULL) || !idp_json_get_str(o, "uid", NULL))
        return invalid(r, name, "metadata.ownerReferences", NULL,
                       "Required value: apiVersion, kind, name and uid are required", causes, e);
    }
  }
  return IDP_OK;
}

/* ---- per-kind behaviour (data: one row per kind with hooks) -------------- */

typedef idp_code (*prepare_fn)(api_ctx *c, json_t *obj, const json_t *old, json_t **causes,
                               idp_err *e);
typedef void (*after_fn)(idp_apiserver *s, const json_t *stored, bool created);

static idp_code ns_prepare(api_ctx *c, json_t *obj, const json_t *old, json_t **causes,
                           idp_err *e) {
  IDP_UNUSED(c);
  IDP_UNUSED(causes);
  IDP_UNUSED(e);
  json_t *spec = idp_json_child_object(obj, "spec");
  if (!old) {
    if (!json_object_get(spec, "finalizers"))
      json_object_set_new(spec, "finalizers", json_pack("[s]", "kubernetes"));
    json_t *st = idp_json_child_object(obj, "status");
    json_object_set_new(st, "phase", json_string("Active"));
  } else {
    /* spec.finalizers change only through /finalize (the GC does that) */
    json_t *of = idp_json_get(old, "spec", "finalizers", NULL);
    if (of)
      json_object_set(spec, "finalizers", of);
    else
      json_object_del(spec, "finalizers");
  }
  /* the name label every namespace carries since 1.21 */
  json_t *labels = idp_json_child_object(idp_json_child_object(obj, "metadata"), "labels");
  const char *n = api_obj_name(obj);
  if (n) json_object_set_new(labels, "kubernetes.io/metadata.name", json_string(n));
  return IDP_OK;
}

static void ns_after(idp_apiserver *s, const json_t *stored, bool created) {
  if (created) api_namespace_defaults(s, api_obj_name(stored));
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static json_t *base64_json(const char *s, size_t n) {
  size_t out = 4 * ((n + 2) / 3);
  char *b = malloc(out + 1);
  if (!b) return NULL;
  size_t w = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)(unsigned char)s[i] << 16;
    if (i + 1 < n) v |= (uint32_t)(unsigned char)s[i + 1] << 8;
    if (i + 2 < n) v |= (uint32_t)(unsigned char)s[i + 2];
    b[w++] = b64chars[(v >> 18) & 63];
    b[w++] = b64chars[(v >> 12) & 63];
    b[w++] = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
    b[w++] = i + 2 < n ? b64chars[v & 63] : '=';
  }
  json_t *j = json_stringn(b, w);
  free(b);
  return j;
}

static idp_code secret_prepare(api_ctx *c, json_t *obj, const json_t *old, json_t **causes,
                               idp_err *e) {
  const char *type = idp_json_get_str(obj, "type", NULL);
  if (!type) json_object_set_new(obj, "type", json_string("Opaque"));
  const char *otype = old ? idp_json_get_str(old, "type", NULL) : NULL;
  if (otype && strcmp(otype, idp_json_get_str(obj, "type", NULL)))
    return invalid(c->res, api_obj_name(obj), "type", idp_json_get_str(obj, "type", NULL),
                   "field is immutable", causes, e);
  json_t *sd = json_object_get(obj, "stringData");
  if (json_is_object(sd)) {
    json_t *data = json_object_get(obj, "data");
    if (!json_is_object(data)) {
      data = json_object();
      json_object_set_new(obj, "data", data);
    }
    const char *k;
    json_t *v;
    json_object_foreach(sd, k, v) {
      if (!json_is_string(v))
        return idp_err_set(e, IDP_EINVAL, "stringData.%s: expected a string", k);
      json_object_set_new(data, k, base64_json(json_string_value(v), json_string_length(v)));
    }
  }
  json_object_del(obj, "stringData");
  return IDP_OK;
}

static idp_code workload_prepare(api_ctx *c, json_t *obj, const json_t *old, json_t **causes,
                                 idp_err *e) {
  IDP_UNUSED(c);
  IDP_UNUSED(old);
  IDP_UNUSED(causes);
  IDP_UNUSED(e);
  json_t *spec = json_object_get(obj, "spec");
  if (json_is_object(spec) && !json_object_get(spec, "replicas"))
    json_object_set_new(spec, "replicas", json_integer(1));
  return IDP_OK;
}

static idp_code service_prepare(api_ctx *c, json_t *obj, const json_t *old, json_t **causes,
                                idp_err *e) {
  IDP_UNUSED(c);
  IDP_UNUSED(causes);
  IDP_UNUSED(e);
  json_t *spec = idp_json_child_object(obj, "spec");
  if (!json_object_get(spec, "type")) json_object_set_new(spec, "type", json_string("ClusterIP"));
  if (old && !json_object_get(spec, "clusterIP")) {
    json_t *ip = idp_json_get(old, "spec", "clusterIP", NULL);
    if (ip) json_object_set(spec, "clusterIP", ip);
  }
  return IDP_OK;
}

static idp_code crd_prepare(api_ctx *c, json_t *obj, const json_t *old, json_t **causes,
                            idp_err *e) {
  IDP_UNUSED(causes);
  return api_crd_prepare(c->srv->reg, obj, old != NULL, e);
}

static void crd_after(idp_apiserver *s, const json_t *stored, bool created) {
  IDP_UNUSED(created);
  idp_err e = IDP_ERR_INIT;
  if (!idp_json_get(stored, "metadata", "deletionTimestamp", NULL))
    api_registry_put_crd(s->reg, stored, &e);
}

static const struct kind_hooks {
  const char *group, *kind;
  prepare_fn prepare;
  after_fn after;
} kind_hooks[] = {
    {"", "Namespace", ns_prepare, ns_after},
    {"", "Secret", secret_prepare, NULL},
    {"", "Service", service_prepare, NULL},
    {"apps", "Deployment", workload_prepare, NULL},
    {"apps", "StatefulSet", workload_prepare, NULL},
    {"apps", "ReplicaSet", workload_prepare, NULL},
    {"apiextensions.k8s.io", "CustomResourceDefinition", crd_prepare, crd_after},
};

static const struct kind_hooks *hooks_for(const api_resource *r) {
  if (r->crd) return NULL;
  for (size_t i = 0; i < IDP_ARRAY_LEN(kind_hooks); i++)
    if (!strcmp(kind_hooks[i].group, r->group) && !strcmp(kind_hooks[i].kind, r->kind))
      return &kind_hooks[i];
  return NULL;
}

/* ---- helpers -------------------------------------------------------------- */

static idp_code check_type(const api_resource *r, const json_t *obj, idp_err *e) {
  if (!json_is_object(obj)) return idp_err_set(e, IDP_EINVAL, "request body: expected an object");
  const char *av = idp_json_get_str(obj, "apiVersion", NULL);
  const char *kind = idp_json_get_str(obj, "kind", NULL);
  char gv[600];
  api_gv(r, gv, sizeof gv);
  if (!kind || !*kind) return idp_err_set(e, IDP_EINVAL, "Object 'Kind' is missing in the request body");
  if (!av || !*av)
    return idp_err_set(e, IDP_EINVAL, "Object 'apiVersion' is missing in the request body");
  if (strcmp(av, gv))
    return idp_err_set(e, IDP_EINVAL,
                       "the API version in the data (%s) does not match the expected API version "
                       "(%s)",
                       av, gv);
  if (strcmp(kind, r->kind))
    return idp_err_set(e, IDP_EINVAL,
                       "the kind in the data (%s) does not match the expected kind (%s) for %s",
                       kind, r->kind, gv);
  json_t *md = json_object_get(obj, "metadata");
  if (md && !json_is_object(md))
    return idp_err_set(e, IDP_EINVAL, "metadata: expected an object");
  return IDP_OK;
}

static json_t *without(const json_t *obj, bool drop_status) {
  json_t *c = json_copy((json_t *)obj); /* shallow: only top-level keys dropped */
  json_object_del(c, "metadata");
  if (drop_status) json_object_del(c, "status");
  return c;
}

static bool spec_changed(const api_resource *r, const json_t *a, const json_t *b) {
  json_t *x = without(a, r->has_status), *y = without(b, r->has_status);
  bool changed = !json_equal(x, y);
  json_decref(x);
  json_decref(y);
  return changed;
}

static json_t *warnings_of(api_ctx *c) {
  if (!c->rs->warnings) c->rs->warnings = json_array();
  return c->rs->warnings;
}

static idp_code validate_cr(api_ctx *c, json_t *obj, json_t **causes, idp_err *e) {
  const api_resource *r = c->res;
  if (!r->crd || !r->schema) return IDP_OK;
  idp_fieldval fv;
  idp_code code =
      idp_fieldval_parse(api_query(c->rq, "fieldValidation"), IDP_FIELDVAL_WARN, &fv, e);
  if (code) return code;
  /* metadata survives pruning: the validator leaves metadata alone */
  return idp_schema_validate(r->schema, obj, fv, r->kind, r->group, warnings_of(c), causes, e);
}

static idp_code check_field_validation_param(api_ctx *c, idp_err *e) {
  idp_fieldval fv;
  return idp_fieldval_parse(api_query(c->rq, "fieldValidation"), IDP_FIELDVAL_WARN, &fv, e);
}

idp_code api_admit(api_ctx *c, const char *op, json_t **obj, const json_t *old, bool dry,
                   idp_err *e) {
  idp_apiserver *s = c->srv;
  if (!s->o.admit) return IDP_OK;
  const api_resource *r = c->res;
  char uid[37];
  api_uuid(uid);
  json_t *req = json_pack(
      "{s:s, s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s}, s:s, s:s, s:s, s:s, s:O, s:O, s:b, s:{s:s}}",
      "uid", uid, "kind", "group", r->group, "version", r->version, "kind", r->kind, "resource",
      "group", r->group, "version", r->version, "resource", r->plural, "subResource", c->p.sub,
      "namespace", c->p.ns,
      "name", *obj && api_obj_name(*obj) ? api_obj_name(*obj) : (old && api_obj_name(old) ? api_obj_name(old) : c->p.name),
      "operation", op, "object", *obj ? *obj : json_null(), "oldObject",
      old ? (json_t *)old : json_null(), "dryRun", dry, "userInfo", "username", "admin");
  if (!req) return idp_err_set(e, IDP_ENOMEM, "building the admission request");
  json_t *o = *obj;
  idp_code code = s->o.admit(s->o.admit_ctx, req, obj, warnings_of(c), e);
  if (*obj != o) json_decref(o);
  c->admitted = code == IDP_OK && !dry;
  json_decref(req);
  return code;
}

void api_admitted(api_ctx *c, const json_t *stored) {
  if (!c->admitted) return;
  c->admitted = false;
  if (c->srv->o.admitted) c->srv->o.admitted(c->srv->o.admit_ctx, stored);
}

/* ---- persistence core ----------------------------------------------------- */

static idp_code store_remove(idp_apiserver *s, const api_resource *r, const char *ns,
                             const char *name, int64_t expect_rev, json_t **last, idp_err *e) {
  json_t *gone = NULL;
  idp_code code = idp_store_delete(s->store, r->store_key, ns, name, expect_rev, &gone, e);
  if (code) return code;
  api_set_type(r, gone);
  api_gc_removed(s->gc, r, gone);
  if (!r->crd && !strcmp(r->kind, "CustomResourceDefinition") &&
      idp_json_get_str(gone, "spec", "group", NULL) &&
      idp_json_get_str(gone, "spec", "names", "plural", NULL)) {
    api_registry_remove_crd(s->reg, idp_json_get_str(gone, "spec", "group", NULL),
                            idp_json_get_str(gone, "spec", "names", "plural", NULL));
  }
  /* the per-namespace defaults come back, as their controllers make them */
  idp_err ne = IDP_ERR_INIT;
  if (!r->crd && !*r->group && r->namespaced && ns && *ns &&
      ((!strcmp(r->plural, "configmaps") && !strcmp(name, "kube-root-ca.crt")) ||
       (!strcmp(r->plural, "serviceaccounts") && !strcmp(name, "default"))) &&
      api_namespace_check(s, ns, true, &ne) == IDP_OK)
    api_namespace_defaults(s, ns);
  if (last)
    *last = gone;
  else
    json_decref(gone);
  return IDP_OK;
}

idp_code api_store_remove(idp_apiserver *s, const api_resource *r, const char *ns,
                          const char *name, int64_t expect_rev, json_t **last, idp_err *e) {
  return store_remove(s, r, ns, name, expect_rev, last, e);
}

bool api_finalizers_empty(const api_resource *r, const json_t *obj) {
  if (json_array_size(idp_json_get(obj, "metadata", "finalizers", NULL))) return false;
  /* a Namespace is also held by spec.finalizers ("kubernetes") */
  if (!r->crd && !*r->group && !strcmp(r->kind, "Namespace") &&
      json_array_size(idp_json_get(obj, "spec", "finalizers", NULL)))
    return false;
  return true;
}

idp_code api_store_put(idp_apiserver *s, const api_resource *r, json_t *obj, int64_t expect_rev,
                       json_t **stored, idp_err *e) {
  const char *ns = api_obj_ns(obj), *name = api_obj_name(obj);
  if (!name) return idp_err_set(e, IDP_EINTERNAL, "object without a name");
  if (idp_json_get(obj, "metadata", "deletionTimestamp", NULL) && api_finalizers_empty(r, obj))
    return store_remove(s, r, r->namespaced ? ns : "", name, expect_rev, stored, e);
  json_t *out = NULL;
  idp_code code =
      idp_store_update(s->store, r->store_key, r->namespaced ? ns : "", name, obj, expect_rev, &out, e);
  if (code) return code;
  api_set_type(r, out);
  api_gc_note(s->gc, out);
  const struct kind_hooks *h = hooks_for(r);
  if (h && h->after) h->after(s, out, false);
  if (idp_json_get(out, "metadata", "deletionTimestamp", NULL)) api_gc_pending(s->gc, r, ns, name);
  if (stored)
    *stored = out;
  else
    json_decref(out);
  return IDP_OK;
}

static const char gen_alphabet[] = "bcdfghjklmnpqrstvwxz2456789";

static void random_suffix(char out[6]) {
  char uid[37];
  api_uuid(uid);
  for (int i = 0; i < 5; i++) {
    unsigned v = (unsigned)(unsigned char)uid[i * 2] * 31u + (unsigned char)uid[i * 2 + 1];
    out[i] = gen_alphabet[v % (sizeof gen_alphabet - 1)];
  }
  out[5] = '\0';
}

typedef struct write_op {
  bool dry;
  bool ssa;            /* managedFields already maintained by SSA */
  const char *manager;
} write_op;

/* Creates `obj` (consumed on every path) under c->res. */
static idp_code do_create(api_ctx *c, json_t *obj, const write_op *w, json_t **out,
                          json_t **causes, idp_err *e) {
  idp_apiserver *s = c->srv;
  const api_resource *r = c->res;
  idp_code code = IDP_OK;
  *out = NULL;
  json_t *md = idp_json_child_object(obj, "metadata");
  /* namespace */
  const char *bns = json_string_value(json_object_get(md, "namespace"));
  if (r->namespaced) {
    if (!c->p.has_ns && (!bns || !*bns)) {
      code = idp_err_set(e, IDP_EINVAL, "the namespace of the object is required for %s", r->plural);
      goto out;
    }
    if (c->p.has_ns && bns && *bns && strcmp(bns, c->p.ns)) {
      code = idp_err_set(e, IDP_EINVAL,
                         "the namespace of the provided object does not match the namespace "
                         "sent on the request");
      goto out;
    }
    if (c->p.has_ns) json_object_set_new(md, "namespace", json_string(c->p.ns));
  } else {
    json_object_del(md, "namespace");
  }
  /* a copy: admission may replace obj (and free the old one) below */
  char ns[API_SEG_MAX];
  snprintf(ns, sizeof ns, "%s", r->namespaced ? api_obj_ns(obj) : "");
  if (r->namespaced && (code = api_namespace_check(s, ns, true, e))) goto out;
  /* name */
  const char *name = json_string_value(json_object_get(md, "name"));
  const char *gen = json_string_value(json_object_get(md, "generateName"));
  if ((!name || !*name) && gen && *gen) {
    char buf[300], suf[6];
    random_suffix(suf);
    snprintf(buf, sizeof buf, "%.*s%s", (int)(strlen(gen) > 58 ? 58 : strlen(gen)), gen, suf);
    json_object_set_new(md, "name", json_string(buf));
    name = json_string_value(json_object_get(md, "name"));
  }
  if (!name || !*name) {
    code = invalid(r, "", "metadata.name", NULL, "Required value: name or generateName is required",
                   causes, e);
    goto out;
  }
  if (c->p.route == R_ITEM && strcmp(name, c->p.name)) {
    code = idp_err_set(e, IDP_EINVAL, "the name of the object (%s) does not match the name on the URL (%s)",
                       name, c->p.name);
    goto out;
  }
  snprintf(c->obj_name, sizeof c->obj_name, "%s", name);
  const char *why = name_problem(rule_for(r), name);
  if (why) {
    code = invalid(r, name, "metadata.name", name, why, causes, e);
    goto out;
  }
  if (api_obj_rv(obj) != 0) {
    code = idp_err_set(e, IDP_EINVAL, "resourceVersion should not be set on objects to be created");
    goto out;
  }
  if ((code = check_metadata(r, obj, causes, e))) goto out;
  char now[32], uid[37];
  api_now_rfc3339(now, sizeof now);
  api_uuid(uid);
  json_object_set_new(md, "uid", json_string(uid));
  json_object_set_new(md, "creationTimestamp", json_string(now));
  json_object_set_new(md, "generation", json_integer(1));
  json_object_del(md, "resourceVersion");
  json_object_del(md, "deletionTimestamp");
  json_object_del(md, "deletionGracePeriodSeconds");
  json_object_del(md, "selfLink");
  if (r->has_status && strcmp(r->kind, "CustomResourceDefinition")) json_object_del(obj, "status");
  const struct kind_hooks *h = hooks_for(r);
  if (h && h->prepare && (code = h->prepare(c, obj, NULL, causes, e))) goto out;
  if ((code = validate_cr(c, obj, causes, e))) goto out;
  if (!w->ssa) {
    json_object_del(md, "managedFields");
    if ((code = idp_managed_fields_update(NULL, obj, r->group, r->kind, w->manager, now, e)))
      goto out;
  }
  char nm[API_SEG_MAX];
  snprintf(nm, sizeof nm, "%s", api_obj_name(obj) ? api_obj_name(obj) : "");
  if ((code = api_admit(c, "CREATE", &obj, NULL, w->dry, e))) goto out;
  /* mutation may not move the object */
  json_t *amd = idp_json_child_object(obj, "metadata");
  json_object_set_new(amd, "name", json_string(nm));
  if (r->namespaced) json_object_set_new(amd, "namespace", json_string(ns));
  if (w->dry) {
    api_set_type(r, obj);
    *out = obj;
    return IDP_OK;
  }
  name = api_obj_name(obj);
  code = idp_store_create(s->store, r->store_key, ns, name ? name : "", obj, out, e);
  if (code == IDP_EEXIST) {
    char q[600];
    api_qualified(r, q, sizeof q);
    idp_err_set(e, IDP_EEXIST, "%s \"%s\" already exists", q, name);
  }
  if (code) goto out;
  api_set_type(r, *out);
  api_gc_note(s->gc, *out);
  if (h && h->after) h->after(s, *out, true);
out:
  api_admitted(c, code ? NULL : *out);
  json_decref(obj);
  return code;
}

/* Updates cur -> obj (obj consumed).  sub: "" or "status". */
static idp_code do_update(api_ctx *c, const json_t *cur, json_t *obj, const char *sub,
                          const write_op *w, json_t **out, json_t **causes, idp_err *e) {
  idp_apiserver *s = c->srv;
  const api_resource *r = c->res;
  idp_code code = IDP_OK;
  *out = NULL;
  json_t *next;
  if (!strcmp(sub, "status")) {
    /* /status changes only .status */
    next = json_deep_copy(cur);
    json_t *st = json_object_get(obj, "status");
    if (st)
      json_object_set(next, "status", st);
    else
      json_object_del(next, "status");
    json_decref(obj);
  } else {
    next = obj;
    if (r->has_status) {
      json_t *st = json_object_get(cur, "status");
      if (st)
        json_object_set(next, "status", st);
      else
        json_object_del(next, "status");
    }
  }
  json_t *md = idp_json_child_object(next, "metadata");
  const json_t *cmd = json_object_get(cur, "metadata");
  /* server-owned metadata comes from the stored object */
  static const char *const kept[] = {"name", "namespace", "uid", "creationTimestamp",
                                     "deletionTimestamp", "deletionGracePeriodSeconds",
                                     "generation", "resourceVersion"};
  for (size_t i = 0; i < IDP_ARRAY_LEN(kept); i++) {
    json_t *v = json_object_get(cmd, kept[i]);
    if (v)
      json_object_set(md, kept[i], v);
    else
      json_object_del(md, kept[i]);
  }
  json_object_del(md, "selfLink");
  if ((code = check_metadata(r, next, causes, e))) goto out;
  const struct kind_hooks *h = hooks_for(r);
  if (h && h->prepare && (code = h->prepare(c, next, cur, causes, e))) goto out;
  if ((code = validate_cr(c, next, causes, e))) goto out;
  if (spec_changed(r, cur, next)) {
    json_int_t g = json_integer_value(json_object_get(cmd, "generation"));
    json_object_set_new(md, "generation", json_integer(g + 1));
  }
  char now[32];
  api_now_rfc3339(now, sizeof now);
  if (!w->ssa && (code = idp_managed_fields_update(cur, next, r->group, r->kind, w->manager, now, e)))
    goto out;
  if ((code = api_admit(c, "UPDATE", &next, cur, w->dry, e))) goto out;
  if (json_equal(next, (json_t *)cur)) {
    /* a no-op write keeps the resourceVersion (kubectl apply of an unchanged file) */
    *out = json_deep_copy(cur);
    api_set_type(r, *out);
    goto out;
  }
  if (w->dry) {
    api_set_type(r, next);
    *out = next;
    return IDP_OK;
  }
  code = api_store_put(s, r, next, api_obj_rv(cur), out, e);
  api_admitted(c, code ? NULL : *out);
  if (code == IDP_ECONFLICT) {
    char q[600];
    api_qualified(r, q, sizeof q);
    idp_err_set(e, IDP_ECONFLICT,
                "Operation cannot be fulfilled on %s \"%s\": the object has been modified; please "
                "apply your changes to the latest version and try again",
                q, api_obj_name(cur));
  }
out:
  json_decref(next);
  return code;
}

static void reply_write(api_ctx *c, idp_code code, idp_err *e, json_t *out, json_t *causes,
                        int ok_status) {
  if (code) {
    json_decref(out);
    api_status_error(c, e, NULL, causes);
    return;
  }
  json_decref(causes);
  api_reply_json(c, ok_status, out);
}

static idp_code conflict_err(const api_resource *r, const char *name, idp_err *e) {
  char q[600];
  api_qualified(r, q, sizeof q);
  return idp_err_set(e, IDP_ECONFLICT,
                     "Operation cannot be fulfilled on %s \"%s\": the object has been modified; "
                     "please apply your changes to the latest version and try again",
                     q, name);
}

/* ---- scale subresource ---------------------------------------------------- */

/* ".spec.replicas" style paths of a CRD's scale subresource. */
static json_t *path_get(const json_t *obj, const char *dotted) {
  if (!dotted) return NULL;
  if (*dotted == '.') dotted++;
  return idp_json_path(obj, dotted);
}

static void path_set(json_t *obj, const char *dotted, json_t *v) {
  if (*dotted == '.') dotted++;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", dotted);
  json_t *at = obj;
  char *seg = buf;
  for (;;) {
    char *dot = strchr(seg, '.');
    if (!dot) break;
    *dot = '\0';
    at = idp_json_child_object(at, seg);
    seg = dot + 1;
  }
  json_object_set_new(at, seg, v);
}

static const char *scale_path(const api_resource *r, const char *key, const char *dflt) {
  const char *p = r->scale ? idp_json_get_str(r->scale, key, NULL) : NULL;
  return p ? p : (r->scale ? NULL : dflt);
}

json_t *api_scale_from(const api_resource *r, const json_t *obj, idp_err *e) {
  if (!r->has_scale) {
    idp_err_set(e, IDP_ENOTFOUND, "the server could not find the requested resource");
    return NULL;
  }
  json_t *md = json_object_get(obj, "metadata");
  json_t *scale = json_pack("{s:s, s:s, s:{}, s:{}, s:{}}", "kind", "Scale", "apiVersion",
                            "autoscaling/v1", "metadata", "spec", "status");
  json_t *smd = json_object_get(scale, "metadata");
  static const char *const keys[] = {"name", "namespace", "uid", "resourceVersion",
                                     "creationTimestamp"};
  for (size_t i = 0; i < IDP_ARRAY_LEN(keys); i++) {
    json_t *v = json_object_get(md, keys[i]);
    if (v) json_object_set(smd, keys[i], v);
  }
  json_t *sr = path_get(obj, scale_path(r, "specReplicasPath", ".spec.replicas"));
  json_object_set_new(json_object_get(scale, "spec"), "replicas",
                      json_integer(json_is_integer(sr) ? json_integer_value(sr) : 0));
  json_t *st = json_object_get(scale, "status");
  json_t *rr = path_get(obj, scale_path(r, "statusReplicasPath", ".status.replicas"));
  json_object_set_new(st, "replicas", json_integer(json_is_integer(rr) ? json_integer_value(rr) : 0));
  const char *selp = scale_path(r, "labelSelectorPath", NULL);
  json_t *sel = selp ? path_get(obj, selp) : idp_json_get(obj, "spec", "selector", NULL);
  if (json_is_string(sel)) {
    json_object_set(st, "selector", sel);
  } else if (json_is_object(sel)) {
    idp_selector *ps = NULL;
    if (idp_selector_from_json(sel, &ps, NULL) == IDP_OK) {
      char *txt = idp_selector_string(ps);
      if (txt) json_object_set_new(st, "selector", json_string(txt));
      free(txt);
    }
    idp_selector_free(ps);
  }
  return scale;
}

/* Applies a new Scale (spec.replicas) to the object. */
static idp_code scale_apply(const api_resource *r, json_t *obj, const json_t *scale, idp_err *e) {
  json_t *rep = idp_json_get(scale, "spec", "replicas", NULL);
  if (!json_is_integer(rep) || json_integer_value(rep) < 0)
    return idp_err_set(e, IDP_EINVALID,
                       "Scale.autoscaling \"%s\" is invalid: spec.replicas: Invalid value: must "
                       "be greater than or equal to 0",
                       api_obj_name(obj) ? api_obj_name(obj) : "");
  path_set(obj, scale_path(r, "specReplicasPath", ".spec.replicas"), json_integer(json_integer_value(rep)));
  return IDP_OK;
}

/* ---- verbs ----------------------------------------------------------------- */

void api_create(api_ctx *c) {
  idp_err e = IDP_ERR_INIT;
  json_t *obj = NULL, *out = NULL, *causes = NULL;
  bool dry;
  idp_code code;
  if ((code = api_dry_run(c, &dry, &e)) || (code = check_field_validation_param(c, &e)) ||
      (code = api_body_object(c, &obj, &e)) || (code = check_type(c->res, obj, &e))) {
    json_decref(obj);
    api_status_error(c, &e, NULL, NULL);
    return;
  }
  char manager[160];
  api_field_manager(c, "unknown", manager, sizeof manager);
  write_op w = {.dry = dry, .manager = manager};
  code = do_create(c, obj, &w, &out, &causes, &e);
  reply_write(c, code, &e, out, causes, 201);
}

static idp_code get_current(api_ctx *c, json_t **cur, idp_err *e) {
  idp_code code = idp_store_get(c->srv->store, c->res->store_key, c->p.ns, c->p.name, cur, e);
  if (code == IDP_ENOTFOUND) return api_err_notfound(c->res, c->p.name, e);
  return code;
}

enum { WRITE_RETRIES = 8 };

void api_update(api_ctx *c) {
  idp_err e = IDP_ERR_INIT;
  json_t *body = NULL, *out = NULL, *causes = NULL;
  bool dry;
  idp_code code;
  const char *sub = c->p.sub;
  bool scale = !strcmp(sub, "scale");
  if (*sub && strcmp(sub, "status") && !scale) {
    idp_err_set(&e, IDP_ENOTFOUND, "the server could not find the requested resource");
    api_status_error(c, &e, NULL, NULL);
    return;
  }
  if ((code = api_dry_run(c, &dry, &e)) || (code = check_field_validation_param(c, &e)) ||
      (code = api_body_object(c, &body, &e))) {
    json_decref(body);
    api_status_error(c, &e, NULL, NULL);
    return;
  }
  if (!scale && (code = check_type(c->res, body, &e))) {
    json_decref(body);
    api_status_error(c, &e, NULL, NULL);
    return;
  }
  const char *bname = api_obj_name(body);
  if (bname && strcmp(bname, c->p.name)) {
    idp_err_set(&e, IDP_EINVAL, "the name of the object (%s) does not match the name on the URL (%s)",
                bname, c->p.name);
    json_decref(body);
    api_status_error(c, &e, NULL, NULL);
    return;
  }
  const char *bns = idp_json_get_str(body, "metadata", "namespace", NULL);
  if (c->res->namespaced && bns && *bns && strcmp(bns, c->p.ns)) {
    idp_err_set(&e, IDP_EINVAL,
                "the namespace of the provided object does not match the namespace sent on the "
                "request");
    json_decref(body);
    api_status_error(c, &e, NULL, NULL);
    return;
  }
  char manager[160];
  api_field_manager(c, "unknown", manager, sizeof manager);
  write_op w = {.dry = dry, .manager = manager};
  int64_t want = api_obj_rv(body);
  for (int attempt = 0; attempt < WRITE_RETRIES; attempt++) {
    json_t *cur = NULL;
    if ((code = get_current(c, &cur, &e))) break;
    if (want > 0 && want != api_obj_rv(cur)) {
      json_decref(cur);
      code = conflict_err(c->res, c->p.name, &e);
      break;
    }
    json_t *next;
    if (scale) {
      next = json_deep_copy(cur);
      code = scale_apply(c->res, next, body, &e);
      if (code) {
        json_decref(next);
        json_decref(cur);
        break;
      }
    } else {
      next = json_deep_copy(body);
    }
    code = do_update(c, cur, next, scale ? "" : sub, &w, &out, &causes, &e);
    json_decref(cur);
    if (code != IDP_ECONFLICT || want > 0) break;
    json_decref(causes);
    causes = NULL;
  }
  json_decref(body);
  if (!code && scale && out) {
    json_t *sc = api_scale_from(c->res, out, &e);
    json_decref(out);
    out = sc;
  }
  reply_write(c, code, &e, out, causes, 200);
}

typedef enum { P_MERGE, P_JSON, P_SMP, P_APPLY } patch_type;

static const struct {
  const char *media;
  patch_type t;
} patch_types[] = {
    {"application/merge-patch+json", P_MERGE},
    {"application/json-patch+json", P_JSON},
    {"application/strategic-merge-patch+json", P_SMP},
    {"application/apply-patch+yaml", P_APPLY},
    {"application/apply-patch+json", P_APPLY},
};

static idp_code patch_type_of(const api_ctx *c, patch_type *t, idp_err *e) {
  const char *ct = c->rq->content_type;
  for (size_t i = 0; ct && i < IDP_ARRAY_LEN(patch_types); i++) {
    size_t n = strlen(patch_types[i].media);
    if (!strncasecmp(ct, patch_types[i].media, n) && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ')) {
      *t = patch_types[i].t;
      if (*t == P_SMP && c->res->crd) break;
      return IDP_OK;
    }
  }
  return idp_err_set(e, IDP_EUNSUPPORTED,
                     "the body of the request was in an unknown format - accepted media types "
                     "include: application/json-patch+json, application/merge-patch+json, "
                     "application/apply-patch+yaml%s",
                     c->res->crd ? "" : ", application/strategic-merge-patch+json");
}

static idp_code apply_patch(api_ctx *c, patch_type t, const json_t *cur, const json_t *patch,
                            const char *manager, bool force, json_t **out, json_t **causes,
                            idp_err *e) {
  const api_resource *r = c->res;
  *out = NULL;
  switch (t) {
  case P_MERGE:
    if (!json_is_object(patch)) return idp_err_set(e, IDP_EINVAL, "merge patch: expected a JSON object");
    *out = idp_merge_patch(cur, patch);
    return *out ? IDP_OK : idp_err_set(e, IDP_ENOMEM, "applying a merge patch");
  case P_JSON:
    if (!json_is_array(patch))
      return idp_err_set(e, IDP_EINVAL, "json patch: expected a JSON array of operations");
    return idp_json_patch(cur, patch, out, e);
  case P_SMP:
    if (!json_is_object(patch))
      return idp_err_set(e, IDP_EINVAL, "strategic merge patch: expected a JSON object");
    return idp_smp(cur, patch, r->group, r->kind, out, e);
  case P_APPLY: {
    char now[32];
    api_now_rfc3339(now, sizeof now);
    json_t *conf = NULL;
    idp_code code = idp_ssa(cur, patch, r->group, r->kind, manager, force, now, out, &conf, e);
    if (code == IDP_ECONFLICT && conf) {
      size_t i;
      json_t *x;
      json_array_foreach(conf, i, x) {
        const char *msg = idp_json_get_str(x, "message", NULL);
        const char *field = idp_json_get_str(x, "field", NULL);
        add_cause(causes, "FieldManagerConflict", field ? field : "", msg ? msg : "conflict");
      }
    }
    json_decref(conf);
    return code;
  }
  }
  return idp_err_set(e, IDP_EINTERNAL, "unknown patch type");
}

void api_patch(api_ctx *c) {
  idp_err e = IDP_ERR_INIT;
  json_t *patch = NULL, *out = NULL, *causes = NULL;
  bool dry;
  patch_type t = P_MERGE;
  idp_code code;
  const char *sub = c->p.sub;
  bool scale = !strcmp(sub, "scale");
  if (*sub && strcmp(sub, "status") && !scale) {
    idp_err_set(&e, IDP_ENOTFOUND, "the server could not find the requested resource");
    api_status_error(c, &e, NULL, NULL);
    return;
  }
  if ((code = api_dry_run(c, &dry, &e)) || (code = check_field_validation_param(c, &e)) ||
      (code = patch_type_of(c, &t, &e)) || (code = api_body_object(c, &patch, &e))) {
    json_decref(patch);
    api_status_error(c, &e, NULL, NULL);
    return;
  }
  char manager[160];
  const char *fm = api_query(c->rq, "fieldManager");
  bool force = api_query_bool(c->rq, "force");
  if (t == P_APPLY) {
    if (!fm || !*fm) {
      json_decref(patch);
      idp_err_set(&e, IDP_EINVALID,
                  "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is "
                  "required for apply patch");
      api_status_error(c, &e, NULL, NULL);
      return;
    }
    if ((code = check_type(c->res, patch, &e))) {
      json_decref(patch);
      api_status_error(c, &e, NULL, NULL);
      return;
    }
    const char *pn = api_obj_name(patch);
    if (pn && strcmp(pn, c->p.name)) {
      json_decref(patch);
      idp_err_set(&e, IDP_EINVAL,
                  "the name of the object (%s) does not match the name on the URL (%s)", pn,
                  c->p.name);
      api_status_error(c, &e, NULL, NULL);
      return;
    }
  } else if (force) {
    json_decref(patch);
    idp_err_set(&e, IDP_EINVALID,
                "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified "
                "for non-apply patch");
    api_status_error(c, &e, NULL, NULL);
    return;
  }
  api_field_manager(c, "unknown", manager, sizeof manager);
  write_op w = {.dry = dry, .ssa = t == P_APPLY, .manager = manager};
  for (int attempt = 0; attempt < WRITE_RETRIES; attempt++) {
    json_t *cur = NULL, *next = NULL;
    code = idp_store_get(c->srv->store, c->res->store_key, c->p.ns, c->p.name, &cur, &e);
    if (code == IDP_ENOTFOUND && t == P_APPLY && !*sub) {
      /* server-side apply creates */
      idp_err_clear(&e);
      code = apply_patch(c, t, NULL, patch, manager, force, &next, &causes, &e);
      if (!code) {
        json_t *md = idp_json_child_object(next, "metadata");
        if (!json_object_get(md, "name")) json_object_set_new(md, "name", json_string(c->p.name));
        code = do_create(c, next, &w, &out, &causes, &e);
        if (!code) {
          json_decref(patch);
          reply_write(c, code, &e, out, causes, 201);
          return;
        }
      }
      break;
    }
    if (code == IDP_ENOTFOUND) api_err_notfound(c->res, c->p.name, &e);
    if (code) break;
    api_set_type(c->res, cur);
    if (scale) {
      json_t *view = api_scale_from(c->res, cur, &e), *nv = NULL;
      if (!view) {
        code = e.code;
        json_decref(cur);
        break;
      }
      code = apply_patch(c, t == P_SMP ? P_MERGE : t, view, patch, manager, force, &nv, &causes, &e);
      json_decref(view);
      if (!code) {
        next = json_deep_copy(cur);
        code = scale_apply(c->res, next, nv, &e);
      }
      json_decref(nv);
    } else {
      code = apply_patch(c, t, cur, patch, manager, force, &next, &causes, &e);
    }
    if (code) {
      json_decref(next);
      json_decref(cur);
      break;
    }
    int64_t want = api_obj_rv(next);
    if (want != 0 && want != api_obj_rv(cur)) {
      json_decref(next);
      json_decref(cur);
      code = conflict_err(c->res, c->p.name, &e);
      break;
    }
    code = do_update(c, cur, next, scale ? "" : sub, &w, &out, &causes, &e);
    json_decref(cur);
    if (code != IDP_ECONFLICT || causes) break;
  }
  json_decref(patch);
  if (!code && scale && out) {
    json_t *sc = api_scale_from(c->res, out, &e);
    json_decref(out);
    out = sc;
  }
  reply_write(c, code, &e, out, causes, 200);
}

idp_code api_create_internal(idp_apiserver *s, const api_resource *r, json_t *obj, idp_err *e) {
  idp_api_request rq = {.method = "POST", .path = ""};
  idp_api_response rs;
  idp_api_response_init(&rs);
  api_ctx c = {.srv = s, .rq = &rq, .rs = &rs, .res = (api_resource *)r};
  const char *ns = api_obj_ns(obj);
  if (r->namespaced && *ns) {
    snprintf(c.p.ns, sizeof c.p.ns, "%s", ns);
    c.p.has_ns = true;
  }
  c.p.route = R_COLLECTION;
  write_op w = {.manager = "idp-apiserver"};
  json_t *out = NULL, *causes = NULL;
  idp_code code = do_create(&c, json_incref(obj), &w, &out, &causes, e);
  json_decref(out);
  json_decref(causes);
  idp_api_response_free(&rs);
  return code;
}
