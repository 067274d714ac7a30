/* The table of node types a graph may use. The engine's table is built in
 * nodes/registry.c; tests build their own to exercise port types that no
 * built-in node has yet. */
#ifndef RG_REGISTRY_H
#define RG_REGISTRY_H

#include "graph/node.h"

typedef struct {
    const rg_node_type *const *types;
    int count;
} rg_registry;

/* The node types compiled into the engine. */
const rg_registry *rg_builtin_registry(void);

const rg_node_type *rg_registry_find(const rg_registry *reg, const char *name);

/* Nearest-name suggestions for "did you mean ...?": feed candidates, read best. */
typedef struct {
    const char *word;
    const char *best;
    int best_distance;
} rg_suggest;

void rg_suggest_init(rg_suggest *s, const char *word);
void rg_suggest_try(rg_suggest *s, const char *candidate);
/* The best candidate if it is close enough to be a plausible typo, else NULL. */
const char *rg_suggest_result(const rg_suggest *s);

/* " (did you mean 'x'?)" or "" — for appending to messages. */
void rg_suggest_phrase(const rg_suggest *s, char *buf, int size);

#endif
