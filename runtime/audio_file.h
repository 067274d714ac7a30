/* Audio files through libsndfile, resampling through libsoxr. */
#ifndef RG_AUDIO_FILE_H
#define RG_AUDIO_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graph/error.h"

/* A whole file in memory, interleaved float, at `rate`. */
typedef struct {
    float *samples;
    int64_t frames;
    int channels;
    double rate;
} rg_audio_clip;

/* Read `path` and resample it to `rate` (soxr, high quality). */
bool rg_clip_load(const char *path, double rate, rg_audio_clip *clip, rg_error *err);
void rg_clip_free(rg_audio_clip *clip);
/* Resample a clip in place (soxr, high quality); `what` names it in errors. */
bool rg_clip_resample(rg_audio_clip *clip, double rate, const char *what, rg_error *err);

typedef enum {
    RG_SAMPLE_DEFAULT, /* float for WAV, 24-bit for FLAC */
    RG_SAMPLE_FLOAT,
    RG_SAMPLE_S16,
    RG_SAMPLE_S24,
} rg_sample_format;

/* Parse "float", "s16"/"16", "s24"/"24"; false if none. */
bool rg_sample_format_parse(const char *s, rg_sample_format *out);

typedef struct rg_audio_writer rg_audio_writer;

/* Open a WAV or FLAC file for writing, chosen by the extension. Integer
 * formats clip rather than wrap (SFC_SET_CLIPPING). */
rg_audio_writer *rg_writer_open(const char *path, int channels, int rate, rg_sample_format fmt,
                                rg_error *err);
/* Write `frames` interleaved frames. */
bool rg_writer_write(rg_audio_writer *w, const float *interleaved, int64_t frames, rg_error *err);
bool rg_writer_close(rg_audio_writer *w, rg_error *err);

/* `path` as seen from `base_dir` (absolute paths stay as they are). */
void rg_resolve_path(const char *base_dir, const char *path, char *out, size_t size);

#endif
