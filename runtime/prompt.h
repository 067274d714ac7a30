/* The text a generator is conditioned on, composed from the patch's global
 * prompt, the track's role and the transport, so every track of a song
 * hears the same tempo and key: "bass, dark minimal techno, 124 bpm, A minor".
 *
 * A template is comma-separated segments of text with fields in braces:
 * {prompt}, {track}, {tempo}, {meter}, {key}. A segment with a field that
 * has no value is left out, so "{track}, {prompt}, {tempo} bpm, {key}"
 * without a key reads "bass, dark techno, 124 bpm". `{{` and `}}` are
 * literal braces. */
#ifndef RG_PROMPT_H
#define RG_PROMPT_H

#include <stdbool.h>
#include <stddef.h>

#include "graph/error.h"

#define RG_PROMPT_TEMPLATE_DEFAULT "{track}, {prompt}, {tempo} bpm, {key}"

typedef struct {
    const char *prompt; /* the global prompt */
    const char *track;  /* the generator's role: drums, bass, ... */
    double tempo;       /* 0: none */
    int meter_num, meter_den; /* 0: none */
    const char *key;    /* "A minor", or NULL */
} rg_prompt_fields;

/* Compose into `out`. Fails on an unknown field or an unclosed brace,
 * naming it, so a bad template in a patch is caught when it is set. */
bool rg_compose_prompt(const char *tmpl, const rg_prompt_fields *f, char *out, size_t size,
                       rg_error *err);

#endif
