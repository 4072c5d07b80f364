/* SPDX-License-Identifier: MIT */
/* Helpers of the superd-import tests: import through the library, read the drop-ins back, run superd -t. */
#pragma once

#include <stdbool.h>

/* What one import gave: the drop-ins as superd-import prints them to stdout, its diagnostics, its exit status. */
struct ti {
        char *out;
        char *err;
        int status;
};

/* IMPORT_FIXTURES/REL (tests/unit/import in the source tree), malloc'd. */
char *ti_fixture(const char *rel);

/* Imports the NULL-terminated PATHS through the library (imp_read_inputs, imp_emit_set to a memory stream). */
void ti_import(struct ti *t, const char *const *paths);

/* Frees what ti_import filled. */
void ti_free(struct ti *t);

/* The section "service NAME { ... }" of OUT (malloc'd), or NULL. */
char *ti_section(const char *out, const char *name);

/* True when OUT has the section "service NAME { ... }". */
bool ti_has_service(const char *out, const char *name);

/* The value of KEY in SECTION ("{ \"0.0.0.0:7\" }", "yes", "\"root\""), malloc'd, or NULL when absent. */
char *ti_value(const char *section, const char *key);

/* Asserts that SECTION has KEY = VALUE (as written, after the '='). */
void ti_assert_key(const char *section, const char *key, const char *value);

/* True when TEXT has a line containing NEEDLE. */
bool ti_has(const char *text, const char *needle);

/*
 * Runs superd-import ($SUPERD_IMPORT) with ARGS (NULL-terminated); returns its
 * exit status, its stdout and stderr in *RET_OUT and *RET_ERR (NULL: discard).
 */
int ti_run(const char *const *args, char **ret_out, char **ret_err);

/*
 * Runs `superd -t -d DIR` ($SUPERD) and asserts that it accepts DIR, but for
 * errors that contain one of ALLOWED (NULL-terminated; users and programs
 * this machine lacks).
 */
void ti_superd_check(const char *dir, const char *const *allowed);
