/* The take player: a posted take starts exactly on the next bar line, the
 * old one crossfades out, and the newest of several posts wins. Growing
 * takes: the player waits until enough is ready for the rate the take grows
 * at, never reads a frame that is not ready (those hold NaN here, so one
 * read would show in the output), and goes back to the old take, in time,
 * when a growing take is abandoned or runs dry. Growth is driven block by
 * block on the audio clock, so nothing depends on timing. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nodes/take_player.h"

enum { RATE = 48000, BLOCK = 333, BAR = 96000 /* 4/4 at 120 bpm */, FADE = 480 /* 10 ms */ };

static rg_data *constant_take(float value, int64_t frames)
{
    rg_audio_take *t = malloc(sizeof *t);
    t->samples = malloc((size_t)frames * sizeof(float));
    for (int64_t i = 0; i < frames; i++)
        t->samples[i] = value;
    t->frames = frames;
    t->channels = 1;
    t->rate = RATE;
    return rg_data_new(RG_DATA_AUDIO, t, rg_audio_take_free);
}

typedef struct {
    rg_take_player player;
    rg_transport transport;
    float *left, *right;
    rg_audio out;
    float *recording;
    int64_t recorded;
} rig;

static void rig_start(rig *r, int64_t record_frames)
{
    memset(r, 0, sizeof *r);
    assert_true(rg_take_player_init(&r->player, RATE, 10.0, true));
    r->transport = (rg_transport){.sample_rate = RATE, .tempo = 120, .meter_num = 4, .meter_den = 4, .playing = true};
    r->left = calloc(BLOCK, sizeof(float));
    r->right = calloc(BLOCK, sizeof(float));
    r->out = (rg_audio){{r->left, r->right}, 2};
    r->recording = calloc(record_frames, sizeof(float));
}

static void rig_run(rig *r, int64_t until)
{
    while (r->recorded < until) {
        int frames = until - r->recorded < BLOCK ? (int)(until - r->recorded) : BLOCK;
        rg_process_ctx ctx = {.frames = frames, .transport = &r->transport};
        rg_take_player_play(&r->player, &r->out, &ctx);
        memcpy(r->recording + r->recorded, r->left, frames * sizeof(float));
        r->recorded += frames;
        r->transport.position += frames;
        r->transport.beat += frames * rg_transport_beats_per_frame(&r->transport);
        rg_take_player_housekeep(&r->player);
    }
}

static void rig_stop(rig *r)
{
    rg_take_player_destroy(&r->player);
    free(r->left);
    free(r->right);
    free(r->recording);
}

static void new_take_starts_on_the_next_bar_line(void **state)
{
    (void)state;
    rig r;
    rig_start(&r, 3 * BAR);
    rg_data *a = constant_take(0.25f, BAR / 2), *b = constant_take(0.75f, BAR);
    assert_true(rg_take_player_post(&r.player, a));
    rig_run(&r, 30000);
    assert_true(rg_take_player_post(&r.player, b));
    rig_run(&r, 3 * BAR);
    for (int64_t i = 0; i < BAR; i++)
        if (r.recording[i] != 0.25f)
            fail_msg("frame %ld: %f before the bar line", (long)i, r.recording[i]);
    /* From the bar line the new take fades in over FADE frames, exactly. */
    for (int i = 0; i < FADE; i++) {
        float g = (float)(FADE - i) / FADE;
        assert_float_equal(r.recording[BAR + i], (1 - g) * 0.75f + g * 0.25f, 1e-6);
    }
    for (int64_t i = BAR + FADE; i < 3 * BAR; i++)
        assert_true(r.recording[i] == 0.75f);
    rg_data_unref(a);
    rg_data_unref(b);
    rig_stop(&r);
}

static void newest_post_wins(void **state)
{
    (void)state;
    rig r;
    rig_start(&r, 2 * BAR);
    rg_data *a = constant_take(0.1f, BAR), *b = constant_take(0.2f, BAR), *c = constant_take(0.3f, BAR);
    rg_take_player_post(&r.player, a);
    rig_run(&r, 1000);
    rg_take_player_post(&r.player, b);
    rig_run(&r, 2000);
    rg_take_player_post(&r.player, c);
    rig_run(&r, 2 * BAR);
    assert_true(r.recording[BAR - 1] == 0.1f);
    assert_true(r.recording[BAR + FADE] == 0.3f);
    assert_int_equal(atomic_load(&r.player.playing_id), c->id);
    rg_data_unref(a);
    rg_data_unref(b);
    rg_data_unref(c);
    rig_stop(&r);
}

static void released_takes_are_freed_off_the_audio_thread(void **state)
{
    (void)state;
    rig r;
    rig_start(&r, 2 * BAR);
    rg_data *a = constant_take(0.1f, BAR), *b = constant_take(0.2f, BAR);
    rg_take_player_post(&r.player, a);
    rig_run(&r, 10);
    rg_take_player_post(&r.player, b);
    rg_data_unref(a); /* the player now holds the only reference to a */
    rig_run(&r, BAR + FADE + 10);
    /* a was retired by the audio thread and released by housekeeping:
     * b is the only take alive, held by us and the player. */
    assert_int_equal(atomic_load(&b->refs), 2);
    rg_data_unref(b);
    rig_stop(&r);
}

static void bar_offsets(void **state)
{
    (void)state;
    rg_transport t = {.sample_rate = RATE, .tempo = 120, .meter_num = 4, .meter_den = 4, .playing = true};
    assert_int_equal(rg_next_bar_offset(&t, 256), 0);
    t.beat = 4.0 - 100 * rg_transport_beats_per_frame(&t);
    assert_int_equal(rg_next_bar_offset(&t, 256), 100);
    t.beat = 1.0;
    assert_int_equal(rg_next_bar_offset(&t, 256), 256);
    t.meter_num = 7;
    t.meter_den = 8; /* 7/8: a bar is 3.5 quarters = 84000 frames */
    t.beat = 7.0 - 5 * rg_transport_beats_per_frame(&t);
    assert_int_equal(rg_next_bar_offset(&t, 256), 5);
}

/* A ramp the test can place in time: frame i holds base + i / frames. */
static float ramp(float base, int64_t i, int64_t frames) { return base + (float)i / (float)frames; }

static rg_data *ramp_take(float base, int64_t frames)
{
    rg_data *d = constant_take(0, frames);
    rg_audio_take *t = d->payload;
    for (int64_t i = 0; i < frames; i++)
        t->samples[i] = ramp(base, i, frames);
    return d;
}

/* A growing take whose frames that are not ready yet are NaN. */
static rg_data *growing_take(int64_t frames)
{
    rg_data *d = constant_take(NAN, frames);
    rg_data_begin_growth(d, frames);
    return d;
}

static void grow_to(rg_data *d, int64_t ready)
{
    rg_audio_take *t = d->payload;
    if (ready > t->frames)
        ready = t->frames;
    for (int64_t i = rg_data_ready(d); i < ready; i++)
        t->samples[i] = ramp(1.0f, i, t->frames);
    rg_data_grow(d, ready);
    if (ready == t->frames)
        rg_data_complete(d);
}

/* Run block by block, growing `d` by `per_block` frames before each block,
 * until `until`; returns the first frame at which the output is no longer
 * the old take (a ramp of BAR frames from frame 0), or -1. The first frame
 * of a crossfade is all old take, so a take starting at a bar line shows at
 * the frame after it. */
static int64_t run_growing(rig *r, rg_data *d, double per_block, int64_t until)
{
    double grown = (double)rg_data_ready(d);
    int64_t first = -1;
    while (r->recorded < until) {
        grown += per_block;
        if (rg_data_growth(d) == RG_GROWTH_GROWING)
            grow_to(d, (int64_t)grown);
        int64_t from = r->recorded;
        int64_t step = until - r->recorded < BLOCK ? until - r->recorded : BLOCK;
        rig_run(r, r->recorded + step);
        for (int64_t i = from; first < 0 && i < r->recorded; i++)
            if (r->recording[i] != ramp(0.0f, i % BAR, BAR))
                first = i;
    }
    return first;
}

static void assert_no_nan(const rig *r)
{
    for (int64_t i = 0; i < r->recorded; i++)
        if (isnan(r->recording[i]))
            fail_msg("frame %ld was read before it was ready", (long)i);
}

static void growing_take_faster_than_real_time_starts_at_the_first_bar(void **state)
{
    (void)state;
    enum { LONG = 4 * BAR };
    rig r;
    rig_start(&r, 6 * BAR);
    rg_data *old = ramp_take(0.0f, BAR), *g = growing_take(LONG);
    rg_take_player_post(&r.player, old);
    rig_run(&r, 1000);
    rg_take_player_post(&r.player, g);
    /* Twice real time: about a bar is ready at the first bar line, of four. */
    int64_t first = run_growing(&r, g, 2.0 * BLOCK, BAR + BLOCK);
    assert_int_equal(first, BAR + 1);
    assert_true(rg_data_is_growing(g)); /* it started while it was still being made */
    assert_true(rg_data_ready(g) < LONG / 2);
    run_growing(&r, g, 2.0 * BLOCK, 6 * BAR);
    assert_no_nan(&r);
    for (int64_t i = 1000; i < BAR; i++) /* the old take plays on until then */
        assert_true(r.recording[i] == ramp(0.0f, i % BAR, BAR));
    for (int64_t i = BAR + FADE; i < 5 * BAR; i++)
        assert_true(r.recording[i] == ramp(1.0f, i - BAR, LONG));
    assert_int_equal(atomic_load(&r.player.fallbacks), 0);
    assert_int_equal(atomic_load(&r.player.playing_id), g->id);
    rg_data_unref(old);
    rg_data_unref(g);
    rig_stop(&r);
}

static void growing_take_slower_than_real_time_waits_until_it_can_play_through(void **state)
{
    (void)state;
    enum { LONG = 4 * BAR };
    rig r;
    rig_start(&r, 8 * BAR);
    rg_data *old = ramp_take(0.0f, BAR), *g = growing_take(LONG);
    rg_take_player_post(&r.player, old);
    rig_run(&r, 1000);
    rg_take_player_post(&r.player, g);
    int64_t first = run_growing(&r, g, 0.75 * BLOCK, 8 * BAR); /* 0.75x real time */
    assert_no_nan(&r);
    /* At 0.75x with the 1.5x margin the player counts on 0.5x: it needs half
     * the take ready, which takes 2.67 bars to make; it starts at the bar
     * line after that (bar 3), never runs dry, and the old take plays
     * without a gap until then. */
    assert_int_equal(first, 3 * BAR + 1);
    for (int64_t i = 1000; i < 3 * BAR; i++)
        assert_true(r.recording[i] == ramp(0.0f, i % BAR, BAR));
    for (int64_t i = 3 * BAR + FADE; i < 7 * BAR; i++)
        assert_true(r.recording[i] == ramp(1.0f, i - 3 * BAR, LONG));
    assert_int_equal(atomic_load(&r.player.fallbacks), 0);
    rg_data_unref(old);
    rg_data_unref(g);
    rig_stop(&r);
}

static void abandoned_take_returns_to_the_old_one_in_time(void **state)
{
    (void)state;
    rig r;
    rig_start(&r, 3 * BAR);
    rg_data *old = ramp_take(0.0f, BAR), *g = growing_take(4 * BAR);
    rg_take_player_post(&r.player, old);
    rig_run(&r, 1000);
    rg_take_player_post(&r.player, g);
    assert_int_equal(run_growing(&r, g, 2.0 * BLOCK, BAR + 20000), BAR + 1);
    rg_data_abandon(g); /* the job was cancelled */
    int64_t at = r.recorded;
    rig_run(&r, 3 * BAR);
    assert_no_nan(&r);
    /* The old take is back within one block and a crossfade, at the place
     * it would have reached had it played on. */
    for (int64_t i = at + BLOCK + FADE; i < 3 * BAR; i++)
        assert_true(r.recording[i] == ramp(0.0f, i % BAR, BAR));
    assert_int_equal(atomic_load(&r.player.playing_id), old->id);
    assert_null(r.player.pending); /* an abandoned take is not queued again */
    rg_data_unref(old);
    rg_data_unref(g);
    rig_stop(&r);
}

static void take_that_runs_dry_falls_back_and_restarts_when_whole(void **state)
{
    (void)state;
    rig r;
    rig_start(&r, 6 * BAR);
    rg_data *old = ramp_take(0.0f, BAR), *g = growing_take(2 * BAR);
    rg_take_player_post(&r.player, old);
    rig_run(&r, 1000);
    rg_take_player_post(&r.player, g);
    /* Fast enough at first (it starts at bar 1), then it stalls. */
    assert_int_equal(run_growing(&r, g, 1.6 * BLOCK, BAR + BLOCK), BAR + 1);
    int64_t stalled = rg_data_ready(g);
    assert_true(stalled < 2 * BAR);
    rig_run(&r, 3 * BAR);
    assert_no_nan(&r);
    assert_int_equal(atomic_load(&r.player.fallbacks), 1);
    assert_int_equal(atomic_load(&r.player.playing_id), old->id);
    /* It left a crossfade before the last ready frame, back to the old take
     * at its place in time. */
    int64_t left_at = BAR + stalled - FADE;
    assert_true(left_at < 3 * BAR - FADE);
    assert_true(r.recording[left_at - 1] == ramp(1.0f, left_at - 1 - BAR, 2 * BAR));
    for (int64_t i = left_at + FADE; i < 3 * BAR; i++)
        assert_true(r.recording[i] == ramp(0.0f, i % BAR, BAR));
    /* Once whole, it starts again from its beginning at the next bar line. */
    grow_to(g, 2 * BAR);
    rig_run(&r, 6 * BAR);
    assert_no_nan(&r);
    assert_true(r.recording[3 * BAR - 1] < 1.0f);
    for (int64_t i = 3 * BAR + FADE; i < 5 * BAR; i++)
        assert_true(r.recording[i] == ramp(1.0f, i - 3 * BAR, 2 * BAR));
    rg_data_unref(old);
    rg_data_unref(g);
    rig_stop(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_take_starts_on_the_next_bar_line),
        cmocka_unit_test(newest_post_wins),
        cmocka_unit_test(released_takes_are_freed_off_the_audio_thread),
        cmocka_unit_test(bar_offsets),
        cmocka_unit_test(growing_take_faster_than_real_time_starts_at_the_first_bar),
        cmocka_unit_test(growing_take_slower_than_real_time_waits_until_it_can_play_through),
        cmocka_unit_test(abandoned_take_returns_to_the_old_one_in_time),
        cmocka_unit_test(take_that_runs_dry_falls_back_and_restarts_when_whole),
    };
    return cmocka_run_group_tests_name("take_player", tests, NULL, NULL);
}
