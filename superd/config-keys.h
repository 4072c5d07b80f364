/* SPDX-License-Identifier: MIT */
/*
 * The keys of a `service` (and `defaults`) section: one table row per key
 * says how libconfuse reads it, how its value is parsed and checked (once,
 * where libconfuse reads it, so that errors carry their line), where it is
 * kept in struct service, how `defaults` fills it in, and how `superd -t`
 * prints it. A new key is one new row in config-keys.c.
 */
#pragma once

#include <stdio.h>

#include <confuse.h>

#include "config-report.h"
#include "config-users.h"
#include "config.h"

/* Where a value is being parsed: errors go to report as file:line; users are resolved through *users. */
struct key_site {
        struct config_report *report;
        const char *file;
        int line;
        struct users_cache **users;
};

/*
 * The libconfuse options of a service or defaults section, one per key,
 * each read through `parse` (a libconfuse value parsing callback, which
 * should hand its work to keys_parse()). A static array, made at the first
 * call (later calls return it, `parse` must be the same); cfg_init() copies
 * it, so one array serves every section.
 */
cfg_opt_t *keys_options(cfg_callback_t parse);

/*
 * Parse `value`, the entry `index` (0 for a single value) of key `key`, for
 * libconfuse: *result receives what libconfuse keeps for the key's type
 * (long for CFGT_INT, int for CFGT_BOOL, const char * for CFGT_STR, void *
 * for CFGT_PTR). A bad value is reported at `site` and returns 0 with a
 * value that keys_apply() recognises as bad, so that parsing goes on and
 * finds the other errors. Returns -1, after reporting, only where libconfuse
 * itself would stop (not a number, not a boolean). An unknown key returns -1.
 */
int keys_parse(const struct key_site *site, const char *key, unsigned index, const char *value, void *result);

/*
 * Set every key's fields of `s` from section `sec`, or, for keys it does not
 * give, from `tmpl` (the merged `defaults`), and then what follows from them
 * (socket-type stream, wait for dgram, the start limit of a wait service,
 * exec and builtin replacing each other). Strings and arrays are copied:
 * `s` owns them (service_free()). Not set here: name, file, line, the ids
 * of user and socket-user (config.c resolves them).
 * Returns 0; 1 when a value of `sec` was bad (reported at its line by
 * keys_parse(); `s` is then incomplete and must not be used but to free
 * it); -ENOMEM.
 */
int keys_apply(cfg_t *sec, const struct service *tmpl, struct service *s);

/* Print every key of `s` in table order, one "    KEY = VALUE" line each, as `superd -t` shows a service. */
void keys_print(FILE *out, const struct service *s);
