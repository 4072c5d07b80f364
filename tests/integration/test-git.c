/* SPDX-License-Identifier: MIT */
/* A real inetd-style daemon: `git daemon --inetd` under superd serves a clone over git://. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

TestSuite(git, .init = h_setup, .fini = h_teardown, .timeout = 60);

#define GIT "/usr/bin/git"
#define GIT_MS 30000
#define CONTENT "superd served this file over git://\n"

/* Run git with ARGS (after argv[0]) in CWD with a clean environment whose HOME is the test folder. */
static void git(const char *cwd, const char *const *args)
{
        const char *argv[16] = { GIT };
        char home[160];
        const char *envp[] = {
                home, "PATH=/usr/bin:/bin", "LC_ALL=C", "GIT_CONFIG_NOSYSTEM=1",
                "GIT_AUTHOR_NAME=superd test", "GIT_AUTHOR_EMAIL=test@example.invalid",
                "GIT_COMMITTER_NAME=superd test", "GIT_COMMITTER_EMAIL=test@example.invalid",
                "GIT_TERMINAL_PROMPT=0", NULL,
        };
        char *out, *err;
        size_t n = 1;
        int status;

        snprintf(home, sizeof(home), "HOME=%s", H.dir);
        for (size_t i = 0; args[i]; i++) {
                cr_assert(n < 15);
                argv[n++] = args[i];
        }
        argv[n] = NULL;
        status = h_run(argv, envp, cwd, &out, &err, GIT_MS);
        h_assert(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                 "git %s %s: %s\n-- git stdout:\n%s-- git stderr:\n%s", args[0], args[1] ? args[1] : "",
                 h_status_str(status), out, err);
        free(out);
        free(err);
}

Test(git, clone_through_git_daemon_inetd)
{
        char *work = h_path("work"), *bare = h_path("repo.git"), *clone = h_path("clone"), *url;
        uint16_t port = h_free_port();
        char *got;
        FILE *f;

        if (access(GIT, X_OK) != 0)
                cr_skip_test(GIT " not installed");

        /* A bare repository with one commit holding README. */
        git(H.dir, (const char *[]){ "init", "-q", "-b", "main", work, NULL });
        h_write_file("work/README", 0644, CONTENT);
        git(work, (const char *[]){ "add", "README", NULL });
        git(work, (const char *[]){ "commit", "-q", "-m", "first", NULL });
        git(H.dir, (const char *[]){ "clone", "-q", "--bare", work, bare, NULL });

        h_main_conf(NULL);
        h_dropin("git.conf",
                 "service git {\n"
                 "    listen = { \"127.0.0.1:%u\" }\n"
                 "    exec   = { \"" GIT "\", \"daemon\", \"--inetd\", \"--export-all\",\n"
                 "               \"--base-path=%s\", \"%s\" }\n"
                 "    user   = \"%s\"\n"
                 "}\n",
                 port, H.dir, H.dir, H.user);
        h_start(NULL, AF_INET, port, 0);

        cr_assert(asprintf(&url, "git://127.0.0.1:%u/repo.git", port) > 0);
        git(H.dir, (const char *[]){ "clone", "-q", url, clone, NULL });

        f = fopen(h_path("clone/README"), "re");
        h_assert(f != NULL, "the clone has no README");
        got = calloc(1, 4096);
        cr_assert(got != NULL);
        cr_assert(fread(got, 1, 4095, f) > 0);
        fclose(f);
        h_assert(strcmp(got, CONTENT) == 0, "cloned README holds \"%s\", expected \"%s\"", got, CONTENT);

        /* git daemon exited after the clone; superd reaped it. */
        h_assert(h_wait_no_children(H.pid, H_REAP_MS) == 0, "git daemon handler not reaped after the clone");
}
