/* SPDX-License-Identifier: MIT */
/* Listen addresses: parsing "HOST:PORT" forms into socket addresses, and printing them. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

/* Longest text addr_format() writes, with its NUL: "unix:@" and a 107-byte name. */
#define ADDR_STRLEN 120

/*
 * The socket address of a listen entry: room for the families addr_parse()
 * yields and no more (a sockaddr_storage would take 128 bytes, and one is
 * kept per `listen` entry). `ss_family` reads the family of any of them.
 */
union listen_sockaddr {
        sa_family_t ss_family;
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
        struct sockaddr_un un;
};

/*
 * One address to listen on: `len` bytes of `sa` (AF_INET, AF_INET6 or
 * AF_UNIX). `dual_stack` marks "*:PORT" / ":PORT": an IPv6 wildcard socket
 * that also accepts IPv4 (IPV6_V6ONLY off), falling back to 0.0.0.0 where
 * the kernel has no IPv6.
 */
struct listen_addr {
        union listen_sockaddr sa;
        socklen_t len;
        bool dual_stack;
};

/*
 * Parse a listen address: "A.B.C.D:PORT", "[V6]:PORT", "*:PORT", ":PORT",
 * "unix:/path" (AF_UNIX, a socket file) or "unix:@name" (Linux abstract
 * namespace). PORT is 1..65535 or a service name from /etc/services (tcp,
 * then udp; call this at load time only). Hosts must be numeric: no DNS at
 * start. On error returns -EINVAL and points *ret_error at a static message.
 */
int addr_parse(const char *text, struct listen_addr *ret, const char **ret_error);

/*
 * Write "A.B.C.D:PORT" or "[V6]:PORT" (IPv4-mapped IPv6 as IPv4) for an
 * AF_INET or AF_INET6 address, "unix:/path", "unix:@name" or "unix:" (an
 * unnamed peer) for AF_UNIX, into buf (at least ADDR_STRLEN bytes).
 * Never allocates. Returns buf.
 */
char *addr_format(const struct sockaddr *sa, char *buf, size_t size);

/*
 * Write the bare IP (no brackets; IPv4-mapped IPv6 shown as IPv4, as UCSPI
 * tools do) into ip and the port as decimal into port. Returns 0 or -EAFNOSUPPORT.
 */
int addr_ip_port(const struct sockaddr *sa, char *ip, size_t ip_size, char *port, size_t port_size);

/* True if both name the same family, address and port, and both are dual-stack or neither is. */
bool addr_equal(const struct listen_addr *a, const struct listen_addr *b);

/*
 * A total order of listen addresses for sorting, consistent with
 * addr_equal(): <0, 0 or >0 as for memcmp(3), 0 exactly when addr_equal().
 */
int addr_compare(const struct listen_addr *a, const struct listen_addr *b);

/*
 * A connection's peer for log lines: "[::1]:4242" for IP, "unix" for a unix
 * socket peer, "-" for none (AF_UNSPEC: a wait = yes handler). Returns buf.
 */
char *addr_format_peer(const struct sockaddr_in6 *peer, char *buf, size_t size);
