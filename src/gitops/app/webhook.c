#include "core/common.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <strings.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "gitops/app/app_int.h"
#include "gitops/app/webhook.h"

#define WEBHOOK_MAX_BODY ((size_t)50 << 20) /* webhook.maxPayloadSizeMB */

static const char *hdr(const json_t *headers, const char *name) {
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)headers, k, v)
    if (strcasecmp(k, name) == 0) return json_string_value(v);
  return NULL;
}

static bool github_sig_ok(const char *secret, const char *sig, const char *body, size_t len) {
  if (!sig || strncmp(sig, "sha256=", 7) != 0) return false;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int ml = 0;
  if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len, mac, &ml))
    return false;
  char hex[2 * EVP_MAX_MD_SIZE + 1];
  for (unsigned i = 0; i < ml; i++) snprintf(hex + 2 * i, 3, "%02x", mac[i]);
  const char *got = sig + 7;
  if (strlen(got) != 2 * (size_t)ml) return false;
  char low[2 * EVP_MAX_MD_SIZE + 1];
  for (size_t i = 0; i <= 2 * (size_t)ml; i++) low[i] = (char)tolower((unsigned char)got[i]);
  return CRYPTO_memcmp(hex, low, 2 * (size_t)ml) == 0;
}

static bool token_ok(const char *secret, const char *tok) {
  if (!tok) return false;
  size_t a = strlen(secret), b = strlen(tok);
  return a == b && CRYPTO_memcmp(secret, tok, a) == 0;
}

bool idp_webhook_source_matches(const json_t *src, const json_t *urls, const char *ref,
                                const char *default_branch) {
  const char *u = idp_json_get_str(src, "repoURL", NULL);
  if (!u) return false;
  char nu[1024], nx[1024];
  idp_git_url_normalize(u, nu, sizeof nu);
  bool repo = false;
  size_t i;
  json_t *x;
  json_array_foreach(urls, i, x) {
    idp_git_url_normalize(json_string_value(x), nx, sizeof nx);
    if (strcmp(nu, nx) == 0) repo = true;
  }
  if (!repo) return false;
  const char *rev = idp_json_get_str(src, "targetRevision", NULL);
  const char *short_ref = ref;
  if (strncmp(ref, "refs/heads/", 11) == 0)
    short_ref = ref + 11;
  else if (strncmp(ref, "refs/tags/", 10) == 0)
    short_ref = ref + 10;
  if (!rev || !*rev || strcmp(rev, "HEAD") == 0)
    return !default_branch || !*default_branch || strcmp(short_ref, default_branch) == 0;
  return strcmp(rev, short_ref) == 0 || strcmp(rev, ref) == 0;
}

idp_webhook_source idp_webhook_source_of(const json_t *headers) {
  if (hdr(headers, "X-GitHub-Event")) return IDP_WEBHOOK_GITHUB;
  if (hdr(headers, "X-Gitlab-Event")) return IDP_WEBHOOK_GITLAB;
  return IDP_WEBHOOK_UNKNOWN;
}

bool idp_webhook_verify(const json_t *headers, const char *body, size_t len,
                        const char *github_secret, const char *gitlab_secret) {
  switch (idp_webhook_source_of(headers)) {
    case IDP_WEBHOOK_GITHUB:
      return !github_secret ||
             github_sig_ok(github_secret, hdr(headers, "X-Hub-Signature-256"), body, len);
    case IDP_WEBHOOK_GITLAB:
      return !gitlab_secret || token_ok(gitlab_secret, hdr(headers, "X-Gitlab-Token"));
    default:
      return false;
  }
}

bool idp_webhook_parse_push(const json_t *p, idp_webhook_source src, json_t **urls,
                            const char **ref, const char **default_branch) {
  /* where each provider puts the repository's URLs */
  static const char *const gh_keys[] = {"html_url", "clone_url", "ssh_url", "git_url", "url"};
  static const char *const gl_keys[] = {"web_url",  "git_http_url", "git_ssh_url",
                                        "http_url", "url",          "homepage"};
  bool gh = src == IDP_WEBHOOK_GITHUB;
  const char *const *keys = gh ? gh_keys : gl_keys;
  size_t nk = gh ? IDP_ARRAY_LEN(gh_keys) : IDP_ARRAY_LEN(gl_keys);
  const char *objs[] = {gh ? "repository" : "project", "repository"};
  *urls = NULL;
  *ref = idp_json_get_str(p, "ref", NULL);
  *default_branch = NULL;
  json_t *u = json_array();
  for (size_t o = 0; o < (gh ? 1u : 2u); o++) { /* GitLab: project, then repository */
    json_t *repo = json_object_get(p, objs[o]);
    for (size_t i = 0; i < nk; i++) {
      const char *x = json_string_value(json_object_get(repo, keys[i]));
      if (x) json_array_append_new(u, json_string(x));
    }
    if (!*default_branch)
      *default_branch = json_string_value(json_object_get(repo, "default_branch"));
  }
  if (!*ref || json_array_size(u) == 0) {
    json_decref(u);
    return false;
  }
  *urls = u;
  return true;
}

idp_code idp_gitops_webhook_handle(idp_app *a, const json_t *headers, const char *body, size_t len,
                                   int *http_status, int *refreshed, idp_err *e) {
  if (refreshed) *refreshed = 0;
  *http_status = 400;
  if (len > WEBHOOK_MAX_BODY) {
    *http_status = 413;
    return idp_err_set(e, IDP_ETOOLARGE, "webhook payload larger than %zu bytes", WEBHOOK_MAX_BODY);
  }
  idp_webhook_source src = idp_webhook_source_of(headers);
  if (src == IDP_WEBHOOK_UNKNOWN)
    return idp_err_set(e, IDP_EINVAL,
                       "webhook: unknown event source (no X-GitHub-Event or "
                       "X-Gitlab-Event header)");
  if (!idp_webhook_verify(headers, body, len, a->gh_secret, a->gl_secret)) {
    *http_status = 401;
    return idp_err_set(
        e, IDP_EUNAUTH, "webhook: %s",
        src == IDP_WEBHOOK_GITHUB ? "GitHub signature mismatch" : "GitLab token mismatch");
  }
  const char *ev = hdr(headers, "X-GitHub-Event");
  if (ev && strcmp(ev, "ping") == 0) {
    *http_status = 200;
    return IDP_OK;
  }
  json_t *p = NULL;
  idp_code rc = idp_json_parse(body, len, "webhook payload", &p, e);
  if (rc) return rc;
  json_t *urls = NULL;
  const char *ref = NULL, *dflt = NULL;
  if (!idp_webhook_parse_push(p, src, &urls, &ref, &dflt)) {
    json_decref(p);
    *http_status = 200; /* not a push: nothing to do, as Argo CD */
    return IDP_OK;
  }
  size_t i;
  json_t *x;
  json_array_foreach(urls, i, x) idp_git_invalidate(a->git, json_string_value(x));
  json_t *apps = idp_informer_list(a->apps, NULL);
  int n = 0;
  json_t *app;
  json_array_foreach(apps, i, app) {
    json_t *spec = json_object_get(app, "spec");
    bool hit = json_is_object(json_object_get(spec, "source")) &&
               idp_webhook_source_matches(json_object_get(spec, "source"), urls, ref, dflt);
    size_t j;
    json_t *s;
    json_array_foreach(json_object_get(spec, "sources"), j, s)
      hit |= idp_webhook_source_matches(s, urls, ref, dflt);
    if (hit) {
      idp_controller_enqueue_object(a->ctl, app);
      n++;
    }
  }
  json_decref(apps);
  json_decref(urls);
  json_decref(p);
  if (refreshed) *refreshed = n;
  *http_status = 200;
  return IDP_OK;
}

/* ---- the listener ------------------------------------------------------- */

typedef struct req {
  idp_buf body;
  bool too_large;
} req;

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *k, const char *v) {
  IDP_UNUSED(kind);
  json_object_set_new(cls, k, json_string(v ? v : ""));
  return MHD_YES;
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned code, const char *text) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(r, "Content-Type", "text/plain");
  enum MHD_Result ret = MHD_queue_response(c, code, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **con_cls) {
  IDP_UNUSED(version);
  idp_app *a = cls;
  req *rq = *con_cls;
  if (!rq) {
    rq = calloc(1, sizeof *rq);
    if (!rq) return MHD_NO;
    idp_buf_init(&rq->body, WEBHOOK_MAX_BODY);
    *con_cls = rq;
    return MHD_YES;
  }
  if (*size) {
    if (idp_buf_add(&rq->body, data, *size)) rq->too_large = true;
    *size = 0;
    return MHD_YES;
  }
  if (strcmp(url, "/api/webhook") != 0) return answer(c, 404, "not found\n");
  if (strcmp(method, "POST") != 0) return answer(c, 405, "method not allowed\n");
  if (rq->too_large) return answer(c, 413, "payload too large\n");
  json_t *h = json_object();
  MHD_get_connection_values(c, MHD_HEADER_KIND, collect, h);
  int status = 500, n = 0;
  idp_err e = IDP_ERR_INIT;
  idp_gitops_webhook_handle(a, h, rq->body.data ? rq->body.data : "", rq->body.len, &status, &n,
                            &e);
  json_decref(h);
  char msg[1200];
  if (status == 200)
    snprintf(msg, sizeof msg, "refreshed %d applications\n", n);
  else
    snprintf(msg, sizeof msg, "%s\n", e.msg);
  return answer(c, (unsigned)status, msg);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
  IDP_UNUSED(cls);
  IDP_UNUSED(c);
  IDP_UNUSED(toe);
  req *rq = *con_cls;
  if (rq) {
    idp_buf_free(&rq->body);
    free(rq);
  }
  *con_cls = NULL;
}

idp_code app_webhook_start(idp_app *a, idp_err *e);
void app_webhook_stop(idp_app *a);

idp_code app_webhook_start(idp_app *a, idp_err *e) {
  const char *l = a->o.webhook_listen;
  const char *colon = strrchr(l, ':');
  if (!colon) return idp_err_set(e, IDP_EINVAL, "--webhook-listen %s: want HOST:PORT", l);
  char host[256];
  snprintf(host, sizeof host, "%.*s", (int)(colon - l), l);
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end || port < 0 || port > 65535)
    return idp_err_set(e, IDP_EINVAL, "--webhook-listen %s: bad port", l);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, *host ? host : "0.0.0.0", &sa.sin_addr) != 1)
    return idp_err_set(e, IDP_EINVAL, "--webhook-listen %s: bad IPv4 address", l);
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, handler, a,
      MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
  if (!d) return idp_err_set(e, IDP_EIO, "webhook listener on %s: cannot bind", l);
  const union MHD_DaemonInfo *inf = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  a->port = inf ? inf->port : (int)port;
  a->mhd = d;
  return IDP_OK;
}

void app_webhook_stop(idp_app *a) {
  if (a->mhd) MHD_stop_daemon(a->mhd);
  a->mhd = NULL;
}
