/* The conditioner and generator nodes in a patch, on the tiny fixture
 * checkpoint: the generation pass turns a prompt into tokens that match the
 * PyTorch reference's greedy decoding, the take's length follows `bars` at
 * the patch tempo (or a `grid` value) or `seconds`, takes carry their
 * prompt and seed, each generator hears its own composed text and each
 * distinct text is encoded once, the take grows while it is made, a bad
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
#include "runtime/model/lm_slot.h"
#include "runtime/model/safetensors.h"
#include "runtime/model/tokens.h"

#include "nodes/registry.h"
#include "tests/support/patch_rig.h"

static char root[1024];


#define MODEL "model=\"tests/fixtures/lm/tiny\" "

static void test_prompt_to_tokens_matches_reference(void **state) {
    (void)state;
    patch_rig r;
    rg_error err = {0};
    /* {prompt} alone: the reference was made from the bare prompt */
    const char *patch = "node text conditioner " MODEL "prompt=\"dark minimal techno in A minor\" "
                        "template=\"{prompt}\"\n"
                        "node gen generator " MODEL "seconds=1 seed=7 temperature=0 guidance=3\n"
                        "text.cond -> gen.cond\n";
    if (!rig_start(&r, patch, root, &err) || !rig_generate(&r, &err)) fail_msg("%s", err.message);
    rg_data *d = rig_published(&r, "gen");
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
    rig_stop(&r);
}

static void test_bars_follow_the_tempo(void **state) {
    (void)state;
    patch_rig r;
    rg_error err = {0};
    const char *patch = "tempo 150\nmeter 3/4\n"
                        "node gen generator " MODEL "bars=2 temperature=0.8 top_k=10\n";
    if (!rig_start(&r, patch, root, &err) || !rig_generate(&r, &err)) fail_msg("%s", err.message);
    rg_data *d = rig_published(&r, "gen");
    const rg_tokens *tk = rg_data_tokens(d);
    assert_non_null(tk);
    assert_int_equal(tk->frames, 120); /* 2 bars of 3/4 at 150 bpm = 2.4 s */
    assert_int_equal(d->bars, 2);
    for (int i = 0; i < 4 * 120; i++) assert_true(tk->codes[i] >= 0 && tk->codes[i] < 128);
    rg_data_unref(d);
    rig_stop(&r);
}

static void test_conditioner_offers_prompt_and_template(void **state) {
    (void)state;
    patch_rig r;
    rg_error err = {0};
    const char *patch = "node text conditioner " MODEL "prompt=\"  \"\n"
                        "node gen generator " MODEL "track=drums seconds=0.1\ntext.cond -> gen.cond\n";
    if (!rig_start(&r, patch, root, &err) || !rig_generate(&r, &err)) fail_msg("%s", err.message);
    rg_data *g = rig_published(&r, "gen");
    assert_string_equal(g->prompt, ""); /* a blank prompt is unconditional, whatever the template */
    rg_data_unref(g);
    rg_data *d = rig_published(&r, "text");
    const rg_cond *c = rg_data_cond(d);
    assert_non_null(c);
    assert_string_equal(c->prompt, "  ");
    assert_string_equal(c->template, "{track}, {prompt}, {tempo} bpm, {key}");
    assert_non_null(c->bank);
    assert_int_equal(rg_cond_bank_encodes(c->bank), 0); /* the null condition needs no encoder */
    rg_data_unref(d);
    rig_stop(&r);
    assert_true(rig_start(&r, "node text conditioner " MODEL "template=\"{track}, {mood}\"\n", root, &err));
    assert_false(rig_generate(&r, &err));
    fprintf(stderr, "# %s\n", err.message);
    assert_non_null(strstr(err.message, "unknown field 'mood'"));
    rig_stop(&r);
}

static void set_string(patch_rig *r, const char *node, const char *param, const char *value) {
    rg_node *n = rg_engine_node(r->e, rg_engine_find_node(r->e, node));
    int p = rg_node_type_param(n->type, param);
    free(n->params[p].str);
    n->params[p].str = strdup(value);
    atomic_fetch_add(&n->param_version, 1);
}

/* Two generators on one conditioner: each hears the prompt composed with
 * its own track and the tempo, the two texts are encoded once each, and
 * new takes with the same prompt run the encoder no more. */
static void test_each_track_hears_its_own_text_encoded_once(void **state) {
    (void)state;
    patch_rig r;
    rg_error err = {0};
    const char *patch = "tempo 124\n"
                        "node text  conditioner " MODEL "prompt=\"dark minimal techno\" key=\"A minor\"\n"
                        "node drums generator " MODEL "track=drums seconds=0.2 seed=1\n"
                        "node bass  generator " MODEL "track=bass seconds=0.2 seed=1\n"
                        "node any   generator " MODEL "seconds=0.2 seed=1\n"
                        "text.cond -> drums.cond\ntext.cond -> bass.cond\ntext.cond -> any.cond\n";
    if (!rig_start(&r, patch, root, &err) || !rig_generate(&r, &err)) fail_msg("%s", err.message);
    rg_data *drums = rig_published(&r, "drums"), *bass = rig_published(&r, "bass"), *any = rig_published(&r, "any");
    assert_string_equal(drums->prompt, "drums, dark minimal techno, 124 bpm, A minor");
    assert_string_equal(bass->prompt, "bass, dark minimal techno, 124 bpm, A minor");
    assert_string_equal(any->prompt, "dark minimal techno, 124 bpm, A minor"); /* no track: left out */
    rg_data *cd = rig_published(&r, "text");
    const rg_cond *c = rg_data_cond(cd);
    assert_int_equal(rg_cond_bank_encodes(c->bank), 3);

    /* The states of the two texts differ (read from the bank: no encoding). */
    rg_lm_slot slot = {0};
    rg_musicgen *m;
    assert_true(rg_lm_slot_init(&slot, root, "tests/fixtures/lm/tiny", &err));
    assert_true(rg_lm_slot_model(&slot, &m, &err));
    rg_cond_states a, b;
    assert_true(rg_cond_states_for(c, m, drums->prompt, &a, &err));
    size_t bytes = (size_t)a.len * a.width * sizeof(float);
    float *copy = malloc(bytes);
    memcpy(copy, a.states, bytes);
    assert_true(rg_cond_states_for(c, m, bass->prompt, &b, &err));
    assert_true(a.len > 0 && b.len > 0);
    assert_true(a.len != b.len || memcmp(copy, b.states, bytes) != 0);
    free(copy);
    assert_int_equal(rg_cond_bank_encodes(c->bank), 3);

    /* New takes, same prompt: new tokens, no encoding. */
    assert_true(rg_engine_request_regen(r.e, "drums", &err));
    assert_true(rg_engine_request_regen(r.e, "text", &err));
    if (!rig_generate(&r, &err)) fail_msg("%s", err.message);
    rg_data *drums2 = rig_published(&r, "drums");
    assert_true(drums2->id != drums->id);
    assert_int_equal(rg_cond_bank_encodes(c->bank), 3);

    /* A new prompt: each generator's new text is encoded, once. */
    set_string(&r, "text", "prompt", "acid house");
    if (!rig_generate(&r, &err)) fail_msg("%s", err.message);
    rg_data *bass2 = rig_published(&r, "bass");
    assert_string_equal(bass2->prompt, "bass, acid house, 124 bpm, A minor");
    assert_int_equal(rg_cond_bank_encodes(c->bank), 6);

    rg_lm_slot_free(&slot);
    rg_data_unref(drums);
    rg_data_unref(drums2);
    rg_data_unref(bass);
    rg_data_unref(bass2);
    rg_data_unref(any);
    rg_data_unref(cd);
    rig_stop(&r);
}

/* bars=2 at 120 bpm 4/4 is exactly 4 s: 200 frames at 50 frames/s. A
 * length that is not a whole number of frames is rounded up. */
static void test_two_bars_at_120_is_four_seconds(void **state) {
    (void)state;
    patch_rig r;
    rg_error err = {0};
    assert_true(rig_start(&r, "tempo 120\nmeter 4/4\nnode gen generator " MODEL "bars=2 temperature=0\n", root, &err));
    if (!rig_generate(&r, &err)) fail_msg("%s", err.message);
    rg_data *d = rig_published(&r, "gen");
    assert_int_equal(rg_data_tokens(d)->frames, 200);
    assert_int_equal(d->tempo, 120);
    rg_data_unref(d);
    rig_stop(&r);
    /* 1 bar at 119 bpm: 2.0168 s = 100.84 frames -> 101 */
    assert_true(rig_start(&r, "tempo 119\nnode gen generator " MODEL "bars=1 temperature=0\n", root, &err));
    if (!rig_generate(&r, &err)) fail_msg("%s", err.message);
    d = rig_published(&r, "gen");
    assert_int_equal(rg_data_tokens(d)->frames, 101);
    rg_data_unref(d);
    rig_stop(&r);
}

/* A value on the `grid` input wins over the transport. */
static const rg_port_def clock_out[] = {{"grid", RG_PORT_GRID, 0, 0, "tempo grid"}};

static bool clock_generate(rg_node *n, rg_job *job, rg_error *err) {
    (void)job;
    rg_grid *g = malloc(sizeof *g);
    *g = (rg_grid){.tempo = 150, .meter_num = 3, .meter_den = 4};
    rg_data *d = rg_data_new(RG_DATA_GRID, g, free);
    if (!d) return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    rg_node_publish(n, 0, d);
    return true;
}

static void no_audio(rg_node *n, const rg_process_ctx *ctx) {
    (void)n;
    (void)ctx;
}

static const rg_node_type clock_type = {
    .name = "clock", .doc = "publishes 150 bpm 3/4 on its grid",
    .outputs = clock_out, .n_outputs = 1, .generate = clock_generate, .process = no_audio,
};

static void test_grid_input_sets_the_tempo(void **state) {
    (void)state;
    const rg_registry *builtin = rg_builtin_registry();
    const rg_node_type *types[64];
    int n = 0;
    for (int i = 0; i < builtin->count && n < 63; i++) types[n++] = builtin->types[i];
    types[n++] = &clock_type;
    rg_registry reg = {types, n};
    const char *text = "tempo 120\nmeter 4/4\nnode clk clock\n"
                       "node gen generator " MODEL "bars=2 temperature=0\nclk.grid -> gen.grid\n";
    rg_error err = {0};
    patch_rig r;
    r.g = rg_patch_parse(&reg, text, strlen(text), "grid.rpatch", &err);
    assert_non_null(r.g);
    rg_host_info host = {.sample_rate = 48000, .max_block = 64, .base_dir = root};
    r.e = rg_engine_new(r.g, &host, &err);
    assert_non_null(r.e);
    if (!rig_generate(&r, &err)) fail_msg("%s", err.message);
    rg_data *d = rig_published(&r, "gen");
    assert_int_equal(rg_data_tokens(d)->frames, 120); /* 2 bars of 3/4 at 150 = 2.4 s */
    assert_int_equal(d->tempo, 150);
    rg_data_unref(d);
    rig_stop(&r);
}

/* The take is published when the job starts and grows: at every progress
 * report the published take is the new one, its ready count never goes
 * down, and it was seen incomplete before it was complete. */
typedef struct {
    patch_rig *r;
    uint64_t before_id;
    int64_t last_ready, first_partial, reports;
    bool decreased, saw_old;
} growth_watch;

static void watch_growth(rg_job *job, const rg_node *node, double fraction) {
    (void)fraction;
    growth_watch *w = job->user;
    if (strcmp(node->name, "gen") != 0) return;
    rg_data *d = rig_published(w->r, "gen");
    w->reports++;
    if (!d || d->id == w->before_id) {
        w->saw_old = true;
    } else {
        int64_t ready = rg_data_ready(d);
        if (ready < w->last_ready) w->decreased = true;
        if (rg_data_is_growing(d) && ready > 0 && w->first_partial < 0) w->first_partial = ready;
        w->last_ready = ready;
    }
    rg_data_unref(d);
}

static void test_take_grows_while_it_is_made(void **state) {
    (void)state;
    patch_rig r;
    rg_error err = {0};
    assert_true(rig_start(&r, "node gen generator " MODEL "seconds=1 seed=5 temperature=0\n", root, &err));
    growth_watch w = {.r = &r, .first_partial = -1};
    rg_job job = {.transport = rg_engine_transport(r.e), .on_progress = watch_growth, .user = &w};
    if (!rg_engine_generate(r.e, &job, NULL, &err)) fail_msg("%s", err.message);
    rg_data *d = rig_published(&r, "gen");
    assert_true(w.reports > 10);
    assert_false(w.saw_old); /* published before the first step */
    assert_false(w.decreased);
    assert_true(w.first_partial > 0 && w.first_partial < 50);
    assert_int_equal(rg_data_growth(d), RG_GROWTH_COMPLETE);
    assert_int_equal(rg_data_ready(d), 50);
    /* The same take as without streaming: greedy, so the same as a second run. */
    assert_true(rg_engine_request_regen(r.e, "gen", &err));
    if (!rig_generate(&r, &err)) fail_msg("%s", err.message);
    rg_data *again = rig_published(&r, "gen");
    assert_memory_equal(rg_data_tokens(d)->codes, rg_data_tokens(again)->codes, 4 * 50 * sizeof(int32_t));
    rg_data_unref(again);
    rg_data_unref(d);
    rig_stop(&r);
}

static void test_bad_models_fail_at_load(void **state) {
    (void)state;
    patch_rig r;
    rg_error err = {0};
    assert_false(rig_start(&r, "node gen generator model=\"no/such/folder\"\n", root, &err));
    fprintf(stderr, "# %s\n", err.message);
    assert_non_null(strstr(err.message, "no/such/folder"));
    rg_graph_free(r.g);
    /* (An empty model= loads the shipped default: runtime/model/model_path.h.) */
    assert_false(rig_start(&r, "node gen generator model=\"tests/fixtures/encodec/32k\"\n", root, &err));
    assert_non_null(strstr(err.message, "not a MusicGen checkpoint"));
    rg_graph_free(r.g);
}

static void test_too_long_a_take_is_an_error(void **state) {
    (void)state;
    patch_rig r;
    rg_error err = {0};
    assert_true(rig_start(&r, "node gen generator " MODEL "seconds=60\n", root, &err));
    assert_false(rig_generate(&r, &err));
    fprintf(stderr, "# %s\n", err.message);
    assert_non_null(strstr(err.message, "this model makes"));
    rig_stop(&r);
}

/* End to end with the real nodes on the shipped default model (its own
 * codec): the decoder publishes audio while the generator's tokens are
 * still incomplete, and what it streamed is bit for bit what it decodes
 * from the finished tokens when asked again. */
typedef struct {
    patch_rig *r;
    rg_data *early;  /* the decoder's take, first seen with audio ready */
    int64_t tokens_ready, tokens_total;
} stream_watch;

static void watch_stream(rg_job *job, const rg_node *node, double fraction) {
    (void)fraction;
    stream_watch *w = job->user;
    if (w->early || strcmp(node->name, "gen") != 0) return;
    rg_data *audio = rig_published(w->r, "dec"), *tokens = rig_published(w->r, "gen");
    if (audio && rg_data_ready(audio) > 0) {
        w->early = rg_data_ref(audio);
        w->tokens_ready = rg_data_ready(tokens);
        w->tokens_total = rg_data_tokens(tokens)->frames;
    }
    rg_data_unref(audio);
    rg_data_unref(tokens);
}

static void test_generator_streams_into_the_decoder(void **state) {
    (void)state;
    patch_rig r;
    rg_error err = {0};
    const char *patch = "tempo 120\n"
                        "node text conditioner prompt=\"techno\"\n"
                        "node gen  generator   track=drums seconds=2 seed=3\n"
                        "node dec  decoder     chunk=0.2 overlap=0.1\n"
                        "text.cond -> gen.cond\ngen.tokens -> dec.tokens\n";
    if (!rig_start(&r, patch, root, &err)) fail_msg("%s", err.message);
    stream_watch w = {.r = &r};
    rg_job job = {.transport = rg_engine_transport(r.e), .on_progress = watch_stream, .user = &w};
    if (!rg_engine_generate(r.e, &job, NULL, &err)) fail_msg("%s", err.message);
    assert_non_null(w.early);
    fprintf(stderr, "# first audio with %lld of %lld token frames made\n", (long long)w.tokens_ready,
            (long long)w.tokens_total);
    assert_true(w.tokens_ready < w.tokens_total);
    rg_data *streamed = rig_published(&r, "dec");
    assert_ptr_equal(streamed, w.early);
    assert_int_equal(rg_data_growth(streamed), RG_GROWTH_COMPLETE);

    assert_true(rg_engine_request_regen(r.e, "dec", &err)); /* decode the whole tokens again */
    if (!rig_generate(&r, &err)) fail_msg("%s", err.message);
    rg_data *again = rig_published(&r, "dec");
    assert_true(again->id != streamed->id);
    const rg_audio_take *a = streamed->payload, *b = again->payload;
    assert_int_equal(a->frames, 2 * 48000);
    assert_int_equal(a->frames, b->frames);
    assert_memory_equal(a->samples, b->samples, (size_t)a->frames * a->channels * sizeof(float));
    rg_data_unref(again);
    rg_data_unref(streamed);
    rg_data_unref(w.early);
    rig_stop(&r);
}

/* A newer request cancels the job between decoding steps: the pass stops
 * with no error, the growing take is abandoned and the port is back to what
 * it was (nothing, here). */
static rg_data *growing_seen;

static void cancel_after_three(rg_job *job, const rg_node *node, double fraction) {
    (void)fraction;
    int *calls = job->user;
    if (++*calls == 3) {
        atomic_store(&job->cancel, true);
        growing_seen = rg_node_published((rg_node *)node, 0);
    }
}

static void test_cancel_between_steps(void **state) {
    (void)state;
    patch_rig r;
    rg_error err = {0};
    assert_true(rig_start(&r, "node gen generator " MODEL "seconds=2 seed=1\n", root, &err));
    int calls = 0;
    rg_job job = {.transport = rg_engine_transport(r.e), .on_progress = cancel_after_three,
                  .user = &calls};
    assert_false(rg_engine_generate(r.e, &job, NULL, &err));
    assert_int_equal(err.code, RG_ERR_NONE);
    assert_int_equal(calls, 3);
    assert_null(rig_published(&r, "gen"));
    assert_non_null(growing_seen);
    assert_int_equal(rg_data_growth(growing_seen), RG_GROWTH_ABANDONED);
    rg_data_unref(growing_seen);
    rig_stop(&r);
}

int main(void) {
    const char *src = getenv("RESONANT_SOURCE_DIR");
    snprintf(root, sizeof root, "%s", src ? src : ".");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prompt_to_tokens_matches_reference),
        cmocka_unit_test(test_bars_follow_the_tempo),
        cmocka_unit_test(test_conditioner_offers_prompt_and_template),
        cmocka_unit_test(test_each_track_hears_its_own_text_encoded_once),
        cmocka_unit_test(test_two_bars_at_120_is_four_seconds),
        cmocka_unit_test(test_grid_input_sets_the_tempo),
        cmocka_unit_test(test_take_grows_while_it_is_made),
        cmocka_unit_test(test_generator_streams_into_the_decoder),
        cmocka_unit_test(test_bad_models_fail_at_load),
        cmocka_unit_test(test_too_long_a_take_is_an_error),
        cmocka_unit_test(test_cancel_between_steps),
    };
    return cmocka_run_group_tests_name("lm_nodes", tests, NULL, NULL);
}
