#include "core/common.h"

#include "apiserver/api_int.h"

/* OpenAPI stubs: kubectl apply/create/replace/edit probe /openapi/v3 for a
 * PATCH operation of the object's GVK that accepts the fieldValidation (and
 * dryRun) query parameters; when present they delegate validation to the
 * server.  The PATCH requestBody deliberately omits
 * application/strategic-merge-patch+json: with it kubectl would build
 * strategic patches from OpenAPI v3 schemas, which these stubs do not carry
 * (it then uses its compiled-in types instead). */

static const char *const patch_params[] = {"dryRun", "fieldManager", "fieldValidation", "force",
                                           "pretty"};
static const char *const patch_media[] = {"application/json-patch+json",
                                          "application/merge-patch+json",
                                          "application/apply-patch+yaml"};

static json_t *patch_op(const api_resource *r) {
  json_t *params = json_array();
  for (size_t i = 0; i < IDP_ARRAY_LEN(patch_params); i++)
    json_array_append_new(params, json_pack("{s:s, s:s, s:{s:s, s:b}}", "name", patch_params[i],
                                            "in", "query", "schema", "type", "string",
                                            "uniqueItems", 1));
  json_t *content = json_object();
  for (size_t i = 0; i < IDP_ARRAY_LEN(patch_media); i++)
    json_object_set_new(content, patch_media[i], json_pack("{s:{s:s}}", "schema", "type", "object"));
  char opid[700];
  snprintf(opid, sizeof opid, "patch%s", r->kind);
  return json_pack("{s:s, s:o, s:{s:o}, s:{s:{s:s}}, s:s, s:{s:s, s:s, s:s}}", "operationId", opid,
                   "parameters", params, "requestBody", "content", content, "responses", "200",
                   "description", "OK", "x-kubernetes-action", "patch",
                   "x-kubernetes-group-version-kind", "group", r->group, "version", r->version,
                   "kind", r->kind);
}

static json_t *gv_doc(api_resource **rows, size_t n, const char *group, const char *version) {
  json_t *paths = json_object();
  bool any = false;
  for (size_t i = 0; i < n; i++) {
    api_resource *r = rows[i];
    if (strcmp(r->group, group) || strcmp(r->version, version)) continue;
    any = true;
    char path[1200];
    char prefix[600];
    if (*group)
      snprintf(prefix, sizeof prefix, "/apis/%s/%s", group, version);
    else
      snprintf(prefix, sizeof prefix, "/api/%s", version);
    snprintf(path, sizeof path, "%s%s/%s/{name}", prefix,
             r->namespaced ? "/namespaces/{namespace}" : "", r->plural);
    json_object_set_new(paths, path, json_pack("{s:o}", "patch", patch_op(r)));
  }
  if (!any) {
    json_decref(paths);
    return NULL;
  }
  return json_pack("{s:s, s:{s:s, s:s}, s:o, s:{s:{}}}", "openapi", "3.0.0", "info", "title",
                   "Kubernetes", "version", "v1.32.0", "paths", paths, "components", "schemas");
}

static bool accepts_protobuf(const api_ctx *c) {
  const char *a = c->rq->accept;
  return a && strstr(a, "protobuf") && !strstr(a, "application/json");
}

void api_openapi(api_ctx *c) {
  size_t n = 0;
  api_resource **rows = api_registry_snapshot(c->srv->reg, &n);
  json_t *out = NULL;
  if (c->p.route == R_OPENAPI_V3) {
    json_t *paths = json_object();
    unsigned long rev = (unsigned long)idp_store_revision(c->srv->store);
    for (size_t i = 0; i < n; i++) {
      char key[600], url[800];
      if (*rows[i]->group)
        snprintf(key, sizeof key, "apis/%s/%s", rows[i]->group, rows[i]->version);
      else
        snprintf(key, sizeof key, "api/%s", rows[i]->version);
      if (json_object_get(paths, key)) continue;
      /* the hash changes with the registry so clients refetch after CRD changes */
      snprintf(url, sizeof url, "/openapi/v3/%s?hash=%lx%zx", key, rev, n);
      json_object_set_new(paths, key, json_pack("{s:s}", "serverRelativeURL", url));
    }
    out = json_pack("{s:o}", "paths", paths);
  } else if (c->p.route == R_OPENAPI_V3_GV) {
    out = gv_doc(rows, n, c->p.group, c->p.version);
  } else if (c->p.route == R_OPENAPI_V2) {
    api_registry_snapshot_free(rows, n);
    if (accepts_protobuf(c)) {
      /* an empty protobuf message is a valid, empty openapi_v2.Document */
      c->rs->status = 200;
      c->rs->content_type = "application/octet-stream";
      idp_buf_reset(&c->rs->body);
      return;
    }
    api_reply_json(c, 200,
                   json_pack("{s:s, s:{s:s, s:s}, s:{}, s:{}}", "swagger", "2.0", "info", "title",
                             "Kubernetes", "version", "v1.32.0", "paths", "definitions"));
    return;
  }
  api_registry_snapshot_free(rows, n);
  if (!out) {
    idp_err e;
    idp_err_set(&e, IDP_ENOTFOUND, "the server could not find the requested resource");
    api_status_error(c, &e, NULL, NULL);
    return;
  }
  api_reply_json(c, 200, out);
}
