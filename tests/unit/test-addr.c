/* SPDX-License-Identifier: MIT */
/* Unit tests of addr.c: every accepted listen form, every rejected one, and the printers. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "addr.h"

static struct listen_addr parse_ok(const char *text)
{
        struct listen_addr a;
        const char *why = "not touched";
        int r = addr_parse(text, &a, &why);

        cr_assert_eq(r, 0, "addr_parse(\"%s\") = %d (%s), expected success", text, r, why ? why : "no message");
        return a;
}

static void expect_v4(const char *text, const char *ip, unsigned port)
{
        struct listen_addr a = parse_ok(text);
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a.sa;
        struct in_addr want;

        cr_assert_eq(inet_pton(AF_INET, ip, &want), 1);
        cr_assert_eq(s4->sin_family, AF_INET, "%s: family %d", text, s4->sin_family);
        cr_assert_eq(a.len, sizeof(struct sockaddr_in), "%s: len %u", text, (unsigned)a.len);
        cr_assert_eq(s4->sin_addr.s_addr, want.s_addr, "%s: wrong address", text);
        cr_assert_eq(ntohs(s4->sin_port), port, "%s: port %u", text, ntohs(s4->sin_port));
        cr_assert_not(a.dual_stack, "%s: must not be dual-stack", text);
}

static void expect_v6(const char *text, const char *ip, unsigned port, bool dual_stack)
{
        struct listen_addr a = parse_ok(text);
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a.sa;
        struct in6_addr want;

        cr_assert_eq(inet_pton(AF_INET6, ip, &want), 1);
        cr_assert_eq(s6->sin6_family, AF_INET6, "%s: family %d", text, s6->sin6_family);
        cr_assert_eq(a.len, sizeof(struct sockaddr_in6), "%s: len %u", text, (unsigned)a.len);
        cr_assert(memcmp(&s6->sin6_addr, &want, sizeof(want)) == 0, "%s: wrong address", text);
        cr_assert_eq(ntohs(s6->sin6_port), port, "%s: port %u", text, ntohs(s6->sin6_port));
        cr_assert_eq(a.dual_stack, dual_stack, "%s: dual_stack %d", text, a.dual_stack);
}

static void expect_reject(const char *text)
{
        struct listen_addr a;
        const char *why = NULL;
        int r = addr_parse(text, &a, &why);

        cr_assert_eq(r, -EINVAL, "addr_parse(\"%s\") = %d, expected -EINVAL", text, r);
        cr_expect(why && *why, "addr_parse(\"%s\") failed without a message", text);
}

Test(addr_parse, ipv4)
{
        expect_v4("127.0.0.1:80", "127.0.0.1", 80);
        expect_v4("0.0.0.0:1", "0.0.0.0", 1);
        expect_v4("10.1.2.3:65535", "10.1.2.3", 65535);
}

Test(addr_parse, ipv6_in_brackets)
{
        expect_v6("[::1]:80", "::1", 80, false);
        expect_v6("[2001:db8::1]:65535", "2001:db8::1", 65535, false);
        expect_v6("[::]:8080", "::", 8080, false);
        expect_v6("[::ffff:10.0.0.1]:22", "::ffff:10.0.0.1", 22, false);
}

Test(addr_parse, wildcard_is_dual_stack)
{
        expect_v6("*:80", "::", 80, true);
        expect_v6(":80", "::", 80, true);
        expect_v6("*:65535", "::", 65535, true);
}

Test(addr_parse, port_names_from_etc_services)
{
        if (access("/etc/services", R_OK) < 0)
                cr_skip_test("/etc/services is missing (install netbase): port names cannot resolve");
        expect_v4("127.0.0.1:http", "127.0.0.1", 80);
        expect_v6("[::1]:ssh", "::1", 22, false);
        expect_v6("*:http", "::", 80, true);
}

Test(addr_parse, rejects_ports_out_of_range)
{
        expect_reject("127.0.0.1:0");
        expect_reject("127.0.0.1:65536");
        expect_reject("127.0.0.1:70000");
        expect_reject("127.0.0.1:99999999999999999999");
        expect_reject("[::1]:0");
        expect_reject("[::1]:65536");
        expect_reject("*:0");
        expect_reject(":70000");
}

Test(addr_parse, rejects_bad_ports)
{
        expect_reject("127.0.0.1:abc");
        expect_reject("127.0.0.1:no-such-service-name");
        expect_reject("127.0.0.1:80x");
        expect_reject("127.0.0.1:-1");
        expect_reject("127.0.0.1: 80");
        expect_reject("[::1]:abc");
}

Test(addr_parse, rejects_missing_port)
{
        expect_reject("127.0.0.1");
        expect_reject("127.0.0.1:");
        expect_reject("[::1]:");
        expect_reject("*:");
        expect_reject(":");
        expect_reject("");
}

Test(addr_parse, rejects_ipv6_without_brackets)
{
        expect_reject("::1:80");
        expect_reject("2001:db8::1:80");
}

Test(addr_parse, rejects_malformed_brackets)
{
        expect_reject("[::1]80");
        expect_reject("[::1");
        expect_reject("[::1]");
        expect_reject("[]:80");
        expect_reject("[127.0.0.1]:80");
        expect_reject("[::1]]:80");
}

Test(addr_parse, rejects_hostnames_and_bad_ipv4)
{
        expect_reject("localhost:80");
        expect_reject("example.com:80");
        expect_reject("1.2.3:80");
        expect_reject("256.1.1.1:80");
        expect_reject("1.2.3.4.5:80");
        expect_reject("**:80");
}

Test(addr_parse, error_message_set_and_cleared)
{
        struct listen_addr a;
        const char *why = NULL;

        cr_assert_eq(addr_parse("127.0.0.1:0", &a, &why), -EINVAL);
        cr_assert_not_null(why);
        cr_assert(strstr(why, "port"), "message for a bad port does not say port: %s", why);

        why = NULL;
        cr_assert_eq(addr_parse("localhost:80", &a, &why), -EINVAL);
        cr_assert_not_null(why);

        why = "stale";
        cr_assert_eq(addr_parse("127.0.0.1:80", &a, &why), 0);
        cr_assert_null(why, "success must clear the message, got: %s", why);
}

/* ---- printers ---- */

static struct sockaddr_in v4(const char *ip, unsigned port)
{
        struct sockaddr_in s = {.sin_family = AF_INET, .sin_port = htons((in_port_t)port)};

        cr_assert_eq(inet_pton(AF_INET, ip, &s.sin_addr), 1);
        return s;
}

static struct sockaddr_in6 v6(const char *ip, unsigned port)
{
        struct sockaddr_in6 s = {.sin6_family = AF_INET6, .sin6_port = htons((in_port_t)port)};

        cr_assert_eq(inet_pton(AF_INET6, ip, &s.sin6_addr), 1);
        return s;
}

Test(addr_format, ipv4)
{
        struct sockaddr_in s = v4("192.0.2.7", 1205);
        char buf[ADDR_STRLEN];

        cr_assert_eq(addr_format((struct sockaddr *)&s, buf, sizeof(buf)), buf);
        cr_assert_str_eq(buf, "192.0.2.7:1205");
}

Test(addr_format, ipv6_in_brackets)
{
        struct sockaddr_in6 s = v6("2001:db8::1", 65535);
        char buf[ADDR_STRLEN];

        cr_assert_str_eq(addr_format((struct sockaddr *)&s, buf, sizeof(buf)), "[2001:db8::1]:65535");
        s = v6("::1", 80);
        cr_assert_str_eq(addr_format((struct sockaddr *)&s, buf, sizeof(buf)), "[::1]:80");
}

Test(addr_format, ipv4_mapped_shown_as_ipv4)
{
        struct sockaddr_in6 s = v6("::ffff:10.0.0.1", 8080);
        char buf[ADDR_STRLEN];

        cr_assert_str_eq(addr_format((struct sockaddr *)&s, buf, sizeof(buf)), "10.0.0.1:8080");
}

Test(addr_format, longest_ipv6_fits)
{
        struct sockaddr_in6 s = v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535);
        char buf[ADDR_STRLEN];

        cr_assert_str_eq(addr_format((struct sockaddr *)&s, buf, sizeof(buf)),
                         "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65535");
}

Test(addr_format, round_trips_parse)
{
        static const char *const forms[] = {"127.0.0.1:80", "[::1]:80", "[2001:db8::1]:65535", "0.0.0.0:1"};
        char buf[ADDR_STRLEN];

        for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
                struct listen_addr a = parse_ok(forms[i]);
                cr_assert_str_eq(addr_format((struct sockaddr *)&a.sa, buf, sizeof(buf)), forms[i]);
        }
}

Test(addr_ip_port, ipv4)
{
        struct sockaddr_in s = v4("127.0.0.1", 4242);
        char ip[64], port[8];

        cr_assert_eq(addr_ip_port((struct sockaddr *)&s, ip, sizeof(ip), port, sizeof(port)), 0);
        cr_assert_str_eq(ip, "127.0.0.1");
        cr_assert_str_eq(port, "4242");
}

Test(addr_ip_port, ipv6_without_brackets)
{
        struct sockaddr_in6 s = v6("2001:db8::42", 1);
        char ip[64], port[8];

        cr_assert_eq(addr_ip_port((struct sockaddr *)&s, ip, sizeof(ip), port, sizeof(port)), 0);
        cr_assert_str_eq(ip, "2001:db8::42");
        cr_assert_str_eq(port, "1");
}

Test(addr_ip_port, ipv4_mapped_as_ipv4)
{
        struct sockaddr_in6 s = v6("::ffff:192.0.2.1", 65535);
        char ip[64], port[8];

        cr_assert_eq(addr_ip_port((struct sockaddr *)&s, ip, sizeof(ip), port, sizeof(port)), 0);
        cr_assert_str_eq(ip, "192.0.2.1");
        cr_assert_str_eq(port, "65535");
}

Test(addr_ip_port, other_family_refused)
{
        struct sockaddr_un s = {.sun_family = AF_UNIX, .sun_path = "/x"};
        char ip[64] = "junk", port[8] = "junk";

        cr_assert_eq(addr_ip_port((struct sockaddr *)&s, ip, sizeof(ip), port, sizeof(port)), -EAFNOSUPPORT);
        cr_assert_str_empty(ip);
        cr_assert_str_empty(port);
}

static bool equal(const char *x, const char *y)
{
        struct listen_addr a = parse_ok(x), b = parse_ok(y);

        cr_assert_eq(addr_equal(&a, &b), addr_equal(&b, &a), "addr_equal not symmetric for %s, %s", x, y);
        return addr_equal(&a, &b);
}

Test(addr_equal, same_and_different)
{
        cr_assert(equal("127.0.0.1:80", "127.0.0.1:80"));
        cr_assert(equal("[::1]:80", "[0:0:0:0:0:0:0:1]:80"));
        cr_assert(equal("*:80", ":80"));
        cr_assert_not(equal("127.0.0.1:80", "127.0.0.1:81"));
        cr_assert_not(equal("127.0.0.1:80", "127.0.0.2:80"));
        cr_assert_not(equal("127.0.0.1:80", "[::ffff:127.0.0.1]:80"));
        cr_assert_not(equal("[::1]:80", "[::2]:80"));
        cr_assert_not(equal("127.0.0.1:80", "[::1]:80"));
}

/*
 * "*:80" opens a dual-stack socket (IPV6_V6ONLY off), "[::]:80" a plain IPv6
 * one: a reload must not keep one for the other, so they are not equal.
 */
Test(addr_equal, wildcard_differs_from_ipv6_any)
{
        cr_assert_not(equal("*:80", "[::]:80"));
}

Test(addr_equal, ignores_what_follows_len)
{
        struct listen_addr a = parse_ok("127.0.0.1:80"), b = parse_ok("127.0.0.1:80");

        /* Bytes past `len` are not part of the address. */
        memset((char *)&b.sa + b.len, 0xa5, sizeof(b.sa) - b.len);
        cr_assert(addr_equal(&a, &b));
}

/* ---- unix: addresses ---- */

Test(addr, unix_path)
{
        struct listen_addr a = parse_ok("unix:/run/superd/x.sock");
        const struct sockaddr_un *un = (const struct sockaddr_un *)&a.sa;
        char buf[ADDR_STRLEN];

        cr_assert_eq(un->sun_family, AF_UNIX);
        cr_assert_str_eq(un->sun_path, "/run/superd/x.sock");
        cr_assert_eq(a.len, offsetof(struct sockaddr_un, sun_path) + strlen("/run/superd/x.sock") + 1);
        cr_assert_str_eq(addr_format((const struct sockaddr *)&a.sa, buf, sizeof(buf)), "unix:/run/superd/x.sock");
}

Test(addr, unix_abstract)
{
        struct listen_addr a = parse_ok("unix:@superd/test");
        const struct sockaddr_un *un = (const struct sockaddr_un *)&a.sa;
        char buf[ADDR_STRLEN];

        cr_assert_eq(un->sun_family, AF_UNIX);
        cr_assert_eq(un->sun_path[0], 0, "abstract names start with a NUL byte");
        cr_assert(memcmp(un->sun_path + 1, "superd/test", 11) == 0);
        /* No terminating NUL: the name is exactly the bytes given. */
        cr_assert_eq(a.len, offsetof(struct sockaddr_un, sun_path) + 1 + 11);
        cr_assert_str_eq(addr_format((const struct sockaddr *)&a.sa, buf, sizeof(buf)), "unix:@superd/test");
}

Test(addr, unix_longest_path_and_name)
{
        char text[200];

        /* 107 bytes of path plus its NUL fill sun_path exactly; 107 bytes of name follow the NUL. */
        snprintf(text, sizeof(text), "unix:/%0106d", 0);
        parse_ok(text);
        snprintf(text, sizeof(text), "unix:/%0107d", 0);
        expect_reject(text);
        snprintf(text, sizeof(text), "unix:@%0107d", 0);
        parse_ok(text);
        snprintf(text, sizeof(text), "unix:@%0108d", 0);
        expect_reject(text);
}

Test(addr, unix_rejects)
{
        expect_reject("unix:");
        expect_reject("unix:@");
        expect_reject("unix:relative/path");
}

Test(addr, unix_equal_compares_path)
{
        struct listen_addr a = parse_ok("unix:/a.sock"), b = parse_ok("unix:/a.sock"), c = parse_ok("unix:/b.sock"),
                           d = parse_ok("unix:@a.sock");

        cr_assert(addr_equal(&a, &b));
        cr_assert_not(addr_equal(&a, &c));
        cr_assert_not(addr_equal(&a, &d));
}
