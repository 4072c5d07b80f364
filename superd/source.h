/* SPDX-License-Identifier: MIT */
/* Per-source accounting for max-per-source: running handlers per remote address, in a keyed open-addressing hash. */
#pragma once

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* A remote source: an IPv6 address, IPv4 in its mapped form ::ffff:A.B.C.D. Compare with memcmp. */
struct source_key {
        struct in6_addr addr;
};

/*
 * The key that counts the peer sa against max-per-source (xinetd's
 * per_source, s6-tcpserverd's -C). AF_INET and IPv4-mapped IPv6 peers give
 * the same key, the mapped address, so one IPv4 host counts once whatever
 * listener it came through; it is never grouped by prefix6. Other IPv6 peers
 * are cut to their first prefix6 bits (per-source-prefix6, e.g. 64: one
 * key per /64, since one host often owns a whole /64); 0 and anything >= 128
 * keep the whole address. Any other family (AF_UNIX) gives the all-zero key
 * "::", so all such peers share one count.
 */
void source_key_from(const struct sockaddr *sa, unsigned prefix6, struct source_key *ret);

/* One source with running handlers. count is never 0 in a live entry: 0 marks a free slot. */
struct source_entry {
        struct source_key key;
        unsigned count;
};

/*
 * Running handlers per source, for one service. Open addressing with linear
 * probing, power-of-two capacity, at most 1/2 load, backward-shift deletion
 * (no tombstones), like children.c. O(1) per acquire and release; the only
 * allocation is growth, amortised. Slots are hashed with SipHash-2-4 under a
 * per-table random key, so a client choosing its source addresses (easy
 * within an IPv6 /64) cannot aim them all at one probe chain.
 *
 * An entry lives only while its source has running handlers, so the table
 * holds at most as many entries as the service has handlers (max-instances);
 * it does not shrink. Fields other than n are private; the table owns slots
 * and source_table_free() releases them.
 */
struct source_table {
        struct source_entry *slots;
        size_t cap;      /* a power of two, or 0 before the first acquire */
        size_t n;        /* sources with at least one running handler */
        uint64_t key[2]; /* SipHash key, from getrandom(2) */
};

/*
 * Make t an empty table with a fresh hash key: getrandom(2), or if that
 * fails (no entropy yet at early boot) the clocks, pid and t's address.
 * Allocates nothing (slots come with the first acquire). Returns 0.
 */
int source_table_init(struct source_table *t);

/* Running handlers counted for k: 0 if none. */
unsigned source_count(const struct source_table *t, const struct source_key *k);

/*
 * Count one more handler for k, if k has fewer than limit (0 = no limit:
 * still counted, so a reload that sets a limit finds the right numbers).
 * Call before spawning; pair every success with one source_release().
 * Returns 0 when counted, -EUSERS when k is at the limit (nothing changed),
 * -ENOMEM when the table could not grow (nothing changed).
 */
int source_acquire(struct source_table *t, const struct source_key *k, unsigned limit);

/* Count one handler of k less (at reap); the entry goes at 0. No-op if k is absent. Other entries may move. */
void source_release(struct source_table *t, const struct source_key *k);

/* Free the slots and leave t empty (n = 0); t must be initialised again before reuse. Accepts a zeroed table. */
void source_table_free(struct source_table *t);
