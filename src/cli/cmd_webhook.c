/* cmd_webhook.c: `idp webhook` — Kyverno-compatible admission webhook
 * (AdmissionReview v1 over HTTPS: /mutate, /validate, /healthz) for real
 * clusters, plus the PolicyReport and generate controllers (optionally
 * Lease-elected among replicas).  Policies come from the cluster
 * (ClusterPolicy/Policy informers, --kubeconfig or in-cluster) and/or from
 * files (--policy), which makes the webhook usable without an API server. */
#include "core/common.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "client/client.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/yaml.h"
#include "policy/admission.h"
#include "policy/controllers.h"

#define MAX_BODY ((size_t)8 << 20) /* AdmissionReviews of big objects */

typedef struct wh {
  pol_adm *adm;                /* = pol_controllers_adm(ctl) with a cluster */
  pol_controllers *ctl;        /* NULL without a cluster (--policy files only) */
  atomic_bool ready;
} wh;

static void usage(void) {
  fprintf(stderr,
          "usage: idp webhook --tls-cert FILE --tls-key FILE [--listen ADDR:PORT]\n"
          "                   [--kubeconfig FILE] [--context NAME] [--policy FILE]...\n"
          "                   [--leader-elect] [--leader-namespace NS] [--no-controllers]\n"
          "                   [--background-scan-interval SECONDS] [--omit-pass]\n"
          "  AdmissionReview v1 server: POST /mutate and /validate (also /mutate/fail,\n"
          "  /validate/fail, ...), /policyvalidate (checks ClusterPolicy/Policy objects),\n"
          "  GET /healthz, /health/liveness, /health/readiness.\n"
          "  Default listen address 127.0.0.1:9443; in-cluster config when\n"
          "  KUBERNETES_SERVICE_HOST is set and no --kubeconfig is given.\n");
}

/* ---- HTTP ---- */

typedef struct conn {
  idp_buf body;
  bool too_large;
} conn;

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *ctype,
                             const char *body) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, "Content-Type", ctype);
  enum MHD_Result ret = MHD_queue_response(c, code, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned code, const json_t *v) {
  char *t = json_dumps(v, JSON_COMPACT);
  enum MHD_Result r = reply(c, code, "application/json", t ? t : "{}");
  free(t);
  return r;
}

static bool path_is(const char *url, const char *base) {
  size_t n = strlen(base);
  return strncmp(url, base, n) == 0 && (url[n] == 0 || url[n] == '/');
}

static enum MHD_Result handle_review(wh *w, struct MHD_Connection *c, const char *url,
                                     const conn *cn) {
  if (cn->too_large) return reply(c, 413, "text/plain", "request body too large\n");
  json_t *review = NULL;
  idp_err e = IDP_ERR_INIT;
  if (idp_json_parse(idp_buf_str(&cn->body), cn->body.len, "AdmissionReview", &review, &e)) {
    char msg[1200];
    snprintf(msg, sizeof msg, "%s\n", e.msg);
    return reply(c, 400, "text/plain", msg);
  }
  const json_t *req = json_object_get(review, "request");
  if (path_is(url, "/policyvalidate")) {
    /* ClusterPolicy/Policy admission: invalid policies are refused with
     * the engine's message (policy, rule, path) */
    const char *uid = idp_json_get_str(req, "uid", NULL);
    json_t *obj = json_object_get(req, "object");
    json_t *resp = json_pack("{s:s,s:b}", "uid", uid ? uid : "", "allowed", 1);
    if (json_is_object(obj) && pol_admission_validate_policy(obj, &e) != IDP_OK) {
      json_object_set_new(resp, "allowed", json_false());
      json_object_set_new(resp, "status", json_pack("{s:s,s:i,s:s,s:s}", "status", "Failure",
                                                    "code", 422, "reason", "Invalid", "message",
                                                    e.msg));
    }
    json_t *rev = pol_admission_review(resp);
    enum MHD_Result r = reply_json(c, 200, rev);
    json_decref(rev);
    json_decref(resp);
    json_decref(review);
    return r;
  }
  pol_admit_mode mode = path_is(url, "/mutate") ? POL_ADMIT_MUTATE : POL_ADMIT_VALIDATE;
  pol_admit_out out;
  idp_code rc = pol_admit_ex(w->adm, req, mode, &out, &e);
  if (rc) {
    json_decref(review);
    char msg[1200];
    snprintf(msg, sizeof msg, "%s\n", e.msg);
    return reply(c, 400, "text/plain", msg);
  }
  json_t *resp = json_pack("{s:s,s:s,s:O}", "apiVersion",
                           idp_json_get_str(review, "apiVersion", NULL)
                               ? idp_json_get_str(review, "apiVersion", NULL)
                               : "admission.k8s.io/v1",
                           "kind", "AdmissionReview", "response", out.response);
  enum MHD_Result r = reply_json(c, 200, resp);
  json_decref(resp);
  /* generate after admission: the controller creates the objects once the
   * trigger is stored */
  if (w->ctl && out.generate) {
    const json_t *obj = out.patched ? out.patched : json_object_get(req, "object");
    json_t *trig = json_deep_copy(obj);
    const char *ns = idp_json_get_str(req, "namespace", NULL);
    if (ns && *ns && !idp_json_get_str(trig, "metadata", "namespace", NULL))
      json_object_set_new(idp_json_child_object(trig, "metadata"), "namespace", json_string(ns));
    pol_controllers_admitted(w->ctl, trig, &out);
    json_decref(trig);
  }
  pol_admit_out_clear(&out);
  json_decref(review);
  return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **con_cls) {
  IDP_UNUSED(version);
  wh *w = cls;
  if (strcmp(method, "GET") == 0) {
    if (!strcmp(url, "/healthz") || !strcmp(url, "/health/liveness") || !strcmp(url, "/livez"))
      return reply(c, 200, "text/plain", "ok\n");
    if (!strcmp(url, "/health/readiness") || !strcmp(url, "/readyz"))
      return atomic_load(&w->ready) ? reply(c, 200, "text/plain", "ok\n")
                                    : reply(c, 503, "text/plain", "policies not synced\n");
    return reply(c, 404, "text/plain", "not found\n");
  }
  if (strcmp(method, "POST") != 0) return reply(c, 405, "text/plain", "method not allowed\n");
  if (!path_is(url, "/mutate") && !path_is(url, "/validate") && !path_is(url, "/policyvalidate"))
    return reply(c, 404, "text/plain", "not found\n");
  conn *cn = *con_cls;
  if (!cn) {
    cn = calloc(1, sizeof *cn);
    if (!cn) return MHD_NO;
    idp_buf_init(&cn->body, MAX_BODY);
    *con_cls = cn;
    return MHD_YES;
  }
  if (*size) {
    if (idp_buf_add(&cn->body, data, *size) != IDP_OK) cn->too_large = true;
    *size = 0;
    return MHD_YES;
  }
  return handle_review(w, c, url, cn);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  IDP_UNUSED(cls);
  IDP_UNUSED(c);
  IDP_UNUSED(toe);
  conn *cn = *con_cls;
  if (cn) {
    idp_buf_free(&cn->body);
    free(cn);
  }
  *con_cls = NULL;
}

static idp_code load_policy_file(wh *w, const char *path, idp_err *e) {
  json_t *docs = NULL;
  idp_code rc = idp_yaml_load_file(path, NULL, &docs, e);
  if (rc) return rc;
  size_t i;
  json_t *d;
  json_array_foreach(docs, i, d) {
    const char *kind = idp_json_get_str(d, "kind", NULL);
    if (!kind || (strcmp(kind, "ClusterPolicy") && strcmp(kind, "Policy"))) continue;
    if ((rc = pol_admission_set_policy(w->adm, d, e))) {
      idp_err_prefix(e, "%s", path);
      break;
    }
  }
  json_decref(docs);
  return rc;
}

static bool parse_listen(const char *s, struct sockaddr_in *sa) {
  char host[256];
  const char *colon = strrchr(s, ':');
  if (!colon || (size_t)(colon - s) >= sizeof host) return false;
  snprintf(host, sizeof host, "%.*s", (int)(colon - s), s);
  char *end;
  long long port = strtoll(colon + 1, &end, 10);
  if (*end || port < 1 || port > 65535) return false;
  memset(sa, 0, sizeof *sa);
  sa->sin_family = AF_INET;
  sa->sin_port = htons((uint16_t)port);
  if (!host[0] || !strcmp(host, "0.0.0.0")) sa->sin_addr.s_addr = htonl(INADDR_ANY);
  else if (inet_pton(AF_INET, host, &sa->sin_addr) != 1) return false;
  return true;
}

int cmd_webhook(int argc, char **argv) {
  const char *cert = NULL, *key = NULL, *listen = "127.0.0.1:9443", *kubeconfig = NULL,
             *context = NULL, *lease_ns = "idp-system";
  const char *policies[64];
  size_t npol = 0;
  bool leader_elect = false, no_ctl = false;
  wh w = {0};
  pol_controllers_opts copts = {0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    bool has = i + 1 < argc;
    if (!strcmp(a, "--tls-cert") && has) cert = argv[++i];
    else if (!strcmp(a, "--tls-key") && has) key = argv[++i];
    else if (!strcmp(a, "--listen") && has) listen = argv[++i];
    else if (!strcmp(a, "--kubeconfig") && has) kubeconfig = argv[++i];
    else if (!strcmp(a, "--context") && has) context = argv[++i];
    else if (!strcmp(a, "--leader-namespace") && has) lease_ns = argv[++i];
    else if (!strcmp(a, "--leader-elect")) leader_elect = true;
    else if (!strcmp(a, "--no-controllers")) no_ctl = true;
    else if (!strcmp(a, "--omit-pass")) copts.reports.omit_pass = true;
    else if (!strcmp(a, "--policy") && has) {
      if (npol == IDP_ARRAY_LEN(policies)) {
        fprintf(stderr, "idp webhook: too many --policy files\n");
        return 2;
      }
      policies[npol++] = argv[++i];
    } else if (!strcmp(a, "--background-scan-interval") && has) {
      char *end;
      long long s = strtoll(argv[++i], &end, 10);
      if (*end || s < 1) {
        fprintf(stderr, "idp webhook: --background-scan-interval: seconds > 0, got '%s'\n",
                argv[i]);
        return 2;
      }
      copts.reports.interval_ms = s * 1000;
    } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage();
      return 0;
    } else {
      fprintf(stderr, "idp webhook: unknown argument '%s'\n", a);
      usage();
      return 2;
    }
  }
  if (!cert || !key) {
    fprintf(stderr, "idp webhook: --tls-cert and --tls-key are required\n");
    usage();
    return 2;
  }
  struct sockaddr_in sa;
  if (!parse_listen(listen, &sa)) {
    fprintf(stderr, "idp webhook: --listen: expected IPv4ADDR:PORT, got '%s'\n", listen);
    return 2;
  }
  idp_err e = IDP_ERR_INIT;
  idp_buf certb, keyb;
  idp_buf_init(&certb, 1 << 20);
  idp_buf_init(&keyb, 1 << 20);
  if (idp_buf_read_file(&certb, cert, &e) || idp_buf_read_file(&keyb, key, &e)) {
    fprintf(stderr, "idp webhook: %s\n", e.msg);
    idp_buf_free(&certb);
    idp_buf_free(&keyb);
    return 1;
  }

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  int status = 1;
  struct MHD_Daemon *d = NULL;
  idp_kclient *kc = NULL;
  bool cluster = kubeconfig || getenv("KUBERNETES_SERVICE_HOST") || npol == 0;
  if (cluster) {
    idp_kconfig *cfg = NULL;
    if (idp_kconfig_load_default(kubeconfig, context, &cfg, &e) ||
        idp_kclient_new(cfg, NULL, &kc, &e)) {
      fprintf(stderr, "idp webhook: %s\n", e.msg);
      idp_kconfig_free(cfg);
      goto out;
    }
    idp_kconfig_free(cfg);
    copts.no_reports = copts.no_generate = no_ctl;
    copts.lease_ns = leader_elect ? lease_ns : NULL;
    if (pol_controllers_start(kc, &copts, &w.ctl, &e)) {
      fprintf(stderr, "idp webhook: %s\n", e.msg);
      goto out;
    }
    w.adm = pol_controllers_adm(w.ctl);
  } else if (pol_admission_new(NULL, &w.adm, &e)) {
    fprintf(stderr, "idp webhook: %s\n", e.msg);
    goto out;
  }
  for (size_t i = 0; i < npol; i++)
    if (load_policy_file(&w, policies[i], &e)) {
      fprintf(stderr, "idp webhook: %s\n", e.msg);
      goto out;
    }
  d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                           MHD_USE_TLS | MHD_USE_ERROR_LOG,
                       0, NULL, NULL, on_request, &w, MHD_OPTION_SOCK_ADDR, &sa,
                       MHD_OPTION_HTTPS_MEM_KEY, idp_buf_str(&keyb), MHD_OPTION_HTTPS_MEM_CERT,
                       idp_buf_str(&certb), MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                       MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
  if (!d) {
    fprintf(stderr, "idp webhook: cannot listen on %s with the given certificate and key\n",
            listen);
    goto out;
  }
  idp_log(IDP_LOG_INFO, "webhook listening", "address", listen, NULL);
  atomic_store(&w.ready, true);
  int sig = 0;
  sigwait(&set, &sig);
  status = 0;
out:
  if (d) MHD_stop_daemon(d);
  if (w.ctl) pol_controllers_stop(w.ctl);
  else pol_admission_free(w.adm);
  idp_kclient_free(kc);
  idp_buf_free(&certb);
  idp_buf_free(&keyb);
  return status;
}
