/* SPDX-License-Identifier: MIT */
/* Configuration errors: each one a "FILE:LINE: message" line on the stream that config_load() was given. */
#include "config-report.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* s with control characters escaped as log_escape() does (one line), malloc'd; NULL when out of memory. */
static char *escape_line(const char *s)
{
        size_t size = 4 * strlen(s) + 1; /* \xNN is the longest form */
        char *d = malloc(size);

        if (d)
                log_escape(d, size, s);
        return d;
}

void config_report(struct config_report *r, const char *file, int line, const char *fmt, ...)
{
        char *msg = NULL, *efile, *emsg;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        efile = escape_line(file);
        emsg = msg ? escape_line(msg) : NULL;
        /* A short write to r->err cannot be reported anywhere else; the error still counts. */
        if (line > 0)
                (void)fprintf(r->err, "%s:%d: %s\n", efile ? efile : "?", line, emsg ? emsg : "(out of memory)");
        else
                (void)fprintf(r->err, "%s: %s\n", efile ? efile : "?", emsg ? emsg : "(out of memory)");
        free(msg);
        free(efile);
        free(emsg);
        r->n_errors++;
}
