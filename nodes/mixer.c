/* mixer: sums up to eight signals, each with its own gain and pan, in the
 * order their cables appear in the patch (the first cable is strip 1).
 * Per-strip parameters are flat names (gain1, pan1, ...) so a TouchOSC fader
 * can address one directly: /mix/gain2 0.8. */
#include "nodes/dsp.h"
#include "nodes/registry.h"

#define STRIPS 8

enum { P_GAIN, P_STRIP_GAIN, P_STRIP_PAN = P_STRIP_GAIN + STRIPS, N_PARAMS = P_STRIP_PAN + STRIPS };

typedef struct {
    rg_smoothed master;
    rg_smoothed left[STRIPS], right[STRIPS];
} mixer_state;

static const rg_port_def inputs[] = {
    {"in", RG_PORT_AUDIO, 2, STRIPS, "signals to mix, one strip per cable in patch order"},
};
static const rg_port_def outputs[] = {
    {"out", RG_PORT_AUDIO, 2, 0, "the stereo mix"},
};

#define STRIP_GAIN(k) {"gain" #k, RG_PARAM_FLOAT, 1, 0, 4, NULL, NULL, "gain of strip " #k " (smoothed)"}
#define STRIP_PAN(k) {"pan" #k, RG_PARAM_FLOAT, 0, -1, 1, NULL, NULL, "pan of strip " #k ": -1 left, 0 centre, 1 right"}

static const rg_param_def params[N_PARAMS] = {
    [P_GAIN] = {"gain", RG_PARAM_FLOAT, 1, 0, 4, NULL, NULL, "master gain (smoothed)"},
    STRIP_GAIN(1), STRIP_GAIN(2), STRIP_GAIN(3), STRIP_GAIN(4),
    STRIP_GAIN(5), STRIP_GAIN(6), STRIP_GAIN(7), STRIP_GAIN(8),
    STRIP_PAN(1), STRIP_PAN(2), STRIP_PAN(3), STRIP_PAN(4),
    STRIP_PAN(5), STRIP_PAN(6), STRIP_PAN(7), STRIP_PAN(8),
};

/* A mono strip pans with equal power; a stereo strip is balanced, keeping
 * its centre at unity so stereo sources pass through unchanged. */
static void strip_gains(const rg_node *n, int k, int channels, float *left, float *right)
{
    float gain = (float)n->params[P_STRIP_GAIN + k].num;
    float pan = (float)n->params[P_STRIP_PAN + k].num;
    if (channels == 1) {
        rg_pan_gains(pan, left, right);
    } else {
        *left = pan > 0 ? 1.0f - pan : 1.0f;
        *right = pan < 0 ? 1.0f + pan : 1.0f;
    }
    *left *= gain;
    *right *= gain;
}

static void mix_strip(mixer_state *s, const rg_node *n, int k, rg_audio *out, int frames)
{
    const rg_audio *in = n->in[0][k];
    float l, r, step_l, step_r;
    strip_gains(n, k, in->channels, &l, &r);
    float gl = rg_smooth_begin(&s->left[k], l, frames, &step_l);
    float gr = rg_smooth_begin(&s->right[k], r, frames, &step_r);
    const float *x = rg_audio_channel(in, 0), *y = rg_audio_channel(in, 1);
    for (int i = 0; i < frames; i++, gl += step_l, gr += step_r) {
        out->ch[0][i] += gl * x[i];
        out->ch[1][i] += gr * y[i];
    }
}

static void mixer_process(rg_node *n, const rg_process_ctx *ctx)
{
    mixer_state *s = n->state;
    rg_audio *out = &n->out[0];
    rg_audio_silence(out, ctx->frames);
    for (int k = 0; k < n->n_in_cables[0]; k++)
        mix_strip(s, n, k, out, ctx->frames);
    float step, g = rg_smooth_begin(&s->master, (float)n->params[P_GAIN].num, ctx->frames, &step);
    for (int i = 0; i < ctx->frames; i++, g += step) {
        out->ch[0][i] *= g;
        out->ch[1][i] *= g;
    }
}

const rg_node_type rg_node_mixer = {
    .name = "mixer",
    .doc = "Sums up to 8 signals with per-strip gain and pan, then a master gain.",
    .inputs = inputs, .n_inputs = 1,
    .outputs = outputs, .n_outputs = 1,
    .params = params, .n_params = N_PARAMS,
    .state_size = sizeof(mixer_state),
    .process = mixer_process,
};
