/* encoder: audio in, codec tokens out. When a new audio take arrives (a
 * file_in's file, a decoder's or a synchronizer's take) it resamples it to
 * the codec rate, mixes it to the codec's channels and encodes it with
 * EnCodec on the generation worker; the tokens go on to a generator's
 * context or a decoder. It has no audio output: nothing runs on the audio
 * thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nodes/registry.h"
#include "runtime/model/codec_audio.h"
#include "runtime/model/codec_slot.h"
#include "runtime/model/tokens.h"

enum { P_MODEL, P_BANDWIDTH, P_CODEBOOKS };

typedef struct {
    rg_codec_slot codec;
    /* the last take, for describe() */
    int codebooks;
    int64_t frames;
    double seconds, compute_seconds;
} encoder_state;

static const rg_port_def inputs[] = {
    {"audio", RG_PORT_AUDIO, 2, 1,
     "audio takes to encode (a file_in's file, a decoder's or a synchronizer's take)"},
};
static const rg_port_def outputs[] = {
    {"tokens", RG_PORT_TOKENS, 0, 0, "the take's codec tokens"},
};
static const rg_param_def params[] = {
    [P_MODEL] = {"model", RG_PARAM_STRING, 0, 0, 0, "", NULL,
                 "EnCodec checkpoint folder (encodec_32khz, a MusicGen folder), relative to the "
                 "patch file; empty: the shipped default model's codec", true},
    [P_BANDWIDTH] = {"bandwidth", RG_PARAM_FLOAT, 0, 0, 100, NULL, NULL,
                     "target kbps, which picks the number of codebooks (24 kHz model: 1.5, 3, "
                     "6, 12, 24); 0: all codebooks"},
    [P_CODEBOOKS] = {"codebooks", RG_PARAM_INT, 0, 0, 64, NULL, NULL,
                     "number of codebooks, instead of bandwidth (0: from bandwidth)", true},
};

/* Code rows to encode: codebooks=, else those of bandwidth=. */
static int codebooks(const rg_node *n, const rg_encodec_config *cfg)
{
    int asked = (int)n->params[P_CODEBOOKS].num;
    if (asked > 0)
        return asked;
    return rg_encodec_codebooks_for_bandwidth(cfg, n->params[P_BANDWIDTH].num);
}

static bool encoder_init(rg_node *n, const rg_host_info *host, rg_error *err)
{
    encoder_state *s = n->state;
    if (!rg_codec_slot_init(&s->codec, host->base_dir, n->params[P_MODEL].str, err))
        return false;
    /* too many codebooks, or fewer than a codec with a pitch codebook takes */
    rg_error why = {0};
    int rows = codebooks(n, &s->codec.cfg);
    if (!rg_encodec_check_rows(&s->codec.cfg, rows, NULL, &why))
        return rg_error_set(err, RG_ERR_NODE_INIT, NULL, 0, 0, "codebooks=%d, bandwidth=%g: %s",
                            (int)n->params[P_CODEBOOKS].num, n->params[P_BANDWIDTH].num,
                            why.message);
    return true;
}

/* Tokens for an audio take; NULL with err set on failure. */
static rg_tokens *encode_take(rg_node *n, const rg_audio_take *take, rg_error *err)
{
    encoder_state *s = n->state;
    rg_encodec *m;
    if (!rg_codec_slot_model(&s->codec, &m, err))
        return NULL;
    const rg_encodec_config *cfg = rg_encodec_get_config(m);
    int64_t samples = 0;
    float *audio = rg_codec_input(take->samples, take->frames, take->channels, take->rate, cfg,
                                  &samples, err);
    if (!audio)
        return NULL;
    rg_tokens *tk = calloc(1, sizeof *tk);
    bool ok = tk != NULL && samples > 0;
    if (ok) {
        rg_codec_describe(cfg, tk);
        tk->n_codebooks = codebooks(n, cfg);
        tk->frames = rg_encodec_frames(cfg, samples);
        tk->samples = samples;
        tk->codes = malloc((size_t)(tk->frames * tk->n_codebooks) * sizeof *tk->codes);
        ok = tk->codes
                 ? rg_encodec_encode(m, audio, samples, tk->n_codebooks, tk->codes, err)
                 : rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    } else {
        rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0, tk ? "the take is empty" : "out of memory");
    }
    free(audio);
    if (!ok) {
        rg_tokens_free(tk);
        return NULL;
    }
    return tk;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static bool encoder_generate(rg_node *n, rg_job *job, rg_error *err)
{
    encoder_state *s = n->state;
    rg_data *in = rg_node_read(n, 0, 0);
    if (!in)
        return true; /* no audio take yet */
    if (in->kind != RG_DATA_AUDIO) {
        rg_data_unref(in);
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0, "its input carries no audio take");
    }
    rg_encodec *loaded; /* load first, so the timing is of the encode alone */
    if (!rg_codec_slot_model(&s->codec, &loaded, err)) {
        rg_data_unref(in);
        return false;
    }
    double started = now();
    rg_tokens *tk = encode_take(n, in->payload, err);
    rg_data *d = tk ? rg_tokens_data(tk) : NULL;
    if (tk && !d)
        rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    if (d) {
        s->codebooks = tk->n_codebooks;
        s->frames = tk->frames;
        s->seconds = (double)tk->samples / tk->sample_rate;
        s->compute_seconds = now() - started;
        memcpy(d->prompt, in->prompt, sizeof d->prompt);
        d->seed = in->seed;
        d->tempo = in->tempo;
        d->bars = in->bars;
        rg_node_publish(n, 0, d);
        rg_job_report(job, n, 1.0);
    }
    rg_data_unref(in);
    return d != NULL;
}

static void encoder_describe(const rg_node *n, char *buf, int size)
{
    const encoder_state *s = n->state;
    if (s->frames == 0) {
        snprintf(buf, (size_t)size, "no take yet");
        return;
    }
    snprintf(buf, (size_t)size, "%.2f s into %d codebooks x %lld frames in %.2f s "
             "(%.1fx real time)", s->seconds, s->codebooks, (long long)s->frames,
             s->compute_seconds, s->seconds / (s->compute_seconds > 0 ? s->compute_seconds : 1));
}

static void encoder_process(rg_node *n, const rg_process_ctx *ctx)
{
    (void)n;
    (void)ctx;
}

static void encoder_destroy(rg_node *n)
{
    encoder_state *s = n->state;
    rg_codec_slot_free(&s->codec);
}

const rg_node_type rg_node_encoder = {
    .name = "encoder",
    .doc = "Encodes audio takes into codec tokens with EnCodec (24 or 32 kHz checkpoints), "
           "resampling the engine rate to the codec's.",
    .inputs = inputs, .n_inputs = 1,
    .outputs = outputs, .n_outputs = 1,
    .params = params, .n_params = 3,
    .state_size = sizeof(encoder_state),
    .init = encoder_init,
    .generate = encoder_generate,
    .describe = encoder_describe,
    .process = encoder_process,
    .destroy = encoder_destroy,
};
