/* cmd_up.c: `idp up` — the embedded control plane: TLS API server over the
 * SQLite store, a generated CA and token, and a kubeconfig for kubectl. */
#include "core/common.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/evp.h>

#include "apiserver/apiserver.h"
#include "certs/pki.h"
#include "cli/bootstrap.h"
#include "cli/controllers.h"
#include "client/client.h"
#include "policy/admission.h"
#include "policy/controllers.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/yaml.h"
#include "store/store.h"

enum { MAX_SANS = 32, COMPACT_EVERY_S = 300 };

static void usage(void) {
  fprintf(stderr,
          "usage: idp up [--data-dir DIR] [--listen ADDR:PORT] [--token-file FILE]\n"
          "              [--tls-san NAME]... [--history-revisions N] [--compact-interval S]\n"
          "              [--controllers LIST | --no-controllers] [--bootstrap [--platform SRC]]\n"
          "  --data-dir DIR     state, certificates, token and kubeconfig (default ~/.idp)\n"
          "  --listen ADDR      API address (default 127.0.0.1:6443; loopback unless told)\n"
          "  --token-file FILE  bearer token to require (default DIR/token, generated)\n"
          "  --tls-san NAME     extra DNS name or IP for the serving certificate\n"
          "  --history-revisions N  revisions kept for watches and continue tokens (default 100000)\n"
          "  --compact-interval S   seconds between history compactions (default 300)\n"
          "  --controllers LIST     controllers to run, comma-separated (default all:\n"
          "                         policy,certs,secrets,platform,gitops,appsets; opt-in:\n"
          "                         simulate, e.g. --controllers all,simulate)\n"
          "  --no-controllers       run the API server only\n"
          "  --bootstrap            seed DIR/platform.git from the reference platform and\n"
          "                         apply its root Application (GitOps from then on)\n"
          "  --platform SRC         the platform folder for --bootstrap (default:\n"
          "                         $IDP_PLATFORM_DIR, <exe>/../examples/platform)\n");
}

static int fail(const char *what, const idp_err *e) {
  fprintf(stderr, "idp up: %s: %s\n", what, e->msg);
  return 1;
}

static idp_code load_or_make_token(const char *path, bool generate, char **tok, idp_err *e) {
  idp_buf b;
  idp_buf_init(&b, 4096);
  idp_code c = idp_buf_read_file(&b, path, e);
  if (c == IDP_OK) {
    size_t n = b.len;
    while (n && (b.data[n - 1] == '\n' || b.data[n - 1] == '\r' || b.data[n - 1] == ' ')) n--;
    if (n == 0) {
      idp_buf_free(&b);
      return idp_err_set(e, IDP_EINVAL, "%s: the token file is empty", path);
    }
    b.data[n] = '\0';
    *tok = idp_buf_detach(&b, NULL);
    return IDP_OK;
  }
  idp_buf_free(&b);
  if (c != IDP_ENOTFOUND || !generate) return c;
  unsigned char raw[32];
  if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
    return idp_err_set(e, IDP_EIO, "no randomness for the token");
  char *t = malloc(2 * sizeof raw + 2);
  if (!t) return idp_err_set(e, IDP_ENOMEM, "token");
  for (size_t i = 0; i < sizeof raw; i++) snprintf(t + 2 * i, 3, "%02x", raw[i]);
  t[2 * sizeof raw] = '\n';
  t[2 * sizeof raw + 1] = '\0';
  c = idp_pki_write_private(path, t, strlen(t), e);
  t[2 * sizeof raw] = '\0';
  if (c) {
    free(t);
    return c;
  }
  *tok = t;
  return IDP_OK;
}

static char *b64(const char *s) {
  size_t n = strlen(s);
  char *out = malloc(4 * ((n + 2) / 3) + 1);
  if (!out) return NULL;
  EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
  return out;
}

/* The URL kubectl should use for a listen address (wildcards -> loopback). */
static void server_url(const char *listen, uint16_t port, char *buf, size_t n) {
  char host[256];
  if (listen[0] == '[') {
    const char *end = strchr(listen, ']');
    size_t l = end ? (size_t)(end - listen - 1) : 0;
    if (l >= sizeof host) l = 0;
    memcpy(host, listen + 1, l);
    host[l] = '\0';
    if (!strcmp(host, "::")) snprintf(host, sizeof host, "::1");
    snprintf(buf, n, "https://[%s]:%u", host, port);
    return;
  }
  const char *colon = strrchr(listen, ':');
  size_t l = colon ? (size_t)(colon - listen) : 0;
  if (l >= sizeof host) l = 0;
  memcpy(host, listen, l);
  host[l] = '\0';
  if (!*host || !strcmp(host, "0.0.0.0")) snprintf(host, sizeof host, "127.0.0.1");
  snprintf(buf, n, "https://%s:%u", host, port);
}

/* The kubeconfig text (YAML) for url/ca/token into out. */
static idp_code kubeconfig_text(idp_buf *out, const char *url, const char *ca, const char *token,
                                idp_err *e) {
  char *cad = b64(ca);
  if (!cad) return idp_err_set(e, IDP_ENOMEM, "kubeconfig");
  json_t *kc = json_pack(
      "{s:s, s:s, s:[{s:s, s:{s:s, s:s}}], s:[{s:s, s:{s:s}}], s:[{s:s, s:{s:s, s:s, s:s}}], "
      "s:s, s:{}}",
      "apiVersion", "v1", "kind", "Config", "clusters", "name", "idp", "cluster", "server", url,
      "certificate-authority-data", cad, "users", "name", "idp-admin", "user", "token", token,
      "contexts", "name", "idp", "context", "cluster", "idp", "user", "idp-admin", "namespace",
      "default", "current-context", "idp", "preferences");
  free(cad);
  if (!kc) return idp_err_set(e, IDP_ENOMEM, "kubeconfig");
  idp_code c = idp_yaml_emit(out, kc, 0, e);
  json_decref(kc);
  return c;
}

/* ---- embedded controllers ------------------------------------------------
 * Each runs in-process and talks to this server through the client module
 * (the same path as against a real cluster).  A controller that fails to
 * start is reported and skipped: the API server keeps serving. */

/* The policy engine is also the server's admission chain. */
static _Atomic(pol_controllers *) policy_ctl;
static _Thread_local pol_admit_out tl_out;
static _Thread_local bool tl_have;

static void tl_clear(void) {
  if (tl_have) pol_admit_out_clear(&tl_out);
  tl_have = false;
}

static idp_code policy_admit(void *ctx, const json_t *request, json_t **obj, json_t *warnings,
                             idp_err *e) {
  IDP_UNUSED(ctx);
  tl_clear();
  pol_controllers *pc = atomic_load(&policy_ctl);
  if (!pc) return IDP_OK;
  const char *op = idp_json_get_str(request, "operation", NULL);
  const char *group = idp_json_get_str(request, "kind", "group", NULL);
  const char *kind = idp_json_get_str(request, "kind", "kind", NULL);
  bool is_policy = group && kind && !strcmp(group, "kyverno.io") &&
                   (!strcmp(kind, "ClusterPolicy") || !strcmp(kind, "Policy"));
  if (is_policy && *obj && op && strcmp(op, "DELETE")) {
    idp_code c = pol_admission_validate_policy(*obj, e);
    if (c) return c;
  }
  /* no policies: nothing to evaluate (the common case, and the hot path) */
  pol_set *set = pol_admission_snapshot(pol_controllers_adm(pc));
  size_t npol = set ? pol_set_size(set) : 0;
  pol_set_release(set);
  if (npol == 0) return IDP_OK;
  pol_admit_out out = {0};
  idp_code c = pol_admit_ex(pol_controllers_adm(pc), request, POL_ADMIT_ALL, &out, e);
  if (c) {
    pol_admit_out_clear(&out);
    if (op && !strcmp(op, "DELETE")) {
      idp_err_clear(e); /* nothing to evaluate for this delete */
      return IDP_OK;
    }
    return c;
  }
  if (!out.allowed) {
    const char *msg = idp_json_get_str(out.response, "status", "message", NULL);
    c = idp_err_set(e, IDP_EINVAL, "%s%s", pol_admission_denial_prefix(false), msg ? msg : "");
    pol_admit_out_clear(&out);
    return c;
  }
  size_t i;
  json_t *w;
  json_array_foreach(json_object_get(out.response, "warnings"), i, w) {
    if (json_is_string(w)) json_array_append(warnings, w);
  }
  if (out.patched && *obj) *obj = json_incref(out.patched);
  if (out.generate) {
    tl_out = out;
    tl_have = true;
  } else {
    pol_admit_out_clear(&out);
  }
  return IDP_OK;
}

static void policy_admitted(void *ctx, const json_t *stored) {
  IDP_UNUSED(ctx);
  pol_controllers *pc = atomic_load(&policy_ctl);
  if (tl_have && stored && pc) pol_controllers_admitted(pc, stored, &tl_out);
  tl_clear();
}

static const char *up_data_dir; /* for controllers that keep files */

static void on_started(void *ud, const char *name, void *handle) {
  IDP_UNUSED(ud);
  /* the policy engine is the admission chain from the moment it runs */
  if (!strcmp(name, "policy")) atomic_store(&policy_ctl, (pol_controllers *)handle);
  printf("controller %s: running\n", name);
  fflush(stdout);
}

static void on_failed(void *ud, const char *name, const idp_err *e) {
  IDP_UNUSED(ud);
  IDP_UNUSED(name);
  fprintf(stderr, "idp up: %s (not started; the API server keeps serving)\n", e->msg);
}

static idp_controllers *running;

static void start_controllers(idp_kclient *kc, const char *list) {
  idp_ctrl_config cfg = {.data_dir = up_data_dir, .install_crds = true, .no_kubelet = true,
                         .keep_going = true, .on_started = on_started, .on_failed = on_failed};
  idp_err e = IDP_ERR_INIT;
  if (idp_controllers_start(kc, &cfg, list, &running, &e))
    fprintf(stderr, "idp up: controllers: %s\n", e.msg);
}

/* Controllers start in the background (each waits for its CRDs and caches)
 * so that the server answers and signals are handled meanwhile. */
typedef struct starter {
  idp_kclient *kc;
  const char *list;
  bool bootstrap;         /* seed and apply the reference platform */
  const char *platform;   /* its folder; NULL = found by up_find_platform_dir */
  atomic_bool done;
  pthread_t th;
  bool running;
} starter;

/* The reference platform as a local Git repository, followed by the
 * embedded GitOps engine through its root Application. */
static void bootstrap_platform(starter *st) {
  char buf[4096];
  const char *src = st->platform ? st->platform : up_find_platform_dir(buf, sizeof buf);
  if (!src) {
    fprintf(stderr, "idp up: --bootstrap: no platform folder found (set IDP_PLATFORM_DIR)\n");
    return;
  }
  idp_err e = IDP_ERR_INIT;
  char *repo = NULL;
  if (up_bootstrap_repo(src, up_data_dir, &repo, &e) ||
      up_bootstrap_secrets(st->kc, repo, &e) || up_bootstrap_root(st->kc, repo, &e)) {
    fprintf(stderr, "idp up: bootstrap of %s failed: %s\n", src, e.msg);
  } else {
    printf("platform: %s (git repository %s)\n", src, repo);
    fflush(stdout);
  }
  free(repo);
}

static void *starter_main(void *arg) {
  starter *st = arg;
  start_controllers(st->kc, st->list);
  if (st->bootstrap) bootstrap_platform(st);
  atomic_store(&st->done, true);
  return NULL;
}

static void stop_controllers(void) {
  atomic_store(&policy_ctl, NULL);
  idp_controllers_stop(running);
  running = NULL;
}

int cmd_up(int argc, char **argv) {
  const char *data_dir = NULL, *listen = "127.0.0.1:6443", *token_file = NULL;
  const char *sans[MAX_SANS + 1] = {0};
  size_t nsans = 0;
  long long history = 0, compact_every = COMPACT_EVERY_S;
  const char *ctl_list = NULL, *platform_dir = NULL;
  bool no_controllers = false, bootstrap = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage();
      return 0;
    }
    if (!strcmp(a, "--no-controllers")) {
      no_controllers = true;
      continue;
    }
    if (!strcmp(a, "--bootstrap")) {
      bootstrap = true;
      continue;
    }
    if (!v) {
      fprintf(stderr, "idp up: unknown or incomplete option '%s'\n", a);
      usage();
      return 2;
    }
    if (!strcmp(a, "--data-dir")) {
      data_dir = v;
    } else if (!strcmp(a, "--listen")) {
      listen = v;
    } else if (!strcmp(a, "--token-file")) {
      token_file = v;
    } else if (!strcmp(a, "--history-revisions") || !strcmp(a, "--compact-interval")) {
      char *end;
      errno = 0;
      long long n = strtoll(v, &end, 10);
      if (errno || *end || n < 1) {
        fprintf(stderr, "idp up: %s: expected a positive integer, got '%s'\n", a, v);
        return 2;
      }
      if (a[2] == 'h')
        history = n;
      else
        compact_every = n;
    } else if (!strcmp(a, "--platform")) {
      platform_dir = v;
      bootstrap = true;
    } else if (!strcmp(a, "--controllers")) {
      idp_err ce = IDP_ERR_INIT;
      if (idp_controllers_check(v, &ce)) {
        fprintf(stderr, "idp up: --controllers: %s\n", ce.msg);
        return 2;
      }
      ctl_list = v;
    } else if (!strcmp(a, "--tls-san")) {
      if (nsans == MAX_SANS) {
        fprintf(stderr, "idp up: at most %d --tls-san names\n", MAX_SANS);
        return 2;
      }
      sans[nsans++] = v;
    } else {
      fprintf(stderr, "idp up: unknown option '%s'\n", a);
      usage();
      return 2;
    }
    i++;
  }
  char dir[4096];
  if (data_dir) {
    snprintf(dir, sizeof dir, "%s", data_dir);
  } else {
    const char *home = getenv("HOME");
    snprintf(dir, sizeof dir, "%s/.idp", home && *home ? home : ".");
  }
  idp_err e = IDP_ERR_INIT;
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    fprintf(stderr, "idp up: %s: %s\n", dir, strerror(errno));
    return 1;
  }
  /* signals are taken synchronously by this thread; block before threads start */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  idp_pki_serving pki;
  if (idp_pki_ensure_serving(dir, sans, &pki, &e)) return fail("certificates", &e);
  char path[4200];
  char *token = NULL;
  snprintf(path, sizeof path, "%s/token", dir);
  if (load_or_make_token(token_file ? token_file : path, !token_file, &token, &e)) {
    idp_pki_serving_free(&pki);
    return fail("token", &e);
  }
  char db[4200];
  snprintf(db, sizeof db, "%s/state.db", dir);
  idp_store_opts so = {.path = db, .history_revisions = history};
  idp_store *store = NULL;
  if (idp_store_open(&so, &store, &e)) {
    idp_pki_serving_free(&pki);
    free(token);
    return fail("store", &e);
  }
  idp_apiserver_opts ao = {.store = store,
                           .listen = listen,
                           .cert_pem = pki.cert,
                           .key_pem = pki.key,
                           .ca_pem = pki.ca_cert,
                           .token = token};
  idp_apiserver *srv = NULL;
  idp_kclient *kc = NULL;
  idp_buf kcfg;
  idp_buf_init(&kcfg, 1 << 20);
  int rc = 0;
  if (idp_apiserver_new(&ao, &srv, &e)) {
    rc = fail("api server", &e);
    goto out;
  }
  if (!no_controllers) idp_apiserver_set_admission(srv, policy_admit, policy_admitted, NULL);
  if (idp_apiserver_listen(srv, &e)) {
    rc = fail("api server", &e);
    goto out;
  }
  char url[512];
  server_url(listen, idp_apiserver_port(srv), url, sizeof url);
  snprintf(path, sizeof path, "%s/kubeconfig", dir);
  if (kubeconfig_text(&kcfg, url, pki.ca_cert, token, &e) ||
      idp_pki_write_private(path, idp_buf_str(&kcfg), kcfg.len, &e)) {
    rc = fail("kubeconfig", &e);
    goto out;
  }
  starter st = {.list = ctl_list, .bootstrap = bootstrap, .platform = platform_dir};
  atomic_init(&st.done, false);
  if (!no_controllers) {
    idp_kconfig *cfg = NULL;
    if (idp_kconfig_load_data(idp_buf_str(&kcfg), kcfg.len, path, dir, NULL, &cfg, &e) ||
        idp_kclient_new(cfg, NULL, &kc, &e)) {
      fprintf(stderr, "idp up: controllers not started: %s\n", e.msg);
    } else {
      up_data_dir = dir;
      st.kc = kc;
      st.running = pthread_create(&st.th, NULL, starter_main, &st) == 0;
      if (!st.running) fprintf(stderr, "idp up: controllers not started: no thread\n");
    }
    idp_kconfig_free(cfg);
  }
  printf("idp API server: %s\n", url);
  printf("kubeconfig:     %s\n", path);
  printf("  export KUBECONFIG=%s\n", path);
  printf("note: embedded mode runs no workloads (there is no kubelet); platform objects are real\n");
  printf("ready\n");
  fflush(stdout);
  idp_log(IDP_LOG_INFO, "api server ready", "url", url, "kubeconfig", path, NULL);
  time_t last_compact = time(NULL);
  for (;;) {
    struct timespec ts = {.tv_sec = compact_every < 30 ? compact_every : 30};
    int sig = sigtimedwait(&set, NULL, &ts);
    if (sig == SIGINT || sig == SIGTERM) break;
    if (time(NULL) - last_compact >= compact_every) {
      idp_err ce = IDP_ERR_INIT;
      if (idp_store_compact(store, &ce))
        idp_log(IDP_LOG_WARN, "store compaction failed", "error", ce.msg, NULL);
      last_compact = time(NULL);
    }
  }
  printf("stopping\n");
  fflush(stdout);
  if (st.running) {
    if (!atomic_load(&st.done)) {
      /* a controller is still starting (waiting for caches): leave it to
       * the process exit rather than free what its thread uses */
      idp_log(IDP_LOG_WARN, "stopping while controllers start", NULL);
      return rc;
    }
    pthread_join(st.th, NULL);
  }
out:
  stop_controllers();
  idp_kclient_free(kc);
  idp_buf_free(&kcfg);
  idp_apiserver_free(srv);
  idp_store_close(store);
  idp_pki_serving_free(&pki);
  free(token);
  return rc;
}
