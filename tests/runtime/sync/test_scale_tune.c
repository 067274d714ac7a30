/* runtime/scale_tune.c: a take's pitches pulled onto a scale. The pitch of
 * the result is read here by counting zero crossings of a sine (independent
 * of the aubio tracker the tuner uses). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "graph/patch.h"
#include "nodes/registry.h"
#include "runtime/render.h"
#include "runtime/scale_tune.h"

#define RATE 16000.0
static rg_scale a_minor(void)
{
    /* A B C D E F G: pitch classes 9 11 0 2 4 5 7 */
    rg_scale s = {9, 0};
    int pcs[] = {9, 11, 0, 2, 4, 5, 7};
    for (int i = 0; i < 7; i++)
        s.scale |= (uint16_t)(1u << pcs[i]);
    return s;
}

/* A sine whose pitch wanders 20-80 cents above A2 (110 Hz) three times a
 * second, from `start` s on (silence before). */
static float *wandering_a_at(int64_t frames, double start, double rate)
{
    float *x = calloc((size_t)frames, sizeof *x);
    double phase = 0.0;
    for (int64_t i = 0; i < frames; i++) {
        double t = i / rate;
        if (t < start)
            continue;
        double cents = 50.0 + 30.0 * sin(2 * M_PI * 3.0 * t);
        phase += 110.0 * pow(2.0, cents / 1200.0) / rate;
        x[i] = (float)(0.5 * sin(2 * M_PI * phase));
    }
    return x;
}

static float *wandering_a(int64_t frames, double start)
{
    return wandering_a_at(frames, start, RATE);
}

/* Share of 50 ms windows (from `from` s) of channel 0 of `x` (`stride`
 * samples per frame) whose zero-crossing pitch is within 25 cents of `hz`. */
static double share_near_at(const float *x, int stride, int64_t frames, double rate, double from, double hz)
{
    int win = (int)(0.05 * rate), near = 0, total = 0;
    for (int64_t s = (int64_t)(from * rate); s + win <= frames; s += win) {
        double first = -1, last = -1;
        int crossings = 0;
        for (int64_t i = s + 1; i < s + win; i++) {
            float a = x[(i - 1) * stride], b = x[i * stride];
            if (a < 0.0f && b >= 0.0f) {
                double at = i - 1 + a / (a - b);
                if (first < 0)
                    first = at;
                last = at;
                crossings++;
            }
        }
        if (crossings < 3)
            continue;
        double f = (crossings - 1) * rate / (last - first);
        total++;
        near += fabs(1200.0 * log2(f / hz)) < 25.0;
    }
    return total ? (double)near / total : 0.0;
}

static double share_near(const float *x, int64_t frames, double from, double hz)
{
    return share_near_at(x, 1, frames, RATE, from, hz);
}

static void nearest_note_of_the_scale(void **state)
{
    (void)state;
    rg_scale s = a_minor();
    assert_true(rg_scale_nearest(&s, 60.4) == 60.0); /* C */
    assert_true(rg_scale_nearest(&s, 61.0) == 60.0); /* C# between C and D: down */
    assert_true(rg_scale_nearest(&s, 68.6) == 69.0); /* G# -> A */
    assert_true(rg_scale_nearest(&s, 45.3) == 45.0); /* A1 */
}

static void wandering_pitch_lands_on_the_note(void **state)
{
    (void)state;
    int64_t frames = (int64_t)(3 * RATE);
    float *x = wandering_a(frames, 0.0);
    rg_audio_clip in = {x, frames, 1, RATE}, out;
    rg_scale s = a_minor();
    rg_tune_report rep;
    rg_error err = {0};
    assert_true(rg_tune_to_scale(&in, &s, &out, &rep, &err));
    assert_int_equal(out.frames, frames);
    assert_int_equal(out.channels, 1);
    double before = share_near(x, frames, 0.5, 110.0), after = share_near(out.samples, frames, 0.5, 110.0);
    printf("# within 25 cents of A2: before %.2f, after %.2f; voiced %.2f, median shift %.0f cents\n", before,
           after, rep.voiced_share, rep.median_shift_cents);
    assert_true(before < 0.3);
    assert_true(after > 0.8);
    assert_true(rep.voiced_share > 0.8);
    assert_true(rep.median_shift_cents > 20.0 && rep.median_shift_cents < 80.0);
    rg_clip_free(&out);
    free(x);
}

/* The tuned take lines up with the input: a note entering at 1 s after
 * silence enters within 5 ms of 1 s. */
static void timing_is_kept(void **state)
{
    (void)state;
    int64_t frames = (int64_t)(2 * RATE);
    float *x = wandering_a(frames, 1.0);
    rg_audio_clip in = {x, frames, 1, RATE}, out;
    rg_scale s = a_minor();
    rg_tune_report rep;
    rg_error err = {0};
    assert_true(rg_tune_to_scale(&in, &s, &out, &rep, &err));
    int64_t enter = -1;
    for (int64_t i = 0; i < frames && enter < 0; i++)
        if (fabsf(out.samples[i]) > 0.1f)
            enter = i;
    printf("# note enters at %.1f ms (input: 1000 ms)\n", 1000.0 * enter / RATE);
    assert_true(fabs(enter / RATE - 1.0) < 0.005);
    rg_clip_free(&out);
    free(x);
}

/* Takes shorter than one hop, silent or stereo come back whole: same
 * frames and channels, silence stays silence, the channels stay apart. */
static void short_silent_and_stereo_takes(void **state)
{
    (void)state;
    rg_scale s = a_minor();
    rg_tune_report rep;
    rg_error err = {0};
    float tiny[10 * 2] = {0};
    int64_t lengths[] = {1, 10, 4000};
    for (int i = 0; i < 3; i++) {
        float *silence = calloc((size_t)lengths[i] * 2, sizeof *silence);
        rg_audio_clip in = {lengths[i] < 10 ? tiny : silence, lengths[i], 2, RATE}, out;
        assert_true(rg_tune_to_scale(&in, &s, &out, &rep, &err));
        assert_int_equal(out.frames, lengths[i]);
        assert_int_equal(out.channels, 2);
        for (int64_t f = 0; f < out.frames * 2; f++)
            assert_true(out.samples[f] == 0.0f);
        assert_true(rep.voiced_share == 0.0);
        rg_clip_free(&out);
        free(silence);
    }
    /* the wandering A on the left, silence on the right */
    int64_t frames = (int64_t)(2 * RATE);
    float *mono = wandering_a(frames, 0.0), *stereo = calloc((size_t)frames * 2, sizeof *stereo);
    for (int64_t f = 0; f < frames; f++)
        stereo[2 * f] = mono[f];
    rg_audio_clip in = {stereo, frames, 2, RATE}, out;
    assert_true(rg_tune_to_scale(&in, &s, &out, &rep, &err));
    double right = 0.0;
    for (int64_t f = 0; f < frames; f++)
        right = fmax(right, fabs(out.samples[2 * f + 1]));
    double left = share_near_at(out.samples, 2, frames, RATE, 0.5, 110.0);
    printf("# stereo: left within 25 cents of A2 %.2f, right's peak %.1e\n", left, right);
    assert_true(left > 0.8 && right < 1e-3);
    rg_clip_free(&out);
    free(mono);
    free(stereo);
}

static void a_scale_without_notes_is_refused(void **state)
{
    (void)state;
    float x[4000] = {0};
    rg_audio_clip in = {x, 4000, 1, RATE}, out = {0};
    rg_scale none = {0, 0};
    rg_tune_report rep;
    rg_error err = {0};
    assert_false(rg_tune_to_scale(&in, &none, &out, &rep, &err));
    assert_true(err.code == RG_ERR_VALUE && err.message[0] != 0);
    assert_null(out.samples);
}

/* file_in -> tune -> output, rendered at 48 kHz: with key="A minor" the
 * wandering A comes out on A; with no key (a file's take names none) it
 * plays unchanged. */
static double rendered_share_near_a(const char *key_param)
{
    enum { PATCH_RATE = 48000 };
    int64_t frames = 4 * PATCH_RATE; /* two bars at 120 bpm */
    float *x = wandering_a_at(frames, 0.0, PATCH_RATE);
    char loop[64], out_path[64], patch[512];
    snprintf(loop, sizeof loop, "/tmp/rg_tune_in_%d.wav", (int)getpid());
    snprintf(out_path, sizeof out_path, "/tmp/rg_tune_out_%d.wav", (int)getpid());
    rg_error err = {0};
    rg_audio_writer *w = rg_writer_open(loop, 1, PATCH_RATE, RG_SAMPLE_FLOAT, &err);
    assert_non_null(w);
    assert_true(rg_writer_write(w, x, frames, &err));
    assert_true(rg_writer_close(w, &err));
    free(x);
    snprintf(patch, sizeof patch,
             "tempo 120\nnode f file_in path=\"%s\"\nnode t tune %s\nnode o output\nf.out -> t.in\nt.out -> o.in\n",
             loop, key_param);
    rg_graph *g = rg_patch_parse(rg_builtin_registry(), patch, strlen(patch), "t", &err);
    assert_non_null(g);
    rg_render_options opt = {.out_path = out_path, .bars = 2, .rate = PATCH_RATE, .block = 256};
    assert_true(rg_render(g, &opt, &err));
    rg_graph_free(g);
    rg_audio_clip out;
    assert_true(rg_clip_load(out_path, PATCH_RATE, &out, &err));
    double share = share_near_at(out.samples, out.channels, out.frames, PATCH_RATE, 0.5, 110.0);
    rg_clip_free(&out);
    unlink(loop);
    unlink(out_path);
    return share;
}

static void tune_node_in_a_patch(void **state)
{
    (void)state;
    double tuned = rendered_share_near_a("key=\"A minor\""), untouched = rendered_share_near_a("");
    printf("# rendered at 48 kHz, within 25 cents of A2: key=\"A minor\" %.2f, no key %.2f\n", tuned, untouched);
    assert_true(tuned > 0.8);
    assert_true(untouched < 0.3);
}

/* A key the node cannot read stops the patch from starting, saying why. */
static void tune_node_refuses_a_bad_key(void **state)
{
    (void)state;
    const char *patch = "node s sine\nnode t tune key=\"H minor\"\nnode o output\ns.out -> t.in\nt.out -> o.in\n";
    rg_error err = {0};
    rg_graph *g = rg_patch_parse(rg_builtin_registry(), patch, strlen(patch), "t", &err);
    assert_non_null(g);
    rg_render_options opt = {.out_path = "/dev/null", .bars = 1, .rate = 48000, .block = 256};
    assert_false(rg_render(g, &opt, &err));
    printf("# %s\n", err.message);
    assert_non_null(strstr(err.message, "H minor"));
    rg_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nearest_note_of_the_scale),
        cmocka_unit_test(wandering_pitch_lands_on_the_note),
        cmocka_unit_test(timing_is_kept),
        cmocka_unit_test(short_silent_and_stereo_takes),
        cmocka_unit_test(a_scale_without_notes_is_refused),
        cmocka_unit_test(tune_node_in_a_patch),
        cmocka_unit_test(tune_node_refuses_a_bad_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
