/* The .codes format (docs/codes-format.md) and `resonant encode/decode`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/audio_file.h"
#include "runtime/model/codec_cli.h"
#include "runtime/model/codes.h"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rg_codes_test_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static int32_t sample_codes[2 * 3] = {0, 1023, 7, 512, 3, 1};

static rg_codes sample(void)
{
    rg_codes c = {.codec = "encodec", .sample_rate = 24000, .hop_length = 320,
                  .codebook_size = 1024, .n_codebooks = 2, .channels = 1, .frames = 3,
                  .samples = 900, .codes = sample_codes};
    return c;
}

static void test_round_trip_and_layout(void **state)
{
    (void)state;
    rg_codes c = sample();
    uint8_t *buf;
    size_t size;
    rg_error err = {0};
    assert_true(rg_codes_serialise(&c, &buf, &size, &err));
    assert_int_equal(size, 64 + 2 * 6);
    assert_memory_equal(buf, "RGCD\x01\x00\x40\x00"
                            "encodec", 15);
    assert_int_equal(buf[64 + 2] | buf[64 + 3] << 8, 1023); /* codebook-major uint16 LE */
    rg_codes back;
    assert_true(rg_codes_parse(buf, size, "x.codes", &back, &err));
    assert_string_equal(back.codec, "encodec");
    assert_int_equal(back.sample_rate, 24000);
    assert_int_equal(back.hop_length, 320);
    assert_int_equal(back.frames, 3);
    assert_int_equal(back.samples, 900);
    assert_memory_equal(back.codes, sample_codes, sizeof sample_codes);
    rg_codes_free(&back);
    free(buf);
    assert_int_equal(rg_crc32("123456789", 9), 0xcbf43926u); /* the CRC-32 check value */
}

static void expect_error(const uint8_t *buf, size_t size, const char *mentions)
{
    rg_codes c;
    rg_error err = {0};
    assert_false(rg_codes_parse(buf, size, "bad.codes", &c, &err));
    assert_string_equal(err.file, "bad.codes");
    if (!strstr(err.message, mentions))
        fail_msg("'%s' does not mention '%s'", err.message, mentions);
    assert_null(c.codes);
}

static void test_broken_files(void **state)
{
    (void)state;
    rg_codes c = sample();
    uint8_t *buf;
    size_t size;
    rg_error err = {0};
    assert_true(rg_codes_serialise(&c, &buf, &size, &err));
    expect_error(buf, size - 2, "truncated");
    expect_error(buf, 10, "not a .codes file");
    buf[70] ^= 1;
    expect_error(buf, size, "checksum");
    buf[70] ^= 1;
    buf[4] = 2;
    expect_error(buf, size, "version 2");
    buf[4] = 1;
    buf[48] = 0xff; /* samples beyond frames * hop */
    expect_error(buf, size, "sample count");
    free(buf);
    sample_codes[3] = 1024;
    assert_false(rg_codes_serialise(&c, &buf, &size, &err));
    assert_non_null(strstr(err.message, "code 1024 at codebook 1, frame 0"));
    sample_codes[3] = 512;
}

static void write_wav(const char *path, const float *x, int64_t frames, int channels, int rate)
{
    rg_error err = {0};
    rg_audio_writer *w = rg_writer_open(path, channels, rate, RG_SAMPLE_FLOAT, &err);
    assert_non_null(w);
    assert_true(rg_writer_write(w, x, frames, &err));
    assert_true(rg_writer_close(w, &err));
}

static bool files_equal(const char *a, const char *b)
{
    char cmd[1300];
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", a, b);
    return system(cmd) == 0;
}

/* Same samples (the files themselves differ: libsndfile stamps float WAVs
 * with the time in their PEAK chunk). */
static bool audio_equal(const char *a, const char *b)
{
    SF_INFO ia = {0}, ib = {0};
    SNDFILE *fa = sf_open(a, SFM_READ, &ia), *fb = sf_open(b, SFM_READ, &ib);
    bool same = fa && fb && ia.frames == ib.frames && ia.channels == ib.channels;
    float *xa = same ? malloc((size_t)(ia.frames * ia.channels) * sizeof *xa) : NULL;
    float *xb = same ? malloc((size_t)(ib.frames * ib.channels) * sizeof *xb) : NULL;
    same = same && xa && xb && sf_readf_float(fa, xa, ia.frames) == ia.frames &&
           sf_readf_float(fb, xb, ib.frames) == ib.frames &&
           memcmp(xa, xb, (size_t)(ia.frames * ia.channels) * sizeof *xa) == 0;
    free(xa);
    free(xb);
    if (fa)
        sf_close(fa);
    if (fb)
        sf_close(fb);
    return same;
}

static int run_cli(int (*fn)(int, char **), const char *a0, const char *a1, const char *a2,
                   const char *a3, const char *a4, const char *a5, const char *a6,
                   const char *a7)
{
    const char *argv[] = {a0, a1, a2, a3, a4, a5, a6, a7, NULL};
    int argc = 0;
    while (argv[argc])
        argc++;
    return fn(argc, (char **)argv);
}

static void test_cli_encode_decode(void **state)
{
    (void)state;
    char model[1024], wav[512], codes_path[512], out[512];
    const char *src = getenv("RESONANT_SOURCE_DIR");
    snprintf(model, sizeof model, "%s/tests/fixtures/encodec/24k", src ? src : ".");
    snprintf(wav, sizeof wav, "%s/in.wav", tmpdir);
    snprintf(codes_path, sizeof codes_path, "%s/in.codes", tmpdir);
    snprintf(out, sizeof out, "%s/out.wav", tmpdir);
    enum { N = 7000 }; /* 0.29 s: not a whole number of frames */
    static float stereo[2 * N];
    for (int i = 0; i < N; i++)
        stereo[2 * i] = stereo[2 * i + 1] = 0.3f * sinf(2 * 3.14159265f * 330 * i / 24000.0f);
    write_wav(wav, stereo, N, 2, 24000);

    assert_int_equal(run_cli(rg_cli_encode, "encode", wav, "-o", codes_path, "--model", model,
                             "--bandwidth", "3"),
                     0);
    rg_codes c;
    rg_error err = {0};
    assert_true(rg_codes_read(codes_path, &c, &err));
    assert_int_equal(c.n_codebooks, 4); /* 3 kbps at 75 Hz x 10 bits */
    assert_int_equal(c.frames, 22);    /* ceil(7000 / 320) */
    assert_int_equal(c.samples, N);
    rg_codes_free(&c);

    assert_int_equal(run_cli(rg_cli_decode, "decode", codes_path, "-o", out, "--model", model,
                             NULL, NULL),
                     0);
    SF_INFO info = {0};
    SNDFILE *f = sf_open(out, SFM_READ, &info);
    assert_non_null(f);
    assert_int_equal(info.frames, N); /* trimmed back to the encoded length */
    assert_int_equal(info.samplerate, 24000);
    assert_int_equal(info.channels, 1);
    sf_close(f);

    /* in pieces of 0.1 s (8 frames), each seeing 1 s on either side: with a
     * file this short every piece sees all of it, so the codes and audio
     * are the same as in one piece */
    char seg_codes[600], seg_out[600];
    snprintf(seg_codes, sizeof seg_codes, "%s/seg.codes", tmpdir);
    snprintf(seg_out, sizeof seg_out, "%s/seg.wav", tmpdir);
    assert_int_equal(run_cli(rg_cli_decode, "decode", codes_path, "-o", seg_out, "--model",
                             model, "--segment", "0.1"),
                     0);
    assert_true(audio_equal(seg_out, out));
    char whole_codes[600];
    snprintf(whole_codes, sizeof whole_codes, "%s/whole.codes", tmpdir);
    assert_int_equal(run_cli(rg_cli_encode, "encode", wav, "-o", seg_codes, "--model", model,
                             "--segment", "0.1"),
                     0);
    assert_int_equal(run_cli(rg_cli_encode, "encode", wav, "-o", whole_codes, "--model", model,
                             "--segment", "0"),
                     0);
    assert_true(files_equal(seg_codes, whole_codes));

    /* user errors: exit 1 */
    assert_int_equal(run_cli(rg_cli_encode, "encode", wav, "-o", codes_path, NULL, NULL, NULL,
                             NULL),
                     1);
    assert_int_equal(run_cli(rg_cli_encode, "encode", wav, "-o", codes_path, "--model", model,
                             "--codebooks", "9"),
                     1);
    assert_int_equal(run_cli(rg_cli_decode, "decode", wav, "-o", out, "--model", model, NULL,
                             NULL),
                     1); /* a WAV is not a .codes file */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_and_layout),
        cmocka_unit_test(test_broken_files),
        cmocka_unit_test(test_cli_encode_decode),
    };
    return cmocka_run_group_tests_name("model_codes", tests, setup, teardown);
}
