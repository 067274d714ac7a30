/* safetensors: the weight file format of the Hugging Face checkpoints.
 *
 * Layout: an 8-byte little-endian header length N, N bytes of JSON
 * ({"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
 * optional "__metadata__": {..}}), then the raw tensor bytes. Offsets are
 * relative to the end of the header.
 *
 * The parser never trusts the file: every offset, shape and size is checked
 * before a tensor can be read, and every error names the file (err->file) and,
 * where there is one, the tensor. Files are memory-mapped, so opening a 2 GB
 * checkpoint costs nothing until tensors are converted.
 */
#ifndef RG_SAFETENSORS_H
#define RG_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graph/error.h"

#define RG_ST_MAX_DIMS 8

typedef enum {
    RG_ST_F32,
    RG_ST_F16,
    RG_ST_BF16,
    RG_ST_F64,
    RG_ST_I64,
    RG_ST_I32,
    RG_ST_I16,
    RG_ST_I8,
    RG_ST_U8,
    RG_ST_BOOL,
} rg_st_dtype;

typedef struct {
    char *name;
    rg_st_dtype dtype;
    int ndim;
    int64_t shape[RG_ST_MAX_DIMS];
    uint64_t begin, end; /* byte range inside the data section */
} rg_st_tensor;

typedef struct {
    char *path;               /* for error messages */
    const uint8_t *data;      /* data section (after the header) */
    size_t data_size;
    rg_st_tensor *tensors;    /* sorted by name */
    size_t n_tensors;
    void *map;                /* the mmap'd file, when opened from disk */
    size_t map_size;
} rg_st_file;

/* Parse a safetensors image held in memory. `buf` must outlive `out`
 * (tensor data is not copied). `path` is only used in messages. */
bool rg_st_parse(const void *buf, size_t size, const char *path, rg_st_file *out,
                 rg_error *err);

/* Memory-map and parse a file. */
bool rg_st_open(const char *path, rg_st_file *out, rg_error *err);

/* Release what parse/open allocated; safe on a zeroed or closed file. */
void rg_st_close(rg_st_file *f);

/* The tensor called `name`, or NULL. */
const rg_st_tensor *rg_st_find(const rg_st_file *f, const char *name);

/* True if some tensor name starts with `prefix`. */
bool rg_st_has_prefix(const rg_st_file *f, const char *prefix);

int64_t rg_st_numel(const rg_st_tensor *t);
const char *rg_st_dtype_name(rg_st_dtype dtype);
size_t rg_st_dtype_size(rg_st_dtype dtype);

/* Convert a floating-point tensor (F32, F16, BF16, F64) to float32 into `out`,
 * which holds rg_st_numel(t) floats. Integer tensors are refused. */
bool rg_st_read_f32(const rg_st_file *f, const rg_st_tensor *t, float *out, rg_error *err);

/* Shape as "[a, b, c]" for messages. */
void rg_st_format_shape(const int64_t *shape, int ndim, char *buf, size_t size);

/* IEEE half and bfloat16 to float, exact. */
float rg_st_f16_to_f32(uint16_t h);
float rg_st_bf16_to_f32(uint16_t b);

#endif
