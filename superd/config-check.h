/* SPDX-License-Identifier: MIT */
/*
 * Checks of a configuration that no single value shows: keys that do not go
 * together, a listen address given twice, a service name defined twice, a
 * listen address two services would bind. Pure: plain struct service data
 * in, "FILE:LINE: message" errors out, each at the service's own line.
 */
#pragma once

#include <stdbool.h>

#include "config-report.h"
#include "config.h"

/* Report a listen address that s lists twice (a second bind would fail). Returns true when there is none. */
bool check_listen_twice(struct config_report *r, const struct service *s);

/*
 * Report every setting of s that is valid alone but not with the others
 * (seqpacket over IP, a builtin with process settings, allow on a dgram
 * service, proxy-from without proxy-protocol, ...). s must be complete (keys_apply() and its defaults done).
 * Returns true when there was none.
 */
bool check_combination(struct config_report *r, const struct service *s);

/*
 * Report every service name that c defines twice, at the later definition,
 * naming the first (in c->services order). O(n log n). An allocation
 * failure is reported too (at c->services_dir), never ignored.
 */
void check_duplicates(struct config_report *r, const struct config *c);

/*
 * Report every listen address that two enabled services of c share in one
 * namespace (TCP, UDP, or unix of any type): the later one could never
 * bind. Disabled services bind nothing and are left out. O(n log n). An
 * allocation failure is reported too (at c->services_dir).
 */
void check_listen_conflicts(struct config_report *r, const struct config *c);
