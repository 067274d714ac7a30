/* Encode and decode real-time factors of an EnCodec model on the tensor
 * runtime, next to the PyTorch reference (train/encodec_ref.py) on the same
 * machine in the same run.
 *
 *   bench_encodec MODEL_DIR [SECONDS] [REPEATS]
 *
 * Real-time factor = seconds of audio per second of compute (higher is
 * faster; 1 is real time); the best of REPEATS runs counts. The reference
 * runs with as many torch threads as OPENBLAS_NUM_THREADS gives the runtime
 * (default 1), so both use the same cores. Set RESONANT_BENCH_NO_TORCH=1 to
 * skip it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/model/encodec.h"

#include "runtime/tensor/tensor.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Same kind of input as the reference's benchmark: white noise at -20 dB. */
static float *noise(int64_t n)
{
    float *x = malloc((size_t)n * sizeof *x);
    uint64_t s = 0x9e3779b97f4a7c15u;
    for (int64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005u + 1442695040888963407u;
        double u1 = ((s >> 11) + 0.5) / 9007199254740992.0;
        s = s * 6364136223846793005u + 1442695040888963407u;
        double u2 = ((s >> 11) + 0.5) / 9007199254740992.0;
        x[i] = (float)(0.1 * sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
    }
    return x;
}

static int run_torch(const char *model_dir, double seconds, int repeats, int threads)
{
    if (getenv("RESONANT_BENCH_NO_TORCH"))
        return 0;
    const char *src = getenv("RESONANT_SOURCE_DIR");
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 '%s/train/encodec_ref.py' --bench '%s' --seconds %g "
             "--repeats %d --threads %d",
             src ? src : ".", model_dir, seconds, repeats, threads);
    fflush(stdout);
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "# the PyTorch reference did not run (%d)\n", rc);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_encodec MODEL_DIR [SECONDS] [REPEATS]\n");
        return 1;
    }
    double seconds = argc > 2 ? atof(argv[2]) : 10.0;
    int repeats = argc > 3 ? atoi(argv[3]) : 3;
    const char *threads_env = getenv("OPENBLAS_NUM_THREADS");
    int threads = threads_env ? atoi(threads_env) : 0;
    if (!threads_env) {
        setenv("OPENBLAS_NUM_THREADS", "1", 1); /* before OpenBLAS starts */
        threads = 1;
        fprintf(stderr, "# OPENBLAS_NUM_THREADS unset: note the runtime may already use all "
                        "cores; set it explicitly for a fair comparison\n");
    }
    rg_device *dev;
    char msg[512] = "";
    if (rg_device_create(NULL, &dev, msg, sizeof msg) != RG_OK) {
        fprintf(stderr, "no device: %s\n", msg);
        return 2;
    }
    rg_encodec *m;
    rg_error err = {0};
    if (!rg_encodec_load(argv[1], dev, &m, &err)) {
        fprintf(stderr, "%s: %s\n", err.file, err.message);
        return 1;
    }
    const rg_encodec_config *cfg = rg_encodec_get_config(m);
    int64_t samples = (int64_t)(seconds * cfg->sampling_rate);
    int64_t frames = rg_encodec_frames(cfg, samples);
    float *audio = noise(samples * cfg->audio_channels);
    float *decoded = malloc((size_t)(frames * cfg->hop_length * cfg->audio_channels) *
                            sizeof *decoded);
    int32_t *codes = malloc((size_t)(frames * cfg->num_quantizers) * sizeof *codes);
    double best_enc = INFINITY, best_dec = INFINITY;
    bool ok = true;
    for (int r = 0; r < repeats + 1 && ok; r++) { /* the first run warms up */
        double t0 = now();
        ok = rg_encodec_encode(m, audio, samples, cfg->num_quantizers, codes, &err);
        double t1 = now();
        ok = ok && rg_encodec_decode(m, codes, cfg->num_quantizers, frames, decoded, &err);
        double t2 = now();
        if (r > 0 || repeats == 0) {
            best_enc = fmin(best_enc, t1 - t0);
            best_dec = fmin(best_dec, t2 - t1);
        }
    }
    if (!ok) {
        fprintf(stderr, "%s: %s\n", err.file, err.message);
        return 2;
    }
    printf("{\"impl\": \"resonant %s\", \"threads\": %d, \"seconds\": %g, "
           "\"encode_rtf\": %.3f, \"decode_rtf\": %.3f}\n",
           rg_device_name(dev), threads, seconds, seconds / best_enc, seconds / best_dec);
    run_torch(argv[1], seconds, repeats, threads);
    free(audio);
    free(decoded);
    free(codes);
    rg_encodec_free(m);
    rg_device_destroy(dev);
    return 0;
}
