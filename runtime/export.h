/* Writing takes out as audio files, for /take/export and /export: a
 * musician keeps what they liked. Files land only inside the given
 * directory and never overwrite: a name in use gets -2, -3, ... */
#ifndef RG_EXPORT_H
#define RG_EXPORT_H

#include <stddef.h>

#include "runtime/engine.h"

/* Write the audio of `node`'s current take to DIR/NAME.wav (float WAV at
 * the take's rate). A node whose take is not audio (a generator's tokens)
 * exports the audio take of the first node downstream that makes one from
 * it (its decoder or synchronizer). `path` receives the file written. */
bool rg_export_take(rg_engine *e, const char *node, const char *dir, const char *name, char *path,
                    size_t path_size, rg_error *err);

/* Export every node whose current take is audio, as DIR/NAME-NODE.wav, all
 * or nothing: when one file fails, the ones already written are removed.
 * On success `on_file` (may be NULL) hears each path and `*count` receives
 * the number of files; a song with no audio take yet is an error. */
bool rg_export_stems(rg_engine *e, const char *dir, const char *name,
                     void (*on_file)(void *user, const char *path), void *user, int *count,
                     rg_error *err);

/* Whether `name` is a plain file name: letters, digits, '_', '-', '.',
 * not starting with '.', so it cannot climb out of the export directory. */
bool rg_export_name_ok(const char *name);

#endif
