/* `resonant encode` and `resonant decode`: audio files <-> .codes files
 * through an EnCodec checkpoint. */
#include "runtime/model/codec_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/audio_file.h"
#include "runtime/cli.h"
#include "runtime/model/codec_audio.h"
#include "runtime/model/codes.h"
#include "runtime/model/encodec.h"

#include "runtime/tensor/tensor.h"

static const char encode_help[] =
    "usage: resonant encode IN.wav -o OUT.codes --model DIR [--bandwidth KBPS | --codebooks N]\n"
    "\n"
    "Encode an audio file (WAV, FLAC, anything libsndfile reads) into codec tokens.\n"
    "The audio is resampled to the codec's rate and mixed down to its channels.\n"
    "\n"
    "  -o, --output FILE    the .codes file to write (docs/codes-format.md)\n"
    "  -m, --model PATH     EnCodec checkpoint: a folder with model.safetensors and\n"
    "                       config.json (facebook/encodec_32khz, encodec_24khz), a\n"
    "                       MusicGen folder, or a .safetensors file\n"
    "  -b, --bandwidth KBPS target bandwidth; picks the number of codebooks\n"
    "                       (24 kHz: 1.5, 3, 6, 12, 24); default: all codebooks\n"
    "  -n, --codebooks N    number of codebooks, instead of --bandwidth (a codec\n"
    "                       with a pitch codebook takes all its rows: docs/models.md)\n"
    "  -s, --segment SEC    encode longer files in pieces of SEC seconds, each seeing\n"
    "                       1 s more on either side (default 20; 0: all at once,\n"
    "                       which needs about 1 GB per 30 s at 32 kHz)\n"
    "\n"
    "RESONANT_BACKEND=cpu|vulkan chooses the compute backend.\n";

static const char decode_help[] =
    "usage: resonant decode IN.codes -o OUT.wav --model DIR [--rate HZ] [--format F]\n"
    "\n"
    "Decode codec tokens back into audio, trimmed to the length that was encoded.\n"
    "\n"
    "  -o, --output FILE    WAV or FLAC, chosen by the extension\n"
    "  -m, --model PATH     the checkpoint the codes were made with\n"
    "  -r, --rate HZ        resample the output (default: the codec's rate)\n"
    "  -f, --format F       float, s16 or s24 (default: float for WAV, s24 for FLAC)\n"
    "  -s, --segment SEC    decode longer files in pieces of SEC seconds, each seeing\n"
    "                       1 s more on either side (default 20; 0: all at once)\n";

typedef struct {
    const char *input, *output, *model;
    double bandwidth;
    double segment; /* seconds per piece for long files; 0: all at once */
    int codebooks;
    int rate;
    rg_sample_format format;
} codec_args;

static int usage_error(const char *cmd, const char *what, const char *arg)
{
    fprintf(stderr, "resonant %s: %s%s%s\nTry 'resonant %s --help'.\n", cmd, what,
            arg ? " " : "", arg ? arg : "", cmd);
    return RG_EXIT_USER;
}

static bool is_opt(const char *a, const char *s, const char *l)
{
    return strcmp(a, s) == 0 || strcmp(a, l) == 0;
}

static bool parse_number(const char *s, double min, double max, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v >= min && v <= max))
        return false;
    *out = v;
    return true;
}

/* One option with a value; returns RG_EXIT_OK, or an exit code. */
static int parse_option(const char *cmd, const char *opt, const char *val, codec_args *a)
{
    double v;
    if (is_opt(opt, "-o", "--output"))
        a->output = val;
    else if (is_opt(opt, "-m", "--model"))
        a->model = val;
    else if (is_opt(opt, "-b", "--bandwidth") && parse_number(val, 0.01, 1e6, &v))
        a->bandwidth = v;
    else if (is_opt(opt, "-n", "--codebooks") && parse_number(val, 1, 1024, &v) && v == (int)v)
        a->codebooks = (int)v;
    else if (is_opt(opt, "-s", "--segment") && parse_number(val, 0, 1e6, &v))
        a->segment = v;
    else if (is_opt(opt, "-r", "--rate") && parse_number(val, 1000, 768000, &v) && v == (int)v)
        a->rate = (int)v;
    else if (is_opt(opt, "-f", "--format") && rg_sample_format_parse(val, &a->format))
        return RG_EXIT_OK;
    else if (is_opt(opt, "-b", "--bandwidth") || is_opt(opt, "-n", "--codebooks") ||
             is_opt(opt, "-s", "--segment") ||
             is_opt(opt, "-r", "--rate") || is_opt(opt, "-f", "--format"))
        return usage_error(cmd, "bad value for", opt);
    else
        return usage_error(cmd, "unknown option", opt);
    return RG_EXIT_OK;
}

/* Returns RG_EXIT_OK to go on, -1 after --help, or an exit code. */
static int parse_args(const char *cmd, const char *help, int argc, char **argv, codec_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (is_opt(arg, "-h", "--help")) {
            fputs(help, stdout);
            return -1;
        }
        if (arg[0] != '-' || arg[1] == '\0') {
            if (a->input)
                return usage_error(cmd, "more than one input file:", arg);
            a->input = arg;
            continue;
        }
        if (i + 1 >= argc)
            return usage_error(cmd, "missing value after", arg);
        int rc = parse_option(cmd, arg, argv[++i], a);
        if (rc != RG_EXIT_OK)
            return rc;
    }
    if (!a->input)
        return usage_error(cmd, "no input file", NULL);
    if (!a->output)
        return usage_error(cmd, "no output file (-o FILE)", NULL);
    if (!a->model)
        return usage_error(cmd, "no model (--model DIR)", NULL);
    if (a->bandwidth > 0 && a->codebooks > 0)
        return usage_error(cmd, "give --bandwidth or --codebooks, not both", NULL);
    return RG_EXIT_OK;
}

static int open_model(const char *path, rg_device **dev, rg_encodec **model)
{
    char msg[512] = "";
    rg_status st = rg_device_create(NULL, dev, msg, sizeof msg);
    if (st != RG_OK) {
        fprintf(stderr, "error: no compute device: %s\n", msg);
        return RG_EXIT_INTERNAL;
    }
    rg_error err = {0};
    if (!rg_encodec_load(path, *dev, model, &err)) {
        rg_device_destroy(*dev);
        *dev = NULL;
        return rg_cli_report(&err);
    }
    return RG_EXIT_OK;
}

static int pick_codebooks(const codec_args *a, const rg_encodec_config *cfg)
{
    if (a->codebooks > 0)
        return a->codebooks;
    return rg_encodec_codebooks_for_bandwidth(cfg, a->bandwidth);
}

/* Frames per piece and frames of context for --segment; 0 pieces: whole. */
static int64_t segment_frames(const codec_args *a, const rg_encodec_config *cfg)
{
    return (int64_t)(a->segment * cfg->frame_rate + 0.5);
}

/* Encode in pieces of bounded memory (see --segment). */
static bool encode_segments(const codec_args *a, rg_encodec *model, const float *audio,
                            int64_t samples, rg_codes *codes, rg_error *err)
{
    const rg_encodec_config *cfg = rg_encodec_get_config(model);
    int64_t piece = segment_frames(a, cfg), frames = codes->frames;
    if (piece < 1 || piece >= frames)
        return rg_encodec_encode(model, audio, samples, codes->n_codebooks, codes->codes, err);
    int n_q = codes->n_codebooks;
    int32_t *part = malloc((size_t)(n_q * piece) * sizeof *part);
    bool ok = part || rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    for (int64_t start = 0; ok && start < frames; start += piece) {
        int64_t count = frames - start < piece ? frames - start : piece;
        ok = rg_encodec_encode_range(model, audio, samples, n_q, start, count, cfg->frame_rate,
                                     part, err);
        for (int q = 0; ok && q < n_q; q++)
            memcpy(codes->codes + q * frames + start, part + q * count,
                   (size_t)count * sizeof *part);
    }
    free(part);
    return ok;
}

/* Decode in pieces of bounded memory (see --segment). */
static bool decode_segments(const codec_args *a, rg_encodec *model, const rg_codes *codes,
                            float *planar, rg_error *err)
{
    const rg_encodec_config *cfg = rg_encodec_get_config(model);
    int64_t piece = segment_frames(a, cfg), frames = codes->frames, hop = cfg->hop_length;
    if (piece < 1 || piece >= frames)
        return rg_encodec_decode(model, codes->codes, codes->n_codebooks, frames, planar, err);
    int channels = cfg->audio_channels;
    float *part = malloc((size_t)(channels * piece * hop) * sizeof *part);
    bool ok = part || rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    for (int64_t start = 0; ok && start < frames; start += piece) {
        int64_t count = frames - start < piece ? frames - start : piece;
        ok = rg_encodec_decode_range(model, codes->codes, codes->n_codebooks, frames, start,
                                     count, cfg->frame_rate, part, err);
        for (int c = 0; ok && c < channels; c++)
            memcpy(planar + c * frames * hop + start * hop, part + c * count * hop,
                   (size_t)(count * hop) * sizeof *part);
    }
    free(part);
    return ok;
}

/* The clip is already at the codec rate (rg_clip_load resampled it). */
static int encode_clip(const codec_args *a, rg_encodec *model, const rg_audio_clip *clip)
{
    const rg_encodec_config *cfg = rg_encodec_get_config(model);
    rg_codes codes = {.n_codebooks = pick_codebooks(a, cfg),
                      .frames = rg_encodec_frames(cfg, clip->frames),
                      .samples = clip->frames};
    rg_codec_describe(cfg, &codes);
    rg_error err = {0};
    int64_t samples;
    float *audio = rg_codec_input(clip->samples, clip->frames, clip->channels, clip->rate, cfg,
                                  &samples, &err);
    codes.codes = malloc((size_t)(codes.frames * codes.n_codebooks) * sizeof *codes.codes);
    bool ok = audio && codes.codes
                  ? encode_segments(a, model, audio, samples, &codes, &err) &&
                        rg_codes_write(a->output, &codes, &err)
                  : rg_error_set(&err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    if (ok)
        fprintf(stderr, "wrote %s: %d codebooks x %lld frames (%.3f s, %d frames/s)\n",
                a->output, codes.n_codebooks, (long long)codes.frames,
                (double)clip->frames / cfg->sampling_rate, cfg->frame_rate);
    free(audio);
    rg_codes_free(&codes);
    return ok ? RG_EXIT_OK : rg_cli_report(&err);
}

int rg_cli_encode(int argc, char **argv)
{
    codec_args a = {.segment = 20};
    int rc = parse_args("encode", encode_help, argc, argv, &a);
    if (rc != RG_EXIT_OK)
        return rc < 0 ? RG_EXIT_OK : rc;
    rg_device *dev = NULL;
    rg_encodec *model = NULL;
    if ((rc = open_model(a.model, &dev, &model)) != RG_EXIT_OK)
        return rc;
    const rg_encodec_config *cfg = rg_encodec_get_config(model);
    rg_error err = {0};
    rg_audio_clip clip = {0};
    if (!rg_encodec_check_rows(cfg, pick_codebooks(&a, cfg), a.model, &err)) {
        rc = rg_cli_report(&err); /* too many, or fewer than a pitch codec takes */
    } else if (!rg_clip_load(a.input, cfg->sampling_rate, &clip, &err)) {
        rc = rg_cli_report(&err);
    } else if (clip.frames < 1) {
        fprintf(stderr, "%s: error: no audio in the file\n", a.input);
        rc = RG_EXIT_USER;
    } else {
        rc = encode_clip(&a, model, &clip);
    }
    rg_clip_free(&clip);
    rg_encodec_free(model);
    rg_device_destroy(dev);
    return rc;
}

/* ---- decode ---- */

static bool write_audio(const codec_args *a, float *audio, int64_t frames, int channels,
                        int rate, rg_error *err)
{
    rg_audio_writer *w = rg_writer_open(a->output, channels, rate, a->format, err);
    if (!w)
        return false;
    bool ok = rg_writer_write(w, audio, frames, err);
    return rg_writer_close(w, ok ? err : NULL) && ok;
}

static bool decode_codes(const codec_args *a, rg_encodec *model, const rg_codes *codes,
                         rg_error *err)
{
    const rg_encodec_config *cfg = rg_encodec_get_config(model);
    if (!rg_codec_accepts(cfg, codes, a->input, err))
        return false;
    int64_t full = codes->frames * cfg->hop_length, frames = 0;
    int channels = cfg->audio_channels, rate = a->rate ? a->rate : cfg->sampling_rate;
    float *planar = malloc((size_t)(full * channels) * sizeof *planar);
    if (!planar)
        return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    bool ok = decode_segments(a, model, codes, planar, err);
    float *audio = ok ? rg_codec_output(planar, channels, full, codes->samples,
                                        cfg->sampling_rate, rate, &frames, err)
                      : NULL;
    free(planar);
    ok = audio && write_audio(a, audio, frames, channels, rate, err);
    if (ok)
        fprintf(stderr, "wrote %s: %.3f s at %d Hz\n", a->output, (double)frames / rate, rate);
    free(audio);
    return ok;
}

int rg_cli_decode(int argc, char **argv)
{
    codec_args a = {.format = RG_SAMPLE_DEFAULT, .segment = 20};
    int rc = parse_args("decode", decode_help, argc, argv, &a);
    if (rc != RG_EXIT_OK)
        return rc < 0 ? RG_EXIT_OK : rc;
    if (a.bandwidth > 0 || a.codebooks > 0)
        return usage_error("decode", "--bandwidth/--codebooks are for encode", NULL);
    rg_error err = {0};
    rg_codes codes = {0};
    if (!rg_codes_read(a.input, &codes, &err))
        return rg_cli_report(&err);
    rg_device *dev = NULL;
    rg_encodec *model = NULL;
    rc = open_model(a.model, &dev, &model);
    if (rc == RG_EXIT_OK && !decode_codes(&a, model, &codes, &err))
        rc = rg_cli_report(&err);
    rg_codes_free(&codes);
    rg_encodec_free(model);
    rg_device_destroy(dev);
    return rc;
}
