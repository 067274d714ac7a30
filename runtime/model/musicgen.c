/* MusicGen's language model on the tensor runtime (see musicgen.h;
 * train/musicgen_ref.py is the specification it is tested against).
 *
 * Decoding runs one forward pass per step over a batch of one (no guidance)
 * or two ([conditional; null]) rows. Each step is recorded into one command
 * list and run; only the K sampled ids come back to the host, where the
 * delay pattern is applied (it is a handful of integer comparisons).
 *
 * The null branch: MusicGen multiplies the projected T5 states of the empty
 * description by a zero mask, so its cross-attention source is all zeros.
 * With no biases on k/v/out projections, that branch's keys and values are
 * zero and the cross-attention adds exactly 0.0 to it. So cross-attention is
 * computed for the conditional row only and the null row is left as it is:
 * bit-for-bit what the batch of two computes, at half the cost.
 */
#include "runtime/model/musicgen.h"

#include "runtime/tensor/tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/model/spm.h"
#include "runtime/model/t5.h"
#include "runtime/model/track_context.h"
#include "runtime/model/weights.h"

#define LN_EPS 1e-5f /* nn.LayerNorm's default, which MusicGen keeps */
#define MAX_CODEBOOKS RG_LM_MAX_CODEBOOKS

typedef struct {
    rg_tensor q, k, v, o, ln_w, ln_b;
} attn_weights;

typedef struct {
    attn_weights self, cross;
    rg_tensor fc1, fc2, ff_ln_w, ff_ln_b;
} dec_layer;

struct rg_musicgen {
    rg_musicgen_config cfg;
    rg_device *dev;
    char path[256];
    rg_t5 *t5;
    rg_spm *spm;
    rg_tensor proj_w, proj_b;         /* enc_to_dec_proj [hidden, text_dim], [hidden] */
    rg_tensor embed[MAX_CODEBOOKS];   /* [card + 1, hidden] */
    dec_layer *layers;
    rg_tensor out_ln_w, out_ln_b;
    rg_tensor heads;                  /* the K lm_heads stacked: [K * card, hidden] */
    rg_track_weights *track;          /* NULL: a plain MusicGen */
};

static bool tensor_failed(const rg_musicgen *m, rg_status st, const char *what, rg_error *err) {
    return rg_error_set(err, RG_ERR_INTERNAL, m->path, 0, 0, "MusicGen: %s: %s (%s)", what,
                        rg_status_name(st), rg_device_error(m->dev));
}

static bool oom(const rg_musicgen *m, rg_error *err) {
    return rg_error_set(err, RG_ERR_INTERNAL, m->path, 0, 0, "MusicGen: out of memory");
}

/* ------------------------------------------------------------------------ */
/* Configuration                                                            */
/* ------------------------------------------------------------------------ */

static bool read_sizes(const rg_weights *w, rg_musicgen_config *c, rg_error *err) {
    return rg_config_int(w, "vocab_size", 2048, &c->card, err) &&
           rg_config_int(w, "hidden_size", 1024, &c->hidden, err) &&
           rg_config_int(w, "num_hidden_layers", 24, &c->layers, err) &&
           rg_config_int(w, "num_attention_heads", 16, &c->heads, err) &&
           rg_config_int(w, "ffn_dim", 4096, &c->ffn, err) &&
           rg_config_int(w, "num_codebooks", 4, &c->codebooks, err) &&
           rg_config_int(w, "max_position_embeddings", 2048, &c->max_positions, err);
}

static bool read_config(const rg_weights *w, rg_musicgen_config *c, rg_error *err) {
    char act[32];
    int channels = 1;
    bool scale_embedding = false;
    if (!read_sizes(w, c, err) ||
        !rg_config_string(w, "activation_function", "gelu", act, sizeof act, err) ||
        !rg_config_int(w, "audio_channels", 1, &channels, err) ||
        !rg_config_bool(w, "scale_embedding", false, &scale_embedding, err))
        return false;
    const char *bad = NULL;
    if (strcmp(act, "gelu") != 0)
        bad = "decoder activation_function must be \"gelu\" (exact GELU)";
    else if (channels != 1)
        bad = "only mono MusicGen checkpoints (audio_channels 1) are supported";
    else if (scale_embedding)
        bad = "decoder scale_embedding is not supported (MusicGen does not use it)";
    else if (c->card < 2 || c->hidden < 2 || c->layers < 1 || c->layers > 256 || c->heads < 1 ||
             c->ffn < 1 || c->max_positions < 1)
        bad = "decoder sizes must be positive";
    else if (c->codebooks < 1 || c->codebooks > MAX_CODEBOOKS)
        bad = "decoder num_codebooks must be 1..16";
    else if (c->hidden % c->heads != 0 || c->hidden % 2 != 0)
        bad = "decoder hidden_size must be even and a multiple of num_attention_heads";
    else if (c->max_positions < c->codebooks)
        bad = "decoder max_position_embeddings is shorter than the delay pattern";
    if (bad) return rg_error_set(err, RG_ERR_VALUE, rg_weights_path(w), 0, 0, "config.json: %s", bad);
    for (int k = 0; k < c->codebooks; k++) c->codebook_order[k] = k; /* a track model may reorder */
    return true;
}

/* ------------------------------------------------------------------------ */
/* Weights                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct {
    rg_musicgen *m;
    const rg_weights *w;
    rg_dtype wtype;
    rg_error *err;
} loader;

static bool upload(loader *ld, const float *host, rg_dtype dtype, int ndim, const int64_t *shape,
                   const char *name, rg_tensor *out) {
    rg_status st = rg_tensor_create(ld->m->dev, dtype, ndim, shape, out);
    if (st == RG_OK) st = rg_tensor_write_f32(out, host);
    return st == RG_OK || tensor_failed(ld->m, st, name, ld->err);
}

static bool load(loader *ld, const char *name, rg_dtype dtype, int ndim, const int64_t *shape,
                 rg_tensor *out) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    float *host = malloc((size_t)n * sizeof *host);
    if (!host) return oom(ld->m, ld->err);
    bool ok = rg_weights_read(ld->w, name, ndim, shape, host, ld->err) &&
              upload(ld, host, dtype, ndim, shape, name, out);
    free(host);
    return ok;
}

static bool load_matrix(loader *ld, const char *name, int64_t rows, int64_t cols, rg_tensor *out) {
    int64_t shape[2] = {rows, cols};
    return load(ld, name, ld->wtype, 2, shape, out);
}

/* LayerNorm weight and bias, always f32. */
static bool load_ln(loader *ld, const char *module, rg_tensor *w, rg_tensor *b) {
    int64_t shape[1] = {ld->m->cfg.hidden};
    char wn[200], bn[200];
    snprintf(wn, sizeof wn, "%s.weight", module);
    snprintf(bn, sizeof bn, "%s.bias", module);
    return load(ld, wn, RG_F32, 1, shape, w) && load(ld, bn, RG_F32, 1, shape, b);
}

static bool load_attention(loader *ld, const char *prefix, attn_weights *a) {
    int64_t d = ld->m->cfg.hidden;
    char n[4][200], ln[200];
    static const char *const proj[4] = {"q_proj", "k_proj", "v_proj", "out_proj"};
    for (int i = 0; i < 4; i++) snprintf(n[i], sizeof n[i], "%s.%s.weight", prefix, proj[i]);
    snprintf(ln, sizeof ln, "%s_layer_norm", prefix);
    return load_matrix(ld, n[0], d, d, &a->q) && load_matrix(ld, n[1], d, d, &a->k) &&
           load_matrix(ld, n[2], d, d, &a->v) && load_matrix(ld, n[3], d, d, &a->o) &&
           load_ln(ld, ln, &a->ln_w, &a->ln_b);
}

static bool load_layer(loader *ld, int i) {
    const rg_musicgen_config *c = &ld->m->cfg;
    dec_layer *l = &ld->m->layers[i];
    char p[4][200];
    snprintf(p[0], sizeof p[0], "model.decoder.layers.%d.self_attn", i);
    snprintf(p[1], sizeof p[1], "model.decoder.layers.%d.encoder_attn", i);
    snprintf(p[2], sizeof p[2], "model.decoder.layers.%d.fc1.weight", i);
    snprintf(p[3], sizeof p[3], "model.decoder.layers.%d.fc2.weight", i);
    char ff_ln[200];
    snprintf(ff_ln, sizeof ff_ln, "model.decoder.layers.%d.final_layer_norm", i);
    return load_attention(ld, p[0], &l->self) && load_attention(ld, p[1], &l->cross) &&
           load_matrix(ld, p[2], c->ffn, c->hidden, &l->fc1) &&
           load_matrix(ld, p[3], c->hidden, c->ffn, &l->fc2) &&
           load_ln(ld, ff_ln, &l->ff_ln_w, &l->ff_ln_b);
}

/* The K heads become one [K * card, hidden] matrix, so one matmul gives the
 * logits of every codebook, contiguous as [batch, K, card]. */
static bool load_heads(loader *ld) {
    const rg_musicgen_config *c = &ld->m->cfg;
    size_t one = (size_t)c->card * c->hidden;
    float *host = malloc(one * c->codebooks * sizeof *host);
    if (!host) return oom(ld->m, ld->err);
    int64_t shape[2] = {c->card, c->hidden};
    bool ok = true;
    for (int k = 0; ok && k < c->codebooks; k++) {
        char name[64];
        snprintf(name, sizeof name, "lm_heads.%d.weight", k);
        ok = rg_weights_read(ld->w, name, 2, shape, host + k * one, ld->err);
    }
    int64_t all[2] = {(int64_t)c->codebooks * c->card, c->hidden};
    ok = ok && upload(ld, host, ld->wtype, 2, all, "lm_heads", &ld->m->heads);
    free(host);
    return ok;
}

static bool load_decoder(loader *ld) {
    rg_musicgen *m = ld->m;
    const rg_musicgen_config *c = &m->cfg;
    m->layers = calloc((size_t)c->layers, sizeof *m->layers);
    if (!m->layers) return oom(m, ld->err);
    for (int k = 0; k < c->codebooks; k++) {
        char name[64];
        snprintf(name, sizeof name, "model.decoder.embed_tokens.%d.weight", k);
        if (!load_matrix(ld, name, c->card + 1, c->hidden, &m->embed[k])) return false;
    }
    for (int i = 0; i < c->layers; i++)
        if (!load_layer(ld, i)) return false;
    return load_ln(ld, "model.decoder.layer_norm", &m->out_ln_w, &m->out_ln_b) && load_heads(ld);
}

static bool load_projection(loader *ld) {
    const rg_musicgen_config *c = &ld->m->cfg;
    int64_t b_shape[1] = {c->hidden};
    return load_matrix(ld, "enc_to_dec_proj.weight", c->hidden, c->text_dim, &ld->m->proj_w) &&
           load(ld, "enc_to_dec_proj.bias", RG_F32, 1, b_shape, &ld->m->proj_b);
}

/* spiece.model beside the weights: in the folder, or beside the file. */
static bool load_tokenizer(rg_musicgen *m, const char *path, rg_error *err) {
    char file[1200];
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(file, sizeof file, "%s/spiece.model", path);
    } else {
        const char *slash = strrchr(path, '/');
        int dir = slash ? (int)(slash - path) : 1;
        snprintf(file, sizeof file, "%.*s/spiece.model", dir, slash ? path : ".");
    }
    if (stat(file, &st) != 0) return true; /* ids only; condition_text will say so */
    return rg_spm_load(file, &m->spm, err);
}

/* The codec the codes belong to: the audio_encoder section of the config
 * (EnCodec 32 kHz, hop 640, when a checkpoint leaves it out). */
static bool read_codec(rg_musicgen *m, rg_weights *w, rg_error *err) {
    int ratios[8], n = 0;
    rg_weights_select(w, "audio_encoder.", "audio_encoder");
    if (!rg_config_int(w, "sampling_rate", 32000, &m->cfg.sample_rate, err) ||
        !rg_config_int_array(w, "upsampling_ratios", ratios, 8, &n, err))
        return false;
    m->cfg.hop = n == 0 ? 640 : 1;
    for (int i = 0; i < n; i++) m->cfg.hop *= ratios[i] > 0 ? ratios[i] : 1;
    if (m->cfg.sample_rate < 1 || m->cfg.hop < 1)
        return rg_error_set(err, RG_ERR_VALUE, m->path, 0, 0, "config.json: bad audio_encoder rate");
    return true;
}

static bool load_parts(rg_musicgen *m, rg_weights *w, rg_dtype wtype, rg_error *err) {
    loader ld = {.m = m, .w = w, .wtype = wtype, .err = err};
    if (!read_codec(m, w, err)) return false;
    if (!rg_weights_select(w, "text_encoder.", "text_encoder"))
        return rg_error_set(err, RG_ERR_VALUE, m->path, 0, 0,
                            "not a MusicGen checkpoint: no text_encoder.* tensors");
    if (!rg_t5_load(w, m->dev, wtype, &m->t5, err)) return false;
    m->cfg.text_dim = rg_t5_get_config(m->t5)->d_model;
    if (!rg_weights_select(w, "decoder.", "decoder"))
        return rg_error_set(err, RG_ERR_VALUE, m->path, 0, 0,
                            "not a MusicGen checkpoint: no decoder.* tensors");
    if (!read_config(w, &m->cfg, err) || !load_decoder(&ld)) return false;
    rg_weights_select(w, "", ""); /* enc_to_dec_proj is at the top level */
    if (!load_projection(&ld) || !rg_track_load(w, m->dev, wtype, m->cfg.hidden, m->cfg.card,
                                                m->cfg.codebooks, &m->track, err))
        return false;
    if (m->track) {
        memcpy(m->cfg.codebook_order, m->track->order, sizeof m->cfg.codebook_order);
        memcpy(m->cfg.silence_codes, m->track->silence, sizeof m->cfg.silence_codes);
        m->cfg.has_silence_codes = m->track->has_silence;
    }
    return true;
}

/* Without options the matrices stay as the file stores them: f16 weights
 * (the shipped default) are read as f16 by the decode step, which then
 * streams half the bytes (bench/bench_track, docs/performance.md); f32 and
 * bf16 files are held as f32. */
static rg_dtype weight_storage(const rg_weights *w, const rg_musicgen_options *opt) {
    if (opt)
        return opt->weight_dtype == RG_F16 ? RG_F16 : RG_F32;
    const rg_st_tensor *t = rg_weights_find(w, "decoder.lm_heads.0.weight", NULL);
    return t && t->dtype == RG_ST_F16 ? RG_F16 : RG_F32;
}

bool rg_musicgen_load(const char *path, rg_device *dev, const rg_musicgen_options *opt,
                      rg_musicgen **out, rg_error *err) {
    *out = NULL;
    rg_musicgen *m = calloc(1, sizeof *m);
    if (!m) return rg_error_set(err, RG_ERR_INTERNAL, path, 0, 0, "out of memory");
    m->dev = dev;
    snprintf(m->path, sizeof m->path, "%s", path);
    rg_weights *w = NULL;
    bool ok = rg_weights_open(path, &w, err);
    rg_dtype wtype = ok ? weight_storage(w, opt) : RG_F32;
    ok = ok && load_parts(m, w, wtype, err) && load_tokenizer(m, path, err);
    rg_weights_free(w);
    if (!ok) {
        rg_musicgen_free(m);
        return false;
    }
    *out = m;
    return true;
}

static void free_attention(attn_weights *a) {
    rg_tensor *all[] = {&a->q, &a->k, &a->v, &a->o, &a->ln_w, &a->ln_b};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) rg_tensor_destroy(all[i]);
}

void rg_musicgen_free(rg_musicgen *m) {
    if (!m) return;
    for (int i = 0; m->layers && i < m->cfg.layers; i++) {
        dec_layer *l = &m->layers[i];
        free_attention(&l->self);
        free_attention(&l->cross);
        rg_tensor *all[] = {&l->fc1, &l->fc2, &l->ff_ln_w, &l->ff_ln_b};
        for (size_t j = 0; j < sizeof all / sizeof *all; j++) rg_tensor_destroy(all[j]);
    }
    free(m->layers);
    for (int k = 0; k < MAX_CODEBOOKS; k++) rg_tensor_destroy(&m->embed[k]);
    rg_tensor *rest[] = {&m->proj_w, &m->proj_b, &m->out_ln_w, &m->out_ln_b, &m->heads};
    for (size_t i = 0; i < sizeof rest / sizeof *rest; i++) rg_tensor_destroy(rest[i]);
    rg_t5_free(m->t5);
    rg_spm_free(m->spm);
    rg_track_free(m->track);
    free(m);
}

const rg_musicgen_config *rg_musicgen_get_config(const rg_musicgen *m) { return &m->cfg; }
const rg_spm *rg_musicgen_tokenizer(const rg_musicgen *m) { return m->spm; }
rg_t5 *rg_musicgen_t5(rg_musicgen *m) { return m->t5; }

int rg_musicgen_max_frames(const rg_musicgen *m) {
    return m->cfg.max_positions - m->cfg.codebooks + 1;
}

/* ------------------------------------------------------------------------ */
/* Conditioning                                                             */
/* ------------------------------------------------------------------------ */

void rg_lm_cond_free(rg_lm_cond *c) {
    if (!c) return;
    if (c->states) rg_tensor_destroy(c->states);
    free(c->states);
    c->states = NULL;
    c->len = 0;
}

/* states = enc_to_dec_proj(T5(ids)); the mask is all ones for one prompt. */
bool rg_musicgen_condition_ids(rg_musicgen *m, const int32_t *ids, int n, rg_lm_cond *out,
                               rg_error *err) {
    *out = (rg_lm_cond){0};
    if (n == 0) return true; /* the null condition */
    if (n < 0 || n > RG_T5_MAX_TOKENS)
        return rg_error_set(err, RG_ERR_VALUE, m->path, 0, 0,
                            "prompt is %d tokens long; the text encoder takes at most %d", n,
                            RG_T5_MAX_TOKENS);
    int64_t hshape[3] = {1, n, m->cfg.text_dim}, cshape[3] = {1, n, m->cfg.hidden};
    rg_tensor hidden = {0};
    rg_tensor *states = calloc(1, sizeof *states);
    rg_cmd *cmd = NULL;
    rg_status st = states ? rg_tensor_create(m->dev, RG_F32, 3, hshape, &hidden) : RG_ERR_OOM;
    if (st == RG_OK) st = rg_tensor_create(m->dev, RG_F32, 3, cshape, states);
    if (st == RG_OK) st = rg_cmd_create(m->dev, &cmd);
    bool ok = st == RG_OK ? rg_t5_encode(m->t5, ids, NULL, 1, n, &hidden, err)
                                 : tensor_failed(m, st, "allocating the conditioning", err);
    if (ok) {
        rg_op_matmul(cmd, &hidden, &m->proj_w, &m->proj_b, states, true);
        st = rg_cmd_run(cmd);
        ok = st == RG_OK || tensor_failed(m, st, "projecting the conditioning", err);
    }
    rg_cmd_destroy(cmd);
    rg_tensor_destroy(&hidden);
    if (!ok) {
        if (states) rg_tensor_destroy(states);
        free(states);
        return false;
    }
    out->states = states;
    out->len = n;
    return true;
}

bool rg_musicgen_condition_text(rg_musicgen *m, const char *prompt, rg_lm_cond *out,
                                rg_error *err) {
    *out = (rg_lm_cond){0};
    if (!m->spm)
        return rg_error_set(err, RG_ERR_NODE_INIT, m->path, 0, 0,
                            "no spiece.model beside the weights: cannot tokenise prompts");
    int32_t *ids;
    int n;
    if (!rg_spm_encode(m->spm, prompt, strlen(prompt), true, &ids, &n, err)) return false;
    /* Only </s> left: an empty description, which MusicGen masks to nothing. */
    bool ok = n <= 1 ? true : rg_musicgen_condition_ids(m, ids, n, out, err);
    free(ids);
    return ok;
}

bool rg_musicgen_condition_states(rg_musicgen *m, const float *states, int len, rg_lm_cond *out,
                                  rg_error *err) {
    *out = (rg_lm_cond){0};
    if (len == 0) return true;
    if (len < 0 || len > RG_T5_MAX_TOKENS)
        return rg_error_set(err, RG_ERR_VALUE, m->path, 0, 0, "conditioning of %d tokens", len);
    int64_t shape[3] = {1, len, m->cfg.hidden};
    rg_tensor *t = calloc(1, sizeof *t);
    rg_status st = t ? rg_tensor_create(m->dev, RG_F32, 3, shape, t) : RG_ERR_OOM;
    if (st == RG_OK) st = rg_tensor_write_f32(t, states);
    if (st != RG_OK) {
        if (t) rg_tensor_destroy(t);
        free(t);
        return tensor_failed(m, st, "uploading the conditioning", err);
    }
    out->states = t;
    out->len = len;
    return true;
}

bool rg_lm_cond_read(const rg_musicgen *m, const rg_lm_cond *c, float *out, rg_error *err) {
    if (c->len == 0) return true;
    rg_status st = rg_tensor_read_f32(c->states, out);
    return st == RG_OK || tensor_failed(m, st, "reading the conditioning", err);
}

/* ------------------------------------------------------------------------ */
/* Track context                                                            */
/* ------------------------------------------------------------------------ */

int rg_musicgen_track_roles(const rg_musicgen *m) { return m->track ? m->track->roles : 0; }

int rg_musicgen_track_role(const rg_musicgen *m, const char *name) {
    for (int i = 0; name && i < rg_musicgen_track_roles(m); i++)
        if (strcmp(m->track->role_names[i], name) == 0) return i;
    return -1;
}

bool rg_musicgen_track_has_key(const rg_musicgen *m) { return m->track && m->track->key_embed; }

int rg_musicgen_track_tags(const rg_musicgen *m) { return m->track ? m->track->tags : 0; }

const char *rg_musicgen_track_tag_name(const rg_musicgen *m, int i) {
    return i >= 0 && i < rg_musicgen_track_tags(m) ? m->track->tag_names[i] : NULL;
}

const char *rg_musicgen_track_role_name(const rg_musicgen *m, int i) {
    return i >= 0 && i < rg_musicgen_track_roles(m) ? m->track->role_names[i] : NULL;
}

static bool track_error(const rg_musicgen *m, rg_error *err, const char *fmt, int a, int b) {
    char what[200];
    snprintf(what, sizeof what, fmt, a, b);
    return rg_error_set(err, RG_ERR_VALUE, m->path, 0, 0, "track context: %s", what);
}

static bool check_track_args(const rg_musicgen *m, const rg_lm_cond *text, int role, float bpm,
                             const rg_lm_track *tracks, int n_tracks, rg_error *err) {
    if (!m->track)
        return rg_error_set(err, RG_ERR_VALUE, m->path, 0, 0,
                            "a plain MusicGen: this model has no track context "
                            "(track_context.* tensors)");
    int roles = m->track->roles, max = rg_musicgen_max_frames(m);
    if (role < 0 || role >= roles) return track_error(m, err, "role %d is not one of 0..%d", role, roles - 1);
    if (!(bpm > 0.0f && bpm < 1000.0f))
        return rg_error_set(err, RG_ERR_VALUE, m->path, 0, 0,
                            "track context: tempo %g bpm is outside (0, 1000)", (double)bpm);
    if (text && text->len > 0 && (!text->states || text->states->shape[2] != m->cfg.hidden))
        return track_error(m, err, "the text conditioning is not %d wide (%d rows)", m->cfg.hidden,
                           text->len);
    if (n_tracks < 0 || n_tracks > RG_LM_MAX_TRACKS || (n_tracks > 0 && !tracks))
        return track_error(m, err, "%d locked tracks (at most %d)", n_tracks, RG_LM_MAX_TRACKS);
    for (int j = 0; j < n_tracks; j++) {
        const rg_lm_track *t = &tracks[j];
        if (t->role < 0 || t->role >= roles)
            return track_error(m, err, "locked track %d has role %d", j, t->role);
        if (t->frames < 1 || t->frames > max || !t->codes)
            return track_error(m, err, "locked track %d has %d frames", j, t->frames);
        if (t->stride != 0 && t->stride < t->frames)
            return track_error(m, err, "locked track %d has a stride under its %d frames", j,
                               t->frames);
        int64_t stride = t->stride ? t->stride : t->frames;
        for (int k = 0; k < m->cfg.codebooks; k++)
            for (int i = 0; i < t->frames; i++) {
                int32_t code = t->codes[k * stride + i];
                if (code < 0 || code >= m->cfg.card)
                    return track_error(m, err, "locked track %d has code %d (another codec?)", j,
                                       code);
            }
    }
    return true;
}

/* [1, len, hidden] memory: the text rows copied, then each track's block. */
static rg_status fill_track_memory(rg_musicgen *m, const rg_lm_cond *text,
                                   const rg_lm_track *tracks, int n_tracks, rg_tensor *mem) {
    int text_len = text ? text->len : 0, row = text_len;
    rg_status st = RG_OK;
    if (text_len > 0) {
        rg_cmd *cmd = NULL;
        st = rg_cmd_create(m->dev, &cmd);
        if (st == RG_OK) {
            rg_tensor dst = rg_tensor_slice(*mem, 1, 0, text_len);
            rg_op_copy(cmd, text->states, &dst);
            st = rg_cmd_run(cmd);
        }
        rg_cmd_destroy(cmd);
    }
    for (int j = 0; j < n_tracks && st == RG_OK; j++) {
        int64_t shape[2] = {tracks[j].frames, m->cfg.hidden};
        rg_tensor dst = rg_tensor_reshape(rg_tensor_slice(*mem, 1, row, tracks[j].frames), 2, shape);
        st = rg_track_memory(m->track, m->dev, tracks[j].role, tracks[j].codes, tracks[j].frames,
                             tracks[j].stride ? tracks[j].stride : tracks[j].frames, &dst);
        row += tracks[j].frames;
    }
    return st;
}

bool rg_musicgen_condition_track(rg_musicgen *m, const rg_lm_cond *text, int role, float bpm,
                                 const char *words, const rg_lm_track *tracks, int n_tracks,
                                 rg_lm_cond *out, rg_error *err) {
    rg_lm_cond given = text ? *text : (rg_lm_cond){0}; /* out may be text itself */
    text = &given;
    *out = (rg_lm_cond){0};
    if (!check_track_args(m, text, role, bpm, tracks, n_tracks, err)) return false;
    int len = text ? text->len : 0;
    for (int j = 0; j < n_tracks; j++) len += tracks[j].frames;
    rg_lm_cond c = {.len = len, .track = true,
                    .terms = {.role = role, .bpm = bpm, .tags = rg_track_tags_in_text(m->track, words)}};
    rg_lm_key_from_text(words, &c.terms.key);
    if (len > 0) {
        int64_t shape[3] = {1, len, m->cfg.hidden};
        c.states = calloc(1, sizeof *c.states);
        rg_status st = c.states ? rg_tensor_create(m->dev, RG_F32, 3, shape, c.states) : RG_ERR_OOM;
        if (st == RG_OK) st = fill_track_memory(m, text, tracks, n_tracks, c.states);
        if (st != RG_OK) {
            rg_lm_cond_free(&c);
            return tensor_failed(m, st, "building the track context", err);
        }
    }
    *out = c;
    return true;
}

/* ------------------------------------------------------------------------ */
/* Decoding session                                                         */
/* ------------------------------------------------------------------------ */

enum { S_X, S_H, S_Q, S_K, S_V, S_ATT, S_TMP, S_FF, S_LOGITS, S_DIFF, S_MIXED, S_IDS_IN,
       S_IDS_OUT, S_POS, S_MASK, S_ROW_SCALE, S_COUNT };

/* What a disallowed token's logit becomes (rg_lm_sampling.allowed): not
 * -inf, so no backend's arithmetic meets an infinity at ordinary
 * temperatures, but far enough down that its exp(z - max) is exactly 0. */
#define MASKED_LOGIT (-1e30f)

struct rg_lm_session {
    rg_musicgen *m;
    int batch;        /* 2 with guidance, else 1 */
    float guidance;
    int max_steps, pos;
    int cond_len;     /* 0: no cross-attention at all (null condition) */
    bool track;       /* add the track context's terms */
    rg_lm_track_terms terms;
    rg_cmd *cmd;
    rg_tensor t[S_COUNT];
    /* What the layers are recorded on: `t` (one position) while stepping,
     * a wider set of n positions while prefilling a context. */
    rg_tensor *a;
    int n;
    rg_tensor *kc, *vc; /* per layer [batch, max_steps, hidden] */
    rg_tensor *ck, *cv; /* per layer [1, cond_len, hidden]: the conditional row */
    /* The token mask (rg_lm_sampling.allowed): S_MASK holds 0 / MASKED_LOGIT
     * for the contents `mask_src` keeps, uploaded when a step passes others. */
    uint8_t *mask_src;
    bool mask_uploaded;
    float *mask_host;
    bool masked; /* the last step sampled from masked logits (in S_MIXED) */
    /* Per-codebook temperatures (rg_lm_sampling.row_temperature) as a factor
     * on the logits before the sampler divides by `temperature`: S_ROW_SCALE
     * holds row_scale[k] on row k, uploaded when the factors change. */
    float row_scale[MAX_CODEBOOKS];
    float *scale_host;
    bool scale_uploaded, scaled;
};

rg_lm_sampling rg_lm_sampling_default(void) {
    return (rg_lm_sampling){.guidance = 3.0f, .temperature = 1.0f, .top_k = 250, .top_p = 0.0f,
                            .seed = 0};
}

int rg_lm_session_position(const rg_lm_session *s) { return s->pos; }

/* MusicGen's sinusoid in float32, in the reference's order of operations:
 * phase = pos / 10000^(i / (half - 1)); row = [cos(phase), sin(phase)]. */
void rg_musicgen_position(int pos, int dim, float *out) {
    int half = dim / 2;
    for (int i = 0; i < half; i++) {
        float den = powf(10000.0f, (float)i / (float)(half - 1));
        float phase = (float)pos / den;
        out[i] = cosf(phase);
        out[half + i] = sinf(phase);
    }
}

static void fill_positions(float *tab, int steps, int dim) {
    for (int p = 0; p < steps; p++) rg_musicgen_position(p, dim, tab + (size_t)p * dim);
}

static rg_status create(rg_lm_session *s, rg_tensor *t, rg_dtype dt, int nd, int64_t a, int64_t b,
                        int64_t c) {
    int64_t shape[3] = {a, b, c};
    return rg_tensor_create(s->m->dev, dt, nd, shape, t);
}

static rg_status alloc_activations(rg_lm_session *s) {
    const rg_musicgen_config *c = &s->m->cfg;
    int64_t b = s->batch, d = c->hidden, kv = (int64_t)c->codebooks * c->card;
    rg_status st = RG_OK;
    for (int i = S_X; i <= S_TMP && st == RG_OK; i++) st = create(s, &s->t[i], RG_F32, 3, b, 1, d);
    if (st == RG_OK) st = create(s, &s->t[S_FF], RG_F32, 3, b, 1, c->ffn);
    if (st == RG_OK) st = create(s, &s->t[S_LOGITS], RG_F32, 3, b, 1, kv);
    if (st == RG_OK) st = create(s, &s->t[S_DIFF], RG_F32, 2, c->codebooks, c->card, 0);
    if (st == RG_OK) st = create(s, &s->t[S_MIXED], RG_F32, 2, c->codebooks, c->card, 0);
    if (st == RG_OK) st = create(s, &s->t[S_MASK], RG_F32, 2, c->codebooks, c->card, 0);
    if (st == RG_OK) st = create(s, &s->t[S_ROW_SCALE], RG_F32, 2, c->codebooks, c->card, 0);
    if (st == RG_OK) st = create(s, &s->t[S_IDS_IN], RG_I32, 2, c->codebooks, b, 0);
    if (st == RG_OK) st = create(s, &s->t[S_IDS_OUT], RG_I32, 1, c->codebooks, 0, 0);
    if (st == RG_OK) st = create(s, &s->t[S_POS], RG_F32, 2, s->max_steps, d, 0);
    return st;
}

static rg_status alloc_caches(rg_lm_session *s) {
    const rg_musicgen_config *c = &s->m->cfg;
    int n = c->layers;
    s->kc = calloc((size_t)n, sizeof *s->kc);
    s->vc = calloc((size_t)n, sizeof *s->vc);
    s->ck = calloc((size_t)n, sizeof *s->ck);
    s->cv = calloc((size_t)n, sizeof *s->cv);
    if (!s->kc || !s->vc || !s->ck || !s->cv) return RG_ERR_OOM;
    rg_status st = RG_OK;
    for (int i = 0; i < n && st == RG_OK; i++) {
        st = create(s, &s->kc[i], RG_F32, 3, s->batch, s->max_steps, c->hidden);
        if (st == RG_OK) st = create(s, &s->vc[i], RG_F32, 3, s->batch, s->max_steps, c->hidden);
        if (st == RG_OK && s->cond_len > 0)
            st = create(s, &s->ck[i], RG_F32, 3, 1, s->cond_len, c->hidden);
        if (st == RG_OK && s->cond_len > 0)
            st = create(s, &s->cv[i], RG_F32, 3, 1, s->cond_len, c->hidden);
    }
    return st;
}

/* Cross-attention keys and values of the conditional row, once per prompt. */
static rg_status precompute_cross(rg_lm_session *s, const rg_lm_cond *cond) {
    for (int i = 0; i < s->m->cfg.layers; i++) {
        const attn_weights *a = &s->m->layers[i].cross;
        rg_op_matmul(s->cmd, cond->states, &a->k, NULL, &s->ck[i], true);
        rg_op_matmul(s->cmd, cond->states, &a->v, NULL, &s->cv[i], true);
    }
    rg_status st = rg_cmd_run(s->cmd);
    rg_cmd_reset(s->cmd);
    return st;
}

static rg_status upload_positions(rg_lm_session *s) {
    int d = s->m->cfg.hidden;
    float *tab = malloc((size_t)s->max_steps * d * sizeof *tab);
    if (!tab) return RG_ERR_OOM;
    fill_positions(tab, s->max_steps, d);
    /* The role and beat terms are, like the positions, a function of the
     * step alone: folded into the same table, added once per step. */
    if (s->track)
        rg_track_add_input_terms(s->m->track, &s->terms, s->max_steps, tab);
    rg_status st = rg_tensor_write_f32(&s->t[S_POS], tab);
    free(tab);
    return st;
}

static bool check_session_args(rg_musicgen *m, const rg_lm_cond *cond, int max_steps,
                               rg_error *err) {
    if (max_steps < 1 || max_steps > m->cfg.max_positions)
        return rg_error_set(err, RG_ERR_VALUE, m->path, 0, 0,
                            "%d decoding steps asked; the model takes 1..%d", max_steps,
                            m->cfg.max_positions);
    if (cond && cond->len > 0 &&
        (!cond->states || cond->states->ndim != 3 || cond->states->shape[1] != cond->len ||
         cond->states->shape[2] != m->cfg.hidden))
        return rg_error_set(err, RG_ERR_VALUE, m->path, 0, 0,
                            "conditioning does not match this model (width %d expected)",
                            m->cfg.hidden);
    if (cond && cond->track &&
        (!m->track || cond->terms.role < 0 || cond->terms.role >= m->track->roles))
        return rg_error_set(err, RG_ERR_VALUE, m->path, 0, 0,
                            "a track condition for another model (no role %d here)", cond->terms.role);
    return true;
}

bool rg_lm_session_create(rg_musicgen *m, const rg_lm_cond *cond, float guidance, int max_steps,
                          rg_lm_session **out, rg_error *err) {
    *out = NULL;
    if (!check_session_args(m, cond, max_steps, err)) return false;
    rg_lm_session *s = calloc(1, sizeof *s);
    if (!s) return oom(m, err);
    s->m = m;
    s->cond_len = cond ? cond->len : 0;
    s->track = cond && cond->track;
    if (s->track) s->terms = cond->terms;
    /* With the null condition both branches are the same: one row is enough. */
    s->batch = guidance > 0.0f && s->cond_len > 0 ? 2 : 1;
    s->guidance = guidance;
    s->max_steps = max_steps;
    s->a = s->t;
    s->n = 1;
    rg_status st = rg_cmd_create(m->dev, &s->cmd);
    const char *what = "allocating the KV cache and activations";
    if (st == RG_OK) st = alloc_activations(s);
    if (st == RG_OK) st = alloc_caches(s);
    if (st == RG_OK) {
        what = "preparing positions and cross-attention";
        st = upload_positions(s);
    }
    if (st == RG_OK && s->cond_len > 0) st = precompute_cross(s, cond);
    if (st != RG_OK) {
        tensor_failed(m, st, what, err);
        rg_lm_session_free(s);
        return false;
    }
    *out = s;
    return true;
}

void rg_lm_session_free(rg_lm_session *s) {
    if (!s) return;
    for (int i = 0; i < S_COUNT; i++) rg_tensor_destroy(&s->t[i]);
    for (int i = 0; i < s->m->cfg.layers; i++) {
        if (s->kc) rg_tensor_destroy(&s->kc[i]);
        if (s->vc) rg_tensor_destroy(&s->vc[i]);
        if (s->ck) rg_tensor_destroy(&s->ck[i]);
        if (s->cv) rg_tensor_destroy(&s->cv[i]);
    }
    free(s->kc);
    free(s->vc);
    free(s->ck);
    free(s->cv);
    free(s->mask_host);
    free(s->mask_src);
    free(s->scale_host);
    rg_cmd_destroy(s->cmd);
    free(s);
}

/* ------------------------------------------------------------------------ */
/* One decoding step                                                        */
/* ------------------------------------------------------------------------ */

/* [B, T, H*D] viewed as [B, H, T, D]. */
static rg_tensor heads_view(rg_tensor x, int heads) {
    int64_t shape[4] = {x.shape[0], x.shape[1], heads, x.shape[2] / heads};
    return rg_tensor_transpose(rg_tensor_reshape(x, 4, shape), 1, 2);
}

/* The first n positions of a [B, max_steps, H*D] cache as [B, H, n, D]. */
static rg_tensor cache_view(rg_tensor cache, int n, int heads) {
    int64_t shape[4] = {cache.shape[0], cache.shape[1], heads, cache.shape[2] / heads};
    rg_tensor full = rg_tensor_reshape(cache, 4, shape);
    return rg_tensor_transpose(rg_tensor_slice(full, 1, 0, n), 1, 2);
}

/* Row `row` of a [B, ...] tensor (a contiguous view). */
static rg_tensor row_of(const rg_tensor *t, int row) { return rg_tensor_slice(*t, 0, row, 1); }

static void record_embedding(rg_lm_session *s) {
    const rg_musicgen_config *c = &s->m->cfg;
    int64_t rows = (int64_t)s->batch * s->n;
    int64_t xs[2] = {rows, c->hidden}, is[1] = {rows};
    rg_tensor x2 = rg_tensor_reshape(s->a[S_X], 2, xs);
    for (int k = 0; k < c->codebooks; k++) {
        rg_tensor ids = rg_tensor_reshape(row_of(&s->a[S_IDS_IN], k), 1, is);
        rg_op_embedding(s->cmd, &s->m->embed[k], &ids, &x2, k > 0);
    }
    rg_tensor pos = rg_tensor_slice(s->t[S_POS], 0, s->pos, s->n);
    rg_op_add(s->cmd, &s->a[S_X], &pos, &s->a[S_X]);
}

static void record_self_attention(rg_lm_session *s, int i) {
    const attn_weights *a = &s->m->layers[i].self;
    rg_tensor *t = s->a;
    int heads = s->m->cfg.heads;
    rg_op_layer_norm(s->cmd, &t[S_X], &a->ln_w, &a->ln_b, LN_EPS, &t[S_H]);
    rg_op_matmul(s->cmd, &t[S_H], &a->q, NULL, &t[S_Q], true);
    rg_op_matmul(s->cmd, &t[S_H], &a->k, NULL, &t[S_K], true);
    rg_op_matmul(s->cmd, &t[S_H], &a->v, NULL, &t[S_V], true);
    rg_tensor kslot = rg_tensor_slice(s->kc[i], 1, s->pos, s->n);
    rg_tensor vslot = rg_tensor_slice(s->vc[i], 1, s->pos, s->n);
    rg_op_copy(s->cmd, &t[S_K], &kslot);
    rg_op_copy(s->cmd, &t[S_V], &vslot);
    rg_tensor k = cache_view(s->kc[i], s->pos + s->n, heads);
    rg_tensor v = cache_view(s->vc[i], s->pos + s->n, heads);
    rg_tensor q = heads_view(t[S_Q], heads), o = heads_view(t[S_ATT], heads);
    /* The queries are the newest n positions; with one, every cached key is
     * in its past and no mask is needed. */
    rg_attention_params ap = {.scale = 1.0f / sqrtf((float)(s->m->cfg.hidden / heads)),
                              .causal = s->n > 1};
    rg_op_attention(s->cmd, &q, &k, &v, NULL, &o, &ap);
    rg_op_matmul(s->cmd, &t[S_ATT], &a->o, NULL, &t[S_TMP], true);
    rg_op_add(s->cmd, &t[S_X], &t[S_TMP], &t[S_X]);
}

/* Conditional row only (see the top of this file for why that is exact). */
static void record_cross_attention(rg_lm_session *s, int i) {
    if (s->cond_len == 0) return;
    const attn_weights *a = &s->m->layers[i].cross;
    int heads = s->m->cfg.heads;
    rg_tensor *t = s->a;
    rg_tensor x = row_of(&t[S_X], 0), h = row_of(&t[S_H], 0), q = row_of(&t[S_Q], 0);
    rg_tensor att = row_of(&t[S_ATT], 0), tmp = row_of(&t[S_TMP], 0);
    rg_op_layer_norm(s->cmd, &x, &a->ln_w, &a->ln_b, LN_EPS, &h);
    rg_op_matmul(s->cmd, &h, &a->q, NULL, &q, true);
    rg_tensor qh = heads_view(q, heads), oh = heads_view(att, heads);
    rg_tensor kh = heads_view(s->ck[i], heads), vh = heads_view(s->cv[i], heads);
    rg_attention_params ap = {.scale = 1.0f / sqrtf((float)(s->m->cfg.hidden / heads)),
                              .causal = false};
    rg_op_attention(s->cmd, &qh, &kh, &vh, NULL, &oh, &ap);
    rg_op_matmul(s->cmd, &att, &a->o, NULL, &tmp, true);
    rg_op_add(s->cmd, &x, &tmp, &x);
}

static void record_feed_forward(rg_lm_session *s, int i) {
    const dec_layer *l = &s->m->layers[i];
    rg_tensor *t = s->a;
    rg_op_layer_norm(s->cmd, &t[S_X], &l->ff_ln_w, &l->ff_ln_b, LN_EPS, &t[S_H]);
    rg_op_matmul(s->cmd, &t[S_H], &l->fc1, NULL, &t[S_FF], true);
    rg_op_unary(s->cmd, RG_UNARY_GELU, 0.0f, &t[S_FF], &t[S_FF]); /* exact erf GELU */
    rg_op_matmul(s->cmd, &t[S_FF], &l->fc2, NULL, &t[S_TMP], true);
    rg_op_add(s->cmd, &t[S_X], &t[S_TMP], &t[S_X]);
}

static void record_layers(rg_lm_session *s) {
    record_embedding(s);
    for (int i = 0; i < s->m->cfg.layers; i++) {
        record_self_attention(s, i);
        record_cross_attention(s, i);
        record_feed_forward(s, i);
    }
}

/* [K, card] logits of batch row `row`. */
static rg_tensor branch_logits(const rg_lm_session *s, int row) {
    const rg_musicgen_config *c = &s->m->cfg;
    int64_t shape[2] = {c->codebooks, c->card};
    size_t bytes = (size_t)c->codebooks * c->card * sizeof(float);
    return rg_tensor_view(s->t[S_LOGITS].buf, s->t[S_LOGITS].offset + row * bytes, RG_F32, 2, shape);
}

/* mixed = null + (cond - null) * guidance, in the reference's order. */
static rg_tensor record_guidance(rg_lm_session *s) {
    if (s->batch == 1) return branch_logits(s, 0);
    rg_tensor cond = branch_logits(s, 0), null = branch_logits(s, 1);
    rg_tensor *diff = &s->t[S_DIFF], *mixed = &s->t[S_MIXED];
    rg_op_scale(s->cmd, &null, -1.0f, 0.0f, diff);
    rg_op_add(s->cmd, &cond, diff, diff);
    rg_op_scale(s->cmd, diff, s->guidance, 0.0f, diff);
    rg_op_add(s->cmd, &null, diff, mixed);
    return *mixed;
}

static void record_step(rg_lm_session *s, const rg_lm_sampling *sp) {
    const rg_musicgen *m = s->m;
    record_layers(s);
    rg_op_layer_norm(s->cmd, &s->t[S_X], &m->out_ln_w, &m->out_ln_b, LN_EPS, &s->t[S_H]);
    rg_op_matmul(s->cmd, &s->t[S_H], &m->heads, NULL, &s->t[S_LOGITS], true);
    rg_tensor logits = record_guidance(s);
    if (s->scaled) { /* per-codebook temperature: z_k * (T / T_k), then / T */
        rg_op_mul(s->cmd, &logits, &s->t[S_ROW_SCALE], &s->t[S_MIXED]);
        logits = s->t[S_MIXED];
    }
    if (s->masked) { /* constrained sampling: the disallowed tokens' logits drop out */
        rg_op_add(s->cmd, &logits, &s->t[S_MASK], &s->t[S_MIXED]);
        logits = s->t[S_MIXED];
    }
    rg_sample_params p = {.temperature = sp->temperature, .top_k = sp->top_k, .top_p = sp->top_p,
                          .seed = sp->seed, .step = (uint32_t)s->pos};
    rg_op_sample(s->cmd, &logits, &s->t[S_IDS_OUT], &p);
}

static bool check_column(const rg_lm_session *s, const int32_t *in, rg_error *err) {
    const rg_musicgen_config *c = &s->m->cfg;
    if (s->pos >= s->max_steps)
        return rg_error_set(err, RG_ERR_VALUE, s->m->path, 0, 0,
                            "decoding session is full (%d steps)", s->max_steps);
    for (int k = 0; k < c->codebooks; k++)
        if (in[k] < 0 || in[k] > c->card)
            return rg_error_set(err, RG_ERR_VALUE, s->m->path, 0, 0,
                                "token %d of codebook %d is outside 0..%d", in[k], k, c->card);
    return true;
}

/* Upload the column for every batch row: ids are [K, batch]. */
static rg_status upload_column(rg_lm_session *s, const int32_t *in) {
    int32_t ids[MAX_CODEBOOKS * 2];
    for (int k = 0; k < s->m->cfg.codebooks; k++)
        for (int b = 0; b < s->batch; b++) ids[k * s->batch + b] = in[k];
    return rg_tensor_write(&s->t[S_IDS_IN], ids);
}

/* Upload `allowed` ([K][card]) as the additive mask, unless the mask
 * there was made from the same contents (the note-on lock changes one row
 * of its mask from step to step, in place). */
static rg_status upload_mask(rg_lm_session *s, const uint8_t *allowed) {
    size_t n = (size_t)s->m->cfg.codebooks * s->m->cfg.card;
    if (s->mask_uploaded && memcmp(allowed, s->mask_src, n) == 0) return RG_OK;
    if (!s->mask_host && !(s->mask_host = malloc(n * sizeof *s->mask_host))) return RG_ERR_OOM;
    if (!s->mask_src && !(s->mask_src = malloc(n))) return RG_ERR_OOM;
    for (size_t i = 0; i < n; i++) s->mask_host[i] = allowed[i] ? 0.0f : MASKED_LOGIT;
    rg_status st = rg_tensor_write(&s->t[S_MASK], s->mask_host);
    memcpy(s->mask_src, allowed, n);
    s->mask_uploaded = st == RG_OK;
    return st;
}

static bool check_row_temperature(const rg_lm_session *s, const rg_lm_sampling *sp, rg_error *err) {
    for (int k = 0; sp->row_temperature && k < s->m->cfg.codebooks; k++)
        if (!(sp->row_temperature[k] > 0.0f) || !isfinite(sp->row_temperature[k]))
            return rg_error_set(err, RG_ERR_VALUE, s->m->path, 0, 0,
                                "temperature %g of codebook %d: must be above 0",
                                (double)sp->row_temperature[k], k);
    return true;
}

/* Upload each row's factor temperature / row_temperature[k], unless those
 * are there. */
static rg_status upload_row_scale(rg_lm_session *s, const rg_lm_sampling *sp) {
    const rg_musicgen_config *c = &s->m->cfg;
    float want[MAX_CODEBOOKS];
    bool same = s->scale_uploaded;
    for (int k = 0; k < c->codebooks; k++) {
        want[k] = sp->temperature / sp->row_temperature[k];
        same &= want[k] == s->row_scale[k];
    }
    if (same) return RG_OK;
    size_t n = (size_t)c->codebooks * c->card;
    if (!s->scale_host && !(s->scale_host = malloc(n * sizeof *s->scale_host))) return RG_ERR_OOM;
    for (int k = 0; k < c->codebooks; k++) {
        for (int v = 0; v < c->card; v++) s->scale_host[(size_t)k * c->card + v] = want[k];
        s->row_scale[k] = want[k];
    }
    rg_status st = rg_tensor_write(&s->t[S_ROW_SCALE], s->scale_host);
    s->scale_uploaded = st == RG_OK;
    return st;
}

bool rg_lm_session_step(rg_lm_session *s, const int32_t *in, const rg_lm_sampling *sp,
                        int frames, int32_t *out, rg_error *err) {
    const rg_musicgen_config *c = &s->m->cfg;
    if (!check_column(s, in, err) || !check_row_temperature(s, sp, err)) return false;
    rg_status st = upload_column(s, in);
    s->masked = sp->allowed != NULL;
    if (st == RG_OK && s->masked) st = upload_mask(s, sp->allowed);
    s->scaled = sp->row_temperature && sp->temperature > 0.0f;
    if (st == RG_OK && s->scaled) st = upload_row_scale(s, sp);
    if (st == RG_OK) {
        rg_cmd_reset(s->cmd);
        record_step(s, sp);
        st = rg_cmd_run(s->cmd);
    }
    if (st == RG_OK) st = rg_tensor_read(&s->t[S_IDS_OUT], out);
    if (st != RG_OK) return tensor_failed(s->m, st, "decoding a step", err);
    for (int k = 0; k < c->codebooks; k++) { /* the delay pattern */
        int frame = s->pos - k;
        if (frame < 0 || frame >= frames) out[k] = c->card;
    }
    s->pos++;
    return true;
}

/* Activations for n positions at once (freed after the prefill). */
static rg_status alloc_wide(rg_lm_session *s, rg_tensor *w, int n) {
    const rg_musicgen_config *c = &s->m->cfg;
    int64_t b = s->batch;
    rg_status st = RG_OK;
    for (int i = S_X; i <= S_TMP && st == RG_OK; i++) st = create(s, &w[i], RG_F32, 3, b, n, c->hidden);
    if (st == RG_OK) st = create(s, &w[S_FF], RG_F32, 3, b, n, c->ffn);
    if (st == RG_OK) st = create(s, &w[S_IDS_IN], RG_I32, 2, c->codebooks, b * n, 0);
    return st;
}

static rg_status upload_columns(rg_lm_session *s, rg_tensor *ids_t, const int32_t *columns, int n) {
    int kk = s->m->cfg.codebooks, b = s->batch;
    int32_t *ids = malloc((size_t)kk * b * n * sizeof *ids);
    if (!ids) return RG_ERR_OOM;
    for (int k = 0; k < kk; k++) /* [K][batch][n] from [n][K] */
        for (int r = 0; r < b; r++)
            for (int j = 0; j < n; j++) ids[((size_t)k * b + r) * n + j] = columns[(size_t)j * kk + k];
    rg_status st = rg_tensor_write(ids_t, ids);
    free(ids);
    return st;
}

bool rg_lm_session_prefill(rg_lm_session *s, const int32_t *columns, int n, rg_error *err) {
    if (n == 0) return true;
    if (n < 0 || s->pos + n > s->max_steps)
        return rg_error_set(err, RG_ERR_VALUE, s->m->path, 0, 0,
                            "%d columns do not fit in the decoding session", n);
    for (int j = 0; j < n; j++)
        if (!check_column(s, columns + (size_t)j * s->m->cfg.codebooks, err)) return false;
    rg_tensor wide[S_COUNT] = {0};
    rg_status st = alloc_wide(s, wide, n);
    if (st == RG_OK) st = upload_columns(s, &wide[S_IDS_IN], columns, n);
    if (st == RG_OK) {
        rg_cmd_reset(s->cmd);
        s->a = wide;
        s->n = n;
        record_layers(s);
        st = rg_cmd_run(s->cmd);
        s->a = s->t;
        s->n = 1;
    }
    for (int i = 0; i < S_COUNT; i++) rg_tensor_destroy(&wide[i]);
    if (st != RG_OK) return tensor_failed(s->m, st, "prefilling the context", err);
    s->pos += n;
    return true;
}

bool rg_lm_session_logits(rg_lm_session *s, int which, float *out, rg_error *err) {
    rg_tensor t;
    if (which == RG_LM_LOGITS_COND) t = branch_logits(s, 0);
    else if (which == RG_LM_LOGITS_NULL && s->batch == 2) t = branch_logits(s, 1);
    else if (which == RG_LM_LOGITS_MIXED)
        t = s->batch == 2 || s->masked || s->scaled ? s->t[S_MIXED] : branch_logits(s, 0);
    else return rg_error_set(err, RG_ERR_VALUE, s->m->path, 0, 0, "no such logits in this session");
    rg_status st = rg_tensor_read_f32(&t, out);
    return st == RG_OK || tensor_failed(s->m, st, "reading logits", err);
}

/* ------------------------------------------------------------------------ */
/* Whole generation                                                         */
/* ------------------------------------------------------------------------ */

static bool check_generate_args(const rg_musicgen *m, const rg_lm_context *ctx, int frames,
                                rg_error *err) {
    int max = rg_musicgen_max_frames(m);
    if (frames < 1 || frames > max)
        return rg_error_set(err, RG_ERR_VALUE, m->path, 0, 0,
                            "%d frames asked; this model makes 1..%d per take", frames, max);
    if (!ctx || ctx->frames == 0) return true;
    if (ctx->frames < 0 || ctx->frames >= frames || !ctx->codes)
        return rg_error_set(err, RG_ERR_VALUE, m->path, 0, 0,
                            "context of %d frames does not fit in a take of %d frames",
                            ctx->frames, frames);
    for (int i = 0; i < m->cfg.codebooks * ctx->frames; i++)
        if (ctx->codes[i] < 0 || ctx->codes[i] >= m->cfg.card)
            return rg_error_set(err, RG_ERR_VALUE, m->path, 0, 0,
                                "context code %d is outside 0..%d (another codec?)",
                                ctx->codes[i], m->cfg.card - 1);
    return true;
}

/* After step `step`, codebook k holds frame step - k of code row
 * codebook_order[k]: take it from the context where there is one, then
 * record it. */
static void place_column(const rg_musicgen *m, const rg_lm_context *ctx, int step, int frames,
                         int32_t *column, int32_t *codes) {
    for (int k = 0; k < m->cfg.codebooks; k++) {
        int frame = step - k, row = m->cfg.codebook_order[k];
        if (frame < 0 || frame >= frames) continue;
        if (ctx && frame < ctx->frames) column[k] = ctx->codes[(size_t)row * ctx->frames + frame];
        codes[(size_t)row * frames + frame] = column[k];
    }
}

/* Column j of the delay pattern over the context (codebook k: frame
 * j - 1 - k, the special token before the first frame). */
static void context_column(const rg_musicgen *m, const rg_lm_context *ctx, int j, int32_t *col) {
    for (int k = 0; k < m->cfg.codebooks; k++) {
        int frame = j - 1 - k, row = m->cfg.codebook_order[k];
        col[k] = frame >= 0 ? ctx->codes[(size_t)row * ctx->frames + frame] : m->cfg.card;
    }
}

/* The note-on lock's mask for step `step` (rg_lm_sampling.note_on): where
 * the note row's frame may not start a note, `lock` is the take's mask
 * (or every token) with that row cut to the previous frame's code and 0,
 * as train/lm.py's pitch_row_choices; elsewhere the take's own mask. */
static const uint8_t *note_on_mask(const rg_musicgen *m, const rg_lm_sampling *sp, int step,
                                   int frames, const int32_t *codes, uint8_t *lock) {
    const rg_musicgen_config *c = &m->cfg;
    int frame = step - sp->note_row;
    if (frame <= 0 || frame >= frames || sp->note_on[frame]) return sp->allowed;
    size_t n = (size_t)c->codebooks * c->card;
    if (sp->allowed) memcpy(lock, sp->allowed, n);
    else memset(lock, 1, n);
    uint8_t *row = lock + (size_t)sp->note_row * c->card;
    int prev = codes[(size_t)c->codebook_order[sp->note_row] * frames + frame - 1];
    bool keep = prev == 0 || row[prev];
    memset(row, 0, (size_t)c->card);
    row[0] = 1;
    row[prev] = keep;
    return lock;
}

/* Feed the context's columns 0..P-1 in one pass (their outputs are known:
 * column P is the context's too) and copy the context into the take. */
static bool prefill_context(rg_lm_session *s, const rg_musicgen *m, const rg_lm_context *ctx,
                            int frames, int32_t *codes, rg_error *err) {
    int kk = m->cfg.codebooks, p = ctx->frames;
    int32_t *cols = malloc((size_t)p * kk * sizeof *cols);
    if (!cols) return oom(m, err);
    for (int j = 0; j < p; j++) context_column(m, ctx, j, cols + (size_t)j * kk);
    bool ok = rg_lm_session_prefill(s, cols, p, err);
    free(cols);
    for (int k = 0; ok && k < kk; k++) /* both in the codec's row order */
        memcpy(codes + (size_t)k * frames, ctx->codes + (size_t)k * p, (size_t)p * sizeof *codes);
    return ok;
}

static bool check_note_on(const rg_musicgen *m, const rg_lm_sampling *sp, rg_error *err) {
    if (sp->note_on && (sp->note_row < 0 || sp->note_row >= m->cfg.codebooks))
        return rg_error_set(err, RG_ERR_VALUE, m->path, 0, 0,
                            "note-on lock on codebook %d; this model has %d", sp->note_row,
                            m->cfg.codebooks);
    return true;
}

bool rg_musicgen_generate(rg_musicgen *m, const rg_lm_cond *cond, const rg_lm_sampling *sp,
                          const rg_lm_context *context, int frames, rg_lm_progress progress,
                          void *user, int32_t *codes, rg_error *err) {
    const rg_musicgen_config *c = &m->cfg;
    if (!check_generate_args(m, context, frames, err) || !check_note_on(m, sp, err)) return false;
    int steps = frames + c->codebooks - 1;
    int pre = context ? context->frames : 0;
    uint8_t *lock = sp->note_on ? malloc((size_t)c->codebooks * c->card) : NULL;
    if (sp->note_on && !lock) return oom(m, err);
    rg_lm_session *s;
    if (!rg_lm_session_create(m, cond, sp->guidance, steps, &s, err)) {
        free(lock);
        return false;
    }
    int32_t column[MAX_CODEBOOKS];
    for (int k = 0; k < c->codebooks; k++) column[k] = c->card;
    bool ok = pre == 0 || prefill_context(s, m, context, frames, codes, err);
    if (ok && pre > 0) context_column(m, context, pre, column);
    rg_lm_sampling step_sp = *sp;
    for (int step = pre; ok && step < steps; step++) {
        if (sp->note_on) step_sp.allowed = note_on_mask(m, sp, step, frames, codes, lock);
        ok = rg_lm_session_step(s, column, &step_sp, frames, column, err);
        if (ok) place_column(m, context, step, frames, column, codes);
        int done = step - c->codebooks + 2;
        done = done < pre ? pre : done;
        if (ok && progress && !progress(user, done, frames))
            ok = rg_error_set(err, RG_ERR_VALUE, m->path, 0, 0, "generation cancelled");
    }
    rg_lm_session_free(s);
    free(lock);
    return ok;
}
