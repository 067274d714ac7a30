/* Helpers shared by the live-engine tests: patches from text, a recorder
 * that runs the audio side block by block on a virtual clock, and onset
 * detection for click tracks. Header-only: each test program is one file. */
#ifndef RG_TEST_LIVE_UTIL_H
#define RG_TEST_LIVE_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "graph/patch.h"
#include "runtime/live.h"

#define RATE 48000
#define BLOCK 256

static inline rg_graph *patch_from(const char *text)
{
    rg_error err = {0};
    rg_graph *g = rg_patch_parse(rg_builtin_registry(), text, strlen(text), "t.rpatch", &err);
    if (!g)
        fprintf(stderr, "# %s:%d:%d: %s\n", err.file, err.line, err.col, err.message);
    return g;
}

/* The first output's left channel, recorded frame by frame on a virtual
 * clock: frame f sounds at t0 + f / RATE seconds. */
typedef struct {
    rg_live *lv;
    float *left, *right;
    long cap, frames;
    uint64_t t0_ns;
} recorder;

static inline uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void rec_init(recorder *r, rg_live *lv, double seconds)
{
    r->lv = lv;
    r->cap = (long)(seconds * RATE) + BLOCK;
    r->left = calloc((size_t)r->cap, sizeof(float));
    r->right = calloc((size_t)r->cap, sizeof(float));
    r->frames = 0;
    r->t0_ns = wall_ns();
}

static inline uint64_t rec_ns_of(const recorder *r, long frame)
{
    return r->t0_ns + (uint64_t)((double)frame * 1e9 / RATE);
}

/* Run blocks until `frames` have been recorded (at most the capacity). */
static inline void rec_run(recorder *r, long frames)
{
    while (r->frames < frames && r->frames + BLOCK <= r->cap) {
        float *out[2 * RG_LIVE_MAX_OUTPUTS] = {r->left + r->frames, r->right + r->frames};
        rg_live_process(r->lv, BLOCK, out, rec_ns_of(r, r->frames));
        r->frames += BLOCK;
    }
}

static inline void rec_free(recorder *r)
{
    free(r->left);
    free(r->right);
}

/* Frames where a click starts: a sample above `level` after at least `gap`
 * frames below it. */
static inline int find_onsets(const float *x, long n, float level, long gap, long *onsets, int max)
{
    int count = 0;
    long quiet = gap;
    for (long i = 0; i < n && count < max; i++) {
        if (fabsf(x[i]) > level) {
            if (quiet >= gap)
                onsets[count++] = i;
            quiet = 0;
        } else {
            quiet++;
        }
    }
    return count;
}

#endif
