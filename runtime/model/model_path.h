/* Where a node's `model` parameter points. A path is taken relative to the
 * patch file, as every path in a patch is. An empty `model` means the
 * shipped default model, so a newcomer's patch needs no model at all and
 * nothing is downloaded:
 *
 *   1. $RESONANT_MODEL, when set and not empty (a user's own default);
 *   2. the installed copy, <datadir>/resonant/models/default;
 *   3. the source tree's models/default (running from a build directory).
 *
 * The first of 2 and 3 that holds a config.json wins. */
#ifndef RG_MODEL_PATH_H
#define RG_MODEL_PATH_H

#include <stdbool.h>
#include <stddef.h>

#include "graph/error.h"

/* Resolve `model` into `out`. Fails only for an empty `model` when no
 * default model can be found, naming the places it looked. */
bool rg_model_resolve(const char *base_dir, const char *model, char *out, size_t size,
                      rg_error *err);

#endif
