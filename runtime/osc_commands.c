/* The OSC address table (DESIGN.md section 4). Each handler checks its
 * arguments, makes its change through the live engine's all-or-nothing
 * edits, and says why in a /fail when it cannot: an error never changes
 * anything. */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "graph/patch.h"
#include "runtime/osc_internal.h"

#define MAX_MATCHES 64

static bool fail(rg_osc_cmd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(rg_osc_cmd *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof c->why, fmt, ap);
    va_end(ap);
    return false;
}

static bool fail_err(rg_osc_cmd *c, const rg_error *err)
{
    if (err->line > 0)
        rg_error_format(err, c->why, sizeof c->why);
    else
        snprintf(c->why, sizeof c->why, "%s", err->message);
    return false;
}

/* ---- argument checks ----------------------------------------------------- */

static bool is_string(char t) { return t == 's' || t == 'S'; }
static bool is_number(char t) { return t == 'i' || t == 'f' || t == 'd' || t == 'h'; }

/* An OSC float is 32 bits: 0.1f is 0.100000001490116. Keep the 7 digits it
 * carries so a saved patch says amp=0.1. */
static double float_value(float f)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%.7g", f);
    return strtod(buf, NULL);
}

static double number(char t, const lo_arg *a)
{
    switch (t) {
    case 'i': return a->i;
    case 'h': return (double)a->h;
    case 'f': return float_value(a->f);
    default: return a->d;
    }
}

/* `spec`: s string, n number, v any value, one letter per argument; a
 * trailing '*' allows more. */
static bool check_args(rg_osc_cmd *c, const char *spec, const char *what)
{
    int n = 0;
    bool more = false;
    for (const char *p = spec; *p; p++, n++) {
        if (*p == '*') {
            more = true;
            break;
        }
        bool ok = n < c->argc && (*p == 'v' || (*p == 's' && is_string(c->types[n])) ||
                                  (*p == 'n' && is_number(c->types[n])));
        if (!ok)
            return fail(c, "expects %s; got ,%s", what, c->types);
    }
    if (!more && c->argc != n)
        return fail(c, "expects %s; got ,%s", what, c->types);
    return true;
}

static const char *str_arg(const rg_osc_cmd *c, int i) { return &c->argv[i]->s; }

/* ---- values the way controllers send them ---------------------------------- */

/* A 0..1 fader onto the parameter's declared range. */
static bool normalized(rg_osc_cmd *c, const rg_param_def *def, char t, const lo_arg *a, rg_literal *lit)
{
    if (!is_number(t) || def->type == RG_PARAM_STRING || def->type == RG_PARAM_ENUM)
        return fail(c, "'%s/norm' takes a number from 0 to 1 for a numeric parameter", def->name);
    double v = number(t, a);
    if (!(v >= 0 && v <= 1))
        return fail(c, "'%s/norm' takes 0..1, not %g", def->name, v);
    if (def->type == RG_PARAM_BOOL)
        *lit = (rg_literal){RG_LIT_BOOL, v >= 0.5, NULL};
    else if (def->type == RG_PARAM_INT)
        *lit = (rg_literal){RG_LIT_INT, round(def->min + v * (def->max - def->min)), NULL};
    else
        *lit = (rg_literal){RG_LIT_FLOAT, def->min + v * (def->max - def->min), NULL};
    return true;
}

/* An OSC argument as a literal for `def`: an int where a float is wanted is
 * fine, a whole float where an int or bool is wanted is fine (TouchOSC sends
 * floats), and "true"/"false" strings work for bools. */
static bool literal_for(rg_osc_cmd *c, const rg_param_def *def, char t, const lo_arg *a, bool norm,
                        rg_literal *lit)
{
    if (norm)
        return normalized(c, def, t, a, lit);
    if (t == 'T' || t == 'F') {
        *lit = (rg_literal){RG_LIT_BOOL, t == 'T', NULL};
    } else if (is_number(t)) {
        double v = number(t, a);
        bool whole = v == floor(v) && fabs(v) < 1e15;
        bool as_int = t == 'i' || t == 'h' || (whole && def && def->type != RG_PARAM_FLOAT);
        *lit = (rg_literal){as_int ? RG_LIT_INT : RG_LIT_FLOAT, v, NULL};
    } else if (is_string(t)) {
        const char *s = &a->s;
        if (def && def->type == RG_PARAM_BOOL && (!strcmp(s, "true") || !strcmp(s, "false")))
            *lit = (rg_literal){RG_LIT_BOOL, s[0] == 't', NULL};
        else
            *lit = (rg_literal){def && def->type == RG_PARAM_ENUM ? RG_LIT_WORD : RG_LIT_STRING, 0, s};
    } else {
        return fail(c, "cannot use an OSC '%c' argument as a value", t);
    }
    return true;
}

static const rg_param_def *param_def(const rg_graph *g, const char *node, const char *param)
{
    int ni = rg_graph_find_node(g, node);
    int pi = ni >= 0 ? rg_node_type_param(g->nodes[ni].type, param) : -1;
    return pi >= 0 ? &g->nodes[ni].type->params[pi] : NULL;
}

/* ---- commands ---------------------------------------------------------------- */

static bool cmd_ping(rg_osc_cmd *c)
{
    if (!check_args(c, "", "no arguments"))
        return false;
    lo_message m = lo_message_new();
    rg_osc_send(c->o, c->from, "/pong", m);
    lo_message_free(m);
    return true;
}

static bool cmd_sync(rg_osc_cmd *c)
{
    if (!check_args(c, "n", ",i id"))
        return false;
    return rg_osc_sync_wait(c->o, c->from, (int)number(c->types[0], c->argv[0]), c->why, sizeof c->why);
}

static bool cmd_status(rg_osc_cmd *c)
{
    if (!check_args(c, "", "no arguments"))
        return false;
    rg_live_status st;
    rg_live_get_status(rg_osc_live(c->o), &st);
    lo_message m = lo_message_new();
    lo_message_add_float(m, (float)st.tempo);
    lo_message_add_int64(m, (int64_t)st.position);
    lo_message_add_double(m, st.beat);
    lo_message_add_int32(m, st.playing);
    lo_message_add_int32(m, st.nodes);
    lo_message_add_int32(m, (int32_t)st.xruns);
    lo_message_add_int32(m, st.jobs);
    rg_osc_send(c->o, c->from, "/status.reply", m);
    lo_message_free(m);
    return true;
}

static bool cmd_notify(rg_osc_cmd *c)
{
    if (!check_args(c, "n", ",i 0 or 1"))
        return false;
    if (!rg_osc_subscribe(c->o, c->from, number(c->types[0], c->argv[0]) != 0, c->why, sizeof c->why))
        return false;
    rg_osc_reply_done(c);
    return true;
}

/* Edit a copy, and hand it over only if every step worked. */
static bool apply_clone(rg_osc_cmd *c, rg_graph *g, bool ok, const rg_error *err)
{
    if (!ok) {
        rg_graph_free(g);
        return fail_err(c, err);
    }
    rg_error e2 = {0};
    if (!rg_live_apply(rg_osc_live(c->o), g, c->when, &e2))
        return fail_err(c, &e2);
    rg_osc_reply_done(c);
    return true;
}

static rg_graph *clone_live(rg_osc_cmd *c)
{
    rg_graph *g = rg_graph_clone(rg_live_graph(rg_osc_live(c->o)));
    if (!g)
        fail(c, "out of memory");
    return g;
}

static bool cmd_node_add(rg_osc_cmd *c)
{
    if (!check_args(c, "ss*", ",ss name type, then name/value pairs"))
        return false;
    if ((c->argc - 2) % 2)
        return fail(c, "parameters come in name/value pairs; got ,%s", c->types);
    rg_graph *g = clone_live(c);
    if (!g)
        return false;
    rg_error err = {0};
    const char *name = str_arg(c, 0);
    bool ok = rg_graph_add_node(g, name, str_arg(c, 1), NULL, &err);
    for (int i = 2; ok && i < c->argc; i += 2) {
        if (!is_string(c->types[i])) {
            rg_graph_free(g);
            return fail(c, "argument %d should be a parameter name; got ,%s", i + 1, c->types);
        }
        rg_literal lit;
        if (!literal_for(c, param_def(g, name, str_arg(c, i)), c->types[i + 1], c->argv[i + 1], false, &lit)) {
            rg_graph_free(g);
            return false;
        }
        ok = rg_graph_set_param(g, name, str_arg(c, i), &lit, NULL, &err);
    }
    return apply_clone(c, g, ok, &err);
}

static bool cmd_node_remove(rg_osc_cmd *c)
{
    if (!check_args(c, "s", ",s name"))
        return false;
    rg_graph *g = clone_live(c);
    rg_error err = {0};
    return g && apply_clone(c, g, rg_graph_remove_node(g, str_arg(c, 0), &err), &err);
}

/* "node.port" into its halves (in `buf`). */
static bool split_port(rg_osc_cmd *c, const char *s, char *buf, size_t size, char **port)
{
    const char *dot = strchr(s, '.');
    if (!dot || dot == s || !dot[1] || strlen(s) >= size)
        return fail(c, "'%s' should be node.port", s);
    memcpy(buf, s, strlen(s) + 1);
    buf[dot - s] = 0;
    *port = buf + (dot - s) + 1;
    return true;
}

static bool cmd_cable(rg_osc_cmd *c, bool connect)
{
    if (!check_args(c, "ss", ",ss \"a.port\" \"b.port\""))
        return false;
    char src[256], dst[256], *sp, *dp;
    if (!split_port(c, str_arg(c, 0), src, sizeof src, &sp) ||
        !split_port(c, str_arg(c, 1), dst, sizeof dst, &dp))
        return false;
    rg_graph *g = clone_live(c);
    if (!g)
        return false;
    rg_error err = {0};
    bool ok = connect ? rg_graph_connect(g, src, sp, dst, dp, NULL, &err)
                      : rg_graph_disconnect(g, src, sp, dst, dp, &err);
    return apply_clone(c, g, ok, &err);
}

static bool cmd_connect(rg_osc_cmd *c) { return cmd_cable(c, true); }
static bool cmd_disconnect(rg_osc_cmd *c) { return cmd_cable(c, false); }

static bool set_one(rg_osc_cmd *c, const char *node, const char *param, int arg, bool norm)
{
    rg_live *lv = rg_osc_live(c->o);
    rg_literal lit;
    if (!literal_for(c, param_def(rg_live_graph(lv), node, param), c->types[arg], c->argv[arg], norm, &lit))
        return false;
    rg_error err = {0};
    if (!rg_live_set(lv, node, param, &lit, c->when, &err))
        return fail_err(c, &err);
    return true;
}

static bool cmd_set(rg_osc_cmd *c)
{
    if (!check_args(c, "ssv", ",ss + value: node, param, value"))
        return false;
    if (!set_one(c, str_arg(c, 0), str_arg(c, 1), 2, false))
        return false;
    rg_osc_reply_done(c);
    return true;
}

static bool cmd_tempo(rg_osc_cmd *c)
{
    if (!check_args(c, "n", ",f bpm"))
        return false;
    rg_error err = {0};
    if (!rg_live_set_tempo(rg_osc_live(c->o), number(c->types[0], c->argv[0]), c->when, &err))
        return fail_err(c, &err);
    rg_osc_reply_done(c);
    return true;
}

/* A push button sends 1 when pressed and 0 when released, and TouchOSC Mk1
 * cannot send a message without a value: a trigger takes no argument or one
 * number and acts on a non-zero one. A release is answered /done and does
 * nothing. */
static bool trigger(rg_osc_cmd *c, const char *what, bool *pressed)
{
    *pressed = true;
    if (c->argc == 0)
        return true;
    if (c->argc == 1 && is_number(c->types[0])) {
        *pressed = number(c->types[0], c->argv[0]) != 0;
        return true;
    }
    return fail(c, "expects %s; got ,%s", what, c->types);
}

static bool transport(rg_osc_cmd *c, bool playing)
{
    bool pressed;
    if (!trigger(c, "no arguments, or a button's 1/0", &pressed))
        return false;
    rg_error err = {0};
    if (pressed && !rg_live_transport(rg_osc_live(c->o), playing, c->when, &err))
        return fail_err(c, &err);
    rg_osc_reply_done(c);
    return true;
}

static bool cmd_start(rg_osc_cmd *c) { return transport(c, true); }
static bool cmd_stop(rg_osc_cmd *c) { return transport(c, false); }

/* ---- patch files: only inside the patch directory ----------------------------- */

static bool inside(const char *dir_real, const char *path_real)
{
    size_t n = strlen(dir_real);
    return strncmp(dir_real, path_real, n) == 0 && (path_real[n] == '/' || (n == 1 && dir_real[0] == '/'));
}

/* The full path of `rel` inside the patch directory, refusing absolute
 * paths, '..' and symbolic links that lead out. `must_exist` for reading. */
static bool patch_path(rg_osc_cmd *c, const char *rel, bool must_exist, char *out)
{
    if (!rel[0] || rel[0] == '/')
        return fail(c, "give a path relative to the patch directory, not '%s'", rel);
    for (const char *p = rel; *p; p = strchr(p, '/') ? strchr(p, '/') + 1 : p + strlen(p))
        if (strncmp(p, "..", 2) == 0 && (p[2] == '/' || !p[2]))
            return fail(c, "'%s' leaves the patch directory ('..' is not allowed)", rel);
    char dir_real[PATH_MAX], full[PATH_MAX], target[PATH_MAX];
    if (!realpath(rg_live_base_dir(rg_osc_live(c->o)), dir_real))
        return fail(c, "the patch directory is gone");
    if (snprintf(full, sizeof full, "%s/%s", dir_real, rel) >= (int)sizeof full)
        return fail(c, "path too long");
    if (must_exist) {
        if (!realpath(full, target))
            return fail(c, "cannot read '%s': no such file", rel);
    } else {
        /* The file may not exist yet: check where its directory really is. */
        char parent[PATH_MAX];
        snprintf(parent, sizeof parent, "%s", full);
        *strrchr(parent, '/') = 0;
        if (!realpath(parent, target))
            return fail(c, "cannot write '%s': no such directory", rel);
        strncat(target, "/x", sizeof target - strlen(target) - 1);
    }
    if (!inside(dir_real, target))
        return fail(c, "'%s' leads out of the patch directory (symbolic link)", rel);
    snprintf(out, PATH_MAX, "%s", full);
    return true;
}

static bool cmd_patch_load(rg_osc_cmd *c)
{
    if (!check_args(c, "s", ",s path"))
        return false;
    char path[PATH_MAX];
    if (!patch_path(c, str_arg(c, 0), true, path))
        return false;
    rg_error err = {0};
    rg_graph *g = rg_patch_load(rg_builtin_registry(), path, &err);
    if (!g)
        return fail_err(c, &err);
    rg_live_when when = c->when;
    when.at_bar = true; /* a new patch comes in on the bar line */
    if (!rg_live_apply(rg_osc_live(c->o), g, when, &err))
        return fail_err(c, &err);
    rg_osc_reply_done(c);
    return true;
}

static bool cmd_patch_save(rg_osc_cmd *c)
{
    if (!check_args(c, "s", ",s path"))
        return false;
    char path[PATH_MAX];
    if (!patch_path(c, str_arg(c, 0), false, path))
        return false;
    rg_error err = {0};
    if (!rg_patch_save(rg_live_graph(rg_osc_live(c->o)), path, &err))
        return fail_err(c, &err);
    rg_osc_reply_done(c);
    return true;
}

/* /regen node [prompt]: a new take, made on the generation worker; it
 * plays from the node's next bar line, and subscribers hear /take. */
static bool cmd_regen(rg_osc_cmd *c)
{
    if (!check_args(c, "s*", ",s node, then an optional ,s prompt"))
        return false;
    if (c->argc > 2 || (c->argc == 2 && !is_string(c->types[1])))
        return fail(c, "expects ,s node, then an optional ,s prompt; got ,%s", c->types);
    rg_live *lv = rg_osc_live(c->o);
    rg_error err = {0};
    if (c->argc == 2) {
        rg_literal prompt = {RG_LIT_STRING, 0, str_arg(c, 1)};
        if (!rg_live_set(lv, str_arg(c, 0), "prompt", &prompt, c->when, &err))
            return fail_err(c, &err);
    }
    if (!rg_live_regen(lv, str_arg(c, 0), &err))
        return fail_err(c, &err);
    rg_osc_reply_done(c);
    return true;
}

/* /lock node 0/1: a locked node keeps its take when what it hears changes;
 * only /regen replaces it. The node's own `lock` parameter. */
static bool cmd_lock(rg_osc_cmd *c)
{
    if (!check_args(c, "sv", ",si node 0/1"))
        return false;
    rg_live *lv = rg_osc_live(c->o);
    const rg_param_def *def = param_def(rg_live_graph(lv), str_arg(c, 0), "lock");
    if (rg_graph_find_node(rg_live_graph(lv), str_arg(c, 0)) >= 0 && !def)
        return fail(c, "node '%s' has no lock (only nodes that make takes from their inputs do)", str_arg(c, 0));
    if (!set_one(c, str_arg(c, 0), "lock", 1, false))
        return false;
    rg_osc_reply_done(c);
    return true;
}

static bool history_step(rg_osc_cmd *c, bool redo)
{
    if (!check_args(c, "s", ",s node"))
        return false;
    rg_error err = {0};
    if (!rg_live_history(rg_osc_live(c->o), str_arg(c, 0), redo, &err))
        return fail_err(c, &err);
    rg_osc_reply_done(c);
    return true;
}

static bool cmd_undo(rg_osc_cmd *c) { return history_step(c, false); }
static bool cmd_redo(rg_osc_cmd *c) { return history_step(c, true); }

/* /take/select node id: the take of that id (from a /take event) plays
 * again from the next bar line, as undo and redo do. */
static bool cmd_take_select(rg_osc_cmd *c)
{
    if (!check_args(c, "sn", ",si node take-id"))
        return false;
    double id = number(c->types[1], c->argv[1]);
    if (!(id >= 1 && id == floor(id) && id < 9e15))
        return fail(c, "a take id is a whole number from 1 (as /take reports it), not %g", id);
    rg_error err = {0};
    if (!rg_live_select_take(rg_osc_live(c->o), str_arg(c, 0), (uint64_t)id, &err))
        return fail_err(c, &err);
    rg_osc_reply_done(c);
    return true;
}

/* /take/export node name: the node's take as NAME.wav in the output
 * directory; /done carries the path written. */
static bool cmd_take_export(rg_osc_cmd *c)
{
    if (!check_args(c, "ss", ",ss node name"))
        return false;
    char path[PATH_MAX];
    rg_error err = {0};
    if (!rg_live_export_take(rg_osc_live(c->o), str_arg(c, 0), rg_osc_out_dir(c->o), str_arg(c, 1),
                             path, sizeof path, &err))
        return fail_err(c, &err);
    const char *results[] = {path};
    rg_osc_reply_done_with(c, results, 1);
    return true;
}

typedef struct {
    char **paths;
    int n;
} path_list;

static void add_path(void *user, const char *path)
{
    path_list *l = user;
    char **grown = realloc(l->paths, (size_t)(l->n + 1) * sizeof *grown);
    if (!grown)
        return;
    l->paths = grown;
    if ((l->paths[l->n] = strdup(path)))
        l->n++;
}

/* /export [name]: every track's audio take as NAME-NODE.wav (the default
 * name is the local time, export-YYYYMMDD-HHMMSS); /done lists the paths. */
static bool cmd_export(rg_osc_cmd *c)
{
    if (c->argc > 1 || (c->argc == 1 && !is_string(c->types[0])))
        return fail(c, "expects an optional ,s name; got ,%s", c->types);
    char name[64];
    if (c->argc == 0) {
        time_t now = time(NULL);
        strftime(name, sizeof name, "export-%Y%m%d-%H%M%S", localtime(&now));
    }
    path_list files = {0};
    rg_error err = {0};
    bool ok = rg_live_export_stems(rg_osc_live(c->o), rg_osc_out_dir(c->o),
                                   c->argc ? str_arg(c, 0) : name, add_path, &files, &err);
    if (ok)
        rg_osc_reply_done_with(c, (const char *const *)files.paths, files.n);
    else
        fail_err(c, &err);
    for (int i = 0; i < files.n; i++)
        free(files.paths[i]);
    free(files.paths);
    return ok;
}

/* A handler answers the sender itself on success (/done, /pong, ...) and
 * returns false with the reason in c->why for a /fail. */
typedef struct {
    const char *path;
    bool (*run)(rg_osc_cmd *c);
} command;

static const command commands[] = {
    {"/ping", cmd_ping},
    {"/sync", cmd_sync},
    {"/status", cmd_status},
    {"/notify", cmd_notify},
    {"/node/add", cmd_node_add},
    {"/node/remove", cmd_node_remove},
    {"/connect", cmd_connect},
    {"/disconnect", cmd_disconnect},
    {"/set", cmd_set},
    {"/tempo", cmd_tempo},
    {"/transport/start", cmd_start},
    {"/transport/stop", cmd_stop},
    {"/patch/load", cmd_patch_load},
    {"/patch/save", cmd_patch_save},
    {"/regen", cmd_regen},
    {"/lock", cmd_lock},
    {"/undo", cmd_undo},
    {"/redo", cmd_redo},
    {"/take/select", cmd_take_select},
    {"/take/export", cmd_take_export},
    {"/export", cmd_export},
};

/* ---- /<node>/<param> --------------------------------------------------------- */

static bool has_pattern(const char *s) { return strpbrk(s, "*?[]{}") != NULL; }

typedef struct {
    int node, param;
    bool norm;
} match;

/* Every /node/param (and /node/param/norm) the pattern matches. */
static int match_params(const rg_graph *g, const char *pattern, match *out)
{
    int n = 0;
    char addr[512];
    for (int i = 0; i < g->n_nodes; i++) {
        const rg_node_type *t = g->nodes[i].type;
        for (int p = 0; p < t->n_params && n < MAX_MATCHES; p++) {
            for (int norm = 0; norm < 2 && n < MAX_MATCHES; norm++) {
                snprintf(addr, sizeof addr, "/%s/%s%s", g->nodes[i].name, t->params[p].name,
                         norm ? "/norm" : "");
                if (lo_pattern_match(addr, pattern))
                    out[n++] = (match){i, p, norm != 0};
            }
        }
    }
    return n;
}

/* Explain why a plain /a/b found nothing: which name is wrong and the
 * nearest right one. */
static bool explain_miss(rg_osc_cmd *c, const rg_graph *g)
{
    char node[256], rest[256] = "";
    if (sscanf(c->path, "/%255[^/]/%255s", node, rest) < 2 || has_pattern(c->path)) {
        if (has_pattern(c->path))
            return fail(c, "the pattern matches no node parameter");
        rg_suggest s;
        rg_suggest_init(&s, c->path);
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
            rg_suggest_try(&s, commands[i].path);
        char hint[128];
        rg_suggest_phrase(&s, hint, sizeof hint);
        return fail(c, "unknown address%s", hint);
    }
    char hint[128];
    rg_suggest s;
    rg_suggest_init(&s, node);
    int ni = rg_graph_find_node(g, node);
    if (ni < 0) {
        for (int i = 0; i < g->n_nodes; i++)
            rg_suggest_try(&s, g->nodes[i].name);
        rg_suggest_phrase(&s, hint, sizeof hint);
        return fail(c, "unknown node '%s'%s", node, hint);
    }
    char *slash = strchr(rest, '/');
    if (slash)
        *slash = 0;
    const rg_node_type *t = g->nodes[ni].type;
    rg_suggest_init(&s, rest);
    for (int p = 0; p < t->n_params; p++)
        rg_suggest_try(&s, t->params[p].name);
    rg_suggest_phrase(&s, hint, sizeof hint);
    return fail(c, "node '%s' (%s) has no parameter '%s'%s", node, t->name, rest, hint);
}

/* /drums/gain 0.8, /mix/gain2/norm 0.5, or a pattern such as "/ * /gain" (no spaces): every
 * match changes or none does. */
static bool cmd_param(rg_osc_cmd *c)
{
    const rg_graph *g = rg_live_graph(rg_osc_live(c->o));
    match m[MAX_MATCHES];
    int n = match_params(g, c->path, m);
    if (n == 0)
        return explain_miss(c, g);
    if (c->argc != 1)
        return fail(c, "expects one value; got ,%s", c->types);
    for (int i = 0; i < n; i++) {
        const rg_param_def *def = &g->nodes[m[i].node].type->params[m[i].param];
        rg_literal lit;
        rg_value tmp = {0};
        if (!literal_for(c, def, c->types[0], c->argv[0], m[i].norm, &lit))
            return false;
        bool ok = rg_value_from_literal(def, &lit, &tmp, c->why, sizeof c->why);
        rg_value_clear(&tmp);
        if (!ok)
            return false;
    }
    for (int i = 0; i < n; i++) {
        /* Names copied: a rebuild replaces the graph they live in. */
        char node[256], param[256];
        snprintf(node, sizeof node, "%s", rg_live_graph(rg_osc_live(c->o))->nodes[m[i].node].name);
        snprintf(param, sizeof param, "%s", g->nodes[m[i].node].type->params[m[i].param].name);
        if (!set_one(c, node, param, 0, m[i].norm))
            return false;
        g = rg_live_graph(rg_osc_live(c->o));
    }
    rg_osc_reply_done(c);
    return true;
}

/* /drums/regen [1]: /regen drums the way a button sends it. NULL node name
 * when the address is not of that form. */
static bool node_regen_path(const char *path, char *node, size_t size)
{
    const char *slash = strrchr(path, '/');
    size_t len = slash ? (size_t)(slash - path - 1) : 0;
    if (!slash || slash == path || strcmp(slash, "/regen") != 0 || has_pattern(path) ||
        len >= size || memchr(path + 1, '/', len))
        return false;
    memcpy(node, path + 1, len);
    node[len] = '\0';
    return true;
}

static bool cmd_node_regen(rg_osc_cmd *c, const char *node)
{
    bool pressed;
    if (!trigger(c, "no arguments, or a button's 1/0", &pressed))
        return false;
    rg_error err = {0};
    if (pressed && !rg_live_regen(rg_osc_live(c->o), node, &err))
        return fail_err(c, &err);
    rg_osc_reply_done(c);
    return true;
}

void rg_osc_handle(rg_osc_cmd *c)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(c->path, commands[i].path) != 0)
            continue;
        if (!commands[i].run(c))
            rg_osc_reply_fail(c);
        return;
    }
    char node[256];
    bool ok = node_regen_path(c->path, node, sizeof node) ? cmd_node_regen(c, node) : cmd_param(c);
    if (!ok)
        rg_osc_reply_fail(c);
}
