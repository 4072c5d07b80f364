/* SPDX-License-Identifier: MIT */
/* Limits and switches: max-instances holds connections in the backlog, disable parses but does not listen. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

TestSuite(limits, .init = h_setup, .fini = h_teardown, .timeout = 60);

/* How long a count must stay put to count as "not changing" (a negative can only be sampled). */
#define SETTLE_MS 300

/* Send LINE on the open connection FD, half-close, and expect it back. */
static void expect_echo_on(int fd, const char *line)
{
        char *out;
        ssize_t n = h_exchange(fd, line, strlen(line), &out, H_IO_MS);

        h_assert(n >= 0 && strcmp(out, line) == 0, "sent \"%s\", got \"%s\" (%zd)", line, out, n);
        free(out);
}

Test(limits, max_instances_waits_in_backlog)
{
        uint16_t port = h_free_port();
        int fd[3], live;
        pid_t pid;

        h_main_conf(NULL);
        h_dropin("limits.conf",
                 "service limited {\n"
                 "    listen        = { \"127.0.0.1:%u\" }\n"
                 "    exec          = { \"/bin/cat\" }\n"
                 "    user          = \"%s\"\n"
                 "    max-instances = 2\n"
                 "}\n",
                 port, H.user);
        pid = h_start(NULL, AF_INET, port, 0);

        for (int i = 0; i < 3; i++) {
                fd[i] = h_connect(AF_INET, port);
                h_assert(fd[i] >= 0, "connection %d: %s (the third should wait in the backlog, not fail)", i,
                         strerror(-fd[i]));
        }
        live = h_wait_children(pid, 2, 5000);
        h_assert(live == 2, "%d handlers for 3 connections, expected 2 running", live);
        usleep(SETTLE_MS * 1000);
        live = h_wait_children(pid, 3, 0);
        h_assert(live == 2, "%d handlers run with max-instances = 2", live);

        /* One handler ends: the waiting connection gets the freed slot. */
        expect_echo_on(fd[0], "first\n");
        close(fd[0]);
        expect_echo_on(fd[2], "third, after waiting\n");
        close(fd[2]);
        expect_echo_on(fd[1], "second\n");
        close(fd[1]);
        h_assert(h_wait_no_children(pid, H_REAP_MS) == 0, "handlers left after every client finished");
}

Test(limits, disabled_service_is_not_listened_on)
{
        uint16_t on = h_free_port(), off = h_free_port();
        char *out;
        ssize_t n;

        h_main_conf(NULL);
        h_dropin("switch.conf",
                 "service on {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    exec   = { \"/bin/cat\" }\n"
                 "    user   = \"%s\"\n"
                 "}\n"
                 "service off {\n"
                 "    listen  = { \"127.0.0.1:%u\" }\n"
                 "    exec    = { \"/bin/cat\" }\n"
                 "    user    = \"%s\"\n"
                 "    disable = true\n"
                 "}\n",
                 on, H.user, off, H.user);
        h_start(NULL, AF_INET, on, 0);
        h_assert(!h_listening(AF_INET, off), "disabled service listens on %u", off);
        n = h_request(AF_INET, on, "on\n", &out);
        h_assert(n >= 0 && strcmp(out, "on\n") == 0, "enabled service returned \"%s\" (%zd)", out, n);
        free(out);
        h_assert(!h_listening(AF_INET, off), "disabled service listens on %u", off);
}

Test(limits, disabled_service_is_still_validated)
{
        const char *argv[] = { h_superd(), "-t", "-c", H.conf, NULL };
        char *out, *err;
        int status;

        h_main_conf(NULL);
        h_dropin("switch.conf",
                 "service off {\n"
                 "    listen  = { \"127.0.0.1:%u\" }\n"
                 "    exec    = { \"relative/handler\" }\n"
                 "    user    = \"%s\"\n"
                 "    disable = true\n"
                 "}\n",
                 h_free_port(), H.user);
        status = h_run(argv, NULL, NULL, &out, &err, 10000);
        cr_assert(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 1,
                  "superd -t with a disabled but invalid service: %s, expected exit status 1\n-- stderr:\n%s",
                  h_status_str(status), err);
        cr_assert(strstr(err, "services.d/switch.conf:3:") != NULL,
                  "error not reported at services.d/switch.conf:3:\n-- stderr:\n%s", err);
}
