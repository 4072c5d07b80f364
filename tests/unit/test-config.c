/* SPDX-License-Identifier: MIT */
/* Unit tests of config.c: defaults, drop-in order, and every error reported as FILE:LINE. */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "config.h"
#include "strv.h"
#include "util.h"

/* The world of one test: DIR/superd.conf (empty unless rewritten) and DIR/services.d/. */
static char *dir, *main_file, *services;
static struct config *C; /* result of the last load(), freed by teardown */
static char *E;          /* what the last load() wrote to its error stream */

static void setup(void)
{
        unsetenv("SUPERD_HELPERS");
        dir = tu_tmpdir();
        services = tu_mkdir(dir, "services.d");
        main_file = tu_write(dir, "superd.conf", 0644, "%s", "");
}

static void teardown(void)
{
        C = config_free(C);
        free(E);
        E = NULL;
        tu_rmtree(dir);
        free(dir);
        free(services);
        free(main_file);
}

TestSuite(config, .init = setup, .fini = teardown);

/* config_load() into C and E; returns its result and checks the *ret contract. */
static int load_with(const char *main, const char *services_dir)
{
        struct config *const poison = (struct config *)0x1;
        struct config *c = poison; /* config_load() must overwrite it in every case */
        size_t size;
        FILE *err;
        int r;

        C = config_free(C);
        free(E);
        E = NULL;
        err = open_memstream(&E, &size);
        cr_assert_not_null(err);
        r = config_load(main, services_dir, err, &c);
        cr_assert_eq(fclose(err), 0);
        cr_assert_neq(c, poison, "*ret not set (r = %d)", r);
        C = c;
        if (r == 0)
                cr_assert_not_null(C);
        else
                cr_assert_null(C, "*ret must be NULL on failure (r = %d)", r);
        return r;
}

static int load(void)
{
        return load_with(main_file, NULL);
}

/* Load and require success with nothing written to the error stream. */
static void load_ok(void)
{
        int r = load();

        cr_assert_eq(r, 0, "config_load = %d, errors:\n%s", r, E);
        cr_assert_str_empty(E, "errors written on success:\n%s", E);
}

/* Write services.d/NAME. */
static void dropin(const char *name, const char *text)
{
        free(tu_write(services, name, 0644, "%s", text));
}

static void write_main(const char *text)
{
        free(tu_write(dir, "superd.conf", 0644, "%s", text));
}

/* "DIR/services.d/NAME" in a static buffer: valid until the next call. */
static const char *in_services(const char *name)
{
        static char buf[4096];

        snprintf(buf, sizeof(buf), "%s/%s", services, name);
        return buf;
}

static const struct service *service(size_t i)
{
        cr_assert_lt(i, C->n_services, "no service #%zu, only %zu", i, C->n_services);
        return C->services[i];
}

static const struct service *service_named(const char *name)
{
        for (size_t i = 0; i < C->n_services; i++)
                if (strcmp(C->services[i]->name, name) == 0)
                        return C->services[i];
        cr_assert_fail("no service '%s'", name);
        return NULL;
}

/* Did the last load report "FILE:LINE: ...NEEDLE..." for services.d/NAME (or the main file if name is NULL)? */
static bool reported(const char *name, int line, const char *needle)
{
        char *file = name ? tu_path(services, name) : strdup(main_file);
        char *prefix;
        bool found;

        cr_assert(asprintf(&prefix, "%s:%d: ", file, line) >= 0);
        found = tu_has_line(E, prefix, needle);
        free(prefix);
        free(file);
        return found;
}

/*
 * Load, and require that it failed with exactly one error, reported as
 * services.d/NAME:LINE and containing NEEDLE.
 */
static void expect_only_error(const char *name, int line, const char *needle)
{
        int r = load();

        cr_assert_eq(r, -EINVAL, "config_load = %d, expected -EINVAL; errors:\n%s", r, E);
        cr_assert(reported(name, line, needle), "expected %s:%d: ...%s... in:\n%s", name, line, needle, E);
        cr_assert_eq(tu_count_lines(E), 1, "expected one error, got:\n%s", E);
}

static bool strv_has(char **v, const char *s)
{
        for (size_t i = 0; v && v[i]; i++)
                if (strcmp(v[i], s) == 0)
                        return true;
        return false;
}

static bool groups_have(const struct service *s, gid_t g)
{
        for (size_t i = 0; i < s->n_groups; i++)
                if (s->groups[i] == g)
                        return true;
        return false;
}

#define EXEC       "/bin/true"
#define GOOD_ON(name, port) "service " name " {\n    listen = { \"127.0.0.1:" port "\" }\n    exec = { \"" EXEC "\" }\n}\n"
#define GOOD(name) GOOD_ON(name, "1205")

/*
 * Seven lines of every comment kind before the line under test (line 8),
 * line 7 holding a '#' inside a quoted string, which is not a comment.
 * libconfuse 3.3 counts lines wrongly after comments; superd must not.
 * PRE sets `env` on line 7 and POST gives listen and exec; env tests use
 * PRE_EXEC (exec on line 7) and POST_LISTEN, so that no key is given twice.
 */
#define PRE_WITH(line7)                                                                                                \
        "# a hash comment\n"                  /* 1 */                                                                  \
        "// a slash comment\n"                /* 2 */                                                                  \
        "/* a block comment\n"                /* 3 */                                                                  \
        "   over two lines */\n"              /* 4 */                                                                  \
        "\n"                                  /* 5 */                                                                  \
        "service svc {  # trailing comment\n" /* 6 */                                                                  \
            line7                             /* 7 */
#define PRE      PRE_WITH("    env = { \"HASH=#not a comment\" } // x\n")
#define PRE_EXEC PRE_WITH("    exec = { \"" EXEC "\", \"#not a comment\" } // x\n")
#define POST_LISTEN                                                                                                    \
        "    listen = { \"127.0.0.1:1205\" }\n"                                                                        \
        "}\n"
#define POST "    exec = { \"" EXEC "\" }\n" POST_LISTEN

/* ---- success: defaults and merging ---- */

Test(config, builtin_defaults)
{
        dropin("a.conf", GOOD("a"));
        load_ok();
        cr_assert_str_eq(C->main_file, main_file);
        cr_assert_eq(C->log_level, LOG_INFO);
        cr_assert_eq(C->max_children, 1024);
        cr_assert_eq(C->n_services, 1);

        const struct service *s = service(0);
        cr_assert_str_eq(s->name, "a");
        cr_assert_eq(s->max_instances, 256);
        cr_assert_eq(s->stderr_mode, STDERR_LOG);
        cr_assert(!s->log_connections, "off by default");
        cr_assert_not(s->wait);
        cr_assert_not(s->disable);
        cr_assert_eq(s->socket_type, SOCK_STREAM);
        cr_assert_eq(s->n_listen, 1);
        cr_assert_str_eq(s->listen_text[0], "127.0.0.1:1205");
        cr_assert_null(s->listen_text[1]);
        cr_assert_eq(s->listen[0].family, AF_INET);
        cr_assert_str_eq(s->argv[0], EXEC);
        cr_assert_null(s->argv[1]);
        cr_assert_eq(strv_length(s->env), 0);
        cr_assert_eq(strv_length(s->pass_env), 0);
        cr_assert_str_eq(s->file, in_services("a.conf"));
}

/* Tests run as root in CI: the built-in user is then nobody, resolved at load time. */
Test(config, default_user)
{
        dropin("a.conf", GOOD("a"));
        load_ok();
        const struct service *s = service(0);

        if (geteuid() != 0) {
                char self[24];
                snprintf(self, sizeof(self), "%u", (unsigned)geteuid());
                cr_assert_str_eq(s->user, self, "not root: the default user is superd's own uid");
                cr_assert_eq(s->uid, geteuid());
                return;
        }
        struct passwd *pw = getpwnam("nobody");
        cr_assert_not_null(pw, "no user nobody on this system");
        cr_assert_str_eq(s->user, "nobody");
        cr_assert_null(s->group);
        cr_assert_eq(s->uid, pw->pw_uid);
        cr_assert_eq(s->uid, 65534);
        cr_assert_eq(s->gid, pw->pw_gid);
        cr_assert_geq(s->n_groups, 1);
        cr_assert_not_null(s->groups);
        cr_assert(groups_have(s, pw->pw_gid), "supplementary groups lack the primary group");
        cr_assert_not(groups_have(s, 0), "nobody must not keep root's group 0");
}

Test(config, user_and_group_by_name_and_number)
{
        dropin("a.conf",
               "service root-svc {\n  listen = { \"127.0.0.1:1\" }\n  exec = { \"" EXEC "\" }\n  user = \"root\"\n}\n"
               "service num {\n  listen = { \"127.0.0.1:2\" }\n  exec = { \"" EXEC "\" }\n  user = \"12345\"\n}\n"
               "service grp {\n  listen = { \"127.0.0.1:3\" }\n  exec = { \"" EXEC "\" }\n"
               "  user = \"root\"\n  group = \"4321\"\n}\n");
        load_ok();

        const struct service *r = service_named("root-svc");
        cr_assert_eq(r->uid, 0);
        cr_assert_eq(r->gid, 0);
        cr_assert(groups_have(r, 0));

        const struct service *n = service_named("num");
        cr_assert_str_eq(n->user, "12345");
        cr_assert_eq(n->uid, 12345, "a number without a passwd entry is used as is");
        cr_assert_eq(n->gid, 12345);
        cr_assert_eq(n->n_groups, 1);
        cr_assert_eq(n->groups[0], 12345);

        const struct service *g = service_named("grp");
        cr_assert_str_eq(g->group, "4321");
        cr_assert_eq(g->uid, 0);
        cr_assert_eq(g->gid, 4321);
}

Test(config, defaults_section_applies_and_service_overrides)
{
        write_main("defaults {\n"
                   "    user = \"root\"\n"
                   "    max-instances = 7\n"
                   "    stderr = null\n"
                   "    log-connections = yes\n"
                   "    env = { \"FROM_DEFAULTS=1\" }\n"
                   "}\n");
        dropin("a.conf", GOOD("plain") "service custom {\n"
                                       "    listen = { \"127.0.0.1:1206\" }\n"
                                       "    exec = { \"" EXEC "\", \"arg\" }\n"
                                       "    user = \"nobody\"\n"
                                       "    max-instances = 0\n"
                                       "    stderr = socket\n"
                                       "    log-connections = no\n"
                                       "    env = { \"OWN=2\" }\n"
                                       "}\n");
        load_ok();

        const struct service *p = service_named("plain");
        cr_assert_str_eq(p->user, "root");
        cr_assert_eq(p->uid, 0);
        cr_assert_eq(p->max_instances, 7);
        cr_assert_eq(p->stderr_mode, STDERR_NULL);
        cr_assert(p->log_connections);
        cr_assert(strv_has(p->env, "FROM_DEFAULTS=1"));
        cr_assert_eq(strv_length(p->env), 1);

        const struct service *c = service_named("custom");
        cr_assert_str_eq(c->user, "nobody");
        cr_assert_neq(c->uid, 0);
        cr_assert_eq(c->max_instances, 0, "0 (no limit) must override the default, not fall back to it");
        cr_assert_eq(c->stderr_mode, STDERR_SOCKET);
        cr_assert(!c->log_connections, "no must override the default yes");
        cr_assert_eq(strv_length(c->env), 1, "a service's env replaces the default list");
        cr_assert(strv_has(c->env, "OWN=2"));
        cr_assert_str_eq(c->argv[1], "arg");
        cr_assert_null(c->argv[2]);
}

Test(config, main_file_keys)
{
        write_main("# superd.conf\n"
                   "log-level = debug\n"
                   "max-children = 5\n");
        load_ok();
        cr_assert_eq(C->log_level, LOG_DEBUG);
        cr_assert_eq(C->max_children, 5);
        cr_assert_eq(C->n_services, 0);
}

Test(config, empty_services_dir)
{
        load_ok();
        cr_assert_eq(C->n_services, 0);
        cr_assert_str_eq(C->services_dir, services);
}

Test(config, dropin_order_is_lexical)
{
        dropin("b.conf", GOOD_ON("b", "1"));
        dropin("a.conf", GOOD_ON("a", "2"));
        dropin("c.conf", GOOD_ON("c", "3"));
        dropin("10-z.conf", GOOD_ON("z", "4") GOOD_ON("y", "5") GOOD_ON("x", "6"));
        load_ok();
        cr_assert_eq(C->n_services, 6);
        /* "10-z.conf" sorts before "a.conf"; inside a file, file order, not name order. */
        cr_assert_str_eq(service(0)->name, "z");
        cr_assert_str_eq(service(1)->name, "y");
        cr_assert_str_eq(service(2)->name, "x");
        cr_assert_str_eq(service(3)->name, "a");
        cr_assert_str_eq(service(4)->name, "b");
        cr_assert_str_eq(service(5)->name, "c");
        cr_assert_str_eq(service(4)->file, in_services("b.conf"));
}

Test(config, service_file_and_line)
{
        dropin("a.conf", "# header\n"        /* 1 */
                         "/* two\n"          /* 2 */
                         "   lines */\n"     /* 3 */
                         "service first {\n" /* 4 */
                         "    listen = { \"127.0.0.1:1\" }\n"
                         "    exec = { \"" EXEC "\" }\n"
                         "}\n"                /* 7 */
                         "// between\n"       /* 8 */
                         "\n"                 /* 9 */
                         "service second {\n" /* 10 */
                         "    listen = { \"127.0.0.1:2\" }\n"
                         "    exec = { \"" EXEC "\" }\n"
                         "}\n");
        load_ok();
        cr_assert_str_eq(service(0)->file, in_services("a.conf"));
        cr_assert_eq(service(0)->line, 4);
        cr_assert_eq(service(1)->line, 10);
}

/* The header promises the line where the section opens: its '{'. */
Test(config, service_line_with_brace_on_next_line)
{
        dropin("a.conf", "# x\n"           /* 1 */
                         "service first\n" /* 2 */
                         "{\n"             /* 3 */
                         "    listen = { \"127.0.0.1:1\" }\n"
                         "    exec = { \"" EXEC "\" }\n"
                         "}\n");
        load_ok();
        cr_assert_eq(service(0)->line, 3);
}

Test(config, ignored_names)
{
        dropin("real.conf", GOOD("real"));
        dropin("x.conf.disabled", GOOD("disabled"));
        dropin(".hidden.conf", GOOD("hidden"));
        dropin("README", GOOD("readme"));
        dropin("x.conf~", GOOD("backup"));
        dropin("x.conf.bak", GOOD("bak"));
        dropin(".conf", GOOD("dotconf"));
        char *d = tu_mkdir(services, "d.conf");
        free(tu_write(d, "inner.conf", 0644, GOOD("inner")));
        free(d);
        load_ok();
        cr_assert_eq(C->n_services, 1, "%zu services loaded, expected only 'real'", C->n_services);
        cr_assert_str_eq(service(0)->name, "real");
}

Test(config, symlink_to_regular_file_is_read)
{
        char *target = tu_write(dir, "elsewhere", 0644, GOOD("linked"));
        char *link = tu_path(services, "l.conf");

        cr_assert_eq(symlink(target, link), 0);
        load_ok();
        cr_assert_eq(C->n_services, 1);
        cr_assert_str_eq(service(0)->name, "linked");
        free(target);
        free(link);
}

Test(config, services_dir_relative_to_main_file)
{
        char *conf = tu_mkdir(dir, "etc");
        char *other = tu_mkdir(conf, "more.d");
        char *main2 = tu_write(conf, "main.conf", 0644, "services-dir = \"more.d\"\n");

        free(tu_write(other, "m.conf", 0644, GOOD("more")));
        dropin("a.conf", GOOD("not-this-one"));
        /* From another working directory, so a path relative to cwd would miss. */
        cr_assert_eq(chdir("/"), 0);
        cr_assert_eq(load_with(main2, NULL), 0, "errors:\n%s", E);
        cr_assert_str_eq(C->services_dir, other);
        cr_assert_eq(C->n_services, 1);
        cr_assert_str_eq(service(0)->name, "more");
        free(conf);
        free(other);
        free(main2);
}

Test(config, services_dir_argument_overrides)
{
        char *other = tu_mkdir(dir, "override.d");

        write_main("services-dir = \"services.d\"\n");
        free(tu_write(other, "o.conf", 0644, GOOD("override")));
        dropin("a.conf", GOOD("not-this-one"));
        cr_assert_eq(load_with(main_file, other), 0, "errors:\n%s", E);
        cr_assert_str_eq(C->services_dir, other);
        cr_assert_eq(C->n_services, 1);
        cr_assert_str_eq(service(0)->name, "override");
        char *file = tu_path(other, "o.conf");
        cr_assert_str_eq(service(0)->file, file);
        free(file);
        free(other);
}

Test(config, port_name_in_listen)
{
        if (access("/etc/services", R_OK) < 0)
                cr_skip_test("/etc/services is missing (install netbase)");
        dropin("a.conf", "service web {\n listen = { \"127.0.0.1:http\", \"[::1]:1205\", \"*:1206\" }\n"
                         " exec = { \"" EXEC "\" }\n}\n");
        load_ok();
        const struct service *s = service(0);
        cr_assert_eq(s->n_listen, 3);
        cr_assert_eq(ntohs(s->listen[0].in.sin_port), 80);
        cr_assert_eq(s->listen[1].family, AF_INET6);
        cr_assert(s->listen[2].dual_stack);
        cr_assert_str_eq(s->listen_text[0], "127.0.0.1:http");
}

Test(config, env_var_expansion)
{
        setenv("SUPERD_UNIT_VAR", "hello", 1);
        setenv("SUPERD_UNIT_STDERR", "null", 1);
        dropin("a.conf", "service a {\n"
                         "    listen = { \"127.0.0.1:1205\" }\n"
                         "    exec = { \"" EXEC "\", \"${SUPERD_UNIT_VAR}\", '${SUPERD_UNIT_VAR}' }\n"
                         "    env = { \"DQ=${SUPERD_UNIT_VAR}\", 'SQ=${SUPERD_UNIT_VAR}' }\n"
                         "    stderr = ${SUPERD_UNIT_STDERR}\n"
                         "}\n");
        load_ok();
        const struct service *s = service(0);
        cr_assert_str_eq(s->argv[1], "hello", "double quotes expand ${VAR}");
        cr_assert_str_eq(s->argv[2], "${SUPERD_UNIT_VAR}", "single quotes are literal");
        cr_assert(strv_has(s->env, "DQ=hello"));
        cr_assert(strv_has(s->env, "SQ=${SUPERD_UNIT_VAR}"));
        cr_assert_eq(s->stderr_mode, STDERR_NULL, "unquoted values expand ${VAR}");
}

Test(config, helpers_dir_variable)
{
        char *helpers = tu_mkdir(dir, "helpers");
        char *x = tu_write(helpers, "x", 0755, "#!/bin/sh\nexit 0\n");

        write_main("helpers-dir = \"helpers\"\n");
        dropin("a.conf", "service h {\n"
                         "    listen = { \"127.0.0.1:1205\" }\n"
                         "    exec = { \"${SUPERD_HELPERS}/x\", \"--flag\" }\n"
                         "}\n");
        load_ok();
        cr_assert_str_eq(C->helpers_dir, helpers, "helpers-dir is relative to the main file");
        cr_assert_str_eq(service(0)->argv[0], x);
        cr_assert_str_eq(service(0)->argv[1], "--flag");
        free(helpers);
        free(x);
}

Test(config, helpers_dir_absolute)
{
        char *helpers = tu_mkdir(dir, "abs-helpers");
        char *x = tu_write(helpers, "x", 0755, "#!/bin/sh\nexit 0\n");
        char *text;

        cr_assert(asprintf(&text, "helpers-dir = \"%s\"\n", helpers) >= 0);
        write_main(text);
        dropin("a.conf", "service h {\n listen = { \"127.0.0.1:1205\" }\n exec = { \"${SUPERD_HELPERS}/x\" }\n}\n");
        load_ok();
        cr_assert_str_eq(service(0)->argv[0], x);
        free(text);
        free(helpers);
        free(x);
}

Test(config, print_shows_services)
{
        dropin("a.conf",
               GOOD("alpha") "service beta {\n listen = { \"[::1]:2000\", \"*:2001\" }\n exec = { \"" EXEC "\" }\n}\n");
        load_ok();

        char *out = NULL;
        size_t size;
        FILE *f = open_memstream(&out, &size);
        cr_assert_not_null(f);
        config_print(C, f);
        cr_assert_eq(fclose(f), 0);
        cr_assert(strstr(out, "service alpha"), "no 'service alpha' in:\n%s", out);
        cr_assert(strstr(out, "service beta"), "no 'service beta' in:\n%s", out);
        cr_assert(strstr(out, "\"127.0.0.1:1205\""), "no alpha address in:\n%s", out);
        cr_assert(strstr(out, "\"[::1]:2000\""), "no beta address in:\n%s", out);
        cr_assert(strstr(out, "\"*:2001\""), "no beta address in:\n%s", out);
        cr_assert(strstr(out, EXEC), "no exec in:\n%s", out);
        cr_assert_lt(strstr(out, "service alpha"), strstr(out, "service beta"), "not in drop-in order:\n%s", out);
        free(out);
}

/* How often needle occurs in text. */
static unsigned count(const char *text, const char *needle)
{
        unsigned n = 0;

        for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

/* Does v[0..n) hold the prefix `text`? */
static bool has_cidr(const struct cidr *v, size_t n, const char *text)
{
        struct cidr c;
        const char *why;

        cr_assert_eq(cidr_parse(text, &c, &why), 0, "%s: %s", text, why);
        for (size_t i = 0; i < n; i++)
                if (v[i].prefix == c.prefix && memcmp(&v[i].addr, &c.addr, sizeof(c.addr)) == 0)
                        return true;
        return false;
}

/* config_print() of C, malloc'd. */
static char *print_config(void)
{
        char *out = NULL;
        size_t size;
        FILE *f = open_memstream(&out, &size);

        cr_assert_not_null(f);
        config_print(C, f);
        cr_assert_eq(fclose(f), 0);
        return out;
}

/* text without its lines that start with "# " (the FILE:LINE of each service), malloc'd. */
static char *without_file_comments(const char *text)
{
        char *out = malloc(strlen(text) + 1), *o = out;

        cr_assert_not_null(out);
        for (const char *p = text; *p;) {
                const char *nl = strchrnul(p, '\n');
                size_t n = (size_t)(nl - p) + (*nl == '\n');
                if (strncmp(p, "# ", 2) != 0) {
                        memcpy(o, p, n);
                        o += n;
                }
                p += n;
        }
        *o = '\0';
        return out;
}

/* A value holding every character that means something to libconfuse or to a terminal. */
#define NASTY "a\"b\\c\nd\x1b[1m${HOME}}e\x7f\t\xc3\xbc' #x //y /*z*/"

/*
 * `superd -t` output parses back to the same configuration: parse, print,
 * parse the printed text (main part as the main file, services as a
 * drop-in), print again, compare. Strings hold quotes, backslashes, control
 * characters, "${...}" that must not be expanded again, and comment markers.
 */
Test(config, print_parses_back_to_the_same_configuration)
{
        char *wd, *text, *out1, *out2, *a, *b, *split;
        const struct service *s;

        setenv("SUPERD_UNIT_NASTY", NASTY, 1);
        wd = tu_mkdir(dir, "wd \"\\\n${W}");
        write_main("helpers-dir = \"helpers \\\"q\\\" \\\\ \\${X} $HOME\"\n"
                   "status-socket = \"/tmp/s\\n\\\"\\\\\\${Y}.sock\"\n"
                   "defaults {\n    env = { \"D=${SUPERD_UNIT_NASTY}\" }\n}\n");
        cr_assert(asprintf(&text,
                           "service nasty {\n"
                           "    listen = { \"127.0.0.1:1205\", \"unix:/tmp/x\\\"y\\\\z\\n\\${Z}\" }\n"
                           "    exec = { \"" EXEC "\", \"a\\\"b\", \"c\\\\d\", \"e\\nf\", \"raw\nline\",\n"
                           "             \"g\\x1b[31mh\\x7f\", \"\\${NOT}\", \"$\", \"{}#//*\", 'sq\\'s ${X}',\n"
                           "             \"tab\\there\", \"\\x01\", \"\xc3\xbc\", \"ends in backslash\\\\\" }\n"
                           "    working-directory = \"%s/wd \\\"\\\\\\n\\${W}\"\n"
                           "}\n"
                           "service proxied {\n"
                           "    listen = { \"127.0.0.1:1206\", \"unix:/tmp/superd-unit-proxied.sock\" }\n"
                           "    exec = { \"" EXEC "\" }\n"
                           "    proxy-protocol = any\n"
                           "    proxy-from = { \"10.0.0.0/8\", \"2001:db8::/32\", \"192.0.2.1\" }\n"
                           "    proxy-timeout = 30\n"
                           "    proxy-health = close\n"
                           "}\n"
                           "service local {\n"
                           "    listen = { \"unix:/tmp/superd-unit-local.sock\" }\n"
                           "    exec = { \"" EXEC "\" }\n"
                           "    proxy-protocol = v1\n"
                           "}\n",
                           dir) >= 0);
        dropin("a.conf", text);
        load_ok();
        s = service(0);
        cr_assert_str_eq(s->argv[1], "a\"b");
        cr_assert_str_eq(s->argv[6], "${NOT}");
        cr_assert_str_eq(s->process.working_directory, wd);
        cr_assert(strv_has(s->env, "D=" NASTY));
        out1 = print_config();

        /* One line per setting: no control character but '\n' is printed. */
        for (const char *p = out1; *p; p++)
                cr_assert(((unsigned char)*p >= 0x20 && *p != 0x7f) || *p == '\n', "byte 0x%02x at %zu in:\n%s",
                          (unsigned char)*p, (size_t)(p - out1), out1);
        cr_assert(strstr(out1, "\"a\\\"b\", \"c\\\\d\", \"e\\nf\", \"raw\\nline\""), "in:\n%s", out1);
        cr_assert(strstr(out1, "\"g\\x1b[31mh\\x7f\", \"\\${NOT}\", \"$\""), "in:\n%s", out1);
        /* proxy-protocol always; proxy-from, proxy-timeout and proxy-health only where it is set. */
        cr_assert_eq(count(out1, "proxy-protocol = "), 3, "in:\n%s", out1);
        cr_assert(strstr(out1, "proxy-protocol = no\n"), "in:\n%s", out1);
        cr_assert(strstr(out1, "proxy-protocol = any\n"), "in:\n%s", out1);
        cr_assert(strstr(out1, "proxy-protocol = v1\n"), "in:\n%s", out1);
        cr_assert(strstr(out1, "proxy-from     = { \"10.0.0.0/8\", \"2001:db8::/32\", \"192.0.2.1/32\" }\n"), "in:\n%s",
                  out1);
        cr_assert_eq(count(out1, "proxy-from "), 1, "no proxy-from where none is set, in:\n%s", out1);
        cr_assert(strstr(out1, "proxy-timeout  = 30\n"), "in:\n%s", out1);
        cr_assert(strstr(out1, "proxy-timeout  = 3\n"), "in:\n%s", out1);
        cr_assert_eq(count(out1, "proxy-timeout "), 2, "in:\n%s", out1);
        cr_assert(strstr(out1, "proxy-health   = close\n"), "in:\n%s", out1);
        cr_assert(strstr(out1, "proxy-health   = spawn\n"), "in:\n%s", out1);
        cr_assert_eq(count(out1, "proxy-health "), 2, "in:\n%s", out1);

        split = strstr(out1, "\n\n# ");
        cr_assert_not_null(split, "no service after the main part in:\n%s", out1);
        a = strndup(out1, (size_t)(split - out1) + 1);
        unsetenv("SUPERD_UNIT_NASTY"); /* nothing may be expanded again */
        write_main(a);
        dropin("a.conf", split + 2);
        load_ok();
        s = service(0);
        cr_assert_str_eq(s->argv[1], "a\"b");
        cr_assert_str_eq(s->argv[4], "raw\nline");
        cr_assert_str_eq(s->argv[6], "${NOT}");
        cr_assert_str_eq(s->argv[9], "sq's ${X}");
        cr_assert_str_eq(s->argv[13], "ends in backslash\\");
        cr_assert_str_eq(s->listen_text[1], "unix:/tmp/x\"y\\z\n${Z}");
        cr_assert_str_eq(s->process.working_directory, wd);
        cr_assert(strv_has(s->env, "D=" NASTY));
        cr_assert_str_eq(C->status_socket, "/tmp/s\n\"\\${Y}.sock");
        cr_assert_eq(s->proxy_protocol, 0);
        s = service_named("proxied");
        cr_assert_eq(s->proxy_protocol, 3);
        cr_assert_eq(s->n_proxy_from, 3);
        cr_assert(has_cidr(s->proxy_from, s->n_proxy_from, "192.0.2.1"));
        cr_assert_eq(s->proxy_timeout, 30);
        cr_assert(s->proxy_health_close);
        s = service_named("local");
        cr_assert_eq(s->proxy_protocol, 1);
        cr_assert_eq(s->n_proxy_from, 0);
        cr_assert_eq(s->proxy_timeout, PROXY_TIMEOUT_DEFAULT);
        cr_assert_not(s->proxy_health_close);
        out2 = print_config();

        free(a);
        a = without_file_comments(out1);
        b = without_file_comments(out2);
        cr_assert_str_eq(a, b, "printed twice differently:\n%s\n---- then ----\n%s", out1, out2);
        free(a);
        free(b);
        free(out1);
        free(out2);
        free(text);
        free(wd);
}

/* ---- errors: each one as FILE:LINE: message, the load refused ---- */

Test(config, error_unknown_key)
{
        dropin("t.conf", PRE "    bogus-key = 1\n" POST);
        expect_only_error("t.conf", 8, "bogus-key");
}

Test(config, error_bad_port_name)
{
        dropin("t.conf", PRE "    listen = { \"127.0.0.1:abc\" }\n    exec = { \"" EXEC "\" }\n}\n");
        expect_only_error("t.conf", 8, "127.0.0.1:abc");
}

Test(config, error_port_out_of_range)
{
        dropin("t.conf", PRE "    listen = { \"127.0.0.1:70000\" }\n    exec = { \"" EXEC "\" }\n}\n");
        expect_only_error("t.conf", 8, "127.0.0.1:70000");
}

Test(config, error_unparsable_address)
{
        dropin("t.conf", PRE "    listen = { \"1.2.3:80\" }\n    exec = { \"" EXEC "\" }\n}\n");
        expect_only_error("t.conf", 8, "1.2.3:80");
}

/* A key given twice in one section: the second value must be checked too. */
Test(config, error_key_repeated_in_section)
{
        dropin("t.conf", "service svc {\n"               /* 1 */
                         "    env = { \"A=1\" }\n"       /* 2 */
                         "    env = { \"PATH=/tmp\" }\n" /* 3 */
                         "    listen = { \"127.0.0.1:1205\" }\n"
                         "    exec = { \"" EXEC "\" }\n"
                         "}\n");
        int r = load();
        cr_assert_eq(r, -EINVAL, "env PATH=/tmp accepted when env is given twice; errors:\n%s", E);
        cr_assert(reported("t.conf", 3, "PATH"), "expected t.conf:3 in:\n%s", E);
}

/*
 * The same with a scalar and a list whose second value is bad: the load
 * must fail with the error, never succeed without the service.
 */
Test(config, error_scalar_repeated_in_section)
{
        dropin("t.conf", "service svc {\n"                       /* 1 */
                         "    listen = { \"127.0.0.1:1205\" }\n" /* 2 */
                         "    exec = { \"" EXEC "\" }\n"         /* 3 */
                         "    user = \"root\"\n"                 /* 4 */
                         "    user = \"no-such-user-xyz\"\n"     /* 5 */
                         "}\n");
        int r = load();
        cr_assert_eq(r, -EINVAL, "config_load = %d (%zu services); errors:\n%s", r, r ? 0 : C->n_services, E);
        cr_assert(reported("t.conf", 5, "no-such-user-xyz"), "expected t.conf:5 in:\n%s", E);
}

Test(config, error_listen_repeated_in_section)
{
        dropin("t.conf", "service svc {\n"                       /* 1 */
                         "    listen = { \"127.0.0.1:1205\" }\n" /* 2 */
                         "    listen = { \"127.0.0.1:0\" }\n"    /* 3 */
                         "    exec = { \"" EXEC "\" }\n"
                         "}\n");
        int r = load();
        cr_assert_eq(r, -EINVAL, "config_load = %d (%zu services); errors:\n%s", r, r ? 0 : C->n_services, E);
        cr_assert(reported("t.conf", 3, "127.0.0.1:0"), "expected t.conf:3 in:\n%s", E);
}

/* A bad address that is not the last of its list must be reported too, at its line. */
Test(config, error_bad_address_first_in_list)
{
        dropin("t.conf", PRE "    listen = { \"127.0.0.1:0\", \"127.0.0.1:1205\" }\n    exec = { \"" EXEC "\" }\n}\n");
        expect_only_error("t.conf", 8, "127.0.0.1:0");
}

Test(config, error_bad_address_in_multiline_list)
{
        dropin("t.conf", PRE "    listen = {\n"           /* 8 */
                             "        \"127.0.0.1:1\",\n" /* 9 */
                             "        \"localhost:2\",\n" /* 10 */
                             "        \"127.0.0.1:3\"\n"  /* 11 */
                             "    }\n"
                             "    exec = { \"" EXEC "\" }\n}\n");
        int r = load();
        cr_assert_eq(r, -EINVAL, "config_load = %d; errors:\n%s", r, E);
        cr_assert(tu_has_line(E, in_services("t.conf"), "localhost:2"), "bad address not reported:\n%s", E);
        cr_assert(reported("t.conf", 10, "localhost:2"), "expected t.conf:10 in:\n%s", E);
}

Test(config, error_duplicate_listen)
{
        dropin("t.conf",
               PRE "    listen = { \"127.0.0.1:1205\", \"127.0.0.1:1205\" }\n    exec = { \"" EXEC "\" }\n}\n");
        int r = load();
        cr_assert_eq(r, -EINVAL, "config_load = %d; errors:\n%s", r, E);
        cr_assert(tu_has_line(E, in_services("t.conf"), "twice"), "not reported:\n%s", E);
}

Test(config, error_missing_exec)
{
        dropin("t.conf", PRE "    listen = { \"127.0.0.1:1205\" }\n}\n");
        expect_only_error("t.conf", 6, "exec");
}

Test(config, error_missing_listen)
{
        dropin("t.conf", PRE "    exec = { \"" EXEC "\" }\n}\n");
        expect_only_error("t.conf", 6, "listen");
}

Test(config, error_empty_service)
{
        /* With no key inside, libconfuse leaves only the closing brace's line to report. */
        dropin("t.conf", "# empty\n\nservice svc {\n}\n");
        int r = load();
        cr_assert_eq(r, -EINVAL, "config_load = %d; errors:\n%s", r, E);
        cr_assert(reported("t.conf", 4, "svc"), "expected t.conf:4 in:\n%s", E);
}

Test(config, error_relative_exec)
{
        dropin("t.conf", PRE "    exec = { \"bin/true\" }\n    listen = { \"127.0.0.1:1205\" }\n}\n");
        expect_only_error("t.conf", 8, "bin/true");
}

Test(config, error_exec_missing_file)
{
        char *text, *missing = tu_path(dir, "no-such-handler");

        cr_assert(asprintf(&text, PRE "    exec = { \"%s\" }\n    listen = { \"127.0.0.1:1205\" }\n}\n", missing) >= 0);
        dropin("t.conf", text);
        expect_only_error("t.conf", 8, missing);
        free(text);
        free(missing);
}

Test(config, error_exec_not_executable)
{
        char *plain = tu_write(dir, "not-executable", 0644, "#!/bin/sh\n");
        char *text;

        cr_assert(asprintf(&text, PRE "    exec = { \"%s\" }\n    listen = { \"127.0.0.1:1205\" }\n}\n", plain) >= 0);
        dropin("t.conf", text);
        expect_only_error("t.conf", 8, plain);
        free(text);
        free(plain);
}

Test(config, error_unknown_user)
{
        dropin("t.conf", PRE "    user = \"no-such-user-xyz\"\n" POST);
        expect_only_error("t.conf", 8, "no-such-user-xyz");
}

Test(config, error_unknown_group)
{
        dropin("t.conf", PRE "    group = \"no-such-group-xyz\"\n" POST);
        expect_only_error("t.conf", 8, "no-such-group-xyz");
}

Test(config, error_stderr_bogus)
{
        dropin("t.conf", PRE "    stderr = \"bogus\"\n" POST);
        expect_only_error("t.conf", 8, "bogus");
}

Test(config, error_socket_type_bogus)
{
        dropin("t.conf", PRE "    socket-type = \"bogus\"\n" POST);
        expect_only_error("t.conf", 8, "bogus");
}

Test(config, error_env_without_equals)
{
        dropin("t.conf", PRE_EXEC "    env = { \"JUSTANAME\" }\n" POST_LISTEN);
        expect_only_error("t.conf", 8, "JUSTANAME");
}

Test(config, error_env_bad_name)
{
        dropin("t.conf", PRE_EXEC "    env = { \"1BAD=x\" }\n" POST_LISTEN);
        expect_only_error("t.conf", 8, "1BAD");
}

Test(config, error_env_overrides_connection_variable)
{
        dropin("t.conf", PRE_EXEC "    env = { \"TCPREMOTEIP=x\" }\n" POST_LISTEN);
        expect_only_error("t.conf", 8, "TCPREMOTEIP");
}

Test(config, error_env_overrides_path)
{
        dropin("t.conf", PRE_EXEC "    env = { \"PATH=/tmp\" }\n" POST_LISTEN);
        expect_only_error("t.conf", 8, "PATH");
}

Test(config, error_env_overrides_service_name)
{
        dropin("t.conf", PRE_EXEC "    env = { \"SUPERD_SERVICE=other\" }\n" POST_LISTEN);
        expect_only_error("t.conf", 8, "SUPERD_SERVICE");
}

/* The bad entry is not the last one of the list. */
Test(config, error_env_bad_entry_first_in_list)
{
        dropin("t.conf", PRE_EXEC "    env = { \"REMOTE_ADDR=x\", \"OK=1\" }\n" POST_LISTEN);
        expect_only_error("t.conf", 8, "REMOTE_ADDR");
}

Test(config, error_pass_env_bad_name)
{
        dropin("t.conf", PRE "    pass-env = { \"NOT-A-NAME\" }\n" POST);
        expect_only_error("t.conf", 8, "NOT-A-NAME");
}

Test(config, error_pass_env_connection_variable)
{
        dropin("t.conf", PRE_EXEC "    pass-env = { \"TCPREMOTEPORT\" }\n" POST_LISTEN);
        expect_only_error("t.conf", 8, "TCPREMOTEPORT");
}

Test(config, error_max_instances_negative)
{
        dropin("t.conf", PRE "    max-instances = -1\n" POST);
        expect_only_error("t.conf", 8, "max-instances");
}

Test(config, error_max_instances_not_a_number)
{
        dropin("t.conf", PRE "    max-instances = many\n" POST);
        int r = load();
        cr_assert_eq(r, -EINVAL, "config_load = %d; errors:\n%s", r, E);
        cr_assert(reported("t.conf", 8, NULL), "expected t.conf:8 in:\n%s", E);
}

Test(config, error_syntax)
{
        dropin("t.conf", PRE "    listen = = { \"127.0.0.1:1205\" }\n    exec = { \"" EXEC "\" }\n}\n");
        int r = load();
        cr_assert_eq(r, -EINVAL, "config_load = %d; errors:\n%s", r, E);
        cr_assert(reported("t.conf", 8, NULL), "expected t.conf:8 in:\n%s", E);
}

Test(config, error_unterminated_section)
{
        /* libconfuse 3.3 accepts end of file inside a section. */
        dropin("t.conf", GOOD("a") "service b {\n    listen = { \"127.0.0.1:9\" }\n    exec = { \"" EXEC "\" }\n");
        int r = load();
        cr_assert_eq(r, -EINVAL, "config_load = %d; errors:\n%s", r, E);
        cr_assert(tu_has_line(E, in_services("t.conf"), NULL), "not reported:\n%s", E);
}

Test(config, error_bad_service_name)
{
        dropin("t.conf", "\n\nservice \"bad name/\" {\n  listen = { \"127.0.0.1:1\" }\n  exec = { \"" EXEC "\" }\n}\n");
        expect_only_error("t.conf", 3, "bad name/");
}

/* SERVICE_NAME_MAX bytes are a name (SUPERD_SERVICE holds it whole), one more is an error. */
Test(config, service_name_length)
{
        char name[SERVICE_NAME_MAX + 2], text[512];

        memset(name, 'n', SERVICE_NAME_MAX);
        name[SERVICE_NAME_MAX] = '\0';
        snprintf(text, sizeof(text), "\nservice %s {\n  listen = { \"127.0.0.1:1\" }\n  exec = { \"" EXEC "\" }\n}\n", name);
        dropin("a.conf", text);
        load_ok();
        cr_assert_str_eq(service(0)->name, name);
        strcat(name, "m");
        snprintf(text, sizeof(text), "\nservice %s {\n  listen = { \"127.0.0.1:1\" }\n  exec = { \"" EXEC "\" }\n}\n", name);
        dropin("a.conf", text);
        expect_only_error("a.conf", 2, "at most 255 bytes");
}

/* '#' and '//' inside quoted strings are text, in either quote style. */
Test(config, comment_markers_inside_quotes)
{
        dropin("a.conf", "service a {\n"
                         "    env = { \"A=#1\", 'B=#2', \"C=//3\", \"D=/*4*/\", \"E=\\\"#5\" }\n"
                         "    listen = { \"127.0.0.1:1205\" } # end\n"
                         "    exec = { \"" EXEC "\" }\n"
                         "}\n");
        load_ok();
        const struct service *s = service(0);
        cr_assert(strv_has(s->env, "A=#1"));
        cr_assert(strv_has(s->env, "B=#2"));
        cr_assert(strv_has(s->env, "C=//3"));
        cr_assert(strv_has(s->env, "D=/*4*/"));
        cr_assert(strv_has(s->env, "E=\"#5"));
}

/* libconfuse reads "//" inside an unquoted word as text (a URL, a path), not as a comment. */
Test(config, double_slash_inside_unquoted_word)
{
        dropin("a.conf", "service a {\n"
                         "    listen = { \"127.0.0.1:1205\" }\n"
                         "    exec = { " EXEC ", http://example.com/x, a//b }\n"
                         "}\n");
        load_ok();
        const struct service *s = service(0);
        cr_assert_str_eq(s->argv[0], EXEC);
        cr_assert_str_eq(s->argv[1], "http://example.com/x");
        cr_assert_str_eq(s->argv[2], "a//b");
        cr_assert_null(s->argv[3]);
}

/* A comment right after a closing quote is a comment to libconfuse: its quote opens no string. */
Test(config, comment_right_after_a_string)
{
        dropin("t.conf", "service a {\n"                             /* 1 */
                         "    stderr = \"log\"// it's the default\n" /* 2 */
                         "    env = { \"A=1\" }/* it's */\n"         /* 3 */
                         "    listen = { \"127.0.0.1:1205\" }\n"     /* 4 */
                         "    exec = { \"" EXEC "\" }\n"             /* 5 */
                         "    user = \"no-such-user-xyz\"\n"         /* 6 */
                         "}\n");
        expect_only_error("t.conf", 6, "no-such-user-xyz");
}

/*
 * libconfuse reads "${...}" in double quotes, or starting a token, as one
 * token up to the next '}', whatever it holds: a quote or '#' in a default
 * value does not end the string or start a comment.
 */
Test(config, quote_and_hash_inside_env_default)
{
        unsetenv("SUPERD_UNIT_NOPE");
        dropin("a.conf", "service a {\n"
                         "    env = { \"X=${SUPERD_UNIT_NOPE:-a\"b#c}\", ${SUPERD_UNIT_NOPE:-Y=#'} } # it's\n"
                         "    listen = { \"127.0.0.1:1205\" }\n"
                         "    exec = { \"" EXEC "\" }\n"
                         "}\n");
        load_ok();
        cr_assert(strv_has(service(0)->env, "X=a\"b#c"), "env[0] = %s", service(0)->env[0]);
        cr_assert(strv_has(service(0)->env, "Y=#'"), "env[1] = %s", service(0)->env[1]);
}

/*
 * libconfuse 3.3 accepts end of file inside a string (the string is dropped),
 * and with a '\' as the last byte its lexer writes that '\' to stdout.
 * Returns what config_load() wrote to stdout, malloc'd.
 */
static char *load_capturing_stdout(int *ret)
{
        char path[] = "/tmp/superd-unit-stdout.XXXXXX";
        int fd = mkstemp(path), saved = dup(STDOUT_FILENO);
        char *text = malloc(4096);
        ssize_t n;

        cr_assert(fd >= 0 && saved >= 0 && text);
        unlink(path);
        fflush(stdout);
        cr_assert(dup2(fd, STDOUT_FILENO) == STDOUT_FILENO);
        *ret = load();
        fflush(stdout);
        cr_assert(dup2(saved, STDOUT_FILENO) == STDOUT_FILENO);
        close(saved);
        n = pread(fd, text, 4095, 0);
        cr_assert(n >= 0);
        text[n] = '\0';
        close(fd);
        return text;
}

/* TEXT, a drop-in that ends inside a string or comment opened on LINE: one error there, nothing on stdout. */
static void expect_unterminated(const char *text, int line, const char *what)
{
        char *out;
        int r;

        dropin("t.conf", text);
        out = load_capturing_stdout(&r);
        cr_assert_eq(r, -EINVAL, "config_load = %d, expected -EINVAL; errors:\n%s", r, E);
        cr_assert_str_empty(out, "written to stdout: \"%s\"", out);
        cr_assert(reported("t.conf", line, what), "expected t.conf:%d: %s in:\n%s", line, what, E);
        cr_assert_eq(tu_count_lines(E), 1, "expected one error, got:\n%s", E);
        free(out);
}

Test(config, error_unterminated_double_quote)
{
        expect_unterminated(GOOD("a") "\n\"abc", 6, "unterminated string");
}

Test(config, error_unterminated_double_quote_ending_in_backslash)
{
        expect_unterminated(GOOD("a") "\"\\", 5, "unterminated string");
}

Test(config, error_unterminated_single_quote_ending_in_backslash)
{
        expect_unterminated(GOOD("a") "# it's\n'x\\", 6, "unterminated string");
}

Test(config, error_unterminated_string_inside_section)
{
        expect_unterminated("service a {\n    listen = { \"127.0.0.1:1205\" }\n    exec = { \"" EXEC "\" }\n"
                            "    env = { \"A=1\\\"\n}\n}\n",
                            4, "unterminated string");
}

Test(config, error_unterminated_block_comment)
{
        expect_unterminated(GOOD("a") "\n/* never closed\nservice b {}\n", 6, "unterminated comment");
}

/* A message quoting a configured value is still one line, whatever the value holds. */
Test(config, error_message_is_one_line)
{
        dropin("t.conf", "service a {\n"
                         "    listen = { \"127.0.0.1:1205\" }\n"
                         "    exec = { \"/nonexistent\\nt.conf:1: forged\" }\n"
                         "}\n");
        expect_only_error("t.conf", 3, "/nonexistent\\nt.conf:1: forged");
}

Test(config, empty_and_comment_only_dropins)
{
        dropin("a.conf", "");
        dropin("b.conf", "# nothing here\n/* at all */\n");
        dropin("c.conf", GOOD("c"));
        load_ok();
        cr_assert_eq(C->n_services, 1);
}

/* Lines stay right after many comments of each kind, far down a file. */
Test(config, error_line_after_many_comments)
{
        char *text = NULL;
        size_t size;
        FILE *f = open_memstream(&text, &size);
        int line = 0;

        cr_assert_not_null(f);
        for (int i = 0; i < 10; i++) {
                fprintf(f, "# hash %d\n// slash %d\n/* block %d */\n/*\n * multi\n */\n\n", i, i, i);
                line += 7;
        }
        fprintf(f, "service svc { # opened\n");
        line++;
        fprintf(f, "    env = { \"X=1\" } /* inline block */ // and line\n");
        line++;
        fprintf(f, "    listen = { \"127.0.0.1:1205\" } # comment\n");
        line++;
        fprintf(f, "    user = \"no-such-user-xyz\"\n");
        line++;
        fprintf(f, "    exec = { \"" EXEC "\" }\n}\n");
        cr_assert_eq(fclose(f), 0);
        dropin("t.conf", text);
        free(text);
        expect_only_error("t.conf", line, "no-such-user-xyz");
}

Test(config, several_errors_in_one_file)
{
        dropin("t.conf", "# several\n"                                    /* 1 */
                         "service a {\n"                                  /* 2 */
                         "    listen = { \"127.0.0.1:0\" }  # bad port\n" /* 3 */
                         "    exec = { \"relative\" }\n"                  /* 4 */
                         "    stderr = \"bogus\"\n"                       /* 5 */
                         "}\n"                                            /* 6 */
                         "// next\n"                                      /* 7 */
                         "service b {\n"                                  /* 8 */
                         "    listen = { \"127.0.0.1:1205\" }\n"          /* 9 */
                         "    exec = { \"" EXEC "\" }\n"                  /* 10 */
                         "    user = \"no-such-user-xyz\"\n"              /* 11 */
                         "}\n" GOOD("c"));
        int r = load();
        cr_assert_eq(r, -EINVAL, "config_load = %d; errors:\n%s", r, E);
        cr_assert(reported("t.conf", 3, "127.0.0.1:0"), "port error missing from:\n%s", E);
        cr_assert(reported("t.conf", 4, "relative"), "exec error missing from:\n%s", E);
        cr_assert(reported("t.conf", 5, "bogus"), "stderr error missing from:\n%s", E);
        cr_assert(reported("t.conf", 11, "no-such-user-xyz"), "user error missing from:\n%s", E);
        cr_assert_eq(tu_count_lines(E), 4, "expected 4 errors, got:\n%s", E);
}

Test(config, errors_in_two_files)
{
        dropin("a.conf", "service a {\n    listen = { \"127.0.0.1:99999\" }\n    exec = { \"" EXEC "\" }\n}\n");
        dropin("b.conf", GOOD("ok"));
        dropin("c.conf", "\n\nservice c {\n    listen = { \"127.0.0.1:1\" }\n    exec = { \"" EXEC "\" }\n"
                         "    stderr = \"wrong\"\n}\n");
        int r = load();
        cr_assert_eq(r, -EINVAL, "config_load = %d; errors:\n%s", r, E);
        cr_assert(reported("a.conf", 2, "99999"), "a.conf error missing from:\n%s", E);
        cr_assert(reported("c.conf", 6, "wrong"), "c.conf error missing from:\n%s", E);
        cr_assert_eq(tu_count_lines(E), 2, "expected 2 errors, got:\n%s", E);
}

/* One bad drop-in refuses the whole load, even when every other file is good. */
Test(config, bad_dropin_refuses_load)
{
        dropin("a.conf", GOOD("a"));
        dropin("b.conf", "service b {\n    listen = { \"127.0.0.1:0\" }\n    exec = { \"" EXEC "\" }\n}\n");
        dropin("c.conf", GOOD("c"));
        cr_assert_eq(load(), -EINVAL);
        cr_assert_null(C);
}

Test(config, duplicate_service_across_files)
{
        dropin("a.conf",
               "# first\n\nservice dup {\n    listen = { \"127.0.0.1:1\" }\n    exec = { \"" EXEC "\" }\n}\n");
        dropin("b.conf", GOOD("other") "// second\nservice dup {\n    listen = { \"127.0.0.1:2\" }\n"
                                       "    exec = { \"" EXEC "\" }\n}\n");
        int r = load();
        cr_assert_eq(r, -EINVAL, "config_load = %d; errors:\n%s", r, E);
        /* Reported at the second definition, naming the first: b.conf:6 ... a.conf:3. */
        char *first;
        cr_assert(asprintf(&first, "%s:3", in_services("a.conf")) >= 0);
        cr_assert(reported("b.conf", 6, first), "expected b.conf:6 naming %s in:\n%s", first, E);
        cr_assert(reported("b.conf", 6, "dup"), "message does not name the service:\n%s", E);
        cr_assert_eq(tu_count_lines(E), 1, "expected one error, got:\n%s", E);
        free(first);
}

Test(config, duplicate_service_in_one_file)
{
        dropin("a.conf", GOOD("dup") "\n" GOOD("dup"));
        int r = load();
        cr_assert_eq(r, -EINVAL, "config_load = %d; errors:\n%s", r, E);
        char *first;
        cr_assert(asprintf(&first, "%s:1", in_services("a.conf")) >= 0);
        cr_assert(reported("a.conf", 6, first), "expected a.conf:6 naming %s in:\n%s", first, E);
        free(first);
}

Test(config, error_in_defaults_names_main_file)
{
        write_main("# main\n"                          /* 1 */
                   "/* block */\n"                     /* 2 */
                   "defaults {\n"                      /* 3 */
                   "    user = \"no-such-user-xyz\"\n" /* 4 */
                   "}\n");
        dropin("a.conf", GOOD("a"));
        int r = load();
        cr_assert_eq(r, -EINVAL, "config_load = %d; errors:\n%s", r, E);
        cr_assert(reported(NULL, 4, "no-such-user-xyz"), "expected superd.conf:4 in:\n%s", E);
}

/* Errors libconfuse itself finds inside `defaults` name the main file too (it left the name out). */
Test(config, error_libconfuse_in_defaults_names_main_file)
{
        write_main("# main\n"              /* 1 */
                   "defaults {\n"          /* 2 */
                   "    no-such-key = 1\n" /* 3 */
                   "}\n");
        dropin("a.conf", GOOD("a"));
        int r = load();
        cr_assert_eq(r, -EINVAL, "config_load = %d; errors:\n%s", r, E);
        cr_assert(reported(NULL, 3, "no-such-key"), "expected superd.conf:3 in:\n%s", E);

        write_main("defaults {\n    timeout = soon\n}\n");
        r = load();
        cr_assert_eq(r, -EINVAL, "config_load = %d; errors:\n%s", r, E);
        cr_assert(reported(NULL, 2, "timeout"), "expected superd.conf:2 in:\n%s", E);

        write_main("\ndefaults {\n    env = { \"A=1\" \"B=2\" }\n}\n");
        r = load();
        cr_assert_eq(r, -EINVAL, "config_load = %d; errors:\n%s", r, E);
        cr_assert(reported(NULL, 3, NULL), "expected superd.conf:3 in:\n%s", E);
        cr_assert_null(strstr(E, "?:"), "a file named '?' in:\n%s", E);
}

Test(config, error_bad_log_level)
{
        write_main("# main\n\nlog-level = chatty\n");
        int r = load();
        cr_assert_eq(r, -EINVAL, "config_load = %d; errors:\n%s", r, E);
        cr_assert(reported(NULL, 3, "chatty"), "expected superd.conf:3 in:\n%s", E);
}

Test(config, error_bad_max_children)
{
        write_main("# main\n\nmax-children = -1\n");
        int r = load();
        cr_assert_eq(r, -EINVAL, "config_load = %d; errors:\n%s", r, E);
        cr_assert(reported(NULL, 3, "max-children"), "expected superd.conf:3 in:\n%s", E);
}

Test(config, error_unknown_key_in_main_file)
{
        write_main("# main\n// more\nno-such-key = 1\n");
        int r = load();
        cr_assert_eq(r, -EINVAL, "config_load = %d; errors:\n%s", r, E);
        cr_assert(reported(NULL, 3, "no-such-key"), "expected superd.conf:3 in:\n%s", E);
}

Test(config, error_missing_main_file)
{
        char *missing = tu_path(dir, "missing.conf");

        cr_assert_lt(load_with(missing, NULL), 0);
        cr_assert(tu_has_line(E, missing, NULL), "the missing file is not named:\n%s", E);
        free(missing);
}

Test(config, error_missing_services_dir)
{
        char *missing = tu_path(dir, "no-such.d");

        cr_assert_eq(load_with(main_file, missing), -ENOENT);
        cr_assert(tu_has_line(E, missing, NULL), "the missing folder is not named:\n%s", E);
        free(missing);
}

/* A failed load leaves no state behind: the next one, fixed, succeeds. */
Test(config, reload_after_error)
{
        dropin("a.conf", "service a {\n    listen = { \"127.0.0.1:0\" }\n    exec = { \"" EXEC "\" }\n}\n");
        cr_assert_eq(load(), -EINVAL);
        dropin("a.conf", GOOD("a"));
        load_ok();
        cr_assert_eq(C->n_services, 1);
        cr_assert_eq(service(0)->line, 1);
}

/* Two services on one address: the second could never bind, so it is a configuration error naming both. */
Test(config, error_listen_address_used_twice)
{
        dropin("a.conf", GOOD_ON("a", "7"));
        dropin("b.conf", "\n" GOOD_ON("b", "7"));
        int r = load();
        cr_assert_eq(r, -EINVAL, "config_load = %d; errors:\n%s", r, E);
        cr_assert(reported("b.conf", 2, "already used by service 'a'"), "not reported:\n%s", E);
        cr_assert(strstr(E, in_services("a.conf")) != NULL, "first place not named:\n%s", E);
        cr_assert_eq(tu_count_lines(E), 1, "expected one error, got:\n%s", E);
}

/* A disabled service does not listen, so it does not conflict. */
Test(config, disabled_service_does_not_conflict)
{
        dropin("a.conf", GOOD_ON("a", "8"));
        dropin("b.conf", "service b {\n    listen = { \"127.0.0.1:8\" }\n    exec = { \"" EXEC "\" }\n    disable = yes\n}\n");
        load_ok();
        cr_assert_eq(C->n_services, 2);
}

/* ---- socket kinds, builtins and socket options (issue 3) ---- */

/* A one-service drop-in on line 1 with BODY inside; errors about combinations point at line 1. */
static void service_with(const char *body)
{
        char *text;

        cr_assert(asprintf(&text, "service s {\n%s}\n", body) > 0);
        dropin("s.conf", text);
        free(text);
}

static const struct service *only_service(void)
{
        load_ok();
        cr_assert_eq(C->n_services, 1);
        return C->services[0];
}

Test(config, dgram_defaults_to_wait_and_stream_to_nowait)
{
        service_with("    listen = { \"127.0.0.1:69\" }\n    socket-type = dgram\n    exec = { \"" EXEC "\" }\n");
        cr_assert_eq(only_service()->socket_type, SOCK_DGRAM);
        cr_assert(only_service()->wait, "dgram services wait by default (inetd)");
        service_with("    listen = { \"127.0.0.1:70\" }\n    wait = yes\n    exec = { \"" EXEC "\" }\n");
        cr_assert_eq(only_service()->socket_type, SOCK_STREAM);
        cr_assert(only_service()->wait);
}

Test(config, builtin_replaces_exec)
{
        service_with("    listen = { \"127.0.0.1:7\" }\n    builtin = echo\n");
        cr_assert_eq(only_service()->builtin, BUILTIN_ECHO);
        cr_assert_null(only_service()->argv);
        cr_assert_not(only_service()->wait);
}

Test(config, dgram_builtin_may_say_wait_no)
{
        service_with("    listen = { \"127.0.0.1:13\" }\n    socket-type = dgram\n    wait = no\n    builtin = daytime\n");
        cr_assert_eq(only_service()->builtin, BUILTIN_DAYTIME);
}

Test(config, unix_addresses_and_socket_file_settings)
{
        const struct service *s;

        service_with("    listen = { \"unix:/run/x.sock\", \"unix:@abstract\" }\n    socket-type = seqpacket\n"
                     "    socket-mode = 0660\n    socket-user = \"0\"\n    socket-group = \"0\"\n"
                     "    exec = { \"" EXEC "\" }\n");
        s = only_service();
        cr_assert_eq(s->listen[0].family, AF_UNIX);
        cr_assert_eq(s->listen[1].family, AF_UNIX);
        /* Their paths are their texts in the service's listen block (addr.h), which holds no sockaddr_un. */
        for (size_t i = 0; i < 2; i++) {
                union listen_sockaddr sa;
                const struct sockaddr_un *un = (const struct sockaddr_un *)addr_sockaddr(&s->listen[i], &sa);
                cr_assert_eq(s->listen[i].un.path, s->listen_text[i] + strlen("unix:"));
                cr_assert_eq(un->sun_path[0], i == 0 ? '/' : '\0');
                cr_assert_str_eq(un->sun_path + i, i == 0 ? "/run/x.sock" : "abstract");
        }
        cr_assert_eq(s->sockopt.socket_mode, 0660);
        cr_assert(s->sockopt.set_owner);
        cr_assert_eq(s->sockopt.socket_uid, 0);
        cr_assert_eq(s->sockopt.socket_gid, 0);
}

Test(config, socket_options_parsed)
{
        const struct service *s;

        service_with("    listen = { \"*:8080\" }\n    backlog = 16\n    reuse-port = yes\n    keepalive = yes\n"
                     "    nodelay = yes\n    ipv6-only = yes\n    free-bind = yes\n    receive-buffer = 65536\n"
                     "    send-buffer = 32768\n    exec = { \"" EXEC "\" }\n");
        s = only_service();
        cr_assert_eq(s->sockopt.backlog, 16);
        cr_assert(s->sockopt.reuse_port && s->sockopt.keepalive && s->sockopt.nodelay && s->sockopt.ipv6_only &&
                  s->sockopt.free_bind);
        cr_assert_eq(s->sockopt.receive_buffer, 65536);
        cr_assert_eq(s->sockopt.send_buffer, 32768);
        cr_assert_eq(s->sockopt.socket_mode, 0666, "unix socket files default to 0666");
}

Test(config, same_port_for_tcp_and_udp_is_no_conflict)
{
        dropin("a.conf", "service t {\n    listen = { \"127.0.0.1:7\" }\n    builtin = echo\n}\n"
                         "service u {\n    listen = { \"127.0.0.1:7\" }\n    socket-type = dgram\n    builtin = echo\n}\n");
        load_ok();
        cr_assert_eq(C->n_services, 2);
}

Test(config, same_unix_path_for_two_types_conflicts)
{
        dropin("a.conf", "service t {\n    listen = { \"unix:/run/a.sock\" }\n    exec = { \"" EXEC "\" }\n}\n"
                         "service u {\n    listen = { \"unix:/run/a.sock\" }\n    socket-type = dgram\n"
                         "    exec = { \"" EXEC "\" }\n}\n");
        expect_only_error("a.conf", 5, "already used by service 't'");
}

/* Each invalid combination: one error at the service's line naming the problem. */
#define BAD_COMBINATION(test, body, needle)                       \
        Test(config, test)                                        \
        {                                                         \
                service_with(body);                               \
                expect_only_error("s.conf", 1, needle);           \
        }

BAD_COMBINATION(error_builtin_and_exec, "    listen = { \"127.0.0.1:7\" }\n    builtin = echo\n    exec = { \"" EXEC "\" }\n",
                "exec and builtin exclude each other")
BAD_COMBINATION(error_dgram_nowait_exec,
                "    listen = { \"127.0.0.1:69\" }\n    socket-type = dgram\n    wait = no\n    exec = { \"" EXEC "\" }\n",
                "wait = no needs a builtin")
BAD_COMBINATION(error_stream_builtin_wait, "    listen = { \"127.0.0.1:7\" }\n    wait = yes\n    builtin = echo\n",
                "does not apply to a stream builtin")
BAD_COMBINATION(error_socket_mode_on_inet,
                "    listen = { \"127.0.0.1:80\" }\n    socket-mode = 0600\n    exec = { \"" EXEC "\" }\n",
                "apply to unix:/path addresses only")
BAD_COMBINATION(error_socket_user_on_abstract,
                "    listen = { \"unix:@x\" }\n    socket-user = \"0\"\n    exec = { \"" EXEC "\" }\n",
                "apply to unix:/path addresses only")
BAD_COMBINATION(error_seqpacket_on_inet,
                "    listen = { \"127.0.0.1:80\" }\n    socket-type = seqpacket\n    exec = { \"" EXEC "\" }\n",
                "seqpacket needs unix: addresses")
BAD_COMBINATION(error_builtin_on_unix, "    listen = { \"unix:/run/e.sock\" }\n    builtin = echo\n",
                "serves IP addresses only")
BAD_COMBINATION(error_backlog_on_dgram,
                "    listen = { \"127.0.0.1:69\" }\n    socket-type = dgram\n    backlog = 5\n    exec = { \"" EXEC "\" }\n",
                "backlog applies to stream and seqpacket")
BAD_COMBINATION(error_nodelay_on_unix, "    listen = { \"unix:/run/n.sock\" }\n    nodelay = yes\n    exec = { \"" EXEC "\" }\n",
                "nodelay applies to TCP")
BAD_COMBINATION(error_keepalive_on_udp,
                "    listen = { \"127.0.0.1:69\" }\n    socket-type = dgram\n    keepalive = yes\n    exec = { \"" EXEC "\" }\n",
                "keepalive applies to TCP")
BAD_COMBINATION(error_ipv6_only_without_ipv6,
                "    listen = { \"127.0.0.1:80\" }\n    ipv6-only = yes\n    exec = { \"" EXEC "\" }\n",
                "ipv6-only needs an IPv6 address")
BAD_COMBINATION(error_reuse_port_on_unix,
                "    listen = { \"unix:/run/r.sock\" }\n    reuse-port = yes\n    exec = { \"" EXEC "\" }\n",
                "reuse-port applies to IP addresses only")
BAD_COMBINATION(error_no_exec_no_builtin, "    listen = { \"127.0.0.1:80\" }\n", "has no exec (or builtin)")

Test(config, error_builtin_unknown)
{
        service_with("    listen = { \"127.0.0.1:7\" }\n    builtin = qotd\n");
        expect_only_error("s.conf", 3, "expected echo, discard, chargen, daytime or time");
}

/* A drop-in of `size` bytes: one service, then comment lines. */
static void dropin_of_size(size_t size)
{
        const char *service = "service big {\n    listen = { \"127.0.0.1:80\" }\n    exec = { \"" EXEC "\" }\n}\n";
        size_t len = strlen(service);
        char *text = malloc(size + 1);

        cr_assert(text && size > len + 2);
        memcpy(text, service, len);
        memset(text + len, 'x', size - len);
        for (size_t i = len; i < size; i += 100)
                text[i] = '#';
        for (size_t i = len + 99; i < size; i += 100)
                text[i] = '\n';
        text[size - 1] = '\n';
        text[size] = 0;
        dropin("big.conf", text);
        free(text);
}

Test(config, dropin_of_1_mib_loads)
{
        dropin_of_size(1 << 20);
        cr_assert_str_eq(only_service()->name, "big");
}

Test(config, error_dropin_over_1_mib)
{
        char *path = tu_path(services, "big.conf"), *needle;

        dropin_of_size((1 << 20) + 1);
        cr_assert_eq(load(), -EINVAL);
        cr_assert(asprintf(&needle, "%s: file too large (1 MiB at most)\n", path) > 0);
        cr_assert(strstr(E, needle), "expected \"%s\" in:\n%s", needle, E);
        free(needle);
        free(path);
}

/* The environment is copied per spawn, so it has a bound: SERVICE_ENV_MAX entries are fine, one more is not. */
static void service_with_env(size_t n)
{
        size_t size = 128 + n * 24, len;
        char *body = malloc(size);

        cr_assert(body);
        len = (size_t)snprintf(body, size, "    listen = { \"127.0.0.1:80\" }\n    exec = { \"" EXEC "\" }\n    env = {");
        for (size_t i = 0; i < n; i++)
                len += (size_t)snprintf(body + len, size - len, "%s\"V%zu=x\"", i ? ", " : " ", i);
        snprintf(body + len, size - len, " }\n");
        service_with(body);
        free(body);
}

Test(config, env_at_most_service_env_max)
{
        service_with_env(SERVICE_ENV_MAX);
        cr_assert_eq(strv_length(only_service()->env), SERVICE_ENV_MAX);
}

Test(config, error_env_over_service_env_max)
{
        service_with_env(SERVICE_ENV_MAX + 1);
        expect_only_error("s.conf", 1, "env and pass-env: more than 1000 variables");
}

Test(config, error_socket_mode_not_octal)
{
        service_with("    listen = { \"unix:/run/m.sock\" }\n    socket-mode = 0999\n    exec = { \"" EXEC "\" }\n");
        expect_only_error("s.conf", 3, "expected octal permission bits");
}

Test(config, error_backlog_out_of_range)
{
        service_with("    listen = { \"127.0.0.1:80\" }\n    backlog = 70000\n    exec = { \"" EXEC "\" }\n");
        expect_only_error("s.conf", 3, "out of range (0-65535)");
}

Test(config, error_socket_user_unknown)
{
        service_with("    listen = { \"unix:/run/u.sock\" }\n    socket-user = \"no-such-user-here\"\n"
                     "    exec = { \"" EXEC "\" }\n");
        expect_only_error("s.conf", 3, "socket-user");
}

/*
 * A list key given twice without braces: libconfuse calls a validator once
 * per such value, which superd took for the closing call of the first list,
 * so the second value went unchecked, and a bad allow entry was then dropped
 * while copying out (an allow list left empty admits everyone).
 */
Test(config, error_allow_repeated_without_braces)
{
        dropin("t.conf", "service svc {\n"                   /* 1 */
                         "    listen = \"127.0.0.1:1205\"\n" /* 2 */
                         "    exec = \"" EXEC "\"\n"         /* 3 */
                         "    allow = \"10.0.0.0/8\"\n"      /* 4 */
                         "    allow = \"bogus\"\n"           /* 5 */
                         "}\n");
        expect_only_error("t.conf", 5, "bogus");
}

Test(config, error_env_repeated_without_braces)
{
        dropin("t.conf", "service svc {\n"                   /* 1 */
                         "    listen = \"127.0.0.1:1205\"\n" /* 2 */
                         "    exec = \"" EXEC "\"\n"         /* 3 */
                         "    env = \"A=1\"\n"               /* 4 */
                         "    env = \"PATH=/tmp\"\n"         /* 5 */
                         "}\n");
        expect_only_error("t.conf", 5, "PATH");
}

/* Here the service used to vanish without an error: the load succeeded without it. */
Test(config, error_listen_repeated_without_braces)
{
        dropin("t.conf", "service svc {\n"                   /* 1 */
                         "    listen = \"127.0.0.1:1205\"\n" /* 2 */
                         "    listen = \"127.0.0.1:0\"\n"    /* 3 */
                         "    exec = \"" EXEC "\"\n"         /* 4 */
                         "}\n");
        expect_only_error("t.conf", 3, "127.0.0.1:0");
}

/* Every allow and deny entry is kept, also those appended with +=; none is dropped. */
Test(config, allow_and_deny_keep_every_entry)
{
        service_with("    listen = { \"127.0.0.1:1205\" }\n"
                     "    exec = { \"" EXEC "\" }\n"
                     "    allow = { \"10.0.0.0/8\", \"192.168.0.0/16\" }\n"
                     "    allow += { \"::1\" }\n"
                     "    deny = \"10.1.0.0/16\"\n");
        cr_assert_eq(only_service()->n_allow, 3);
        cr_assert_eq(only_service()->n_deny, 1);
}

/* A bad entry among good ones is reported at its own line, and the load fails. */
Test(config, error_bad_cidr_among_good_ones)
{
        dropin("t.conf", PRE_EXEC "    allow = {\n"         /* 8 */
                                  "        \"10.0.0.0/8\",\n" /* 9 */
                                  "        \"10.0.0.0/33\",\n" /* 10 */
                                  "        \"::1\"\n"          /* 11 */
                                  "    }\n" POST_LISTEN);
        expect_only_error("t.conf", 10, "10.0.0.0/33");
}

/* ---- PROXY protocol ---- */

Test(config, proxy_protocol_off_by_default)
{
        const struct service *s;

        service_with("    listen = { \"127.0.0.1:1205\" }\n    exec = { \"" EXEC "\" }\n");
        s = only_service();
        cr_assert_eq(s->proxy_protocol, 0);
        cr_assert_eq(s->n_proxy_from, 0);
        cr_assert_eq(s->proxy_timeout, PROXY_TIMEOUT_DEFAULT);
        cr_assert_eq(PROXY_TIMEOUT_DEFAULT, 3);
        cr_assert_not(s->proxy_health_close);
}

/* The words as the set of versions proxy.h defines: PROXY_V1 = 1, PROXY_V2 = 2. */
Test(config, proxy_keys_parsed)
{
        static const struct {
                const char *word;
                unsigned versions;
        } words[] = {{"no", 0}, {"v1", 1}, {"v2", 2}, {"any", 3}};

        for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
                char *body;
                cr_assert(asprintf(&body,
                                   "    listen = { \"127.0.0.1:1205\", \"unix:/run/p.sock\" }\n"
                                   "    exec = { \"" EXEC "\" }\n"
                                   "    proxy-protocol = %s\n%s",
                                   words[i].word,
                                   words[i].versions ? "    proxy-from = { \"10.0.0.0/8\", \"2001:db8::1\" }\n"
                                                       "    proxy-timeout = 3600\n"
                                                       "    proxy-health = close\n"
                                                     : "") > 0);
                service_with(body);
                free(body);
                const struct service *s = only_service();
                cr_assert_eq(s->proxy_protocol, words[i].versions, "proxy-protocol = %s", words[i].word);
                if (!words[i].versions)
                        continue;
                cr_assert_eq(s->n_proxy_from, 2);
                cr_assert(has_cidr(s->proxy_from, s->n_proxy_from, "10.0.0.0/8"));
                cr_assert(has_cidr(s->proxy_from, s->n_proxy_from, "2001:db8::1"));
                cr_assert_eq(s->proxy_timeout, 3600);
                cr_assert(s->proxy_health_close);
        }
        service_with("    listen = { \"unix:/run/p.sock\" }\n    exec = { \"" EXEC "\" }\n"
                     "    proxy-protocol = v2\n    proxy-timeout = 1\n    proxy-health = spawn\n");
        cr_assert_eq(only_service()->proxy_timeout, 1);
        cr_assert_not(only_service()->proxy_health_close);
        cr_assert_eq(only_service()->n_proxy_from, 0, "a unix listener needs no proxy-from");
}

/* Stream builtins read the header too. */
Test(config, proxy_protocol_on_a_builtin)
{
        service_with("    listen = { \"127.0.0.1:7\" }\n    builtin = echo\n    proxy-protocol = any\n"
                     "    proxy-from = { \"127.0.0.1\" }\n");
        cr_assert_eq(only_service()->proxy_protocol, 3);
}

Test(config, proxy_keys_from_defaults_and_overridden)
{
        write_main("defaults {\n"
                   "    proxy-protocol = v2\n"
                   "    proxy-from = { \"10.0.0.0/8\", \"192.168.1.1\" }\n"
                   "    proxy-timeout = 7\n"
                   "    proxy-health = close\n"
                   "}\n");
        dropin("a.conf", GOOD("plain") "service custom {\n"
                                       "    listen = { \"127.0.0.1:1206\" }\n"
                                       "    exec = { \"" EXEC "\" }\n"
                                       "    proxy-protocol = v1\n"
                                       "    proxy-from = { \"::1\" }\n"
                                       "    proxy-timeout = 2\n"
                                       "    proxy-health = spawn\n"
                                       "}\n");
        load_ok();

        const struct service *p = service_named("plain");
        cr_assert_eq(p->proxy_protocol, 2);
        cr_assert_eq(p->n_proxy_from, 2);
        cr_assert(has_cidr(p->proxy_from, p->n_proxy_from, "192.168.1.1"));
        cr_assert_eq(p->proxy_timeout, 7);
        cr_assert(p->proxy_health_close);

        const struct service *c = service_named("custom");
        cr_assert_eq(c->proxy_protocol, 1);
        cr_assert_eq(c->n_proxy_from, 1, "a service's proxy-from replaces the default list");
        cr_assert(has_cidr(c->proxy_from, c->n_proxy_from, "::1"));
        cr_assert_eq(c->proxy_timeout, 2);
        cr_assert_not(c->proxy_health_close);
}

Test(config, error_proxy_protocol_bogus)
{
        dropin("t.conf", PRE_EXEC "    proxy-protocol = v3\n" POST_LISTEN);
        expect_only_error("t.conf", 8, "proxy-protocol: 'v3': expected no, v1, v2 or any");
}

Test(config, error_proxy_health_bogus)
{
        dropin("t.conf", PRE_EXEC "    proxy-protocol = v1\n    proxy-from = \"10.0.0.1\"\n"
                                  "    proxy-health = drop\n" POST_LISTEN);
        expect_only_error("t.conf", 10, "proxy-health: 'drop': expected spawn or close");
}

Test(config, error_proxy_timeout_out_of_range)
{
        dropin("t.conf", PRE_EXEC "    proxy-protocol = v1\n    proxy-from = \"10.0.0.1\"\n"
                                  "    proxy-timeout = 0\n" POST_LISTEN);
        expect_only_error("t.conf", 10, "proxy-timeout: 0 is out of range (1-3600)");
        dropin("t.conf", PRE_EXEC "    proxy-protocol = v1\n    proxy-from = \"10.0.0.1\"\n"
                                  "    proxy-timeout = 3601\n" POST_LISTEN);
        expect_only_error("t.conf", 10, "proxy-timeout: 3601 is out of range (1-3600)");
}

/* Every entry is checked and a bad one reported at its own line, as for allow and deny. */
Test(config, error_bad_proxy_from_among_good_ones)
{
        dropin("t.conf", PRE_EXEC "    proxy-protocol = any\n" /* 8 */
                                  "    proxy-from = {\n"       /* 9 */
                                  "        \"10.0.0.0/8\",\n"  /* 10 */
                                  "        \"balancer\",\n"    /* 11 */
                                  "        \"::1\"\n"          /* 12 */
                                  "    }\n" POST_LISTEN);
        expect_only_error("t.conf", 11, "proxy-from: 'balancer'");
}

Test(config, error_env_sets_a_proxy_variable)
{
        dropin("t.conf", PRE_EXEC "    env = { \"PROXY_PEER_ADDR=x\" }\n" POST_LISTEN);
        expect_only_error("t.conf", 8, "PROXY_PEER_ADDR");
}

BAD_COMBINATION(error_proxy_protocol_on_dgram,
                "    listen = { \"127.0.0.1:7\" }\n    socket-type = dgram\n    builtin = echo\n"
                "    proxy-protocol = v2\n    proxy-from = { \"10.0.0.1\" }\n",
                "proxy-protocol needs a stream service with wait = no")
BAD_COMBINATION(error_proxy_protocol_with_wait,
                "    listen = { \"127.0.0.1:80\" }\n    wait = yes\n    exec = { \"" EXEC "\" }\n"
                "    proxy-protocol = v1\n    proxy-from = { \"10.0.0.1\" }\n",
                "proxy-protocol needs a stream service with wait = no")
BAD_COMBINATION(error_proxy_protocol_on_ip_without_proxy_from,
                "    listen = { \"unix:/run/p.sock\", \"127.0.0.1:80\" }\n    exec = { \"" EXEC "\" }\n"
                "    proxy-protocol = any\n",
                "proxy-protocol on IP addresses needs proxy-from")
BAD_COMBINATION(error_proxy_from_without_proxy_protocol,
                "    listen = { \"127.0.0.1:80\" }\n    exec = { \"" EXEC "\" }\n    proxy-from = { \"10.0.0.1\" }\n",
                "proxy-from applies only with proxy-protocol")
BAD_COMBINATION(error_proxy_timeout_without_proxy_protocol,
                "    listen = { \"127.0.0.1:80\" }\n    exec = { \"" EXEC "\" }\n    proxy-protocol = no\n"
                "    proxy-timeout = 10\n",
                "proxy-timeout applies only with proxy-protocol")
BAD_COMBINATION(error_proxy_health_without_proxy_protocol,
                "    listen = { \"127.0.0.1:80\" }\n    exec = { \"" EXEC "\" }\n    proxy-health = close\n",
                "proxy-health applies only with proxy-protocol")

/* ---- workers (worker pools, workers.h) ---- */

Test(config, workers_keys)
{
        dropin("w.conf", "service a {\n    listen = { \"127.0.0.1:1205\" }\n    wait = yes\n    workers = 4\n"
                         "    exec = { \"" EXEC "\" }\n}\n"
                         "service b {\n    listen = { \"127.0.0.1:1206\" }\n    wait = yes\n    workers = auto\n"
                         "    workers-start = eager\n    exec = { \"" EXEC "\" }\n}\n"
                         "service c {\n    listen = { \"127.0.0.1:1207\" }\n    socket-type = dgram\n"
                         "    workers = 1024\n    exec = { \"" EXEC "\" }\n}\n" GOOD_ON("d", "1208"));
        load_ok();
        cr_assert_eq(service_named("a")->workers, 4);
        cr_assert_not(service_named("a")->workers_eager);
        cr_assert_eq(service_named("b")->workers, WORKERS_AUTO);
        cr_assert(service_named("b")->workers_eager);
        cr_assert_eq(service_named("c")->workers, WORKERS_MAX);
        /* Not given: today's wait mode. */
        cr_assert_eq(service_named("d")->workers, 0);
        cr_assert_not(service_named("d")->workers_eager);
}

Test(config, workers_from_defaults)
{
        write_main("defaults {\n    workers-start = eager\n}\n");
        dropin("w.conf", "service a {\n    listen = { \"127.0.0.1:1205\" }\n    wait = yes\n    workers = 2\n"
                         "    exec = { \"" EXEC "\" }\n}\n");
        load_ok();
        cr_assert(service_named("a")->workers_eager);
}

Test(config, error_workers_need_wait)
{
        dropin("t.conf", "service svc {\n"                 /* 1 */
                         "    listen = { \"127.0.0.1:1205\" }\n"
                         "    workers = 2\n"
                         "    exec = { \"" EXEC "\" }\n"
                         "}\n");
        expect_only_error("t.conf", 1, "workers and workers-start need wait = yes");
}

Test(config, error_workers_start_needs_wait)
{
        dropin("t.conf", "service svc {\n"
                         "    listen = { \"127.0.0.1:1205\" }\n"
                         "    workers-start = eager\n"
                         "    exec = { \"" EXEC "\" }\n"
                         "}\n");
        expect_only_error("t.conf", 1, "workers and workers-start need wait = yes");
}

Test(config, error_workers_on_builtin)
{
        dropin("t.conf", "service svc {\n"
                         "    listen = { \"127.0.0.1:1205\" }\n"
                         "    socket-type = dgram\n"
                         "    builtin = echo\n"
                         "    workers = 2\n"
                         "}\n");
        expect_only_error("t.conf", 1, "workers and workers-start need wait = yes");
}

Test(config, error_workers_out_of_range)
{
        dropin("t.conf", PRE "    workers = 0\n" POST);
        expect_only_error("t.conf", 8, "workers: '0': expected a number of workers from 1 to 1024, or auto");
        dropin("t.conf", PRE "    workers = 1025\n" POST);
        expect_only_error("t.conf", 8, "'1025'");
        dropin("t.conf", PRE "    workers = many\n" POST);
        expect_only_error("t.conf", 8, "'many'");
        dropin("t.conf", PRE "    workers-start = soon\n" POST);
        expect_only_error("t.conf", 8, "workers-start: 'soon': expected lazy or eager");
}

Test(config, error_superd_worker_is_reserved)
{
        dropin("t.conf", PRE "    env = { \"SUPERD_WORKER=1\" }\n" POST);
        expect_only_error("t.conf", 8, "'SUPERD_WORKER' is reserved");
}

Test(config, workers_print_parse_back)
{
        char *out1, *out2;

        dropin("w.conf", "service a {\n    listen = { \"127.0.0.1:1205\" }\n    wait = yes\n    workers = auto\n"
                         "    workers-start = eager\n    exec = { \"" EXEC "\" }\n}\n"
                         "service b {\n    listen = { \"127.0.0.1:1206\" }\n    wait = yes\n    workers = 3\n"
                         "    exec = { \"" EXEC "\" }\n}\n" GOOD_ON("c", "1207"));
        load_ok();
        out1 = print_config();
        cr_assert(strstr(out1, "workers        = auto\n    workers-start  = eager\n"), "in:\n%s", out1);
        cr_assert(strstr(out1, "workers        = 3\n"), "in:\n%s", out1);
        cr_assert_eq(count(out1, "workers "), 2, "only where given:\n%s", out1);
        tu_rmtree(services);
        free(services);
        services = tu_mkdir(dir, "services.d");
        cr_assert_not_null(strstr(out1, "service a"));
        dropin("all.conf", strstr(out1, "service a"));
        load_ok();
        out2 = print_config();
        cr_assert_eq(count(out2, "workers "), 2, "in:\n%s", out2);
        cr_assert(strstr(out2, "workers        = auto\n"), "in:\n%s", out2);
        free(out1);
        free(out2);
}

/* A `listen` from `defaults` is copied with its text into the service's own block (config-keys.c listen_set()). */
Test(config, listen_from_defaults_keeps_addresses_and_text)
{
        write_main("defaults {\n    listen = { \"127.0.0.1:1207\", \"unix:/tmp/superd-unit-defaults.sock\" }\n}\n");
        dropin("a.conf", "service fromdefaults {\n    exec = { \"" EXEC "\" }\n}\n");
        load_ok();

        const struct service *s = service_named("fromdefaults");
        cr_assert_eq(s->n_listen, 2);
        cr_assert_eq(s->listen[0].family, AF_INET);
        cr_assert_eq(s->listen[1].family, AF_UNIX);
        cr_assert_str_eq(s->listen_text[0], "127.0.0.1:1207");
        cr_assert_str_eq(s->listen_text[1], "unix:/tmp/superd-unit-defaults.sock");
        cr_assert_null(s->listen_text[2]);
        /* The unix address points into the service's own text, not into the template's. */
        cr_assert_eq(s->listen[1].un.path, s->listen_text[1] + strlen("unix:"));
}
