/* SPDX-License-Identifier: MIT */
/*
 * dgram-worker: a UDP worker of a pool (`workers = N`), for the integration
 * tests: it takes the socket on fd 3 (sd_listen_fds(3) protocol, checked
 * without libsystemd) and answers each datagram, in a loop of blocking
 * recvfrom(2), with "worker=W pid=P got=DATA", W being SUPERD_WORKER, after
 * holding it argv[1] milliseconds (default 0: at once), so that a test can
 * make each datagram of a burst go to another worker. It never exits by
 * itself: SIGTERM (default action) ends it.
 *
 * Exit status: 2 when LISTEN_FDS/LISTEN_PID do not give it fd 3; 1 on errors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
        long hold_ms = argc > 1 ? atol(argv[1]) : 0;
        struct timespec hold = { .tv_sec = hold_ms / 1000, .tv_nsec = hold_ms % 1000 * 1000000L };
        const char *fds = getenv("LISTEN_FDS"), *pid = getenv("LISTEN_PID"), *index = getenv("SUPERD_WORKER");
        char buf[512], out[640];

        if (!fds || !pid || strcmp(fds, "1") != 0 || atol(pid) != (long)getpid())
                return 2;
        for (;;) {
                struct sockaddr_storage from;
                socklen_t len = sizeof(from);
                ssize_t k = recvfrom(3, buf, sizeof(buf) - 1, 0, (struct sockaddr *)&from, &len);
                int n;

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        perror("dgram-worker: recvfrom");
                        return 1;
                }
                buf[k] = '\0';
                if (hold_ms > 0)
                        nanosleep(&hold, NULL);
                n = snprintf(out, sizeof(out), "worker=%s pid=%d got=%s", index ? index : "-", (int)getpid(), buf);
                if (sendto(3, out, (size_t)n, 0, (struct sockaddr *)&from, len) < 0)
                        perror("dgram-worker: sendto");
        }
}
