/* merge.c: RFC 7386 JSON merge patch and numeric-aware equality. */
#include "core/common.h"
#include "patch/patch.h"

json_t *idp_merge_patch(const json_t *target, const json_t *patch) {
  if (!json_is_object(patch)) return json_deep_copy(patch);
  /* A non-object target is ignored and replaced by {} (RFC 7386 §2). */
  json_t *out = json_is_object(target) ? json_deep_copy(target) : json_object();
  if (!out) return NULL;
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)patch, k, v) {
    if (json_is_null(v)) {
      json_object_del(out, k);
      continue;
    }
    json_t *m = idp_merge_patch(json_object_get(out, k), v);
    if (!m || json_object_set_new(out, k, m) != 0) {
      json_decref(out);
      return NULL;
    }
  }
  return out;
}

bool idp_json_equal(const json_t *a, const json_t *b) {
  if (a == b) return true;
  if (!a || !b) return false;
  if (json_is_number(a) && json_is_number(b)) {
    if (json_is_integer(a) && json_is_integer(b))
      return json_integer_value(a) == json_integer_value(b);
    return json_number_value(a) == json_number_value(b);
  }
  if (json_typeof(a) != json_typeof(b)) return false;
  if (json_is_object(a)) {
    if (json_object_size(a) != json_object_size(b)) return false;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)a, k, v) {
      if (!idp_json_equal(v, json_object_get(b, k))) return false;
    }
    return true;
  }
  if (json_is_array(a)) {
    if (json_array_size(a) != json_array_size(b)) return false;
    for (size_t i = 0; i < json_array_size(a); i++)
      if (!idp_json_equal(json_array_get(a, i), json_array_get(b, i))) return false;
    return true;
  }
  return json_equal(a, b); /* strings, true, false, null */
}
