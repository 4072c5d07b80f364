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

/* The slots of a source_table; private to source.c. */
struct source_slots;

/*
 * Running handlers per source, for one service. Open addressing with linear
 * probing, power-of-two capacity, at most 1/2 load, backward-shift deletion
 * (no tombstones), like children.c. O(1) per acquire and release; the only
 * allocation is growth, amortised. Slots are hashed with SipHash-2-4 under a
 * random key, so a client choosing its source addresses (easy within an IPv6
 * /64) cannot aim them all at one probe chain. The key is one per process,
 * drawn from getrandom(2) at the first acquire of any table; if that fails
 * (no entropy yet at early boot) it is made of the clocks, the pid and
 * addresses, guessable, and stays so for the life of the process.
 *
 * The table is a pointer to one allocation, made at the first acquire: a
 * service without max-per-source spends 8 bytes on it. An entry lives only
 * while its source has running handlers, so the table holds at most as many
 * entries as the service has handlers (max-instances); it does not shrink,
 * and is kept when it empties, so a steady trickle of connections does not
 * allocate. Zero-initialise; the table owns its slots and
 * source_table_free() releases them.
 */
struct source_table {
        struct source_slots *s; /* NULL until the first acquire */
};

/* Running handlers counted for k: 0 if none. */
unsigned source_count(const struct source_table *t, const struct source_key *k);

/*
 * Count one more handler for k, if k has fewer than limit (0 = no limit:
 * still counted, so a reload that sets a limit finds the right numbers).
 * Call before spawning; pair every success with one source_release().
 * Returns 0 when counted, -EUSERS when k is at the limit (nothing changed),
 * -ENOMEM when the table could not be allocated or grow (nothing changed).
 */
int source_acquire(struct source_table *t, const struct source_key *k, unsigned limit);

/* Count one handler of k less (at reap); the entry goes at 0. No-op if k is absent. Other entries may move. */
void source_release(struct source_table *t, const struct source_key *k);

/* Free the slots and leave t zeroed, ready for reuse. Accepts a zeroed table. */
void source_table_free(struct source_table *t);
