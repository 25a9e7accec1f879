/* simulate_run: runs the workload simulator against a kubeconfig until
 * SIGINT/SIGTERM (tests/integration/simulate_workloads.sh uses it next to
 * `idp up` until `idp up --simulate-workloads` starts it itself).
 *   simulate_run --kubeconfig FILE [--delay-ms N] [--create-pods] */
#include "core/common.h"

#include <signal.h>
#include <unistd.h>

#include "client/client.h"
#include "core/log.h"
#include "simulate/simulate.h"

static volatile sig_atomic_t stop;
static void on_sig(int s) {
  (void)s;
  stop = 1;
}

int main(int argc, char **argv) {
  const char *kcfg = NULL;
  idp_simulate_opts o = {0};
  for (int i = 1; i < argc; i++) {
    char *end = NULL;
    if (!strcmp(argv[i], "--kubeconfig") && i + 1 < argc) kcfg = argv[++i];
    else if (!strcmp(argv[i], "--delay-ms") && i + 1 < argc) {
      o.delay_ms = strtol(argv[++i], &end, 10);
      if (!end || *end) {
        fprintf(stderr, "simulate_run: --delay-ms: not a number: %s\n", argv[i]);
        return 2;
      }
    } else if (!strcmp(argv[i], "--create-pods")) o.create_pods = true;
    else {
      fprintf(stderr, "usage: simulate_run --kubeconfig FILE [--delay-ms N] [--create-pods]\n");
      return 2;
    }
  }
  idp_log_set_level(IDP_LOG_INFO);
  idp_err e = IDP_ERR_INIT;
  idp_kconfig *cfg = NULL;
  idp_kclient *kc = NULL;
  idp_simulate *s = NULL;
  if (idp_kconfig_load_default(kcfg, NULL, &cfg, &e) || idp_kclient_new(cfg, NULL, &kc, &e)) {
    fprintf(stderr, "simulate_run: %s\n", e.msg);
    return 1;
  }
  idp_kconfig_free(cfg);
  if (idp_simulate_install_crds(kc, &e) || idp_simulate_start(kc, &o, &s, &e)) {
    fprintf(stderr, "simulate_run: %s\n", e.msg);
    idp_kclient_free(kc);
    return 1;
  }
  signal(SIGINT, on_sig);
  signal(SIGTERM, on_sig);
  fprintf(stderr, "simulate_run: simulator started\n");
  while (!stop) pause();
  idp_simulate_stats st;
  idp_simulate_get_stats(s, &st);
  fprintf(stderr,
          "simulate_run: status_writes=%lu meta_patches=%lu creates=%lu deletes=%lu scales=%lu\n",
          st.status_writes, st.meta_patches, st.creates, st.deletes, st.scales);
  idp_simulate_stop(s);
  idp_kclient_free(kc);
  return 0;
}
