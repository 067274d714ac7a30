/* T5 encoder and MusicGen decoder against the PyTorch reference
 * (train/t5_ref.py, train/musicgen_ref.py) on the committed random-weight
 * fixture (train/make_lm_fixtures.py):
 *   - T5 buckets exactly; T5 states, conditioning and first-step logits
 *     within 1e-4 of the reference's scale (CPU; 1e-3 on Vulkan);
 *   - greedy decoding reproduces the reference's 100-step token grid exactly,
 *     with guidance (batch of two), without, and continuing given codes;
 *   - per-codebook temperatures scale each row of the sampled-from logits;
 *   - bad lengths, prompts and checkpoints are errors naming what is wrong.
 * The backend comes from RESONANT_BACKEND. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/model/musicgen.h"
#include "runtime/model/safetensors.h"
#include "runtime/model/spm.h"
#include "runtime/model/t5.h"

#include "runtime/tensor/tensor.h"
#include "tests/support/damaged_model.h"
#include "tests/support/expected.h"

#define STEPS 100
static const char *const PROMPTS[] = {"dark minimal techno in A minor",
                                      "80s pop track with bassy drums and synth",
                                      "  ＡＢＣ　ファンク 🎹 café ", ""};
#define N_PROMPTS 4

static rg_device *dev;
static rg_musicgen *model;
static rg_st_file expected;
static double tolerance;
static char model_dir[1024];

/* ------------------------------------------------------------------------ */
/* Fixture access                                                           */
/* ------------------------------------------------------------------------ */

static int setup(void **state) {
    (void)state;
    const char *root = getenv("RESONANT_SOURCE_DIR");
    char path[1100];
    snprintf(model_dir, sizeof model_dir, "%s/tests/fixtures/lm/tiny", root ? root : ".");
    snprintf(path, sizeof path, "%s/tests/fixtures/lm/expected.safetensors", root ? root : ".");
    char msg[256];
    if (rg_device_create(NULL, &dev, msg, sizeof msg) != RG_OK) {
        fprintf(stderr, "# no device: %s\n", msg);
        return -1;
    }
    tolerance = rg_device_backend(dev) == RG_BACKEND_VULKAN ? 1e-3 : 1e-4;
    fprintf(stderr, "# device: %s, tolerance %g\n", rg_device_name(dev), tolerance);
    rg_error err = {0};
    if (!rg_st_open(path, &expected, &err) || !rg_musicgen_load(model_dir, dev, NULL, &model, &err)) {
        fprintf(stderr, "# %s: %s\n", err.file, err.message);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    rg_musicgen_free(model);
    rg_st_close(&expected);
    rg_device_destroy(dev);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Text side                                                                */
/* ------------------------------------------------------------------------ */

static void test_buckets(void **state) {
    (void)state;
    int64_t n;
    const int32_t *want = expected_ints(&expected, "buckets", &n);
    assert_int_equal(n, 601);
    for (int rel = -300; rel <= 300; rel++)
        if (rg_t5_bucket(rel, 32, 128) != want[rel + 300])
            fail_msg("bucket(%d) = %d, reference %d", rel, rg_t5_bucket(rel, 32, 128), want[rel + 300]);
}

static void prompt_ids(int i, int32_t **ids, int *n) {
    rg_error err = {0};
    const rg_spm *spm = rg_musicgen_tokenizer(model);
    assert_non_null(spm);
    assert_true(rg_spm_encode(spm, PROMPTS[i], strlen(PROMPTS[i]), true, ids, n, &err));
}

static void test_tokenizer_of_checkpoint(void **state) {
    (void)state;
    for (int i = 0; i < N_PROMPTS; i++) {
        char name[32];
        snprintf(name, sizeof name, "p%d.ids", i);
        int64_t n_want;
        const int32_t *want = expected_ints(&expected, name, &n_want);
        int32_t *ids;
        int n;
        prompt_ids(i, &ids, &n);
        assert_int_equal(n, n_want);
        assert_memory_equal(ids, want, (size_t)n * sizeof *ids);
        free(ids);
    }
}

static void encode_t5(const int32_t *ids, const int32_t *mask, int batch, int len, float *out) {
    int d = rg_t5_get_config(rg_musicgen_t5(model))->d_model;
    int64_t shape[3] = {batch, len, d};
    rg_tensor t;
    assert_int_equal(rg_tensor_create(dev, RG_F32, 3, shape, &t), RG_OK);
    rg_error err = {0};
    if (!rg_t5_encode(rg_musicgen_t5(model), ids, mask, batch, len, &t, &err))
        fail_msg("%s: %s", err.file, err.message);
    assert_int_equal(rg_tensor_read_f32(&t, out), RG_OK);
    rg_tensor_destroy(&t);
}

static void test_t5_states(void **state) {
    (void)state;
    int d = rg_t5_get_config(rg_musicgen_t5(model))->d_model;
    for (int i = 0; i < N_PROMPTS; i++) {
        char name[32], what[64];
        snprintf(name, sizeof name, "p%d.ids", i);
        int64_t n;
        const int32_t *ids = expected_ints(&expected, name, &n);
        float *out = malloc((size_t)(n * d) * sizeof *out);
        encode_t5(ids, NULL, 1, (int)n, out);
        snprintf(name, sizeof name, "p%d.hidden", i);
        snprintf(what, sizeof what, "T5 states of prompt %d (%d tokens)", i, (int)n);
        expected_close(&expected, what, out, name, tolerance);
        free(out);
    }
}

/* Two prompts padded to one length: padded keys must be masked. */
static void test_t5_padded_batch(void **state) {
    (void)state;
    int64_t n, nm;
    const int32_t *ids = expected_ints(&expected, "batch.ids", &n);
    const int32_t *mask = expected_ints(&expected, "batch.mask", &nm);
    int len = (int)(n / 2), d = rg_t5_get_config(rg_musicgen_t5(model))->d_model;
    float *out = malloc((size_t)(n * d) * sizeof *out);
    encode_t5(ids, mask, 2, len, out);
    expected_close(&expected, "T5 padded batch", out, "batch.hidden", tolerance);
    free(out);
}

static void test_conditioning(void **state) {
    (void)state;
    int hidden = rg_musicgen_get_config(model)->hidden;
    for (int i = 0; i < N_PROMPTS; i++) {
        char name[32];
        snprintf(name, sizeof name, "p%d.ids", i);
        int64_t n;
        const int32_t *ids = expected_ints(&expected, name, &n);
        rg_lm_cond cond;
        rg_error err = {0};
        assert_true(rg_musicgen_condition_ids(model, ids, (int)n, &cond, &err));
        assert_int_equal(cond.len, n);
        float *out = malloc((size_t)(n * hidden) * sizeof *out);
        assert_true(rg_lm_cond_read(model, &cond, out, &err));
        snprintf(name, sizeof name, "p%d.cond", i);
        expected_close(&expected, "enc_to_dec_proj(T5)", out, name, tolerance);
        free(out);
        rg_lm_cond_free(&cond);
    }
}

/* ------------------------------------------------------------------------ */
/* Decoder                                                                  */
/* ------------------------------------------------------------------------ */

static void condition_prompt0(rg_lm_cond *cond) {
    int32_t *ids;
    int n;
    prompt_ids(0, &ids, &n);
    rg_error err = {0};
    assert_true(rg_musicgen_condition_ids(model, ids, n, cond, &err));
    free(ids);
}

static rg_lm_sampling greedy(float guidance) {
    rg_lm_sampling sp = rg_lm_sampling_default();
    sp.guidance = guidance;
    sp.temperature = 0.0f;
    return sp;
}

static void first_column(int32_t *col) {
    const rg_musicgen_config *c = rg_musicgen_get_config(model);
    for (int k = 0; k < c->codebooks; k++) col[k] = c->card;
}

static void check_logits(rg_lm_session *s, int which, const char *name, const char *what) {
    const rg_musicgen_config *c = rg_musicgen_get_config(model);
    float *got = malloc((size_t)c->codebooks * c->card * sizeof *got);
    rg_error err = {0};
    assert_true(rg_lm_session_logits(s, which, got, &err));
    expected_close(&expected, what, got, name, tolerance);
    free(got);
}

static void test_first_step_logits(void **state) {
    (void)state;
    rg_lm_cond cond;
    condition_prompt0(&cond);
    rg_error err = {0};
    int32_t in[16], out[16];
    first_column(in);
    for (int guided = 0; guided < 2; guided++) {
        rg_lm_session *s;
        rg_lm_sampling sp = greedy(guided ? 3.0f : 0.0f);
        assert_true(rg_lm_session_create(model, &cond, sp.guidance, 4, &s, &err));
        assert_true(rg_lm_session_step(s, in, &sp, 2, out, &err));
        check_logits(s, RG_LM_LOGITS_COND, "first.cond", "first-step logits, conditional");
        if (guided) {
            check_logits(s, RG_LM_LOGITS_NULL, "first.null", "first-step logits, null branch");
            check_logits(s, RG_LM_LOGITS_MIXED, "first.mixed", "first-step logits, guided");
        }
        rg_lm_session_free(s);
    }
    rg_lm_cond_free(&cond);
}

/* The empty prompt is the null condition: its logits are the null branch's. */
static void test_empty_prompt_is_null_branch(void **state) {
    (void)state;
    rg_lm_cond cond;
    rg_error err = {0};
    assert_true(rg_musicgen_condition_text(model, " \t ", &cond, &err));
    assert_int_equal(cond.len, 0);
    rg_lm_session *s;
    rg_lm_sampling sp = greedy(3.0f);
    int32_t in[16], out[16];
    first_column(in);
    assert_true(rg_lm_session_create(model, &cond, sp.guidance, 2, &s, &err));
    assert_true(rg_lm_session_step(s, in, &sp, 1, out, &err));
    check_logits(s, RG_LM_LOGITS_MIXED, "first.null", "empty prompt vs null branch");
    rg_lm_session_free(s);
}

/* Positions as the reference computes them, far past the tested decode. */
static void test_positions(void **state) {
    (void)state;
    int64_t n, np;
    const int32_t *pos = expected_ints(&expected, "position_index", &n);
    float *want = expected_floats(&expected, "positions", &np);
    int dim = (int)(np / n);
    float *row = malloc((size_t)dim * sizeof *row);
    for (int64_t i = 0; i < n; i++) {
        rg_musicgen_position(pos[i], dim, row);
        double worst = 0;
        for (int j = 0; j < dim; j++) worst = fmax(worst, fabs(row[j] - want[i * dim + j]));
        fprintf(stderr, "# position %d: max error %.3g\n", pos[i], worst);
        assert_true(worst <= 1e-5);
    }
    free(row);
    free(want);
}

static void greedy_grid(float guidance, const char *name) {
    const rg_musicgen_config *c = rg_musicgen_get_config(model);
    int64_t n;
    const int32_t *want = expected_ints(&expected, name, &n);
    assert_int_equal(n, (int64_t)c->codebooks * STEPS);
    rg_lm_cond cond;
    condition_prompt0(&cond);
    rg_lm_sampling sp = greedy(guidance);
    rg_lm_session *s;
    rg_error err = {0};
    assert_true(rg_lm_session_create(model, &cond, guidance, STEPS, &s, &err));
    int32_t col[16], next[16];
    first_column(col);
    int frames = STEPS - c->codebooks + 1, first_bad = -1;
    for (int step = 0; step < STEPS; step++) {
        assert_true(rg_lm_session_step(s, col, &sp, frames, next, &err));
        for (int k = 0; k < c->codebooks; k++)
            if (next[k] != want[k * STEPS + step] && first_bad < 0) {
                first_bad = step;
                fprintf(stderr, "# %s: step %d codebook %d: got %d, reference %d\n", name, step,
                        k, next[k], want[k * STEPS + step]);
            }
        memcpy(col, next, sizeof col);
    }
    rg_lm_session_free(s);

    /* The whole-generation entry point gives the same codes, undelayed. */
    int32_t *codes = malloc((size_t)c->codebooks * frames * sizeof *codes);
    assert_true(rg_musicgen_generate(model, &cond, &sp, NULL, frames, NULL, NULL, codes, &err));
    for (int k = 0; k < c->codebooks; k++)
        for (int t = 0; t < frames; t++)
            assert_int_equal(codes[k * frames + t], want[k * STEPS + k + t]);
    free(codes);
    rg_lm_cond_free(&cond);
    assert_int_equal(first_bad, -1);
}

static void test_greedy_with_guidance(void **state) {
    (void)state;
    greedy_grid(3.0f, "greedy.cfg");
}

static void test_greedy_without_guidance(void **state) {
    (void)state;
    greedy_grid(0.0f, "greedy.nocfg");
}

/* Continuing 20 frames of given codes: they start the take unchanged and
 * the rest follows the reference. */
static void test_greedy_continuation(void **state) {
    (void)state;
    const rg_musicgen_config *c = rg_musicgen_get_config(model);
    int64_t n, nc;
    const int32_t *want = expected_ints(&expected, "greedy.context", &n);
    const int32_t *ctx_codes = expected_ints(&expected, "context", &nc);
    rg_lm_context ctx = {ctx_codes, (int)(nc / c->codebooks)};
    int frames = STEPS - c->codebooks + 1;
    rg_lm_cond cond;
    condition_prompt0(&cond);
    rg_lm_sampling sp = greedy(3.0f);
    rg_error err = {0};
    int32_t *codes = malloc((size_t)c->codebooks * frames * sizeof *codes);
    assert_true(rg_musicgen_generate(model, &cond, &sp, &ctx, frames, NULL, NULL, codes, &err));
    int mismatches = 0;
    for (int k = 0; k < c->codebooks; k++)
        for (int t = 0; t < frames; t++) {
            if (t < ctx.frames) assert_int_equal(codes[k * frames + t], ctx_codes[k * ctx.frames + t]);
            mismatches += codes[k * frames + t] != want[k * STEPS + k + t];
        }
    assert_int_equal(mismatches, 0);

    /* A context as long as the take, or with codes of another codec, is refused. */
    rg_lm_context whole = {codes, frames};
    assert_false(rg_musicgen_generate(model, &cond, &sp, &whole, frames, NULL, NULL, codes, &err));
    assert_non_null(strstr(err.message, "does not fit"));
    codes[3] = c->card;
    rg_lm_context bad = {codes, 4};
    assert_false(rg_musicgen_generate(model, &cond, &sp, &bad, frames, NULL, NULL, codes, &err));
    assert_non_null(strstr(err.message, "outside"));
    free(codes);
    rg_lm_cond_free(&cond);
}

/* Reading 12 known columns in one pass leaves the session where 12 steps
 * would: the next step's logits agree. */
static void test_prefill_equals_steps(void **state) {
    (void)state;
    const rg_musicgen_config *c = rg_musicgen_get_config(model);
    enum { N = 12 };
    int32_t cols[N * 16], next[16];
    for (int j = 0; j < N; j++)
        for (int k = 0; k < c->codebooks; k++)
            cols[j * c->codebooks + k] = j - 1 - k < 0 ? c->card : (j * 7 + k * 13) % c->card;
    rg_lm_cond cond;
    condition_prompt0(&cond);
    rg_lm_sampling sp = greedy(3.0f);
    rg_error err = {0};
    rg_lm_session *a, *b;
    assert_true(rg_lm_session_create(model, &cond, 3.0f, N + 1, &a, &err));
    assert_true(rg_lm_session_create(model, &cond, 3.0f, N + 1, &b, &err));
    for (int j = 0; j < N; j++)
        assert_true(rg_lm_session_step(a, cols + j * c->codebooks, &sp, 100, next, &err));
    assert_true(rg_lm_session_prefill(b, cols, N, &err));
    assert_int_equal(rg_lm_session_position(b), N);
    int32_t last[16] = {1, 2, 3, 4};
    assert_true(rg_lm_session_step(a, last, &sp, 100, next, &err));
    assert_true(rg_lm_session_step(b, last, &sp, 100, next, &err));
    size_t n = (size_t)c->codebooks * c->card;
    float *la = malloc(n * sizeof *la), *lb = malloc(n * sizeof *lb);
    for (int which = RG_LM_LOGITS_COND; which <= RG_LM_LOGITS_MIXED; which++) {
        assert_true(rg_lm_session_logits(a, which, la, &err));
        assert_true(rg_lm_session_logits(b, which, lb, &err));
        double e = expected_rel_error(lb, la, (int64_t)n);
        fprintf(stderr, "# prefill vs steps, logits %d: relative error %.3g\n", which, e);
        assert_true(e <= tolerance);
    }
    /* A prefill past the session's end is refused. */
    assert_false(rg_lm_session_prefill(b, cols, N, &err));
    free(la);
    free(lb);
    rg_lm_session_free(a);
    rg_lm_session_free(b);
    rg_lm_cond_free(&cond);
}

/* ------------------------------------------------------------------------ */
/* Sampling, lengths, progress                                              */
/* ------------------------------------------------------------------------ */

static void sample(uint64_t seed, int32_t *codes, int frames) {
    rg_lm_cond cond;
    condition_prompt0(&cond);
    rg_lm_sampling sp = rg_lm_sampling_default();
    sp.top_k = 20;
    sp.seed = seed;
    rg_error err = {0};
    assert_true(rg_musicgen_generate(model, &cond, &sp, NULL, frames, NULL, NULL, codes, &err));
    rg_lm_cond_free(&cond);
}

static void test_sampling_is_seeded(void **state) {
    (void)state;
    const rg_musicgen_config *c = rg_musicgen_get_config(model);
    enum { FRAMES = 24 };
    int32_t a[16 * FRAMES], b[16 * FRAMES], other[16 * FRAMES];
    sample(7, a, FRAMES);
    sample(7, b, FRAMES);
    sample(8, other, FRAMES);
    size_t bytes = (size_t)c->codebooks * FRAMES * sizeof(int32_t);
    assert_memory_equal(a, b, bytes);
    assert_memory_not_equal(a, other, bytes);
    for (int i = 0; i < c->codebooks * FRAMES; i++) assert_true(a[i] >= 0 && a[i] < c->card);
}

/* The first step's sampled-from logits of prompt 0 at `sp`. */
static void first_mixed(const rg_lm_sampling *sp, float *out) {
    rg_lm_cond cond;
    condition_prompt0(&cond);
    rg_error err = {0};
    int32_t in[16], tokens[16];
    first_column(in);
    rg_lm_session *s;
    assert_true(rg_lm_session_create(model, &cond, sp->guidance, 4, &s, &err));
    assert_true(rg_lm_session_step(s, in, sp, 2, tokens, &err));
    assert_true(rg_lm_session_logits(s, RG_LM_LOGITS_MIXED, out, &err));
    rg_lm_session_free(s);
    rg_lm_cond_free(&cond);
}

/* Per-codebook temperatures: row k of what is sampled from is the plain
 * logits times temperature / row_temperature[k] (the sampler then divides
 * by temperature), guided or not; greedy stays greedy; a temperature of 0
 * on a row is refused with the codebook named. */
static void test_row_temperature(void **state) {
    (void)state;
    const rg_musicgen_config *c = rg_musicgen_get_config(model);
    size_t n = (size_t)c->codebooks * c->card;
    float *plain = malloc(n * sizeof *plain), *scaled = malloc(n * sizeof *scaled);
    float rows[16];
    for (int k = 0; k < c->codebooks; k++) rows[k] = 0.25f + 0.5f * (float)k;
    for (int guided = 0; guided < 2; guided++) {
        rg_lm_sampling sp = rg_lm_sampling_default();
        sp.guidance = guided ? 3.0f : 0.0f;
        sp.temperature = 2.0f;
        first_mixed(&sp, plain);
        sp.row_temperature = rows;
        first_mixed(&sp, scaled);
        double worst = 0;
        for (int k = 0; k < c->codebooks; k++)
            for (int v = 0; v < c->card; v++) {
                size_t i = (size_t)k * c->card + v;
                double want = plain[i] * (2.0 / rows[k]);
                worst = fmax(worst, fabs(scaled[i] - want) / (1.0 + fabs(want)));
            }
        print_message("# row temperature, guidance %.0f: worst relative error %.2g\n",
                      (double)sp.guidance, worst);
        assert_true(worst < 1e-5);
    }
    int32_t a[16 * 8], b[16 * 8];
    rg_lm_cond cond;
    condition_prompt0(&cond);
    rg_error err = {0};
    rg_lm_sampling sp = greedy(3.0f);
    assert_true(rg_musicgen_generate(model, &cond, &sp, NULL, 8, NULL, NULL, a, &err));
    sp.row_temperature = rows;
    assert_true(rg_musicgen_generate(model, &cond, &sp, NULL, 8, NULL, NULL, b, &err));
    assert_memory_equal(a, b, (size_t)c->codebooks * 8 * sizeof(int32_t));
    sp.temperature = 1.0f;
    rows[c->codebooks - 1] = 0.0f;
    assert_false(rg_musicgen_generate(model, &cond, &sp, NULL, 8, NULL, NULL, b, &err));
    assert_non_null(strstr(err.message, "codebook"));
    rg_lm_cond_free(&cond);
    free(plain);
    free(scaled);
}

typedef struct {
    int calls, last, cancel_at;
} progress_log;

static bool on_progress(void *user, int done, int total) {
    progress_log *p = user;
    assert_true(done >= p->last && done <= total);
    p->last = done;
    return ++p->calls != p->cancel_at;
}

static void test_lengths_and_progress(void **state) {
    (void)state;
    const rg_musicgen_config *c = rg_musicgen_get_config(model);
    rg_lm_cond null_cond = {0};
    rg_lm_sampling sp = greedy(3.0f);
    rg_error err = {0};
    int32_t codes[16 * 8];
    assert_false(rg_musicgen_generate(model, &null_cond, &sp, NULL, 0, NULL, NULL, codes, &err));
    assert_non_null(strstr(err.message, "0 frames"));
    int max = rg_musicgen_max_frames(model);
    assert_int_equal(max, c->max_positions - c->codebooks + 1);
    assert_false(rg_musicgen_generate(model, &null_cond, &sp, NULL, max + 1, NULL, NULL, codes, &err));
    assert_non_null(strstr(err.message, "frames asked"));

    progress_log log = {0, 0, 0};
    assert_true(rg_musicgen_generate(model, &null_cond, &sp, NULL, 8, on_progress, &log, codes, &err));
    assert_int_equal(log.calls, 8 + c->codebooks - 1);
    assert_int_equal(log.last, 8);
    progress_log cancel = {0, 0, 3};
    assert_false(rg_musicgen_generate(model, &null_cond, &sp, NULL, 8, on_progress, &cancel, codes, &err));
    assert_non_null(strstr(err.message, "cancelled"));
    assert_int_equal(cancel.calls, 3);
}

static void test_long_prompt(void **state) {
    (void)state;
    static int32_t ids[RG_T5_MAX_TOKENS + 1];
    for (int i = 0; i <= RG_T5_MAX_TOKENS; i++) ids[i] = 5;
    rg_lm_cond cond;
    rg_error err = {0};
    assert_false(rg_musicgen_condition_ids(model, ids, RG_T5_MAX_TOKENS + 1, &cond, &err));
    assert_non_null(strstr(err.message, "at most 512"));
    ids[3] = 100000;
    assert_false(rg_musicgen_condition_ids(model, ids, 10, &cond, &err));
    assert_non_null(strstr(err.message, "100000"));
    /* The same limit through the tokenizer: 600 words are over 512 tokens. */
    static char text[600 * 7 + 1];
    for (int i = 0; i < 600; i++) memcpy(text + 7 * i, "drums  ", 7);
    err = (rg_error){0};
    assert_false(rg_musicgen_condition_text(model, text, &cond, &err));
    assert_non_null(strstr(err.message, "at most 512"));
}

/* ------------------------------------------------------------------------ */
/* Damaged checkpoints                                                      */
/* ------------------------------------------------------------------------ */

/* The fixture checkpoint with `from` replaced by `to` in `file`, loaded. */
static bool load_damaged(const char *file, const char *from, const char *to, rg_error *err) {
    char dir[32];
    return load_damaged_model(dev, model_dir, file, from, to, dir, err);
}

static void test_damaged_checkpoints(void **state) {
    (void)state;
    rg_error err = {0};
    assert_false(load_damaged("model.safetensors", "decoder.lm_heads.3.weight",
                              "decoder.lm_heads.3.weigXt", &err));
    fprintf(stderr, "# missing tensor: %s\n", err.message);
    assert_non_null(strstr(err.message, "lm_heads.3.weight"));
    assert_non_null(strstr(err.file, "rg-lm-"));

    assert_false(load_damaged("config.json", "\"ffn_dim\": 256", "\"ffn_dim\": 128", &err));
    fprintf(stderr, "# mis-shaped tensor: %s\n", err.message);
    assert_non_null(strstr(err.message, "fc1.weight"));

    assert_false(load_damaged("model.safetensors", "text_encoder.encoder.block.1.layer.1.DenseReluDense.wo",
                              "text_encoder.encoder.block.1.layer.1.DenseReluDense.wX", &err));
    assert_non_null(strstr(err.message, "DenseReluDense.wo"));

    assert_false(load_damaged("config.json", "\"audio_channels\": 1", "\"audio_channels\": 2", &err));
    assert_non_null(strstr(err.message, "mono"));
}

/* Under RESONANT_VALIDATION=1 (the Vulkan run) every command list above
 * must have passed the Khronos validation layer silently. */
static void test_no_validation_messages(void **state) {
    (void)state;
    assert_int_equal(rg_device_validation_count(dev), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets),
        cmocka_unit_test(test_tokenizer_of_checkpoint),
        cmocka_unit_test(test_t5_states),
        cmocka_unit_test(test_t5_padded_batch),
        cmocka_unit_test(test_conditioning),
        cmocka_unit_test(test_first_step_logits),
        cmocka_unit_test(test_empty_prompt_is_null_branch),
        cmocka_unit_test(test_positions),
        cmocka_unit_test(test_greedy_with_guidance),
        cmocka_unit_test(test_greedy_without_guidance),
        cmocka_unit_test(test_greedy_continuation),
        cmocka_unit_test(test_prefill_equals_steps),
        cmocka_unit_test(test_sampling_is_seeded),
        cmocka_unit_test(test_row_temperature),
        cmocka_unit_test(test_lengths_and_progress),
        cmocka_unit_test(test_long_prompt),
        cmocka_unit_test(test_damaged_checkpoints),
        cmocka_unit_test(test_no_validation_messages),
    };
    return cmocka_run_group_tests_name("lm_t5", tests, setup, teardown);
}
