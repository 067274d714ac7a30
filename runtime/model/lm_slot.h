/* A MusicGen checkpoint as the conditioner and generator nodes hold it.
 *
 * The path is resolved and checked when the patch loads (init); the weights
 * and the device are created on first use, on the generation worker (tensor.h:
 * one thread per device), and shared through a process-wide cache keyed by
 * path, so a conditioner and every generator of a patch that name the same
 * folder hold one copy of the ~2 GB of weights. The last slot to let go
 * frees it. */
#ifndef RG_LM_SLOT_H
#define RG_LM_SLOT_H

#include <limits.h>
#include <stdbool.h>

#include "graph/error.h"
#include "runtime/model/musicgen.h"

typedef struct rg_lm_entry rg_lm_entry;

typedef struct {
    char path[PATH_MAX];
    rg_lm_entry *entry; /* NULL until first use */
} rg_lm_slot;

/* Resolve `model` against `base_dir` and check that it is a MusicGen
 * checkpoint (config.json with text_encoder/decoder, the tensors present). */
bool rg_lm_slot_init(rg_lm_slot *s, const char *base_dir, const char *model, rg_error *err);
/* The loaded model (shared), loading it now if no slot has yet. */
bool rg_lm_slot_model(rg_lm_slot *s, rg_musicgen **out, rg_error *err);
void rg_lm_slot_free(rg_lm_slot *s);

#endif
