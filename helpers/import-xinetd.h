/* SPDX-License-Identifier: MIT */
/* xinetd's configuration (xinetd.conf(5)) read and translated into superd services. */
#pragma once

#include "import.h"

/*
 * True when TEXT (a whole file) looks like xinetd's format: its first line
 * that is neither blank nor a comment starts with "service", "defaults",
 * "include" or "includedir". Pure.
 */
bool imp_xinetd_detect(const char *text);

/*
 * Reads xinetd configuration and appends one service per xinetd service
 * entry to SET. Each PATHS[i] (N_PATHS of them) is a file (xinetd.conf, or a
 * single xinetd.d file) or a folder read like xinetd's includedir (files in
 * C-locale order, skipping names with a '.' or ending in '~'); "include" and
 * "includedir" inside a file are followed (relative names relative to that
 * file's folder), at most 8 deep. All PATHS share one "defaults" section, as
 * xinetd's included files do.
 *
 * The rules come from xinetd.conf(5) and xinetd 2.3.15's parser: '#' starts
 * a comment only as a line's first non-blank character; "{" and "}" stand
 * alone on their lines; the first '=' of a single-valued attribute wins;
 * only_from, no_access, log_on_success, log_on_failure, passenv and env
 * accept "+=" and "-=", starting from the defaults' values; in "defaults",
 * "=" means "+=" for them. Every directive is translated, or reported
 * through R as not translated and kept as a comment (import.h).
 *
 * Returns 0, or -errno: -EINVAL after syntax errors and unreadable files,
 * all reported in R as FILE:LINE: message (the caller then writes nothing).
 */
int imp_xinetd_read(struct imp_set *set, char *const *paths, size_t n_paths, struct imp_report *r);
