/* The engine's track context (runtime/model/track_context.c through
 * musicgen.h) against the PyTorch reference, lm.TrackMusicGenRef, on a
 * track-aware model in the layout train/export.py writes:
 *   - the cross-attention memory [text ; locked drums] within 1e-4 of the
 *     reference's scale (CPU; 1e-3 on Vulkan);
 *   - the first step's logits (conditional, null, guided) likewise, with and
 *     without the locked track;
 *   - greedy guided decoding gives the reference's token grid, with and
 *     without the locked track (steps whose top two logits are closer than
 *     2e-3, where float rounding may decide, are not compared; at most a
 *     tenth of them may be such);
 *   - every case in the key and with the tags the prompt names (the model's
 *     key and tag inputs), read from the prompt's text as the reference
 *     reads them;
 *   - the locked track, the key and the tags each change the logits (they
 *     are used at all), and a track condition on a plain MusicGen, a bad
 *     role, tempo or code is an error that says so.
 * RESONANT_TRACK_MODEL is the model folder and RESONANT_TRACK_EXPECTED the
 * reference's values, made by train/make_track_fixtures.py: the committed
 * tiny random model (tests/fixtures/lm_track, the default) or the shipped
 * models/default (expected values made at build time). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/model/musicgen.h"
#include "runtime/model/pitch_code.h"
#include "runtime/model/safetensors.h"

#include "runtime/tensor/tensor.h"
#include "tests/support/damaged_model.h"
#include "tests/support/expected.h"

#define GUIDANCE 3.0f
#define NEAR_TIE 2e-3f

static rg_device *dev;
static rg_musicgen *model;
static rg_st_file expected;
static double tolerance;
static int target_role, locked_role, frames;
static float bpm;
static rg_lm_key key;
static bool has_key;       /* the reference saw a key input in the model */
static uint32_t want_tags; /* the model's tags the reference read in the prompt */
static int n_tags;         /* and how many the model has */
/* train/make_track_fixtures.py's PROMPT: the fixture's ids are its tokens;
 * and the same without its key, and without its tag words */
static const char *const prompt = "bass, acid line, 124 bpm, A minor, dark techno";
static const char *const prompt_no_key = "bass, acid line, 124 bpm, dark techno";
static const char *const prompt_no_tags = "bass, line, 124 bpm, A minor, techno";

static int setup(void **state) {
    (void)state;
    const char *root = getenv("RESONANT_SOURCE_DIR");
    const char *dir = getenv("RESONANT_TRACK_MODEL"), *exp = getenv("RESONANT_TRACK_EXPECTED");
    char model_dir[1100], path[1100];
    snprintf(model_dir, sizeof model_dir, "%s/tests/fixtures/lm_track/tiny", root ? root : ".");
    snprintf(path, sizeof path, "%s/tests/fixtures/lm_track/expected.safetensors", root ? root : ".");
    if (dir) snprintf(model_dir, sizeof model_dir, "%s", dir);
    if (exp) snprintf(path, sizeof path, "%s", exp);
    char msg[256];
    if (rg_device_create(NULL, &dev, msg, sizeof msg) != RG_OK) {
        fprintf(stderr, "# no device: %s\n", msg);
        return -1;
    }
    tolerance = rg_device_backend(dev) == RG_BACKEND_VULKAN ? 1e-3 : 1e-4;
    fprintf(stderr, "# model %s on %s, tolerance %g\n", model_dir, rg_device_name(dev), tolerance);
    rg_error err = {0};
    if (!rg_st_open(path, &expected, &err) || !rg_musicgen_load(model_dir, dev, NULL, &model, &err)) {
        fprintf(stderr, "# %s: %s\n", err.file, err.message);
        return -1;
    }
    int64_t n;
    const int32_t *meta = expected_ints(&expected, "meta", &n);
    if (n < 9) {
        fprintf(stderr, "# %s: meta has %d values, not 9 (remake it)\n", path, (int)n);
        return -1;
    }
    target_role = meta[0];
    locked_role = meta[1];
    frames = meta[2];
    bpm = (float)meta[3] / 1000.0f;
    key = (rg_lm_key){.root = meta[4], .scale = (uint16_t)meta[5]};
    has_key = meta[6] != 0;
    want_tags = (uint32_t)meta[7];
    n_tags = meta[8];
    return 0;
}

static int teardown(void **state) {
    (void)state;
    rg_musicgen_free(model);
    rg_st_close(&expected);
    rg_device_destroy(dev);
    return 0;
}

/* The condition of one case: the prompt's states, then the track context,
 * with the key and tags `words` names. */
static void condition_in(bool with_context, const char *words, rg_lm_cond *out) {
    int64_t n, nc;
    const int32_t *ids = expected_ints(&expected, "ids", &n);
    const int32_t *codes = expected_ints(&expected, "context", &nc);
    rg_lm_cond text;
    rg_error err = {0};
    assert_true(rg_musicgen_condition_ids(model, ids, (int)n, &text, &err));
    rg_lm_track drums = {.role = locked_role, .codes = codes, .frames = frames};
    bool ok = rg_musicgen_condition_track(model, &text, target_role, bpm, words, &drums,
                                          with_context ? 1 : 0, out, &err);
    if (!ok) fprintf(stderr, "# %s\n", err.message);
    assert_true(ok);
    rg_lm_cond_free(&text);
}

static void condition(bool with_context, rg_lm_cond *out) { condition_in(with_context, prompt, out); }

static const char *case_name(bool with_context) { return with_context ? "ctx" : "noctx"; }

static void check_memory(bool with_context) {
    rg_lm_cond cond;
    condition(with_context, &cond);
    char name[64];
    snprintf(name, sizeof name, "%s.memory", case_name(with_context));
    int64_t n;
    float *want = expected_floats(&expected, name, &n);
    int hidden = rg_musicgen_get_config(model)->hidden;
    assert_int_equal((int64_t)cond.len * hidden, n);
    float *got = malloc((size_t)n * sizeof *got);
    rg_error err = {0};
    assert_true(rg_lm_cond_read(model, &cond, got, &err));
    expected_close(&expected, name, got, name, tolerance);
    free(got);
    free(want);
    rg_lm_cond_free(&cond);
}

static void test_memory_with_context(void **state) {
    (void)state;
    check_memory(true);
}

static void test_memory_without_context(void **state) {
    (void)state;
    check_memory(false);
}

static void first_column(int32_t *col) {
    const rg_musicgen_config *c = rg_musicgen_get_config(model);
    for (int k = 0; k < c->codebooks; k++) col[k] = c->card;
}

static rg_lm_sampling greedy(void) {
    rg_lm_sampling sp = rg_lm_sampling_default();
    sp.guidance = GUIDANCE;
    sp.temperature = 0.0f;
    return sp;
}

/* One guided first step with what `words` names; the three logits come
 * back in `out` ([3][K*card]). */
static void first_step_in(bool with_context, const char *words, float *out) {
    const rg_musicgen_config *c = rg_musicgen_get_config(model);
    size_t one = (size_t)c->codebooks * c->card;
    rg_lm_cond cond;
    condition_in(with_context, words, &cond);
    rg_lm_sampling sp = greedy();
    rg_lm_session *s;
    rg_error err = {0};
    int32_t in[16], next[16];
    first_column(in);
    assert_true(rg_lm_session_create(model, &cond, sp.guidance, 4, &s, &err));
    assert_true(rg_lm_session_step(s, in, &sp, frames, next, &err));
    assert_true(rg_lm_session_logits(s, RG_LM_LOGITS_COND, out, &err));
    assert_true(rg_lm_session_logits(s, RG_LM_LOGITS_NULL, out + one, &err));
    assert_true(rg_lm_session_logits(s, RG_LM_LOGITS_MIXED, out + 2 * one, &err));
    rg_lm_session_free(s);
    rg_lm_cond_free(&cond);
}

static void first_step(bool with_context, float *out) { first_step_in(with_context, prompt, out); }

static void check_first_step(bool with_context) {
    const rg_musicgen_config *c = rg_musicgen_get_config(model);
    size_t one = (size_t)c->codebooks * c->card;
    float *got = malloc(3 * one * sizeof *got);
    first_step(with_context, got);
    static const char *const parts[3] = {"cond", "null", "mixed"};
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s.first.%s", case_name(with_context), parts[i]);
        expected_close(&expected, name, got + i * one, name, tolerance);
    }
    free(got);
}

static void test_first_step_with_context(void **state) {
    (void)state;
    check_first_step(true);
}

static void test_first_step_without_context(void **state) {
    (void)state;
    check_first_step(false);
}

/* The locked track must move the conditional logits, by ten times the
 * tolerance at least (else the tests above would pass with a context that
 * did nothing). The trained model moves its first step's logits by ~0.6 %
 * (the first frame hardly depends on the drums); the random one by ~50 %. */
static void test_context_changes_logits(void **state) {
    (void)state;
    const rg_musicgen_config *c = rg_musicgen_get_config(model);
    size_t one = (size_t)c->codebooks * c->card;
    float *with = malloc(3 * one * sizeof *with), *without = malloc(3 * one * sizeof *without);
    first_step(true, with);
    first_step(false, without);
    double e = expected_rel_error(with, without, (int64_t)one);
    fprintf(stderr, "# conditional logits with vs without the locked track: %.3g apart\n", e);
    assert_true(e > 10 * tolerance);
    free(with);
    free(without);
}

/* How far the first step's conditional logits move when the take's text
 * is `other` instead of the prompt (the states stay the prompt's). */
static double moved_by_words(const char *other) {
    const rg_musicgen_config *c = rg_musicgen_get_config(model);
    size_t one = (size_t)c->codebooks * c->card;
    float *with = malloc(3 * one * sizeof *with), *without = malloc(3 * one * sizeof *without);
    first_step_in(true, prompt, with);
    first_step_in(true, other, without);
    double e = expected_rel_error(with, without, (int64_t)one);
    free(with);
    free(without);
    return e;
}

/* Likewise the key: in a model with a key input (the reference saw one:
 * the engine must have loaded it) the same step without the key must move
 * the conditional logits by ten times the tolerance; in a model without
 * one, the key changes nothing. */
static void test_key_changes_logits(void **state) {
    (void)state;
    assert_int_equal(rg_musicgen_track_has_key(model), has_key);
    double e = moved_by_words(prompt_no_key);
    fprintf(stderr, "# conditional logits in the prompt's key vs in none: %.3g apart (%s)\n", e,
            has_key ? "a model with a key input" : "no key input");
    if (has_key) assert_true(e > 10 * tolerance);
    else assert_true(e == 0.0);
}

/* And the tags: the engine reads the ones the reference read in the
 * prompt, and without the tag words the logits move (or, in a model
 * without tags, do not). */
static void test_tags_change_logits(void **state) {
    (void)state;
    assert_int_equal(rg_musicgen_track_tags(model), n_tags);
    rg_lm_cond cond;
    condition_in(false, prompt, &cond);
    fprintf(stderr, "# tags in the prompt: %#x (reference %#x) of %d:", cond.terms.tags, want_tags, n_tags);
    for (int j = 0; j < n_tags; j++)
        if (cond.terms.tags & (1u << j)) fprintf(stderr, " %s", rg_musicgen_track_tag_name(model, j));
    fprintf(stderr, "\n");
    assert_int_equal(cond.terms.tags, want_tags);
    rg_lm_cond_free(&cond);
    /* whole words in any case, as corpus.caption_tags (tests/train/test_corpus.py) */
    uint32_t dark = 0, acid = 0;
    for (int j = 0; j < n_tags; j++) {
        if (strcmp(rg_musicgen_track_tag_name(model, j), "dark") == 0) dark = 1u << j;
        if (strcmp(rg_musicgen_track_tag_name(model, j), "acid") == 0) acid = 1u << j;
    }
    rg_error err = {0};
    assert_true(rg_musicgen_condition_track(model, NULL, target_role, bpm,
                                            "DARK-Acid, acidic, busyness, dark2", NULL, 0, &cond,
                                            &err));
    assert_int_equal(cond.terms.tags, dark | acid);
    rg_lm_cond_free(&cond);
    double e = moved_by_words(prompt_no_tags);
    fprintf(stderr, "# conditional logits with the prompt's tags vs none: %.3g apart\n", e);
    if (want_tags) assert_true(e > 10 * tolerance);
    else assert_true(e == 0.0);
}

/* The engine reads the fixture prompt's key as the reference did (meta),
 * and other spellings as train/corpus.py's caption_key does
 * (tests/train/test_corpus.py checks the same cases there). */
static void test_key_from_text(void **state) {
    (void)state;
    rg_lm_key k;
    assert_true(rg_lm_key_from_text(prompt, &k));
    assert_int_equal(k.root, key.root);
    assert_int_equal(k.scale, key.scale);
    static const struct {
        const char *text;
        int root, scale; /* pitch-class mask as train/corpus.py gives it; -1: no key */
    } cases[] = {
        {"bass, 90 bpm, Bb major, house", 10, 0x6ad},
        {"F# Dorian", 6, 0xb5a},
        {"C#  phrygian", 1, 0xb56},
        {"Eb aeolian", 3, 0xd6a},
        {"G MAJOR!", 7, 0xad5},
        {"drums, 120 bpm, techno", 0, -1},
        {"a minor thing", 0, -1},
        {"Abmajor", 0, -1},
        {"AB minor", 0, -1},
        {"xA minor", 0, -1},
        {"A minority", 0, -1},
        {"", 0, -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        bool found = rg_lm_key_from_text(cases[i].text, &k);
        fprintf(stderr, "# \"%s\": %s root %d scale %03x\n", cases[i].text, found ? "key" : "none",
                k.root, k.scale);
        assert_int_equal(found, cases[i].scale != -1);
        if (!found) {
            assert_int_equal(k.scale, 0);
            continue;
        }
        assert_int_equal(k.root, cases[i].root);
        assert_int_equal(k.scale, cases[i].scale);
    }
}

/* Each step is fed the reference's previous column (as the reference's own
 * greedy run was), so one near-tie, where float rounding may pick the other
 * token, does not derail the rest: every step whose top two logits are
 * NEAR_TIE apart or more must give the reference's tokens, and near-ties
 * must be rare (a tenth of the steps at most). With no near-tie this is
 * exactly free-running greedy decoding. */
static void check_greedy(bool with_context) {
    const rg_musicgen_config *c = rg_musicgen_get_config(model);
    int steps = frames + c->codebooks - 1;
    char name[64], gap_name[64];
    snprintf(name, sizeof name, "%s.greedy", case_name(with_context));
    snprintf(gap_name, sizeof gap_name, "%s.gap", case_name(with_context));
    int64_t n, ng;
    const int32_t *want = expected_ints(&expected, name, &n);
    float *gap = expected_floats(&expected, gap_name, &ng);
    assert_int_equal(n, (int64_t)c->codebooks * steps);
    assert_int_equal(ng, steps);

    rg_lm_cond cond;
    condition(with_context, &cond);
    rg_lm_sampling sp = greedy();
    rg_lm_session *s;
    rg_error err = {0};
    assert_true(rg_lm_session_create(model, &cond, sp.guidance, steps, &s, &err));
    int32_t col[16], next[16];
    first_column(col);
    int wrong = 0, ties = 0;
    for (int step = 0; step < steps; step++) {
        assert_true(rg_lm_session_step(s, col, &sp, frames, next, &err));
        bool tie = gap[step] < NEAR_TIE;
        ties += tie;
        for (int k = 0; k < c->codebooks; k++) {
            col[k] = want[k * steps + step];
            if (next[k] != col[k] && !tie && wrong++ == 0)
                fprintf(stderr, "# %s: step %d codebook %d: got %d, reference %d\n", name, step, k,
                        next[k], col[k]);
        }
    }
    fprintf(stderr, "# %s: %d steps, %d tokens differ, %d near-tie steps not compared\n", name,
            steps, wrong, ties);
    rg_lm_session_free(s);
    rg_lm_cond_free(&cond);
    free(gap);
    assert_int_equal(wrong, 0);
    assert_true(ties * 10 <= steps);
}

static void test_greedy_with_context(void **state) {
    (void)state;
    check_greedy(true);
}

static void test_greedy_without_context(void **state) {
    (void)state;
    check_greedy(false);
}

/* The note-on lock on the codec's last row (as if a pitch row), in the
 * model's codebook order (rg_pitch_model_row): the frames a note may start
 * on are the reference's (lm.note_on_mask), no note starts elsewhere, and
 * the guided greedy take (rg_musicgen_generate: codes in the codec's row
 * order, the locked drums in it too) is the reference's token for token
 * (lm.sample) when no step of it is a near-tie. A lock on a codebook the
 * model has not is an error that writes nothing. */
static void check_note_on(bool with_context) {
    const rg_musicgen_config *c = rg_musicgen_get_config(model);
    char name[64], gap_name[64];
    snprintf(name, sizeof name, "%s.note_on.codes", case_name(with_context));
    snprintf(gap_name, sizeof gap_name, "%s.note_on.gap", case_name(with_context));
    int64_t n, ng, nm;
    const int32_t *want = expected_ints(&expected, name, &n);
    const int32_t *want_on = expected_ints(&expected, "note_on", &nm);
    float *gap = expected_floats(&expected, gap_name, &ng);
    assert_int_equal(n, (int64_t)c->codebooks * frames);
    assert_int_equal(nm, frames);
    uint8_t *on = malloc((size_t)frames);
    rg_pitch_note_on_frames((double)c->sample_rate / c->hop, bpm, frames, on);
    for (int f = 0; f < frames; f++) assert_int_equal(on[f], want_on[f]);

    rg_lm_cond cond;
    condition(with_context, &cond);
    rg_lm_sampling sp = greedy();
    sp.note_on = on;
    sp.note_row = rg_pitch_model_row(c);
    int32_t *codes = malloc((size_t)n * sizeof *codes);
    rg_error err = {0};
    bool ok = rg_musicgen_generate(model, &cond, &sp, NULL, frames, NULL, NULL, codes, &err);
    if (!ok) fprintf(stderr, "# %s\n", err.message);
    assert_true(ok);
    const int32_t *row = codes + (size_t)(c->codebooks - 1) * frames;
    for (int f = 1; f < frames; f++)
        if (!on[f]) assert_true(row[f] == 0 || row[f] == row[f - 1]);
    float least = INFINITY;
    for (int64_t i = 0; i < ng; i++) least = fminf(least, gap[i]);
    int wrong = 0;
    for (int64_t i = 0; i < n; i++) wrong += codes[i] != want[i];
    fprintf(stderr, "# %s: codebook %d decides the note row; %d of %d tokens differ, "
            "smallest gap %.2e\n", name, sp.note_row, wrong, (int)n, (double)least);
    if (least >= NEAR_TIE) assert_int_equal(wrong, 0);
    /* a lock on a codebook the model has not is refused before any step */
    sp.note_row = c->codebooks;
    for (int64_t i = 0; i < n; i++) codes[i] = -7;
    assert_false(rg_musicgen_generate(model, &cond, &sp, NULL, frames, NULL, NULL, codes, &err));
    assert_non_null(strstr(err.message, "note-on lock"));
    for (int64_t i = 0; i < n; i++) assert_int_equal(codes[i], -7);
    free(codes);
    free(on);
    free(gap);
    rg_lm_cond_free(&cond);
}

static void test_note_on_lock_with_context(void **state) {
    (void)state;
    check_note_on(true);
}

static void test_note_on_lock_without_context(void **state) {
    (void)state;
    check_note_on(false);
}

static void expect_error(bool ok, const rg_error *err, const char *word) {
    assert_false(ok);
    fprintf(stderr, "# error: %s\n", err->message);
    assert_non_null(strstr(err->message, word));
}

static void test_bad_arguments(void **state) {
    (void)state;
    int64_t nc;
    const int32_t *codes = expected_ints(&expected, "context", &nc);
    int32_t *bad = malloc((size_t)nc * sizeof *bad);
    memcpy(bad, codes, (size_t)nc * sizeof *bad);
    bad[nc - 1] = rg_musicgen_get_config(model)->card; /* the special token is not a code */
    rg_lm_track ok_track = {.role = locked_role, .codes = codes, .frames = frames};
    rg_lm_track bad_track = {.role = locked_role, .codes = bad, .frames = frames};
    rg_lm_track bad_role = {.role = 99, .codes = codes, .frames = frames};
    rg_lm_cond out;
    rg_error err = {0};
    expect_error(rg_musicgen_condition_track(model, NULL, 99, bpm, NULL, NULL, 0, &out, &err), &err,
                 "role");
    expect_error(
        rg_musicgen_condition_track(model, NULL, target_role, 0.0f, NULL, NULL, 0, &out, &err),
        &err, "tempo");
    expect_error(rg_musicgen_condition_track(model, NULL, target_role, bpm, NULL, &bad_track, 1,
                                             &out, &err),
                 &err, "code");
    expect_error(rg_musicgen_condition_track(model, NULL, target_role, bpm, NULL, &bad_role, 1,
                                             &out, &err),
                 &err, "role");
    assert_null(out.states);
    /* No text and no track: no memory, but the role and beat terms. */
    assert_true(
        rg_musicgen_condition_track(model, NULL, target_role, bpm, NULL, NULL, 0, &out, &err));
    assert_int_equal(out.len, 0);
    assert_true(out.track);
    /* The tracks alone (an empty prompt). */
    rg_lm_cond tracks_only;
    assert_true(rg_musicgen_condition_track(model, &out, target_role, bpm, NULL, &ok_track, 1,
                                            &tracks_only, &err));
    assert_int_equal(tracks_only.len, frames);
    rg_lm_cond_free(&tracks_only);
    /* out may be the text condition itself (the caller keeps a copy to free) */
    rg_lm_cond text;
    int64_t n;
    const int32_t *ids = expected_ints(&expected, "ids", &n);
    assert_true(rg_musicgen_condition_ids(model, ids, (int)n, &text, &err));
    rg_lm_cond inplace = text;
    assert_true(rg_musicgen_condition_track(model, &inplace, target_role, bpm, prompt, &ok_track, 1,
                                            &inplace, &err));
    assert_int_equal(inplace.len, (int)n + frames);
    rg_lm_cond_free(&inplace);
    rg_lm_cond_free(&text);
    free(bad);
}

/* A locked track read in place from a longer take ([K][T], stride T): its
 * first `frames` frames make the same memory; the rest is not read (it
 * holds -1, which would be refused as a code). */
static void test_strided_track(void **state) {
    (void)state;
    int64_t nc;
    const int32_t *codes = expected_ints(&expected, "context", &nc);
    int kk = rg_musicgen_get_config(model)->codebooks, longer = frames + 7;
    int32_t *take = malloc((size_t)kk * longer * sizeof *take);
    for (int i = 0; i < kk * longer; i++) take[i] = -1;
    for (int k = 0; k < kk; k++)
        memcpy(take + (size_t)k * longer, codes + (size_t)k * frames, (size_t)frames * sizeof *take);
    rg_lm_track drums = {.role = locked_role, .codes = take, .frames = frames, .stride = longer};
    rg_lm_cond cond;
    rg_error err = {0};
    assert_true(
        rg_musicgen_condition_track(model, NULL, target_role, bpm, prompt, &drums, 1, &cond, &err));
    int64_t n;
    float *want = expected_floats(&expected, "ctx.memory", &n);
    int hidden = rg_musicgen_get_config(model)->hidden;
    float *got = malloc((size_t)cond.len * hidden * sizeof *got);
    assert_int_equal(cond.len, frames);
    assert_true(rg_lm_cond_read(model, &cond, got, &err));
    /* the memory without text is the context block of ctx.memory, its last rows */
    double e = expected_rel_error(got, want + (n - (int64_t)frames * hidden), (int64_t)frames * hidden);
    fprintf(stderr, "# strided locked track vs the reference's block: %.3g\n", e);
    assert_true(e <= tolerance);
    drums.stride = frames - 1;
    rg_lm_cond bad;
    expect_error(
        rg_musicgen_condition_track(model, NULL, target_role, bpm, prompt, &drums, 1, &bad, &err),
        &err, "stride");
    free(got);
    free(want);
    free(take);
    rg_lm_cond_free(&cond);
}

static void test_roles(void **state) {
    (void)state;
    assert_int_equal(rg_musicgen_track_roles(model), 4);
    assert_int_equal(rg_musicgen_track_role(model, "bass"), target_role);
    assert_int_equal(rg_musicgen_track_role(model, "drums"), locked_role);
    assert_int_equal(rg_musicgen_track_role(model, "kazoo"), -1);
    assert_string_equal(rg_musicgen_track_role_name(model, target_role), "bass");
    assert_null(rg_musicgen_track_role_name(model, 4));
}

/* A plain MusicGen (the tests/fixtures/lm tiny model) has no roles and
 * refuses a track condition. */
static void test_plain_musicgen_refuses(void **state) {
    (void)state;
    const char *root = getenv("RESONANT_SOURCE_DIR");
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/lm/tiny", root ? root : ".");
    rg_musicgen *plain;
    rg_error err = {0};
    assert_true(rg_musicgen_load(dir, dev, NULL, &plain, &err));
    assert_int_equal(rg_musicgen_track_roles(plain), 0);
    assert_int_equal(rg_musicgen_track_role(plain, "bass"), -1);
    rg_lm_cond out;
    expect_error(rg_musicgen_condition_track(plain, NULL, 0, 120.0f, prompt, NULL, 0, &out, &err),
                 &err, "no track context");
    rg_musicgen_free(plain);
}

/* The tiny model with its config.json's `from` replaced by `to`, loaded:
 * the error it gives must name `word` and the file. */
static void expect_bad_config(const char *from, const char *to, const char *word) {
    const char *root = getenv("RESONANT_SOURCE_DIR");
    char src[1100], dir[32];
    snprintf(src, sizeof src, "%s/tests/fixtures/lm_track/tiny", root ? root : ".");
    rg_error err = {0};
    bool ok = load_damaged_model(dev, src, "config.json", from, to, dir, &err);
    fprintf(stderr, "# %s -> %s: %s: %s\n", from, to, err.file, err.message);
    assert_false(ok);
    assert_non_null(strstr(err.message, word));
    assert_non_null(strstr(err.file, dir));
}

/* A tag that is not a word, and a tag list that does not match the
 * tensor's rows, are refused with the config key or the tensor named. */
static void test_bad_tags_refused(void **state) {
    (void)state;
    expect_bad_config("\"dark\",", "\"dark matter\",", "tags");
    expect_bad_config("\"dark\",", "", "tag_embed");
}

/* A codebook_order that is not an order of the code rows (one twice, one
 * past the last, too few) is refused with the key named. */
static void test_bad_codebook_order_refused(void **state) {
    (void)state;
    const char *key = "\"key_embed\": true";
    expect_bad_config(key, "\"codebook_order\": [0, 0, 1, 2], \"key_embed\": true", "codebook_order");
    expect_bad_config(key, "\"codebook_order\": [4, 0, 1, 2], \"key_embed\": true", "codebook_order");
    expect_bad_config(key, "\"codebook_order\": [1, 0], \"key_embed\": true", "codebook_order");
    expect_bad_config(key, "\"codebook_order\": \"pitch first\", \"key_embed\": true",
                      "codebook_order");
}

/* silence_codes that do not give each code row a code of the codebook
 * (too few, one past the last, negative) are refused with the key named;
 * good ones reach the model's config. */
static void test_silence_codes(void **state) {
    (void)state;
    const char *key = "\"key_embed\": true";
    expect_bad_config(key, "\"silence_codes\": [1, 2], \"key_embed\": true", "silence_codes");
    expect_bad_config(key, "\"silence_codes\": [1, 2, 3, 64], \"key_embed\": true", "silence_codes");
    expect_bad_config(key, "\"silence_codes\": [1, -2, 3, 4], \"key_embed\": true", "silence_codes");
    const char *root = getenv("RESONANT_SOURCE_DIR");
    char src[1100], dir[32];
    snprintf(src, sizeof src, "%s/tests/fixtures/lm_track/tiny", root ? root : ".");
    rg_error err = {0};
    rg_musicgen *named;
    assert_true(load_damaged_model_keep(dev, src, "config.json", key,
                                        "\"silence_codes\": [5, 0, 63, 7], \"key_embed\": true", dir,
                                        &named, &err));
    const rg_musicgen_config *n = rg_musicgen_get_config(named);
    assert_true(n->has_silence_codes);
    const int want[4] = {5, 0, 63, 7};
    for (int k = 0; k < 4; k++) assert_int_equal(n->silence_codes[k], want[k]);
    rg_musicgen_free(named);
}

/* Under RESONANT_VALIDATION=1 (the Vulkan run) every command list above
 * must have passed the Khronos validation layer silently. */
static void test_no_validation_messages(void **state) {
    (void)state;
    assert_int_equal(rg_device_validation_count(dev), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_memory_with_context),
        cmocka_unit_test(test_memory_without_context),
        cmocka_unit_test(test_first_step_with_context),
        cmocka_unit_test(test_first_step_without_context),
        cmocka_unit_test(test_context_changes_logits),
        cmocka_unit_test(test_key_changes_logits),
        cmocka_unit_test(test_tags_change_logits),
        cmocka_unit_test(test_key_from_text),
        cmocka_unit_test(test_greedy_with_context),
        cmocka_unit_test(test_greedy_without_context),
        cmocka_unit_test(test_note_on_lock_with_context),
        cmocka_unit_test(test_note_on_lock_without_context),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_strided_track),
        cmocka_unit_test(test_plain_musicgen_refuses),
        cmocka_unit_test(test_bad_tags_refused),
        cmocka_unit_test(test_bad_codebook_order_refused),
        cmocka_unit_test(test_silence_codes),
        cmocka_unit_test(test_no_validation_messages),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
