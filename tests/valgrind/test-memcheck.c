/* SPDX-License-Identifier: MIT */
/*
 * superd under valgrind's memcheck: one superd (built with -Dspawn=vfork,
 * which valgrind can run) with every kind of socket serves a few hundred
 * real connections, survives a good and a bad reload, SIGUSR1 and the
 * status socket, and stops on SIGTERM with handlers still running. It must
 * exit 0 with 0 memcheck errors and 0 bytes definitely lost.
 *
 * The handlers are not checked: valgrind runs each start as a fork of
 * itself until the child's execve (--trace-children=no), so only superd's
 * own code, the child's set-up included, is under memcheck. Each such child
 * has its own log file, which must hold nothing but valgrind's preamble.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* Bounds, in milliseconds, generous: memcheck slows superd down many times (the whole test takes ~5 s here). */
#define VG_START_MS  60000 /* exec of valgrind to superd's "ready:" line */
#define VG_STOP_MS   60000 /* SIGTERM to exit, the leak check included */
#define VG_LOG_MS    20000 /* a signal or a reload to its log line */
#define VG_UDP_MS    3000  /* one datagram's answer, per attempt */
#define VG_UDP_TRIES 3     /* attempts per datagram exchange */
#define VG_LOG_LINES 200   /* of the valgrind log in a failure's message (the report file has it all) */

#define ROUNDS         30  /* each round: one exchange with every service (14 connections) */
#define BURST          16  /* swapcase connections open at once, during SIGUSR1 */
#define SLEEPERS       3   /* `sleep 30` handlers running at SIGTERM */
#define VG_EXIT_ERRORS 66  /* valgrind's exit status when it found errors (--error-exitcode) */
#define CHARGEN_BYTES  300 /* read from chargen, then hang up on it */
/* Exchanges checked in all: rounds before the reload lack `added`; then `doomed` once, and the burst. */
#define SERVED ((ROUNDS / 3) * 13 + (ROUNDS - ROUNDS / 3) * 14 + 1 + BURST)

#define STR_(x) #x
#define STR(x)  STR_(x)

TestSuite(valgrind, .init = h_setup, .fini = h_teardown, .timeout = 200);

static struct {
        uint16_t swapcase, sleeper, echo, discard, chargen, daytime, time, udp_echo, udp_daytime, wait_stream,
            wait_dgram, doomed, added;
} port;
static char *stream_sock, *seq_sock, *status_sock;
static pid_t superd_pid; /* H.pid is 0 once superd is reaped; the log file is named after this */
static int served;       /* exchanges whose answer was checked */

/* The last LINES lines of the file at PATH, malloc'd ("" if missing). */
static char *file_tail(const char *path, int lines)
{
        FILE *f = fopen(path, "re");
        char *text = NULL, *tail;
        size_t size = 0, len;
        const char *p;
        int n = 0;

        if (!f)
                return h_format("(cannot open %s: %s)\n", path, strerror(errno));
        len = getdelim(&text, &size, '\0', f) > 0 ? strlen(text) : 0;
        fclose(f);
        p = text ? text + len : "";
        if (len > 0 && p[-1] == '\n')
                p--;
        while (text && p > text && n < lines)
                if (*--p == '\n')
                        n++;
        tail = h_format("%s", text && *p == '\n' ? p + 1 : p);
        free(text);
        return tail;
}

static char *vg_log_path(pid_t pid)
{
        return h_format("%s/vg.%d.log", H.dir, (int)pid);
}

/*
 * Write the report file $MEMCHECK_REPORT (meson-logs/memcheck.log of the
 * build; nothing if unset): HEADLINE, then superd's whole valgrind log.
 * Criterion drops what a test prints, so this is how CI shows the log.
 */
static void write_report(const char *headline)
{
        const char *report = getenv("MEMCHECK_REPORT");
        char *vg, *text;
        FILE *f;

        if (!report || !*report)
                return;
        vg = vg_log_path(superd_pid);
        text = superd_pid > 0 ? file_tail(vg, 1000000) : h_format("(superd was not started)\n");
        f = fopen(report, "we");
        cr_assert(f != NULL, "open %s: %s", report, strerror(errno));
        fprintf(f, "%s\n---- %s ----\n%s---- end ----\n", headline, vg, text);
        fclose(f);
        free(text);
        free(vg);
}

/*
 * Fail the test unless COND holds: the message, then the tail of superd's
 * valgrind log and of superd.log. The report file gets the whole valgrind
 * log.
 */
#define v_assert(cond, ...)                                                                                            \
        do {                                                                                                           \
                if (!(cond))                                                                                           \
                        fail_with_logs(h_format(__VA_ARGS__));                                                         \
        } while (0)

static _Noreturn void fail_with_logs(char *msg)
{
        char *vg = vg_log_path(superd_pid), *vg_tail = file_tail(vg, VG_LOG_LINES), *log_tail = h_log_tail(H_LOG_LINES);

        write_report(h_format("memcheck: FAILED: %s", msg));
        cr_assert_fail("%s\n---- tail of %s ----\n%s---- tail of superd.log ----\n%s---- end ----", msg, vg, vg_tail,
                       log_tail);
        abort(); /* not reached: cr_assert_fail ends the test */
}

/* ---- clients ---- */

/*
 * A request to TCP PORT (of service WHAT) on 127.0.0.1 or ::1, the write
 * side shut after it; the whole answer (malloc'd).
 */
static char *tcp_ask(const char *what, int family, uint16_t port_, const char *text)
{
        char *out;
        ssize_t n = h_request(family, port_, text, &out);

        v_assert(n >= 0, "%s on TCP %s:%u: %s (after %d exchanges)", what, family == AF_INET ? "127.0.0.1" : "[::1]",
                 port_, strerror((int)-n), served);
        return out;
}

/* A connected unix socket of TYPE to PATH, or -errno. */
static int unix_connect(const char *path, int type)
{
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0), r;

        if (fd < 0)
                return -errno;
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

/* Like tcp_ask() over the unix socket PATH of TYPE (stream or seqpacket: one message). */
static char *unix_ask(const char *path, int type, const char *text)
{
        int fd = unix_connect(path, type);
        char *out;
        ssize_t n;

        v_assert(fd >= 0, "connect to %s: %s", path, strerror(-fd));
        n = h_exchange(fd, text, strlen(text), &out, H_IO_MS);
        close(fd);
        v_assert(n >= 0, "exchange over %s: %s", path, strerror((int)-n));
        return out;
}

/* One datagram to 127.0.0.1:PORT and its answer (malloc'd); sent again after VG_UDP_MS without one. */
static char *udp_ask(uint16_t port_, const char *text)
{
        struct sockaddr_in to = {
            .sin_family = AF_INET, .sin_port = htons(port_), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        char buf[2048];
        ssize_t n = -1;

        v_assert(fd >= 0, "socket: %s", strerror(errno));
        for (int attempt = 0; attempt < VG_UDP_TRIES && n < 0; attempt++) {
                struct pollfd p = {.fd = fd, .events = POLLIN};

                v_assert(sendto(fd, text, strlen(text), 0, (struct sockaddr *)&to, sizeof(to)) >= 0,
                         "sendto 127.0.0.1:%u: %s", port_, strerror(errno));
                if (poll(&p, 1, VG_UDP_MS) == 1)
                        n = recv(fd, buf, sizeof(buf) - 1, 0);
        }
        close(fd);
        v_assert(n >= 0, "no answer from UDP 127.0.0.1:%u in %d attempts", port_, VG_UDP_TRIES);
        buf[n] = '\0';
        return strdup(buf);
}

/* Connect to chargen, read CHARGEN_BYTES, check the first line, hang up while it still sends. */
static void chargen(void)
{
        char buf[CHARGEN_BYTES];
        int fd = h_connect(AF_INET, port.chargen);
        int64_t deadline = h_now_ms() + H_IO_MS;
        size_t got = 0;

        v_assert(fd >= 0, "connect to chargen: %s", strerror(-fd));
        while (got < sizeof(buf) && h_now_ms() < deadline) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                ssize_t n;

                if (poll(&p, 1, (int)(deadline - h_now_ms())) <= 0)
                        continue;
                n = recv(fd, buf + got, sizeof(buf) - got, MSG_DONTWAIT);
                if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                        break;
                if (n > 0)
                        got += (size_t)n;
        }
        close(fd);
        v_assert(got == sizeof(buf), "chargen sent %zu of %zu bytes", got, sizeof(buf));
        v_assert(buf[0] == ' ' && buf[1] == '!' && buf[72] == '\r' && buf[73] == '\n' && buf[74] == '!',
                 "chargen's first line is not the RFC 864 pattern: \"%.74s\"", buf);
        served++;
}

/* Check that the answer OUT is WANT; counts it as served and frees it. */
static void expect_answer(char *out, const char *want, const char *what)
{
        v_assert(strcmp(out, want) == 0, "%s answered \"%s\", expected \"%s\"", what, out, want);
        served++;
        free(out);
}

/* Check that the answer OUT contains every NULL-terminated needle; counts it and frees it. */
static void expect_contains(char *out, const char *what, ...)
{
        va_list ap;

        va_start(ap, what);
        for (const char *needle; (needle = va_arg(ap, const char *));)
                v_assert(strstr(out, needle) != NULL, "%s answered \"%s\", without \"%s\"", what, out, needle);
        va_end(ap);
        served++;
        free(out);
}

/* The case of every ASCII letter of TEXT toggled, in a static buffer: what swapcase answers. */
static const char *swapped(const char *text)
{
        static char buf[256];
        size_t i;

        for (i = 0; text[i] && i < sizeof(buf) - 1; i++) {
                char c = text[i];
                buf[i] = c >= 'a' && c <= 'z' ? (char)(c - 32) : c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
        }
        buf[i] = '\0';
        return buf;
}

/* One exchange with every service of the running configuration (`added` only after the good reload). */
static void round_trip(int i, bool added)
{
        char text[64], *out;
        ssize_t n;

        snprintf(text, sizeof(text), "Round %d Hello\n", i);
        expect_answer(tcp_ask("swapcase", AF_INET, port.swapcase, text), swapped(text), "swapcase on 127.0.0.1");
        expect_answer(tcp_ask("swapcase", AF_INET6, port.swapcase, text), swapped(text), "swapcase on [::1]");
        expect_answer(tcp_ask("echo", i % 2 ? AF_INET : AF_INET6, port.echo, text), text, "the TCP echo builtin");

        n = h_request(AF_INET, port.discard, text, &out);
        v_assert(n == 0, "the discard builtin: %zd (%s), expected 0 bytes and EOF", n, n < 0 ? strerror((int)-n) : out);
        free(out);
        served++;

        chargen();

        out = tcp_ask("daytime", AF_INET, port.daytime, "");
        v_assert(strlen(out) == 26 && strcmp(out + 24, "\r\n") == 0, "the daytime builtin answered \"%s\"", out);
        free(out);
        served++;

        n = h_request(AF_INET, port.time, "", &out);
        v_assert(n == 4, "the time builtin sent %zd bytes, expected 4", n);
        free(out);
        served++;

        snprintf(text, sizeof(text), "udp %d", i);
        expect_answer(udp_ask(port.udp_echo, text), text, "the UDP echo builtin");
        out = udp_ask(port.udp_daytime, "now?");
        v_assert(strlen(out) == 26 && strcmp(out + 24, "\r\n") == 0, "the UDP daytime builtin answered \"%s\"", out);
        free(out);
        served++;

        snprintf(text, sizeof(text), "unix stream %d\n", i);
        expect_answer(unix_ask(stream_sock, SOCK_STREAM, text), text, "/bin/cat on a unix stream socket");
        snprintf(text, sizeof(text), "Seqpacket %d", i);
        expect_answer(unix_ask(seq_sock, SOCK_SEQPACKET, text), swapped(text), "swapcase on a seqpacket socket");

        snprintf(text, sizeof(text), "wait %d\n", i);
        expect_contains(tcp_ask("wait-stream", AF_INET, port.wait_stream, text), "the stream wait = yes handler",
                        "names=wait-stream", "type=stream", h_format("got=wait %d\n", i), (char *)NULL);
        snprintf(text, sizeof(text), "wdg %d", i);
        expect_contains(udp_ask(port.wait_dgram, text), "the dgram wait = yes handler", "names=wait-dgram",
                        "type=dgram", h_format("got=wdg %d\n", i), (char *)NULL);

        if (added) {
                snprintf(text, sizeof(text), "added %d\n", i);
                expect_answer(tcp_ask("added", AF_INET, port.added, text), text, "the service added by the reload");
        }
}

/* ---- superd ---- */

/*
 * The drop-in of the TCP handlers: swapcase with process settings, a
 * timeout and access control, its environment saying GREETING; and sleeper.
 */
static void exec_dropin(const char *swapcase, const char *greeting)
{
        h_dropin("10-exec.conf",
                 "service swapcase {\n"
                 "    listen = { \"127.0.0.1:%u\", \"[::1]:%u\" }\n"
                 "    exec = { \"%s\" }\n"
                 "    user = \"%s\"\n"
                 "    env = { \"GREETING=%s\" }\n"
                 "    allow = { \"127.0.0.0/8\", \"::1\" }\n"
                 "    max-per-source = 32\n"
                 "    timeout = 60\n"
                 "    umask = 027\n"
                 /* Not rlimit-nofile: valgrind refuses to change that hard limit (EPERM, exit 127). */
                 "    rlimit-cpu = 60\n"
                 "}\n"
                 "service sleeper {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    exec = { \"/bin/sleep\", \"30\" }\n"
                 "    user = \"%s\"\n"
                 "    timeout = 120\n"
                 "}\n",
                 port.swapcase, port.swapcase, swapcase, H.user, greeting, port.sleeper, H.user);
}

/* Drop-ins of the starting configuration; `doomed` goes and `added` comes with the good reload. */
static void write_config(void)
{
        const char *wait_echo = getenv("WAIT_ECHO");
        char *swapcase = h_helper("swapcase");

        cr_assert(wait_echo && access(wait_echo, X_OK) == 0, "WAIT_ECHO is not set: run through `meson test`");
        status_sock = h_path("status.sock");
        stream_sock = h_path("stream.sock");
        seq_sock = h_path("seq.sock");
        h_main_conf(h_format("status-socket = \"%s\"\nmax-children = 64\n", status_sock));
        exec_dropin(swapcase, "hello");
        h_dropin("20-builtins.conf",
                 "service echo { listen = { \"127.0.0.1:%u\", \"[::1]:%u\" } builtin = echo }\n"
                 "service discard { listen = { \"127.0.0.1:%u\" } builtin = discard }\n"
                 "service chargen { listen = { \"127.0.0.1:%u\" } builtin = chargen }\n"
                 "service daytime { listen = { \"127.0.0.1:%u\" } builtin = daytime }\n"
                 "service time { listen = { \"127.0.0.1:%u\" } builtin = time }\n"
                 "service udp-echo { listen = { \"127.0.0.1:%u\" } socket-type = dgram builtin = echo }\n"
                 "service udp-daytime { listen = { \"127.0.0.1:%u\" } socket-type = dgram builtin = daytime }\n",
                 port.echo, port.echo, port.discard, port.chargen, port.daytime, port.time, port.udp_echo,
                 port.udp_daytime);
        h_dropin("30-unix.conf",
                 "service unix-stream {\n"
                 "    listen = { \"unix:%s\" }\n"
                 "    exec = { \"/bin/cat\" }\n"
                 "    user = \"%s\"\n"
                 "}\n"
                 "service unix-seqpacket {\n"
                 "    listen = { \"unix:%s\" }\n"
                 "    socket-type = seqpacket\n"
                 "    exec = { \"%s\" }\n"
                 "    user = \"%s\"\n"
                 "}\n",
                 stream_sock, H.user, seq_sock, swapcase, H.user);
        /* wait-echo exits after 300 ms without traffic, so rounds start it again and again. */
        h_dropin("40-wait.conf",
                 "service wait-stream {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    wait = yes\n"
                 "    exec = { \"%s\", \"300\" }\n"
                 "    user = \"%s\"\n"
                 "}\n"
                 "service wait-dgram {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    socket-type = dgram\n"
                 "    wait = yes\n"
                 "    exec = { \"%s\", \"300\" }\n"
                 "    user = \"%s\"\n"
                 "}\n",
                 port.wait_stream, wait_echo, H.user, port.wait_dgram, wait_echo, H.user);
        h_dropin("50-doomed.conf", "service doomed { listen = { \"127.0.0.1:%u\" } builtin = echo }\n", port.doomed);
        free(swapcase);
}

/* Start superd under memcheck and wait for its "ready:" line. */
static void start_under_valgrind(void)
{
        const char *valgrind = getenv("VALGRIND");
        char *log_file = h_format("--log-file=%s/vg.%%p.log", H.dir);
        const char *argv[] = {
            valgrind,
            "--tool=memcheck",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite",
            "--error-exitcode=" STR(VG_EXIT_ERRORS),
            "--track-fds=no",
            /* Handlers are exec'd programs, not superd: only the child's set-up before execve is checked. */
            "--trace-children=no",
            /* ... and that child's errors must show, in its own vg.PID.log. */
            "--child-silent-after-fork=no",
            "--num-callers=30",
            "--track-origins=yes",
            log_file,
            h_superd(),
            "-f",
            "-c",
            H.conf,
            NULL,
        };

        cr_assert(valgrind && *valgrind && access(valgrind, X_OK) == 0,
                  "valgrind was not found when meson configured this build: apt-get install valgrind, then "
                  "meson setup --reconfigure");
        write_report("memcheck: running (a test that ends before its verdict leaves this line)");
        superd_pid = h_spawn_as_superd(argv, NULL);
        if (!h_wait_log("superd: ready:", 1, VG_START_MS)) {
                int status = h_wait_exit(0);
                v_assert(false, "superd under valgrind did not get ready within %d ms (%s)", VG_START_MS,
                         h_status_str(status));
        }
}

/* Send SIG and wait for the COUNT-th log line with NEEDLE. */
static void signal_and_wait(int sig, const char *needle, int count)
{
        v_assert(kill(H.pid, sig) == 0, "kill %s: %s", sigabbrev_np(sig), strerror(errno));
        v_assert(h_wait_log(needle, count, VG_LOG_MS), "no %d line(s) \"%s\" within %d ms of SIG%s", count, needle,
                 VG_LOG_MS, sigabbrev_np(sig));
}

/* `superctl -s STATUS_SOCK COMMAND`: its wait status, stdout and stderr (malloc'd). */
static int superctl(const char *command, char **ret_out, char **ret_err)
{
        const char *bin = getenv("SUPERCTL");
        const char *argv[] = {bin, "-s", status_sock, command, NULL};

        cr_assert(bin && access(bin, X_OK) == 0, "SUPERCTL is not set: run through `meson test`");
        return h_run(argv, NULL, NULL, ret_out, ret_err, VG_LOG_MS);
}

/* Live children of superd running COMM; their pids into RET (up to MAX). */
static int children_named(const char *comm, pid_t *ret, int max)
{
        struct h_proc kids[256];
        int n = h_children(H.pid, kids, 256), found = 0;

        for (int i = 0; i < n && i < 256; i++)
                if (kids[i].state != 'Z' && strcmp(kids[i].comm, comm) == 0 && found < max)
                        ret[found++] = kids[i].pid;
        return found;
}

/* ---- the valgrind logs ---- */

/* The log of superd itself: exit status 0, no error, nothing definitely lost. */
static void check_superd_log(int status)
{
        char *path = vg_log_path(superd_pid), *text = file_tail(path, 1000000);
        bool no_leak =
            strstr(text, "definitely lost: 0 bytes in 0 blocks") || strstr(text, "All heap blocks were freed");

        v_assert(WIFEXITED(status) && WEXITSTATUS(status) != VG_EXIT_ERRORS,
                 "valgrind found errors in superd (exit status %d)", VG_EXIT_ERRORS);
        v_assert(status == 0, "superd under valgrind did not exit 0 on SIGTERM: %s", h_status_str(status));
        v_assert(strstr(text, "ERROR SUMMARY: 0 errors from 0 contexts"), "valgrind reports errors in superd");
        v_assert(no_leak, "valgrind reports memory definitely lost by superd");
        free(text);
        free(path);
}

/* A line of a child's log that valgrind writes at every start: "==PID== " then one of these, or nothing. */
static bool preamble_line(const char *line)
{
        static const char *const starts[] = {"Memcheck, a memory error detector", "Copyright (C)", "Using Valgrind-",
                                             "Command: ", "Parent PID: "};
        const char *p = strstr(line, "== ");

        if (strncmp(line, "==", 2) != 0 || !p)
                return false;
        p += 3;
        if (*p == '\0' || *p == '\n')
                return true;
        for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++)
                if (strncmp(p, starts[i], strlen(starts[i])) == 0)
                        return true;
        return false;
}

/*
 * The logs of the handler starts (valgrind forks of superd until execve):
 * only the preamble, or the child reported an error or did not exec.
 * Returns how many there are.
 */
static int check_child_logs(void)
{
        DIR *d = opendir(H.dir);
        char *own = h_format("vg.%d.log", (int)superd_pid);
        struct dirent *de;
        int n = 0;

        cr_assert(d != NULL, "opendir %s: %s", H.dir, strerror(errno));
        while ((de = readdir(d))) {
                char *path, line[1024];
                FILE *f;

                if (strncmp(de->d_name, "vg.", 3) != 0 || strcmp(de->d_name, own) == 0)
                        continue;
                n++;
                path = h_format("%s/%s", H.dir, de->d_name);
                f = fopen(path, "re");
                v_assert(f != NULL, "open %s: %s", path, strerror(errno));
                while (fgets(line, sizeof(line), f))
                        v_assert(preamble_line(line),
                                 "a handler start (valgrind child) logged more than the "
                                 "preamble:\n---- %s ----\n%s---- end ----",
                                 path, file_tail(path, 200));
                fclose(f);
                free(path);
        }
        closedir(d);
        free(own);
        return n;
}

Test(valgrind, every_socket_kind_reloads_signals_and_stop_are_memcheck_clean)
{
        int fds[BURST], sleeper_fds[SLEEPERS], held, status, children_logs;
        pid_t sleepers[SLEEPERS];
        char *out, *err;
        int64_t t0 = h_now_ms(), t_ready, t_stop;

        port.swapcase = h_free_port();
        port.sleeper = h_free_port();
        port.echo = h_free_port();
        port.discard = h_free_port();
        port.chargen = h_free_port();
        port.daytime = h_free_port();
        port.time = h_free_port();
        port.udp_echo = h_free_port();
        port.udp_daytime = h_free_port();
        port.wait_stream = h_free_port();
        port.wait_dgram = h_free_port();
        port.doomed = h_free_port();
        port.added = h_free_port();
        write_config();
        start_under_valgrind();
        t_ready = h_now_ms();

        for (int i = 0; i < ROUNDS / 3; i++)
                round_trip(i, false);
        expect_answer(tcp_ask("doomed", AF_INET, port.doomed, "doomed\n"), "doomed\n",
                      "the echo service the reload removes");

        /* SIGUSR1 while BURST handlers run at once. */
        for (int i = 0; i < BURST; i++) {
                fds[i] = h_connect(i % 2 ? AF_INET : AF_INET6, port.swapcase);
                v_assert(fds[i] >= 0, "burst connection %d: %s", i, strerror(-fds[i]));
        }
        v_assert(h_wait_children(H.pid, BURST, VG_LOG_MS) >= BURST, "superd did not start %d handlers", BURST);
        signal_and_wait(SIGUSR1, "service(s), ", 1);
        for (int i = 0; i < BURST; i++) {
                char text[32];
                ssize_t n;

                snprintf(text, sizeof(text), "Burst %d\n", i);
                n = h_exchange(fds[i], text, strlen(text), &out, H_IO_MS);
                close(fds[i]);
                v_assert(n >= 0, "burst connection %d: %s", i, strerror((int)-n));
                expect_answer(out, swapped(text), "swapcase in the burst");
        }

        /* A good reload: one service goes, one comes, one changes its environment. */
        {
                char *doomed = h_format("%s/50-doomed.conf", H.services);
                v_assert(unlink(doomed) == 0, "unlink %s: %s", doomed, strerror(errno));
                free(doomed);
        }
        {
                char *swapcase = h_helper("swapcase");
                exec_dropin(swapcase, "goodbye");
                free(swapcase);
        }
        h_dropin("60-added.conf",
                 "service added {\n    listen = { \"127.0.0.1:%u\" }\n    exec = { \"/bin/cat\" }\n"
                 "    user = \"%s\"\n}\n",
                 port.added, H.user);
        signal_and_wait(SIGHUP, "superd: reloaded:", 1);
        {
                int64_t deadline = h_now_ms() + VG_LOG_MS;
                while (h_listening(AF_INET, port.doomed) && h_now_ms() < deadline)
                        usleep(10000);
                v_assert(!h_listening(AF_INET, port.doomed), "the removed service still listens");
        }
        for (int i = ROUNDS / 3; i < 2 * ROUNDS / 3; i++)
                round_trip(i, true);

        /* The status socket: status, and a good reload through it. */
        status = superctl("status", &out, &err);
        v_assert(status == 0 && strstr(out, "swapcase") && strstr(out, "wait-dgram") && strstr(out, "added"),
                 "superctl status: %s\n%s%s", h_status_str(status), out, err);
        free(out);
        free(err);
        status = superctl("reload", &out, &err);
        v_assert(status == 0 && strstr(out, "reloaded:"), "superctl reload: %s\n%s%s", h_status_str(status), out, err);
        free(out);
        free(err);

        /* A bad reload, by SIGHUP and through the status socket: superd keeps serving the running set. */
        h_dropin("70-broken.conf", "service broken {\n    listen = { \"127.0.0.1:%u\"\n    exec = \n", port.doomed);
        signal_and_wait(SIGHUP, "reload failed", 1);
        status = superctl("reload", &out, &err);
        v_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1 && strstr(err, "70-broken.conf"),
                 "superctl reload of a broken drop-in: %s\n%s%s", h_status_str(status), out, err);
        free(out);
        free(err);
        v_assert(h_wait_log("reload failed", 2, VG_LOG_MS), "no second \"reload failed\" line");
        for (int i = 2 * ROUNDS / 3; i < ROUNDS; i++)
                round_trip(i, true);

        /* SIGTERM with handlers running: SLEEPERS `sleep 30`, and a swapcase waiting for input. */
        for (int i = 0; i < SLEEPERS; i++) {
                sleeper_fds[i] = h_connect(AF_INET, port.sleeper);
                v_assert(sleeper_fds[i] >= 0, "connect to sleeper: %s", strerror(-sleeper_fds[i]));
        }
        held = h_connect(AF_INET, port.swapcase);
        v_assert(held >= 0, "connect to swapcase: %s", strerror(-held));
        {
                int64_t deadline = h_now_ms() + VG_LOG_MS;
                while (children_named("sleep", sleepers, SLEEPERS) < SLEEPERS && h_now_ms() < deadline)
                        usleep(10000);
                v_assert(children_named("sleep", sleepers, SLEEPERS) == SLEEPERS, "the %d sleep handlers did not start",
                         SLEEPERS);
        }
        t_stop = h_now_ms();
        v_assert(kill(H.pid, SIGTERM) == 0, "kill SIGTERM: %s", strerror(errno));
        status = h_wait_exit(VG_STOP_MS);
        v_assert(status != -1, "superd under valgrind did not exit within %d ms of SIGTERM", VG_STOP_MS);
        t_stop = h_now_ms() - t_stop;
        for (int i = 0; i < SLEEPERS; i++) {
                v_assert(!h_alive(sleepers[i]), "sleep handler %d outlived superd", (int)sleepers[i]);
                close(sleeper_fds[i]);
        }
        close(held);
        {
                char *log = h_log(), *line = strstr(log, "received SIGTERM, stopping (");
                unsigned running = 0;

                v_assert(line && sscanf(line, "received SIGTERM, stopping (%u handler(s) running)", &running) == 1 &&
                             running >= SLEEPERS + 1,
                         "superd did not log its stop with at least %d handlers running", SLEEPERS + 1);
                v_assert(strstr(log, "superd: stopped"), "superd did not log \"stopped\"");
                free(log);
        }

        check_superd_log(status);
        children_logs = check_child_logs();
        v_assert(served == SERVED, "%d exchanges served, expected %d", served, SERVED);
        write_report(h_format("memcheck: passed: %d exchanges checked, %d handler starts under valgrind; ready "
                              "after %.1f s, stopped %.1f s after SIGTERM, %.1f s in all",
                              served, children_logs, (double)(t_ready - t0) / 1000, (double)t_stop / 1000,
                              (double)(h_now_ms() - t0) / 1000));
}
