/* SPDX-License-Identifier: MIT */
/*
 * Reading one configuration file with libconfuse: the main file (its own
 * keys and `defaults`) or a drop-in (`service` sections). Works around
 * libconfuse 3.3's line counting after comments and its acceptance of an
 * unterminated string or comment by reading the text first.
 */
#pragma once

#include <stddef.h>

#include <confuse.h>

#include "config-report.h"
#include "config-users.h"

/* What parsing one file reports to and resolves users through; both belong to the load (config.c). */
struct parse_context {
        struct config_report *report;
        struct users_cache **users;
};

/*
 * Parse the main file `path`. Returns the cfg_t (free with cfg_free()), or
 * NULL after reporting. Every problem is reported as FILE:LINE; a file that
 * parsed but had errors in values is returned too: compare
 * ctx->report->n_errors before and after.
 */
cfg_t *parse_main(const struct parse_context *ctx, const char *path);

/* A main cfg_t with no file: every key at its built-in default, an empty `defaults`. NULL when out of memory. */
cfg_t *parse_main_empty(void);

/*
 * Parse the drop-in `path`, as parse_main() does. *ret_lines (free()) gets
 * the line of each `service` section, in libconfuse's order, *ret_n_lines
 * their number, which may be less than cfg_size(cfg, "service") after a
 * section name used twice (reported).
 */
cfg_t *parse_dropin(const struct parse_context *ctx, const char *path, int **ret_lines, size_t *ret_n_lines);
