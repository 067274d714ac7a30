/* The track context of track-aware checkpoints (see track_context.h). */
#include "runtime/model/track_context.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runtime/model/musicgen.h"

#define LN_EPS 1e-5f /* nn.LayerNorm's default, as train/lm.py's TrackContext */

static bool load_error(const rg_weights *w, rg_error *err, const char *what) {
    return rg_error_set(err, RG_ERR_VALUE, rg_weights_path(w), 0, 0, "track context: %s", what);
}

static bool ascii_letter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

/* Tags are words of ASCII letters (anything else could never match). */
static bool read_tags(rg_weights *w, rg_track_weights *t, rg_error *err) {
    if (!rg_config_string_array(w, "tags", &t->tag_names[0][0], RG_TRACK_TAG_CHARS,
                                RG_TRACK_MAX_TAGS, &t->tags, err))
        return false;
    for (int j = 0; j < t->tags; j++) {
        const char *s = t->tag_names[j];
        bool word = s[0] != '\0';
        for (; *s; s++) word = word && ascii_letter(*s);
        if (!word)
            return rg_error_set(err, RG_ERR_VALUE, rg_weights_path(w), 0, 0,
                                "track context: config.json \"tags\" entry %d (\"%s\") is not a "
                                "word of letters A-Z",
                                j, t->tag_names[j]);
    }
    return true;
}

/* "codebook_order": a permutation of the code rows, or absent (the
 * codec's own order). */
static bool read_order(rg_weights *w, rg_track_weights *t, rg_error *err) {
    int n = 0;
    if (!rg_config_int_array(w, "codebook_order", t->order, RG_TRACK_MAX_CODEBOOKS, &n, err))
        return false;
    bool seen[RG_TRACK_MAX_CODEBOOKS] = {false}, ok = n == 0 || n == t->codebooks;
    for (int k = 0; ok && k < n; k++) {
        ok = t->order[k] < t->codebooks && !seen[t->order[k]];
        if (ok) seen[t->order[k]] = true;
    }
    if (!ok)
        return rg_error_set(err, RG_ERR_VALUE, rg_weights_path(w), 0, 0,
                            "track context: config.json \"codebook_order\" must name each of "
                            "the %d code rows 0..%d once",
                            t->codebooks, t->codebooks - 1);
    for (int k = 0; n == 0 && k < t->codebooks; k++) t->order[k] = k;
    return true;
}

/* "silence_codes": a code of each row, or absent (no sustain lock). */
static bool read_silence(rg_weights *w, rg_track_weights *t, rg_error *err) {
    int n = 0;
    if (!rg_config_code_list(w, "silence_codes", t->codebooks, t->card, t->silence,
                             RG_TRACK_MAX_CODEBOOKS, &n, err))
        return false;
    t->has_silence = n > 0;
    return true;
}

static bool read_config(rg_weights *w, rg_track_weights *t, bool *key_input, rg_error *err) {
    int rate = 0;
    if (!rg_config_string_array(w, "roles", &t->role_names[0][0], RG_TRACK_ROLE_CHARS,
                                RG_TRACK_MAX_ROLES, &t->roles, err) ||
        !rg_config_int(w, "beat_bins", 0, &t->beat_bins, err) ||
        !rg_config_int(w, "frame_rate", 0, &rate, err) ||
        !rg_config_bool(w, "key_embed", false, key_input, err) || !read_tags(w, t, err) ||
        !read_order(w, t, err) || !read_silence(w, t, err))
        return false;
    t->frame_rate = rate;
    if (t->roles < 1)
        return load_error(w, err, "config.json \"track_context\" needs \"roles\" (role names)");
    if (t->beat_bins < 1 || rate < 1)
        return load_error(w, err,
                          "config.json \"track_context\" needs positive \"beat_bins\" and "
                          "\"frame_rate\"");
    return true;
}

/* A [rows, hidden] table read to the host. */
static bool read_host(rg_weights *w, const char *name, int rows, int hidden, float **out,
                      rg_error *err) {
    int64_t shape[2] = {rows, hidden};
    *out = malloc((size_t)rows * hidden * sizeof **out);
    if (!*out) return load_error(w, err, "out of memory");
    return rg_weights_read(w, name, 2, shape, *out, err);
}

static bool upload(rg_weights *w, rg_device *dev, const char *name, rg_dtype dtype, int ndim,
                   const int64_t *shape, rg_tensor *out, rg_error *err) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    float *host = malloc((size_t)n * sizeof *host);
    if (!host) return load_error(w, err, "out of memory");
    bool ok = rg_weights_read(w, name, ndim, shape, host, err);
    rg_status st = RG_OK;
    if (ok) st = rg_tensor_create(dev, dtype, ndim, shape, out);
    if (ok && st == RG_OK) st = rg_tensor_write_f32(out, host);
    free(host);
    if (ok && st != RG_OK)
        return rg_error_set(err, RG_ERR_INTERNAL, rg_weights_path(w), 0, 0,
                            "track context: uploading '%s': %s", name, rg_status_name(st));
    return ok;
}

static bool load_tensors(rg_weights *w, rg_device *dev, rg_dtype wtype, rg_track_weights *t,
                         bool key_input, rg_error *err) {
    for (int k = 0; k < t->codebooks; k++) {
        char name[64];
        int64_t shape[2] = {t->card + 1, t->hidden};
        snprintf(name, sizeof name, "embed_tokens.%d.weight", k);
        if (!upload(w, dev, name, wtype, 2, shape, &t->embed[k], err)) return false;
    }
    int64_t d[1] = {t->hidden};
    return upload(w, dev, "layer_norm.weight", RG_F32, 1, d, &t->ln_w, err) &&
           upload(w, dev, "layer_norm.bias", RG_F32, 1, d, &t->ln_b, err) &&
           read_host(w, "role_embed.weight", t->roles, t->hidden, &t->role_embed, err) &&
           read_host(w, "target_role_embed.weight", t->roles, t->hidden, &t->target_role_embed,
                     err) &&
           read_host(w, "beat_embed.weight", t->beat_bins, t->hidden, &t->beat_embed, err) &&
           (!key_input || read_host(w, "key_embed.weight", RG_TRACK_KEY_INPUTS, t->hidden,
                                    &t->key_embed, err)) &&
           (!t->tags || read_host(w, "tag_embed.weight", t->tags, t->hidden, &t->tag_embed, err));
}

bool rg_track_load(rg_weights *w, rg_device *dev, rg_dtype wtype, int hidden, int card,
                   int codebooks, rg_track_weights **out, rg_error *err) {
    *out = NULL;
    if (!rg_weights_select(w, "track_context.", "track_context")) return true; /* plain */
    rg_track_weights *t = calloc(1, sizeof *t);
    bool ok = t != NULL, key_input = false;
    if (ok) {
        t->hidden = hidden;
        t->card = card;
        t->codebooks = codebooks;
        ok = codebooks <= RG_TRACK_MAX_CODEBOOKS && read_config(w, t, &key_input, err) &&
             load_tensors(w, dev, wtype, t, key_input, err);
    } else {
        load_error(w, err, "out of memory");
    }
    rg_weights_select(w, "", "");
    if (!ok) {
        rg_track_free(t);
        return false;
    }
    *out = t;
    return true;
}

void rg_track_free(rg_track_weights *t) {
    if (!t) return;
    for (int k = 0; k < RG_TRACK_MAX_CODEBOOKS; k++) rg_tensor_destroy(&t->embed[k]);
    rg_tensor_destroy(&t->ln_w);
    rg_tensor_destroy(&t->ln_b);
    free(t->role_embed);
    free(t->target_role_embed);
    free(t->beat_embed);
    free(t->key_embed);
    free(t->tag_embed);
    free(t);
}

int rg_track_beat_bin(const rg_track_weights *t, int pos, float bpm) {
    /* the reference's order: positions / frame_rate * bpm / 240 */
    double bars = (double)pos / t->frame_rate * (double)bpm / 240.0;
    int bin = (int)floor((bars - floor(bars)) * t->beat_bins);
    return bin < 0 ? 0 : bin >= t->beat_bins ? t->beat_bins - 1 : bin;
}

/* The rows of key_embed that `key` switches on (corpus.key_vector's ones):
 * the tonic's, then the scale's pitch classes. Returns how many. */
static int key_rows(const rg_lm_key *key, int rows[RG_TRACK_KEY_INPUTS]) {
    if (!key || !key->scale) return 0;
    int n = 0;
    rows[n++] = key->root % 12;
    for (int p = 0; p < 12; p++)
        if (key->scale & (1u << p)) rows[n++] = 12 + p;
    return n;
}

void rg_track_add_input_terms(const rg_track_weights *t, const rg_lm_track_terms *terms, int n,
                              float *rows) {
    int d = t->hidden, on[RG_TRACK_KEY_INPUTS];
    int n_on = t->key_embed ? key_rows(&terms->key, on) : 0;
    const float *target = t->target_role_embed + (size_t)terms->role * d;
    for (int s = 0; s < n; s++) {
        const float *beat = t->beat_embed + (size_t)rg_track_beat_bin(t, s, terms->bpm) * d;
        float *row = rows + (size_t)s * d;
        for (int i = 0; i < d; i++) row[i] += target[i] + beat[i];
        for (int r = 0; r < n_on; r++)
            for (int i = 0; i < d; i++) row[i] += t->key_embed[(size_t)on[r] * d + i];
        for (int j = 0; j < t->tags; j++)
            if (terms->tags & (1u << j))
                for (int i = 0; i < d; i++) row[i] += t->tag_embed[(size_t)j * d + i];
    }
}

uint32_t rg_track_tags_in_text(const rg_track_weights *t, const char *text) {
    uint32_t on = 0;
    for (const char *p = text; t && p && *p;) {
        if (!ascii_letter(*p)) {
            p++;
            continue;
        }
        size_t len = 0;
        while (ascii_letter(p[len])) len++;
        for (int j = 0; j < t->tags; j++)
            if (strlen(t->tag_names[j]) == len && strncasecmp(p, t->tag_names[j], len) == 0)
                on |= 1u << j;
        p += len;
    }
    return on;
}

/* ------------------------------------------------------------------------ */
/* Keys named in text                                                       */

static const struct {
    const char *name;
    uint8_t steps[7]; /* semitones above the tonic, as train/corpus.py's MODES */
} modes[] = {
    {"major", {0, 2, 4, 5, 7, 9, 11}},   {"minor", {0, 2, 3, 5, 7, 8, 10}},
    {"dorian", {0, 2, 3, 5, 7, 9, 10}},  {"phrygian", {0, 1, 3, 5, 7, 8, 10}},
    {"mixolydian", {0, 2, 4, 5, 7, 9, 10}}, {"ionian", {0, 2, 4, 5, 7, 9, 11}},
    {"aeolian", {0, 2, 3, 5, 7, 8, 10}},
};

static bool ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* The key named at text[i], if one starts there. */
static bool key_at(const char *text, size_t i, rg_lm_key *key) {
    static const int letter_pc[7] = {9, 11, 0, 2, 4, 5, 7}; /* A B C D E F G */
    char c = text[i];
    if (c < 'A' || c > 'G') return false;
    if (i > 0 && (ascii_letter(text[i - 1]) || (text[i - 1] >= '0' && text[i - 1] <= '9') ||
                  text[i - 1] == '#'))
        return false;
    const char *p = text + i + 1;
    int root = letter_pc[c - 'A'];
    if (*p == '#' || *p == 'b') root += *p++ == '#' ? 1 : 11;
    if (!ascii_space(*p)) return false;
    while (ascii_space(*p)) p++;
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
        size_t len = strlen(modes[m].name);
        if (strncasecmp(p, modes[m].name, len) != 0 || ascii_letter(p[len])) continue;
        key->root = root % 12;
        key->scale = 0;
        for (int k = 0; k < 7; k++)
            key->scale |= (uint16_t)(1u << ((root + modes[m].steps[k]) % 12));
        return true;
    }
    return false;
}

bool rg_lm_key_from_text(const char *text, rg_lm_key *key) {
    *key = (rg_lm_key){0};
    for (size_t i = 0; text && text[i]; i++)
        if (key_at(text, i, key)) return true;
    return false;
}

/* Host rows role_embed[role] + sin(t) for t < frames. */
static float *context_offsets(const rg_track_weights *t, int role, int frames) {
    int d = t->hidden;
    float *rows = malloc((size_t)frames * d * sizeof *rows);
    if (!rows) return NULL;
    const float *r = t->role_embed + (size_t)role * d;
    for (int f = 0; f < frames; f++) {
        float *row = rows + (size_t)f * d;
        rg_musicgen_position(f, d, row);
        for (int i = 0; i < d; i++) row[i] += r[i];
    }
    return rows;
}

/* codes[row * stride + i] -> packed [K][frames] in the model's order. */
static int32_t *pack_codes(const rg_track_weights *t, const int32_t *codes, int frames,
                           int64_t stride) {
    int32_t *out = malloc((size_t)t->codebooks * frames * sizeof *out);
    for (int k = 0; out && k < t->codebooks; k++)
        memcpy(out + (size_t)k * frames, codes + t->order[k] * stride, (size_t)frames * sizeof *out);
    return out;
}

rg_status rg_track_memory(const rg_track_weights *t, rg_device *dev, int role,
                          const int32_t *codes, int frames, int64_t stride, const rg_tensor *out) {
    int64_t ids_shape[2] = {t->codebooks, frames}, x_shape[2] = {frames, t->hidden};
    rg_tensor ids = {0}, x = {0}, offsets = {0};
    rg_cmd *cmd = NULL;
    float *host = context_offsets(t, role, frames);
    int32_t *packed = pack_codes(t, codes, frames, stride);
    rg_status st = host && packed ? RG_OK : RG_ERR_OOM;
    if (st == RG_OK) st = rg_tensor_create(dev, RG_I32, 2, ids_shape, &ids);
    if (st == RG_OK) st = rg_tensor_create(dev, RG_F32, 2, x_shape, &x);
    if (st == RG_OK) st = rg_tensor_create(dev, RG_F32, 2, x_shape, &offsets);
    if (st == RG_OK) st = rg_tensor_write(&ids, packed);
    if (st == RG_OK) st = rg_tensor_write_f32(&offsets, host);
    if (st == RG_OK) st = rg_cmd_create(dev, &cmd);
    if (st == RG_OK) {
        int64_t one[1] = {frames};
        for (int k = 0; k < t->codebooks; k++) {
            rg_tensor row = rg_tensor_reshape(rg_tensor_slice(ids, 0, k, 1), 1, one);
            rg_op_embedding(cmd, &t->embed[k], &row, &x, k > 0);
        }
        rg_op_add(cmd, &x, &offsets, &x);
        rg_op_layer_norm(cmd, &x, &t->ln_w, &t->ln_b, LN_EPS, &offsets);
        rg_op_copy(cmd, &offsets, out);
        st = rg_cmd_run(cmd);
    }
    rg_cmd_destroy(cmd);
    rg_tensor_destroy(&ids);
    rg_tensor_destroy(&x);
    rg_tensor_destroy(&offsets);
    free(host);
    free(packed);
    return st;
}
