/* parse(write(g)) == g, for every patch shipped in patches/ and for graphs
 * with every kind of value, and the canonical form is a fixed point. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "graph/patch.h"
#include "tests/graph/fake_nodes.h"

static void assert_round_trip(const rg_graph *g)
{
    char *text = rg_patch_write(g);
    assert_non_null(text);
    rg_error err = {0};
    rg_graph *back = rg_patch_parse(g->registry, text, strlen(text), "written", &err);
    if (!back)
        fail_msg("canonical text does not parse: %s:%d:%d %s\n%s", err.file, err.line, err.col,
                 err.message, text);
    assert_true(rg_graph_equal(g, back));
    char *again = rg_patch_write(back);
    assert_string_equal(text, again);
    free(again);
    free(text);
    rg_graph_free(back);
}

static void shipped_patches_round_trip(void **state)
{
    (void)state;
    const char *src = getenv("RESONANT_SOURCE_DIR");
    assert_non_null(src);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/patches", src);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int count = 0;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        size_t n = strlen(ent->d_name);
        if (n < 8 || strcmp(ent->d_name + n - 7, ".rpatch") != 0)
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
        rg_error err = {0};
        rg_graph *g = rg_patch_load(rg_builtin_registry(), path, &err);
        if (!g)
            fail_msg("%s:%d:%d: %s", err.file, err.line, err.col, err.message);
        assert_round_trip(g);
        rg_graph_free(g);
        count++;
    }
    closedir(d);
    assert_true(count >= 1);
}

static void awkward_values_round_trip(void **state)
{
    (void)state;
    const char *text =
        "tempo 133.3333333333333\nmeter 7/8\n"
        "node t t_text prompt=\"quotes \\\" backslash \\\\ newline \\n # hash = equals\"\n"
        "node g t_gen track=bass seed=2147483647 lock=true temperature=0.1\n"
        "node s sine freq=0.1 amp=1e-7\n"
        "node f file_in path=\"with space.wav\" loop=false\n"
        "node o output gain=0\n"
        "node d t_dec\n"
        "t.cond -> g.cond\ng.tokens -> d.tokens\nd.audio -> o.in\ns.out -> o.in\nf.out -> o.in\n";
    rg_error err = {0};
    rg_graph *g = rg_patch_parse(fake_registry(), text, strlen(text), "t", &err);
    assert_non_null(g);
    assert_round_trip(g);
    rg_graph_free(g);
}

static void graph_built_by_edits_round_trips(void **state)
{
    (void)state;
    rg_graph *g = rg_graph_new(rg_builtin_registry(), NULL);
    rg_error err;
    assert_true(rg_graph_set_tempo(g, 174, (rg_loc){0}, &err));
    assert_true(rg_graph_add_node(g, "n", "noise", NULL, &err));
    assert_true(rg_graph_add_node(g, "o", "output", NULL, &err));
    assert_true(rg_graph_connect(g, "n", "out", "o", "in", NULL, &err));
    rg_literal v = {RG_LIT_FLOAT, 0.123456789012345, NULL};
    assert_true(rg_graph_set_param(g, "n", "amp", &v, NULL, &err));
    assert_round_trip(g);
    rg_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shipped_patches_round_trip),
        cmocka_unit_test(awkward_values_round_trip),
        cmocka_unit_test(graph_built_by_edits_round_trips),
    };
    return cmocka_run_group_tests_name("patch_roundtrip", tests, NULL, NULL);
}
