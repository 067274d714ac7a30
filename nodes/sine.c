/* sine: a test tone, like Pd's osc~. */
#include <math.h>

#include "nodes/dsp.h"
#include "nodes/registry.h"

enum { P_FREQ, P_AMP };

typedef struct {
    double phase; /* cycles, in [0, 1) */
    rg_smoothed amp;
} sine_state;

static const rg_port_def outputs[] = {
    {"out", RG_PORT_AUDIO, 1, 0, "the tone"},
};

static const rg_param_def params[] = {
    [P_FREQ] = {"freq", RG_PARAM_FLOAT, 440, 0, 20000, NULL, NULL, "frequency in Hz"},
    [P_AMP] = {"amp", RG_PARAM_FLOAT, 0.5, 0, 1, NULL, NULL, "peak amplitude (smoothed)"},
};

static void sine_process(rg_node *n, const rg_process_ctx *ctx)
{
    sine_state *s = n->state;
    double inc = n->params[P_FREQ].num / ctx->transport->sample_rate;
    float step, amp = rg_smooth_begin(&s->amp, (float)n->params[P_AMP].num, ctx->frames, &step);
    float *out = n->out[0].ch[0];
    for (int i = 0; i < ctx->frames; i++) {
        out[i] = amp * (float)sin(2.0 * M_PI * s->phase);
        amp += step;
        s->phase += inc;
        s->phase -= floor(s->phase);
    }
}

const rg_node_type rg_node_sine = {
    .name = "sine",
    .doc = "Sine test tone.",
    .outputs = outputs, .n_outputs = 1,
    .params = params, .n_params = 2,
    .state_size = sizeof(sine_state),
    .process = sine_process,
};
