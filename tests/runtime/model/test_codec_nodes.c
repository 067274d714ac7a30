/* The encoder and decoder nodes in an engine: file_in -> encoder -> decoder,
 * generated the way a render does, against the 24 kHz reference fixture. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "graph/patch.h"
#include "runtime/audio_file.h"
#include "runtime/engine.h"
#include "runtime/generate.h"
#include "runtime/model/safetensors.h"
#include "runtime/model/tokens.h"

static char tmpdir[256], wav[512], fixture[1024];
static rg_st_file expected;

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rg_codec_nodes_XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    const char *src = getenv("RESONANT_SOURCE_DIR");
    snprintf(fixture, sizeof fixture, "%s/tests/fixtures/encodec/24k", src ? src : ".");
    char path[1100];
    snprintf(path, sizeof path, "%s/expected.safetensors", fixture);
    rg_error err = {0};
    if (!rg_st_open(path, &expected, &err))
        return -1;
    /* the fixture's input signal as a float WAV at the codec rate */
    const rg_st_tensor *in = rg_st_find(&expected, "input");
    float *x = malloc((size_t)rg_st_numel(in) * sizeof *x);
    rg_st_read_f32(&expected, in, x, &err);
    snprintf(wav, sizeof wav, "%s/in.wav", tmpdir);
    rg_audio_writer *w = rg_writer_open(wav, 1, 24000, RG_SAMPLE_FLOAT, &err);
    bool ok = w && rg_writer_write(w, x, in->shape[1], &err) && rg_writer_close(w, &err);
    free(x);
    return ok ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    rg_st_close(&expected);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

typedef struct {
    rg_graph *graph;
    rg_engine *engine;
    rg_host_info host;
    int progress_calls;
} rig;

static bool start(rig *r, double rate, const char *decoder_model, const char *decoder_extra,
                  rg_error *err)
{
    char patch[4096];
    snprintf(patch, sizeof patch,
             "node src file_in path=\"%s\" loop=false\n"
             "node enc encoder model=\"%s\"\n"
             "node dec decoder model=\"%s\" %s\n"
             "node out output\n"
             "src.out -> enc.audio\n"
             "enc.tokens -> dec.tokens\n"
             "dec.audio -> out.in\n",
             wav, fixture, decoder_model, decoder_extra);
    r->host = (rg_host_info){.sample_rate = rate, .max_block = 256, .base_dir = tmpdir};
    r->graph = rg_patch_parse(rg_builtin_registry(), patch, strlen(patch), "t.rpatch", err);
    if (!r->graph)
        fail_msg("%d:%d %s", err->line, err->col, err->message);
    r->engine = rg_engine_new(r->graph, &r->host, err);
    return r->engine != NULL;
}

static void count_progress(rg_job *job, const rg_node *node, double fraction)
{
    (void)node;
    (void)fraction;
    ((rig *)job->user)->progress_calls++;
}

static bool generate(rig *r, rg_error *err)
{
    rg_job job = {.transport = rg_engine_transport(r->engine), .host = &r->host,
                  .on_progress = count_progress, .user = r};
    atomic_init(&job.cancel, false);
    return rg_engine_generate(r->engine, &job, NULL, err);
}

static void stop(rig *r)
{
    rg_engine_free(r->engine);
    rg_graph_free(r->graph);
}

static rg_data *published(rig *r, const char *name)
{
    rg_node *n = rg_engine_node(r->engine, rg_engine_find_node(r->engine, name));
    return rg_node_published(n, 0);
}

static double relative_rms(const float *got, const float *want, int64_t n)
{
    double diff = 0, ref = 0;
    for (int64_t i = 0; i < n; i++) {
        diff += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
        ref += (double)want[i] * want[i];
    }
    return sqrt(diff / ref);
}

/* The decoder's take against the reference decode, trimmed to the input. */
static double take_error(const rg_data *take)
{
    const rg_audio_take *t = take->payload;
    const rg_st_tensor *want_t = rg_st_find(&expected, "decoded");
    float *want = malloc((size_t)rg_st_numel(want_t) * sizeof *want);
    rg_error err;
    assert_true(rg_st_read_f32(&expected, want_t, want, &err));
    assert_int_equal(t->frames, rg_st_find(&expected, "input")->shape[1]);
    assert_int_equal(t->channels, 1);
    double e = relative_rms(t->samples, want, t->frames);
    free(want);
    return e;
}

static void test_encode_decode_at_codec_rate(void **state)
{
    (void)state;
    rig r = {0};
    rg_error err = {0};
    assert_true(start(&r, 24000, fixture, "", &err));
    if (!generate(&r, &err))
        fail_msg("%s", err.message);
    rg_data *tokens = published(&r, "enc");
    const rg_tokens *tk = rg_data_tokens(tokens);
    assert_non_null(tk);
    const rg_st_tensor *codes = rg_st_find(&expected, "codes");
    assert_int_equal(tk->n_codebooks, codes->shape[0]);
    assert_int_equal(tk->frames, codes->shape[1]);
    assert_memory_equal(tk->codes, expected.data + codes->begin, codes->end - codes->begin);
    char line[256];
    rg_node *enc = rg_engine_node(r.engine, rg_engine_find_node(r.engine, "enc"));
    enc->type->describe(enc, line, sizeof line);
    fprintf(stderr, "# enc: %s\n", line);
    assert_non_null(strstr(line, "8 codebooks x 19 frames"));
    rg_node *dec = rg_engine_node(r.engine, rg_engine_find_node(r.engine, "dec"));
    dec->type->describe(dec, line, sizeof line);
    fprintf(stderr, "# dec: %s\n", line);
    assert_non_null(strstr(line, "0.25 s from 8 codebooks x 19 frames"));
    rg_data *take = published(&r, "dec");
    assert_non_null(take);
    double e = take_error(take);
    fprintf(stderr, "# decoder take vs reference: relative RMS %.3g\n", e);
    assert_true(e < 1e-4);
    /* the decoder plays it: audio reaches the output once the bar starts */
    rg_engine_transport(r.engine)->playing = true;
    double energy = 0;
    for (int b = 0; b < 100; b++) {
        rg_engine_process(r.engine, 256);
        const float *x = rg_engine_node(r.engine, rg_engine_find_node(r.engine, "dec"))->out[0].ch[0];
        for (int i = 0; i < 256; i++)
            energy += (double)x[i] * x[i];
    }
    assert_true(energy > 0);
    rg_data_unref(tokens);
    rg_data_unref(take);
    stop(&r);
}

static void test_chunked_decode_and_resampling(void **state)
{
    (void)state;
    rig r = {0};
    rg_error err = {0};
    assert_true(start(&r, 48000, fixture, "chunk=0.05 overlap=0.12", &err));
    if (!generate(&r, &err))
        fail_msg("%s", err.message);
    rg_data *tokens = published(&r, "enc");
    const rg_tokens *tk = rg_data_tokens(tokens);
    assert_int_equal(tk->samples, rg_st_find(&expected, "input")->shape[1]);
    rg_data *take = published(&r, "dec");
    const rg_audio_take *t = take->payload;
    assert_true(t->rate == 48000);
    assert_true(llabs(t->frames - 2 * tk->samples) <= 1);
    assert_true(r.progress_calls > 5); /* chunks of 4 frames report as they go */
    rg_data_unref(tokens);
    rg_data_unref(take);
    stop(&r);
}

static void test_errors(void **state)
{
    (void)state;
    rig r = {0};
    rg_error err = {0};
    /* An empty model= is the default model; one that is not there is named. */
    setenv("RESONANT_MODEL", "/nonexistent/rg-model", 1);
    assert_false(start(&r, 24000, "", "", &err));
    unsetenv("RESONANT_MODEL");
    assert_non_null(strstr(err.message, "/nonexistent/rg-model"));
    rg_graph_free(r.graph);

    char other[1100];
    snprintf(other, sizeof other, "%s/../32k", fixture);
    assert_true(start(&r, 24000, other, "", &err));
    assert_false(generate(&r, &err));
    assert_non_null(strstr(err.message, "do not suit the model"));
    stop(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_decode_at_codec_rate),
        cmocka_unit_test(test_chunked_decode_and_resampling),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests_name("model_codec_nodes", tests, setup, teardown);
}
