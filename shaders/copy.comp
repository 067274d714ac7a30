#version 450
// Strided 4-D copy with dtype conversion. SRC_T / DST_T: 0 f32, 1 f16, 2 i32
// (i32 only to i32; the host checks). f16 destinations are written with
// atomics on their 32-bit word so neighbours in other threads survive.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 256) in;
layout(constant_id = 0) const uint SRC_T = 0;
layout(constant_id = 1) const uint DST_T = 0;

layout(std430, binding = 0) readonly buffer S { uint s[]; };
layout(std430, binding = 1) buffer D { uint d[]; };

layout(push_constant) uniform Push {
    PUSH_OFFSETS
    uint n;
    uint shape[4];
    uint sstride[4];
    uint dstride[4];
} pc;

void main() {
    uint i = group_linear() * 256u + gl_LocalInvocationID.x;
    if (i >= pc.n) return;
    uint idx[4];
    uint rest = i;
    for (int k = 3; k >= 0; k--) {
        idx[k] = rest % pc.shape[k];
        rest /= pc.shape[k];
    }
    uint so = pc.off[0], dof = pc.off[1];
    for (int k = 0; k < 4; k++) {
        so += idx[k] * pc.sstride[k];
        dof += idx[k] * pc.dstride[k];
    }
    if (SRC_T == DST_T && SRC_T != 1) {
        d[dof] = s[so];
        return;
    }
    float v = SRC_T == 1 ? half_at(s[so >> 1], so) : uintBitsToFloat(s[so]);
    if (DST_T == 1) {
        uint h = packHalf2x16(vec2(v, 0.0)) & 0xffffu;
        uint shift = (dof & 1u) * 16u;
        atomicAnd(d[dof >> 1], ~(0xffffu << shift));
        atomicOr(d[dof >> 1], h << shift);
    } else {
        d[dof] = floatBitsToUint(v);
    }
}
