/* SPDX-License-Identifier: MIT */
/*
 * Upgrade in place and restart through systemd's fd store (DESIGN.md §11):
 * superctl upgrade and SIGUSR2 re-execute superd in the same process without
 * refusing or losing a connection; listeners keep their sockets (inodes),
 * running handlers are adopted (reaped, counted against max-instances, timed
 * out), a wait handler gets its socket back watched, a bad configuration
 * keeps the services, a binary that cannot be executed keeps the old image;
 * the fd store hands the listening sockets to the next superd.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

TestSuite(upgrade, .init = h_setup, .fini = h_teardown, .timeout = 120);

#define SUPERCTL_MS    15000
#define SETTLE_MS      300
#define N_UPGRADES     20
#define UPGRADE_GAP_MS 50
#define CONNS_PER_GAP  5 /* exchanges each client completes between two upgrades */
#define UDP_REPLY_MS   3000

static void status_conf(void)
{
        char *extra = h_format("status-socket = \"%s/status.sock\"\n", H.dir);

        h_main_conf(extra);
        free(extra);
}

static void cat_dropin(const char *file, const char *name, uint16_t port, const char *extra)
{
        h_dropin(
            file,
            "service %s {\n    listen = { \"127.0.0.1:%u\" }\n    exec = { \"/bin/cat\" }\n    user = \"%s\"\n%s}\n",
            name, port, H.user, extra);
}

/* Run superctl COMMAND; returns its exit status, stdout in *ret_out (may be NULL). */
static int superctl(const char *command, char **ret_out)
{
        const char *bin = getenv("SUPERCTL");
        char *sock = h_format("%s/status.sock", H.dir), *err = NULL;
        const char *argv[] = {bin, "-s", sock, command, NULL};
        int status;

        cr_assert(bin && *bin, "SUPERCTL is not set: run through `meson test`");
        status = h_run(argv, NULL, NULL, ret_out, &err, SUPERCTL_MS);
        free(err);
        free(sock);
        return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void upgrade_ok(void)
{
        char *out = NULL;
        int rc = superctl("upgrade", &out);

        h_assert(rc == 0 && strstr(out, "upgraded: superd "), "superctl upgrade: exit %d, \"%s\"", rc, out);
        free(out);
}

static void expect_echo(uint16_t port, const char *line)
{
        char *out;
        ssize_t n = h_request(AF_INET, port, line, &out);

        h_assert(n >= 0 && strcmp(out, line) == 0, "127.0.0.1:%u: sent \"%s\", got %zd \"%s\"", port, line, n, out);
        free(out);
}

/* One UDP request to 127.0.0.1:PORT answered with the same bytes within UDP_REPLY_MS. Returns 0 or -errno. */
static int udp_echo(uint16_t port, const char *text)
{
        struct sockaddr_in a = {
            .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        char buf[256];
        ssize_t n;

        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || send(fd, text, strlen(text), 0) < 0)
                r = -errno;
        else if (poll(&p, 1, UDP_REPLY_MS) != 1)
                r = -ETIMEDOUT;
        else if ((n = recv(fd, buf, sizeof(buf), 0)) < 0)
                r = -errno;
        else if ((size_t)n != strlen(text) || memcmp(buf, text, (size_t)n) != 0)
                r = -EBADMSG;
        close(fd);
        return r;
}

struct client {
        uint16_t port;
        bool udp;
        int id;
        atomic_bool stop;
        atomic_int made, failed;
        atomic_int refused; /* TCP: ECONNREFUSED; UDP: no answer */
        char first_failure[256];
};

static void *client_run(void *arg)
{
        struct client *c = arg;

        while (!atomic_load(&c->stop)) {
                int i = atomic_load(&c->made), r = 0;
                char line[64], *out = NULL;
                snprintf(line, sizeof(line), "client %d request %d\n", c->id, i);
                if (c->udp)
                        r = udp_echo(c->port, line);
                else {
                        ssize_t n = h_request(AF_INET, c->port, line, &out);
                        r = n < 0 ? (int)n : strcmp(out, line) != 0 ? -EBADMSG : 0;
                }
                if (r == -ECONNREFUSED || (c->udp && r < 0))
                        atomic_fetch_add(&c->refused, 1);
                if (r < 0 && atomic_fetch_add(&c->failed, 1) == 0)
                        snprintf(c->first_failure, sizeof(c->first_failure), "%s request %d: %s",
                                 c->udp ? "udp" : "tcp", i, strerror(-r));
                free(out);
                atomic_fetch_add(&c->made, 1);
        }
        return NULL;
}

static int total_made(struct client *c, int n)
{
        int sum = 0;

        for (int i = 0; i < n; i++)
                sum += atomic_load(&c[i].made);
        return sum;
}

static int total_failed(struct client *c, int n)
{
        int sum = 0;

        for (int i = 0; i < n; i++)
                sum += atomic_load(&c[i].failed);
        return sum;
}

static const char *first_failure(struct client *c, int n)
{
        for (int i = 0; i < n; i++)
                if (atomic_load(&c[i].failed))
                        return c[i].first_failure;
        return "";
}

static void stop_clean(void)
{
        int status = h_stop(NULL);

        h_assert(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                 "superd did not stop cleanly after the test: %s", h_status_str(status));
}

/* Two services: TCP /bin/cat on p1, the UDP echo builtin on p2. */
static void two_services(uint16_t p1, uint16_t p2)
{
        status_conf();
        cat_dropin("a.conf", "tcp-cat", p1, "");
        h_dropin("b.conf",
                 "service udp-echo {\n    listen = { \"127.0.0.1:%u\" }\n    socket-type = dgram\n"
                 "    builtin = echo\n}\n",
                 p2);
}

Test(upgrade, twenty_upgrades_refuse_and_lose_nothing)
{
        uint16_t p1 = h_free_port(), p2 = h_free_port();
        struct client c[4];
        pthread_t t[4];
        unsigned long inode;
        pid_t pid;

        two_services(p1, p2);
        pid = h_start(NULL, AF_INET, p1, 0);
        expect_echo(p1, "warm-up\n");
        h_assert(udp_echo(p2, "warm-up") == 0, "the udp echo does not answer");
        inode = h_listen_inode(AF_INET, p1);
        h_assert(inode && h_holds_socket(pid, inode), "no listener of superd on %u", p1);

        for (int i = 0; i < 4; i++) {
                c[i] = (struct client){.port = i < 2 ? p1 : p2, .udp = i >= 2, .id = i};
                cr_assert(pthread_create(&t[i], NULL, client_run, &c[i]) == 0);
        }
        for (int i = 1; i <= N_UPGRADES && total_failed(c, 4) == 0; i++) {
                int64_t deadline = h_now_ms() + 5000;
                int base = total_made(c, 4);
                while ((total_made(c, 4) < base + 4 * CONNS_PER_GAP) && h_now_ms() < deadline &&
                       total_failed(c, 4) == 0)
                        usleep(2000);
                usleep(UPGRADE_GAP_MS * 1000);
                upgrade_ok();
        }
        usleep(UPGRADE_GAP_MS * 1000);
        for (int i = 0; i < 4; i++) {
                atomic_store(&c[i].stop, true);
                pthread_join(t[i], NULL);
        }
        h_assert(total_failed(c, 4) == 0, "%d of %d requests failed during %d upgrades; first: %s", total_failed(c, 4),
                 total_made(c, 4), N_UPGRADES, first_failure(c, 4));
        h_assert(total_made(c, 4) >= N_UPGRADES * CONNS_PER_GAP, "only %d requests during %d upgrades",
                 total_made(c, 4), N_UPGRADES);
        h_assert(h_log_count("superd: upgraded: ") == N_UPGRADES, "%d upgrades logged, expected %d",
                 h_log_count("superd: upgraded: "), N_UPGRADES);
        h_assert(H.pid == pid && h_alive(pid), "superd's pid changed");
        h_assert(h_listen_inode(AF_INET, p1) == inode && h_holds_socket(pid, inode),
                 "the listener on %u is not the same socket after the upgrades (inode %lu, now %lu)", p1, inode,
                 h_listen_inode(AF_INET, p1));
        expect_echo(p1, "after the upgrades\n");
        stop_clean();
}

Test(upgrade, sigusr2_upgrades)
{
        uint16_t p1 = h_free_port();

        status_conf();
        cat_dropin("a.conf", "a", p1, "");
        h_start(NULL, AF_INET, p1, 0);
        kill(H.pid, SIGUSR2);
        h_assert(h_wait_log("superd: upgraded: superd ", 1, 5000), "no upgrade after SIGUSR2");
        expect_echo(p1, "after SIGUSR2\n");
        stop_clean();
}

Test(upgrade, handler_is_adopted_counted_and_reaped)
{
        uint16_t p1 = h_free_port();
        int fd1, fd2, live;
        char *out = NULL;
        ssize_t n;

        status_conf();
        cat_dropin("a.conf", "a", p1, "    max-instances = 1\n");
        h_start(NULL, AF_INET, p1, 0);
        fd1 = h_connect(AF_INET, p1);
        h_assert(fd1 >= 0, "first connection: %s", strerror(-fd1));
        h_assert(h_wait_children(H.pid, 1, 5000) == 1, "no handler for the first connection");

        upgrade_ok();
        h_assert(h_wait_log("1 handlers adopted", 1, 2000), "the running handler was not adopted");
        fd2 = h_connect(AF_INET, p1);
        h_assert(fd2 >= 0, "second connection: %s (should wait in the backlog)", strerror(-fd2));
        usleep(SETTLE_MS * 1000);
        live = h_wait_children(H.pid, 1 << 30, 0);
        h_assert(live == 1, "%d handlers with max-instances = 1 after the upgrade: the adopted one does not count",
                 live);

        n = h_exchange(fd1, "first\n", 6, &out, H_IO_MS);
        h_assert(n == 6 && strcmp(out, "first\n") == 0, "the adopted handler answered \"%s\" (%zd)", out, n);
        free(out);
        close(fd1);
        n = h_exchange(fd2, "second\n", 7, &out, H_IO_MS);
        h_assert(n == 7 && strcmp(out, "second\n") == 0, "the queued connection answered \"%s\" (%zd)", out, n);
        free(out);
        close(fd2);
        h_assert(h_wait_no_children(H.pid, H_REAP_MS * 3) == 0, "handlers (or zombies) left after the upgrade");
        stop_clean();
}

Test(upgrade, adopted_handler_times_out)
{
        uint16_t p1 = h_free_port();
        int fd;

        status_conf();
        h_dropin("a.conf",
                 "service slow {\n    listen = { \"127.0.0.1:%u\" }\n    exec = { \"/bin/sleep\", \"60\" }\n"
                 "    user = \"%s\"\n    timeout = 2\n}\n",
                 p1, H.user);
        h_start(NULL, AF_INET, p1, 0);
        fd = h_connect(AF_INET, p1);
        h_assert(fd >= 0, "connection: %s", strerror(-fd));
        h_assert(h_wait_children(H.pid, 1, 5000) == 1, "no handler");
        upgrade_ok();
        h_assert(h_wait_log("ran longer than 2 s: sending SIGTERM", 1, 5000),
                 "the adopted handler's timeout did not fire");
        h_assert(h_wait_no_children(H.pid, 3000) == 0, "the timed-out handler was not reaped");
        close(fd);
        stop_clean();
}

Test(upgrade, wait_handler_gets_its_socket_back)
{
        const char *wait_echo = getenv("WAIT_ECHO");
        uint16_t p1 = h_free_port();
        char *out = NULL;
        ssize_t n;
        pid_t first;

        cr_assert(wait_echo && *wait_echo, "WAIT_ECHO is not set");
        status_conf();
        h_dropin("w.conf",
                 "service w {\n    listen = { \"127.0.0.1:%u\" }\n    wait = yes\n    exec = { \"%s\", \"1500\" }\n"
                 "    user = \"%s\"\n}\n",
                 p1, wait_echo, H.user);
        h_start(NULL, AF_INET, p1, 0);
        n = h_request(AF_INET, p1, "one\n", &out);
        h_assert(n > 0 && strstr(out, "got=one"), "first request: \"%s\" (%zd)", out, n);
        free(out);
        first = h_wait_child(H.pid, NULL, 1000);
        h_assert(first > 0, "no wait handler running");

        upgrade_ok();
        h_assert(h_wait_log("1 handlers adopted", 1, 2000), "the wait handler was not adopted");
        /* The handler still holds the socket and serves; then it exits after its idle time. */
        n = h_request(AF_INET, p1, "two\n", &out);
        h_assert(n > 0 && strstr(out, "got=two"), "request while the adopted handler holds the socket: \"%s\"", out);
        free(out);
        h_assert(h_wait_no_children(H.pid, 5000) == 0, "the wait handler did not exit and get reaped");
        /* Watched again: a new connection starts a new handler. */
        n = h_request(AF_INET, p1, "three\n", &out);
        h_assert(n > 0 && strstr(out, "got=three"), "after the adopted wait handler exited: \"%s\" (%zd)", out, n);
        h_assert(!strstr(out, h_format("pid=%d ", (int)first)), "served by the old handler: %s", out);
        free(out);
        stop_clean();
}

Test(upgrade, broken_configuration_keeps_the_services)
{
        uint16_t p1 = h_free_port(), p2 = h_free_port();
        char *out = NULL;
        int rc;

        status_conf();
        cat_dropin("a.conf", "a", p1, "");
        h_start(NULL, AF_INET, p1, 0);
        h_dropin("b.conf", "service b {\n    listen = { \"127.0.0.1:%u\" }\n    no-such-key = 1\n}\n", p2);
        rc = superctl("upgrade", &out);
        h_assert(rc == 0 && strstr(out, "configuration was refused"), "superctl upgrade: exit %d, \"%s\"", rc, out);
        free(out);
        h_assert(h_wait_log("continuing with the services of the previous image", 1, 1000), "fallback not logged");
        expect_echo(p1, "still here\n");
        /* And a later upgrade with the configuration fixed applies it. */
        cat_dropin("b.conf", "b", p2, "");
        upgrade_ok();
        expect_echo(p2, "new service\n");
        expect_echo(p1, "old service\n");
        stop_clean();
}

/* Copy superd to DIR/superd-copy (mode 0755) and start it from there; returns the copy's path. */
static char *start_copy(uint16_t port)
{
        char *copy = h_path("superd-copy"), *conf = h_format("%s", H.conf);
        char *cp = h_format("cp '%s' '%s' && chmod 0755 '%s'", h_superd(), copy, copy);
        const char *argv[] = {copy, "-f", "-c", conf, NULL};

        h_assert(system(cp) == 0, "cannot copy superd: %s", cp);
        h_spawn_as_superd(argv, NULL);
        h_assert(h_wait_log("superd: ready:", 1, H_START_MS), "the copy of superd did not get ready");
        expect_echo(port, "started\n");
        free(cp);
        return copy;
}

Test(upgrade, deleted_binary_reexecutes_the_running_image)
{
        uint16_t p1 = h_free_port();
        char *copy;
        pid_t pid;

        status_conf();
        cat_dropin("a.conf", "a", p1, "");
        copy = start_copy(p1);
        pid = H.pid;
        h_assert(unlink(copy) == 0, "unlink %s: %s", copy, strerror(errno));
        /* Documented rule: the start path no longer exists, so /proc/self/exe, the running image, runs again. */
        upgrade_ok();
        h_assert(h_wait_log("upgrading: executing /proc/self/exe", 1, 1000), "the fallback was not /proc/self/exe");
        h_assert(H.pid == pid && h_alive(pid), "superd is gone");
        expect_echo(p1, "after\n");
        stop_clean();
}

Test(upgrade, binary_that_cannot_run_keeps_the_old_image)
{
        uint16_t p1 = h_free_port();
        unsigned long inode;
        char *copy, *out = NULL;
        FILE *f;
        int rc;

        status_conf();
        cat_dropin("a.conf", "a", p1, "");
        copy = start_copy(p1);
        inode = h_listen_inode(AF_INET, p1);
        /* Replaced by something executable that is not a program: execve(2) fails with ENOEXEC. */
        h_assert(unlink(copy) == 0 && (f = fopen(copy, "w")) != NULL, "cannot replace %s", copy);
        fputs("not a program\n", f);
        fclose(f);
        chmod(copy, 0755);
        rc = superctl("upgrade", &out);
        h_assert(rc == 1, "superctl upgrade to a broken binary: exit %d, \"%s\"", rc, out);
        free(out);
        h_assert(h_wait_log("upgrade failed: cannot execute", 1, 1000), "the failure was not logged");
        h_assert(h_listen_inode(AF_INET, p1) == inode && h_holds_socket(H.pid, inode), "the listener changed");
        expect_echo(p1, "old image\n");
        rc = superctl("status", &out);
        h_assert(rc == 0 && strstr(out, "1 service(s)"), "status after the failed upgrade: %d \"%s\"", rc, out);
        free(out);
        stop_clean();
}

/* ---- the fd store: this test plays systemd ---- */

struct stored {
        int fd;
        char name[256];
};

/* Receive every notification waiting on SOCK; collect FDSTORE=1 fds. Returns how many are stored. */
static int receive_store(int sock, struct stored *store, int n, int max)
{
        for (;;) {
                char buf[4096], cbuf[CMSG_SPACE(sizeof(int) * 16)];
                struct iovec iov = {buf, sizeof(buf) - 1};
                struct msghdr m = {
                    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
                ssize_t len = recvmsg(sock, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
                int fds[16], n_fds = 0;
                const char *name;

                if (len < 0)
                        return n;
                buf[len] = '\0';
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
                        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                                n_fds = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
                                memcpy(fds, CMSG_DATA(c), (size_t)n_fds * sizeof(int));
                        }
                if (!strstr(buf, "FDSTORE=1") || n_fds != 1) {
                        for (int i = 0; i < n_fds; i++)
                                close(fds[i]);
                        continue;
                }
                name = strstr(buf, "FDNAME=");
                h_assert(name && n < max, "FDSTORE without FDNAME, or too many: %s", buf);
                store[n].fd = fds[0];
                snprintf(store[n].name, sizeof(store[n].name), "%.*s", (int)strcspn(name + 7, "\n"), name + 7);
                n++;
        }
}

Test(upgrade, fd_store_restart_refuses_nothing)
{
        uint16_t p1 = h_free_port(), p2 = h_free_port();
        char *notify = h_path("notify.sock"), *env_notify = h_format("NOTIFY_SOCKET=%s", notify);
        const char *extra[] = {env_notify, NULL};
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        struct stored store[8];
        struct client c[4];
        pthread_t t[4];
        int sock, n = 0, status;
        pid_t pid;

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", notify);
        sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        h_assert(sock >= 0 && bind(sock, (struct sockaddr *)&sa, sizeof(sa)) == 0, "notify socket: %s",
                 strerror(errno));
        two_services(p1, p2);
        {
                const char *args[] = {"-f", "-c", H.conf, "--fd-store", NULL};
                h_spawn_superd(args, extra);
        }
        h_assert(h_wait_log("superd: ready:", 1, H_START_MS), "superd did not get ready");
        for (int64_t end = h_now_ms() + 2000; n < 2 && h_now_ms() < end; usleep(10000))
                n = receive_store(sock, store, n, 8);
        h_assert(n == 2, "%d sockets in the fd store, expected 2", n);
        expect_echo(p1, "before\n");

        for (int i = 0; i < 4; i++) {
                c[i] = (struct client){.port = i < 2 ? p1 : p2, .udp = i >= 2, .id = i};
                cr_assert(pthread_create(&t[i], NULL, client_run, &c[i]) == 0);
        }
        usleep(200 * 1000);
        /* systemctl restart: stop (the store keeps the sockets), then start with them. */
        status = h_stop(NULL);
        h_assert(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "stop: %s", h_status_str(status));
        usleep(200 * 1000); /* connections arrive while no superd runs: they queue */
        pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0) {
                char names[1024] = "", count[16], lpid[32];
                int log = open(H.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
                int dn = open("/dev/null", O_RDONLY);
                /* Out of the way of 3.. first, then into place (sd_listen_fds(3)). */
                for (int i = 0; i < n; i++)
                        store[i].fd = fcntl(store[i].fd, F_DUPFD_CLOEXEC, 100);
                for (int i = 0; i < n; i++) {
                        dup2(store[i].fd, 3 + i);
                        snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", i ? ":" : "",
                                 store[i].name);
                }
                dup2(dn, 0);
                dup2(log, 1);
                dup2(log, 2);
                close_range(3 + (unsigned)n, ~0U, 0); /* superd inherits the stored sockets only */
                snprintf(count, sizeof(count), "%d", n);
                snprintf(lpid, sizeof(lpid), "%d", (int)getpid());
                setenv("LISTEN_FDS", count, 1);
                setenv("LISTEN_FDNAMES", names, 1);
                setenv("LISTEN_PID", lpid, 1);
                setenv("NOTIFY_SOCKET", notify, 1);
                execl(h_superd(), h_superd(), "-f", "-c", H.conf, "--fd-store", (char *)NULL);
                _exit(127);
        }
        H.pid = pid;
        h_assert(h_wait_log("superd: ready:", 2, H_START_MS), "the second superd did not get ready");
        usleep(300 * 1000);
        for (int i = 0; i < 4; i++) {
                atomic_store(&c[i].stop, true);
                pthread_join(t[i], NULL);
        }
        /*
         * A restart stops superd, which ends its running handlers (superd(8),
         * KillMode= in the shipped unit): an exchange with a cat handler cut
         * then is not a refusal. What must not happen is a connection refused
         * or a datagram left unanswered.
         */
        for (int i = 0; i < 4; i++)
                h_assert(atomic_load(&c[i].refused) == 0,
                         "client %d: %d requests refused or unanswered across the "
                         "restart (of %d); first failure: %s",
                         i, atomic_load(&c[i].refused), atomic_load(&c[i].made), c[i].first_failure);
        h_assert(h_log_count("adopted the passed socket") == 2, "the second superd did not adopt both stored sockets");
        expect_echo(p1, "after\n");
        for (int i = 0; i < n; i++)
                close(store[i].fd);
        close(sock);
        stop_clean();
}

/* Read exactly LEN bytes from FD within H_IO_MS into buf (NUL-terminated). Returns 0 or -errno. */
static int read_exact(int fd, char *buf, size_t len)
{
        size_t got = 0;
        int64_t end = h_now_ms() + H_IO_MS;

        while (got < len) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                ssize_t n;
                if (poll(&p, 1, (int)(end - h_now_ms())) != 1)
                        return -ETIMEDOUT;
                n = recv(fd, buf + got, len - got, 0);
                if (n <= 0)
                        return n < 0 ? -errno : -EPIPE;
                got += (size_t)n;
        }
        buf[got] = '\0';
        return 0;
}

Test(upgrade, builtin_connection_goes_on_across_upgrades)
{
        uint16_t p1 = h_free_port();
        char buf[64];
        int fd;

        status_conf();
        h_dropin("e.conf", "service e {\n    listen = { \"127.0.0.1:%u\" }\n    builtin = echo\n}\n", p1);
        h_start(NULL, AF_INET, p1, 0);
        fd = h_connect(AF_INET, p1);
        h_assert(fd >= 0, "connect: %s", strerror(-fd));
        h_assert(h_write_all(fd, "one\n", 4, H_IO_MS) == 0 && read_exact(fd, buf, 4) == 0 && strcmp(buf, "one\n") == 0,
                 "echo before the upgrade: \"%s\"", buf);
        upgrade_ok();
        h_assert(h_write_all(fd, "two\n", 4, H_IO_MS) == 0 && read_exact(fd, buf, 4) == 0 && strcmp(buf, "two\n") == 0,
                 "the echo connection did not survive the upgrade: \"%s\"", buf);
        /* Sent while no image reads it: held by the kernel, echoed by the next image. */
        h_assert(h_write_all(fd, "three\n", 6, H_IO_MS) == 0, "write");
        upgrade_ok();
        h_assert(read_exact(fd, buf, 6) == 0 && strcmp(buf, "three\n") == 0, "bytes across the second upgrade: \"%s\"",
                 buf);
        close(fd);
        stop_clean();
}

Test(upgrade, proxy_header_wait_goes_on_across_an_upgrade)
{
        uint16_t p1 = h_free_port();
        char *out = NULL;
        const char *rest = "4 127.0.0.1 56324 443\r\nhello\n";
        ssize_t n;
        int fd;

        status_conf();
        h_dropin("p.conf",
                 "service p {\n    listen = { \"127.0.0.1:%u\" }\n    user = \"%s\"\n    exec = { \"/bin/sh\", \"-c\", "
                 "\"echo $TCPREMOTEIP; cat\" }\n    proxy-from = { \"127.0.0.1/32\" }\n    proxy-protocol = v1\n"
                 "    proxy-timeout = 10\n}\n",
                 p1, H.user);
        h_start(NULL, AF_INET, p1, 0);
        fd = h_connect(AF_INET, p1);
        h_assert(fd >= 0, "connect: %s", strerror(-fd));
        h_assert(h_write_all(fd, "PROXY TCP4 192.0.2.", 19, H_IO_MS) == 0, "write");
        usleep(SETTLE_MS * 1000); /* superd has peeked the partial header and waits in a slot */
        upgrade_ok();
        n = h_exchange(fd, rest, strlen(rest), &out, H_IO_MS);
        h_assert(n > 0 && strcmp(out, "192.0.2.4\nhello\n") == 0, "after the upgrade the connection got \"%s\" (%zd)",
                 out, n);
        free(out);
        close(fd);
        stop_clean();
}

Test(upgrade, corrupt_state_still_adopts_the_inherited_listeners)
{
        uint16_t p1 = h_free_port();
        struct sockaddr_in a = {
            .sin_family = AF_INET, .sin_port = htons(p1), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int one = 1, lfd;
        pid_t pid;

        status_conf();
        cat_dropin("a.conf", "a", p1, "");
        /* The listener as an old image leaves it: bound, listening, not CLOEXEC. */
        lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        h_assert(lfd >= 0 && setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
                     bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(lfd, 16) == 0,
                 "listen on %u: %s", p1, strerror(errno));
        pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0) {
                int log = open(H.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644), blob = memfd_create("x", 0);
                (void)!write(blob, "{\"magic\":\"garbage\"", 18);
                dup2(lfd, 3);
                dup2(blob, 4);
                dup2(log, 1);
                dup2(log, 2);
                close_range(5, ~0U, 0); /* nothing else of ours for superd to judge */
                setenv("SUPERD_UPGRADE_FD", "4", 1);
                execl(h_superd(), h_superd(), "-f", "-c", H.conf, (char *)NULL);
                _exit(127);
        }
        H.pid = pid;
        h_assert(h_wait_log("superd: ready:", 1, H_START_MS), "superd did not start on a corrupt upgrade state");
        h_assert(h_wait_log("is unusable", 1, 100), "the corrupt state was not reported");
        h_assert(h_wait_log("adopted the passed socket", 1, 100), "the inherited listener was not adopted");
        close(lfd); /* superd's copy serves on */
        expect_echo(p1, "salvaged\n");
        stop_clean();
}

Test(upgrade, handler_of_a_removed_service_is_adopted_and_reaped)
{
        uint16_t p1 = h_free_port(), p2 = h_free_port();
        char *path;
        int fd;

        status_conf();
        cat_dropin("a.conf", "a", p1, "");
        cat_dropin("b.conf", "b", p2, "    max-instances = 1\n");
        h_start(NULL, AF_INET, p1, AF_INET, p2, 0);
        fd = h_connect(AF_INET, p2);
        h_assert(fd >= 0, "connect: %s", strerror(-fd));
        h_assert(h_wait_children(H.pid, 1, 5000) == 1, "no handler");
        path = h_format("%s/b.conf", H.services);
        h_assert(unlink(path) == 0, "unlink %s", path);
        upgrade_ok();
        h_assert(h_wait_log("1 services, 1 handlers adopted", 1, 2000),
                 "the handler of the removed service was not adopted");
        h_assert(!h_listening(AF_INET, p2), "the removed service's port still listens");
        expect_echo(p1, "a still serves\n");
        /* The adopted cat still answers its client, then is reaped. */
        {
                char *out = NULL;
                ssize_t n = h_exchange(fd, "old\n", 4, &out, H_IO_MS);
                h_assert(n == 4 && strcmp(out, "old\n") == 0, "the adopted handler answered \"%s\" (%zd)", out, n);
                free(out);
        }
        close(fd);
        h_assert(h_wait_no_children(H.pid, 3000) == 0, "the adopted handler was not reaped");
        stop_clean();
}

Test(upgrade, handler_of_a_service_a_reload_removed_is_adopted)
{
        uint16_t p1 = h_free_port(), p2 = h_free_port();
        char *path, *out = NULL;
        ssize_t n;
        int fd;

        status_conf();
        cat_dropin("a.conf", "a", p1, "");
        cat_dropin("b.conf", "b", p2, "");
        h_start(NULL, AF_INET, p1, AF_INET, p2, 0);
        fd = h_connect(AF_INET, p2);
        h_assert(fd >= 0, "connect: %s", strerror(-fd));
        h_assert(h_wait_children(H.pid, 1, 5000) == 1, "no handler");
        path = h_format("%s/b.conf", H.services);
        h_assert(unlink(path) == 0, "unlink %s", path);
        kill(H.pid, SIGHUP);
        h_assert(h_wait_log("superd: reloaded: 1 service(s)", 1, 5000), "no reload");
        /* b now lives only through its handler; the upgrade must still adopt that handler. */
        upgrade_ok();
        h_assert(h_wait_log("1 services, 1 handlers adopted", 1, 2000), "the handler of the removed service was lost");
        n = h_exchange(fd, "old\n", 4, &out, H_IO_MS);
        h_assert(n == 4 && strcmp(out, "old\n") == 0, "the adopted handler answered \"%s\" (%zd)", out, n);
        free(out);
        close(fd);
        h_assert(h_wait_no_children(H.pid, 3000) == 0, "the adopted handler was not reaped");
        stop_clean();
}

/* Workers of a pool stay in their slots across an upgrade: same pids, still supervised (restarted when killed). */
Test(upgrade, workers_keep_their_slots)
{
        const char *wait_echo = getenv("WAIT_ECHO");
        uint16_t p1 = h_free_port();
        struct h_proc kids[8];
        pid_t before[2];
        char *out = NULL;
        int n;

        cr_assert(wait_echo && *wait_echo, "WAIT_ECHO is not set");
        status_conf();
        h_dropin("w.conf",
                 "service pool {\n    listen = { \"127.0.0.1:%u\" }\n    wait = yes\n    workers = 2\n"
                 "    workers-start = eager\n    exec = { \"%s\", \"600000\" }\n    user = \"%s\"\n}\n",
                 p1, wait_echo, H.user);
        h_start(NULL, AF_INET, p1, 0);
        h_assert(h_wait_children(H.pid, 2, 5000) == 2, "the two workers did not start");
        h_assert(h_children(H.pid, kids, 8) == 2, "more than two workers");
        before[0] = kids[0].pid;
        before[1] = kids[1].pid;

        upgrade_ok();
        h_assert(h_wait_log("2 handlers adopted", 1, 2000), "the workers were not adopted");
        n = h_children(H.pid, kids, 8);
        h_assert(n == 2 && ((kids[0].pid == before[0] && kids[1].pid == before[1]) ||
                            (kids[0].pid == before[1] && kids[1].pid == before[0])),
                 "after the upgrade superd runs %d workers, not the same two (an eager pool started more?)", n);
        n = (int)h_request(AF_INET, p1, "served\n", &out);
        h_assert(n > 0 && strstr(out, "got=served"), "a worker did not answer: \"%s\"", out);
        free(out);
        h_assert(superctl("status", &out) == 0 && strstr(out, "worker 0: pid") && strstr(out, "worker 1: pid"),
                 "status does not show both slots: %s", out);
        free(out);

        /* Still supervised: a killed worker is reaped and its slot restarted. */
        h_assert(kill(before[0], SIGKILL) == 0, "kill: %s", strerror(errno));
        h_assert(h_wait_log("signal SIGKILL", 1, 5000), "the killed worker's end is not logged");
        for (int i = 0; i < 50 && h_children(H.pid, kids, 8) != 2; i++)
                usleep(100000);
        n = h_children(H.pid, kids, 8);
        h_assert(n == 2 && kids[0].pid != before[0] && kids[1].pid != before[0],
                 "the killed worker's slot was not restarted (%d workers)", n);
        h_assert(h_zombies(H.pid) == 0, "a zombie is left");
        stop_clean();
}
