/* A second JACK client for the live tests: records its input ports into
 * buffers allocated before it starts (its process callback neither
 * allocates nor locks) and notes where the recording stood at each xrun.
 * In an xrun the server skips or truncates a cycle, so the recording's
 * timeline jumps there; checks that measure time skip such stretches. A
 * loaded machine (CI running other tests) can always cause one: that is the
 * server's doing, not the engine's. Header-only, one recorder per test. */
#ifndef RG_TEST_JACK_RECORDER_H
#define RG_TEST_JACK_RECORDER_H

#include <jack/jack.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/runtime/live/jack_util.h"

#define REC_MAX_PORTS 4
#define REC_MAX_XRUNS 256

typedef struct {
    jack_client_t *client;
    int ports;
    jack_port_t *port[REC_MAX_PORTS];
    float *data[REC_MAX_PORTS]; /* data[i][0 .. frames): what port i heard */
    long capacity;
    atomic_long frames;
    atomic_bool on; /* recording only while set */
    long xrun_at[REC_MAX_XRUNS];
    atomic_int xruns;
} jack_recorder;

static int recorder_process(jack_nframes_t n, void *arg)
{
    jack_recorder *r = arg;
    if (!atomic_load(&r->on))
        return 0;
    long at = atomic_load(&r->frames);
    long count = (long)n < r->capacity - at ? (long)n : r->capacity - at;
    if (count <= 0)
        return 0;
    for (int i = 0; i < r->ports; i++)
        memcpy(r->data[i] + at, jack_port_get_buffer(r->port[i], n), (size_t)count * sizeof(float));
    atomic_store(&r->frames, at + count);
    return 0;
}

static int recorder_xrun(void *arg)
{
    jack_recorder *r = arg;
    int k = atomic_load(&r->xruns);
    if (k < REC_MAX_XRUNS) {
        r->xrun_at[k] = atomic_load(&r->frames);
        atomic_store(&r->xruns, k + 1);
    }
    return 0;
}

/* Buffers for `ports` inputs of `capacity` frames each, before any client. */
static inline bool recorder_alloc(jack_recorder *r, int ports, long capacity)
{
    memset(r, 0, sizeof *r);
    r->ports = ports;
    r->capacity = capacity;
    for (int i = 0; i < ports; i++)
        if (!(r->data[i] = calloc((size_t)capacity, sizeof(float))))
            return false;
    return true;
}

/* Open client `name` on `server` with one input per name in `port_names`,
 * and activate it; not recording yet. */
static inline bool recorder_open(jack_recorder *r, const char *name, const char *server,
                                 const char *const *port_names)
{
    jack_status_t status;
    r->client = jack_client_open(name, JackNoStartServer | JackServerName, &status, server);
    if (!r->client)
        return false;
    for (int i = 0; i < r->ports; i++)
        if (!(r->port[i] = jack_port_register(r->client, port_names[i], JACK_DEFAULT_AUDIO_TYPE,
                                              JackPortIsInput, 0)))
            return false;
    atomic_store(&r->frames, 0);
    atomic_store(&r->xruns, 0);
    atomic_store(&r->on, false);
    jack_set_process_callback(r->client, recorder_process, r);
    jack_set_xrun_callback(r->client, recorder_xrun, r);
    return jack_activate(r->client) == 0;
}

/* Cable the port `source` (e.g. "eng:out:out_L") into input i, waiting up
 * to 15 s for it to appear. */
static inline bool recorder_connect(jack_recorder *r, int i, const char *source)
{
    int rc = -1;
    for (double t0 = now_s(); rc != 0 && now_s() - t0 < 15; usleep(50000))
        rc = jack_connect(r->client, source, jack_port_name(r->port[i]));
    return rc == 0;
}

/* Whether an xrun fell within `margin` frames of [from, to]. */
static inline bool recorder_xrun_between(jack_recorder *r, long from, long to, long margin)
{
    for (int k = 0; k < atomic_load(&r->xruns); k++)
        if (r->xrun_at[k] >= from - margin && r->xrun_at[k] <= to + margin)
            return true;
    return false;
}

static inline void recorder_close(jack_recorder *r)
{
    if (r->client)
        jack_client_close(r->client);
    r->client = NULL;
}

static inline void recorder_free(jack_recorder *r)
{
    recorder_close(r);
    for (int i = 0; i < r->ports; i++)
        free(r->data[i]);
    memset(r, 0, sizeof *r);
}

#endif
