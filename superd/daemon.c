/* SPDX-License-Identifier: MIT */
/* --daemon: detach from the terminal, and tell the waiting parent when superd is ready. */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int daemon_detach(void)
{
        int p[2], fd;
        unsigned char status;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                int r = -errno;
                close(p[0]);
                close(p[1]);
                return r;
        }
        if (pid > 0) {
                /* The original process: wait for the verdict of the daemon. */
                close(p[1]);
                for (;;) {
                        ssize_t n = read(p[0], &status, 1);
                        if (n == 1)
                                _exit(status);
                        if (n == 0 || errno != EINTR)
                                _exit(1);
                }
        }
        close(p[0]);
        if (setsid() < 0)
                _exit(1);
        pid = fork();
        if (pid < 0)
                _exit(1);
        if (pid > 0)
                _exit(0); /* the session leader goes; the daemon can never get a controlling terminal */

        fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (fd >= 0) {
                dup2(fd, STDIN_FILENO);
                dup2(fd, STDOUT_FILENO);
                if (fd > STDERR_FILENO)
                        close(fd);
        }
        if (chdir("/") < 0)
                _exit(1);
        return p[1];
}

void daemon_ready(int fd, int status)
{
        unsigned char b = (unsigned char)status;
        int null;

        if (fd < 0)
                return;
        /* Start-up errors went to the caller's stderr; from now on nobody reads it. */
        null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null >= 0) {
                dup2(null, STDERR_FILENO);
                if (null != STDERR_FILENO)
                        close(null);
        }
        while (write(fd, &b, 1) < 0 && errno == EINTR)
                ;
        close(fd);
}

int daemon_write_pidfile(const char *path)
{
        char *tmp, text[32];
        size_t len, done = 0;
        int fd, r = 0;

        if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
                return -ENOMEM;
        /*
         * mkostemp() opens with O_CREAT|O_EXCL, and O_NOFOLLOW to say it
         * outright: a file it creates itself, mode 0600, never one that
         * exists and never through a symlink at that name.
         */
        fd = mkostemp(tmp, O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
                r = -errno;
                free(tmp);
                return r;
        }
        len = (size_t)snprintf(text, sizeof(text), "%d\n", (int)getpid());
        while (r == 0 && done < len) {
                ssize_t n = write(fd, text + done, len - done);
                if (n > 0)
                        done += (size_t)n;
                else if (n == 0)
                        r = -EIO;
                else if (errno != EINTR)
                        r = -errno;
        }
        /* The mode through the fd, whatever superd's umask; never through a path. */
        if (r == 0 && fchmod(fd, 0644) < 0)
                r = -errno;
        /* rename(2) replaces the name PATH, whatever it is: a symlink there is replaced, not followed. */
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        close(fd);
        /* unlink(2) removes the name tmp, never a symlink's target; whoever could swap it can remove it too. */
        if (r < 0)
                unlink(tmp);
        free(tmp);
        return r;
}
