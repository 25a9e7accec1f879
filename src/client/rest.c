#include "core/common.h"
#include "client/internal.h"
#include "client/rest.h"
#include "core/buf.h"
#include "core/json.h"

#include <pthread.h>
#include <time.h>

#define DEFAULT_TIMEOUT_MS 30000L
#define DEFAULT_CONNECT_MS 10000L
#define DEFAULT_MAX_BODY ((size_t)64 << 20)
#define DEFAULT_IDLE 8
#define MAX_POOL 64
#define TOKEN_REREAD_S 60 /* projected SA tokens rotate; client-go rereads each minute */

struct idp_kclient {
  char *server;
  char *ns;
  char *ca_file, *ca_data;
  size_t ca_len;
  bool insecure;
  char *cert_file, *key_file, *cert_data, *key_data;
  size_t cert_len, key_len;
  char *username, *password;
  char *token_file;
  char *user_agent;
  long timeout_ms, connect_ms;
  size_t max_body;
  int max_idle;

  pthread_mutex_t mu; /* guards everything below */
  CURL *pool[MAX_POOL];
  int npool;
  char *token; /* static token, or the last read of token_file */
  time_t token_read;
  json_t *disc; /* "group/version" -> {kind -> {"r": plural, "n": namespaced}} */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static char *dupn(const char *s, size_t n) {
  if (!s) return NULL;
  char *p = malloc(n + 1);
  if (!p) return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}
static char *dup0(const char *s) { return s ? dupn(s, strlen(s)) : NULL; }

static void wipe_free(char *p, size_t n) {
  if (p) explicit_bzero(p, n);
  free(p);
}

idp_code idp_kclient_new(const idp_kconfig *cfg, const idp_kclient_opts *opts,
                         idp_kclient **out, idp_err *e) {
  pthread_once(&curl_once, curl_init_once);
  if (!cfg || !cfg->server)
    return idp_err_set(e, IDP_EINVAL, "kubernetes client: config has no server");
  idp_kclient *c = calloc(1, sizeof *c);
  if (!c) return idp_err_set(e, IDP_ENOMEM, "kubernetes client: out of memory");
  c->server = dup0(cfg->server);
  c->ns = dup0(cfg->namespace_ ? cfg->namespace_ : "default");
  c->ca_file = dup0(cfg->ca_file);
  c->ca_data = dupn(cfg->ca_data, cfg->ca_data_len);
  c->ca_len = cfg->ca_data_len;
  c->insecure = cfg->insecure;
  c->cert_file = dup0(cfg->cert_file);
  c->key_file = dup0(cfg->key_file);
  c->cert_data = dupn(cfg->cert_data, cfg->cert_data_len);
  c->cert_len = cfg->cert_data_len;
  c->key_data = dupn(cfg->key_data, cfg->key_data_len);
  c->key_len = cfg->key_data_len;
  c->username = dup0(cfg->username);
  c->password = dup0(cfg->password);
  c->token = dup0(cfg->token);
  c->token_file = cfg->token ? NULL : dup0(cfg->token_file);
  c->user_agent = dup0(opts && opts->user_agent ? opts->user_agent : "idp/0.1");
  c->timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
  c->connect_ms = opts && opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms
                                                       : DEFAULT_CONNECT_MS;
  c->max_body = opts && opts->max_body ? opts->max_body : DEFAULT_MAX_BODY;
  c->max_idle = opts && opts->max_idle_handles > 0 ? opts->max_idle_handles : DEFAULT_IDLE;
  if (c->max_idle > MAX_POOL) c->max_idle = MAX_POOL;
  c->disc = json_object();
  pthread_mutex_init(&c->mu, NULL);
  if (!c->server || !c->ns || !c->user_agent || !c->disc) {
    idp_kclient_free(c);
    return idp_err_set(e, IDP_ENOMEM, "kubernetes client: out of memory");
  }
  *out = c;
  return IDP_OK;
}

void idp_kclient_free(idp_kclient *c) {
  if (!c) return;
  for (int i = 0; i < c->npool; i++) curl_easy_cleanup(c->pool[i]);
  pthread_mutex_destroy(&c->mu);
  free(c->server);
  free(c->ns);
  free(c->ca_file);
  free(c->ca_data);
  free(c->cert_file);
  free(c->key_file);
  free(c->cert_data);
  wipe_free(c->key_data, c->key_len);
  free(c->username);
  if (c->password) wipe_free(c->password, strlen(c->password));
  if (c->token) wipe_free(c->token, strlen(c->token));
  free(c->token_file);
  free(c->user_agent);
  json_decref(c->disc);
  free(c);
}

const char *idp_kclient_server(const idp_kclient *c) { return c->server; }
const char *idp_kclient_namespace(const idp_kclient *c) { return c->ns; }

/* ---- Addressing ---------------------------------------------------- */

static idp_code check_segment(const char *what, const char *s, idp_err *e) {
  size_t n = strlen(s);
  if (n == 0 || n > 253 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
    return idp_err_set(e, IDP_EINVAL, "invalid %s \"%.64s\"", what, s);
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '/' || ch == '%' || ch == '?' || ch == '#' || ch <= 0x20 || ch == 0x7f)
      return idp_err_set(e, IDP_EINVAL, "invalid %s \"%.64s\": character %s not allowed", what,
                         s, ch == '/' ? "'/'" : "in a path segment");
  }
  return IDP_OK;
}

static bool set(const char *s) { return s && *s; }

idp_code idp_kref_path(const idp_kref *r, idp_buf *out, idp_err *e) {
  idp_code rc;
  if (!set(r->version)) return idp_err_set(e, IDP_EINVAL, "resource reference without version");
  if (!set(r->resource))
    return idp_err_set(e, IDP_EINVAL, "resource reference without resource");
  if ((set(r->group) && (rc = check_segment("group", r->group, e))) ||
      (rc = check_segment("version", r->version, e)) ||
      (rc = check_segment("resource", r->resource, e)) ||
      (set(r->ns) && (rc = check_segment("namespace", r->ns, e))) ||
      (set(r->name) && (rc = check_segment("name", r->name, e))) ||
      (set(r->subresource) && (rc = check_segment("subresource", r->subresource, e))))
    return rc;
  if (set(r->subresource) && !set(r->name))
    return idp_err_set(e, IDP_EINVAL, "subresource %s without a name", r->subresource);
  if (set(r->group))
    rc = idp_buf_printf(out, "/apis/%s/%s", r->group, r->version);
  else
    rc = idp_buf_printf(out, "/api/%s", r->version);
  if (!rc && set(r->ns)) rc = idp_buf_printf(out, "/namespaces/%s", r->ns);
  if (!rc) rc = idp_buf_printf(out, "/%s", r->resource);
  if (!rc && set(r->name)) rc = idp_buf_printf(out, "/%s", r->name);
  if (!rc && set(r->subresource)) rc = idp_buf_printf(out, "/%s", r->subresource);
  if (rc) return idp_err_set(e, rc, "resource path too long");
  return IDP_OK;
}

idp_code idp_url_escape(idp_buf *out, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    idp_code rc;
    if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
        *p == '-' || *p == '.' || *p == '_' || *p == '~') {
      rc = idp_buf_addc(out, (char)*p);
    } else {
      char t[3] = {'%', hex[*p >> 4], hex[*p & 15]};
      rc = idp_buf_add(out, t, 3);
    }
    if (rc) return rc;
  }
  return IDP_OK;
}

/* Appends "&key=value" (or "?key=value" for the first parameter). */
static idp_code add_param(idp_buf *b, const char *key, const char *val) {
  if (!val) return IDP_OK;
  idp_code rc = idp_buf_printf(b, "%c%s=", strchr(idp_buf_str(b), '?') ? '&' : '?', key);
  if (!rc) rc = idp_url_escape(b, val);
  return rc;
}

/* ---- Status errors -------------------------------------------------- */

/* The Kubernetes status -> idp_code table (reason refines 409). */
static const struct {
  long http;
  const char *reason; /* NULL = any */
  idp_code code;
} status_map[] = {
    {400, NULL, IDP_EINVAL},         {401, NULL, IDP_EUNAUTH},
    {403, NULL, IDP_EFORBIDDEN},     {404, NULL, IDP_ENOTFOUND},
    {405, NULL, IDP_EMETHOD},        {409, "AlreadyExists", IDP_EEXIST},
    {409, NULL, IDP_ECONFLICT},      {410, NULL, IDP_EGONE},
    {413, NULL, IDP_ETOOLARGE},      {415, NULL, IDP_EUNSUPPORTED},
    {422, NULL, IDP_EINVALID},       {429, NULL, IDP_EUNAVAILABLE},
    {500, NULL, IDP_EIO},            {502, NULL, IDP_EUNAVAILABLE},
    {503, NULL, IDP_EUNAVAILABLE},   {504, NULL, IDP_ETIMEOUT},
};

idp_code idp_kstatus_code(long http, const char *reason) {
  for (size_t i = 0; i < IDP_ARRAY_LEN(status_map); i++)
    if (status_map[i].http == http &&
        (!status_map[i].reason || (reason && strcmp(reason, status_map[i].reason) == 0)))
      return status_map[i].code;
  if (http >= 500) return IDP_EIO;
  if (http >= 400) return IDP_EINVAL;
  return IDP_EIO; /* 1xx/3xx: not something the API answers */
}

idp_code idp_kstatus_error(idp_err *e, const char *method, const char *path, long http,
                           const char *body, size_t len) {
  json_t *st = NULL;
  const char *reason = NULL, *msg = NULL;
  if (body && len) {
    st = json_loadb(body, len, 0, NULL);
    if (json_is_object(st)) {
      reason = idp_json_get_str(st, "reason", NULL);
      msg = idp_json_get_str(st, "message", NULL);
      json_t *code = json_object_get(st, "code");
      /* A watch ERROR event has HTTP 200: the Status carries the real code. */
      if (json_is_integer(code) && json_integer_value(code) >= 400) http = json_integer_value(code);
    }
  }
  idp_code rc = idp_kstatus_code(http, reason);
  if (!reason) reason = idp_code_reason(rc);
  idp_err_set(e, rc, "%s %s: %ld %s%s%s", method, path, http, reason, msg ? ": " : "",
              msg ? msg : "");
  json_decref(st);
  return rc;
}

idp_code kc_curl_error(idp_err *e, const char *method, const char *path, CURLcode cc,
                       const char *errbuf) {
  idp_code rc;
  switch (cc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
      rc = IDP_EUNAVAILABLE;
      break;
    case CURLE_OPERATION_TIMEDOUT:
      rc = IDP_ETIMEOUT;
      break;
    case CURLE_OUT_OF_MEMORY:
      rc = IDP_ENOMEM;
      break;
    default:
      rc = IDP_EIO;
  }
  return idp_err_set(e, rc, "%s %s: %s", method, path,
                     errbuf && *errbuf ? errbuf : curl_easy_strerror(cc));
}

/* ---- Handles, credentials ------------------------------------------- */

/* Current bearer token (copied into `out`), rereading token_file when
 * stale.  Returns false when there is none. */
static bool current_token(idp_kclient *c, idp_buf *out) {
  pthread_mutex_lock(&c->mu);
  time_t now = time(NULL);
  if (c->token_file && (!c->token || now - c->token_read >= TOKEN_REREAD_S)) {
    idp_buf b;
    idp_buf_init(&b, 64 << 10);
    if (idp_buf_read_file(&b, c->token_file, NULL) == IDP_OK) {
      size_t n = b.len;
      while (n > 0 && (b.data[n - 1] == '\n' || b.data[n - 1] == '\r' || b.data[n - 1] == ' '))
        n--;
      if (c->token) wipe_free(c->token, strlen(c->token));
      c->token = dupn(b.data, n);
      c->token_read = now;
    } /* else keep the previous token: a rotation in progress */
    if (b.data) explicit_bzero(b.data, b.len);
    idp_buf_free(&b);
  }
  bool ok = c->token && *c->token && idp_buf_adds(out, c->token) == IDP_OK;
  pthread_mutex_unlock(&c->mu);
  return ok;
}

void kc_configure(idp_kclient *c, CURL *h) {
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_ms);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  if (c->insecure) {
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  } else if (c->ca_data) {
    struct curl_blob blob = {c->ca_data, c->ca_len, CURL_BLOB_COPY};
    curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
  } else if (c->ca_file) {
    curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
  }
  if (c->cert_data) {
    struct curl_blob blob = {c->cert_data, c->cert_len, CURL_BLOB_COPY};
    curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &blob);
    curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
  } else if (c->cert_file) {
    curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert_file);
  }
  if (c->key_data) {
    struct curl_blob blob = {c->key_data, c->key_len, CURL_BLOB_COPY};
    curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &blob);
    curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
  } else if (c->key_file) {
    curl_easy_setopt(h, CURLOPT_SSLKEY, c->key_file);
  }
  if (c->username && c->password) {
    curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(h, CURLOPT_USERNAME, c->username);
    curl_easy_setopt(h, CURLOPT_PASSWORD, c->password);
  }
}

CURL *kc_handle_new(idp_kclient *c) {
  CURL *h = curl_easy_init();
  if (h) kc_configure(c, h);
  return h;
}

struct curl_slist *kc_headers(idp_kclient *c, const char *content_type) {
  struct curl_slist *l = NULL, *t;
  idp_buf b;
  idp_buf_init(&b, 256 << 10);
  bool ok = true;
#define ADD(s)                                   \
  do {                                           \
    t = curl_slist_append(l, (s));               \
    if (!t) ok = false; else l = t;              \
  } while (0)
  ADD("Accept: application/json");
  ADD("Expect:"); /* no 100-continue round trip on large bodies */
  if (content_type) {
    idp_buf_reset(&b);
    if (idp_buf_printf(&b, "Content-Type: %s", content_type) == IDP_OK) ADD(idp_buf_str(&b));
  }
  idp_buf_reset(&b);
  if (idp_buf_adds(&b, "Authorization: Bearer ") == IDP_OK && current_token(c, &b))
    ADD(idp_buf_str(&b));
#undef ADD
  if (b.data) explicit_bzero(b.data, b.len);
  idp_buf_free(&b);
  if (!ok) {
    curl_slist_free_all(l);
    return NULL;
  }
  return l;
}

idp_code kc_url(idp_kclient *c, const char *path_query, idp_buf *out) {
  return idp_buf_printf(out, "%s%s", c->server, path_query);
}

static CURL *pool_take(idp_kclient *c) {
  CURL *h = NULL;
  pthread_mutex_lock(&c->mu);
  if (c->npool > 0) h = c->pool[--c->npool];
  pthread_mutex_unlock(&c->mu);
  if (!h) h = curl_easy_init();
  return h;
}

static void pool_give(idp_kclient *c, CURL *h) {
  pthread_mutex_lock(&c->mu);
  if (c->npool < c->max_idle) {
    c->pool[c->npool++] = h;
    h = NULL;
  }
  pthread_mutex_unlock(&c->mu);
  if (h) curl_easy_cleanup(h);
}

/* ---- Raw requests ---------------------------------------------------- */

typedef struct body_sink {
  idp_buf *buf;
  bool too_large;
} body_sink;

static size_t sink_write(char *p, size_t size, size_t n, void *ud) {
  body_sink *s = ud;
  if (idp_buf_add(s->buf, p, size * n) != IDP_OK) {
    s->too_large = true;
    return 0;
  }
  return size * n;
}

/* The path without its query, for messages (queries may hold selectors,
 * never secrets, but keep messages short). */
static void path_only(const char *pq, char *out, size_t n) {
  size_t k = strcspn(pq, "?");
  if (k >= n) k = n - 1;
  memcpy(out, pq, k);
  out[k] = '\0';
}

static int cancel_check(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
  (void)dt, (void)dn, (void)ut, (void)un;
  return idp_kcancel_fired(ud) ? 1 : 0; /* non-zero aborts the transfer */
}

static idp_code request_x(idp_kclient *c, const char *method, const char *path_query,
                          const char *content_type, const char *body, size_t body_len,
                          idp_kcancel *cancel, long *status, json_t **out, idp_err *e) {
  char pth[512];
  path_only(path_query, pth, sizeof pth);
  if (status) *status = 0;
  if (out) *out = NULL;
  idp_buf url, resp;
  idp_buf_init(&url, 64 << 10);
  idp_buf_init(&resp, c->max_body);
  if (kc_url(c, path_query, &url)) {
    idp_buf_free(&url);
    return idp_err_set(e, IDP_EINVAL, "%s %s: URL too long", method, pth);
  }
  CURL *h = pool_take(c);
  struct curl_slist *hdr = h ? kc_headers(c, body ? content_type : NULL) : NULL;
  if (!h || !hdr) {
    if (h) pool_give(c, h);
    idp_buf_free(&url);
    return idp_err_set(e, IDP_ENOMEM, "%s %s: out of memory", method, pth);
  }
  curl_easy_reset(h);
  kc_configure(c, h);
  char errbuf[CURL_ERROR_SIZE] = {0};
  body_sink sink = {&resp, false};
  curl_easy_setopt(h, CURLOPT_URL, idp_buf_str(&url));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, ""); /* gzip when the server offers it */
  if (cancel) {
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, cancel_check);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, cancel);
  }
  if (body) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
  } else if (strcmp(method, "POST") == 0) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
  }
  if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  CURLcode cc = curl_easy_perform(h);
  long http = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &http);
  curl_slist_free_all(hdr);
  /* Do not keep a handle whose options point at our stack/heap. */
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
  pool_give(c, h);
  idp_buf_free(&url);
  idp_code rc = IDP_OK;
  if (status) *status = http;
  if (sink.too_large) {
    rc = idp_err_set(e, IDP_ETOOLARGE, "%s %s: response body larger than %zu bytes", method,
                     pth, c->max_body);
  } else if (cc == CURLE_ABORTED_BY_CALLBACK) {
    rc = idp_err_set(e, IDP_EUNAVAILABLE, "%s %s: cancelled", method, pth);
  } else if (cc != CURLE_OK) {
    rc = kc_curl_error(e, method, pth, cc, errbuf);
  } else if (http < 200 || http > 299) {
    rc = idp_kstatus_error(e, method, pth, http, resp.data, resp.len);
  } else if (out) {
    if (resp.len == 0) {
      *out = json_null();
    } else {
      json_error_t je;
      *out = json_loadb(resp.data, resp.len, 0, &je);
      if (!*out)
        rc = idp_err_set(e, IDP_EIO, "%s %s: response is not JSON: %s (line %d)", method, pth,
                         je.text, je.line);
    }
  }
  idp_buf_free(&resp);
  return rc;
}

idp_code idp_kclient_request(idp_kclient *c, const char *method, const char *path_query,
                             const char *content_type, const char *body, size_t body_len,
                             long *status, json_t **out, idp_err *e) {
  return request_x(c, method, path_query, content_type, body, body_len, NULL, status, out, e);
}

/* ---- Typed verbs ----------------------------------------------------- */

static idp_code build(const idp_kref *r, idp_buf *b, idp_err *e) {
  idp_buf_init(b, 64 << 10);
  idp_code rc = idp_kref_path(r, b, e);
  if (rc) idp_buf_free(b);
  return rc;
}

static idp_code send_json(idp_kclient *c, const char *method, idp_buf *pq, const char *ctype,
                          const json_t *body, json_t **out, idp_err *e) {
  char *text = NULL;
  if (body) {
    text = json_dumps(body, JSON_COMPACT);
    if (!text) {
      idp_buf_free(pq);
      return idp_err_set(e, IDP_EINVAL, "%s: request body cannot be serialised", method);
    }
  }
  idp_code rc = idp_kclient_request(c, method, idp_buf_str(pq), ctype, text,
                                    text ? strlen(text) : 0, NULL, out, e);
  free(text);
  idp_buf_free(pq);
  return rc;
}

idp_code idp_kclient_get(idp_kclient *c, const idp_kref *r, json_t **out, idp_err *e) {
  idp_buf b;
  idp_code rc = build(r, &b, e);
  if (rc) return rc;
  if (!set(r->name)) {
    idp_buf_free(&b);
    return idp_err_set(e, IDP_EINVAL, "get %s: no name (use list)", r->resource);
  }
  return send_json(c, "GET", &b, NULL, NULL, out, e);
}

static idp_code list_query(idp_buf *b, const idp_klist_opts *o, long limit) {
  idp_code rc = IDP_OK;
  char lim[32];
  snprintf(lim, sizeof lim, "%ld", limit);
  if (!o) return limit > 0 ? add_param(b, "limit", lim) : IDP_OK;
  if (!rc) rc = add_param(b, "labelSelector", set(o->label_selector) ? o->label_selector : NULL);
  if (!rc) rc = add_param(b, "fieldSelector", set(o->field_selector) ? o->field_selector : NULL);
  if (!rc && limit > 0) rc = add_param(b, "limit", lim);
  if (!rc) rc = add_param(b, "continue", set(o->continue_token) ? o->continue_token : NULL);
  if (!rc) rc = add_param(b, "resourceVersion", o->resource_version);
  if (!rc)
    rc = add_param(b, "resourceVersionMatch",
                   set(o->resource_version_match) ? o->resource_version_match : NULL);
  return rc;
}

idp_code idp_kclient_list(idp_kclient *c, const idp_kref *r, const idp_klist_opts *o,
                          json_t **out, idp_err *e) {
  idp_buf b;
  idp_code rc = build(r, &b, e);
  if (rc) return rc;
  if (set(r->name)) {
    idp_buf_free(&b);
    return idp_err_set(e, IDP_EINVAL, "list %s: a name was given", r->resource);
  }
  if ((rc = list_query(&b, o, o ? o->limit : 0))) {
    idp_buf_free(&b);
    return idp_err_set(e, rc, "list %s: query too long", r->resource);
  }
  rc = request_x(c, "GET", idp_buf_str(&b), NULL, NULL, 0, o ? o->cancel : NULL, NULL, out, e);
  idp_buf_free(&b);
  if (!rc && !json_is_array(json_object_get(*out, "items"))) {
    json_decref(*out);
    *out = NULL;
    return idp_err_set(e, IDP_EIO, "list %s: answer has no items array", r->resource);
  }
  return rc;
}

idp_code idp_kclient_list_all(idp_kclient *c, const idp_kref *r, const idp_klist_opts *o,
                              json_t **out, idp_err *e) {
  idp_klist_opts po = o ? *o : (idp_klist_opts){0};
  if (po.limit <= 0) po.limit = 500;
  json_t *all = NULL;
  char *cont = NULL;
  for (int page = 0;; page++) {
    json_t *l = NULL;
    po.continue_token = cont;
    if (page > 0) { /* later pages come from the continue token's snapshot */
      po.resource_version = NULL;
      po.resource_version_match = NULL;
    }
    idp_code rc = idp_kclient_list(c, r, &po, &l, e);
    free(cont);
    cont = NULL;
    if (rc) {
      json_decref(all);
      return rc;
    }
    const char *next = idp_json_get_str(l, "metadata", "continue", NULL);
    if (set(next)) cont = dup0(next);
    if (!all) {
      all = l;
    } else {
      json_array_extend(json_object_get(all, "items"), json_object_get(l, "items"));
      json_decref(l);
    }
    if (!cont) break;
  }
  json_t *md = json_object_get(all, "metadata");
  if (json_is_object(md)) {
    json_object_del(md, "continue");
    json_object_del(md, "remainingItemCount");
  }
  *out = all;
  return IDP_OK;
}

static idp_code write_query(idp_buf *b, const idp_kwrite_opts *o, bool apply) {
  if (!o) return IDP_OK;
  idp_code rc = add_param(b, "fieldManager", set(o->field_manager) ? o->field_manager : NULL);
  if (!rc)
    rc = add_param(b, "fieldValidation", set(o->field_validation) ? o->field_validation : NULL);
  if (!rc && o->dry_run) rc = add_param(b, "dryRun", "All");
  if (!rc && apply && o->force) rc = add_param(b, "force", "true");
  return rc;
}

/* r with ns/name defaulted from the object's metadata. */
static idp_kref ref_from_obj(const idp_kref *r, const json_t *obj, bool want_name) {
  idp_kref x = *r;
  if (!x.ns) x.ns = idp_json_get_str(obj, "metadata", "namespace", NULL);
  if (want_name && !set(x.name)) x.name = idp_json_get_str(obj, "metadata", "name", NULL);
  if (!want_name) x.name = NULL;
  return x;
}

idp_code idp_kclient_create(idp_kclient *c, const idp_kref *r, const json_t *obj,
                            const idp_kwrite_opts *o, json_t **out, idp_err *e) {
  if (!json_is_object(obj)) return idp_err_set(e, IDP_EINVAL, "create: object is not a map");
  idp_kref x = ref_from_obj(r, obj, false);
  x.subresource = NULL;
  idp_buf b;
  idp_code rc = build(&x, &b, e);
  if (rc) return rc;
  if ((rc = write_query(&b, o, false))) {
    idp_buf_free(&b);
    return idp_err_set(e, rc, "create: query too long");
  }
  return send_json(c, "POST", &b, "application/json", obj, out, e);
}

static idp_code put(idp_kclient *c, const idp_kref *r, const json_t *obj, const char *sub,
                    const idp_kwrite_opts *o, json_t **out, idp_err *e) {
  if (!json_is_object(obj)) return idp_err_set(e, IDP_EINVAL, "update: object is not a map");
  idp_kref x = ref_from_obj(r, obj, true);
  x.subresource = sub;
  if (!set(x.name)) return idp_err_set(e, IDP_EINVAL, "update %s: no name", r->resource);
  idp_buf b;
  idp_code rc = build(&x, &b, e);
  if (rc) return rc;
  if ((rc = write_query(&b, o, false))) {
    idp_buf_free(&b);
    return idp_err_set(e, rc, "update: query too long");
  }
  return send_json(c, "PUT", &b, "application/json", obj, out, e);
}

idp_code idp_kclient_update(idp_kclient *c, const idp_kref *r, const json_t *obj,
                            const idp_kwrite_opts *o, json_t **out, idp_err *e) {
  return put(c, r, obj, r->subresource, o, out, e);
}

idp_code idp_kclient_update_status(idp_kclient *c, const idp_kref *r, const json_t *obj,
                                   const idp_kwrite_opts *o, json_t **out, idp_err *e) {
  return put(c, r, obj, "status", o, out, e);
}

static const char *const patch_ctype[] = {
    [IDP_PATCH_MERGE] = "application/merge-patch+json",
    [IDP_PATCH_JSON] = "application/json-patch+json",
    [IDP_PATCH_STRATEGIC] = "application/strategic-merge-patch+json",
    [IDP_PATCH_APPLY] = "application/apply-patch+yaml", /* JSON is YAML */
};

idp_code idp_kclient_patch(idp_kclient *c, const idp_kref *r, idp_patch_type type,
                           const json_t *patch, const idp_kwrite_opts *o, json_t **out,
                           idp_err *e) {
  if ((unsigned)type >= IDP_ARRAY_LEN(patch_ctype))
    return idp_err_set(e, IDP_EINVAL, "patch: unknown patch type %d", (int)type);
  if (!set(r->name)) return idp_err_set(e, IDP_EINVAL, "patch %s: no name", r->resource);
  if (type == IDP_PATCH_APPLY && (!o || !set(o->field_manager)))
    return idp_err_set(e, IDP_EINVAL, "patch %s/%s: server-side apply needs a fieldManager",
                       r->resource, r->name);
  if (type == IDP_PATCH_JSON ? !json_is_array(patch) : !json_is_object(patch))
    return idp_err_set(e, IDP_EINVAL, "patch %s/%s: a %s patch must be a JSON %s", r->resource,
                       r->name, type == IDP_PATCH_JSON ? "JSON" : "merge",
                       type == IDP_PATCH_JSON ? "array" : "object");
  idp_buf b;
  idp_code rc = build(r, &b, e);
  if (rc) return rc;
  if ((rc = write_query(&b, o, type == IDP_PATCH_APPLY))) {
    idp_buf_free(&b);
    return idp_err_set(e, rc, "patch: query too long");
  }
  return send_json(c, "PATCH", &b, patch_ctype[type], patch, out, e);
}

idp_code idp_kclient_delete(idp_kclient *c, const idp_kref *r, const idp_kdelete_opts *o,
                            json_t **out, idp_err *e) {
  if (!set(r->name)) return idp_err_set(e, IDP_EINVAL, "delete %s: no name", r->resource);
  idp_buf b;
  idp_code rc = build(r, &b, e);
  if (rc) return rc;
  json_t *opts = json_pack("{s:s,s:s}", "kind", "DeleteOptions", "apiVersion", "v1");
  if (o) {
    if (set(o->propagation_policy))
      json_object_set_new(opts, "propagationPolicy", json_string(o->propagation_policy));
    if (o->has_grace_period)
      json_object_set_new(opts, "gracePeriodSeconds", json_integer(o->grace_period_seconds));
    if (set(o->precondition_uid) || set(o->precondition_rv)) {
      json_t *pre = json_object();
      if (set(o->precondition_uid))
        json_object_set_new(pre, "uid", json_string(o->precondition_uid));
      if (set(o->precondition_rv))
        json_object_set_new(pre, "resourceVersion", json_string(o->precondition_rv));
      json_object_set_new(opts, "preconditions", pre);
    }
    if (o->dry_run) json_object_set_new(opts, "dryRun", json_pack("[s]", "All"));
  }
  json_t *res = NULL;
  rc = send_json(c, "DELETE", &b, "application/json", opts, out ? &res : NULL, e);
  json_decref(opts);
  if (out) *out = res;
  return rc;
}

/* ---- Discovery -------------------------------------------------------- */

/* Fetches /api/<v> or /apis/<g>/<v> into a kind -> {r, n} map (new). */
static idp_code fetch_gv(idp_kclient *c, const char *gv, json_t **out, idp_err *e) {
  idp_buf b;
  idp_buf_init(&b, 4096);
  const char *slash = strchr(gv, '/');
  idp_code rc = idp_buf_printf(&b, "%s%s", slash ? "/apis/" : "/api/", gv);
  if (rc) {
    idp_buf_free(&b);
    return idp_err_set(e, rc, "discovery: group-version too long");
  }
  json_t *doc = NULL;
  rc = send_json(c, "GET", &b, NULL, NULL, &doc, e);
  if (rc == IDP_ENOTFOUND)
    return idp_err_set(e, rc, "the server does not serve API version \"%s\"", gv);
  if (rc) return rc;
  json_t *map = json_object();
  json_t *res = json_object_get(doc, "resources");
  size_t i;
  json_t *it;
  json_array_foreach(res, i, it) {
    const char *name = idp_json_get_str(it, "name", NULL);
    const char *kind = idp_json_get_str(it, "kind", NULL);
    if (!name || !kind || strchr(name, '/')) continue; /* subresources */
    json_object_set_new(map, kind,
                        json_pack("{s:s,s:b}", "r", name, "n",
                                  json_is_true(json_object_get(it, "namespaced"))));
  }
  json_decref(doc);
  *out = map;
  return IDP_OK;
}

static bool lookup(idp_kclient *c, const char *gv, const char *kind, idp_kgvr *out) {
  pthread_mutex_lock(&c->mu);
  json_t *ent = idp_json_get(c->disc, gv, kind, NULL);
  bool found = false;
  if (ent) {
    const char *slash = strchr(gv, '/');
    if (slash)
      snprintf(out->group, sizeof out->group, "%.*s", (int)(slash - gv), gv);
    else
      out->group[0] = '\0';
    snprintf(out->version, sizeof out->version, "%s", slash ? slash + 1 : gv);
    snprintf(out->resource, sizeof out->resource, "%s", idp_json_get_str(ent, "r", NULL));
    snprintf(out->kind, sizeof out->kind, "%s", kind);
    out->namespaced = json_is_true(json_object_get(ent, "n"));
    found = true;
  }
  pthread_mutex_unlock(&c->mu);
  return found;
}

idp_code idp_kclient_resolve(idp_kclient *c, const char *api_version, const char *kind,
                             idp_kgvr *out, idp_err *e) {
  if (!set(api_version) || !set(kind))
    return idp_err_set(e, IDP_EINVAL, "object without apiVersion or kind");
  if (strlen(api_version) >= IDP_KNAME_MAX || strlen(kind) >= IDP_KNAME_MAX)
    return idp_err_set(e, IDP_EINVAL, "apiVersion or kind too long");
  idp_err pe = IDP_ERR_INIT;
  if (check_segment("apiVersion", strchr(api_version, '/') ? strchr(api_version, '/') + 1
                                                           : api_version, &pe))
    return idp_err_set(e, IDP_EINVAL, "invalid apiVersion \"%.64s\"", api_version);
  if (lookup(c, api_version, kind, out)) return IDP_OK;
  json_t *map = NULL;
  idp_code rc = fetch_gv(c, api_version, &map, e);
  if (rc) return rc;
  pthread_mutex_lock(&c->mu);
  json_object_set_new(c->disc, api_version, map);
  pthread_mutex_unlock(&c->mu);
  if (lookup(c, api_version, kind, out)) return IDP_OK;
  return idp_err_set(e, IDP_ENOTFOUND, "no resource for kind \"%s\" in %s", kind, api_version);
}

idp_code idp_kclient_ref_for(idp_kclient *c, const json_t *obj, idp_kgvr *g, idp_kref *r,
                             idp_err *e) {
  const char *av = idp_json_get_str(obj, "apiVersion", NULL);
  const char *kind = idp_json_get_str(obj, "kind", NULL);
  idp_code rc = idp_kclient_resolve(c, av, kind, g, e);
  if (rc) return rc;
  memset(r, 0, sizeof *r);
  r->group = g->group;
  r->version = g->version;
  r->resource = g->resource;
  r->name = idp_json_get_str(obj, "metadata", "name", NULL);
  if (g->namespaced) {
    r->ns = idp_json_get_str(obj, "metadata", "namespace", NULL);
    if (!set(r->ns)) r->ns = c->ns;
  }
  return IDP_OK;
}

idp_code idp_kclient_group_versions(idp_kclient *c, json_t **out, idp_err *e) {
  json_t *api = NULL, *apis = NULL;
  idp_code rc = idp_kclient_request(c, "GET", "/api", NULL, NULL, 0, NULL, &api, e);
  if (rc && rc != IDP_ENOTFOUND) return rc;
  rc = idp_kclient_request(c, "GET", "/apis", NULL, NULL, 0, NULL, &apis, e);
  if (rc) {
    json_decref(api);
    return rc;
  }
  json_t *res = json_array();
  size_t i, j;
  json_t *it, *v;
  json_array_foreach(json_object_get(api, "versions"), i, it) {
    if (json_is_string(it)) json_array_append(res, it);
  }
  json_array_foreach(json_object_get(apis, "groups"), i, it) {
    json_array_foreach(json_object_get(it, "versions"), j, v) {
      json_t *gv = json_object_get(v, "groupVersion");
      if (json_is_string(gv)) json_array_append(res, gv);
    }
  }
  json_decref(api);
  json_decref(apis);
  *out = res;
  return IDP_OK;
}

void idp_kclient_discovery_reset(idp_kclient *c) {
  pthread_mutex_lock(&c->mu);
  json_object_clear(c->disc);
  pthread_mutex_unlock(&c->mu);
}
