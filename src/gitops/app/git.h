/* git.h: Git sources of Applications (Argo CD's repo-server fetch step).
 *
 * An idp_git is a cache of repositories under one directory:
 *   <dir>/repos/<hash of URL>     a bare clone holding every branch and tag
 *   <dir>/trees/<commit sha>      a checked-out tree of one commit, written
 *                                 once (to a temporary name, then renamed)
 *                                 and reused while the commit is current;
 *                                 trees unused for a day are removed (checked
 *                                 when a new tree is written, at most every
 *                                 10 minutes).
 * URLs: local paths ("/srv/repo", "./repo"), file://, http(s):// (with
 * optional credentials: username + password/token, never logged).
 *
 * idp_git_resolve(url, revision) lists the remote's refs (ls-remote) unless
 * a listing younger than the cache's ttl is held, fetches when the wanted
 * commit is not in the clone yet, and returns the commit SHA and the tree
 * directory.  revision: "" or "HEAD" = the remote's default branch; a branch
 * name ("main", "refs/heads/main"); a tag ("v1", "refs/tags/v1", annotated
 * tags are peeled to their commit); a full or abbreviated (>= 4 hex digits)
 * commit SHA.  Errors: IDP_EUNAVAILABLE "repository <url> is unreachable:
 * <libgit2 message>", IDP_ENOTFOUND "revision <rev> not found in <url>",
 * IDP_EUNAUTH for rejected credentials.
 *
 * Threads: one idp_git may be used from many threads; each URL has its own
 * lock so one repository is fetched once however many Applications use it.
 * idp_git_invalidate(url) (webhook, hard refresh) forgets the listing so
 * the next resolve goes to the remote. */
#ifndef IDP_GITOPS_APP_GIT_H
#define IDP_GITOPS_APP_GIT_H

#include <stdbool.h>

#include "core/err.h"

typedef struct idp_git idp_git;

typedef struct idp_git_creds {
  const char *username; /* NULL = none */
  const char *password; /* password or token; secret */
} idp_git_creds;

/* ttl_ms: how long a listing of a remote's refs is trusted (0 = 3000). */
idp_code idp_git_new(const char *dir, long ttl_ms, idp_git **out, idp_err *e);
void idp_git_free(idp_git *g);

/* sha: 41 bytes out; *tree_dir: new malloc'd path (caller frees).  creds may
 * be NULL. */
idp_code idp_git_resolve(idp_git *g, const char *url, const char *revision,
                         const idp_git_creds *creds, char sha[41], char **tree_dir, idp_err *e);

/* Forgets the cached listing of url ("" or NULL = every URL). */
void idp_git_invalidate(idp_git *g, const char *url);

/* Normalises a repository URL for comparisons (webhooks, AppProject
 * sourceRepos): lower-case scheme and host, no trailing "/" nor ".git",
 * "git@host:org/repo" -> "https://host/org/repo" style.  Writes into out. */
void idp_git_url_normalize(const char *url, char *out, size_t n);

#endif
