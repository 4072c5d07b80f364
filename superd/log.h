/* SPDX-License-Identifier: MIT */
/* Logging: to the journal with structured fields when journald runs, else one line to stderr. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <syslog.h>

/*
 * Messages at a priority numerically above log_max_level (LOG_ERR ... LOG_DEBUG
 * from syslog.h) are dropped before any formatting. Default LOG_INFO.
 */
extern int log_max_level;

/*
 * Choose the sink: the journal when stderr is a journal stream
 * (JOURNAL_STREAM, as systemd sets it for services) or, once `detached`
 * (--daemon, stderr on /dev/null), whenever journald runs; else stderr.
 * Never fails.
 */
void log_open(bool detached);

/* True when messages go to the journal (see log_open()). */
bool log_uses_journal(void);

/* Parse "err", "warning", "notice", "info" or "debug"; returns the syslog priority or -EINVAL. */
int log_level_from_string(const char *s);

/* The name of a syslog priority as accepted by log_level_from_string(). */
const char *log_level_to_string(int level);

/* True if a message at `level` would be written; lets callers skip formatting work. */
static inline bool log_enabled(int level) { return level <= log_max_level; }

/*
 * Optional structured context of a message. Each field may be NULL/0. They go
 * to the journal as SUPERD_SERVICE=, REMOTE_ADDR=, HANDLER_PID=, EXIT_STATUS=,
 * and on stderr as a "service: " prefix.
 */
struct log_ctx {
        const char *service;
        const char *remote;  /* "ADDR:PORT" or "[V6]:PORT" */
        pid_t pid;           /* handler pid, 0 if none */
        const char *exit_status;
};

/*
 * Log a printf-style message at `level` with optional context `ctx`.
 * Preserves errno so that "%m" works and callers can log and return.
 */
void log_ctx_msg(int level, const struct log_ctx *ctx, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

#define log_msg(level, ...) \
        (log_enabled(level) ? log_ctx_msg((level), NULL, __VA_ARGS__) : (void)0)
#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* Log at LOG_ERR with errno set to -r (so "%m" names it) and return r (a -errno value). */
#define log_error_errno(r, ...) \
        ({ int _r = (r); errno = -_r; log_err(__VA_ARGS__); _r; })
