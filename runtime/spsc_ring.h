/* A single-producer single-consumer ring of bytes: the audio thread writes,
 * one other thread reads (or the other way round), with no locks. C11
 * acquire/release atomics order the data against the indices. */
#ifndef RG_SPSC_RING_H
#define RG_SPSC_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    unsigned char *data;
    size_t size;                 /* a power of two */
    _Atomic size_t head;         /* written by the producer */
    _Atomic size_t tail;         /* written by the consumer */
} rg_spsc_ring;

/* Capacity is rounded up to a power of two. Not real-time: allocates. */
static inline bool rg_spsc_init(rg_spsc_ring *r, size_t capacity)
{
    size_t size = 1;
    while (size < capacity)
        size <<= 1;
    r->data = malloc(size);
    r->size = size;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    return r->data != NULL;
}

static inline void rg_spsc_free(rg_spsc_ring *r)
{
    free(r->data);
    r->data = NULL;
}

static inline size_t rg_spsc_readable(rg_spsc_ring *r)
{
    return atomic_load_explicit(&r->head, memory_order_acquire) -
           atomic_load_explicit(&r->tail, memory_order_relaxed);
}

static inline size_t rg_spsc_writable(rg_spsc_ring *r)
{
    return r->size - (atomic_load_explicit(&r->head, memory_order_relaxed) -
                      atomic_load_explicit(&r->tail, memory_order_acquire));
}

/* Write all of `n` bytes or nothing. */
static inline bool rg_spsc_write(rg_spsc_ring *r, const void *src, size_t n)
{
    if (rg_spsc_writable(r) < n)
        return false;
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    size_t at = head & (r->size - 1), first = r->size - at < n ? r->size - at : n;
    memcpy(r->data + at, src, first);
    memcpy(r->data, (const unsigned char *)src + first, n - first);
    atomic_store_explicit(&r->head, head + n, memory_order_release);
    return true;
}

/* Read all of `n` bytes or nothing. */
static inline bool rg_spsc_read(rg_spsc_ring *r, void *dst, size_t n)
{
    if (rg_spsc_readable(r) < n)
        return false;
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    size_t at = tail & (r->size - 1), first = r->size - at < n ? r->size - at : n;
    memcpy(dst, r->data + at, first);
    memcpy((unsigned char *)dst + first, r->data, n - first);
    atomic_store_explicit(&r->tail, tail + n, memory_order_release);
    return true;
}

#endif
