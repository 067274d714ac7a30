/* noise: white noise, like Pd's noise~, from a seeded generator so renders
 * are reproducible. */
#include "nodes/dsp.h"
#include "nodes/registry.h"

enum { P_AMP, P_SEED };

typedef struct {
    uint64_t rng;
    rg_smoothed amp;
    bool seeded;
} noise_state;

static const rg_port_def outputs[] = {
    {"out", RG_PORT_AUDIO, 1, 0, "white noise"},
};

static const rg_param_def params[] = {
    [P_AMP] = {"amp", RG_PARAM_FLOAT, 0.25, 0, 1, NULL, NULL, "peak amplitude (smoothed)"},
    [P_SEED] = {"seed", RG_PARAM_INT, 1, 0, 2147483647, NULL, NULL, "random seed: the same seed gives the same noise", true},
};

/* xorshift64*: fast, good enough for audio noise, tiny state. */
static inline float next_uniform(uint64_t *x)
{
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    uint64_t r = *x * 0x2545F4914F6CDD1DULL;
    return (float)((r >> 40) * (2.0 / 16777216.0) - 1.0);
}

static void noise_process(rg_node *n, const rg_process_ctx *ctx)
{
    noise_state *s = n->state;
    if (!s->seeded) {
        s->rng = 0x9E3779B97F4A7C15ULL ^ (uint64_t)n->params[P_SEED].num;
        s->seeded = true;
    }
    float step, amp = rg_smooth_begin(&s->amp, (float)n->params[P_AMP].num, ctx->frames, &step);
    float *out = n->out[0].ch[0];
    for (int i = 0; i < ctx->frames; i++) {
        out[i] = amp * next_uniform(&s->rng);
        amp += step;
    }
}

const rg_node_type rg_node_noise = {
    .name = "noise",
    .doc = "White noise test source.",
    .outputs = outputs, .n_outputs = 1,
    .params = params, .n_params = 2,
    .state_size = sizeof(noise_state),
    .process = noise_process,
};
