/* internal.h: shared between the platform builders and controllers. */
#ifndef IDP_PLATFORM_INTERNAL_H
#define IDP_PLATFORM_INTERNAL_H

#include <jansson.h>

#define PL_GROUP "platform.idp.io"
#define PL_VERSION "v1alpha1"
#define PL_TEAM_LABEL "platform.idp.io/team"
#define PL_MANAGER "idp-platform" /* app.kubernetes.io/managed-by value */
#define PL_TEAM_FINALIZER "platform.idp.io/team-cleanup"

/* metadata object; takes labels and (a copy of) owner (both may be NULL) */
json_t *pl_meta(const char *name, const char *ns, json_t *labels, json_t *owner);
/* ownerReference to `owner` (new; NULL when it has no uid) */
json_t *pl_owner_ref(const json_t *owner);

#endif
