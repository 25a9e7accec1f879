/* certs_bench: time to issue N (default 500) ECDSA P-256 certificates from
 * a CA ClusterIssuer, and the controller's RSS before and after.
 *
 * Runs the certificate controller in this process against the API server
 * of a kubeconfig (start one with `idp up`; bench/secrets-certs/certs.sh
 * does it all), creates a self-signed -> CA chain, then N Certificates
 * from 4 client threads, and waits until every one is Ready.  Targets
 * (issue 6): < 10 s, RSS growth < 50 MB.  Anchor: cert-manager took
 * 417-596 s for 500 certificates, with the controller at 700 MB-1.15 GB.
 *
 *   certs_bench --kubeconfig FILE [--count N] [--namespace NS] [--workers N] */
#include "core/common.h"

#include <pthread.h>
#include <time.h>

#include "certs/controller/certmanager.h"
#include "certs/controller/spec.h"
#include "client/client.h"
#include "core/json.h"

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static long rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kb = -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) {
      char *end;
      kb = (long)strtoll(line + 6, &end, 10);
      break;
    }
  fclose(f);
  return kb;
}

static void die(const char *what, const idp_err *e) {
  fprintf(stderr, "certs_bench: %s: %s\n", what, e->msg);
  exit(1);
}

static idp_code apply(idp_kclient *kc, const char *json, idp_err *e) {
  json_t *o = json_loads(json, 0, NULL);
  if (!o) return idp_err_set(e, IDP_EINVAL, "bad JSON in the benchmark");
  idp_kgvr g;
  idp_kref r;
  idp_code rc = idp_kclient_ref_for(kc, o, &g, &r, e);
  if (!rc) {
    r.name = NULL;
    rc = idp_kclient_create(kc, &r, o, NULL, NULL, e);
    if (rc == IDP_EEXIST) rc = IDP_OK, idp_err_clear(e);
  }
  json_decref(o);
  return rc;
}

typedef struct job {
  idp_kclient *kc;
  const char *ns;
  int from, to;
  idp_err e;
  idp_code rc;
} job;

static void *creator(void *arg) {
  job *j = arg;
  for (int i = j->from; i < j->to && !j->rc; i++) {
    char buf[1024];
    snprintf(buf, sizeof buf,
             "{\"apiVersion\":\"cert-manager.io/v1\",\"kind\":\"Certificate\",\"metadata\":{\"name\":"
             "\"bench-%d\",\"namespace\":\"%s\"},\"spec\":{\"secretName\":\"bench-%d-tls\",\"commonName\":"
             "\"bench-%d.example\",\"dnsNames\":[\"bench-%d.example\"],\"privateKey\":{\"algorithm\":"
             "\"ECDSA\",\"size\":256},\"issuerRef\":{\"name\":\"bench-ca-issuer\",\"kind\":\"ClusterIssuer\"}}}",
             i, j->ns, i, i, i);
    j->rc = apply(j->kc, buf, &j->e);
  }
  return NULL;
}

static int count_ready(idp_kclient *kc, const char *ns, const char *prefix) {
  idp_kref r = {"cert-manager.io", "v1", "certificates", ns, NULL, NULL};
  json_t *list = NULL;
  idp_err e = IDP_ERR_INIT;
  if (idp_kclient_list_all(kc, &r, NULL, &list, &e)) return -1;
  int n = 0;
  size_t i;
  json_t *it;
  json_array_foreach(json_object_get(list, "items"), i, it) {
    const char *name = idp_json_get_str(it, "metadata", "name", NULL);
    if (name && strncmp(name, prefix, strlen(prefix)) == 0 && idp_cm_is_ready(it)) n++;
  }
  json_decref(list);
  return n;
}

int main(int argc, char **argv) {
  const char *kubeconfig = NULL, *ns = "bench-certs";
  int count = 500, workers = 4;
  for (int i = 1; i < argc; i++) {
    char *end;
    if (!strcmp(argv[i], "--kubeconfig") && i + 1 < argc) kubeconfig = argv[++i];
    else if (!strcmp(argv[i], "--namespace") && i + 1 < argc) ns = argv[++i];
    else if (!strcmp(argv[i], "--count") && i + 1 < argc) count = (int)strtoll(argv[++i], &end, 10);
    else if (!strcmp(argv[i], "--workers") && i + 1 < argc) workers = (int)strtoll(argv[++i], &end, 10);
    else {
      fprintf(stderr, "usage: certs_bench --kubeconfig FILE [--count N] [--namespace NS] [--workers N]\n");
      return 2;
    }
  }
  if (count < 1 || count > 100000 || workers < 1 || workers > 64) {
    fprintf(stderr, "certs_bench: --count 1..100000, --workers 1..64\n");
    return 2;
  }
  idp_err e = IDP_ERR_INIT;
  idp_kconfig *cfg = NULL;
  idp_kclient *kc = NULL;
  if (idp_kconfig_load_default(kubeconfig, NULL, &cfg, &e) || idp_kclient_new(cfg, NULL, &kc, &e))
    die("client", &e);
  idp_kconfig_free(cfg);

  long rss0 = rss_kb();
  idp_certctl *ctl = NULL;
  idp_certctl_opts o = {.workers = workers};
  if (idp_certctl_start(kc, &o, &ctl, &e)) die("controller", &e);
  char nsj[512];
  snprintf(nsj, sizeof nsj, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\"}}", ns);
  if (apply(kc, nsj, &e) ||
      apply(kc, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"cert-manager\"}}", &e) ||
      apply(kc, "{\"apiVersion\":\"cert-manager.io/v1\",\"kind\":\"ClusterIssuer\",\"metadata\":{\"name\":"
                "\"bench-selfsigned\"},\"spec\":{\"selfSigned\":{}}}", &e) ||
      apply(kc, "{\"apiVersion\":\"cert-manager.io/v1\",\"kind\":\"Certificate\",\"metadata\":{\"name\":"
                "\"bench-ca\",\"namespace\":\"cert-manager\"},\"spec\":{\"isCA\":true,\"commonName\":\"bench-ca\","
                "\"secretName\":\"bench-ca-secret\",\"privateKey\":{\"algorithm\":\"ECDSA\",\"size\":256},"
                "\"issuerRef\":{\"name\":\"bench-selfsigned\",\"kind\":\"ClusterIssuer\"}}}", &e) ||
      apply(kc, "{\"apiVersion\":\"cert-manager.io/v1\",\"kind\":\"ClusterIssuer\",\"metadata\":{\"name\":"
                "\"bench-ca-issuer\"},\"spec\":{\"ca\":{\"secretName\":\"bench-ca-secret\"}}}", &e))
    die("creating the CA chain", &e);
  /* the CA issuer Ready first, so the figure is issuance, not bootstrap */
  idp_kref cir = {"cert-manager.io", "v1", "clusterissuers", NULL, "bench-ca-issuer", NULL};
  double t_boot = now_ms();
  for (;;) {
    json_t *ci = NULL;
    if (!idp_kclient_get(kc, &cir, &ci, &e) && idp_cm_is_ready(ci)) {
      json_decref(ci);
      break;
    }
    json_decref(ci);
    if (now_ms() - t_boot > 60000) {
      fprintf(stderr, "certs_bench: the CA issuer did not become Ready in 60 s\n");
      return 1;
    }
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  long rss1 = rss_kb();
  idp_certctl_stats st0;
  idp_certctl_get_stats(ctl, &st0);

  double t0 = now_ms();
  enum { CREATORS = 4 };
  pthread_t th[CREATORS];
  job jobs[CREATORS];
  for (int i = 0; i < CREATORS; i++) {
    jobs[i] = (job){.kc = kc, .ns = ns, .from = count * i / CREATORS, .to = count * (i + 1) / CREATORS,
                    .e = IDP_ERR_INIT};
    pthread_create(&th[i], NULL, creator, &jobs[i]);
  }
  for (int i = 0; i < CREATORS; i++) pthread_join(th[i], NULL);
  double t_created = now_ms();
  for (int i = 0; i < CREATORS; i++)
    if (jobs[i].rc) die("creating Certificates", &jobs[i].e);
  int ready = 0;
  while ((ready = count_ready(kc, ns, "bench-")) < count) {
    if (now_ms() - t0 > 600000) break;
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  double t1 = now_ms();
  long rss2 = rss_kb();
  idp_certctl_stats st1;
  idp_certctl_get_stats(ctl, &st1);
  printf("certificates: %d ECDSA P-256 from a CA ClusterIssuer, %d workers\n", count, workers);
  printf("created in:   %.2f s (4 client threads)\n", (t_created - t0) / 1000.0);
  printf("all Ready in: %.2f s (%d/%d Ready; target < 10 s; cert-manager: 417-596 s)\n",
         (t1 - t0) / 1000.0, ready, count);
  printf("issued:       %" PRIu64 " (failed %" PRIu64 ", reconciles %" PRIu64 ")\n", st1.issued - st0.issued,
         st1.failed - st0.failed, st1.reconciles - st0.reconciles);
  printf("RSS:          %.1f MB at start, %.1f MB with the controller idle, %.1f MB after; growth %.1f MB "
         "(target < 50 MB; cert-manager: 700 MB-1.15 GB)\n",
         rss0 / 1024.0, rss1 / 1024.0, rss2 / 1024.0, (rss2 - rss1) / 1024.0);
  idp_certctl_stop(ctl);
  idp_kclient_free(kc);
  return ready == count ? 0 : 1;
}
