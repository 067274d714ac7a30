#include "runtime/live.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/engine.h"
#include "runtime/export.h"
#include "runtime/generate.h"
#include "runtime/history.h"
#include "runtime/spsc_ring.h"

/* A running configuration: the engine and where its output nodes go. Built
 * by the control thread, owned by the audio thread from the moment it is
 * queued until it comes back retired. */
typedef struct {
    rg_engine *engine;
    int slot_node[RG_LIVE_MAX_OUTPUTS]; /* engine node index per slot, or -1 */
    int in_slot_node[RG_LIVE_MAX_INPUTS]; /* the same for `input` nodes */
} live_state;

enum { MSG_SWAP, MSG_SET, MSG_TEMPO, MSG_TRANSPORT, MSG_SYNC };

#define NAME_MAX_LEN 64

/* One command to the audio thread. Sets name their node rather than point at
 * a state: a timed set may fire after the state it was aimed at is gone. */
typedef struct {
    int kind;
    bool at_bar;
    uint64_t at_frame;
    live_state *state;          /* SWAP */
    char node[NAME_MAX_LEN];    /* SET */
    const rg_node_type *type;   /* SET: the parameter index is only valid for this type */
    int param;                  /* SET */
    double value;               /* SET value, TEMPO bpm, TRANSPORT 0/1 */
    int meter_num, meter_den;   /* TEMPO */
    uint64_t cookie;            /* SYNC */
} live_msg;

enum { NOTE_RETIRE, NOTE_SYNCED };
typedef struct {
    int kind;
    live_state *state;
    uint64_t cookie;
} live_note;

/* Swaps queued for one bar line; the control thread keeps fewer in flight. */
#define MAX_BAR_SWAPS 64
#define MAX_SWAPS_IN_FLIGHT MAX_BAR_SWAPS
#define MAX_SYNCS 64

/* What the audio thread owns. */
typedef struct {
    live_state *running;
    rg_transport transport;
    uint64_t clock;                       /* frames run since the start */
    live_msg sched[RG_LIVE_MAX_SCHEDULED]; /* timed commands, sorted by at_frame */
    int n_sched;
    live_msg bar[MAX_BAR_SWAPS + 2];      /* waiting for the bar line, in arrival order */
    int n_bar;
    double bar_target;                    /* the beat they wait for */
    uint64_t syncs[MAX_SYNCS];            /* echoed once nothing is waiting */
    int n_syncs;
} audio_side;

#define MAX_EVENTS 64

/* The generation worker and what it tells the control thread. */
typedef struct {
    pthread_t thread;
    bool started;
    /* Held while generate() runs on the newest state; the control thread
     * takes it (after setting job.cancel) to build or free states. */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;
    rg_job job;
    atomic_uint changes;       /* bumped by every edit, set and /regen */
    bool failed;               /* the last pass failed ... */
    unsigned failed_at;        /* ... at this change count: wait for another */
    atomic_bool busy;
    pthread_mutex_t ev_lock;
    rg_live_event events[MAX_EVENTS];
    int n_events;
    /* the last progress posted (worker thread only): see on_progress */
    char progress_node[sizeof ((rg_live_event *)0)->node];
    double progress_posted;
    void (*hook)(void *user, const rg_live_event *ev);
    void *hook_user;
} gen_side;

struct rg_live {
    /* control thread */
    rg_graph *graph;          /* as it will be once every queued edit is applied */
    live_state *latest;       /* the newest state handed to the audio thread */
    rg_host_info host;
    char *base_dir;
    char *slot_names[RG_LIVE_MAX_OUTPUTS];
    char *in_slot_names[RG_LIVE_MAX_INPUTS];
    rg_live_output_hook hook;
    void *hook_user;
    int swaps_in_flight;      /* queued and not yet retired */
    int notes_owed;           /* commands that will answer through `notes` */
    uint64_t last_swap_frame; /* later swaps never overtake earlier ones */
    bool last_swap_bar;

    rg_spsc_ring cmds;        /* control -> audio, live_msg */
    rg_spsc_ring notes;       /* audio -> control, live_note */

    audio_side a;
    gen_side gen;

    /* published by the audio thread for /status and time tags */
    _Atomic unsigned clock_seq;
    _Atomic uint64_t pub_frame, pub_ns;
    _Atomic double pub_tempo, pub_beat;
    _Atomic uint64_t pub_position;
    _Atomic bool pub_playing;
    _Atomic int pub_scheduled;
    _Atomic uint64_t xruns, swaps, dropped;
};

static void gen_pause(rg_live *lv);
static void gen_resume(rg_live *lv);

/* ---- states (control thread) ---------------------------------------------- */

static void state_free(live_state *s)
{
    if (!s)
        return;
    rg_engine_free(s->engine);
    free(s);
}

static bool is_input(const rg_node_type *t) { return strcmp(t->name, "input") == 0; }

static int find_slot(char *const *names, int n, const char *name)
{
    for (int s = 0; s < n; s++)
        if (names[s] && strcmp(names[s], name) == 0)
            return s;
    return -1;
}

/* Give a node a slot in `names` unless it has one; slots are never taken
 * back, so ports keep their connections across edits. */
static bool assign_slot(rg_live *lv, char **names, int n, const char *name, bool input, rg_error *err)
{
    if (find_slot(names, n, name) >= 0)
        return true;
    int free_slot = -1;
    for (int s = 0; s < n && free_slot < 0; s++)
        if (!names[s])
            free_slot = s;
    if (free_slot < 0)
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0,
                            "a live session has room for %d %s nodes; '%s' is one too many", n,
                            input ? "input" : "output", name);
    if (!(names[free_slot] = strdup(name)))
        return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    if (lv->hook)
        lv->hook(lv->hook_user, free_slot, name, input);
    return true;
}

/* Every output and input node of `g` gets its slot. */
static bool assign_slots(rg_live *lv, const rg_graph *g, rg_error *err)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const rg_graph_node *gn = &g->nodes[i];
        bool ok = true;
        if (gn->type->sink_channels > 0)
            ok = assign_slot(lv, lv->slot_names, RG_LIVE_MAX_OUTPUTS, gn->name, false, err);
        else if (is_input(gn->type))
            ok = assign_slot(lv, lv->in_slot_names, RG_LIVE_MAX_INPUTS, gn->name, true, err);
        if (!ok)
            return false;
    }
    return true;
}

static live_state *state_build(rg_live *lv, const rg_graph *g, rg_error *err)
{
    if (!assign_slots(lv, g, err))
        return NULL;
    live_state *s = calloc(1, sizeof *s);
    if (!s) {
        rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
        return NULL;
    }
    const rg_graph *prev_graph = lv->latest ? lv->graph : NULL;
    rg_engine *prev = lv->latest ? lv->latest->engine : NULL;
    s->engine = rg_engine_new_carry(g, &lv->host, prev, prev_graph, err);
    if (!s->engine) {
        free(s);
        return NULL;
    }
    for (int slot = 0; slot < RG_LIVE_MAX_OUTPUTS; slot++)
        s->slot_node[slot] = lv->slot_names[slot] ? rg_engine_find_node(s->engine, lv->slot_names[slot]) : -1;
    for (int slot = 0; slot < RG_LIVE_MAX_INPUTS; slot++)
        s->in_slot_node[slot] = lv->in_slot_names[slot] ? rg_engine_find_node(s->engine, lv->in_slot_names[slot]) : -1;
    return s;
}

/* ---- queues (control thread) ------------------------------------------------ */

static bool queue_has_room(rg_live *lv, int msgs, rg_error *err)
{
    if (rg_spsc_writable(&lv->cmds) >= (size_t)msgs * sizeof(live_msg) &&
        lv->notes_owed + msgs <= RG_LIVE_QUEUE_LEN)
        return true;
    atomic_fetch_add_explicit(&lv->dropped, 1, memory_order_relaxed);
    return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0,
                        "busy: %d commands are waiting for the audio thread; try again",
                        RG_LIVE_QUEUE_LEN);
}

static void push(rg_live *lv, const live_msg *m)
{
    /* Room was checked first; this cannot fail. */
    rg_spsc_write(&lv->cmds, m, sizeof *m);
    if (m->kind == MSG_SWAP || m->kind == MSG_SYNC)
        lv->notes_owed++;
}

/* Swaps happen in the order they were made: a state carries over the nodes of
 * the one before it, so it must not run before it. */
static void order_swap(rg_live *lv, live_msg *m)
{
    if (lv->swaps_in_flight == 0) {
        lv->last_swap_frame = 0;
        lv->last_swap_bar = false;
    }
    if (m->at_frame < lv->last_swap_frame)
        m->at_frame = lv->last_swap_frame;
    m->at_bar = m->at_bar || lv->last_swap_bar;
    lv->last_swap_frame = m->at_frame;
    lv->last_swap_bar = m->at_bar;
}

static bool push_swap(rg_live *lv, rg_graph *g, rg_live_when when, rg_error *err)
{
    if (lv->swaps_in_flight >= MAX_SWAPS_IN_FLIGHT)
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0,
                            "busy: %d edits are waiting for their bar line; try again",
                            MAX_SWAPS_IN_FLIGHT);
    gen_pause(lv);
    live_state *s = state_build(lv, g, err);
    if (!s) {
        atomic_store(&lv->gen.job.cancel, false);
        pthread_mutex_unlock(&lv->gen.lock);
        return false;
    }
    live_msg m = {.kind = MSG_SWAP, .at_frame = when.at_frame, .at_bar = when.at_bar, .state = s};
    order_swap(lv, &m);
    push(lv, &m);
    lv->swaps_in_flight++;
    lv->latest = s;
    rg_graph_free(lv->graph);
    lv->graph = g;
    gen_resume(lv);
    return true;
}

static void push_tempo(rg_live *lv, double bpm, int num, int den, rg_live_when when)
{
    live_msg m = {.kind = MSG_TEMPO, .at_frame = when.at_frame, .at_bar = true, .value = bpm,
                  .meter_num = num, .meter_den = den};
    push(lv, &m);
}

/* ---- generation worker ------------------------------------------------------ */

static void post_event(rg_live *lv, const rg_live_event *ev)
{
    gen_side *g = &lv->gen;
    pthread_mutex_lock(&g->ev_lock);
    /* Progress is only a hint: it never crowds out takes and errors. */
    bool room = ev->kind == RG_LIVE_PROGRESS ? g->n_events < MAX_EVENTS / 2 : g->n_events < MAX_EVENTS;
    if (room)
        g->events[g->n_events++] = *ev;
    pthread_mutex_unlock(&g->ev_lock);
}

/* A controller's progress bar needs a percent at a time, not a message a
 * frame (a 4-bar take is 400 frames): a node's progress is posted when it
 * starts, ends, goes back, or has moved a percent since the last one posted. */
static bool progress_worth_posting(gen_side *g, const rg_node *node, double fraction)
{
    bool same = strcmp(g->progress_node, node->name) == 0;
    bool ends = fraction >= 1.0 && g->progress_posted < 1.0;
    if (same && !ends && fraction >= g->progress_posted && fraction - g->progress_posted < 0.01)
        return false; /* (a take started again goes back, and is posted) */
    snprintf(g->progress_node, sizeof g->progress_node, "%s", node->name);
    g->progress_posted = fraction;
    return true;
}

static void on_progress(rg_job *job, const rg_node *node, double fraction)
{
    rg_live *lv = job->user;
    if (!progress_worth_posting(&lv->gen, node, fraction))
        return;
    rg_live_event ev = {.kind = RG_LIVE_PROGRESS, .fraction = fraction};
    snprintf(ev.node, sizeof ev.node, "%s", node->name);
    post_event(lv, &ev);
}

static uint64_t take_id(rg_node *n)
{
    rg_data *d = atomic_load(&n->data_out[0]);
    return d ? d->id : 0;
}

/* One pass over the newest state; a /take for every node whose output
 * changed, an /error when a node fails. Called with gen.lock held. */
static void gen_run(rg_live *lv)
{
    gen_side *g = &lv->gen;
    rg_engine *e = lv->latest->engine;
    int n = rg_engine_node_count(e);
    uint64_t *before = calloc(n ? n : 1, sizeof *before);
    for (int i = 0; before && i < n; i++)
        before[i] = take_id(rg_engine_node(e, i));
    unsigned changes = atomic_load(&g->changes);
    g->job.transport = rg_engine_transport(e);
    g->job.host = &lv->host;
    rg_error err = {0};
    atomic_store(&g->busy, true);
    bool ok = rg_engine_generate(e, &g->job, NULL, &err);
    atomic_store(&g->busy, false);
    g->failed = !ok && err.code != RG_ERR_NONE;
    g->failed_at = changes;
    for (int i = 0; before && i < n; i++) {
        rg_node *node = rg_engine_node(e, i);
        if (take_id(node) == before[i])
            continue;
        rg_live_event ev = {.kind = RG_LIVE_TAKE, .take = (int64_t)take_id(node)};
        snprintf(ev.node, sizeof ev.node, "%s", node->name);
        post_event(lv, &ev);
    }
    free(before);
    if (g->failed) {
        rg_live_event ev = {.kind = RG_LIVE_ERROR};
        snprintf(ev.node, sizeof ev.node, "%s", "generate");
        rg_error_format(&err, ev.why, sizeof ev.why);
        post_event(lv, &ev);
    }
}

static bool gen_has_work(rg_live *lv)
{
    gen_side *g = &lv->gen;
    if (atomic_load(&g->job.cancel) || (g->failed && atomic_load(&g->changes) == g->failed_at))
        return false;
    return rg_engine_generation_pending(lv->latest->engine);
}

static void *gen_worker(void *arg)
{
    rg_live *lv = arg;
    gen_side *g = &lv->gen;
    pthread_mutex_lock(&g->lock);
    while (!g->stop) {
        if (gen_has_work(lv)) {
            gen_run(lv);
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 50 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_nsec -= 1000000000L;
            until.tv_sec++;
        }
        pthread_cond_timedwait(&g->wake, &g->lock, &until);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

/* Stop generate() (it checks job.cancel) and keep it stopped while the
 * control thread moves takes between states or frees them. */
static void gen_pause(rg_live *lv)
{
    atomic_store(&lv->gen.job.cancel, true);
    pthread_mutex_lock(&lv->gen.lock);
}

static void gen_resume(rg_live *lv)
{
    atomic_store(&lv->gen.job.cancel, false);
    atomic_fetch_add(&lv->gen.changes, 1);
    pthread_cond_signal(&lv->gen.wake);
    pthread_mutex_unlock(&lv->gen.lock);
}

static bool gen_start(rg_live *lv)
{
    gen_side *g = &lv->gen;
    g->job.on_progress = on_progress;
    g->job.user = lv;
    atomic_init(&g->job.cancel, false);
    g->started = pthread_create(&g->thread, NULL, gen_worker, lv) == 0;
    return g->started;
}

static void gen_stop(rg_live *lv)
{
    gen_side *g = &lv->gen;
    if (!g->started)
        return;
    atomic_store(&g->job.cancel, true);
    pthread_mutex_lock(&g->lock);
    g->stop = true;
    pthread_cond_signal(&g->wake);
    pthread_mutex_unlock(&g->lock);
    pthread_join(g->thread, NULL);
    g->started = false;
}

void rg_live_set_event_hook(rg_live *lv, void (*hook)(void *user, const rg_live_event *ev), void *user)
{
    lv->gen.hook = hook;
    lv->gen.hook_user = user;
}

bool rg_live_regen(rg_live *lv, const char *node, rg_error *err)
{
    int idx = rg_engine_find_node(lv->latest->engine, node);
    if (idx < 0)
        return rg_error_set(err, RG_ERR_UNKNOWN_NODE, NULL, 0, 0, "unknown node '%s'", node);
    rg_node *n = rg_engine_node(lv->latest->engine, idx);
    if (!n->type->generate)
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0,
                            "node '%s' (%s) makes no takes; /regen is for nodes that generate", node,
                            n->type->name);
    atomic_store(&n->regen, true);
    atomic_fetch_add(&lv->gen.changes, 1);
    pthread_cond_signal(&lv->gen.wake);
    return true;
}

static rg_node *take_node(rg_live *lv, const char *name, rg_error *err);

/* A node published an older take again: subscribers hear /take. */
static void post_take(rg_live *lv, rg_node *n)
{
    rg_live_event ev = {.kind = RG_LIVE_TAKE, .take = (int64_t)take_id(n)};
    snprintf(ev.node, sizeof ev.node, "%s", n->name);
    post_event(lv, &ev);
}

bool rg_live_history(rg_live *lv, const char *node, bool redo, rg_error *err)
{
    rg_node *n = take_node(lv, node, err);
    if (!n)
        return false;
    gen_pause(lv); /* history belongs to the generation domain */
    bool ok = redo ? rg_history_redo(n, err) : rg_history_undo(n, err);
    if (ok)
        post_take(lv, n);
    gen_resume(lv);
    return ok;
}

/* The node `name` of the newest state if it makes takes; an error that
 * says which it is not. */
static rg_node *take_node(rg_live *lv, const char *name, rg_error *err)
{
    int idx = rg_engine_find_node(lv->latest->engine, name);
    if (idx < 0) {
        rg_error_set(err, RG_ERR_UNKNOWN_NODE, NULL, 0, 0, "unknown node '%s'", name);
        return NULL;
    }
    rg_node *n = rg_engine_node(lv->latest->engine, idx);
    if (!n->type->generate) {
        rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0, "node '%s' (%s) makes no takes", name,
                     n->type->name);
        return NULL;
    }
    return n;
}

bool rg_live_select_take(rg_live *lv, const char *node, uint64_t id, rg_error *err)
{
    rg_node *n = take_node(lv, node, err);
    if (!n)
        return false;
    gen_pause(lv);
    bool ok = rg_history_select(n, id, err);
    if (ok)
        post_take(lv, n);
    gen_resume(lv);
    return ok;
}

/* Exports only read takes, so they do not cancel a generation pass unless
 * one is running: then they must (a take being published while it is read
 * could be freed under the reader), and the pass starts again. */
static bool gen_hold(rg_live *lv)
{
    if (pthread_mutex_trylock(&lv->gen.lock) == 0)
        return false;
    gen_pause(lv);
    return true;
}

static void gen_release(rg_live *lv, bool cancelled)
{
    if (cancelled) {
        atomic_store(&lv->gen.job.cancel, false);
        pthread_cond_signal(&lv->gen.wake);
    }
    pthread_mutex_unlock(&lv->gen.lock);
}

static bool export_name(const char *name, rg_error *err)
{
    if (rg_export_name_ok(name))
        return true;
    return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0,
                        "'%s' is not a plain file name (letters, digits, _ - . only, not starting "
                        "with '.')", name);
}

/* The export directory as an absolute path, if it is one. */
static bool export_dir(const char *dir, char *real, rg_error *err)
{
    struct stat st;
    if (!realpath(dir, real) || stat(real, &st) != 0 || !S_ISDIR(st.st_mode))
        return rg_error_set(err, RG_ERR_IO, NULL, 0, 0, "the output directory '%s' does not exist",
                            dir);
    return true;
}

bool rg_live_export_take(rg_live *lv, const char *node, const char *dir, const char *name,
                         char *path, size_t path_size, rg_error *err)
{
    char real[PATH_MAX];
    if (!export_name(name, err))
        return false;
    if (!take_node(lv, node, err) || !export_dir(dir, real, err))
        return false;
    bool cancelled = gen_hold(lv);
    bool ok = rg_export_take(lv->latest->engine, node, real, name, path, path_size, err);
    gen_release(lv, cancelled);
    return ok;
}

bool rg_live_export_stems(rg_live *lv, const char *dir, const char *name,
                          void (*on_file)(void *user, const char *path), void *user, rg_error *err)
{
    char real[PATH_MAX];
    if (!export_name(name, err))
        return false;
    if (!export_dir(dir, real, err))
        return false;
    int count;
    bool cancelled = gen_hold(lv);
    bool ok = rg_export_stems(lv->latest->engine, real, name, on_file, user, &count, err);
    gen_release(lv, cancelled);
    return ok;
}

/* Waits for a pass that is running to end: for tests and tools, not for
 * the OSC loop. */
bool rg_live_generation_idle(rg_live *lv)
{
    pthread_mutex_lock(&lv->gen.lock);
    bool idle = !gen_has_work(lv);
    pthread_mutex_unlock(&lv->gen.lock);
    return idle;
}

static void deliver_events(rg_live *lv)
{
    gen_side *g = &lv->gen;
    rg_live_event ev[MAX_EVENTS];
    pthread_mutex_lock(&g->ev_lock);
    int n = g->n_events;
    memcpy(ev, g->events, (size_t)n * sizeof ev[0]);
    g->n_events = 0;
    pthread_mutex_unlock(&g->ev_lock);
    for (int i = 0; i < n && g->hook; i++)
        g->hook(g->hook_user, &ev[i]);
}

/* Housekeeping of nodes that also generate waits until the worker is idle:
 * their housekeep and generate may share state (a take player). */
static void housekeep(rg_live *lv)
{
    rg_engine *e = lv->latest->engine;
    bool locked = pthread_mutex_trylock(&lv->gen.lock) == 0;
    for (int i = 0; i < rg_engine_node_count(e); i++) {
        rg_node *n = rg_engine_node(e, i);
        if (n->type->housekeep && (locked || !n->type->generate))
            n->type->housekeep(n);
    }
    if (locked)
        pthread_mutex_unlock(&lv->gen.lock);
}

/* ---- control API --------------------------------------------------------- */

rg_live *rg_live_new(const rg_graph *g, double sample_rate, const char *base_dir, rg_error *err)
{
    rg_live *lv = calloc(1, sizeof *lv);
    if (lv) {
        pthread_mutex_init(&lv->gen.lock, NULL);
        pthread_mutex_init(&lv->gen.ev_lock, NULL);
        pthread_cond_init(&lv->gen.wake, NULL);
    }
    rg_graph *copy = rg_graph_clone(g);
    if (!lv || !copy || !rg_spsc_init(&lv->cmds, RG_LIVE_QUEUE_LEN * sizeof(live_msg)) ||
        !rg_spsc_init(&lv->notes, RG_LIVE_QUEUE_LEN * sizeof(live_note)) ||
        !(lv->base_dir = strdup(base_dir ? base_dir : "."))) {
        rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
        rg_graph_free(copy);
        rg_live_free(lv);
        return NULL;
    }
    lv->host = (rg_host_info){.sample_rate = sample_rate, .max_block = RG_LIVE_MAX_BLOCK,
                              .base_dir = lv->base_dir};
    live_state *s = state_build(lv, copy, err);
    if (!s) {
        rg_graph_free(copy);
        rg_live_free(lv);
        return NULL;
    }
    lv->graph = copy;
    lv->latest = lv->a.running = s;
    lv->a.transport = *rg_engine_transport(s->engine);
    if (!gen_start(lv)) {
        rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "cannot start the generation worker");
        rg_live_free(lv);
        return NULL;
    }
    atomic_store(&lv->pub_tempo, copy->tempo);
    atomic_store(&lv->pub_playing, true);
    return lv;
}

void rg_live_set_output_hook(rg_live *lv, rg_live_output_hook hook, void *user)
{
    lv->hook = hook;
    lv->hook_user = user;
    for (int s = 0; s < RG_LIVE_MAX_OUTPUTS; s++)
        if (lv->slot_names[s] && hook)
            hook(user, s, lv->slot_names[s], false);
    for (int s = 0; s < RG_LIVE_MAX_INPUTS; s++)
        if (lv->in_slot_names[s] && hook)
            hook(user, s, lv->in_slot_names[s], true);
}

/* Everything the audio thread held or had queued: it has stopped. */
static void free_audio_side(rg_live *lv)
{
    live_msg m;
    while (lv->cmds.data && rg_spsc_read(&lv->cmds, &m, sizeof m))
        if (m.kind == MSG_SWAP)
            state_free(m.state);
    for (int i = 0; i < lv->a.n_sched; i++)
        if (lv->a.sched[i].kind == MSG_SWAP)
            state_free(lv->a.sched[i].state);
    for (int i = 0; i < lv->a.n_bar; i++)
        if (lv->a.bar[i].kind == MSG_SWAP)
            state_free(lv->a.bar[i].state);
    live_note n;
    while (lv->notes.data && rg_spsc_read(&lv->notes, &n, sizeof n))
        if (n.kind == NOTE_RETIRE)
            state_free(n.state);
    state_free(lv->a.running);
}

void rg_live_free(rg_live *lv)
{
    if (!lv)
        return;
    gen_stop(lv);
    free_audio_side(lv);
    rg_spsc_free(&lv->cmds);
    rg_spsc_free(&lv->notes);
    rg_graph_free(lv->graph);
    for (int s = 0; s < RG_LIVE_MAX_OUTPUTS; s++)
        free(lv->slot_names[s]);
    for (int s = 0; s < RG_LIVE_MAX_INPUTS; s++)
        free(lv->in_slot_names[s]);
    free(lv->base_dir);
    pthread_mutex_destroy(&lv->gen.lock);
    pthread_mutex_destroy(&lv->gen.ev_lock);
    pthread_cond_destroy(&lv->gen.wake);
    free(lv);
}

const rg_graph *rg_live_graph(const rg_live *lv) { return lv->graph; }
double rg_live_sample_rate(const rg_live *lv) { return lv->host.sample_rate; }
const char *rg_live_base_dir(const rg_live *lv) { return lv->base_dir; }

bool rg_live_apply(rg_live *lv, rg_graph *g, rg_live_when when, rg_error *err)
{
    bool tempo_changed = g->tempo != lv->graph->tempo || g->meter_num != lv->graph->meter_num ||
                         g->meter_den != lv->graph->meter_den;
    if (!queue_has_room(lv, 2, err)) {
        rg_graph_free(g);
        return false;
    }
    double bpm = g->tempo;
    int num = g->meter_num, den = g->meter_den;
    if (!push_swap(lv, g, when, err)) {
        rg_graph_free(g);
        return false;
    }
    if (tempo_changed)
        push_tempo(lv, bpm, num, den, when);
    return true;
}

/* A float set on the running nodes: no rebuild, the node smooths it. */
static bool set_fast(rg_live *lv, int node, int param, rg_live_when when)
{
    const rg_graph_node *gn = &lv->graph->nodes[node];
    live_msg m = {.kind = MSG_SET, .at_frame = when.at_frame, .at_bar = when.at_bar,
                  .type = gn->type, .param = param, .value = gn->params[param].num};
    snprintf(m.node, sizeof m.node, "%s", gn->name);
    push(lv, &m);
    return true;
}

bool rg_live_set(rg_live *lv, const char *node, const char *param, const rg_literal *value,
                 rg_live_when when, rg_error *err)
{
    int ni = rg_graph_find_node(lv->graph, node);
    int pi = ni >= 0 ? rg_node_type_param(lv->graph->nodes[ni].type, param) : -1;
    bool fast = pi >= 0 && lv->graph->nodes[ni].type->params[pi].type == RG_PARAM_FLOAT &&
                strlen(node) < NAME_MAX_LEN;
    if (fast) {
        if (!queue_has_room(lv, 1, err))
            return false;
        if (!rg_graph_set_param(lv->graph, node, param, value, NULL, err))
            return false;
        return set_fast(lv, ni, pi, when);
    }
    rg_graph *g = rg_graph_clone(lv->graph);
    if (!g)
        return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    if (!rg_graph_set_param(g, node, param, value, NULL, err)) {
        rg_graph_free(g);
        return false;
    }
    return rg_live_apply(lv, g, when, err);
}

bool rg_live_set_tempo(rg_live *lv, double bpm, rg_live_when when, rg_error *err)
{
    if (!queue_has_room(lv, 1, err))
        return false;
    if (!rg_graph_set_tempo(lv->graph, bpm, (rg_loc){0, 0}, err))
        return false;
    push_tempo(lv, bpm, lv->graph->meter_num, lv->graph->meter_den, when);
    return true;
}

bool rg_live_transport(rg_live *lv, bool playing, rg_live_when when, rg_error *err)
{
    if (!queue_has_room(lv, 1, err))
        return false;
    live_msg m = {.kind = MSG_TRANSPORT, .at_frame = when.at_frame, .at_bar = when.at_bar,
                  .value = playing};
    push(lv, &m);
    return true;
}

bool rg_live_sync(rg_live *lv, uint64_t cookie, rg_error *err)
{
    if (!queue_has_room(lv, 1, err))
        return false;
    live_msg m = {.kind = MSG_SYNC, .cookie = cookie};
    push(lv, &m);
    return true;
}

void rg_live_poll(rg_live *lv, void (*synced)(void *user, uint64_t cookie), void *user)
{
    live_note n;
    while (rg_spsc_read(&lv->notes, &n, sizeof n)) {
        lv->notes_owed--;
        if (n.kind == NOTE_RETIRE) {
            state_free(n.state);
            lv->swaps_in_flight--;
        } else if (synced) {
            synced(user, n.cookie);
        }
    }
    /* The newest state shares its carried nodes with the running one, and
     * its new nodes need housekeeping before they play too. */
    housekeep(lv);
    deliver_events(lv);
}

bool rg_live_set_sample_rate(rg_live *lv, double rate, rg_error *err)
{
    if (rate == lv->host.sample_rate)
        return true;
    rg_graph *g = rg_graph_clone(lv->graph);
    if (!g)
        return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    /* No carrying over: every node's init depends on the rate. */
    double old = lv->host.sample_rate;
    lv->host.sample_rate = rate;
    gen_pause(lv);
    live_state *keep = lv->latest;
    lv->latest = NULL;
    bool ok = queue_has_room(lv, 1, err);
    live_state *s = ok ? state_build(lv, g, err) : NULL;
    lv->latest = keep;
    if (!s) {
        lv->host.sample_rate = old;
        rg_graph_free(g);
        gen_resume(lv);
        return false;
    }
    live_msg m = {.kind = MSG_SWAP, .state = s};
    order_swap(lv, &m);
    push(lv, &m);
    lv->swaps_in_flight++;
    lv->latest = s;
    rg_graph_free(lv->graph);
    lv->graph = g;
    gen_resume(lv);
    return true;
}

/* ---- status (any thread) -------------------------------------------------- */

uint64_t rg_live_frames(const rg_live *lv)
{
    return atomic_load_explicit(&lv->pub_frame, memory_order_relaxed);
}

/* A seqlock: the audio thread never waits; a reader retries on a torn read. */
static void read_clock(const rg_live *lv, uint64_t *frame, uint64_t *ns)
{
    rg_live *m = (rg_live *)lv;
    unsigned seq;
    do {
        seq = atomic_load_explicit(&m->clock_seq, memory_order_acquire);
        *frame = atomic_load_explicit(&m->pub_frame, memory_order_relaxed);
        *ns = atomic_load_explicit(&m->pub_ns, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
    } while ((seq & 1) || seq != atomic_load_explicit(&m->clock_seq, memory_order_relaxed));
}

uint64_t rg_live_frame_at(const rg_live *lv, uint64_t ns)
{
    uint64_t frame, at;
    read_clock(lv, &frame, &at);
    double delta = ((double)ns - (double)at) * 1e-9 * lv->host.sample_rate;
    double f = (double)frame + delta;
    return f <= 0 ? 0 : (uint64_t)llround(f);
}

void rg_live_get_status(const rg_live *lv, rg_live_status *st)
{
    rg_live *m = (rg_live *)lv;
    *st = (rg_live_status){
        .tempo = atomic_load(&m->pub_tempo), .beat = atomic_load(&m->pub_beat),
        .position = atomic_load(&m->pub_position), .playing = atomic_load(&m->pub_playing),
        .frames = rg_live_frames(lv), .xruns = atomic_load(&m->xruns),
        .swaps = atomic_load(&m->swaps), .dropped = atomic_load(&m->dropped),
        .scheduled = atomic_load(&m->pub_scheduled), .nodes = lv->graph->n_nodes,
        .jobs = atomic_load(&m->gen.busy)};
}

void rg_live_count_xrun(rg_live *lv) { atomic_fetch_add(&lv->xruns, 1); }

int rg_live_output_slot(const rg_live *lv, const char *node_name)
{
    for (int s = 0; s < RG_LIVE_MAX_OUTPUTS; s++)
        if (lv->slot_names[s] && strcmp(lv->slot_names[s], node_name) == 0)
            return s;
    return -1;
}

const char *rg_live_slot_name(const rg_live *lv, int slot)
{
    return slot >= 0 && slot < RG_LIVE_MAX_OUTPUTS ? lv->slot_names[slot] : NULL;
}

/* ---- audio thread ----------------------------------------------------------- */

static void note(rg_live *lv, int kind, live_state *s, uint64_t cookie)
{
    live_note n = {.kind = kind, .state = s, .cookie = cookie};
    /* Cannot fail: the control thread keeps fewer notes owed than fit. */
    rg_spsc_write(&lv->notes, &n, sizeof n);
}

static void apply_set_to(live_state *s, const live_msg *m)
{
    if (!s)
        return;
    int idx = rg_engine_find_node(s->engine, m->node);
    if (idx < 0)
        return;
    rg_node *n = rg_engine_node(s->engine, idx);
    if (n->type == m->type && n->params[m->param].num != m->value) {
        n->params[m->param].num = m->value;
        atomic_fetch_add_explicit(&n->param_version, 1, memory_order_relaxed);
    }
}

/* A set reaches the running nodes and every state still waiting to run, so
 * a queued swap does not undo it. */
static void apply_set(rg_live *lv, const live_msg *m)
{
    audio_side *a = &lv->a;
    apply_set_to(a->running, m);
    for (int i = 0; i < a->n_sched; i++)
        if (a->sched[i].kind == MSG_SWAP)
            apply_set_to(a->sched[i].state, m);
    for (int i = 0; i < a->n_bar; i++)
        if (a->bar[i].kind == MSG_SWAP)
            apply_set_to(a->bar[i].state, m);
}

static void apply_swap(rg_live *lv, live_state *s)
{
    audio_side *a = &lv->a;
    live_state *old = a->running;
    a->running = s;
    /* The transport goes on, at the rate the new state was built for (a
     * JACK sample-rate change rebuilds everything). */
    a->transport.sample_rate = rg_engine_transport(s->engine)->sample_rate;
    note(lv, NOTE_RETIRE, old, 0);
    atomic_fetch_add_explicit(&lv->swaps, 1, memory_order_relaxed);
}

/* A tempo or meter change lands on the bar line: the beat count snaps to it
 * so the new grid starts exactly there. */
static void apply_tempo(rg_live *lv, const live_msg *m)
{
    rg_transport *t = &lv->a.transport;
    if (t->playing && t->meter_num > 0) {
        double bar = round(t->beat / t->meter_num) * t->meter_num;
        if (fabs(t->beat - bar) <= 2 * rg_transport_beats_per_frame(t))
            t->beat = bar;
    }
    t->tempo = m->value;
    t->meter_num = m->meter_num;
    t->meter_den = m->meter_den;
}

static void apply_now(rg_live *lv, const live_msg *m)
{
    switch (m->kind) {
    case MSG_SWAP: apply_swap(lv, m->state); break;
    case MSG_SET: apply_set(lv, m); break;
    case MSG_TEMPO: apply_tempo(lv, m); break;
    case MSG_TRANSPORT: lv->a.transport.playing = m->value != 0; break;
    default: break;
    }
}

static double next_bar(const rg_transport *t)
{
    double num = t->meter_num > 0 ? t->meter_num : 4;
    return ceil(t->beat / num - 1e-9) * num;
}

static void wait_for_bar(rg_live *lv, const live_msg *m)
{
    audio_side *a = &lv->a;
    if (!a->transport.playing) {
        apply_now(lv, m); /* no bar line will come */
        return;
    }
    if (a->n_bar == 0)
        a->bar_target = next_bar(&a->transport);
    if (a->n_bar < (int)(sizeof a->bar / sizeof a->bar[0]))
        a->bar[a->n_bar++] = *m;
    else
        apply_now(lv, m); /* cannot happen: the control thread limits swaps in flight */
}

static void schedule(rg_live *lv, const live_msg *m)
{
    audio_side *a = &lv->a;
    if (a->n_sched == RG_LIVE_MAX_SCHEDULED) {
        apply_now(lv, m); /* full: better early than lost */
        return;
    }
    int i = a->n_sched;
    while (i > 0 && a->sched[i - 1].at_frame > m->at_frame) {
        a->sched[i] = a->sched[i - 1];
        i--;
    }
    a->sched[i] = *m;
    a->n_sched++;
}

/* A command whose time has come (or that has none). */
static void dispatch(rg_live *lv, const live_msg *m)
{
    if (m->kind == MSG_SYNC) {
        if (lv->a.n_syncs < MAX_SYNCS)
            lv->a.syncs[lv->a.n_syncs++] = m->cookie;
        else
            note(lv, NOTE_SYNCED, NULL, m->cookie);
    } else if (m->at_bar) {
        wait_for_bar(lv, m);
    } else {
        apply_now(lv, m);
    }
}

/* Commands taken per block: a flood waits for the next blocks instead of
 * making one callback long (each set looks its node up by name). */
#define MAX_DRAIN_PER_BLOCK 512

static void drain_commands(rg_live *lv, uint64_t now)
{
    live_msg m;
    for (int n = 0; n < MAX_DRAIN_PER_BLOCK && rg_spsc_read(&lv->cmds, &m, sizeof m); n++) {
        if (m.kind != MSG_SYNC && m.at_frame > now)
            schedule(lv, &m);
        else
            dispatch(lv, &m);
    }
}

/* Frames from the current position to the bar line the waiting commands
 * want; 0 when it is here. */
static uint64_t frames_to_bar(const audio_side *a)
{
    double bpf = rg_transport_beats_per_frame(&a->transport);
    double f = ceil((a->bar_target - a->transport.beat) / bpf - 1e-6);
    return f <= 0 ? 0 : (uint64_t)f;
}

static void run_due(rg_live *lv, uint64_t now)
{
    audio_side *a = &lv->a;
    int due = 0;
    while (due < a->n_sched && a->sched[due].at_frame <= now)
        dispatch(lv, &a->sched[due++]);
    if (due) {
        memmove(a->sched, a->sched + due, (size_t)(a->n_sched - due) * sizeof a->sched[0]);
        a->n_sched -= due;
    }
    if (a->n_bar && (!a->transport.playing || frames_to_bar(a) == 0)) {
        for (int i = 0; i < a->n_bar; i++)
            apply_now(lv, &a->bar[i]);
        a->n_bar = 0;
    }
}

/* How many frames to run before something is due. */
static int chunk_len(const rg_live *lv, uint64_t now, int left)
{
    const audio_side *a = &lv->a;
    uint64_t n = left < RG_LIVE_MAX_BLOCK ? (uint64_t)left : RG_LIVE_MAX_BLOCK;
    if (a->n_sched && a->sched[0].at_frame - now < n)
        n = a->sched[0].at_frame - now;
    if (a->n_bar && a->transport.playing) {
        uint64_t to_bar = frames_to_bar(a);
        if (to_bar < n)
            n = to_bar;
    }
    return n ? (int)n : 1;
}

static void copy_outputs(const live_state *s, float *const *out, int at, int frames)
{
    for (int slot = 0; slot < RG_LIVE_MAX_OUTPUTS; slot++) {
        for (int c = 0; c < 2; c++) {
            float *dst = out ? out[2 * slot + c] : NULL;
            if (!dst)
                continue;
            int idx = s->slot_node[slot];
            if (idx < 0) {
                memset(dst + at, 0, (size_t)frames * sizeof *dst);
                continue;
            }
            const rg_audio *sink = &rg_engine_node(s->engine, idx)->sink;
            memcpy(dst + at, rg_audio_channel(sink, c), (size_t)frames * sizeof *dst);
        }
    }
}

/* Outside sound into the `input` nodes' outputs, before the graph runs. */
static void copy_inputs(const live_state *s, const float *const *in, int at, int frames)
{
    for (int slot = 0; slot < RG_LIVE_MAX_INPUTS; slot++) {
        if (s->in_slot_node[slot] < 0)
            continue;
        rg_audio *a = &rg_engine_node(s->engine, s->in_slot_node[slot])->out[0];
        for (int c = 0; c < a->channels; c++) {
            const float *src = in ? in[2 * slot + c] : NULL;
            if (src)
                memcpy(a->ch[c], src + at, (size_t)frames * sizeof(float));
            else
                memset(a->ch[c], 0, (size_t)frames * sizeof(float));
        }
    }
}

static void run_chunk(rg_live *lv, const float *const *in, float *const *out, int at, int frames)
{
    rg_engine *e = lv->a.running->engine;
    copy_inputs(lv->a.running, in, at, frames);
    rg_transport *t = rg_engine_transport(e);
    *t = lv->a.transport;
    rg_engine_process(e, frames);
    lv->a.transport = *t;
    copy_outputs(lv->a.running, out, at, frames);
}

static void publish(rg_live *lv, uint64_t now_ns)
{
    unsigned seq = atomic_load_explicit(&lv->clock_seq, memory_order_relaxed);
    atomic_store_explicit(&lv->clock_seq, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&lv->pub_frame, lv->a.clock, memory_order_relaxed);
    atomic_store_explicit(&lv->pub_ns, now_ns, memory_order_relaxed);
    atomic_store_explicit(&lv->clock_seq, seq + 2, memory_order_release);
    const rg_transport *t = &lv->a.transport;
    atomic_store_explicit(&lv->pub_tempo, t->tempo, memory_order_relaxed);
    atomic_store_explicit(&lv->pub_beat, t->beat, memory_order_relaxed);
    atomic_store_explicit(&lv->pub_position, t->position, memory_order_relaxed);
    atomic_store_explicit(&lv->pub_playing, t->playing, memory_order_relaxed);
    atomic_store_explicit(&lv->pub_scheduled, lv->a.n_sched + lv->a.n_bar, memory_order_relaxed);
}

/* Syncs answer once nothing queued before them is still waiting. */
static void echo_syncs(rg_live *lv)
{
    audio_side *a = &lv->a;
    if (a->n_sched || a->n_bar)
        return;
    for (int i = 0; i < a->n_syncs; i++)
        note(lv, NOTE_SYNCED, NULL, a->syncs[i]);
    a->n_syncs = 0;
}

void rg_live_process(rg_live *lv, int frames, float *const *out, uint64_t now_ns)
{
    rg_live_process_io(lv, frames, NULL, out, now_ns);
}

void rg_live_process_io(rg_live *lv, int frames, const float *const *in, float *const *out,
                        uint64_t now_ns)
{
    audio_side *a = &lv->a;
    drain_commands(lv, a->clock);
    int pos = 0;
    while (pos < frames) {
        uint64_t now = a->clock + (uint64_t)pos;
        run_due(lv, now);
        int n = chunk_len(lv, now, frames - pos);
        run_chunk(lv, in, out, pos, n);
        pos += n;
    }
    a->clock += (uint64_t)frames;
    run_due(lv, a->clock); /* a bar line right at the block's end */
    echo_syncs(lv);
    /* The next block's first frame sounds one block later. */
    publish(lv, now_ns + (uint64_t)((double)frames * 1e9 / lv->host.sample_rate));
}

void rg_live_follow(rg_live *lv, double bpm, int meter_num, int meter_den, double beat, bool playing)
{
    rg_transport *t = &lv->a.transport;
    if (bpm >= RG_TEMPO_MIN && bpm <= RG_TEMPO_MAX)
        t->tempo = bpm;
    if (meter_num > 0 && meter_den > 0) {
        t->meter_num = meter_num;
        t->meter_den = meter_den;
    }
    t->beat = beat;
    t->playing = playing;
}

const rg_transport *rg_live_transport_rt(const rg_live *lv) { return &lv->a.transport; }
