/* SPDX-License-Identifier: MIT */
/* systemd's file descriptor store: listening sockets kept by the service manager across a restart. */
#include "fdstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <systemd/sd-daemon.h>

#include "listener.h"
#include "log.h"
#include "server.h"
#include "service.h"

static bool enabled;

bool fdstore_setup(bool requested)
{
        const char *max = getenv("FDSTORE");

        enabled = getenv("NOTIFY_SOCKET") && (requested || (max && strtoul(max, NULL, 10) > 0));
        if (enabled)
                log_info("listening sockets go to the service manager's fd store");
        else if (requested)
                log_info("--fd-store: no service manager (NOTIFY_SOCKET is not set): not using an fd store");
        return enabled;
}

bool fdstore_enabled(void)
{
        return enabled;
}

/* FNV-1a, 64 bits: stable across builds and machines, which is all a name needs. */
static uint64_t hash(const void *data, size_t len, uint64_t h)
{
        for (size_t i = 0; i < len; i++)
                h = (h ^ ((const unsigned char *)data)[i]) * 0x100000001b3ULL;
        return h;
}

char *fdstore_name(const struct listen_addr *a, int type, char *buf, size_t size)
{
        const char *proto = a->family == AF_UNIX ? (type == SOCK_DGRAM       ? "unix-dgram"
                                                    : type == SOCK_SEQPACKET ? "unix-seqpacket"
                                                                             : "unix")
                            : type == SOCK_DGRAM ? "udp"
                                                 : "tcp";
        union listen_sockaddr sa_buf;
        const struct sockaddr *sa = addr_sockaddr(a, &sa_buf);
        char text[ADDR_STRLEN];
        size_t n;
        bool changed = false;

        addr_format(sa, text, sizeof(text));
        /* An abstract name may hold any byte: never trust the text, hash the address itself. */
        if (a->family == AF_UNIX)
                changed = a->un.path[0] == '@';
        n = (size_t)snprintf(buf, size, "%s%s-%s%s", FDSTORE_NAME_PREFIX, proto, a->dual_stack ? "*" : "", text);
        if (n >= size)
                n = size - 1;
        for (size_t i = strlen(FDSTORE_NAME_PREFIX); i < n; i++) {
                unsigned char c = (unsigned char)buf[i];
                if (c == ':' || c == '/' || c <= ' ' || c >= 0x7f) {
                        buf[i] = '_';
                        changed = true;
                }
        }
        /* '_' may stand for ':' or '/': keep the name unique with a hash when anything was replaced or cut. */
        if (changed || n + 1 >= size || n > 200) {
                /* The bytes bind(2) gets, as ever: a name must not change with how superd holds addresses. */
                uint64_t h = hash(sa, a->len, 0xcbf29ce484222325ULL);
                h = hash(&a->dual_stack, 1, hash(&type, sizeof(type), h));
                if (n > 200)
                        n = 200;
                snprintf(buf + n, size - n, "-%016llx", (unsigned long long)h);
        }
        return buf;
}

void fdstore_add(const struct listener *l)
{
        const struct service *conf = l->service->conf;
        char name[FDSTORE_NAME_MAX], msg[FDSTORE_NAME_MAX + 32];
        int r;

        if (!enabled || l->fd < 0)
                return;
        fdstore_name(&conf->listen[listener_index(l)], conf->socket_type, name, sizeof(name));
        snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", name);
        r = sd_pid_notify_with_fds(0, false, msg, &l->fd, 1);
        if (r <= 0)
                log_ctx_msg(LOG_WARNING, &(struct log_ctx){.service = conf->name},
                            "cannot put %s into the fd store: %s", name, r < 0 ? strerror(-r) : "no service manager");
}

void fdstore_remove_name(const char *name)
{
        if (enabled)
                (void)sd_notifyf(false, "FDSTOREREMOVE=1\nFDNAME=%s", name);
}

void fdstore_remove(const struct listener *l)
{
        const struct service *conf = l->service->conf;
        char name[FDSTORE_NAME_MAX];

        if (!enabled || l->fd < 0 || l->service->server->stopping)
                return;
        fdstore_remove_name(fdstore_name(&conf->listen[listener_index(l)], conf->socket_type, name, sizeof(name)));
}
