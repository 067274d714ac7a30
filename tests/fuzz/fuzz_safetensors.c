/* libFuzzer target for the safetensors header parser: any byte string must
 * either parse into a consistent index or fail with an error, never crash,
 * leak or read outside the buffer. Parsing is from memory (no file I/O).
 *
 * Build: CC=clang meson setup build-fuzz -Dfuzz=true; run with
 *   build-fuzz/tests/fuzz/fuzz_safetensors -max_total_time=60 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "runtime/model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rg_st_file f;
    rg_error err;
    if (!rg_st_parse(data, size, "fuzz.safetensors", &f, &err))
        return 0;
    /* Everything the parser accepted must be readable in bounds. */
    for (size_t i = 0; i < f.n_tensors; i++) {
        const rg_st_tensor *t = &f.tensors[i];
        if (rg_st_find(&f, t->name) == NULL)
            abort();
        int64_t n = rg_st_numel(t);
        if (n > (1 << 20))
            continue;
        float *out = malloc((size_t)(n ? n : 1) * sizeof *out);
        if (out)
            rg_st_read_f32(&f, t, out, &err);
        free(out);
    }
    rg_st_close(&f);
    return 0;
}
