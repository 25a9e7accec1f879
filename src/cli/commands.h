/* commands.h: the subcommand table entry.  A subcommand gets argv starting
 * at its own name and returns the process exit status. */
#ifndef IDP_CLI_COMMANDS_H
#define IDP_CLI_COMMANDS_H

#define IDP_VERSION "0.1.0"

typedef struct idp_command {
  const char *name;
  int (*fn)(int argc, char **argv);
  const char *help;
} idp_command;

#define IDP_COMMAND(name, fn, help) int fn(int argc, char **argv);
#include "cli/commands.def"
#undef IDP_COMMAND

#endif
