/* SPDX-License-Identifier: MIT */
/* NULL-terminated string vectors (argv, envp): the few operations superd needs. */
#pragma once

#include <stddef.h>

/* Number of entries before the NULL; 0 for a NULL vector. */
size_t strv_length(char *const *v);

/* Deep copy; NULL stays NULL. Returns NULL (errno ENOMEM) on failure only if v was non-NULL. */
char **strv_copy(char *const *v);

/*
 * Copy v into one allocation: the pointers, the NULL, then the strings. Free
 * the result with free(3), not strv_free(), and never push onto it. NULL
 * stays NULL. Returns NULL (errno ENOMEM) on failure only if v was non-NULL.
 */
char **strv_pack(char *const *v);

/* Append a copy of s, growing the vector. Returns 0 or -ENOMEM (v unchanged). */
int strv_push(char ***v, const char *s);

/* Free every string and the vector; accepts NULL; returns NULL. */
char **strv_free(char **v);
