/* cmd_appset.c: `idp appset` -- ApplicationSets.
 *
 *   idp appset render FILE [--namespace NS]
 *       prints the Applications the ApplicationSet(s) in FILE generate, as
 *       a YAML stream (no server; git generators read their repoURL, local
 *       paths and file:// directly, remote URLs cloned under $TMPDIR).
 *       Cluster generators see only the in-cluster destination.
 *   idp appset controller [--kubeconfig F] [--namespace NS] [--workers N]
 *                         [--git-poll-ms MS] [--git-cache DIR] [--policy P]
 *       runs the ApplicationSet controller until SIGINT/SIGTERM. */
#include "core/common.h"

#include <signal.h>
#include <time.h>

#include "cli/commands.h"
#include "client/client.h"
#include "core/json.h"
#include "core/yaml.h"
#include "gitops/appset/appset.h"

static void usage(void) {
  fprintf(stderr,
          "usage: idp appset render FILE [--namespace NS]\n"
          "       idp appset controller [--kubeconfig F] [--namespace NS] [--workers N]\n"
          "                             [--git-poll-ms MS] [--git-cache DIR] [--policy P]\n");
}

static int fail(const char *what, const idp_err *e) {
  fprintf(stderr, "idp appset %s: %s\n", what, e->msg);
  return 1;
}

static int do_render(const char *file, const char *ns) {
  json_t *docs = NULL;
  idp_err e = IDP_ERR_INIT;
  if (idp_yaml_load_file(file, NULL, &docs, &e)) return fail("render", &e);
  char cache[4096];
  snprintf(cache, sizeof cache, "%s/idp-appset-git", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  idp_asgit *git = NULL;
  if (idp_asgit_new(cache, 0, &git, &e)) {
    json_decref(docs);
    return fail("render", &e);
  }
  idp_appset_env env = {.git = git, .namespace = ns};
  json_t *all = json_array();
  int status = 0;
  size_t i;
  json_t *d;
  json_array_foreach(docs, i, d) {
    const char *kind = idp_json_get_str(d, "kind", NULL);
    if (!kind || strcmp(kind, "ApplicationSet")) continue;
    json_t *apps = NULL;
    idp_appset_reason reason;
    if (idp_appset_generate(&env, d, &apps, &reason, NULL, &e)) {
      fprintf(stderr, "idp appset render: %s: ApplicationSet %s: %s\n", file,
              idp_json_get_str(d, "metadata", "name", NULL) ? idp_json_get_str(d, "metadata", "name", NULL) : "?",
              e.msg);
      status = 1;
      continue;
    }
    json_array_extend(all, apps);
    json_decref(apps);
  }
  idp_buf out;
  idp_buf_init(&out, IDP_BUF_DEFAULT_MAX);
  if (idp_yaml_emit_stream(&out, all, 0, &e)) {
    status = fail("render", &e);
  } else if (out.len) {
    fwrite(out.data, 1, out.len, stdout);
  }
  idp_buf_free(&out);
  json_decref(all);
  json_decref(docs);
  idp_asgit_free(git);
  return status;
}

static volatile sig_atomic_t stop_flag;
static void on_sig(int s) {
  IDP_UNUSED(s);
  stop_flag = 1;
}

static int do_controller(idp_kclient *kc, idp_appset_opts *o) {
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, on_sig);
  signal(SIGTERM, on_sig);
  idp_appset *a = NULL;
  idp_err e = IDP_ERR_INIT;
  if (idp_appset_start(kc, o, &a, &e)) return fail("controller", &e);
  printf("applicationset controller running (namespace %s)\n", o->namespace);
  fflush(stdout);
  while (!stop_flag) {
    struct timespec ts = {0, 200000000};
    nanosleep(&ts, NULL);
  }
  idp_appset_stop(a);
  return 0;
}

int cmd_appset(int argc, char **argv) {
  if (argc < 2) {
    usage();
    return 2;
  }
  const char *verb = argv[1], *kcfg = NULL, *file = NULL;
  idp_appset_opts o = {.namespace = "argocd"};
  for (int i = 2; i < argc; i++) {
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(argv[i], "--kubeconfig") && v) kcfg = argv[++i];
    else if ((!strcmp(argv[i], "--namespace") || !strcmp(argv[i], "-n")) && v) o.namespace = argv[++i];
    else if (!strcmp(argv[i], "--git-cache") && v) o.git_cache = argv[++i];
    else if (!strcmp(argv[i], "--policy") && v) o.policy = argv[++i];
    else if ((!strcmp(argv[i], "--workers") || !strcmp(argv[i], "--git-poll-ms")) && v) {
      char *end;
      long long n = strtoll(v, &end, 10);
      if (*end || end == v) {
        fprintf(stderr, "idp appset: %s: not a number: %s\n", argv[i], v);
        return 2;
      }
      if (!strcmp(argv[i], "--workers")) o.workers = (int)n;
      else o.git_poll_ms = n ? (long)n : -1;
      i++;
    } else if (argv[i][0] != '-' && !file) {
      file = argv[i];
    } else {
      fprintf(stderr, "idp appset: unknown argument %s\n", argv[i]);
      usage();
      return 2;
    }
  }
  if (!strcmp(verb, "render")) {
    if (!file) {
      usage();
      return 2;
    }
    return do_render(file, o.namespace);
  }
  if (strcmp(verb, "controller") || file) {
    usage();
    return 2;
  }
  idp_kconfig *cfg = NULL;
  idp_kclient *kc = NULL;
  idp_err e = IDP_ERR_INIT;
  if (idp_kconfig_load_default(kcfg, NULL, &cfg, &e) || idp_kclient_new(cfg, NULL, &kc, &e)) {
    idp_kconfig_free(cfg);
    return fail("controller", &e);
  }
  idp_kconfig_free(cfg);
  int rc = do_controller(kc, &o);
  idp_kclient_free(kc);
  return rc;
}
