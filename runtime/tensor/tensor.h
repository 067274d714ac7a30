/*
 * ResonantGen tensor runtime: one op interface over two backends.
 *
 * A device is either a Vulkan GPU or the CPU (OpenBLAS). Buffers live on the
 * device; a tensor is a typed, strided view into a buffer (a plain value, cheap
 * to copy). Ops are recorded into a command list and run together by one
 * submit. Every function reports failure as an rg_status; the message is kept
 * by the device (rg_device_error). Nothing in the library exits or aborts.
 *
 * Layout conventions (row-major, PyTorch-like):
 *   - shape[0] is the outermost dimension; strides are in elements.
 *   - A Linear weight is [out, in] (use trans_w = 1 in rg_op_matmul).
 *   - 1-D signals are [channels, length] or [batch, channels, length].
 *   - Token ids and codes are RG_I32 tensors.
 * Unless a function says otherwise, its tensors must be contiguous and f32;
 * weights (matmul w, conv w, embedding tables, LSTM weights, codebooks) may be
 * f16. rg_op_copy makes a strided view contiguous or converts dtypes.
 *
 * Threads: a device and everything made from it is used by one thread at a
 * time (the worker that owns the queue). Different devices are independent.
 *
 * Environment:
 *   RESONANT_BACKEND=vulkan|cpu   force a backend (default: Vulkan if a
 *                                 non-CPU Vulkan GPU exists, else CPU)
 *   RESONANT_DEVICE=<n>|<name>    pick a Vulkan device by index or by a
 *                                 case-insensitive name substring
 *   RESONANT_VALIDATION=1         enable the Khronos validation layer and
 *                                 count its messages (rg_device_validation_count)
 *   RESONANT_PROFILE=1            print per-op GPU/CPU times to stderr after
 *                                 each command list finishes
 *   RESONANT_VK_MATMUL=tiled|direct|naive
 *                                 force a Vulkan matmul kernel (benchmarks)
 *   RESONANT_VULKAN_LOADER=<path> use another Vulkan loader library (tests)
 *   RESONANT_VK_STAGING=1         use staging copies even on host-visible
 *                                 memory (tests the discrete-GPU path)
 * See docs/tensor-runtime.md for the design and docs/performance.md for
 * measured speeds.
 */
#ifndef RESONANT_TENSOR_H
#define RESONANT_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Status, dtypes, backends                                                 */
/* ------------------------------------------------------------------------ */

typedef enum rg_status {
    RG_OK = 0,
    RG_ERR_INVALID = -1,     /* bad argument: shape, dtype, stride, NULL */
    RG_ERR_UNSUPPORTED = -2, /* valid, but this backend/device cannot do it */
    RG_ERR_NO_DEVICE = -3,   /* no backend could be created */
    RG_ERR_OOM = -4,         /* host or device allocation failed */
    RG_ERR_DEVICE_LOST = -5, /* the GPU was lost; the device is unusable */
    RG_ERR_BACKEND = -6,     /* any other backend failure (driver error, I/O) */
} rg_status;

typedef enum rg_dtype {
    RG_F32 = 0,
    RG_F16 = 1, /* IEEE half; storage only, math is done in f32 */
    RG_I32 = 2, /* token ids, codes */
    RG_Q8 = 3,  /* reserved for 8-bit quantised weights; not implemented */
} rg_dtype;

typedef enum rg_backend {
    RG_BACKEND_AUTO = 0, /* environment, then Vulkan GPU, then CPU */
    RG_BACKEND_CPU = 1,
    RG_BACKEND_VULKAN = 2,
} rg_backend;

#define RG_MAX_DIMS 4

typedef struct rg_device rg_device;
typedef struct rg_buffer rg_buffer;
typedef struct rg_cmd rg_cmd;

/* A typed, strided view into a buffer. A plain value: copying it does not
 * copy data. Fill it with the rg_tensor_* helpers rather than by hand, except
 * for stride tricks (a stride of 0 broadcasts a dimension). */
typedef struct rg_tensor {
    rg_buffer *buf;
    size_t offset; /* in bytes, from the start of buf */
    rg_dtype dtype;
    int ndim;
    int64_t shape[RG_MAX_DIMS];
    int64_t stride[RG_MAX_DIMS]; /* in elements */
} rg_tensor;

/* Short, stable name of a status ("ok", "out of memory", ...) for messages. */
const char *rg_status_name(rg_status s);
/* Bytes per element of a dtype (0 for RG_Q8, which has no fixed size yet). */
size_t rg_dtype_size(rg_dtype t);

/* ------------------------------------------------------------------------ */
/* Devices                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct rg_device_desc {
    rg_backend backend; /* RG_BACKEND_AUTO lets RESONANT_BACKEND decide */
    const char *device; /* Vulkan device index or name; NULL: RESONANT_DEVICE */
} rg_device_desc;

/* Open a device. desc may be NULL (auto). On failure *out is NULL and a
 * message is written to errbuf (if not NULL). A missing Vulkan loader or GPU
 * is not a failure in auto mode: the CPU backend is used. */
rg_status rg_device_create(const rg_device_desc *desc, rg_device **out,
                           char *errbuf, size_t errlen);
/* Close a device. Buffers and command lists still alive are released with
 * it (their handles become invalid). NULL is fine. */
void rg_device_destroy(rg_device *dev);
/* Which backend the device runs on (RG_BACKEND_CPU or RG_BACKEND_VULKAN). */
rg_backend rg_device_backend(const rg_device *dev);
/* Human-readable device name, e.g. "cpu (openblas)" or "llvmpipe (LLVM 15)". */
const char *rg_device_name(const rg_device *dev);
/* Message for the last failure on this device ("" if none). */
const char *rg_device_error(const rg_device *dev);
/* Number of validation-layer warnings and errors seen so far (0 without
 * RESONANT_VALIDATION=1 or on the CPU). Tests require it to stay 0. */
int rg_device_validation_count(const rg_device *dev);

/* ------------------------------------------------------------------------ */
/* Buffers (device memory)                                                  */
/* ------------------------------------------------------------------------ */

/* Allocate bytes of device memory (zero-filled). RG_ERR_OOM if it does not fit. */
rg_status rg_buffer_create(rg_device *dev, size_t bytes, rg_buffer **out);
/* Release a buffer. It must not be used by an unfinished command list. */
void rg_buffer_destroy(rg_buffer *buf);
/* Size in bytes as requested at creation. */
size_t rg_buffer_size(const rg_buffer *buf);
/* Copy host bytes into the buffer (synchronous; no command list in flight
 * may use this buffer). */
rg_status rg_buffer_write(rg_buffer *buf, size_t offset, const void *src, size_t bytes);
/* Copy buffer bytes to the host (synchronous). */
rg_status rg_buffer_read(rg_buffer *buf, size_t offset, void *dst, size_t bytes);

/* ------------------------------------------------------------------------ */
/* Tensors                                                                  */
/* ------------------------------------------------------------------------ */

/* Allocate a buffer of exactly the right size and return a contiguous,
 * zero-filled tensor over it. Free with rg_tensor_destroy. */
rg_status rg_tensor_create(rg_device *dev, rg_dtype dtype, int ndim,
                           const int64_t *shape, rg_tensor *out);
/* Destroy the buffer of a tensor made by rg_tensor_create and clear *t. */
void rg_tensor_destroy(rg_tensor *t);
/* A contiguous view of shape over buf starting at byte offset (no checks
 * beyond fitting in the buffer: buf == NULL in the result means it did not). */
rg_tensor rg_tensor_view(rg_buffer *buf, size_t offset, rg_dtype dtype, int ndim,
                         const int64_t *shape);
/* The view t[..., start:start+len, ...] along axis (no copy). */
rg_tensor rg_tensor_slice(rg_tensor t, int axis, int64_t start, int64_t len);
/* Same data, new shape; t must be contiguous (else result.buf == NULL). */
rg_tensor rg_tensor_reshape(rg_tensor t, int ndim, const int64_t *shape);
/* Swap two axes by swapping their strides (no copy). */
rg_tensor rg_tensor_transpose(rg_tensor t, int axis0, int axis1);
/* Number of elements. */
int64_t rg_tensor_numel(const rg_tensor *t);
/* True if the strides are the packed row-major ones for its shape. */
bool rg_tensor_is_contiguous(const rg_tensor *t);
/* Upload n = numel floats into a contiguous f32 or f16 tensor (f16 tensors are
 * converted on the way: round to nearest even). */
rg_status rg_tensor_write_f32(rg_tensor *t, const float *src);
/* Download a contiguous f32 or f16 tensor as floats. */
rg_status rg_tensor_read_f32(const rg_tensor *t, float *dst);
/* Upload raw elements in the tensor's own dtype (e.g. int32 ids). Contiguous. */
rg_status rg_tensor_write(rg_tensor *t, const void *src);
/* Download raw elements in the tensor's own dtype. Contiguous. */
rg_status rg_tensor_read(const rg_tensor *t, void *dst);

/* ------------------------------------------------------------------------ */
/* Command lists                                                            */
/* ------------------------------------------------------------------------ */

/* A list of recorded ops. Recording validates arguments; the first error is
 * remembered and returned again by rg_cmd_submit/rg_cmd_run, so a model can
 * record a whole graph and check once. A list can be run many times; data
 * dependencies are honoured in recording order. */
rg_status rg_cmd_create(rg_device *dev, rg_cmd **out);
/* Destroy a command list (waits for it if it is still running). */
void rg_cmd_destroy(rg_cmd *cmd);
/* Forget all recorded ops and the sticky error, to record a new sequence. */
void rg_cmd_reset(rg_cmd *cmd);
/* Number of ops recorded so far. */
int rg_cmd_op_count(const rg_cmd *cmd);
/* Start running the recorded ops (one queue submit on Vulkan; on the CPU the
 * ops run here, before returning). */
rg_status rg_cmd_submit(rg_cmd *cmd);
/* Wait for a submitted list. Reports errors of the job (device lost, ...). */
rg_status rg_cmd_wait(rg_cmd *cmd);
/* rg_cmd_submit then rg_cmd_wait. */
rg_status rg_cmd_run(rg_cmd *cmd);

/* ------------------------------------------------------------------------ */
/* Ops. Each records one op; out tensors must not alias inputs unless said. */
/* ------------------------------------------------------------------------ */

/* out[b] = a[b] · op(w[b]) + bias.  a is [..., M, K]; w is [N, K] when
 * trans_w (PyTorch Linear) or [K, N] otherwise, either shared by all batches
 * (2-D) or batched ([B, N, K] / [B, K, N], B = product of a's leading dims);
 * bias is [N] or NULL; out is [..., M, N]. Small M uses matrix-vector code.
 * w may be f16. */
rg_status rg_op_matmul(rg_cmd *cmd, const rg_tensor *a, const rg_tensor *w,
                       const rg_tensor *bias, const rg_tensor *out, bool trans_w);

typedef enum rg_binary {
    RG_BINARY_ADD = 0,
    RG_BINARY_MUL = 1,
} rg_binary;

/* out = a (op) b elementwise. b is broadcast by repetition: numel(a) must be
 * a multiple of numel(b) and b matches a's trailing elements (a bias [C] on
 * [T, C], a position table [T, C] on [B, T, C]). out may alias a. */
rg_status rg_op_binary(rg_cmd *cmd, rg_binary op, const rg_tensor *a,
                       const rg_tensor *b, const rg_tensor *out);
/* out = a + b (see rg_op_binary). */
rg_status rg_op_add(rg_cmd *cmd, const rg_tensor *a, const rg_tensor *b, const rg_tensor *out);
/* out = a * b (see rg_op_binary). */
rg_status rg_op_mul(rg_cmd *cmd, const rg_tensor *a, const rg_tensor *b, const rg_tensor *out);
/* out = a * scale + shift. out may alias a. */
rg_status rg_op_scale(rg_cmd *cmd, const rg_tensor *a, float scale, float shift,
                      const rg_tensor *out);

typedef enum rg_unary {
    RG_UNARY_GELU = 0,    /* exact: 0.5 x (1 + erf(x / sqrt 2)) */
    RG_UNARY_RELU = 1,
    RG_UNARY_ELU = 2,     /* x > 0 ? x : alpha (exp(x) - 1); alpha = param */
    RG_UNARY_TANH = 3,
    RG_UNARY_SIGMOID = 4,
} rg_unary;

/* out = f(a) elementwise; param is ELU's alpha (ignored by the others).
 * out may alias a. */
rg_status rg_op_unary(rg_cmd *cmd, rg_unary f, float param, const rg_tensor *a,
                      const rg_tensor *out);

/* Layer norm over the last dim: (x - mean) / sqrt(var + eps) * weight + bias
 * (biased variance, like PyTorch). weight and bias are [C] or NULL. */
rg_status rg_op_layer_norm(rg_cmd *cmd, const rg_tensor *x, const rg_tensor *weight,
                           const rg_tensor *bias, float eps, const rg_tensor *out);
/* RMS norm over the last dim (T5): x / sqrt(mean(x^2) + eps) * weight.
 * weight is [C] or NULL. */
rg_status rg_op_rms_norm(rg_cmd *cmd, const rg_tensor *x, const rg_tensor *weight,
                         float eps, const rg_tensor *out);
/* Softmax over the last dim (max-subtracted). out may alias x. */
rg_status rg_op_softmax(rg_cmd *cmd, const rg_tensor *x, const rg_tensor *out);

/* Embedding gather: out[i, :] (=, or += when accumulate) table[ids[i], :].
 * table is [V, D] (f32 or f16), ids is I32 with n elements (any shape,
 * contiguous), out is [..., D] with n rows. Summing several codebooks'
 * embeddings (MusicGen) is one call per codebook with accumulate after the
 * first. An id outside [0, V) gives a zero row. */
rg_status rg_op_embedding(rg_cmd *cmd, const rg_tensor *table, const rg_tensor *ids,
                          const rg_tensor *out, bool accumulate);

/* Copy src to dst elementwise. Same shape; any strides on both sides (this is
 * how slices, transposes and concatenation are materialised); f32 <-> f16
 * conversion allowed, I32 only to I32. */
rg_status rg_op_copy(rg_cmd *cmd, const rg_tensor *src, const rg_tensor *dst);
/* out = concat(a, b) along axis (two copies into slices of out). */
rg_status rg_op_concat(rg_cmd *cmd, const rg_tensor *a, const rg_tensor *b, int axis,
                       const rg_tensor *out);

typedef enum rg_pad_mode {
    RG_PAD_ZERO = 0,
    RG_PAD_REFLECT = 1, /* torch.nn.functional.pad(mode="reflect"): the edge
                           sample is not repeated. pad < length required. */
} rg_pad_mode;

typedef struct rg_conv1d_params {
    int stride;    /* >= 1 */
    int dilation;  /* >= 1 */
    int pad_left;  /* samples added before the signal */
    int pad_right; /* samples added after (EnCodec: right + extra) */
    rg_pad_mode pad_mode;
} rg_conv1d_params;

/* 1-D convolution (cross-correlation, groups = 1, as torch.nn.Conv1d) with
 * explicit padding. x is [Cin, L] or [B, Cin, L]; w is [Cout, Cin, K] (f32 or
 * f16); bias [Cout] or NULL; out is [Cout, Lout] / [B, Cout, Lout] with
 * Lout = (L + pad_left + pad_right - dilation (K - 1) - 1) / stride + 1. */
rg_status rg_op_conv1d(rg_cmd *cmd, const rg_tensor *x, const rg_tensor *w,
                       const rg_tensor *bias, const rg_tensor *out,
                       const rg_conv1d_params *p);

/* Transposed 1-D convolution (torch.nn.ConvTranspose1d, groups = 1, no output
 * padding) followed by trimming: the full output has (L - 1) stride + K
 * samples; trim_left and trim_right samples are dropped (EnCodec's unpad).
 * x is [Cin, L] or [B, Cin, L]; w is [Cin, Cout, K]; bias [Cout] or NULL;
 * out is [Cout, Lfull - trim_left - trim_right] (batched alike). */
rg_status rg_op_conv_transpose1d(rg_cmd *cmd, const rg_tensor *x, const rg_tensor *w,
                                 const rg_tensor *bias, const rg_tensor *out, int stride,
                                 int trim_left, int trim_right);

/* One LSTM layer over a sequence, batch 1, PyTorch gate order (i, f, g, o):
 *   gates = W_ih x_t + b_ih + W_hh h + b_hh;  c = f*c + i*g;  h = o*tanh(c).
 * x is [T, In]; w_ih [4H, In]; w_hh [4H, H]; b_ih, b_hh [4H] (or NULL);
 * out is [T, H]. h and c are [H] state tensors read as the initial state and
 * overwritten with the final state (for streaming), or both NULL for zeros.
 * scratch must be f32 with at least 4*T*H elements (holds W_ih x for all t). */
rg_status rg_op_lstm(rg_cmd *cmd, const rg_tensor *x, const rg_tensor *w_ih,
                     const rg_tensor *w_hh, const rg_tensor *b_ih, const rg_tensor *b_hh,
                     const rg_tensor *h, const rg_tensor *c, const rg_tensor *scratch,
                     const rg_tensor *out);

typedef struct rg_attention_params {
    float scale; /* multiplies q·k (1/sqrt(head_dim) for MusicGen, 1 for T5) */
    bool causal; /* query i sees keys j <= (Tk - Tq) + i: the queries are the
                    last Tq positions of the key sequence (KV-cache decode) */
} rg_attention_params;

/* Scaled dot-product attention, per batch and head:
 *   out = softmax(scale q kᵀ + bias [+ causal mask]) v
 * q is [B, H, Tq, D]; k and v are [B, H, Tk, D]; out is [B, H, Tq, D];
 * bias is [B, H, Tq, Tk] or NULL (T5's relative bias and key-padding mask as
 * -inf). All four may have any strides except that the last dim of q, k, v
 * and out is contiguous: a [B, T, H*D] projection viewed as [B, T, H, D] and
 * transposed works as is, and so does a slice [.., 0:Tk, ..] of a KV cache.
 * The bias may broadcast (stride 0). A row with every key masked gives 0. */
rg_status rg_op_attention(rg_cmd *cmd, const rg_tensor *q, const rg_tensor *k,
                          const rg_tensor *v, const rg_tensor *bias, const rg_tensor *out,
                          const rg_attention_params *p);

/* Residual vector quantisation, encode: for each frame t, r = x[t]; for each
 * codebook q in order: codes[q, t] = argmin_n |r - E[q, n]|^2 (lowest n on
 * ties), r -= E[q, codes[q, t]]. x is [T, D] with any strides (so a [D, T]
 * latent can be passed transposed); codebooks is [Q, N, D]; codes is I32
 * [Qused, T] with Qused <= Q (the first Qused codebooks are used). */
rg_status rg_op_rvq_encode(rg_cmd *cmd, const rg_tensor *x, const rg_tensor *codebooks,
                           const rg_tensor *codes);
/* RVQ decode: out[t] = sum_q E[q, codes[q, t]]. codes is I32 [Qused, T];
 * codebooks [Q, N, D]; out is [T, D] with any strides. Out-of-range codes
 * add nothing. */
rg_status rg_op_rvq_decode(rg_cmd *cmd, const rg_tensor *codes, const rg_tensor *codebooks,
                           const rg_tensor *out);

typedef struct rg_harmonic_params {
    int hop;             /* samples per frame, >= 1 */
    float sample_rate;   /* sr, Hz, > 0 */
    float f0_min, f0_max; /* Hz, 0 < f0_min <= f0_max */
    int64_t first_frame; /* frames before it are not rendered (0 <= first < T) */
    bool accumulate;     /* out += synth (else out = synth) */
} rg_harmonic_params;

/* A bank of K harmonics with running phase, driven per frame by a head
 * output h (the codec's harmonic bass path, docs/models.md; the reference is
 * harmonic_synth in train/encodec_ref.py). h is f32 [1+K, T] with any
 * strides (so h[:, 0:T'] of a longer one works). Per frame t:
 *   f[t]    = f0_min (f0_max / f0_min)^sigmoid(h[0, t])
 *   a_k[t]  = 2 sigmoid(h[k, t])^ln(10),  k = 1..K
 * Sample j = 0..hop-1 of frame t glides from frame p = max(t-1, 0) to t,
 * with w = (j+1)/hop:  f = f[p] + (f[t]-f[p]) w,  a_k = a_k[p] + (a_k[t]-a_k[p]) w;
 * its phase in cycles is
 *   phi = Phi[t] + ((j+1) f[p] + (f[t]-f[p]) (j+1)(j+2) / (2 hop)) / sr,
 *   Phi[0] = 0,  Phi[t+1] = frac(Phi[t] + (hop f[p] + (f[t]-f[p]) (hop+1)/2) / sr)
 * (the CPU backend sums the Phi in double, Vulkan in compensated f32), and
 *   y = sum over k = 1..K with k f < sr/2 of a_k sin(2 pi frac(k frac(phi))).
 * out (contiguous f32, (T - first_frame) hop elements, any shape) receives
 * y for frames first_frame..T-1 in order. Frame t depends on frames <= t
 * only, but through Phi on the f of every earlier frame, so a window of a
 * longer take is rendered by passing h from frame 0 and first_frame > 0.
 * scratch is f32 with at least (K+2) T elements (per-frame f, Phi and a_k;
 * overwritten).
 *
 * f0, if not NULL, is f32 [T] (any stride): a pitch codebook's signed f0
 * track (harmonic_synth's f0 branch; docs/models.md "Pitch codebook"). Then
 * h[0] is ignored and, with v[t] = f0[t] > 0 (the frame is pitched):
 *   f[t] = |f0[t]|,  a_k[t] = 0 where !v[t],
 *   and the glide starts at f[t-1] only if v[t-1], else at f[t] itself
 *   (frame 0: at f[0]), in the phase sums as in the samples.
 * NULL renders as above, bit for bit. */
rg_status rg_op_harmonic(rg_cmd *cmd, const rg_tensor *h, const rg_tensor *f0,
                         const rg_tensor *scratch, const rg_tensor *out,
                         const rg_harmonic_params *p);

typedef struct rg_sample_params {
    float temperature; /* <= 0: greedy (argmax, lowest index on ties) */
    int top_k;         /* keep tokens whose logit >= the k-th largest; 0 = all */
    float top_p;       /* nucleus: keep the most probable tokens whose mass
                          first reaches top_p; <= 0 or >= 1 = off */
    uint64_t seed;     /* RNG seed (see rg_sample_uniform) */
    uint32_t step;     /* RNG counter, e.g. the decode step: each (seed, step,
                          row) gives an independent draw, so runs repeat */
} rg_sample_params;

/* Sample one token per row of logits [R, V] into ids (I32 [R]). Ties at the
 * top-k or top-p threshold are kept (the set can exceed k). The draw is
 * inverse-CDF in index order over the kept tokens with
 * u = rg_sample_uniform(seed, step, row), identical on every backend. */
rg_status rg_op_sample(rg_cmd *cmd, const rg_tensor *logits, const rg_tensor *ids,
                       const rg_sample_params *p);

/* The sampler's RNG, exposed for tests and reproducibility: a counter-based
 * hash (murmur3's 32-bit finaliser chained over seed_lo, seed_hi, step, row)
 * mapped to [0, 1) with 24 bits. No state: the same inputs give the same u. */
float rg_sample_uniform(uint64_t seed, uint32_t step, uint32_t row);

/* Half-precision helpers (round to nearest even; used by uploads). */
uint16_t rg_f32_to_f16(float f);
float rg_f16_to_f32(uint16_t h);

#ifdef __cplusplus
}
#endif
#endif /* RESONANT_TENSOR_H */
