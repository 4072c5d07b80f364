/* SPDX-License-Identifier: MIT */
/* Unit tests of config-check.c: combinations of keys, names and addresses used twice, on services built in memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <criterion/criterion.h>

#include "config-check.h"
#include "util.h"

static char *E; /* what the last check wrote */
static size_t E_size;
static struct config_report R; /* its error stream is E */

static void setup(void)
{
        R = (struct config_report){.err = open_memstream(&E, &E_size)};
        cr_assert_not_null(R.err);
}

static void teardown(void)
{
        if (R.err)
                fclose(R.err);
        free(E);
        E = NULL;
}

TestSuite(config_check, .init = setup, .fini = teardown);

/* The errors written so far, as text. */
static const char *errors(void)
{
        cr_assert_eq(fflush(R.err), 0);
        return E;
}

/* A valid stream service with exec on the given listen addresses, as keys_apply() leaves it. */
static struct service service_on(const char *name, unsigned line, struct listen_addr *listen, char **text, size_t n)
{
        return (struct service){
            .name = (char *)name,
            .file = (char *)"/etc/superd/services.d/t.conf",
            .line = line,
            .listen = listen,
            .listen_text = text,
            .n_listen = n,
            .socket_type = SOCK_STREAM,
            .sockopt.socket_mode = 0666,
            .max_instances = 256,
            .per_source_prefix6 = 128,
            .rate_pause = 10,
            .proxy_timeout = PROXY_TIMEOUT_DEFAULT,
            .process = {.umask = -1, .rlimit_nofile = -1, .rlimit_as = -1, .rlimit_cpu = -1, .rlimit_nproc = -1},
        };
}

static struct listen_addr addr(const char *text)
{
        struct listen_addr a;
        const char *why = NULL;

        cr_assert_eq(addr_parse(text, &a, &why), 0, "%s: %s", text, why);
        return a;
}

Test(config_check, valid_service_passes)
{
        struct listen_addr a[] = {addr("127.0.0.1:7")};
        char *t[] = {"127.0.0.1:7", NULL};
        struct service s = service_on("ok", 3, a, t, 1);

        cr_assert(check_listen_twice(&R, &s));
        cr_assert(check_combination(&R, &s));
        cr_assert_eq(R.n_errors, 0);
        cr_assert_str_empty(errors());
}

Test(config_check, listen_given_twice)
{
        struct listen_addr a[] = {addr("127.0.0.1:7"), addr("127.0.0.1:8"), addr("127.0.0.1:7")};
        char *t[] = {"127.0.0.1:7", "127.0.0.1:8", "127.0.0.1:7", NULL};
        struct service s = service_on("twice", 4, a, t, 3);

        cr_assert_not(check_listen_twice(&R, &s));
        cr_assert_eq(R.n_errors, 1);
        cr_assert(tu_has_line(errors(), "/etc/superd/services.d/t.conf:4: ", "'127.0.0.1:7' given twice"), "%s", E);
}

Test(config_check, seqpacket_over_ip)
{
        struct listen_addr a[] = {addr("127.0.0.1:7")};
        char *t[] = {"127.0.0.1:7", NULL};
        struct service s = service_on("sp", 9, a, t, 1);

        s.socket_type = SOCK_SEQPACKET;
        cr_assert_not(check_combination(&R, &s));
        cr_assert(tu_has_line(errors(), "/etc/superd/services.d/t.conf:9: ", "seqpacket"), "%s", E);
}

Test(config_check, builtin_with_process_settings)
{
        struct listen_addr a[] = {addr("127.0.0.1:7")};
        char *t[] = {"127.0.0.1:7", NULL};
        struct service s = service_on("b", 2, a, t, 1);

        s.builtin = BUILTIN_ECHO;
        cr_assert(check_combination(&R, &s), "%s", errors());
        s.process.umask = 022;
        cr_assert_not(check_combination(&R, &s));
        cr_assert(tu_has_line(errors(), "/etc/superd/services.d/t.conf:2: ", "process settings"), "%s", E);
        cr_assert_eq(R.n_errors, 1);
}

/* allow/deny/max-per-source: per connection, or per datagram of a wait = yes dgram service (peeked). */
Test(config_check, allow_on_a_wait_service)
{
        struct listen_addr a[] = {addr("127.0.0.1:7")};
        char *t[] = {"127.0.0.1:7", NULL};
        struct cidr allow;
        const char *why;
        struct service s = service_on("d", 5, a, t, 1);

        cr_assert_eq(cidr_parse("10.0.0.0/8", &allow, &why), 0);
        s.socket_type = SOCK_DGRAM;
        s.wait = true;
        s.allow = &allow;
        s.n_allow = 1;
        s.max_per_source = 2;
        cr_assert(check_combination(&R, &s), "%s", errors());

        s.workers = 2;
        cr_assert_not(check_combination(&R, &s));
        cr_assert(tu_has_line(errors(), "/etc/superd/services.d/t.conf:5: ", "workers accept by themselves"), "%s", E);
        s.workers = 0;

        s.socket_type = SOCK_STREAM;
        cr_assert_not(check_combination(&R, &s));
        cr_assert(tu_has_line(errors(), "/etc/superd/services.d/t.conf:5: ", "accepts its connections itself"),
                  "%s", E);

        s.socket_type = SOCK_DGRAM;
        s.max_per_source = 0;
        s.builtin = BUILTIN_ECHO;
        cr_assert_not(check_combination(&R, &s));
        cr_assert(tu_has_line(errors(), "/etc/superd/services.d/t.conf:5: ", "dgram builtin"), "%s", E);
}

Test(config_check, socket_file_settings_need_a_unix_path)
{
        struct listen_addr ip[] = {addr("127.0.0.1:7")}, path[] = {addr("unix:/run/x.sock")};
        char *ti[] = {"127.0.0.1:7", NULL}, *tp[] = {"unix:/run/x.sock", NULL};
        struct service s = service_on("u", 6, ip, ti, 1);

        s.sockopt.socket_mode = 0600;
        cr_assert_not(check_combination(&R, &s));
        s = service_on("u", 6, path, tp, 1);
        s.sockopt.socket_mode = 0600;
        cr_assert(check_combination(&R, &s), "%s", errors());
        cr_assert_eq(R.n_errors, 1);
}

static struct cidr cidr(const char *text)
{
        struct cidr c;
        const char *why = NULL;

        cr_assert_eq(cidr_parse(text, &c, &why), 0, "%s: %s", text, why);
        return c;
}

/* The header comes before a connection's data: only a stream, wait = no service has a connection to read it from. */
Test(config_check, proxy_protocol_needs_a_stream_service_with_wait_no)
{
        struct listen_addr a[] = {addr("127.0.0.1:7")};
        char *t[] = {"127.0.0.1:7", NULL};
        struct cidr lb = cidr("10.0.0.1");
        struct service s = service_on("p", 7, a, t, 1);

        s.proxy_protocol = 3;
        s.proxy_from = &lb;
        s.n_proxy_from = 1;
        cr_assert(check_combination(&R, &s), "%s", errors());
        s.builtin = BUILTIN_ECHO; /* a stream builtin reads the header too */
        cr_assert(check_combination(&R, &s), "%s", errors());
        s.builtin = BUILTIN_NONE;

        s.wait = true;
        cr_assert_not(check_combination(&R, &s));
        cr_assert_eq(R.n_errors, 1, "%s", errors());
        s.socket_type = SOCK_DGRAM;
        cr_assert_not(check_combination(&R, &s));
        cr_assert_eq(R.n_errors, 2, "%s", errors());
        cr_assert(tu_has_line(errors(), "/etc/superd/services.d/t.conf:7: ",
                              "proxy-protocol needs a stream service with wait = no"),
                  "%s", E);
}

/* Anyone reaching an IP listener could claim any address; a unix socket file's mode says who may connect. */
Test(config_check, proxy_protocol_on_ip_needs_proxy_from)
{
        struct listen_addr ip[] = {addr("unix:/run/p.sock"), addr("[::1]:7")}, path[] = {addr("unix:/run/p.sock")};
        char *ti[] = {"unix:/run/p.sock", "[::1]:7", NULL}, *tp[] = {"unix:/run/p.sock", NULL};
        struct cidr lb = cidr("::1");
        struct service s = service_on("p", 8, path, tp, 1);

        s.proxy_protocol = 1;
        cr_assert(check_combination(&R, &s), "%s", errors());
        s = service_on("p", 8, ip, ti, 2);
        s.proxy_protocol = 2;
        cr_assert_not(check_combination(&R, &s));
        cr_assert_eq(R.n_errors, 1, "%s", errors());
        cr_assert(tu_has_line(errors(), "/etc/superd/services.d/t.conf:8: ", "needs proxy-from"), "%s", E);
        s.proxy_from = &lb;
        s.n_proxy_from = 1;
        cr_assert(check_combination(&R, &s), "%s", errors());
}

/* proxy-from, proxy-timeout and proxy-health without proxy-protocol: one error each, naming the key. */
Test(config_check, proxy_keys_apply_only_with_proxy_protocol)
{
        struct listen_addr a[] = {addr("127.0.0.1:7")};
        char *t[] = {"127.0.0.1:7", NULL};
        struct cidr lb = cidr("10.0.0.0/8");
        struct service s = service_on("p", 9, a, t, 1);

        s.proxy_from = &lb;
        s.n_proxy_from = 1;
        s.proxy_timeout = 10;
        s.proxy_health_close = true;
        cr_assert_not(check_combination(&R, &s));
        cr_assert_eq(R.n_errors, 3, "%s", errors());
        cr_assert(
            tu_has_line(errors(), "/etc/superd/services.d/t.conf:9: ", "proxy-from applies only with proxy-protocol"),
            "%s", E);
        cr_assert(tu_has_line(errors(),
                              "/etc/superd/services.d/t.conf:9: ", "proxy-timeout applies only with proxy-protocol"),
                  "%s", E);
        cr_assert(
            tu_has_line(errors(), "/etc/superd/services.d/t.conf:9: ", "proxy-health applies only with proxy-protocol"),
            "%s", E);
        s.proxy_protocol = 1;
        cr_assert(check_combination(&R, &s), "%s", errors());
}

Test(config_check, duplicate_names_name_the_first)
{
        struct listen_addr a[] = {addr("127.0.0.1:7")};
        char *t[] = {"127.0.0.1:7", NULL};
        struct service x = service_on("dup", 3, a, t, 1), y = service_on("other", 9, a, t, 1),
                       z = service_on("dup", 12, a, t, 1);
        struct service *v[] = {&x, &y, &z};
        struct config c = {.services_dir = "/etc/superd/services.d", .services = v, .n_services = 3};

        z.file = "/etc/superd/services.d/u.conf";
        check_duplicates(&R, &c);
        cr_assert_eq(R.n_errors, 1, "%s", errors());
        cr_assert(tu_has_line(errors(), "/etc/superd/services.d/u.conf:12: ",
                              "'dup' is already defined at /etc/superd/services.d/t.conf:3"),
                  "%s", E);
}

Test(config_check, listen_conflicts_by_namespace)
{
        struct listen_addr a[] = {addr("127.0.0.1:7")};
        char *t[] = {"127.0.0.1:7", NULL};
        struct service tcp = service_on("tcp", 1, a, t, 1), udp = service_on("udp", 5, a, t, 1),
                       off = service_on("off", 9, a, t, 1), tcp2 = service_on("tcp2", 13, a, t, 1);
        struct service *v[] = {&tcp, &udp, &off, &tcp2};
        struct config c = {.services_dir = "/etc/superd/services.d", .services = v, .n_services = 2};

        /* The same port over TCP and UDP: two namespaces. */
        udp.socket_type = SOCK_DGRAM;
        check_listen_conflicts(&R, &c);
        cr_assert_eq(R.n_errors, 0, "%s", errors());

        /* A disabled service binds nothing; the second enabled TCP user is reported, naming the first. */
        off.disable = true;
        c.n_services = 4;
        check_listen_conflicts(&R, &c);
        cr_assert_eq(R.n_errors, 1, "%s", errors());
        cr_assert(tu_has_line(errors(), "/etc/superd/services.d/t.conf:13: ",
                              "'127.0.0.1:7' is already used by service 'tcp' at /etc/superd/services.d/t.conf:1"),
                  "%s", E);
}

/*
 * "*:7" and "[::]:7" are different entries (addr_equal()); sorted by
 * addr_compare() the two "*:7" users still meet, with "[::]:7" between them
 * in load order. Unix paths compare by text, each service holding its own.
 */
Test(config_check, listen_conflicts_past_a_plain_ipv6_entry_and_by_unix_path)
{
        char p1[] = "unix:/run/p.sock", p2[] = "unix:/run/p.sock";
        struct listen_addr w[] = {addr("*:7")}, v6[] = {addr("[::]:7")}, u1[] = {addr(p1)}, u2[] = {addr(p2)};
        char *tw[] = {"*:7", NULL}, *tv6[] = {"[::]:7", NULL}, *tu1[] = {p1, NULL}, *tu2[] = {p2, NULL};
        struct service first = service_on("first", 1, w, tw, 1), plain = service_on("plain", 5, v6, tv6, 1),
                       second = service_on("second", 9, w, tw, 1), f1 = service_on("f1", 13, u1, tu1, 1),
                       f2 = service_on("f2", 17, u2, tu2, 1);
        struct service *v[] = {&first, &plain, &second, &f1, &f2};
        struct config c = {.services_dir = "/etc/superd/services.d", .services = v, .n_services = 5};

        check_listen_conflicts(&R, &c);
        cr_assert_eq(R.n_errors, 2, "%s", errors());
        cr_assert(tu_has_line(errors(), "/etc/superd/services.d/t.conf:9: ",
                              "'*:7' is already used by service 'first' at /etc/superd/services.d/t.conf:1"),
                  "%s", E);
        cr_assert(tu_has_line(errors(), "/etc/superd/services.d/t.conf:17: ",
                              "'unix:/run/p.sock' is already used by service 'f1' at /etc/superd/services.d/t.conf:13"),
                  "%s", E);
}
