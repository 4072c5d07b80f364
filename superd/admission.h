/* SPDX-License-Identifier: MIT */
/* Admission: may a connection from this address start a handler? A pure decision over the service's state. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"
#include "ratelimit.h"
#include "source.h"

/* The verdict on one accepted connection, in the order the checks run. */
enum admission {
        ADMIT,             /* start a handler */
        REFUSE_ACL,        /* allow/deny */
        REFUSE_RATE,       /* max-rate exceeded: the caller also pauses the service (rate-pause) */
        REFUSE_PER_SOURCE, /* max-per-source handlers of this address already run */
};

/*
 * Decide on a connection from `remote` (AF_INET or AF_INET6; NULL for a
 * unix socket peer, which is always admitted) to a service configured
 * as `conf`, at now_usec (CLOCK_MONOTONIC), as xinetd and s6-tcpserver do
 * before anything is spawned: allow/deny (acl.h), then max-rate (the
 * connection is counted in *rate, ratelimit.h), then max-per-source. On
 * ADMIT with max-per-source set, the source was acquired in *sources: then
 * *ret_counted is true and *ret_key names it, for the caller to release
 * when the handler ends (source_release()). A per-source table without
 * memory admits the connection uncounted rather than refuse it. The
 * result depends only on the arguments: no clock, no I/O, no logging.
 */
enum admission admission_check(const struct service *conf, struct rate_limit *rate, struct source_table *sources,
                               const struct sockaddr *remote, uint64_t now_usec, struct source_key *ret_key,
                               bool *ret_counted);
