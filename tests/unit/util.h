/* SPDX-License-Identifier: MIT */
/* Helpers for unit tests: temporary folders and files built at run time, no fixture trees. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/*
 * Create a fresh folder /tmp/superd-unit.XXXXXX (or under $TMPDIR) and return
 * its path (malloc'd, caller frees). Fails the current test on error.
 */
char *tu_tmpdir(void);

/* Remove a folder and everything below it; accepts NULL. Never fails the test. */
void tu_rmtree(const char *path);

/* "dir/name", malloc'd; caller frees. */
char *tu_path(const char *dir, const char *name);

/*
 * Write a printf-formatted text to dir/name with the given mode (the mode is
 * set exactly, whatever the umask). Fails the current test on error.
 * Returns the full path, malloc'd.
 */
char *tu_write(const char *dir, const char *name, mode_t mode, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* mkdir dir/name (0755); fails the current test on error. Returns the full path, malloc'd. */
char *tu_mkdir(const char *dir, const char *name);

/* True if `text` holds a line that starts with `prefix` and contains `needle` (NULL: any). */
bool tu_has_line(const char *text, const char *prefix, const char *needle);

/* Number of lines in `text` (a last line without '\n' counts). */
unsigned tu_count_lines(const char *text);

/*
 * Runs ARGV (argv[0] is a path) with stdin from /dev/null and waits for it.
 * Its standard output and error are returned in *ret_out and *ret_err
 * (malloc'd, NUL-terminated; either may be NULL to discard). Returns the exit
 * status, or 128 + the signal that killed it. Fails the current test if it
 * cannot be run.
 */
int tu_run(char *const *argv, char **ret_out, char **ret_err);

/* The whole of file PATH (malloc'd), or NULL when it cannot be read. */
char *tu_read(const char *path);
