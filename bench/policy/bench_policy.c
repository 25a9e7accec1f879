/* bench_policy: the Kyverno engine on generated admissions.
 *
 * Loads classic ClusterPolicies from the conformance library (the
 * <category>/<name>/<name>.yaml files), generates N Pods and Deployments
 * with varied images, labels, resources and security contexts, and runs
 * every policy's mutate then validate phase on each (one "admission" =
 * the whole policy set on one object).  Prints evaluations/s, admission
 * latency p50/p99, peak RSS, and the wall time of the whole `kyverno test`
 * run over the library. */
#include "core/common.h"

#include <dirent.h>
#include <sys/stat.h>
#include <time.h>

#include "core/json.h"
#include "core/yaml.h"
#include "policy/policy.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long peak_rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kb = -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmHWM:", 6) == 0) {
      char *end;
      kb = strtol(line + 6, &end, 10);
    }
  fclose(f);
  return kb;
}

typedef struct {
  pol_policy **v;
  size_t n, cap, max;
  json_t *seen; /* file paths already loaded */
} polset;

static void try_policy_file(const char *path, polset *ps) {
  if (json_object_get(ps->seen, path)) return;
  json_object_set_new(ps->seen, path, json_true());
  json_t *docs = NULL;
  idp_err e = IDP_ERR_INIT;
  if (idp_yaml_load_file(path, NULL, &docs, &e) != IDP_OK) return;
  for (size_t i = 0; i < json_array_size(docs) && ps->n < ps->max; i++) {
    const json_t *d = json_array_get(docs, i);
    if (!pol_is_classic(d, NULL)) continue;
    /* admission-time rules only: skip generate-only policies */
    const json_t *rules = idp_json_get(d, "spec", "rules", NULL);
    bool useful = false;
    for (size_t r = 0; r < json_array_size(rules); r++)
      if (json_object_get(json_array_get(rules, r), "validate") ||
          json_object_get(json_array_get(rules, r), "mutate"))
        useful = true;
    if (!useful) continue;
    pol_policy *p = NULL;
    if (pol_policy_load(d, path, &p, &e) != IDP_OK) continue;
    if (ps->n == ps->cap) {
      ps->cap = ps->cap ? ps->cap * 2 : 64;
      ps->v = realloc(ps->v, ps->cap * sizeof *ps->v);
    }
    ps->v[ps->n++] = p;
  }
  json_decref(docs);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* <root>/<category>[/<sub>]/<name>/<name>.yaml, categories in byte order;
 * pod-security and best-practices first, as the policies most clusters run. */
static void walk(const char *dir, int depth, polset *ps) {
  if (depth > 3 || ps->n >= ps->max) return;
  DIR *d = opendir(dir);
  if (!d) return;
  char *names[4096];
  size_t n = 0;
  struct dirent *de;
  while ((de = readdir(d)) && n < 4096)
    if (de->d_name[0] != '.') names[n++] = strdup(de->d_name);
  closedir(d);
  idp_sort(names, n, sizeof *names, cmp_str);
  const char *base = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
  for (size_t i = 0; i < n; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    struct stat st;
    if (stat(path, &st) == 0) {
      if (S_ISDIR(st.st_mode)) {
        walk(path, depth + 1, ps);
      } else {
        char want[512];
        snprintf(want, sizeof want, "%s.yaml", base);
        if (strcmp(names[i], want) == 0) try_policy_file(path, ps);
      }
    }
    free(names[i]);
  }
}

static const char *const images[] = {"nginx:1.25", "nginx:latest", "ghcr.io/corp/api:v2",
                                     "redis", "docker.io/library/busybox:1.36",
                                     "registry.k8s.io/pause:3.9"};

static json_t *make_pod_spec(unsigned i) {
  json_t *c = json_pack("{s:s,s:s}", "name", "app", "image", images[i % 6]);
  if (i % 2)
    json_object_set_new(c, "resources",
                        json_pack("{s:{s:s,s:s},s:{s:s,s:s}}", "requests", "cpu", "100m", "memory",
                                  "128Mi", "limits", "cpu", "500m", "memory", "256Mi"));
  if (i % 3 == 0)
    json_object_set_new(c, "securityContext",
                        json_pack("{s:b,s:b,s:b,s:{s:[s]}}", "runAsNonRoot", 1,
                                  "allowPrivilegeEscalation", 0, "readOnlyRootFilesystem", 1,
                                  "capabilities", "drop", "ALL"));
  if (i % 7 == 0) json_object_set_new(c, "securityContext", json_pack("{s:b}", "privileged", 1));
  if (i % 5 == 0)
    json_object_set_new(c, "livenessProbe", json_pack("{s:{s:i}}", "tcpSocket", "port", 8080));
  json_t *spec = json_pack("{s:[o]}", "containers", c);
  if (i % 4 == 0)
    json_array_append_new(json_object_get(spec, "containers"),
                          json_pack("{s:s,s:s}", "name", "sidecar", "image", images[(i + 1) % 6]));
  if (i % 11 == 0) json_object_set_new(spec, "hostNetwork", json_true());
  if (i % 13 == 0)
    json_object_set_new(spec, "volumes",
                        json_pack("[{s:s,s:{s:s}}]", "name", "data", "hostPath", "path", "/var/data"));
  return spec;
}

static json_t *make_resource(unsigned i) {
  char name[64];
  snprintf(name, sizeof name, "app-%u", i);
  json_t *labels = json_pack("{s:s}", "app", name);
  if (i % 3) json_object_set_new(labels, "app.kubernetes.io/name", json_string("web"));
  json_t *meta = json_pack("{s:s,s:s,s:o}", "name", name, "namespace", i % 9 ? "team-a" : "default",
                           "labels", labels);
  if (i % 2 == 0)
    return json_pack("{s:s,s:s,s:o,s:o}", "apiVersion", "v1", "kind", "Pod", "metadata", meta,
                     "spec", make_pod_spec(i));
  json_t *tmpl = json_pack("{s:{s:O},s:o}", "metadata", "labels", json_object_get(meta, "labels"),
                           "spec", make_pod_spec(i));
  return json_pack("{s:s,s:s,s:o,s:{s:i,s:{s:{s:s}},s:o}}", "apiVersion", "apps/v1", "kind",
                   "Deployment", "metadata", meta, "spec", "replicas", 1 + i % 3, "selector",
                   "matchLabels", "app", name, "template", tmpl);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  const char *data = getenv("IDP_SHARED") ? NULL : "/work/shared/conformance/kyverno-policies";
  char defpath[4096];
  if (!data) {
    snprintf(defpath, sizeof defpath, "%s/conformance/kyverno-policies", getenv("IDP_SHARED"));
    data = defpath;
  }
  unsigned nres = 10000;
  size_t maxpol = 40;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--data") && i + 1 < argc) data = argv[++i];
    else if (!strcmp(argv[i], "--resources") && i + 1 < argc) nres = (unsigned)strtoul(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--policies") && i + 1 < argc) maxpol = strtoul(argv[++i], NULL, 10);
    else {
      fprintf(stderr, "usage: bench_policy [--data DIR] [--resources N] [--policies N]\n");
      return 2;
    }
  }
  polset ps = {NULL, 0, 0, maxpol, json_object()};
  char first[4096];
  /* the policies most clusters run first, then the rest of the library */
  snprintf(first, sizeof first, "%s/pod-security", data);
  walk(first, 0, &ps);
  snprintf(first, sizeof first, "%s/best-practices", data);
  walk(first, 0, &ps);
  walk(data, 0, &ps);
  size_t nrules = 0;
  for (size_t i = 0; i < ps.n; i++) nrules += json_array_size(ps.v[i]->rules);
  printf("policies loaded: %zu (%zu rules incl. autogen) from %s\n", ps.n, nrules, data);
  if (ps.n == 0) return 1;

  double *lat = calloc(nres ? nres : 1, sizeof *lat);
  double *per = calloc(ps.n, sizeof *per);
  size_t results = 0, fails = 0;
  double t0 = now_s();
  for (unsigned i = 0; i < nres; i++) {
    json_t *obj = make_resource(i);
    double a = now_s();
    json_t *cur = json_incref(obj);
    for (int phase = 0; phase < 2; phase++)
      for (size_t p = 0; p < ps.n; p++) {
        pol_request req = {.object = cur, .operation = "CREATE"};
        pol_response r = {0};
        idp_err e = IDP_ERR_INIT;
        double pa = now_s();
        pol_eval(ps.v[p], &req, phase == 0 ? POL_PHASE_MUTATE : POL_PHASE_VALIDATE, &r, &e);
        per[p] += now_s() - pa;
        results += r.n;
        for (size_t k = 0; k < r.n; k++)
          if (r.rules[k].status == POL_FAIL) fails++;
        if (phase == 0 && r.patched && json_is_object(r.patched)) {
          json_decref(cur);
          cur = json_incref(r.patched);
        }
        pol_response_clear(&r);
      }
    lat[i] = now_s() - a;
    json_decref(cur);
    json_decref(obj);
  }
  double total = now_s() - t0;
  idp_sort(lat, nres, sizeof *lat, cmp_double);
  double evals = (double)nres * (double)ps.n;
  printf("admissions: %u Pods/Deployments x %zu policies in %.3f s\n", nres, ps.n, total);
  printf("  policy evaluations/s: %.0f   admissions/s: %.0f   rule results: %zu (fail %zu)\n",
         evals / total, nres / total, results, fails);
  if (nres)
    printf("  admission latency (whole policy set): p50 %.1f us   p99 %.1f us   max %.1f us\n",
           lat[nres / 2] * 1e6, lat[(size_t)(nres * 0.99)] * 1e6, lat[nres - 1] * 1e6);
  free(lat);
  /* the three most expensive policies */
  for (int top = 0; top < 3; top++) {
    size_t best = 0;
    for (size_t p = 1; p < ps.n; p++)
      if (per[p] > per[best]) best = p;
    if (per[best] <= 0) break;
    printf("  slowest #%d: %s %.1f us/admission\n", top + 1, ps.v[best]->name,
           per[best] / (nres ? nres : 1) * 1e6);
    per[best] = -1;
  }
  free(per);
  for (size_t i = 0; i < ps.n; i++) pol_policy_free(ps.v[i]);
  free(ps.v);
  json_decref(ps.seen);

  pol_test_report rep = {0};
  idp_err e = IDP_ERR_INIT;
  double t1 = now_s();
  pol_test_run_path(data, NULL, &rep, &e);
  double tt = now_s() - t1;
  size_t ok = 0, bad = 0;
  for (size_t i = 0; i < rep.n; i++) {
    if (rep.rows[i].unsupported) continue;
    if (rep.rows[i].ok) ok++;
    else bad++;
  }
  printf("kyverno test over the library: %zu files, %zu rows (%zu pass, %zu fail) in %.3f s\n",
         rep.files, rep.n, ok, bad, tt);
  pol_test_report_free(&rep);
  printf("peak RSS: %ld KiB\n", peak_rss_kb());
  return 0;
}
