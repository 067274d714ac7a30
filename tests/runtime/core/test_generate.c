/* The generation pass: what runs when, in which order, and what locking
 * keeps. Uses a stand-in generating node that stamps each take with a
 * counter, so tests can see exactly which nodes made new takes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "graph/patch.h"
#include "runtime/generate.h"
#include "runtime/history.h"

static int next_stamp;

static const rg_port_def stamp_in[] = {{"context", RG_PORT_TOKENS, 0, 4, "takes this one depends on"}};
static const rg_port_def stamp_out[] = {{"tokens", RG_PORT_TOKENS, 0, 0, "the take"}};
static const rg_param_def stamp_params[] = {
    {"lock", RG_PARAM_BOOL, 0, 0, 1, NULL, NULL, "keep the take", false},
    {"prompt", RG_PARAM_STRING, 0, 0, 0, "", NULL, "what to make", false},
    {"fail", RG_PARAM_BOOL, 0, 0, 1, NULL, NULL, "refuse to make a take (to test errors)", false},
};

static void free_int(void *p) { free(p); }

/* Each take's payload: its own stamp, then the stamps of its inputs. */
static bool stamp_generate(rg_node *n, rg_job *job, rg_error *err)
{
    (void)job;
    if (n->params[2].num != 0)
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0, "told to fail");
    int *payload = calloc(8, sizeof *payload);
    payload[0] = ++next_stamp;
    for (int c = 0; c < n->n_in_cables[0] && c < 7; c++) {
        rg_data *in = rg_node_read(n, 0, c);
        payload[1 + c] = in ? *(int *)in->payload : 0;
        rg_data_unref(in);
    }
    rg_data *d = rg_data_new(RG_DATA_TOKENS, payload, free_int);
    if (!d)
        return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    rg_node_publish(n, 0, d);
    return true;
}

static void no_audio(rg_node *n, const rg_process_ctx *ctx) { (void)n; (void)ctx; }

static const rg_node_type stamp_type = {
    .name = "stamp", .doc = "test generator",
    .inputs = stamp_in, .n_inputs = 1, .outputs = stamp_out, .n_outputs = 1,
    .params = stamp_params, .n_params = 3,
    .generate = stamp_generate, .process = no_audio,
};

static const rg_node_type *const types[] = {&stamp_type};
static const rg_registry registry = {types, 1};

typedef struct {
    rg_graph *g;
    rg_engine *e;
} rig;

/* drums -> bass -> lead, and drums -> lead: lead hears both. */
static rig start(const char *extra)
{
    char text[512];
    snprintf(text, sizeof text,
             "node drums stamp\nnode bass stamp\nnode lead stamp\n"
             "drums.tokens -> bass.context\nbass.tokens -> lead.context\ndrums.tokens -> lead.context\n%s", extra);
    rg_error err = {0};
    rig r = {rg_patch_parse(&registry, text, strlen(text), "t", &err), NULL};
    assert_non_null(r.g);
    rg_host_info host = {.sample_rate = 48000, .max_block = 64};
    r.e = rg_engine_new(r.g, &host, &err);
    assert_non_null(r.e);
    return r;
}

static void stop(rig *r)
{
    rg_engine_free(r->e);
    rg_graph_free(r->g);
}

static int stamp_of(rig *r, const char *name, int slot)
{
    rg_data *d = rg_node_published(rg_engine_node(r->e, rg_engine_find_node(r->e, name)), 0);
    int v = d ? ((int *)d->payload)[slot] : -1;
    rg_data_unref(d);
    return v;
}

static int run(rig *r)
{
    int ran = -1;
    rg_error err = {0};
    assert_true(rg_engine_generate(r->e, NULL, &ran, &err));
    return ran;
}

static void first_pass_runs_everything_in_order(void **state)
{
    (void)state;
    next_stamp = 0;
    rig r = start("");
    assert_true(rg_engine_generation_pending(r.e));
    assert_int_equal(run(&r), 3);
    assert_int_equal(stamp_of(&r, "drums", 0), 1);
    assert_int_equal(stamp_of(&r, "bass", 0), 2);
    assert_int_equal(stamp_of(&r, "bass", 1), 1);  /* bass heard drums take 1 */
    assert_int_equal(stamp_of(&r, "lead", 0), 3);
    assert_false(rg_engine_generation_pending(r.e));
    assert_int_equal(run(&r), 0); /* nothing changed: nothing runs */
    stop(&r);
}

static void regen_cascades_to_unlocked_dependents(void **state)
{
    (void)state;
    next_stamp = 0;
    rig r = start("");
    run(&r);
    rg_error err;
    assert_true(rg_engine_request_regen(r.e, "bass", &err));
    assert_int_equal(run(&r), 2); /* bass and lead, not drums */
    assert_int_equal(stamp_of(&r, "drums", 0), 1);
    assert_int_equal(stamp_of(&r, "bass", 0), 4);
    assert_int_equal(stamp_of(&r, "lead", 0), 5);
    assert_int_equal(stamp_of(&r, "lead", 1), 4); /* lead heard the new bass */
    stop(&r);
}

static void locked_node_keeps_its_take(void **state)
{
    (void)state;
    next_stamp = 0;
    rig r = start("set lead.lock true\n");
    run(&r);
    rg_data *before = rg_node_published(rg_engine_node(r.e, rg_engine_find_node(r.e, "lead")), 0);
    rg_error err;
    assert_true(rg_engine_request_regen(r.e, "drums", &err));
    assert_int_equal(run(&r), 2); /* drums, bass; lead is locked */
    rg_data *after = rg_node_published(rg_engine_node(r.e, rg_engine_find_node(r.e, "lead")), 0);
    assert_ptr_equal(before, after); /* the very same take */
    /* Asked directly, a locked node does make a new take. */
    assert_true(rg_engine_request_regen(r.e, "lead", &err));
    assert_int_equal(run(&r), 1);
    assert_int_equal(stamp_of(&r, "lead", 1), stamp_of(&r, "bass", 0)); /* hearing the new bass */
    rg_data_unref(before);
    rg_data_unref(after);
    stop(&r);
}

static void parameter_change_reruns_the_node(void **state)
{
    (void)state;
    next_stamp = 0;
    rig r = start("");
    run(&r);
    rg_node *bass = rg_engine_node(r.e, rg_engine_find_node(r.e, "bass"));
    atomic_fetch_add(&bass->param_version, 1); /* as a live /set of its prompt does */
    assert_int_equal(run(&r), 2);
    rg_error err;
    assert_false(rg_engine_request_regen(r.e, "nobody", &err));
    assert_int_equal(err.code, RG_ERR_UNKNOWN_NODE);
    stop(&r);
}

static rg_node *node_named(rig *r, const char *name)
{
    return rg_engine_node(r->e, rg_engine_find_node(r->e, name));
}

static void undo_redo_and_select(void **state)
{
    (void)state;
    next_stamp = 0;
    rig r = start("");
    run(&r); /* drums 1, bass 2, lead 3 */
    rg_error err;
    rg_node *bass = node_named(&r, "bass");
    rg_data *first = rg_node_published(bass, 0);
    assert_true(rg_engine_request_regen(r.e, "bass", &err));
    run(&r); /* bass 4, lead 5 */
    assert_int_equal(stamp_of(&r, "bass", 0), 4);
    assert_true(rg_history_undo(bass, &err));
    rg_data *back = rg_node_published(bass, 0);
    assert_ptr_equal(back, first); /* the same take, not a copy */
    assert_int_equal(run(&r), 1);  /* only lead follows; bass is not remade */
    assert_int_equal(stamp_of(&r, "lead", 1), 2);
    assert_false(rg_history_undo(bass, &err)); /* nothing earlier */
    assert_true(rg_history_redo(bass, &err));
    assert_int_equal(stamp_of(&r, "bass", 0), 4);
    assert_false(rg_history_redo(bass, &err));
    assert_true(rg_history_select(bass, first->id, &err));
    assert_int_equal(stamp_of(&r, "bass", 0), 2);
    assert_false(rg_history_select(bass, 999999, &err));
    /* A new take after going back drops the takes after it. */
    assert_true(rg_engine_request_regen(r.e, "bass", &err));
    run(&r);
    assert_int_equal(bass->history_len, 2);
    assert_false(rg_history_redo(bass, &err));
    rg_data_unref(first);
    rg_data_unref(back);
    stop(&r);
}

static void history_keeps_the_last_n(void **state)
{
    (void)state;
    next_stamp = 0;
    rig r = start("");
    run(&r);
    rg_error err;
    for (int i = 0; i < RG_HISTORY_DEFAULT + 5; i++) {
        assert_true(rg_engine_request_regen(r.e, "drums", &err));
        run(&r);
    }
    rg_node *drums = node_named(&r, "drums");
    assert_int_equal(drums->history_len, RG_HISTORY_DEFAULT);
    assert_int_equal(drums->history_pos, RG_HISTORY_DEFAULT - 1);
    assert_int_equal(*(int *)drums->history[RG_HISTORY_DEFAULT - 1]->payload, stamp_of(&r, "drums", 0));
    stop(&r);
}

/* A failing node keeps its previous take, does not stop the others and is
 * not retried in a loop. */
static void failure_is_contained(void **state)
{
    (void)state;
    next_stamp = 0;
    rig r = start("node solo stamp\n");
    run(&r); /* drums 1, bass 2, lead 3, solo 4 */
    rg_node *bass = node_named(&r, "bass");
    bass->params[2].num = 1; /* bass now fails */
    atomic_fetch_add(&bass->param_version, 1);
    rg_error err;
    assert_true(rg_engine_request_regen(r.e, "solo", &err));
    int ran = -1;
    assert_false(rg_engine_generate(r.e, NULL, &ran, &err));
    assert_non_null(strstr(err.message, "node 'bass' (stamp): told to fail"));
    assert_int_equal(ran, 1);                      /* solo still made its take */
    assert_int_equal(stamp_of(&r, "solo", 0), 5);
    assert_int_equal(stamp_of(&r, "bass", 0), 2);  /* bass keeps its old take */
    assert_int_equal(stamp_of(&r, "lead", 0), 3);  /* and lead, hearing it, too */
    assert_false(rg_engine_generation_pending(r.e)); /* no retry loop */
    bass->params[2].num = 0;
    atomic_fetch_add(&bass->param_version, 1);
    assert_int_equal(run(&r), 2); /* fixed: bass and lead */
    stop(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_pass_runs_everything_in_order),
        cmocka_unit_test(regen_cascades_to_unlocked_dependents),
        cmocka_unit_test(locked_node_keeps_its_take),
        cmocka_unit_test(parameter_change_reruns_the_node),
        cmocka_unit_test(undo_redo_and_select),
        cmocka_unit_test(history_keeps_the_last_n),
        cmocka_unit_test(failure_is_contained),
    };
    return cmocka_run_group_tests_name("generate", tests, NULL, NULL);
}
