#version 450
// Matrix-vector products for M <= 8 rows of activations (the decode step):
// the cost is streaming W once, so every thread reads W with wide loads and
// all M rows reuse each loaded weight.
// TRANS_W (W is [N, K]): a work group owns NR output columns; its threads
// split K, then reduce with subgroupAdd and a small shared array.
// !TRANS_W (W is [K, N]): one thread per output column, reading W rows
// coalesced across the group.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 128;
layout(constant_id = 1) const uint NR = 2;    // output columns per group
layout(constant_id = 2) const bool TRANS_W = true;
layout(constant_id = 3) const bool W_F16 = false;
layout(constant_id = 4) const bool VEC4 = false; // K % 4 == 0, aligned
const uint MAXM = 8;

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 0) readonly buffer A4 { vec4 a4[]; };
layout(std430, binding = 1) readonly buffer W { uint w[]; };
layout(std430, binding = 1) readonly buffer W4 { vec4 w4[]; };
layout(std430, binding = 1) readonly buffer W2 { uvec2 w2[]; };
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) writeonly buffer O { float o[]; };

layout(push_constant) uniform Push {
    PUSH_OFFSETS
    uint M, N, K;
    uint a_batch, w_batch, o_batch;
    uint has_bias;
} pc;

shared float partial[NR * MAXM * 32]; // per subgroup partial sums

vec4 load_w4(uint i) { // 4 consecutive weights starting at element i
    if (W_F16) {
        uvec2 h = w2[i / 4];
        return vec4(unpackHalf2x16(h.x), unpackHalf2x16(h.y));
    }
    return w4[i / 4];
}

void main_trans() {
    uint tid = gl_LocalInvocationID.x, b = gl_WorkGroupID.z;
    uint n0 = gl_WorkGroupID.x * NR;
    uint abase = pc.off[0] + b * pc.a_batch, wbase = pc.off[1] + b * pc.w_batch;
    float acc[NR * MAXM];
    for (uint i = 0; i < NR * MAXM; i++) acc[i] = 0.0;
    if (VEC4) {
        for (uint k = tid * 4; k < pc.K; k += WG * 4) {
            vec4 av[MAXM];
            for (uint m = 0; m < MAXM; m++)
                if (m < pc.M) av[m] = a4[(abase + m * pc.K + k) / 4];
            for (uint r = 0; r < NR; r++) {
                if (n0 + r >= pc.N) break;
                vec4 wv = load_w4(wbase + (n0 + r) * pc.K + k);
                for (uint m = 0; m < MAXM; m++)
                    if (m < pc.M) acc[r * MAXM + m] += dot(wv, av[m]);
            }
        }
    } else {
        for (uint k = tid; k < pc.K; k += WG) {
            for (uint r = 0; r < NR; r++) {
                if (n0 + r >= pc.N) break;
                float wv = LOAD_W(w, wbase + (n0 + r) * pc.K + k, W_F16);
                for (uint m = 0; m < MAXM; m++)
                    if (m < pc.M) acc[r * MAXM + m] = fma(wv, a[abase + m * pc.K + k], acc[r * MAXM + m]);
            }
        }
    }
    // Reduce: subgroup first, then across the (few) subgroups.
    uint nsg = gl_NumSubgroups, sg = gl_SubgroupID;
    for (uint i = 0; i < NR * MAXM; i++) {
        float s = subgroupAdd(acc[i]);
        if (subgroupElect()) partial[i * 32 + sg] = s;
    }
    barrier();
    if (tid < NR * MAXM) {
        uint r = tid / MAXM, m = tid % MAXM;
        if (m < pc.M && n0 + r < pc.N) {
            float s = 0.0;
            for (uint i = 0; i < nsg; i++) s += partial[tid * 32 + i];
            if (pc.has_bias != 0u) s += bias[pc.off[2] + n0 + r];
            o[pc.off[3] + b * pc.o_batch + m * pc.N + n0 + r] = s;
        }
    }
}

void main_plain() {
    uint b = gl_WorkGroupID.z;
    uint n = gl_WorkGroupID.x * WG + gl_LocalInvocationID.x;
    if (n >= pc.N) return;
    uint abase = pc.off[0] + b * pc.a_batch, wbase = pc.off[1] + b * pc.w_batch;
    float acc[MAXM];
    for (uint m = 0; m < MAXM; m++) acc[m] = 0.0;
    for (uint k = 0; k < pc.K; k++) {
        float wv = LOAD_W(w, wbase + k * pc.N + n, W_F16);
        for (uint m = 0; m < MAXM; m++)
            if (m < pc.M) acc[m] = fma(wv, a[abase + m * pc.K + k], acc[m]);
    }
    for (uint m = 0; m < pc.M; m++) {
        float s = acc[m];
        if (pc.has_bias != 0u) s += bias[pc.off[2] + n];
        o[pc.off[3] + b * pc.o_batch + m * pc.N + n] = s;
    }
}

void main() {
    if (TRANS_W) main_trans(); else main_plain();
}
