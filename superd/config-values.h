/* SPDX-License-Identifier: MIT */
/* Single configuration values: the words, numbers and names that a key accepts, and their printed forms. Pure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"

/* Bound of the count keys (max-instances, max-children, max-per-source, max-rate): a sanity check. */
#define CONFIG_COUNT_MAX 1000000

/* "stream", "dgram", "seqpacket" to SOCK_*; -EINVAL for anything else. */
int value_socket_type(const char *s);

/* The configuration word of SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET; NULL for anything else. */
const char *value_socket_type_name(int type);

/* "log", "socket", "null" to its stderr_mode; -EINVAL for anything else. */
int value_stderr_mode(const char *s);

/* The configuration word of `m` ("log" for an unknown value). */
const char *value_stderr_mode_name(enum stderr_mode m);

/*
 * proxy-protocol: "no", "v1", "v2", "any" to the set of versions accepted
 * (0, 1, 2, 3: the bits of proxy.h's PROXY_V1 and PROXY_V2); -EINVAL for
 * anything else.
 */
int value_proxy_protocol(const char *s);

/* The configuration word of a set of versions (0..3); NULL for anything else. */
const char *value_proxy_protocol_name(unsigned versions);

/* proxy-health: "spawn" to 0, "close" to 1 (struct service's proxy_health_close); -EINVAL for anything else. */
int value_proxy_health(const char *s);

/* The configuration word of proxy_health_close. */
const char *value_proxy_health_name(bool close);

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
