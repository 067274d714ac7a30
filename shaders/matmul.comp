#version 450
// Tiled matrix multiply: out[b] = A[b] (M x K) . op(W[b]) + bias.
// Each work group computes a BM x BN tile of out, staging BK-wide slices of
// A and W through shared memory; each thread keeps a TM x TN block of
// accumulators in registers (rows ty + i*BM/TM, columns tx + j*BN/TN, so
// neighbouring threads touch neighbouring columns). VEC4 loads 4 floats at
// a time along K (A, and W when it is [N, K] f32); the host sets it only
// when K % 4 == 0 and the offsets are 16-byte aligned.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 256;
layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;
layout(constant_id = 6) const bool TRANS_W = true; // W is [N, K] (Linear)
layout(constant_id = 7) const bool W_F16 = false;
layout(constant_id = 8) const bool VEC4 = false;

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 0) readonly buffer A4 { vec4 a4[]; };
layout(std430, binding = 1) readonly buffer W { uint w[]; };
layout(std430, binding = 1) readonly buffer W4 { vec4 w4[]; };
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) writeonly buffer O { float o[]; };

layout(push_constant) uniform Push {
    PUSH_OFFSETS
    uint M, N, K;
    uint a_batch, w_batch, o_batch; // element strides between batches
    uint has_bias;
} pc;

shared float As[BK * BM]; // [k][m]
shared float Bs[BK * BN]; // [k][n]

void load_tiles(uint m0, uint n0, uint k0, uint abase, uint wbase) {
    uint tid = gl_LocalInvocationID.x;
    if (VEC4) {
        for (uint l = tid; l < BM * BK / 4; l += WG) {
            uint row = l / (BK / 4), kq = (l % (BK / 4)) * 4;
            vec4 v = vec4(0.0);
            if (m0 + row < pc.M && k0 + kq < pc.K)
                v = a4[(abase + (m0 + row) * pc.K + k0 + kq) / 4];
            for (uint c = 0; c < 4; c++) As[(kq + c) * BM + row] = v[c];
        }
    } else {
        for (uint l = tid; l < BM * BK; l += WG) {
            uint row = l / BK, kk = l % BK;
            bool in_range = m0 + row < pc.M && k0 + kk < pc.K;
            As[kk * BM + row] = in_range ? a[abase + (m0 + row) * pc.K + k0 + kk] : 0.0;
        }
    }
    if (TRANS_W && VEC4 && !W_F16) {
        for (uint l = tid; l < BN * BK / 4; l += WG) {
            uint col = l / (BK / 4), kq = (l % (BK / 4)) * 4;
            vec4 v = vec4(0.0);
            if (n0 + col < pc.N && k0 + kq < pc.K)
                v = w4[(wbase + (n0 + col) * pc.K + k0 + kq) / 4];
            for (uint c = 0; c < 4; c++) Bs[(kq + c) * BN + col] = v[c];
        }
    } else if (TRANS_W) {
        for (uint l = tid; l < BN * BK; l += WG) {
            uint col = l / BK, kk = l % BK;
            bool in_range = n0 + col < pc.N && k0 + kk < pc.K;
            uint i = wbase + (n0 + col) * pc.K + k0 + kk;
            Bs[kk * BN + col] = in_range ? LOAD_W(w, i, W_F16) : 0.0;
        }
    } else {
        for (uint l = tid; l < BN * BK; l += WG) {
            uint kk = l / BN, col = l % BN;
            bool in_range = n0 + col < pc.N && k0 + kk < pc.K;
            uint i = wbase + (k0 + kk) * pc.N + n0 + col;
            Bs[kk * BN + col] = in_range ? LOAD_W(w, i, W_F16) : 0.0;
        }
    }
}

void main() {
    const uint TX = BN / TN; // threads along N
    uint tid = gl_LocalInvocationID.x;
    uint tx = tid % TX, ty = tid / TX;
    uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN, b = gl_WorkGroupID.z;
    uint abase = pc.off[0] + b * pc.a_batch;
    uint wbase = pc.off[1] + b * pc.w_batch;

    float acc[TM * TN];
    for (uint i = 0; i < TM * TN; i++) acc[i] = 0.0;
    float ar[TM];
    float br[TN];

    for (uint k0 = 0; k0 < pc.K; k0 += BK) {
        load_tiles(m0, n0, k0, abase, wbase);
        barrier();
        for (uint kk = 0; kk < BK; kk++) {
            for (uint i = 0; i < TM; i++) ar[i] = As[kk * BM + ty + i * (BM / TM)];
            for (uint j = 0; j < TN; j++) br[j] = Bs[kk * BN + tx + j * TX];
            for (uint i = 0; i < TM; i++)
                for (uint j = 0; j < TN; j++)
                    acc[i * TN + j] = fma(ar[i], br[j], acc[i * TN + j]);
        }
        barrier();
    }

    for (uint i = 0; i < TM; i++) {
        uint m = m0 + ty + i * (BM / TM);
        if (m >= pc.M) continue;
        for (uint j = 0; j < TN; j++) {
            uint n = n0 + tx + j * TX;
            if (n >= pc.N) continue;
            float v = acc[i * TN + j];
            if (pc.has_bias != 0u) v += bias[pc.off[2] + n];
            o[pc.off[3] + b * pc.o_batch + m * pc.N + n] = v;
        }
    }
}
