/* SPDX-License-Identifier: MIT */
/* The daemon: listeners, the sd-event loop, spawning and reaping handlers, stopping. */
#pragma once

#include <stdbool.h>

/* Exit statuses of superd (DESIGN §3). */
enum {
        EXIT_CLEAN = 0,      /* clean stop */
        EXIT_CONFIG = 1,     /* configuration error */
        EXIT_USAGE = 2,      /* command line error */
        EXIT_LISTENER = 3,   /* a listener could not be opened at start */
};

/* What the command line asks for. */
struct run_options {
        const char *config_file;  /* NULL: the default file, which may be missing */
        const char *services_dir; /* NULL: services-dir from the main file */
        int log_level;            /* syslog priority, or -1 to take log-level from the main file */
        bool check;               /* -t: validate, print the effective services, exit */
        bool daemon;              /* --daemon: detach once the configuration is valid */
        const char *pidfile;      /* --pidfile: written once ready, removed at stop; NULL for none */
};

/*
 * Load the configuration, open every listener and serve until SIGTERM or
 * SIGINT. Returns an exit status from the enum above. Errors are logged
 * (configuration errors as FILE:LINE on stderr) before returning.
 */
int run(const struct run_options *o);
