/* The take player: a posted take starts exactly on the next bar line, the
 * old one crossfades out, and the newest of several posts wins. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_take_starts_on_the_next_bar_line),
        cmocka_unit_test(newest_post_wins),
        cmocka_unit_test(released_takes_are_freed_off_the_audio_thread),
        cmocka_unit_test(bar_offsets),
    };
    return cmocka_run_group_tests_name("take_player", tests, NULL, NULL);
}
