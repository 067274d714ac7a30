/* resonant generate: text prompt -> MusicGen tokens -> audio (or .codes). */
#ifndef RG_LM_CLI_H
#define RG_LM_CLI_H

int rg_cli_generate(int argc, char **argv);

#endif
