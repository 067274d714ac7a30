#version 450
// One LSTM time step (PyTorch gate order i, f, g, o). The input projection
// x W_ih^T + b_ih + b_hh for all steps is already in gx (a matmul and two
// adds recorded before the steps). Work group j owns hidden unit j: its
// threads split the four W_hh row dot products with h_{t-1}, reduce, and
// one thread updates c[j] and writes h_t[j] = out[t, j]. h_{t-1} is read
// from out[t-1] (or the state / zeros at t = 0), so no group ever reads a
// value another group of the same dispatch writes.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const bool W_F16 = false;

layout(std430, binding = 0) buffer GX { float gx[]; };       // [T, 4H]
layout(std430, binding = 1) readonly buffer W { uint w[]; }; // W_hh [4H, H]
layout(std430, binding = 2) readonly buffer H0 { float h0[]; };
layout(std430, binding = 3) buffer C { float cst[]; };
layout(std430, binding = 4) buffer O { float o[]; };         // [T, H]

layout(push_constant) uniform Push {
    PUSH_OFFSETS
    uint hid;
    uint t;
    uint has_state; // h0/c are real tensors; else zeros, and c lives in gx[0, 0:H]
} pc;

shared float red[4 * 64];

float h_prev(uint i) {
    if (pc.t > 0u) return o[pc.off[4] + (pc.t - 1u) * pc.hid + i];
    return pc.has_state != 0u ? h0[pc.off[2] + i] : 0.0;
}

void main() {
    uint j = group_linear(), tid = gl_LocalInvocationID.x, H = pc.hid;
    if (j >= H) return; // spare group of a 2-D grid (uniform)
    vec4 acc = vec4(0.0);
    for (uint i = tid; i < H; i += WG) {
        float h = h_prev(i);
        for (uint g = 0; g < 4; g++)
            acc[g] = fma(LOAD_W(w, pc.off[1] + (g * H + j) * H + i, W_F16), h, acc[g]);
    }
    for (uint g = 0; g < 4; g++) {
        float s = subgroupAdd(acc[g]);
        if (subgroupElect()) red[g * 64 + gl_SubgroupID] = s;
    }
    barrier();
    if (tid != 0u) return;
    vec4 gate;
    uint gbase = pc.off[0] + pc.t * 4u * H;
    for (uint g = 0; g < 4; g++) {
        float s = gx[gbase + g * H + j];
        for (uint i = 0; i < gl_NumSubgroups; i++) s += red[g * 64 + i];
        gate[g] = s;
    }
    uint ci = pc.has_state != 0u ? pc.off[3] + j : pc.off[0] + j;
    float c_prev = (pc.t == 0u && pc.has_state == 0u) ? 0.0
                 : (pc.has_state != 0u ? cst[ci] : gx[ci]);
    float c = sigmoid(gate[1]) * c_prev + sigmoid(gate[0]) * tanh_safe(gate[2]);
    if (pc.has_state != 0u) cst[ci] = c; else gx[ci] = c;
    o[pc.off[4] + pc.t * H + j] = sigmoid(gate[3]) * tanh_safe(c);
}
