/* Generate takes with the engine for train/eval.py --engine: one request per
 * line on stdin, the codes and decoded audio of each written to files.
 *
 *   track_takes MODEL_DIR [GUIDANCE TEMPERATURE TOP_K [tune] [key_lock] [note_on_lock] [sustain_lock]
 *               [sustain_attack=MS] [pitch_temperature=T]]
 *       < requests
 *
 * A request line (fields separated by one space, the prompt last, to the end
 * of the line):
 *   OUT ROLE BPM FRAMES SEED CONTEXT PROMPT...
 * OUT.codes receives the codes, int32 [K][FRAMES] little-endian, and
 * OUT.f32 the decoded audio, float32 [FRAMES * hop] at the codec's rate.
 * CONTEXT is "-" or a ROLE=FILE list separated by commas, each FILE an
 * OUT.codes of an earlier take of the same length (the locked tracks).
 * Sampling as train/lm.py's reference by default: guidance 3, temperature 1,
 * top-k 50. With `tune`, a take of a pitched role (not drums) whose prompt
 * names a key is tuned to that key's scale before it is written, as the
 * `tune` node does (runtime/scale_tune.h); its report goes to stderr. With
 * `key_lock`, a pitch codec's pitch row is sampled from the key the prompt
 * names only (rg_pitch_take_sampling, as the generator node's key_lock).
 * With `note_on_lock`, its notes start on the 16ths only (as the
 * generator node's note_on_lock); with `sustain_lock`, a pitched role's
 * held notes sound on the harmonic path alone past their attack (the
 * node's sustain_lock and sustain_attack; not on drums, whose pitch row
 * rests throughout).
 * A pitch codec's pitch row samples at pitch_temperature (default
 * RG_PITCH_TEMPERATURE_DEFAULT, as the generator node's).
 * One line "ok OUT" or "error OUT: message" is printed per request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/model/encodec.h"
#include "runtime/model/musicgen.h"
#include "runtime/model/pitch_code.h"
#include "runtime/scale_tune.h"

#include "runtime/tensor/tensor.h"

#define MAX_LINE 4096

typedef struct {
    rg_musicgen *m;
    rg_encodec *codec;
    const char *model_dir;
    int kk, hop;
    rg_lm_sampling sp;
    float pitch_temperature, sustain_attack_ms;
    bool tune, key_lock, note_on_lock, sustain_lock;
} engine;

static bool read_codes(const char *path, int32_t *codes, size_t n, rg_error *err) {
    FILE *f = fopen(path, "rb");
    bool ok = f && fread(codes, sizeof *codes, n, f) == n;
    if (f) fclose(f);
    return ok || rg_error_set(err, RG_ERR_IO, path, 0, 0, "cannot read %zu codes", n);
}

static bool write_file(const char *path, const void *data, size_t bytes, rg_error *err) {
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(data, 1, bytes, f) == bytes;
    if (f && fclose(f) != 0) ok = false;
    return ok || rg_error_set(err, RG_ERR_IO, path, 0, 0, "cannot write");
}

/* "drums=a.codes,chords=b.codes" -> tracks with codes read from the files. */
static bool parse_context(const engine *e, char *spec, int frames, rg_lm_track *tracks,
                          int32_t **bufs, int *n, rg_error *err) {
    *n = 0;
    if (strcmp(spec, "-") == 0) return true;
    for (char *item = strtok(spec, ","); item; item = strtok(NULL, ",")) {
        char *eq = strchr(item, '=');
        if (!eq || *n == RG_LM_MAX_TRACKS)
            return rg_error_set(err, RG_ERR_VALUE, item, 0, 0, "context must be ROLE=FILE,...");
        *eq = '\0';
        int role = rg_musicgen_track_role(e->m, item);
        if (role < 0) return rg_error_set(err, RG_ERR_VALUE, item, 0, 0, "no such role");
        size_t count = (size_t)e->kk * frames;
        bufs[*n] = malloc(count * sizeof **bufs);
        if (!bufs[*n] || !read_codes(eq + 1, bufs[*n], count, err)) return false;
        tracks[*n] = (rg_lm_track){.role = role, .codes = bufs[*n], .frames = frames};
        (*n)++;
    }
    return true;
}

static bool take(const engine *e, const char *out, const char *role, float bpm, int frames,
                 uint64_t seed, const rg_lm_track *tracks, int n_tracks, const char *prompt,
                 rg_error *err) {
    int32_t *codes = malloc((size_t)e->kk * frames * sizeof *codes);
    float *audio = malloc((size_t)frames * e->hop * sizeof *audio);
    rg_lm_cond text = {0}, cond = {0};
    rg_lm_sampling sp = e->sp;
    sp.seed = seed;
    char path[1100];
    rg_lm_key key;
    const rg_musicgen_config *mc = rg_musicgen_get_config(e->m);
    rg_pitch_take pitch = {0};
    bool ok = codes && audio &&
              rg_pitch_take_sampling(e->model_dir, prompt, mc,
                                     &(rg_pitch_take_options){.key_lock = e->key_lock,
                                                              .pitch_temperature = e->pitch_temperature,
                                                              .note_on_lock = e->note_on_lock,
                                                              .sustain_lock = e->sustain_lock &&
                                                                              strcmp(role, "drums") != 0,
                                                              .sustain_attack_ms = e->sustain_attack_ms,
                                                              .bpm = bpm, .frames = frames},
                                     &pitch, &sp, err) &&
              rg_musicgen_condition_text(e->m, prompt, &text, err) &&
              rg_musicgen_condition_track(e->m, &text, rg_musicgen_track_role(e->m, role), bpm,
                                          prompt, tracks, n_tracks, &cond, err) &&
              rg_musicgen_generate(e->m, &cond, &sp, NULL, frames, NULL, NULL, codes, err);
    if (ok) {
        rg_pitch_sustain_frames(&pitch.sustain, e->kk, codes, frames, 0, frames);
        ok = rg_encodec_decode(e->codec, codes, e->kk, frames, audio, err);
    }
    if (ok) {
        snprintf(path, sizeof path, "%s.codes", out);
        ok = write_file(path, codes, (size_t)e->kk * frames * sizeof *codes, err);
    }
    if (ok && e->tune && strcmp(role, "drums") != 0 && rg_lm_key_from_text(prompt, &key)) {
        rg_scale scale = {key.root, key.scale};
        rg_audio_clip in = {audio, (int64_t)frames * e->hop, 1, rg_encodec_get_config(e->codec)->sampling_rate},
                      tuned;
        rg_tune_report report;
        ok = rg_tune_to_scale(&in, &scale, &tuned, &report, err);
        if (ok) {
            fprintf(stderr, "track_takes: %s tuned: %.0f%% of hops pitched, median shift %.0f cents\n", out,
                    100.0 * report.voiced_share, report.median_shift_cents);
            memcpy(audio, tuned.samples, (size_t)in.frames * sizeof *audio);
            rg_clip_free(&tuned);
        }
    }
    if (ok) {
        snprintf(path, sizeof path, "%s.f32", out);
        ok = write_file(path, audio, (size_t)frames * e->hop * sizeof *audio, err);
    }
    rg_lm_cond_free(&cond);
    rg_lm_cond_free(&text);
    rg_pitch_take_free(&pitch);
    free(codes);
    free(audio);
    return ok;
}

static bool request(const engine *e, char *line, char *out, rg_error *err) {
    char role[64], context[2048];
    float bpm;
    int frames, used = 0;
    unsigned long long seed;
    line[strcspn(line, "\n")] = '\0';
    if (sscanf(line, "%1023s %63s %f %d %llu %2047s %n", out, role, &bpm, &frames, &seed, context,
               &used) != 6 || used == 0)
        return rg_error_set(err, RG_ERR_VALUE, "stdin", 0, 0,
                            "a request is OUT ROLE BPM FRAMES SEED CONTEXT PROMPT");
    if (rg_musicgen_track_role(e->m, role) < 0)
        return rg_error_set(err, RG_ERR_VALUE, role, 0, 0, "no such role in this model");
    rg_lm_track tracks[RG_LM_MAX_TRACKS];
    int32_t *bufs[RG_LM_MAX_TRACKS] = {0};
    int n = 0;
    bool ok = frames > 0 && frames <= rg_musicgen_max_frames(e->m)
                  ? parse_context(e, context, frames, tracks, bufs, &n, err) &&
                        take(e, out, role, bpm, frames, seed, tracks, n, line + used, err)
                  : rg_error_set(err, RG_ERR_VALUE, out, 0, 0, "%d frames", frames);
    for (int i = 0; i < RG_LM_MAX_TRACKS; i++) free(bufs[i]);
    return ok;
}

int main(int argc, char **argv) {
    engine e = {.sp = rg_lm_sampling_default(), .model_dir = argv[1],
                .pitch_temperature = RG_PITCH_TEMPERATURE_DEFAULT};
    bool args_ok = argc == 2 || argc >= 5;
    for (int i = 5; i < argc; i++) {
        bool pitch_t = strncmp(argv[i], "pitch_temperature=", 18) == 0;
        bool attack = strncmp(argv[i], "sustain_attack=", 15) == 0;
        if (pitch_t) e.pitch_temperature = (float)atof(argv[i] + 18);
        if (attack) e.sustain_attack_ms = (float)atof(argv[i] + 15);
        e.tune |= strcmp(argv[i], "tune") == 0;
        e.key_lock |= strcmp(argv[i], "key_lock") == 0;
        e.note_on_lock |= strcmp(argv[i], "note_on_lock") == 0;
        e.sustain_lock |= strcmp(argv[i], "sustain_lock") == 0;
        args_ok &= strcmp(argv[i], "tune") == 0 || strcmp(argv[i], "key_lock") == 0 ||
                   strcmp(argv[i], "note_on_lock") == 0 || strcmp(argv[i], "sustain_lock") == 0 ||
                   (pitch_t && e.pitch_temperature > 0) || (attack && e.sustain_attack_ms > 0);
    }
    if (!args_ok) {
        fprintf(stderr, "usage: track_takes MODEL_DIR [GUIDANCE TEMPERATURE TOP_K [tune] [key_lock] "
                        "[note_on_lock] [sustain_lock] [sustain_attack=MS] [pitch_temperature=T]] < requests\n");
        return 2;
    }
    char msg[256];
    rg_device *dev;
    if (rg_device_create(NULL, &dev, msg, sizeof msg) != RG_OK) {
        fprintf(stderr, "track_takes: no device: %s\n", msg);
        return 1;
    }
    e.sp.top_k = 50;
    if (argc >= 5) {
        e.sp.guidance = (float)atof(argv[2]);
        e.sp.temperature = (float)atof(argv[3]);
        e.sp.top_k = atoi(argv[4]);
    }
    rg_error err = {0};
    if (!rg_musicgen_load(argv[1], dev, NULL, &e.m, &err) ||
        !rg_encodec_load(argv[1], dev, &e.codec, &err)) {
        fprintf(stderr, "track_takes: %s: %s\n", err.file, err.message);
        return 1;
    }
    e.kk = rg_musicgen_get_config(e.m)->codebooks;
    e.hop = rg_encodec_get_config(e.codec)->hop_length;
    char line[MAX_LINE], out[1024];
    while (fgets(line, sizeof line, stdin)) {
        err = (rg_error){0};
        out[0] = '\0';
        if (request(&e, line, out, &err)) printf("ok %s\n", out);
        else printf("error %s: %s: %s\n", out, err.file, err.message);
        fflush(stdout);
    }
    rg_encodec_free(e.codec);
    rg_musicgen_free(e.m);
    rg_device_destroy(dev);
    return 0;
}
