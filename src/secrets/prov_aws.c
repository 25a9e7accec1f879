/* The aws provider: AWS Secrets Manager over its JSON 1.1 API, signed with
 * SigV4 (secrets/sigv4.h).
 *
 * spec.provider.aws: service SecretsManager (the only one supported),
 * region (required), auth.secretRef {accessKeyIDSecretRef,
 * secretAccessKeySecretRef, sessionTokenSecretRef} or, without auth, the
 * controller's environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN).  role (AssumeRole) is not supported.  Endpoint:
 * spec.provider.aws.endpoint (idp extension), else the controller's
 * aws_endpoint option / AWS_ENDPOINT_URL_SECRETS_MANAGER /
 * AWS_SECRETSMANAGER_ENDPOINT / AWS_ENDPOINT_URL (LocalStack), else
 * https://secretsmanager.<region>.amazonaws.com.
 *
 * remoteRef.version: a VersionStage (default AWSCURRENT), or "uuid/<id>"
 * for a VersionId.  property: a gjson-style path into SecretString. */
#include "core/common.h"

#include <time.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/json.h"
#include "secrets/internal.h"
#include "secrets/sigv4.h"

typedef struct acreds {
  json_t *akid, *secret, *token; /* JSON strings (new refs) */
  char region[64];
  char url[512];  /* endpoint without trailing '/' */
  char host[512]; /* Host header */
} acreds;

static void acreds_free(acreds *a) {
  json_decref(a->akid);
  json_decref(a->secret);
  json_decref(a->token);
}

static idp_code resolve(sp_ctx *c, acreds *a, idp_err *e) {
  memset(a, 0, sizeof *a);
  const char *svc = idp_json_get_str(c->cfg, "service", NULL);
  if (svc && *svc && strcmp(svc, "SecretsManager"))
    return idp_err_set(e, IDP_EUNSUPPORTED, "aws: service \"%s\" is not supported (SecretsManager only)", svc);
  const char *role = idp_json_get_str(c->cfg, "role", NULL);
  if (role && *role) return idp_err_set(e, IDP_EUNSUPPORTED, "aws: role (AssumeRole) is not supported");
  const char *region = idp_json_get_str(c->cfg, "region", NULL);
  if (!region || !*region) return idp_err_set(e, IDP_EINVALID, "aws: spec.provider.aws.region is required");
  snprintf(a->region, sizeof a->region, "%s", region);
  const json_t *sr = idp_json_get(c->cfg, "auth", "secretRef", NULL);
  idp_code rc = IDP_OK;
  if (json_is_object(sr)) {
    rc = sp_secret_ref(c, json_object_get(sr, "accessKeyIDSecretRef"), "aws: auth.secretRef.accessKeyIDSecretRef", &a->akid, e);
    if (!rc)
      rc = sp_secret_ref(c, json_object_get(sr, "secretAccessKeySecretRef"),
                         "aws: auth.secretRef.secretAccessKeySecretRef", &a->secret, e);
    if (!rc && json_is_object(json_object_get(sr, "sessionTokenSecretRef")))
      rc = sp_secret_ref(c, json_object_get(sr, "sessionTokenSecretRef"),
                         "aws: auth.secretRef.sessionTokenSecretRef", &a->token, e);
  } else if (json_object_get(c->cfg, "auth") && json_object_size(json_object_get(c->cfg, "auth"))) {
    rc = idp_err_set(e, IDP_EUNSUPPORTED, "aws: only auth.secretRef (static credentials) is supported");
  } else {
    const char *k = getenv("AWS_ACCESS_KEY_ID"), *s = getenv("AWS_SECRET_ACCESS_KEY");
    const char *t = getenv("AWS_SESSION_TOKEN");
    if (!k || !s) rc = idp_err_set(e, IDP_EINVALID, "aws: no auth.secretRef and no AWS credentials in the environment");
    else {
      a->akid = json_string(k);
      a->secret = json_string(s);
      if (t && *t) a->token = json_string(t);
    }
  }
  if (rc) {
    acreds_free(a);
    return rc;
  }
  const char *ep = idp_json_get_str(c->cfg, "endpoint", NULL);
  if (!ep || !*ep) ep = c->s->aws_endpoint;
  if (ep && *ep) snprintf(a->url, sizeof a->url, "%s", ep);
  else snprintf(a->url, sizeof a->url, "https://secretsmanager.%s.amazonaws.com", region);
  size_t n = strlen(a->url);
  while (n && a->url[n - 1] == '/') a->url[--n] = 0;
  const char *h = strstr(a->url, "://");
  h = h ? h + 3 : a->url;
  snprintf(a->host, sizeof a->host, "%.*s", (int)strcspn(h, "/"), h);
  return IDP_OK;
}

/* One Secrets Manager call; *out the parsed answer. */
static idp_code call(sp_ctx *c, const acreds *a, const char *target, const json_t *body,
                     json_t **out, idp_err *e) {
  *out = NULL;
  char *text = json_dumps(body, JSON_COMPACT);
  if (!text) return idp_err_set(e, IDP_ENOMEM, "aws: out of memory");
  char tgt[128];
  snprintf(tgt, sizeof tgt, "secretsmanager.%s", target);
  idp_sigv4_header hs[] = {{"Host", a->host},
                           {"Content-Type", "application/x-amz-json-1.1"},
                           {"X-Amz-Target", tgt}};
  idp_sigv4_request rq = {.method = "POST", .path = "/", .headers = hs, .nheaders = 3,
                          .body = text, .body_len = strlen(text)};
  char *akid = strndup(json_string_value(a->akid), json_string_length(a->akid));
  char *sec = strndup(json_string_value(a->secret), json_string_length(a->secret));
  char *tok = a->token ? strndup(json_string_value(a->token), json_string_length(a->token)) : NULL;
  idp_sigv4_params p = {.access_key_id = akid, .secret_access_key = sec, .session_token = tok,
                        .region = a->region, .service = "secretsmanager", .time = time(NULL),
                        .normalize_path = true};
  idp_sigv4_result sr;
  idp_code rc = idp_sigv4_sign(&rq, &p, &sr, e);
  memset(sec, 0, strlen(sec));
  free(sec);
  free(akid);
  if (tok) {
    memset(tok, 0, strlen(tok));
    free(tok);
  }
  if (rc) {
    idp_sigv4_result_free(&sr);
    free(text);
    idp_err_prefix(e, "aws");
    return rc;
  }
  /* headers as "Name: value" for curl */
  idp_buf hb[8];
  const char *hl[10];
  size_t n = 0;
  char tgth[160];
  snprintf(tgth, sizeof tgth, "X-Amz-Target: %s", tgt);
  hl[n++] = "Content-Type: application/x-amz-json-1.1";
  hl[n++] = tgth;
  for (size_t i = 0; i < sr.nadded && i < 6; i++) {
    idp_buf_init(&hb[i], 1 << 16);
    idp_buf_printf(&hb[i], "%s: %s", sr.added_name[i], sr.added_value[i]);
    hl[n++] = hb[i].data;
  }
  hl[n] = NULL;
  char url[600];
  snprintf(url, sizeof url, "%s/", a->url);
  idp_buf resp;
  idp_buf_init(&resp, 4 << 20);
  long st = 0;
  sp_http_req r = {.method = "POST", .url = url, .headers = hl, .body = text, .body_len = strlen(text)};
  sp_stat_add(c->s, &c->s->stats.provider_calls);
  rc = sp_http(&r, &st, &resp, e);
  for (size_t i = 0; i < sr.nadded && i < 6; i++) idp_buf_free(&hb[i]);
  idp_sigv4_result_free(&sr);
  free(text);
  json_t *j = (!rc && resp.len) ? json_loadb(resp.data, resp.len, 0, NULL) : NULL;
  if (rc) {
    idp_err_prefix(e, "aws");
  } else if (st < 200 || st > 299) {
    const char *type = idp_json_get_str(j, "__type", NULL);
    const char *msg = idp_json_get_str(j, "message", NULL);
    if (!msg) msg = idp_json_get_str(j, "Message", NULL);
    const char *hash = type ? strrchr(type, '#') : NULL;
    if (hash) type = hash + 1;
    idp_code code = IDP_EIO;
    if (type && !strcmp(type, "ResourceNotFoundException")) code = IDP_ENOTFOUND;
    else if (type && (strstr(type, "AccessDenied") || strstr(type, "Signature") || strstr(type, "UnrecognizedClient") ||
                      strstr(type, "Token")))
      code = IDP_EFORBIDDEN;
    else if (st == 429 || st >= 500 || (type && strstr(type, "Throttl"))) code = IDP_EUNAVAILABLE;
    else if (st == 400) code = IDP_EINVALID;
    rc = idp_err_set(e, code, "aws: %s: HTTP %ld %s: %.300s", target, st, type ? type : "", msg ? msg : "");
  } else if (!j) {
    rc = idp_err_set(e, IDP_EIO, "aws: %s: the response is not JSON", target);
  } else {
    *out = j;
    j = NULL;
  }
  json_decref(j);
  if (resp.data) memset(resp.data, 0, resp.len);
  idp_buf_free(&resp);
  return rc;
}

/* GetSecretValue -> the secret's string (SecretString or decoded SecretBinary). */
static idp_code get_value(sp_ctx *c, const char *key, const char *ver, json_t **out, idp_err *e) {
  *out = NULL;
  if (!key || !*key) return idp_err_set(e, IDP_EINVALID, "remoteRef.key is empty");
  acreds a;
  idp_code rc = resolve(c, &a, e);
  if (rc) return rc;
  json_t *body = json_pack("{s:s}", "SecretId", key);
  if (ver && !strncmp(ver, "uuid/", 5)) json_object_set_new(body, "VersionId", json_string(ver + 5));
  else json_object_set_new(body, "VersionStage", json_string(ver && *ver ? ver : "AWSCURRENT"));
  json_t *res = NULL;
  rc = call(c, &a, "GetSecretValue", body, &res, e);
  json_decref(body);
  acreds_free(&a);
  if (rc == IDP_ENOTFOUND) idp_err_set(e, rc, "aws: secret \"%s\" not found", key);
  if (rc) return rc;
  json_t *ss = json_object_get(res, "SecretString");
  json_t *sb = json_object_get(res, "SecretBinary");
  if (json_is_string(ss)) *out = json_incref(ss);
  else if (json_is_string(sb)) {
    if (sp_b64dec(json_string_value(sb), json_string_length(sb), false, out))
      rc = idp_err_set(e, IDP_EIO, "aws: secret \"%s\": SecretBinary is not base64", key);
  } else {
    rc = idp_err_set(e, IDP_ENOTFOUND, "aws: secret \"%s\" has no SecretString or SecretBinary", key);
  }
  json_decref(res);
  return rc;
}

static idp_code a_get(sp_ctx *c, const json_t *ref, json_t **out, idp_err *e) {
  const char *key = idp_json_get_str(ref, "key", NULL);
  const char *prop = idp_json_get_str(ref, "property", NULL);
  json_t *v = NULL;
  idp_code rc = get_value(c, key, idp_json_get_str(ref, "version", NULL), &v, e);
  if (rc) return rc;
  if (!prop || !*prop) {
    *out = v;
    return IDP_OK;
  }
  json_t *doc = sp_parse_value(v);
  json_decref(v);
  *out = doc ? sp_json_property(doc, prop) : NULL;
  json_decref(doc);
  if (!*out) return idp_err_set(e, IDP_ENOTFOUND, "aws: key \"%s\" has no property \"%s\"", key, prop);
  return IDP_OK;
}

static idp_code explode(const json_t *doc, json_t **out) {
  json_t *m = json_object();
  const char *k;
  json_t *x;
  json_object_foreach((json_t *)doc, k, x) json_object_set_new(m, k, sp_as_string(x));
  *out = m;
  return IDP_OK;
}

static idp_code a_get_map(sp_ctx *c, const json_t *ref, json_t **out, idp_err *e) {
  const char *key = idp_json_get_str(ref, "key", NULL);
  const char *prop = idp_json_get_str(ref, "property", NULL);
  json_t *v = NULL;
  idp_code rc = get_value(c, key, idp_json_get_str(ref, "version", NULL), &v, e);
  if (rc) return rc;
  json_t *doc = sp_parse_value(v);
  json_decref(v);
  if (doc && prop && *prop) {
    json_t *s = sp_json_property(doc, prop);
    json_decref(doc);
    doc = s ? sp_parse_value(s) : NULL;
    json_decref(s);
  }
  if (!json_is_object(doc)) {
    json_decref(doc);
    return idp_err_set(e, IDP_EINVALID, "aws: key \"%s\"%s%s is not a JSON object", key,
                       prop && *prop ? " property " : "", prop && *prop ? prop : "");
  }
  rc = explode(doc, out);
  json_decref(doc);
  return rc;
}

static idp_code a_find(sp_ctx *c, const json_t *find, json_t **out, idp_err *e) {
  acreds a;
  idp_code rc = resolve(c, &a, e);
  if (rc) return rc;
  const char *re = idp_json_get_str(find, "name", "regexp", NULL);
  const char *path = idp_json_get_str(find, "path", NULL);
  json_t *tags = json_object_get(find, "tags");
  pcre2_code *code = NULL;
  if (re) {
    int err;
    PCRE2_SIZE off;
    code = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, 0, &err, &off, NULL);
    if (!code) {
      acreds_free(&a);
      return idp_err_set(e, IDP_EINVALID, "find.name.regexp: invalid regular expression at offset %zu", (size_t)off);
    }
  }
  pcre2_match_data *md = code ? pcre2_match_data_create_from_pattern(code, NULL) : NULL;
  json_t *names = json_array();
  json_t *token = NULL;
  for (int page = 0; page < 100 && !rc; page++) {
    json_t *body = json_pack("{s:i}", "MaxResults", 100);
    if (token) json_object_set(body, "NextToken", token);
    json_t *res = NULL;
    rc = call(c, &a, "ListSecrets", body, &res, e);
    json_decref(body);
    if (rc) break;
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(res, "SecretList"), i, it) {
      const char *name = idp_json_get_str(it, "Name", NULL);
      if (!name) continue;
      if (path && *path && strncmp(name, path, strlen(path))) continue;
      if (code && pcre2_match(code, (PCRE2_SPTR)name, strlen(name), 0, 0, md, NULL) < 0) continue;
      bool ok = true;
      const char *tk;
      json_t *tv;
      json_object_foreach(tags, tk, tv) {
        bool found = false;
        size_t j;
        json_t *t;
        json_array_foreach(json_object_get(it, "Tags"), j, t) if (!strcmp(idp_json_get_str(t, "Key", NULL) ? idp_json_get_str(t, "Key", NULL) : "", tk) &&
                                                                   json_equal(json_object_get(t, "Value"), tv)) found = true;
        if (!found) ok = false;
      }
      if (ok) json_array_append_new(names, json_string(name));
    }
    json_decref(token);
    token = json_incref(json_object_get(res, "NextToken"));
    json_decref(res);
    if (!json_is_string(token)) break;
  }
  json_decref(token);
  pcre2_match_data_free(md);
  pcre2_code_free(code);
  acreds_free(&a);
  json_t *m = json_object();
  size_t i;
  json_t *n;
  json_array_foreach(names, i, n) {
    if (rc) break;
    json_t *v = NULL;
    rc = get_value(c, json_string_value(n), NULL, &v, e);
    if (rc) break;
    char conv[2048];
    snprintf(conv, sizeof conv, "%s", json_string_value(n));
    for (char *p = conv; *p; p++)
      if (*p == '/') *p = '_';
    json_object_set_new(m, conv, v);
  }
  json_decref(names);
  if (rc) {
    json_decref(m);
    return rc;
  }
  *out = m;
  return IDP_OK;
}

static idp_code a_validate(sp_ctx *c, idp_err *e) {
  acreds a;
  idp_code rc = resolve(c, &a, e);
  if (!rc) acreds_free(&a);
  return rc;
}

const sp_provider sp_aws = {"aws", a_get, a_get_map, a_find, a_validate};
