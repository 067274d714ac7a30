/* The full musicgen-small shape (t5-base text encoder, 24-layer 1024-wide
 * decoder, 4 x 2048 codes) with random weights made at build time by
 * train/make_lm_fixtures.py --full: every tensor loads by its real name and
 * shape, the first step's logits match the reference, and 1 s (50 frames)
 * of guided greedy decoding reproduces the reference's tokens; a prompt
 * becomes audio through `resonant generate` and a patch. Suite 'slow'.
 *
 *   RESONANT_LM_FIXTURE=DIR   the folder the fixture was written to */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/cli.h"
#include "runtime/model/lm_cli.h"
#include "runtime/model/musicgen.h"
#include "runtime/model/safetensors.h"
#include "runtime/model/spm.h"

#include "runtime/tensor/tensor.h"

#define NEAR_TIE 1e-4 /* steps whose top-2 logits were closer are not compared */

static rg_device *dev;
static rg_musicgen *model;
static rg_st_file expected;
static double tolerance;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int setup(void **state) {
    (void)state;
    const char *dir = getenv("RESONANT_LM_FIXTURE");
    if (!dir) {
        fprintf(stderr, "# RESONANT_LM_FIXTURE is not set\n");
        return -1;
    }
    char path[1100], msg[256];
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    if (rg_device_create(NULL, &dev, msg, sizeof msg) != RG_OK) return -1;
    tolerance = rg_device_backend(dev) == RG_BACKEND_VULKAN ? 1e-3 : 1e-4;
    rg_error err = {0};
    double t0 = now();
    if (!rg_st_open(path, &expected, &err) || !rg_musicgen_load(dir, dev, NULL, &model, &err)) {
        fprintf(stderr, "# %s: %s\n", err.file, err.message);
        return -1;
    }
    fprintf(stderr, "# %s: loaded in %.1f s\n", rg_device_name(dev), now() - t0);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    rg_musicgen_free(model);
    rg_st_close(&expected);
    rg_device_destroy(dev);
    return 0;
}

static const rg_st_tensor *find(const char *name) {
    const rg_st_tensor *t = rg_st_find(&expected, name);
    if (!t) fail_msg("expected.safetensors has no '%s'", name);
    return t;
}

static void test_real_shapes(void **state) {
    (void)state;
    const rg_musicgen_config *c = rg_musicgen_get_config(model);
    assert_int_equal(c->card, 2048);
    assert_int_equal(c->hidden, 1024);
    assert_int_equal(c->layers, 24);
    assert_int_equal(c->heads, 16);
    assert_int_equal(c->ffn, 4096);
    assert_int_equal(c->codebooks, 4);
    assert_int_equal(c->text_dim, 768);
    assert_int_equal(rg_musicgen_max_frames(model), 2045);
}

static void condition(rg_lm_cond *cond) {
    const rg_st_tensor *t = find("p0.ids");
    rg_error err = {0};
    if (!rg_musicgen_condition_ids(model, (const int32_t *)(expected.data + t->begin),
                                   (int)rg_st_numel(t), cond, &err))
        fail_msg("%s", err.message);
}

static void compare_logits(rg_lm_session *s, int which, const char *name) {
    const rg_st_tensor *t = find(name);
    int64_t n = rg_st_numel(t);
    float *want = malloc((size_t)n * sizeof *want), *got = malloc((size_t)n * sizeof *got);
    rg_error err = {0};
    assert_true(rg_st_read_f32(&expected, t, want, &err));
    assert_true(rg_lm_session_logits(s, which, got, &err));
    double worst = 0, scale = 1e-12;
    for (int64_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs((double)got[i] - want[i]));
        scale = fmax(scale, fabs(want[i]));
    }
    fprintf(stderr, "# %s: relative error %.3g\n", name, worst / scale);
    assert_true(worst / scale <= tolerance);
    free(want);
    free(got);
}

static void test_first_step_and_one_second(void **state) {
    (void)state;
    const rg_musicgen_config *c = rg_musicgen_get_config(model);
    const rg_st_tensor *gt = find("greedy.cfg"), *gapt = find("greedy.gap");
    int steps = (int)gt->shape[1], frames = steps - c->codebooks + 1;
    const int32_t *want = (const int32_t *)(expected.data + gt->begin);
    float *gap = malloc((size_t)steps * sizeof *gap);
    rg_error err = {0};
    assert_true(rg_st_read_f32(&expected, gapt, gap, &err));

    rg_lm_cond cond;
    double t0 = now();
    condition(&cond);
    rg_lm_sampling sp = rg_lm_sampling_default();
    sp.temperature = 0.0f;
    rg_lm_session *s;
    assert_true(rg_lm_session_create(model, &cond, sp.guidance, steps, &s, &err));
    int32_t col[4] = {c->card, c->card, c->card, c->card}, next[4];
    int compared = 0;
    for (int step = 0; step < steps; step++) {
        assert_true(rg_lm_session_step(s, col, &sp, frames, next, &err));
        if (step == 0) {
            compare_logits(s, RG_LM_LOGITS_COND, "first.cond");
            compare_logits(s, RG_LM_LOGITS_NULL, "first.null");
            compare_logits(s, RG_LM_LOGITS_MIXED, "first.mixed");
        }
        if (gap[step] < NEAR_TIE) break; /* rounding may pick either token from here on */
        for (int k = 0; k < 4; k++) assert_int_equal(next[k], want[k * steps + step]);
        compared++;
        memcpy(col, next, sizeof col);
    }
    double dt = now() - t0;
    fprintf(stderr, "# %d of %d steps compared; 1 s of audio (%d frames, guided) in %.2f s\n",
            compared, steps, frames, dt);
    assert_true(compared >= steps / 2);
    rg_lm_session_free(s);
    rg_lm_cond_free(&cond);
    free(gap);
}

/* End to end with the committed 32 kHz EnCodec fixture as the codec (its
 * codebooks are musicgen-small's 4 x 2048): a prompt becomes a WAV file,
 * through `resonant generate` and through a patch with `resonant render`. */
static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void codec_dir(char *out, size_t size) {
    const char *root = getenv("RESONANT_SOURCE_DIR");
    snprintf(out, size, "%s/tests/fixtures/encodec/32k", root ? root : ".");
}

static void test_generate_command_writes_audio(void **state) {
    (void)state;
    char codec[1100], out[] = "/tmp/rg-lm-full-XXXXXX.wav";
    codec_dir(codec, sizeof codec);
    close(mkstemps(out, 4));
    char *argv[] = {"generate", "--model", getenv("RESONANT_LM_FIXTURE"), "--prompt",
                    "dark minimal techno in A minor", "--seconds", "0.2", "--codec", codec,
                    "-o", out};
    assert_int_equal(rg_cli_generate(11, argv), 0);
    assert_true(file_size(out) > 32000 / 5 * 4); /* 0.2 s of float samples */
    unlink(out);
}

static void test_patch_renders_audio(void **state) {
    (void)state;
    char codec[1100], patch[] = "/tmp/rg-lm-full-XXXXXX.rpatch", out[] = "/tmp/rg-lm-full-XXXXXX.wav";
    codec_dir(codec, sizeof codec);
    int fd = mkstemps(patch, 7);
    FILE *f = fdopen(fd, "w");
    const char *m = getenv("RESONANT_LM_FIXTURE");
    fprintf(f, "tempo 120\n"
               "node text conditioner model=\"%s\" prompt=\"dark minimal techno\"\n"
               "node gen  generator   model=\"%s\" seconds=0.3 seed=3\n"
               "node dec  decoder     model=\"%s\"\n"
               "node out  output\n"
               "text.cond -> gen.cond\ngen.tokens -> dec.tokens\ndec.audio -> out.in\n",
            m, m, codec);
    fclose(f);
    close(mkstemps(out, 4));
    char *argv[] = {"render", patch, "-o", out, "--seconds", "1", "-q"};
    assert_int_equal(rg_cli_render(7, argv), 0);
    assert_true(file_size(out) > 48000 * 4);
    unlink(out);
    unlink(patch);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_shapes),
        cmocka_unit_test(test_first_step_and_one_second),
        cmocka_unit_test(test_generate_command_writes_audio),
        cmocka_unit_test(test_patch_renders_audio),
    };
    return cmocka_run_group_tests_name("lm_full", tests, setup, teardown);
}
