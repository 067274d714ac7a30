/* The live engine: a patch that keeps playing while it is edited.
 *
 * Two threads share an rg_live:
 *   - one control thread (the OSC server loop, the file watcher, the CLI)
 *     edits a copy of the graph, builds a new engine state from it and hands
 *     it over through a lock-free SPSC queue; it also frees what the audio
 *     thread has retired, and runs the nodes' housekeeping;
 *   - the audio thread (JACK's process callback, or a test driver) calls
 *     rg_live_process once per block: it drains the queue at the block start,
 *     swaps states at a block boundary (or a bar line, or a bundle's time,
 *     splitting the block there so the change lands on its exact frame), runs
 *     the graph, and hands old states back through a second queue. It never
 *     allocates, locks or does I/O.
 *
 * Nodes that an edit leaves alone keep their running state (rg_engine_new_carry).
 * Float parameter changes skip the rebuild: they travel as small messages and
 * the nodes smooth them (gain, pan). */
#ifndef RG_LIVE_H
#define RG_LIVE_H

#include <stdint.h>

#include "graph/graph.h"

/* Output nodes get fixed slots for the life of the rg_live (and so JACK
 * ports that never move); a slot stays with its node name when the node is
 * removed, so re-adding it reconnects to the same ports. */
#define RG_LIVE_MAX_OUTPUTS 8
#define RG_LIVE_MAX_INPUTS 8 /* `input` nodes, the same way */
/* Frames per engine run: a host block larger than this is run in pieces. */
#define RG_LIVE_MAX_BLOCK 4096
/* Commands in flight to the audio thread, and timed ones waiting there. */
#define RG_LIVE_QUEUE_LEN 4096
#define RG_LIVE_MAX_SCHEDULED 1024

typedef struct rg_live rg_live;

/* When an edit takes effect. */
typedef struct {
    uint64_t at_frame; /* on the live clock (rg_live_frame_at); 0 = at the next block */
    bool at_bar;       /* at the next bar line after that (the transport's meter) */
} rg_live_when;

#define RG_LIVE_NOW ((rg_live_when){0, false})
#define RG_LIVE_NEXT_BAR ((rg_live_when){0, true})

/* Called on the control thread when an output (or input) node first gets a
 * slot, so a backend can register its ports before the audio thread uses them. */
typedef void (*rg_live_output_hook)(void *user, int slot, const char *node_name, bool input);

/* Start `g` (copied; the caller keeps `g`). Off the audio thread. */
rg_live *rg_live_new(const rg_graph *g, double sample_rate, const char *base_dir, rg_error *err);
/* Free everything. The audio thread must have stopped calling rg_live_process. */
void rg_live_free(rg_live *lv);

void rg_live_set_output_hook(rg_live *lv, rg_live_output_hook hook, void *user);

/* ---- audio thread ------------------------------------------------------ */

/* One host block: `out` holds 2 * RG_LIVE_MAX_OUTPUTS channel pointers (slot
 * s left/right at out[2s], out[2s+1]); NULL ones are skipped. `now_ns` is the
 * wall-clock time (CLOCK_REALTIME, ns) of the block's first frame: it maps OSC
 * time tags onto frames. */
void rg_live_process(rg_live *lv, int frames, float *const *out, uint64_t now_ns);

/* The same with sound coming in: `in` holds 2 * RG_LIVE_MAX_INPUTS channel
 * pointers for the `input` nodes' slots (NULL ones are silence). */
void rg_live_process_io(rg_live *lv, int frames, const float *const *in, float *const *out,
                        uint64_t now_ns);

/* Another JACK client is timebase master: take its tempo, meter, position
 * and rolling state for the next block. Audio thread, before rg_live_process. */
void rg_live_follow(rg_live *lv, double bpm, int meter_num, int meter_den, double beat, bool playing);

/* The transport as the audio thread has it (for acting as timebase master).
 * Audio thread only. */
const rg_transport *rg_live_transport_rt(const rg_live *lv);

/* The backend reports an xrun (any thread). */
void rg_live_count_xrun(rg_live *lv);

/* ---- control thread ---------------------------------------------------- */

/* The graph as the audio thread plays it once every queued edit is applied.
 * Edit a clone and hand it to rg_live_apply. */
const rg_graph *rg_live_graph(const rg_live *lv);

/* Replace the graph with `g` (taken over, freed on error too) when `when`
 * says. Nodes that did not change keep their state; tempo and meter changes
 * apply at the bar line. On error nothing changes. */
bool rg_live_apply(rg_live *lv, rg_graph *g, rg_live_when when, rg_error *err);

/* Set one parameter. Float parameters travel as a message (no rebuild) and
 * are smoothed by the node; other types rebuild the node. */
bool rg_live_set(rg_live *lv, const char *node, const char *param, const rg_literal *value,
                 rg_live_when when, rg_error *err);

/* Change the tempo at the next bar line (or at `when`, then at the bar after). */
bool rg_live_set_tempo(rg_live *lv, double bpm, rg_live_when when, rg_error *err);

bool rg_live_transport(rg_live *lv, bool playing, rg_live_when when, rg_error *err);

/* Ask the audio thread to echo `cookie` once every command queued before it
 * (including timed ones and bar-quantized ones) has been applied; it comes
 * back through rg_live_poll's callback. */
bool rg_live_sync(rg_live *lv, uint64_t cookie, rg_error *err);

/* ---- the generation domain ---------------------------------------------- */

/* A worker thread brings every node with a generate() callback up to date
 * with the newest state (rg_engine_generate): after an edit, a parameter
 * change, or /regen. Its events reach the control thread in rg_live_poll. */
typedef enum { RG_LIVE_PROGRESS, RG_LIVE_TAKE, RG_LIVE_ERROR } rg_live_event_kind;
typedef struct {
    rg_live_event_kind kind;
    char node[64];
    double fraction;   /* PROGRESS: 0..1 */
    int64_t take;      /* TAKE: the id of the value the node published */
    char why[512];     /* ERROR */
} rg_live_event;

void rg_live_set_event_hook(rg_live *lv, void (*hook)(void *user, const rg_live_event *ev), void *user);

/* Ask `node` for a new take. Fails (nothing changes) for a node that makes
 * no takes. */
bool rg_live_regen(rg_live *lv, const char *node, rg_error *err);

/* Step through a node's take history (runtime/history.h): the older (or
 * newer) take is published again and what depends on it follows. */
bool rg_live_history(rg_live *lv, const char *node, bool redo, rg_error *err);

/* Publish the take `id` of `node`'s history again (rg_history_select): it
 * plays from the next bar line, as a regenerated take does, and what depends
 * on it follows. Fails (nothing changes) for an unknown node or id. */
bool rg_live_select_take(rg_live *lv, const char *node, uint64_t id, rg_error *err);

/* Write the audio of `node`'s current take into the existing directory
 * `dir` as NAME.wav (runtime/export.h: plain names only, never overwriting;
 * a generator exports its decoder's audio). `path` receives the absolute
 * path written. */
bool rg_live_export_take(rg_live *lv, const char *node, const char *dir, const char *name,
                         char *path, size_t path_size, rg_error *err);

/* Every node's audio take as DIR/NAME-NODE.wav. All or nothing: if one file
 * cannot be written, those written before it are removed. `on_file` hears
 * each path once all are written. */
bool rg_live_export_stems(rg_live *lv, const char *dir, const char *name,
                          void (*on_file)(void *user, const char *path), void *user, rg_error *err);

/* Whether the worker has nothing to do: every take is up to date (or the
 * last attempt failed and nothing changed since). */
bool rg_live_generation_idle(rg_live *lv);

/* Free retired states, run housekeeping, report echoed sync cookies. Call
 * often (every few ms) from the control thread. */
void rg_live_poll(rg_live *lv, void (*synced)(void *user, uint64_t cookie), void *user);

/* The live clock: frames the audio thread has run since it started, and the
 * frame that sounds at wall-clock time `ns` (CLOCK_REALTIME) as estimated from
 * the last block. */
uint64_t rg_live_frames(const rg_live *lv);
uint64_t rg_live_frame_at(const rg_live *lv, uint64_t ns);

typedef struct {
    double tempo;            /* as playing now */
    double beat;             /* beats of the meter since the transport started */
    uint64_t position;       /* transport frames */
    bool playing;
    uint64_t frames;         /* live clock */
    uint64_t xruns;
    uint64_t swaps;          /* states swapped in */
    uint64_t dropped;        /* commands refused because the queue was full */
    int scheduled;           /* timed commands waiting in the audio thread */
    int nodes;
    int jobs;                /* generation passes running (0 or 1: one worker) */
} rg_live_status;

void rg_live_get_status(const rg_live *lv, rg_live_status *st);

/* The slot of an output node, or -1; and the name a slot was given (NULL if free). */
int rg_live_output_slot(const rg_live *lv, const char *node_name);
const char *rg_live_slot_name(const rg_live *lv, int slot);

double rg_live_sample_rate(const rg_live *lv);
const char *rg_live_base_dir(const rg_live *lv);

/* Rebuild everything for a new sample rate (the JACK server changed it): no
 * state survives. Control thread. */
bool rg_live_set_sample_rate(rg_live *lv, double rate, rg_error *err);

#endif
