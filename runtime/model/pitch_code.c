/* The pitch codebook's codes: notes <-> Hz, the f0 track a decode plays,
 * and the codes an encode finds with aubio's YIN. */
#include "runtime/model/pitch_code.h"

#include <aubio/aubio.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Mean square below -60 dBFS: no pitch (the reference's yin_f0 gate). */
static const double SILENT = 1e-6;
/* 1 - YIN's dip: a clear period (the reference's threshold, 0.15). */
static const double MIN_CONFIDENCE = 0.85;

double rg_midi_hz(double midi)
{
    return 440.0 * pow(2.0, (midi - 69.0) / 12.0);
}

int32_t rg_pitch_code(const rg_encodec_config *cfg, double hz)
{
    if (!(hz > 0))
        return 0;
    double note = rint(69.0 + 12.0 * log2(fmax(hz, 1e-3) / 440.0)) - cfg->pitch_midi_min;
    double top = cfg->pitch_notes - 1;
    return (int32_t)(note < 0 ? 0 : note > top ? top : note) + 1;
}

void rg_pitch_track(const rg_encodec_config *cfg, const int32_t *codes, int64_t frames,
                    float *f0)
{
    double held = rg_midi_hz(cfg->pitch_midi_min);
    for (int64_t t = 0; t < frames; t++) {
        bool note = codes[t] >= 1 && codes[t] <= cfg->pitch_notes;
        if (note)
            held = rg_midi_hz(cfg->pitch_midi_min + (double)codes[t] - 1.0);
        f0[t] = (float)(note ? held : -held);
    }
}

int rg_pitch_model_row(const rg_musicgen_config *mc)
{
    for (int k = 0; k < mc->codebooks; k++)
        if (mc->codebook_order[k] == mc->codebooks - 1)
            return k;
    return mc->codebooks - 1;
}

bool rg_pitch_key_lock(const rg_encodec_config *cfg, rg_lm_key key, int codebooks, int row_index,
                       int card, uint8_t *allowed)
{
    if (!cfg->pitch_codebook || key.scale == 0 || codebooks < 1 || card < 1 || row_index < 0 ||
        row_index >= codebooks)
        return false;
    memset(allowed, 1, (size_t)codebooks * card);
    uint8_t *row = allowed + (size_t)row_index * card;
    memset(row, 0, (size_t)card);
    row[0] = 1;
    for (int c = 1; c <= cfg->pitch_notes && c < card; c++)
        row[c] = (key.scale >> ((cfg->pitch_midi_min + c - 1) % 12)) & 1;
    return true;
}

void rg_pitch_note_on_frames(double frame_rate, float bpm, int frames, uint8_t *note_on)
{
    memset(note_on, 0, (size_t)frames);
    double step = frame_rate * 60.0 / ((double)bpm * 4.0); /* frames per 16th */
    for (int j = 0;; j++) {
        int64_t f = (int64_t)floor(j * step + 1e-6);
        if (f >= frames)
            break;
        note_on[f] = 1;
    }
}

/* A take that failed half-way: nothing held, nothing pointed at. */
static bool drop_take(rg_pitch_take *take, rg_lm_sampling *sp)
{
    rg_pitch_take_free(take);
    sp->allowed = NULL;
    sp->note_on = NULL;
    return false;
}

static bool take_out_of_memory(rg_pitch_take *take, rg_lm_sampling *sp, rg_error *err)
{
    rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    return drop_take(take, sp);
}

static bool check_take(const rg_musicgen_config *mc, const rg_pitch_take_options *o, rg_error *err)
{
    if (mc->codebooks < 1 || mc->codebooks > RG_LM_MAX_CODEBOOKS)
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0, "a model of %d codebooks (1..%d)",
                            mc->codebooks, RG_LM_MAX_CODEBOOKS);
    if (o->note_on_lock && (!(o->bpm > 0.0f) || !isfinite(o->bpm) || o->frames < 1))
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0,
                            "the note-on lock needs the take's tempo and length (%g bpm, %d frames)",
                            (double)o->bpm, o->frames);
    return true;
}

/* The sustain lock of a take by model `mc` (in folder `path`): its
 * silence codes, the attack (attack_ms, or the default) and release in
 * frames. */
static bool sustain_take(const char *path, const rg_musicgen_config *mc, double attack_ms,
                         rg_pitch_sustain *s, rg_error *err)
{
    if (!mc->has_silence_codes)
        return rg_error_set(err, RG_ERR_VALUE, path, 0, 0,
                            "the sustain lock needs the model's silence codes "
                            "(config.json track_context.silence_codes; export it again)");
    double rate = (double)mc->sample_rate / mc->hop;
    s->on = true;
    s->attack = (int)fmax(1.0, round((attack_ms > 0 ? attack_ms : RG_SUSTAIN_ATTACK_MS_DEFAULT) *
                                     rate / 1000.0));
    s->release = (int)fmax(1.0, round(RG_SUSTAIN_RELEASE_S * rate));
    memcpy(s->silence, mc->silence_codes, sizeof s->silence);
    return true;
}

/* Whether frame t of `pitch` is past the attack of the note it holds or
 * the release of a rest (lm.sustain_quiet). */
static bool sustain_quiet(const rg_pitch_sustain *s, const int32_t *pitch, int64_t t)
{
    int limit = pitch[t] != 0 ? s->attack : s->release, run = 1;
    while (run <= limit && t - run >= 0 && pitch[t - run] == pitch[t])
        run++;
    return run > limit;
}

void rg_pitch_sustain_frames(const rg_pitch_sustain *s, int codebooks, int32_t *codes,
                             int64_t frames, int64_t from, int64_t to)
{
    if (!s->on || codebooks < 2)
        return;
    const int32_t *pitch = codes + (size_t)(codebooks - 1) * frames;
    for (int64_t t = from; t < to; t++)
        if (sustain_quiet(s, pitch, t))
            for (int k = 0; k < codebooks - 1; k++)
                codes[(size_t)k * frames + t] = s->silence[k];
}

bool rg_pitch_take_sampling(const char *codec_path, const char *text, const rg_musicgen_config *mc,
                            const rg_pitch_take_options *o, rg_pitch_take *take,
                            rg_lm_sampling *sp, rg_error *err)
{
    *take = (rg_pitch_take){0};
    sp->allowed = NULL;
    sp->row_temperature = NULL;
    sp->note_on = NULL;
    rg_lm_key key;
    bool lock = o->key_lock && rg_lm_key_from_text(text, &key);
    bool cool = sp->temperature > 0 && o->pitch_temperature != sp->temperature;
    rg_encodec_config cfg;
    if (!check_take(mc, o, err))
        return false;
    if (!lock && !cool && !o->note_on_lock && !o->sustain_lock)
        return true;
    if (!rg_encodec_probe(codec_path, &cfg, err))
        return false;
    if (!cfg.pitch_codebook)
        return true;
    int row = rg_pitch_model_row(mc);
    if (lock) {
        if (!(take->allowed = malloc((size_t)mc->codebooks * mc->card)))
            return take_out_of_memory(take, sp, err);
        if (rg_pitch_key_lock(&cfg, key, mc->codebooks, row, mc->card, take->allowed))
            sp->allowed = take->allowed;
    }
    if (o->note_on_lock) {
        if (!(take->note_on = malloc((size_t)o->frames)))
            return take_out_of_memory(take, sp, err);
        rg_pitch_note_on_frames((double)mc->sample_rate / mc->hop, o->bpm, o->frames, take->note_on);
        sp->note_on = take->note_on;
        sp->note_row = row;
    }
    if (o->sustain_lock && !sustain_take(codec_path, mc, o->sustain_attack_ms, &take->sustain, err))
        return drop_take(take, sp);
    if (cool) {
        for (int k = 0; k < mc->codebooks; k++)
            take->rows[k] = sp->temperature;
        take->rows[row] = o->pitch_temperature;
        sp->row_temperature = take->rows;
    }
    return true;
}

void rg_pitch_take_free(rg_pitch_take *take)
{
    free(take->allowed);
    free(take->note_on);
    take->allowed = NULL;
    take->note_on = NULL;
    take->sustain.on = false;
}

/* YIN's buffer: a power of two whose first half (the span YIN compares
 * with its shifts, and the longest shift) holds two periods of the lowest
 * note. */
static uint_t yin_buffer(const rg_encodec_config *cfg)
{
    double period = cfg->sampling_rate / rg_midi_hz(cfg->pitch_midi_min);
    uint_t n = 256;
    while (n / 2 < 2 * period)
        n *= 2;
    return n;
}

/* buf = audio[from, from + its length), zeros outside the signal; returns
 * the mean square of its first half, the part YIN compares. */
static double fill_window(const float *audio, int64_t samples, int64_t from, fvec_t *buf)
{
    double energy = 0;
    uint_t half = buf->length / 2;
    for (uint_t i = 0; i < buf->length; i++) {
        int64_t s = from + (int64_t)i;
        buf->data[i] = s >= 0 && s < samples ? audio[s] : 0.0f;
        if (i < half)
            energy += (double)buf->data[i] * buf->data[i];
    }
    return energy / half;
}

bool rg_pitch_detect(const rg_encodec_config *cfg, const float *audio, int64_t samples,
                     int64_t frames, int32_t *codes, rg_error *err)
{
    uint_t n = yin_buffer(cfg);
    /* hop = buffer: each call analyses the window it is given, nothing kept */
    aubio_pitch_t *yin = new_aubio_pitch("yinfast", n, n, (uint_t)cfg->sampling_rate);
    fvec_t *buf = new_fvec(n), *hz = new_fvec(1);
    bool ok = yin && buf && hz;
    if (ok) {
        aubio_pitch_set_unit(yin, "Hz");
        aubio_pitch_set_silence(yin, -200.0f); /* the gate is SILENT, here */
    }
    for (int64_t t = 0; ok && t < frames; t++) {
        /* the compared half is centred on the frame's last sample */
        int64_t from = (t + 1) * cfg->hop_length - 1 - (int64_t)(n / 4);
        codes[t] = 0;
        if (fill_window(audio, samples, from, buf) < SILENT)
            continue;
        aubio_pitch_do(yin, buf, hz);
        if (aubio_pitch_get_confidence(yin) >= MIN_CONFIDENCE)
            codes[t] = rg_pitch_code(cfg, hz->data[0]);
    }
    if (yin)
        del_aubio_pitch(yin);
    if (buf)
        del_fvec(buf);
    if (hz)
        del_fvec(hz);
    return ok || rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0,
                              "cannot start aubio's pitch tracker (YIN over %u samples)", n);
}
