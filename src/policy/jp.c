/* jp.c: the policy engine's door to src/jmespath, with the semantics of
 * Kyverno's go-jmespath fork: a missing key that decides the result is a
 * "not found" error (JP_NOTFOUND_ERRORS), which callers surface as an
 * `error` rule result or, in conditions, read as "". */
#include "core/common.h"

#include "jmespath/jmespath.h"
#include "policy/internal.h"

pol_jp_rc pol_jp_eval(const char *expr, const json_t *data, json_t **out, idp_err *e) {
  json_t *r = NULL;
  idp_err le = IDP_ERR_INIT;
  idp_code rc = jp_eval_flags(expr, data, JP_NOTFOUND_ERRORS, &r, &le);
  if (rc != IDP_OK) {
    if (e) *e = le;
    return rc == IDP_ENOTFOUND ? POL_JP_NOTFOUND : POL_JP_ERROR;
  }
  *out = r ? r : json_null();
  return POL_JP_OK;
}

bool pol_jp_valid(const char *expr, idp_err *e) {
  jp_expr *x = NULL;
  if (jp_compile(expr, &x, e) != IDP_OK) return false;
  jp_expr_free(x);
  return true;
}
