/* OSC 1.0 stream framing over TCP, for the live tests that talk to a
 * running engine: every packet is preceded by its size as a big-endian
 * 32-bit integer. Header-only; each test program is one file and includes
 * cmocka first. */
#ifndef RG_TEST_OSC_TCP_H
#define RG_TEST_OSC_TCP_H

#include <arpa/inet.h>
#include <lo/lo.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

/* One packet of `size` bytes, framed. */
static inline void osc_tcp_send_bytes(int fd, const void *data, size_t size)
{
    uint32_t be = htonl((uint32_t)size);
    assert_int_equal(send(fd, &be, 4, 0), 4);
    assert_int_equal(send(fd, data, size, 0), (ssize_t)size);
}

/* `m` to `path`, framed; frees `m`. */
static inline void osc_tcp_send(int fd, const char *path, lo_message m)
{
    size_t size = 0;
    void *data = lo_message_serialise(m, path, NULL, &size);
    osc_tcp_send_bytes(fd, data, size);
    free(data);
    lo_message_free(m);
}

/* Exactly `n` bytes, waiting up to `timeout_ms` for each piece (-1: no
 * limit). False on a timeout or a closed connection. */
static inline bool osc_tcp_recv_all(int fd, void *buf, size_t n, int timeout_ms)
{
    for (size_t got = 0; got < n;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, timeout_ms) != 1)
            return false;
        ssize_t r = recv(fd, (char *)buf + got, n - got, 0);
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return true;
}

/* The next packet into `buf` (at most `size` bytes): its length, or -1.
 * Its size prefix is awaited up to `first_ms`, the rest up to `rest_ms`. */
static inline long osc_tcp_recv_packet(int fd, void *buf, size_t size, int first_ms, int rest_ms)
{
    uint32_t be;
    if (!osc_tcp_recv_all(fd, &be, 4, first_ms) || ntohl(be) > size ||
        !osc_tcp_recv_all(fd, buf, ntohl(be), rest_ms))
        return -1;
    return (long)ntohl(be);
}

#endif
