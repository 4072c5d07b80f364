/* SPDX-License-Identifier: MIT */
/* Unit tests of builtin-proto.c: names, the RFC answers (chargen, time, daytime) and the reflection check. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include <criterion/criterion.h>

#include "builtin-proto.h"

#define LINE BUILTIN_CHARGEN_LINE

/* ---- names ---- */

Test(builtin_name, round_trip)
{
        static const char *const all[] = {"echo", "discard", "chargen", "daytime", "time"};

        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
                enum builtin b = builtin_from_name(all[i]);
                cr_assert_neq(b, BUILTIN_NONE, "%s not known", all[i]);
                cr_assert_str_eq(builtin_name(b), all[i]);
        }
        cr_assert_eq(builtin_from_name("echo"), BUILTIN_ECHO);
        cr_assert_eq(builtin_from_name("time"), BUILTIN_TIME);
}

Test(builtin_name, unknown)
{
        cr_assert_eq(builtin_from_name(NULL), BUILTIN_NONE);
        cr_assert_eq(builtin_from_name(""), BUILTIN_NONE);
        cr_assert_eq(builtin_from_name("ECHO"), BUILTIN_NONE, "names are case-sensitive like every other value");
        cr_assert_eq(builtin_from_name("echo "), BUILTIN_NONE);
        cr_assert_eq(builtin_from_name("tcpmux"), BUILTIN_NONE);
        cr_assert_null(builtin_name(BUILTIN_NONE));
        cr_assert_null(builtin_name((enum builtin)99));
}

/* ---- chargen pattern ---- */

/* Line n (from 0) of the RFC 864 pattern, written out the slow way. */
static void expected_line(size_t n, char out[LINE])
{
        for (size_t col = 0; col < 72; col++)
                out[col] = (char)(' ' + (n + col) % 95);
        out[72] = '\r';
        out[73] = '\n';
}

/*
 * 72 characters per line as in RFC 864; like BSD inetd the ring starts at
 * the space, so line 1 ends at 'g' and line 2 is the RFC's sample first line.
 */
static const char line1[] = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg\r\n";
static const char line2[] = "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefgh\r\n";

Test(builtin_chargen, first_lines_exact)
{
        char buf[2 * LINE];
        size_t off = 0;

        cr_assert_eq(sizeof(line1) - 1, LINE);
        cr_assert_eq(sizeof(line2) - 1, LINE);
        cr_assert_eq(builtin_chargen_fill(buf, sizeof(buf), &off), sizeof(buf));
        cr_assert(memcmp(buf, line1, LINE) == 0, "first line: %.74s", buf);
        cr_assert(memcmp(buf + LINE, line2, LINE) == 0, "second line: %.74s", buf + LINE);
        cr_assert_eq(off, 2 * LINE);
}

Test(builtin_chargen, every_line_and_wrap)
{
        size_t total = 2 * BUILTIN_CHARGEN_PERIOD + 3 * LINE, off = 0;
        char *buf = malloc(total), want[LINE];

        cr_assert_not_null(buf);
        builtin_chargen_fill(buf, total, &off);
        for (size_t n = 0; n < total / LINE; n++) {
                expected_line(n, want);
                cr_assert(memcmp(buf + n * LINE, want, LINE) == 0, "line %zu: %.74s", n, buf + n * LINE);
        }
        /* Line 95 starts with ' ' again, line 94 with '~'. */
        cr_assert_eq(buf[94 * LINE], '~');
        cr_assert_eq(buf[95 * LINE], ' ');
        cr_assert(memcmp(buf, buf + BUILTIN_CHARGEN_PERIOD, BUILTIN_CHARGEN_PERIOD) == 0, "the stream repeats");
        cr_assert_eq(off, 3 * LINE, "offset stays below the period: %zu", off);
        free(buf);
}

Test(builtin_chargen, continuity_across_odd_sizes)
{
        static const size_t sizes[] = {1, 3, 7, 71, 72, 73, 74, 75, 0, 1000, 7029, 7030, 7031, 13, 20000};
        size_t total = 0, off = 0, ref_off = 0, at = 0;
        char *ref, *got;

        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
                total += sizes[i];
        ref = malloc(total);
        got = malloc(total);
        cr_assert(ref && got);
        builtin_chargen_fill(ref, total, &ref_off);
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
                cr_assert_eq(builtin_chargen_fill(got + at, sizes[i], &off), sizes[i]);
                at += sizes[i];
                cr_assert_eq(off, at % BUILTIN_CHARGEN_PERIOD, "after %zu bytes the offset is %zu", at, off);
        }
        cr_assert(memcmp(ref, got, total) == 0, "pieces differ from one fill of the same length");
        cr_assert_eq(off, ref_off);

        /* Any offset is taken modulo the period. */
        off = 5 * BUILTIN_CHARGEN_PERIOD + LINE;
        builtin_chargen_fill(got, LINE, &off);
        cr_assert(memcmp(got, ref + LINE, LINE) == 0);
        cr_assert_eq(off, 2 * LINE);
        free(ref);
        free(got);
}

/* ---- time and daytime ---- */

Test(builtin_time, known_values)
{
        cr_assert_eq(builtin_time_value(0), 2208988800u, "1970-01-01 is 2208988800 s after 1900");
        cr_assert_eq(builtin_time_value(-2208988800LL), 0u, "1900-01-01");
        cr_assert_eq(builtin_time_value(946684800), 3155673600u, "2000-01-01");
        /* 2036-02-07 06:28:16 UTC: the 32-bit counter wraps. */
        cr_assert_eq(builtin_time_value(2085978495), 0xffffffffu);
        cr_assert_eq(builtin_time_value(2085978496), 0u);
        cr_assert_eq(builtin_time_value(2085978496 + 3600), 3600u);
        cr_assert_eq(builtin_time_value(4294967296LL + 1000), (uint32_t)(2208988800u + 1000u), "mod 2^32");
}

static void expect_daytime(const char *tz, time_t t, const char *want)
{
        char buf[BUILTIN_DAYTIME_SIZE];

        setenv("TZ", tz, 1);
        tzset();
        cr_assert_eq(builtin_daytime_format(t, buf, sizeof(buf)), 26, "TZ=%s t=%lld: \"%s\"", tz, (long long)t, buf);
        cr_assert_str_eq(buf, want, "TZ=%s t=%lld", tz, (long long)t);
}

Test(builtin_daytime, format)
{
        expect_daytime("UTC", 0, "Thu Jan  1 00:00:00 1970\r\n");
        expect_daytime("UTC", 1234567890, "Fri Feb 13 23:31:30 2009\r\n");
        expect_daytime("UTC", 4102444799LL, "Thu Dec 31 23:59:59 2099\r\n");
        /* Local time, like inetd: a zone five hours west shows the evening before. */
        expect_daytime("EST5", 0, "Wed Dec 31 19:00:00 1969\r\n");
}

Test(builtin_daytime, small_buffer)
{
        char buf[BUILTIN_DAYTIME_SIZE] = "x";

        setenv("TZ", "UTC", 1);
        tzset();
        cr_assert_eq(builtin_daytime_format(0, buf, BUILTIN_DAYTIME_SIZE - 1), 0);
        cr_assert_str_eq(buf, "");
        cr_assert_eq(builtin_daytime_format(0, buf, 0), 0);
        /* Year 10000 does not fit the 26-character answer. */
        cr_assert_eq(builtin_daytime_format(253402300800LL, buf, sizeof(buf)), 0);
}

/* ---- reflection ---- */

static struct sockaddr_in v4(const char *ip, uint16_t port)
{
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};

        cr_assert_eq(inet_pton(AF_INET, ip, &a.sin_addr), 1);
        return a;
}

static struct sockaddr_in6 v6(const char *ip, uint16_t port)
{
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port)};

        cr_assert_eq(inet_pton(AF_INET6, ip, &a.sin6_addr), 1);
        return a;
}

#define REFLECTS(sa, ports, n) builtin_dgram_reflects((const struct sockaddr *)&(sa), (ports), (n))

Test(builtin_reflects, ipv4)
{
        static const uint16_t ports[] = {7, 19, 5007, 5019};
        struct sockaddr_in a;

        for (unsigned p = 0; p < 1024; p++) {
                a = v4("192.0.2.1", (uint16_t)p);
                cr_assert(REFLECTS(a, NULL, 0), "source port %u", p);
        }
        a = v4("192.0.2.1", 1024);
        cr_assert_not(REFLECTS(a, ports, 4));
        a = v4("192.0.2.1", 40000);
        cr_assert_not(REFLECTS(a, ports, 4));
        a = v4("192.0.2.1", 5007);
        cr_assert(REFLECTS(a, ports, 4), "a port of our own dgram builtins");
        a = v4("192.0.2.1", 5019);
        cr_assert(REFLECTS(a, ports, 4));
        cr_assert_not(REFLECTS(a, ports, 3), "only the first n_ports count");
        a = v4("127.0.0.1", 50000);
        cr_assert_not(REFLECTS(a, ports, 4));
}

Test(builtin_reflects, ipv4_bad_sources)
{
        struct sockaddr_in a = v4("255.255.255.255", 40000);

        cr_assert(REFLECTS(a, NULL, 0), "broadcast");
        a = v4("224.0.0.1", 40000);
        cr_assert(REFLECTS(a, NULL, 0), "multicast");
        a = v4("239.255.255.250", 40000);
        cr_assert(REFLECTS(a, NULL, 0), "multicast");
        a = v4("0.0.0.0", 40000);
        cr_assert(REFLECTS(a, NULL, 0), "unspecified");
}

Test(builtin_reflects, ipv6)
{
        static const uint16_t ports[] = {5007};
        struct sockaddr_in6 a = v6("2001:db8::1", 1023);

        cr_assert(REFLECTS(a, ports, 1));
        a = v6("2001:db8::1", 7);
        cr_assert(REFLECTS(a, ports, 1));
        a = v6("2001:db8::1", 5007);
        cr_assert(REFLECTS(a, ports, 1));
        a = v6("2001:db8::1", 1024);
        cr_assert_not(REFLECTS(a, ports, 1));
        a = v6("::1", 60000);
        cr_assert_not(REFLECTS(a, ports, 1));
        a = v6("ff02::1", 60000);
        cr_assert(REFLECTS(a, ports, 1), "multicast");
        a = v6("::", 60000);
        cr_assert(REFLECTS(a, ports, 1), "unspecified");
        a = v6("::ffff:192.0.2.1", 60000);
        cr_assert_not(REFLECTS(a, ports, 1), "IPv4-mapped, high port");
        a = v6("::ffff:192.0.2.1", 19);
        cr_assert(REFLECTS(a, ports, 1), "IPv4-mapped, low port");
        a = v6("::ffff:255.255.255.255", 60000);
        cr_assert(REFLECTS(a, ports, 1), "IPv4-mapped broadcast");
}

Test(builtin_reflects, other_families)
{
        struct sockaddr_un u = {.sun_family = AF_UNIX, .sun_path = "/run/x"};

        cr_assert_not(REFLECTS(u, NULL, 0), "unix sources cannot be forged");
        cr_assert(builtin_dgram_reflects(NULL, NULL, 0), "no source: nobody to answer");
}
