/* SPDX-License-Identifier: MIT */
/* The inetd internal services (echo, discard, chargen, daytime, time), served in the event loop without fork. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "builtin-proto.h"

/*
 * SO_SNDBUF and SO_RCVBUF, in bytes, that builtin_stream_start() sets on
 * every connection. Linux doubles the value for its own bookkeeping, so each
 * queue is limited to 32 KiB (sk_sndbuf, sk_rcvbuf, counted with skb
 * overhead). The kernel checks the limit before it starts a new packet, so the
 * one packet being filled (send) or taken in (receive) can pass it by up to a
 * GSO/GRO packet, 64 KiB by default. Measured on loopback: 48 KiB of send
 * queue for a chargen client that never reads; 33 KiB of send and 25 KiB of
 * receive queue for an echo client that sends and never reads.
 */
#define BUILTIN_SOCKET_BUFFER (16 * 1024)

/*
 * Serve one accepted stream connection `fd` as builtin `b` in event loop `e`.
 *
 * Takes ownership of fd on every path: it is closed when the connection
 * ends, and also when this fails. Sets O_NONBLOCK itself; SO_SNDBUF and
 * SO_RCVBUF to BUILTIN_SOCKET_BUFFER (fixed: autotuning would grant megabytes
 * to a peer that never reads); and TCP_NODELAY on TCP (a send buffer smaller
 * than one loopback segment would otherwise wait for delayed ACKs). The
 * connection keeps a reference to `e` (through its io source) until it ends.
 *
 * Behaviour, one non-blocking state machine each, at most 64 KiB moved per
 * wakeup so that one client never delays another source of the loop:
 *   echo     reads only while its 4 KiB buffer has room and writes what it
 *            holds: a client that sends but never reads is no longer read
 *            once the buffer is full. On peer EOF it flushes, then closes.
 *   discard  reads and drops everything until EOF or error.
 *   chargen  writes the RFC 864 pattern whenever the socket is writable
 *            (generated from a shared table, no buffer per connection),
 *            drops any input, ends on peer EOF or any error.
 *   daytime, time  write the answer (RFC 867 text, RFC 868 4 bytes) once
 *            writable, shut down the write side (the client sees EOF), then
 *            drop input until the client closes, so that a client that sent
 *            something is not reset before it reads the answer. If the answer
 *            cannot be written at once the connection simply ends.
 * Memory per connection, the true bound: in superd, a state record of under
 * 100 bytes, plus 4 KiB for echo; in the kernel, at most 32 KiB of send queue
 * and 32 KiB of receive queue, each of which one packet can pass by up to
 * 64 KiB (BUILTIN_SOCKET_BUFFER): under 200 KiB in all, 48 to 58 KiB measured.
 *
 * `done(userdata)` (done may be NULL) is called exactly once when the
 * connection ends, after fd is closed, from the event loop or from
 * builtin_stream_close_all(); never from within this call.
 *
 * Returns 0, -EINVAL for BUILTIN_NONE or an unknown value, -ENOMEM, or the
 * -errno of fcntl(2) or sd_event_add_io().
 */
int builtin_stream_start(sd_event *e, enum builtin b, int fd, void (*done)(void *userdata), void *userdata);

/*
 * End every live stream connection at once (superd stopping): close each
 * fd and call its done(). Connections that a done() starts are closed too.
 */
void builtin_stream_close_all(void);

/* Bytes an echo connection holds at most (for a client that does not read). */
#define BUILTIN_ECHO_HELD_MAX 4096

/*
 * Where one stream connection stands, for an upgrade (upgrade.h): what
 * builtin_stream_resume() needs to go on with it in the next image.
 * Strings and `held` point into the connection: valid until it changes.
 */
struct builtin_stream_saved {
        int fd;
        enum builtin type;
        bool eof;         /* echo: the peer sent EOF */
        bool answered;    /* daytime, time: answered and half-closed, draining */
        size_t pos;       /* chargen: position in the stream */
        const char *held; /* echo: bytes read but not yet sent back */
        size_t len;       /* ... how many (at most BUILTIN_ECHO_HELD_MAX) */
        void *userdata;   /* what builtin_stream_start() got */
};

/* Call fn(saved, ctx) for every live stream connection. */
void builtin_stream_each(void (*fn)(const struct builtin_stream_saved *s, void *ctx), void *ctx);

/*
 * Serve again, in this image, a connection an upgrade carried over: as
 * builtin_stream_start() (taking s->fd, `done` and `userdata`), then
 * restore where it stood, so that no byte is sent twice or lost. Returns 0
 * or -errno (-EINVAL for a state that cannot be: fd closed then).
 */
int builtin_stream_resume(sd_event *e, const struct builtin_stream_saved *s, void (*done)(void *userdata),
                          void *userdata);

/* Number of live stream connections, of all builtins together. */
size_t builtin_stream_count(void);

/*
 * Prepare the listening socket `fd` of a builtin service once, when it is
 * opened or adopted (before the first accept or datagram). Idempotent.
 *   TCP  SO_SNDBUF and SO_RCVBUF to BUILTIN_SOCKET_BUFFER, which accepted
 *        connections inherit: the window offered in the handshake then fits
 *        the buffer that builtin_stream_start() sets (a larger window offered
 *        first would leave a bulk sender on loopback stalled for seconds).
 *        Overrides the service's receive-buffer and send-buffer.
 *   UDP  ask for the destination address of each datagram (IP_PKTINFO on
 *        AF_INET; IPV6_RECVPKTINFO and IP_PKTINFO on AF_INET6, so that IPv4
 *        datagrams on a dual-stack socket carry it too), so that
 *        builtin_dgram_serve() answers from the address a datagram was sent
 *        to: on a wildcard socket the kernel's default source may be another
 *        one, and a connected client drops such an answer.
 * Other families and types: nothing to do. The options stay with the socket
 * if a reload hands it to a service that is not a builtin.
 * Returns 0, or the -errno of getsockopt(2) or setsockopt(2).
 */
int builtin_listener_prepare(int fd);

/*
 * The datagram socket `fd` of a builtin `b` is readable: read up to 32
 * queued datagrams with recvmsg() and answer each with sendmsg(MSG_DONTWAIT)
 * from the address it was sent to (IP_PKTINFO / IPV6_PKTINFO with that
 * source; none when it was sent to a multicast address: then the kernel's
 * default source); send errors are ignored (UDP). A socket that was not
 * given to builtin_listener_prepare() is prepared at its first IP datagram
 * (that one is answered from the default source). fds that a unix sender
 * passes are closed. No allocation: one static 64 KiB buffer.
 *   echo     the same bytes (RFC 862); discard nothing (RFC 863);
 *   chargen  a random number of pattern characters, 0 to 512 (RFC 864);
 *   daytime  the text of builtin_daytime_format() (RFC 867);
 *   time     4 bytes, builtin_time_value() big-endian (RFC 868).
 * A datagram for which builtin_dgram_reflects() holds is dropped
 * unanswered; `ports` (n_ports entries, host order, may be NULL when
 * n_ports is 0) are the ports superd's own dgram builtins listen on.
 * Works on any datagram socket (MSG_DONTWAIT is used); an unnamed AF_UNIX
 * sender cannot be answered and is skipped; BUILTIN_NONE reads and drops.
 * Returns the number of datagrams read (answered or not). The caller need
 * not loop: what is left keeps a level-triggered io source readable.
 */
unsigned builtin_dgram_serve(enum builtin b, int fd, const uint16_t *ports, size_t n_ports);
