/* MusicGen's language model on the tensor runtime: text conditioning
 * (tokenizer, T5 encoder, enc_to_dec_proj) and the decoder that turns it into
 * codec tokens, step by step with a KV cache, with the codebook delay
 * pattern and classifier-free guidance.
 *
 * A checkpoint is a folder in the layout of facebook/musicgen-*: config.json
 * (sections "text_encoder" and "decoder"), model.safetensors (or shards)
 * with text_encoder.*, decoder.*, enc_to_dec_proj.*, and spiece.model for
 * the tokenizer. train/musicgen_ref.py is the executable specification.
 *
 * Vocabulary of the decoder: codes 0..card-1 and the special token `card`
 * (start, pad). The delay pattern: at step s codebook k carries frame
 * s - 1 - k; T frames take T + K - 1 steps.
 *
 * Everything here belongs to the thread that owns the device (tensor.h).
 */
#ifndef RG_MUSICGEN_H
#define RG_MUSICGEN_H

#include <stdbool.h>
#include <stdint.h>

#include "graph/error.h"

typedef struct rg_device rg_device;
typedef struct rg_tensor rg_tensor;
typedef struct rg_musicgen rg_musicgen;
typedef struct rg_lm_session rg_lm_session;
typedef struct rg_spm rg_spm;
typedef struct rg_t5 rg_t5;

/* The most codebooks a model may have (a loaded model has at most this). */
#define RG_LM_MAX_CODEBOOKS 16

typedef struct {
    int card;          /* decoder vocab_size: codes per codebook (2048) */
    int hidden;        /* hidden_size (1024) */
    int layers;        /* num_hidden_layers (24) */
    int heads;         /* num_attention_heads (16) */
    int ffn;           /* ffn_dim (4096) */
    int codebooks;     /* num_codebooks (4) */
    int max_positions; /* max_position_embeddings (2048): the longest run in steps */
    int text_dim;      /* T5 d_model: enc_to_dec_proj's input */
    int sample_rate;   /* of the codec the codes are for (audio_encoder: 32000) */
    int hop;           /* its samples per frame (640: 50 frames per second) */
    /* The codec code row of each codebook: codebook k decides row
     * codebook_order[k], k-th in the delay pattern. The identity but in
     * track-aware models with a "codebook_order" (docs/models.md; a pitch
     * row first). Sessions work in the model's order; rg_musicgen_generate,
     * its context and locked tracks (rg_lm_track) in the codec's. */
    int codebook_order[RG_LM_MAX_CODEBOOKS];
    /* A track-aware model's "silence_codes" (its codec's code for silence
     * on each code row, in the codec's order), the sustain lock's
     * (rg_pitch_sustain); has_silence_codes false without them. */
    int silence_codes[RG_LM_MAX_CODEBOOKS];
    bool has_silence_codes;
} rg_musicgen_config;

typedef struct {
    int weight_dtype; /* RG_F32 (default, 0) or RG_F16: storage of the matrices */
} rg_musicgen_options;

/* Load a checkpoint folder (or model.safetensors with config.json beside it).
 * opt may be NULL: the matrices are then stored as the file stores them (f16
 * stays f16; anything else becomes f32). The tokenizer is loaded from
 * spiece.model beside the weights when it exists (rg_musicgen_tokenizer is
 * NULL otherwise). */
bool rg_musicgen_load(const char *path, rg_device *dev, const rg_musicgen_options *opt,
                      rg_musicgen **out, rg_error *err);
void rg_musicgen_free(rg_musicgen *m);
const rg_musicgen_config *rg_musicgen_get_config(const rg_musicgen *m);
const rg_spm *rg_musicgen_tokenizer(const rg_musicgen *m);
rg_t5 *rg_musicgen_t5(rg_musicgen *m);

/* MusicGen's sinusoidal embedding of position `pos`: [dim] floats,
 * cos(pos / 10000^(i / (dim/2 - 1))) then sin(...), for i < dim/2. */
void rg_musicgen_position(int pos, int dim, float *out);

/* Largest number of frames one generation can make (max_positions - K + 1). */
int rg_musicgen_max_frames(const rg_musicgen *m);

/* ------------------------------------------------------------------------ */
/* Conditioning                                                             */
/* ------------------------------------------------------------------------ */

/* The key of a take, as a track-aware model's key input reads it
 * (docs/models.md): the tonic and the scale's pitch classes. */
typedef struct {
    int root;       /* tonic pitch class: 0 = C ... 11 = B */
    uint16_t scale; /* bit p set: pitch class p is in the scale; 0: no key */
} rg_lm_key;

/* The first key `text` names, as train/corpus.py's caption_key reads it: a
 * capital note letter A-G (not preceded by a letter, digit or '#'),
 * optionally '#' or 'b', white space, then a mode in any case (major,
 * minor, dorian, phrygian, mixolydian, ionian, aeolian) not followed by a
 * letter: "A minor", "F# Dorian", "Bb major". false and {0} if none. */
bool rg_lm_key_from_text(const char *text, rg_lm_key *key);

/* The cross-attention source of one prompt: enc_to_dec_proj(T5(ids)), on the
 * device, [len, hidden]. len 0 is the null condition (empty prompt): the
 * decoder then sees an all-zero source, which adds nothing, exactly as
 * MusicGen's masked empty description does. */
typedef struct {
    int role;      /* index into the model's roles */
    float bpm;     /* tempo of the take, for the bar position of each frame */
    rg_lm_key key; /* for models with a key input; scale 0: none */
    uint32_t tags; /* bit j: the text names the model's tag j (models with tags) */
} rg_lm_track_terms;

typedef struct {
    rg_tensor *states; /* NULL when len == 0 */
    int len;
    /* Track-aware models only (set by rg_musicgen_condition_track): each
     * frame's decoder input also gets the embeddings of `terms` (role, bar
     * position, key, tags; docs/models.md). false (what every other
     * constructor and {0} give): plain MusicGen. */
    bool track;
    rg_lm_track_terms terms;
} rg_lm_cond;

/* Condition on token ids (</s> included, as the tokenizer gives them). */
bool rg_musicgen_condition_ids(rg_musicgen *m, const int32_t *ids, int n, rg_lm_cond *out,
                               rg_error *err);
/* Tokenise and condition. An empty or all-whitespace prompt gives the null
 * condition (len 0); a prompt over RG_T5_MAX_TOKENS tokens is an error. */
bool rg_musicgen_condition_text(rg_musicgen *m, const char *prompt, rg_lm_cond *out,
                                rg_error *err);
/* Upload states made elsewhere ([len][hidden] floats, e.g. by a conditioner
 * node on another device). len 0 gives the null condition. */
bool rg_musicgen_condition_states(rg_musicgen *m, const float *states, int len, rg_lm_cond *out,
                                  rg_error *err);
void rg_lm_cond_free(rg_lm_cond *c);
/* Copy a condition's states to the host ([len][hidden] floats). */
bool rg_lm_cond_read(const rg_musicgen *m, const rg_lm_cond *c, float *out, rg_error *err);

/* ------------------------------------------------------------------------ */
/* Track context (ResonantGen's own track-aware checkpoints)                 */
/* ------------------------------------------------------------------------ */

/* A checkpoint with `track_context.*` tensors (docs/models.md, "Track-aware
 * models") generates one track of a song at a time: it is told the role of
 * the track it makes, the tempo, and the codes of the tracks already locked,
 * which it hears through cross-attention after the prompt. */

/* Number of roles of a track-aware model; 0 for a plain MusicGen. */
int rg_musicgen_track_roles(const rg_musicgen *m);
/* The index of role `name` ("drums", "bass", ...), or -1 if the model has
 * no such role (or no track context). */
int rg_musicgen_track_role(const rg_musicgen *m, const char *name);
/* The name of role `i` (NULL when out of range). */
const char *rg_musicgen_track_role_name(const rg_musicgen *m, int i);
/* Whether the model has a key input (track_context.key_embed): without
 * one, the key of a track condition is ignored. */
bool rg_musicgen_track_has_key(const rg_musicgen *m);
/* Number of tag words of the model (its config's track_context.tags; 0:
 * no tag input) and the name of tag `i` (NULL when out of range). A tag is
 * on where the take's text has it as a whole word (a run of ASCII letters),
 * in any case, as train/corpus.py's caption_tags. */
int rg_musicgen_track_tags(const rg_musicgen *m);
const char *rg_musicgen_track_tag_name(const rg_musicgen *m, int i);

/* A locked track: its role and its first `frames` frames of codes, each in
 * 0..card-1, from this model's codec: codebook k's frames start at
 * codes + k * stride (stride 0 means `frames`: [K][frames] row-major; a
 * longer take's codes [K][T] are used in place with stride T). Frame t is
 * the same instant as frame t of the take being generated (both start on
 * the same downbeat). */
typedef struct {
    int role;
    const int32_t *codes;
    int frames;
    int64_t stride;
} rg_lm_track;

#define RG_LM_MAX_TRACKS 8

/* The condition of a track-aware take: memory = [text ; one block per locked
 * track] (text->len + the tracks' frames rows), and the decoder-input terms
 * of `role` at `bpm` (> 0, at most 999) and of what `words` (the text the
 * take is made from, the one `text` encodes; NULL: none) names: its key
 * (rg_lm_key_from_text) and the model's tags, for a model with those
 * inputs (others ignore `words`). `text` is not consumed (free both;
 * out may be text itself, the caller keeping a copy of it to free); it may
 * be the null condition (an empty prompt: then the memory is the
 * tracks alone). n_tracks 0 is generation without locked tracks. The null
 * branch of classifier-free guidance stays all zeros of the same length, as
 * the model was trained. Errors: a plain MusicGen, a bad role, tempo, code
 * or length, each named. */
bool rg_musicgen_condition_track(rg_musicgen *m, const rg_lm_cond *text, int role, float bpm,
                                 const char *words, const rg_lm_track *tracks, int n_tracks,
                                 rg_lm_cond *out, rg_error *err);

/* ------------------------------------------------------------------------ */
/* Decoding                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct {
    float guidance;    /* classifier-free guidance scale; <= 0: none (one branch) */
    float temperature; /* <= 0: greedy (argmax) */
    int top_k;         /* 0: off */
    float top_p;       /* <= 0 or >= 1: off */
    uint64_t seed;     /* same seed, prompt and settings give the same tokens */
    /* Constrained sampling (the key lock, rg_pitch_key_lock): NULL samples
     * every token; else [K][card], nonzero where a token may be sampled:
     * the others' guided logits drop out before temperature, top-k and
     * top-p (to -1e30, exp'd to exactly 0), so the model's distribution is
     * renormalised over the allowed tokens. Each row must allow at least
     * one token. Read at every step (uploaded when its contents change),
     * in the model's codebook order. */
    const uint8_t *allowed;
    /* Per-codebook temperatures (a pitch row's notes held longer,
     * rg_pitch_take_sampling): NULL samples every codebook at
     * `temperature`; else [K], each > 0, replacing it row by row. Greedy
     * (temperature <= 0) stays greedy on every row. Read at every step. */
    const float *row_temperature;
    /* The note-on lock (rg_pitch_take_sampling's note_on_lock): NULL, or
     * [frames] of the take, nonzero on the frames a note may start on. On
     * the others codebook `note_row` (a pitch row, in the model's order)
     * may only go on with the previous frame's code or fall silent (code
     * 0), so notes start on the grid; with the row decided before the
     * acoustic rows (codebook_order), the attack follows it. Applied by
     * rg_musicgen_generate, on top of `allowed`; a bare session ignores it. */
    const uint8_t *note_on;
    int note_row;
} rg_lm_sampling;

/* MusicGen's defaults: guidance 3, temperature 1, top_k 250, top_p off. */
rg_lm_sampling rg_lm_sampling_default(void);

/* A decoding session holds the KV cache and every activation for up to
 * max_steps steps, allocated once here. With guidance > 0 and a non-null
 * condition it decodes a batch of two, [conditional; null]. */
bool rg_lm_session_create(rg_musicgen *m, const rg_lm_cond *cond, float guidance, int max_steps,
                          rg_lm_session **out, rg_error *err);
void rg_lm_session_free(rg_lm_session *s);
/* Steps taken so far. */
int rg_lm_session_position(const rg_lm_session *s);

/* One step: `in` is the previous column ([K] tokens; all `card` at step 0),
 * `out` receives the next column, sampled and with the delay pattern
 * applied for a run of `frames` frames (codebook k gets the special token
 * unless 0 <= step - k < frames). */
bool rg_lm_session_step(rg_lm_session *s, const int32_t *in, const rg_lm_sampling *sp,
                        int frames, int32_t *out, rg_error *err);

/* Feed n known columns ([n][K]) at once, as n steps would but in one pass
 * (causal attention over them): how a context is read. Nothing is sampled;
 * the session moves on by n steps. */
bool rg_lm_session_prefill(rg_lm_session *s, const int32_t *columns, int n, rg_error *err);

enum { RG_LM_LOGITS_COND = 0, RG_LM_LOGITS_NULL = 1, RG_LM_LOGITS_MIXED = 2 };
/* Logits of the last step, [K][card] floats: the conditional branch, the
 * null branch (guided sessions only) or what was sampled from (mixed; with
 * `row_temperature`, row k times temperature / row_temperature[k]; with
 * `allowed`, the disallowed tokens at -1e30). */
bool rg_lm_session_logits(rg_lm_session *s, int which, float *out, rg_error *err);

/* Called after each step with the frames completed so far (every codebook
 * of frames 0..frames_done-1 is final in `codes` already, so a caller can
 * stream them to a decoder); return false to cancel (rg_musicgen_generate
 * then fails with a "cancelled" error). */
typedef bool (*rg_lm_progress)(void *user, int frames_done, int frames_total);

/* Codes to continue from (MusicGen's audio prompt): the first `frames`
 * frames of the take are these, [K][frames] row-major, each in 0..card-1. */
typedef struct {
    const int32_t *codes;
    int frames;
} rg_lm_context;

/* Generate a take of `frames` frames: codes [K][frames] (row-major, in the
 * codec's row order, as the context), each in 0..card-1. cond may be the
 * null condition; context may be NULL, else it must be shorter than the
 * take and its frames start the take. The context is read in one pass
 * (rg_lm_session_prefill), so its cache holds it as if it had been
 * generated. progress may be NULL. */
bool rg_musicgen_generate(rg_musicgen *m, const rg_lm_cond *cond, const rg_lm_sampling *sp,
                          const rg_lm_context *context, int frames, rg_lm_progress progress,
                          void *user, int32_t *codes, rg_error *err);

#endif
