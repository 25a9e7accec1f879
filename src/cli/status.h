/* status.h: the platform summary printed by `idp status` and `idp up`. */
#ifndef IDP_CLI_STATUS_H
#define IDP_CLI_STATUS_H

#include <stdio.h>

#include "client/rest.h"

/* Applications (sync, health), Teams, WebApplications, policy results;
 * kinds that are not served are said so, never an error. */
void idp_status_print(idp_kclient *kc, FILE *out);

#endif
