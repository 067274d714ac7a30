/* resonant generate: a prompt to a take without a patch. The MusicGen
 * language model makes the tokens; EnCodec (the checkpoint's audio_encoder,
 * or --codec) decodes them, unless the output is a .codes file. */
#include "runtime/model/lm_cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/audio_file.h"
#include "runtime/cli.h"
#include "runtime/model/codec_audio.h"
#include "runtime/model/codes.h"
#include "runtime/model/encodec.h"
#include "runtime/model/model_path.h"
#include "runtime/model/musicgen.h"
#include "runtime/model/pitch_code.h"

#include "runtime/tensor/tensor.h"

static const char help[] =
    "usage: resonant generate [--model DIR] --prompt TEXT [options] -o OUT\n"
    "\n"
    "Generate a take with a MusicGen checkpoint (facebook/musicgen-small, ...):\n"
    "text -> T5 -> language model -> EnCodec -> OUT (.wav/.flac audio, or .codes tokens).\n"
    "\n"
    "  --model DIR         MusicGen folder (model.safetensors, config.json, spiece.model);\n"
    "                      default: the shipped model, as a patch's model node\n"
    "  --prompt TEXT       what to make (\"\": unconditional)\n"
    "  --seconds S         length (default 8; at most what the model allows)\n"
    "  --seed N            sampling seed (default 0): the same seed gives the same take\n"
    "  --temperature T     default 1; 0 picks the most likely token every step\n"
    "  --top-k K           default 250 (0: off)\n"
    "  --top-p P           default 0 (off)\n"
    "  --guidance G        classifier-free guidance scale, default 3 (0: off)\n"
    "  --key-lock          with a pitch codec, sample the pitch row from the key the\n"
    "                      prompt names only (constrained sampling)\n"
    "  --pitch-temperature T  with a pitch codec, the pitch row's temperature (default\n"
    "                      0.25: notes held longer than at --temperature)\n"
    "  --codec DIR         EnCodec folder to decode with (default: the model's own)\n"
    "  --rate HZ           output sample rate (default: the codec's)\n"
    "  -o, --output OUT    output file\n";

typedef struct {
    const char *model, *codec, *prompt, *output;
    double seconds, temperature, pitch_temperature, top_p, guidance;
    long seed, top_k, rate;
    bool key_lock;
} gen_args;

static int usage_error(const char *what, const char *arg) {
    fprintf(stderr, "resonant generate: ");
    fprintf(stderr, what, arg);
    fprintf(stderr, "\nTry 'resonant generate --help'.\n");
    return RG_EXIT_USER;
}

static bool number(const char *s, double min, double max, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v) || v < min || v > max) return false;
    *out = v;
    return true;
}

/* One option with its value; RG_EXIT_USER on a bad one. */
static int option(const char *opt, const char *val, gen_args *a) {
    double v;
    struct {
        const char *name;
        double min, max, *out;
    } nums[] = {{"--seconds", 0, 3600, &a->seconds},   {"--temperature", 0, 100, &a->temperature},
                {"--top-p", 0, 1, &a->top_p},            {"--guidance", 0, 100, &a->guidance},
                {"--pitch-temperature", 0.01, 100, &a->pitch_temperature}};
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++)
        if (strcmp(opt, nums[i].name) == 0)
            return number(val, nums[i].min, nums[i].max, nums[i].out)
                       ? RG_EXIT_OK : usage_error("bad value for %s", opt);
    struct {
        const char *name;
        double min, max;
        long *out;
    } ints[] = {{"--seed", 0, 4294967295.0, &a->seed}, {"--top-k", 0, 1e9, &a->top_k},
                {"--rate", 1000, 768000, &a->rate}};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++)
        if (strcmp(opt, ints[i].name) == 0) {
            if (!number(val, ints[i].min, ints[i].max, &v) || v != floor(v))
                return usage_error("bad value for %s", opt);
            *ints[i].out = (long)v;
            return RG_EXIT_OK;
        }
    const char **strs[] = {&a->model, &a->codec, &a->prompt, &a->output, &a->output};
    const char *names[] = {"--model", "--codec", "--prompt", "--output", "-o"};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
        if (strcmp(opt, names[i]) == 0) {
            *strs[i] = val;
            return RG_EXIT_OK;
        }
    return usage_error("unknown option '%s'", opt);
}

/* RG_EXIT_OK, RG_EXIT_USER, or -1 after printing --help. */
static int parse(int argc, char **argv, gen_args *a) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(help, stdout);
            return -1;
        }
        if (strcmp(argv[i], "--key-lock") == 0) {
            a->key_lock = true;
            continue;
        }
        if (i + 1 >= argc) return usage_error("%s needs a value", argv[i]);
        int rc = option(argv[i], argv[i + 1], a);
        if (rc != RG_EXIT_OK) return rc;
        i++;
    }
    if (!a->prompt) return usage_error("%s", "--prompt TEXT is required (\"\" for none)");
    if (!a->output) return usage_error("%s", "-o OUT is required");
    return RG_EXIT_OK;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A progress bar on a terminal's stderr, redrawn when a frame completes;
 * nothing in logs. */
static bool progress_bar(void *user, int done, int total) {
    int *last = user;
    if (done == *last || !isatty(fileno(stderr))) return true;
    *last = done;
    int width = 30, filled = total ? done * width / total : width;
    fprintf(stderr, "\rgenerating [%.*s%*s] %d/%d frames", filled,
            "##############################", width - filled, "", done, total);
    if (done == total) fputc('\n', stderr);
    return true;
}

/* Prompt -> codes [K][frames] in `out` (identity fields from the LM). */
static bool make_tokens(const gen_args *a, rg_musicgen *m, rg_codes *out, rg_error *err) {
    const rg_musicgen_config *c = rg_musicgen_get_config(m);
    int frames = (int)lround(a->seconds * c->sample_rate / c->hop);
    if (frames < 1 || frames > rg_musicgen_max_frames(m))
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0,
                            "--seconds %g is %d frames; this model makes 1..%d (%.1f s)",
                            a->seconds, frames, rg_musicgen_max_frames(m),
                            (double)rg_musicgen_max_frames(m) * c->hop / c->sample_rate);
    rg_lm_cond cond;
    rg_lm_sampling sp = {.guidance = (float)a->guidance, .temperature = (float)a->temperature,
                         .top_k = (int)a->top_k, .top_p = (float)a->top_p, .seed = (uint64_t)a->seed};
    rg_pitch_take pitch;
    rg_pitch_take_options po = {.key_lock = a->key_lock,
                                .pitch_temperature = (float)a->pitch_temperature};
    if (!rg_pitch_take_sampling(a->codec ? a->codec : a->model, a->prompt, c, &po, &pitch, &sp, err))
        return false;
    if (!rg_musicgen_condition_text(m, a->prompt, &cond, err)) {
        rg_pitch_take_free(&pitch);
        return false;
    }
    *out = (rg_codes){.sample_rate = (uint32_t)c->sample_rate, .hop_length = (uint32_t)c->hop,
                      .codebook_size = (uint32_t)c->card, .n_codebooks = c->codebooks,
                      .channels = 1, .frames = frames, .samples = (int64_t)frames * c->hop};
    snprintf(out->codec, sizeof out->codec, "encodec");
    out->codes = malloc((size_t)c->codebooks * frames * sizeof *out->codes);
    int last = -1;
    bool ok = out->codes ? rg_musicgen_generate(m, &cond, &sp, NULL, frames, progress_bar, &last,
                                                out->codes, err)
                         : rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    rg_lm_cond_free(&cond);
    rg_pitch_take_free(&pitch);
    return ok;
}

/* Before spending minutes on a take: can the codec decode this model's
 * tokens at all? */
static bool codec_suits(const gen_args *a, const rg_musicgen *m, rg_error *err) {
    rg_encodec_config cfg;
    if (!rg_encodec_probe(a->codec ? a->codec : a->model, &cfg, err)) return false;
    const rg_musicgen_config *c = rg_musicgen_get_config(m);
    rg_codes probe = {.sample_rate = (uint32_t)c->sample_rate, .hop_length = (uint32_t)c->hop,
                      .codebook_size = (uint32_t)c->card, .n_codebooks = c->codebooks,
                      .channels = 1};
    snprintf(probe.codec, sizeof probe.codec, "encodec");
    return rg_codec_accepts(&cfg, &probe, "the model's tokens", err);
}

/* Tokens -> audio file with the codec. */
static bool write_audio(const gen_args *a, rg_device *dev, const rg_codes *codes, rg_error *err) {
    rg_encodec *codec;
    if (!rg_encodec_load(a->codec ? a->codec : a->model, dev, &codec, err)) return false;
    const rg_encodec_config *cfg = rg_encodec_get_config(codec);
    int64_t full = codes->frames * cfg->hop_length, frames = 0;
    int channels = cfg->audio_channels, rate = a->rate ? (int)a->rate : cfg->sampling_rate;
    float *planar = malloc((size_t)(full * channels) * sizeof *planar);
    bool ok = rg_codec_accepts(cfg, codes, "the generated tokens", err) &&
              (planar || rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory")) &&
              rg_encodec_decode(codec, codes->codes, codes->n_codebooks, codes->frames, planar,
                                err);
    float *audio = ok ? rg_codec_output(planar, channels, full, codes->samples,
                                        cfg->sampling_rate, rate, &frames, err)
                      : NULL;
    rg_audio_writer *w = audio ? rg_writer_open(a->output, channels, rate, RG_SAMPLE_DEFAULT, err)
                               : NULL;
    ok = w && rg_writer_write(w, audio, frames, err);
    if (w) ok = rg_writer_close(w, ok ? err : NULL) && ok;
    if (ok) fprintf(stderr, "wrote %s: %.3f s at %d Hz\n", a->output, (double)frames / rate, rate);
    free(planar);
    free(audio);
    rg_encodec_free(codec);
    return ok;
}

int rg_cli_generate(int argc, char **argv) {
    gen_args a = {.seconds = 8, .temperature = 1, .pitch_temperature = RG_PITCH_TEMPERATURE_DEFAULT,
                  .guidance = 3, .top_k = 250};
    int rc = parse(argc, argv, &a);
    if (rc != RG_EXIT_OK) return rc < 0 ? RG_EXIT_OK : rc;
    rg_device *dev = NULL;
    char msg[512] = "";
    if (rg_device_create(NULL, &dev, msg, sizeof msg) != RG_OK) {
        fprintf(stderr, "resonant generate: no compute device: %s\n", msg);
        return RG_EXIT_INTERNAL;
    }
    rg_error err = {0};
    rg_musicgen *m = NULL;
    rg_codes codes = {0};
    bool audio_out = !ends_with(a.output, ".codes");
    char shipped[4096];
    bool ok = a.model || rg_model_resolve(".", "", shipped, sizeof shipped, &err);
    if (ok && !a.model)
        a.model = shipped;
    ok = ok && rg_musicgen_load(a.model, dev, NULL, &m, &err) &&
              (!audio_out || codec_suits(&a, m, &err)) && make_tokens(&a, m, &codes, &err);
    rg_musicgen_free(m); /* free the LM before the codec loads */
    if (ok && !audio_out) {
        ok = rg_codes_write(a.output, &codes, &err);
        if (ok) fprintf(stderr, "wrote %s: %lld frames\n", a.output, (long long)codes.frames);
    } else if (ok) {
        ok = write_audio(&a, dev, &codes, &err);
    }
    rg_codes_free(&codes);
    rg_device_destroy(dev);
    return ok ? RG_EXIT_OK : rg_cli_report(&err);
}
