/* SPDX-License-Identifier: MIT */
/* Helpers for unit tests: temporary folders and files built at run time, no fixture trees. */
#include "util.h"

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

char *tu_tmpdir(void)
{
        const char *base = getenv("TMPDIR");
        char *path;

        if (!base || !*base)
                base = "/tmp";
        cr_assert(asprintf(&path, "%s/superd-unit.XXXXXX", base) >= 0);
        cr_assert(mkdtemp(path), "mkdtemp %s: %s", path, strerror(errno));
        return path;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        remove(path);
        return 0;
}

void tu_rmtree(const char *path)
{
        if (path)
                nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *tu_path(const char *dir, const char *name)
{
        char *path;

        cr_assert(asprintf(&path, "%s/%s", dir, name) >= 0);
        return path;
}

char *tu_write(const char *dir, const char *name, mode_t mode, const char *fmt, ...)
{
        char *path = tu_path(dir, name);
        va_list ap;
        FILE *f;

        f = fopen(path, "we");
        cr_assert(f, "fopen %s: %s", path, strerror(errno));
        va_start(ap, fmt);
        vfprintf(f, fmt, ap);
        va_end(ap);
        cr_assert(fclose(f) == 0, "write %s: %s", path, strerror(errno));
        cr_assert(chmod(path, mode) == 0, "chmod %s: %s", path, strerror(errno));
        return path;
}

char *tu_mkdir(const char *dir, const char *name)
{
        char *path = tu_path(dir, name);

        cr_assert(mkdir(path, 0755) == 0, "mkdir %s: %s", path, strerror(errno));
        return path;
}

bool tu_has_line(const char *text, const char *prefix, const char *needle)
{
        size_t plen = strlen(prefix);

        for (const char *p = text; p && *p;) {
                const char *nl = strchr(p, '\n');
                size_t len = nl ? (size_t)(nl - p) : strlen(p);
                char *line = strndup(p, len);

                cr_assert(line);
                bool ok = strncmp(line, prefix, plen) == 0 && (!needle || strstr(line, needle));
                free(line);
                if (ok)
                        return true;
                p = nl ? nl + 1 : NULL;
        }
        return false;
}

unsigned tu_count_lines(const char *text)
{
        unsigned n = 0;

        for (const char *p = text; *p; p++)
                if (*p == '\n' || !p[1])
                        n++;
        return n;
}
