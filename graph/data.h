/* Values on the non-audio ports (tokens, cond, grid) and the takes that
 * model nodes publish: immutable once published, reference counted, shared
 * between the node that made them and every node reading them. Publishing
 * and releasing happen off the audio thread; the audio thread only ever
 * sees audio that a node handed it through its own lock-free queue.
 *
 * A take may also be published while it is still being made (a *growing*
 * take, so a decoder can start on the first frames and a player can start
 * playing before the generator has finished). Its memory is allocated for
 * the whole length before it is published and never moves; the writer
 * fills frames in order and then raises `ready` (release), so a reader that
 * loads `ready` (acquire) may read frames [0, ready) and nothing after. A
 * growing take ends either complete (every frame ready) or abandoned (its
 * job was cancelled: readers drop it). Values that never grow are complete
 * from the start.
 *
 * The payload is opaque here: its layout belongs to the kind
 * (runtime/model/ defines the tokens and cond payloads), so graph/ stays
 * free of model code. */
#ifndef RG_DATA_H
#define RG_DATA_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    RG_DATA_TOKENS, /* codec codes: K codebooks x T frames */
    RG_DATA_COND,   /* a conditioning sequence */
    RG_DATA_GRID,   /* tempo, meter, bar length, downbeat */
    RG_DATA_AUDIO,  /* a whole take of audio (interleaved float) */
} rg_data_kind;

typedef struct rg_data {
    atomic_int refs;
    rg_data_kind kind;
    uint64_t id;              /* unique per process: "has my input changed?" is an id compare */
    void *payload;
    void (*free_payload)(void *payload);
    /* What the take was made from, for take history, /take events and export. */
    char prompt[512];
    uint64_t seed;
    double tempo;             /* bpm it was made for, 0 if none */
    int bars;                 /* length it was made for, 0 if none */
    /* Growth (see the top of this file). `length` is in the payload's own
     * frames (codec frames for tokens, audio frames for audio); 0 for
     * values that never grow. */
    int64_t length;
    _Atomic int64_t ready;
    atomic_int growth;        /* rg_growth */
} rg_data;

typedef enum {
    RG_GROWTH_COMPLETE,       /* every frame is final (and all values that never grow) */
    RG_GROWTH_GROWING,        /* frames [0, ready) are final, more are coming */
    RG_GROWTH_ABANDONED,      /* the job that made it was cancelled: do not use */
} rg_growth;

/* A new value with one reference, owning `payload`. NULL when out of memory
 * (the payload is then freed). */
rg_data *rg_data_new(rg_data_kind kind, void *payload, void (*free_payload)(void *));
rg_data *rg_data_ref(rg_data *d);
void rg_data_unref(rg_data *d);

/* Writer, before publishing: the value will grow to `length` frames, none
 * ready yet. Its payload must already have room for all of them. */
void rg_data_begin_growth(rg_data *d, int64_t length);
/* Writer: frames [0, ready) are final (ready never goes down). */
void rg_data_grow(rg_data *d, int64_t ready);
/* Writer: every frame is final; or the take will never be finished. */
void rg_data_complete(rg_data *d);
void rg_data_abandon(rg_data *d);

/* Readers (any thread, lock-free, the audio thread included): the frames
 * that may be read, and the state. For a value that never grows, ready is
 * its `length` (0) and the state RG_GROWTH_COMPLETE. */
int64_t rg_data_ready(const rg_data *d);
rg_growth rg_data_growth(const rg_data *d);
static inline bool rg_data_is_growing(const rg_data *d)
{
    return d && rg_data_growth(d) == RG_GROWTH_GROWING;
}

/* A whole take of audio, the payload of RG_DATA_AUDIO. A growing one has
 * all `frames` allocated; only rg_data_ready() of them are written. */
typedef struct {
    float *samples;  /* interleaved */
    int64_t frames;
    int channels;
    double rate;
} rg_audio_take;

void rg_audio_take_free(void *take);

/* A tempo grid, the payload of RG_DATA_GRID (what a `grid` output offers):
 * the tempo and meter takes are measured in. */
typedef struct {
    double tempo;            /* quarter notes per minute */
    int meter_num, meter_den;
} rg_grid;

/* The grid carried by `d`, or NULL if `d` is not a grid value. */
const rg_grid *rg_data_grid(const rg_data *d);

#endif
