/* SPDX-License-Identifier: MIT */
/* The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2): a pure parser. */
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* proxy-protocol.txt 2.2: the 12-byte signature, then version/command, family/protocol and a 2-byte length. */
static const uint8_t v2_signature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
#define V2_PREAMBLE 16

#define PP2_TYPE_AUTHORITY 0x02
#define PP2_TYPE_UNIQUE_ID 0x05
#define PP2_UNIQUE_ID_MAX  128

/* Longest text of an address field: "255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255". */
#define V1_INET_TEXT  15
#define V1_INET6_TEXT 45

enum v1_proto { V1_TCP4, V1_TCP6, V1_UNKNOWN };

static const char *const v1_protos[] = {[V1_TCP4] = "TCP4", [V1_TCP6] = "TCP6", [V1_UNKNOWN] = "UNKNOWN"};

/* True if s[0..n) is word itself (whole) or a beginning of it (partial). */
static bool word_matches(const char *s, size_t n, const char *word, bool partial)
{
        size_t w = strlen(word);

        return partial ? n <= w && memcmp(s, word, n) == 0 : n == w && memcmp(s, word, n) == 0;
}

static bool all_in(const char *s, size_t n, const char *set)
{
        for (size_t i = 0; i < n; i++)
                if (!memchr(set, s[i], strlen(set)))
                        return false;
        return true;
}

/*
 * A v1 port: decimal 0..65535, no sign, no leading zero. A partial field is
 * checked as a beginning of one. Returns the port, or -1.
 */
static int v1_port(const char *s, size_t n, bool partial)
{
        unsigned v = 0;

        if (n == 0)
                return partial ? 0 : -1;
        if (n > 5 || (s[0] == '0' && n > 1))
                return -1;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                v = v * 10 + (unsigned)(s[i] - '0');
        }
        return v <= 65535 ? (int)v : -1;
}

/* A v1 address of `family` into *sa (port left 0). A partial field is checked by its characters and length only. */
static bool v1_address(const char *s, size_t n, int family, bool partial, struct sockaddr_storage *sa)
{
        bool v4 = family == AF_INET;
        char text[V1_INET6_TEXT + 1];

        if (n > (v4 ? V1_INET_TEXT : V1_INET6_TEXT) || !all_in(s, n, v4 ? "0123456789." : "0123456789abcdefABCDEF:."))
                return false;
        if (partial)
                return true;
        memcpy(text, s, n);
        text[n] = '\0';
        memset(sa, 0, sizeof(*sa));
        if (v4) {
                struct sockaddr_in *in = (struct sockaddr_in *)sa;
                in->sin_family = AF_INET;
                return inet_pton(AF_INET, text, &in->sin_addr) == 1;
        }
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
        in6->sin6_family = AF_INET6;
        return inet_pton(AF_INET6, text, &in6->sin6_addr) == 1;
}

static void set_port(struct sockaddr_storage *sa, uint16_t port)
{
        if (sa->ss_family == AF_INET)
                ((struct sockaddr_in *)sa)->sin_port = htons(port);
        else
                ((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
}

/*
 * The fields of a v1 line s[0..n), CRLF excluded, split at each space:
 * "PROXY" proto src dst sport dport. complete: the line ended with CRLF;
 * otherwise the last field may be cut short and fewer fields are fine.
 * Returns 0 (a valid line, or a valid beginning of one) or -EBADMSG.
 */
static int v1_fields(const char *s, size_t n, bool complete, struct proxy_header *h)
{
        enum v1_proto proto = V1_UNKNOWN;
        int family = AF_UNSPEC;
        size_t start = 0;
        unsigned idx = 0;

        for (;; idx++) {
                const char *space = memchr(s + start, ' ', n - start);
                size_t end = space ? (size_t)(space - s) : n;
                const char *f = s + start;
                size_t fn = end - start;
                bool last = !space, partial = last && !complete;

                /* Exactly one space between fields: an empty field is a doubled or a trailing space. */
                if (fn == 0 && !partial)
                        return -EBADMSG;
                switch (idx) {
                case 0:
                        if (!word_matches(f, fn, "PROXY", partial))
                                return -EBADMSG;
                        break;
                case 1: {
                        bool known = false;
                        for (size_t p = 0; p < sizeof(v1_protos) / sizeof(v1_protos[0]); p++)
                                if (word_matches(f, fn, v1_protos[p], partial)) {
                                        known = true;
                                        proto = (enum v1_proto)p;
                                }
                        if (!known)
                                return -EBADMSG;
                        if (partial)
                                return 0;
                        /* 2.1: after UNKNOWN the receiver ignores anything up to the CRLF. */
                        if (proto == V1_UNKNOWN) {
                                h->command = PROXY_CMD_UNKNOWN;
                                return 0;
                        }
                        family = proto == V1_TCP4 ? AF_INET : AF_INET6;
                        break;
                }
                case 2:
                case 3:
                        if (!v1_address(f, fn, family, partial, idx == 2 ? &h->source : &h->destination))
                                return -EBADMSG;
                        break;
                case 4:
                case 5: {
                        int port = v1_port(f, fn, partial);
                        if (port < 0)
                                return -EBADMSG;
                        if (!partial)
                                set_port(idx == 4 ? &h->source : &h->destination, (uint16_t)port);
                        break;
                }
                default:
                        return -EBADMSG; /* a seventh field */
                }
                if (last)
                        break;
                start = end + 1;
        }
        if (complete && idx != 5)
                return -EBADMSG; /* a field missing */
        h->command = PROXY_CMD_PROXY;
        return 0;
}

static int parse_v1(const char *s, size_t len, struct proxy_header *h)
{
        size_t n = len < PROXY_V1_MAX ? len : PROXY_V1_MAX;

        /* The line is everything before the first CR or LF, which must be a CRLF ending within PROXY_V1_MAX. */
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '\n')
                        return -EBADMSG;
                if (s[i] != '\r')
                        continue;
                if (i + 2 > PROXY_V1_MAX)
                        return -EBADMSG;
                if (i + 1 == len) {
                        /* The CR ends the fields: check them whole; the LF may still come. */
                        int r = v1_fields(s, i, true, h);
                        return r < 0 ? r : 0;
                }
                if (s[i + 1] != '\n')
                        return -EBADMSG;
                int r = v1_fields(s, i, true, h);
                if (r < 0)
                        return r;
                h->version = 1;
                h->length = i + 2;
                return (int)h->length;
        }
        if (len >= PROXY_V1_MAX)
                return -EBADMSG;
        return v1_fields(s, len, false, h);
}

static bool printable(const uint8_t *p, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (p[i] < 0x20 || p[i] > 0x7e)
                        return false;
        return true;
}

/* The TLVs of p[0..n): each type, 2-byte length, value; they must fill it exactly. 0 or -EBADMSG. */
static int parse_tlvs(const uint8_t *p, size_t n, struct proxy_header *h)
{
        bool have_authority = false, have_unique_id = false;

        for (size_t off = 0; off < n;) {
                if (n - off < 3)
                        return -EBADMSG;
                uint8_t type = p[off];
                size_t vlen = (size_t)p[off + 1] << 8 | p[off + 2];
                const uint8_t *v = p + off + 3;
                if (vlen > n - off - 3)
                        return -EBADMSG;
                off += 3 + vlen;

                if (type == PP2_TYPE_AUTHORITY && !have_authority) {
                        have_authority = true;
                        if (vlen < sizeof(h->authority) && printable(v, vlen)) {
                                memcpy(h->authority, v, vlen);
                                h->authority[vlen] = '\0';
                        }
                } else if (type == PP2_TYPE_UNIQUE_ID) {
                        if (vlen > PP2_UNIQUE_ID_MAX)
                                return -EBADMSG;
                        if (have_unique_id)
                                continue;
                        have_unique_id = true;
                        if (printable(v, vlen)) {
                                memcpy(h->unique_id, v, vlen);
                                h->unique_id[vlen] = '\0';
                        } else {
                                static const char hex[] = "0123456789abcdef";
                                for (size_t i = 0; i < vlen; i++) {
                                        h->unique_id[2 * i] = hex[v[i] >> 4];
                                        h->unique_id[2 * i + 1] = hex[v[i] & 0xf];
                                }
                                h->unique_id[2 * vlen] = '\0';
                        }
                }
        }
        return 0;
}

/* Bytes of the address block of a v2 PROXY family/protocol byte; -1 for a byte the specification does not list. */
static int v2_address_block(uint8_t family)
{
        switch (family) {
        case 0x00:
                return 0;
        case 0x11: /* TCP over IPv4 */
        case 0x12: /* UDP over IPv4 */
                return 12;
        case 0x21: /* TCP over IPv6 */
        case 0x22: /* UDP over IPv6 */
                return 36;
        case 0x31: /* UNIX stream */
        case 0x32: /* UNIX datagram */
                return 216;
        default:
                return -1;
        }
}

static int parse_v2(const uint8_t *p, size_t len, struct proxy_header *h)
{
        size_t n = len < sizeof(v2_signature) ? len : sizeof(v2_signature);

        if (memcmp(p, v2_signature, n) != 0)
                return -EBADMSG;
        if (len < 13)
                return 0;
        /* Version 2 only; command 0 LOCAL, 1 PROXY, others "must drop". */
        uint8_t version = p[12] >> 4, command = p[12] & 0x0f;
        if (version != 2 || command > 1)
                return -EBADMSG;
        if (len < 14)
                return 0;
        bool local = command == 0;
        int block = local ? 0 : v2_address_block(p[13]);
        if (block < 0)
                return -EBADMSG;
        if (len < V2_PREAMBLE)
                return 0;
        size_t body = (size_t)p[14] << 8 | p[15];
        if (V2_PREAMBLE + body > PROXY_V2_MAX)
                return -EMSGSIZE;
        if (body < (size_t)block)
                return -EBADMSG;
        if (len < V2_PREAMBLE + body)
                return 0;

        const uint8_t *a = p + V2_PREAMBLE;
        h->version = 2;
        h->length = V2_PREAMBLE + body;
        if (local) {
                h->command = PROXY_CMD_LOCAL;
                return (int)h->length;
        }
        if (p[13] == 0x11) {
                struct sockaddr_in *src = (struct sockaddr_in *)&h->source,
                                   *dst = (struct sockaddr_in *)&h->destination;
                src->sin_family = dst->sin_family = AF_INET;
                memcpy(&src->sin_addr, a, 4);
                memcpy(&dst->sin_addr, a + 4, 4);
                memcpy(&src->sin_port, a + 8, 2); /* network order on the wire and in sockaddr_in */
                memcpy(&dst->sin_port, a + 10, 2);
                h->command = PROXY_CMD_PROXY;
        } else if (p[13] == 0x21) {
                struct sockaddr_in6 *src = (struct sockaddr_in6 *)&h->source,
                                    *dst = (struct sockaddr_in6 *)&h->destination;
                src->sin6_family = dst->sin6_family = AF_INET6;
                memcpy(&src->sin6_addr, a, 16);
                memcpy(&dst->sin6_addr, a + 16, 16);
                memcpy(&src->sin6_port, a + 32, 2);
                memcpy(&dst->sin6_port, a + 34, 2);
                h->command = PROXY_CMD_PROXY;
        } else {
                h->command = PROXY_CMD_UNKNOWN;
        }
        /* UNSPEC: the address bytes, if any, have no known layout, so neither have TLVs after them. */
        if (p[13] == 0x00)
                return (int)h->length;
        int r = parse_tlvs(a + block, body - (size_t)block, h);
        return r < 0 ? r : (int)h->length;
}

int proxy_parse(const void *buf, size_t len, unsigned versions, struct proxy_header *ret)
{
        const uint8_t *p = buf;
        struct proxy_header h = {0};
        int r;

        if (!(versions & (PROXY_V1 | PROXY_V2)))
                return -EBADMSG;
        if (len == 0)
                return 0;
        /* 2.2: the v2 signature starts with CR, a v1 line with "PROXY": the first byte tells them apart. */
        if (p[0] == 'P' && (versions & PROXY_V1))
                r = parse_v1(buf, len, &h);
        else if (p[0] == v2_signature[0] && (versions & PROXY_V2))
                r = parse_v2(p, len, &h);
        else
                return -EBADMSG;
        if (r > 0 && ret)
                *ret = h;
        return r;
}
