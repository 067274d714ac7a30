/* The .rpatch parser: what it accepts, and for bad patches the exact place,
 * class and wording of the one error it reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "graph/patch.h"
#include "tests/graph/fake_nodes.h"

static rg_graph *parse(const char *text, rg_error *err)
{
    return rg_patch_parse(fake_registry(), text, strlen(text), "t.rpatch", err);
}

/* ---- good patches ------------------------------------------------------ */

static const char design_example[] =
    "tempo 124                          # bpm\n"
    "meter 4/4\n"
    "node text  t_text prompt=\"dark minimal techno in A minor\"\n"
    "node drums t_gen  track=drums bars=4 seed=7\n"
    "node bass  t_gen  track=bass  bars=4 lock=false\n"
    "node dd    t_dec\n"
    "node db    t_dec\n"
    "node mix   mixer\n"
    "node out   output\n"
    "text.cond    -> drums.cond\n"
    "text.cond    -> bass.cond\n"
    "drums.tokens -> bass.context       # bass is generated hearing the drums\n"
    "drums.tokens -> dd.tokens\n"
    "bass.tokens  -> db.tokens\n"
    "dd.audio     -> mix.in\n"
    "db.audio     -> mix.in\n"
    "mix.out      -> out.in\n"
    "set bass.temperature 0.9\n";

static void design_example_parses(void **state)
{
    (void)state;
    rg_error err = {0};
    rg_graph *g = parse(design_example, &err);
    assert_non_null(g);
    assert_true(g->tempo == 124.0);
    assert_int_equal(g->n_nodes, 7);
    assert_int_equal(g->n_edges, 8);
    int bass = rg_graph_find_node(g, "bass");
    assert_true(bass >= 0);
    int temp = rg_node_type_param(g->nodes[bass].type, "temperature");
    assert_true(g->nodes[bass].param_set[temp]);
    assert_true(g->nodes[bass].params[temp].num == 0.9);
    int text = rg_graph_find_node(g, "text");
    assert_string_equal(g->nodes[text].params[0].str, "dark minimal techno in A minor");
    /* mix.in collects two cables, in patch order. */
    int mix = rg_graph_find_node(g, "mix"), dd = rg_graph_find_node(g, "dd");
    int first = -1;
    for (int i = 0; i < g->n_edges && first < 0; i++)
        if (g->edges[i].dst_node == mix)
            first = g->edges[i].src_node;
    assert_int_equal(first, dd);
    rg_graph_free(g);
}

static void strings_escapes_and_comments(void **state)
{
    (void)state;
    rg_error err = {0};
    rg_graph *g = parse("\xEF\xBB\xBF# a comment line\n"
                        "\n"
                        "   node t t_text prompt=\"say \\\"hi\\\" \\\\ # not a comment\\nnext\"  # comment\r\n"
                        "node src file_in path=loops/amen-break_01.wav loop=true\n"
                        "node s sine freq=4.4e2\n"
                        "meter 7/8\n",
                        &err);
    assert_non_null(g);
    assert_string_equal(g->nodes[0].params[0].str, "say \"hi\" \\ # not a comment\nnext");
    assert_string_equal(g->nodes[1].params[0].str, "loops/amen-break_01.wav");
    assert_true(g->nodes[2].params[0].num == 440.0);
    assert_int_equal(g->meter_num, 7);
    assert_int_equal(g->meter_den, 8);
    rg_graph_free(g);
}

static void nodes_may_be_used_before_declared(void **state)
{
    (void)state;
    rg_error err = {0};
    rg_graph *g = parse("s.out -> o.in\nset o.gain 0.5\nnode s sine\nnode o output\n", &err);
    assert_non_null(g);
    assert_int_equal(g->n_edges, 1);
    rg_graph_free(g);
}

static void empty_patch_is_valid(void **state)
{
    (void)state;
    rg_error err = {0};
    rg_graph *g = parse("", &err);
    assert_non_null(g);
    assert_int_equal(g->n_nodes, 0);
    assert_true(g->tempo == 120.0);
    rg_graph_free(g);
}

static void set_overrides_inline_value(void **state)
{
    (void)state;
    rg_error err = {0};
    rg_graph *g = parse("node s sine freq=220\nset s.freq 330\n", &err);
    assert_non_null(g);
    assert_true(g->nodes[0].params[0].num == 330.0);
    rg_graph_free(g);
}

/* ---- bad patches ------------------------------------------------------- */

typedef struct {
    const char *text;
    int line, col;
    rg_error_code code;
    const char *message; /* a substring the message must contain */
    size_t len;          /* bytes, when the text holds a NUL; else 0 */
} bad_patch;

#define NODES "node s sine\nnode o output\nnode m mixer\n"

static const bad_patch bad_patches[] = {
    /* statements and syntax */
    {"nod s sine\n", 1, 1, RG_ERR_SYNTAX, "unknown statement 'nod' (did you mean 'node'?)", 0},
    {"frobnicate\n", 1, 1, RG_ERR_SYNTAX, "expected tempo, meter, node, set or a cable", 0},
    {"Node s sine\n", 1, 1, RG_ERR_SYNTAX, "must start with a lowercase letter", 0},
    {"node S sine\n", 1, 6, RG_ERR_SYNTAX, "must start with a lowercase letter", 0},
    {"node sQ sine\n", 1, 7, RG_ERR_SYNTAX, "unexpected 'Q' in a node name", 0},
    {"node\n", 1, 5, RG_ERR_SYNTAX, "expected a node name, found the end of the line", 0},
    {"node s\n", 1, 7, RG_ERR_SYNTAX, "expected a node type", 0},
    {"node s 9sine\n", 1, 8, RG_ERR_SYNTAX, "expected a node type, found '9sine'", 0},
    {"node s sine freq\n", 1, 17, RG_ERR_SYNTAX, "expected '=' after the parameter name", 0},
    {"node s sine freq=\n", 1, 18, RG_ERR_SYNTAX, "expected a value", 0},
    {"node s sine freq=1.2.3\n", 1, 18, RG_ERR_VALUE, "'1.2.3' is not a number", 0},
    {"node s sine freq=12abc\n", 1, 18, RG_ERR_VALUE, "'12abc' is not a number", 0},
    {"node t t_text prompt=\"open\n", 1, 22, RG_ERR_SYNTAX, "unterminated string", 0},
    {"node t t_text prompt=\"a\\tb\"\n", 1, 24, RG_ERR_SYNTAX, "unknown escape '\\t'", 0},
    {"node s sine # fine\nnode o output junk\n", 2, 19, RG_ERR_SYNTAX, "expected '=' after the parameter name", 0},
    {NODES "s.out -> o.in extra\n", 4, 15, RG_ERR_SYNTAX, "unexpected 'extra' after the end of the statement", 0},
    {NODES "s.out > o.in\n", 4, 7, RG_ERR_SYNTAX, "expected '->'", 0},
    {NODES "s.out -> o\n", 4, 11, RG_ERR_SYNTAX, "expected '.' between node and port", 0},
    {NODES "s. -> o.in\n", 4, 4, RG_ERR_SYNTAX, "expected an output port name", 0},
    {"tempo fast\n", 1, 7, RG_ERR_VALUE, "tempo takes a number", 0},
    {"tempo 5\n", 1, 7, RG_ERR_VALUE, "tempo must be between 20 and 999", 0},
    {"tempo 120 130\n", 1, 11, RG_ERR_SYNTAX, "unexpected '130'", 0},
    {"meter 4\n", 1, 8, RG_ERR_SYNTAX, "expected '/'", 0},
    {"meter 4/3\n", 1, 7, RG_ERR_VALUE, "note value 1, 2, 4, 8, 16 or 32, not 3", 0},
    {"meter 0/4\n", 1, 7, RG_ERR_VALUE, "a bar has 1 to 32 beats", 0},
    {"meter x/4\n", 1, 7, RG_ERR_SYNTAX, "expected the beats per bar", 0},
    {"set s.freq\nnode s sine\n", 1, 11, RG_ERR_SYNTAX, "expected a value", 0},
    {"set s freq 3\n", 1, 7, RG_ERR_SYNTAX, "expected '.' between node and parameter", 0},
    {"node s sine\x01\n", 1, 12, RG_ERR_SYNTAX, "found a control character (0x01)", 0},
    {"node s sine\nnode t sine freq=\xff\n", 2, 18, RG_ERR_SYNTAX, "invalid UTF-8", 0},
    {"node s sine\n\0node t sine\n", 2, 1, RG_ERR_SYNTAX, "NUL byte", 25},
    /* names, types and values */
    {"node s genrator\n", 1, 8, RG_ERR_UNKNOWN_TYPE, "unknown node type 'genrator'", 0},
    {"node s siné\n", 1, 11, RG_ERR_SYNTAX, "unexpected 'é' in a node type", 0},
    {"node o outptu\n", 1, 8, RG_ERR_UNKNOWN_TYPE, "(did you mean 'output'?)", 0},
    {"node s sine\nnode s noise\n", 2, 6, RG_ERR_DUPLICATE, "node 's' is already declared at line 1", 0},
    {"node s sine frq=3\n", 1, 13, RG_ERR_UNKNOWN_PARAM, "sine 's' has no parameter 'frq' (did you mean 'freq'?)", 0},
    {"node s sine freq=3 freq=4\n", 1, 20, RG_ERR_DUPLICATE, "parameter 'freq' is given twice", 0},
    {"node s sine freq=-5\n", 1, 18, RG_ERR_VALUE, "'freq' must be between 0 and 20000, not -5", 0},
    {"node s sine freq=loud\n", 1, 18, RG_ERR_VALUE, "'freq' takes a number", 0},
    {"node n noise seed=1.5\n", 1, 19, RG_ERR_VALUE, "'seed' takes a whole number", 0},
    {"node f file_in loop=maybe\n", 1, 21, RG_ERR_VALUE, "'loop' takes true or false", 0},
    {"node f file_out format=mp3\n", 1, 24, RG_ERR_VALUE, "'format' takes one of float|s16|s24, not 'mp3'", 0},
    {"node f file_in path=3\n", 1, 21, RG_ERR_VALUE, "'path' takes text", 0},
    {"node g t_gen track=flute\n", 1, 20, RG_ERR_VALUE, "takes one of drums|bass|chords|lead", 0},
    {"set q.freq 3\n", 1, 5, RG_ERR_UNKNOWN_NODE, "unknown node 'q'", 0},
    {"node sine1 sine\nset sine2.freq 3\n", 2, 5, RG_ERR_UNKNOWN_NODE, "(did you mean 'sine1'?)", 0},
    {"node s sine\nset s.amp 2\n", 2, 11, RG_ERR_VALUE, "'amp' must be between 0 and 1, not 2", 0},
    /* cables */
    {NODES "s.out -> x.in\n", 4, 10, RG_ERR_UNKNOWN_NODE, "unknown node 'x'", 0},
    {NODES "s.outt -> o.in\n", 4, 3, RG_ERR_UNKNOWN_PORT, "sine 's' has no output port 'outt' (did you mean 'out'?)", 0},
    {NODES "s.out -> o.inn\n", 4, 12, RG_ERR_UNKNOWN_PORT, "(did you mean 'in'?)", 0},
    {NODES "o.in -> m.in\n", 4, 3, RG_ERR_DIRECTION, "'o.in' is an input; a cable goes from an output to an input", 0},
    {NODES "s.out -> m.out\n", 4, 12, RG_ERR_DIRECTION, "'m.out' is an output", 0},
    {NODES "s.out -> s.in\n", 4, 12, RG_ERR_UNKNOWN_PORT, "sine 's' has no input ports", 0},
    {NODES "s.out -> m.in\ns.out -> m.in\n", 5, 1, RG_ERR_DUPLICATE, "'s.out -> m.in' is already connected", 0},
    {"node a sine\nnode b sine\nnode g gain\na.out -> g.in\nb.out -> g.in\n", 5, 12, RG_ERR_CABLES,
     "'g.in' takes one cable and already has one from 'a.out'", 0},
    {"node t t_text\nnode d t_dec\nt.cond -> d.tokens\n", 3, 13, RG_ERR_PORT_TYPE,
     "cannot connect cond output 't.cond' to tokens input 'd.tokens'", 0},
    {"node g t_gen\nnode m mixer\ng.tokens -> m.in\n", 3, 15, RG_ERR_PORT_TYPE,
     "cannot connect tokens output 'g.tokens' to audio input 'm.in'", 0},
    {"node c t_clock\nnode g t_gen\nc.grid -> g.cond\n", 3, 13, RG_ERR_PORT_TYPE, "grid output 'c.grid' to cond input", 0},
    {"node a gain\nnode b gain\na.out -> b.in\nb.out -> a.in\n", 4, 1, RG_ERR_CYCLE,
     "this cable closes a cycle: a -> b -> a", 0},
    {"node a gain\nnode b gain\nnode c gain\na.out -> b.in\nb.out -> c.in\nc.out -> a.in\n", 6, 1,
     RG_ERR_CYCLE, "a -> b -> c -> a", 0},
    {"node a gain\na.out -> a.in\n", 2, 1, RG_ERR_CYCLE, "cycle: a -> a", 0},
};

/* One cmocka test per bad patch, so a failure names its case. */
static void bad_patch_gets_its_error(void **state)
{
    const bad_patch *b = *state;
    size_t len = b->len ? b->len : strlen(b->text);
    rg_error err = {0};
    rg_graph *g = rg_patch_parse(fake_registry(), b->text, len, "t.rpatch", &err);
    char line[1024];
    rg_error_format(&err, line, sizeof line);
    if (g || err.code != b->code || err.line != b->line || err.col != b->col ||
        !strstr(err.message, b->message)) {
        print_error("patch:\n%s\nwant %d:%d %s '%s'\ngot  %s [%s]\n", b->text, b->line, b->col,
                    rg_error_code_name(b->code), b->message, line, rg_error_code_name(err.code));
        rg_graph_free(g);
        fail();
    }
    /* One line, in the form editors jump to. */
    char prefix[64];
    snprintf(prefix, sizeof prefix, "t.rpatch:%d:%d: error: ", b->line, b->col);
    assert_true(strncmp(line, prefix, strlen(prefix)) == 0);
    assert_null(strchr(line, '\n'));
}

int main(void)
{
    const struct CMUnitTest good[] = {
        cmocka_unit_test(design_example_parses),
        cmocka_unit_test(strings_escapes_and_comments),
        cmocka_unit_test(nodes_may_be_used_before_declared),
        cmocka_unit_test(empty_patch_is_valid),
        cmocka_unit_test(set_overrides_inline_value),
    };
    enum { N_GOOD = sizeof good / sizeof good[0], N_BAD = sizeof bad_patches / sizeof bad_patches[0] };
    static char names[N_BAD][32];
    struct CMUnitTest all[N_GOOD + N_BAD];
    memcpy(all, good, sizeof good);
    for (int i = 0; i < N_BAD; i++) {
        snprintf(names[i], sizeof names[i], "bad_patch_%02d", i + 1);
        all[N_GOOD + i] = (struct CMUnitTest){names[i], bad_patch_gets_its_error, NULL, NULL,
                                              (void *)&bad_patches[i]};
    }
    return _cmocka_run_group_tests("patch_parse", all, N_GOOD + N_BAD, NULL, NULL);
}
