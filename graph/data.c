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
    return d;
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
