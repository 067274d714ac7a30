/* The canonical writer. Canonical means: one way to write each graph, so
 * diffs of saved patches show only real changes and parse(write(g)) == g. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "graph/patch.h"

typedef struct {
    char *data;
    size_t len, cap;
    bool failed;
} text_buf;

static void put(text_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(text_buf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    if (!b->data) {
        b->cap = 256;
        if (!(b->data = malloc(b->cap))) {
            b->failed = true;
            return;
        }
    }
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += n;
            return;
        }
        size_t cap = (b->cap + n + 1) * 2;
        char *data = realloc(b->data, cap);
        if (!data) {
            b->failed = true;
            return;
        }
        b->data = data;
        b->cap = cap;
    }
}

/* The shortest decimal that reads back as exactly the same double, written
 * plainly (110, 0.25) rather than in exponent form where that is possible. */
static void format_number(double v, char *buf, int size)
{
    double mag = fabs(v);
    if (mag == 0 || (mag >= 1e-6 && mag < 1e15)) {
        for (int decimals = 0; decimals <= 20; decimals++) {
            snprintf(buf, size, "%.*f", decimals, v);
            if (strtod(buf, NULL) == v)
                return;
        }
    }
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(buf, size, "%.*g", precision, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

static void put_string(text_buf *b, const char *s)
{
    put(b, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            put(b, "\\%c", *s);
        else if (*s == '\n')
            put(b, "\\n");
        else
            put(b, "%c", *s);
    }
    put(b, "\"");
}

static void put_value(text_buf *b, const rg_param_def *def, const rg_value *v)
{
    char num[64];
    switch (def->type) {
    case RG_PARAM_FLOAT:
        format_number(v->num, num, sizeof num);
        put(b, "%s", num);
        break;
    case RG_PARAM_INT:
        put(b, "%.0f", v->num);
        break;
    case RG_PARAM_BOOL:
        put(b, "%s", v->num != 0 ? "true" : "false");
        break;
    case RG_PARAM_STRING:
        put_string(b, v->str ? v->str : "");
        break;
    case RG_PARAM_ENUM:
        put(b, "%s", v->str ? v->str : "");
        break;
    }
}

char *rg_patch_write(const rg_graph *g)
{
    text_buf b = {0};
    char tempo[64];
    format_number(g->tempo, tempo, sizeof tempo);
    put(&b, "tempo %s\nmeter %d/%d\n", tempo, g->meter_num, g->meter_den);
    if (g->n_nodes)
        put(&b, "\n");
    for (int i = 0; i < g->n_nodes; i++) {
        const rg_graph_node *n = &g->nodes[i];
        put(&b, "node %s %s", n->name, n->type->name);
        for (int p = 0; p < n->type->n_params; p++) {
            if (!n->param_set[p])
                continue;
            put(&b, " %s=", n->type->params[p].name);
            put_value(&b, &n->type->params[p], &n->params[p]);
        }
        put(&b, "\n");
    }
    if (g->n_edges)
        put(&b, "\n");
    for (int i = 0; i < g->n_edges; i++) {
        const rg_edge *e = &g->edges[i];
        const rg_graph_node *s = &g->nodes[e->src_node], *d = &g->nodes[e->dst_node];
        put(&b, "%s.%s -> %s.%s\n", s->name, s->type->outputs[e->src_port].name, d->name,
            d->type->inputs[e->dst_port].name);
    }
    if (b.failed || !b.data) {
        free(b.data);
        return NULL;
    }
    return b.data;
}

bool rg_patch_save(const rg_graph *g, const char *path, rg_error *err)
{
    char *text = rg_patch_write(g);
    if (!text)
        return rg_error_set(err, RG_ERR_INTERNAL, path, 0, 0, "out of memory");
    size_t tmp_len = strlen(path) + 16;
    char *tmp = malloc(tmp_len);
    if (!tmp) {
        free(text);
        return rg_error_set(err, RG_ERR_INTERNAL, path, 0, 0, "out of memory");
    }
    snprintf(tmp, tmp_len, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    bool ok = f && fputs(text, f) >= 0;
    ok = (f && fclose(f) == 0) && ok;
    ok = ok && rename(tmp, path) == 0;
    int saved = errno;
    if (!ok)
        unlink(tmp);
    free(tmp);
    free(text);
    if (!ok)
        return rg_error_set(err, RG_ERR_IO, path, 0, 0, "cannot write: %s", strerror(saved));
    return true;
}
