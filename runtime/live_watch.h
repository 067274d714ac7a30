/* Watch mode: re-read the patch file when it is saved and play the
 * difference from the next bar.
 *
 * inotify watches the file's directory, not the file: editors save by
 * writing a new file and renaming it over the old one, which a watch on the
 * old inode would never see. Only finished writes count (IN_CLOSE_WRITE,
 * IN_MOVED_TO), so a half-written file is not parsed. */
#ifndef RG_LIVE_WATCH_H
#define RG_LIVE_WATCH_H

#include "runtime/live.h"

typedef struct rg_watch rg_watch;

rg_watch *rg_watch_new(const char *path, rg_error *err);
void rg_watch_free(rg_watch *w);

/* The inotify descriptor, for poll(). */
int rg_watch_fd(const rg_watch *w);

/* Whether the file was saved since the last call. Never blocks. */
bool rg_watch_changed(rg_watch *w);

typedef enum {
    RG_RELOAD_APPLIED,   /* the new patch plays from the next bar */
    RG_RELOAD_UNCHANGED, /* same graph as playing: nothing to do */
    RG_RELOAD_FAILED,    /* parse or build error in `err`: the old patch keeps playing */
} rg_reload_result;

/* Parse `path` and hand the difference to the live engine at the next bar. */
rg_reload_result rg_live_reload(rg_live *lv, const char *path, rg_error *err);

#endif
