/* bench_store: measures the object store on this machine.
 *   bench_store [N] [dir]     (N objects, default 10000; dir default /tmp)
 * Prints: single creates/s (one transaction each), get/s, list of N objects
 * (ms), paged list (limit 500) total ms, update/s with a watcher attached,
 * and a raw SQLite single-row commit loop (same pragmas) for comparison. */
#include "core/common.h"

#include <pthread.h>
#include <sqlite3.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "store/store.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A ~1.5 KiB Deployment-like object, roughly what Kubernetes stores. */
static json_t *object(int i) {
  char name[32];
  snprintf(name, sizeof name, "app-%06d", i);
  json_t *o = json_pack(
      "{s:s, s:s, s:{s:s, s:s, s:s, s:{s:s, s:s, s:s}, s:{s:s}},"
      " s:{s:i, s:{s:{s:s}}, s:{s:{s:{s:s}}, s:{s:[{s:s, s:s, s:[{s:i, s:s}],"
      " s:{s:{s:s, s:s}, s:{s:s, s:s}}, s:[{s:s, s:s}, {s:s, s:s}]}]}}}}",
      "apiVersion", "apps/v1", "kind", "Deployment", "metadata", "name", name, "namespace",
      "team-a", "uid", "6f1c1a52-4d0e-4a8e-9d8e-2b8f0c3e7a11", "labels", "app", name,
      "app.kubernetes.io/part-of", "platform", "team", "team-a", "annotations",
      "argocd.argoproj.io/tracking-id", "team-a:apps/Deployment:team-a/app", "spec", "replicas", 3,
      "selector", "matchLabels", "app", name, "template", "metadata", "labels", "app", name, "spec",
      "containers", "name", "app", "image", "registry.example.com/team-a/app:1.2.3-abcdef0",
      "ports", "containerPort", 8080, "name", "http", "resources", "limits", "cpu", "500m",
      "memory", "512Mi", "requests", "cpu", "100m", "memory", "128Mi", "env", "name", "LOG_LEVEL",
      "value", "info", "name", "OTEL_EXPORTER_OTLP_ENDPOINT", "value",
      "http://otel-collector.observability:4317");
  return o;
}

static void die(const char *what, const idp_err *e) {
  fprintf(stderr, "bench_store: %s: %s\n", what, e ? e->msg : "");
  exit(1);
}

static void rm_db(const char *p) {
  char b[512];
  unlink(p);
  snprintf(b, sizeof b, "%s-wal", p);
  unlink(b);
  snprintf(b, sizeof b, "%s-shm", p);
  unlink(b);
  snprintf(b, sizeof b, "%s.key", p);
  unlink(b);
}

typedef struct conc {
  idp_store *s;
  json_t **objs;
  int from, to;
} conc;

static void *conc_writer(void *arg) {
  conc *c = arg;
  for (int i = c->from; i < c->to; i++) {
    const char *name =
        json_string_value(json_object_get(json_object_get(c->objs[i], "metadata"), "name"));
    idp_err e = IDP_ERR_INIT;
    if (idp_store_create(c->s, "apps/replicasets", "team-a", name, c->objs[i], NULL, &e))
      die("concurrent create", &e);
  }
  return NULL;
}

typedef struct mixed {
  idp_store *s;
  int n;
  volatile int *stop;
  long done;
} mixed;

static void *mixed_reader(void *arg) {
  mixed *m = arg;
  for (long i = 0; !*m->stop; i++) {
    char name[32];
    snprintf(name, sizeof name, "app-%06d", (int)((i * 7919) % m->n));
    json_t *got;
    idp_err e = IDP_ERR_INIT;
    if (idp_store_get(m->s, "apps/deployments", "team-a", name, &got, &e)) die("mixed get", &e);
    json_decref(got);
    m->done++;
  }
  return NULL;
}

static double raw_sqlite(const char *path, int n, const char *payload, size_t plen) {
  rm_db(path);
  sqlite3 *db;
  if (sqlite3_open(path, &db) != SQLITE_OK) die("sqlite3_open", NULL);
  sqlite3_exec(db,
               "PRAGMA page_size=8192; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
               "CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT UNIQUE, v BLOB)",
               NULL, NULL, NULL);
  sqlite3_stmt *ins;
  sqlite3_prepare_v2(db, "INSERT INTO t(id, k, v) VALUES(?1, ?2, ?3)", -1, &ins, NULL);
  double t0 = now();
  for (int i = 0; i < n; i++) {
    char k[32];
    snprintf(k, sizeof k, "k%08d", i);
    sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    sqlite3_bind_int64(ins, 1, i + 1);
    sqlite3_bind_text(ins, 2, k, -1, SQLITE_STATIC);
    sqlite3_bind_blob(ins, 3, payload, (int)plen, SQLITE_STATIC);
    if (sqlite3_step(ins) != SQLITE_DONE) die("raw insert", NULL);
    sqlite3_reset(ins);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  }
  double dt = now() - t0;
  printf("raw sqlite single-row commits: %.0f/s (%d rows, %zu B)\n", n / dt, n, plen);
  sqlite3_finalize(ins);
  sqlite3_close(db);
  rm_db(path);
  return n / dt;
}

int main(int argc, char **argv) {
  int n = 10000;
  if (argc > 1) {
    char *end;
    long v = strtol(argv[1], &end, 10);
    if (*end || v <= 0 || v > 10000000) {
      fprintf(stderr, "usage: bench_store [N] [dir]\n");
      return 2;
    }
    n = (int)v;
  }
  const char *dir = argc > 2 ? argv[2] : "/tmp";
  char path[512];
  snprintf(path, sizeof path, "%s/idp-bench-store-%d.db", dir, (int)getpid());
  rm_db(path);
  idp_store_opts o = {.path = path};
  idp_store *s;
  idp_err e = IDP_ERR_INIT;
  if (idp_store_open(&o, &s, &e)) die("open", &e);

  json_t **objs = malloc((size_t)n * sizeof *objs);
  for (int i = 0; i < n; i++) objs[i] = object(i);
  char *sample = json_dumps(objs[0], JSON_COMPACT);
  size_t sample_len = strlen(sample);

  double t0 = now();
  for (int i = 0; i < n; i++) {
    const char *name =
        json_string_value(json_object_get(json_object_get(objs[i], "metadata"), "name"));
    if (idp_store_create(s, "apps/deployments", "team-a", name, objs[i], NULL, &e))
      die("create", &e);
  }
  double dt = now() - t0;
  double create_rate = n / dt;
  printf("object size: %zu B JSON\n", sample_len);
  printf("creates: %.0f/s (%d, one transaction each)\n", create_rate, n);

  enum { THREADS = 4 };
  pthread_t th[THREADS];
  conc cc[THREADS];
  t0 = now();
  for (int i = 0; i < THREADS; i++) {
    cc[i] = (conc){s, objs, n * i / THREADS, n * (i + 1) / THREADS};
    pthread_create(&th[i], NULL, conc_writer, &cc[i]);
  }
  idp_store_stats st0, st1;
  idp_store_get_stats(s, &st0);
  for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
  dt = now() - t0;
  idp_store_get_stats(s, &st1);
  printf("creates from %d threads: %.0f/s (group commit: %.1f writes per commit)\n", THREADS,
         n / dt, (double)(st1.writes - (uint64_t)n) / (double)(st1.commits - (uint64_t)n));

  t0 = now();
  for (int i = 0; i < n; i++) {
    char name[32];
    snprintf(name, sizeof name, "app-%06d", (i * 7919) % n);
    json_t *got;
    if (idp_store_get(s, "apps/deployments", "team-a", name, &got, &e)) die("get", &e);
    json_decref(got);
  }
  dt = now() - t0;
  printf("gets: %.0f/s\n", n / dt);

  for (int round = 0; round < 3; round++) {
    json_t *items;
    int64_t rev;
    char *cont;
    t0 = now();
    if (idp_store_list(s, "apps/deployments", NULL, &items, &rev, &cont, &e)) die("list", &e);
    dt = now() - t0;
    printf("list %zu objects: %.1f ms\n", json_array_size(items), dt * 1e3);
    json_decref(items);
  }
  for (int round = 0; round < 3; round++) {
    idp_buf raw;
    idp_buf_init(&raw, 0);
    size_t cnt;
    int64_t rev;
    char *c2;
    t0 = now();
    if (idp_store_list_raw(s, "apps/deployments", NULL, &raw, &cnt, &rev, &c2, &e))
      die("list raw", &e);
    dt = now() - t0;
    printf("list %zu objects as raw JSON text (%zu B): %.1f ms\n", cnt, raw.len, dt * 1e3);
    idp_buf_free(&raw);
  }
  t0 = now();
  size_t total = 0;
  char *cont = NULL;
  do {
    idp_store_list_opts lo = {.limit = 500, .cont = cont};
    json_t *items;
    int64_t rev;
    char *next;
    if (idp_store_list(s, "apps/deployments", &lo, &items, &rev, &next, &e)) die("page", &e);
    total += json_array_size(items);
    json_decref(items);
    free(cont);
    cont = next;
  } while (cont);
  dt = now() - t0;
  printf("paged list (limit 500) of %zu: %.1f ms\n", total, dt * 1e3);

  /* one writer and one reader at the same time */
  {
    volatile int stop = 0;
    mixed m = {s, n, &stop, 0};
    pthread_t rt;
    pthread_create(&rt, NULL, mixed_reader, &m);
    t0 = now();
    int nw = n / 2;
    for (int i = 0; i < nw; i++) {
      char name[32];
      snprintf(name, sizeof name, "mixed-%06d", i);
      if (idp_store_create(s, "apps/statefulsets", "team-a", name, objs[i], NULL, &e))
        die("mixed create", &e);
    }
    dt = now() - t0;
    stop = 1;
    pthread_join(rt, NULL);
    printf("mixed, 1 writer + 1 reader thread: %.0f creates/s with %.0f gets/s\n", nw / dt,
           m.done / dt);
  }

  idp_watch *w;
  if (idp_store_watch(s, "apps/deployments", NULL, 0, (size_t)n + 1, &w, &e)) die("watch", &e);
  t0 = now();
  for (int i = 0; i < n; i++) {
    const char *name =
        json_string_value(json_object_get(json_object_get(objs[i], "metadata"), "name"));
    if (idp_store_update(s, "apps/deployments", "team-a", name, objs[i], 0, NULL, &e))
      die("update", &e);
  }
  dt = now() - t0;
  printf("updates with 1 watcher: %.0f/s\n", n / dt);
  t0 = now();
  int got = 0;
  for (;;) {
    idp_event *ev;
    if (idp_watch_next(w, 0, &ev, &e)) die("watch next", &e);
    if (!ev) break;
    got++;
    idp_event_free(ev);
  }
  dt = now() - t0;
  printf("watch events drained: %d in %.1f ms\n", got, dt * 1e3);
  idp_watch_close(w);

  /* secrets: the same with encryption */
  t0 = now();
  int ns = n / 4;
  for (int i = 0; i < ns; i++) {
    const char *name =
        json_string_value(json_object_get(json_object_get(objs[i], "metadata"), "name"));
    if (idp_store_create(s, "core/secrets", "team-a", name, objs[i], NULL, &e))
      die("create secret", &e);
  }
  dt = now() - t0;
  printf("encrypted creates: %.0f/s (%d)\n", ns / dt, ns);

  /* history of 1000: the n superseded creates' values go */
  idp_store_close(s);
  o.history_revisions = 1000;
  if (idp_store_open(&o, &s, &e)) die("reopen", &e);
  t0 = now();
  if (idp_store_compact(s, &e)) die("compact", &e);
  printf("compact to the last 1000 of %lld revisions: %.1f ms\n", (long long)idp_store_revision(s),
         (now() - t0) * 1e3);
  idp_store_close(s);
  rm_db(path);

  double raw = raw_sqlite(path, n, sample, sample_len);
  printf("store creates / raw single-row commits: %.2f\n", create_rate / raw);
  for (int i = 0; i < n; i++) json_decref(objs[i]);
  free(objs);
  free(sample);
  return 0;
}
