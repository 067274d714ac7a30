/* The engine: a graph instantiated into running nodes, a schedule and the
 * buffers between them, driven one block at a time by the render loop or
 * (live) by the JACK process callback. */
#ifndef RG_ENGINE_H
#define RG_ENGINE_H

#include "graph/graph.h"

typedef struct rg_engine rg_engine;

/* Start every node of `g` (their init may load files) and plan the buffers.
 * Off the audio thread. On error nothing is left running. */
rg_engine *rg_engine_new(const rg_graph *g, const rg_host_info *host, rg_error *err);
void rg_engine_free(rg_engine *e);

/* A live edit: build an engine for `g` that takes over the running state of
 * every node of `prev` (built from `prev_graph`) that keeps its name and type
 * and the values of the parameters its state was made from
 * (rg_param_def.restarts); those nodes are not
 * initialised again and go on (phase, envelopes, recordings) where `prev`
 * leaves off. The rest start fresh. Off the audio thread; `prev` may be
 * running meanwhile. On success `prev` no longer owns the carried states:
 * freeing it after the swap leaves them alone. On error `prev` is untouched. */
rg_engine *rg_engine_new_carry(const rg_graph *g, const rg_host_info *host, rg_engine *prev,
                               const rg_graph *prev_graph, rg_error *err);
/* Whether node `index` took its state from the previous engine. */
bool rg_engine_node_carried(const rg_engine *e, int index);

/* Run one block of `frames` (at most host->max_block). Audio thread safe:
 * no allocation, locks or I/O. */
void rg_engine_process(rg_engine *e, int frames);

/* Work that nodes do off the audio thread (flushing recordings). */
void rg_engine_housekeep(rg_engine *e);

rg_transport *rg_engine_transport(rg_engine *e);

/* Running nodes, in patch order. */
int rg_engine_node_count(const rg_engine *e);
rg_node *rg_engine_node(rg_engine *e, int index);
/* Index of the first node of the given type (e.g. "output"), or -1. */
int rg_engine_find_type(const rg_engine *e, const char *type_name);
int rg_engine_find_node(const rg_engine *e, const char *name);
/* The node run `i`-th in a block (sources before what they feed). */
int rg_engine_schedule_at(const rg_engine *e, int i);

#endif
