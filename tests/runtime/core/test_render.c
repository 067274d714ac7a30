/* Offline render: exact lengths, beats on the grid, files in and out,
 * formats, and errors that name the node. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sndfile.h>

#include "graph/patch.h"
#include "runtime/render.h"

static char tmpdir[256];

static int make_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rg_render_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *tmp(const char *name)
{
    static char paths[8][512];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

static rg_graph *parse(const char *text)
{
    rg_error err = {0};
    rg_graph *g = rg_patch_parse(rg_builtin_registry(), text, strlen(text), "t.rpatch", &err);
    if (!g)
        fail_msg("%d:%d: %s", err.line, err.col, err.message);
    return g;
}

static rg_render_options options(const char *out, int rate)
{
    return (rg_render_options){.out_path = out, .rate = rate, .block = 256, .base_dir = tmpdir};
}

/* Render, then read the file back as interleaved stereo. */
static float *render_and_read(const char *patch, rg_render_options opt, SF_INFO *info)
{
    rg_graph *g = parse(patch);
    rg_error err = {0};
    if (!rg_render(g, &opt, &err))
        fail_msg("render failed: %s", err.message);
    rg_graph_free(g);
    memset(info, 0, sizeof *info);
    SNDFILE *f = sf_open(opt.out_path, SFM_READ, info);
    assert_non_null(f);
    float *buf = malloc((size_t)info->frames * info->channels * sizeof *buf);
    assert_int_equal(sf_readf_float(f, buf, info->frames), info->frames);
    sf_close(f);
    return buf;
}

static void length_is_exact_to_the_frame(void **state)
{
    (void)state;
    struct {
        const char *head;
        int rate;
        double bars, seconds;
        sf_count_t frames;
    } cases[] = {
        {"tempo 120\nmeter 4/4\n", 48000, 4, 0, 384000},  /* 8.000 s */
        {"tempo 120\nmeter 4/4\n", 44100, 4, 0, 352800},
        {"tempo 133\nmeter 7/8\n", 44100, 3, 0, 208895}, /* 3 bars of 3.5 quarters: 208894.74 frames */
        {"tempo 90\nmeter 3/4\n", 48000, 0.5, 0, 48000},
        {"tempo 174\n", 48000, 0, 2.5, 120000},
        {"tempo 100\n", 22050, 0, 0.001, 22},             /* 22.05 frames rounds to 22 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char patch[256];
        snprintf(patch, sizeof patch, "%snode s sine\nnode o output\ns.out -> o.in\n", cases[i].head);
        rg_render_options opt = options(tmp("len.wav"), cases[i].rate);
        opt.bars = cases[i].bars;
        opt.seconds = cases[i].seconds;
        opt.block = 100 + (int)i * 37; /* lengths are not block multiples */
        SF_INFO info;
        free(render_and_read(patch, opt, &info));
        assert_int_equal(info.frames, cases[i].frames);
        assert_int_equal(info.samplerate, cases[i].rate);
        assert_int_equal(info.channels, 2);
    }
}

/* The first frame of each click: louder than anything in the 5 ms before. */
static int find_onsets(const float *stereo, sf_count_t frames, int rate, long *onsets, int max)
{
    int quiet_needed = rate / 200, n = 0, quiet = quiet_needed;
    for (sf_count_t i = 0; i < frames && n < max; i++) {
        float x = fabsf(stereo[2 * i]);
        if (x > 0.05f && quiet >= quiet_needed) {
            onsets[n++] = (long)i;
            quiet = 0;
        } else if (x < 0.001f) {
            quiet++;
        } else {
            quiet = 0;
        }
    }
    return n;
}

static void clicks_fall_on_the_beat_grid(void **state)
{
    (void)state;
    const int rate = 44100;
    const double tempo = 128;
    char patch[256];
    /* A short decay so each click dies out well before the next beat. */
    snprintf(patch, sizeof patch, "tempo %g\nmeter 4/4\nnode c click decay=0.02\nnode o output\nc.out -> o.in\n", tempo);
    rg_render_options opt = options(tmp("click.wav"), rate);
    opt.bars = 8;
    opt.block = 300;
    SF_INFO info;
    float *audio = render_and_read(patch, opt, &info);
    long onsets[64];
    int n = find_onsets(audio, info.frames, rate, onsets, 64);
    assert_int_equal(n, 32);
    double beat_frames = 60.0 / tempo * rate;
    for (int k = 0; k < n; k++) {
        double error_ms = fabs(onsets[k] - k * beat_frames) * 1000.0 / rate;
        if (error_ms > 1.0)
            fail_msg("beat %d at frame %ld, grid says %.1f (%.3f ms off)", k, onsets[k], k * beat_frames, error_ms);
    }
    /* Downbeats are accented: louder than the beats after them. */
    assert_true(fabsf(audio[2 * onsets[0]]) > fabsf(audio[2 * onsets[1]]) * 1.2f);
    assert_true(fabsf(audio[2 * onsets[4]]) > fabsf(audio[2 * onsets[5]]) * 1.2f);
    free(audio);
}

static void write_sine_file(const char *path, int rate, int frames, double freq)
{
    SF_INFO info = {.samplerate = rate, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_FLOAT};
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    assert_non_null(f);
    float *buf = malloc(frames * sizeof *buf);
    for (int i = 0; i < frames; i++)
        buf[i] = 0.5f * (float)sin(2 * M_PI * freq * i / rate);
    sf_writef_float(f, buf, frames);
    sf_close(f);
    free(buf);
}

/* Frequency from the number of upward zero crossings. */
static double measure_freq(const float *stereo, long from, long to, int rate)
{
    int crossings = 0;
    long first = -1, last = -1;
    for (long i = from + 1; i < to; i++) {
        if (stereo[2 * (i - 1)] < 0 && stereo[2 * i] >= 0) {
            if (first < 0)
                first = i;
            last = i;
            crossings++;
        }
    }
    return crossings > 1 ? (crossings - 1) * (double)rate / (last - first) : 0;
}

static void file_in_resamples_and_loops(void **state)
{
    (void)state;
    write_sine_file(tmp("tone.wav"), 44100, 22050, 1000.0); /* 0.5 s at 44.1 kHz */
    SF_INFO info;
    rg_render_options opt = options(tmp("looped.wav"), 48000);
    opt.seconds = 1.2;
    float *audio = render_and_read("node f file_in path=tone.wav\nnode o output\nf.out -> o.in\n", opt, &info);
    assert_true(fabs(measure_freq(audio, 0, 20000, 48000) - 1000.0) < 2.0);
    assert_true(fabs(measure_freq(audio, 26000, 46000, 48000) - 1000.0) < 2.0); /* second pass */
    assert_true(fabsf(audio[2 * 50000 + 1]) > 0.0f || fabsf(audio[2 * 50010 + 1]) > 0.0f);
    free(audio);

    opt = options(tmp("once.wav"), 48000);
    opt.seconds = 1.0;
    audio = render_and_read("node f file_in path=tone.wav loop=false\nnode o output\nf.out -> o.in\n", opt, &info);
    float late_peak = 0;
    for (long i = 24100; i < info.frames; i++)
        late_peak = fmaxf(late_peak, fabsf(audio[2 * i]));
    assert_true(late_peak == 0.0f);
    free(audio);
}

static void file_out_records_what_output_plays(void **state)
{
    (void)state;
    SF_INFO info;
    rg_render_options opt = options(tmp("main.wav"), 48000);
    opt.seconds = 0.5;
    float *main_mix = render_and_read("node n noise seed=3\nnode o output\nnode rec file_out path=rec.wav\n"
                                      "n.out -> o.in\nn.out -> rec.in\n", opt, &info);
    SF_INFO rinfo = {0};
    SNDFILE *f = sf_open(tmp("rec.wav"), SFM_READ, &rinfo);
    assert_non_null(f);
    assert_int_equal(rinfo.frames, info.frames);
    float *rec = malloc((size_t)rinfo.frames * 2 * sizeof *rec);
    sf_readf_float(f, rec, rinfo.frames);
    sf_close(f);
    assert_memory_equal(rec, main_mix, (size_t)info.frames * 2 * sizeof *rec);
    free(rec);
    free(main_mix);
}

static void formats_follow_extension_and_option(void **state)
{
    (void)state;
    struct {
        const char *name;
        rg_sample_format fmt;
        int want;
    } cases[] = {
        {"a.wav", RG_SAMPLE_DEFAULT, SF_FORMAT_WAV | SF_FORMAT_FLOAT},
        {"b.wav", RG_SAMPLE_S16, SF_FORMAT_WAV | SF_FORMAT_PCM_16},
        {"c.flac", RG_SAMPLE_DEFAULT, SF_FORMAT_FLAC | SF_FORMAT_PCM_24},
        {"d.flac", RG_SAMPLE_S16, SF_FORMAT_FLAC | SF_FORMAT_PCM_16},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rg_render_options opt = options(tmp(cases[i].name), 48000);
        opt.seconds = 0.1;
        opt.format = cases[i].fmt;
        SF_INFO info;
        /* A sine at 2x full scale: integer formats must clip, not wrap. */
        float *audio = render_and_read("node s sine amp=1\nnode g gain gain=2\nnode o output\n"
                                       "s.out -> g.in\ng.out -> o.in\n", opt, &info);
        assert_int_equal(info.format, cases[i].want);
        float peak = 0;
        for (long k = 0; k < info.frames * 2; k++)
            peak = fmaxf(peak, fabsf(audio[k]));
        if (cases[i].fmt == RG_SAMPLE_DEFAULT && i == 0)
            assert_true(peak > 1.9f);
        else
            assert_true(peak <= 1.0f && peak > 0.99f);
        free(audio);
    }
}

static void errors_name_what_is_wrong(void **state)
{
    (void)state;
    rg_error err = {0};
    rg_graph *g = parse("node s sine\n");
    rg_render_options opt = options(tmp("x.wav"), 48000);
    assert_false(rg_render(g, &opt, &err));
    assert_non_null(strstr(err.message, "no output node"));
    rg_graph_free(g);

    g = parse("node o output\n\nnode f file_in path=missing.wav\nf.out -> o.in\n");
    assert_false(rg_render(g, &opt, &err));
    assert_int_equal(err.code, RG_ERR_NODE_INIT);
    assert_int_equal(err.line, 3);
    assert_non_null(strstr(err.message, "node 'f' (file_in)"));
    assert_non_null(strstr(err.message, "missing.wav"));
    rg_graph_free(g);

    g = parse("node o output\n");
    opt = options(tmp("x.mp3"), 48000);
    assert_false(rg_render(g, &opt, &err));
    assert_non_null(strstr(err.message, "use .wav or .flac"));
    rg_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(length_is_exact_to_the_frame),
        cmocka_unit_test(clicks_fall_on_the_beat_grid),
        cmocka_unit_test(file_in_resamples_and_loops),
        cmocka_unit_test(file_out_records_what_output_plays),
        cmocka_unit_test(formats_follow_extension_and_option),
        cmocka_unit_test(errors_name_what_is_wrong),
    };
    return cmocka_run_group_tests_name("render", tests, make_tmpdir, remove_tmpdir);
}
