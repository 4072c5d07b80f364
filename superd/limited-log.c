/* SPDX-License-Identifier: MIT */
/* Log lines a client can cause at will: one per LOG_LIMIT_USEC, then a summary written by a timer. */
#include "limited-log.h"

#include <time.h>

static int on_summary(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct limited_log *ll = userdata;
        uint64_t now, n;

        (void)sd_event_now(sd_event_source_get_event(s), CLOCK_MONOTONIC, &now);
        n = log_limit_take_summary(&ll->limit, now);
        ll->flush = sd_event_source_unref(ll->flush); /* freed once this callback returns */
        if (n)
                ll->summary(ll, n);
        return 0;
}

bool limited_log_pass(sd_event *e, struct limited_log *ll, uint64_t *ret_suppressed)
{
        uint64_t now;

        (void)sd_event_now(e, CLOCK_MONOTONIC, &now);
        if (log_limit_pass(&ll->limit, now, LOG_LIMIT_USEC, ret_suppressed)) {
                ll->flush = sd_event_source_disable_unref(ll->flush);
                return true;
        }
        if (!ll->flush && sd_event_add_time(e, &ll->flush, CLOCK_MONOTONIC,
                                            log_limit_summary_due(&ll->limit, LOG_LIMIT_USEC), 0, on_summary, ll) < 0)
                ll->flush = NULL;
        return false;
}

void limited_log_done(struct limited_log *ll)
{
        struct timespec ts;
        uint64_t n;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        n = log_limit_take_summary(&ll->limit, (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000);
        ll->flush = sd_event_source_disable_unref(ll->flush);
        if (n)
                ll->summary(ll, n);
}
