/* fuzz_jmespath: libFuzzer target for src/jmespath.
 *
 * Input: an expression, then optionally a NUL byte or a newline and a JSON
 * document (the data; {} when absent or invalid).  The expression is compiled
 * in both dialects and, when it compiles, searched with and without Kyverno's
 * NotFound errors.  Any crash, sanitizer report or leak is a bug; errors are
 * expected outcomes. */
#include "core/common.h"

#include "jmespath/jmespath.h"

static void run(const char *expr, const json_t *doc, jp_dialect d) {
  jp_expr *x = NULL;
  idp_err e = IDP_ERR_INIT;
  if (jp_compile_dialect(expr, d, &x, &e) != IDP_OK) {
    (void)jp_error_class(&e);
    return;
  }
  for (int flags = 0; flags <= JP_NOTFOUND_ERRORS; flags += JP_NOTFOUND_ERRORS) {
    json_t *r = NULL;
    if (jp_search_flags(x, doc, flags, &r, &e) == IDP_OK) {
      char *s = jp_to_json_text(r);
      free(s);
      json_decref(r);
    }
  }
  jp_expr_free(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096) return 0;
  char *buf = malloc(size + 1);
  if (!buf) return 0;
  memcpy(buf, data, size);
  buf[size] = '\0';
  size_t el = strcspn(buf, "\n"); /* the expression ends at NUL or newline */
  json_t *doc = NULL;
  if (el < size) {
    buf[el] = '\0';
    doc = json_loadb(buf + el + 1, size - el - 1, JSON_DECODE_ANY, NULL);
  }
  if (!doc) doc = json_pack("{s:{s:[i,s,{s:n}]},s:s}", "a", "b", 1, "x", "c", "d", "e");
  run(buf, doc, JP_DIALECT_SPEC);
  run(buf, doc, JP_DIALECT_KYVERNO);
  json_decref(doc);
  free(buf);
  return 0;
}
