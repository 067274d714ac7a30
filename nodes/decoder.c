/* decoder: codec tokens in, audio out. When new tokens arrive (from a
 * generator or an encoder) it decodes them with EnCodec on the generation
 * worker, resamples the take to the engine rate, offers it on its output
 * (for a synchronizer) and plays it, looping, from the next bar line.
 *
 * Streaming: with `chunk` > 0 it decodes chunk by chunk into a growing audio
 * take (graph/data.h) that it publishes and hands to its player before the
 * first chunk. A chunk is decoded as soon as its tokens and the `overlap`
 * after them are ready, so while a generator is still making a growing
 * tokens take, the scheduler lets the decoder catch up between the
 * generator's steps (its `stream` callback): audio starts before the take
 * ends. The chunks, their order and the streaming resampler are the same
 * whether the tokens arrive growing or whole, so a streamed take is bit for
 * bit the take decoded from the finished tokens. With `chunk` = 0 the whole
 * take is decoded at once when its tokens are complete. */
#include <soxr.h>
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

/* A take being decoded chunk by chunk. */
typedef struct {
    rg_data *src;     /* the tokens (referenced); NULL when nothing is being decoded */
    rg_data *out;     /* the growing audio take (referenced; published and playing) */
    rg_data *before;  /* what was published before it, put back if it is abandoned */
    int n_q;
    int64_t chunk, context; /* codec frames */
    int64_t next;     /* codec frames decoded */
    int64_t written;  /* audio frames in `out` */
    float *part;      /* one chunk, planar at the codec rate */
    float *inter;     /* the same, interleaved and trimmed */
    soxr_t soxr;      /* NULL when the rates agree */
    double compute;   /* seconds spent decoding */
} stream_state;

typedef struct {
    rg_codec_slot codec;
    rg_take_player player;
    stream_state st;
    /* The tokens whose take the stream callback finished: generate() then
     * has nothing left to do for them (once; a /regen decodes again). */
    uint64_t streamed_id;
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
                 "patch file; empty: the shipped default model's codec", true},
    [P_CODEBOOKS] = {"codebooks", RG_PARAM_INT, 0, 0, 64, NULL, NULL,
                     "codebooks to decode (0: all the tokens have); fewer sound coarser"},
    [P_CHUNK] = {"chunk", RG_PARAM_FLOAT, 1, 0, 600, NULL, NULL,
                 "decode in chunks of this many seconds, reporting progress after each; a "
                 "growing take is decoded and played while it is made (0: the whole take at once, "
                 "when its tokens are complete: no streaming)"},
    [P_OVERLAP] = {"overlap", RG_PARAM_FLOAT, 0.16, 0, 10, NULL, NULL,
                   "seconds of tokens a chunk sees on each side (0.16 s: about -58 dB from a "
                   "whole-take decode)"},
    [P_CROSSFADE] = {"crossfade", RG_PARAM_FLOAT, 10, 1, 500, NULL, NULL,
                     "crossfade between takes, in ms", true},
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

/* `audio` (malloc'd, interleaved at the engine rate; NULL: out of memory)
 * as a take, labelled like its tokens; it is freed on failure. */
static rg_data *wrap_take(decoder_state *s, const rg_data *in, float *audio, int64_t frames,
                          rg_error *err)
{
    rg_audio_take *t = audio ? malloc(sizeof *t) : NULL;
    rg_data *d = t ? rg_data_new(RG_DATA_AUDIO, t, rg_audio_take_free) : NULL;
    if (t)
        *t = (rg_audio_take){audio, frames, s->codec.cfg.audio_channels, s->rate};
    if (!d) {
        if (!t)
            free(audio);
        rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
        return NULL;
    }
    memcpy(d->prompt, in->prompt, sizeof d->prompt);
    d->seed = in->seed;
    d->tempo = in->tempo;
    d->bars = in->bars;
    return d;
}

/* The decoded audio as a take at the engine rate. */
static rg_data *make_take(decoder_state *s, const rg_data *in, const float *planar,
                          rg_error *err)
{
    const rg_tokens *tk = rg_data_tokens(in);
    const rg_encodec_config *cfg = &s->codec.cfg;
    int64_t frames;
    float *audio = rg_codec_output(planar, cfg->audio_channels, tk->frames * cfg->hop_length,
                                   tk->samples, cfg->sampling_rate, s->rate, &frames, err);
    return audio ? wrap_take(s, in, audio, frames, err) : NULL;
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
    (void)job;
    if (rg_encodec_decode(m, tk->codes, n_q, tk->frames, planar, err))
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

/* Codec frames of the tokens that may be read now. */
static int64_t tokens_ready(const rg_data *in)
{
    return rg_data_growth(in) == RG_GROWTH_COMPLETE ? rg_data_tokens(in)->frames : rg_data_ready(in);
}

static void stream_release(stream_state *st)
{
    rg_data_unref(st->src);
    rg_data_unref(st->out);
    rg_data_unref(st->before);
    free(st->part);
    free(st->inter);
    if (st->soxr)
        soxr_delete(st->soxr);
    *st = (stream_state){0};
}

/* The take being made is given up (its tokens were abandoned, or the job
 * was cancelled): readers and the player drop it, and the port shows the
 * take from before again. */
static void stream_abandon(rg_node *n)
{
    stream_state *st = &((decoder_state *)n->state)->st;
    if (!st->src)
        return;
    rg_data_abandon(st->out);
    rg_node_publish(n, 0, st->before);
    st->before = NULL;
    stream_release(st);
}

/* Audio frames of the take at the engine rate: what soxr_oneshot would
 * make of `samples` codec-rate samples. */
static int64_t engine_frames(int64_t samples, double from, double to)
{
    return from == to ? samples : (int64_t)((double)samples * to / from + 0.5);
}

/* A silent take of `frames` frames, for a stream to fill. */
static rg_data *empty_take(decoder_state *s, const rg_data *in, int64_t frames, rg_error *err)
{
    size_t n = (size_t)(frames > 0 ? frames : 1) * s->codec.cfg.audio_channels;
    return wrap_take(s, in, calloc(n, sizeof(float)), frames, err);
}

/* Start decoding `in` chunk by chunk: the whole audio take is allocated,
 * published and handed to the player now, with nothing ready yet. */
static bool stream_begin(rg_node *n, rg_data *in, rg_error *err)
{
    decoder_state *s = n->state;
    stream_state *st = &s->st;
    const rg_tokens *tk = rg_data_tokens(in);
    const rg_encodec_config *cfg = &s->codec.cfg;
    if (!rg_codec_accepts(cfg, tk, "its tokens", err))
        return false;
    int asked = (int)n->params[P_CODEBOOKS].num;
    int64_t chunk = seconds_to_frames(n->params[P_CHUNK].num, cfg);
    *st = (stream_state){
        .n_q = asked > 0 && asked < tk->n_codebooks ? asked : tk->n_codebooks,
        .chunk = chunk < 1 ? 1 : chunk,
        .context = seconds_to_frames(n->params[P_OVERLAP].num, cfg),
    };
    size_t chunk_samples = (size_t)(st->chunk * cfg->hop_length * cfg->audio_channels);
    st->part = malloc(chunk_samples * sizeof *st->part);
    st->inter = malloc(chunk_samples * sizeof *st->inter);
    st->out = empty_take(s, in, engine_frames(tk->samples, cfg->sampling_rate, s->rate), err);
    if (!st->part || !st->inter || !st->out) {
        stream_release(st);
        return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    }
    if (cfg->sampling_rate != s->rate) {
        soxr_error_t e = NULL;
        soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
        soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
        st->soxr = soxr_create(cfg->sampling_rate, s->rate, (unsigned)cfg->audio_channels, &e, &io,
                               &q, NULL);
        if (!st->soxr) {
            stream_release(st);
            return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "resampling: %s", e ? e : "?");
        }
    }
    rg_data_begin_growth(st->out, ((rg_audio_take *)st->out->payload)->frames);
    st->src = rg_data_ref(in);
    st->before = rg_node_published(n, 0);
    rg_node_publish(n, 0, rg_data_ref(st->out));
    rg_take_player_post(&s->player, st->out);
    return true;
}

/* Resample `count` interleaved codec-rate frames (NULL: the end) into the
 * take, never past its length. */
static bool stream_write(decoder_state *s, const float *in, size_t count, rg_error *err)
{
    stream_state *st = &s->st;
    rg_audio_take *t = st->out->payload;
    float *dst = t->samples + st->written * t->channels;
    size_t room = (size_t)(t->frames - st->written), made = 0;
    if (!st->soxr) {
        made = count < room ? count : room;
        if (in)
            memcpy(dst, in, made * t->channels * sizeof *dst);
    } else {
        /* Until soxr has taken all the input (or, flushing, has nothing
         * more to give) or the take is full. */
        for (;;) {
            size_t used = 0, out = 0;
            soxr_error_t e = soxr_process(st->soxr, in, count, &used, dst + made * t->channels,
                                          room - made, &out);
            if (e)
                return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "resampling: %s", e);
            made += out;
            if (in) {
                in += used * t->channels;
                count -= used;
            }
            if ((in ? count == 0 : out == 0) || made == room || (used == 0 && out == 0))
                break;
        }
    }
    st->written += (int64_t)made;
    rg_data_grow(st->out, st->written);
    return true;
}

/* Decode the next chunk into the take. */
static bool stream_chunk(rg_node *n, rg_encodec *m, rg_error *err)
{
    decoder_state *s = n->state;
    stream_state *st = &s->st;
    const rg_tokens *tk = rg_data_tokens(st->src);
    const rg_encodec_config *cfg = &s->codec.cfg;
    int64_t hop = cfg->hop_length, frames = tk->frames;
    int64_t count = frames - st->next < st->chunk ? frames - st->next : st->chunk;
    if (!rg_encodec_decode_range(m, tk->codes, st->n_q, frames, st->next, count, st->context,
                                 st->part, err))
        return false;
    /* Only the take's own samples: the last frame may run past them. */
    int64_t first = st->next * hop, last = (st->next + count) * hop;
    if (last > tk->samples)
        last = tk->samples;
    int channels = cfg->audio_channels;
    for (int64_t i = 0; first + i < last; i++)
        for (int c = 0; c < channels; c++)
            st->inter[i * channels + c] = st->part[c * count * hop + i];
    st->next += count;
    return stream_write(s, st->inter, (size_t)(last > first ? last - first : 0), err);
}

/* The last chunk is in: flush the resampler (whatever it does not make
 * stays silent, the take being allocated at its exact length) and mark the
 * take complete. */
static bool stream_finish(rg_node *n, rg_error *err)
{
    decoder_state *s = n->state;
    stream_state *st = &s->st;
    if (st->soxr && !stream_write(s, NULL, 0, err))
        return false;
    rg_data_complete(st->out);
    const rg_tokens *tk = rg_data_tokens(st->src);
    s->codebooks = tk->n_codebooks;
    s->frames = tk->frames;
    s->seconds = (double)((const rg_audio_take *)st->out->payload)->frames / s->rate;
    s->compute_seconds = st->compute;
    stream_release(st);
    return true;
}

/* Decode every chunk whose tokens (and their overlap) are ready. Reports
 * progress if asked (not from the stream callback). false with err unset:
 * cancelled. */
static bool stream_catch_up(rg_node *n, rg_job *job, bool report, rg_error *err)
{
    decoder_state *s = n->state;
    stream_state *st = &s->st;
    rg_encodec *m;
    if (!rg_codec_slot_model(&s->codec, &m, err))
        return false;
    int64_t frames = rg_data_tokens(st->src)->frames;
    while (st->src && st->next < frames) {
        int64_t end = st->next + st->chunk + st->context;
        if (tokens_ready(st->src) < (end < frames ? end : frames))
            return true; /* wait for more tokens */
        if (rg_job_cancelled(job))
            return false;
        double started = now();
        if (!stream_chunk(n, m, err))
            return false;
        st->compute += now() - started;
        if (report)
            rg_job_report(job, n, (double)st->next / frames);
    }
    return stream_finish(n, err);
}

/* The stream callback: while a generator makes the tokens, decode what is
 * ready. Starts on a growing take; a take given up upstream is given up
 * here. Errors end the stream; generate() meets them again and reports. */
static bool decoder_stream(rg_node *n, rg_job *job, rg_error *err)
{
    decoder_state *s = n->state;
    if (s->st.src && rg_data_growth(s->st.src) == RG_GROWTH_ABANDONED)
        stream_abandon(n);
    if (n->params[P_CHUNK].num <= 0)
        return true;
    rg_data *in = rg_node_read(n, 0, 0);
    bool ok = true;
    if (in && rg_data_tokens(in) && in != s->st.src && rg_data_is_growing(in) &&
        in->id != s->streamed_id) {
        stream_abandon(n); /* a newer take replaces one still being decoded */
        rg_encodec *m;
        ok = rg_codec_slot_model(&s->codec, &m, err) && stream_begin(n, in, err);
    }
    if (ok && s->st.src && in == s->st.src && (ok = stream_catch_up(n, job, false, err)) &&
        !s->st.src)
        s->streamed_id = in->id;
    if (!ok && s->st.src)
        stream_abandon(n);
    rg_data_unref(in);
    return ok;
}

/* The whole take at once (chunk = 0), as before streaming. */
static bool decode_whole(rg_node *n, rg_job *job, rg_data *in, rg_error *err)
{
    decoder_state *s = n->state;
    double started = now();
    rg_data *d = decode_take(n, job, in, err);
    if (!d)
        return false;
    const rg_tokens *tk = rg_data_tokens(in);
    s->codebooks = tk->n_codebooks;
    s->frames = tk->frames;
    s->seconds = (double)((const rg_audio_take *)d->payload)->frames / s->rate;
    s->compute_seconds = now() - started;
    rg_take_player_post(&s->player, d);
    rg_node_publish(n, 0, d);
    return true;
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
    bool ok;
    rg_encodec *loaded; /* load first, so the timing is of the decode alone */
    uint64_t streamed = s->streamed_id;
    s->streamed_id = 0;
    if (in != s->st.src)
        stream_abandon(n);
    if (!rg_codec_slot_model(&s->codec, &loaded, err))
        ok = false;
    else if (rg_data_growth(in) == RG_GROWTH_ABANDONED || in->id == streamed)
        ok = true; /* given up upstream, or decoded while it streamed */
    else if (n->params[P_CHUNK].num <= 0)
        ok = decode_whole(n, job, in, err);
    else
        ok = (s->st.src || stream_begin(n, in, err)) && stream_catch_up(n, job, true, err) &&
             !s->st.src; /* all decoded (the tokens are complete by now) */
    if (!ok && s->st.src)
        stream_abandon(n);
    rg_data_unref(in);
    if (ok)
        rg_job_report(job, n, 1.0);
    return ok;
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
    stream_release(&s->st);
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
    .stream = decoder_stream,
    .describe = decoder_describe,
    .process = decoder_process,
    .housekeep = decoder_housekeep,
    .destroy = decoder_destroy,
};
