/* The conditioner and generator nodes in a patch, on the tiny fixture
 * checkpoint: the generation pass turns a prompt into tokens that match the
 * PyTorch reference's greedy decoding, the take's length follows `bars` at
 * the patch tempo or `seconds`, takes carry their prompt and seed, a bad
 * model folder fails at load time, and conditioning from another checkpoint
 * is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/patch.h"
#include "runtime/generate.h"
#include "runtime/model/cond.h"
#include "runtime/model/safetensors.h"
#include "runtime/model/tokens.h"

#include "nodes/registry.h"

static char root[1024];

typedef struct {
    rg_graph *g;
    rg_engine *e;
} rig;

static bool start(const char *text, rig *r, rg_error *err) {
    r->g = rg_patch_parse(rg_builtin_registry(), text, strlen(text), "lm.rpatch", err);
    if (!r->g) return false;
    rg_host_info host = {.sample_rate = 48000, .max_block = 64, .base_dir = root};
    r->e = rg_engine_new(r->g, &host, err);
    return r->e != NULL;
}

static void stop(rig *r) {
    rg_engine_free(r->e);
    rg_graph_free(r->g);
}

static bool generate(rig *r, rg_error *err) {
    rg_job job = {.transport = rg_engine_transport(r->e)};
    return rg_engine_generate(r->e, &job, NULL, err);
}

static rg_data *published(rig *r, const char *node) {
    return rg_node_published(rg_engine_node(r->e, rg_engine_find_node(r->e, node)), 0);
}

#define MODEL "model=\"tests/fixtures/lm/tiny\" "

static void test_prompt_to_tokens_matches_reference(void **state) {
    (void)state;
    rig r;
    rg_error err = {0};
    const char *patch = "node text conditioner " MODEL "prompt=\"dark minimal techno in A minor\"\n"
                        "node gen generator " MODEL "seconds=1 seed=7 temperature=0 guidance=3\n"
                        "text.cond -> gen.cond\n";
    if (!start(patch, &r, &err) || !generate(&r, &err)) fail_msg("%s", err.message);
    rg_data *d = published(&r, "gen");
    const rg_tokens *tk = rg_data_tokens(d);
    assert_non_null(tk);
    assert_int_equal(tk->frames, 50); /* 1 s at 32000 / 640 */
    assert_int_equal(tk->n_codebooks, 4);
    assert_int_equal(tk->codebook_size, 128);
    assert_int_equal(tk->sample_rate, 32000);
    assert_int_equal(tk->hop_length, 640);
    assert_string_equal(d->prompt, "dark minimal techno in A minor");
    assert_int_equal(d->seed, 7);

    /* Greedy: the frames whose inputs a 50-frame run shares with the
     * reference's 97-frame run (t <= 50 - K) are the reference's. */
    char path[1200];
    snprintf(path, sizeof path, "%s/tests/fixtures/lm/expected.safetensors", root);
    rg_st_file exp;
    assert_true(rg_st_open(path, &exp, &err));
    const rg_st_tensor *g = rg_st_find(&exp, "greedy.cfg");
    const int32_t *want = (const int32_t *)(exp.data + g->begin);
    int bad = 0;
    for (int k = 0; k < 4; k++)
        for (int t = 0; t <= 50 - 4; t++)
            if (tk->codes[k * 50 + t] != want[k * 100 + k + t] && bad++ < 5)
                fprintf(stderr, "# codebook %d frame %d: %d, reference %d\n", k, t,
                        tk->codes[k * 50 + t], want[k * 100 + k + t]);
    assert_int_equal(bad, 0);
    rg_st_close(&exp);
    rg_data_unref(d);
    stop(&r);
}

static void test_bars_follow_the_tempo(void **state) {
    (void)state;
    rig r;
    rg_error err = {0};
    const char *patch = "tempo 150\nmeter 3/4\n"
                        "node gen generator " MODEL "bars=2 temperature=0.8 top_k=10\n";
    if (!start(patch, &r, &err) || !generate(&r, &err)) fail_msg("%s", err.message);
    rg_data *d = published(&r, "gen");
    const rg_tokens *tk = rg_data_tokens(d);
    assert_non_null(tk);
    assert_int_equal(tk->frames, 120); /* 2 bars of 3/4 at 150 bpm = 2.4 s */
    assert_int_equal(d->bars, 2);
    for (int i = 0; i < 4 * 120; i++) assert_true(tk->codes[i] >= 0 && tk->codes[i] < 128);
    rg_data_unref(d);
    stop(&r);
}

static void test_conditioner_publishes_states(void **state) {
    (void)state;
    rig r;
    rg_error err = {0};
    const char *patch = "node text conditioner " MODEL "prompt=\"  \"\n";
    if (!start(patch, &r, &err) || !generate(&r, &err)) fail_msg("%s", err.message);
    rg_data *d = published(&r, "text");
    const rg_cond *c = rg_data_cond(d);
    assert_non_null(c);
    assert_int_equal(c->len, 0); /* whitespace only: the null condition */
    assert_null(c->states);
    rg_data_unref(d);
    stop(&r);
}

static void test_bad_models_fail_at_load(void **state) {
    (void)state;
    rig r;
    rg_error err = {0};
    assert_false(start("node gen generator model=\"no/such/folder\"\n", &r, &err));
    fprintf(stderr, "# %s\n", err.message);
    assert_non_null(strstr(err.message, "no/such/folder"));
    rg_graph_free(r.g);
    assert_false(start("node gen generator\n", &r, &err));
    assert_non_null(strstr(err.message, "no model given"));
    rg_graph_free(r.g);
    assert_false(start("node gen generator model=\"tests/fixtures/encodec/32k\"\n", &r, &err));
    assert_non_null(strstr(err.message, "not a MusicGen checkpoint"));
    rg_graph_free(r.g);
}

static void test_too_long_a_take_is_an_error(void **state) {
    (void)state;
    rig r;
    rg_error err = {0};
    assert_true(start("node gen generator " MODEL "seconds=60\n", &r, &err));
    assert_false(generate(&r, &err));
    fprintf(stderr, "# %s\n", err.message);
    assert_non_null(strstr(err.message, "this model makes"));
    stop(&r);
}

/* A newer request cancels the job between decoding steps: the pass stops
 * with no error and the generator publishes nothing. */
static void cancel_after_three(rg_job *job, const rg_node *node, double fraction) {
    (void)node;
    (void)fraction;
    int *calls = job->user;
    if (++*calls == 3) atomic_store(&job->cancel, true);
}

static void test_cancel_between_steps(void **state) {
    (void)state;
    rig r;
    rg_error err = {0};
    assert_true(start("node gen generator " MODEL "seconds=2 seed=1\n", &r, &err));
    int calls = 0;
    rg_job job = {.transport = rg_engine_transport(r.e), .on_progress = cancel_after_three,
                  .user = &calls};
    assert_false(rg_engine_generate(r.e, &job, NULL, &err));
    assert_int_equal(err.code, RG_ERR_NONE);
    assert_int_equal(calls, 3);
    assert_null(published(&r, "gen"));
    stop(&r);
}

int main(void) {
    const char *src = getenv("RESONANT_SOURCE_DIR");
    snprintf(root, sizeof root, "%s", src ? src : ".");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prompt_to_tokens_matches_reference),
        cmocka_unit_test(test_bars_follow_the_tempo),
        cmocka_unit_test(test_conditioner_publishes_states),
        cmocka_unit_test(test_bad_models_fail_at_load),
        cmocka_unit_test(test_too_long_a_take_is_an_error),
        cmocka_unit_test(test_cancel_between_steps),
    };
    return cmocka_run_group_tests_name("lm_nodes", tests, NULL, NULL);
}
