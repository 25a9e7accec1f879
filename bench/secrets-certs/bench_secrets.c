/* bench_secrets: time for N ExternalSecrets (kubernetes provider) to reach
 * Ready against an in-process API server with an on-disk store, and the
 * process RSS before and after.
 *   bench_secrets [N] [workers] [baseline]   (defaults 1000, 4)
 * With "baseline" the controller is not started: the bench writes the N
 * Secrets and Ready statuses itself, which measures the in-process API
 * server's and store's share of the RSS growth.
 * Prints the creation time, the time until every ExternalSecret is Ready
 * with its Secret written (from the first create), syncs, Secret writes,
 * and RSS before/after.  Targets (issue 6): < 5 s, RSS growth < 50 MB.
 * Anchor: ~600 ExternalSecrets took up to 3 minutes in ESO (#3258). */
#include "core/common.h"

#include <malloc.h>
#include <time.h>
#include <unistd.h>

#include "apiserver/apiserver.h"
#include "client/client.h"
#include "core/json.h"
#include "secrets/secrets.h"
#include "store/store.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "VmRSS:", 6)) kb = strtol(line + 6, NULL, 10);
  if (f) fclose(f);
  return kb;
}

static int create(idp_kclient *kc, const char *group, const char *res, const char *ns, json_t *obj) {
  idp_kref r = {.group = group, .version = "v1", .resource = res, .ns = ns};
  idp_err e = IDP_ERR_INIT;
  idp_code rc = idp_kclient_create(kc, &r, obj, NULL, NULL, &e);
  json_decref(obj);
  if (rc && rc != IDP_EEXIST) {
    fprintf(stderr, "create %s: %s\n", res, e.msg);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000;
  int workers = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 4;
  if (n <= 0) n = 1000;
  char dir[] = "/tmp/bench-secrets.XXXXXX";
  if (!mkdtemp(dir)) return 1;
  char db[256];
  snprintf(db, sizeof db, "%s/idp.db", dir);
  idp_err e = IDP_ERR_INIT;
  idp_store *st = NULL;
  idp_apiserver *api = NULL;
  if (idp_store_open(&(idp_store_opts){.path = db}, &st, &e) ||
      idp_apiserver_new(&(idp_apiserver_opts){.store = st, .listen = "127.0.0.1:0"}, &api, &e) ||
      idp_apiserver_listen(api, &e)) {
    fprintf(stderr, "server: %s\n", e.msg);
    return 1;
  }
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)idp_apiserver_port(api));
  idp_kconfig cfg = {.server = url, .namespace_ = "default"};
  idp_kclient *kc = NULL;
  if (idp_kclient_new(&cfg, NULL, &kc, &e)) return 1;
  idp_secrets *ctl = NULL;
  bool baseline = argc > 3 && !strcmp(argv[3], "baseline");
  if (baseline) {
    idp_secrets_opts no = {.install_crds = true, .workers = 1};
    if (idp_secrets_start(kc, &no, &ctl, &e)) return 1;
    idp_secrets_stop(ctl); /* CRDs installed, nothing running */
    ctl = NULL;
  } else if (idp_secrets_start(kc, &(idp_secrets_opts){.install_crds = true, .workers = workers, .no_events = getenv("BENCH_NO_EVENTS") != NULL}, &ctl, &e)) {
    fprintf(stderr, "controller: %s\n", e.msg);
    return 1;
  }
  create(kc, "", "namespaces", NULL, json_pack("{s:s,s:s,s:{s:s}}", "apiVersion", "v1", "kind", "Namespace", "metadata", "name", "src"));
  create(kc, "", "namespaces", NULL, json_pack("{s:s,s:s,s:{s:s}}", "apiVersion", "v1", "kind", "Namespace", "metadata", "name", "bench"));
  create(kc, "", "secrets", "src",
         json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s}}", "apiVersion", "v1", "kind", "Secret", "metadata", "name",
                   "db", "namespace", "src", "stringData", "user", "admin", "password", "s3cr3t"));
  create(kc, "external-secrets.io", "clustersecretstores", NULL,
         json_pack("{s:s,s:s,s:{s:s},s:{s:{s:{s:s}}}}", "apiVersion", "external-secrets.io/v1", "kind",
                   "ClusterSecretStore", "metadata", "name", "k8s", "spec", "provider", "kubernetes",
                   "remoteNamespace", "src"));
  sleep(1);
  long rss0 = rss_kb();
  double t0 = now();
  for (long i = 0; i < n; i++) {
    char name[32];
    snprintf(name, sizeof name, "es-%05ld", i);
    json_t *es = json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s,s:{s:s,s:s},s:[{s:s,s:{s:s,s:s}},{s:s,s:{s:s,s:s}}]}}",
                           "apiVersion", "external-secrets.io/v1", "kind", "ExternalSecret", "metadata",
                           "name", name, "namespace", "bench", "spec", "refreshInterval", "1h",
                           "secretStoreRef", "name", "k8s", "kind", "ClusterSecretStore", "data", "secretKey",
                           "USER", "remoteRef", "key", "db", "property", "user", "secretKey", "PASSWORD",
                           "remoteRef", "key", "db", "property", "password");
    if (create(kc, "external-secrets.io", "externalsecrets", "bench", es)) return 1;
    if (baseline) {
      json_t *sec = json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s}},s:{s:s,s:s}}", "apiVersion", "v1", "kind", "Secret",
                              "metadata", "name", name, "namespace", "bench", "labels",
                              "reconcile.external-secrets.io/managed", "true", "data", "USER", "YWRtaW4=",
                              "PASSWORD", "czNjcjN0");
      create(kc, "", "secrets", "bench", sec);
      idp_kref sr = {.group = "external-secrets.io", .version = "v1", .resource = "externalsecrets",
                     .ns = "bench", .name = name, .subresource = "status"};
      json_t *patch = json_pack("{s:{s:[{s:s,s:s,s:s}]}}", "status", "conditions", "type", "Ready", "status",
                                "True", "reason", "SecretSynced");
      idp_kclient_patch(kc, &sr, IDP_PATCH_MERGE, patch, NULL, NULL, &e);
      json_decref(patch);
    }
  }
  double t1 = now();
  idp_secrets_stats s;
  memset(&s, 0, sizeof s);
  for (; ctl;) {
    idp_secrets_get_stats(ctl, &s);
    if ((long)s.syncs >= n || now() - t0 > 300) break;
    usleep(10000);
  }
  double t2 = now();
  /* check: every ExternalSecret Ready True and every Secret present */
  idp_kref esr = {.group = "external-secrets.io", .version = "v1", .resource = "externalsecrets", .ns = "bench"};
  idp_kref secr = {.version = "v1", .resource = "secrets", .ns = "bench"};
  json_t *l1 = NULL, *l2 = NULL;
  long ready = 0, secrets = 0;
  for (int tries = 0; tries < 100; tries++) {
    json_decref(l1);
    json_decref(l2);
    l1 = l2 = NULL;
    idp_kclient_list_all(kc, &esr, NULL, &l1, &e);
    idp_kclient_list_all(kc, &secr, &(idp_klist_opts){.label_selector = "reconcile.external-secrets.io/managed=true"}, &l2, &e);
    ready = 0;
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(l1, "items"), i, it) {
      json_t *c = json_array_get(idp_json_get(it, "status", "conditions", NULL), 0);
      const char *stt = idp_json_get_str(c, "status", NULL);
      if (stt && !strcmp(stt, "True")) ready++;
    }
    secrets = (long)json_array_size(json_object_get(l2, "items"));
    if (ready >= n && secrets >= n) break;
    usleep(20000);
  }
  double t3 = now();
  long rss1 = rss_kb();
  if (ctl) idp_secrets_get_stats(ctl, &s);
  printf("externalsecrets:        %ld (kubernetes provider, %d workers)%s\n", n, workers,
         baseline ? " BASELINE: no controller" : "");
  printf("create (client):        %.2f s\n", t1 - t0);
  printf("all synced:             %.2f s from the first create (syncs %lu, errors %lu, secret writes %lu)\n",
         t2 - t0, s.syncs, s.sync_errors, s.secret_writes);
  printf("all Ready in the API:   %.2f s (%ld Ready, %ld Secrets)\n", t3 - t0, ready, secrets);
  printf("RSS before / after:     %.1f MB / %.1f MB (growth %.1f MB)\n", rss0 / 1024.0, rss1 / 1024.0,
         (rss1 - rss0) / 1024.0);
  struct mallinfo2 mi = mallinfo2();
  printf("heap in use:            %.1f MB (main arena + others, malloc's view)\n", (double)mi.uordblks / 1048576.0);
  printf("targets:                < 5 s, RSS growth < 50 MB\n");
  json_decref(l1);
  json_decref(l2);
  size_t before_stop = mallinfo2().uordblks;
  idp_secrets_stop(ctl);
  printf("controller-held heap:   %.1f MB (freed by idp_secrets_stop: informer caches, maps)\n",
         (double)(before_stop - mallinfo2().uordblks) / 1048576.0);
  idp_kclient_free(kc);
  idp_apiserver_free(api);
  idp_store_close(st);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd)) return 0;
  return ready >= n && secrets >= n ? 0 : 1;
}
