/* SPDX-License-Identifier: MIT */
/* Rate limits for max-rate and for refusal log lines: pure functions of state and a time passed in. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* One second in microseconds, the unit of all times here. */
#define RATE_WINDOW_USEC UINT64_C(1000000)

/*
 * Events in the current one-second window. Zero-initialise before first use.
 * Packed to 12 bytes, 4-aligned: a service_state holds one, and the 4 bytes
 * of padding a uint64_t would round it up to leave a hole there.
 */
struct rate_limit {
        uint64_t window_start_usec; /* CLOCK_MONOTONIC, of the window's first event */
        unsigned count;             /* events counted in that window */
} __attribute__((packed, aligned(4)));

/*
 * Count one event (an accepted connection) at now_usec (CLOCK_MONOTONIC, µs)
 * and say whether the service is over max-rate: true when more than
 * max_per_second events fell into the current window. A window is a fixed
 * second that opens at the first event after the previous window closed:
 * [start, start + 1 s). max_per_second 0 means no limit: always false and
 * nothing counted. What to do when it is exceeded is the caller's (superd
 * pauses the listener for rate-pause, as xinetd's cps and BSD inetd's
 * -R "toomany" do). A clock that went backwards opens a new window.
 */
bool rate_limit_exceeded(struct rate_limit *r, uint64_t now_usec, unsigned max_per_second);

/* State of one log limiter. Zero-initialise before first use. */
struct log_limit {
        uint64_t last_usec;  /* when the last message passed; 0 = none yet */
        uint64_t suppressed; /* messages dropped since then */
};

/*
 * Decide whether a message (e.g. "reject ... max-per-source") at now_usec
 * may be logged, so a flood gives one line per interval with a count instead
 * of one line per connection (like systemd's log ratelimit). The first
 * message passes; later ones within interval_usec of the last passed one are
 * counted and refused; the first one after the interval passes again.
 * *ret_suppressed (may be NULL) gets, when true is returned, the number of
 * messages refused since the previous passed one (then the count restarts),
 * and 0 when false is returned. Time 0 stands for "nothing passed yet", so
 * pass CLOCK_MONOTONIC times, which are never 0. Returns true to log.
 */
bool log_limit_pass(struct log_limit *l, uint64_t now_usec, uint64_t interval_usec, uint64_t *ret_suppressed);

/*
 * The summary of a limiter that refused messages is due at the end of the
 * interval of the last passed message; when no further message arrives, the
 * caller writes it then ("N more ..."), from a one-shot timer that exists
 * only while a summary is pending. Returns that time (µs, CLOCK_MONOTONIC,
 * the clock of log_limit_pass()), or 0 when nothing was refused since the
 * last passed message.
 */
uint64_t log_limit_summary_due(const struct log_limit *l, uint64_t interval_usec);

/*
 * Take the pending summary at now_usec: returns the number of messages
 * refused since the last passed one (0: nothing to write) and, when it is
 * not 0, counts the summary as a passed message, so a flood gives one line
 * per interval: the first message, then one summary per interval.
 */
uint64_t log_limit_take_summary(struct log_limit *l, uint64_t now_usec);
