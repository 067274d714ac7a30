/* The graph core: type checks, fan-out, multi-cable inputs, scheduling
 * order, cycles, edits that fail without changing anything. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "graph/patch.h"
#include "tests/graph/fake_nodes.h"

static rg_graph *parse(const char *text)
{
    rg_error err = {0};
    rg_graph *g = rg_patch_parse(fake_registry(), text, strlen(text), "t.rpatch", &err);
    if (!g)
        print_error("%s:%d:%d: %s\n", err.file, err.line, err.col, err.message);
    assert_non_null(g);
    return g;
}

static int position_of(const rg_graph *g, const int *order, const char *name)
{
    int idx = rg_graph_find_node(g, name);
    for (int i = 0; i < g->n_nodes; i++)
        if (order[i] == idx)
            return i;
    fail_msg("node %s not scheduled", name);
    return -1;
}

static void schedule_puts_sources_first(void **state)
{
    (void)state;
    /* Declared in reverse of the signal flow. */
    rg_graph *g = parse("node out output\nnode mix mixer\nnode g gain\nnode b sine\nnode a sine\n"
                        "mix.out -> out.in\ng.out -> mix.in\na.out -> g.in\nb.out -> mix.in\n");
    int order[5];
    rg_error err;
    assert_true(rg_graph_schedule(g, order, &err));
    assert_true(position_of(g, order, "a") < position_of(g, order, "g"));
    assert_true(position_of(g, order, "g") < position_of(g, order, "mix"));
    assert_true(position_of(g, order, "b") < position_of(g, order, "mix"));
    assert_true(position_of(g, order, "mix") < position_of(g, order, "out"));
    /* Ties keep patch order: b is declared before a. */
    assert_true(position_of(g, order, "b") < position_of(g, order, "a"));
    rg_graph_free(g);
}

static void fan_out_feeds_several_inputs(void **state)
{
    (void)state;
    rg_graph *g = parse("node s sine\nnode g1 gain\nnode g2 gain\nnode o output\n"
                        "s.out -> g1.in\ns.out -> g2.in\ns.out -> o.in\n");
    assert_int_equal(g->n_edges, 3);
    rg_graph_free(g);
}

static void mixer_takes_eight_cables_not_nine(void **state)
{
    (void)state;
    rg_graph *g = parse("node m mixer\n");
    rg_error err;
    char name[8];
    for (int i = 0; i < 9; i++) {
        snprintf(name, sizeof name, "s%d", i);
        assert_true(rg_graph_add_node(g, name, "sine", NULL, &err));
        bool ok = rg_graph_connect(g, name, "out", "m", "in", NULL, &err);
        assert_int_equal(ok, i < 8);
    }
    assert_int_equal(err.code, RG_ERR_CABLES);
    assert_non_null(strstr(err.message, "at most 8 cables"));
    assert_int_equal(g->n_edges, 8);
    rg_graph_free(g);
}

static void failed_edit_changes_nothing(void **state)
{
    (void)state;
    rg_graph *g = parse("node a gain\nnode b gain\na.out -> b.in\nset a.gain 0.5\n");
    rg_graph *before = rg_graph_clone(g);
    rg_error err;
    assert_false(rg_graph_connect(g, "b", "out", "a", "in", NULL, &err));
    assert_int_equal(err.code, RG_ERR_CYCLE);
    rg_literal loud = {RG_LIT_FLOAT, 99, NULL};
    assert_false(rg_graph_set_param(g, "a", "gain", &loud, NULL, &err));
    assert_int_equal(err.code, RG_ERR_VALUE);
    assert_false(rg_graph_add_node(g, "a", "sine", NULL, &err));
    assert_false(rg_graph_add_node(g, "c", "sinus", NULL, &err));
    assert_int_equal(err.code, RG_ERR_UNKNOWN_TYPE);
    assert_true(rg_graph_equal(g, before));
    rg_graph_free(before);
    rg_graph_free(g);
}

static void port_types_must_match(void **state)
{
    (void)state;
    rg_graph *g = parse("node t t_text\nnode g t_gen\nnode h t_gen\nnode d t_dec\nnode c t_clock\n"
                        "t.cond -> g.cond\nc.grid -> g.grid\ng.tokens -> h.context\ng.tokens -> d.tokens\n");
    assert_int_equal(g->n_edges, 4);
    rg_error err;
    const char *bad[][4] = {{"t", "cond", "h", "context"}, {"g", "tokens", "h", "cond"},
                            {"c", "grid", "d", "tokens"}, {"d", "audio", "h", "grid"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(rg_graph_connect(g, bad[i][0], bad[i][1], bad[i][2], bad[i][3], NULL, &err));
        assert_int_equal(err.code, RG_ERR_PORT_TYPE);
    }
    assert_int_equal(g->n_edges, 4);
    rg_graph_free(g);
}

static void remove_node_takes_its_cables(void **state)
{
    (void)state;
    rg_graph *g = parse("node a sine\nnode g gain\nnode o output\na.out -> g.in\ng.out -> o.in\na.out -> o.in\n");
    rg_error err;
    assert_true(rg_graph_remove_node(g, "g", &err));
    assert_int_equal(g->n_nodes, 2);
    assert_int_equal(g->n_edges, 1);
    assert_int_equal(g->edges[0].src_node, rg_graph_find_node(g, "a"));
    assert_int_equal(g->edges[0].dst_node, rg_graph_find_node(g, "o"));
    assert_true(rg_graph_disconnect(g, "a", "out", "o", "in", &err));
    assert_int_equal(g->n_edges, 0);
    assert_false(rg_graph_disconnect(g, "a", "out", "o", "in", &err));
    rg_graph_free(g);
}

static void schedule_reports_cycle_built_by_hand(void **state)
{
    (void)state;
    rg_graph *g = parse("node a gain\nnode b gain\na.out -> b.in\n");
    /* Edits refuse cycles; force one to check the scheduler's own guard. */
    g->edges[0] = (rg_edge){.src_node = 0, .src_port = 0, .dst_node = 0, .dst_port = 0};
    int order[2];
    rg_error err;
    assert_false(rg_graph_schedule(g, order, &err));
    assert_int_equal(err.code, RG_ERR_CYCLE);
    rg_graph_free(g);
}

static void bar_frames_are_exact(void **state)
{
    (void)state;
    assert_true(rg_bar_frames(120, 4, 4, 48000) == 96000.0);
    assert_true(rg_bar_frames(120, 6, 8, 48000) == 72000.0);
    assert_true(rg_bar_frames(90, 3, 4, 44100) == 88200.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(schedule_puts_sources_first),
        cmocka_unit_test(fan_out_feeds_several_inputs),
        cmocka_unit_test(mixer_takes_eight_cables_not_nine),
        cmocka_unit_test(failed_edit_changes_nothing),
        cmocka_unit_test(port_types_must_match),
        cmocka_unit_test(remove_node_takes_its_cables),
        cmocka_unit_test(schedule_reports_cycle_built_by_hand),
        cmocka_unit_test(bar_frames_are_exact),
    };
    return cmocka_run_group_tests_name("graph", tests, NULL, NULL);
}
