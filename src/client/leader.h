/* leader.h: Lease-based leader election (client-go leaderelection with a
 * coordination.k8s.io/v1 Lease lock).
 *
 * Several replicas of `idp controller` run; one holds the Lease
 * <namespace>/<name> and runs the controllers.  The Lease spec carries
 * holderIdentity, leaseDurationSeconds, acquireTime, renewTime and
 * leaseTransitions; every write is a create or an update guarded by the
 * Lease's resourceVersion, so two candidates can never both succeed.
 *
 * Timing (client-go's defaults: 15 s / 10 s / 2 s):
 *  - lease_duration: how long non-leaders wait, after they last SAW the
 *    Lease change (their own clock, never the writer's timestamps: clock
 *    skew between nodes does not matter), before they may take it over;
 *  - renew_deadline: how long the leader keeps trying to renew before it
 *    gives up leadership (must be < lease_duration);
 *  - retry_period: the interval between attempts (jittered +20 %).
 *
 * Callbacks run on the elector's thread: on_started_leading when the
 * Lease is acquired, on_stopped_leading when it is lost or released,
 * on_new_leader when the observed holder changes.  After losing the lease
 * the elector goes back to competing; a program whose controllers cannot
 * be restarted safely should exit from on_stopped_leading (client-go
 * does).  stop() releases the Lease (holderIdentity "" so another replica
 * takes over at once) when release_on_stop is set and we hold it. */
#ifndef IDP_CLIENT_LEADER_H
#define IDP_CLIENT_LEADER_H

#include <stdbool.h>

#include "client/rest.h"
#include "core/err.h"

typedef struct idp_leader idp_leader;

typedef struct idp_leader_opts {
  const char *ns;        /* Lease namespace (required) */
  const char *name;      /* Lease name (required) */
  const char *identity;  /* NULL = "<hostname>_<pid>" */
  long lease_duration_ms; /* 0 = 15000 */
  long renew_deadline_ms; /* 0 = 10000 */
  long retry_period_ms;   /* 0 = 2000 */
  bool release_on_stop;
  void (*on_started_leading)(void *ud);
  void (*on_stopped_leading)(void *ud);
  void (*on_new_leader)(void *ud, const char *identity);
  void *ud;
} idp_leader_opts;

/* Copies opts; `c` must outlive the elector.  IDP_EINVAL for missing
 * names or renew_deadline >= lease_duration. */
idp_code idp_leader_new(idp_kclient *c, const idp_leader_opts *o, idp_leader **out, idp_err *e);
idp_code idp_leader_start(idp_leader *l, idp_err *e); /* own thread */
/* Stops the thread (releasing the Lease if configured); idempotent. */
void idp_leader_stop(idp_leader *l);
void idp_leader_free(idp_leader *l);

bool idp_leader_is_leader(idp_leader *l);
/* The holder last observed ("" if none), copied. */
void idp_leader_holder(idp_leader *l, char *buf, size_t n);

/* One attempt (what the thread does every retry period): take the Lease
 * when it is free, expired or already ours, renew it when ours.  Sets
 * *leading.  IDP_OK also when another holder is valid (*leading false);
 * API errors (including a lost update race, IDP_ECONFLICT) are returned. */
idp_code idp_leader_try_acquire_or_renew(idp_leader *l, bool *leading, idp_err *e);

#endif
