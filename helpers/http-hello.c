/* SPDX-License-Identifier: MIT */
/* http-hello: answer one HTTP/1.0 or 1.1 request with a fixed text/plain body.
 *
 * The benchmark handler: it reads the request head up to the empty line
 * (CRLF CRLF or LF LF), checks the request line, writes the whole reply in a
 * single write(2) and exits. No stdio buffering, no allocation.
 *
 *   - any well-formed request (METHOD SP TARGET SP HTTP/1.0|HTTP/1.1) gets
 *     "HTTP/1.0 200 OK" with the body "Hello from superd\n" (HEAD: no body);
 *   - a malformed request line, a head over 8 KiB, or input that ends before
 *     the empty line gets "400 Bad Request";
 *   - a client that sends no complete head within 10 s gets "408 Request
 *     Timeout" (best effort) and the handler exits.
 * Request headers and any request body are ignored; every reply carries
 * "Connection: close".
 *
 * Declare it in a drop-in (see services.d/http-hello.conf):
 *
 *     service http-hello {
 *         listen = { "127.0.0.1:8080" }
 *         exec   = { "/usr/libexec/superd/http-hello" }
 *     }
 *
 * and try it:   curl -i http://127.0.0.1:8080/
 *               ab -n 10000 -c 50 http://127.0.0.1:8080/
 * or without superd:   printf 'GET / HTTP/1.0\r\n\r\n' | ./http-hello
 *
 * Worker mode (socket activation, superd's `workers = N`, systemd's
 * Accept=no): when LISTEN_FDS=1 and LISTEN_PID is this process
 * (sd_listen_fds(3)), fd 3 is a listening socket. http-hello then accepts on
 * it in a loop and answers each connection as above, with one more header,
 * "X-Superd-Worker: <SUPERD_WORKER or -> <pid>", so that a client sees
 * which worker answered. A connection that sends nothing for 10 s before
 * its head is complete gets 408. SIGTERM ends it after the request being
 * answered, if any: a pool can be stopped or replaced without cutting a
 * reply. Declare it as a pool:
 *
 *     service http-pool {
 *         listen  = { "127.0.0.1:8081" }
 *         wait    = yes
 *         workers = auto
 *         exec    = { "/usr/libexec/superd/http-hello" }
 *     }
 *
 * Exit status: 0 when a reply was sent, the client went away or timed out
 * (worker mode: at SIGTERM); 1 on any other I/O error, reported on stderr.
 */

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HEAD_MAX    8192 /* bytes, request line and headers together */
#define TIMEOUT_SEC 10   /* to receive the complete request head */

#define BODY     "Hello from superd\n"
#define BODY_LEN "18"
_Static_assert(sizeof(BODY) - 1 == 18, "BODY_LEN must match BODY");

static const char reply_ok[] = "HTTP/1.0 200 OK\r\n"
                               "Content-Type: text/plain\r\n"
                               "Content-Length: " BODY_LEN "\r\n"
                               "Connection: close\r\n"
                               "\r\n" BODY;

static const char reply_bad[] = "HTTP/1.0 400 Bad Request\r\n"
                                "Content-Type: text/plain\r\n"
                                "Content-Length: 12\r\n"
                                "Connection: close\r\n"
                                "\r\n"
                                "Bad Request\n";

static const char reply_timeout[] = "HTTP/1.0 408 Request Timeout\r\n"
                                    "Content-Type: text/plain\r\n"
                                    "Content-Length: 16\r\n"
                                    "Connection: close\r\n"
                                    "\r\n"
                                    "Request Timeout\n";

/* Set once a reply is being written: the timeout must not interleave its own. */
static volatile sig_atomic_t replying;

/* Worker mode: SIGTERM arrived; leave after the current connection. */
static volatile sig_atomic_t terminating;

/* Worker mode: the 200 reply with X-Superd-Worker, built once. */
static char worker_reply_ok[sizeof(reply_ok) + 64];
static size_t worker_reply_len, worker_body_at;

/* SIGALRM: the client did not finish its request head in time. Only
 * async-signal-safe calls here. */
static void on_timeout(int sig)
{
        (void)sig;
        if (!replying) {
                ssize_t n = write(STDOUT_FILENO, reply_timeout, sizeof(reply_timeout) - 1);
                (void)n;
        }
        _exit(0);
}

/* True for the errors a client causes by going away: not worth a log line. */
static bool peer_gone(int err)
{
        return err == EPIPE || err == ECONNRESET || err == ETIMEDOUT;
}

/* Logs an I/O error unless the client simply went away. Returns the exit
 * status to use. */
static int io_error(const char *what, int err)
{
        if (peer_gone(err))
                return 0;
        /* dprintf: unbuffered, no FILE state shared with anything else. */
        dprintf(STDERR_FILENO, "http-hello: %s: %s\n", what, strerror(err));
        return 1;
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

/* Reads whatever is available into buf (at most len bytes), retrying EINTR
 * and waiting out EAGAIN; `timed` (worker mode): waits at most TIMEOUT_SEC
 * for more (then -ETIMEDOUT), and tries without waiting first, so a request
 * already there costs one system call. Returns the byte count, 0 at end of
 * input, or -errno. */
static ssize_t read_some(int fd, char *buf, size_t len, bool timed)
{
        for (;;) {
                ssize_t n = timed ? recv(fd, buf, len, MSG_DONTWAIT) : read(fd, buf, len);
                if (n >= 0)
                        return n;
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN && errno != EWOULDBLOCK)
                        return -errno;
                if (timed) {
                        struct pollfd pfd = {.fd = fd, .events = POLLIN};
                        int k = poll(&pfd, 1, TIMEOUT_SEC * 1000);
                        if (k == 0)
                                return -ETIMEDOUT;
                        if (k < 0 && errno != EINTR)
                                return -errno;
                        continue;
                }
                int r = wait_fd(fd, POLLIN);
                if (r < 0)
                        return r;
        }
}

/* Looks for the empty line ending the head in buf[from, len): a LF followed
 * by LF or by CR LF (so CRLF CRLF, LF LF and mixtures all match). Returns the
 * offset just past it, or 0 if it is not there yet. */
static size_t find_head_end(const char *buf, size_t from, size_t len)
{
        for (size_t i = from; i + 1 < len; i++) {
                if (buf[i] != '\n')
                        continue;
                if (buf[i + 1] == '\n')
                        return i + 2;
                if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
                        return i + 3;
        }
        return 0;
}

/* RFC 9110 token characters, as allowed in a method name. */
static bool is_tchar(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Checks the request line at line (up to its LF, which must exist):
 * METHOD SP TARGET SP HTTP/1.0|HTTP/1.1 [CR] LF. Sets *ret_head for HEAD.
 * Returns true if it is well formed. */
static bool parse_request_line(const char *line, bool *ret_head)
{
        const char *p = line, *method = line;

        while (is_tchar(*p))
                p++;
        if (p == method || *p != ' ')
                return false;
        *ret_head = p - method == 4 && memcmp(method, "HEAD", 4) == 0;

        const char *target = ++p;
        while (*p > ' ' && *p < 0x7f)
                p++;
        if (p == target || *p != ' ')
                return false;
        p++;

        /* strncmp, not memcmp: it stops at the NUL that ends the buffer. */
        if (strncmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1'))
                return false;
        p += 8;
        if (*p == '\r')
                p++;
        return *p == '\n';
}

static int reply(int in, int fd, const char *msg, size_t len, bool drain)
{
        int r;

        replying = 1;
        r = write_all(fd, msg, len);
        if (r < 0)
                return io_error("write", -r);

        /* Discard request bytes that already arrived (a body, a pipelined
         * request): closing a socket with unread data sends a reset, which
         * can destroy the reply before the client has read it. Does not wait
         * for more; on a pipe recv fails with ENOTSOCK and this is a no-op. */
        char sink[4096];
        while (drain && recv(in, sink, sizeof(sink), MSG_DONTWAIT) > 0)
                ;
        return 0;
}

/* Read one request head from `in` and answer it on `out`. Returns the exit status. */
static int serve(int in, int out, bool worker)
{
        /* One byte more than HEAD_MAX: the NUL that bounds the line parser. */
        char buf[HEAD_MAX + 1];
        size_t len = 0, start = 0, end = 0;

        while (end == 0) {
                if (len == HEAD_MAX)
                        return reply(in, out, reply_bad, sizeof(reply_bad) - 1, true);

                ssize_t n = read_some(in, buf + len, HEAD_MAX - len, worker);
                if (n == -ETIMEDOUT && worker)
                        return reply(in, out, reply_timeout, sizeof(reply_timeout) - 1, true);
                if (n < 0)
                        return io_error("read", (int)-n);
                if (n == 0) {
                        /* Nothing but (optional) empty lines: a client that
                         * connected and left. Anything else is a cut-off
                         * request. */
                        if (start == len)
                                return 0;
                        return reply(in, out, reply_bad, sizeof(reply_bad) - 1, true);
                }

                /* Restart the scan two bytes back: an LF there may still be
                 * completed by the bytes just read. */
                size_t from = len >= 2 ? len - 2 : 0;
                len += (size_t)n;

                /* RFC 9112 2.2: ignore empty lines before the request line. */
                while (start < len && (buf[start] == '\r' || buf[start] == '\n'))
                        start++;
                if (from < start)
                        from = start;

                end = find_head_end(buf, from, len);
        }

        bool head = false;
        buf[len] = '\0';
        if (!parse_request_line(buf + start, &head))
                return reply(in, out, reply_bad, sizeof(reply_bad) - 1, true);

        /* Worker mode: the whole input was the head: nothing to drain, one system call saved per request. */
        if (worker)
                return reply(in, out, worker_reply_ok, head ? worker_body_at : worker_reply_len, end != len);
        size_t reply_len = sizeof(reply_ok) - 1;
        if (head)
                reply_len -= sizeof(BODY) - 1;
        return reply(in, out, reply_ok, reply_len, true);
}

static void on_term(int sig)
{
        (void)sig;
        terminating = 1;
}

/* LISTEN_FDS=1 for this very process (sd_listen_fds(3), without libsystemd). */
static bool socket_activated(void)
{
        const char *fds = getenv("LISTEN_FDS"), *pid = getenv("LISTEN_PID");

        return fds && pid && strcmp(fds, "1") == 0 && strtol(pid, NULL, 10) == (long)getpid();
}

/* Worker mode: accept on fd 3 in a loop until SIGTERM. Returns the exit status. */
static int serve_listener(void)
{
        const char *index = getenv("SUPERD_WORKER");
        struct sigaction sa = {.sa_handler = on_term}; /* no SA_RESTART: accept(2) returns EINTR */
        size_t head_len = sizeof(reply_ok) - 1 - (sizeof(BODY) - 1);
        int n;

        /* The reply of the plain mode with X-Superd-Worker before the empty line. */
        n = snprintf(worker_reply_ok, sizeof(worker_reply_ok), "%.*sX-Superd-Worker: %.8s %d\r\n\r\n%s",
                     (int)(head_len - 2), reply_ok, index ? index : "-", (int)getpid(), BODY);
        if (n < 0 || (size_t)n >= sizeof(worker_reply_ok))
                return 1;
        worker_reply_len = (size_t)n;
        worker_body_at = worker_reply_len - (sizeof(BODY) - 1);
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        unsetenv("LISTEN_FDS");
        unsetenv("LISTEN_PID");
        unsetenv("LISTEN_FDNAMES");
        while (!terminating) {
                int c = accept4(3, NULL, NULL, SOCK_CLOEXEC);
                if (c < 0) {
                        if (errno == EAGAIN || errno == EWOULDBLOCK) { /* handed over non-blocking */
                                struct pollfd p = {.fd = 3, .events = POLLIN};
                                (void)poll(&p, 1, -1); /* EINTR: SIGTERM is looked at */
                                continue;
                        }
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        dprintf(STDERR_FILENO, "http-hello: accept: %s\n", strerror(errno));
                        return 1;
                }
                replying = 0;
                (void)serve(c, c, true);
                close(c);
        }
        return 0;
}

int main(void)
{
        struct sigaction sa = {.sa_handler = on_timeout};

        /* A client that closes early must give EPIPE, not a fatal signal. */
        signal(SIGPIPE, SIG_IGN);
        if (socket_activated())
                return serve_listener();
        sigemptyset(&sa.sa_mask);
        sigaction(SIGALRM, &sa, NULL);
        alarm(TIMEOUT_SEC);
        return serve(STDIN_FILENO, STDOUT_FILENO, false);
}
