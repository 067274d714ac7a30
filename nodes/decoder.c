/* decoder: codec tokens in, audio out. When new tokens arrive (from a
 * generator or an encoder) it decodes them with EnCodec on the generation
 * worker, resamples the take to the engine rate, offers it on its output
 * (for a synchronizer) and plays it, looping, from the next bar line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nodes/registry.h"
#include "nodes/take_player.h"
#include "runtime/model/codec_audio.h"
#include "runtime/model/codec_slot.h"
#include "runtime/model/tokens.h"

enum { P_MODEL, P_CODEBOOKS, P_CHUNK, P_OVERLAP, P_CROSSFADE };

typedef struct {
    rg_codec_slot codec;
    rg_take_player player;
    double rate;
    /* the last take, for describe() */
    int codebooks;
    int64_t frames;
    double seconds, compute_seconds;
} decoder_state;

static const rg_port_def inputs[] = {
    {"tokens", RG_PORT_TOKENS, 0, 1, "codec tokens to decode (a generator's or an encoder's)"},
};
static const rg_port_def outputs[] = {
    {"audio", RG_PORT_AUDIO, 2, 0,
     "the decoded take at the engine rate, looping on the bar grid (and offered as a take)"},
};
static const rg_param_def params[] = {
    [P_MODEL] = {"model", RG_PARAM_STRING, 0, 0, 0, "", NULL,
                 "EnCodec checkpoint folder (encodec_32khz, a MusicGen folder), relative to the "
                 "patch file"},
    [P_CODEBOOKS] = {"codebooks", RG_PARAM_INT, 0, 0, 64, NULL, NULL,
                     "codebooks to decode (0: all the tokens have); fewer sound coarser"},
    [P_CHUNK] = {"chunk", RG_PARAM_FLOAT, 0, 0, 600, NULL, NULL,
                 "decode in chunks of this many seconds, reporting progress after each "
                 "(0: the whole take at once)"},
    [P_OVERLAP] = {"overlap", RG_PARAM_FLOAT, 0.16, 0, 10, NULL, NULL,
                   "seconds of tokens a chunk sees on each side (0.16 s: about -58 dB from a "
                   "whole-take decode)"},
    [P_CROSSFADE] = {"crossfade", RG_PARAM_FLOAT, 10, 1, 500, NULL, NULL,
                     "crossfade between takes, in ms"},
};

static bool decoder_init(rg_node *n, const rg_host_info *host, rg_error *err)
{
    decoder_state *s = n->state;
    s->rate = host->sample_rate;
    if (!rg_take_player_init(&s->player, host->sample_rate, n->params[P_CROSSFADE].num, true))
        return rg_error_set(err, RG_ERR_NODE_INIT, NULL, 0, 0, "out of memory");
    return rg_codec_slot_init(&s->codec, host->base_dir, n->params[P_MODEL].str, err);
}

static int64_t seconds_to_frames(double seconds, const rg_encodec_config *cfg)
{
    return (int64_t)(seconds * cfg->sampling_rate / cfg->hop_length + 0.5);
}

/* Decode all frames into planar [channels][frames * hop], chunk by chunk;
 * false with err unset when the job was cancelled. */
static bool decode_chunks(rg_node *n, rg_job *job, rg_encodec *m, const rg_tokens *tk, int n_q,
                          float *planar, rg_error *err)
{
    const rg_encodec_config *cfg = rg_encodec_get_config(m);
    int64_t frames = tk->frames, hop = cfg->hop_length;
    int64_t chunk = seconds_to_frames(n->params[P_CHUNK].num, cfg);
    if (chunk < 1 || chunk >= frames)
        return rg_encodec_decode(m, tk->codes, n_q, frames, planar, err);
    int64_t context = seconds_to_frames(n->params[P_OVERLAP].num, cfg);
    float *part = malloc((size_t)(chunk * hop * cfg->audio_channels) * sizeof *part);
    if (!part)
        return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    bool ok = true;
    for (int64_t start = 0; start < frames && ok; start += chunk) {
        int64_t count = frames - start < chunk ? frames - start : chunk;
        ok = !rg_job_cancelled(job) &&
             rg_encodec_decode_range(m, tk->codes, n_q, frames, start, count, context, part, err);
        for (int c = 0; ok && c < cfg->audio_channels; c++)
            memcpy(planar + c * frames * hop + start * hop, part + c * count * hop,
                   (size_t)(count * hop) * sizeof *part);
        if (ok)
            rg_job_report(job, n, (double)(start + count) / frames);
    }
    free(part);
    return ok;
}

/* The decoded audio as a take at the engine rate, labelled like its tokens. */
static rg_data *make_take(decoder_state *s, const rg_data *in, const float *planar,
                          rg_error *err)
{
    const rg_tokens *tk = rg_data_tokens(in);
    const rg_encodec_config *cfg = &s->codec.cfg;
    int64_t frames;
    float *audio = rg_codec_output(planar, cfg->audio_channels, tk->frames * cfg->hop_length,
                                   tk->samples, cfg->sampling_rate, s->rate, &frames, err);
    rg_audio_take *t = audio ? malloc(sizeof *t) : NULL;
    if (!t) {
        free(audio);
        if (audio)
            rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
        return NULL;
    }
    *t = (rg_audio_take){audio, frames, cfg->audio_channels, s->rate};
    rg_data *d = rg_data_new(RG_DATA_AUDIO, t, rg_audio_take_free);
    if (!d) {
        rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
        return NULL;
    }
    memcpy(d->prompt, in->prompt, sizeof d->prompt);
    d->seed = in->seed;
    d->tempo = in->tempo;
    d->bars = in->bars;
    return d;
}

static rg_data *decode_take(rg_node *n, rg_job *job, const rg_data *in, rg_error *err)
{
    decoder_state *s = n->state;
    const rg_tokens *tk = rg_data_tokens(in);
    rg_encodec *m;
    if (!rg_codec_slot_model(&s->codec, &m, err) ||
        !rg_codec_accepts(&s->codec.cfg, tk, "its tokens", err))
        return NULL;
    int asked = (int)n->params[P_CODEBOOKS].num;
    int n_q = asked > 0 && asked < tk->n_codebooks ? asked : tk->n_codebooks;
    int64_t len = tk->frames * s->codec.cfg.hop_length * s->codec.cfg.audio_channels;
    float *planar = malloc((size_t)len * sizeof *planar);
    if (!planar) {
        rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
        return NULL;
    }
    rg_data *d = NULL;
    if (decode_chunks(n, job, m, tk, n_q, planar, err))
        d = make_take(s, in, planar, err);
    free(planar);
    return d;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static bool decoder_generate(rg_node *n, rg_job *job, rg_error *err)
{
    decoder_state *s = n->state;
    rg_data *in = rg_node_read(n, 0, 0);
    if (!in)
        return true; /* no tokens yet */
    if (!rg_data_tokens(in)) {
        rg_data_unref(in);
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0, "its input carries no tokens");
    }
    rg_encodec *loaded; /* load first, so the timing is of the decode alone */
    if (!rg_codec_slot_model(&s->codec, &loaded, err)) {
        rg_data_unref(in);
        return false;
    }
    double started = now();
    rg_data *d = decode_take(n, job, in, err);
    if (d) {
        const rg_tokens *tk = rg_data_tokens(in);
        s->codebooks = tk->n_codebooks;
        s->frames = tk->frames;
        s->seconds = (double)((const rg_audio_take *)d->payload)->frames / s->rate;
        s->compute_seconds = now() - started;
    }
    rg_data_unref(in);
    if (!d)
        return false;
    rg_take_player_post(&s->player, d);
    rg_node_publish(n, 0, d);
    rg_job_report(job, n, 1.0);
    return true;
}

static void decoder_describe(const rg_node *n, char *buf, int size)
{
    const decoder_state *s = n->state;
    if (s->frames == 0) {
        snprintf(buf, (size_t)size, "no take yet");
        return;
    }
    snprintf(buf, (size_t)size, "%.2f s from %d codebooks x %lld frames, decoded in %.2f s "
             "(%.1fx real time)", s->seconds, s->codebooks, (long long)s->frames,
             s->compute_seconds, s->seconds / (s->compute_seconds > 0 ? s->compute_seconds : 1));
}

static void decoder_process(rg_node *n, const rg_process_ctx *ctx)
{
    decoder_state *s = n->state;
    rg_take_player_play(&s->player, &n->out[0], ctx);
}

static void decoder_housekeep(rg_node *n)
{
    decoder_state *s = n->state;
    rg_take_player_housekeep(&s->player);
}

static void decoder_destroy(rg_node *n)
{
    decoder_state *s = n->state;
    rg_take_player_destroy(&s->player);
    rg_codec_slot_free(&s->codec);
}

const rg_node_type rg_node_decoder = {
    .name = "decoder",
    .doc = "Decodes codec tokens to audio with EnCodec (24 or 32 kHz checkpoints), resampled "
           "to the engine rate, and plays each take from the next bar line.",
    .inputs = inputs, .n_inputs = 1,
    .outputs = outputs, .n_outputs = 1,
    .params = params, .n_params = 5,
    .state_size = sizeof(decoder_state),
    .init = decoder_init,
    .generate = decoder_generate,
    .describe = decoder_describe,
    .process = decoder_process,
    .housekeep = decoder_housekeep,
    .destroy = decoder_destroy,
};
