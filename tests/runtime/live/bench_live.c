/* Benchmark (not a test): the cost of the live engine's audio callback,
 * rg_live_process, per block, on a patch, without JACK. Two runs: the patch
 * alone, then with a control thread sending float sets at a few thousand per
 * second and a rebuild (node add/remove) every 100 ms, which is what the
 * callback sees while someone plays TouchOSC faders and live-codes.
 *
 *   bench_live [PATCH] [SECONDS]     (default patches/tones.rpatch, 10 s)
 *
 * Blocks are paced in real time, as a sound card would (so caches go cold
 * between blocks as they do live). Per block it takes the wall time spent
 * inside rg_live_process and the thread's CPU time for it
 * (CLOCK_THREAD_CPUTIME_ID, which time spent preempted by other processes
 * does not inflate: the number to compare with the block's length, as the
 * JACK backend's own-overrun count does). A 256-frame block at 48 kHz lasts
 * 5333 us. It first prints what reading each clock costs, since the backend
 * reads the CPU clock twice per block when RESONANT_RT_DIAGNOSTICS is set. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "graph/patch.h"
#include "runtime/live.h"

#define RATE 48000
#define BLOCK 256

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

/* Nanoseconds per clock_gettime(id), over many calls. */
static double clock_cost_ns(clockid_t id)
{
    enum { CALLS = 200000 };
    uint64_t t0 = mono_ns();
    for (int i = 0; i < CALLS; i++)
        (void)clock_ns(id);
    return (double)(mono_ns() - t0) / CALLS;
}

typedef struct {
    rg_live *lv;
    atomic_bool stop;
    long sets, rebuilds, refused;
    char node[64], param[64];
} control;

/* Sets on the first float parameter of the first node that has one, and a
 * node added and removed every 100 ms. */
static void *control_thread(void *arg)
{
    control *c = arg;
    rg_error err;
    uint64_t next_rebuild = mono_ns();
    for (long i = 0; !atomic_load(&c->stop); i++) {
        rg_literal v = {RG_LIT_FLOAT, 0.1 + 0.001 * (i % 100), NULL};
        if (rg_live_set(c->lv, c->node, c->param, &v, (rg_live_when){0, false}, &err))
            c->sets++;
        else
            c->refused++;
        if (mono_ns() >= next_rebuild) {
            rg_graph *g = rg_graph_clone(rg_live_graph(c->lv));
            bool present = rg_graph_find_node(g, "bench_tone") >= 0;
            bool ok = present ? rg_graph_remove_node(g, "bench_tone", &err)
                              : rg_graph_add_node(g, "bench_tone", "sine", NULL, &err);
            if (ok && rg_live_apply(c->lv, g, (rg_live_when){0, false}, &err))
                c->rebuilds++;
            else if (!ok)
                rg_graph_free(g);
            next_rebuild += 100000000ull;
        }
        rg_live_poll(c->lv, NULL, NULL);
        usleep(200); /* a few thousand sets a second */
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* One line of figures: mean, p99 and worst of `t` (sorted here), in us. */
static void report(const char *label, const char *clock, uint64_t *t, long n)
{
    double sum = 0;
    for (long b = 0; b < n; b++)
        sum += (double)t[b];
    qsort(t, (size_t)n, sizeof *t, cmp_u64);
    printf("%-24s %-4s %7ld blocks  mean %7.1f us  p99 %7.1f us  max %7.1f us\n", label, clock, n, sum / n / 1e3,
           t[n * 99 / 100] / 1e3, t[n - 1] / 1e3);
}

static void run(rg_live *lv, long blocks, const char *label)
{
    static float l[BLOCK], r[BLOCK];
    float *out[2 * RG_LIVE_MAX_OUTPUTS] = {l, r};
    uint64_t *wall = malloc((size_t)blocks * sizeof *wall), *cpu = malloc((size_t)blocks * sizeof *cpu);
    uint64_t now = clock_ns(CLOCK_REALTIME), start = mono_ns();
    long over = 0;
    for (long b = 0; b < blocks; b++) {
        uint64_t due = start + (uint64_t)(b * BLOCK * 1e9 / RATE);
        struct timespec ts = {(time_t)(due / 1000000000ull), (long)(due % 1000000000ull)};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        uint64_t c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID), t0 = mono_ns();
        rg_live_process(lv, BLOCK, out, now + (uint64_t)(b * BLOCK * 1e9 / RATE));
        wall[b] = mono_ns() - t0;
        cpu[b] = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
        over += cpu[b] > BLOCK * 1e9 / RATE;
    }
    report(label, "wall", wall, blocks);
    report("", "cpu", cpu, blocks);
    printf("%-24s blocks whose CPU time exceeded the block: %ld\n", "", over);
    free(wall);
    free(cpu);
}

/* The first node with a float parameter, for the control thread to move. */
static bool pick_param(const rg_graph *g, control *c)
{
    for (int i = 0; i < g->n_nodes; i++)
        for (int p = 0; p < g->nodes[i].type->n_params; p++)
            if (g->nodes[i].type->params[p].type == RG_PARAM_FLOAT) {
                snprintf(c->node, sizeof c->node, "%s", g->nodes[i].name);
                snprintf(c->param, sizeof c->param, "%s", g->nodes[i].type->params[p].name);
                return true;
            }
    return false;
}

int main(int argc, char **argv)
{
    char def[1024];
    snprintf(def, sizeof def, "%s/patches/tones.rpatch",
             getenv("RESONANT_SOURCE_DIR") ? getenv("RESONANT_SOURCE_DIR") : ".");
    const char *path = argc > 1 ? argv[1] : def;
    double seconds = argc > 2 ? atof(argv[2]) : 10;
    rg_error err = {0};
    rg_graph *g = rg_patch_load(rg_builtin_registry(), path, &err);
    if (!g) {
        fprintf(stderr, "%s:%d:%d: %s\n", err.file, err.line, err.col, err.message);
        return 1;
    }
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    rg_live *lv = rg_live_new(g, RATE, slash ? dir : ".", &err);
    if (!lv) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    long blocks = (long)(seconds * RATE / BLOCK);
    printf("clock_gettime: CLOCK_MONOTONIC %.0f ns, CLOCK_THREAD_CPUTIME_ID %.0f ns a call\n",
           clock_cost_ns(CLOCK_MONOTONIC), clock_cost_ns(CLOCK_THREAD_CPUTIME_ID));
    printf("%s, %d frames per block at %d Hz (%.0f us of real time per block)\n", path, BLOCK, RATE,
           1e6 * BLOCK / RATE);
    run(lv, blocks, "patch alone");
    control c = {.lv = lv};
    pthread_t tid;
    if (pick_param(g, &c) && pthread_create(&tid, NULL, control_thread, &c) == 0) {
        run(lv, blocks, "with sets and rebuilds");
        atomic_store(&c.stop, true);
        pthread_join(tid, NULL);
        printf("control: %ld sets (%ld refused as busy), %ld rebuilds of %s.%s's patch\n", c.sets,
               c.refused, c.rebuilds, c.node, c.param);
    }
    rg_live_free(lv);
    rg_graph_free(g);
    return 0;
}
