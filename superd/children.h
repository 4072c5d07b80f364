/* SPDX-License-Identifier: MIT */
/* Running handlers by pid: an open-addressing hash table, O(1) per spawn and per reap, no fd per child. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "source.h"

struct service_state;
struct listener;
struct worker_pool;

/* One running handler. Records move when the table grows: do not keep pointers across children_add(). */
struct child {
        pid_t pid;                  /* 0 marks a free slot */
        struct service_state *service; /* holds a reference (service.h) */
        uint64_t start_usec;        /* CLOCK_MONOTONIC */
        struct sockaddr_in6 remote; /* AF_INET or AF_INET6 peer (sockaddr_in fits); AF_UNIX: family only */
        struct listener *wait_listener; /* wait = yes: the listener it holds, watched again at its exit */
        struct worker_pool *pool;   /* a worker of this pool (workers.h), NULL otherwise; its exit goes there */
        unsigned worker_slot;       /* with pool: its slot, SUPERD_WORKER */
        struct source_key source;   /* counted in its service's per-source table when counted_source */
        bool counted_source;
        bool term_sent;             /* timeout: SIGTERM sent, SIGKILL next */
        sd_event_source *timeout;   /* timeout: the timer, NULL without one (the record owns it) */
};

struct child_table {
        struct child *slots;
        size_t cap;  /* a power of two, or 0 */
        size_t n;
};

/*
 * Make room for one more record, so that the next children_add() cannot
 * fail: grows the table at 1/2 load (the only allocation, amortised).
 * Returns 0 or -ENOMEM.
 */
int children_reserve(struct child_table *t);

/*
 * Insert a record for `pid` (not present yet) and return it with only pid
 * set, for the caller to fill. Returns NULL (ENOMEM) if the table had to
 * grow and could not; never after a successful children_reserve().
 */
struct child *children_add(struct child_table *t, pid_t pid);

/* The record of `pid`, or NULL. */
struct child *children_find(const struct child_table *t, pid_t pid);

/* Remove a record returned by children_add()/children_find(); other records may move into its slot. */
void children_remove(struct child_table *t, struct child *c);

/* Free the table's memory (records must have been released by the caller). */
void children_free(struct child_table *t);
