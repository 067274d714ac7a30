/* resonant: the command-line front end. Each subcommand lives in
 * runtime/cli.c (or next to the code it drives) and returns an exit code. */
#include <stdio.h>
#include <string.h>

#include "runtime/cli.h"
#include "runtime/model/codec_cli.h"
#include "runtime/model/lm_cli.h"

#ifndef RESONANT_VERSION
#define RESONANT_VERSION "0.1.0"
#endif

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"render", rg_cli_render, "render a patch offline to a WAV or FLAC file"},
    {"check", rg_cli_check, "validate a patch and print its canonical form"},
    {"nodes", rg_cli_nodes, "list node types with their ports and parameters"},
    {"run", rg_cli_run, "play a patch live through JACK, controlled over OSC"},
    {"encode", rg_cli_encode, "encode an audio file into codec tokens (.codes)"},
    {"decode", rg_cli_decode, "decode a .codes file back into audio"},
    {"generate", rg_cli_generate, "make a take from a text prompt with a MusicGen checkpoint"},
    {"sync", rg_cli_sync, "put an audio file on a tempo grid: stretch, align, cut to N bars"},
    {"eval", rg_cli_eval, "measure timing, tempo, key and alignment of a track"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: resonant COMMAND [ARGS]\n\nResonantGen: a live, patchable engine for "
               "neural music generation.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'resonant COMMAND --help' describes a command. --version prints the version.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return RG_EXIT_USER;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return RG_EXIT_OK;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--version") == 0 || (i == 1 && strcmp(argv[i], "-V") == 0)) {
            printf("resonant %s\n", RESONANT_VERSION);
            return RG_EXIT_OK;
        }
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "resonant: unknown command '%s'\n", cmd);
    usage(stderr);
    return RG_EXIT_USER;
}
