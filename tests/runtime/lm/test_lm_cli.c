/* resonant generate, in process, on the tiny fixture checkpoint: a .codes
 * take of the asked length whose greedy tokens are the reference's, the same
 * seed giving the same take, and errors (bad length, missing options, tokens
 * that the codec cannot decode) reported with exit code 1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/model/codes.h"
#include "runtime/model/lm_cli.h"
#include "runtime/model/safetensors.h"

static char model[1100], codec[1100], expected[1100];

static int run(const char *out, const char *seconds, const char *seed, const char *temp) {
    char *argv[] = {"generate", "--model", model, "--prompt", "dark minimal techno in A minor",
                    "--seconds", (char *)seconds, "--seed", (char *)seed, "--temperature",
                    (char *)temp, "-o", (char *)out};
    return rg_cli_generate(13, argv);
}

static void read_codes(const char *path, rg_codes *c) {
    rg_error err = {0};
    if (!rg_codes_read(path, c, &err)) fail_msg("%s", err.message);
}

static void test_greedy_take_matches_reference(void **state) {
    (void)state;
    char out[] = "/tmp/rg-lm-cli-XXXXXX.codes";
    close(mkstemps(out, 6));
    assert_int_equal(run(out, "1", "0", "0"), 0);
    rg_codes c;
    read_codes(out, &c);
    assert_int_equal(c.frames, 50);
    assert_int_equal(c.n_codebooks, 4);
    assert_int_equal(c.codebook_size, 128);
    rg_st_file exp;
    rg_error err = {0};
    assert_true(rg_st_open(expected, &exp, &err));
    const rg_st_tensor *g = rg_st_find(&exp, "greedy.cfg");
    const int32_t *want = (const int32_t *)(exp.data + g->begin);
    for (int k = 0; k < 4; k++) /* frames whose inputs match the 97-frame reference run */
        for (int t = 0; t <= 50 - 4; t++) assert_int_equal(c.codes[k * 50 + t], want[k * 100 + k + t]);
    rg_st_close(&exp);
    rg_codes_free(&c);
    unlink(out);
}

static void test_same_seed_same_take(void **state) {
    (void)state;
    char a[] = "/tmp/rg-lm-cli-XXXXXX.codes", b[] = "/tmp/rg-lm-cli-XXXXXX.codes";
    close(mkstemps(a, 6));
    close(mkstemps(b, 6));
    assert_int_equal(run(a, "0.5", "42", "1"), 0);
    assert_int_equal(run(b, "0.5", "42", "1"), 0);
    rg_codes ca, cb;
    read_codes(a, &ca);
    read_codes(b, &cb);
    assert_int_equal(ca.frames, 25);
    assert_memory_equal(ca.codes, cb.codes, 4 * 25 * sizeof(int32_t));
    assert_int_equal(run(b, "0.5", "43", "1"), 0);
    rg_codes_free(&cb);
    read_codes(b, &cb);
    assert_memory_not_equal(ca.codes, cb.codes, 4 * 25 * sizeof(int32_t));
    rg_codes_free(&ca);
    rg_codes_free(&cb);
    unlink(a);
    unlink(b);
}

static void test_errors(void **state) {
    (void)state;
    assert_int_equal(run("/tmp/rg-lm-cli-never.codes", "0", "0", "1"), 1);
    assert_int_equal(run("/tmp/rg-lm-cli-never.codes", "3000", "0", "1"), 1);
    assert_int_equal(access("/tmp/rg-lm-cli-never.codes", F_OK), -1);
    char *no_model[] = {"generate", "--prompt", "x", "-o", "/tmp/x.wav"};
    assert_int_equal(rg_cli_generate(5, no_model), 1);
    char *bad[] = {"generate", "--model", model, "--prompt", "x", "--top-k", "many", "-o", "/tmp/x.wav"};
    assert_int_equal(rg_cli_generate(9, bad), 1);
    /* The tiny model's 128-code tokens are not the 32 kHz codec's 2048. */
    char *wav[] = {"generate", "--model", model, "--prompt", "x", "--seconds", "0.2",
                   "--codec", codec, "-o", "/tmp/rg-lm-cli-never.wav"};
    assert_int_equal(rg_cli_generate(11, wav), 1);
    assert_int_equal(access("/tmp/rg-lm-cli-never.wav", F_OK), -1);
}

int main(void) {
    const char *root = getenv("RESONANT_SOURCE_DIR");
    root = root ? root : ".";
    snprintf(model, sizeof model, "%s/tests/fixtures/lm/tiny", root);
    snprintf(codec, sizeof codec, "%s/tests/fixtures/encodec/32k", root);
    snprintf(expected, sizeof expected, "%s/tests/fixtures/lm/expected.safetensors", root);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_take_matches_reference),
        cmocka_unit_test(test_same_seed_same_take),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests_name("lm_cli", tests, NULL, NULL);
}
