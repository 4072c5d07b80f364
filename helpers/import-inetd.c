/* SPDX-License-Identifier: MIT */
/* inetd.conf in the OpenBSD/Debian (openbsd-inetd) format, read and translated into superd services. */
#include "import-inetd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "import-addr.h"
#include "strv.h"

#define OFF_PREFIX  "#<off>#" /* update-inetd --disable */
#define PER_MINUTE  60        /* inetd(8): .max counts starts in one minute ... */
#define RETRY_PAUSE 600       /* ... and a service over it rests ten minutes */

/* One entry, its fields pointing into the line. */
struct entry {
        const char *file;
        unsigned line;
        char *host;    /* from "addr:service" or the last "addr:" line; NULL: all addresses */
        char *service; /* name, number or /path */
        char *type, *proto, *wait, *user, *program;
        char **argv; /* NULL-terminated, argv[0] first */
        bool off;
};

static bool is_socket_type(const char *w)
{
        return strcmp(w, "stream") == 0 || strcmp(w, "dgram") == 0 || strcmp(w, "raw") == 0 || strcmp(w, "rdm") == 0 ||
               strcmp(w, "seqpacket") == 0;
}

static bool entry_words(char *line)
{
        char *copy = strdup(line), **w = copy ? imp_split_words(copy) : NULL;
        bool ok = w && strv_length(w) >= 6 && is_socket_type(w[1]);

        free(w);
        free(copy);
        return ok;
}

bool imp_inetd_detect(const char *text)
{
        char *copy = strdup(text), *cursor = copy, *line;
        bool found = false, decided = false;

        while (copy && !decided && (line = imp_next_line(&cursor))) {
                const char *p = line + strspn(line, " \t\r");
                if (strncmp(p, OFF_PREFIX, strlen(OFF_PREFIX)) == 0 || strncmp(p, "#:", 2) == 0)
                        found = decided = true;
                else if (*p && *p != '#')
                        found = entry_words(line), decided = true;
        }
        free(copy);
        return found;
}

/* "addr:service": splits off the address ("*", IPv4, [IPv6], host name). */
static void split_host(char *word, char **ret_host, char **ret_service)
{
        char *colon = word[0] == '[' ? strstr(word, "]:") : strrchr(word, ':');

        *ret_host = NULL;
        *ret_service = word;
        if (!colon || word[0] == '/')
                return;
        if (word[0] == '[') {
                *colon = '\0';
                *ret_host = word + 1;
                *ret_service = colon + 2;
        } else {
                *colon = '\0';
                *ret_host = word;
                *ret_service = colon + 1;
        }
        if (strcmp(*ret_host, "*") == 0)
                *ret_host = NULL;
}

/* The listen address: [host or wildcard of the protocol's family]:port. */
static int tr_listen(struct imp_service *s, struct entry *e, struct imp_report *r)
{
        const char *proto = e->proto, *host = e->host;
        bool v6 = strcmp(proto, "tcp6") == 0 || strcmp(proto, "udp6") == 0;
        bool v46 = strcmp(proto, "tcp46") == 0 || strcmp(proto, "udp46") == 0;
        char base[4], text[INET6_ADDRSTRLEN + 16], **addrs = NULL;
        unsigned char buf[16];
        long long port;

        if (strcmp(proto, "unix") == 0) {
                snprintf(text, sizeof(text), "unix:%s", e->service);
                if (e->service[0] != '/')
                        return asprintf(&s->unusable, "protocol unix needs a /path, not %s", e->service) < 0 ? -ENOMEM
                                                                                                             : 0;
                return strv_push(&s->listen, text);
        }
        snprintf(base, sizeof(base), "%.3s", proto);
        if (imp_parse_ll(e->service, 1, 65535, &port) < 0) {
                struct servent *se = getservbyname(e->service, base);
                if (!se)
                        return asprintf(&s->unusable, "%s/%s is not in /etc/services", e->service, base) < 0 ? -ENOMEM
                                                                                                             : 0;
                port = ntohs((uint16_t)se->s_port);
        }
        if (host && inet_pton(AF_INET, host, buf) != 1 && inet_pton(AF_INET6, host, buf) != 1) {
                if (imp_resolve(host, &addrs) < 0)
                        return asprintf(&s->unusable, "cannot resolve %s", host) < 0 ? -ENOMEM : 0;
                imp_warn(r, e->file, e->line, "%s resolved to %s now: the address is fixed in the drop-in", host,
                         addrs[0]);
                host = addrs[0];
        }
        if (!host)
                host = v6 || v46 ? "::" : "0.0.0.0";
        snprintf(text, sizeof(text), strchr(host, ':') ? "[%s]:%lld" : "%s:%lld", host, port);
        strv_free(addrs);
        s->ipv6_only = v6 && strchr(host, ':');
        return strv_push(&s->listen, text);
}

static int tr_socket(struct imp_service *s, struct entry *e)
{
        static const char *const protos[] = {"tcp", "tcp4", "tcp6", "tcp46", "udp", "udp4", "udp6", "udp46", "unix"};
        bool known = false,
             rpc = strncmp(e->proto, "rpc/", 4) == 0 || (strchr(e->service, '/') && e->service[0] != '/');

        for (size_t i = 0; i < sizeof(protos) / sizeof(*protos); i++)
                known |= strcmp(e->proto, protos[i]) == 0;
        if (rpc)
                return asprintf(&s->unusable, "%s: superd serves no RPC services", e->proto) < 0 ? -ENOMEM : 0;
        if (!known)
                return asprintf(&s->unusable, "protocol %s: superd serves tcp, udp and unix", e->proto) < 0 ? -ENOMEM
                                                                                                            : 0;
        if (strcmp(e->type, "stream") != 0 && strcmp(e->type, "dgram") != 0 && strcmp(e->type, "seqpacket") != 0)
                return asprintf(&s->unusable, "socket type %s: superd has stream, dgram and seqpacket", e->type) < 0
                           ? -ENOMEM
                           : 0;
        s->socket_type = strcmp(e->type, "stream") == 0  ? "stream"
                         : strcmp(e->type, "dgram") == 0 ? "dgram"
                                                         : "seqpacket";
        return 0;
}

/* wait|nowait[.max[.per-ip]] */
static int tr_wait(struct imp_service *s, struct entry *e, struct imp_report *r)
{
        char *dot = strchr(e->wait, '.'), *dot2 = dot ? strchr(dot + 1, '.') : NULL;
        long long max, perip;
        int k = 0;

        if (dot)
                *dot = '\0';
        if (dot2)
                *dot2 = '\0';
        if (strcmp(e->wait, "wait") != 0 && strcmp(e->wait, "nowait") != 0)
                return imp_error(r, e->file, e->line, "'%s': expected wait or nowait", e->wait);
        s->wait = strcmp(e->wait, "wait") == 0;
        if (dot && imp_parse_ll(dot + 1, 1, 1000000, &max) < 0)
                return imp_error(r, e->file, e->line, "'%s': expected a number of starts a minute", dot + 1);
        if (dot2 && imp_parse_ll(dot2 + 1, 0, 1000000, &perip) < 0)
                return imp_error(r, e->file, e->line, "'%s': expected a number per address", dot2 + 1);
        if (dot) {
                s->max_rate = (max + PER_MINUTE - 1) / PER_MINUTE;
                s->rate_pause = RETRY_PAUSE;
                k = imp_comment(s,
                                "inetd: %s.%lld = at most %lld starts a minute, then 10 minutes off; superd counts "
                                "per second",
                                e->wait, max, max);
        }
        if (k >= 0 && dot2 && !s->wait && strcmp(s->socket_type, "stream") == 0 && !s->builtin &&
            strcmp(e->proto, "unix") != 0)
                s->max_per_source = perip;
        else if (k >= 0 && dot2) {
                char d[64];
                snprintf(d, sizeof(d), "%s.%lld.%lld", e->wait, max, perip);
                k = imp_untranslated(r, s, e->file, e->line, d,
                                     "superd counts max-per-source on stream services "
                                     "with nowait that start a handler");
        }
        if (k >= 0 && s->builtin && s->wait >= 0) {
                k = imp_comment(s, "inetd: %s (a builtin serves its connections itself)", e->wait);
                s->wait = -1;
        }
        return k;
}

/* user[:group] or user.group */
static int tr_user(struct imp_service *s, struct entry *e)
{
        char *sep = strchr(e->user, ':');

        if (!sep)
                sep = strchr(e->user, '.');
        if (sep)
                *sep = '\0';
        if (s->builtin)
                return imp_comment(s, "inetd: user %s (a builtin starts no process)", e->user);
        s->user = strdup(e->user);
        s->group = sep ? strdup(sep + 1) : NULL;
        return !s->user || (sep && !s->group) ? -ENOMEM : 0;
}

static int tr_program(struct imp_service *s, struct entry *e, struct imp_report *r)
{
        static const char *const builtins[] = {"echo", "discard", "chargen", "daytime", "time"};

        if (strcmp(e->program, "internal") != 0) {
                if (e->program[0] != '/')
                        return asprintf(&s->unusable, "program %s is not an absolute path", e->program) < 0 ? -ENOMEM
                                                                                                            : 0;
                return imp_set_exec(s, e->program, e->argv, r, e->file, e->line);
        }
        for (size_t i = 0; i < sizeof(builtins) / sizeof(*builtins); i++)
                if (strcmp(e->service, builtins[i]) == 0)
                        s->builtin = builtins[i];
        if (!s->builtin)
                return asprintf(&s->unusable, "inetd's internal service '%s' has no superd builtin", e->service) < 0
                           ? -ENOMEM
                           : 0;
        if (e->argv && e->argv[0])
                return imp_comment(s, "inetd: arguments of an internal service ignored");
        return 0;
}

static int translate(struct imp_set *set, struct entry *e, struct imp_report *r)
{
        struct imp_service *s = imp_service_new();
        int k;

        if (!s)
                return -ENOMEM;
        if (asprintf(&s->origin, "%s:%u (inetd.conf %s/%s%s)", e->file, e->line, e->service, e->proto,
                     e->off ? ", switched off by update-inetd" : "") < 0) {
                imp_service_free(s);
                return -ENOMEM;
        }
        s->disable = e->off;
        k = tr_socket(s, e);
        k = k < 0 || s->unusable ? k : tr_program(s, e, r);
        k = k < 0 || s->unusable ? k : tr_wait(s, e, r);
        k = k < 0 || s->unusable ? k : tr_user(s, e);
        k = k < 0 || s->unusable ? k : tr_listen(s, e, r);
        if (k < 0) {
                imp_service_free(s);
                return k;
        }
        const char *base = strrchr(e->service, '/') ? strrchr(e->service, '/') + 1 : e->service;
        k = imp_set_add(set, s, base, e->type, r, e->file, e->line);
        if (k >= 0 && s->unusable)
                k = imp_untranslated(r, NULL, e->file, e->line, e->service, "%s; the drop-in is commented out",
                                     s->unusable);
        return k;
}

/* One entry line (without "#<off>#"). DEFAULT_HOST is the host of the last "addr:" line. */
static int parse_entry(struct imp_set *set, char *line, struct entry *e, const char *default_host, struct imp_report *r)
{
        char **w = imp_split_words(line);
        size_t n = strv_length(w);
        int k;

        if (!w)
                return -ENOMEM;
        if (n < 6) {
                free(w);
                return imp_error(r, e->file, e->line,
                                 "expected at least 6 fields (service, socket type, protocol, "
                                 "wait, user, program), got %zu",
                                 n);
        }
        split_host(w[0], &e->host, &e->service);
        if (!e->host && strchr(w[0], ':') == NULL)
                e->host = (char *)default_host;
        e->type = w[1];
        e->proto = w[2];
        e->wait = w[3];
        e->user = w[4];
        e->program = w[5];
        e->argv = w + 6;
        k = is_socket_type(e->type) ? translate(set, e, r)
                                    : imp_error(r, e->file, e->line, "'%s': not a socket type", e->type);
        free(w);
        return k;
}

int imp_inetd_read(struct imp_set *set, char *text, const char *file, struct imp_report *r)
{
        char *cursor = text, *line, *default_host = NULL;
        unsigned lineno = 0, errors = r->errors;
        int k = 0;

        while (k != -ENOMEM && (line = imp_next_line(&cursor))) {
                struct entry e = {.file = file, .line = ++lineno};
                char *p = line + strspn(line, " \t\r");
                size_t len;
                if (strncmp(p, OFF_PREFIX, strlen(OFF_PREFIX)) == 0) {
                        e.off = true;
                        p += strlen(OFF_PREFIX);
                        p += strspn(p, " \t\r");
                        if (*p == '#') /* "#<off># #..." is a comment that was switched off */
                                continue;
                }
                if (!*p || *p == '#')
                        continue;
                len = strcspn(p, " \t\r");
                if (p[len - 1] == ':' && !p[len + strspn(p + len, " \t\r")]) { /* "addr:" alone: later entries' host */
                        p[len - 1] = '\0';
                        free(default_host);
                        default_host = strcmp(p, "*") == 0 ? NULL : strdup(p[0] == '[' ? p + 1 : p);
                        if (default_host && p[0] == '[')
                                default_host[strcspn(default_host, "]")] = '\0';
                        continue;
                }
                k = parse_entry(set, p, &e, default_host, r);
        }
        free(default_host);
        return k == -ENOMEM ? k : r->errors > errors ? -EINVAL : 0;
}
