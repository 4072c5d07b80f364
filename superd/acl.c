/* SPDX-License-Identifier: MIT */
/* Access control: CIDR prefixes for a service's allow and deny lists, checked before anything is spawned. */
#include "acl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Clear the bits of a beyond the first prefix bits. */
static void mask(struct in6_addr *a, unsigned prefix)
{
        for (unsigned i = 0; i < 16; i++) {
                if (prefix >= 8) {
                        prefix -= 8;
                        continue;
                }
                a->s6_addr[i] &= (uint8_t)(0xff00u >> prefix);
                prefix = 0;
        }
}

/* The peer's address in IPv6 form (IPv4 as ::ffff:A.B.C.D), or -EAFNOSUPPORT. */
static int peer_in6(const struct sockaddr *sa, struct in6_addr *ret)
{
        if (sa->sa_family == AF_INET) {
                const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
                *ret = (struct in6_addr){.s6_addr = {[10] = 0xff, [11] = 0xff}};
                memcpy(&ret->s6_addr[12], &s4->sin_addr, 4);
                return 0;
        }
        if (sa->sa_family == AF_INET6) {
                *ret = ((const struct sockaddr_in6 *)sa)->sin6_addr;
                return 0;
        }
        return -EAFNOSUPPORT;
}

/* A prefix length: decimal digits only (no sign, space or suffix), at most max. */
static int parse_prefix(const char *s, unsigned max, unsigned *ret, const char **ret_error)
{
        unsigned v = 0;

        if (!*s) {
                *ret_error = "missing prefix length after '/'";
                return -EINVAL;
        }
        for (; *s; s++) {
                if (*s < '0' || *s > '9') {
                        *ret_error = "prefix length is not a decimal number";
                        return -EINVAL;
                }
                v = v * 10 + (unsigned)(*s - '0');
                if (v > max)
                        break;
        }
        if (v > max) {
                *ret_error =
                    max == 32 ? "prefix length must be 0..32 for IPv4" : "prefix length must be 0..128 for IPv6";
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

int cidr_parse(const char *text, struct cidr *ret, const char **ret_error)
{
        char host[INET6_ADDRSTRLEN];
        const char *end, *slash;
        bool bracket = false;
        unsigned prefix;
        size_t len;
        int r;

        *ret = (struct cidr){0};
        *ret_error = NULL;

        if (text[0] == '[') {
                const char *close = strchr(text, ']');
                if (!close || (close[1] && close[1] != '/')) {
                        *ret_error = "expected [IPV6] or [IPV6]/PREFIX";
                        return -EINVAL;
                }
                bracket = true;
                text++;
                end = close;
                slash = close[1] ? close + 1 : NULL;
        } else {
                slash = strchr(text, '/');
                end = slash ? slash : text + strlen(text);
        }

        len = (size_t)(end - text);
        if (len == 0) {
                *ret_error = "missing address";
                return -EINVAL;
        }
        if (len >= sizeof(host)) {
                *ret_error = "not an IP address (must be numeric)";
                return -EINVAL;
        }
        memcpy(host, text, len);
        host[len] = 0;

        if (!bracket && inet_pton(AF_INET, host, &ret->addr.s6_addr[12]) == 1) {
                ret->addr.s6_addr[10] = ret->addr.s6_addr[11] = 0xff;
                prefix = 32;
                if (slash) {
                        r = parse_prefix(slash + 1, 32, &prefix, ret_error);
                        if (r < 0)
                                return r;
                }
                prefix += 96;
        } else if (inet_pton(AF_INET6, host, &ret->addr) == 1) {
                prefix = 128;
                if (slash) {
                        r = parse_prefix(slash + 1, 128, &prefix, ret_error);
                        if (r < 0)
                                return r;
                }
        } else {
                struct in_addr v4;
                *ret_error = bracket && inet_pton(AF_INET, host, &v4) == 1 ? "brackets are for IPv6 addresses only"
                                                                           : "not an IP address (must be numeric)";
                return -EINVAL;
        }

        mask(&ret->addr, prefix);
        ret->prefix = (uint8_t)prefix;
        return 0;
}

bool cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
        struct in6_addr a;

        if (peer_in6(sa, &a) < 0)
                return false;
        mask(&a, c->prefix);
        return memcmp(&a, &c->addr, sizeof(a)) == 0;
}

/* A linear scan: lists are a handful of prefixes, written by hand. */
static bool any_match(const struct cidr *list, size_t n, const struct sockaddr *sa)
{
        for (size_t i = 0; i < n; i++)
                if (cidr_match(&list[i], sa))
                        return true;
        return false;
}

bool acl_permits(const struct cidr *allow, size_t n_allow, const struct cidr *deny, size_t n_deny,
                 const struct sockaddr *sa)
{
        if (any_match(deny, n_deny, sa))
                return false;
        return n_allow == 0 || any_match(allow, n_allow, sa);
}

char *cidr_format(const struct cidr *c, char *buf, size_t size)
{
        char ip[INET6_ADDRSTRLEN];

        /* Masking keeps ::ffff: intact only for prefixes of 96 bits or more, so these are IPv4 prefixes. */
        if (IN6_IS_ADDR_V4MAPPED(&c->addr)) {
                inet_ntop(AF_INET, &c->addr.s6_addr[12], ip, sizeof(ip));
                snprintf(buf, size, "%s/%u", ip, c->prefix - 96u);
        } else {
                inet_ntop(AF_INET6, &c->addr, ip, sizeof(ip));
                snprintf(buf, size, "%s/%u", ip, (unsigned)c->prefix);
        }
        return buf;
}
