/* SPDX-License-Identifier: MIT */
/* What a handler gets (DESIGN.md §5): fds, environment, signal state, session, credentials, cwd, stderr. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

TestSuite(handler, .init = h_setup, .fini = h_teardown, .timeout = 60);

/* superd gets these on top of the test's environment; only KEEPME may reach a handler (by pass-env). */
static const char *const superd_env[] = { "LEAKME=1", "KEEPME=kept", NULL };

/* The report of helpers/connection-info, split into lines. */
struct report {
        char *text; /* split into lines in place */
        char *raw;  /* as received */
        char *line[512];
        size_t n;
        uint16_t client_port; /* our end of the connection, as the handler should see it */
};

/* Value of the KEY=VALUE line of R, or NULL. */
static const char *field(const struct report *r, const char *key)
{
        size_t klen = strlen(key);

        for (size_t i = 0; i < r->n; i++)
                if (strncmp(r->line[i], key, klen) == 0 && r->line[i][klen] == '=')
                        return r->line[i] + klen + 1;
        return NULL;
}

/* Value of the environment variable NAME in R, or NULL. */
static const char *env_of(const struct report *r, const char *name)
{
        size_t nlen = strlen(name);

        for (size_t i = 0; i < r->n; i++)
                if (strncmp(r->line[i], "ENV ", 4) == 0 && strncmp(r->line[i] + 4, name, nlen) == 0 &&
                    r->line[i][4 + nlen] == '=')
                        return r->line[i] + 4 + nlen + 1;
        return NULL;
}

/* Connect to FAMILY, PORT and parse what connection-info prints. */
static void get_report(int family, uint16_t port, struct report *r)
{
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd = h_connect(family, port);
        ssize_t n;
        char *p;

        memset(r, 0, sizeof(*r));
        h_assert(fd >= 0, "connect to port %u: %s", port, strerror(-fd));
        cr_assert(getsockname(fd, (struct sockaddr *)&ss, &len) == 0);
        r->client_port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                 : ((struct sockaddr_in6 *)&ss)->sin6_port);
        n = h_exchange(fd, NULL, 0, &r->text, H_IO_MS);
        close(fd);
        h_assert(n > 0, "connection-info gave no report (%zd: %s)", n, n < 0 ? strerror((int)-n) : "EOF");
        r->raw = strdup(r->text);
        for (p = r->text; *p && r->n < 512;) {
                char *nl = strchr(p, '\n');

                r->line[r->n++] = p;
                if (!nl)
                        break;
                *nl = '\0';
                p = nl + 1;
        }
        h_assert(field(r, "PID") != NULL, "not a connection-info report:\n%s", r->raw);
}

/* Fail unless COND holds, showing the whole report (struct report *R) and the tail of superd.log. */
#define r_assert(r, cond, ...)                                                                       \
        do {                                                                                         \
                if (!(cond)) {                                                                       \
                        char *r_msg_ = h_format(__VA_ARGS__);                                        \
                        h_assert(false, "%s\n---- connection-info report ----\n%s---- end of report ----", \
                                 r_msg_, (r)->raw);                                                  \
                }                                                                                    \
        } while (0)

/*
 * connection-info copied into the test's folder (made 0755): the checkout may
 * sit below a folder that other users cannot enter (mktemp -d gives 0700),
 * and handlers run as `nobody` must still be able to exec it.
 */
static char *helper_for_any_user(void)
{
        char *src = h_helper("connection-info"), *dst = h_path("connection-info"), buf[65536];
        int in, out;
        ssize_t n;

        cr_assert(chmod(H.dir, 0755) == 0, "chmod %s: %s", H.dir, strerror(errno));
        in = open(src, O_RDONLY | O_CLOEXEC);
        out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
        cr_assert(in >= 0 && out >= 0, "copy %s to %s: %s", src, dst, strerror(errno));
        while ((n = read(in, buf, sizeof(buf))) > 0)
                cr_assert(write(out, buf, (size_t)n) == n, "write %s: %s", dst, strerror(errno));
        cr_assert(n == 0, "read %s: %s", src, strerror(errno));
        close(in);
        close(out);
        free(src);
        return dst;
}

/* Write a connection-info service NAME on LISTEN (inside of the braces) with EXTRA keys. */
static void info_service(const char *name, const char *listen, const char *user, const char *extra)
{
        char *exe = helper_for_any_user();

        h_main_conf(NULL);
        h_dropin("info.conf",
                 "service %s {\n"
                 "    listen = { %s }\n"
                 "    exec   = { \"%s\" }\n"
                 "    user   = \"%s\"\n"
                 "%s"
                 "}\n",
                 name, listen, exe, user, extra ? extra : "");
        free(exe);
}

/* Start a connection-info service on 127.0.0.1 (or ::1 when V6) and fetch one report. */
static void report_from(const char *user, const char *extra, bool v6, struct report *r, uint16_t *ret_port)
{
        uint16_t port = h_free_port();
        char listen[64];

        snprintf(listen, sizeof(listen), v6 ? "\"[::1]:%u\"" : "\"127.0.0.1:%u\"", port);
        info_service("info", listen, user, extra);
        h_start(superd_env, v6 ? AF_INET6 : AF_INET, port, 0);
        get_report(v6 ? AF_INET6 : AF_INET, port, r);
        if (ret_port)
                *ret_port = port;
}

/* The environment of R is exactly EXPECTED ("K=V", NULL-terminated): no key more, none less, none twice. */
static void expect_env_exactly(const struct report *r, const char *const *expected)
{
        size_t n_env = 0;

        for (size_t i = 0; i < r->n; i++) {
                const char *kv, *eq;
                bool known = false;

                if (strncmp(r->line[i], "ENV ", 4) != 0)
                        continue;
                n_env++;
                kv = r->line[i] + 4;
                eq = strchr(kv, '=');
                r_assert(r, eq != NULL, "environment entry without '=': \"%s\"", kv);
                for (size_t j = 0; expected[j]; j++) {
                        const char *e = expected[j], *eeq = strchr(e, '=');

                        if ((size_t)(eeq - e) == (size_t)(eq - kv) && strncmp(e, kv, (size_t)(eq - kv)) == 0) {
                                known = true;
                                r_assert(r, strcmp(e, kv) == 0, "handler got %s, expected %s", kv, e);
                        }
                }
                r_assert(r, known, "handler got %s, which is not in the handler contract (leaked from superd?)", kv);
        }
        for (size_t j = 0; expected[j]; j++) {
                char name[64];
                const char *eq = strchr(expected[j], '=');

                snprintf(name, sizeof(name), "%.*s", (int)(eq - expected[j]), expected[j]);
                r_assert(r, env_of(r, name) != NULL, "handler did not get %s", expected[j]);
        }
        {
                size_t n_expected = 0;

                while (expected[n_expected])
                        n_expected++;
                r_assert(r, n_env == n_expected, "handler got %zu environment entries, expected %zu (duplicates?)",
                         n_env, n_expected);
        }
}

/* The full environment for a connection-info handler of service NAME between LOCAL:PORT and REMOTE:RPORT. */
static void check_env(const struct report *r, const char *name, const char *ip, uint16_t port)
{
        char service[64], rip[64], rport[32], lip[64], lport[32], raddr[64], rport2[32], rhost[64];
        const char *expected[] = {
                "PATH=/usr/local/bin:/usr/bin:/bin",
                service, "PROTO=TCP", rip, rport, lip, lport, raddr, rport2, rhost,
                "FOO=bar", "KEEPME=kept", NULL,
        };

        snprintf(service, sizeof(service), "SUPERD_SERVICE=%s", name);
        snprintf(rip, sizeof(rip), "TCPREMOTEIP=%s", ip);
        snprintf(rport, sizeof(rport), "TCPREMOTEPORT=%u", r->client_port);
        snprintf(lip, sizeof(lip), "TCPLOCALIP=%s", ip);
        snprintf(lport, sizeof(lport), "TCPLOCALPORT=%u", port);
        snprintf(raddr, sizeof(raddr), "REMOTE_ADDR=%s", ip);
        snprintf(rport2, sizeof(rport2), "REMOTE_PORT=%u", r->client_port);
        snprintf(rhost, sizeof(rhost), "REMOTE_HOST=%s", ip);
        expect_env_exactly(r, expected);
}

Test(handler, environment_exact_ipv4)
{
        struct report r;
        uint16_t port;

        report_from(H.user, "    env      = { \"FOO=bar\" }\n    pass-env = { \"KEEPME\" }\n", false, &r, &port);
        check_env(&r, "info", "127.0.0.1", port);
}

Test(handler, environment_exact_ipv6)
{
        struct report r;
        uint16_t port;

        report_from(H.user, "    env      = { \"FOO=bar\" }\n    pass-env = { \"KEEPME\" }\n", true, &r, &port);
        check_env(&r, "info", "::1", port);
}

Test(handler, environment_without_env_keys)
{
        struct report r;
        uint16_t port;
        char service[64], rip[64], rport[32], lport[32], rport2[32];
        const char *expected[] = {
                "PATH=/usr/local/bin:/usr/bin:/bin", service, "PROTO=TCP", rip, rport,
                "TCPLOCALIP=127.0.0.1", lport, "REMOTE_ADDR=127.0.0.1", rport2,
                "REMOTE_HOST=127.0.0.1", NULL,
        };

        report_from(H.user, NULL, false, &r, &port);
        snprintf(service, sizeof(service), "SUPERD_SERVICE=%s", "info");
        snprintf(rip, sizeof(rip), "TCPREMOTEIP=%s", "127.0.0.1");
        snprintf(rport, sizeof(rport), "TCPREMOTEPORT=%u", r.client_port);
        snprintf(lport, sizeof(lport), "TCPLOCALPORT=%u", port);
        snprintf(rport2, sizeof(rport2), "REMOTE_PORT=%u", r.client_port);
        expect_env_exactly(&r, expected);
}

/* A wildcard listener ("*:P": IPv6 any, IPv4 too) names the address each client reached, not "::" or 0.0.0.0. */
Test(handler, local_address_of_a_wildcard_listener_is_the_connection_s)
{
        uint16_t port = h_free_port();
        char listen[64];
        struct report r4, r6;

        snprintf(listen, sizeof(listen), "\"*:%u\"", port);
        info_service("info", listen, H.user, NULL);
        h_start(superd_env, AF_INET6, port, 0); /* one socket on [::], IPV6_V6ONLY off */
        get_report(AF_INET, port, &r4);
        r_assert(&r4, env_of(&r4, "TCPLOCALIP") && strcmp(env_of(&r4, "TCPLOCALIP"), "127.0.0.1") == 0,
                 "TCPLOCALIP=%s over 127.0.0.1", env_of(&r4, "TCPLOCALIP"));
        get_report(AF_INET6, port, &r6);
        r_assert(&r6, env_of(&r6, "TCPLOCALIP") && strcmp(env_of(&r6, "TCPLOCALIP"), "::1") == 0,
                 "TCPLOCALIP=%s over ::1", env_of(&r6, "TCPLOCALIP"));
}

Test(handler, env_overrides_nothing_of_superd)
{
        /* A variable that superd has (LEAKME) but that is neither in env nor in pass-env never arrives,
         * and the contract variables cannot be spoofed from superd's own environment. */
        static const char *const spoof_env[] = { "LEAKME=1", "TCPREMOTEIP=6.6.6.6", "SUPERD_SERVICE=spoof",
                                                 "NOTIFY_SOCKET=/nonexistent/notify", "LISTEN_FDS=3", NULL };
        uint16_t port = h_free_port();
        char listen[64];
        struct report r;

        snprintf(listen, sizeof(listen), "\"127.0.0.1:%u\"", port);
        info_service("info", listen, H.user, NULL);
        h_start(spoof_env, AF_INET, port, 0);
        get_report(AF_INET, port, &r);
        r_assert(&r, env_of(&r, "LEAKME") == NULL, "LEAKME leaked from superd's environment");
        r_assert(&r, env_of(&r, "NOTIFY_SOCKET") == NULL, "NOTIFY_SOCKET leaked from superd's environment");
        r_assert(&r, env_of(&r, "LISTEN_FDS") == NULL, "LISTEN_FDS leaked from superd's environment");
        r_assert(&r, env_of(&r, "TCPREMOTEIP") && strcmp(env_of(&r, "TCPREMOTEIP"), "127.0.0.1") == 0,
                 "TCPREMOTEIP=%s, expected 127.0.0.1", env_of(&r, "TCPREMOTEIP"));
        r_assert(&r, env_of(&r, "SUPERD_SERVICE") && strcmp(env_of(&r, "SUPERD_SERVICE"), "info") == 0,
                 "SUPERD_SERVICE=%s, expected info", env_of(&r, "SUPERD_SERVICE"));
}

Test(handler, fds_only_0_1_2_stderr_log)
{
        struct report r;

        report_from(H.user, "    stderr = log\n", false, &r, NULL);
        r_assert(&r, strcmp(field(&r, "FDS"), "0 1 2") == 0, "handler has fds \"%s\", expected \"0 1 2\"",
                 field(&r, "FDS"));
}

Test(handler, fds_only_0_1_2_stderr_null)
{
        struct report r;

        report_from(H.user, "    stderr = null\n", false, &r, NULL);
        r_assert(&r, strcmp(field(&r, "FDS"), "0 1 2") == 0, "handler has fds \"%s\", expected \"0 1 2\"",
                 field(&r, "FDS"));
}

Test(handler, fds_only_0_1_2_stderr_socket)
{
        struct report r;

        report_from(H.user, "    stderr = socket\n", false, &r, NULL);
        r_assert(&r, strcmp(field(&r, "FDS"), "0 1 2") == 0, "handler has fds \"%s\", expected \"0 1 2\"",
                 field(&r, "FDS"));
}

Test(handler, fds_inherited_by_superd_do_not_reach_handler)
{
        struct report r;

        /* superd itself is started with fd 7 open and not CLOEXEC. */
        H.leak_fd = 7;
        report_from(H.user, NULL, false, &r, NULL);
        r_assert(&r, strcmp(field(&r, "FDS"), "0 1 2") == 0,
                 "handler has fds \"%s\", expected \"0 1 2\" (superd's inherited fd 7 leaked?)", field(&r, "FDS"));
}

/* Parse a hexadecimal signal mask; fails the test when it is not one. */
static unsigned long long mask_of(const struct report *r, const char *key)
{
        const char *v = field(r, key);
        char *end;
        unsigned long long m;

        r_assert(r, v != NULL && *v != '\0', "report has no %s", key);
        m = strtoull(v, &end, 16);
        r_assert(r, *end == '\0', "%s=%s is not hexadecimal", key, v);
        return m;
}

Test(handler, signal_mask_empty_and_dispositions_default)
{
        struct report r;

        /* h_start() runs superd with SIGPIPE ignored and SIGUSR2 blocked: neither may reach the handler. */
        report_from(H.user, NULL, false, &r, NULL);
        r_assert(&r, mask_of(&r, "SIGBLK") == 0, "handler starts with blocked signals SigBlk=%s (SIGUSR2 is bit 0x%llx)",
                 field(&r, "SIGBLK"), 1ULL << (SIGUSR2 - 1));
        r_assert(&r, mask_of(&r, "SIGIGN") == 0, "handler starts with ignored signals SigIgn=%s (SIGPIPE is bit 0x%llx)",
                 field(&r, "SIGIGN"), 1ULL << (SIGPIPE - 1));
}

Test(handler, own_session_and_process_group)
{
        struct report r;

        report_from(H.user, NULL, false, &r, NULL);
        r_assert(&r, strcmp(field(&r, "SID"), field(&r, "PID")) == 0, "SID=%s, PID=%s: handler is not a session leader",
                 field(&r, "SID"), field(&r, "PID"));
        r_assert(&r, strcmp(field(&r, "PGID"), field(&r, "PID")) == 0, "PGID=%s, PID=%s", field(&r, "PGID"),
                 field(&r, "PID"));
}

Test(handler, cwd_is_root)
{
        struct report r;

        report_from(H.user, NULL, false, &r, NULL);
        r_assert(&r, strcmp(field(&r, "CWD"), "/") == 0, "handler cwd is \"%s\", expected \"/\"", field(&r, "CWD"));
}

Test(handler, credentials_of_current_user)
{
        struct report r;
        char uid[32], gid[32];
        struct passwd *pw = getpwuid(geteuid());

        cr_assert(pw != NULL);
        snprintf(uid, sizeof(uid), "%u", (unsigned)pw->pw_uid);
        snprintf(gid, sizeof(gid), "%u", (unsigned)pw->pw_gid);
        report_from(H.user, NULL, false, &r, NULL);
        r_assert(&r, strcmp(field(&r, "UID"), uid) == 0 && strcmp(field(&r, "EUID"), uid) == 0,
                 "UID=%s EUID=%s, expected %s", field(&r, "UID"), field(&r, "EUID"), uid);
        r_assert(&r, strcmp(field(&r, "GID"), gid) == 0 && strcmp(field(&r, "EGID"), gid) == 0,
                 "GID=%s EGID=%s, expected %s", field(&r, "GID"), field(&r, "EGID"), gid);
}

/* The supplementary groups of USER with primary GID, as "a b c" ascending (what initgroups gives). */
static void groups_of(const char *user, gid_t gid, char *buf, size_t size)
{
        gid_t groups[256];
        int n = 256;
        size_t len = 0;

        cr_assert(getgrouplist(user, gid, groups, &n) >= 0, "getgrouplist %s", user);
        /* ascending, like connection-info prints them */
        for (int i = 1; i < n; i++)
                for (int j = i; j > 0 && groups[j - 1] > groups[j]; j--) {
                        gid_t t = groups[j];

                        groups[j] = groups[j - 1];
                        groups[j - 1] = t;
                }
        buf[0] = '\0';
        for (int i = 0; i < n; i++) {
                if (i > 0 && groups[i] == groups[i - 1])
                        continue;
                len += (size_t)snprintf(buf + len, size - len, "%s%u", len ? " " : "", (unsigned)groups[i]);
        }
}

Test(handler, credentials_of_nobody_as_root)
{
        struct report r;
        struct passwd *pw;
        char uid[32], gid[32], groups[1024];

        if (geteuid() != 0)
                cr_skip_test("needs root to switch users");
        pw = getpwnam("nobody");
        cr_assert(pw != NULL, "no user nobody");
        snprintf(uid, sizeof(uid), "%u", (unsigned)pw->pw_uid);
        snprintf(gid, sizeof(gid), "%u", (unsigned)pw->pw_gid);
        groups_of("nobody", pw->pw_gid, groups, sizeof(groups));
        report_from("nobody", NULL, false, &r, NULL);
        r_assert(&r, strcmp(field(&r, "UID"), uid) == 0 && strcmp(field(&r, "EUID"), uid) == 0,
                 "UID=%s EUID=%s, expected %s (nobody)", field(&r, "UID"), field(&r, "EUID"), uid);
        r_assert(&r, strcmp(field(&r, "GID"), gid) == 0 && strcmp(field(&r, "EGID"), gid) == 0,
                 "GID=%s EGID=%s, expected %s (nobody's group)", field(&r, "GID"), field(&r, "EGID"), gid);
        r_assert(&r, strcmp(field(&r, "GROUPS"), groups) == 0,
                 "GROUPS=\"%s\", expected \"%s\" (initgroups of nobody; root's groups kept?)", field(&r, "GROUPS"),
                 groups);
}

/* True if the space-separated LIST holds the number GID (as text). */
static bool has_group(const char *list, const char *gid)
{
        size_t len = strlen(gid);

        for (const char *p = list; p && *p;) {
                size_t n = strcspn(p, " ");

                if (n == len && strncmp(p, gid, len) == 0)
                        return true;
                p += n;
                p += strspn(p, " ");
        }
        return false;
}

Test(handler, credentials_numeric_user_and_group_as_root)
{
        struct report r;

        if (geteuid() != 0)
                cr_skip_test("needs root to switch users");
        report_from("65534", "    group  = \"4242\"\n", false, &r, NULL);
        r_assert(&r, strcmp(field(&r, "UID"), "65534") == 0 && strcmp(field(&r, "EUID"), "65534") == 0,
                 "UID=%s EUID=%s, expected 65534", field(&r, "UID"), field(&r, "EUID"));
        r_assert(&r, strcmp(field(&r, "GID"), "4242") == 0 && strcmp(field(&r, "EGID"), "4242") == 0,
                 "GID=%s EGID=%s, expected 4242", field(&r, "GID"), field(&r, "EGID"));
        r_assert(&r, !has_group(field(&r, "GROUPS"), "0"), "GROUPS=\"%s\": root's supplementary group 0 kept",
                 field(&r, "GROUPS"));
}

/* Start one service running ARGV (a confuse list body) with STDERR mode and return what a client reads. */
static char *stderr_case(const char *mode, const char *argv)
{
        uint16_t port = h_free_port();
        char *out;
        ssize_t n;

        h_main_conf(NULL);
        h_dropin("stderr.conf",
                 "service err-%s {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    exec   = { %s }\n"
                 "    user   = \"%s\"\n"
                 "    stderr = %s\n"
                 "}\n",
                 mode, port, argv, H.user, mode);
        h_start(NULL, AF_INET, port, 0);
        n = h_request(AF_INET, port, "", &out);
        h_assert(n >= 0, "request failed: %s", strerror((int)-n));
        return out;
}

Test(handler, stderr_null_is_dev_null)
{
        char *out = stderr_case("null", "\"/usr/bin/readlink\", \"/proc/self/fd/2\"");

        h_assert(strcmp(out, "/dev/null\n") == 0, "with stderr = null fd 2 is \"%s\", expected /dev/null", out);
}

Test(handler, stderr_socket_reaches_client)
{
        char *out = stderr_case("socket", "\"/bin/sh\", \"-c\", \"echo to-stdout; echo to-stderr >&2\"");

        h_assert(strcmp(out, "to-stdout\nto-stderr\n") == 0,
                 "with stderr = socket the client read \"%s\", expected both lines", out);
}

Test(handler, stderr_log_does_not_reach_client)
{
        char *out = stderr_case("log", "\"/bin/sh\", \"-c\", \"echo to-stdout; echo marker-7f3a9 >&2\"");
        char *log;
        int64_t deadline = h_now_ms() + 2000;

        h_assert(strcmp(out, "to-stdout\n") == 0, "with stderr = log the client read \"%s\", expected stdout only",
                 out);
        if (access("/run/systemd/journal/socket", W_OK) == 0) {
                cr_log_warn("journald present: handler stderr goes to the journal, not checked in superd.log");
                return;
        }
        /* The line may pass through a pipe that superd drains: give it a moment. */
        for (;;) {
                log = h_log();
                if (strstr(log, "marker-7f3a9") || h_now_ms() > deadline)
                        break;
                free(log);
                usleep(10000);
        }
        h_assert(strstr(log, "marker-7f3a9") != NULL, "handler's stderr line is not in superd's log");
}
