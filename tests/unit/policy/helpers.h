/* helpers.h: JSON literals for the policy unit tests. */
#ifndef POLICY_TEST_HELPERS_H
#define POLICY_TEST_HELPERS_H
static inline json_t *J(const char *text) {
  json_error_t je;
  json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
  if (!v) fail_msg("bad JSON literal %s: %s", text, je.text);
  return v;
}
#endif
