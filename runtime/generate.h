/* The generation domain's scheduler: brings every node with a generate()
 * callback up to date, sources first, so a new prompt flows through the
 * conditioner, the generators that hear it, their decoders and
 * synchronizers in one pass. The render runs it once before the audio
 * starts; the live engine runs it on its worker thread. */
#ifndef RG_GENERATE_H
#define RG_GENERATE_H

#include "runtime/engine.h"

/* Run generate() on every node whose input values or parameters changed
 * since its last run, or that was asked for a new take (node->regen), in
 * schedule order. A node whose `lock` parameter is true keeps its take
 * unless asked directly. `*ran` counts the nodes that made a take. A node
 * that fails keeps its previous take and is not retried until something it
 * depends on changes or a new take is asked for; the other nodes still run,
 * and `err` names the first node that failed. A cancelled node that was
 * asked for a new take is still asked after the pass.
 *
 * Streaming: while a node runs, each progress report it makes also lets the
 * nodes reading it that have a `stream` callback catch up with its growing
 * take, on this thread, and they are called once more when it returns
 * (docs/takes.md, "Growing takes"). For that the pass puts its own progress
 * callback in `job` and restores the caller's (which still sees every
 * report, with job->user as it was) before returning. */
bool rg_engine_generate(rg_engine *e, rg_job *job, int *ran, rg_error *err);

/* Ask `node` for a new take at the next pass, even if it is locked. The
 * nodes that depend on it follow because their input changes; locked ones
 * keep their takes. */
bool rg_engine_request_regen(rg_engine *e, const char *node, rg_error *err);

/* Whether any node would run. */
bool rg_engine_generation_pending(rg_engine *e);

#endif
