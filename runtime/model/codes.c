#include "runtime/model/codes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char magic[4] = {'R', 'G', 'C', 'D'};

uint32_t rg_crc32(const void *data, size_t size)
{
    const uint8_t *p = data;
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < size; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
    }
    return ~crc;
}

static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v);
    put16(p + 2, v >> 16);
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t get16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t get32(const uint8_t *p)
{
    return get16(p) | get16(p + 2) << 16;
}

static uint64_t get64(const uint8_t *p)
{
    return get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* What both the writer and the reader insist on. */
static bool validate(const rg_codes *c, const char *path, rg_error *err)
{
    const char *bad = NULL;
    if (c->codec[0] == '\0' || memchr(c->codec, '\0', sizeof c->codec) == NULL)
        bad = "codec name must be 1..15 characters";
    else if (c->sample_rate == 0 || c->hop_length == 0)
        bad = "sample rate and hop length must be positive";
    else if (c->codebook_size < 2 || c->codebook_size > 65536)
        bad = "codebook size must be 2..65536";
    else if (c->n_codebooks < 1 || c->n_codebooks > 1024 || c->channels < 1 || c->channels > 16)
        bad = "codebook or channel count out of range";
    else if (c->frames < 1 || c->frames > ((int64_t)1 << 40) / c->n_codebooks)
        bad = "frame count out of range";
    else if (c->samples <= (c->frames - 1) * (int64_t)c->hop_length ||
             c->samples > c->frames * (int64_t)c->hop_length)
        bad = "sample count does not match the frame count";
    if (bad)
        return rg_error_set(err, RG_ERR_VALUE, path, 0, 0, "%s", bad);
    int64_t n = c->frames * c->n_codebooks;
    for (int64_t i = 0; i < n; i++)
        if (c->codes[i] < 0 || (uint32_t)c->codes[i] >= c->codebook_size)
            return rg_error_set(err, RG_ERR_VALUE, path, 0, 0,
                                "code %d at codebook %lld, frame %lld is outside 0..%u",
                                c->codes[i], (long long)(i / c->frames),
                                (long long)(i % c->frames), c->codebook_size - 1);
    return true;
}

bool rg_codes_serialise(const rg_codes *c, uint8_t **out, size_t *size, rg_error *err)
{
    *out = NULL;
    if (!validate(c, "<codes>", err))
        return false;
    size_t n = (size_t)(c->frames * c->n_codebooks);
    *size = RG_CODES_HEADER_BYTES + 2 * n;
    uint8_t *buf = calloc(1, *size);
    if (!buf)
        return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    uint8_t *payload = buf + RG_CODES_HEADER_BYTES;
    for (size_t i = 0; i < n; i++)
        put16(payload + 2 * i, (uint32_t)c->codes[i]);
    memcpy(buf, magic, 4);
    put16(buf + 4, RG_CODES_VERSION);
    put16(buf + 6, RG_CODES_HEADER_BYTES);
    memcpy(buf + 8, c->codec, strlen(c->codec));
    put32(buf + 24, c->sample_rate);
    put32(buf + 28, c->hop_length);
    put32(buf + 32, c->codebook_size);
    put16(buf + 36, (uint32_t)c->n_codebooks);
    put16(buf + 38, (uint32_t)c->channels);
    put64(buf + 40, (uint64_t)c->frames);
    put64(buf + 48, (uint64_t)c->samples);
    put32(buf + 56, rg_crc32(payload, 2 * n));
    *out = buf;
    return true;
}

static bool parse_header(const uint8_t *b, size_t size, const char *path, rg_codes *c,
                         uint32_t *header_bytes, rg_error *err)
{
    if (size < RG_CODES_HEADER_BYTES || memcmp(b, magic, 4) != 0)
        return rg_error_set(err, RG_ERR_VALUE, path, 0, 0,
                            "not a .codes file (no RGCD header)");
    uint32_t version = get16(b + 4);
    if (version != RG_CODES_VERSION)
        return rg_error_set(err, RG_ERR_VALUE, path, 0, 0,
                            ".codes version %u; this build reads version %d", version,
                            RG_CODES_VERSION);
    *header_bytes = get16(b + 6);
    if (*header_bytes < RG_CODES_HEADER_BYTES || *header_bytes > size)
        return rg_error_set(err, RG_ERR_VALUE, path, 0, 0, "bad header size %u", *header_bytes);
    memcpy(c->codec, b + 8, sizeof c->codec);
    c->codec[sizeof c->codec - 1] = '\0';
    c->sample_rate = get32(b + 24);
    c->hop_length = get32(b + 28);
    c->codebook_size = get32(b + 32);
    c->n_codebooks = (int)get16(b + 36);
    c->channels = (int)get16(b + 38);
    uint64_t frames = get64(b + 40), samples = get64(b + 48);
    if (frames > ((uint64_t)1 << 40) || samples > ((uint64_t)1 << 50))
        return rg_error_set(err, RG_ERR_VALUE, path, 0, 0, "frame count out of range");
    c->frames = (int64_t)frames;
    c->samples = (int64_t)samples;
    return true;
}

bool rg_codes_parse(const void *buf, size_t size, const char *path, rg_codes *c, rg_error *err)
{
    memset(c, 0, sizeof *c);
    const uint8_t *b = buf;
    uint32_t header_bytes = 0;
    if (!parse_header(b, size, path, c, &header_bytes, err))
        return false;
    if (c->n_codebooks < 1 || c->frames < 1)
        return rg_error_set(err, RG_ERR_VALUE, path, 0, 0, "no codes in the file");
    size_t n = (size_t)c->frames * (size_t)c->n_codebooks;
    if (size - header_bytes != 2 * n)
        return rg_error_set(err, RG_ERR_VALUE, path, 0, 0,
                            "%d codebooks x %lld frames need %zu bytes of codes, the file has "
                            "%zu (truncated?)",
                            c->n_codebooks, (long long)c->frames, 2 * n, size - header_bytes);
    const uint8_t *payload = b + header_bytes;
    if (rg_crc32(payload, 2 * n) != get32(b + 56))
        return rg_error_set(err, RG_ERR_VALUE, path, 0, 0, "checksum mismatch (corrupt file)");
    c->codes = malloc(n * sizeof *c->codes);
    if (!c->codes)
        return rg_error_set(err, RG_ERR_INTERNAL, path, 0, 0, "out of memory");
    for (size_t i = 0; i < n; i++)
        c->codes[i] = (int32_t)get16(payload + 2 * i);
    if (!validate(c, path, err)) {
        rg_codes_free(c);
        return false;
    }
    return true;
}

bool rg_codes_write(const char *path, const rg_codes *c, rg_error *err)
{
    uint8_t *buf;
    size_t size;
    if (!rg_codes_serialise(c, &buf, &size, err))
        return false;
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(buf, 1, size, f) == size;
    int e = errno;
    if (f && fclose(f) != 0)
        ok = false;
    free(buf);
    if (!ok)
        return rg_error_set(err, RG_ERR_IO, path, 0, 0, "cannot write: %s", strerror(e));
    return true;
}

bool rg_codes_read(const char *path, rg_codes *c, rg_error *err)
{
    memset(c, 0, sizeof *c);
    FILE *f = fopen(path, "rb");
    if (!f)
        return rg_error_set(err, RG_ERR_IO, path, 0, 0, "cannot open: %s", strerror(errno));
    uint8_t *buf = NULL;
    size_t size = 0, cap = 0;
    bool ok = true;
    for (;;) {
        if (size == cap) {
            cap = cap ? cap * 2 : 65536;
            uint8_t *grown = realloc(buf, cap);
            if (!grown) {
                ok = rg_error_set(err, RG_ERR_INTERNAL, path, 0, 0, "out of memory");
                break;
            }
            buf = grown;
        }
        size_t got = fread(buf + size, 1, cap - size, f);
        size += got;
        if (got == 0)
            break;
    }
    if (ok && ferror(f))
        ok = rg_error_set(err, RG_ERR_IO, path, 0, 0, "read error");
    fclose(f);
    ok = ok && rg_codes_parse(buf, size, path, c, err);
    free(buf);
    return ok;
}

void rg_codes_free(rg_codes *c)
{
    free(c->codes);
    c->codes = NULL;
}
