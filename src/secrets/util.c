#include "core/common.h"

#include <ctype.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/time.h>
#include <time.h>

#include "core/json.h"
#include "secrets/internal.h"

void sp_stat_add(idp_secrets *s, unsigned long *field) {
  pthread_mutex_lock(&s->mu);
  (*field)++;
  pthread_mutex_unlock(&s->mu);
}

/* Go's time.ParseDuration units, in nanoseconds. */
static const struct {
  const char *unit;
  double ns;
} units[] = {
    {"ns", 1}, {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"\xce\xbcs", 1e3}, {"ms", 1e6},
    {"s", 1e9}, {"m", 60e9}, {"h", 3600e9},
};

idp_code sp_parse_duration(const char *s, int64_t *ms, idp_err *e) {
  *ms = 0;
  if (!s || !*s) return idp_err_set(e, IDP_EINVALID, "invalid duration \"\"");
  const char *p = s;
  bool neg = false;
  if (*p == '-' || *p == '+') neg = *p++ == '-';
  if (!strcmp(p, "0")) return IDP_OK;
  double total = 0;
  if (!*p) goto bad;
  while (*p) {
    if (!isdigit((unsigned char)*p) && *p != '.') goto bad;
    char *end = NULL;
    double v = strtod(p, &end);
    if (end == p) goto bad;
    p = end;
    size_t best = 0;
    int u = -1;
    for (size_t i = 0; i < IDP_ARRAY_LEN(units); i++) {
      size_t l = strlen(units[i].unit);
      if (!strncmp(p, units[i].unit, l) && l > best) {
        /* "m" must not swallow "ms" */
        best = l;
        u = (int)i;
      }
    }
    if (u < 0) goto bad;
    total += v * units[u].ns;
    p += best;
  }
  if (total / 1e6 > 9.2e15) goto bad;
  *ms = (int64_t)(total / 1e6) * (neg ? -1 : 1);
  return IDP_OK;
bad:
  return idp_err_set(e, IDP_EINVALID, "time: invalid duration \"%.64s\"", s);
}

int64_t sp_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sp_rfc3339(int64_t ms, char out[32]) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int64_t sp_parse_rfc3339(const char *s) {
  struct tm tm = {0};
  if (!s) return 0;
  const char *r = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
  if (!r) return 0;
  return (int64_t)timegm(&tm) * 1000;
}

char *sp_b64enc(const char *p, size_t n) {
  char *o = malloc(4 * ((n + 2) / 3) + 1);
  if (!o) return NULL;
  int w = EVP_EncodeBlock((unsigned char *)o, (const unsigned char *)p, (int)n);
  o[w < 0 ? 0 : w] = 0;
  return o;
}

idp_code sp_b64dec(const char *p, size_t n, bool url, json_t **out) {
  *out = NULL;
  char *t = malloc(n + 4);
  unsigned char *o = malloc(n / 4 * 3 + 6);
  if (!t || !o) {
    free(t);
    free(o);
    return IDP_ENOMEM;
  }
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    char c = p[i];
    if (c == '\n' || c == '\r' || c == ' ') continue;
    if (url && c == '-') c = '+';
    else if (url && c == '_') c = '/';
    t[k++] = c;
  }
  while (k % 4) t[k++] = '=';
  t[k] = 0;
  int w = k ? EVP_DecodeBlock(o, (unsigned char *)t, (int)k) : 0;
  if (w >= 0) {
    if (k >= 1 && t[k - 1] == '=') w--;
    if (k >= 2 && t[k - 2] == '=') w--;
  }
  free(t);
  if (w < 0) {
    free(o);
    return IDP_EINVAL;
  }
  *out = json_stringn_nocheck((const char *)o, (size_t)w);
  free(o);
  return *out ? IDP_OK : IDP_ENOMEM;
}

idp_code sp_secret_value(idp_kclient *kc, const char *ns, const char *name, const char *key,
                         json_t **out, idp_err *e) {
  *out = NULL;
  json_t *sec = NULL;
  idp_kref r = {.version = "v1", .resource = "secrets", .ns = ns, .name = name};
  idp_code rc = idp_kclient_get(kc, &r, &sec, e);
  if (rc == IDP_ENOTFOUND) return idp_err_set(e, rc, "Secret \"%s\" not found in namespace \"%s\"", name, ns);
  if (rc) return rc;
  const char *v = idp_json_get_str(sec, "data", key, NULL);
  if (!v) {
    json_decref(sec);
    return idp_err_set(e, IDP_ENOTFOUND, "Secret \"%s/%s\" has no key \"%s\"", ns, name, key);
  }
  rc = sp_b64dec(v, strlen(v), false, out);
  json_decref(sec);
  if (rc) return idp_err_set(e, IDP_EINVALID, "Secret \"%s/%s\" key \"%s\" is not base64", ns, name, key);
  return IDP_OK;
}

idp_code sp_secret_ref(sp_ctx *c, const json_t *sel, const char *field, json_t **out,
                       idp_err *e) {
  *out = NULL;
  const char *name = idp_json_get_str(sel, "name", NULL);
  const char *key = idp_json_get_str(sel, "key", NULL);
  if (!name || !*name || !key || !*key)
    return idp_err_set(e, IDP_EINVALID, "%s: name and key are required", field);
  const char *ns = c->ns;
  const char *rns = idp_json_get_str(sel, "namespace", NULL);
  if (!strcmp(c->store_kind, "ClusterSecretStore") && rns && *rns) ns = rns;
  if (!ns || !*ns)
    return idp_err_set(e, IDP_EINVALID, "%s: namespace is required for a ClusterSecretStore", field);
  idp_code rc = sp_secret_value(c->kc, ns, name, key, out, e);
  if (rc) idp_err_prefix(e, "%s", field);
  return rc;
}

json_t *sp_as_string(const json_t *v) {
  if (json_is_string(v)) return json_incref((json_t *)v);
  char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  json_t *r = d ? json_string(d) : NULL;
  free(d);
  return r;
}

json_t *sp_parse_value(const json_t *str) {
  if (!json_is_string(str)) return NULL;
  json_t *j = json_loadb(json_string_value(str), json_string_length(str), 0, NULL);
  if (!json_is_object(j) && !json_is_array(j)) {
    json_decref(j);
    return NULL;
  }
  return j;
}

json_t *sp_json_property(const json_t *doc, const char *prop) {
  if (!doc || !prop) return NULL;
  json_t *v = json_is_object(doc) ? json_object_get(doc, prop) : NULL;
  if (v) return sp_as_string(v);
  /* gjson-style path: '.' separates, "\." escapes a dot, numbers index arrays */
  const json_t *cur = doc;
  const char *p = prop;
  char seg[512];
  while (*p && cur) {
    size_t k = 0;
    while (*p && *p != '.' && k + 1 < sizeof seg) {
      if (*p == '\\' && p[1]) p++;
      seg[k++] = *p++;
    }
    seg[k] = 0;
    if (*p == '.') p++;
    if (json_is_object(cur)) {
      cur = json_object_get(cur, seg);
    } else if (json_is_array(cur)) {
      char *end;
      long idx = strtol(seg, &end, 10);
      cur = (*seg && !*end && idx >= 0) ? json_array_get(cur, (size_t)idx) : NULL;
    } else {
      cur = NULL;
    }
  }
  return cur ? sp_as_string(cur) : NULL;
}

void sp_hash(const json_t *v, char out[57]) {
  char *d = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
  unsigned char md[SHA224_DIGEST_LENGTH];
  SHA224((const unsigned char *)(d ? d : ""), d ? strlen(d) : 0, md);
  free(d);
  for (int i = 0; i < SHA224_DIGEST_LENGTH; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* ---- HTTP ------------------------------------------------------------------- */

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
  idp_buf *b = ud;
  return idp_buf_add(b, p, sz * n) ? 0 : sz * n;
}

idp_code sp_http(const sp_http_req *r, long *status, idp_buf *resp, idp_err *e) {
  *status = 0;
  CURL *h = curl_easy_init();
  if (!h) return idp_err_set(e, IDP_ENOMEM, "http: cannot create a handle");
  struct curl_slist *hl = NULL;
  for (size_t i = 0; r->headers && r->headers[i]; i++) hl = curl_slist_append(hl, r->headers[i]);
  hl = curl_slist_append(hl, "Expect:");
  curl_easy_setopt(h, CURLOPT_URL, r->url);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, r->timeout_ms > 0 ? r->timeout_ms : 10000L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  if (r->body) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
  }
  if (r->ca_pem && *r->ca_pem) {
    struct curl_blob blob = {.data = (void *)r->ca_pem, .len = strlen(r->ca_pem),
                             .flags = CURL_BLOB_COPY};
    curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
  }
  CURLcode cc = curl_easy_perform(h);
  idp_code rc = IDP_OK;
  /* the URL in messages without its query (it may carry a presigned token) */
  char where[512];
  snprintf(where, sizeof where, "%s", r->url);
  char *q = strchr(where, '?');
  if (q) *q = 0;
  if (cc == CURLE_OK) {
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
  } else if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST) {
    rc = idp_err_set(e, IDP_EUNAVAILABLE, "%s %s: %s", r->method, where, curl_easy_strerror(cc));
  } else if (cc == CURLE_OPERATION_TIMEDOUT) {
    rc = idp_err_set(e, IDP_ETIMEOUT, "%s %s: %s", r->method, where, curl_easy_strerror(cc));
  } else {
    rc = idp_err_set(e, IDP_EIO, "%s %s: %s", r->method, where, curl_easy_strerror(cc));
  }
  curl_slist_free_all(hl);
  curl_easy_cleanup(h);
  return rc;
}
