/* SPDX-License-Identifier: MIT */
/*
 * wait-echo: a wait = yes handler written the way daemons for systemd socket
 * activation are (Accept=no), for the integration tests. It takes its socket
 * with sd_listen_fds(3), serves until it has been idle for IDLE_MS
 * (argv[1], default 1000), then exits 0.
 *
 * Stream and seqpacket: accepts connections one at a time; reads one request
 * (up to 512 bytes, to a newline or EOF) and answers one line, then closes.
 * Dgram: answers each datagram with one datagram.
 * The answer: "pid=P names=N fds=F blocking=B type=T got=REQUEST\n", where F
 * tells whether fds 0, 1 and 3 are the same socket ("0=1=3" or "differ").
 *
 * Exit status: 0 after the idle time; 2 when sd_listen_fds() does not give
 * exactly one socket (LISTEN_PID not ours, LISTEN_FDS missing); 1 on errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

static bool same_file(int a, int b)
{
        struct stat x, y;

        return fstat(a, &x) == 0 && fstat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

int main(int argc, char **argv)
{
        int idle_ms = argc > 1 ? atoi(argv[1]) : 1000;
        char **names = NULL, info[256], buf[512], out[1024];
        int n, fd = SD_LISTEN_FDS_START, type;
        socklen_t len = sizeof(type);

        n = sd_listen_fds_with_names(1, &names);
        if (n != 1) {
                fprintf(stderr, "wait-echo: sd_listen_fds: %d\n", n);
                return 2;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
                return 1;
        snprintf(info, sizeof(info), "pid=%d names=%s fds=%s blocking=%s type=%s", (int)getpid(),
                 names && names[0] ? names[0] : "", same_file(0, 3) && same_file(1, 3) ? "0=1=3" : "differ",
                 fcntl(fd, F_GETFL) & O_NONBLOCK ? "no" : "yes",
                 type == SOCK_DGRAM ? "dgram" : type == SOCK_SEQPACKET ? "seqpacket" : "stream");
        for (char **s = names; s && *s; s++)
                free(*s);
        free(names);

        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int r = poll(&p, 1, idle_ms);

                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return 1;
                if (r == 0)
                        return 0;
                if (type == SOCK_DGRAM) {
                        struct sockaddr_storage from;
                        socklen_t flen = sizeof(from);
                        ssize_t k = recvfrom(fd, buf, sizeof(buf) - 1, 0, (struct sockaddr *)&from, &flen);
                        if (k < 0)
                                continue;
                        buf[k] = 0;
                        n = snprintf(out, sizeof(out), "%s got=%s\n", info, buf);
                        sendto(fd, out, (size_t)n, 0, (struct sockaddr *)&from, flen);
                } else {
                        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
                        size_t got = 0;
                        ssize_t k;
                        if (c < 0)
                                continue;
                        while (got < sizeof(buf) - 1 && (k = read(c, buf + got, sizeof(buf) - 1 - got)) > 0) {
                                got += (size_t)k;
                                if (memchr(buf, '\n', got) || type == SOCK_SEQPACKET)
                                        break;
                        }
                        buf[got] = 0;
                        buf[strcspn(buf, "\n")] = 0;
                        n = snprintf(out, sizeof(out), "%s got=%s\n", info, buf);
                        if (write(c, out, (size_t)n) < 0)
                                perror("wait-echo: write");
                        close(c);
                }
        }
}
