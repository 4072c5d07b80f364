/* SPDX-License-Identifier: MIT */
/* Unit tests of addr.c: every accepted listen form, every rejected one, and the printers. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
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
        const struct sockaddr_in *s4 = &a.in;
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
        const struct sockaddr_in6 *s6 = &a.in6;
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
                union listen_sockaddr sa;
                cr_assert_str_eq(addr_format(addr_sockaddr(&a, &sa), buf, sizeof(buf)), forms[i]);
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

/* The hand-written IPv4 and port digits agree with inet_ntop(3) and printf on every byte and port edge. */
Test(addr_ip_port, ipv4_digits_agree_with_inet_ntop)
{
        static const uint8_t bytes[] = {0, 1, 9, 10, 99, 100, 199, 200, 249, 255};
        static const unsigned ports[] = {0, 1, 9, 10, 99, 100, 999, 1000, 9999, 10000, 65535};
        const size_t nb = sizeof(bytes), np = sizeof(ports) / sizeof(ports[0]);

        for (size_t i = 0; i < nb * nb; i++) {
                struct sockaddr_in s = {.sin_family = AF_INET, .sin_port = htons((in_port_t)ports[i % np])};
                uint8_t *b = (uint8_t *)&s.sin_addr;
                char ip[INET6_ADDRSTRLEN], port[8], want_ip[INET_ADDRSTRLEN], want_port[8];

                b[0] = bytes[i % nb];
                b[1] = bytes[i / nb];
                b[2] = bytes[(i + 3) % nb];
                b[3] = bytes[(i * 7) % nb];
                cr_assert_not_null(inet_ntop(AF_INET, &s.sin_addr, want_ip, sizeof(want_ip)));
                snprintf(want_port, sizeof(want_port), "%u", ports[i % np]);
                cr_assert_eq(addr_ip_port((struct sockaddr *)&s, ip, sizeof(ip), port, sizeof(port)), 0);
                cr_assert_str_eq(ip, want_ip);
                cr_assert_str_eq(port, want_port);
        }
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
        memset((char *)&b.in6 + b.len, 0xa5, sizeof(b.in6) - b.len);
        cr_assert(addr_equal(&a, &b));
}

/* ---- unix: addresses ---- */

Test(addr, unix_path)
{
        const char *text = "unix:/run/superd/x.sock";
        struct listen_addr a = parse_ok(text);
        union listen_sockaddr sa;
        const struct sockaddr *built = addr_sockaddr(&a, &sa);
        char buf[ADDR_STRLEN];

        cr_assert_eq(a.family, AF_UNIX);
        cr_assert_eq(a.un.path, text + 5, "the path is the text's own, not a copy");
        cr_assert_eq(sa.un.sun_family, AF_UNIX);
        cr_assert_str_eq(sa.un.sun_path, "/run/superd/x.sock");
        cr_assert_eq(a.len, offsetof(struct sockaddr_un, sun_path) + strlen("/run/superd/x.sock") + 1);
        cr_assert_str_eq(addr_format(built, buf, sizeof(buf)), "unix:/run/superd/x.sock");
}

Test(addr, unix_abstract)
{
        const char *text = "unix:@superd/test";
        struct listen_addr a = parse_ok(text);
        union listen_sockaddr sa;
        const struct sockaddr *built;
        char buf[ADDR_STRLEN];

        memset(&sa, 0xa5, sizeof(sa));
        built = addr_sockaddr(&a, &sa);
        cr_assert_eq(a.family, AF_UNIX);
        cr_assert_eq(a.un.path, text + 5);
        cr_assert_eq(sa.un.sun_family, AF_UNIX);
        cr_assert_eq(sa.un.sun_path[0], 0, "abstract names start with a NUL byte");
        cr_assert(memcmp(sa.un.sun_path + 1, "superd/test", 11) == 0);
        cr_assert_eq(sa.un.sun_path[12], 0, "zeroed after the name, which ends as a string");
        /* No terminating NUL: the name is exactly the bytes given. */
        cr_assert_eq(a.len, offsetof(struct sockaddr_un, sun_path) + 1 + 11);
        cr_assert_str_eq(addr_format(built, buf, sizeof(buf)), "unix:@superd/test");
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

/* One is kept per listen entry: an IPv6 socket address, len and dual_stack, or a family and a path pointer. */
Test(addr, listen_addr_is_small)
{
        cr_assert_leq(sizeof(struct listen_addr), 40);
        cr_assert_geq(sizeof(union listen_sockaddr), sizeof(struct sockaddr_un), "room for any address built");
}

Test(addr, unix_equal_compares_text_not_pointer)
{
        char x[] = "unix:/a.sock", y[] = "unix:/a.sock", n1[] = "unix:@a", n2[] = "unix:@a";
        struct listen_addr a = parse_ok(x), b = parse_ok(y), c = parse_ok(n1), d = parse_ok(n2);

        cr_assert_neq(a.un.path, b.un.path);
        cr_assert(addr_equal(&a, &b));
        cr_assert_eq(addr_compare(&a, &b), 0);
        cr_assert(addr_equal(&c, &d));
        cr_assert_not(addr_equal(&a, &c));
        y[7] = 'b'; /* the address reads its text: it follows it */
        cr_assert_not(addr_equal(&a, &b));
}

/* The order of addresses: by length, dual-stack, then the bytes of the socket addresses, as ever. */
Test(addr, compare_orders_by_length_then_bytes)
{
        /* Same length: "unix:/ab" (2 + 3 + 1) and "unix:@abc" (2 + 4); the abstract name's NUL comes first. */
        struct listen_addr file = parse_ok("unix:/ab"), name = parse_ok("unix:@abc"), v4 = parse_ok("127.0.0.1:80"),
                           v6 = parse_ok("[::1]:80"), any = parse_ok("*:80"), v6_any = parse_ok("[::]:80");

        cr_assert_eq(file.len, name.len);
        cr_assert_lt(addr_compare(&name, &file), 0);
        cr_assert_gt(addr_compare(&file, &name), 0);
        cr_assert_lt(addr_compare(&v4, &v6), 0, "16 bytes before 28");
        cr_assert_lt(addr_compare(&v6_any, &any), 0, "plain before dual-stack");
        cr_assert_lt(addr_compare(&v6_any, &v6), 0, ":: before ::1");
        cr_assert_lt(addr_compare(&file, &v4), 0, "8 bytes before 16");
}

/* Every form addr_parse() yields comes back from its socket address, a unix path as the text it was. */
Test(addr, from_sockaddr_round_trips)
{
        char longest_path[120], longest_name[120];
        const char *forms[] = {"127.0.0.1:80",     "[::1]:80",       "*:80",       "[::]:80",
                               "unix:/run/x.sock", "unix:@superd/x", longest_path, longest_name};

        snprintf(longest_path, sizeof(longest_path), "unix:/%0106d", 0);
        snprintf(longest_name, sizeof(longest_name), "unix:@%0107d", 0);
        for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
                struct listen_addr a = parse_ok(forms[i]), b;
                union listen_sockaddr sa;
                char *path = (char *)"junk";

                cr_assert_eq(addr_from_sockaddr(addr_sockaddr(&a, &sa), a.len, a.dual_stack, &b, &path), 0, "%s",
                             forms[i]);
                cr_assert(addr_equal(&a, &b), "%s", forms[i]);
                cr_assert_eq(b.len, a.len);
                cr_assert_eq(b.dual_stack, a.dual_stack);
                if (a.family == AF_UNIX) {
                        cr_assert_str_eq(path, forms[i] + strlen("unix:"));
                        cr_assert_eq(b.un.path, path);
                } else {
                        cr_assert_null(path);
                }
                free(path);
        }
}

/* LEN bytes of HEX (pairs of digits) as a socket address, given to addr_from_sockaddr(): expect -EINVAL. */
static void from_refused(const char *hex, bool dual_stack)
{
        union listen_sockaddr sa;
        struct listen_addr a;
        size_t len = strlen(hex) / 2;
        char *path = (char *)"junk";

        memset(&sa, 0, sizeof(sa));
        for (size_t i = 0; i < len; i++)
                cr_assert_eq(sscanf(hex + 2 * i, "%2hhx", (unsigned char *)&sa + i), 1);
        cr_assert_eq(addr_from_sockaddr(&sa.sa, (socklen_t)len, dual_stack, &a, &path), -EINVAL, "%s taken", hex);
        cr_assert_null(path);
}

Test(addr, from_sockaddr_takes_only_what_parse_yields)
{
        union listen_sockaddr sa = {.un = {.sun_family = AF_UNIX}};
        struct listen_addr a;
        char *path;

        from_refused("", false);
        from_refused("01", false);                               /* a family cut short */
        from_refused("2a000000", false);                         /* unknown family */
        from_refused("0200005000000000", false);                 /* AF_INET, 8 bytes */
        from_refused("02000050000000000000000000000000", true);  /* a dual-stack IPv4 */
        from_refused("0100", false);                             /* unnamed */
        from_refused("010000", false);                           /* an empty abstract name */
        from_refused("01002f7800", true);                        /* "/x" dual-stack */
        from_refused("01002f78", false);                         /* "/x" without its NUL */
        from_refused("01002f7800790000", false);                 /* "/x" with a NUL inside */
        from_refused("0100782f7900", false);                     /* "x/y": relative */
        from_refused("010000780079", false);                     /* an abstract name holding a NUL */
        from_refused("0a000050000000000000000000000000", false); /* AF_INET6, 16 bytes */
        memset(sa.un.sun_path, 'x', sizeof(sa.un.sun_path));
        sa.un.sun_path[0] = '\0';
        cr_assert_eq(addr_from_sockaddr(&sa.sa, sizeof(struct sockaddr_un), false, &a, &path), 0, "107 bytes of name");
        free(path);
        cr_assert_eq(addr_from_sockaddr(&sa.sa, sizeof(struct sockaddr_un) + 1, false, &a, &path), -EINVAL,
                     "longer than a sockaddr_un");
}
