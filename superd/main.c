/* SPDX-License-Identifier: MIT */
/* superd: command line parsing; everything else happens in run(). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "log.h"
#include "server.h"

#ifndef VERSION
#define VERSION "unknown"
#endif

static void usage(FILE *out)
{
        fprintf(out,
                "usage: superd [-c FILE] [-d DIR] [-f] [-t] [-l LEVEL] [-V] [-h]\n"
                "  -c, --config FILE        main file (default %s)\n"
                "  -d, --services-dir DIR   drop-in folder; overrides services-dir\n"
                "  -f, --foreground         stay in the foreground (the default)\n"
                "  -t, --check              validate, print the effective services, exit\n"
                "  -l, --log-level LEVEL    err, warning, notice, info, debug\n"
                "  -V, --version            print the version\n"
                "  -h, --help               this text\n",
                config_default_main_file);
}

int main(int argc, char **argv)
{
        static const struct option longopts[] = {
                { "config", required_argument, NULL, 'c' },
                { "services-dir", required_argument, NULL, 'd' },
                { "foreground", no_argument, NULL, 'f' },
                { "check", no_argument, NULL, 't' },
                { "log-level", required_argument, NULL, 'l' },
                { "version", no_argument, NULL, 'V' },
                { "help", no_argument, NULL, 'h' },
                { 0 },
        };
        struct run_options o = { .log_level = -1 };
        int c;

        while ((c = getopt_long(argc, argv, "c:d:ftl:Vh", longopts, NULL)) != -1)
                switch (c) {
                case 'c':
                        o.config_file = optarg;
                        break;
                case 'd':
                        o.services_dir = optarg;
                        break;
                case 'f':
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
        return run(&o);
}
