#include "core/common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "apiserver/api_int.h"
#include "core/json.h"
#include "core/log.h"

enum {
  DEFAULT_MAX_BODY = 3 << 20,
  DEFAULT_MAX_CONNECTIONS = 2048,
  MAX_QUERY_PAIRS = 128,
  STREAM_CHUNK = 32 * 1024,
};

/* ---- responses ------------------------------------------------------------ */

void idp_api_response_init(idp_api_response *rs) {
  memset(rs, 0, sizeof *rs);
  idp_buf_init(&rs->body, IDP_BUF_DEFAULT_MAX);
  rs->status = 200;
  rs->content_type = "application/json";
}

void idp_api_response_free(idp_api_response *rs) {
  if (!rs) return;
  idp_buf_free(&rs->body);
  json_decref(rs->warnings);
  rs->warnings = NULL;
  idp_api_stream_free(rs->stream);
  rs->stream = NULL;
}

/* ---- the request core ---------------------------------------------------- */

static bool token_ok(const idp_apiserver *s, const char *auth) {
  if (!s->token) return true;
  if (!auth || strncasecmp(auth, "Bearer ", 7)) return false;
  const char *t = auth + 7;
  while (*t == ' ') t++;
  size_t a = strlen(t), b = strlen(s->token);
  /* constant time in the token's length */
  unsigned char diff = (unsigned char)(a != b);
  for (size_t i = 0; i < b; i++) diff |= (unsigned char)(s->token[i] ^ (i < a ? t[i] : 0));
  return diff == 0;
}

static void reply_text(api_ctx *c, int status, const char *text) {
  c->rs->status = status;
  c->rs->content_type = "text/plain; charset=utf-8";
  idp_buf_reset(&c->rs->body);
  idp_buf_adds(&c->rs->body, text);
}

static void reply_version(api_ctx *c) {
  api_reply_json(c, 200,
                 json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "major", "1", "minor",
                           "32", "gitVersion", "v1.32.0+idp", "gitCommit", "idp", "gitTreeState",
                           "clean", "buildDate", "2026-01-01T00:00:00Z", "goVersion", "n/a",
                           "compiler", "idp-c17", "platform", "linux/amd64"));
}

static void error(api_ctx *c, idp_code code, const char *msg) {
  idp_err e;
  idp_err_set(&e, code, "%s", msg);
  api_status_error(c, &e, NULL, NULL);
}

static bool method_is(const idp_api_request *rq, const char *m) {
  return rq->method && !strcmp(rq->method, m);
}

static void dispatch_resource(api_ctx *c) {
  const idp_api_request *rq = c->rq;
  api_path *p = &c->p;
  c->res = api_registry_find(c->srv->reg, p->group, p->version, p->plural);
  if (!c->res) {
    error(c, IDP_ENOTFOUND, "the server could not find the requested resource");
    return;
  }
  api_resource *r = c->res;
  bool item = p->route == R_ITEM;
  if ((p->has_ns && !r->namespaced) || (item && r->namespaced && !p->has_ns)) {
    api_resource_unref(c->res);
    c->res = NULL;
    error(c, IDP_ENOTFOUND, "the server could not find the requested resource");
    return;
  }
  if (!r->namespaced) p->ns[0] = '\0';
  bool watch = api_query_bool(rq, "watch") && api_query(rq, "watch");
  if (method_is(rq, "GET")) {
    if (watch)
      api_watch(c);
    else if (item)
      api_get(c);
    else
      api_list(c);
  } else if (method_is(rq, "POST") && !item) {
    api_create(c);
  } else if (method_is(rq, "PUT") && item) {
    api_update(c);
  } else if (method_is(rq, "PATCH") && item) {
    api_patch(c);
  } else if (method_is(rq, "DELETE")) {
    if (item)
      api_delete(c);
    else
      api_delete_collection(c);
  } else {
    error(c, IDP_EMETHOD, "the server does not allow this method on the requested resource");
  }
}

void idp_apiserver_handle(idp_apiserver *s, const idp_api_request *rq, idp_api_response *rs) {
  api_ctx c = {.srv = s, .rq = rq, .rs = rs};
  idp_err e = IDP_ERR_INIT;
  if (api_route_parse(rq->path, &c.p, &e)) {
    if (!token_ok(s, rq->authorization)) {
      error(&c, IDP_EUNAUTH, "Unauthorized");
      return;
    }
    api_status_error(&c, &e, "", NULL);
    return;
  }
  if (c.p.route == R_HEALTH) {
    reply_text(&c, 200, "ok");
    return;
  }
  if (c.p.route == R_VERSION) {
    reply_version(&c);
    return;
  }
  if (!token_ok(s, rq->authorization)) {
    error(&c, IDP_EUNAUTH, "Unauthorized");
    return;
  }
  if (rq->body_too_large) {
    char msg[128];
    snprintf(msg, sizeof msg, "the request body is larger than the limit of %zu bytes",
             s->o.max_body ? s->o.max_body : (size_t)DEFAULT_MAX_BODY);
    error(&c, IDP_ETOOLARGE, msg);
    return;
  }
  switch (c.p.route) {
  case R_API:
  case R_APIS:
  case R_GROUP:
  case R_GV:
    if (!method_is(rq, "GET"))
      error(&c, IDP_EMETHOD, "the server does not allow this method on the requested resource");
    else
      api_discovery(&c);
    break;
  case R_OPENAPI_V2:
  case R_OPENAPI_V3:
  case R_OPENAPI_V3_GV:
    api_openapi(&c);
    break;
  case R_COLLECTION:
  case R_ITEM:
    dispatch_resource(&c);
    break;
  default:
    error(&c, IDP_ENOTFOUND, "the server could not find the requested resource");
  }
  api_resource_unref(c.res);
}

/* ---- lifecycle ------------------------------------------------------------- */

static char *dup_or_null(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s);
  char *d = malloc(n + 1);
  if (d) memcpy(d, s, n + 1);
  return d;
}

idp_code idp_apiserver_new(const idp_apiserver_opts *opts, idp_apiserver **out, idp_err *e) {
  *out = NULL;
  if (!opts || !opts->store) return idp_err_set(e, IDP_EINVAL, "apiserver: a store is required");
  idp_apiserver *s = calloc(1, sizeof *s);
  if (!s) return idp_err_set(e, IDP_ENOMEM, "apiserver: out of memory");
  s->o = *opts;
  s->store = opts->store;
  s->ca_pem = dup_or_null(opts->ca_pem);
  s->token = dup_or_null(opts->token);
  s->cert_pem = dup_or_null(opts->cert_pem);
  s->key_pem = dup_or_null(opts->key_pem);
  s->listen = dup_or_null(opts->listen ? opts->listen : "127.0.0.1:6443");
  s->o.ca_pem = s->ca_pem;
  s->o.token = s->token;
  s->o.cert_pem = s->cert_pem;
  s->o.key_pem = s->key_pem;
  s->o.listen = s->listen;
  atomic_init(&s->stopping, false);
  s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  atomic_init(&s->watchers, 0);
  s->reg = api_registry_new();
  s->pager = api_pager_new();
  if (!s->reg || !s->pager) {
    idp_apiserver_free(s);
    return idp_err_set(e, IDP_ENOMEM, "apiserver: out of memory");
  }
  idp_code c = api_bootstrap(s, e);
  if (c) {
    idp_err_prefix(e, "apiserver bootstrap");
    idp_apiserver_free(s);
    return c;
  }
  s->gc = api_gc_start(s);
  if (!s->gc) {
    idp_apiserver_free(s);
    return idp_err_set(e, IDP_EINTERNAL, "apiserver: cannot start the garbage collector");
  }
  *out = s;
  return IDP_OK;
}

void idp_apiserver_free(idp_apiserver *s) {
  if (!s) return;
  atomic_store(&s->stopping, true);
  if (s->stop_fd >= 0) {
    uint64_t one = 1;
    ssize_t w = write(s->stop_fd, &one, sizeof one);
    IDP_UNUSED(w);
  }
  if (s->daemon) MHD_stop_daemon(s->daemon);
  api_gc_stop(s->gc);
  api_registry_free(s->reg);
  api_pager_free(s->pager);
  if (s->stop_fd >= 0) close(s->stop_fd);
  free(s->ca_pem);
  free(s->token);
  free(s->cert_pem);
  free(s->key_pem);
  free(s->listen);
  free(s);
}

void idp_apiserver_set_admission(idp_apiserver *s, idp_api_admit_fn fn,
                                 idp_api_admitted_fn admitted, void *ctx) {
  s->o.admit = fn;
  s->o.admitted = admitted;
  s->o.admit_ctx = ctx;
}

uint16_t idp_apiserver_port(const idp_apiserver *s) {
  return s->port;
}

/* ---- libmicrohttpd ----------------------------------------------------------- */

typedef struct conn_req {
  idp_buf body;
  bool too_large;
  idp_api_query q[MAX_QUERY_PAIRS];
  size_t nq;
} conn_req;

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value) {
  IDP_UNUSED(kind);
  conn_req *cr = cls;
  if (cr->nq == MAX_QUERY_PAIRS) return MHD_NO;
  cr->q[cr->nq].key = key ? key : "";
  cr->q[cr->nq].value = value ? value : "";
  cr->nq++;
  return MHD_YES;
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
  IDP_UNUSED(pos);
  idp_api_stream *st = cls;
  /* one thread per connection: blocking here is allowed */
  for (;;) {
    long n = idp_api_stream_read(st, buf, max, 1000);
    if (n < 0) return MHD_CONTENT_READER_END_OF_STREAM;
    if (n > 0) return (ssize_t)n;
  }
}

static void stream_free(void *cls) {
  idp_api_stream_free(cls);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls) {
  IDP_UNUSED(version);
  idp_apiserver *s = cls;
  conn_req *cr = *con_cls;
  if (!cr) {
    cr = calloc(1, sizeof *cr);
    if (!cr) return MHD_NO;
    idp_buf_init(&cr->body, s->o.max_body ? s->o.max_body : DEFAULT_MAX_BODY);
    *con_cls = cr;
    return MHD_YES;
  }
  if (*upload_size) {
    if (!cr->too_large && idp_buf_add(&cr->body, upload_data, *upload_size) != IDP_OK) {
      cr->too_large = true;
      idp_buf_free(&cr->body);
    }
    *upload_size = 0;
    return MHD_YES;
  }
  MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_query, cr);
  idp_api_request rq = {
      .method = method,
      .path = url,
      .query = cr->q,
      .nquery = cr->nq,
      .accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT),
      .content_type =
          MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
      .user_agent = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_USER_AGENT),
      .authorization =
          MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
      .body = cr->body.data,
      .body_len = cr->body.len,
      .body_too_large = cr->too_large,
  };
  idp_api_response rs;
  idp_api_response_init(&rs);
  idp_apiserver_handle(s, &rq, &rs);
  if (idp_log_get_level() <= IDP_LOG_DEBUG) {
    char st[8];
    snprintf(st, sizeof st, "%d", rs.status);
    idp_log(IDP_LOG_DEBUG, "request", "method", method, "path", url, "status", st,
            "manager", rq.user_agent ? rq.user_agent : "", NULL);
  }
  struct MHD_Response *resp;
  if (rs.stream) {
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_CHUNK, stream_reader,
                                             rs.stream, stream_free);
    if (resp) rs.stream = NULL; /* owned by the response now */
  } else {
    size_t len = 0;
    char *data = idp_buf_detach(&rs.body, &len);
    resp = MHD_create_response_from_buffer(len, data ? data : (char *)"",
                                           data ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) free(data);
  }
  if (!resp) {
    idp_api_response_free(&rs);
    return MHD_NO;
  }
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, rs.content_type);
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache, private");
  size_t i;
  json_t *w;
  json_array_foreach(rs.warnings, i, w) {
    char hv[1200];
    /* RFC 7234 warn-text: quotes and backslashes escaped */
    size_t k = 0;
    const char *m = json_string_value(w);
    k += (size_t)snprintf(hv, sizeof hv, "299 - \"");
    for (; m && *m && k + 4 < sizeof hv; m++) {
      if (*m == '"' || *m == '\\') hv[k++] = '\\';
      hv[k++] = (*m == '\n' || *m == '\r') ? ' ' : *m;
    }
    hv[k++] = '"';
    hv[k] = '\0';
    MHD_add_response_header(resp, "Warning", hv);
  }
  enum MHD_Result ret = MHD_queue_response(conn, (unsigned)rs.status, resp);
  MHD_destroy_response(resp);
  idp_api_response_free(&rs);
  return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  IDP_UNUSED(cls);
  IDP_UNUSED(conn);
  IDP_UNUSED(toe);
  conn_req *cr = *con_cls;
  if (!cr) return;
  idp_buf_free(&cr->body);
  free(cr);
  *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
  IDP_UNUSED(cls);
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = '\0';
  idp_log(IDP_LOG_DEBUG, "http", "detail", msg, NULL);
}

/* "host:port", "[v6]:port", ":port" -> sockaddr. */
static idp_code parse_listen(const char *listen, struct sockaddr_storage *ss, bool *v6,
                             idp_err *e) {
  memset(ss, 0, sizeof *ss);
  char host[256];
  const char *port;
  if (listen[0] == '[') {
    const char *end = strchr(listen, ']');
    if (!end || end[1] != ':' || (size_t)(end - listen - 1) >= sizeof host)
      return idp_err_set(e, IDP_EINVAL, "--listen \"%s\": expected [address]:port", listen);
    memcpy(host, listen + 1, (size_t)(end - listen - 1));
    host[end - listen - 1] = '\0';
    port = end + 2;
  } else {
    const char *colon = strrchr(listen, ':');
    if (!colon || (size_t)(colon - listen) >= sizeof host)
      return idp_err_set(e, IDP_EINVAL, "--listen \"%s\": expected address:port", listen);
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    port = colon + 1;
  }
  char *end;
  errno = 0;
  long p = strtol(port, &end, 10);
  if (errno || *end || p < 0 || p > 65535 || !*port)
    return idp_err_set(e, IDP_EINVAL, "--listen \"%s\": bad port", listen);
  if (!*host) snprintf(host, sizeof host, "0.0.0.0");
  struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
  if (!strcmp(host, "localhost")) snprintf(host, sizeof host, "127.0.0.1");
  if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)p);
    *v6 = false;
  } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)p);
    *v6 = true;
  } else {
    return idp_err_set(e, IDP_EINVAL, "--listen \"%s\": \"%s\" is not an IP address", listen, host);
  }
  return IDP_OK;
}

idp_code idp_apiserver_listen(idp_apiserver *s, idp_err *e) {
  if (s->daemon) return idp_err_set(e, IDP_EINVAL, "apiserver: already listening");
  struct sockaddr_storage ss;
  bool v6 = false;
  idp_code c = parse_listen(s->listen, &ss, &v6, e);
  if (c) return c;
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                   MHD_USE_POLL | MHD_USE_ERROR_LOG;
  if (v6) flags |= MHD_USE_IPv6;
  bool tls = s->cert_pem && s->key_pem;
  if (tls) flags |= MHD_USE_TLS;
  unsigned max_conn = s->o.max_connections ? s->o.max_connections : DEFAULT_MAX_CONNECTIONS;
  struct MHD_OptionItem opts[] = {
      {MHD_OPTION_SOCK_ADDR, 0, &ss},
      {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)max_conn, NULL},
      {MHD_OPTION_CONNECTION_TIMEOUT, 600, NULL},
      {MHD_OPTION_THREAD_STACK_SIZE, 1 << 20, NULL},
      {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL},
      {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL},
      {tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, s->key_pem},
      {tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, s->cert_pem},
      {MHD_OPTION_END, 0, NULL},
  };
  s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, opts,
                               MHD_OPTION_END);
  if (!s->daemon)
    return idp_err_set(e, IDP_EUNAVAILABLE, "cannot listen on %s (address in use or TLS material "
                                            "rejected)",
                       s->listen);
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
  s->port = info ? info->port : 0;
  return IDP_OK;
}
