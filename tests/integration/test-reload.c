/* SPDX-License-Identifier: MIT */
/*
 * Reload on SIGHUP (DESIGN.md §2, §6, §7): services are added and removed,
 * unchanged listeners keep their socket (and their backlog) even when they
 * move to another service, nothing is refused during a reload, a bad drop-in
 * leaves the running set untouched, and running handlers are neither killed
 * nor forgotten.
 */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

TestSuite(reload, .init = h_setup, .fini = h_teardown, .timeout = 60);

/* Bound on SIGHUP -> "reloaded"/"reload failed" in the log. */
#define RELOAD_MS 5000
/* Bound on a listener appearing or disappearing after a reload (the brief's "within ~1 s"). */
#define LISTEN_MS 1000
/* How long a count must stay put to count as "not changing" (a negative can only be sampled). */
#define SETTLE_MS 300

/* Expected outcome of reload(): a number of services, or one of these. */
#define RELOAD_FAILS (-1)   /* "reload failed", the running set unchanged */
#define RELOAD_ANY_OK (-2)  /* "reloaded", whatever the count */

/* exec lists (the inside of `exec = { ... }`). */
#define EXEC_CAT "\"/bin/cat\""
/* Reads all input first (no unread data, so no RST), then says WORD. */
#define EXEC_SAY(word) "\"/bin/sh\", \"-c\", \"cat >/dev/null; echo " word "\""

/* Write drop-in FILE with one service NAME on 127.0.0.1:PORT running EXEC, plus EXTRA lines (may be ""). */
static void service_dropin(const char *file, const char *name, uint16_t port, const char *exec, const char *extra)
{
        h_dropin(file,
                 "service %s {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    exec   = { %s }\n"
                 "    user   = \"%s\"\n"
                 "%s"
                 "}\n",
                 name, port, exec, H.user, extra);
}

static void remove_dropin(const char *file)
{
        char *path = h_format("%s/%s", H.services, file);

        h_assert(unlink(path) == 0, "unlink %s: %s", path, strerror(errno));
        free(path);
}


static bool log_has(const char *needle)
{
        return h_log_count(needle) > 0;
}

/*
 * SIGHUP superd and wait until it logged the outcome: EXPECT services
 * reloaded, RELOAD_ANY_OK, or RELOAD_FAILS.
 */
static void reload(int expect)
{
        static const char ok_mark[] = "superd: reloaded: ", failed_mark[] = "superd: reload failed";
        int ok0 = h_log_count(ok_mark), failed0 = h_log_count(failed_mark), ok = ok0, failed = failed0;
        int64_t deadline = h_now_ms() + RELOAD_MS;
        int status;

        h_assert(H.pid > 0 && kill(H.pid, SIGHUP) == 0, "cannot send SIGHUP to superd: %s", strerror(errno));
        while (ok == ok0 && failed == failed0 && h_now_ms() < deadline) {
                status = h_wait_exit(0);
                h_assert(status == -1, "superd exited on SIGHUP: %s", h_status_str(status));
                usleep(5000);
                ok = h_log_count(ok_mark);
                failed = h_log_count(failed_mark);
        }
        h_assert(ok > ok0 || failed > failed0, "no \"reloaded\" or \"reload failed\" in the log %d ms after SIGHUP",
                 RELOAD_MS);
        if (expect == RELOAD_FAILS) {
                h_assert(failed > failed0 && ok == ok0, "the reload succeeded, expected \"reload failed\"");
                return;
        }
        h_assert(ok > ok0 && failed == failed0, "the reload failed, expected it to succeed");
        if (expect >= 0) {
                char *want = h_format("superd: reloaded: %d service(s)\n", expect);

                h_assert(h_log_count(want) > 0, "no \"%.*s\" in the log after the reload", (int)strlen(want) - 1, want);
                free(want);
        }
        status = h_wait_exit(0);
        h_assert(status == -1, "superd exited after the reload: %s", h_status_str(status));
}

/* Wait up to MS for 127.0.0.1 (AF_INET) / [::] or [::1] (AF_INET6) PORT to be listening (WANT) or not. */
static bool wait_listening(int family, uint16_t port, bool want, int ms)
{
        int64_t deadline = h_now_ms() + ms;

        /* One scan per round: /proc/net/tcp can be slow to read when the host has many sockets. */
        for (;;) {
                bool ok = h_listening(family, port) == want;

                if (ok || h_now_ms() >= deadline)
                        return ok;
                usleep(5000);
        }
}



/* The inode of superd's listener on 127.0.0.1:PORT, checked to be one of superd's own fds. */
static unsigned long superd_listener(uint16_t port)
{
        unsigned long inode = h_listen_inode(AF_INET, port);

        h_assert(inode != 0, "no LISTEN socket on 127.0.0.1:%u in /proc/net/tcp", port);
        h_assert(h_holds_socket(H.pid, inode), "the socket listening on %u (inode %lu) is not an fd of superd %d",
                 port, inode, (int)H.pid);
        return inode;
}

/* Send TEXT to 127.0.0.1:PORT, half-close, expect exactly WANT back. */
static void expect_reply(uint16_t port, const char *text, const char *want)
{
        char *out;
        ssize_t n = h_request(AF_INET, port, text, &out);

        h_assert(n >= 0, "request to 127.0.0.1:%u failed: %s", port, strerror((int)-n));
        h_assert(strcmp(out, want) == 0, "127.0.0.1:%u: sent \"%s\", expected \"%s\", got %zd bytes \"%s\"", port,
                 text, want, n, out);
        free(out);
}

static void expect_echo(uint16_t port, const char *line)
{
        expect_reply(port, line, line);
}

/* A connection to 127.0.0.1:PORT is refused. */
static void expect_refused(uint16_t port)
{
        int fd = h_connect(AF_INET, port);

        if (fd >= 0)
                close(fd);
        h_assert(fd == -ECONNREFUSED, "connection to 127.0.0.1:%u: %s, expected ECONNREFUSED", port,
                 fd >= 0 ? "accepted" : strerror(-fd));
}

/* Live (non-zombie) children of superd now. */
static int live_children(void)
{
        return h_wait_children(H.pid, 1 << 30, 0);
}

/*
 * End of every test: SIGTERM superd and expect exit status 0. Under a
 * sanitizer build (SUPERD_ASAN_OPTIONS) this is where a leak or a memory
 * error left behind by a reload shows.
 */
static void stop_clean(void)
{
        int status = h_stop(NULL);

        h_assert(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                 "superd did not stop cleanly after the test: %s", h_status_str(status));
}

Test(reload, add_service)
{
        uint16_t p1 = h_free_port(), p2 = h_free_port();

        h_main_conf(NULL);
        service_dropin("a.conf", "a", p1, EXEC_CAT, "");
        h_start(NULL, AF_INET, p1, 0);
        expect_echo(p1, "a before\n");
        h_assert(!h_listening(AF_INET, p2), "port %u listens before service b exists", p2);

        service_dropin("b.conf", "b", p2, EXEC_SAY("service-b"), "");
        reload(2);
        h_assert(wait_listening(AF_INET, p2, true, LISTEN_MS), "added service b does not listen on %u %d ms after the reload",
                 p2, LISTEN_MS);
        expect_reply(p2, "hello b\n", "service-b\n");
        expect_echo(p1, "a after\n");
        stop_clean();
}

Test(reload, remove_service)
{
        uint16_t p1 = h_free_port(), p2 = h_free_port();

        h_main_conf(NULL);
        service_dropin("a.conf", "a", p1, EXEC_CAT, "");
        service_dropin("b.conf", "b", p2, EXEC_SAY("service-b"), "");
        h_start(NULL, AF_INET, p1, AF_INET, p2, 0);
        expect_reply(p2, "hello b\n", "service-b\n");

        remove_dropin("b.conf");
        reload(1);
        h_assert(wait_listening(AF_INET, p2, false, LISTEN_MS),
                 "port %u of removed service b still listening %d ms after the reload", p2, LISTEN_MS);
        expect_refused(p2);
        expect_echo(p1, "a after\n");
        stop_clean();
}

Test(reload, unchanged_listener_keeps_socket_and_new_exec_applies)
{
        uint16_t p1 = h_free_port();
        unsigned long before, after;

        h_main_conf(NULL);
        service_dropin("a.conf", "a", p1, EXEC_CAT, "");
        h_start(NULL, AF_INET, p1, 0);
        before = superd_listener(p1);
        expect_echo(p1, "cat before the reload\n");

        service_dropin("a.conf", "a", p1, EXEC_SAY("changed"), "");
        reload(1);
        after = superd_listener(p1);
        h_assert(after == before, "listener on %u was reopened: socket inode %lu before the reload, %lu after", p1,
                 before, after);
        expect_reply(p1, "cat no more\n", "changed\n");
        stop_clean();
}

/* The client side of no_refused_connection_during_reloads. */
struct client_loop {
        uint16_t port;
        atomic_bool stop;
        atomic_int made;   /* connections that completed an exchange (good or bad) */
        atomic_int failed;
        char first_failure[256];
};

static void *client_loop_run(void *arg)
{
        struct client_loop *c = arg;

        while (!atomic_load(&c->stop)) {
                int i = atomic_load(&c->made);
                char line[64], *out;
                ssize_t n;

                snprintf(line, sizeof(line), "connection %d\n", i);
                n = h_request(AF_INET, c->port, line, &out);
                if (n < 0 || strcmp(out, line) != 0) {
                        if (atomic_fetch_add(&c->failed, 1) == 0)
                                snprintf(c->first_failure, sizeof(c->first_failure),
                                         "connection %d: %s, got %zd bytes \"%.64s\"", i,
                                         n < 0 ? strerror((int)-n) : "wrong echo", n, out);
                }
                free(out);
                atomic_fetch_add(&c->made, 1);
        }
        return NULL;
}

/* Variant 0: a (env V=0) and b; variant 1: a (env V=1) alone. Every reload changes something. */
static void write_variant(int v, uint16_t p1, uint16_t p2)
{
        char *env = h_format("    env    = { \"VARIANT=%d\" }\n", v);

        service_dropin("a.conf", "a", p1, EXEC_CAT, env);
        if (v == 0)
                service_dropin("b.conf", "b", p2, EXEC_SAY("service-b"), "");
        else
                remove_dropin("b.conf");
        free(env);
}

#define N_RELOADS 20
#define RELOAD_GAP_MS 50
/* Connections the client must complete between two reloads: reloads and connections really overlap. */
#define CONNS_PER_GAP 15

Test(reload, no_refused_connection_during_reloads)
{
        uint16_t p1 = h_free_port(), p2 = h_free_port();
        struct client_loop c = { .port = p1 };
        pthread_t thread;
        int made, failed;

        h_main_conf(NULL);
        write_variant(0, p1, p2);
        h_start(NULL, AF_INET, p1, AF_INET, p2, 0);
        expect_echo(p1, "warm-up\n");

        cr_assert(pthread_create(&thread, NULL, client_loop_run, &c) == 0);
        for (int i = 1; i <= N_RELOADS && atomic_load(&c.failed) == 0; i++) {
                int64_t start = h_now_ms(), deadline = start + 5000;
                int base = atomic_load(&c.made);

                while ((h_now_ms() < start + RELOAD_GAP_MS || atomic_load(&c.made) < base + CONNS_PER_GAP) &&
                       h_now_ms() < deadline && atomic_load(&c.failed) == 0)
                        usleep(2000);
                if (atomic_load(&c.failed))
                        break;
                if (atomic_load(&c.made) < base + CONNS_PER_GAP) {
                        atomic_store(&c.stop, true);
                        pthread_join(thread, NULL);
                        h_assert(false, "before reload %d: only %d connections in 5 s (expected %d)", i,
                                 atomic_load(&c.made) - base, CONNS_PER_GAP);
                }
                write_variant(i % 2, p1, p2);
                reload(i % 2 ? 1 : 2);
        }
        /* Keep the client going a little after the last reload too. */
        usleep(RELOAD_GAP_MS * 1000);
        atomic_store(&c.stop, true);
        pthread_join(thread, NULL);
        made = atomic_load(&c.made);
        failed = atomic_load(&c.failed);
        h_assert(failed == 0, "%d of %d connections to %u failed during %d reloads; first: %s", failed, made, p1,
                 N_RELOADS, c.first_failure);
        h_assert(h_log_count("superd: reloaded: ") == N_RELOADS, "%d reloads logged, expected %d",
                 h_log_count("superd: reloaded: "), N_RELOADS);
        h_assert(made >= N_RELOADS * CONNS_PER_GAP, "only %d connections made during %d reloads", made, N_RELOADS);
        expect_echo(p1, "after the reloads\n");
        stop_clean();
}

Test(reload, bad_dropin_keeps_running_set_then_fix_applies)
{
        uint16_t p1 = h_free_port(), p2 = h_free_port(), p3 = h_free_port();
        unsigned long before;
        char *want;

        h_main_conf(NULL);
        service_dropin("a.conf", "a", p1, EXEC_CAT, "");
        h_start(NULL, AF_INET, p1, 0);
        before = superd_listener(p1);

        /* A valid change to a, a valid new b and a broken c in the same reload: none of it may apply. */
        service_dropin("a.conf", "a", p1, EXEC_SAY("changed"), "");
        h_dropin("bc.conf",
                 "service b {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    exec   = { " EXEC_SAY("service-b") " }\n"
                 "    user   = \"%s\"\n"
                 "}\n"
                 "service c {\n"
                 "    listen = { \"127.0.0.1:99999\" }\n" /* line 7: port out of range */
                 "    exec   = { " EXEC_SAY("service-c") " }\n"
                 "    user   = \"%s\"\n"
                 "}\n",
                 p2, H.user, H.user);
        reload(RELOAD_FAILS);
        want = h_format("superd: reload: %s/bc.conf:7: ", H.services);
        h_assert(log_has(want), "the log does not report the error as \"%s...\"", want);
        free(want);
        h_assert(log_has("superd: reload failed: configuration is invalid; the running services are unchanged\n"),
                 "the log lacks the \"reload failed\" line");
        expect_echo(p1, "a is still cat\n");
        h_assert(superd_listener(p1) == before, "a failed reload reopened the listener on %u", p1);
        h_assert(!h_listening(AF_INET, p2), "service b of the failed reload listens on %u", p2);

        h_dropin("bc.conf",
                 "service b {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    exec   = { " EXEC_SAY("service-b") " }\n"
                 "    user   = \"%s\"\n"
                 "}\n"
                 "service c {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    exec   = { " EXEC_SAY("service-c") " }\n"
                 "    user   = \"%s\"\n"
                 "}\n",
                 p2, H.user, p3, H.user);
        reload(3);
        h_assert(wait_listening(AF_INET, p3, true, LISTEN_MS), "fixed service c does not listen on %u", p3);
        h_assert(wait_listening(AF_INET, p2, true, LISTEN_MS), "service b does not listen on %u", p2);
        expect_reply(p3, "hello c\n", "service-c\n");
        expect_reply(p2, "hello b\n", "service-b\n");
        expect_reply(p1, "hello a\n", "changed\n");
        h_assert(superd_listener(p1) == before, "the listener on %u was reopened", p1);
        stop_clean();
}

/* Start a (cat on P1) and s (cat on P2), open a connection to s and return its handler's pid in *ret_handler. */
static int start_with_running_handler(uint16_t p1, uint16_t p2, pid_t *ret_handler)
{
        int fd;

        h_main_conf(NULL);
        service_dropin("a.conf", "a", p1, EXEC_CAT, "");
        service_dropin("s.conf", "s", p2, EXEC_CAT, "");
        h_start(NULL, AF_INET, p1, AF_INET, p2, 0);
        fd = h_connect(AF_INET, p2);
        h_assert(fd >= 0, "connect to s on %u: %s", p2, strerror(-fd));
        *ret_handler = h_wait_child(H.pid, "cat", 5000);
        h_assert(*ret_handler > 0, "no cat handler of s appeared under superd");
        return fd;
}

Test(reload, handler_of_removed_service_runs_on_and_is_reaped)
{
        uint16_t p1 = h_free_port(), p2 = h_free_port();
        pid_t handler, superd;
        int64_t deadline;
        struct h_proc kids[16];
        int n, fd;
        bool child = false;
        char *out;
        ssize_t got;

        fd = start_with_running_handler(p1, p2, &handler);
        superd = H.pid;
        remove_dropin("s.conf");
        reload(1);

        h_assert(h_alive(handler), "the handler %d of removed service s was killed by the reload", (int)handler);
        n = h_children(superd, kids, 16);
        for (int i = 0; i < n && i < 16; i++)
                child = child || kids[i].pid == handler;
        h_assert(child, "handler %d is no longer a child of superd %d", (int)handler, (int)superd);

        /* It still serves its connection. */
        got = h_exchange(fd, "still served\n", 13, &out, H_IO_MS);
        h_assert(got >= 0 && strcmp(out, "still served\n") == 0,
                 "the handler of removed service s returned \"%s\" (%zd)", out, got);
        free(out);
        close(fd);

        deadline = h_now_ms() + H_IO_MS;
        while (h_alive(handler) && h_now_ms() < deadline)
                usleep(5000);
        h_assert(!h_alive(handler), "handler %d still running after its client closed", (int)handler);
        h_assert(h_wait_no_zombies(superd, H_REAP_MS) == 0, "handler of removed service s left a zombie under superd");
        h_assert(h_wait_no_children(superd, H_REAP_MS) == 0, "superd still has children");
        h_assert(h_wait_exit(0) == -1, "superd exited after reaping the handler of a removed service");
        expect_echo(p1, "a after the reap\n");
        stop_clean();
}

Test(reload, removed_listener_closes_while_its_handler_runs)
{
        uint16_t p1 = h_free_port(), p2 = h_free_port();
        pid_t handler;
        int fd = start_with_running_handler(p1, p2, &handler);

        remove_dropin("s.conf");
        reload(1);
        h_assert(wait_listening(AF_INET, p2, false, LISTEN_MS),
                 "port %u of removed service s still listening %d ms after the reload (its handler %d still runs)",
                 p2, LISTEN_MS, (int)handler);
        expect_refused(p2);
        h_assert(h_alive(handler), "the handler of removed service s was killed");
        close(fd);
        stop_clean();
}

Test(reload, listener_moves_to_another_service)
{
        uint16_t p1 = h_free_port();
        unsigned long before, after;

        h_main_conf(NULL);
        service_dropin("a.conf", "a", p1, EXEC_CAT, "");
        h_start(NULL, AF_INET, p1, 0);
        before = superd_listener(p1);
        expect_echo(p1, "a is cat\n");

        remove_dropin("a.conf");
        service_dropin("c.conf", "c", p1, EXEC_SAY("service-c"), "");
        reload(1);
        after = superd_listener(p1);
        h_assert(after == before, "listener on %u was reopened moving from a to c: inode %lu before, %lu after", p1,
                 before, after);
        expect_reply(p1, "who is there?\n", "service-c\n");
        stop_clean();
}

/* Services a and b on the two given ports, in one drop-in. */
#define AB_DROPIN                                               \
        "service a {\n"                                         \
        "    listen = { \"127.0.0.1:%u\" }\n"                   \
        "    exec   = { " EXEC_SAY("service-a") " }\n"           \
        "    user   = \"%s\"\n"                                 \
        "}\n"                                                   \
        "service b {\n"                                         \
        "    listen = { \"127.0.0.1:%u\" }\n"                   \
        "    exec   = { " EXEC_SAY("service-b") " }\n"           \
        "    user   = \"%s\"\n"                                 \
        "}\n"

Test(reload, two_services_swap_ports)
{
        uint16_t p1 = h_free_port(), p2 = h_free_port();
        unsigned long in1, in2;

        h_main_conf(NULL);
        h_dropin("ab.conf", AB_DROPIN, p1, H.user, p2, H.user);
        h_start(NULL, AF_INET, p1, AF_INET, p2, 0);
        in1 = superd_listener(p1);
        in2 = superd_listener(p2);
        expect_reply(p1, "1\n", "service-a\n");
        expect_reply(p2, "2\n", "service-b\n");

        h_dropin("ab.conf", AB_DROPIN, p2, H.user, p1, H.user);
        reload(2);
        h_assert(superd_listener(p1) == in1, "listener on %u reopened by the swap", p1);
        h_assert(superd_listener(p2) == in2, "listener on %u reopened by the swap", p2);
        expect_reply(p1, "1\n", "service-b\n");
        expect_reply(p2, "2\n", "service-a\n");
        stop_clean();
}

Test(reload, backlog_and_max_instances_carry_over)
{
        uint16_t p1 = h_free_port();
        unsigned long before;
        int fd1, fd2, live;
        char *out;
        ssize_t n;

        h_main_conf(NULL);
        service_dropin("s.conf", "s", p1, EXEC_CAT, "    max-instances = 1\n");
        h_start(NULL, AF_INET, p1, 0);
        before = superd_listener(p1);

        fd1 = h_connect(AF_INET, p1);
        h_assert(fd1 >= 0, "first connection: %s", strerror(-fd1));
        h_assert(h_wait_children(H.pid, 1, 5000) == 1, "no handler for the first connection");
        fd2 = h_connect(AF_INET, p1);
        h_assert(fd2 >= 0, "second connection: %s (should wait in the backlog)", strerror(-fd2));
        usleep(SETTLE_MS * 1000);
        live = live_children();
        h_assert(live == 1, "%d handlers with max-instances = 1 before the reload", live);

        /* Same name, same address, new exec: the running cat still counts, the queued connection stays queued. */
        service_dropin("s.conf", "s", p1, EXEC_SAY("changed"), "    max-instances = 1\n");
        reload(1);
        h_assert(superd_listener(p1) == before, "the listener with a queued connection was reopened");
        usleep(SETTLE_MS * 1000);
        live = live_children();
        h_assert(live == 1, "%d handlers after the reload: the running handler no longer counts against "
                            "max-instances = 1", live);

        n = h_exchange(fd1, "first\n", 6, &out, H_IO_MS);
        h_assert(n >= 0 && strcmp(out, "first\n") == 0, "the old cat handler returned \"%s\" (%zd)", out, n);
        free(out);
        close(fd1);
        n = h_exchange(fd2, "second\n", 7, &out, H_IO_MS);
        h_assert(n >= 0 && strcmp(out, "changed\n") == 0,
                 "the connection queued across the reload returned \"%s\" (%zd: %s), expected \"changed\"", out, n,
                 n < 0 ? strerror((int)-n) : "");
        free(out);
        close(fd2);
        h_assert(h_wait_no_children(H.pid, H_REAP_MS) == 0, "handlers left after every client finished");
        stop_clean();
}

/* Listen on 127.0.0.1:PORT ourselves, so superd cannot. Returns the fd. */
static int occupy_port(uint16_t port)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        h_assert(fd >= 0, "socket: %s", strerror(errno));
        h_assert(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(fd, 1) == 0, "bind/listen 127.0.0.1:%u: %s",
                 port, strerror(errno));
        return fd;
}

Test(reload, unbindable_port_is_logged_and_the_rest_applies)
{
        uint16_t p1 = h_free_port(), p2 = h_free_port(), p3 = h_free_port();
        int busy;
        char *want;

        h_main_conf(NULL);
        service_dropin("a.conf", "a", p1, EXEC_CAT, "");
        h_start(NULL, AF_INET, p1, 0);

        busy = occupy_port(p3);
        service_dropin("b.conf", "b", p2, EXEC_SAY("service-b"), "");
        service_dropin("d.conf", "d", p3, EXEC_SAY("service-d"), "");
        reload(RELOAD_ANY_OK);
        want = h_format("cannot listen on 127.0.0.1:%u", p3);
        h_assert(log_has(want), "the log does not say \"%s\"", want);
        free(want);
        h_assert(wait_listening(AF_INET, p2, true, LISTEN_MS), "service b does not listen on %u", p2);
        expect_reply(p2, "b?\n", "service-b\n");
        expect_echo(p1, "a still\n");

        /* Once the port is free, the next reload opens it. */
        close(busy);
        reload(RELOAD_ANY_OK);
        h_assert(wait_listening(AF_INET, p3, true, LISTEN_MS), "service d does not listen on %u after the port was freed",
                 p3);
        expect_reply(p3, "d?\n", "service-d\n");
        expect_reply(p2, "b?\n", "service-b\n");
        expect_echo(p1, "a still\n");
        stop_clean();
}

Test(reload, widen_address_on_the_same_port)
{
        uint16_t p1 = h_free_port();
        char *out;
        ssize_t n;

        h_main_conf(NULL);
        service_dropin("a.conf", "a", p1, EXEC_CAT, "");
        h_start(NULL, AF_INET, p1, 0);
        expect_echo(p1, "loopback only\n");

        /* 127.0.0.1:P -> *:P (dual-stack): the old socket holds the port until it is closed. */
        h_dropin("a.conf",
                 "service a {\n"
                 "    listen = { \"*:%u\" }\n"
                 "    exec   = { \"/bin/cat\" }\n"
                 "    user   = \"%s\"\n"
                 "}\n",
                 p1, H.user);
        reload(1);
        h_assert(wait_listening(AF_INET6, p1, true, LISTEN_MS), "a does not listen on *:%u after the reload", p1);
        expect_echo(p1, "any address, v4\n");
        n = h_request(AF_INET6, p1, "any address, v6\n", &out);
        h_assert(n >= 0 && strcmp(out, "any address, v6\n") == 0, "[::1]:%u returned \"%s\" (%zd: %s)", p1, out, n,
                 n < 0 ? strerror((int)-n) : "");
        free(out);
        stop_clean();
}

/* A service on PORT whose handler says "$GREETING uid" (single quotes: libconfuse leaves $ alone). */
static void greeting_dropin(uint16_t port, const char *greeting, const char *user)
{
        h_dropin("g.conf",
                 "service g {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    exec   = { \"/bin/sh\", \"-c\", 'cat >/dev/null; echo \"$GREETING $(id -u)\"' }\n"
                 "    env    = { \"GREETING=%s\" }\n"
                 "    user   = \"%s\"\n"
                 "}\n",
                 port, greeting, user);
}

Test(reload, env_and_user_changes_apply_to_the_next_connection)
{
        uint16_t p1 = h_free_port();
        bool root = geteuid() == 0;
        char *want;

        h_main_conf(NULL);
        greeting_dropin(p1, "one", H.user);
        h_start(NULL, AF_INET, p1, 0);
        want = h_format("one %d\n", (int)geteuid());
        expect_reply(p1, "?\n", want);
        free(want);

        /* As root superd switches credentials: the new user applies too. Otherwise only the env changes. */
        greeting_dropin(p1, "two", root ? "nobody" : H.user);
        reload(1);
        if (root) {
                struct passwd *pw = getpwnam("nobody");

                h_assert(pw != NULL, "no user nobody");
                want = h_format("two %d\n", (int)pw->pw_uid);
        } else {
                want = h_format("two %d\n", (int)geteuid());
        }
        expect_reply(p1, "?\n", want);
        free(want);
        stop_clean();
}

Test(reload, raising_max_instances_admits_a_queued_connection)
{
        uint16_t p1 = h_free_port();
        int fd1, fd2, live;
        char *out;
        ssize_t n;

        h_main_conf(NULL);
        service_dropin("s.conf", "s", p1, EXEC_CAT, "    max-instances = 1\n");
        h_start(NULL, AF_INET, p1, 0);
        fd1 = h_connect(AF_INET, p1);
        h_assert(fd1 >= 0, "first connection: %s", strerror(-fd1));
        h_assert(h_wait_children(H.pid, 1, 5000) == 1, "no handler for the first connection");
        fd2 = h_connect(AF_INET, p1);
        h_assert(fd2 >= 0, "second connection: %s (should wait in the backlog)", strerror(-fd2));
        usleep(SETTLE_MS * 1000);
        live = live_children();
        h_assert(live == 1, "%d handlers with max-instances = 1", live);

        service_dropin("s.conf", "s", p1, EXEC_CAT, "    max-instances = 2\n");
        reload(1);
        live = h_wait_children(H.pid, 2, 5000);
        h_assert(live == 2, "%d handlers 5 s after raising max-instances to 2 with a connection waiting", live);
        n = h_exchange(fd2, "second\n", 7, &out, H_IO_MS);
        h_assert(n >= 0 && strcmp(out, "second\n") == 0, "the queued connection returned \"%s\" (%zd)", out, n);
        free(out);
        n = h_exchange(fd1, "first\n", 6, &out, H_IO_MS);
        h_assert(n >= 0 && strcmp(out, "first\n") == 0, "the first connection returned \"%s\" (%zd)", out, n);
        free(out);
        close(fd1);
        close(fd2);
        stop_clean();
}

Test(reload, address_taken_by_two_services_fails_the_reload)
{
        uint16_t p1 = h_free_port();
        unsigned long before;
        char *want;

        h_main_conf(NULL);
        service_dropin("a.conf", "a", p1, EXEC_CAT, "");
        h_start(NULL, AF_INET, p1, 0);
        before = superd_listener(p1);

        service_dropin("b.conf", "b", p1, EXEC_SAY("service-b"), "");
        reload(RELOAD_FAILS);
        want = h_format("superd: reload: %s/b.conf:1: ", H.services);
        h_assert(log_has(want), "the log does not report the conflict as \"%s...\"", want);
        free(want);
        h_assert(superd_listener(p1) == before, "a failed reload reopened the listener on %u", p1);
        expect_echo(p1, "a keeps its port\n");
        stop_clean();
}

Test(reload, to_no_service_and_back)
{
        uint16_t p1 = h_free_port();

        h_main_conf(NULL);
        service_dropin("a.conf", "a", p1, EXEC_CAT, "");
        h_start(NULL, AF_INET, p1, 0);

        remove_dropin("a.conf");
        reload(0);
        h_assert(wait_listening(AF_INET, p1, false, LISTEN_MS), "port %u still listening with no service", p1);
        expect_refused(p1);
        h_assert(h_wait_exit(0) == -1, "superd exited with an empty service set");

        service_dropin("a.conf", "a", p1, EXEC_CAT, "");
        reload(1);
        h_assert(wait_listening(AF_INET, p1, true, LISTEN_MS), "port %u not listening after a came back", p1);
        expect_echo(p1, "back again\n");
        stop_clean();
}

Test(reload, max_children_pause_survives_a_reload)
{
        uint16_t p1 = h_free_port(), p2 = h_free_port();
        int fd1, fd2, live;
        char *out;
        ssize_t n;

        h_main_conf("max-children = 1\n");
        service_dropin("a.conf", "a", p1, EXEC_CAT, "");
        service_dropin("b.conf", "b", p2, EXEC_CAT, "");
        h_start(NULL, AF_INET, p1, AF_INET, p2, 0);
        fd1 = h_connect(AF_INET, p1);
        h_assert(fd1 >= 0, "connection to a: %s", strerror(-fd1));
        h_assert(h_wait_children(H.pid, 1, 5000) == 1, "no handler for the connection to a");
        fd2 = h_connect(AF_INET, p2);
        h_assert(fd2 >= 0, "connection to b: %s (should wait in the backlog)", strerror(-fd2));
        usleep(SETTLE_MS * 1000);
        live = live_children();
        h_assert(live == 1, "%d handlers with max-children = 1 before the reload", live);

        /* b changes; the handler of a still fills the one slot, so b's queued connection keeps waiting. */
        service_dropin("b.conf", "b", p2, EXEC_SAY("changed"), "");
        reload(2);
        usleep(SETTLE_MS * 1000);
        live = live_children();
        h_assert(live == 1, "%d handlers with max-children = 1 after the reload", live);

        n = h_exchange(fd1, "a\n", 2, &out, H_IO_MS);
        h_assert(n >= 0 && strcmp(out, "a\n") == 0, "a returned \"%s\" (%zd)", out, n);
        free(out);
        close(fd1);
        n = h_exchange(fd2, "b\n", 2, &out, H_IO_MS);
        h_assert(n >= 0 && strcmp(out, "changed\n") == 0,
                 "b's connection queued across the reload returned \"%s\" (%zd: %s), expected \"changed\"", out, n,
                 n < 0 ? strerror((int)-n) : "");
        free(out);
        close(fd2);
        stop_clean();
}
