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

void log_ctx_msg(int level, const struct log_ctx *ctx, const char *fmt, ...)
{
        int saved_errno = errno;
        char msg[1024];
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
                FIELD("MESSAGE=%s%s%s", ctx && ctx->service ? ctx->service : "",
                      ctx && ctx->service ? ": " : "", msg);
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

        if (ctx && ctx->service)
                fprintf(stderr, "superd: %s: %s\n", ctx->service, msg);
        else
                fprintf(stderr, "superd: %s\n", msg);
out:
        errno = saved_errno;
}
