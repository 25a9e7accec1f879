#include "core/common.h"
#include "client/kubeconfig.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/yaml.h"

#include <libgen.h>

#define KC_MAX_BYTES ((size_t)16 << 20)
#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

static char *xstrdup(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s);
  char *p = malloc(n + 1);
  if (p) memcpy(p, s, n + 1);
  return p;
}

void idp_kconfig_free(idp_kconfig *c) {
  if (!c) return;
  free(c->source);
  free(c->context);
  free(c->server);
  free(c->namespace_);
  free(c->ca_file);
  free(c->ca_data);
  free(c->tls_server_name);
  if (c->token) explicit_bzero(c->token, strlen(c->token));
  free(c->token);
  free(c->token_file);
  free(c->cert_file);
  free(c->key_file);
  free(c->cert_data);
  if (c->key_data) explicit_bzero(c->key_data, c->key_data_len);
  free(c->key_data);
  free(c->username);
  if (c->password) explicit_bzero(c->password, strlen(c->password));
  free(c->password);
  free(c);
}

static int b64val(unsigned char ch) {
  if (ch >= 'A' && ch <= 'Z') return ch - 'A';
  if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
  if (ch >= '0' && ch <= '9') return ch - '0' + 52;
  if (ch == '+' || ch == '-') return 62; /* '-' '_': URL alphabet, tolerated */
  if (ch == '/' || ch == '_') return 63;
  return -1;
}

idp_code idp_base64_decode(const char *in, size_t len, char **out, size_t *out_len) {
  char *p = malloc(len / 4 * 3 + 4);
  if (!p) return IDP_ENOMEM;
  size_t n = 0;
  uint32_t acc = 0;
  int bits = 0;
  bool pad = false;
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)in[i];
    if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t') continue;
    if (ch == '=') {
      pad = true;
      continue;
    }
    int v = b64val(ch);
    if (v < 0 || pad) {
      free(p);
      return IDP_EINVAL;
    }
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      p[n++] = (char)((acc >> bits) & 0xff);
    }
  }
  if (bits >= 6) { /* a lone trailing sextet cannot encode a byte */
    free(p);
    return IDP_EINVAL;
  }
  p[n] = '\0';
  *out = p;
  if (out_len) *out_len = n;
  return IDP_OK;
}

/* Finds the entry named `name` in a kubeconfig list (clusters/users/
 * contexts) and returns its inner object (`field`); borrowed. */
static json_t *named_entry(const json_t *doc, const char *list, const char *field,
                           const char *name) {
  json_t *arr = json_object_get(doc, list);
  size_t i;
  json_t *it;
  if (!json_is_array(arr)) return NULL;
  json_array_foreach(arr, i, it) {
    const char *n = idp_json_get_str(it, "name", NULL);
    if (n && strcmp(n, name) == 0) {
      json_t *inner = json_object_get(it, field);
      return json_is_object(inner) ? inner : json_null(); /* present but malformed */
    }
  }
  return NULL;
}

/* A string field, or NULL; a present non-string is an error. */
static idp_code str_field(const json_t *o, const char *key, const char **out, const char *src,
                          const char *where, idp_err *e) {
  json_t *v = json_object_get(o, key);
  *out = NULL;
  if (!v || json_is_null(v)) return IDP_OK;
  if (!json_is_string(v))
    return idp_err_set(e, IDP_EINVAL, "%s: %s.%s: expected a string", src, where, key);
  *out = json_string_value(v);
  if (!**out) *out = NULL;
  return IDP_OK;
}

static char *resolve_path(const char *base_dir, const char *p) {
  if (!p) return NULL;
  if (p[0] == '/' || !base_dir || !*base_dir) return xstrdup(p);
  idp_buf b;
  idp_buf_init(&b, PATH_MAX * 2);
  if (idp_buf_printf(&b, "%s/%s", base_dir, p)) {
    idp_buf_free(&b);
    return NULL;
  }
  return idp_buf_detach(&b, NULL);
}

static idp_code decode_field(const char *b64, const char *src, const char *where,
                             const char *key, char **out, size_t *out_len, idp_err *e) {
  idp_code rc = idp_base64_decode(b64, strlen(b64), out, out_len);
  if (rc == IDP_EINVAL)
    return idp_err_set(e, rc, "%s: %s.%s: invalid base64", src, where, key);
  if (rc) return idp_err_set(e, rc, "%s: %s.%s: out of memory", src, where, key);
  return IDP_OK;
}

static idp_code parse_cluster(idp_kconfig *c, const json_t *cl, const char *src,
                              const char *base_dir, const char *where, idp_err *e) {
  const char *server, *ca, *cad, *tsn;
  idp_code rc;
  if ((rc = str_field(cl, "server", &server, src, where, e))) return rc;
  if ((rc = str_field(cl, "certificate-authority", &ca, src, where, e))) return rc;
  if ((rc = str_field(cl, "certificate-authority-data", &cad, src, where, e))) return rc;
  if ((rc = str_field(cl, "tls-server-name", &tsn, src, where, e))) return rc;
  if (!server) return idp_err_set(e, IDP_EINVAL, "%s: %s.server: missing", src, where);
  if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0)
    return idp_err_set(e, IDP_EINVAL, "%s: %s.server: \"%s\" is not an http(s) URL", src,
                       where, server);
  c->server = xstrdup(server);
  size_t n = strlen(c->server);
  while (n > 0 && c->server[n - 1] == '/') c->server[--n] = '\0';
  json_t *ins = json_object_get(cl, "insecure-skip-tls-verify");
  if (ins && !json_is_boolean(ins) && !json_is_null(ins))
    return idp_err_set(e, IDP_EINVAL, "%s: %s.insecure-skip-tls-verify: expected a boolean",
                       src, where);
  c->insecure = json_is_true(ins);
  if (tsn) c->tls_server_name = xstrdup(tsn);
  if (cad) {
    if ((rc = decode_field(cad, src, where, "certificate-authority-data", &c->ca_data,
                           &c->ca_data_len, e)))
      return rc;
  } else if (ca) {
    c->ca_file = resolve_path(base_dir, ca);
  }
  return IDP_OK;
}

static idp_code parse_user(idp_kconfig *c, const json_t *u, const char *src,
                           const char *base_dir, const char *where, idp_err *e) {
  const char *tok, *tokf, *cert, *certd, *key, *keyd, *user, *pass;
  idp_code rc;
  if (json_object_get(u, "exec"))
    return idp_err_set(e, IDP_EUNSUPPORTED,
                       "%s: %s.exec: exec credential plugins are not supported", src, where);
  if (json_object_get(u, "auth-provider"))
    return idp_err_set(e, IDP_EUNSUPPORTED,
                       "%s: %s.auth-provider: auth-provider plugins are not supported", src,
                       where);
  if ((rc = str_field(u, "token", &tok, src, where, e))) return rc;
  if ((rc = str_field(u, "tokenFile", &tokf, src, where, e))) return rc;
  if ((rc = str_field(u, "client-certificate", &cert, src, where, e))) return rc;
  if ((rc = str_field(u, "client-certificate-data", &certd, src, where, e))) return rc;
  if ((rc = str_field(u, "client-key", &key, src, where, e))) return rc;
  if ((rc = str_field(u, "client-key-data", &keyd, src, where, e))) return rc;
  if ((rc = str_field(u, "username", &user, src, where, e))) return rc;
  if ((rc = str_field(u, "password", &pass, src, where, e))) return rc;
  if (tok)
    c->token = xstrdup(tok);
  else if (tokf)
    c->token_file = resolve_path(base_dir, tokf);
  if (certd) {
    if ((rc = decode_field(certd, src, where, "client-certificate-data", &c->cert_data,
                           &c->cert_data_len, e)))
      return rc;
  } else if (cert) {
    c->cert_file = resolve_path(base_dir, cert);
  }
  if (keyd) {
    if ((rc = decode_field(keyd, src, where, "client-key-data", &c->key_data, &c->key_data_len,
                           e)))
      return rc;
  } else if (key) {
    c->key_file = resolve_path(base_dir, key);
  }
  bool has_cert = c->cert_data || c->cert_file, has_key = c->key_data || c->key_file;
  if (has_cert != has_key)
    return idp_err_set(e, IDP_EINVAL, "%s: %s: %s without %s", src, where,
                       has_cert ? "client-certificate" : "client-key",
                       has_cert ? "client-key" : "client-certificate");
  if (user) c->username = xstrdup(user);
  if (pass) c->password = xstrdup(pass);
  return IDP_OK;
}

idp_code idp_kconfig_load_data(const char *data, size_t len, const char *name,
                               const char *base_dir, const char *context, idp_kconfig **out,
                               idp_err *e) {
  json_t *doc = NULL;
  idp_yaml_limits lim = idp_yaml_default_limits;
  lim.max_bytes = KC_MAX_BYTES;
  idp_code rc = idp_yaml_load_one(data, len, name, &lim, &doc, e);
  if (rc) return rc;
  idp_kconfig *c = calloc(1, sizeof *c);
  if (!c) {
    json_decref(doc);
    return idp_err_set(e, IDP_ENOMEM, "%s: out of memory", name);
  }
  char where[512];
  if (!json_is_object(doc)) {
    rc = idp_err_set(e, IDP_EINVAL, "%s: not a kubeconfig (expected a mapping)", name);
    goto fail;
  }
  const char *kind = idp_json_get_str(doc, "kind", NULL);
  if (kind && strcmp(kind, "Config") != 0) {
    rc = idp_err_set(e, IDP_EINVAL, "%s: kind: expected Config, got \"%s\"", name, kind);
    goto fail;
  }
  const char *ctxname = context && *context ? context : idp_json_get_str(doc, "current-context", NULL);
  if (!ctxname || !*ctxname) {
    rc = idp_err_set(e, IDP_EINVAL, "%s: current-context: not set and no context chosen", name);
    goto fail;
  }
  c->source = xstrdup(name);
  c->context = xstrdup(ctxname);
  json_t *ctx = NULL;
  {
    json_t *arr = json_object_get(doc, "contexts");
    size_t i;
    json_t *it;
    json_array_foreach(arr, i, it) {
      const char *n = idp_json_get_str(it, "name", NULL);
      if (n && strcmp(n, ctxname) == 0) ctx = json_object_get(it, "context");
    }
    if (!ctx) {
      rc = idp_err_set(e, IDP_ENOTFOUND, "%s: context \"%s\" not found in contexts", name,
                       ctxname);
      goto fail;
    }
  }
  snprintf(where, sizeof where, "contexts[\"%s\"].context", ctxname);
  const char *clname, *uname, *ns;
  if ((rc = str_field(ctx, "cluster", &clname, name, where, e))) goto fail;
  if ((rc = str_field(ctx, "user", &uname, name, where, e))) goto fail;
  if ((rc = str_field(ctx, "namespace", &ns, name, where, e))) goto fail;
  if (!clname) {
    rc = idp_err_set(e, IDP_EINVAL, "%s: %s.cluster: missing", name, where);
    goto fail;
  }
  c->namespace_ = xstrdup(ns ? ns : "default");
  json_t *cl = named_entry(doc, "clusters", "cluster", clname);
  if (!cl) {
    rc = idp_err_set(e, IDP_ENOTFOUND, "%s: context \"%s\": cluster \"%s\" not found in clusters",
                     name, ctxname, clname);
    goto fail;
  }
  snprintf(where, sizeof where, "clusters[\"%s\"].cluster", clname);
  if (!json_is_object(cl)) {
    rc = idp_err_set(e, IDP_EINVAL, "%s: %s: missing or not a mapping", name, where);
    goto fail;
  }
  if ((rc = parse_cluster(c, cl, name, base_dir, where, e))) goto fail;
  if (uname) {
    json_t *u = named_entry(doc, "users", "user", uname);
    if (!u) {
      rc = idp_err_set(e, IDP_ENOTFOUND, "%s: context \"%s\": user \"%s\" not found in users",
                       name, ctxname, uname);
      goto fail;
    }
    snprintf(where, sizeof where, "users[\"%s\"].user", uname);
    if (!json_is_object(u)) {
      rc = idp_err_set(e, IDP_EINVAL, "%s: %s: missing or not a mapping", name, where);
      goto fail;
    }
    if ((rc = parse_user(c, u, name, base_dir, where, e))) goto fail;
  }
  json_decref(doc);
  *out = c;
  return IDP_OK;
fail:
  json_decref(doc);
  idp_kconfig_free(c);
  return rc;
}

idp_code idp_kconfig_load_file(const char *path, const char *context, idp_kconfig **out,
                               idp_err *e) {
  idp_buf b;
  idp_buf_init(&b, KC_MAX_BYTES);
  idp_code rc = idp_buf_read_file(&b, path, e);
  if (rc) {
    idp_buf_free(&b);
    return rc;
  }
  char dirbuf[PATH_MAX];
  snprintf(dirbuf, sizeof dirbuf, "%s", path);
  const char *dir = dirname(dirbuf);
  rc = idp_kconfig_load_data(idp_buf_str(&b), b.len, path, dir, context, out, e);
  idp_buf_free(&b);
  return rc;
}

static bool file_exists(const char *p) {
  FILE *f = fopen(p, "rb");
  if (!f) return false;
  fclose(f);
  return true;
}

idp_code idp_kconfig_in_cluster(const char *sa_dir, idp_kconfig **out, idp_err *e) {
  const char *host = getenv("KUBERNETES_SERVICE_HOST");
  const char *port = getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host || !port || !*port)
    return idp_err_set(e, IDP_ENOTFOUND,
                       "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must "
                       "be set");
  if (!sa_dir) sa_dir = SA_DIR;
  idp_kconfig *c = calloc(1, sizeof *c);
  if (!c) return idp_err_set(e, IDP_ENOMEM, "in-cluster: out of memory");
  idp_buf b;
  idp_buf_init(&b, 4096);
  /* IPv6 service hosts need brackets in a URL. */
  bool v6 = strchr(host, ':') != NULL;
  idp_code rc = idp_buf_printf(&b, "https://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port);
  if (rc) {
    idp_buf_free(&b);
    idp_kconfig_free(c);
    return idp_err_set(e, rc, "in-cluster: service host too long");
  }
  c->server = idp_buf_detach(&b, NULL);
  c->source = xstrdup("in-cluster");
  c->token_file = resolve_path(sa_dir, "token");
  if (!file_exists(c->token_file)) {
    rc = idp_err_set(e, IDP_ENOTFOUND, "in-cluster: %s: service-account token not found",
                     c->token_file);
    idp_kconfig_free(c);
    return rc;
  }
  char *ca = resolve_path(sa_dir, "ca.crt");
  if (file_exists(ca))
    c->ca_file = ca;
  else
    free(ca);
  char *nsf = resolve_path(sa_dir, "namespace");
  idp_buf_init(&b, 1024);
  if (idp_buf_read_file(&b, nsf, NULL) == IDP_OK && b.len > 0) {
    size_t n = b.len;
    while (n > 0 && (b.data[n - 1] == '\n' || b.data[n - 1] == ' ' || b.data[n - 1] == '\r')) n--;
    b.data[n] = '\0';
    c->namespace_ = xstrdup(b.data);
  }
  idp_buf_free(&b);
  free(nsf);
  if (!c->namespace_) c->namespace_ = xstrdup("default");
  *out = c;
  return IDP_OK;
}

idp_code idp_kconfig_load_default(const char *path, const char *context, idp_kconfig **out,
                                  idp_err *e) {
  if (path && *path) return idp_kconfig_load_file(path, context, out, e);
  const char *env = getenv("KUBECONFIG");
  if (env && *env) {
    const char *p = env;
    while (*p) {
      const char *colon = strchr(p, ':');
      size_t n = colon ? (size_t)(colon - p) : strlen(p);
      char one[PATH_MAX];
      if (n > 0 && n < sizeof one) {
        memcpy(one, p, n);
        one[n] = '\0';
        if (file_exists(one)) return idp_kconfig_load_file(one, context, out, e);
      }
      p += n + (colon ? 1 : 0);
    }
  }
  if (getenv("KUBERNETES_SERVICE_HOST") && !context) return idp_kconfig_in_cluster(NULL, out, e);
  const char *home = getenv("HOME");
  if (home && *home) {
    char def[PATH_MAX];
    snprintf(def, sizeof def, "%s/.kube/config", home);
    if (file_exists(def)) return idp_kconfig_load_file(def, context, out, e);
  }
  return idp_err_set(e, IDP_ENOTFOUND,
                     "no kubeconfig: pass --kubeconfig, set KUBECONFIG, run in a cluster, or "
                     "create ~/.kube/config");
}
