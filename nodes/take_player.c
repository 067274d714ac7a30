#include "nodes/take_player.h"

#include <math.h>

#define QUEUE_SLOTS 64

bool rg_take_player_init(rg_take_player *p, double rate, double fade_ms, bool loop)
{
    p->fade_frames = (int)lround(fade_ms * rate / 1000.0);
    if (p->fade_frames < 1)
        p->fade_frames = 1;
    p->loop = loop;
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
    p->playing = p->pending = p->fading = NULL;
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

static void start_pending(rg_take_player *p)
{
    retire(p, p->fading); /* a third take during a fade: the oldest goes */
    p->fading = p->playing;
    p->fade_pos = p->play_pos;
    p->fade_left = p->fading ? p->fade_frames : 0;
    p->playing = p->pending;
    p->pending = NULL;
    p->play_pos = 0;
    atomic_store_explicit(&p->playing_id, p->playing->id, memory_order_relaxed);
}

/* Advance a position in a take; false once a one-shot take has ended. */
static bool advance(const rg_data *d, int64_t *pos, bool loop)
{
    const rg_audio_take *t = d->payload;
    if (++*pos < t->frames)
        return true;
    *pos = 0;
    return loop;
}

void rg_take_player_play(rg_take_player *p, rg_audio *out, const rg_process_ctx *ctx)
{
    rg_data *d;
    while (rg_spsc_read(&p->inbox, &d, sizeof d)) {
        retire(p, p->pending); /* the newest request wins */
        p->pending = d;
    }
    int swap_at = p->pending ? rg_next_bar_offset(ctx->transport, ctx->frames) : ctx->frames;
    for (int i = 0; i < ctx->frames; i++) {
        if (i == swap_at)
            start_pending(p);
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
        if (p->fade_left > 0 && (--p->fade_left == 0 || !advance(p->fading, &p->fade_pos, true))) {
            p->fade_left = 0;
            retire(p, p->fading);
            p->fading = NULL;
        }
    }
}
