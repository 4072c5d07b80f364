/* SPDX-License-Identifier: MIT */
/* Admission: may a connection from this address start a handler? A pure decision over the service's state. */
#include "admission.h"

#include <errno.h>

#include "acl.h"

enum admission admission_check(const struct service *conf, struct rate_limit *rate, struct source_table *sources,
                               const struct sockaddr *remote, uint64_t now_usec, struct source_key *ret_key,
                               bool *ret_counted)
{
        int r;

        *ret_counted = false;
        if (!remote)
                return ADMIT;
        if ((conf->n_allow || conf->n_deny) &&
            !acl_permits(conf->allow, conf->n_allow, conf->deny, conf->n_deny, remote))
                return REFUSE_ACL;
        if (rate_limit_exceeded(rate, now_usec, conf->max_rate))
                return REFUSE_RATE;
        if (!conf->max_per_source)
                return ADMIT;
        source_key_from(remote, conf->per_source_prefix6, ret_key);
        r = source_acquire(sources, ret_key, conf->max_per_source);
        if (r == -EUSERS)
                return REFUSE_PER_SOURCE;
        *ret_counted = r == 0; /* -ENOMEM: serve it uncounted rather than refuse */
        return ADMIT;
}
