/* libFuzzer target for the SentencePiece tokenizer on the text side: every
 * byte string a controller might send as a prompt (broken UTF-8, control
 * characters, huge runs) either tokenizes into in-range ids or is refused
 * with a message. The model is the committed test model. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime/model/spm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static rg_spm *model(void)
{
    static rg_spm *spm;
    if (!spm) {
        rg_error err;
        if (!rg_spm_load(RESONANT_SOURCE_DIR "/tests/fixtures/lm/tiny/spiece.model", &spm, &err)) {
            fprintf(stderr, "%s\n", err.message);
            abort();
        }
    }
    return spm;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rg_spm *spm = model();
    int32_t *ids = NULL;
    int n = 0;
    rg_error err;
    if (rg_spm_encode(spm, (const char *)data, size, true, &ids, &n, &err)) {
        for (int i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= rg_spm_vocab_size(spm))
                abort();
        if (n < 1 || ids[n - 1] != rg_spm_eos_id(spm))
            abort();
    } else if (!err.message[0]) {
        abort();
    }
    free(ids);
    return 0;
}
