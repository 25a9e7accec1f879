#include "core/common.h"

#include "apiserver/api_int.h"

static const char *const verb_names[] = {"get", "list", "watch", "create", "update", "patch",
                                         "delete", "deletecollection"};

/* Kubernetes version priority: v1 > v1beta2 > v1beta1 > v1alpha1 > other
 * (apimachinery/pkg/version.CompareKubeAwareVersionStrings); < 0 when a
 * sorts first (is preferred). */
static int kube_version_rank(const char *v, long *major, long *minor) {
  *major = *minor = 0;
  if (v[0] != 'v') return 3;
  char *end;
  *major = strtol(v + 1, &end, 10);
  if (end == v + 1) return 3;
  if (!*end) return 0;
  int kind = !strncmp(end, "beta", 4) ? 1 : !strncmp(end, "alpha", 5) ? 2 : 3;
  if (kind == 3) return 3;
  *minor = strtol(end + (kind == 1 ? 4 : 5), NULL, 10);
  return kind;
}

static int version_cmp(const char *a, const char *b) {
  long ma, na, mb, nb;
  int ka = kube_version_rank(a, &ma, &na), kb = kube_version_rank(b, &mb, &nb);
  if (ka != kb) return ka - kb;
  if (ka == 3) return strcmp(a, b);
  if (ma != mb) return ma > mb ? -1 : 1;
  if (na != nb) return na > nb ? -1 : 1;
  return 0;
}

static json_t *verbs_json(unsigned verbs) {
  json_t *a = json_array();
  for (size_t i = 0; i < IDP_ARRAY_LEN(verb_names); i++)
    if (verbs & (1u << i)) json_array_append_new(a, json_string(verb_names[i]));
  return a;
}

/* groups -> ordered versions, as a JSON object {group: [versions...]} keeping
 * first-seen group order (core first, then built-ins, then CRDs). */
static json_t *group_versions(api_resource **rows, size_t n) {
  json_t *groups = json_object();
  for (size_t i = 0; i < n; i++) {
    json_t *vs = json_object_get(groups, rows[i]->group);
    if (!vs) {
      vs = json_array();
      json_object_set_new(groups, rows[i]->group, vs);
    }
    bool have = false;
    size_t k;
    json_t *v;
    json_array_foreach(vs, k, v) have |= !strcmp(json_string_value(v), rows[i]->version);
    if (have) continue;
    size_t at = json_array_size(vs);
    json_array_foreach(vs, k, v) {
      if (version_cmp(rows[i]->version, json_string_value(v)) < 0) {
        at = k;
        break;
      }
    }
    json_array_insert_new(vs, at, json_string(rows[i]->version));
  }
  return groups;
}

static json_t *group_json(const char *group, json_t *versions) {
  json_t *vs = json_array();
  size_t k;
  json_t *v;
  char gv[600];
  json_array_foreach(versions, k, v) {
    snprintf(gv, sizeof gv, "%s/%s", group, json_string_value(v));
    json_array_append_new(vs, json_pack("{s:s, s:s}", "groupVersion", gv, "version",
                                        json_string_value(v)));
  }
  json_t *pref = json_array_get(vs, 0);
  return json_pack("{s:s, s:o, s:O}", "name", group, "versions", vs, "preferredVersion",
                   pref ? pref : json_null());
}

static json_t *resource_list(api_resource **rows, size_t n, const char *group,
                             const char *version) {
  json_t *res = json_array();
  for (size_t i = 0; i < n; i++) {
    api_resource *r = rows[i];
    if (strcmp(r->group, group) || strcmp(r->version, version)) continue;
    json_t *o = json_pack("{s:s, s:s, s:b, s:s, s:o}", "name", r->plural, "singularName",
                          r->singular, "namespaced", r->namespaced, "kind", r->kind, "verbs",
                          verbs_json(r->verbs));
    if (json_array_size(r->short_names)) json_object_set(o, "shortNames", r->short_names);
    if (json_array_size(r->categories)) json_object_set(o, "categories", r->categories);
    json_array_append_new(res, o);
    char name[600];
    if (r->has_status) {
      snprintf(name, sizeof name, "%s/status", r->plural);
      json_array_append_new(
          res, json_pack("{s:s, s:s, s:b, s:s, s:o}", "name", name, "singularName", "",
                         "namespaced", r->namespaced, "kind", r->kind, "verbs",
                         verbs_json(API_VERB_GET | API_VERB_PATCH | API_VERB_UPDATE)));
    }
    if (r->has_scale) {
      snprintf(name, sizeof name, "%s/scale", r->plural);
      json_array_append_new(
          res, json_pack("{s:s, s:s, s:b, s:s, s:s, s:s, s:o}", "name", name, "singularName", "",
                         "namespaced", r->namespaced, "group", "autoscaling", "version", "v1",
                         "kind", "Scale", "verbs",
                         verbs_json(API_VERB_GET | API_VERB_PATCH | API_VERB_UPDATE)));
    }
  }
  char gv[600];
  if (*group)
    snprintf(gv, sizeof gv, "%s/%s", group, version);
  else
    snprintf(gv, sizeof gv, "%s", version);
  return json_pack("{s:s, s:s, s:s, s:o}", "kind", "APIResourceList", "apiVersion", "v1",
                   "groupVersion", gv, "resources", res);
}

void api_discovery(api_ctx *c) {
  idp_apiserver *s = c->srv;
  size_t n = 0;
  api_resource **rows = api_registry_snapshot(s->reg, &n);
  idp_err e = IDP_ERR_INIT;
  json_t *out = NULL;
  switch (c->p.route) {
  case R_API: {
    char addr[300];
    snprintf(addr, sizeof addr, "%s", s->listen ? s->listen : "127.0.0.1");
    out = json_pack("{s:s, s:[s], s:[{s:s, s:s}]}", "kind", "APIVersions", "versions", "v1",
                    "serverAddressByClientCIDRs", "clientCIDR", "0.0.0.0/0", "serverAddress",
                    addr);
    break;
  }
  case R_APIS: {
    json_t *gvs = group_versions(rows, n);
    json_t *groups = json_array();
    const char *g;
    json_t *vs;
    json_object_foreach(gvs, g, vs) {
      if (*g) json_array_append_new(groups, group_json(g, vs));
    }
    json_decref(gvs);
    out = json_pack("{s:s, s:s, s:o}", "kind", "APIGroupList", "apiVersion", "v1", "groups",
                    groups);
    break;
  }
  case R_GROUP: {
    json_t *gvs = group_versions(rows, n);
    json_t *vs = json_object_get(gvs, c->p.group);
    if (vs && *c->p.group) {
      out = group_json(c->p.group, vs);
      json_object_set_new(out, "kind", json_string("APIGroup"));
      json_object_set_new(out, "apiVersion", json_string("v1"));
    }
    json_decref(gvs);
    break;
  }
  case R_GV: {
    bool found = false;
    for (size_t i = 0; i < n && !found; i++)
      found = !strcmp(rows[i]->group, c->p.group) && !strcmp(rows[i]->version, c->p.version);
    if (found) out = resource_list(rows, n, c->p.group, c->p.version);
    break;
  }
  default:
    break;
  }
  api_registry_snapshot_free(rows, n);
  if (!out) {
    idp_err_set(&e, IDP_ENOTFOUND, "the server could not find the requested resource");
    api_status_error(c, &e, NULL, NULL);
    return;
  }
  api_reply_json(c, 200, out);
}
