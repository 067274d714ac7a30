/* Which live edits restart a node: only a change of a parameter its state
 * was made from (rg_param_def.restarts: a model, a file, a seed, a player's
 * crossfade). Any other change keeps the running state (and with it a
 * decoder's player and loaded codec); the engine proves it by handing the
 * new engine the very same state object. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "graph/patch.h"
#include "nodes/registry.h"
#include "runtime/engine.h"

static const char *root;

/* The state object of node `name` after editing `before` into `after`,
 * and the one it had before. */
static void states_across(const char *before, const char *after, const char *name, void **old_state,
                          void **new_state) {
    rg_error err = {0};
    rg_host_info host = {.sample_rate = 48000, .max_block = 64, .base_dir = root};
    rg_graph *g1 = rg_patch_parse(rg_builtin_registry(), before, strlen(before), "a.rpatch", &err);
    rg_graph *g2 = rg_patch_parse(rg_builtin_registry(), after, strlen(after), "b.rpatch", &err);
    assert_non_null(g1);
    assert_non_null(g2);
    rg_engine *e1 = rg_engine_new(g1, &host, &err);
    if (!e1) fail_msg("%s", err.message);
    *old_state = rg_engine_node(e1, rg_engine_find_node(e1, name))->state;
    rg_engine *e2 = rg_engine_new_carry(g2, &host, e1, g1, &err);
    if (!e2) fail_msg("%s", err.message);
    *new_state = rg_engine_node(e2, rg_engine_find_node(e2, name))->state;
    rg_engine_free(e1);
    rg_engine_free(e2);
    rg_graph_free(g1);
    rg_graph_free(g2);
}

static bool kept(const char *before, const char *after, const char *name) {
    void *a, *b;
    states_across(before, after, name, &a, &b);
    return a == b;
}

#define DECODER(params) "node d decoder " params "\nnode o output\nd.audio -> o.in\n"
#define NOISE(params) "node n noise " params "\nnode o output\nn.out -> o.in\n"
#define GENERATOR(params) "node g generator " params "\n"

static void test_a_value_read_where_it_is_used_keeps_the_node(void **state) {
    (void)state;
    assert_true(kept(DECODER("codebooks=0"), DECODER("codebooks=2"), "d"));   /* int */
    assert_true(kept(DECODER("chunk=1"), DECODER("chunk=2"), "d"));           /* float */
    assert_true(kept(NOISE("amp=0.1"), NOISE("amp=0.2"), "n"));
    assert_true(kept(GENERATOR("bars=4 seed=1 track=drums"), GENERATOR("bars=2 seed=9 track=bass"),
                     "g"));
}

static void test_a_value_the_state_was_made_from_restarts_it(void **state) {
    (void)state;
    assert_false(kept(DECODER("crossfade=10"), DECODER("crossfade=20"), "d")); /* float, in init */
    assert_false(kept(NOISE("seed=1"), NOISE("seed=2"), "n"));
    assert_false(kept(GENERATOR("model=\"models/default\""),
                      GENERATOR("model=\"tests/fixtures/lm/tiny\""), "g"));
    /* and an unchanged patch keeps everything */
    assert_true(kept(NOISE("seed=1"), NOISE("seed=1"), "n"));
}

int main(void) {
    root = getenv("RESONANT_SOURCE_DIR");
    if (!root) root = ".";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_value_read_where_it_is_used_keeps_the_node),
        cmocka_unit_test(test_a_value_the_state_was_made_from_restarts_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
