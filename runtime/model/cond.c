#include "runtime/model/cond.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/prompt.h"

/* Texts kept encoded per bank: enough for every track of a song, and the
 * previous prompt's texts while a new prompt is tried. */
#define BANK_ENTRIES 32

typedef struct {
    char *text;      /* NULL: free slot */
    int len, width;
    float *states;
    uint64_t used;   /* for least-recently-used eviction */
} bank_entry;

struct rg_cond_bank {
    atomic_int refs;
    bank_entry entries[BANK_ENTRIES];
    uint64_t clock;
    atomic_uint encodes;
};

rg_cond_bank *rg_cond_bank_new(void)
{
    rg_cond_bank *b = calloc(1, sizeof *b);
    if (b)
        atomic_init(&b->refs, 1);
    return b;
}

rg_cond_bank *rg_cond_bank_ref(rg_cond_bank *b)
{
    if (b)
        atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    return b;
}

static void entry_clear(bank_entry *e)
{
    free(e->text);
    free(e->states);
    memset(e, 0, sizeof *e);
}

void rg_cond_bank_unref(rg_cond_bank *b)
{
    if (!b || atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (int i = 0; i < BANK_ENTRIES; i++)
        entry_clear(&b->entries[i]);
    free(b);
}

unsigned rg_cond_bank_encodes(const rg_cond_bank *b)
{
    return b ? atomic_load(&((rg_cond_bank *)b)->encodes) : 0;
}

void rg_cond_free(void *cond)
{
    rg_cond *c = cond;
    if (!c)
        return;
    rg_cond_bank_unref(c->bank);
    free(c);
}

rg_data *rg_cond_data(rg_cond *cond) { return rg_data_new(RG_DATA_COND, cond, rg_cond_free); }

const rg_cond *rg_data_cond(const rg_data *d)
{
    return d && d->kind == RG_DATA_COND ? d->payload : NULL;
}

/* Whether `s` has nothing but spaces, tabs and line breaks. */
static bool blank(const char *s)
{
    for (; *s; s++)
        if (!strchr(" \t\r\n", *s))
            return false;
    return true;
}

bool rg_cond_text(const rg_cond *c, const char *track, const rg_transport *t, char *out,
                  size_t size, rg_error *err)
{
    if (size > 0 && blank(c->prompt)) { /* no prompt: unconditional, whatever the template */
        out[0] = '\0';
        return true;
    }
    rg_prompt_fields f = {
        .prompt = c->prompt,
        .track = track,
        .tempo = t ? t->tempo : 0,
        .meter_num = t ? t->meter_num : 0,
        .meter_den = t ? t->meter_den : 0,
        .key = c->key,
    };
    return rg_compose_prompt(c->template, &f, out, size, err);
}

/* Encode `text` into a free or the least recently used slot. */
static bank_entry *encode_into_bank(rg_cond_bank *b, rg_musicgen *m, const char *text, rg_error *err)
{
    rg_lm_cond cond;
    if (!rg_musicgen_condition_text(m, text, &cond, err))
        return NULL;
    atomic_fetch_add(&b->encodes, 1);
    int width = rg_musicgen_get_config(m)->hidden;
    float *states = cond.len ? malloc((size_t)cond.len * width * sizeof *states) : NULL;
    char *copy = strdup(text);
    bool ok = copy && (cond.len == 0 || states);
    if (!ok)
        rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    else if (cond.len)
        ok = rg_lm_cond_read(m, &cond, states, err);
    int len = cond.len;
    rg_lm_cond_free(&cond);
    if (!ok) {
        free(states);
        free(copy);
        return NULL;
    }
    bank_entry *slot = &b->entries[0];
    for (int i = 0; i < BANK_ENTRIES; i++) {
        bank_entry *e = &b->entries[i];
        if (!e->text) {
            slot = e;
            break;
        }
        if (e->used < slot->used)
            slot = e;
    }
    entry_clear(slot);
    *slot = (bank_entry){copy, len, width, states, 0};
    return slot;
}

bool rg_cond_states_for(const rg_cond *c, rg_musicgen *m, const char *text, rg_cond_states *out,
                        rg_error *err)
{
    rg_cond_bank *b = c->bank;
    int width = rg_musicgen_get_config(m)->hidden;
    if (blank(text)) { /* the null condition: nothing to encode */
        *out = (rg_cond_states){0, width, NULL};
        return true;
    }
    bank_entry *hit = NULL;
    for (int i = 0; i < BANK_ENTRIES && !hit; i++)
        if (b->entries[i].text && b->entries[i].width == width && strcmp(b->entries[i].text, text) == 0)
            hit = &b->entries[i];
    if (!hit && !(hit = encode_into_bank(b, m, text, err)))
        return false;
    hit->used = ++b->clock;
    *out = (rg_cond_states){hit->len, hit->width, hit->states};
    return true;
}
