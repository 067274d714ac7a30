/* A patch running in an engine, for tests of the generation domain: parse
 * it, build the engine (48 kHz, 64-frame blocks, paths relative to
 * `base_dir`), run a generation pass, look at what a node published.
 * Header-only: each test program is one file. */
#ifndef RG_TEST_PATCH_RIG_H
#define RG_TEST_PATCH_RIG_H

#include <string.h>

#include "graph/patch.h"
#include "nodes/registry.h"
#include "runtime/generate.h"

typedef struct {
    rg_graph *g;
    rg_engine *e;
} patch_rig;

static inline bool rig_start(patch_rig *r, const char *text, const char *base_dir, rg_error *err)
{
    r->e = NULL;
    r->g = rg_patch_parse(rg_builtin_registry(), text, strlen(text), "test.rpatch", err);
    if (!r->g)
        return false;
    rg_host_info host = {.sample_rate = 48000, .max_block = 64, .base_dir = base_dir};
    r->e = rg_engine_new(r->g, &host, err);
    return r->e != NULL;
}

static inline void rig_stop(patch_rig *r)
{
    rg_engine_free(r->e);
    rg_graph_free(r->g);
}

/* One generation pass at the patch's transport. */
static inline bool rig_generate(patch_rig *r, rg_error *err)
{
    rg_job job = {.transport = rg_engine_transport(r->e)};
    return rg_engine_generate(r->e, &job, NULL, err);
}

/* What `node` published on its first output (referenced), or NULL. */
static inline rg_data *rig_published(patch_rig *r, const char *node)
{
    return rg_node_published(rg_engine_node(r->e, rg_engine_find_node(r->e, node)), 0);
}

#endif
