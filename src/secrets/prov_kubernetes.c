/* The kubernetes provider: values are Secrets of spec.provider.kubernetes
 * .remoteNamespace (default "default").
 *
 * server.url empty, this cluster's in-cluster address
 * (https://kubernetes.default.svc[.cluster.local]) or the controller's own
 * server all mean "this cluster": the controller's client is used and
 * auth/caProvider are not needed.  Another server gets a client of its
 * own for the call: trust from server.caBundle (base64 PEM) or
 * server.caProvider {type Secret|ConfigMap, name, key, namespace}, and
 * credentials from auth.token.bearerToken (a Secret key), auth.cert
 * {clientCert, clientKey} (Secret keys) or auth.serviceAccount {name,
 * namespace, audiences} (a TokenRequest on this cluster). */
#include "core/common.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/json.h"
#include "kube/selector.h"
#include "secrets/internal.h"

static const char *const this_cluster[] = {
    "https://kubernetes.default.svc", "https://kubernetes.default.svc.cluster.local",
    "https://kubernetes.default", "https://kubernetes.default.svc:443",
};

static char *dup_value(json_t *v) {
  char *s = v ? strndup(json_string_value(v), json_string_length(v)) : NULL;
  json_decref(v);
  return s;
}

/* The CA of a remote server: caBundle or caProvider (ConfigMap/Secret). */
static idp_code remote_ca(sp_ctx *c, const json_t *server, char **ca, idp_err *e) {
  *ca = NULL;
  const char *bundle = idp_json_get_str(server, "caBundle", NULL);
  if (bundle && *bundle) {
    json_t *d = NULL;
    if (sp_b64dec(bundle, strlen(bundle), false, &d))
      return idp_err_set(e, IDP_EINVALID, "kubernetes provider: server.caBundle is not base64");
    *ca = dup_value(d);
    return IDP_OK;
  }
  const json_t *cp = json_object_get(server, "caProvider");
  if (!json_is_object(cp)) return IDP_OK; /* system trust */
  const char *type = idp_json_get_str(cp, "type", NULL);
  const char *name = idp_json_get_str(cp, "name", NULL), *key = idp_json_get_str(cp, "key", NULL);
  const char *ns = idp_json_get_str(cp, "namespace", NULL);
  if (!ns || !*ns || strcmp(c->store_kind, "ClusterSecretStore")) ns = c->ns;
  if (!type || !name || !key || !ns)
    return idp_err_set(e, IDP_EINVALID, "kubernetes provider: server.caProvider needs type, name, key (and namespace)");
  if (!strcmp(type, "Secret")) {
    json_t *v = NULL;
    idp_code rc = sp_secret_value(c->kc, ns, name, key, &v, e);
    if (rc) return rc;
    *ca = dup_value(v);
    return IDP_OK;
  }
  json_t *cm = NULL;
  idp_kref r = {.version = "v1", .resource = "configmaps", .ns = ns, .name = name};
  idp_code rc = idp_kclient_get(c->kc, &r, &cm, e);
  if (rc) {
    idp_err_prefix(e, "kubernetes provider: server.caProvider ConfigMap %s/%s", ns, name);
    return rc;
  }
  const char *v = idp_json_get_str(cm, "data", key, NULL);
  *ca = v ? strdup(v) : NULL;
  json_decref(cm);
  if (!*ca) return idp_err_set(e, IDP_ENOTFOUND, "kubernetes provider: ConfigMap %s/%s has no key %s", ns, name, key);
  return IDP_OK;
}

static idp_code sa_token(sp_ctx *c, const json_t *sa, char **tok, idp_err *e) {
  const char *name = idp_json_get_str(sa, "name", NULL);
  const char *ns = idp_json_get_str(sa, "namespace", NULL);
  if (!ns || !*ns || strcmp(c->store_kind, "ClusterSecretStore")) ns = c->ns;
  if (!name || !ns) return idp_err_set(e, IDP_EINVALID, "kubernetes provider: auth.serviceAccount.name is required");
  json_t *spec = json_pack("{s:i}", "expirationSeconds", 600);
  json_t *aud = json_object_get(sa, "audiences");
  if (json_is_array(aud)) json_object_set(spec, "audiences", aud);
  json_t *body = json_pack("{s:s,s:s,s:o}", "apiVersion", "authentication.k8s.io/v1", "kind", "TokenRequest", "spec", spec);
  char *text = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  idp_buf path;
  idp_buf_init(&path, 1024);
  idp_kref r = {.version = "v1", .resource = "serviceaccounts", .ns = ns, .name = name, .subresource = "token"};
  idp_code rc = idp_kref_path(&r, &path, e);
  json_t *out = NULL;
  long st = 0;
  if (!rc) rc = idp_kclient_request(c->kc, "POST", idp_buf_str(&path), "application/json", text,
                                    text ? strlen(text) : 0, &st, &out, e);
  free(text);
  idp_buf_free(&path);
  if (rc) {
    idp_err_prefix(e, "kubernetes provider: TokenRequest for %s/%s", ns, name);
    return rc;
  }
  const char *t = idp_json_get_str(out, "status", "token", NULL);
  *tok = t ? strdup(t) : NULL;
  json_decref(out);
  return *tok ? IDP_OK : idp_err_set(e, IDP_EIO, "kubernetes provider: TokenRequest returned no token");
}

/* The client to read with (*owned = a new client to free) and remoteNamespace. */
static idp_code client_for(sp_ctx *c, idp_kclient **kc, bool *owned, const char **rns, idp_err *e) {
  *kc = c->kc;
  *owned = false;
  *rns = idp_json_get_str(c->cfg, "remoteNamespace", NULL);
  if (!*rns || !**rns) *rns = "default";
  const json_t *server = json_object_get(c->cfg, "server");
  const char *url = idp_json_get_str(server, "url", NULL);
  if (!url || !*url) return IDP_OK;
  size_t n = strlen(url);
  while (n && url[n - 1] == '/') n--;
  for (size_t i = 0; i < IDP_ARRAY_LEN(this_cluster); i++)
    if (strlen(this_cluster[i]) == n && !strncmp(url, this_cluster[i], n)) return IDP_OK;
  const char *own = idp_kclient_server(c->kc);
  if (own && strlen(own) == n && !strncmp(own, url, n)) return IDP_OK;
  /* another cluster */
  idp_kconfig cfg = {.server = strndup(url, n), .namespace_ = (char *)*rns};
  const json_t *auth = json_object_get(c->cfg, "auth");
  idp_code rc = remote_ca(c, server, &cfg.ca_data, e);
  if (cfg.ca_data) cfg.ca_data_len = strlen(cfg.ca_data);
  json_t *v = NULL;
  if (!rc && json_is_object(idp_json_get(auth, "token", "bearerToken", NULL))) {
    rc = sp_secret_ref(c, idp_json_get(auth, "token", "bearerToken", NULL), "kubernetes provider: auth.token.bearerToken", &v, e);
    if (!rc) cfg.token = dup_value(v);
  } else if (!rc && json_is_object(json_object_get(auth, "cert"))) {
    rc = sp_secret_ref(c, idp_json_get(auth, "cert", "clientCert", NULL), "kubernetes provider: auth.cert.clientCert", &v, e);
    if (!rc) {
      cfg.cert_data = dup_value(v);
      cfg.cert_data_len = strlen(cfg.cert_data);
      rc = sp_secret_ref(c, idp_json_get(auth, "cert", "clientKey", NULL), "kubernetes provider: auth.cert.clientKey", &v, e);
      if (!rc) {
        cfg.key_data = dup_value(v);
        cfg.key_data_len = strlen(cfg.key_data);
      }
    }
  } else if (!rc && json_is_object(json_object_get(auth, "serviceAccount"))) {
    rc = sa_token(c, json_object_get(auth, "serviceAccount"), &cfg.token, e);
  }
  if (!rc) rc = idp_kclient_new(&cfg, &(idp_kclient_opts){.timeout_ms = 10000, .max_idle_handles = 1}, kc, e);
  if (!rc) *owned = true;
  else *kc = NULL;
  free(cfg.server);
  free(cfg.ca_data);
  if (cfg.token) {
    memset(cfg.token, 0, strlen(cfg.token));
    free(cfg.token);
  }
  free(cfg.cert_data);
  if (cfg.key_data) {
    memset(cfg.key_data, 0, strlen(cfg.key_data));
    free(cfg.key_data);
  }
  return rc;
}

/* data of a Secret decoded into key -> string. */
static idp_code decode_data(const json_t *sec, json_t **out, idp_err *e) {
  json_t *m = json_object();
  const char *k;
  json_t *v;
  json_object_foreach(json_object_get(sec, "data"), k, v) {
    json_t *d = NULL;
    if (!json_is_string(v) || sp_b64dec(json_string_value(v), json_string_length(v), false, &d)) {
      json_decref(m);
      return idp_err_set(e, IDP_EINVALID, "key \"%s\" is not base64", k);
    }
    json_object_set_new(m, k, d);
  }
  *out = m;
  return IDP_OK;
}

static idp_code read_secret(sp_ctx *c, const char *name, json_t **data, idp_err *e) {
  if (!name || !*name) return idp_err_set(e, IDP_EINVALID, "remoteRef.key is empty");
  const char *rns;
  idp_kclient *kc;
  bool owned;
  idp_code rc = client_for(c, &kc, &owned, &rns, e);
  if (rc) return rc;
  json_t *sec = NULL;
  idp_kref r = {.version = "v1", .resource = "secrets", .ns = rns, .name = name};
  sp_stat_add(c->s, &c->s->stats.provider_calls);
  rc = idp_kclient_get(kc, &r, &sec, e);
  if (owned) idp_kclient_free(kc);
  if (rc == IDP_ENOTFOUND)
    return idp_err_set(e, rc, "key \"%s\": Secret \"%s\" not found in namespace \"%s\"", name, name, rns);
  if (rc) return rc;
  rc = decode_data(sec, data, e);
  json_decref(sec);
  return rc;
}

static idp_code k_get(sp_ctx *c, const json_t *ref, json_t **out, idp_err *e) {
  const char *key = idp_json_get_str(ref, "key", NULL);
  const char *prop = idp_json_get_str(ref, "property", NULL);
  json_t *data = NULL;
  idp_code rc = read_secret(c, key, &data, e);
  if (rc) return rc;
  if (!prop || !*prop) {
    char *d = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
    *out = d ? json_string(d) : NULL;
    free(d);
    json_decref(data);
    return *out ? IDP_OK
                : idp_err_set(e, IDP_EINVALID, "key \"%s\": binary values cannot be encoded as JSON; name a property",
                              key);
  }
  json_t *v = json_object_get(data, prop);
  if (v) {
    *out = json_incref(v);
  } else {
    /* a dotted property into a JSON value: "config.db.user" */
    const char *dot = strchr(prop, '.');
    if (dot) {
      char first[256];
      snprintf(first, sizeof first, "%.*s", (int)(dot - prop), prop);
      json_t *doc = sp_parse_value(json_object_get(data, first));
      *out = doc ? sp_json_property(doc, dot + 1) : NULL;
      json_decref(doc);
    }
  }
  json_decref(data);
  if (!*out) return idp_err_set(e, IDP_ENOTFOUND, "property \"%s\" does not exist in key \"%s\"", prop, key);
  return IDP_OK;
}

static idp_code k_get_map(sp_ctx *c, const json_t *ref, json_t **out, idp_err *e) {
  const char *key = idp_json_get_str(ref, "key", NULL);
  const char *prop = idp_json_get_str(ref, "property", NULL);
  json_t *data = NULL;
  idp_code rc = read_secret(c, key, &data, e);
  if (rc) return rc;
  if (!prop || !*prop) {
    *out = data;
    return IDP_OK;
  }
  json_t *v = json_object_get(data, prop);
  json_t *doc = v ? sp_parse_value(v) : NULL;
  json_decref(data);
  if (!v) return idp_err_set(e, IDP_ENOTFOUND, "property \"%s\" does not exist in key \"%s\"", prop, key);
  if (!json_is_object(doc)) {
    json_decref(doc);
    return idp_err_set(e, IDP_EINVALID, "key \"%s\" property \"%s\" is not a JSON object", key, prop);
  }
  json_t *m = json_object();
  const char *k;
  json_t *x;
  json_object_foreach(doc, k, x) json_object_set_new(m, k, sp_as_string(x));
  json_decref(doc);
  *out = m;
  return IDP_OK;
}

static idp_code k_find(sp_ctx *c, const json_t *find, json_t **out, idp_err *e) {
  const char *rns;
  idp_kclient *kc;
  bool owned;
  idp_code rc = client_for(c, &kc, &owned, &rns, e);
  if (rc) return rc;
  const char *re = idp_json_get_str(find, "name", "regexp", NULL);
  json_t *tags = json_object_get(find, "tags");
  idp_buf sel;
  idp_buf_init(&sel, 8192);
  const char *k;
  json_t *v;
  json_object_foreach(tags, k, v) {
    if (!json_is_string(v)) continue;
    if (idp_label_key_check(k, "find.tags", e) || idp_label_value_check(json_string_value(v), "find.tags", e)) {
      idp_buf_free(&sel);
      if (owned) idp_kclient_free(kc);
      return IDP_EINVALID;
    }
    idp_buf_printf(&sel, "%s%s=%s", sel.len ? "," : "", k, json_string_value(v));
  }
  pcre2_code *code = NULL;
  if (re) {
    int err;
    PCRE2_SIZE off;
    code = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, 0, &err, &off, NULL);
    if (!code) {
      idp_buf_free(&sel);
      if (owned) idp_kclient_free(kc);
      return idp_err_set(e, IDP_EINVALID, "find.name.regexp: invalid regular expression at offset %zu", (size_t)off);
    }
  }
  json_t *list = NULL;
  idp_kref r = {.version = "v1", .resource = "secrets", .ns = rns};
  idp_klist_opts lo = {.label_selector = sel.len ? idp_buf_str(&sel) : NULL};
  sp_stat_add(c->s, &c->s->stats.provider_calls);
  rc = idp_kclient_list_all(kc, &r, &lo, &list, e);
  if (owned) idp_kclient_free(kc);
  idp_buf_free(&sel);
  json_t *m = json_object();
  size_t i;
  json_t *it;
  pcre2_match_data *md = code ? pcre2_match_data_create_from_pattern(code, NULL) : NULL;
  json_array_foreach(rc ? NULL : json_object_get(list, "items"), i, it) {
    const char *name = idp_json_get_str(it, "metadata", "name", NULL);
    if (!name) continue;
    if (code && pcre2_match(code, (PCRE2_SPTR)name, strlen(name), 0, 0, md, NULL) < 0) continue;
    json_t *data = NULL;
    if (decode_data(it, &data, e)) continue;
    char *d = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
    if (d) json_object_set_new(m, name, json_string(d));
    free(d);
    json_decref(data);
  }
  pcre2_match_data_free(md);
  pcre2_code_free(code);
  json_decref(list);
  if (rc) {
    json_decref(m);
    return rc;
  }
  *out = m;
  return IDP_OK;
}

static idp_code k_validate(sp_ctx *c, idp_err *e) {
  const char *rns;
  idp_kclient *kc;
  bool owned;
  idp_code rc = client_for(c, &kc, &owned, &rns, e);
  if (rc) return rc;
  json_t *list = NULL;
  idp_kref r = {.version = "v1", .resource = "secrets", .ns = rns};
  idp_klist_opts lo = {.limit = 1};
  rc = idp_kclient_list(kc, &r, &lo, &list, e);
  if (owned) idp_kclient_free(kc);
  json_decref(list);
  return rc;
}

const sp_provider sp_kubernetes = {"kubernetes", k_get, k_get_map, k_find, k_validate};
