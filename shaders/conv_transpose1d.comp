#version 450
// Transposed 1-D convolution with the output trimmed, one thread per output
// sample. For full-output position p = t + trim_left only the taps
// k = p mod stride, p mod stride + stride, ... hit an input sample
// s = (p - k) / stride, so the loop does exactly the useful work
// (Cin * K / stride multiply-adds), with no zero-stuffed input.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 256) in;
layout(constant_id = 0) const bool W_F16 = false;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { uint w[]; };   // [Cin, Cout, K]
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) writeonly buffer O { float o[]; };

layout(push_constant) uniform Push {
    PUSH_OFFSETS
    uint cin, cout, k, lin, lout;
    uint stride, trim_left, batch;
    uint has_bias;
} pc;

void main() {
    uint e = group_linear() * 256u + gl_LocalInvocationID.x;
    if (e >= pc.batch * pc.cout * pc.lout) return;
    uint t = e % pc.lout, co = (e / pc.lout) % pc.cout, b = e / (pc.lout * pc.cout);
    uint p = t + pc.trim_left;
    float acc = pc.has_bias != 0u ? bias[pc.off[2] + co] : 0.0;
    uint xbase = pc.off[0] + b * pc.cin * pc.lin;
    for (uint kk = p % pc.stride; kk < pc.k && kk <= p; kk += pc.stride) {
        uint s = (p - kk) / pc.stride;
        if (s >= pc.lin) continue;
        for (uint ci = 0; ci < pc.cin; ci++)
            acc = fma(x[xbase + ci * pc.lin + s],
                      LOAD_W(w, pc.off[1] + (ci * pc.cout + co) * pc.k + kk, W_F16), acc);
    }
    o[pc.off[3] + e] = acc;
}
