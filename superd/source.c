/* SPDX-License-Identifier: MIT */
/* Per-source accounting for max-per-source: running handlers per remote address, in a keyed open-addressing hash. */
#include "source.h"

#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

void source_key_from(const struct sockaddr *sa, unsigned prefix6, struct source_key *ret)
{
        *ret = (struct source_key){0};
        if (sa->sa_family == AF_INET) {
                ret->addr.s6_addr[10] = ret->addr.s6_addr[11] = 0xff;
                memcpy(&ret->addr.s6_addr[12], &((const struct sockaddr_in *)sa)->sin_addr, 4);
                return;
        }
        if (sa->sa_family != AF_INET6)
                return;
        ret->addr = ((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(&ret->addr) || prefix6 == 0 || prefix6 >= 128)
                return;
        ret->addr.s6_addr[prefix6 / 8] &= (uint8_t)(0xff00u >> (prefix6 % 8));
        memset(&ret->addr.s6_addr[prefix6 / 8 + 1], 0, 15 - prefix6 / 8);
}

static inline uint64_t rotl(uint64_t x, unsigned b)
{
        return (x << b) | (x >> (64 - b));
}

/* One SipRound over the state v0..v3. */
static void sipround(uint64_t v[4])
{
        v[0] += v[1];
        v[1] = rotl(v[1], 13) ^ v[0];
        v[0] = rotl(v[0], 32);
        v[2] += v[3];
        v[3] = rotl(v[3], 16) ^ v[2];
        v[0] += v[3];
        v[3] = rotl(v[3], 21) ^ v[0];
        v[2] += v[1];
        v[1] = rotl(v[1], 17) ^ v[2];
        v[2] = rotl(v[2], 32);
}

/*
 * SipHash-2-4 (Aumasson and Bernstein) of the 16 key bytes: a keyed hash, so
 * without the process's key a client cannot pick addresses that collide. About
 * ten rounds of add-rotate-xor: cheap next to accept() and fork().
 */
static uint64_t siphash_key(const uint64_t k[2], const struct source_key *key)
{
        uint64_t v[4] = {k[0] ^ 0x736f6d6570736575ull, k[1] ^ 0x646f72616e646f6dull, k[0] ^ 0x6c7967656e657261ull,
                         k[1] ^ 0x7465646279746573ull};
        uint64_t m[3];

        memcpy(m, key->addr.s6_addr, 16);
        m[0] = le64toh(m[0]);
        m[1] = le64toh(m[1]);
        m[2] = (uint64_t)16 << 56; /* the length byte; no bytes left over */
        for (unsigned i = 0; i < 3; i++) {
                v[3] ^= m[i];
                sipround(v);
                sipround(v);
                v[0] ^= m[i];
        }
        v[2] ^= 0xff;
        for (unsigned i = 0; i < 4; i++)
                sipround(v);
        return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* splitmix64's finaliser: spreads the weak fallback seed material over all bits. */
static uint64_t mix64(uint64_t x)
{
        x += 0x9e3779b97f4a7c15ull;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
        return x ^ (x >> 31);
}

/* The SipHash key of every table in the process; drawn by draw_hash_key() before the first slot is placed. */
static uint64_t hash_key[2];
static bool hash_key_drawn;

static void draw_hash_key(void)
{
        struct timespec rt = {0}, mono = {0};

        if (hash_key_drawn)
                return;
        hash_key_drawn = true;
        if (getrandom(hash_key, sizeof(hash_key), GRND_NONBLOCK) == (ssize_t)sizeof(hash_key))
                return;

        /* No entropy yet (early boot) or no getrandom: guessable, but differs per run (and with ASLR, per address). */
        clock_gettime(CLOCK_REALTIME, &rt);
        clock_gettime(CLOCK_MONOTONIC, &mono);
        hash_key[0] = mix64((uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec) ^
                      mix64((uint64_t)(uintptr_t)hash_key);
        hash_key[1] = mix64((uint64_t)mono.tv_sec * 1000000000u + (uint64_t)mono.tv_nsec) ^ mix64((uint64_t)getpid());
}

/* One allocation per table: its size, its count and the slots. */
struct source_slots {
        size_t cap;                 /* a power of two */
        size_t n;                   /* sources with at least one running handler */
        struct source_entry slot[]; /* count 0: a free slot */
};

static size_t slot_of(const struct source_slots *s, const struct source_key *k)
{
        return (size_t)siphash_key(hash_key, k) & (s->cap - 1);
}

static bool key_eq(const struct source_key *a, const struct source_key *b)
{
        return memcmp(a, b, sizeof(*a)) == 0;
}

static struct source_entry *find(const struct source_table *t, const struct source_key *k)
{
        struct source_slots *s = t->s;

        if (!s)
                return NULL;
        for (size_t i = slot_of(s, k); s->slot[i].count; i = (i + 1) & (s->cap - 1))
                if (key_eq(&s->slot[i].key, k))
                        return &s->slot[i];
        return NULL;
}

/* Put e into the first free slot of its chain; the key must not be present and a slot must be free. */
static void place(struct source_slots *s, const struct source_entry *e)
{
        size_t i;

        for (i = slot_of(s, &e->key); s->slot[i].count; i = (i + 1) & (s->cap - 1))
                ;
        s->slot[i] = *e;
        s->n++;
}

/* Allocate t's slots (64 at first), or twice as many, and move the entries there. Returns 0 or -ENOMEM. */
static int grow(struct source_table *t)
{
        size_t cap = t->s ? t->s->cap * 2 : 64;
        struct source_slots *n = calloc(1, sizeof(*n) + cap * sizeof(n->slot[0]));

        if (!n)
                return -ENOMEM;
        draw_hash_key();
        n->cap = cap;
        for (size_t i = 0; t->s && i < t->s->cap; i++)
                if (t->s->slot[i].count)
                        place(n, &t->s->slot[i]);
        free(t->s);
        t->s = n;
        return 0;
}

unsigned source_count(const struct source_table *t, const struct source_key *k)
{
        const struct source_entry *e = find(t, k);

        return e ? e->count : 0;
}

int source_acquire(struct source_table *t, const struct source_key *k, unsigned limit)
{
        struct source_entry *e = find(t, k);

        if (e) {
                if ((limit && e->count >= limit) || e->count == UINT_MAX)
                        return -EUSERS;
                e->count++;
                return 0;
        }
        if (!t->s || (t->s->n + 1) * 2 > t->s->cap) {
                int r = grow(t);
                if (r < 0)
                        return r;
        }
        place(t->s, &(struct source_entry){.key = *k, .count = 1});
        return 0;
}

void source_release(struct source_table *t, const struct source_key *k)
{
        struct source_entry *e = find(t, k);
        struct source_slots *s = t->s;
        size_t mask, hole;

        if (!e || --e->count > 0)
                return;

        /* Backward-shift deletion keeps probe chains intact without tombstones. */
        mask = s->cap - 1;
        hole = (size_t)(e - s->slot);
        for (size_t j = (hole + 1) & mask; s->slot[j].count; j = (j + 1) & mask) {
                size_t home = slot_of(s, &s->slot[j].key);
                /* Move j into the hole unless its home lies cyclically in (hole, j]. */
                if (((j - home) & mask) >= ((j - hole) & mask)) {
                        s->slot[hole] = s->slot[j];
                        hole = j;
                }
        }
        s->slot[hole] = (struct source_entry){0};
        s->n--;
}

void source_table_free(struct source_table *t)
{
        free(t->s);
        t->s = NULL;
}
