/* Between the engine's audio (interleaved, any rate and channel count) and a
 * codec's (planar, its own rate and channels), and checks that tokens suit
 * a codec. Shared by the encoder/decoder nodes and the CLI. */
#ifndef RG_CODEC_AUDIO_H
#define RG_CODEC_AUDIO_H

#include <stdbool.h>
#include <stdint.h>

#include "graph/error.h"
#include "runtime/model/codes.h"
#include "runtime/model/encodec.h"

/* Interleaved `frames` x `channels` at `rate` -> malloc'd planar
 * [cfg->audio_channels][*samples] at the codec rate (soxr, high quality);
 * several channels are averaged into a mono codec, mono is copied to every
 * channel of a stereo one. */
float *rg_codec_input(const float *interleaved, int64_t frames, int channels, double rate,
                      const rg_encodec_config *cfg, int64_t *samples, rg_error *err);

/* Planar codec output [channels][stride], first `samples` of each channel,
 * -> malloc'd interleaved at `rate` (*frames of them). */
float *rg_codec_output(const float *planar, int channels, int64_t stride, int64_t samples,
                       double codec_rate, double rate, int64_t *frames, rg_error *err);

/* Fill the identity fields of tokens made by `cfg` (codes left alone). */
void rg_codec_describe(const rg_encodec_config *cfg, rg_codes *c);

/* Tokens a model can decode: same codec, rate, hop, codebook size and
 * channels, and rows it takes (rg_encodec_check_rows: no more codebooks
 * than it has; with a pitch codebook, all of them and the pitch row).
 * `what` names them in the message (a file, a node). */
bool rg_codec_accepts(const rg_encodec_config *cfg, const rg_codes *c, const char *what,
                      rg_error *err);

#endif
