/* SPDX-License-Identifier: MIT */
/* Unit tests of admission.c: allow/deny, max-rate and max-per-source, in that order, with the time passed in. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include <criterion/criterion.h>

#include "admission.h"

#define SEC 1000000ULL
#define T0 (1000 * SEC)

static struct sockaddr_in peer(const char *ip, unsigned short port)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

        cr_assert_eq(inet_pton(AF_INET, ip, &a.sin_addr), 1);
        return a;
}

static struct cidr cidr(const char *text)
{
        struct cidr c;
        const char *why = NULL;

        cr_assert_eq(cidr_parse(text, &c, &why), 0, "%s: %s", text, why ? why : "?");
        return c;
}

struct fixture {
        struct service conf;
        struct rate_limit rate;
        struct source_table sources;
        struct source_key key;
        bool counted;
};

static void fixture_init(struct fixture *f)
{
        *f = (struct fixture){ .conf = { .per_source_prefix6 = 128 } }; /* a zeroed source table is an empty one */
}

static enum admission check(struct fixture *f, const char *ip, uint64_t now)
{
        struct sockaddr_in a = peer(ip, 4242);

        return admission_check(&f->conf, &f->rate, &f->sources, (struct sockaddr *)&a, now, &f->key, &f->counted);
}

Test(admission, no_limits_admits_everyone_uncounted)
{
        struct fixture f;

        fixture_init(&f);
        for (int i = 0; i < 1000; i++)
                cr_assert_eq(check(&f, "192.0.2.1", T0 + (uint64_t)i), ADMIT);
        cr_assert_not(f.counted, "no max-per-source: nothing to release later");
        cr_assert_null(f.sources.s, "no max-per-source: no table allocated");
        source_table_free(&f.sources);
}

Test(admission, deny_wins_over_allow)
{
        struct cidr allow[] = { cidr("10.0.0.0/8") }, deny[] = { cidr("10.1.0.0/16") };
        struct fixture f;

        fixture_init(&f);
        f.conf.allow = allow;
        f.conf.n_allow = 1;
        f.conf.deny = deny;
        f.conf.n_deny = 1;
        cr_assert_eq(check(&f, "10.2.3.4", T0), ADMIT);
        cr_assert_eq(check(&f, "10.1.3.4", T0), REFUSE_ACL);
        cr_assert_eq(check(&f, "192.0.2.1", T0), REFUSE_ACL, "not in allow");
        source_table_free(&f.sources);
}

Test(admission, refused_by_acl_is_not_counted_against_max_rate)
{
        struct cidr deny[] = { cidr("192.0.2.0/24") };
        struct fixture f;

        fixture_init(&f);
        f.conf.deny = deny;
        f.conf.n_deny = 1;
        f.conf.max_rate = 2;
        for (int i = 0; i < 10; i++)
                cr_assert_eq(check(&f, "192.0.2.9", T0), REFUSE_ACL);
        cr_assert_eq(check(&f, "198.51.100.1", T0), ADMIT, "denied clients used none of the rate");
        cr_assert_eq(check(&f, "198.51.100.1", T0), ADMIT);
        cr_assert_eq(check(&f, "198.51.100.1", T0), REFUSE_RATE);
        cr_assert_eq(check(&f, "198.51.100.1", T0 + SEC), ADMIT, "a new second, a new window");
        source_table_free(&f.sources);
}

Test(admission, per_source_counts_until_released)
{
        struct fixture f;
        struct source_key held[2];

        fixture_init(&f);
        f.conf.max_per_source = 2;
        for (int i = 0; i < 2; i++) {
                cr_assert_eq(check(&f, "192.0.2.1", T0), ADMIT);
                cr_assert(f.counted, "the caller must release it when the handler ends");
                held[i] = f.key;
        }
        cr_assert_eq(check(&f, "192.0.2.1", T0), REFUSE_PER_SOURCE);
        cr_assert_eq(check(&f, "192.0.2.2", T0), ADMIT, "another address has its own count");
        source_release(&f.sources, &held[0]);
        cr_assert_eq(check(&f, "192.0.2.1", T0), ADMIT, "a handler ended: room again");
        source_table_free(&f.sources);
}

Test(admission, rate_is_checked_before_per_source)
{
        struct fixture f;

        fixture_init(&f);
        f.conf.max_rate = 1;
        f.conf.max_per_source = 1;
        cr_assert_eq(check(&f, "192.0.2.1", T0), ADMIT);
        cr_assert_eq(check(&f, "192.0.2.2", T0), REFUSE_RATE, "over max-rate: nothing acquired");
        cr_assert_not(f.counted);
        cr_assert_eq(check(&f, "192.0.2.2", T0 + SEC), ADMIT);
        source_table_free(&f.sources);
}

Test(admission, unix_peers_are_admitted_without_counting)
{
        struct cidr deny[] = { cidr("0.0.0.0/0") };
        struct fixture f;

        fixture_init(&f);
        f.conf.deny = deny;
        f.conf.n_deny = 1;
        f.conf.max_rate = 1;
        for (int i = 0; i < 5; i++)
                cr_assert_eq(admission_check(&f.conf, &f.rate, &f.sources, NULL, T0, &f.key, &f.counted), ADMIT);
        cr_assert_not(f.counted);
        source_table_free(&f.sources);
}
