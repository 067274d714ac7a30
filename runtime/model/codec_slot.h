/* A codec model as a node holds it: the path is resolved and config.json
 * checked when the patch loads (init, any thread), while the device and the
 * weights are only created on first use by generate(), on the generation
 * worker that will keep using them (tensor.h: one thread per device). */
#ifndef RG_CODEC_SLOT_H
#define RG_CODEC_SLOT_H

#include <limits.h>
#include <stdbool.h>

#include "graph/error.h"
#include "runtime/model/encodec.h"

typedef struct {
    char path[PATH_MAX];
    rg_encodec_config cfg;
    rg_device *dev;
    rg_encodec *model;
} rg_codec_slot;

/* Resolve `model` (relative to `base_dir`) and probe it. An empty `model`
 * is an error that says how to set it. */
bool rg_codec_slot_init(rg_codec_slot *s, const char *base_dir, const char *model,
                        rg_error *err);
/* The loaded model, loading it now if needed. */
bool rg_codec_slot_model(rg_codec_slot *s, rg_encodec **out, rg_error *err);
void rg_codec_slot_free(rg_codec_slot *s);

#endif
