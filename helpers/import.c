/* SPDX-License-Identifier: MIT */
/* superd-import's neutral model: services, the set of them, the report, bounded file reading. */
#include "import.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strv.h"

struct imp_service *imp_service_new(void)
{
        struct imp_service *s = calloc(1, sizeof(*s));

        if (!s)
                return NULL;
        s->wait = -1;
        s->max_instances = s->max_per_source = s->max_rate = s->rate_pause = IMP_UNSET;
        s->umask = s->nice = s->rlimit_nofile = s->rlimit_as = s->rlimit_cpu = IMP_UNSET;
        return s;
}

struct imp_service *imp_service_free(struct imp_service *s)
{
        if (!s)
                return NULL;
        free(s->name);
        free(s->origin);
        strv_free(s->listen);
        strv_free(s->exec);
        free(s->user);
        free(s->group);
        strv_free(s->env);
        strv_free(s->pass_env);
        strv_free(s->allow);
        strv_free(s->deny);
        strv_free(s->comments);
        free(s->unusable);
        free(s);
        return NULL;
}

struct imp_service *imp_set_find(const struct imp_set *set, const char *name)
{
        for (size_t i = 0; i < set->n; i++)
                if (strcmp(set->services[i]->name, name) == 0)
                        return set->services[i];
        return NULL;
}

/* superd's NAME: letters, digits and "-_.@" (superd.conf(5)); a leading '.' would hide the drop-in. */
static void clean_name(char *name)
{
        for (char *p = name; *p; p++)
                if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') && !(*p >= '0' && *p <= '9') &&
                    !strchr("-_.@", *p))
                        *p = '-';
        if (name[0] == '.')
                name[0] = '_';
}

static char *unique_name(const struct imp_set *set, const char *base, const char *suffix)
{
        char *name = NULL;

        for (unsigned n = 1; n < 10000; n++) {
                int k;
                if (n == 1)
                        k = asprintf(&name, "%s", base);
                else if (suffix && n == 2)
                        k = asprintf(&name, "%s-%s", base, suffix);
                else if (suffix)
                        k = asprintf(&name, "%s-%s-%u", base, suffix, n - 1);
                else
                        k = asprintf(&name, "%s-%u", base, n);
                if (k < 0)
                        return NULL;
                clean_name(name);
                if (!imp_set_find(set, name))
                        return name;
                free(name);
        }
        errno = EEXIST;
        return NULL;
}

int imp_set_add(struct imp_set *set, struct imp_service *s, const char *base, const char *suffix, struct imp_report *r,
                const char *file, unsigned line)
{
        struct imp_service **more;

        s->name = unique_name(set, base && *base ? base : "service", suffix);
        more = s->name ? realloc(set->services, (set->n + 1) * sizeof(*more)) : NULL;
        if (!more) {
                imp_service_free(s);
                return -ENOMEM;
        }
        set->services = more;
        if (strcmp(s->name, base) != 0)
                imp_warn(r, file, line, "service '%s' is written as '%s' (%s)", base, s->name,
                         imp_set_find(set, base) ? "the name is taken" : "characters superd does not allow");
        set->services[set->n++] = s;
        return 0;
}

void imp_set_clear(struct imp_set *set)
{
        for (size_t i = 0; i < set->n; i++)
                imp_service_free(set->services[i]);
        free(set->services);
        set->services = NULL;
        set->n = 0;
}

static void report_v(struct imp_report *r, const char *file, unsigned line, const char *kind, const char *fmt,
                     va_list ap)
{
        if (line)
                fprintf(r->out, "%s:%u: %s", file, line, kind);
        else
                fprintf(r->out, "%s: %s", file, kind);
        vfprintf(r->out, fmt, ap);
        fputc('\n', r->out);
}

int imp_error(struct imp_report *r, const char *file, unsigned line, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        report_v(r, file, line, "", fmt, ap);
        va_end(ap);
        r->errors++;
        return -EINVAL;
}

void imp_warn(struct imp_report *r, const char *file, unsigned line, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        report_v(r, file, line, "warning: ", fmt, ap);
        va_end(ap);
        r->warnings++;
}

int imp_untranslated(struct imp_report *r, struct imp_service *s, const char *file, unsigned line,
                     const char *directive, const char *fmt, ...)
{
        char *reason;
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&reason, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        fprintf(r->out, "%s:%u: not translated: %s: %s\n", file, line, directive, reason);
        r->untranslated++;
        k = s ? imp_comment(s, "not translated (%s:%u): %s: %s", file, line, directive, reason) : 0;
        free(reason);
        return k;
}

int imp_comment(struct imp_service *s, const char *fmt, ...)
{
        char *text;
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&text, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        k = strv_push(&s->comments, text);
        free(text);
        return k;
}

static bool same_program(const char *program, const char *argv0)
{
        const char *base = strrchr(program, '/');

        return strcmp(program, argv0) == 0 || (base && strcmp(base + 1, argv0) == 0);
}

int imp_set_exec(struct imp_service *s, const char *program, char *const *argv, struct imp_report *r, const char *file,
                 unsigned line)
{
        size_t i = 1;

        strv_free(s->exec);
        s->exec = NULL;
        if (!argv || !argv[0] || same_program(program, argv[0])) {
                if (strv_push(&s->exec, program) < 0)
                        return -ENOMEM;
        } else {
                /* bash -c 'exec -a "$0" "$@"' ARGV0 PROGRAM ARGS...: nothing of the input is parsed by the shell;
                 * exec -a sets argv[0] (bash is Essential on Debian; dash has no -a). */
                int k = strv_push(&s->exec, "/bin/bash");
                k = k < 0 ? k : strv_push(&s->exec, "-c");
                k = k < 0 ? k : strv_push(&s->exec, "exec -a \"$0\" \"$@\"");
                k = k < 0 ? k : strv_push(&s->exec, argv[0]);
                k = k < 0 ? k : strv_push(&s->exec, program);
                if (k < 0)
                        return k;
                imp_warn(r, file, line,
                         "argv[0] '%s' differs from the program %s: superd runs exec[0] as both, so "
                         "bash's exec -a passes it",
                         argv[0], program);
                if (imp_comment(s, "argv[0] is '%s', not %s: superd's exec has no separate argv[0], bash passes it",
                                argv[0], program) < 0)
                        return -ENOMEM;
        }
        for (; argv && argv[i]; i++)
                if (strv_push(&s->exec, argv[i]) < 0)
                        return -ENOMEM;
        return 0;
}

static int check_text(const char *path, const char *text, size_t len, struct imp_report *r)
{
        unsigned line = 1;
        size_t start = 0;

        for (size_t i = 0; i < len; i++) {
                if (text[i] == '\0')
                        return imp_error(r, path, line, "NUL byte: not a text file");
                if (text[i] != '\n')
                        continue;
                if (i - start > IMP_LINE_MAX)
                        return imp_error(r, path, line, "line longer than %d bytes", IMP_LINE_MAX);
                line++;
                start = i + 1;
        }
        if (len - start > IMP_LINE_MAX)
                return imp_error(r, path, line, "line longer than %d bytes", IMP_LINE_MAX);
        return 0;
}

static int read_all(int fd, char *buf, size_t max, size_t *ret_len)
{
        size_t len = 0;

        for (;;) {
                ssize_t n = read(fd, buf + len, max + 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len > max)
                        return -EFBIG;
        }
        *ret_len = len;
        return 0;
}

int imp_read_file(const char *path, char **ret_text, struct imp_report *r)
{
        struct stat st;
        size_t len = 0;
        char *buf;
        int fd, k;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                k = -errno;
                imp_error(r, path, 0, "%s", strerror(-k));
                return k;
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                close(fd);
                imp_error(r, path, 0, "not a regular file");
                return -EINVAL;
        }
        buf = malloc(IMP_FILE_MAX + 2);
        k = buf ? read_all(fd, buf, IMP_FILE_MAX, &len) : -ENOMEM;
        close(fd);
        if (k == -EFBIG)
                imp_error(r, path, 0, "larger than %d bytes", IMP_FILE_MAX);
        else if (k < 0)
                imp_error(r, path, 0, "%s", strerror(-k));
        if (k == 0 && check_text(path, buf, len, r) < 0)
                k = -EINVAL;
        if (k < 0) {
                free(buf);
                return k;
        }
        buf[len] = '\0';
        *ret_text = buf;
        return 0;
}

char *imp_next_line(char **cursor)
{
        char *line = *cursor, *nl;

        if (!line || !*line)
                return NULL;
        nl = strchr(line, '\n');
        if (nl) {
                *nl = '\0';
                *cursor = nl + 1;
        } else {
                *cursor = line + strlen(line);
        }
        return line;
}

char **imp_split_words(char *s)
{
        size_t n = 0, cap = 8;
        char **v = malloc(cap * sizeof(*v));

        while (v) {
                while (*s == ' ' || *s == '\t' || *s == '\r')
                        *s++ = '\0';
                if (!*s)
                        break;
                if (n + 2 > cap) {
                        char **more = realloc(v, (cap *= 2) * sizeof(*v));
                        if (!more) {
                                free(v);
                                return NULL;
                        }
                        v = more;
                }
                v[n++] = s;
                while (*s && *s != ' ' && *s != '\t' && *s != '\r')
                        s++;
        }
        if (v)
                v[n] = NULL;
        return v;
}

int imp_parse_ll(const char *s, long long min, long long max, long long *ret)
{
        char *end;
        long long v;

        errno = 0;
        v = strtoll(s, &end, 10);
        if (!*s || *end || end == s)
                return -EINVAL;
        if (errno == ERANGE || v < min || v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}
