#include "runtime/live_watch.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "graph/patch.h"

struct rg_watch {
    int fd;
    char name[NAME_MAX + 1]; /* the file's name in its directory */
};

rg_watch *rg_watch_new(const char *path, rg_error *err)
{
    rg_watch *w = calloc(1, sizeof *w);
    char dir_buf[PATH_MAX], base_buf[PATH_MAX];
    snprintf(dir_buf, sizeof dir_buf, "%s", path);
    snprintf(base_buf, sizeof base_buf, "%s", path);
    if (!w) {
        rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
        return NULL;
    }
    snprintf(w->name, sizeof w->name, "%s", basename(base_buf));
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd < 0 || inotify_add_watch(w->fd, dirname(dir_buf), IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
        rg_error_set(err, RG_ERR_IO, NULL, 0, 0, "cannot watch '%s': %s", path, strerror(errno));
        rg_watch_free(w);
        return NULL;
    }
    return w;
}

void rg_watch_free(rg_watch *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    free(w);
}

int rg_watch_fd(const rg_watch *w) { return w->fd; }

bool rg_watch_changed(rg_watch *w)
{
    bool changed = false;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;
    while ((n = read(w->fd, buf, sizeof buf)) > 0) {
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            if (ev->len && strcmp(ev->name, w->name) == 0)
                changed = true;
            p += sizeof *ev + ev->len;
        }
    }
    return changed;
}

rg_reload_result rg_live_reload(rg_live *lv, const char *path, rg_error *err)
{
    rg_graph *g = rg_patch_load(rg_builtin_registry(), path, err);
    if (!g)
        return RG_RELOAD_FAILED;
    if (rg_graph_equal(g, rg_live_graph(lv))) {
        rg_graph_free(g);
        return RG_RELOAD_UNCHANGED;
    }
    return rg_live_apply(lv, g, RG_LIVE_NEXT_BAR, err) ? RG_RELOAD_APPLIED : RG_RELOAD_FAILED;
}
