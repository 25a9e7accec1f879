/* bootstrap.h: `idp up`'s main job — the reference platform as a real Git
 * repository that the embedded GitOps engine runs.
 *
 * up_bootstrap_repo copies a platform folder (examples/platform) into
 * DATA_DIR/platform.git's work tree the first time, replacing the REPO_URL
 * placeholder in YAML files with the repository's file:// URL, and commits
 * it with libgit2 (a user can then edit, commit and watch idp follow).  An
 * existing repository is left as it is: the user's commits win.
 *
 * up_bootstrap_root applies the root Application (clusters/local/root.yaml
 * of the repository) through the client with server-side apply, so it is
 * idempotent across restarts. */
#ifndef IDP_CLI_BOOTSTRAP_H
#define IDP_CLI_BOOTSTRAP_H

#include "client/rest.h"
#include "core/err.h"

/* *repo_dir receives a malloc'd path of the repository's work tree. */
idp_code up_bootstrap_repo(const char *src_dir, const char *data_dir, char **repo_dir,
                           idp_err *e);
idp_code up_bootstrap_root(idp_kclient *kc, const char *repo_dir, idp_err *e);

/* Seeds the demo secret store from bootstrap/secrets.yaml of the repository
 * (a list of {namespace, name, keys[]}): each Secret is created once with a
 * random 32-byte hex value per key; existing Secrets are left alone.  A
 * repository without the file seeds nothing. */
idp_code up_bootstrap_secrets(idp_kclient *kc, const char *repo_dir, idp_err *e);

/* Finds the reference platform folder: $IDP_PLATFORM_DIR, then
 * <exe dir>/../examples/platform, then /usr/share/idp/platform.  NULL when
 * none exists. */
const char *up_find_platform_dir(char *buf, size_t n);

#endif
