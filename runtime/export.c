#include "runtime/export.h"

#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/audio_file.h"

bool rg_export_name_ok(const char *name)
{
    if (!name[0] || name[0] == '.' || strlen(name) > 128)
        return false;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.')
            return false;
    return true;
}

/* Whether `n` reads, directly or further up, from `source`. */
static bool depends_on(const rg_node *n, const rg_node *source, int depth)
{
    if (n == source)
        return true;
    if (depth > 64)
        return false;
    for (int p = 0; p < n->type->n_inputs; p++)
        for (int c = 0; c < n->n_in_cables[p]; c++)
            if (n->data_in[p] && depends_on(n->data_in[p][c].node, source, depth + 1))
                return true;
    return false;
}

static rg_data *audio_take_of(rg_engine *e, rg_node *n)
{
    for (int i = 0; i < rg_engine_node_count(e); i++) {
        rg_node *m = rg_engine_node(e, rg_engine_schedule_at(e, i));
        rg_data *d = rg_node_published(m, 0);
        if (d && d->kind == RG_DATA_AUDIO && depends_on(m, n, 0))
            return d;
        rg_data_unref(d);
    }
    return NULL;
}

/* DIR/BASE.wav, or DIR/BASE-2.wav ... the first that does not exist yet. */
static bool free_path(const char *dir, const char *base, char *path, size_t size)
{
    for (int k = 1; k < 1000; k++) {
        if (k == 1)
            snprintf(path, size, "%s/%s.wav", dir, base);
        else
            snprintf(path, size, "%s/%s-%d.wav", dir, base, k);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd >= 0) {
            close(fd);
            return true;
        }
    }
    return false;
}

static bool write_take(const rg_data *d, const char *dir, const char *base, char *path, size_t size,
                       rg_error *err)
{
    if (!free_path(dir, base, path, size))
        return rg_error_set(err, RG_ERR_IO, dir, 0, 0, "cannot create a file for '%s' here", base);
    const rg_audio_take *t = d->payload;
    rg_audio_writer *w = rg_writer_open(path, t->channels, (int)t->rate, RG_SAMPLE_FLOAT, err);
    bool ok = w && rg_writer_write(w, t->samples, t->frames, err);
    ok = rg_writer_close(w, ok ? err : NULL) && ok;
    if (!ok)
        unlink(path);
    return ok;
}

bool rg_export_take(rg_engine *e, const char *node, const char *dir, const char *name, char *path,
                    size_t path_size, rg_error *err)
{
    if (!rg_export_name_ok(name))
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0,
                            "'%s' is not a plain file name (letters, digits, _ - . only)", name);
    int idx = rg_engine_find_node(e, node);
    if (idx < 0)
        return rg_error_set(err, RG_ERR_UNKNOWN_NODE, NULL, 0, 0, "no node called '%s'", node);
    rg_data *d = audio_take_of(e, rg_engine_node(e, idx));
    if (!d)
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0, "'%s' has no take with audio yet", node);
    bool ok = write_take(d, dir, name, path, path_size, err);
    rg_data_unref(d);
    return ok;
}

/* Files a stems export has written so far, removed again if a later one fails. */
typedef struct {
    char (*paths)[PATH_MAX];
    int n;
} written_files;

static bool write_stems(rg_engine *e, const char *dir, const char *name, written_files *w,
                        rg_error *err)
{
    for (int i = 0; i < rg_engine_node_count(e); i++) {
        rg_node *n = rg_engine_node(e, i);
        rg_data *d = rg_node_published(n, 0);
        bool ok = true;
        if (d && d->kind == RG_DATA_AUDIO) {
            char base[256];
            snprintf(base, sizeof base, "%s-%s", name, n->name);
            ok = write_take(d, dir, base, w->paths[w->n], PATH_MAX, err);
            w->n += ok;
        }
        rg_data_unref(d);
        if (!ok)
            return false;
    }
    return true;
}

bool rg_export_stems(rg_engine *e, const char *dir, const char *name,
                     void (*on_file)(void *user, const char *path), void *user, int *count,
                     rg_error *err)
{
    *count = 0;
    if (!rg_export_name_ok(name))
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0,
                            "'%s' is not a plain file name (letters, digits, _ - . only)", name);
    written_files w = {calloc((size_t)rg_engine_node_count(e) + 1, sizeof *w.paths), 0};
    if (!w.paths)
        return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    bool ok = write_stems(e, dir, name, &w, err);
    if (ok && w.n == 0)
        ok = rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0,
                          "nothing to export: no node has an audio take yet");
    for (int i = 0; i < w.n; i++) {
        if (!ok)
            unlink(w.paths[i]);
        else if (on_file)
            on_file(user, w.paths[i]);
    }
    *count = ok ? w.n : 0;
    free(w.paths);
    return ok;
}
