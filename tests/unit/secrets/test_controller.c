/* End-to-end: the secrets controller against an in-process API server,
 * kubernetes provider (the embedded default). */
#include "../test.h"

#include <unistd.h>

#include "core/json.h"
#include "apiserver/apiserver.h"
#include "harness.h"
#include "store/store.h"

static harness H;

static int setup(void **st) {
  (void)st;
  if (harness_start(&H, true, &(idp_secrets_opts){.workers = 2, .backoff_initial_ms = 200}))
    return -1;
  return apply(&H,
               "apiVersion: v1\nkind: Namespace\nmetadata: {name: src}\n---\n"
               "apiVersion: v1\nkind: Namespace\nmetadata: {name: app, labels: {team: a}}\n---\n"
               "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: src}\n"
               "stringData: {user: admin, pass: s3cr3t, config: '{\"db\":{\"host\":\"pg\",\"port\":5432}}'}\n---\n"
               "apiVersion: external-secrets.io/v1\nkind: ClusterSecretStore\nmetadata: {name: k8s}\n"
               "spec:\n  provider:\n    kubernetes:\n      remoteNamespace: src\n"
               "      server: {url: 'https://kubernetes.default.svc'}\n"
               "      auth: {serviceAccount: {name: default, namespace: src}}\n");
}

static int teardown(void **st) {
  (void)st;
  harness_stop(&H);
  return 0;
}

static void test_sync_and_status(void **st) {
  (void)st;
  assert_int_equal(apply(&H, "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\n"
                             "metadata: {name: creds, namespace: app, labels: {app: web}}\n"
                             "spec:\n  refreshInterval: 1h\n"
                             "  secretStoreRef: {name: k8s, kind: ClusterSecretStore}\n"
                             "  target: {name: creds-out}\n"
                             "  data:\n  - secretKey: USER\n    remoteRef: {key: db, property: user}\n"
                             "  - secretKey: PASS\n    remoteRef: {key: db, property: pass}\n"
                             "  - secretKey: HOST\n    remoteRef: {key: db, property: config.db.host}\n"),
                   0);
  assert_true(wait_secret(&H, "app", "creds-out", "PASS", "s3cr3t", 10000));
  char *v = secret_value(&H, "app", "creds-out", "USER");
  assert_string_equal(v, "admin");
  free(v);
  v = secret_value(&H, "app", "creds-out", "HOST");
  assert_string_equal(v, "pg");
  free(v);
  assert_true(wait_ready(&H, "ExternalSecret", "app", "creds", "True|SecretSynced|Secret was synced", 5000));
  json_t *es = get_obj(&H, "external-secrets.io/v1", "ExternalSecret", "app", "creds");
  assert_non_null(idp_json_get_str(es, "status", "refreshTime", NULL));
  assert_non_null(idp_json_get_str(es, "status", "syncedResourceVersion", NULL));
  assert_string_equal(idp_json_get_str(es, "status", "binding", "name", NULL), "creds-out");
  json_t *sec = get_obj(&H, "v1", "Secret", "app", "creds-out");
  assert_string_equal(idp_json_get_str(sec, "metadata", "labels", "reconcile.external-secrets.io/managed", NULL), "true");
  assert_string_equal(idp_json_get_str(sec, "metadata", "labels", "app", NULL), "web");
  assert_non_null(idp_json_get_str(sec, "metadata", "annotations", "reconcile.external-secrets.io/data-hash", NULL));
  json_t *ref = json_array_get(idp_json_get(sec, "metadata", "ownerReferences", NULL), 0);
  assert_string_equal(idp_json_get_str(ref, "kind", NULL), "ExternalSecret");
  assert_string_equal(idp_json_get_str(ref, "uid", NULL), idp_json_get_str(es, "metadata", "uid", NULL));
  assert_string_equal(idp_json_get_str(sec, "type", NULL), "Opaque");
  json_decref(sec);
  json_decref(es);
}

static void test_source_change_and_force_sync(void **st) {
  (void)st;
  assert_int_equal(apply(&H, "apiVersion: v1\nkind: Secret\nmetadata: {name: rot, namespace: src}\nstringData: {k: v1}\n---\n"
                             "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: fast, namespace: app}\n"
                             "spec:\n  refreshInterval: 1s\n  secretStoreRef: {name: k8s, kind: ClusterSecretStore}\n"
                             "  data:\n  - secretKey: k\n    remoteRef: {key: rot, property: k}\n---\n"
                             "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: slow, namespace: app}\n"
                             "spec:\n  refreshInterval: 1h\n  secretStoreRef: {name: k8s, kind: ClusterSecretStore}\n"
                             "  data:\n  - secretKey: k\n    remoteRef: {key: rot, property: k}\n"),
                   0);
  assert_true(wait_secret(&H, "app", "fast", "k", "v1", 10000));
  assert_true(wait_secret(&H, "app", "slow", "k", "v1", 10000));
  assert_int_equal(apply(&H, "apiVersion: v1\nkind: Secret\nmetadata: {name: rot, namespace: src}\nstringData: {k: v2}\n"), 0);
  /* the 1s refresh picks the rotation up; the 1h one only after force-sync */
  assert_true(wait_secret(&H, "app", "fast", "k", "v2", 10000));
  char *v = secret_value(&H, "app", "slow", "k");
  assert_string_equal(v, "v1");
  free(v);
  assert_int_equal(force_sync(&H, "app", "slow"), 0);
  assert_true(wait_secret(&H, "app", "slow", "k", "v2", 10000));
  /* a deleted target Secret comes back */
  assert_int_equal(delete_obj(&H, "v1", "Secret", "app", "slow"), 0);
  assert_true(wait_secret(&H, "app", "slow", "k", "v2", 10000));
}

static void test_creation_policies(void **st) {
  (void)st;
  /* Orphan: no ownerReference */
  assert_int_equal(apply(&H, "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: orphan, namespace: app}\n"
                             "spec:\n  secretStoreRef: {name: k8s, kind: ClusterSecretStore}\n  target: {creationPolicy: Orphan}\n"
                             "  data:\n  - secretKey: u\n    remoteRef: {key: db, property: user}\n"),
                   0);
  assert_true(wait_secret(&H, "app", "orphan", "u", "admin", 10000));
  json_t *sec = get_obj(&H, "v1", "Secret", "app", "orphan");
  assert_null(idp_json_get(sec, "metadata", "ownerReferences", NULL));
  json_decref(sec);
  /* Merge without a Secret: SecretMissing; then the Secret appears and keeps its keys */
  assert_int_equal(apply(&H, "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: merge, namespace: app}\n"
                             "spec:\n  refreshInterval: 1s\n  secretStoreRef: {name: k8s, kind: ClusterSecretStore}\n"
                             "  target: {name: existing, creationPolicy: Merge}\n"
                             "  data:\n  - secretKey: u\n    remoteRef: {key: db, property: user}\n"),
                   0);
  assert_true(wait_ready(&H, "ExternalSecret", "app", "merge", "False|SecretMissing|", 10000));
  assert_int_equal(apply(&H, "apiVersion: v1\nkind: Secret\nmetadata: {name: existing, namespace: app}\nstringData: {mine: keep}\n"), 0);
  assert_true(wait_secret(&H, "app", "existing", "u", "admin", 10000));
  char *v = secret_value(&H, "app", "existing", "mine");
  assert_string_equal(v, "keep");
  free(v);
  sec = get_obj(&H, "v1", "Secret", "app", "existing");
  assert_null(idp_json_get(sec, "metadata", "ownerReferences", NULL));
  json_decref(sec);
  /* None: fetched, Ready, no Secret */
  assert_int_equal(apply(&H, "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: none, namespace: app}\n"
                             "spec:\n  secretStoreRef: {name: k8s, kind: ClusterSecretStore}\n  target: {creationPolicy: None}\n"
                             "  data:\n  - secretKey: u\n    remoteRef: {key: db, property: user}\n"),
                   0);
  assert_true(wait_ready(&H, "ExternalSecret", "app", "none", "True|SecretSynced", 10000));
  sec = get_obj(&H, "v1", "Secret", "app", "none");
  assert_null(sec);
}

static void test_template_and_datafrom(void **st) {
  (void)st;
  assert_int_equal(apply(&H, "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: tpl, namespace: app}\n"
                             "spec:\n  refreshInterval: 1s\n  secretStoreRef: {name: k8s, kind: ClusterSecretStore}\n"
                             "  target:\n    template:\n      type: kubernetes.io/basic-auth\n"
                             "      metadata: {labels: {owner: '{{ .user | upper }}'}}\n"
                             "      data:\n        username: '{{ .user }}'\n        password: '{{ .pass }}'\n"
                             "        dsn: 'postgres://{{ .user }}:{{ .pass | b64enc }}@{{ (.config | fromJson).db.host }}'\n"
                             "  dataFrom:\n  - extract: {key: db}\n"),
                   0);
  assert_true(wait_secret(&H, "app", "tpl", "dsn", "postgres://admin:czNjcjN0@pg", 10000));
  json_t *sec = get_obj(&H, "v1", "Secret", "app", "tpl");
  assert_string_equal(idp_json_get_str(sec, "type", NULL), "kubernetes.io/basic-auth");
  assert_string_equal(idp_json_get_str(sec, "metadata", "labels", "owner", NULL), "ADMIN");
  assert_null(idp_json_get(sec, "data", "config", NULL)); /* mergePolicy Replace */
  json_decref(sec);
  /* a bad template: Ready False, precise message, the last good Secret stays */
  assert_int_equal(apply(&H, "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: tpl, namespace: app}\n"
                             "spec:\n  refreshInterval: 1s\n  secretStoreRef: {name: k8s, kind: ClusterSecretStore}\n"
                             "  target:\n    template:\n      type: kubernetes.io/basic-auth\n"
                             "      data:\n        username: '{{ .user | nosuchfn }}'\n"
                             "  dataFrom:\n  - extract: {key: db}\n"),
                   0);
  assert_true(wait_ready(&H, "ExternalSecret", "app", "tpl", "False|SecretSyncedError|could not apply template", 10000));
  char *r = ready_of(&H, "external-secrets.io/v1", "ExternalSecret", "app", "tpl");
  assert_non_null(strstr(r, "nosuchfn"));
  assert_null(strstr(r, "s3cr3t"));
  free(r);
  char *v = secret_value(&H, "app", "tpl", "dsn");
  assert_string_equal(v, "postgres://admin:czNjcjN0@pg");
  free(v);
  /* find by name regexp: one key per matching Secret, its data as JSON */
  assert_int_equal(apply(&H, "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: found, namespace: app}\n"
                             "spec:\n  secretStoreRef: {name: k8s, kind: ClusterSecretStore}\n"
                             "  dataFrom:\n  - find: {name: {regexp: '^d.$'}}\n"),
                   0);
  assert_true(wait_ready(&H, "ExternalSecret", "app", "found", "True|SecretSynced", 10000));
  v = secret_value(&H, "app", "found", "db");
  assert_non_null(v);
  assert_non_null(strstr(v, "\"user\":\"admin\""));
  free(v);
}

static void test_bad_inputs(void **st) {
  (void)st;
  /* missing store */
  assert_int_equal(apply(&H, "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: nostore, namespace: app}\n"
                             "spec:\n  secretStoreRef: {name: ghost, kind: ClusterSecretStore}\n"
                             "  data:\n  - secretKey: u\n    remoteRef: {key: db, property: user}\n"),
                   0);
  assert_true(wait_ready(&H, "ExternalSecret", "app", "nostore", "False|SecretSyncedError|could not get ClusterSecretStore \"ghost\"", 10000));
  /* wrong property / wrong key; the last good Secret stays in place */
  assert_int_equal(apply(&H, "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: wrong, namespace: app}\n"
                             "spec:\n  refreshInterval: 1s\n  secretStoreRef: {name: k8s, kind: ClusterSecretStore}\n"
                             "  data:\n  - secretKey: u\n    remoteRef: {key: db, property: user}\n"),
                   0);
  assert_true(wait_secret(&H, "app", "wrong", "u", "admin", 10000));
  assert_int_equal(apply(&H, "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: wrong, namespace: app}\n"
                             "spec:\n  refreshInterval: 1s\n  secretStoreRef: {name: k8s, kind: ClusterSecretStore}\n"
                             "  data:\n  - secretKey: u\n    remoteRef: {key: db, property: nope}\n"),
                   0);
  assert_true(wait_ready(&H, "ExternalSecret", "app", "wrong", "False|SecretSyncedError|could not get secret data from provider: spec.data[0] (secretKey u): property \"nope\" does not exist in key \"db\"", 10000));
  char *v = secret_value(&H, "app", "wrong", "u");
  assert_string_equal(v, "admin");
  free(v);
  assert_int_equal(apply(&H, "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: wrong, namespace: app}\n"
                             "spec:\n  refreshInterval: 1s\n  secretStoreRef: {name: k8s, kind: ClusterSecretStore}\n"
                             "  data:\n  - secretKey: u\n    remoteRef: {key: nosuchsecret, property: user}\n"),
                   0);
  assert_true(wait_ready(&H, "ExternalSecret", "app", "wrong", "False|SecretSyncedError|could not get secret data from provider: spec.data[0] (secretKey u): key \"nosuchsecret\": Secret \"nosuchsecret\" not found", 10000));
  v = secret_value(&H, "app", "wrong", "u");
  assert_string_equal(v, "admin");
  free(v);
  /* an event was recorded, without the value */
  json_t *evs = NULL;
  idp_err e = IDP_ERR_INIT;
  idp_kref r = {.version = "v1", .resource = "events", .ns = "app"};
  assert_int_equal(idp_kclient_list(H.kc, &r, NULL, &evs, &e), IDP_OK);
  size_t i, found = 0;
  json_t *ev;
  json_array_foreach(json_object_get(evs, "items"), i, ev) {
    const char *m = idp_json_get_str(ev, "message", NULL);
    assert_null(strstr(m ? m : "", "s3cr3t"));
    if (!strcmp(idp_json_get_str(ev, "reason", NULL), "UpdateFailed") &&
        !strcmp(idp_json_get_str(ev, "involvedObject", "name", NULL), "wrong"))
      found++;
  }
  assert_true(found >= 2);
  json_decref(evs);
}

static void test_deletion_policy_delete(void **st) {
  (void)st;
  assert_int_equal(apply(&H, "apiVersion: v1\nkind: Secret\nmetadata: {name: temp, namespace: src}\nstringData: {k: x}\n---\n"
                             "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: del, namespace: app}\n"
                             "spec:\n  refreshInterval: 1s\n  secretStoreRef: {name: k8s, kind: ClusterSecretStore}\n"
                             "  target: {deletionPolicy: Delete}\n"
                             "  data:\n  - secretKey: k\n    remoteRef: {key: temp, property: k}\n"),
                   0);
  assert_true(wait_secret(&H, "app", "del", "k", "x", 10000));
  assert_int_equal(delete_obj(&H, "v1", "Secret", "src", "temp"), 0);
  assert_true(wait_secret(&H, "app", "del", NULL, NULL, 10000));
}

static void test_cluster_external_secret(void **st) {
  (void)st;
  assert_int_equal(apply(&H, "apiVersion: v1\nkind: Namespace\nmetadata: {name: t1, labels: {tier: web}}\n---\n"
                             "apiVersion: v1\nkind: Namespace\nmetadata: {name: t2, labels: {tier: web}}\n---\n"
                             "apiVersion: external-secrets.io/v1\nkind: ClusterExternalSecret\nmetadata: {name: fanout}\n"
                             "spec:\n  externalSecretName: shared\n  namespaceSelectors:\n  - matchLabels: {tier: web}\n"
                             "  externalSecretSpec:\n    secretStoreRef: {name: k8s, kind: ClusterSecretStore}\n"
                             "    data:\n    - secretKey: u\n      remoteRef: {key: db, property: user}\n"),
                   0);
  assert_true(wait_secret(&H, "t1", "shared", "u", "admin", 10000));
  assert_true(wait_secret(&H, "t2", "shared", "u", "admin", 10000));
  assert_true(wait_ready(&H, "ClusterExternalSecret", NULL, "fanout", "True", 10000));
  /* a namespace that stops matching loses its ExternalSecret */
  assert_int_equal(apply(&H, "apiVersion: v1\nkind: Namespace\nmetadata: {name: t2, labels: {tier: db}}\n"), 0);
  bool gone = false;
  for (int i = 0; i < 200 && !gone; i++) {
    json_t *es = get_obj(&H, "external-secrets.io/v1", "ExternalSecret", "t2", "shared");
    gone = es == NULL;
    json_decref(es);
    usleep(50000);
  }
  assert_true(gone);
}

static void test_store_status(void **st) {
  (void)st;
  assert_true(wait_ready(&H, "ClusterSecretStore", NULL, "k8s", "True|Valid", 10000));
  json_t *s = get_obj(&H, "external-secrets.io/v1", "ClusterSecretStore", NULL, "k8s");
  assert_string_equal(idp_json_get_str(s, "status", "capabilities", NULL), "ReadOnly");
  json_decref(s);
  assert_int_equal(apply(&H, "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata: {name: bad, namespace: app}\n"
                             "spec:\n  provider:\n    gcpsm: {projectID: x}\n"),
                   0);
  assert_true(wait_ready(&H, "SecretStore", "app", "bad", "False|InvalidProviderConfig|store \"bad\": provider \"gcpsm\" is not supported", 10000));
  /* metrics under ESO's names */
  idp_buf m;
  idp_buf_init(&m, 1 << 16);
  assert_int_equal(idp_secrets_metrics(H.ctl, &m), IDP_OK);
  assert_non_null(strstr(idp_buf_str(&m), "\nexternalsecret_sync_calls_total "));
  assert_non_null(strstr(idp_buf_str(&m), "\nexternalsecret_sync_calls_error "));
  idp_secrets_stats ss;
  idp_secrets_get_stats(H.ctl, &ss);
  assert_true(ss.syncs > 5 && ss.sync_errors > 0 && ss.secret_writes > 5);
  idp_buf_free(&m);
}

static void test_store_conditions_and_rewrite(void **st) {
  (void)st;
  /* a ClusterSecretStore limited to other namespaces refuses this one */
  assert_int_equal(apply(&H, "apiVersion: external-secrets.io/v1\nkind: ClusterSecretStore\nmetadata: {name: limited}\n"
                             "spec:\n  conditions:\n  - namespaces: [other]\n  - namespaceSelector: {matchLabels: {team: b}}\n"
                             "  provider:\n    kubernetes: {remoteNamespace: src}\n---\n"
                             "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: denied, namespace: app}\n"
                             "spec:\n  secretStoreRef: {name: limited, kind: ClusterSecretStore}\n"
                             "  data:\n  - secretKey: u\n    remoteRef: {key: db, property: user}\n"),
                   0);
  assert_true(wait_ready(&H, "ExternalSecret", "app", "denied",
                         "False|SecretSyncedError|using cluster store \"limited\" is not allowed from namespace \"app\"", 10000));
  /* the namespace label that a condition admits: it syncs */
  assert_int_equal(apply(&H, "apiVersion: v1\nkind: Namespace\nmetadata: {name: app, labels: {team: b}}\n"), 0);
  assert_int_equal(force_sync(&H, "app", "denied"), 0);
  assert_true(wait_secret(&H, "app", "denied", "u", "admin", 10000));
  /* dataFrom rewrite renames keys with a regexp */
  assert_int_equal(apply(&H, "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: rw, namespace: app}\n"
                             "spec:\n  secretStoreRef: {name: k8s, kind: ClusterSecretStore}\n"
                             "  dataFrom:\n  - extract: {key: db}\n    rewrite:\n    - regexp: {source: '^(.*)$', target: 'DB_$1'}\n"),
                   0);
  assert_true(wait_secret(&H, "app", "rw", "DB_user", "admin", 10000));
}

static void test_remote_cluster(void **st) {
  (void)st;
  /* a second API server plays another cluster */
  idp_store *rs = NULL;
  idp_apiserver *ra = NULL;
  idp_err e = IDP_ERR_INIT;
  assert_int_equal(idp_store_open(&(idp_store_opts){.path = ":memory:"}, &rs, &e), IDP_OK);
  assert_int_equal(idp_apiserver_new(&(idp_apiserver_opts){.store = rs, .listen = "127.0.0.1:0"}, &ra, &e), IDP_OK);
  assert_int_equal(idp_apiserver_listen(ra, &e), IDP_OK);
  harness remote = {.store = rs, .api = ra};
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)idp_apiserver_port(ra));
  idp_kconfig cfg = {.server = url, .namespace_ = "default"};
  assert_int_equal(idp_kclient_new(&cfg, NULL, &remote.kc, &e), IDP_OK);
  assert_int_equal(apply(&remote, "apiVersion: v1\nkind: Namespace\nmetadata: {name: far}\n---\n"
                                  "apiVersion: v1\nkind: Secret\nmetadata: {name: api, namespace: far}\nstringData: {key: remote-value}\n"),
                   0);
  char yaml[2048];
  snprintf(yaml, sizeof yaml,
           "apiVersion: v1\nkind: Secret\nmetadata: {name: remote-token, namespace: app}\nstringData: {token: t}\n---\n"
           "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata: {name: remote, namespace: app}\n"
           "spec:\n  provider:\n    kubernetes:\n      remoteNamespace: far\n      server: {url: '%s'}\n"
           "      auth: {token: {bearerToken: {name: remote-token, key: token}}}\n---\n"
           "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: fromfar, namespace: app}\n"
           "spec:\n  secretStoreRef: {name: remote}\n  data:\n  - secretKey: k\n    remoteRef: {key: api, property: key}\n",
           url);
  assert_int_equal(apply(&H, yaml), 0);
  assert_true(wait_secret(&H, "app", "fromfar", "k", "remote-value", 10000));
  assert_true(wait_ready(&H, "SecretStore", "app", "remote", "True|Valid", 10000));
  idp_kclient_free(remote.kc);
  idp_apiserver_free(ra);
  idp_store_close(rs);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sync_and_status),
      cmocka_unit_test(test_source_change_and_force_sync),
      cmocka_unit_test(test_creation_policies),
      cmocka_unit_test(test_template_and_datafrom),
      cmocka_unit_test(test_bad_inputs),
      cmocka_unit_test(test_deletion_policy_delete),
      cmocka_unit_test(test_cluster_external_secret),
      cmocka_unit_test(test_store_status),
      cmocka_unit_test(test_store_conditions_and_rewrite),
      cmocka_unit_test(test_remote_cluster),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
