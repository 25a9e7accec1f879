/* certctl_run: `idp cert-manager` as a standalone program linking only the
 * certificate controller and the client, so the integration test and the
 * benchmark can run the controller while other modules of the idp binary
 * are being rebuilt.  Same arguments as `idp cert-manager`. */
#include "core/common.h"

int cmd_certmanager(int argc, char **argv);

int main(int argc, char **argv) { return cmd_certmanager(argc, argv); }
