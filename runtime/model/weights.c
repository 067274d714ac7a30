#include "runtime/model/weights.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_SHARDS 64

struct rg_weights {
    char *path;                  /* what the user gave */
    char config_path[4096];
    rg_st_file shards[MAX_SHARDS];
    int n_shards;
    json_t *config;              /* root of config.json */
    json_t *section;             /* selected section (borrowed), or config */
    char prefix[64];
};

const char *rg_weights_path(const rg_weights *w)
{
    return w->path;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool join(char *out, size_t size, const char *dir, const char *name, rg_error *err)
{
    if ((size_t)snprintf(out, size, "%s/%s", dir, name) >= size)
        return rg_error_set(err, RG_ERR_IO, dir, 0, 0, "path too long");
    return true;
}

static bool open_shard(rg_weights *w, const char *path, rg_error *err)
{
    for (int i = 0; i < w->n_shards; i++)
        if (strcmp(w->shards[i].path, path) == 0)
            return true;
    if (w->n_shards == MAX_SHARDS)
        return rg_error_set(err, RG_ERR_VALUE, path, 0, 0, "more than %d shards", MAX_SHARDS);
    if (!rg_st_open(path, &w->shards[w->n_shards], err))
        return false;
    w->n_shards++;
    return true;
}

/* model.safetensors.index.json: {"weight_map": {"tensor": "shard file"}}. */
static bool open_sharded(rg_weights *w, const char *dir, const char *index_path, rg_error *err)
{
    json_error_t jerr;
    json_t *index = json_load_file(index_path, 0, &jerr);
    if (!index)
        return rg_error_set(err, RG_ERR_VALUE, index_path, jerr.line, jerr.column,
                            "not valid JSON: %s", jerr.text);
    json_t *map = json_object_get(index, "weight_map");
    bool ok = json_is_object(map) ||
              rg_error_set(err, RG_ERR_VALUE, index_path, 0, 0, "no \"weight_map\" object");
    const char *name;
    json_t *file;
    json_object_foreach(map, name, file) {
        if (!ok)
            break;
        char path[4096];
        if (!json_is_string(file) || strchr(json_string_value(file), '/'))
            ok = rg_error_set(err, RG_ERR_VALUE, index_path, 0, 0,
                              "weight_map entry for '%s' is not a file name in the folder", name);
        else
            ok = join(path, sizeof path, dir, json_string_value(file), err) &&
                 open_shard(w, path, err);
    }
    json_decref(index);
    return ok;
}

static bool open_folder(rg_weights *w, const char *dir, rg_error *err)
{
    char path[4096];
    if (!join(path, sizeof path, dir, "model.safetensors.index.json", err))
        return false;
    if (file_exists(path))
        return open_sharded(w, dir, path, err);
    if (!join(path, sizeof path, dir, "model.safetensors", err))
        return false;
    if (!file_exists(path))
        return rg_error_set(err, RG_ERR_IO, dir, 0, 0,
                            "no model.safetensors (or model.safetensors.index.json) in this "
                            "folder");
    return open_shard(w, path, err);
}

static bool load_config(rg_weights *w, const char *dir, rg_error *err)
{
    if (!join(w->config_path, sizeof w->config_path, dir, "config.json", err))
        return false;
    if (!file_exists(w->config_path))
        return rg_error_set(err, RG_ERR_IO, w->config_path, 0, 0,
                            "missing: the model's hyper-parameters come from its config.json");
    json_error_t jerr;
    w->config = json_load_file(w->config_path, JSON_REJECT_DUPLICATES, &jerr);
    if (!w->config)
        return rg_error_set(err, RG_ERR_VALUE, w->config_path, jerr.line, jerr.column,
                            "not valid JSON: %s", jerr.text);
    if (!json_is_object(w->config))
        return rg_error_set(err, RG_ERR_VALUE, w->config_path, 0, 0, "not a JSON object");
    w->section = w->config;
    return true;
}

bool rg_weights_open(const char *path, rg_weights **out, rg_error *err)
{
    *out = NULL;
    rg_weights *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        return rg_error_set(err, RG_ERR_INTERNAL, path, 0, 0, "out of memory");
    }
    char dir[4096];
    bool ok;
    if (is_dir(path)) {
        snprintf(dir, sizeof dir, "%s", path);
        ok = open_folder(w, dir, err);
    } else {
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(dir, sizeof dir, ".");
        ok = open_shard(w, path, err);
    }
    ok = ok && load_config(w, dir, err);
    if (!ok) {
        rg_weights_free(w);
        return false;
    }
    *out = w;
    return true;
}

void rg_weights_free(rg_weights *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->n_shards; i++)
        rg_st_close(&w->shards[i]);
    json_decref(w->config);
    free(w->path);
    free(w);
}

bool rg_weights_select(rg_weights *w, const char *prefix, const char *section)
{
    bool composite = false;
    for (int i = 0; i < w->n_shards && !composite; i++)
        composite = rg_st_has_prefix(&w->shards[i], prefix);
    if (!composite)
        return false;
    snprintf(w->prefix, sizeof w->prefix, "%s", prefix);
    json_t *sub = json_object_get(w->config, section);
    if (json_is_object(sub))
        w->section = sub;
    return true;
}

const rg_st_tensor *rg_weights_find(const rg_weights *w, const char *name,
                                    const rg_st_file **file)
{
    char full[512];
    if ((size_t)snprintf(full, sizeof full, "%s%s", w->prefix, name) >= sizeof full)
        return NULL;
    for (int i = 0; i < w->n_shards; i++) {
        const rg_st_tensor *t = rg_st_find(&w->shards[i], full);
        if (t) {
            if (file)
                *file = &w->shards[i];
            return t;
        }
    }
    return NULL;
}

static bool shape_equals(const rg_st_tensor *t, int ndim, const int64_t *shape)
{
    if (t->ndim != ndim)
        return false;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != shape[i])
            return false;
    return true;
}

static bool missing(const rg_weights *w, const char *name, rg_error *err)
{
    const char *where = w->n_shards == 1 ? w->shards[0].path : w->path;
    return rg_error_set(err, RG_ERR_VALUE, where, 0, 0, "missing tensor '%s%s'", w->prefix,
                        name);
}

bool rg_weights_read(const rg_weights *w, const char *name, int ndim, const int64_t *shape,
                     float *out, rg_error *err)
{
    const rg_st_file *file;
    const rg_st_tensor *t = rg_weights_find(w, name, &file);
    if (!t)
        return missing(w, name, err);
    if (!shape_equals(t, ndim, shape)) {
        char have[128], want[128];
        rg_st_format_shape(t->shape, t->ndim, have, sizeof have);
        rg_st_format_shape(shape, ndim, want, sizeof want);
        return rg_error_set(err, RG_ERR_VALUE, file->path, 0, 0,
                            "tensor '%s' has shape %s, expected %s (config.json and weights "
                            "disagree?)",
                            t->name, have, want);
    }
    return rg_st_read_f32(file, t, out, err);
}

static int64_t numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    return n;
}

/* W[o, ...] = g[o] * v[o, ...] / ||v[o, ...]||. A zero row of v gives a zero
 * row of W (PyTorch would produce NaN; a zero filter is the intent). */
static void fold_weight_norm(const float *g, float *v, int64_t rows, int64_t row_len)
{
    for (int64_t o = 0; o < rows; o++) {
        float *row = v + o * row_len;
        double sum = 0;
        for (int64_t i = 0; i < row_len; i++)
            sum += (double)row[i] * row[i];
        double scale = sum > 0 ? g[o] / sqrt(sum) : 0;
        for (int64_t i = 0; i < row_len; i++)
            row[i] = (float)(row[i] * scale);
    }
}

bool rg_weights_read_normed(const rg_weights *w, const char *module, int ndim,
                            const int64_t *shape, float *out, rg_error *err)
{
    static const char *spellings[][2] = {
        {"weight_g", "weight_v"},
        {"parametrizations.weight.original0", "parametrizations.weight.original1"},
    };
    char g_name[512], v_name[512];
    for (size_t s = 0; s < 2; s++) {
        snprintf(g_name, sizeof g_name, "%s.%s", module, spellings[s][0]);
        snprintf(v_name, sizeof v_name, "%s.%s", module, spellings[s][1]);
        if (!rg_weights_find(w, v_name, NULL))
            continue;
        int64_t g_shape[RG_ST_MAX_DIMS] = {shape[0]};
        for (int i = 1; i < ndim; i++)
            g_shape[i] = 1;
        float *g = malloc((size_t)shape[0] * sizeof *g);
        if (!g)
            return rg_error_set(err, RG_ERR_INTERNAL, w->path, 0, 0, "out of memory");
        bool ok = rg_weights_read(w, g_name, ndim, g_shape, g, err) &&
                  rg_weights_read(w, v_name, ndim, shape, out, err);
        if (ok)
            fold_weight_norm(g, out, shape[0], numel(ndim, shape) / shape[0]);
        free(g);
        return ok;
    }
    snprintf(g_name, sizeof g_name, "%s.weight", module);
    if (rg_weights_find(w, g_name, NULL))
        return rg_weights_read(w, g_name, ndim, shape, out, err);
    snprintf(v_name, sizeof v_name, "%s.weight_v", module);
    return missing(w, v_name, err);
}

/* ---- config.json ---- */

static json_t *config_get(const rg_weights *w, const char *key)
{
    json_t *v = json_object_get(w->section, key);
    return json_is_null(v) ? NULL : v;
}

static bool wrong_type(const rg_weights *w, const char *key, const char *want, rg_error *err)
{
    return rg_error_set(err, RG_ERR_VALUE, w->config_path, 0, 0, "\"%s\" must be %s", key,
                        want);
}

bool rg_config_int(const rg_weights *w, const char *key, int def, int *out, rg_error *err)
{
    json_t *v = config_get(w, key);
    *out = def;
    if (!v)
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < -(1 << 30) ||
        json_integer_value(v) > (1 << 30))
        return wrong_type(w, key, "an integer", err);
    *out = (int)json_integer_value(v);
    return true;
}

bool rg_config_double(const rg_weights *w, const char *key, double def, double *out,
                      rg_error *err)
{
    json_t *v = config_get(w, key);
    *out = def;
    if (!v)
        return true;
    if (!json_is_number(v))
        return wrong_type(w, key, "a number", err);
    *out = json_number_value(v);
    return true;
}

bool rg_config_bool(const rg_weights *w, const char *key, bool def, bool *out, rg_error *err)
{
    json_t *v = config_get(w, key);
    *out = def;
    if (!v)
        return true;
    if (!json_is_boolean(v))
        return wrong_type(w, key, "true or false", err);
    *out = json_is_true(v);
    return true;
}

bool rg_config_string(const rg_weights *w, const char *key, const char *def, char *out,
                      size_t size, rg_error *err)
{
    json_t *v = config_get(w, key);
    snprintf(out, size, "%s", def);
    if (!v)
        return true;
    if (!json_is_string(v))
        return wrong_type(w, key, "a string", err);
    snprintf(out, size, "%s", json_string_value(v));
    return true;
}

static bool config_array(const rg_weights *w, const char *key, int max, int *count,
                         json_t **array, rg_error *err)
{
    *array = config_get(w, key);
    *count = 0;
    if (!*array)
        return true;
    if (!json_is_array(*array))
        return wrong_type(w, key, "an array", err);
    if (json_array_size(*array) > (size_t)max)
        return rg_error_set(err, RG_ERR_VALUE, w->config_path, 0, 0,
                            "\"%s\" has %zu entries, at most %d supported", key,
                            json_array_size(*array), max);
    *count = (int)json_array_size(*array);
    return true;
}

bool rg_config_code_list(const rg_weights *w, const char *key, int rows, int card, int *out,
                         int max, int *count, rg_error *err)
{
    if (!rg_config_int_array(w, key, out, max, count, err))
        return false;
    bool ok = *count == 0 || *count == rows;
    for (int i = 0; ok && i < *count; i++)
        ok = out[i] < card;
    if (ok)
        return true;
    return rg_error_set(err, RG_ERR_VALUE, w->config_path, 0, 0,
                        "\"%s\" must give each of the %d code rows a code in 0..%d", key, rows,
                        card - 1);
}

bool rg_config_int_array(const rg_weights *w, const char *key, int *out, int max, int *count,
                         rg_error *err)
{
    json_t *array;
    if (!config_array(w, key, max, count, &array, err))
        return false;
    for (int i = 0; i < *count; i++) {
        json_t *v = json_array_get(array, (size_t)i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1 << 20)
            return wrong_type(w, key, "an array of small non-negative integers", err);
        out[i] = (int)json_integer_value(v);
    }
    return true;
}

bool rg_config_double_array(const rg_weights *w, const char *key, double *out, int max,
                            int *count, rg_error *err)
{
    json_t *array;
    if (!config_array(w, key, max, count, &array, err))
        return false;
    for (int i = 0; i < *count; i++) {
        json_t *v = json_array_get(array, (size_t)i);
        if (!json_is_number(v))
            return wrong_type(w, key, "an array of numbers", err);
        out[i] = json_number_value(v);
    }
    return true;
}

bool rg_config_string_array(const rg_weights *w, const char *key, char *out, size_t item_size,
                            int max, int *count, rg_error *err)
{
    json_t *array;
    if (!config_array(w, key, max, count, &array, err))
        return false;
    for (int i = 0; i < *count; i++) {
        json_t *v = json_array_get(array, (size_t)i);
        if (!json_is_string(v) || strlen(json_string_value(v)) >= item_size)
            return wrong_type(w, key, "an array of short strings", err);
        snprintf(out + (size_t)i * item_size, item_size, "%s", json_string_value(v));
    }
    return true;
}
