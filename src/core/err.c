#include "core/common.h"

static const struct {
  int http;
  const char *reason;
  const char *name;
} code_table[IDP_CODE_COUNT] = {
    [IDP_OK] = {200, "", "ok"},
    [IDP_EINVAL] = {400, "BadRequest", "invalid input"},
    [IDP_EINVALID] = {422, "Invalid", "invalid"},
    [IDP_ENOTFOUND] = {404, "NotFound", "not found"},
    [IDP_EEXIST] = {409, "AlreadyExists", "already exists"},
    [IDP_ECONFLICT] = {409, "Conflict", "conflict"},
    [IDP_EGONE] = {410, "Expired", "gone"},
    [IDP_ETOOLARGE] = {413, "RequestEntityTooLarge", "too large"},
    [IDP_EUNSUPPORTED] = {415, "UnsupportedMediaType", "unsupported"},
    [IDP_EMETHOD] = {405, "MethodNotAllowed", "method not allowed"},
    [IDP_EUNAUTH] = {401, "Unauthorized", "unauthorized"},
    [IDP_EFORBIDDEN] = {403, "Forbidden", "forbidden"},
    [IDP_ETIMEOUT] = {504, "Timeout", "timeout"},
    [IDP_EIO] = {500, "InternalError", "i/o error"},
    [IDP_ENOMEM] = {500, "InternalError", "out of memory"},
    [IDP_EINTERNAL] = {500, "InternalError", "internal error"},
    [IDP_EUNAVAILABLE] = {503, "ServiceUnavailable", "unavailable"},
};

idp_code idp_err_vset(idp_err *e, idp_code code, const char *fmt, va_list ap) {
  if (!e) return code;
  e->code = code;
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  return code;
}

idp_code idp_err_set(idp_err *e, idp_code code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  idp_err_vset(e, code, fmt, ap);
  va_end(ap);
  return code;
}

void idp_err_prefix(idp_err *e, const char *fmt, ...) {
  if (!e) return;
  char head[IDP_ERR_MSG_MAX];
  char old[IDP_ERR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(head, sizeof head, fmt, ap);
  va_end(ap);
  memcpy(old, e->msg, sizeof old);
  snprintf(e->msg, sizeof e->msg, "%s: %s", head, old);
}

void idp_err_clear(idp_err *e) {
  if (!e) return;
  e->code = IDP_OK;
  e->msg[0] = '\0';
}

int idp_code_http(idp_code code) {
  return (unsigned)code < IDP_CODE_COUNT ? code_table[code].http : 500;
}

const char *idp_code_reason(idp_code code) {
  return (unsigned)code < IDP_CODE_COUNT ? code_table[code].reason : "InternalError";
}

const char *idp_code_name(idp_code code) {
  return (unsigned)code < IDP_CODE_COUNT ? code_table[code].name : "internal error";
}
