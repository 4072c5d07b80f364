/* SPDX-License-Identifier: MIT */
/* Unit tests of acl.c: every CIDR form and error, matching at the prefix edges, deny-wins, and the printer. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include <criterion/criterion.h>

#include "acl.h"

static struct cidr parse_ok(const char *text)
{
        struct cidr c;
        const char *why = "not touched";
        int r = cidr_parse(text, &c, &why);

        cr_assert_eq(r, 0, "cidr_parse(\"%s\") = %d (%s), expected success", text, r, why ? why : "no message");
        cr_assert_null(why, "success must clear the message, got: %s", why);
        return c;
}

/* text parses to the IPv6 address ip with prefix bits (IPv4 forms: give ip as ::ffff:A.B.C.D and bits + 96). */
static void expect_parse(const char *text, const char *ip, unsigned bits)
{
        struct cidr c = parse_ok(text);
        struct in6_addr want;
        char got[INET6_ADDRSTRLEN];

        cr_assert_eq(inet_pton(AF_INET6, ip, &want), 1, "bad test address %s", ip);
        inet_ntop(AF_INET6, &c.addr, got, sizeof(got));
        cr_assert(memcmp(&c.addr, &want, sizeof(want)) == 0, "%s: address %s, expected %s", text, got, ip);
        cr_assert_eq(c.prefix, bits, "%s: prefix %u, expected %u", text, c.prefix, bits);
}

static void expect_reject(const char *text, const char *message_part)
{
        struct cidr c;
        const char *why = NULL;
        int r = cidr_parse(text, &c, &why);

        cr_assert_eq(r, -EINVAL, "cidr_parse(\"%s\") = %d, expected -EINVAL", text, r);
        cr_assert(why && *why, "cidr_parse(\"%s\") failed without a message", text);
        if (message_part)
                cr_assert(strstr(why, message_part), "cidr_parse(\"%s\"): message \"%s\" lacks \"%s\"", text, why,
                          message_part);
}

static struct sockaddr_in v4(const char *ip)
{
        struct sockaddr_in s = {.sin_family = AF_INET, .sin_port = htons(4242)};

        cr_assert_eq(inet_pton(AF_INET, ip, &s.sin_addr), 1, "bad test address %s", ip);
        return s;
}

static struct sockaddr_in6 v6(const char *ip)
{
        struct sockaddr_in6 s = {.sin6_family = AF_INET6, .sin6_port = htons(4242)};

        cr_assert_eq(inet_pton(AF_INET6, ip, &s.sin6_addr), 1, "bad test address %s", ip);
        return s;
}

/* Does the prefix text match the peer ip (IPv4 if it has no ':', else IPv6)? */
static bool matches(const char *text, const char *ip)
{
        struct cidr c = parse_ok(text);

        if (strchr(ip, ':')) {
                struct sockaddr_in6 s = v6(ip);
                return cidr_match(&c, (struct sockaddr *)&s);
        }
        struct sockaddr_in s = v4(ip);
        return cidr_match(&c, (struct sockaddr *)&s);
}

/* ---- parsing ---- */

Test(cidr_parse, ipv4_with_prefix)
{
        expect_parse("10.0.0.0/8", "::ffff:10.0.0.0", 104);
        expect_parse("192.168.1.0/24", "::ffff:192.168.1.0", 120);
        expect_parse("192.168.1.7/32", "::ffff:192.168.1.7", 128);
        expect_parse("172.16.0.0/12", "::ffff:172.16.0.0", 108);
        expect_parse("10.0.0.0/08", "::ffff:10.0.0.0", 104);
}

Test(cidr_parse, ipv4_host_is_slash_32)
{
        expect_parse("192.168.1.7", "::ffff:192.168.1.7", 128);
        expect_parse("127.0.0.1", "::ffff:127.0.0.1", 128);
}

Test(cidr_parse, ipv4_zero_prefix)
{
        expect_parse("0.0.0.0/0", "::ffff:0.0.0.0", 96);
        /* Host bits go, the ::ffff: marker stays: still "all of IPv4", not "everything". */
        expect_parse("203.0.113.9/0", "::ffff:0.0.0.0", 96);
}

Test(cidr_parse, ipv6)
{
        expect_parse("::1", "::1", 128);
        expect_parse("2001:db8::/32", "2001:db8::", 32);
        expect_parse("fe80::/10", "fe80::", 10);
        expect_parse("2001:db8::1/128", "2001:db8::1", 128);
        expect_parse("::/0", "::", 0);
        expect_parse("::ffff:10.0.0.0/104", "::ffff:10.0.0.0", 104);
}

Test(cidr_parse, ipv6_in_brackets)
{
        expect_parse("[2001:db8::]/32", "2001:db8::", 32);
        expect_parse("[::1]", "::1", 128);
        expect_parse("[::]/0", "::", 0);
}

Test(cidr_parse, host_bits_cleared)
{
        expect_parse("10.1.2.3/8", "::ffff:10.0.0.0", 104);
        expect_parse("192.168.1.255/25", "::ffff:192.168.1.128", 121);
        expect_parse("192.168.1.255/31", "::ffff:192.168.1.254", 127);
        expect_parse("2001:db8:abcd:1234::1/48", "2001:db8:abcd::", 48);
        expect_parse("2001:db8::ffff/127", "2001:db8::fffe", 127);
        expect_parse("2001:db8::ffff/121", "2001:db8::ff80", 121);
        expect_parse("ffff:ffff::/1", "8000::", 1);
        expect_parse("ffff::/0", "::", 0);
}

Test(cidr_parse, prefix_out_of_range)
{
        expect_reject("10.0.0.0/33", "0..32 for IPv4");
        expect_reject("10.0.0.0/99999999999999999999", "0..32 for IPv4");
        expect_reject("::/129", "0..128 for IPv6");
        expect_reject("[::]/200", "0..128 for IPv6");
        expect_reject("::/99999999999999999999", "0..128 for IPv6");
}

Test(cidr_parse, prefix_strict_number)
{
        expect_reject("10.0.0.0/", "missing prefix");
        expect_reject("::/", "missing prefix");
        expect_reject("10.0.0.0/8x", "not a decimal");
        expect_reject("10.0.0.0/-8", "not a decimal");
        expect_reject("10.0.0.0/+8", "not a decimal");
        expect_reject("10.0.0.0/ 8", "not a decimal");
        expect_reject("10.0.0.0/8 ", "not a decimal");
        expect_reject("10.0.0.0/0x8", "not a decimal");
        expect_reject("10.0.0.0/8/8", "not a decimal");
        expect_reject("2001:db8::/32x", "not a decimal");
}

Test(cidr_parse, not_an_address)
{
        expect_reject("", "missing address");
        expect_reject("/8", "missing address");
        expect_reject("/", "missing address");
        expect_reject("[]/8", "missing address");
        expect_reject("localhost", "not an IP address");
        expect_reject("example.com/24", "not an IP address");
        expect_reject("10.0.0", "not an IP address");
        expect_reject("10.0.0.0.0/8", "not an IP address");
        expect_reject("256.0.0.0/8", "not an IP address");
        expect_reject(" 10.0.0.0/8", "not an IP address");
        expect_reject("10.0.0.0 /8", "not an IP address");
        expect_reject("2001:db8::g/32", "not an IP address");
        expect_reject("fe80::1%eth0", "not an IP address");
        expect_reject("1:2:3:4:5:6:7:8:9", "not an IP address");
        expect_reject("*", "not an IP address");
        expect_reject("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "not an IP address");
}

Test(cidr_parse, malformed_brackets)
{
        expect_reject("[::1", NULL);
        expect_reject("[::1]x", NULL);
        expect_reject("[::1]]/8", NULL);
        expect_reject("[::1]:80", NULL);
        expect_reject("::1]", "not an IP address");
        expect_reject("[10.0.0.0]/8", "brackets are for IPv6");
}

/* ---- matching ---- */

Test(cidr_match, ipv4_prefixes)
{
        cr_assert(matches("10.0.0.0/8", "10.0.0.0"));
        cr_assert(matches("10.0.0.0/8", "10.255.255.255"));
        cr_assert_not(matches("10.0.0.0/8", "11.0.0.0"));
        cr_assert_not(matches("10.0.0.0/8", "9.255.255.255"));
        cr_assert(matches("192.168.1.7", "192.168.1.7"));
        cr_assert_not(matches("192.168.1.7", "192.168.1.6"));
        cr_assert_not(matches("192.168.1.7", "192.168.1.8"));
        cr_assert(matches("192.168.1.6/31", "192.168.1.7"));
        cr_assert_not(matches("192.168.1.6/31", "192.168.1.8"));
        cr_assert(matches("128.0.0.0/1", "255.1.2.3"));
        cr_assert_not(matches("128.0.0.0/1", "127.255.255.255"));
}

Test(cidr_match, ipv4_all)
{
        cr_assert(matches("0.0.0.0/0", "0.0.0.0"));
        cr_assert(matches("0.0.0.0/0", "255.255.255.255"));
        cr_assert(matches("0.0.0.0/0", "::ffff:1.2.3.4"), "0.0.0.0/0 must cover IPv4 seen on a dual-stack listener");
        cr_assert_not(matches("0.0.0.0/0", "::1"), "0.0.0.0/0 is IPv4 only");
        cr_assert_not(matches("0.0.0.0/0", "2001:db8::1"), "0.0.0.0/0 is IPv4 only");
        cr_assert_not(matches("0.0.0.0/0", "::"), "0.0.0.0/0 is IPv4 only");
}

Test(cidr_match, ipv6_all_includes_ipv4)
{
        cr_assert(matches("::/0", "::1"));
        cr_assert(matches("::/0", "2001:db8::1"));
        cr_assert(matches("::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
        cr_assert(matches("::/0", "10.1.2.3"), "::/0 matches IPv4 through the mapped form");
        cr_assert(matches("::/0", "::ffff:10.1.2.3"));
}

Test(cidr_match, ipv6_prefixes)
{
        cr_assert(matches("2001:db8::/32", "2001:db8::"));
        cr_assert(matches("2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
        cr_assert_not(matches("2001:db8::/32", "2001:db9::"));
        cr_assert_not(matches("2001:db8::/32", "2001:db7:ffff::"));
        cr_assert(matches("::1", "::1"));
        cr_assert_not(matches("::1", "::2"));
        cr_assert_not(matches("::1", "::"));
        cr_assert_not(matches("::1", "127.0.0.1"));
        cr_assert(matches("2001:db8::/127", "2001:db8::1"));
        cr_assert(matches("2001:db8::/127", "2001:db8::"));
        cr_assert_not(matches("2001:db8::/127", "2001:db8::2"));
        cr_assert(matches("2001:db8::1/128", "2001:db8::1"));
        cr_assert_not(matches("2001:db8::1/128", "2001:db8::3"));
        cr_assert(matches("8000::/1", "ffff::"));
        cr_assert_not(matches("8000::/1", "7fff:ffff::"));
        /* A prefix ending inside a byte. */
        cr_assert(matches("2001:db8::/29", "2001:dbf:ffff::"));
        cr_assert_not(matches("2001:db8::/29", "2001:dc0::"));
}

Test(cidr_match, mapped_peer_matches_ipv4_prefix)
{
        cr_assert(matches("10.0.0.0/8", "::ffff:10.9.8.7"));
        cr_assert_not(matches("10.0.0.0/8", "::ffff:11.9.8.7"));
        cr_assert(matches("192.168.1.7", "::ffff:192.168.1.7"));
        cr_assert_not(matches("10.0.0.0/8", "::10.9.8.7"), "only ::ffff: is IPv4-mapped");
        cr_assert_not(matches("10.0.0.0/8", "64:ff9b::10.9.8.7"), "NAT64 addresses are IPv6");
        /* And the other way round: a mapped prefix written as IPv6 matches plain IPv4 peers. */
        cr_assert(matches("::ffff:10.0.0.0/104", "10.1.1.1"));
}

Test(cidr_match, other_families_never_match)
{
        struct sockaddr_un un = {.sun_family = AF_UNIX, .sun_path = "/run/x"};
        struct cidr all6 = parse_ok("::/0"), all4 = parse_ok("0.0.0.0/0");

        cr_assert_not(cidr_match(&all6, (struct sockaddr *)&un));
        cr_assert_not(cidr_match(&all4, (struct sockaddr *)&un));
}

/* ---- acl_permits ---- */

static bool permits(const char *const *allow, size_t n_allow, const char *const *deny, size_t n_deny, const char *ip)
{
        struct cidr a[8], d[8];

        cr_assert_leq(n_allow, 8);
        cr_assert_leq(n_deny, 8);
        for (size_t i = 0; i < n_allow; i++)
                a[i] = parse_ok(allow[i]);
        for (size_t i = 0; i < n_deny; i++)
                d[i] = parse_ok(deny[i]);
        if (strchr(ip, ':')) {
                struct sockaddr_in6 s = v6(ip);
                return acl_permits(a, n_allow, d, n_deny, (struct sockaddr *)&s);
        }
        struct sockaddr_in s = v4(ip);
        return acl_permits(a, n_allow, d, n_deny, (struct sockaddr *)&s);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

Test(acl_permits, empty_lists_allow_all)
{
        cr_assert(permits(NULL, 0, NULL, 0, "1.2.3.4"));
        cr_assert(permits(NULL, 0, NULL, 0, "2001:db8::1"));
        cr_assert(permits(NULL, 0, NULL, 0, "::ffff:1.2.3.4"));
}

Test(acl_permits, allow_list_restricts)
{
        static const char *const allow[] = {"10.0.0.0/8", "2001:db8::/32"};

        cr_assert(permits(allow, N(allow), NULL, 0, "10.1.2.3"));
        cr_assert(permits(allow, N(allow), NULL, 0, "::ffff:10.1.2.3"));
        cr_assert(permits(allow, N(allow), NULL, 0, "2001:db8::7"));
        cr_assert_not(permits(allow, N(allow), NULL, 0, "11.1.2.3"));
        cr_assert_not(permits(allow, N(allow), NULL, 0, "2001:db9::7"));
        cr_assert_not(permits(allow, N(allow), NULL, 0, "::1"));
}

Test(acl_permits, deny_only)
{
        static const char *const deny[] = {"192.0.2.0/24"};

        cr_assert_not(permits(NULL, 0, deny, N(deny), "192.0.2.1"));
        cr_assert_not(permits(NULL, 0, deny, N(deny), "::ffff:192.0.2.1"));
        cr_assert(permits(NULL, 0, deny, N(deny), "192.0.3.1"));
        cr_assert(permits(NULL, 0, deny, N(deny), "2001:db8::1"));
}

Test(acl_permits, deny_wins_over_more_specific_allow)
{
        static const char *const allow[] = {"10.1.2.3", "2001:db8::1"};
        static const char *const deny[] = {"10.0.0.0/8", "2001:db8::/32"};

        cr_assert_not(permits(allow, N(allow), deny, N(deny), "10.1.2.3"));
        cr_assert_not(permits(allow, N(allow), deny, N(deny), "2001:db8::1"));
}

Test(acl_permits, deny_all_refuses_both_families)
{
        static const char *const allow[] = {"10.0.0.0/8", "::1"};
        static const char *const deny[] = {"::/0"};

        cr_assert_not(permits(allow, N(allow), deny, N(deny), "10.1.2.3"));
        cr_assert_not(permits(allow, N(allow), deny, N(deny), "::1"));
        cr_assert_not(permits(NULL, 0, deny, N(deny), "203.0.113.1"));
}

Test(acl_permits, allow_with_holes)
{
        static const char *const allow[] = {"10.0.0.0/8"};
        static const char *const deny[] = {"10.66.0.0/16", "10.1.2.3"};

        cr_assert(permits(allow, N(allow), deny, N(deny), "10.1.2.4"));
        cr_assert_not(permits(allow, N(allow), deny, N(deny), "10.1.2.3"));
        cr_assert_not(permits(allow, N(allow), deny, N(deny), "10.66.200.1"));
        cr_assert(permits(allow, N(allow), deny, N(deny), "10.67.0.1"));
        cr_assert_not(permits(allow, N(allow), deny, N(deny), "11.0.0.1"));
}

Test(acl_permits, unix_peer_passes_only_without_allow_list)
{
        struct sockaddr_un un = {.sun_family = AF_UNIX, .sun_path = "/run/x"};
        struct cidr all = parse_ok("::/0");

        cr_assert(acl_permits(NULL, 0, NULL, 0, (struct sockaddr *)&un));
        cr_assert(acl_permits(NULL, 0, &all, 1, (struct sockaddr *)&un), "deny never matches AF_UNIX");
        cr_assert_not(acl_permits(&all, 1, NULL, 0, (struct sockaddr *)&un), "allow never matches AF_UNIX");
}

/* ---- printer ---- */

static void expect_format(const char *text, const char *want)
{
        struct cidr c = parse_ok(text);
        char buf[CIDR_STRLEN];

        cr_assert_eq(cidr_format(&c, buf, sizeof(buf)), buf);
        cr_assert_str_eq(buf, want, "cidr_format(parse(\"%s\")) = \"%s\", expected \"%s\"", text, buf, want);
}

Test(cidr_format, canonical_forms)
{
        expect_format("10.0.0.0/8", "10.0.0.0/8");
        expect_format("10.1.2.3/8", "10.0.0.0/8");
        expect_format("192.168.1.7", "192.168.1.7/32");
        expect_format("0.0.0.0/0", "0.0.0.0/0");
        expect_format("2001:db8::/32", "2001:db8::/32");
        expect_format("[2001:0db8:0000::]/32", "2001:db8::/32");
        expect_format("::1", "::1/128");
        expect_format("::/0", "::/0");
        expect_format("::ffff:10.0.0.0/104", "10.0.0.0/8");
        expect_format("::ffff:0:0/96", "0.0.0.0/0");
        expect_format("::ffff:0:0/95", "::fffe:0:0/95");
}

Test(cidr_format, longest_fits)
{
        expect_format("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/128", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/128");
        expect_format("255.255.255.255/32", "255.255.255.255/32");
}

Test(cidr_format, round_trips_parse)
{
        static const char *const forms[] = {"10.0.0.0/8",  "192.0.2.1/32", "0.0.0.0/0", "2001:db8::/32",
                                            "::/0",        "::1/128",      "fe80::/10", "2001:db8::fffe/127",
                                            "128.0.0.0/1", "8000::/1"};
        char buf[CIDR_STRLEN];

        for (size_t i = 0; i < N(forms); i++) {
                struct cidr a = parse_ok(forms[i]), b = parse_ok(cidr_format(&a, buf, sizeof(buf)));
                cr_assert_str_eq(buf, forms[i]);
                cr_assert(memcmp(&a.addr, &b.addr, sizeof(a.addr)) == 0, "%s does not round-trip", forms[i]);
                cr_assert_eq(a.prefix, b.prefix, "%s does not round-trip", forms[i]);
        }
}

Test(cidr_format, truncates_to_size)
{
        struct cidr c = parse_ok("2001:db8::/32");
        char buf[6] = "xxxxx";

        cidr_format(&c, buf, sizeof(buf));
        cr_assert_str_eq(buf, "2001:");
}
