/* A patch as data: nodes with parameters, cables between typed ports, the
 * tempo and meter. Every edit checks itself and either applies completely or
 * changes nothing and says why, so a bad patch or a bad OSC command never
 * leaves a half-made graph behind. */
#ifndef RG_GRAPH_H
#define RG_GRAPH_H

#include "graph/error.h"
#include "graph/registry.h"

/* Where something was written in a patch file; {0,0} when it came from
 * elsewhere (an OSC command). */
typedef struct {
    int line, col;
} rg_loc;

typedef struct {
    char *name;
    const rg_node_type *type;
    rg_value *params;  /* one per parameter of the type, defaults until set */
    bool *param_set;   /* set explicitly: the writer writes only these */
    rg_loc loc;
} rg_graph_node;

typedef struct {
    int src_node, src_port; /* an output */
    int dst_node, dst_port; /* an input */
    rg_loc loc;
} rg_edge;

typedef struct {
    const rg_registry *registry;
    char *file;         /* patch file name for error messages, may be NULL */
    double tempo;       /* quarter notes per minute */
    int meter_num, meter_den;
    rg_graph_node *nodes;
    int n_nodes, cap_nodes;
    rg_edge *edges;     /* in patch order: a multi-cable input sums in this order */
    int n_edges, cap_edges;
} rg_graph;

#define RG_TEMPO_MIN 20.0
#define RG_TEMPO_MAX 999.0

/* A value as written: the parser and the OSC server both produce these. */
typedef enum { RG_LIT_INT, RG_LIT_FLOAT, RG_LIT_BOOL, RG_LIT_WORD, RG_LIT_STRING } rg_literal_kind;
typedef struct {
    rg_literal_kind kind;
    double num;        /* INT, FLOAT, BOOL */
    const char *text;  /* WORD, STRING */
} rg_literal;

rg_graph *rg_graph_new(const rg_registry *reg, const char *file);
void rg_graph_free(rg_graph *g);

/* Index of the node called `name`, or -1. */
int rg_graph_find_node(const rg_graph *g, const char *name);

/* Locations of the parts of a statement, for errors; any may be NULL/zero. */
typedef struct {
    rg_loc name, type;
} rg_node_locs;
typedef struct {
    rg_loc src_node, src_port, dst_node, dst_port;
} rg_edge_locs;
typedef struct {
    rg_loc node, param, value;
} rg_set_locs;

bool rg_graph_add_node(rg_graph *g, const char *name, const char *type_name,
                       const rg_node_locs *locs, rg_error *err);
bool rg_graph_remove_node(rg_graph *g, const char *name, rg_error *err);
bool rg_graph_connect(rg_graph *g, const char *src_node, const char *src_port,
                      const char *dst_node, const char *dst_port,
                      const rg_edge_locs *locs, rg_error *err);
bool rg_graph_disconnect(rg_graph *g, const char *src_node, const char *src_port,
                         const char *dst_node, const char *dst_port, rg_error *err);
bool rg_graph_set_param(rg_graph *g, const char *node, const char *param,
                        const rg_literal *value, const rg_set_locs *locs, rg_error *err);
bool rg_graph_set_tempo(rg_graph *g, double bpm, rg_loc loc, rg_error *err);
bool rg_graph_set_meter(rg_graph *g, int num, int den, rg_loc loc, rg_error *err);

/* Convert a literal to a parameter value, checking type and range. On failure
 * writes the reason into `why` and leaves `out` untouched. */
bool rg_value_from_literal(const rg_param_def *def, const rg_literal *lit, rg_value *out,
                           char *why, int why_size);
void rg_value_default(const rg_param_def *def, rg_value *out);
bool rg_value_equal(const rg_param_def *def, const rg_value *a, const rg_value *b);
void rg_value_clear(rg_value *v);

/* Nodes in an order where every node comes after the nodes feeding it; ties
 * keep patch order, so the schedule is stable across edits. `order` holds
 * n_nodes entries. Fails (RG_ERR_CYCLE, naming the cycle) only on a cycle. */
bool rg_graph_schedule(const rg_graph *g, int *order, rg_error *err);

/* Same tempo, meter, nodes (names, types, explicitly set parameters) and
 * cables in the same order. Locations do not count. */
bool rg_graph_equal(const rg_graph *a, const rg_graph *b);

/* Deep copy, for editing a patch while the original keeps playing. */
rg_graph *rg_graph_clone(const rg_graph *g);

/* Bars to frames, exactly rounded (no drift over long renders). */
double rg_bar_frames(double tempo, int meter_num, int meter_den, double rate);

#endif
