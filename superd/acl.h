/* SPDX-License-Identifier: MIT */
/* Access control: CIDR prefixes for a service's allow and deny lists, checked before anything is spawned. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Longest text cidr_format() writes, with its NUL: a 45-character IPv6 address, "/128" and the NUL. */
#define CIDR_STRLEN 50

/*
 * One address prefix. IPv4 prefixes are stored IPv4-mapped (::ffff:A.B.C.D)
 * with prefix + 96, so a single match routine serves both families and a
 * peer seen through a dual-stack listener (an IPv4-mapped IPv6 address)
 * matches the IPv4 prefixes written for it. Bits of addr beyond prefix are
 * always zero.
 */
struct cidr {
        struct in6_addr addr;
        uint8_t prefix; /* 0..128, in bits of addr */
};

/*
 * Parse "A.B.C.D/N" (N 0..32), "A.B.C.D" (= /32), "V6/N" (N 0..128), "V6"
 * (= /128), optionally with the IPv6 address in brackets ("[2001:db8::]/32").
 * Numeric only: no DNS, no scope ids, no whitespace; N is decimal digits and
 * nothing else. Host bits beyond the prefix are cleared, as systemd's
 * IPAddressAllow= does ("10.1.2.3/8" is 10.0.0.0/8).
 *
 * "0.0.0.0/0" matches every IPv4 peer (also IPv4-mapped ones). "::/0" matches
 * every peer of either family, IPv4 included, because IPv4 is matched in its
 * mapped form: "deny = ::/0" refuses everyone.
 *
 * Returns 0 and clears *ret_error, or -EINVAL with *ret_error pointing at a
 * static message (*ret is then unspecified).
 */
int cidr_parse(const char *text, struct cidr *ret, const char **ret_error);

/*
 * True if the AF_INET or AF_INET6 address in sa lies in c. An AF_INET peer
 * is compared as ::ffff:A.B.C.D. Any other family (AF_UNIX) never matches.
 */
bool cidr_match(const struct cidr *c, const struct sockaddr *sa);

/*
 * The access decision for a peer, taken after accept() and before any
 * handler is spawned: refused if any deny prefix matches (deny wins), else
 * allowed if the allow list is empty (the default: all) or any allow prefix
 * matches. As with xinetd's only_from/no_access and systemd's
 * IPAddressAllow=/IPAddressDeny=, but deny always wins, whatever the
 * specificity.
 *
 * An AF_UNIX peer matches no prefix: it passes only when the allow list is
 * empty. Returns true when the connection may proceed.
 */
bool acl_permits(const struct cidr *allow, size_t n_allow, const struct cidr *deny, size_t n_deny,
                 const struct sockaddr *sa);

/*
 * Write c in canonical form: "10.0.0.0/8" for IPv4 (mapped) prefixes,
 * "2001:db8::/32" otherwise, always with the prefix length. For `superd -t`.
 * buf should hold CIDR_STRLEN bytes (shorter is truncated). Returns buf.
 */
char *cidr_format(const struct cidr *c, char *buf, size_t size);
