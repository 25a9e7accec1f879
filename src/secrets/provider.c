#include "core/common.h"

#include "core/json.h"
#include "secrets/internal.h"

/* The providers, by their key under spec.provider. */
static const sp_provider *const providers[] = {&sp_kubernetes, &sp_vault, &sp_aws};

const sp_provider *sp_lookup(const json_t *store, const json_t **cfg, idp_err *e) {
  const json_t *prov = idp_json_get(store, "spec", "provider", NULL);
  const char *name = idp_json_get_str(store, "metadata", "name", NULL);
  if (!json_is_object(prov) || json_object_size(prov) == 0) {
    idp_err_set(e, IDP_EINVALID, "store \"%s\": spec.provider is empty", name ? name : "");
    return NULL;
  }
  if (json_object_size(prov) > 1) {
    idp_err_set(e, IDP_EINVALID, "store \"%s\": spec.provider must name exactly one provider",
                name ? name : "");
    return NULL;
  }
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)prov, key, v) {
    for (size_t i = 0; i < IDP_ARRAY_LEN(providers); i++)
      if (!strcmp(providers[i]->name, key)) {
        *cfg = v;
        return providers[i];
      }
    idp_err_set(e, IDP_EUNSUPPORTED,
                "store \"%s\": provider \"%s\" is not supported (supported: kubernetes, vault, aws)",
                name ? name : "", key);
  }
  return NULL;
}
