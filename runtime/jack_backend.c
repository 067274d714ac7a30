#include "runtime/jack_backend.h"

#include <dlfcn.h>
#include <jack/jack.h>
#include <jack/transport.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define TICKS_PER_BEAT 1920.0

_Static_assert(RG_LIVE_MAX_INPUTS == RG_LIVE_MAX_OUTPUTS, "the latency callback walks both with one bound");
#define RECONNECT_EVERY_NS 1000000000ull

struct rg_jack {
    rg_jack_config cfg;
    char client_name[128];
    char server_name[128];
    jack_client_t *client;
    rg_live *lv;
    bool active;
    /* Ports per output slot; the callback reads them while the control
     * thread registers new ones. */
    _Atomic(jack_port_t *) ports[RG_LIVE_MAX_OUTPUTS][2];
    _Atomic(jack_port_t *) in_ports[RG_LIVE_MAX_INPUTS][2];
    _Atomic bool server_gone;
    _Atomic double pending_rate;  /* a sample-rate change, 0 if none */
    _Atomic int buffer_size;
    _Atomic uint64_t xruns, callbacks, cpu_total_ns, cpu_max_ns;
    /* RESONANT_RT_DIAGNOSTICS: thread CPU time per block, and the allocation
     * probe's hooks when the tests preloaded it (NULL otherwise). */
    bool diag;
    void (*probe_enter)(void), (*probe_leave)(void);
    unsigned long (*probe_count)(void);
    _Atomic uint64_t thread_cpu_total_ns, thread_cpu_max_ns, own_overruns, page_faults, faulting_blocks;
    _Atomic double rate; /* the server's; the callbacks read it */
    uint64_t next_reconnect_ns;
};

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- real-time callbacks ---------------------------------------------------- */

static void store_max(_Atomic uint64_t *max, uint64_t v)
{
    if (v > atomic_load_explicit(max, memory_order_relaxed))
        atomic_store_explicit(max, v, memory_order_relaxed); /* one writer: the audio thread */
}

/* One pass of a real-time callback, measured. The wall time is always
 * taken (CLOCK_MONOTONIC: ~70 ns a call here); the thread's CPU time and
 * the allocation probe only with diagnostics on, since
 * CLOCK_THREAD_CPUTIME_ID is a real system call, never served by the vDSO
 * (~1.8 us a call here; docs/performance.md). */
typedef struct {
    uint64_t wall0, cpu0;
    long faults0;
} rt_section;

/* Page faults of the calling thread so far (minor: memory first touched;
 * major: read from disk). A fault on the audio thread is time in the kernel. */
static long thread_faults(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_THREAD, &ru) == 0 ? ru.ru_minflt + ru.ru_majflt : 0;
}

static void rt_begin(rg_jack *j, rt_section *sec)
{
    sec->wall0 = clock_ns(CLOCK_MONOTONIC);
    sec->cpu0 = 0;
    sec->faults0 = 0;
    if (!j->diag)
        return;
    sec->faults0 = thread_faults();
    sec->cpu0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    if (j->probe_enter)
        j->probe_enter();
}

static void rt_end(rg_jack *j, const rt_section *sec, jack_nframes_t nframes)
{
    if (j->diag) {
        if (j->probe_leave)
            j->probe_leave();
        uint64_t cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID) - sec->cpu0;
        long faults = thread_faults() - sec->faults0;
        if (faults > 0) {
            atomic_fetch_add_explicit(&j->page_faults, (uint64_t)faults, memory_order_relaxed);
            atomic_fetch_add_explicit(&j->faulting_blocks, 1, memory_order_relaxed);
        }
        atomic_fetch_add_explicit(&j->thread_cpu_total_ns, cpu, memory_order_relaxed);
        store_max(&j->thread_cpu_max_ns, cpu);
        /* An own overrun: our work alone did not fit in the block's time. */
        if ((double)cpu > nframes * 1e9 / j->rate)
            atomic_fetch_add_explicit(&j->own_overruns, 1, memory_order_relaxed);
    }
    uint64_t dt = clock_ns(CLOCK_MONOTONIC) - sec->wall0;
    atomic_fetch_add_explicit(&j->cpu_total_ns, dt, memory_order_relaxed);
    atomic_fetch_add_explicit(&j->callbacks, 1, memory_order_relaxed);
    store_max(&j->cpu_max_ns, dt);
}

/* Another client is timebase master: play on its grid. */
static void follow(rg_jack *j, jack_nframes_t nframes)
{
    (void)nframes;
    jack_position_t pos;
    jack_transport_state_t state = jack_transport_query(j->client, &pos);
    if (!(pos.valid & JackPositionBBT) || pos.beats_per_bar <= 0)
        return;
    double beat = (pos.bar - 1) * (double)pos.beats_per_bar + (pos.beat - 1) +
                  (pos.ticks_per_beat > 0 ? pos.tick / pos.ticks_per_beat : 0);
    rg_live_follow(j->lv, pos.beats_per_minute, (int)pos.beats_per_bar, (int)pos.beat_type, beat,
                   state == JackTransportRolling);
}

static int process(jack_nframes_t nframes, void *arg)
{
    rg_jack *j = arg;
    rt_section sec;
    rt_begin(j, &sec);
    float *out[2 * RG_LIVE_MAX_OUTPUTS];
    const float *in[2 * RG_LIVE_MAX_INPUTS];
    for (int s = 0; s < RG_LIVE_MAX_OUTPUTS; s++) {
        for (int c = 0; c < 2; c++) {
            jack_port_t *p = atomic_load_explicit(&j->ports[s][c], memory_order_acquire);
            out[2 * s + c] = p ? jack_port_get_buffer(p, nframes) : NULL;
        }
    }
    for (int s = 0; s < RG_LIVE_MAX_INPUTS; s++) {
        for (int c = 0; c < 2; c++) {
            jack_port_t *p = atomic_load_explicit(&j->in_ports[s][c], memory_order_acquire);
            in[2 * s + c] = p ? jack_port_get_buffer(p, nframes) : NULL;
        }
    }
    if (j->cfg.follow_transport && !j->cfg.timebase_master)
        follow(j, nframes);
    rg_live_process_io(j->lv, (int)nframes, in, out, clock_ns(CLOCK_REALTIME));
    rt_end(j, &sec, nframes);
    return 0;
}

/* We are timebase master: publish the transport the engine plays. */
static void timebase(jack_transport_state_t state, jack_nframes_t nframes, jack_position_t *pos,
                     int new_pos, void *arg)
{
    (void)state, (void)nframes, (void)new_pos;
    rg_jack *j = arg;
    if (j->probe_enter) /* runs on the audio thread too, inside the cycle */
        j->probe_enter();
    const rg_transport *t = rg_live_transport_rt(j->lv);
    double beat = t->beat < 0 ? 0 : t->beat;
    int num = t->meter_num > 0 ? t->meter_num : 4;
    long whole = (long)floor(beat);
    pos->valid = JackPositionBBT;
    pos->bar = (int32_t)(whole / num) + 1;
    pos->beat = (int32_t)(whole % num) + 1;
    pos->tick = (int32_t)((beat - whole) * TICKS_PER_BEAT);
    pos->bar_start_tick = 0;
    pos->beats_per_bar = (float)num;
    pos->beat_type = (float)t->meter_den;
    pos->ticks_per_beat = TICKS_PER_BEAT;
    pos->beats_per_minute = t->tempo;
    if (j->probe_leave)
        j->probe_leave();
}

static int xrun(void *arg)
{
    rg_jack *j = arg;
    atomic_fetch_add(&j->xruns, 1);
    if (j->lv)
        rg_live_count_xrun(j->lv);
    return 0;
}

static int buffer_size(jack_nframes_t n, void *arg)
{
    atomic_store(&((rg_jack *)arg)->buffer_size, (int)n);
    return 0; /* rg_live_process takes any block length */
}

static int sample_rate(jack_nframes_t rate, void *arg)
{
    rg_jack *j = arg;
    if (rate != j->rate)
        atomic_store(&j->pending_rate, (double)rate);
    return 0;
}

static void shutdown_cb(jack_status_t code, const char *reason, void *arg)
{
    (void)code, (void)reason;
    atomic_store(&((rg_jack *)arg)->server_gone, true);
}

/* Widen `range` by port's latency in `mode`. */
static void widen(jack_port_t *p, jack_latency_callback_mode_t mode, jack_latency_range_t *range, bool *any)
{
    if (!p)
        return;
    jack_latency_range_t r;
    jack_port_get_latency_range(p, mode, &r);
    if (!*any || r.min < range->min)
        range->min = r.min;
    if (!*any || r.max > range->max)
        range->max = r.max;
    *any = true;
}

/* The graph adds no delay of its own yet (no node buffers audio), so what
 * arrives at the inputs is passed on to the outputs unchanged, and the other
 * way round for playback latency. A buffering node will add its delay here. */
static void latency(jack_latency_callback_mode_t mode, void *arg)
{
    rg_jack *j = arg;
    bool capture = mode == JackCaptureLatency, any = false;
    jack_latency_range_t range = {0, 0};
    for (int s = 0; s < RG_LIVE_MAX_INPUTS; s++)
        for (int c = 0; c < 2; c++)
            widen(atomic_load(capture ? &j->in_ports[s][c] : &j->ports[s][c]), mode, &range, &any);
    for (int s = 0; s < RG_LIVE_MAX_OUTPUTS; s++)
        for (int c = 0; c < 2; c++) {
            jack_port_t *p = atomic_load(capture ? &j->ports[s][c] : &j->in_ports[s][c]);
            if (p)
                jack_port_set_latency_range(p, mode, &range);
        }
}

/* ---- control thread ---------------------------------------------------------- */

/* libjack's own chatter ("Cannot connect to server socket ...") says the
 * same as our one-line message: keep it for RESONANT_JACK_VERBOSE=1. */
static void jack_message(const char *msg)
{
    if (getenv("RESONANT_JACK_VERBOSE"))
        fprintf(stderr, "jack: %s\n", msg);
}

static bool open_client(rg_jack *j, rg_error *err)
{
    jack_set_error_function(jack_message);
    jack_set_info_function(jack_message);
    jack_status_t status;
    jack_options_t opts = JackNoStartServer | (j->server_name[0] ? JackServerName : 0);
    j->client = j->server_name[0] ? jack_client_open(j->client_name, opts, &status, j->server_name)
                                  : jack_client_open(j->client_name, opts, &status);
    if (!j->client)
        return rg_error_set(err, RG_ERR_IO, NULL, 0, 0,
                            "cannot connect to the JACK server%s%s (status 0x%x): is jackd running?",
                            j->server_name[0] ? " " : "", j->server_name, (unsigned)status);
    j->rate = jack_get_sample_rate(j->client);
    atomic_store(&j->buffer_size, (int)jack_get_buffer_size(j->client));
    jack_set_process_callback(j->client, process, j);
    jack_set_xrun_callback(j->client, xrun, j);
    jack_set_buffer_size_callback(j->client, buffer_size, j);
    jack_set_sample_rate_callback(j->client, sample_rate, j);
    jack_set_latency_callback(j->client, latency, j);
    jack_on_info_shutdown(j->client, shutdown_cb, j);
    return true;
}

/* RESONANT_RT_DIAGNOSTICS=1: measure the callback's CPU time, and count
 * its allocations if the tests' probe is preloaded (LD_PRELOAD); the probe
 * exports these three functions, found here off the audio thread. */
static void enable_diagnostics(rg_jack *j)
{
    const char *v = getenv("RESONANT_RT_DIAGNOSTICS");
    j->diag = v && *v && strcmp(v, "0") != 0;
    if (!j->diag)
        return;
    *(void **)&j->probe_enter = dlsym(RTLD_DEFAULT, "rg_alloc_probe_enter");
    *(void **)&j->probe_leave = dlsym(RTLD_DEFAULT, "rg_alloc_probe_leave");
    *(void **)&j->probe_count = dlsym(RTLD_DEFAULT, "rg_alloc_probe_count");
    if (!j->probe_enter || !j->probe_leave || !j->probe_count)
        j->probe_enter = j->probe_leave = NULL, j->probe_count = NULL;
}

rg_jack *rg_jack_open(const rg_jack_config *cfg, rg_error *err)
{
    rg_jack *j = calloc(1, sizeof *j);
    if (!j) {
        rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
        return NULL;
    }
    j->cfg = *cfg;
    enable_diagnostics(j);
    snprintf(j->client_name, sizeof j->client_name, "%s", cfg->client_name ? cfg->client_name : "resonant");
    snprintf(j->server_name, sizeof j->server_name, "%s", cfg->server_name ? cfg->server_name : "");
    if (!open_client(j, err)) {
        if (!cfg->reconnect) {
            free(j);
            return NULL;
        }
        /* Start without a server and wait for one: the patch can be loaded
         * and edited meanwhile; it is rebuilt at the server's rate. */
        char msg[512];
        rg_error_format(err, msg, sizeof msg);
        fprintf(stderr, "resonant: %s; waiting for it (--reconnect)\n", msg);
        j->rate = 48000;
        *err = (rg_error){0};
    }
    return j;
}

double rg_jack_sample_rate(const rg_jack *j) { return j->rate; }

/* Outputs to the first two physical playback ports, inputs from the first
 * two capture ports. */
static void autoconnect(rg_jack *j, int slot, bool input)
{
    const char **phys = jack_get_ports(j->client, NULL, JACK_DEFAULT_AUDIO_TYPE,
                                       JackPortIsPhysical | (input ? JackPortIsOutput : JackPortIsInput));
    for (int c = 0; phys && c < 2 && phys[c]; c++) {
        jack_port_t *p = atomic_load(input ? &j->in_ports[slot][c] : &j->ports[slot][c]);
        if (p && input)
            jack_connect(j->client, phys[c], jack_port_name(p));
        else if (p)
            jack_connect(j->client, jack_port_name(p), phys[c]);
    }
    jack_free(phys);
}

static void register_slot(rg_jack *j, int slot, const char *node, bool input)
{
    static const char *const side[2] = {"L", "R"};
    for (int c = 0; c < 2; c++) {
        _Atomic(jack_port_t *) *where = input ? &j->in_ports[slot][c] : &j->ports[slot][c];
        if (atomic_load(where))
            continue;
        char name[256];
        snprintf(name, sizeof name, "%s:%s_%s", node, input ? "in" : "out", side[c]);
        jack_port_t *p = jack_port_register(j->client, name, JACK_DEFAULT_AUDIO_TYPE,
                                            input ? JackPortIsInput : JackPortIsOutput, 0);
        if (!p)
            fprintf(stderr, "resonant: cannot register JACK port '%s'\n", name);
        atomic_store_explicit(where, p, memory_order_release);
    }
    if (j->active && j->cfg.autoconnect)
        autoconnect(j, slot, input);
}

/* The live engine gave an output or input node a slot: its ports appear now. */
static void output_hook(void *user, int slot, const char *node, bool input)
{
    rg_jack *j = user;
    if (j->client && !atomic_load(&j->server_gone))
        register_slot(j, slot, node, input);
}

static bool activate(rg_jack *j, rg_error *err)
{
    if (j->cfg.timebase_master && jack_set_timebase_callback(j->client, 0, timebase, j) != 0)
        fprintf(stderr, "resonant: another client is JACK timebase master; following it instead\n");
    if (jack_activate(j->client) != 0)
        return rg_error_set(err, RG_ERR_IO, NULL, 0, 0, "cannot activate the JACK client");
    j->active = true;
    if (j->cfg.timebase_master)
        jack_transport_start(j->client);
    for (int s = 0; s < RG_LIVE_MAX_OUTPUTS && j->cfg.autoconnect; s++)
        if (atomic_load(&j->ports[s][0]))
            autoconnect(j, s, false);
    for (int s = 0; s < RG_LIVE_MAX_INPUTS && j->cfg.autoconnect; s++)
        if (atomic_load(&j->in_ports[s][0]))
            autoconnect(j, s, true);
    return true;
}

bool rg_jack_start(rg_jack *j, rg_live *lv, rg_error *err)
{
    j->lv = lv;
    rg_live_set_output_hook(lv, output_hook, j); /* registers the existing outputs */
    if (!j->client)
        return true; /* no server yet: rg_jack_poll connects when one appears */
    if (!activate(j, err))
        return false;
    snprintf(j->client_name, sizeof j->client_name, "%s", jack_get_client_name(j->client));
    return true;
}

static void forget_client(rg_jack *j)
{
    for (int s = 0; s < RG_LIVE_MAX_OUTPUTS; s++)
        for (int c = 0; c < 2; c++)
            atomic_store(&j->ports[s][c], NULL);
    for (int s = 0; s < RG_LIVE_MAX_INPUTS; s++)
        for (int c = 0; c < 2; c++)
            atomic_store(&j->in_ports[s][c], NULL);
    if (j->client)
        jack_client_close(j->client);
    j->client = NULL;
    j->active = false;
}

/* The server came back: same name, same ports, same engine state. */
static void try_reconnect(rg_jack *j)
{
    uint64_t now = clock_ns(CLOCK_MONOTONIC);
    if (now < j->next_reconnect_ns)
        return;
    j->next_reconnect_ns = now + RECONNECT_EVERY_NS;
    rg_error err;
    if (!open_client(j, &err))
        return;
    atomic_store(&j->server_gone, false);
    rg_live_set_output_hook(j->lv, output_hook, j);
    if (!activate(j, &err)) {
        forget_client(j);
        return;
    }
    snprintf(j->client_name, sizeof j->client_name, "%s", jack_get_client_name(j->client));
    fprintf(stderr, "resonant: reconnected to JACK as '%s'\n", j->client_name);
    if (j->rate != rg_live_sample_rate(j->lv))
        atomic_store(&j->pending_rate, j->rate);
}

void rg_jack_poll(rg_jack *j)
{
    if (atomic_load(&j->server_gone) && j->client) {
        fprintf(stderr, "resonant: the JACK server went away; the patch is kept%s\n",
                j->cfg.reconnect ? ", reconnecting when it returns" : " (run with --reconnect to wait for it)");
        forget_client(j);
    }
    if (!j->client && j->cfg.reconnect)
        try_reconnect(j);
    double rate = atomic_exchange(&j->pending_rate, 0.0);
    if (rate > 0) {
        rg_error err;
        j->rate = rate; /* the server's rate now, whether the engine can follow or not */
        if (rg_live_set_sample_rate(j->lv, rate, &err))
            fprintf(stderr, "resonant: JACK sample rate is now %.0f Hz; nodes restarted\n", rate);
        else
            fprintf(stderr, "resonant: cannot follow the sample rate change: %s\n", err.message);
    }
}

void rg_jack_get_status(const rg_jack *j, rg_jack_status *st)
{
    rg_jack *m = (rg_jack *)j;
    uint64_t n = atomic_load(&m->callbacks);
    *st = (rg_jack_status){
        .connected = j->client != NULL && !atomic_load(&m->server_gone),
        .sample_rate = j->rate, .buffer_size = atomic_load(&m->buffer_size),
        .xruns = atomic_load(&m->xruns), .callbacks = n,
        .cpu_mean_us = n ? atomic_load(&m->cpu_total_ns) / 1e3 / (double)n : 0,
        .cpu_max_us = atomic_load(&m->cpu_max_ns) / 1e3,
        .diagnostics = j->diag,
        .thread_cpu_mean_us = n ? atomic_load(&m->thread_cpu_total_ns) / 1e3 / (double)n : 0,
        .thread_cpu_max_us = atomic_load(&m->thread_cpu_max_ns) / 1e3,
        .own_overruns = atomic_load(&m->own_overruns),
        .page_faults = atomic_load(&m->page_faults),
        .faulting_blocks = atomic_load(&m->faulting_blocks),
        .rt_allocations = j->probe_count ? (int64_t)j->probe_count() : -1};
    snprintf(st->client_name, sizeof st->client_name, "%s", j->client_name);
}

/* The line the soak test reads (test_live_jack.c); keep its shape. */
static void print_diagnostics(const rg_jack *j)
{
    rg_jack_status st;
    rg_jack_get_status(j, &st);
    char allocs[64] = "allocations not counted (no probe preloaded)";
    if (st.rt_allocations >= 0)
        snprintf(allocs, sizeof allocs, "%lld allocations", (long long)st.rt_allocations);
    fprintf(stderr, "resonant: audio thread: %llu blocks, CPU mean %.1f us, worst %.1f us, %llu over their period, %s, "
                    "%llu page faults in %llu blocks\n",
            (unsigned long long)st.callbacks, st.thread_cpu_mean_us, st.thread_cpu_max_us,
            (unsigned long long)st.own_overruns, allocs, (unsigned long long)st.page_faults,
            (unsigned long long)st.faulting_blocks);
}

void rg_jack_close(rg_jack *j)
{
    if (!j)
        return;
    if (j->client && j->active && !atomic_load(&j->server_gone))
        jack_deactivate(j->client);
    forget_client(j);
    if (j->diag)
        print_diagnostics(j);
    free(j);
}
