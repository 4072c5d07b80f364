/* SPDX-License-Identifier: MIT */
/* Unit tests of proxy.c: PROXY protocol v1 and v2 headers, their prefixes, malformed ones, TLVs, and a fuzz loop. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <criterion/criterion.h>

#include "proxy.h"

#define ANY (PROXY_V1 | PROXY_V2)

static const uint8_t sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

/* "ADDRESS PORT" of a parsed address, or "-" for another family. */
static const char *addr_text(const struct sockaddr_storage *ss)
{
        static char out[2][INET6_ADDRSTRLEN + 8];
        static int which;
        char ip[INET6_ADDRSTRLEN];
        char *o = out[which++ % 2];

        if (ss->ss_family == AF_INET) {
                const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
                inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
                snprintf(o, sizeof(out[0]), "%s %u", ip, ntohs(in->sin_port));
        } else if (ss->ss_family == AF_INET6) {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
                inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
                snprintf(o, sizeof(out[0]), "%s %u", ip, ntohs(in6->sin6_port));
        } else {
                snprintf(o, sizeof(out[0]), "-");
        }
        return o;
}

/*
 * proxy_parse() of a copy of buf[0..len) in a heap block of exactly len
 * bytes: a build with -Db_sanitize=address catches any read past len.
 */
static int parse_exact(const void *buf, size_t len, unsigned versions, struct proxy_header *h)
{
        void *copy = malloc(len ? len : 1);
        int r;

        cr_assert_not_null(copy);
        memcpy(copy, buf, len);
        r = proxy_parse(copy, len, versions, h);
        free(copy);
        return r;
}

/*
 * The header in buf[0..n) parses as n bytes, and every proper prefix of it
 * (fed as if read one byte at a time) asks for more: 0.
 */
static void assert_prefixes(const void *buf, size_t n, unsigned versions)
{
        struct proxy_header h;

        for (size_t k = 0; k < n; k++)
                cr_assert_eq(parse_exact(buf, k, versions, &h), 0, "prefix of %zu of %zu bytes", k, n);
        cr_assert_eq(parse_exact(buf, n, versions, &h), (int)n);
        cr_assert_eq(h.length, n);
}

/* proxy_parse() of the text s (a v1 line, maybe with data after it), any version accepted. */
static int v1(const char *s, struct proxy_header *h)
{
        return proxy_parse(s, strlen(s), ANY, h);
}

/* A v2 header into out: preamble with ver_cmd and family, then body[0..n). Returns its length. */
static size_t v2(uint8_t *out, uint8_t ver_cmd, uint8_t family, const void *body, size_t n)
{
        memcpy(out, sig, 12);
        out[12] = ver_cmd;
        out[13] = family;
        out[14] = (uint8_t)(n >> 8);
        out[15] = (uint8_t)n;
        if (n)
                memcpy(out + 16, body, n);
        return 16 + n;
}

/* A TLV into out: type, 2-byte length, value. Returns its length. */
static size_t tlv(uint8_t *out, uint8_t type, const void *value, size_t n)
{
        out[0] = type;
        out[1] = (uint8_t)(n >> 8);
        out[2] = (uint8_t)n;
        if (n)
                memcpy(out + 3, value, n);
        return 3 + n;
}

/* IPv4 192.0.2.1:56324 -> 198.51.100.7:443, as the 12-byte address block. */
static const uint8_t block4[12] = {192, 0, 2, 1, 198, 51, 100, 7, 0xdc, 0x04, 0x01, 0xbb};

/* IPv6 2001:db8::1:1234 -> 2001:db8::2:80, as the 36-byte address block. */
static const uint8_t block6[36] = {
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, /* source */
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, /* destination */
    0x04, 0xd2, 0x00, 0x50,                                     /* ports */
};

/* ---- version 1 ---- */

Test(proxy_v1, specification_example)
{
        static const char text[] = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
                                   "GET / HTTP/1.1\r\n"
                                   "Host: 192.168.0.11\r\n"
                                   "\r\n";
        size_t line = strlen("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
        struct proxy_header h;

        cr_assert_eq(v1(text, &h), (int)line, "the header alone is consumed, not the request after it");
        cr_assert_eq(h.length, line);
        cr_assert_eq(h.version, 1);
        cr_assert_eq(h.command, PROXY_CMD_PROXY);
        cr_assert_str_eq(addr_text(&h.source), "192.168.0.1 56324");
        cr_assert_str_eq(addr_text(&h.destination), "192.168.0.11 443");
        cr_assert_str_eq(h.authority, "");
        cr_assert_str_eq(h.unique_id, "");
        assert_prefixes(text, line, ANY);
        assert_prefixes(text, line, PROXY_V1);
}

Test(proxy_v1, tcp4_longest)
{
        static const char text[] = "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n";
        struct proxy_header h;

        cr_assert_eq(strlen(text), 56, "proxy-protocol.txt 2.1 counts 56");
        cr_assert_eq(v1(text, &h), 56);
        cr_assert_str_eq(addr_text(&h.source), "255.255.255.255 65535");
        cr_assert_str_eq(addr_text(&h.destination), "255.255.255.255 65535");
        assert_prefixes(text, 56, ANY);
}

Test(proxy_v1, tcp4_zeros)
{
        static const char text[] = "PROXY TCP4 0.0.0.0 10.0.0.1 0 0\r\n";
        struct proxy_header h;

        cr_assert_eq(v1(text, &h), (int)strlen(text));
        cr_assert_str_eq(addr_text(&h.source), "0.0.0.0 0");
        cr_assert_str_eq(addr_text(&h.destination), "10.0.0.1 0");
        assert_prefixes(text, strlen(text), ANY);
}

Test(proxy_v1, tcp6)
{
        static const char shortest[] = "PROXY TCP6 ::1 2001:db8::2 1234 80\r\n";
        static const char longest[] = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                                      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
        static const char mapped[] = "PROXY TCP6 ::ffff:192.0.2.1 ::FFFF:192.0.2.2 1 2\r\n";
        struct proxy_header h;

        cr_assert_eq(v1(shortest, &h), (int)strlen(shortest));
        cr_assert_eq(h.command, PROXY_CMD_PROXY);
        cr_assert_eq(h.source.ss_family, AF_INET6);
        cr_assert_str_eq(addr_text(&h.source), "::1 1234");
        cr_assert_str_eq(addr_text(&h.destination), "2001:db8::2 80");
        assert_prefixes(shortest, strlen(shortest), ANY);

        cr_assert_eq(strlen(longest), 104, "proxy-protocol.txt 2.1 counts 104");
        cr_assert_eq(v1(longest, &h), 104);
        cr_assert_str_eq(addr_text(&h.source), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535");
        assert_prefixes(longest, 104, ANY);

        cr_assert_eq(v1(mapped, &h), (int)strlen(mapped), "inet_pton(3) takes the dotted tail");
        cr_assert_str_eq(addr_text(&h.destination), "::ffff:192.0.2.2 2");
        assert_prefixes(mapped, strlen(mapped), ANY);
}

Test(proxy_v1, unknown)
{
        static const char *const ok[] = {
            "PROXY UNKNOWN\r\n",
            "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n",
            "PROXY UNKNOWN \r\n",
            "PROXY UNKNOWN anything  at all, even\ttabs\r\n",
        };
        struct proxy_header h;

        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                memset(&h, 0xaa, sizeof(h));
                cr_assert_eq(v1(ok[i], &h), (int)strlen(ok[i]), "%s", ok[i]);
                cr_assert_eq(h.version, 1);
                cr_assert_eq(h.command, PROXY_CMD_UNKNOWN);
                cr_assert_eq(h.source.ss_family, AF_UNSPEC);
                cr_assert_eq(h.destination.ss_family, AF_UNSPEC);
                cr_assert_str_eq(h.authority, "");
                cr_assert_str_eq(h.unique_id, "");
                assert_prefixes(ok[i], strlen(ok[i]), ANY);
        }
        cr_assert_eq(strlen(ok[0]), 15, "proxy-protocol.txt 2.1: the short form is 15 bytes");
}

/* "PROXY UNKNOWN " and filler up to n bytes with the CRLF. */
static void unknown_line(char *out, size_t n)
{
        memcpy(out, "PROXY UNKNOWN ", 14);
        memset(out + 14, 'f', n - 16);
        memcpy(out + n - 2, "\r\n", 2);
        out[n] = '\0';
}

Test(proxy_v1, longest_line)
{
        static const char worst[] = "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                                    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
        char line[PROXY_V1_MAX + 8];
        struct proxy_header h;

        cr_assert_eq(strlen(worst), PROXY_V1_MAX, "proxy-protocol.txt 2.1's worst case is 107 bytes");
        cr_assert_eq(v1(worst, &h), PROXY_V1_MAX);
        assert_prefixes(worst, PROXY_V1_MAX, ANY);

        unknown_line(line, PROXY_V1_MAX);
        assert_prefixes(line, PROXY_V1_MAX, ANY);

        /* 108 bytes: the CRLF ends too late. Every prefix that could still end in time asks for more. */
        unknown_line(line, PROXY_V1_MAX + 1);
        for (size_t k = 0; k < PROXY_V1_MAX - 1; k++)
                cr_assert_eq(proxy_parse(line, k, ANY, &h), 0, "%zu", k);
        /* 106 bytes and a CR at byte 107: no room left for the LF. */
        cr_assert_eq(proxy_parse(line, PROXY_V1_MAX, ANY, &h), -EBADMSG);
        cr_assert_eq(proxy_parse(line, PROXY_V1_MAX + 1, ANY, &h), -EBADMSG);
        cr_assert_eq(v1(line, &h), -EBADMSG);

        /* 107 bytes and no CR at all. */
        memset(line, 'f', sizeof(line));
        memcpy(line, "PROXY UNKNOWN ", 14);
        cr_assert_eq(proxy_parse(line, PROXY_V1_MAX - 1, ANY, &h), 0);
        cr_assert_eq(proxy_parse(line, PROXY_V1_MAX, ANY, &h), -EBADMSG);
        cr_assert_eq(proxy_parse(line, sizeof(line), ANY, &h), -EBADMSG);

        /* A TCP6 line over 107 bytes (IPv4-mapped addresses of 45 characters) is refused as well. */
        cr_assert_eq(v1("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 "
                        "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 65535 65535\r\n",
                        &h),
                     -EBADMSG);
}

Test(proxy_v1, early_answers)
{
        static const struct {
                const char *text;
                int expect;
        } cases[] = {
            {"P", 0},
            {"PRO", 0},
            {"PROXY", 0},
            {"PROXY ", 0},
            {"PROXY T", 0},
            {"PROXY TCP4", 0},
            {"PROXY TCP4 1", 0},
            {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", 0},
            {"PROXY UNKNOWN", 0},
            {"PROXY UNKNOWN\r", 0},
            {"PROXY UNKNOWN whatever", 0},
            {"PROXY TCP6 2001:db8::", 0},
            {"G", -EBADMSG},
            {"GET / HTTP/1.0", -EBADMSG},
            {"PROXZ", -EBADMSG},
            {"proxy", -EBADMSG},
            {"PROXY  ", -EBADMSG},
            {"PROXY X", -EBADMSG},
            {"PROXY TCP5", -EBADMSG},
            {"PROXY TCP4x", -EBADMSG},
            {"PROXY UNKNOWNX", -EBADMSG},
            {"PROXY TCP4 1.2.3.4x", -EBADMSG},
            {"PROXY TCP4 1.2.3.4 ", 0},
            {"PROXY TCP4 1.2.3 ", -EBADMSG},
            {"PROXY TCP4 1.2.3.4  ", -EBADMSG},
            {"PROXY TCP4 1.2.3.4 5.6.7.8 0", 0},
            {"PROXY TCP4 1.2.3.4 5.6.7.8 01", -EBADMSG},
            {"PROXY TCP4 1.2.3.4 5.6.7.8 65536", -EBADMSG},
            {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ", -EBADMSG},
            {"PROXY TCP4 1234567890123456", -EBADMSG},
            {"PROXY TCP6 ::1g", -EBADMSG},
            {"PROXY\r", -EBADMSG},
            {"PROXY TCP4 1.2.3.4\r", -EBADMSG},
            {"PROXY\n", -EBADMSG},
        };
        struct proxy_header h;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                cr_assert_eq(v1(cases[i].text, &h), cases[i].expect, "\"%s\"", cases[i].text);
}

Test(proxy_v1, malformed)
{
        static const char *const bad[] = {
            /* line ends */
            "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rx",
            "PROXY TCP4 1.2.3.4 5.6.7.8 1\n2\r\n",
            "PROXY UNKNOWN\n",
            "PROXY UNKNOWN a\rb\r\n",
            "PROXY UNKNOWN a\nb\r\n",
            /* spaces */
            "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
            "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
            "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
            " PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
            "PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n",
            "PROXY UNKNOWN\t\r\n",
            /* fields */
            "PROXY\r\n",
            "PROXY \r\n",
            "PROXY TCP4\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
            "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
            "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
            "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
            /* ports */
            "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 01x 2\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 1 01\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 00 2\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 0x10 2\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 999999 2\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 1 2x\r\n",
            /* addresses */
            "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
            "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
            "PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n",
            "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
            "PROXY TCP4 1.2.3.4 ::1 1 2\r\n",
            "PROXY TCP4 ::1 ::1 1 2\r\n",
            "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
            "PROXY TCP6 ::1 ::g 1 2\r\n",
            "PROXY TCP6 1::2::3 ::1 1 2\r\n",
            "PROXY TCP6 [::1] ::1 1 2\r\n",
            "PROXY TCP4 localhost 5.6.7.8 1 2\r\n",
            /* not PROXY at all */
            "GET / HTTP/1.0\r\n\r\n",
            "SSH-2.0-OpenSSH_9.2\r\n",
            "\x16\x03\x01\x02\x00\x01",
        };
        struct proxy_header h;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                memset(&h, 0x5a, sizeof(h));
                cr_assert_eq(v1(bad[i], &h), -EBADMSG, "\"%s\"", bad[i]);
                cr_assert_eq(h.version, 0x5a5a5a5a, "*ret is left alone");
        }
}

Test(proxy_v1, nul_byte)
{
        static const char text[] = "PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n";
        struct proxy_header h;

        cr_assert_eq(proxy_parse(text, sizeof(text) - 1, ANY, &h), -EBADMSG);
}

/* ---- version 2 ---- */

Test(proxy_v2, tcp4)
{
        uint8_t buf[64];
        size_t n = v2(buf, 0x21, 0x11, block4, sizeof(block4));
        struct proxy_header h;

        cr_assert_eq(n, 28);
        memcpy(buf + n, "GET /", 5); /* data after the header is the handler's */
        cr_assert_eq(proxy_parse(buf, n + 5, ANY, &h), 28);
        cr_assert_eq(h.length, 28);
        cr_assert_eq(h.version, 2);
        cr_assert_eq(h.command, PROXY_CMD_PROXY);
        cr_assert_str_eq(addr_text(&h.source), "192.0.2.1 56324");
        cr_assert_str_eq(addr_text(&h.destination), "198.51.100.7 443");
        cr_assert_str_eq(h.authority, "");
        cr_assert_str_eq(h.unique_id, "");
        assert_prefixes(buf, n, ANY);
        assert_prefixes(buf, n, PROXY_V2);
}

Test(proxy_v2, tcp6)
{
        uint8_t buf[64];
        size_t n = v2(buf, 0x21, 0x21, block6, sizeof(block6));
        struct proxy_header h;

        cr_assert_eq(proxy_parse(buf, n, ANY, &h), 52);
        cr_assert_eq(h.command, PROXY_CMD_PROXY);
        cr_assert_eq(h.source.ss_family, AF_INET6);
        cr_assert_str_eq(addr_text(&h.source), "2001:db8::1 1234");
        cr_assert_str_eq(addr_text(&h.destination), "2001:db8::2 80");
        assert_prefixes(buf, n, ANY);
}

Test(proxy_v2, local)
{
        uint8_t buf[128], junk[40];
        struct proxy_header h;
        size_t n;

        /* HAProxy's health check: LOCAL, UNSPEC, no address. */
        n = v2(buf, 0x20, 0x00, NULL, 0);
        cr_assert_eq(proxy_parse(buf, n, ANY, &h), 16);
        cr_assert_eq(h.version, 2);
        cr_assert_eq(h.command, PROXY_CMD_LOCAL);
        cr_assert_eq(h.source.ss_family, AF_UNSPEC);
        assert_prefixes(buf, n, ANY);

        /* The length is always honoured, whatever the family says, and the bytes are ignored. */
        n = v2(buf, 0x20, 0x11, block4, sizeof(block4));
        cr_assert_eq(proxy_parse(buf, n, ANY, &h), 28);
        cr_assert_eq(h.command, PROXY_CMD_LOCAL);
        cr_assert_eq(h.source.ss_family, AF_UNSPEC, "LOCAL: no addresses");
        assert_prefixes(buf, n, ANY);

        memset(junk, 0xff, sizeof(junk));
        n = v2(buf, 0x20, 0x99, junk, 5);
        cr_assert_eq(proxy_parse(buf, n, ANY, &h), 21, "LOCAL ignores the family byte");
        cr_assert_eq(h.command, PROXY_CMD_LOCAL);
        n = v2(buf, 0x20, 0x21, junk, 3);
        cr_assert_eq(proxy_parse(buf, n, ANY, &h), 19, "and the address block is not required");
        assert_prefixes(buf, n, ANY);
}

Test(proxy_v2, other_families)
{
        static const struct {
                uint8_t family;
                size_t block;
        } fams[] = {
            {0x00, 0},   /* UNSPEC */
            {0x12, 12},  /* UDP over IPv4 */
            {0x22, 36},  /* UDP over IPv6 */
            {0x31, 216}, /* UNIX stream */
            {0x32, 216}, /* UNIX datagram */
        };
        uint8_t body[216], buf[16 + 216 + 64];
        struct proxy_header h;

        memset(body, 0, sizeof(body));
        memcpy(body, "/run/client.sock", 16);
        memcpy(body + 108, "/run/superd.sock", 16);
        for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
                size_t n = v2(buf, 0x21, fams[i].family, body, fams[i].block);
                cr_assert_eq(proxy_parse(buf, n, ANY, &h), (int)n, "family %#x", fams[i].family);
                cr_assert_eq(h.version, 2);
                cr_assert_eq(h.command, PROXY_CMD_UNKNOWN, "family %#x: keep the balancer's addresses", fams[i].family);
                cr_assert_eq(h.source.ss_family, AF_UNSPEC);
                cr_assert_eq(h.destination.ss_family, AF_UNSPEC);
                assert_prefixes(buf, n, ANY);
        }

        /* UNSPEC with address bytes of its own: skipped, whatever they are. */
        size_t n = v2(buf, 0x21, 0x00, "\xff\xff\xff\xff\xff", 5);
        cr_assert_eq(proxy_parse(buf, n, ANY, &h), 21);
        cr_assert_eq(h.command, PROXY_CMD_UNKNOWN);
}

Test(proxy_v2, wrong_length_for_family)
{
        static const struct {
                uint8_t family;
                size_t block;
        } fams[] = {{0x11, 12}, {0x12, 12}, {0x21, 36}, {0x22, 36}, {0x31, 216}, {0x32, 216}};
        uint8_t body[216] = {0}, buf[16 + 216];
        struct proxy_header h;

        for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
                for (size_t short_by = 1; short_by <= 3; short_by++) {
                        size_t n = v2(buf, 0x21, fams[i].family, body, fams[i].block - short_by);
                        /* Known as soon as the length is: no need to wait for the body. */
                        cr_assert_eq(proxy_parse(buf, 16, ANY, &h), -EBADMSG, "family %#x", fams[i].family);
                        cr_assert_eq(proxy_parse(buf, n, ANY, &h), -EBADMSG, "family %#x", fams[i].family);
                }
                size_t n = v2(buf, 0x21, fams[i].family, body, 0);
                cr_assert_eq(proxy_parse(buf, n, ANY, &h), -EBADMSG, "family %#x with no address", fams[i].family);
        }
}

Test(proxy_v2, bad_signature)
{
        uint8_t buf[64];
        size_t n = v2(buf, 0x21, 0x11, block4, sizeof(block4));
        struct proxy_header h;

        for (size_t i = 1; i < 12; i++) {
                uint8_t copy[64];
                memcpy(copy, buf, n);
                copy[i] ^= 0x20;
                for (size_t k = 0; k <= i; k++)
                        cr_assert_eq(proxy_parse(copy, k, ANY, &h), 0, "prefix %zu before the wrong byte %zu", k, i);
                cr_assert_eq(proxy_parse(copy, i + 1, ANY, &h), -EBADMSG, "wrong byte %zu", i);
                cr_assert_eq(proxy_parse(copy, n, ANY, &h), -EBADMSG, "wrong byte %zu", i);
        }
        /* "\r\n\r\n" alone is what an HTTP client might send: a prefix until proven otherwise. */
        cr_assert_eq(proxy_parse("\r\n\r\n", 4, ANY, &h), 0);
        cr_assert_eq(proxy_parse("\r\n\r\nGET", 7, ANY, &h), -EBADMSG);
        cr_assert_eq(proxy_parse("\r\r", 2, ANY, &h), -EBADMSG);
}

Test(proxy_v2, version_and_command)
{
        uint8_t buf[64];
        struct proxy_header h;

        for (unsigned vc = 0; vc < 256; vc++) {
                size_t n = v2(buf, (uint8_t)vc, 0x11, block4, sizeof(block4));
                int expect = vc == 0x20 || vc == 0x21 ? 28 : -EBADMSG;
                cr_assert_eq(proxy_parse(buf, n, ANY, &h), expect, "version/command %#x", vc);
                cr_assert_eq(proxy_parse(buf, 13, ANY, &h), expect > 0 ? 0 : -EBADMSG, "version/command %#x", vc);
        }
}

Test(proxy_v2, family_byte)
{
        uint8_t body[216] = {0}, buf[16 + 216];
        struct proxy_header h;

        for (unsigned fam = 0; fam < 256; fam++) {
                bool listed = fam == 0x00 || fam == 0x11 || fam == 0x12 || fam == 0x21 || fam == 0x22 || fam == 0x31 ||
                              fam == 0x32;
                size_t n = v2(buf, 0x21, (uint8_t)fam, body, 216);
                int r = proxy_parse(buf, n, ANY, &h);
                if (!listed) {
                        cr_assert_eq(r, -EBADMSG, "family %#x", fam);
                        cr_assert_eq(proxy_parse(buf, 14, ANY, &h), -EBADMSG, "family %#x, known at byte 14", fam);
                        continue;
                }
                /* 216 bytes: too many for IPv4 and IPv6 without TLVs (zeros make a TLV of type 0 and length 0). */
                cr_assert_gt(r, 0, "family %#x", fam);
                cr_assert_eq(proxy_parse(buf, 14, ANY, &h), 0);
        }
        /* LOCAL takes any family byte. */
        for (unsigned fam = 0; fam < 256; fam++) {
                size_t n = v2(buf, 0x20, (uint8_t)fam, NULL, 0);
                cr_assert_eq(proxy_parse(buf, n, ANY, &h), 16, "LOCAL, family %#x", fam);
                cr_assert_eq(h.command, PROXY_CMD_LOCAL);
        }
}

Test(proxy_v2, size_bound)
{
        static uint8_t buf[PROXY_V2_MAX + 64], body[PROXY_V2_MAX], zeros[PROXY_V2_MAX];
        size_t most = PROXY_V2_MAX - 16;
        struct proxy_header h;

        /* The largest accepted: addresses and one TLV up to PROXY_V2_MAX in all. */
        memcpy(body, block4, 12);
        tlv(body + 12, 0xe0, zeros, most - 12 - 3);
        size_t n = v2(buf, 0x21, 0x11, body, most);
        cr_assert_eq(n, PROXY_V2_MAX);
        cr_assert_eq(proxy_parse(buf, n, ANY, &h), PROXY_V2_MAX);
        cr_assert_eq(proxy_parse(buf, n - 1, ANY, &h), 0);
        cr_assert_eq(proxy_parse(buf, 16, ANY, &h), 0);
        cr_assert_str_eq(addr_text(&h.source), "192.0.2.1 56324");

        /* One more byte is over the bound, known from the preamble alone. */
        tlv(body + 12, 0xe0, zeros, most + 1 - 12 - 3);
        n = v2(buf, 0x21, 0x11, body, most + 1);
        cr_assert_eq(proxy_parse(buf, 16, ANY, &h), -EMSGSIZE);
        cr_assert_eq(proxy_parse(buf, n, ANY, &h), -EMSGSIZE);
        buf[14] = buf[15] = 0xff;
        cr_assert_eq(proxy_parse(buf, 16, ANY, &h), -EMSGSIZE);
        cr_assert_eq(proxy_parse(buf, sizeof(buf), ANY, &h), -EMSGSIZE);
        buf[12] = 0x20;
        cr_assert_eq(proxy_parse(buf, 16, ANY, &h), -EMSGSIZE, "LOCAL too");
        cr_assert_eq(PROXY_HEADER_MAX, PROXY_V2_MAX);
        cr_assert_geq(PROXY_HEADER_MAX, PROXY_V1_MAX);
}

/* ---- TLVs ---- */

/* A PROXY header of `family` (IPv4, IPv6 or UNIX) with the TLVs tlvs[0..n) after its addresses, into buf. */
static size_t with_tlvs(uint8_t *buf, uint8_t family, const uint8_t *tlvs, size_t n)
{
        uint8_t body[PROXY_V2_MAX];
        size_t block = (family >> 4) == 1 ? 12 : (family >> 4) == 2 ? 36 : 216;

        memset(body, 0, block);
        if (family == 0x11)
                memcpy(body, block4, 12);
        else if (family == 0x21)
                memcpy(body, block6, 36);
        memcpy(body + block, tlvs, n);
        return v2(buf, 0x21, family, body, block + n);
}

Test(proxy_tlv, authority_and_unique_id)
{
        uint8_t t[512], buf[PROXY_V2_MAX];
        size_t m = 0;
        struct proxy_header h;

        m += tlv(t + m, 0x01, "\x02h2", 3);                         /* ALPN: skipped */
        m += tlv(t + m, 0x02, "example.com", 11);                   /* AUTHORITY */
        m += tlv(t + m, 0x04, "\0\0\0", 3);                         /* NOOP */
        m += tlv(t + m, 0x05, "4F2A_127.0.0.1:5 1", 18);            /* UNIQUE_ID, printable */
        m += tlv(t + m, 0x20, "\x01\0\0\0\0\x21\0\x07TLSv1.3", 15); /* SSL with a subtype */
        m += tlv(t + m, 0xe0, "\xde\xad", 2);                       /* custom */
        m += tlv(t + m, 0x03, "\x12\x34\x56\x78", 4);               /* CRC32C: not checked */

        size_t n = with_tlvs(buf, 0x11, t, m);
        cr_assert_eq(proxy_parse(buf, n, ANY, &h), (int)n);
        cr_assert_eq(h.command, PROXY_CMD_PROXY);
        cr_assert_str_eq(addr_text(&h.source), "192.0.2.1 56324");
        cr_assert_str_eq(h.authority, "example.com");
        cr_assert_str_eq(h.unique_id, "4F2A_127.0.0.1:5 1");
        assert_prefixes(buf, n, ANY);

        n = with_tlvs(buf, 0x21, t, m);
        cr_assert_eq(proxy_parse(buf, n, ANY, &h), (int)n);
        cr_assert_str_eq(addr_text(&h.destination), "2001:db8::2 80");
        cr_assert_str_eq(h.authority, "example.com");

        /* After a UNIX or UDP address block too (the command is UNKNOWN, the TLVs still count). */
        n = with_tlvs(buf, 0x31, t, m);
        cr_assert_eq(proxy_parse(buf, n, ANY, &h), (int)n);
        cr_assert_eq(h.command, PROXY_CMD_UNKNOWN);
        cr_assert_str_eq(h.authority, "example.com");
        cr_assert_str_eq(h.unique_id, "4F2A_127.0.0.1:5 1");
        n = with_tlvs(buf, 0x12, t, m);
        cr_assert_eq(proxy_parse(buf, n, ANY, &h), (int)n);
        cr_assert_str_eq(h.unique_id, "4F2A_127.0.0.1:5 1");
}

Test(proxy_tlv, unique_id_binary)
{
        uint8_t t[256], id[128], buf[PROXY_V2_MAX];
        char hex[2 * 128 + 1];
        struct proxy_header h;

        for (size_t i = 0; i < sizeof(id); i++)
                id[i] = (uint8_t)(i * 37 + 5);
        for (size_t i = 0; i < sizeof(id); i++)
                snprintf(hex + 2 * i, 3, "%02x", id[i]);

        size_t n = with_tlvs(buf, 0x11, t, tlv(t, 0x05, id, 128));
        cr_assert_eq(proxy_parse(buf, n, ANY, &h), (int)n);
        cr_assert_str_eq(h.unique_id, hex, "128 binary bytes: 256 hex digits");
        cr_assert_eq(strlen(h.unique_id), 256);

        n = with_tlvs(buf, 0x11, t, tlv(t, 0x05, "\x00\x01\xab\xff", 4));
        cr_assert_eq(proxy_parse(buf, n, ANY, &h), (int)n);
        cr_assert_str_eq(h.unique_id, "0001abff");

        n = with_tlvs(buf, 0x11, t, tlv(t, 0x05, "abc\x7f", 4));
        cr_assert_eq(proxy_parse(buf, n, ANY, &h), (int)n);
        cr_assert_str_eq(h.unique_id, "6162637f", "DEL is not printable");

        n = with_tlvs(buf, 0x11, t, tlv(t, 0x05, "", 0));
        cr_assert_eq(proxy_parse(buf, n, ANY, &h), (int)n);
        cr_assert_str_eq(h.unique_id, "");

        /* Over 128 bytes: proxy-protocol.txt 2.2.5 says "up to 128". */
        uint8_t long_id[129];
        memset(long_id, 'a', sizeof(long_id));
        n = with_tlvs(buf, 0x11, t, tlv(t, 0x05, long_id, 129));
        cr_assert_eq(proxy_parse(buf, n, ANY, &h), -EBADMSG);
        n = with_tlvs(buf, 0x11, t, tlv(t, 0x05, long_id, 128));
        cr_assert_eq(proxy_parse(buf, n, ANY, &h), (int)n);
        cr_assert_eq(strlen(h.unique_id), 128);
}

Test(proxy_tlv, authority_not_printable)
{
        uint8_t t[600], buf[PROXY_V2_MAX], name[256];
        struct proxy_header h;
        size_t n;

        n = with_tlvs(buf, 0x11, t, tlv(t, 0x02, "ex\x01mple.com", 11));
        cr_assert_eq(proxy_parse(buf, n, ANY, &h), (int)n, "not printable: ignored, not refused");
        cr_assert_str_eq(h.authority, "");

        static const char utf8[] = "b\xc3\xbc"
                                   "cher.example";
        n = with_tlvs(buf, 0x11, t, tlv(t, 0x02, utf8, strlen(utf8)));
        cr_assert_eq(proxy_parse(buf, n, ANY, &h), (int)n);
        cr_assert_str_eq(h.authority, "", "UTF-8 is not printable ASCII");

        memset(name, 'a', sizeof(name));
        n = with_tlvs(buf, 0x11, t, tlv(t, 0x02, name, 255));
        cr_assert_eq(proxy_parse(buf, n, ANY, &h), (int)n);
        cr_assert_eq(strlen(h.authority), 255);
        n = with_tlvs(buf, 0x11, t, tlv(t, 0x02, name, 256));
        cr_assert_eq(proxy_parse(buf, n, ANY, &h), (int)n);
        cr_assert_str_eq(h.authority, "", "too long for the field");

        /* The first one counts. */
        size_t m = tlv(t, 0x02, "first.example", 13);
        m += tlv(t + m, 0x02, "second.example", 14);
        m += tlv(t + m, 0x05, "id-1", 4);
        m += tlv(t + m, 0x05, "id-2", 4);
        n = with_tlvs(buf, 0x11, t, m);
        cr_assert_eq(proxy_parse(buf, n, ANY, &h), (int)n);
        cr_assert_str_eq(h.authority, "first.example");
        cr_assert_str_eq(h.unique_id, "id-1");
}

Test(proxy_tlv, unknown_skipped)
{
        uint8_t t[600], big[500], buf[PROXY_V2_MAX];
        struct proxy_header h;
        size_t m = 0;

        memset(big, 0x02, sizeof(big)); /* looks like AUTHORITY TLVs inside, but is the value of another */
        m += tlv(t + m, 0xf0, big, sizeof(big));
        m += tlv(t + m, 0x30, "netns", 5);
        m += tlv(t + m, 0x00, NULL, 0);
        size_t n = with_tlvs(buf, 0x11, t, m);
        cr_assert_eq(proxy_parse(buf, n, ANY, &h), (int)n);
        cr_assert_str_eq(h.authority, "");
        cr_assert_str_eq(h.unique_id, "");
        assert_prefixes(buf, n, ANY);
}

Test(proxy_tlv, overrun)
{
        uint8_t t[64], buf[PROXY_V2_MAX];
        struct proxy_header h;
        size_t m, n;

        /* The value runs one byte past the header. */
        m = tlv(t, 0x02, "example.com", 11);
        t[2] = 12;
        n = with_tlvs(buf, 0x11, t, m);
        cr_assert_eq(proxy_parse(buf, n, ANY, &h), -EBADMSG);
        cr_assert_eq(proxy_parse(buf, n + 1, ANY, &h), -EBADMSG, "bytes after the header are not the TLV's");
        for (size_t k = 0; k < n; k++)
                cr_assert_eq(proxy_parse(buf, k, ANY, &h), 0, "%zu", k);

        /* A length of 0xffff inside a small header. */
        m = tlv(t, 0xe0, "x", 1);
        t[1] = t[2] = 0xff;
        n = with_tlvs(buf, 0x11, t, m);
        cr_assert_eq(proxy_parse(buf, n, ANY, &h), -EBADMSG);

        /* One or two bytes left: not even a TLV's type and length. */
        m = tlv(t, 0x02, "a", 1);
        t[m] = 0x04;
        n = with_tlvs(buf, 0x11, t, m + 1);
        cr_assert_eq(proxy_parse(buf, n, ANY, &h), -EBADMSG);
        t[m + 1] = 0x00;
        n = with_tlvs(buf, 0x11, t, m + 2);
        cr_assert_eq(proxy_parse(buf, n, ANY, &h), -EBADMSG);
        t[m + 2] = 0x00;
        n = with_tlvs(buf, 0x11, t, m + 3);
        cr_assert_eq(proxy_parse(buf, n, ANY, &h), (int)n, "three bytes make an empty TLV");
        cr_assert_str_eq(h.authority, "a");

        /* IPv4 block with 13 bytes: one stray byte. */
        uint8_t body[13];
        memcpy(body, block4, 12);
        body[12] = 0;
        n = v2(buf, 0x21, 0x11, body, 13);
        cr_assert_eq(proxy_parse(buf, n, ANY, &h), -EBADMSG);
}

/* ---- versions ---- */

Test(proxy_versions, filtering)
{
        static const char line[] = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n";
        uint8_t buf[64];
        size_t n = v2(buf, 0x21, 0x11, block4, sizeof(block4));
        struct proxy_header h;

        cr_assert_eq(proxy_parse(line, strlen(line), PROXY_V1, &h), (int)strlen(line));
        cr_assert_eq(proxy_parse(line, strlen(line), PROXY_V2, &h), -EBADMSG);
        cr_assert_eq(proxy_parse(line, 1, PROXY_V2, &h), -EBADMSG, "refused from its first byte");
        cr_assert_eq(proxy_parse(line, strlen(line), 0, &h), -EBADMSG);

        cr_assert_eq(proxy_parse(buf, n, PROXY_V2, &h), (int)n);
        cr_assert_eq(proxy_parse(buf, n, PROXY_V1, &h), -EBADMSG);
        cr_assert_eq(proxy_parse(buf, 1, PROXY_V1, &h), -EBADMSG, "refused from its first byte");
        cr_assert_eq(proxy_parse(buf, n, 0, &h), -EBADMSG);

        cr_assert_eq(proxy_parse("", 0, ANY, &h), 0);
        cr_assert_eq(proxy_parse("", 0, PROXY_V1, &h), 0);
        cr_assert_eq(proxy_parse("", 0, 0, &h), -EBADMSG);
        cr_assert_eq(proxy_parse(line, strlen(line), ANY | 0x100, &h), (int)strlen(line), "unknown bits ignored");
}

Test(proxy_versions, ret_optional)
{
        static const char line[] = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n";

        cr_assert_eq(proxy_parse(line, strlen(line), ANY, NULL), (int)strlen(line));
        cr_assert_eq(proxy_parse(line, 5, ANY, NULL), 0);
        cr_assert_eq(proxy_parse("GET", 3, ANY, NULL), -EBADMSG);
}

/* ---- fuzz ---- */

/* xorshift64*: a fixed sequence, the same on every run. */
static uint64_t fuzz_state = 0x5eed5eed12345678ULL;

static uint32_t fuzz_next(void)
{
        fuzz_state ^= fuzz_state >> 12;
        fuzz_state ^= fuzz_state << 25;
        fuzz_state ^= fuzz_state >> 27;
        return (uint32_t)((fuzz_state * 0x2545F4914F6CDD1DULL) >> 32);
}

static void assert_sane(const uint8_t *buf, size_t len, unsigned versions)
{
        struct proxy_header h;
        int r = parse_exact(buf, len, versions, &h);

        cr_assert(r == 0 || r == -EBADMSG || r == -EMSGSIZE || (r > 0 && (size_t)r <= len), "r = %d, len = %zu", r,
                  len);
        if (r > 0) {
                cr_assert_eq(h.length, (size_t)r);
                cr_assert(h.version == 1 || h.version == 2);
                cr_assert_lt(strlen(h.authority), sizeof(h.authority));
                cr_assert_lt(strlen(h.unique_id), sizeof(h.unique_id));
                if (h.command == PROXY_CMD_PROXY)
                        cr_assert(h.source.ss_family == AF_INET || h.source.ss_family == AF_INET6);
                else
                        cr_assert_eq(h.source.ss_family, AF_UNSPEC);
                /* The header alone parses the same, and any shorter part of it asks for more. */
                cr_assert_eq(proxy_parse(buf, (size_t)r, versions, NULL), r);
                cr_assert_eq(proxy_parse(buf, (size_t)r - 1, versions, NULL), 0);
        }
}

Test(proxy_fuzz, random_bytes)
{
        static uint8_t buf[PROXY_V2_MAX + 128];

        for (int i = 0; i < 20000; i++) {
                size_t len = fuzz_next() % sizeof(buf);
                for (size_t k = 0; k < len; k++)
                        buf[k] = (uint8_t)fuzz_next();
                /* Give the parsers something to chew on beyond the first byte. */
                if (len > 0 && i % 3 == 0)
                        buf[0] = 'P';
                if (len >= 16 && i % 3 == 1) {
                        memcpy(buf, sig, 12);
                        buf[12] = 0x20 | (fuzz_next() % 2);
                        buf[14] &= 0x03;
                }
                assert_sane(buf, len, 1 + fuzz_next() % 3);
        }
}

Test(proxy_fuzz, mutated_headers)
{
        static const char *const lines[] = {
            "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
            "PROXY TCP6 2001:db8::1 ::ffff:1.2.3.4 1 65535\r\n",
            "PROXY UNKNOWN\r\n",
        };
        static const char alphabet[] = "PROXY TCP46UNKNOW0123456789.:abcdef \r\n-+x";
        uint8_t seeds[4][PROXY_V2_MAX], t[64], buf[PROXY_V2_MAX];
        size_t seed_len[4], m;

        m = tlv(t, 0x02, "example.com", 11);
        m += tlv(t + m, 0x05, "\x01\x02", 2);
        seed_len[0] = with_tlvs(seeds[0], 0x11, t, m);
        seed_len[1] = with_tlvs(seeds[1], 0x21, t, m);
        seed_len[2] = with_tlvs(seeds[2], 0x31, t, m);
        seed_len[3] = v2(seeds[3], 0x20, 0x00, NULL, 0);

        for (int i = 0; i < 20000; i++) {
                size_t len;
                if (i % 2 == 0) {
                        const char *s = lines[fuzz_next() % 3];
                        len = strlen(s);
                        memcpy(buf, s, len);
                        for (unsigned e = 1 + fuzz_next() % 3; e > 0; e--)
                                buf[fuzz_next() % len] = (uint8_t)alphabet[fuzz_next() % (sizeof(alphabet) - 1)];
                } else {
                        unsigned s = fuzz_next() % 4;
                        len = seed_len[s];
                        memcpy(buf, seeds[s], len);
                        for (unsigned e = 1 + fuzz_next() % 3; e > 0; e--) {
                                size_t at = fuzz_next() % len;
                                /* Mostly the preamble and the TLV lengths, where the decisions are. */
                                if (fuzz_next() % 2 && len > 16)
                                        at = 12 + fuzz_next() % 4;
                                buf[at] = (uint8_t)fuzz_next();
                        }
                }
                /* Cut short, or not. */
                if (fuzz_next() % 4 == 0)
                        len = fuzz_next() % (len + 1);
                assert_sane(buf, len, 1 + fuzz_next() % 3);
        }
}
