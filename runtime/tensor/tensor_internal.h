/* Internal structures shared by the front end (tensor.c) and the backends.
 * Ops are validated and recorded backend-neutrally into rg_cmd; a backend
 * turns the list into work at submit time. */
#ifndef RESONANT_TENSOR_INTERNAL_H
#define RESONANT_TENSOR_INTERNAL_H

#include "runtime/tensor/tensor.h"

#include <stdarg.h>

typedef enum rg_op_kind {
    RG_OP_MATMUL,
    RG_OP_BINARY,
    RG_OP_SCALE,
    RG_OP_UNARY,
    RG_OP_LAYER_NORM,
    RG_OP_RMS_NORM,
    RG_OP_SOFTMAX,
    RG_OP_EMBEDDING,
    RG_OP_COPY,
    RG_OP_CONV1D,
    RG_OP_CONV_T1D,
    RG_OP_LSTM,
    RG_OP_ATTENTION,
    RG_OP_RVQ_ENCODE,
    RG_OP_RVQ_DECODE,
    RG_OP_SAMPLE,
    RG_OP_HARMONIC,
    RG_OP_KIND_COUNT
} rg_op_kind;

#define RG_OP_MAX_TENSORS 9

/* Tensor slots per op kind (t[] index). */
enum { MM_A, MM_W, MM_BIAS, MM_OUT };
enum { BIN_A, BIN_B, BIN_OUT };
enum { UN_A, UN_OUT };                         /* unary and scale */
enum { NORM_X, NORM_W, NORM_B, NORM_OUT };     /* layer/rms norm, softmax */
enum { EMB_TABLE, EMB_IDS, EMB_OUT };
enum { CPY_SRC, CPY_DST };
enum { CONV_X, CONV_W, CONV_BIAS, CONV_OUT };  /* conv1d and conv_transpose1d */
enum { LSTM_X, LSTM_WIH, LSTM_WHH, LSTM_BIH, LSTM_BHH, LSTM_H, LSTM_C, LSTM_SCRATCH, LSTM_OUT };
enum { ATT_Q, ATT_K, ATT_V, ATT_BIAS, ATT_OUT };
enum { RVQ_X, RVQ_CB, RVQ_CODES };             /* decode: X slot is the output */
enum { SMP_LOGITS, SMP_IDS };
enum { HARM_H, HARM_SCRATCH, HARM_OUT, HARM_F0 }; /* F0: buf NULL without a track */

typedef struct rg_op {
    rg_op_kind kind;
    rg_tensor t[RG_OP_MAX_TENSORS]; /* unused slots have buf == NULL */
    union {
        struct {
            bool trans_w, w_batched;
            int64_t batch, m, n, k;
        } mm;
        struct { rg_binary op; } bin;
        struct { float scale, shift; } scale;
        struct { rg_unary f; float param; } un;
        struct { float eps; int64_t rows, cols; } norm;
        struct { bool accumulate; } emb;
        struct {
            rg_conv1d_params p;
            int64_t batch, cin, cout, k, lin, lout;
        } conv;
        struct {
            int stride, trim_left, trim_right;
            int64_t batch, cin, cout, k, lin, lout;
        } convt;
        rg_attention_params att;
        rg_sample_params sample;
        rg_harmonic_params harm;
    } p;
} rg_op;

typedef struct rg_backend_vtable {
    const char *name;
    void (*destroy)(rg_device *dev);
    rg_status (*buffer_create)(rg_device *dev, rg_buffer *buf);
    void (*buffer_destroy)(rg_buffer *buf);
    rg_status (*buffer_write)(rg_buffer *buf, size_t off, const void *src, size_t n);
    rg_status (*buffer_read)(rg_buffer *buf, size_t off, void *dst, size_t n);
    rg_status (*cmd_submit)(rg_cmd *cmd);
    rg_status (*cmd_wait)(rg_cmd *cmd);
    void (*cmd_release)(rg_cmd *cmd); /* free backend state of a command list */
} rg_backend_vtable;

struct rg_buffer {
    rg_device *dev;
    size_t size;
    void *host;          /* CPU memory, or the mapped pointer if host-visible */
    void *impl;          /* backend data */
    rg_buffer *prev, *next;
};

struct rg_device {
    rg_backend kind;
    const rg_backend_vtable *vt;
    char name[256];
    char error[512];
    int validation_count;
    bool profile;
    rg_buffer *buffers; /* live buffers, released on destroy */
    rg_cmd *cmds;       /* live command lists, released on destroy */
    void *impl;         /* backend data */
};

struct rg_cmd {
    rg_device *dev;
    rg_op *ops;
    int count, cap;
    rg_status sticky;  /* first recording error */
    bool submitted;
    void *impl;        /* backend data */
    rg_cmd *prev, *next;
};

/* Record a message and return the status, so callers can `return rg_fail(...)`. */
rg_status rg_fail(rg_device *dev, rg_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Backend constructors. They fill dev->vt, dev->impl and dev->name. */
rg_status rg_cpu_open(rg_device *dev);
/* want: NULL or the RESONANT_DEVICE value. allow_cpu_type: accept CPU-type
 * devices (lavapipe) in auto selection. */
rg_status rg_vk_open(rg_device *dev, const char *want, bool allow_cpu_type);

/* Pointer to element 0 of t in host memory (CPU backend / mapped buffers). */
static inline void *rg_host_ptr(const rg_tensor *t) {
    return (char *)t->buf->host + t->offset;
}

/* Names of op kinds, for profiles and messages. */
const char *rg_op_name(rg_op_kind k);

/* Reference-free pieces both backends must agree on. */
uint32_t rg_hash32(uint32_t x);

#endif
