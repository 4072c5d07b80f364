/* SPDX-License-Identifier: MIT */
/* superd-import's writer: drop-ins (superd.conf(5)) from the neutral imp_service, to stdout or a folder. */
#include "import-emit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config-text.h"

/* PREFIX is "" or "# " (an unusable service is written commented out). */
static void key(FILE *out, const char *prefix, const char *name)
{
        fprintf(out, "%s    %-14s = ", prefix, name);
}

static void text(FILE *out, const char *prefix, const char *name, const char *v)
{
        if (!v)
                return;
        key(out, prefix, name);
        config_print_text(out, v, true);
        fputc('\n', out);
}

static void list(FILE *out, const char *prefix, const char *name, char *const *v)
{
        if (!v)
                return;
        key(out, prefix, name);
        fputc('{', out);
        for (size_t i = 0; v[i]; i++) {
                fputs(i ? ", " : " ", out);
                config_print_text(out, v[i], true);
        }
        fputs(" }\n", out);
}

static void number(FILE *out, const char *prefix, const char *name, long long v)
{
        if (v == IMP_UNSET)
                return;
        key(out, prefix, name);
        fprintf(out, "%lld\n", v);
}

static void yes(FILE *out, const char *prefix, const char *name, bool v)
{
        if (v) {
                key(out, prefix, name);
                fputs("yes\n", out);
        }
}

static void body(FILE *out, const char *p, const struct imp_service *s)
{
        list(out, p, "listen", s->listen);
        if (s->socket_type)
                key(out, p, "socket-type"), fprintf(out, "%s\n", s->socket_type);
        if (s->wait >= 0)
                key(out, p, "wait"), fputs(s->wait ? "yes\n" : "no\n", out);
        if (s->builtin)
                key(out, p, "builtin"), fprintf(out, "%s\n", s->builtin);
        list(out, p, "exec", s->exec);
        text(out, p, "user", s->user);
        text(out, p, "group", s->group);
        list(out, p, "env", s->env);
        list(out, p, "pass-env", s->pass_env);
        number(out, p, "max-instances", s->max_instances);
        number(out, p, "max-per-source", s->max_per_source);
        if (s->max_rate != IMP_UNSET)
                key(out, p, "max-rate"), fprintf(out, "\"%lld/s\"\n", s->max_rate);
        number(out, p, "rate-pause", s->rate_pause);
        list(out, p, "allow", s->allow);
        list(out, p, "deny", s->deny);
        yes(out, p, "keepalive", s->keepalive);
        yes(out, p, "nodelay", s->nodelay);
        yes(out, p, "ipv6-only", s->ipv6_only);
        if (s->umask != IMP_UNSET)
                key(out, p, "umask"), fprintf(out, "\"%03llo\"\n", s->umask);
        number(out, p, "nice", s->nice);
        number(out, p, "rlimit-nofile", s->rlimit_nofile);
        number(out, p, "rlimit-as", s->rlimit_as);
        number(out, p, "rlimit-cpu", s->rlimit_cpu);
        yes(out, p, "log-connections", s->log_connections);
        yes(out, p, "disable", s->disable);
}

int imp_emit_service(FILE *out, const struct imp_service *s)
{
        const char *p = s->unusable ? "# " : "";

        fprintf(out, "# Imported by superd-import from %s\n", s->origin ? s->origin : "?");
        if (s->unusable)
                fprintf(out, "# superd cannot run this service: %s. Kept as a comment:\n", s->unusable);
        fprintf(out, "%sservice %s {\n", p, s->name);
        body(out, p, s);
        for (size_t i = 0; s->comments && s->comments[i]; i++)
                fprintf(out, "%s    # %s\n", p, s->comments[i]);
        fprintf(out, "%s}\n", p);
        return ferror(out) ? -EIO : 0;
}

static int write_fd(int fd, const struct imp_service *s)
{
        FILE *f = fdopen(fd, "w");
        int k;

        if (!f) {
                close(fd);
                return -errno;
        }
        k = imp_emit_service(f, s);
        if (fflush(f) != 0 || fsync(fileno(f)) != 0)
                k = k < 0 ? k : -errno;
        if (fclose(f) != 0)
                k = k < 0 ? k : -errno;
        return k;
}

/* With --force: a temporary file in DIR, renamed over NAME (rename replaces a symlink, never follows it). */
static int replace(int dirfd, const char *name, const struct imp_service *s)
{
        char tmp[600];
        int fd = -1, k;

        for (int tries = 0; fd < 0 && tries < 100; tries++) {
                unsigned rnd = 0;
                if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) < 0)
                        rnd = (unsigned)getpid() * 2654435761u + (unsigned)tries;
                snprintf(tmp, sizeof(tmp), ".%s.%08x", name, rnd);
                fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (fd < 0 && errno != EEXIST)
                        return -errno;
        }
        if (fd < 0)
                return -EEXIST;
        k = write_fd(fd, s);
        if (k == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
                k = -errno;
        if (k < 0)
                unlinkat(dirfd, tmp, 0);
        return k;
}

static int write_one(int dirfd, const char *dir, const struct imp_service *s, bool force, struct imp_report *r)
{
        char name[512];
        int k, fd;

        snprintf(name, sizeof(name), "%s.conf", s->name);
        if (force) {
                k = replace(dirfd, name, s);
        } else {
                fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
                k = fd < 0 ? -errno : write_fd(fd, s);
        }
        if (k < 0)
                imp_error(r, dir, 0, "%s: %s%s", name, strerror(-k),
                          k == -EEXIST ? " (superd-import replaces files only with --force)" : "");
        return k;
}

static int check_free(int dirfd, const char *dir, const struct imp_set *set, struct imp_report *r)
{
        int k = 0;

        for (size_t i = 0; i < set->n; i++) {
                char name[512];
                struct stat st;
                snprintf(name, sizeof(name), "%s.conf", set->services[i]->name);
                if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                        imp_error(r, dir, 0, "%s: exists (superd-import replaces files only with --force)", name);
                        k = -EEXIST;
                } else if (errno != ENOENT) {
                        k = -errno;
                        imp_error(r, dir, 0, "%s: %s", name, strerror(errno));
                }
        }
        return k;
}

int imp_emit_set(const struct imp_set *set, const char *dir, bool force, FILE *out, struct imp_report *r)
{
        int dirfd, k = 0;

        if (!dir) {
                for (size_t i = 0; i < set->n && k >= 0; i++) {
                        fprintf(out, "%s# file: %s.conf\n", i ? "\n" : "", set->services[i]->name);
                        k = imp_emit_service(out, set->services[i]);
                }
                if (k < 0)
                        imp_error(r, "-", 0, "write: %s", strerror(-k));
                return k;
        }
        dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0) {
                k = -errno;
                imp_error(r, dir, 0, "%s", strerror(-k));
                return k;
        }
        k = force ? 0 : check_free(dirfd, dir, set, r);
        for (size_t i = 0; i < set->n && k >= 0; i++)
                k = write_one(dirfd, dir, set->services[i], force, r);
        close(dirfd);
        return k;
}
