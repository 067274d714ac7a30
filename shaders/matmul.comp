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
#extension GL_KHR_shader_subgroup_ballot : require

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
// MODE 0: shared-memory tiles (GPUs). MODE 1 (DIRECT): no shared memory. Thread x of the group owns columns
// n0 + x + j*WG (j < TN) and all BM rows of the tile, reading A at addresses
// that are uniform across the group (one broadcast load serves every lane)
// and W straight from memory. This is what runs fast on CPU implementations
// (lavapipe), where shared memory and barriers are emulated and the caches
// already provide the reuse; GPUs use the shared-memory tiling.
// MODE 2: the naive kernel (one thread per output, a plain dot product over
// K), kept as the baseline the benchmark compares against.
layout(constant_id = 9) const uint MODE = 0;

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

void main_direct() {
    // Tile: BM rows x (WG * 4) columns; each thread owns 4 columns, kept as
    // one vec4 per row so no register array is indexed by a loop variable
    // that a compiler might not unroll. Lane l of a subgroup loads
    // A[m][k0 + l] for 8 consecutive k at once (one load instead of 8),
    // then every lane takes the value it needs with subgroupBroadcast, a
    // register move on CPU implementations, where each memory access costs a
    // loop over the lanes.
    uint tid = gl_LocalInvocationID.x, lane = gl_SubgroupInvocationID;
    uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * WG * 4u, b = gl_WorkGroupID.z;
    uint abase = pc.off[0] + b * pc.a_batch;
    uint wbase = pc.off[1] + b * pc.w_batch;
    vec4 acc[BM];
    for (uint i = 0; i < BM; i++) acc[i] = vec4(0.0);
    uvec4 wrow = min(uvec4(n0 + tid) + uvec4(0u, WG, 2u * WG, 3u * WG), uvec4(pc.N - 1u));
    uvec4 wstep = TRANS_W ? wrow * pc.K : wrow; // element index of k = 0
    uint kstep = TRANS_W ? 1u : pc.N;
    for (uint k0 = 0; k0 < pc.K; k0 += 8u) {
        float ach[BM];
        uint kl = min(k0 + lane % 8u, pc.K - 1u);
        for (uint i = 0; i < BM; i++)
            ach[i] = a[abase + min(m0 + i, pc.M - 1u) * pc.K + kl];
        // Unrolled by hand so every broadcast has a constant lane index.
#define RG_STEP(C)                                                              \
        if (k0 + C < pc.K) {                                                    \
            uvec4 wi = uvec4(wbase) + wstep + uvec4((k0 + C) * kstep);          \
            vec4 wr = vec4(LOAD_W(w, wi.x, W_F16), LOAD_W(w, wi.y, W_F16),      \
                           LOAD_W(w, wi.z, W_F16), LOAD_W(w, wi.w, W_F16));     \
            for (uint i = 0; i < BM; i++)                                       \
                acc[i] = fma(vec4(subgroupBroadcast(ach[i], C)), wr, acc[i]);   \
        }
        RG_STEP(0) RG_STEP(1) RG_STEP(2) RG_STEP(3)
        RG_STEP(4) RG_STEP(5) RG_STEP(6) RG_STEP(7)
#undef RG_STEP
    }
    uint nrows = min(BM, pc.M - m0);
    for (uint i = 0; i < nrows; i++)
        for (uint j = 0; j < 4u; j++) {
            uint n = n0 + tid + j * WG;
            if (n >= pc.N) continue;
            float v = acc[i][j];
            if (pc.has_bias != 0u) v += bias[pc.off[2] + n];
            o[pc.off[3] + b * pc.o_batch + (m0 + i) * pc.N + n] = v;
        }
}

void main_naive() {
    uint e = gl_WorkGroupID.x * WG + gl_LocalInvocationID.x, b = gl_WorkGroupID.z;
    if (e >= pc.M * pc.N) return;
    uint m = e / pc.N, n = e % pc.N;
    uint abase = pc.off[0] + b * pc.a_batch + m * pc.K, wbase = pc.off[1] + b * pc.w_batch;
    float s = 0.0;
    for (uint k = 0; k < pc.K; k++) {
        uint i = TRANS_W ? wbase + n * pc.K + k : wbase + k * pc.N + n;
        s = fma(a[abase + k], LOAD_W(w, i, W_F16), s);
    }
    if (pc.has_bias != 0u) s += bias[pc.off[2] + n];
    o[pc.off[3] + b * pc.o_batch + m * pc.N + n] = s;
}

void main() {
    if (MODE == 1u) { main_direct(); return; }
    if (MODE == 2u) { main_naive(); return; }
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
