/* SPDX-License-Identifier: MIT */
/* connection-info: report what a handler received from superd, then exit.
 *
 * For checking a setup by hand and for the integration tests: it prints its
 * credentials, session, open fds, signal state, cwd and environment as lines
 * of KEY=VALUE, in this order and this exact format:
 *
 *     UID=<real uid>
 *     EUID=<effective uid>
 *     GID=<real gid>
 *     EGID=<effective gid>
 *     GROUPS=<supplementary gids, ascending, no duplicates, space-separated;
 *             empty if none>
 *     PID=<pid>
 *     SID=<session id>
 *     PGID=<process group id>
 *     FDS=<open fds, ascending, space-separated, e.g. "0 1 2">
 *     SIGBLK=<SigBlk from /proc/self/status, e.g. 0000000000000000>
 *     SIGIGN=<SigIgn from /proc/self/status, e.g. 0000000000000000>
 *     CWD=<current directory>
 *     ENV <NAME>=<value>        one line per environment variable, in the
 *                               order of environ, e.g. "ENV PROTO=TCP"
 *
 * Numbers are decimal except the signal masks, which are copied verbatim
 * (hexadecimal, bit N-1 = signal N). FDS is taken before anything else is
 * opened and leaves out the directory fd used to list /proc/self/fd;
 * SIGBLK and SIGIGN are read before this program ignores SIGPIPE for its own
 * output. A value that cannot be determined is printed empty. Values are
 * printed raw: an environment value holding a newline spans two lines.
 *
 * Declare it in a drop-in (see services.d/connection-info.conf):
 *
 *     service connection-info {
 *         listen = { "127.0.0.1:1206", "[::1]:1206" }
 *         exec   = { "/usr/libexec/superd/connection-info" }
 *     }
 *
 * and try it:   nc 127.0.0.1 1206 </dev/null
 * or without superd:   ./connection-info
 *
 * Exit status: 0 when the report was written or the client went away;
 * 1 on any other error, reported on stderr.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* getresuid, getresgid, get_current_dir_name */
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

extern char **environ;

/* Sizes of the signal mask fields kept from /proc/self/status (16 hex
 * digits today, room to spare). */
#define MASK_MAX 64

/* Growable array of fds, ascending once sorted. */
struct fd_list {
        int *fds;
        size_t n, cap;
};

static int fd_list_add(struct fd_list *l, int fd)
{
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 16;
                int *fds = realloc(l->fds, cap * sizeof(*fds));
                if (!fds)
                        return -ENOMEM;
                l->fds = fds;
                l->cap = cap;
        }
        l->fds[l->n++] = fd;
        return 0;
}

static int cmp_int(const void *a, const void *b)
{
        int x = *(const int *)a, y = *(const int *)b;
        return (x > y) - (x < y);
}

static int cmp_gid(const void *a, const void *b)
{
        gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;
        return (x > y) - (x < y);
}

/* Collects the open fds into l, sorted. Lists /proc/self/fd, leaving out the
 * fd of the listing itself; without /proc, probes each fd with fcntl.
 * Returns 0 or -errno. */
static int list_fds(struct fd_list *l)
{
        DIR *d = opendir("/proc/self/fd");

        if (d) {
                int self = dirfd(d);
                struct dirent *de;

                while ((de = readdir(d))) {
                        char *e;
                        long fd;

                        if (de->d_name[0] == '.')
                                continue;
                        errno = 0;
                        fd = strtol(de->d_name, &e, 10);
                        if (errno || *e || fd < 0 || fd == self)
                                continue;
                        if (fd_list_add(l, (int)fd) < 0) {
                                closedir(d);
                                return -ENOMEM;
                        }
                }
                closedir(d);
        } else {
                long max = sysconf(_SC_OPEN_MAX);

                if (max < 0 || max > 65536)
                        max = 65536;
                for (int fd = 0; fd < max; fd++)
                        if (fcntl(fd, F_GETFD) >= 0 && fd_list_add(l, fd) < 0)
                                return -ENOMEM;
        }

        qsort(l->fds, l->n, sizeof(*l->fds), cmp_int);
        return 0;
}

/* Copies the SigBlk and SigIgn values of /proc/self/status into ret_blk and
 * ret_ign (MASK_MAX bytes each); a field not found stays empty. */
static void read_signal_masks(char *ret_blk, char *ret_ign)
{
        FILE *f = fopen("/proc/self/status", "re");
        char line[256];

        ret_blk[0] = ret_ign[0] = '\0';
        if (!f)
                return;
        while (fgets(line, sizeof(line), f)) {
                char *dst = NULL, *v;

                if (strncmp(line, "SigBlk:", 7) == 0)
                        dst = ret_blk;
                else if (strncmp(line, "SigIgn:", 7) == 0)
                        dst = ret_ign;
                else
                        continue;
                v = line + 7;
                v += strspn(v, " \t");
                v[strcspn(v, "\r\n")] = '\0';
                snprintf(dst, MASK_MAX, "%s", v);
        }
        fclose(f);
}

/* Waits until fd is ready for events; used when the socket was handed over
 * with O_NONBLOCK set. Returns 0 or -errno. */
static int wait_fd(int fd, short events)
{
        struct pollfd pfd = {.fd = fd, .events = events};

        for (;;) {
                if (poll(&pfd, 1, -1) >= 0)
                        return 0;
                if (errno != EINTR)
                        return -errno;
        }
}

/* Writes all len bytes of buf, retrying short writes, EINTR and EAGAIN.
 * Returns 0 or -errno. */
static int write_all(int fd, const char *buf, size_t len)
{
        while (len > 0) {
                ssize_t n = write(fd, buf, len);
                if (n < 0) {
                        int r;

                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN && errno != EWOULDBLOCK)
                                return -errno;
                        r = wait_fd(fd, POLLOUT);
                        if (r < 0)
                                return r;
                        continue;
                }
                buf += n;
                len -= (size_t)n;
        }
        return 0;
}

/* Formats the report into a memory stream. Returns 0 or -errno. */
static int report(FILE *out, const struct fd_list *fds, const char *sigblk, const char *sigign)
{
        uid_t ruid, euid, suid;
        gid_t rgid, egid, sgid;

        if (getresuid(&ruid, &euid, &suid) < 0 || getresgid(&rgid, &egid, &sgid) < 0)
                return -errno;
        fprintf(out, "UID=%u\nEUID=%u\nGID=%u\nEGID=%u\n", (unsigned)ruid, (unsigned)euid, (unsigned)rgid,
                (unsigned)egid);

        fputs("GROUPS=", out);
        int ngroups = getgroups(0, NULL);
        if (ngroups > 0) {
                gid_t *groups = calloc((size_t)ngroups, sizeof(*groups));
                if (!groups)
                        return -ENOMEM;
                ngroups = getgroups(ngroups, groups);
                if (ngroups > 0)
                        qsort(groups, (size_t)ngroups, sizeof(*groups), cmp_gid);
                for (int i = 0; i < ngroups; i++)
                        if (i == 0 || groups[i] != groups[i - 1])
                                fprintf(out, "%s%u", i ? " " : "", (unsigned)groups[i]);
                free(groups);
        }
        fputc('\n', out);

        fprintf(out, "PID=%ld\nSID=%ld\nPGID=%ld\n", (long)getpid(), (long)getsid(0), (long)getpgrp());

        fputs("FDS=", out);
        for (size_t i = 0; i < fds->n; i++)
                fprintf(out, "%s%d", i ? " " : "", fds->fds[i]);
        fputc('\n', out);

        fprintf(out, "SIGBLK=%s\nSIGIGN=%s\n", sigblk, sigign);

        char *cwd = get_current_dir_name();
        fprintf(out, "CWD=%s\n", cwd ? cwd : "");
        free(cwd);

        for (char **e = environ; e && *e; e++)
                fprintf(out, "ENV %s\n", *e);

        return ferror(out) ? -ENOMEM : 0;
}

/* True for the errors a client causes by going away: not worth a log line. */
static bool peer_gone(int err)
{
        return err == EPIPE || err == ECONNRESET || err == ETIMEDOUT;
}

int main(void)
{
        struct fd_list fds = {0};
        char sigblk[MASK_MAX], sigign[MASK_MAX];
        char *text = NULL;
        size_t len = 0;
        FILE *out;
        int r;

        /* Observe first, before this program opens or changes anything. */
        r = list_fds(&fds);
        if (r < 0) {
                fprintf(stderr, "connection-info: listing fds: %s\n", strerror(-r));
                return 1;
        }
        read_signal_masks(sigblk, sigign);

        /* A client that closes early must give EPIPE, not a fatal signal. */
        signal(SIGPIPE, SIG_IGN);

        /* Format in memory, then write once with our own retry loop: stdio
         * on a socket would hide EINTR, EAGAIN and short writes. */
        out = open_memstream(&text, &len);
        if (!out) {
                fprintf(stderr, "connection-info: open_memstream: %s\n", strerror(errno));
                return 1;
        }
        r = report(out, &fds, sigblk, sigign);
        if (fclose(out) != 0 && r == 0)
                r = -errno;
        free(fds.fds);
        if (r < 0) {
                fprintf(stderr, "connection-info: %s\n", strerror(-r));
                free(text);
                return 1;
        }

        r = write_all(STDOUT_FILENO, text, len);
        free(text);
        if (r < 0) {
                if (peer_gone(-r))
                        return 0;
                fprintf(stderr, "connection-info: write: %s\n", strerror(-r));
                return 1;
        }

        /* Discard whatever the client sent and we never read: closing a
         * socket with unread data sends a reset, which can destroy the
         * report before the client has read it. Does not wait for more; on
         * a pipe or tty recv fails with ENOTSOCK and this is a no-op. */
        char sink[4096];
        while (recv(STDIN_FILENO, sink, sizeof(sink), MSG_DONTWAIT) > 0)
                ;
        return 0;
}
