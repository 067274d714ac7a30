/* The node API: what a node type declares and what it sees while it runs.
 *
 * A node type is a constant table entry (see nodes/registry.c), in the spirit
 * of Pure Data's class_new and SuperCollider's unit interface: a name, a doc
 * string, typed ports, typed parameters, and four callbacks. Everything the
 * CLI (`resonant nodes`) and the docs say about a node comes from this table.
 *
 * Two threads touch a node:
 *   - init/destroy/housekeep run off the audio thread: they may allocate,
 *     open files and block.
 *   - process runs on the audio thread (JACK's process callback when live,
 *     the render loop offline): no allocation, no locks, no I/O.
 */
#ifndef RG_NODE_H
#define RG_NODE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graph/data.h"
#include "graph/error.h"

#define RG_MAX_CHANNELS 2
#define RG_MAX_PORTS 8
#define RG_MAX_PARAMS 40
#define RG_MAX_HISTORY 64

typedef enum {
    RG_PORT_AUDIO,  /* float32, N channels, engine rate, one block at a time */
    RG_PORT_TOKENS, /* codec codes K x T with codec id and frame rate */
    RG_PORT_COND,   /* conditioning sequence on the device */
    RG_PORT_GRID,   /* tempo, meter, bar length, downbeat position */
} rg_port_type;

typedef struct {
    const char *name;
    rg_port_type type;
    int channels;    /* audio ports: 1 or 2; 0 for other types */
    int max_cables;  /* inputs: how many cables may end here (1, or more for a mixer) */
    const char *doc;
} rg_port_def;

typedef enum {
    RG_PARAM_FLOAT,
    RG_PARAM_INT,
    RG_PARAM_BOOL,
    RG_PARAM_STRING,
    RG_PARAM_ENUM, /* a bare word among `choices` */
} rg_param_type;

typedef struct {
    const char *name;
    rg_param_type type;
    double def;           /* numeric and bool default */
    double min, max;      /* range for float/int; a 0..1 OSC fader maps onto it */
    const char *def_str;  /* string/enum default */
    const char *choices;  /* enum: words separated by '|', e.g. "once|loop" */
    const char *doc;
    /* init() (or state made once from it) reads this value: a live change
     * rebuilds the node. Every other parameter is read where it is used
     * (process() every block, generate() for the next take), so changing it
     * keeps the node's state, its player and its model. */
    bool restarts;
} rg_param_def;

/* A parameter value. Strings are owned by whoever owns the value. */
typedef struct {
    double num;  /* float, int, bool (0/1), enum (index into choices) */
    char *str;   /* string and enum (the word) */
} rg_value;

/* The transport as the audio thread sees it at the start of a block. */
typedef struct {
    double sample_rate;
    double tempo;          /* quarter notes per minute */
    int meter_num;         /* beats per bar */
    int meter_den;         /* the note value of one beat */
    uint64_t position;     /* frames since the transport started */
    double beat;           /* beats of the meter since the start, at this block's first frame */
    bool playing;
} rg_transport;

/* Beats of the meter per frame at the transport's tempo. */
static inline double rg_transport_beats_per_frame(const rg_transport *t)
{
    return t->tempo / 60.0 * t->meter_den / 4.0 / t->sample_rate;
}

/* Everything process() may read besides its own state. */
typedef struct {
    int frames;                   /* frames in this block */
    const rg_transport *transport;
} rg_process_ctx;

/* An audio signal: one block of non-interleaved channels. */
typedef struct {
    float *ch[RG_MAX_CHANNELS];
    int channels;
} rg_audio;

/* What init() may need from the host. */
typedef struct {
    double sample_rate;
    int max_block;        /* process() never sees more frames than this */
    const char *base_dir; /* directory of the patch file: relative paths start here */
} rg_host_info;

typedef struct rg_node rg_node;
typedef struct rg_node_type rg_node_type;

/* Where a non-audio input reads from: an output of another node. */
typedef struct {
    rg_node *node;
    int port;
} rg_data_source;

/* A generation job as a node's generate() sees it. */
typedef struct rg_job {
    atomic_bool cancel;     /* set when a newer request makes this one moot */
    double progress;        /* 0..1, written by the node */
    const rg_transport *transport; /* tempo and meter the take is made for */
    const rg_host_info *host;
    void (*on_progress)(struct rg_job *job, const rg_node *node, double fraction);
    void *user;
} rg_job;

static inline bool rg_job_cancelled(rg_job *job)
{
    return job && atomic_load_explicit(&job->cancel, memory_order_relaxed);
}

static inline void rg_job_report(rg_job *job, const rg_node *node, double fraction)
{
    if (!job)
        return;
    job->progress = fraction;
    if (job->on_progress)
        job->on_progress(job, node, fraction);
}

/* A running node. The engine owns the buffers; the node owns `state`. */
struct rg_node {
    const rg_node_type *type;
    const char *name;
    rg_value *params;                      /* one per declared parameter */
    void *state;                           /* type->state_size bytes, zeroed */
    int n_in_cables[RG_MAX_PORTS];         /* cables connected to each input */
    const rg_audio **in[RG_MAX_PORTS];     /* audio inputs: one signal per cable, patch order */
    rg_audio out[RG_MAX_PORTS];            /* audio outputs */
    rg_audio sink;                         /* audio leaving the graph (type->sink_channels) */
    /* The generation domain. Outputs: the latest value this node published
     * on each port (tokens, cond, grid, or a whole audio take on an audio
     * port). Inputs: one source per cable, in patch order. */
    _Atomic(rg_data *) data_out[RG_MAX_PORTS];
    rg_data_source *data_in[RG_MAX_PORTS];
    uint64_t generated_from;               /* signature of the inputs of the last generate() */
    atomic_uint param_version;             /* bumped when a parameter changes */
    atomic_bool regen;                     /* a new take was asked for (/regen) */
    /* Take history of output 0, oldest first (runtime/history.c). */
    rg_data *history[RG_MAX_HISTORY];
    int history_len, history_pos;          /* entries, and the one published */
};

struct rg_node_type {
    const char *name;
    const char *doc;
    const rg_port_def *inputs;
    int n_inputs;
    const rg_port_def *outputs;
    int n_outputs;
    const rg_param_def *params;
    int n_params;
    size_t state_size;
    /* Channels of audio this node hands to the host each block in `sink`:
     * the output node's JACK ports or render file. 0 for most nodes. */
    int sink_channels;
    /* Prepare state: load files, allocate buffers. Off the audio thread. */
    bool (*init)(rg_node *node, const rg_host_info *host, rg_error *err);
    /* One block. Audio thread: no allocation, locks or I/O. */
    void (*process)(rg_node *node, const rg_process_ctx *ctx);
    /* Generation domain: make this node's output values from its input
     * values and parameters, e.g. run a model. Runs on a worker thread (in a
     * render: before the audio starts), never on the audio thread, whenever
     * an input value or a parameter changed or a new take was asked for. May
     * take seconds: report progress with rg_job_report and return early
     * (false, err unset) when rg_job_cancelled. May be NULL. */
    bool (*generate)(rg_node *node, rg_job *job, rg_error *err);
    /* Generation domain, optional: catch up with an input take that is still
     * growing (graph/data.h), e.g. decode the frames that are ready now. The
     * scheduler (runtime/generate.c) calls it on the worker each time a node
     * this one reads reports progress, and once more when that node's
     * generate() returns (its take is then complete or abandoned); generate()
     * still runs afterwards in schedule order and finishes the take. Reports
     * no progress. May be NULL. */
    bool (*stream)(rg_node *node, rg_job *job, rg_error *err);
    /* One line about the node's current take (tempo, key, ...), for
     * `resonant render --report` and /take events. Off the audio thread.
     * May be NULL. */
    void (*describe)(const rg_node *node, char *buf, int size);
    /* Periodic work off the audio thread (draining a ring to disk, ...). May be NULL. */
    void (*housekeep)(rg_node *node);
    /* Release state. Off the audio thread. Called after init even when init
     * failed, so init need not undo its own partial work. May be NULL. */
    void (*destroy)(rg_node *node);
};

/* The value on cable `cable` of input `port`, with a reference the caller
 * releases (rg_data_unref); NULL when nothing has been published yet. */
rg_data *rg_node_read(const rg_node *node, int port, int cable);
/* Publish a value on output `port`, taking over the caller's reference.
 * Off the audio thread. */
void rg_node_publish(rg_node *node, int port, rg_data *value);
/* The value last published on output `port`, referenced; NULL if none. */
rg_data *rg_node_published(rg_node *node, int port);

/* Index of a port or parameter by name, or -1. */
int rg_node_type_input(const rg_node_type *type, const char *name);
int rg_node_type_output(const rg_node_type *type, const char *name);
int rg_node_type_param(const rg_node_type *type, const char *name);

/* Channel `ch` of an audio signal, folding a mono source onto any channel. */
static inline const float *rg_audio_channel(const rg_audio *a, int ch)
{
    int last = a->channels > 1 ? a->channels - 1 : 0;
    return a->ch[ch < last ? ch : last];
}

const char *rg_port_type_name(rg_port_type type);
const char *rg_param_type_name(rg_param_type type);

#endif
