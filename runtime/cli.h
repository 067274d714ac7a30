/* The `resonant` subcommands. Each takes argc/argv starting at its own name
 * and returns the process exit code: 0 ok, 1 user error (a message was
 * printed), 2 internal error. */
#ifndef RG_CLI_H
#define RG_CLI_H

#include <stdio.h>

#include "graph/error.h"
#include "graph/node.h"

enum { RG_EXIT_OK = 0, RG_EXIT_USER = 1, RG_EXIT_INTERNAL = 2 };

int rg_cli_render(int argc, char **argv);
int rg_cli_check(int argc, char **argv);
int rg_cli_nodes(int argc, char **argv);
int rg_cli_sync(int argc, char **argv);
int rg_cli_eval(int argc, char **argv);
int rg_cli_run(int argc, char **argv); /* runtime/run_cli.c */

/* "resonant CMD: <fmt with arg>" and a pointer to --help on stderr; returns
 * RG_EXIT_USER. */
int rg_cli_usage_error(const char *cmd, const char *fmt, const char *arg);

/* Print an error in `file:line:col: error: message` form; return its exit code. */
int rg_cli_report(const rg_error *err);

/* A node type's ports and parameters, as text or as Markdown (docs/nodes.md). */
void rg_print_node_type(FILE *f, const rg_node_type *t, bool markdown);

#endif
