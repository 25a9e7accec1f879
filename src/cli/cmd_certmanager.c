/* cmd_certmanager.c: `idp cert-manager` — runs the cert-manager compatible
 * controller (certs/controller/certmanager.h) against any API server named
 * by a kubeconfig (idp's embedded one or a real cluster) until SIGINT or
 * SIGTERM. */
#include "core/common.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#include "certs/controller/certmanager.h"
#include "client/client.h"

static void usage(void) {
  fprintf(stderr,
          "usage: idp cert-manager [--kubeconfig FILE] [--context NAME] [--workers N]\n"
          "                        [--cluster-resource-namespace NS] [--enable-certificate-owner-ref]\n"
          "                        [--disable-gateway-shim] [--disable-ingress-shim] [--skip-crds]\n"
          "                        [--leader-elect [--leader-election-namespace NS]]\n"
          "  Issuer/ClusterIssuer (selfSigned, ca) and Certificate, with the Gateway and Ingress shims.\n");
}

/* Leader election: the elector's callbacks only flip a flag and wake the
 * main thread (SIGUSR1), which starts or stops the controller. */
static atomic_int leading;
static void on_lead(void *ud) {
  (void)ud;
  atomic_store(&leading, 1);
  kill(getpid(), SIGUSR1);
}
static void on_lost(void *ud) {
  (void)ud;
  atomic_store(&leading, 2);
  kill(getpid(), SIGUSR1);
}

int cmd_certmanager(int argc, char **argv) {
  const char *kubeconfig = NULL, *context = NULL, *lease_ns = "kube-system";
  bool elect = false;
  idp_certctl_opts o = {0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    bool has = i + 1 < argc;
    if (!strcmp(a, "--kubeconfig") && has) kubeconfig = argv[++i];
    else if (!strcmp(a, "--context") && has) context = argv[++i];
    else if (!strcmp(a, "--cluster-resource-namespace") && has) o.cluster_resource_namespace = argv[++i];
    else if (!strcmp(a, "--workers") && has) {
      char *end;
      long long n = strtoll(argv[++i], &end, 10);
      if (*end || n < 1 || n > 64) {
        fprintf(stderr, "idp cert-manager: --workers: expected 1..64, got '%s'\n", argv[i]);
        return 2;
      }
      o.workers = (int)n;
    } else if (!strcmp(a, "--enable-certificate-owner-ref")) o.certificate_owner_ref = true;
    else if (!strcmp(a, "--disable-gateway-shim")) o.disable_gateway_shim = true;
    else if (!strcmp(a, "--disable-ingress-shim")) o.disable_ingress_shim = true;
    else if (!strcmp(a, "--skip-crds")) o.skip_crds = true;
    else if (!strcmp(a, "--leader-elect")) elect = true;
    else if (!strcmp(a, "--leader-election-namespace") && has) lease_ns = argv[++i];
    else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage();
      return 0;
    } else {
      fprintf(stderr, "idp cert-manager: unknown argument '%s'\n", a);
      usage();
      return 2;
    }
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  idp_err e = IDP_ERR_INIT;
  idp_kconfig *cfg = NULL;
  idp_kclient *kc = NULL;
  idp_certctl *ctl = NULL;
  if (idp_kconfig_load_default(kubeconfig, context, &cfg, &e) || idp_kclient_new(cfg, NULL, &kc, &e)) {
    fprintf(stderr, "idp cert-manager: %s\n", e.msg);
    idp_kconfig_free(cfg);
    return 1;
  }
  idp_kconfig_free(cfg);
  idp_leader *leader = NULL;
  if (elect) {
    idp_leader_opts lo = {.ns = lease_ns, .name = "cert-manager-controller", .release_on_stop = true,
                          .on_started_leading = on_lead, .on_stopped_leading = on_lost};
    if (idp_leader_new(kc, &lo, &leader, &e) || idp_leader_start(leader, &e)) {
      fprintf(stderr, "idp cert-manager: leader election: %s\n", e.msg);
      idp_leader_free(leader);
      idp_kclient_free(kc);
      return 1;
    }
  }
  int rc = 0;
  for (;;) {
    if ((!elect || atomic_load(&leading) == 1) && !ctl && idp_certctl_start(kc, &o, &ctl, &e)) {
      fprintf(stderr, "idp cert-manager: %s\n", e.msg);
      rc = 1;
      break;
    }
    if (elect && atomic_load(&leading) == 2) {
      /* controllers are not restarted after losing the Lease (client-go
       * exits too): a supervisor starts a fresh replica */
      fprintf(stderr, "idp cert-manager: leader election lost\n");
      rc = 1;
      break;
    }
    int sig = 0;
    sigwait(&set, &sig);
    if (sig != SIGUSR1) break;
  }
  idp_certctl_stop(ctl);
  if (leader) {
    idp_leader_stop(leader);
    idp_leader_free(leader);
  }
  idp_kclient_free(kc);
  return rc;
}
