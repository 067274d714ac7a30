/* Locking, regeneration and undo with real generator nodes: the tiny
 * random-weight MusicGen fixture, a conditioner feeding a locked drums
 * generator and a bass generator that continues the drums take. */
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
#include "runtime/model/tokens.h"

#define MODEL "model=\"tests/fixtures/lm/tiny\" "

static const char patch[] =
    "tempo 240\n"
    "node text  conditioner " MODEL "prompt=\"dark minimal techno\"\n"
    "node drums generator " MODEL "bars=1 seed=11 lock=true guidance=0\n"
    "node bass  generator " MODEL "bars=1 seed=-1 guidance=0\n"
    "text.cond -> drums.cond\n"
    "text.cond -> bass.cond\n"
    "drums.tokens -> bass.context\n";

typedef struct {
    rg_graph *g;
    rg_engine *e;
    rg_host_info host;
} rig;

static void start(rig *r)
{
    rg_error err = {0};
    r->g = rg_patch_parse(rg_builtin_registry(), patch, strlen(patch), "takes.rpatch", &err);
    assert_non_null(r->g);
    r->host = (rg_host_info){.sample_rate = 48000, .max_block = 64, .base_dir = getenv("RESONANT_SOURCE_DIR")};
    r->e = rg_engine_new(r->g, &r->host, &err);
    if (!r->e)
        fail_msg("%s", err.message);
}

static void generate(rig *r)
{
    rg_job job = {.transport = rg_engine_transport(r->e), .host = &r->host};
    rg_error err = {0};
    if (!rg_engine_generate(r->e, &job, NULL, &err))
        fail_msg("%s", err.message);
}

static rg_node *node(rig *r, const char *name)
{
    return rg_engine_node(r->e, rg_engine_find_node(r->e, name));
}

/* The take a node publishes now (a reference the caller drops). */
static rg_data *take(rig *r, const char *name)
{
    rg_data *d = rg_node_published(node(r, name), 0);
    assert_non_null(d);
    assert_non_null(rg_data_tokens(d));
    return d;
}

static bool same_codes(const rg_data *a, const rg_data *b)
{
    const rg_tokens *x = rg_data_tokens(a), *y = rg_data_tokens(b);
    return x->n_codebooks == y->n_codebooks && x->frames == y->frames &&
           memcmp(x->codes, y->codes, (size_t)x->n_codebooks * x->frames * sizeof *x->codes) == 0;
}

static void lock_regen_and_undo(void **state)
{
    (void)state;
    rig r;
    start(&r);
    generate(&r);
    rg_data *drums1 = take(&r, "drums"), *bass1 = take(&r, "bass");
    rg_error err;

    /* Regenerating the bass leaves the locked drums' take untouched. */
    assert_true(rg_engine_request_regen(r.e, "bass", &err));
    generate(&r);
    rg_data *drums_now = take(&r, "drums"), *bass2 = take(&r, "bass");
    assert_ptr_equal(drums_now, drums1);
    assert_true(bass2->id != bass1->id);
    assert_false(same_codes(bass2, bass1)); /* a fresh seed: another take */
    rg_data_unref(drums_now);

    /* A new prompt: the unlocked bass follows, the locked drums do not. */
    rg_node *text = node(&r, "text");
    int prompt = rg_node_type_param(text->type, "prompt");
    free(text->params[prompt].str);
    text->params[prompt].str = strdup("bright house");
    atomic_fetch_add(&text->param_version, 1);
    generate(&r);
    drums_now = take(&r, "drums");
    rg_data *bass3 = take(&r, "bass");
    assert_ptr_equal(drums_now, drums1);
    assert_true(bass3->id != bass2->id);
    rg_data_unref(drums_now);

    /* Undo brings back the previous bass take, bit for bit. */
    assert_true(rg_history_undo(node(&r, "bass"), &err));
    rg_data *back = take(&r, "bass");
    assert_ptr_equal(back, bass2);
    assert_true(same_codes(back, bass2));
    rg_data_unref(back);

    /* Asked directly, the locked drums do regenerate, and the bass that
     * continues them follows. */
    assert_true(rg_engine_request_regen(r.e, "drums", &err));
    generate(&r);
    rg_data *drums2 = take(&r, "drums"), *bass4 = take(&r, "bass");
    assert_true(drums2->id != drums1->id);
    assert_true(bass4->id != bass3->id && bass4->id != bass2->id);

    rg_data_unref(drums1);
    rg_data_unref(drums2);
    rg_data_unref(bass1);
    rg_data_unref(bass2);
    rg_data_unref(bass3);
    rg_data_unref(bass4);
    rg_engine_free(r.e);
    rg_graph_free(r.g);
}

static void same_seed_same_take(void **state)
{
    (void)state;
    /* The locked drums have seed 11: two engines make the same drums. */
    rig a, b;
    start(&a);
    start(&b);
    generate(&a);
    generate(&b);
    rg_data *x = take(&a, "drums"), *y = take(&b, "drums");
    assert_true(same_codes(x, y));
    rg_data_unref(x);
    rg_data_unref(y);
    rg_engine_free(a.e);
    rg_graph_free(a.g);
    rg_engine_free(b.e);
    rg_graph_free(b.g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lock_regen_and_undo),
        cmocka_unit_test(same_seed_same_take),
    };
    return cmocka_run_group_tests_name("takes_model", tests, NULL, NULL);
}
