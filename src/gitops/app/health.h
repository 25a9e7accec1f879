/* health.h: resource health as Argo CD computes it (gitops-engine
 * pkg/health), one rule per kind in a table (health.c).
 *
 * Statuses, best to worst: Healthy, Suspended, Progressing, Missing,
 * Degraded, Unknown.  An object being deleted is Progressing ("Pending
 * deletion"); the annotation argocd.argoproj.io/ignore-healthcheck: "true"
 * and kinds without a rule give "no health" (the object does not count in
 * the Application's health).  Custom resources without a rule use their
 * status.conditions Ready/Available condition when they have one
 * (True -> Healthy, False -> Degraded, Unknown -> Progressing).
 * Applications (App-of-Apps) report their own status.health.status. */
#ifndef IDP_GITOPS_APP_HEALTH_H
#define IDP_GITOPS_APP_HEALTH_H

#include <jansson.h>
#include <stdbool.h>

typedef enum idp_health_status {
  IDP_HEALTH_HEALTHY = 0,
  IDP_HEALTH_SUSPENDED,
  IDP_HEALTH_PROGRESSING,
  IDP_HEALTH_MISSING,
  IDP_HEALTH_DEGRADED,
  IDP_HEALTH_UNKNOWN,
} idp_health_status;

typedef struct idp_health {
  idp_health_status status;
  char message[256];
} idp_health;

/* false when the object has no health (no rule, or ignored). */
bool idp_health_assess(const json_t *obj, idp_health *out);

const char *idp_health_name(idp_health_status s);
/* Parses a status name; IDP_HEALTH_UNKNOWN for anything else. */
idp_health_status idp_health_parse(const char *s);

#endif
