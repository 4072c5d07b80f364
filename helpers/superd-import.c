/* SPDX-License-Identifier: MIT */
/* superd-import: xinetd and inetd configurations to superd drop-ins (superd-import(8)). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "import-emit.h"
#include "import-input.h"

#ifndef VERSION
#define VERSION "unknown"
#endif

static void usage(FILE *out)
{
        fprintf(out, "usage: superd-import [-o DIR] [--force] FILE|DIR ...\n"
                     "  -o, --output DIR  write one NAME.conf per service into DIR (default: all to stdout)\n"
                     "  -f, --force       replace existing files in DIR\n"
                     "  -V, --version     print the version\n"
                     "  -h, --help        this text\n"
                     "FILE: xinetd.conf, an xinetd.d file or inetd.conf (told apart by content);\n"
                     "DIR: a folder of xinetd.d files.\n");
}

int main(int argc, char **argv)
{
        static const struct option options[] = {
            {"output", required_argument, NULL, 'o'},
            {"force", no_argument, NULL, 'f'},
            {"version", no_argument, NULL, 'V'},
            {"help", no_argument, NULL, 'h'},
            {0},
        };
        struct imp_report report = {.out = stderr};
        struct imp_set set = {0};
        const char *dir = NULL;
        bool force = false;
        int c;

        while ((c = getopt_long(argc, argv, "o:fVh", options, NULL)) != -1) {
                switch (c) {
                case 'o':
                        dir = optarg;
                        break;
                case 'f':
                        force = true;
                        break;
                case 'V':
                        printf("superd-import %s\n", VERSION);
                        return IMP_EXIT_TRANSLATED;
                case 'h':
                        usage(stdout);
                        return IMP_EXIT_TRANSLATED;
                default:
                        usage(stderr);
                        return IMP_EXIT_ERROR;
                }
        }
        if (optind >= argc) {
                usage(stderr);
                return IMP_EXIT_ERROR;
        }
        if (imp_read_inputs(&set, argv + optind, (size_t)(argc - optind), &report) == 0)
                imp_emit_set(&set, dir, force, stdout, &report);
        imp_set_clear(&set);
        if (fflush(stdout) != 0)
                return IMP_EXIT_ERROR;
        return imp_exit_status(&report);
}
