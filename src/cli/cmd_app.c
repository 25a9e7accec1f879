/* cmd_app.c: `idp app` — Argo CD Applications from the command line, and the
 * Application controller as a process of its own.
 *
 *   idp app list                       NAME SYNC HEALTH REVISION PROJECT
 *   idp app get NAME                   status summary and resources
 *   idp app sync NAME [--prune] [--revision R]   requests a sync (operation)
 *   idp app history NAME               ID DATE REVISION
 *   idp app diff NAME                  live vs desired (from Git), like kubectl diff:
 *                                      exit 0 = no difference, 1 = differences
 *   idp app rollback NAME [ID]         re-syncs a history entry (default: the
 *                                      previous one); refused with auto-sync
 *   idp app controller --data-dir D    runs the controller until SIGINT/TERM
 *        [--webhook-listen H:P] [--webhook-secret S] [--gitlab-secret S]
 *        [--resync-ms N] [--wave-delay-ms N] [--workers N] [--skip-health-wait]
 *        [--health-timeout-ms N] [--instance-label KEY]
 *        [--application-namespaces GLOB,...]
 * Common: --kubeconfig F (default $KUBECONFIG...), -n/--namespace NS (argocd). */
#include "core/common.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

#include "client/client.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/yaml.h"
#include "gitops/app/app.h"

static void usage(void) {
  fprintf(stderr,
          "usage: idp app list|get|sync|diff|history|rollback|controller [NAME] [options]\n"
          "  --kubeconfig FILE   cluster to talk to (default: $KUBECONFIG, ~/.kube/config)\n"
          "  -n, --namespace NS  control-plane namespace (default argocd)\n"
          "  sync:      --prune  --revision REV\n"
          "  rollback:  NAME [HISTORY_ID]\n"
          "  controller: --data-dir DIR [--webhook-listen HOST:PORT] [--webhook-secret S]\n"
          "              [--gitlab-secret S] [--resync-ms N] [--wave-delay-ms N] [--workers N]\n"
          "              [--instance-label KEY] [--skip-health-wait] [--health-timeout-ms N]\n"
          "              [--application-namespaces GLOB,...]\n");
}

static const idp_kref APPS = {"argoproj.io", "v1alpha1", "applications", NULL, NULL, NULL};

static int fail(const char *what, const idp_err *e) {
  fprintf(stderr, "idp app: %s: %s\n", what, e->msg);
  return 1;
}

static const char *s_or(const json_t *o, const char *dflt, ...) __attribute__((sentinel));
static const char *s_or(const json_t *o, const char *dflt, ...) {
  va_list ap;
  va_start(ap, dflt);
  const json_t *cur = o;
  const char *k;
  while (cur && (k = va_arg(ap, const char *))) cur = json_object_get(cur, k);
  va_end(ap);
  const char *s = json_string_value(cur);
  return s ? s : dflt;
}

static int get_app(idp_kclient *kc, const char *ns, const char *name, json_t **out) {
  idp_kref r = APPS;
  r.ns = ns;
  r.name = name;
  idp_err e = IDP_ERR_INIT;
  if (idp_kclient_get(kc, &r, out, &e)) return fail(name, &e);
  return 0;
}

static int do_list(idp_kclient *kc, const char *ns) {
  idp_kref r = APPS;
  r.ns = ns;
  json_t *list = NULL;
  idp_err e = IDP_ERR_INIT;
  if (idp_kclient_list_all(kc, &r, NULL, &list, &e)) return fail("list", &e);
  printf("%-32s %-10s %-12s %-12s %s\n", "NAME", "SYNC", "HEALTH", "REVISION", "PROJECT");
  size_t i;
  json_t *a;
  json_array_foreach(json_object_get(list, "items"), i, a) {
    printf("%-32s %-10s %-12s %-12.8s %s\n", s_or(a, "", "metadata", "name", NULL),
           s_or(a, "Unknown", "status", "sync", "status", NULL),
           s_or(a, "Unknown", "status", "health", "status", NULL),
           s_or(a, "", "status", "sync", "revision", NULL),
           s_or(a, "default", "spec", "project", NULL));
  }
  json_decref(list);
  return 0;
}

static int do_get(idp_kclient *kc, const char *ns, const char *name) {
  json_t *a = NULL;
  if (get_app(kc, ns, name, &a)) return 1;
  printf("Name:          %s/%s\n", ns, name);
  printf("Project:       %s\n", s_or(a, "default", "spec", "project", NULL));
  printf("Repo:          %s\n", s_or(a, "", "spec", "source", "repoURL", NULL));
  printf("Path:          %s\n", s_or(a, "", "spec", "source", "path", NULL));
  printf("Target:        %s\n", s_or(a, "HEAD", "spec", "source", "targetRevision", NULL));
  printf("Sync Status:   %s (%s)\n", s_or(a, "Unknown", "status", "sync", "status", NULL),
         s_or(a, "", "status", "sync", "revision", NULL));
  printf("Health Status: %s\n", s_or(a, "Unknown", "status", "health", "status", NULL));
  json_t *os = idp_json_get(a, "status", "operationState", NULL);
  if (os)
    printf("Operation:     %s: %s\n", s_or(os, "", "phase", NULL), s_or(os, "", "message", NULL));
  size_t i;
  json_t *c;
  json_array_foreach(idp_json_get(a, "status", "conditions", NULL), i, c)
    printf("Condition:     %s: %s\n", s_or(c, "", "type", NULL), s_or(c, "", "message", NULL));
  printf("\n%-10s %-24s %-16s %-32s %-10s %s\n", "GROUP", "KIND", "NAMESPACE", "NAME", "STATUS",
         "HEALTH");
  json_array_foreach(idp_json_get(a, "status", "resources", NULL), i, c)
    printf("%-10s %-24s %-16s %-32s %-10s %s\n", s_or(c, "", "group", NULL),
           s_or(c, "", "kind", NULL), s_or(c, "", "namespace", NULL), s_or(c, "", "name", NULL),
           s_or(c, "", "status", NULL), s_or(c, "", "health", "status", NULL));
  json_decref(a);
  return 0;
}

static int set_operation(idp_kclient *kc, const char *ns, const char *name, json_t *sync) {
  json_t *patch = json_pack("{s:{s:o, s:{s:s}}}", "operation", "sync", sync, "initiatedBy",
                            "username", "idp-cli");
  idp_kref r = APPS;
  r.ns = ns;
  r.name = name;
  idp_err e = IDP_ERR_INIT;
  idp_code rc = idp_kclient_patch(kc, &r, IDP_PATCH_MERGE, patch, NULL, NULL, &e);
  json_decref(patch);
  if (rc) return fail(name, &e);
  return 0;
}

/* Waits (up to 120 s) until the operation is gone and operationState is
 * final; prints the result. */
static int wait_op(idp_kclient *kc, const char *ns, const char *name) {
  for (int i = 0; i < 1200; i++) {
    json_t *a = NULL;
    idp_kref r = APPS;
    r.ns = ns;
    r.name = name;
    idp_err e = IDP_ERR_INIT;
    if (idp_kclient_get(kc, &r, &a, &e) == IDP_OK && !json_object_get(a, "operation")) {
      const char *ph = s_or(a, "", "status", "operationState", "phase", NULL);
      if (strcmp(ph, "Running") != 0 && *ph) {
        printf("%s: %s (%s)\n", name, ph, s_or(a, "", "status", "operationState", "message", NULL));
        int rc = strcmp(ph, "Succeeded") == 0 ? 0 : 1;
        json_decref(a);
        return rc;
      }
    }
    json_decref(a);
    struct timespec ts = {0, 100000000};
    nanosleep(&ts, NULL);
  }
  fprintf(stderr, "idp app: %s: operation did not finish within 120 s\n", name);
  return 1;
}

static int do_history(idp_kclient *kc, const char *ns, const char *name) {
  json_t *a = NULL;
  if (get_app(kc, ns, name, &a)) return 1;
  printf("%-4s %-22s %s\n", "ID", "DATE", "REVISION");
  size_t i;
  json_t *h;
  json_array_foreach(idp_json_get(a, "status", "history", NULL), i, h)
    printf("%-4lld %-22s %s\n", (long long)json_integer_value(json_object_get(h, "id")),
           s_or(h, "", "deployedAt", NULL), s_or(h, "", "revision", NULL));
  json_decref(a);
  return 0;
}

static int do_rollback(idp_kclient *kc, const char *ns, const char *name, const char *id_s) {
  json_t *a = NULL;
  if (get_app(kc, ns, name, &a)) return 1;
  if (json_is_object(idp_json_get(a, "spec", "syncPolicy", "automated", NULL)) &&
      !json_is_false(idp_json_get(a, "spec", "syncPolicy", "automated", "enabled", NULL))) {
    fprintf(stderr, "idp app: rollback cannot be initiated when auto-sync is enabled\n");
    json_decref(a);
    return 1;
  }
  json_t *hist = idp_json_get(a, "status", "history", NULL);
  json_t *pick = NULL;
  if (id_s) {
    char *end;
    long long id = strtoll(id_s, &end, 10);
    if (*end || end == id_s) {
      fprintf(stderr, "idp app: history id '%s' is not a number\n", id_s);
      json_decref(a);
      return 2;
    }
    size_t i;
    json_t *h;
    json_array_foreach(hist, i, h)
      if (json_integer_value(json_object_get(h, "id")) == id) pick = h;
  } else if (json_array_size(hist) >= 2) {
    pick = json_array_get(hist, json_array_size(hist) - 2);
  }
  if (!pick) {
    fprintf(stderr, "idp app: %s: application %s has no such history entry\n",
            id_s ? id_s : "previous", name);
    json_decref(a);
    return 1;
  }
  json_t *sync = json_pack("{s:s, s:b}", "revision", s_or(pick, "", "revision", NULL), "prune", 0);
  if (json_is_object(json_object_get(pick, "source")))
    json_object_set(sync, "source", json_object_get(pick, "source"));
  int rc = set_operation(kc, ns, name, sync);
  json_decref(a);
  return rc ? rc : wait_op(kc, ns, name);
}

static int run_argv(char *const argv[]) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    execvp(argv[0], argv);
    _exit(127);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int write_yaml(const char *path, const json_t *v) {
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  idp_err e = IDP_ERR_INIT;
  int rc = -1;
  if (!v || idp_yaml_emit(&b, v, 0, &e) == IDP_OK) {
    FILE *f = fopen(path, "w");
    if (f) {
      fwrite(b.data ? b.data : "", 1, b.len, f);
      rc = fclose(f) == 0 ? 0 : -1;
    }
  }
  idp_buf_free(&b);
  return rc;
}

static int do_diff(idp_kclient *kc, const char *ns, const char *name) {
  char dir[] = "/tmp/idp-app-diff.XXXXXX";
  if (!mkdtemp(dir)) {
    fprintf(stderr, "idp app: diff: cannot make a temporary directory\n");
    return 2;
  }
  json_t *res = NULL;
  idp_err e = IDP_ERR_INIT;
  int rc = 0;
  if (idp_app_diff(kc, ns, name, dir, &res, &e)) {
    rc = fail(name, &e) + 1;
  } else {
    char lp[600], dp[600];
    snprintf(lp, sizeof lp, "%s/live.yaml", dir);
    snprintf(dp, sizeof dp, "%s/desired.yaml", dir);
    size_t i;
    json_t *r;
    json_array_foreach(res, i, r) {
      const char *st = s_or(r, "", "status", NULL);
      if (!strcmp(st, "Synced")) continue;
      rc = 1;
      char label[700], ll[760], dl[760];
      snprintf(label, sizeof label, "%s%s%s/%s/%s", s_or(r, "", "group", NULL),
               *s_or(r, "", "group", NULL) ? "/" : "", s_or(r, "", "kind", NULL),
               s_or(r, "", "namespace", NULL), s_or(r, "", "name", NULL));
      printf("===== %s (%s) ======\n", label, st);
      fflush(stdout);
      snprintf(ll, sizeof ll, "live/%s", label);
      snprintf(dl, sizeof dl, "desired/%s", label);
      if (write_yaml(lp, json_object_get(r, "live")) ||
          write_yaml(dp, json_object_get(r, "desired"))) {
        fprintf(stderr, "idp app: diff: cannot write %s\n", dir);
        rc = 2;
        break;
      }
      char *argv[] = {"diff", "-u", "--label", ll, "--label", dl, lp, dp, NULL};
      if (run_argv(argv) > 1) printf("(diff(1) is not available)\n");
      fflush(stdout);
    }
  }
  json_decref(res);
  char *rm[] = {"rm", "-rf", dir, NULL};
  run_argv(rm);
  return rc;
}

static volatile sig_atomic_t stop_flag;
static void on_sig(int s) {
  IDP_UNUSED(s);
  stop_flag = 1;
}

static int do_controller(idp_kclient *kc, const char *ns, int argc, char **argv) {
  idp_app_opts o = {.namespace_ = ns};
  for (int i = 0; i < argc; i++) {
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(argv[i], "--data-dir") && v)
      o.data_dir = argv[++i];
    else if (!strcmp(argv[i], "--webhook-listen") && v)
      o.webhook_listen = argv[++i];
    else if (!strcmp(argv[i], "--webhook-secret") && v)
      o.webhook_github_secret = argv[++i];
    else if (!strcmp(argv[i], "--gitlab-secret") && v)
      o.webhook_gitlab_secret = argv[++i];
    else if (!strcmp(argv[i], "--instance-label") && v)
      o.instance_label_key = argv[++i];
    else if (!strcmp(argv[i], "--skip-health-wait"))
      o.skip_health_wait = true;
    else if (!strcmp(argv[i], "--application-namespaces") && v)
      o.application_namespaces = argv[++i];
    else if ((!strcmp(argv[i], "--resync-ms") || !strcmp(argv[i], "--wave-delay-ms") ||
              !strcmp(argv[i], "--workers") || !strcmp(argv[i], "--jitter-ms") ||
              !strcmp(argv[i], "--health-timeout-ms")) &&
             v) {
      char *end;
      long long n = strtoll(v, &end, 10);
      if (*end || end == v) {
        fprintf(stderr, "idp app: %s: not a number: %s\n", argv[i], v);
        return 2;
      }
      if (!strcmp(argv[i], "--resync-ms"))
        o.resync_ms = (long)n;
      else if (!strcmp(argv[i], "--wave-delay-ms"))
        o.wave_delay_ms = n ? (long)n : -1;
      else if (!strcmp(argv[i], "--jitter-ms"))
        o.jitter_ms = n ? (long)n : -1;
      else if (!strcmp(argv[i], "--health-timeout-ms"))
        o.health_timeout_ms = (long)n;
      else
        o.workers = (int)n;
      i++;
    } else {
      fprintf(stderr, "idp app controller: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  if (!o.data_dir) {
    fprintf(stderr, "idp app controller: --data-dir is required\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, on_sig);
  signal(SIGTERM, on_sig);
  idp_app *a = NULL;
  idp_err e = IDP_ERR_INIT;
  if (idp_app_start(kc, &o, &a, &e)) return fail("controller", &e);
  if (o.webhook_listen) printf("webhook: http://%s/api/webhook\n", o.webhook_listen);
  printf("application controller running (namespace %s)\n", ns);
  fflush(stdout);
  while (!stop_flag) {
    struct timespec ts = {0, 200000000};
    nanosleep(&ts, NULL);
  }
  idp_app_stop(a);
  return 0;
}

int cmd_app(int argc, char **argv) {
  const char *kcfg = NULL, *ns = "argocd", *revision = NULL;
  bool prune = false;
  char *pos[4] = {0};
  int npos = 0;
  char **rest = NULL;
  int nrest = 0;
  if (argc < 2) {
    usage();
    return 2;
  }
  const char *verb = argv[1];
  bool ctl = strcmp(verb, "controller") == 0;
  char **keep = calloc((size_t)argc, sizeof *keep);
  if (!keep) return 1;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--kubeconfig") && i + 1 < argc)
      kcfg = argv[++i];
    else if ((!strcmp(argv[i], "-n") || !strcmp(argv[i], "--namespace")) && i + 1 < argc)
      ns = argv[++i];
    else if (!ctl && !strcmp(argv[i], "--prune"))
      prune = true;
    else if (!ctl && !strcmp(argv[i], "--revision") && i + 1 < argc)
      revision = argv[++i];
    else if (ctl)
      keep[nrest++] = argv[i];
    else if (argv[i][0] != '-' && npos < 4)
      pos[npos++] = argv[i];
    else {
      fprintf(stderr, "idp app: unknown argument %s\n", argv[i]);
      free(keep);
      usage();
      return 2;
    }
  }
  rest = keep;
  idp_kconfig *cfg = NULL;
  idp_kclient *kc = NULL;
  idp_err e = IDP_ERR_INIT;
  if (idp_kconfig_load_default(kcfg, NULL, &cfg, &e) || idp_kclient_new(cfg, NULL, &kc, &e)) {
    idp_kconfig_free(cfg);
    free(keep);
    return fail("kubeconfig", &e);
  }
  idp_kconfig_free(cfg);
  int rc = 2;
  if (!strcmp(verb, "list")) {
    rc = do_list(kc, ns);
  } else if (ctl) {
    rc = do_controller(kc, ns, nrest, rest);
  } else if (npos < 1) {
    usage();
  } else if (!strcmp(verb, "get")) {
    rc = do_get(kc, ns, pos[0]);
  } else if (!strcmp(verb, "sync")) {
    json_t *sync = json_pack("{s:b}", "prune", prune);
    if (revision) json_object_set_new(sync, "revision", json_string(revision));
    rc = set_operation(kc, ns, pos[0], sync);
    if (!rc) rc = wait_op(kc, ns, pos[0]);
  } else if (!strcmp(verb, "diff")) {
    rc = do_diff(kc, ns, pos[0]);
  } else if (!strcmp(verb, "history")) {
    rc = do_history(kc, ns, pos[0]);
  } else if (!strcmp(verb, "rollback")) {
    rc = do_rollback(kc, ns, pos[0], npos > 1 ? pos[1] : NULL);
  } else {
    usage();
  }
  idp_kclient_free(kc);
  free(keep);
  return rc;
}
