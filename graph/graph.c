#include "graph/graph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERR(code, loc, ...) rg_error_set(err, code, g->file, (loc).line, (loc).col, __VA_ARGS__)

static const rg_loc no_loc;

rg_graph *rg_graph_new(const rg_registry *reg, const char *file)
{
    rg_graph *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->registry = reg;
    g->file = file ? strdup(file) : NULL;
    g->tempo = 120.0;
    g->meter_num = 4;
    g->meter_den = 4;
    return g;
}

static void node_clear(rg_graph_node *n)
{
    for (int i = 0; i < n->type->n_params; i++)
        rg_value_clear(&n->params[i]);
    free(n->params);
    free(n->param_set);
    free(n->name);
}

void rg_graph_free(rg_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n_nodes; i++)
        node_clear(&g->nodes[i]);
    free(g->nodes);
    free(g->edges);
    free(g->file);
    free(g);
}

int rg_graph_find_node(const rg_graph *g, const char *name)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i].name, name) == 0)
            return i;
    return -1;
}

/* ---- values ---------------------------------------------------------- */

void rg_value_clear(rg_value *v)
{
    free(v->str);
    v->str = NULL;
    v->num = 0;
}

/* Index of `word` in a '|'-separated list, or -1. */
static int choice_index(const char *choices, const char *word)
{
    int index = 0;
    size_t len = strlen(word);
    for (const char *p = choices; *p; index++) {
        const char *end = strchr(p, '|');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == len && strncmp(p, word, n) == 0)
            return index;
        if (!end)
            break;
        p = end + 1;
    }
    return -1;
}

void rg_value_default(const rg_param_def *def, rg_value *out)
{
    out->num = def->def;
    out->str = NULL;
    if (def->type == RG_PARAM_STRING || def->type == RG_PARAM_ENUM) {
        out->str = strdup(def->def_str ? def->def_str : "");
        if (def->type == RG_PARAM_ENUM)
            out->num = choice_index(def->choices, out->str);
    }
}

static bool numeric_from_literal(const rg_param_def *def, const rg_literal *lit, double *out,
                                 char *why, int why_size)
{
    if (lit->kind != RG_LIT_INT && lit->kind != RG_LIT_FLOAT) {
        snprintf(why, why_size, "'%s' takes a number", def->name);
        return false;
    }
    if (def->type == RG_PARAM_INT && lit->kind != RG_LIT_INT) {
        snprintf(why, why_size, "'%s' takes a whole number, not %g", def->name, lit->num);
        return false;
    }
    if (!isfinite(lit->num) || lit->num < def->min || lit->num > def->max) {
        snprintf(why, why_size, "'%s' must be between %g and %g, not %g", def->name, def->min,
                 def->max, lit->num);
        return false;
    }
    *out = lit->num;
    return true;
}

bool rg_value_from_literal(const rg_param_def *def, const rg_literal *lit, rg_value *out,
                           char *why, int why_size)
{
    double num = 0;
    const char *text = NULL;
    switch (def->type) {
    case RG_PARAM_FLOAT:
    case RG_PARAM_INT:
        if (!numeric_from_literal(def, lit, &num, why, why_size))
            return false;
        break;
    case RG_PARAM_BOOL:
        if (lit->kind == RG_LIT_BOOL || (lit->kind == RG_LIT_INT && (lit->num == 0 || lit->num == 1))) {
            num = lit->num;
            break;
        }
        snprintf(why, why_size, "'%s' takes true or false", def->name);
        return false;
    case RG_PARAM_STRING:
        if (lit->kind != RG_LIT_WORD && lit->kind != RG_LIT_STRING) {
            snprintf(why, why_size, "'%s' takes text (a word or a \"quoted string\")", def->name);
            return false;
        }
        text = lit->text;
        break;
    case RG_PARAM_ENUM:
        if (lit->kind == RG_LIT_WORD || lit->kind == RG_LIT_STRING)
            num = choice_index(def->choices, lit->text);
        if (lit->kind != RG_LIT_WORD && lit->kind != RG_LIT_STRING) {
            snprintf(why, why_size, "'%s' takes one of %s", def->name, def->choices);
            return false;
        }
        if (num < 0) {
            snprintf(why, why_size, "'%s' takes one of %s, not '%s'", def->name, def->choices,
                     lit->text);
            return false;
        }
        text = lit->text;
        break;
    }
    char *copy = NULL;
    if (text && !(copy = strdup(text))) {
        snprintf(why, why_size, "out of memory");
        return false;
    }
    rg_value_clear(out);
    out->num = num;
    out->str = copy;
    return true;
}

bool rg_value_equal(const rg_param_def *def, const rg_value *a, const rg_value *b)
{
    if (def->type == RG_PARAM_STRING || def->type == RG_PARAM_ENUM)
        return strcmp(a->str ? a->str : "", b->str ? b->str : "") == 0;
    return a->num == b->num;
}

/* ---- nodes ----------------------------------------------------------- */

static bool grow(void **items, int *cap, int need, size_t size)
{
    if (need <= *cap)
        return true;
    int cap2 = *cap ? *cap * 2 : 8;
    while (cap2 < need)
        cap2 *= 2;
    void *p = realloc(*items, (size_t)cap2 * size);
    if (!p)
        return false;
    *items = p;
    *cap = cap2;
    return true;
}

static void suggest_type(const rg_registry *reg, const char *name, char *buf, int size)
{
    rg_suggest s;
    rg_suggest_init(&s, name);
    for (int i = 0; i < reg->count; i++)
        rg_suggest_try(&s, reg->types[i]->name);
    rg_suggest_phrase(&s, buf, size);
}

static bool init_node(rg_graph_node *n, const char *name, const rg_node_type *type, rg_loc loc)
{
    int np = type->n_params;
    n->name = strdup(name);
    n->type = type;
    n->params = calloc(np ? np : 1, sizeof *n->params);
    n->param_set = calloc(np ? np : 1, sizeof *n->param_set);
    n->loc = loc;
    if (!n->name || !n->params || !n->param_set) {
        free(n->name);
        free(n->params);
        free(n->param_set);
        return false;
    }
    for (int i = 0; i < np; i++)
        rg_value_default(&type->params[i], &n->params[i]);
    return true;
}

bool rg_graph_add_node(rg_graph *g, const char *name, const char *type_name,
                       const rg_node_locs *locs, rg_error *err)
{
    rg_node_locs none = {0};
    if (!locs)
        locs = &none;
    int existing = rg_graph_find_node(g, name);
    if (existing >= 0) {
        rg_loc prev = g->nodes[existing].loc;
        if (prev.line > 0)
            return ERR(RG_ERR_DUPLICATE, locs->name, "node '%s' is already declared at line %d",
                       name, prev.line);
        return ERR(RG_ERR_DUPLICATE, locs->name, "node '%s' already exists", name);
    }
    const rg_node_type *type = rg_registry_find(g->registry, type_name);
    if (!type) {
        char hint[96];
        suggest_type(g->registry, type_name, hint, sizeof hint);
        return ERR(RG_ERR_UNKNOWN_TYPE, locs->type, "unknown node type '%s'%s", type_name, hint);
    }
    if (!grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof *g->nodes) ||
        !init_node(&g->nodes[g->n_nodes], name, type, locs->name))
        return ERR(RG_ERR_INTERNAL, no_loc, "out of memory");
    g->n_nodes++;
    return true;
}

bool rg_graph_remove_node(rg_graph *g, const char *name, rg_error *err)
{
    int idx = rg_graph_find_node(g, name);
    if (idx < 0)
        return ERR(RG_ERR_UNKNOWN_NODE, no_loc, "no node called '%s'", name);
    int kept = 0;
    for (int i = 0; i < g->n_edges; i++) {
        rg_edge e = g->edges[i];
        if (e.src_node == idx || e.dst_node == idx)
            continue;
        e.src_node -= e.src_node > idx;
        e.dst_node -= e.dst_node > idx;
        g->edges[kept++] = e;
    }
    g->n_edges = kept;
    node_clear(&g->nodes[idx]);
    memmove(&g->nodes[idx], &g->nodes[idx + 1], (size_t)(g->n_nodes - idx - 1) * sizeof *g->nodes);
    g->n_nodes--;
    return true;
}

/* ---- cables ---------------------------------------------------------- */

static bool lookup_node(rg_graph *g, const char *name, rg_loc loc, int *out, rg_error *err)
{
    *out = rg_graph_find_node(g, name);
    if (*out >= 0)
        return true;
    rg_suggest s;
    rg_suggest_init(&s, name);
    for (int i = 0; i < g->n_nodes; i++)
        rg_suggest_try(&s, g->nodes[i].name);
    char hint[96];
    rg_suggest_phrase(&s, hint, sizeof hint);
    return ERR(RG_ERR_UNKNOWN_NODE, loc, "unknown node '%s'%s", name, hint);
}

/* Find the port `name` on one side of `n`; explain direction mistakes. */
static bool lookup_port(rg_graph *g, const rg_graph_node *n, const char *port, bool output,
                        rg_loc loc, int *out, rg_error *err)
{
    const rg_node_type *t = n->type;
    *out = output ? rg_node_type_output(t, port) : rg_node_type_input(t, port);
    if (*out >= 0)
        return true;
    int other = output ? rg_node_type_input(t, port) : rg_node_type_output(t, port);
    if (other >= 0)
        return ERR(RG_ERR_DIRECTION, loc, "'%s.%s' is an %s; a cable goes from an output to an input",
                   n->name, port, output ? "input" : "output");
    const rg_port_def *ports = output ? t->outputs : t->inputs;
    int n_ports = output ? t->n_outputs : t->n_inputs;
    rg_suggest s;
    rg_suggest_init(&s, port);
    for (int i = 0; i < n_ports; i++)
        rg_suggest_try(&s, ports[i].name);
    char hint[96];
    rg_suggest_phrase(&s, hint, sizeof hint);
    if (n_ports == 0)
        return ERR(RG_ERR_UNKNOWN_PORT, loc, "%s '%s' has no %s ports", t->name, n->name,
                   output ? "output" : "input");
    return ERR(RG_ERR_UNKNOWN_PORT, loc, "%s '%s' has no %s port '%s'%s", t->name, n->name,
               output ? "output" : "input", port, hint);
}

/* Depth-first search for a path of cables from `from` to `to`; on success
 * `path` holds the nodes from `from` to `to` and *len their count. */
static bool find_path(const rg_graph *g, int from, int to, bool *seen, int *path, int *len)
{
    path[(*len)++] = from;
    if (from == to)
        return true;
    seen[from] = true;
    for (int i = 0; i < g->n_edges; i++) {
        const rg_edge *e = &g->edges[i];
        if (e->src_node == from && !seen[e->dst_node] && find_path(g, e->dst_node, to, seen, path, len))
            return true;
    }
    (*len)--;
    return false;
}

/* "a -> b -> a" into buf, for a cycle through the nodes in path. */
static void name_cycle(const rg_graph *g, const int *path, int len, char *buf, int size)
{
    int used = 0;
    buf[0] = '\0';
    for (int i = 0; i <= len && used < size; i++) {
        const char *name = g->nodes[path[i % len]].name;
        used += snprintf(buf + used, size - used, "%s%s", i ? " -> " : "", name);
    }
}

static bool check_cycle(rg_graph *g, int src, int dst, rg_loc loc, rg_error *err)
{
    bool *seen = calloc(g->n_nodes, sizeof *seen);
    int *path = calloc(g->n_nodes + 1, sizeof *path);
    if (!seen || !path) {
        free(seen);
        free(path);
        return ERR(RG_ERR_INTERNAL, loc, "out of memory");
    }
    int len = 0;
    bool cycle = find_path(g, dst, src, seen, path, &len);
    char names[384];
    if (cycle)
        name_cycle(g, path, len, names, sizeof names);
    free(seen);
    free(path);
    if (cycle)
        return ERR(RG_ERR_CYCLE, loc, "this cable closes a cycle: %s", names);
    return true;
}

static int cables_into(const rg_graph *g, int node, int port, int *first_src)
{
    int count = 0;
    for (int i = 0; i < g->n_edges; i++) {
        if (g->edges[i].dst_node == node && g->edges[i].dst_port == port) {
            if (count++ == 0)
                *first_src = i;
        }
    }
    return count;
}

static bool check_cable(rg_graph *g, const rg_edge *e, const rg_edge_locs *locs, rg_error *err)
{
    const rg_graph_node *sn = &g->nodes[e->src_node], *dn = &g->nodes[e->dst_node];
    const rg_port_def *sp = &sn->type->outputs[e->src_port];
    const rg_port_def *dp = &dn->type->inputs[e->dst_port];
    if (sp->type != dp->type)
        return ERR(RG_ERR_PORT_TYPE, locs->dst_port,
                   "cannot connect %s output '%s.%s' to %s input '%s.%s'", rg_port_type_name(sp->type),
                   sn->name, sp->name, rg_port_type_name(dp->type), dn->name, dp->name);
    int first = -1;
    int count = cables_into(g, e->dst_node, e->dst_port, &first);
    for (int i = 0; i < g->n_edges; i++) {
        const rg_edge *o = &g->edges[i];
        if (o->src_node == e->src_node && o->src_port == e->src_port && o->dst_node == e->dst_node &&
            o->dst_port == e->dst_port)
            return ERR(RG_ERR_DUPLICATE, locs->src_node, "'%s.%s -> %s.%s' is already connected",
                       sn->name, sp->name, dn->name, dp->name);
    }
    if (count >= dp->max_cables) {
        const rg_edge *o = &g->edges[first];
        if (dp->max_cables == 1)
            return ERR(RG_ERR_CABLES, locs->dst_port,
                       "'%s.%s' takes one cable and already has one from '%s.%s' (sum signals with a mixer)",
                       dn->name, dp->name, g->nodes[o->src_node].name,
                       g->nodes[o->src_node].type->outputs[o->src_port].name);
        return ERR(RG_ERR_CABLES, locs->dst_port, "'%s.%s' takes at most %d cables", dn->name,
                   dp->name, dp->max_cables);
    }
    return check_cycle(g, e->src_node, e->dst_node, locs->src_node, err);
}

bool rg_graph_connect(rg_graph *g, const char *src_node, const char *src_port,
                      const char *dst_node, const char *dst_port, const rg_edge_locs *locs,
                      rg_error *err)
{
    rg_edge_locs none = {0};
    if (!locs)
        locs = &none;
    rg_edge e = {.loc = locs->src_node};
    if (!lookup_node(g, src_node, locs->src_node, &e.src_node, err) ||
        !lookup_port(g, &g->nodes[e.src_node], src_port, true, locs->src_port, &e.src_port, err) ||
        !lookup_node(g, dst_node, locs->dst_node, &e.dst_node, err) ||
        !lookup_port(g, &g->nodes[e.dst_node], dst_port, false, locs->dst_port, &e.dst_port, err) ||
        !check_cable(g, &e, locs, err))
        return false;
    if (!grow((void **)&g->edges, &g->cap_edges, g->n_edges + 1, sizeof *g->edges))
        return ERR(RG_ERR_INTERNAL, no_loc, "out of memory");
    g->edges[g->n_edges++] = e;
    return true;
}

bool rg_graph_disconnect(rg_graph *g, const char *src_node, const char *src_port,
                         const char *dst_node, const char *dst_port, rg_error *err)
{
    int s, d, sp, dp;
    if (!lookup_node(g, src_node, no_loc, &s, err) ||
        !lookup_port(g, &g->nodes[s], src_port, true, no_loc, &sp, err) ||
        !lookup_node(g, dst_node, no_loc, &d, err) ||
        !lookup_port(g, &g->nodes[d], dst_port, false, no_loc, &dp, err))
        return false;
    for (int i = 0; i < g->n_edges; i++) {
        const rg_edge *e = &g->edges[i];
        if (e->src_node == s && e->src_port == sp && e->dst_node == d && e->dst_port == dp) {
            memmove(&g->edges[i], &g->edges[i + 1], (size_t)(g->n_edges - i - 1) * sizeof *g->edges);
            g->n_edges--;
            return true;
        }
    }
    return ERR(RG_ERR_UNKNOWN_PORT, no_loc, "'%s.%s -> %s.%s' is not connected", src_node, src_port,
               dst_node, dst_port);
}

/* ---- parameters and transport ----------------------------------------- */

bool rg_graph_set_param(rg_graph *g, const char *node, const char *param,
                        const rg_literal *value, const rg_set_locs *locs, rg_error *err)
{
    rg_set_locs none = {0};
    if (!locs)
        locs = &none;
    int idx;
    if (!lookup_node(g, node, locs->node, &idx, err))
        return false;
    rg_graph_node *n = &g->nodes[idx];
    int p = rg_node_type_param(n->type, param);
    if (p < 0) {
        rg_suggest s;
        rg_suggest_init(&s, param);
        for (int i = 0; i < n->type->n_params; i++)
            rg_suggest_try(&s, n->type->params[i].name);
        char hint[96];
        rg_suggest_phrase(&s, hint, sizeof hint);
        return ERR(RG_ERR_UNKNOWN_PARAM, locs->param, "%s '%s' has no parameter '%s'%s",
                   n->type->name, n->name, param, hint);
    }
    char why[256];
    if (!rg_value_from_literal(&n->type->params[p], value, &n->params[p], why, sizeof why))
        return ERR(RG_ERR_VALUE, locs->value, "%s", why);
    n->param_set[p] = true;
    return true;
}

bool rg_graph_set_tempo(rg_graph *g, double bpm, rg_loc loc, rg_error *err)
{
    if (!isfinite(bpm) || bpm < RG_TEMPO_MIN || bpm > RG_TEMPO_MAX)
        return ERR(RG_ERR_VALUE, loc, "tempo must be between %g and %g bpm, not %g", RG_TEMPO_MIN,
                   RG_TEMPO_MAX, bpm);
    g->tempo = bpm;
    return true;
}

bool rg_graph_set_meter(rg_graph *g, int num, int den, rg_loc loc, rg_error *err)
{
    if (num < 1 || num > 32)
        return ERR(RG_ERR_VALUE, loc, "a bar has 1 to 32 beats, not %d", num);
    if (den != 1 && den != 2 && den != 4 && den != 8 && den != 16 && den != 32)
        return ERR(RG_ERR_VALUE, loc, "the beat is a note value 1, 2, 4, 8, 16 or 32, not %d", den);
    g->meter_num = num;
    g->meter_den = den;
    return true;
}

double rg_bar_frames(double tempo, int meter_num, int meter_den, double rate)
{
    double quarters = meter_num * 4.0 / meter_den;
    return quarters * 60.0 / tempo * rate;
}

/* ---- schedule, equality, clone ------------------------------------------ */

bool rg_graph_schedule(const rg_graph *g, int *order, rg_error *err)
{
    int n = g->n_nodes;
    int *indegree = calloc(n ? n : 1, sizeof *indegree);
    bool *done = calloc(n ? n : 1, sizeof *done);
    if (!indegree || !done) {
        free(indegree);
        free(done);
        return rg_error_set(err, RG_ERR_INTERNAL, g->file, 0, 0, "out of memory");
    }
    for (int i = 0; i < g->n_edges; i++)
        indegree[g->edges[i].dst_node]++;
    int placed = 0;
    /* Kahn's algorithm, always taking the first ready node in patch order. */
    while (placed < n) {
        int next = -1;
        for (int i = 0; i < n && next < 0; i++)
            if (!done[i] && indegree[i] == 0)
                next = i;
        if (next < 0)
            break;
        done[next] = true;
        order[placed++] = next;
        for (int i = 0; i < g->n_edges; i++)
            if (g->edges[i].src_node == next)
                indegree[g->edges[i].dst_node]--;
    }
    free(indegree);
    free(done);
    if (placed == n)
        return true;
    /* Edits refuse cycles, so this only happens to a graph built by hand. */
    return rg_error_set(err, RG_ERR_CYCLE, g->file, 0, 0, "the patch has a cycle");
}

bool rg_graph_equal(const rg_graph *a, const rg_graph *b)
{
    if (a->tempo != b->tempo || a->meter_num != b->meter_num || a->meter_den != b->meter_den ||
        a->n_nodes != b->n_nodes || a->n_edges != b->n_edges)
        return false;
    for (int i = 0; i < a->n_nodes; i++) {
        const rg_graph_node *x = &a->nodes[i], *y = &b->nodes[i];
        if (strcmp(x->name, y->name) != 0 || x->type != y->type)
            return false;
        for (int p = 0; p < x->type->n_params; p++) {
            if (x->param_set[p] != y->param_set[p])
                return false;
            if (x->param_set[p] && !rg_value_equal(&x->type->params[p], &x->params[p], &y->params[p]))
                return false;
        }
    }
    for (int i = 0; i < a->n_edges; i++) {
        const rg_edge *x = &a->edges[i], *y = &b->edges[i];
        if (x->src_node != y->src_node || x->src_port != y->src_port ||
            x->dst_node != y->dst_node || x->dst_port != y->dst_port)
            return false;
    }
    return true;
}

rg_graph *rg_graph_clone(const rg_graph *g)
{
    rg_graph *c = rg_graph_new(g->registry, g->file);
    if (!c)
        return NULL;
    c->tempo = g->tempo;
    c->meter_num = g->meter_num;
    c->meter_den = g->meter_den;
    for (int i = 0; i < g->n_nodes; i++) {
        const rg_graph_node *src = &g->nodes[i];
        if (!rg_graph_add_node(c, src->name, src->type->name, NULL, NULL))
            goto fail;
        rg_graph_node *dst = &c->nodes[i];
        dst->loc = src->loc;
        for (int p = 0; p < src->type->n_params; p++) {
            rg_value_clear(&dst->params[p]);
            dst->params[p].num = src->params[p].num;
            if (src->params[p].str && !(dst->params[p].str = strdup(src->params[p].str)))
                goto fail;
            dst->param_set[p] = src->param_set[p];
        }
    }
    if (g->n_edges && !grow((void **)&c->edges, &c->cap_edges, g->n_edges, sizeof *c->edges))
        goto fail;
    memcpy(c->edges, g->edges, (size_t)g->n_edges * sizeof *g->edges);
    c->n_edges = g->n_edges;
    return c;
fail:
    rg_graph_free(c);
    return NULL;
}
