#version 450
// Harmonic bank (rg_op_harmonic; the formula is in tensor.h). Scratch holds
// [f | Phi | a_1..a_K], each T floats. f is signed: with an f0 track it is
// the track (negative: an unpitched frame, whose a_k are 0), without one
// always positive, so one glide rule serves both (glide_from).
// MODE 0: one work group. Its threads compute every frame's f and a_k, then
//   thread 0 runs the frame-start phases Phi serially: each frame's step is
//   formed as an unevaluated float-float sum (exact products and sums) and
//   added to a float-float Phi wrapped to [0, 1), so long takes keep the
//   phase the CPU backend gets by summing in double.
// MODE 1: one thread per output sample.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint MODE = 0;

layout(std430, binding = 0) readonly buffer H { float h[]; }; // [1+K, T], strided
layout(std430, binding = 1) buffer S { float sc[]; };         // [2+K, T]
layout(std430, binding = 2) buffer O { float o[]; };          // [(T - first) * hop]
layout(std430, binding = 3) readonly buffer F { float track[]; }; // [T] strided, or dummy

layout(push_constant) uniform Push {
    PUSH_OFFSETS
    uint t_len, bins, hop, first;
    uint hs0, hs1;      // strides of h
    float sr, f0_min, log2_ratio;
    uint accumulate, n; // n = (T - first) * hop
    uint has_track, ts0; // an f0 track is bound (binding 3), its stride
} pc;

const float LN10 = 2.30258509;

// s + e == a + b exactly (Knuth); `precise` forbids fusing and reordering.
void two_sum(float a, float b, out float s, out float e) {
    precise float ss = a + b;
    precise float bv = ss - a;
    precise float err = (a - (ss - bv)) + (b - bv);
    s = ss;
    e = err;
}

// p + e == a * b exactly (Dekker, with Veltkamp's split): no fma needed,
// which Vulkan lets a device run as a separate multiply and add.
void split(float a, out float hi, out float lo) {
    precise float c = 4097.0 * a;
    precise float h = c - (c - a);
    precise float l = a - h;
    hi = h;
    lo = l;
}

void two_prod(float a, float b, out float p, out float e) {
    float ah, al, bh, bl;
    split(a, ah, al);
    split(b, bh, bl);
    precise float pp = a * b;
    precise float err = ((ah * bh - pp) + ah * bl + al * bh) + al * bl;
    p = pp;
    e = err;
}

// 2^(y + yl) to about an ulp (the built-in exp2 may be 3 ulp or worse, and
// a bias in f0 would add up in the phase of a long take).
float exp2_fine(float y, float yl) {
    float n = floor(y + 0.5);
    precise float x = ((y - n) + yl) * 0.693147181; // |x| <= 0.35
    precise float p = 1.0 + x * (1.0 + x * (0.5 + x * (1.0 / 6.0 + x * (1.0 / 24.0 +
                      x * (1.0 / 120.0 + x * (1.0 / 720.0 + x * (1.0 / 5040.0)))))));
    return ldexp(p, int(n));
}

float sigmoid_fine(float x) {
    float y, yl;
    two_prod(-clamp(x, -200.0, 200.0), 1.44269504, y, yl); // saturated beyond
    return 1.0 / (1.0 + exp2_fine(y, yl));
}

// Where frame t's glide starts, f being the scratch's f row: the previous
// frame's f if that frame is pitched (frame 0: its own), else frame t's own.
float glide_from(uint f, uint t) {
    float prev = sc[f + (t > 0u ? t - 1u : 0u)];
    return prev > 0.0 ? prev : abs(sc[f + t]);
}

float frame_f0(uint t) {
    if (pc.has_track != 0u)
        return track[pc.off[3] + t * pc.ts0];
    float y, yl;
    two_prod(sigmoid_fine(h[pc.off[0] + t * pc.hs1]), pc.log2_ratio, y, yl);
    return pc.f0_min * exp2_fine(y, yl);
}

void frames() {
    uint tid = gl_LocalInvocationID.x, T = pc.t_len, f0 = pc.off[1], ph0 = pc.off[1] + T;
    for (uint t = tid; t < T; t += WG) {
        float ft = frame_f0(t);
        sc[f0 + t] = ft;
        for (uint k = 0u; k < pc.bins; k++) {
            float x = h[pc.off[0] + (k + 1u) * pc.hs0 + t * pc.hs1];
            sc[f0 + (2u + k) * T + t] = ft > 0.0 ? 2.0 * pow(sigmoid(x), LN10) : 0.0;
        }
    }
    memoryBarrierBuffer();
    barrier();
    if (tid != 0u) return;
    float hop = float(pc.hop), half_hop1 = float(pc.hop + 1u) * 0.5; // exact
    float hi = 0.0, lo = 0.0;
    for (uint t = 0u; t < T; t++) {
        float ft = abs(sc[f0 + t]), fp = glide_from(f0, t);
        sc[ph0 + t] = hi + lo;
        // step * sr = hop fp + (ft - fp) (hop + 1) / 2, as s + e
        precise float d = ft - fp;
        float p1, e1, p2, e2, s, e, m, me;
        two_prod(hop, fp, p1, e1);
        two_prod(d, half_hop1, p2, e2);
        two_sum(p1, p2, s, e);
        precise float el = e + (e1 + e2);
        // step = q + ql: q = s / sr, corrected by the exact remainder
        precise float q = s / pc.sr;
        two_prod(q, pc.sr, m, me);
        precise float ql = (((s - m) - me) + el) / pc.sr;
        // Phi += step, wrapped
        float a, b;
        two_sum(hi, q, a, b);
        precise float bl = b + (lo + ql);
        precise float aw = a - floor(a);
        two_sum(aw, bl, hi, lo);
        precise float hw = hi - floor(hi);
        hi = hw;
    }
}

void render() {
    uint i = group_linear() * WG + gl_LocalInvocationID.x;
    if (i >= pc.n) return;
    uint T = pc.t_len, t = pc.first + i / pc.hop, j = i % pc.hop;
    uint pt = t > 0u ? t - 1u : 0u, base = pc.off[1];
    float fp = glide_from(base, t), d = abs(sc[base + t]) - fp;
    float jj = float(j + 1u), w = jj / float(pc.hop), f = fp + d * w;
    float phi = sc[base + T + t] + (jj * fp + d * jj * (jj + 1.0) / float(2u * pc.hop)) / pc.sr;
    phi -= floor(phi);
    float y = 0.0;
    for (uint k = 1u; k <= pc.bins && float(k) * f < 0.5 * pc.sr; k++) {
        float ap = sc[base + (1u + k) * T + pt], at = sc[base + (1u + k) * T + t];
        float kphi = float(k) * phi;
        kphi -= floor(kphi);
        if (kphi >= 0.5) kphi -= 1.0; // sin is most accurate on [-pi, pi]
        y += (ap + (at - ap) * w) * sin(6.28318531 * kphi);
    }
    uint oi = pc.off[2] + i;
    o[oi] = pc.accumulate != 0u ? o[oi] + y : y;
}

void main() {
    if (MODE == 0) frames(); else render();
}
