/* SPDX-License-Identifier: MIT */
/* Rate limits for max-rate and for refusal log lines: pure functions of state and a time passed in. */
#include "ratelimit.h"

#include <limits.h>

bool rate_limit_exceeded(struct rate_limit *r, uint64_t now_usec, unsigned max_per_second)
{
        if (max_per_second == 0)
                return false;
        if (r->count == 0 || now_usec < r->window_start_usec || now_usec - r->window_start_usec >= RATE_WINDOW_USEC) {
                r->window_start_usec = now_usec;
                r->count = 1;
        } else if (r->count < UINT_MAX) {
                r->count++;
        }
        return r->count > max_per_second;
}

bool log_limit_pass(struct log_limit *l, uint64_t now_usec, uint64_t interval_usec, uint64_t *ret_suppressed)
{
        uint64_t dropped = l->suppressed;

        if (l->last_usec != 0 && now_usec >= l->last_usec && now_usec - l->last_usec < interval_usec) {
                l->suppressed++;
                if (ret_suppressed)
                        *ret_suppressed = 0;
                return false;
        }
        l->last_usec = now_usec;
        l->suppressed = 0;
        if (ret_suppressed)
                *ret_suppressed = dropped;
        return true;
}

uint64_t log_limit_summary_due(const struct log_limit *l, uint64_t interval_usec)
{
        return l->suppressed ? l->last_usec + interval_usec : 0;
}

uint64_t log_limit_take_summary(struct log_limit *l, uint64_t now_usec)
{
        uint64_t n = l->suppressed;

        if (n) {
                l->last_usec = now_usec;
                l->suppressed = 0;
        }
        return n;
}
