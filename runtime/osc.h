/* The OSC server: the address table of DESIGN.md section 4 over UDP and TCP
 * on one port number.
 *
 * liblo 0.31 binds its servers to every interface and cannot be told
 * otherwise, so the sockets are our own (bound to 127.0.0.1 unless
 * configured) and liblo does what it is good at: decoding and encoding
 * messages and OSC 1.0 pattern matching. TCP uses OSC 1.0 stream framing (a
 * 32-bit big-endian length before each packet), as liblo's osc.tcp:// does.
 *
 * Everything runs on the thread that calls rg_osc_poll: it is the live
 * engine's control thread. */
#ifndef RG_OSC_H
#define RG_OSC_H

#include <stdint.h>

#include "runtime/live.h"

#define RG_OSC_DEFAULT_PORT 57130
#define RG_OSC_MAX_PACKET 65536   /* larger TCP packets close the connection */
#define RG_OSC_MAX_CLIENTS 16     /* TCP connections at once */
#define RG_OSC_MAX_ALLOW 8

typedef struct rg_osc rg_osc;

typedef struct {
    const char *listen;  /* address to bind; NULL = 127.0.0.1 */
    int port;            /* 0 picks a free port (the same for UDP and TCP) */
    const char *allow[RG_OSC_MAX_ALLOW]; /* CIDRs allowed to talk; none = anyone who can reach it */
    int n_allow;
    const char *out_dir; /* where /take/export and /export write; NULL = the patch directory */
} rg_osc_config;

rg_osc *rg_osc_new(rg_live *lv, const rg_osc_config *cfg, rg_error *err);
void rg_osc_free(rg_osc *o);

int rg_osc_port(const rg_osc *o);

/* Wait up to `timeout_ms` for packets, handle them, then let the live engine
 * free retired states and answer /sync. */
void rg_osc_poll(rg_osc *o, int timeout_ms);

/* Send `/error ,ss where why` to every /notify subscriber. */
void rg_osc_notify_error(rg_osc *o, const char *where, const char *why);

typedef struct {
    uint64_t received, bad_packets, denied, commands_failed, replies_dropped;
} rg_osc_stats;
void rg_osc_get_stats(const rg_osc *o, rg_osc_stats *st);

/* Parse "a.b.c.d/n" into network order address and mask. */
bool rg_osc_parse_cidr(const char *cidr, uint32_t *addr, uint32_t *mask);

#endif
