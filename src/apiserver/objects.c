#include "core/common.h"

#include <fcntl.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "apiserver/api_int.h"
#include "core/json.h"
#include "core/yaml.h"

char *api_now_rfc3339(char *buf, size_t n) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void api_uuid(char out[37]) {
  unsigned char b[16];
  size_t got = 0;
  while (got < sizeof b) {
    ssize_t r = getrandom(b + got, sizeof b - got, 0);
    if (r <= 0) {
      if (r < 0 && errno == EINTR) continue;
      /* defensive: no entropy source; fall back to time and address bits */
      uint64_t x = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)out ^ (uint64_t)clock();
      for (; got < sizeof b; got++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        b[got] = (unsigned char)(x >> 56);
      }
      break;
    }
    got += (size_t)r;
  }
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
  snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
           b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
           b[15]);
}

void api_gv(const api_resource *r, char *buf, size_t n) {
  if (*r->group)
    snprintf(buf, n, "%s/%s", r->group, r->version);
  else
    snprintf(buf, n, "%s", r->version);
}

void api_qualified(const api_resource *r, char *buf, size_t n) {
  if (*r->group)
    snprintf(buf, n, "%s.%s", r->plural, r->group);
  else
    snprintf(buf, n, "%s", r->plural);
}

void api_set_type(const api_resource *r, json_t *obj) {
  if (!json_is_object(obj)) return;
  char gv[600];
  api_gv(r, gv, sizeof gv);
  const char *cur = json_string_value(json_object_get(obj, "apiVersion"));
  if (!cur || strcmp(cur, gv)) json_object_set_new(obj, "apiVersion", json_string(gv));
  const char *k = json_string_value(json_object_get(obj, "kind"));
  if (!k || strcmp(k, r->kind)) json_object_set_new(obj, "kind", json_string(r->kind));
}

const char *api_obj_name(const json_t *obj) {
  return idp_json_get_str(obj, "metadata", "name", NULL);
}

const char *api_obj_ns(const json_t *obj) {
  const char *ns = idp_json_get_str(obj, "metadata", "namespace", NULL);
  return ns ? ns : "";
}

int64_t api_obj_rv(const json_t *obj) {
  const char *rv = idp_json_get_str(obj, "metadata", "resourceVersion", NULL);
  if (!rv || !*rv) return 0;
  char *end;
  errno = 0;
  long long v = strtoll(rv, &end, 10);
  if (errno || *end || v < 0) return -1;
  return (int64_t)v;
}

static bool has_prefix_ci(const char *s, const char *p) {
  return s && !strncasecmp(s, p, strlen(p));
}

idp_code api_body_object(api_ctx *c, json_t **obj, idp_err *e) {
  *obj = NULL;
  const idp_api_request *rq = c->rq;
  if (!rq->body || rq->body_len == 0)
    return idp_err_set(e, IDP_EINVAL, "the request body is empty; an object was expected");
  const char *ct = rq->content_type;
  idp_code code;
  if (has_prefix_ci(ct, "application/yaml") || has_prefix_ci(ct, "application/apply-patch+yaml") ||
      has_prefix_ci(ct, "text/yaml") || has_prefix_ci(ct, "application/x-yaml")) {
    idp_yaml_limits lim = idp_yaml_default_limits;
    lim.max_bytes = rq->body_len + 1;
    if (lim.max_depth > 100 || lim.max_depth <= 0) lim.max_depth = 100;
    code = idp_yaml_load_one(rq->body, rq->body_len, "request body", &lim, obj, e);
  } else if (has_prefix_ci(ct, "application/vnd.kubernetes.protobuf")) {
    code = api_protobuf_decode(rq->body, rq->body_len, obj, e);
    if (code) return code;
  } else if (!ct || has_prefix_ci(ct, "application/json") || has_prefix_ci(ct, "*/*") ||
             has_prefix_ci(ct, "application/merge-patch+json") ||
             has_prefix_ci(ct, "application/strategic-merge-patch+json") ||
             has_prefix_ci(ct, "application/json-patch+json")) {
    code = idp_json_parse(rq->body, rq->body_len, "request body", obj, e);
  } else {
    return idp_err_set(e, IDP_EUNSUPPORTED,
                       "the body of the request was in an unknown format - accepted media types "
                       "include: application/json, application/yaml");
  }
  if (code) {
    if (code == IDP_ETOOLARGE || code == IDP_EUNSUPPORTED || !e) return code;
    char msg[IDP_ERR_MSG_MAX]; /* e->msg may not be both source and destination */
    memcpy(msg, e->msg, sizeof msg);
    /* jansson: "duplicate object key near '"name"'" -> Kubernetes' wording */
    const char *dup = strstr(msg, "duplicate object key near '");
    if (dup) {
      const char *k = dup + strlen("duplicate object key near '");
      size_t kl = strcspn(k, "'");
      return idp_err_set(e, IDP_EINVAL, "strict decoding error: json: duplicate field %.*s (%.*s)",
                         (int)kl, k, (int)(dup - msg), msg);
    }
    return idp_err_set(e, IDP_EINVAL, "%s", msg);
  }
  if (!json_is_object(*obj) && !json_is_array(*obj)) {
    json_decref(*obj);
    *obj = NULL;
    return idp_err_set(e, IDP_EINVAL, "request body: expected a JSON object");
  }
  return IDP_OK;
}

void api_field_manager(const api_ctx *c, const char *dflt, char *buf, size_t n) {
  const char *fm = api_query(c->rq, "fieldManager");
  if (fm && *fm) {
    snprintf(buf, n, "%s", fm);
    return;
  }
  const char *ua = c->rq->user_agent;
  if (ua && *ua) {
    size_t k = strcspn(ua, "/ ");
    if (k > 128) k = 128;
    if (k + 1 > n) k = n - 1;
    memcpy(buf, ua, k);
    buf[k] = '\0';
    if (k) return;
  }
  snprintf(buf, n, "%s", dflt);
}

idp_code api_dry_run(const api_ctx *c, bool *dry, idp_err *e) {
  *dry = false;
  for (size_t i = 0; i < c->rq->nquery; i++) {
    if (strcmp(c->rq->query[i].key, "dryRun")) continue;
    const char *v = c->rq->query[i].value;
    if (!strcmp(v, "All"))
      *dry = true;
    else if (*v)
      return idp_err_set(e, IDP_EINVAL, "dryRun: Unsupported value: \"%s\": supported values: \"All\"",
                         v);
  }
  return IDP_OK;
}

idp_code api_err_notfound(const api_resource *r, const char *name, idp_err *e) {
  char q[600];
  api_qualified(r, q, sizeof q);
  return idp_err_set(e, IDP_ENOTFOUND, "%s \"%s\" not found", q, name);
}

idp_code api_namespace_check(idp_apiserver *s, const char *ns, bool for_create, idp_err *e) {
  json_t *obj = NULL;
  idp_code c = idp_store_get(s->store, "core/namespaces", "", ns, &obj, e);
  if (c == IDP_ENOTFOUND) return idp_err_set(e, IDP_ENOTFOUND, "namespaces \"%s\" not found", ns);
  if (c) return c;
  bool terminating = idp_json_get(obj, "metadata", "deletionTimestamp", NULL) != NULL;
  json_decref(obj);
  if (for_create && terminating)
    return idp_err_set(e, IDP_EFORBIDDEN,
                       "unable to create new content in namespace %s because it is being "
                       "terminated",
                       ns);
  return IDP_OK;
}
