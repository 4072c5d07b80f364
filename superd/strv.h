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

/* Bytes strv_pack_at() writes for the first n strings of v: n + 1 pointers, then the strings with their NULs. */
size_t strv_packed_size(char *const *v, size_t n);

/*
 * Lay the first n strings of v out at buf (strv_packed_size(v, n) bytes,
 * aligned for a pointer): the n pointers, a NULL, then copies of the
 * strings. Returns buf as the vector; for callers that pack a vector into
 * a larger allocation of their own (strv_pack() is the plain case).
 */
char **strv_pack_at(void *buf, char *const *v, size_t n);

/* Append a copy of s, growing the vector. Returns 0 or -ENOMEM (v unchanged). */
int strv_push(char ***v, const char *s);

/* Free every string and the vector; accepts NULL; returns NULL. */
char **strv_free(char **v);
