#include "graph/registry.h"

#include <stdio.h>
#include <string.h>

const rg_node_type *rg_registry_find(const rg_registry *reg, const char *name)
{
    for (int i = 0; i < reg->count; i++)
        if (strcmp(reg->types[i]->name, name) == 0)
            return reg->types[i];
    return NULL;
}

static int find_by_name(const rg_port_def *ports, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(ports[i].name, name) == 0)
            return i;
    return -1;
}

int rg_node_type_input(const rg_node_type *type, const char *name)
{
    return find_by_name(type->inputs, type->n_inputs, name);
}

int rg_node_type_output(const rg_node_type *type, const char *name)
{
    return find_by_name(type->outputs, type->n_outputs, name);
}

int rg_node_type_param(const rg_node_type *type, const char *name)
{
    for (int i = 0; i < type->n_params; i++)
        if (strcmp(type->params[i].name, name) == 0)
            return i;
    return -1;
}

const char *rg_port_type_name(rg_port_type type)
{
    switch (type) {
    case RG_PORT_AUDIO: return "audio";
    case RG_PORT_TOKENS: return "tokens";
    case RG_PORT_COND: return "cond";
    case RG_PORT_GRID: return "grid";
    }
    return "?";
}

const char *rg_param_type_name(rg_param_type type)
{
    switch (type) {
    case RG_PARAM_FLOAT: return "float";
    case RG_PARAM_INT: return "int";
    case RG_PARAM_BOOL: return "bool";
    case RG_PARAM_STRING: return "string";
    case RG_PARAM_ENUM: return "enum";
    }
    return "?";
}

/* Optimal string alignment distance: Levenshtein plus adjacent swaps, the
 * commonest typo ("genreator"). Names are short, so the O(n*m) table is tiny. */
static int edit_distance(const char *a, const char *b)
{
    enum { MAX = 64 };
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la >= MAX || lb >= MAX)
        return MAX;
    int d[MAX + 1][MAX + 1];
    for (int i = 0; i <= la; i++)
        d[i][0] = i;
    for (int j = 0; j <= lb; j++)
        d[0][j] = j;
    for (int i = 1; i <= la; i++) {
        for (int j = 1; j <= lb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < best)
                best = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

void rg_suggest_init(rg_suggest *s, const char *word)
{
    s->word = word;
    s->best = NULL;
    s->best_distance = 1 << 30;
}

void rg_suggest_try(rg_suggest *s, const char *candidate)
{
    int d = edit_distance(s->word, candidate);
    if (d < s->best_distance) {
        s->best_distance = d;
        s->best = candidate;
    }
}

const char *rg_suggest_result(const rg_suggest *s)
{
    if (!s->best)
        return NULL;
    /* A third of the word may be wrong, at least one and at most three edits. */
    int allowed = (int)strlen(s->word) / 3;
    if (allowed < 1)
        allowed = 1;
    if (allowed > 3)
        allowed = 3;
    return s->best_distance <= allowed ? s->best : NULL;
}

void rg_suggest_phrase(const rg_suggest *s, char *buf, int size)
{
    const char *best = rg_suggest_result(s);
    if (best)
        snprintf(buf, size, " (did you mean '%s'?)", best);
    else if (size > 0)
        buf[0] = '\0';
}
