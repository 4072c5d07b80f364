/* SPDX-License-Identifier: MIT */
/* Unit tests of children.c: the pid hash table, including clustered pids and backward-shift deletion. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "children.h"

/* A value derived from the pid, stored in each record to check records move whole. */
static uint64_t tag(pid_t pid)
{
        return (uint64_t)pid * 0x9e3779b97f4a7c15ull;
}

static void add(struct child_table *t, pid_t pid)
{
        struct child *c = children_add(t, pid);

        cr_assert_not_null(c, "children_add(%d) failed", (int)pid);
        cr_assert_eq(c->pid, pid);
        cr_assert_eq(c->service, NULL, "a new record has only pid set");
        cr_assert_eq(c->start_usec, 0, "a new record has only pid set");
        cr_assert_not(c->term_sent, "a new record has only pid set");
        c->start_usec = tag(pid);
        c->remote.sin6_port = (in_port_t)pid;
}

static void expect_found(const struct child_table *t, pid_t pid)
{
        struct child *c = children_find(t, pid);

        cr_assert_not_null(c, "pid %d not found", (int)pid);
        cr_assert_eq(c->pid, pid);
        cr_assert_eq(c->start_usec, tag(pid), "record of pid %d lost its data", (int)pid);
        cr_assert_eq(c->remote.sin6_port, (in_port_t)pid, "record of pid %d lost its data", (int)pid);
}

static void remove_pid(struct child_table *t, pid_t pid)
{
        struct child *c = children_find(t, pid);

        cr_assert_not_null(c, "pid %d not found before removal", (int)pid);
        children_remove(t, c);
        cr_assert_null(children_find(t, pid), "pid %d still found after removal", (int)pid);
}

/* The table's own invariants: n matches the occupied slots, load at most 1/2, cap a power of two. */
static void check_table(const struct child_table *t, size_t n)
{
        size_t used = 0;

        cr_assert_eq(t->n, n, "n = %zu, expected %zu", t->n, n);
        if (!t->cap)
                return;
        cr_assert_eq(t->cap & (t->cap - 1), 0, "cap %zu is not a power of two", t->cap);
        cr_assert_leq(t->n * 2, t->cap, "load above 1/2: %zu in %zu", t->n, t->cap);
        for (size_t i = 0; i < t->cap; i++)
                used += t->slots[i].pid != 0;
        cr_assert_eq(used, n, "%zu slots in use, n says %zu", used, n);
}

/* Deterministic xorshift, so a failure reproduces. */
static uint32_t rnd(uint32_t *s)
{
        *s ^= *s << 13;
        *s ^= *s >> 17;
        *s ^= *s << 5;
        return *s;
}

static void shuffle(pid_t *v, size_t n, uint32_t seed)
{
        for (size_t i = n - 1; i > 0; i--) {
                size_t j = rnd(&seed) % (i + 1);
                pid_t x = v[i];
                v[i] = v[j];
                v[j] = x;
        }
}

/*
 * Home slot of a pid in a table of `cap` slots. This mirrors slot_of() in
 * children.c only to build worst cases (long clusters, wrap-around at the end
 * of the table); if the hash changes, the tests below still check
 * correctness, just less adversarially.
 */
static size_t home(pid_t pid, size_t cap)
{
        return (size_t)(((uint32_t)pid * 2654435761u) & (cap - 1));
}

/* `n` distinct pids >= `from` whose home slot in a `cap`-slot table is `slot`. */
static void pids_homed_at(pid_t *out, size_t n, size_t cap, size_t slot, pid_t from)
{
        for (pid_t p = from; n; p++)
                if (home(p, cap) == slot)
                        *out++ = p, n--;
}

Test(children, empty_table)
{
        struct child_table t = {0};

        cr_assert_null(children_find(&t, 1));
        cr_assert_null(children_find(&t, 12345));
        children_free(&t);
        cr_assert_eq(t.cap, 0);
        cr_assert_null(t.slots);
        children_free(&t);
}

Test(children, add_find_remove_one)
{
        struct child_table t = {0};

        add(&t, 42);
        check_table(&t, 1);
        expect_found(&t, 42);
        cr_assert_null(children_find(&t, 43));
        remove_pid(&t, 42);
        check_table(&t, 0);
        add(&t, 42);
        expect_found(&t, 42);
        children_free(&t);
}

/* 20,000 pids in pseudo-random order, plus 1,000 that all share one home slot. */
Test(children, many_pids)
{
        enum { N_RANDOM = 20000, N_SAME = 1000, N = N_RANDOM + N_SAME };
        struct child_table t = {0};
        pid_t *pids = malloc(N * sizeof(*pids));
        uint8_t *used = calloc(1u << 22, 1);
        uint32_t seed = 2463534242u;
        size_t n = 0;

        cr_assert(pids && used);
        /* Random distinct pids below 2^22 (the kernel's pid_max). */
        while (n < N_RANDOM) {
                pid_t p = (pid_t)(rnd(&seed) & ((1u << 22) - 1));
                if (p && !used[p]) {
                        used[p] = 1;
                        pids[n++] = p;
                }
        }
        /* Multiples of 2^20 differ only above every bit the table uses: one home slot for all. */
        for (size_t i = 1; i <= N_SAME; i++)
                pids[n++] = (pid_t)(i << 20);
        shuffle(pids, N, 1);

        for (size_t i = 0; i < N; i++) {
                cr_assert_null(children_find(&t, pids[i]), "pid %d found before it was added", (int)pids[i]);
                add(&t, pids[i]);
                if (i % 997 == 0)
                        check_table(&t, i + 1);
        }
        check_table(&t, N);
        for (size_t i = 0; i < N; i++)
                expect_found(&t, pids[i]);
        cr_assert_null(children_find(&t, (pid_t)((N_SAME + 1) << 20)));

        shuffle(pids, N, 7);
        for (size_t i = 0; i < N; i++) {
                remove_pid(&t, pids[i]);
                /* The next few still present must stay reachable after each removal. */
                for (size_t j = i + 1; j < N && j < i + 8; j++)
                        expect_found(&t, pids[j]);
                if (i % 1009 == 0) {
                        check_table(&t, N - i - 1);
                        for (size_t j = i + 1; j < N; j++)
                                expect_found(&t, pids[j]);
                }
        }
        check_table(&t, 0);
        for (size_t i = 0; i < N; i++)
                cr_assert_null(children_find(&t, pids[i]));
        children_free(&t);
        free(pids);
        free(used);
}

/*
 * Clusters that wrap around the end of the table: after every single
 * removal, every other record must still be found (backward-shift deletion
 * must not cut a probe chain, and must not move a record before its home).
 */
Test(children, removal_keeps_wrapping_clusters)
{
        enum { CAP = 64, PER = 6 };
        static const size_t homes[] = {CAP - 2, CAP - 1, 0, 1, 30};
        enum { N = PER * (sizeof(homes) / sizeof(homes[0])) };
        pid_t pids[N];

        for (size_t h = 0; h < sizeof(homes) / sizeof(homes[0]); h++)
                pids_homed_at(pids + h * PER, PER, CAP, homes[h], 1000);

        for (uint32_t round = 0; round < 200; round++) {
                struct child_table t = {0};
                pid_t order[N];

                memcpy(order, pids, sizeof(pids));
                shuffle(order, N, round * 2654435761u + 1);
                for (size_t i = 0; i < N; i++)
                        add(&t, order[i]);
                cr_assert_eq(t.cap, CAP, "expected all %d records in one %d-slot table", N, CAP);
                check_table(&t, N);
                shuffle(order, N, round + 99);
                for (size_t i = 0; i < N; i++) {
                        remove_pid(&t, order[i]);
                        for (size_t j = i + 1; j < N; j++)
                                expect_found(&t, order[j]);
                        check_table(&t, N - i - 1);
                }
                children_free(&t);
        }
}

/* Records survive every growth, with their data, and the table stays at most half full. */
Test(children, growth_keeps_records)
{
        struct child_table t = {0};
        size_t last_cap = 0, growths = 0;

        for (pid_t p = 1; p <= 5000; p++) {
                add(&t, p * 3);
                if (t.cap != last_cap) {
                        growths++;
                        last_cap = t.cap;
                        check_table(&t, (size_t)p);
                        for (pid_t q = 1; q <= p; q++)
                                expect_found(&t, q * 3);
                }
        }
        cr_assert_geq(growths, 5, "only %zu growths for 5000 records", growths);
        for (pid_t p = 1; p <= 5000; p++) {
                expect_found(&t, p * 3);
                cr_assert_null(children_find(&t, p * 3 + 1));
        }
        children_free(&t);
}

/* Random interleaving of adds and removes against a plain array as the model. */
Test(children, matches_model)
{
        enum { RANGE = 4096, OPS = 200000 };
        static bool present[RANGE];
        struct child_table t = {0};
        uint32_t seed = 12345;
        size_t n = 0;

        for (size_t op = 0; op < OPS; op++) {
                /* Pids spaced by 64 collide in small tables; the mix keeps clusters long. */
                uint32_t r = rnd(&seed);
                pid_t p = (pid_t)(r % RANGE) + 1;
                if (r & 0x80000000u)
                        p = (pid_t)((r % 64) * 64 + 64);
                if (present[p - 1]) {
                        remove_pid(&t, p);
                        present[p - 1] = false;
                        n--;
                } else {
                        cr_assert_null(children_find(&t, p));
                        add(&t, p);
                        present[p - 1] = true;
                        n++;
                }
                cr_assert_eq(t.n, n);
                if (op % 5000 == 0) {
                        check_table(&t, n);
                        for (pid_t q = 1; q <= RANGE; q++)
                                if (present[q - 1])
                                        expect_found(&t, q);
                                else
                                        cr_assert_null(children_find(&t, q), "pid %d found but removed", (int)q);
                }
        }
        children_free(&t);
}
