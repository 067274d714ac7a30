/* Pitch correction to a scale ("tuning a take into key"): each pitched
 * moment of a take is moved to the nearest note of a scale, by a Rubber Band
 * pitch shift that follows the take's pitch (aubio's YIN tracker).
 * What the synchronizer does for time, this does for key: a generated bass
 * whose notes wander off the key, or a loop in another key, comes out on
 * the key's notes, with its timing, length and timbre kept. Off the audio
 * thread: it allocates and runs for a while. */
#ifndef RG_SCALE_TUNE_H
#define RG_SCALE_TUNE_H

#include <stdint.h>

#include "runtime/audio_file.h"
#include "graph/error.h"

typedef struct {
    int root;       /* tonic pitch class, 0 = C ... 11 = B */
    uint16_t scale; /* bit p set: pitch class p is a note of the scale */
} rg_scale;

typedef struct {
    double voiced_share;     /* share of the take's analysis hops with a pitch */
    double median_shift_cents; /* median |shift| over the voiced hops */
} rg_tune_report;

/* The scale note nearest to `midi` (a fractional MIDI note number), as a
 * MIDI note number; ties go down. `scale` must have a bit set. */
double rg_scale_nearest(const rg_scale *s, double midi);

/* `out` gets `in` (same frames, channels, rate) with every pitched hop moved
 * to the nearest note of `scale`; unpitched hops keep the last shift, so a
 * note's attack and release move with it. */
bool rg_tune_to_scale(const rg_audio_clip *in, const rg_scale *scale, rg_audio_clip *out,
                      rg_tune_report *report, rg_error *err);

#endif
