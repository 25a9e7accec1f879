#include "core/common.h"

#include <time.h>

#include "core/json.h"
#include "core/yaml.h"
#include "secrets/internal.h"

extern const char *const sp_crd_yaml[]; /* crds/embed.sh */

static idp_code install_one(idp_kclient *kc, const char *yaml, char *name, size_t nn, idp_err *e) {
  json_t *crd = NULL;
  idp_code rc = idp_yaml_load_one(yaml, strlen(yaml), "secrets CRD", NULL, &crd, e);
  if (rc) return rc;
  const char *n = idp_json_get_str(crd, "metadata", "name", NULL);
  snprintf(name, nn, "%s", n ? n : "");
  idp_kref r = {.group = "apiextensions.k8s.io", .version = "v1",
                .resource = "customresourcedefinitions", .name = name};
  json_t *cur = NULL;
  rc = idp_kclient_get(kc, &r, &cur, e);
  if (rc == IDP_ENOTFOUND) {
    idp_kref col = r;
    col.name = NULL;
    rc = idp_kclient_create(kc, &col, crd, NULL, NULL, e);
    if (rc == IDP_EEXIST) rc = IDP_OK;
  } else if (!rc) {
    /* update the spec when it differs (upgrade), keeping the server's metadata */
    if (!json_equal(json_object_get(cur, "spec"), json_object_get(crd, "spec"))) {
      json_t *upd = json_deep_copy(cur);
      json_object_set(upd, "spec", json_object_get(crd, "spec"));
      rc = idp_kclient_update(kc, &r, upd, NULL, NULL, e);
      json_decref(upd);
    }
  }
  json_decref(cur);
  json_decref(crd);
  if (rc) idp_err_prefix(e, "install CRD %s", name);
  return rc;
}

idp_code idp_secrets_install_crds(idp_kclient *kc, idp_err *e) {
  char names[8][128];
  size_t n = 0;
  for (size_t i = 0; sp_crd_yaml[i] && n < 8; i++, n++) {
    idp_code rc = install_one(kc, sp_crd_yaml[i], names[n], sizeof names[n], e);
    if (rc) return rc;
  }
  /* wait (up to 10 s) until every kind is served */
  static const char *const kinds[] = {"ExternalSecret", "ClusterExternalSecret", "SecretStore",
                                      "ClusterSecretStore"};
  for (size_t k = 0; k < IDP_ARRAY_LEN(kinds); k++) {
    idp_kgvr g;
    idp_code rc = IDP_ENOTFOUND;
    for (int t = 0; t < 100; t++) {
      rc = idp_kclient_resolve(kc, "external-secrets.io/v1", kinds[k], &g, e);
      if (rc != IDP_ENOTFOUND) break;
      struct timespec ts = {0, 100 * 1000000L};
      nanosleep(&ts, NULL);
      idp_kclient_discovery_reset(kc);
    }
    if (rc) {
      idp_err_prefix(e, "CRD for %s is not served", kinds[k]);
      return rc;
    }
  }
  return IDP_OK;
}
