/* The JACK backend: a client whose process callback drives the live engine.
 *
 * Ports: each output node NAME gets `NAME:out_L` and `NAME:out_R`, so a
 * patch's `out` node appears as `resonant:out:out_L` in the JACK graph. The
 * ports of an output node that an edit removes stay registered (silent) so
 * connections survive putting it back.
 *
 * The process callback follows JACK's real-time rules: it reads port
 * pointers through atomics, calls rg_live_process (lock- and allocation-
 * free), and measures its own time. Everything that may block
 * (registering ports, reconnecting after the server went away, a sample
 * rate change) happens in rg_jack_poll on the control thread. */
#ifndef RG_JACK_BACKEND_H
#define RG_JACK_BACKEND_H

#include <stdint.h>

#include "runtime/live.h"

typedef struct rg_jack rg_jack;

typedef struct {
    const char *client_name; /* NULL: "resonant"; JACK adds a suffix if taken */
    const char *server_name; /* NULL: the default server ($JACK_DEFAULT_SERVER) */
    bool autoconnect;        /* connect outputs to the system playback ports */
    bool timebase_master;    /* publish our tempo and BBT to the JACK transport */
    bool follow_transport;   /* take tempo/BBT from another timebase master */
    bool reconnect;          /* reopen the client when the server comes back */
} rg_jack_config;

typedef struct {
    bool connected;
    double sample_rate;
    int buffer_size;
    uint64_t xruns;
    uint64_t callbacks;
    double cpu_mean_us, cpu_max_us; /* wall time spent in our process callback */
    /* With RESONANT_RT_DIAGNOSTICS=1 in the environment (off by default:
     * reading a thread's CPU clock is a system call, ~2 us here): the
     * callback's own CPU time, which preemption by other processes does not
     * inflate; `own_overruns` counts blocks whose CPU time exceeded the
     * block's duration. `rt_allocations` counts malloc-family calls made on
     * the audio thread inside our callbacks when the allocation probe of the
     * tests (tests/runtime/live/rt_alloc_probe.c) is preloaded; -1 without it.
 * Page faults are counted with getrusage(RUSAGE_THREAD), another system call. */
    bool diagnostics;
    double thread_cpu_mean_us, thread_cpu_max_us;
    uint64_t own_overruns;
    uint64_t page_faults, faulting_blocks; /* taken inside our callbacks */
    int64_t rt_allocations;
    char client_name[128];
} rg_jack_status;

/* Open the client (not yet running), so the engine can be built at the
 * server's sample rate. With cfg->reconnect and no server running, returns
 * a backend that connects when one appears (rg_jack_poll); meanwhile the
 * rate is 48000 and the engine is rebuilt if the server's differs. */
rg_jack *rg_jack_open(const rg_jack_config *cfg, rg_error *err);
double rg_jack_sample_rate(const rg_jack *j);

/* Register the output ports of `lv` and start the process callback. */
bool rg_jack_start(rg_jack *j, rg_live *lv, rg_error *err);

/* Control thread, every few ms: notice the server going away (and reconnect
 * when asked), apply sample-rate changes. Messages go to `log` (stderr). */
void rg_jack_poll(rg_jack *j);

void rg_jack_get_status(const rg_jack *j, rg_jack_status *st);

/* Deactivate and close. The live engine is not called afterwards. With
 * diagnostics on, prints the audio thread's summary line to stderr:
 *   resonant: audio thread: N blocks, CPU mean X us, worst Y us, N over their period, N allocations,
 *   N page faults in N blocks */
void rg_jack_close(rg_jack *j);

#endif
