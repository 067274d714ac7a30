/* .codes files: codec tokens on disk (docs/codes-format.md).
 *
 * A 64-byte little-endian header (magic "RGCD", version, codec name, sample
 * rate, hop, codebook size, codebooks K, channels, frames T, original length
 * in samples, CRC-32 of the payload) followed by K x T codes as uint16,
 * codebook-major. */
#ifndef RG_CODES_H
#define RG_CODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graph/error.h"

#define RG_CODES_VERSION 1
#define RG_CODES_HEADER_BYTES 64

typedef struct {
    char codec[16];          /* codec family, e.g. "encodec" */
    uint32_t sample_rate;    /* of the codec, Hz */
    uint32_t hop_length;     /* samples per frame: frame rate = sample_rate / hop_length */
    uint32_t codebook_size;  /* every code is < codebook_size (<= 65536) */
    int n_codebooks;         /* K */
    int channels;            /* audio channels the codec encodes */
    int64_t frames;          /* T */
    int64_t samples;         /* encoded length: (T-1)*hop < samples <= T*hop */
    int32_t *codes;          /* [K][T], malloc'd */
} rg_codes;

/* Serialise into a malloc'd buffer of *size bytes. */
bool rg_codes_serialise(const rg_codes *c, uint8_t **out, size_t *size, rg_error *err);
/* Parse a whole file image; `path` is used in messages only. */
bool rg_codes_parse(const void *buf, size_t size, const char *path, rg_codes *c, rg_error *err);

bool rg_codes_write(const char *path, const rg_codes *c, rg_error *err);
bool rg_codes_read(const char *path, rg_codes *c, rg_error *err);
void rg_codes_free(rg_codes *c);

/* CRC-32 (IEEE 802.3, as zlib's crc32). */
uint32_t rg_crc32(const void *data, size_t size);

#endif
