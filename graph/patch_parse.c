/* The .rpatch parser: a hand-written scanner over one line at a time, with a
 * precise position for every token so each error points at the character
 * the musician has to change. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/patch.h"

#define MAX_TOKEN 1024

typedef struct {
    const char *file;
    const char *p, *end;
    const char *line_start;
    int line;
    rg_error *err;
} scanner;

/* A cable or `set` waits until every node is declared, so statements may
 * refer to nodes further down the file. */
typedef struct {
    bool is_set;
    char *a, *a_port, *b, *b_port; /* cable: a.a_port -> b.b_port; set: a.a_port = value */
    rg_literal value;
    char *value_text;
    rg_edge_locs edge_locs;
    rg_set_locs set_locs;
} deferred;

typedef struct {
    deferred *items;
    int count, cap;
} deferred_list;

/* ---- positions and messages -------------------------------------------- */

/* Columns count characters, not bytes: UTF-8 continuation bytes don't advance. */
static rg_loc loc_at(const scanner *s, const char *at)
{
    int col = 1;
    for (const char *q = s->line_start; q < at; q++)
        if (((unsigned char)*q & 0xC0) != 0x80)
            col++;
    return (rg_loc){s->line, col};
}

static bool fail_at(scanner *s, const char *at, rg_error_code code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool fail_at(scanner *s, const char *at, rg_error_code code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rg_loc l = loc_at(s, at);
    return rg_error_set(s->err, code, s->file, l.line, l.col, "%s", msg);
}

static bool at_eol(const scanner *s)
{
    return s->p >= s->end || *s->p == '\n' || *s->p == '#' ||
           (*s->p == '\r' && (s->p + 1 >= s->end || s->p[1] == '\n'));
}

static void skip_blanks(scanner *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t'))
        s->p++;
}

/* What the scanner is looking at, for "found X" in messages. */
static void describe_here(const scanner *s, char *buf, int size)
{
    if (at_eol(s)) {
        snprintf(buf, size, "%s", s->p < s->end && *s->p == '#' ? "a comment" : "the end of the line");
        return;
    }
    if ((unsigned char)*s->p < ' ' || *s->p == 0x7f) {
        snprintf(buf, size, "a control character (0x%02x)", (unsigned char)*s->p);
        return;
    }
    int n = 0;
    while (s->p + n < s->end && n < 24 && !isspace((unsigned char)s->p[n]) && s->p[n] != '#')
        n++;
    if (n == 0)
        n = 1;
    snprintf(buf, size, "'%.*s'", n, s->p);
}

static bool expected(scanner *s, const char *what)
{
    char found[64];
    describe_here(s, found, sizeof found);
    return fail_at(s, s->p, RG_ERR_SYNTAX, "expected %s, found %s", what, found);
}

/* ---- tokens ------------------------------------------------------------ */

static bool is_name_start(int c) { return (c >= 'a' && c <= 'z') || c == '_'; }
static bool is_name_char(int c) { return is_name_start(c) || (c >= '0' && c <= '9'); }
static bool is_word_char(int c)
{
    return c > ' ' && c != '#' && c != '"' && c != '=' && c != 0x7f;
}

/* A name: [a-z_][a-z0-9_]*. `what` says what the name is for, in errors. */
static bool read_name(scanner *s, const char *what, char *out, rg_loc *loc)
{
    skip_blanks(s);
    const char *start = s->p;
    if (loc)
        *loc = loc_at(s, start);
    if (s->p >= s->end || !is_name_start((unsigned char)*s->p)) {
        if (s->p < s->end && isalpha((unsigned char)*s->p))
            return fail_at(s, s->p, RG_ERR_SYNTAX,
                           "%s must start with a lowercase letter or '_' (names are [a-z_][a-z0-9_]*)", what);
        return expected(s, what);
    }
    while (s->p < s->end && is_name_char((unsigned char)*s->p))
        s->p++;
    if (s->p < s->end && (isalnum((unsigned char)*s->p) || (unsigned char)*s->p >= 0x80)) {
        int n = 1; /* show the whole character, not one byte of it */
        while (s->p + n < s->end && ((unsigned char)s->p[n] & 0xC0) == 0x80)
            n++;
        return fail_at(s, s->p, RG_ERR_SYNTAX, "unexpected '%.*s' in %s (names are [a-z_][a-z0-9_]*)",
                       n, s->p, what);
    }
    if (s->p - start >= MAX_TOKEN)
        return fail_at(s, start, RG_ERR_SYNTAX, "%s is too long", what);
    memcpy(out, start, s->p - start);
    out[s->p - start] = '\0';
    return true;
}

static bool expect_char(scanner *s, char c, const char *what)
{
    skip_blanks(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return true;
    }
    return expected(s, what);
}

/* A positive integer written with digits only. */
static bool read_int(scanner *s, const char *what, int *out)
{
    skip_blanks(s);
    const char *start = s->p;
    long v = 0;
    while (s->p < s->end && isdigit((unsigned char)*s->p) && v < 1000000)
        v = v * 10 + (*s->p++ - '0');
    if (s->p == start)
        return expected(s, what);
    if (s->p < s->end && isdigit((unsigned char)*s->p))
        return fail_at(s, start, RG_ERR_VALUE, "%s is too large", what);
    *out = (int)v;
    return true;
}

static bool read_string(scanner *s, char *out, rg_loc *loc)
{
    const char *open = s->p++;
    *loc = loc_at(s, open);
    int n = 0;
    while (s->p < s->end && *s->p != '"') {
        char c = *s->p;
        if (c == '\n' || c == '\r')
            break;
        if (c == '\\') {
            const char *esc = s->p;
            if (s->p + 1 >= s->end || s->p[1] == '\n')
                break;
            char e = s->p[1];
            if (e == 'n')
                c = '\n';
            else if (e == '"' || e == '\\')
                c = e;
            else
                return fail_at(s, esc, RG_ERR_SYNTAX,
                               "unknown escape '\\%c' in a string (use \\\", \\\\ or \\n)",
                               isprint((unsigned char)e) ? e : '?');
            s->p++;
        } else if ((unsigned char)c < ' ' && c != '\t') {
            return fail_at(s, s->p, RG_ERR_SYNTAX, "control character in a string");
        }
        if (n >= MAX_TOKEN - 1)
            return fail_at(s, open, RG_ERR_SYNTAX, "string is longer than %d bytes", MAX_TOKEN - 1);
        out[n++] = c;
        s->p++;
    }
    if (s->p >= s->end || *s->p != '"')
        return fail_at(s, open, RG_ERR_SYNTAX, "unterminated string (a string ends with '\"' on the same line)");
    s->p++;
    out[n] = '\0';
    return true;
}

static bool looks_numeric(const char *p, const char *end)
{
    if (p < end && (*p == '-' || *p == '+'))
        p++;
    if (p < end && *p == '.')
        p++;
    return p < end && isdigit((unsigned char)*p);
}

static bool read_number(scanner *s, rg_literal *lit, char *buf)
{
    const char *start = s->p;
    bool integer = true;
    while (s->p < s->end && is_word_char((unsigned char)*s->p)) {
        char c = *s->p;
        if (!isdigit((unsigned char)c) && c != '.' && c != 'e' && c != 'E' && c != '-' && c != '+')
            break;
        if (c == '.' || c == 'e' || c == 'E')
            integer = false;
        s->p++;
    }
    int n = (int)(s->p - start);
    if (n >= 64)
        return fail_at(s, start, RG_ERR_VALUE, "number is too long");
    memcpy(buf, start, n);
    buf[n] = '\0';
    char *endp;
    errno = 0;
    double v = strtod(buf, &endp);
    bool junk_follows = s->p < s->end && is_word_char((unsigned char)*s->p);
    if (*endp || errno == ERANGE || junk_follows) {
        while (s->p < s->end && is_word_char((unsigned char)*s->p))
            s->p++;
        return fail_at(s, start, RG_ERR_VALUE, "'%.*s' is not a number", (int)(s->p - start), start);
    }
    lit->kind = integer ? RG_LIT_INT : RG_LIT_FLOAT;
    lit->num = v;
    return true;
}

/* A value: number, true/false, bare word or "string". */
static bool read_value(scanner *s, rg_literal *lit, char *buf, rg_loc *loc)
{
    skip_blanks(s);
    *loc = loc_at(s, s->p);
    lit->text = NULL;
    lit->num = 0;
    if (s->p < s->end && *s->p == '"') {
        lit->kind = RG_LIT_STRING;
        lit->text = buf;
        return read_string(s, buf, loc);
    }
    if (looks_numeric(s->p, s->end))
        return read_number(s, lit, buf);
    const char *start = s->p;
    while (s->p < s->end && is_word_char((unsigned char)*s->p))
        s->p++;
    int n = (int)(s->p - start);
    if (n == 0)
        return expected(s, "a value (a number, true/false, a word or a \"string\")");
    if (n >= MAX_TOKEN)
        return fail_at(s, start, RG_ERR_SYNTAX, "value is longer than %d bytes", MAX_TOKEN - 1);
    memcpy(buf, start, n);
    buf[n] = '\0';
    if (strcmp(buf, "true") == 0 || strcmp(buf, "false") == 0) {
        lit->kind = RG_LIT_BOOL;
        lit->num = buf[0] == 't';
    } else {
        lit->kind = RG_LIT_WORD;
        lit->text = buf;
    }
    return true;
}

static bool expect_eol(scanner *s)
{
    skip_blanks(s);
    if (at_eol(s))
        return true;
    char found[64];
    describe_here(s, found, sizeof found);
    return fail_at(s, s->p, RG_ERR_SYNTAX, "unexpected %s after the end of the statement", found);
}

/* ---- statements -------------------------------------------------------- */

static bool parse_tempo(scanner *s, rg_graph *g)
{
    rg_literal lit;
    char buf[MAX_TOKEN];
    rg_loc loc;
    if (!read_value(s, &lit, buf, &loc))
        return false;
    if (lit.kind != RG_LIT_INT && lit.kind != RG_LIT_FLOAT)
        return rg_error_set(s->err, RG_ERR_VALUE, s->file, loc.line, loc.col,
                            "tempo takes a number of beats per minute");
    return rg_graph_set_tempo(g, lit.num, loc, s->err) && expect_eol(s);
}

static bool parse_meter(scanner *s, rg_graph *g)
{
    int num, den;
    skip_blanks(s);
    rg_loc loc = loc_at(s, s->p);
    if (!read_int(s, "the beats per bar (as in 'meter 4/4')", &num) ||
        !expect_char(s, '/', "'/' (as in 'meter 4/4')") ||
        !read_int(s, "the beat's note value (as in 'meter 4/4')", &den))
        return false;
    return rg_graph_set_meter(g, num, den, loc, s->err) && expect_eol(s);
}

static bool parse_node(scanner *s, rg_graph *g)
{
    char name[MAX_TOKEN], type[MAX_TOKEN];
    rg_node_locs locs;
    if (!read_name(s, "a node name", name, &locs.name) ||
        !read_name(s, "a node type", type, &locs.type))
        return false;
    if (!rg_graph_add_node(g, name, type, &locs, s->err))
        return false;
    rg_graph_node *node = &g->nodes[g->n_nodes - 1];
    bool given[RG_MAX_PARAMS] = {0};
    for (;;) {
        skip_blanks(s);
        if (at_eol(s))
            return true;
        char key[MAX_TOKEN], vbuf[MAX_TOKEN];
        rg_set_locs sl = {.node = locs.name};
        rg_literal lit;
        if (!read_name(s, "a parameter name (param=value)", key, &sl.param) ||
            !expect_char(s, '=', "'=' after the parameter name (param=value)") ||
            !read_value(s, &lit, vbuf, &sl.value))
            return false;
        int p = rg_node_type_param(node->type, key);
        if (p >= 0 && p < RG_MAX_PARAMS && given[p])
            return rg_error_set(s->err, RG_ERR_DUPLICATE, s->file, sl.param.line, sl.param.col,
                                "parameter '%s' is given twice", key);
        if (!rg_graph_set_param(g, name, key, &lit, &sl, s->err))
            return false;
        if (p >= 0 && p < RG_MAX_PARAMS)
            given[p] = true;
    }
}

static bool push_deferred(deferred_list *list, const deferred *d)
{
    if (list->count == list->cap) {
        int cap = list->cap ? list->cap * 2 : 16;
        deferred *items = realloc(list->items, (size_t)cap * sizeof *items);
        if (!items)
            return false;
        list->items = items;
        list->cap = cap;
    }
    list->items[list->count++] = *d;
    return true;
}

static void free_deferred(deferred_list *list)
{
    for (int i = 0; i < list->count; i++) {
        deferred *d = &list->items[i];
        free(d->a);
        free(d->a_port);
        free(d->b);
        free(d->b_port);
        free(d->value_text);
    }
    free(list->items);
}

static bool defer(scanner *s, deferred_list *list, deferred *d)
{
    if (push_deferred(list, d))
        return true;
    free(d->a);
    free(d->a_port);
    free(d->b);
    free(d->b_port);
    free(d->value_text);
    return rg_error_set(s->err, RG_ERR_INTERNAL, s->file, 0, 0, "out of memory");
}

/* `first` was already read as the source node of a cable. */
static bool parse_cable(scanner *s, const char *first, rg_loc first_loc, deferred_list *list)
{
    char sport[MAX_TOKEN], dst[MAX_TOKEN], dport[MAX_TOKEN];
    deferred d = {0};
    d.edge_locs.src_node = first_loc;
    if (!expect_char(s, '.', "'.' between node and port (node.port)") ||
        !read_name(s, "an output port name", sport, &d.edge_locs.src_port) ||
        !expect_char(s, '-', "'->' (a cable is written 'node.port -> node.port')") ||
        !expect_char(s, '>', "'->' (a cable is written 'node.port -> node.port')") ||
        !read_name(s, "a node name", dst, &d.edge_locs.dst_node) ||
        !expect_char(s, '.', "'.' between node and port (node.port)") ||
        !read_name(s, "an input port name", dport, &d.edge_locs.dst_port) || !expect_eol(s))
        return false;
    d.a = strdup(first);
    d.a_port = strdup(sport);
    d.b = strdup(dst);
    d.b_port = strdup(dport);
    return defer(s, list, &d);
}

static bool parse_set(scanner *s, deferred_list *list)
{
    char node[MAX_TOKEN], param[MAX_TOKEN], vbuf[MAX_TOKEN];
    deferred d = {.is_set = true};
    if (!read_name(s, "a node name (set node.param value)", node, &d.set_locs.node) ||
        !expect_char(s, '.', "'.' between node and parameter (set node.param value)") ||
        !read_name(s, "a parameter name", param, &d.set_locs.param) ||
        !read_value(s, &d.value, vbuf, &d.set_locs.value) || !expect_eol(s))
        return false;
    d.a = strdup(node);
    d.a_port = strdup(param);
    if (d.value.text)
        d.value.text = d.value_text = strdup(d.value.text);
    return defer(s, list, &d);
}

static const char *const keywords[] = {"tempo", "meter", "node", "set"};

static bool unknown_statement(scanner *s, const char *word, rg_loc loc)
{
    rg_suggest sg;
    rg_suggest_init(&sg, word);
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
        rg_suggest_try(&sg, keywords[i]);
    const char *best = rg_suggest_result(&sg);
    if (best)
        return rg_error_set(s->err, RG_ERR_SYNTAX, s->file, loc.line, loc.col,
                            "unknown statement '%s' (did you mean '%s'?)", word, best);
    return rg_error_set(s->err, RG_ERR_SYNTAX, s->file, loc.line, loc.col,
                        "unknown statement '%s'; expected tempo, meter, node, set or a cable "
                        "'node.port -> node.port'", word);
}

static bool parse_statement(scanner *s, rg_graph *g, deferred_list *list)
{
    char word[MAX_TOKEN];
    rg_loc loc;
    if (!read_name(s, "a statement (tempo, meter, node, set or a cable)", word, &loc))
        return false;
    if (s->p < s->end && *s->p == '.')
        return parse_cable(s, word, loc, list);
    if (strcmp(word, "tempo") == 0)
        return parse_tempo(s, g);
    if (strcmp(word, "meter") == 0)
        return parse_meter(s, g);
    if (strcmp(word, "node") == 0)
        return parse_node(s, g);
    if (strcmp(word, "set") == 0)
        return parse_set(s, list);
    return unknown_statement(s, word, loc);
}

/* ---- the file ---------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p, or 0. */
static int utf8_length(const unsigned char *p, const unsigned char *end)
{
    int n;
    unsigned min;
    unsigned cp;
    if (p[0] < 0x80)
        return p[0] ? 1 : 0;
    if ((p[0] & 0xE0) == 0xC0) { n = 2; cp = p[0] & 0x1F; min = 0x80; }
    else if ((p[0] & 0xF0) == 0xE0) { n = 3; cp = p[0] & 0x0F; min = 0x800; }
    else if ((p[0] & 0xF8) == 0xF0) { n = 4; cp = p[0] & 0x07; min = 0x10000; }
    else return 0;
    if (end - p < n)
        return 0;
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

static bool check_encoding(scanner *s)
{
    const unsigned char *p = (const unsigned char *)s->p, *end = (const unsigned char *)s->end;
    int line = 1;
    const unsigned char *line_start = p;
    while (p < end) {
        int n = utf8_length(p, end);
        if (n == 0) {
            s->line = line;
            s->line_start = (const char *)line_start;
            return fail_at(s, (const char *)p, RG_ERR_SYNTAX,
                           *p ? "invalid UTF-8 (patch files are UTF-8 text)" : "NUL byte in a patch file");
        }
        if (*p == '\n') {
            line++;
            line_start = p + 1;
        }
        p += n;
    }
    return true;
}

static bool apply_deferred(scanner *s, rg_graph *g, const deferred_list *list)
{
    for (int i = 0; i < list->count; i++) {
        const deferred *d = &list->items[i];
        if (!d->a || !d->a_port || (!d->is_set && (!d->b || !d->b_port)))
            return rg_error_set(s->err, RG_ERR_INTERNAL, s->file, 0, 0, "out of memory");
        bool ok = d->is_set
                      ? rg_graph_set_param(g, d->a, d->a_port, &d->value, &d->set_locs, s->err)
                      : rg_graph_connect(g, d->a, d->a_port, d->b, d->b_port, &d->edge_locs, s->err);
        if (!ok)
            return false;
        if (!d->is_set)
            g->edges[g->n_edges - 1].loc = d->edge_locs.src_node;
    }
    return true;
}

static bool parse_lines(scanner *s, rg_graph *g, deferred_list *list)
{
    while (s->p < s->end) {
        skip_blanks(s);
        if (!at_eol(s) && !parse_statement(s, g, list))
            return false;
        while (s->p < s->end && *s->p != '\n')
            s->p++; /* the rest is a comment: the statement checked its own end */
        if (s->p < s->end)
            s->p++;
        s->line++;
        s->line_start = s->p;
    }
    return true;
}

rg_graph *rg_patch_parse(const rg_registry *reg, const char *text, size_t len, const char *file,
                         rg_error *err)
{
    rg_error local;
    if (!err)
        err = &local;
    scanner s = {.file = file ? file : "<patch>", .p = text, .end = text + len,
                 .line_start = text, .line = 1, .err = err};
    /* A UTF-8 byte order mark is not part of the first statement. */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        s.p = s.line_start = text + 3;
    if (!check_encoding(&s))
        return NULL;
    s.line = 1;
    s.line_start = s.p;
    rg_graph *g = rg_graph_new(reg, s.file);
    if (!g) {
        rg_error_set(err, RG_ERR_INTERNAL, s.file, 0, 0, "out of memory");
        return NULL;
    }
    deferred_list list = {0};
    bool ok = parse_lines(&s, g, &list) && apply_deferred(&s, g, &list);
    free_deferred(&list);
    if (!ok) {
        rg_graph_free(g);
        return NULL;
    }
    return g;
}

rg_graph *rg_patch_load(const rg_registry *reg, const char *path, rg_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        rg_error_set(err, RG_ERR_IO, path, 0, 0, "cannot open: %s", strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            char *bigger = (cap < (64u << 20)) ? realloc(buf, cap * 2) : NULL;
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    bool read_error = ferror(f);
    fclose(f);
    if (!buf || read_error) {
        free(buf);
        rg_error_set(err, RG_ERR_IO, path, 0, 0, buf ? "read error" : "file too large or out of memory");
        return NULL;
    }
    rg_graph *g = rg_patch_parse(reg, buf, len, path, err);
    free(buf);
    return g;
}
