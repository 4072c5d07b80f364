/* SPDX-License-Identifier: MIT */
/* Configuration: superd.conf and the services.d drop-ins, parsed with libconfuse into plain data. */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "acl.h"
#include "addr.h"
#include "builtin-proto.h"
#include "socket.h"

/*
 * Most `env` and `pass-env` entries one service may have together: each
 * spawn copies the environment (spawn.c), so it has a bound. `superd -t`
 * reports more as an error.
 */
#define SERVICE_ENV_MAX 1000

/* Longest service name, bytes (systemd's unit names: 255 too); the handler's SUPERD_SERVICE holds it whole. */
#define SERVICE_NAME_MAX 255

/*
 * max-rate of a wait = yes service that sets none (here or in `defaults`):
 * handler starts per second. A handler that exits without taking its
 * datagram would otherwise be restarted at once, for ever (xinetd stops at
 * its cps limit, systemd at TriggerLimitBurst=).
 */
#define WAIT_MAX_RATE_DEFAULT 10

/* Most workers one listener may have (`workers = N`). */
#define WORKERS_MAX 1024

/* `workers = auto`, stored in service.workers. */
#define WORKERS_AUTO (WORKERS_MAX + 1)

/* proxy-timeout of a service that sets none (here or in `defaults`): seconds to send the PROXY header. */
#define PROXY_TIMEOUT_DEFAULT 3

enum stderr_mode {
        STDERR_LOG,    /* journal stream tagged with the service name, else superd's stderr */
        STDERR_SOCKET, /* the connection, like fds 0 and 1 */
        STDERR_NULL,   /* /dev/null */
};

/*
 * One `service NAME { ... }` section, with the `defaults` section and the
 * built-in defaults already merged in, users and groups resolved. Plain data:
 * no fds, no event sources. Every string and array is owned by the service
 * and freed by service_free(). A loaded service (`packed`) is one
 * allocation holding the struct and all of it, so that a thousand services
 * do not pay malloc's overhead on a dozen small blocks each.
 */
struct service {
        /* Fields are ordered so that the struct has no holes: one is allocated per service. */
        char *name;
        char *file;          /* drop-in path as opened, for messages */
        unsigned line;       /* line where the section opens (its '{') */

        int socket_type;     /* SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET (unix only) */
        struct listen_addr *listen; /* one block with listen_text and its strings (config-keys.c) */
        char **listen_text;  /* listen entries as written, same order, NULL-terminated; inside the listen block,
                                where a unix listen_addr's path points (addr.h) */
        /*
         * Worker pools (workers.h, DESIGN.md §2): 0 when `workers` is not
         * given (today's wait mode, as `workers = 1`), else 1..WORKERS_MAX,
         * or WORKERS_AUTO (the CPUs superd may run on, read at start and reload).
         * config-check.c: only on a wait = yes service that is not a builtin.
         */
        unsigned workers;
        bool workers_eager;  /* workers-start = eager: start all of them at start and reload */
        bool wait;           /* inetd wait: the listening socket goes to one handler at a time */
        bool wait_set;       /* wait was given, not derived from socket-type (merging `defaults`) */
        bool packed;         /* the struct's own allocation holds every string and array (config.c) */
        struct socket_options sockopt; /* applied to every listener of the service */
        char *socket_user, *socket_group; /* as written, NULL when not set */

        enum builtin builtin; /* BUILTIN_NONE for an exec'd handler */
        enum stderr_mode stderr_mode;
        char **argv;         /* exec, NULL-terminated; argv[0] absolute; NULL for a builtin; one block (strv_pack()) */
        char *user, *group;  /* as written (names or numbers) */
        uid_t uid;
        gid_t gid;
        gid_t *groups;       /* supplementary groups of `user` (initgroups semantics) */

        char **env;          /* "K=V" entries from `env`, NULL-terminated; one block (strv_pack()) */
        char **pass_env;     /* variable names from `pass-env`, NULL-terminated; one block (strv_pack()) */
        bool log_connections;    /* a line at info per accepted connection and per handler exit (xinetd log_on_success) */
        bool disable;
        bool max_rate_set;       /* max-rate was given, not defaulted (merging `defaults`) */
        bool proxy_health_close; /* proxy-health = close: a v2 LOCAL connection (health check) is closed, no handler */
        unsigned max_instances;  /* running handlers of this service, 0 = no limit */

        /* Limits and access control (DESIGN.md §4, §7), checked before anything is spawned. */
        unsigned max_per_source; /* running handlers per remote address, 0 = no limit (xinetd per_source) */
        unsigned per_source_prefix6; /* IPv6 sources count per prefix of this many bits (128: per address) */
        unsigned max_rate;       /* accepted connections (wait = yes: handler starts) per second, 0 = no limit */
        unsigned rate_pause;     /* seconds of not accepting after max-rate was exceeded */
        unsigned timeout;        /* seconds a handler may run, 0 = no limit: SIGTERM, SIGKILL 5 s later */
        unsigned n_groups;       /* entries of groups */
        struct cidr *allow, *deny; /* empty allow: everyone; deny wins */
        unsigned n_allow, n_deny;

        /*
         * PROXY protocol (HAProxy's proxy-protocol.txt) in front of a stream, wait = no service.
         * proxy_protocol holds the bits of proxy.h's enum proxy_version, written here as plain
         * numbers (1 = PROXY_V1, 2 = PROXY_V2) so that this header does not depend on proxy.h.
         * config-check.c: set only on a stream, wait = no service; proxy_from non-empty when
         * the service has an IP listen address; the other three keep their defaults without it
         * (proxy_health_close is with the other flags above).
         */
        unsigned proxy_protocol; /* set of PROXY_V1 (1) | PROXY_V2 (2) accepted; 0 = no header expected */
        unsigned proxy_timeout;  /* seconds a connection may take to send its header; default 3 */
        unsigned n_listen;       /* entries of listen (above) */
        unsigned n_proxy_from;   /* entries of proxy_from */
        struct cidr *proxy_from; /* balancers allowed to send a header; IP peers outside are refused */

        /* Process settings applied in the child before exec; "inherit" keeps superd's own. */
        struct process_settings {
                char *working_directory; /* NULL: "/" */
                long long rlimit_nofile, rlimit_as, rlimit_cpu, rlimit_nproc; /* -1: inherit; bytes for as, seconds for cpu */
                int nice;                /* -20..19 */
                int umask;               /* -1: inherit */
                bool set_nice;
                bool no_new_privileges;  /* PR_SET_NO_NEW_PRIVS */
        } process;
};

/* The whole configuration. Owns its services. */
struct config {
        char *main_file;       /* NULL when the default file was missing */
        char *services_dir;
        char *helpers_dir;
        int log_level;         /* syslog priority, LOG_INFO by default */
        unsigned max_children; /* all services together, 0 = no limit */
        char *status_socket;   /* path of the status socket (superctl), NULL for none */
        struct service **services; /* in drop-in order: files lexically, then order in file */
        size_t n_services;
};

/* Where a default superd.conf is looked for; a missing one means built-in defaults. */
extern const char config_default_main_file[];

/*
 * Load `main_file` (NULL: config_default_main_file, which may be missing) and
 * every regular `*.conf` not starting with '.' in the services folder, in
 * lexical order. `services_dir` (may be NULL) overrides the `services-dir`
 * key. Relative paths are relative to the main file's folder.
 *
 * Every problem found is written to `err` as "FILE:LINE: message\n", one line
 * each (control characters escaped as log_escape() does); loading goes on
 * after an error so that all of them are reported. A string or a block
 * comment left open at the end of a file is reported at the line it opens
 * (libconfuse 3.3 would accept it). Nothing is written to stdout. Returns 0
 * and sets *ret (owned by the caller, free with config_free()) when there
 * were none, else -EINVAL (or -ENOMEM, -errno of a folder that cannot be
 * read) and *ret is left NULL.
 */
int config_load(const char *main_file, const char *services_dir, FILE *err, struct config **ret);

/*
 * Like config_load(), but read exactly the N_DROPINS files DROPINS, in that
 * order, instead of scanning a services folder (the services-dir key is
 * ignored). An upgrade (upgrade.c) loads the configuration the previous
 * image printed this way when the files on disk are refused. Returns as
 * config_load().
 */
int config_load_files(const char *main_file, const char *const *dropins, size_t n_dropins, FILE *err,
                      struct config **ret);

/*
 * Print the effective configuration (what `superd -t` shows): the main
 * file's keys, then every service section with `defaults` merged in. Every
 * string is double-quoted and escaped (quotes, backslashes, control
 * characters, "${"), so that each part parses back to the same
 * configuration; comments name the files and resolved ids.
 */
void config_print(const struct config *c, FILE *out);

/* Free a configuration and its services; accepts NULL; returns NULL. */
struct config *config_free(struct config *c);

/* Free one service; accepts NULL; returns NULL. */
struct service *service_free(struct service *s);
