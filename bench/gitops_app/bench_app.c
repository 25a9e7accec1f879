/* bench_app: the Application controller at scale, in one process against a
 * running API server (run.sh starts `idp up` and calls this).
 *
 *   bench_app --kubeconfig F --work DIR [--apps N] [--objects M] [--workers W]
 *
 * Makes one Git repository with N paths of M ConfigMaps each, starts the
 * controller in-process, creates N automated Applications and prints:
 *   cold sync of N x M objects to all-Synced (s)
 *   a no-change reconcile of all N Applications (ms)
 *   RSS of this process (controller + client; the server is separate)
 * Prints figures; asserts nothing. */
#include "core/common.h"

#include <malloc.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "core/json.h"
#include "gitops/app/app.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static long rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) kb = strtol(line + 6, NULL, 10);
  if (f) fclose(f);
  return kb;
}

static long num(const char *s) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*end || v <= 0) {
    fprintf(stderr, "bench_app: bad number %s\n", s);
    exit(2);
  }
  return v;
}

static int make_repo(const char *work, long apps, long objs) {
  char path[1024];
  for (long i = 0; i < apps; i++) {
    snprintf(path, sizeof path, "%s/repo/apps/app-%ld", work, i);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", path);
    if (system(cmd) != 0) return -1;
    snprintf(path, sizeof path, "%s/repo/apps/app-%ld/objects.yaml", work, i);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    for (long j = 0; j < objs; j++)
      fprintf(f,
              "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-%ld-cm-%ld\n"
              "data:\n  index: \"%ld\"\n  payload: \"%0200ld\"\n",
              i, j, j, j);
    fclose(f);
  }
  char cmd[1400];
  snprintf(cmd, sizeof cmd,
           "cd %s/repo && git init -q -b main && git add -A && git -c user.name=b "
           "-c user.email=b@e commit -qm bench",
           work);
  return system(cmd) == 0 ? 0 : -1;
}

static long count_synced(idp_kclient *kc) {
  idp_kref r = {"argoproj.io", "v1alpha1", "applications", "argocd", NULL, NULL};
  json_t *list = NULL;
  idp_err e = IDP_ERR_INIT;
  if (idp_kclient_list_all(kc, &r, NULL, &list, &e)) return -1;
  long n = 0;
  size_t i;
  json_t *a;
  json_array_foreach(json_object_get(list, "items"), i, a) {
    const char *s = idp_json_get_str(a, "status", "sync", "status", NULL);
    const char *h = idp_json_get_str(a, "status", "health", "status", NULL);
    if (s && h && !strcmp(s, "Synced") && !strcmp(h, "Healthy")) n++;
  }
  json_decref(list);
  return n;
}

int main(int argc, char **argv) {
  const char *kcfg = NULL, *work = NULL;
  long apps = 100, objs = 20, workers = 8;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--kubeconfig"))
      kcfg = argv[i + 1];
    else if (!strcmp(argv[i], "--work"))
      work = argv[i + 1];
    else if (!strcmp(argv[i], "--apps"))
      apps = num(argv[i + 1]);
    else if (!strcmp(argv[i], "--objects"))
      objs = num(argv[i + 1]);
    else if (!strcmp(argv[i], "--workers"))
      workers = num(argv[i + 1]);
  }
  if (!kcfg || !work) {
    fprintf(stderr,
            "usage: bench_app --kubeconfig F --work DIR [--apps N] [--objects M] "
            "[--workers W]\n");
    return 2;
  }
  if (make_repo(work, apps, objs)) {
    fprintf(stderr, "bench_app: cannot make the repository under %s\n", work);
    return 1;
  }
  idp_kconfig *cfg;
  idp_kclient *kc;
  idp_err e = IDP_ERR_INIT;
  if (idp_kconfig_load_file(kcfg, NULL, &cfg, &e) || idp_kclient_new(cfg, NULL, &kc, &e)) {
    fprintf(stderr, "bench_app: %s\n", e.msg);
    return 1;
  }
  idp_kconfig_free(cfg);
  char data[1024];
  snprintf(data, sizeof data, "%s/ctl", work);
  idp_app_opts o = {.data_dir = data,
                    .workers = (int)workers,
                    .resync_ms = 600000,
                    .jitter_ms = -1,
                    .wave_delay_ms = -1};
  idp_app *a;
  if (idp_app_start(kc, &o, &a, &e)) {
    fprintf(stderr, "bench_app: start: %s\n", e.msg);
    return 1;
  }
  idp_kref ns = {"", "v1", "namespaces", NULL, NULL, NULL};
  json_t *nso = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace",
                          "metadata", "name", "bench");
  idp_kclient_create(kc, &ns, nso, NULL, NULL, &e);
  json_decref(nso);
  double t0 = now_s();
  idp_kref ar = {"argoproj.io", "v1alpha1", "applications", "argocd", NULL, NULL};
  char repo[1100], name[64], path[64];
  snprintf(repo, sizeof repo, "%s/repo", work);
  for (long i = 0; i < apps; i++) {
    snprintf(name, sizeof name, "app-%ld", i);
    snprintf(path, sizeof path, "apps/app-%ld", i);
    json_t *app =
        json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:{s:s, s:s, s:s}, s:{s:s, s:s}, s:{s:{s:b}}}}",
                  "apiVersion", "argoproj.io/v1alpha1", "kind", "Application", "metadata", "name",
                  name, "namespace", "argocd", "spec", "project", "default", "source", "repoURL",
                  repo, "targetRevision", "HEAD", "path", path, "destination", "server",
                  "https://kubernetes.default.svc", "namespace", "bench", "syncPolicy", "automated",
                  "prune", 1);
    if (idp_kclient_create(kc, &ar, app, NULL, NULL, &e) && e.code != IDP_EEXIST)
      fprintf(stderr, "bench_app: create %s: %s\n", name, e.msg);
    json_decref(app);
  }
  double t_created = now_s();
  long synced = 0;
  while (synced < apps && now_s() - t0 < 600) {
    usleep(250000);
    synced = count_synced(kc);
  }
  double cold = now_s() - t0;
  idp_app_stats st0, st1;
  idp_app_get_stats(a, &st0);
  sleep(1); /* let the watch events of our own writes settle */
  idp_app_get_stats(a, &st0);
  double t1 = now_s();
  for (long i = 0; i < apps; i++) {
    snprintf(name, sizeof name, "app-%ld", i);
    idp_app_refresh(a, name, false);
  }
  do {
    usleep(1000);
    idp_app_get_stats(a, &st1);
  } while (st1.reconciles_done < st0.reconciles_done + (unsigned long)apps && now_s() - t1 < 120);
  double nochange = (now_s() - t1) * 1000;
  printf("gitops_app: applications               %ld x %ld objects\n", apps, objs);
  printf("gitops_app: create %ld Applications       %.2f s\n", apps, t_created - t0);
  printf("gitops_app: cold sync to all-Synced     %.2f s (%ld/%ld synced)\n", cold, synced, apps);
  printf("gitops_app: no-change reconcile of all  %.1f ms (status writes %lu)\n", nochange,
         st1.status_writes - st0.status_writes);
  printf("gitops_app: applies %lu, syncs %lu, render cache hits %lu, unchanged %lu/%ld\n",
         st1.applies, st1.syncs, st1.render_cache_hits, st1.fast_paths - st0.fast_paths, apps);
  double rss = rss_kb() / 1024.0;
  malloc_trim(0); /* what is still in use, without the allocator's free pages */
  printf("gitops_app: RSS (controller process)    %.1f MB (%.1f MB after malloc_trim)\n", rss,
         rss_kb() / 1024.0);
  idp_app_stop(a);
  idp_kclient_free(kc);
  return 0;
}
