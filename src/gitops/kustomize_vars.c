/* kustomize_vars.c: `vars` (deprecated in kustomize v5, still honoured).
 *
 * Each var names an object (objref: apiVersion/kind/name/namespace, matched
 * against the object's original id) and a fieldref.fieldPath (default
 * metadata.name).  Vars from every kustomization of the build are collected
 * (a name may be declared once) and resolved once at the end, after name
 * references are fixed, so values carry prefixes and hash suffixes.
 * "$(NAME)" is replaced in the fields of kustomize's varReference table
 * (container args, command, env values, mount paths, Ingress hosts, Service
 * ports, metadata.labels), with Kubernetes' expansion rules: "$$" is a
 * literal "$", an unknown "$(X)" stays as written, and a field that is
 * exactly "$(NAME)" takes the value with its type. */
#include "core/common.h"

#include "core/buf.h"
#include "core/json.h"
#include "gitops/kustomize_int.h"

#define CTRS(K, P)                                                                        \
  {NULL, NULL, K, P "containers/args", false}, {NULL, NULL, K, P "containers/command", false}, \
      {NULL, NULL, K, P "containers/env/value", false},                                    \
      {NULL, NULL, K, P "containers/volumeMounts/mountPath", false},                       \
      {NULL, NULL, K, P "initContainers/args", false},                                     \
      {NULL, NULL, K, P "initContainers/command", false},                                  \
      {NULL, NULL, K, P "initContainers/env/value", false},                                \
      {NULL, NULL, K, P "initContainers/volumeMounts/mountPath", false}

static const kfs var_refs[] = {
    CTRS("CronJob", "spec/jobTemplate/spec/template/spec/"),
    CTRS("DaemonSet", "spec/template/spec/"),
    CTRS("Deployment", "spec/template/spec/"),
    {NULL, NULL, "Ingress", "spec/rules/host", false},
    {NULL, NULL, "Ingress", "spec/tls/hosts", false},
    {NULL, NULL, "Ingress", "spec/tls/secretName", false},
    CTRS("Job", "spec/template/spec/"),
    CTRS("Pod", "spec/"),
    CTRS("ReplicaSet", "spec/template/spec/"),
    {NULL, NULL, "Service", "spec/ports/port", false},
    {NULL, NULL, "Service", "spec/ports/targetPort", false},
    CTRS("StatefulSet", "spec/template/spec/"),
    {NULL, NULL, NULL, "metadata/labels", false},
};

idp_code kvars_collect(json_t *all, const json_t *kust, const char *kpath, idp_err *e) {
  json_t *vars = json_object_get(kust, "vars");
  if (!vars || json_is_null(vars)) return IDP_OK;
  if (!json_is_array(vars)) return idp_err_set(e, IDP_EINVAL, "%s: vars must be a list", kpath);
  size_t i;
  json_t *v;
  json_array_foreach(vars, i, v) {
    const char *name = idp_json_get_str(v, "name", NULL);
    if (!name || !*name || !json_is_object(json_object_get(v, "objref")))
      return idp_err_set(e, IDP_EINVAL, "%s: vars[%zu] needs a name and an objref", kpath, i);
    if (json_object_get(all, name))
      return idp_err_set(e, IDP_EINVALID, "%s: var '%s' already encountered", kpath, name);
    json_object_set(all, name, v);
  }
  return IDP_OK;
}

/* Value of a var: the field of the one object whose original id matches. */
static idp_code var_value(kset *s, const char *name, const json_t *var, json_t **out, idp_err *e) {
  const json_t *ref = json_object_get(var, "objref");
  const char *av = idp_json_get_str(ref, "apiVersion", NULL);
  const char *kind = idp_json_get_str(ref, "kind", NULL);
  const char *oname = idp_json_get_str(ref, "name", NULL);
  const char *ns = idp_json_get_str(ref, "namespace", NULL);
  kres *found = NULL;
  for (size_t i = 0; i < s->n; i++) {
    kres *r = s->v[i];
    const char *okind = json_array_size(r->prev)
                            ? json_string_value(json_array_get(json_array_get(r->prev, 0), 0))
                            : kres_kind(r);
    const char *rav = idp_json_get_str(r->obj, "apiVersion", NULL);
    if (kind && *kind && strcmp(kind, okind)) continue;
    if (av && *av && (!rav || strcmp(av, rav))) continue;
    if (!oname || strcmp(oname, kres_org_name(r))) continue;
    if (ns && *ns && !ns_equal(ns, kres_org_ns(r))) continue;
    if (found)
      return idp_err_set(e, IDP_EINVALID, "var '%s' matches more than one resource (%s)", name,
                         oname);
    found = r;
  }
  if (!found)
    return idp_err_set(e, IDP_EINVALID,
                       "var '%s' cannot be mapped to a field in the set of known resources", name);
  const char *fp = idp_json_get_str(var, "fieldref", "fieldPath", NULL);
  if (!fp || !*fp) fp = "metadata.name";
  /* dotted path, with [i] indexes */
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", fp);
  const json_t *cur = found->obj;
  for (char *seg = buf, *next; seg && cur; seg = next) {
    next = strchr(seg, '.');
    if (next) *next++ = '\0';
    char *br = strchr(seg, '[');
    if (br) *br = '\0';
    if (*seg) cur = json_object_get(cur, seg);
    while (br && cur) {
      char *end;
      long long idx = strtoll(br + 1, &end, 10);
      if (*end != ']' || idx < 0) return idp_err_set(e, IDP_EINVAL, "var '%s': bad fieldPath %s", name, fp);
      cur = json_array_get(cur, (size_t)idx);
      br = strchr(end, '[');
    }
  }
  if (!cur || json_is_object(cur) || json_is_array(cur))
    return idp_err_set(e, IDP_EINVALID, "var '%s': field %s not found in %s %s", name, fp,
                       kres_kind(found), kres_name(found));
  *out = json_deep_copy(cur);
  return IDP_OK;
}

static bool value_text(const json_t *v, idp_buf *b) {
  switch (json_typeof(v)) {
  case JSON_STRING:
    return !idp_buf_add(b, json_string_value(v), json_string_length(v));
  case JSON_INTEGER:
    return !idp_buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
  case JSON_REAL:
    return !idp_buf_printf(b, "%g", json_real_value(v));
  case JSON_TRUE:
    return !idp_buf_adds(b, "true");
  case JSON_FALSE:
    return !idp_buf_adds(b, "false");
  default:
    return !idp_buf_adds(b, "null");
  }
}

typedef struct vctx {
  const json_t *values; /* name -> value */
} vctx;

/* Expands one string; returns a new value or NULL when unchanged. */
static json_t *expand(const vctx *c, const char *s) {
  size_t n = strlen(s);
  if (n > 3 && s[0] == '$' && s[1] == '(' && s[n - 1] == ')' && !memchr(s + 2, ')', n - 3)) {
    char name[512];
    snprintf(name, sizeof name, "%.*s", (int)(n - 3), s + 2);
    const json_t *v = json_object_get(c->values, name);
    if (v) return json_deep_copy(v);
  }
  if (!strchr(s, '$')) return NULL;
  idp_buf b;
  idp_buf_init(&b, 1 << 20);
  bool changed = false;
  for (size_t i = 0; i < n;) {
    if (s[i] == '$' && i + 1 < n && s[i + 1] == '$') {
      idp_buf_addc(&b, '$');
      i += 2;
      changed = true;
      continue;
    }
    if (s[i] == '$' && i + 1 < n && s[i + 1] == '(') {
      const char *close = strchr(s + i + 2, ')');
      if (close) {
        char name[512];
        snprintf(name, sizeof name, "%.*s", (int)(close - (s + i + 2)), s + i + 2);
        const json_t *v = json_object_get(c->values, name);
        if (v && value_text(v, &b)) {
          i = (size_t)(close - s) + 1;
          changed = true;
          continue;
        }
      }
    }
    idp_buf_addc(&b, s[i]);
    i++;
  }
  json_t *out = changed ? json_stringn(b.data ? b.data : "", b.len) : NULL;
  idp_buf_free(&b);
  return out;
}

static idp_code set_vars(json_t *parent, const char *key, json_t *v, void *ctx, idp_err *e) {
  IDP_UNUSED(e);
  const vctx *c = ctx;
  if (json_is_string(v)) {
    json_t *nv = expand(c, json_string_value(v));
    if (nv) json_object_set_new(parent, key, nv);
  } else if (json_is_array(v)) {
    size_t i;
    json_t *el;
    json_array_foreach(v, i, el) {
      if (!json_is_string(el)) continue;
      json_t *nv = expand(c, json_string_value(el));
      if (nv) json_array_set_new(v, i, nv);
    }
  } else if (json_is_object(v)) {
    const char *k;
    json_t *el;
    json_object_foreach(v, k, el) {
      if (!json_is_string(el)) continue;
      json_t *nv = expand(c, json_string_value(el));
      if (nv) json_object_set_new(v, k, nv);
    }
  }
  return IDP_OK;
}

idp_code kvars_resolve(kset *s, const json_t *vars, const json_t *extra_fs, idp_err *e) {
  if (!json_object_size(vars)) return IDP_OK;
  json_t *values = json_object();
  const char *name;
  json_t *var;
  idp_code rc = IDP_OK;
  json_object_foreach((json_t *)vars, name, var) {
    json_t *v = NULL;
    if ((rc = var_value(s, name, var, &v, e))) break;
    json_object_set_new(values, name, v);
  }
  vctx c = {values};
  for (size_t i = 0; i < s->n && !rc; i++)
    for (size_t k = 0; k < IDP_ARRAY_LEN(var_refs) && !rc; k++)
      if (kfs_selects(&var_refs[k], s->v[i]))
        rc = kfs_apply(s->v[i]->obj, var_refs[k].path, false, set_vars, &c, e);
  for (size_t i = 0; i < s->n && !rc; i++) {
    size_t k;
    json_t *f;
    json_array_foreach(extra_fs, k, f) {
      kfs x = kfs_from_json(f);
      if (x.path && kfs_selects(&x, s->v[i]) &&
          (rc = kfs_apply(s->v[i]->obj, x.path, false, set_vars, &c, e)))
        break;
    }
  }
  json_decref(values);
  return rc;
}
