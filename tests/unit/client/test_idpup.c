/* The client against the real embedded server: `idp up` writes a
 * kubeconfig (TLS, CA data, bearer token); kubeconfig -> client -> CRUD,
 * discovery, watch, informer, leader election.  Skipped, with the reason
 * printed, when the idp binary is missing or the server does not start. */
#include "../test.h"
#include "client/informer.h"
#include "client/kubeconfig.h"
#include "client/leader.h"
#include "client/rest.h"
#include "client/watch.h"
#include "core/json.h"
#include "core/log.h"

#include <arpa/inet.h>
#include <libgen.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t child = -1;
static char datadir[256];
static char skip_reason[512];
static idp_kclient *kc;

static int free_port(void) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t l = sizeof sa;
  if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof sa) ||
      getsockname(s, (struct sockaddr *)&sa, &l)) {
    if (s >= 0) close(s);
    return -1;
  }
  close(s);
  return ntohs(sa.sin_port);
}

static void find_binary(char *out, size_t n) {
  const char *env = getenv("IDP_BIN");
  if (env && *env) {
    snprintf(out, n, "%s", env);
    return;
  }
  /* build/tests/unit/client/test_idpup -> build/idp */
  char self[512];
  ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
  if (k <= 0) {
    out[0] = '\0';
    return;
  }
  self[k] = '\0';
  snprintf(out, n, "%s/../../../idp", dirname(self));
}

static int setup(void **state) {
  (void)state;
  char bin[600], kcpath[300], listen[64];
  find_binary(bin, sizeof bin);
  if (!*bin || access(bin, X_OK) != 0) {
    snprintf(skip_reason, sizeof skip_reason, "idp binary not found at %s", bin);
    return 0;
  }
  snprintf(datadir, sizeof datadir, "/tmp/idp-client-up-XXXXXX");
  if (!mkdtemp(datadir)) return -1;
  int port = free_port();
  snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
  snprintf(kcpath, sizeof kcpath, "%s/kubeconfig", datadir);
  char logpath[300];
  snprintf(logpath, sizeof logpath, "%s/up.log", datadir);
  child = fork();
  if (child == 0) {
    FILE *lf = freopen(logpath, "w", stdout);
    (void)lf;
    dup2(fileno(stdout), 2);
    execl(bin, bin, "up", "--data-dir", datadir, "--listen", listen, (char *)NULL);
    _exit(127);
  }
  /* Wait (<= 20 s) for the kubeconfig and an answering server. */
  idp_err e = IDP_ERR_INIT;
  for (int i = 0; i < 200; i++) {
    int st;
    if (waitpid(child, &st, WNOHANG) == child) {
      child = -1;
      snprintf(skip_reason, sizeof skip_reason, "idp up exited at start (see %s)", logpath);
      return 0;
    }
    idp_kconfig *cfg = NULL;
    if (access(kcpath, R_OK) == 0 && idp_kconfig_load_file(kcpath, NULL, &cfg, &e) == IDP_OK) {
      idp_kclient *c = NULL;
      if (idp_kclient_new(cfg, NULL, &c, &e) == IDP_OK) {
        json_t *v = NULL;
        if (idp_kclient_request(c, "GET", "/api", NULL, NULL, 0, NULL, &v, &e) == IDP_OK) {
          json_decref(v);
          kc = c;
          idp_kconfig_free(cfg);
          return 0;
        }
        idp_kclient_free(c);
      }
      idp_kconfig_free(cfg);
    }
    usleep(100 * 1000);
  }
  snprintf(skip_reason, sizeof skip_reason, "idp up did not answer within 20 s: %s", e.msg);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  idp_kclient_free(kc);
  if (child > 0) {
    kill(child, SIGTERM);
    int st;
    for (int i = 0; i < 50 && waitpid(child, &st, WNOHANG) == 0; i++) usleep(100 * 1000);
    kill(child, SIGKILL);
    waitpid(child, &st, 0);
  }
  if (*datadir) {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", datadir);
    if (system(cmd) != 0) return -1;
  }
  return 0;
}

#define NEED_SERVER()                                              \
  do {                                                             \
    if (!kc) {                                                     \
      printf("skipped: %s\n", skip_reason);                        \
      skip();                                                      \
    }                                                              \
  } while (0)

static void test_crud_tls_token(void **state) {
  (void)state;
  NEED_SERVER();
  idp_err e = IDP_ERR_INIT;
  idp_kgvr g;
  assert_int_equal(idp_kclient_resolve(kc, "v1", "ConfigMap", &g, &e), IDP_OK);
  assert_string_equal(g.resource, "configmaps");
  assert_true(g.namespaced);
  json_t *cm = json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s}},s:{s:s}}", "apiVersion", "v1", "kind",
                         "ConfigMap", "metadata", "name", "client-test", "namespace", "default",
                         "labels", "suite", "client", "data", "k", "1");
  idp_kref r;
  assert_int_equal(idp_kclient_ref_for(kc, cm, &g, &r, &e), IDP_OK);
  json_t *out = NULL;
  assert_int_equal(idp_kclient_create(kc, &r, cm, NULL, &out, &e), IDP_OK);
  const char *rv1 = idp_json_get_str(out, "metadata", "resourceVersion", NULL);
  assert_non_null(rv1);
  assert_non_null(idp_json_get_str(out, "metadata", "uid", NULL));
  json_t *stale = json_deep_copy(out);
  json_decref(out);
  assert_int_equal(idp_kclient_create(kc, &r, cm, NULL, &out, &e), IDP_EEXIST);
  /* merge patch, then a stale update conflicts */
  json_t *p = json_pack("{s:{s:s}}", "data", "k", "2");
  assert_int_equal(idp_kclient_patch(kc, &r, IDP_PATCH_MERGE, p, NULL, &out, &e), IDP_OK);
  assert_string_equal(idp_json_get_str(out, "data", "k", NULL), "2");
  json_decref(out);
  json_decref(p);
  assert_int_equal(idp_kclient_update(kc, &r, stale, NULL, &out, &e), IDP_ECONFLICT);
  json_decref(stale);
  /* list with a label selector */
  idp_kref coll = r;
  coll.name = NULL;
  idp_klist_opts lo = {.label_selector = "suite=client", .limit = 1};
  json_t *l = NULL;
  assert_int_equal(idp_kclient_list_all(kc, &coll, &lo, &l, &e), IDP_OK);
  assert_int_equal(json_array_size(json_object_get(l, "items")), 1);
  json_decref(l);
  assert_int_equal(idp_kclient_delete(kc, &r, NULL, NULL, &e), IDP_OK);
  assert_int_equal(idp_kclient_get(kc, &r, &out, &e), IDP_ENOTFOUND);
  json_decref(cm);
}

typedef struct counts {
  int adds, deletes;
} counts;
static void on_add(void *ud, const json_t *o) {
  (void)o;
  __atomic_fetch_add(&((counts *)ud)->adds, 1, __ATOMIC_SEQ_CST);
}
static void on_delete(void *ud, const json_t *o) {
  (void)o;
  __atomic_fetch_add(&((counts *)ud)->deletes, 1, __ATOMIC_SEQ_CST);
}

static void test_informer(void **state) {
  (void)state;
  NEED_SERVER();
  idp_err e = IDP_ERR_INIT;
  counts n = {0};
  idp_informer_opts o = {.resource = {"", "v1", "configmaps", "default", NULL, NULL},
                         .label_selector = "suite=informer", .watch_timeout_s = 30};
  idp_informer_handlers h = {on_add, NULL, on_delete, &n};
  idp_informer *inf = NULL;
  assert_int_equal(idp_informer_new(kc, &o, &h, &inf, &e), IDP_OK);
  assert_int_equal(idp_informer_start(inf, &e), IDP_OK);
  assert_true(idp_informer_wait_synced(inf, 10000));
  idp_kref r = {"", "v1", "configmaps", "default", "inf-a", NULL};
  json_t *cm = json_pack("{s:s,s:s,s:{s:s,s:{s:s}}}", "apiVersion", "v1", "kind", "ConfigMap",
                         "metadata", "name", "inf-a", "labels", "suite", "informer");
  idp_code rc = idp_kclient_create(kc, &r, cm, NULL, NULL, &e);
  if (rc) fprintf(stderr, "create: %s\n", e.msg);
  assert_int_equal(rc, IDP_OK);
  json_decref(cm);
  for (int i = 0; i < 500 && __atomic_load_n(&n.adds, __ATOMIC_SEQ_CST) < 1; i++)
    usleep(10000);
  assert_int_equal(n.adds, 1);
  json_t *c = idp_informer_get(inf, "default", "inf-a");
  assert_non_null(c);
  json_decref(c);
  assert_int_equal(idp_kclient_delete(kc, &r, NULL, NULL, &e), IDP_OK);
  for (int i = 0; i < 500 && __atomic_load_n(&n.deletes, __ATOMIC_SEQ_CST) < 1; i++)
    usleep(10000);
  assert_int_equal(n.deletes, 1);
  assert_int_equal(idp_informer_size(inf), 0);
  idp_informer_free(inf);
}

static void test_leader_lease(void **state) {
  (void)state;
  NEED_SERVER();
  idp_err e = IDP_ERR_INIT;
  idp_kgvr g;
  if (idp_kclient_resolve(kc, "coordination.k8s.io/v1", "Lease", &g, &e) != IDP_OK) {
    printf("skipped: the server has no Lease resource: %s\n", e.msg);
    skip();
  }
  idp_leader_opts o = {.ns = "default", .name = "client-test", .identity = "t1",
                       .lease_duration_ms = 3000, .renew_deadline_ms = 2000,
                       .retry_period_ms = 100};
  idp_leader *l = NULL;
  assert_int_equal(idp_leader_new(kc, &o, &l, &e), IDP_OK);
  bool lead = false;
  assert_int_equal(idp_leader_try_acquire_or_renew(l, &lead, &e), IDP_OK);
  assert_true(lead);
  assert_int_equal(idp_leader_try_acquire_or_renew(l, &lead, &e), IDP_OK);
  assert_true(lead);
  idp_leader_free(l);
}

int main(void) {
  idp_log_set_level(IDP_LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_crud_tls_token),
      cmocka_unit_test(test_informer),
      cmocka_unit_test(test_leader_lease),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
