/* The vault provider: HashiCorp Vault KV v1/v2 over its HTTP API.
 *
 * Auth (spec.provider.vault.auth): tokenSecretRef (a token in a Secret) or
 * kubernetes {mountPath (default "kubernetes"), role, serviceAccountRef
 * {name, audiences} -> TokenRequest, or secretRef -> a JWT in a Secret, or
 * else the controller's own mounted service-account token}.
 *
 * The Vault token is cached per store (and, for a ClusterSecretStore, per
 * ExternalSecret namespace, since secret refs resolve there) and reused
 * across reconciles: one login, then `renew-self` once half of the lease
 * has passed (renewable tokens), a new login only when renewal fails or
 * the token expired or was revoked (a 403 with a cached token drops it and
 * retries once).  A static token is checked once with `lookup-self` (TTL,
 * renewable).  Each cache entry has its own lock, so concurrent workers
 * never log in twice for one store (ESO #376: a login per reconcile leaked
 * leases until Vault fell over). */
#include "core/common.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/json.h"
#include "secrets/internal.h"

#define SA_TOKEN_FILE "/var/run/secrets/kubernetes.io/serviceaccount/token"

typedef struct vtok {
  char key[768];
  pthread_mutex_t mu;
  char *token;
  int64_t expires_ms; /* 0 = never */
  int64_t lease_ms;
  bool renewable;
  struct vtok *next;
} vtok;

struct sp_vault_cache {
  pthread_mutex_t mu;
  vtok *head;
};

void sp_vault_cache_free(struct sp_vault_cache *c) {
  if (!c) return;
  for (vtok *t = c->head, *n; t; t = n) {
    n = t->next;
    if (t->token) {
      memset(t->token, 0, strlen(t->token));
      free(t->token);
    }
    pthread_mutex_destroy(&t->mu);
    free(t);
  }
  pthread_mutex_destroy(&c->mu);
  free(c);
}

static vtok *cache_entry(idp_secrets *s, const char *key) {
  pthread_mutex_lock(&s->mu);
  if (!s->vault) {
    s->vault = calloc(1, sizeof *s->vault);
    if (s->vault) pthread_mutex_init(&s->vault->mu, NULL);
  }
  struct sp_vault_cache *c = s->vault;
  pthread_mutex_unlock(&s->mu);
  if (!c) return NULL;
  pthread_mutex_lock(&c->mu);
  vtok *t = c->head;
  while (t && strcmp(t->key, key)) t = t->next;
  if (!t && (t = calloc(1, sizeof *t))) {
    snprintf(t->key, sizeof t->key, "%s", key);
    pthread_mutex_init(&t->mu, NULL);
    t->next = c->head;
    c->head = t;
  }
  pthread_mutex_unlock(&c->mu);
  return t;
}

static void drop_token(vtok *t) {
  if (t->token) {
    memset(t->token, 0, strlen(t->token));
    free(t->token);
  }
  t->token = NULL;
  t->expires_ms = t->lease_ms = 0;
  t->renewable = false;
}

/* ---- HTTP to Vault ------------------------------------------------------------ */

typedef struct vconn {
  char server[512];
  char *ca;          /* decoded caBundle or NULL */
  const char *vns;   /* X-Vault-Namespace or NULL */
} vconn;

static idp_code vconn_init(sp_ctx *c, vconn *v, idp_err *e) {
  memset(v, 0, sizeof *v);
  const char *server = idp_json_get_str(c->cfg, "server", NULL);
  if (!server || !*server) return idp_err_set(e, IDP_EINVALID, "vault: spec.provider.vault.server is required");
  size_t n = strlen(server);
  while (n && server[n - 1] == '/') n--;
  if (n >= sizeof v->server) return idp_err_set(e, IDP_EINVALID, "vault: server URL is too long");
  memcpy(v->server, server, n);
  v->server[n] = 0;
  const char *ca = idp_json_get_str(c->cfg, "caBundle", NULL);
  if (ca && *ca) {
    json_t *d = NULL;
    if (sp_b64dec(ca, strlen(ca), false, &d))
      return idp_err_set(e, IDP_EINVALID, "vault: caBundle is not base64");
    v->ca = strndup(json_string_value(d), json_string_length(d));
    json_decref(d);
  }
  v->vns = idp_json_get_str(c->cfg, "namespace", NULL);
  return IDP_OK;
}

/* Vault's error text: the "errors" array joined (paths and reasons only). */
static void vault_errors(const idp_buf *b, char *out, size_t n) {
  out[0] = 0;
  json_t *j = b->len ? json_loadb(b->data, b->len, 0, NULL) : NULL;
  size_t i;
  json_t *v;
  size_t w = 0;
  json_array_foreach(json_object_get(j, "errors"), i, v) {
    if (!json_is_string(v)) continue;
    int k = snprintf(out + w, n - w, "%s%.200s", w ? "; " : "", json_string_value(v));
    if (k < 0 || (size_t)k >= n - w) break;
    w += (size_t)k;
  }
  json_decref(j);
}

static idp_code code_for(long st) {
  if (st == 404) return IDP_ENOTFOUND;
  if (st == 403) return IDP_EFORBIDDEN;
  if (st == 401) return IDP_EUNAUTH;
  if (st == 400) return IDP_EINVALID;
  if (st == 429 || st >= 500) return IDP_EUNAVAILABLE;
  return IDP_EIO;
}

/* One request; *out the parsed body (2xx) or NULL. */
static idp_code vreq(sp_ctx *c, const vconn *v, const char *method, const char *path,
                     const char *token, const char *body, json_t **out, long *status, idp_err *e) {
  if (out) *out = NULL;
  char url[2048];
  snprintf(url, sizeof url, "%s%s", v->server, path);
  idp_buf tokh, nsh, resp;
  idp_buf_init(&tokh, 8192);
  idp_buf_init(&nsh, 1024);
  idp_buf_init(&resp, 4 << 20);
  const char *hs[6];
  size_t nh = 0;
  hs[nh++] = "X-Vault-Request: true";
  hs[nh++] = "Content-Type: application/json";
  if (token) {
    idp_buf_printf(&tokh, "X-Vault-Token: %s", token);
    hs[nh++] = tokh.data;
  }
  if (v->vns && *v->vns) {
    idp_buf_printf(&nsh, "X-Vault-Namespace: %s", v->vns);
    hs[nh++] = nsh.data;
  }
  hs[nh] = NULL;
  sp_http_req r = {.method = method, .url = url, .headers = hs, .body = body,
                   .body_len = body ? strlen(body) : 0, .ca_pem = v->ca};
  long st = 0;
  sp_stat_add(c->s, &c->s->stats.provider_calls);
  idp_code rc = sp_http(&r, &st, &resp, e);
  if (tokh.data) memset(tokh.data, 0, tokh.len);
  idp_buf_free(&tokh);
  idp_buf_free(&nsh);
  if (status) *status = st;
  if (rc) {
    idp_err_prefix(e, "vault");
  } else if (st < 200 || st > 299) {
    char why[600];
    vault_errors(&resp, why, sizeof why);
    rc = idp_err_set(e, code_for(st), "vault: %s %s: HTTP %ld%s%s", method, path, st,
                     why[0] ? ": " : "", why);
  } else if (out) {
    *out = resp.len ? json_loadb(resp.data, resp.len, 0, NULL) : json_object();
    if (!*out) rc = idp_err_set(e, IDP_EIO, "vault: %s %s: the response is not JSON", method, path);
  }
  if (resp.data) memset(resp.data, 0, resp.len);
  idp_buf_free(&resp);
  return rc;
}

/* ---- auth ------------------------------------------------------------------------ */

static idp_code k8s_jwt(sp_ctx *c, const json_t *k8s, char **jwt, idp_err *e) {
  *jwt = NULL;
  const json_t *sref = json_object_get(k8s, "secretRef");
  const json_t *saref = json_object_get(k8s, "serviceAccountRef");
  if (json_is_object(sref)) {
    json_t *v = NULL;
    idp_code rc = sp_secret_ref(c, sref, "vault: auth.kubernetes.secretRef", &v, e);
    if (rc) return rc;
    *jwt = strndup(json_string_value(v), json_string_length(v));
    json_decref(v);
    return IDP_OK;
  }
  if (json_is_object(saref)) {
    const char *name = idp_json_get_str(saref, "name", NULL);
    const char *ns = c->ns;
    const char *rns = idp_json_get_str(saref, "namespace", NULL);
    if (!strcmp(c->store_kind, "ClusterSecretStore") && rns && *rns) ns = rns;
    if (!name || !*name || !ns)
      return idp_err_set(e, IDP_EINVALID, "vault: auth.kubernetes.serviceAccountRef.name is required");
    json_t *aud = json_object_get(saref, "audiences");
    json_t *spec = json_pack("{s:i}", "expirationSeconds", 600);
    if (json_is_array(aud)) json_object_set(spec, "audiences", aud);
    json_t *body = json_pack("{s:s,s:s,s:o}", "apiVersion", "authentication.k8s.io/v1", "kind",
                             "TokenRequest", "spec", spec);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    idp_buf path;
    idp_buf_init(&path, 1024);
    idp_kref r = {.version = "v1", .resource = "serviceaccounts", .ns = ns, .name = name,
                  .subresource = "token"};
    idp_code rc = idp_kref_path(&r, &path, e);
    json_t *out = NULL;
    long st = 0;
    if (!rc)
      rc = idp_kclient_request(c->kc, "POST", idp_buf_str(&path), "application/json", text,
                               text ? strlen(text) : 0, &st, &out, e);
    free(text);
    idp_buf_free(&path);
    if (rc) {
      idp_err_prefix(e, "vault: TokenRequest for service account %s/%s", ns, name);
      return rc;
    }
    const char *t = idp_json_get_str(out, "status", "token", NULL);
    *jwt = t ? strdup(t) : NULL;
    json_decref(out);
    if (!*jwt) return idp_err_set(e, IDP_EIO, "vault: TokenRequest for %s/%s returned no token", ns, name);
    return IDP_OK;
  }
  idp_buf b;
  idp_buf_init(&b, 1 << 16);
  if (idp_buf_read_file(&b, SA_TOKEN_FILE, e)) {
    idp_buf_free(&b);
    return idp_err_set(e, IDP_EINVALID,
                       "vault: auth.kubernetes needs serviceAccountRef or secretRef (no mounted service-account token)");
  }
  size_t n = b.len;
  while (n && (b.data[n - 1] == '\n' || b.data[n - 1] == ' ')) n--;
  *jwt = strndup(b.data, n);
  idp_buf_free(&b);
  return IDP_OK;
}

static void set_lease(vtok *t, int64_t now, json_int_t secs, bool renewable) {
  t->lease_ms = (int64_t)secs * 1000;
  t->expires_ms = secs > 0 ? now + t->lease_ms : 0;
  t->renewable = renewable;
}

static idp_code authenticate(sp_ctx *c, const vconn *v, vtok *t, idp_err *e) {
  const json_t *auth = json_object_get(c->cfg, "auth");
  const json_t *tref = json_object_get(auth, "tokenSecretRef");
  const json_t *k8s = json_object_get(auth, "kubernetes");
  int64_t now = sp_now_ms();
  if (json_is_object(tref)) {
    json_t *tok = NULL;
    idp_code rc = sp_secret_ref(c, tref, "vault: auth.tokenSecretRef", &tok, e);
    if (rc) return rc;
    char *token = strndup(json_string_value(tok), json_string_length(tok));
    json_decref(tok);
    json_t *look = NULL;
    rc = vreq(c, v, "GET", "/v1/auth/token/lookup-self", token, NULL, &look, NULL, e);
    if (rc) {
      memset(token, 0, strlen(token));
      free(token);
      idp_err_prefix(e, "token lookup");
      return rc;
    }
    json_t *d = json_object_get(look, "data");
    set_lease(t, now, json_integer_value(json_object_get(d, "ttl")),
              json_is_true(json_object_get(d, "renewable")));
    json_decref(look);
    t->token = token;
    return IDP_OK;
  }
  if (json_is_object(k8s)) {
    const char *mount = idp_json_get_str(k8s, "mountPath", NULL);
    const char *role = idp_json_get_str(k8s, "role", NULL);
    if (!mount || !*mount) mount = "kubernetes";
    if (!role || !*role) return idp_err_set(e, IDP_EINVALID, "vault: auth.kubernetes.role is required");
    char *jwt = NULL;
    idp_code rc = k8s_jwt(c, k8s, &jwt, e);
    if (rc) return rc;
    json_t *body = json_pack("{s:s,s:s}", "role", role, "jwt", jwt);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    memset(jwt, 0, strlen(jwt));
    free(jwt);
    char path[600];
    snprintf(path, sizeof path, "/v1/auth/%s/login", mount);
    json_t *res = NULL;
    sp_stat_add(c->s, &c->s->stats.vault_logins);
    rc = vreq(c, v, "POST", path, NULL, text, &res, NULL, e);
    if (text) {
      memset(text, 0, strlen(text));
      free(text);
    }
    if (rc) {
      idp_err_prefix(e, "kubernetes auth login (role %s)", role);
      return rc;
    }
    const char *ct = idp_json_get_str(res, "auth", "client_token", NULL);
    if (!ct) {
      json_decref(res);
      return idp_err_set(e, IDP_EIO, "vault: %s returned no auth.client_token", path);
    }
    t->token = strdup(ct);
    set_lease(t, now, json_integer_value(idp_json_get(res, "auth", "lease_duration", NULL)),
              json_is_true(idp_json_get(res, "auth", "renewable", NULL)));
    json_decref(res);
    return IDP_OK;
  }
  return idp_err_set(e, IDP_EINVALID,
                     "vault: spec.provider.vault.auth needs tokenSecretRef or kubernetes (other methods are not supported)");
}

/* A usable token for this store (copied into *token). */
static idp_code get_token(sp_ctx *c, const vconn *v, char **token, idp_err *e) {
  char key[768];
  char h[57];
  sp_hash(json_object_get(c->cfg, "auth"), h);
  snprintf(key, sizeof key, "%s|%s|%s|%s", c->store_key,
           !strcmp(c->store_kind, "ClusterSecretStore") ? c->ns : "", v->server, h);
  vtok *t = cache_entry(c->s, key);
  if (!t) return idp_err_set(e, IDP_ENOMEM, "vault: out of memory");
  pthread_mutex_lock(&t->mu);
  int64_t now = sp_now_ms();
  idp_code rc = IDP_OK;
  if (t->token && t->expires_ms) {
    int64_t margin = t->lease_ms / 10 < 5000 ? t->lease_ms / 10 : 5000;
    if (now >= t->expires_ms - margin) {
      drop_token(t); /* expired: log in again */
    } else if (t->renewable && now >= t->expires_ms - t->lease_ms / 2) {
      json_t *res = NULL;
      idp_err re = IDP_ERR_INIT;
      sp_stat_add(c->s, &c->s->stats.vault_renewals);
      if (vreq(c, v, "POST", "/v1/auth/token/renew-self", t->token, "{}", &res, NULL, &re) == IDP_OK) {
        json_int_t ld = json_integer_value(idp_json_get(res, "auth", "lease_duration", NULL));
        set_lease(t, now, ld, json_is_true(idp_json_get(res, "auth", "renewable", NULL)));
      } else {
        drop_token(t);
      }
      json_decref(res);
    }
  }
  if (!t->token) rc = authenticate(c, v, t, e);
  if (!rc) *token = strdup(t->token);
  pthread_mutex_unlock(&t->mu);
  return rc;
}

static void forget_token(sp_ctx *c, const vconn *v, const char *token) {
  char key[768];
  char h[57];
  sp_hash(json_object_get(c->cfg, "auth"), h);
  snprintf(key, sizeof key, "%s|%s|%s|%s", c->store_key,
           !strcmp(c->store_kind, "ClusterSecretStore") ? c->ns : "", v->server, h);
  vtok *t = cache_entry(c->s, key);
  if (!t) return;
  pthread_mutex_lock(&t->mu);
  if (t->token && !strcmp(t->token, token)) drop_token(t);
  pthread_mutex_unlock(&t->mu);
}

/* An authenticated request, retried once with a fresh token after a 403. */
static idp_code vauth_req(sp_ctx *c, const vconn *v, const char *method, const char *path,
                          json_t **out, idp_err *e) {
  for (int attempt = 0;; attempt++) {
    char *tok = NULL;
    idp_code rc = get_token(c, v, &tok, e);
    if (rc) return rc;
    long st = 0;
    rc = vreq(c, v, method, path, tok, NULL, out, &st, e);
    if (rc == IDP_EFORBIDDEN && attempt == 0) forget_token(c, v, tok);
    memset(tok, 0, strlen(tok));
    free(tok);
    if (rc != IDP_EFORBIDDEN || attempt > 0) return rc;
  }
}

/* ---- KV ------------------------------------------------------------------------------ */

static bool is_v1(sp_ctx *c) {
  const char *ver = idp_json_get_str(c->cfg, "version", NULL);
  return ver && !strcmp(ver, "v1");
}

/* ESO's buildPath: "<mount>/data/<key>" (v2) or "<mount>/<key>" (v1). */
static void build_path(sp_ctx *c, const char *key, const char *kind, idp_buf *out) {
  const char *mount = idp_json_get_str(c->cfg, "path", NULL);
  while (*key == '/') key++;
  bool v1 = is_v1(c);
  idp_buf_adds(out, "/v1/");
  if (mount && *mount) {
    size_t ml = strlen(mount);
    while (ml && mount[ml - 1] == '/') ml--;
    if (!strncmp(key, mount, ml) && key[ml] == '/') {
      key += ml + 1;
      if (!v1 && !strncmp(key, kind, strlen(kind)) && key[strlen(kind)] == '/') key += strlen(kind) + 1;
    }
    idp_buf_add(out, mount, ml);
    if (!v1) idp_buf_printf(out, "/%s", kind);
    idp_buf_printf(out, "/%s", key);
  } else if (!v1) {
    const char *slash = strchr(key, '/');
    if (slash) idp_buf_printf(out, "%.*s/%s/%s", (int)(slash - key), key, kind, slash + 1);
    else idp_buf_printf(out, "%s/%s", key, kind);
  } else {
    idp_buf_adds(out, key);
  }
}

/* Reads the secret at remoteRef.key (version honoured on v2): its data map. */
static idp_code kv_read(sp_ctx *c, const json_t *ref, json_t **data, idp_err *e) {
  *data = NULL;
  const char *key = idp_json_get_str(ref, "key", NULL);
  const char *ver = idp_json_get_str(ref, "version", NULL);
  if (!key || !*key) return idp_err_set(e, IDP_EINVALID, "remoteRef.key is empty");
  vconn v;
  idp_code rc = vconn_init(c, &v, e);
  if (rc) return rc;
  idp_buf path;
  idp_buf_init(&path, 4096);
  build_path(c, key, "data", &path);
  if (ver && *ver && !is_v1(c)) {
    char *end;
    long n = strtol(ver, &end, 10);
    if (*end || n < 0) {
      free(v.ca);
      idp_buf_free(&path);
      return idp_err_set(e, IDP_EINVALID, "remoteRef.version \"%.32s\" is not a KV v2 version number", ver);
    }
    idp_buf_printf(&path, "?version=%ld", n);
  }
  json_t *res = NULL;
  rc = vauth_req(c, &v, "GET", idp_buf_str(&path), &res, e);
  if (rc == IDP_ENOTFOUND) idp_err_set(e, rc, "vault: secret \"%s\" does not exist", key);
  json_t *d = rc ? NULL : json_object_get(res, "data");
  if (!rc && !is_v1(c)) d = json_object_get(d, "data");
  if (!rc && !json_is_object(d)) rc = idp_err_set(e, IDP_ENOTFOUND, "vault: secret \"%s\" does not exist (no data)", key);
  if (!rc) *data = json_incref(d);
  json_decref(res);
  idp_buf_free(&path);
  free(v.ca);
  return rc;
}

static idp_code v_get(sp_ctx *c, const json_t *ref, json_t **out, idp_err *e) {
  json_t *data = NULL;
  idp_code rc = kv_read(c, ref, &data, e);
  if (rc) return rc;
  const char *prop = idp_json_get_str(ref, "property", NULL);
  if (!prop || !*prop) {
    char *d = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
    *out = d ? json_string(d) : NULL;
    free(d);
  } else {
    *out = sp_json_property(data, prop);
    if (!*out)
      rc = idp_err_set(e, IDP_ENOTFOUND, "vault: property \"%s\" does not exist in secret \"%s\"", prop,
                       idp_json_get_str(ref, "key", NULL));
  }
  json_decref(data);
  return rc;
}

static idp_code explode(const json_t *doc, json_t **out) {
  json_t *m = json_object();
  const char *k;
  json_t *x;
  json_object_foreach((json_t *)doc, k, x) json_object_set_new(m, k, sp_as_string(x));
  *out = m;
  return IDP_OK;
}

static idp_code v_get_map(sp_ctx *c, const json_t *ref, json_t **out, idp_err *e) {
  json_t *data = NULL;
  idp_code rc = kv_read(c, ref, &data, e);
  if (rc) return rc;
  const char *prop = idp_json_get_str(ref, "property", NULL);
  if (!prop || !*prop) {
    rc = explode(data, out);
  } else {
    json_t *s = sp_json_property(data, prop);
    json_t *doc = s ? sp_parse_value(s) : NULL;
    if (json_is_object(doc)) rc = explode(doc, out);
    else
      rc = idp_err_set(e, s ? IDP_EINVALID : IDP_ENOTFOUND, "vault: property \"%s\" of \"%s\" is %s", prop,
                       idp_json_get_str(ref, "key", NULL), s ? "not a JSON object" : "missing");
    json_decref(s);
    json_decref(doc);
  }
  json_decref(data);
  return rc;
}

/* Lists every leaf under <mount>/metadata/<dir> (KV v2), depth-limited. */
static idp_code list_keys(sp_ctx *c, const vconn *v, const char *dir, json_t *acc, int depth,
                          idp_err *e) {
  if (depth > 16 || json_array_size(acc) > 10000) return IDP_OK;
  idp_buf path;
  idp_buf_init(&path, 4096);
  build_path(c, *dir ? dir : "", "metadata", &path);
  if (path.len && path.data[path.len - 1] != '/') idp_buf_addc(&path, '/');
  idp_buf_adds(&path, "?list=true");
  json_t *res = NULL;
  idp_code rc = vauth_req(c, v, "GET", idp_buf_str(&path), &res, e);
  idp_buf_free(&path);
  if (rc == IDP_ENOTFOUND) return IDP_OK; /* an empty folder */
  size_t i;
  json_t *k;
  json_array_foreach(idp_json_get(res, "data", "keys", NULL), i, k) {
    if (rc) break;
    if (!json_is_string(k)) continue;
    char full[2048];
    snprintf(full, sizeof full, "%s%s%s", dir, *dir && dir[strlen(dir) - 1] != '/' ? "/" : "",
             json_string_value(k));
    size_t fl = strlen(full);
    if (fl && full[fl - 1] == '/') {
      full[fl - 1] = 0;
      rc = list_keys(c, v, full, acc, depth + 1, e);
    } else {
      json_array_append_new(acc, json_string(full));
    }
  }
  json_decref(res);
  return rc;
}

static idp_code v_find(sp_ctx *c, const json_t *find, json_t **out, idp_err *e) {
  if (is_v1(c)) return idp_err_set(e, IDP_EUNSUPPORTED, "vault: dataFrom.find needs a KV v2 store");
  vconn v;
  idp_code rc = vconn_init(c, &v, e);
  if (rc) return rc;
  const char *dir = idp_json_get_str(find, "path", NULL);
  const char *re = idp_json_get_str(find, "name", "regexp", NULL);
  json_t *tags = json_object_get(find, "tags");
  pcre2_code *code = NULL;
  if (re) {
    int err;
    PCRE2_SIZE off;
    code = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, 0, &err, &off, NULL);
    if (!code) {
      free(v.ca);
      return idp_err_set(e, IDP_EINVALID, "find.name.regexp: invalid regular expression at offset %zu", (size_t)off);
    }
  }
  json_t *keys = json_array();
  rc = list_keys(c, &v, dir ? dir : "", keys, 0, e);
  pcre2_match_data *md = code ? pcre2_match_data_create_from_pattern(code, NULL) : NULL;
  json_t *m = json_object();
  size_t i;
  json_t *k;
  json_array_foreach(keys, i, k) {
    if (rc) break;
    const char *name = json_string_value(k);
    if (code && pcre2_match(code, (PCRE2_SPTR)name, strlen(name), 0, 0, md, NULL) < 0) continue;
    if (json_object_size(tags)) {
      idp_buf path;
      idp_buf_init(&path, 4096);
      build_path(c, name, "metadata", &path);
      json_t *meta = NULL;
      rc = vauth_req(c, &v, "GET", idp_buf_str(&path), &meta, e);
      idp_buf_free(&path);
      if (rc) break;
      const char *tk;
      json_t *tv;
      bool ok = true;
      json_t *cm = idp_json_get(meta, "data", "custom_metadata", NULL);
      json_object_foreach(tags, tk, tv) if (!json_equal(json_object_get(cm, tk), tv)) ok = false;
      json_decref(meta);
      if (!ok) continue;
    }
    json_t *ref = json_pack("{s:s}", "key", name);
    json_t *val = NULL;
    rc = v_get(c, ref, &val, e);
    json_decref(ref);
    if (rc) break;
    /* ESO's Default key conversion: '/' is not valid in a Secret key */
    char conv[2048];
    snprintf(conv, sizeof conv, "%s", name);
    for (char *p = conv; *p; p++)
      if (*p == '/') *p = '_';
    json_object_set_new(m, conv, val);
  }
  pcre2_match_data_free(md);
  pcre2_code_free(code);
  json_decref(keys);
  free(v.ca);
  if (rc) {
    json_decref(m);
    return rc;
  }
  *out = m;
  return IDP_OK;
}

static idp_code v_validate(sp_ctx *c, idp_err *e) {
  vconn v;
  idp_code rc = vconn_init(c, &v, e);
  if (rc) return rc;
  char *tok = NULL;
  rc = get_token(c, &v, &tok, e);
  if (tok) {
    memset(tok, 0, strlen(tok));
    free(tok);
  }
  free(v.ca);
  return rc;
}

const sp_provider sp_vault = {"vault", v_get, v_get_map, v_find, v_validate};
