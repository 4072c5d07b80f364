/* SPDX-License-Identifier: MIT */
/* Log lines a client can cause at will: one per LOG_LIMIT_USEC, then a summary written by a timer. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include "ratelimit.h"

/* One line per limiter in this time (µs); the others are counted into a summary. */
#define LOG_LIMIT_USEC (10 * 1000000ULL)

/*
 * A log limiter with its summary timer: the first line passes, later ones
 * within LOG_LIMIT_USEC are counted, and `summary` writes the count ("N
 * more ...") from a one-shot timer that exists only while a summary is
 * pending, unless the next line that passes carries it first. Refusals,
 * handler failures and limits reached all go through one (superd(8),
 * LOGGING). Zero-initialise, set `summary`; the owner calls
 * limited_log_done() before it goes away.
 */
struct limited_log {
        struct log_limit limit;
        sd_event_source *flush;                              /* the summary timer, NULL when none is pending */
        void (*summary)(struct limited_log *ll, uint64_t n); /* writes that n > 0 lines were not written */
};

/* The struct that holds `ptr`, its `member`: how a summary callback finds the limiter's owner. */
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/*
 * May a line of ll be written now (the loop time of `e`)? True: write it,
 * with *ret_suppressed (the lines not written since the last one; may be
 * NULL) in it. False: it was counted, and its summary is scheduled on `e`
 * (without a timer, for lack of memory, the count comes with the next line
 * that passes).
 */
bool limited_log_pass(sd_event *e, struct limited_log *ll, uint64_t *ret_suppressed);

/* ll's owner goes away: write its pending summary now and drop its timer. */
void limited_log_done(struct limited_log *ll);
