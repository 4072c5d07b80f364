/* SPDX-License-Identifier: MIT */
/*
 * Migration end to end: superd-import turns a realistic xinetd tree (an
 * xinetd.conf with `defaults` and `includedir`, files as Debian packages ship
 * them, on test ports of 127.0.0.1) and an inetd.conf into drop-ins; superd runs them and
 * real clients talk to every service: builtins over TCP and UDP, /bin/cat,
 * in.tftpd whose only_from refuses 127.0.0.2, rsync --daemon, a redirect.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

TestSuite(import, .init = h_setup, .fini = h_teardown, .timeout = 120);

enum { ECHO, DAYTIME, CAT, TFTP, RSYNC, FWD, INETD_CAT, N_PORTS };

/* Send TEXT (LEN bytes) from an address of 127.0.0.0/8 to 127.0.0.1:PORT; the answer, or -1 after TIMEOUT_MS. */
static ssize_t udp_ask(const char *from_ip, uint16_t port, const void *text, size_t len, char *out, size_t size,
                       int timeout_ms)
{
        struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port) }, from = { .sin_family = AF_INET };
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t n = -1;

        cr_assert(fd >= 0, "socket: %s", strerror(errno));
        inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
        inet_pton(AF_INET, from_ip, &from.sin_addr);
        cr_assert(bind(fd, (struct sockaddr *)&from, sizeof(from)) == 0, "bind %s: %s", from_ip, strerror(errno));
        if (sendto(fd, text, len, 0, (struct sockaddr *)&to, sizeof(to)) >= 0 && poll(&p, 1, timeout_ms) == 1)
                n = recv(fd, out, size - 1, 0);
        out[n > 0 ? n : 0] = 0;
        close(fd);
        return n;
}

/* The xinetd tree and inetd.conf of the test, written into DIR with the ports in PORT. */
static void write_sources(const uint16_t *port)
{
        const char *user = H.user;

        cr_assert(mkdir(h_path("xinetd.d"), 0755) == 0 && mkdir(h_path("tftp"), 0755) == 0 &&
                  mkdir(h_path("rsync"), 0755) == 0);
        h_write_file("tftp/small.txt", 0644, "hello over tftp\n");
        h_write_file("rsync/hello.txt", 0644, "hello over rsync\n");
        h_write_file("rsyncd.conf", 0644,
                     "use chroot = no\nuid = root\ngid = root\n[files]\n\tpath = %s\n\tread only = yes\n",
                     h_path("rsync"));
        /* xinetd.conf as Debian ships it, plus logging the way admins turn it on. */
        h_write_file("xinetd.conf", 0644,
                     "# Simple configuration file for xinetd\n"
                     "defaults\n{\n"
                     "\tlog_type       = SYSLOG daemon info\n"
                     "\tlog_on_success = PID HOST DURATION EXIT\n"
                     "\tlog_on_failure = HOST\n"
                     "\tinstances      = 60\n"
                     "\tcps            = 25 30\n"
                     "}\n\n"
                     "includedir %s\n",
                     h_path("xinetd.d"));
        /* The xinetd package's echo file, on a test port (UNLISTED: not the /etc/services one). */
        h_write_file("xinetd.d/echo", 0644,
                     "# default: off\n"
                     "service echo\n{\n"
                     "\tdisable\t\t= no\n\ttype\t\t= INTERNAL UNLISTED\n\tid\t\t= echo-stream\n"
                     "\tsocket_type\t= stream\n\tprotocol\t= tcp\n\tuser\t\t= root\n\twait\t\t= no\n"
                     "\tport\t\t= %u\n\tbind\t\t= 127.0.0.1\n}\n\n"
                     "service echo\n{\n"
                     "\tdisable\t\t= no\n\ttype\t\t= INTERNAL UNLISTED\n\tid\t\t= echo-dgram\n"
                     "\tsocket_type\t= dgram\n\tprotocol\t= udp\n\tuser\t\t= root\n\twait\t\t= yes\n"
                     "\tport\t\t= %u\n\tbind\t\t= 127.0.0.1\n}\n",
                     port[ECHO], port[ECHO]);
        h_write_file("xinetd.d/daytime", 0644,
                     "service daytime\n{\n"
                     "\tdisable\t\t= no\n\ttype\t\t= INTERNAL UNLISTED\n\tid\t\t= daytime-stream\n"
                     "\tsocket_type\t= stream\n\tprotocol\t= tcp\n\tuser\t\t= root\n\twait\t\t= no\n"
                     "\tport\t\t= %u\n\tbind\t\t= 127.0.0.1\n}\n",
                     port[DAYTIME]);
        h_write_file("xinetd.d/cat", 0644,
                     "service cat\n{\n\ttype = UNLISTED\n\tsocket_type = stream\n\tprotocol = tcp\n"
                     "\twait = no\n\tuser = %s\n\tserver = /bin/cat\n\tport = %u\n\tbind = 127.0.0.1\n}\n",
                     user, port[CAT]);
        /* tftpd-hpa's file, restricted to 127.0.0.1 */
        h_write_file("xinetd.d/tftp", 0644,
                     "service tftp\n{\n\ttype = UNLISTED\n\tprotocol = udp\n\tport = %u\n"
                     "\tsocket_type = dgram\n\twait = yes\n\tuser = root\n\tbind = 127.0.0.1\n"
                     "\tserver = /usr/sbin/in.tftpd\n\tserver_args = -s -t 1 %s\n"
                     "\tonly_from = 127.0.0.1\n\tdisable = no\n}\n",
                     port[TFTP], h_path("tftp"));
        /* rsync's own xinetd file (log_on_failure += USERID has no superd equivalent). */
        h_write_file("xinetd.d/rsync", 0644,
                     "# default: off\n# description: The rsync server is a good addition to an ftp server, as it\n"
                     "#\tallows crc checksumming etc.\n"
                     "service rsync\n{\n\tdisable\t= no\n\ttype = UNLISTED\n\tport = %u\n\tbind = 127.0.0.1\n\tflags\t\t= IPv4\n"
                     "\tsocket_type     = stream\n\twait            = no\n\tuser            = root\n"
                     "\tserver          = /usr/bin/rsync\n\tserver_args     = --daemon --config=%s\n"
                     "\tlog_on_failure  += USERID\n}\n",
                     port[RSYNC], h_path("rsyncd.conf"));
        h_write_file("xinetd.d/fwd", 0644,
                     "service fwd\n{\n\ttype = UNLISTED\n\tsocket_type = stream\n\tprotocol = tcp\n"
                     "\twait = no\n\tport = %u\n\tbind = 127.0.0.1\n\tredirect = 127.0.0.1 %u\n}\n",
                     port[FWD], port[CAT]);
        /* A backup file an editor left: xinetd skips it, so must the importer. */
        h_write_file("xinetd.d/cat~", 0644, "this is not a service file {\n");
        /* inetd.conf as update-inetd writes it, one line switched off. */
        h_write_file("inetd.conf", 0644,
                     "# /etc/inetd.conf:  see inetd(8) for further informations.\n"
                     "#\n# <service_name> <sock_type> <proto> <flags> <user> <server_path> <args>\n"
                     "#:STANDARD: These are standard services.\n"
                     "127.0.0.1:%u\tstream\ttcp\tnowait\t%s\t/bin/cat\tcat\n"
                     "#<off># telnet\tstream\ttcp\tnowait\troot\t/usr/sbin/tcpd\t/usr/sbin/in.telnetd\n",
                     port[INETD_CAT], user);
}

/* A request over TCP to 127.0.0.1:PORT; fails the test unless the answer is EXPECT. */
static void expect_answer(uint16_t port, const char *text, const char *expect, const char *what)
{
        char *out;
        ssize_t n = h_request(AF_INET, port, text, &out);

        h_assert(n >= 0 && strcmp(out, expect) == 0, "%s on port %u: sent \"%s\", got \"%s\" (%zd)", what, port,
                 text, out, n);
        free(out);
}

Test(import, xinetd_tree_and_inetd_conf_serve_as_before)
{
        const char *tftp = "/usr/bin/tftp", *rsync = "/usr/bin/rsync";
        char *import = h_helper("superd-import"), *out = NULL, *err = NULL, url[128], portstr[8], buf[512];
        static const char rrq[] = "\0\1small.txt\0octet";
        uint16_t port[N_PORTS];
        int status;

        cr_assert(geteuid() == 0, "in.tftpd chroots into its folder: this test runs as root (CI does)");
        cr_assert(access("/usr/sbin/in.tftpd", X_OK) == 0 && access(tftp, X_OK) == 0 && access(rsync, X_OK) == 0,
                  "tftpd-hpa, tftp-hpa and rsync must be installed (.ci/run installs them)");
        for (int i = 0; i < N_PORTS; i++)
                port[i] = h_free_port();
        write_sources(port);

        /* The import: everything but rsync's USERID is translated, so the exit status is 1. */
        const char *argv[] = { import, "-o", H.services, h_path("xinetd.conf"), h_path("inetd.conf"), NULL };
        status = h_run(argv, NULL, H.dir, &out, &err, 20000);
        h_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1, "superd-import: %s, want exit 1; stderr:\n%s",
                 h_status_str(status), err);
        h_assert(strstr(err, "rsync:") && strstr(err, "not translated") && strstr(err, "USERID"),
                 "no FILE:LINE warning for USERID:\n%s", err);
        free(out);
        free(err);

        /* The drop-ins pass superd -t and run. */
        h_main_conf(NULL);
        const char *check[] = { h_superd(), "-t", "-c", H.conf, NULL };
        status = h_run(check, NULL, NULL, &out, &err, 20000);
        h_assert(status == 0, "superd -t on the imported drop-ins: %s\n%s%s", h_status_str(status), err, out);
        free(out);
        free(err);
        h_start_ready(NULL);

        expect_answer(port[ECHO], "echo over tcp\n", "echo over tcp\n", "echo-stream");
        h_assert(udp_ask("127.0.0.1", port[ECHO], "echo over udp", 13, buf, sizeof(buf), H_IO_MS) == 13 &&
                         strcmp(buf, "echo over udp") == 0,
                 "echo-dgram answered \"%s\"", buf);
        char *day;
        h_assert(h_request(AF_INET, port[DAYTIME], "", &day) > 10 && strchr(day, '\n'), "daytime: \"%s\"", day);
        free(day);
        expect_answer(port[CAT], "cat\n", "cat\n", "cat");
        expect_answer(port[INETD_CAT], "inetd cat\n", "inetd cat\n", "the inetd.conf service");
        /* systemd-socket-proxyd ends both directions at the client's EOF: ask without a half-close. */
        int fd = h_connect(AF_INET, port[FWD]);
        size_t got = 0;
        h_assert(fd >= 0 && h_write_all(fd, "through the redirect\n", 21, H_IO_MS) == 0, "redirect: cannot send");
        while (got < 21) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t n = poll(&p, 1, H_IO_MS) == 1 ? recv(fd, buf + got, sizeof(buf) - 1 - got, 0) : -1;
                if (n <= 0)
                        break;
                got += (size_t)n;
        }
        buf[got] = 0;
        close(fd);
        h_assert(strcmp(buf, "through the redirect\n") == 0, "the redirect answered \"%s\"", buf);

        /* tftp: a request from 127.0.0.2 gets nothing (only_from), one from 127.0.0.1 the file. */
        h_assert(udp_ask("127.0.0.2", port[TFTP], rrq, sizeof(rrq), buf, sizeof(buf), 500) < 0,
                 "in.tftpd answered 127.0.0.2, outside only_from");
        h_assert(h_wait_log("not allowed", 1, H_IO_MS), "the refusal of 127.0.0.2 is not in the log");
        snprintf(portstr, sizeof(portstr), "%u", port[TFTP]);
        const char *get[] = { tftp, "-m", "binary", "127.0.0.1", portstr, "-c", "get", "small.txt", "got.txt", NULL };
        status = h_run(get, NULL, H.dir, NULL, &err, 20000);
        h_assert(status == 0, "tftp get: %s; %s", h_status_str(status), err);
        free(err);
        const char *cat_got[] = { "/bin/cat", h_path("got.txt"), NULL };
        h_assert(h_run(cat_got, NULL, NULL, &out, NULL, 5000) == 0 && strcmp(out, "hello over tftp\n") == 0,
                 "tftp fetched \"%s\"", out);
        free(out);

        /* rsync: the module's file, through rsync --daemon on the connection. */
        snprintf(url, sizeof(url), "rsync://127.0.0.1:%u/files/hello.txt", port[RSYNC]);
        const char *pull[] = { rsync, url, h_path("rsynced.txt"), NULL };
        status = h_run(pull, NULL, H.dir, NULL, &err, 20000);
        h_assert(status == 0, "rsync %s: %s; %s", url, h_status_str(status), err);
        free(err);
        const char *cat_rsynced[] = { "/bin/cat", h_path("rsynced.txt"), NULL };
        h_assert(h_run(cat_rsynced, NULL, NULL, &out, NULL, 5000) == 0 && strcmp(out, "hello over rsync\n") == 0,
                 "rsync fetched \"%s\"", out);
        free(out);

        /* log_on_success became log-connections: accepts and ends are logged. */
        h_assert(h_wait_log("rsync: accept 127.0.0.1:", 1, H_IO_MS), "no accept line for rsync");
        h_assert(h_wait_log("exitcode 0 after", 3, H_IO_MS), "no end lines");
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}

/* Bad input: an unterminated section is a FILE:LINE error with exit 2, and nothing is written. */
Test(import, syntax_error_names_the_line_and_writes_nothing)
{
        char *import = h_helper("superd-import"), *out = NULL, *err = NULL, want[256];
        int status;

        h_write_file("broken", 0644, "service one\n{\n\tsocket_type = stream\n\tserver = /bin/cat\n");
        const char *argv[] = { import, "-o", H.services, h_path("broken"), NULL };
        status = h_run(argv, NULL, H.dir, &out, &err, 20000);
        h_assert(WIFEXITED(status) && WEXITSTATUS(status) == 2, "superd-import: %s, want exit 2; stderr:\n%s",
                 h_status_str(status), err);
        snprintf(want, sizeof(want), "%s:", h_path("broken"));
        h_assert(strstr(err, want), "the error does not name the file:\n%s", err);
        h_assert(rmdir(H.services) == 0, "superd-import wrote into %s: %s", H.services, strerror(errno));
        free(out);
        free(err);
}
