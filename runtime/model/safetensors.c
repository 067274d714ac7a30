#include "runtime/model/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The reference implementation refuses headers above 100 MB; so do we, which
 * also keeps a hostile length from driving a huge allocation. */
#define MAX_HEADER_BYTES (100u * 1000u * 1000u)

static const struct {
    const char *name;
    rg_st_dtype dtype;
    size_t size;
} dtype_table[] = {
    {"F32", RG_ST_F32, 4},  {"F16", RG_ST_F16, 2}, {"BF16", RG_ST_BF16, 2},
    {"F64", RG_ST_F64, 8},  {"I64", RG_ST_I64, 8}, {"I32", RG_ST_I32, 4},
    {"I16", RG_ST_I16, 2},  {"I8", RG_ST_I8, 1},   {"U8", RG_ST_U8, 1},
    {"BOOL", RG_ST_BOOL, 1},
};

const char *rg_st_dtype_name(rg_st_dtype dtype)
{
    for (size_t i = 0; i < sizeof dtype_table / sizeof dtype_table[0]; i++)
        if (dtype_table[i].dtype == dtype)
            return dtype_table[i].name;
    return "?";
}

size_t rg_st_dtype_size(rg_st_dtype dtype)
{
    for (size_t i = 0; i < sizeof dtype_table / sizeof dtype_table[0]; i++)
        if (dtype_table[i].dtype == dtype)
            return dtype_table[i].size;
    return 0;
}

static bool dtype_from_name(const char *name, rg_st_dtype *out)
{
    for (size_t i = 0; i < sizeof dtype_table / sizeof dtype_table[0]; i++) {
        if (strcmp(dtype_table[i].name, name) == 0) {
            *out = dtype_table[i].dtype;
            return true;
        }
    }
    return false;
}

int64_t rg_st_numel(const rg_st_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

void rg_st_format_shape(const int64_t *shape, int ndim, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? ", " : "",
                                 (long long)shape[i]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

static bool corrupt(rg_error *err, const char *path, const char *fmt, const char *what)
{
    return rg_error_set(err, RG_ERR_VALUE, path, 0, 0, fmt, what);
}

/* Shape: a JSON array of at most RG_ST_MAX_DIMS non-negative integers whose
 * product does not overflow. */
static bool parse_shape(json_t *shape, rg_st_tensor *t, const char *path, rg_error *err)
{
    if (!json_is_array(shape) || json_array_size(shape) > RG_ST_MAX_DIMS)
        return corrupt(err, path, "tensor '%s': \"shape\" must be an array of at most 8 sizes",
                       t->name);
    t->ndim = (int)json_array_size(shape);
    uint64_t numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        json_t *dim = json_array_get(shape, (size_t)i);
        if (!json_is_integer(dim) || json_integer_value(dim) < 0)
            return corrupt(err, path, "tensor '%s': shape sizes must be non-negative integers",
                           t->name);
        t->shape[i] = json_integer_value(dim);
        if (t->shape[i] != 0 && numel > (UINT64_MAX >> 4) / (uint64_t)t->shape[i])
            return corrupt(err, path, "tensor '%s': shape is too large", t->name);
        numel *= (uint64_t)t->shape[i];
    }
    return true;
}

static bool parse_offsets(json_t *offsets, rg_st_tensor *t, size_t data_size, const char *path,
                          rg_error *err)
{
    if (!json_is_array(offsets) || json_array_size(offsets) != 2 ||
        !json_is_integer(json_array_get(offsets, 0)) ||
        !json_is_integer(json_array_get(offsets, 1)))
        return corrupt(err, path, "tensor '%s': \"data_offsets\" must be [begin, end]", t->name);
    json_int_t begin = json_integer_value(json_array_get(offsets, 0));
    json_int_t end = json_integer_value(json_array_get(offsets, 1));
    if (begin < 0 || end < begin)
        return corrupt(err, path, "tensor '%s': data_offsets are out of order", t->name);
    if ((uint64_t)end > data_size)
        return rg_error_set(err, RG_ERR_VALUE, path, 0, 0,
                            "tensor '%s': data ends at byte %lld but the file holds only %zu "
                            "data bytes (truncated file?)",
                            t->name, (long long)end, data_size);
    t->begin = (uint64_t)begin;
    t->end = (uint64_t)end;
    uint64_t want = (uint64_t)rg_st_numel(t) * rg_st_dtype_size(t->dtype);
    if (t->end - t->begin != want) {
        char shape[128];
        rg_st_format_shape(t->shape, t->ndim, shape, sizeof shape);
        return rg_error_set(err, RG_ERR_VALUE, path, 0, 0,
                            "tensor '%s': %s %s needs %llu bytes but data_offsets span %llu",
                            t->name, rg_st_dtype_name(t->dtype), shape,
                            (unsigned long long)want,
                            (unsigned long long)(t->end - t->begin));
    }
    return true;
}

static bool parse_entry(const char *name, json_t *entry, size_t data_size, const char *path,
                        rg_st_tensor *t, rg_error *err)
{
    t->name = strdup(name);
    if (!t->name)
        return rg_error_set(err, RG_ERR_INTERNAL, path, 0, 0, "out of memory");
    if (!json_is_object(entry))
        return corrupt(err, path, "tensor '%s': entry is not an object", name);
    json_t *dtype = json_object_get(entry, "dtype");
    if (!json_is_string(dtype))
        return corrupt(err, path, "tensor '%s': missing \"dtype\"", name);
    if (!dtype_from_name(json_string_value(dtype), &t->dtype))
        return rg_error_set(err, RG_ERR_VALUE, path, 0, 0, "tensor '%s': unknown dtype '%s'",
                            name, json_string_value(dtype));
    if (!parse_shape(json_object_get(entry, "shape"), t, path, err))
        return false;
    return parse_offsets(json_object_get(entry, "data_offsets"), t, data_size, path, err);
}

static int compare_by_name(const void *a, const void *b)
{
    return strcmp(((const rg_st_tensor *)a)->name, ((const rg_st_tensor *)b)->name);
}

static int compare_by_begin(const void *a, const void *b)
{
    const rg_st_tensor *x = *(const rg_st_tensor *const *)a;
    const rg_st_tensor *y = *(const rg_st_tensor *const *)b;
    return (x->begin > y->begin) - (x->begin < y->begin);
}

/* Two tensors sharing bytes would alias silently; the format forbids it. */
static bool check_no_overlap(const rg_st_file *f, rg_error *err)
{
    if (f->n_tensors < 2)
        return true;
    const rg_st_tensor **order = malloc(f->n_tensors * sizeof *order);
    if (!order)
        return rg_error_set(err, RG_ERR_INTERNAL, f->path, 0, 0, "out of memory");
    for (size_t i = 0; i < f->n_tensors; i++)
        order[i] = &f->tensors[i];
    qsort(order, f->n_tensors, sizeof *order, compare_by_begin);
    bool ok = true;
    for (size_t i = 1; i < f->n_tensors && ok; i++) {
        if (order[i]->begin < order[i - 1]->end)
            ok = rg_error_set(err, RG_ERR_VALUE, f->path, 0, 0,
                              "tensors '%s' and '%s' overlap in the data section",
                              order[i - 1]->name, order[i]->name);
    }
    free(order);
    return ok;
}

static bool parse_index(json_t *root, rg_st_file *f, rg_error *err)
{
    if (!json_is_object(root))
        return corrupt(err, f->path, "header is not a JSON object%s", "");
    size_t n = json_object_size(root);
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    if (!f->tensors)
        return rg_error_set(err, RG_ERR_INTERNAL, f->path, 0, 0, "out of memory");
    const char *name;
    json_t *entry;
    json_object_foreach(root, name, entry) {
        if (strcmp(name, "__metadata__") == 0) {
            if (!json_is_object(entry))
                return corrupt(err, f->path, "\"__metadata__\" is not an object%s", "");
            continue;
        }
        rg_st_tensor *t = &f->tensors[f->n_tensors++];
        if (!parse_entry(name, entry, f->data_size, f->path, t, err))
            return false;
    }
    qsort(f->tensors, f->n_tensors, sizeof *f->tensors, compare_by_name);
    return check_no_overlap(f, err);
}

bool rg_st_parse(const void *buf, size_t size, const char *path, rg_st_file *out, rg_error *err)
{
    memset(out, 0, sizeof *out);
    out->path = strdup(path ? path : "<memory>");
    if (!out->path)
        return rg_error_set(err, RG_ERR_INTERNAL, path, 0, 0, "out of memory");
    const uint8_t *bytes = buf;
    if (size < 8) {
        rg_error_set(err, RG_ERR_VALUE, out->path, 0, 0,
                     "file is %zu bytes, too short for a safetensors header (truncated?)", size);
        goto fail;
    }
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--)
        header_len = (header_len << 8) | bytes[i];
    if (header_len > MAX_HEADER_BYTES || header_len > size - 8) {
        rg_error_set(err, RG_ERR_VALUE, out->path, 0, 0,
                     "header claims %llu bytes but the file holds %zu after the length "
                     "(truncated or not a safetensors file)",
                     (unsigned long long)header_len, size - 8);
        goto fail;
    }
    out->data = bytes + 8 + header_len;
    out->data_size = size - 8 - (size_t)header_len;
    json_error_t jerr;
    json_t *root = json_loadb((const char *)bytes + 8, (size_t)header_len,
                              JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        rg_error_set(err, RG_ERR_VALUE, out->path, 0, 0,
                     "header is not valid JSON (byte %d: %s)", jerr.position, jerr.text);
        goto fail;
    }
    bool ok = parse_index(root, out, err);
    json_decref(root);
    if (ok)
        return true;
fail:
    rg_st_close(out);
    return false;
}

bool rg_st_open(const char *path, rg_st_file *out, rg_error *err)
{
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rg_error_set(err, RG_ERR_IO, path, 0, 0, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return rg_error_set(err, RG_ERR_IO, path, 0, 0, "not a regular file");
    }
    size_t size = (size_t)st.st_size;
    void *map = NULL;
    if (size > 0) {
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            close(fd);
            return rg_error_set(err, RG_ERR_IO, path, 0, 0, "cannot map: %s", strerror(e));
        }
    }
    close(fd);
    if (!rg_st_parse(map ? map : "", size, path, out, err)) {
        if (map)
            munmap(map, size);
        return false;
    }
    out->map = map;
    out->map_size = size;
    return true;
}

void rg_st_close(rg_st_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_tensors; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    free(f->path);
    if (f->map)
        munmap(f->map, f->map_size);
    memset(f, 0, sizeof *f);
}

const rg_st_tensor *rg_st_find(const rg_st_file *f, const char *name)
{
    rg_st_tensor key = {.name = (char *)name};
    if (!f->tensors)
        return NULL;
    return bsearch(&key, f->tensors, f->n_tensors, sizeof *f->tensors, compare_by_name);
}

bool rg_st_has_prefix(const rg_st_file *f, const char *prefix)
{
    size_t len = strlen(prefix);
    size_t lo = 0, hi = f->n_tensors;
    while (lo < hi) { /* first name >= prefix */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(f->tensors[mid].name, prefix) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < f->n_tensors && strncmp(f->tensors[lo].name, prefix, len) == 0;
}

float rg_st_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0x1f) { /* inf / nan */
        bits = sign | 0x7f800000u | (mant << 13);
    } else if (exp != 0) { /* normal */
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    } else if (mant == 0) { /* zero */
        bits = sign;
    } else { /* subnormal: renormalise */
        int e = -1;
        do {
            e++;
            mant <<= 1;
        } while (!(mant & 0x400));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((mant & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

float rg_st_bf16_to_f32(uint16_t b)
{
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

bool rg_st_read_f32(const rg_st_file *f, const rg_st_tensor *t, float *out, rg_error *err)
{
    const uint8_t *src = f->data + t->begin;
    size_t n = (size_t)rg_st_numel(t);
    /* memcpy per element: the data section need not be aligned */
    switch (t->dtype) {
    case RG_ST_F32: /* little-endian host, as the format */
        memcpy(out, src, n * 4);
        return true;
    case RG_ST_F16:
    case RG_ST_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t v = (uint16_t)(src[2 * i] | (src[2 * i + 1] << 8));
            out[i] = t->dtype == RG_ST_F16 ? rg_st_f16_to_f32(v) : rg_st_bf16_to_f32(v);
        }
        return true;
    case RG_ST_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, src + 8 * i, 8);
            out[i] = (float)d;
        }
        return true;
    default:
        return rg_error_set(err, RG_ERR_VALUE, f->path, 0, 0,
                            "tensor '%s' has dtype %s; expected a float type (F32, F16, BF16)",
                            t->name, rg_st_dtype_name(t->dtype));
    }
}
