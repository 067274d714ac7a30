/* file_in: plays an audio file, looped or once. The file is read and
 * resampled to the engine rate when the node starts, so playback is a copy. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nodes/dsp.h"
#include "nodes/registry.h"
#include "runtime/audio_file.h"

enum { P_PATH, P_LOOP, P_GAIN };

typedef struct {
    rg_audio_clip clip;
    int64_t position;
    rg_smoothed gain;
} file_in_state;

static const rg_port_def outputs[] = {
    {"out", RG_PORT_AUDIO, 2, 0, "the file's audio (mono files on both channels)"},
};
static const rg_param_def params[] = {
    [P_PATH] = {"path", RG_PARAM_STRING, 0, 0, 0, "", NULL, "audio file (WAV, FLAC, ...), relative to the patch file", true},
    [P_LOOP] = {"loop", RG_PARAM_BOOL, 1, 0, 1, NULL, NULL, "start again at the end (true) or play once (false)"},
    [P_GAIN] = {"gain", RG_PARAM_FLOAT, 1, 0, 4, NULL, NULL, "linear gain (smoothed)"},
};

static bool file_in_init(rg_node *n, const rg_host_info *host, rg_error *err)
{
    file_in_state *s = n->state;
    const char *path = n->params[P_PATH].str;
    if (!path || !path[0])
        return rg_error_set(err, RG_ERR_NODE_INIT, NULL, 0, 0, "no file given (set path=\"file.wav\")");
    char full[PATH_MAX];
    rg_resolve_path(host->base_dir, path, full, sizeof full);
    rg_error file_err;
    if (!rg_clip_load(full, host->sample_rate, &s->clip, &file_err))
        return rg_error_set(err, RG_ERR_NODE_INIT, NULL, 0, 0, "%s: %s", full, file_err.message);
    return true;
}

/* Also offer the whole file as a take, so a loop at any tempo can go
 * through a synchronizer onto the grid. */
static bool file_in_generate(rg_node *n, rg_job *job, rg_error *err)
{
    (void)job;
    file_in_state *s = n->state;
    const rg_audio_clip *c = &s->clip;
    rg_audio_take *t = malloc(sizeof *t);
    float *copy = malloc((size_t)c->frames * c->channels * sizeof *copy);
    rg_data *d = NULL;
    if (t && copy) {
        memcpy(copy, c->samples, (size_t)c->frames * c->channels * sizeof *copy);
        *t = (rg_audio_take){copy, c->frames, c->channels, c->rate};
        d = rg_data_new(RG_DATA_AUDIO, t, rg_audio_take_free);
        t = NULL;
        copy = NULL;
    }
    free(t);
    free(copy);
    if (!d)
        return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    snprintf(d->prompt, sizeof d->prompt, "%s", n->params[P_PATH].str);
    rg_node_publish(n, 0, d);
    return true;
}

static void file_in_process(rg_node *n, const rg_process_ctx *ctx)
{
    file_in_state *s = n->state;
    rg_audio *out = &n->out[0];
    const rg_audio_clip *c = &s->clip;
    bool loop = n->params[P_LOOP].num != 0;
    float step, g = rg_smooth_begin(&s->gain, (float)n->params[P_GAIN].num, ctx->frames, &step);
    for (int i = 0; i < ctx->frames; i++, g += step) {
        if (s->position >= c->frames && loop)
            s->position = 0;
        if (s->position >= c->frames) {
            out->ch[0][i] = out->ch[1][i] = 0.0f;
            continue;
        }
        const float *frame = c->samples + s->position * c->channels;
        out->ch[0][i] = g * frame[0];
        out->ch[1][i] = g * frame[c->channels > 1 ? 1 : 0];
        s->position++;
    }
}

static void file_in_destroy(rg_node *n)
{
    file_in_state *s = n->state;
    rg_clip_free(&s->clip);
}

const rg_node_type rg_node_file_in = {
    .name = "file_in",
    .doc = "Plays an audio file, looped or once, resampled to the engine rate.",
    .outputs = outputs, .n_outputs = 1,
    .params = params, .n_params = 3,
    .state_size = sizeof(file_in_state),
    .init = file_in_init,
    .generate = file_in_generate,
    .process = file_in_process,
    .destroy = file_in_destroy,
};
