/* SPDX-License-Identifier: MIT */
/*
 * `superd -t`: the effective configuration printed so that it parses back
 * to the same one. config_print() itself is declared in config.h; these
 * are the pieces that config-keys.c prints each key with.
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "config-text.h"


/* "    KEY = "VALUE"", without the end of the line (a comment may follow). */
void config_print_key(FILE *out, const char *key, const char *v);

/* "    KEY = { "V1", "V2" }" and the end of the line; nothing for a NULL list. */
void config_print_list(FILE *out, const char *key, char *const *v);
