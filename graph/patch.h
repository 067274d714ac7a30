/* .rpatch files: the text form of a graph (DESIGN.md section 3).
 *
 * Statements, one per line, `#` to the end of a line is a comment:
 *   tempo 124
 *   meter 4/4
 *   node NAME TYPE [param=value ...]
 *   NODE.PORT -> NODE.PORT
 *   set NODE.PARAM VALUE
 * Nodes may be used before the line that declares them. Errors carry
 * file:line:col (columns count characters, from 1). Parsing either returns a
 * complete, checked graph or NULL and an error: never a half-loaded patch. */
#ifndef RG_PATCH_H
#define RG_PATCH_H

#include <stddef.h>

#include "graph/graph.h"

/* Parse `len` bytes of patch text; `file` names it in errors. */
rg_graph *rg_patch_parse(const rg_registry *reg, const char *text, size_t len, const char *file,
                         rg_error *err);

/* Read and parse a patch file. */
rg_graph *rg_patch_load(const rg_registry *reg, const char *path, rg_error *err);

/* The canonical text of a graph: tempo, meter, nodes in order with their
 * explicitly set parameters in declaration order, then cables in order.
 * Parsing it gives an equal graph. Caller frees. NULL only when out of memory. */
char *rg_patch_write(const rg_graph *g);

/* Write the canonical text to `path` atomically (temp file + rename), so a
 * crash mid-save never destroys the previous file. */
bool rg_patch_save(const rg_graph *g, const char *path, rg_error *err);

#endif
