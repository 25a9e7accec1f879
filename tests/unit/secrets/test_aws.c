/* The aws provider against a Secrets Manager test double that verifies the
 * SigV4 signature of every request (recomputed from the signed headers and
 * the body with the double's copy of the secret key). */
#include "../test.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "core/json.h"
#include "double.h"
#include "harness.h"
#include "secrets/sigv4.h"

static harness H;
static dbl *D;
static unsigned short PORT;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int GOOD, BAD, CALLS;
static char LAST_TARGET[128];

#define AKID "AKIDTEST"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

/* Recomputes the signature; true when it matches the Authorization header. */
static bool verify(const dbl_req *r) {
  const char *auth = dbl_header(r, "Authorization");
  const char *date = dbl_header(r, "X-Amz-Date");
  if (!auth || !date || strncmp(auth, "AWS4-HMAC-SHA256 Credential=" AKID "/", 29)) return false;
  const char *sh = strstr(auth, "SignedHeaders="), *sg = strstr(auth, "Signature=");
  if (!sh || !sg || !strstr(auth, "/us-west-2/secretsmanager/aws4_request")) return false;
  char names[512];
  snprintf(names, sizeof names, "%.*s", (int)strcspn(sh + 14, ","), sh + 14);
  idp_sigv4_header hs[16];
  size_t n = 0;
  char *save = NULL;
  for (char *t = strtok_r(names, ";", &save); t && n < 16; t = strtok_r(NULL, ";", &save)) {
    if (!strcmp(t, "x-amz-date")) continue;
    const char *v = dbl_header(r, t);
    if (!v) return false;
    hs[n++] = (idp_sigv4_header){t, v};
  }
  struct tm tm = {0};
  if (!strptime(date, "%Y%m%dT%H%M%SZ", &tm)) return false;
  time_t t = timegm(&tm);
  if (labs((long)(time(NULL) - t)) > 300) return false; /* AWS allows 5 minutes of skew */
  idp_sigv4_request rq = {.method = r->method, .path = r->url, .headers = hs, .nheaders = n,
                          .body = r->body, .body_len = r->body_len};
  idp_sigv4_params p = {.access_key_id = AKID, .secret_access_key = SECRET, .region = "us-west-2",
                        .service = "secretsmanager", .time = t, .normalize_path = true};
  idp_sigv4_result res;
  idp_err e = IDP_ERR_INIT;
  bool ok = !idp_sigv4_sign(&rq, &p, &res, &e) && !strncmp(sg + 10, res.signature, 64) && strlen(sg + 10) == 64;
  idp_sigv4_result_free(&res);
  return ok;
}

static int sm(void *ud, const dbl_req *r, char **resp) {
  (void)ud;
  pthread_mutex_lock(&mu);
  CALLS++;
  const char *target = dbl_header(r, "X-Amz-Target");
  const char *ct = dbl_header(r, "Content-Type");
  snprintf(LAST_TARGET, sizeof LAST_TARGET, "%s", target ? target : "");
  int st = 400;
  if (strcmp(r->method, "POST") || strcmp(r->url, "/") || !ct || strcmp(ct, "application/x-amz-json-1.1") ||
      !verify(r)) {
    BAD++;
    *resp = strdup("{\"__type\":\"InvalidSignatureException\",\"message\":\"The request signature we calculated "
                   "does not match the signature you provided.\"}");
    pthread_mutex_unlock(&mu);
    return 403;
  }
  GOOD++;
  json_t *b = json_loadb(r->body, r->body_len, 0, NULL);
  const char *id = idp_json_get_str(b, "SecretId", NULL);
  if (target && !strcmp(target, "secretsmanager.GetSecretValue") && id && !strcmp(id, "prod/db")) {
    st = 200;
    *resp = strdup("{\"ARN\":\"arn:aws:secretsmanager:us-west-2:123456789012:secret:prod/db-a1b2c3\","
                   "\"CreatedDate\":1.523477145713E9,\"Name\":\"prod/db\","
                   "\"SecretString\":\"{\\n  \\\"username\\\":\\\"david\\\",\\n  \\\"password\\\":\\\"EXAMPLE-PASSWORD\\\"\\n}\\n\","
                   "\"VersionId\":\"EXAMPLE1-90ab-cdef-fedc-ba987SECRET1\",\"VersionStages\":[\"AWSCURRENT\"]}");
  } else if (target && !strcmp(target, "secretsmanager.GetSecretValue") && id && !strcmp(id, "bin")) {
    st = 200;
    *resp = strdup("{\"Name\":\"bin\",\"SecretBinary\":\"AAEC\"}");
  } else if (target && !strcmp(target, "secretsmanager.ListSecrets")) {
    st = 200;
    *resp = strdup("{\"SecretList\":[{\"Name\":\"prod/db\",\"Tags\":[{\"Key\":\"env\",\"Value\":\"prod\"}]},"
                   "{\"Name\":\"bin\",\"Tags\":[]}]}");
  } else {
    *resp = strdup("{\"__type\":\"ResourceNotFoundException\",\"message\":\"Secrets Manager can't find the specified secret.\"}");
  }
  json_decref(b);
  pthread_mutex_unlock(&mu);
  return st;
}

static int setup(void **st) {
  (void)st;
  D = dbl_start(sm, NULL, &PORT);
  if (!D || harness_start(&H, true, &(idp_secrets_opts){.workers = 2, .backoff_initial_ms = 200})) return -1;
  char yaml[4096];
  snprintf(yaml, sizeof yaml,
           "apiVersion: v1\nkind: Namespace\nmetadata: {name: app}\n---\n"
           "apiVersion: v1\nkind: Secret\nmetadata: {name: awssm, namespace: app}\n"
           "stringData: {access-key: " AKID ", secret-access-key: '" SECRET "', wrong: 'not-the-key'}\n---\n"
           "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata: {name: aws, namespace: app}\n"
           "spec:\n  provider:\n    aws:\n      service: SecretsManager\n      region: us-west-2\n"
           "      endpoint: 'http://127.0.0.1:%u'\n      auth:\n        secretRef:\n"
           "          accessKeyIDSecretRef: {name: awssm, key: access-key}\n"
           "          secretAccessKeySecretRef: {name: awssm, key: secret-access-key}\n---\n"
           "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata: {name: aws-bad, namespace: app}\n"
           "spec:\n  provider:\n    aws:\n      region: us-west-2\n"
           "      endpoint: 'http://127.0.0.1:%u'\n      auth:\n        secretRef:\n"
           "          accessKeyIDSecretRef: {name: awssm, key: access-key}\n"
           "          secretAccessKeySecretRef: {name: awssm, key: wrong}\n",
           PORT, PORT);
  return apply(&H, yaml);
}

static int teardown(void **st) {
  (void)st;
  harness_stop(&H);
  dbl_stop(D);
  return 0;
}

static void test_get_secret_value(void **st) {
  (void)st;
  assert_int_equal(apply(&H, "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: db, namespace: app}\n"
                             "spec:\n  secretStoreRef: {name: aws}\n"
                             "  data:\n  - secretKey: password\n    remoteRef: {key: prod/db, property: password}\n"
                             "  - secretKey: raw\n    remoteRef: {key: bin}\n"
                             "  dataFrom:\n  - extract: {key: prod/db}\n"),
                   0);
  assert_true(wait_secret(&H, "app", "db", "password", "EXAMPLE-PASSWORD", 10000));
  char *v = secret_value(&H, "app", "db", "username");
  assert_string_equal(v, "david");
  free(v);
  json_t *sec = get_obj(&H, "v1", "Secret", "app", "db");
  assert_string_equal(idp_json_get_str(sec, "data", "raw", NULL), "AAEC"); /* SecretBinary bytes */
  json_decref(sec);
  pthread_mutex_lock(&mu);
  assert_int_equal(BAD, 0);
  assert_true(GOOD >= 3);
  pthread_mutex_unlock(&mu);
}

static void test_find_by_tags(void **st) {
  (void)st;
  assert_int_equal(apply(&H, "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: found, namespace: app}\n"
                             "spec:\n  secretStoreRef: {name: aws}\n"
                             "  dataFrom:\n  - find: {tags: {env: prod}}\n"),
                   0);
  assert_true(wait_ready(&H, "ExternalSecret", "app", "found", "True|SecretSynced", 10000));
  char *v = secret_value(&H, "app", "found", "prod_db");
  assert_non_null(v);
  assert_non_null(strstr(v, "EXAMPLE-PASSWORD"));
  free(v);
  json_t *sec = get_obj(&H, "v1", "Secret", "app", "found");
  assert_null(idp_json_get(sec, "data", "bin", NULL));
  json_decref(sec);
}

static void test_bad_signature_and_missing_key(void **st) {
  (void)st;
  assert_int_equal(apply(&H, "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: badsig, namespace: app}\n"
                             "spec:\n  secretStoreRef: {name: aws-bad}\n"
                             "  data:\n  - secretKey: p\n    remoteRef: {key: prod/db, property: password}\n"),
                   0);
  assert_true(wait_ready(&H, "ExternalSecret", "app", "badsig", "False|SecretSyncedError|could not get secret data from provider: spec.data[0] (secretKey p): aws: GetSecretValue: HTTP 403 InvalidSignatureException", 10000));
  char *r = ready_of(&H, "external-secrets.io/v1", "ExternalSecret", "app", "badsig");
  assert_null(strstr(r, "not-the-key"));
  assert_null(strstr(r, SECRET));
  free(r);
  assert_int_equal(apply(&H, "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: nokey, namespace: app}\n"
                             "spec:\n  secretStoreRef: {name: aws}\n"
                             "  data:\n  - secretKey: p\n    remoteRef: {key: prod/nothing}\n"),
                   0);
  assert_true(wait_ready(&H, "ExternalSecret", "app", "nokey", "False|SecretSyncedError|could not get secret data from provider: spec.data[0] (secretKey p): aws: secret \"prod/nothing\" not found", 10000));
  assert_true(wait_ready(&H, "SecretStore", "app", "aws", "True|Valid", 10000));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_get_secret_value),
      cmocka_unit_test(test_find_by_tags),
      cmocka_unit_test(test_bad_signature_and_missing_key),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
