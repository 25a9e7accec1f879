#include "core/common.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <time.h>

#include "core/buf.h"
#include "core/json.h"
#include "secrets/satoken.h"

#define LEEWAY_S 60
#define MIN_EXPIRATION_S 600
#define DEFAULT_EXPIRATION_S 3600

struct idp_satoken_signer {
  EVP_PKEY *key;
  bool ec;
  char *issuer;
  json_t *audiences; /* array */
  char kid[64];
};

/* ---- base64url -------------------------------------------------------- */

char *idp_b64url_encode(const void *data, size_t len) {
  size_t n = 4 * ((len + 2) / 3) + 1;
  char *out = malloc(n);
  if (!out) return NULL;
  int w = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
  if (w < 0) {
    free(out);
    return NULL;
  }
  while (w > 0 && out[w - 1] == '=') w--;
  out[w] = 0;
  for (int i = 0; i < w; i++) {
    if (out[i] == '+') out[i] = '-';
    else if (out[i] == '/') out[i] = '_';
  }
  return out;
}

unsigned char *idp_b64url_decode(const char *s, size_t n, size_t *len) {
  if (n > (1u << 24)) return NULL;
  size_t pad = (4 - n % 4) % 4;
  if (pad == 3) return NULL;
  char *t = malloc(n + pad + 1);
  unsigned char *out = malloc((n + pad) / 4 * 3 + 1);
  if (!t || !out) {
    free(t);
    free(out);
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '-') c = '+';
    else if (c == '_') c = '/';
    else if (c == '+' || c == '/' || c == '=') {
      free(t);
      free(out);
      return NULL;
    }
    t[i] = c;
  }
  for (size_t i = 0; i < pad; i++) t[n + i] = '=';
  t[n + pad] = 0;
  int w = EVP_DecodeBlock(out, (unsigned char *)t, (int)(n + pad));
  free(t);
  if (w < 0) {
    free(out);
    return NULL;
  }
  *len = (size_t)w - pad;
  return out;
}

/* ---- signer ------------------------------------------------------------- */

idp_code idp_satoken_signer_new(const char *key_pem, const char *issuer,
                                const json_t *api_audiences, idp_satoken_signer **out,
                                idp_err *e) {
  *out = NULL;
  if (!key_pem || !issuer || !*issuer)
    return idp_err_set(e, IDP_EINVAL, "service-account signer: key and issuer are required");
  BIO *bio = BIO_new_mem_buf(key_pem, -1);
  EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
  BIO_free(bio);
  if (!key) return idp_err_set(e, IDP_EINVAL, "service-account signer: the key is not a PEM private key");
  bool ec = false;
  if (EVP_PKEY_is_a(key, "EC")) {
    char curve[64] = "";
    size_t cl = 0;
    EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof curve, &cl);
    if (strcmp(curve, "prime256v1") && strcmp(curve, "P-256")) {
      EVP_PKEY_free(key);
      return idp_err_set(e, IDP_EINVAL, "service-account signer: EC key on curve %s (want P-256)", curve);
    }
    ec = true;
  } else if (!EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_get_bits(key) < 2048) {
    EVP_PKEY_free(key);
    return idp_err_set(e, IDP_EINVAL, "service-account signer: want an RSA (>= 2048 bits) or EC P-256 key");
  }
  idp_satoken_signer *s = calloc(1, sizeof *s);
  if (!s) {
    EVP_PKEY_free(key);
    return idp_err_set(e, IDP_ENOMEM, "service-account signer: out of memory");
  }
  s->key = key;
  s->ec = ec;
  s->issuer = strdup(issuer);
  if (api_audiences && json_is_array(api_audiences) && json_array_size(api_audiences))
    s->audiences = json_deep_copy(api_audiences);
  else
    s->audiences = json_pack("[s]", issuer);
  /* kid: base64url(SHA-256(DER SubjectPublicKeyInfo)), as kube-apiserver */
  unsigned char *der = NULL;
  int dl = i2d_PUBKEY(key, &der);
  if (dl > 0) {
    unsigned char md[32];
    SHA256(der, (size_t)dl, md);
    char *k = idp_b64url_encode(md, 32);
    if (k) snprintf(s->kid, sizeof s->kid, "%s", k);
    free(k);
  }
  OPENSSL_free(der);
  if (!s->issuer || !s->audiences || !s->kid[0]) {
    idp_satoken_signer_free(s);
    return idp_err_set(e, IDP_ENOMEM, "service-account signer: out of memory");
  }
  *out = s;
  return IDP_OK;
}

void idp_satoken_signer_free(idp_satoken_signer *s) {
  if (!s) return;
  EVP_PKEY_free(s->key);
  free(s->issuer);
  json_decref(s->audiences);
  free(s);
}

const char *idp_satoken_alg(const idp_satoken_signer *s) { return s->ec ? "ES256" : "RS256"; }
const char *idp_satoken_kid(const idp_satoken_signer *s) { return s->kid; }

/* Signs data; *sig malloc'd in JWS form (ES256: r||s, 64 bytes). */
static idp_code jws_sign(idp_satoken_signer *s, const char *data, size_t n, unsigned char **sig,
                         size_t *sl) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  size_t len = 0;
  unsigned char *der = NULL;
  idp_code rc = IDP_EINTERNAL;
  if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, s->key) != 1 ||
      EVP_DigestSign(ctx, NULL, &len, (const unsigned char *)data, n) != 1)
    goto out;
  der = malloc(len);
  if (!der || EVP_DigestSign(ctx, der, &len, (const unsigned char *)data, n) != 1) goto out;
  if (!s->ec) {
    *sig = der;
    *sl = len;
    der = NULL;
    rc = IDP_OK;
    goto out;
  }
  {
    const unsigned char *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
    if (!es) goto out;
    unsigned char *raw = calloc(1, 64);
    if (raw && BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32) == 32 &&
        BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32) == 32) {
      *sig = raw;
      *sl = 64;
      rc = IDP_OK;
    } else {
      free(raw);
    }
    ECDSA_SIG_free(es);
  }
out:
  free(der);
  EVP_MD_CTX_free(ctx);
  return rc;
}

static bool jws_verify(idp_satoken_signer *s, const char *data, size_t n,
                       const unsigned char *sig, size_t sl) {
  unsigned char *der = NULL;
  size_t dl = 0;
  if (s->ec) {
    if (sl != 64) return false;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *ss = BN_bin2bn(sig + 32, 32, NULL);
    if (!es || !r || !ss || !ECDSA_SIG_set0(es, r, ss)) {
      BN_free(r);
      BN_free(ss);
      ECDSA_SIG_free(es);
      return false;
    }
    int l = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);
    if (l <= 0) return false;
    dl = (size_t)l;
    sig = der;
    sl = dl;
  }
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, s->key) == 1 &&
            EVP_DigestVerify(ctx, sig, sl, (const unsigned char *)data, n) == 1;
  EVP_MD_CTX_free(ctx);
  OPENSSL_free(der);
  return ok;
}

static void uuid4(char out[37]) {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) memset(b, 0x5a, sizeof b);
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
  snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
           b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
           b[14], b[15]);
}

static char *b64_json(const json_t *j) {
  char *t = json_dumps(j, JSON_COMPACT);
  if (!t) return NULL;
  char *r = idp_b64url_encode(t, strlen(t));
  free(t);
  return r;
}

idp_code idp_satoken_issue(idp_satoken_signer *s, const idp_satoken_req *r, char **token,
                           int64_t *exp, idp_err *e) {
  *token = NULL;
  if (!r->ns || !*r->ns || !r->name || !*r->name)
    return idp_err_set(e, IDP_EINVAL, "token request: service account namespace and name are required");
  int64_t now = r->now ? r->now : (int64_t)time(NULL);
  int64_t ttl = r->expiration_s ? r->expiration_s : DEFAULT_EXPIRATION_S;
  if (ttl < MIN_EXPIRATION_S)
    return idp_err_set(e, IDP_EINVALID,
                       "spec.expirationSeconds: Invalid value: %" PRId64 ": may not specify a duration less than 10 minutes",
                       ttl);
  if (ttl > ((int64_t)1 << 32))
    return idp_err_set(e, IDP_EINVALID,
                       "spec.expirationSeconds: Invalid value: %" PRId64 ": may not specify a duration larger than 2^32 seconds",
                       ttl);
  const json_t *aud = (r->audiences && json_array_size(r->audiences)) ? r->audiences : s->audiences;
  size_t i;
  json_t *v;
  json_array_foreach(aud, i, v) if (!json_is_string(v))
      return idp_err_set(e, IDP_EINVALID, "spec.audiences[%zu]: Invalid value: must be a string", i);
  char jti[37], sub[600];
  uuid4(jti);
  snprintf(sub, sizeof sub, "system:serviceaccount:%s:%s", r->ns, r->name);
  json_t *hdr = json_pack("{s:s,s:s}", "alg", idp_satoken_alg(s), "kid", s->kid);
  json_t *cl = json_pack("{s:O,s:I,s:I,s:s,s:s,s:{s:s,s:{s:s,s:s}},s:I,s:s}", "aud", aud, "exp",
                         (json_int_t)(now + ttl), "iat", (json_int_t)now, "iss", s->issuer, "jti",
                         jti, "kubernetes.io", "namespace", r->ns, "serviceaccount", "name",
                         r->name, "uid", r->uid ? r->uid : "", "nbf", (json_int_t)now, "sub", sub);
  char *h64 = hdr ? b64_json(hdr) : NULL, *c64 = cl ? b64_json(cl) : NULL;
  json_decref(hdr);
  json_decref(cl);
  idp_code rc = IDP_ENOMEM;
  idp_buf b;
  idp_buf_init(&b, 1 << 20);
  unsigned char *sig = NULL;
  size_t sl = 0;
  if (h64 && c64 && !idp_buf_printf(&b, "%s.%s", h64, c64)) {
    rc = jws_sign(s, b.data, b.len, &sig, &sl);
    char *s64 = rc ? NULL : idp_b64url_encode(sig, sl);
    if (!rc && (!s64 || idp_buf_printf(&b, ".%s", s64))) rc = IDP_ENOMEM;
    free(s64);
  }
  free(sig);
  free(h64);
  free(c64);
  if (rc) {
    idp_buf_free(&b);
    return idp_err_set(e, rc, "token request: cannot sign the token");
  }
  *token = idp_buf_detach(&b, NULL);
  if (exp) *exp = now + ttl;
  return IDP_OK;
}

static json_t *decode_part(const char *p, size_t n) {
  size_t l = 0;
  unsigned char *raw = idp_b64url_decode(p, n, &l);
  if (!raw) return NULL;
  json_t *j = json_loadb((const char *)raw, l, JSON_REJECT_DUPLICATES, NULL);
  free(raw);
  return json_is_object(j) ? j : (json_decref(j), NULL);
}

static bool aud_has(const json_t *aud, const char *a) {
  if (json_is_string(aud)) return !strcmp(json_string_value(aud), a);
  size_t i;
  json_t *v;
  json_array_foreach(aud, i, v) if (json_is_string(v) && !strcmp(json_string_value(v), a)) return true;
  return false;
}

idp_code idp_satoken_verify(idp_satoken_signer *s, const char *token, const json_t *audiences,
                            int64_t now, json_t **claims, idp_err *e) {
  if (claims) *claims = NULL;
  if (!now) now = (int64_t)time(NULL);
  if (!token) return idp_err_set(e, IDP_EUNAUTH, "token is empty");
  const char *d1 = strchr(token, '.');
  const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
  if (!d1 || !d2 || strchr(d2 + 1, '.'))
    return idp_err_set(e, IDP_EUNAUTH, "token is not a JWS compact serialization");
  json_t *hdr = decode_part(token, (size_t)(d1 - token));
  json_t *cl = decode_part(d1 + 1, (size_t)(d2 - d1 - 1));
  idp_code rc = IDP_EUNAUTH;
  const char *why = NULL;
  if (!hdr || !cl) {
    why = "token header or claims are not base64url JSON";
    goto out;
  }
  const char *alg = idp_json_get_str(hdr, "alg", NULL);
  if (!alg || strcmp(alg, idp_satoken_alg(s))) {
    why = "token algorithm is not accepted";
    goto out;
  }
  const char *kid = idp_json_get_str(hdr, "kid", NULL);
  if (kid && strcmp(kid, s->kid)) {
    why = "token key id is unknown";
    goto out;
  }
  {
    size_t sl = 0;
    unsigned char *sig = idp_b64url_decode(d2 + 1, strlen(d2 + 1), &sl);
    bool ok = sig && jws_verify(s, token, (size_t)(d2 - token), sig, sl);
    free(sig);
    if (!ok) {
      why = "invalid signature";
      goto out;
    }
  }
  const char *iss = idp_json_get_str(cl, "iss", NULL);
  if (!iss || strcmp(iss, s->issuer)) {
    why = "token issuer is not accepted";
    goto out;
  }
  json_t *jexp = json_object_get(cl, "exp"), *jnbf = json_object_get(cl, "nbf");
  if (!json_is_integer(jexp) || json_integer_value(jexp) + LEEWAY_S < now) {
    why = "token has expired";
    goto out;
  }
  if (json_is_integer(jnbf) && json_integer_value(jnbf) - LEEWAY_S > now) {
    why = "token is not valid yet";
    goto out;
  }
  const char *sub = idp_json_get_str(cl, "sub", NULL);
  if (!sub || strncmp(sub, "system:serviceaccount:", 22) ||
      !idp_json_get_str(cl, "kubernetes.io", "namespace", NULL) ||
      !idp_json_get_str(cl, "kubernetes.io", "serviceaccount", "name", NULL)) {
    why = "token is not a service-account token";
    goto out;
  }
  const json_t *want = (audiences && json_array_size(audiences)) ? audiences : s->audiences;
  json_t *aud = json_object_get(cl, "aud");
  bool shared = false;
  size_t i;
  json_t *v;
  json_array_foreach(want, i, v) if (json_is_string(v) && aud_has(aud, json_string_value(v))) shared = true;
  if (!shared) {
    char *ta = json_dumps(aud, JSON_COMPACT | JSON_ENCODE_ANY), *wa = json_dumps(want, JSON_COMPACT);
    idp_err_set(e, IDP_EUNAUTH, "token audiences %s is invalid for the target audiences %s",
                ta ? ta : "?", wa ? wa : "?");
    free(ta);
    free(wa);
    json_decref(hdr);
    json_decref(cl);
    return IDP_EUNAUTH;
  }
  rc = IDP_OK;
  if (claims) {
    *claims = cl;
    cl = NULL;
  }
out:
  if (rc) idp_err_set(e, rc, "%s", why ? why : "invalid token");
  json_decref(hdr);
  json_decref(cl);
  return rc;
}

/* ---- API endpoints -------------------------------------------------------- */

static void rfc3339(int64_t t, char out[32]) {
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

idp_code idp_satoken_token_request(idp_satoken_signer *s, const char *ns, const char *name,
                                   const char *uid, const json_t *body, int64_t now,
                                   json_t **out, idp_err *e) {
  *out = NULL;
  if (body && !json_is_object(body))
    return idp_err_set(e, IDP_EINVAL, "TokenRequest: the body is not an object");
  json_t *spec = body ? json_object_get(body, "spec") : NULL;
  json_t *aud = spec ? json_object_get(spec, "audiences") : NULL;
  json_t *es = spec ? json_object_get(spec, "expirationSeconds") : NULL;
  if (aud && !json_is_array(aud) && !json_is_null(aud))
    return idp_err_set(e, IDP_EINVALID, "TokenRequest: spec.audiences: must be a list of strings");
  if (es && !json_is_integer(es) && !json_is_null(es))
    return idp_err_set(e, IDP_EINVALID, "TokenRequest: spec.expirationSeconds: must be an integer");
  int64_t exp = 0;
  char *tok = NULL;
  idp_satoken_req r = {.ns = ns, .name = name, .uid = uid,
                       .audiences = json_is_array(aud) ? aud : NULL,
                       .expiration_s = json_is_integer(es) ? json_integer_value(es) : 0,
                       .now = now};
  idp_code rc = idp_satoken_issue(s, &r, &tok, &exp, e);
  if (rc) return rc;
  const json_t *used = (aud && json_array_size(aud)) ? aud : s->audiences;
  char ts[32];
  rfc3339(exp, ts);
  json_t *o = json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:O,s:I},s:{s:s,s:s}}", "kind", "TokenRequest",
                        "apiVersion", "authentication.k8s.io/v1", "metadata", "name", name,
                        "namespace", ns, "spec", "audiences", used, "expirationSeconds",
                        (json_int_t)(r.expiration_s ? r.expiration_s : DEFAULT_EXPIRATION_S),
                        "status", "token", tok, "expirationTimestamp", ts);
  OPENSSL_cleanse(tok, strlen(tok));
  free(tok);
  if (!o) return idp_err_set(e, IDP_ENOMEM, "TokenRequest: out of memory");
  json_t *bor = spec ? json_object_get(spec, "boundObjectRef") : NULL;
  if (bor) json_object_set(json_object_get(o, "spec"), "boundObjectRef", bor);
  *out = o;
  return IDP_OK;
}

idp_code idp_satoken_token_review(idp_satoken_signer *s, const json_t *body, int64_t now,
                                  json_t **out, idp_err *e) {
  *out = NULL;
  if (!json_is_object(body)) return idp_err_set(e, IDP_EINVAL, "TokenReview: the body is not an object");
  json_t *spec = json_object_get(body, "spec");
  const char *tok = idp_json_get_str(spec, "token", NULL);
  json_t *aud = json_object_get(spec, "audiences");
  if (!tok) return idp_err_set(e, IDP_EINVALID, "TokenReview: spec.token: Required value");
  if (aud && !json_is_array(aud) && !json_is_null(aud))
    return idp_err_set(e, IDP_EINVALID, "TokenReview: spec.audiences: must be a list of strings");
  json_t *o = json_deep_copy(body);
  if (!o) return idp_err_set(e, IDP_ENOMEM, "TokenReview: out of memory");
  json_object_set_new(o, "kind", json_string("TokenReview"));
  json_object_set_new(o, "apiVersion", json_string("authentication.k8s.io/v1"));
  json_t *claims = NULL;
  idp_err ve = IDP_ERR_INIT;
  json_t *want = json_is_array(aud) && json_array_size(aud) ? aud : NULL;
  if (idp_satoken_verify(s, tok, want, now, &claims, &ve)) {
    json_object_set_new(o, "status", json_pack("{s:b,s:s}", "authenticated", 0, "error", ve.msg));
    *out = o;
    return IDP_OK;
  }
  const char *ns = idp_json_get_str(claims, "kubernetes.io", "namespace", NULL);
  const char *uid = idp_json_get_str(claims, "kubernetes.io", "serviceaccount", "uid", NULL);
  const char *jti = idp_json_get_str(claims, "jti", NULL);
  char g2[300];
  snprintf(g2, sizeof g2, "system:serviceaccounts:%s", ns);
  json_t *auds = json_array();
  const json_t *w = want ? want : s->audiences;
  size_t i;
  json_t *v;
  json_array_foreach(w, i, v) if (json_is_string(v) && aud_has(json_object_get(claims, "aud"), json_string_value(v)))
      json_array_append(auds, v);
  json_t *user = json_pack("{s:s,s:s,s:[s,s,s]}", "username", idp_json_get_str(claims, "sub", NULL),
                           "uid", uid ? uid : "", "groups", "system:serviceaccounts", g2,
                           "system:authenticated");
  if (user && jti) {
    char cid[80];
    snprintf(cid, sizeof cid, "JTI=%s", jti);
    json_object_set_new(user, "extra",
                        json_pack("{s:[s]}", "authentication.kubernetes.io/credential-id", cid));
  }
  json_object_set_new(o, "status", json_pack("{s:b,s:o,s:o}", "authenticated", 1, "user",
                                             user ? user : json_object(), "audiences", auds));
  json_decref(claims);
  *out = o;
  return IDP_OK;
}

/* ---- JWKS ------------------------------------------------------------------- */

static char *bn_b64(EVP_PKEY *k, const char *param, size_t pad) {
  BIGNUM *bn = NULL;
  if (EVP_PKEY_get_bn_param(k, param, &bn) != 1) return NULL;
  size_t n = (size_t)BN_num_bytes(bn);
  if (pad > n) n = pad;
  unsigned char *buf = calloc(1, n ? n : 1);
  char *out = NULL;
  if (buf && BN_bn2binpad(bn, buf, (int)n) == (int)n) out = idp_b64url_encode(buf, n);
  free(buf);
  BN_free(bn);
  return out;
}

json_t *idp_satoken_jwks(const idp_satoken_signer *s) {
  json_t *k = json_pack("{s:s,s:s,s:s}", "use", "sig", "alg", idp_satoken_alg(s), "kid", s->kid);
  if (!k) return NULL;
  if (s->ec) {
    char *x = bn_b64(s->key, OSSL_PKEY_PARAM_EC_PUB_X, 32), *y = bn_b64(s->key, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
    json_object_set_new(k, "kty", json_string("EC"));
    json_object_set_new(k, "crv", json_string("P-256"));
    if (x) json_object_set_new(k, "x", json_string(x));
    if (y) json_object_set_new(k, "y", json_string(y));
    free(x);
    free(y);
  } else {
    char *n = bn_b64(s->key, OSSL_PKEY_PARAM_RSA_N, 0), *e = bn_b64(s->key, OSSL_PKEY_PARAM_RSA_E, 0);
    json_object_set_new(k, "kty", json_string("RSA"));
    if (n) json_object_set_new(k, "n", json_string(n));
    if (e) json_object_set_new(k, "e", json_string(e));
    free(n);
    free(e);
  }
  return json_pack("{s:[o]}", "keys", k);
}

json_t *idp_satoken_openid_config(const idp_satoken_signer *s, const char *jwks_uri) {
  return json_pack("{s:s,s:s,s:[s],s:[s],s:[s]}", "issuer", s->issuer, "jwks_uri", jwks_uri ? jwks_uri : "",
                   "response_types_supported", "id_token", "subject_types_supported", "public",
                   "id_token_signing_alg_values_supported", idp_satoken_alg(s));
}
