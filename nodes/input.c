/* input: where outside sound enters the graph: live, the node's JACK ports
 * NAME:in_L and NAME:in_R (the live engine writes each block into the
 * node's output before the graph runs); offline there is no outside, and
 * it plays silence. */
#include "nodes/dsp.h"
#include "nodes/registry.h"

enum { P_GAIN };

typedef struct {
    rg_smoothed gain;
} input_state;

static const rg_port_def outputs[] = {
    {"out", RG_PORT_AUDIO, 2, 0, "the incoming sound"},
};
static const rg_param_def params[] = {
    [P_GAIN] = {"gain", RG_PARAM_FLOAT, 1, 0, 4, NULL, NULL, "input gain (smoothed)"},
};

/* The host has filled `out` (or left it silent): apply the gain in place. */
static void input_process(rg_node *n, const rg_process_ctx *ctx)
{
    input_state *s = n->state;
    rg_audio *out = &n->out[0];
    float step, start = rg_smooth_begin(&s->gain, (float)n->params[P_GAIN].num, ctx->frames, &step);
    for (int c = 0; c < out->channels; c++) {
        float g = start;
        for (int i = 0; i < ctx->frames; i++, g += step)
            out->ch[c][i] *= g;
    }
}

const rg_node_type rg_node_input = {
    .name = "input",
    .doc = "Stereo input: JACK ports NAME:in_L and NAME:in_R live; silence offline.",
    .outputs = outputs, .n_outputs = 1,
    .params = params, .n_params = 1,
    .state_size = sizeof(input_state),
    .process = input_process,
};
