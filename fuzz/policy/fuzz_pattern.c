/* fuzz_pattern: libFuzzer target for the Kyverno pattern matcher.
 *
 * Input: two JSON documents separated by a NUL byte (resource, pattern);
 * without a NUL the input is the pattern and the resource is a fixed Pod.
 * Exercises anchors, wildcard metadata expansion, value operators
 * (ranges, quantities, durations, | and &) and, on string patterns, the
 * scalar comparison directly.  Any crash, leak or sanitizer report is a
 * finding. */
#include "core/common.h"

#include "policy/internal.h"

static const char pod[] =
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"labels\":{\"app\":\"x\"},"
    "\"annotations\":{\"a/b-snippet\":\"v\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":"
    "\"nginx:1\",\"resources\":{\"limits\":{\"memory\":\"512Mi\",\"cpu\":\"500m\"}}}],"
    "\"hostNetwork\":false}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 1 << 16) return 0;
  const char *p = (const char *)data;
  const char *nul = memchr(p, '\0', size);
  json_t *res, *pat;
  if (nul) {
    res = json_loadb(p, (size_t)(nul - p), JSON_DECODE_ANY, NULL);
    pat = json_loadb(nul + 1, size - (size_t)(nul - p) - 1, JSON_DECODE_ANY, NULL);
  } else {
    res = json_loads(pod, 0, NULL);
    pat = json_loadb(p, size, JSON_DECODE_ANY, NULL);
  }
  if (res && pat) {
    char msg[256];
    int r = pol_match_pattern(res, pat, msg, sizeof msg);
    if (r < 0 || r > 2) __builtin_trap();
    if (json_is_string(pat)) (void)pol_value_matches(res, pat);
  }
  /* the raw bytes as a string pattern against a few scalars */
  char *s = strndup(p, nul ? (size_t)(nul - p) : size);
  if (s) {
    json_t *sp = json_string(s);
    if (sp) {
      json_t *vals[] = {json_string("512Mi"), json_integer(8080), json_real(0.5), json_null(),
                        json_string("1h30m"), json_true()};
      for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        (void)pol_value_matches(vals[i], sp);
        json_decref(vals[i]);
      }
      json_decref(sp);
    }
    free(s);
  }
  json_decref(res);
  json_decref(pat);
  return 0;
}
