#include "runtime/sync.h"

#include <math.h>
#include <rubberband/rubberband-c.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"

#define CHUNK 4096

typedef struct {
    float *ch[8];
    int channels;
    int64_t frames, cap;
} planar;

static void planar_free(planar *p)
{
    for (int c = 0; c < p->channels; c++)
        free(p->ch[c]);
    memset(p, 0, sizeof *p);
}

static bool planar_reserve(planar *p, int64_t frames)
{
    if (frames <= p->cap)
        return true;
    int64_t cap = p->cap ? p->cap : 65536;
    while (cap < frames)
        cap *= 2;
    for (int c = 0; c < p->channels; c++) {
        float *grown = realloc(p->ch[c], (size_t)cap * sizeof(float));
        if (!grown)
            return false;
        p->ch[c] = grown;
    }
    p->cap = cap;
    return true;
}

static bool deinterleave(const rg_audio_clip *clip, planar *p)
{
    memset(p, 0, sizeof *p);
    p->channels = clip->channels;
    if (!planar_reserve(p, clip->frames))
        return false;
    for (int64_t i = 0; i < clip->frames; i++)
        for (int c = 0; c < clip->channels; c++)
            p->ch[c][i] = clip->samples[i * clip->channels + c];
    p->frames = clip->frames;
    return true;
}

/* ---- stretching -------------------------------------------------------- */

static bool drain(RubberBandState rb, planar *out)
{
    int avail;
    while ((avail = rubberband_available(rb)) > 0) {
        if (!planar_reserve(out, out->frames + avail))
            return false;
        float *dst[8];
        for (int c = 0; c < out->channels; c++)
            dst[c] = out->ch[c] + out->frames;
        out->frames += rubberband_retrieve(rb, dst, (unsigned)avail);
    }
    return true;
}

/* Offline, two-pass stretch by `ratio` (output/input duration), with the R3
 * ("finer") engine: the best Rubber Band has for drums and mixed material. */
static bool stretch(const planar *in, double rate, double ratio, planar *out, rg_error *err)
{
    memset(out, 0, sizeof *out);
    out->channels = in->channels;
    RubberBandOptions opts = RubberBandOptionProcessOffline | RubberBandOptionEngineFiner |
                             RubberBandOptionChannelsTogether;
    RubberBandState rb = rubberband_new((unsigned)rate, (unsigned)in->channels, opts, ratio, 1.0);
    if (!rb)
        return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "cannot start Rubber Band");
    rubberband_set_expected_input_duration(rb, (unsigned)in->frames);
    rubberband_set_max_process_size(rb, CHUNK);
    const float *src[8];
    for (int64_t pos = 0; pos < in->frames; pos += CHUNK) {
        int n = in->frames - pos < CHUNK ? (int)(in->frames - pos) : CHUNK;
        for (int c = 0; c < in->channels; c++)
            src[c] = in->ch[c] + pos;
        rubberband_study(rb, src, (unsigned)n, pos + n >= in->frames);
    }
    bool ok = true;
    for (int64_t pos = 0; ok && pos < in->frames; pos += CHUNK) {
        int n = in->frames - pos < CHUNK ? (int)(in->frames - pos) : CHUNK;
        for (int c = 0; c < in->channels; c++)
            src[c] = in->ch[c] + pos;
        rubberband_process(rb, src, (unsigned)n, pos + n >= in->frames);
        ok = drain(rb, out);
    }
    ok = ok && drain(rb, out);
    rubberband_delete(rb);
    if (!ok) {
        planar_free(out);
        return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory while stretching");
    }
    return true;
}

/* ---- cutting to bars with a seamless loop ------------------------------- */

/* One loop of `len` frames starting at `start`. The tail is crossfaded
 * into what preceded `start` in the take, so the frame before the first is
 * the take's own previous frame: no step at the seam, and the downbeat's
 * attack at frame 0 is left untouched. Without pre-roll the head is
 * crossfaded with what followed the loop's end instead; without either, a
 * short fade on both sides. */
static void cut_loop(const planar *s, int64_t start, int64_t len, int64_t fade, float *const *loop)
{
    for (int c = 0; c < s->channels; c++)
        memcpy(loop[c], s->ch[c] + start, (size_t)len * sizeof(float));
    if (fade > len / 2)
        fade = len / 2;
    bool before = start >= fade, after = start + len + fade <= s->frames;
    for (int64_t i = 0; i < fade; i++) {
        float w = (float)(i + 0.5) / (float)fade; /* 0 -> 1 */
        for (int c = 0; c < s->channels; c++) {
            if (before) {
                int64_t j = len - fade + i;
                loop[c][j] = (1 - w) * loop[c][j] + w * s->ch[c][start - fade + i];
            } else if (after) {
                loop[c][i] = w * loop[c][i] + (1 - w) * s->ch[c][start + len + i];
            } else {
                loop[c][i] *= w;
                loop[c][len - 1 - i] *= w;
            }
        }
    }
}

static bool assemble(const planar *s, double downbeat, double bar_frames, int bars, int64_t fade,
                     rg_audio_clip *out, double rate, rg_error *err)
{
    int64_t total = llround(bars * bar_frames);
    /* A take that starts right on its downbeat has no pre-roll for the seam:
     * when it is long enough, start a bar later instead. */
    if (llround(downbeat) < fade && s->frames - llround(downbeat + bar_frames) >= total)
        downbeat += bar_frames;
    int64_t start = llround(downbeat);
    int64_t available = s->frames - start;
    int whole_bars = (int)floor(available / bar_frames);
    if (whole_bars < 1)
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0,
                            "the take has less than one bar after its first downbeat");
    /* A take shorter than asked repeats its whole bars. */
    int64_t loop_len = whole_bars >= bars ? total : llround(whole_bars * bar_frames);
    float *loop[8] = {0};
    bool ok = true;
    for (int c = 0; c < s->channels; c++)
        ok = ok && (loop[c] = malloc((size_t)loop_len * sizeof(float)));
    out->samples = ok ? malloc((size_t)total * s->channels * sizeof(float)) : NULL;
    if (out->samples) {
        cut_loop(s, start, loop_len, fade, loop);
        for (int64_t i = 0; i < total; i++)
            for (int c = 0; c < s->channels; c++)
                out->samples[i * s->channels + c] = loop[c][i % loop_len];
        out->frames = total;
        out->channels = s->channels;
        out->rate = rate;
    }
    for (int c = 0; c < s->channels; c++)
        free(loop[c]);
    return out->samples || rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
}

/* ---- the whole job ------------------------------------------------------ */

static bool analyse(const rg_audio_clip *clip, const rg_sync_options *opt, rg_beat_grid *grid,
                    rg_sync_report *report, rg_error *err)
{
    float *mono = rg_mixdown(clip->samples, clip->frames, clip->channels);
    if (!mono)
        return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    rg_onsets onsets;
    bool ok = rg_detect_onsets(mono, clip->frames, clip->rate, &onsets, err) &&
              rg_estimate_grid(mono, clip->frames, clip->rate, &onsets, opt->tempo_hint,
                               opt->meter_num, grid, err);
    if (ok) {
        rg_error key_err;
        report->key_found = rg_estimate_key(mono, clip->frames, clip->rate, &report->key, &key_err);
    }
    rg_onsets_free(&onsets);
    free(mono);
    return ok;
}

bool rg_sync_take(const rg_audio_clip *take, const rg_sync_options *opt, rg_audio_clip *out,
                  rg_sync_report *report, rg_error *err)
{
    memset(out, 0, sizeof *out);
    memset(report, 0, sizeof *report);
    if (take->channels < 1 || take->channels > 8 || take->frames < 1 || opt->bars < 1)
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0, "empty take or no bars to fill");
    /* Work at the engine rate from the start: one resampling, analysis on
     * the same frames that get cut. */
    rg_audio_clip clip = *take;
    clip.samples = malloc((size_t)take->frames * take->channels * sizeof(float));
    if (!clip.samples)
        return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    memcpy(clip.samples, take->samples, (size_t)take->frames * take->channels * sizeof(float));
    rg_beat_grid grid;
    planar in = {0}, stretched = {0};
    bool ok = rg_clip_resample(&clip, opt->rate, "take", err) && analyse(&clip, opt, &grid, report, err);
    if (ok) {
        report->source_tempo = grid.tempo;
        report->stretch_ratio = grid.tempo / opt->tempo;
        report->downbeat_s = grid.downbeat / opt->rate;
        report->grid_fit_ms = grid.fit_ms;
        ok = deinterleave(&clip, &in) || rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    }
    ok = ok && stretch(&in, opt->rate, report->stretch_ratio, &stretched, err);
    if (ok) {
        double bar = rg_bar_frames(opt->tempo, opt->meter_num, opt->meter_den, opt->rate);
        double downbeat = grid.downbeat * report->stretch_ratio;
        int64_t fade = llround((opt->crossfade_ms > 0 ? opt->crossfade_ms : 10.0) * opt->rate / 1000);
        ok = assemble(&stretched, downbeat, bar, opt->bars, fade, out, opt->rate, err);
    }
    planar_free(&in);
    planar_free(&stretched);
    rg_clip_free(&clip);
    return ok;
}
