#include "runtime/model/lm_slot.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/audio_file.h"
#include "runtime/model/model_path.h"
#include "runtime/model/weights.h"

#include "runtime/tensor/tensor.h"

struct rg_lm_entry {
    char path[PATH_MAX];
    int refs;
    rg_device *dev;
    rg_musicgen *model;
    rg_lm_entry *next;
};

/* The cache is touched from node init/destroy (any thread) and generate()
 * (the worker); the lock only guards the list, never a model run. */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static rg_lm_entry *cache;

bool rg_lm_slot_init(rg_lm_slot *s, const char *base_dir, const char *model, rg_error *err) {
    s->entry = NULL;
    if (!rg_model_resolve(base_dir, model, s->path, sizeof s->path, err))
        return false;
    rg_weights *w;
    rg_error probe = {0};
    if (!rg_weights_open(s->path, &w, &probe))
        return rg_error_set(err, RG_ERR_NODE_INIT, NULL, 0, 0, "%s: %s", probe.file, probe.message);
    bool ok = rg_weights_select(w, "text_encoder.", "text_encoder") &&
              rg_weights_select(w, "decoder.", "decoder");
    rg_weights_free(w);
    if (!ok)
        return rg_error_set(err, RG_ERR_NODE_INIT, s->path, 0, 0,
                            "not a MusicGen checkpoint (no text_encoder.* and decoder.* tensors)");
    return true;
}

static rg_lm_entry *find_entry(const char *path) {
    for (rg_lm_entry *e = cache; e; e = e->next)
        if (strcmp(e->path, path) == 0) return e;
    return NULL;
}

static rg_lm_entry *load_entry(const char *path, rg_error *err) {
    rg_lm_entry *e = calloc(1, sizeof *e);
    if (!e) {
        rg_error_set(err, RG_ERR_INTERNAL, path, 0, 0, "out of memory");
        return NULL;
    }
    snprintf(e->path, sizeof e->path, "%s", path);
    char msg[512] = "";
    if (rg_device_create(NULL, &e->dev, msg, sizeof msg) != RG_OK) {
        rg_error_set(err, RG_ERR_INTERNAL, path, 0, 0, "no compute device: %s", msg);
        free(e);
        return NULL;
    }
    if (!rg_musicgen_load(path, e->dev, NULL, &e->model, err)) {
        rg_device_destroy(e->dev);
        free(e);
        return NULL;
    }
    return e;
}

bool rg_lm_slot_model(rg_lm_slot *s, rg_musicgen **out, rg_error *err) {
    if (!s->entry) {
        pthread_mutex_lock(&cache_lock);
        rg_lm_entry *e = find_entry(s->path);
        if (!e && (e = load_entry(s->path, err)) != NULL) {
            e->next = cache;
            cache = e;
        }
        if (e) e->refs++;
        s->entry = e;
        pthread_mutex_unlock(&cache_lock);
        if (!e) return false;
    }
    *out = s->entry->model;
    return true;
}

void rg_lm_slot_free(rg_lm_slot *s) {
    rg_lm_entry *e = s->entry;
    s->entry = NULL;
    if (!e) return;
    pthread_mutex_lock(&cache_lock);
    bool last = --e->refs == 0;
    if (last)
        for (rg_lm_entry **p = &cache; *p; p = &(*p)->next)
            if (*p == e) {
                *p = e->next;
                break;
            }
    pthread_mutex_unlock(&cache_lock);
    if (last) {
        rg_musicgen_free(e->model);
        rg_device_destroy(e->dev);
        free(e);
    }
}
