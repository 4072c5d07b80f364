/* SPDX-License-Identifier: MIT */
/* Worker pools (`workers = N`): long-lived handlers sharing one listening socket, started on demand, supervised. */
#include "workers.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "accept.h"
#include "children.h"
#include "listener.h"
#include "log.h"
#include "server.h"
#include "service.h"
#include "status.h"
#include "strv.h"

/* ---- pure parts ---- */

bool workers_configured(const struct service *conf)
{
        return conf->wait && !conf->builtin && (conf->workers > 1 || conf->workers_eager);
}

unsigned workers_resolve(const struct service *conf)
{
        cpu_set_t set;
        int n;

        if (conf->workers != WORKERS_AUTO)
                return conf->workers ? conf->workers : 1;
        if (sched_getaffinity(0, sizeof(set), &set) < 0)
                return 1;
        n = CPU_COUNT(&set);
        return n < 1 ? 1 : n > WORKERS_MAX ? WORKERS_MAX : (unsigned)n;
}

uint64_t workers_back_off_next(uint64_t current_usec)
{
        if (current_usec < WORKERS_BACK_OFF_MIN_USEC)
                return WORKERS_BACK_OFF_MIN_USEC;
        return current_usec >= WORKERS_BACK_OFF_MAX_USEC / 2 ? WORKERS_BACK_OFF_MAX_USEC : current_usec * 2;
}

bool workers_want_another(unsigned running, unsigned idle, bool pending)
{
        return idle > 0 && (running == 0 || pending);
}

int workers_queue_length(int fd, int socket_type)
{
        struct pollfd p = { .fd = fd, .events = POLLIN };
        struct tcp_info info;
        socklen_t len = sizeof(info);
        int r;

        /* tcpi_unacked of a listening TCP socket is its accept queue (sk_ack_backlog). */
        if (socket_type == SOCK_STREAM && getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 &&
            len >= offsetof(struct tcp_info, tcpi_unacked) + sizeof(info.tcpi_unacked))
                return (int)info.tcpi_unacked;
        /* Unix sockets have no such count, and SIOCINQ of a dgram socket is the size of one datagram. */
        do
                r = poll(&p, 1, 0);
        while (r < 0 && errno == EINTR);
        if (r < 0)
                return -errno;
        return r > 0 && (p.revents & POLLIN);
}

/* Two NULL-terminated arrays with the same strings in the same order (either may be NULL: empty). */
static bool same_strv(char *const *a, char *const *b)
{
        size_t n = strv_length(a);

        if (n != strv_length(b))
                return false;
        for (size_t i = 0; i < n; i++)
                if (strcmp(a[i], b[i]) != 0)
                        return false;
        return true;
}

/* ---- the pool ---- */

static struct server *pool_server(const struct worker_pool *pool)
{
        return pool->listener->service->server;
}

static const char *pool_name(const struct worker_pool *pool)
{
        return pool->listener->service->conf->name;
}

/* A slot that may start now: within N, no worker, not backing off. */
static bool slot_idle(const struct worker_pool *pool, unsigned i)
{
        return i < pool->target && !pool->slots[i].pid && !pool->slots[i].until_usec;
}

static unsigned count_idle(const struct worker_pool *pool)
{
        unsigned n = 0;

        for (unsigned i = 0; i < pool->target; i++)
                n += slot_idle(pool, i);
        return n;
}

/* Watch the socket exactly when a slot may start and no look at the queue is pending. */
static void update_watch(struct worker_pool *pool)
{
        if (!pool->settling && count_idle(pool) > 0)
                listener_resume(pool->listener, PAUSE_WORKERS);
        else
                listener_pause(pool->listener, PAUSE_WORKERS);
}

static int on_back_off_end(sd_event_source *s, uint64_t usec, void *userdata);

/* Arm the back-off timer for the earliest slot still backing off, or leave it off when none is. */
static void arm_back_off(struct worker_pool *pool)
{
        uint64_t next = 0;

        for (unsigned i = 0; i < pool->cap; i++)
                if (pool->slots[i].until_usec && (!next || pool->slots[i].until_usec < next))
                        next = pool->slots[i].until_usec;
        if (!next) {
                if (pool->back_off)
                        (void)sd_event_source_set_enabled(pool->back_off, SD_EVENT_OFF);
                return;
        }
        if (server_arm_timer(pool_server(pool), &pool->back_off, next, on_back_off_end, pool) < 0) {
                /* Without a timer a backing-off slot would never start again: let it start at the next chance. */
                for (unsigned i = 0; i < pool->cap; i++)
                        pool->slots[i].until_usec = 0;
        }
}

/* Back slot i off after a quick exit or a failed start: 1 s doubling to 60 s, logged once per step. */
static void back_off(struct worker_pool *pool, unsigned i, const char *why)
{
        struct worker_slot *s = &pool->slots[i];
        uint64_t now = server_now(pool_server(pool));

        s->back_off_usec = workers_back_off_next(s->back_off_usec);
        s->until_usec = now + s->back_off_usec;
        log_ctx_msg(LOG_WARNING, &(struct log_ctx){ .service = pool_name(pool) },
                    "worker %u %s: restarting it in %llu s", i, why,
                    (unsigned long long)(s->back_off_usec / 1000000ULL));
        arm_back_off(pool);
}

/* Start the worker of slot i. Returns its pid or -errno (the slot then backs off). */
static int start_slot(struct worker_pool *pool, unsigned i)
{
        struct server *srv = pool_server(pool);
        struct worker_slot *s = &pool->slots[i];
        struct child *c;
        int pid = accept_start_worker(pool->listener, i);

        if (pid < 0) {
                back_off(pool, i, "could not be started");
                return pid;
        }
        c = children_find(&srv->children, pid);
        if (c) {
                c->wait_listener = NULL; /* the pool, not PAUSE_WAIT, follows it */
                c->pool = pool;
                c->worker_slot = i;
        }
        if (s->started)
                s->restarts++;
        s->started = true;
        s->stale = false;
        s->pid = pid;
        s->start_usec = server_now(srv);
        pool->last_start_usec = s->start_usec;
        pool->running++;
        log_ctx_msg(LOG_DEBUG, &(struct log_ctx){ .service = pool_name(pool), .pid = pid }, "worker %u started: pid %d",
                    i, pid);
        return pid;
}

/* SIGTERM to worker pid's process group (it leads one: setsid in spawn.c). */
static void terminate(pid_t pid)
{
        if (kill(-pid, SIGTERM) < 0)
                (void)kill(pid, SIGTERM);
}

/* SIGKILL to the workers of pool that left their slots and are still running (O(children), rare). */
static int on_retire_kill(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct worker_pool *pool = userdata;
        struct child_table *t = &pool_server(pool)->children;

        for (size_t i = 0; i < t->cap; i++) {
                const struct child *c = &t->slots[i];
                if (c->pid && c->pool == pool &&
                    (c->worker_slot >= pool->cap || pool->slots[c->worker_slot].pid != c->pid)) {
                        log_ctx_msg(LOG_WARNING, &(struct log_ctx){ .service = pool_name(pool), .pid = c->pid },
                                    "replaced worker %d still running %llu s after SIGTERM: sending SIGKILL",
                                    (int)c->pid, WORKERS_RETIRE_KILL_USEC / 1000000ULL);
                        if (kill(-c->pid, SIGKILL) < 0)
                                (void)kill(c->pid, SIGKILL);
                }
        }
        return 0;
}

/* old, a worker that just left its slot, gets SIGTERM, and SIGKILL WORKERS_RETIRE_KILL_USEC later. */
static void retire_pid(struct worker_pool *pool, pid_t old)
{
        struct server *srv = pool_server(pool);

        terminate(old);
        if (pool->retiring++ == 0 &&
            server_arm_timer(srv, &pool->retire_kill, server_now(srv) + WORKERS_RETIRE_KILL_USEC, on_retire_kill,
                             pool) < 0)
                log_ctx_msg(LOG_WARNING, &(struct log_ctx){ .service = pool_name(pool) },
                            "cannot arm the timer that ends replaced workers: they get SIGTERM only");
}

/* Slot i's worker leaves the slot and gets SIGTERM; its exit, when reaped, is the pool's no more. */
static void retire(struct worker_pool *pool, unsigned i)
{
        pid_t old = pool->slots[i].pid;

        pool->slots[i].pid = 0;
        pool->running--;
        retire_pid(pool, old);
}

/*
 * Bring the pool to its configuration: stop the workers beyond N, replace
 * one stale worker (start the new one, then SIGTERM the old one) when no
 * other replaced worker is still exiting, and, eager, start every idle slot.
 * O(cap).
 */
static void converge(struct worker_pool *pool)
{
        struct server *srv = pool_server(pool);

        if (srv->stopping || pool->listener->fd < 0)
                return;
        for (unsigned i = pool->target; i < pool->cap; i++) {
                if (pool->slots[i].pid)
                        retire(pool, i);
                pool->slots[i].until_usec = 0;
        }
        for (unsigned i = 0; i < pool->target && pool->retiring == 0; i++) {
                struct worker_slot *s = &pool->slots[i];
                pid_t old = s->pid;
                if (!old || !s->stale)
                        continue;
                if (server_at_global_limit(srv))
                        break;
                /* The new one first, so the socket always has a worker taking connections. */
                s->pid = 0;
                pool->running--;
                if (start_slot(pool, i) < 0) {
                        s->pid = old; /* keep the old one serving; tried again when it exits */
                        s->until_usec = 0;
                        pool->running++;
                        arm_back_off(pool);
                        break;
                }
                retire_pid(pool, old);
        }
        for (unsigned i = 0; pool->eager && i < pool->target; i++)
                if (slot_idle(pool, i) && !server_at_global_limit(srv))
                        (void)start_slot(pool, i);
        update_watch(pool);
}

static int on_kick(sd_event_source *s, void *userdata)
{
        converge(userdata);
        return 0;
}

/* converge() from the event loop, soon: never from inside a reload or an open. */
static void kick(struct worker_pool *pool)
{
        int r;

        if (pool->kick)
                r = sd_event_source_set_enabled(pool->kick, SD_EVENT_ONESHOT);
        else
                r = sd_event_add_defer(pool_server(pool)->event, &pool->kick, on_kick, pool);
        if (r < 0)
                log_ctx_msg(LOG_ERR, &(struct log_ctx){ .service = pool_name(pool) },
                            "cannot schedule the workers' start: %s; they start at the next connection", strerror(-r));
}

static int on_back_off_end(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct worker_pool *pool = userdata;

        for (unsigned i = 0; i < pool->cap; i++)
                if (pool->slots[i].until_usec && pool->slots[i].until_usec <= usec)
                        pool->slots[i].until_usec = 0;
        arm_back_off(pool);
        converge(pool); /* eager: start them; lazy: watch the socket again */
        return 0;
}

static int on_settled(sd_event_source *s, uint64_t usec, void *userdata);

/* Look at the queue again WORKERS_SETTLE_USEC from now, and at least WORKERS_START_SETTLE_USEC after the newest start. */
static void settle(struct worker_pool *pool)
{
        struct server *srv = pool_server(pool);
        uint64_t at = server_now(srv) + WORKERS_SETTLE_USEC;

        if (pool->last_start_usec && at < pool->last_start_usec + WORKERS_START_SETTLE_USEC)
                at = pool->last_start_usec + WORKERS_START_SETTLE_USEC;
        /* Without the timer: watch again at once (readiness then decides, as for a first start). */
        pool->settling = server_arm_timer(srv, &pool->settle, at, on_settled, pool) >= 0;
}

static int on_settled(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct worker_pool *pool = userdata;
        int queue;

        pool->settling = false;
        queue = workers_queue_length(pool->listener->fd, pool->listener->service->conf->socket_type);
        if (workers_want_another(pool->running, count_idle(pool), queue > 0) &&
            !server_at_global_limit(pool_server(pool))) {
                for (unsigned i = 0; i < pool->target; i++)
                        if (slot_idle(pool, i)) {
                                (void)start_slot(pool, i);
                                break;
                        }
                if (count_idle(pool) > 0)
                        settle(pool); /* look again once this one had its chance */
        }
        update_watch(pool);
        return 0;
}

/* Grow the slot array to hold n slots. Returns 0 or -ENOMEM. */
static int reserve_slots(struct worker_pool *pool, unsigned n)
{
        struct worker_slot *slots;

        if (n <= pool->cap)
                return 0;
        slots = realloc(pool->slots, n * sizeof(*slots));
        if (!slots)
                return -ENOMEM;
        memset(slots + pool->cap, 0, (n - pool->cap) * sizeof(*slots));
        pool->slots = slots;
        pool->cap = n;
        return 0;
}

/* Workers want the socket blocking (as from systemd); superd itself never accepts on a pool's socket. */
static void set_blocking(int fd, bool blocking)
{
        int flags = fcntl(fd, F_GETFL);

        if (flags >= 0)
                (void)fcntl(fd, F_SETFL, blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK);
}

static struct worker_pool *pool_new(struct listener *l)
{
        const struct service *conf = l->service->conf;
        struct worker_pool *pool = calloc(1, sizeof(*pool));

        if (!pool)
                return NULL;
        pool->listener = l;
        pool->target = workers_resolve(conf);
        pool->eager = conf->workers_eager;
        if (reserve_slots(pool, pool->target) < 0) {
                free(pool);
                return NULL;
        }
        return pool;
}

int workers_open(struct listener *l)
{
        l->workers = pool_new(l);
        if (!l->workers)
                return -ENOMEM;
        set_blocking(l->fd, true);
        if (l->workers->eager) {
                listener_pause(l, PAUSE_WORKERS);
                kick(l->workers);
        }
        return 0;
}

/* Free pool: its workers' records forget it (O(children), at stop and reload only). */
static void pool_free(struct server *srv, struct worker_pool *pool)
{
        for (size_t i = 0; i < srv->children.cap; i++)
                if (srv->children.slots[i].pid && srv->children.slots[i].pool == pool)
                        srv->children.slots[i].pool = NULL;
        sd_event_source_disable_unref(pool->back_off);
        sd_event_source_disable_unref(pool->settle);
        sd_event_source_disable_unref(pool->kick);
        sd_event_source_disable_unref(pool->retire_kill);
        free(pool->slots);
        free(pool);
}

void workers_close(struct listener *l)
{
        struct worker_pool *pool = l->workers;
        struct server *srv = l->service->server;

        if (!pool)
                return;
        l->workers = NULL;
        /* They would keep the port open, accepting for a service that is gone. At stop, reap_signal_all() does it. */
        for (unsigned i = 0; !srv->stopping && i < pool->cap; i++)
                if (pool->slots[i].pid)
                        terminate(pool->slots[i].pid);
        pool_free(srv, pool);
}

/* Would workers of `a` and `b` run different programs or environments? Then the workers are replaced. */
static bool same_process(const struct service *a, const struct service *b)
{
        const struct process_settings *p = &a->process, *q = &b->process;

        if (!same_strv(a->argv, b->argv) || !same_strv(a->env, b->env) || !same_strv(a->pass_env, b->pass_env) ||
            a->uid != b->uid || a->gid != b->gid || a->n_groups != b->n_groups || a->stderr_mode != b->stderr_mode)
                return false;
        if (a->n_groups && memcmp(a->groups, b->groups, a->n_groups * sizeof(*a->groups)) != 0)
                return false;
        if (p->set_nice != q->set_nice || p->nice != q->nice || p->umask != q->umask ||
            p->rlimit_nofile != q->rlimit_nofile || p->rlimit_as != q->rlimit_as || p->rlimit_cpu != q->rlimit_cpu ||
            p->rlimit_nproc != q->rlimit_nproc || p->no_new_privileges != q->no_new_privileges)
                return false;
        if (!p->working_directory != !q->working_directory ||
            (p->working_directory && strcmp(p->working_directory, q->working_directory) != 0))
                return false;
        return strcmp(a->name, b->name) == 0;
}

int workers_take_over(struct listener *l, struct listener *prev)
{
        struct worker_pool *pool = prev->workers;
        const struct service *conf = l->service->conf;
        struct server *srv = l->service->server;
        unsigned target;

        prev->workers = NULL;
        if (!workers_configured(conf)) {
                if (pool) {
                        for (unsigned i = 0; i < pool->cap; i++)
                                if (pool->slots[i].pid)
                                        terminate(pool->slots[i].pid);
                        pool_free(srv, pool);
                        /* Accepting in superd again (wait = no), or a wait handler that sets it itself. */
                        set_blocking(l->fd, false);
                }
                return 0;
        }
        if (!pool) {
                /* A wait handler still holding the socket would go on accepting beside the pool, unsupervised. */
                for (size_t i = 0; i < srv->children.cap; i++)
                        if (srv->children.slots[i].pid && srv->children.slots[i].wait_listener == prev)
                                terminate(srv->children.slots[i].pid);
                return workers_open(l) < 0 ? log_error_errno(-ENOMEM, "service %s: out of memory", conf->name) : 0;
        }
        target = workers_resolve(conf);
        if (reserve_slots(pool, target) < 0) {
                /* Keep what runs, within the old size. */
                target = pool->cap;
                log_ctx_msg(LOG_ERR, &(struct log_ctx){ .service = conf->name },
                            "out of memory: keeping %u workers", target);
        }
        if (!same_process(prev->service->conf, conf))
                for (unsigned i = 0; i < pool->cap; i++)
                        pool->slots[i].stale = pool->slots[i].pid != 0;
        pool->listener = l;
        pool->target = target;
        pool->eager = conf->workers_eager;
        l->workers = pool;
        /* Until the kick has run, as before the reload: paused while the old set was. */
        if (prev->paused & PAUSE_WORKERS)
                listener_pause(l, PAUSE_WORKERS);
        kick(pool);
        return 0;
}

int workers_adopt(struct listener *l, struct child *c, unsigned slot)
{
        struct worker_pool *pool = l->workers;

        if (!pool)
                return -ENOENT;
        c->pool = pool;
        c->worker_slot = slot;
        if (slot < pool->cap && !pool->slots[slot].pid) {
                struct worker_slot *s = &pool->slots[slot];
                s->pid = c->pid;
                s->start_usec = c->start_usec;
                s->started = true;
                pool->running++;
        } else
                retire_pid(pool, c->pid);
        kick(pool); /* beyond a smaller N: retired there; then the watch */
        return 0;
}

int workers_on_ready(struct listener *l)
{
        struct worker_pool *pool = l->workers;
        struct server *srv = l->service->server;

        if (server_at_global_limit(srv)) {
                server_pause_global(srv, l);
                return 0;
        }
        if (pool->eager) {
                converge(pool);
                return 0;
        }
        if (pool->running == 0)
                for (unsigned i = 0; i < pool->target; i++)
                        if (slot_idle(pool, i)) {
                                (void)start_slot(pool, i);
                                break;
                        }
        /* Give the running workers time to take what waits, then decide on one more. */
        settle(pool);
        update_watch(pool);
        return 0;
}

void workers_reaped(struct worker_pool *pool, pid_t pid, unsigned slot, bool start_failed)
{
        struct server *srv = pool_server(pool);
        struct worker_slot *s;
        uint64_t ran;

        if (slot >= pool->cap || pool->slots[slot].pid != pid) {
                /* A replaced worker, or one beyond N: the next replacement may go on. */
                if (pool->retiring > 0 && --pool->retiring == 0 && pool->retire_kill)
                        (void)sd_event_source_set_enabled(pool->retire_kill, SD_EVENT_OFF);
                if (!srv->stopping)
                        kick(pool);
                return;
        }
        s = &pool->slots[slot];
        s->pid = 0;
        pool->running--;
        if (srv->stopping)
                return;
        ran = server_now(srv) - s->start_usec;
        if (start_failed)
                back_off(pool, slot, "failed to start");
        else if (ran < WORKERS_QUICK_EXIT_USEC) {
                char why[64];
                snprintf(why, sizeof(why), "exited %llu ms after its start", (unsigned long long)(ran / 1000));
                back_off(pool, slot, why);
        } else
                s->back_off_usec = 0;
        converge(pool); /* eager: restart it now; lazy: watch for the next readiness */
}

size_t workers_count(const struct listener *l)
{
        return l->workers ? l->workers->target : 0;
}

size_t workers_snapshot(const struct listener *l, uint64_t now_usec, struct status_worker *ret)
{
        const struct worker_pool *pool = l->workers;

        if (!pool)
                return 0;
        for (unsigned i = 0; i < pool->target; i++) {
                const struct worker_slot *s = &pool->slots[i];
                ret[i] = (struct status_worker){
                        .index = i,
                        .pid = s->pid,
                        .uptime = s->pid && now_usec > s->start_usec ? (now_usec - s->start_usec) / 1000000ULL : 0,
                        .restarts = s->restarts,
                        .backing_off = s->until_usec != 0,
                };
        }
        return pool->target;
}
