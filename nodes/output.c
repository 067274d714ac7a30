/* output: where the graph's sound leaves it: the render file offline, the
 * node's JACK ports (NAME:out_L, NAME:out_R) live. Cables into it are summed,
 * as Pd's dac~ does, so a quick patch needs no mixer. */
#include "nodes/dsp.h"
#include "nodes/registry.h"

enum { P_GAIN };

typedef struct {
    rg_smoothed gain;
} output_state;

static const rg_port_def inputs[] = {
    {"in", RG_PORT_AUDIO, 2, 16, "what to play; several cables are summed"},
};
static const rg_param_def params[] = {
    [P_GAIN] = {"gain", RG_PARAM_FLOAT, 1, 0, 4, NULL, NULL, "master gain (smoothed)"},
};

static void output_process(rg_node *n, const rg_process_ctx *ctx)
{
    output_state *s = n->state;
    rg_sum_inputs(n, 0, &n->sink, ctx->frames);
    float step, start = rg_smooth_begin(&s->gain, (float)n->params[P_GAIN].num, ctx->frames, &step);
    for (int c = 0; c < n->sink.channels; c++) {
        float g = start;
        for (int i = 0; i < ctx->frames; i++, g += step)
            n->sink.ch[c][i] *= g;
    }
}

const rg_node_type rg_node_output = {
    .name = "output",
    .doc = "Stereo output: the render file, or JACK ports NAME:out_L and NAME:out_R live.",
    .inputs = inputs, .n_inputs = 1,
    .params = params, .n_params = 1,
    .state_size = sizeof(output_state),
    .sink_channels = 2,
    .process = output_process,
};
