#include "runtime/model/codec_audio.h"

#include <soxr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Interleaved -> interleaved at another rate; a copy when the rates agree. */
static float *resample(const float *in, int64_t frames, int channels, double from, double to,
                       int64_t *out_frames, rg_error *err)
{
    size_t cap = from == to ? (size_t)frames : (size_t)((double)frames * to / from + 0.5);
    float *out = malloc((cap ? cap : 1) * (size_t)channels * sizeof *out);
    if (!out) {
        rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
        return NULL;
    }
    if (from == to) {
        memcpy(out, in, (size_t)frames * (size_t)channels * sizeof *out);
        *out_frames = frames;
        return out;
    }
    size_t done = 0;
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    soxr_error_t e = soxr_oneshot(from, to, (unsigned)channels, in, (size_t)frames, NULL, out,
                                  cap, &done, &io, &q, NULL);
    if (e) {
        free(out);
        rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "resampling: %s", e);
        return NULL;
    }
    *out_frames = (int64_t)done;
    return out;
}

static float channel_value(const float *frame, int have, int want, int c)
{
    if (have == want)
        return frame[c];
    if (want == 1) {
        float sum = 0;
        for (int k = 0; k < have; k++)
            sum += frame[k];
        return sum / (float)have;
    }
    return frame[c < have ? c : have - 1];
}

float *rg_codec_input(const float *interleaved, int64_t frames, int channels, double rate,
                      const rg_encodec_config *cfg, int64_t *samples, rg_error *err)
{
    float *at_rate = resample(interleaved, frames, channels, rate, cfg->sampling_rate, samples,
                              err);
    if (!at_rate)
        return NULL;
    int want = cfg->audio_channels;
    float *planar = malloc((size_t)(*samples > 0 ? *samples : 1) * want * sizeof *planar);
    if (!planar) {
        free(at_rate);
        rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
        return NULL;
    }
    for (int c = 0; c < want; c++)
        for (int64_t t = 0; t < *samples; t++)
            planar[c * *samples + t] = channel_value(at_rate + t * channels, channels, want, c);
    free(at_rate);
    return planar;
}

float *rg_codec_output(const float *planar, int channels, int64_t stride, int64_t samples,
                       double codec_rate, double rate, int64_t *frames, rg_error *err)
{
    float *inter = malloc((size_t)(samples > 0 ? samples : 1) * channels * sizeof *inter);
    if (!inter) {
        rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
        return NULL;
    }
    for (int64_t t = 0; t < samples; t++)
        for (int c = 0; c < channels; c++)
            inter[t * channels + c] = planar[c * stride + t];
    float *out = resample(inter, samples, channels, codec_rate, rate, frames, err);
    free(inter);
    return out;
}

void rg_codec_describe(const rg_encodec_config *cfg, rg_codes *c)
{
    snprintf(c->codec, sizeof c->codec, "encodec");
    c->sample_rate = (uint32_t)cfg->sampling_rate;
    c->hop_length = (uint32_t)cfg->hop_length;
    c->codebook_size = (uint32_t)cfg->codebook_size;
    c->channels = cfg->audio_channels;
}

bool rg_codec_accepts(const rg_encodec_config *cfg, const rg_codes *c, const char *what,
                      rg_error *err)
{
    if (strcmp(c->codec, "encodec") != 0 || c->sample_rate != (uint32_t)cfg->sampling_rate ||
        c->hop_length != (uint32_t)cfg->hop_length ||
        c->codebook_size != (uint32_t)cfg->codebook_size || c->channels != cfg->audio_channels ||
        c->n_codebooks > cfg->num_codebooks)
        return rg_error_set(err, RG_ERR_VALUE, what, 0, 0,
                            "tokens of %s at %u Hz (hop %u, %d codebooks of %u, %d ch) do not "
                            "suit the model, encodec at %d Hz (hop %d, %d codebooks of %d, %d ch)",
                            c->codec, c->sample_rate, c->hop_length, c->n_codebooks,
                            c->codebook_size, c->channels, cfg->sampling_rate, cfg->hop_length,
                            cfg->num_codebooks, cfg->codebook_size, cfg->audio_channels);
    /* with a pitch codebook, its row must be there (and all the others) */
    return rg_encodec_check_rows(cfg, c->n_codebooks, what, err);
}
