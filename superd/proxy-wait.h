/* SPDX-License-Identifier: MIT */
/* Accepted connections of proxy-protocol services: read their PROXY header without blocking, in a bounded set. */
#pragma once

#include <netinet/in.h>

struct listener;
struct server;

/* Connections of one service that may wait for their header at once; more are refused. */
#define PROXY_WAIT_PER_SERVICE 64
/* Connections of all services that may wait at once: the fixed slots superd allocates, once. */
#define PROXY_WAIT_MAX 256

/*
 * A connection `fd` (owned from now on) from `peer` was accepted on l,
 * whose service expects a PROXY protocol header (proxy-protocol). A peer
 * outside proxy-from is refused at once. Then the header is read with
 * MSG_PEEK and exactly its bytes consumed, so the handler's stream starts
 * after it. When it has not arrived in full, the connection waits in one of
 * PROXY_WAIT_MAX fixed slots (at most PROXY_WAIT_PER_SERVICE per service),
 * watched edge-triggered, until the header is complete or proxy-timeout
 * passes. A peer outside proxy-from, a malformed or too long header, no
 * header in time, an early EOF or a full set: the connection is closed and
 * counted as refused (proxy), the line rate-limited. A complete header goes
 * to accept_serve() with the client's address from it (v1 UNKNOWN, v2 LOCAL
 * and other families keep the peer's; v2 LOCAL with proxy-health = close
 * is closed without a handler).
 */
void proxy_wait_start(struct listener *l, int fd, const struct sockaddr_in6 *peer);

/* Close every waiting connection (superd stops) and free the slots. */
void proxy_wait_done(struct server *srv);

/*
 * Call fn(fd, listener, peer, ctx) for every connection waiting for its
 * header, for an upgrade (upgrade.h): the next image starts the wait again
 * with proxy_wait_start() (peeked bytes are still queued in the socket, so
 * nothing is lost; the deadline starts again).
 */
void proxy_wait_each(struct server *srv,
                     void (*fn)(int fd, const struct listener *l, const struct sockaddr_in6 *peer, void *ctx), void *ctx);
