/* gitread.c: Git snapshots for the git generators (see gitread.h). */
#include "core/common.h"

#include <git2.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

#include "gitops/appset/gitread.h"

typedef struct clone_entry {
  char *url;
  char *path;
  int64_t fetched_ms;
  pthread_mutex_t lock;
  struct clone_entry *next;
} clone_entry;

struct idp_asgit {
  char *cache_dir;
  long ttl_ms;
  idp_asgit_creds_fn creds;
  void *creds_ud;
  pthread_mutex_t lock; /* guards the entry list */
  clone_entry *entries;
};

struct idp_asgit_tree {
  git_repository *repo;
  git_tree *tree;
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *git_msg(void) {
  const git_error *ge = git_error_last();
  return ge && ge->message ? ge->message : "unknown error";
}

idp_code idp_asgit_new(const char *cache_dir, long fetch_ttl_ms, idp_asgit **out, idp_err *e) {
  idp_asgit *g = calloc(1, sizeof *g);
  if (!g) return idp_err_set(e, IDP_ENOMEM, "git: out of memory");
  if (cache_dir && !(g->cache_dir = strdup(cache_dir))) {
    free(g);
    return idp_err_set(e, IDP_ENOMEM, "git: out of memory");
  }
  g->ttl_ms = fetch_ttl_ms > 0 ? fetch_ttl_ms : 3000;
  pthread_mutex_init(&g->lock, NULL);
  git_libgit2_init();
  *out = g;
  return IDP_OK;
}

void idp_asgit_free(idp_asgit *g) {
  if (!g) return;
  for (clone_entry *c = g->entries, *n; c; c = n) {
    n = c->next;
    pthread_mutex_destroy(&c->lock);
    free(c->url);
    free(c->path);
    free(c);
  }
  pthread_mutex_destroy(&g->lock);
  free(g->cache_dir);
  free(g);
  git_libgit2_shutdown();
}

void idp_asgit_set_creds(idp_asgit *g, idp_asgit_creds_fn fn, void *ud) {
  g->creds = fn;
  g->creds_ud = ud;
}

typedef struct cred_payload {
  idp_asgit *g;
  const char *url;
  int tries;
} cred_payload;

/* libgit2 asks again after a rejected credential: one try only. */
static int cred_cb(git_credential **out, const char *url, const char *user_from_url,
                   unsigned int allowed, void *payload) {
  cred_payload *p = payload;
  IDP_UNUSED(url);
  IDP_UNUSED(user_from_url);
  if (!p->g->creds || p->tries++ > 0 || !(allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT))
    return GIT_PASSTHROUGH;
  char *user = NULL, *pass = NULL;
  int rc = GIT_PASSTHROUGH;
  if (p->g->creds(p->g->creds_ud, p->url, &user, &pass))
    rc = git_credential_userpass_plaintext_new(out, user ? user : "", pass ? pass : "") < 0 ? -1 : 0;
  if (pass) {
    memset(pass, 0, strlen(pass));
    free(pass);
  }
  free(user);
  return rc;
}

void idp_asgit_tree_free(idp_asgit_tree *t) {
  if (!t) return;
  git_tree_free(t->tree);
  git_repository_free(t->repo);
  free(t);
}

/* A URL naming a local repository: absolute/relative path or file://. */
static const char *local_path(const char *url) {
  if (!strncmp(url, "file://", 7)) return url + 7;
  if (strstr(url, "://")) return NULL;
  /* scp-like "git@host:org/repo" */
  const char *colon = strchr(url, ':');
  const char *slash = strchr(url, '/');
  if (colon && (!slash || colon < slash)) return NULL;
  return url;
}

static clone_entry *entry_for(idp_asgit *g, const char *url, idp_err *e) {
  pthread_mutex_lock(&g->lock);
  clone_entry *c = g->entries;
  while (c && strcmp(c->url, url)) c = c->next;
  if (!c) {
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)url, strlen(url), md);
    char hex[17];
    for (int i = 0; i < 8; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    c = calloc(1, sizeof *c);
    size_t pl = strlen(g->cache_dir) + 20;
    if (c) {
      c->url = strdup(url);
      c->path = malloc(pl);
    }
    if (!c || !c->url || !c->path) {
      if (c) {
        free(c->url);
        free(c->path);
        free(c);
      }
      pthread_mutex_unlock(&g->lock);
      idp_err_set(e, IDP_ENOMEM, "git: out of memory");
      return NULL;
    }
    snprintf(c->path, pl, "%s/%s", g->cache_dir, hex);
    pthread_mutex_init(&c->lock, NULL);
    c->next = g->entries;
    g->entries = c;
  }
  pthread_mutex_unlock(&g->lock);
  return c;
}

void idp_asgit_invalidate(idp_asgit *g, const char *url) {
  pthread_mutex_lock(&g->lock);
  for (clone_entry *c = g->entries; c; c = c->next)
    if (!url || !strcmp(c->url, url)) c->fetched_ms = INT64_MIN / 2;
  pthread_mutex_unlock(&g->lock);
}

/* Opens (cloning or fetching as needed) the repository of url. */
static idp_code open_repo(idp_asgit *g, const char *url, bool force_fetch, git_repository **out,
                          idp_err *e) {
  *out = NULL;
  const char *lp = local_path(url);
  if (lp) {
    if (git_repository_open_ext(out, lp, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0)
      return idp_err_set(e, IDP_EUNAVAILABLE, "repository %s is unreachable: %s", url, git_msg());
    return IDP_OK;
  }
  if (!g->cache_dir)
    return idp_err_set(e, IDP_EUNAVAILABLE, "repository %s is unreachable: no git cache directory for remote repositories", url);
  clone_entry *c = entry_for(g, url, e);
  if (!c) return e->code;
  pthread_mutex_lock(&c->lock);
  idp_code rc = IDP_OK;
  mkdir(g->cache_dir, 0700);
  struct stat st;
  cred_payload cp = {g, url, 0};
  if (stat(c->path, &st) != 0) {
    git_clone_options co = GIT_CLONE_OPTIONS_INIT;
    co.bare = 1;
    co.fetch_opts.callbacks.credentials = cred_cb;
    co.fetch_opts.callbacks.payload = &cp;
    int gr = git_clone(out, url, c->path, &co);
    if (gr == GIT_EAUTH)
      rc = idp_err_set(e, IDP_EUNAUTH, "repository %s: authentication failed", url);
    else if (gr < 0)
      rc = idp_err_set(e, IDP_EUNAVAILABLE, "repository %s is unreachable: %s", url, git_msg());
    else
      c->fetched_ms = now_ms();
  } else if (git_repository_open_bare(out, c->path) < 0) {
    rc = idp_err_set(e, IDP_EIO, "git cache for %s: %s", url, git_msg());
  } else if (force_fetch || now_ms() - c->fetched_ms > g->ttl_ms) {
    git_remote *remote = NULL;
    git_fetch_options fo = GIT_FETCH_OPTIONS_INIT;
    fo.prune = GIT_FETCH_PRUNE;
    fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_ALL;
    fo.callbacks.credentials = cred_cb;
    fo.callbacks.payload = &cp;
    int gr = git_remote_lookup(&remote, *out, "origin");
    if (gr >= 0) gr = git_remote_fetch(remote, NULL, &fo, NULL);
    if (gr == GIT_EAUTH)
      rc = idp_err_set(e, IDP_EUNAUTH, "repository %s: authentication failed", url);
    else if (gr < 0)
      rc = idp_err_set(e, IDP_EUNAVAILABLE, "repository %s is unreachable: %s", url, git_msg());
    else
      c->fetched_ms = now_ms();
    git_remote_free(remote);
  }
  pthread_mutex_unlock(&c->lock);
  if (rc) {
    git_repository_free(*out);
    *out = NULL;
  }
  return rc;
}

static idp_code resolve_commit(git_repository *repo, const char *url, const char *rev,
                               git_commit **out, idp_err *e) {
  *out = NULL;
  git_object *obj = NULL;
  if (!rev || !*rev || !strcmp(rev, "HEAD")) {
    if (git_revparse_single(&obj, repo, "HEAD") < 0)
      return idp_err_set(e, IDP_ENOTFOUND, "revision HEAD not found in %s: %s", url, git_msg());
  } else {
    const char *pfx[] = {"refs/remotes/origin/", "refs/heads/", "refs/tags/", ""};
    char name[1024];
    for (size_t i = 0; i < IDP_ARRAY_LEN(pfx) && !obj; i++) {
      if (strlen(rev) + strlen(pfx[i]) + 1 > sizeof name) break;
      snprintf(name, sizeof name, "%s%s", pfx[i], rev);
      if (git_revparse_single(&obj, repo, name) < 0) obj = NULL;
    }
    if (!obj) return idp_err_set(e, IDP_ENOTFOUND, "revision %s not found in %s", rev, url);
  }
  git_object *peeled = NULL;
  int r = git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT);
  git_object_free(obj);
  if (r < 0) return idp_err_set(e, IDP_ENOTFOUND, "revision %s of %s is not a commit", rev ? rev : "HEAD", url);
  *out = (git_commit *)peeled;
  return IDP_OK;
}

static idp_code do_open(idp_asgit *g, const char *url, const char *revision, bool force,
                        char sha[41], idp_asgit_tree **out, idp_err *e) {
  if (out) *out = NULL;
  if (!url || !*url) return idp_err_set(e, IDP_EINVAL, "git: repoURL is empty");
  git_repository *repo;
  idp_code rc = open_repo(g, url, force, &repo, e);
  if (rc) return rc;
  git_commit *commit;
  rc = resolve_commit(repo, url, revision, &commit, e);
  if (rc) {
    git_repository_free(repo);
    return rc;
  }
  git_oid_tostr(sha, 41, git_commit_id(commit));
  if (!out) {
    git_commit_free(commit);
    git_repository_free(repo);
    return IDP_OK;
  }
  idp_asgit_tree *t = calloc(1, sizeof *t);
  if (!t || git_commit_tree(&t->tree, commit) < 0) {
    git_commit_free(commit);
    git_repository_free(repo);
    free(t);
    return idp_err_set(e, IDP_EIO, "git: reading the tree of %s in %s: %s", sha, url, git_msg());
  }
  git_commit_free(commit);
  t->repo = repo;
  *out = t;
  return IDP_OK;
}

idp_code idp_asgit_open(idp_asgit *g, const char *url, const char *revision, char sha[41],
                        idp_asgit_tree **out, idp_err *e) {
  return do_open(g, url, revision, false, sha, out, e);
}

idp_code idp_asgit_resolve(idp_asgit *g, const char *url, const char *revision, char sha[41],
                           idp_err *e) {
  return do_open(g, url, revision, false, sha, NULL, e);
}

typedef struct walk_ctx {
  json_t *dirs, *files;
} walk_ctx;

static int walk_cb(const char *root, const git_tree_entry *entry, void *payload) {
  walk_ctx *w = payload;
  char path[4096];
  snprintf(path, sizeof path, "%s%s", root, git_tree_entry_name(entry));
  git_object_t type = git_tree_entry_type(entry);
  if (type == GIT_OBJECT_TREE) {
    if (w->dirs) json_array_append_new(w->dirs, json_string(path));
  } else if (type == GIT_OBJECT_BLOB) {
    if (w->files) json_array_append_new(w->files, json_string(path));
  }
  return 0;
}

static int cmp_json_str(const void *a, const void *b) {
  return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

static void sort_strings(json_t *arr) {
  size_t n = json_array_size(arr);
  if (n < 2) return;
  json_t **items = malloc(n * sizeof *items);
  if (!items) return;
  for (size_t i = 0; i < n; i++) items[i] = json_incref(json_array_get(arr, i));
  idp_sort(items, n, sizeof *items, cmp_json_str);
  json_array_clear(arr);
  for (size_t i = 0; i < n; i++) json_array_append_new(arr, items[i]);
  free(items);
}

idp_code idp_asgit_list(idp_asgit_tree *t, json_t **dirs, json_t **files, idp_err *e) {
  walk_ctx w = {dirs ? json_array() : NULL, files ? json_array() : NULL};
  if (git_tree_walk(t->tree, GIT_TREEWALK_PRE, walk_cb, &w) < 0) {
    json_decref(w.dirs);
    json_decref(w.files);
    return idp_err_set(e, IDP_EIO, "git: listing the tree: %s", git_msg());
  }
  if (dirs) {
    sort_strings(w.dirs);
    *dirs = w.dirs;
  }
  if (files) {
    sort_strings(w.files);
    *files = w.files;
  }
  return IDP_OK;
}

idp_code idp_asgit_read(idp_asgit_tree *t, const char *path, idp_buf *out, idp_err *e) {
  git_tree_entry *te = NULL;
  if (git_tree_entry_bypath(&te, t->tree, path) < 0)
    return idp_err_set(e, IDP_ENOTFOUND, "%s: no such file", path);
  git_object *obj = NULL;
  idp_code rc = IDP_OK;
  if (git_tree_entry_type(te) != GIT_OBJECT_BLOB || git_tree_entry_to_object(&obj, t->repo, te) < 0) {
    rc = idp_err_set(e, IDP_EINVAL, "%s: not a file", path);
  } else {
    const git_blob *b = (const git_blob *)obj;
    if (idp_buf_add(out, git_blob_rawcontent(b), (size_t)git_blob_rawsize(b)))
      rc = idp_err_set(e, IDP_ETOOLARGE, "%s: file larger than %zu bytes", path, out->max);
  }
  git_object_free(obj);
  git_tree_entry_free(te);
  return rc;
}

/* ---- glob ----------------------------------------------------------------- */

/* One segment of pattern [p, pe) against name [s, se): *, ?, [...], \x. */
static bool seg_match(const char *p, const char *pe, const char *s, const char *se) {
  while (p < pe) {
    char c = *p;
    if (c == '*') {
      while (p < pe && *p == '*') p++;
      if (p == pe) return true;
      for (const char *k = s; k <= se; k++)
        if (seg_match(p, pe, k, se)) return true;
      return false;
    }
    if (s >= se) return false;
    if (c == '?') {
      p++;
      s++;
      continue;
    }
    if (c == '[') {
      const char *q = p + 1;
      bool neg = q < pe && (*q == '^' || *q == '!');
      if (neg) q++;
      bool matched = false;
      const char *start = q;
      while (q < pe && (*q != ']' || q == start)) {
        char lo = *q, hi = lo;
        if (lo == '\\' && q + 1 < pe) lo = hi = *++q;
        if (q + 2 < pe && q[1] == '-' && q[2] != ']') {
          hi = q[2];
          if (hi == '\\' && q + 3 < pe) hi = q[3], q++;
          q += 2;
        }
        if (*s >= lo && *s <= hi) matched = true;
        q++;
      }
      if (q >= pe) return false; /* malformed class: no match (path.Match errors) */
      if (matched == neg) return false;
      p = q + 1;
      s++;
      continue;
    }
    if (c == '\\' && p + 1 < pe) c = *++p;
    if (c != *s) return false;
    p++;
    s++;
  }
  return s == se;
}

static bool glob_rec(const char *p, const char *s, bool ds) {
  for (;;) {
    const char *pe = strchr(p, '/');
    if (!pe) pe = p + strlen(p);
    if (ds && pe - p == 2 && p[0] == '*' && p[1] == '*') {
      const char *rest = *pe ? pe + 1 : pe;
      if (!*pe) return true; /* trailing ** matches everything below */
      /* ** matches zero or more whole segments */
      const char *k = s;
      for (;;) {
        if (glob_rec(rest, k, ds)) return true;
        const char *nx = strchr(k, '/');
        if (!nx) return false;
        k = nx + 1;
      }
    }
    const char *se = strchr(s, '/');
    if (!se) se = s + strlen(s);
    if (!seg_match(p, pe, s, se)) return false;
    if (!*pe && !*se) return true;
    if (!*pe || !*se) return false;
    p = pe + 1;
    s = se + 1;
  }
}

bool idp_asgit_glob(const char *pattern, const char *path, bool doublestar) {
  return glob_rec(pattern, path, doublestar);
}
