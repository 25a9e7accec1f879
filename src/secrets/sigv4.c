#include "core/common.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "secrets/sigv4.h"

/* Headers that proxies or clients may change in flight: never signed
 * (aws-c-auth's skip list). */
static const char *const unsigned_headers[] = {
    "authorization",         "connection",       "expect",
    "sec-websocket-key",     "sec-websocket-protocol", "sec-websocket-version",
    "upgrade",               "user-agent",       "x-amzn-trace-id",
    "transfer-encoding",     "proxy-authorization",
};

static bool header_unsigned(const char *lname) {
  for (size_t i = 0; i < IDP_ARRAY_LEN(unsigned_headers); i++)
    if (!strcmp(lname, unsigned_headers[i])) return true;
  return false;
}

static void hex(const unsigned char *in, size_t n, char *out) {
  static const char d[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = d[in[i] >> 4];
    out[2 * i + 1] = d[in[i] & 15];
  }
  out[2 * n] = 0;
}

void idp_sha256_hex(const void *data, size_t len, char out[65]) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(data ? data : (const void *)"", len, md);
  hex(md, sizeof md, out);
}

static void hmac(const void *key, size_t klen, const char *msg, size_t mlen,
                 unsigned char out[32]) {
  unsigned int n = 32;
  HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, mlen, out, &n);
}

void idp_sigv4_amz_date(time_t t, char out[17]) {
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static bool unreserved(unsigned char c) {
  return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

idp_code idp_sigv4_uri_encode(idp_buf *out, const char *s, size_t n, bool keep_slash) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    idp_code rc = (unreserved(c) || (keep_slash && c == '/'))
                      ? idp_buf_addc(out, (char)c)
                      : idp_buf_printf(out, "%%%02X", c);
    if (rc) return rc;
  }
  return IDP_OK;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Percent-decodes s[0..n) into out (malformed escapes stay literal). */
static idp_code uri_decode(idp_buf *out, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int h, l;
    if (s[i] == '%' && i + 2 < n && (h = hexval(s[i + 1])) >= 0 &&
        (l = hexval(s[i + 2])) >= 0) {
      if (idp_buf_addc(out, (char)(h * 16 + l))) return IDP_ENOMEM;
      i += 2;
    } else if (idp_buf_addc(out, s[i])) {
      return IDP_ENOMEM;
    }
  }
  return IDP_OK;
}

/* RFC 3986 remove_dot_segments plus '//' collapsing, on the raw path. */
static idp_code normalize_path(const char *path, idp_buf *out) {
  size_t n = strlen(path);
  /* segments as (start, len) pairs on a stack */
  size_t cap = n / 1 + 2, top = 0;
  size_t *st = malloc(cap * 2 * sizeof *st);
  if (!st) return IDP_ENOMEM;
  bool trailing = n > 0 && path[n - 1] == '/';
  size_t i = 0;
  while (i < n) {
    while (i < n && path[i] == '/') i++;
    size_t s = i;
    while (i < n && path[i] != '/') i++;
    size_t len = i - s;
    if (len == 0) continue;
    if (len == 1 && path[s] == '.') {
      if (i >= n) trailing = true;
      continue;
    }
    if (len == 2 && path[s] == '.' && path[s + 1] == '.') {
      if (top) top--;
      if (i >= n) trailing = true;
      continue;
    }
    st[2 * top] = s;
    st[2 * top + 1] = len;
    top++;
  }
  idp_code rc = IDP_OK;
  for (size_t k = 0; k < top && !rc; k++) {
    rc = idp_buf_addc(out, '/');
    if (!rc) rc = idp_buf_add(out, path + st[2 * k], st[2 * k + 1]);
  }
  if (!rc && (top == 0 || trailing)) rc = idp_buf_addc(out, '/');
  free(st);
  return rc;
}

typedef struct kv {
  char *k, *v;
} kv;

static int kv_cmp(const void *a, const void *b) {
  const kv *x = a, *y = b;
  int c = strcmp(x->k, y->k);
  return c ? c : strcmp(x->v, y->v);
}

/* Splits a raw query into encoded (key, value) pairs appended to *arr. */
static idp_code query_pairs(const char *q, kv **arr, size_t *n, size_t *cap) {
  if (!q) return IDP_OK;
  const char *p = q;
  while (*p) {
    const char *amp = strchr(p, '&');
    size_t len = amp ? (size_t)(amp - p) : strlen(p);
    if (len) {
      const char *eq = memchr(p, '=', len);
      size_t kl = eq ? (size_t)(eq - p) : len;
      idp_buf raw, enc_k, enc_v;
      idp_buf_init(&raw, IDP_BUF_DEFAULT_MAX);
      idp_buf_init(&enc_k, IDP_BUF_DEFAULT_MAX);
      idp_buf_init(&enc_v, IDP_BUF_DEFAULT_MAX);
      idp_code rc = uri_decode(&raw, p, kl);
      if (!rc) rc = idp_sigv4_uri_encode(&enc_k, raw.data ? raw.data : "", raw.len, false);
      idp_buf_reset(&raw);
      if (!rc && eq) rc = uri_decode(&raw, eq + 1, len - kl - 1);
      if (!rc) rc = idp_sigv4_uri_encode(&enc_v, raw.data ? raw.data : "", raw.len, false);
      idp_buf_free(&raw);
      if (!rc && *n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        kv *na = realloc(*arr, nc * sizeof *na);
        if (!na) rc = IDP_ENOMEM;
        else {
          *arr = na;
          *cap = nc;
        }
      }
      if (rc) {
        idp_buf_free(&enc_k);
        idp_buf_free(&enc_v);
        return rc;
      }
      (*arr)[*n].k = idp_buf_detach(&enc_k, NULL);
      (*arr)[*n].v = idp_buf_detach(&enc_v, NULL);
      if (!(*arr)[*n].k) (*arr)[*n].k = strdup("");
      if (!(*arr)[*n].v) (*arr)[*n].v = strdup("");
      (*n)++;
    }
    if (!amp) break;
    p = amp + 1;
  }
  return IDP_OK;
}

static idp_code add_pair(kv **arr, size_t *n, size_t *cap, const char *k, const char *v) {
  if (*n == *cap) {
    size_t nc = *cap ? *cap * 2 : 8;
    kv *na = realloc(*arr, nc * sizeof *na);
    if (!na) return IDP_ENOMEM;
    *arr = na;
    *cap = nc;
  }
  idp_buf ev;
  idp_buf_init(&ev, IDP_BUF_DEFAULT_MAX);
  if (idp_sigv4_uri_encode(&ev, v, strlen(v), false)) {
    idp_buf_free(&ev);
    return IDP_ENOMEM;
  }
  (*arr)[*n].k = strdup(k);
  (*arr)[*n].v = ev.data ? idp_buf_detach(&ev, NULL) : strdup("");
  (*n)++;
  return IDP_OK;
}

typedef struct hdr {
  char *name;  /* lower case */
  idp_buf val; /* canonical value(s), ',' joined */
  size_t order;
} hdr;

static int hdr_cmp(const void *a, const void *b) {
  const hdr *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  return c ? c : (x->order < y->order ? -1 : x->order > y->order);
}

/* Trims and collapses white space runs (folded lines included). */
static idp_code canon_value(idp_buf *out, const char *v) {
  while (*v && isspace((unsigned char)*v)) v++;
  bool sp = false;
  for (; *v; v++) {
    if (isspace((unsigned char)*v)) {
      sp = true;
      continue;
    }
    if (sp && idp_buf_addc(out, ' ')) return IDP_ENOMEM;
    sp = false;
    if (idp_buf_addc(out, *v)) return IDP_ENOMEM;
  }
  return IDP_OK;
}

typedef struct hdrset {
  hdr *h;
  size_t n, cap;
} hdrset;

static idp_code hdrset_add(hdrset *s, const char *name, const char *value) {
  char lname[256];
  size_t nl = strlen(name);
  if (nl == 0 || nl >= sizeof lname) return IDP_EINVAL;
  for (size_t i = 0; i <= nl; i++) lname[i] = (char)tolower((unsigned char)name[i]);
  if (header_unsigned(lname)) return IDP_OK;
  for (size_t i = 0; i < s->n; i++) {
    if (!strcmp(s->h[i].name, lname)) {
      if (idp_buf_addc(&s->h[i].val, ',')) return IDP_ENOMEM;
      return canon_value(&s->h[i].val, value);
    }
  }
  if (s->n == s->cap) {
    size_t nc = s->cap ? s->cap * 2 : 8;
    hdr *nh = realloc(s->h, nc * sizeof *nh);
    if (!nh) return IDP_ENOMEM;
    s->h = nh;
    s->cap = nc;
  }
  hdr *h = &s->h[s->n];
  h->name = strdup(lname);
  if (!h->name) return IDP_ENOMEM;
  idp_buf_init(&h->val, IDP_BUF_DEFAULT_MAX);
  h->order = s->n;
  s->n++;
  return canon_value(&h->val, value);
}

static void hdrset_free(hdrset *s) {
  for (size_t i = 0; i < s->n; i++) {
    free(s->h[i].name);
    idp_buf_free(&s->h[i].val);
  }
  free(s->h);
}

void idp_sigv4_result_free(idp_sigv4_result *r) {
  if (!r) return;
  idp_buf_free(&r->canonical_request);
  idp_buf_free(&r->string_to_sign);
  idp_buf_free(&r->authorization);
  idp_buf_free(&r->query_suffix);
  for (size_t i = 0; i < r->nadded; i++) free(r->added_value[i]);
  r->nadded = 0;
}

static idp_code add_header_out(idp_sigv4_result *r, const char *name, const char *value) {
  if (r->nadded >= IDP_SIGV4_MAX_ADDED) return IDP_EINTERNAL;
  char *v = strdup(value);
  if (!v) return IDP_ENOMEM;
  r->added_name[r->nadded] = name;
  r->added_value[r->nadded++] = v;
  return IDP_OK;
}

idp_code idp_sigv4_sign(const idp_sigv4_request *rq, const idp_sigv4_params *p,
                        idp_sigv4_result *out, idp_err *e) {
  memset(out, 0, sizeof *out);
  idp_buf_init(&out->canonical_request, IDP_BUF_DEFAULT_MAX);
  idp_buf_init(&out->string_to_sign, 4096);
  idp_buf_init(&out->authorization, 4096);
  idp_buf_init(&out->query_suffix, IDP_BUF_DEFAULT_MAX);
  if (!p->access_key_id || !*p->access_key_id)
    return idp_err_set(e, IDP_EINVAL, "sigv4: access key id is empty");
  if (!p->secret_access_key || !*p->secret_access_key)
    return idp_err_set(e, IDP_EINVAL, "sigv4: secret access key is empty");
  if (!p->region || !*p->region) return idp_err_set(e, IDP_EINVAL, "sigv4: region is empty");
  if (!p->service || !*p->service) return idp_err_set(e, IDP_EINVAL, "sigv4: service is empty");
  if (!rq->method || !rq->path) return idp_err_set(e, IDP_EINVAL, "sigv4: method and path are required");

  char amzdate[17], date[9];
  idp_sigv4_amz_date(p->time, amzdate);
  memcpy(date, amzdate, 8);
  date[8] = 0;
  char payload[65];
  idp_sha256_hex(rq->body, rq->body_len, payload);
  bool token = p->session_token && *p->session_token;
  bool token_signed = token && !p->omit_session_token;

  idp_code rc = IDP_OK;
  hdrset hs = {0};
  kv *qs = NULL;
  size_t nq = 0, capq = 0;
  idp_buf scope, signed_h, tmp;
  idp_buf_init(&scope, 1024);
  idp_buf_init(&signed_h, 65536);
  idp_buf_init(&tmp, IDP_BUF_DEFAULT_MAX);
  bool have_host = false;

  for (size_t i = 0; i < rq->nheaders && !rc; i++) {
    if (!strcasecmp(rq->headers[i].name, "host")) have_host = true;
    rc = hdrset_add(&hs, rq->headers[i].name, rq->headers[i].value ? rq->headers[i].value : "");
    if (rc == IDP_EINVAL) {
      rc = idp_err_set(e, IDP_EINVAL, "sigv4: invalid header name");
      goto done;
    }
  }
  if (!rc && !have_host) {
    rc = idp_err_set(e, IDP_EINVAL, "sigv4: the request has no Host header");
    goto done;
  }
  if (!p->presign) {
    if (!rc && token_signed) rc = hdrset_add(&hs, "x-amz-security-token", p->session_token);
    if (!rc) rc = hdrset_add(&hs, "x-amz-date", amzdate);
    if (!rc && p->sign_body) rc = hdrset_add(&hs, "x-amz-content-sha256", payload);
  }
  if (rc) goto oom;
  idp_sort(hs.h, hs.n, sizeof *hs.h, hdr_cmp);
  for (size_t i = 0; i < hs.n && !rc; i++)
    rc = idp_buf_printf(&signed_h, "%s%s", i ? ";" : "", hs.h[i].name);
  if (!rc)
    rc = idp_buf_printf(&scope, "%s/%s/%s/aws4_request", date, p->region, p->service);
  if (rc) goto oom;

  rc = query_pairs(rq->query, &qs, &nq, &capq);
  char expires[32];
  snprintf(expires, sizeof expires, "%ld", p->expires_s > 0 ? p->expires_s : 3600L);
  idp_buf cred;
  idp_buf_init(&cred, 2048);
  if (!rc) rc = idp_buf_printf(&cred, "%s/%s", p->access_key_id, idp_buf_str(&scope));
  if (!rc && p->presign) {
    rc = add_pair(&qs, &nq, &capq, "X-Amz-Algorithm", "AWS4-HMAC-SHA256");
    if (!rc) rc = add_pair(&qs, &nq, &capq, "X-Amz-Credential", idp_buf_str(&cred));
    if (!rc) rc = add_pair(&qs, &nq, &capq, "X-Amz-Date", amzdate);
    if (!rc) rc = add_pair(&qs, &nq, &capq, "X-Amz-Expires", expires);
    if (!rc && token_signed) rc = add_pair(&qs, &nq, &capq, "X-Amz-Security-Token", p->session_token);
    if (!rc) rc = add_pair(&qs, &nq, &capq, "X-Amz-SignedHeaders", idp_buf_str(&signed_h));
  }
  if (rc) {
    idp_buf_free(&cred);
    goto oom;
  }
  idp_sort(qs, nq, sizeof *qs, kv_cmp);

  /* canonical request */
  idp_buf *cr = &out->canonical_request;
  rc = idp_buf_printf(cr, "%s\n", rq->method);
  if (!rc) {
    if (p->normalize_path) rc = normalize_path(rq->path, &tmp);
    else rc = idp_buf_adds(&tmp, *rq->path ? rq->path : "/");
  }
  if (!rc) rc = idp_sigv4_uri_encode(cr, idp_buf_str(&tmp), tmp.len, true);
  if (!rc) rc = idp_buf_addc(cr, '\n');
  for (size_t i = 0; i < nq && !rc; i++) rc = idp_buf_printf(cr, "%s%s=%s", i ? "&" : "", qs[i].k, qs[i].v);
  if (!rc) rc = idp_buf_addc(cr, '\n');
  for (size_t i = 0; i < hs.n && !rc; i++)
    rc = idp_buf_printf(cr, "%s:%s\n", hs.h[i].name, idp_buf_str(&hs.h[i].val));
  if (!rc) rc = idp_buf_printf(cr, "\n%s\n%s", idp_buf_str(&signed_h), payload);

  /* string to sign */
  char crhash[65];
  idp_sha256_hex(cr->data, cr->len, crhash);
  if (!rc)
    rc = idp_buf_printf(&out->string_to_sign, "AWS4-HMAC-SHA256\n%s\n%s\n%s", amzdate,
                        idp_buf_str(&scope), crhash);
  if (rc) {
    idp_buf_free(&cred);
    goto oom;
  }

  /* signing key: HMAC chain from "AWS4" + secret */
  {
    idp_buf k;
    idp_buf_init(&k, 4096);
    rc = idp_buf_printf(&k, "AWS4%s", p->secret_access_key);
    unsigned char k1[32], k2[32], k3[32], k4[32], sig[32];
    if (!rc) {
      hmac(k.data, k.len, date, strlen(date), k1);
      hmac(k1, 32, p->region, strlen(p->region), k2);
      hmac(k2, 32, p->service, strlen(p->service), k3);
      hmac(k3, 32, "aws4_request", 12, k4);
      hmac(k4, 32, out->string_to_sign.data, out->string_to_sign.len, sig);
      hex(sig, 32, out->signature);
    }
    OPENSSL_cleanse(k.data, k.len);
    OPENSSL_cleanse(k1, 32);
    OPENSSL_cleanse(k4, 32);
    idp_buf_free(&k);
  }

  if (!rc && !p->presign) {
    rc = idp_buf_printf(&out->authorization,
                        "AWS4-HMAC-SHA256 Credential=%s, SignedHeaders=%s, Signature=%s",
                        idp_buf_str(&cred), idp_buf_str(&signed_h), out->signature);
    if (!rc && token) rc = add_header_out(out, "X-Amz-Security-Token", p->session_token);
    if (!rc) rc = add_header_out(out, "X-Amz-Date", amzdate);
    if (!rc && p->sign_body) rc = add_header_out(out, "x-amz-content-sha256", payload);
    if (!rc) rc = add_header_out(out, "Authorization", idp_buf_str(&out->authorization));
  } else if (!rc) {
    idp_buf *q = &out->query_suffix;
    rc = idp_buf_adds(q, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=");
    if (!rc) rc = idp_sigv4_uri_encode(q, cred.data, cred.len, false);
    if (!rc) rc = idp_buf_printf(q, "&X-Amz-Date=%s&X-Amz-SignedHeaders=", amzdate);
    if (!rc) rc = idp_sigv4_uri_encode(q, signed_h.data, signed_h.len, false);
    if (!rc) rc = idp_buf_printf(q, "&X-Amz-Expires=%s", expires);
    if (!rc && token) {
      rc = idp_buf_adds(q, "&X-Amz-Security-Token=");
      if (!rc) rc = idp_sigv4_uri_encode(q, p->session_token, strlen(p->session_token), false);
    }
    if (!rc) rc = idp_buf_printf(q, "&X-Amz-Signature=%s", out->signature);
  }
  idp_buf_free(&cred);
oom:
  if (rc) rc = idp_err_set(e, rc, "sigv4: cannot build the signature (%s)", idp_code_name(rc));
done:
  hdrset_free(&hs);
  for (size_t i = 0; i < nq; i++) {
    free(qs[i].k);
    free(qs[i].v);
  }
  free(qs);
  idp_buf_free(&scope);
  idp_buf_free(&signed_h);
  idp_buf_free(&tmp);
  return rc;
}
