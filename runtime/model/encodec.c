/* EnCodec (SEANet + RVQ) on the tensor runtime.
 *
 * The layer lists mirror Hugging Face's EncodecEncoder/EncodecDecoder so that
 * layer i here is `encoder.layers.i` / `decoder.layers.i` in the checkpoint:
 *   encoder: conv, [res..., elu, strided conv] per ratio (reversed), lstm, elu, conv
 *   decoder: conv, lstm, [elu, transposed conv, res...] per ratio, elu, conv
 * train/encodec_ref.py is the executable specification this is tested against.
 */
#include "runtime/model/encodec.h"

#include "runtime/tensor/tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/model/pitch_code.h"
#include "runtime/model/weights.h"

#define MAX_LAYERS 64
#define MAX_LSTM_LAYERS 4
#define MAX_PENDING 16

typedef struct {
    rg_tensor w, b;
    int cin, cout, k, stride, dilation;
    bool transposed;
} conv;

typedef struct {
    conv block[2];   /* block.1 (k = residual kernel), block.3 (k = 1) */
    conv shortcut;   /* used when cfg.conv_shortcut */
} resnet;

typedef struct {
    rg_tensor w_ih[MAX_LSTM_LAYERS], w_hh[MAX_LSTM_LAYERS];
    rg_tensor b_ih[MAX_LSTM_LAYERS], b_hh[MAX_LSTM_LAYERS];
    int dim, layers;
} lstm;

typedef enum { LAYER_CONV, LAYER_RESNET, LAYER_LSTM, LAYER_ELU } layer_kind;

#define SILENCE_ROWS 64

typedef struct {
    layer_kind kind;
    conv conv;       /* LAYER_CONV (plain or transposed) */
    resnet res;      /* LAYER_RESNET */
    lstm lstm;       /* LAYER_LSTM */
} layer;

typedef struct {
    layer layers[MAX_LAYERS];
    int n;
} stack;

struct rg_encodec {
    rg_encodec_config cfg;
    rg_device *dev;
    char path[1024];
    stack encoder, decoder;
    rg_tensor codebooks; /* [num_quantizers, codebook_size, codebook_dim] */
    conv harmonic[2];    /* harmonic_head, k = 1 (harmonic_bins > 0): [1+K, D], or with
                          * harmonic_hidden H its layers 0 [H, D] and 2 [1+K, H] */
    /* A track-aware model's track_context.silence_codes (a pitch codec's):
     * the generator's sustain lock writes them; decoding holds the harmonic
     * head under it (held_codes). n_silence 0: none. */
    int silence[SILENCE_ROWS];
    int n_silence;
};

/* ------------------------------------------------------------------ */
/* Errors from the tensor runtime                                      */
/* ------------------------------------------------------------------ */

static bool tensor_failed(rg_encodec *m, rg_status st, const char *what, rg_error *err)
{
    return rg_error_set(err, RG_ERR_INTERNAL, m->path, 0, 0, "%s: %s (%s)", what,
                        rg_status_name(st), rg_device_error(m->dev));
}

/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */

static bool read_ints(const rg_weights *w, rg_encodec_config *c, rg_error *err)
{
    return rg_config_int(w, "sampling_rate", 24000, &c->sampling_rate, err) &&
           rg_config_int(w, "audio_channels", 1, &c->audio_channels, err) &&
           rg_config_int(w, "num_filters", 32, &c->num_filters, err) &&
           rg_config_int(w, "hidden_size", 128, &c->hidden_size, err) &&
           rg_config_int(w, "codebook_size", 1024, &c->codebook_size, err) &&
           rg_config_int(w, "codebook_dim", c->hidden_size, &c->codebook_dim, err) &&
           rg_config_int(w, "kernel_size", 7, &c->kernel_size, err) &&
           rg_config_int(w, "last_kernel_size", 7, &c->last_kernel_size, err) &&
           rg_config_int(w, "residual_kernel_size", 3, &c->residual_kernel_size, err) &&
           rg_config_int(w, "num_residual_layers", 1, &c->num_residual_layers, err) &&
           rg_config_int(w, "dilation_growth_rate", 2, &c->dilation_growth_rate, err) &&
           rg_config_int(w, "compress", 2, &c->compress, err) &&
           rg_config_int(w, "num_lstm_layers", 2, &c->num_lstm_layers, err) &&
           rg_config_int(w, "harmonic_bins", 0, &c->harmonic_bins, err) &&
           rg_config_int(w, "harmonic_hidden", 0, &c->harmonic_hidden, err) &&
           rg_config_int(w, "pitch_midi_min", 24, &c->pitch_midi_min, err) &&
           rg_config_int(w, "pitch_notes", 48, &c->pitch_notes, err);
}

static bool read_others(const rg_weights *w, rg_encodec_config *c, rg_error *err)
{
    static const int default_ratios[] = {8, 5, 4, 2};
    static const double default_bw[] = {1.5, 3.0, 6.0, 12.0, 24.0};
    char pad[32], norm[32];
    if (!rg_config_bool(w, "use_causal_conv", true, &c->causal, err) ||
        !rg_config_bool(w, "pitch_codebook", false, &c->pitch_codebook, err) ||
        !rg_config_bool(w, "use_conv_shortcut", true, &c->conv_shortcut, err) ||
        !rg_config_double(w, "trim_right_ratio", 1.0, &c->trim_right_ratio, err) ||
        !rg_config_double(w, "harmonic_f0_min", 25.0, &c->harmonic_f0_min, err) ||
        !rg_config_double(w, "harmonic_f0_max", 800.0, &c->harmonic_f0_max, err) ||
        !rg_config_string(w, "pad_mode", "reflect", pad, sizeof pad, err) ||
        !rg_config_string(w, "norm_type", "weight_norm", norm, sizeof norm, err) ||
        !rg_config_int_array(w, "upsampling_ratios", c->ratios, RG_ENCODEC_MAX_RATIOS,
                             &c->n_ratios, err) ||
        !rg_config_double_array(w, "target_bandwidths", c->bandwidths,
                                RG_ENCODEC_MAX_BANDWIDTHS, &c->n_bandwidths, err))
        return false;
    if (c->n_ratios == 0) {
        memcpy(c->ratios, default_ratios, sizeof default_ratios);
        c->n_ratios = 4;
    }
    if (c->n_bandwidths == 0) {
        memcpy(c->bandwidths, default_bw, sizeof default_bw);
        c->n_bandwidths = 5;
    }
    c->reflect = strcmp(pad, "reflect") == 0;
    if (strcmp(norm, "weight_norm") != 0)
        return rg_error_set(err, RG_ERR_VALUE, rg_weights_path(w), 0, 0,
                            "norm_type '%s' is not supported (only the weight_norm models: "
                            "encodec_24khz, encodec_32khz)",
                            norm);
    if (!c->reflect && strcmp(pad, "constant") != 0)
        return rg_error_set(err, RG_ERR_VALUE, rg_weights_path(w), 0, 0,
                            "pad_mode '%s' is not supported (reflect or constant)", pad);
    return true;
}

/* The pitch codebook's keys, as Config in train/encodec_ref.py checks
 * them (and MIDI's range for the lowest note). */
static bool check_pitch(const rg_weights *w, rg_encodec_config *c, rg_error *err)
{
    c->num_codebooks = c->num_quantizers + (c->pitch_codebook ? 1 : 0);
    if (!c->pitch_codebook)
        return true;
    const char *file = rg_weights_path(w);
    if (c->harmonic_bins < 1)
        return rg_error_set(err, RG_ERR_VALUE, file, 0, 0,
                            "config.json: \"pitch_codebook\" needs the harmonic bass path "
                            "(\"harmonic_bins\" > 0)");
    if (c->pitch_notes < 1 || c->pitch_notes >= c->codebook_size)
        return rg_error_set(err, RG_ERR_VALUE, file, 0, 0,
                            "config.json: \"pitch_notes\" %d must be 1..%d (codebook_size - 1: "
                            "code 0 is 'no pitch')",
                            c->pitch_notes, c->codebook_size - 1);
    if (c->pitch_midi_min < 0 || c->pitch_midi_min > 127)
        return rg_error_set(err, RG_ERR_VALUE, file, 0, 0,
                            "config.json: \"pitch_midi_min\" %d is not a MIDI note (0..127)",
                            c->pitch_midi_min);
    return true;
}

static bool check_config(const rg_weights *w, rg_encodec_config *c, rg_error *err)
{
    bool normalize = false;
    double chunk = 0;
    if (!rg_config_bool(w, "normalize", false, &normalize, err) ||
        !rg_config_double(w, "chunk_length_s", 0, &chunk, err))
        return false;
    const char *bad = NULL;
    if (normalize || chunk > 0)
        bad = "normalize/chunk_length_s (the 48 kHz model) is not supported";
    else if (c->audio_channels < 1 || c->audio_channels > 2)
        bad = "audio_channels must be 1 or 2";
    else if (c->codebook_dim != c->hidden_size)
        bad = "codebook_dim must equal hidden_size (EnCodec has no projection)";
    else if (c->num_lstm_layers < 1 || c->num_lstm_layers > MAX_LSTM_LAYERS)
        bad = "num_lstm_layers must be 1..4";
    else if (c->compress < 1 || c->num_filters < 1 || c->hidden_size < 1 ||
             c->codebook_size < 2 || c->num_residual_layers < 0 || c->kernel_size < 1 ||
             c->last_kernel_size < 1 || c->residual_kernel_size < 1 || c->sampling_rate < 1)
        bad = "sizes must be positive";
    else if (!c->causal && c->trim_right_ratio != 1.0)
        bad = "trim_right_ratio other than 1 needs use_causal_conv";
    else if (c->harmonic_bins < 0 || c->harmonic_bins > 4096)
        bad = "\"harmonic_bins\" must be 0..4096";
    else if (c->harmonic_bins > 0 && c->audio_channels != 1)
        bad = "\"harmonic_bins\" (the harmonic bass path) needs audio_channels 1";
    else if (c->harmonic_bins > 0 &&
             !(c->harmonic_f0_min > 0 && c->harmonic_f0_max >= c->harmonic_f0_min))
        bad = "\"harmonic_f0_min\" and \"harmonic_f0_max\" must satisfy 0 < min <= max";
    else if (c->harmonic_hidden < 0 || c->harmonic_hidden > 4096)
        bad = "\"harmonic_hidden\" must be 0..4096";
    else if (c->harmonic_hidden > 0 && c->harmonic_bins == 0)
        bad = "\"harmonic_hidden\" needs the harmonic bass path (\"harmonic_bins\" > 0)";
    if (bad)
        return rg_error_set(err, RG_ERR_VALUE, rg_weights_path(w), 0, 0, "config.json: %s", bad);
    c->hop_length = 1;
    for (int i = 0; i < c->n_ratios; i++) {
        if (c->ratios[i] < 1 || c->hop_length > (1 << 20))
            return rg_error_set(err, RG_ERR_VALUE, rg_weights_path(w), 0, 0,
                                "config.json: bad upsampling_ratios");
        c->hop_length *= c->ratios[i];
    }
    c->frame_rate = (c->sampling_rate + c->hop_length - 1) / c->hop_length;
    /* HF: int(1000 * max bandwidth // (frame_rate * 10)) */
    c->num_quantizers =
        (int)floor(1000.0 * c->bandwidths[c->n_bandwidths - 1] / (c->frame_rate * 10.0));
    if (c->num_quantizers < 1 || c->num_quantizers > 64)
        return rg_error_set(err, RG_ERR_VALUE, rg_weights_path(w), 0, 0,
                            "config.json: target_bandwidths give %d codebooks", c->num_quantizers);
    return true;
}

static bool read_config(const rg_weights *w, rg_encodec_config *c, rg_error *err)
{
    memset(c, 0, sizeof *c);
    return read_ints(w, c, err) && read_others(w, c, err) && check_config(w, c, err) &&
           check_pitch(w, c, err);
}

int rg_encodec_codebooks_for_bandwidth(const rg_encodec_config *cfg, double kbps)
{
    if (kbps <= 0)
        return cfg->num_codebooks;
    double per_codebook = log2((double)cfg->codebook_size) * cfg->frame_rate;
    int n = (int)floor(kbps * 1000.0 / per_codebook);
    return n < 1 ? 1 : n >= cfg->num_quantizers ? cfg->num_codebooks : n;
}

bool rg_encodec_check_rows(const rg_encodec_config *cfg, int rows, const char *what,
                           rg_error *err)
{
    if (cfg->pitch_codebook && rows == cfg->num_codebooks)
        return true;
    if (cfg->pitch_codebook)
        return rg_error_set(err, RG_ERR_VALUE, what, 0, 0,
                            "%d code rows; a codec with a pitch codebook takes all %d (%d "
                            "codebooks, then the pitch row): a lower bandwidth does not "
                            "combine with it",
                            rows, cfg->num_codebooks, cfg->num_quantizers);
    if (rows < 1 || rows > cfg->num_quantizers)
        return rg_error_set(err, RG_ERR_VALUE, what, 0, 0,
                            "%d codebooks asked for; the model has 1..%d", rows,
                            cfg->num_quantizers);
    return true;
}

/* RVQ codebooks among `rows` code rows (rg_encodec_check_rows passed). */
static int rvq_rows(const rg_encodec_config *cfg, int rows)
{
    return cfg->pitch_codebook ? rows - 1 : rows;
}

int64_t rg_encodec_frames(const rg_encodec_config *cfg, int64_t samples)
{
    return (samples + cfg->hop_length - 1) / cfg->hop_length;
}

const rg_encodec_config *rg_encodec_get_config(const rg_encodec *m)
{
    return &m->cfg;
}

/* ------------------------------------------------------------------ */
/* Weights                                                             */
/* ------------------------------------------------------------------ */

typedef struct {
    rg_encodec *m;
    rg_weights *w;
    rg_error *err;
} loader;

/* Create a device tensor of `shape` and fill it from host floats. */
static bool upload(loader *ld, const float *data, int ndim, const int64_t *shape,
                   rg_tensor *out)
{
    rg_status st = rg_tensor_create(ld->m->dev, RG_F32, ndim, shape, out);
    if (st == RG_OK)
        st = rg_tensor_write_f32(out, data);
    return st == RG_OK || tensor_failed(ld->m, st, "uploading weights", ld->err);
}

static int64_t count(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    return n;
}

/* Read a tensor (plain or weight-normed) and upload it. */
static bool load_tensor(loader *ld, const char *name, bool normed, int ndim,
                        const int64_t *shape, rg_tensor *out)
{
    float *host = malloc((size_t)count(ndim, shape) * sizeof *host);
    if (!host)
        return rg_error_set(ld->err, RG_ERR_INTERNAL, ld->m->path, 0, 0, "out of memory");
    bool ok = normed ? rg_weights_read_normed(ld->w, name, ndim, shape, host, ld->err)
                     : rg_weights_read(ld->w, name, ndim, shape, host, ld->err);
    ok = ok && upload(ld, host, ndim, shape, out);
    free(host);
    return ok;
}

/* `module` is e.g. "encoder.layers.3.conv"; `normed`: a weight-normed
 * module (any spelling), else a plain `module.weight`. */
static bool load_conv_as(loader *ld, const char *module, bool normed, conv *c)
{
    int64_t w_shape[3] = {c->transposed ? c->cin : c->cout, c->transposed ? c->cout : c->cin,
                          c->k};
    int64_t b_shape[1] = {c->cout};
    char weight[320], bias[320];
    snprintf(weight, sizeof weight, normed ? "%s" : "%s.weight", module);
    snprintf(bias, sizeof bias, "%s.bias", module);
    return load_tensor(ld, weight, normed, 3, w_shape, &c->w) &&
           load_tensor(ld, bias, false, 1, b_shape, &c->b);
}

static bool load_conv(loader *ld, const char *module, conv *c)
{
    return load_conv_as(ld, module, true, c);
}

/* harmonic_head, when the config asks for the harmonic bass path: a plain
 * Conv1d(hidden_size, 1 + K, 1), or with harmonic_hidden H the layers 0
 * and 2 of Sequential(Conv1d(hidden_size, H, 1), ELU, Conv1d(H, 1 + K, 1)). */
static bool load_harmonic(loader *ld)
{
    const rg_encodec_config *c = &ld->m->cfg;
    int hidden = c->harmonic_hidden, out = 1 + c->harmonic_bins;
    conv *h = ld->m->harmonic;
    if (c->harmonic_bins == 0)
        return true;
    h[0] = (conv){.cin = c->hidden_size, .cout = hidden ? hidden : out, .k = 1, .stride = 1,
                  .dilation = 1};
    h[1] = (conv){.cin = hidden, .cout = out, .k = 1, .stride = 1, .dilation = 1};
    return hidden ? load_conv_as(ld, "harmonic_head.0", false, &h[0]) &&
                        load_conv_as(ld, "harmonic_head.2", false, &h[1])
                  : load_conv_as(ld, "harmonic_head", false, &h[0]);
}

static bool load_lstm(loader *ld, const char *module, lstm *l)
{
    int64_t w_shape[2] = {4 * l->dim, l->dim}, b_shape[1] = {4 * l->dim};
    char name[320];
    for (int i = 0; i < l->layers; i++) {
        struct {
            const char *what;
            rg_tensor *t;
            int ndim;
            const int64_t *shape;
        } parts[] = {{"weight_ih", &l->w_ih[i], 2, w_shape}, {"weight_hh", &l->w_hh[i], 2, w_shape},
                     {"bias_ih", &l->b_ih[i], 1, b_shape},   {"bias_hh", &l->b_hh[i], 1, b_shape}};
        for (int p = 0; p < 4; p++) {
            snprintf(name, sizeof name, "%s.%s_l%d", module, parts[p].what, i);
            if (!load_tensor(ld, name, false, parts[p].ndim, parts[p].shape, parts[p].t))
                return false;
        }
    }
    return true;
}

static bool load_layer(loader *ld, const char *part, int index, layer *ly)
{
    char module[256];
    switch (ly->kind) {
    case LAYER_CONV:
        snprintf(module, sizeof module, "%s.layers.%d.conv", part, index);
        return load_conv(ld, module, &ly->conv);
    case LAYER_LSTM:
        snprintf(module, sizeof module, "%s.layers.%d.lstm", part, index);
        return load_lstm(ld, module, &ly->lstm);
    case LAYER_RESNET:
        for (int b = 0; b < 2; b++) {
            snprintf(module, sizeof module, "%s.layers.%d.block.%d.conv", part, index, 2 * b + 1);
            if (!load_conv(ld, module, &ly->res.block[b]))
                return false;
        }
        if (!ld->m->cfg.conv_shortcut)
            return true;
        snprintf(module, sizeof module, "%s.layers.%d.shortcut.conv", part, index);
        return load_conv(ld, module, &ly->res.shortcut);
    case LAYER_ELU:
        return true;
    }
    return false;
}

static bool load_stack(loader *ld, const char *part, stack *s)
{
    for (int i = 0; i < s->n; i++)
        if (!load_layer(ld, part, i, &s->layers[i]))
            return false;
    return true;
}

static bool load_codebooks(loader *ld)
{
    const rg_encodec_config *c = &ld->m->cfg;
    int64_t row = (int64_t)c->codebook_size * c->codebook_dim;
    int64_t shape[3] = {c->num_quantizers, c->codebook_size, c->codebook_dim};
    float *host = malloc((size_t)(row * c->num_quantizers) * sizeof *host);
    if (!host)
        return rg_error_set(ld->err, RG_ERR_INTERNAL, ld->m->path, 0, 0, "out of memory");
    bool ok = true;
    char name[128];
    for (int q = 0; q < c->num_quantizers && ok; q++) {
        snprintf(name, sizeof name, "quantizer.layers.%d.codebook.embed", q);
        ok = rg_weights_read(ld->w, name, 2, shape + 1, host + q * row, ld->err);
    }
    ok = ok && upload(ld, host, 3, shape, &ld->m->codebooks);
    free(host);
    return ok;
}

/* ------------------------------------------------------------------ */
/* Architecture                                                        */
/* ------------------------------------------------------------------ */

static layer *push(stack *s, layer_kind kind)
{
    layer *ly = &s->layers[s->n++];
    memset(ly, 0, sizeof *ly);
    ly->kind = kind;
    return ly;
}

static void push_conv(stack *s, int cin, int cout, int k, int stride, bool transposed)
{
    conv *c = &push(s, LAYER_CONV)->conv;
    *c = (conv){.cin = cin, .cout = cout, .k = k, .stride = stride, .dilation = 1,
                .transposed = transposed};
}

static void push_resnets(stack *s, const rg_encodec_config *c, int dim)
{
    int hidden = dim / c->compress, dilation = 1;
    for (int j = 0; j < c->num_residual_layers; j++) {
        resnet *r = &push(s, LAYER_RESNET)->res;
        r->block[0] = (conv){.cin = dim, .cout = hidden, .k = c->residual_kernel_size,
                             .stride = 1, .dilation = dilation};
        r->block[1] = (conv){.cin = hidden, .cout = dim, .k = 1, .stride = 1, .dilation = 1};
        r->shortcut = (conv){.cin = dim, .cout = dim, .k = 1, .stride = 1, .dilation = 1};
        dilation *= c->dilation_growth_rate;
    }
}

static void push_lstm(stack *s, const rg_encodec_config *c, int dim)
{
    lstm *l = &push(s, LAYER_LSTM)->lstm;
    l->dim = dim;
    l->layers = c->num_lstm_layers;
}

static void build_encoder(stack *s, const rg_encodec_config *c)
{
    int nf = c->num_filters, scale = 1;
    push_conv(s, c->audio_channels, nf, c->kernel_size, 1, false);
    for (int i = c->n_ratios - 1; i >= 0; i--) {
        int dim = scale * nf, ratio = c->ratios[i];
        push_resnets(s, c, dim);
        push(s, LAYER_ELU);
        push_conv(s, dim, dim * 2, ratio * 2, ratio, false);
        scale *= 2;
    }
    push_lstm(s, c, scale * nf);
    push(s, LAYER_ELU);
    push_conv(s, scale * nf, c->hidden_size, c->last_kernel_size, 1, false);
}

static void build_decoder(stack *s, const rg_encodec_config *c)
{
    int nf = c->num_filters, scale = 1 << c->n_ratios;
    push_conv(s, c->hidden_size, scale * nf, c->kernel_size, 1, false);
    push_lstm(s, c, scale * nf);
    for (int i = 0; i < c->n_ratios; i++) {
        int dim = scale * nf, ratio = c->ratios[i];
        push(s, LAYER_ELU);
        push_conv(s, dim, dim / 2, ratio * 2, ratio, true);
        push_resnets(s, c, dim / 2);
        scale /= 2;
    }
    push(s, LAYER_ELU);
    push_conv(s, nf, c->audio_channels, c->last_kernel_size, 1, false);
}

/* A pitch codec inside a track-aware model: the silence codes its
 * config names (lm.composite_config), one per code row, the pitch row's
 * last. Absent, or another codec: none. */
static bool load_silence(loader *ld)
{
    rg_encodec *m = ld->m;
    if (!m->cfg.pitch_codebook)
        return true;
    rg_weights_select(ld->w, "", "track_context");
    return rg_config_code_list(ld->w, "silence_codes", m->cfg.num_codebooks, m->cfg.codebook_size,
                               m->silence, SILENCE_ROWS, &m->n_silence, ld->err);
}

static bool fits(const rg_encodec_config *c)
{
    int per_ratio = c->num_residual_layers + 2;
    return c->n_ratios * per_ratio + 5 <= MAX_LAYERS;
}

bool rg_encodec_load(const char *path, rg_device *dev, rg_encodec **out, rg_error *err)
{
    *out = NULL;
    rg_encodec *m = calloc(1, sizeof *m);
    if (!m)
        return rg_error_set(err, RG_ERR_INTERNAL, path, 0, 0, "out of memory");
    m->dev = dev;
    snprintf(m->path, sizeof m->path, "%s", path);
    loader ld = {.m = m, .err = err};
    bool ok = rg_weights_open(path, &ld.w, err);
    if (ok) {
        rg_weights_select(ld.w, "audio_encoder.", "audio_encoder");
        ok = read_config(ld.w, &m->cfg, err);
    }
    if (ok && !fits(&m->cfg))
        ok = rg_error_set(err, RG_ERR_VALUE, path, 0, 0, "config.json: too many layers");
    if (ok) {
        build_encoder(&m->encoder, &m->cfg);
        build_decoder(&m->decoder, &m->cfg);
        ok = load_stack(&ld, "encoder", &m->encoder) && load_stack(&ld, "decoder", &m->decoder) &&
             load_codebooks(&ld) && load_harmonic(&ld) && load_silence(&ld);
    }
    rg_weights_free(ld.w);
    if (!ok) {
        rg_encodec_free(m);
        return false;
    }
    *out = m;
    return true;
}

bool rg_encodec_probe(const char *path, rg_encodec_config *cfg, rg_error *err)
{
    rg_weights *w;
    if (!rg_weights_open(path, &w, err))
        return false;
    rg_weights_select(w, "audio_encoder.", "audio_encoder");
    bool ok = read_config(w, cfg, err);
    rg_weights_free(w);
    return ok;
}

static void free_conv(conv *c)
{
    rg_tensor_destroy(&c->w);
    rg_tensor_destroy(&c->b);
}

static void free_stack(stack *s)
{
    for (int i = 0; i < s->n; i++) {
        layer *ly = &s->layers[i];
        free_conv(&ly->conv);
        free_conv(&ly->res.block[0]);
        free_conv(&ly->res.block[1]);
        free_conv(&ly->res.shortcut);
        for (int l = 0; l < ly->lstm.layers; l++) {
            rg_tensor_destroy(&ly->lstm.w_ih[l]);
            rg_tensor_destroy(&ly->lstm.w_hh[l]);
            rg_tensor_destroy(&ly->lstm.b_ih[l]);
            rg_tensor_destroy(&ly->lstm.b_hh[l]);
        }
    }
}

void rg_encodec_free(rg_encodec *m)
{
    if (!m)
        return;
    free_stack(&m->encoder);
    free_stack(&m->decoder);
    rg_tensor_destroy(&m->codebooks);
    free_conv(&m->harmonic[0]);
    free_conv(&m->harmonic[1]);
    free(m);
}

/* ------------------------------------------------------------------ */
/* Forward pass                                                        */
/* ------------------------------------------------------------------ */

/* One forward pass. Ops are recorded into `cmd`; after each layer that
 * allocates, the list runs and the tensors it no longer needs are freed, so
 * memory stays a few activations deep however long the audio is. */
typedef struct {
    rg_encodec *m;
    rg_cmd *cmd;
    rg_tensor pending[MAX_PENDING]; /* destroy after the next run */
    int n_pending;
    rg_status st;                   /* first failure */
    const char *what;               /* what failed, for the message */
} pass;

static rg_tensor new_tensor(pass *p, rg_dtype dtype, int64_t rows, int64_t cols)
{
    rg_tensor t = {0};
    int64_t shape[2] = {rows, cols};
    if (p->st == RG_OK) {
        p->st = rg_tensor_create(p->m->dev, dtype, 2, shape, &t);
        if (p->st != RG_OK)
            p->what = "allocating an activation";
    }
    return t;
}

static void check(pass *p, rg_status st, const char *what)
{
    if (p->st == RG_OK && st != RG_OK) {
        p->st = st;
        p->what = what;
    }
}

/* Free `t` once the ops recorded so far have run. */
static void release(pass *p, rg_tensor t)
{
    if (p->n_pending == MAX_PENDING) {
        check(p, RG_ERR_INVALID, "too many pending tensors (internal)");
        rg_tensor_destroy(&t);
        return;
    }
    p->pending[p->n_pending++] = t;
}

static void run(pass *p)
{
    if (p->st == RG_OK)
        check(p, rg_cmd_run(p->cmd), "running the codec");
    rg_cmd_reset(p->cmd);
    for (int i = 0; i < p->n_pending; i++)
        rg_tensor_destroy(&p->pending[i]);
    p->n_pending = 0;
}

static bool pass_begin(pass *p, rg_encodec *m, rg_error *err)
{
    memset(p, 0, sizeof *p);
    p->m = m;
    rg_status st = rg_cmd_create(m->dev, &p->cmd);
    return st == RG_OK || tensor_failed(m, st, "creating a command list", err);
}

static bool pass_end(pass *p, rg_error *err)
{
    run(p);
    rg_cmd_destroy(p->cmd);
    if (p->st != RG_OK)
        return tensor_failed(p->m, p->st, p->what, err);
    return true;
}

static int64_t length(const rg_tensor *t)
{
    return t->shape[1];
}

static void elu(pass *p, const rg_tensor *x, const rg_tensor *out)
{
    check(p, rg_op_unary(p->cmd, RG_UNARY_ELU, 1.0f, x, out), "elu");
}

/* The signal is too short to reflect-pad: EnCodec zero-extends it first,
 * pads, convolves and keeps the outputs that the unextended signal has. */
static rg_tensor conv_short(pass *p, const conv *c, const rg_tensor *x, rg_conv1d_params prm,
                            int64_t frames)
{
    int64_t len = length(x), extra = (prm.pad_left > prm.pad_right ? prm.pad_left
                                                                    : prm.pad_right) - len + 1;
    rg_tensor ext = new_tensor(p, RG_F32, c->cin, len + extra);
    rg_tensor head = rg_tensor_slice(ext, 1, 0, len);
    check(p, rg_op_copy(p->cmd, x, &head), "conv padding");
    int64_t keff = (int64_t)(c->k - 1) * c->dilation + 1;
    int64_t full = (len + extra + prm.pad_left + prm.pad_right - keff) / c->stride + 1;
    rg_tensor wide = new_tensor(p, RG_F32, c->cout, full);
    check(p, rg_op_conv1d(p->cmd, &ext, &c->w, &c->b, &wide, &prm), "conv1d");
    rg_tensor out = new_tensor(p, RG_F32, c->cout, frames);
    rg_tensor keep = rg_tensor_slice(wide, 1, 0, frames);
    check(p, rg_op_copy(p->cmd, &keep, &out), "conv crop");
    release(p, ext);
    release(p, wide);
    return out;
}

/* EnCodec's padded Conv1d: ceil(L / stride) output frames; the padding a
 * stride leaves over goes on the right; the rest all on the left when
 * causal, else split with the larger half on the left. */
static rg_tensor conv_forward(pass *p, const conv *c, const rg_tensor *x)
{
    const rg_encodec_config *cfg = &p->m->cfg;
    int64_t len = length(x), keff = (int64_t)(c->k - 1) * c->dilation + 1;
    int64_t total = keff - c->stride;
    int64_t frames = (len + c->stride - 1) / c->stride;
    int64_t extra = frames * c->stride - len;
    rg_conv1d_params prm = {.stride = c->stride, .dilation = c->dilation,
                            .pad_mode = cfg->reflect ? RG_PAD_REFLECT : RG_PAD_ZERO};
    prm.pad_left = (int)(cfg->causal ? total : total - total / 2);
    prm.pad_right = (int)(cfg->causal ? extra : total / 2 + extra);
    if (cfg->reflect && len <= (prm.pad_left > prm.pad_right ? prm.pad_left : prm.pad_right))
        return conv_short(p, c, x, prm, frames);
    rg_tensor out = new_tensor(p, RG_F32, c->cout, frames);
    check(p, rg_op_conv1d(p->cmd, x, &c->w, &c->b, &out, &prm), "conv1d");
    return out;
}

/* Transposed conv trimmed to L * stride samples: all the trim on the right
 * when causal (trim_right_ratio 1), else split with the larger half left. */
static rg_tensor conv_transpose_forward(pass *p, const conv *c, const rg_tensor *x)
{
    const rg_encodec_config *cfg = &p->m->cfg;
    int total = c->k - c->stride;
    int right = cfg->causal ? (int)ceil(total * cfg->trim_right_ratio) : total / 2;
    rg_tensor out = new_tensor(p, RG_F32, c->cout, length(x) * c->stride);
    check(p, rg_op_conv_transpose1d(p->cmd, x, &c->w, &c->b, &out, c->stride, total - right,
                                    right),
          "conv_transpose1d");
    return out;
}

/* y = block(x) + shortcut(x); block = ELU, conv k, ELU, conv 1. */
static rg_tensor resnet_forward(pass *p, const resnet *r, const rg_tensor *x)
{
    rg_tensor act = new_tensor(p, RG_F32, r->block[0].cin, length(x));
    elu(p, x, &act);
    rg_tensor mid = conv_forward(p, &r->block[0], &act);
    elu(p, &mid, &mid);
    rg_tensor y = conv_forward(p, &r->block[1], &mid);
    release(p, act);
    release(p, mid);
    if (p->m->cfg.conv_shortcut) {
        rg_tensor sc = conv_forward(p, &r->shortcut, x);
        check(p, rg_op_add(p->cmd, &y, &sc, &y), "residual add");
        release(p, sc);
    } else {
        check(p, rg_op_add(p->cmd, &y, x, &y), "residual add");
    }
    return y;
}

/* y = LSTM(x) + x over time; the runtime's LSTM takes [T, C]. */
static rg_tensor lstm_forward(pass *p, const lstm *l, const rg_tensor *x)
{
    int64_t t_len = length(x), dim = l->dim;
    rg_tensor seq = new_tensor(p, RG_F32, t_len, dim);
    rg_tensor x_t = rg_tensor_transpose(*x, 0, 1);
    check(p, rg_op_copy(p->cmd, &x_t, &seq), "lstm transpose");
    rg_tensor scratch = new_tensor(p, RG_F32, 4 * t_len, dim);
    rg_tensor a = seq, b = {0};
    for (int i = 0; i < l->layers; i++) {
        b = new_tensor(p, RG_F32, t_len, dim);
        check(p, rg_op_lstm(p->cmd, &a, &l->w_ih[i], &l->w_hh[i], &l->b_ih[i], &l->b_hh[i], NULL,
                            NULL, &scratch, &b),
              "lstm");
        if (i > 0)
            release(p, a);
        a = b;
    }
    check(p, rg_op_add(p->cmd, &a, &seq, &a), "lstm skip");
    rg_tensor out = new_tensor(p, RG_F32, dim, t_len);
    rg_tensor a_t = rg_tensor_transpose(a, 0, 1);
    check(p, rg_op_copy(p->cmd, &a_t, &out), "lstm transpose");
    release(p, seq);
    release(p, scratch);
    release(p, a);
    return out;
}

/* Run one layer on x (owned) and return its output (owned). */
static rg_tensor layer_forward(pass *p, const layer *ly, rg_tensor x)
{
    rg_tensor y;
    switch (ly->kind) {
    case LAYER_ELU:
        elu(p, &x, &x);
        return x;
    case LAYER_CONV:
        y = ly->conv.transposed ? conv_transpose_forward(p, &ly->conv, &x)
                                : conv_forward(p, &ly->conv, &x);
        break;
    case LAYER_RESNET:
        y = resnet_forward(p, &ly->res, &x);
        break;
    case LAYER_LSTM:
    default:
        y = lstm_forward(p, &ly->lstm, &x);
        break;
    }
    release(p, x);
    run(p);
    return y;
}

static rg_tensor stack_forward(pass *p, const stack *s, rg_tensor x)
{
    for (int i = 0; i < s->n && p->st == RG_OK; i++)
        x = layer_forward(p, &s->layers[i], x);
    return x;
}

static rg_tensor upload_audio(pass *p, const float *audio, int64_t samples)
{
    rg_tensor x = new_tensor(p, RG_F32, p->m->cfg.audio_channels, samples);
    if (p->st == RG_OK)
        check(p, rg_tensor_write_f32(&x, audio), "uploading audio");
    return x;
}

static bool check_samples(rg_encodec *m, int64_t samples, rg_error *err)
{
    if (samples < 1)
        return rg_error_set(err, RG_ERR_VALUE, m->path, 0, 0, "no audio to encode");
    return true;
}

bool rg_encodec_latent(rg_encodec *m, const float *audio, int64_t samples, float *latent,
                       rg_error *err)
{
    pass p;
    if (!check_samples(m, samples, err) || !pass_begin(&p, m, err))
        return false;
    rg_tensor z = stack_forward(&p, &m->encoder, upload_audio(&p, audio, samples));
    if (p.st == RG_OK)
        check(&p, rg_tensor_read_f32(&z, latent), "reading the latent");
    release(&p, z);
    return pass_end(&p, err);
}

bool rg_encodec_encode(rg_encodec *m, const float *audio, int64_t samples, int n_q,
                       int32_t *codes, rg_error *err)
{
    pass p;
    if (!rg_encodec_check_rows(&m->cfg, n_q, m->path, err) || !check_samples(m, samples, err) ||
        !pass_begin(&p, m, err))
        return false;
    int64_t frames = rg_encodec_frames(&m->cfg, samples);
    rg_tensor z = stack_forward(&p, &m->encoder, upload_audio(&p, audio, samples));
    rg_tensor out = new_tensor(&p, RG_I32, rvq_rows(&m->cfg, n_q), frames);
    rg_tensor z_t = rg_tensor_transpose(z, 0, 1); /* [T, D] view */
    check(&p, rg_op_rvq_encode(p.cmd, &z_t, &m->codebooks, &out), "rvq encode");
    run(&p);
    if (p.st == RG_OK)
        check(&p, rg_tensor_read(&out, codes), "reading codes");
    release(&p, z);
    release(&p, out);
    if (!pass_end(&p, err))
        return false;
    /* the pitch row, last; a pitch codec is mono (harmonic_bins needs it) */
    return !m->cfg.pitch_codebook ||
           rg_pitch_detect(&m->cfg, audio, samples, frames, codes + (n_q - 1) * frames, err);
}

/* Codes of frames [a, b) of a take of `frames` frames must be in range. */
static bool check_codes(rg_encodec *m, const int32_t *codes, int n_q, int64_t frames, int64_t a,
                        int64_t b, rg_error *err)
{
    if (!rg_encodec_check_rows(&m->cfg, n_q, m->path, err))
        return false;
    if (frames < 1)
        return rg_error_set(err, RG_ERR_VALUE, m->path, 0, 0, "no frames to decode");
    for (int q = 0; q < n_q; q++)
        for (int64_t t = a; t < b; t++)
            if (codes[q * frames + t] < 0 || codes[q * frames + t] >= m->cfg.codebook_size)
                return rg_error_set(err, RG_ERR_VALUE, m->path, 0, 0,
                                    "code %d at codebook %d, frame %lld is outside 0..%d",
                                    codes[q * frames + t], q, (long long)t,
                                    m->cfg.codebook_size - 1);
    return true;
}

/* The quantised latent z [D, b - a] of frames [a, b) of the codes. */
static rg_tensor latent_of_codes(pass *p, const int32_t *codes, int n_q, int64_t frames,
                                 int64_t a, int64_t b)
{
    int64_t n = b - a;
    rg_tensor ids = new_tensor(p, RG_I32, n_q, n);
    int32_t *part = malloc((size_t)(n_q * n) * sizeof *part);
    if (!part)
        check(p, RG_ERR_OOM, "copying codes");
    for (int q = 0; part && q < n_q; q++)
        memcpy(part + q * n, codes + q * frames + a, (size_t)n * sizeof *part);
    if (p->st == RG_OK)
        check(p, rg_tensor_write(&ids, part), "uploading codes");
    free(part);
    rg_tensor z = new_tensor(p, RG_F32, p->m->cfg.hidden_size, n);
    rg_tensor z_t = rg_tensor_transpose(z, 0, 1);
    check(p, rg_op_rvq_decode(p->cmd, &ids, &p->m->codebooks, &z_t), "rvq decode");
    release(p, ids);
    return z;
}

/* The f0 track [n] of frames [0, n) of a pitch row (rg_pitch_track), on
 * the device. */
static rg_tensor pitch_track_of(pass *p, const int32_t *row, int64_t n)
{
    int64_t shape[1] = {n};
    rg_tensor t = {0};
    float *f0 = malloc((size_t)n * sizeof *f0);
    if (!f0)
        check(p, RG_ERR_OOM, "the pitch track");
    if (f0 && p->st == RG_OK) {
        rg_pitch_track(&p->m->cfg, row, n, f0);
        check(p, rg_tensor_create(p->m->dev, RG_F32, 1, shape, &t), "allocating the pitch track");
    }
    if (f0 && p->st == RG_OK)
        check(p, rg_tensor_write_f32(&t, f0), "uploading the pitch track");
    free(f0);
    return t;
}

/* The harmonic head's output [1+K, T] for the latent z [D, T]: one conv,
 * or conv, ELU, conv with harmonic_hidden. */
static rg_tensor harmonic_head(pass *p, const rg_tensor *z)
{
    rg_tensor h = conv_forward(p, &p->m->harmonic[0], z);
    if (p->m->cfg.harmonic_hidden == 0)
        return h;
    elu(p, &h, &h);
    rg_tensor out = conv_forward(p, &p->m->harmonic[1], &h);
    release(p, h);
    return out;
}

/* out [1, count * hop] += the harmonic bass path's frames [start, start +
 * count), from the head output h [1+K, >= start + count] of frames 0...
 * and, with a pitch codebook, the pitch row `pitch` of the take. */
static void harmonic_forward(pass *p, const rg_tensor *h, const int32_t *pitch, int64_t start,
                             int64_t count, const rg_tensor *out)
{
    const rg_encodec_config *c = &p->m->cfg;
    rg_tensor frames = rg_tensor_slice(*h, 1, 0, start + count), track = {0};
    if (pitch)
        track = pitch_track_of(p, pitch, start + count);
    rg_tensor scratch = new_tensor(p, RG_F32, c->harmonic_bins + 2, start + count);
    rg_harmonic_params hp = {.hop = c->hop_length, .sample_rate = (float)c->sampling_rate,
                             .f0_min = (float)c->harmonic_f0_min,
                             .f0_max = (float)c->harmonic_f0_max, .first_frame = start,
                             .accumulate = true};
    check(p, rg_op_harmonic(p->cmd, &frames, pitch ? &track : NULL, &scratch, out, &hp),
          "harmonic bass path");
    release(p, scratch);
    if (pitch)
        release(p, track);
}

/* The codes the harmonic head reads under the generator's sustain lock
 * (encodec_ref.held_codes): where frame t's RVQ rows are the silence codes
 * while the pitch row holds frame t-1's note, they are frame t-1's (so the
 * note's last sounding frame's), for frames [0, hi) of a take of `frames`
 * frames: [rvq][hi], or NULL when no frame is so (or no memory: then the
 * head reads the codes as they are). */
static int32_t *held_codes(const rg_encodec *m, const int32_t *codes, int rvq, int64_t frames,
                           int64_t hi)
{
    if (m->n_silence == 0 || rvq > m->n_silence - 1)
        return NULL;
    const int32_t *pitch = codes + (size_t)rvq * frames;
    int32_t *out = NULL;
    for (int64_t t = 1; t < hi; t++) {
        bool quiet = pitch[t] != 0 && pitch[t] == pitch[t - 1];
        for (int q = 0; quiet && q < rvq; q++)
            quiet = codes[(size_t)q * frames + t] == m->silence[q];
        if (!quiet)
            continue;
        if (!out) {
            if (!(out = malloc((size_t)rvq * hi * sizeof *out)))
                return NULL;
            for (int q = 0; q < rvq; q++)
                memcpy(out + (size_t)q * hi, codes + (size_t)q * frames, (size_t)hi * sizeof *out);
        }
        for (int q = 0; q < rvq; q++)
            out[(size_t)q * hi + t] = out[(size_t)q * hi + t - 1];
    }
    return out;
}

/* Frames [start, start + count) of a take of `frames` frames into
 * audio [channels][count * hop], the decoder seeing the codes of frames
 * [lo, hi) (lo <= start, start + count <= hi) and the harmonic path those
 * of frames [0, start + count). */
static bool decode_window(rg_encodec *m, const int32_t *codes, int n_q, int64_t frames,
                          int64_t lo, int64_t hi, int64_t start, int64_t count, float *audio,
                          rg_error *err)
{
    bool harmonic = m->cfg.harmonic_bins > 0;
    int64_t first = harmonic ? 0 : lo, hop = m->cfg.hop_length;
    pass p;
    if (!check_codes(m, codes, n_q, frames, first, hi, err) || !pass_begin(&p, m, err))
        return false;
    int rvq = rvq_rows(&m->cfg, n_q);
    const int32_t *pitch = m->cfg.pitch_codebook ? codes + rvq * frames : NULL;
    rg_tensor z = latent_of_codes(&p, codes, rvq, frames, first, hi), h = {0};
    int32_t *held = harmonic && pitch ? held_codes(m, codes, rvq, frames, hi) : NULL;
    if (held) { /* the head hears the held codes, the decoder the silence */
        rg_tensor zh = latent_of_codes(&p, held, rvq, hi, 0, hi);
        h = harmonic_head(&p, &zh);
        release(&p, zh);
        free(held);
    } else if (harmonic) {
        h = harmonic_head(&p, &z); /* [1+K, hi] */
    }
    if (lo > first) {              /* the decoder's window of z */
        rg_tensor window = new_tensor(&p, RG_F32, m->cfg.hidden_size, hi - lo);
        rg_tensor part = rg_tensor_slice(z, 1, lo - first, hi - lo);
        check(&p, rg_op_copy(p.cmd, &part, &window), "latent window");
        release(&p, z);
        z = window;
    }
    rg_tensor y = stack_forward(&p, &m->decoder, z);
    if (start > lo || count < hi - lo) {
        rg_tensor crop = rg_tensor_slice(y, 1, (start - lo) * hop, count * hop);
        rg_tensor out = new_tensor(&p, RG_F32, m->cfg.audio_channels, count * hop);
        check(&p, rg_op_copy(p.cmd, &crop, &out), "audio window");
        release(&p, y);
        y = out;
    }
    if (harmonic) {
        harmonic_forward(&p, &h, pitch, start, count, &y);
        release(&p, h);
    }
    run(&p);
    if (p.st == RG_OK)
        check(&p, rg_tensor_read_f32(&y, audio), "reading audio");
    release(&p, y);
    return pass_end(&p, err);
}

bool rg_encodec_decode(rg_encodec *m, const int32_t *codes, int n_q, int64_t frames,
                       float *audio, rg_error *err)
{
    return decode_window(m, codes, n_q, frames, 0, frames, 0, frames, audio, err);
}

bool rg_encodec_decode_range(rg_encodec *m, const int32_t *codes, int n_q, int64_t frames,
                             int64_t start, int64_t count, int64_t context, float *audio,
                             rg_error *err)
{
    if (start < 0 || count < 1 || start + count > frames || context < 0)
        return rg_error_set(err, RG_ERR_VALUE, m->path, 0, 0,
                            "frames %lld..%lld are not inside a take of %lld frames",
                            (long long)start, (long long)(start + count), (long long)frames);
    int64_t lo = start > context ? start - context : 0;
    int64_t hi = start + count + context < frames ? start + count + context : frames;
    return decode_window(m, codes, n_q, frames, lo, hi, start, count, audio, err);
}

bool rg_encodec_encode_range(rg_encodec *m, const float *audio, int64_t samples, int n_q,
                             int64_t start, int64_t count, int64_t context, int32_t *codes,
                             rg_error *err)
{
    int64_t frames = rg_encodec_frames(&m->cfg, samples), hop = m->cfg.hop_length;
    if (!rg_encodec_check_rows(&m->cfg, n_q, m->path, err))
        return false;
    if (start < 0 || count < 1 || start + count > frames || context < 0)
        return rg_error_set(err, RG_ERR_VALUE, m->path, 0, 0,
                            "cannot encode frames %lld..%lld of %lld", (long long)start,
                            (long long)(start + count), (long long)frames);
    int64_t lo = start > context ? start - context : 0;
    int64_t hi = start + count + context < frames ? start + count + context : frames;
    int64_t first = lo * hop, len = (hi * hop < samples ? hi * hop : samples) - first;
    int channels = m->cfg.audio_channels;
    float *part = malloc((size_t)(channels * len) * sizeof *part);
    int32_t *all = malloc((size_t)(n_q * (hi - lo)) * sizeof *all);
    bool ok = part && all;
    if (!ok)
        rg_error_set(err, RG_ERR_INTERNAL, m->path, 0, 0, "out of memory");
    for (int c = 0; ok && c < channels; c++)
        memcpy(part + c * len, audio + c * samples + first, (size_t)len * sizeof *part);
    ok = ok && rg_encodec_encode(m, part, len, n_q, all, err);
    for (int q = 0; ok && q < n_q; q++)
        memcpy(codes + q * count, all + q * (hi - lo) + (start - lo), (size_t)count * sizeof *all);
    free(part);
    free(all);
    return ok;
}
