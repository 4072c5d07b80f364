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
 * within LOG_LIMIT_USEC are counted, and the owner's summary writes the
 * count ("N more ...") from a one-shot timer that exists only while a
 * summary is pending, unless the next line that passes carries it first.
 * Refusals, handler failures and limits reached all go through one
 * (superd(8), LOGGING). Zero-initialise; the owner calls limited_log_done()
 * before it goes away.
 *
 * The summary is not stored here (one pointer less in each of the three
 * limiters of every service): the owner passes the same summary to every
 * limited_log_pass() and limited_log_done() of one limiter.
 */
struct limited_log {
        struct log_limit limit;
        sd_event_source *flush; /* the summary timer, NULL when none is pending */
};

/*
 * A limiter's summary: an sd-event time handler whose userdata is the
 * struct limited_log, so the summary timer calls it directly, and
 * limited_log_done() calls it with s NULL. It gets the count from
 * limited_log_take() and, when that is not 0, writes that so many lines
 * were not written. Returns 0.
 */
typedef sd_event_time_handler_t limited_log_summary_t;

/* The struct that holds `ptr`, its `member`: how a summary finds the limiter's owner. */
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/*
 * May a line of ll be written now (the loop time of `e`)? True: write it,
 * with *ret_suppressed (the lines not written since the last one; may be
 * NULL) in it. False: it was counted, and `summary` is scheduled on `e`
 * (without a timer, for lack of memory, the count comes with the next line
 * that passes).
 */
bool limited_log_pass(sd_event *e, struct limited_log *ll, limited_log_summary_t summary, uint64_t *ret_suppressed);

/*
 * For a summary: the lines of ll not written since the last one (0: nothing
 * to write), counted as a line written now; drops the summary timer.
 */
uint64_t limited_log_take(struct limited_log *ll);

/* ll's owner goes away: write its pending summary now (`summary`, with s NULL) and drop its timer. */
void limited_log_done(struct limited_log *ll, limited_log_summary_t summary);
