/* SPDX-License-Identifier: MIT */
/* The environment a handler gets (DESIGN.md §5): built once per service, completed per connection. */
#pragma once

#include <stddef.h>
#include <sys/socket.h>

#include "config.h"

/* The fixed PATH every handler gets. */
#define HANDLER_PATH "/usr/local/bin:/usr/bin:/bin"

/* Most variables handler_env_connect() adds: PROTO, TCP{REMOTE,LOCAL}{IP,PORT}, REMOTE_ADDR, REMOTE_PORT, REMOTE_HOST. */
#define HANDLER_ENV_CONN_MAX 8

/* Most that handler_env_connect_proxy() adds beyond those: PROXY_PEER_ADDR, PROXY_AUTHORITY, PROXY_UNIQUE_ID. */
#define HANDLER_ENV_PROXY_MAX 3

/*
 * Bytes of text for SUPERD_SERVICE and those variables
 * (handler_env_conn.text): a name of SERVICE_NAME_MAX bytes, IPv6 addresses
 * at full length, a 255-byte authority, a 256-digit unique ID fit.
 */
#define HANDLER_ENV_CONN_SIZE (1536 + sizeof("SUPERD_SERVICE=") + SERVICE_NAME_MAX)

/* What a PROXY protocol header (proxy.h) adds to a handler's environment; each field may be NULL or "". */
struct handler_env_proxy {
        const char *peer_addr; /* the balancer's address (the connection's real peer): PROXY_PEER_ADDR */
        const char *authority; /* v2 PP2_TYPE_AUTHORITY: PROXY_AUTHORITY */
        const char *unique_id; /* v2 PP2_TYPE_UNIQUE_ID: PROXY_UNIQUE_ID */
};

/*
 * What a service's handlers get in every environment besides the
 * per-connection variables: `PATH` (HANDLER_PATH, the same for all),
 * `SUPERD_SERVICE` (written per start from `name`), the `env` entries, then
 * the `pass-env` variables present in the environment given at build time.
 * Only those last two are stored: `vars`, one allocation with its strings,
 * owned here; NULL for a service without any (most), which so costs no
 * block of its own.
 */
struct handler_env {
        char **vars;       /* "NAME=value" entries, NULL-terminated; NULL when none */
        const char *name;  /* the service's name (struct service.name, not owned) */
};

/* Most entries of a handler's whole envp: PATH, SUPERD_SERVICE, `env` and `pass-env`, every per-connection variable, the final NULL. */
#define HANDLER_ENVP_MAX (2 + SERVICE_ENV_MAX + HANDLER_ENV_CONN_MAX + HANDLER_ENV_PROXY_MAX + 1)

/*
 * One handler's complete environment, built right before its spawn: PATH
 * (static), SUPERD_SERVICE, a copy of the pointers of a service's `vars`,
 * then the per-connection variables, whose text is in `text`. One per server (server.conn_env),
 * reused for every start: spawn_handler() copies both, so the next start may
 * overwrite them (spawn.h). The `env` and `pass-env` entries point into
 * the service's handler_env, which must outlive the spawn.
 */
struct handler_env_conn {
        char *envp[HANDLER_ENVP_MAX];
        char text[HANDLER_ENV_CONN_SIZE];
};

/*
 * Build the environment part of service `s` (its name must outlive e), taking `pass-env` values from
 * `environ` (superd's environment at load time). Returns 0, -ENOMEM, or
 * -E2BIG with more than SERVICE_ENV_MAX `env` and `pass-env` entries
 * (config-check.c refuses those).
 */
int handler_env_init(struct handler_env *e, const struct service *s, char *const *environ);

/*
 * Fill c with PATH, SUPERD_SERVICE, e's `env` and `pass-env` entries and the per-connection variables for a TCP
 * connection from `remote` and `local` (AF_INET or AF_INET6; IPv4-mapped
 * addresses shown as IPv4, IPv6 without brackets), NULL-terminated. Never
 * allocates: safe on the spawn path. Returns 0 or -EAFNOSUPPORT.
 */
int handler_env_connect(const struct handler_env *e, struct handler_env_conn *c, const struct sockaddr *remote,
                        const struct sockaddr *local);

/*
 * The same for a connection that came through a PROXY protocol balancer:
 * `remote` and `local` are the header's addresses, and `proxy` (NULL: none)
 * adds PROXY_PEER_ADDR, PROXY_AUTHORITY and PROXY_UNIQUE_ID where set.
 * Returns 0 or -EAFNOSUPPORT.
 */
int handler_env_connect_proxy(const struct handler_env *e, struct handler_env_conn *c, const struct sockaddr *remote,
                              const struct sockaddr *local, const struct handler_env_proxy *proxy);

/*
 * Per-connection variables for a unix socket connection: PROTO=UNIX and,
 * when `peer` (SO_PEERCRED of the connection) is not NULL, UNIXREMOTEPID,
 * UNIXREMOTEEUID and UNIXREMOTEEGID (UCSPI ipc names), after PATH, SUPERD_SERVICE and e's entries
 * in c as for handler_env_connect(). Never allocates. Returns 0.
 */
int handler_env_unix(const struct handler_env *e, struct handler_env_conn *c, const struct ucred *peer);

/* Digits reserved for LISTEN_PID: any pid_t fits. */
#define HANDLER_ENV_PID_DIGITS 10

/*
 * Variables for a wait = yes handler, which gets the listening socket: PROTO
 * (`proto`: "TCP", "UDP" or "UNIX") and the sd_listen_fds(3) protocol,
 * LISTEN_FDS=1, LISTEN_FDNAMES=<the service name, e->name> and LISTEN_PID,
 * after PATH, SUPERD_SERVICE and e's entries in c as for handler_env_connect(). The pid is not
 * known before the child exists: LISTEN_PID's value is
 * HANDLER_ENV_PID_DIGITS blanks, and the returned pointer (into c->text) is
 * where the child writes its own pid (spawn_plan.listen_pid). Never allocates.
 */
char *handler_env_listen(const struct handler_env *e, struct handler_env_conn *c, const char *proto);

/*
 * The same for worker `worker` of a pool (workers.h), which also gets
 * SUPERD_WORKER=<worker>; worker < 0 adds nothing (handler_env_listen()).
 */
char *handler_env_listen_worker(const struct handler_env *e, struct handler_env_conn *c, const char *proto,
                                int worker);

/* Free what handler_env_init() allocated; the struct may be reused afterwards. */
void handler_env_done(struct handler_env *e);
