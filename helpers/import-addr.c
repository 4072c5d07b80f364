/* SPDX-License-Identifier: MIT */
/* Addresses for superd-import: xinetd's only_from/no_access forms to CIDR, host names resolved once. */
#include "import-addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "import.h"
#include "strv.h"

#define CACHE_MAX 256 /* host names remembered per run; more are resolved again (never unbounded) */

static int resolve_getaddrinfo(const char *name, char ***ret);

static imp_resolver_fn resolver = resolve_getaddrinfo;
static struct {
        char *name;
        char **addrs; /* NULL: the lookup failed with `error` */
        int error;
} cache[CACHE_MAX];
static size_t n_cache;

static void cache_clear(void)
{
        for (size_t i = 0; i < n_cache; i++) {
                free(cache[i].name);
                strv_free(cache[i].addrs);
        }
        n_cache = 0;
}

void imp_set_resolver(imp_resolver_fn fn)
{
        resolver = fn ? fn : resolve_getaddrinfo;
        cache_clear();
}

static int resolve_getaddrinfo(const char *name, char ***ret)
{
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
        char **v = NULL;
        int k;

        k = getaddrinfo(name, NULL, &hints, &res);
        if (k != 0)
                return k == EAI_MEMORY ? -ENOMEM : -ENOENT;
        for (struct addrinfo *a = res; a; a = a->ai_next) {
                char buf[INET6_ADDRSTRLEN];
                const void *p = a->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr
                                                        : (const void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr;
                if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) ||
                    !inet_ntop(a->ai_family, p, buf, sizeof(buf)))
                        continue;
                if (strv_push(&v, buf) < 0) {
                        freeaddrinfo(res);
                        strv_free(v);
                        return -ENOMEM;
                }
        }
        freeaddrinfo(res);
        if (!v)
                return -ENOENT;
        *ret = v;
        return (int)strv_length(v);
}

int imp_resolve(const char *name, char ***ret)
{
        char **v = NULL;
        int k;

        if (strcmp(name, "localhost") == 0) {
                k = strv_push(&v, "127.0.0.1");
                k = k < 0 ? k : strv_push(&v, "::1");
                if (k < 0)
                        return strv_free(v), k;
                *ret = v;
                return 2;
        }
        for (size_t i = 0; i < n_cache; i++)
                if (strcmp(cache[i].name, name) == 0) {
                        if (!cache[i].addrs)
                                return cache[i].error;
                        *ret = strv_copy(cache[i].addrs);
                        return *ret ? (int)strv_length(*ret) : -ENOMEM;
                }
        k = resolver(name, &v);
        if (n_cache < CACHE_MAX && (cache[n_cache].name = strdup(name))) {
                cache[n_cache].addrs = k > 0 ? strv_copy(v) : NULL;
                cache[n_cache].error = k > 0 ? 0 : k;
                if (k <= 0 || cache[n_cache].addrs)
                        n_cache++;
                else
                        free(cache[n_cache].name);
        }
        if (k > 0)
                *ret = v;
        return k;
}

static int push_cidr(char ***out, int family, const unsigned char *addr, unsigned bits)
{
        unsigned char a[16];
        size_t size = family == AF_INET ? 4 : 16;
        char buf[INET6_ADDRSTRLEN + 8];

        memcpy(a, addr, size);
        for (size_t i = 0; i < size; i++) {
                unsigned keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ? bits - 8 * (unsigned)i : 0;
                a[i] &= (unsigned char)(0xff00u >> keep);
        }
        inet_ntop(family, a, buf, INET6_ADDRSTRLEN);
        snprintf(buf + strlen(buf), 8, "/%u", bits);
        return strv_push(out, buf);
}

static int push_v4(char ***out, uint32_t addr, unsigned bits)
{
        uint32_t n = htonl(addr);
        return push_cidr(out, AF_INET, (const unsigned char *)&n, bits);
}

/* xinetd's numeric_addr(): an IPv4 address whose rightmost octets are 0 is a network. */
static int numeric(const char *word, char ***out)
{
        unsigned char a[16];
        uint32_t v;
        unsigned bits = 32;

        if (inet_pton(AF_INET6, word, a) == 1) {
                static const unsigned char zero[16];
                return push_cidr(out, AF_INET6, a, memcmp(a, zero, 16) ? 128 : 0);
        }
        if (inet_pton(AF_INET, word, a) != 1)
                return -EINVAL;
        memcpy(&v, a, 4);
        v = ntohl(v);
        while (bits > 0 && ((v >> (32 - bits)) & 0xff) == 0)
                bits -= 8;
        return push_v4(out, v, bits);
}

/* "1.2.3.4/24", "1.2.3.0/255.255.255.0", "2001:db8::/32" */
static int explicit_mask(const char *word, char ***out)
{
        char host[INET6_ADDRSTRLEN];
        const char *slash = strchr(word, '/');
        unsigned char a[16], m[4];
        long long bits;
        uint32_t mask;

        if (!slash || (size_t)(slash - word) >= sizeof(host))
                return -EINVAL;
        memcpy(host, word, (size_t)(slash - word));
        host[slash - word] = '\0';
        if (inet_pton(AF_INET6, host, a) == 1)
                return imp_parse_ll(slash + 1, 0, 128, &bits) < 0 ? -EINVAL
                                                                  : push_cidr(out, AF_INET6, a, (unsigned)bits);
        if (inet_pton(AF_INET, host, a) != 1)
                return -EINVAL;
        if (imp_parse_ll(slash + 1, 0, 32, &bits) == 0)
                return push_cidr(out, AF_INET, a, (unsigned)bits);
        if (inet_pton(AF_INET, slash + 1, m) != 1)
                return -EINVAL;
        memcpy(&mask, m, 4);
        mask = ntohl(mask);
        for (bits = 0; bits < 32 && (mask & (0x80000000u >> bits)); bits++)
                ;
        if (bits < 32 && (mask << bits) != 0)
                return -EINVAL; /* not contiguous */
        return push_cidr(out, AF_INET, a, (unsigned)bits);
}

/* xinetd's factorized_addr(): "128.138.{200,201}" */
static int factorized(const char *word, char ***out)
{
        const char *open = strchr(word, '{'), *p;
        uint32_t addr = 0;
        unsigned octets = 0;
        int k;

        if (!open || open[strlen(open) - 1] != '}')
                return -EINVAL;
        for (p = word; p < open;) {
                char *end;
                unsigned long n = strtoul(p, &end, 10);
                if (end == p || *end != '.' || n > 255 || octets == 3)
                        return -EINVAL;
                addr = addr << 8 | (uint32_t)n;
                octets++;
                p = end + 1;
        }
        if (p != open)
                return -EINVAL;
        for (p = open + 1; *p != '}';) {
                char *end;
                unsigned long n = strtoul(p, &end, 10);
                if (end == p || n > 255 || (*end != ',' && *end != '}'))
                        return -EINVAL;
                uint32_t a = (addr << 8 | (uint32_t)n) << (8 * (3 - octets));
                k = push_v4(out, a, 8 * (octets + 1));
                if (k < 0)
                        return k;
                p = *end == ',' ? end + 1 : end;
        }
        return 0;
}

static int network_name(const char *word, char ***out)
{
        struct netent *n = getnetbyname(word);
        uint32_t net;
        unsigned bits;

        if (!n || n->n_addrtype != AF_INET || n->n_net == 0)
                return -EINVAL;
        net = (uint32_t)n->n_net;
        /* xinetd's net_addr(): 10 is 10.0.0.0/8, 172.16 a /16, 192.168.1 a /24 */
        bits = net <= 0xff ? 8 : net <= 0xffff ? 16 : net <= 0xffffff ? 24 : 32;
        return push_v4(out, bits == 32 ? net : net << (32 - bits), bits);
}

static bool host_name(const char *word)
{
        for (const char *p = word; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
                      *p == '.' || *p == '_'))
                        return false;
        return *word != '\0';
}

int imp_xinetd_addr(const char *word, char ***out)
{
        char **addrs = NULL;
        int k;

        if (!strchr(word, '/') && !strchr(word, '{') && numeric(word, out) == 0)
                return 0;
        if (strchr(word, '/'))
                return explicit_mask(word, out);
        if (strchr(word, '{'))
                return factorized(word, out);
        if (word[0] == '.')
                return host_name(word) ? -ENOTSUP : -EINVAL;
        if (!host_name(word))
                return -EINVAL;
        k = imp_resolve(word, &addrs);
        if (k == -ENOMEM)
                return k;
        if (k < 0)
                return network_name(word, out) == 0 ? 1 : -EINVAL;
        for (size_t i = 0; addrs[i]; i++) {
                unsigned char a[16];
                bool v6 = strchr(addrs[i], ':') != NULL;
                if (inet_pton(v6 ? AF_INET6 : AF_INET, addrs[i], a) == 1 &&
                    push_cidr(out, v6 ? AF_INET6 : AF_INET, a, v6 ? 128 : 32) < 0) {
                        strv_free(addrs);
                        return -ENOMEM;
                }
        }
        strv_free(addrs);
        return strcmp(word, "localhost") == 0 ? 0 : 1;
}

static bool parse_cidr(const char *text, int *family, unsigned char *a, unsigned *bits)
{
        char host[INET6_ADDRSTRLEN];
        const char *slash = strchr(text, '/');
        long long b;

        if (!slash || (size_t)(slash - text) >= sizeof(host) || imp_parse_ll(slash + 1, 0, 128, &b) < 0)
                return false;
        memcpy(host, text, (size_t)(slash - text));
        host[slash - text] = '\0';
        *family = strchr(host, ':') ? AF_INET6 : AF_INET;
        *bits = (unsigned)b;
        return inet_pton(*family, host, a) == 1;
}

int imp_cidr_inside(const char *in, const char *outer)
{
        unsigned char a[16], b[16];
        unsigned abits, bbits;
        int fa, fb;

        if (!parse_cidr(in, &fa, a, &abits) || !parse_cidr(outer, &fb, b, &bbits) || fa != fb || abits <= bbits)
                return 0;
        for (unsigned i = 0; i < bbits; i++)
                if ((a[i / 8] ^ b[i / 8]) & (0x80 >> (i % 8)))
                        return 0;
        return 1;
}
