#version 450
// Attention for one (batch, head, query) per work group, streaming over the
// keys in chunks of WG with an online softmax (running max and sum, as in
// flash attention), so any number of keys fits in a few hundred bytes of
// shared memory. Thread d accumulates output dims d and d + WG.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer K { float k[]; };
layout(std430, binding = 2) readonly buffer V { float v[]; };
layout(std430, binding = 3) readonly buffer Bias { float bias[]; };
layout(std430, binding = 4) writeonly buffer O { float o[]; };

layout(push_constant) uniform Push {
    PUSH_OFFSETS
    uint nh, tq, tk, d;
    uint qs0, qs1, qs2;
    uint ks0, ks1, ks2;
    uint vs0, vs1, vs2;
    uint os0, os1, os2;
    uint bs0, bs1, bs2, bs3;
    float scale;
    uint causal;
    uint has_bias;
    uint nb;
} pc;

shared float qv[256];
shared float p[WG];
shared float red[64];

float group_max(float x) {
    float s = subgroupMax(x);
    if (subgroupElect()) red[gl_SubgroupID] = s;
    barrier();
    float r = red[0];
    for (uint i = 1; i < gl_NumSubgroups; i++) r = max(r, red[i]);
    barrier();
    return r;
}

float group_sum(float x) {
    float s = subgroupAdd(x);
    if (subgroupElect()) red[gl_SubgroupID] = s;
    barrier();
    float r = red[0];
    for (uint i = 1; i < gl_NumSubgroups; i++) r += red[i];
    barrier();
    return r;
}

void main() {
    uint g = group_linear();
    uint i = g % pc.tq, h = (g / pc.tq) % pc.nh, b = g / (pc.tq * pc.nh);
    uint tid = gl_LocalInvocationID.x;
    if (b >= pc.nb) return; // spare group of a 2-D grid (uniform)
    uint qb = pc.off[0] + b * pc.qs0 + h * pc.qs1 + i * pc.qs2;
    uint kb = pc.off[1] + b * pc.ks0 + h * pc.ks1;
    uint vb = pc.off[2] + b * pc.vs0 + h * pc.vs1;
    uint bb = pc.off[3] + b * pc.bs0 + h * pc.bs1 + i * pc.bs2;
    for (uint e = tid; e < pc.d; e += WG) qv[e] = q[qb + e];
    barrier();
    uint nkeys = pc.causal != 0u ? pc.tk - pc.tq + i + 1u : pc.tk;
    const float NEG_INF = -1.0 / 0.0;
    float m = NEG_INF, l = 0.0;
    float acc0 = 0.0, acc1 = 0.0;
    for (uint j0 = 0; j0 < nkeys; j0 += WG) {
        uint j = j0 + tid;
        float s = NEG_INF;
        if (j < nkeys) {
            float dot_ = 0.0;
            for (uint e = 0; e < pc.d; e++) dot_ = fma(qv[e], k[kb + j * pc.ks2 + e], dot_);
            s = dot_ * pc.scale;
            if (pc.has_bias != 0u) s += bias[bb + j * pc.bs3];
        }
        float m_new = max(m, group_max(s));
        // Everything so far masked: nothing to add yet (avoids inf - inf).
        float pj = (m_new == NEG_INF) ? 0.0 : exp(s - m_new);
        float corr = (m == NEG_INF) ? 0.0 : exp(m - m_new);
        p[tid] = pj;
        l = l * corr + group_sum(pj);
        acc0 *= corr;
        acc1 *= corr;
        uint n = min(WG, nkeys - j0);
        for (uint jj = 0; jj < n; jj++) {
            float w = p[jj];
            uint vrow = vb + (j0 + jj) * pc.vs2;
            if (tid < pc.d) acc0 = fma(w, v[vrow + tid], acc0);
            if (tid + WG < pc.d) acc1 = fma(w, v[vrow + tid + WG], acc1);
        }
        m = m_new;
        barrier();
    }
    float inv = l > 0.0 ? 1.0 / l : 0.0;
    uint ob = pc.off[4] + b * pc.os0 + h * pc.os1 + i * pc.os2;
    if (tid < pc.d) o[ob + tid] = acc0 * inv;
    if (tid + WG < pc.d) o[ob + tid + WG] = acc1 * inv;
}
