/* Small helpers shared by the built-in nodes. Audio-thread safe. */
#ifndef RG_NODES_DSP_H
#define RG_NODES_DSP_H

#include <math.h>

#include "graph/node.h"

/* A parameter that glides to its target over one block instead of jumping,
 * so moving a fader live never clicks. */
typedef struct {
    float current;
    bool primed;
} rg_smoothed;

/* Per-frame step towards `target` across `frames`; returns the start value. */
static inline float rg_smooth_begin(rg_smoothed *s, float target, int frames, float *step)
{
    if (!s->primed) {
        s->current = target;
        s->primed = true;
    }
    float start = s->current;
    *step = frames > 0 ? (target - start) / frames : 0.0f;
    s->current = target;
    return start;
}

/* Equal-power pan: -1 left, 0 centre (-3 dB each side), +1 right. */
static inline void rg_pan_gains(float pan, float *left, float *right)
{
    float angle = (pan + 1.0f) * (float)M_PI / 4.0f;
    *left = cosf(angle);
    *right = sinf(angle);
}

static inline void rg_audio_silence(rg_audio *a, int frames)
{
    for (int c = 0; c < a->channels; c++)
        for (int i = 0; i < frames; i++)
            a->ch[c][i] = 0.0f;
}

/* Sum every cable into `dst` (channel-folded), for ports that sum. */
static inline void rg_sum_inputs(const rg_node *n, int port, rg_audio *dst, int frames)
{
    rg_audio_silence(dst, frames);
    for (int k = 0; k < n->n_in_cables[port]; k++) {
        const rg_audio *src = n->in[port][k];
        for (int c = 0; c < dst->channels; c++) {
            const float *x = rg_audio_channel(src, c);
            for (int i = 0; i < frames; i++)
                dst->ch[c][i] += x[i];
        }
    }
}

#endif
