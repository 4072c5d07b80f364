/* SPDX-License-Identifier: MIT */
/* xinetd's configuration (xinetd.conf(5)) read and translated into superd services. */
#include "import-xinetd.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "import-addr.h"
#include "strv.h"

#define INCLUDE_DEPTH_MAX 8
#define SOCKET_PROXYD     "/lib/systemd/systemd-socket-proxyd"

enum op { OP_SET, OP_ADD, OP_REMOVE };

/* One "name op values" line. */
struct xattr {
        char *name;
        enum op op;
        char **values;
        const char *file; /* owned by xctx.files */
        unsigned line;
        bool used;     /* consumed by the translation of at least one service */
        bool reported; /* a defaults attribute reported as not translated (once for all services) */
};

/* A "service NAME { }" or "defaults { }" entry. */
struct xentry {
        char *name;
        const char *file;
        unsigned line;
        struct xattr *attrs;
        size_t n;
        size_t n_defaults; /* defaults attributes seen before this entry: xinetd copies only those lists */
};

struct xctx {
        struct imp_report *r;
        struct xentry defaults;
        struct xentry *services;
        size_t n_services;
        char **files; /* every file name read, for xattr.file */
        unsigned depth;
};

/* The translation of one service entry. */
struct tr {
        struct xctx *x;
        struct xentry *e;
        struct imp_service *s;
        const char *id;    /* xinetd's id (the service name unless given) */
        const char *proto; /* "tcp", "udp" */
        bool stream, wait, builtin, redirect;
};

static int read_path(struct xctx *x, const char *path, bool dir);

/* ---- parsing ---- */

static void entry_clear(struct xentry *e)
{
        for (size_t i = 0; i < e->n; i++) {
                free(e->attrs[i].name);
                strv_free(e->attrs[i].values);
        }
        free(e->attrs);
        free(e->name);
        *e = (struct xentry){0};
}

static const char *intern_file(struct xctx *x, const char *path)
{
        if (strv_push(&x->files, path) < 0)
                return NULL;
        return x->files[strv_length(x->files) - 1];
}

/* Parses "name op value ..." (xinetd's parse_line()); LINE is modified. Returns 0 or -EINVAL (reported). */
static int parse_attr(struct xctx *x, char *line, const char *file, unsigned lineno, struct xattr *ret)
{
        char *p = line + strspn(line, " \t"), *name = p, **words;
        enum op op;

        *ret = (struct xattr){0};
        p += strcspn(p, " \t=+-");
        if (p == name)
                return imp_error(x->r, file, lineno, "expected 'attribute = value'");
        char *end = p;
        p += strspn(p, " \t");
        if (p[0] == '=')
                op = OP_SET, p += 1;
        else if (p[0] == '+' && p[1] == '=')
                op = OP_ADD, p += 2;
        else if (p[0] == '-' && p[1] == '=')
                op = OP_REMOVE, p += 2;
        else
                return imp_error(x->r, file, lineno, "attribute '%.*s': expected '=', '+=' or '-='", (int)(end - name),
                                 name);
        *end = '\0';
        words = imp_split_words(p);
        ret->values = words ? strv_copy(words) : NULL;
        free(words);
        ret->name = strdup(name);
        if (!ret->name || (!ret->values && !(ret->values = calloc(1, sizeof(char *))))) {
                free(ret->name);
                strv_free(ret->values);
                return -ENOMEM;
        }
        ret->op = op;
        ret->file = file;
        ret->line = lineno;
        return 0;
}

static bool significant(const char *line)
{
        const char *p = line + strspn(line, " \t\r");
        return *p && *p != '#';
}

static bool only(const char *line, char c)
{
        const char *p = line + strspn(line, " \t\r");
        return *p == c && p[1 + strspn(p + 1, " \t\r")] == '\0';
}

/* Reads the "{ ... }" body of an entry whose keyword was on line *LINENO. */
static int parse_body(struct xctx *x, char **cursor, const char *file, unsigned *lineno, struct xentry *e)
{
        unsigned start = *lineno;
        bool open = false;
        char *line;

        while ((line = imp_next_line(cursor))) {
                (*lineno)++;
                if (!significant(line))
                        continue;
                if (!open) {
                        if (!only(line, '{'))
                                return imp_error(x->r, file, *lineno,
                                                 "%s: expected '{' alone on the line after line %u",
                                                 e->name ? e->name : "defaults", start);
                        open = true;
                        continue;
                }
                if (only(line, '}'))
                        return 0;
                struct xattr *more = realloc(e->attrs, (e->n + 1) * sizeof(*more));
                if (!more)
                        return -ENOMEM;
                e->attrs = more;
                int k = parse_attr(x, line, file, *lineno, &e->attrs[e->n]);
                if (k < 0)
                        return k;
                e->n++;
        }
        return imp_error(x->r, file, start, "%s: '%s' is not closed by '}' before the end of the file",
                         e->name ? e->name : "defaults", open ? "{" : "entry");
}

static char *relative_to(const char *file, const char *name)
{
        const char *slash = strrchr(file, '/');
        char *path;

        if (name[0] == '/' || !slash)
                return strdup(name);
        if (asprintf(&path, "%.*s/%s", (int)(slash - file), file, name) < 0)
                return NULL;
        return path;
}

static int parse_include(struct xctx *x, char **words, const char *file, unsigned lineno)
{
        bool dir = strcmp(words[0], "includedir") == 0;
        char *path;
        int k;

        if (!words[1] || words[2])
                return imp_error(x->r, file, lineno, "%s takes one path", words[0]);
        if (x->depth >= INCLUDE_DEPTH_MAX)
                return imp_error(x->r, file, lineno, "%s: more than %d levels of include", words[1], INCLUDE_DEPTH_MAX);
        path = relative_to(file, words[1]);
        if (!path)
                return -ENOMEM;
        x->depth++;
        k = read_path(x, path, dir);
        x->depth--;
        free(path);
        return k;
}

static int parse_entry(struct xctx *x, char **words, char **cursor, const char *file, unsigned *lineno)
{
        struct xentry e = {.file = file, .line = *lineno, .n_defaults = x->defaults.n};
        bool defaults = strcmp(words[0], "defaults") == 0;
        int k;

        if (words[1] && (strcmp(words[1], "{") == 0 || (words[2] && strcmp(words[2], "{") == 0)))
                return imp_error(x->r, file, *lineno, "'{' must stand alone on the line after '%s'", words[0]);
        if (defaults ? words[1] != NULL : !words[1] || words[2])
                return imp_error(x->r, file, *lineno, defaults ? "defaults takes no name" : "service takes one name");
        if (!defaults && !(e.name = strdup(words[1])))
                return -ENOMEM;
        if (defaults) {
                /* One defaults section in all (xinetd shares it with included files); its lists add up. */
                x->defaults.file = x->defaults.file ? x->defaults.file : file;
                x->defaults.line = x->defaults.line ? x->defaults.line : *lineno;
                return parse_body(x, cursor, file, lineno, &x->defaults);
        }
        k = parse_body(x, cursor, file, lineno, &e);
        struct xentry *more = k < 0 ? NULL : realloc(x->services, (x->n_services + 1) * sizeof(*more));
        if (!more) {
                entry_clear(&e);
                return k < 0 ? k : -ENOMEM;
        }
        x->services = more;
        x->services[x->n_services++] = e;
        return 0;
}

static int parse_text(struct xctx *x, char *text, const char *file)
{
        unsigned lineno = 0;
        char *cursor = text, *line;
        int k = 0;

        while (k >= 0 && (line = imp_next_line(&cursor))) {
                char **words;
                lineno++;
                if (!significant(line))
                        continue;
                words = imp_split_words(line);
                if (!words)
                        return -ENOMEM;
                if (strcmp(words[0], "service") == 0 || strcmp(words[0], "defaults") == 0)
                        k = parse_entry(x, words, &cursor, file, &lineno);
                else if (strcmp(words[0], "include") == 0 || strcmp(words[0], "includedir") == 0)
                        k = parse_include(x, words, file, lineno);
                else
                        k = imp_error(x->r, file, lineno, "'%s': expected service, defaults, include or includedir",
                                      words[0]);
                free(words);
        }
        return k;
}

static int read_file(struct xctx *x, const char *path)
{
        const char *file = intern_file(x, path);
        char *text;
        int k;

        if (!file)
                return -ENOMEM;
        k = imp_read_file(file, &text, x->r);
        if (k < 0)
                return k;
        k = parse_text(x, text, file);
        free(text);
        return k;
}

static int compare_names(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* xinetd's includedir: every regular file without '.' in its name and not ending in '~', in strcmp order. */
static int read_dir(struct xctx *x, const char *path)
{
        char **names = NULL;
        struct dirent *d;
        DIR *dir = opendir(path);
        int k = 0;

        if (!dir)
                return imp_error(x->r, path, 0, "%s", strerror(errno));
        while ((d = readdir(dir)))
                if (!strchr(d->d_name, '.') && d->d_name[strlen(d->d_name) - 1] != '~' &&
                    strv_push(&names, d->d_name) < 0) {
                        k = -ENOMEM;
                        break;
                }
        closedir(dir);
        if (names)
                qsort(names, strv_length(names), sizeof(*names), compare_names);
        for (size_t i = 0; k >= 0 && names && names[i]; i++) {
                struct stat st;
                char *file;
                if (asprintf(&file, "%s/%s", path, names[i]) < 0) {
                        k = -ENOMEM;
                        break;
                }
                if (stat(file, &st) == 0 && !S_ISREG(st.st_mode))
                        imp_warn(x->r, file, 0, "not a regular file: skipped, as xinetd does");
                else
                        k = read_file(x, file);
                free(file);
        }
        strv_free(names);
        return k;
}

static int read_path(struct xctx *x, const char *path, bool dir)
{
        return dir ? read_dir(x, path) : read_file(x, path);
}

bool imp_xinetd_detect(const char *text)
{
        static const char *const keywords[] = {"service", "defaults", "include", "includedir"};

        for (const char *p = text; *p;) {
                const char *start = p + strspn(p, " \t\r");
                size_t len = strcspn(start, " \t\r\n");
                if (*start != '#' && *start != '\n' && *start) {
                        for (size_t i = 0; i < sizeof(keywords) / sizeof(*keywords); i++)
                                if (len == strlen(keywords[i]) && strncmp(start, keywords[i], len) == 0)
                                        return true;
                        return false;
                }
                p = strchr(start, '\n');
                if (!p)
                        break;
                p++;
        }
        return false;
}

/* ---- translation helpers ---- */

/* "name op values" as written, for reports. Returns a static buffer. */
static const char *directive(const struct xattr *a)
{
        static char buf[IMP_LINE_MAX + 64];
        size_t len;

        len = (size_t)snprintf(buf, sizeof(buf), "%s %s", a->name,
                               a->op == OP_SET   ? "="
                               : a->op == OP_ADD ? "+="
                                                 : "-=");
        for (size_t i = 0; a->values[i] && len < sizeof(buf); i++)
                len += (size_t)snprintf(buf + len, sizeof(buf) - len, " %s", a->values[i]);
        return buf;
}

/* A directive superd cannot express. One from defaults is reported once and kept as a comment in each service. */
static int untr(struct tr *t, struct xattr *a, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int untr(struct tr *t, struct xattr *a, const char *fmt, ...)
{
        char reason[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(reason, sizeof(reason), fmt, ap);
        va_end(ap);
        a->used = true;
        if (a->reported)
                return imp_comment(t->s, "not translated (%s:%u): %s: %s", a->file, a->line, directive(a), reason);
        if (a >= t->x->defaults.attrs && a < t->x->defaults.attrs + t->x->defaults.n)
                a->reported = true;
        return imp_untranslated(t->x->r, t->s, a->file, a->line, directive(a), "%s", reason);
}

/* The first attribute NAME of the service, else of defaults when xinetd takes it from there. */
static struct xattr *get(struct tr *t, const char *name, bool from_defaults)
{
        for (size_t i = 0; i < t->e->n; i++)
                if (strcmp(t->e->attrs[i].name, name) == 0)
                        return &t->e->attrs[i];
        for (size_t i = 0; from_defaults && i < t->x->defaults.n; i++)
                if (strcmp(t->x->defaults.attrs[i].name, name) == 0)
                        return &t->x->defaults.attrs[i];
        return NULL;
}

/* The one value of A, or NULL (reported) when it has none or several. */
static const char *one(struct tr *t, struct xattr *a)
{
        if (!a)
                return NULL;
        a->used = true;
        if (!a->values[0] || a->values[1]) {
                untr(t, a, "%s takes one value", a->name);
                return NULL;
        }
        return a->values[0];
}

static bool has_word(char *const *v, const char *w)
{
        for (size_t i = 0; v && v[i]; i++)
                if (strcasecmp(v[i], w) == 0)
                        return true;
        return false;
}

static bool flag(struct tr *t, const char *name)
{
        struct xattr *a = get(t, "flags", false);
        return a && has_word(a->values, name);
}

static int unusable(struct tr *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int unusable(struct tr *t, const char *fmt, ...)
{
        va_list ap;
        int k;

        if (t->s->unusable)
                return 0;
        va_start(ap, fmt);
        k = vasprintf(&t->s->unusable, fmt, ap);
        va_end(ap);
        return k < 0 ? -ENOMEM : 0;
}

/* ---- translation of the parts of a service ---- */

static int tr_type(struct tr *t)
{
        static const char *const builtins[] = {"echo", "discard", "chargen", "daytime", "time"};
        struct xattr *a = get(t, "type", false);
        int k = 0;

        for (size_t i = 0; a && a->values[i] && k >= 0; i++) {
                const char *v = a->values[i];
                a->used = true;
                if (strcmp(v, "UNLISTED") == 0)
                        continue;
                if (strcmp(v, "INTERNAL") != 0) {
                        k = unusable(t, "type %s: superd serves no RPC, TCPMUX or SPECIAL services", v);
                        continue;
                }
                for (size_t j = 0; j < sizeof(builtins) / sizeof(*builtins); j++)
                        if (strcmp(t->e->name, builtins[j]) == 0)
                                t->s->builtin = builtins[j];
                if (!t->s->builtin)
                        k = unusable(t, "xinetd's internal service '%s' has no superd builtin", t->e->name);
        }
        t->builtin = t->s->builtin != NULL;
        if (k >= 0 && flag(t, "SENSOR")) /* xinetd then runs no server: it denies the client everything for a while */
                k = unusable(t, "%s", "flags SENSOR: superd has no sensor");
        return k;
}

static int tr_socket(struct tr *t)
{
        const char *type = one(t, get(t, "socket_type", false));
        const char *proto = one(t, get(t, "protocol", false));

        if (proto && strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0)
                return unusable(t, "protocol %s: superd serves tcp and udp", proto);
        if (!type)
                type = proto ? (strcmp(proto, "tcp") == 0 ? "stream" : "dgram") : NULL;
        if (!type)
                return unusable(t, "%s", "no socket_type and no protocol");
        if (strcmp(type, "stream") != 0 && strcmp(type, "dgram") != 0 && strcmp(type, "seqpacket") != 0)
                return unusable(t, "socket_type %s: superd has stream, dgram and seqpacket", type);
        t->s->socket_type = strcmp(type, "stream") == 0 ? "stream" : strcmp(type, "dgram") == 0 ? "dgram" : "seqpacket";
        t->stream = strcmp(type, "dgram") != 0;
        t->proto = proto ? proto : t->stream ? "tcp" : "udp";
        return 0;
}

static int tr_wait(struct tr *t)
{
        const char *v = one(t, get(t, "wait", false));

        t->wait = v ? strcmp(v, "yes") == 0 : !t->stream;
        if (v && strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)
                return untr(t, get(t, "wait", false), "%s", "expected yes or no");
        if (t->builtin)
                return v ? imp_comment(t->s, "xinetd: wait = %s (a builtin serves its connections itself)", v) : 0;
        t->s->wait = t->wait;
        return 0;
}

static int tr_port(struct tr *t, long long *ret)
{
        struct xattr *a = get(t, "port", false);
        const char *v = one(t, a);
        struct servent *se = getservbyname(t->e->name, t->proto);

        if (v && imp_parse_ll(v, 1, 65535, ret) < 0)
                return unusable(t, "port %s is not a port number", v);
        if (v && se && ntohs((uint16_t)se->s_port) != *ret)
                imp_warn(t->x->r, a->file, a->line,
                         "%s/%s is port %u in /etc/services; xinetd refuses a different "
                         "port unless type is UNLISTED",
                         t->e->name, t->proto, ntohs((uint16_t)se->s_port));
        if (!v && se)
                *ret = ntohs((uint16_t)se->s_port);
        if (!v && !se)
                return unusable(t, "no port, and %s is not in /etc/services", t->e->name);
        return 0;
}

/* bind/interface: a numeric address, or a host name resolved now (xinetd resolves it at start too). */
static int tr_host(struct tr *t, char *host, size_t size)
{
        struct xattr *a = get(t, "bind", true);
        const char *v;
        char **addrs = NULL;
        unsigned char buf[16];

        if (!a)
                a = get(t, "interface", true);
        v = one(t, a);
        strcpy(host, flag(t, "IPv6") ? "::" : "0.0.0.0");
        if (!v)
                return 0;
        if (inet_pton(AF_INET, v, buf) == 1 || inet_pton(AF_INET6, v, buf) == 1) {
                snprintf(host, size, "%s", v);
                return 0;
        }
        if (imp_resolve(v, &addrs) < 0)
                return untr(t, a, "cannot resolve %s", v);
        for (size_t i = 0; addrs[i]; i++)
                if ((strchr(addrs[i], ':') != NULL) == flag(t, "IPv6") || !addrs[i + 1]) {
                        snprintf(host, size, "%s", addrs[i]);
                        break;
                }
        strv_free(addrs);
        imp_warn(t->x->r, a->file, a->line, "%s resolved to %s now: the address is fixed in the drop-in", v, host);
        return imp_comment(t->s, "xinetd: %s (resolved by superd-import; the address is now fixed)", directive(a));
}

static int tr_listen(struct tr *t)
{
        char host[INET6_ADDRSTRLEN], text[INET6_ADDRSTRLEN + 16];
        struct xattr *v6only = get(t, "v6only", true);
        long long port = 0;
        int k = tr_port(t, &port);

        k = k < 0 || t->s->unusable ? k : tr_host(t, host, sizeof(host));
        if (k < 0 || t->s->unusable)
                return k;
        snprintf(text, sizeof(text), strchr(host, ':') ? "[%s]:%lld" : "%s:%lld", host, port);
        k = strv_push(&t->s->listen, text);
        if (k < 0 || !v6only)
                return k;
        v6only->used = true;
        if (strchr(host, ':') && has_word(v6only->values, "yes"))
                t->s->ipv6_only = true;
        else if (!strchr(host, ':') && has_word(v6only->values, "yes"))
                return imp_comment(t->s, "xinetd: %s (the listener is IPv4)", directive(v6only));
        return 0;
}

static int tr_redirect(struct tr *t, struct xattr *a)
{
        char target[INET6_ADDRSTRLEN + 16], **addrs = NULL;
        unsigned char buf[16];
        long long port;
        const char *host = a->values[0];
        int k;

        a->used = true;
        if (!host || !a->values[1] || a->values[2])
                return unusable(t, "%s", "redirect: expected a host and a port");
        if (imp_parse_ll(a->values[1], 1, 65535, &port) < 0) {
                struct servent *se = getservbyname(a->values[1], "tcp");
                if (!se)
                        return unusable(t, "redirect: unknown port %s", a->values[1]);
                port = ntohs((uint16_t)se->s_port);
        }
        if (inet_pton(AF_INET, host, buf) != 1 && inet_pton(AF_INET6, host, buf) != 1) {
                if (imp_resolve(host, &addrs) < 0)
                        return unusable(t, "redirect: cannot resolve %s", host);
                imp_warn(t->x->r, a->file, a->line, "%s resolved to %s now: the address is fixed in the drop-in", host,
                         addrs[0]);
                host = addrs[0];
        }
        snprintf(target, sizeof(target), strchr(host, ':') ? "[%s]:%lld" : "%s:%lld", host, port);
        strv_free(addrs);
        t->redirect = true;
        t->s->wait = 1; /* systemd-socket-proxyd takes the listening socket (sd_listen_fds) and accepts itself */
        k = strv_push(&t->s->exec, SOCKET_PROXYD);
        k = k < 0 ? k : strv_push(&t->s->exec, target);
        k = k < 0 ? k
                  : imp_comment(t->s, "xinetd: %s (systemd-socket-proxyd accepts on the passed socket)", directive(a));
        return k;
}

static int tr_exec(struct tr *t)
{
        struct xattr *server = get(t, "server", false), *args = get(t, "server_args", false);
        struct xattr *redirect = get(t, "redirect", false);
        char **argv = NULL;
        int k;

        if (redirect) {
                struct xattr *ignored[] = {server, args};
                k = tr_redirect(t, redirect);
                for (size_t i = 0; i < 2 && k >= 0; i++)
                        if (ignored[i]) {
                                ignored[i]->used = true;
                                k = imp_comment(t->s, "xinetd: %s (ignored: redirect is set)", directive(ignored[i]));
                        }
                return k;
        }
        if (t->builtin) {
                k = server ? untr(t, server, "%s", "the service is INTERNAL (a superd builtin)") : 0;
                if (k >= 0 && args)
                        k = untr(t, args, "%s", "the service is INTERNAL (a superd builtin)");
                return k;
        }
        const char *program = one(t, server);
        if (!program)
                return unusable(t, "%s", "no server");
        if (program[0] != '/')
                return unusable(t, "server %s is not an absolute path", program);
        if (args)
                args->used = true;
        if (!flag(t, "NAMEINARGS")) {
                const char *base = strrchr(program, '/') + 1;
                k = strv_push(&argv, base);
        } else if (!args || !args->values[0]) {
                return unusable(t, "%s", "flags NAMEINARGS needs server_args");
        } else {
                k = 0;
        }
        for (size_t i = 0; k >= 0 && args && args->values[i]; i++)
                k = strv_push(&argv, args->values[i]);
        k = k < 0 ? k : imp_set_exec(t->s, program, argv, t->x->r, server->file, server->line);
        strv_free(argv);
        return k;
}

static int tr_credentials(struct tr *t)
{
        struct xattr *user = get(t, "user", false), *group = get(t, "group", false), *groups = get(t, "groups", true);
        int k = 0;

        if (t->builtin || t->redirect) {
                const char *why = t->builtin ? "a builtin starts no process" : "xinetd redirects in its own process";
                struct xattr *unused[] = {user, group};
                for (size_t i = 0; i < 2 && k >= 0; i++)
                        if (unused[i]) {
                                unused[i]->used = true;
                                k = imp_comment(t->s, "xinetd: %s (%s)", directive(unused[i]), why);
                        }
        } else {
                const char *u = one(t, user), *g = one(t, group);
                if (u && !(t->s->user = strdup(u)))
                        return -ENOMEM;
                if (g && !(t->s->group = strdup(g)))
                        return -ENOMEM;
        }
        if (!groups || k < 0)
                return k;
        groups->used = true;
        if (has_word(groups->values, "yes") || t->builtin || t->redirect)
                return imp_comment(t->s, "xinetd: %s (superd gives the user's groups, initgroups(3))",
                                   directive(groups));
        return untr(t, groups, "%s", "superd always gives the user's supplementary groups (initgroups(3))");
}

static int parse_limit(struct tr *t, struct xattr *a, long long *ret)
{
        const char *v = one(t, a);

        if (!v)
                return 1;
        if (strcmp(v, "UNLIMITED") == 0) {
                *ret = 0;
                return 0;
        }
        if (imp_parse_ll(v, 0, 1000000000, ret) < 0)
                return untr(t, a, "%s", "expected a number or UNLIMITED") < 0 ? -ENOMEM : 1;
        return 0;
}

static int tr_limits(struct tr *t)
{
        struct xattr *inst = get(t, "instances", true), *per = get(t, "per_source", true);
        long long n;
        int k = 0;

        if (inst && parse_limit(t, inst, &n) == 0) {
                if (t->redirect && n > 0) {
                        char arg[64];
                        snprintf(arg, sizeof(arg), "--connections-max=%lld", n);
                        k = strv_push(&t->s->exec, arg);
                } else if (!t->redirect) {
                        t->s->max_instances = n;
                }
        }
        if (k < 0 || !per || parse_limit(t, per, &n) != 0)
                return k;
        if (n == 0)
                return imp_comment(t->s, "xinetd: %s (superd's default)", directive(per));
        if (!t->stream || t->wait || t->builtin)
                return untr(t, per, "%s",
                            "superd counts max-per-source on stream services with wait = no that "
                            "start a handler");
        t->s->max_per_source = n;
        return 0;
}

/* cps: xinetd's default is 50 connections a second, then 10 seconds off (xinetd.conf(5), xconfig.h). */
static int tr_cps(struct tr *t)
{
        struct xattr *a = get(t, "cps", true);
        long long rate = 50, pause = 10;

        if (a) {
                a->used = true;
                if (!a->values[0] || !a->values[1] || a->values[2] ||
                    imp_parse_ll(a->values[0], 0, 1000000, &rate) < 0 ||
                    imp_parse_ll(a->values[1], 1, 86400, &pause) < 0)
                        return untr(t, a, "%s", "expected a rate and 1 to 86400 seconds");
        }
        if (t->redirect)
                return a ? untr(t, a, "%s", "systemd-socket-proxyd accepts the connections itself") : 0;
        t->s->max_rate = rate;
        t->s->rate_pause = pause;
        return a ? 0 : imp_comment(t->s, "max-rate and rate-pause: xinetd's implicit default cps = 50 10");
}

/* Applies one list directive to *LIST: words, or CIDRs when CIDR. */
static int apply_list(struct tr *t, struct xattr *a, char ***list, bool cidr, bool defaults)
{
        char **add = NULL;
        int k = 0;

        a->used = true;
        if (a->op == OP_SET && !defaults)
                *list = strv_free(*list);
        for (size_t i = 0; a->values[i] && k >= 0; i++) {
                if (!cidr) {
                        k = strv_push(&add, a->values[i]);
                        continue;
                }
                k = imp_xinetd_addr(a->values[i], &add);
                if (k == 1 && !a->reported)
                        imp_warn(t->x->r, a->file, a->line, "%s resolved now: the address is fixed in the drop-in",
                                 a->values[i]);
                else if (k == -ENOTSUP || k == -EINVAL)
                        k = untr(t, a,
                                 k == -ENOTSUP ? "%s: superd matches addresses, not reverse DNS names"
                                               : "%s: not an address",
                                 a->values[i]);
        }
        for (size_t i = 0; k >= 0 && add && add[i]; i++) {
                if (a->op != OP_REMOVE) {
                        k = strv_push(list, add[i]);
                        continue;
                }
                for (size_t j = 0; *list && (*list)[j];) {
                        if (strcmp((*list)[j], add[i]) != 0) {
                                j++;
                                continue;
                        }
                        free((*list)[j]);
                        memmove(&(*list)[j], &(*list)[j + 1], (strv_length(*list) - j) * sizeof(char *));
                }
        }
        strv_free(add);
        return k < 0 ? k : 0;
}

/* The value of a list attribute: the defaults' (seen before the entry), then the service's =, += and -=. */
static int merged(struct tr *t, const char *name, bool cidr, char ***ret, bool *present)
{
        int k = 0;

        *ret = NULL;
        *present = false;
        for (size_t i = 0; i < t->e->n_defaults && k >= 0; i++)
                if (strcmp(t->x->defaults.attrs[i].name, name) == 0) {
                        *present = true;
                        k = apply_list(t, &t->x->defaults.attrs[i], ret, cidr, true);
                }
        for (size_t i = 0; i < t->e->n && k >= 0; i++)
                if (strcmp(t->e->attrs[i].name, name) == 0) {
                        *present = true;
                        k = apply_list(t, &t->e->attrs[i], ret, cidr, false);
                }
        if (*ret && !**ret) /* emptied by -= */
                *ret = strv_free(*ret);
        return k;
}

static int tr_access(struct tr *t)
{
        char **allow = NULL, **deny = NULL;
        bool has_allow, has_deny;
        int k = merged(t, "only_from", true, &allow, &has_allow);

        k = k < 0 ? k : merged(t, "no_access", true, &deny, &has_deny);
        if (k >= 0 && has_allow && !allow) { /* "only_from =" with no value: available to nobody */
                k = strv_push(&deny, "0.0.0.0/0");
                k = k < 0 ? k : strv_push(&deny, "::/0");
        }
        if (k >= 0 && (allow || deny) && t->stream && t->wait) {
                for (int i = 0; i < 2 && k >= 0; i++) {
                        struct xattr *a = get(t, i ? "no_access" : "only_from", true);
                        if (a)
                                k = untr(t, a, "%s",
                                         "superd checks allow and deny per accepted connection; a stream wait = yes "
                                         "handler accepts its own");
                }
                strv_free(allow);
                strv_free(deny);
                return k;
        }
        for (size_t i = 0; k >= 0 && allow && allow[i]; i++)
                for (size_t j = 0; deny && deny[j]; j++)
                        if (imp_cidr_inside(allow[i], deny[j])) {
                                struct xattr *a = get(t, "only_from", true);
                                k = untr(t, a,
                                         "xinetd lets the better match win; superd's deny wins, so %s is now "
                                         "refused",
                                         allow[i]);
                                break;
                        }
        t->s->allow = allow;
        t->s->deny = deny;
        return k;
}

static int tr_logging(struct tr *t)
{
        static const char *const names[] = {"log_on_success", "log_on_failure"};
        int k = 0;

        for (size_t n = 0; n < 2 && k >= 0; n++) {
                char **flags;
                bool present;
                k = merged(t, names[n], false, &flags, &present);
                for (size_t i = 0; k >= 0 && flags && flags[i]; i++) {
                        const char *f = flags[i];
                        struct xattr *a = get(t, names[n], true);
                        /* Any flag makes xinetd log the connection (ATTEMPT "is implied by all others"). */
                        if (strcmp(f, "USERID") == 0)
                                k = untr(t, a, "%s", "superd makes no RFC 1413 (ident) lookups");
                        else if (strcmp(f, "TRAFFIC") == 0)
                                k = untr(t, a, "%s", "superd does not count the bytes of a connection");
                        else if (!has_word((char *const[]){"PID", "HOST", "EXIT", "DURATION", "ATTEMPT", NULL}, f))
                                k = untr(t, a, "%s: unknown flag", f);
                        t->s->log_connections |= k >= 0;
                }
                strv_free(flags);
        }
        return k;
}

static int tr_environment(struct tr *t)
{
        bool present;
        int k = merged(t, "env", false, &t->s->env, &present);

        for (size_t i = 0; k >= 0 && t->s->env && t->s->env[i]; i++)
                if (!strchr(t->s->env[i], '='))
                        k = untr(t, get(t, "env", false), "%s has no '='", t->s->env[i]);
        return k < 0 ? k : merged(t, "passenv", false, &t->s->pass_env, &present);
}

/* rlimit values: a number, with K or M for rlimit_as (xinetd's get_limit()), or UNLIMITED. */
static int tr_rlimit(struct tr *t, const char *name, long long *field, bool suffix)
{
        struct xattr *a = get(t, name, false);
        const char *v = one(t, a);
        char num[32];
        long long mult = 1, n;
        size_t len;

        if (!v)
                return 0;
        if (strcmp(v, "UNLIMITED") == 0)
                return untr(t, a, "%s", "superd sets limits to numbers only; the handler inherits superd's limit");
        len = strlen(v);
        if (suffix && len > 1 && strchr("KkMm", v[len - 1]))
                mult = strchr("Kk", v[len - 1]) ? 1024 : 1024 * 1024, len--;
        snprintf(num, sizeof(num), "%.*s", (int)len, v);
        if (imp_parse_ll(num, 0, (1LL << 40), &n) < 0)
                return untr(t, a, "%s", "not a number");
        *field = n * mult;
        return 0;
}

static int tr_process(struct tr *t)
{
        struct xattr *umask = get(t, "umask", true), *nice = get(t, "nice", false);
        const char *v;
        int k = 0;

        if ((v = one(t, umask))) {
                char *end;
                long m = strtol(v, &end, 8);
                if (*end || m < 0 || m > 0777)
                        k = untr(t, umask, "%s", "not an octal umask");
                else
                        t->s->umask = m;
        }
        if (k >= 0 && (v = one(t, nice)) && imp_parse_ll(v, -20, 19, &t->s->nice) < 0)
                k = untr(t, nice, "%s", "superd takes a nice value from -20 to 19");
        k = k < 0 ? k : tr_rlimit(t, "rlimit_as", &t->s->rlimit_as, true);
        k = k < 0 ? k : tr_rlimit(t, "rlimit_cpu", &t->s->rlimit_cpu, false);
        k = k < 0 ? k : tr_rlimit(t, "rlimit_files", &t->s->rlimit_nofile, false);
        if (k >= 0 && t->builtin) { /* nothing is spawned: superd refuses process settings on a builtin */
                t->s->umask = t->s->nice = t->s->rlimit_as = t->s->rlimit_cpu = t->s->rlimit_nofile = IMP_UNSET;
                if (umask && umask->values[0])
                        k = imp_comment(t->s, "xinetd: %s (a builtin starts no process)", directive(umask));
        }
        return k;
}

static int tr_flags(struct tr *t)
{
        struct xattr *a = get(t, "flags", false);
        int k = 0;

        for (size_t i = 0; a && a->values[i] && k >= 0; i++) {
                const char *f = a->values[i];
                a->used = true;
                if (strcmp(f, "IPv4") == 0 || strcmp(f, "IPv6") == 0 || strcmp(f, "NAMEINARGS") == 0)
                        continue;
                if (strcmp(f, "REUSE") == 0)
                        k = imp_comment(t->s, "xinetd: flags REUSE (superd sets SO_REUSEADDR on TCP listeners)");
                else if (strcmp(f, "NOLIBWRAP") == 0)
                        k = imp_comment(t->s, "xinetd: flags NOLIBWRAP (superd never calls libwrap)");
                else if ((strcmp(f, "KEEPALIVE") == 0 || strcmp(f, "NODELAY") == 0) &&
                         (!t->stream || strcmp(t->proto, "tcp") != 0 || t->redirect || t->wait))
                        k = imp_comment(t->s,
                                        "xinetd: flags %s (no effect here: superd sets it on TCP connections it "
                                        "accepts for a handler)",
                                        f);
                else if (strcmp(f, "KEEPALIVE") == 0)
                        t->s->keepalive = true;
                else if (strcmp(f, "NODELAY") == 0)
                        t->s->nodelay = true;
                else
                        k = untr(t, a, "%s: superd has no such option", f);
        }
        return k;
}

static bool in_list(struct tr *t, const char *name, bool *present)
{
        bool found = false;

        *present = false;
        for (size_t i = 0; i < t->x->defaults.n; i++) {
                struct xattr *a = &t->x->defaults.attrs[i];
                if (strcmp(a->name, name) != 0)
                        continue;
                a->used = true;
                *present = true;
                found |= has_word(a->values, t->id);
        }
        return found;
}

static int tr_disable(struct tr *t)
{
        const char *v = one(t, get(t, "disable", false));
        bool listed;

        if (v && strcmp(v, "yes") == 0)
                t->s->disable = true;
        if (in_list(t, "disabled", &listed)) {
                t->s->disable = true;
                return imp_comment(t->s, "disabled: listed in defaults' disabled");
        }
        if (!in_list(t, "enabled", &listed) && listed) {
                t->s->disable = true;
                return imp_comment(t->s, "disabled: not listed in defaults' enabled");
        }
        return 0;
}

/* Directives superd has nothing for, with the reason; the rest of the unknown ones are "unknown". */
static const char *unsupported_reason(const char *name)
{
        static const char *const table[][2] = {
            {"access_times", "superd has no time windows"},
            {"banner", "superd sends no banners"},
            {"banner_success", "superd sends no banners"},
            {"banner_fail", "superd sends no banners"},
            {"max_load", "superd does not watch the load average"},
            {"mdns", "superd registers no mDNS services"},
            {"rpc_version", "superd serves no RPC services"},
            {"rpc_number", "superd serves no RPC services"},
            {"deny_time", "superd has no SENSOR"},
            {"libwrap", "superd never calls libwrap: run /usr/sbin/tcpd in exec"},
            {"log_type", "superd logs to the journal (or its standard error)"},
            {"rlimit_data", "superd has rlimit-nofile, rlimit-as, rlimit-cpu and rlimit-nproc only"},
            {"rlimit_rss", "superd has rlimit-nofile, rlimit-as, rlimit-cpu and rlimit-nproc only"},
            {"rlimit_stack", "superd has rlimit-nofile, rlimit-as, rlimit-cpu and rlimit-nproc only"},
        };

        for (size_t i = 0; i < sizeof(table) / sizeof(*table); i++)
                if (strcmp(table[i][0], name) == 0)
                        return table[i][1];
        return NULL;
}

/* The first attribute of the entry with A's name (bind and interface are one). */
static const struct xattr *first_of(struct tr *t, const struct xattr *a)
{
        bool bind = strcmp(a->name, "bind") == 0 || strcmp(a->name, "interface") == 0;

        for (size_t i = 0; i < t->e->n; i++) {
                const char *n = t->e->attrs[i].name;
                if (strcmp(n, a->name) == 0 || (bind && (strcmp(n, "bind") == 0 || strcmp(n, "interface") == 0)))
                        return &t->e->attrs[i];
        }
        return a;
}

static const char *line_text(unsigned line)
{
        static char buf[16];

        snprintf(buf, sizeof(buf), "%u", line);
        return buf;
}

/* Everything of the entry (and of defaults) that nothing above consumed. */
static int tr_leftovers(struct tr *t)
{
        int k = 0;

        for (size_t i = 0; i < t->e->n && k >= 0; i++) {
                struct xattr *a = &t->e->attrs[i];
                const char *why = unsupported_reason(a->name);
                const struct xattr *first = first_of(t, a);
                if (a->used)
                        continue;
                if (first != a)
                        k = untr(t, a, "already set at line %s; xinetd ignores this one", line_text(first->line));
                else
                        k = untr(t, a, "%s", why ? why : "unknown directive (xinetd ignores it too)");
        }
        for (size_t i = 0; i < t->x->defaults.n && k >= 0; i++) {
                struct xattr *a = &t->x->defaults.attrs[i];
                const char *why = unsupported_reason(a->name);
                if (why)
                        k = untr(t, a, "%s", why);
        }
        return k;
}

static int translate(struct tr *t)
{
        int k = tr_type(t);

        k = k < 0 ? k : tr_socket(t);
        k = k < 0 || t->s->unusable ? k : tr_wait(t);
        k = k < 0 || t->s->unusable ? k : tr_exec(t);
        k = k < 0 || t->s->unusable ? k : tr_listen(t);
        k = k < 0 || t->s->unusable ? k : tr_credentials(t);
        k = k < 0 || t->s->unusable ? k : tr_limits(t);
        k = k < 0 || t->s->unusable ? k : tr_cps(t);
        k = k < 0 || t->s->unusable ? k : tr_access(t);
        k = k < 0 || t->s->unusable ? k : tr_logging(t);
        k = k < 0 || t->s->unusable ? k : tr_environment(t);
        k = k < 0 || t->s->unusable ? k : tr_process(t);
        k = k < 0 || t->s->unusable ? k : tr_flags(t);
        k = k < 0 ? k : tr_disable(t);
        return k < 0 || t->s->unusable ? k : tr_leftovers(t);
}

static int add_service(struct xctx *x, struct imp_set *set, struct xentry *e)
{
        struct imp_service *s = imp_service_new();
        struct xattr *id;
        struct tr t = {.x = x, .e = e, .s = s};
        const char *name;
        int k;

        if (!s)
                return -ENOMEM;
        id = get(&t, "id", false);
        name = id && id->values[0] ? id->values[0] : e->name;
        t.id = name;
        if (id)
                id->used = true;
        if (asprintf(&s->origin, "%s:%u (xinetd service %s%s%s)", e->file, e->line, e->name, id ? ", id " : "",
                     id ? name : "") < 0) {
                imp_service_free(s);
                return -ENOMEM;
        }
        k = imp_set_add(set, s, name, NULL, x->r, e->file, e->line);
        if (k < 0)
                return k;
        k = translate(&t);
        for (size_t i = 0; k >= 0 && s->unusable && i < e->n; i++)
                k = imp_comment(s, "xinetd (%s:%u): %s", e->file, e->attrs[i].line, directive(&e->attrs[i]));
        if (k >= 0 && s->unusable) {
                char what[256];
                snprintf(what, sizeof(what), "service %s", e->name);
                k = imp_untranslated(x->r, NULL, e->file, e->line, what, "%s; the drop-in is commented out",
                                     s->unusable);
        }
        return k;
}

int imp_xinetd_read(struct imp_set *set, char *const *paths, size_t n_paths, struct imp_report *r)
{
        struct xctx x = {.r = r};
        unsigned errors = r->errors;
        int k = 0;

        for (size_t i = 0; i < n_paths && k >= 0; i++) {
                struct stat st;
                k = read_path(&x, paths[i], stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode));
        }
        for (size_t i = 0; k >= 0 && r->errors == errors && i < x.n_services; i++)
                k = add_service(&x, set, &x.services[i]);
        for (size_t i = 0; i < x.defaults.n && k >= 0 && r->errors == errors; i++) {
                struct xattr *a = &x.defaults.attrs[i];
                if (!a->used && !a->reported && !unsupported_reason(a->name))
                        k = imp_untranslated(r, NULL, a->file, a->line, directive(a), "%s",
                                             x.n_services ? "unknown in defaults, or used by no service"
                                                          : "no service uses it");
        }
        for (size_t i = 0; i < x.n_services; i++)
                entry_clear(&x.services[i]);
        free(x.services);
        entry_clear(&x.defaults);
        strv_free(x.files);
        return k < 0 ? k : r->errors > errors ? -EINVAL : 0;
}
