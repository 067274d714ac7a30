/* Pitch correction to a scale: track, decide a shift per hop, shift.
 *
 * 1. Track: aubio's YIN ("yinfast"; "yinfft" reports no confidence) over
 *    the mono mix, one estimate per hop, with a window long enough for two
 *    periods of a 40 Hz bass.
 * 2. Decide: a confident pitch moves to the nearest scale note; a hop
 *    without one keeps the shift of the last pitched hop (a note's attack,
 *    before the tracker is sure, moves with the note).
 * 3. Shift: Rubber Band in real-time mode (offline mode takes one pitch
 *    scale for the whole take), one process call per hop with that hop's
 *    pitch scale, aligned with the input sample for sample. */
#include "runtime/scale_tune.h"

#include <aubio/aubio.h>
#include <math.h>
#include <rubberband/rubberband-c.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_CHANNELS = 8 };
static const double MIN_CONFIDENCE = 0.8; /* 1 - YIN dip: a clear period */
static const double MIN_HZ = 30.0, MAX_HZ = 2000.0;

double rg_scale_nearest(const rg_scale *s, double midi)
{
    double best = midi;
    double best_dist = INFINITY;
    for (int n = (int)floor(midi) - 12; n <= (int)ceil(midi) + 12; n++) {
        int pc = ((n % 12) + 12) % 12;
        double dist = fabs(n - midi);
        if ((s->scale >> pc & 1u) && dist < best_dist) {
            best = n;
            best_dist = dist;
        }
    }
    return best;
}

/* Window (two periods of 40 Hz or more) and hop, powers of two. */
static void analysis_sizes(double rate, int *window, int *hop)
{
    int w = 256;
    while (w < 0.05 * rate)
        w *= 2;
    *window = w;
    *hop = w / 4;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* semitones[j]: the shift for hop j (frames j*hop ... j*hop+hop-1). */
static bool plan_shifts(const rg_audio_clip *in, const rg_scale *scale, int window, int hop, int hops,
                        double *semitones, rg_tune_report *report, rg_error *err)
{
    aubio_pitch_t *pitch = new_aubio_pitch("yinfast", (uint_t)window, (uint_t)hop, (uint_t)in->rate);
    fvec_t *block = new_fvec((uint_t)hop), *f0 = new_fvec(1);
    double *voiced_shift = malloc((size_t)hops * sizeof *voiced_shift);
    if (!pitch || !block || !f0 || !voiced_shift) {
        if (pitch) del_aubio_pitch(pitch);
        if (block) del_fvec(block);
        if (f0) del_fvec(f0);
        free(voiced_shift);
        return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "cannot start aubio pitch tracking");
    }
    aubio_pitch_set_unit(pitch, "Hz");
    aubio_pitch_set_silence(pitch, -50);
    /* aubio's estimate after block i is for a window centred window/2
     * frames before the block's end: it belongs to hop i - lag. */
    int lag = window / (2 * hop);
    int voiced = 0, first_voiced = -1;
    double last = 0.0;
    for (int i = 0; i < hops + lag; i++) {
        for (int k = 0; k < hop; k++) {
            int64_t f = (int64_t)i * hop + k;
            double sum = 0.0;
            if (f < in->frames)
                for (int c = 0; c < in->channels; c++)
                    sum += in->samples[f * in->channels + c];
            block->data[k] = (smpl_t)(sum / in->channels);
        }
        aubio_pitch_do(pitch, block, f0);
        int j = i - lag;
        if (j < 0)
            continue;
        double hz = f0->data[0];
        if (aubio_pitch_get_confidence(pitch) >= MIN_CONFIDENCE && hz >= MIN_HZ && hz <= MAX_HZ) {
            double midi = 69.0 + 12.0 * log2(hz / 440.0);
            last = rg_scale_nearest(scale, midi) - midi;
            voiced_shift[voiced++] = fabs(last) * 100.0;
            if (first_voiced < 0)
                first_voiced = j;
        }
        semitones[j] = last;
    }
    for (int j = 0; j < first_voiced; j++) /* the first note's attack moves with it */
        semitones[j] = semitones[first_voiced];
    report->voiced_share = hops > 0 ? (double)voiced / hops : 0.0;
    qsort(voiced_shift, (size_t)voiced, sizeof *voiced_shift, compare_double);
    report->median_shift_cents = voiced > 0 ? voiced_shift[voiced / 2] : 0.0;
    free(voiced_shift);
    del_fvec(block);
    del_fvec(f0);
    del_aubio_pitch(pitch);
    return true;
}

/* Runs the input through Rubber Band hop by hop with each hop's pitch scale;
 * out gets in->frames frames, the shifter's start delay removed. */
static bool shift(const rg_audio_clip *in, const double *semitones, int hop, int hops, float *out,
                  rg_error *err)
{
    int ch = in->channels;
    RubberBandOptions opts = RubberBandOptionProcessRealTime | RubberBandOptionEngineFiner |
                             RubberBandOptionPitchHighConsistency | RubberBandOptionChannelsTogether;
    RubberBandState rb = rubberband_new((unsigned)in->rate, (unsigned)ch, opts, 1.0, 1.0);
    float *planes = malloc((size_t)ch * hop * 2 * sizeof *planes);
    if (!rb || !planes) {
        if (rb) rubberband_delete(rb);
        free(planes);
        return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "cannot start Rubber Band");
    }
    rubberband_set_max_process_size(rb, (unsigned)hop);
    float *src[MAX_CHANNELS], *dst[MAX_CHANNELS];
    for (int c = 0; c < ch; c++) {
        src[c] = planes + (size_t)c * hop;
        dst[c] = planes + (size_t)(ch + c) * hop;
    }
    /* Rubber Band's contract for an aligned result: feed its preferred
     * start pad of silence first, then drop its start delay from the output
     * (both depend on the pitch scale, so set the first one before asking). */
    rubberband_set_pitch_scale(rb, pow(2.0, semitones[0] / 12.0));
    int64_t pad = rubberband_get_preferred_start_pad(rb);
    int64_t skip = rubberband_get_start_delay(rb), written = 0;
    int64_t last_call = (pad + in->frames + skip) / hop + 64; /* if it holds back more than it says */
    /* A new pitch scale applies to the audio leaving the shifter, which went
     * in pad + delay frames earlier: set each hop's shift that much later
     * (measured: a 3 Hz vibrato lands on its note for 6..10 hops behind at
     * 16 kHz, 2 hops either side of this). */
    int64_t behind = (pad + skip + hop / 2) / hop;
    /* the pad, the take, then silence until the delayed output is all out */
    for (int64_t i = 0; written < in->frames && i < last_call; i++) {
        int64_t from = i * hop - pad; /* input frame at this block's start */
        int64_t j = (from + hop / 2) / hop - behind;
        rubberband_set_pitch_scale(rb, pow(2.0, semitones[j < 0 ? 0 : j >= hops ? hops - 1 : j] / 12.0));
        for (int k = 0; k < hop; k++) {
            int64_t f = from + k;
            for (int c = 0; c < ch; c++)
                src[c][k] = f >= 0 && f < in->frames ? in->samples[f * ch + c] : 0.0f;
        }
        rubberband_process(rb, (const float *const *)src, (unsigned)hop, 0);
        int avail;
        while ((avail = rubberband_available(rb)) > 0 && written < in->frames) {
            int got = (int)rubberband_retrieve(rb, dst, (unsigned)(avail < hop ? avail : hop));
            for (int k = 0; k < got && written < in->frames; k++) {
                if (skip > 0) {
                    skip--;
                    continue;
                }
                for (int c = 0; c < ch; c++)
                    out[written * ch + c] = dst[c][k];
                written++;
            }
        }
    }
    rubberband_delete(rb);
    free(planes);
    for (; written < in->frames; written++)
        for (int c = 0; c < ch; c++)
            out[written * ch + c] = 0.0f;
    return true;
}

bool rg_tune_to_scale(const rg_audio_clip *in, const rg_scale *scale, rg_audio_clip *out,
                      rg_tune_report *report, rg_error *err)
{
    memset(out, 0, sizeof *out);
    *report = (rg_tune_report){0};
    if ((scale->scale & 0xfff) == 0)
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0, "the scale has no notes");
    if (in->channels < 1 || in->channels > MAX_CHANNELS || in->rate < 8000 || in->frames < 1)
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0,
                            "cannot tune a take of %d channels at %.0f Hz", in->channels, in->rate);
    int window, hop;
    analysis_sizes(in->rate, &window, &hop);
    int hops = (int)((in->frames + hop - 1) / hop);
    double *semitones = calloc((size_t)hops, sizeof *semitones);
    float *samples = malloc((size_t)in->frames * in->channels * sizeof *samples);
    bool ok = semitones && samples;
    if (!ok)
        rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    ok = ok && plan_shifts(in, scale, window, hop, hops, semitones, report, err) &&
         shift(in, semitones, hop, hops, samples, err);
    free(semitones);
    if (!ok) {
        free(samples);
        return false;
    }
    *out = (rg_audio_clip){samples, in->frames, in->channels, in->rate};
    return true;
}
