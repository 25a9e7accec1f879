#include "core/common.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <git2.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "gitops/app/git.h"

/* One cached remote: its lock, the last listing and when it was taken. */
typedef struct git_entry {
  char *url;
  pthread_mutex_t mu;
  json_t *refs; /* {"HEAD": sha, "refs/heads/main": sha, ...} or NULL */
  int64_t listed_ms;
  struct git_entry *next;
} git_entry;

struct idp_git {
  char *dir;
  long ttl_ms;
  pthread_mutex_t mu; /* guards the entry list */
  git_entry *entries;
  _Atomic int64_t gc_at; /* last sweep of unused trees (monotonic ms) */
};

/* Trees not used for this long are removed (a busy repository would
 * otherwise leave one checked-out copy per commit forever). */
#define TREE_KEEP_S (24 * 3600)
#define TREE_TOUCH_S 600 /* refresh a used tree's mtime at most this often */
#define TREE_GC_MS (10 * 60 * 1000)

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static pthread_once_t git_once = PTHREAD_ONCE_INIT;
static void git_init_once(void) {
  git_libgit2_init();
}

static const char *git_msg(void) {
  const git_error *ge = git_error_last();
  return ge && ge->message ? ge->message : "unknown libgit2 error";
}

static idp_code mkdirs(const char *path, idp_err *e) {
  char tmp[4096];
  size_t n = strlen(path);
  if (n >= sizeof tmp) return idp_err_set(e, IDP_EINVAL, "path too long: %s", path);
  memcpy(tmp, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (tmp[i] == '/' || tmp[i] == 0) {
      char c = tmp[i];
      tmp[i] = 0;
      if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return idp_err_set(e, IDP_EIO, "mkdir %s: %s", tmp, strerror(errno));
      tmp[i] = c;
    }
  }
  return IDP_OK;
}

idp_code idp_git_new(const char *dir, long ttl_ms, idp_git **out, idp_err *e) {
  pthread_once(&git_once, git_init_once);
  char p[4096];
  snprintf(p, sizeof p, "%s/repos", dir);
  idp_code rc = mkdirs(p, e);
  if (rc) return rc;
  snprintf(p, sizeof p, "%s/trees", dir);
  if ((rc = mkdirs(p, e))) return rc;
  idp_git *g = calloc(1, sizeof *g);
  if (!g || !(g->dir = strdup(dir))) {
    free(g);
    return idp_err_set(e, IDP_ENOMEM, "out of memory");
  }
  g->ttl_ms = ttl_ms > 0 ? ttl_ms : 3000;
  pthread_mutex_init(&g->mu, NULL);
  *out = g;
  return IDP_OK;
}

void idp_git_free(idp_git *g) {
  if (!g) return;
  git_entry *n;
  for (git_entry *x = g->entries; x; x = n) {
    n = x->next;
    pthread_mutex_destroy(&x->mu);
    json_decref(x->refs);
    free(x->url);
    free(x);
  }
  pthread_mutex_destroy(&g->mu);
  free(g->dir);
  free(g);
}

static git_entry *entry_for(idp_git *g, const char *url) {
  pthread_mutex_lock(&g->mu);
  git_entry *x = g->entries;
  while (x && strcmp(x->url, url) != 0) x = x->next;
  if (!x && (x = calloc(1, sizeof *x))) {
    if (!(x->url = strdup(url))) {
      free(x);
      x = NULL;
    } else {
      pthread_mutex_init(&x->mu, NULL);
      x->next = g->entries;
      g->entries = x;
    }
  }
  pthread_mutex_unlock(&g->mu);
  return x;
}

void idp_git_invalidate(idp_git *g, const char *url) {
  char want[1024], have[1024];
  if (url && *url) idp_git_url_normalize(url, want, sizeof want);
  pthread_mutex_lock(&g->mu);
  for (git_entry *x = g->entries; x; x = x->next) {
    idp_git_url_normalize(x->url, have, sizeof have);
    if (!url || !*url || strcmp(want, have) == 0) x->listed_ms = 0;
  }
  pthread_mutex_unlock(&g->mu);
}

void idp_git_url_normalize(const char *url, char *out, size_t n) {
  char tmp[1024];
  const char *u = url ? url : "";
  if (strncmp(u, "file://", 7) == 0) u += 7;
  /* scp-like "git@host:org/repo" */
  const char *at = strchr(u, '@'), *colon = strchr(u, ':');
  if (!strstr(u, "://") && at && colon && colon > at)
    snprintf(tmp, sizeof tmp, "https://%.*s/%s", (int)(colon - at - 1), at + 1, colon + 1);
  else
    snprintf(tmp, sizeof tmp, "%s", u);
  /* lower-case scheme and host; drop user info */
  char *sch = strstr(tmp, "://");
  if (sch) {
    for (char *c = tmp; c < sch; c++) *c = (char)tolower((unsigned char)*c);
    char *host = sch + 3, *slash = strchr(host, '/');
    char *ui = strchr(host, '@');
    if (ui && (!slash || ui < slash)) memmove(host, ui + 1, strlen(ui + 1) + 1);
    slash = strchr(host, '/');
    for (char *c = host; *c && c != slash; c++) *c = (char)tolower((unsigned char)*c);
  }
  size_t l = strlen(tmp);
  while (l > 1 && tmp[l - 1] == '/') tmp[--l] = 0;
  if (l > 4 && strcmp(tmp + l - 4, ".git") == 0) tmp[l -= 4] = 0;
  while (l > 1 && tmp[l - 1] == '/') tmp[--l] = 0;
  snprintf(out, n, "%s", tmp);
}

typedef struct cred_ud {
  const idp_git_creds *c;
  int tries;
} cred_ud;

static int cred_cb(git_credential **out, const char *url, const char *user_from_url,
                   unsigned int allowed, void *payload) {
  IDP_UNUSED(url);
  IDP_UNUSED(user_from_url);
  cred_ud *ud = payload;
  if (!ud || !ud->c || !ud->c->username || ud->tries++ > 0 ||
      !(allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT))
    return GIT_PASSTHROUGH;
  return git_credential_userpass_plaintext_new(out, ud->c->username,
                                               ud->c->password ? ud->c->password : "");
}

static uint64_t fnv(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

static idp_code open_cache(idp_git *g, const char *url, git_repository **repo, idp_err *e) {
  char path[4096];
  snprintf(path, sizeof path, "%s/repos/%016" PRIx64, g->dir, fnv(url));
  if (git_repository_open_bare(repo, path) == 0) return IDP_OK;
  if (git_repository_init(repo, path, 1) != 0)
    return idp_err_set(e, IDP_EIO, "git cache %s: %s", path, git_msg());
  return IDP_OK;
}

static idp_code remote_err(const char *url, int rc, idp_err *e) {
  const char *m = git_msg();
  if (rc == GIT_EAUTH || strstr(m, "authentication") || strstr(m, "401"))
    return idp_err_set(e, IDP_EUNAUTH, "repository %s: authentication failed: %s", url, m);
  return idp_err_set(e, IDP_EUNAVAILABLE, "repository %s is unreachable: %s", url, m);
}

/* ls-remote into a {ref: sha} object, plus "HEAD" resolved through the
 * remote's default branch; fetches heads and tags when `fetch`. */
static idp_code list_and_fetch(git_repository *repo, const char *url, const idp_git_creds *creds,
                               json_t **refs, idp_err *e) {
  git_remote *rem = NULL;
  cred_ud cud = {creds, 0};
  git_remote_callbacks cb = GIT_REMOTE_CALLBACKS_INIT;
  cb.credentials = cred_cb;
  cb.payload = &cud;
  /* Anonymous remote without insteadOf rewriting: the config glob lookup
   * behind it leaks PCRE2 match data in libgit2 1.5 (20 KB per listing). */
  git_remote_create_options co = GIT_REMOTE_CREATE_OPTIONS_INIT;
  co.repository = repo;
  co.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
  int r = git_remote_create_with_opts(&rem, url, &co);
  if (r) return remote_err(url, r, e);
  if ((r = git_remote_connect(rem, GIT_DIRECTION_FETCH, &cb, NULL, NULL))) {
    idp_code rc = remote_err(url, r, e);
    git_remote_free(rem);
    return rc;
  }
  const git_remote_head **heads;
  size_t nh;
  json_t *o = json_object();
  if (git_remote_ls(&heads, &nh, rem) == 0) {
    for (size_t i = 0; i < nh; i++) {
      char hex[41];
      git_oid_tostr(hex, sizeof hex, &heads[i]->oid);
      json_object_set_new(o, heads[i]->name, json_string(hex));
      if (strcmp(heads[i]->name, "HEAD") == 0 && heads[i]->symref_target)
        json_object_set_new(o, "HEAD->", json_string(heads[i]->symref_target));
    }
  }
  /* Fetch every branch and tag: one bare mirror serves all revisions. */
  char *specs[] = {"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"};
  git_strarray sa = {specs, 2};
  git_fetch_options fo = GIT_FETCH_OPTIONS_INIT;
  fo.callbacks = cb;
  fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
  r = git_remote_download(rem, &sa, &fo);
  if (!r) r = git_remote_update_tips(rem, &cb, 0, GIT_REMOTE_DOWNLOAD_TAGS_NONE, NULL);
  idp_code rc = IDP_OK;
  if (r) rc = remote_err(url, r, e);
  git_remote_disconnect(rem);
  git_remote_free(rem);
  if (rc) {
    json_decref(o);
    return rc;
  }
  *refs = o;
  return IDP_OK;
}

static bool is_hex(const char *s, size_t min) {
  size_t n = 0;
  for (; s[n]; n++)
    if (!isxdigit((unsigned char)s[n])) return false;
  return n >= min && n <= 40;
}

/* Looks revision up in the listing; fills sha (40 hex) or returns false. */
static bool lookup_ref(const json_t *refs, const char *rev, char sha[41]) {
  char name[600];
  const char *v = NULL;
  if (!*rev || strcmp(rev, "HEAD") == 0) {
    v = json_string_value(json_object_get(refs, "HEAD"));
  } else {
    const char *forms[] = {"%s", "refs/heads/%s", "refs/tags/%s^{}", "refs/tags/%s"};
    for (size_t i = 0; i < IDP_ARRAY_LEN(forms) && !v; i++) {
      snprintf(name, sizeof name, forms[i], rev);
      /* a full ref name of an annotated tag peels too */
      if (i == 0 && strncmp(rev, "refs/tags/", 10) == 0) {
        char peeled[600];
        snprintf(peeled, sizeof peeled, "%s^{}", rev);
        v = json_string_value(json_object_get(refs, peeled));
      }
      if (!v) v = json_string_value(json_object_get(refs, name));
    }
  }
  if (!v || strlen(v) != 40) return false;
  memcpy(sha, v, 41);
  return true;
}

static idp_code write_file(const char *path, const void *data, size_t n, int mode, idp_err *e) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return idp_err_set(e, IDP_EIO, "write %s: %s", path, strerror(errno));
  const char *p = data;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      close(fd);
      return idp_err_set(e, IDP_EIO, "write %s: %s", path, strerror(errno));
    }
    p += w;
    n -= (size_t)w;
  }
  close(fd);
  return IDP_OK;
}

typedef struct walk_ud {
  git_repository *repo;
  const char *root;
  idp_err *e;
  idp_code rc;
} walk_ud;

static int walk_cb(const char *dirpath, const git_tree_entry *te, void *payload) {
  walk_ud *w = payload;
  char path[4096];
  const char *name = git_tree_entry_name(te);
  if (snprintf(path, sizeof path, "%s/%s%s", w->root, dirpath, name) >= (int)sizeof path) {
    w->rc = idp_err_set(w->e, IDP_EINVAL, "path too long in tree: %s%s", dirpath, name);
    return -1;
  }
  git_filemode_t m = git_tree_entry_filemode(te);
  if (m == GIT_FILEMODE_TREE) {
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
      w->rc = idp_err_set(w->e, IDP_EIO, "mkdir %s: %s", path, strerror(errno));
      return -1;
    }
    return 0;
  }
  if (m == GIT_FILEMODE_COMMIT) return 0; /* submodule: not fetched */
  git_blob *b = NULL;
  if (git_blob_lookup(&b, w->repo, git_tree_entry_id(te))) {
    w->rc = idp_err_set(w->e, IDP_EIO, "blob %s%s: %s", dirpath, name, git_msg());
    return -1;
  }
  const char *data = git_blob_rawcontent(b);
  size_t n = (size_t)git_blob_rawsize(b);
  if (m == GIT_FILEMODE_LINK) {
    char target[4096];
    if (n >= sizeof target) n = sizeof target - 1;
    memcpy(target, data, n);
    target[n] = 0;
    if (symlink(target, path) != 0) w->rc = idp_err_set(w->e, IDP_EIO, "symlink %s", path);
  } else {
    w->rc = write_file(path, data, n, m == GIT_FILEMODE_BLOB_EXECUTABLE ? 0755 : 0644, w->e);
  }
  git_blob_free(b);
  return w->rc ? -1 : 0;
}

static void rm_rf(const char *path) {
  /* Only called on our own temporary directory under <dir>/trees. */
  pid_t pid = fork();
  if (pid == 0) {
    execlp("rm", "rm", "-rf", path, (char *)NULL);
    _exit(127);
  }
  if (pid > 0) {
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
  }
}

/* Removes checked-out trees unused for TREE_KEEP_S (their mtime is
 * refreshed while they are used), at most once per TREE_GC_MS. */
static void trees_gc(idp_git *g) {
  int64_t now = now_ms(), last = g->gc_at;
  if (last && now - last < TREE_GC_MS) return;
  g->gc_at = now;
  char dir[4200];
  snprintf(dir, sizeof dir, "%s/trees", g->dir);
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *de;
  time_t cutoff = time(NULL) - TREE_KEEP_S;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.' || strlen(de->d_name) != 40) continue; /* not a tree (or tmp) */
    char p[4400];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
    if (stat(p, &st) == 0 && S_ISDIR(st.st_mode) && st.st_mtime < cutoff) rm_rf(p);
  }
  closedir(d);
}

static idp_code checkout(idp_git *g, git_repository *repo, const git_oid *oid, char **tree_dir,
                         idp_err *e) {
  char hex[41], final[4096], tmp[4200];
  git_oid_tostr(hex, sizeof hex, oid);
  snprintf(final, sizeof final, "%s/trees/%s", g->dir, hex);
  struct stat st;
  if (stat(final, &st) == 0 && S_ISDIR(st.st_mode)) {
    if (time(NULL) - st.st_mtime > TREE_TOUCH_S) utimensat(AT_FDCWD, final, NULL, 0);
    goto done;
  }
  trees_gc(g);
  static _Atomic unsigned long seq;
  snprintf(tmp, sizeof tmp, "%s.tmp%ld.%lu", final, (long)getpid(), ++seq);
  if (mkdir(tmp, 0755) != 0) return idp_err_set(e, IDP_EIO, "mkdir %s: %s", tmp, strerror(errno));
  git_commit *c = NULL;
  git_tree *t = NULL;
  if (git_commit_lookup(&c, repo, oid) || git_commit_tree(&t, c)) {
    git_commit_free(c);
    rm_rf(tmp);
    return idp_err_set(e, IDP_ENOTFOUND, "commit %s: %s", hex, git_msg());
  }
  walk_ud w = {repo, tmp, e, IDP_OK};
  git_tree_walk(t, GIT_TREEWALK_PRE, walk_cb, &w);
  git_tree_free(t);
  git_commit_free(c);
  if (w.rc) {
    rm_rf(tmp);
    return w.rc;
  }
  if (rename(tmp, final) != 0) { /* another process won the race */
    rm_rf(tmp);
    if (stat(final, &st) != 0) return idp_err_set(e, IDP_EIO, "rename %s", final);
  }
done:
  if (!(*tree_dir = strdup(final))) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  return IDP_OK;
}

idp_code idp_git_resolve(idp_git *g, const char *url, const char *revision,
                         const idp_git_creds *creds, char sha[41], char **tree_dir, idp_err *e) {
  if (!url || !*url) return idp_err_set(e, IDP_EINVAL, "source.repoURL is empty");
  const char *rev = revision ? revision : "";
  git_entry *x = entry_for(g, url);
  if (!x) return idp_err_set(e, IDP_ENOMEM, "out of memory");
  const char *u = strncmp(url, "file://", 7) == 0 ? url + 7 : url;
  pthread_mutex_lock(&x->mu);
  /* Fast path: a fresh listing names the commit and its tree is on disk
   * (the common case of every periodic reconcile). */
  if (x->refs && now_ms() - x->listed_ms < g->ttl_ms && lookup_ref(x->refs, rev, sha)) {
    char final[4200];
    struct stat st;
    snprintf(final, sizeof final, "%s/trees/%s", g->dir, sha);
    if (stat(final, &st) == 0 && S_ISDIR(st.st_mode)) {
      pthread_mutex_unlock(&x->mu);
      if (time(NULL) - st.st_mtime > TREE_TOUCH_S) utimensat(AT_FDCWD, final, NULL, 0);
      if (!(*tree_dir = strdup(final))) return idp_err_set(e, IDP_ENOMEM, "out of memory");
      return IDP_OK;
    }
  }
  git_repository *repo = NULL;
  idp_code rc = open_cache(g, url, &repo, e);
  if (rc) goto out;
  git_oid oid;
  bool found = false;
  bool cached = x->refs && now_ms() - x->listed_ms < g->ttl_ms;
  for (int pass = cached ? 0 : 1; pass < 2 && !found; pass++) {
    if (pass == 1) { /* (re)list the remote: the cached listing may be stale */
      json_t *refs = NULL;
      if ((rc = list_and_fetch(repo, u, creds, &refs, e))) goto out;
      json_decref(x->refs);
      x->refs = refs;
      x->listed_ms = now_ms();
    }
    if (lookup_ref(x->refs, rev, sha)) {
      found = git_oid_fromstr(&oid, sha) == 0;
    } else if (is_hex(rev, 4)) {
      git_object *obj = NULL;
      if (git_revparse_single(&obj, repo, rev) == 0) {
        git_object *peeled = NULL;
        if (git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT) == 0) {
          git_oid_cpy(&oid, git_object_id(peeled));
          git_oid_tostr(sha, 41, &oid);
          found = true;
          git_object_free(peeled);
        }
        git_object_free(obj);
      }
    }
  }
  if (!found) {
    rc = idp_err_set(e, IDP_ENOTFOUND, "revision %s not found in %s", *rev ? rev : "HEAD", url);
    goto out;
  }
  rc = checkout(g, repo, &oid, tree_dir, e);
out:
  git_repository_free(repo);
  pthread_mutex_unlock(&x->mu);
  return rc;
}
