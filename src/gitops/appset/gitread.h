/* gitread.h: read-only Git snapshots for the git generators (libgit2).
 *
 * The git generators need the list of directories and the content of some
 * files at a revision, not a checkout, so this reads the tree straight from
 * the object database.  Repository URLs: local paths and file:// are
 * opened in place (a bare repo or a work tree's .git); http(s):// and
 * ssh-style URLs are cloned bare into <cache>/<sha256(url)[0..16]> once and
 * fetched when the clone's copy is older than fetch_ttl_ms.
 *
 * revision: "" or "HEAD" = HEAD (the remote's default branch for clones);
 * a branch ("main", "refs/heads/main", remote-tracking branches of clones),
 * a tag ("v1", annotated tags peeled), or a commit SHA (full or short).
 * Errors: IDP_EUNAVAILABLE "repository <url> is unreachable: ...",
 * IDP_ENOTFOUND "revision <rev> not found in <url>".
 *
 * Threads: an idp_asgit may be shared; each open/fetch of one cache entry
 * is serialised by a lock.  A snapshot (idp_asgit_tree) belongs to one
 * thread. */
#ifndef IDP_GITOPS_APPSET_GITREAD_H
#define IDP_GITOPS_APPSET_GITREAD_H

#include <jansson.h>
#include <stdbool.h>

#include "core/buf.h"
#include "core/err.h"

typedef struct idp_asgit idp_asgit;
typedef struct idp_asgit_tree idp_asgit_tree;

/* cache_dir: where remote clones go (created when needed; NULL = remote
 * URLs are refused).  fetch_ttl_ms: 0 = 3000. */
idp_code idp_asgit_new(const char *cache_dir, long fetch_ttl_ms, idp_asgit **out, idp_err *e);
void idp_asgit_free(idp_asgit *g);

/* Credentials for remote repositories: fn fills *username / *password
 * (malloc'd; the reader frees them) for url and returns true, or false for
 * none.  Only HTTP(S) basic auth (user + password/token).  Credentials are
 * never logged nor put in error messages. */
typedef bool (*idp_asgit_creds_fn)(void *ud, const char *url, char **username, char **password);
void idp_asgit_set_creds(idp_asgit *g, idp_asgit_creds_fn fn, void *ud);

/* Opens url at revision; sha gets the commit (41 bytes). */
idp_code idp_asgit_open(idp_asgit *g, const char *url, const char *revision, char sha[41],
                        idp_asgit_tree **out, idp_err *e);
/* Resolves only (for change polling): like open, fetching remote clones
 * older than fetch_ttl_ms. */
idp_code idp_asgit_resolve(idp_asgit *g, const char *url, const char *revision, char sha[41],
                           idp_err *e);
void idp_asgit_tree_free(idp_asgit_tree *t);

/* Marks the clone of url stale: the next open/resolve fetches (the
 * ApplicationSet refresh annotation, webhooks).  No-op for local repos. */
void idp_asgit_invalidate(idp_asgit *g, const char *url);

/* Every path of the snapshot: *dirs and *files new sorted JSON arrays of
 * strings ("a", "a/b", "a/b/c.yaml").  Either may be NULL. */
idp_code idp_asgit_list(idp_asgit_tree *t, json_t **dirs, json_t **files, idp_err *e);

/* Content of a file (appended to out); IDP_ENOTFOUND naming the path. */
idp_code idp_asgit_read(idp_asgit_tree *t, const char *path, idp_buf *out, idp_err *e);

/* Glob match on '/'-separated paths: '*' and '?' do not cross '/', [...]
 * classes, and with doublestar a "**" segment matches any number of
 * segments (doublestar, as Argo CD's new git file globbing). */
bool idp_asgit_glob(const char *pattern, const char *path, bool doublestar);

#endif
