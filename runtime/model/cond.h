/* The value on a `cond` port (RG_DATA_COND, graph/data.h): what a
 * conditioner made of a prompt, for the generators that listen to it.
 *
 * The states are kept on the host: each generator's model may live on its
 * own device, and a prompt's states are small (tokens x width floats, a few
 * tens of KB), so a generator uploads them once per take. */
#ifndef RG_COND_H
#define RG_COND_H

#include <limits.h>

#include "graph/data.h"

typedef struct {
    char model[PATH_MAX]; /* the checkpoint folder that made it */
    int len;              /* tokens; 0 is the null condition (empty prompt) */
    int width;            /* the decoder's hidden size */
    float *states;        /* [len][width], malloc'd; NULL when len == 0 */
} rg_cond;

/* Wrap a malloc'd rg_cond (and its states) into a value with one reference.
 * NULL when out of memory (it is then freed). */
rg_data *rg_cond_data(rg_cond *cond);
/* The conditioning carried by `d`, or NULL if `d` is not a cond value. */
const rg_cond *rg_data_cond(const rg_data *d);
void rg_cond_free(void *cond);

#endif
