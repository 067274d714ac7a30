/* `resonant encode` / `resonant decode` (runtime/model/codec_cli.c).
 * Exit codes as every subcommand: 0 ok, 1 user error, 2 internal. */
#ifndef RG_CODEC_CLI_H
#define RG_CODEC_CLI_H

int rg_cli_encode(int argc, char **argv);
int rg_cli_decode(int argc, char **argv);

#endif
