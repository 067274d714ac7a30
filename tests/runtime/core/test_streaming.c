/* Streaming a take from a generator through the decoder: a stand-in
 * generator grows a tokens take a few frames per progress report, as the
 * MusicGen generator does, and the real decoder (on the EnCodec fixture, at
 * 48 kHz so the streaming resampler runs) decodes it between the reports.
 * Checked: the first audio is published while the tokens are still
 * incomplete (order of events, not timing); the streamed audio is bit for
 * bit the audio decoded from the finished tokens; the audio take grows
 * monotonically and ends complete; cancelling mid-stream abandons both
 * takes, puts the previous ones back on the ports and the player keeps
 * playing the previous take, in time. And the growing take itself, written
 * by one thread while another reads it (atomics only, no lock). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/patch.h"
#include "nodes/registry.h"
#include "runtime/generate.h"
#include "runtime/model/tokens.h"

static char root[1024];

enum { P_FRAMES, P_GROW, P_SEED, P_STEP };

static const rg_port_def src_out[] = {{"tokens", RG_PORT_TOKENS, 0, 0, "the take"}};
static const rg_param_def src_params[] = {
    [P_FRAMES] = {"frames", RG_PARAM_INT, 100, 1, 10000, NULL, NULL, "take length"},
    [P_GROW] = {"grow", RG_PARAM_BOOL, 1, 0, 1, NULL, NULL, "publish growing (else whole at the end)"},
    [P_SEED] = {"seed", RG_PARAM_INT, 1, 0, 1000, NULL, NULL, "what the codes are"},
    [P_STEP] = {"step", RG_PARAM_INT, 3, 1, 100, NULL, NULL, "frames per progress report"},
};

/* Codes of the 32 kHz fixture's codec: 4 codebooks of 2048. */
static int32_t code_at(uint64_t seed, int k, int t) {
    uint64_t x = (seed * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)k << 32) ^ (uint64_t)t;
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 29;
    return (int32_t)(x % 2048);
}

static bool src_generate(rg_node *n, rg_job *job, rg_error *err) {
    int frames = (int)n->params[P_FRAMES].num, step = (int)n->params[P_STEP].num;
    uint64_t seed = (uint64_t)n->params[P_SEED].num;
    bool grow = n->params[P_GROW].num != 0;
    rg_tokens *tk = calloc(1, sizeof *tk);
    tk->codes = calloc((size_t)4 * frames, sizeof *tk->codes);
    snprintf(tk->codec, sizeof tk->codec, "encodec");
    tk->sample_rate = 32000;
    tk->hop_length = 640;
    tk->codebook_size = 2048;
    tk->n_codebooks = 4;
    tk->channels = 1;
    tk->frames = frames;
    tk->samples = (int64_t)frames * 640 - 100; /* a last frame that runs past the audio */
    rg_data *d = rg_tokens_data(tk);
    if (!d) return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    rg_data *before = rg_node_published(n, 0);
    if (grow) {
        rg_data_begin_growth(d, frames);
        rg_node_publish(n, 0, rg_data_ref(d));
    }
    for (int t = 0; t < frames; t++) {
        for (int k = 0; k < 4; k++) tk->codes[k * frames + t] = code_at(seed, k, t);
        if ((t + 1) % step == 0 || t + 1 == frames) {
            if (grow) rg_data_grow(d, t + 1);
            rg_job_report(job, n, (double)(t + 1) / frames);
            if (rg_job_cancelled(job)) {
                rg_data_abandon(d);
                rg_data_unref(d);
                rg_node_publish(n, 0, before);
                return false;
            }
        }
    }
    rg_data_unref(before);
    if (grow) {
        rg_data_complete(d);
        rg_data_unref(d);
    } else {
        rg_node_publish(n, 0, d);
    }
    return true;
}

static void no_audio(rg_node *n, const rg_process_ctx *ctx) {
    (void)n;
    (void)ctx;
}

static const rg_node_type src_type = {
    .name = "tokgen", .doc = "grows a tokens take",
    .outputs = src_out, .n_outputs = 1, .params = src_params, .n_params = 4,
    .generate = src_generate, .process = no_audio,
};

typedef struct {
    rg_graph *g;
    rg_engine *e;
    rg_host_info host;
} rig;

static void start(rig *r, const char *src_params_text) {
    static const rg_node_type *types[64];
    static rg_registry reg;
    const rg_registry *builtin = rg_builtin_registry();
    int n = 0;
    for (int i = 0; i < builtin->count && n < 63; i++) types[n++] = builtin->types[i];
    types[n++] = &src_type;
    reg = (rg_registry){types, n};
    char text[1024];
    snprintf(text, sizeof text,
             "tempo 120\nnode src tokgen %s\n"
             "node dec decoder model=\"tests/fixtures/encodec/32k\" chunk=0.2 overlap=0.1\n"
             "node out output\nsrc.tokens -> dec.tokens\ndec.audio -> out.in\n",
             src_params_text);
    rg_error err = {0};
    r->g = rg_patch_parse(&reg, text, strlen(text), "stream.rpatch", &err);
    if (!r->g) fail_msg("%s", err.message);
    r->host = (rg_host_info){.sample_rate = 48000, .max_block = 256, .base_dir = root};
    r->e = rg_engine_new(r->g, &r->host, &err);
    if (!r->e) fail_msg("%s", err.message);
}

static void stop(rig *r) {
    rg_engine_free(r->e);
    rg_graph_free(r->g);
}

static rg_node *node(rig *r, const char *name) { return rg_engine_node(r->e, rg_engine_find_node(r->e, name)); }

/* What the test sees at each of the source's progress reports. */
typedef struct {
    rig *r;
    uint64_t old_audio;      /* the decoder's take before this pass */
    rg_data *first_audio;    /* the decoder's new take, when first seen with audio ready */
    int64_t tokens_ready_then, tokens_total;
    int64_t last_audio_ready;
    bool audio_shrank;
    int cancel_after_audio;  /* > 0: cancel at this many reports with audio ready */
    int reports_with_audio;
} watch;

static void on_report(rg_job *job, const rg_node *n, double fraction) {
    (void)fraction;
    watch *w = job->user;
    if (strcmp(n->name, "src") != 0) return;
    rg_data *audio = rg_node_published(node(w->r, "dec"), 0);
    rg_data *tokens = rg_node_published(node(w->r, "src"), 0);
    if (audio && audio->id != w->old_audio && rg_data_ready(audio) > 0) {
        int64_t ready = rg_data_ready(audio);
        if (ready < w->last_audio_ready) w->audio_shrank = true;
        w->last_audio_ready = ready;
        if (!w->first_audio) {
            w->first_audio = rg_data_ref(audio);
            w->tokens_ready_then = rg_data_ready(tokens);
            w->tokens_total = rg_data_tokens(tokens)->frames;
        }
        if (++w->reports_with_audio == w->cancel_after_audio) atomic_store(&job->cancel, true);
    }
    rg_data_unref(audio);
    rg_data_unref(tokens);
}

static bool run(rig *r, watch *w, rg_error *err) {
    rg_job job = {.transport = rg_engine_transport(r->e), .host = &r->host, .on_progress = on_report,
                  .user = w};
    atomic_init(&job.cancel, false);
    return rg_engine_generate(r->e, &job, NULL, err);
}

static void streamed_audio_starts_early_and_equals_the_finished_decode(void **state) {
    (void)state;
    rig a, b;
    rg_error err = {0};
    start(&a, "frames=150 grow=true seed=4");
    watch w = {.r = &a};
    if (!run(&a, &w, &err)) fail_msg("%s", err.message);
    /* Audio was published while the tokens were still being made ... */
    assert_non_null(w.first_audio);
    fprintf(stderr, "# first audio with %lld of %lld token frames ready\n",
            (long long)w.tokens_ready_then, (long long)w.tokens_total);
    assert_true(w.tokens_ready_then < w.tokens_total);
    assert_false(w.audio_shrank);
    /* ... and that very take is the decoder's finished take. */
    rg_data *streamed = rg_node_published(node(&a, "dec"), 0);
    assert_ptr_equal(streamed, w.first_audio);
    assert_int_equal(rg_data_growth(streamed), RG_GROWTH_COMPLETE);

    start(&b, "frames=150 grow=false seed=4");
    watch wb = {.r = &b};
    if (!run(&b, &wb, &err)) fail_msg("%s", err.message);
    assert_null(wb.first_audio); /* nothing to decode before the tokens were whole */
    rg_data *whole = rg_node_published(node(&b, "dec"), 0);
    const rg_audio_take *ts = streamed->payload, *tw = whole->payload;
    assert_int_equal(ts->frames, tw->frames);
    assert_int_equal(ts->frames, (150 * 640 - 100) * 3 / 2); /* 48 kHz from 32 kHz */
    assert_int_equal(ts->channels, tw->channels);
    assert_memory_equal(ts->samples, tw->samples, (size_t)ts->frames * ts->channels * sizeof(float));
    double energy = 0;
    for (int64_t i = 0; i < ts->frames; i++) energy += (double)ts->samples[i] * ts->samples[i];
    assert_true(energy > 0);
    rg_data_unref(w.first_audio);
    rg_data_unref(streamed);
    rg_data_unref(whole);
    stop(&a);
    stop(&b);
}

/* Audio blocks from the decoder's output, checked against `take` looping
 * from frame `from` of the recording. */
static void play_and_compare(rig *r, const rg_data *take, int64_t *pos, int blocks) {
    const rg_audio_take *t = take->payload;
    for (int b = 0; b < blocks; b++) {
        rg_engine_process(r->e, 256);
        rg_engine_housekeep(r->e);
        const float *x = node(r, "dec")->out[0].ch[0];
        for (int i = 0; i < 256; i++, (*pos)++)
            if (x[i] != t->samples[(*pos % t->frames) * t->channels])
                fail_msg("frame %lld: %g, the old take has %g", (long long)*pos, x[i],
                         t->samples[(*pos % t->frames) * t->channels]);
    }
}

static void cancel_mid_stream_leaves_the_old_take_playing(void **state) {
    (void)state;
    rig r;
    rg_error err = {0};
    start(&r, "frames=100 grow=true seed=1");
    watch first = {.r = &r};
    if (!run(&r, &first, &err)) fail_msg("%s", err.message);
    rg_data_unref(first.first_audio);
    rg_data *tokens1 = rg_node_published(node(&r, "src"), 0);
    rg_data *audio1 = rg_node_published(node(&r, "dec"), 0);
    assert_int_equal(rg_data_growth(audio1), RG_GROWTH_COMPLETE);
    rg_engine_transport(r.e)->playing = true;
    int64_t pos = 0;
    play_and_compare(&r, audio1, &pos, 20); /* it starts on the first bar line: frame 0 */

    /* A new take, cancelled after the decoder has published some of it. */
    node(&r, "src")->params[P_SEED].num = 2;
    atomic_fetch_add(&node(&r, "src")->param_version, 1);
    watch w = {.r = &r, .old_audio = audio1->id, .cancel_after_audio = 2};
    assert_false(run(&r, &w, &err));
    assert_int_equal(err.code, RG_ERR_NONE);
    assert_non_null(w.first_audio);
    assert_int_equal(rg_data_growth(w.first_audio), RG_GROWTH_ABANDONED);
    rg_data *tokens_now = rg_node_published(node(&r, "src"), 0);
    rg_data *audio_now = rg_node_published(node(&r, "dec"), 0);
    assert_ptr_equal(tokens_now, tokens1);
    assert_ptr_equal(audio_now, audio1);
    /* The half take never plays: the old one goes on, sample for sample. */
    play_and_compare(&r, audio1, &pos, 400);
    assert_true(rg_engine_generation_pending(r.e)); /* the new take is still to be made */
    rg_data_unref(w.first_audio);
    rg_data_unref(tokens_now);
    rg_data_unref(audio_now);
    rg_data_unref(tokens1);
    rg_data_unref(audio1);
    stop(&r);
}

/* One thread writes a growing take frame by frame, another reads every
 * frame as soon as it is ready: the reader must see each frame's final value
 * (the release/acquire pair on `ready`), never a ready count going down,
 * and the complete state only after the last frame. */
enum { GROW_FRAMES = 200000 };

static float frame_value(int64_t i) { return (float)(i % 1000) + 0.5f; }

static void *writer(void *arg) {
    rg_data *d = arg;
    rg_audio_take *t = d->payload;
    for (int64_t i = 0; i < GROW_FRAMES; i++) {
        t->samples[i] = frame_value(i);
        if (i % 97 == 96) rg_data_grow(d, i + 1);
    }
    rg_data_complete(d);
    return NULL;
}

typedef struct {
    rg_data *d;
    int64_t wrong, went_down, checked;
} reader_result;

static void *reader(void *arg) {
    reader_result *r = arg;
    const rg_audio_take *t = r->d->payload;
    int64_t seen = 0;
    for (;;) {
        bool complete = rg_data_growth(r->d) == RG_GROWTH_COMPLETE; /* before ready */
        int64_t ready = rg_data_ready(r->d);
        if (ready < seen) r->went_down++;
        for (int64_t i = seen; i < ready; i++)
            if (t->samples[i] != frame_value(i)) r->wrong++;
        r->checked += ready > seen ? ready - seen : 0;
        seen = ready > seen ? ready : seen;
        if (complete) return NULL;
    }
}

static void growing_take_read_concurrently(void **state) {
    (void)state;
    rg_audio_take *t = malloc(sizeof *t);
    *t = (rg_audio_take){calloc(GROW_FRAMES, sizeof(float)), GROW_FRAMES, 1, 48000};
    rg_data *d = rg_data_new(RG_DATA_AUDIO, t, rg_audio_take_free);
    rg_data_begin_growth(d, GROW_FRAMES);
    assert_true(rg_data_is_growing(d));
    assert_int_equal(rg_data_ready(d), 0);
    reader_result res = {.d = d};
    pthread_t w, r;
    assert_int_equal(pthread_create(&r, NULL, reader, &res), 0);
    assert_int_equal(pthread_create(&w, NULL, writer, d), 0);
    pthread_join(w, NULL);
    pthread_join(r, NULL);
    assert_int_equal(res.wrong, 0);
    assert_int_equal(res.went_down, 0);
    assert_int_equal(res.checked, GROW_FRAMES); /* complete means every frame was ready */
    assert_int_equal(rg_data_growth(d), RG_GROWTH_COMPLETE);
    /* ready never goes back, nor past the length */
    rg_data_grow(d, 5);
    rg_data_grow(d, GROW_FRAMES * 2);
    assert_int_equal(rg_data_ready(d), GROW_FRAMES);
    rg_data_unref(d);
}

int main(void) {
    const char *src = getenv("RESONANT_SOURCE_DIR");
    snprintf(root, sizeof root, "%s", src ? src : ".");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(streamed_audio_starts_early_and_equals_the_finished_decode),
        cmocka_unit_test(cancel_mid_stream_leaves_the_old_take_playing),
        cmocka_unit_test(growing_take_read_concurrently),
    };
    return cmocka_run_group_tests_name("streaming", tests, NULL, NULL);
}
