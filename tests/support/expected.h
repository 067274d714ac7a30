/* The reference's values in an expected.safetensors (written by
 * train/make_*_fixtures.py), read by the model tests: tensors by name as
 * floats or int32, and the relative error the tests compare with.
 * Header-only: each test program is one file; it includes cmocka first. */
#ifndef RG_TEST_EXPECTED_H
#define RG_TEST_EXPECTED_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime/model/safetensors.h"

static inline const rg_st_tensor *expected_find(const rg_st_file *f, const char *name) {
    const rg_st_tensor *t = rg_st_find(f, name);
    if (!t) fail_msg("expected.safetensors has no '%s'", name);
    return t;
}

/* Tensor `name` as malloc'd floats; *n receives its element count. */
static inline float *expected_floats(const rg_st_file *f, const char *name, int64_t *n) {
    const rg_st_tensor *t = expected_find(f, name);
    *n = rg_st_numel(t);
    float *out = malloc((size_t)*n * sizeof *out);
    rg_error err = {0};
    assert_true(rg_st_read_f32(f, t, out, &err));
    return out;
}

/* An I32 tensor in place (the mapping lives as long as the file is open). */
static inline const int32_t *expected_ints(const rg_st_file *f, const char *name, int64_t *n) {
    const rg_st_tensor *t = expected_find(f, name);
    assert_int_equal(t->dtype, RG_ST_I32);
    *n = rg_st_numel(t);
    return (const int32_t *)(f->data + t->begin);
}

/* max |got - want| relative to max |want|: the scale of the tensor. NaN
 * counts as the worst. */
static inline double expected_rel_error(const float *got, const float *want, int64_t n) {
    double worst = 0, scale = 1e-12;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= worst)) worst = d;
        if (fabs(want[i]) > scale) scale = fabs(want[i]);
    }
    return worst / scale;
}

/* got against tensor `name` within `tolerance` (relative to its scale). */
static inline void expected_close(const rg_st_file *f, const char *what, const float *got,
                                  const char *name, double tolerance) {
    int64_t n;
    float *want = expected_floats(f, name, &n);
    double e = expected_rel_error(got, want, n);
    fprintf(stderr, "# %s: relative error %.3g\n", what, e);
    free(want);
    assert_true(e <= tolerance);
}

#endif
