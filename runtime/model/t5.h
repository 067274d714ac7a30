/* T5 encoder (the text conditioner of MusicGen) on the tensor runtime.
 *
 *   ids [B, T] -> shared embedding -> num_layers x (RMS norm, self-attention
 *   without 1/sqrt(d) scaling plus block 0's relative position bias, RMS
 *   norm, ReLU feed-forward) -> final RMS norm -> hidden [B, T, d_model]
 *
 * Weights are the `text_encoder.*` tensors of a MusicGen checkpoint (or a
 * plain T5 checkpoint) in the Hugging Face layout; train/t5_ref.py is the
 * executable specification. A model belongs to the thread that owns its
 * device (see tensor.h).
 */
#ifndef RG_T5_H
#define RG_T5_H

#include <stdbool.h>
#include <stdint.h>

#include "graph/error.h"
#include "runtime/model/weights.h"

typedef struct rg_device rg_device;
typedef struct rg_tensor rg_tensor;
typedef struct rg_t5 rg_t5;

/* Longest prompt accepted, in tokens (T5's n_positions). Longer prompts are
 * an error rather than silently cut. */
#define RG_T5_MAX_TOKENS 512

typedef struct {
    int vocab_size, d_model, d_kv, d_ff, num_layers, num_heads;
    int num_buckets;  /* relative_attention_num_buckets (32) */
    int max_distance; /* relative_attention_max_distance (128) */
    float eps;        /* layer_norm_epsilon (1e-6) */
} rg_t5_config;

/* Load from `w`, already pointed at the T5 part (rg_weights_select with
 * "text_encoder." / "text_encoder" for a MusicGen checkpoint). Matrices and
 * the embedding are stored as `wtype` (RG_F32 or RG_F16, a tensor.h rg_dtype
 * value); norms stay f32. */
bool rg_t5_load(const rg_weights *w, rg_device *dev, int wtype, rg_t5 **out, rg_error *err);
void rg_t5_free(rg_t5 *t5);
const rg_t5_config *rg_t5_get_config(const rg_t5 *t5);

/* T5's bucket of relative position rel = key - query (bidirectional). */
int rg_t5_bucket(int rel, int num_buckets, int max_distance);

/* Encode a batch: ids and mask are [batch][len] on the host (mask 1 = real
 * token, 0 = padding; NULL = all real). out is a contiguous f32 device tensor
 * [batch, len, d_model]. Padded keys are masked out of attention; padded
 * rows of out hold whatever T5 computes there (callers mask them). */
bool rg_t5_encode(rg_t5 *t5, const int32_t *ids, const int32_t *mask, int batch, int len,
                  const rg_tensor *out, rg_error *err);

#endif
