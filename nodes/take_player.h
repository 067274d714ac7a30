/* Plays whole takes on the audio thread: a take posted by the generation
 * domain starts at the next bar line, sample-accurately, while the old one
 * fades out over a short crossfade; takes loop on the bar grid. The audio
 * thread never allocates or frees: new takes arrive through one lock-free
 * queue, finished ones leave through another and housekeeping releases them. */
#ifndef RG_TAKE_PLAYER_H
#define RG_TAKE_PLAYER_H

#include "graph/node.h"
#include "runtime/spsc_ring.h"

typedef struct {
    rg_spsc_ring inbox;    /* rg_data * (RG_DATA_AUDIO), generation -> audio thread */
    rg_spsc_ring retired;  /* rg_data *, audio thread -> housekeeping */
    rg_data *playing, *pending, *fading;  /* audio thread only */
    int64_t play_pos, fade_pos;
    int fade_left, fade_frames;
    bool loop;
    _Atomic uint64_t playing_id;  /* id of the take being heard, for status and tests */
} rg_take_player;

/* `fade_ms` is the crossfade between takes. Not real-time: allocates. */
bool rg_take_player_init(rg_take_player *p, double rate, double fade_ms, bool loop);
void rg_take_player_destroy(rg_take_player *p);

/* Generation domain: queue `take` (an RG_DATA_AUDIO at the engine rate) to
 * start at the next bar line. Takes its own reference. */
bool rg_take_player_post(rg_take_player *p, rg_data *take);

/* Audio thread: one block into `out`. */
void rg_take_player_play(rg_take_player *p, rg_audio *out, const rg_process_ctx *ctx);

/* Off the audio thread: release takes the player is done with. */
void rg_take_player_housekeep(rg_take_player *p);

/* Frame offset in this block of the next bar line, or `frames` if none. */
int rg_next_bar_offset(const rg_transport *t, int frames);

#endif
