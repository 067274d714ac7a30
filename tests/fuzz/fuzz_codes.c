/* libFuzzer target for the .codes reader: any bytes either parse into codes
 * that serialise back to a file that parses equal, or fail with a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/model/codes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rg_codes c;
    rg_error err;
    if (!rg_codes_parse(data, size, "fuzz.codes", &c, &err)) {
        if (!err.message[0])
            abort(); /* a rejection must say why */
        return 0;
    }
    uint8_t *buf;
    size_t n;
    rg_codes back;
    if (!rg_codes_serialise(&c, &buf, &n, &err) || !rg_codes_parse(buf, n, "again", &back, &err))
        abort();
    size_t count = (size_t)c.n_codebooks * (size_t)c.frames;
    if (back.n_codebooks != c.n_codebooks || back.frames != c.frames ||
        (count && memcmp(back.codes, c.codes, count * sizeof *c.codes) != 0))
        abort();
    free(buf);
    rg_codes_free(&back);
    rg_codes_free(&c);
    return 0;
}
