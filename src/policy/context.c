/* context.c: the JSON context rules are evaluated against.
 *
 * {request: {operation, object, oldObject, userInfo, roles, clusterRoles,
 * namespace}, serviceAccountName, serviceAccountNamespace, images: {...}}
 * plus the values of the CLI test and, per rule, the context[] entries:
 * variable (value / jmesPath / default), configMap and apiCall (served from
 * the request's fake cluster and mocked responses; skipped when neither
 * can answer, as the offline CLI does). */
#include "core/common.h"

#include <ctype.h>

#include "core/buf.h"
#include "core/json.h"
#include "policy/internal.h"

/* ---- images ---- */

static json_t *image_info(const char *image) {
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", image);
  char *digest = strchr(buf, '@');
  if (digest) *digest++ = 0;
  char *tag = NULL;
  char *lastslash = strrchr(buf, '/');
  char *colon = strrchr(lastslash ? lastslash : buf, ':');
  if (colon) {
    *colon = 0;
    tag = colon + 1;
  }
  const char *registry = "docker.io";
  char *path = buf;
  char *first = strchr(buf, '/');
  if (first) {
    size_t n = (size_t)(first - buf);
    bool is_reg = memchr(buf, '.', n) || memchr(buf, ':', n) || (n == 9 && strncmp(buf, "localhost", 9) == 0);
    if (is_reg) {
      *first = 0;
      registry = buf;
      path = first + 1;
    }
  }
  const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
  if (!tag && !digest) tag = "latest";
  json_t *o = json_object();
  json_object_set_new(o, "registry", json_string(registry));
  json_object_set_new(o, "path", json_string(path));
  json_object_set_new(o, "name", json_string(name));
  json_object_set_new(o, "tag", json_string(tag ? tag : ""));
  json_object_set_new(o, "digest", json_string(digest ? digest : ""));
  char ref[1400], rwt[1400];
  snprintf(rwt, sizeof rwt, "%s/%s:%s", registry, path, tag ? tag : "");
  if (digest)
    snprintf(ref, sizeof ref, "%s/%s@%s", registry, path, digest);
  else
    snprintf(ref, sizeof ref, "%s", rwt);
  json_object_set_new(o, "reference", json_string(ref));
  json_object_set_new(o, "referenceWithTag", json_string(rwt));
  return o;
}

static const json_t *pod_spec_of(const json_t *obj) {
  const char *kind = idp_json_get_str(obj, "kind", NULL);
  if (!kind) return NULL;
  if (strcmp(kind, "Pod") == 0) return json_object_get(obj, "spec");
  if (strcmp(kind, "CronJob") == 0)
    return idp_json_get(obj, "spec", "jobTemplate", "spec", "template", "spec", NULL);
  return idp_json_get(obj, "spec", "template", "spec", NULL);
}

json_t *pol_images(const json_t *obj) {
  const json_t *spec = pod_spec_of(obj);
  if (!json_is_object(spec)) return NULL;
  static const char *const lists[] = {"containers", "initContainers", "ephemeralContainers"};
  json_t *out = json_object();
  for (size_t l = 0; l < 3; l++) {
    const json_t *cs = json_object_get(spec, lists[l]);
    if (!json_array_size(cs)) continue;
    json_t *m = json_object();
    for (size_t i = 0; i < json_array_size(cs); i++) {
      const char *n = idp_json_get_str(json_array_get(cs, i), "name", NULL);
      const char *img = idp_json_get_str(json_array_get(cs, i), "image", NULL);
      if (n && img) json_object_set_new(m, n, image_info(img));
    }
    json_object_set_new(out, lists[l], m);
  }
  return out;
}

json_t *pol_ctx_new(const pol_request *req, const json_t *object) {
  json_t *ctx = json_object();
  json_t *r = json_object();
  const char *op = req->operation ? req->operation : "CREATE";
  json_object_set_new(r, "operation", json_string(op));
  bool deep = false;
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)req->values, k, v) {
    if (strncmp(k, "request.object", 14) == 0 || strncmp(k, "request.oldObject", 17) == 0)
      deep = true;
  }
  if (object)
    json_object_set_new(r, "object", deep ? json_deep_copy(object) : json_incref((json_t *)object));
  else
    json_object_set_new(r, "object", json_null());
  if (req->old_object)
    json_object_set_new(r, "oldObject", deep ? json_deep_copy(req->old_object)
                                             : json_incref((json_t *)req->old_object));
  else
    json_object_set_new(r, "oldObject", json_null());
  /* as Kyverno marshals an empty RequestInfo: userInfo {}, roles null */
  json_object_set_new(r, "userInfo", req->user_info ? json_incref((json_t *)req->user_info)
                                                    : json_object());
  json_object_set_new(r, "roles", req->roles ? json_incref((json_t *)req->roles) : json_null());
  json_object_set_new(r, "clusterRoles",
                      req->cluster_roles ? json_incref((json_t *)req->cluster_roles) : json_null());
  const json_t *src = object ? object : req->old_object;
  const char *ns = idp_json_get_str(src, "metadata", "namespace", NULL);
  if (ns) json_object_set_new(r, "namespace", json_string(ns));
  if (src) {
    json_t *kind = json_object();
    const char *av = idp_json_get_str(src, "apiVersion", NULL);
    const char *sl = av ? strchr(av, '/') : NULL;
    json_object_set_new(kind, "group", json_stringn(av ? av : "", sl ? (size_t)(sl - av) : 0));
    json_object_set_new(kind, "version", json_string(sl ? sl + 1 : (av ? av : "")));
    json_object_set_new(kind, "kind", json_string(idp_json_get_str(src, "kind", NULL) ? idp_json_get_str(src, "kind", NULL) : ""));
    json_object_set_new(r, "kind", kind);
    const char *nm = idp_json_get_str(src, "metadata", "name", NULL);
    if (nm) json_object_set_new(r, "name", json_string(nm));
  }
  json_object_set_new(ctx, "request", r);
  /* serviceAccountName/Namespace: from system:serviceaccount:<ns>:<name>,
   * empty strings otherwise (Kyverno always sets both) */
  const char *user = idp_json_get_str(req->user_info, "username", NULL);
  json_t *san = json_string(""), *sans = json_string("");
  if (user && strncmp(user, "system:serviceaccount:", 22) == 0) {
    const char *rest = user + 22;
    const char *c = strchr(rest, ':');
    if (c) {
      json_decref(sans);
      json_decref(san);
      sans = json_stringn(rest, (size_t)(c - rest));
      const char *e2 = strchr(c + 1, ':');
      san = e2 ? json_stringn(c + 1, (size_t)(e2 - c - 1)) : json_string(c + 1);
    }
  }
  json_object_set_new(ctx, "serviceAccountName", san);
  json_object_set_new(ctx, "serviceAccountNamespace", sans);
  json_t *imgs = src ? pol_images(src) : NULL;
  if (imgs) json_object_set_new(ctx, "images", imgs);
  json_object_foreach((json_t *)req->values, k, v) {
    pol_set_dotted(ctx, k, json_deep_copy(v));
  }
  return ctx;
}

/* ---- context entries ---- */

static void lower_plural(const char *kind, char *out, size_t n) {
  char low[128];
  size_t i = 0;
  for (; kind[i] && i < sizeof low - 1; i++) low[i] = (char)tolower((unsigned char)kind[i]);
  low[i] = 0;
  size_t l = strlen(low);
  if (l && low[l - 1] == 'y')
    snprintf(out, n, "%.*sies", (int)(l - 1), low);
  else if (l && (low[l - 1] == 's' || low[l - 1] == 'x'))
    snprintf(out, n, "%ses", low);
  else
    snprintf(out, n, "%ss", low);
}

/* Serves GET urlPath from the fake cluster: /api/v1/[namespaces/NS/]RES[/NAME]
 * or /apis/G/V/[namespaces/NS/]RES[/NAME].  New reference or NULL. */
static json_t *cluster_get(const json_t *cluster, const char *url) {
  if (!json_is_array(cluster)) return NULL;
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", url);
  char *q = strchr(buf, '?');
  if (q) *q = 0;
  char *seg[16];
  size_t n = 0;
  for (char *p = strtok_r(buf, "/", &q); p && n < 16; p = strtok_r(NULL, "/", &q)) seg[n++] = p;
  size_t i = 0;
  char gv[256];
  if (n >= 2 && strcmp(seg[0], "api") == 0) {
    snprintf(gv, sizeof gv, "%s", seg[1]);
    i = 2;
  } else if (n >= 3 && strcmp(seg[0], "apis") == 0) {
    snprintf(gv, sizeof gv, "%s/%s", seg[1], seg[2]);
    i = 3;
  } else {
    return NULL;
  }
  const char *ns = NULL, *res = NULL, *name = NULL;
  if (i + 1 < n && strcmp(seg[i], "namespaces") == 0 && i + 2 < n) {
    ns = seg[i + 1];
    i += 2;
  }
  if (i < n) res = seg[i++];
  if (i < n) name = seg[i++];
  if (!res) return NULL;
  json_t *items = json_array();
  for (size_t k = 0; k < json_array_size(cluster); k++) {
    const json_t *o = json_array_get(cluster, k);
    const char *kind = idp_json_get_str(o, "kind", NULL);
    const char *av = idp_json_get_str(o, "apiVersion", NULL);
    if (!kind || !av || strcmp(av, gv) != 0) continue;
    char pl[160];
    lower_plural(kind, pl, sizeof pl);
    if (strcmp(pl, res) != 0) continue;
    const char *ons = idp_json_get_str(o, "metadata", "namespace", NULL);
    if (ns && (!ons || strcmp(ons, ns) != 0)) continue;
    const char *on = idp_json_get_str(o, "metadata", "name", NULL);
    if (name) {
      if (on && strcmp(on, name) == 0) {
        json_decref(items);
        return json_deep_copy(o);
      }
      continue;
    }
    json_array_append_new(items, json_deep_copy(o));
  }
  if (name) {
    json_decref(items);
    return NULL;
  }
  return json_pack("{s:s,s:s,s:{},s:o}", "apiVersion", "v1", "kind", "List", "metadata", "items",
                   items);
}

static json_t *mock_response(const json_t *mocks, const char *url, const char *method) {
  for (size_t i = 0; i < json_array_size(mocks); i++) {
    const json_t *m = json_array_get(mocks, i);
    const char *u = idp_json_get_str(m, "urlPath", NULL);
    if (!u) u = idp_json_get_str(m, "url", NULL);
    const char *me = idp_json_get_str(m, "method", NULL);
    if (!u || strcmp(u, url) != 0) continue;
    if (me && method && strcasecmp(me, method) != 0) continue;
    const json_t *body = idp_json_get(m, "response", "body", NULL);
    return body ? json_deep_copy(body) : json_null();
  }
  return NULL;
}

static int apply_jp_default(json_t *ctx, const char *name, json_t *data, const json_t *entry_part,
                            idp_err *e) {
  const json_t *jp = json_object_get(entry_part, "jmesPath");
  const json_t *def = json_object_get(entry_part, "default");
  json_t *out = data;
  if (json_is_string(jp) && json_string_length(jp) > 0) {
    json_t *path = pol_subst(jp, ctx, POL_VARS_DEFAULT, e);
    if (!path) {
      json_decref(data);
      return -1;
    }
    json_t *r = NULL;
    idp_err le = IDP_ERR_INIT;
    pol_jp_rc rc = pol_jp_eval(json_string_value(path), data, &r, &le);
    json_decref(path);
    json_decref(data);
    out = rc == POL_JP_OK ? r : NULL;
    if (!out && !def) {
      idp_err_set(e, IDP_EINVALID, "failed to apply jmespath to context entry %s: %s", name, le.msg);
      return -1;
    }
  }
  if ((!out || json_is_null(out)) && def) {
    json_decref(out);
    out = pol_subst(def, ctx, POL_VARS_DEFAULT, e);
    if (!out) return -1;
  }
  if (!out) out = json_null();
  json_object_set_new(ctx, name, out);
  return 0;
}

int pol_ctx_load(json_t *ctx, const json_t *entries, const pol_request *req, idp_err *e) {
  for (size_t i = 0; i < json_array_size(entries); i++) {
    const json_t *en = json_array_get(entries, i);
    const char *name = idp_json_get_str(en, "name", NULL);
    if (!name) continue;
    const json_t *var = json_object_get(en, "variable");
    const json_t *cm = json_object_get(en, "configMap");
    const json_t *api = json_object_get(en, "apiCall");
    if (json_is_object(var)) {
      const json_t *value = json_object_get(var, "value");
      const json_t *jp = json_object_get(var, "jmesPath");
      const json_t *def = json_object_get(var, "default");
      json_t *out = NULL;
      json_t *path = NULL;
      if (json_is_string(jp) && json_string_length(jp)) {
        path = pol_subst(jp, ctx, POL_VARS_DEFAULT, e);
        if (!path) {
          idp_err_prefix(e, "failed to substitute variables in context entry %s", name);
          return -1;
        }
      }
      json_t *dv = NULL;
      if (def) {
        dv = pol_subst(def, ctx, POL_VARS_DEFAULT, e);
        if (!dv) {
          json_decref(path);
          return -1;
        }
      }
      if (value) {
        json_t *v = pol_subst(value, ctx, POL_VARS_DEFAULT, e);
        if (!v) {
          json_decref(path);
          json_decref(dv);
          idp_err_prefix(e, "failed to substitute variables in context entry %s", name);
          return -1;
        }
        if (path) {
          idp_err le = IDP_ERR_INIT;
          if (pol_jp_eval(json_string_value(path), v, &out, &le) != POL_JP_OK) {
            out = NULL;
            if (!dv) {
              json_decref(v);
              json_decref(path);
              idp_err_set(e, IDP_EINVALID, "failed to apply jmespath to variable %s: %s", name, le.msg);
              return -1;
            }
          }
          json_decref(v);
        } else {
          out = v;
        }
      } else if (path) {
        idp_err le = IDP_ERR_INIT;
        if (pol_jp_eval(json_string_value(path), ctx, &out, &le) != POL_JP_OK) {
          out = NULL;
          if (!dv) {
            json_decref(path);
            idp_err_set(e, IDP_EINVALID, "failed to apply jmespath %s to variable: %s",
                        json_string_value(path), le.msg);
            return -1;
          }
        }
      }
      json_decref(path);
      if ((!out || json_is_null(out)) && dv) {
        json_decref(out);
        out = dv;
        dv = NULL;
      }
      json_decref(dv);
      if (!out || json_is_null(out)) {
        json_decref(out);
        idp_err_set(e, IDP_EINVALID,
                    "unable to add context entry for variable %s since it evaluated to nil", name);
        return -1;
      }
      json_object_set_new(ctx, name, out);
    } else if (json_is_object(cm)) {
      json_t *c = pol_subst(cm, ctx, POL_VARS_DEFAULT, e);
      if (!c) return -1;
      const char *cn = idp_json_get_str(c, "name", NULL);
      const char *cns = idp_json_get_str(c, "namespace", NULL);
      const json_t *found = NULL;
      for (size_t k = 0; k < json_array_size(req->cluster); k++) {
        const json_t *o = json_array_get(req->cluster, k);
        const char *on = idp_json_get_str(o, "metadata", "name", NULL);
        const char *ons = idp_json_get_str(o, "metadata", "namespace", NULL);
        const char *kind = idp_json_get_str(o, "kind", NULL);
        if (kind && strcmp(kind, "ConfigMap") == 0 && on && cn && strcmp(on, cn) == 0 &&
            (!cns || !*cns || (ons && strcmp(ons, cns) == 0) || (!ons && strcmp(cns, "default") == 0)))
          found = o;
      }
      json_t *live = NULL;
      if (!found && req->api && req->api->call && cn) {
        /* live cluster: GET the ConfigMap (namespace defaults to the
         * request's, then "default") */
        const char *rns = cns && *cns ? cns : idp_json_get_str(ctx, "request", "namespace", NULL);
        idp_buf path;
        idp_buf_init(&path, 4096);
        idp_buf_printf(&path, "/api/v1/namespaces/%s/configmaps/%s", rns && *rns ? rns : "default",
                       cn);
        idp_err le = IDP_ERR_INIT;
        idp_code lrc = req->api->call(req->api->ud, "GET", idp_buf_str(&path), NULL, &live, &le);
        idp_buf_free(&path);
        if (lrc && lrc != IDP_ENOTFOUND) {
          json_decref(c);
          idp_err_set(e, lrc, "failed to load configMap %s for context entry %s: %s", cn, name,
                      le.msg);
          return -1;
        }
        if (lrc) live = NULL;
      }
      json_decref(c);
      if (found) json_object_set_new(ctx, name, json_deep_copy(found));
      else if (live) json_object_set_new(ctx, name, live);
      /* offline and not in the fake cluster: skipped, values may supply it */
    } else if (json_is_object(api)) {
      json_t *a = pol_subst(api, ctx, POL_VARS_DEFAULT, e);
      if (!a) return -1;
      const char *url = idp_json_get_str(a, "urlPath", NULL);
      if (!url) url = idp_json_get_str(a, "service", "url", NULL);
      const char *method = idp_json_get_str(a, "method", NULL);
      json_t *data = url ? mock_response(req->api_responses, url, method ? method : "GET") : NULL;
      if (!data && url && idp_json_get_str(a, "urlPath", NULL)) data = cluster_get(req->cluster, url);
      if (!data && url && idp_json_get_str(a, "urlPath", NULL) && req->api && req->api->call) {
        /* live API: POST bodies are built from data[{key, value}] */
        json_t *body = NULL;
        const json_t *kv = json_object_get(a, "data");
        if (json_array_size(kv)) {
          body = json_object();
          for (size_t d = 0; d < json_array_size(kv); d++) {
            const char *key = idp_json_get_str(json_array_get(kv, d), "key", NULL);
            json_t *val = json_object_get(json_array_get(kv, d), "value");
            if (key && val) json_object_set(body, key, val);
          }
        }
        idp_err le = IDP_ERR_INIT;
        idp_code lrc = req->api->call(req->api->ud, method ? method : "GET", url, body, &data, &le);
        json_decref(body);
        if (lrc) {
          data = NULL;
          if (!json_object_get(a, "default")) {
            json_decref(a);
            idp_err_set(e, lrc, "failed to load context entry %s: apiCall %s: %s", name, url, le.msg);
            return -1;
          }
          data = json_null();
        }
      }
      if (data) {
        if (apply_jp_default(ctx, name, data, a, e) != 0) {
          json_decref(a);
          return -1;
        }
      }
      json_decref(a);
    }
    /* imageRegistry / globalReference: offline, not mocked -> skipped */
  }
  return 0;
}
