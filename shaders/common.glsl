// Shared conventions of the ResonantGen compute shaders.
//  - Set 0 has six storage buffers (bindings 0..5); unused ones are bound to
//    a dummy range by the host.
//  - The push constant block starts with off[6]: the first element of each
//    binding's tensor, in units of that tensor's dtype (f16 counts halves).
//  - f16 data is read from uint arrays with unpackHalf2x16, which needs no
//    16-bit storage feature: weights stored as f16 halve memory traffic on
//    every device.
//  - 1-D kernels may be launched on a 2-D grid (x up to 65535 groups).
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

#define PUSH_OFFSETS uint off[6];

uint group_linear() {
    return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
}

float half_at(uint word, uint i) {
    vec2 v = unpackHalf2x16(word);
    return (i & 1u) != 0u ? v.y : v.x;
}

// Load element i of a uint array holding f32 (is_f16 false) or f16 data.
#define LOAD_W(arr, i, is_f16) \
    ((is_f16) ? half_at(arr[(i) >> 1], (i)) : uintBitsToFloat(arr[(i)]))

// erf with |error| < 1.2e-7 (Numerical Recipes' erfc Chebyshev fit), since
// GLSL has none; GELU must be the exact-erf form MusicGen was trained with.
float erf_approx(float x) {
    float z = abs(x);
    float t = 1.0 / (1.0 + 0.5 * z);
    float r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 +
              t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 +
              t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
    return x >= 0.0 ? 1.0 - r : r - 1.0;
}

// tanh that cannot overflow for large |x| (exp(2x) would).
float tanh_safe(float x) {
    float e = exp(-2.0 * abs(x));
    float t = (1.0 - e) / (1.0 + e);
    return x >= 0.0 ? t : -t;
}

float sigmoid(float x) { return 1.0 / (1.0 + exp(-x)); }
