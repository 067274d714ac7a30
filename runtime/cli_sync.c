/* `resonant sync`: put an audio file on a tempo grid, as the synchronizer
 * node does with a take. `resonant eval`: the quality measures (timing,
 * tempo, key, alignment between tracks) on any audio file. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "runtime/analysis.h"
#include "runtime/cli.h"
#include "runtime/sync.h"

typedef struct {
    const char *in, *out, *against, *key;
    double tempo, hint, offset;
    int bars, rate, meter_num, meter_den;
    bool list_onsets; /* eval --onsets */
} grid_args;

static bool parse_number(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

static bool parse_meter(const char *s, int *num, int *den)
{
    char tail;
    if (sscanf(s, "%d/%d%c", num, den, &tail) != 2)
        return false;
    rg_graph probe = {0};
    return rg_graph_set_meter(&probe, *num, *den, (rg_loc){0}, NULL);
}

/* Options shared by sync and eval; returns -1 after --help. */
static int parse_grid_args(const char *cmd, const char *help, int argc, char **argv, grid_args *a)
{
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'}, {"tempo", required_argument, 0, 't'},
        {"bars", required_argument, 0, 'b'},   {"meter", required_argument, 0, 'm'},
        {"hint", required_argument, 0, 'H'},   {"rate", required_argument, 0, 'r'},
        {"against", required_argument, 0, 'a'}, {"key", required_argument, 0, 'k'},
        {"offset", required_argument, 0, 'O'}, {"onsets", no_argument, 0, 'L'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    double v;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': a->out = optarg; break;
        case 'a': a->against = optarg; break;
        case 'k': a->key = optarg; break;
        case 't':
            if (!parse_number(optarg, RG_TEMPO_MIN, RG_TEMPO_MAX, &a->tempo))
                return rg_cli_usage_error(cmd, "--tempo takes 20 to 999 bpm, not '%s'", optarg);
            break;
        case 'H':
            if (!parse_number(optarg, RG_TEMPO_MIN, RG_TEMPO_MAX, &a->hint))
                return rg_cli_usage_error(cmd, "--hint takes 20 to 999 bpm, not '%s'", optarg);
            break;
        case 'O':
            if (!parse_number(optarg, 0, 1e6, &a->offset))
                return rg_cli_usage_error(cmd, "--offset takes seconds, not '%s'", optarg);
            break;
        case 'b':
            if (!parse_number(optarg, 1, 1024, &v) || v != (int)v)
                return rg_cli_usage_error(cmd, "--bars takes a whole number from 1 to 1024, not '%s'", optarg);
            a->bars = (int)v;
            break;
        case 'r':
            if (!parse_number(optarg, 8000, 384000, &v) || v != (int)v)
                return rg_cli_usage_error(cmd, "--rate takes a whole number of Hz, not '%s'", optarg);
            a->rate = (int)v;
            break;
        case 'm':
            if (!parse_meter(optarg, &a->meter_num, &a->meter_den))
                return rg_cli_usage_error(cmd, "--meter takes a meter like 4/4 or 7/8, not '%s'", optarg);
            break;
        case 'L':
            if (strcmp(cmd, "eval") != 0)
                return rg_cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
            a->list_onsets = true;
            break;
        case 'h': fputs(help, stdout); return -1;
        default: return rg_cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return rg_cli_usage_error(cmd, "%s", "give one audio file");
    a->in = argv[optind];
    /* Only a bare onset list (eval --onsets) needs no grid. */
    if (!(a->tempo > 0) && !(a->list_onsets && !a->key && !a->against))
        return rg_cli_usage_error(cmd, "%s", "which tempo? (--tempo BPM)");
    return RG_EXIT_OK;
}

/* ---- sync -------------------------------------------------------------- */

static const char sync_help[] =
    "usage: resonant sync IN -o OUT --tempo BPM [options]\n"
    "\n"
    "Put a take on a tempo grid, as the synchronizer node does: estimate its tempo,\n"
    "downbeat and key, stretch it to BPM (Rubber Band), start it on its first\n"
    "downbeat, cut it to exactly N bars with a seamless loop point.\n"
    "\n"
    "  -o, --output FILE   .wav or .flac to write\n"
    "      --tempo BPM     the grid's tempo\n"
    "      --bars N        length in bars (default 4)\n"
    "      --meter N/D     the grid's meter (default 4/4)\n"
    "      --hint BPM      the tempo the take was made at, if known (avoids octave errors)\n"
    "      --rate HZ       output rate (default 48000)\n";

static void print_sync_report(const rg_sync_report *r)
{
    char key[32];
    printf("source tempo: %.2f bpm\n", r->source_tempo);
    printf("stretch ratio: %.4f\n", r->stretch_ratio);
    printf("first downbeat: %.3f s\n", r->downbeat_s);
    printf("grid fit: %.2f ms median\n", r->grid_fit_ms);
    if (r->key_found)
        printf("key: %s (correlation %.2f)\n", rg_key_name(&r->key, key, sizeof key), r->key.correlation);
    else
        printf("key: none found\n");
}

int rg_cli_sync(int argc, char **argv)
{
    grid_args a = {.bars = 4, .rate = 48000, .meter_num = 4, .meter_den = 4};
    int rc = parse_grid_args("sync", sync_help, argc, argv, &a);
    if (rc)
        return rc < 0 ? RG_EXIT_OK : rc;
    if (!a.out)
        return rg_cli_usage_error("sync", "%s", "where to? (-o OUT.wav)");
    rg_error err = {0};
    rg_audio_clip take, out;
    if (!rg_clip_load(a.in, a.rate, &take, &err))
        return rg_cli_report(&err);
    rg_sync_options opt = {.tempo = a.tempo, .meter_num = a.meter_num, .meter_den = a.meter_den,
                           .rate = a.rate, .bars = a.bars, .tempo_hint = a.hint};
    rg_sync_report report;
    bool ok = rg_sync_take(&take, &opt, &out, &report, &err);
    rg_clip_free(&take);
    if (!ok) {
        snprintf(err.file, sizeof err.file, "%s", a.in);
        return rg_cli_report(&err);
    }
    rg_audio_writer *w = rg_writer_open(a.out, out.channels, a.rate, RG_SAMPLE_DEFAULT, &err);
    ok = w && rg_writer_write(w, out.samples, out.frames, &err);
    ok = rg_writer_close(w, ok ? &err : NULL) && ok;
    rg_clip_free(&out);
    if (!ok)
        return rg_cli_report(&err);
    print_sync_report(&report);
    return RG_EXIT_OK;
}

/* ---- eval -------------------------------------------------------------- */

static const char eval_help[] =
    "usage: resonant eval FILE --tempo BPM [options]\n"
    "       resonant eval FILE --onsets\n"
    "\n"
    "Measure a track against a tempo grid: onset-to-grid deviation, tempo error,\n"
    "key, in-key pitch ratio, and alignment with another track. The onsets are the\n"
    "synchronizer's (aubio's high-frequency-content detector, each moved to the\n"
    "start of its attack).\n"
    "\n"
    "      --onsets          list the onsets, one line each: time (s) and peak level;\n"
    "                        without --tempo, only the list\n"
    "      --tempo BPM       the grid's tempo\n"
    "      --meter N/D       the grid's meter (default 4/4)\n"
    "      --offset S        where the grid starts, in seconds (default 0)\n"
    "      --key \"A minor\"   the intended key: report the share of pitched energy in it\n"
    "      --against FILE    another track: the share of this track's onsets on its grid slots\n";

static bool parse_key(const char *s, int *root, bool *minor)
{
    static const char *names[12] = {"C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"};
    char note[8], mode[16];
    if (sscanf(s, "%7s %15s", note, mode) != 2)
        return false;
    *root = -1;
    for (int i = 0; i < 12; i++)
        if (strcmp(note, names[i]) == 0)
            *root = i;
    *minor = strcmp(mode, "minor") == 0;
    return *root >= 0 && (*minor || strcmp(mode, "major") == 0);
}

typedef struct {
    float *mono;
    int64_t frames;
    rg_onsets onsets;
} track;

static bool load_track(const char *path, double rate, track *t, rg_error *err)
{
    memset(t, 0, sizeof *t);
    rg_audio_clip clip;
    if (!rg_clip_load(path, rate, &clip, err))
        return false;
    t->mono = rg_mixdown(clip.samples, clip.frames, clip.channels);
    t->frames = clip.frames;
    rg_clip_free(&clip);
    if (!t->mono)
        return rg_error_set(err, RG_ERR_INTERNAL, path, 0, 0, "out of memory");
    if (!rg_detect_onsets(t->mono, t->frames, rate, &t->onsets, err)) {
        free(t->mono);
        return false;
    }
    return true;
}

static void free_track(track *t)
{
    rg_onsets_free(&t->onsets);
    free(t->mono);
}

static void report_timing(const track *t, const grid_args *a, double rate)
{
    double sixteenth = 60.0 * rate / a->tempo / 4;
    rg_grid_deviation d = rg_onset_deviation(&t->onsets, a->offset * rate, sixteenth, rate);
    printf("onsets: %d\n", d.count);
    printf("onset-to-grid deviation: median %.2f ms, mean %.2f ms, max %.2f ms (sixteenth grid)\n",
           d.median_ms, d.mean_ms, d.max_ms);
    rg_beat_grid g;
    rg_error err;
    if (rg_estimate_grid(t->mono, t->frames, rate, &t->onsets, a->tempo, a->meter_num, &g, &err))
        printf("estimated tempo: %.2f bpm (error %+.2f%%)\n", g.tempo, 100 * (g.tempo / a->tempo - 1));
    else
        printf("estimated tempo: none (%s)\n", err.message);
}

static void list_onsets(const track *t, double rate)
{
    for (int i = 0; i < t->onsets.count; i++)
        printf("onset: %.6f s, peak %.4f\n", t->onsets.at[i] / rate, t->onsets.level[i]);
}

static void report_key(const track *t, const grid_args *a, double rate)
{
    rg_key key;
    rg_error err;
    char name[32];
    if (!rg_estimate_key(t->mono, t->frames, rate, &key, &err)) {
        printf("key: none (%s)\n", err.message);
        return;
    }
    printf("key: %s (correlation %.2f)\n", rg_key_name(&key, name, sizeof name), key.correlation);
    int root;
    bool minor;
    if (a->key && parse_key(a->key, &root, &minor))
        printf("in-key ratio (%s): %.3f\n", a->key, rg_in_key_ratio(&key, root, minor));
}

int rg_cli_eval(int argc, char **argv)
{
    grid_args a = {.rate = 48000, .meter_num = 4, .meter_den = 4};
    int rc = parse_grid_args("eval", eval_help, argc, argv, &a);
    if (rc)
        return rc < 0 ? RG_EXIT_OK : rc;
    int root;
    bool minor;
    if (a.key && !parse_key(a.key, &root, &minor))
        return rg_cli_usage_error("eval", "--key takes a key like \"A minor\" or \"F# major\", not '%s'", a.key);
    rg_error err = {0};
    track t, other;
    if (!load_track(a.in, a.rate, &t, &err))
        return rg_cli_report(&err);
    if (a.against && !load_track(a.against, a.rate, &other, &err)) {
        free_track(&t);
        return rg_cli_report(&err);
    }
    if (a.list_onsets)
        list_onsets(&t, a.rate);
    if (!(a.tempo > 0)) {
        free_track(&t);
        return RG_EXIT_OK;
    }
    report_timing(&t, &a, a.rate);
    report_key(&t, &a, a.rate);
    if (a.against) {
        double sixteenth = 60.0 * a.rate / a.tempo / 4;
        printf("alignment with %s: %.3f\n", a.against,
               rg_onset_alignment(&t.onsets, &other.onsets, a.offset * a.rate, sixteenth, 0.015 * a.rate));
        free_track(&other);
    }
    free_track(&t);
    return RG_EXIT_OK;
}
