/* Listening to a take: onsets, tempo and beat phase, downbeat, key, and the
 * quality measures the synchronizer and the models are judged by. Onset and
 * tempo detection come from aubio; the grid fit and key profile are ours.
 * All positions are in frames of the analysed signal. Not for the audio
 * thread: these allocate. */
#ifndef RG_ANALYSIS_H
#define RG_ANALYSIS_H

#include <stdbool.h>
#include <stdint.h>

#include "graph/error.h"

typedef struct {
    double *at;   /* frames, ascending */
    float *level; /* peak level of each onset's attack */
    int count;
} rg_onsets;

/* Onsets of a mono signal, each refined to the first frame of its attack
 * (aubio reports them to within a hop; we want them to within a frame). */
bool rg_detect_onsets(const float *mono, int64_t frames, double rate, rg_onsets *out, rg_error *err);
void rg_onsets_free(rg_onsets *o);

/* The beat grid a signal plays on. */
typedef struct {
    double tempo;       /* beats per minute */
    double beat_frames; /* frames per beat */
    double phase;       /* frame of a beat, in [0, beat_frames) */
    double downbeat;    /* frame of the first downbeat at or after 0 */
    double confidence;  /* aubio's tempo confidence */
    double fit_ms;      /* median distance of onsets from the fitted sixteenth grid */
} rg_beat_grid;

/* Tempo from aubio, folded to the octave of `tempo_hint` when one is given
 * (0 for none: folded into 70..180 bpm), then refined by a least-squares fit
 * of the onsets to a sixteenth-note grid. The downbeat is the beat, among
 * `meter_num`, whose onsets are loudest. */
bool rg_estimate_grid(const float *mono, int64_t frames, double rate, const rg_onsets *onsets,
                      double tempo_hint, int meter_num, rg_beat_grid *grid, rg_error *err);

typedef struct {
    int root;           /* 0 = C ... 11 = B */
    bool minor;
    double correlation; /* with the Krumhansl-Kessler profile, -1..1 */
    double chroma[12];  /* normalised pitch-class energy */
} rg_key;

/* Key by correlating the signal's chroma with major and minor key profiles. */
bool rg_estimate_key(const float *mono, int64_t frames, double rate, rg_key *key, rg_error *err);
/* "A minor", "F# major". */
const char *rg_key_name(const rg_key *key, char *buf, int size);
/* Share of pitched energy on the notes of the key's scale (natural minor). */
double rg_in_key_ratio(const rg_key *measured, int root, bool minor);

/* How far onsets lie from a grid of `step` frames starting at `origin`. */
typedef struct {
    double median_ms, max_ms, mean_ms;
    int count;
} rg_grid_deviation;
rg_grid_deviation rg_onset_deviation(const rg_onsets *o, double origin, double step, double rate);

/* Share of `a`'s onsets that fall (within `tolerance` frames) on a grid
 * position where `b` also has an onset: the sixteenth-grid positions `b`
 * plays are the ones `a` should lock to. */
double rg_onset_alignment(const rg_onsets *a, const rg_onsets *b, double origin, double step,
                          double tolerance);

/* Mix interleaved audio down to a new mono buffer (caller frees). */
float *rg_mixdown(const float *interleaved, int64_t frames, int channels);

#endif
