/* SPDX-License-Identifier: MIT */
/*
 * Every socket kind and mode with real clients: UDP and stream wait = yes
 * (sd_listen_fds handlers, a real TFTP server), unix sockets (stream,
 * seqpacket, dgram, abstract; ownership, mode, stale files, removal),
 * socket options, and superd itself socket-activated.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

TestSuite(sockets, .init = h_setup, .fini = h_teardown, .timeout = 60);

static const char *wait_echo(void)
{
        const char *p = getenv("WAIT_ECHO");

        cr_assert(p && *p, "WAIT_ECHO is not set (run through meson test)");
        return p;
}

/* Start superd with one TCP wait = yes service on 127.0.0.1:PORT running wait-echo with argument IDLE_MS. */
static void start_stream_wait(uint16_t port, const char *idle_ms)
{
        h_main_conf(NULL);
        h_dropin("w.conf",
                 "service stream-wait {\n listen = { \"127.0.0.1:%u\" }\n wait = yes\n"
                 " exec = { \"%s\", \"%s\" }\n user = \"%s\"\n}\n",
                 port, wait_echo(), idle_ms, H.user);
        h_start(NULL, AF_INET, (int)port, 0);
}

/* A value "key=VALUE" from a wait-echo answer, copied into a static buffer. */
static const char *field(const char *answer, const char *key)
{
        static char buf[128];
        char want[32];
        const char *p;
        size_t n;

        snprintf(want, sizeof(want), "%s=", key);
        p = strstr(answer, want);
        if (!p)
                return "";
        p += strlen(want);
        n = strcspn(p, " \n");
        snprintf(buf, sizeof(buf), "%.*s", (int)(n < sizeof(buf) ? n : sizeof(buf) - 1), p);
        return buf;
}

/* Send one datagram from a fresh socket (bound to `from` if not NULL) and wait for the answer. */
static ssize_t dgram_exchange(int family, const struct sockaddr *to, socklen_t to_len, const struct sockaddr *from,
                              socklen_t from_len, const char *text, char *out, size_t size, int timeout_ms)
{
        int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t n = -1;

        cr_assert(fd >= 0, "socket: %s", strerror(errno));
        if (from)
                cr_assert(bind(fd, from, from_len) == 0, "bind: %s", strerror(errno));
        if (sendto(fd, text, strlen(text), 0, to, to_len) >= 0 && poll(&p, 1, timeout_ms) == 1)
                n = recv(fd, out, size - 1, 0);
        out[n > 0 ? n : 0] = 0;
        close(fd);
        return n;
}

static ssize_t udp_exchange(uint16_t port, const char *text, char *out, size_t size)
{
        struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

        return dgram_exchange(AF_INET, (struct sockaddr *)&to, sizeof(to), NULL, 0, text, out, size, H_IO_MS);
}

static struct sockaddr_un unix_addr(const char *path, socklen_t *ret_len)
{
        struct sockaddr_un un = { .sun_family = AF_UNIX };

        if (path[0] == '@') {
                memcpy(un.sun_path + 1, path + 1, strlen(path) - 1);
                *ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
        } else {
                snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
                *ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
        }
        return un;
}

static int unix_connect(const char *path, int type)
{
        socklen_t len;
        struct sockaddr_un un = unix_addr(path, &len);
        int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

        cr_assert(fd >= 0);
        if (connect(fd, (struct sockaddr *)&un, len) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

/* Connect to 127.0.0.1:PORT, send TEXT, return the whole answer (malloc'd). */
static char *tcp_ask(uint16_t port, const char *text)
{
        char *out;
        ssize_t n = h_request(AF_INET, port, text, &out);

        h_assert(n >= 0, "request to port %u: %s", port, strerror((int)-n));
        return out;
}

/* The contents of a file, malloc'd and NUL-terminated, or NULL. */
static char *slurp(const char *path)
{
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t size = 0;
        FILE *m;
        int c;

        if (!f)
                return NULL;
        m = open_memstream(&buf, &size);
        cr_assert(m);
        while ((c = getc(f)) != EOF)
                fputc(c, m);
        fclose(m);
        fclose(f);
        return buf;
}

/* ---- wait = yes ---- */

Test(sockets, udp_wait_handler_gets_the_socket_and_is_respawned)
{
        uint16_t port = h_free_port();
        char a[1024], b[1024], c[1024], pid_a[128];

        h_main_conf(NULL);
        h_dropin("u.conf",
                 "service udp-wait {\n listen = { \"127.0.0.1:%u\" }\n socket-type = dgram\n"
                 " exec = { \"%s\", \"300\" }\n user = \"%s\"\n}\n",
                 port, wait_echo(), H.user);
        h_start_ready(NULL);

        h_assert(udp_exchange(port, "one", a, sizeof(a)) > 0, "no answer to the first datagram");
        h_assert(strcmp(field(a, "got"), "one") == 0, "answer: %s", a);
        h_assert(strcmp(field(a, "names"), "udp-wait") == 0, "LISTEN_FDNAMES: %s", a);
        h_assert(strcmp(field(a, "fds"), "0=1=3") == 0, "fds 0, 1 and 3 must be the socket: %s", a);
        h_assert(strcmp(field(a, "blocking"), "yes") == 0, "the handler must get a blocking socket: %s", a);
        h_assert(strcmp(field(a, "type"), "dgram") == 0, "%s", a);
        snprintf(pid_a, sizeof(pid_a), "%s", field(a, "pid"));

        /* The same handler answers while it runs: superd does not spawn a second one. */
        h_assert(udp_exchange(port, "two", b, sizeof(b)) > 0, "no answer to the second datagram");
        h_assert(strcmp(field(b, "pid"), pid_a) == 0, "second datagram went to pid %s, not %s", field(b, "pid"),
                 pid_a);
        h_assert(h_children(H.pid, NULL, 0) == 1, "superd runs %d handlers, want 1", h_children(H.pid, NULL, 0));

        /* Idle, it exits; superd watches the socket again and starts a new one. */
        h_assert(h_wait_no_children(H.pid, 5000) == 0, "the wait handler did not exit");
        h_assert(udp_exchange(port, "three", c, sizeof(c)) > 0, "no answer after the handler exited");
        h_assert(strcmp(field(c, "got"), "three") == 0, "answer: %s", c);
        h_assert(strcmp(field(c, "pid"), pid_a) != 0, "a new handler must answer, got pid %s again", pid_a);
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}

/*
 * deny on a wait = yes dgram service (tftp restricted by only_from): superd
 * peeks at the first datagram's sender; a refused datagram is dropped and
 * nothing is started, so the next handler's first datagram is an admitted one.
 */
Test(sockets, udp_wait_deny_drops_the_datagram_and_starts_nothing)
{
        uint16_t port = h_free_port();
        struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port) },
                           from = { .sin_family = AF_INET };
        char a[1024];

        inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
        inet_pton(AF_INET, "127.0.0.2", &from.sin_addr);
        h_main_conf(NULL);
        h_dropin("u.conf",
                 "service udp-guarded {\n listen = { \"127.0.0.1:%u\" }\n socket-type = dgram\n"
                 " deny = { \"127.0.0.2\" }\n max-per-source = 1\n log-connections = yes\n"
                 " exec = { \"%s\", \"300\" }\n user = \"%s\"\n}\n",
                 port, wait_echo(), H.user);
        h_start_ready(NULL);

        for (int i = 0; i < 3; i++)
                h_assert(dgram_exchange(AF_INET, (struct sockaddr *)&to, sizeof(to), (struct sockaddr *)&from,
                                        sizeof(from), "refused", a, sizeof(a), 300) < 0,
                         "a datagram from 127.0.0.2 was answered: %s", a);
        h_assert(h_children(H.pid, NULL, 0) == 0, "a handler was started for a denied datagram");
        h_assert(h_wait_log("not allowed", 1, H_IO_MS), "no refusal in the log");

        h_assert(udp_exchange(port, "welcome", a, sizeof(a)) > 0, "no answer from 127.0.0.1");
        h_assert(strcmp(field(a, "got"), "welcome") == 0, "the handler read a refused datagram: %s", a);
        h_assert(h_wait_log("udp-guarded: accept 127.0.0.1:", 1, H_IO_MS), "no accept line naming the sender");
        h_assert(h_wait_no_children(H.pid, 5000) == 0, "the wait handler did not exit");
        h_assert(h_wait_log("exitcode 0 after", 1, H_IO_MS), "no end line");
        /* The source was released at its end: the same address is served again. */
        h_assert(udp_exchange(port, "again", a, sizeof(a)) > 0, "no answer after the first handler ended");
        h_assert(strcmp(field(a, "got"), "again") == 0, "answer: %s", a);
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}

Test(sockets, stream_wait_handler_accepts_in_a_loop)
{
        uint16_t port = h_free_port();
        char pid_first[128] = "";

        start_stream_wait(port, "400");

        for (int i = 0; i < 3; i++) {
                char req[16], *out;
                snprintf(req, sizeof(req), "req%d\n", i);
                out = tcp_ask(port, req);
                h_assert(strcmp(field(out, "type"), "stream") == 0, "answer %d: %s", i, out);
                h_assert(strcmp(field(out, "names"), "stream-wait") == 0, "answer %d: %s", i, out);
                h_assert(strcmp(field(out, "fds"), "0=1=3") == 0, "answer %d: %s", i, out);
                h_assert(strncmp(field(out, "got"), req, 4) == 0, "answer %d: %s", i, out);
                if (i == 0)
                        snprintf(pid_first, sizeof(pid_first), "%s", field(out, "pid"));
                else
                        h_assert(strcmp(field(out, "pid"), pid_first) == 0,
                                 "connection %d served by pid %s, the first by %s: superd must not accept while "
                                 "the wait handler runs",
                                 i, field(out, "pid"), pid_first);
                free(out);
        }
        h_assert(h_wait_no_children(H.pid, 5000) == 0, "the wait handler did not exit when idle");
        char *out = tcp_ask(port, "again\n");
        h_assert(*field(out, "pid") && strcmp(field(out, "pid"), pid_first) != 0,
                 "after the exit a new handler must answer: %s", out);
        free(out);
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}

Test(sockets, tftp_server_in_wait_mode_serves_repeated_gets)
{
        const char *tftpd = "/usr/sbin/in.tftpd", *tftp = "/usr/bin/tftp";
        uint16_t port = h_free_port();
        char *root = h_path("tftp"), *big;

        cr_assert(access(tftpd, X_OK) == 0 && access(tftp, X_OK) == 0,
                  "tftpd-hpa and tftp-hpa must be installed (.ci/run installs them)");
        cr_assert(geteuid() == 0, "in.tftpd chroots into its folder: this test runs as root (CI does)");
        cr_assert(mkdir(root, 0755) == 0);
        h_write_file("tftp/small.txt", 0644, "hello over tftp\n");
        big = malloc(200001);
        for (int i = 0; i < 200000; i++)
                big[i] = (char)('a' + i % 26);
        big[200000] = 0;
        h_write_file("tftp/big.bin", 0644, "%s", big);

        h_main_conf(NULL);
        /* -t 1: wait a second for more requests, then exit; superd starts it again for the next. */
        h_dropin("tftp.conf",
                 "service tftp {\n listen = { \"127.0.0.1:%u\" }\n socket-type = dgram\n wait = yes\n"
                 " exec = { \"%s\", \"-s\", \"-t\", \"1\", \"%s\" }\n user = \"root\"\n}\n",
                 port, tftpd, root);
        h_start_ready(NULL);

        for (int round = 0; round < 4; round++) {
                const char *name = round % 2 ? "big.bin" : "small.txt";
                char portstr[8], local[64], *got, *err = NULL;
                const char *argv[] = { tftp, "-m", "binary", "127.0.0.1", portstr, "-c", "get", name, local, NULL };
                int status;

                snprintf(portstr, sizeof(portstr), "%u", port);
                snprintf(local, sizeof(local), "got-%d", round);
                status = h_run(argv, NULL, H.dir, NULL, &err, 20000);
                h_assert(status == 0, "tftp get %s (round %d): %s; stderr: %s", name, round, h_status_str(status),
                         err ? err : "");
                free(err);
                got = slurp(h_path(local));
                h_assert(got, "tftp wrote no %s", local);
                h_assert(strcmp(got, round % 2 ? big : "hello over tftp\n") == 0, "%s differs (round %d, %zu bytes)",
                         name, round, strlen(got));
                free(got);
                if (round == 1)
                        /* Let the server time out and exit: the next get must start a new one. */
                        h_assert(h_wait_no_children(H.pid, 10000) == 0, "in.tftpd did not exit after -t 1");
        }
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
        free(big);
}

/* ---- unix sockets ---- */

static char *ask_unix(const char *path, int type)
{
        char *out;
        int fd = unix_connect(path, type);

        h_assert(fd >= 0, "connect %s: %s", path, strerror(-fd));
        h_assert(h_exchange(fd, "", 0, &out, H_IO_MS) >= 0, "exchange on %s", path);
        close(fd);
        return out;
}

Test(sockets, unix_stream_mode_owner_and_peer_credentials)
{
        char *path = h_path("s.sock"), *out, want[64];
        struct group *gr = getgrnam("nogroup") ?: getgrnam("nobody");
        struct stat st;

        cr_assert(gr, "no group nogroup/nobody on this machine");
        h_main_conf(NULL);
        h_dropin("u.conf",
                 "service unix-info {\n listen = { \"unix:%s\" }\n exec = { \"%s\" }\n user = \"%s\"\n"
                 " socket-mode = 0660\n socket-group = \"%s\"\n}\n",
                 path, getenv("CONNECTION_INFO"), H.user, gr->gr_name);
        h_start_ready(NULL);

        h_assert(lstat(path, &st) == 0, "no socket file %s", path);
        h_assert(S_ISSOCK(st.st_mode), "%s is not a socket", path);
        h_assert((st.st_mode & 07777) == 0660, "mode %04o, want 0660", st.st_mode & 07777);
        h_assert(st.st_gid == gr->gr_gid, "group %u, want %u (%s)", st.st_gid, gr->gr_gid, gr->gr_name);

        out = ask_unix(path, SOCK_STREAM);
        h_assert(strstr(out, "ENV PROTO=UNIX\n"), "no PROTO=UNIX in:\n%s", out);
        snprintf(want, sizeof(want), "ENV UNIXREMOTEPID=%d\n", (int)getpid());
        h_assert(strstr(out, want), "no %s in:\n%s", want, out);
        snprintf(want, sizeof(want), "ENV UNIXREMOTEEUID=%u\n", (unsigned)geteuid());
        h_assert(strstr(out, want), "no %s in:\n%s", want, out);
        snprintf(want, sizeof(want), "ENV UNIXREMOTEEGID=%u\n", (unsigned)getegid());
        h_assert(strstr(out, want), "no %s in:\n%s", want, out);
        h_assert(!strstr(out, "TCPREMOTEIP"), "TCP variables on a unix socket:\n%s", out);
        free(out);

        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
        h_assert(lstat(path, &st) < 0 && errno == ENOENT, "%s must be removed at stop", path);
}

Test(sockets, unix_stale_socket_file_is_replaced)
{
        char *path = h_path("stale.sock"), *out;
        socklen_t len;
        struct sockaddr_un un = unix_addr(path, &len);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        /* What a crashed daemon leaves: a socket file nobody listens on. */
        cr_assert(bind(fd, (struct sockaddr *)&un, len) == 0);
        close(fd);
        h_main_conf(NULL);
        h_dropin("u.conf", "service stale {\n listen = { \"unix:%s\" }\n exec = { \"%s\" }\n user = \"%s\"\n}\n", path,
                 getenv("CONNECTION_INFO"), H.user);
        h_start_ready(NULL);
        out = ask_unix(path, SOCK_STREAM);
        h_assert(strstr(out, "ENV PROTO=UNIX\n"), "no answer on the replaced socket:\n%s", out);
        free(out);
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}

static void expect_start_failure(const char *needle)
{
        const char *args[] = { "-f", "-c", H.conf, NULL };
        int status;
        char *log;

        h_spawn_superd(args, NULL);
        status = h_wait_exit(H_START_MS);
        log = h_log();
        h_assert(WIFEXITED(status) && WEXITSTATUS(status) == 3, "superd: %s, want exit 3", h_status_str(status));
        h_assert(strstr(log, needle), "no '%s' in the log", needle);
        free(log);
}

Test(sockets, unix_regular_file_in_the_way_is_kept)
{
        char *path = h_path("file.sock");
        struct stat st;

        h_write_file("file.sock", 0644, "precious\n");
        h_main_conf(NULL);
        h_dropin("u.conf", "service f {\n listen = { \"unix:%s\" }\n exec = { \"%s\" }\n user = \"%s\"\n}\n", path,
                 getenv("CONNECTION_INFO"), H.user);
        expect_start_failure("not a socket");
        h_assert(stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 9, "the regular file was touched");
}

Test(sockets, unix_missing_folder_is_a_clear_error)
{
        char *path = h_path("no/such/folder/x.sock");

        h_main_conf(NULL);
        h_dropin("u.conf", "service f {\n listen = { \"unix:%s\" }\n exec = { \"%s\" }\n user = \"%s\"\n}\n", path,
                 getenv("CONNECTION_INFO"), H.user);
        expect_start_failure("No such file or directory");
}

Test(sockets, unix_abstract_and_seqpacket)
{
        char name[64], *path = h_path("seq.sock"), *out;

        snprintf(name, sizeof(name), "@superd-test-%d", (int)getpid());
        h_main_conf(NULL);
        h_dropin("u.conf",
                 "service abstract {\n listen = { \"unix:%s\" }\n exec = { \"%s\" }\n user = \"%s\"\n}\n"
                 "service seq {\n listen = { \"unix:%s\" }\n socket-type = seqpacket\n exec = { \"%s\" }\n"
                 " user = \"%s\"\n}\n",
                 name, getenv("CONNECTION_INFO"), H.user, path, getenv("CONNECTION_INFO"), H.user);
        h_start_ready(NULL);
        out = ask_unix(name, SOCK_STREAM);
        h_assert(strstr(out, "ENV SUPERD_SERVICE=abstract\n"), "abstract socket answer:\n%s", out);
        free(out);
        out = ask_unix(path, SOCK_SEQPACKET);
        h_assert(strstr(out, "ENV SUPERD_SERVICE=seq\n") && strstr(out, "ENV PROTO=UNIX\n"),
                 "seqpacket answer:\n%s", out);
        free(out);
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}

/* Inode of the listening unix socket bound to NAME ("/file" or "@name") in /proc/net/unix, 0 if none. */
static unsigned long unix_listen_inode(const char *name)
{
        FILE *f = fopen("/proc/net/unix", "re");
        char line[512], path[256];
        unsigned long flags, inode, found = 0;

        cr_assert_not_null(f);
        while (!found && fgets(line, sizeof(line), f))
                /* Num RefCount Protocol Flags Type St Inode Path; __SO_ACCEPTCON (1 << 16) marks a listener. */
                if (sscanf(line, "%*s %*s %*s %lx %*s %*s %lu %255s", &flags, &inode, path) == 3 &&
                    (flags & (1UL << 16)) && strcmp(path, name) == 0)
                        found = inode;
        fclose(f);
        return found;
}

/* NAME (a unix:/path or unix:@name listener of service `kept`) answers, with the socket of inode INODE. */
static void expect_kept(const char *name, unsigned long inode, const char *when)
{
        char *out;

        h_assert(unix_listen_inode(name) == inode && h_holds_socket(H.pid, inode),
                 "%s: the listener %s has socket %lu, not %lu", when, name, unix_listen_inode(name), inode);
        out = ask_unix(name, SOCK_STREAM);
        h_assert(strstr(out, "ENV SUPERD_SERVICE=kept\n"), "%s: answer on %s:\n%s", when, name, out);
        free(out);
}

/* Unchanged unix listeners, a socket file and an abstract name, keep their sockets across a reload and an upgrade. */
Test(sockets, unix_listeners_keep_their_sockets_across_reload_and_upgrade)
{
        char name[64], *path = h_path("kept.sock");
        unsigned long file_socket, abstract_socket;
        struct stat st;
        ino_t file_ino;

        snprintf(name, sizeof(name), "@superd-kept-%d", (int)getpid());
        h_main_conf(NULL);
        h_dropin("u.conf",
                 "service kept {\n listen = { \"unix:%s\", \"unix:%s\" }\n exec = { \"%s\" }\n user = \"%s\"\n}\n",
                 path, name, getenv("CONNECTION_INFO"), H.user);
        h_start_ready(NULL);
        file_socket = unix_listen_inode(path);
        abstract_socket = unix_listen_inode(name);
        h_assert(file_socket && abstract_socket, "not listening: %s %lu, %s %lu", path, file_socket, name,
                 abstract_socket);
        h_assert(lstat(path, &st) == 0, "no socket file %s", path);
        file_ino = st.st_ino;
        expect_kept(path, file_socket, "at start");
        expect_kept(name, abstract_socket, "at start");

        /* A reload that adds a service: the plan compares the kept entries with those of a new configuration. */
        h_dropin("v.conf", "service other {\n listen = { \"unix:%s\" }\n exec = { \"%s\" }\n user = \"%s\"\n}\n",
                 h_path("other.sock"), getenv("CONNECTION_INFO"), H.user);
        kill(H.pid, SIGHUP);
        h_assert(h_wait_log("reloaded:", 1, 5000), "no reload");
        expect_kept(path, file_socket, "after the reload");
        expect_kept(name, abstract_socket, "after the reload");

        /* An upgrade: the blob carries them, the new image takes them over. */
        kill(H.pid, SIGUSR2);
        h_assert(h_wait_log("superd: upgraded: superd ", 1, 5000), "no upgrade after SIGUSR2");
        expect_kept(path, file_socket, "after the upgrade");
        expect_kept(name, abstract_socket, "after the upgrade");
        h_assert(lstat(path, &st) == 0 && st.st_ino == file_ino, "the socket file %s was replaced", path);

        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
        h_assert(lstat(path, &st) < 0 && errno == ENOENT, "%s must be removed at stop", path);
}

Test(sockets, unix_dgram_wait)
{
        char *path = h_path("d.sock"), *client = h_path("client.sock"), out[1024];
        socklen_t to_len, from_len;
        struct sockaddr_un to = unix_addr(path, &to_len), from = unix_addr(client, &from_len);

        h_main_conf(NULL);
        h_dropin("u.conf",
                 "service unix-dgram {\n listen = { \"unix:%s\" }\n socket-type = dgram\n exec = { \"%s\", \"300\" }\n"
                 " user = \"%s\"\n}\n",
                 path, wait_echo(), H.user);
        h_start_ready(NULL);
        h_assert(dgram_exchange(AF_UNIX, (struct sockaddr *)&to, to_len, (struct sockaddr *)&from, from_len, "hi",
                                out, sizeof(out), H_IO_MS) > 0,
                 "no answer on the unix dgram socket");
        h_assert(strcmp(field(out, "got"), "hi") == 0 && strcmp(field(out, "type"), "dgram") == 0, "answer: %s", out);
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}

/* ---- socket options ---- */

/* The backlog of the TCP listener on 127.0.0.1:PORT, as `ss` shows it (Send-Q), or -1. */
static int listen_backlog(uint16_t port)
{
        char filter[64], *out = NULL;
        const char *argv[] = { "/usr/bin/ss", "-ltnH", filter, NULL };
        int recvq, sendq = -1;

        snprintf(filter, sizeof(filter), "sport = :%u", port);
        if (access(argv[0], X_OK) < 0)
                argv[0] = "/bin/ss";
        cr_assert(h_run(argv, NULL, NULL, &out, NULL, 5000) == 0, "ss failed (iproute2 is installed by .ci/run)");
        if (sscanf(out, "LISTEN %d %d", &recvq, &sendq) != 2)
                sendq = -1;
        free(out);
        return sendq;
}

Test(sockets, socket_options_backlog_reuse_port_ipv6_only)
{
        uint16_t p1 = h_free_port(), p2 = h_free_port();
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(p1), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd, one = 1, r;

        h_main_conf(NULL);
        h_dropin("o.conf",
                 "service opts {\n listen = { \"127.0.0.1:%u\" }\n backlog = 7\n reuse-port = yes\n keepalive = yes\n"
                 " nodelay = yes\n exec = { \"%s\" }\n user = \"%s\"\n}\n"
                 "service v6only {\n listen = { \"[::]:%u\" }\n ipv6-only = yes\n exec = { \"%s\" }\n user = \"%s\"\n}\n",
                 p1, getenv("CONNECTION_INFO"), H.user, p2, getenv("CONNECTION_INFO"), H.user);
        h_start(NULL, AF_INET, (int)p1, AF_INET6, (int)p2, 0);

        h_assert(listen_backlog(p1) == 7, "backlog %d, want 7", listen_backlog(p1));
        /* SO_REUSEPORT on superd's socket lets another socket that sets it bind the same address. */
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
        r = bind(fd, (struct sockaddr *)&a, sizeof(a));
        h_assert(r == 0, "bind with SO_REUSEPORT beside superd: %s", strerror(errno));
        close(fd);

        /* ipv6-only: IPv4 clients are not served on "[::]:PORT". */
        fd = h_connect(AF_INET, p2);
        h_assert(fd < 0, "an IPv4 client reached an ipv6-only listener");
        fd = h_connect(AF_INET6, p2);
        h_assert(fd >= 0, "::1 could not connect to the ipv6-only listener: %s", strerror(-fd));
        close(fd);
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}

Test(sockets, free_bind_allows_a_missing_address)
{
        uint16_t port = h_free_port();

        /* 192.0.2.0/24 is TEST-NET-1: never configured here, never routed; nothing is sent to it. */
        h_main_conf(NULL);
        h_dropin("f.conf", "service fb {\n listen = { \"192.0.2.7:%u\" }\n free-bind = yes\n exec = { \"%s\" }\n user = \"%s\"\n}\n",
                 port, getenv("CONNECTION_INFO"), H.user);
        h_start_ready(NULL);
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");

        h_dropin("f.conf", "service fb {\n listen = { \"192.0.2.7:%u\" }\n exec = { \"%s\" }\n user = \"%s\"\n}\n", port,
                 getenv("CONNECTION_INFO"), H.user);
        expect_start_failure("Cannot assign requested address");
}

Test(sockets, changed_options_reopen_the_listener_at_reload)
{
        uint16_t port = h_free_port();

        h_main_conf(NULL);
        h_dropin("o.conf", "service o {\n listen = { \"127.0.0.1:%u\" }\n backlog = 5\n exec = { \"%s\" }\n user = \"%s\"\n}\n",
                 port, getenv("CONNECTION_INFO"), H.user);
        h_start(NULL, AF_INET, (int)port, 0);
        h_assert(listen_backlog(port) == 5, "backlog %d, want 5", listen_backlog(port));
        h_dropin("o.conf", "service o {\n listen = { \"127.0.0.1:%u\" }\n backlog = 9\n exec = { \"%s\" }\n user = \"%s\"\n}\n",
                 port, getenv("CONNECTION_INFO"), H.user);
        kill(H.pid, SIGHUP);
        h_assert(h_wait_log("reloaded:", 1, 5000), "no reload");
        h_assert(listen_backlog(port) == 9, "backlog %d after the reload, want 9", listen_backlog(port));
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}

/* ---- superd socket-activated ---- */

Test(sockets, adopts_passed_sockets_by_address)
{
        const char *activate = "/usr/bin/systemd-socket-activate";
        uint16_t port = h_free_port(), stray = h_free_port();
        char l1[32], l2[32], *out, *log;
        int fd;

        cr_assert(access(activate, X_OK) == 0, "systemd-socket-activate is missing (package systemd)");
        snprintf(l1, sizeof(l1), "127.0.0.1:%u", port);
        snprintf(l2, sizeof(l2), "127.0.0.1:%u", stray);
        h_main_conf(NULL);
        h_dropin("a.conf", "service adopted {\n listen = { \"127.0.0.1:%u\" }\n exec = { \"%s\" }\n user = \"%s\"\n}\n",
                 port, getenv("CONNECTION_INFO"), H.user);
        const char *argv[] = { activate, "-l", l1, "-l", l2, h_superd(), "-f", "-c", H.conf, NULL };
        h_spawn_as_superd(argv, NULL);
        /* systemd-socket-activate execs superd at the first connection, which then waits in the backlog. */
        h_assert(h_wait_log("Listening on", 2, H_START_MS), "systemd-socket-activate did not listen");
        out = tcp_ask(port, "");
        h_assert(strstr(out, "ENV SUPERD_SERVICE=adopted\n"), "answer on the adopted socket:\n%s", out);
        h_assert(!strstr(out, "LISTEN_"), "a handler must not see superd's LISTEN_* variables:\n%s", out);
        free(out);
        h_assert(h_wait_log("superd: ready:", 1, H_START_MS), "superd did not get ready");

        log = h_log();
        h_assert(strstr(log, "adopted the passed socket for 127.0.0.1:"), "no adoption in the log");
        h_assert(strstr(log, "matches no listen entry"), "the stray passed socket was not reported");
        free(log);
        /* The stray socket was closed: nothing listens there any more. */
        fd = h_connect(AF_INET, stray);
        h_assert(fd < 0, "the unmatched passed socket on %u still accepts", stray);
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}

Test(sockets, adopts_passed_unix_sockets_by_address)
{
        const char *activate = "/usr/bin/systemd-socket-activate";
        char name[64], *path = h_path("passed.sock"), *out, *log, *file_line, *abstract_line;
        struct stat st;

        cr_assert(access(activate, X_OK) == 0, "systemd-socket-activate is missing (package systemd)");
        snprintf(name, sizeof(name), "@superd-passed-%d", (int)getpid());
        h_main_conf(NULL);
        h_dropin("a.conf",
                 "service passed {\n listen = { \"unix:%s\", \"unix:%s\" }\n exec = { \"%s\" }\n user = \"%s\"\n}\n",
                 path, name, getenv("CONNECTION_INFO"), H.user);
        const char *argv[] = {activate, "-l", path, "-l", name, h_superd(), "-f", "-c", H.conf, NULL};
        h_spawn_as_superd(argv, NULL);
        h_assert(h_wait_log("Listening on", 2, H_START_MS), "systemd-socket-activate did not listen");
        out = ask_unix(path, SOCK_STREAM);
        h_assert(strstr(out, "ENV SUPERD_SERVICE=passed\n"), "answer on the passed socket file:\n%s", out);
        free(out);
        h_assert(h_wait_log("superd: ready:", 1, H_START_MS), "superd did not get ready");
        out = ask_unix(name, SOCK_STREAM);
        h_assert(strstr(out, "ENV SUPERD_SERVICE=passed\n"), "answer on the passed abstract socket:\n%s", out);
        free(out);

        log = h_log();
        file_line = h_format("adopted the passed socket for unix:%s\n", path);
        abstract_line = h_format("adopted the passed socket for unix:%s\n", name);
        h_assert(strstr(log, file_line) && strstr(log, abstract_line), "both passed sockets must be adopted");
        h_assert(!strstr(log, "matches no listen entry"), "a passed unix socket matched no entry");
        free(log);
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
        h_assert(lstat(path, &st) == 0, "%s was passed, not bound by superd: not its to remove", path);
}

/* ---- wait mode across a reload ---- */

Test(sockets, wait_listener_survives_reloads_while_its_handler_runs)
{
        uint16_t port = h_free_port(), other = h_free_port();
        char *out, pid_first[128];

        start_stream_wait(port, "1500");
        out = tcp_ask(port, "a\n");
        snprintf(pid_first, sizeof(pid_first), "%s", field(out, "pid"));
        free(out);

        /* Unchanged across a reload: the running handler keeps the socket, superd does not accept meanwhile. */
        kill(H.pid, SIGHUP);
        h_assert(h_wait_log("reloaded:", 1, 5000), "no reload");
        out = tcp_ask(port, "b\n");
        h_assert(strcmp(field(out, "pid"), pid_first) == 0, "after the reload pid %s answered, not the running %s",
                 field(out, "pid"), pid_first);
        free(out);

        /* Its handler exits: the listener taken over by the new service is watched again. */
        h_assert(h_wait_no_children(H.pid, 5000) == 0, "the wait handler did not exit");
        out = tcp_ask(port, "c\n");
        h_assert(*field(out, "pid") && strcmp(field(out, "pid"), pid_first) != 0, "no new handler: %s", out);
        free(out);

        /* Removed while its handler runs: the handler finishes, is reaped, and superd carries on. */
        h_dropin("w.conf", "service other {\n listen = { \"127.0.0.1:%u\" }\n exec = { \"%s\" }\n user = \"%s\"\n}\n",
                 other, getenv("CONNECTION_INFO"), H.user);
        kill(H.pid, SIGHUP);
        h_assert(h_wait_log("reloaded:", 2, 5000), "no second reload");
        h_assert(h_wait_no_children(H.pid, 5000) == 0, "the removed service's handler was not reaped");
        out = tcp_ask(other, "");
        h_assert(strstr(out, "ENV SUPERD_SERVICE=other\n"), "superd stopped serving:\n%s", out);
        free(out);
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}
