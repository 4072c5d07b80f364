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
 * Room for any socket address a listen entry stands for, AF_UNIX's (110
 * bytes) being the largest: on the stack where one is bound, hashed,
 * serialised or compared (addr_sockaddr()), never kept per entry.
 */
union listen_sockaddr {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
        struct sockaddr_un un;
};

/*
 * One address to listen on, 40 bytes on LP64 (one is kept per `listen`
 * entry): an AF_INET or AF_INET6 socket address in place; for AF_UNIX only
 * the family and `un.path`, the path as written after "unix:" ("/file", or
 * "@name" for the abstract namespace), NUL-terminated and borrowed: the
 * string must outlive the listen_addr and every copy of it. A service's
 * entries point into its own listen_text (config-keys.c), an
 * upgrade_listener read from a blob into its `path` (upgrade-blob.h).
 * `len` is the length in bytes of the socket address it stands for, as
 * addr_sockaddr() builds it. `dual_stack` marks "*:PORT" / ":PORT": an IPv6
 * wildcard socket that also accepts IPv4 (IPV6_V6ONLY off), falling back
 * to 0.0.0.0 where the kernel has no IPv6.
 */
struct listen_addr {
        union {
                sa_family_t family; /* of any of them */
                struct sockaddr_in in;
                struct sockaddr_in6 in6;
                struct {
                        sa_family_t family;
                        const char *path;
                } un;
        };
        socklen_t len;
        bool dual_stack;
};

/*
 * Parse a listen address: "A.B.C.D:PORT", "[V6]:PORT", "*:PORT", ":PORT",
 * "unix:/path" (AF_UNIX, a socket file) or "unix:@name" (Linux abstract
 * namespace). PORT is 1..65535 or a service name from /etc/services (tcp,
 * then udp; call this at load time only). Hosts must be numeric: no DNS at
 * start. A unix address borrows TEXT (ret->un.path points into it), which
 * must then outlive *ret. Returns 0; on error -EINVAL, pointing *ret_error
 * at a static message.
 */
int addr_parse(const char *text, struct listen_addr *ret, const char **ret_error);

/*
 * `a` points into the text `from` it was parsed from (a unix address; an IP
 * address or a bad entry, len 0, holds no pointer): the same text is now
 * also at `to`, a copy, so point `a` into that one instead.
 */
void addr_move_text(struct listen_addr *a, const char *from, const char *to);

/*
 * Build in *buf the socket address A stands for, as bind(2), connect(2) and
 * getsockname(2) have it: A->len bytes; for AF_UNIX the rest of sun_path
 * is zeroed, so an abstract name also reads as a string (addr_format()).
 * Never allocates. Returns &buf->sa.
 */
const struct sockaddr *addr_sockaddr(const struct listen_addr *a, union listen_sockaddr *buf);

/*
 * The reverse of addr_sockaddr(), for addresses read back from elsewhere
 * (the upgrade blob): fill *ret from the LEN bytes at SA and DUAL_STACK.
 * Only what addr_parse() yields is taken: AF_INET, AF_INET6 (the only one
 * that may be dual-stack), an AF_UNIX path starting with '/' with its NUL
 * and no other, an abstract name of 1-107 bytes without NUL. For AF_UNIX
 * *ret_path gets the path as addr_parse() reads it ("/file" or "@name",
 * malloc'd, owned by the caller), which ret->un.path points to; NULL for
 * the others. Returns 0, -EINVAL or -ENOMEM (*ret_path NULL on failure).
 */
int addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, bool dual_stack, struct listen_addr *ret,
                       char **ret_path);

/*
 * Write "A.B.C.D:PORT" or "[V6]:PORT" (IPv4-mapped IPv6 as IPv4) for an
 * AF_INET or AF_INET6 address, "unix:/path", "unix:@name" or "unix:" (an
 * unnamed peer) for AF_UNIX, into buf (at least ADDR_STRLEN bytes).
 * Never allocates. Returns buf.
 */
char *addr_format(const struct sockaddr *sa, char *buf, size_t size);

/*
 * Write the bare IP (no brackets; IPv4-mapped IPv6 shown as IPv4, as UCSPI
 * tools do) into ip and the port as decimal into port (port_size 0: not
 * written; at least 6 bytes for it, INET6_ADDRSTRLEN for ip). Returns 0 or
 * -EAFNOSUPPORT.
 */
int addr_ip_port(const struct sockaddr *sa, char *ip, size_t ip_size, char *port, size_t port_size);

/* True if both stand for the same socket address (addr_sockaddr()) and both are dual-stack or neither is. */
bool addr_equal(const struct listen_addr *a, const struct listen_addr *b);

/*
 * A total order of listen addresses for sorting, consistent with
 * addr_equal(): <0, 0 or >0 as for memcmp(3), 0 exactly when addr_equal().
 * By length, dual-stack, then the bytes of the socket addresses (built with
 * addr_sockaddr(): a copy of up to 110 bytes each per call).
 */
int addr_compare(const struct listen_addr *a, const struct listen_addr *b);

/*
 * A connection's peer for log lines: "[::1]:4242" for IP, "unix" for a unix
 * socket peer, "-" for none (AF_UNSPEC: a wait = yes handler). Returns buf.
 */
char *addr_format_peer(const struct sockaddr_in6 *peer, char *buf, size_t size);
