/* SPDX-License-Identifier: MIT */
/* superd-import's neutral model: one translated service, the set of them, the report, bounded file reading. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define IMP_FILE_MAX (1024 * 1024) /* bytes: a larger input file is refused (bounded memory) */
#define IMP_LINE_MAX 4096          /* bytes of one input line, newline excluded */
#define IMP_UNSET    (-1LL)        /* an integer key that was not given */

/*
 * One service as superd will see it: the values of superd's keys (superd.conf(5)),
 * filled by a parser (import-xinetd.c, import-inetd.c) and written by
 * import-emit.c. Every string and vector is malloc'd and owned by the struct
 * (imp_service_free). Integers are IMP_UNSET when the key is not to be written.
 */
struct imp_service {
        char *name;   /* the drop-in's service NAME, unique in its imp_set; the file is NAME.conf */
        char *origin; /* "FILE:LINE (what)": where it came from, for the drop-in's first comment */
        char **listen;
        const char *socket_type; /* "stream", "dgram", "seqpacket" or NULL (superd's default) */
        int wait;                /* 0, 1, or -1: not written */
        const char *builtin;     /* "echo", ... or NULL */
        char **exec;             /* argv; exec[0] is the absolute program */
        char *user, *group;
        char **env, **pass_env;
        long long max_instances, max_per_source, max_rate, rate_pause;
        long long umask, nice, rlimit_nofile, rlimit_as, rlimit_cpu;
        bool keepalive, nodelay, ipv6_only, disable, log_connections;
        char **allow, **deny;
        char **comments; /* lines written as "# ..." inside the section: notes and directives not translated */
        char *unusable;  /* non-NULL: superd cannot run this service at all; the drop-in is written commented out */
};

/* The services read so far, in input order. Owns them. */
struct imp_set {
        struct imp_service **services;
        size_t n;
};

/*
 * Where diagnostics go and what they add up to. `out` is stderr in
 * superd-import, a memory stream in the unit tests. The counters decide the
 * exit status: errors > 0 gives 2, untranslated > 0 gives 1, else 0.
 */
struct imp_report {
        FILE *out;
        unsigned errors;       /* unreadable files, syntax errors: nothing is written */
        unsigned untranslated; /* directives kept as comments */
        unsigned warnings;     /* translated, but something changed (a fixed address, a new name) */
};

/* A new service with every integer IMP_UNSET and wait -1; NULL on ENOMEM. Free with imp_service_free. */
struct imp_service *imp_service_new(void);

/* Frees a service and everything it owns; accepts NULL; returns NULL. */
struct imp_service *imp_service_free(struct imp_service *s);

/*
 * Gives S the name BASE, or BASE-SUFFIX, or BASE-SUFFIX-2, -3 ... (BASE-2 ...
 * when SUFFIX is NULL), whichever is not yet used in SET, after replacing
 * characters superd does not allow in a NAME (letters, digits, "-_.@") by '-'.
 * A name other than BASE is reported as a warning at FILE:LINE.
 * Then appends S to SET, which takes ownership (also on failure, when S is freed).
 * Returns 0 or -ENOMEM.
 */
int imp_set_add(struct imp_set *set, struct imp_service *s, const char *base, const char *suffix, struct imp_report *r,
                const char *file, unsigned line);

/* Frees every service of SET and its array; the struct itself is the caller's. */
void imp_set_clear(struct imp_set *set);

/* The service named NAME in SET, or NULL. */
struct imp_service *imp_set_find(const struct imp_set *set, const char *name);

/* "FILE:LINE: message" as an error (exit 2). Returns -EINVAL, for `return imp_error(...)`. */
int imp_error(struct imp_report *r, const char *file, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "FILE:LINE: warning: message": translated, with a change the user should know of. */
void imp_warn(struct imp_report *r, const char *file, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * A directive superd cannot express: reports "FILE:LINE: not translated:
 * DIRECTIVE: reason" and keeps "not translated (FILE:LINE): DIRECTIVE:
 * reason" as a comment of S (S may be NULL for directives outside a service).
 * DIRECTIVE is the input as written ("banner = /etc/banner"). Returns 0 or -ENOMEM.
 */
int imp_untranslated(struct imp_report *r, struct imp_service *s, const char *file, unsigned line,
                     const char *directive, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Appends a printf-formatted comment line to S. Returns 0 or -ENOMEM. */
int imp_comment(struct imp_service *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Sets S's exec from PROGRAM (absolute) and ARGV (argv[0] first, as inetd
 * and xinetd's NAMEINARGS give it; NULL-terminated). superd runs exec[0] as
 * both the program and argv[0] (superd.conf(5)), so an argv[0] that is
 * PROGRAM or its last component is dropped; any other argv[0] (a tcpd
 * wrapper: "/usr/sbin/tcpd" with argv[0] "/usr/sbin/in.ftpd") is passed
 * with bash's `exec -a`, reported as a warning at FILE:LINE.
 * Returns 0 or -ENOMEM.
 */
int imp_set_exec(struct imp_service *s, const char *program, char *const *argv, struct imp_report *r, const char *file,
                 unsigned line);

/*
 * Reads PATH whole into *RET_TEXT (malloc'd, NUL-terminated; caller frees).
 * Refuses what is not a regular file, files over IMP_FILE_MAX bytes, NUL
 * bytes and lines over IMP_LINE_MAX bytes, each reported as FILE:LINE: message.
 * Returns 0 or -errno (reported).
 */
int imp_read_file(const char *path, char **ret_text, struct imp_report *r);

/*
 * Splits TEXT in place into lines: returns the next line (its '\n' replaced
 * by NUL) and advances *CURSOR, or NULL at the end.
 */
char *imp_next_line(char **cursor);

/* Splits S in place at blanks (space, tab) into words; returns a NULL-terminated vector of pointers into S (free
 * the vector only), or NULL on ENOMEM. */
char **imp_split_words(char *s);

/* Parses a decimal integer in [MIN, MAX]. Returns 0, or -EINVAL / -ERANGE. */
int imp_parse_ll(const char *s, long long min, long long max, long long *ret);
