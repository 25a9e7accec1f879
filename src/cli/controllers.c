/* controllers.c: the table of controllers and their start/stop adapters
 * (see controllers.h).  Each adapter maps the shared idp_ctrl_config onto
 * its module's own options. */
#include "core/common.h"
#include "cli/controllers.h"
#include "core/log.h"
#include "gitops/app/app.h"
#include "gitops/appset/appset.h"
#include "platform/platform.h"
#include "certs/controller/certmanager.h"
#include "policy/controllers.h"
#include "secrets/secrets.h"
#include "simulate/simulate.h"

typedef struct ctrl_entry {
  const char *name;
  const char *help;
  idp_code (*start)(idp_kclient *kc, const idp_ctrl_config *cfg, void **handle, idp_err *e);
  void (*stop)(void *handle);
  bool opt_in; /* runs only when named, never as part of "all" */
} ctrl_entry;

static idp_code start_secrets(idp_kclient *kc, const idp_ctrl_config *cfg, void **h,
                              idp_err *e) {
  idp_secrets_opts o = {.install_crds = cfg->install_crds};
  return idp_secrets_start(kc, &o, (idp_secrets **)h, e);
}
static void stop_secrets(void *h) { idp_secrets_stop(h); }

static idp_code start_policy(idp_kclient *kc, const idp_ctrl_config *cfg, void **h,
                             idp_err *e) {
  /* Leader election is the caller's (idp controller --leader-elect) */
  pol_controllers_opts o = {.skip_crds = !cfg->install_crds};
  return pol_controllers_start(kc, &o, (pol_controllers **)h, e);
}
static void stop_policy(void *h) { pol_controllers_stop(h); }

static idp_code start_certs(idp_kclient *kc, const idp_ctrl_config *cfg, void **h,
                            idp_err *e) {
  idp_certctl_opts o = {0};
  o.skip_crds = !cfg->install_crds;
  return idp_certctl_start(kc, &o, (idp_certctl **)h, e);
}
static void stop_certs(void *h) { idp_certctl_stop(h); }

static idp_code start_simulate(idp_kclient *kc, const idp_ctrl_config *cfg, void **h,
                               idp_err *e) {
  IDP_UNUSED(cfg);
  idp_simulate_opts o = {0};
  return idp_simulate_start(kc, &o, (idp_simulate **)h, e);
}
static void stop_simulate(void *h) { idp_simulate_stop(h); }

/* Git caches live under the data dir; without one, under $TMPDIR. */
static const char *cache_dir(const idp_ctrl_config *cfg, const char *sub, char *buf, size_t n) {
  const char *base = cfg->data_dir;
  if (!base) {
    base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
  }
  snprintf(buf, n, "%s/%s", base, sub);
  return buf;
}

static idp_code start_gitops(idp_kclient *kc, const idp_ctrl_config *cfg, void **h,
                             idp_err *e) {
  static char dir[4096]; /* app opts strings are borrowed for the controller's life */
  idp_app_opts o = {.namespace_ = cfg->namespace_, .skip_crds = !cfg->install_crds,
                    .skip_health_wait = cfg->no_kubelet};
  o.data_dir = cfg->data_dir ? cfg->data_dir : cache_dir(cfg, "idp-gitops", dir, sizeof dir);
  return idp_app_start(kc, &o, (idp_app **)h, e);
}
static void stop_gitops(void *h) { idp_app_stop(h); }

static idp_code start_appsets(idp_kclient *kc, const idp_ctrl_config *cfg, void **h,
                              idp_err *e) {
  static char dir[4096];
  idp_appset_opts o = {.namespace = cfg->namespace_, .skip_crds = !cfg->install_crds,
                       .git_cache = cache_dir(cfg, "appset-git", dir, sizeof dir)};
  return idp_appset_start(kc, &o, (idp_appset **)h, e);
}
static void stop_appsets(void *h) { idp_appset_stop(h); }

static idp_code start_platform(idp_kclient *kc, const idp_ctrl_config *cfg, void **h,
                               idp_err *e) {
  static char ns[256];
  snprintf(ns, sizeof ns, "%s", cfg->namespace_ ? cfg->namespace_ : "argocd");
  idp_platform_opts o = {.install_crds = cfg->install_crds, .argocd_namespace = ns};
  return idp_platform_start(kc, &o, (idp_platform **)h, e);
}
static void stop_platform(void *h) { idp_platform_stop(h); }

static const ctrl_entry table[] = {
    {"policy", "Kyverno: background PolicyReports and generate synchronize", start_policy,
     stop_policy},
    {"certs", "cert-manager: Issuer, ClusterIssuer, Certificate, Gateway/Ingress shims",
     start_certs, stop_certs},
    {"secrets", "External Secrets: ExternalSecret, ClusterExternalSecret, (Cluster)SecretStore",
     start_secrets, stop_secrets},
    {"platform", "Team and WebApplication (platform.idp.io)", start_platform, stop_platform},
    {"gitops", "Argo CD: Application, AppProject (sync, health, prune, self-heal)", start_gitops,
     stop_gitops},
    {"appsets", "Argo CD: ApplicationSet (generators, templates)", start_appsets, stop_appsets},
    {"simulate", "workload status as a healthy cluster would report it (no kubelet; off by default)",
     start_simulate, stop_simulate, true},
};

struct idp_controllers {
  void *handles[IDP_ARRAY_LEN(table)];
};

/* `only`: NULL, "" or "all" = every controller that is not opt-in; else a
 * comma list of names, where "all" may stand for the default set too
 * ("all,simulate"). */
static bool selected(const char *only, const ctrl_entry *c) {
  const char *name = c->name;
  if (!only || !*only || !strcmp(only, "all")) return !c->opt_in;
  size_t n = strlen(name);
  for (const char *p = only; *p;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    if (len == n && !strncmp(p, name, n)) return true;
    if (len == 3 && !strncmp(p, "all", 3) && !c->opt_in) return true;
    p += len + (comma ? 1 : 0);
  }
  return false;
}

idp_code idp_controllers_check(const char *only, idp_err *e) {
  if (!only || !*only || !strcmp(only, "all")) return IDP_OK;
  for (const char *p = only; *p;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    bool known = len == 3 && !strncmp(p, "all", 3);
    for (size_t i = 0; i < IDP_ARRAY_LEN(table); i++)
      if (strlen(table[i].name) == len && !strncmp(p, table[i].name, len)) known = true;
    if (!known) return idp_err_set(e, IDP_EINVAL, "unknown controller '%.*s'", (int)len, p);
    p += len + (comma ? 1 : 0);
  }
  return IDP_OK;
}

idp_code idp_controllers_start(idp_kclient *kc, const idp_ctrl_config *cfg, const char *only,
                               idp_controllers **out, idp_err *e) {
  *out = NULL;
  idp_code rc = idp_controllers_check(only, e);
  if (rc) return rc;
  idp_controllers *c = calloc(1, sizeof *c);
  if (!c) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  for (size_t i = 0; i < IDP_ARRAY_LEN(table); i++) {
    if (!selected(only, &table[i])) continue;
    void *h = NULL;
    rc = table[i].start(kc, cfg, &h, e);
    if (rc) {
      idp_err_prefix(e, "controller %s", table[i].name);
      if (cfg->on_failed) cfg->on_failed(cfg->ud, table[i].name, e);
      if (cfg->keep_going) {
        idp_err_clear(e);
        continue;
      }
      idp_controllers_stop(c);
      return rc;
    }
    c->handles[i] = h;
    idp_log(IDP_LOG_INFO, "controller started", "controller", table[i].name, NULL);
    if (cfg->on_started) cfg->on_started(cfg->ud, table[i].name, h);
  }
  *out = c;
  return IDP_OK;
}

void idp_controllers_stop(idp_controllers *c) {
  if (!c) return;
  for (size_t i = IDP_ARRAY_LEN(table); i-- > 0;)
    if (c->handles[i]) table[i].stop(c->handles[i]);
  free(c);
}

void *idp_controllers_handle(idp_controllers *c, const char *name) {
  if (!c) return NULL;
  for (size_t i = 0; i < IDP_ARRAY_LEN(table); i++)
    if (!strcmp(table[i].name, name)) return c->handles[i];
  return NULL;
}

void idp_controllers_list(FILE *f) {
  for (size_t i = 0; i < IDP_ARRAY_LEN(table); i++)
    fprintf(f, "  %-12s %s%s\n", table[i].name, table[i].help,
            table[i].opt_in ? " [opt-in]" : "");
}
