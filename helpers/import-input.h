/* SPDX-License-Identifier: MIT */
/* superd-import's inputs: each path told apart by content (xinetd, inetd.conf) and read into one set. */
#pragma once

#include "import.h"

/* Exit statuses of superd-import (superd-import(8)). */
enum {
        IMP_EXIT_TRANSLATED = 0,   /* everything was translated */
        IMP_EXIT_UNTRANSLATED = 1, /* drop-ins written, some directives kept as comments */
        IMP_EXIT_ERROR = 2,        /* usage, unreadable file, syntax error, a file in the way */
};

/*
 * Reads the N PATHS into SET: a folder is an xinetd.d folder; a file is
 * xinetd's format or inetd.conf by its content (imp_xinetd_detect(),
 * imp_inetd_detect()), anything else is an error. All xinetd inputs are read
 * together, after the inetd.conf files, so that they share one defaults
 * section as xinetd's included files do. Returns 0 or -errno; every problem
 * is reported in R.
 */
int imp_read_inputs(struct imp_set *set, char *const *paths, size_t n, struct imp_report *r);

/* The exit status R calls for: 2 after errors, 1 when something was not translated, else 0. Pure. */
int imp_exit_status(const struct imp_report *r);
