/* Decode speed, real-time factor and peak memory of the MusicGen language
 * model on the tensor runtime, next to the PyTorch reference
 * (train/musicgen_ref.py --bench) on the same machine in the same run.
 *
 *   bench_lm MODEL_DIR [FRAMES] [REPEATS] [f16]
 *
 * The workload is MusicGen's: condition on a prompt, then guided greedy
 * decoding (a batch of two) of FRAMES frames, FRAMES + 3 steps. Real-time
 * factor = seconds of audio (50 frames per second) per second of compute;
 * best of REPEATS after a warm-up run. `f16` stores the weights as f16 (the
 * reference is not run then: it has no f16 CPU path). Peak resident memory
 * is the process's maximum RSS, weights included. The reference uses as many
 * torch threads as OPENBLAS_NUM_THREADS gives the runtime (default 1).
 * RESONANT_BENCH_NO_TORCH=1 skips it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "runtime/model/musicgen.h"

#include "runtime/tensor/tensor.h"

#define FRAME_RATE 50.0 /* MusicGen's EnCodec 32 kHz: 32000 / 640 */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static long peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

static void run_torch(const char *dir, int frames, int repeats, int threads) {
    if (getenv("RESONANT_BENCH_NO_TORCH")) return;
    const char *src = getenv("RESONANT_SOURCE_DIR");
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 '%s/train/musicgen_ref.py' --bench '%s' --frames %d --repeats %d "
             "--threads %d",
             src ? src : ".", dir, frames, repeats, threads);
    fflush(stdout);
    int rc = system(cmd);
    if (rc != 0) fprintf(stderr, "# the PyTorch reference did not run (%d)\n", rc);
}

/* Prompt -> codes, as one take: what the benchmark times. */
static bool take(rg_musicgen *m, int frames, int32_t *codes, rg_error *err) {
    rg_lm_cond cond;
    if (!rg_musicgen_condition_text(m, "dark minimal techno in A minor", &cond, err)) return false;
    rg_lm_sampling sp = rg_lm_sampling_default();
    sp.temperature = 0.0f; /* greedy, like the reference's benchmark */
    bool ok = rg_musicgen_generate(m, &cond, &sp, NULL, frames, NULL, NULL, codes, err);
    rg_lm_cond_free(&cond);
    return ok;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_lm MODEL_DIR [FRAMES] [REPEATS] [f16]\n");
        return 1;
    }
    int frames = argc > 2 ? atoi(argv[2]) : 50, repeats = argc > 3 ? atoi(argv[3]) : 1;
    bool f16 = argc > 4 && strcmp(argv[4], "f16") == 0;
    const char *threads_env = getenv("OPENBLAS_NUM_THREADS");
    if (!threads_env) setenv("OPENBLAS_NUM_THREADS", "1", 1); /* before OpenBLAS starts */
    int threads = threads_env ? atoi(threads_env) : 1;
    rg_device *dev;
    char msg[512] = "";
    if (rg_device_create(NULL, &dev, msg, sizeof msg) != RG_OK) {
        fprintf(stderr, "no device: %s\n", msg);
        return 2;
    }
    rg_musicgen *m;
    rg_error err = {0};
    rg_musicgen_options opt = {.weight_dtype = f16 ? RG_F16 : RG_F32};
    double t0 = now();
    if (!rg_musicgen_load(argv[1], dev, &opt, &m, &err)) {
        fprintf(stderr, "%s: %s\n", err.file, err.message);
        return 1;
    }
    double load_s = now() - t0;
    int32_t *codes = malloc((size_t)frames * 16 * sizeof *codes);
    double best = 1e30;
    bool ok = true;
    for (int r = 0; r < repeats + 1 && ok; r++) { /* the first run warms up */
        double t1 = now();
        ok = take(m, frames, codes, &err);
        if (r > 0 || repeats == 0) best = best < now() - t1 ? best : now() - t1;
    }
    if (!ok) {
        fprintf(stderr, "%s: %s\n", err.file, err.message);
        return 2;
    }
    int steps = frames + rg_musicgen_get_config(m)->codebooks - 1;
    printf("{\"impl\": \"resonant %s\", \"weights\": \"%s\", \"threads\": %d, \"frames\": %d, "
           "\"steps_per_s\": %.3f, \"rtf\": %.4f, \"peak_rss_mb\": %ld, \"load_s\": %.1f}\n",
           rg_device_name(dev), f16 ? "f16" : "f32", threads, frames, steps / best,
           frames / FRAME_RATE / best, peak_rss_mb(), load_s);
    free(codes);
    rg_musicgen_free(m);
    rg_device_destroy(dev);
    if (!f16) run_torch(argv[1], frames, repeats, threads);
    return 0;
}
