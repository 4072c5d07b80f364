/* SPDX-License-Identifier: MIT */
/* Unit tests of env.c: the exact environment a handler gets (DESIGN.md §5). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <criterion/criterion.h>

#include "env.h"
#include "strv.h"

static size_t count(char **v)
{
        size_t n = 0;

        while (v[n])
                n++;
        return n;
}

/* Index of the entry "name=..." in envp, or -1; fails if the name occurs twice. */
static long find(char **envp, const char *name)
{
        size_t len = strlen(name);
        long at = -1;

        for (size_t i = 0; envp[i]; i++)
                if (strncmp(envp[i], name, len) == 0 && envp[i][len] == '=') {
                        cr_assert_eq(at, -1, "%s appears twice in envp", name);
                        at = (long)i;
                }
        return at;
}

static void expect_var(char **envp, const char *entry)
{
        const char *eq = strchr(entry, '=');
        char name[64];
        long i;

        snprintf(name, sizeof(name), "%.*s", (int)(eq - entry), entry);
        i = find(envp, name);
        cr_assert_geq(i, 0, "%s missing from envp", name);
        cr_assert_str_eq(envp[i], entry);
}

/* The whole environment of a unix connection without credentials: what handler_env_init() built, PATH, SUPERD_SERVICE, then PROTO=UNIX last. */
static char **whole(const struct handler_env *e)
{
        static struct handler_env_conn c;

        cr_assert_eq(handler_env_unix(e, &c, NULL), 0);
        return c.envp;
}

static struct sockaddr_in v4(const char *ip, unsigned port)
{
        struct sockaddr_in s = {.sin_family = AF_INET, .sin_port = htons((in_port_t)port)};

        cr_assert_eq(inet_pton(AF_INET, ip, &s.sin_addr), 1);
        return s;
}

static struct sockaddr_in6 v6(const char *ip, unsigned port)
{
        struct sockaddr_in6 s = {.sin6_family = AF_INET6, .sin6_port = htons((in_port_t)port)};

        cr_assert_eq(inet_pton(AF_INET6, ip, &s.sin6_addr), 1);
        return s;
}

Test(handler_env_init, minimal_service)
{
        struct service s = {.name = "echo"};
        char *environ_[] = {"HOME=/root", "PATH=/sbin:/bin", "NOTIFY_SOCKET=/run/x", NULL};
        struct handler_env e;

        char **envp;

        cr_assert_eq(handler_env_init(&e, &s, environ_), 0);
        /* Nothing stored: PATH and SUPERD_SERVICE are written per start. */
        cr_assert_null(e.vars);
        envp = whole(&e);
        cr_assert_str_eq(envp[0], "PATH=" HANDLER_PATH);
        cr_assert_str_eq(envp[0], "PATH=/usr/local/bin:/usr/bin:/bin");
        cr_assert_str_eq(envp[1], "SUPERD_SERVICE=echo");
        cr_assert_str_eq(envp[2], "PROTO=UNIX");
        cr_assert_null(envp[3]);
        handler_env_done(&e);
        cr_assert_null(e.vars);
}

Test(handler_env_init, env_and_pass_env_nothing_else)
{
        char *env[] = {"GREETING=hello world", "EMPTY=", "WITH_EQ=a=b", NULL};
        char *pass[] = {"LANG", "MISSING", "TZ", NULL};
        char *environ_[] = {
            "HOME=/root",      "LANG=C.UTF-8",         "LANGUAGE=en", "TZ=UTC",     "LISTEN_FDS=3",
            "WATCHDOG_USEC=1", "NOTIFY_SOCKET=/run/n", "PATH=/sbin",  "MISSINGX=1", NULL,
        };
        struct service s = {.name = "svc", .env = env, .pass_env = pass};
        struct handler_env e;
        char **envp;

        cr_assert_eq(handler_env_init(&e, &s, environ_), 0);
        envp = whole(&e);
        cr_assert_str_eq(envp[0], "PATH=/usr/local/bin:/usr/bin:/bin");
        cr_assert_str_eq(envp[1], "SUPERD_SERVICE=svc");
        expect_var(envp, "GREETING=hello world");
        expect_var(envp, "EMPTY=");
        expect_var(envp, "WITH_EQ=a=b");
        expect_var(envp, "LANG=C.UTF-8");
        expect_var(envp, "TZ=UTC");
        /* A pass-env name absent from the environment is omitted, and prefixes do not match. */
        cr_assert_eq(find(envp, "MISSING"), -1);
        cr_assert_eq(find(envp, "MISSINGX"), -1);
        cr_assert_eq(find(envp, "LANGUAGE"), -1);
        cr_assert_eq(find(envp, "HOME"), -1);
        cr_assert_eq(find(envp, "LISTEN_FDS"), -1);
        cr_assert_eq(find(envp, "NOTIFY_SOCKET"), -1);
        cr_assert_eq(count(envp), 8, "envp has %zu entries, expected exactly 8", count(envp));
        cr_assert_eq(count(e.vars), 5);
        handler_env_done(&e);
}

Test(handler_env_init, env_order_kept)
{
        char *env[] = {"B=2", "A=1", "C=3", NULL};
        struct service s = {.name = "x", .env = env};
        struct handler_env e;

        cr_assert_eq(handler_env_init(&e, &s, NULL), 0);
        cr_assert_str_eq(whole(&e)[2], "B=2");
        cr_assert_str_eq(whole(&e)[3], "A=1");
        cr_assert_str_eq(whole(&e)[4], "C=3");
        cr_assert_str_eq(whole(&e)[5], "PROTO=UNIX");
        handler_env_done(&e);
}

Test(handler_env_init, later_env_entry_wins)
{
        char *env[] = {"A=first", "B=b", "A=second", "AB=ab", NULL};
        struct service s = {.name = "x", .env = env};
        struct handler_env e;

        cr_assert_eq(handler_env_init(&e, &s, NULL), 0);
        expect_var(whole(&e), "A=second");
        expect_var(whole(&e), "B=b");
        expect_var(whole(&e), "AB=ab");
        cr_assert_eq(count(whole(&e)), 6);
        handler_env_done(&e);
}

Test(handler_env_init, pass_env_with_empty_environment)
{
        char *pass[] = {"HOME", NULL};
        char *empty[] = {NULL};
        struct service s = {.name = "x", .pass_env = pass};
        struct handler_env e;

        cr_assert_eq(handler_env_init(&e, &s, empty), 0);
        cr_assert_eq(count(whole(&e)), 3);
        handler_env_done(&e);
        cr_assert_eq(handler_env_init(&e, &s, NULL), 0);
        cr_assert_eq(count(whole(&e)), 3);
        handler_env_done(&e);
}

Test(handler_env_init, reusable_after_done)
{
        char *env[] = {"A=1", NULL};
        struct service s1 = {.name = "one", .env = env}, s2 = {.name = "two"};
        struct handler_env e;

        cr_assert_eq(handler_env_init(&e, &s1, NULL), 0);
        handler_env_done(&e);
        cr_assert_eq(handler_env_init(&e, &s2, NULL), 0);
        cr_assert_str_eq(whole(&e)[1], "SUPERD_SERVICE=two");
        cr_assert_eq(count(whole(&e)), 3);
        handler_env_done(&e);
}

static const char *const conn_names[] = {
    "PROTO", "TCPREMOTEIP", "TCPREMOTEPORT", "TCPLOCALIP", "TCPLOCALPORT", "REMOTE_ADDR", "REMOTE_PORT", "REMOTE_HOST",
};

Test(handler_env_connect, ipv4)
{
        char *env[] = {"K=V", NULL};
        struct service s = {.name = "svc", .env = env};
        struct sockaddr_in remote = v4("192.0.2.10", 40000), local = v4("127.0.0.1", 1205);
        struct handler_env_conn c;
        struct handler_env e;

        cr_assert_eq(handler_env_init(&e, &s, NULL), 0);
        cr_assert_eq(handler_env_connect(&e, &c, (struct sockaddr *)&remote, (struct sockaddr *)&local), 0);
        cr_assert_str_eq(c.envp[0], "PATH=/usr/local/bin:/usr/bin:/bin");
        cr_assert_str_eq(c.envp[1], "SUPERD_SERVICE=svc");
        cr_assert_str_eq(c.envp[2], "K=V");
        expect_var(c.envp, "PROTO=TCP");
        expect_var(c.envp, "TCPREMOTEIP=192.0.2.10");
        expect_var(c.envp, "TCPREMOTEPORT=40000");
        expect_var(c.envp, "TCPLOCALIP=127.0.0.1");
        expect_var(c.envp, "TCPLOCALPORT=1205");
        expect_var(c.envp, "REMOTE_ADDR=192.0.2.10");
        expect_var(c.envp, "REMOTE_PORT=40000");
        expect_var(c.envp, "REMOTE_HOST=192.0.2.10");
        /* Exactly PATH, SUPERD_SERVICE, K, the eight connection variables, then NULL. */
        cr_assert_eq(count(c.envp), (2 + (e.vars ? count(e.vars) : 0)) + HANDLER_ENV_CONN_MAX);
        cr_assert_eq(HANDLER_ENV_CONN_MAX, sizeof(conn_names) / sizeof(conn_names[0]));
        cr_assert_null(c.envp[(2 + (e.vars ? count(e.vars) : 0)) + HANDLER_ENV_CONN_MAX]);
        /* The connection variables point into the caller's buffer. */
        for (size_t i = (2 + (e.vars ? count(e.vars) : 0)); c.envp[i]; i++)
                cr_assert(c.envp[i] >= c.text && c.envp[i] < c.text + sizeof(c.text), "envp[%zu] not in buf", i);
        handler_env_done(&e);
}

Test(handler_env_connect, ipv6_without_brackets)
{
        struct service s = {.name = "svc"};
        struct sockaddr_in6 remote = v6("2001:db8::dead:beef", 65535), local = v6("::1", 1);
        struct handler_env_conn c;
        struct handler_env e;

        cr_assert_eq(handler_env_init(&e, &s, NULL), 0);
        cr_assert_eq(handler_env_connect(&e, &c, (struct sockaddr *)&remote, (struct sockaddr *)&local), 0);
        expect_var(c.envp, "PROTO=TCP");
        expect_var(c.envp, "TCPREMOTEIP=2001:db8::dead:beef");
        expect_var(c.envp, "TCPREMOTEPORT=65535");
        expect_var(c.envp, "TCPLOCALIP=::1");
        expect_var(c.envp, "TCPLOCALPORT=1");
        expect_var(c.envp, "REMOTE_ADDR=2001:db8::dead:beef");
        expect_var(c.envp, "REMOTE_PORT=65535");
        cr_assert_eq(count(c.envp), 2 + HANDLER_ENV_CONN_MAX);
        handler_env_done(&e);
}

Test(handler_env_connect, longest_ipv6_fits)
{
        const char *ip = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe";
        struct service s = {.name = "svc"};
        struct sockaddr_in6 remote = v6(ip, 65535), local = v6(ip, 65534);
        struct handler_env_conn c;
        struct handler_env e;

        cr_assert_eq(handler_env_init(&e, &s, NULL), 0);
        cr_assert_eq(handler_env_connect(&e, &c, (struct sockaddr *)&remote, (struct sockaddr *)&local), 0);
        expect_var(c.envp, "TCPREMOTEIP=ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");
        expect_var(c.envp, "TCPLOCALIP=ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");
        expect_var(c.envp, "REMOTE_ADDR=ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");
        expect_var(c.envp, "REMOTE_PORT=65535");
        expect_var(c.envp, "TCPLOCALPORT=65534");
        handler_env_done(&e);
}

Test(handler_env_connect, ipv4_mapped_shown_as_ipv4)
{
        struct service s = {.name = "svc"};
        struct sockaddr_in6 remote = v6("::ffff:198.51.100.7", 5555), local = v6("::ffff:127.0.0.1", 80);
        struct handler_env_conn c;
        struct handler_env e;

        cr_assert_eq(handler_env_init(&e, &s, NULL), 0);
        cr_assert_eq(handler_env_connect(&e, &c, (struct sockaddr *)&remote, (struct sockaddr *)&local), 0);
        expect_var(c.envp, "TCPREMOTEIP=198.51.100.7");
        expect_var(c.envp, "REMOTE_ADDR=198.51.100.7");
        expect_var(c.envp, "TCPLOCALIP=127.0.0.1");
        expect_var(c.envp, "TCPREMOTEPORT=5555");
        expect_var(c.envp, "TCPLOCALPORT=80");
        handler_env_done(&e);
}

Test(handler_env_connect, twice_replaces_values)
{
        char *env[] = {"A=1", NULL};
        struct service s = {.name = "svc", .env = env};
        struct sockaddr_in r1 = v4("10.0.0.1", 1111), l1 = v4("10.0.0.2", 2222);
        struct sockaddr_in6 r2 = v6("2001:db8::2", 3333), l2 = v6("2001:db8::3", 4444);
        struct handler_env_conn c;
        struct handler_env e;

        cr_assert_eq(handler_env_init(&e, &s, NULL), 0);
        cr_assert_eq(handler_env_connect(&e, &c, (struct sockaddr *)&r1, (struct sockaddr *)&l1), 0);
        cr_assert_eq(handler_env_connect(&e, &c, (struct sockaddr *)&r2, (struct sockaddr *)&l2), 0);
        cr_assert_eq(count(c.envp), 3 + HANDLER_ENV_CONN_MAX, "envp grew to %zu entries", count(c.envp));
        for (size_t i = 0; i < HANDLER_ENV_CONN_MAX; i++)
                cr_assert_geq(find(c.envp, conn_names[i]), 0, "%s missing", conn_names[i]);
        expect_var(c.envp, "TCPREMOTEIP=2001:db8::2");
        expect_var(c.envp, "TCPREMOTEPORT=3333");
        expect_var(c.envp, "TCPLOCALIP=2001:db8::3");
        expect_var(c.envp, "TCPLOCALPORT=4444");
        expect_var(c.envp, "REMOTE_ADDR=2001:db8::2");
        expect_var(c.envp, "REMOTE_PORT=3333");
        expect_var(c.envp, "A=1");

        /* And back to IPv4 with a fresh buffer: the service entries are untouched. */
        struct handler_env_conn c2;
        cr_assert_eq(handler_env_connect(&e, &c2, (struct sockaddr *)&r1, (struct sockaddr *)&l1), 0);
        cr_assert_eq(count(c2.envp), 3 + HANDLER_ENV_CONN_MAX);
        expect_var(c2.envp, "TCPREMOTEIP=10.0.0.1");
        expect_var(c2.envp, "TCPLOCALPORT=2222");
        cr_assert_str_eq(c2.envp[1], "SUPERD_SERVICE=svc");
        handler_env_done(&e);
}

Test(handler_env_connect, other_family_refused)
{
        struct service s = {.name = "svc"};
        struct sockaddr_un u = {.sun_family = AF_UNIX, .sun_path = "/x"};
        struct sockaddr_in l = v4("127.0.0.1", 80);
        struct handler_env_conn c;
        struct handler_env e;

        cr_assert_eq(handler_env_init(&e, &s, NULL), 0);
        cr_assert_eq(handler_env_connect(&e, &c, (struct sockaddr *)&u, (struct sockaddr *)&l), -EAFNOSUPPORT);
        cr_assert_eq(handler_env_connect(&e, &c, (struct sockaddr *)&l, (struct sockaddr *)&u), -EAFNOSUPPORT);
        handler_env_done(&e);
}

Test(handler_env_done, twice_is_harmless)
{
        struct service s = {.name = "svc"};
        struct handler_env e;

        cr_assert_eq(handler_env_init(&e, &s, NULL), 0);
        handler_env_done(&e);
        handler_env_done(&e);
        cr_assert_null(e.vars);
}

Test(handler_env_connect_proxy, adds_the_balancer_and_tlvs_at_full_length_with_the_longest_name)
{
        char *env[SERVICE_ENV_MAX + 1] = {NULL};
        char name[SERVICE_NAME_MAX + 1];
        struct service s = {.name = name, .env = env};
        struct sockaddr_in6 remote = v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535), local = v6("::1", 1);
        struct handler_env_conn c;
        char authority[256], unique_id[257], *want;
        struct handler_env e;
        const struct handler_env_proxy proxy = {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", authority, unique_id};

        memset(name, 'n', SERVICE_NAME_MAX);
        name[SERVICE_NAME_MAX] = '\0';
        memset(authority, 'a', 255);
        authority[255] = '\0';
        memset(unique_id, 'f', 256);
        unique_id[256] = '\0';
        cr_assert_eq(handler_env_init(&e, &s, NULL), 0);
        cr_assert_eq(handler_env_connect_proxy(&e, &c, (struct sockaddr *)&remote, (struct sockaddr *)&local, &proxy), 0);
        expect_var(c.envp, "TCPREMOTEIP=ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");
        expect_var(c.envp, "PROXY_PEER_ADDR=ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
        cr_assert(asprintf(&want, "PROXY_AUTHORITY=%s", authority) > 0);
        expect_var(c.envp, want);
        free(want);
        cr_assert(asprintf(&want, "PROXY_UNIQUE_ID=%s", unique_id) > 0);
        expect_var(c.envp, want);
        free(want);
        cr_assert(asprintf(&want, "SUPERD_SERVICE=%s", name) > 0);
        expect_var(c.envp, want);
        free(want);
        cr_assert_eq(count(c.envp), (2 + (e.vars ? count(e.vars) : 0)) + HANDLER_ENV_CONN_MAX + HANDLER_ENV_PROXY_MAX);
        for (size_t i = 1; c.envp[i]; i++)
                cr_assert(c.envp[i] >= c.text && c.envp[i] + strlen(c.envp[i]) < c.text + sizeof(c.text), "envp[%zu] overflows", i);
        handler_env_done(&e);
}

Test(handler_env_connect_proxy, empty_fields_add_nothing)
{
        struct service s = {.name = "svc"};
        struct sockaddr_in remote = v4("192.0.2.10", 40000), local = v4("127.0.0.1", 1205);
        const struct handler_env_proxy proxy = {"127.0.0.1", "", NULL};
        struct handler_env_conn c;
        struct handler_env e;

        cr_assert_eq(handler_env_init(&e, &s, NULL), 0);
        cr_assert_eq(handler_env_connect_proxy(&e, &c, (struct sockaddr *)&remote, (struct sockaddr *)&local, &proxy), 0);
        expect_var(c.envp, "PROXY_PEER_ADDR=127.0.0.1");
        cr_assert_eq(count(c.envp), (2 + (e.vars ? count(e.vars) : 0)) + HANDLER_ENV_CONN_MAX + 1);
        handler_env_done(&e);
}

Test(handler_env_listen, wait_handler_and_pool_worker)
{
        struct service s = {.name = "pool"};
        char *environ_[] = {NULL};
        struct handler_env_conn c;
        struct handler_env e;
        char *pid;

        cr_assert_eq(handler_env_init(&e, &s, environ_), 0);
        /* Plain wait mode: no SUPERD_WORKER. */
        pid = handler_env_listen(&e, &c, "TCP");
        cr_assert_eq(count(c.envp), 6);
        expect_var(c.envp, "PROTO=TCP");
        expect_var(c.envp, "LISTEN_FDS=1");
        expect_var(c.envp, "LISTEN_FDNAMES=pool");
        cr_assert_eq(find(c.envp, "SUPERD_WORKER"), -1);
        cr_assert_eq(strlen(pid), HANDLER_ENV_PID_DIGITS);
        cr_assert_str_eq(pid - strlen("LISTEN_PID="), "LISTEN_PID=          ");
        /* Worker 1023 of a pool: one variable more, LISTEN_PID still last and where the pointer says. */
        pid = handler_env_listen_worker(&e, &c, "UDP", 1023);
        cr_assert_eq(count(c.envp), 7);
        expect_var(c.envp, "PROTO=UDP");
        expect_var(c.envp, "SUPERD_WORKER=1023");
        cr_assert_str_eq(pid - strlen("LISTEN_PID="), "LISTEN_PID=          ");
        cr_assert_eq(pid - strlen("LISTEN_PID="), c.envp[6]);
        handler_env_done(&e);
}

Test(handler_env_connect, leaves_the_service_entries_alone)
{
        char *env[] = {"K=V", NULL};
        struct service s = {.name = "svc", .env = env};
        struct sockaddr_in remote = v4("192.0.2.10", 40000), local = v4("127.0.0.1", 1205);
        struct handler_env_conn c;
        struct handler_env e;

        cr_assert_eq(handler_env_init(&e, &s, NULL), 0);
        cr_assert_eq(handler_env_connect(&e, &c, (struct sockaddr *)&remote, (struct sockaddr *)&local), 0);
        cr_assert_eq(count(e.vars), 1);
        cr_assert_eq(c.envp[2], e.vars[0], "the entry is shared, not copied");
        handler_env_listen(&e, &c, "TCP");
        cr_assert_str_eq(e.vars[0], "K=V");
        cr_assert_eq(c.envp[2], e.vars[0]);
        cr_assert_str_eq(c.envp[3], "PROTO=TCP");
        handler_env_done(&e);
}
