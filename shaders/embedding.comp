#version 450
// Embedding gather: out[i, :] (= or +=) table[ids[i], :]; an id outside
// [0, V) gives a zero row. One thread per output element.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 256) in;
layout(constant_id = 0) const bool TABLE_F16 = false;

layout(std430, binding = 0) readonly buffer T { uint tab[]; };
layout(std430, binding = 1) readonly buffer I { int ids[]; };
layout(std430, binding = 2) buffer O { float o[]; };

layout(push_constant) uniform Push {
    PUSH_OFFSETS
    uint n;       // number of ids
    uint v, d;    // table shape
    uint accumulate;
} pc;

void main() {
    uint e = group_linear() * 256u + gl_LocalInvocationID.x;
    if (e >= pc.n * pc.d) return;
    uint i = e / pc.d, j = e % pc.d;
    int id = ids[pc.off[1] + i];
    float val = 0.0;
    if (id >= 0 && uint(id) < pc.v)
        val = LOAD_W(tab, pc.off[0] + uint(id) * pc.d + j, TABLE_F16);
    uint oi = pc.off[2] + e;
    o[oi] = pc.accumulate != 0u ? o[oi] + val : val;
}
