/* The value on a `cond` port (RG_DATA_COND, graph/data.h): what a
 * conditioner offers the generators patched to it.
 *
 * Each generator hears its own text, composed from the conditioner's global
 * prompt, the generator's track role and the transport by the conditioner's
 * template (runtime/prompt.h): "bass, dark minimal techno, 124 bpm, A minor".
 * So the value carries the conditioner's side of the composition (prompt,
 * template, key) and a bank: the encoded states of every text composed so
 * far, shared by the conditioner and all its values, so each distinct text
 * is encoded once (T5 + enc_to_dec_proj) and encoded again only after it
 * changed and was evicted. A generator asks the bank for its text's states
 * (rg_cond_states_for); a miss encodes it there and then, on the generation
 * worker, with the generator's model (the same checkpoint as the
 * conditioner's: that is checked).
 *
 * The states are kept on the host: each generator's model may live on its
 * own device, and a prompt's states are small (tokens x width floats, a few
 * tens of KB), so a generator uploads them once per take. */
#ifndef RG_COND_H
#define RG_COND_H

#include <limits.h>

#include "graph/node.h"
#include "runtime/model/musicgen.h"

typedef struct rg_cond_bank rg_cond_bank;

typedef struct {
    char model[PATH_MAX];  /* the checkpoint folder of the conditioner */
    char prompt[512];      /* the global prompt */
    char template[256];    /* how a generator's text is composed (runtime/prompt.h) */
    char key[64];          /* "A minor", or "" */
    rg_cond_bank *bank;    /* referenced; released with the value */
} rg_cond;

/* Encoded states of one text: [len][width] floats; len 0 is the null
 * condition (an empty text), states NULL. */
typedef struct {
    int len, width;
    const float *states;
} rg_cond_states;

/* Wrap a malloc'd rg_cond (which holds a reference to its bank) into a
 * value with one reference. NULL when out of memory (it is then freed). */
rg_data *rg_cond_data(rg_cond *cond);
/* The conditioning offered by `d`, or NULL if `d` is not a cond value. */
const rg_cond *rg_data_cond(const rg_data *d);
void rg_cond_free(void *cond);

/* The text a generator of `track` (NULL or "": none) hears, at the
 * transport's tempo and meter (NULL: none). An empty or blank prompt gives
 * "" (the null condition: unconditional generation), whatever the template
 * says. Errors name a bad template. */
bool rg_cond_text(const rg_cond *c, const char *track, const rg_transport *t, char *out,
                  size_t size, rg_error *err);

/* The states of `text`, from the bank or encoded now with `m`. They stay
 * valid until the next call on the same bank. Generation worker only. */
bool rg_cond_states_for(const rg_cond *c, rg_musicgen *m, const char *text, rg_cond_states *out,
                        rg_error *err);

rg_cond_bank *rg_cond_bank_new(void);
rg_cond_bank *rg_cond_bank_ref(rg_cond_bank *b);
void rg_cond_bank_unref(rg_cond_bank *b);
/* Times the bank ran the encoder (misses), for tests and status. */
unsigned rg_cond_bank_encodes(const rg_cond_bank *b);

#endif
