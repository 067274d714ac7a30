/* CPU backend: host memory, OpenBLAS for every matrix product (matmul, conv
 * via im2col, transposed conv, LSTM, attention, RVQ distances), plain loops
 * the compiler can vectorise for the rest. OpenBLAS brings its own threads. */
#include "runtime/tensor/tensor_internal.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cpu_device {
    float *scratch[2]; /* reusable host scratch (f16 weights, im2col, scores) */
    size_t scratch_len[2];
} cpu_device;

/* Grow scratch slot `slot` to n floats; NULL on OOM. */
static float *scratch(rg_device *dev, int slot, size_t n) {
    cpu_device *cd = dev->impl;
    if (cd->scratch_len[slot] < n) {
        float *p = realloc(cd->scratch[slot], n * sizeof(float));
        if (!p)
            return NULL;
        cd->scratch[slot] = p;
        cd->scratch_len[slot] = n;
    }
    return cd->scratch[slot];
}

/* Weights may be f16: return an f32 pointer to them, converting into the
 * given scratch slot when needed. */
static const float *weight_f32(rg_device *dev, const rg_tensor *t, int slot) {
    if (t->dtype == RG_F32)
        return rg_host_ptr(t);
    int64_t n = rg_tensor_numel(t);
    float *dst = scratch(dev, slot, (size_t)n);
    if (!dst)
        return NULL;
    const uint16_t *src = rg_host_ptr(t);
    for (int64_t i = 0; i < n; i++)
        dst[i] = rg_f16_to_f32(src[i]);
    return dst;
}

static const float *opt_f32(const rg_tensor *t) {
    return t->buf ? (const float *)rg_host_ptr(t) : NULL;
}

/* ------------------------------------------------------------------------ */
/* Ops                                                                      */
/* ------------------------------------------------------------------------ */

static void fill_rows_with_bias(float *out, const float *bias, int64_t rows, int64_t n) {
    for (int64_t r = 0; r < rows; r++)
        memcpy(out + r * n, bias, (size_t)n * sizeof(float));
}

/* Threads for the loops OpenBLAS does not cover: job i is at
 * (char *)jobs + i * size; job 0 runs on the caller, the others on new
 * threads (inline if a thread cannot be started, so this never fails). */
static void run_jobs(void *(*fn)(void *), void *jobs, size_t size, int n) {
    pthread_t th[8];
    bool started[8] = {false};
    for (int t = 1; t < n && t < 8; t++)
        started[t] = pthread_create(&th[t], NULL, fn, (char *)jobs + (size_t)t * size) == 0;
    fn(jobs);
    for (int t = 1; t < n && t < 8; t++) {
        if (started[t])
            pthread_join(th[t], NULL);
        else
            fn((char *)jobs + (size_t)t * size);
    }
}

/* How many threads `work` units deserve: all cores (at most 8) above the
 * threshold, one below it. */
static int thread_count(int64_t work, int64_t threshold) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (work < threshold || cpus < 2)
        return 1;
    return cpus > 8 ? 8 : (int)cpus;
}

/* ------------------------------------------------------------------------ */
/* Few-row products against a Linear weight ([N, K]), M = 2..8: the decode
 * step (MusicGen runs cond and uncond rows together). OpenBLAS's sgemm is
 * slow there (it packs W for a big GEMM), and M gemv calls would stream W M
 * times; this kernel streams each W row once and reuses it for all M rows
 * from L1, so it runs at memory bandwidth like gemv.                       */
/* ------------------------------------------------------------------------ */

#define SMALL_M_MAX 8

typedef struct few_rows_job {
    const float *a, *w;
    const uint16_t *w16; /* f16 weights instead of w, widened as they are read */
    float *out;
    int m, k, n, n0, n1;
    float beta;
} few_rows_job;

typedef float v8f __attribute__((vector_size(32)));

/* Macros, not functions: passing 32-byte vectors by value would change the
 * ABI between the AVX2 and baseline builds of the kernel. */
#define LOAD8(dst, p) memcpy(&(dst), (p), sizeof(v8f))

/* How a kernel reads 8 weights of row `wr` at column k (W8) and one (W1):
 * f32 weights as they are; f16 weights widened on the way, so the kernel
 * streams half the bytes and sums exactly what the f32 kernel would. */
#define W8_F32(dst, wr, k) LOAD8(dst, (const float *)(wr) + (k))
#define W1_F32(wr, k) ((const float *)(wr))[k]
#define W8_F16(dst, wr, k)                                                         \
    for (int l_ = 0; l_ < 8; l_++)                                                 \
        (dst)[l_] = rg_f16_to_f32(((const uint16_t *)(wr))[(k) + l_])
#define W1_F16(wr, k) rg_f16_to_f32(((const uint16_t *)(wr))[k])
#define W8_F16C(dst, wr, k)                                                        \
    (dst) = (v8f)_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)(wr) + (k))))

/* The kernel body for a compile-time row count M, so the accumulators live
 * in registers; instantiated for M = 1..8, for AVX2+FMA and the baseline,
 * for f32 and f16 weights. */
#define FEW_ROWS_BODY(M, W8, W1, WBASE)                                            \
    for (int n = j->n0; n < j->n1; n++) {                                          \
        const void *wr = (WBASE) + (size_t)n * j->k;                               \
        v8f acc[M] = {0};                                                          \
        int k = 0;                                                                 \
        for (; k + 8 <= j->k; k += 8) {                                            \
            v8f wv, av;                                                            \
            W8(wv, wr, k);                                                         \
            for (int m = 0; m < M; m++) {                                          \
                LOAD8(av, j->a + (size_t)m * j->k + k);                            \
                acc[m] += wv * av;                                                 \
            }                                                                      \
        }                                                                          \
        for (int m = 0; m < M; m++) {                                              \
            float s = 0.0f;                                                        \
            for (int l = 0; l < 8; l++)                                            \
                s += acc[m][l];                                                    \
            for (int kk = k; kk < j->k; kk++)                                      \
                s += W1(wr, kk) * j->a[(size_t)m * j->k + kk];                     \
            float *o = j->out + (size_t)m * j->n + n;                              \
            *o = j->beta != 0.0f ? *o + s : s;                                     \
        }                                                                          \
    }

#define FEW_ROWS_SWITCH(W8, W1, WBASE)                                             \
    switch (j->m) {                                                                \
    case 1: FEW_ROWS_BODY(1, W8, W1, WBASE) break;                                 \
    case 2: FEW_ROWS_BODY(2, W8, W1, WBASE) break;                                 \
    case 3: FEW_ROWS_BODY(3, W8, W1, WBASE) break;                                 \
    case 4: FEW_ROWS_BODY(4, W8, W1, WBASE) break;                                 \
    case 5: FEW_ROWS_BODY(5, W8, W1, WBASE) break;                                 \
    case 6: FEW_ROWS_BODY(6, W8, W1, WBASE) break;                                 \
    case 7: FEW_ROWS_BODY(7, W8, W1, WBASE) break;                                 \
    default: FEW_ROWS_BODY(8, W8, W1, WBASE) break;                                \
    }

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_X86_KERNELS 1
__attribute__((target("avx2,fma"))) static void few_rows_avx2(const few_rows_job *j) {
    FEW_ROWS_SWITCH(W8_F32, W1_F32, j->w)
}
__attribute__((target("avx2,fma,f16c"))) static void few_rows_avx2_f16(const few_rows_job *j) {
    FEW_ROWS_SWITCH(W8_F16C, W1_F16, j->w16)
}
#endif

static void few_rows_generic(const few_rows_job *j) { FEW_ROWS_SWITCH(W8_F32, W1_F32, j->w) }
static void few_rows_generic_f16(const few_rows_job *j) { FEW_ROWS_SWITCH(W8_F16, W1_F16, j->w16) }

#ifdef HAVE_X86_KERNELS
/* Which vector kernels this CPU runs, probed once (in a virtual machine
 * CPUID traps to the hypervisor; clang's __builtin_cpu_supports has no
 * "f16c", so that bit is read from CPUID leaf 1, ECX bit 29).
 * RESONANT_CPU_KERNELS=generic runs the baseline kernels, so the tests
 * cover them on machines that would never pick them. */
static struct {
    bool avx2_fma, f16c;
} cpu_kernels;
static pthread_once_t cpu_kernels_once = PTHREAD_ONCE_INIT;

static void probe_cpu_kernels(void) {
    const char *force = getenv("RESONANT_CPU_KERNELS");
    if (force && strcmp(force, "generic") == 0)
        return;
    unsigned int eax, ebx, ecx, edx;
    cpu_kernels.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    cpu_kernels.f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C);
}

static bool cpu_has_avx2_fma(void) {
    pthread_once(&cpu_kernels_once, probe_cpu_kernels);
    return cpu_kernels.avx2_fma;
}

static bool cpu_has_f16c(void) {
    pthread_once(&cpu_kernels_once, probe_cpu_kernels);
    return cpu_kernels.f16c;
}
#endif

static void *few_rows_thread(void *arg) {
    const few_rows_job *j = arg;
#ifdef HAVE_X86_KERNELS
    if (cpu_has_avx2_fma()) {
        if (!j->w16) {
            few_rows_avx2(j);
            return NULL;
        }
        if (cpu_has_f16c()) {
            few_rows_avx2_f16(j);
            return NULL;
        }
    }
#endif
    if (j->w16)
        few_rows_generic_f16(j);
    else
        few_rows_generic(j);
    return NULL;
}

/* out[m, n] (+)= sum_k a[m, k] w[n, k], split over up to 8 threads by n;
 * w is f32, or f16 in w16 (then w is NULL). */
static void few_rows_gemm(const float *a, const float *w, const uint16_t *w16, float *out,
                          int64_t m, int64_t n, int64_t k, float beta) {
    /* Threads are started per call: below 4 MB of f32 weights (1M elements:
     * every matrix of a d=256 decoder) starting and joining one costs more
     * than the second core saves, and on a loaded machine the started
     * thread waits for a core (measured: 3.3 s instead of 4.5 s for 8 s of
     * the shipped model's drums + bass, bench/bench_track). */
    int nt = thread_count(n * k, 1 << 20);
    few_rows_job jobs[8];
    for (int t = 0; t < nt; t++)
        jobs[t] = (few_rows_job){a, w, w16, out, (int)m, (int)k, (int)n, (int)(n * t / nt),
                                 (int)(n * (t + 1) / nt), beta};
    run_jobs(few_rows_thread, jobs, sizeof *jobs, nt);
}

/* out[m, n] (+)= a[m, k] · op(w); beta = 1 when out already holds the bias. */
static void gemm(const float *a, const float *w, float *out, int64_t m, int64_t n, int64_t k,
                 bool trans_w, float beta) {
    if (m == 1) {
        /* Matrix-vector: gemv streams the weight once, which is the bound. */
        if (trans_w)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n, (int)k, 1.0f, w, (int)k, a, 1, beta,
                        out, 1);
        else
            cblas_sgemv(CblasRowMajor, CblasTrans, (int)k, (int)n, 1.0f, w, (int)n, a, 1, beta,
                        out, 1);
        return;
    }
    if (trans_w && m <= SMALL_M_MAX) {
        few_rows_gemm(a, w, NULL, out, m, n, k, beta);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_w ? CblasTrans : CblasNoTrans, (int)m, (int)n,
                (int)k, 1.0f, a, (int)k, w, trans_w ? (int)k : (int)n, beta, out, (int)n);
}

static rg_status cpu_matmul(rg_device *dev, const rg_op *op) {
    const float *a = rg_host_ptr(&op->t[MM_A]);
    float *out = rg_host_ptr(&op->t[MM_OUT]);
    const float *bias = opt_f32(&op->t[MM_BIAS]);
    int64_t m = op->p.mm.m, n = op->p.mm.n, k = op->p.mm.k, batch = op->p.mm.batch;
    /* A decode step on f16 weights: the few-row kernel reads them as they
     * are, with no widened copy of the whole matrix per call. */
    bool f16_rows = op->t[MM_W].dtype == RG_F16 && !op->p.mm.w_batched && op->p.mm.trans_w &&
                    batch * m <= SMALL_M_MAX;
    const float *w = f16_rows ? NULL : weight_f32(dev, &op->t[MM_W], 0);
    if (!f16_rows && !w)
        return rg_fail(dev, RG_ERR_OOM, "matmul: no memory to widen f16 weights");
    if (bias)
        fill_rows_with_bias(out, bias, batch * m, n);
    float beta = bias ? 1.0f : 0.0f;
    if (f16_rows) {
        few_rows_gemm(a, NULL, rg_host_ptr(&op->t[MM_W]), out, batch * m, n, k, beta);
        return RG_OK;
    }
    if (!op->p.mm.w_batched) { /* shared weight: one product over all rows */
        gemm(a, w, out, batch * m, n, k, op->p.mm.trans_w, beta);
        return RG_OK;
    }
    for (int64_t b = 0; b < batch; b++)
        gemm(a + b * m * k, w + b * n * k, out + b * m * n, m, n, k, op->p.mm.trans_w, beta);
    return RG_OK;
}

static void cpu_binary(const rg_op *op) {
    const float *a = rg_host_ptr(&op->t[BIN_A]);
    const float *b = rg_host_ptr(&op->t[BIN_B]);
    float *out = rg_host_ptr(&op->t[BIN_OUT]);
    int64_t n = rg_tensor_numel(&op->t[BIN_A]), nb = rg_tensor_numel(&op->t[BIN_B]);
    for (int64_t base = 0; base < n; base += nb) {
        if (op->p.bin.op == RG_BINARY_ADD)
            for (int64_t i = 0; i < nb; i++)
                out[base + i] = a[base + i] + b[i];
        else
            for (int64_t i = 0; i < nb; i++)
                out[base + i] = a[base + i] * b[i];
    }
}

static void cpu_scale(const rg_op *op) {
    const float *a = rg_host_ptr(&op->t[UN_A]);
    float *out = rg_host_ptr(&op->t[UN_OUT]);
    int64_t n = rg_tensor_numel(&op->t[UN_A]);
    float s = op->p.scale.scale, sh = op->p.scale.shift;
    for (int64_t i = 0; i < n; i++)
        out[i] = a[i] * s + sh;
}

static float unary_fn(rg_unary f, float alpha, float x) {
    switch (f) {
    case RG_UNARY_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case RG_UNARY_RELU: return x > 0.0f ? x : 0.0f;
    case RG_UNARY_ELU: return x > 0.0f ? x : alpha * expm1f(x);
    case RG_UNARY_TANH: return tanhf(x);
    case RG_UNARY_SIGMOID: return 1.0f / (1.0f + expf(-x));
    }
    return x;
}

typedef struct unary_job {
    const rg_op *op;
    int64_t lo, hi;
} unary_job;

/* ELU, 8 lanes at a time: EnCodec applies it to every sample of every
 * channel, and libm's expm1f does not vectorise. exp(x) for x <= 0 by
 * range reduction x = n ln2 + r, |r| <= ln2/2, and a degree-7 Taylor
 * polynomial (relative error < 2e-8 on that range), scaled by 2^n through
 * the exponent bits. Absolute error of alpha (exp(x) - 1) < 2e-7. */
typedef int v8i __attribute__((vector_size(32)));

#define ELU_BODY                                                                   \
    int64_t i = lo;                                                                \
    for (; i + 8 <= hi; i += 8) {                                                  \
        v8f x, zero = {0};                                                         \
        memcpy(&x, a + i, sizeof x);                                               \
        v8i pos = x > zero;                                                        \
        v8f xn = x;                                                                \
        xn = (v8f)((v8i)xn & ~pos);                 /* min(x, 0) */                \
        v8i low = xn < -87.0f;                      /* exp underflows below */     \
        xn = (v8f)(((v8i)xn & ~low) | ((v8i)(zero - 87.0f) & low));               \
        v8f t = xn * 1.44269504f + 0.5f;            /* n = floor(x / ln2 + 0.5) */ \
        v8i n = __builtin_convertvector(t, v8i);    /* truncates toward zero, */   \
        n += (v8i)(__builtin_convertvector(n, v8f) > t); /* so step down (-1) */   \
        v8f nf = __builtin_convertvector(n, v8f);                                  \
        v8f r = xn - nf * 0.693145751953125f - nf * 1.428606765330187e-06f;       \
        v8f p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 +   \
                r * (1.0f / 120 + r * (1.0f / 720 + r * (1.0f / 5040)))))));      \
        v8f scale = (v8f)((n + 127) << 23);                                        \
        v8f e = alpha * (p * scale - 1.0f);                                        \
        v8f y = (v8f)(((v8i)x & pos) | ((v8i)e & ~pos));                           \
        memcpy(out + i, &y, sizeof y);                                             \
    }                                                                              \
    for (; i < hi; i++)                                                            \
        out[i] = unary_fn(RG_UNARY_ELU, alpha, a[i]);

#ifdef HAVE_X86_KERNELS
__attribute__((target("avx2,fma"))) static void elu_avx2(const float *a, float *out,
                                                         int64_t lo, int64_t hi, float alpha) {
    ELU_BODY
}
#endif

static void elu_generic(const float *a, float *out, int64_t lo, int64_t hi, float alpha) {
    ELU_BODY
}

static void *unary_range(void *arg) {
    const unary_job *j = arg;
    const float *a = rg_host_ptr(&j->op->t[UN_A]);
    float *out = rg_host_ptr(&j->op->t[UN_OUT]);
    if (j->op->p.un.f == RG_UNARY_ELU) {
#ifdef HAVE_X86_KERNELS
        if (cpu_has_avx2_fma()) {
            elu_avx2(a, out, j->lo, j->hi, j->op->p.un.param);
            return NULL;
        }
#endif
        elu_generic(a, out, j->lo, j->hi, j->op->p.un.param);
        return NULL;
    }
    for (int64_t i = j->lo; i < j->hi; i++)
        out[i] = unary_fn(j->op->p.un.f, j->op->p.un.param, a[i]);
    return NULL;
}

/* Transcendentals (erf, exp, tanh) cost ~20 ns an element and do not
 * vectorise, so large tensors (EnCodec's ELUs over [64, 32000 x seconds])
 * are split over the cores. */
static void cpu_unary(const rg_op *op) {
    int64_t n = rg_tensor_numel(&op->t[UN_A]);
    int nt = thread_count(n, 1 << 16);
    unary_job jobs[8];
    for (int t = 0; t < nt; t++)
        jobs[t] = (unary_job){op, n * t / nt, n * (t + 1) / nt};
    run_jobs(unary_range, jobs, sizeof *jobs, nt);
}

static void cpu_norm(const rg_op *op) {
    const float *x = rg_host_ptr(&op->t[NORM_X]);
    float *out = rg_host_ptr(&op->t[NORM_OUT]);
    const float *w = opt_f32(&op->t[NORM_W]), *b = opt_f32(&op->t[NORM_B]);
    int64_t rows = op->p.norm.rows, cols = op->p.norm.cols;
    bool layer = op->kind == RG_OP_LAYER_NORM;
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *o = out + r * cols;
        /* Two passes in double: cheap next to the matmuls, and exact enough
         * that the CPU backend can serve as a reference for the GPU one. */
        double mean = 0.0, var = 0.0;
        if (layer) {
            for (int64_t i = 0; i < cols; i++)
                mean += xr[i];
            mean /= (double)cols;
        }
        for (int64_t i = 0; i < cols; i++)
            var += (xr[i] - mean) * (xr[i] - mean);
        float inv = (float)(1.0 / sqrt(var / (double)cols + op->p.norm.eps));
        for (int64_t i = 0; i < cols; i++) {
            float y = (float)(xr[i] - mean) * inv;
            if (w)
                y *= w[i];
            if (b)
                y += b[i];
            o[i] = y;
        }
    }
}

static void softmax_row(const float *x, float *o, int64_t n) {
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    if (mx == -INFINITY) { /* everything masked: define the result as zeros */
        memset(o, 0, (size_t)n * sizeof *o);
        return;
    }
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        o[i] = expf(x[i] - mx);
        sum += o[i];
    }
    float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++)
        o[i] *= inv;
}

static void cpu_softmax(const rg_op *op) {
    const float *x = rg_host_ptr(&op->t[NORM_X]);
    float *out = rg_host_ptr(&op->t[NORM_OUT]);
    for (int64_t r = 0; r < op->p.norm.rows; r++)
        softmax_row(x + r * op->p.norm.cols, out + r * op->p.norm.cols, op->p.norm.cols);
}

static void cpu_embedding(const rg_op *op) {
    const rg_tensor *tab = &op->t[EMB_TABLE];
    const int32_t *ids = rg_host_ptr(&op->t[EMB_IDS]);
    float *out = rg_host_ptr(&op->t[EMB_OUT]);
    int64_t n = rg_tensor_numel(&op->t[EMB_IDS]), v = tab->shape[0], d = tab->shape[1];
    for (int64_t i = 0; i < n; i++) {
        float *o = out + i * d;
        int64_t id = ids[i];
        bool valid = id >= 0 && id < v;
        for (int64_t j = 0; j < d; j++) {
            float e = 0.0f;
            if (valid)
                e = tab->dtype == RG_F32 ? ((const float *)rg_host_ptr(tab))[id * d + j]
                                         : rg_f16_to_f32(((const uint16_t *)rg_host_ptr(tab))[id * d + j]);
            o[j] = op->p.emb.accumulate ? o[j] + e : e;
        }
    }
}

static float load_elem(const rg_tensor *t, int64_t off) {
    const char *p = rg_host_ptr(t);
    return t->dtype == RG_F32 ? ((const float *)p)[off] : rg_f16_to_f32(((const uint16_t *)p)[off]);
}

static void store_elem(const rg_tensor *t, int64_t off, float v) {
    char *p = rg_host_ptr(t);
    if (t->dtype == RG_F32)
        ((float *)p)[off] = v;
    else
        ((uint16_t *)p)[off] = rg_f32_to_f16(v);
}

/* Strided copy: walk a 4-D index (missing leading dims have size 1). */
static void cpu_copy(const rg_op *op) {
    const rg_tensor *s = &op->t[CPY_SRC], *d = &op->t[CPY_DST];
    int64_t shape[4] = {1, 1, 1, 1}, ss[4] = {0}, ds[4] = {0};
    int pad = 4 - s->ndim;
    for (int i = 0; i < s->ndim; i++) {
        shape[pad + i] = s->shape[i];
        ss[pad + i] = s->stride[i];
        ds[pad + i] = d->stride[i];
    }
    bool raw = s->dtype == d->dtype;
    size_t es = rg_dtype_size(s->dtype);
    for (int64_t i0 = 0; i0 < shape[0]; i0++)
        for (int64_t i1 = 0; i1 < shape[1]; i1++)
            for (int64_t i2 = 0; i2 < shape[2]; i2++) {
                int64_t so = i0 * ss[0] + i1 * ss[1] + i2 * ss[2];
                int64_t dof = i0 * ds[0] + i1 * ds[1] + i2 * ds[2];
                for (int64_t i3 = 0; i3 < shape[3]; i3++) {
                    int64_t a = so + i3 * ss[3], b = dof + i3 * ds[3];
                    if (raw)
                        memcpy((char *)rg_host_ptr(d) + b * es,
                               (const char *)rg_host_ptr(s) + a * es, es);
                    else
                        store_elem(d, b, load_elem(s, a));
                }
            }
}

/* Index into the padded signal: -1 means a zero (padding) sample. */
static int64_t padded_index(int64_t i, int64_t len, rg_pad_mode mode) {
    if (i >= 0 && i < len)
        return i;
    if (mode == RG_PAD_ZERO)
        return -1;
    if (i < 0)
        i = -i; /* reflect without repeating the edge sample */
    if (i >= len)
        i = 2 * (len - 1) - i;
    return (i >= 0 && i < len) ? i : -1;
}

/* One im2col row: row[t] = xpad[(t0 + t) stride + shift] for t < nt. The
 * samples that fall inside the signal (all but a few at the edges) are
 * copied without per-sample padding logic; stride 1 is a memcpy. */
static void im2col_row(float *row, const float *x, int64_t lin, int64_t t0, int64_t nt,
                       int64_t shift, const rg_conv1d_params *p) {
    int64_t s = p->stride;
    /* Inside: 0 <= (t0 + t) s + shift < lin. */
    int64_t lo = 0, hi = nt;
    while (lo < nt && (t0 + lo) * s + shift < 0)
        lo++;
    while (hi > lo && (t0 + hi - 1) * s + shift >= lin)
        hi--;
    for (int64_t t = 0; t < lo; t++) {
        int64_t idx = padded_index((t0 + t) * s + shift, lin, p->pad_mode);
        row[t] = idx < 0 ? 0.0f : x[idx];
    }
    const float *src = x + (t0 + lo) * s + shift;
    if (s == 1)
        memcpy(row + lo, src, (size_t)(hi - lo) * sizeof *row);
    else
        for (int64_t t = lo; t < hi; t++)
            row[t] = src[(t - lo) * s];
    for (int64_t t = hi; t < nt; t++) {
        int64_t idx = padded_index((t0 + t) * s + shift, lin, p->pad_mode);
        row[t] = idx < 0 ? 0.0f : x[idx];
    }
}

/* conv1d = im2col + GEMM, in chunks of output columns so the column matrix
 * stays a few MB whatever the signal length. */
static rg_status cpu_conv1d(rg_device *dev, const rg_op *op) {
    const float *w = weight_f32(dev, &op->t[CONV_W], 0);
    const float *bias = opt_f32(&op->t[CONV_BIAS]);
    const float *xall = rg_host_ptr(&op->t[CONV_X]);
    float *oall = rg_host_ptr(&op->t[CONV_OUT]);
    const rg_conv1d_params *p = &op->p.conv.p;
    int64_t cin = op->p.conv.cin, cout = op->p.conv.cout, k = op->p.conv.k;
    int64_t lin = op->p.conv.lin, lout = op->p.conv.lout, rows = cin * k;
    int64_t chunk = (int64_t)(1 << 21) / rows;
    chunk = chunk < 16 ? 16 : chunk > lout ? lout : chunk;
    float *col = scratch(dev, 1, (size_t)(rows * chunk));
    if (!w || !col)
        return rg_fail(dev, RG_ERR_OOM, "conv1d: no memory for scratch");
    for (int64_t b = 0; b < op->p.conv.batch; b++) {
        const float *x = xall + b * cin * lin;
        float *o = oall + b * cout * lout;
        for (int64_t t0 = 0; t0 < lout; t0 += chunk) {
            int64_t nt = lout - t0 < chunk ? lout - t0 : chunk;
            for (int64_t ci = 0; ci < cin; ci++)
                for (int64_t kk = 0; kk < k; kk++)
                    im2col_row(col + (ci * k + kk) * nt, x + ci * lin, lin, t0, nt,
                               kk * p->dilation - p->pad_left, p);
            /* out[:, t0:t0+nt] = W[cout, rows] · col[rows, nt] (ldc = lout). */
            for (int64_t co = 0; co < cout; co++)
                for (int64_t t = 0; t < nt; t++)
                    o[co * lout + t0 + t] = bias ? bias[co] : 0.0f;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)cout, (int)nt, (int)rows,
                        1.0f, w, (int)rows, col, (int)nt, 1.0f, o + t0, (int)lout);
        }
    }
    return RG_OK;
}

/* Transposed conv: cols[cout*K, t] = Wᵀ x[:, t] by GEMM, then overlap-add
 * into the (trimmed) output. Chunked over input columns. */
static rg_status cpu_conv_t1d(rg_device *dev, const rg_op *op) {
    const float *w = weight_f32(dev, &op->t[CONV_W], 0);
    const float *bias = opt_f32(&op->t[CONV_BIAS]);
    const float *xall = rg_host_ptr(&op->t[CONV_X]);
    float *oall = rg_host_ptr(&op->t[CONV_OUT]);
    int64_t cin = op->p.convt.cin, cout = op->p.convt.cout, k = op->p.convt.k;
    int64_t lin = op->p.convt.lin, lout = op->p.convt.lout, rows = cout * k;
    int64_t stride = op->p.convt.stride, trim = op->p.convt.trim_left;
    int64_t chunk = (int64_t)(1 << 21) / rows;
    chunk = chunk < 16 ? 16 : chunk > lin ? lin : chunk;
    float *cols = scratch(dev, 1, (size_t)(rows * chunk));
    if (!w || !cols)
        return rg_fail(dev, RG_ERR_OOM, "conv_transpose1d: no memory for scratch");
    for (int64_t b = 0; b < op->p.convt.batch; b++) {
        const float *x = xall + b * cin * lin;
        float *o = oall + b * cout * lout;
        for (int64_t co = 0; co < cout; co++)
            for (int64_t t = 0; t < lout; t++)
                o[co * lout + t] = bias ? bias[co] : 0.0f;
        for (int64_t t0 = 0; t0 < lin; t0 += chunk) {
            int64_t nt = lin - t0 < chunk ? lin - t0 : chunk;
            /* W is [cin, cout*K]: cols[rows, nt] = Wᵀ · x[:, t0:t0+nt]. */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)rows, (int)nt, (int)cin,
                        1.0f, w, (int)rows, x + t0, (int)lin, 0.0f, cols, (int)nt);
            for (int64_t co = 0; co < cout; co++)
                for (int64_t kk = 0; kk < k; kk++) {
                    const float *row = cols + (co * k + kk) * nt;
                    for (int64_t t = 0; t < nt; t++) {
                        int64_t pos = (t0 + t) * stride + kk - trim;
                        if (pos >= 0 && pos < lout)
                            o[co * lout + pos] += row[t];
                    }
                }
        }
    }
    return RG_OK;
}

static float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

static rg_status cpu_lstm(rg_device *dev, const rg_op *op) {
    const rg_tensor *x = &op->t[LSTM_X];
    int64_t t_len = x->shape[0], in = x->shape[1], hid = op->t[LSTM_WHH].shape[1];
    const float *wih = weight_f32(dev, &op->t[LSTM_WIH], 0);
    if (!wih)
        return rg_fail(dev, RG_ERR_OOM, "lstm: no memory for f16 weights");
    float *gx = rg_host_ptr(&op->t[LSTM_SCRATCH]);
    /* All input projections at once: gx[T, 4H] = x W_ihᵀ (+ both biases). */
    const float *bih = opt_f32(&op->t[LSTM_BIH]), *bhh = opt_f32(&op->t[LSTM_BHH]);
    for (int64_t t = 0; t < t_len; t++)
        for (int64_t j = 0; j < 4 * hid; j++)
            gx[t * 4 * hid + j] = (bih ? bih[j] : 0.0f) + (bhh ? bhh[j] : 0.0f);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)t_len, (int)(4 * hid), (int)in, 1.0f,
                rg_host_ptr(x), (int)in, wih, (int)in, 1.0f, gx, (int)(4 * hid));
    const float *whh = weight_f32(dev, &op->t[LSTM_WHH], 0); /* reuses slot 0 */
    float *state = scratch(dev, 1, (size_t)(2 * hid));
    if (!whh || !state)
        return rg_fail(dev, RG_ERR_OOM, "lstm: no memory for state");
    float *h = state, *c = state + hid;
    if (op->t[LSTM_H].buf) {
        memcpy(h, rg_host_ptr(&op->t[LSTM_H]), (size_t)hid * sizeof(float));
        memcpy(c, rg_host_ptr(&op->t[LSTM_C]), (size_t)hid * sizeof(float));
    } else {
        memset(state, 0, (size_t)(2 * hid) * sizeof(float));
    }
    float *out = rg_host_ptr(&op->t[LSTM_OUT]);
    for (int64_t t = 0; t < t_len; t++) {
        float *g = gx + t * 4 * hid;
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)(4 * hid), (int)hid, 1.0f, whh, (int)hid, h,
                    1, 1.0f, g, 1);
        for (int64_t j = 0; j < hid; j++) {
            float ig = sigmoidf(g[j]), fg = sigmoidf(g[hid + j]);
            float gg = tanhf(g[2 * hid + j]), og = sigmoidf(g[3 * hid + j]);
            c[j] = fg * c[j] + ig * gg;
            h[j] = og * tanhf(c[j]);
        }
        memcpy(out + t * hid, h, (size_t)hid * sizeof(float));
    }
    if (op->t[LSTM_H].buf) {
        memcpy(rg_host_ptr(&op->t[LSTM_H]), h, (size_t)hid * sizeof(float));
        memcpy(rg_host_ptr(&op->t[LSTM_C]), c, (size_t)hid * sizeof(float));
    }
    return RG_OK;
}

/* Row stride of a [B, H, T, D] view for BLAS: a single row's stride is
 * arbitrary (and may be 0), but BLAS insists on at least D. (Overlapping
 * rows are refused when the op is recorded.) */
static int att_ld(const rg_tensor *t) {
    return (int)(t->shape[2] == 1 ? t->shape[3] : t->stride[2]);
}

/* Per (batch, head): scores = scale q kᵀ (GEMM with the views' row strides),
 * + bias, causal mask, softmax, out = P v (GEMM). */
static rg_status cpu_attention(rg_device *dev, const rg_op *op) {
    const rg_tensor *q = &op->t[ATT_Q], *k = &op->t[ATT_K], *v = &op->t[ATT_V];
    const rg_tensor *bias = &op->t[ATT_BIAS], *o = &op->t[ATT_OUT];
    int64_t nb = q->shape[0], nh = q->shape[1], tq = q->shape[2], d = q->shape[3];
    int64_t tk = k->shape[2];
    float *s = scratch(dev, 1, (size_t)(tq * tk));
    if (!s)
        return rg_fail(dev, RG_ERR_OOM, "attention: no memory for scores");
    const float *qp = rg_host_ptr(q), *kp = rg_host_ptr(k), *vp = rg_host_ptr(v);
    const float *bp = bias->buf ? rg_host_ptr(bias) : NULL;
    float *op_ = rg_host_ptr(o);
    for (int64_t b = 0; b < nb; b++)
        for (int64_t h = 0; h < nh; h++) {
            const float *qb = qp + b * q->stride[0] + h * q->stride[1];
            const float *kb = kp + b * k->stride[0] + h * k->stride[1];
            const float *vb = vp + b * v->stride[0] + h * v->stride[1];
            float *ob = op_ + b * o->stride[0] + h * o->stride[1];
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)tq, (int)tk, (int)d,
                        op->p.att.scale, qb, att_ld(q), kb, att_ld(k), 0.0f, s,
                        (int)tk);
            for (int64_t i = 0; i < tq; i++) {
                float *row = s + i * tk;
                if (bp) {
                    const float *br = bp + b * bias->stride[0] + h * bias->stride[1] +
                                      i * bias->stride[2];
                    for (int64_t j = 0; j < tk; j++)
                        row[j] += br[j * bias->stride[3]];
                }
                if (op->p.att.causal)
                    for (int64_t j = tk - tq + i + 1; j < tk; j++)
                        row[j] = -INFINITY;
                softmax_row(row, row, tk);
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)tq, (int)d, (int)tk, 1.0f,
                        s, (int)tk, vb, att_ld(v), 0.0f, ob, att_ld(o));
        }
    return RG_OK;
}

/* RVQ encode with GEMM: |r - e|^2 = |r|^2 - 2 r·e + |e|^2, and |r|^2 does not
 * change the argmin. Chunked over frames. */
static rg_status cpu_rvq_encode(rg_device *dev, const rg_op *op) {
    const rg_tensor *x = &op->t[RVQ_X], *cbt = &op->t[RVQ_CB], *codes_t = &op->t[RVQ_CODES];
    int64_t t_len = x->shape[0], d = x->shape[1], n = cbt->shape[1];
    int64_t nq = codes_t->shape[0];
    const float *cb = weight_f32(dev, cbt, 0);
    int64_t chunk = t_len < 256 ? t_len : 256;
    float *work = scratch(dev, 1, (size_t)(chunk * d + chunk * n + n));
    if (!cb || !work)
        return rg_fail(dev, RG_ERR_OOM, "rvq_encode: no memory for scratch");
    float *res = work, *dots = work + chunk * d, *norms = dots + chunk * n;
    int32_t *codes = rg_host_ptr(codes_t);
    const float *xp = rg_host_ptr(x);
    for (int64_t t0 = 0; t0 < t_len; t0 += chunk) {
        int64_t nt = t_len - t0 < chunk ? t_len - t0 : chunk;
        for (int64_t t = 0; t < nt; t++)
            for (int64_t j = 0; j < d; j++)
                res[t * d + j] = xp[(t0 + t) * x->stride[0] + j * x->stride[1]];
        for (int64_t qi = 0; qi < nq; qi++) {
            const float *e = cb + qi * n * d;
            for (int64_t i = 0; i < n; i++) {
                double s = 0.0;
                for (int64_t j = 0; j < d; j++)
                    s += (double)e[i * d + j] * e[i * d + j];
                norms[i] = (float)s;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nt, (int)n, (int)d, 1.0f,
                        res, (int)d, e, (int)d, 0.0f, dots, (int)n);
            for (int64_t t = 0; t < nt; t++) {
                int64_t best = 0;
                float bd = INFINITY;
                for (int64_t i = 0; i < n; i++) {
                    float dist = norms[i] - 2.0f * dots[t * n + i];
                    if (dist < bd) {
                        bd = dist;
                        best = i;
                    }
                }
                codes[qi * t_len + t0 + t] = (int32_t)best;
                for (int64_t j = 0; j < d; j++)
                    res[t * d + j] -= e[best * d + j];
            }
        }
    }
    return RG_OK;
}

static void cpu_rvq_decode(const rg_op *op) {
    const rg_tensor *x = &op->t[RVQ_X], *cbt = &op->t[RVQ_CB], *codes_t = &op->t[RVQ_CODES];
    int64_t t_len = x->shape[0], d = x->shape[1], n = cbt->shape[1], nq = codes_t->shape[0];
    const int32_t *codes = rg_host_ptr(codes_t);
    float *out = rg_host_ptr(x);
    for (int64_t t = 0; t < t_len; t++)
        for (int64_t j = 0; j < d; j++) {
            float s = 0.0f;
            for (int64_t qi = 0; qi < nq; qi++) {
                int64_t id = codes[qi * t_len + t];
                if (id >= 0 && id < n)
                    s += load_elem(cbt, (qi * n + id) * d + j);
            }
            out[t * x->stride[0] + j * x->stride[1]] = s;
        }
}

static int cmp_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* One row of rg_op_sample; see tensor.h for the definition it follows. */
static int32_t sample_row(const float *logits, int64_t v, const rg_sample_params *p,
                          uint32_t row, float *work) {
    if (p->temperature <= 0.0f) {
        int64_t best = 0;
        for (int64_t i = 1; i < v; i++)
            if (logits[i] > logits[best])
                best = i;
        return (int32_t)best;
    }
    float inv_t = 1.0f / p->temperature, mx = -INFINITY, thr = -INFINITY;
    for (int64_t i = 0; i < v; i++)
        mx = logits[i] * inv_t > mx ? logits[i] * inv_t : mx;
    if (p->top_k > 0 && p->top_k < v) {
        for (int64_t i = 0; i < v; i++)
            work[i] = logits[i] * inv_t;
        qsort(work, (size_t)v, sizeof *work, cmp_desc);
        thr = work[p->top_k - 1];
    }
    float *prob = work;
    double total = 0.0;
    for (int64_t i = 0; i < v; i++) {
        float z = logits[i] * inv_t;
        prob[i] = z >= thr ? expf(z - mx) : 0.0f;
        total += prob[i];
    }
    float pthr = 0.0f;
    if (p->top_p > 0.0f && p->top_p < 1.0f) {
        float *sorted = work + v;
        memcpy(sorted, prob, (size_t)v * sizeof *sorted);
        qsort(sorted, (size_t)v, sizeof *sorted, cmp_desc);
        double acc = 0.0, goal = p->top_p * total;
        for (int64_t i = 0; i < v; i++) {
            acc += sorted[i];
            pthr = sorted[i];
            if (acc >= goal)
                break;
        }
        total = 0.0;
        for (int64_t i = 0; i < v; i++) {
            if (prob[i] < pthr)
                prob[i] = 0.0f;
            total += prob[i];
        }
    }
    double target = rg_sample_uniform(p->seed, p->step, row) * total, acc = 0.0;
    int64_t last = 0;
    for (int64_t i = 0; i < v; i++) {
        if (prob[i] <= 0.0f)
            continue;
        acc += prob[i];
        last = i;
        if (acc > target)
            return (int32_t)i;
    }
    return (int32_t)last;
}

static rg_status cpu_sample(rg_device *dev, const rg_op *op) {
    const rg_tensor *lt = &op->t[SMP_LOGITS];
    int64_t v = lt->shape[lt->ndim - 1], rows = rg_tensor_numel(lt) / v;
    float *work = scratch(dev, 1, (size_t)(2 * v));
    if (!work)
        return rg_fail(dev, RG_ERR_OOM, "sample: no memory");
    const float *l = rg_host_ptr(lt);
    int32_t *ids = rg_host_ptr(&op->t[SMP_IDS]);
    for (int64_t r = 0; r < rows; r++)
        ids[r] = sample_row(l + r * v, v, &op->p.sample, (uint32_t)r, work);
    return RG_OK;
}

/* ------------------------------------------------------------------------ */
/* Harmonic bank (rg_op_harmonic): the per-frame controls and phases go to  */
/* the op's scratch [f | Phi | a_1..a_K], then frames render in parallel.   */
/* The float expressions follow harmonic_synth (train/encodec_ref.py) term  */
/* for term, so the rounding is PyTorch's. The scratch f is signed: with an */
/* f0 track it is the track (negative: an unpitched frame), without one     */
/* always positive, so one glide rule serves both (glide_from).             */
/* ------------------------------------------------------------------------ */

/* Where frame t's glide starts: the previous frame's f if that frame is
 * pitched (frame 0: its own), else frame t's own, so a note after a rest
 * does not glide up from the last one. */
static inline float glide_from(const float *f, int64_t t) {
    float prev = f[t > 0 ? t - 1 : 0];
    return prev > 0.0f ? prev : fabsf(f[t]);
}

static void harmonic_frames(const rg_op *op, float *sc) {
    const rg_tensor *h = &op->t[HARM_H], *track = &op->t[HARM_F0];
    const rg_harmonic_params *p = &op->p.harm;
    const float *hb = rg_host_ptr(h), *fb = track->buf ? rg_host_ptr(track) : NULL;
    int64_t t_len = h->shape[1], bins = h->shape[0] - 1, s0 = h->stride[0], s1 = h->stride[1];
    float *f = sc, *phase = sc + t_len, *amp = sc + 2 * t_len;
    float ratio = p->f0_max / p->f0_min, ln10 = (float)log(10.0);
    for (int64_t t = 0; t < t_len; t++) {
        f[t] = fb ? fb[t * track->stride[0]] : p->f0_min * powf(ratio, sigmoidf(hb[t * s1]));
        bool pitched = f[t] > 0.0f; /* always, without a track */
        for (int64_t k = 0; k < bins; k++)
            amp[k * t_len + t] =
                pitched ? 2.0f * powf(sigmoidf(hb[(k + 1) * s0 + t * s1]), ln10) : 0.0f;
    }
    double acc = 0, hop = p->hop, sr = p->sample_rate;
    for (int64_t t = 0; t < t_len; t++) {
        float fp = glide_from(f, t), d = fabsf(f[t]) - fp;
        phase[t] = (float)(acc - floor(acc));
        acc += (hop * fp + (double)d * (hop + 1) / 2) / sr;
    }
}

typedef struct {
    const rg_op *op;
    const float *sc;
    int64_t lo, hi; /* frames */
} harmonic_job;

/* Whether every harmonic's amplitude is zero at both ends of frame t (a
 * frame of the drums, or a rest): its samples are sums of 0 * sin, exactly
 * zero, so the frame need not be rendered. */
static bool frame_is_silent(const float *amp, int64_t t_len, int64_t bins, int64_t pt, int64_t t) {
    for (int64_t k = 0; k < bins; k++)
        if (amp[k * t_len + pt] != 0.0f || amp[k * t_len + t] != 0.0f)
            return false;
    return true;
}

static void *harmonic_render(void *arg) {
    const harmonic_job *jb = arg;
    const rg_harmonic_params *p = &jb->op->p.harm;
    int64_t t_len = jb->op->t[HARM_H].shape[1], bins = jb->op->t[HARM_H].shape[0] - 1;
    int64_t hop = p->hop;
    const float *f = jb->sc, *phase = jb->sc + t_len, *amp = jb->sc + 2 * t_len;
    float *out = rg_host_ptr(&jb->op->t[HARM_OUT]);
    float sr = p->sample_rate, nyquist = sr / 2, fhop = (float)hop, two_hop = (float)(2 * hop);
    for (int64_t t = jb->lo; t < jb->hi; t++) {
        int64_t pt = t > 0 ? t - 1 : 0;
        float fp = glide_from(f, t), d = fabsf(f[t]) - fp;
        float *o = out + (t - p->first_frame) * hop;
        if (frame_is_silent(amp, t_len, bins, pt, t)) { /* every term below is 0 * sin */
            if (!p->accumulate)
                memset(o, 0, (size_t)hop * sizeof *o);
            continue;
        }
        for (int64_t j = 0; j < hop; j++) {
            float jj = (float)(j + 1), w = jj / fhop, fr = fp + d * w;
            float phi = phase[t] + (jj * fp + d * jj * (jj + 1.0f) / two_hop) / sr;
            phi -= floorf(phi);
            float y = 0.0f;
            for (int64_t k = 1; k <= bins && (float)k * fr < nyquist; k++) {
                float ap = amp[(k - 1) * t_len + pt], at = amp[(k - 1) * t_len + t];
                float kphi = (float)k * phi;
                kphi -= floorf(kphi);
                y += (ap + (at - ap) * w) * sinf(6.2831855f * kphi);
            }
            o[j] = p->accumulate ? o[j] + y : y;
        }
    }
    return NULL;
}

static void cpu_harmonic(const rg_op *op) {
    float *sc = rg_host_ptr(&op->t[HARM_SCRATCH]);
    harmonic_frames(op, sc);
    int64_t first = op->p.harm.first_frame, t_len = op->t[HARM_H].shape[1];
    int64_t frames = t_len - first;
    int n = thread_count(frames * op->p.harm.hop * (op->t[HARM_H].shape[0] - 1), 1 << 16);
    if (n > frames)
        n = (int)frames;
    harmonic_job jobs[8];
    for (int i = 0; i < n; i++)
        jobs[i] = (harmonic_job){op, sc, first + frames * i / n, first + frames * (i + 1) / n};
    run_jobs(harmonic_render, jobs, sizeof jobs[0], n);
}

static rg_status run_op(rg_device *dev, const rg_op *op) {
    switch (op->kind) {
    case RG_OP_MATMUL: return cpu_matmul(dev, op);
    case RG_OP_BINARY: cpu_binary(op); return RG_OK;
    case RG_OP_SCALE: cpu_scale(op); return RG_OK;
    case RG_OP_UNARY: cpu_unary(op); return RG_OK;
    case RG_OP_LAYER_NORM:
    case RG_OP_RMS_NORM: cpu_norm(op); return RG_OK;
    case RG_OP_SOFTMAX: cpu_softmax(op); return RG_OK;
    case RG_OP_EMBEDDING: cpu_embedding(op); return RG_OK;
    case RG_OP_COPY: cpu_copy(op); return RG_OK;
    case RG_OP_CONV1D: return cpu_conv1d(dev, op);
    case RG_OP_CONV_T1D: return cpu_conv_t1d(dev, op);
    case RG_OP_LSTM: return cpu_lstm(dev, op);
    case RG_OP_ATTENTION: return cpu_attention(dev, op);
    case RG_OP_RVQ_ENCODE: return cpu_rvq_encode(dev, op);
    case RG_OP_RVQ_DECODE: cpu_rvq_decode(op); return RG_OK;
    case RG_OP_SAMPLE: return cpu_sample(dev, op);
    case RG_OP_HARMONIC: cpu_harmonic(op); return RG_OK;
    case RG_OP_KIND_COUNT: break;
    }
    return rg_fail(dev, RG_ERR_INVALID, "unknown op kind %d", (int)op->kind);
}

/* ------------------------------------------------------------------------ */
/* Backend entry points                                                     */
/* ------------------------------------------------------------------------ */

#include <time.h>

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static rg_status cpu_submit(rg_cmd *cmd) {
    rg_device *dev = cmd->dev;
    for (int i = 0; i < cmd->count; i++) {
        double t0 = dev->profile ? now_us() : 0.0;
        rg_status s = run_op(dev, &cmd->ops[i]);
        if (s != RG_OK)
            return s;
        if (dev->profile)
            fprintf(stderr, "resonant profile: op %3d %-18s %10.1f us\n", i,
                    rg_op_name(cmd->ops[i].kind), now_us() - t0);
    }
    return RG_OK;
}

static rg_status cpu_wait(rg_cmd *cmd) {
    (void)cmd;
    return RG_OK;
}

static rg_status cpu_buffer_create(rg_device *dev, rg_buffer *buf) {
    /* 64-byte alignment for vector loads; at least one byte so it is unique. */
    size_t n = (buf->size + 63) & ~(size_t)63;
    buf->host = aligned_alloc(64, n ? n : 64);
    if (!buf->host)
        return rg_fail(dev, RG_ERR_OOM, "cpu: cannot allocate %zu bytes", buf->size);
    memset(buf->host, 0, n ? n : 64);
    return RG_OK;
}

static void cpu_buffer_destroy(rg_buffer *buf) { free(buf->host); }

static rg_status cpu_buffer_write(rg_buffer *buf, size_t off, const void *src, size_t n) {
    memcpy((char *)buf->host + off, src, n);
    return RG_OK;
}

static rg_status cpu_buffer_read(rg_buffer *buf, size_t off, void *dst, size_t n) {
    memcpy(dst, (const char *)buf->host + off, n);
    return RG_OK;
}

static void cpu_destroy(rg_device *dev) {
    cpu_device *cd = dev->impl;
    if (cd) {
        free(cd->scratch[0]);
        free(cd->scratch[1]);
        free(cd);
    }
}

static const rg_backend_vtable cpu_vtable = {
    .name = "cpu",
    .destroy = cpu_destroy,
    .buffer_create = cpu_buffer_create,
    .buffer_destroy = cpu_buffer_destroy,
    .buffer_write = cpu_buffer_write,
    .buffer_read = cpu_buffer_read,
    .cmd_submit = cpu_submit,
    .cmd_wait = cpu_wait,
    .cmd_release = NULL,
};

rg_status rg_cpu_open(rg_device *dev) {
    dev->impl = calloc(1, sizeof(cpu_device));
    if (!dev->impl)
        return rg_fail(dev, RG_ERR_OOM, "cpu: out of host memory");
    dev->kind = RG_BACKEND_CPU;
    dev->vt = &cpu_vtable;
    snprintf(dev->name, sizeof dev->name, "cpu (openblas %s)", openblas_get_config());
    return RG_OK;
}
