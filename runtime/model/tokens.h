/* The value on a `tokens` port (RG_DATA_TOKENS, graph/data.h): codec codes
 * K x T with the codec's identity and frame rate; the same fields as a
 * .codes file, so a take can be saved and loaded as it is. */
#ifndef RG_TOKENS_H
#define RG_TOKENS_H

#include "graph/data.h"
#include "runtime/model/codes.h"

typedef rg_codes rg_tokens;

/* Wrap a malloc'd rg_tokens (and its malloc'd codes) into a value with one
 * reference; the value owns it. NULL when out of memory (it is then freed). */
rg_data *rg_tokens_data(rg_tokens *tokens);

/* The tokens carried by `d`, or NULL if `d` is not a tokens value. */
const rg_tokens *rg_data_tokens(const rg_data *d);

/* free_payload of tokens values. */
void rg_tokens_free(void *tokens);

#endif
