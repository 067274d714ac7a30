#include "runtime/engine.h"
#include "runtime/history.h"

#include <stdlib.h>
#include <string.h>

struct rg_engine {
    rg_node *nodes;   /* patch order */
    int n_nodes;
    int *schedule;    /* node indices, sources before what they feed */
    rg_value *param_store;
    int n_values;
    rg_transport transport;
    int max_block;
    bool *started;    /* init ran, so destroy must run */
    /* State borrowed from or handed to another engine (a live edit): this
     * engine must neither destroy nor free it. */
    bool *lent;
    int *carried_from; /* live edits: index of the node in the previous engine, or -1 */
    int *renewed_from; /* live edits: same name and type but restarted: its takes, or -1 */
};

static bool alloc_audio(rg_audio *a, int channels, int frames)
{
    a->channels = channels;
    for (int c = 0; c < channels; c++)
        if (!(a->ch[c] = calloc(frames, sizeof(float))))
            return false;
    return true;
}

static void free_audio(rg_audio *a)
{
    for (int c = 0; c < a->channels; c++)
        free(a->ch[c]);
    memset(a, 0, sizeof *a);
}

/* Point every input at the outputs feeding it, in patch order: audio
 * inputs at the source's block buffer, and every input (audio ones too,
 * which may carry whole takes) at the source's published values. */
static bool wire_inputs(rg_engine *e, const rg_graph *g)
{
    for (int i = 0; i < g->n_edges; i++) {
        const rg_edge *edge = &g->edges[i];
        rg_node *dst = &e->nodes[edge->dst_node];
        int port = edge->dst_port, n = dst->n_in_cables[port];
        int max = dst->type->inputs[port].max_cables;
        if (!dst->data_in[port] && !(dst->data_in[port] = calloc(max > 0 ? max : 1, sizeof(rg_data_source))))
            return false;
        dst->data_in[port][n] = (rg_data_source){&e->nodes[edge->src_node], edge->src_port};
        if (dst->type->inputs[port].type == RG_PORT_AUDIO) {
            const rg_audio **cables = dst->in[port];
            if (!cables && !(cables = calloc(max > 0 ? max : 1, sizeof *cables)))
                return false;
            dst->in[port] = cables;
            cables[n] = &e->nodes[edge->src_node].out[edge->src_port];
        }
        dst->n_in_cables[port] = n + 1;
    }
    return true;
}

static bool copy_params(rg_engine *e, const rg_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++)
        e->n_values += g->nodes[i].type->n_params;
    e->param_store = calloc(e->n_values ? e->n_values : 1, sizeof *e->param_store);
    if (!e->param_store)
        return false;
    rg_value *next = e->param_store;
    for (int i = 0; i < g->n_nodes; i++) {
        const rg_graph_node *gn = &g->nodes[i];
        e->nodes[i].params = next;
        for (int p = 0; p < gn->type->n_params; p++, next++) {
            next->num = gn->params[p].num;
            if (gn->params[p].str && !(next->str = strdup(gn->params[p].str)))
                return false;
        }
    }
    return true;
}

static bool make_node(rg_engine *e, const rg_graph *g, int i, rg_error *err)
{
    const rg_graph_node *gn = &g->nodes[i];
    rg_node *n = &e->nodes[i];
    n->type = gn->type;
    n->name = strdup(gn->name);
    if (!n->name)
        return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    for (int p = 0; p < n->type->n_outputs; p++) {
        const rg_port_def *port = &n->type->outputs[p];
        if (port->type == RG_PORT_AUDIO && !alloc_audio(&n->out[p], port->channels, e->max_block))
            return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    }
    if (n->type->sink_channels && !alloc_audio(&n->sink, n->type->sink_channels, e->max_block))
        return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    if (e->carried_from[i] >= 0)
        return true; /* the state comes from the previous engine, already running */
    if (n->type->state_size && !(n->state = calloc(1, n->type->state_size)))
        return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    return true;
}

static bool start_nodes(rg_engine *e, const rg_graph *g, const rg_host_info *host, rg_error *err)
{
    for (int i = 0; i < e->n_nodes; i++) {
        rg_node *n = &e->nodes[i];
        if (!n->type->init || e->carried_from[i] >= 0)
            continue;
        rg_error node_err = {0};
        e->started[i] = true; /* destroy cleans up after a failed init too */
        if (!n->type->init(n, host, &node_err)) {
            /* Point the error at the node's line so the musician finds it. */
            const rg_graph_node *gn = &g->nodes[i];
            return rg_error_set(err, node_err.code ? node_err.code : RG_ERR_NODE_INIT,
                                g->file, gn->loc.line, gn->loc.col, "node '%s' (%s): %s",
                                n->name, n->type->name, node_err.message);
        }
    }
    return true;
}

/* Which node of `prev_graph` (if any) the node `gn` can take the running
 * state of: same name, same type, and the same values of the parameters
 * its state was made from (rg_param_def.restarts: a file name, a model, a
 * seed). Any other change keeps the state: process() reads the new value at
 * the next block, generate() at the next take. */
static int carry_source(const rg_graph_node *gn, const rg_graph *prev_graph)
{
    if (!prev_graph)
        return -1;
    int k = rg_graph_find_node(prev_graph, gn->name);
    if (k < 0 || prev_graph->nodes[k].type != gn->type)
        return -1;
    for (int p = 0; p < gn->type->n_params; p++) {
        const rg_param_def *def = &gn->type->params[p];
        if (def->restarts &&
            !rg_value_equal(def, &gn->params[p], &prev_graph->nodes[k].params[p]))
            return -1;
    }
    return k;
}

static rg_engine *engine_alloc(const rg_graph *g, const rg_host_info *host)
{
    rg_engine *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    int n = g->n_nodes ? g->n_nodes : 1;
    e->n_nodes = g->n_nodes;
    e->max_block = host->max_block;
    e->nodes = calloc(n, sizeof *e->nodes);
    e->schedule = calloc(n, sizeof *e->schedule);
    e->started = calloc(n, sizeof *e->started);
    e->lent = calloc(n, sizeof *e->lent);
    e->carried_from = calloc(n, sizeof *e->carried_from);
    e->renewed_from = calloc(n, sizeof *e->renewed_from);
    e->transport = (rg_transport){.sample_rate = host->sample_rate, .tempo = g->tempo,
                                  .meter_num = g->meter_num, .meter_den = g->meter_den,
                                  .playing = true};
    if (!e->nodes || !e->schedule || !e->started || !e->lent || !e->carried_from || !e->renewed_from) {
        rg_engine_free(e);
        return NULL;
    }
    return e;
}

/* Borrow the states of carried nodes: until the build succeeds they still
 * belong to `prev`, so a failed build must not free them. */
static void borrow_states(rg_engine *e, const rg_graph *g, rg_engine *prev,
                          const rg_graph *prev_graph)
{
    for (int i = 0; i < g->n_nodes; i++) {
        int k = prev ? carry_source(&g->nodes[i], prev_graph) : -1;
        int same = rg_graph_find_node(prev_graph, g->nodes[i].name);
        if (k < 0 && same >= 0 && prev_graph->nodes[same].type == g->nodes[i].type)
            e->renewed_from[i] = same;
        e->carried_from[i] = k;
        if (k >= 0) {
            e->nodes[i].state = prev->nodes[k].state;
            e->lent[i] = true;
        }
    }
}

/* Whether the values generate() reads differ (a new prompt, a float set in a
 * patch load): it must then run again. `lock` is not one of them: it says
 * whether to keep the take, so toggling it must not remake it. */
static bool params_differ(const rg_node *a, const rg_node *b)
{
    for (int p = 0; p < a->type->n_params; p++)
        if (strcmp(a->type->params[p].name, "lock") != 0 &&
            !rg_value_equal(&a->type->params[p], &a->params[p], &b->params[p]))
            return true;
    return false;
}

/* A node keeps its place in the generation domain across an edit: what it
 * was generated from, whether a take was asked for, and a new parameter
 * version when what it generates from changed. */
static void carry_generation(rg_node *to, const rg_node *from)
{
    to->generated_from = from->generated_from;
    atomic_store(&to->param_version, atomic_load(&from->param_version) + params_differ(to, from));
    atomic_store(&to->regen, atomic_load(&from->regen));
}

/* Takes survive live edits: what a node published stays published, so what
 * reads it keeps playing while a new take is made. Off the audio thread,
 * which never reads data_out; the caller keeps generate() from running. */
static void move_takes(rg_node *to, rg_node *from)
{
    for (int p = 0; p < RG_MAX_PORTS; p++)
        atomic_store(&to->data_out[p], atomic_exchange(&from->data_out[p], NULL));
    /* The take history goes with the takes. */
    for (int i = 0; i < from->history_len; i++)
        to->history[i] = from->history[i];
    to->history_len = from->history_len;
    to->history_pos = from->history_pos;
    from->history_len = from->history_pos = 0;
}

/* The build succeeded: the carried states now belong to `e`. `prev` keeps
 * running them until the swap and must not destroy them afterwards. */
static void take_states(rg_engine *e, rg_engine *prev)
{
    for (int i = 0; i < e->n_nodes; i++) {
        rg_node *n = &e->nodes[i];
        if (e->renewed_from[i] >= 0) {
            /* Restarted (a parameter its state was made from changed): its
             * old takes play on, and a locked node keeps its take. */
            move_takes(n, &prev->nodes[e->renewed_from[i]]);
            carry_generation(n, &prev->nodes[e->renewed_from[i]]);
        }
        int k = e->carried_from[i];
        if (k < 0)
            continue;
        rg_node *old = &prev->nodes[k];
        e->lent[i] = false;
        e->started[i] = prev->started[k];
        move_takes(n, old);
        carry_generation(n, old);
        prev->lent[k] = true;
        prev->started[k] = false;
    }
}

rg_engine *rg_engine_new_carry(const rg_graph *g, const rg_host_info *host, rg_engine *prev,
                               const rg_graph *prev_graph, rg_error *err)
{
    rg_engine *e = engine_alloc(g, host);
    if (!e) {
        rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
        return NULL;
    }
    for (int i = 0; i < g->n_nodes; i++)
        e->carried_from[i] = e->renewed_from[i] = -1;
    if (prev && prev->max_block >= host->max_block)
        borrow_states(e, g, prev, prev_graph);
    bool ok = rg_graph_schedule(g, e->schedule, err);
    for (int i = 0; ok && i < g->n_nodes; i++)
        ok = make_node(e, g, i, err);
    if (ok && (!copy_params(e, g) || !wire_inputs(e, g)))
        ok = rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    ok = ok && start_nodes(e, g, host, err);
    if (!ok) {
        rg_engine_free(e);
        return NULL;
    }
    if (prev)
        take_states(e, prev);
    return e;
}

rg_engine *rg_engine_new(const rg_graph *g, const rg_host_info *host, rg_error *err)
{
    return rg_engine_new_carry(g, host, NULL, NULL, err);
}

bool rg_engine_node_carried(const rg_engine *e, int index)
{
    return e->carried_from[index] >= 0;
}

void rg_engine_free(rg_engine *e)
{
    if (!e)
        return;
    for (int i = 0; e->nodes && i < e->n_nodes; i++) {
        rg_node *n = &e->nodes[i];
        bool lent = e->lent && e->lent[i];
        if (!lent && e->started && e->started[i] && n->type->destroy)
            n->type->destroy(n);
        for (int p = 0; p < RG_MAX_PORTS; p++) {
            free_audio(&n->out[p]);
            free((void *)n->in[p]);
            free(n->data_in[p]);
            rg_data_unref(atomic_exchange(&n->data_out[p], NULL));
        }
        rg_history_clear(n);
        free_audio(&n->sink);
        if (!lent)
            free(n->state);
        free((void *)n->name);
    }
    for (int i = 0; e->param_store && i < e->n_values; i++)
        rg_value_clear(&e->param_store[i]);
    free(e->param_store);
    free(e->nodes);
    free(e->schedule);
    free(e->started);
    free(e->lent);
    free(e->carried_from);
    free(e->renewed_from);
    free(e);
}

void rg_engine_process(rg_engine *e, int frames)
{
    if (frames > e->max_block)
        frames = e->max_block;
    rg_process_ctx ctx = {.frames = frames, .transport = &e->transport};
    for (int i = 0; i < e->n_nodes; i++) {
        rg_node *n = &e->nodes[e->schedule[i]];
        n->type->process(n, &ctx);
    }
    if (e->transport.playing) {
        e->transport.position += (uint64_t)frames;
        e->transport.beat += frames * rg_transport_beats_per_frame(&e->transport);
    }
}

void rg_engine_housekeep(rg_engine *e)
{
    for (int i = 0; i < e->n_nodes; i++)
        if (e->nodes[i].type->housekeep)
            e->nodes[i].type->housekeep(&e->nodes[i]);
}

rg_transport *rg_engine_transport(rg_engine *e) { return &e->transport; }
int rg_engine_node_count(const rg_engine *e) { return e->n_nodes; }
rg_node *rg_engine_node(rg_engine *e, int index) { return &e->nodes[index]; }

int rg_engine_find_type(const rg_engine *e, const char *type_name)
{
    for (int i = 0; i < e->n_nodes; i++)
        if (strcmp(e->nodes[i].type->name, type_name) == 0)
            return i;
    return -1;
}

int rg_engine_find_node(const rg_engine *e, const char *name)
{
    for (int i = 0; i < e->n_nodes; i++)
        if (strcmp(e->nodes[i].name, name) == 0)
            return i;
    return -1;
}

int rg_engine_schedule_at(const rg_engine *e, int i)
{
    return e->schedule[i];
}
