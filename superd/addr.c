/* SPDX-License-Identifier: MIT */
/* Listen addresses: parsing "HOST:PORT" forms into socket addresses, and printing them. */
#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

static int parse_port(const char *s, in_port_t *ret, const char **ret_error)
{
        char *end;
        long v;

        if (!*s) {
                *ret_error = "missing port";
                return -EINVAL;
        }
        if (s[0] >= '0' && s[0] <= '9') {
                errno = 0;
                v = strtol(s, &end, 10);
                if (errno || *end || v < 1 || v > 65535) {
                        *ret_error = "port out of range (1-65535)";
                        return -EINVAL;
                }
                *ret = htons((in_port_t)v);
                return 0;
        }
        /* Names are shared by tcp and udp in practice; a udp-only name still resolves. */
        struct servent *se = getservbyname(s, "tcp") ?: getservbyname(s, "udp");
        if (!se) {
                *ret_error = "unknown service name for port (see /etc/services)";
                return -EINVAL;
        }
        *ret = (in_port_t)se->s_port;
        return 0;
}

/*
 * "unix:/path" (a file) or "unix:@name" (Linux abstract namespace, no file):
 * kept as the text itself, the socket address is built where one is needed.
 */
static int parse_unix(const char *path, struct listen_addr *ret, const char **ret_error)
{
        size_t n = strlen(path), room = sizeof(((struct sockaddr_un *)NULL)->sun_path);

        if (path[0] == '@') {
                if (n < 2 || n > room) {
                        *ret_error = "abstract socket name must be 1-107 bytes";
                        return -EINVAL;
                }
                /* Abstract names are the bytes after a leading NUL, without a terminator. */
                ret->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
        } else if (path[0] != '/') {
                *ret_error = "expected unix:/absolute/path or unix:@name";
                return -EINVAL;
        } else if (n >= room) {
                *ret_error = "socket path too long (107 bytes at most)";
                return -EINVAL;
        } else {
                ret->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
        }
        ret->un.family = AF_UNIX;
        ret->un.path = path;
        return 0;
}

int addr_parse(const char *text, struct listen_addr *ret, const char **ret_error)
{
        char host[INET6_ADDRSTRLEN + 1];
        const char *port, *colon;
        size_t hlen;
        in_port_t p;
        int r;

        *ret = (struct listen_addr){ 0 };
        *ret_error = NULL;
        if (strncmp(text, "unix:", 5) == 0)
                return parse_unix(text + 5, ret, ret_error);
        if (text[0] == '[') {
                const char *close = strchr(text, ']');
                if (!close || close[1] != ':') {
                        *ret_error = "expected [IPV6]:PORT";
                        return -EINVAL;
                }
                hlen = (size_t)(close - text - 1);
                port = close + 2;
                if (hlen >= sizeof(host)) {
                        *ret_error = "invalid IPv6 address";
                        return -EINVAL;
                }
                memcpy(host, text + 1, hlen);
                host[hlen] = 0;
                r = parse_port(port, &p, ret_error);
                if (r < 0)
                        return r;
                struct sockaddr_in6 *s6 = &ret->in6;
                if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1) {
                        *ret_error = "invalid IPv6 address";
                        return -EINVAL;
                }
                s6->sin6_family = AF_INET6;
                s6->sin6_port = p;
                ret->len = sizeof(*s6);
                return 0;
        }

        colon = strrchr(text, ':');
        if (!colon) {
                *ret_error = "expected HOST:PORT";
                return -EINVAL;
        }
        hlen = (size_t)(colon - text);
        if (hlen >= sizeof(host)) {
                *ret_error = "invalid IPv4 address";
                return -EINVAL;
        }
        memcpy(host, text, hlen);
        host[hlen] = 0;
        if (strchr(host, ':')) {
                *ret_error = "IPv6 addresses need brackets: [IPV6]:PORT";
                return -EINVAL;
        }
        r = parse_port(colon + 1, &p, ret_error);
        if (r < 0)
                return r;

        if (hlen == 0 || strcmp(host, "*") == 0) {
                struct sockaddr_in6 *s6 = &ret->in6;
                s6->sin6_family = AF_INET6;
                s6->sin6_addr = in6addr_any;
                s6->sin6_port = p;
                ret->len = sizeof(*s6);
                ret->dual_stack = true;
                return 0;
        }
        struct sockaddr_in *s4 = &ret->in;
        if (inet_pton(AF_INET, host, &s4->sin_addr) != 1) {
                *ret_error = "invalid IPv4 address (hosts must be numeric)";
                return -EINVAL;
        }
        s4->sin_family = AF_INET;
        s4->sin_port = p;
        ret->len = sizeof(*s4);
        return 0;
}

/* The decimal digits of v at p, without a NUL; returns their end. */
static char *put_decimal(char *p, unsigned v)
{
        char digits[10];
        size_t n = 0;

        do
                digits[n++] = (char)('0' + v % 10);
        while ((v /= 10));
        while (n)
                *p++ = digits[--n];
        return p;
}

/*
 * "A.B.C.D" of the 4 bytes at b into ip (ip_size bytes), and the port.
 * By hand: glibc's inet_ntop(3) prints IPv4 with sprintf, and both are
 * written for the environment of every connection.
 */
static void format_ipv4_port(const uint8_t *b, in_port_t port_be, char *ip, size_t ip_size, char *port,
                             size_t port_size)
{
        char *p = ip;

        if (ip_size >= INET_ADDRSTRLEN) {
                for (int i = 0; i < 4; i++) {
                        p = put_decimal(p, b[i]);
                        *p++ = i < 3 ? '.' : '\0';
                }
        } else
                inet_ntop(AF_INET, b, ip, (socklen_t)ip_size);
        if (port_size >= sizeof("65535"))
                *put_decimal(port, ntohs(port_be)) = '\0';
        else if (port_size)
                port[0] = '\0'; /* no room: as for any port_size below 6 (none is passed) */
}

int addr_ip_port(const struct sockaddr *sa, char *ip, size_t ip_size, char *port, size_t port_size)
{
        if (sa->sa_family == AF_INET) {
                const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
                format_ipv4_port((const uint8_t *)&s4->sin_addr, s4->sin_port, ip, ip_size, port, port_size);
                return 0;
        }
        if (sa->sa_family == AF_INET6) {
                const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
                if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
                        format_ipv4_port(&s6->sin6_addr.s6_addr[12], s6->sin6_port, ip, ip_size, port, port_size);
                        return 0;
                }
                inet_ntop(AF_INET6, &s6->sin6_addr, ip, (socklen_t)ip_size);
                snprintf(port, port_size, "%u", ntohs(s6->sin6_port));
                return 0;
        }
        if (ip_size)
                ip[0] = 0;
        if (port_size)
                port[0] = 0;
        return -EAFNOSUPPORT;
}

char *addr_format(const struct sockaddr *sa, char *buf, size_t size)
{
        char ip[INET6_ADDRSTRLEN], port[8];
        bool v6;

        if (sa->sa_family == AF_UNIX) {
                /* Peers of a unix socket are usually unnamed: sun_path is empty then. */
                const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
                bool abstract = un->sun_path[0] == 0 && un->sun_path[1] != 0;
                snprintf(buf, size, "unix:%s%.*s", abstract ? "@" : "", (int)sizeof(un->sun_path) - 1,
                         un->sun_path + abstract);
                return buf;
        }
        if (addr_ip_port(sa, ip, sizeof(ip), port, sizeof(port)) < 0) {
                snprintf(buf, size, "(unknown address family %d)", sa->sa_family);
                return buf;
        }
        v6 = strchr(ip, ':') != NULL;
        snprintf(buf, size, "%s%s%s:%s", v6 ? "[" : "", ip, v6 ? "]" : "", port);
        return buf;
}

void addr_move_text(struct listen_addr *a, const char *from, const char *to)
{
        if (a->len && a->family == AF_UNIX)
                a->un.path = to + (a->un.path - from);
}

const struct sockaddr *addr_sockaddr(const struct listen_addr *a, union listen_sockaddr *buf)
{
        const char *path = a->un.path;
        size_t n;

        switch (a->family) {
        case AF_INET:
                buf->in = a->in;
                break;
        case AF_INET6:
                buf->in6 = a->in6;
                break;
        case AF_UNIX:
                /* "/file" with its NUL, or "@name" as a NUL and the name: len says how many bytes. */
                n = a->len - offsetof(struct sockaddr_un, sun_path);
                buf->un = (struct sockaddr_un){.sun_family = AF_UNIX}; /* a name then ends as a string too */
                memcpy(buf->un.sun_path, path, n);
                if (path[0] == '@')
                        buf->un.sun_path[0] = '\0';
                break;
        default: /* none that addr_parse() yields: the family alone, and zeros */
                *buf = (union listen_sockaddr){.sa.sa_family = a->family};
                break;
        }
        return &buf->sa;
}

int addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, bool dual_stack, struct listen_addr *ret,
                       char **ret_path)
{
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
        size_t n = len > offsetof(struct sockaddr_un, sun_path) ? len - offsetof(struct sockaddr_un, sun_path) : 0;
        bool valid;
        char *path;

        *ret = (struct listen_addr){0};
        *ret_path = NULL;
        switch (len < sizeof(sa_family_t) ? AF_UNSPEC : sa->sa_family) {
        case AF_INET:
                valid = len == sizeof(struct sockaddr_in) && !dual_stack;
                break;
        case AF_INET6:
                valid = len == sizeof(struct sockaddr_in6);
                break;
        case AF_UNIX:
                /* A file: '/', the path and its NUL, no other. A name: a NUL, then 1-107 bytes but NUL. */
                valid = len <= sizeof(struct sockaddr_un) && n >= 2 && !dual_stack &&
                        (un->sun_path[0] == '\0' ? !memchr(un->sun_path + 1, '\0', n - 1)
                                                 : un->sun_path[0] == '/' && strnlen(un->sun_path, n) == n - 1);
                break;
        default:
                valid = false;
                break;
        }
        if (!valid)
                return -EINVAL;
        if (sa->sa_family == AF_UNIX) {
                /* The text addr_parse() reads: "/file", or '@' and the name. */
                path = malloc(n + 1);
                if (!path)
                        return -ENOMEM;
                memcpy(path, un->sun_path, n);
                path[n] = '\0';
                if (path[0] == '\0')
                        path[0] = '@';
                ret->un.family = AF_UNIX;
                ret->un.path = *ret_path = path;
        } else {
                memcpy(&ret->in6, sa, len);
        }
        ret->len = len;
        ret->dual_stack = dual_stack;
        return 0;
}

bool addr_equal(const struct listen_addr *a, const struct listen_addr *b)
{
        return addr_compare(a, b) == 0;
}

int addr_compare(const struct listen_addr *a, const struct listen_addr *b)
{
        union listen_sockaddr x, y;

        if (a->len != b->len)
                return a->len < b->len ? -1 : 1;
        if (a->dual_stack != b->dual_stack)
                return a->dual_stack ? 1 : -1;
        return memcmp(addr_sockaddr(a, &x), addr_sockaddr(b, &y), a->len);
}

char *addr_format_peer(const struct sockaddr_in6 *peer, char *buf, size_t size)
{
        if (peer->sin6_family == AF_UNIX || peer->sin6_family == AF_UNSPEC) {
                snprintf(buf, size, "%s", peer->sin6_family == AF_UNIX ? "unix" : "-");
                return buf;
        }
        return addr_format((const struct sockaddr *)peer, buf, size);
}
