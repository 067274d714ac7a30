/* The generator node with a track-aware checkpoint (the shipped
 * models/default): it makes the role named by its `track`, at the patch
 * tempo, hearing the takes on its `context` input as locked tracks with the
 * roles of the generators that made them. Checked against calling the model
 * API directly with the same text, role, tempo, locked codes and seed, and
 * shown to depend on each of them; bad roles and a plain MusicGen with two
 * contexts are refused with errors that say what to change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "graph/patch.h"
#include "runtime/audio_file.h"
#include "runtime/generate.h"
#include "runtime/model/musicgen.h"
#include "runtime/model/pitch_code.h"
#include "runtime/model/tokens.h"
#include "runtime/tensor/tensor.h"

#include "nodes/registry.h"
#include "tests/support/patch_rig.h"

static char root[1024];

/* Greedy, so a take is a function of its inputs alone. */
#define GEN "generator model=\"models/default\" bars=1 temperature=0 guidance=3 seed=5 "

static const char *song =
    "tempo 124\n"
    "node text  conditioner model=\"models/default\" prompt=\"dark techno\"\n"
    "node drums " GEN "track=drums\n"
    "node bass  " GEN "track=bass\n"
    "text.cond -> drums.cond\n"
    "text.cond -> bass.cond\n"
    "drums.tokens -> bass.context\n";

/* models/default on a new device. */
static rg_musicgen *load_default(rg_device **dev) {
    char path[1200], msg[256];
    snprintf(path, sizeof path, "%s/models/default", root);
    rg_musicgen *m;
    rg_error err = {0};
    assert_int_equal(rg_device_create(NULL, dev, msg, sizeof msg), RG_OK);
    if (!rg_musicgen_load(path, *dev, NULL, &m, &err)) fail_msg("%s", err.message);
    return m;
}

/* What the model makes for `text`, `role` at `bpm` hearing the first
 * `frames` frames of `locked` (NULL: nothing), through the API the node is
 * meant to call. */
static int32_t *direct_take(const char *text, const char *role, float bpm, const rg_tokens *locked,
                            int frames) {
    rg_device *dev;
    rg_musicgen *m = load_default(&dev);
    rg_error err = {0};
    rg_lm_cond t, cond;
    rg_lm_track track = {rg_musicgen_track_role(m, "drums"), locked ? locked->codes : NULL,
                         frames, locked ? locked->frames : 0};
    if (!rg_musicgen_condition_text(m, text, &t, &err) ||
        !rg_musicgen_condition_track(m, &t, rg_musicgen_track_role(m, role), bpm, text, &track,
                                     locked ? 1 : 0, &cond, &err))
        fail_msg("%s", err.message);
    rg_lm_sampling sp = {.guidance = 3, .temperature = 0, .top_k = 250, .seed = 5};
    int32_t *codes = malloc((size_t)rg_musicgen_get_config(m)->codebooks * frames * sizeof *codes);
    if (!rg_musicgen_generate(m, &cond, &sp, NULL, frames, NULL, NULL, codes, &err))
        fail_msg("%s", err.message);
    rg_lm_cond_free(&t);
    rg_lm_cond_free(&cond);
    rg_musicgen_free(m);
    rg_device_destroy(dev);
    return codes;
}

static bool same_codes(const int32_t *a, const int32_t *b, int n) {
    return memcmp(a, b, (size_t)n * sizeof *a) == 0;
}

static void test_bass_hears_the_drums_as_the_model_api_does(void **state) {
    (void)state;
    patch_rig r;
    rg_error err = {0};
    if (!rig_start(&r, song, root, &err) || !rig_generate(&r, &err)) fail_msg("%s", err.message);
    rg_data *drums = rig_published(&r, "drums"), *bass = rig_published(&r, "bass");
    const rg_tokens *dt = rg_data_tokens(drums), *bt = rg_data_tokens(bass);
    assert_non_null(dt);
    assert_non_null(bt);
    int frames = (int)bt->frames;
    assert_int_equal(frames, 97); /* a bar of 4/4 at 124 bpm is 1.935 s: 96.8 frames, rounded up */
    assert_int_equal(dt->frames, frames);
    assert_string_equal(bass->prompt, "bass, dark techno, 124 bpm");
    assert_string_equal(drums->prompt, "drums, dark techno, 124 bpm");

    assert_int_equal(bt->n_codebooks, dt->n_codebooks);
    int n = bt->n_codebooks * frames;
    int32_t *want = direct_take(bass->prompt, "bass", 124, dt, frames);
    assert_true(same_codes(bt->codes, want, n));
    /* Each input matters, so the equality above cannot hold by accident. */
    int32_t *alone = direct_take(bass->prompt, "bass", 124, NULL, frames);
    int32_t *as_lead = direct_take(bass->prompt, "lead", 124, dt, frames);
    int32_t *slower = direct_take(bass->prompt, "bass", 90, dt, frames);
    assert_false(same_codes(alone, want, n));
    assert_false(same_codes(as_lead, want, n));
    assert_false(same_codes(slower, want, n));
    /* The drums heard nothing: they are what the model makes alone. */
    int32_t *drums_alone = direct_take(drums->prompt, "drums", 124, NULL, frames);
    assert_true(same_codes(dt->codes, drums_alone, n));
    free(want);
    free(alone);
    free(as_lead);
    free(slower);
    free(drums_alone);
    rg_data_unref(drums);
    rg_data_unref(bass);
    rig_stop(&r);
}

/* The silence codes models/default names (track_context.silence_codes). */
static void model_silence(int32_t *out) {
    rg_device *dev;
    rg_musicgen *m = load_default(&dev);
    const rg_musicgen_config *c = rg_musicgen_get_config(m);
    assert_true(c->has_silence_codes);
    memcpy(out, c->silence_codes, sizeof c->silence_codes);
    rg_musicgen_free(m);
    rg_device_destroy(dev);
}

/* sustain_lock=true on the bass: the published take is the model's take
 * with the lock applied (rg_pitch_sustain_frames: the default 120 ms
 * attack is 6 frames at 50 Hz, the release 2, the model's silence codes),
 * its pitch row as drawn; the lock quiets some frames and keeps others. */
static void test_sustain_lock_quiets_the_published_take(void **state) {
    (void)state;
    static const char *locked_song =
        "tempo 124\n"
        "node text  conditioner model=\"models/default\" prompt=\"dark techno\"\n"
        "node drums " GEN "track=drums\n"
        "node bass  " GEN "track=bass sustain_lock=true\n"
        "text.cond -> drums.cond\n"
        "text.cond -> bass.cond\n"
        "drums.tokens -> bass.context\n";
    patch_rig r;
    rg_error err = {0};
    if (!rig_start(&r, locked_song, root, &err) || !rig_generate(&r, &err)) fail_msg("%s", err.message);
    rg_data *drums = rig_published(&r, "drums"), *bass = rig_published(&r, "bass");
    const rg_tokens *dt = rg_data_tokens(drums), *bt = rg_data_tokens(bass);
    int frames = (int)bt->frames, kk = bt->n_codebooks;
    size_t bytes = (size_t)kk * frames * sizeof(int32_t);
    int32_t *drawn = direct_take(bass->prompt, "bass", 124, dt, frames), *want = malloc(bytes);
    memcpy(want, drawn, bytes);
    rg_pitch_sustain lock = {.on = true, .attack = 6, .release = 2};
    model_silence(lock.silence);
    rg_pitch_sustain_frames(&lock, kk, want, frames, 0, frames);
    assert_true(same_codes(bt->codes, want, kk * frames));
    int changed = 0;
    for (int t = 0; t < frames; t++) changed += bt->codes[t] != drawn[t];
    fprintf(stderr, "# %d of %d frames' first row changed by the lock\n", changed, frames);
    assert_true(changed > 0 && changed < frames);
    assert_true(same_codes(bt->codes + (size_t)(kk - 1) * frames, drawn + (size_t)(kk - 1) * frames,
                           frames));
    free(drawn);
    free(want);
    rg_data_unref(drums);
    rg_data_unref(bass);
    rig_stop(&r);
}

/* Drums twice as long as the bass: the bass hears the part of the drums
 * that sounds with it, as the model was trained. */
static void test_a_longer_locked_track_is_heard_for_the_take_s_length(void **state) {
    (void)state;
    patch_rig r;
    rg_error err = {0};
    char patch[1024];
    snprintf(patch, sizeof patch, "%s", song);
    char *bars = strstr(patch, "bars=1");
    bars[5] = '2'; /* the drums' bars=1 -> bars=2 */
    if (!rig_start(&r, patch, root, &err) || !rig_generate(&r, &err)) fail_msg("%s", err.message);
    rg_data *drums = rig_published(&r, "drums"), *bass = rig_published(&r, "bass");
    const rg_tokens *dt = rg_data_tokens(drums), *bt = rg_data_tokens(bass);
    assert_int_equal(dt->frames, 194); /* 2 bars: 193.5 frames, rounded up */
    assert_int_equal(bt->frames, 97);
    int32_t *want = direct_take(bass->prompt, "bass", 124, dt, 97);
    assert_true(same_codes(bt->codes, want, bt->n_codebooks * 97));
    free(want);
    rg_data_unref(drums);
    rg_data_unref(bass);
    rig_stop(&r);
}

static void expect_failure(const char *patch, const char *needle) {
    patch_rig r;
    rg_error err = {0};
    if (!rig_start(&r, patch, root, &err)) fail_msg("%s", err.message);
    assert_false(rig_generate(&r, &err));
    fprintf(stderr, "# %s\n", err.message);
    if (!strstr(err.message, needle)) fail_msg("'%s' does not say '%s'", err.message, needle);
    rig_stop(&r);
}

static void test_roles_are_checked(void **state) {
    (void)state;
    expect_failure("node g " GEN "track=guitar\n",
                   "track 'guitar' is not a role of this model (drums, bass, chords, lead)");
    expect_failure("node g " GEN "\n", "no track (set track= to one of this model's roles");
    /* drums rest on the pitch row: the sustain lock would silence them */
    expect_failure("node g " GEN "track=drums sustain_lock=true\n", "sustain_lock is for pitched tracks");
}

/* An encoder's tokens have no role: the error says so and what to patch. */
static void test_a_context_without_a_role_is_refused(void **state) {
    (void)state;
    char wav[64], patch[512];
    snprintf(wav, sizeof wav, "/tmp/rg_track_nodes_%d.wav", (int)getpid());
    float tone[4800];
    for (int i = 0; i < 4800; i++) tone[i] = 0.3f * sinf(6.2831853f * 110.0f * (float)i / 48000.0f);
    rg_error err = {0};
    rg_audio_writer *w = rg_writer_open(wav, 1, 48000, RG_SAMPLE_FLOAT, &err);
    assert_non_null(w);
    assert_true(rg_writer_write(w, tone, 4800, &err) && rg_writer_close(w, &err));
    snprintf(patch, sizeof patch,
             "node src file_in path=\"%s\"\nnode enc encoder\nnode bass " GEN "track=bass\n"
             "src.out -> enc.audio\nenc.tokens -> bass.context\n", wav);
    expect_failure(patch, "its context from 'enc': the encoder node has no track, so the role of its "
                          "take is unknown");
    unlink(wav);
}

/* A public MusicGen checkpoint continues one take; two locked tracks need a
 * track-aware model, and the error says so. */
static void test_plain_musicgen_takes_one_context(void **state) {
    (void)state;
    expect_failure("node a generator model=\"tests/fixtures/lm/tiny\" seconds=0.2 seed=1\n"
                   "node b generator model=\"tests/fixtures/lm/tiny\" seconds=0.2 seed=2\n"
                   "node c generator model=\"tests/fixtures/lm/tiny\" seconds=0.2 seed=3\n"
                   "a.tokens -> c.context\nb.tokens -> c.context\n",
                   "continues one take, but 2 are patched");
}

int main(void) {
    const char *src = getenv("RESONANT_SOURCE_DIR");
    snprintf(root, sizeof root, "%s", src ? src : ".");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bass_hears_the_drums_as_the_model_api_does),
        cmocka_unit_test(test_a_longer_locked_track_is_heard_for_the_take_s_length),
        cmocka_unit_test(test_sustain_lock_quiets_the_published_take),
        cmocka_unit_test(test_roles_are_checked),
        cmocka_unit_test(test_a_context_without_a_role_is_refused),
        cmocka_unit_test(test_plain_musicgen_takes_one_context),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
