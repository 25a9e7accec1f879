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
} idp_ctrl_config;

typedef struct idp_controllers idp_controllers;

idp_code idp_controllers_start(idp_kclient *kc, const idp_ctrl_config *cfg, const char *only,
                               idp_controllers **out, idp_err *e);
void idp_controllers_stop(idp_controllers *c);

/* Prints "name  help" lines of the table to `f`. */
void idp_controllers_list(FILE *f);

#endif
