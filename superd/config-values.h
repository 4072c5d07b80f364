/* SPDX-License-Identifier: MIT */
/* Single configuration values: the words, numbers and names that a key accepts, and their printed forms. Pure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"

/* Bound of the count keys (max-instances, max-children, max-per-source, max-rate): a sanity check. */
#define CONFIG_COUNT_MAX 1000000

/* max-rate: "N/s" or a bare N, connections per second, 0 to CONFIG_COUNT_MAX. Returns 0, or -EINVAL. */
int value_rate(const char *s, unsigned *ret);

/* socket-mode and umask: octal permission bits, "0660" or "660", at most 0777. Returns 0, or -EINVAL. */
int value_mode(const char *s, mode_t *ret);

/* Is s[0..len) a variable name: letters, digits and '_', not starting with a digit, not empty? */
bool value_env_name(const char *s, size_t len);

/*
 * Is s[0..len) a variable that `env` and `pass-env` may not set: superd sets
 * it per handler, or it belongs to superd's own supervisor (sd_notify,
 * sd_listen_fds) and would mislead a handler (DESIGN.md §8)?
 */
bool value_reserved_var(const char *s, size_t len);

/* Is `name` a service name: not empty, letters, digits and -_.@ only (so -t prints it as an unquoted word)? */
bool value_service_name(const char *name);
