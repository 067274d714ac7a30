#include "graph/data.h"

#include <stdlib.h>

static atomic_uint_fast64_t next_id = 1;

rg_data *rg_data_new(rg_data_kind kind, void *payload, void (*free_payload)(void *))
{
    rg_data *d = calloc(1, sizeof *d);
    if (!d) {
        if (free_payload)
            free_payload(payload);
        return NULL;
    }
    atomic_init(&d->refs, 1);
    d->kind = kind;
    d->id = atomic_fetch_add(&next_id, 1);
    d->payload = payload;
    d->free_payload = free_payload;
    atomic_init(&d->ready, 0);
    atomic_init(&d->growth, RG_GROWTH_COMPLETE);
    return d;
}

void rg_data_begin_growth(rg_data *d, int64_t length)
{
    d->length = length;
    atomic_store_explicit(&d->ready, 0, memory_order_relaxed);
    atomic_store_explicit(&d->growth, RG_GROWTH_GROWING, memory_order_release);
}

void rg_data_grow(rg_data *d, int64_t ready)
{
    if (ready > d->length)
        ready = d->length;
    if (ready > atomic_load_explicit(&d->ready, memory_order_relaxed))
        atomic_store_explicit(&d->ready, ready, memory_order_release);
}

void rg_data_complete(rg_data *d)
{
    atomic_store_explicit(&d->ready, d->length, memory_order_release);
    atomic_store_explicit(&d->growth, RG_GROWTH_COMPLETE, memory_order_release);
}

void rg_data_abandon(rg_data *d)
{
    atomic_store_explicit(&d->growth, RG_GROWTH_ABANDONED, memory_order_release);
}

int64_t rg_data_ready(const rg_data *d)
{
    return atomic_load_explicit(&((rg_data *)d)->ready, memory_order_acquire);
}

rg_growth rg_data_growth(const rg_data *d)
{
    return (rg_growth)atomic_load_explicit(&((rg_data *)d)->growth, memory_order_acquire);
}

rg_data *rg_data_ref(rg_data *d)
{
    if (d)
        atomic_fetch_add_explicit(&d->refs, 1, memory_order_relaxed);
    return d;
}

void rg_data_unref(rg_data *d)
{
    if (!d || atomic_fetch_sub_explicit(&d->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (d->free_payload)
        d->free_payload(d->payload);
    free(d);
}

void rg_audio_take_free(void *take)
{
    rg_audio_take *t = take;
    if (t)
        free(t->samples);
    free(t);
}

const rg_grid *rg_data_grid(const rg_data *d)
{
    return d && d->kind == RG_DATA_GRID ? d->payload : NULL;
}
