#version 450
// 1-D convolution as an implicit GEMM: out[Cout, Lout] = W[Cout, Cin*K] .
// col[Cin*K, Lout], where col (im2col of the padded input) is never stored:
// the tile loader computes each element from x, applying zero or reflect
// padding on the fly. Tiling as in matmul.comp; batch on the z axis.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 256;
layout(constant_id = 1) const uint BM = 64;  // output channels per tile
layout(constant_id = 2) const uint BN = 64;  // output samples per tile
layout(constant_id = 3) const uint BK = 16;
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;
layout(constant_id = 6) const bool W_F16 = false;
layout(constant_id = 7) const bool REFLECT = false;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { uint w[]; };
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) writeonly buffer O { float o[]; };

layout(push_constant) uniform Push {
    PUSH_OFFSETS
    uint cin, cout, k, lin, lout;
    uint stride, dilation, pad_left;
    uint has_bias;
} pc;

shared float As[BK * BM];
shared float Bs[BK * BN];

// x value feeding reduction index r (= ci*K + kk) at output sample t.
float im2col(uint xbase, uint r, uint t) {
    uint ci = r / pc.k, kk = r % pc.k;
    int src = int(t * pc.stride + kk * pc.dilation) - int(pc.pad_left);
    int len = int(pc.lin);
    if (src < 0 || src >= len) {
        if (!REFLECT) return 0.0;
        src = src < 0 ? -src : 2 * (len - 1) - src;
    }
    return x[xbase + ci * pc.lin + uint(src)];
}

void main() {
    const uint TX = BN / TN;
    uint tid = gl_LocalInvocationID.x, tx = tid % TX, ty = tid / TX;
    uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN, b = gl_WorkGroupID.z;
    uint red = pc.cin * pc.k;
    uint xbase = pc.off[0] + b * pc.cin * pc.lin;
    float acc[TM * TN];
    for (uint i = 0; i < TM * TN; i++) acc[i] = 0.0;
    float ar[TM];
    float br[TN];
    for (uint k0 = 0; k0 < red; k0 += BK) {
        for (uint l = tid; l < BM * BK; l += WG) {
            uint row = l / BK, kk = l % BK;
            bool ok = m0 + row < pc.cout && k0 + kk < red;
            As[kk * BM + row] = ok ? LOAD_W(w, pc.off[1] + (m0 + row) * red + k0 + kk, W_F16) : 0.0;
        }
        for (uint l = tid; l < BN * BK; l += WG) {
            uint kk = l / BN, col = l % BN;
            bool ok = n0 + col < pc.lout && k0 + kk < red;
            Bs[kk * BN + col] = ok ? im2col(xbase, k0 + kk, n0 + col) : 0.0;
        }
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
        uint co = m0 + ty + i * (BM / TM);
        if (co >= pc.cout) continue;
        for (uint j = 0; j < TN; j++) {
            uint t = n0 + tx + j * TX;
            if (t >= pc.lout) continue;
            float v = acc[i * TN + j];
            if (pc.has_bias != 0u) v += bias[pc.off[2] + co];
            o[pc.off[3] + (b * pc.cout + co) * pc.lout + t] = v;
        }
    }
}
