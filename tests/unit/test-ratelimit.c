/* SPDX-License-Identifier: MIT */
/* Unit tests of ratelimit.c: the one-second max-rate window at its edges, and the log limiter's suppressed counts. */
#include <stdint.h>

#include <criterion/criterion.h>

#include "ratelimit.h"

#define SEC UINT64_C(1000000)
#define T0  (UINT64_C(5000) * SEC) /* an arbitrary monotonic time */

/* ---- rate_limit_exceeded ---- */

Test(rate_limit, packed_to_12_bytes_and_works_at_a_4_byte_boundary)
{
        /* As in a service_state: after a 4-byte field, so window_start_usec is not 8-aligned. */
        struct {
                uint32_t before;
                struct rate_limit r;
                uint32_t after;
        } s = {.before = 0xaaaaaaaau, .after = 0x55555555u};

        cr_assert_eq(sizeof(struct rate_limit), 12);
        cr_assert_eq(_Alignof(struct rate_limit), 4);
        cr_assert_eq(sizeof(s), 20, "no padding around a rate_limit");
        for (unsigned i = 0; i < 2; i++)
                cr_assert_not(rate_limit_exceeded(&s.r, T0 + i, 2));
        cr_assert(rate_limit_exceeded(&s.r, T0 + 2, 2));
        cr_assert_eq(s.r.window_start_usec, T0);
        cr_assert_eq(s.r.count, 3);
        cr_assert_not(rate_limit_exceeded(&s.r, T0 + SEC, 2), "a new window");
        cr_assert_eq(s.r.window_start_usec, T0 + SEC);
        cr_assert_eq(s.before, 0xaaaaaaaau, "neighbours untouched");
        cr_assert_eq(s.after, 0x55555555u, "neighbours untouched");
}

Test(rate_limit, allows_max_then_exceeds)
{
        struct rate_limit r = {0};

        for (unsigned i = 0; i < 3; i++)
                cr_assert_not(rate_limit_exceeded(&r, T0 + i, 3), "event %u of 3 is within the limit", i + 1);
        cr_assert(rate_limit_exceeded(&r, T0 + 10, 3), "the 4th event in a second exceeds 3/s");
        cr_assert(rate_limit_exceeded(&r, T0 + 20, 3), "and so does the 5th");
        cr_assert_eq(r.count, 5);
        cr_assert_eq(r.window_start_usec, T0);
}

Test(rate_limit, window_is_one_second_from_first_event)
{
        struct rate_limit r = {0};

        cr_assert_not(rate_limit_exceeded(&r, T0, 2));
        cr_assert_not(rate_limit_exceeded(&r, T0 + SEC / 2, 2));
        /* Last microsecond of the window: still the same window. */
        cr_assert(rate_limit_exceeded(&r, T0 + SEC - 1, 2));
        cr_assert_eq(r.window_start_usec, T0);
        /* Exactly one second after the first event: a new window opens there. */
        cr_assert_not(rate_limit_exceeded(&r, T0 + SEC, 2));
        cr_assert_eq(r.window_start_usec, T0 + SEC);
        cr_assert_eq(r.count, 1);
        cr_assert_not(rate_limit_exceeded(&r, T0 + 2 * SEC - 1, 2));
        cr_assert(rate_limit_exceeded(&r, T0 + 2 * SEC - 1, 2));
}

Test(rate_limit, window_opens_at_first_event_after_a_gap)
{
        struct rate_limit r = {0};

        cr_assert_not(rate_limit_exceeded(&r, T0, 1));
        cr_assert(rate_limit_exceeded(&r, T0 + 1, 1));
        /* A quiet spell, then an event at T0 + 3.7 s: the window is [3.7 s, 4.7 s), not aligned to whole seconds. */
        cr_assert_not(rate_limit_exceeded(&r, T0 + 3 * SEC + 700000, 1));
        cr_assert_eq(r.window_start_usec, T0 + 3 * SEC + 700000);
        cr_assert(rate_limit_exceeded(&r, T0 + 4 * SEC + 100000, 1), "4.1 s lies in the window opened at 3.7 s");
        cr_assert_not(rate_limit_exceeded(&r, T0 + 4 * SEC + 700000, 1));
}

Test(rate_limit, first_event_at_time_zero)
{
        struct rate_limit r = {0};

        cr_assert_not(rate_limit_exceeded(&r, 0, 1));
        cr_assert(rate_limit_exceeded(&r, 5, 1));
        cr_assert_not(rate_limit_exceeded(&r, SEC, 1));
}

Test(rate_limit, max_zero_never_limits)
{
        struct rate_limit r = {0};

        for (unsigned i = 0; i < 100000; i++)
                cr_assert_not(rate_limit_exceeded(&r, T0 + i, 0));
        cr_assert_eq(r.count, 0, "max 0 counts nothing");
}

Test(rate_limit, max_one)
{
        struct rate_limit r = {0};

        cr_assert_not(rate_limit_exceeded(&r, T0, 1));
        cr_assert(rate_limit_exceeded(&r, T0, 1), "two events at the same microsecond");
}

Test(rate_limit, clock_backwards_opens_new_window)
{
        struct rate_limit r = {0};

        cr_assert_not(rate_limit_exceeded(&r, T0, 1));
        cr_assert_not(rate_limit_exceeded(&r, T0 - 10, 1));
        cr_assert_eq(r.window_start_usec, T0 - 10);
        cr_assert(rate_limit_exceeded(&r, T0, 1));
}

Test(rate_limit, steady_rate_at_the_limit_never_exceeds)
{
        struct rate_limit r = {0};

        /* 10 events per second, evenly spaced, for a minute: exactly at max, never over. */
        for (unsigned i = 0; i < 600; i++)
                cr_assert_not(rate_limit_exceeded(&r, T0 + (uint64_t)i * (SEC / 10), 10), "event %u", i);
        /* 11 per second (spaced so each window holds exactly 11) is over once per window. */
        r = (struct rate_limit){0};
        unsigned over = 0;
        for (unsigned i = 0; i < 110; i++)
                over += rate_limit_exceeded(&r, T0 + (uint64_t)i * (SEC / 11 + 1), 10);
        cr_assert_eq(over, 10);
}

/* ---- log_limit_pass ---- */

Test(log_limit, first_passes_then_suppresses_within_interval)
{
        struct log_limit l = {0};
        uint64_t s = 42;

        cr_assert(log_limit_pass(&l, T0, 5 * SEC, &s));
        cr_assert_eq(s, 0, "nothing suppressed before the first message");
        for (unsigned i = 1; i <= 7; i++) {
                s = 42;
                cr_assert_not(log_limit_pass(&l, T0 + i * SEC / 2, 5 * SEC, &s), "message %u is within 5 s", i);
                cr_assert_eq(s, 0);
        }
        cr_assert_not(log_limit_pass(&l, T0 + 5 * SEC - 1, 5 * SEC, &s), "last microsecond of the interval");
        cr_assert(log_limit_pass(&l, T0 + 5 * SEC, 5 * SEC, &s), "the interval has passed");
        cr_assert_eq(s, 8, "7 + 1 messages were suppressed, reported %llu", (unsigned long long)s);
}

Test(log_limit, count_restarts_after_a_pass)
{
        struct log_limit l = {0};
        uint64_t s;

        cr_assert(log_limit_pass(&l, T0, SEC, &s));
        cr_assert_not(log_limit_pass(&l, T0 + 1, SEC, &s));
        cr_assert_not(log_limit_pass(&l, T0 + 2, SEC, &s));
        cr_assert(log_limit_pass(&l, T0 + SEC + 5, SEC, &s));
        cr_assert_eq(s, 2);
        /* The interval now runs from the last passed message, T0 + 1 s + 5. */
        cr_assert_not(log_limit_pass(&l, T0 + 2 * SEC + 4, SEC, &s));
        cr_assert(log_limit_pass(&l, T0 + 2 * SEC + 5, SEC, &s));
        cr_assert_eq(s, 1);
        /* A quiet interval: the next message passes with nothing suppressed. */
        cr_assert(log_limit_pass(&l, T0 + 10 * SEC, SEC, &s));
        cr_assert_eq(s, 0);
}

Test(log_limit, flood_gives_a_handful_of_lines)
{
        struct log_limit l = {0};
        uint64_t s, passed = 0, reported = 0;

        /* 10 seconds of one message every 100 µs, one line per second allowed. */
        for (uint64_t i = 0; i < 100000; i++) {
                if (log_limit_pass(&l, T0 + i * 100, SEC, &s)) {
                        passed++;
                        reported += s;
                }
        }
        cr_assert_eq(passed, 10);
        cr_assert_eq(reported + l.suppressed + passed, 100000, "every message is passed, reported or pending");
        cr_assert_eq(reported, 9 * 9999);
}

Test(log_limit, null_ret_and_zero_interval)
{
        struct log_limit l = {0};
        uint64_t s = 42;

        cr_assert(log_limit_pass(&l, T0, 0, NULL));
        cr_assert(log_limit_pass(&l, T0, 0, &s), "interval 0 passes everything");
        cr_assert_eq(s, 0);
        cr_assert_not(log_limit_pass(&l, T0 + 1, SEC, NULL));
        cr_assert_not(log_limit_pass(&l, T0 + 2, SEC, NULL));
        cr_assert(log_limit_pass(&l, T0 + SEC, SEC, &s));
        cr_assert_eq(s, 2, "suppressed messages are counted without ret_suppressed");
}

/* ---- log_limit_summary_due, log_limit_take_summary ---- */

Test(log_limit, summary_due_only_while_something_was_refused)
{
        struct log_limit l = {0};

        cr_assert_eq(log_limit_summary_due(&l, SEC), 0, "nothing logged yet");
        cr_assert(log_limit_pass(&l, T0, SEC, NULL));
        cr_assert_eq(log_limit_summary_due(&l, SEC), 0, "nothing refused: no summary, no timer");
        cr_assert_not(log_limit_pass(&l, T0 + 10, SEC, NULL));
        cr_assert_not(log_limit_pass(&l, T0 + 20, SEC, NULL));
        cr_assert_eq(log_limit_summary_due(&l, SEC), T0 + SEC, "due at the end of the passed message's interval");
        cr_assert_eq(log_limit_take_summary(&l, T0 + SEC), 2);
        cr_assert_eq(log_limit_summary_due(&l, SEC), 0, "taken");
        cr_assert_eq(log_limit_take_summary(&l, T0 + SEC + 1), 0, "a summary is taken once");
}

Test(log_limit, summary_counts_as_a_passed_line)
{
        struct log_limit l = {0};
        uint64_t s;

        cr_assert(log_limit_pass(&l, T0, SEC, NULL));
        cr_assert_not(log_limit_pass(&l, T0 + 1, SEC, NULL));
        cr_assert_eq(log_limit_take_summary(&l, T0 + SEC), 1);
        /* The next interval runs from the summary: a message right after it is refused. */
        cr_assert_not(log_limit_pass(&l, T0 + SEC + 1, SEC, &s));
        cr_assert_eq(log_limit_summary_due(&l, SEC), T0 + 2 * SEC);
        cr_assert(log_limit_pass(&l, T0 + 2 * SEC, SEC, &s));
        cr_assert_eq(s, 1, "the refused one is reported by the next passed line");
        cr_assert_eq(log_limit_summary_due(&l, SEC), 0);
}

Test(log_limit, flood_with_summaries_gives_one_line_per_interval)
{
        struct log_limit l = {0};
        uint64_t s, lines = 0, counted = 0, i;

        /* 10 s of one message every 100 µs; the summary timer fires exactly when due. */
        for (i = 0; i < 100000; i++) {
                uint64_t now = T0 + i * 100, due = log_limit_summary_due(&l, SEC);
                if (due && due <= now) {
                        counted += log_limit_take_summary(&l, due);
                        lines++;
                }
                if (log_limit_pass(&l, now, SEC, &s)) {
                        lines++;
                        counted += 1 + s;
                }
        }
        counted += log_limit_take_summary(&l, T0 + 11 * SEC);
        cr_assert_eq(counted, 100000, "every message is logged or counted in a summary");
        cr_assert_leq(lines, 11, "%llu lines for a 10 s flood", (unsigned long long)lines);
}
