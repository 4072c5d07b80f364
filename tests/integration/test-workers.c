/* SPDX-License-Identifier: MIT */
/*
 * Worker pools (workers = N): long-lived handlers share the listening socket,
 * start on demand, are restarted (with back-off when they crash at once),
 * stopped, replaced at reload, shown in status. Over real loopback sockets,
 * with http-hello in its worker mode (it answers "X-Superd-Worker: W PID")
 * and dgram-worker for UDP.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

TestSuite(workers, .init = h_setup, .fini = h_teardown, .timeout = 90);

#define REQUEST "GET / HTTP/1.0\r\n\r\n"
#define MAX_PIDS 32

/* The main file with a status socket; returns its path. */
static char *main_conf_with_status(void)
{
        char *path = h_path("status.sock");

        h_main_conf(h_format("status-socket = \"%s\"\n", path));
        return path;
}

/* A pool drop-in of http-hello on port with EXTRA keys (lines) and args (a quoted, comma-led list or ""). */
static void http_pool(uint16_t port, const char *extra, const char *args)
{
        h_dropin("pool.conf",
                 "service pool {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    wait   = yes\n"
                 "    exec   = { \"%s\"%s }\n"
                 "    user   = \"%s\"\n"
                 "%s"
                 "}\n",
                 port, h_helper("http-hello"), args, H.user, extra);
}

/* One HTTP request; returns the answering worker's pid, or -errno / 0 for a reply that is not 200 from a worker. */
static pid_t http_worker(uint16_t port, int *ret_index)
{
        char *out, *w, slot[16] = "";
        ssize_t n = h_request(AF_INET, port, REQUEST, &out);
        int index = -1, pid = 0;

        if (n < 0) {
                free(out);
                return (pid_t)n;
        }
        w = strstr(out, "\r\nX-Superd-Worker: ");
        /* "W PID", W being "-" without SUPERD_WORKER (plain wait mode). */
        if (strncmp(out, "HTTP/1.0 200 OK\r\n", 17) != 0 || !w ||
            sscanf(w, "\r\nX-Superd-Worker: %15s %d", slot, &pid) != 2)
                pid = 0;
        else if (strcmp(slot, "-") != 0)
                index = atoi(slot);
        free(out);
        if (ret_index)
                *ret_index = index;
        return pid;
}

static void add_pid(pid_t *pids, int *n, pid_t pid)
{
        for (int i = 0; i < *n; i++)
                if (pids[i] == pid)
                        return;
        if (*n < MAX_PIDS)
                pids[(*n)++] = pid;
}

/* Clients in child processes, each making requests and reporting one summary line through a pipe. */
struct load {
        pid_t kids[16];
        int n;
        int pipe;
};

/* Start `clients` processes that each make `each` requests, or loop until `until_ms` (h_now_ms()) if each is 0. */
static void load_start(struct load *ld, int clients, uint16_t port, int each, int64_t until_ms)
{
        int p[2];

        h_assert(clients <= 16 && pipe2(p, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
        ld->n = clients;
        ld->pipe = p[0];
        for (int k = 0; k < clients; k++) {
                pid_t kid = fork();
                h_assert(kid >= 0, "fork: %s", strerror(errno));
                if (kid == 0) {
                        pid_t pids[MAX_PIDS];
                        int n_pids = 0, ok = 0, fail = 0, first_err = 0, len;
                        char line[1024];
                        close(p[0]);
                        for (int i = 0; each ? i < each : h_now_ms() < until_ms; i++) {
                                pid_t pid = http_worker(port, NULL);
                                if (pid > 0) {
                                        ok++;
                                        add_pid(pids, &n_pids, pid);
                                } else {
                                        fail++;
                                        if (!first_err)
                                                first_err = pid ? (int)-pid : -1;
                                }
                        }
                        len = snprintf(line, sizeof(line), "%d %d %d", ok, fail, first_err);
                        for (int i = 0; i < n_pids; i++)
                                len += snprintf(line + len, sizeof(line) - (size_t)len, " %d", (int)pids[i]);
                        line[len++] = '\n';
                        _exit(write(p[1], line, (size_t)len) == len ? 0 : 1);
                }
                ld->kids[k] = kid;
        }
        close(p[1]);
}

/* Wait for the clients; sum their counts, collect the distinct pids. */
static void load_finish(struct load *ld, int *ret_ok, int *ret_fail, int *ret_err, pid_t *pids, int *n_pids)
{
        char buf[16384];
        size_t len = 0;
        ssize_t k;

        while (len < sizeof(buf) - 1 && (k = read(ld->pipe, buf + len, sizeof(buf) - 1 - len)) > 0)
                len += (size_t)k;
        buf[len] = '\0';
        close(ld->pipe);
        for (int i = 0; i < ld->n; i++)
                waitpid(ld->kids[i], NULL, 0);
        *ret_ok = *ret_fail = *ret_err = 0;
        *n_pids = 0;
        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
                int ok, fail, err, used;
                char *p = line;
                if (sscanf(p, "%d %d %d%n", &ok, &fail, &err, &used) != 3)
                        continue;
                *ret_ok += ok;
                *ret_fail += fail;
                if (err && !*ret_err)
                        *ret_err = err;
                for (p += used; *p;) {
                        int pid;
                        if (sscanf(p, " %d%n", &pid, &used) != 1)
                                break;
                        add_pid(pids, n_pids, pid);
                        p += used;
                }
        }
}

/* superd's reply to "status" on the status socket at path, malloc'd. */
static char *status(const char *path)
{
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        char *out = NULL;
        ssize_t n;

        snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
        h_assert(fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0, "status socket: %s", strerror(errno));
        n = h_exchange(fd, "status\n", 7, &out, H_IO_MS);
        close(fd);
        h_assert(n > 0, "status: %zd", n);
        return out;
}

/* Occurrences of needle in text. */
static int count(const char *text, const char *needle)
{
        int n = 0;

        for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

/* The live children of ppid (up to max) into pids; returns how many. */
static int live_children(pid_t ppid, pid_t *pids, int max)
{
        struct h_proc procs[64];
        int n = h_children(ppid, procs, 64), live = 0;

        for (int i = 0; i < n && i < 64; i++)
                if (procs[i].state != 'Z' && live < max)
                        pids[live++] = procs[i].pid;
        return live;
}

/* Wait up to timeout_ms until ppid has exactly n live children. Returns how many it has then. */
static int wait_exactly(pid_t ppid, int n, int timeout_ms)
{
        int64_t end = h_now_ms() + timeout_ms;
        pid_t pids[64];
        int live;

        while ((live = live_children(ppid, pids, 64)) != n && h_now_ms() < end)
                usleep(20 * 1000);
        return live;
}

/* utime + stime of pid, in clock ticks (/proc/PID/stat fields 14 and 15). */
static long cpu_ticks(pid_t pid)
{
        char *path = h_format("/proc/%d/stat", (int)pid), buf[1024], *p;
        FILE *f = fopen(path, "r");
        unsigned long ut = 0, st = 0;
        size_t n;

        h_assert(f != NULL, "%s: %s", path, strerror(errno));
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        p = strrchr(buf, ')');
        h_assert(p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2,
                 "cannot parse %s", path);
        free(path);
        return (long)(ut + st);
}

/* argv[1] of pid, or "" (malloc'd). */
static char *arg1(pid_t pid)
{
        char *path = h_format("/proc/%d/cmdline", (int)pid), buf[4096];
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
        size_t first;

        if (f)
                fclose(f);
        buf[n] = '\0';
        first = strlen(buf) + 1;
        return strdup(first < n ? buf + first : "");
}

/* True if one of pid's arguments (argv[1] on) is arg: a script's argv[1] is its own path. */
static bool has_arg(pid_t pid, const char *arg)
{
        char *path = h_format("/proc/%d/cmdline", (int)pid), buf[4096];
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

        if (f)
                fclose(f);
        free(path);
        buf[n] = '\0';
        for (size_t i = strlen(buf) + 1; i < n; i += strlen(buf + i) + 1)
                if (strcmp(buf + i, arg) == 0)
                        return true;
        return false;
}

Test(workers, pool_spreads_connections_over_workers)
{
        uint16_t port = h_free_port();
        pid_t pids[MAX_PIDS], children[8];
        int ok, fail, err, n_pids, live;
        struct load ld;
        pid_t superd;

        h_main_conf(NULL);
        http_pool(port, "    workers = 4\n    workers-start = eager\n", "");
        superd = h_start(NULL, AF_INET, port, 0);
        live = wait_exactly(superd, 4, 5000);
        h_assert(live == 4, "%d workers running, expected 4 (eager)", live);

        load_start(&ld, 8, port, 25, 0);
        load_finish(&ld, &ok, &fail, &err, pids, &n_pids);
        h_assert(ok == 200 && fail == 0, "%d ok, %d failed of 200 (first error %s)", ok, fail, strerror(err));
        h_assert(n_pids >= 3, "only %d distinct workers answered 200 requests from 8 clients", n_pids);
        live = live_children(superd, children, 8);
        for (int i = 0; i < n_pids; i++) {
                bool found = false;
                for (int j = 0; j < live; j++)
                        found |= children[j] == pids[i];
                h_assert(found, "pid %d answered but is not a worker of superd", (int)pids[i]);
        }
        h_assert(live == 4, "%d workers after the load, expected the same 4", live);
}

Test(workers, lazy_pool_starts_workers_on_demand)
{
        uint16_t port = h_free_port();
        char *sock = main_conf_with_status(), *st;
        int fd[4], live, index = -1;
        pid_t superd, pid;

        http_pool(port, "    workers = 3\n", "");
        superd = h_start(NULL, AF_INET, port, 0);
        usleep(300 * 1000);
        h_assert(wait_exactly(superd, 0, 0) == 0, "an idle lazy pool runs a worker");
        st = status(sock);
        h_assert(count(st, "\"index\":") == 3 && count(st, "\"pid\":0,") == 3 && strstr(st, "\"queue\":0"),
                 "status of an idle pool: %s", st);
        free(st);

        /* The first connection starts worker 0, and one is enough for one client. */
        pid = http_worker(port, &index);
        h_assert(pid > 0 && index == 0, "first request: pid %d, worker %d", (int)pid, index);
        usleep(300 * 1000);
        live = wait_exactly(superd, 1, 0);
        h_assert(live == 1, "%d workers after one request, expected 1", live);

        /*
         * Connections that the running workers do not take (they wait for a
         * request head that does not come) stay queued: each look at the
         * queue starts one more worker, up to N and no further.
         */
        for (int i = 0; i < 4; i++) {
                fd[i] = h_connect(AF_INET, port);
                h_assert(fd[i] >= 0, "connect %d: %s", i, strerror(-fd[i]));
        }
        live = wait_exactly(superd, 3, 3000);
        h_assert(live == 3, "%d workers with connections queued, expected 3", live);
        usleep(300 * 1000);
        h_assert(wait_exactly(superd, 3, 0) == 3, "more than N = 3 workers");
        st = status(sock);
        h_assert(count(st, "\"pid\":0,") == 0 && strstr(st, "\"queue\":1") && strstr(st, "\"pause\":[\"workers\"]"),
                 "status of a full pool with one connection queued: %s", st);
        free(st);
        for (int i = 0; i < 4; i++)
                close(fd[i]);
}

Test(workers, killed_worker_is_restarted)
{
        uint16_t port = h_free_port();
        char *sock = main_conf_with_status(), *st;
        pid_t superd, before[4], after[4], victim;
        int ok, fail, err, n_pids;
        pid_t pids[MAX_PIDS];
        struct load ld;

        http_pool(port, "    workers = 2\n    workers-start = eager\n", "");
        superd = h_start(NULL, AF_INET, port, 0);
        h_assert(wait_exactly(superd, 2, 5000) == 2, "2 eager workers expected");
        live_children(superd, before, 4);
        victim = before[0];
        h_assert(kill(victim, SIGKILL) == 0, "kill: %s", strerror(errno));
        /*
         * Dead and reaped before the clients start: a worker killed while a
         * connection it has just accepted is in its hands resets that one,
         * which no supervisor can prevent (on a busy machine the kill may
         * take effect only after such an accept).
         */
        h_assert(h_wait_log("signal SIGKILL", 1, 5000), "the worker's end was not logged");

        /* Clients keep going: the other worker and the queue serve until the slot runs again. */
        load_start(&ld, 4, port, 25, 0);
        load_finish(&ld, &ok, &fail, &err, pids, &n_pids);
        h_assert(ok == 100 && fail == 0, "%d ok, %d failed of 100 (first error %s)", ok, fail, strerror(err));

        h_assert(wait_exactly(superd, 2, 3000) == 2, "the killed worker was not restarted");
        live_children(superd, after, 4);
        h_assert(after[0] != victim && after[1] != victim, "pid %d still listed", (int)victim);
        st = status(sock);
        h_assert(count(st, "\"restarts\":1") == 1 && count(st, "\"restarts\":0") == 1, "status: %s", st);
        free(st);
}

Test(workers, crash_loop_backs_off)
{
        uint16_t port = h_free_port();
        char *starts = h_path("starts"), *sock = main_conf_with_status(), *st;
        int per_slot[2] = { 0, 0 };
        long ticks_before, ticks;
        char line[64];
        pid_t superd;
        FILE *f;

        h_write_file("crash.sh", 0755, "#!/bin/sh\necho \"$SUPERD_WORKER\" >> '%s'\nexit 1\n", starts);
        h_dropin("crash.conf",
                 "service crash {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    wait   = yes\n"
                 "    workers = 2\n"
                 "    workers-start = eager\n"
                 "    exec   = { \"%s\" }\n"
                 "    user   = \"%s\"\n"
                 "}\n",
                 port, h_path("crash.sh"), H.user);
        superd = h_start(NULL, AF_INET, port, 0);
        ticks_before = cpu_ticks(superd);
        usleep(5000 * 1000);
        ticks = cpu_ticks(superd) - ticks_before;

        f = fopen(starts, "r");
        h_assert(f != NULL, "no worker ever started");
        while (fgets(line, sizeof(line), f))
                if (atoi(line) >= 0 && atoi(line) < 2)
                        per_slot[atoi(line)]++;
        fclose(f);
        /* Starts at 0, 1 and 3 s (back-off 1, 2, 4 s), whatever the start-up took: at most 4 each. */
        for (int i = 0; i < 2; i++)
                h_assert(per_slot[i] >= 2 && per_slot[i] <= 4, "worker %d started %d times in 5 s", i, per_slot[i]);
        /* Near 0: no spinning while backing off (100 clock ticks a second). */
        h_assert(ticks <= 25, "superd used %ld clock ticks in 5 s of a crash loop", ticks);
        h_assert(h_wait_log("restarting it in 2 s", 2, 0) && h_wait_log("restarting it in 1 s", 2, 0),
                 "each back-off step is logged");
        h_assert(!h_wait_log("restarting it in 8 s", 1, 0), "back-off went past 4 s within 5 s");
        /* Both slots back off (4 s after the third start): the socket is not watched meanwhile. */
        st = status(sock);
        h_assert(count(st, "\"backing_off\":true") == 2 && strstr(st, "\"pause\":[\"workers\"]"), "status: %s", st);
        free(st);
}

Test(workers, stop_terminates_every_worker)
{
        uint16_t port = h_free_port();
        pid_t superd, pids[8];
        int status, live;
        double secs;

        h_main_conf(NULL);
        http_pool(port, "    workers = 4\n    workers-start = eager\n", "");
        superd = h_start(NULL, AF_INET, port, 0);
        h_assert(wait_exactly(superd, 4, 5000) == 4, "4 eager workers expected");
        live = live_children(superd, pids, 8);
        status = h_stop(&secs);
        h_assert(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "superd: %s", h_status_str(status));
        for (int i = 0; i < live; i++)
                h_assert(!h_alive(pids[i]), "worker %d survived the stop", (int)pids[i]);
        /* http-hello leaves at SIGTERM: no need for the SIGKILL 5 s later. */
        h_assert(secs < 4.0, "stop took %.1f s", secs);
}

Test(workers, reload_replacing_exec_loses_no_request)
{
        uint16_t port = h_free_port();
        int ok, fail, err, n_pids, live;
        pid_t superd, pids[MAX_PIDS], now[8];
        struct load ld;

        h_main_conf(NULL);
        http_pool(port, "    workers = 3\n    workers-start = eager\n", "");
        superd = h_start(NULL, AF_INET, port, 0);
        h_assert(wait_exactly(superd, 3, 5000) == 3, "3 eager workers expected");

        load_start(&ld, 4, port, 0, h_now_ms() + 2500);
        usleep(700 * 1000);
        http_pool(port, "    workers = 3\n    workers-start = eager\n", ", \"v2\"");
        h_assert(kill(superd, SIGHUP) == 0, "SIGHUP: %s", strerror(errno));
        load_finish(&ld, &ok, &fail, &err, pids, &n_pids);
        h_assert(fail == 0 && ok > 0, "%d ok, %d failed while the workers were replaced (first error %s)", ok, fail,
                 strerror(err));
        h_assert(h_wait_log("reloaded", 1, 1000), "no reload");
        live = wait_exactly(superd, 3, 3000);
        h_assert(live == 3, "%d workers after the reload, expected 3", live);
        live_children(superd, now, 8);
        for (int i = 0; i < live; i++) {
                char *a = arg1(now[i]);
                h_assert(strcmp(a, "v2") == 0, "worker %d still runs the old exec (argv[1] \"%s\")", (int)now[i], a);
                free(a);
        }
}

Test(workers, reload_changing_only_n_starts_or_stops_the_difference)
{
        uint16_t port = h_free_port();
        pid_t superd, two[4], four[8], one[8];
        int live;

        h_main_conf(NULL);
        http_pool(port, "    workers = 2\n    workers-start = eager\n", "");
        superd = h_start(NULL, AF_INET, port, 0);
        h_assert(wait_exactly(superd, 2, 5000) == 2, "2 eager workers expected");
        live_children(superd, two, 4);

        http_pool(port, "    workers = 4\n    workers-start = eager\n", "");
        kill(superd, SIGHUP);
        live = wait_exactly(superd, 4, 3000);
        h_assert(live == 4, "%d workers after workers = 4, expected 4", live);
        live_children(superd, four, 8);
        for (int i = 0; i < 2; i++) {
                bool kept = false;
                for (int j = 0; j < 4; j++)
                        kept |= four[j] == two[i];
                h_assert(kept, "worker %d was replaced though only N changed", (int)two[i]);
        }

        http_pool(port, "    workers = 1\n    workers-start = eager\n", "");
        kill(superd, SIGHUP);
        live = wait_exactly(superd, 1, 3000);
        h_assert(live == 1, "%d workers after workers = 1 (eager), expected 1", live);
        live_children(superd, one, 8);
        h_assert(http_worker(port, NULL) == one[0], "the remaining worker does not answer");
}

Test(workers, dgram_workers_all_serve)
{
        uint16_t port = h_free_port();
        const char *worker = getenv("DGRAM_WORKER");
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        bool seen[3] = { false, false, false };
        int n_seen = 0, fd;
        pid_t superd;

        h_assert(worker && *worker, "DGRAM_WORKER is not set: run through `meson test`");
        h_main_conf(NULL);
        h_dropin("udp.conf",
                 "service udp {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    socket-type = dgram\n"
                 "    workers = 3\n"
                 "    workers-start = eager\n"
                 "    exec   = { \"%s\", \"2000\" }\n"
                 "    user   = \"%s\"\n"
                 "}\n",
                 port, worker, H.user);
        superd = h_start_ready(NULL);
        h_assert(wait_exactly(superd, 3, 5000) == 3, "3 eager workers expected");
        usleep(200 * 1000); /* each blocked in recvfrom(2) */
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        h_assert(fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0, "udp socket: %s", strerror(errno));
        /* A burst of three: each worker holds its datagram 2 s, so each of the three goes to another one. */
        for (int i = 0; i < 3; i++)
                h_assert(send(fd, "ping", 4, 0) == 4, "send: %s", strerror(errno));
        for (int i = 0; i < 3; i++) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                char buf[700];
                int index = -1, pid = 0;
                ssize_t k;
                h_assert(poll(&p, 1, 10000) == 1, "datagram %d got no answer", i);
                k = recv(fd, buf, sizeof(buf) - 1, 0);
                h_assert(k > 0, "recv: %s", strerror(errno));
                buf[k] = '\0';
                h_assert(sscanf(buf, "worker=%d pid=%d got=ping", &index, &pid) == 2 && index >= 0 && index < 3,
                         "answer \"%s\"", buf);
                if (!seen[index]) {
                        seen[index] = true;
                        n_seen++;
                }
        }
        close(fd);
        h_assert(n_seen == 3, "only %d of 3 dgram workers answered", n_seen);
}

Test(workers, check_reports_workers_without_wait)
{
        const char *argv[] = { h_superd(), "-t", "-c", H.conf, NULL };
        char *out, *err, *where;
        int status;

        h_main_conf(NULL);
        h_dropin("bad.conf",
                 "service bad {\n"
                 "    listen  = { \"127.0.0.1:1\" }\n"
                 "    workers = 2\n"
                 "    exec    = { \"/bin/cat\" }\n"
                 "}\n");
        status = h_run(argv, NULL, NULL, &out, &err, 5000);
        where = h_format("%s/bad.conf:1: service 'bad': workers and workers-start need wait = yes", H.services);
        h_assert(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 1, "superd -t: %s", h_status_str(status));
        h_assert(strstr(err, where), "expected \"%s\" in:\n%s", where, err);
}

Test(workers, replaced_worker_ignoring_sigterm_is_killed)
{
        uint16_t port = h_free_port();
        pid_t superd, old[4], now[4];
        int live;

        h_main_conf(NULL);
        /* A worker that ignores SIGTERM (and takes no connection: the test only counts processes). */
        h_write_file("stubborn.sh", 0755, "#!/bin/sh\ntrap '' TERM\nwhile :; do sleep 1; done\n");
        h_dropin("stubborn.conf",
                 "service stubborn {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    wait   = yes\n"
                 "    workers = 2\n"
                 "    workers-start = eager\n"
                 "    exec   = { \"%s\"%s }\n"
                 "    user   = \"%s\"\n"
                 "}\n",
                 port, h_path("stubborn.sh"), "", H.user);
        superd = h_start(NULL, AF_INET, port, 0);
        h_assert(wait_exactly(superd, 2, 5000) == 2, "2 eager workers expected");
        live_children(superd, old, 4);
        h_dropin("stubborn.conf",
                 "service stubborn {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    wait   = yes\n"
                 "    workers = 2\n"
                 "    workers-start = eager\n"
                 "    exec   = { \"%s\", \"v2\" }\n"
                 "    user   = \"%s\"\n"
                 "}\n",
                 port, h_path("stubborn.sh"), H.user);
        kill(superd, SIGHUP);
        /* One at a time: the new worker of slot 0 and both old ones, until SIGKILL ends the first old one. */
        h_assert(h_wait_log("reloaded", 1, 2000), "no reload");
        usleep(1000 * 1000);
        live = wait_exactly(superd, 3, 0);
        h_assert(live == 3, "%d processes 1 s into the replacement, expected 3 (one new, two old)", live);
        /* 5 s per stubborn worker, one after the other. */
        h_assert(h_wait_log("still running 5 s after SIGTERM: sending SIGKILL", 2, 14000),
                 "the replaced workers were not killed 5 s after SIGTERM");
        live = wait_exactly(superd, 2, 3000);
        h_assert(live == 2, "%d workers after the replacement, expected 2", live);
        live_children(superd, now, 4);
        for (int i = 0; i < 2; i++)
                h_assert(now[i] != old[0] && now[i] != old[1] && has_arg(now[i], "v2"), "worker %d is not a new one",
                         (int)now[i]);
}

Test(workers, reload_between_pool_and_other_modes)
{
        uint16_t port = h_free_port();
        pid_t superd, pool[4], pid;
        int live, index = -1;

        h_main_conf(NULL);
        http_pool(port, "    workers = 3\n    workers-start = eager\n", "");
        superd = h_start(NULL, AF_INET, port, 0);
        h_assert(wait_exactly(superd, 3, 5000) == 3, "3 eager workers expected");
        live_children(superd, pool, 4);

        /* Pool to wait = no: superd accepts again (a handler per connection), the workers get SIGTERM. */
        h_dropin("pool.conf",
                 "service pool {\n    listen = { \"127.0.0.1:%u\" }\n    exec = { \"%s\" }\n    user = \"%s\"\n}\n",
                 port, h_helper("http-hello"), H.user);
        kill(superd, SIGHUP);
        h_assert(h_wait_log("reloaded", 1, 2000), "no reload");
        for (int64_t end = h_now_ms() + 3000;
             h_now_ms() < end && (h_alive(pool[0]) || h_alive(pool[1]) || h_alive(pool[2]));)
                usleep(20 * 1000);
        for (int i = 0; i < 3; i++)
                h_assert(!h_alive(pool[i]), "worker %d survived the change to wait = no", (int)pool[i]);
        for (int i = 0; i < 10; i++) {
                char *out;
                ssize_t n = h_request(AF_INET, port, REQUEST, &out);
                h_assert(n > 0 && strncmp(out, "HTTP/1.0 200 OK\r\n", 17) == 0 && !strstr(out, "X-Superd-Worker"),
                         "request %d with a handler per connection: %zd \"%s\"", i, n, out);
                free(out);
        }

        /* Then plain wait mode (workers = 1): one handler holds the socket, and http-hello serves in a loop. */
        http_pool(port, "    workers = 1\n", "");
        kill(superd, SIGHUP);
        h_assert(h_wait_log("reloaded", 2, 2000), "no second reload");
        pid = http_worker(port, &index);
        h_assert(pid > 0 && index == -1, "wait mode: pid %d, SUPERD_WORKER %d (expected none)", (int)pid, index);
        h_assert(http_worker(port, NULL) == pid, "the wait handler did not keep the socket");
        live = wait_exactly(superd, 1, 1000);
        h_assert(live == 1, "%d handlers in wait mode, expected 1", live);

        /* And a pool again: the wait handler gets SIGTERM, as workers do when their pool goes. */
        http_pool(port, "    workers = 2\n    workers-start = eager\n", "");
        kill(superd, SIGHUP);
        h_assert(h_wait_log("reloaded", 3, 2000), "no third reload");
        live = wait_exactly(superd, 2, 3000);
        h_assert(live == 2 && !h_alive(pid), "%d processes, expected the 2 workers alone (wait handler %d %s)", live,
                 (int)pid, h_alive(pid) ? "alive" : "gone");
        for (int i = 0; i < 20; i++) {
                index = -1;
                h_assert(http_worker(port, &index) > 0 && index >= 0 && index < 2, "request %d: worker %d", i, index);
        }
}
