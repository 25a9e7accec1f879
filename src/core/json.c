#include "core/common.h"
#include "core/json.h"

json_t *idp_json_get(const json_t *o, ...) {
  va_list ap;
  va_start(ap, o);
  const char *k;
  const json_t *cur = o;
  while (cur && (k = va_arg(ap, const char *)) != NULL) cur = json_object_get(cur, k);
  va_end(ap);
  return (json_t *)cur;
}

const char *idp_json_get_str(const json_t *o, ...) {
  va_list ap;
  va_start(ap, o);
  const char *k;
  const json_t *cur = o;
  while (cur && (k = va_arg(ap, const char *)) != NULL) cur = json_object_get(cur, k);
  va_end(ap);
  return json_is_string(cur) ? json_string_value(cur) : NULL;
}

json_t *idp_json_child_object(json_t *o, const char *key) {
  json_t *c = json_object_get(o, key);
  if (json_is_object(c)) return c;
  c = json_object();
  json_object_set_new(o, key, c);
  return c;
}

json_t *idp_json_path(const json_t *o, const char *dotted) {
  char key[256];
  const char *p = dotted;
  const json_t *cur = o;
  while (cur && *p) {
    const char *dot = strchr(p, '.');
    size_t n = dot ? (size_t)(dot - p) : strlen(p);
    if (n >= sizeof key) return NULL;
    memcpy(key, p, n);
    key[n] = '\0';
    cur = json_object_get(cur, key);
    p += n + (dot ? 1 : 0);
  }
  return (json_t *)cur;
}

idp_code idp_json_parse(const char *data, size_t len, const char *name, json_t **out,
                        idp_err *e) {
  json_error_t je;
  *out = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
  if (!*out)
    return idp_err_set(e, IDP_EINVAL, "%s:%d:%d: %s", name ? name : "<input>", je.line,
                       je.column, je.text);
  return IDP_OK;
}

char *idp_json_dump(const json_t *v) {
  return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
}

bool idp_wildcard_match(const char *pattern, const char *s) {
  const char *star = NULL, *retry = NULL;
  while (*s) {
    if (*pattern == '*') {
      star = pattern++;
      retry = s;
    } else if (*pattern == '?' || *pattern == *s) {
      pattern++;
      s++;
    } else if (star) {
      pattern = star + 1;
      s = ++retry;
    } else {
      return false;
    }
  }
  while (*pattern == '*') pattern++;
  return *pattern == '\0';
}
