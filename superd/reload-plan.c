/* SPDX-License-Identifier: MIT */
/* The reload plan: which new listener takes over which open socket, which service inherits which. Pure. */
#include "reload-plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* An item of either set, sorted together with the other set's by key. */
struct ref {
        size_t index;
        bool old;
        const void *item;
};

typedef int (*compare_fn)(const void *a, const void *b);

/* The key of a listen identity: address and socket type; the rest decides whether a match is compatible. */
static int compare_identity(const void *pa, const void *pb)
{
        const struct listen_identity *a = pa, *b = pb;
        int c = addr_compare(a->addr, b->addr);

        return c ? c : (a->socket_type > b->socket_type) - (a->socket_type < b->socket_type);
}

static compare_fn sort_key; /* qsort(3) has no context argument; the plan is single-threaded */

/* By key, then old before new, then by index: equal keys form runs with the old items first. */
static int compare_refs(const void *pa, const void *pb)
{
        const struct ref *a = pa, *b = pb;
        int c = sort_key(a->item, b->item);

        if (c)
                return c;
        if (a->old != b->old)
                return a->old ? -1 : 1;
        return (a->index > b->index) - (a->index < b->index);
}

/*
 * Sort both sets by key and walk each run of equal keys: every new item
 * takes the first old item of its run that `compatible` accepts and, when
 * `exclusive`, no other new item took. ret[i] = old index or -1.
 */
static int merge(const void *old, size_t n_old, const void *new, size_t n_new, size_t item_size, compare_fn key,
                 bool (*compatible)(const void *old, const void *new), bool exclusive, ssize_t *ret)
{
        size_t n = n_old + n_new;
        struct ref *refs = calloc(n ? n : 1, sizeof(*refs));
        bool *taken = calloc(n_old ? n_old : 1, sizeof(*taken));

        if (!refs || !taken) {
                free(refs);
                free(taken);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n_old; i++)
                refs[i] = (struct ref){ i, true, (const char *)old + i * item_size };
        for (size_t i = 0; i < n_new; i++) {
                refs[n_old + i] = (struct ref){ i, false, (const char *)new + i * item_size };
                ret[i] = -1;
        }
        sort_key = key;
        qsort(refs, n, sizeof(*refs), compare_refs);
        for (size_t run = 0, end; run < n; run = end) {
                for (end = run + 1; end < n && key(refs[run].item, refs[end].item) == 0; end++)
                        ;
                for (size_t i = run; i < end; i++) {
                        if (refs[i].old)
                                continue;
                        for (size_t j = run; j < end && refs[j].old; j++)
                                if (!taken[refs[j].index] && compatible(refs[j].item, refs[i].item)) {
                                        taken[refs[j].index] = exclusive;
                                        ret[refs[i].index] = (ssize_t)refs[j].index;
                                        break;
                                }
                }
        }
        free(refs);
        free(taken);
        return 0;
}

/* Same key: may the new listener take the old socket? */
static bool identity_compatible(const void *po, const void *pn)
{
        const struct listen_identity *old = po, *new = pn;

        return old->builtin == new->builtin && (old->adopted || socket_options_equal(old->options, new->options));
}

int reload_plan_listeners(const struct listen_identity *old, size_t n_old, const struct listen_identity *new,
                          size_t n_new, ssize_t *ret_take)
{
        return merge(old, n_old, new, n_new, sizeof(*old), compare_identity, identity_compatible, true,
                     ret_take);
}

static int compare_name_ptr(const void *pa, const void *pb)
{
        return strcmp(*(const char *const *)pa, *(const char *const *)pb);
}

static bool always(const void *old, const void *new)
{
        return true;
}

int reload_plan_names(const char *const *old_names, size_t n_old, const char *const *new_names, size_t n_new,
                      ssize_t *ret_match)
{
        return merge(old_names, n_old, new_names, n_new, sizeof(*old_names), compare_name_ptr, always, false,
                     ret_match);
}
