/* SPDX-License-Identifier: MIT */
/*
 * The PROXY protocol (proxy-protocol, proxy-from, proxy-timeout,
 * proxy-health): real HAProxy in front of superd with send-proxy and
 * send-proxy-v2, and raw clients that write v1 and v2 headers themselves.
 * Pins what a handler sees (the client's addresses, PROXY_PEER_ADDR, the
 * TLVs), that allow/deny and max-per-source judge the client and not the
 * balancer, that bad, late and surplus headers are refused and counted, and
 * that a slow header never holds up other connections.
 */
#include <arpa/inet.h>
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

/* HAProxy started by this test, 0 when none runs; killed by pid in the suite's .fini. */
static pid_t hp_pid;

static void proxy_teardown(void)
{
        if (hp_pid > 0) {
                kill(hp_pid, SIGKILL);
                waitpid(hp_pid, NULL, 0);
                hp_pid = 0;
        }
        h_teardown();
}

TestSuite(proxy, .init = h_setup, .fini = proxy_teardown, .timeout = 60);

/* ---- raw clients ---- */

/* Connect from SRC to DST:PORT (addresses of 127.0.0.0/8). Returns a blocking CLOEXEC socket. */
static int connect_from(const char *src, const char *dst, uint16_t port)
{
        struct sockaddr_in from = {.sin_family = AF_INET}, to = {.sin_family = AF_INET, .sin_port = htons(port)};
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        cr_assert(fd >= 0, "socket: %s", strerror(errno));
        cr_assert(inet_pton(AF_INET, src, &from.sin_addr) == 1 && inet_pton(AF_INET, dst, &to.sin_addr) == 1);
        h_assert(bind(fd, (struct sockaddr *)&from, sizeof(from)) == 0, "bind %s: %s", src, strerror(errno));
        h_assert(connect(fd, (struct sockaddr *)&to, sizeof(to)) == 0, "connect from %s to %s:%u: %s", src, dst, port,
                 strerror(errno));
        return fd;
}

/* The local port of the connected socket FD (the client's source port). */
static unsigned local_port(int fd)
{
        struct sockaddr_in a;
        socklen_t len = sizeof(a);

        cr_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
        return ntohs(a.sin_port);
}

/* A v1 header "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n" into BUF. Returns its length. */
static size_t v1_header(char *buf, size_t size, const char *src, const char *dst, unsigned sport, unsigned dport)
{
        int n =
            snprintf(buf, size, "PROXY %s %s %s %u %u\r\n", strchr(src, ':') ? "TCP6" : "TCP4", src, dst, sport, dport);

        cr_assert(n > 0 && (size_t)n < size);
        return (size_t)n;
}

#define PP2_LOCAL 0x0
#define PP2_PROXY 0x1

/* The 12-byte v2 signature. */
static const unsigned char pp2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/*
 * A v2 header into BUF: command CMD (PP2_LOCAL, PP2_PROXY), TCP over IPv4 or
 * IPv6 as SRC shows (SRC NULL: family UNSPEC, no addresses), then TLVS of
 * TLV_LEN bytes (already encoded, see tlv()). Returns its length.
 */
static size_t v2_header(unsigned char *buf, size_t size, int cmd, const char *src, const char *dst, unsigned sport,
                        unsigned dport, const void *tlvs, size_t tlv_len)
{
        size_t n = 16, addr_len = 0;

        cr_assert(size >= 16 + 36 + tlv_len);
        memcpy(buf, pp2_sig, sizeof(pp2_sig));
        buf[12] = (unsigned char)(0x20 | cmd);
        buf[13] = 0x00;
        if (src) {
                int family = strchr(src, ':') ? AF_INET6 : AF_INET;

                addr_len = family == AF_INET6 ? 16 : 4;
                buf[13] = family == AF_INET6 ? 0x21 : 0x11; /* TCP over IPv6, TCP over IPv4 */
                cr_assert(inet_pton(family, src, buf + n) == 1 && inet_pton(family, dst, buf + n + addr_len) == 1);
                n += 2 * addr_len;
                buf[n++] = (unsigned char)(sport >> 8), buf[n++] = (unsigned char)sport;
                buf[n++] = (unsigned char)(dport >> 8), buf[n++] = (unsigned char)dport;
        }
        if (tlv_len > 0) /* tlvs may be NULL then: memcpy's arguments must not be */
                memcpy(buf + n, tlvs, tlv_len);
        n += tlv_len;
        buf[14] = (unsigned char)((n - 16) >> 8);
        buf[15] = (unsigned char)(n - 16);
        return n;
}

/* Append a TLV of TYPE with LEN bytes of VALUE at BUF + *AT. */
static void tlv(unsigned char *buf, size_t *at, unsigned type, const void *value, size_t len)
{
        buf[(*at)++] = (unsigned char)type;
        buf[(*at)++] = (unsigned char)(len >> 8);
        buf[(*at)++] = (unsigned char)len;
        memcpy(buf + *at, value, len);
        *at += len;
}

/*
 * True if the peer closes FD without sending a byte within TIMEOUT_MS: a
 * refused connection. A reset counts as closed (superd may close with
 * unread bytes of ours, which the kernel answers with RST).
 */
static bool closed_without_data(int fd, int timeout_ms)
{
        char *out;
        ssize_t n = h_read_all(fd, &out, timeout_ms);
        bool closed = (n == 0 || n == -ECONNRESET) && out[0] == '\0';

        free(out);
        return closed;
}

/* Read until EOF (H_IO_MS); the text, malloc'd. Fails the test on error. */
static char *read_reply(int fd, const char *what)
{
        char *out;
        ssize_t n = h_read_all(fd, &out, H_IO_MS);

        h_assert(n > 0, "%s: no reply (%zd: %s), got \"%s\"", what, n, n < 0 ? strerror((int)-n) : "EOF", out);
        return out;
}

/* Write LEN bytes of BUF to FD, then the rest of the exchange as h_read_all(). */
static char *send_and_read(int fd, const void *buf, size_t len, const char *what)
{
        h_assert(h_write_all(fd, buf, len, H_IO_MS) == 0, "%s: write failed", what);
        return read_reply(fd, what);
}

/* Wait up to TIMEOUT_MS for a line of text from FD (blocking socket). Returns bytes read, 0 on EOF, -1 on timeout. */
static ssize_t read_some(int fd, char *buf, size_t size, int timeout_ms)
{
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ssize_t n;

        if (poll(&pfd, 1, timeout_ms) <= 0)
                return -1;
        n = recv(fd, buf, size - 1, MSG_DONTWAIT);
        buf[n > 0 ? n : 0] = '\0';
        return n;
}

/* ---- connection-info's report ---- */

/* The value of "ENV NAME=" in connection-info's report OUT, malloc'd, or NULL when absent. */
static char *env_value(const char *out, const char *name)
{
        char *needle = h_format("ENV %s=", name);
        const char *p = out;
        size_t len = strlen(needle);

        while (p && strncmp(p, needle, len) != 0) {
                p = strchr(p, '\n');
                p = p ? p + 1 : NULL;
        }
        free(needle);
        if (!p)
                return NULL;
        p += len;
        return strndup(p, strcspn(p, "\n"));
}

/* Fail unless connection-info's report OUT has NAME=WANT. */
static void expect_env(const char *out, const char *name, const char *want)
{
        char *v = env_value(out, name);

        h_assert(v && strcmp(v, want) == 0, "%s is \"%s\", expected \"%s\"; the report:\n%s", name, v ? v : "(unset)",
                 want, out);
        free(v);
}

static const char *connection_info(void)
{
        const char *s = getenv("CONNECTION_INFO");

        cr_assert(s && *s, "CONNECTION_INFO is not set: run through `meson test`");
        return s;
}

/* ---- superd's configuration and status ---- */

/* The main file, with a status socket DIR/status.sock. */
static void main_conf(void)
{
        char *extra = h_format("status-socket = \"%s\"\n", h_path("status.sock"));

        h_main_conf(extra);
        free(extra);
}

/*
 * A service NAME on 127.0.0.1:PORT that takes PROXY headers from
 * 127.0.0.1 (proxy-from), plus EXTRA keys (proxy-protocol and the rest).
 * Its handler is connection-info unless EXTRA names `exec` or `builtin`.
 */
static void proxy_service(const char *name, uint16_t port, const char *extra)
{
        char *file = h_format("%s.conf", name), *exec = h_format("    exec = { \"%s\" }\n", connection_info());

        if (strstr(extra, "exec") || strstr(extra, "builtin"))
                exec[0] = '\0';
        h_dropin(file,
                 "service %s {\n    listen = { \"127.0.0.1:%u\" }\n    user = \"%s\"\n"
                 "    proxy-from = { \"127.0.0.1/32\" }\n%s%s}\n",
                 name, port, H.user, exec, extra);
        free(file), free(exec);
}

/* superd's status reply (JSON) from the status socket into *RET_JSON (malloc'd); connects within H_START_MS. */
static void status_json(char **ret_json)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int64_t deadline = h_now_ms() + H_START_MS;
        char *path = h_path("status.sock");
        int fd;

        strcpy(sa.sun_path, path);
        for (;;) {
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                cr_assert(fd >= 0);
                if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
                        break;
                close(fd);
                h_assert(h_now_ms() < deadline, "cannot connect to the status socket %s: %s", path, strerror(errno));
                usleep(10 * 1000);
        }
        h_assert(h_exchange(fd, "status\n", 7, ret_json, H_IO_MS) > 0, "no status reply");
        close(fd);
        free(path);
}

/*
 * The service NAME's refused.proxy counter in superd's status, or -1 if the
 * reply has none; the whole reply in *RET_JSON (malloc'd).
 */
static long long refused_proxy(const char *name, char **ret_json)
{
        char *needle = h_format("\"name\":\"%s\"", name);
        const char *p, *next;

        status_json(ret_json);
        p = strstr(*ret_json, needle);
        free(needle);
        if (!p)
                return -1;
        next = strstr(p + 1, "\"name\":"); /* the next service's object, if any */
        p = strstr(p, "\"proxy\":");
        return p && (!next || p < next) ? strtoll(p + 8, NULL, 10) : -1;
}

/* Wait up to TIMEOUT_MS until NAME's refused.proxy reaches WANT; fails the test with the reply otherwise. */
static void expect_refused_proxy(const char *name, long long want, int timeout_ms)
{
        int64_t deadline = h_now_ms() + timeout_ms;
        long long got;
        char *json;

        for (;;) {
                got = refused_proxy(name, &json);
                if (got == want || h_now_ms() >= deadline)
                        break;
                free(json);
                usleep(20 * 1000);
        }
        h_assert(got == want, "%s: refused.proxy is %lld, expected %lld; status:\n%s", name, got, want, json);
        free(json);
}

/* ---- HAProxy ---- */

/* One frontend on 127.0.0.3:FRONT forwarding to superd on 127.0.0.1:SERVER with SEND ("send-proxy", ...). */
struct route {
        uint16_t front, server;
        const char *send;
};

/* The HAProxy binary: fails (does not skip) the test when it is missing. .ci/run installs it. */
static const char *haproxy_path(void)
{
        static const char *const dirs[] = {"/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin", "/sbin"};
        static char found[256];
        const char *path = getenv("PATH");
        char *copy = strdup(path ? path : ""), *save = NULL;

        for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                snprintf(found, sizeof(found), "%s/haproxy", d);
                if (access(found, X_OK) == 0) {
                        free(copy);
                        return found;
                }
        }
        free(copy);
        for (size_t i = 0; i < sizeof(dirs) / sizeof(*dirs); i++) {
                snprintf(found, sizeof(found), "%s/haproxy", dirs[i]);
                if (access(found, X_OK) == 0)
                        return found;
        }
        cr_assert_fail("haproxy is not installed (apt-get install haproxy): these tests need it");
        return NULL;
}

/*
 * Write DIR/haproxy.cfg with one frontend/backend pair per route, start
 * `haproxy -f DIR/haproxy.cfg -db` in the foreground (output to
 * DIR/haproxy.log) and wait until every frontend listens.
 */
static void haproxy_start(const struct route *routes, size_t n)
{
        const char *bin = haproxy_path();
        char *cfg = h_path("haproxy.cfg"), *logpath = h_path("haproxy.log");
        FILE *f = fopen(cfg, "we");
        int64_t deadline;

        cr_assert(f, "%s: %s", cfg, strerror(errno));
        fprintf(f, "global\n    maxconn 100\n    log stderr format raw local0 info\n\n"
                   "defaults\n    mode tcp\n    log global\n    option tcplog\n"
                   "    timeout connect 5s\n    timeout client 5s\n    timeout server 5s\n");
        for (size_t i = 0; i < n; i++)
                fprintf(f,
                        "\nfrontend f%zu\n    bind 127.0.0.3:%u\n    default_backend b%zu\n"
                        "\nbackend b%zu\n    server s%zu 127.0.0.1:%u %s\n",
                        i, routes[i].front, i, i, i, routes[i].server, routes[i].send);
        cr_assert(fclose(f) == 0);

        hp_pid = fork();
        cr_assert(hp_pid >= 0, "fork: %s", strerror(errno));
        if (hp_pid == 0) {
                int null = open("/dev/null", O_RDONLY), log = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);

                if (null < 0 || log < 0 || dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
                        _exit(126);
                execl(bin, bin, "-f", cfg, "-db", (char *)NULL);
                _exit(127);
        }
        deadline = h_now_ms() + H_START_MS;
        for (size_t i = 0; i < n; i++)
                while (!h_listening(AF_INET, routes[i].front)) {
                        int status;
                        pid_t r = waitpid(hp_pid, &status, WNOHANG);

                        if (r == hp_pid || h_now_ms() >= deadline) {
                                const char *argv_log[] = {"/bin/cat", logpath, NULL};
                                char *text = NULL;

                                bool exited = r == hp_pid;

                                if (exited)
                                        hp_pid = 0; /* reaped: .fini must not kill that pid */
                                h_run(argv_log, NULL, NULL, &text, NULL, 2000);
                                cr_assert_fail("haproxy %s (frontend port %u not listening):\n%s",
                                               exited ? h_status_str(status) : "did not start in time", routes[i].front,
                                               text ? text : "");
                        }
                        usleep(10 * 1000);
                }
}

/* ---- the tests ---- */

Test(proxy, haproxy_v1_and_v2_give_the_handler_the_clients_address)
{
        uint16_t s1 = h_free_port(), s2 = h_free_port(), f1 = h_free_port(), f2 = h_free_port();
        const struct route routes[] = {{f1, s1, "send-proxy"}, {f2, s2, "send-proxy-v2"}};

        main_conf();
        proxy_service("viaone", s1, "    proxy-protocol = v1\n");
        proxy_service("viatwo", s2, "    proxy-protocol = v2\n");
        h_start(NULL, AF_INET, (int)s1, AF_INET, (int)s2, 0);
        haproxy_start(routes, 2);

        for (size_t i = 0; i < 2; i++) {
                int fd = connect_from("127.0.0.5", "127.0.0.3", routes[i].front);
                char *port = h_format("%u", local_port(fd)), *front = h_format("%u", routes[i].front);
                char *out = read_reply(fd, routes[i].send);

                expect_env(out, "TCPREMOTEIP", "127.0.0.5");
                expect_env(out, "TCPREMOTEPORT", port);
                expect_env(out, "REMOTE_ADDR", "127.0.0.5");
                expect_env(out, "REMOTE_PORT", port);
                expect_env(out, "TCPLOCALIP", "127.0.0.3");
                expect_env(out, "TCPLOCALPORT", front);
                expect_env(out, "PROXY_PEER_ADDR", "127.0.0.1");
                expect_env(out, "PROTO", "TCP");
                close(fd);
                free(out), free(port), free(front);
        }
        expect_refused_proxy("viaone", 0, 0);
        expect_refused_proxy("viatwo", 0, 0);
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}

Test(proxy, deny_judges_the_client_behind_haproxy)
{
        uint16_t s = h_free_port(), f = h_free_port();
        const struct route routes[] = {{f, s, "send-proxy-v2"}};
        int fd;
        char *out;

        main_conf();
        proxy_service("guarded", s, "    proxy-protocol = v2\n    deny = { \"127.0.0.5\" }\n");
        h_start(NULL, AF_INET, (int)s, 0);
        haproxy_start(routes, 1);

        fd = connect_from("127.0.0.5", "127.0.0.3", f);
        h_assert(closed_without_data(fd, 5000), "a client denied by address was served through the balancer");
        close(fd);
        h_assert(h_wait_log("refused 127.0.0.5", 1, 2000), "no refusal of 127.0.0.5 in the log");

        fd = connect_from("127.0.0.6", "127.0.0.3", f);
        out = read_reply(fd, "client 127.0.0.6");
        expect_env(out, "TCPREMOTEIP", "127.0.0.6");
        expect_env(out, "PROXY_PEER_ADDR", "127.0.0.1");
        close(fd);
        free(out);
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}

Test(proxy, max_per_source_counts_the_client_behind_haproxy)
{
        uint16_t s = h_free_port(), f = h_free_port();
        const struct route routes[] = {{f, s, "send-proxy-v2"}};
        char buf[64], *out;
        int held, second, other;

        main_conf();
        proxy_service("cat", s, "    proxy-protocol = v2\n    exec = { \"/bin/cat\" }\n    max-per-source = 1\n");
        h_start(NULL, AF_INET, (int)s, 0);
        haproxy_start(routes, 1);

        held = connect_from("127.0.0.5", "127.0.0.3", f);
        h_assert(h_write_all(held, "held\n", 5, H_IO_MS) == 0, "write");
        h_assert(read_some(held, buf, sizeof(buf), H_IO_MS) == 5 && strcmp(buf, "held\n") == 0,
                 "the held connection is not echoed: \"%s\"", buf);
        h_assert(h_children(H.pid, NULL, 0) == 1, "%d handlers, expected 1", h_children(H.pid, NULL, 0));

        /* All of HAProxy's connections come from 127.0.0.1: the limit must count 127.0.0.5 and .6 apart. */
        second = connect_from("127.0.0.5", "127.0.0.3", f);
        h_assert(closed_without_data(second, 5000), "a second client from 127.0.0.5 was served (max-per-source = 1)");
        h_assert(h_wait_log("refused 127.0.0.5", 1, 2000), "no refusal of 127.0.0.5 in the log");

        other = connect_from("127.0.0.6", "127.0.0.3", f);
        h_assert(h_exchange(other, "other\n", 6, &out, H_IO_MS) >= 0 && strcmp(out, "other\n") == 0,
                 "the client from 127.0.0.6 was not served: \"%s\"", out);
        free(out);

        h_assert(h_write_all(held, "still\n", 6, H_IO_MS) == 0, "write");
        h_assert(read_some(held, buf, sizeof(buf), H_IO_MS) == 6 && strcmp(buf, "still\n") == 0,
                 "the held connection broke: \"%s\"", buf);
        close(held), close(second), close(other);
        h_assert(h_wait_no_children(H.pid, 5000) == 0, "handlers left");
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}

Test(proxy, no_header_or_a_stranger_is_refused_and_counted)
{
        uint16_t port = h_free_port();
        int64_t t0;
        int fd;

        main_conf();
        proxy_service("strict", port, "    proxy-protocol = any\n");
        h_start(NULL, AF_INET, (int)port, 0);

        /* From 127.0.0.1 (in proxy-from) but without a header: malformed, refused at once, not after proxy-timeout. */
        fd = connect_from("127.0.0.1", "127.0.0.1", port);
        t0 = h_now_ms();
        h_assert(h_write_all(fd, "hello\n", 6, H_IO_MS) == 0, "write");
        h_assert(closed_without_data(fd, 5000), "a client without a header was served");
        h_assert(h_now_ms() - t0 < 1000, "refused after %lld ms: \"hello\" cannot start a header",
                 (long long)(h_now_ms() - t0));
        close(fd);

        /* From outside proxy-from: refused before any byte is read. */
        fd = connect_from("127.0.0.9", "127.0.0.1", port);
        t0 = h_now_ms();
        h_assert(closed_without_data(fd, 5000), "a client outside proxy-from was served");
        h_assert(h_now_ms() - t0 < 1000, "refused after %lld ms: proxy-from is checked at accept",
                 (long long)(h_now_ms() - t0));
        close(fd);

        expect_refused_proxy("strict", 2, 2000);
        h_assert(h_children(H.pid, NULL, 0) == 0, "a handler was spawned for a refused connection");
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}

Test(proxy, bad_and_too_long_headers_are_refused)
{
        uint16_t any = h_free_port(), two = h_free_port();
        unsigned char v2[64];
        char line[256];
        size_t n;
        int fd;
        int64_t t0;

        main_conf();
        proxy_service("any", any, "    proxy-protocol = any\n");
        proxy_service("two", two, "    proxy-protocol = v2\n");
        h_start(NULL, AF_INET, (int)any, AF_INET, (int)two, 0);

        /* A v1 line that is over 107 bytes with no CRLF: refused without waiting for proxy-timeout. */
        n = (size_t)snprintf(line, sizeof(line), "PROXY TCP4 ");
        memset(line + n, '1', 120);
        n += 120;
        fd = connect_from("127.0.0.1", "127.0.0.1", any);
        t0 = h_now_ms();
        h_assert(h_write_all(fd, line, n, H_IO_MS) == 0, "write");
        h_assert(closed_without_data(fd, 5000), "a 131-byte v1 header was accepted");
        h_assert(h_now_ms() - t0 < 1000, "a too long v1 header refused after %lld ms", (long long)(h_now_ms() - t0));
        close(fd);

        /* A v2 header announcing 2000 bytes of addresses and TLVs (over 1024 in all). */
        n = v2_header(v2, sizeof(v2), PP2_PROXY, "192.0.2.1", "192.0.2.2", 1, 2, NULL, 0);
        v2[14] = 2000 >> 8, v2[15] = 2000 & 0xff;
        fd = connect_from("127.0.0.1", "127.0.0.1", any);
        t0 = h_now_ms();
        h_assert(h_write_all(fd, v2, n, H_IO_MS) == 0, "write");
        h_assert(closed_without_data(fd, 5000), "a v2 header of 2016 bytes was accepted");
        h_assert(h_now_ms() - t0 < 1000, "a too long v2 header refused after %lld ms", (long long)(h_now_ms() - t0));
        close(fd);

        /* Not an address, and a v1 header where only v2 is expected. */
        fd = connect_from("127.0.0.1", "127.0.0.1", any);
        n = (size_t)snprintf(line, sizeof(line), "PROXY TCP4 300.1.2.3 127.0.0.1 1000 2000\r\n");
        h_assert(h_write_all(fd, line, n, H_IO_MS) == 0, "write");
        h_assert(closed_without_data(fd, 5000), "a v1 header with the address 300.1.2.3 was accepted");
        close(fd);
        fd = connect_from("127.0.0.1", "127.0.0.1", two);
        n = v1_header(line, sizeof(line), "192.0.2.1", "192.0.2.2", 1000, 2000);
        h_assert(h_write_all(fd, line, n, H_IO_MS) == 0, "write");
        h_assert(closed_without_data(fd, 5000), "a v1 header was accepted by a proxy-protocol = v2 service");
        close(fd);

        expect_refused_proxy("any", 3, 2000);
        expect_refused_proxy("two", 1, 2000);
        h_assert(h_children(H.pid, NULL, 0) == 0, "a handler was spawned for a refused connection");
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}

Test(proxy, raw_headers_v1_v2_ipv6_and_unknown)
{
        uint16_t any = h_free_port(), cat = h_free_port();
        unsigned char v2[128];
        char line[256], *out, *port;
        size_t n;
        int fd;

        main_conf();
        proxy_service("any", any, "    proxy-protocol = any\n");
        proxy_service("cat", cat, "    proxy-protocol = any\n    exec = { \"/bin/cat\" }\n");
        h_start(NULL, AF_INET, (int)any, AF_INET, (int)cat, 0);

        /* v1 TCP4. */
        fd = connect_from("127.0.0.1", "127.0.0.1", any);
        n = v1_header(line, sizeof(line), "192.0.2.10", "198.51.100.20", 40001, 8443);
        out = send_and_read(fd, line, n, "v1 TCP4");
        expect_env(out, "TCPREMOTEIP", "192.0.2.10");
        expect_env(out, "TCPREMOTEPORT", "40001");
        expect_env(out, "TCPLOCALIP", "198.51.100.20");
        expect_env(out, "TCPLOCALPORT", "8443");
        expect_env(out, "PROXY_PEER_ADDR", "127.0.0.1");
        close(fd), free(out);

        /* v2 TCP6. */
        fd = connect_from("127.0.0.1", "127.0.0.1", any);
        n = v2_header(v2, sizeof(v2), PP2_PROXY, "2001:db8::5", "2001:db8::80", 4242, 443, NULL, 0);
        out = send_and_read(fd, v2, n, "v2 TCP6");
        expect_env(out, "TCPREMOTEIP", "2001:db8::5");
        expect_env(out, "TCPREMOTEPORT", "4242");
        expect_env(out, "REMOTE_ADDR", "2001:db8::5");
        expect_env(out, "TCPLOCALIP", "2001:db8::80");
        expect_env(out, "TCPLOCALPORT", "443");
        expect_env(out, "PROXY_PEER_ADDR", "127.0.0.1");
        close(fd), free(out);

        /* v1 UNKNOWN: the connection's own addresses. */
        fd = connect_from("127.0.0.1", "127.0.0.1", any);
        port = h_format("%u", local_port(fd));
        out = send_and_read(fd, "PROXY UNKNOWN\r\n", 15, "v1 UNKNOWN");
        expect_env(out, "TCPREMOTEIP", "127.0.0.1");
        expect_env(out, "TCPREMOTEPORT", port);
        close(fd), free(out), free(port);

        /* Exactly the header is consumed: the handler reads what follows, in the same segment. */
        fd = connect_from("127.0.0.1", "127.0.0.1", cat);
        n = v1_header(line, sizeof(line), "192.0.2.10", "198.51.100.20", 40001, 8443);
        strcpy(line + n, "after v1\n");
        h_assert(h_exchange(fd, line, n + 9, &out, H_IO_MS) >= 0 && strcmp(out, "after v1\n") == 0,
                 "cat after a v1 header echoed \"%s\"", out);
        close(fd), free(out);
        fd = connect_from("127.0.0.1", "127.0.0.1", cat);
        n = v2_header(v2, sizeof(v2), PP2_PROXY, "192.0.2.10", "198.51.100.20", 40001, 8443, NULL, 0);
        memcpy(v2 + n, "after v2\n", 9);
        h_assert(h_exchange(fd, v2, n + 9, &out, H_IO_MS) >= 0 && strcmp(out, "after v2\n") == 0,
                 "cat after a v2 header echoed \"%s\"", out);
        close(fd), free(out);

        expect_refused_proxy("any", 0, 0);
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}

Test(proxy, a_slow_header_holds_up_nobody)
{
        uint16_t a = h_free_port(), b = h_free_port();
        unsigned char slow[64], quick[64];
        size_t n_slow, n_quick;
        int fd, other;
        char *out;

        main_conf();
        proxy_service("a", a, "    proxy-protocol = v2\n    proxy-timeout = 10\n");
        proxy_service("b", b, "    proxy-protocol = v2\n");
        h_start(NULL, AF_INET, (int)a, AF_INET, (int)b, 0);
        n_slow = v2_header(slow, sizeof(slow), PP2_PROXY, "192.0.2.7", "192.0.2.80", 7777, 80, NULL, 0);
        n_quick = v2_header(quick, sizeof(quick), PP2_PROXY, "192.0.2.8", "192.0.2.80", 8888, 80, NULL, 0);

        fd = connect_from("127.0.0.1", "127.0.0.1", a);
        for (size_t i = 0; i < n_slow; i++) {
                h_assert(h_write_all(fd, slow + i, 1, H_IO_MS) == 0, "slow write %zu", i);
                if (i == 5) {
                        /* Mid-header on A: B, and another client of A itself, are answered at once. */
                        uint16_t ports[2] = {b, a};

                        for (int k = 0; k < 2; k++) {
                                int64_t t0 = h_now_ms(), ms;

                                other = connect_from("127.0.0.1", "127.0.0.1", ports[k]);
                                out = send_and_read(other, quick, n_quick, k ? "A's second client" : "B");
                                ms = h_now_ms() - t0;
                                h_assert(ms < 500, "%s answered after %lld ms while a header trickles into A",
                                         k ? "A's second client" : "B", (long long)ms);
                                expect_env(out, "TCPREMOTEIP", "192.0.2.8");
                                close(other), free(out);
                        }
                }
                usleep(100 * 1000);
        }
        /* 28 bytes over 2.8 s, within A's proxy-timeout: served with the header's address. */
        out = read_reply(fd, "the slow client");
        expect_env(out, "TCPREMOTEIP", "192.0.2.7");
        expect_env(out, "TCPREMOTEPORT", "7777");
        close(fd), free(out);
        expect_refused_proxy("a", 0, 0);
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}

Test(proxy, no_header_is_closed_after_proxy_timeout)
{
        uint16_t port = h_free_port();
        int64_t t0, ms;
        int fd;

        main_conf();
        proxy_service("timed", port, "    proxy-protocol = v2\n    proxy-timeout = 1\n");
        h_start(NULL, AF_INET, (int)port, 0);

        fd = connect_from("127.0.0.1", "127.0.0.1", port);
        t0 = h_now_ms();
        h_assert(closed_without_data(fd, 6000), "a silent client was not closed without a reply");
        ms = h_now_ms() - t0;
        h_assert(ms >= 900 && ms <= 3000, "a silent client was closed after %lld ms, proxy-timeout is 1 s",
                 (long long)ms);
        close(fd);
        expect_refused_proxy("timed", 1, 2000);
        h_assert(h_children(H.pid, NULL, 0) == 0, "a handler was spawned");
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}

/* How many of the N sockets in FD the peer has closed (EOF or reset), without waiting. */
static int count_closed(const int *fd, int n)
{
        int closed = 0;

        for (int i = 0; i < n; i++) {
                char c;
                ssize_t r = recv(fd[i], &c, 1, MSG_DONTWAIT);

                if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
                        closed++;
        }
        return closed;
}

/*
 * Wait up to TIMEOUT_MS until WANT of the N sockets in FD are closed by the
 * peer (a closed one stays readable at EOF), then 200 ms more to see that no
 * more follow. Returns how many are closed.
 */
static int wait_closed(const int *fd, int n, int want, int timeout_ms)
{
        int64_t deadline = h_now_ms() + timeout_ms;

        while (count_closed(fd, n) < want && h_now_ms() < deadline)
                usleep(20 * 1000);
        usleep(200 * 1000);
        return count_closed(fd, n);
}

Test(proxy, waiting_headers_are_bounded_per_service_and_overall)
{
        enum { SERVICES = 5, EACH = 60, ONE = 70 };
        static int fd[SERVICES * EACH];
        uint16_t port[SERVICES];
        unsigned char hdr[64];
        size_t n;
        char *out;
        int closed, other;

        main_conf();
        for (int s = 0; s < SERVICES; s++) {
                port[s] = h_free_port();
                proxy_service(h_format("w%d", s), port[s], "    proxy-protocol = v2\n    proxy-timeout = 20\n");
        }
        h_start(NULL, AF_INET, (int)port[0], AF_INET, (int)port[1], AF_INET, (int)port[2], AF_INET, (int)port[3],
                AF_INET, (int)port[4], 0);

        /* 70 silent clients of one service: 64 may wait, 6 are closed. */
        for (int i = 0; i < ONE; i++)
                fd[i] = connect_from("127.0.0.1", "127.0.0.1", port[0]);
        expect_refused_proxy("w0", ONE - 64, 3000);
        closed = wait_closed(fd, ONE, ONE - 64, 3000);
        h_assert(closed == ONE - 64, "%d of %d silent clients of one service were closed, expected %d", closed, ONE,
                 ONE - 64);
        for (int i = 0; i < ONE; i++)
                close(fd[i]);

        /* Once they are gone, a header is read as usual. */
        other = connect_from("127.0.0.1", "127.0.0.1", port[0]);
        n = v2_header(hdr, sizeof(hdr), PP2_PROXY, "192.0.2.9", "192.0.2.80", 9999, 80, NULL, 0);
        out = send_and_read(other, hdr, n, "after the silent clients");
        expect_env(out, "TCPREMOTEIP", "192.0.2.9");
        close(other), free(out);

        /* 60 silent clients for each of 5 services: 256 may wait in all, 44 are closed. */
        for (int s = 0; s < SERVICES; s++)
                for (int i = 0; i < EACH; i++)
                        fd[s * EACH + i] = connect_from("127.0.0.1", "127.0.0.1", port[s]);
        closed = wait_closed(fd, SERVICES * EACH, SERVICES * EACH - 256, 5000);
        h_assert(closed == SERVICES * EACH - 256, "%d of %d silent clients were closed, expected %d", closed,
                 SERVICES * EACH, SERVICES * EACH - 256);
        for (int i = 0; i < SERVICES * EACH; i++)
                close(fd[i]);
        h_assert(h_children(H.pid, NULL, 0) == 0, "a handler was spawned");
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}

Test(proxy, builtin_echo_answers_what_follows_the_header)
{
        uint16_t two = h_free_port(), one = h_free_port();
        unsigned char v2[64];
        char line[128], *out;
        size_t n;
        int fd;

        main_conf();
        proxy_service("echo2", two, "    proxy-protocol = v2\n    builtin = echo\n");
        proxy_service("echo1", one, "    proxy-protocol = v1\n    builtin = echo\n");
        h_start(NULL, AF_INET, (int)two, AF_INET, (int)one, 0);

        fd = connect_from("127.0.0.1", "127.0.0.1", two);
        n = v2_header(v2, sizeof(v2), PP2_PROXY, "192.0.2.1", "192.0.2.2", 1111, 7, NULL, 0);
        memcpy(v2 + n, "ping\n", 5);
        h_assert(h_exchange(fd, v2, n + 5, &out, H_IO_MS) >= 0 && strcmp(out, "ping\n") == 0,
                 "echo behind a v2 header answered \"%s\" (%zu bytes)", out, strlen(out));
        close(fd), free(out);

        fd = connect_from("127.0.0.1", "127.0.0.1", one);
        n = v1_header(line, sizeof(line), "192.0.2.1", "192.0.2.2", 1111, 7);
        strcpy(line + n, "ping\n");
        h_assert(h_exchange(fd, line, n + 5, &out, H_IO_MS) >= 0 && strcmp(out, "ping\n") == 0,
                 "echo behind a v1 header answered \"%s\"", out);
        close(fd), free(out);
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}

Test(proxy, v2_local_health_checks)
{
        uint16_t closing = h_free_port(), spawning = h_free_port();
        unsigned char v2[64];
        char *out, *port, *local;
        size_t n;
        int fd;

        main_conf();
        proxy_service("hclose", closing, "    proxy-protocol = v2\n    proxy-health = close\n");
        proxy_service("hspawn", spawning, "    proxy-protocol = v2\n");
        h_start(NULL, AF_INET, (int)closing, AF_INET, (int)spawning, 0);

        /* HAProxy's check: LOCAL, family UNSPEC. proxy-health = close: closed, no handler, not a refusal. */
        fd = connect_from("127.0.0.1", "127.0.0.1", closing);
        n = v2_header(v2, sizeof(v2), PP2_LOCAL, NULL, NULL, 0, 0, NULL, 0);
        h_assert(h_write_all(fd, v2, n, H_IO_MS) == 0, "write");
        h_assert(closed_without_data(fd, 5000), "a LOCAL health check reached a handler with proxy-health = close");
        close(fd);
        usleep(200 * 1000);
        h_assert(h_children(H.pid, NULL, 0) == 0, "a handler was spawned for a health check");
        h_assert(!strstr(h_log(), "end pid"), "a handler ran for a health check");
        expect_refused_proxy("hclose", 0, 0);

        /* Default (spawn): the handler runs with the balancer's own addresses; LOCAL's address block is ignored. */
        fd = connect_from("127.0.0.1", "127.0.0.1", spawning);
        port = h_format("%u", local_port(fd));
        local = h_format("%u", spawning);
        n = v2_header(v2, sizeof(v2), PP2_LOCAL, "10.9.9.9", "10.8.8.8", 999, 888, NULL, 0);
        out = send_and_read(fd, v2, n, "LOCAL with proxy-health = spawn");
        expect_env(out, "TCPREMOTEIP", "127.0.0.1");
        expect_env(out, "TCPREMOTEPORT", port);
        expect_env(out, "TCPLOCALIP", "127.0.0.1");
        expect_env(out, "TCPLOCALPORT", local);
        close(fd), free(out), free(port), free(local);
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}

/* The lines of DIR/REL, or 0 if it does not exist; the text in *RET_TEXT (malloc'd). */
static int file_lines(const char *rel, char **ret_text)
{
        const char *argv[] = {"/bin/cat", h_path(rel), NULL};
        int lines = 0;

        *ret_text = NULL;
        h_run(argv, NULL, NULL, ret_text, NULL, 2000);
        for (const char *p = *ret_text ? *ret_text : ""; (p = strchr(p, '\n')); p++)
                lines++;
        return lines;
}

Test(proxy, haproxy_health_checks_are_v2_local)
{
        uint16_t sc = h_free_port(), ss = h_free_port(), fc = h_free_port(), fs = h_free_port();
        const struct route routes[] = {{fc, sc, "send-proxy-v2 check inter 100ms"},
                                       {fs, ss, "send-proxy-v2 check inter 100ms"}};
        const char *svc[2] = {"hclose", "hspawn"};
        char *text, *out;
        int fd, n;

        /* Each handler notes TCPREMOTEIP in DIR/<service>.ran, then reports as usual. */
        main_conf();
        for (int i = 0; i < 2; i++)
                proxy_service(svc[i], i ? ss : sc,
                              h_format("    proxy-protocol = v2\n%s    exec = { \"/bin/sh\", \"-c\", "
                                       "\"echo $TCPREMOTEIP >> %s/%s.ran; exec %s\" }\n",
                                       i ? "" : "    proxy-health = close\n", H.dir, svc[i], connection_info()));
        h_start(NULL, AF_INET, (int)sc, AF_INET, (int)ss, 0);
        haproxy_start(routes, 2);

        /* HAProxy checks every 100 ms: with spawn each check is a handler with the balancer's address. */
        for (int64_t deadline = h_now_ms() + 5000; (n = file_lines("hspawn.ran", &text)) < 3; free(text)) {
                h_assert(h_now_ms() < deadline, "%d health checks reached hspawn's handler in 5 s", n);
                usleep(100 * 1000);
        }
        h_assert(strncmp(text, "127.0.0.1\n127.0.0.1\n", 20) == 0, "checks seen by the handler as from:\n%s", text);
        free(text);
        /* With close they never reach a handler, and are not refusals; the server is up for HAProxy. */
        h_assert(file_lines("hclose.ran", &text) == 0, "health checks started hclose's handler:\n%s", text);
        free(text);
        expect_refused_proxy("hclose", 0, 0);
        fd = connect_from("127.0.0.5", "127.0.0.3", fc);
        out = read_reply(fd, "a client of hclose");
        expect_env(out, "TCPREMOTEIP", "127.0.0.5");
        close(fd), free(out);
        h_assert(file_lines("hclose.ran", &text) == 1 && strcmp(text, "127.0.0.5\n") == 0,
                 "hclose's handler ran for:\n%s", text);
        free(text);
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}

Test(proxy, v2_tlvs_authority_and_unique_id)
{
        uint16_t port = h_free_port();
        unsigned char tlvs[256], v2[512], aws[32] = {0x01};
        size_t at = 0, n;
        char *out;
        int fd;

        main_conf();
        proxy_service("tlv", port, "    proxy-protocol = v2\n");
        h_start(NULL, AF_INET, (int)port, 0);

        /* ALPN, AUTHORITY, NOOP, UNIQUE_ID, and AWS's VPC endpoint id (0xEA): the unknown ones are skipped. */
        memcpy(aws + 1, "vpce-0123456789abcdef0", 22);
        tlv(tlvs, &at, 0x01, "h2", 2);
        tlv(tlvs, &at, 0x02, "example.com", 11);
        tlv(tlvs, &at, 0x04, "\0\0\0", 3);
        tlv(tlvs, &at, 0x05, "req-42-abc", 10);
        tlv(tlvs, &at, 0xEA, aws, 23);
        fd = connect_from("127.0.0.1", "127.0.0.1", port);
        n = v2_header(v2, sizeof(v2), PP2_PROXY, "198.51.100.7", "203.0.113.1", 5555, 443, tlvs, at);
        out = send_and_read(fd, v2, n, "v2 with TLVs");
        expect_env(out, "TCPREMOTEIP", "198.51.100.7");
        expect_env(out, "TCPLOCALIP", "203.0.113.1");
        expect_env(out, "PROXY_AUTHORITY", "example.com");
        expect_env(out, "PROXY_UNIQUE_ID", "req-42-abc");
        expect_env(out, "PROXY_PEER_ADDR", "127.0.0.1");
        close(fd), free(out);

        /* Without TLVs the variables are not set. */
        fd = connect_from("127.0.0.1", "127.0.0.1", port);
        n = v2_header(v2, sizeof(v2), PP2_PROXY, "198.51.100.7", "203.0.113.1", 5555, 443, NULL, 0);
        out = send_and_read(fd, v2, n, "v2 without TLVs");
        h_assert(!strstr(out, "ENV PROXY_AUTHORITY=") && !strstr(out, "ENV PROXY_UNIQUE_ID="),
                 "TLV variables without TLVs:\n%s", out);
        close(fd), free(out);
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}
