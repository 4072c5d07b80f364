/* SPDX-License-Identifier: MIT */
/* The keys of a `service` (and `defaults`) section: one table row per key, from parsing to `superd -t`. */
#include "config-keys.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config-print.h"
#include "config-values.h"
#include "strv.h"

#define ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/* What keys_parse() keeps for a KEY_WORD that is not one of its words: no word parses to it. */
#define WORD_BAD LONG_MIN

enum key_type {
        KEY_BOOL,   /* libconfuse's yes/no, true/false, on/off */
        KEY_INT,    /* a number (strtol base 0, as libconfuse reads numbers) in [min, max] */
        KEY_WORD,   /* a word of `words` (its index is the value) or that `word` turns into a number */
        KEY_TEXT,   /* a string that `check` accepts, kept as written */
        KEY_TEXTS,  /* a list of them */
        KEY_CIDRS,  /* a list of addresses with prefix lengths (acl.h), kept parsed */
        KEY_LISTEN, /* the list of listen addresses (addr.h), kept parsed and as written */
};

/* The C type of the field of a KEY_BOOL, KEY_INT or KEY_WORD. */
enum field {
        FIELD_BOOL,
        FIELD_INT,
        FIELD_UINT,
        FIELD_LLONG,
        FIELD_MODE,
};

/* When `superd -t` prints a key: always, or only when its value is not the "unset" one. */
enum print_when {
        PRINT_ALWAYS,
        PRINT_NONZERO,
        PRINT_NONNEG, /* -1 means "inherit superd's own" */
        PRINT_GIVEN,  /* the given_offset flag is set */
        PRINT_PROXY,  /* proxy-protocol is set: the key applies only then (config-check.c) */
};

struct key {
        const char *name;
        enum key_type type;
        size_t offset;       /* of the value in struct service */
        enum field field;    /* KEY_BOOL, KEY_INT, KEY_WORD: the C type at offset */
        size_t count_offset; /* KEY_CIDRS: of the unsigned number of entries */
        size_t given_offset; /* of a bool "given here or in defaults"; 0 for none (offset 0 is the name) */
        long min, max;       /* KEY_INT: accepted values */
        const char *const *words;              /* KEY_WORD: the words by value (NULL holes allowed) */
        size_t n_words;
        int (*word)(const char *s, long *ret); /* KEY_WORD without words: 0, or -EINVAL when s is not one */
        const char *expected;                  /* KEY_WORD: "expected ..." in the error message */
        /* KEY_TEXT, KEY_TEXTS: report and return false when entry `index` is bad; NULL accepts all. */
        bool (*check)(const struct key_site *site, const char *key, const char *s, unsigned index);
        enum print_when when;
        const char *(*print_word)(long v);                 /* KEY_WORD without words: the word to print, NULL: the number */
        bool octal;                                        /* print the number as 0NNN */
        const char *zero_note;                             /* printed after a value of 0 */
        void (*print)(FILE *out, const struct service *s); /* replaces the printing by type */
};

/* ---- words ---- */

static const char *const socket_type_words[] = {
        [SOCK_STREAM] = "stream",
        [SOCK_DGRAM] = "dgram",
        [SOCK_SEQPACKET] = "seqpacket",
};

static const char *const stderr_words[] = {
        [STDERR_LOG] = "log",
        [STDERR_SOCKET] = "socket",
        [STDERR_NULL] = "null",
};

/* Indexed by the set of versions: 1 = PROXY_V1, 2 = PROXY_V2 (proxy.h), 3 = both. */
static const char *const proxy_protocol_words[] = { "no", "v1", "v2", "any" };

/* Indexed by workers_eager. */
static const char *const workers_start_words[] = { "lazy", "eager" };

/* Indexed by proxy_health_close. */
static const char *const proxy_health_words[] = { "spawn", "close" };

/* The value of the word s in k->words (its index), or -EINVAL. */
static long word_lookup(const struct key *k, const char *s)
{
        for (size_t i = 0; i < k->n_words; i++)
                if (k->words[i] && strcmp(s, k->words[i]) == 0)
                        return (long)i;
        return -EINVAL;
}

static int word_builtin(const char *s, long *ret)
{
        *ret = builtin_from_name(s);
        return *ret == BUILTIN_NONE ? -EINVAL : 0;
}

static const char *name_builtin(long v)
{
        return builtin_name((enum builtin)v);
}

static int word_mode(const char *s, long *ret)
{
        mode_t m;
        int r = value_mode(s, &m);

        *ret = m;
        return r;
}

static int word_workers(const char *s, long *ret)
{
        char *end;
        long v;

        if (strcmp(s, "auto") == 0) {
                *ret = WORKERS_AUTO;
                return 0;
        }
        if (s[0] < '0' || s[0] > '9')
                return -EINVAL;
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || *end || v < 1 || v > WORKERS_MAX)
                return -EINVAL;
        *ret = v;
        return 0;
}

static const char *name_workers(long v)
{
        static char number[16];

        if (v == WORKERS_AUTO)
                return "auto";
        snprintf(number, sizeof(number), "%ld", v);
        return number;
}

static int word_rate(const char *s, long *ret)
{
        unsigned v;
        int r = value_rate(s, &v);

        *ret = v;
        return r;
}

/* ---- checks of strings, where libconfuse reads them (so that lines are right) ---- */

#define REPORT(site, ...) config_report((site)->report, (site)->file, (site)->line, __VA_ARGS__)

static bool check_exec(const struct key_site *site, const char *key, const char *s, unsigned index)
{
        if (index > 0) /* arguments are anything */
                return true;
        if (s[0] != '/')
                REPORT(site, "exec: '%s' is not an absolute path", s);
        else if (access(s, X_OK) < 0)
                REPORT(site, "exec: %s: %s", s, strerror(errno));
        else
                return true;
        return false;
}

static bool check_folder(const struct key_site *site, const char *key, const char *s, unsigned index)
{
        struct stat st;

        if (s[0] != '/')
                REPORT(site, "%s: '%s' is not an absolute path", key, s);
        else if (stat(s, &st) < 0)
                REPORT(site, "%s: %s: %s", key, s, strerror(errno));
        else if (!S_ISDIR(st.st_mode))
                REPORT(site, "%s: %s is not a folder", key, s);
        else
                return true;
        return false;
}

static bool check_user(const struct key_site *site, const char *key, const char *s, unsigned index)
{
        const struct user_ids *ids;
        const char *why;

        if (users_resolve(site->users, s, NULL, &ids, &why) == 0)
                return true;
        REPORT(site, "%s: '%s': %s", key, s, why);
        return false;
}

static bool check_group(const struct key_site *site, const char *key, const char *s, unsigned index)
{
        gid_t g;

        if (users_group_id(s, &g) == 0)
                return true;
        REPORT(site, "%s: '%s': unknown group", key, s);
        return false;
}

static bool check_env(const struct key_site *site, const char *key, const char *s, unsigned index)
{
        const char *eq = strchr(s, '=');

        if (!eq || !value_env_name(s, (size_t)(eq - s)))
                REPORT(site, "env: '%s': expected NAME=VALUE", s);
        else if (value_reserved_var(s, (size_t)(eq - s)))
                REPORT(site, "env: '%.*s' is reserved (set by superd)", (int)(eq - s), s);
        else
                return true;
        return false;
}

static bool check_pass_env(const struct key_site *site, const char *key, const char *s, unsigned index)
{
        if (!value_env_name(s, strlen(s)))
                REPORT(site, "pass-env: '%s' is not a variable name", s);
        else if (value_reserved_var(s, strlen(s)))
                REPORT(site, "pass-env: '%s' is reserved (set by superd)", s);
        else
                return true;
        return false;
}

/* ---- printing that is more than "KEY = VALUE" ---- */

static void print_user(FILE *out, const struct service *s)
{
        config_print_key(out, "user", s->user);
        fprintf(out, "  # uid %u\n", (unsigned)s->uid);
}

static void print_group(FILE *out, const struct service *s)
{
        const struct group *gr;

        if (s->group) {
                config_print_key(out, "group", s->group);
                fprintf(out, "  # gid %u\n", (unsigned)s->gid);
                return;
        }
        gr = getgrgid(s->gid);
        fputs("    # group = ", out);
        config_print_text(out, gr ? gr->gr_name : "", true);
        fprintf(out, "  # gid %u, the user's primary group\n", (unsigned)s->gid);
}

static void print_socket_user(FILE *out, const struct service *s)
{
        if (!s->socket_user)
                return;
        config_print_key(out, "socket-user", s->socket_user);
        fprintf(out, "  # uid %u\n", (unsigned)s->sockopt.socket_uid);
}

static void print_socket_group(FILE *out, const struct service *s)
{
        if (!s->socket_group)
                return;
        config_print_key(out, "socket-group", s->socket_group);
        fprintf(out, "  # gid %u\n", (unsigned)s->sockopt.socket_gid);
}

static void print_rate(FILE *out, const struct service *s)
{
        fprintf(out, "    %-14s = \"%u/s\"%s\n", "max-rate", s->max_rate, s->max_rate ? "" : "  # no limit");
}

/* ---- the table ---- */

/* One row per line: clang-format would spread each initializer over several. */
/* clang-format off */
/* Offset of field f, which must have the size of type T: a struct service field changed without its row does not compile. */
#define AT_AS(f, T) (offsetof(struct service, f) + 0 * sizeof(char[sizeof(((struct service *)0)->f) == sizeof(T) ? 1 : -1]))
#define AT(f) offsetof(struct service, f)
/* The C type of each enum field, for AT_AS(). */
#define CTYPE_FIELD_BOOL bool
#define CTYPE_FIELD_INT int
#define CTYPE_FIELD_UINT unsigned
#define CTYPE_FIELD_LLONG long long
#define CTYPE_FIELD_MODE mode_t
#define BOOL(n, f, ...) { .name = n, .type = KEY_BOOL, .offset = AT_AS(f, bool), .field = FIELD_BOOL, __VA_ARGS__ }
#define INT(n, f, ft, lo, hi, ...) \
        { .name = n, .type = KEY_INT, .offset = AT_AS(f, CTYPE_##ft), .field = ft, .min = lo, .max = hi, __VA_ARGS__ }
#define WORD(n, f, ft, parse, expect, ...) \
        { .name = n, .type = KEY_WORD, .offset = AT_AS(f, CTYPE_##ft), .field = ft, .word = parse, .expected = expect, \
          __VA_ARGS__ }
#define WORDS(n, f, ft, table, expect, ...) \
        { .name = n, .type = KEY_WORD, .offset = AT_AS(f, CTYPE_##ft), .field = ft, .words = table, \
          .n_words = ELEMENTS(table), .expected = expect, __VA_ARGS__ }
#define TEXT(n, f, ...)  { .name = n, .type = KEY_TEXT, .offset = AT_AS(f, char *), __VA_ARGS__ }
#define TEXTS(n, f, ...) { .name = n, .type = KEY_TEXTS, .offset = AT_AS(f, char **), __VA_ARGS__ }
#define CIDRS(n, f, count, ...) \
        { .name = n, .type = KEY_CIDRS, .offset = AT_AS(f, struct cidr *), .count_offset = AT_AS(count, unsigned), \
          __VA_ARGS__ }

/* In the order `superd -t` prints them. Ranges: counts to CONFIG_COUNT_MAX, bytes, seconds. */
static const struct key keys[] = {
    {.name = "listen", .type = KEY_LISTEN, .offset = AT(listen)},
    WORDS("socket-type", socket_type, FIELD_INT, socket_type_words, "stream, dgram or seqpacket"),
    BOOL("wait", wait, .given_offset = AT(wait_set)),
    WORD("workers", workers, FIELD_UINT, word_workers, "a number of workers from 1 to 1024, or auto",
         .print_word = name_workers, .when = PRINT_NONZERO),
    WORDS("workers-start", workers_eager, FIELD_BOOL, workers_start_words, "lazy or eager", .when = PRINT_NONZERO),
    INT("backlog", sockopt.backlog, FIELD_INT, 0, 65535, .zero_note = "  # SOMAXCONN"),
    INT("receive-buffer", sockopt.receive_buffer, FIELD_INT, 0, 1 << 30, .when = PRINT_NONZERO),
    INT("send-buffer", sockopt.send_buffer, FIELD_INT, 0, 1 << 30, .when = PRINT_NONZERO),
    BOOL("reuse-port", sockopt.reuse_port),
    BOOL("keepalive", sockopt.keepalive),
    BOOL("nodelay", sockopt.nodelay),
    BOOL("ipv6-only", sockopt.ipv6_only),
    BOOL("free-bind", sockopt.free_bind),
    TEXT("socket-user", socket_user, .check = check_user, .print = print_socket_user),
    TEXT("socket-group", socket_group, .check = check_group, .print = print_socket_group),
    WORD("socket-mode", sockopt.socket_mode, FIELD_MODE, word_mode, "octal permission bits such as 0660",
         .octal = true),
    WORD("builtin", builtin, FIELD_INT, word_builtin, "echo, discard, chargen, daytime or time",
         .print_word = name_builtin, .when = PRINT_NONZERO),
    TEXTS("exec", argv, .check = check_exec),
    TEXT("user", user, .check = check_user, .print = print_user),
    TEXT("group", group, .check = check_group, .print = print_group),
    WORDS("stderr", stderr_mode, FIELD_INT, stderr_words, "log, socket or null"),
    BOOL("log-connections", log_connections),
    TEXTS("env", env, .check = check_env),
    TEXTS("pass-env", pass_env, .check = check_pass_env),
    INT("max-instances", max_instances, FIELD_UINT, 0, CONFIG_COUNT_MAX),
    INT("max-per-source", max_per_source, FIELD_UINT, 0, CONFIG_COUNT_MAX),
    INT("per-source-prefix6", per_source_prefix6, FIELD_UINT, 0, 128),
    WORD("max-rate", max_rate, FIELD_UINT, word_rate, "connections per second, such as 100/s",
         .given_offset = AT(max_rate_set), .print = print_rate),
    INT("rate-pause", rate_pause, FIELD_UINT, 1, 86400),
    CIDRS("allow", allow, n_allow),
    CIDRS("deny", deny, n_deny),
    WORDS("proxy-protocol", proxy_protocol, FIELD_UINT, proxy_protocol_words, "no, v1, v2 or any"),
    CIDRS("proxy-from", proxy_from, n_proxy_from, .when = PRINT_PROXY),
    INT("proxy-timeout", proxy_timeout, FIELD_UINT, 1, 3600, .when = PRINT_PROXY),
    WORDS("proxy-health", proxy_health_close, FIELD_BOOL, proxy_health_words, "spawn or close",
          .when = PRINT_PROXY),
    INT("timeout", timeout, FIELD_UINT, 0, 31536000, .zero_note = "  # none"),
    INT("nice", process.nice, FIELD_INT, -20, 19, .given_offset = AT(process.set_nice), .when = PRINT_GIVEN),
    WORD("umask", process.umask, FIELD_INT, word_mode, "octal permission bits such as 022", .octal = true,
         .when = PRINT_NONNEG),
    TEXT("working-directory", process.working_directory, .check = check_folder),
    INT("rlimit-nofile", process.rlimit_nofile, FIELD_LLONG, 0, 1 << 30, .when = PRINT_NONNEG),
    INT("rlimit-as", process.rlimit_as, FIELD_LLONG, 0, LONG_MAX, .when = PRINT_NONNEG),
    INT("rlimit-cpu", process.rlimit_cpu, FIELD_LLONG, 0, LONG_MAX, .when = PRINT_NONNEG),
    INT("rlimit-nproc", process.rlimit_nproc, FIELD_LLONG, 0, 1 << 30, .when = PRINT_NONNEG),
    BOOL("no-new-privileges", process.no_new_privileges),
    BOOL("disable", disable),
};
/* clang-format on */

static const struct key *key_find(const char *name)
{
        for (size_t i = 0; i < ELEMENTS(keys); i++)
                if (strcmp(keys[i].name, name) == 0)
                        return &keys[i];
        return NULL;
}

cfg_opt_t *keys_options(cfg_callback_t parse)
{
        static cfg_opt_t opts[ELEMENTS(keys) + 1];

        for (size_t i = 0; i < ELEMENTS(keys); i++) {
                const struct key *k = &keys[i];
                bool list = k->type == KEY_TEXTS || k->type == KEY_CIDRS || k->type == KEY_LISTEN;
                cfg_type_t type = k->type == KEY_BOOL                           ? CFGT_BOOL
                                  : k->type == KEY_INT || k->type == KEY_WORD   ? CFGT_INT
                                  : k->type == KEY_TEXT || k->type == KEY_TEXTS ? CFGT_STR
                                                                                : CFGT_PTR;

                /* Not given means "take it from defaults": no libconfuse default. */
                opts[i] = (cfg_opt_t){
                    .name = k->name,
                    .type = type,
                    .flags = CFGF_NODEFAULT | (list ? CFGF_LIST : 0),
                    .parsecb = parse,
                    .freecb = type == CFGT_PTR ? free : NULL,
                };
        }
        opts[ELEMENTS(keys)] = (cfg_opt_t)CFG_END();
        return opts;
}

/* ---- parsing ---- */

/*
 * listen entries as libconfuse keeps them: the address, and the text for
 * messages and -t, parsed in place (a unix address points into it).
 */
struct listen_entry {
        struct listen_addr addr;
        char text[];
};

int keys_parse(const struct key_site *site, const char *key, unsigned index, const char *value, void *result)
{
        const struct key *k = key_find(key);
        const char *why = NULL;
        char *end;
        long v;

        if (!k)
                return -1;
        switch (k->type) {
        case KEY_BOOL:
                /* libconfuse's own words and messages: a value that is none stops the parse, as without us. */
                *(int *)result = cfg_parse_boolean(value);
                if (*(int *)result >= 0)
                        return 0;
                REPORT(site, "invalid boolean value for option '%s'", key);
                return -1;
        case KEY_INT:
                errno = 0;
                v = strtol(value, &end, 0);
                if (*end) {
                        REPORT(site, "invalid integer value for option '%s'", key);
                        return -1;
                }
                if (errno == ERANGE) {
                        REPORT(site, "integer value for option '%s' is out of range", key);
                        return -1;
                }
                if (v < k->min || v > k->max)
                        REPORT(site, "%s: %ld is out of range (%ld-%ld)", key, v, k->min, k->max);
                *(long *)result = v;
                return 0;
        case KEY_WORD:
                if (k->words)
                        v = word_lookup(k, value);
                if (k->words ? v < 0 : k->word(value, &v) < 0) {
                        REPORT(site, "%s: '%s': expected %s", key, value, k->expected);
                        v = WORD_BAD;
                }
                *(long *)result = v;
                return 0;
        case KEY_TEXT:
        case KEY_TEXTS:
                if (k->check)
                        (void)k->check(site, key, value, index); /* reported; the text is kept as written */
                *(const char **)result = value;
                return 0;
        case KEY_CIDRS: {
                struct cidr *c = malloc(sizeof(*c));
                if (!c)
                        REPORT(site, "out of memory");
                else if (cidr_parse(value, c, &why) < 0) {
                        REPORT(site, "%s: '%s': %s", key, value, why);
                        c = (free(c), NULL);
                }
                *(void **)result = c; /* NULL: bad, reported here; keys_apply() refuses the section */
                return 0;
        }
        case KEY_LISTEN: {
                struct listen_entry *e = malloc(sizeof(*e) + strlen(value) + 1);
                if (!e)
                        REPORT(site, "out of memory");
                else if (addr_parse(strcpy(e->text, value), &e->addr, &why) < 0) {
                        REPORT(site, "listen: '%s': %s", value, why);
                        e->addr.len = 0; /* bad, reported here: keys_apply() refuses the section */
                }
                *(void **)result = e;
                return 0;
        }
        }
        return -1;
}

/* ---- copying out, and merging `defaults` ---- */

static void *field_of(struct service *s, size_t offset)
{
        return (char *)s + offset;
}

static const void *cfield_of(const struct service *s, size_t offset)
{
        return (const char *)s + offset;
}

static size_t field_size(enum field f)
{
        static const size_t sizes[] = {
            [FIELD_BOOL] = sizeof(bool),       [FIELD_INT] = sizeof(int),     [FIELD_UINT] = sizeof(unsigned),
            [FIELD_LLONG] = sizeof(long long), [FIELD_MODE] = sizeof(mode_t),
        };
        return sizes[f];
}

/* Values were range-checked where parsed, so each fits its field. */
static void number_set(const struct key *k, struct service *s, long v)
{
        void *p = field_of(s, k->offset);

        switch (k->field) {
        case FIELD_BOOL:
                *(bool *)p = v != 0;
                break;
        case FIELD_INT:
                *(int *)p = (int)v;
                break;
        case FIELD_UINT:
                *(unsigned *)p = (unsigned)v;
                break;
        case FIELD_LLONG:
                *(long long *)p = v;
                break;
        case FIELD_MODE:
                *(mode_t *)p = (mode_t)v;
                break;
        }
}

static long long number_get(const struct key *k, const struct service *s)
{
        const void *p = cfield_of(s, k->offset);

        switch (k->field) {
        case FIELD_BOOL:
                return *(const bool *)p;
        case FIELD_INT:
                return *(const int *)p;
        case FIELD_UINT:
                return *(const unsigned *)p;
        case FIELD_LLONG:
                return *(const long long *)p;
        case FIELD_MODE:
                return *(const mode_t *)p;
        }
        return 0;
}

/*
 * Make s->listen one block of n addresses copied from addrs, then the n + 1
 * pointers of s->listen_text, then copies of the n texts (one allocation per
 * service instead of 2 + n; service_free() frees the block). A unix address
 * holds no socket address of its own but points into its text (addr.h):
 * texts[i] must be the text addrs[i] was parsed from, and the copy points
 * into the copied text, so the block is whole by itself. For one
 * "127.0.0.1:PORT" entry: 40 + 2 * 8 + 16 = 72 bytes. Returns 0 or -ENOMEM.
 */
_Static_assert(sizeof(struct listen_addr) % _Alignof(char *) == 0, "listen_text follows the addresses in one block");

static int listen_set(struct service *s, size_t n, const struct listen_addr *const *addrs, const char *const *texts)
{
        char *const *v = (char *const *)texts; /* strv_pack_at() only reads them */

        s->listen = malloc(n * sizeof(*s->listen) + strv_packed_size(v, n));
        if (!s->listen)
                return -ENOMEM;
        s->listen_text = strv_pack_at(s->listen + n, v, n);
        for (size_t i = 0; i < n; i++) {
                s->listen[i] = *addrs[i];
                addr_move_text(&s->listen[i], texts[i], s->listen_text[i]);
        }
        s->n_listen = n;
        return 0;
}

/* The listen entries of a section: every one kept (s->n_listen counts the bad ones too). Returns 0, 1 (bad), -ENOMEM.
 */
static int listen_of(cfg_t *sec, unsigned n, struct service *s)
{
        const struct listen_addr **addrs = calloc(n, sizeof(*addrs));
        const char **texts = calloc(n, sizeof(*texts));
        unsigned m = 0;
        int bad = 0, r = -ENOMEM;

        if (!addrs || !texts)
                goto out;
        for (; m < n; m++) {
                const struct listen_entry *e = cfg_getnptr(sec, "listen", m);
                if (!e) { /* out of memory, reported where it was parsed */
                        bad = 1;
                        break;
                }
                addrs[m] = &e->addr;
                texts[m] = e->text;
                bad |= e->addr.len == 0;
        }
        r = listen_set(s, m, addrs, texts);
out:
        free(addrs);
        free(texts);
        return r < 0 ? r : bad;
}

/* Key k from section sec, which gives it n times. Returns 0, 1 (a value was bad), -ENOMEM. */
static int key_from_section(const struct key *k, cfg_t *sec, unsigned n, struct service *s)
{
        void *p = field_of(s, k->offset);
        long v;

        switch (k->type) {
        case KEY_BOOL:
                number_set(k, s, cfg_getbool(sec, k->name));
                return 0;
        case KEY_INT:
        case KEY_WORD:
                v = cfg_getint(sec, k->name);
                if (v == WORD_BAD && k->type == KEY_WORD)
                        return 1;
                number_set(k, s, v);
                return 0;
        case KEY_TEXT:
                *(char **)p = strdup(cfg_getstr(sec, k->name));
                return *(char **)p ? 0 : -ENOMEM;
        case KEY_TEXTS: {
                /* Gathered, then packed: one allocation per list (strv_pack()), freed with free(). */
                char **list = NULL;
                for (unsigned i = 0; i < n; i++)
                        if (strv_push(&list, cfg_getnstr(sec, k->name, i)) < 0) {
                                strv_free(list);
                                return -ENOMEM;
                        }
                *(char ***)p = strv_pack(list);
                strv_free(list);
                return *(char ***)p ? 0 : -ENOMEM;
        }
        case KEY_CIDRS: {
                struct cidr *c = calloc(n, sizeof(*c));
                unsigned *count = field_of(s, k->count_offset);
                if (!c)
                        return -ENOMEM;
                *(struct cidr **)p = c;
                for (unsigned i = 0; i < n; i++) {
                        const struct cidr *e = cfg_getnptr(sec, k->name, i);
                        if (!e) /* bad, reported where it was parsed: never dropped silently */
                                return 1;
                        c[(*count)++] = *e;
                }
                return 0;
        }
        case KEY_LISTEN:
                return listen_of(sec, n, s);
        }
        return 0;
}

/* Key k as `defaults` (tmpl) has it. Returns 0 or -ENOMEM. */
static int key_from_template(const struct key *k, const struct service *tmpl, struct service *s)
{
        const void *t = cfield_of(tmpl, k->offset);
        void *p = field_of(s, k->offset);

        switch (k->type) {
        case KEY_BOOL:
        case KEY_INT:
        case KEY_WORD:
                memcpy(p, t, field_size(k->field));
                return 0;
        case KEY_TEXT:
                if (*(char *const *)t && !(*(char **)p = strdup(*(char *const *)t)))
                        return -ENOMEM;
                return 0;
        case KEY_TEXTS:
                if (*(char **const *)t && !(*(char ***)p = strv_pack(*(char **const *)t)))
                        return -ENOMEM;
                return 0;
        case KEY_CIDRS: {
                unsigned n = *(const unsigned *)cfield_of(tmpl, k->count_offset);
                if (n && !(*(struct cidr **)p = malloc(n * sizeof(struct cidr))))
                        return -ENOMEM;
                if (n)
                        memcpy(*(struct cidr **)p, *(struct cidr *const *)t, n * sizeof(struct cidr));
                *(unsigned *)field_of(s, k->count_offset) = n;
                return 0;
        }
        case KEY_LISTEN:
                if (tmpl->n_listen == 0)
                        return 0;
        {
                const struct listen_addr **addrs = calloc(tmpl->n_listen, sizeof(*addrs));
                int r = -ENOMEM;

                if (addrs) {
                        for (size_t i = 0; i < tmpl->n_listen; i++)
                                addrs[i] = &tmpl->listen[i];
                        r = listen_set(s, tmpl->n_listen, addrs, (const char *const *)tmpl->listen_text);
                }
                free(addrs);
                return r;
        }
        }
        return 0;
}

int keys_apply(cfg_t *sec, const struct service *tmpl, struct service *s)
{
        int bad = 0, r;

        for (size_t i = 0; i < ELEMENTS(keys); i++) {
                const struct key *k = &keys[i];
                unsigned n = cfg_size(sec, k->name);

                if (k->given_offset)
                        *(bool *)field_of(s, k->given_offset) =
                            n > 0 || *(const bool *)cfield_of(tmpl, k->given_offset);
                r = n ? key_from_section(k, sec, n, s) : key_from_template(k, tmpl, s);
                if (r < 0)
                        return r;
                bad |= r;
        }

        /* What follows from the keys together, for what neither the section nor `defaults` gave. */
        if (cfg_size(sec, "exec") && !cfg_size(sec, "builtin"))
                s->builtin = BUILTIN_NONE; /* a section's own exec replaces a builtin of `defaults` */
        if (s->builtin) {
                free(s->argv); /* and its own builtin an exec (packed: strv_pack()) */
                s->argv = NULL;
        }
        if (!s->socket_type)
                s->socket_type = SOCK_STREAM;
        if (!s->wait_set)
                s->wait = s->socket_type == SOCK_DGRAM; /* inetd: dgram services wait, stream ones do not */
        if (!s->max_rate_set)
                s->max_rate = s->wait ? WAIT_MAX_RATE_DEFAULT : 0; /* a handler that leaves its datagram restarts */
        return bad;
}

/* ---- printing ---- */

static void key_print(FILE *out, const struct key *k, const struct service *s)
{
        const void *p = cfield_of(s, k->offset);
        long long v;

        if (k->when == PRINT_PROXY && !s->proxy_protocol)
                return;
        if (k->print) {
                k->print(out, s);
                return;
        }
        switch (k->type) {
        case KEY_BOOL:
        case KEY_INT:
        case KEY_WORD:
                v = number_get(k, s);
                if ((k->when == PRINT_NONZERO && v == 0) || (k->when == PRINT_NONNEG && v < 0) ||
                    (k->when == PRINT_GIVEN && !*(const bool *)cfield_of(s, k->given_offset)))
                        return;
                if (k->type == KEY_BOOL)
                        fprintf(out, "    %-14s = %s\n", k->name, v ? "yes" : "no");
                else if (k->words && v >= 0 && (size_t)v < k->n_words && k->words[v])
                        fprintf(out, "    %-14s = %s\n", k->name, k->words[v]);
                else if (k->print_word)
                        fprintf(out, "    %-14s = %s\n", k->name, k->print_word((long)v));
                else if (k->octal)
                        fprintf(out, "    %-14s = %04o\n", k->name, (unsigned)v);
                else
                        fprintf(out, "    %-14s = %lld%s\n", k->name, v, v == 0 && k->zero_note ? k->zero_note : "");
                return;
        case KEY_TEXT:
                if (*(char *const *)p) {
                        config_print_key(out, k->name, *(char *const *)p);
                        fputc('\n', out);
                }
                return;
        case KEY_TEXTS:
                config_print_list(out, k->name, *(char **const *)p);
                return;
        case KEY_CIDRS: {
                unsigned n = *(const unsigned *)cfield_of(s, k->count_offset);
                const struct cidr *c = *(struct cidr *const *)p;
                char buf[CIDR_STRLEN];
                if (!n)
                        return;
                fprintf(out, "    %-14s = {", k->name);
                for (size_t i = 0; i < n; i++)
                        fprintf(out, "%s \"%s\"", i ? "," : "", cidr_format(&c[i], buf, sizeof(buf)));
                fprintf(out, " }\n");
                return;
        }
        case KEY_LISTEN:
                config_print_list(out, k->name, s->listen_text);
                return;
        }
}

void keys_print(FILE *out, const struct service *s)
{
        for (size_t i = 0; i < ELEMENTS(keys); i++)
                key_print(out, &keys[i], s);
}
