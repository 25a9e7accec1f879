/* bench_kustomize.c: native kustomize in-process (idp_kustomize_build, what
 * the Application controller calls) against `kubectl kustomize` (an exec,
 * what Argo CD's repo-server does) over the differential corpus.  Prints
 * the per-case medians summed and the ratio.  A benchmark: no assertions.
 *
 *   bench_kustomize [CORPUS_DIR] [REPS]   (default tests/gitops/kustomize, 7) */
#include "core/common.h"

#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>

#include "gitops/kustomize.h"

extern char **environ;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  idp_sort(v, (size_t)n, sizeof *v, cmp_d);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int cmp_s(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static double run_kubectl(const char *dir) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  char *argv[] = {"kubectl", "kustomize", (char *)dir, NULL};
  double t = now();
  pid_t pid;
  if (posix_spawnp(&pid, "kubectl", &fa, NULL, argv, environ)) {
    posix_spawn_file_actions_destroy(&fa);
    return -1;
  }
  int st;
  waitpid(pid, &st, 0);
  posix_spawn_file_actions_destroy(&fa);
  return now() - t;
}

int main(int argc, char **argv) {
  const char *corpus = argc > 1 ? argv[1] : "tests/gitops/kustomize";
  int reps = 7;
  if (argc > 2) {
    char *end;
    long r = strtol(argv[2], &end, 10);
    if (*end || r < 1 || r > 1000) {
      fprintf(stderr, "bench_kustomize: bad REPS '%s'\n", argv[2]);
      return 2;
    }
    reps = (int)r;
  }
  DIR *d = opendir(corpus);
  if (!d) {
    fprintf(stderr, "bench_kustomize: %s: %s\n", corpus, strerror(errno));
    return 1;
  }
  char *names[1024];
  size_t n = 0;
  struct dirent *de;
  while ((de = readdir(d)) && n < 1024)
    if (de->d_name[0] != '.') names[n++] = strdup(de->d_name);
  closedir(d);
  idp_sort(names, n, sizeof *names, cmp_s);
  double *tn = calloc((size_t)reps, sizeof *tn), *tk = calloc((size_t)reps, sizeof *tk);
  double sum_n = 0, sum_k = 0, worst = 1e9;
  int cases = 0, kubectl_ok = 1;
  for (size_t i = 0; i < n; i++) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", corpus, names[i]);
    if (!idp_kustomize_is_dir(dir)) continue;
    for (int r = 0; r < reps; r++) {
      json_t *objs = NULL;
      idp_err e = IDP_ERR_INIT;
      double t = now();
      idp_code rc = idp_kustomize_build(dir, &objs, &e);
      tn[r] = now() - t;
      json_decref(objs);
      if (rc) {
        fprintf(stderr, "%s: %s\n", names[i], e.msg);
        break;
      }
      tk[r] = run_kubectl(dir);
      if (tk[r] < 0) kubectl_ok = 0;
    }
    double mn = median(tn, reps), mk = median(tk, reps);
    sum_n += mn;
    sum_k += mk;
    if (mk / mn < worst) worst = mk / mn;
    cases++;
  }
  printf("kustomize corpus: %d cases, %d reps each\n", cases, reps);
  printf("native (in-process):  total of medians %9.2f ms, %.3f ms/case\n", sum_n * 1e3,
         cases ? sum_n * 1e3 / cases : 0);
  if (kubectl_ok) {
    printf("kubectl kustomize:    total of medians %9.2f ms, %.3f ms/case\n", sum_k * 1e3,
           cases ? sum_k * 1e3 / cases : 0);
    printf("speedup: %.1fx overall, worst case %.1fx (target >= 20x)\n", sum_k / sum_n, worst);
  } else {
    printf("kubectl not found: no comparison\n");
  }
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(tn);
  free(tk);
  return 0;
}
