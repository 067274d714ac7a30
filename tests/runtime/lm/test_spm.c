/* The tokenizer against SentencePiece itself: every prompt in
 * tests/fixtures/lm/spm_cases.tsv (written by train/spm/make_fixture.py with
 * python3-sentencepiece) must give exactly the same ids, </s> included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/model/spm.h"

static char model_path[1024], cases_path[1024];

static void paths(void) {
    const char *root = getenv("RESONANT_SOURCE_DIR");
    if (!root) root = ".";
    snprintf(model_path, sizeof model_path, "%s/tests/fixtures/lm/tiny/spiece.model", root);
    snprintf(cases_path, sizeof cases_path, "%s/tests/fixtures/lm/spm_cases.tsv", root);
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* "hex<TAB>id id id" -> bytes and ids. */
static void parse_case(const char *line, char *text, size_t *len, int32_t *ids, int *n) {
    *len = 0;
    const char *p = line;
    while (*p && *p != '\t') {
        int hi = hexval(p[0]), lo = hexval(p[1]);
        assert_true(hi >= 0 && lo >= 0);
        text[(*len)++] = (char)(hi << 4 | lo);
        p += 2;
    }
    assert_int_equal(*p, '\t');
    *n = 0;
    for (;;) {
        char *end;
        long v = strtol(p + 1, &end, 10);
        if (end == p + 1) break;
        ids[(*n)++] = (int32_t)v;
        p = end;
    }
}

static void print_ids(const char *what, const int32_t *ids, int n) {
    fprintf(stderr, "# %s:", what);
    for (int i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, "\n");
}

static void test_matches_sentencepiece(void **state) {
    (void)state;
    rg_spm *spm;
    rg_error err = {0};
    if (!rg_spm_load(model_path, &spm, &err)) fail_msg("%s: %s", err.file, err.message);
    FILE *f = fopen(cases_path, "r");
    assert_non_null(f);
    static char line[8192], text[4096];
    int32_t want[2048];
    int cases = 0, bad = 0;
    while (fgets(line, sizeof line, f)) {
        size_t len;
        int n_want;
        parse_case(line, text, &len, want, &n_want);
        int32_t *got;
        int n_got;
        assert_true(rg_spm_encode(spm, text, len, true, &got, &n_got, &err));
        if (n_got != n_want || memcmp(got, want, (size_t)n_got * sizeof *got) != 0) {
            char *norm;
            size_t nl;
            assert_true(rg_spm_normalize(spm, text, len, &norm, &nl, &err));
            fprintf(stderr, "# case %d: '%.*s' normalised '%s'\n", cases, (int)len, text, norm);
            print_ids("want", want, n_want);
            print_ids("got ", got, n_got);
            free(norm);
            bad++;
        }
        free(got);
        cases++;
    }
    fclose(f);
    rg_spm_free(spm);
    assert_true(cases >= 200);
    assert_int_equal(bad, 0);
}

static void test_specials(void **state) {
    (void)state;
    rg_spm *spm;
    rg_error err = {0};
    assert_true(rg_spm_load(model_path, &spm, &err));
    assert_int_equal(rg_spm_vocab_size(spm), 512);
    assert_int_equal(rg_spm_pad_id(spm), 0);
    assert_int_equal(rg_spm_eos_id(spm), 1);
    assert_int_equal(rg_spm_unk_id(spm), 2);
    assert_string_equal(rg_spm_piece(spm, 1), "</s>");
    assert_null(rg_spm_piece(spm, 512));
    assert_null(rg_spm_piece(spm, -1));
    /* Whitespace only normalises to nothing: only </s> is left. */
    int32_t *ids;
    int n;
    assert_true(rg_spm_encode(spm, " \t  ", 4, true, &ids, &n, &err));
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], 1);
    free(ids);
    assert_true(rg_spm_encode(spm, "", 0, false, &ids, &n, &err));
    assert_int_equal(n, 0);
    free(ids);
    char *norm;
    size_t nl;
    assert_true(rg_spm_normalize(spm, "  ＡＢＣ　ﬁ  x ", strlen("  ＡＢＣ　ﬁ  x "), &norm, &nl, &err));
    assert_string_equal(norm, "\xe2\x96\x81" "ABC" "\xe2\x96\x81" "fi" "\xe2\x96\x81" "x");
    free(norm);
    rg_spm_free(spm);
}

/* A damaged model is an error naming the file, never a crash. */
static void test_bad_models(void **state) {
    (void)state;
    rg_spm *spm = (rg_spm *)1;
    rg_error err = {0};
    assert_false(rg_spm_load("/nonexistent/spiece.model", &spm, &err));
    assert_null(spm);
    assert_non_null(strstr(err.file, "spiece.model"));

    assert_false(rg_spm_parse("", 0, "empty.model", &spm, &err));
    assert_non_null(strstr(err.message, "no pieces"));
    const char junk[] = "\x0a\xff\xff\xff\xff\x0f";
    assert_false(rg_spm_parse(junk, sizeof junk - 1, "junk.model", &spm, &err));
    assert_string_equal(err.file, "junk.model");

    /* Every truncation of the real model either loads or fails cleanly. */
    FILE *f = fopen(model_path, "rb");
    assert_non_null(f);
    static unsigned char buf[1 << 20];
    size_t size = fread(buf, 1, sizeof buf, f);
    fclose(f);
    for (size_t cut = 0; cut < size; cut += size / 97 + 1) {
        if (rg_spm_parse(buf, cut, "cut.model", &spm, &err)) {
            int32_t *ids;
            int n;
            if (rg_spm_encode(spm, "dark techno ＡＢＣ", strlen("dark techno ＡＢＣ"), false, &ids,
                              &n, &err))
                free(ids);
            rg_spm_free(spm);
        }
    }
    /* Flipped bytes in the charsmap must not read out of bounds. */
    for (size_t i = 0; i < 2000; i++) {
        size_t at = size - 1 - (i * 7919) % (size / 2);
        buf[at] ^= 0x5a;
        if (rg_spm_parse(buf, size, "flipped.model", &spm, &err)) {
            int32_t *ids;
            int n;
            if (rg_spm_encode(spm, "ＡＢＣ ｶﾞ ﬁ ①", strlen("ＡＢＣ ｶﾞ ﬁ ①"), false, &ids, &n, &err))
                free(ids);
            rg_spm_free(spm);
        }
        buf[at] ^= 0x5a;
    }
}

int main(void) {
    paths();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_sentencepiece),
        cmocka_unit_test(test_specials),
        cmocka_unit_test(test_bad_models),
    };
    return cmocka_run_group_tests_name("lm_spm", tests, NULL, NULL);
}
