/* Plays takes on the audio thread: a take posted by the generation domain
 * starts at the next bar line, sample-accurately, while the old one fades
 * out over a short crossfade; takes loop on the bar grid. The audio thread
 * never allocates or frees: new takes arrive through one lock-free queue,
 * finished ones leave through another and housekeeping releases them.
 *
 * Growing takes (graph/data.h) are played while they are made. One starts
 * at a bar line only once so much of it is ready that, at the rate it has
 * been growing (measured on the audio clock since it was posted, with a
 * 1.5x margin), it will be complete before playback catches up; a take that
 * has not grown yet waits, and the old take keeps playing meanwhile. The
 * player never reads past the ready count: the take it replaced (the
 * backup) keeps its place in time while the new one plays, and if the new
 * one is abandoned (its job was cancelled) or is about to run dry, the
 * player crossfades back to the backup, in time. A take that ran dry is
 * queued again and restarts from its beginning at a later bar line, once
 * the rule above lets it; an abandoned one is dropped. */
#ifndef RG_TAKE_PLAYER_H
#define RG_TAKE_PLAYER_H

#include "graph/node.h"
#include "runtime/audio_file.h"
#include "runtime/spsc_ring.h"

typedef struct {
    rg_spsc_ring inbox;    /* rg_data * (RG_DATA_AUDIO), generation -> audio thread */
    rg_spsc_ring retired;  /* rg_data *, audio thread -> housekeeping */
    rg_data *playing, *pending, *fading;  /* audio thread only */
    rg_data *backup;       /* what played before a growing `playing`, kept in time */
    int64_t play_pos, fade_pos, backup_pos;
    int64_t pending_ready0;  /* ready frames of `pending` when it arrived */
    int64_t pending_waited;  /* audio frames since it arrived */
    int64_t min_start;       /* ready frames a growing take needs at least to start */
    int fade_left, fade_frames;
    bool loop;
    _Atomic uint64_t fallbacks;   /* times a growing take was left for the backup */
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

/* Generation domain: a new take (one reference) holding `clip`'s samples,
 * which it takes over, with `from`'s prompt, seed, tempo and bars (a node
 * that changes the tempo or length sets those after). NULL and err set
 * when out of memory (the samples are then freed). */
rg_data *rg_take_from_clip(rg_audio_clip *clip, const rg_data *from, rg_error *err);

/* Frame offset in this block of the next bar line, or `frames` if none. */
int rg_next_bar_offset(const rg_transport *t, int frames);

#endif
