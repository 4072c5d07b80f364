/* SPDX-License-Identifier: MIT */
/* Log lines a client can cause at will: one per LOG_LIMIT_USEC, then a summary written by a timer. */
#include "limited-log.h"

#include <time.h>

bool limited_log_pass(sd_event *e, struct limited_log *ll, limited_log_summary_t summary, uint64_t *ret_suppressed)
{
        uint64_t now;

        (void)sd_event_now(e, CLOCK_MONOTONIC, &now);
        if (log_limit_pass(&ll->limit, now, LOG_LIMIT_USEC, ret_suppressed)) {
                ll->flush = sd_event_source_disable_unref(ll->flush);
                return true;
        }
        if (!ll->flush && sd_event_add_time(e, &ll->flush, CLOCK_MONOTONIC,
                                            log_limit_summary_due(&ll->limit, LOG_LIMIT_USEC), 0, summary, ll) < 0)
                ll->flush = NULL;
        return false;
}

uint64_t limited_log_take(struct limited_log *ll)
{
        uint64_t now = 0;

        /* The loop's time while the timer runs, as limited_log_pass() counts; the clock's otherwise. */
        if (!ll->flush || sd_event_now(sd_event_source_get_event(ll->flush), CLOCK_MONOTONIC, &now) < 0) {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                now = (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
        }
        /* Freed once a running summary returns; sd-event allows that from the source's own callback. */
        ll->flush = sd_event_source_disable_unref(ll->flush);
        return log_limit_take_summary(&ll->limit, now);
}

void limited_log_done(struct limited_log *ll, limited_log_summary_t summary)
{
        (void)summary(NULL, 0, ll);
        ll->flush = sd_event_source_disable_unref(ll->flush); /* a summary that did not take */
}
