/* SPDX-License-Identifier: MIT */
/*
 * Configuration loading: superd.conf and the services.d drop-ins, in order,
 * into plain data. The steps live in their own modules: config-parse.c reads
 * a file with libconfuse, config-keys.c turns each key into struct service
 * fields (and `defaults` into what a service does not set), config-users.c
 * resolves users, config-check.c checks what no single value shows,
 * config-print.c prints the result for `superd -t`.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "config-check.h"
#include "config-keys.h"
#include "config-parse.h"
#include "config-report.h"
#include "config-users.h"
#include "log.h"
#include "strv.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

const char config_default_main_file[] = SYSCONFDIR "/superd/superd.conf";

/* State of one config_load(). */
struct loader {
        struct config_report report;
        struct users_cache *users;
        struct parse_context parse;
};

struct service *service_free(struct service *s)
{
        if (!s)
                return NULL;
        if (s->packed) {
                free(s);
                return NULL;
        }
        free(s->name);
        free(s->file);
        free(s->listen); /* and listen_text, in the same block */
        free(s->argv); /* argv, env, pass_env: one block each (strv_pack()) */
        free(s->socket_user);
        free(s->socket_group);
        free(s->user);
        free(s->group);
        free(s->groups);
        free(s->env);
        free(s->pass_env);
        free(s->allow);
        free(s->deny);
        free(s->proxy_from);
        free(s->process.working_directory);
        free(s);
        return NULL;
}

/* The owner that the unix socket files of s get: -1 (fchownat(2): unchanged) for what is not set. */
static void socket_owner_of(struct loader *l, struct service *s)
{
        struct socket_options *o = &s->sockopt;
        const struct user_ids *ids;
        const char *why;

        o->set_owner = s->socket_user || s->socket_group;
        o->socket_uid = (uid_t)-1;
        o->socket_gid = (gid_t)-1;
        /* A name that does not resolve was reported at its line; the load fails then. */
        if (s->socket_user && users_resolve(&l->users, s->socket_user, NULL, &ids, &why) == 0) {
                o->socket_uid = ids->uid;
                o->socket_gid = ids->gid;
        }
        if (s->socket_group)
                (void)users_group_id(s->socket_group, &o->socket_gid);
}

/* Laying a service out in one allocation: a cursor, and the block (NULL while only measuring). */
struct packer {
        char *base;
        size_t at;
};

/* Reserve `size` bytes aligned to `align` in p; returns them (NULL while measuring). */
static void *pack_reserve(struct packer *p, size_t size, size_t align)
{
        void *r;

        p->at = (p->at + align - 1) / align * align;
        r = p->base ? p->base + p->at : NULL;
        p->at += size;
        return r;
}

static void *pack_mem(struct packer *p, const void *src, size_t size, size_t align)
{
        void *d = src ? pack_reserve(p, size, align) : NULL;

        return d ? memcpy(d, src, size) : NULL;
}

static char *pack_str(struct packer *p, const char *src)
{
        return src ? pack_mem(p, src, strlen(src) + 1, 1) : NULL;
}

static char **pack_strv(struct packer *p, char *const *v)
{
        size_t n = strv_length(v);
        void *d = v ? pack_reserve(p, strv_packed_size(v, n), _Alignof(char *)) : NULL;

        return d ? strv_pack_at(d, v, n) : NULL;
}

/* Lay s and everything it owns out at p: the struct first, then arrays, then strings. */
static void pack_service(struct packer *p, const struct service *s)
{
        struct service dummy, *t = pack_reserve(p, sizeof(*t), _Alignof(struct service));

        if (!t)
                t = &dummy;
        *t = *s;
        t->listen = pack_mem(p, s->listen, s->n_listen * sizeof(*s->listen), _Alignof(struct listen_addr));
        t->listen_text = pack_strv(p, s->listen_text);
        /* A unix address points into its listen text (addr.h): into the copy now. */
        for (unsigned i = 0; p->base && i < s->n_listen; i++)
                addr_move_text(&t->listen[i], s->listen_text[i], t->listen_text[i]);
        t->argv = pack_strv(p, s->argv);
        t->env = pack_strv(p, s->env);
        t->pass_env = pack_strv(p, s->pass_env);
        t->groups = pack_mem(p, s->groups, s->n_groups * sizeof(*s->groups), _Alignof(gid_t));
        t->allow = pack_mem(p, s->allow, s->n_allow * sizeof(*s->allow), _Alignof(struct cidr));
        t->deny = pack_mem(p, s->deny, s->n_deny * sizeof(*s->deny), _Alignof(struct cidr));
        t->proxy_from = pack_mem(p, s->proxy_from, s->n_proxy_from * sizeof(*s->proxy_from), _Alignof(struct cidr));
        t->name = pack_str(p, s->name);
        t->file = pack_str(p, s->file);
        t->socket_user = pack_str(p, s->socket_user);
        t->socket_group = pack_str(p, s->socket_group);
        t->user = pack_str(p, s->user);
        t->group = pack_str(p, s->group);
        t->process.working_directory = pack_str(p, s->process.working_directory);
        t->packed = true;
}

/*
 * Move s and all it owns into one allocation (struct service.packed), in
 * two passes: measure, then copy. Frees s. Returns the packed service, or
 * NULL for lack of memory (then s is left as it was).
 */
static struct service *service_pack(struct service *s)
{
        struct packer p = { 0 };

        pack_service(&p, s);
        p.base = malloc(p.at);
        if (!p.base)
                return NULL;
        p.at = 0;
        pack_service(&p, s);
        service_free(s);
        return (struct service *)p.base;
}

/*
 * Build a service from a section, taking what it does not set from `tmpl`
 * (the defaults). Values were checked while parsing; what is checked here
 * needs the merged result. A section with a value already reported as bad
 * gets only the checks for keys that are missing (listen, exec), then is
 * dropped: the checks of combinations would only repeat that error.
 * Returns NULL after reporting.
 */
static struct service *service_new(struct loader *l, cfg_t *sec, const struct service *tmpl, const char *name,
                                   const char *file, int line, bool is_template)
{
        struct service *s = calloc(1, sizeof(*s)), *packed;
        const struct user_ids *ids;
        const char *why;
        int bad;

        if (!s)
                goto oom;
        s->name = strdup(name);
        s->file = strdup(file);
        s->line = (unsigned)line;
        if (!s->name || !s->file)
                goto oom;
        bad = keys_apply(sec, tmpl, s);
        if (bad < 0)
                goto oom;
        /* A section's own exec or builtin replaces the other inherited from `defaults`, but not both at once. */
        if (cfg_size(sec, "builtin") && cfg_size(sec, "exec")) {
                config_report(&l->report, file, line, "service '%s': exec and builtin exclude each other", name);
                return service_free(s);
        }
        /* listen and exec may come from `defaults` in principle, but must exist somewhere. */
        if (s->n_listen == 0 && !is_template) {
                config_report(&l->report, file, line, "service '%s' has no listen address", name);
                return service_free(s);
        }
        /* A builtin that was given but bad is no missing one: it was reported at its line. */
        if (!s->argv && !s->builtin && !cfg_size(sec, "builtin") && !is_template) {
                config_report(&l->report, file, line, "service '%s' has no exec (or builtin)", name);
                return service_free(s);
        }
        if (bad)
                return service_free(s); /* reported at its line */
        if (!check_listen_twice(&l->report, s))
                return service_free(s);
        if (!is_template && !check_combination(&l->report, s))
                return service_free(s);

        socket_owner_of(l, s);
        if (!s->user && !(s->user = strdup(users_default())))
                goto oom;
        if (users_resolve(&l->users, s->user, s->group, &ids, &why) < 0) {
                /* A bad user or group was reported at its own line; a default that broke is reported here. */
                if (!cfg_size(sec, "user") && !cfg_size(sec, "group"))
                        config_report(&l->report, file, line, "service '%s': user '%s'%s%s%s: %s", name, s->user,
                                      s->group ? " group '" : "", s->group ? s->group : "", s->group ? "'" : "", why);
                return service_free(s);
        }
        s->uid = ids->uid;
        s->gid = ids->gid;
        s->n_groups = ids->n_groups;
        s->groups = malloc(ids->n_groups * sizeof(gid_t));
        if (!s->groups)
                goto oom;
        memcpy(s->groups, ids->groups, ids->n_groups * sizeof(gid_t));
        if (is_template)
                return s; /* read field by field into each service, then freed */
        packed = service_pack(s);
        if (!packed)
                goto oom;
        return packed;
oom:
        config_report(&l->report, file, line, "out of memory");
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

/* Add the services of drop-in `path` to c, all or (after any error in the file) none. Returns 0 or -errno. */
static int load_dropin(struct loader *l, struct config *c, const char *path, const struct service *tmpl)
{
        unsigned errors_before = l->report.n_errors;
        struct service **made;
        size_t n_made = 0, n_lines = 0;
        int *lines = NULL;
        cfg_t *cfg;
        unsigned n;

        cfg = parse_dropin(&l->parse, path, &lines, &n_lines);
        if (!cfg)
                return -EINVAL;
        n = cfg_size(cfg, "service");
        made = calloc(n ? n : 1, sizeof(*made));
        if (!made) {
                config_report(&l->report, path, 0, "out of memory");
                (void)cfg_free(cfg); /* fails only for NULL */
                free(lines);
                return -ENOMEM;
        }
        for (unsigned i = 0; i < n && i < n_lines; i++) {
                cfg_t *sec = cfg_getnsec(cfg, "service", i);
                struct service *s = service_new(l, sec, tmpl, cfg_title(sec), path, lines[i], false);
                if (s)
                        made[n_made++] = s;
        }
        (void)cfg_free(cfg);
        free(lines);

        /* A drop-in with any error is refused as a whole. */
        if (l->report.n_errors != errors_before) {
                for (size_t i = 0; i < n_made; i++)
                        service_free(made[i]);
                free(made);
                return -EINVAL;
        }
        for (size_t i = 0; i < n_made; i++)
                if (add_service(c, made[i]) < 0) {
                        config_report(&l->report, path, 0, "out of memory");
                        for (; i < n_made; i++)
                                service_free(made[i]);
                        free(made);
                        return -ENOMEM;
                }
        free(made);
        return 0;
}

/* Read the main file (if any) into c and the defaults template. Returns 0 or -errno (reported). */
static int load_main(struct loader *l, struct config *c, const char *main_file, struct service **ret_tmpl)
{
        static const struct service builtin_defaults = {
            .max_instances = 256,
            .stderr_mode = STDERR_LOG,
            .sockopt.socket_mode = 0666,
            .per_source_prefix6 = 128,
            .rate_pause = 10,
            .proxy_timeout = PROXY_TIMEOUT_DEFAULT,
            .process = {.umask = -1, .rlimit_nofile = -1, .rlimit_as = -1, .rlimit_cpu = -1, .rlimit_nproc = -1},
        };
        const char *name = main_file ? main_file : "(built-in defaults)";
        struct service *tmpl;
        cfg_t *cfg;
        int level;

        if (main_file) {
                unsigned errors_before = l->report.n_errors;
                cfg = parse_main(&l->parse, main_file);
                if (!cfg || l->report.n_errors != errors_before) {
                        (void)cfg_free(cfg);
                        return -EINVAL;
                }
        } else {
                /* No main file: built-in defaults, as if it were empty. */
                cfg = parse_main_empty();
                if (!cfg) {
                        config_report(&l->report, name, 0, "out of memory");
                        return -ENOMEM;
                }
        }

        /* Both were checked, with their lines, while parsing. */
        level = log_level_from_string(cfg_getstr(cfg, "log-level"));
        c->log_level = level < 0 ? LOG_INFO : level;
        c->max_children = (unsigned)cfg_getint(cfg, "max-children");
        c->services_dir = relative_to(main_file, cfg_getstr(cfg, "services-dir"));
        c->helpers_dir = relative_to(main_file, cfg_getstr(cfg, "helpers-dir"));
        if (*cfg_getstr(cfg, "status-socket"))
                c->status_socket = relative_to(main_file, cfg_getstr(cfg, "status-socket"));
        if (!c->services_dir || !c->helpers_dir || (*cfg_getstr(cfg, "status-socket") && !c->status_socket) ||
            /* Drop-ins name helpers as "${SUPERD_HELPERS}/NAME"; libconfuse expands it from our environment. */
            setenv("SUPERD_HELPERS", c->helpers_dir, 1) < 0) {
                config_report(&l->report, name, 0, "out of memory");
                (void)cfg_free(cfg);
                return -ENOMEM;
        }

        tmpl = service_new(l, cfg_getsec(cfg, "defaults"), &builtin_defaults, "defaults", name, 0, true);
        (void)cfg_free(cfg);
        if (!tmpl)
                return -EINVAL;
        *ret_tmpl = tmpl;
        return 0;
}

/*
 * config_load(), or with `dropins` (n_dropins paths, not NULL) exactly those
 * files instead of the services folder's (config_load_files()).
 */
static int load(const char *main_file, const char *services_dir, const char *const *dropins, size_t n_dropins,
                FILE *err, struct config **ret)
{
        struct loader l = {.report.err = err};
        struct service *tmpl = NULL;
        struct dirent **names = NULL;
        struct config *c;
        int n = 0, r;

        l.parse = (struct parse_context){.report = &l.report, .users = &l.users};
        *ret = NULL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;

        if (!main_file && access(config_default_main_file, F_OK) == 0)
                main_file = config_default_main_file;
        if (main_file && !(c->main_file = strdup(main_file))) {
                r = -ENOMEM;
                goto out;
        }
        r = load_main(&l, c, c->main_file, &tmpl);
        if (r < 0)
                goto out;
        if (services_dir) {
                free(c->services_dir);
                if (!(c->services_dir = strdup(services_dir))) {
                        r = -ENOMEM;
                        goto out;
                }
        }

        if (dropins) {
                for (size_t i = 0; i < n_dropins; i++)
                        (void)load_dropin(&l, c, dropins[i], tmpl);
                goto checks;
        }
        n = scandir(c->services_dir, &names, filter_dropin, alphasort);
        if (n < 0) {
                r = -errno;
                config_report(&l.report, c->services_dir, 0, "cannot read the services folder: %s", strerror(errno));
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
                        (void)load_dropin(&l, c, path, tmpl); /* errors are counted: the load fails below */
                free(path);
        }
checks:
        check_duplicates(&l.report, c);
        check_listen_conflicts(&l.report, c);
out:
        if (r == 0 && l.report.n_errors)
                r = -EINVAL;
        for (int i = 0; i < n; i++)
                free(names[i]);
        free(names);
        service_free(tmpl);
        users_cache_free(l.users);
        if (r < 0) {
                config_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

int config_load(const char *main_file, const char *services_dir, FILE *err, struct config **ret)
{
        return load(main_file, services_dir, NULL, 0, err, ret);
}

int config_load_files(const char *main_file, const char *const *dropins, size_t n_dropins, FILE *err,
                      struct config **ret)
{
        return load(main_file, NULL, dropins, n_dropins, err, ret);
}
