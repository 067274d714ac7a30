/* The track context of ResonantGen's own track-aware checkpoints: the
 * `track_context.*` tensors and the "track_context" config section that
 * train/lm.py adds to a MusicGen composite (docs/models.md, "Track-aware
 * models"; TrackMusicGenRef in train/lm.py is the specification).
 *
 * Two things change against plain MusicGen, and this file computes both:
 *   - the decoder input of step s gains target_role_embed[role] +
 *     beat_embed[bin(s)], the role of the track being made and its position
 *     in the bar at the patch's tempo, and, in models with those inputs,
 *     sum_i key[i] key_embed[i] + sum_j tag[j] tag_embed[j] (host rows,
 *     added to the positions);
 *   - the cross-attention memory gains, after the text, one block per locked
 *     track: LayerNorm(sum_k embed_tokens[k][c_k,t] + role_embed[r] + sin(t)).
 * musicgen.c owns the model and calls these; callers use musicgen.h.
 */
#ifndef RG_TRACK_CONTEXT_H
#define RG_TRACK_CONTEXT_H

#include <stdbool.h>
#include <stdint.h>

#include "graph/error.h"
#include "runtime/model/musicgen.h"
#include "runtime/model/weights.h"
#include "runtime/tensor/tensor.h"

#define RG_TRACK_MAX_ROLES 16
#define RG_TRACK_ROLE_CHARS 32
#define RG_TRACK_MAX_CODEBOOKS 16
/* The key input: the tonic's pitch class one-hot (0-11), then the scale's
 * pitch classes (12-23), as train/corpus.py's key_vector. */
#define RG_TRACK_KEY_INPUTS 24
#define RG_TRACK_MAX_TAGS 32
#define RG_TRACK_TAG_CHARS 32

typedef struct {
    int roles;          /* R: rows of the role tables */
    int beat_bins;      /* B: bins per bar */
    double frame_rate;  /* codec frames per second */
    int hidden, card, codebooks;
    int order[RG_TRACK_MAX_CODEBOOKS]; /* "codebook_order": codec row of codebook k */
    /* "silence_codes": each code row's code for silence (a pitch codec's
     * models; the sustain lock's quiet codes), in the codec's row order */
    int silence[RG_TRACK_MAX_CODEBOOKS];
    bool has_silence;
    char role_names[RG_TRACK_MAX_ROLES][RG_TRACK_ROLE_CHARS];
    rg_tensor embed[RG_TRACK_MAX_CODEBOOKS]; /* [card + 1, hidden], weight dtype */
    rg_tensor ln_w, ln_b;                    /* [hidden], f32 */
    float *role_embed;                       /* host [R][hidden] */
    float *target_role_embed;                /* host [R][hidden] */
    float *beat_embed;                       /* host [B][hidden] */
    float *key_embed; /* host [RG_TRACK_KEY_INPUTS][hidden]; NULL: no key input */
    int tags;         /* T: words of the tag input (0: none) */
    char tag_names[RG_TRACK_MAX_TAGS][RG_TRACK_TAG_CHARS];
    float *tag_embed; /* host [T][hidden] */
} rg_track_weights;

/* Read the track context of the checkpoint `w` (any selection; it is left
 * selecting the top level). A checkpoint without `track_context.*` tensors
 * gives *out = NULL and true: a plain MusicGen. Errors name the tensor or
 * config key. */
bool rg_track_load(rg_weights *w, rg_device *dev, rg_dtype wtype, int hidden, int card,
                   int codebooks, rg_track_weights **out, rg_error *err);
void rg_track_free(rg_track_weights *t);

/* The bar-position bin of frame `pos` at `bpm`, as train/lm.py's beat_bins:
 * floor(frac(pos / frame_rate * bpm / 240) * B), in double precision, with
 * bpm rounded to float first (the reference holds it in a float tensor). */
int rg_track_beat_bin(const rg_track_weights *t, int pos, float bpm);

/* The model's tags that `text` names (bit j: tag j), as
 * rg_musicgen_track_tags says; 0 for NULL text or a model without tags. */
uint32_t rg_track_tags_in_text(const rg_track_weights *t, const char *text);

/* rows[s] += target_role_embed[role] + beat_embed[bin(s) at bpm] (+ the
 * key's rows of key_embed and the rows of tag_embed whose bits are set in
 * `tags`, if the model has them), all from `terms`, for s < n: the
 * decoder-input terms of steps 0..n-1. */
void rg_track_add_input_terms(const rg_track_weights *t, const rg_lm_track_terms *terms, int n,
                              float *rows);

/* Write the memory block of one locked track into `out` ([frames, hidden]
 * f32, may be a view into a larger memory): code row r's codes are
 * codes[r * stride + 0 .. frames-1] (the codec's row order; codebook k
 * reads row order[k]), each in 0..card-1 (checked by the caller). Runs on
 * the device before returning. */
rg_status rg_track_memory(const rg_track_weights *t, rg_device *dev, int role,
                          const int32_t *codes, int frames, int64_t stride, const rg_tensor *out);

#endif
