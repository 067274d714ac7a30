#include "runtime/model/cond.h"

#include <stdlib.h>

void rg_cond_free(void *cond) {
    rg_cond *c = cond;
    if (!c) return;
    free(c->states);
    free(c);
}

rg_data *rg_cond_data(rg_cond *cond) { return rg_data_new(RG_DATA_COND, cond, rg_cond_free); }

const rg_cond *rg_data_cond(const rg_data *d) {
    return d && d->kind == RG_DATA_COND ? d->payload : NULL;
}
