/* A registry for graph tests: the built-in nodes plus stand-ins (t_text, t_gen, t_dec, t_clock) with the
 * token, cond and grid ports that model nodes will have, so type checking
 * is tested before those nodes exist. The stand-ins never run. */
#ifndef TESTS_FAKE_NODES_H
#define TESTS_FAKE_NODES_H

#include "graph/registry.h"

const rg_registry *fake_registry(void);

#endif
