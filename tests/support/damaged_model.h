/* A copy of a fixture checkpoint folder (model.safetensors and config.json)
 * in a temporary folder with one string replaced in one of its files, loaded
 * with rg_musicgen_load: how the model tests check that a damaged checkpoint
 * is refused with an error naming the file and the tensor or config key.
 * Header-only: each test program is one file; it includes cmocka first. */
#ifndef RG_TEST_DAMAGED_MODEL_H
#define RG_TEST_DAMAGED_MODEL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/model/musicgen.h"

static inline char *damaged_slurp(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(*size + 1);
    assert_int_equal(fread(buf, 1, *size, f), *size);
    buf[*size] = '\0';
    fclose(f);
    return buf;
}

static inline void damaged_spill(const char *dir, const char *name, const char *data, size_t size) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, size, f), size);
    fclose(f);
}

/* Copy `model_dir` to a new folder /tmp/rg-lm-XXXXXX (its name left in
 * `dir`) with the first `from` in `file` replaced by `to` (any length; keep
 * the length in model.safetensors, whose header gives offsets), try to load
 * it on `dev`, and remove the copy. The model loaded is freed, or handed to
 * the caller in *keep when `keep` is not NULL. */
static inline bool load_damaged_model_keep(rg_device *dev, const char *model_dir, const char *file,
                                           const char *from, const char *to, char dir[32],
                                           rg_musicgen **keep, rg_error *err) {
    snprintf(dir, 32, "/tmp/rg-lm-XXXXXX");
    assert_non_null(mkdtemp(dir));
    const char *files[] = {"model.safetensors", "config.json"};
    for (int i = 0; i < 2; i++) {
        char src[1200];
        snprintf(src, sizeof src, "%s/%s", model_dir, files[i]);
        size_t size;
        char *buf = damaged_slurp(src, &size);
        if (strcmp(files[i], file) == 0) {
            char *at = memmem(buf, size, from, strlen(from));
            assert_non_null(at);
            size_t head = (size_t)(at - buf), tail = size - head - strlen(from);
            char *out = malloc(head + strlen(to) + tail);
            memcpy(out, buf, head);
            memcpy(out + head, to, strlen(to));
            memcpy(out + head + strlen(to), at + strlen(from), tail);
            free(buf);
            buf = out;
            size = head + strlen(to) + tail;
        }
        damaged_spill(dir, files[i], buf, size);
        free(buf);
    }
    rg_musicgen *m = NULL;
    bool ok = rg_musicgen_load(dir, dev, NULL, &m, err);
    if (keep) *keep = m;
    else rg_musicgen_free(m);
    for (int i = 0; i < 2; i++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    return ok;
}

static inline bool load_damaged_model(rg_device *dev, const char *model_dir, const char *file,
                                      const char *from, const char *to, char dir[32],
                                      rg_error *err) {
    return load_damaged_model_keep(dev, model_dir, file, from, to, dir, NULL, err);
}

#endif
