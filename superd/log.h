/* SPDX-License-Identifier: MIT */
/* Logging: to the journal with structured fields when journald runs, else one line to stderr. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
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

/*
 * Copy `src` to `dst` (`size` bytes, at least 1; always NUL-terminated) with
 * each control character, C0 or DEL, written as \n, \r, \t or \xNN (two
 * lower-case hex digits), so that the text stays on one line and cannot
 * forge another. Other bytes are copied as they are: backslashes (so the
 * form is readable, not reversible) and bytes >= 0x80 (UTF-8). Stops at the
 * first character whose form does not fit, never writing half of one.
 * Returns the length written, without the NUL.
 */
size_t log_escape(char *dst, size_t size, const char *src);

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
 *
 * Every message is one line wherever it goes: control characters in the
 * message and in ctx->service (a newline from a configured path, an escape
 * sequence) are written as log_escape() does, on stderr and in the
 * journal's MESSAGE=. The other journal fields carry their values as they
 * are (sd_journal_sendv() frames a value holding a newline by its length).
 * No allocation: the line is built on the stack and written at once; it is
 * cut at 4 KiB.
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
