/* platform_run: runs the Team and WebApplication controllers against a
 * kubeconfig until SIGINT/SIGTERM (tests/integration/platform_*.sh use it
 * until the controllers are wired into `idp up` / `idp controller`).
 *   platform_run --kubeconfig FILE [--workers N] [--istio] [--resync-ms N] */
#include "core/common.h"

#include <signal.h>
#include <unistd.h>

#include "client/client.h"
#include "core/log.h"
#include "platform/platform.h"

static volatile sig_atomic_t stop;
static void on_sig(int s) {
  (void)s;
  stop = 1;
}

int main(int argc, char **argv) {
  const char *kcfg = NULL;
  idp_platform_opts o = {.install_crds = true};
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--kubeconfig") && i + 1 < argc) kcfg = argv[++i];
    else if (!strcmp(argv[i], "--workers") && i + 1 < argc) o.workers = (int)strtol(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--resync-ms") && i + 1 < argc) o.resync_ms = strtol(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--istio")) o.istio = true;
    else {
      fprintf(stderr, "usage: platform_run --kubeconfig FILE [--workers N] [--istio] [--resync-ms N]\n");
      return 2;
    }
  }
  idp_log_set_level(IDP_LOG_INFO);
  idp_err e = IDP_ERR_INIT;
  idp_kconfig *cfg = NULL;
  idp_kclient *kc = NULL;
  idp_platform *p = NULL;
  if (idp_kconfig_load_default(kcfg, NULL, &cfg, &e) || idp_kclient_new(cfg, NULL, &kc, &e)) {
    fprintf(stderr, "platform_run: %s\n", e.msg);
    return 1;
  }
  idp_kconfig_free(cfg);
  if (idp_platform_start(kc, &o, &p, &e)) {
    fprintf(stderr, "platform_run: %s\n", e.msg);
    idp_kclient_free(kc);
    return 1;
  }
  signal(SIGINT, on_sig);
  signal(SIGTERM, on_sig);
  fprintf(stderr, "platform_run: controller started\n");
  while (!stop) pause();
  idp_platform_stop(p);
  idp_kclient_free(kc);
  return 0;
}
