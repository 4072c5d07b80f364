/* SPDX-License-Identifier: MIT */
/* Configuration checking: `superd -t` accepts a good set, reports every error as FILE:LINE, and a bad start exits 1 or 3. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

TestSuite(check, .init = h_setup, .fini = h_teardown, .timeout = 60);

#define CHECK_MS 10000

/* Result of one `superd -t -c DIR/superd.conf`. */
struct check {
        int status;
        char *out, *err;
};

static struct check run_check(void)
{
        const char *argv[] = { h_superd(), "-t", "-c", H.conf, NULL };
        struct check c;

        c.status = h_run(argv, NULL, NULL, &c.out, &c.err, CHECK_MS);
        return c;
}

/* Fail unless COND holds, showing the exit status and both streams of superd -t (struct check *C). */
#define c_assert(c, cond, ...)                                                                          \
        do {                                                                                            \
                if (!(cond)) {                                                                          \
                        char *c_msg_ = h_format(__VA_ARGS__);                                           \
                        cr_assert_fail("%s\n---- superd -t: %s ----\n-- stdout:\n%s-- stderr:\n%s---- end ----", \
                                       c_msg_, h_status_str((c)->status), (c)->out, (c)->err);          \
                }                                                                                       \
        } while (0)

/*
 * Find "FILE:LINE:" in TEXT, where FILE ends in "services.d/NAME" (superd may
 * print the path as opened, absolute or relative). Returns the first such
 * LINE, or 0 if there is none.
 */
static unsigned error_line(const char *text, const char *name)
{
        char needle[128];
        const char *p = text;

        snprintf(needle, sizeof(needle), "services.d/%s:", name);
        while ((p = strstr(p, needle))) {
                char *end;
                unsigned long line;

                p += strlen(needle);
                line = strtoul(p, &end, 10);
                if (end != p && *end == ':')
                        return (unsigned)line;
        }
        return 0;
}

/* The good service every bad-config case carries in 10-good.conf: a bad file must not hide it, nor it a bad file. */
static void good_dropin(uint16_t port)
{
        h_dropin("10-good.conf",
                 "service good {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    exec   = { \"/bin/cat\" }\n"
                 "    user   = \"%s\"\n"
                 "}\n",
                 port, H.user);
}

/* TEMPLATE with every "@PORT@" replaced by PORT and every "@USER@" by the current user; malloc'd. */
static char *fill(const char *template, uint16_t port)
{
        size_t cap = strlen(template) + 256, len = 0;
        char *out = malloc(cap);

        cr_assert(out != NULL);
        for (const char *p = template; *p;) {
                if (strncmp(p, "@PORT@", 6) == 0) {
                        len += (size_t)snprintf(out + len, cap - len, "%u", port);
                        p += 6;
                } else if (strncmp(p, "@USER@", 6) == 0) {
                        len += (size_t)snprintf(out + len, cap - len, "%s", H.user);
                        p += 6;
                } else {
                        out[len++] = *p++;
                }
                if (len >= cap - 64)
                        cr_assert_fail("template too long");
        }
        out[len] = '\0';
        return out;
}

/*
 * 20-bad.conf holds a good service (lines 1-2), a blank line, and from line
 * 4 the section BAD (a fill() template): `superd -t` must exit 1 and report
 * 20-bad.conf at a line in [LO, HI]: the line of the offending key, or for a
 * missing key anywhere in the section.
 */
static void expect_bad_saying(const char *bad, unsigned lo, unsigned hi, const char *needle)
{
        uint16_t port = h_free_port();
        char *section = fill(bad, h_free_port());
        struct check c;
        unsigned line;

        h_main_conf(NULL);
        good_dropin(h_free_port());
        h_dropin("20-bad.conf",
                 "# a good service, then the bad one\n"
                 "service fine { listen = { \"127.0.0.1:%u\" } exec = { \"/bin/cat\" } user = \"%s\" }\n"
                 "\n"
                 "%s",
                 port, H.user, section);
        c = run_check();
        c_assert(&c, c.status != -1 && WIFEXITED(c.status) && WEXITSTATUS(c.status) == 1,
                 "superd -t on a bad config: %s, expected exit status 1", h_status_str(c.status));
        line = error_line(c.err, "20-bad.conf");
        c_assert(&c, line != 0, "no \"…/services.d/20-bad.conf:LINE:\" on stderr");
        c_assert(&c, line >= lo && line <= hi, "error reported at 20-bad.conf:%u, expected a line in [%u, %u]", line,
                 lo, hi);
        c_assert(&c, !needle || strstr(c.err, needle), "no \"%s\" on stderr", needle);
        free(section);
        free(c.out);
        free(c.err);
}

static void expect_bad(const char *bad, unsigned lo, unsigned hi)
{
        expect_bad_saying(bad, lo, hi, NULL);
}

Test(check, good_config_prints_services)
{
        uint16_t port = h_free_port();
        struct check c;

        h_main_conf(NULL);
        good_dropin(port);
        h_dropin("20-more.conf",
                 "service another-one {\n"
                 "    listen = { \"[::1]:%u\" }\n"
                 "    exec   = { \"/bin/cat\", \"-u\" }\n"
                 "    user   = \"%s\"\n"
                 "}\n",
                 port, H.user);
        c = run_check();
        c_assert(&c, c.status != -1 && WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0,
                 "superd -t on a good config: %s, expected exit status 0", h_status_str(c.status));
        c_assert(&c, strstr(c.out, "good") != NULL, "service \"good\" not printed by superd -t");
        c_assert(&c, strstr(c.out, "another-one") != NULL, "service \"another-one\" not printed by superd -t");
        c_assert(&c, c.err[0] == '\0' || strstr(c.err, ".conf:") == NULL, "superd -t reported errors on a good config");
}

Test(check, ignores_files_not_named_conf)
{
        uint16_t port = h_free_port();
        struct check c;

        h_main_conf(NULL);
        good_dropin(port);
        h_dropin("30-broken.conf.disabled", "this is { not a valid drop-in\n");
        h_dropin("30-broken.conf~", "neither { is this\n");
        h_dropin(".40-hidden.conf", "nor { this\n");
        c = run_check();
        c_assert(&c, c.status != -1 && WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0,
                 "superd -t with non-.conf files around: %s, expected exit status 0", h_status_str(c.status));
}

Test(check, relative_exec)
{
        expect_bad("service bad {\n"
                   "    listen = { \"127.0.0.1:@PORT@\" }\n"
                   "    exec   = { \"cat\" }\n"
                   "    user   = \"@USER@\"\n"
                   "}\n",
                   6, 6);
}

Test(check, missing_exec_file)
{
        expect_bad("service bad {\n"
                   "    listen = { \"127.0.0.1:@PORT@\" }\n"
                   "    exec   = { \"/nonexistent/handler\" }\n"
                   "    user   = \"@USER@\"\n"
                   "}\n",
                   6, 6);
}

Test(check, missing_listen)
{
        expect_bad("service bad {\n"
                   "    exec   = { \"/bin/cat\" }\n"
                   "    user   = \"@USER@\"\n"
                   "}\n",
                   4, 7);
}

Test(check, port_out_of_range)
{
        expect_bad("service bad {\n"
                   "    listen = { \"127.0.0.1:70000\" }\n"
                   "    exec   = { \"/bin/cat\" }\n"
                   "    user   = \"@USER@\"\n"
                   "}\n",
                   5, 5);
}

Test(check, unparsable_address)
{
        expect_bad("service bad {\n"
                   "    listen = { \"[::1:@PORT@\" }\n"
                   "    exec   = { \"/bin/cat\" }\n"
                   "    user   = \"@USER@\"\n"
                   "}\n",
                   5, 5);
}

Test(check, unknown_key)
{
        expect_bad("service bad {\n"
                   "    listen = { \"127.0.0.1:@PORT@\" }\n"
                   "    exec   = { \"/bin/cat\" }\n"
                   "    user   = \"@USER@\"\n"
                   "    no-such-key = 1\n"
                   "}\n",
                   8, 8);
}

Test(check, unknown_user)
{
        expect_bad("service bad {\n"
                   "    listen = { \"127.0.0.1:@PORT@\" }\n"
                   "    exec   = { \"/bin/cat\" }\n"
                   "    user   = \"no-such-user-@USER@\"\n"
                   "}\n",
                   7, 7);
}

Test(check, duplicate_service_names_one_message_names_both_files)
{
        uint16_t port = h_free_port(), port2 = h_free_port();
        struct check c;
        bool both = false;

        h_main_conf(NULL);
        h_dropin("10-a.conf",
                 "service twice {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    exec   = { \"/bin/cat\" }\n"
                 "    user   = \"%s\"\n"
                 "}\n",
                 port, H.user);
        h_dropin("20-b.conf",
                 "# the same name again\n"
                 "\n"
                 "service twice {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    exec   = { \"/bin/cat\" }\n"
                 "    user   = \"%s\"\n"
                 "}\n",
                 port2, H.user);
        c = run_check();
        c_assert(&c, c.status != -1 && WIFEXITED(c.status) && WEXITSTATUS(c.status) == 1,
                 "superd -t with a service name used twice: %s, expected exit status 1", h_status_str(c.status));
        /* One message naming both places. */
        for (char *p = c.err; p && *p && !both;) {
                char *nl = strchr(p, '\n');
                char line[1024];

                snprintf(line, sizeof(line), "%.*s", nl ? (int)(nl - p) : (int)strlen(p), p);
                both = strstr(line, "10-a.conf") && strstr(line, "20-b.conf");
                p = nl ? nl + 1 : NULL;
        }
        c_assert(&c, both, "no error line names both 10-a.conf and 20-b.conf");
        c_assert(&c, error_line(c.err, "20-b.conf") == 3 || error_line(c.err, "10-a.conf") == 1,
                 "the duplicate is not reported at 20-b.conf:3: or 10-a.conf:1:");
}

Test(check, every_error_of_every_file_is_reported)
{
        uint16_t port = h_free_port();
        struct check c;
        unsigned l1, l2;

        h_main_conf(NULL);
        h_dropin("10-x.conf",
                 "service x {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    exec   = { \"relative/handler\" }\n"
                 "    user   = \"%s\"\n"
                 "}\n",
                 port, H.user);
        h_dropin("20-y.conf",
                 "\n"
                 "service y {\n"
                 "    listen = { \"127.0.0.1:70000\" }\n"
                 "    exec   = { \"/bin/cat\" }\n"
                 "    user   = \"%s\"\n"
                 "}\n",
                 H.user);
        c = run_check();
        c_assert(&c, c.status != -1 && WIFEXITED(c.status) && WEXITSTATUS(c.status) == 1,
                 "superd -t with two bad files: %s, expected exit status 1", h_status_str(c.status));
        l1 = error_line(c.err, "10-x.conf");
        l2 = error_line(c.err, "20-y.conf");
        c_assert(&c, l1 == 3, "10-x.conf (relative exec) not reported at line 3, got %u", l1);
        c_assert(&c, l2 == 3, "20-y.conf (port 70000) not reported at line 3, got %u", l2);
}

Test(check, services_dir_option_overrides)
{
        const char *argv[] = { h_superd(), "-t", "-c", H.conf, "-d", NULL, NULL };
        uint16_t port = h_free_port();
        struct check c;

        /* services.d holds a bad file; -d points at another folder holding a good one. */
        h_main_conf(NULL);
        h_dropin("20-bad.conf", "service bad { listen = { \"127.0.0.1:70000\" } exec = { \"/bin/cat\" } }\n");
        cr_assert(mkdir(h_path("other.d"), 0755) == 0);
        h_write_file("other.d/10-ok.conf", 0644,
                     "service from-other-dir { listen = { \"127.0.0.1:%u\" } exec = { \"/bin/cat\" } user = \"%s\" }\n",
                     port, H.user);
        argv[5] = h_path("other.d");
        c.status = h_run(argv, NULL, NULL, &c.out, &c.err, CHECK_MS);
        c_assert(&c, c.status != -1 && WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0,
                 "superd -t -d OTHER: %s, expected exit status 0", h_status_str(c.status));
        c_assert(&c, strstr(c.out, "from-other-dir") != NULL, "service of the -d folder not printed");
}

Test(check, foreground_with_bad_config_exits_1_without_listening)
{
        const char *args[] = { "-f", "-c", H.conf, NULL };
        uint16_t good = h_free_port();
        int status;

        h_main_conf(NULL);
        good_dropin(good);
        h_dropin("20-bad.conf",
                 "service bad {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    exec   = { \"cat\" }\n"
                 "    user   = \"%s\"\n"
                 "}\n",
                 h_free_port(), H.user);
        h_spawn_superd(args, NULL);
        status = h_wait_exit(5000);
        h_assert(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 1,
                 "superd -f with a bad config: %s, expected exit status 1", h_status_str(status));
        h_assert(!h_listening(AF_INET, good), "port %u of the good service is listening after a refused start", good);
        {
                char *log = h_log();

                h_assert(error_line(log, "20-bad.conf") >= 1, "the error is not reported as 20-bad.conf:LINE:");
                free(log);
        }
}

Test(check, port_in_use_exits_3)
{
        const char *args[] = { "-f", "-c", H.conf, NULL };
        uint16_t port = h_free_port();
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), status;

        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        cr_assert(fd >= 0);
        cr_assert(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0, "bind 127.0.0.1:%u: %s", port, strerror(errno));
        cr_assert(listen(fd, 1) == 0);
        h_main_conf(NULL);
        good_dropin(port);
        h_spawn_superd(args, NULL);
        status = h_wait_exit(5000);
        close(fd);
        h_assert(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 3,
                 "superd with its port already bound: %s, expected exit status 3", h_status_str(status));
}

Test(check, usage_error_exits_2)
{
        const char *argv[] = { h_superd(), "--no-such-option", NULL };
        struct check c;

        c.status = h_run(argv, NULL, NULL, &c.out, &c.err, CHECK_MS);
        c_assert(&c, c.status != -1 && WIFEXITED(c.status) && WEXITSTATUS(c.status) == 2,
                 "superd --no-such-option: %s, expected exit status 2", h_status_str(c.status));
}

/*
 * A drop-in ending inside a string or a comment: libconfuse 3.3 accepted it
 * (exit 0), and with a '\' as the last byte its lexer wrote that '\' to
 * stdout. Each must be an error at the line it opens, with nothing on stdout.
 */
Test(check, unterminated_string_or_comment_is_reported_and_nothing_reaches_stdout)
{
        static const char *const endings[] = { "\"abc", "\"\\", "'\\", "\"a\\\"\n}\n", "/* never closed\n" };

        h_main_conf(NULL);
        good_dropin(h_free_port());
        for (size_t i = 0; i < sizeof(endings) / sizeof(endings[0]); i++) {
                struct check c;

                h_dropin("20-bad.conf",
                         "service fine { listen = { \"127.0.0.1:%u\" } exec = { \"/bin/cat\" } user = \"%s\" }\n"
                         "\n"
                         "%s",
                         h_free_port(), H.user, endings[i]);
                c = run_check();
                c_assert(&c, c.status != -1 && WIFEXITED(c.status) && WEXITSTATUS(c.status) == 1,
                         "ending #%zu: %s, expected exit status 1", i, h_status_str(c.status));
                c_assert(&c, error_line(c.err, "20-bad.conf") == 3, "ending #%zu not reported at 20-bad.conf:3", i);
                c_assert(&c, strstr(c.err, "unterminated") != NULL, "ending #%zu: no \"unterminated\" on stderr", i);
                c_assert(&c, c.out[0] == '\0', "ending #%zu: stdout is not empty", i);
                free(c.out);
                free(c.err);
        }
}

/* libconfuse leaves the file name out of errors it finds inside `defaults`: they were "?:LINE". */
Test(check, error_in_defaults_names_the_main_file)
{
        char needle[256];
        struct check c;

        /* h_main_conf() writes three lines before EXTRA. */
        h_main_conf("defaults {\n    no-such-key = 1\n}\n");
        good_dropin(h_free_port());
        c = run_check();
        c_assert(&c, c.status != -1 && WIFEXITED(c.status) && WEXITSTATUS(c.status) == 1,
                 "superd -t with a bad key in defaults: %s, expected exit status 1", h_status_str(c.status));
        snprintf(needle, sizeof(needle), "%s:5: ", H.conf);
        c_assert(&c, strstr(c.err, needle) != NULL, "no \"%s\" on stderr", needle);
        c_assert(&c, strstr(c.err, "?:") == NULL, "an error names the file \"?\"");
}

/* True if a line of TEXT starts with PREFIX. */
static bool has_line_starting(const char *text, const char *prefix)
{
        for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
                if (strncmp(p, prefix, strlen(prefix)) == 0)
                        return true;
        return false;
}

/* An error quoting a configured value stays one line: "exec: /x\nsuperd: ready..." forged a line. */
Test(check, error_quoting_a_newline_forges_no_line)
{
        struct check c;

        h_main_conf(NULL);
        h_dropin("20-bad.conf",
                 "service bad {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    exec   = { \"/nonexistent\\nsuperd: ready: 1 service(s)\" }\n"
                 "}\n",
                 h_free_port());
        c = run_check();
        c_assert(&c, c.status != -1 && WIFEXITED(c.status) && WEXITSTATUS(c.status) == 1,
                 "superd -t with a missing exec: %s, expected exit status 1", h_status_str(c.status));
        c_assert(&c, error_line(c.err, "20-bad.conf") == 3, "not reported at 20-bad.conf:3");
        c_assert(&c, !has_line_starting(c.err, "superd: ready"), "a forged line on stderr");
        c_assert(&c, strstr(c.err, "/nonexistent\\nsuperd: ready") != NULL, "the newline is not shown as \\n");
}

/*
 * Strings from the configuration reach log lines: an exec path (a handler
 * that fails to start) and a listen address (a unix socket that cannot be
 * bound). Service names cannot hold a newline (letters, digits, -_.@), but
 * these can: neither may forge a line of superd's log.
 */
Test(check, configured_newline_forges_no_log_line)
{
        uint16_t port = h_free_port();
        char *out = NULL, *log;

        h_write_file("handler\nsuperd: ready: 99 service(s)", 0755, "not a program\n");
        h_main_conf(NULL);
        h_dropin("10-forged.conf",
                 "service forged-exec {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    exec   = { \"%s/handler\\nsuperd: ready: 99 service(s)\" }\n"
                 "    user   = \"%s\"\n"
                 "}\n"
                 "service forged-listen {\n"
                 "    listen = { \"unix:%s/missing/s\\nsuperd: ready: 98 service(s)\" }\n"
                 "    exec   = { \"/bin/cat\" }\n"
                 "    user   = \"%s\"\n"
                 "}\n",
                 port, H.dir, H.user, H.dir, H.user);
        h_start(NULL, AF_INET, (int)port, 0);
        h_request(AF_INET, port, "x", &out);
        h_assert(h_wait_log("execve", 1, 5000), "the failed handler was not logged");
        h_assert(h_wait_log("cannot listen on", 1, 5000), "the unix listener's failure was not logged");
        log = h_log();
        h_assert(!has_line_starting(log, "superd: ready: 99"), "the exec path forged a log line");
        h_assert(!has_line_starting(log, "superd: ready: 98"), "the listen address forged a log line");
        h_assert(strstr(log, "handler\\nsuperd: ready: 99") != NULL, "the exec path's newline is not shown as \\n");
        h_assert(strstr(log, "s\\nsuperd: ready: 98") != NULL, "the address's newline is not shown as \\n");
        free(log);
        free(out);
}

/* A proxied service: `superd -t` prints its PROXY keys; the one without proxy-protocol prints only that. */
Test(check, proxy_protocol_keys_are_printed)
{
        struct check c;

        h_main_conf(NULL);
        good_dropin(h_free_port());
        h_dropin("20-proxied.conf",
                 "service proxied {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    exec   = { \"/bin/cat\" }\n"
                 "    user   = \"%s\"\n"
                 "    proxy-protocol = v2\n"
                 "    proxy-from = { \"10.1.2.3\", \"2001:db8::/32\" }\n"
                 "    proxy-timeout = 5\n"
                 "    proxy-health = close\n"
                 "}\n",
                 h_free_port(), H.user);
        c = run_check();
        c_assert(&c, c.status != -1 && WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0,
                 "superd -t on a proxied service: %s, expected exit status 0", h_status_str(c.status));
        c_assert(&c, strstr(c.out, "proxy-protocol = v2\n") != NULL, "no proxy-protocol = v2");
        c_assert(&c, strstr(c.out, "proxy-from     = { \"10.1.2.3/32\", \"2001:db8::/32\" }\n") != NULL,
                 "no proxy-from");
        c_assert(&c, strstr(c.out, "proxy-timeout  = 5\n") != NULL, "no proxy-timeout");
        c_assert(&c, strstr(c.out, "proxy-health   = close\n") != NULL, "no proxy-health");
        c_assert(&c, strstr(c.out, "proxy-protocol = no\n") != NULL, "the good service does not print proxy-protocol");
        free(c.out);
        free(c.err);
}

Test(check, proxy_protocol_on_ip_without_proxy_from)
{
        expect_bad_saying("service bad {\n"
                          "    listen = { \"127.0.0.1:@PORT@\" }\n"
                          "    exec   = { \"/bin/cat\" }\n"
                          "    user   = \"@USER@\"\n"
                          "    proxy-protocol = any\n"
                          "}\n",
                          4, 4, "proxy-protocol on IP addresses needs proxy-from");
}

Test(check, proxy_protocol_on_a_wait_service)
{
        expect_bad_saying("service bad {\n"
                          "    listen = { \"127.0.0.1:@PORT@\" }\n"
                          "    exec   = { \"/bin/cat\" }\n"
                          "    user   = \"@USER@\"\n"
                          "    wait   = yes\n"
                          "    proxy-protocol = v1\n"
                          "    proxy-from = { \"127.0.0.1\" }\n"
                          "}\n",
                          4, 4, "proxy-protocol needs a stream service with wait = no");
}

Test(check, proxy_from_without_proxy_protocol)
{
        expect_bad_saying("service bad {\n"
                          "    listen = { \"127.0.0.1:@PORT@\" }\n"
                          "    exec   = { \"/bin/cat\" }\n"
                          "    user   = \"@USER@\"\n"
                          "    proxy-from = { \"127.0.0.1\" }\n"
                          "}\n",
                          4, 4, "proxy-from applies only with proxy-protocol");
}

Test(check, proxy_health_without_proxy_protocol)
{
        expect_bad_saying("service bad {\n"
                          "    listen = { \"127.0.0.1:@PORT@\" }\n"
                          "    exec   = { \"/bin/cat\" }\n"
                          "    user   = \"@USER@\"\n"
                          "    proxy-health = close\n"
                          "}\n",
                          4, 4, "proxy-health applies only with proxy-protocol");
}

Test(check, bad_proxy_from_entry_at_its_line)
{
        expect_bad_saying("service bad {\n"
                          "    listen = { \"127.0.0.1:@PORT@\" }\n"
                          "    exec   = { \"/bin/cat\" }\n"
                          "    user   = \"@USER@\"\n"
                          "    proxy-protocol = v1\n"
                          "    proxy-from = {\n"
                          "        \"127.0.0.1\",\n"
                          "        \"127.0.0.1/40\"\n"
                          "    }\n"
                          "}\n",
                          11, 11, "proxy-from: '127.0.0.1/40'");
}

Test(check, proxy_timeout_out_of_range)
{
        expect_bad_saying("service bad {\n"
                          "    listen = { \"127.0.0.1:@PORT@\" }\n"
                          "    exec   = { \"/bin/cat\" }\n"
                          "    user   = \"@USER@\"\n"
                          "    proxy-protocol = v1\n"
                          "    proxy-from = { \"127.0.0.1\" }\n"
                          "    proxy-timeout = 0\n"
                          "}\n",
                          10, 10, "proxy-timeout: 0 is out of range (1-3600)");
}
