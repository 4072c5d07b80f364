/* SPDX-License-Identifier: MIT */
/* Users and groups of the configuration (user, group, socket-user, socket-group) resolved to ids, cached per load. */
#include "config-users.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct users_cache {
        char *user, *group; /* as written; group NULL = the user's primary group */
        struct user_ids ids;
        gid_t *groups; /* ids.groups, owned */
        struct users_cache *next;
};

/* A uid or gid written as a number; the all-ones value means "no change" to chown(2), so it is not one. */
static int parse_id(const char *s, unsigned long *ret)
{
        char *end;

        if (!isdigit((unsigned char)s[0]))
                return -EINVAL;
        errno = 0;
        *ret = strtoul(s, &end, 10);
        if (errno || *end || *ret >= (unsigned long)(uid_t)-1)
                return -EINVAL;
        return 0;
}

int users_group_id(const char *name, gid_t *ret)
{
        unsigned long id;
        struct group *gr;

        if (parse_id(name, &id) == 0) {
                *ret = (gid_t)id;
                return 0;
        }
        errno = 0;
        gr = getgrnam(name);
        if (!gr)
                return errno ? -errno : -ESRCH;
        *ret = gr->gr_gid;
        return 0;
}

static void entry_free(struct users_cache *c)
{
        free(c->user);
        free(c->group);
        free(c->groups);
        free(c);
}

int users_resolve(struct users_cache **cache, const char *user, const char *group, const struct user_ids **ret,
                  const char **ret_error)
{
        struct users_cache *c;
        struct passwd *pw;
        unsigned long id;
        int n = 16, r;

        for (c = *cache; c; c = c->next)
                if (strcmp(c->user, user) == 0 && (c->group ? group && strcmp(c->group, group) == 0 : !group)) {
                        *ret = &c->ids;
                        return 0;
                }

        c = calloc(1, sizeof(*c));
        if (!c || !(c->user = strdup(user)) || (group && !(c->group = strdup(group))))
                goto oom;

        errno = 0;
        pw = parse_id(user, &id) == 0 ? getpwuid((uid_t)id) : getpwnam(user);
        if (!pw && parse_id(user, &id) < 0) {
                *ret_error = "unknown user";
                r = -ESRCH;
                goto fail;
        }
        c->ids.uid = pw ? pw->pw_uid : (uid_t)id;
        c->ids.gid = pw ? pw->pw_gid : (gid_t)id;
        if (group && users_group_id(group, &c->ids.gid) < 0) {
                *ret_error = "unknown group";
                r = -ENOENT;
                goto fail;
        }
        if (pw) {
                /* getgrouplist reports the size it needs when the buffer is short. */
                for (;;) {
                        gid_t *g = realloc(c->groups, (size_t)n * sizeof(*g));
                        if (!g)
                                goto oom;
                        c->groups = g;
                        if (getgrouplist(pw->pw_name, c->ids.gid, c->groups, &n) >= 0)
                                break;
                }
                c->ids.n_groups = (size_t)n;
        } else {
                if (!(c->groups = malloc(sizeof(gid_t))))
                        goto oom;
                c->groups[0] = c->ids.gid;
                c->ids.n_groups = 1;
        }
        c->ids.groups = c->groups;
        c->next = *cache;
        *cache = c;
        *ret = &c->ids;
        return 0;
oom:
        *ret_error = "out of memory";
        r = -ENOMEM;
fail:
        if (c)
                entry_free(c);
        return r;
}

struct users_cache *users_cache_free(struct users_cache *c)
{
        while (c) {
                struct users_cache *next = c->next;
                entry_free(c);
                c = next;
        }
        return NULL;
}

const char *users_default(void)
{
        static char self[24];

        if (geteuid() == 0)
                return "nobody";
        (void)snprintf(self, sizeof(self), "%u", (unsigned)geteuid()); /* a uid always fits */
        return self;
}
