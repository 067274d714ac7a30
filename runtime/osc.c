#include "runtime/osc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/osc_internal.h"

#define MAX_SUBSCRIBERS 16
#define MAX_SYNC_WAITERS 256
#define MAX_BUNDLE_DEPTH 8
/* Packets handled per poll: a flood cannot starve the rest of the loop. */
#define MAX_PACKETS_PER_POLL 512

typedef struct {
    int fd; /* -1 when free */
    unsigned gen;
    unsigned char *buf;  /* RG_OSC_MAX_PACKET + 4 bytes of stream not yet framed */
    size_t have;
} tcp_conn;

typedef struct {
    bool used;
    rg_osc_peer peer;
    int id;
} sync_waiter;

struct rg_osc {
    rg_live *lv;
    int udp_fd, tcp_fd, port;
    uint32_t allow_addr[RG_OSC_MAX_ALLOW], allow_mask[RG_OSC_MAX_ALLOW];
    int n_allow;
    tcp_conn conns[RG_OSC_MAX_CLIENTS];
    unsigned next_gen;
    rg_osc_peer subscribers[MAX_SUBSCRIBERS];
    int n_subscribers;
    sync_waiter waiters[MAX_SYNC_WAITERS];
    unsigned char packet[RG_OSC_MAX_PACKET];
    rg_osc_stats stats;
    char *out_dir;
};

rg_live *rg_osc_live(rg_osc *o) { return o->lv; }
int rg_osc_port(const rg_osc *o) { return o->port; }
void rg_osc_get_stats(const rg_osc *o, rg_osc_stats *st) { *st = o->stats; }
const char *rg_osc_out_dir(const rg_osc *o) { return o->out_dir; }

/* ---- setup ----------------------------------------------------------------- */

bool rg_osc_parse_cidr(const char *cidr, uint32_t *addr, uint32_t *mask)
{
    char ip[64];
    int bits = 32;
    const char *slash = strchr(cidr, '/');
    size_t n = slash ? (size_t)(slash - cidr) : strlen(cidr);
    if (n == 0 || n >= sizeof ip)
        return false;
    memcpy(ip, cidr, n);
    ip[n] = 0;
    if (slash) {
        char *end;
        long b = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end || b < 0 || b > 32)
            return false;
        bits = (int)b;
    }
    struct in_addr a;
    if (inet_pton(AF_INET, ip, &a) != 1)
        return false;
    *mask = bits ? htonl(0xffffffffu << (32 - bits)) : 0;
    *addr = a.s_addr & *mask;
    return true;
}

static int bind_socket(int type, const struct in_addr *ip, int port)
{
    int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    if (type == SOCK_STREAM)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = *ip};
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        (type == SOCK_STREAM && listen(fd, 8) < 0)) {
        close(fd);
        return -1;
    }
    return fd;
}

static int bound_port(int fd)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    return getsockname(fd, (struct sockaddr *)&sa, &len) == 0 ? ntohs(sa.sin_port) : -1;
}

/* UDP and TCP on the same number: with port 0 the kernel picks the UDP
 * port, and we retry when that number is taken for TCP. */
static bool open_sockets(rg_osc *o, const struct in_addr *ip, int port, rg_error *err)
{
    for (int attempt = 0; attempt < 20; attempt++) {
        o->udp_fd = bind_socket(SOCK_DGRAM, ip, port);
        if (o->udp_fd < 0)
            break;
        o->port = bound_port(o->udp_fd);
        o->tcp_fd = bind_socket(SOCK_STREAM, ip, o->port);
        if (o->tcp_fd >= 0)
            return true;
        close(o->udp_fd);
        o->udp_fd = -1;
        if (port != 0)
            break;
    }
    char ipbuf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, ip, ipbuf, sizeof ipbuf);
    return rg_error_set(err, RG_ERR_IO, NULL, 0, 0, "cannot listen for OSC on %s port %d: %s",
                        ipbuf, port, strerror(errno));
}

static bool parse_config(rg_osc *o, const rg_osc_config *cfg, struct in_addr *ip, rg_error *err)
{
    const char *listen_on = cfg->listen ? cfg->listen : "127.0.0.1";
    if (inet_pton(AF_INET, listen_on, ip) != 1)
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0,
                            "--osc-listen takes an IPv4 address such as 0.0.0.0, not '%s'", listen_on);
    if (cfg->port < 0 || cfg->port > 65535)
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0, "OSC port %d is not 0..65535", cfg->port);
    for (int i = 0; i < cfg->n_allow && i < RG_OSC_MAX_ALLOW; i++) {
        if (!rg_osc_parse_cidr(cfg->allow[i], &o->allow_addr[i], &o->allow_mask[i]))
            return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0,
                                "--osc-allow takes an IPv4 CIDR such as 192.168.1.0/24, not '%s'",
                                cfg->allow[i]);
        o->n_allow = i + 1;
    }
    return true;
}

/* Generation events from the live engine, for the /notify subscribers. */
static void on_live_event(void *user, const rg_live_event *ev)
{
    rg_osc *o = user;
    lo_message m = lo_message_new();
    lo_message_add_string(m, ev->node);
    const char *path = "/error";
    if (ev->kind == RG_LIVE_PROGRESS) {
        path = "/progress";
        lo_message_add_float(m, (float)ev->fraction);
    } else if (ev->kind == RG_LIVE_TAKE) {
        path = "/take";
        lo_message_add_int32(m, (int32_t)ev->take);
    } else {
        lo_message_add_string(m, ev->why);
        fprintf(stderr, "resonant: %s\n", ev->why);
    }
    for (int s = 0; s < o->n_subscribers; s++)
        rg_osc_send(o, &o->subscribers[s], path, m);
    lo_message_free(m);
}

rg_osc *rg_osc_new(rg_live *lv, const rg_osc_config *cfg, rg_error *err)
{
    rg_osc *o = calloc(1, sizeof *o);
    if (!o) {
        rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
        return NULL;
    }
    o->lv = lv;
    o->udp_fd = o->tcp_fd = -1;
    for (int i = 0; i < RG_OSC_MAX_CLIENTS; i++)
        o->conns[i].fd = -1;
    struct in_addr ip;
    o->out_dir = strdup(cfg->out_dir ? cfg->out_dir : rg_live_base_dir(lv));
    if (!o->out_dir) {
        rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
        rg_osc_free(o);
        return NULL;
    }
    if (!parse_config(o, cfg, &ip, err) || !open_sockets(o, &ip, cfg->port, err)) {
        rg_osc_free(o);
        return NULL;
    }
    rg_live_set_event_hook(lv, on_live_event, o);
    return o;
}

static void close_conn(rg_osc *o, int i)
{
    tcp_conn *c = &o->conns[i];
    if (c->fd < 0)
        return;
    close(c->fd);
    free(c->buf);
    *c = (tcp_conn){.fd = -1};
    /* A closed connection takes its subscription with it. */
    for (int s = 0; s < o->n_subscribers; s++)
        if (o->subscribers[s].tcp && o->subscribers[s].conn == i)
            o->subscribers[s--] = o->subscribers[--o->n_subscribers];
}

void rg_osc_free(rg_osc *o)
{
    if (!o)
        return;
    if (o->lv)
        rg_live_set_event_hook(o->lv, NULL, NULL);
    for (int i = 0; i < RG_OSC_MAX_CLIENTS; i++)
        close_conn(o, i);
    if (o->udp_fd >= 0)
        close(o->udp_fd);
    if (o->tcp_fd >= 0)
        close(o->tcp_fd);
    free(o->out_dir);
    free(o);
}

/* ---- sending --------------------------------------------------------------- */

static bool same_peer(const rg_osc_peer *a, const rg_osc_peer *b)
{
    if (a->tcp != b->tcp)
        return false;
    if (a->tcp)
        return a->conn == b->conn && a->conn_gen == b->conn_gen;
    return a->addr_len == b->addr_len && memcmp(&a->addr, &b->addr, a->addr_len) == 0;
}

/* A reply that cannot be written at once is dropped and counted: the
 * control loop never blocks on a slow client. */
static void send_tcp(rg_osc *o, const rg_osc_peer *to, const void *data, size_t size)
{
    tcp_conn *c = &o->conns[to->conn];
    if (c->fd < 0 || c->gen != to->conn_gen) {
        o->stats.replies_dropped++;
        return;
    }
    unsigned char frame[4 + RG_OSC_MAX_PACKET];
    uint32_t be = htonl((uint32_t)size);
    memcpy(frame, &be, 4);
    memcpy(frame + 4, data, size);
    ssize_t n = send(c->fd, frame, size + 4, MSG_NOSIGNAL);
    if (n != (ssize_t)(size + 4)) {
        o->stats.replies_dropped++;
        if (n > 0) /* half a frame on the wire: the stream is broken */
            close_conn(o, to->conn);
    }
}

void rg_osc_send(rg_osc *o, const rg_osc_peer *to, const char *path, lo_message m)
{
    size_t size = 0;
    void *data = lo_message_serialise(m, path, NULL, &size);
    if (!data || size > RG_OSC_MAX_PACKET) {
        o->stats.replies_dropped++;
        free(data);
        return;
    }
    if (to->tcp)
        send_tcp(o, to, data, size);
    else if (sendto(o->udp_fd, data, size, 0, (const struct sockaddr *)&to->addr, to->addr_len) < 0)
        o->stats.replies_dropped++;
    free(data);
}

void rg_osc_reply_done(rg_osc_cmd *c) { rg_osc_reply_done_with(c, NULL, 0); }

void rg_osc_reply_done_with(rg_osc_cmd *c, const char *const *results, int n)
{
    lo_message m = lo_message_new();
    lo_message_add_string(m, c->path);
    for (int i = 0; i < n; i++)
        lo_message_add_string(m, results[i]);
    rg_osc_send(c->o, c->from, "/done", m);
    lo_message_free(m);
}

void rg_osc_reply_fail(rg_osc_cmd *c)
{
    c->o->stats.commands_failed++;
    lo_message m = lo_message_new();
    lo_message_add_string(m, c->path);
    lo_message_add_string(m, c->why);
    rg_osc_send(c->o, c->from, "/fail", m);
    lo_message_free(m);
}

void rg_osc_notify_error(rg_osc *o, const char *where, const char *why)
{
    lo_message m = lo_message_new();
    lo_message_add_string(m, where);
    lo_message_add_string(m, why);
    for (int s = 0; s < o->n_subscribers; s++)
        rg_osc_send(o, &o->subscribers[s], "/error", m);
    lo_message_free(m);
}

bool rg_osc_subscribe(rg_osc *o, const rg_osc_peer *p, bool on, char *why, int why_size)
{
    for (int s = 0; s < o->n_subscribers; s++) {
        if (same_peer(&o->subscribers[s], p)) {
            if (!on)
                o->subscribers[s] = o->subscribers[--o->n_subscribers];
            return true;
        }
    }
    if (!on)
        return true;
    if (o->n_subscribers == MAX_SUBSCRIBERS) {
        snprintf(why, why_size, "too many subscribers (%d)", MAX_SUBSCRIBERS);
        return false;
    }
    o->subscribers[o->n_subscribers++] = *p;
    return true;
}

/* ---- /sync ----------------------------------------------------------------- */

bool rg_osc_sync_wait(rg_osc *o, const rg_osc_peer *p, int id, char *why, int why_size)
{
    for (int i = 0; i < MAX_SYNC_WAITERS; i++) {
        if (o->waiters[i].used)
            continue;
        rg_error err;
        if (!rg_live_sync(o->lv, (uint64_t)i, &err)) {
            snprintf(why, why_size, "%s", err.message);
            return false;
        }
        o->waiters[i] = (sync_waiter){.used = true, .peer = *p, .id = id};
        return true;
    }
    snprintf(why, why_size, "too many /sync waiting (%d)", MAX_SYNC_WAITERS);
    return false;
}

static void synced(void *user, uint64_t cookie)
{
    rg_osc *o = user;
    if (cookie >= MAX_SYNC_WAITERS || !o->waiters[cookie].used)
        return;
    sync_waiter *w = &o->waiters[cookie];
    lo_message m = lo_message_new();
    lo_message_add_int32(m, w->id);
    rg_osc_send(o, &w->peer, "/synced", m);
    lo_message_free(m);
    w->used = false;
}

/* ---- receiving ------------------------------------------------------------- */

static bool allowed(const rg_osc *o, const struct sockaddr_storage *from)
{
    if (o->n_allow == 0)
        return true;
    if (from->ss_family != AF_INET)
        return false;
    uint32_t a = ((const struct sockaddr_in *)from)->sin_addr.s_addr;
    for (int i = 0; i < o->n_allow; i++)
        if ((a & o->allow_mask[i]) == o->allow_addr[i])
            return true;
    return false;
}

static uint32_t read_be32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return ntohl(v);
}

/* An OSC time tag as a frame of the live clock; 0 for "immediately". */
static rg_live_when when_from_timetag(rg_osc *o, uint32_t sec, uint32_t frac, double *late_by)
{
    *late_by = 0;
    if (sec == 0 && frac <= 1)
        return RG_LIVE_NOW;
    const uint64_t ntp_to_unix = 2208988800u;
    double unix_s = (double)sec - (double)ntp_to_unix + frac / 4294967296.0;
    uint64_t ns = unix_s <= 0 ? 0 : (uint64_t)(unix_s * 1e9);
    uint64_t frame = rg_live_frame_at(o->lv, ns);
    uint64_t now = rg_live_frames(o->lv);
    if (frame <= now) {
        *late_by = (double)(now - frame) / rg_live_sample_rate(o->lv);
        return RG_LIVE_NOW;
    }
    return (rg_live_when){frame, false};
}

static void send_late(rg_osc *o, const rg_osc_peer *from, const char *path, double late_by)
{
    lo_message m = lo_message_new();
    lo_message_add_string(m, path);
    lo_message_add_float(m, (float)late_by);
    rg_osc_send(o, from, "/late", m);
    lo_message_free(m);
}

static void handle_message(rg_osc *o, const rg_osc_peer *from, const unsigned char *data,
                           size_t len, const uint32_t *tt)
{
    if (len < 4 || data[0] != '/' || !memchr(data, 0, len)) {
        o->stats.bad_packets++;
        return;
    }
    int result = 0;
    lo_message m = lo_message_deserialise((void *)data, len, &result);
    if (!m) {
        /* Answer what we can: the address is readable even if the rest is not. */
        rg_osc_cmd c = {.o = o, .from = from, .path = (const char *)data};
        snprintf(c.why, sizeof c.why, "malformed message (liblo error %d)", result);
        rg_osc_reply_fail(&c);
        o->stats.bad_packets++;
        return;
    }
    double late_by = 0;
    rg_osc_cmd c = {.o = o, .from = from, .path = (const char *)data,
                    .types = lo_message_get_types(m), .argv = lo_message_get_argv(m),
                    .argc = lo_message_get_argc(m)};
    c.when = tt ? when_from_timetag(o, tt[0], tt[1], &late_by) : RG_LIVE_NOW;
    if (late_by > 0)
        send_late(o, from, c.path, late_by);
    rg_osc_handle(&c);
    lo_message_free(m);
}

static void handle_packet(rg_osc *o, const rg_osc_peer *from, const unsigned char *data,
                          size_t len, const uint32_t *tt, int depth)
{
    o->stats.received++;
    if (len < 8 || memcmp(data, "#bundle", 8) != 0) {
        handle_message(o, from, data, len, tt);
        return;
    }
    if (len < 16 || depth >= MAX_BUNDLE_DEPTH) {
        o->stats.bad_packets++;
        return;
    }
    uint32_t inner[2] = {read_be32(data + 8), read_be32(data + 12)};
    size_t at = 16;
    while (at + 4 <= len) {
        uint32_t size = read_be32(data + at);
        at += 4;
        if (size > len - at || size % 4) {
            o->stats.bad_packets++;
            return;
        }
        handle_packet(o, from, data + at, size, inner, depth + 1);
        at += size;
    }
}

static int drain_udp(rg_osc *o)
{
    int n = 0;
    for (; n < MAX_PACKETS_PER_POLL; n++) {
        rg_osc_peer from = {.addr_len = sizeof from.addr};
        ssize_t len = recvfrom(o->udp_fd, o->packet, sizeof o->packet, 0,
                               (struct sockaddr *)&from.addr, &from.addr_len);
        if (len < 0)
            break;
        if (!allowed(o, &from.addr)) {
            o->stats.denied++;
            continue;
        }
        handle_packet(o, &from, o->packet, (size_t)len, NULL, 0);
    }
    return n;
}

static void accept_clients(rg_osc *o)
{
    for (;;) {
        struct sockaddr_storage addr;
        socklen_t len = sizeof addr;
        int fd = accept4(o->tcp_fd, (struct sockaddr *)&addr, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        int slot = -1;
        for (int i = 0; i < RG_OSC_MAX_CLIENTS && slot < 0; i++)
            if (o->conns[i].fd < 0)
                slot = i;
        unsigned char *buf = slot >= 0 && allowed(o, &addr) ? malloc(RG_OSC_MAX_PACKET + 4) : NULL;
        if (!buf) {
            o->stats.denied++;
            close(fd);
            continue;
        }
        o->conns[slot] = (tcp_conn){.fd = fd, .gen = ++o->next_gen, .buf = buf};
    }
}

/* Handle every complete frame in the connection's buffer. */
static bool frame_packets(rg_osc *o, int i)
{
    tcp_conn *c = &o->conns[i];
    size_t at = 0;
    while (c->have - at >= 4) {
        uint32_t size = read_be32(c->buf + at);
        if (size > RG_OSC_MAX_PACKET)
            return false; /* bounded: a client cannot make us buffer more */
        if (c->have - at - 4 < size)
            break;
        rg_osc_peer from = {.tcp = true, .conn = i, .conn_gen = c->gen};
        memcpy(o->packet, c->buf + at + 4, size);
        at += 4 + size;
        handle_packet(o, &from, o->packet, size, NULL, 0);
        if (c->fd < 0)
            return true; /* a reply failed and closed it */
    }
    memmove(c->buf, c->buf + at, c->have - at);
    c->have -= at;
    return true;
}

static void read_client(rg_osc *o, int i)
{
    tcp_conn *c = &o->conns[i];
    ssize_t n = recv(c->fd, c->buf + c->have, RG_OSC_MAX_PACKET + 4 - c->have, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        close_conn(o, i);
        return;
    }
    if (n < 0)
        return;
    c->have += (size_t)n;
    if (!frame_packets(o, i)) {
        o->stats.bad_packets++;
        close_conn(o, i);
    }
}

void rg_osc_poll(rg_osc *o, int timeout_ms)
{
    struct pollfd fds[2 + RG_OSC_MAX_CLIENTS];
    int idx[2 + RG_OSC_MAX_CLIENTS], n = 0;
    fds[n++] = (struct pollfd){.fd = o->udp_fd, .events = POLLIN};
    fds[n++] = (struct pollfd){.fd = o->tcp_fd, .events = POLLIN};
    for (int i = 0; i < RG_OSC_MAX_CLIENTS; i++) {
        if (o->conns[i].fd < 0)
            continue;
        idx[n] = i;
        fds[n++] = (struct pollfd){.fd = o->conns[i].fd, .events = POLLIN};
    }
    if (poll(fds, (nfds_t)n, timeout_ms) > 0) {
        if (fds[0].revents)
            drain_udp(o);
        if (fds[1].revents)
            accept_clients(o);
        for (int k = 2; k < n; k++)
            if (fds[k].revents && o->conns[idx[k]].fd == fds[k].fd)
                read_client(o, idx[k]);
    }
    rg_live_poll(o->lv, synced, o);
}
