/* Tensor runtime benchmark (built, not run by the tests).
 *
 *   <builddir>/bench/bench_tensor [--quick]
 *
 * For matmul at 1024^3 and the decode-step matrix-vector shapes (M = 1..8
 * rows against a 4096 x 1024 Linear weight, MusicGen's fc1), it prints
 * GFLOP/s (and GB/s for the matrix-vector case) for:
 *   cpu      the CPU backend through rg_op_matmul
 *   cblas    OpenBLAS called directly on the same data, same run
 *   vulkan   the Vulkan backend (any device, lavapipe included)
 *   numpy    numpy.matmul through /usr/bin/python3, if numpy is importable
 * and the ratio of each to OpenBLAS and to the machine's peak: FLOP peak =
 * cores x MHz x 32 (AVX2: two 8-wide FMA units; an assumption printed with
 * the result), bandwidth peak = a measured large memcpy (read + write).
 * Matrix-vector figures above the memcpy rate mean W (16 MiB) partly stayed
 * in the last-level cache between iterations, for every contender alike.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/tensor/tensor.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static float *rand_vec(size_t n) {
    float *v = malloc(n * sizeof *v);
    if (!v) {
        fprintf(stderr, "bench: out of memory\n");
        exit(1);
    }
    uint32_t s = 12345;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        v[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
    }
    return v;
}

typedef struct shape {
    const char *name;
    int m, n, k;
} shape;

typedef struct result {
    double gflops, gbps;
} result;

static double flops(const shape *s) { return 2.0 * s->m * s->n * s->k; }
static double bytes(const shape *s) {
    return 4.0 * ((double)s->n * s->k + (double)s->m * s->k + (double)s->m * s->n);
}

static result make_result(const shape *s, double seconds_per_iter) {
    return (result){flops(s) / seconds_per_iter / 1e9, bytes(s) / seconds_per_iter / 1e9};
}

/* Iterations so that one measurement takes roughly `budget` seconds. */
static int iters_for(double est_gflops, const shape *s, double budget, int lo, int hi) {
    int n = (int)(budget / (flops(s) / (est_gflops * 1e9)));
    return n < lo ? lo : n > hi ? hi : n;
}

static result bench_cblas(const shape *s, const float *a, const float *w, float *out, int iters) {
    /* Same calls the CPU backend makes: gemv for one row, gemm otherwise. */
    for (int warm = 0; warm < 2; warm++) {
        if (s->m == 1)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, s->n, s->k, 1.0f, w, s->k, a, 1, 0.0f, out, 1);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->m, s->n, s->k, 1.0f, a, s->k,
                        w, s->k, 0.0f, out, s->n);
    }
    double t0 = now_s();
    for (int i = 0; i < iters; i++) {
        if (s->m == 1)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, s->n, s->k, 1.0f, w, s->k, a, 1, 0.0f, out, 1);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->m, s->n, s->k, 1.0f, a, s->k,
                        w, s->k, 0.0f, out, s->n);
    }
    return make_result(s, (now_s() - t0) / iters);
}

/* ops_per_submit matmuls recorded in one list: on Vulkan this measures the
 * kernels rather than the submit latency. */
static int bench_device(rg_device *dev, const shape *s, const float *a, const float *w,
                        int iters, int ops_per_submit, result *res) {
    rg_tensor ta, tw, to;
    int64_t as[2] = {s->m, s->k}, ws[2] = {s->n, s->k}, os[2] = {s->m, s->n};
    if (rg_tensor_create(dev, RG_F32, 2, as, &ta) || rg_tensor_create(dev, RG_F32, 2, ws, &tw) ||
        rg_tensor_create(dev, RG_F32, 2, os, &to) || rg_tensor_write_f32(&ta, a) ||
        rg_tensor_write_f32(&tw, w)) {
        fprintf(stderr, "bench: %s\n", rg_device_error(dev));
        return -1;
    }
    rg_cmd *cmd;
    rg_cmd_create(dev, &cmd);
    for (int i = 0; i < ops_per_submit; i++)
        rg_op_matmul(cmd, &ta, &tw, NULL, &to, true);
    if (rg_cmd_run(cmd) != RG_OK) { /* warm-up: pipelines, caches */
        fprintf(stderr, "bench: %s\n", rg_device_error(dev));
        return -1;
    }
    double t0 = now_s();
    for (int i = 0; i < iters; i++)
        if (rg_cmd_run(cmd) != RG_OK) {
            fprintf(stderr, "bench: %s\n", rg_device_error(dev));
            return -1;
        }
    *res = make_result(s, (now_s() - t0) / ((double)iters * ops_per_submit));
    rg_cmd_destroy(cmd);
    rg_tensor_destroy(&ta), rg_tensor_destroy(&tw), rg_tensor_destroy(&to);
    return 0;
}

/* numpy through the system Python (the PATH python may lack numpy). */
static int bench_numpy(const shape *s, int iters, result *res) {
    if (access("/usr/bin/python3", X_OK) != 0)
        return -1;
    char cmdline[1024];
    snprintf(cmdline, sizeof cmdline,
             "/usr/bin/python3 -c \"import time, numpy as np\n"
             "a=np.random.rand(%d,%d).astype(np.float32); w=np.random.rand(%d,%d).astype(np.float32)\n"
             "wt=w.T\n"
             "for _ in range(2): a@wt\n"
             "t=time.perf_counter()\n"
             "for _ in range(%d): a@wt\n"
             "print((time.perf_counter()-t)/%d)\" 2>/dev/null",
             s->m, s->k, s->n, s->k, iters, iters);
    FILE *p = popen(cmdline, "r");
    if (!p)
        return -1;
    double sec = 0;
    int ok = fscanf(p, "%lf", &sec) == 1 && sec > 0;
    pclose(p);
    if (!ok)
        return -1;
    *res = make_result(s, sec);
    return 0;
}

/* The Vulkan matmul kernels side by side at 512^3 (small enough for
 * lavapipe): the default choice for this device against the naive kernel
 * (one thread per output), which is the baseline the target is
 * stated against, measured in the same run. */
static void bench_vulkan_kernels(rg_device *vk, double peak, double bw) {
    shape s = {"mm 512^3", 512, 512, 512};
    float *a = rand_vec((size_t)s.m * s.k), *w = rand_vec((size_t)s.n * s.k);
    const char *modes[] = {"naive", "tiled", "direct", NULL};
    result base = {0, 0}, r;
    printf("\nvulkan matmul kernels (RESONANT_VK_MATMUL), %s:\n", rg_device_name(vk));
    for (int i = 0; modes[i]; i++) {
        setenv("RESONANT_VK_MATMUL", modes[i], 1);
        if (bench_device(vk, &s, a, w, 1, 2, &r) != 0)
            continue;
        if (i == 0)
            base = r;
        char label[32];
        snprintf(label, sizeof label, "vk-%s", modes[i]);
        printf("%-8s %-14s %9.2f GFLOP/s   x%.2f vs naive\n", label, s.name, r.gflops,
               base.gflops > 0 ? r.gflops / base.gflops : 0.0);
    }
    unsetenv("RESONANT_VK_MATMUL");
    (void)peak, (void)bw;
    free(a), free(w);
}

static double cpu_mhz(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    double mhz = 0;
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "cpu MHz : %lf", &mhz) == 1)
            break;
    if (f)
        fclose(f);
    return mhz;
}

/* Bandwidth reference: a 256 MiB memcpy (counts bytes read + written). */
static double memcpy_gbps(void) {
    size_t n = (size_t)256 << 20;
    char *a = malloc(n), *b = malloc(n);
    if (!a || !b)
        return 0;
    memset(a, 1, n);
    memset(b, 2, n);
    double best = 0;
    for (int i = 0; i < 3; i++) {
        double t0 = now_s();
        memcpy(b, a, n);
        double g = 2.0 * (double)n / (now_s() - t0) / 1e9;
        best = g > best ? g : best;
    }
    free(a), free(b);
    return best;
}

static void print_row(const char *backend, const shape *s, const result *r, const result *ref,
                      double peak_gflops, double peak_gbps) {
    printf("%-8s %-14s %9.2f GFLOP/s %8.2f GB/s   x%-6.2f vs cblas   %5.1f%% of FLOP peak   %5.1f%% of memcpy\n",
           backend, s->name, r->gflops, r->gbps, ref ? r->gflops / ref->gflops : 1.0,
           100.0 * r->gflops / peak_gflops, 100.0 * r->gbps / peak_gbps);
}

int main(int argc, char **argv) {
    bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress is visible when redirected */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    double mhz = cpu_mhz();
    double peak = (double)cores * mhz * 1e6 * 32.0 / 1e9;
    double bw = memcpy_gbps();
    printf("machine: %ld cores, %.0f MHz; FLOP peak (assumed AVX2 2xFMA, 32 FLOP/cycle/core) %.1f GFLOP/s; memcpy %.1f GB/s\n",
           cores, mhz, peak, bw);
    printf("openblas: %s\n\n", openblas_get_config());

    shape shapes[] = {
        {"mm 1024^3", 1024, 1024, 1024},
        {"mv M=1", 1, 4096, 1024}, {"mv M=2", 2, 4096, 1024}, {"mv M=4", 4, 4096, 1024},
        {"mv M=8", 8, 4096, 1024},
    };
    int nshapes = sizeof shapes / sizeof *shapes;

    rg_device *cpu = NULL, *vk = NULL;
    char err[512];
    if (rg_device_create(&(rg_device_desc){RG_BACKEND_CPU, NULL}, &cpu, err, sizeof err)) {
        fprintf(stderr, "bench: cpu device: %s\n", err);
        return 1;
    }
    if (rg_device_create(&(rg_device_desc){RG_BACKEND_VULKAN, NULL}, &vk, err, sizeof err))
        printf("vulkan: not available (%s)\n\n", err);
    else
        printf("vulkan: %s\n\n", rg_device_name(vk));

    for (int i = 0; i < nshapes; i++) {
        const shape *s = &shapes[i];
        float *a = rand_vec((size_t)s->m * s->k), *w = rand_vec((size_t)s->n * s->k);
        float *out = rand_vec((size_t)s->m * s->n);
        double budget = quick ? 0.2 : 1.0;
        int it = iters_for(100.0, s, budget, 3, 5000);
        /* Other processes share the cores: alternate cblas and the backend
         * three times and keep each one's best, so both see the same load. */
        result ref = {0, 0}, r = {0, 0};
        for (int round = 0; round < 3; round++) {
            result x = bench_cblas(s, a, w, out, it), y;
            ref = x.gflops > ref.gflops ? x : ref;
            if (bench_device(cpu, s, a, w, it, 1, &y) == 0 && y.gflops > r.gflops)
                r = y;
        }
        print_row("cblas", s, &ref, NULL, peak, bw);
        print_row("cpu", s, &r, &ref, peak, bw);
        if (vk) {
            /* lavapipe is ~1-10 GFLOP/s: a short budget keeps the run short. */
            int vit = s->m > 8 ? 1 : 2, per = s->m > 8 ? 2 : 10;
            if (bench_device(vk, s, a, w, vit, per, &r) == 0)
                print_row("vulkan", s, &r, &ref, peak, bw);
        }
        if (bench_numpy(s, it * 3, &r) == 0)
            print_row("numpy", s, &r, &ref, peak, bw);
        else if (i == 0)
            printf("numpy    (not importable by /usr/bin/python3: skipped)\n");
        free(a), free(w), free(out);
    }
    if (vk)
        bench_vulkan_kernels(vk, peak, bw);
    rg_device_destroy(vk);
    rg_device_destroy(cpu);
    return 0;
}
