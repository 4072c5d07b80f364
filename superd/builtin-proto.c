/* SPDX-License-Identifier: MIT */
/* The protocols of the inetd internal services: names, chargen, daytime and time answers, datagram reflection. */
#include "builtin-proto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static const char *const names[] = {
    [BUILTIN_ECHO] = "echo",       [BUILTIN_DISCARD] = "discard", [BUILTIN_CHARGEN] = "chargen",
    [BUILTIN_DAYTIME] = "daytime", [BUILTIN_TIME] = "time",
};

enum builtin builtin_from_name(const char *name)
{
        if (!name)
                return BUILTIN_NONE;
        for (size_t i = 1; i < sizeof(names) / sizeof(names[0]); i++)
                if (strcmp(name, names[i]) == 0)
                        return (enum builtin)i;
        return BUILTIN_NONE;
}

const char *builtin_name(enum builtin b)
{
        if ((size_t)b == 0 || (size_t)b >= sizeof(names) / sizeof(names[0]))
                return NULL;
        return names[b];
}

/* Two periods of the chargen stream: a send or copy from any position finds a whole period after it. */
static char chargen_table[2 * BUILTIN_CHARGEN_PERIOD];

const char *builtin_chargen_stream(void)
{
        static bool ready;

        if (!ready) {
                for (size_t i = 0; i < sizeof(chargen_table); i++) {
                        size_t pos = i % BUILTIN_CHARGEN_PERIOD, line = pos / BUILTIN_CHARGEN_LINE,
                               col = pos % BUILTIN_CHARGEN_LINE;
                        chargen_table[i] = col < 72 ? (char)(' ' + (line + col) % 95) : col == 72 ? '\r' : '\n';
                }
                ready = true;
        }
        return chargen_table;
}

size_t builtin_chargen_fill(char *buf, size_t size, size_t *offset)
{
        const char *stream = builtin_chargen_stream();
        size_t pos = *offset % BUILTIN_CHARGEN_PERIOD;

        for (size_t done = 0; done < size;) {
                size_t n = size - done < BUILTIN_CHARGEN_PERIOD ? size - done : BUILTIN_CHARGEN_PERIOD;
                memcpy(buf + done, stream + pos, n);
                pos = (pos + n) % BUILTIN_CHARGEN_PERIOD;
                done += n;
        }
        *offset = pos;
        return size;
}

uint32_t builtin_time_value(time_t now)
{
        /* Unsigned arithmetic: wraps mod 2^32 as RFC 868 expects (in 2036), for any time_t without overflow. */
        return (uint32_t)((uint64_t)now + 2208988800ULL);
}

size_t builtin_daytime_format(time_t now, char *buf, size_t size)
{
        char text[26]; /* what ctime_r(3) needs */

        if (size > 0)
                buf[0] = '\0';
        /* "Sat Nov 21 12:34:56 2026\n" is 25 characters; other years do not fit the promised format. */
        if (size < BUILTIN_DAYTIME_SIZE || !ctime_r(&now, text) || strlen(text) != 25)
                return 0;
        memcpy(buf, text, 24);
        memcpy(buf + 24, "\r\n", 3);
        return 26;
}

/* ---- datagrams ---- */

bool builtin_v4_not_unicast(uint32_t a)
{
        return a == INADDR_ANY || a == INADDR_BROADCAST || IN_MULTICAST(a);
}

bool builtin_dgram_reflects(const struct sockaddr *from, const uint16_t *ports, size_t n_ports)
{
        uint16_t port;
        bool bad;

        if (!from)
                return true;
        if (from->sa_family == AF_INET) {
                const struct sockaddr_in *s4 = (const struct sockaddr_in *)from;
                port = ntohs(s4->sin_port);
                bad = builtin_v4_not_unicast(ntohl(s4->sin_addr.s_addr));
        } else if (from->sa_family == AF_INET6) {
                const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)from;
                port = ntohs(s6->sin6_port);
                if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
                        uint32_t a;
                        memcpy(&a, &s6->sin6_addr.s6_addr[12], sizeof(a));
                        bad = builtin_v4_not_unicast(ntohl(a));
                } else
                        bad = IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr) || IN6_IS_ADDR_MULTICAST(&s6->sin6_addr);
        } else
                return false;
        if (bad || port < 1024)
                return true;
        for (size_t i = 0; i < n_ports; i++)
                if (ports[i] == port)
                        return true;
        return false;
}
