/* Take history: every node that makes takes remembers its last N (its
 * `history` parameter, default 16) on output 0, with their prompt, seed and
 * tempo. Undo, redo and select republish an older take; what depends on it
 * follows by the usual generation pass (decoders and synchronizers are
 * deterministic, so an old take sounds bit-identical again). Generation
 * domain only: not for the audio thread. */
#ifndef RG_HISTORY_H
#define RG_HISTORY_H

#include "graph/node.h"

#define RG_HISTORY_DEFAULT 16

/* After a generate(): remember what output 0 now holds, if it is new. A new
 * take after an undo drops the takes that were undone, as editors do. */
void rg_history_record(rg_node *n);

bool rg_history_undo(rg_node *n, rg_error *err);
bool rg_history_redo(rg_node *n, rg_error *err);
/* Republish the take with this id. */
bool rg_history_select(rg_node *n, uint64_t id, rg_error *err);

/* Release every remembered take (node teardown). */
void rg_history_clear(rg_node *n);

#endif
