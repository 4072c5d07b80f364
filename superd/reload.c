/* SPDX-License-Identifier: MIT */
/* The reload (SIGHUP, superctl reload): load the configuration again and apply it without refusing a connection. */
#include "reload.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "listener.h"
#include "log.h"
#include "reload-plan.h"
#include "server.h"
#include "service.h"
#include "spawn.h"

/* Load the configuration; on errors log each line and hand them to *ret_errors. */
static int load(struct server *srv, struct config **ret_cfg, char **ret_errors)
{
        char *errors = NULL;
        size_t errors_len = 0;
        FILE *err = open_memstream(&errors, &errors_len);
        int r = err ? config_load(srv->opts->config_file, srv->opts->services_dir, err, ret_cfg) : -ENOMEM;

        if (err)
                fclose(err);
        if (r < 0) {
                /* One log line per FILE:LINE error, so each is found in the journal on its own. */
                for (char *line = errors, *end; line && *line; line = end + 1) {
                        end = strchrnul(line, '\n');
                        log_err("reload: %.*s", (int)(end - line), line);
                        if (!*end)
                                break;
                }
                log_err("reload failed: configuration is invalid; the running services are unchanged");
                if (ret_errors) {
                        *ret_errors = errors;
                        errors = NULL;
                }
        }
        free(errors);
        return r;
}

/* The runtime states of cfg's enabled services (taking their configurations), or NULL (ENOMEM). */
static struct service_state **services_of(struct server *srv, struct config *cfg, size_t *ret_n)
{
        struct service_state **next = calloc(cfg->n_services ? cfg->n_services : 1, sizeof(*next));
        size_t n = 0;

        for (size_t i = 0; next && i < cfg->n_services; i++) {
                if (cfg->services[i]->disable)
                        continue;
                next[n] = service_state_new(srv, cfg->services[i]);
                if (!next[n]) {
                        while (n > 0)
                                service_state_unref(next[--n]);
                        free(next);
                        return NULL;
                }
                cfg->services[i] = NULL; /* now owned by next[n] */
                n++;
        }
        *ret_n = n;
        return next;
}

/* The identities of every open listener of `services`, with the listeners themselves beside them. */
static size_t collect_identities(struct service_state **services, size_t n, bool open_only,
                                 struct listen_identity *ret_ids, struct listener **ret_listeners)
{
        size_t count = 0;

        for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < services[i]->n_listeners; j++) {
                        struct listener *l = &services[i]->listeners[j];
                        const struct service *conf = services[i]->conf;
                        if (open_only && l->fd < 0)
                                continue;
                        ret_ids[count] = (struct listen_identity){ &conf->listen[j], conf->socket_type, &conf->sockopt,
                                                                   conf->builtin != BUILTIN_NONE, l->adopted };
                        ret_listeners[count++] = l;
                }
        return count;
}

static size_t count_listeners(struct service_state **services, size_t n)
{
        size_t count = 0;

        for (size_t i = 0; i < n; i++)
                count += services[i]->n_listeners;
        return count;
}

/*
 * The plan and the names: everything a reload needs to allocate, computed
 * before anything changes, so that running out of memory leaves the
 * running set as it was.
 */
struct plan {
        struct listen_identity *old_ids, *new_ids;
        struct listener **old_listeners, **new_listeners;
        size_t n_old, n_new;
        ssize_t *take;        /* per new listener: the old one whose socket it takes, or -1 */
        const char **names;   /* old service names, then the names of running handlers' services */
        ssize_t *successor;   /* per old service, then per running handler: the index of its new service, or -1 */
        const char **next_names;
};

static void plan_free(struct plan *p)
{
        free(p->old_ids);
        free(p->new_ids);
        free(p->old_listeners);
        free(p->new_listeners);
        free(p->take);
        free(p->names);
        free(p->successor);
        free(p->next_names);
}

static int plan_make(struct server *srv, struct service_state **next, size_t n_next, struct plan *p)
{
        size_t n_old = count_listeners(srv->services, srv->n_services), n_new = count_listeners(next, n_next);
        size_t n_names = srv->n_services + srv->children.n, k = 0;

        *p = (struct plan){
                .old_ids = calloc(n_old + 1, sizeof(*p->old_ids)),
                .new_ids = calloc(n_new + 1, sizeof(*p->new_ids)),
                .old_listeners = calloc(n_old + 1, sizeof(*p->old_listeners)),
                .new_listeners = calloc(n_new + 1, sizeof(*p->new_listeners)),
                .take = calloc(n_new + 1, sizeof(*p->take)),
                .names = calloc(n_names + 1, sizeof(*p->names)),
                .successor = calloc(n_names + 1, sizeof(*p->successor)),
                .next_names = calloc(n_next + 1, sizeof(*p->next_names)),
        };
        if (!p->old_ids || !p->new_ids || !p->old_listeners || !p->new_listeners || !p->take || !p->names ||
            !p->successor || !p->next_names)
                return -ENOMEM;
        p->n_old = collect_identities(srv->services, srv->n_services, true, p->old_ids, p->old_listeners);
        p->n_new = collect_identities(next, n_next, false, p->new_ids, p->new_listeners);
        for (size_t i = 0; i < n_next; i++)
                p->next_names[i] = next[i]->conf->name;
        for (size_t i = 0; i < srv->n_services; i++)
                p->names[k++] = srv->services[i]->conf->name;
        for (size_t i = 0; i < srv->children.cap; i++)
                if (srv->children.slots[i].pid)
                        p->names[k++] = srv->children.slots[i].service->conf->name;
        if (reload_plan_listeners(p->old_ids, p->n_old, p->new_ids, p->n_new, p->take) < 0 ||
            reload_plan_names(p->next_names, n_next, p->names, k, p->successor) < 0)
                return -ENOMEM;
        return 0;
}

/* Move a running handler to the new service of its name: it counts against the new limits from now on. */
static void move_child(struct child *c, struct service_state *st)
{
        if (c->counted_source)
                source_release(&c->service->sources, &c->source);
        c->service->running--;
        service_state_unref(c->service);
        c->service = st;
        service_handler_started(st);
        /* Count it with the new prefix; it already runs, so no limit. */
        c->counted_source = false;
        if (st->conf->max_per_source && c->remote.sin6_family != AF_UNIX && c->remote.sin6_family != AF_UNSPEC) {
                source_key_from((const struct sockaddr *)&c->remote, st->conf->per_source_prefix6, &c->source);
                c->counted_source = source_acquire(&st->sources, &c->source, 0) == 0;
        }
}

static void apply(struct server *srv, struct service_state **next, size_t n_next, const struct plan *p)
{
        size_t k = 0;

        /* Sockets first: a listener whose identity is unchanged keeps its socket, even in another service. */
        for (size_t i = 0; i < p->n_new; i++)
                if (p->take[i] >= 0)
                        listener_take_over(p->new_listeners[i], p->old_listeners[p->take[i]]);
        /*
         * Close what was not taken over before binding anything new: a
         * changed address on the same port ("127.0.0.1:80" to "*:80") must
         * not find its own old socket in the way. Old services that running
         * handlers keep alive must not keep their ports either.
         */
        for (size_t i = 0; i < srv->n_services; i++)
                service_state_close_listeners(srv->services[i]);
        for (size_t i = 0; i < p->n_new; i++)
                if (p->new_listeners[i]->fd < 0)
                        listener_start(p->new_listeners[i]); /* a failure is logged and retried */

        /* Counters and the max-rate window stay with the name. */
        for (size_t i = 0; i < srv->n_services; i++, k++)
                if (p->successor[k] >= 0) {
                        next[p->successor[k]]->count = srv->services[i]->count;
                        next[p->successor[k]]->rate = srv->services[i]->rate;
                }
        for (size_t i = 0; i < srv->children.cap; i++) {
                struct child *c = &srv->children.slots[i];
                if (!c->pid)
                        continue;
                /* A wait handler's socket went to the new listener, or was closed. */
                if (c->wait_listener)
                        c->wait_listener = c->wait_listener->moved_to;
                if (p->successor[k] >= 0)
                        move_child(c, next[p->successor[k]]);
                k++;
        }
}

int reload(struct server *srv, char **ret_errors)
{
        struct service_state **next = NULL;
        struct config *cfg = NULL;
        struct plan plan = { 0 };
        struct timespec ts;
        size_t n_next = 0;
        int r;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        (void)sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
                         (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
        r = load(srv, &cfg, ret_errors);
        if (r < 0)
                goto done;
        next = services_of(srv, cfg, &n_next);
        r = next ? plan_make(srv, next, n_next, &plan) : -ENOMEM;
        if (r < 0) {
                for (size_t i = 0; next && i < n_next; i++)
                        service_state_unref(next[i]);
                free(next);
                log_err("reload failed: out of memory; the running services are unchanged");
                goto done;
        }

        /* Handlers still starting read their old service's memory, which the swap below may free. */
        spawn_wait_all();
        apply(srv, next, n_next, &plan);
        server_collect_builtin_ports(srv, next, n_next);
        /* Old services live on while their handlers run. */
        srv->paused_global = NULL;
        for (size_t i = 0; i < srv->n_services; i++)
                service_state_unref(srv->services[i]);
        free(srv->services);
        srv->services = next;
        srv->n_services = n_next;
        srv->max_children = cfg->max_children;
        if (srv->opts->log_level < 0)
                log_max_level = cfg->log_level;
        server_status_socket_update(srv, cfg->status_socket);
        log_info("reloaded: %zu service(s)", n_next);
done:
        plan_free(&plan);
        config_free(cfg);
        /* Old and new configuration were both in memory: give the pages of the old one back (once per reload). */
        malloc_trim(0);
        server_notify_status(srv, "READY=1");
        return r;
}
