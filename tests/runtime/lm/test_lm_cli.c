/* resonant generate, in process, on the tiny fixture checkpoint: a .codes
 * take of the asked length whose greedy tokens are the reference's, the same
 * seed giving the same take, and errors (bad length, missing options, tokens
 * that the codec cannot decode) reported with exit code 1. And a
 * track-aware model whose LM's codebooks are a pitch codec's rows,
 * generated and decoded (resonant generate, then resonant decode). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/audio_file.h"
#include "runtime/model/codec_cli.h"
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

/* A composite checkpoint in the temporary folder `dir`: the tiny
 * track-aware model (4 codebooks of 64) and the codec fixture
 * tests/fixtures/encodec/CODEC (16 kHz, hop 320, 64 codes), as two shards
 * (the model's first: the codec fixture's stand-in LM head is not read),
 * the codec's config as the "audio_encoder" section, and the plain tiny
 * model's tokenizer (the same 512-piece vocabulary). */
static void composite_with_codec(char *dir, const char *codec_name) {
    const char *root = getenv("RESONANT_SOURCE_DIR");
    char path[1200], cmd[4096];
    root = root ? root : ".";
    assert_non_null(mkdtemp(dir));
    snprintf(cmd, sizeof cmd,
             "ln -s '%s/tests/fixtures/lm_track/tiny/model.safetensors' '%s/lm.safetensors' && "
             "ln -s '%s/tests/fixtures/encodec/%s/model.safetensors' '%s/codec.safetensors' && "
             "ln -s '%s/tests/fixtures/lm/tiny/spiece.model' '%s/' && "
             "echo '{\"weight_map\": {\"decoder.lm_heads.0.weight\": \"lm.safetensors\", "
             "\"audio_encoder.quantizer.layers.0.codebook.embed\": \"codec.safetensors\"}}' "
             "> '%s/model.safetensors.index.json'",
             root, dir, root, codec_name, dir, root, dir, dir);
    assert_int_equal(system(cmd), 0);
    json_error_t jerr;
    snprintf(path, sizeof path, "%s/tests/fixtures/lm_track/tiny/config.json", root);
    json_t *config = json_load_file(path, 0, &jerr);
    snprintf(path, sizeof path, "%s/tests/fixtures/encodec/%s/config.json", root, codec_name);
    json_t *codec_config = json_load_file(path, 0, &jerr);
    assert_true(config && codec_config);
    json_object_set(config, "audio_encoder", json_object_get(codec_config, "audio_encoder"));
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(json_dump_file(config, path, JSON_INDENT(2)), 0);
    json_decref(config);
    json_decref(codec_config);
}

static int generate_to(const char *composite, const char *out) {
    char *argv[] = {"generate", "--model", (char *)composite, "--prompt",
                    "bass, acid line, A minor", "--seconds", "0.5", "--seed", "7",
                    "-o", (char *)out};
    return rg_cli_generate(11, argv);
}

static void remove_folder(const char *dir) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void assert_wav_frames(const char *path, int64_t frames) {
    rg_audio_clip clip = {0};
    rg_error err = {0};
    if (!rg_clip_load(path, 16000, &clip, &err)) fail_msg("%s", err.message);
    assert_int_equal(clip.frames, frames);
    rg_clip_free(&clip);
}

/* A track-aware model whose LM has one codebook more than its codec's RVQ,
 * for the codec's pitch row (16k_pitch: 3 codebooks and the pitch row):
 * the count check counts the pitch row, generate writes 0.5 s of audio,
 * and the .codes take decodes whole and in pieces (decode_range). The
 * same LM with the harmonic codec without a pitch row (3 codebooks) is
 * refused before generating. */
static void test_track_model_with_pitch_codec(void **state) {
    (void)state;
    char pitch[] = "/tmp/rg-lm-pitch-XXXXXX", harm[] = "/tmp/rg-lm-harm-XXXXXX";
    char wav[] = "/tmp/rg-lm-pitch-XXXXXX.wav", codes[] = "/tmp/rg-lm-pitch-XXXXXX.codes";
    composite_with_codec(pitch, "16k_pitch");
    composite_with_codec(harm, "16k_harm");
    close(mkstemps(wav, 4));
    close(mkstemps(codes, 6));
    assert_int_equal(generate_to(pitch, wav), 0);
    assert_wav_frames(wav, 8000);
    assert_int_equal(generate_to(harm, "/tmp/rg-lm-pitch-never.wav"), 1);
    assert_int_equal(access("/tmp/rg-lm-pitch-never.wav", F_OK), -1);
    assert_int_equal(generate_to(pitch, codes), 0);
    rg_codes c;
    read_codes(codes, &c);
    assert_int_equal(c.n_codebooks, 4);
    rg_codes_free(&c);
    char *decode[] = {"decode", codes, "--model", pitch, "--segment", "0.2", "-o", wav};
    assert_int_equal(rg_cli_decode(8, decode), 0);
    assert_wav_frames(wav, 8000);
    unlink(wav);
    unlink(codes);
    remove_folder(pitch);
    remove_folder(harm);
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
        cmocka_unit_test(test_track_model_with_pitch_codec),
    };
    return cmocka_run_group_tests_name("lm_cli", tests, NULL, NULL);
}
