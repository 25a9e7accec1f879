/* webhook.h: the pure parts of Git push webhooks (Argo CD's
 * util/webhook): verification and push parsing, used by
 * idp_gitops_webhook_handle (app.h) and tested on their own.
 *
 * Headers are a JSON object of name -> value; names match case-insensitively. */
#ifndef IDP_GITOPS_APP_WEBHOOK_H
#define IDP_GITOPS_APP_WEBHOOK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

typedef enum idp_webhook_source {
  IDP_WEBHOOK_UNKNOWN = 0,
  IDP_WEBHOOK_GITHUB, /* X-GitHub-Event */
  IDP_WEBHOOK_GITLAB, /* X-Gitlab-Event */
} idp_webhook_source;

idp_webhook_source idp_webhook_source_of(const json_t *headers);

/* True when the request is authentic: GitHub X-Hub-Signature-256 =
 * "sha256=" + hex HMAC-SHA256(secret, body) (constant-time compare); GitLab
 * X-Gitlab-Token == secret (constant time).  A NULL secret for that source
 * accepts everything (Argo CD: the secret is optional). */
bool idp_webhook_verify(const json_t *headers, const char *body, size_t len,
                        const char *github_secret, const char *gitlab_secret);

/* A push event: the repository URLs the payload names (new array), the
 * pushed ref ("refs/heads/main") and the default branch (may be NULL);
 * strings borrowed from payload.  False when the payload is not a push. */
bool idp_webhook_parse_push(const json_t *payload, idp_webhook_source src, json_t **urls,
                            const char **ref, const char **default_branch);

/* Does an Application source (repoURL, targetRevision) follow the pushed
 * repository and ref?  "" / HEAD follow the default branch (any branch
 * when it is unknown); otherwise the branch or tag name, short or full. */
bool idp_webhook_source_matches(const json_t *source, const json_t *urls, const char *ref,
                                const char *default_branch);

#endif
