/* SPDX-License-Identifier: MIT */
/* Users and groups of the configuration (user, group, socket-user, socket-group) resolved to ids, cached per load. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/*
 * What a user (and group) resolves to: the ids and the supplementary groups
 * initgroups(3) would set. Owned by the cache it came from.
 */
struct user_ids {
        uid_t uid;
        gid_t gid;
        const gid_t *groups;
        size_t n_groups;
};

/*
 * Users resolved during one load, so that 1,000 services do not read
 * /etc/passwd 1,000 times. Opaque; a NULL pointer is an empty cache.
 */
struct users_cache;

/*
 * Resolve `user` (a name or a number) and `group` (a name, a number, or NULL
 * for the user's primary group) through *cache, adding to it. A number that
 * names no account is taken as is (uid and gid the number, its only group
 * the gid). Returns 0 and *ret (valid until users_cache_free()), or -ESRCH
 * ("unknown user"), -ENOENT ("unknown group"), -ENOMEM ("out of memory"),
 * with *ret_error set to that text.
 */
int users_resolve(struct users_cache **cache, const char *user, const char *group, const struct user_ids **ret,
                  const char **ret_error);

/* The gid of `name` (a group name or a number). Returns 0, or -ESRCH, or the -errno of getgrnam(3). */
int users_group_id(const char *name, gid_t *ret);

/*
 * The built-in default user: "nobody" when superd can switch users (runs as
 * root), else superd's own uid as a number. Static storage.
 */
const char *users_default(void);

/* Free the cache and every entry in it; accepts NULL; returns NULL. */
struct users_cache *users_cache_free(struct users_cache *c);
