#version 450
// Residual vector quantisation. MODE 0 (encode): one work group per frame;
// the residual lives in shared memory; for each codebook every thread scans
// a share of the codes computing |r - e|^2 directly (no |e|^2 cancellation),
// the group takes the argmin (lowest index on ties) and subtracts the chosen
// entry. MODE 1 (decode): one thread per output element sums the entries.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 128;
layout(constant_id = 1) const uint MODE = 0;
layout(constant_id = 2) const bool CB_F16 = false;

layout(std430, binding = 0) buffer X { float x[]; };          // [T, D], strided
layout(std430, binding = 1) readonly buffer CB { uint cb[]; }; // [Q, N, D]
layout(std430, binding = 2) buffer Codes { int codes[]; };    // [Qused, T]

layout(push_constant) uniform Push {
    PUSH_OFFSETS
    uint t_len, d, n, nq;
    uint xs0, xs1;
} pc;

shared float r[1024];
shared float best_d[WG];
shared uint best_i[WG];

void encode() {
    uint t = group_linear(), tid = gl_LocalInvocationID.x;
    if (t >= pc.t_len) return; // spare group of a 2-D grid (uniform)
    for (uint j = tid; j < pc.d; j += WG) r[j] = x[pc.off[0] + t * pc.xs0 + j * pc.xs1];
    barrier();
    for (uint q = 0; q < pc.nq; q++) {
        uint base = pc.off[1] + q * pc.n * pc.d;
        float bd = 1.0 / 0.0;
        uint bi = 0;
        for (uint c = tid; c < pc.n; c += WG) {
            float dist = 0.0;
            for (uint j = 0; j < pc.d; j++) {
                float diff = r[j] - LOAD_W(cb, base + c * pc.d + j, CB_F16);
                dist = fma(diff, diff, dist);
            }
            if (dist < bd) { bd = dist; bi = c; }
        }
        best_d[tid] = bd;
        best_i[tid] = bi;
        barrier();
        for (uint s = WG / 2; s > 0; s >>= 1) {
            if (tid < s) {
                float od = best_d[tid + s];
                uint oi = best_i[tid + s];
                if (od < best_d[tid] || (od == best_d[tid] && oi < best_i[tid])) {
                    best_d[tid] = od;
                    best_i[tid] = oi;
                }
            }
            barrier();
        }
        uint pick = best_i[0];
        if (tid == 0u) codes[pc.off[2] + q * pc.t_len + t] = int(pick);
        for (uint j = tid; j < pc.d; j += WG) r[j] -= LOAD_W(cb, base + pick * pc.d + j, CB_F16);
        barrier();
    }
}

void decode() {
    uint e = group_linear() * WG + gl_LocalInvocationID.x;
    if (e >= pc.t_len * pc.d) return;
    uint t = e / pc.d, j = e % pc.d;
    float s = 0.0;
    for (uint q = 0; q < pc.nq; q++) {
        int id = codes[pc.off[2] + q * pc.t_len + t];
        if (id >= 0 && uint(id) < pc.n)
            s += LOAD_W(cb, pc.off[1] + (q * pc.n + uint(id)) * pc.d + j, CB_F16);
    }
    x[pc.off[0] + t * pc.xs0 + j * pc.xs1] = s;
}

void main() {
    if (MODE == 0) encode(); else decode();
}
