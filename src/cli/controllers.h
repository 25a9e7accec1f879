/* controllers.h: the controller manager shared by `idp up` (in-process,
 * against the embedded API server) and `idp controller` (against a real
 * cluster).  Every controller talks to the API only through one idp_kclient,
 * so both modes run the same code.
 *
 * The set of controllers is a table (controllers.c); `only` selects a
 * comma-separated subset by name.  Start order is the table's order; stop is
 * the reverse.  A controller that fails to start stops the ones already
 * started and the error names it. */
#ifndef IDP_CLI_CONTROLLERS_H
#define IDP_CLI_CONTROLLERS_H

#include "client/rest.h"
#include "core/err.h"

typedef struct idp_ctrl_config {
  const char *data_dir;     /* caches (git clones); NULL = a temp dir */
  const char *namespace_;   /* control-plane namespace; NULL = "argocd" */
  bool install_crds;        /* install the CRDs each controller serves */
  /* Nothing runs workloads (idp up): sync waves keep their order but do
   * not wait for workload health (simulated health is only for display). */
  bool no_kubelet;
  /* Report a controller that fails to start and go on with the others
   * (idp up keeps serving); otherwise the first failure stops them all. */
  bool keep_going;
  /* called as each controller starts, with its handle (see
   * idp_controllers_handle), so callers can use it before the rest start */
  void (*on_started)(void *ud, const char *name, void *handle);
  void (*on_failed)(void *ud, const char *name, const idp_err *e);
  void *ud;
} idp_ctrl_config;

typedef struct idp_controllers idp_controllers;

idp_code idp_controllers_start(idp_kclient *kc, const idp_ctrl_config *cfg, const char *only,
                               idp_controllers **out, idp_err *e);
void idp_controllers_stop(idp_controllers *c);

/* IDP_EINVAL naming the first unknown name of a --controllers list. */
idp_code idp_controllers_check(const char *only, idp_err *e);

/* The running controller's handle (its module's type: pol_controllers *
 * for "policy", ...), or NULL when it is not running. */
void *idp_controllers_handle(idp_controllers *c, const char *name);

/* Prints "name  help" lines of the table to `f`. */
void idp_controllers_list(FILE *f);

#endif
