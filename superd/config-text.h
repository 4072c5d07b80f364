/* SPDX-License-Identifier: MIT */
/* A string written so that libconfuse reads it back as the same string (superd -t, superd-import). */
#pragma once

#include <stdbool.h>
#include <stdio.h>

/*
 * Write s on one line: control characters as \n, \r, \t or \xNN. `quoted`:
 * as a double-quoted string that libconfuse reads back as s, so '"' and '\'
 * are escaped too, and so is a '$' before '{', which libconfuse would expand
 * as ${...} (to the next '}' anywhere, even past the closing quote); else as
 * text for a comment.
 */
void config_print_text(FILE *out, const char *s, bool quoted);
