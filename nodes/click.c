/* click: a metronome on the transport's beat grid, so tempo is audible and
 * timing is testable. Each beat starts a short decaying tone exactly on the
 * beat's first frame; the downbeat is higher and louder. */
#include <math.h>

#include "nodes/dsp.h"
#include "nodes/registry.h"

enum { P_AMP, P_FREQ, P_ACCENT, P_DECAY };

typedef struct {
    double phase;      /* of the ringing tone, in cycles */
    double freq;       /* of the current click */
    float level;       /* current envelope level; 0 until the first beat */
    float decay_mul;   /* per-frame envelope factor */
} click_state;

static const rg_port_def outputs[] = {
    {"out", RG_PORT_AUDIO, 1, 0, "the click track"},
};

static const rg_param_def params[] = {
    [P_AMP] = {"amp", RG_PARAM_FLOAT, 0.5, 0, 1, NULL, NULL, "peak amplitude of a beat"},
    [P_FREQ] = {"freq", RG_PARAM_FLOAT, 1000, 20, 10000, NULL, NULL, "tone of a beat in Hz (the downbeat is an octave up)"},
    [P_ACCENT] = {"accent", RG_PARAM_FLOAT, 1.5, 1, 4, NULL, NULL, "downbeat level relative to the other beats"},
    [P_DECAY] = {"decay", RG_PARAM_FLOAT, 0.03, 0.001, 1, NULL, NULL, "time for a click to fall by 60 dB, in seconds"},
};

static void start_click(click_state *s, const rg_node *n, long beat, int meter_num, double rate)
{
    bool downbeat = beat % meter_num == 0;
    double amp = n->params[P_AMP].num * (downbeat ? n->params[P_ACCENT].num : 1.0);
    s->freq = n->params[P_FREQ].num * (downbeat ? 2.0 : 1.0);
    s->level = (float)fmin(amp, 1.0);
    s->phase = 0.0;
    s->decay_mul = (float)pow(0.001, 1.0 / (n->params[P_DECAY].num * rate));
}

static void click_process(rg_node *n, const rg_process_ctx *ctx)
{
    click_state *s = n->state;
    const rg_transport *t = ctx->transport;
    float *out = n->out[0].ch[0];
    double bpf = rg_transport_beats_per_frame(t);
    /* The next beat at or after this block's first frame, and its frame offset. */
    long beat = (long)ceil(t->beat - 1e-9);
    double next = t->playing ? (beat - t->beat) / bpf : INFINITY;
    for (int i = 0; i < ctx->frames; i++) {
        if (i >= next - 1e-6) {
            start_click(s, n, beat, t->meter_num, t->sample_rate);
            beat++;
            next = (beat - t->beat) / bpf;
        }
        /* Cosine: the click's first frame is its peak, a sharp onset. */
        out[i] = s->level * (float)cos(2.0 * M_PI * s->phase);
        s->phase += s->freq / t->sample_rate;
        s->phase -= floor(s->phase);
        s->level *= s->decay_mul;
    }
}

const rg_node_type rg_node_click = {
    .name = "click",
    .doc = "Metronome on the beat grid: one click per beat, the downbeat accented.",
    .outputs = outputs, .n_outputs = 1,
    .params = params, .n_params = 4,
    .state_size = sizeof(click_state),
    .process = click_process,
};
