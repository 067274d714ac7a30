/* A model on disk: one or more safetensors files plus config.json.
 *
 * `rg_weights_open` accepts what a user downloads from Hugging Face:
 *   - a folder with model.safetensors (or sharded model-*.safetensors listed
 *     in model.safetensors.index.json) and config.json;
 *   - a single .safetensors file, with config.json in the same folder.
 * A component of a composite checkpoint (MusicGen keeps EnCodec under
 * `audio_encoder.` and its config under "audio_encoder") is selected with
 * rg_weights_select: afterwards every name is looked up under the prefix and
 * config keys are read from that section.
 *
 * Weight-norm parameters are folded here, whichever spelling the checkpoint
 * uses, so model code only ever sees plain float32 weights.
 */
#ifndef RG_WEIGHTS_H
#define RG_WEIGHTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graph/error.h"
#include "runtime/model/safetensors.h"

typedef struct rg_weights rg_weights;

bool rg_weights_open(const char *path, rg_weights **out, rg_error *err);
void rg_weights_free(rg_weights *w);

/* Use tensors under `prefix` (e.g. "audio_encoder.") and the config section
 * `section` (e.g. "audio_encoder") if the checkpoint has them; returns true
 * if it did (a composite), false if the model is used as it is. */
bool rg_weights_select(rg_weights *w, const char *prefix, const char *section);

/* The path the user gave, for messages. */
const char *rg_weights_path(const rg_weights *w);

/* Find a tensor by its name under the selected prefix; `file` (optional)
 * receives the shard that holds it. */
const rg_st_tensor *rg_weights_find(const rg_weights *w, const char *name,
                                    const rg_st_file **file);

/* Read tensor `name` as float32 into `out`, checking that its shape is
 * exactly `shape`. The error names the file and the tensor. */
bool rg_weights_read(const rg_weights *w, const char *name, int ndim, const int64_t *shape,
                     float *out, rg_error *err);

/* Read the weight of module `module` (e.g. "encoder.layers.0.conv") with
 * shape `shape`, folding weight norm: accepts `module.weight`,
 * `module.weight_g` + `module.weight_v`, or
 * `module.parametrizations.weight.original0` + `original1`.
 * W = g * v / ||v||, the norm over every dimension but the first (PyTorch's
 * weight_norm with dim=0, the default for Conv1d and ConvTranspose1d). */
bool rg_weights_read_normed(const rg_weights *w, const char *module, int ndim,
                            const int64_t *shape, float *out, rg_error *err);

/* Config values from the selected section of config.json. A key that is
 * absent (or JSON null) yields `def` and true; a key of the wrong type is an
 * error naming config.json and the key. */
bool rg_config_int(const rg_weights *w, const char *key, int def, int *out, rg_error *err);
bool rg_config_double(const rg_weights *w, const char *key, double def, double *out,
                      rg_error *err);
bool rg_config_bool(const rg_weights *w, const char *key, bool def, bool *out, rg_error *err);
/* Copies at most `size`-1 bytes. */
bool rg_config_string(const rg_weights *w, const char *key, const char *def, char *out,
                      size_t size, rg_error *err);
/* Arrays: *count receives the length (at most `max`). Absent: count = 0. */
bool rg_config_int_array(const rg_weights *w, const char *key, int *out, int max, int *count,
                         rg_error *err);
bool rg_config_double_array(const rg_weights *w, const char *key, double *out, int max,
                            int *count, rg_error *err);
/* An optional list of one code per code row (e.g. "silence_codes"): absent
 * (*count 0), or exactly `rows` codes in 0..card-1 (at most `max`); any
 * other list is an error naming the key and config.json. */
bool rg_config_code_list(const rg_weights *w, const char *key, int rows, int card, int *out,
                         int max, int *count, rg_error *err);
/* Strings, each copied into an `item_size`-byte slot of `out` (a longer one
 * is an error). */
bool rg_config_string_array(const rg_weights *w, const char *key, char *out, size_t item_size,
                            int max, int *count, rg_error *err);

#endif
