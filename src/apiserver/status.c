#include "core/common.h"

#include "apiserver/api_int.h"
#include "core/json.h"

json_t *api_status_new(int code, const char *reason, const char *message, const char *name,
                       const char *group, const char *kind, json_t *causes) {
  json_t *st = json_pack("{s:s, s:s, s:{}, s:s, s:s}", "kind", "Status", "apiVersion", "v1",
                         "metadata", "status", code < 400 ? "Success" : "Failure", "message",
                         message ? message : "");
  if (!st) {
    json_decref(causes);
    return NULL;
  }
  if (reason && *reason) json_object_set_new(st, "reason", json_string(reason));
  json_t *details = json_object();
  if (name && *name) json_object_set_new(details, "name", json_string(name));
  if (group && *group) json_object_set_new(details, "group", json_string(group));
  if (kind && *kind) json_object_set_new(details, "kind", json_string(kind));
  if (causes && json_array_size(causes)) json_object_set(details, "causes", causes);
  json_decref(causes);
  if (json_object_size(details))
    json_object_set_new(st, "details", details);
  else
    json_decref(details);
  json_object_set_new(st, "code", json_integer(code));
  return st;
}

void api_reply_json(api_ctx *c, int status, json_t *v) {
  c->rs->status = status;
  c->rs->content_type = "application/json";
  idp_buf_reset(&c->rs->body);
  char *s = v ? idp_json_dump(v) : NULL;
  if (s) {
    if (idp_buf_adds(&c->rs->body, s) != IDP_OK) {
      c->rs->status = 500;
      idp_buf_reset(&c->rs->body);
      idp_buf_adds(&c->rs->body,
                   "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":"
                   "\"Failure\",\"message\":\"response too large\",\"reason\":"
                   "\"InternalError\",\"code\":500}");
    }
    free(s);
  } else {
    c->rs->status = 500;
    idp_buf_adds(&c->rs->body, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                               "\"status\":\"Failure\",\"message\":\"out of memory\","
                               "\"reason\":\"InternalError\",\"code\":500}");
  }
  json_decref(v);
}

void api_status_error(api_ctx *c, const idp_err *e, const char *name, json_t *causes) {
  idp_code code = e->code == IDP_OK ? IDP_EINTERNAL : e->code;
  int http = idp_code_http(code);
  const char *group = c->res ? c->res->group : NULL;
  const char *kind = c->res ? c->res->plural : NULL;
  if (!name && c->p.name[0]) name = c->p.name;
  if (!name && c->obj_name[0]) name = c->obj_name;
  if (code == IDP_EINVALID) {
    /* kubectl prints "The <Kind>.<group> "<name>" is invalid: <field>: <message>"
     * from details.kind/group/name and one line per cause */
    kind = c->res ? c->res->kind : NULL;
    if (!causes || !json_array_size(causes)) {
      json_decref(causes);
      causes = json_pack("[{s:s, s:s}]", "reason", "FieldValueInvalid", "message", e->msg);
    }
  }
  json_t *st = api_status_new(http, idp_code_reason(code), e->msg, name, group, kind, causes);
  api_reply_json(c, http, st);
}

void api_status_success(api_ctx *c, const char *name) {
  json_t *st = api_status_new(200, NULL, NULL, name, c->res ? c->res->group : NULL,
                              c->res ? c->res->plural : NULL, NULL);
  api_reply_json(c, 200, st);
}

void api_warn(api_ctx *c, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (!c->rs->warnings) c->rs->warnings = json_array();
  if (json_array_size(c->rs->warnings) < 32) json_array_append_new(c->rs->warnings, json_string(msg));
}
