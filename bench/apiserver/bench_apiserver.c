/* bench_apiserver: end-to-end figures of `idp up` over HTTPS.
 *
 *   bench_apiserver [--idp PATH] [--objects N] [--conns C] [--watchers W]
 *                   [--events E]
 *
 * Starts `idp up` on a free port in a temporary data directory and prints:
 *   - idle RSS of the server (VmRSS from /proc/PID/status)
 *   - creates/s: N ConfigMaps POSTed over C keep-alive connections
 *   - list of all N objects in one request, and paginated (limit=500, as
 *     kubectl does), in ms
 *   - watch delivery latency p50/p99/max with W watchers: E objects are
 *     created one by one; latency = time from the start of the create request
 *     to the ADDED event arriving at each watcher
 *   - loaded RSS (N objects stored, W watchers connected)
 *   - a raw single-row SQLite commit loop (WAL, synchronous=NORMAL, as the
 *     store) in the same run, and the ratio of the end-to-end create rate to it.
 * It is a benchmark: it prints figures and asserts nothing. */
#include "core/common.h"
#include "core/buf.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct {
  const char *idp;
  int objects, conns, watchers, events;
  char dir[256];
  char ca[300];
  char auth[600];
  char base[64];
  pid_t pid;
} B = {.idp = "./idp", .objects = 10000, .conns = 8, .watchers = 1000, .events = 20};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what) {
  fprintf(stderr, "bench_apiserver: %s\n", what);
  if (B.pid > 0) kill(B.pid, SIGKILL);
  exit(1);
}

static long parse_num(const char *s, const char *flag) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v <= 0) {
    fprintf(stderr, "bench_apiserver: %s wants a positive number, got '%s'\n", flag, s);
    exit(2);
  }
  return v;
}

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t l = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (struct sockaddr *)&a, &l))
    die("cannot find a free port");
  close(fd);
  return ntohs(a.sin_port);
}

static long rss_kb(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  long kb = -1;
  while (f && fgets(line, sizeof line, f)) {
    if (!strncmp(line, "VmRSS:", 6)) {
      char *end;
      kb = strtol(line + 6, &end, 10);
    }
  }
  if (f) fclose(f);
  return kb;
}

/* ---- HTTP ---- */

static size_t sink(char *p, size_t sz, size_t n, void *ud) {
  idp_buf *b = ud;
  if (b && idp_buf_add(b, p, sz * n)) return 0;
  return sz * n;
}

static CURL *easy(struct curl_slist **hdrs) {
  CURL *c = curl_easy_init();
  if (!c) die("curl_easy_init");
  *hdrs = curl_slist_append(NULL, B.auth);
  *hdrs = curl_slist_append(*hdrs, "Content-Type: application/json");
  *hdrs = curl_slist_append(*hdrs, "Accept: application/json");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
  curl_easy_setopt(c, CURLOPT_CAINFO, B.ca);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, NULL);
  return c;
}

/* One request; returns the HTTP status (0 on transport error). */
static long request(CURL *c, const char *method, const char *path, const char *body, idp_buf *out) {
  char url[1024];
  snprintf(url, sizeof url, "%s%s", B.base, path);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  else curl_easy_setopt(c, CURLOPT_HTTPGET, 1L), curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
  long code = 0;
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  return code;
}

/* ---- server ---- */

static void start_server(void) {
  snprintf(B.dir, sizeof B.dir, "/tmp/idp-bench.XXXXXX");
  if (!mkdtemp(B.dir)) die("mkdtemp");
  int port = free_port();
  char listen[64], log[300];
  snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
  snprintf(log, sizeof log, "%s/server.log", B.dir);
  snprintf(B.base, sizeof B.base, "https://127.0.0.1:%d", port);
  snprintf(B.ca, sizeof B.ca, "%s/ca.crt", B.dir);
  B.pid = fork();
  if (B.pid < 0) die("fork");
  if (B.pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    /* the API server alone: controllers would measure their informers too */
    execl(B.idp, B.idp, "up", "--data-dir", B.dir, "--listen", listen, "--no-controllers",
          (char *)NULL);
    _exit(127);
  }
  char kc[300];
  snprintf(kc, sizeof kc, "%s/kubeconfig", B.dir);
  for (int i = 0; i < 400; i++) {
    int st;
    if (waitpid(B.pid, &st, WNOHANG) == B.pid) {
      B.pid = 0;
      fprintf(stderr, "bench_apiserver: `%s up` exited; see %s\n", B.idp, log);
      exit(1);
    }
    struct stat sb;
    if (!stat(kc, &sb) && sb.st_size > 0 && !stat(B.ca, &sb)) {
      FILE *f = fopen(kc, "r");
      char line[1024];
      B.auth[0] = 0;
      while (f && fgets(line, sizeof line, f)) {
        char *t = strstr(line, "token:");
        if (!t) continue;
        t += 6;
        while (*t == ' ' || *t == '"' || *t == '\'') t++;
        size_t n = strcspn(t, "\"'\r\n ");
        snprintf(B.auth, sizeof B.auth, "Authorization: Bearer %.*s", (int)n, t);
        break;
      }
      if (f) fclose(f);
      struct curl_slist *h;
      CURL *c = easy(&h);
      curl_easy_setopt(c, CURLOPT_TIMEOUT, 2L);
      long code = request(c, "GET", "/readyz", NULL, NULL);
      curl_easy_cleanup(c);
      curl_slist_free_all(h);
      if (code == 200) return;
    }
    usleep(100 * 1000);
  }
  die("server not ready after 40 s");
}

static void stop_server(void) {
  if (B.pid <= 0) return;
  kill(B.pid, SIGTERM);
  for (int i = 0; i < 100; i++) {
    if (waitpid(B.pid, NULL, WNOHANG) == B.pid) {
      B.pid = 0;
      break;
    }
    usleep(100 * 1000);
  }
  if (B.pid > 0) {
    kill(B.pid, SIGKILL);
    waitpid(B.pid, NULL, 0);
  }
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", B.dir);
  if (system(cmd) != 0) fprintf(stderr, "bench_apiserver: could not remove %s\n", B.dir);
}

/* ---- creates ---- */

typedef struct {
  int id, from, to, ok, failed;
} writer_arg;

static void *writer(void *p) {
  writer_arg *w = p;
  struct curl_slist *h;
  CURL *c = easy(&h);
  char body[512];
  for (int i = w->from; i < w->to; i++) {
    snprintf(body, sizeof body,
             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"bench-%d\","
             "\"labels\":{\"app\":\"bench\",\"writer\":\"w%d\"}},\"data\":{\"index\":\"%d\","
             "\"payload\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}}",
             i, w->id, i);
    if (request(c, "POST", "/api/v1/namespaces/default/configmaps", body, NULL) == 201) w->ok++;
    else w->failed++;
  }
  curl_easy_cleanup(c);
  curl_slist_free_all(h);
  return NULL;
}

static double bench_creates(void) {
  pthread_t th[64];
  writer_arg args[64];
  int n = B.conns > 64 ? 64 : B.conns;
  double t0 = now_s();
  for (int i = 0; i < n; i++) {
    args[i] = (writer_arg){.id = i, .from = B.objects * i / n, .to = B.objects * (i + 1) / n};
    pthread_create(&th[i], NULL, writer, &args[i]);
  }
  int ok = 0, bad = 0;
  for (int i = 0; i < n; i++) {
    pthread_join(th[i], NULL);
    ok += args[i].ok;
    bad += args[i].failed;
  }
  double dt = now_s() - t0;
  printf("creates: %d ConfigMaps over %d connections in %.2f s = %.0f creates/s (%d failed)\n", ok, n,
         dt, ok / dt, bad);
  return ok / dt;
}

/* ---- list ---- */

static void bench_list(void) {
  struct curl_slist *h;
  CURL *c = easy(&h);
  idp_buf b;
  idp_buf_init(&b, (size_t)1 << 30);
  double t0 = now_s();
  long code = request(c, "GET", "/api/v1/namespaces/default/configmaps", NULL, &b);
  double dt = now_s() - t0;
  json_t *j = json_loadb(b.data ? b.data : "", b.len, 0, NULL);
  printf("list (one request): %zu objects, %.1f MB, %.0f ms (HTTP %ld)\n",
         json_array_size(json_object_get(j, "items")), b.len / 1e6, dt * 1000, code);
  json_decref(j);
  /* paginated as kubectl get does */
  char path[2048], cont[1024] = "";
  size_t total = 0;
  int pages = 0;
  t0 = now_s();
  do {
    idp_buf_reset(&b);
    if (cont[0]) {
      char *enc = curl_easy_escape(c, cont, 0);
      snprintf(path, sizeof path, "/api/v1/namespaces/default/configmaps?limit=500&continue=%s", enc);
      curl_free(enc);
    } else {
      snprintf(path, sizeof path, "/api/v1/namespaces/default/configmaps?limit=500");
    }
    if (request(c, "GET", path, NULL, &b) != 200) break;
    j = json_loadb(b.data ? b.data : "", b.len, 0, NULL);
    total += json_array_size(json_object_get(j, "items"));
    const char *next = json_string_value(json_object_get(json_object_get(j, "metadata"), "continue"));
    snprintf(cont, sizeof cont, "%s", next ? next : "");
    json_decref(j);
    pages++;
  } while (cont[0] && pages < 10000);
  dt = now_s() - t0;
  printf("list (limit=500 pages): %zu objects in %d pages, %.0f ms\n", total, pages, dt * 1000);
  idp_buf_free(&b);
  curl_easy_cleanup(c);
  curl_slist_free_all(h);
}

/* ---- watch latency ---- */

typedef struct {
  CURL *c;
  char buf[65536];
  size_t len;
  bool connected;
} watcher;

static double *send_time; /* per event index, set before the create request */
static double *lat;       /* latencies collected by the multi thread */
static size_t nlat;
static int nconnected;
static volatile int stop_watch;

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
  watcher *w = ud;
  if (!w->connected && n * sz >= 12 && !strncmp(p, "HTTP/", 5) && strstr(p, " 200")) {
    w->connected = true;
    __atomic_add_fetch(&nconnected, 1, __ATOMIC_SEQ_CST);
  }
  return sz * n;
}

static size_t on_event(char *p, size_t sz, size_t n, void *ud) {
  watcher *w = ud;
  double t = now_s();
  size_t len = sz * n;
  if (!w->connected) {
    w->connected = true;
    __atomic_add_fetch(&nconnected, 1, __ATOMIC_SEQ_CST);
  }
  for (size_t i = 0; i < len; i++) {
    if (p[i] != '\n') {
      if (w->len < sizeof w->buf - 1) w->buf[w->len++] = p[i];
      continue;
    }
    w->buf[w->len] = 0;
    char *m = strstr(w->buf, "\"name\":\"lat-");
    if (m && strstr(w->buf, "\"type\":\"ADDED\"")) {
      char *end;
      long ix = strtol(m + 12, &end, 10);
      if (ix >= 0 && ix < B.events && send_time[ix] > 0)
        lat[__atomic_fetch_add(&nlat, 1, __ATOMIC_SEQ_CST)] = t - send_time[ix];
    }
    w->len = 0;
  }
  return len;
}

static void *watch_loop(void *p) {
  CURLM *m = p;
  while (!stop_watch) {
    int running;
    curl_multi_perform(m, &running);
    int fds;
    curl_multi_poll(m, NULL, 0, 50, &fds);
  }
  return NULL;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void bench_watch(void) {
  struct rlimit rl;
  if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  struct curl_slist *h;
  CURL *c = easy(&h);
  idp_buf b;
  idp_buf_init(&b, 1 << 20);
  request(c, "GET", "/api/v1/namespaces/default/configmaps?limit=1", NULL, &b);
  json_t *j = json_loadb(b.data ? b.data : "", b.len, 0, NULL);
  char rv[64];
  const char *lrv =
      json_string_value(json_object_get(json_object_get(j, "metadata"), "resourceVersion"));
  snprintf(rv, sizeof rv, "%s", lrv ? lrv : "0");
  json_decref(j);
  send_time = calloc((size_t)B.events, sizeof *send_time);
  lat = calloc((size_t)B.events * (size_t)B.watchers + 1, sizeof *lat);
  watcher *ws = calloc((size_t)B.watchers, sizeof *ws);
  if (!send_time || !lat || !ws) die("out of memory");
  CURLM *m = curl_multi_init();
  curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)B.watchers + 8);
  char url[512];
  snprintf(url, sizeof url, "%s/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=%s",
           B.base, rv);
  for (int i = 0; i < B.watchers; i++) {
    ws[i].c = curl_easy_init();
    curl_easy_setopt(ws[i].c, CURLOPT_URL, url);
    curl_easy_setopt(ws[i].c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(ws[i].c, CURLOPT_CAINFO, B.ca);
    curl_easy_setopt(ws[i].c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(ws[i].c, CURLOPT_WRITEFUNCTION, on_event);
    curl_easy_setopt(ws[i].c, CURLOPT_WRITEDATA, &ws[i]);
    curl_easy_setopt(ws[i].c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(ws[i].c, CURLOPT_HEADERDATA, &ws[i]);
    curl_multi_add_handle(m, ws[i].c);
  }
  pthread_t th;
  double t0 = now_s();
  pthread_create(&th, NULL, watch_loop, m);
  while (__atomic_load_n(&nconnected, __ATOMIC_SEQ_CST) < B.watchers && now_s() - t0 < 60)
    usleep(50 * 1000);
  int connected = __atomic_load_n(&nconnected, __ATOMIC_SEQ_CST);
  printf("watchers: %d of %d connected in %.1f s\n", connected, B.watchers, now_s() - t0);
  usleep(500 * 1000);
  for (int i = 0; i < B.events; i++) {
    char body[256];
    snprintf(body, sizeof body,
             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"lat-%d\"},"
             "\"data\":{\"a\":\"b\"}}",
             i);
    send_time[i] = now_s();
    request(c, "POST", "/api/v1/namespaces/default/configmaps", body, NULL);
    usleep(100 * 1000);
  }
  /* let the stragglers arrive */
  size_t want = (size_t)B.events * (size_t)connected;
  t0 = now_s();
  while (__atomic_load_n(&nlat, __ATOMIC_SEQ_CST) < want && now_s() - t0 < 10) usleep(50 * 1000);
  long loaded = rss_kb(B.pid);
  stop_watch = 1;
  pthread_join(th, NULL);
  size_t n = __atomic_load_n(&nlat, __ATOMIC_SEQ_CST);
  if (n) {
    idp_sort(lat, n, sizeof *lat, cmp_double);
    printf("watch delivery latency (%d events x %d watchers, %zu of %zu delivered): p50 %.2f ms, "
           "p99 %.2f ms, max %.2f ms\n",
           B.events, connected, n, want, lat[n / 2] * 1000, lat[(size_t)(n * 0.99)] * 1000,
           lat[n - 1] * 1000);
  } else {
    printf("watch delivery latency: no events delivered\n");
  }
  printf("loaded RSS (%d objects, %d watchers): %.1f MB\n", B.objects, connected, loaded / 1024.0);
  for (int i = 0; i < B.watchers; i++) {
    curl_multi_remove_handle(m, ws[i].c);
    curl_easy_cleanup(ws[i].c);
  }
  curl_multi_cleanup(m);
  curl_easy_cleanup(c);
  curl_slist_free_all(h);
  idp_buf_free(&b);
  free(ws);
  free(lat);
  free(send_time);
}

/* ---- raw SQLite ---- */

static double raw_sqlite(int n) {
  char path[300];
  snprintf(path, sizeof path, "%s/raw.db", B.dir);
  sqlite3 *db;
  if (sqlite3_open(path, &db) != SQLITE_OK) die("sqlite3_open");
  sqlite3_exec(db,
               "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
               "CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT UNIQUE, v BLOB);",
               NULL, NULL, NULL);
  sqlite3_stmt *ins;
  sqlite3_prepare_v2(db, "INSERT INTO t(id, k, v) VALUES(?1, ?2, ?3)", -1, &ins, NULL);
  char payload[400];
  memset(payload, 'x', sizeof payload);
  double t0 = now_s();
  for (int i = 0; i < n; i++) {
    char k[64];
    snprintf(k, sizeof k, "core/configmaps/default/bench-%d", i);
    sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    sqlite3_bind_int64(ins, 1, i + 1);
    sqlite3_bind_text(ins, 2, k, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(ins, 3, payload, (int)sizeof payload, SQLITE_STATIC);
    sqlite3_step(ins);
    sqlite3_reset(ins);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  }
  double dt = now_s() - t0;
  sqlite3_finalize(ins);
  sqlite3_close(db);
  printf("raw SQLite single-row commits (WAL, synchronous=NORMAL): %.0f/s\n", n / dt);
  return n / dt;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc) {
      fprintf(stderr, "usage: bench_apiserver [--idp PATH] [--objects N] [--conns C] "
                      "[--watchers W] [--events E]\n");
      return 2;
    }
    if (!strcmp(a, "--idp")) B.idp = argv[++i];
    else if (!strcmp(a, "--objects")) B.objects = (int)parse_num(argv[++i], a);
    else if (!strcmp(a, "--conns")) B.conns = (int)parse_num(argv[++i], a);
    else if (!strcmp(a, "--watchers")) B.watchers = (int)parse_num(argv[++i], a);
    else if (!strcmp(a, "--events")) B.events = (int)parse_num(argv[++i], a);
    else {
      fprintf(stderr, "bench_apiserver: unknown option %s\n", a);
      return 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_ALL);
  start_server();
  usleep(1000 * 1000);
  printf("idle RSS: %.1f MB\n", rss_kb(B.pid) / 1024.0);
  double e2e = bench_creates();
  bench_list();
  bench_watch();
  double raw = raw_sqlite(B.objects);
  printf("end-to-end create rate / raw SQLite commit rate: %.3f\n", raw > 0 ? e2e / raw : 0);
  stop_server();
  curl_global_cleanup();
  return 0;
}
