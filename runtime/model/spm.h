/* SentencePiece unigram tokenizer: reads a `spiece.model` (T5's, as shipped
 * in MusicGen checkpoints) and turns text into the ids SentencePiece gives.
 *
 * What it reproduces (sentencepiece 0.1.x, unigram models):
 *   - normalisation by the model's precompiled charsmap (nmt_nfkc for T5:
 *     NFKC plus whitespace/control mappings), longest match first; bytes that
 *     are not UTF-8 become U+FFFD one byte at a time;
 *   - whitespace handling: leading and trailing spaces dropped, runs of spaces
 *     collapsed, a dummy "▁" prefix, spaces written as "▁" (U+2581);
 *   - Viterbi segmentation over the piece scores, an unknown character costs
 *     the lowest piece score minus 10, and runs of unknowns give one <unk>;
 *   - optionally `</s>` appended, as T5's tokenizer does.
 * Models with byte fallback, BPE/word/char types or whitespace-as-suffix are
 * refused with an error rather than tokenised differently.
 *
 * The model file is parsed by a small protobuf reader (ModelProto: pieces,
 * trainer_spec, normalizer_spec); nothing in it is trusted.
 */
#ifndef RG_SPM_H
#define RG_SPM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graph/error.h"

typedef struct rg_spm rg_spm;

/* Load a .model file. Errors name the file. */
bool rg_spm_load(const char *path, rg_spm **out, rg_error *err);
/* Parse a model held in memory (copied); `name` is used in messages. */
bool rg_spm_parse(const void *data, size_t size, const char *name, rg_spm **out,
                  rg_error *err);
void rg_spm_free(rg_spm *spm);

int rg_spm_vocab_size(const rg_spm *spm);
/* Special ids: -1 when the model has none. */
int rg_spm_eos_id(const rg_spm *spm);
int rg_spm_unk_id(const rg_spm *spm);
int rg_spm_pad_id(const rg_spm *spm);
/* The piece of id (NULL if out of range). */
const char *rg_spm_piece(const rg_spm *spm, int id);

/* Normalised form of text (what segmentation sees, with "▁" for spaces).
 * *out is malloc'd and NUL-terminated; the caller frees it. */
bool rg_spm_normalize(const rg_spm *spm, const char *text, size_t len, char **out,
                      size_t *out_len, rg_error *err);

/* Token ids of text. *ids is malloc'd (the caller frees it; it may be NULL
 * when *n is 0). add_eos appends </s> (an error if the model has none). */
bool rg_spm_encode(const rg_spm *spm, const char *text, size_t len, bool add_eos,
                   int32_t **ids, int *n, rg_error *err);

#endif
