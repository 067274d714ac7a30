/* safetensors loader and model folder: valid files load with the right
 * values; every kind of broken file gives an error naming the file and the
 * tensor instead of a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/model/safetensors.h"
#include "runtime/model/weights.h"

/* ---- writing test files ---- */

typedef struct {
    const char *name;
    const char *dtype;
    int ndim;
    int64_t shape[4];
    const void *data;
    size_t bytes;
} spec;

static char tmpdir[256];

static void path_in(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", tmpdir, name);
}

static void write_bytes(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, size, f), size);
    fclose(f);
}

static void write_text(const char *name, const char *text)
{
    char path[512];
    path_in(path, sizeof path, name);
    write_bytes(path, text, strlen(text));
}

/* Serialise tensors into a safetensors image; returns malloc'd bytes. */
static uint8_t *build(const spec *t, int n, size_t *size)
{
    char header[8192];
    size_t used = (size_t)snprintf(header, sizeof header, "{");
    size_t offset = 0;
    for (int i = 0; i < n; i++) {
        used += (size_t)snprintf(header + used, sizeof header - used,
                                 "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", i ? "," : "",
                                 t[i].name, t[i].dtype);
        for (int d = 0; d < t[i].ndim; d++)
            used += (size_t)snprintf(header + used, sizeof header - used, "%s%lld",
                                     d ? "," : "", (long long)t[i].shape[d]);
        used += (size_t)snprintf(header + used, sizeof header - used,
                                 "],\"data_offsets\":[%zu,%zu]}", offset, offset + t[i].bytes);
        offset += t[i].bytes;
    }
    used += (size_t)snprintf(header + used, sizeof header - used,
                             ",\"__metadata__\":{\"format\":\"pt\"}}");
    *size = 8 + used + offset;
    uint8_t *buf = malloc(*size);
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)((uint64_t)used >> (8 * i));
    memcpy(buf + 8, header, used);
    uint8_t *data = buf + 8 + used;
    for (int i = 0; i < n; i++) {
        memcpy(data, t[i].data, t[i].bytes);
        data += t[i].bytes;
    }
    return buf;
}

static void write_st(const char *name, const spec *t, int n)
{
    size_t size;
    uint8_t *buf = build(t, n, &size);
    char path[512];
    path_in(path, sizeof path, name);
    write_bytes(path, buf, size);
    free(buf);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rg_st_test_XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void assert_mentions(const rg_error *err, const char *file_part, const char *text_part)
{
    if (file_part && !strstr(err->file, file_part))
        fail_msg("error file '%s' does not name '%s' (message: %s)", err->file, file_part,
                 err->message);
    if (text_part && !strstr(err->message, text_part))
        fail_msg("error message '%s' does not mention '%s'", err->message, text_part);
}

/* ---- valid files ---- */

static const float w_data[6] = {1, -2, 3.5f, 0.25f, -0.125f, 100};
static const uint16_t h_data[4] = {0x3c00, 0xc000, 0x0001, 0x7bff}; /* 1, -2, 2^-24, 65504 */
static const uint16_t b_data[2] = {0x3f80, 0xc2c8};                 /* 1, -100 */

static void test_parse_and_convert(void **state)
{
    (void)state;
    spec t[] = {
        {"w", "F32", 2, {2, 3}, w_data, sizeof w_data},
        {"h", "F16", 1, {4}, h_data, sizeof h_data},
        {"b", "BF16", 2, {1, 2}, b_data, sizeof b_data},
    };
    write_st("ok.safetensors", t, 3);
    char path[512];
    path_in(path, sizeof path, "ok.safetensors");
    rg_st_file f;
    rg_error err = {0};
    assert_true(rg_st_open(path, &f, &err));
    assert_int_equal(f.n_tensors, 3);
    const rg_st_tensor *w = rg_st_find(&f, "w");
    assert_non_null(w);
    assert_int_equal(w->ndim, 2);
    assert_int_equal(w->shape[1], 3);
    float out[6];
    assert_true(rg_st_read_f32(&f, w, out, &err));
    assert_memory_equal(out, w_data, sizeof w_data);
    assert_true(rg_st_read_f32(&f, rg_st_find(&f, "h"), out, &err));
    assert_true(out[0] == 1.0f && out[1] == -2.0f && out[3] == 65504.0f);
    assert_true(out[2] == ldexpf(1.0f, -24));
    assert_true(rg_st_read_f32(&f, rg_st_find(&f, "b"), out, &err));
    assert_true(out[0] == 1.0f && out[1] == -100.0f);
    assert_null(rg_st_find(&f, "nope"));
    assert_true(rg_st_has_prefix(&f, "h"));
    assert_false(rg_st_has_prefix(&f, "x"));
    rg_st_close(&f);
}

static void test_f16_every_value_round_trips_through_float(void **state)
{
    (void)state;
    /* Every finite half is exactly representable as a float; check the
     * conversion against the arithmetic definition. */
    for (uint32_t h = 0; h < 0x10000; h++) {
        int exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
        if (exp == 0x1f)
            continue;
        double v = exp ? ldexp(1.0 + mant / 1024.0, exp - 15) : ldexp(mant / 1024.0, -14);
        if (h & 0x8000)
            v = -v;
        if (rg_st_f16_to_f32((uint16_t)h) != (float)v)
            fail_msg("half 0x%04x -> %g, expected %g", h, rg_st_f16_to_f32((uint16_t)h), v);
    }
    assert_true(isinf(rg_st_f16_to_f32(0x7c00)));
    assert_true(isnan(rg_st_f16_to_f32(0x7e00)));
}

/* ---- broken files ---- */

static void expect_parse_error(const uint8_t *buf, size_t size, const char *text)
{
    rg_st_file f;
    rg_error err = {0};
    assert_false(rg_st_parse(buf, size, "broken.safetensors", &f, &err));
    assert_mentions(&err, "broken.safetensors", text);
    assert_null(f.tensors);
}

static void test_truncated_data_names_file_and_tensor(void **state)
{
    (void)state;
    spec t[] = {{"encoder.layers.0.conv.weight_v", "F32", 2, {2, 3}, w_data, sizeof w_data}};
    size_t size;
    uint8_t *buf = build(t, 1, &size);
    expect_parse_error(buf, size - 4, "encoder.layers.0.conv.weight_v");
    expect_parse_error(buf, 5, "too short");
    expect_parse_error(buf, 20, "truncated");
    /* and from disk, via the model folder path */
    char path[512];
    path_in(path, sizeof path, "trunc.safetensors");
    write_bytes(path, buf, size - 1);
    rg_st_file f;
    rg_error err = {0};
    assert_false(rg_st_open(path, &f, &err));
    assert_mentions(&err, "trunc.safetensors", "encoder.layers.0.conv.weight_v");
    free(buf);
}

static void test_corrupt_headers(void **state)
{
    (void)state;
    struct {
        const char *json;
        const char *mentions;
    } cases[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]", "JSON"},
        {"[1,2]", "not a JSON object"},
        {"{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", "'a'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", "'a'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", "'a'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", "'a'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", "'a'"},
        {"{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", "'a'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],"
         "\"data_offsets\":[0,8]}}",
         "'a'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         "overlap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
         "JSON"},
        {"{\"__metadata__\":3}", "__metadata__"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = strlen(cases[i].json);
        size_t size = 8 + len + 16;
        uint8_t *buf = calloc(1, size);
        buf[0] = (uint8_t)len;
        memcpy(buf + 8, cases[i].json, len);
        expect_parse_error(buf, size, cases[i].mentions);
        free(buf);
    }
}

static void test_integer_tensor_refused_by_name(void **state)
{
    (void)state;
    int32_t ids[2] = {1, 2};
    spec t[] = {{"ids", "I32", 1, {2}, ids, sizeof ids}};
    size_t size;
    uint8_t *buf = build(t, 1, &size);
    rg_st_file f;
    rg_error err = {0};
    assert_true(rg_st_parse(buf, size, "ints.safetensors", &f, &err));
    float out[2];
    assert_false(rg_st_read_f32(&f, rg_st_find(&f, "ids"), out, &err));
    assert_mentions(&err, "ints.safetensors", "'ids'");
    rg_st_close(&f);
    free(buf);
}

/* ---- model folders ---- */

static const float v_data[6] = {3, 4, 0, 0, 0, 2};  /* rows [3,4,0] and [0,0,2] */
static const float g_data[2] = {10, -1};
static const float w_folded[6] = {6, 8, 0, 0, 0, -1}; /* g * v / |v| per row */

static void make_dir(const char *name)
{
    char path[512];
    path_in(path, sizeof path, name);
    mkdir(path, 0755);
}

static void test_weight_norm_both_spellings_and_plain(void **state)
{
    (void)state;
    make_dir("wn");
    spec t[] = {
        {"a.conv.weight_g", "F32", 3, {2, 1, 1}, g_data, sizeof g_data},
        {"a.conv.weight_v", "F32", 3, {2, 3, 1}, v_data, sizeof v_data},
        {"b.conv.parametrizations.weight.original0", "F32", 3, {2, 1, 1}, g_data,
         sizeof g_data},
        {"b.conv.parametrizations.weight.original1", "F32", 3, {2, 3, 1}, v_data,
         sizeof v_data},
        {"c.conv.weight", "F32", 3, {2, 3, 1}, w_folded, sizeof w_folded},
    };
    write_st("wn/model.safetensors", t, 5);
    write_text("wn/config.json", "{\"num_filters\": 4}");
    char dir[512];
    path_in(dir, sizeof dir, "wn");
    rg_weights *w;
    rg_error err = {0};
    assert_true(rg_weights_open(dir, &w, &err));
    assert_false(rg_weights_select(w, "audio_encoder.", "audio_encoder"));
    const int64_t shape[3] = {2, 3, 1};
    const char *modules[] = {"a.conv", "b.conv", "c.conv"};
    for (int m = 0; m < 3; m++) {
        float out[6];
        if (!rg_weights_read_normed(w, modules[m], 3, shape, out, &err))
            fail_msg("%s: %s", modules[m], err.message);
        for (int i = 0; i < 6; i++)
            assert_float_equal(out[i], w_folded[i], 1e-6);
    }
    float out[6];
    assert_false(rg_weights_read_normed(w, "d.conv", 3, shape, out, &err));
    assert_mentions(&err, "model.safetensors", "'d.conv.weight_v'");
    const int64_t wrong[3] = {2, 2, 1};
    assert_false(rg_weights_read_normed(w, "a.conv", 3, wrong, out, &err));
    assert_mentions(&err, "model.safetensors", "'a.conv.weight_v' has shape [2, 3, 1]");
    assert_mentions(&err, NULL, "expected [2, 2, 1]");
    rg_weights_free(w);
}

static void test_composite_prefix_and_config_section(void **state)
{
    (void)state;
    make_dir("mg");
    spec t[] = {
        {"audio_encoder.x.weight", "F32", 1, {6}, w_data, sizeof w_data},
        {"decoder.y.weight", "F32", 1, {2}, g_data, sizeof g_data},
    };
    write_st("mg/model.safetensors", t, 2);
    write_text("mg/config.json",
               "{\"model_type\": \"musicgen\", \"audio_encoder\": {\"sampling_rate\": 32000,"
               " \"upsampling_ratios\": [8, 5, 4, 4], \"use_causal_conv\": false,"
               " \"pad_mode\": \"reflect\", \"target_bandwidths\": [2.2],"
               " \"codebook_dim\": null}, \"decoder\": {}}");
    char path[512];
    path_in(path, sizeof path, "mg/model.safetensors"); /* a single file works too */
    rg_weights *w;
    rg_error err = {0};
    assert_true(rg_weights_open(path, &w, &err));
    assert_true(rg_weights_select(w, "audio_encoder.", "audio_encoder"));
    float out[6];
    const int64_t shape[1] = {6};
    assert_true(rg_weights_read(w, "x.weight", 1, shape, out, &err));
    assert_float_equal(out[5], 100, 0);
    assert_false(rg_weights_read(w, "y.weight", 1, shape, out, &err));
    assert_mentions(&err, "model.safetensors", "missing tensor 'audio_encoder.y.weight'");

    int rate, ratios[8], n_ratios, dim;
    bool causal;
    char pad[16];
    double bw[8];
    int n_bw;
    assert_true(rg_config_int(w, "sampling_rate", 24000, &rate, &err));
    assert_int_equal(rate, 32000);
    assert_true(rg_config_int_array(w, "upsampling_ratios", ratios, 8, &n_ratios, &err));
    assert_int_equal(n_ratios, 4);
    assert_int_equal(ratios[3], 4);
    assert_true(rg_config_bool(w, "use_causal_conv", true, &causal, &err));
    assert_false(causal);
    assert_true(rg_config_string(w, "pad_mode", "constant", pad, sizeof pad, &err));
    assert_string_equal(pad, "reflect");
    assert_true(rg_config_double_array(w, "target_bandwidths", bw, 8, &n_bw, &err));
    assert_int_equal(n_bw, 1);
    assert_float_equal(bw[0], 2.2, 1e-12);
    assert_true(rg_config_int(w, "codebook_dim", 128, &dim, &err)); /* null: default */
    assert_int_equal(dim, 128);
    assert_false(rg_config_int(w, "pad_mode", 0, &dim, &err));
    assert_mentions(&err, "config.json", "\"pad_mode\" must be an integer");
    rg_weights_free(w);
}

static void test_sharded_folder(void **state)
{
    (void)state;
    make_dir("sh");
    spec a[] = {{"p.weight", "F32", 1, {6}, w_data, sizeof w_data}};
    spec b[] = {{"q.weight", "F16", 1, {4}, h_data, sizeof h_data}};
    write_st("sh/model-00001-of-00002.safetensors", a, 1);
    write_st("sh/model-00002-of-00002.safetensors", b, 1);
    write_text("sh/model.safetensors.index.json",
               "{\"metadata\": {}, \"weight_map\": {"
               "\"p.weight\": \"model-00001-of-00002.safetensors\","
               "\"q.weight\": \"model-00002-of-00002.safetensors\"}}");
    write_text("sh/config.json", "{}");
    char dir[512];
    path_in(dir, sizeof dir, "sh");
    rg_weights *w;
    rg_error err = {0};
    assert_true(rg_weights_open(dir, &w, &err));
    float out[6];
    const int64_t four[1] = {4};
    assert_true(rg_weights_read(w, "q.weight", 1, four, out, &err));
    assert_float_equal(out[1], -2, 0);
    const int64_t six[1] = {6};
    assert_true(rg_weights_read(w, "p.weight", 1, six, out, &err));
    assert_float_equal(out[0], 1, 0);
    assert_false(rg_weights_read(w, "q.weight", 1, six, out, &err));
    assert_mentions(&err, "model-00002-of-00002.safetensors", "'q.weight'");
    rg_weights_free(w);
}

static void test_missing_files(void **state)
{
    (void)state;
    make_dir("empty");
    make_dir("noconf");
    spec t[] = {{"p.weight", "F32", 1, {6}, w_data, sizeof w_data}};
    write_st("noconf/model.safetensors", t, 1);
    char path[512];
    rg_weights *w;
    rg_error err = {0};
    path_in(path, sizeof path, "empty");
    assert_false(rg_weights_open(path, &w, &err));
    assert_null(w);
    assert_mentions(&err, "empty", "model.safetensors");
    path_in(path, sizeof path, "noconf");
    assert_false(rg_weights_open(path, &w, &err));
    assert_mentions(&err, "noconf/config.json", "missing");
    path_in(path, sizeof path, "nothing.safetensors");
    assert_false(rg_weights_open(path, &w, &err));
    assert_int_equal(err.code, RG_ERR_IO);
    assert_mentions(&err, "nothing.safetensors", "cannot open");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_convert),
        cmocka_unit_test(test_f16_every_value_round_trips_through_float),
        cmocka_unit_test(test_truncated_data_names_file_and_tensor),
        cmocka_unit_test(test_corrupt_headers),
        cmocka_unit_test(test_integer_tensor_refused_by_name),
        cmocka_unit_test(test_weight_norm_both_spellings_and_plain),
        cmocka_unit_test(test_composite_prefix_and_config_section),
        cmocka_unit_test(test_sharded_folder),
        cmocka_unit_test(test_missing_files),
    };
    return cmocka_run_group_tests_name("model_safetensors", tests, setup, teardown);
}
