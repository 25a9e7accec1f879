/* kyverno.h: private to src/jmespath.  Helpers and function
 * implementations shared by the Kyverno function files:
 *   kyverno_functions.c  the table, strings, regex, encoding, objects
 *   kyverno_arith.c      add/subtract/multiply/divide/modulo/sum/round over
 *                        numbers, Kubernetes quantities and Go durations
 *   kyverno_time.c       time_* functions, Go durations and time layouts
 *   kyverno_x509.c       x509_decode */
#ifndef IDP_JMESPATH_KYVERNO_H
#define IDP_JMESPATH_KYVERNO_H

#include "jmespath/internal.h"

/* Kyverno's error messages: "JMESPath function '<name>': <detail>". */
idp_code jp_kerr(jp_ctx *c, const char *fn, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Go time.ParseDuration: "1h30m", "1.5s", "-300ms", "0"; false if invalid. */
bool jp_duration_parse(const char *s, size_t n, int64_t *ns);
/* Go time.Duration.String(): "1h30m0s", "1.5s", "500ms", "0s". */
idp_code jp_duration_format(idp_buf *b, int64_t ns);

#define JP_KFN(name) idp_code name(jp_ctx *c, const jp_arg *a, size_t n, json_t **out)
JP_KFN(jp_k_add);
JP_KFN(jp_k_subtract);
JP_KFN(jp_k_multiply);
JP_KFN(jp_k_divide);
JP_KFN(jp_k_modulo);
JP_KFN(jp_k_sum);
JP_KFN(jp_k_round);
JP_KFN(jp_k_time_since);
JP_KFN(jp_k_time_now);
JP_KFN(jp_k_time_now_utc);
JP_KFN(jp_k_time_to_cron);
JP_KFN(jp_k_time_add);
JP_KFN(jp_k_time_parse);
JP_KFN(jp_k_time_utc);
JP_KFN(jp_k_time_diff);
JP_KFN(jp_k_time_before);
JP_KFN(jp_k_time_after);
JP_KFN(jp_k_time_between);
JP_KFN(jp_k_time_truncate);
JP_KFN(jp_k_x509_decode);

#endif
