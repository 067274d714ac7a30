/* gain: scales a signal; changes glide over a block so they never click. */
#include "nodes/dsp.h"
#include "nodes/registry.h"

enum { P_GAIN };

typedef struct {
    rg_smoothed gain;
} gain_state;

static const rg_port_def inputs[] = {
    {"in", RG_PORT_AUDIO, 2, 1, "signal to scale"},
};
static const rg_port_def outputs[] = {
    {"out", RG_PORT_AUDIO, 2, 0, "scaled signal"},
};
static const rg_param_def params[] = {
    [P_GAIN] = {"gain", RG_PARAM_FLOAT, 1, 0, 4, NULL, NULL, "linear gain (1 = unchanged; smoothed)"},
};

static void gain_process(rg_node *n, const rg_process_ctx *ctx)
{
    gain_state *s = n->state;
    rg_audio *out = &n->out[0];
    float step, start = rg_smooth_begin(&s->gain, (float)n->params[P_GAIN].num, ctx->frames, &step);
    if (n->n_in_cables[0] == 0) {
        rg_audio_silence(out, ctx->frames);
        return;
    }
    const rg_audio *in = n->in[0][0];
    for (int c = 0; c < out->channels; c++) {
        const float *x = rg_audio_channel(in, c);
        float g = start;
        for (int i = 0; i < ctx->frames; i++, g += step)
            out->ch[c][i] = g * x[i];
    }
}

const rg_node_type rg_node_gain = {
    .name = "gain",
    .doc = "Scales a signal by a smoothed gain.",
    .inputs = inputs, .n_inputs = 1,
    .outputs = outputs, .n_outputs = 1,
    .params = params, .n_params = 1,
    .state_size = sizeof(gain_state),
    .process = gain_process,
};
