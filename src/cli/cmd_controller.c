/* cmd_controller.c: `idp controller` — the platform's controllers against
 * any Kubernetes API server (a real cluster, or a running `idp up`).
 *
 *   idp controller [--kubeconfig F] [--context C] [--controllers a,b|all]
 *                  [--namespace argocd] [--data-dir DIR] [--no-install-crds]
 *                  [--leader-elect] [--list]
 *
 * With --leader-elect, several replicas compete for the Lease
 * `idp-controller` in the control-plane namespace and only the holder runs
 * the controllers; losing the Lease exits (status 1) so the Deployment
 * restarts the pod into the competition, as client-go controllers do. */
#include "core/common.h"
#include "cli/commands.h"
#include "cli/controllers.h"
#include "client/kubeconfig.h"
#include "client/leader.h"
#include "core/log.h"

#include <signal.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t lost_lease;
static volatile sig_atomic_t leading;

static void on_signal(int sig) {
  IDP_UNUSED(sig);
  stop_requested = 1;
}
static void on_started(void *ud) {
  IDP_UNUSED(ud);
  leading = 1;
}
static void on_stopped(void *ud) {
  IDP_UNUSED(ud);
  lost_lease = 1;
}

static int usage(void) {
  fprintf(stderr,
          "usage: idp controller [--kubeconfig F] [--context C] [--controllers LIST|all]\n"
          "                      [--namespace NS] [--data-dir DIR] [--no-install-crds]\n"
          "                      [--leader-elect] [--list]\ncontrollers:\n");
  idp_controllers_list(stderr);
  return 2;
}

int cmd_controller(int argc, char **argv) {
  const char *kubeconfig = NULL, *context = NULL, *only = NULL, *data_dir = NULL;
  const char *ns = "argocd";
  bool install = true, leader_elect = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--kubeconfig") && v) kubeconfig = v, i++;
    else if (!strcmp(a, "--context") && v) context = v, i++;
    else if (!strcmp(a, "--controllers") && v) only = v, i++;
    else if (!strcmp(a, "--namespace") && v) ns = v, i++;
    else if (!strcmp(a, "--data-dir") && v) data_dir = v, i++;
    else if (!strcmp(a, "--no-install-crds")) install = false;
    else if (!strcmp(a, "--leader-elect")) leader_elect = true;
    else if (!strcmp(a, "--list")) {
      idp_controllers_list(stdout);
      return 0;
    } else return usage();
  }
  idp_err e = IDP_ERR_INIT;
  idp_kconfig *cfg = NULL;
  idp_kclient *kc = NULL;
  if (idp_kconfig_load_default(kubeconfig, context, &cfg, &e) ||
      idp_kclient_new(cfg, NULL, &kc, &e)) {
    fprintf(stderr, "idp controller: %s\n", e.msg);
    idp_kconfig_free(cfg);
    return 1;
  }
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  idp_leader *leader = NULL;
  int status = 0;
  if (leader_elect) {
    idp_leader_opts lo = {.ns = ns, .name = "idp-controller", .release_on_stop = true,
                          .on_started_leading = on_started, .on_stopped_leading = on_stopped};
    if (idp_leader_new(kc, &lo, &leader, &e) || idp_leader_start(leader, &e)) {
      fprintf(stderr, "idp controller: leader election: %s\n", e.msg);
      status = 1;
      goto out;
    }
    idp_log(IDP_LOG_INFO, "waiting for the leader lease", "namespace", ns, NULL);
    while (!leading && !stop_requested) usleep(100 * 1000);
    if (stop_requested) goto out;
  }

  idp_ctrl_config cc = {.data_dir = data_dir, .namespace_ = ns, .install_crds = install};
  idp_controllers *ctl = NULL;
  if (idp_controllers_start(kc, &cc, only, &ctl, &e)) {
    fprintf(stderr, "idp controller: %s\n", e.msg);
    status = 1;
    goto out;
  }
  printf("idp controller: running against %s (Ctrl-C to stop)\n", idp_kclient_server(kc));
  fflush(stdout);
  while (!stop_requested && !lost_lease) usleep(200 * 1000);
  if (lost_lease) {
    fprintf(stderr, "idp controller: lost the leader lease, exiting\n");
    status = 1;
  }
  idp_controllers_stop(ctl);
out:
  if (leader) {
    idp_leader_stop(leader);
    idp_leader_free(leader);
  }
  idp_kclient_free(kc);
  idp_kconfig_free(cfg);
  return status;
}
