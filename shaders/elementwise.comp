#version 450
// Elementwise ops. OP (specialization constant): 0 add, 1 mul (b broadcast
// by repetition), 2 scale (a*p0 + p1), 10+ unary: 10 GELU (erf), 11 ReLU,
// 12 ELU (alpha = p0), 13 tanh, 14 sigmoid.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 256) in;
layout(constant_id = 0) const uint OP = 0;

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) buffer O { float o[]; };

layout(push_constant) uniform Push {
    PUSH_OFFSETS
    uint n;   // elements of a and out
    uint nb;  // elements of b
    float p0;
    float p1;
} pc;

float unary(float x) {
    if (OP == 10) return 0.5 * x * (1.0 + erf_approx(x * 0.70710678118654752));
    if (OP == 11) return max(x, 0.0);
    if (OP == 12) return x > 0.0 ? x : pc.p0 * (exp(x) - 1.0);
    if (OP == 13) return tanh_safe(x);
    return sigmoid(x);
}

void main() {
    uint i = group_linear() * 256u + gl_LocalInvocationID.x;
    if (i >= pc.n) return;
    float x = a[pc.off[0] + i];
    float y;
    if (OP == 0) y = x + b[pc.off[1] + i % pc.nb];
    else if (OP == 1) y = x * b[pc.off[1] + i % pc.nb];
    else if (OP == 2) y = x * pc.p0 + pc.p1;
    else y = unary(x);
    o[pc.off[2] + i] = y;
}
