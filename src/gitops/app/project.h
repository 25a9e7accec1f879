/* project.h: AppProject restrictions (Argo CD's AppProject spec).
 *
 * Globs use '*' and '?'; an entry starting with '!' denies.  A value is
 * permitted when at least one allow entry matches and no deny entry does
 * (sourceRepos, destinations).  Resources: cluster-scoped kinds must match
 * clusterResourceWhitelist (empty = none allowed) and not
 * clusterResourceBlacklist; namespaced kinds must match
 * namespaceResourceWhitelist when it is set and not
 * namespaceResourceBlacklist.  Entries are {group, kind, name?} with globs.
 * Each check returns IDP_OK or IDP_EFORBIDDEN with Argo CD's wording
 * naming the project and the offending value. */
#ifndef IDP_GITOPS_APP_PROJECT_H
#define IDP_GITOPS_APP_PROJECT_H

#include <jansson.h>
#include <stdbool.h>

#include "core/err.h"

idp_code idp_app_project_check_source(const json_t *proj, const char *repo_url, idp_err *e);
/* server and/or name (either may be NULL), namespace (NULL = ""). */
idp_code idp_app_project_check_dest(const json_t *proj, const char *server, const char *name,
                                    const char *ns, idp_err *e);
idp_code idp_app_project_check_resource(const json_t *proj, const char *group, const char *kind,
                                        const char *name, bool namespaced, idp_err *e);
/* The default project Argo CD creates: everything allowed.  New reference. */
json_t *idp_app_project_default(const char *ns);

#endif
