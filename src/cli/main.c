/* main.c: the idp binary.  Dispatches subcommands from one table; each
 * subcommand lives in its own cli/cmd_*.c and is the only place that prints
 * to the user or decides an exit status. */
#include "core/common.h"
#include "core/log.h"
#include "cli/commands.h"

static int cmd_version(int argc, char **argv) {
  IDP_UNUSED(argc);
  IDP_UNUSED(argv);
  printf("idp %s\n", IDP_VERSION);
  return 0;
}

static int cmd_help(int argc, char **argv);

static const idp_command commands[] = {
    {"version", cmd_version, "print the version"},
    {"help", cmd_help, "list the subcommands"},
#define IDP_COMMAND(name, fn, help) {name, fn, help},
#include "cli/commands.def"
#undef IDP_COMMAND
};

static int cmd_help(int argc, char **argv) {
  IDP_UNUSED(argc);
  IDP_UNUSED(argv);
  printf("usage: idp [--log-level debug|info|warn|error] COMMAND [ARGS]\n\ncommands:\n");
  for (size_t i = 0; i < IDP_ARRAY_LEN(commands); i++)
    printf("  %-12s %s\n", commands[i].name, commands[i].help);
  return 0;
}

int main(int argc, char **argv) {
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (!strcmp(argv[i], "--log-level") && i + 1 < argc) {
      int lv = idp_log_parse_level(argv[++i]);
      if (lv < 0) {
        fprintf(stderr, "idp: unknown log level '%s'\n", argv[i]);
        return 2;
      }
      idp_log_set_level((idp_log_level)lv);
    } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      return cmd_help(0, NULL);
    } else if (!strcmp(argv[i], "--version")) {
      return cmd_version(0, NULL);
    } else {
      fprintf(stderr, "idp: unknown option '%s' (try 'idp help')\n", argv[i]);
      return 2;
    }
  }
  if (i >= argc) {
    cmd_help(0, NULL);
    return 2;
  }
  for (size_t c = 0; c < IDP_ARRAY_LEN(commands); c++)
    if (!strcmp(argv[i], commands[c].name)) return commands[c].fn(argc - i, argv + i);
  fprintf(stderr, "idp: unknown command '%s' (try 'idp help')\n", argv[i]);
  return 2;
}
