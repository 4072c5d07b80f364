/* SPDX-License-Identifier: MIT */
/* superd-import on xinetd configurations: the files packages ship (tests/unit/import/), every form, bad input. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "import-addr.h"
#include "import-util.h"
#include "strv.h"
#include "util.h"

/* No DNS in unit tests: gw.example is 192.0.2.9 and 2001:db8::9, nothing else resolves. */
static int fake_resolver(const char *name, char ***ret)
{
        char **v = NULL;

        if (strcmp(name, "gw.example") != 0)
                return -ENOENT;
        cr_assert(strv_push(&v, "192.0.2.9") == 0 && strv_push(&v, "2001:db8::9") == 0);
        *ret = v;
        return 2;
}

static char *dir;

static void setup(void)
{
        imp_set_resolver(fake_resolver);
        dir = tu_tmpdir();
}

static void teardown(void)
{
        tu_rmtree(dir);
        free(dir);
        imp_set_resolver(NULL);
}

TestSuite(import_xinetd, .init = setup, .fini = teardown);

/* Imports one file written from TEXT into the temporary folder. */
static void import_text(struct ti *t, const char *text)
{
        char *path = tu_write(dir, "svc", 0644, "%s", text);
        const char *paths[] = {path, NULL};

        ti_import(t, paths);
        free(path);
}

static void import_fixture(struct ti *t, const char *rel)
{
        char *path = ti_fixture(rel);
        const char *paths[] = {path, NULL};

        ti_import(t, paths);
        free(path);
}

/* xinetd's own internal services, as Debian ships them: a stream and a dgram twin each, disabled. */
Test(import_xinetd, debian_internal_twins)
{
        static const struct {
                const char *name, *port;
        } files[] = {{"echo", "7"}, {"daytime", "13"}, {"discard", "9"}, {"chargen", "19"}, {"time", "37"}};

        for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
                struct ti t;
                char rel[64], name[64], listen[64];
                snprintf(rel, sizeof(rel), "xinetd.d/%s", files[i].name);
                import_fixture(&t, rel);
                cr_assert_eq(t.status, 0, "%s: status %d, stderr:\n%s", rel, t.status, t.err);
                cr_assert_str_empty(t.err);
                snprintf(listen, sizeof(listen), "{ \"0.0.0.0:%s\" }", files[i].port);
                for (int dgram = 0; dgram < 2; dgram++) {
                        snprintf(name, sizeof(name), "%s-%s", files[i].name, dgram ? "dgram" : "stream");
                        char *s = ti_section(t.out, name);
                        cr_assert(s, "no service %s in:\n%s", name, t.out);
                        ti_assert_key(s, "listen", listen);
                        ti_assert_key(s, "socket-type", dgram ? "dgram" : "stream");
                        ti_assert_key(s, "builtin", files[i].name);
                        ti_assert_key(s, "disable", "yes");
                        ti_assert_key(s, "max-rate", "\"50/s\"");
                        ti_assert_key(s, "rate-pause", "10");
                        cr_assert(ti_has(s, "# max-rate and rate-pause: xinetd's implicit default cps = 50 10"));
                        cr_assert_null(ti_value(s, "user"), "a builtin gets no user");
                        cr_assert_null(ti_value(s, "wait"));
                        cr_assert(ti_has(s, "# xinetd: user = root (a builtin starts no process)"));
                        free(s);
                }
                cr_assert(ti_has(t.out, "# Imported by superd-import from "), "%s", t.out);
                ti_free(&t);
        }
}

/* Debian ships echo (with echo-dgram) and echo-udp (echo-dgram again): xinetd allows it while all but one are
 * disabled; superd needs distinct names. */
Test(import_xinetd, duplicate_id_renamed)
{
        char *a = tu_write(dir, "echo", 0644, "%s",
                           "service echo\n{\n\tid = echo-dgram\n\ttype = INTERNAL\n"
                           "\tsocket_type = dgram\n\twait = yes\n\tdisable = yes\n}\n");
        char *b = tu_write(dir, "echo-udp", 0644, "%s",
                           "service echo\n{\n\ttype = INTERNAL UNLISTED\n"
                           "\tid = echo-dgram\n\tsocket_type = dgram\n\tprotocol = udp\n"
                           "\twait = yes\n\tdisable = yes\n\tport = 7\n}\n");
        const char *paths[] = {dir, NULL};
        struct ti t;
        char *s;

        ti_import(&t, paths);
        cr_assert_eq(t.status, 0, "%s", t.err);
        cr_assert(ti_has(t.err, "echo-udp:1: warning: service 'echo-dgram' is written as 'echo-dgram-2'"), "%s", t.err);
        s = ti_section(t.out, "echo-dgram-2");
        cr_assert(s);
        ti_assert_key(s, "listen", "{ \"0.0.0.0:7\" }");
        free(s);
        free(a);
        free(b);
        ti_free(&t);
        ti_superd_check(dir, NULL);
}

/* A main file: a defaults section with "+=", includedir (skipping tftp.dpkg-old and rsync~), the packages' files. */
Test(import_xinetd, main_file_with_defaults_and_includedir)
{
        struct ti t;
        char *s;

        import_fixture(&t, "xinetd.conf");
        cr_assert_eq(t.status, 1, "status %d, stderr:\n%s", t.status, t.err);
        cr_assert(!ti_has(t.out, "service stale") && !ti_has(t.out, "service backup"), "includedir skips names with "
                                                                                       "a dot or ending in ~");
        cr_assert_eq(tu_count_lines(t.err), 2, "stderr:\n%s", t.err);
        cr_assert(ti_has(t.err, "xinetd.d/rsync:13: not translated: log_on_failure += USERID: superd makes no RFC "
                                "1413 (ident) lookups"),
                  "%s", t.err);
        cr_assert(ti_has(t.err, "xinetd.d/tftp:15: not translated: per_source = 11: "), "%s", t.err);

        /* defaults: instances, cps, umask; log_on_success/failure add up to log-connections */
        s = ti_section(t.out, "rsync");
        cr_assert(s, "%s", t.out);
        ti_assert_key(s, "listen", "{ \"[::]:873\" }");
        ti_assert_key(s, "exec", "{ \"/usr/bin/rsync\", \"--daemon\" }");
        ti_assert_key(s, "user", "\"root\"");
        ti_assert_key(s, "max-instances", "60");
        ti_assert_key(s, "max-rate", "\"25/s\"");
        ti_assert_key(s, "rate-pause", "30");
        ti_assert_key(s, "umask", "\"002\"");
        ti_assert_key(s, "log-connections", "yes");
        ti_assert_key(s, "disable", "yes");
        cr_assert(ti_has(s, "# not translated (") && ti_has(s, "log_on_failure += USERID"));
        free(s);

        /* NRPE: only_from (an address with a trailing zero octet is a network), per_source, group */
        s = ti_section(t.out, "nrpe");
        cr_assert(s);
        ti_assert_key(s, "listen", "{ \"0.0.0.0:5666\" }");
        ti_assert_key(s, "exec", "{ \"/usr/sbin/nrpe\", \"-c\", \"/etc/nagios/nrpe.cfg\", \"--inetd\" }");
        ti_assert_key(s, "user", "\"nagios\"");
        ti_assert_key(s, "group", "\"nagios\"");
        ti_assert_key(s, "max-per-source", "10");
        ti_assert_key(s, "allow", "{ \"127.0.0.1/32\", \"::1/128\", \"192.168.1.0/24\" }");
        ti_assert_key(s, "log-connections", "yes"); /* log_on_success = clears, log_on_failure keeps HOST */
        cr_assert(ti_has(s, "# xinetd: flags REUSE"));
        cr_assert_null(ti_value(s, "disable"));
        free(s);

        /* check_mk: type UNLISTED with its port */
        s = ti_section(t.out, "check_mk");
        cr_assert(s);
        ti_assert_key(s, "listen", "{ \"0.0.0.0:6556\" }");
        ti_assert_key(s, "exec", "{ \"/usr/bin/check_mk_agent\" }");
        free(s);

        /* tftp: dgram wait = yes, server_args, cps, only_from with a netmask and a factorized address */
        s = ti_section(t.out, "tftp");
        cr_assert(s);
        ti_assert_key(s, "listen", "{ \"0.0.0.0:69\" }");
        ti_assert_key(s, "socket-type", "dgram");
        ti_assert_key(s, "wait", "yes");
        ti_assert_key(s, "exec", "{ \"/usr/sbin/in.tftpd\", \"-s\", \"/srv/tftp\" }");
        ti_assert_key(s, "max-rate", "\"100/s\"");
        ti_assert_key(s, "rate-pause", "2");
        ti_assert_key(s, "allow",
                      "{ \"192.168.1.0/24\", \"10.0.0.0/8\", \"172.16.5.1/32\", \"172.16.5.2/32\", "
                      "\"172.16.5.5/32\" }");
        cr_assert_null(ti_value(s, "max-per-source"));
        free(s);
        cr_assert(ti_has_service(t.out, "echo-stream") && ti_has_service(t.out, "time-dgram"));
        ti_free(&t);

        /* the same through the program, into a folder that superd -t accepts */
        char *conf = ti_fixture("xinetd.conf"), *out = NULL, *err = NULL;
        const char *args[] = {"-o", dir, conf, NULL};
        cr_assert_eq(ti_run(args, &out, &err), 1, "%s", err);
        cr_assert_str_empty(out);
        char *f = tu_path(dir, "tftp.conf");
        cr_assert_eq(access(f, R_OK), 0);
        const char *missing[] = {"unknown user", "unknown group", "exec: /usr/sbin/nrpe",
                                 "exec: /usr/bin/check_mk_agent", NULL};
        ti_superd_check(dir, missing);
        free(f);
        free(conf);
        free(out);
        free(err);
}

Test(import_xinetd, vsftpd_example)
{
        struct ti t;
        char *s;

        import_fixture(&t, "vsftpd.xinetd");
        cr_assert_eq(t.status, 1);
        cr_assert(ti_has(t.err, "vsftpd.xinetd:12: not translated: banner_fail = /etc/vsftpd.busy_banner: superd "
                                "sends no banners"),
                  "%s", t.err);
        s = ti_section(t.out, "ftp");
        cr_assert(s);
        ti_assert_key(s, "listen", "{ \"0.0.0.0:21\" }");
        ti_assert_key(s, "exec", "{ \"/usr/local/sbin/vsftpd\" }");
        ti_assert_key(s, "max-instances", "200");
        ti_assert_key(s, "max-per-source", "5");
        ti_assert_key(s, "deny", "{ \"192.168.1.3/32\" }");
        ti_assert_key(s, "log-connections", "yes");
        cr_assert(ti_has(s, "# not translated (") && ti_has(s, "banner_fail"));
        free(s);
        ti_free(&t);
}

/* Every form of only_from and no_access xinetd takes (xinetd.conf(5), addr.c). */
Test(import_xinetd, address_forms)
{
        struct ti t;
        char *s;

        import_text(&t, "service forms\n{\n\tsocket_type = stream\n\tport = 7000\n\twait = no\n\tuser = nobody\n"
                        "\tserver = /bin/cat\n"
                        "\tonly_from = 10.0.0.0 192.168.1.0 10.1.0.0/255.255.0.0 172.16.5.{1,2,5} 10.2.{3,4}\n"
                        "\tonly_from += localhost 2001:db8::/32 2001:db8::1 10.9.9.9/8 gw.example\n"
                        "\tno_access = 0.0.0.0\n"
                        "\tno_access -= 0.0.0.0\n"
                        "\tno_access += .example.com\n}\n");
        cr_assert_eq(t.status, 1, "%s", t.err);
        s = ti_section(t.out, "forms");
        cr_assert(s, "%s", t.out);
        ti_assert_key(s, "allow",
                      "{ \"10.0.0.0/8\", \"192.168.1.0/24\", \"10.1.0.0/16\", \"172.16.5.1/32\", "
                      "\"172.16.5.2/32\", \"172.16.5.5/32\", \"10.2.3.0/24\", \"10.2.4.0/24\", "
                      "\"127.0.0.1/32\", \"::1/128\", \"2001:db8::/32\", \"2001:db8::1/128\", "
                      "\"10.0.0.0/8\", \"192.0.2.9/32\", \"2001:db8::9/128\" }");
        cr_assert_null(ti_value(s, "deny"), "no_access -= removed 0.0.0.0");
        cr_assert(ti_has(t.err, "svc:9: warning: gw.example resolved now: the address is fixed in the drop-in"), "%s",
                  t.err);
        cr_assert(ti_has(t.err, "svc:12: not translated: no_access += .example.com: .example.com: superd matches "
                                "addresses, not reverse DNS names"),
                  "%s", t.err);
        free(s);
        ti_free(&t);
}

/* "only_from =" without a value: available to nobody (xinetd.conf(5)); superd's empty allow would allow all. */
Test(import_xinetd, empty_only_from_denies_all)
{
        struct ti t;
        char *s;

        import_text(&t, "service nobody\n{\n\tsocket_type = stream\n\tport = 7000\n\twait = no\n\tuser = nobody\n"
                        "\tserver = /bin/cat\n\tcps = 10 5\n\tonly_from =\n}\n");
        cr_assert_eq(t.status, 0, "%s", t.err);
        s = ti_section(t.out, "nobody");
        cr_assert_null(ti_value(s, "allow"));
        ti_assert_key(s, "deny", "{ \"0.0.0.0/0\", \"::/0\" }");
        ti_assert_key(s, "max-rate", "\"10/s\"");
        ti_assert_key(s, "rate-pause", "5");
        free(s);
        ti_free(&t);
}

/* "+=" and "-=" start from the defaults' list; in defaults "=" adds. */
Test(import_xinetd, lists_against_defaults)
{
        struct ti t;
        char *s;

        import_text(&t, "defaults\n{\n\tonly_from = 10.0.0.0/8\n\tonly_from = 192.168.0.0/16\n"
                        "\tpassenv = TZ\n\tlog_on_success = PID\n}\n"
                        "service a\n{\n\tsocket_type = stream\n\tport = 7000\n\twait = no\n\tuser = nobody\n"
                        "\tserver = /bin/cat\n\tonly_from -= 192.168.0.0/16\n\tonly_from += 172.16.0.0/12\n"
                        "\tpassenv += LANG\n\tlog_on_success -= PID\n}\n"
                        "service b\n{\n\tsocket_type = stream\n\tport = 7001\n\twait = no\n\tuser = nobody\n"
                        "\tserver = /bin/cat\n\tonly_from = 127.0.0.1\n}\n");
        cr_assert_eq(t.status, 0, "%s", t.err);
        s = ti_section(t.out, "a");
        ti_assert_key(s, "allow", "{ \"10.0.0.0/8\", \"172.16.0.0/12\" }");
        ti_assert_key(s, "pass-env", "{ \"TZ\", \"LANG\" }");
        cr_assert_null(ti_value(s, "log-connections"), "log_on_success -= PID leaves nothing to log");
        free(s);
        s = ti_section(t.out, "b");
        ti_assert_key(s, "allow", "{ \"127.0.0.1/32\" }");
        ti_assert_key(s, "pass-env", "{ \"TZ\" }");
        ti_assert_key(s, "log-connections", "yes");
        free(s);
        ti_free(&t);
        char *conf = tu_path(dir, "svc"), *out = tu_mkdir(dir, "out");
        const char *args[] = {"-o", out, conf, NULL};
        cr_assert_eq(ti_run(args, NULL, NULL), 0);
        ti_superd_check(out, NULL);
        free(conf);
        free(out);
}

/* xinetd lets the better match of only_from and no_access decide; superd's deny wins: reported. */
Test(import_xinetd, better_match_reported)
{
        struct ti t;

        import_text(&t, "service m\n{\n\tsocket_type = stream\n\tport = 7000\n\twait = no\n\tuser = nobody\n"
                        "\tserver = /bin/cat\n\tonly_from = 10.0.0.5\n\tno_access = 10.0.0.0\n}\n");
        cr_assert_eq(t.status, 1);
        cr_assert(ti_has(t.err, "svc:8: not translated: only_from = 10.0.0.5: xinetd lets the better match win; "
                                "superd's deny wins, so 10.0.0.5/32 is now refused"),
                  "%s", t.err);
        ti_free(&t);
}

/* redirect: a wait = yes service running systemd-socket-proxyd, which accepts on the passed socket. */
Test(import_xinetd, redirect)
{
        struct ti t;
        char *s;

        import_text(&t, "service web\n{\n\tsocket_type = stream\n\tport = 8080\n\twait = no\n\tuser = nobody\n"
                        "\tredirect = 192.0.2.10 80\n\tinstances = 5\n\tcps = 100 5\n}\n");
        cr_assert_eq(t.status, 1, "%s", t.err);
        s = ti_section(t.out, "web");
        ti_assert_key(s, "wait", "yes");
        ti_assert_key(s, "exec",
                      "{ \"/lib/systemd/systemd-socket-proxyd\", \"192.0.2.10:80\", "
                      "\"--connections-max=5\" }");
        cr_assert_null(ti_value(s, "user"));
        cr_assert_null(ti_value(s, "max-instances"));
        cr_assert(ti_has(t.err, "svc:9: not translated: cps = 100 5: systemd-socket-proxyd accepts the connections "
                                "itself"),
                  "%s", t.err);
        free(s);
        ti_free(&t);
}

/* flags = NAMEINARGS: server_args' first word is argv[0]; a tcpd wrapper is kept, argv[0] passed by bash. */
Test(import_xinetd, nameinargs_tcpd)
{
        struct ti t;
        char *s;

        import_text(&t, "service telnet\n{\n\tflags = REUSE NAMEINARGS\n\tsocket_type = stream\n\twait = no\n"
                        "\tuser = root\n\tserver = /usr/sbin/tcpd\n\tserver_args = /usr/sbin/in.telnetd -h\n}\n");
        cr_assert_eq(t.status, 0, "%s", t.err);
        s = ti_section(t.out, "telnet");
        ti_assert_key(s, "listen", "{ \"0.0.0.0:23\" }");
        ti_assert_key(s, "exec",
                      "{ \"/bin/bash\", \"-c\", \"exec -a \\\"$0\\\" \\\"$@\\\"\", \"/usr/sbin/in.telnetd\", "
                      "\"/usr/sbin/tcpd\", \"-h\" }");
        cr_assert(ti_has(t.err, "svc:7: warning: argv[0] '/usr/sbin/in.telnetd' differs from the program "
                                "/usr/sbin/tcpd"),
                  "%s", t.err);
        free(s);
        ti_free(&t);
}

/* The handler's process settings, socket flags, bind, and what superd lacks. */
Test(import_xinetd, process_and_socket_keys)
{
        struct ti t;
        char *s;

        import_text(&t, "service p\n{\n\tsocket_type = stream\n\tprotocol = tcp\n\tport = 7000\n\twait = no\n"
                        "\tuser = nobody\n\tgroup = nogroup\n\tgroups = yes\n\tserver = /bin/cat\n"
                        "\tenv = LC_ALL=C GREETING=hi\n\tpassenv = TZ\n\tumask = 027\n\tnice = 10\n"
                        "\trlimit_as = 8M\n\trlimit_cpu = 20\n\trlimit_files = 64\n\trlimit_stack = 1M\n"
                        "\tflags = IPv6 KEEPALIVE NODELAY NOLIBWRAP IDONLY\n\tbind = ::1\n\tv6only = yes\n"
                        "\tinstances = UNLIMITED\n\taccess_times = 2:00-9:00\n\tlog_type = SYSLOG daemon info\n"
                        "\tfrobnicate = yes\n}\n");
        cr_assert_eq(t.status, 1);
        s = ti_section(t.out, "p");
        cr_assert(s, "%s", t.out);
        ti_assert_key(s, "listen", "{ \"[::1]:7000\" }");
        ti_assert_key(s, "ipv6-only", "yes");
        ti_assert_key(s, "user", "\"nobody\"");
        ti_assert_key(s, "group", "\"nogroup\"");
        ti_assert_key(s, "env", "{ \"LC_ALL=C\", \"GREETING=hi\" }");
        ti_assert_key(s, "pass-env", "{ \"TZ\" }");
        ti_assert_key(s, "umask", "\"027\"");
        ti_assert_key(s, "nice", "10");
        ti_assert_key(s, "rlimit-as", "8388608");
        ti_assert_key(s, "rlimit-cpu", "20");
        ti_assert_key(s, "rlimit-nofile", "64");
        ti_assert_key(s, "keepalive", "yes");
        ti_assert_key(s, "nodelay", "yes");
        ti_assert_key(s, "max-instances", "0");
        cr_assert(ti_has(s, "# xinetd: groups = yes (superd gives the user's groups, initgroups(3))"));
        cr_assert(ti_has(s, "# xinetd: flags NOLIBWRAP"));
        cr_assert(ti_has(t.err, "svc:18: not translated: rlimit_stack = 1M: superd has rlimit-nofile, rlimit-as, "
                                "rlimit-cpu and rlimit-nproc only"),
                  "%s", t.err);
        cr_assert(ti_has(t.err, "svc:19: not translated: flags = IPv6 KEEPALIVE NODELAY NOLIBWRAP IDONLY: IDONLY: "
                                "superd has no such option"),
                  "%s", t.err);
        cr_assert(ti_has(t.err, "svc:23: not translated: access_times = 2:00-9:00: superd has no time windows"));
        cr_assert(ti_has(t.err, "svc:24: not translated: log_type = SYSLOG daemon info: superd logs to the journal"));
        cr_assert(ti_has(t.err, "svc:25: not translated: frobnicate = yes: unknown directive"), "%s", t.err);
        cr_assert_eq(tu_count_lines(t.err), 5, "%s", t.err);
        free(s);
        ti_free(&t);
        char *conf = tu_path(dir, "svc"), *out = tu_mkdir(dir, "out");
        const char *args[] = {"-o", out, conf, NULL};
        cr_assert_eq(ti_run(args, NULL, NULL), 1);
        ti_superd_check(out, NULL);
        free(conf);
        free(out);
}

/* defaults' disabled and enabled lists name service ids. */
Test(import_xinetd, defaults_disabled_enabled)
{
        struct ti t;
        char *a, *b;

        import_text(&t, "defaults\n{\n\tdisabled = a\n}\n"
                        "service a\n{\n\tsocket_type = stream\n\tport = 7000\n\twait = no\n\tuser = nobody\n"
                        "\tserver = /bin/cat\n}\n"
                        "service b\n{\n\tsocket_type = stream\n\tport = 7001\n\twait = no\n\tuser = nobody\n"
                        "\tserver = /bin/cat\n}\n");
        cr_assert_eq(t.status, 0, "%s", t.err);
        a = ti_section(t.out, "a");
        b = ti_section(t.out, "b");
        ti_assert_key(a, "disable", "yes");
        cr_assert_null(ti_value(b, "disable"));
        free(a);
        free(b);
        ti_free(&t);
        import_text(&t, "defaults\n{\n\tenabled = b\n}\n"
                        "service a\n{\n\tsocket_type = stream\n\tport = 7000\n\twait = no\n\tuser = nobody\n"
                        "\tserver = /bin/cat\n}\n");
        a = ti_section(t.out, "a");
        ti_assert_key(a, "disable", "yes");
        cr_assert(ti_has(a, "not listed in defaults' enabled"));
        free(a);
        ti_free(&t);
}

/* What superd cannot run at all is written commented out, and reported. */
Test(import_xinetd, unusable_services_commented_out)
{
        struct ti t;

        import_text(&t, "service rstatd\n{\n\ttype = RPC\n\tsocket_type = dgram\n\tprotocol = udp\n"
                        "\tserver = /usr/sbin/rpc.rstatd\n\twait = yes\n\tuser = root\n\trpc_version = 2-4\n}\n"
                        "service servers\n{\n\ttype = INTERNAL UNLISTED\n\tport = 9099\n\tsocket_type = stream\n"
                        "\twait = no\n}\n"
                        "service nosuchservice\n{\n\tsocket_type = stream\n\twait = no\n\tuser = nobody\n"
                        "\tserver = /bin/cat\n}\n");
        cr_assert_eq(t.status, 1);
        cr_assert(
            ti_has(t.err, "svc:1: not translated: service rstatd: type RPC: superd serves no RPC, TCPMUX or SPECIAL"));
        cr_assert(ti_has(t.err, "svc:11: not translated: service servers: xinetd's internal service 'servers' has "
                                "no superd builtin"),
                  "%s", t.err);
        cr_assert(ti_has(t.err, "svc:18: not translated: service nosuchservice: no port, and nosuchservice is not in "
                                "/etc/services"),
                  "%s", t.err);
        cr_assert(ti_has(t.out, "# service rstatd {"), "%s", t.out);
        cr_assert(!ti_has(t.out, "\nservice rstatd {"));
        ti_free(&t);
        char *conf = tu_path(dir, "svc"), *out = tu_mkdir(dir, "out");
        const char *args[] = {"-o", out, conf, NULL};
        cr_assert_eq(ti_run(args, NULL, NULL), 1);
        ti_superd_check(out, NULL);
        free(conf);
        free(out);
}

/* ---- bad input ---- */

Test(import_xinetd, unterminated_brace)
{
        char *conf = tu_write(dir, "svc", 0644, "service a\n{\n\tsocket_type = stream\n"), *out = NULL, *err = NULL;
        const char *args[] = {conf, NULL};

        cr_assert_eq(ti_run(args, &out, &err), 2);
        cr_assert(ti_has(err, "/svc:1: a: '{' is not closed by '}' before the end of the file"), "%s", err);
        cr_assert_str_empty(out, "nothing is written after an error");
        free(conf);
        free(out);
        free(err);
}

Test(import_xinetd, brace_on_the_service_line)
{
        struct ti t;

        import_text(&t, "service a {\n\tport = 7\n}\n");
        cr_assert_eq(t.status, 2);
        cr_assert(ti_has(t.err, "svc:1: '{' must stand alone on the line after 'service'"), "%s", t.err);
        ti_free(&t);
}

Test(import_xinetd, bad_attribute_line)
{
        struct ti t;

        import_text(&t, "service a\n{\n\tsocket_type stream\n}\n");
        cr_assert_eq(t.status, 2);
        cr_assert(ti_has(t.err, "svc:3: attribute 'socket_type': expected '=', '+=' or '-='"), "%s", t.err);
        ti_free(&t);
}

Test(import_xinetd, unknown_directive_is_not_translated)
{
        char *conf = tu_write(dir, "svc", 0644,
                              "service a\n{\n\tsocket_type = stream\n\tport = 7000\n\twait = no\n"
                              "\tuser = nobody\n\tserver = /bin/cat\n\tcolour = blue\n}\n");
        char *out = NULL, *err = NULL;
        const char *args[] = {conf, NULL};

        cr_assert_eq(ti_run(args, &out, &err), 1);
        cr_assert(ti_has(err, "/svc:8: not translated: colour = blue: unknown directive (xinetd ignores it too)"), "%s",
                  err);
        cr_assert(ti_has(out, "# file: a.conf"), "%s", out);
        cr_assert(ti_has(out, "    # not translated ("), "%s", out);
        free(conf);
        free(out);
        free(err);
}

Test(import_xinetd, unreadable_file)
{
        char *missing = tu_path(dir, "missing"), *err = NULL;
        const char *args[] = {missing, NULL};

        cr_assert_eq(ti_run(args, NULL, &err), 2);
        cr_assert(ti_has(err, "/missing: No such file or directory"), "%s", err);
        free(missing);
        free(err);
        if (geteuid() != 0) { /* root reads mode 000 files */
                char *locked = tu_write(dir, "locked", 0000, "service a\n{\n}\n");
                const char *args2[] = {locked, NULL};
                cr_assert_eq(ti_run(args2, NULL, NULL), 2);
                free(locked);
        }
}

Test(import_xinetd, neither_format)
{
        char *conf = tu_write(dir, "notes", 0644, "# nothing here\nhello world\n"), *err = NULL;
        const char *args[] = {conf, NULL};

        cr_assert_eq(ti_run(args, NULL, &err), 2);
        cr_assert(ti_has(err, "/notes: neither an xinetd configuration nor an inetd.conf"), "%s", err);
        free(conf);
        free(err);
}

Test(import_xinetd, line_and_file_too_long)
{
        struct ti t;
        char *line = malloc(5000), *path;

        memset(line, 'x', 4999);
        line[4999] = '\0';
        import_text(&t, line);
        cr_assert_eq(t.status, 2);
        cr_assert(ti_has(t.err, "svc:1: line longer than 4096 bytes"), "%s", t.err);
        ti_free(&t);
        free(line);
        path = tu_path(dir, "big");
        FILE *f = fopen(path, "we");
        cr_assert(f);
        for (int i = 0; i < 20000; i++)
                fputs("# a comment line of sixty bytes, repeated to pass one MiB.\n", f);
        fclose(f);
        const char *paths[] = {path, NULL};
        ti_import(&t, paths);
        cr_assert_eq(t.status, 2);
        cr_assert(ti_has(t.err, "/big: larger than 1048576 bytes"), "%s", t.err);
        ti_free(&t);
        free(path);
}

/* Existing files are kept unless --force; --force replaces a symlink, never writes through it. */
Test(import_xinetd, existing_output_and_force)
{
        char *conf = ti_fixture("xinetd.d/echo"), *out = tu_mkdir(dir, "out"), *err = NULL;
        char *target = tu_write(dir, "target", 0644, "precious\n"), *link, *text;
        const char *args[] = {"-o", out, conf, NULL}, *force[] = {"--force", "-o", out, conf, NULL};

        free(tu_write(out, "echo-stream.conf", 0644, "# mine\n"));
        cr_assert_eq(ti_run(args, NULL, &err), 2);
        cr_assert(ti_has(err, "echo-stream.conf: exists (superd-import replaces files only with --force)"), "%s", err);
        link = tu_path(out, "echo-dgram.conf");
        cr_assert(access(link, F_OK) != 0, "nothing is written when a file is in the way");
        cr_assert_eq(symlink(target, link), 0);
        free(err);

        cr_assert_eq(ti_run(force, NULL, &err), 0, "%s", err);
        text = tu_read(target);
        cr_assert_str_eq(text, "precious\n", "the symlink's target is untouched");
        free(text);
        struct stat st;
        cr_assert_eq(lstat(link, &st), 0);
        cr_assert(S_ISREG(st.st_mode), "the symlink was replaced by a file");
        char *stream = tu_path(out, "echo-stream.conf");
        text = tu_read(stream);
        cr_assert(ti_has(text, "service echo-stream {"));
        free(text);
        ti_superd_check(out, NULL);
        free(stream);
        free(conf);
        free(out);
        free(err);
        free(target);
        free(link);
}

/* include: relative to the including file; a file that includes itself stops at 8 levels. */
Test(import_xinetd, include)
{
        struct ti t;
        char *s;

        free(tu_write(dir, "more", 0644,
                      "service b\n{\n\tsocket_type = stream\n\tport = 7001\n\twait = no\n"
                      "\tuser = nobody\n\tserver = /bin/cat\n}\n"));
        import_text(&t, "include more\n");
        cr_assert_eq(t.status, 0, "%s", t.err);
        s = ti_section(t.out, "b");
        cr_assert(s, "%s", t.out);
        ti_assert_key(s, "listen", "{ \"0.0.0.0:7001\" }");
        free(s);
        ti_free(&t);
        import_text(&t, "include svc\n");
        cr_assert_eq(t.status, 2);
        cr_assert(ti_has(t.err, "svc:1: svc: more than 8 levels of include"), "%s", t.err);
        ti_free(&t);
}

/* flags SENSOR: xinetd runs no server, so neither may superd. */
Test(import_xinetd, sensor)
{
        struct ti t;

        import_text(&t, "service ftp\n{\n\tflags = SENSOR\n\tsocket_type = stream\n\twait = no\n\tuser = root\n"
                        "\tserver = /bin/cat\n\tdeny_time = 60\n}\n");
        cr_assert_eq(t.status, 1);
        cr_assert(ti_has(t.err, "svc:1: not translated: service ftp: flags SENSOR: superd has no sensor"), "%s", t.err);
        cr_assert(ti_has(t.out, "# service ftp {") && ti_has(t.out, "#     # xinetd (") &&
                  ti_has(t.out, "deny_time = 60"));
        ti_free(&t);
}
