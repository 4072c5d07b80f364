/* SPDX-License-Identifier: MIT */
/* The environment a handler gets (DESIGN.md §5): built once per service, completed per connection. */
#include "env.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strv.h"

static const char *lookup(char *const *environ, const char *name)
{
        size_t n = strlen(name);

        for (size_t i = 0; environ && environ[i]; i++)
                if (strncmp(environ[i], name, n) == 0 && environ[i][n] == '=')
                        return environ[i] + n + 1;
        return NULL;
}

/* Append "NAME=VALUE", replacing an earlier entry of the same name (later entries win). */
static int put(char ***v, size_t *n, const char *name, size_t name_len, const char *value)
{
        char *s;

        if (asprintf(&s, "%.*s=%s", (int)name_len, name, value) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < *n; i++)
                if (strncmp((*v)[i], s, name_len + 1) == 0) {
                        free((*v)[i]);
                        (*v)[i] = s;
                        return 0;
                }
        (*v)[(*n)++] = s;
        return 0;
}

int handler_env_init(struct handler_env *e, const struct service *s, char *const *environ)
{
        size_t cap = 2 + strv_length(s->env) + strv_length(s->pass_env) + HANDLER_ENV_CONN_MAX + HANDLER_ENV_PROXY_MAX + 1;
        size_t n = 0;
        int r = -ENOMEM;

        e->envp = calloc(cap, sizeof(char *));
        e->n_fixed = 0;
        if (!e->envp)
                return -ENOMEM;
        if (put(&e->envp, &n, "PATH", 4, HANDLER_PATH) < 0 ||
            put(&e->envp, &n, "SUPERD_SERVICE", 14, s->name) < 0)
                goto fail;
        for (size_t i = 0; s->env && s->env[i]; i++) {
                const char *eq = strchr(s->env[i], '=');
                if (put(&e->envp, &n, s->env[i], (size_t)(eq - s->env[i]), eq + 1) < 0)
                        goto fail;
        }
        for (size_t i = 0; s->pass_env && s->pass_env[i]; i++) {
                const char *v = lookup(environ, s->pass_env[i]);
                if (v && put(&e->envp, &n, s->pass_env[i], strlen(s->pass_env[i]), v) < 0)
                        goto fail;
        }
        e->n_fixed = n;
        e->envp[n] = NULL;
        return 0;
fail:
        e->n_fixed = n;
        handler_env_done(e);
        return r;
}

/* Append one "NAME=value" to the per-connection slots, its text into buf. */
#define ADD(...) (*slot++ = p, p += snprintf(p, (size_t)(end - p), __VA_ARGS__) + 1)

int handler_env_connect(struct handler_env *e, char *buf, const struct sockaddr *remote,
                        const struct sockaddr *local)
{
        return handler_env_connect_proxy(e, buf, remote, local, NULL);
}

int handler_env_connect_proxy(struct handler_env *e, char *buf, const struct sockaddr *remote,
                              const struct sockaddr *local, const struct handler_env_proxy *proxy)
{
        char rip[INET6_ADDRSTRLEN], rport[8], lip[INET6_ADDRSTRLEN], lport[8];
        char **slot = e->envp + e->n_fixed;
        char *p = buf, *end = buf + HANDLER_ENV_CONN_SIZE;
        int r;

        r = addr_ip_port(remote, rip, sizeof(rip), rport, sizeof(rport));
        if (r < 0)
                return r;
        r = addr_ip_port(local, lip, sizeof(lip), lport, sizeof(lport));
        if (r < 0)
                return r;

        ADD("PROTO=TCP");
        ADD("TCPREMOTEIP=%s", rip);
        ADD("TCPREMOTEPORT=%s", rport);
        ADD("TCPLOCALIP=%s", lip);
        ADD("TCPLOCALPORT=%s", lport);
        ADD("REMOTE_ADDR=%s", rip);
        ADD("REMOTE_PORT=%s", rport);
        ADD("REMOTE_HOST=%s", rip); /* xinetd's name for it: numeric, superd resolves no names */
        /* Bounded (proxy.h): PROXY_PEER_ADDR <= 45, authority <= 255, unique ID <= 256 bytes. */
        if (proxy && proxy->peer_addr && *proxy->peer_addr)
                ADD("PROXY_PEER_ADDR=%s", proxy->peer_addr);
        if (proxy && proxy->authority && *proxy->authority)
                ADD("PROXY_AUTHORITY=%.255s", proxy->authority);
        if (proxy && proxy->unique_id && *proxy->unique_id)
                ADD("PROXY_UNIQUE_ID=%.256s", proxy->unique_id);
        *slot = NULL;
        return 0;
}

int handler_env_unix(struct handler_env *e, char *buf, const struct ucred *peer)
{
        char **slot = e->envp + e->n_fixed;
        char *p = buf, *end = buf + HANDLER_ENV_CONN_SIZE;

        ADD("PROTO=UNIX");
        if (peer) {
                ADD("UNIXREMOTEPID=%d", (int)peer->pid);
                ADD("UNIXREMOTEEUID=%u", (unsigned)peer->uid);
                ADD("UNIXREMOTEEGID=%u", (unsigned)peer->gid);
        }
        *slot = NULL;
        return 0;
}

char *handler_env_listen(struct handler_env *e, char *buf, const char *proto, const char *name)
{
        return handler_env_listen_worker(e, buf, proto, name, -1);
}

char *handler_env_listen_worker(struct handler_env *e, char *buf, const char *proto, const char *name, int worker)
{
        char **slot = e->envp + e->n_fixed;
        char *p = buf, *end = buf + HANDLER_ENV_CONN_SIZE, *pid;

        ADD("PROTO=%s", proto);
        ADD("LISTEN_FDS=1");
        ADD("LISTEN_FDNAMES=%.200s", name);
        if (worker >= 0)
                ADD("SUPERD_WORKER=%d", worker);
        /* Room for any pid; the child writes its own (spawn_plan.listen_pid). */
        ADD("LISTEN_PID=%*s", HANDLER_ENV_PID_DIGITS, "");
        pid = p - 1 - HANDLER_ENV_PID_DIGITS;
        *slot = NULL;
        return pid;
}

void handler_env_done(struct handler_env *e)
{
        for (size_t i = 0; e->envp && i < e->n_fixed; i++)
                free(e->envp[i]);
        free(e->envp);
        e->envp = NULL;
        e->n_fixed = 0;
}
