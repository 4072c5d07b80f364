/* SPDX-License-Identifier: MIT */
/* A service at run time: its configuration, listeners, limits, counters and log limiters, reference counted. */
#include "service.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "listener.h"
#include "log.h"
#include "server.h"
#include "workers.h"

static int refusal_summary(sd_event_source *s, uint64_t usec, void *userdata)
{
        const struct service_state *st = container_of(userdata, struct service_state, refusal_log);
        uint64_t n = limited_log_take(userdata);

        if (n)
                log_ctx_msg(LOG_NOTICE, &(struct log_ctx){ .service = st->conf->name },
                            "%llu more refused in the last %llu s (totals: acl %llu, per-source %llu, rate %llu, "
                            "proxy %llu)",
                            (unsigned long long)n, LOG_LIMIT_USEC / 1000000ULL,
                            (unsigned long long)st->count.refused_acl, (unsigned long long)st->count.refused_per_source,
                            (unsigned long long)st->count.refused_rate, (unsigned long long)st->count.refused_proxy);
        return 0;
}

static int exit_summary(sd_event_source *s, uint64_t usec, void *userdata)
{
        const struct service_state *st = container_of(userdata, struct service_state, exit_log);
        uint64_t n = limited_log_take(userdata);

        if (n)
                log_ctx_msg(LOG_WARNING, &(struct log_ctx){ .service = st->conf->name },
                            "%llu more handler(s) failed, exited non-zero, were killed or timed out in the last %llu s "
                            "(total failed to start: %llu)",
                            (unsigned long long)n, LOG_LIMIT_USEC / 1000000ULL, (unsigned long long)st->count.failed);
        return 0;
}

static int limit_summary(sd_event_source *s, uint64_t usec, void *userdata)
{
        const struct service_state *st = container_of(userdata, struct service_state, limit_log);
        uint64_t n = limited_log_take(userdata);

        if (n)
                log_ctx_msg(LOG_NOTICE, &(struct log_ctx){ .service = st->conf->name },
                            "max-instances (%u) reached %llu more time(s) in the last %llu s", st->conf->max_instances,
                            (unsigned long long)n, LOG_LIMIT_USEC / 1000000ULL);
        return 0;
}

bool service_exit_log_pass(struct service_state *st, uint64_t *ret_suppressed)
{
        return limited_log_pass(st->server->event, &st->exit_log, exit_summary, ret_suppressed);
}

bool service_limit_log_pass(struct service_state *st, uint64_t *ret_suppressed)
{
        return limited_log_pass(st->server->event, &st->limit_log, limit_summary, ret_suppressed);
}

void service_state_close_listeners(struct service_state *st)
{
        for (size_t i = 0; i < st->n_listeners; i++)
                listener_close(&st->listeners[i]);
}

struct service_state *service_state_unref(struct service_state *st)
{
        if (!st || --st->refs > 0)
                return NULL;
        service_state_close_listeners(st);
        sd_event_source_disable_unref(st->rate_timer);
        limited_log_done(&st->refusal_log, refusal_summary);
        limited_log_done(&st->exit_log, exit_summary);
        limited_log_done(&st->limit_log, limit_summary);
        source_table_free(&st->sources);
        if (st->stderr_fd > STDERR_FILENO)
                close(st->stderr_fd);
        handler_env_done(&st->env);
        service_free(st->conf);
        free(st);
        return NULL;
}

/* Would the handler get exactly superd's credentials? Then the child skips three system calls. */
static bool same_creds(const struct service *conf)
{
        gid_t groups[64];
        int n;

        if (conf->uid != geteuid() || conf->gid != getegid())
                return false;
        n = getgroups(64, groups);
        if (n < 0 || (size_t)n != conf->n_groups)
                return false;
        for (size_t i = 0; i < conf->n_groups; i++) {
                bool found = false;
                for (int j = 0; j < n && !found; j++)
                        found = groups[j] == conf->groups[i];
                if (!found)
                        return false;
        }
        return true;
}

struct service_state *service_state_new(struct server *srv, struct service *conf)
{
        struct service_state *st = calloc(1, sizeof(*st) + conf->n_listen * sizeof(st->listeners[0]));
        if (!st)
                return NULL;
        st->refs = 1;
        st->conf = conf;
        st->server = srv;
        st->stderr_fd = STDERR_FILENO;
        if (handler_env_init(&st->env, conf, environ) < 0) {
                st->conf = NULL; /* the caller still owns conf */
                service_state_unref(st);
                return NULL;
        }
        st->set_creds = geteuid() == 0 && !same_creds(conf);
        st->n_listeners = conf->n_listen;
        for (size_t i = 0; i < conf->n_listen; i++)
                st->listeners[i] = (struct listener){ .service = st, .fd = -1 };
        if (conf->stderr_mode == STDERR_LOG && !conf->builtin && log_uses_journal()) {
                /* One journal stream per service, shared by its handlers: no connect per spawn. */
                int fd = sd_journal_stream_fd(conf->name, LOG_INFO, 0);
                if (fd >= 0)
                        st->stderr_fd = fd;
        }
        return st;
}

bool service_at_limit(const struct service_state *st)
{
        return st->conf->max_instances && st->running >= st->conf->max_instances;
}

void service_handler_started(struct service_state *st)
{
        service_state_ref(st);
        st->running++;
}

void service_handler_ended(struct service_state *st)
{
        st->running--;
        if (!st->server->stopping) {
                if (!service_at_limit(st)) {
                        st->limit_reached = false;
                        for (size_t i = 0; i < st->n_listeners; i++)
                                listener_resume(&st->listeners[i], PAUSE_SERVICE_LIMIT);
                }
                server_resume_global(st->server);
        }
        service_state_unref(st);
}

static int on_rate_pause_end(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct service_state *st = userdata;

        st->rate_paused = false;
        for (size_t i = 0; i < st->n_listeners; i++)
                listener_resume(&st->listeners[i], PAUSE_RATE);
        log_ctx_msg(LOG_NOTICE, &(struct log_ctx){ .service = st->conf->name }, "rate pause over: accepting again");
        return 0;
}

void service_rate_pause(struct service_state *st)
{
        uint64_t at = server_now(st->server) + st->conf->rate_pause * 1000000ULL;

        if (server_arm_timer(st->server, &st->rate_timer, at, on_rate_pause_end, st) < 0)
                return; /* no timer, no pause: never stop a service for good */
        st->rate_paused = true;
        for (size_t i = 0; i < st->n_listeners; i++)
                listener_pause(&st->listeners[i], PAUSE_RATE);
        log_ctx_msg(LOG_WARNING, &(struct log_ctx){ .service = st->conf->name },
                    st->conf->wait ? "more than %u handler starts in a second: not starting another for %u s"
                                   : "more than %u connections in a second: not accepting for %u s",
                    st->conf->max_rate, st->conf->rate_pause);
}

void service_log_refusal(struct service_state *st, const struct sockaddr_in6 *peer, const char *why)
{
        uint64_t suppressed;
        char addr[ADDR_STRLEN];

        if (!limited_log_pass(st->server->event, &st->refusal_log, refusal_summary, &suppressed))
                return;
        addr_format_peer(peer, addr, sizeof(addr));
        log_ctx_msg(LOG_NOTICE, &(struct log_ctx){ .service = st->conf->name, .remote = addr },
                    "refused %s: %s (%llu more refused in the last %llu s; totals: acl %llu, per-source %llu, rate %llu, "
                    "proxy %llu)",
                    addr, why, (unsigned long long)suppressed, LOG_LIMIT_USEC / 1000000ULL,
                    (unsigned long long)st->count.refused_acl, (unsigned long long)st->count.refused_per_source,
                    (unsigned long long)st->count.refused_rate, (unsigned long long)st->count.refused_proxy);
}

size_t service_state_workers(const struct service_state *st)
{
        size_t n = 0;

        for (size_t i = 0; i < st->n_listeners; i++)
                n += workers_count(&st->listeners[i]);
        return n;
}

void service_state_snapshot(const struct service_state *st, struct status_listener *listeners,
                            struct status_worker *workers, struct status_service *ret)
{
        for (size_t i = 0; i < st->n_listeners; i++) {
                const struct listener *l = &st->listeners[i];
                size_t n = 0;
                listeners[i] = (struct status_listener){ .listen = st->conf->listen_text[i], .open_error = l->open_error };
                if (l->workers) {
                        listeners[i].pool = true;
                        listeners[i].workers = workers;
                        listeners[i].n_workers = workers_snapshot(l, server_now(st->server), workers);
                        listeners[i].queue = l->fd >= 0 ? workers_queue_length(l->fd, st->conf->socket_type) : -1;
                        workers += listeners[i].n_workers;
                }
                for (unsigned bit = 0; bit < PAUSE_REASONS; bit++)
                        if (l->paused & (1u << bit))
                                listeners[i].pause_reasons[n++] = pause_reason_name(1u << bit);
        }
        *ret = (struct status_service){
                .name = st->conf->name,
                .listeners = listeners,
                .n_listeners = st->n_listeners,
                .running = st->running,
                .accepted = st->count.accepted,
                .failed = st->count.failed,
                .refused_acl = st->count.refused_acl,
                .refused_per_source = st->count.refused_per_source,
                .refused_rate = st->count.refused_rate,
                .refused_proxy = st->count.refused_proxy,
        };
}
