/* The built-in nodes, driven through the engine block by block. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "graph/patch.h"
#include "runtime/engine.h"

enum { RATE = 48000, BLOCK = 128 };

typedef struct {
    rg_graph *graph;
    rg_engine *engine;
} rig;

static rig start(const char *patch)
{
    rg_error err = {0};
    rig r = {rg_patch_parse(rg_builtin_registry(), patch, strlen(patch), "t", &err), NULL};
    if (!r.graph)
        fail_msg("%d:%d %s", err.line, err.col, err.message);
    rg_host_info host = {.sample_rate = RATE, .max_block = BLOCK, .base_dir = "."};
    r.engine = rg_engine_new(r.graph, &host, &err);
    if (!r.engine)
        fail_msg("%s", err.message);
    return r;
}

static void stop(rig *r)
{
    rg_engine_free(r->engine);
    rg_graph_free(r->graph);
}

static rg_node *node(rig *r, const char *name)
{
    return rg_engine_node(r->engine, rg_engine_find_node(r->engine, name));
}

static double rms(const float *x, int n)
{
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += (double)x[i] * x[i];
    return sqrt(sum / n);
}

static void sine_has_its_frequency_and_level(void **state)
{
    (void)state;
    rig r = start("node s sine freq=1000 amp=0.5\nnode o output\ns.out -> o.in\n");
    int crossings = 0;
    float prev = 0, peak = 0;
    for (int b = 0; b < RATE / BLOCK; b++) { /* one second */
        rg_engine_process(r.engine, BLOCK);
        const float *x = node(&r, "s")->out[0].ch[0];
        for (int i = 0; i < BLOCK; i++) {
            crossings += prev < 0 && x[i] >= 0;
            prev = x[i];
            peak = fmaxf(peak, fabsf(x[i]));
        }
    }
    assert_in_range(crossings, 999, 1001);
    assert_true(fabsf(peak - 0.5f) < 1e-3f);
    stop(&r);
}

static void noise_is_reproducible_by_seed(void **state)
{
    (void)state;
    float first[BLOCK], again[BLOCK], other[BLOCK];
    const char *patches[] = {"node n noise seed=5\n", "node n noise seed=5\n", "node n noise seed=6\n"};
    float *outs[] = {first, again, other};
    for (int k = 0; k < 3; k++) {
        rig r = start(patches[k]);
        rg_engine_process(r.engine, BLOCK);
        memcpy(outs[k], node(&r, "n")->out[0].ch[0], sizeof first);
        stop(&r);
    }
    assert_memory_equal(first, again, sizeof first);
    assert_memory_not_equal(first, other, sizeof first);
    assert_true(rms(first, BLOCK) > 0.05);
}

static void mixer_pans_with_equal_power(void **state)
{
    (void)state;
    rig r = start("node a sine freq=440 amp=1\nnode b sine freq=440 amp=1\nnode m mixer pan1=-1 pan2=0 gain2=0\n"
                  "a.out -> m.in\nb.out -> m.in\n");
    rg_engine_process(r.engine, BLOCK);
    const rg_audio *out = &node(&r, "m")->out[0];
    assert_true(rms(out->ch[0], BLOCK) > 0.5);
    assert_true(rms(out->ch[1], BLOCK) < 1e-6);
    stop(&r);

    r = start("node a sine freq=440 amp=1\nnode m mixer\na.out -> m.in\n");
    rg_engine_process(r.engine, BLOCK);
    out = &node(&r, "m")->out[0];
    double l = rms(out->ch[0], BLOCK), mono = rms(node(&r, "a")->out[0].ch[0], BLOCK);
    assert_true(fabs(l / mono - sqrt(0.5)) < 1e-3); /* -3 dB at the centre */
    assert_memory_equal(out->ch[0], out->ch[1], BLOCK * sizeof(float));
    stop(&r);
}

static void mixer_sums_strips_in_patch_order(void **state)
{
    (void)state;
    /* Strip 2 is the second cable (b): muting it leaves only a. */
    rig r = start("node a sine freq=300 amp=1\nnode b sine freq=700 amp=1\nnode m mixer gain2=0\n"
                  "node ref mixer\na.out -> m.in\nb.out -> m.in\na.out -> ref.in\n");
    rg_engine_process(r.engine, BLOCK);
    assert_memory_equal(node(&r, "m")->out[0].ch[0], node(&r, "ref")->out[0].ch[0], BLOCK * sizeof(float));
    stop(&r);
}

static void gain_change_glides_without_a_jump(void **state)
{
    (void)state;
    rig r = start("node s sine freq=10 amp=1\nnode g gain gain=0\nnode o output\ns.out -> g.in\ng.out -> o.in\n");
    rg_engine_process(r.engine, BLOCK);
    rg_node *g = node(&r, "g");
    g->params[0].num = 1.0; /* a fader thrown from 0 to 1 */
    rg_engine_process(r.engine, BLOCK);
    const float *x = node(&r, "s")->out[0].ch[0], *y = g->out[0].ch[0];
    /* The gain rises by 1/BLOCK per frame: no step bigger than that times the signal. */
    for (int i = 0; i < BLOCK; i++)
        assert_true(fabsf(y[i] - x[i] * (float)i / BLOCK) < 1e-4f);
    rg_engine_process(r.engine, BLOCK);
    assert_memory_equal(g->out[0].ch[0], node(&r, "s")->out[0].ch[0], BLOCK * sizeof(float));
    stop(&r);
}

static void output_sums_its_cables(void **state)
{
    (void)state;
    rig r = start("node a sine freq=300 amp=0.25\nnode b sine freq=300 amp=0.25\nnode o output\n"
                  "a.out -> o.in\nb.out -> o.in\n");
    rg_engine_process(r.engine, BLOCK);
    const float *a = node(&r, "a")->out[0].ch[0], *sink = node(&r, "o")->sink.ch[1];
    for (int i = 0; i < BLOCK; i++)
        assert_true(fabsf(sink[i] - 2 * a[i]) < 1e-6f);
    stop(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sine_has_its_frequency_and_level),
        cmocka_unit_test(noise_is_reproducible_by_seed),
        cmocka_unit_test(mixer_pans_with_equal_power),
        cmocka_unit_test(mixer_sums_strips_in_patch_order),
        cmocka_unit_test(gain_change_glides_without_a_jump),
        cmocka_unit_test(output_sums_its_cables),
    };
    return cmocka_run_group_tests_name("nodes", tests, NULL, NULL);
}
