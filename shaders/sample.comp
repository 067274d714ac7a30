#version 450
// Token sampling, one work group per row of logits; the same definition as
// the CPU backend (see rg_op_sample in runtime/tensor/tensor.h):
//  - temperature <= 0: argmax, lowest index on ties.
//  - z = logit * (1 / temperature); top-k keeps z >= the k-th largest z,
//    found exactly by bisection over the order-preserving integer image of
//    the floats (32 counting passes, no sort);
//  - p = exp(z - max z); top-p keeps p >= tau, tau the largest value whose
//    kept mass sum(p >= tau) still reaches top_p * total (bisection again);
//  - u = rg_sample_uniform(seed, step, row) (murmur3 finaliser chain), and
//    the token is where the running sum of kept p, in index order, first
//    exceeds u * total (threads own contiguous index ranges + a group scan).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 256;

layout(std430, binding = 0) readonly buffer L { float logits[]; };
layout(std430, binding = 1) writeonly buffer Ids { int ids[]; };

layout(push_constant) uniform Push {
    PUSH_OFFSETS
    uint v;
    float inv_temp;  // 0: greedy
    uint top_k;
    float top_p;
    uint seed_lo, seed_hi, step;
    uint rows;
} pc;

shared float redf[64];
shared uint redu[64];
shared uint pick;

uint hash32(uint x) {
    x ^= x >> 16; x *= 0x85ebca6bu;
    x ^= x >> 13; x *= 0xc2b2ae35u;
    x ^= x >> 16;
    return x;
}

float uniform_draw(uint row) {
    uint h = hash32(pc.seed_lo ^ 0x9e3779b9u);
    h = hash32(h ^ pc.seed_hi);
    h = hash32(h ^ pc.step);
    h = hash32(h ^ row);
    return float(h >> 8) * (1.0 / 16777216.0);
}

// Order-preserving map of floats to uints.
uint fkey(float f) {
    uint b = floatBitsToUint(f);
    return (b & 0x80000000u) != 0u ? ~b : b | 0x80000000u;
}

float sum_f(float x) {
    float s = subgroupAdd(x);
    if (subgroupElect()) redf[gl_SubgroupID] = s;
    barrier();
    float r = 0.0;
    for (uint i = 0; i < gl_NumSubgroups; i++) r += redf[i];
    barrier();
    return r;
}

float max_f(float x) {
    float s = subgroupMax(x);
    if (subgroupElect()) redf[gl_SubgroupID] = s;
    barrier();
    float r = redf[0];
    for (uint i = 1; i < gl_NumSubgroups; i++) r = max(r, redf[i]);
    barrier();
    return r;
}

uint sum_u(uint x) {
    uint s = subgroupAdd(x);
    if (subgroupElect()) redu[gl_SubgroupID] = s;
    barrier();
    uint r = 0u;
    for (uint i = 0; i < gl_NumSubgroups; i++) r += redu[i];
    barrier();
    return r;
}

uint min_u(uint x) {
    uint s = subgroupMin(x);
    if (subgroupElect()) redu[gl_SubgroupID] = s;
    barrier();
    uint r = redu[0];
    for (uint i = 1; i < gl_NumSubgroups; i++) r = min(r, redu[i]);
    barrier();
    return r;
}

void main() {
    uint row = group_linear(), tid = gl_LocalInvocationID.x;
    if (row >= pc.rows) return; // spare group of a 2-D grid (uniform)
    uint base = pc.off[0] + row * pc.v;
    if (pc.inv_temp == 0.0) { // greedy
        float mx = -1.0 / 0.0;
        for (uint i = tid; i < pc.v; i += WG) mx = max(mx, logits[base + i]);
        mx = max_f(mx);
        uint first = 0xffffffffu;
        for (uint i = tid; i < pc.v; i += WG)
            if (logits[base + i] == mx) { first = i; break; }
        first = min_u(first);
        if (tid == 0u) ids[pc.off[1] + row] = int(first == 0xffffffffu ? 0u : first);
        return;
    }
    float mx = -1.0 / 0.0;
    for (uint i = tid; i < pc.v; i += WG) mx = max(mx, logits[base + i] * pc.inv_temp);
    mx = max_f(mx);

    // top-k: the key of the k-th largest z, built bit by bit.
    uint kthr = 0u;
    if (pc.top_k > 0u && pc.top_k < pc.v) {
        for (int bit = 31; bit >= 0; bit--) {
            uint cand = kthr | (1u << uint(bit));
            uint cnt = 0u;
            for (uint i = tid; i < pc.v; i += WG)
                cnt += fkey(logits[base + i] * pc.inv_temp) >= cand ? 1u : 0u;
            if (sum_u(cnt) >= pc.top_k) kthr = cand;
        }
    }
    float total = 0.0;
    for (uint i = tid; i < pc.v; i += WG) {
        float z = logits[base + i] * pc.inv_temp;
        total += fkey(z) >= kthr ? exp(z - mx) : 0.0;
    }
    total = sum_f(total);

    // top-p: the largest p threshold whose kept mass still reaches the goal
    // (p >= 0, so its raw bits are already ordered).
    uint pthr = 0u;
    if (pc.top_p > 0.0 && pc.top_p < 1.0) {
        float goal = pc.top_p * total;
        for (int bit = 30; bit >= 0; bit--) {
            uint cand = pthr | (1u << uint(bit));
            float mass = 0.0;
            for (uint i = tid; i < pc.v; i += WG) {
                float z = logits[base + i] * pc.inv_temp;
                float p = fkey(z) >= kthr ? exp(z - mx) : 0.0;
                mass += floatBitsToUint(p) >= cand ? p : 0.0;
            }
            if (sum_f(mass) >= goal) pthr = cand;
        }
    }

    // Inverse CDF in index order: thread tid owns [lo, hi).
    uint chunk = (pc.v + WG - 1u) / WG;
    uint lo = min(tid * chunk, pc.v), hi = min(lo + chunk, pc.v);
    float local = 0.0;
    uint last_kept = 0u;
    bool any_kept = false;
    for (uint i = lo; i < hi; i++) {
        float z = logits[base + i] * pc.inv_temp;
        float p = fkey(z) >= kthr ? exp(z - mx) : 0.0;
        if (p > 0.0 && floatBitsToUint(p) >= pthr) { local += p; last_kept = i; any_kept = true; }
    }
    float kept_total = sum_f(local);
    // Exclusive prefix of the per-thread sums: subgroup scan + subgroup totals.
    float prefix = subgroupExclusiveAdd(local);
    if (gl_SubgroupInvocationID == gl_SubgroupSize - 1u) redf[gl_SubgroupID] = prefix + local;
    if (tid == 0u) pick = 0xffffffffu;
    barrier();
    for (uint s = 0; s < gl_SubgroupID; s++) prefix += redf[s];
    barrier();
    float target = uniform_draw(row) * kept_total;
    if (local > 0.0 && prefix <= target && target < prefix + local) {
        float acc = prefix;
        uint found = last_kept;
        for (uint i = lo; i < hi; i++) {
            float z = logits[base + i] * pc.inv_temp;
            float p = fkey(z) >= kthr ? exp(z - mx) : 0.0;
            if (!(p > 0.0 && floatBitsToUint(p) >= pthr)) continue;
            acc += p;
            if (acc > target) { found = i; break; }
        }
        atomicMin(pick, found);
    }
    barrier();
    // Rounding can leave target >= the sum: take the last kept token.
    uint fallback = subgroupMax(any_kept ? last_kept : 0u);
    if (subgroupElect()) redu[gl_SubgroupID] = fallback;
    barrier();
    if (tid == 0u) {
        uint r = pick;
        if (r == 0xffffffffu) {
            r = 0u;
            for (uint i = 0; i < gl_NumSubgroups; i++) r = max(r, redu[i]);
        }
        ids[pc.off[1] + row] = int(r);
    }
}
