/* cmd_status.c: `idp status` — the platform at a glance, read through the
 * API: Applications with sync and health, Teams, WebApplications and policy
 * results.  `idp up` prints the same summary once the platform settles.
 *
 *   idp status [--data-dir DIR | --kubeconfig F]
 */
#include "core/common.h"
#include "cli/commands.h"
#include "cli/status.h"
#include "client/kubeconfig.h"
#include "core/json.h"

static idp_code list_of(idp_kclient *kc, const char *group, const char *version,
                        const char *resource, json_t **items) {
  idp_kref r = {.group = group, .version = version, .resource = resource};
  json_t *list = NULL;
  idp_err e = IDP_ERR_INIT;
  idp_code rc = idp_kclient_list_all(kc, &r, NULL, &list, &e);
  *items = rc ? json_array() : json_incref(json_object_get(list, "items"));
  if (!*items) *items = json_array();
  json_decref(list);
  return rc;
}

static const char *str_or(const json_t *o, const char *dflt, ...) __attribute__((sentinel));
static const char *str_or(const json_t *o, const char *dflt, ...) {
  va_list ap;
  va_start(ap, dflt);
  const char *k;
  const json_t *cur = o;
  while (cur && (k = va_arg(ap, const char *)) != NULL) cur = json_object_get(cur, k);
  va_end(ap);
  return json_is_string(cur) && *json_string_value(cur) ? json_string_value(cur) : dflt;
}

void idp_status_print(idp_kclient *kc, FILE *out) {
  json_t *items;
  size_t i;
  json_t *it;
  fprintf(out, "Applications (argoproj.io):\n");
  if (list_of(kc, "argoproj.io", "v1alpha1", "applications", &items) == IDP_OK) {
    size_t synced = 0, healthy = 0;
    json_array_foreach(items, i, it) {
      const char *sync = str_or(it, "Unknown", "status", "sync", "status", NULL);
      const char *health = str_or(it, "Unknown", "status", "health", "status", NULL);
      synced += !strcmp(sync, "Synced");
      healthy += !strcmp(health, "Healthy");
      fprintf(out, "  %-36s %-10s %-12s %s\n", str_or(it, "?", "metadata", "name", NULL), sync,
              health, str_or(it, "", "spec", "source", "path", NULL));
    }
    fprintf(out, "  %zu applications, %zu synced, %zu healthy\n", json_array_size(items), synced,
            healthy);
  } else {
    fprintf(out, "  (Application kind not served)\n");
  }
  json_decref(items);

  fprintf(out, "Teams (platform.idp.io):\n");
  if (list_of(kc, "platform.idp.io", "v1alpha1", "teams", &items) == IDP_OK) {
    json_array_foreach(items, i, it) {
      const json_t *conds = idp_json_get(it, "status", "conditions", NULL);
      const char *ready = "Unknown";
      size_t k;
      json_t *c;
      json_array_foreach(conds, k, c) if (!strcmp(str_or(c, "", "type", NULL), "Ready")) ready =
          str_or(c, "Unknown", "status", NULL);
      fprintf(out, "  %-20s namespace %-22s ready %s\n", str_or(it, "?", "metadata", "name", NULL),
              str_or(it, "-", "status", "namespace", NULL), ready);
    }
    if (!json_array_size(items)) fprintf(out, "  (none)\n");
  } else {
    fprintf(out, "  (Team kind not served)\n");
  }
  json_decref(items);

  fprintf(out, "WebApplications (platform.idp.io):\n");
  if (list_of(kc, "platform.idp.io", "v1alpha1", "webapplications", &items) == IDP_OK) {
    json_array_foreach(items, i, it) {
      fprintf(out, "  %-16s %-22s %-12s %s\n", str_or(it, "?", "metadata", "namespace", NULL),
              str_or(it, "?", "metadata", "name", NULL),
              str_or(it, "Pending", "status", "phase", NULL), str_or(it, "", "status", "url", NULL));
    }
    if (!json_array_size(items)) fprintf(out, "  (none)\n");
  } else {
    fprintf(out, "  (WebApplication kind not served)\n");
  }
  json_decref(items);

  fprintf(out, "Policy results (wgpolicyk8s.io PolicyReports):\n");
  if (list_of(kc, "wgpolicyk8s.io", "v1alpha2", "policyreports", &items) == IDP_OK) {
    long long sum[5] = {0};
    static const char *const keys[] = {"pass", "fail", "warn", "error", "skip"};
    json_array_foreach(items, i, it) {
      for (size_t k = 0; k < 5; k++)
        sum[k] += json_integer_value(idp_json_get(it, "summary", keys[k], NULL));
    }
    fprintf(out, "  %zu reports: %lld pass, %lld fail, %lld warn, %lld error, %lld skip\n",
            json_array_size(items), sum[0], sum[1], sum[2], sum[3], sum[4]);
  } else {
    fprintf(out, "  (PolicyReport kind not served)\n");
  }
  json_decref(items);
  fflush(out);
}

int cmd_status(int argc, char **argv) {
  const char *data_dir = NULL, *kubeconfig = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--data-dir") && i + 1 < argc) data_dir = argv[++i];
    else if (!strcmp(argv[i], "--kubeconfig") && i + 1 < argc) kubeconfig = argv[++i];
    else {
      fprintf(stderr, "usage: idp status [--data-dir DIR | --kubeconfig F]\n");
      return 2;
    }
  }
  char path[4096];
  if (!kubeconfig) {
    const char *home = getenv("HOME");
    if (data_dir) snprintf(path, sizeof path, "%s/kubeconfig", data_dir);
    else snprintf(path, sizeof path, "%s/.idp/kubeconfig", home ? home : ".");
    kubeconfig = path;
  }
  idp_err e = IDP_ERR_INIT;
  idp_kconfig *cfg = NULL;
  idp_kclient *kc = NULL;
  if (idp_kconfig_load_file(kubeconfig, NULL, &cfg, &e) || idp_kclient_new(cfg, NULL, &kc, &e)) {
    fprintf(stderr, "idp status: %s\n", e.msg);
    idp_kconfig_free(cfg);
    return 1;
  }
  idp_status_print(kc, stdout);
  idp_kclient_free(kc);
  idp_kconfig_free(cfg);
  return 0;
}
