/* The synchronizer on takes of known tempo: click tracks rendered by the
 * project's own click node at 96, 118 and 140 bpm, put on a 124 bpm grid. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "graph/patch.h"
#include "runtime/export.h"
#include "runtime/generate.h"
#include "runtime/render.h"
#include "runtime/sync.h"

enum { RATE = 48000 };

/* Render `patch` for `bars` bars and load it back as a clip. */
static rg_audio_clip render_clip(const char *patch, double bars, int rate)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/rg_sync_%d.wav", (int)getpid());
    rg_error err = {0};
    rg_graph *g = rg_patch_parse(rg_builtin_registry(), patch, strlen(patch), "t", &err);
    assert_non_null(g);
    rg_render_options opt = {.out_path = path, .bars = bars, .rate = rate, .block = 256};
    assert_true(rg_render(g, &opt, &err));
    rg_graph_free(g);
    rg_audio_clip clip;
    assert_true(rg_clip_load(path, rate, &clip, &err));
    unlink(path);
    return clip;
}

static rg_audio_clip click_take(double tempo, int rate)
{
    char patch[256];
    snprintf(patch, sizeof patch,
             "tempo %g\nnode c click decay=0.04\nnode o output\nc.out -> o.in\n", tempo);
    return render_clip(patch, 8, rate);
}

/* Prepend `seconds` of silence: a take whose first downbeat is not at 0. */
static void delay_clip(rg_audio_clip *clip, double seconds)
{
    int64_t pad = llround(seconds * clip->rate);
    float *s = calloc((size_t)(clip->frames + pad) * clip->channels, sizeof *s);
    memcpy(s + pad * clip->channels, clip->samples, (size_t)clip->frames * clip->channels * sizeof *s);
    free(clip->samples);
    clip->samples = s;
    clip->frames += pad;
}

/* Zero crossings in the 10 ms after `at`: twice as many for a click an octave up. */
static int zero_crossings(const float *x, int64_t frames, double at)
{
    int n = 0;
    for (int64_t i = (int64_t)at + 1; i < frames && i < (int64_t)at + RATE / 100; i++)
        n += (x[i - 1] < 0) != (x[i] < 0);
    return n;
}

static void check_synced(const rg_audio_clip *out, double tempo, int bars)
{
    double bar = rg_bar_frames(tempo, 4, 4, RATE);
    assert_int_equal(out->frames, llround(bars * bar));
    float *mono = rg_mixdown(out->samples, out->frames, out->channels);
    rg_onsets on;
    rg_error err;
    assert_true(rg_detect_onsets(mono, out->frames, RATE, &on, &err));
    rg_grid_deviation d = rg_onset_deviation(&on, 0, bar / 4, RATE);
    print_message("# %d onsets, median %.2f ms, max %.2f ms off the %g bpm grid\n", d.count,
                  d.median_ms, d.max_ms, tempo);
    assert_in_range(on.count, bars * 4 - 1, bars * 4 + 1);
    assert_true(d.median_ms < 5.0);
    assert_true(d.max_ms < 15.0);
    /* The first downbeat lands on frame 0 (within 5 ms) and is the bar's
     * first beat: the click pitched an octave up (Rubber Band keeps pitch;
     * it may smear levels, so the pitch is the robust tell). */
    assert_true(on.at[0] < 0.005 * RATE);
    assert_true(zero_crossings(mono, out->frames, on.at[0]) > 1.6 * zero_crossings(mono, out->frames, on.at[1]));
    /* The loop seam is no bigger a step than the signal's own largest step. */
    float max_step = 0;
    for (int64_t i = 1; i < out->frames; i++)
        max_step = fmaxf(max_step, fabsf(mono[i] - mono[i - 1]));
    float seam = fabsf(mono[0] - mono[out->frames - 1]);
    print_message("# seam step %.4f, largest step %.4f\n", seam, max_step);
    assert_true(seam <= max_step);
    rg_onsets_free(&on);
    free(mono);
}

static void sync_to(double source_tempo, double delay_s, double hint)
{
    rg_audio_clip take = click_take(source_tempo, RATE);
    if (delay_s > 0)
        delay_clip(&take, delay_s);
    rg_sync_options opt = {.tempo = 124, .meter_num = 4, .meter_den = 4, .rate = RATE, .bars = 4,
                           .tempo_hint = hint};
    rg_audio_clip out;
    rg_sync_report report;
    rg_error err = {0};
    if (!rg_sync_take(&take, &opt, &out, &report, &err))
        fail_msg("sync failed: %s", err.message);
    print_message("# source %.2f bpm (true %g), ratio %.4f, downbeat %.3f s\n", report.source_tempo,
                  source_tempo, report.stretch_ratio, report.downbeat_s);
    assert_true(fabs(report.source_tempo / source_tempo - 1) < 0.005);
    check_synced(&out, 124, 4);
    rg_clip_free(&out);
    rg_clip_free(&take);
}

static void click_96_lands_on_124(void **state) { (void)state; sync_to(96, 0, 96); }
static void click_118_lands_on_124(void **state) { (void)state; sync_to(118, 0, 118); }
static void click_140_lands_on_124(void **state) { (void)state; sync_to(140, 0, 140); }
/* Starting mid-bar after silence, with no hint: the accent finds the bar. */
static void late_start_without_hint(void **state) { (void)state; sync_to(118, 0.37 + 60.0 / 118, 0); }

static void take_at_codec_rate_is_resampled(void **state)
{
    (void)state;
    rg_audio_clip take = click_take(140, 32000); /* MusicGen's codec rate */
    rg_sync_options opt = {.tempo = 124, .meter_num = 4, .meter_den = 4, .rate = RATE, .bars = 2,
                           .tempo_hint = 140};
    rg_audio_clip out;
    rg_sync_report report;
    rg_error err = {0};
    assert_true(rg_sync_take(&take, &opt, &out, &report, &err));
    assert_true(out.rate == RATE);
    check_synced(&out, 124, 2);
    rg_clip_free(&out);
    rg_clip_free(&take);
}

static void short_take_repeats_whole_bars(void **state)
{
    (void)state;
    char patch[128];
    snprintf(patch, sizeof patch, "tempo 124\nnode c click decay=0.04\nnode o output\nc.out -> o.in\n");
    rg_audio_clip take = render_clip(patch, 2.5, RATE);
    rg_sync_options opt = {.tempo = 124, .meter_num = 4, .meter_den = 4, .rate = RATE, .bars = 8,
                           .tempo_hint = 124};
    rg_audio_clip out;
    rg_sync_report report;
    rg_error err = {0};
    assert_true(rg_sync_take(&take, &opt, &out, &report, &err));
    check_synced(&out, 124, 8);
    rg_clip_free(&out);
    rg_clip_free(&take);
}

static void key_of_a_minor_chord(void **state)
{
    (void)state;
    /* A minor: A2, C4, E4, A4; then C major: C3, E4, G4, C5. */
    rg_audio_clip a = render_clip("node a sine freq=110 amp=0.3\nnode c sine freq=261.63 amp=0.2\n"
                                  "node e sine freq=329.63 amp=0.2\nnode a2 sine freq=440 amp=0.15\n"
                                  "node o output\na.out -> o.in\nc.out -> o.in\ne.out -> o.in\na2.out -> o.in\n", 2, RATE);
    rg_audio_clip c = render_clip("node a sine freq=130.81 amp=0.3\nnode c sine freq=329.63 amp=0.2\n"
                                  "node e sine freq=392 amp=0.2\nnode a2 sine freq=523.25 amp=0.15\n"
                                  "node o output\na.out -> o.in\nc.out -> o.in\ne.out -> o.in\na2.out -> o.in\n", 2, RATE);
    rg_key key;
    rg_error err;
    char name[32];
    float *mono = rg_mixdown(a.samples, a.frames, 2);
    assert_true(rg_estimate_key(mono, a.frames, RATE, &key, &err));
    assert_string_equal(rg_key_name(&key, name, sizeof name), "A minor");
    assert_true(rg_in_key_ratio(&key, 9, true) > 0.95);
    free(mono);
    mono = rg_mixdown(c.samples, c.frames, 2);
    assert_true(rg_estimate_key(mono, c.frames, RATE, &key, &err));
    assert_string_equal(rg_key_name(&key, name, sizeof name), "C major");
    assert_true(rg_in_key_ratio(&key, 1, false) < 0.6); /* C# major shares only E and G#.. */
    free(mono);
    rg_clip_free(&a);
    rg_clip_free(&c);
}

static void silence_is_an_error_not_a_crash(void **state)
{
    (void)state;
    rg_audio_clip take = {.samples = calloc(RATE * 2, sizeof(float)), .frames = RATE, .channels = 2, .rate = RATE};
    rg_sync_options opt = {.tempo = 124, .meter_num = 4, .meter_den = 4, .rate = RATE, .bars = 1};
    rg_audio_clip out;
    rg_sync_report report;
    rg_error err = {0};
    assert_false(rg_sync_take(&take, &opt, &out, &report, &err));
    assert_non_null(strstr(err.message, "too few onsets"));
    rg_clip_free(&take);
}

/* file_in -> synchronizer -> output: a 97 bpm loop rendered in a 124 bpm
 * patch plays on the patch's grid, repeating its 2 bars. */
static void synchronizer_node_in_a_patch(void **state)
{
    (void)state;
    rg_audio_clip take = click_take(97, 44100);
    char loop[64], patch[512];
    snprintf(loop, sizeof loop, "/tmp/rg_sync_loop_%d.wav", (int)getpid());
    rg_error err = {0};
    rg_audio_writer *w = rg_writer_open(loop, take.channels, 44100, RG_SAMPLE_FLOAT, &err);
    assert_non_null(w);
    assert_true(rg_writer_write(w, take.samples, take.frames, &err));
    assert_true(rg_writer_close(w, &err));
    rg_clip_free(&take);
    snprintf(patch, sizeof patch, "tempo 124\nnode f file_in path=\"%s\"\nnode s synchronizer bars=2 hint=97\n"
             "node o output\nf.out -> s.in\ns.out -> o.in\n", loop);
    rg_audio_clip out = render_clip(patch, 4, RATE);
    unlink(loop);
    check_synced(&out, 124, 4);
    /* The second loop pass is the first one again, frame for frame. */
    int64_t two_bars = llround(2 * rg_bar_frames(124, 4, 4, RATE));
    float worst = 0;
    for (int64_t i = 0; i < out.frames - two_bars; i++)
        worst = fmaxf(worst, fabsf(out.samples[2 * i] - out.samples[2 * (i + two_bars)]));
    assert_true(worst < 1e-6f);
    rg_clip_free(&out);
}

/* /take/export: the synchronizer's take as a WAV of exactly its bars, in
 * the export directory only, never overwriting. */
static void takes_export_as_wav(void **state)
{
    (void)state;
    rg_audio_clip take = click_take(118, RATE);
    char dir[64], loop[128], patch[512], path[4096];
    snprintf(dir, sizeof dir, "/tmp/rg_export_%d", (int)getpid());
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(loop, sizeof loop, "%s/loop.wav", dir);
    rg_error err = {0};
    rg_audio_writer *w = rg_writer_open(loop, 2, RATE, RG_SAMPLE_FLOAT, &err);
    rg_writer_write(w, take.samples, take.frames, &err);
    rg_writer_close(w, &err);
    rg_clip_free(&take);
    snprintf(patch, sizeof patch, "tempo 124\nnode f file_in path=loop.wav\nnode s synchronizer bars=2\n"
             "node o output\nf.out -> s.in\ns.out -> o.in\n");
    rg_graph *g = rg_patch_parse(rg_builtin_registry(), patch, strlen(patch), "t", &err);
    rg_host_info host = {.sample_rate = RATE, .max_block = 256, .base_dir = dir};
    rg_engine *e = rg_engine_new(g, &host, &err);
    assert_non_null(e);
    rg_job job = {.transport = rg_engine_transport(e), .host = &host};
    assert_true(rg_engine_generate(e, &job, NULL, &err));

    assert_true(rg_export_take(e, "s", dir, "keeper", path, sizeof path, &err));
    rg_audio_clip back;
    assert_true(rg_clip_load(path, RATE, &back, &err));
    assert_int_equal(back.frames, llround(2 * rg_bar_frames(124, 4, 4, RATE)));
    rg_clip_free(&back);
    /* The same name again: a new file beside it, the first one untouched. */
    assert_true(rg_export_take(e, "s", dir, "keeper", path, sizeof path, &err));
    assert_non_null(strstr(path, "keeper-2.wav"));
    int stems;
    assert_true(rg_export_stems(e, dir, "song", NULL, NULL, &stems, &err));
    assert_int_equal(stems, 2); /* file_in's take and the synchronizer's */
    /* Names that could climb out of the directory are refused. */
    const char *bad[] = {"../escape", "/etc/passwd", ".hidden", "a/b", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(rg_export_take(e, "s", dir, bad[i], path, sizeof path, &err));
        assert_int_equal(err.code, RG_ERR_VALUE);
    }
    assert_false(rg_export_take(e, "o", dir, "x", path, sizeof path, &err)); /* no take */
    rg_engine_free(e);
    rg_graph_free(g);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(click_96_lands_on_124),
        cmocka_unit_test(click_118_lands_on_124),
        cmocka_unit_test(click_140_lands_on_124),
        cmocka_unit_test(late_start_without_hint),
        cmocka_unit_test(take_at_codec_rate_is_resampled),
        cmocka_unit_test(short_take_repeats_whole_bars),
        cmocka_unit_test(key_of_a_minor_chord),
        cmocka_unit_test(silence_is_an_error_not_a_crash),
        cmocka_unit_test(synchronizer_node_in_a_patch),
        cmocka_unit_test(takes_export_as_wav),
    };
    return cmocka_run_group_tests_name("sync", tests, NULL, NULL);
}
