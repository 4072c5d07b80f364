/* SPDX-License-Identifier: MIT */
/*
 * Lifecycle and observability (DESIGN.md §6): sd_notify READY/RELOADING/STOPPING
 * through NOTIFY_SOCKET, SIGUSR1 counters, and the status socket as superctl
 * sees it (status, reload with FILE:LINE errors, mode 0600, removed at stop,
 * no wake-ups once its clients are gone).
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

TestSuite(lifecycle, .init = h_setup, .fini = h_teardown, .timeout = 60);

/* Bound on one sd_notify message or one log line to show up. */
#define EVENT_MS 5000
/* superctl's own bound on an exchange is 10 s; give it a little more. */
#define SUPERCTL_MS 15000

/* exec list of a handler that reads all input first (no unread data, so no RST), then says "hi". */
#define EXEC_SAY_HI "\"/bin/sh\", \"-c\", \"cat >/dev/null; echo hi\""

/* Drop-in FILE with one service NAME on 127.0.0.1:PORT that answers "hi". */
static void say_hi_dropin(const char *file, const char *name, uint16_t port)
{
        h_dropin(file,
                 "service %s {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    exec   = { %s }\n"
                 "    user   = \"%s\"\n"
                 "}\n",
                 name, port, EXEC_SAY_HI, H.user);
}

/* The main file with `status-socket = "DIR/status.sock"`; returns that path. */
static char *main_conf_with_status_socket(void)
{
        char *path = h_path("status.sock");
        char *extra = h_format("status-socket = \"%s\"\n", path);

        h_main_conf(extra);
        free(extra);
        return path;
}

/* Send N requests to 127.0.0.1:PORT, each answered "hi", then wait until every handler is reaped. */
static void send_requests(uint16_t port, int n)
{
        for (int i = 0; i < n; i++) {
                char *out;
                ssize_t r = h_request(AF_INET, port, "x\n", &out);

                h_assert(r >= 0 && strcmp(out, "hi\n") == 0, "request %d to port %u: %zd, got \"%s\"", i + 1, port, r,
                         out);
                free(out);
        }
        h_assert(h_wait_no_children(H.pid, H_REAP_MS * 5) == 0, "handlers still running after %d requests", n);
}

/* ---- sd_notify ---- */

/* An AF_UNIX datagram socket bound to DIR/notify.sock, standing in for systemd's NOTIFY_SOCKET. */
static int notify_socket(char **ret_path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        char *path = h_path("notify.sock");
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        h_assert(fd >= 0, "socket: %s", strerror(errno));
        h_assert(strlen(path) < sizeof(sa.sun_path), "%s is too long for a socket path", path);
        strcpy(sa.sun_path, path);
        h_assert(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind %s: %s", path, strerror(errno));
        *ret_path = path;
        return fd;
}

/*
 * Receive notify messages until one contains the line WANT ("READY=1"),
 * within EVENT_MS. Returns that whole message (malloc'd); fails the test
 * otherwise, showing what did arrive.
 */
static char *expect_notify(int fd, const char *want, const char *when)
{
        int64_t deadline = h_now_ms() + EVENT_MS;
        char *seen = h_format("%s", "");

        for (;;) {
                struct pollfd pfd = {.fd = fd, .events = POLLIN};
                int64_t left = deadline - h_now_ms();
                char buf[4096], *p;
                ssize_t n;

                h_assert(left > 0, "%s: no %s from superd within %d ms; messages seen:\n%s", when, want, EVENT_MS,
                         seen);
                if (poll(&pfd, 1, (int)left) <= 0)
                        continue;
                n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
                if (n <= 0)
                        continue;
                buf[n] = '\0';
                /* Match whole lines: "READY=1" must not match inside another variable. */
                for (p = buf; (p = strstr(p, want)); p++)
                        if ((p == buf || p[-1] == '\n') && (p[strlen(want)] == '\0' || p[strlen(want)] == '\n')) {
                                free(seen);
                                return strdup(buf);
                        }
                p = h_format("%s[%s]\n", seen, buf);
                free(seen);
                seen = p;
        }
}

/* The value of VAR= in a notify message, or NULL. */
static const char *notify_var(const char *msg, const char *var)
{
        size_t len = strlen(var);

        for (const char *p = msg; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
                if (strncmp(p, var, len) == 0 && p[len] == '=')
                        return p + len + 1;
        return NULL;
}

Test(lifecycle, notify_ready_reloading_stopping)
{
        uint16_t port = h_free_port();
        char *path, *env, *msg;
        const char *usec;
        struct timespec ts;
        uint64_t now_usec;
        int fd, status;

        fd = notify_socket(&path);
        env = h_format("NOTIFY_SOCKET=%s", path);
        unsetenv("NOTIFY_SOCKET"); /* ours, if the tests themselves run under systemd, would come first */
        h_main_conf(NULL);
        say_hi_dropin("hi.conf", "hi", port);
        h_start((const char *const[]){env, NULL}, AF_INET, port, 0);

        msg = expect_notify(fd, "READY=1", "start");
        free(msg);

        h_assert(kill(H.pid, SIGHUP) == 0, "kill: %s", strerror(errno));
        msg = expect_notify(fd, "RELOADING=1", "SIGHUP");
        usec = notify_var(msg, "MONOTONIC_USEC");
        h_assert(usec != NULL, "RELOADING=1 without MONOTONIC_USEC: [%s]", msg);
        clock_gettime(CLOCK_MONOTONIC, &ts);
        now_usec = (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
        h_assert(strtoull(usec, NULL, 10) > 0 && strtoull(usec, NULL, 10) <= now_usec &&
                     now_usec - strtoull(usec, NULL, 10) < EVENT_MS * 1000ULL,
                 "MONOTONIC_USEC=%.*s is not CLOCK_MONOTONIC now (%llu)", (int)strcspn(usec, "\n"), usec,
                 (unsigned long long)now_usec);
        free(msg);
        msg = expect_notify(fd, "READY=1", "after the reload");
        free(msg);

        status = h_stop(NULL);
        msg = expect_notify(fd, "STOPPING=1", "SIGTERM");
        free(msg);
        h_assert(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "superd ended with %s",
                 h_status_str(status));
        close(fd);
        free(env);
        free(path);
}

/* ---- SIGUSR1 ---- */

/* Wait up to EVENT_MS for a log line that contains both A and B. */
static bool log_line_with(const char *a, const char *b)
{
        int64_t deadline = h_now_ms() + EVENT_MS;

        for (;;) {
                char *log = h_log();
                bool found = false;

                for (char *line = strtok(log, "\n"); line && !found; line = strtok(NULL, "\n"))
                        found = strstr(line, a) && strstr(line, b);
                free(log);
                if (found || h_now_ms() > deadline)
                        return found;
                usleep(10000);
        }
}

Test(lifecycle, sigusr1_logs_counters)
{
        uint16_t port = h_free_port(), other = h_free_port();

        h_main_conf(NULL);
        say_hi_dropin("busy.conf", "busy", port);
        say_hi_dropin("quiet.conf", "quiet", other);
        h_start(NULL, AF_INET, port, AF_INET, other, 0);
        send_requests(port, 3);

        h_assert(kill(H.pid, SIGUSR1) == 0, "kill: %s", strerror(errno));
        h_assert(log_line_with("busy: ", "accepted 3,"), "no \"busy: ... accepted 3\" line after SIGUSR1");
        h_assert(log_line_with("busy: ", "running 0,"), "SIGUSR1 does not show busy with 0 handlers running");
        h_assert(log_line_with("quiet: ", "accepted 0,"), "no \"quiet: ... accepted 0\" line after SIGUSR1");
        h_assert(h_wait_exit(0) == -1, "superd exited on SIGUSR1");
}

/* ---- superctl and the status socket ---- */

static const char *superctl(void)
{
        const char *s = getenv("SUPERCTL");

        cr_assert(s != NULL && *s != '\0', "SUPERCTL is not set: run through `meson test`");
        cr_assert(access(s, X_OK) == 0, "SUPERCTL=%s: %s", s, strerror(errno));
        return s;
}

/* Run `superctl -s SOCKET COMMAND`; returns its exit status (-1: did not exit), output in *ret_out and *ret_err. */
static int run_superctl(const char *socket_path, const char *command, char **ret_out, char **ret_err)
{
        const char *argv[] = {superctl(), "-s", socket_path, command, NULL};
        int status = h_run(argv, NULL, NULL, ret_out, ret_err, SUPERCTL_MS);

        return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * Wait up to H_START_MS until something accepts connections on the unix
 * socket PATH (h_start() only waits for the TCP listeners). The probe
 * connection closes without a request, which superd must take in its stride.
 */
static void wait_status_socket(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int64_t deadline = h_now_ms() + H_START_MS;

        h_assert(strlen(path) < sizeof(sa.sun_path), "%s is too long for a socket path", path);
        strcpy(sa.sun_path, path);
        for (;;) {
                int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), r, error;

                h_assert(fd >= 0, "socket: %s", strerror(errno));
                r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
                error = errno;
                close(fd);
                if (r == 0)
                        return;
                h_assert(h_now_ms() < deadline, "nothing accepts on the status socket %s %d ms after start: %s", path,
                         H_START_MS, strerror(error));
                h_assert(h_wait_exit(0) == -1, "superd exited");
                usleep(5000);
        }
}

/* Start superd with a status socket and the service "busy" on PORT; returns the socket's path. */
static char *start_with_status_socket(uint16_t port)
{
        char *path = main_conf_with_status_socket();

        say_hi_dropin("busy.conf", "busy", port);
        h_start(NULL, AF_INET, port, 0);
        wait_status_socket(path);
        return path;
}

Test(lifecycle, superctl_status_shows_counters)
{
        uint16_t port = h_free_port();
        char *sock = start_with_status_socket(port), *out, *err, *listener = h_format("127.0.0.1:%u", port);
        char name[64], listeners[256], paused[8];
        unsigned long running, accepted, failed, refused;
        bool found = false;
        int rc;

        send_requests(port, 3);
        rc = run_superctl(sock, "status", &out, &err);
        h_assert(rc == 0, "superctl status exited %d\nstdout:\n%s\nstderr:\n%s", rc, out, err);
        for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
                if (sscanf(line, "%63s %255s %lu %lu %lu %lu %7s", name, listeners, &running, &accepted, &failed,
                           &refused, paused) != 7 ||
                    strcmp(name, "busy") != 0)
                        continue;
                found = true;
                h_assert(strcmp(listeners, listener) == 0, "LISTENERS is %s, expected %s", listeners, listener);
                h_assert(running == 0 && accepted == 3 && failed == 0 && refused == 0 && strcmp(paused, "no") == 0,
                         "busy: running %lu, accepted %lu, failed %lu, refused %lu, paused %s; expected 0 3 0 0 no",
                         running, accepted, failed, refused, paused);
        }
        h_assert(found, "no row for service busy in superctl status:\n%s", out);
        free(err);
        free(out);
        free(listener);
        free(sock);
}

Test(lifecycle, superctl_reload_reports_errors_then_applies)
{
        uint16_t port = h_free_port(), port2 = h_free_port();
        char *sock = start_with_status_socket(port), *out, *err, *want;
        int rc;

        /* Line 3 is wrong: the error must name broken.conf:3. */
        h_dropin("broken.conf",
                 "service broken {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    no-such-key = 1\n"
                 "    exec   = { \"/bin/cat\" }\n"
                 "}\n",
                 port2);
        rc = run_superctl(sock, "reload", &out, &err);
        want = h_format("%s/broken.conf:3", H.services);
        h_assert(rc == 1, "superctl reload of a broken drop-in exited %d, expected 1\nstdout:\n%s\nstderr:\n%s", rc,
                 out, err);
        h_assert(strstr(err, want) != NULL, "superctl reload does not report %s:\n%s", want, err);
        h_assert(!h_listening(AF_INET, port2), "the broken service listens on %u", port2);
        send_requests(port, 1); /* the old set still runs */
        free(out);
        free(err);
        free(want);

        say_hi_dropin("broken.conf", "fixed", port2);
        rc = run_superctl(sock, "reload", &out, &err);
        h_assert(rc == 0, "superctl reload exited %d, expected 0\nstdout:\n%s\nstderr:\n%s", rc, out, err);
        h_assert(strstr(out, "reloaded: 2 services") != NULL, "superctl reload said:\n%s", out);
        h_assert(h_listening(AF_INET, port2), "the new service does not listen on %u after the reload", port2);
        send_requests(port2, 1);
        free(out);
        free(err);
        free(sock);
}

Test(lifecycle, status_socket_is_private_and_removed_at_stop)
{
        uint16_t port = h_free_port();
        char *sock = start_with_status_socket(port);
        struct stat st;
        int status;

        h_assert(lstat(sock, &st) == 0, "no status socket at %s: %s", sock, strerror(errno));
        h_assert(S_ISSOCK(st.st_mode), "%s is not a socket", sock);
        h_assert((st.st_mode & 07777) == 0600, "%s has mode %04o, expected 0600", sock, st.st_mode & 07777);
        status = h_stop(NULL);
        h_assert(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "superd ended with %s",
                 h_status_str(status));
        h_assert(lstat(sock, &st) < 0 && errno == ENOENT, "%s is still there after superd stopped", sock);
        free(sock);
}

Test(lifecycle, stale_status_socket_is_replaced)
{
        uint16_t port = h_free_port();
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        char *sock = main_conf_with_status_socket(), *out;
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), rc;

        /* A socket file nobody listens on, as a superd killed with SIGKILL leaves it. */
        strcpy(sa.sun_path, sock);
        h_assert(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind %s: %s", sock, strerror(errno));
        close(fd);
        say_hi_dropin("busy.conf", "busy", port);
        h_start(NULL, AF_INET, port, 0);
        wait_status_socket(sock);
        rc = run_superctl(sock, "status", &out, NULL);
        h_assert(rc == 0, "superctl status exited %d over a replaced stale socket", rc);
        free(out);
        free(sock);
}

/* voluntary_ctxt_switches of PID: how often it went to sleep, i.e. was woken up. */
static long wakeups(pid_t pid)
{
        char buf[64];

        h_assert(h_proc_status(pid, "voluntary_ctxt_switches", buf, sizeof(buf)), "no /proc/%d/status", (int)pid);
        return atol(buf);
}

Test(lifecycle, status_socket_costs_no_wakeups_when_idle)
{
        uint16_t port = h_free_port();
        char *sock = start_with_status_socket(port), *out;
        long before, after;
        int rc;

        rc = run_superctl(sock, "status", &out, NULL);
        h_assert(rc == 0, "superctl status exited %d", rc);
        free(out);
        /* The client is gone; its idle timer must be gone too. */
        usleep(300 * 1000);
        before = wakeups(H.pid);
        sleep(2);
        after = wakeups(H.pid);
        h_assert(after == before, "idle superd woke up %ld times in 2 s after a status request", after - before);
        free(sock);
}

Test(lifecycle, superctl_errors_without_superd)
{
        char *sock = h_path("nobody-here.sock"), *out, *err;
        const char *argv[] = {superctl(), "frobnicate", NULL};
        int rc, status;

        rc = run_superctl(sock, "status", &out, &err);
        h_assert(rc == 3, "superctl on a missing socket exited %d, expected 3", rc);
        h_assert(strstr(err, sock) != NULL && strstr(err, strerror(ENOENT)) != NULL,
                 "superctl's message does not name the path and the error:\n%s", err);
        free(out);
        free(err);
        status = h_run(argv, NULL, NULL, NULL, NULL, SUPERCTL_MS);
        h_assert(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 2,
                 "superctl with an unknown command: %s, expected exit status 2", h_status_str(status));
        free(sock);
}

/* Connect to the unix socket PATH; returns a blocking CLOEXEC socket. */
static int connect_unix(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        h_assert(fd >= 0, "socket: %s", strerror(errno));
        strcpy(sa.sun_path, path);
        h_assert(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect %s: %s", path, strerror(errno));
        return fd;
}

/* Send TEXT as one raw request on a new connection and return everything superd answers (malloc'd). */
static char *raw_request(const char *path, const char *text, size_t len)
{
        int fd = connect_unix(path);
        char *out;
        ssize_t r = h_exchange(fd, text, len, &out, H_IO_MS);

        h_assert(r >= 0, "raw request to %s: %s", path, strerror((int)-r));
        close(fd);
        return out;
}

Test(lifecycle, status_socket_survives_bad_clients)
{
        uint16_t port = h_free_port();
        char *sock = start_with_status_socket(port), *out, long_line[1024];
        int idle[20];
        int rc;

        out = raw_request(sock, "bogus\n", 6);
        h_assert(strstr(out, "\"error\"") && strstr(out, "unknown command"), "reply to \"bogus\": %s", out);
        free(out);
        memset(long_line, 'a', sizeof(long_line));
        out = raw_request(sock, long_line, sizeof(long_line));
        h_assert(*out == '\0', "a %zu-byte line without newline got a reply: %.80s", sizeof(long_line), out);
        free(out);
        out = raw_request(sock, "status\r\n", 8);
        h_assert(strstr(out, "\"busy\"") != NULL, "reply to \"status\\r\\n\": %s", out);
        free(out);

        /* More idle clients than superd serves at once (16): the extra ones are closed at once. */
        for (int i = 0; i < 20; i++)
                idle[i] = connect_unix(sock);
        for (int64_t deadline = h_now_ms() + H_IO_MS;;) {
                int closed = 0;

                for (int i = 0; i < 20; i++) {
                        struct pollfd pfd = {.fd = idle[i], .events = POLLIN};
                        char c;

                        closed += poll(&pfd, 1, 0) == 1 && recv(idle[i], &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
                }
                h_assert(closed <= 4, "%d of 20 idle clients were closed, expected 4 (16 are served)", closed);
                if (closed == 4)
                        break;
                h_assert(h_now_ms() < deadline, "only %d of 20 idle clients were closed, expected 4", closed);
                usleep(10000);
        }
        for (int i = 0; i < 20; i++)
                close(idle[i]);
        /* Once superd has seen them go, it serves again (it may take a moment to notice). */
        for (int64_t deadline = h_now_ms() + 2000;;) {
                rc = run_superctl(sock, "status", &out, NULL);
                free(out);
                if (rc == 0 || h_now_ms() > deadline)
                        break;
                usleep(20000);
        }
        h_assert(rc == 0, "superctl status after 20 idle clients exited %d", rc);
        h_assert(h_wait_exit(0) == -1, "superd exited");
        free(sock);
}

Test(lifecycle, stop_with_status_clients_connected)
{
        uint16_t port = h_free_port();
        char *sock = start_with_status_socket(port);
        int idle = connect_unix(sock), partial = connect_unix(sock), status;

        h_assert(h_write_all(partial, "sta", 3, H_IO_MS) == 0, "write");
        usleep(100 * 1000);
        status = h_stop(NULL);
        h_assert(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                 "superd with status clients connected ended with %s", h_status_str(status));
        close(idle);
        close(partial);
        free(sock);
}

/* ---- a listener that cannot be opened ---- */

/* A socket listening on 127.0.0.1:PORT, so that superd cannot bind it. */
static int occupy(uint16_t port)
{
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        h_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(fd, 1) == 0,
                 "occupy 127.0.0.1:%u: %s", port, strerror(errno));
        return fd;
}

Test(lifecycle, busy_port_does_not_stop_the_other_services_and_is_retried)
{
        uint16_t port = h_free_port(), taken = h_free_port();
        char *sock = main_conf_with_status_socket(), *path, *env, *msg, *out, *err, *want;
        int notify, busy, rc;

        notify = notify_socket(&path);
        env = h_format("NOTIFY_SOCKET=%s", path);
        unsetenv("NOTIFY_SOCKET");
        say_hi_dropin("busy.conf", "busy", port);
        say_hi_dropin("blocked.conf", "blocked", taken);
        busy = occupy(taken);
        h_start((const char *const[]){env, NULL}, AF_INET, port, 0);

        /* Started, serving the service it could open, saying which one it could not. */
        msg = expect_notify(notify, "READY=1", "start");
        want = h_format("blocked 127.0.0.1:%u: Address already in use", taken);
        h_assert(notify_var(msg, "STATUS") && strstr(notify_var(msg, "STATUS"), "1 listener(s) not open") &&
                     strstr(notify_var(msg, "STATUS"), want),
                 "STATUS= does not name the listener that is not open: [%s]", msg);
        free(want);
        free(msg);
        want = h_format("cannot listen on 127.0.0.1:%u", taken);
        h_assert(log_line_with(want, "retrying in 1 s"), "the log does not say \"%s ... retrying in 1 s\"", want);
        free(want);
        send_requests(port, 2);
        wait_status_socket(sock);
        rc = run_superctl(sock, "status", &out, &err);
        want = h_format("blocked: not listening on 127.0.0.1:%u: Address already in use (retrying)", taken);
        h_assert(rc == 0 && strstr(out, want), "superctl status (exit %d) does not say \"%s\":\n%s%s", rc, want, out,
                 err);
        free(want);
        free(out);
        free(err);

        /* The port comes free: superd takes it within its back-off (1 s, then 2 s, ...). */
        close(busy);
        msg = expect_notify(notify, "STATUS=2 service(s), 0 handler(s) running", "the retry");
        free(msg);
        h_assert(h_listening(AF_INET, taken), "STATUS= says every listener is open, but %u is not listening", taken);
        send_requests(taken, 1);
        want = h_format("listening on 127.0.0.1:%u now", taken);
        h_assert(log_line_with("blocked: ", want), "the log does not say \"%s\"", want);
        free(want);
        rc = run_superctl(sock, "status", &out, &err);
        h_assert(rc == 0 && !strstr(out, "not listening"), "superctl status still reports a listener:\n%s", out);
        free(out);
        free(err);
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
        close(notify);
        free(env);
        free(path);
        free(sock);
}

Test(lifecycle, counters_survive_a_reload)
{
        uint16_t port = h_free_port(), other = h_free_port();
        char *sock = start_with_status_socket(port), *out, *err;
        unsigned long running, accepted, failed, refused;
        char name[64], listeners[256], paused[8];
        bool found = false;
        int rc;

        send_requests(port, 3);
        say_hi_dropin("other.conf", "other", other);
        rc = run_superctl(sock, "reload", &out, &err);
        h_assert(rc == 0, "superctl reload exited %d: %s%s", rc, out, err);
        free(out);
        free(err);
        send_requests(port, 1);

        rc = run_superctl(sock, "status", &out, &err);
        h_assert(rc == 0, "superctl status exited %d: %s", rc, err);
        for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
                if (sscanf(line, "%63s %255s %lu %lu %lu %lu %7s", name, listeners, &running, &accepted, &failed,
                           &refused, paused) == 7 &&
                    strcmp(name, "busy") == 0) {
                        found = true;
                        h_assert(accepted == 4, "busy accepted %lu after a reload, expected 3 + 1", accepted);
                }
        h_assert(found, "no row for busy");
        free(out);
        free(err);
        h_assert(kill(H.pid, SIGUSR1) == 0, "kill: %s", strerror(errno));
        h_assert(log_line_with("busy: ", "accepted 4,"), "SIGUSR1 does not show busy with accepted 4");
        free(sock);
}
