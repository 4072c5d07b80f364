/* SPDX-License-Identifier: MIT */
/* Unit tests of limited-log.c: one line passes, the rest are counted, and the caller's summary writes the count. */
#include <stdint.h>

#include <criterion/criterion.h>

#include "limited-log.h"

/* A limiter's owner, as a service_state is: the summary finds it through container_of. */
struct owner {
        struct limited_log log;
        unsigned summaries;   /* summaries that wrote a line */
        uint64_t last_n;      /* the count of the last one */
        bool last_from_timer; /* the last one ran from the timer (s not NULL) */
};

static int summary(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct owner *o = container_of(userdata, struct owner, log);
        uint64_t n = limited_log_take(userdata);

        if (n) {
                o->summaries++;
                o->last_n = n;
                o->last_from_timer = s != NULL;
        }
        return 0;
}

static sd_event *loop(void)
{
        sd_event *e = NULL;

        cr_assert_geq(sd_event_new(&e), 0);
        return e;
}

Test(limited_log, first_line_passes_then_counted_with_a_timer)
{
        sd_event *e = loop();
        struct owner o = {0};
        uint64_t n = 99, due = 0;

        cr_assert(limited_log_pass(e, &o.log, summary, &n));
        cr_assert_eq(n, 0);
        cr_assert_null(o.log.flush, "no timer while nothing is counted");
        for (unsigned i = 0; i < 3; i++)
                cr_assert_not(limited_log_pass(e, &o.log, summary, &n), "line %u within 10 s", i + 2);
        cr_assert_not_null(o.log.flush, "a count is pending: the summary timer exists");
        cr_assert_geq(sd_event_source_get_time(o.log.flush, &due), 0);
        cr_assert_eq(due, o.log.limit.last_usec + LOG_LIMIT_USEC, "the summary is due 10 s after the line that passed");
        cr_assert_eq(o.summaries, 0);
        limited_log_done(&o.log, summary);
        sd_event_unref(e);
}

Test(limited_log, timer_writes_the_summary_and_goes)
{
        sd_event *e = loop();
        struct owner o = {0};

        cr_assert(limited_log_pass(e, &o.log, summary, NULL));
        cr_assert_not(limited_log_pass(e, &o.log, summary, NULL));
        cr_assert_not(limited_log_pass(e, &o.log, summary, NULL));
        /* Bring the deadline to now rather than wait 10 s. */
        cr_assert_geq(sd_event_source_set_time(o.log.flush, 1), 0);
        cr_assert_gt(sd_event_run(e, 0), 0);
        cr_assert_eq(o.summaries, 1);
        cr_assert_eq(o.last_n, 2);
        cr_assert(o.last_from_timer);
        cr_assert_null(o.log.flush, "no timer once the summary is written");

        /* The summary counts as a line written: the next one within 10 s is counted again. */
        cr_assert_not(limited_log_pass(e, &o.log, summary, NULL));
        cr_assert_not_null(o.log.flush);
        limited_log_done(&o.log, summary);
        cr_assert_eq(o.summaries, 2);
        cr_assert_eq(o.last_n, 1);
        sd_event_unref(e);
}

Test(limited_log, next_line_that_passes_carries_the_count)
{
        sd_event *e = loop();
        struct owner o = {0};
        uint64_t n = 0;

        cr_assert(limited_log_pass(e, &o.log, summary, &n));
        cr_assert_not(limited_log_pass(e, &o.log, summary, &n));
        cr_assert_not(limited_log_pass(e, &o.log, summary, &n));
        /* As if 10 s had gone by since the line that passed. */
        o.log.limit.last_usec -= LOG_LIMIT_USEC;
        cr_assert(limited_log_pass(e, &o.log, summary, &n));
        cr_assert_eq(n, 2, "the line carries the count");
        cr_assert_null(o.log.flush, "and the timer goes with it");
        limited_log_done(&o.log, summary);
        cr_assert_eq(o.summaries, 0, "nothing was left to summarise");
        sd_event_unref(e);
}

Test(limited_log, done_writes_the_pending_summary)
{
        sd_event *e = loop();
        struct owner o = {0};

        limited_log_done(&o.log, summary);
        cr_assert_eq(o.summaries, 0, "a limiter that counted nothing writes nothing");

        cr_assert(limited_log_pass(e, &o.log, summary, NULL));
        for (unsigned i = 0; i < 5; i++)
                cr_assert_not(limited_log_pass(e, &o.log, summary, NULL));
        limited_log_done(&o.log, summary);
        cr_assert_eq(o.summaries, 1);
        cr_assert_eq(o.last_n, 5);
        cr_assert_not(o.last_from_timer);
        cr_assert_null(o.log.flush);
        cr_assert_eq(sd_event_run(e, 0), 0, "no timer left in the loop");
        cr_assert_eq(o.summaries, 1);
        sd_event_unref(e);
}
