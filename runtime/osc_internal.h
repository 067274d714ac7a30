/* Shared between the OSC transport (osc.c) and the command table
 * (osc_commands.c). Not part of the public interface. */
#ifndef RG_OSC_INTERNAL_H
#define RG_OSC_INTERNAL_H

#include <lo/lo.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "runtime/osc.h"

/* Who sent a message, so the answer goes back the same way. */
typedef struct {
    bool tcp;
    int conn;                     /* TCP: index into the connections */
    unsigned conn_gen;            /* TCP: that connection's generation (it may close) */
    struct sockaddr_storage addr; /* UDP */
    socklen_t addr_len;
} rg_osc_peer;

/* One command being handled. */
typedef struct {
    rg_osc *o;
    const rg_osc_peer *from;
    const char *path;
    const char *types;
    lo_arg **argv;
    int argc;
    rg_live_when when;  /* from the enclosing bundle's time tag */
    char why[512];      /* the reason for /fail */
} rg_osc_cmd;

rg_live *rg_osc_live(rg_osc *o);

/* Answers. */
void rg_osc_send(rg_osc *o, const rg_osc_peer *to, const char *path, lo_message m);
void rg_osc_reply_done(rg_osc_cmd *c);
void rg_osc_reply_fail(rg_osc_cmd *c);
/* `/done ,s... ADDRESS RESULT...`: a /done that carries results (the
 * paths an export wrote). */
void rg_osc_reply_done_with(rg_osc_cmd *c, const char *const *results, int n);

/* Where exports go (rg_osc_config.out_dir). */
const char *rg_osc_out_dir(const rg_osc *o);

/* Subscriptions (/notify) and /sync waiters, kept by osc.c. */
bool rg_osc_subscribe(rg_osc *o, const rg_osc_peer *p, bool on, char *why, int why_size);
bool rg_osc_sync_wait(rg_osc *o, const rg_osc_peer *p, int id, char *why, int why_size);

/* Handle one message; osc_commands.c. Answers the sender. */
void rg_osc_handle(rg_osc_cmd *c);

#endif
