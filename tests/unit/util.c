/* SPDX-License-Identifier: MIT */
/* Helpers for unit tests: temporary folders and files built at run time, no fixture trees. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

char *tu_read(const char *path)
{
        FILE *f = fopen(path, "re");
        char *text = NULL;
        size_t len = 0;
        FILE *mem;
        int c;

        if (!f)
                return NULL;
        mem = open_memstream(&text, &len);
        cr_assert(mem);
        while ((c = fgetc(f)) != EOF)
                fputc(c, mem);
        fclose(f);
        cr_assert(fclose(mem) == 0);
        return text;
}

int tu_run(char *const *argv, char **ret_out, char **ret_err)
{
        char *dir = tu_tmpdir(), *out = tu_path(dir, "out"), *err = tu_path(dir, "err");
        int status;
        pid_t pid = fork();

        cr_assert(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0) {
                int in = open("/dev/null", O_RDONLY), o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600),
                    e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
                if (in < 0 || o < 0 || e < 0 || dup2(in, 0) < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
                        _exit(126);
                execv(argv[0], argv);
                _exit(127);
        }
        cr_assert(waitpid(pid, &status, 0) == pid);
        if (ret_out)
                *ret_out = tu_read(out);
        if (ret_err)
                *ret_err = tu_read(err);
        tu_rmtree(dir);
        free(dir);
        free(out);
        free(err);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
