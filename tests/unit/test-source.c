/* SPDX-License-Identifier: MIT */
/* Unit tests of source.c: key normalisation, per-source limits, and the keyed hash table under load and collisions. */

/*
 * The hash key is static to source.c and one per process; libsuperd carries
 * no test-only hooks. So, as test-spawn.c does with spawn.c, this file
 * includes source.c and gets its own copy, with the key and struct
 * source_slots, to fix the key and look inside the table. It is built with
 * superd's headers but without libsuperd (tests/unit/meson.build): source.c
 * calls nothing else of superd's. Criterion runs each test in a process of
 * its own, so each one starts with no key drawn.
 */
#include "../../superd/source.c"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <criterion/criterion.h>

/* A fixed hash key, so a failure replays the same layout. */
static const uint64_t fixed_key[2] = {0x0123456789abcdefull, 0xfedcba9876543210ull};

/* An empty table; the process's key is fixed_key (call it before any table holds an entry). */
static void init_fixed(struct source_table *t)
{
        *t = (struct source_table){0};
        hash_key[0] = fixed_key[0];
        hash_key[1] = fixed_key[1];
        hash_key_drawn = true;
}

static struct source_key key_of(const char *ip, unsigned prefix6)
{
        struct source_key k;

        if (strchr(ip, ':')) {
                struct sockaddr_in6 s = {.sin6_family = AF_INET6, .sin6_port = htons(1)};
                cr_assert_eq(inet_pton(AF_INET6, ip, &s.sin6_addr), 1, "bad test address %s", ip);
                source_key_from((struct sockaddr *)&s, prefix6, &k);
        } else {
                /* In a buffer of a sockaddr_in6's size, as superd holds every peer (accept.c). */
                union {
                        struct sockaddr_in in;
                        struct sockaddr_in6 in6;
                } s = {.in = {.sin_family = AF_INET, .sin_port = htons(1)}};
                cr_assert_eq(inet_pton(AF_INET, ip, &s.in.sin_addr), 1, "bad test address %s", ip);
                source_key_from((struct sockaddr *)&s, prefix6, &k);
        }
        return k;
}

static bool same(struct source_key a, struct source_key b)
{
        return memcmp(&a, &b, sizeof(a)) == 0;
}

static void expect_key(const char *ip, unsigned prefix6, const char *want)
{
        struct source_key k = key_of(ip, prefix6);
        struct in6_addr w;
        char got[INET6_ADDRSTRLEN];

        cr_assert_eq(inet_pton(AF_INET6, want, &w), 1, "bad test address %s", want);
        inet_ntop(AF_INET6, &k.addr, got, sizeof(got));
        cr_assert(memcmp(&k.addr, &w, sizeof(w)) == 0, "key of %s with prefix6 %u is %s, expected %s", ip, prefix6, got,
                  want);
}

/* A distinct key per i: IPv4 for even i, IPv6 for odd i, spread over both halves of the address. */
static struct source_key nth_key(uint32_t i)
{
        struct source_key k = {0};

        if (i % 2 == 0) {
                uint32_t a = htonl(0x0a000000u + i / 2);
                k.addr.s6_addr[10] = k.addr.s6_addr[11] = 0xff;
                memcpy(&k.addr.s6_addr[12], &a, 4);
        } else {
                uint32_t hi = htonl(0x20010db8u), lo = htonl(i);
                memcpy(&k.addr.s6_addr[0], &hi, 4);
                memcpy(&k.addr.s6_addr[8], &lo, 4);
        }
        return k;
}

/*
 * The table's invariants: cap a power of two, load at most 1/2, n equal to
 * the live slots, and every live entry reachable by lookup with its own count
 * (a broken probe chain after a deletion shows up here as a 0).
 */
static void check_table(const struct source_table *t, size_t n)
{
        const struct source_slots *s = t->s;
        size_t used = 0;

        if (!s) {
                cr_assert_eq(n, 0, "no slots, expected %zu entries", n);
                return;
        }
        cr_assert_eq(s->n, n, "n = %zu, expected %zu", s->n, n);
        cr_assert_eq(s->cap & (s->cap - 1), 0, "cap %zu is not a power of two", s->cap);
        cr_assert_leq(s->n * 2, s->cap, "load above 1/2: %zu in %zu", s->n, s->cap);
        for (size_t i = 0; i < s->cap; i++) {
                if (!s->slot[i].count)
                        continue;
                used++;
                cr_assert_eq(source_count(t, &s->slot[i].key), s->slot[i].count,
                             "entry in slot %zu is not reachable from its home", i);
        }
        cr_assert_eq(used, n, "%zu live slots, n = %zu", used, n);
}

/* ---- keys ---- */

Test(source_key_from, ipv4_and_mapped_are_one_source)
{
        cr_assert(same(key_of("192.0.2.1", 0), key_of("::ffff:192.0.2.1", 0)));
        cr_assert(same(key_of("192.0.2.1", 64), key_of("::ffff:192.0.2.1", 64)));
        cr_assert(same(key_of("192.0.2.1", 0), key_of("::ffff:192.0.2.1", 64)));
        cr_assert_not(same(key_of("192.0.2.1", 0), key_of("192.0.2.2", 0)));
        expect_key("192.0.2.1", 0, "::ffff:192.0.2.1");
        expect_key("::ffff:192.0.2.1", 0, "::ffff:192.0.2.1");
}

Test(source_key_from, ipv4_never_grouped_by_prefix6)
{
        for (unsigned p = 0; p <= 128; p += 8) {
                cr_assert_not(same(key_of("192.0.2.1", p), key_of("192.0.2.2", p)), "prefix6 %u grouped IPv4", p);
                cr_assert_not(same(key_of("::ffff:192.0.2.1", p), key_of("::ffff:192.0.2.2", p)),
                              "prefix6 %u grouped IPv4-mapped", p);
                expect_key("::ffff:10.20.30.40", p, "::ffff:10.20.30.40");
        }
        /* An IPv4-compatible (not mapped) address is IPv6, and is grouped. */
        cr_assert(same(key_of("::10.0.0.1", 64), key_of("::10.0.0.2", 64)));
}

Test(source_key_from, prefix6_groups_ipv6)
{
        cr_assert(same(key_of("2001:db8:0:1::1", 64), key_of("2001:db8:0:1:ffff:ffff:ffff:ffff", 64)));
        cr_assert_not(same(key_of("2001:db8:0:1::1", 64), key_of("2001:db8:0:2::1", 64)));
        expect_key("2001:db8:0:1:aaaa:bbbb:cccc:dddd", 64, "2001:db8:0:1::");
        expect_key("2001:db8:0:1:aaaa:bbbb:cccc:dddd", 48, "2001:db8::");
        expect_key("2001:db8:0:1:aaaa:bbbb:cccc:dddd", 127, "2001:db8:0:1:aaaa:bbbb:cccc:dddc");
        expect_key("ffff::", 1, "8000::");
        /* Not on a byte boundary: a /60 holds 2001:db8:0:10:: to 2001:db8:0:1f:ffff:... */
        cr_assert(same(key_of("2001:db8:0:10::1", 60), key_of("2001:db8:0:1f:ffff::", 60)));
        cr_assert_not(same(key_of("2001:db8:0:1f::1", 60), key_of("2001:db8:0:20::1", 60)));
        expect_key("2001:db8:0:1fff::1", 60, "2001:db8:0:1ff0::");
}

Test(source_key_from, prefix6_0_and_128_keep_whole_address)
{
        expect_key("2001:db8::1", 0, "2001:db8::1");
        expect_key("2001:db8::1", 128, "2001:db8::1");
        expect_key("2001:db8::1", 129, "2001:db8::1");
        expect_key("2001:db8::1", 1000, "2001:db8::1");
        cr_assert_not(same(key_of("2001:db8::1", 0), key_of("2001:db8::2", 0)));
        cr_assert_not(same(key_of("2001:db8::1", 128), key_of("2001:db8::2", 128)));
}

Test(source_key_from, other_family_is_all_zero)
{
        struct sockaddr_un un = {.sun_family = AF_UNIX, .sun_path = "/run/x"};
        struct source_key k, zero = {0};

        memset(&k, 0xa5, sizeof(k));
        source_key_from((struct sockaddr *)&un, 64, &k);
        cr_assert(same(k, zero));
}

/* ---- limits ---- */

Test(source_table, starts_empty_without_allocating)
{
        struct source_table t = {0};
        struct source_key k = key_of("192.0.2.1", 0);

        cr_assert_eq(sizeof(t), sizeof(void *), "a service without max-per-source pays one pointer");
        cr_assert_eq(source_count(&t, &k), 0);
        source_release(&t, &k);
        cr_assert_null(t.s, "a lookup or a release allocates nothing");
        check_table(&t, 0);
        cr_assert_not(hash_key_drawn, "no key before the first acquire");
        source_table_free(&t);
        cr_assert_null(t.s);
}

Test(source_table, one_key_per_process_drawn_at_first_acquire)
{
        struct source_table a = {0}, b = {0};
        struct source_key k = key_of("192.0.2.1", 0);
        uint64_t first[2];

        cr_assert_not(hash_key_drawn);
        cr_assert_eq(source_acquire(&a, &k, 0), 0);
        cr_assert(hash_key_drawn);
        cr_assert(hash_key[0] || hash_key[1], "hash key is zero");
        memcpy(first, hash_key, sizeof(first));

        /* Another table, and a table allocated again after a free, hash under the same key. */
        cr_assert_eq(source_acquire(&b, &k, 0), 0);
        source_table_free(&a);
        cr_assert_eq(source_acquire(&a, &k, 0), 0);
        cr_assert(memcmp(first, hash_key, sizeof(first)) == 0, "the key changed while tables hold entries");
        cr_assert_eq(source_count(&a, &k), 1);
        cr_assert_eq(source_count(&b, &k), 1);
        source_table_free(&a);
        source_table_free(&b);
}

Test(source_table, limits_work_in_the_lazy_table_and_free_gives_it_back)
{
        struct source_table t = {0};
        struct source_key a = key_of("192.0.2.1", 0), b = key_of("2001:db8::1", 64);
        const struct source_slots *before, *with_table, *emptied;
        int r[6];

        before = t.s;
        r[0] = source_acquire(&t, &a, 2);
        with_table = t.s;
        r[1] = source_acquire(&t, &a, 2);
        r[2] = source_acquire(&t, &a, 2);
        r[3] = source_acquire(&t, &b, 2);
        source_release(&t, &a);
        r[4] = source_acquire(&t, &a, 2);
        source_release(&t, &a);
        source_release(&t, &a);
        source_release(&t, &b);
        emptied = t.s;
        r[5] = source_acquire(&t, &b, 2);
        source_release(&t, &b);
        source_table_free(&t); /* that nothing is left: the ASan and valgrind runs of this test */

        cr_assert_eq(r[0], 0);
        cr_assert_eq(r[1], 0);
        cr_assert_eq(r[2], -EUSERS, "the third from one source is over max-per-source 2");
        cr_assert_eq(r[3], 0, "another source has its own count");
        cr_assert_eq(r[4], 0, "a release makes room for that source");
        cr_assert_eq(r[5], 0);
        cr_assert_null(before, "no table before the first acquire");
        cr_assert_not_null(with_table, "the first acquire allocates the table");
        cr_assert_eq(emptied, with_table, "an emptied table is kept: no allocation per connection");
        cr_assert_null(t.s);
}

Test(source_acquire, up_to_limit_then_eusers)
{
        struct source_table t;
        struct source_key a = key_of("192.0.2.1", 0), b = key_of("::ffff:192.0.2.2", 0);

        init_fixed(&t);
        for (unsigned i = 0; i < 3; i++) {
                cr_assert_eq(source_acquire(&t, &a, 3), 0, "acquire %u of 3", i + 1);
                cr_assert_eq(source_count(&t, &a), i + 1);
        }
        cr_assert_eq(source_acquire(&t, &a, 3), -EUSERS);
        cr_assert_eq(source_acquire(&t, &a, 3), -EUSERS);
        cr_assert_eq(source_count(&t, &a), 3, "a refused acquire must not count");
        check_table(&t, 1);

        /* Another source has its own count. */
        cr_assert_eq(source_acquire(&t, &b, 3), 0);
        cr_assert_eq(source_count(&t, &b), 1);
        cr_assert_eq(source_count(&t, &a), 3);
        check_table(&t, 2);

        /* A release frees one slot for the same source. */
        source_release(&t, &a);
        cr_assert_eq(source_count(&t, &a), 2);
        cr_assert_eq(source_acquire(&t, &a, 3), 0);
        cr_assert_eq(source_acquire(&t, &a, 3), -EUSERS);

        /* A lowered limit (after a reload) refuses until the count falls below it. */
        cr_assert_eq(source_acquire(&t, &a, 2), -EUSERS);
        source_release(&t, &a);
        cr_assert_eq(source_acquire(&t, &a, 2), -EUSERS);
        source_release(&t, &a);
        cr_assert_eq(source_acquire(&t, &a, 2), 0);
        cr_assert_eq(source_count(&t, &a), 2);
        source_table_free(&t);
}

Test(source_acquire, limit_one)
{
        struct source_table t;
        struct source_key a = key_of("2001:db8::1", 64), a2 = key_of("2001:db8::2", 64);

        init_fixed(&t);
        cr_assert_eq(source_acquire(&t, &a, 1), 0);
        cr_assert_eq(source_acquire(&t, &a2, 1), -EUSERS, "same /64 counts as the same source");
        source_release(&t, &a2);
        cr_assert_eq(source_count(&t, &a), 0);
        cr_assert_eq(source_acquire(&t, &a, 1), 0);
        source_table_free(&t);
}

Test(source_acquire, limit_zero_counts_without_limit)
{
        struct source_table t;
        struct source_key a = key_of("192.0.2.1", 0);

        init_fixed(&t);
        for (unsigned i = 0; i < 1000; i++)
                cr_assert_eq(source_acquire(&t, &a, 0), 0);
        cr_assert_eq(source_count(&t, &a), 1000);
        cr_assert_eq(source_acquire(&t, &a, 5), -EUSERS, "a limit set later sees the counts taken without one");
        cr_assert_eq(source_acquire(&t, &a, 1001), 0);
        cr_assert_eq(source_acquire(&t, &a, 1001), -EUSERS);
        check_table(&t, 1);
        source_table_free(&t);
}

Test(source_release, last_release_removes_entry)
{
        struct source_table t;
        struct source_key a = key_of("192.0.2.1", 0), b = key_of("192.0.2.2", 0);

        init_fixed(&t);
        cr_assert_eq(source_acquire(&t, &a, 0), 0);
        cr_assert_eq(source_acquire(&t, &a, 0), 0);
        cr_assert_eq(source_acquire(&t, &b, 0), 0);
        check_table(&t, 2);
        source_release(&t, &a);
        check_table(&t, 2);
        source_release(&t, &a);
        check_table(&t, 1);
        cr_assert_eq(source_count(&t, &a), 0);
        cr_assert_eq(source_count(&t, &b), 1);

        /* Releasing an absent source changes nothing. */
        source_release(&t, &a);
        check_table(&t, 1);
        cr_assert_eq(source_count(&t, &b), 1);
        source_release(&t, &b);
        check_table(&t, 0);
        source_release(&t, &b);
        check_table(&t, 0);
        cr_assert_not_null(t.s, "an emptied table keeps its slots");
        source_table_free(&t);
        cr_assert_null(t.s);
}

Test(source_table, free_accepts_zeroed_table)
{
        struct source_table t = {0};

        source_table_free(&t);
        source_table_free(&t);
        cr_assert_null(t.s);
}

/* ---- the table under load ---- */

#define MANY 100000u

Test(source_table, hundred_thousand_sources)
{
        struct source_table t = {0};

        for (uint32_t i = 0; i < MANY; i++) {
                struct source_key k = nth_key(i);
                cr_assert_eq(source_acquire(&t, &k, 2), 0, "acquire of source %u", i);
                if (i % 3 == 0)
                        cr_assert_eq(source_acquire(&t, &k, 2), 0, "second acquire of source %u", i);
        }
        check_table(&t, MANY);
        for (uint32_t i = 0; i < MANY; i++) {
                struct source_key k = nth_key(i);
                cr_assert_eq(source_count(&t, &k), i % 3 == 0 ? 2u : 1u, "count of source %u", i);
                if (i % 3 == 0)
                        cr_assert_eq(source_acquire(&t, &k, 2), -EUSERS, "source %u is at its limit", i);
        }

        /* Release in a different order from insertion (7919 is prime, so coprime with MANY). */
        for (uint32_t j = 0; j < MANY; j++) {
                uint32_t i = (uint32_t)(((uint64_t)j * 7919) % MANY);
                struct source_key k = nth_key(i);
                source_release(&t, &k);
                if (i % 3 == 0) {
                        cr_assert_eq(source_count(&t, &k), 1, "source %u after one release", i);
                        source_release(&t, &k);
                }
                cr_assert_eq(source_count(&t, &k), 0, "source %u still counted after release", i);
                if (j % 10000 == 0)
                        check_table(&t, MANY - j - 1);
        }
        check_table(&t, 0);
        for (size_t s = 0; s < t.s->cap; s++)
                cr_assert_eq(t.s->slot[s].count, 0, "slot %zu still live", s);
        for (uint32_t i = 0; i < MANY; i += 997) {
                struct source_key k = nth_key(i);
                cr_assert_eq(source_count(&t, &k), 0);
        }
        source_table_free(&t);
}

/* ---- deletion under collisions ---- */

#define CAP 64 /* the first allocation; stays while n <= CAP / 2 */

/* The slot a key lands in when alone in a table with the fixed key: its home. */
static size_t home_of(const struct source_key *k)
{
        struct source_table s;
        size_t home = CAP;

        init_fixed(&s);
        cr_assert_eq(source_acquire(&s, k, 0), 0);
        cr_assert_eq(s.s->cap, CAP);
        for (size_t i = 0; i < s.s->cap; i++)
                if (s.s->slot[i].count)
                        home = i;
        source_table_free(&s);
        cr_assert_lt(home, CAP);
        return home;
}

/* Candidate keys grouped by home slot. */
struct by_home {
        struct source_key keys[CAP][8];
        size_t n[CAP];
};

static struct by_home *find_homes(void)
{
        struct by_home *h = calloc(1, sizeof(*h));

        cr_assert_not_null(h);
        for (uint32_t i = 0; i < 4096; i++) {
                struct source_key k = nth_key(i);
                size_t home = home_of(&k);
                if (h->n[home] < 8)
                        h->keys[home][h->n[home]++] = k;
        }
        for (size_t s = 0; s < CAP; s++)
                cr_assert_eq(h->n[s], 8, "home %zu has only %zu candidates", s, h->n[s]);
        return h;
}

/* Fill a table with keys[0..n), key i counted i + 1 times; check it has the small capacity. */
static void fill(struct source_table *t, const struct source_key *keys, size_t n)
{
        init_fixed(t);
        for (size_t i = 0; i < n; i++)
                for (size_t c = 0; c <= i; c++)
                        cr_assert_eq(source_acquire(t, &keys[i], 0), 0);
        cr_assert_eq(t->s->cap, CAP, "test needs the %d-slot table, got %zu", CAP, t->s->cap);
        check_table(t, n);
}

/* Remove keys[victim] entirely and check every other key keeps its count. */
static void remove_and_check(struct source_table *t, const struct source_key *keys, size_t n, bool *gone, size_t victim)
{
        size_t live = 0;

        for (size_t c = 0; c <= victim; c++)
                source_release(t, &keys[victim]);
        gone[victim] = true;
        for (size_t i = 0; i < n; i++) {
                cr_assert_eq(source_count(t, &keys[i]), gone[i] ? 0 : i + 1, "key %zu after removing key %zu", i,
                             victim);
                live += !gone[i];
        }
        check_table(t, live);
}

/*
 * A set with long shared chains: 5 keys at home h, 3 at h + 1, 3 at h + 3;
 * then the same around the end of the array (homes CAP - 2, CAP - 1, 0) so
 * the chain wraps. Removing any one key, in every position, must leave the
 * others reachable.
 */
static size_t collision_set(const struct by_home *h, size_t base, struct source_key *keys)
{
        static const size_t offsets[] = {0, 1, 0, 3, 0, 1, 0, 3, 0, 1, 3};
        size_t n = 0;

        for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
                size_t home = (base + offsets[i]) % CAP, used = 0;
                for (size_t j = 0; j < i; j++)
                        used += (base + offsets[j]) % CAP == home;
                keys[n++] = h->keys[home][used];
        }
        return n;
}

Test(source_release, backward_shift_keeps_chains)
{
        struct by_home *h = find_homes();
        static const size_t bases[] = {10, CAP - 2, CAP - 1};

        for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++) {
                struct source_key keys[16];
                size_t n = collision_set(h, bases[b], keys);

                for (size_t victim = 0; victim < n; victim++) {
                        struct source_table t;
                        bool gone[16] = {false};
                        fill(&t, keys, n);
                        remove_and_check(&t, keys, n, gone, victim);
                        source_table_free(&t);
                }
        }
        free(h);
}

static size_t next_random(uint64_t *state)
{
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        return (size_t)(*state >> 11);
}

static bool contains(const struct source_key *keys, size_t n, const struct source_key *k)
{
        for (size_t i = 0; i < n; i++)
                if (same(keys[i], *k))
                        return true;
        return false;
}

Test(source_release, random_orders_in_a_half_full_table)
{
        struct by_home *h = find_homes();
        uint64_t rng = 0x2545f4914f6cdd1dull;
        size_t wrapped = 0;

        for (unsigned round = 0; round < 200; round++) {
                struct source_key keys[CAP / 2];
                size_t order[CAP / 2], n = 0;
                bool gone[CAP / 2] = {false};
                struct source_table t;

                /* 32 keys in 64 slots, homes drawn at random so clusters form, some across the end. */
                while (n < CAP / 2) {
                        size_t home = next_random(&rng) % CAP, k = 0;
                        while (k < 8 && contains(keys, n, &h->keys[home][k]))
                                k++;
                        if (k == 8)
                                continue;
                        keys[n] = h->keys[home][k];
                        order[n] = n;
                        n++;
                }
                fill(&t, keys, n);
                wrapped += t.s->slot[0].count && t.s->slot[CAP - 1].count;
                for (size_t i = n - 1; i > 0; i--) {
                        size_t j = next_random(&rng) % (i + 1), tmp = order[i];
                        order[i] = order[j];
                        order[j] = tmp;
                }
                for (size_t i = 0; i < n; i++)
                        remove_and_check(&t, keys, n, gone, order[i]);
                source_table_free(&t);
        }
        cr_assert_gt(wrapped, 0, "no round had a cluster across the end of the array");
        free(h);
}
