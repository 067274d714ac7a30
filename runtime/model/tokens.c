#include "runtime/model/tokens.h"

#include <stdlib.h>

void rg_tokens_free(void *tokens)
{
    rg_tokens *t = tokens;
    if (!t)
        return;
    rg_codes_free(t);
    free(t);
}

rg_data *rg_tokens_data(rg_tokens *tokens)
{
    return rg_data_new(RG_DATA_TOKENS, tokens, rg_tokens_free);
}

const rg_tokens *rg_data_tokens(const rg_data *d)
{
    return d && d->kind == RG_DATA_TOKENS ? d->payload : NULL;
}
