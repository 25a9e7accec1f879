/* The vault provider against a Vault test double that serves the
 * documented KV v2 / KV v1, token lookup-self / renew-self and Kubernetes
 * login responses and checks what it receives (X-Vault-Token, paths, the
 * service-account JWT, token reuse across reconciles). */
#include "../test.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <unistd.h>

#include "core/json.h"
#include "double.h"
#include "harness.h"
#include "secrets/satoken.h"

static harness H;
static dbl *D;
static unsigned short PORT;
static idp_satoken_signer *SIGNER;
static char *JWT;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
  int logins, lookups, renews, reads, bad_token, bad_jwt;
  int lease;       /* lease_duration of logins (s) */
  int issued;
  char tokens[16][64];
  char last_path[512];
  int last_version;
} V;

static const char *ENVELOPE = "{\"request_id\":\"f00341c1-fad5-f6e6-13fd-235617f858a1\",\"lease_id\":\"\","
                              "\"renewable\":false,\"lease_duration\":0,\"wrap_info\":null,\"warnings\":null,"
                              "\"auth\":null,\"mount_type\":\"kv\"}";

static bool token_ok(const char *t) {
  if (!t) return false;
  if (!strcmp(t, "root-tok")) return true;
  for (int i = 0; i < V.issued; i++)
    if (!strcmp(V.tokens[i], t)) return true;
  return false;
}

static char *with_envelope(json_t *extra) {
  json_t *env = json_loads(ENVELOPE, 0, NULL);
  json_object_update(env, extra);
  json_decref(extra);
  char *s = json_dumps(env, JSON_COMPACT);
  json_decref(env);
  return s;
}

static int vault(void *ud, const dbl_req *r, char **resp) {
  (void)ud;
  pthread_mutex_lock(&mu);
  const char *tok = dbl_header(r, "X-Vault-Token");
  int st = 404;
  *resp = strdup("{\"errors\":[]}");
  if (!strcmp(r->url, "/v1/auth/kubernetes/login") && !strcmp(r->method, "POST")) {
    json_t *b = json_loadb(r->body, r->body_len, 0, NULL);
    idp_err e = IDP_ERR_INIT;
    json_t *aud = json_pack("[s]", "vault");
    const char *jwt = idp_json_get_str(b, "jwt", NULL);
    const char *role = idp_json_get_str(b, "role", NULL);
    if (!role || strcmp(role, "app-role") || !jwt || idp_satoken_verify(SIGNER, jwt, aud, 0, NULL, &e)) {
      V.bad_jwt++;
      st = 400;
      free(*resp);
      *resp = strdup("{\"errors\":[\"invalid role name or jwt\"]}");
    } else {
      V.logins++;
      snprintf(V.tokens[V.issued % 16], 64, "k8s-tok-%d", V.issued);
      free(*resp);
      *resp = with_envelope(json_pack("{s:{s:s,s:s,s:[s],s:{s:s,s:s,s:s},s:i,s:b}}", "auth", "client_token",
                                      V.tokens[V.issued % 16], "accessor", "afa306d0-be3d-c8d2-b0d7-2676e1c0d9b4",
                                      "policies", "default", "metadata", "role", "app-role",
                                      "service_account_name", "vault-auth", "service_account_namespace", "app",
                                      "lease_duration", V.lease, "renewable", 1));
      V.issued++;
      st = 200;
    }
    json_decref(aud);
    json_decref(b);
  } else if (!token_ok(tok)) {
    V.bad_token++;
    st = 403;
    free(*resp);
    *resp = strdup("{\"errors\":[\"permission denied\"]}");
  } else if (!strcmp(r->url, "/v1/auth/token/lookup-self")) {
    V.lookups++;
    st = 200;
    free(*resp);
    *resp = with_envelope(json_pack("{s:{s:s,s:i,s:s,s:i,s:b,s:s}}", "data", "accessor",
                                    "8609694a-cdbc-db9b-d345-e782dbb562ed", "creation_ttl", 2764800, "id", tok,
                                    "ttl", 2764790, "renewable", 1, "type", "service"));
  } else if (!strcmp(r->url, "/v1/auth/token/renew-self") && !strcmp(r->method, "POST")) {
    V.renews++;
    st = 200;
    free(*resp);
    *resp = with_envelope(json_pack("{s:{s:s,s:[s],s:i,s:b}}", "auth", "client_token", tok, "policies",
                                    "default", "lease_duration", V.lease, "renewable", 1));
  } else if (!strncmp(r->url, "/v1/secret/data/", 16) || !strncmp(r->url, "/v1/kv/", 7)) {
    bool v2 = !strncmp(r->url, "/v1/secret/data/", 16);
    const char *key = r->url + (v2 ? 16 : 7);
    const char *ver = dbl_query(r, "version");
    V.reads++;
    snprintf(V.last_path, sizeof V.last_path, "%s", r->url);
    V.last_version = ver ? (int)strtol(ver, NULL, 10) : 0;
    json_t *data = NULL;
    if (!strcmp(key, "db/creds"))
      data = (ver && !strcmp(ver, "1")) ? json_pack("{s:s,s:s}", "username", "app", "password", "old-pass")
                                        : json_pack("{s:s,s:s,s:{s:s}}", "username", "app", "password", "new-pass",
                                                    "nested", "host", "db.internal");
    if (data) {
      st = 200;
      free(*resp);
      json_t *inner = v2 ? json_pack("{s:o,s:{s:s,s:{s:s},s:s,s:b,s:i}}", "data", data, "metadata", "created_time",
                                     "2018-03-22T02:24:06.945319214Z", "custom_metadata", "owner", "jdoe",
                                     "deletion_time", "", "destroyed", 0, "version", ver ? (int)strtol(ver, NULL, 10) : 2)
                         : data;
      *resp = with_envelope(json_pack("{s:o}", "data", inner));
    }
  }
  pthread_mutex_unlock(&mu);
  return st;
}

static char *gen_key(void) {
  EVP_PKEY *k = EVP_EC_gen("P-256");
  BIO *b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
  char *p = NULL;
  long n = BIO_get_mem_data(b, &p);
  char *out = strndup(p, (size_t)n);
  BIO_free(b);
  EVP_PKEY_free(k);
  return out;
}

static int setup(void **st) {
  (void)st;
  V.lease = 3600;
  D = dbl_start(vault, NULL, &PORT);
  if (!D) return -1;
  char *pem = gen_key();
  idp_err e = IDP_ERR_INIT;
  if (idp_satoken_signer_new(pem, "https://kubernetes.default.svc", NULL, &SIGNER, &e)) return -1;
  free(pem);
  json_t *aud = json_pack("[s]", "vault");
  idp_satoken_req rq = {.ns = "app", .name = "vault-auth", .uid = "u1", .audiences = aud, .expiration_s = 3600};
  if (idp_satoken_issue(SIGNER, &rq, &JWT, NULL, &e)) return -1;
  json_decref(aud);
  if (harness_start(&H, true, &(idp_secrets_opts){.workers = 2, .backoff_initial_ms = 300})) return -1;
  char yaml[8192];
  snprintf(yaml, sizeof yaml,
           "apiVersion: v1\nkind: Namespace\nmetadata: {name: app}\n---\n"
           "apiVersion: v1\nkind: Secret\nmetadata: {name: vault-token, namespace: app}\nstringData: {token: root-tok}\n---\n"
           "apiVersion: v1\nkind: Secret\nmetadata: {name: sa-jwt, namespace: app}\nstringData: {token: '%s'}\n---\n"
           "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata: {name: vault-token, namespace: app}\n"
           "spec:\n  provider:\n    vault:\n      server: 'http://127.0.0.1:%u'\n      path: secret\n      version: v2\n"
           "      auth: {tokenSecretRef: {name: vault-token, key: token}}\n---\n"
           "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata: {name: vault-k8s, namespace: app}\n"
           "spec:\n  provider:\n    vault:\n      server: 'http://127.0.0.1:%u'\n      path: secret\n"
           "      auth:\n        kubernetes:\n          mountPath: kubernetes\n          role: app-role\n"
           "          secretRef: {name: sa-jwt, key: token}\n---\n"
           "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata: {name: vault-v1, namespace: app}\n"
           "spec:\n  provider:\n    vault:\n      server: 'http://127.0.0.1:%u'\n      path: kv\n      version: v1\n"
           "      auth: {tokenSecretRef: {name: vault-token, key: token}}\n",
           JWT, PORT, PORT, PORT);
  return apply(&H, yaml);
}

static int teardown(void **st) {
  (void)st;
  harness_stop(&H);
  dbl_stop(D);
  idp_satoken_signer_free(SIGNER);
  free(JWT);
  return 0;
}

static int snap(int *field) {
  pthread_mutex_lock(&mu);
  int v = *field;
  pthread_mutex_unlock(&mu);
  return v;
}

static void test_token_auth_kv2(void **st) {
  (void)st;
  assert_int_equal(apply(&H, "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: db, namespace: app}\n"
                             "spec:\n  refreshInterval: 1h\n  secretStoreRef: {name: vault-token}\n"
                             "  data:\n  - secretKey: password\n    remoteRef: {key: db/creds, property: password}\n"
                             "  - secretKey: host\n    remoteRef: {key: secret/db/creds, property: nested.host}\n"
                             "  - secretKey: old\n    remoteRef: {key: db/creds, property: password, version: '1'}\n"
                             "  - secretKey: all\n    remoteRef: {key: db/creds}\n"),
                   0);
  assert_true(wait_secret(&H, "app", "db", "password", "new-pass", 10000));
  char *v = secret_value(&H, "app", "db", "host");
  assert_string_equal(v, "db.internal"); /* "secret/" prefix stripped, gjson path */
  free(v);
  v = secret_value(&H, "app", "db", "old");
  assert_string_equal(v, "old-pass"); /* ?version=1 */
  free(v);
  v = secret_value(&H, "app", "db", "all");
  assert_non_null(strstr(v, "\"username\":\"app\""));
  free(v);
  /* token reuse: three forced refreshes, no new lookup-self */
  int lookups0 = snap(&V.lookups);
  int reads = snap(&V.reads);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(force_sync(&H, "app", "db"), 0);
    for (int t = 0; t < 100 && snap(&V.reads) < reads + 4 * (i + 1); t++) usleep(50000);
  }
  assert_true(snap(&V.reads) >= reads + 12);
  assert_int_equal(snap(&V.bad_token), 0);
  pthread_mutex_lock(&mu);
  int lookups = V.lookups;
  pthread_mutex_unlock(&mu);
  /* the store check and every reconcile share one cached token: one
   * lookup per store (vault-token and vault-v1), none per reconcile */
  assert_int_equal(lookups, lookups0);
  assert_true(lookups <= 2);
  assert_true(wait_ready(&H, "SecretStore", "app", "vault-token", "True|Valid", 10000));
}

static void test_kubernetes_auth(void **st) {
  (void)st;
  int logins0 = snap(&V.logins);
  assert_int_equal(apply(&H, "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: k8sauth, namespace: app}\n"
                             "spec:\n  refreshInterval: 1h\n  secretStoreRef: {name: vault-k8s, kind: SecretStore}\n"
                             "  data:\n  - secretKey: u\n    remoteRef: {key: db/creds, property: username}\n"),
                   0);
  assert_true(wait_secret(&H, "app", "k8sauth", "u", "app", 10000));
  /* the store check logged in (setup) or the first sync did: at most once */
  assert_true(snap(&V.logins) - logins0 <= 1);
  assert_true(snap(&V.logins) >= 1);
  logins0 = snap(&V.logins);
  int reads = snap(&V.reads);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(force_sync(&H, "app", "k8sauth"), 0);
    for (int t = 0; t < 100 && snap(&V.reads) < reads + i + 1; t++) usleep(50000);
  }
  assert_true(snap(&V.reads) >= reads + 3);
  /* no login per reconcile: the cached token is reused */
  assert_int_equal(snap(&V.logins), logins0);
  assert_int_equal(snap(&V.bad_jwt), 0);
}

static void test_kubernetes_auth_renewal(void **st) {
  (void)st;
  pthread_mutex_lock(&mu);
  V.lease = 4; /* short lease: renew-self once half of it (2 s) has passed */
  pthread_mutex_unlock(&mu);
  char yaml[2048];
  snprintf(yaml, sizeof yaml,
           "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata: {name: vault-short, namespace: app}\n"
           "spec:\n  provider:\n    vault:\n      server: 'http://127.0.0.1:%u'\n      path: secret\n"
           "      auth:\n        kubernetes:\n          role: app-role\n          secretRef: {name: sa-jwt, key: token}\n---\n"
           "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: short, namespace: app}\n"
           "spec:\n  refreshInterval: 1h\n  secretStoreRef: {name: vault-short}\n"
           "  data:\n  - secretKey: u\n    remoteRef: {key: db/creds, property: username}\n",
           PORT);
  int logins0 = snap(&V.logins), renews0 = snap(&V.renews);
  assert_int_equal(apply(&H, yaml), 0);
  assert_true(wait_secret(&H, "app", "short", "u", "app", 10000));
  usleep(2300 * 1000);
  int reads = snap(&V.reads);
  assert_int_equal(force_sync(&H, "app", "short"), 0);
  for (int t = 0; t < 100 && snap(&V.reads) <= reads; t++) usleep(50000);
  assert_true(snap(&V.reads) > reads);
  assert_true(snap(&V.renews) > renews0);
  assert_int_equal(snap(&V.logins) - logins0, 1);
}

static void test_unreachable_vault_keeps_secret(void **st) {
  (void)st;
  assert_int_equal(apply(&H, "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: kv1, namespace: app}\n"
                             "spec:\n  refreshInterval: 1h\n  secretStoreRef: {name: vault-v1}\n"
                             "  dataFrom:\n  - extract: {key: db/creds}\n"),
                   0);
  assert_true(wait_secret(&H, "app", "kv1", "password", "new-pass", 10000));
  pthread_mutex_lock(&mu);
  assert_string_equal(V.last_path, "/v1/kv/db/creds"); /* KV v1 path */
  pthread_mutex_unlock(&mu);
  /* the store moves to an address where nothing listens */
  assert_int_equal(apply(&H, "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata: {name: vault-v1, namespace: app}\n"
                             "spec:\n  provider:\n    vault:\n      server: 'http://127.0.0.1:1'\n      path: kv\n      version: v1\n"
                             "      auth: {tokenSecretRef: {name: vault-token, key: token}}\n"),
                   0);
  assert_int_equal(force_sync(&H, "app", "kv1"), 0);
  assert_true(wait_ready(&H, "ExternalSecret", "app", "kv1", "False|SecretSyncedError|", 10000));
  char *r = ready_of(&H, "external-secrets.io/v1", "ExternalSecret", "app", "kv1");
  assert_true(strstr(r, "127.0.0.1:1") || strstr(r, "backing off"));
  assert_null(strstr(r, "new-pass"));
  free(r);
  char *v = secret_value(&H, "app", "kv1", "password");
  assert_string_equal(v, "new-pass");
  free(v);
  assert_true(wait_ready(&H, "SecretStore", "app", "vault-v1", "False|ValidationFailed|", 10000));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_token_auth_kv2),
      cmocka_unit_test(test_kubernetes_auth),
      cmocka_unit_test(test_kubernetes_auth_renewal),
      cmocka_unit_test(test_unreachable_vault_keeps_secret),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
