/* SPDX-License-Identifier: MIT */
/* superd-import on inetd.conf (OpenBSD/Debian openbsd-inetd format): Debian's file, every field, bad input. */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "import-util.h"
#include "util.h"

static char *dir;

static void setup(void)
{
        dir = tu_tmpdir();
}

static void teardown(void)
{
        tu_rmtree(dir);
        free(dir);
}

TestSuite(import_inetd, .init = setup, .fini = teardown);

static void import_text(struct ti *t, const char *name, const char *text)
{
        char *path = tu_write(dir, name, 0644, "%s", text);
        const char *paths[] = {path, NULL};

        ti_import(t, paths);
        free(path);
}

/* Debian's inetd.conf as update-inetd writes it: internal services, a tcpd wrapper and an rsync entry switched
 * off ("#<off>#"), tftp on udp4. */
Test(import_inetd, debian_update_inetd_file)
{
        char *conf = ti_fixture("inetd.conf"), *s;
        const char *paths[] = {conf, NULL};
        struct ti t;

        ti_import(&t, paths);
        cr_assert_eq(t.status, 0, "status %d, stderr:\n%s", t.status, t.err);
        cr_assert(ti_has(t.err, "inetd.conf:22: warning: service 'echo' is written as 'echo-dgram' (the name is "
                                "taken)"),
                  "%s", t.err);
        cr_assert(ti_has(t.err, "inetd.conf:25: warning: argv[0] '/usr/sbin/in.ftpd' differs from the program "
                                "/usr/sbin/tcpd"),
                  "%s", t.err);
        cr_assert(!ti_has(t.out, "service discard"), "plain comments are not entries");

        s = ti_section(t.out, "echo");
        cr_assert(s, "%s", t.out);
        ti_assert_key(s, "listen", "{ \"0.0.0.0:7\" }");
        ti_assert_key(s, "socket-type", "stream");
        ti_assert_key(s, "builtin", "echo");
        cr_assert_null(ti_value(s, "user"));
        cr_assert_null(ti_value(s, "disable"));
        free(s);
        s = ti_section(t.out, "echo-dgram");
        ti_assert_key(s, "socket-type", "dgram");
        ti_assert_key(s, "builtin", "echo");
        free(s);

        s = ti_section(t.out, "ftp");
        cr_assert(s);
        ti_assert_key(s, "listen", "{ \"0.0.0.0:21\" }");
        ti_assert_key(s, "wait", "no");
        ti_assert_key(s, "exec",
                      "{ \"/bin/bash\", \"-c\", \"exec -a \\\"$0\\\" \\\"$@\\\"\", \"/usr/sbin/in.ftpd\", "
                      "\"/usr/sbin/tcpd\" }");
        ti_assert_key(s, "user", "\"root\"");
        ti_assert_key(s, "disable", "yes");
        free(s);

        s = ti_section(t.out, "tftp");
        ti_assert_key(s, "listen", "{ \"0.0.0.0:69\" }");
        ti_assert_key(s, "socket-type", "dgram");
        ti_assert_key(s, "wait", "yes");
        ti_assert_key(s, "exec", "{ \"/usr/sbin/in.tftpd\", \"-s\", \"/srv/tftp\" }");
        cr_assert_null(ti_value(s, "max-rate"), "no .max: superd's own default");
        free(s);

        /* nowait.120: inetd's 120 starts a minute, then ten minutes off */
        s = ti_section(t.out, "rsync");
        ti_assert_key(s, "listen", "{ \"[::]:873\" }");
        ti_assert_key(s, "ipv6-only", "yes");
        ti_assert_key(s, "max-rate", "\"2/s\"");
        ti_assert_key(s, "rate-pause", "600");
        ti_assert_key(s, "disable", "yes");
        ti_assert_key(s, "exec",
                      "{ \"/bin/bash\", \"-c\", \"exec -a \\\"$0\\\" \\\"$@\\\"\", \"rsyncd\", "
                      "\"/usr/bin/rsync\", \"--daemon\" }");
        free(s);
        ti_free(&t);

        const char *args[] = {"-o", dir, conf, NULL};
        cr_assert_eq(ti_run(args, NULL, NULL), 0);
        ti_superd_check(dir, NULL);
        free(conf);
}

/* addr:service, "addr:" lines for the entries after them, protocols, user:group and user.group, .max.per-ip */
Test(import_inetd, addresses_protocols_users)
{
        struct ti t;
        char *s;

        import_text(&t, "inetd.conf",
                    "127.0.0.1:echo\tstream\ttcp\tnowait\tnobody:nogroup\t/bin/cat\tcat\n"
                    "[::1]:daytime\tstream\ttcp6\tnowait.600.4\tnobody.nogroup\t/bin/date\tdate -u\n"
                    "192.0.2.1:\n"
                    "discard\tstream\ttcp46\tnowait\tnobody\t/bin/cat\tcat\n"
                    "*:\n"
                    "chargen\tstream\ttcp46\tnowait\troot\tinternal\n"
                    "7001\tdgram\tudp\twait.30.2\tnobody\t/bin/cat\tcat\n");
        cr_assert_eq(t.status, 1, "%s", t.err);
        s = ti_section(t.out, "echo");
        ti_assert_key(s, "listen", "{ \"127.0.0.1:7\" }");
        ti_assert_key(s, "exec", "{ \"/bin/cat\" }");
        ti_assert_key(s, "user", "\"nobody\"");
        ti_assert_key(s, "group", "\"nogroup\"");
        free(s);
        s = ti_section(t.out, "daytime");
        ti_assert_key(s, "listen", "{ \"[::1]:13\" }");
        ti_assert_key(s, "ipv6-only", "yes");
        ti_assert_key(s, "group", "\"nogroup\"");
        ti_assert_key(s, "exec", "{ \"/bin/date\", \"-u\" }");
        ti_assert_key(s, "max-rate", "\"10/s\"");
        ti_assert_key(s, "max-per-source", "4");
        free(s);
        s = ti_section(t.out, "discard");
        ti_assert_key(s, "listen", "{ \"192.0.2.1:9\" }");
        cr_assert_null(ti_value(s, "ipv6-only"));
        free(s);
        s = ti_section(t.out, "chargen");
        ti_assert_key(s, "listen", "{ \"[::]:19\" }");
        ti_assert_key(s, "builtin", "chargen");
        free(s);
        s = ti_section(t.out, "7001");
        ti_assert_key(s, "listen", "{ \"0.0.0.0:7001\" }");
        ti_assert_key(s, "max-rate", "\"1/s\"");
        cr_assert_null(ti_value(s, "max-per-source"));
        free(s);
        cr_assert(ti_has(t.err, "inetd.conf:7: not translated: wait.30.2: superd counts max-per-source on stream "
                                "services with nowait"),
                  "%s", t.err);
        ti_free(&t);
        char *conf = tu_path(dir, "inetd.conf"), *out = tu_mkdir(dir, "out");
        const char *args[] = {"-o", out, conf, NULL};
        cr_assert_eq(ti_run(args, NULL, NULL), 1);
        ti_superd_check(out, NULL);
        free(conf);
        free(out);
}

/* Told apart by content, not by name. */
Test(import_inetd, format_by_content)
{
        struct ti t;

        import_text(&t, "xinetd.conf", "# an inetd.conf by another name\necho stream tcp nowait root internal\n");
        cr_assert_eq(t.status, 0, "%s", t.err);
        cr_assert(ti_has_service(t.out, "echo"), "%s", t.out);
        ti_free(&t);
        import_text(&t, "inetd.conf", "service echo\n{\n\ttype = INTERNAL\n\tsocket_type = stream\n\twait = no\n}\n");
        cr_assert_eq(t.status, 0, "%s", t.err);
        cr_assert(ti_has_service(t.out, "echo"), "%s", t.out);
        ti_free(&t);
}

Test(import_inetd, unusable_entries)
{
        struct ti t;

        import_text(&t, "inetd.conf",
                    "tcpmux\tstream\ttcp\tnowait\troot\tinternal\n"
                    "rstatd/1-3\tdgram\trpc/udp\twait\troot\t/usr/sbin/rpc.rstatd\trpc.rstatd\n"
                    "nosuchname\tstream\ttcp\tnowait\troot\t/bin/cat\tcat\n");
        cr_assert_eq(t.status, 1);
        cr_assert(ti_has(t.err, "inetd.conf:1: not translated: tcpmux: inetd's internal service 'tcpmux' has no "
                                "superd builtin; the drop-in is commented out"),
                  "%s", t.err);
        cr_assert(ti_has(t.err, "inetd.conf:2: not translated: rstatd/1-3: rpc/udp: superd serves no RPC services"),
                  "%s", t.err);
        cr_assert(ti_has(t.err, "inetd.conf:3: not translated: nosuchname: nosuchname/tcp is not in /etc/services"),
                  "%s", t.err);
        cr_assert(ti_has(t.out, "# service tcpmux {"), "%s", t.out);
        ti_free(&t);
}

Test(import_inetd, syntax_errors)
{
        struct ti t;

        import_text(&t, "inetd.conf",
                    "echo stream tcp nowait root internal\nftp stream tcp nowait root\n"
                    "time stream tcp sometimes root internal\n");
        cr_assert_eq(t.status, 2);
        cr_assert(ti_has(t.err, "inetd.conf:2: expected at least 6 fields (service, socket type, protocol, wait, "
                                "user, program), got 5"),
                  "%s", t.err);
        cr_assert(ti_has(t.err, "inetd.conf:3: 'sometimes': expected wait or nowait"), "%s", t.err);
        ti_free(&t);
}

Test(import_inetd, unix_socket)
{
        struct ti t;
        char *s;

        import_text(&t, "inetd.conf",
                    "/run/superd-import-test.sock\tstream\tunix\tnowait.60.2\tnobody\t/bin/cat\tcat\n");
        cr_assert_eq(t.status, 1, "%s", t.err);
        s = ti_section(t.out, "superd-import-test.sock");
        cr_assert(s, "%s", t.out);
        ti_assert_key(s, "listen", "{ \"unix:/run/superd-import-test.sock\" }");
        ti_assert_key(s, "max-rate", "\"1/s\"");
        cr_assert_null(ti_value(s, "max-per-source"), "unix peers have no address");
        free(s);
        ti_free(&t);
}
