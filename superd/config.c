/* SPDX-License-Identifier: MIT */
/* Configuration: superd.conf and the services.d drop-ins, parsed with libconfuse into plain data. */
#include "config.h"

#include <confuse.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "strv.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef HELPERSDIR
#define HELPERSDIR "/usr/libexec/superd"
#endif

const char config_default_main_file[] = SYSCONFDIR "/superd/superd.conf";

#define MAX_FILE_SIZE (1 << 20)     /* bytes; a drop-in larger than this is a mistake */
#define MAX_INSTANCES_LIMIT 1000000 /* sanity bound for max-instances, max-children */

/* Ranges of the integer keys, checked where they are parsed. */
static const struct int_range {
        const char *key;
        long min, max;
} int_ranges[] = {
        { "max-instances", 0, MAX_INSTANCES_LIMIT },
        { "backlog", 0, 65535 },
        { "receive-buffer", 0, 1 << 30 }, /* bytes */
        { "send-buffer", 0, 1 << 30 },
        { "max-per-source", 0, MAX_INSTANCES_LIMIT },
        { "per-source-prefix6", 0, 128 },
        { "rate-pause", 1, 86400 },             /* seconds */
        { "timeout", 0, 31536000 },             /* seconds: a year */
        { "nice", -20, 19 },
        { "rlimit-nofile", 0, 1 << 30 },
        { "rlimit-as", 0, LONG_MAX },           /* bytes */
        { "rlimit-cpu", 0, LONG_MAX },          /* seconds */
        { "rlimit-nproc", 0, 1 << 30 },
};

/*
 * Variables `env` and `pass-env` may not set: superd sets them per handler,
 * or they belong to superd's own supervisor (sd_notify, sd_listen_fds) and
 * would mislead a handler (DESIGN §8).
 */
static const char *const reserved_vars[] = {
        "PATH", "SUPERD_SERVICE", "PROTO", "TCPREMOTEIP", "TCPREMOTEPORT", "TCPLOCALIP", "TCPLOCALPORT",
        "REMOTE_ADDR", "REMOTE_PORT", "NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES",
        "WATCHDOG_PID", "WATCHDOG_USEC", NULL,
};

/* A user or group resolved once per load, so 1,000 services do not read /etc/passwd 1,000 times. */
struct cred_cache {
        char *user, *group; /* as written; group NULL = the user's primary group */
        uid_t uid;
        gid_t gid;
        gid_t *groups;
        size_t n_groups;
        struct cred_cache *next;
};

/*
 * State of one load. libconfuse callbacks carry no user pointer, so the
 * loader in progress is reached through a file-scope pointer; loads are
 * never nested.
 */
struct loader {
        FILE *err;
        unsigned n_errors;
        cfg_t *root;             /* the file being parsed */
        int section_line;        /* line of the '{' of the section being parsed, 0 = not known yet */
        /*
         * libconfuse calls a list's validator after each element and once
         * more at its closing brace (sizes 1, 2, ..., k, k): the repeat is
         * recognised so that every element is checked, and reported, once.
         */
        const cfg_opt_t *last_opt;
        unsigned last_n;
        bool last_was_end;
        int *lines;              /* per service section of the current file, its line */
        size_t n_lines;
        struct cred_cache *creds;
};

static struct loader *L;

/* s with control characters escaped as log_escape() does (one line), malloc'd; NULL when out of memory. */
static char *escape_line(const char *s)
{
        size_t size = 4 * strlen(s) + 1; /* \xNN is the longest form */
        char *d = malloc(size);

        if (d)
                log_escape(d, size, s);
        return d;
}

/*
 * Write "FILE:LINE: message\n" (LINE > 0) or "FILE: message\n" to L->err and
 * count the error. The file name and the message are escaped with
 * log_escape(): values quoted from the configuration (an exec path, a file
 * name) may hold a newline, and each error must stay one line (a reload logs
 * one line per error).
 */
static void report(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void report(const char *file, int line, const char *fmt, ...)
{
        char *msg = NULL, *efile, *emsg;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        efile = escape_line(file);
        emsg = msg ? escape_line(msg) : NULL;
        if (line > 0)
                fprintf(L->err, "%s:%d: %s\n", efile ? efile : "?", line, emsg ? emsg : "(out of memory)");
        else
                fprintf(L->err, "%s: %s\n", efile ? efile : "?", emsg ? emsg : "(out of memory)");
        free(msg);
        free(efile);
        free(emsg);
        L->n_errors++;
}

/*
 * libconfuse's error callback. The file is the one being parsed (superd
 * offers no `include`): libconfuse copies the file name only into sections
 * made after it was set, and `defaults`, made by cfg_init(), has none.
 */
static void on_cfg_error(cfg_t *cfg, const char *fmt, va_list ap)
{
        const char *file = L->root ? L->root->filename : cfg->filename;
        char msg[512];

        vsnprintf(msg, sizeof(msg), fmt, ap);
        report(file ? file : "?", cfg->line, "%s", msg);
}

/* ---- users and groups ---- */

static int parse_id(const char *s, unsigned long *ret)
{
        char *end;

        if (!isdigit((unsigned char)s[0]))
                return -EINVAL;
        errno = 0;
        *ret = strtoul(s, &end, 10);
        if (errno || *end || *ret >= (unsigned long)(uid_t)-1)
                return -EINVAL;
        return 0;
}

static int lookup_group(const char *name, gid_t *ret)
{
        unsigned long id;
        struct group *gr;

        if (parse_id(name, &id) == 0) {
                *ret = (gid_t)id;
                return 0;
        }
        errno = 0;
        gr = getgrnam(name);
        if (!gr)
                return errno ? -errno : -ESRCH;
        *ret = gr->gr_gid;
        return 0;
}

/*
 * Resolve user (and group, NULL = the user's primary group) into ids and the
 * supplementary groups initgroups(3) would set. Cached per load.
 * Returns the cache entry, or NULL with *ret_error set.
 */
static const struct cred_cache *resolve_creds(const char *user, const char *group, const char **ret_error)
{
        struct cred_cache *c;
        struct passwd *pw;
        unsigned long id;
        int n = 16;

        for (c = L->creds; c; c = c->next)
                if (strcmp(c->user, user) == 0 && (c->group ? group && strcmp(c->group, group) == 0 : !group))
                        return c;

        c = calloc(1, sizeof(*c));
        if (!c || !(c->user = strdup(user)) || (group && !(c->group = strdup(group))))
                goto oom;

        errno = 0;
        pw = parse_id(user, &id) == 0 ? getpwuid((uid_t)id) : getpwnam(user);
        if (!pw && parse_id(user, &id) < 0) {
                *ret_error = "unknown user";
                goto fail;
        }
        c->uid = pw ? pw->pw_uid : (uid_t)id;
        c->gid = pw ? pw->pw_gid : (gid_t)id;
        if (group && lookup_group(group, &c->gid) < 0) {
                *ret_error = "unknown group";
                goto fail;
        }
        if (pw) {
                /* getgrouplist reports the size it needs when the buffer is short. */
                for (;;) {
                        gid_t *g = realloc(c->groups, (size_t)n * sizeof(*g));
                        if (!g)
                                goto oom;
                        c->groups = g;
                        if (getgrouplist(pw->pw_name, c->gid, c->groups, &n) >= 0)
                                break;
                }
                c->n_groups = (size_t)n;
        } else {
                if (!(c->groups = malloc(sizeof(gid_t))))
                        goto oom;
                c->groups[0] = c->gid;
                c->n_groups = 1;
        }
        c->next = L->creds;
        L->creds = c;
        return c;
oom:
        *ret_error = "out of memory";
fail:
        if (c) {
                free(c->user);
                free(c->group);
                free(c->groups);
                free(c);
        }
        return NULL;
}

static void free_creds(struct cred_cache *c)
{
        while (c) {
                struct cred_cache *next = c->next;
                free(c->user);
                free(c->group);
                free(c->groups);
                free(c);
                c = next;
        }
}

/* The built-in default user: nobody when superd can switch users, else superd's own. */
static const char *default_user(void)
{
        static char self[24];

        if (geteuid() == 0)
                return "nobody";
        snprintf(self, sizeof(self), "%u", (unsigned)geteuid());
        return self;
}

/* ---- validation of single values, where libconfuse parses them (so lines are right) ---- */

static bool valid_env_name(const char *s, size_t len)
{
        if (len == 0 || isdigit((unsigned char)s[0]))
                return false;
        for (size_t i = 0; i < len; i++)
                if (!isalnum((unsigned char)s[i]) && s[i] != '_')
                        return false;
        return true;
}

static bool is_reserved_var(const char *s, size_t len)
{
        for (size_t i = 0; reserved_vars[i]; i++)
                if (strlen(reserved_vars[i]) == len && strncmp(reserved_vars[i], s, len) == 0)
                        return true;
        return false;
}

static int parse_stderr_mode(const char *s, enum stderr_mode *ret)
{
        static const char *const names[] = { [STDERR_LOG] = "log", [STDERR_SOCKET] = "socket", [STDERR_NULL] = "null" };

        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (strcmp(s, names[i]) == 0) {
                        *ret = (enum stderr_mode)i;
                        return 0;
                }
        return -EINVAL;
}

static const char *const socket_type_names[] = {
        [SOCK_STREAM] = "stream", [SOCK_DGRAM] = "dgram", [SOCK_SEQPACKET] = "seqpacket",
};

static int parse_socket_type(const char *s)
{
        for (size_t i = 0; i < sizeof(socket_type_names) / sizeof(socket_type_names[0]); i++)
                if (socket_type_names[i] && strcmp(s, socket_type_names[i]) == 0)
                        return (int)i;
        return -EINVAL;
}

/* max-rate: "N/s" (or a bare N), connections per second. */
static int parse_rate(const char *s, unsigned *ret)
{
        char *end;
        unsigned long v;

        if (!isdigit((unsigned char)s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || v > MAX_INSTANCES_LIMIT || (*end && strcmp(end, "/s") != 0))
                return -EINVAL;
        *ret = (unsigned)v;
        return 0;
}

/* socket-mode and umask: octal permission bits, "0660" or "660". */
static int parse_mode(const char *s, mode_t *ret)
{
        char *end;
        unsigned long v;

        if (!*s || strspn(s, "01234567") != strlen(s))
                return -EINVAL;
        v = strtoul(s, &end, 8);
        if (v > 0777)
                return -EINVAL;
        *ret = (mode_t)v;
        return 0;
}

static const char *stderr_mode_name(enum stderr_mode m)
{
        return m == STDERR_SOCKET ? "socket" : m == STDERR_NULL ? "null" : "log";
}

/* Check one value of a service option; `i` is its index in a list. Reports and returns false if bad. */
static bool check_value(cfg_t *cfg, const char *name, const char *s, unsigned i)
{
        const char *file = L->root->filename, *why = NULL;
        int line = cfg->line;

        if (strcmp(name, "listen") == 0) {
                struct listen_addr a;
                if (addr_parse(s, &a, &why) < 0)
                        report(file, line, "listen: '%s': %s", s, why);
        } else if (strcmp(name, "exec") == 0) {
                if (i > 0)
                        return true;
                if (s[0] != '/')
                        report(file, line, "exec: '%s' is not an absolute path", s);
                else if (access(s, X_OK) < 0)
                        report(file, line, "exec: %s: %s", s, strerror(errno));
                else
                        return true;
                return false;
        } else if (strcmp(name, "socket-type") == 0) {
                if (parse_socket_type(s) < 0)
                        report(file, line, "socket-type: '%s': expected stream, dgram or seqpacket", s);
        } else if (strcmp(name, "builtin") == 0) {
                if (builtin_from_name(s) == BUILTIN_NONE)
                        report(file, line, "builtin: '%s': expected echo, discard, chargen, daytime or time", s);
        } else if (strcmp(name, "socket-mode") == 0) {
                mode_t m;
                if (parse_mode(s, &m) < 0)
                        report(file, line, "socket-mode: '%s': expected octal permission bits such as 0660", s);
        } else if (strcmp(name, "umask") == 0) {
                mode_t m;
                if (parse_mode(s, &m) < 0)
                        report(file, line, "umask: '%s': expected octal permission bits such as 022", s);
        } else if (strcmp(name, "max-rate") == 0) {
                unsigned v;
                if (parse_rate(s, &v) < 0)
                        report(file, line, "max-rate: '%s': expected connections per second, such as 100/s", s);
        } else if (strcmp(name, "allow") == 0 || strcmp(name, "deny") == 0) {
                struct cidr c;
                if (cidr_parse(s, &c, &why) < 0)
                        report(file, line, "%s: '%s': %s", name, s, why);
        } else if (strcmp(name, "working-directory") == 0) {
                struct stat st;
                if (s[0] != '/')
                        report(file, line, "working-directory: '%s' is not an absolute path", s);
                else if (stat(s, &st) < 0)
                        report(file, line, "working-directory: %s: %s", s, strerror(errno));
                else if (!S_ISDIR(st.st_mode))
                        report(file, line, "working-directory: %s is not a folder", s);
                else
                        return true;
                return false;
        } else if (strcmp(name, "socket-user") == 0) {
                if (!resolve_creds(s, NULL, &why))
                        report(file, line, "socket-user: '%s': %s", s, why);
        } else if (strcmp(name, "socket-group") == 0) {
                gid_t g;
                if (lookup_group(s, &g) < 0)
                        report(file, line, "socket-group: '%s': unknown group", s);
        } else if (strcmp(name, "user") == 0) {
                if (!resolve_creds(s, NULL, &why))
                        report(file, line, "user: '%s': %s", s, why);
        } else if (strcmp(name, "group") == 0) {
                gid_t g;
                if (lookup_group(s, &g) < 0)
                        report(file, line, "group: '%s': unknown group", s);
        } else if (strcmp(name, "stderr") == 0) {
                enum stderr_mode m;
                if (parse_stderr_mode(s, &m) < 0)
                        report(file, line, "stderr: '%s': expected log, socket or null", s);
        } else if (strcmp(name, "env") == 0) {
                const char *eq = strchr(s, '=');
                if (!eq || !valid_env_name(s, (size_t)(eq - s)))
                        report(file, line, "env: '%s': expected NAME=VALUE", s);
                else if (is_reserved_var(s, (size_t)(eq - s)))
                        report(file, line, "env: '%.*s' is reserved (set by superd)", (int)(eq - s), s);
        } else if (strcmp(name, "pass-env") == 0) {
                if (!valid_env_name(s, strlen(s)))
                        report(file, line, "pass-env: '%s' is not a variable name", s);
                else if (is_reserved_var(s, strlen(s)))
                        report(file, line, "pass-env: '%s' is reserved (set by superd)", s);
        }
        return why == NULL;
}

/* Validator for every service option: runs as libconfuse finishes parsing the value. */
static int validate_option(cfg_t *cfg, cfg_opt_t *opt)
{
        unsigned n = cfg_opt_size(opt);

        if (L->section_line == 0)
                L->section_line = L->root->line; /* the parent's counter stops at the section's '{' */
        if (opt->flags & CFGF_LIST) {
                bool end = opt == L->last_opt && n == L->last_n && !L->last_was_end;
                L->last_opt = opt;
                L->last_n = n;
                L->last_was_end = end;
                if (end)
                        return 0;
        }
        if (n == 0)
                return 0;

        /* Errors are reported and counted; returning 0 lets parsing go on to find the others. */
        switch (opt->type) {
        case CFGT_STR:
                check_value(cfg, opt->name, cfg_opt_getnstr(opt, n - 1), n - 1);
                break;
        case CFGT_INT: {
                long v = cfg_opt_getnint(opt, n - 1);
                for (size_t i = 0; i < sizeof(int_ranges) / sizeof(int_ranges[0]); i++)
                        if (strcmp(opt->name, int_ranges[i].key) == 0 &&
                            (v < int_ranges[i].min || v > int_ranges[i].max))
                                report(L->root->filename, cfg->line, "%s: %ld is out of range (%ld-%ld)", opt->name,
                                       v, int_ranges[i].min, int_ranges[i].max);
                break;
        }
        default:
                break;
        }
        return 0;
}

/*
 * Validator for a whole `service` section; runs at its closing brace.
 * libconfuse merges a second section of the same title into the first, so a
 * name used twice in one file shows up as a section count that did not grow.
 */
static int validate_service_section(cfg_t *cfg, cfg_opt_t *opt)
{
        unsigned n = cfg_opt_size(opt);
        int line = L->section_line ? L->section_line : cfg->line;
        cfg_t *sec = cfg_opt_getnsec(opt, n - 1);
        const char *title;
        int *lines;

        L->section_line = 0;
        if (n <= L->n_lines) {
                for (unsigned j = 0; j < n; j++)
                        if (cfg_opt_getnsec(opt, j)->line == cfg->line) {
                                report(L->root->filename, line, "service '%s' is already defined at %s:%d",
                                       cfg_title(cfg_opt_getnsec(opt, j)), L->root->filename, L->lines[j]);
                                return 0;
                        }
                report(L->root->filename, line, "service defined twice in this file");
                return 0;
        }
        lines = realloc(L->lines, n * sizeof(*lines));
        if (!lines) {
                report(L->root->filename, line, "out of memory");
                return -1;
        }
        L->lines = lines;
        L->lines[n - 1] = line;
        L->n_lines = n;

        title = cfg_title(sec);
        if (!title || !*title) {
                report(L->root->filename, line, "service without a name");
                return 0;
        }
        for (const char *p = title; *p; p++)
                if (!isalnum((unsigned char)*p) && !strchr("-_.@", *p)) {
                        report(L->root->filename, line, "service '%s': names may use letters, digits and -_.@",
                               title);
                        break;
                }
        return 0;
}

/* Validator for the main file's own keys. */
static int validate_main_option(cfg_t *cfg, cfg_opt_t *opt)
{
        if (strcmp(opt->name, "log-level") == 0) {
                const char *v = cfg_opt_getnstr(opt, 0);
                if (log_level_from_string(v) < 0)
                        report(L->root->filename, cfg->line,
                               "log-level: '%s': expected err, warning, notice, info or debug", v);
        } else if (strcmp(opt->name, "status-socket") == 0) {
                const char *v = cfg_opt_getnstr(opt, 0);
                if (strlen(v) >= sizeof(((struct sockaddr_un *)0)->sun_path))
                        report(L->root->filename, cfg->line, "status-socket: path too long (107 bytes at most)");
        } else if (strcmp(opt->name, "max-children") == 0) {
                long v = cfg_opt_getnint(opt, 0);
                if (v < 0 || v > MAX_INSTANCES_LIMIT)
                        report(L->root->filename, cfg->line, "max-children: %ld is out of range (0-%d)", v,
                               MAX_INSTANCES_LIMIT);
        }
        return 0;
}

static int validate_defaults_section(cfg_t *cfg, cfg_opt_t *opt)
{
        L->section_line = 0;
        return 0;
}

/* ---- option tables ---- */

#define SERVICE_OPTIONS                                               \
        CFG_STR_LIST("listen", NULL, CFGF_NODEFAULT),                 \
        CFG_STR("socket-type", NULL, CFGF_NODEFAULT),                 \
        CFG_BOOL("wait", cfg_false, CFGF_NODEFAULT),                  \
        CFG_STR_LIST("exec", NULL, CFGF_NODEFAULT),                   \
        CFG_STR("builtin", NULL, CFGF_NODEFAULT),                     \
        CFG_INT("backlog", 0, CFGF_NODEFAULT),                        \
        CFG_INT("receive-buffer", 0, CFGF_NODEFAULT),                 \
        CFG_INT("send-buffer", 0, CFGF_NODEFAULT),                    \
        CFG_BOOL("reuse-port", cfg_false, CFGF_NODEFAULT),            \
        CFG_BOOL("keepalive", cfg_false, CFGF_NODEFAULT),             \
        CFG_BOOL("nodelay", cfg_false, CFGF_NODEFAULT),               \
        CFG_BOOL("ipv6-only", cfg_false, CFGF_NODEFAULT),             \
        CFG_BOOL("free-bind", cfg_false, CFGF_NODEFAULT),             \
        CFG_STR("socket-user", NULL, CFGF_NODEFAULT),                 \
        CFG_STR("socket-group", NULL, CFGF_NODEFAULT),                \
        CFG_STR("socket-mode", NULL, CFGF_NODEFAULT),                 \
        CFG_STR("user", NULL, CFGF_NODEFAULT),                        \
        CFG_STR("group", NULL, CFGF_NODEFAULT),                       \
        CFG_STR("stderr", NULL, CFGF_NODEFAULT),                      \
        CFG_STR_LIST("env", NULL, CFGF_NODEFAULT),                    \
        CFG_STR_LIST("pass-env", NULL, CFGF_NODEFAULT),               \
        CFG_INT("max-instances", 0, CFGF_NODEFAULT),                  \
        CFG_INT("max-per-source", 0, CFGF_NODEFAULT),                 \
        CFG_INT("per-source-prefix6", 0, CFGF_NODEFAULT),             \
        CFG_STR("max-rate", NULL, CFGF_NODEFAULT),                    \
        CFG_INT("rate-pause", 0, CFGF_NODEFAULT),                     \
        CFG_STR_LIST("allow", NULL, CFGF_NODEFAULT),                  \
        CFG_STR_LIST("deny", NULL, CFGF_NODEFAULT),                   \
        CFG_INT("timeout", 0, CFGF_NODEFAULT),                        \
        CFG_INT("nice", 0, CFGF_NODEFAULT),                           \
        CFG_STR("umask", NULL, CFGF_NODEFAULT),                       \
        CFG_STR("working-directory", NULL, CFGF_NODEFAULT),           \
        CFG_INT("rlimit-nofile", 0, CFGF_NODEFAULT),                  \
        CFG_INT("rlimit-as", 0, CFGF_NODEFAULT),                      \
        CFG_INT("rlimit-cpu", 0, CFGF_NODEFAULT),                     \
        CFG_INT("rlimit-nproc", 0, CFGF_NODEFAULT),                   \
        CFG_BOOL("no-new-privileges", cfg_false, CFGF_NODEFAULT),     \
        CFG_BOOL("disable", cfg_false, CFGF_NODEFAULT),               \
        CFG_END()

static cfg_opt_t service_opts[] = { SERVICE_OPTIONS };
static cfg_opt_t defaults_opts[] = { SERVICE_OPTIONS };

static cfg_opt_t main_opts[] = {
        CFG_STR("services-dir", "services.d", CFGF_NONE),
        CFG_STR("helpers-dir", HELPERSDIR, CFGF_NONE),
        CFG_STR("log-level", "info", CFGF_NONE),
        CFG_INT("max-children", 1024, CFGF_NONE),
        CFG_STR("status-socket", "", CFGF_NONE),
        CFG_SEC("defaults", defaults_opts, CFGF_NONE),
        CFG_END(),
};

static cfg_opt_t dropin_opts[] = {
        CFG_SEC("service", service_opts, CFGF_MULTI | CFGF_TITLE),
        CFG_END(),
};

static void set_validators(cfg_t *cfg, const char *section)
{
        char path[64];

        for (const cfg_opt_t *o = service_opts; o->name; o++) {
                snprintf(path, sizeof(path), "%s|%s", section, o->name);
                cfg_set_validate_func(cfg, path, validate_option);
        }
}

/*
 * Where libconfuse 3.3's lexer ends an unquoted word, and so where the next
 * token starts: after any of these characters, after a string, a comment or
 * a ${...}. Only there do "//", "/" "*" and "${" mean something.
 */
#define WORD_END " \t\r\n#\"'={}()+,*"

/*
 * The '}' that ends a "${" at s, which libconfuse expands there when a '}'
 * follows at any distance (its pattern is ${[^}]*}, newlines and quotes
 * included); NULL if none does. The caller goes on after that '}', so a file
 * full of "${" is still read in O(n); *none_left remembers a search that
 * found no '}' to the end.
 */
static const char *env_end(const char *s, bool *none_left)
{
        const char *close = *none_left ? NULL : strchr(s + 2, '}');

        *none_left = !close;
        return close;
}

/* What blank_comments() found open at the end of the text. */
struct text_end {
        int open_braces;  /* '{' left open */
        int string_line;  /* line of the quote that opens a string left open, 0 if none */
        int comment_line; /* line of the "/" "*" that opens a comment left open, 0 if none */
};

/*
 * libconfuse 3.3 counts one or two extra lines for every comment, so its
 * FILE:LINE would point below the real line after the first comment. Blank
 * out comments here, keeping every newline, before libconfuse sees the text.
 *
 * This mirrors libconfuse's lexer (lexer.l) exactly, since what it calls a
 * comment or a string here decides what libconfuse gets: outside quotes,
 * '#' starts a comment, and so do "//" and "/" "*" at the start of a token
 * (inside an unquoted word such as http://host they do not); a backslash
 * escapes the next character inside quotes; "${...}" at the start of a token
 * or inside double quotes is one token whatever it holds.
 *
 * libconfuse 3.3 accepts end of file inside a section, a string or a block
 * comment, so *ret tells the caller what was left open. A string open at the
 * end is worse than accepted: its lexer has no end-of-file rule in strings,
 * so a '\' as the last byte matches no rule and flex's default rule copies
 * it to stdout. The caller reports the string and does not hand such a text
 * to libconfuse, so that rule is never reached (every other byte, in every
 * state, matches a rule of lexer.l).
 */
static void blank_comments(char *s, struct text_end *ret)
{
        enum { CODE, DQUOTE, SQUOTE, LINE, BLOCK } st = CODE;
        const char *end;
        bool token_start = true, no_close = false;
        int line = 1, open_line = 0;

        *ret = (struct text_end){ 0 };
        for (; *s; s++) {
                bool at_start = token_start;
                char c = *s;

                if (c == '\n')
                        line++;
                switch (st) {
                case CODE:
                        if (c == '$' && s[1] == '{' && at_start && (end = env_end(s, &no_close))) {
                                for (; s < end; s++)
                                        line += s[1] == '\n';
                                c = '}';
                        } else if (c == '{')
                                ret->open_braces++;
                        else if (c == '}')
                                ret->open_braces--;
                        else if (c == '"' || c == '\'') {
                                st = c == '"' ? DQUOTE : SQUOTE;
                                open_line = line;
                        } else if (c == '#' || (at_start && s[0] == '/' && s[1] == '/')) {
                                st = LINE;
                                *s = ' ';
                        } else if (at_start && s[0] == '/' && s[1] == '*') {
                                st = BLOCK;
                                open_line = line;
                                *s++ = ' ';
                                *s = ' ';
                        }
                        break;
                case DQUOTE:
                case SQUOTE:
                        if (st == DQUOTE && c == '$' && s[1] == '{' && (end = env_end(s, &no_close))) {
                                for (; s < end; s++)
                                        line += s[1] == '\n';
                        } else if (c == '\\' && s[1]) {
                                s++;
                                line += *s == '\n';
                        } else if (c == (st == DQUOTE ? '"' : '\''))
                                st = CODE;
                        break;
                case LINE:
                        if (c == '\n')
                                st = CODE;
                        else
                                *s = ' ';
                        break;
                case BLOCK:
                        if (s[0] == '*' && s[1] == '/') {
                                *s++ = ' ';
                                *s = ' ';
                                st = CODE;
                        } else if (c != '\n')
                                *s = ' ';
                        break;
                }
                /* A comment or string, or a character that ends a word, ends the token before it. */
                token_start = st != CODE || strchr(WORD_END, c) != NULL;
        }
        if (st == DQUOTE || st == SQUOTE)
                ret->string_line = open_line;
        else if (st == BLOCK)
                ret->comment_line = open_line;
}

/*
 * Read f to its end, or to MAX_FILE_SIZE + 1 bytes (too large), into a
 * buffer with room for a final NUL. The buffer starts at the size fstat
 * gives, so a drop-in of a few hundred bytes does not cost a 1 MiB
 * allocation. Returns it with *ret_n set (check ferror(f)), or NULL.
 */
static char *read_all(FILE *f, size_t *ret_n)
{
        struct stat st;
        size_t cap = 4096, n = 0;
        char *buf = NULL;

        if (fstat(fileno(f), &st) == 0 && st.st_size >= 0 && st.st_size <= MAX_FILE_SIZE)
                cap = (size_t)st.st_size + 1; /* + 1: a read that fills it means the file grew */
        for (;;) {
                char *p = realloc(buf, cap + 1);
                if (!p) {
                        free(buf);
                        return NULL;
                }
                buf = p;
                n += fread(buf + n, 1, cap - n, f);
                if (n < cap || cap > MAX_FILE_SIZE)
                        break;
                cap = cap * 2 > MAX_FILE_SIZE ? MAX_FILE_SIZE + 1 : cap * 2;
        }
        *ret_n = n;
        return buf;
}

/*
 * Parse one file with libconfuse. Returns the cfg_t (caller frees) or NULL;
 * errors are reported. A file that parsed but had validation errors is
 * returned too: the caller checks L->n_errors.
 */
static cfg_t *parse_file(const char *path, cfg_opt_t *opts, bool dropin)
{
        cfg_t *cfg = NULL;
        char *buf = NULL;
        FILE *f, *m = NULL;
        struct text_end end;
        size_t n;
        int r;

        f = fopen(path, "re");
        if (!f) {
                report(path, 0, "%s", strerror(errno));
                return NULL;
        }
        buf = read_all(f, &n);
        if (!buf) {
                report(path, 0, "out of memory");
                goto out;
        }
        if (ferror(f) || n > MAX_FILE_SIZE) {
                report(path, 0, "%s", ferror(f) ? "read error" : "file too large (1 MiB at most)");
                goto out;
        }
        buf[n] = 0;
        if (strlen(buf) != n) {
                report(path, 0, "file contains a NUL byte");
                goto out;
        }
        blank_comments(buf, &end);
        if (end.string_line || end.comment_line) {
                /* Never given to libconfuse: see blank_comments(). */
                report(path, end.string_line ? end.string_line : end.comment_line, "unterminated %s",
                       end.string_line ? "string" : "comment");
                goto out;
        }

        cfg = cfg_init(opts, 0);
        m = n ? fmemopen(buf, n, "r") : fopen("/dev/null", "re");
        if (!cfg || !m || !(cfg->filename = strdup(path))) {
                report(path, 0, "out of memory");
                cfg_free(cfg);
                cfg = NULL;
                goto out;
        }
        cfg->line = 1;
        cfg_set_error_function(cfg, on_cfg_error);
        if (dropin) {
                set_validators(cfg, "service");
                cfg_set_validate_func(cfg, "service", validate_service_section);
        } else {
                set_validators(cfg, "defaults");
                cfg_set_validate_func(cfg, "defaults", validate_defaults_section);
                cfg_set_validate_func(cfg, "log-level", validate_main_option);
                cfg_set_validate_func(cfg, "max-children", validate_main_option);
                cfg_set_validate_func(cfg, "status-socket", validate_main_option);
        }
        L->root = cfg;
        L->section_line = 0;
        L->last_opt = NULL;
        L->n_lines = 0;
        r = cfg_parse_fp(cfg, m);
        L->root = NULL; /* cfg may be freed below; a later error callback falls back to cfg->filename */
        if (r == CFG_SUCCESS && end.open_braces > 0) {
                report(path, cfg->line, "missing '}' at end of file");
                r = CFG_PARSE_ERROR;
        }
        if (r != CFG_SUCCESS) {
                /* libconfuse reported a syntax error through on_cfg_error and stopped. */
                cfg_free(cfg);
                cfg = NULL;
        }
out:
        if (m)
                fclose(m);
        fclose(f);
        free(buf);
        return cfg;
}

/* ---- conversion to plain data ---- */

struct service *service_free(struct service *s)
{
        if (!s)
                return NULL;
        free(s->name);
        free(s->file);
        free(s->listen);
        strv_free(s->listen_text);
        strv_free(s->argv);
        free(s->socket_user);
        free(s->socket_group);
        free(s->user);
        free(s->group);
        free(s->groups);
        strv_free(s->env);
        strv_free(s->pass_env);
        free(s->allow);
        free(s->deny);
        free(s->process.working_directory);
        free(s);
        return NULL;
}

static char **list_or(cfg_t *sec, const char *key, char *const *fallback, bool *oom)
{
        unsigned n = cfg_size(sec, key);
        char **v;

        if (n == 0) {
                v = strv_copy(fallback);
                if (fallback && !v)
                        *oom = true;
                return v;
        }
        v = calloc(n + 1, sizeof(*v));
        if (!v) {
                *oom = true;
                return NULL;
        }
        for (unsigned i = 0; i < n; i++)
                if (!(v[i] = strdup(cfg_getnstr(sec, key, i)))) {
                        *oom = true;
                        return strv_free(v);
                }
        return v;
}

static char *str_or(cfg_t *sec, const char *key, const char *fallback, bool *oom)
{
        const char *s = cfg_size(sec, key) ? cfg_getstr(sec, key) : fallback;
        char *d;

        if (!s)
                return NULL;
        d = strdup(s);
        if (!d)
                *oom = true;
        return d;
}

static bool bool_or(cfg_t *sec, const char *key, bool fallback)
{
        return cfg_size(sec, key) ? cfg_getbool(sec, key) : fallback;
}

static long int_or(cfg_t *sec, const char *key, long fallback)
{
        return cfg_size(sec, key) ? cfg_getint(sec, key) : fallback;
}

/* The socket settings of s, from its section or else the template. Returns 0 or -ENOMEM. */
static int socket_options_of(cfg_t *sec, const struct service *tmpl, struct service *s)
{
        const struct socket_options *t = &tmpl->sockopt;
        struct socket_options *o = &s->sockopt;
        bool oom = false;

        o->backlog = (int)int_or(sec, "backlog", t->backlog);
        o->receive_buffer = (int)int_or(sec, "receive-buffer", t->receive_buffer);
        o->send_buffer = (int)int_or(sec, "send-buffer", t->send_buffer);
        o->reuse_port = bool_or(sec, "reuse-port", t->reuse_port);
        o->keepalive = bool_or(sec, "keepalive", t->keepalive);
        o->nodelay = bool_or(sec, "nodelay", t->nodelay);
        o->ipv6_only = bool_or(sec, "ipv6-only", t->ipv6_only);
        o->free_bind = bool_or(sec, "free-bind", t->free_bind);
        o->socket_mode = t->socket_mode;
        if (cfg_size(sec, "socket-mode"))
                parse_mode(cfg_getstr(sec, "socket-mode"), &o->socket_mode);
        s->socket_user = str_or(sec, "socket-user", tmpl->socket_user, &oom);
        s->socket_group = str_or(sec, "socket-group", tmpl->socket_group, &oom);
        if (oom)
                return -ENOMEM;
        o->set_owner = s->socket_user || s->socket_group;
        o->socket_uid = (uid_t)-1; /* fchownat(2): -1 leaves it unchanged */
        o->socket_gid = (gid_t)-1;
        if (s->socket_user) {
                const char *why;
                const struct cred_cache *c = resolve_creds(s->socket_user, NULL, &why);
                if (c) {
                        o->socket_uid = c->uid;
                        o->socket_gid = c->gid;
                }
        }
        if (s->socket_group)
                lookup_group(s->socket_group, &o->socket_gid);
        return 0;
}

/* A `allow`/`deny` list of s's section, or the template's. Values were checked at their lines. */
static int cidrs_of(cfg_t *sec, const char *key, const struct cidr *fallback, size_t n_fallback, struct cidr **ret,
                    size_t *ret_n)
{
        unsigned n = cfg_size(sec, key);
        const char *why;

        if (n == 0) {
                n = (unsigned)n_fallback;
                if (n && !(*ret = malloc(n * sizeof(**ret))))
                        return -ENOMEM;
                if (n)
                        memcpy(*ret, fallback, n * sizeof(**ret));
                *ret_n = n;
                return 0;
        }
        *ret = calloc(n, sizeof(**ret));
        if (!*ret)
                return -ENOMEM;
        *ret_n = 0;
        for (unsigned i = 0; i < n; i++)
                if (cidr_parse(cfg_getnstr(sec, key, i), &(*ret)[*ret_n], &why) == 0)
                        (*ret_n)++;
        return 0;
}

/* Limits, access lists and process settings of s, from its section or else the template. */
static int limits_of(cfg_t *sec, const struct service *tmpl, struct service *s)
{
        const struct process_settings *t = &tmpl->process;
        struct process_settings *p = &s->process;
        bool oom = false;

        s->max_per_source = (unsigned)int_or(sec, "max-per-source", tmpl->max_per_source);
        s->per_source_prefix6 = (unsigned)int_or(sec, "per-source-prefix6", tmpl->per_source_prefix6);
        /* Unset, a wait = yes service still gets a start limit: a handler that leaves its datagram restarts. */
        s->max_rate_set = cfg_size(sec, "max-rate") || tmpl->max_rate_set;
        s->max_rate = tmpl->max_rate_set ? tmpl->max_rate : s->wait ? WAIT_MAX_RATE_DEFAULT : 0;
        if (cfg_size(sec, "max-rate"))
                parse_rate(cfg_getstr(sec, "max-rate"), &s->max_rate);
        s->rate_pause = (unsigned)int_or(sec, "rate-pause", tmpl->rate_pause);
        s->timeout = (unsigned)int_or(sec, "timeout", tmpl->timeout);
        if (cidrs_of(sec, "allow", tmpl->allow, tmpl->n_allow, &s->allow, &s->n_allow) < 0 ||
            cidrs_of(sec, "deny", tmpl->deny, tmpl->n_deny, &s->deny, &s->n_deny) < 0)
                return -ENOMEM;

        p->set_nice = cfg_size(sec, "nice") || t->set_nice;
        p->nice = (int)int_or(sec, "nice", t->nice);
        p->umask = t->umask;
        if (cfg_size(sec, "umask")) {
                mode_t m = 0;
                parse_mode(cfg_getstr(sec, "umask"), &m);
                p->umask = (int)m;
        }
        p->working_directory = str_or(sec, "working-directory", t->working_directory, &oom);
        p->rlimit_nofile = int_or(sec, "rlimit-nofile", t->rlimit_nofile);
        p->rlimit_as = int_or(sec, "rlimit-as", t->rlimit_as);
        p->rlimit_cpu = int_or(sec, "rlimit-cpu", t->rlimit_cpu);
        p->rlimit_nproc = int_or(sec, "rlimit-nproc", t->rlimit_nproc);
        p->no_new_privileges = bool_or(sec, "no-new-privileges", t->no_new_privileges);
        return oom ? -ENOMEM : 0;
}

/* Settings that are valid one by one but not together (superd -t reports them with the service's line). */
static bool check_combination(const struct service *s, const char *file, int line)
{
        const struct socket_options *o = &s->sockopt;
        bool ip = false, ip6 = false, unix_file = false, unix_any = false;
        unsigned errors = L->n_errors;

        for (size_t i = 0; i < s->n_listen; i++) {
                const struct sockaddr_un *un = (const struct sockaddr_un *)&s->listen[i].sa;
                int family = s->listen[i].sa.ss_family;
                ip |= family != AF_UNIX;
                ip6 |= family == AF_INET6;
                unix_any |= family == AF_UNIX;
                unix_file |= family == AF_UNIX && un->sun_path[0] == '/';
        }
#define BAD(...) report(file, line, "service '%s': " __VA_ARGS__)
        if (s->socket_type == SOCK_SEQPACKET && ip)
                BAD("socket-type = seqpacket needs unix: addresses (no SCTP over IP)", s->name);
        if (s->builtin && unix_any)
                BAD("builtin %s serves IP addresses only, not unix:", s->name, builtin_name(s->builtin));
        if (s->builtin && s->socket_type == SOCK_SEQPACKET)
                BAD("builtin %s needs socket-type stream or dgram", s->name, builtin_name(s->builtin));
        if (s->builtin && (s->timeout || s->process.set_nice || s->process.umask >= 0 ||
                           s->process.working_directory || s->process.no_new_privileges ||
                           s->process.rlimit_nofile >= 0 || s->process.rlimit_as >= 0 ||
                           s->process.rlimit_cpu >= 0 || s->process.rlimit_nproc >= 0))
                BAD("timeout and process settings do not apply to a builtin (nothing is spawned)", s->name);
        if (s->builtin && s->max_per_source)
                BAD("max-per-source counts running handlers; a builtin spawns none (use max-instances)", s->name);
        if ((s->max_per_source || s->n_allow || s->n_deny) && !ip)
                BAD("max-per-source, allow and deny need IP addresses (unix: peers have none)", s->name);
        if ((s->max_per_source || s->n_allow || s->n_deny) && (s->wait || s->socket_type == SOCK_DGRAM))
                BAD("max-per-source, allow and deny are checked per connection: they need a stream service with "
                    "wait = no",
                    s->name);
        if (s->builtin && s->socket_type == SOCK_STREAM && s->wait)
                BAD("wait = yes does not apply to a stream builtin (each connection is served in-process)",
                    s->name);
        if (!s->builtin && s->socket_type == SOCK_DGRAM && !s->wait)
                BAD("wait = no needs a builtin on a dgram socket: a datagram has no connection to hand over",
                    s->name);
        if (s->socket_type == SOCK_DGRAM && o->backlog)
                BAD("backlog applies to stream and seqpacket sockets only", s->name);
        if ((o->keepalive || o->nodelay) && (!ip || s->socket_type != SOCK_STREAM))
                BAD("%s applies to TCP (stream over IP) only", s->name, o->keepalive ? "keepalive" : "nodelay");
        if ((o->free_bind || o->reuse_port) && !ip)
                BAD("%s applies to IP addresses only", s->name, o->free_bind ? "free-bind" : "reuse-port");
        if (o->ipv6_only && !ip6)
                BAD("ipv6-only needs an IPv6 address ([V6]:PORT or *:PORT)", s->name);
        if ((s->socket_user || s->socket_group || o->socket_mode != 0666) && !unix_file)
                BAD("socket-user, socket-group and socket-mode apply to unix:/path addresses only", s->name);
        if (strv_length(s->env) + strv_length(s->pass_env) > SERVICE_ENV_MAX)
                BAD("env and pass-env: more than %d variables", s->name, SERVICE_ENV_MAX);
#undef BAD
        return L->n_errors == errors;
}

/*
 * Build a service from a section, taking what it does not set from `tmpl`
 * (the defaults). Values were checked while parsing; what is checked here
 * needs the merged result. Returns NULL after reporting.
 */
static struct service *service_new(cfg_t *sec, const struct service *tmpl, const char *name, const char *file,
                                   int line, bool is_template)
{
        struct service *s = calloc(1, sizeof(*s));
        const struct cred_cache *cred;
        const char *why;
        bool oom = false;

        if (!s)
                goto oom;
        s->name = strdup(name);
        s->file = strdup(file);
        s->line = (unsigned)line;
        s->listen_text = list_or(sec, "listen", tmpl->listen_text, &oom);
        s->argv = list_or(sec, "exec", tmpl->argv, &oom);
        s->env = list_or(sec, "env", tmpl->env, &oom);
        s->pass_env = list_or(sec, "pass-env", tmpl->pass_env, &oom);
        s->user = str_or(sec, "user", tmpl->user, &oom);
        s->group = str_or(sec, "group", tmpl->group, &oom);
        if (!s->name || !s->file || oom)
                goto oom;
        /* A section's own exec or builtin replaces the other inherited from `defaults`. */
        if (cfg_size(sec, "builtin") && cfg_size(sec, "exec")) {
                report(file, line, "service '%s': exec and builtin exclude each other", name);
                return service_free(s);
        }
        s->builtin = cfg_size(sec, "builtin") ? builtin_from_name(cfg_getstr(sec, "builtin"))
                     : cfg_size(sec, "exec") ? BUILTIN_NONE
                                             : tmpl->builtin;
        if (s->builtin)
                s->argv = strv_free(s->argv);
        s->socket_type = cfg_size(sec, "socket-type") ? parse_socket_type(cfg_getstr(sec, "socket-type"))
                         : tmpl->socket_type                 ? tmpl->socket_type
                                                             : SOCK_STREAM;
        s->wait_set = cfg_size(sec, "wait") || tmpl->wait_set;
        /* inetd: dgram services default to wait, stream ones to nowait. */
        s->wait = cfg_size(sec, "wait") ? cfg_getbool(sec, "wait")
                  : tmpl->wait_set      ? tmpl->wait
                                        : s->socket_type == SOCK_DGRAM;
        if (socket_options_of(sec, tmpl, s) < 0 || limits_of(sec, tmpl, s) < 0)
                goto oom;
        s->disable = cfg_size(sec, "disable") ? cfg_getbool(sec, "disable") : tmpl->disable;
        s->max_instances = cfg_size(sec, "max-instances") ? (unsigned)cfg_getint(sec, "max-instances")
                                                          : tmpl->max_instances;
        s->stderr_mode = tmpl->stderr_mode;
        if (cfg_size(sec, "stderr"))
                parse_stderr_mode(cfg_getstr(sec, "stderr"), &s->stderr_mode);

        /* listen and exec may come from `defaults` in principle, but must exist somewhere. */
        s->n_listen = strv_length(s->listen_text);
        if (s->n_listen == 0 && !is_template) {
                report(file, line, "service '%s' has no listen address", name);
                return service_free(s);
        }
        if (cfg_size(sec, "builtin") && !s->builtin)
                return service_free(s); /* an unknown builtin, reported at its line */
        if (!s->argv && !s->builtin && !is_template) {
                report(file, line, "service '%s' has no exec (or builtin)", name);
                return service_free(s);
        }
        if (s->n_listen) {
                s->listen = calloc(s->n_listen, sizeof(*s->listen));
                if (!s->listen)
                        goto oom;
                for (size_t i = 0; i < s->n_listen; i++)
                        if (addr_parse(s->listen_text[i], &s->listen[i], &why) < 0)
                                return service_free(s); /* already reported at its line */
                for (size_t i = 0; i < s->n_listen; i++)
                        for (size_t j = 0; j < i; j++)
                                if (addr_equal(&s->listen[i], &s->listen[j])) {
                                        report(file, line, "service '%s': listen address '%s' given twice", name,
                                               s->listen_text[i]);
                                        return service_free(s);
                                }
        }

        if (!is_template && !check_combination(s, file, line))
                return service_free(s);

        if (!s->user && !(s->user = strdup(default_user())))
                goto oom;
        cred = resolve_creds(s->user, s->group, &why);
        if (!cred) {
                /* A bad user or group was reported at its own line; a default that broke is reported here. */
                if (!cfg_size(sec, "user") && !cfg_size(sec, "group"))
                        report(file, line, "service '%s': user '%s'%s%s%s: %s", name, s->user,
                               s->group ? " group '" : "", s->group ? s->group : "", s->group ? "'" : "", why);
                return service_free(s);
        }
        s->uid = cred->uid;
        s->gid = cred->gid;
        s->n_groups = cred->n_groups;
        s->groups = malloc(cred->n_groups * sizeof(gid_t));
        if (!s->groups)
                goto oom;
        memcpy(s->groups, cred->groups, cred->n_groups * sizeof(gid_t));
        return s;
oom:
        report(file, line, "out of memory");
        return service_free(s);
}

struct config *config_free(struct config *c)
{
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_services; i++)
                service_free(c->services[i]);
        free(c->services);
        free(c->main_file);
        free(c->services_dir);
        free(c->helpers_dir);
        free(c->status_socket);
        free(c);
        return NULL;
}

/* `path` relative to the folder of `base` (a file), or as is when absolute or base is NULL. */
static char *relative_to(const char *base, const char *path)
{
        const char *slash = base ? strrchr(base, '/') : NULL;
        char *r;

        if (path[0] == '/' || !slash)
                return strdup(path);
        if (asprintf(&r, "%.*s/%s", (int)(slash - base), base, path) < 0)
                return NULL;
        return r;
}

static int filter_dropin(const struct dirent *d)
{
        size_t n = strlen(d->d_name);

        return d->d_name[0] != '.' && n > 5 && strcmp(d->d_name + n - 5, ".conf") == 0;
}

static int add_service(struct config *c, struct service *s)
{
        struct service **v = realloc(c->services, (c->n_services + 1) * sizeof(*v));

        if (!v)
                return -ENOMEM;
        c->services = v;
        c->services[c->n_services++] = s;
        return 0;
}

static int load_dropin(struct config *c, const char *path, const struct service *tmpl)
{
        unsigned errors_before = L->n_errors;
        struct service **made;
        size_t n_made = 0;
        cfg_t *cfg;
        unsigned n;

        cfg = parse_file(path, dropin_opts, true);
        if (!cfg)
                return -EINVAL;
        n = cfg_size(cfg, "service");
        made = calloc(n ? n : 1, sizeof(*made));
        if (!made) {
                cfg_free(cfg);
                return -ENOMEM;
        }
        for (unsigned i = 0; i < n && i < L->n_lines; i++) {
                cfg_t *sec = cfg_getnsec(cfg, "service", i);
                struct service *s = service_new(sec, tmpl, cfg_title(sec), path, L->lines[i], false);
                if (s)
                        made[n_made++] = s;
        }
        cfg_free(cfg);

        /* A drop-in with any error is refused as a whole. */
        if (L->n_errors != errors_before) {
                for (size_t i = 0; i < n_made; i++)
                        service_free(made[i]);
                free(made);
                return -EINVAL;
        }
        for (size_t i = 0; i < n_made; i++)
                if (add_service(c, made[i]) < 0) {
                        for (; i < n_made; i++)
                                service_free(made[i]);
                        free(made);
                        return -ENOMEM;
                }
        free(made);
        return 0;
}

static int compare_index_by_name(const void *a, const void *b, void *services)
{
        struct service *const *s = services;
        size_t i = *(const size_t *)a, j = *(const size_t *)b;
        int r = strcmp(s[i]->name, s[j]->name);

        /* Ties keep load order, so the first definition is named as the original. */
        return r ? r : (i < j ? -1 : i > j);
}

/* Report every service name defined twice, naming both places. O(n log n). */
static void check_duplicates(const struct config *c)
{
        size_t *order, first = 0;

        if (c->n_services < 2)
                return;
        order = malloc(c->n_services * sizeof(*order));
        if (!order) {
                report(c->services_dir, 0, "out of memory");
                return;
        }
        for (size_t i = 0; i < c->n_services; i++)
                order[i] = i;
        qsort_r(order, c->n_services, sizeof(*order), compare_index_by_name, c->services);
        for (size_t i = 1; i < c->n_services; i++) {
                const struct service *a = c->services[order[first]], *b = c->services[order[i]];
                if (strcmp(a->name, b->name) != 0) {
                        first = i;
                        continue;
                }
                report(b->file, (int)b->line, "service '%s' is already defined at %s:%u", b->name, a->file, a->line);
        }
        free(order);
}

struct listen_ref {
        const struct service *svc;
        size_t i;
        size_t order; /* load order, so the first user is named as the original */
};

/* Two listeners clash when they share an address in one namespace: TCP, UDP, or unix (any type). */
static int namespace_of(const struct listen_ref *r)
{
        if (r->svc->listen[r->i].sa.ss_family == AF_UNIX)
                return 0;
        return r->svc->socket_type == SOCK_DGRAM ? 1 : 2;
}

static int compare_listen_refs(const void *a, const void *b)
{
        const struct listen_ref *x = a, *y = b;
        const struct listen_addr *p = &x->svc->listen[x->i], *q = &y->svc->listen[y->i];
        int r = namespace_of(x) - namespace_of(y);

        if (r == 0)
                r = p->len != q->len ? (p->len < q->len ? -1 : 1) : memcmp(&p->sa, &q->sa, p->len);

        return r ? r : (x->order < y->order ? -1 : x->order > y->order);
}

/* Report every listen address used by two enabled services: the second could never bind. O(n log n). */
static void check_listen_conflicts(const struct config *c)
{
        struct listen_ref *refs;
        size_t n = 0;

        for (size_t i = 0; i < c->n_services; i++)
                n += c->services[i]->disable ? 0 : c->services[i]->n_listen;
        if (n < 2)
                return;
        refs = malloc(n * sizeof(*refs));
        if (!refs) {
                report(c->services_dir, 0, "out of memory");
                return;
        }
        n = 0;
        for (size_t i = 0; i < c->n_services; i++)
                for (size_t j = 0; !c->services[i]->disable && j < c->services[i]->n_listen; j++)
                        refs[n] = (struct listen_ref){ c->services[i], j, n }, n++;
        qsort(refs, n, sizeof(*refs), compare_listen_refs);
        for (size_t i = 1, first = 0; i < n; i++) {
                const struct listen_ref *a = &refs[first], *b = &refs[i];
                if (namespace_of(a) != namespace_of(b) || !addr_equal(&a->svc->listen[a->i], &b->svc->listen[b->i])) {
                        first = i;
                        continue;
                }
                if (a->svc != b->svc)
                        report(b->svc->file, (int)b->svc->line,
                               "service '%s': listen address '%s' is already used by service '%s' at %s:%u",
                               b->svc->name, b->svc->listen_text[b->i], a->svc->name, a->svc->file, a->svc->line);
        }
        free(refs);
}

/* Read the main file (if any) into c and the defaults template. */
static int load_main(struct config *c, const char *main_file, struct service **ret_tmpl)
{
        static const struct service builtin_defaults = {
                .max_instances = 256,
                .stderr_mode = STDERR_LOG,
                .sockopt.socket_mode = 0666,
                .per_source_prefix6 = 128,
                .rate_pause = 10,
                .process = { .umask = -1, .rlimit_nofile = -1, .rlimit_as = -1, .rlimit_cpu = -1, .rlimit_nproc = -1 },
        };
        struct service *tmpl = NULL;
        cfg_t *cfg = NULL;
        const char *name = main_file ? main_file : "(built-in defaults)";
        int level;

        if (main_file) {
                unsigned errors_before = L->n_errors;
                cfg = parse_file(main_file, main_opts, false);
                if (!cfg || L->n_errors != errors_before) {
                        cfg_free(cfg);
                        return -EINVAL;
                }
        } else {
                /* No main file: built-in defaults, as if it were empty. */
                cfg = cfg_init(main_opts, 0);
                if (!cfg)
                        return -ENOMEM;
        }

        /* Both were checked, with their lines, while parsing. */
        level = log_level_from_string(cfg_getstr(cfg, "log-level"));
        c->log_level = level < 0 ? LOG_INFO : level;
        c->max_children = (unsigned)cfg_getint(cfg, "max-children");
        c->services_dir = relative_to(main_file, cfg_getstr(cfg, "services-dir"));
        c->helpers_dir = relative_to(main_file, cfg_getstr(cfg, "helpers-dir"));
        if (*cfg_getstr(cfg, "status-socket") && !(c->status_socket = relative_to(main_file, cfg_getstr(cfg, "status-socket")))) {
                cfg_free(cfg);
                return -ENOMEM;
        }
        if (!c->services_dir || !c->helpers_dir) {
                cfg_free(cfg);
                return -ENOMEM;
        }
        /* Drop-ins name helpers as "${SUPERD_HELPERS}/NAME"; libconfuse expands it from our environment. */
        setenv("SUPERD_HELPERS", c->helpers_dir, 1);

        tmpl = service_new(cfg_getsec(cfg, "defaults"), &builtin_defaults, "defaults", name, 0, true);
        cfg_free(cfg);
        if (!tmpl)
                return -EINVAL;
        *ret_tmpl = tmpl;
        return 0;
}

int config_load(const char *main_file, const char *services_dir, FILE *err, struct config **ret)
{
        struct loader loader = { .err = err };
        struct service *tmpl = NULL;
        struct dirent **names = NULL;
        struct config *c;
        int n = 0, r;

        *ret = NULL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        L = &loader;

        if (!main_file && access(config_default_main_file, F_OK) == 0)
                main_file = config_default_main_file;
        if (main_file && !(c->main_file = strdup(main_file))) {
                r = -ENOMEM;
                goto out;
        }
        r = load_main(c, c->main_file, &tmpl);
        if (r < 0)
                goto out;
        if (services_dir) {
                free(c->services_dir);
                if (!(c->services_dir = strdup(services_dir))) {
                        r = -ENOMEM;
                        goto out;
                }
        }

        n = scandir(c->services_dir, &names, filter_dropin, alphasort);
        if (n < 0) {
                r = -errno;
                report(c->services_dir, 0, "cannot read the services folder: %s", strerror(errno));
                n = 0;
                goto out;
        }
        for (int i = 0; i < n; i++) {
                char *path;
                struct stat st;
                if (asprintf(&path, "%s/%s", c->services_dir, names[i]->d_name) < 0) {
                        r = -ENOMEM;
                        goto out;
                }
                /* Regular files only (symlinks to them are fine); a folder named x.conf is skipped. */
                if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
                        load_dropin(c, path, tmpl);
                free(path);
        }
        check_duplicates(c);
        check_listen_conflicts(c);
        r = L->n_errors ? -EINVAL : 0;
out:
        if (r == 0 && L->n_errors)
                r = -EINVAL;
        for (int i = 0; i < n; i++)
                free(names[i]);
        free(names);
        service_free(tmpl);
        free(loader.lines);
        free_creds(loader.creds);
        L = NULL;
        if (r < 0) {
                config_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

/*
 * Write s for `superd -t`, on one line: control characters as \n, \r, \t
 * or \xNN. `quoted`: as a double-quoted string that libconfuse reads back
 * as s, so '"' and '\' are escaped too, and so is a '$' before '{', which
 * libconfuse would expand as ${...} (to the next '}' anywhere, even past the
 * closing quote); else as text for a comment.
 */
static void print_text(FILE *out, const char *s, bool quoted)
{
        if (quoted)
                fputc('"', out);
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;

                if (c == '\n' || c == '\r' || c == '\t')
                        fprintf(out, "\\%c", c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
                else if (c < 0x20 || c == 0x7f)
                        fprintf(out, "\\x%02x", c); /* always two digits: \x takes up to two */
                else if (quoted && (c == '"' || c == '\\' || (c == '$' && s[1] == '{')))
                        fprintf(out, "\\%c", c);
                else
                        fputc(c, out);
        }
        if (quoted)
                fputc('"', out);
}

/* "    KEY = "VALUE"", without the end of the line. */
static void print_str(FILE *out, const char *key, const char *v)
{
        fprintf(out, "    %-14s = ", key);
        print_text(out, v, true);
}

static void print_strv(FILE *out, const char *key, char *const *v)
{
        if (!v)
                return;
        fprintf(out, "    %-14s = {", key);
        for (size_t i = 0; v[i]; i++) {
                fputs(i ? ", " : " ", out);
                print_text(out, v[i], true);
        }
        fprintf(out, " }\n");
}

static void print_socket_options(FILE *out, const struct service *s)
{
        const struct socket_options *o = &s->sockopt;

        fprintf(out, "    %-14s = %d%s\n", "backlog", o->backlog, o->backlog ? "" : "  # SOMAXCONN");
        if (o->receive_buffer)
                fprintf(out, "    %-14s = %d\n", "receive-buffer", o->receive_buffer);
        if (o->send_buffer)
                fprintf(out, "    %-14s = %d\n", "send-buffer", o->send_buffer);
        fprintf(out, "    %-14s = %s\n", "reuse-port", o->reuse_port ? "yes" : "no");
        fprintf(out, "    %-14s = %s\n", "keepalive", o->keepalive ? "yes" : "no");
        fprintf(out, "    %-14s = %s\n", "nodelay", o->nodelay ? "yes" : "no");
        fprintf(out, "    %-14s = %s\n", "ipv6-only", o->ipv6_only ? "yes" : "no");
        fprintf(out, "    %-14s = %s\n", "free-bind", o->free_bind ? "yes" : "no");
        if (s->socket_user) {
                print_str(out, "socket-user", s->socket_user);
                fprintf(out, "  # uid %u\n", (unsigned)o->socket_uid);
        }
        if (s->socket_group) {
                print_str(out, "socket-group", s->socket_group);
                fprintf(out, "  # gid %u\n", (unsigned)o->socket_gid);
        }
        fprintf(out, "    %-14s = %04o\n", "socket-mode", (unsigned)o->socket_mode);
}

static void print_cidrs(FILE *out, const char *key, const struct cidr *v, size_t n)
{
        char buf[CIDR_STRLEN];

        if (!n)
                return;
        fprintf(out, "    %-14s = {", key);
        for (size_t i = 0; i < n; i++)
                fprintf(out, "%s \"%s\"", i ? "," : "", cidr_format(&v[i], buf, sizeof(buf)));
        fprintf(out, " }\n");
}

static void print_rlimit(FILE *out, const char *key, long long v)
{
        if (v >= 0)
                fprintf(out, "    %-14s = %lld\n", key, v);
}

static void print_limits(FILE *out, const struct service *s)
{
        const struct process_settings *p = &s->process;

        fprintf(out, "    %-14s = %u\n", "max-per-source", s->max_per_source);
        fprintf(out, "    %-14s = %u\n", "per-source-prefix6", s->per_source_prefix6);
        fprintf(out, "    %-14s = \"%u/s\"%s\n", "max-rate", s->max_rate, s->max_rate ? "" : "  # no limit");
        fprintf(out, "    %-14s = %u\n", "rate-pause", s->rate_pause);
        print_cidrs(out, "allow", s->allow, s->n_allow);
        print_cidrs(out, "deny", s->deny, s->n_deny);
        fprintf(out, "    %-14s = %u%s\n", "timeout", s->timeout, s->timeout ? "" : "  # none");
        if (p->set_nice)
                fprintf(out, "    %-14s = %d\n", "nice", p->nice);
        if (p->umask >= 0)
                fprintf(out, "    %-14s = %04o\n", "umask", (unsigned)p->umask);
        if (p->working_directory) {
                print_str(out, "working-directory", p->working_directory);
                fputc('\n', out);
        }
        print_rlimit(out, "rlimit-nofile", p->rlimit_nofile);
        print_rlimit(out, "rlimit-as", p->rlimit_as);
        print_rlimit(out, "rlimit-cpu", p->rlimit_cpu);
        print_rlimit(out, "rlimit-nproc", p->rlimit_nproc);
        fprintf(out, "    %-14s = %s\n", "no-new-privileges", p->no_new_privileges ? "yes" : "no");
}

void config_print(const struct config *c, FILE *out)
{
        fputs("# main file: ", out);
        print_text(out, c->main_file ? c->main_file : "(none, built-in defaults)", false);
        fputs("\nservices-dir = ", out);
        print_text(out, c->services_dir, true);
        fputs("\nhelpers-dir  = ", out);
        print_text(out, c->helpers_dir, true);
        fprintf(out, "\nlog-level    = %s\nmax-children = %u\nstatus-socket = ", log_level_to_string(c->log_level),
                c->max_children);
        print_text(out, c->status_socket ? c->status_socket : "", true);
        fputs(c->status_socket ? "\n" : "  # none\n", out);
        for (size_t i = 0; i < c->n_services; i++) {
                const struct service *s = c->services[i];
                fputs("\n# ", out);
                print_text(out, s->file, false);
                /* Names are letters, digits and -_.@ (checked where parsed): an unquoted word. */
                fprintf(out, ":%u\nservice %s {\n", s->line, s->name);
                print_strv(out, "listen", s->listen_text);
                fprintf(out, "    %-14s = %s\n", "socket-type", socket_type_names[s->socket_type]);
                fprintf(out, "    %-14s = %s\n", "wait", s->wait ? "yes" : "no");
                print_socket_options(out, s);
                if (s->builtin)
                        fprintf(out, "    %-14s = %s\n", "builtin", builtin_name(s->builtin));
                print_strv(out, "exec", s->argv);
                print_str(out, "user", s->user);
                fprintf(out, "  # uid %u\n", (unsigned)s->uid);
                if (s->group) {
                        print_str(out, "group", s->group);
                        fprintf(out, "  # gid %u\n", (unsigned)s->gid);
                } else {
                        const struct group *gr = getgrgid(s->gid);
                        fputs("    # group = ", out);
                        print_text(out, gr ? gr->gr_name : "", true);
                        fprintf(out, "  # gid %u, the user's primary group\n", (unsigned)s->gid);
                }
                fprintf(out, "    %-14s = %s\n", "stderr", stderr_mode_name(s->stderr_mode));
                print_strv(out, "env", s->env);
                print_strv(out, "pass-env", s->pass_env);
                fprintf(out, "    %-14s = %u\n", "max-instances", s->max_instances);
                print_limits(out, s);
                fprintf(out, "    %-14s = %s\n", "disable", s->disable ? "yes" : "no");
                fprintf(out, "}\n");
        }
}
