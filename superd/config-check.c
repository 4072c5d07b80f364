/* SPDX-License-Identifier: MIT */
/* Checks of a configuration that no single value shows: combinations of keys, names and addresses used twice. */
#include "config-check.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "strv.h"

bool check_listen_twice(struct config_report *r, const struct service *s)
{
        for (size_t i = 0; i < s->n_listen; i++)
                for (size_t j = 0; j < i; j++)
                        if (addr_equal(&s->listen[i], &s->listen[j])) {
                                config_report(r, s->file, (int)s->line, "service '%s': listen address '%s' given twice",
                                              s->name, s->listen_text[i]);
                                return false;
                        }
        return true;
}

bool check_combination(struct config_report *r, const struct service *s)
{
        const struct socket_options *o = &s->sockopt;
        bool ip = false, ip6 = false, unix_file = false, unix_any = false;
        unsigned errors = r->n_errors;

        for (size_t i = 0; i < s->n_listen; i++) {
                int family = s->listen[i].family;
                ip |= family != AF_UNIX;
                ip6 |= family == AF_INET6;
                unix_any |= family == AF_UNIX;
                unix_file |= family == AF_UNIX && s->listen[i].un.path[0] == '/';
        }
#define BAD(...) config_report(r, s->file, (int)s->line, "service '%s': " __VA_ARGS__)
        if (s->socket_type == SOCK_SEQPACKET && ip)
                BAD("socket-type = seqpacket needs unix: addresses (no SCTP over IP)", s->name);
        if (s->builtin && unix_any)
                BAD("builtin %s serves IP addresses only, not unix:", s->name, builtin_name(s->builtin));
        if (s->builtin && s->socket_type == SOCK_SEQPACKET)
                BAD("builtin %s needs socket-type stream or dgram", s->name, builtin_name(s->builtin));
        if (s->builtin && (s->timeout || s->process.set_nice || s->process.umask >= 0 || s->process.working_directory ||
                           s->process.no_new_privileges || s->process.rlimit_nofile >= 0 || s->process.rlimit_as >= 0 ||
                           s->process.rlimit_cpu >= 0 || s->process.rlimit_nproc >= 0))
                BAD("timeout and process settings do not apply to a builtin (nothing is spawned)", s->name);
        if (s->builtin && s->max_per_source)
                BAD("max-per-source counts running handlers; a builtin spawns none (use max-instances)", s->name);
        if ((s->max_per_source || s->n_allow || s->n_deny) && !ip)
                BAD("max-per-source, allow and deny need IP addresses (unix: peers have none)", s->name);
        if ((s->max_per_source || s->n_allow || s->n_deny) && s->wait && s->socket_type != SOCK_DGRAM)
                BAD("max-per-source, allow and deny are checked per connection or datagram: a wait = yes handler "
                    "accepts its connections itself",
                    s->name);
        if ((s->n_allow || s->n_deny) && s->builtin && s->socket_type == SOCK_DGRAM)
                BAD("allow and deny do not apply to a dgram builtin", s->name);
        if (s->builtin && s->socket_type == SOCK_STREAM && s->wait)
                BAD("wait = yes does not apply to a stream builtin (each connection is served in-process)", s->name);
        if (!s->builtin && s->socket_type == SOCK_DGRAM && !s->wait)
                BAD("wait = no needs a builtin on a dgram socket: a datagram has no connection to hand over", s->name);
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
        /* The header precedes a connection's data: a dgram or wait = yes handler gets no connection to read it from. */
        if (s->proxy_protocol && (s->socket_type != SOCK_STREAM || s->wait))
                BAD("proxy-protocol needs a stream service with wait = no", s->name);
        /* Anyone who reaches an IP listener could claim any client address: only trusted balancers may. */
        if (s->proxy_protocol && ip && !s->n_proxy_from)
                BAD("proxy-protocol on IP addresses needs proxy-from (the balancers allowed to send a header)",
                    s->name);
        /* Not printed without proxy-protocol (so -t parses back the same), and a sign of a forgotten one. */
        if (!s->proxy_protocol && s->n_proxy_from)
                BAD("proxy-from applies only with proxy-protocol", s->name);
        if (!s->proxy_protocol && s->proxy_timeout != PROXY_TIMEOUT_DEFAULT)
                BAD("proxy-timeout applies only with proxy-protocol", s->name);
        if (!s->proxy_protocol && s->proxy_health_close)
                BAD("proxy-health applies only with proxy-protocol", s->name);
        /* A pool shares the listening socket itself: only a wait = yes handler gets it (workers.h). */
        if ((s->workers || s->workers_eager) && (!s->wait || s->builtin))
                BAD("workers and workers-start need wait = yes and an exec'd handler (not a builtin)", s->name);
        if ((s->workers > 1 || s->workers_eager) && (s->max_per_source || s->n_allow || s->n_deny))
                BAD("max-per-source, allow and deny are checked before a handler starts: workers accept by "
                    "themselves",
                    s->name);
        if (strv_length(s->env) + strv_length(s->pass_env) > SERVICE_ENV_MAX)
                BAD("env and pass-env: more than %d variables", s->name, SERVICE_ENV_MAX);
#undef BAD
        return r->n_errors == errors;
}

static int compare_index_by_name(const void *a, const void *b, void *services)
{
        struct service *const *s = services;
        size_t i = *(const size_t *)a, j = *(const size_t *)b;
        int r = strcmp(s[i]->name, s[j]->name);

        /* Ties keep load order, so the first definition is named as the original. */
        return r ? r : (i < j ? -1 : i > j);
}

void check_duplicates(struct config_report *r, const struct config *c)
{
        size_t *order, first = 0;

        if (c->n_services < 2)
                return;
        order = malloc(c->n_services * sizeof(*order));
        if (!order) {
                config_report(r, c->services_dir, 0, "out of memory");
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
                config_report(r, b->file, (int)b->line, "service '%s' is already defined at %s:%u", b->name, a->file,
                              a->line);
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
        if (r->svc->listen[r->i].family == AF_UNIX)
                return 0;
        return r->svc->socket_type == SOCK_DGRAM ? 1 : 2;
}

static int compare_listen_refs(const void *a, const void *b)
{
        const struct listen_ref *x = a, *y = b;
        const struct listen_addr *p = &x->svc->listen[x->i], *q = &y->svc->listen[y->i];
        int r = namespace_of(x) - namespace_of(y);

        if (r == 0)
                r = addr_compare(p, q);

        return r ? r : (x->order < y->order ? -1 : x->order > y->order);
}

void check_listen_conflicts(struct config_report *r, const struct config *c)
{
        struct listen_ref *refs;
        size_t n = 0;

        for (size_t i = 0; i < c->n_services; i++)
                n += c->services[i]->disable ? 0 : c->services[i]->n_listen;
        if (n < 2)
                return;
        refs = malloc(n * sizeof(*refs));
        if (!refs) {
                config_report(r, c->services_dir, 0, "out of memory");
                return;
        }
        n = 0;
        for (size_t i = 0; i < c->n_services; i++)
                for (size_t j = 0; !c->services[i]->disable && j < c->services[i]->n_listen; j++)
                        refs[n] = (struct listen_ref){c->services[i], j, n}, n++;
        qsort(refs, n, sizeof(*refs), compare_listen_refs);
        for (size_t i = 1, first = 0; i < n; i++) {
                const struct listen_ref *a = &refs[first], *b = &refs[i];
                if (namespace_of(a) != namespace_of(b) || !addr_equal(&a->svc->listen[a->i], &b->svc->listen[b->i])) {
                        first = i;
                        continue;
                }
                if (a->svc != b->svc)
                        config_report(r, b->svc->file, (int)b->svc->line,
                                      "service '%s': listen address '%s' is already used by service '%s' at %s:%u",
                                      b->svc->name, b->svc->listen_text[b->i], a->svc->name, a->svc->file,
                                      a->svc->line);
        }
        free(refs);
}
