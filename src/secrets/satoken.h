/* satoken.h: Kubernetes service-account tokens (JWT), issuing and review.
 *
 * What kube-apiserver does for `POST .../serviceaccounts/<name>/token`
 * (TokenRequest) and `POST /apis/authentication.k8s.io/v1/tokenreviews`
 * (TokenReview), as a library the API server mounts:
 *
 *   header  {"alg":"RS256"|"ES256","kid":<base64url SHA-256 of the public
 *            key's DER>}
 *   claims  {"aud":[...],"exp","iat","nbf","iss","jti",
 *            "kubernetes.io":{"namespace","serviceaccount":{"name","uid"}},
 *            "sub":"system:serviceaccount:<ns>:<name>"}
 *
 * The key decides the algorithm: an RSA key signs RS256 (PKCS#1 v1.5), an
 * EC P-256 key ES256 (the raw 64-byte r||s form JWS requires).  Defaults as
 * Kubernetes: expirationSeconds 3600 (minimum 600, maximum 2^32 s), audiences
 * = the signer's API audiences (default: the issuer).
 *
 * Verification checks the signature, alg (never "none"; only the key's own
 * algorithm), kid when present, iss, exp and nbf (60 s leeway, like the
 * apiserver), and the audience (at least one shared with the wanted list).
 * It does NOT check that the service account still exists with that uid:
 * the caller (the API server) owns the objects and does that lookup with
 * the returned claims.
 *
 * Ownership: an idp_satoken_signer owns a copy of the key; thread-safe for
 * issue/verify.  Returned strings are malloc'd, json_t* are new references.
 * Tokens never appear in error messages. */
#ifndef IDP_SECRETS_SATOKEN_H
#define IDP_SECRETS_SATOKEN_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"

typedef struct idp_satoken_signer idp_satoken_signer;

/* key_pem: an RSA (>= 2048 bits) or EC P-256 private key, PEM (PKCS#1,
 * SEC1 or PKCS#8).  issuer: the "iss" claim, e.g.
 * "https://kubernetes.default.svc.cluster.local".  api_audiences: JSON
 * array of strings or NULL (= [issuer]). */
idp_code idp_satoken_signer_new(const char *key_pem, const char *issuer,
                                const json_t *api_audiences, idp_satoken_signer **out,
                                idp_err *e);
void idp_satoken_signer_free(idp_satoken_signer *s);
/* "RS256" or "ES256"; the key id put in every header (borrowed). */
const char *idp_satoken_alg(const idp_satoken_signer *s);
const char *idp_satoken_kid(const idp_satoken_signer *s);

typedef struct idp_satoken_req {
  const char *ns, *name, *uid; /* the service account */
  const json_t *audiences;     /* array of strings; NULL/[] = API audiences */
  int64_t expiration_s;        /* 0 = 3600 */
  int64_t now;                 /* unix seconds; 0 = time(NULL) */
} idp_satoken_req;

/* Signs a token; *token malloc'd, *exp (may be NULL) the expiry (unix s). */
idp_code idp_satoken_issue(idp_satoken_signer *s, const idp_satoken_req *r, char **token,
                           int64_t *exp, idp_err *e);

/* Verifies `token`; audiences: array of acceptable audiences (NULL/[] = the
 * API audiences).  *claims (may be NULL): the claims object (new ref).
 * IDP_EUNAUTH with the reason ("token has expired", "invalid signature",
 * "token audiences ... is invalid for the target audiences ...") otherwise. */
idp_code idp_satoken_verify(idp_satoken_signer *s, const char *token, const json_t *audiences,
                            int64_t now, json_t **claims, idp_err *e);

/* The API-server endpoints in one call each.
 *
 * TokenRequest: `body` is the posted authentication.k8s.io/v1
 * TokenRequest (spec.audiences, spec.expirationSeconds; boundObjectRef is
 * echoed but not enforced); ns/name/uid identify the service account
 * (the caller has checked it exists).  *out = the TokenRequest with
 * status {token, expirationTimestamp}.  IDP_EINVALID for a bad spec
 * (expirationSeconds < 600) with the field named.
 *
 * TokenReview: `body` is the posted TokenReview (spec.token,
 * spec.audiences).  *out = the TokenReview with status {authenticated,
 * user{username, uid, groups, extra}, audiences} or {authenticated: false,
 * error}.  Only a malformed body is an error. */
idp_code idp_satoken_token_request(idp_satoken_signer *s, const char *ns, const char *name,
                                   const char *uid, const json_t *body, int64_t now,
                                   json_t **out, idp_err *e);
idp_code idp_satoken_token_review(idp_satoken_signer *s, const json_t *body, int64_t now,
                                  json_t **out, idp_err *e);

/* The public key as a JWK Set {"keys":[{kty, alg, use:"sig", kid, n/e or
 * crv/x/y}]} for `/openid/v1/jwks` (new reference), and the OpenID
 * discovery document for `/.well-known/openid-configuration` given the
 * JWKS URL (new reference). */
json_t *idp_satoken_jwks(const idp_satoken_signer *s);
json_t *idp_satoken_openid_config(const idp_satoken_signer *s, const char *jwks_uri);

/* base64url without padding (JWS); helpers shared with tests. */
char *idp_b64url_encode(const void *data, size_t len);
/* NULL on bad input; *len the decoded size. */
unsigned char *idp_b64url_decode(const char *s, size_t n, size_t *len);

#endif
