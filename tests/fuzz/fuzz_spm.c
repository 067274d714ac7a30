/* libFuzzer target for what reads a prompt's text: every byte string a
 * controller might send as a prompt (broken UTF-8, control characters, huge
 * runs) either tokenizes into in-range ids or is refused with a message (the
 * SentencePiece tokenizer; the model is the committed test model), and
 * names either no key or a key of seven pitch classes with its tonic among
 * them (rg_lm_key_from_text, which every track-aware generator runs) and
 * only tags the model has (rg_track_tags_in_text). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/model/musicgen.h"
#include "runtime/model/spm.h"
#include "runtime/model/track_context.h"

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

    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    rg_lm_key key;
    bool found = rg_lm_key_from_text(text, &key);
    if (found != (key.scale != 0) || (found && (key.root < 0 || key.root > 11 ||
                                                 !(key.scale & (1u << key.root)) ||
                                                 __builtin_popcount(key.scale) != 7)))
        abort();
    static rg_track_weights tags = {.tags = 3, .tag_names = {"dark", "acid", "busy"}};
    if (rg_track_tags_in_text(&tags, text) & ~7u) abort();
    free(text);
    return 0;
}
