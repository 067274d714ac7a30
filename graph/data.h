/* Values on the non-audio ports (tokens, cond, grid) and the takes that
 * model nodes publish: immutable once published, reference counted, shared
 * between the node that made them and every node reading them. Publishing
 * and releasing happen off the audio thread; the audio thread only ever
 * sees audio that a node handed it through its own lock-free queue.
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
} rg_data;

/* A new value with one reference, owning `payload`. NULL when out of memory
 * (the payload is then freed). */
rg_data *rg_data_new(rg_data_kind kind, void *payload, void (*free_payload)(void *));
rg_data *rg_data_ref(rg_data *d);
void rg_data_unref(rg_data *d);

/* A whole take of audio, the payload of RG_DATA_AUDIO. */
typedef struct {
    float *samples;  /* interleaved */
    int64_t frames;
    int channels;
    double rate;
} rg_audio_take;

void rg_audio_take_free(void *take);

#endif
