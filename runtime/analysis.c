#include "runtime/analysis.h"

#include <aubio/aubio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The onset detector's window is a duration, not a sample count: 32 ms,
 * 1536 samples at 48 kHz. A 512-sample window at 48 kHz (11 ms) is shorter
 * than a cycle of a 40-90 Hz bass, and aubio's high-frequency-content
 * detector fired on the cycles of a filtered bass note: five onsets a note
 * on the corpus's acid lines, 8.1 a second where 2.2 notes start
 * (docs/quality.md, "The synchronizer's onsets"). */
#define ONSET_WINDOW_S 0.032
/* Below this peak level (-60 dB) a report is noise, not an onset. aubio's
 * own silence gate is off: it tests the block in hand when the report
 * comes, a window after the attack, and a short click is over by then. */
#define ONSET_SILENCE 0.001f

/* Hop of a quarter window, in samples. */
static int onset_hop(double rate)
{
    long hop = lround(rate * ONSET_WINDOW_S / 4);
    return hop < 16 ? 16 : (int)hop;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

float *rg_mixdown(const float *interleaved, int64_t frames, int channels)
{
    float *mono = malloc((size_t)(frames > 0 ? frames : 1) * sizeof *mono);
    if (!mono)
        return NULL;
    for (int64_t i = 0; i < frames; i++) {
        float sum = 0;
        for (int c = 0; c < channels; c++)
            sum += interleaved[i * channels + c];
        mono[i] = sum / channels;
    }
    return mono;
}

/* ---- onsets ------------------------------------------------------------ */

/* Move an aubio onset to the first frame of its attack: the first frame,
 * shortly before the local peak, that reaches half the peak. The peak is
 * looked for within a hop (aubio's precision) of the report: further on, a
 * bass's later, larger cycles pulled the onset up to 25 ms late. */
static double refine_onset(const float *x, int64_t frames, double at, int hop, float *level)
{
    int64_t lo = (int64_t)at - hop, hi = (int64_t)at + hop;
    if (lo < 0)
        lo = 0;
    if (hi > frames)
        hi = frames;
    int64_t peak_at = lo;
    float peak = 0;
    for (int64_t i = lo; i < hi; i++) {
        if (fabsf(x[i]) > peak) {
            peak = fabsf(x[i]);
            peak_at = i;
        }
    }
    int64_t start = peak_at;
    while (start > lo && fabsf(x[start - 1]) >= 0.5f * peak)
        start--;
    /* Oscillating attacks cross zero: step back over whole cycles too. */
    for (int64_t i = start - 1; i >= lo && i >= peak_at - hop; i--)
        if (fabsf(x[i]) >= 0.5f * peak)
            start = i;
    *level = peak;
    return (double)start;
}

/* A note's end also changes the spectrum (HFC fires on its release), but
 * an onset brings energy: the first difference's energy (the high band,
 * as HFC weighs it) in the window after the attack must be at least half
 * that in the window before. Half, not all: a quiet hat in a kick's tail
 * adds less than the tail had. */
static bool brings_energy(const float *x, int64_t frames, int64_t at, int window)
{
    double before = 0, after = 0;
    for (int64_t i = at - window; i < at + window; i++) {
        if (i < 1 || i >= frames)
            continue;
        double d = (double)x[i] - x[i - 1];
        if (i < at)
            before += d * d;
        else
            after += d * d;
    }
    return after > 0.5 * before;
}

static bool push_onset(rg_onsets *o, int *cap, double at, int hop, float level)
{
    /* Refinement can move two reports onto one attack: keep the first. */
    if (o->count > 0 && at - o->at[o->count - 1] < hop)
        return true;
    if (o->count == *cap) {
        int n = *cap ? *cap * 2 : 64;
        double *a = realloc(o->at, n * sizeof *a);
        if (a)
            o->at = a;
        float *l = realloc(o->level, n * sizeof *l);
        if (l)
            o->level = l;
        if (!a || !l)
            return false;
        *cap = n;
    }
    o->at[o->count] = at;
    o->level[o->count++] = level;
    return true;
}

bool rg_detect_onsets(const float *mono, int64_t frames, double rate, rg_onsets *out, rg_error *err)
{
    memset(out, 0, sizeof *out);
    const int hop = onset_hop(rate);
    aubio_onset_t *det = new_aubio_onset("hfc", (uint_t)(4 * hop), (uint_t)hop, (uint_t)rate);
    fvec_t *in = new_fvec((uint_t)hop), *hit = new_fvec(1);
    if (!det || !in || !hit) {
        if (det) del_aubio_onset(det);
        if (in) del_fvec(in);
        if (hit) del_fvec(hit);
        return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "cannot start aubio onset detection");
    }
    aubio_onset_set_minioi_ms(det, 30);
    aubio_onset_set_silence(det, -200); /* ours instead: ONSET_SILENCE */
    int cap = 0;
    bool ok = true;
    for (int64_t pos = 0; ok && pos < frames; pos += hop) {
        for (int i = 0; i < hop; i++)
            in->data[i] = pos + i < frames ? mono[pos + i] : 0.0f;
        aubio_onset_do(det, in, hit);
        if (hit->data[0] != 0) {
            float level;
            double at = refine_onset(mono, frames, aubio_onset_get_last(det), hop, &level);
            if (level >= ONSET_SILENCE && brings_energy(mono, frames, (int64_t)at, 4 * hop))
                ok = push_onset(out, &cap, at, hop, level);
        }
    }
    del_aubio_onset(det);
    del_fvec(in);
    del_fvec(hit);
    if (!ok) {
        rg_onsets_free(out);
        return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    }
    return true;
}

void rg_onsets_free(rg_onsets *o)
{
    free(o->at);
    free(o->level);
    memset(o, 0, sizeof *o);
}

/* ---- tempo and grid ---------------------------------------------------- */

static double aubio_tempo_estimate(const float *mono, int64_t frames, double rate, double *confidence)
{
    const int win = 1024, hop = 512;
    aubio_tempo_t *t = new_aubio_tempo("default", win, hop, (uint_t)rate);
    fvec_t *in = new_fvec(hop), *beat = new_fvec(1);
    double bpm = 0;
    if (t && in && beat) {
        for (int64_t pos = 0; pos < frames; pos += hop) {
            for (int i = 0; i < hop; i++)
                in->data[i] = pos + i < frames ? mono[pos + i] : 0.0f;
            aubio_tempo_do(t, in, beat);
        }
        bpm = aubio_tempo_get_bpm(t);
        *confidence = aubio_tempo_get_confidence(t);
    }
    if (t) del_aubio_tempo(t);
    if (in) del_fvec(in);
    if (beat) del_fvec(beat);
    return bpm;
}

static double fold_tempo(double bpm, double hint)
{
    double lo = hint > 0 ? hint / M_SQRT2 : 70, hi = hint > 0 ? hint * M_SQRT2 : 180;
    while (bpm > 0 && bpm < lo)
        bpm *= 2;
    while (bpm > hi)
        bpm /= 2;
    return bpm;
}

/* Beat phase from the circular mean of onset times modulo the step. */
static double circular_phase(const rg_onsets *o, double step)
{
    double s = 0, c = 0;
    for (int k = 0; k < o->count; k++) {
        double angle = 2 * M_PI * fmod(o->at[k], step) / step;
        s += o->level[k] * sin(angle);
        c += o->level[k] * cos(angle);
    }
    double phase = atan2(s, c) / (2 * M_PI) * step;
    return phase < 0 ? phase + step : phase;
}

/* Least-squares line through (grid index, onset time): its slope is the
 * refined step, its intercept the phase. */
static void fit_grid(const rg_onsets *o, double *step, double *phase)
{
    for (int iter = 0; iter < 4; iter++) {
        double sn = 0, st = 0, snn = 0, snt = 0;
        for (int k = 0; k < o->count; k++) {
            double n = round((o->at[k] - *phase) / *step);
            sn += n;
            st += o->at[k];
            snn += n * n;
            snt += n * o->at[k];
        }
        double m = o->count, det = m * snn - sn * sn;
        if (o->count < 3 || fabs(det) < 1e-9)
            return;
        double slope = (m * snt - sn * st) / det;
        if (fabs(slope / *step - 1) > 0.05) /* a wild fit: keep the estimate */
            return;
        *step = slope;
        *phase = (st - slope * sn) / m;
    }
}

/* Sum of onset levels landing on beats of each residue mod `count`. */
static int loudest_residue(const rg_onsets *o, double origin, double step, int count)
{
    double score[32] = {0};
    for (int k = 0; k < o->count; k++) {
        double n = (o->at[k] - origin) / step;
        if (fabs(n - round(n)) > 0.125)
            continue;
        long idx = lround(n) % count;
        score[idx < 0 ? idx + count : idx] += o->level[k];
    }
    int best = 0;
    for (int i = 1; i < count; i++)
        if (score[i] > score[best] * 1.05)
            best = i;
    return best;
}

static double median_fit_ms(const rg_onsets *o, double phase, double step, double rate)
{
    rg_grid_deviation d = rg_onset_deviation(o, phase, step, rate);
    return d.median_ms;
}

/* Weighted resultant length of onset times wrapped onto a circle of
 * `step` frames: 1 when every onset sits on the grid, near 0 when none does. */
static double grid_coherence(const rg_onsets *o, double step)
{
    double s = 0, c = 0, w = 0;
    for (int k = 0; k < o->count; k++) {
        double angle = 2 * M_PI * fmod(o->at[k], step) / step;
        s += o->level[k] * sin(angle);
        c += o->level[k] * cos(angle);
        w += o->level[k];
    }
    return w > 0 ? sqrt(s * s + c * c) / w : 0;
}

/* aubio's tempo is good to a percent or two; over a few bars that is
 * enough to drift off the grid. Search +-4% around it, in steps fine enough
 * that the last onset drifts by under an eighth of a sixteenth, for the
 * sixteenth-note period on which the onsets cohere best. */
static double search_sixteenth(const rg_onsets *o, double estimate)
{
    double span = o->at[o->count - 1] - o->at[0];
    double sixteenths = span / estimate + 1;
    double step = 1.0 / (8 * sixteenths);
    double best = estimate, best_r = -1;
    for (double rel = -0.04; rel <= 0.04; rel += step) {
        double r = grid_coherence(o, estimate * (1 + rel));
        if (r > best_r + 1e-9) {
            best_r = r;
            best = estimate * (1 + rel);
        }
    }
    return best;
}

bool rg_estimate_grid(const float *mono, int64_t frames, double rate, const rg_onsets *onsets,
                      double tempo_hint, int meter_num, rg_beat_grid *grid, rg_error *err)
{
    memset(grid, 0, sizeof *grid);
    if (onsets->count < 4)
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0,
                            "too few onsets (%d) to find a beat", onsets->count);
    double bpm = fold_tempo(aubio_tempo_estimate(mono, frames, rate, &grid->confidence), tempo_hint);
    if (!(bpm > 0))
        bpm = tempo_hint > 0 ? tempo_hint : 120;
    double sixteenth = search_sixteenth(onsets, 60.0 * rate / bpm / 4);
    double phase = circular_phase(onsets, sixteenth);
    fit_grid(onsets, &sixteenth, &phase);
    double beat = sixteenth * 4;
    /* Which sixteenth of the beat is the beat, then which beat of the bar
     * is the downbeat: in both cases the one with the loudest onsets. */
    double beat_phase = phase + loudest_residue(onsets, phase, sixteenth, 4) * sixteenth;
    beat_phase = fmod(beat_phase, beat);
    if (beat_phase < 0)
        beat_phase += beat;
    int down = loudest_residue(onsets, beat_phase, beat, meter_num > 0 && meter_num <= 32 ? meter_num : 4);
    grid->tempo = 60.0 * rate / beat;
    grid->beat_frames = beat;
    grid->phase = beat_phase;
    grid->downbeat = beat_phase + down * beat;
    grid->fit_ms = median_fit_ms(onsets, phase, sixteenth, rate);
    return true;
}

/* ---- key --------------------------------------------------------------- */

/* Krumhansl-Kessler probe-tone profiles, from C. */
static const double major_profile[12] = {6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88};
static const double minor_profile[12] = {6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17};

static double correlate(const double *chroma, const double *profile, int root)
{
    double mc = 0, mp = 0;
    for (int i = 0; i < 12; i++) {
        mc += chroma[i] / 12;
        mp += profile[i] / 12;
    }
    double num = 0, dc = 0, dp = 0;
    for (int i = 0; i < 12; i++) {
        double c = chroma[(i + root) % 12] - mc, p = profile[i] - mp;
        num += c * p;
        dc += c * c;
        dp += p * p;
    }
    return dc > 0 && dp > 0 ? num / sqrt(dc * dp) : 0;
}

static bool accumulate_chroma(const float *mono, int64_t frames, double rate, double *chroma)
{
    const int size = 16384, hop = 4096;
    aubio_fft_t *fft = new_aubio_fft(size);
    fvec_t *in = new_fvec(size);
    cvec_t *spec = new_cvec(size);
    bool ok = fft && in && spec;
    for (int64_t pos = 0; ok && pos + size <= frames + hop; pos += hop) {
        for (int i = 0; i < size; i++) {
            double w = 0.5 - 0.5 * cos(2 * M_PI * i / size); /* Hann */
            in->data[i] = pos + i < frames ? (float)(mono[pos + i] * w) : 0.0f;
        }
        aubio_fft_do(fft, in, spec);
        for (uint_t b = 1; b + 1 < spec->length; b++) {
            double freq = b * rate / size;
            /* Spectral peaks only: the window's leakage into neighbouring
             * bins would otherwise smear low notes onto their semitones. */
            if (freq < 55 || freq > 2000 || spec->norm[b] < spec->norm[b - 1] ||
                spec->norm[b] < spec->norm[b + 1])
                continue;
            double midi = 69 + 12 * log2(freq / 440.0);
            int pc = ((int)lround(midi) % 12 + 12) % 12;
            chroma[pc] += (double)spec->norm[b] * spec->norm[b];
        }
    }
    if (fft) del_aubio_fft(fft);
    if (in) del_fvec(in);
    if (spec) del_cvec(spec);
    return ok;
}

bool rg_estimate_key(const float *mono, int64_t frames, double rate, rg_key *key, rg_error *err)
{
    memset(key, 0, sizeof *key);
    if (!accumulate_chroma(mono, frames, rate, key->chroma))
        return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "cannot start aubio FFT");
    double total = 0;
    for (int i = 0; i < 12; i++)
        total += key->chroma[i];
    if (total <= 0)
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0, "no pitched content to find a key in");
    for (int i = 0; i < 12; i++)
        key->chroma[i] /= total;
    key->correlation = -2;
    for (int root = 0; root < 12; root++) {
        for (int minor = 0; minor < 2; minor++) {
            double r = correlate(key->chroma, minor ? minor_profile : major_profile, root);
            if (r > key->correlation) {
                key->correlation = r;
                key->root = root;
                key->minor = minor;
            }
        }
    }
    return true;
}

const char *rg_key_name(const rg_key *key, char *buf, int size)
{
    static const char *names[12] = {"C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"};
    snprintf(buf, size, "%s %s", names[key->root % 12], key->minor ? "minor" : "major");
    return buf;
}

double rg_in_key_ratio(const rg_key *measured, int root, bool minor)
{
    static const int major_scale[7] = {0, 2, 4, 5, 7, 9, 11}, minor_scale[7] = {0, 2, 3, 5, 7, 8, 10};
    const int *scale = minor ? minor_scale : major_scale;
    double in_key = 0;
    for (int i = 0; i < 7; i++)
        in_key += measured->chroma[(root + scale[i]) % 12];
    return in_key;
}

/* ---- measures ---------------------------------------------------------- */

static double distance_to_grid(double t, double origin, double step)
{
    double n = round((t - origin) / step);
    return fabs(t - (origin + n * step));
}

rg_grid_deviation rg_onset_deviation(const rg_onsets *o, double origin, double step, double rate)
{
    rg_grid_deviation d = {0};
    if (o->count == 0)
        return d;
    double *ms = malloc(o->count * sizeof *ms);
    if (!ms)
        return d;
    for (int k = 0; k < o->count; k++) {
        ms[k] = distance_to_grid(o->at[k], origin, step) * 1000.0 / rate;
        d.mean_ms += ms[k] / o->count;
        if (ms[k] > d.max_ms)
            d.max_ms = ms[k];
    }
    qsort(ms, o->count, sizeof *ms, compare_doubles);
    d.median_ms = o->count % 2 ? ms[o->count / 2] : (ms[o->count / 2 - 1] + ms[o->count / 2]) / 2;
    d.count = o->count;
    free(ms);
    return d;
}

double rg_onset_alignment(const rg_onsets *a, const rg_onsets *b, double origin, double step,
                          double tolerance)
{
    if (a->count == 0 || b->count == 0)
        return 0;
    int hits = 0;
    for (int i = 0; i < a->count; i++) {
        double slot = round((a->at[i] - origin) / step);
        if (distance_to_grid(a->at[i], origin, step) > tolerance)
            continue;
        for (int j = 0; j < b->count; j++) {
            if (round((b->at[j] - origin) / step) == slot &&
                distance_to_grid(b->at[j], origin, step) <= tolerance) {
                hits++;
                break;
            }
        }
    }
    return (double)hits / a->count;
}
