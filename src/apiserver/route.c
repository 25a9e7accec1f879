#include "core/common.h"

#include "apiserver/api_int.h"

/* Subresources of a namespace that look like a namespaced collection
 * (/api/v1/namespaces/x/status): Kubernetes' RequestInfoFactory rule. */
static const char *const namespace_subresources[] = {"status", "finalize"};

static const char *const health_paths[] = {"/healthz", "/livez", "/readyz"};

enum { MAX_SEGS = 12 };

typedef struct segs {
  const char *s[MAX_SEGS];
  size_t len[MAX_SEGS];
  size_t n;
} segs;

static idp_code split(const char *path, segs *sg, idp_err *e) {
  sg->n = 0;
  const char *p = path;
  while (*p) {
    while (*p == '/') p++;
    if (!*p) break;
    const char *q = p;
    while (*q && *q != '/') q++;
    if (sg->n == MAX_SEGS) return idp_err_set(e, IDP_ENOTFOUND, "the server could not find the requested resource");
    if ((size_t)(q - p) >= API_SEG_MAX)
      return idp_err_set(e, IDP_EINVAL, "URL path segment longer than %d bytes", API_SEG_MAX - 1);
    sg->s[sg->n] = p;
    sg->len[sg->n] = (size_t)(q - p);
    sg->n++;
    p = q;
  }
  return IDP_OK;
}

static bool seg_is(const segs *sg, size_t i, const char *lit) {
  return i < sg->n && sg->len[i] == strlen(lit) && !memcmp(sg->s[i], lit, sg->len[i]);
}

static void seg_copy(const segs *sg, size_t i, char *dst) {
  memcpy(dst, sg->s[i], sg->len[i]);
  dst[sg->len[i]] = '\0';
}

static idp_code not_found(idp_err *e) {
  return idp_err_set(e, IDP_ENOTFOUND, "the server could not find the requested resource");
}

idp_code api_route_parse(const char *path, api_path *p, idp_err *e) {
  memset(p, 0, sizeof *p);
  if (!path || path[0] != '/') return not_found(e);
  for (size_t i = 0; i < IDP_ARRAY_LEN(health_paths); i++) {
    size_t n = strlen(health_paths[i]);
    if (!strncmp(path, health_paths[i], n) && (path[n] == '\0' || path[n] == '/')) {
      p->route = R_HEALTH;
      return IDP_OK;
    }
  }
  segs sg;
  idp_code c = split(path, &sg, e);
  if (c) return c;
  if (sg.n == 1 && seg_is(&sg, 0, "version")) {
    p->route = R_VERSION;
    return IDP_OK;
  }
  if (seg_is(&sg, 0, "openapi")) {
    if (sg.n == 2 && seg_is(&sg, 1, "v2")) {
      p->route = R_OPENAPI_V2;
      return IDP_OK;
    }
    if (sg.n == 2 && seg_is(&sg, 1, "v3")) {
      p->route = R_OPENAPI_V3;
      return IDP_OK;
    }
    if (sg.n == 4 && seg_is(&sg, 1, "v3") && seg_is(&sg, 2, "api")) {
      p->route = R_OPENAPI_V3_GV;
      seg_copy(&sg, 3, p->version);
      return IDP_OK;
    }
    if (sg.n == 5 && seg_is(&sg, 1, "v3") && seg_is(&sg, 2, "apis")) {
      p->route = R_OPENAPI_V3_GV;
      seg_copy(&sg, 3, p->group);
      seg_copy(&sg, 4, p->version);
      return IDP_OK;
    }
    return not_found(e);
  }
  size_t i;
  if (seg_is(&sg, 0, "api")) {
    if (sg.n == 1) {
      p->route = R_API;
      return IDP_OK;
    }
    seg_copy(&sg, 1, p->version);
    i = 2;
  } else if (seg_is(&sg, 0, "apis")) {
    if (sg.n == 1) {
      p->route = R_APIS;
      return IDP_OK;
    }
    seg_copy(&sg, 1, p->group);
    if (sg.n == 2) {
      p->route = R_GROUP;
      return IDP_OK;
    }
    seg_copy(&sg, 2, p->version);
    i = 3;
  } else {
    return not_found(e);
  }
  if (sg.n == i) {
    p->route = R_GV;
    return IDP_OK;
  }
  /* namespaces/<ns>/<plural>... unless the third part is a namespace subresource */
  if (seg_is(&sg, i, "namespaces") && sg.n >= i + 3) {
    bool ns_sub = false;
    for (size_t k = 0; k < IDP_ARRAY_LEN(namespace_subresources); k++)
      ns_sub |= seg_is(&sg, i + 2, namespace_subresources[k]) && sg.n == i + 3;
    if (!ns_sub) {
      seg_copy(&sg, i + 1, p->ns);
      p->has_ns = true;
      i += 2;
    }
  }
  size_t rest = sg.n - i;
  if (rest < 1 || rest > 3) return not_found(e);
  seg_copy(&sg, i, p->plural);
  if (rest == 1) {
    p->route = R_COLLECTION;
    return IDP_OK;
  }
  seg_copy(&sg, i + 1, p->name);
  if (rest == 3) seg_copy(&sg, i + 2, p->sub);
  p->route = R_ITEM;
  return IDP_OK;
}

const char *api_query(const idp_api_request *rq, const char *key) {
  const char *v = NULL;
  for (size_t i = 0; i < rq->nquery; i++)
    if (rq->query[i].key && !strcmp(rq->query[i].key, key)) v = rq->query[i].value;
  return v;
}

bool api_query_bool(const idp_api_request *rq, const char *key) {
  const char *v = api_query(rq, key);
  if (!v) return false;
  return !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "True") || !strcmp(v, "") ||
         !strcmp(v, "t") || !strcmp(v, "T") || !strcmp(v, "TRUE");
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decodes in place-ish: from src[0..n) into dst; returns the length. */
static size_t url_decode(const char *src, size_t n, char *dst) {
  size_t w = 0;
  for (size_t i = 0; i < n; i++) {
    if (src[i] == '+') {
      dst[w++] = ' ';
    } else if (src[i] == '%' && i + 2 < n && hexval(src[i + 1]) >= 0 &&
               hexval(src[i + 2]) >= 0) {
      dst[w++] = (char)(hexval(src[i + 1]) * 16 + hexval(src[i + 2]));
      i += 2;
    } else {
      dst[w++] = src[i];
    }
  }
  dst[w] = '\0';
  return w;
}

idp_code idp_api_query_parse(const char *raw, idp_api_query **pairs, size_t *n, idp_err *e) {
  *pairs = NULL;
  *n = 0;
  if (!raw) raw = "";
  size_t len = strlen(raw);
  if (len > 64 * 1024) return idp_err_set(e, IDP_EINVAL, "query string longer than 64 KiB");
  size_t count = 0;
  for (const char *p = raw; *p; p++) count += *p == '&';
  count++;
  /* one block: the pair array, then the decoded strings (each <= its raw length) */
  size_t bytes = count * sizeof(idp_api_query) + 2 * (len + count + 1);
  char *block = malloc(bytes);
  if (!block) return idp_err_set(e, IDP_ENOMEM, "parsing the query string");
  idp_api_query *q = (idp_api_query *)block;
  char *str = block + count * sizeof(idp_api_query);
  size_t k = 0;
  const char *p = raw;
  while (*p) {
    const char *amp = strchr(p, '&');
    size_t plen = amp ? (size_t)(amp - p) : strlen(p);
    if (plen) {
      const char *eq = memchr(p, '=', plen);
      size_t kl = eq ? (size_t)(eq - p) : plen;
      q[k].key = str;
      str += url_decode(p, kl, str) + 1;
      q[k].value = str;
      str += (eq ? url_decode(eq + 1, plen - kl - 1, str) : (str[0] = '\0', 0)) + 1;
      k++;
    }
    if (!amp) break;
    p = amp + 1;
  }
  *pairs = q;
  *n = k;
  return IDP_OK;
}
