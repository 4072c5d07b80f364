/* SPDX-License-Identifier: MIT */
/* --daemon and --pidfile: the command returns once superd serves, the pidfile comes and goes with it. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* The daemon re-parents to us (not to init), so the test can reap it and read its exit status. */
static void init(void)
{
        h_setup();
        cr_assert(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
}

TestSuite(daemon, .init = init, .fini = h_teardown, .timeout = 60);

static int run_superd(const char *pidfile)
{
        const char *argv[] = { h_superd(), "--daemon", "--pidfile", pidfile, "-c", H.conf, NULL };

        return h_run(argv, NULL, NULL, NULL, NULL, 10000);
}

static void cat_service(uint16_t port)
{
        h_main_conf(NULL);
        h_dropin("cat.conf", "service cat {\n    listen = { \"127.0.0.1:%u\" }\n    exec = { \"/bin/cat\" }\n"
                             "    user = \"%s\"\n}\n",
                 port, H.user);
}

Test(daemon, ready_on_return_pidfile_written_then_removed)
{
        uint16_t port = h_free_port();
        char *pidfile = h_path("superd.pid"), *out = NULL, buf[32] = "";
        int status, fd;
        pid_t pid;
        FILE *f;

        cat_service(port);
        status = run_superd(pidfile);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "superd --daemon: %s", h_status_str(status));

        /* Ready means ready: no polling here. */
        cr_assert(h_listening(AF_INET, port), "port %u not listening when superd --daemon returned", port);
        f = fopen(pidfile, "r");
        cr_assert(f != NULL, "no pidfile %s: %s", pidfile, strerror(errno));
        cr_assert(fgets(buf, sizeof(buf), f) != NULL);
        fclose(f);
        pid = (pid_t)atoi(buf);
        cr_assert(pid > 1 && h_alive(pid), "pidfile holds '%s', not a live process", buf);
        cr_assert(getsid(pid) != getsid(0) && getsid(pid) != pid,
                  "daemon should be in a session of its own and not lead it (sid %d, pid %d)", (int)getsid(pid),
                  (int)pid);

        fd = h_connect(AF_INET, port);
        cr_assert(fd >= 0, "connect: %s", strerror(-fd));
        cr_assert(h_exchange(fd, "ping\n", 5, &out, H_IO_MS) == 5, "no echo from the daemon's handler");
        cr_assert_str_eq(out, "ping\n");
        close(fd);

        cr_assert(kill(pid, SIGTERM) == 0);
        cr_assert(waitpid(pid, &status, 0) == pid, "waitpid: %s", strerror(errno));
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "daemon stopped with %s", h_status_str(status));
        cr_assert(access(pidfile, F_OK) < 0 && errno == ENOENT, "pidfile still there after the stop");
        cr_assert(!h_listening(AF_INET, port), "port still listening after the stop");
}

Test(daemon, invalid_config_exits_1_before_detaching)
{
        char *pidfile = h_path("superd.pid");
        int status;

        h_main_conf(NULL);
        h_dropin("bad.conf", "service bad {\n    listen = { \"127.0.0.1:70000\" }\n    exec = { \"/bin/cat\" }\n}\n");
        status = run_superd(pidfile);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1, "expected exit 1, got %s", h_status_str(status));
        cr_assert(access(pidfile, F_OK) < 0, "pidfile written for a configuration that failed");
}

Test(daemon, port_in_use_exits_3_from_the_waiting_parent)
{
        uint16_t port = h_free_port();
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        char *pidfile = h_path("superd.pid");
        int status, s;

        s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        cr_assert(s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(s, 1) == 0);
        cat_service(port);
        status = run_superd(pidfile);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 3, "expected exit 3, got %s", h_status_str(status));
        cr_assert(access(pidfile, F_OK) < 0, "pidfile written although superd failed");
        /* The daemon that failed exits too: we, its subreaper, reap it, and nothing is left over. */
        int64_t deadline = h_now_ms() + 2000;
        pid_t r;
        while ((r = waitpid(-1, &status, WNOHANG)) >= 0 && h_now_ms() < deadline)
                if (r == 0)
                        usleep(10000);
        cr_assert(r < 0 && errno == ECHILD, "a superd process was left behind");
        close(s);
}
