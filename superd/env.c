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

/* The PATH entry of every handler; never written. */
static char path_entry[] = "PATH=" HANDLER_PATH;

/* Append "NAME=VALUE" to v[0..*n), replacing an earlier entry of the same name (later entries win). */
static int put(char **v, size_t *n, const char *name, size_t name_len, const char *value)
{
        char *s;

        if (asprintf(&s, "%.*s=%s", (int)name_len, name, value) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < *n; i++)
                if (strncmp(v[i], s, name_len + 1) == 0) {
                        free(v[i]);
                        v[i] = s;
                        return 0;
                }
        v[(*n)++] = s;
        return 0;
}

int handler_env_init(struct handler_env *e, const struct service *s, char *const *environ)
{
        size_t n_vars = strv_length(s->env) + strv_length(s->pass_env);
        size_t n = 0;
        char **v;
        int r = -ENOMEM;

        e->vars = NULL;
        e->name = s->name;
        if (n_vars > SERVICE_ENV_MAX)
                return -E2BIG;
        if (n_vars == 0)
                return 0;
        /* First each entry on its own (a later `env` entry replaces an earlier one), then packed into one block. */
        v = calloc(n_vars, sizeof(char *));
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; s->env && s->env[i]; i++) {
                const char *eq = strchr(s->env[i], '=');
                if (put(v, &n, s->env[i], (size_t)(eq - s->env[i]), eq + 1) < 0)
                        goto out;
        }
        for (size_t i = 0; s->pass_env && s->pass_env[i]; i++) {
                const char *val = lookup(environ, s->pass_env[i]);
                if (val && put(v, &n, s->pass_env[i], strlen(s->pass_env[i]), val) < 0)
                        goto out;
        }
        if (n > 0) {
                e->vars = malloc(strv_packed_size(v, n));
                if (!e->vars)
                        goto out;
                strv_pack_at(e->vars, v, n);
        }
        r = 0;
out:
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
        return r;
}

/* Append one "NAME=value" to the per-connection slots, its text at p (in c->text). */
#define ADD(...) (*slot++ = p, p += snprintf(p, (size_t)(end - p), __VA_ARGS__) + 1)

/*
 * The same for `name_eq` ("NAME=") and a value known to fit (an address, a
 * port: HANDLER_ENV_CONN_SIZE counts them), without printf's cost: these
 * are written at every TCP connection.
 */
#define ADD_STR(name_eq, value) (*slot++ = p, p = stpcpy(stpcpy(p, name_eq), value) + 1)

/*
 * Start c->envp with PATH, SUPERD_SERVICE (its text at *p, which moves past
 * it) and e's `env` and `pass-env` entries; returns the next free slot.
 */
static char **start(const struct handler_env *e, struct handler_env_conn *c, char **p)
{
        char **slot = c->envp;

        *slot++ = path_entry;
        *slot++ = *p;
        *p = stpcpy(stpcpy(*p, "SUPERD_SERVICE="), e->name) + 1;
        for (char **v = e->vars; v && *v; v++)
                *slot++ = *v;
        return slot;
}

int handler_env_connect(const struct handler_env *e, struct handler_env_conn *c, const struct sockaddr *remote,
                        const struct sockaddr *local)
{
        return handler_env_connect_proxy(e, c, remote, local, NULL);
}

int handler_env_connect_proxy(const struct handler_env *e, struct handler_env_conn *c, const struct sockaddr *remote,
                              const struct sockaddr *local, const struct handler_env_proxy *proxy)
{
        char rip[INET6_ADDRSTRLEN], rport[8], lip[INET6_ADDRSTRLEN], lport[8];
        char **slot;
        char *p = c->text, *end = c->text + sizeof(c->text);
        int r;

        r = addr_ip_port(remote, rip, sizeof(rip), rport, sizeof(rport));
        if (r < 0)
                return r;
        r = addr_ip_port(local, lip, sizeof(lip), lport, sizeof(lport));
        if (r < 0)
                return r;
        slot = start(e, c, &p);
        ADD_STR("PROTO=", "TCP");
        ADD_STR("TCPREMOTEIP=", rip);
        ADD_STR("TCPREMOTEPORT=", rport);
        ADD_STR("TCPLOCALIP=", lip);
        ADD_STR("TCPLOCALPORT=", lport);
        ADD_STR("REMOTE_ADDR=", rip);
        ADD_STR("REMOTE_PORT=", rport);
        ADD_STR("REMOTE_HOST=", rip); /* xinetd's name for it: numeric, superd resolves no names */
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

int handler_env_unix(const struct handler_env *e, struct handler_env_conn *c, const struct ucred *peer)
{
        char *p = c->text, *end = c->text + sizeof(c->text);
        char **slot = start(e, c, &p);

        ADD("PROTO=UNIX");
        if (peer) {
                ADD("UNIXREMOTEPID=%d", (int)peer->pid);
                ADD("UNIXREMOTEEUID=%u", (unsigned)peer->uid);
                ADD("UNIXREMOTEEGID=%u", (unsigned)peer->gid);
        }
        *slot = NULL;
        return 0;
}

char *handler_env_listen(const struct handler_env *e, struct handler_env_conn *c, const char *proto)
{
        return handler_env_listen_worker(e, c, proto, -1);
}

char *handler_env_listen_worker(const struct handler_env *e, struct handler_env_conn *c, const char *proto, int worker)
{
        char *p = c->text, *end = c->text + sizeof(c->text), *pid;
        char **slot = start(e, c, &p);

        ADD("PROTO=%s", proto);
        ADD("LISTEN_FDS=1");
        ADD("LISTEN_FDNAMES=%.200s", e->name);
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
        free(e->vars); /* its strings too: one block */
        e->vars = NULL;
}
