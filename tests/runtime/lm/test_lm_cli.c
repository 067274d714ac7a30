/* resonant generate, in process, on the tiny fixture checkpoint: a .codes
 * take of the asked length whose greedy tokens are the reference's, the same
 * seed giving the same take, and errors (bad length, missing options, tokens
 * that the codec cannot decode) reported with exit code 1. And a
 * track-aware model whose LM's codebooks are a pitch codec's rows,
 * generated and decoded (resonant generate, then resonant decode), and
 * its key lock (--key-lock, and the generator node's key_lock: the pitch
 * row sampled from the key the text names only; RESONANT_TEST_FILTER runs
 * just those tests, as the Vulkan run does). The key lock's mask itself
 * (rg_pitch_key_lock), and the pitch row's own temperature
 * (--pitch-temperature, the node's pitch_temperature). */
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
#include "runtime/model/pitch_code.h"
#include "runtime/model/safetensors.h"
#include "runtime/model/tokens.h"
#include "tests/support/patch_rig.h"

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
    /* Without --model the shipped default; a default that is not there is
     * a user error naming it (tests/cli/test_cli.sh runs the real one). */
    setenv("RESONANT_MODEL", "/tmp/rg-lm-cli-no-such-model", 1);
    char *no_model[] = {"generate", "--prompt", "x", "-o", "/tmp/rg-lm-cli-never.wav"};
    assert_int_equal(rg_cli_generate(5, no_model), 1);
    unsetenv("RESONANT_MODEL");
    assert_int_equal(access("/tmp/rg-lm-cli-never.wav", F_OK), -1);
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

/* The mask: the pitch row (the last codebook) allows code 0 and the notes
 * of the key's scale, nothing past pitch_notes; other codebooks allow all.
 * C major and A minor are the same set; D dorian too (the same white
 * keys), F# major another; no key or no pitch row locks nothing. */
static void test_key_lock_mask(void **state) {
    (void)state;
    rg_encodec_config cfg = {.pitch_codebook = true, .pitch_midi_min = 26, .pitch_notes = 40};
    enum { K = 4, CARD = 64 };
    uint8_t c_major[K * CARD], a_minor[K * CARD], d_dorian[K * CARD], fs_major[K * CARD];
    rg_lm_key key;
    assert_true(rg_lm_key_from_text("C major", &key));
    assert_true(rg_pitch_key_lock(&cfg, key, K, K - 1, CARD, c_major));
    assert_true(rg_lm_key_from_text("bass, A minor, 120 bpm", &key));
    assert_true(rg_pitch_key_lock(&cfg, key, K, K - 1, CARD, a_minor));
    assert_true(rg_lm_key_from_text("D Dorian", &key));
    assert_true(rg_pitch_key_lock(&cfg, key, K, K - 1, CARD, d_dorian));
    assert_true(rg_lm_key_from_text("F# major", &key));
    assert_true(rg_pitch_key_lock(&cfg, key, K, K - 1, CARD, fs_major));
    assert_memory_equal(c_major, a_minor, sizeof c_major);
    assert_memory_equal(c_major, d_dorian, sizeof c_major);
    for (int i = 0; i < (K - 1) * CARD; i++) assert_int_equal(c_major[i], 1);
    const uint8_t *row = c_major + (K - 1) * CARD, *fs = fs_major + (K - 1) * CARD;
    assert_int_equal(row[0], 1);
    assert_int_equal(fs[0], 1);
    int in_key = 0;
    for (int c = 1; c < CARD; c++) {
        int pc = (26 + c - 1) % 12; /* code 1 is MIDI 26, a D */
        bool white = pc == 0 || pc == 2 || pc == 4 || pc == 5 || pc == 7 || pc == 9 || pc == 11;
        assert_int_equal(row[c], c <= 40 && white);
        /* F# major: F# G# A# B C# D# E# (F) */
        bool fs_key = pc == 6 || pc == 8 || pc == 10 || pc == 11 || pc == 1 || pc == 3 || pc == 5;
        assert_int_equal(fs[c], c <= 40 && fs_key);
        in_key += row[c];
    }
    assert_int_equal(in_key, 24); /* 40 notes from D: 3 octaves + 4, 7 + 7 + 7 + 3 */
    /* D dorian's scale is D E F G A B C. */
    assert_true(rg_lm_key_from_text("D dorian", &key));
    assert_int_equal(key.scale, 0xab5); /* C D E F G A B */
    uint8_t untouched[K * CARD];
    memset(untouched, 7, sizeof untouched);
    assert_false(rg_lm_key_from_text("acid bass", &key));
    assert_false(rg_pitch_key_lock(&cfg, key, K, K - 1, CARD, untouched));
    cfg.pitch_codebook = false;
    assert_true(rg_lm_key_from_text("C major", &key));
    assert_false(rg_pitch_key_lock(&cfg, key, K, K - 1, CARD, untouched));
    for (size_t i = 0; i < sizeof untouched; i++) assert_int_equal(untouched[i], 7);
}

/* resonant generate on the pitch composite: 2 s of tokens with `prompt`,
 * seed 7, at `temperature` (1.5 with top-k 0: every token a candidate, so
 * an out-of-key note is likely without the lock) and `guidance` (0: a
 * batch of one, whose logits are not mixed). */
static void generate_codes(const char *composite, const char *prompt, bool lock,
                           const char *temperature, const char *guidance, rg_codes *c) {
    char out[] = "/tmp/rg-lm-lock-XXXXXX.codes";
    close(mkstemps(out, 6));
    char *argv[] = {"generate", "--model", (char *)composite, "--prompt", (char *)prompt,
                    "--seconds", "2", "--seed", "7", "--temperature", (char *)temperature,
                    "--top-k", "0", "--guidance", (char *)guidance, "-o", out, "--key-lock"};
    assert_int_equal(rg_cli_generate(lock ? 18 : 17, argv), 0);
    read_codes(out, c);
    unlink(out);
    assert_int_equal(c->n_codebooks, 4);
    assert_int_equal(c->frames, 100);
}

/* Pitch-row tokens (the last codebook) that are neither 0 nor a note of
 * A minor (MIDI 26 + c - 1 with a white-key pitch class, c <= 40). */
static int out_of_a_minor(const rg_codes *c) {
    int bad = 0;
    const int32_t *row = c->codes + (size_t)3 * c->frames;
    for (int64_t t = 0; t < c->frames; t++) {
        int pc = (26 + row[t] - 1) % 12;
        bool white = pc == 0 || pc == 2 || pc == 4 || pc == 5 || pc == 7 || pc == 9 || pc == 11;
        bad += row[t] != 0 && !(row[t] <= 40 && white);
    }
    return bad;
}

/* The key lock at `temperature` and `guidance`: with "A minor" in the
 * prompt every pitch-row token is 0 or a note of A minor; the same seed
 * without the lock samples notes outside it (so the check can fail); a
 * prompt naming no key locks nothing (the same tokens as without the
 * lock). */
static void check_key_lock(const char *dir, const char *temperature, const char *guidance) {
    rg_codes locked, free_run, no_key, no_key_locked;
    generate_codes(dir, "bass, acid line, A minor", true, temperature, guidance, &locked);
    generate_codes(dir, "bass, acid line, A minor", false, temperature, guidance, &free_run);
    assert_int_equal(out_of_a_minor(&locked), 0);
    int bad = out_of_a_minor(&free_run);
    print_message("# temperature %s, guidance %s: pitch row out of A minor in %d of 100 "
                  "frames unlocked, 0 locked\n", temperature, guidance, bad);
    assert_true(bad > 0);
    assert_memory_not_equal(locked.codes, free_run.codes, 4 * 100 * sizeof(int32_t));
    generate_codes(dir, "bass, acid line", true, temperature, guidance, &no_key_locked);
    generate_codes(dir, "bass, acid line", false, temperature, guidance, &no_key);
    assert_memory_equal(no_key_locked.codes, no_key.codes, 4 * 100 * sizeof(int32_t));
    rg_codes_free(&locked);
    rg_codes_free(&free_run);
    rg_codes_free(&no_key);
    rg_codes_free(&no_key_locked);
}

/* Sampled with guidance (the mixed logits masked), and greedy without
 * guidance (a batch of one: the branch's own logits masked). */
static void test_key_lock(void **state) {
    (void)state;
    char dir[] = "/tmp/rg-lm-lock-XXXXXX";
    composite_with_codec(dir, "16k_pitch");
    check_key_lock(dir, "1.5", "3");
    check_key_lock(dir, "0", "0");
    remove_folder(dir);
}

/* The generator node's key_lock, with the conditioner's key (the text the
 * generator hears, "bass, acid line, 120 bpm, A minor"): the tokens it
 * publishes, as check_key_lock asks of the CLI's. */
static void node_take_with(const char *dir, const char *key, const char *params, rg_codes *out) {
    char patch[2048];
    snprintf(patch, sizeof patch,
             "node text conditioner model=\"%s\" prompt=\"acid line\" key=\"%s\"\n"
             "node bass generator model=\"%s\" track=bass seconds=2 seed=7 temperature=1.5 "
             "top_k=0 %s\ntext.cond -> bass.cond\n",
             dir, key, dir, params);
    patch_rig r;
    rg_error err = {0};
    if (!rig_start(&r, patch, "/", &err) || !rig_generate(&r, &err)) fail_msg("%s", err.message);
    rg_data *d = rig_published(&r, "bass");
    const rg_tokens *tk = rg_data_tokens(d);
    assert_non_null(tk);
    assert_int_equal(tk->frames, 100);
    *out = (rg_codes){.n_codebooks = tk->n_codebooks, .frames = tk->frames};
    out->codes = malloc((size_t)4 * 100 * sizeof *out->codes);
    memcpy(out->codes, tk->codes, (size_t)4 * 100 * sizeof *out->codes);
    rg_data_unref(d);
    rig_stop(&r);
}

static void node_take(const char *dir, const char *key, bool lock, rg_codes *out) {
    node_take_with(dir, key, lock ? "key_lock=true" : "key_lock=false", out);
}

static void test_key_lock_in_a_patch(void **state) {
    (void)state;
    char dir[] = "/tmp/rg-lm-lock-XXXXXX";
    composite_with_codec(dir, "16k_pitch");
    rg_codes locked, free_run, no_key, no_key_locked;
    node_take(dir, "A minor", true, &locked);
    node_take(dir, "A minor", false, &free_run);
    assert_int_equal(out_of_a_minor(&locked), 0);
    int bad = out_of_a_minor(&free_run);
    print_message("# generator node: pitch row out of A minor in %d of 100 frames unlocked, "
                  "0 locked\n", bad);
    assert_true(bad > 0);
    node_take(dir, "", true, &no_key_locked);
    node_take(dir, "", false, &no_key);
    assert_memory_equal(no_key_locked.codes, no_key.codes, 4 * 100 * sizeof(int32_t));
    rg_codes_free(&locked);
    rg_codes_free(&free_run);
    rg_codes_free(&no_key);
    rg_codes_free(&no_key_locked);
    remove_folder(dir);
}

/* resonant generate on `model_dir`: 2 s at temperature 1.5, top-k 0, seed 7,
 * the pitch row at `pitch_t`; the exit code. */
static int pitch_t_take(const char *model_dir, const char *pitch_t, rg_codes *c) {
    char out[] = "/tmp/rg-lm-pitch-t-XXXXXX.codes";
    close(mkstemps(out, 6));
    char *argv[] = {"generate", "--model", (char *)model_dir, "--prompt", "bass, acid line, A minor",
                    "--seconds", "2", "--seed", "7", "--temperature", "1.5", "--top-k", "0",
                    "--pitch-temperature", (char *)pitch_t, "-o", out};
    int rc = rg_cli_generate(17, argv);
    if (rc == 0) read_codes(out, c);
    unlink(out);
    return rc;
}

/* --pitch-temperature and the node's pitch_temperature reach the pitch row:
 * the rows sampled before the pitch row's first step (the delay pattern:
 * row k of frames t < 3 - k) are the same, the pitch row is not; a model
 * whose codec has no pitch row is untouched (the same take at any pitch
 * temperature); 0 is refused. How the temperature scales the row is
 * test_row_temperature (test_lm.c). */
static void test_pitch_temperature(void **state) {
    (void)state;
    char dir[] = "/tmp/rg-lm-pitch-t-XXXXXX";
    composite_with_codec(dir, "16k_pitch");
    rg_codes low, high, again;
    assert_int_equal(pitch_t_take(dir, "0.3", &low), 0);
    assert_int_equal(pitch_t_take(dir, "1.5", &high), 0);
    assert_int_equal(pitch_t_take(dir, "0.3", &again), 0);
    assert_memory_equal(low.codes, again.codes, 4 * 100 * sizeof(int32_t));
    for (int k = 0; k < 3; k++)
        for (int t = 0; t < 3 - k; t++) assert_int_equal(low.codes[k * 100 + t], high.codes[k * 100 + t]);
    assert_memory_not_equal(low.codes + 300, high.codes + 300, 100 * sizeof(int32_t));
    rg_codes_free(&low);
    rg_codes_free(&high);
    rg_codes_free(&again);
    node_take_with(dir, "A minor", "pitch_temperature=0.3", &low);
    node_take_with(dir, "A minor", "pitch_temperature=1.5", &high);
    assert_memory_not_equal(low.codes + 300, high.codes + 300, 100 * sizeof(int32_t));
    rg_codes_free(&low);
    rg_codes_free(&high);
    assert_int_equal(pitch_t_take(dir, "0", &low), 1);
    remove_folder(dir);
    char out_a[] = "/tmp/rg-lm-pitch-t-XXXXXX.codes", out_b[] = "/tmp/rg-lm-pitch-t-XXXXXX.codes";
    close(mkstemps(out_a, 6));
    close(mkstemps(out_b, 6));
    char *plain_a[] = {"generate", "--model", model, "--prompt", "x", "--seconds", "0.5",
                       "--temperature", "1.5", "--pitch-temperature", "0.3", "-o", out_a};
    char *plain_b[] = {"generate", "--model", model, "--prompt", "x", "--seconds", "0.5",
                       "--temperature", "1.5", "--pitch-temperature", "1.5", "-o", out_b};
    assert_int_equal(rg_cli_generate(13, plain_a), 0);
    assert_int_equal(rg_cli_generate(13, plain_b), 0);
    read_codes(out_a, &low);
    read_codes(out_b, &high);
    assert_memory_equal(low.codes, high.codes, (size_t)low.n_codebooks * low.frames * sizeof(int32_t));
    rg_codes_free(&low);
    rg_codes_free(&high);
    unlink(out_a);
    unlink(out_b);
}

/* rg_pitch_take_sampling on the pitch composite (4 codebooks, the last the
 * pitch row): the lock's mask is rg_pitch_key_lock's and the pitch row
 * gets its own temperature; no key in the text locks nothing, greedy and
 * an equal temperature scale nothing; a codec without a pitch row (the
 * harmonic one) changes nothing; an unreadable codec, or more codebooks
 * than a take holds, is an error that leaves nothing to free. */
static void test_pitch_take_sampling(void **state) {
    (void)state;
    char pitch[] = "/tmp/rg-lm-pts-XXXXXX", harm[] = "/tmp/rg-lm-pts-h-XXXXXX";
    composite_with_codec(pitch, "16k_pitch");
    composite_with_codec(harm, "16k_harm");
    rg_musicgen_config mc = {.codebooks = 4, .card = 64};
    rg_error err = {0};
    rg_pitch_take take;
    rg_lm_sampling sp = {.temperature = 1.5f};
    const rg_pitch_take_options lock_03 = {.key_lock = true, .pitch_temperature = 0.3f},
                                free_03 = {.pitch_temperature = 0.3f};
    assert_true(rg_pitch_take_sampling(pitch, "bass, A minor", &mc, &lock_03, &take, &sp, &err));
    assert_non_null(sp.allowed);
    assert_ptr_equal(sp.row_temperature, take.rows);
    for (int k = 0; k < 3; k++) assert_float_equal(sp.row_temperature[k], 1.5f, 0.0f);
    assert_float_equal(sp.row_temperature[3], 0.3f, 0.0f);
    rg_encodec_config cfg;
    rg_lm_key key;
    uint8_t want[4 * 64];
    assert_true(rg_encodec_probe(pitch, &cfg, &err));
    assert_true(rg_lm_key_from_text("A minor", &key));
    assert_true(rg_pitch_key_lock(&cfg, key, 4, 3, 64, want));
    assert_memory_equal(sp.allowed, want, sizeof want);
    rg_pitch_take_free(&take);
    assert_true(rg_pitch_take_sampling(pitch, "acid bass", &mc, &lock_03, &take, &sp, &err));
    assert_null(sp.allowed);
    assert_non_null(sp.row_temperature);
    rg_pitch_take_free(&take);
    sp.temperature = 0.0f; /* greedy stays greedy */
    assert_true(rg_pitch_take_sampling(pitch, "A minor", &mc, &free_03, &take, &sp, &err));
    assert_null(sp.allowed);
    assert_null(sp.row_temperature);
    sp.temperature = 0.3f;
    assert_true(rg_pitch_take_sampling(pitch, "A minor", &mc, &free_03, &take, &sp, &err));
    assert_null(sp.row_temperature);
    sp.temperature = 1.5f;
    assert_true(rg_pitch_take_sampling(harm, "A minor", &mc, &lock_03, &take, &sp, &err));
    assert_null(sp.allowed);
    assert_null(sp.row_temperature);
    assert_false(rg_pitch_take_sampling("/tmp/rg-no-such-codec", "A minor", &mc, &lock_03, &take, &sp,
                                        &err));
    assert_null(take.allowed);
    assert_non_null(strstr(err.file, "rg-no-such-codec"));
    /* the note-on lock: the frames of the tempo's 16ths, on the model's pitch row
     * (the first, for a model that orders it first) */
    mc.codebook_order[0] = 3;
    for (int k = 1; k < 4; k++) mc.codebook_order[k] = k - 1;
    mc.sample_rate = 16000;
    mc.hop = 320;
    rg_pitch_take_options po = {.pitch_temperature = 1.5f, .note_on_lock = true, .bpm = 125.0f,
                                .frames = 100};
    assert_true(rg_pitch_take_sampling(pitch, "A minor", &mc, &po, &take, &sp, &err));
    assert_ptr_equal(sp.note_on, take.note_on);
    assert_int_equal(sp.note_row, 0);
    assert_null(sp.row_temperature);
    for (int f = 0; f < 100; f++) /* 125 bpm at 50 Hz: a 16th is 6 frames */
        assert_int_equal(sp.note_on[f], f % 6 == 0);
    rg_pitch_take_free(&take);
    po.key_lock = true;
    assert_true(rg_pitch_take_sampling(pitch, "A minor", &mc, &po, &take, &sp, &err));
    assert_non_null(sp.allowed);
    for (int c = 0; c < 64; c++) assert_int_equal(sp.allowed[c], want[3 * 64 + c]); /* row 0 locked */
    for (int c = 0; c < 3 * 64; c++) assert_int_equal(sp.allowed[64 + c], 1);
    rg_pitch_take_free(&take);
    po.bpm = 0.0f; /* the lock needs the take's tempo */
    assert_false(rg_pitch_take_sampling(pitch, "A minor", &mc, &po, &take, &sp, &err));
    assert_non_null(strstr(err.message, "tempo"));
    assert_null(take.note_on);
    po = (rg_pitch_take_options){.pitch_temperature = 0.3f, .note_on_lock = true, .bpm = 120.0f,
                                 .frames = 100};
    assert_true(rg_pitch_take_sampling(harm, "A minor", &mc, &po, &take, &sp, &err));
    assert_null(sp.note_on); /* no pitch row, nothing to lock */
    mc.codebooks = RG_LM_MAX_CODEBOOKS + 1; /* more rows than a take's storage holds */
    assert_false(rg_pitch_take_sampling(pitch, "A minor", &mc, &lock_03, &take, &sp, &err));
    assert_null(take.allowed);
    remove_folder(pitch);
    remove_folder(harm);
}

/* The sustain lock on tests/train/test_lm.py's worked example (the same
 * pitch row, attack and release, the same frames quiet: lm.sustain):
 * every row but the pitch row takes its silence code there, nothing else
 * changes, frame by frame as at once; off, it changes nothing. The take's
 * lock comes from the model's silence codes (attack 120 ms unless told,
 * release 40 ms: 6 and 2 frames at 50 Hz); a model without them is
 * refused, naming them. */
static void test_sustain_lock(void **state) {
    (void)state;
    enum { K = 3, F = 12 };
    const int32_t pitch_row[F] = {5, 5, 5, 5, 5, 0, 0, 0, 7, 7, 0, 9};
    const bool quiet[F] = {[3] = true, [4] = true, [7] = true};
    int32_t codes[K * F], once[K * F], stepwise[K * F];
    for (int t = 0; t < F; t++) {
        codes[t] = 10 + t;
        codes[F + t] = 30 + t;
        codes[2 * F + t] = pitch_row[t];
    }
    rg_pitch_sustain lock = {.on = true, .attack = 3, .release = 2, .silence = {1, 2, 0}};
    memcpy(once, codes, sizeof codes);
    rg_pitch_sustain_frames(&lock, K, once, F, 0, F);
    for (int t = 0; t < F; t++) {
        assert_int_equal(once[t], quiet[t] ? 1 : codes[t]);
        assert_int_equal(once[F + t], quiet[t] ? 2 : codes[F + t]);
        assert_int_equal(once[2 * F + t], codes[2 * F + t]);
    }
    memcpy(stepwise, codes, sizeof codes); /* as the generator publishes frames */
    for (int t = 0; t < F; t += 5) rg_pitch_sustain_frames(&lock, K, stepwise, F, t, t + 5 < F ? t + 5 : F);
    assert_memory_equal(stepwise, once, sizeof once);
    lock.on = false;
    memcpy(stepwise, codes, sizeof codes);
    rg_pitch_sustain_frames(&lock, K, stepwise, F, 0, F);
    assert_memory_equal(stepwise, codes, sizeof codes);

    char folder[] = "/tmp/rg-lm-sus-XXXXXX";
    composite_with_codec(folder, "16k_pitch");
    rg_musicgen_config mc = {.codebooks = 4, .card = 64, .sample_rate = 16000, .hop = 320};
    rg_pitch_take take;
    rg_lm_sampling sp = {.temperature = 1.0f};
    rg_error err = {0};
    rg_pitch_take_options po = {.pitch_temperature = 1.0f, .sustain_lock = true};
    assert_false(rg_pitch_take_sampling(folder, "bass", &mc, &po, &take, &sp, &err));
    assert_non_null(strstr(err.message, "silence codes"));
    assert_non_null(strstr(err.file, "rg-lm-sus-"));
    assert_false(take.sustain.on);
    mc.has_silence_codes = true;
    for (int k = 0; k < 4; k++) mc.silence_codes[k] = 40 + k;
    assert_true(rg_pitch_take_sampling(folder, "bass", &mc, &po, &take, &sp, &err));
    assert_true(take.sustain.on);
    assert_int_equal(take.sustain.attack, 6);
    assert_int_equal(take.sustain.release, 2);
    for (int k = 0; k < 4; k++) assert_int_equal(take.sustain.silence[k], 40 + k);
    rg_pitch_take_free(&take);
    po.sustain_attack_ms = 60.0f;
    assert_true(rg_pitch_take_sampling(folder, "bass", &mc, &po, &take, &sp, &err));
    assert_int_equal(take.sustain.attack, 3);
    rg_pitch_take_free(&take);
    po.sustain_attack_ms = 90.0f; /* 4.5 frames: up, as lm.sustain_frames */
    assert_true(rg_pitch_take_sampling(folder, "bass", &mc, &po, &take, &sp, &err));
    assert_int_equal(take.sustain.attack, 5);
    rg_pitch_take_free(&take);
    assert_false(take.sustain.on);
    remove_folder(folder);
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
        cmocka_unit_test(test_key_lock_mask),
        cmocka_unit_test(test_key_lock),
        cmocka_unit_test(test_key_lock_in_a_patch),
        cmocka_unit_test(test_pitch_temperature),
        cmocka_unit_test(test_pitch_take_sampling),
        cmocka_unit_test(test_sustain_lock),
    };
    const char *filter = getenv("RESONANT_TEST_FILTER");
    if (filter) cmocka_set_test_filter(filter);
    return cmocka_run_group_tests_name("lm_cli", tests, NULL, NULL);
}
