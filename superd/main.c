/* SPDX-License-Identifier: MIT */
/* superd: command line parsing; everything else happens in run(). */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "server.h"
#include "upgrade.h"

#ifndef VERSION
#define VERSION "unknown"
#endif

/*
 * Paths from the command line are used again later (reload, stop) after
 * --daemon changed the directory to "/": make them absolute now, in `buf`
 * (static storage of the caller, so nothing is left to free at exit).
 * Returns buf, or path itself when it is absolute or too long to extend.
 */
static const char *absolute(const char *path, char buf[static PATH_MAX])
{
        char cwd[PATH_MAX];

        if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)) ||
            (size_t)snprintf(buf, PATH_MAX, "%s/%s", cwd, path) >= PATH_MAX)
                return path;
        return buf;
}

static void usage(FILE *out)
{
        fprintf(out,
                "usage: superd [-c FILE] [-d DIR] [-f] [--daemon [--pidfile FILE]] [--fd-store] [-t] [-l LEVEL] [-V] [-h]\n"
                "  -c, --config FILE        main file (default %s)\n"
                "  -d, --services-dir DIR   drop-in folder; overrides services-dir\n"
                "  -f, --foreground         stay in the foreground (the default)\n"
                "      --daemon             detach; the command returns once superd is ready\n"
                "      --pidfile FILE       write superd's pid to FILE once ready, remove it at stop\n"
                "      --fd-store           keep listening sockets in systemd's fd store (FileDescriptorStoreMax=)\n"
                "  -t, --check              validate, print the effective services, exit\n"
                "  -l, --log-level LEVEL    err, warning, notice, info, debug\n"
                "  -V, --version            print the version\n"
                "  -h, --help               this text\n",
                config_default_main_file);
}

int main(int argc, char **argv)
{
        static char config_path[PATH_MAX], services_path[PATH_MAX], pidfile_path[PATH_MAX], self_path[PATH_MAX];
        static const struct option longopts[] = {
                { "config", required_argument, NULL, 'c' },
                { "services-dir", required_argument, NULL, 'd' },
                { "foreground", no_argument, NULL, 'f' },
                { "daemon", no_argument, NULL, 'D' },
                { "pidfile", required_argument, NULL, 'P' },
                { "fd-store", no_argument, NULL, 'S' },
                { "check", no_argument, NULL, 't' },
                { "log-level", required_argument, NULL, 'l' },
                { "version", no_argument, NULL, 'V' },
                { "help", no_argument, NULL, 'h' },
                { 0 },
        };
        struct run_options o = { .log_level = -1, .argv = argv };
        int c;

        while ((c = getopt_long(argc, argv, "c:d:ftl:Vh", longopts, NULL)) != -1)
                switch (c) {
                case 'c':
                        o.config_file = absolute(optarg, config_path);
                        break;
                case 'd':
                        o.services_dir = absolute(optarg, services_path);
                        break;
                case 'f':
                        o.daemon = false;
                        break;
                case 'D':
                        o.daemon = true;
                        break;
                case 'P':
                        o.pidfile = absolute(optarg, pidfile_path);
                        break;
                case 'S':
                        o.fd_store = true;
                        break;
                case 't':
                        o.check = true;
                        break;
                case 'l':
                        o.log_level = log_level_from_string(optarg);
                        if (o.log_level < 0) {
                                fprintf(stderr, "superd: unknown log level '%s'\n", optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case 'V':
                        printf("superd %s\n", VERSION);
                        return EXIT_CLEAN;
                case 'h':
                        usage(stdout);
                        return EXIT_CLEAN;
                default:
                        usage(stderr);
                        return EXIT_USAGE;
                }
        if (optind < argc) {
                fprintf(stderr, "superd: unexpected argument '%s'\n", argv[optind]);
                usage(stderr);
                return EXIT_USAGE;
        }
        /* Resolved now: the folder may change (--daemon) before an upgrade executes it again. */
        o.self = upgrade_resolve_self(argv[0], self_path);
        return run(&o);
}
