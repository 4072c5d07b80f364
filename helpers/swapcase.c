/* SPDX-License-Identifier: MIT */
/* swapcase: echo stdin to stdout with the case of every ASCII letter toggled.
 *
 * The classic fork-per-connection demo server. Data is written back as soon
 * as it arrives (one read(2) chunk at a time, no line buffering), so an
 * interactive client sees each line echoed when it presses return.
 *
 * Declare it in a drop-in (see services.d/swapcase.conf):
 *
 *     service swapcase {
 *         listen = { "127.0.0.1:1205", "[::1]:1205" }
 *         exec   = { "/usr/libexec/superd/swapcase" }
 *     }
 *
 * and try it:   nc 127.0.0.1 1205        (type, get it back swapped)
 *               echo Hello | nc -N 127.0.0.1 1205    -> hELLO
 * or without superd:   echo Hello | ./swapcase
 *
 * Exit status: 0 at end of input or when the client goes away (reset,
 * broken pipe); 1 on any other I/O error, reported on stderr.
 */

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Waits until fd is ready for events; used when a socket was handed over
 * with O_NONBLOCK set, so that EAGAIN is not mistaken for an error.
 * Returns 0 or -errno. */
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

/* True for the errors a client causes by going away: not worth a log line. */
static int peer_gone(int err)
{
        return err == EPIPE || err == ECONNRESET || err == ETIMEDOUT;
}

static void swap_case(char *buf, size_t len)
{
        for (size_t i = 0; i < len; i++) {
                char c = buf[i];

                if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
                        buf[i] = (char)(c ^ 0x20);
        }
}

int main(void)
{
        char buf[16384];

        /* A client that closes early must give EPIPE, not a fatal signal. */
        signal(SIGPIPE, SIG_IGN);

        for (;;) {
                ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
                int r;

                if (n == 0)
                        return 0;
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK) {
                                r = wait_fd(STDIN_FILENO, POLLIN);
                                if (r < 0) {
                                        fprintf(stderr, "swapcase: poll: %s\n", strerror(-r));
                                        return 1;
                                }
                                continue;
                        }
                        if (peer_gone(errno))
                                return 0;
                        fprintf(stderr, "swapcase: read: %s\n", strerror(errno));
                        return 1;
                }

                swap_case(buf, (size_t)n);

                r = write_all(STDOUT_FILENO, buf, (size_t)n);
                if (r < 0) {
                        if (peer_gone(-r))
                                return 0;
                        fprintf(stderr, "swapcase: write: %s\n", strerror(-r));
                        return 1;
                }
        }
}
