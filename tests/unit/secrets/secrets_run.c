/* secrets_run: runs the secrets controller against a kubeconfig until
 * SIGINT/SIGTERM (the integration scripts use it next to `idp up` until
 * the controller is wired into `idp up` / `idp controller`).
 *   secrets_run --kubeconfig FILE [--workers N] */
#include "core/common.h"

#include <signal.h>
#include <unistd.h>

#include "client/client.h"
#include "core/log.h"
#include "secrets/secrets.h"

static volatile sig_atomic_t stop;
static void on_sig(int s) {
  (void)s;
  stop = 1;
}

int main(int argc, char **argv) {
  const char *kcfg = NULL;
  int workers = 4;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--kubeconfig") && i + 1 < argc) kcfg = argv[++i];
    else if (!strcmp(argv[i], "--workers") && i + 1 < argc) workers = (int)strtol(argv[++i], NULL, 10);
    else {
      fprintf(stderr, "usage: secrets_run --kubeconfig FILE [--workers N]\n");
      return 2;
    }
  }
  idp_log_set_level(IDP_LOG_INFO);
  idp_err e = IDP_ERR_INIT;
  idp_kconfig *cfg = NULL;
  idp_kclient *kc = NULL;
  idp_secrets *s = NULL;
  if (idp_kconfig_load_default(kcfg, NULL, &cfg, &e) || idp_kclient_new(cfg, NULL, &kc, &e)) {
    fprintf(stderr, "secrets_run: %s\n", e.msg);
    return 1;
  }
  idp_kconfig_free(cfg);
  if (idp_secrets_start(kc, &(idp_secrets_opts){.install_crds = true, .workers = workers}, &s, &e)) {
    fprintf(stderr, "secrets_run: %s\n", e.msg);
    idp_kclient_free(kc);
    return 1;
  }
  signal(SIGINT, on_sig);
  signal(SIGTERM, on_sig);
  fprintf(stderr, "secrets_run: controller started\n");
  while (!stop) pause();
  idp_secrets_stop(s);
  idp_kclient_free(kc);
  return 0;
}
