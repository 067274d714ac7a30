#include "runtime/audio_file.h"

#include <sndfile.h>
#include <soxr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct rg_audio_writer {
    SNDFILE *file;
    char *path;
};

static bool read_all(SNDFILE *f, const SF_INFO *info, float **out, const char *path, rg_error *err)
{
    if (info->frames <= 0 || info->channels <= 0)
        return rg_error_set(err, RG_ERR_IO, path, 0, 0, "file has no audio");
    if (info->frames > (int64_t)1 << 31 || info->channels > 64)
        return rg_error_set(err, RG_ERR_IO, path, 0, 0, "file is too long to load");
    float *buf = malloc((size_t)info->frames * info->channels * sizeof *buf);
    if (!buf)
        return rg_error_set(err, RG_ERR_IO, path, 0, 0, "out of memory");
    sf_count_t got = sf_readf_float(f, buf, info->frames);
    if (got <= 0) {
        free(buf);
        return rg_error_set(err, RG_ERR_IO, path, 0, 0, "cannot read audio: %s", sf_strerror(f));
    }
    *out = buf;
    return true;
}

bool rg_clip_resample(rg_audio_clip *clip, double rate, const char *path, rg_error *err)
{
    if (clip->rate == rate)
        return true;
    size_t out_frames = (size_t)((double)clip->frames * rate / clip->rate + 0.5);
    float *out = malloc((out_frames ? out_frames : 1) * clip->channels * sizeof *out);
    if (!out)
        return rg_error_set(err, RG_ERR_IO, path, 0, 0, "out of memory");
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    size_t done = 0;
    soxr_error_t e = soxr_oneshot(clip->rate, rate, clip->channels, clip->samples,
                                  (size_t)clip->frames, NULL, out, out_frames, &done, &io, &q, NULL);
    if (e) {
        free(out);
        return rg_error_set(err, RG_ERR_IO, path, 0, 0, "resampling failed: %s", e);
    }
    free(clip->samples);
    clip->samples = out;
    clip->frames = (int64_t)done;
    clip->rate = rate;
    return true;
}

bool rg_clip_load(const char *path, double rate, rg_audio_clip *clip, rg_error *err)
{
    memset(clip, 0, sizeof *clip);
    SF_INFO info = {0};
    SNDFILE *f = sf_open(path, SFM_READ, &info);
    if (!f)
        return rg_error_set(err, RG_ERR_IO, path, 0, 0, "cannot open audio file: %s", sf_strerror(NULL));
    bool ok = read_all(f, &info, &clip->samples, path, err);
    sf_close(f);
    if (!ok)
        return false;
    clip->frames = info.frames;
    clip->channels = info.channels;
    clip->rate = info.samplerate;
    if (!rg_clip_resample(clip, rate, path, err)) {
        rg_clip_free(clip);
        return false;
    }
    return true;
}

void rg_clip_free(rg_audio_clip *clip)
{
    free(clip->samples);
    memset(clip, 0, sizeof *clip);
}

bool rg_sample_format_parse(const char *s, rg_sample_format *out)
{
    if (strcmp(s, "float") == 0 || strcmp(s, "f32") == 0)
        *out = RG_SAMPLE_FLOAT;
    else if (strcmp(s, "s16") == 0 || strcmp(s, "16") == 0)
        *out = RG_SAMPLE_S16;
    else if (strcmp(s, "s24") == 0 || strcmp(s, "24") == 0)
        *out = RG_SAMPLE_S24;
    else
        return false;
    return true;
}

static bool choose_format(const char *path, rg_sample_format fmt, int *format, rg_error *err)
{
    const char *dot = strrchr(path, '.');
    const char *ext = dot ? dot + 1 : "";
    if (strcasecmp(ext, "wav") == 0) {
        *format = SF_FORMAT_WAV;
        if (fmt == RG_SAMPLE_DEFAULT)
            fmt = RG_SAMPLE_FLOAT;
    } else if (strcasecmp(ext, "flac") == 0) {
        *format = SF_FORMAT_FLAC;
        if (fmt == RG_SAMPLE_DEFAULT)
            fmt = RG_SAMPLE_S24;
        if (fmt == RG_SAMPLE_FLOAT)
            return rg_error_set(err, RG_ERR_IO, path, 0, 0, "FLAC stores integers: use s16 or s24");
    } else {
        return rg_error_set(err, RG_ERR_IO, path, 0, 0,
                            "unknown audio file extension '.%s' (use .wav or .flac)", ext);
    }
    *format |= fmt == RG_SAMPLE_FLOAT ? SF_FORMAT_FLOAT
             : fmt == RG_SAMPLE_S16   ? SF_FORMAT_PCM_16
                                      : SF_FORMAT_PCM_24;
    return true;
}

rg_audio_writer *rg_writer_open(const char *path, int channels, int rate, rg_sample_format fmt,
                                rg_error *err)
{
    SF_INFO info = {.samplerate = rate, .channels = channels};
    if (!choose_format(path, fmt, &info.format, err))
        return NULL;
    rg_audio_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        rg_error_set(err, RG_ERR_INTERNAL, path, 0, 0, "out of memory");
        return NULL;
    }
    w->file = sf_open(path, SFM_WRITE, &info);
    if (!w->file) {
        rg_error_set(err, RG_ERR_IO, path, 0, 0, "cannot write: %s", sf_strerror(NULL));
        free(w->path);
        free(w);
        return NULL;
    }
    /* Integer formats: clip overs instead of wrapping them into loud clicks. */
    sf_command(w->file, SFC_SET_CLIPPING, NULL, SF_TRUE);
    return w;
}

bool rg_writer_write(rg_audio_writer *w, const float *interleaved, int64_t frames, rg_error *err)
{
    if (sf_writef_float(w->file, interleaved, frames) != frames)
        return rg_error_set(err, RG_ERR_IO, w->path, 0, 0, "write failed: %s", sf_strerror(w->file));
    return true;
}

bool rg_writer_close(rg_audio_writer *w, rg_error *err)
{
    if (!w)
        return true;
    int rc = sf_close(w->file);
    bool ok = rc == 0 || rg_error_set(err, RG_ERR_IO, w->path, 0, 0, "close failed: %s", sf_error_number(rc));
    free(w->path);
    free(w);
    return ok;
}

void rg_resolve_path(const char *base_dir, const char *path, char *out, size_t size)
{
    if (path[0] == '/' || !base_dir || !base_dir[0])
        snprintf(out, size, "%s", path);
    else
        snprintf(out, size, "%s/%s", base_dir, path);
}
