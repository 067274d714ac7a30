/* Issue 7's speed target: SECONDS of drums + bass generated and decoded by
 * the shipped track-aware model on the engine's CPU backend, next to the
 * PyTorch reference of the same model (train/bench_track.py) in the same
 * run.
 *
 *   bench_track [MODEL_DIR] [SECONDS] [REPEATS]
 *       (defaults: $RESONANT_SOURCE_DIR/models/default or models/default, 8, 1)
 *
 * The workload is what the demo patch asks: a drum take from a prompt at
 * 124 bpm, decoded; then a bass take from its prompt hearing the drums
 * (locked track), decoded. Sampling: guidance 3, temperature 1, top-k 50
 * (train/lm.py's defaults), fixed seeds. Times are wall-clock, best of
 * REPEATS after a warm-up, loading excluded (printed apart). One JSON line
 * per implementation. Threads: the CPU backend's BLAS takes
 * OPENBLAS_NUM_THREADS (meson's benchmark sets 2, the cores of the target
 * machine), and the reference gets as many torch threads.
 * RESONANT_BENCH_NO_TORCH=1 skips the reference; RESONANT_BENCH_WEIGHTS=f32
 * or f16 stores the engine's matrices so (default: as the file stores them,
 * f16 for the shipped model). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "runtime/model/encodec.h"
#include "runtime/model/musicgen.h"

#include "runtime/tensor/tensor.h"

#define BPM 124.0f
static const char *const DRUMS_PROMPT = "drums, four on the floor, 124 bpm, punchy techno";
static const char *const BASS_PROMPT = "bass, acid line, 124 bpm, A minor, dark techno";

typedef struct {
    double drums_lm, drums_decode, bass_lm, bass_decode;
} timings;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double total(const timings *t) {
    return t->drums_lm + t->drums_decode + t->bass_lm + t->bass_decode;
}

static bool fail(const rg_error *err) {
    fprintf(stderr, "bench_track: %s: %s\n", err->file, err->message);
    return false;
}

/* One take of `role` from `prompt`, hearing `locked` (n_locked 0 or 1). */
static bool take(rg_musicgen *m, const char *prompt, const char *role, const rg_lm_track *locked,
                 int n_locked, int frames, uint64_t seed, int32_t *codes, rg_error *err) {
    rg_lm_cond text, cond;
    if (!rg_musicgen_condition_text(m, prompt, &text, err)) return false;
    bool ok = rg_musicgen_condition_track(m, &text, rg_musicgen_track_role(m, role), BPM, prompt,
                                          locked, n_locked, &cond, err);
    rg_lm_cond_free(&text);
    if (!ok) return false;
    rg_lm_sampling sp = rg_lm_sampling_default();
    sp.top_k = 50;
    sp.seed = seed;
    ok = rg_musicgen_generate(m, &cond, &sp, NULL, frames, NULL, NULL, codes, err);
    rg_lm_cond_free(&cond);
    return ok;
}

static bool drums_and_bass(rg_musicgen *m, rg_encodec *codec, int frames, int32_t *drums,
                           int32_t *bass, float *audio, timings *t, rg_error *err) {
    int kk = rg_musicgen_get_config(m)->codebooks;
    double t0 = now();
    if (!take(m, DRUMS_PROMPT, "drums", NULL, 0, frames, 1, drums, err)) return false;
    double t1 = now();
    if (!rg_encodec_decode(codec, drums, kk, frames, audio, err)) return false;
    double t2 = now();
    rg_lm_track locked = {.role = rg_musicgen_track_role(m, "drums"), .codes = drums,
                          .frames = frames};
    if (!take(m, BASS_PROMPT, "bass", &locked, 1, frames, 2, bass, err)) return false;
    double t3 = now();
    if (!rg_encodec_decode(codec, bass, kk, frames, audio, err)) return false;
    double t4 = now();
    *t = (timings){t1 - t0, t2 - t1, t3 - t2, t4 - t3};
    return true;
}

static void run_torch(const char *dir, double seconds, int repeats, const char *threads) {
    if (getenv("RESONANT_BENCH_NO_TORCH")) return;
    const char *src = getenv("RESONANT_SOURCE_DIR");
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 '%s/train/bench_track.py' '%s' --seconds %g --repeats %d "
             "--threads %s",
             src ? src : ".", dir, seconds, repeats, threads);
    fflush(stdout);
    int rc = system(cmd);
    if (rc != 0) fprintf(stderr, "# the PyTorch reference did not run (%d)\n", rc);
}

static bool bench(const char *dir, double seconds, int repeats) {
    char msg[256];
    rg_device *dev;
    if (rg_device_create(NULL, &dev, msg, sizeof msg) != RG_OK) {
        fprintf(stderr, "bench_track: no device: %s\n", msg);
        return false;
    }
    rg_error err = {0};
    rg_musicgen *m = NULL;
    rg_encodec *codec = NULL;
    double t0 = now();
    const char *storage = getenv("RESONANT_BENCH_WEIGHTS");
    rg_musicgen_options opt = {.weight_dtype =
                                   storage && !strcmp(storage, "f16") ? RG_F16 : RG_F32};
    bool ok = rg_musicgen_load(dir, dev, storage ? &opt : NULL, &m, &err) &&
              rg_encodec_load(dir, dev, &codec, &err);
    double load_s = now() - t0;
    if (ok && rg_musicgen_track_roles(m) == 0) {
        fprintf(stderr, "bench_track: %s is not a track-aware model\n", dir);
        ok = false;
    }
    int frames = 0, kk = 0, hop = 0;
    if (ok) {
        frames = (int)(seconds * rg_encodec_get_config(codec)->frame_rate + 0.5);
        kk = rg_musicgen_get_config(m)->codebooks;
        hop = rg_encodec_get_config(codec)->hop_length;
    }
    int32_t *drums = malloc((size_t)kk * frames * sizeof *drums + 1);
    int32_t *bass = malloc((size_t)kk * frames * sizeof *bass + 1);
    float *audio = malloc((size_t)frames * hop * sizeof *audio + 1);
    timings best = {0}, t;
    for (int r = 0; ok && r <= repeats; r++) { /* run 0 warms up */
        ok = drums_and_bass(m, codec, frames, drums, bass, audio, &t, &err) || fail(&err);
        if (ok && (r == 1 || (r > 1 && total(&t) < total(&best)) || repeats == 0)) best = t;
    }
    if (ok) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        printf("{\"impl\": \"engine %s\", \"weights\": \"%s\", \"seconds\": %g, \"total_s\": %.3f, "
               "\"drums_lm_s\": %.3f, \"drums_decode_s\": %.3f, \"bass_lm_s\": %.3f, "
               "\"bass_decode_s\": %.3f, \"load_s\": %.3f, \"peak_rss_mb\": %ld}\n",
               rg_device_name(dev), storage ? storage : "as stored", seconds, total(&best),
               best.drums_lm, best.drums_decode, best.bass_lm, best.bass_decode, load_s, ru.ru_maxrss / 1024);
    } else if (err.message[0]) {
        fail(&err);
    }
    free(drums);
    free(bass);
    free(audio);
    rg_encodec_free(codec);
    rg_musicgen_free(m);
    rg_device_destroy(dev);
    return ok;
}

int main(int argc, char **argv) {
    const char *src = getenv("RESONANT_SOURCE_DIR");
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/models/default", src ? src : ".");
    if (argc > 1) snprintf(dir, sizeof dir, "%s", argv[1]);
    double seconds = argc > 2 ? atof(argv[2]) : 8.0;
    int repeats = argc > 3 ? atoi(argv[3]) : 1;
    if (!(seconds > 0) || repeats < 0) {
        fprintf(stderr, "usage: bench_track [MODEL_DIR] [SECONDS] [REPEATS]\n");
        return 2;
    }
    const char *threads = getenv("OPENBLAS_NUM_THREADS");
    bool ok = bench(dir, seconds, repeats);
    if (ok) run_torch(dir, seconds, repeats, threads ? threads : "0");
    return ok ? 0 : 1;
}
