/* The synchronizer's work on one take: find its tempo, downbeat and key,
 * stretch it to the transport's tempo (Rubber Band), resample it to the
 * engine rate (soxr), start it on its first downbeat, cut it to exactly N
 * bars and make the loop point seamless. Off the audio thread. */
#ifndef RG_SYNC_H
#define RG_SYNC_H

#include "runtime/analysis.h"
#include "runtime/audio_file.h"

typedef struct {
    double tempo;          /* transport tempo, quarter notes per minute */
    int meter_num, meter_den;
    double rate;           /* engine rate of the result */
    int bars;              /* length of the result */
    double tempo_hint;     /* the tempo the take was asked for; 0 if unknown */
    double crossfade_ms;   /* loop seam crossfade (default 10 ms when 0) */
} rg_sync_options;

typedef struct {
    double source_tempo;   /* estimated tempo of the take */
    double stretch_ratio;  /* output duration / input duration */
    double downbeat_s;     /* first downbeat in the take, seconds */
    double grid_fit_ms;    /* median onset distance from the take's own grid */
    rg_key key;
    bool key_found;
} rg_sync_report;

/* `take` at any rate and channel count in; `out` gets exactly
 * round(bars x bar frames) frames at opt->rate, same channels. */
bool rg_sync_take(const rg_audio_clip *take, const rg_sync_options *opt, rg_audio_clip *out,
                  rg_sync_report *report, rg_error *err);

#endif
