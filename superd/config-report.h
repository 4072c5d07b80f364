/* SPDX-License-Identifier: MIT */
/* Configuration errors: each one a "FILE:LINE: message" line on the stream that config_load() was given. */
#pragma once

#include <stdio.h>

/* Where the errors of one load go, and how many there were. Owns nothing: err belongs to the caller. */
struct config_report {
        FILE *err;
        unsigned n_errors;
};

/*
 * Write "FILE:LINE: message\n" (line > 0) or "FILE: message\n" to r->err and
 * count the error. The file name and the message are escaped with
 * log_escape(): values quoted from the configuration (an exec path, a file
 * name) may hold a newline, and each error must stay one line (a reload logs
 * one line per error). Out of memory, the text is replaced, never dropped:
 * the error is always counted.
 */
void config_report(struct config_report *r, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
