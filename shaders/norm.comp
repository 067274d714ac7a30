#version 450
// Row-wise reductions over the last dim, one work group per row.
// MODE: 0 layer norm (two passes: mean, then centred variance, as PyTorch),
//       1 RMS norm (T5), 2 softmax (max-subtracted; an all -inf row gives 0).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 256;
layout(constant_id = 1) const uint MODE = 0;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Wt { float wt[]; };
layout(std430, binding = 2) readonly buffer Bs { float bs[]; };
layout(std430, binding = 3) buffer O { float o[]; };

layout(push_constant) uniform Push {
    PUSH_OFFSETS
    uint cols;
    uint has_w, has_b;
    float eps;
    uint rows;
} pc;

shared float red[64];

// Sum (or max) of v over the work group; every thread gets the result.
float group_reduce(float v, bool is_max) {
    float s = is_max ? subgroupMax(v) : subgroupAdd(v);
    if (subgroupElect()) red[gl_SubgroupID] = s;
    barrier();
    float r = red[0];
    for (uint i = 1; i < gl_NumSubgroups; i++) r = is_max ? max(r, red[i]) : r + red[i];
    barrier();
    return r;
}

void main() {
    uint row = group_linear(), tid = gl_LocalInvocationID.x;
    if (row >= pc.rows) return; // spare group of a 2-D grid (uniform)
    uint xb = pc.off[0] + row * pc.cols, ob = pc.off[3] + row * pc.cols;
    if (MODE == 2) {
        float mx = -1.0 / 0.0;
        for (uint i = tid; i < pc.cols; i += WG) mx = max(mx, x[xb + i]);
        mx = group_reduce(mx, true);
        if (isinf(mx) && mx < 0.0) {
            for (uint i = tid; i < pc.cols; i += WG) o[ob + i] = 0.0;
            return;
        }
        float s = 0.0;
        for (uint i = tid; i < pc.cols; i += WG) s += exp(x[xb + i] - mx);
        float inv = 1.0 / group_reduce(s, false);
        for (uint i = tid; i < pc.cols; i += WG) o[ob + i] = exp(x[xb + i] - mx) * inv;
        return;
    }
    float mean = 0.0;
    if (MODE == 0) {
        float s = 0.0;
        for (uint i = tid; i < pc.cols; i += WG) s += x[xb + i];
        mean = group_reduce(s, false) / float(pc.cols);
    }
    float sq = 0.0;
    for (uint i = tid; i < pc.cols; i += WG) {
        float d = x[xb + i] - mean;
        sq += d * d;
    }
    float inv = inversesqrt(group_reduce(sq, false) / float(pc.cols) + pc.eps);
    for (uint i = tid; i < pc.cols; i += WG) {
        float y = (x[xb + i] - mean) * inv;
        if (pc.has_w != 0u) y *= wt[pc.off[1] + i];
        if (pc.has_b != 0u) y += bs[pc.off[2] + i];
        o[ob + i] = y;
    }
}
