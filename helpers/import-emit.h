/* SPDX-License-Identifier: MIT */
/* superd-import's writer: drop-ins (superd.conf(5)) from the neutral imp_service, to stdout or a folder. */
#pragma once

#include "import.h"

/*
 * Writes S as the text of a drop-in to OUT: a first comment naming where it
 * came from, then "service NAME { ... }" with one "key = value" line per set
 * field and S's comments. Strings are double-quoted and escaped as superd -t
 * prints them (\", \\, \${, \n, \xNN), so nothing is expanded. A service
 * with `unusable` set is written entirely as comments, after the reason.
 * Returns 0, or -EIO when OUT failed.
 */
int imp_emit_service(FILE *out, const struct imp_service *s);

/*
 * Writes every service of SET, each into its own drop-in NAME.conf.
 * DIR NULL: to OUT, each drop-in preceded by a line "# file: NAME.conf".
 * Otherwise into the folder DIR: first checks that no NAME.conf exists
 * there (unless FORCE) and writes nothing if one does; then creates each
 * file with O_CREAT|O_EXCL|O_NOFOLLOW (mode 0644), or with FORCE writes
 * ".NAME.conf.XXXXXX" in DIR and renames it over NAME.conf (a symlink there
 * is replaced, never followed). Errors are reported in R as
 * "FILE: message". Returns 0 or -errno.
 */
int imp_emit_set(const struct imp_set *set, const char *dir, bool force, FILE *out, struct imp_report *r);
