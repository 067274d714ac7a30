#include "nodes/take_player.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define QUEUE_SLOTS 64

bool rg_take_player_init(rg_take_player *p, double rate, double fade_ms, bool loop)
{
    p->fade_frames = (int)lround(fade_ms * rate / 1000.0);
    if (p->fade_frames < 1)
        p->fade_frames = 1;
    p->loop = loop;
    p->min_start = (int64_t)(0.25 * rate) > 2 * p->fade_frames ? (int64_t)(0.25 * rate)
                                                                : 2 * p->fade_frames;
    return rg_spsc_init(&p->inbox, QUEUE_SLOTS * sizeof(rg_data *)) &&
           rg_spsc_init(&p->retired, QUEUE_SLOTS * sizeof(rg_data *));
}

void rg_take_player_destroy(rg_take_player *p)
{
    rg_take_player_housekeep(p);
    rg_data *d;
    while (p->inbox.data && rg_spsc_read(&p->inbox, &d, sizeof d))
        rg_data_unref(d);
    rg_data_unref(p->playing);
    rg_data_unref(p->pending);
    rg_data_unref(p->fading);
    rg_data_unref(p->backup);
    p->playing = p->pending = p->fading = p->backup = NULL;
    rg_spsc_free(&p->inbox);
    rg_spsc_free(&p->retired);
}

bool rg_take_player_post(rg_take_player *p, rg_data *take)
{
    if (!take || take->kind != RG_DATA_AUDIO)
        return false;
    rg_data *ref = rg_data_ref(take);
    if (rg_spsc_write(&p->inbox, &ref, sizeof ref))
        return true;
    rg_data_unref(ref);
    return false;
}

/* Audio thread: hand a take to housekeeping. The queue has room for every
 * take the inbox can deliver, so this only fails if housekeeping stalls for
 * dozens of takes; then the take is kept alive (leaked) rather than freed
 * here. */
static void retire(rg_take_player *p, rg_data *d)
{
    if (d)
        rg_spsc_write(&p->retired, &d, sizeof d);
}

void rg_take_player_housekeep(rg_take_player *p)
{
    rg_data *d;
    while (p->retired.data && rg_spsc_read(&p->retired, &d, sizeof d))
        rg_data_unref(d);
}

int rg_next_bar_offset(const rg_transport *t, int frames)
{
    if (!t->playing)
        return frames;
    double bpf = rg_transport_beats_per_frame(t);
    double next_bar = ceil(t->beat / t->meter_num - 1e-9) * t->meter_num;
    double offset = ceil((next_bar - t->beat) / bpf - 1e-6);
    return offset < frames ? (int)offset : frames;
}

static float sample_at(const rg_data *d, int64_t pos, int ch)
{
    const rg_audio_take *t = d->payload;
    return t->samples[pos * t->channels + (ch < t->channels ? ch : t->channels - 1)];
}

static int64_t take_frames(const rg_data *d)
{
    return ((const rg_audio_take *)d->payload)->frames;
}

/* Frames of `d` that may be read now: all of a complete take, the ready
 * ones of a growing one. */
static int64_t readable(const rg_data *d)
{
    if (!d)
        return 0;
    rg_growth g = rg_data_growth(d);
    return g == RG_GROWTH_COMPLETE ? take_frames(d) : rg_data_ready(d);
}

/* Whether a growing take will stay ahead of playback if started now: at the
 * rate it grew since it was posted (audio frames made per audio frame
 * played), with a margin, the frames still to come arrive before playback
 * reaches them. A take that has not grown yet never qualifies. */
#define GROWTH_MARGIN 1.5

static bool may_start(const rg_take_player *p)
{
    const rg_data *d = p->pending;
    rg_growth g = rg_data_growth(d);
    if (g == RG_GROWTH_COMPLETE)
        return true;
    if (g != RG_GROWTH_GROWING)
        return false;
    int64_t ready = rg_data_ready(d), total = take_frames(d);
    if (ready < p->min_start && ready < total)
        return false;
    double rate = p->pending_waited > 0
                      ? (double)(ready - p->pending_ready0) / (double)p->pending_waited / GROWTH_MARGIN
                      : 0.0;
    /* Playback of the rest takes (total - ready) frames; making it takes
     * (total - ready) / rate. Start when the second is not longer:
     * ready >= total * (1 - rate). */
    return rate >= 1.0 || (double)ready >= (double)total * (1.0 - rate);
}

static void set_pending(rg_take_player *p, rg_data *d)
{
    retire(p, p->pending); /* the newest request wins */
    p->pending = d;
    p->pending_ready0 = d ? rg_data_ready(d) : 0;
    p->pending_waited = 0;
}

static void start_pending(rg_take_player *p)
{
    rg_data *old = p->playing;
    retire(p, p->fading); /* a third take during a fade: the oldest goes */
    p->fading = old;
    p->fade_pos = p->play_pos;
    p->fade_left = p->fading ? p->fade_frames : 0;
    p->playing = p->pending;
    p->pending = NULL;
    p->play_pos = 0;
    if (old && rg_data_growth(old) == RG_GROWTH_COMPLETE &&
        rg_data_growth(p->playing) != RG_GROWTH_COMPLETE) {
        /* A growing take replaces a whole one: keep the whole one running
         * silently, in time, to come back to. (An atomic increment: no
         * allocation, fine on the audio thread.) */
        retire(p, p->backup);
        p->backup = rg_data_ref(old);
        p->backup_pos = p->fade_pos;
    }
    atomic_store_explicit(&p->playing_id, p->playing->id, memory_order_relaxed);
}

/* Leave a growing take that was abandoned or is about to run dry for the
 * backup, crossfading, at the backup's place in time. A take that ran dry
 * (not abandoned) is queued to start again later, unless a newer one is
 * waiting. */
static void fall_back(rg_take_player *p)
{
    rg_data *left = p->playing;
    retire(p, p->fading);
    p->fading = left;
    p->fade_pos = p->play_pos;
    p->fade_left = p->fade_frames;
    p->playing = p->backup;
    p->play_pos = p->backup_pos;
    p->backup = NULL;
    if (!p->pending && rg_data_growth(left) == RG_GROWTH_GROWING)
        set_pending(p, rg_data_ref(left));
    atomic_store_explicit(&p->playing_id, p->playing ? p->playing->id : 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->fallbacks, 1, memory_order_relaxed);
}

/* Advance a position in a take; false once a one-shot take has ended. */
static bool advance(const rg_data *d, int64_t *pos, bool loop)
{
    if (++*pos < take_frames(d))
        return true;
    *pos = 0;
    return loop;
}

/* Take new posts, drop abandoned ones, leave an abandoned playing take. */
static void take_news(rg_take_player *p)
{
    rg_data *d;
    while (rg_spsc_read(&p->inbox, &d, sizeof d))
        set_pending(p, d);
    if (p->pending && rg_data_growth(p->pending) == RG_GROWTH_ABANDONED)
        set_pending(p, NULL);
    if (p->playing && rg_data_growth(p->playing) == RG_GROWTH_ABANDONED)
        fall_back(p);
}

void rg_take_player_play(rg_take_player *p, rg_audio *out, const rg_process_ctx *ctx)
{
    take_news(p);
    int swap_at = p->pending && may_start(p) ? rg_next_bar_offset(ctx->transport, ctx->frames)
                                             : ctx->frames;
    /* Ready count at the start of the block: it only grows, so reading up
     * to it for the whole block is safe. */
    int64_t avail = readable(p->playing);
    for (int i = 0; i < ctx->frames; i++) {
        if (i == swap_at) {
            start_pending(p);
            avail = readable(p->playing);
        }
        /* Never within a crossfade of the ready end: the fade out of a take
         * reads only ready frames. */
        if (p->playing && avail < take_frames(p->playing) && p->play_pos + p->fade_frames >= avail) {
            fall_back(p);
            avail = readable(p->playing);
        }
        /* Weight of the outgoing take: 1 -> 0 across the crossfade. */
        float g = p->fade_left > 0 ? (float)p->fade_left / (float)p->fade_frames : 0.0f;
        for (int c = 0; c < out->channels; c++) {
            float now = p->playing ? sample_at(p->playing, p->play_pos, c) : 0.0f;
            float old = g > 0 ? sample_at(p->fading, p->fade_pos, c) : 0.0f;
            out->ch[c][i] = (1.0f - g) * now + g * old;
        }
        if (p->playing && !advance(p->playing, &p->play_pos, p->loop)) {
            retire(p, p->playing);
            p->playing = NULL;
        }
        if (p->backup)
            advance(p->backup, &p->backup_pos, true);
        if (p->fade_left > 0 && (--p->fade_left == 0 || !advance(p->fading, &p->fade_pos, true))) {
            p->fade_left = 0;
            retire(p, p->fading);
            p->fading = NULL;
        }
    }
    if (p->pending)
        p->pending_waited += ctx->frames;
    /* The growing take is whole now: nothing to come back to. */
    if (p->backup && p->playing && rg_data_growth(p->playing) == RG_GROWTH_COMPLETE) {
        retire(p, p->backup);
        p->backup = NULL;
    }
}

rg_data *rg_take_from_clip(rg_audio_clip *clip, const rg_data *from, rg_error *err)
{
    rg_audio_take *t = malloc(sizeof *t);
    if (!t)
        rg_clip_free(clip);
    else
        *t = (rg_audio_take){clip->samples, clip->frames, clip->channels, clip->rate};
    rg_data *d = t ? rg_data_new(RG_DATA_AUDIO, t, rg_audio_take_free) : NULL;
    if (!d) {
        rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
        return NULL;
    }
    snprintf(d->prompt, sizeof d->prompt, "%s", from->prompt);
    d->seed = from->seed;
    d->tempo = from->tempo;
    d->bars = from->bars;
    return d;
}
