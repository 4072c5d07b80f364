/* SPDX-License-Identifier: MIT */
/* Logging: to the journal with structured fields when journald runs, else one line to stderr. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

int log_max_level = LOG_INFO;
static bool use_journal;

static const char *const level_names[] = {
        [LOG_ERR] = "err",   [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
        [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

void log_open(bool detached)
{
        const char *js = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        /*
         * Structured entries only when stderr already goes to the journal
         * (systemd sets JOURNAL_STREAM=DEV:INODE of it): a terminal or a
         * file given as stderr keeps getting the messages.
         */
        use_journal = (js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
                       st.st_dev == dev && st.st_ino == ino) ||
                      (detached && access("/run/systemd/journal/socket", W_OK) == 0);
}

bool log_uses_journal(void)
{
        return use_journal;
}

int log_level_from_string(const char *s)
{
        for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
                if (level_names[i] && strcmp(s, level_names[i]) == 0)
                        return (int)i;
        return -EINVAL;
}

const char *log_level_to_string(int level)
{
        if (level < 0 || (size_t)level >= sizeof(level_names) / sizeof(level_names[0]) || !level_names[level])
                return "debug";
        return level_names[level];
}

size_t log_escape(char *dst, size_t size, const char *src)
{
        static const char hex[] = "0123456789abcdef";
        size_t n = 0;

        for (; *src; src++) {
                unsigned char c = (unsigned char)*src;
                char e[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };
                size_t k = 4;

                if (c >= 0x20 && c != 0x7f) {
                        if (n + 1 >= size)
                                break;
                        dst[n++] = (char)c;
                        continue;
                }
                if (c == '\n' || c == '\r' || c == '\t') {
                        e[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
                        k = 2;
                }
                if (n + k >= size)
                        break;
                memcpy(dst + n, e, k);
                n += k;
        }
        dst[n] = '\0';
        return n;
}

/*
 * Append `s` to the text of *len bytes in buf (`size` bytes, *len < size),
 * escaped with log_escape() if `escape`, cut to fit. Keeps the NUL.
 */
static void append(char *buf, size_t size, size_t *len, const char *s, bool escape)
{
        size_t n;

        if (escape) {
                *len += log_escape(buf + *len, size - *len, s);
                return;
        }
        n = strnlen(s, size - *len - 1);
        memcpy(buf + *len, s, n);
        *len += n;
        buf[*len] = '\0';
}

/*
 * `prefix`, then "SERVICE: " if ctx names a service, then `msg`, into buf,
 * with the service and msg escaped: one line, without its '\n'.
 * Returns the length.
 */
static size_t format_line(char *buf, size_t size, const char *prefix, const struct log_ctx *ctx, const char *msg)
{
        size_t len = 0;

        buf[0] = '\0';
        append(buf, size, &len, prefix, false);
        if (ctx && ctx->service) {
                append(buf, size, &len, ctx->service, true);
                append(buf, size, &len, ": ", false);
        }
        append(buf, size, &len, msg, true);
        return len;
}

void log_ctx_msg(int level, const struct log_ctx *ctx, const char *fmt, ...)
{
        int saved_errno = errno;
        char msg[1024], line[4096];
        size_t len;
        va_list ap;

        if (!log_enabled(level))
                return;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);

        if (use_journal) {
                char fields[6][1152];
                struct iovec iov[6];
                int n = 0;

#define FIELD(...) (snprintf(fields[n], sizeof(fields[n]), __VA_ARGS__), \
                    iov[n] = (struct iovec){ fields[n], strlen(fields[n]) }, n++)
                FIELD("PRIORITY=%d", level);
                len = format_line(line, sizeof(line), "MESSAGE=", ctx, msg);
                iov[n++] = (struct iovec){ line, len };
                if (ctx && ctx->service)
                        FIELD("SUPERD_SERVICE=%s", ctx->service);
                if (ctx && ctx->remote)
                        FIELD("REMOTE_ADDR=%s", ctx->remote);
                if (ctx && ctx->pid > 0)
                        FIELD("HANDLER_PID=%d", (int)ctx->pid);
                if (ctx && ctx->exit_status)
                        FIELD("EXIT_STATUS=%s", ctx->exit_status);
#undef FIELD
                if (sd_journal_sendv(iov, n) >= 0)
                        goto out;
        }

        /* One fwrite of the whole line: stderr is unbuffered, so that is one write(2), never interleaved. */
        len = format_line(line, sizeof(line) - 1, "superd: ", ctx, msg);
        line[len++] = '\n';
        fwrite(line, 1, len, stderr);
out:
        errno = saved_errno;
}
