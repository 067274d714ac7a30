/* Front end of the tensor runtime: devices, buffers, tensor views, and the
 * validation and recording of ops. Backends only see validated ops. */
#include "runtime/tensor/tensor_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------------ */
/* Small things                                                             */
/* ------------------------------------------------------------------------ */

const char *rg_status_name(rg_status s) {
    switch (s) {
    case RG_OK: return "ok";
    case RG_ERR_INVALID: return "invalid argument";
    case RG_ERR_UNSUPPORTED: return "unsupported";
    case RG_ERR_NO_DEVICE: return "no device";
    case RG_ERR_OOM: return "out of memory";
    case RG_ERR_DEVICE_LOST: return "device lost";
    case RG_ERR_BACKEND: return "backend error";
    }
    return "unknown status";
}

size_t rg_dtype_size(rg_dtype t) {
    switch (t) {
    case RG_F32: return 4;
    case RG_F16: return 2;
    case RG_I32: return 4;
    case RG_Q8: return 0;
    }
    return 0;
}

static const char *dtype_name(rg_dtype t) {
    switch (t) {
    case RG_F32: return "f32";
    case RG_F16: return "f16";
    case RG_I32: return "i32";
    case RG_Q8: return "q8";
    }
    return "?";
}

const char *rg_op_name(rg_op_kind k) {
    static const char *names[RG_OP_KIND_COUNT] = {
        "matmul", "binary", "scale", "unary", "layer_norm", "rms_norm", "softmax",
        "embedding", "copy", "conv1d", "conv_transpose1d", "lstm", "attention",
        "rvq_encode", "rvq_decode", "sample", "harmonic",
    };
    return (unsigned)k < RG_OP_KIND_COUNT ? names[k] : "?";
}

rg_status rg_fail(rg_device *dev, rg_status s, const char *fmt, ...) {
    if (dev) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(dev->error, sizeof dev->error, fmt, ap);
        va_end(ap);
    }
    return s;
}

/* IEEE half conversion, round to nearest even, with subnormals, inf and NaN. */
uint16_t rg_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t exp = (x >> 23) & 0xffu;
    uint32_t man = x & 0x7fffffu;
    if (exp == 0xff) /* inf or NaN (keep NaN quiet) */
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) { /* subnormal half or zero */
        if (e < -10)
            return (uint16_t)sign;
        man |= 0x800000u;
        int shift = 14 - e;
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (half & 1)))
        half++; /* may carry into the exponent, which is still correct */
    return (uint16_t)(sign | half);
}

float rg_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t x;
    if (exp == 0) {
        if (man == 0) {
            x = sign;
        } else { /* normalise a subnormal */
            int e = -1;
            do {
                man <<= 1;
                e++;
            } while (!(man & 0x400u));
            x = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        x = sign | 0x7f800000u | (man << 13);
    } else {
        x = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* murmur3's 32-bit finaliser: a cheap bijective mixer, identical in GLSL. */
uint32_t rg_hash32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    x *= 0xc2b2ae35u;
    x ^= x >> 16;
    return x;
}

float rg_sample_uniform(uint64_t seed, uint32_t step, uint32_t row) {
    uint32_t h = rg_hash32((uint32_t)seed ^ 0x9e3779b9u);
    h = rg_hash32(h ^ (uint32_t)(seed >> 32));
    h = rg_hash32(h ^ step);
    h = rg_hash32(h ^ row);
    return (float)(h >> 8) * (1.0f / 16777216.0f);
}

/* ------------------------------------------------------------------------ */
/* Devices                                                                  */
/* ------------------------------------------------------------------------ */

static bool env_is(const char *name, const char *value) {
    const char *v = getenv(name);
    return v && strcasecmp(v, value) == 0;
}

static rg_backend backend_from_env(rg_backend asked, char *errbuf, size_t errlen,
                                   bool *bad) {
    *bad = false;
    if (asked != RG_BACKEND_AUTO)
        return asked;
    const char *v = getenv("RESONANT_BACKEND");
    if (!v || !*v || strcasecmp(v, "auto") == 0)
        return RG_BACKEND_AUTO;
    if (strcasecmp(v, "cpu") == 0)
        return RG_BACKEND_CPU;
    if (strcasecmp(v, "vulkan") == 0)
        return RG_BACKEND_VULKAN;
    if (errbuf)
        snprintf(errbuf, errlen, "RESONANT_BACKEND='%s': expected vulkan, cpu or auto", v);
    *bad = true;
    return RG_BACKEND_AUTO;
}

rg_status rg_device_create(const rg_device_desc *desc, rg_device **out, char *errbuf,
                           size_t errlen) {
    if (!out)
        return RG_ERR_INVALID;
    *out = NULL;
    if (errbuf && errlen)
        errbuf[0] = 0;
    bool bad;
    rg_backend want = backend_from_env(desc ? desc->backend : RG_BACKEND_AUTO, errbuf,
                                       errlen, &bad);
    if (bad)
        return RG_ERR_INVALID;
    const char *devname = desc && desc->device ? desc->device : getenv("RESONANT_DEVICE");
    if (devname && !*devname)
        devname = NULL;

    rg_device *dev = calloc(1, sizeof *dev);
    if (!dev)
        return RG_ERR_OOM;
    dev->profile = env_is("RESONANT_PROFILE", "1");

    rg_status s = RG_ERR_NO_DEVICE;
    if (want == RG_BACKEND_VULKAN || want == RG_BACKEND_AUTO) {
        /* Auto mode skips CPU-type Vulkan devices (lavapipe) unless the user
         * named one: OpenBLAS on the same cores is ~100x faster. */
        s = rg_vk_open(dev, devname, want == RG_BACKEND_VULKAN || devname != NULL);
        if (s != RG_OK && want == RG_BACKEND_VULKAN) {
            if (errbuf)
                snprintf(errbuf, errlen, "vulkan backend: %s", dev->error);
            free(dev);
            return s;
        }
    }
    if (s != RG_OK) {
        dev->error[0] = 0;
        s = rg_cpu_open(dev);
        if (s != RG_OK) {
            if (errbuf)
                snprintf(errbuf, errlen, "cpu backend: %s", dev->error);
            free(dev);
            return s;
        }
    }
    dev->error[0] = 0;
    *out = dev;
    return RG_OK;
}

void rg_device_destroy(rg_device *dev) {
    if (!dev)
        return;
    while (dev->cmds)
        rg_cmd_destroy(dev->cmds);
    while (dev->buffers)
        rg_buffer_destroy(dev->buffers);
    if (dev->vt && dev->vt->destroy)
        dev->vt->destroy(dev);
    free(dev);
}

rg_backend rg_device_backend(const rg_device *dev) { return dev->kind; }
const char *rg_device_name(const rg_device *dev) { return dev->name; }
const char *rg_device_error(const rg_device *dev) { return dev->error; }
int rg_device_validation_count(const rg_device *dev) { return dev->validation_count; }

/* ------------------------------------------------------------------------ */
/* Buffers                                                                  */
/* ------------------------------------------------------------------------ */

rg_status rg_buffer_create(rg_device *dev, size_t bytes, rg_buffer **out) {
    if (!dev || !out)
        return RG_ERR_INVALID;
    *out = NULL;
    rg_buffer *b = calloc(1, sizeof *b);
    if (!b)
        return rg_fail(dev, RG_ERR_OOM, "out of host memory for a buffer record");
    b->dev = dev;
    b->size = bytes;
    rg_status s = dev->vt->buffer_create(dev, b);
    if (s != RG_OK) {
        free(b);
        return s;
    }
    b->next = dev->buffers;
    if (dev->buffers)
        dev->buffers->prev = b;
    dev->buffers = b;
    *out = b;
    return RG_OK;
}

void rg_buffer_destroy(rg_buffer *buf) {
    if (!buf)
        return;
    rg_device *dev = buf->dev;
    dev->vt->buffer_destroy(buf);
    if (buf->prev)
        buf->prev->next = buf->next;
    else
        dev->buffers = buf->next;
    if (buf->next)
        buf->next->prev = buf->prev;
    free(buf);
}

size_t rg_buffer_size(const rg_buffer *buf) { return buf->size; }

rg_status rg_buffer_write(rg_buffer *buf, size_t offset, const void *src, size_t bytes) {
    if (!buf || (!src && bytes))
        return RG_ERR_INVALID;
    if (offset > buf->size || bytes > buf->size - offset)
        return rg_fail(buf->dev, RG_ERR_INVALID, "buffer write of %zu bytes at %zu overruns %zu",
                       bytes, offset, buf->size);
    return bytes ? buf->dev->vt->buffer_write(buf, offset, src, bytes) : RG_OK;
}

rg_status rg_buffer_read(rg_buffer *buf, size_t offset, void *dst, size_t bytes) {
    if (!buf || (!dst && bytes))
        return RG_ERR_INVALID;
    if (offset > buf->size || bytes > buf->size - offset)
        return rg_fail(buf->dev, RG_ERR_INVALID, "buffer read of %zu bytes at %zu overruns %zu",
                       bytes, offset, buf->size);
    return bytes ? buf->dev->vt->buffer_read(buf, offset, dst, bytes) : RG_OK;
}

/* ------------------------------------------------------------------------ */
/* Tensors                                                                  */
/* ------------------------------------------------------------------------ */

static void set_packed_strides(rg_tensor *t) {
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        t->stride[i] = s;
        s *= t->shape[i];
    }
}

int64_t rg_tensor_numel(const rg_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

bool rg_tensor_is_contiguous(const rg_tensor *t) {
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != s)
            return false;
        s *= t->shape[i];
    }
    return true;
}

/* Bytes from element 0 to one past the furthest element (strides >= 0). */
static size_t tensor_extent(const rg_tensor *t) {
    int64_t last = 0;
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] == 0)
            return 0;
        last += (t->shape[i] - 1) * t->stride[i];
    }
    return (size_t)(last + 1) * rg_dtype_size(t->dtype);
}

static bool shape_ok(int ndim, const int64_t *shape) {
    if (ndim < 1 || ndim > RG_MAX_DIMS || !shape)
        return false;
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 1)
            return false;
    return true;
}

rg_tensor rg_tensor_view(rg_buffer *buf, size_t offset, rg_dtype dtype, int ndim,
                         const int64_t *shape) {
    rg_tensor t = {0};
    if (!buf || !shape_ok(ndim, shape) || rg_dtype_size(dtype) == 0)
        return t;
    t.offset = offset;
    t.dtype = dtype;
    t.ndim = ndim;
    memcpy(t.shape, shape, (size_t)ndim * sizeof *shape);
    set_packed_strides(&t);
    if (offset + tensor_extent(&t) <= buf->size)
        t.buf = buf;
    return t;
}

rg_status rg_tensor_create(rg_device *dev, rg_dtype dtype, int ndim, const int64_t *shape,
                           rg_tensor *out) {
    if (!dev || !out)
        return RG_ERR_INVALID;
    memset(out, 0, sizeof *out);
    if (!shape_ok(ndim, shape))
        return rg_fail(dev, RG_ERR_INVALID, "tensor shape: need 1..%d dims, each >= 1",
                       RG_MAX_DIMS);
    if (rg_dtype_size(dtype) == 0)
        return rg_fail(dev, RG_ERR_UNSUPPORTED, "dtype %s has no storage yet", dtype_name(dtype));
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    rg_buffer *buf;
    rg_status s = rg_buffer_create(dev, (size_t)n * rg_dtype_size(dtype), &buf);
    if (s != RG_OK)
        return s;
    *out = rg_tensor_view(buf, 0, dtype, ndim, shape);
    return RG_OK;
}

void rg_tensor_destroy(rg_tensor *t) {
    if (!t)
        return;
    rg_buffer_destroy(t->buf);
    memset(t, 0, sizeof *t);
}

rg_tensor rg_tensor_slice(rg_tensor t, int axis, int64_t start, int64_t len) {
    rg_tensor r = {0};
    if (!t.buf || axis < 0 || axis >= t.ndim || start < 0 || len < 1 ||
        start + len > t.shape[axis])
        return r;
    t.offset += (size_t)(start * t.stride[axis]) * rg_dtype_size(t.dtype);
    t.shape[axis] = len;
    return t;
}

rg_tensor rg_tensor_reshape(rg_tensor t, int ndim, const int64_t *shape) {
    rg_tensor r = {0};
    if (!t.buf || !rg_tensor_is_contiguous(&t) || !shape_ok(ndim, shape))
        return r;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    if (n != rg_tensor_numel(&t))
        return r;
    r = t;
    r.ndim = ndim;
    memset(r.shape, 0, sizeof r.shape);
    memcpy(r.shape, shape, (size_t)ndim * sizeof *shape);
    set_packed_strides(&r);
    return r;
}

rg_tensor rg_tensor_transpose(rg_tensor t, int axis0, int axis1) {
    rg_tensor r = {0};
    if (!t.buf || axis0 < 0 || axis1 < 0 || axis0 >= t.ndim || axis1 >= t.ndim)
        return r;
    int64_t s = t.shape[axis0], st = t.stride[axis0];
    t.shape[axis0] = t.shape[axis1];
    t.stride[axis0] = t.stride[axis1];
    t.shape[axis1] = s;
    t.stride[axis1] = st;
    return t;
}

static rg_status check_io_tensor(const rg_tensor *t) {
    if (!t || !t->buf)
        return RG_ERR_INVALID;
    if (!rg_tensor_is_contiguous(t))
        return rg_fail(t->buf->dev, RG_ERR_INVALID, "host transfer needs a contiguous tensor");
    return RG_OK;
}

rg_status rg_tensor_write(rg_tensor *t, const void *src) {
    rg_status s = check_io_tensor(t);
    if (s != RG_OK)
        return s;
    return rg_buffer_write(t->buf, t->offset,
                           src, (size_t)rg_tensor_numel(t) * rg_dtype_size(t->dtype));
}

rg_status rg_tensor_read(const rg_tensor *t, void *dst) {
    rg_status s = check_io_tensor(t);
    if (s != RG_OK)
        return s;
    return rg_buffer_read(t->buf, t->offset, dst,
                          (size_t)rg_tensor_numel(t) * rg_dtype_size(t->dtype));
}

rg_status rg_tensor_write_f32(rg_tensor *t, const float *src) {
    rg_status s = check_io_tensor(t);
    if (s != RG_OK)
        return s;
    if (t->dtype == RG_F32)
        return rg_tensor_write(t, src);
    if (t->dtype != RG_F16)
        return rg_fail(t->buf->dev, RG_ERR_INVALID, "write_f32 into a %s tensor",
                       dtype_name(t->dtype));
    int64_t n = rg_tensor_numel(t);
    uint16_t *h = malloc((size_t)n * 2);
    if (!h)
        return rg_fail(t->buf->dev, RG_ERR_OOM, "no host memory for f16 conversion");
    for (int64_t i = 0; i < n; i++)
        h[i] = rg_f32_to_f16(src[i]);
    s = rg_tensor_write(t, h);
    free(h);
    return s;
}

rg_status rg_tensor_read_f32(const rg_tensor *t, float *dst) {
    rg_status s = check_io_tensor(t);
    if (s != RG_OK)
        return s;
    if (t->dtype == RG_F32)
        return rg_tensor_read(t, dst);
    if (t->dtype != RG_F16)
        return rg_fail(t->buf->dev, RG_ERR_INVALID, "read_f32 from a %s tensor",
                       dtype_name(t->dtype));
    int64_t n = rg_tensor_numel(t);
    uint16_t *h = malloc((size_t)n * 2);
    if (!h)
        return rg_fail(t->buf->dev, RG_ERR_OOM, "no host memory for f16 conversion");
    s = rg_tensor_read(t, h);
    for (int64_t i = 0; s == RG_OK && i < n; i++)
        dst[i] = rg_f16_to_f32(h[i]);
    free(h);
    return s;
}

/* ------------------------------------------------------------------------ */
/* Command lists                                                            */
/* ------------------------------------------------------------------------ */

rg_status rg_cmd_create(rg_device *dev, rg_cmd **out) {
    if (!dev || !out)
        return RG_ERR_INVALID;
    *out = calloc(1, sizeof **out);
    if (!*out)
        return rg_fail(dev, RG_ERR_OOM, "out of host memory for a command list");
    (*out)->dev = dev;
    (*out)->next = dev->cmds;
    if (dev->cmds)
        dev->cmds->prev = *out;
    dev->cmds = *out;
    return RG_OK;
}

void rg_cmd_destroy(rg_cmd *cmd) {
    if (!cmd)
        return;
    if (cmd->submitted)
        rg_cmd_wait(cmd);
    if (cmd->dev->vt->cmd_release)
        cmd->dev->vt->cmd_release(cmd);
    if (cmd->prev)
        cmd->prev->next = cmd->next;
    else
        cmd->dev->cmds = cmd->next;
    if (cmd->next)
        cmd->next->prev = cmd->prev;
    free(cmd->ops);
    free(cmd);
}

void rg_cmd_reset(rg_cmd *cmd) {
    if (cmd->submitted)
        rg_cmd_wait(cmd);
    cmd->count = 0;
    cmd->sticky = RG_OK;
}

int rg_cmd_op_count(const rg_cmd *cmd) { return cmd->count; }

rg_status rg_cmd_submit(rg_cmd *cmd) {
    if (!cmd)
        return RG_ERR_INVALID;
    if (cmd->sticky != RG_OK)
        return cmd->sticky;
    if (cmd->submitted)
        return rg_fail(cmd->dev, RG_ERR_INVALID, "command list submitted twice without a wait");
    rg_status s = cmd->dev->vt->cmd_submit(cmd);
    cmd->submitted = (s == RG_OK);
    return s;
}

rg_status rg_cmd_wait(rg_cmd *cmd) {
    if (!cmd)
        return RG_ERR_INVALID;
    if (!cmd->submitted)
        return RG_OK;
    cmd->submitted = false;
    return cmd->dev->vt->cmd_wait(cmd);
}

rg_status rg_cmd_run(rg_cmd *cmd) {
    rg_status s = rg_cmd_submit(cmd);
    return s == RG_OK ? rg_cmd_wait(cmd) : s;
}

/* ------------------------------------------------------------------------ */
/* Op validation helpers. Each returns false after setting the sticky error. */
/* ------------------------------------------------------------------------ */

typedef struct check {
    rg_cmd *cmd;
    const char *op;
} check;

static bool failv(check *c, rg_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool failv(check *c, rg_status s, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rg_fail(c->cmd->dev, s, "%s (op %d): %s", c->op, c->cmd->count, msg);
    if (c->cmd->sticky == RG_OK)
        c->cmd->sticky = s;
    return false;
}

static bool need_tensor(check *c, const char *what, const rg_tensor *t) {
    if (!t || !t->buf)
        return failv(c, RG_ERR_INVALID, "%s is missing or an invalid view", what);
    if (t->buf->dev != c->cmd->dev)
        return failv(c, RG_ERR_INVALID, "%s belongs to another device", what);
    if (t->ndim < 1 || t->ndim > RG_MAX_DIMS)
        return failv(c, RG_ERR_INVALID, "%s has %d dims", what, t->ndim);
    if (rg_dtype_size(t->dtype) == 0)
        return failv(c, RG_ERR_UNSUPPORTED, "%s: dtype %s is not supported by any op yet", what,
                     dtype_name(t->dtype));
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] < 1 || t->stride[i] < 0)
            return failv(c, RG_ERR_INVALID, "%s dim %d: shape %lld stride %lld", what, i,
                         (long long)t->shape[i], (long long)t->stride[i]);
    if (t->offset % rg_dtype_size(t->dtype) != 0)
        return failv(c, RG_ERR_INVALID, "%s offset %zu is not aligned to its dtype", what,
                     t->offset);
    if (t->offset + tensor_extent(t) > t->buf->size)
        return failv(c, RG_ERR_INVALID, "%s runs past the end of its buffer", what);
    return true;
}

static bool need_dtype(check *c, const char *what, const rg_tensor *t, bool f32, bool f16,
                       bool i32) {
    bool ok = (t->dtype == RG_F32 && f32) || (t->dtype == RG_F16 && f16) ||
              (t->dtype == RG_I32 && i32);
    return ok ? true : failv(c, RG_ERR_INVALID, "%s: dtype %s not accepted", what,
                             dtype_name(t->dtype));
}

/* A contiguous f32 tensor (activations). */
static bool need_f32(check *c, const char *what, const rg_tensor *t) {
    if (!need_tensor(c, what, t) || !need_dtype(c, what, t, true, false, false))
        return false;
    return rg_tensor_is_contiguous(t) ? true
                                      : failv(c, RG_ERR_INVALID, "%s must be contiguous", what);
}

/* A contiguous f32 or f16 tensor (weights). */
static bool need_weight(check *c, const char *what, const rg_tensor *t) {
    if (!need_tensor(c, what, t) || !need_dtype(c, what, t, true, true, false))
        return false;
    return rg_tensor_is_contiguous(t) ? true
                                      : failv(c, RG_ERR_INVALID, "%s must be contiguous", what);
}

static bool need_numel(check *c, const char *what, const rg_tensor *t, int64_t n) {
    int64_t got = rg_tensor_numel(t);
    return got == n ? true
                    : failv(c, RG_ERR_INVALID, "%s has %lld elements, expected %lld", what,
                            (long long)got, (long long)n);
}

static bool need_dim(check *c, const char *what, const rg_tensor *t, int axis, int64_t n) {
    int a = axis < 0 ? t->ndim + axis : axis;
    if (a < 0 || a >= t->ndim)
        return failv(c, RG_ERR_INVALID, "%s lacks dim %d", what, axis);
    return t->shape[a] == n ? true
                            : failv(c, RG_ERR_INVALID, "%s dim %d is %lld, expected %lld", what,
                                    axis, (long long)t->shape[a], (long long)n);
}

static bool same_shape(const rg_tensor *a, const rg_tensor *b) {
    if (a->ndim != b->ndim)
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return false;
    return true;
}

static rg_op *push_op(check *c, rg_op_kind kind) {
    rg_cmd *cmd = c->cmd;
    if (cmd->count == cmd->cap) {
        int cap = cmd->cap ? cmd->cap * 2 : 64;
        rg_op *ops = realloc(cmd->ops, (size_t)cap * sizeof *ops);
        if (!ops) {
            failv(c, RG_ERR_OOM, "out of host memory for the op list");
            return NULL;
        }
        cmd->ops = ops;
        cmd->cap = cap;
    }
    rg_op *op = &cmd->ops[cmd->count++];
    memset(op, 0, sizeof *op);
    op->kind = kind;
    return op;
}

/* Common prologue: refuse to record into a list that is running. */
static bool begin(check *c, rg_cmd *cmd, const char *name) {
    c->cmd = cmd;
    c->op = name;
    if (cmd->submitted)
        return failv(c, RG_ERR_INVALID, "recording into a submitted command list");
    return true;
}

#define OPT(t) ((t) ? *(t) : (rg_tensor){0})
#define DONE(c) ((c).cmd->sticky == RG_OK ? RG_OK : (c).cmd->sticky)
#define FAILED(c) ((c).cmd->sticky != RG_OK ? (c).cmd->sticky : RG_ERR_INVALID)

/* ------------------------------------------------------------------------ */
/* Ops                                                                      */
/* ------------------------------------------------------------------------ */

rg_status rg_op_matmul(rg_cmd *cmd, const rg_tensor *a, const rg_tensor *w,
                       const rg_tensor *bias, const rg_tensor *out, bool trans_w) {
    check c;
    if (!cmd || !begin(&c, cmd, "matmul"))
        return cmd ? FAILED(c) : RG_ERR_INVALID;
    if (!need_f32(&c, "a", a) || !need_weight(&c, "w", w) || !need_f32(&c, "out", out))
        return FAILED(c);
    int64_t k = a->shape[a->ndim - 1];
    int64_t m = a->ndim >= 2 ? a->shape[a->ndim - 2] : 1;
    int64_t batch = rg_tensor_numel(a) / (m * k);
    if (w->ndim != 2 && w->ndim != 3)
        return failv(&c, RG_ERR_INVALID, "w must be 2-D or 3-D"), FAILED(c);
    bool w_batched = w->ndim == 3;
    if (w_batched && !need_dim(&c, "w", w, 0, batch))
        return FAILED(c);
    int64_t wk = trans_w ? w->shape[w->ndim - 1] : w->shape[w->ndim - 2];
    int64_t n = trans_w ? w->shape[w->ndim - 2] : w->shape[w->ndim - 1];
    if (wk != k)
        return failv(&c, RG_ERR_INVALID, "a has K=%lld but w has K=%lld", (long long)k,
                     (long long)wk), FAILED(c);
    if (!need_dim(&c, "out", out, -1, n) || !need_numel(&c, "out", out, batch * m * n))
        return FAILED(c);
    if (bias && (!need_f32(&c, "bias", bias) || !need_numel(&c, "bias", bias, n)))
        return FAILED(c);
    rg_op *op = push_op(&c, RG_OP_MATMUL);
    if (!op)
        return FAILED(c);
    op->t[MM_A] = *a;
    op->t[MM_W] = *w;
    op->t[MM_BIAS] = OPT(bias);
    op->t[MM_OUT] = *out;
    op->p.mm.trans_w = trans_w;
    op->p.mm.w_batched = w_batched;
    op->p.mm.batch = batch;
    op->p.mm.m = m;
    op->p.mm.n = n;
    op->p.mm.k = k;
    return RG_OK;
}

rg_status rg_op_binary(rg_cmd *cmd, rg_binary bop, const rg_tensor *a, const rg_tensor *b,
                       const rg_tensor *out) {
    check c;
    if (!cmd || !begin(&c, cmd, "binary"))
        return cmd ? FAILED(c) : RG_ERR_INVALID;
    if (!need_f32(&c, "a", a) || !need_f32(&c, "b", b) || !need_f32(&c, "out", out))
        return FAILED(c);
    if (bop != RG_BINARY_ADD && bop != RG_BINARY_MUL)
        return failv(&c, RG_ERR_INVALID, "unknown binary op %d", (int)bop), FAILED(c);
    int64_t na = rg_tensor_numel(a), nb = rg_tensor_numel(b);
    if (na % nb != 0)
        return failv(&c, RG_ERR_INVALID, "numel(a)=%lld is not a multiple of numel(b)=%lld",
                     (long long)na, (long long)nb), FAILED(c);
    if (!need_numel(&c, "out", out, na))
        return FAILED(c);
    rg_op *op = push_op(&c, RG_OP_BINARY);
    if (!op)
        return FAILED(c);
    op->t[BIN_A] = *a;
    op->t[BIN_B] = *b;
    op->t[BIN_OUT] = *out;
    op->p.bin.op = bop;
    return RG_OK;
}

rg_status rg_op_add(rg_cmd *cmd, const rg_tensor *a, const rg_tensor *b, const rg_tensor *out) {
    return rg_op_binary(cmd, RG_BINARY_ADD, a, b, out);
}

rg_status rg_op_mul(rg_cmd *cmd, const rg_tensor *a, const rg_tensor *b, const rg_tensor *out) {
    return rg_op_binary(cmd, RG_BINARY_MUL, a, b, out);
}

static rg_status record_unary(rg_cmd *cmd, const char *name, rg_op_kind kind,
                              const rg_tensor *a, const rg_tensor *out, rg_op **opp) {
    check c;
    if (!cmd || !begin(&c, cmd, name))
        return cmd ? FAILED(c) : RG_ERR_INVALID;
    if (!need_f32(&c, "a", a) || !need_f32(&c, "out", out) ||
        !need_numel(&c, "out", out, rg_tensor_numel(a)))
        return FAILED(c);
    rg_op *op = push_op(&c, kind);
    if (!op)
        return FAILED(c);
    op->t[UN_A] = *a;
    op->t[UN_OUT] = *out;
    *opp = op;
    return RG_OK;
}

rg_status rg_op_scale(rg_cmd *cmd, const rg_tensor *a, float scale, float shift,
                      const rg_tensor *out) {
    rg_op *op;
    rg_status s = record_unary(cmd, "scale", RG_OP_SCALE, a, out, &op);
    if (s == RG_OK) {
        op->p.scale.scale = scale;
        op->p.scale.shift = shift;
    }
    return s;
}

rg_status rg_op_unary(rg_cmd *cmd, rg_unary f, float param, const rg_tensor *a,
                      const rg_tensor *out) {
    if (cmd && ((int)f < RG_UNARY_GELU || f > RG_UNARY_SIGMOID)) {
        check c;
        begin(&c, cmd, "unary");
        return failv(&c, RG_ERR_INVALID, "unknown unary function %d", (int)f), FAILED(c);
    }
    rg_op *op;
    rg_status s = record_unary(cmd, "unary", RG_OP_UNARY, a, out, &op);
    if (s == RG_OK) {
        op->p.un.f = f;
        op->p.un.param = param;
    }
    return s;
}

static rg_status record_norm(rg_cmd *cmd, const char *name, rg_op_kind kind,
                             const rg_tensor *x, const rg_tensor *w, const rg_tensor *b,
                             float eps, const rg_tensor *out) {
    check c;
    if (!cmd || !begin(&c, cmd, name))
        return cmd ? FAILED(c) : RG_ERR_INVALID;
    if (!need_f32(&c, "x", x) || !need_f32(&c, "out", out) || !same_shape(x, out))
        return c.cmd->sticky != RG_OK
                   ? c.cmd->sticky
                   : (failv(&c, RG_ERR_INVALID, "out must have x's shape"), FAILED(c));
    int64_t cols = x->shape[x->ndim - 1];
    if (w && (!need_f32(&c, "weight", w) || !need_numel(&c, "weight", w, cols)))
        return FAILED(c);
    if (b && (!need_f32(&c, "bias", b) || !need_numel(&c, "bias", b, cols)))
        return FAILED(c);
    rg_op *op = push_op(&c, kind);
    if (!op)
        return FAILED(c);
    op->t[NORM_X] = *x;
    op->t[NORM_W] = OPT(w);
    op->t[NORM_B] = OPT(b);
    op->t[NORM_OUT] = *out;
    op->p.norm.eps = eps;
    op->p.norm.cols = cols;
    op->p.norm.rows = rg_tensor_numel(x) / cols;
    return RG_OK;
}

rg_status rg_op_layer_norm(rg_cmd *cmd, const rg_tensor *x, const rg_tensor *weight,
                           const rg_tensor *bias, float eps, const rg_tensor *out) {
    return record_norm(cmd, "layer_norm", RG_OP_LAYER_NORM, x, weight, bias, eps, out);
}

rg_status rg_op_rms_norm(rg_cmd *cmd, const rg_tensor *x, const rg_tensor *weight, float eps,
                         const rg_tensor *out) {
    return record_norm(cmd, "rms_norm", RG_OP_RMS_NORM, x, weight, NULL, eps, out);
}

rg_status rg_op_softmax(rg_cmd *cmd, const rg_tensor *x, const rg_tensor *out) {
    return record_norm(cmd, "softmax", RG_OP_SOFTMAX, x, NULL, NULL, 0.0f, out);
}

rg_status rg_op_embedding(rg_cmd *cmd, const rg_tensor *table, const rg_tensor *ids,
                          const rg_tensor *out, bool accumulate) {
    check c;
    if (!cmd || !begin(&c, cmd, "embedding"))
        return cmd ? FAILED(c) : RG_ERR_INVALID;
    if (!need_weight(&c, "table", table) || !need_tensor(&c, "ids", ids) ||
        !need_dtype(&c, "ids", ids, false, false, true) || !need_f32(&c, "out", out))
        return FAILED(c);
    if (table->ndim != 2)
        return failv(&c, RG_ERR_INVALID, "table must be [V, D]"), FAILED(c);
    if (!rg_tensor_is_contiguous(ids))
        return failv(&c, RG_ERR_INVALID, "ids must be contiguous"), FAILED(c);
    if (!need_dim(&c, "out", out, -1, table->shape[1]) ||
        !need_numel(&c, "out", out, rg_tensor_numel(ids) * table->shape[1]))
        return FAILED(c);
    rg_op *op = push_op(&c, RG_OP_EMBEDDING);
    if (!op)
        return FAILED(c);
    op->t[EMB_TABLE] = *table;
    op->t[EMB_IDS] = *ids;
    op->t[EMB_OUT] = *out;
    op->p.emb.accumulate = accumulate;
    return RG_OK;
}

rg_status rg_op_copy(rg_cmd *cmd, const rg_tensor *src, const rg_tensor *dst) {
    check c;
    if (!cmd || !begin(&c, cmd, "copy"))
        return cmd ? FAILED(c) : RG_ERR_INVALID;
    if (!need_tensor(&c, "src", src) || !need_tensor(&c, "dst", dst) ||
        !need_dtype(&c, "src", src, true, true, true) ||
        !need_dtype(&c, "dst", dst, true, true, true))
        return FAILED(c);
    if (!same_shape(src, dst))
        return failv(&c, RG_ERR_INVALID, "src and dst shapes differ"), FAILED(c);
    if ((src->dtype == RG_I32) != (dst->dtype == RG_I32))
        return failv(&c, RG_ERR_INVALID, "i32 copies only to i32"), FAILED(c);
    rg_op *op = push_op(&c, RG_OP_COPY);
    if (!op)
        return FAILED(c);
    op->t[CPY_SRC] = *src;
    op->t[CPY_DST] = *dst;
    return RG_OK;
}

rg_status rg_op_concat(rg_cmd *cmd, const rg_tensor *a, const rg_tensor *b, int axis,
                       const rg_tensor *out) {
    check c;
    if (!cmd || !begin(&c, cmd, "concat"))
        return cmd ? FAILED(c) : RG_ERR_INVALID;
    if (!need_tensor(&c, "a", a) || !need_tensor(&c, "b", b) || !need_tensor(&c, "out", out))
        return FAILED(c);
    if (axis < 0 || axis >= out->ndim || a->ndim != out->ndim || b->ndim != out->ndim)
        return failv(&c, RG_ERR_INVALID, "bad axis %d or ranks", axis), FAILED(c);
    rg_tensor lo = rg_tensor_slice(*out, axis, 0, a->shape[axis]);
    rg_tensor hi = rg_tensor_slice(*out, axis, a->shape[axis], b->shape[axis]);
    if (!lo.buf || !hi.buf || a->shape[axis] + b->shape[axis] != out->shape[axis])
        return failv(&c, RG_ERR_INVALID, "out's axis %d is not a's plus b's", axis), FAILED(c);
    rg_status s = rg_op_copy(cmd, a, &lo);
    return s == RG_OK ? rg_op_copy(cmd, b, &hi) : s;
}

/* [C, L] or [B, C, L] -> batch, channels, length. */
static bool signal_dims(check *c, const char *what, const rg_tensor *t, int64_t *b,
                        int64_t *ch, int64_t *len) {
    if (t->ndim != 2 && t->ndim != 3)
        return failv(c, RG_ERR_INVALID, "%s must be [C, L] or [B, C, L]", what);
    *b = t->ndim == 3 ? t->shape[0] : 1;
    *ch = t->shape[t->ndim - 2];
    *len = t->shape[t->ndim - 1];
    return true;
}

rg_status rg_op_conv1d(rg_cmd *cmd, const rg_tensor *x, const rg_tensor *w,
                       const rg_tensor *bias, const rg_tensor *out,
                       const rg_conv1d_params *p) {
    check c;
    if (!cmd || !begin(&c, cmd, "conv1d"))
        return cmd ? FAILED(c) : RG_ERR_INVALID;
    if (!p)
        return failv(&c, RG_ERR_INVALID, "no params"), FAILED(c);
    if (!need_f32(&c, "x", x) || !need_weight(&c, "w", w) || !need_f32(&c, "out", out))
        return FAILED(c);
    int64_t b = 0, cin = 0, lin = 0, ob = 0, cout = 0, lout = 0;
    if (!signal_dims(&c, "x", x, &b, &cin, &lin) || !signal_dims(&c, "out", out, &ob, &cout, &lout))
        return FAILED(c);
    if (w->ndim != 3 || w->shape[1] != cin || w->shape[0] != cout || ob != b)
        return failv(&c, RG_ERR_INVALID, "w must be [Cout=%lld, Cin=%lld, K]",
                     (long long)cout, (long long)cin), FAILED(c);
    if (p->stride < 1 || p->dilation < 1 || p->pad_left < 0 || p->pad_right < 0 ||
        (p->pad_mode != RG_PAD_ZERO && p->pad_mode != RG_PAD_REFLECT))
        return failv(&c, RG_ERR_INVALID, "bad stride/dilation/padding"), FAILED(c);
    if (p->pad_mode == RG_PAD_REFLECT && (p->pad_left >= lin || p->pad_right >= lin))
        return failv(&c, RG_ERR_INVALID, "reflect padding %d/%d needs length > pad (L=%lld)",
                     p->pad_left, p->pad_right, (long long)lin), FAILED(c);
    int64_t k = w->shape[2];
    int64_t span = lin + p->pad_left + p->pad_right - (int64_t)p->dilation * (k - 1) - 1;
    int64_t want = span < 0 ? 0 : span / p->stride + 1;
    if (want < 1 || lout != want)
        return failv(&c, RG_ERR_INVALID, "out length %lld, expected %lld", (long long)lout,
                     (long long)want), FAILED(c);
    if (bias && (!need_f32(&c, "bias", bias) || !need_numel(&c, "bias", bias, cout)))
        return FAILED(c);
    rg_op *op = push_op(&c, RG_OP_CONV1D);
    if (!op)
        return FAILED(c);
    op->t[CONV_X] = *x;
    op->t[CONV_W] = *w;
    op->t[CONV_BIAS] = OPT(bias);
    op->t[CONV_OUT] = *out;
    op->p.conv.p = *p;
    op->p.conv.batch = b;
    op->p.conv.cin = cin;
    op->p.conv.cout = cout;
    op->p.conv.k = k;
    op->p.conv.lin = lin;
    op->p.conv.lout = lout;
    return RG_OK;
}

rg_status rg_op_conv_transpose1d(rg_cmd *cmd, const rg_tensor *x, const rg_tensor *w,
                                 const rg_tensor *bias, const rg_tensor *out, int stride,
                                 int trim_left, int trim_right) {
    check c;
    if (!cmd || !begin(&c, cmd, "conv_transpose1d"))
        return cmd ? FAILED(c) : RG_ERR_INVALID;
    if (!need_f32(&c, "x", x) || !need_weight(&c, "w", w) || !need_f32(&c, "out", out))
        return FAILED(c);
    int64_t b = 0, cin = 0, lin = 0, ob = 0, cout = 0, lout = 0;
    if (!signal_dims(&c, "x", x, &b, &cin, &lin) || !signal_dims(&c, "out", out, &ob, &cout, &lout))
        return FAILED(c);
    if (w->ndim != 3 || w->shape[0] != cin || w->shape[1] != cout || ob != b)
        return failv(&c, RG_ERR_INVALID, "w must be [Cin=%lld, Cout=%lld, K]",
                     (long long)cin, (long long)cout), FAILED(c);
    if (stride < 1 || trim_left < 0 || trim_right < 0)
        return failv(&c, RG_ERR_INVALID, "bad stride or trim"), FAILED(c);
    int64_t k = w->shape[2];
    int64_t want = (lin - 1) * stride + k - trim_left - trim_right;
    if (want < 1 || lout != want)
        return failv(&c, RG_ERR_INVALID, "out length %lld, expected %lld", (long long)lout,
                     (long long)want), FAILED(c);
    if (bias && (!need_f32(&c, "bias", bias) || !need_numel(&c, "bias", bias, cout)))
        return FAILED(c);
    rg_op *op = push_op(&c, RG_OP_CONV_T1D);
    if (!op)
        return FAILED(c);
    op->t[CONV_X] = *x;
    op->t[CONV_W] = *w;
    op->t[CONV_BIAS] = OPT(bias);
    op->t[CONV_OUT] = *out;
    op->p.convt.stride = stride;
    op->p.convt.trim_left = trim_left;
    op->p.convt.trim_right = trim_right;
    op->p.convt.batch = b;
    op->p.convt.cin = cin;
    op->p.convt.cout = cout;
    op->p.convt.k = k;
    op->p.convt.lin = lin;
    op->p.convt.lout = lout;
    return RG_OK;
}

rg_status rg_op_lstm(rg_cmd *cmd, const rg_tensor *x, const rg_tensor *w_ih,
                     const rg_tensor *w_hh, const rg_tensor *b_ih, const rg_tensor *b_hh,
                     const rg_tensor *h, const rg_tensor *c_state, const rg_tensor *scratch,
                     const rg_tensor *out) {
    check c;
    if (!cmd || !begin(&c, cmd, "lstm"))
        return cmd ? FAILED(c) : RG_ERR_INVALID;
    if (!need_f32(&c, "x", x) || !need_weight(&c, "w_ih", w_ih) ||
        !need_weight(&c, "w_hh", w_hh) || !need_f32(&c, "scratch", scratch) ||
        !need_f32(&c, "out", out))
        return FAILED(c);
    if (x->ndim != 2 || w_ih->ndim != 2 || w_hh->ndim != 2)
        return failv(&c, RG_ERR_INVALID, "x, w_ih and w_hh must be 2-D"), FAILED(c);
    int64_t t = x->shape[0], in = x->shape[1], hid = w_hh->shape[1];
    if (!need_dim(&c, "w_ih", w_ih, 0, 4 * hid) || !need_dim(&c, "w_ih", w_ih, 1, in) ||
        !need_dim(&c, "w_hh", w_hh, 0, 4 * hid) || !need_dim(&c, "out", out, -1, hid) ||
        !need_numel(&c, "out", out, t * hid))
        return FAILED(c);
    if (rg_tensor_numel(scratch) < 4 * t * hid)
        return failv(&c, RG_ERR_INVALID, "scratch needs %lld elements",
                     (long long)(4 * t * hid)), FAILED(c);
    if (b_ih && (!need_f32(&c, "b_ih", b_ih) || !need_numel(&c, "b_ih", b_ih, 4 * hid)))
        return FAILED(c);
    if (b_hh && (!need_f32(&c, "b_hh", b_hh) || !need_numel(&c, "b_hh", b_hh, 4 * hid)))
        return FAILED(c);
    if ((h == NULL) != (c_state == NULL))
        return failv(&c, RG_ERR_INVALID, "give both h and c, or neither"), FAILED(c);
    if (h && (!need_f32(&c, "h", h) || !need_numel(&c, "h", h, hid) ||
              !need_f32(&c, "c", c_state) || !need_numel(&c, "c", c_state, hid)))
        return FAILED(c);
    rg_op *op = push_op(&c, RG_OP_LSTM);
    if (!op)
        return FAILED(c);
    op->t[LSTM_X] = *x;
    op->t[LSTM_WIH] = *w_ih;
    op->t[LSTM_WHH] = *w_hh;
    op->t[LSTM_BIH] = OPT(b_ih);
    op->t[LSTM_BHH] = OPT(b_hh);
    op->t[LSTM_H] = OPT(h);
    op->t[LSTM_C] = OPT(c_state);
    op->t[LSTM_SCRATCH] = *scratch;
    op->t[LSTM_OUT] = *out;
    return RG_OK;
}

static bool need_4d_rows(check *c, const char *what, const rg_tensor *t) {
    if (!need_tensor(c, what, t) || !need_dtype(c, what, t, true, false, false))
        return false;
    if (t->ndim != 4)
        return failv(c, RG_ERR_INVALID, "%s must be 4-D [B, H, T, D]", what);
    if (t->stride[3] != 1 && t->shape[3] != 1)
        return failv(c, RG_ERR_INVALID, "%s: last dim must be contiguous", what);
    return t->shape[2] == 1 || t->stride[2] >= t->shape[3]
               ? true
               : failv(c, RG_ERR_INVALID, "%s: rows overlap (stride[2] < D)", what);
}

rg_status rg_op_attention(rg_cmd *cmd, const rg_tensor *q, const rg_tensor *k,
                          const rg_tensor *v, const rg_tensor *bias, const rg_tensor *out,
                          const rg_attention_params *p) {
    check c;
    if (!cmd || !begin(&c, cmd, "attention"))
        return cmd ? FAILED(c) : RG_ERR_INVALID;
    if (!p)
        return failv(&c, RG_ERR_INVALID, "no params"), FAILED(c);
    if (!need_4d_rows(&c, "q", q) || !need_4d_rows(&c, "k", k) || !need_4d_rows(&c, "v", v) ||
        !need_4d_rows(&c, "out", out))
        return FAILED(c);
    int64_t b = q->shape[0], h = q->shape[1], tq = q->shape[2], d = q->shape[3];
    int64_t tk = k->shape[2];
    int64_t want_k[4] = {b, h, tk, d}, want_q[4] = {b, h, tq, d};
    for (int i = 0; i < 4; i++)
        if (k->shape[i] != want_k[i] || v->shape[i] != want_k[i] || out->shape[i] != want_q[i])
            return failv(&c, RG_ERR_INVALID, "k, v must be [B,H,Tk,D], out [B,H,Tq,D]"),
                   FAILED(c);
    if (p->causal && tq > tk)
        return failv(&c, RG_ERR_INVALID, "causal attention needs Tq <= Tk"), FAILED(c);
    if (bias) {
        if (!need_tensor(&c, "bias", bias) || !need_dtype(&c, "bias", bias, true, false, false))
            return FAILED(c);
        int64_t want_b[4] = {b, h, tq, tk};
        if (bias->ndim != 4)
            return failv(&c, RG_ERR_INVALID, "bias must be 4-D"), FAILED(c);
        for (int i = 0; i < 4; i++)
            if (bias->shape[i] != want_b[i])
                return failv(&c, RG_ERR_INVALID, "bias must be [B,H,Tq,Tk]"), FAILED(c);
    }
    rg_op *op = push_op(&c, RG_OP_ATTENTION);
    if (!op)
        return FAILED(c);
    op->t[ATT_Q] = *q;
    op->t[ATT_K] = *k;
    op->t[ATT_V] = *v;
    op->t[ATT_BIAS] = OPT(bias);
    op->t[ATT_OUT] = *out;
    op->p.att = *p;
    return RG_OK;
}

static bool need_2d_any(check *c, const char *what, const rg_tensor *t) {
    if (!need_tensor(c, what, t) || !need_dtype(c, what, t, true, false, false))
        return false;
    return t->ndim == 2 ? true : failv(c, RG_ERR_INVALID, "%s must be 2-D [T, D]", what);
}

static bool check_rvq(check *c, const rg_tensor *x, const rg_tensor *cb, const rg_tensor *codes) {
    if (!need_2d_any(c, "x", x) || !need_weight(c, "codebooks", cb) ||
        !need_tensor(c, "codes", codes) || !need_dtype(c, "codes", codes, false, false, true))
        return false;
    if (cb->ndim != 3)
        return failv(c, RG_ERR_INVALID, "codebooks must be [Q, N, D]");
    if (codes->ndim != 2 || !rg_tensor_is_contiguous(codes))
        return failv(c, RG_ERR_INVALID, "codes must be contiguous [Q, T]");
    if (codes->shape[0] > cb->shape[0])
        return failv(c, RG_ERR_INVALID, "codes has %lld codebooks, only %lld exist",
                     (long long)codes->shape[0], (long long)cb->shape[0]);
    return need_dim(c, "codes", codes, 1, x->shape[0]) && need_dim(c, "x", x, 1, cb->shape[2]);
}

/* Encode and decode take the same three tensors, in opposite directions. */
static rg_status record_rvq(rg_cmd *cmd, const char *name, rg_op_kind kind, const rg_tensor *x,
                            const rg_tensor *codebooks, const rg_tensor *codes) {
    check c;
    if (!cmd || !begin(&c, cmd, name))
        return cmd ? FAILED(c) : RG_ERR_INVALID;
    if (!check_rvq(&c, x, codebooks, codes))
        return FAILED(c);
    rg_op *op = push_op(&c, kind);
    if (!op)
        return FAILED(c);
    op->t[RVQ_X] = *x;
    op->t[RVQ_CB] = *codebooks;
    op->t[RVQ_CODES] = *codes;
    return RG_OK;
}

rg_status rg_op_rvq_encode(rg_cmd *cmd, const rg_tensor *x, const rg_tensor *codebooks,
                           const rg_tensor *codes) {
    return record_rvq(cmd, "rvq_encode", RG_OP_RVQ_ENCODE, x, codebooks, codes);
}

rg_status rg_op_rvq_decode(rg_cmd *cmd, const rg_tensor *codes, const rg_tensor *codebooks,
                           const rg_tensor *out) {
    return record_rvq(cmd, "rvq_decode", RG_OP_RVQ_DECODE, out, codebooks, codes);
}

rg_status rg_op_sample(rg_cmd *cmd, const rg_tensor *logits, const rg_tensor *ids,
                       const rg_sample_params *p) {
    check c;
    if (!cmd || !begin(&c, cmd, "sample"))
        return cmd ? FAILED(c) : RG_ERR_INVALID;
    if (!p)
        return failv(&c, RG_ERR_INVALID, "no params"), FAILED(c);
    if (!need_f32(&c, "logits", logits) || !need_tensor(&c, "ids", ids) ||
        !need_dtype(&c, "ids", ids, false, false, true))
        return FAILED(c);
    if (logits->ndim > 2)
        return failv(&c, RG_ERR_INVALID, "logits must be [R, V] or [V]"), FAILED(c);
    int64_t rows = logits->ndim == 2 ? logits->shape[0] : 1;
    if (!rg_tensor_is_contiguous(ids) || !need_numel(&c, "ids", ids, rows))
        return FAILED(c);
    if (p->top_k < 0)
        return failv(&c, RG_ERR_INVALID, "top_k < 0"), FAILED(c);
    rg_op *op = push_op(&c, RG_OP_SAMPLE);
    if (!op)
        return FAILED(c);
    op->t[SMP_LOGITS] = *logits;
    op->t[SMP_IDS] = *ids;
    op->p.sample = *p;
    return RG_OK;
}

/* The optional f0 track of rg_op_harmonic: f32 [T], any stride. */
static bool need_f0_track(check *c, const rg_tensor *f0, int64_t t_len) {
    if (!f0)
        return true;
    if (!need_tensor(c, "f0", f0) || !need_dtype(c, "f0", f0, true, false, false))
        return false;
    if (f0->ndim != 1 || f0->shape[0] != t_len)
        return failv(c, RG_ERR_INVALID, "f0 must be [%lld] like h's frames", (long long)t_len);
    return true;
}

rg_status rg_op_harmonic(rg_cmd *cmd, const rg_tensor *h, const rg_tensor *f0,
                         const rg_tensor *scratch, const rg_tensor *out,
                         const rg_harmonic_params *p) {
    check c;
    if (!cmd || !begin(&c, cmd, "harmonic"))
        return cmd ? FAILED(c) : RG_ERR_INVALID;
    if (!p)
        return failv(&c, RG_ERR_INVALID, "no params"), FAILED(c);
    if (!need_tensor(&c, "h", h) || !need_dtype(&c, "h", h, true, false, false) ||
        !need_f32(&c, "scratch", scratch) || !need_f32(&c, "out", out))
        return FAILED(c);
    if (h->ndim != 2 || h->shape[0] < 2)
        return failv(&c, RG_ERR_INVALID, "h must be [1+K, T] with K >= 1"), FAILED(c);
    int64_t bins = h->shape[0] - 1, t_len = h->shape[1];
    if (p->hop < 1 || !(p->sample_rate > 0) || !(p->f0_min > 0) || !(p->f0_max >= p->f0_min))
        return failv(&c, RG_ERR_INVALID, "hop %d, sample rate %g, f0 %g..%g", p->hop,
                     (double)p->sample_rate, (double)p->f0_min, (double)p->f0_max), FAILED(c);
    if (p->first_frame < 0 || p->first_frame >= t_len)
        return failv(&c, RG_ERR_INVALID, "first_frame %lld outside 0..%lld",
                     (long long)p->first_frame, (long long)(t_len - 1)), FAILED(c);
    if (rg_tensor_numel(scratch) < (bins + 2) * t_len)
        return failv(&c, RG_ERR_INVALID, "scratch needs %lld elements",
                     (long long)((bins + 2) * t_len)), FAILED(c);
    if (!need_numel(&c, "out", out, (t_len - p->first_frame) * p->hop) ||
        !need_f0_track(&c, f0, t_len))
        return FAILED(c);
    rg_op *op = push_op(&c, RG_OP_HARMONIC);
    if (!op)
        return FAILED(c);
    if (f0)
        op->t[HARM_F0] = *f0;
    op->t[HARM_H] = *h;
    op->t[HARM_SCRATCH] = *scratch;
    op->t[HARM_OUT] = *out;
    op->p.harm = *p;
    return RG_OK;
}
