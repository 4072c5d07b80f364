/* SPDX-License-Identifier: MIT */
/* The upgrade blob: what one superd image hands the next across execve(2), as plain data; JSON in a sealed memfd. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"
#include "ratelimit.h"
#include "socket.h"

/*
 * Format (DESIGN.md §11): one JSON object (json-c), versioned by
 * "magic":"superd-upgrade" and "version":UPGRADE_BLOB_VERSION. JSON rather
 * than fixed records because the reader is another build of superd: named
 * fields let a newer image read an older blob (a missing optional field
 * takes its default) and json-c, which superd links already, does the
 * bounds checking of the text. A reader refuses a blob of another
 * version (-EBADMSG). The object is followed, byte for byte, by the
 * configuration texts ("config_main_len", "config_services_len" and
 * "config_retired_len" give their sizes; nothing may follow them): escaping and parsing them as JSON
 * strings would cost more than everything else in the blob.
 */
#define UPGRADE_BLOB_MAGIC   "superd-upgrade"
#define UPGRADE_BLOB_VERSION 1

/* Bounds the reader enforces: a blob beyond them is refused (-EBADMSG). */
#define UPGRADE_BLOB_MAX   (64u << 20) /* bytes of the whole blob */
#define UPGRADE_ITEMS_MAX  (1u << 20)  /* entries of each array */
#define UPGRADE_STRING_MAX 4096        /* bytes of a name */
#define UPGRADE_CONFIG_MAX (32u << 20) /* bytes of each configuration text */
#define UPGRADE_FD_MAX     (1 << 24)   /* an fd number above this is not one superd had */

/* One open listening socket of the old image. The fd crosses the exec. */
struct upgrade_listener {
        int fd;
        char *service;           /* owning service's name (owned) */
        struct listen_addr addr; /* its identity (reload-plan.h): address, type, options, builtin */
        char *path;              /* read from a blob: what addr.un.path points to (owned); else NULL */
        int socket_type;
        struct socket_options options;
        bool builtin;
        bool adopted;            /* passed by a service manager: options not compared, file never removed */
        struct socket_file file; /* the unix socket file superd created; ino 0: none */
};

/* One running handler of the old image: a child of this very process (the pid survives the exec). */
struct upgrade_handler {
        pid_t pid;
        char *service;              /* owned */
        struct sockaddr_in6 remote; /* as struct child's: AF_INET, AF_INET6, AF_UNIX (family only), AF_UNSPEC */
        uint64_t start_usec;        /* CLOCK_MONOTONIC µs (the clock goes on across exec) */
        uint64_t deadline_usec;     /* next timeout step, CLOCK_MONOTONIC µs; 0: no timeout */
        bool term_sent;             /* the deadline is the SIGKILL one */
        bool counted_source;        /* counted against max-per-source */
        ssize_t wait_listener;      /* wait = yes or a worker: index in upgrade_state.listeners of its socket, or -1 */
        int worker_slot;            /* a worker of a pool (workers.h): its slot, with wait_listener its socket; else -1 */
};

/* The run-time state of one service kept by name: counters, max-rate window, rate pause. */
struct upgrade_service {
        char *name; /* owned */
        uint64_t accepted, failed, refused_acl, refused_per_source, refused_rate, refused_proxy;
        struct rate_limit rate;
        uint64_t rate_pause_end_usec; /* CLOCK_MONOTONIC µs; 0: not paused */
};

/* What an accepted connection still in superd's hands is doing. */
enum upgrade_conn_kind {
        UPGRADE_CONN_BUILTIN = 0, /* served by a builtin in the loop (builtin.h) */
        UPGRADE_CONN_PROXY = 1,   /* waiting for its PROXY header (proxy-wait.h) */
};

/* Most bytes a builtin connection holds (builtin.h BUILTIN_ECHO_HELD_MAX). */
#define UPGRADE_HELD_MAX 4096

/* One accepted connection superd itself serves or holds. The fd crosses the exec. */
struct upgrade_conn {
        int fd;
        enum upgrade_conn_kind kind;
        char *service;            /* owned */
        ssize_t listener;         /* proxy: index in upgrade_state.listeners of the socket it came from, or -1 */
        struct sockaddr_in6 peer; /* proxy: the balancer */
        int builtin;              /* builtin: enum builtin */
        bool eof, answered;       /* builtin_stream_saved's */
        uint64_t pos;
        char *held; /* echo: bytes held (owned), len of them */
        size_t len;
};

/* Everything a blob carries. Zero-initialise; free with upgrade_state_free(). */
struct upgrade_state {
        char *from;              /* "superd X.Y.Z" of the writer (owned) */
        uint64_t requested_usec; /* CLOCK_MONOTONIC µs when the upgrade was asked for */
        int reply_fd;            /* superctl's connection awaiting the result, or -1 */
        char *config_main;       /* the writer's configuration, printed (config_print()): main keys (owned) */
        char *config_services;   /* ... and its services' sections, as one drop-in (owned) */
        char *config_retired;    /* ... and those a reload removed but running handlers still hold (owned) */
        struct upgrade_listener *listeners;
        size_t n_listeners;
        struct upgrade_handler *handlers;
        size_t n_handlers;
        struct upgrade_service *services;
        size_t n_services;
        struct upgrade_conn *conns;
        size_t n_conns;
};

/* Free everything *s owns (not its fds) and zero it; accepts a zeroed state. */
void upgrade_state_free(struct upgrade_state *s);

/*
 * Write *s as the JSON text of a blob into a malloc'd, NUL-terminated
 * *ret_text of *ret_len bytes (owned by the caller). Returns 0 or -ENOMEM.
 */
int upgrade_format(const struct upgrade_state *s, char **ret_text, size_t *ret_len);

/*
 * Parse and validate a blob of LEN bytes (NUL not needed) into *ret
 * (zeroed first; owned by the caller on success, left zeroed on failure).
 * Every field is type-checked and bounded (the limits above): addresses
 * as addr_parse() yields them (addr_from_sockaddr(): a unix listener gets
 * its own `path`), fds in [3, UPGRADE_FD_MAX] and each used
 * once, pids > 0, handler wait_listener indices in range, names of
 * 1..UPGRADE_STRING_MAX bytes. Returns 0, -EBADMSG (not a blob, another
 * version, truncated, a field missing or out of bounds) or -ENOMEM.
 */
int upgrade_parse(const char *text, size_t len, struct upgrade_state *ret);

/*
 * Format *s into a new memfd (memfd_create(2), MFD_CLOEXEC |
 * MFD_ALLOW_SEALING), sealed against any change (F_SEAL_SHRINK, GROW, WRITE,
 * SEAL) and rewound. Returns the fd (owned by the caller; still CLOEXEC)
 * or -errno.
 */
int upgrade_write_memfd(const struct upgrade_state *s);

/*
 * Read and parse the blob in FD (from offset 0; at most UPGRADE_BLOB_MAX
 * bytes) into *ret, as upgrade_parse(). FD is not closed. Returns 0,
 * -EBADMSG (also when FD is not sealed against writes: someone else could
 * change it under us), -ENOMEM or the -errno of fstat(2)/pread(2).
 */
int upgrade_read_fd(int fd, struct upgrade_state *ret);
