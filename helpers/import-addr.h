/* SPDX-License-Identifier: MIT */
/* Addresses for superd-import: xinetd's only_from/no_access forms to CIDR, host names resolved once. */
#pragma once

/*
 * A resolver: the numeric addresses of host NAME as a NULL-terminated vector
 * of strings ("192.0.2.1", "2001:db8::1"), malloc'd, in *RET (caller frees
 * with strv_free). Returns the number of addresses (>= 1), or -errno
 * (-ENOENT: no such host).
 */
typedef int (*imp_resolver_fn)(const char *name, char ***ret);

/*
 * Replaces the resolver (getaddrinfo(3) by default); the unit tests pass a
 * fake one so that they depend on no DNS. NULL restores the default. Also
 * empties the cache of imp_resolve().
 */
void imp_set_resolver(imp_resolver_fn fn);

/*
 * Resolves NAME once per run: later calls with the same name return the
 * cached answer, so one superd-import run asks DNS at most once per name.
 * "localhost" is 127.0.0.1 and ::1 without asking anyone. Returns as the
 * resolver does; *RET is a copy the caller frees.
 */
int imp_resolve(const char *name, char ***ret);

/*
 * Translates one word of xinetd's only_from or no_access (xinetd.conf(5),
 * xinetd's addr.c: tried in this order) into CIDR strings appended to *OUT:
 *   - a numeric address: IPv4 with trailing zero octets meaning a network
 *     (10.0.0.0 = 10.0.0.0/8, 192.168.1.0 = /24, 0.0.0.0 = everyone), IPv6 one host;
 *   - a host name, resolved now (localhost: 127.0.0.1 and ::1);
 *   - ADDRESS/BITS, and ADDRESS/NETMASK (/255.0.0.0 = /8); host bits are cleared;
 *   - a factorized address, a.b.c.{1,2,5} (/32 each) or a.b.{1,2} (/24 each);
 *   - a network name from /etc/networks.
 * Returns 0 (exact), 1 (translated through DNS or /etc/networks: the address
 * is now fixed, the caller warns), -ENOTSUP (a .domain suffix, matched by
 * xinetd through reverse DNS per connection), -EINVAL (not an address xinetd
 * takes either), -ENOMEM.
 */
int imp_xinetd_addr(const char *word, char ***out);

/*
 * True when prefix IN lies inside prefix OUTER and is longer (both CIDR
 * strings from imp_xinetd_addr): xinetd lets the better match of only_from
 * and no_access decide, superd lets deny win.
 */
int imp_cidr_inside(const char *in, const char *outer);
