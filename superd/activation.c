/* SPDX-License-Identifier: MIT */
/* Sockets passed by a service manager (sd_listen_fds), matched to `listen` entries as listeners open. */
#include "activation.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "fdstore.h"
#include "log.h"

int activation_collect(struct activation *a)
{
        char **names = NULL;
        int n = sd_listen_fds_with_names(true, &names);

        if (n <= 0)
                return n < 0 ? log_error_errno(n, "LISTEN_FDS: %m") : 0;
        a->fds = calloc((size_t)n, sizeof(*a->fds));
        if (!a->fds) {
                for (int i = 0; names && names[i]; i++)
                        free(names[i]);
                free(names);
                return log_error_errno(-ENOMEM, "out of memory");
        }
        for (int i = 0; i < n; i++) {
                struct adopted_fd *p = &a->fds[a->n++];
                socklen_t len = sizeof(p->type);
                p->fd = SD_LISTEN_FDS_START + i;
                /* "unknown" is what systemd names an fd nobody named: no name of ours. */
                if (names && names[i] && strcmp(names[i], "unknown") != 0) {
                        p->name = names[i];
                        names[i] = NULL;
                }
                p->len = sizeof(p->sa);
                if (getsockopt(p->fd, SOL_SOCKET, SO_TYPE, &p->type, &len) < 0 ||
                    getsockname(p->fd, (struct sockaddr *)&p->sa, &p->len) < 0)
                        p->type = -1; /* not a socket: matches nothing, closed by activation_done() */
        }
        for (int i = 0; names && names[i]; i++)
                free(names[i]);
        free(names);
        return 0;
}

bool activation_matches(const struct adopted_fd *p, int type, const struct listen_addr *want)
{
        const struct sockaddr_in6 *w6 = &want->in6, *p6 = (const struct sockaddr_in6 *)&p->sa;
        const struct sockaddr_in *w4 = &want->in, *p4 = (const struct sockaddr_in *)&p->sa;
        union listen_sockaddr w;

        if (p->type != type)
                return false;
        if (want->dual_stack && p->sa.ss_family == AF_INET)
                return p4->sin_port == w6->sin6_port && p4->sin_addr.s_addr == htonl(INADDR_ANY);
        if (p->sa.ss_family != want->family)
                return false;
        switch (want->family) {
        case AF_INET:
                return p4->sin_port == w4->sin_port && p4->sin_addr.s_addr == w4->sin_addr.s_addr;
        case AF_INET6:
                return p6->sin6_port == w6->sin6_port && IN6_ARE_ADDR_EQUAL(&p6->sin6_addr, &w6->sin6_addr) &&
                       p6->sin6_scope_id == w6->sin6_scope_id;
        default: /* AF_UNIX: the path, or the abstract name, byte for byte */
                return p->len == want->len && memcmp(&p->sa, addr_sockaddr(want, &w), want->len) == 0;
        }
}

int activation_take(struct activation *a, int type, const struct listen_addr *want)
{
        for (size_t i = 0; i < a->n; i++) {
                int fd = a->fds[i].fd, flags;
                if (fd < 0 || !activation_matches(&a->fds[i], type, want))
                        continue;
                a->fds[i].fd = -1;
                flags = fcntl(fd, F_GETFL);
                if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
                        log_warning("passed fd %d: cannot make it non-blocking and close-on-exec: %m", fd);
                return fd;
        }
        return -1;
}

void activation_done(struct activation *a)
{
        for (size_t i = 0; i < a->n; i++) {
                struct adopted_fd *p = &a->fds[i];
                char text[ADDR_STRLEN];
                if (p->fd < 0) {
                        free(p->name);
                        continue;
                }
                if (p->name && strncmp(p->name, FDSTORE_NAME_PREFIX, strlen(FDSTORE_NAME_PREFIX)) == 0)
                        fdstore_remove_name(p->name);
                free(p->name);
                log_warning("passed fd %d (%s) matches no listen entry: closing it", p->fd,
                            p->type < 0 ? "not a socket" : addr_format((const struct sockaddr *)&p->sa, text, sizeof(text)));
                close(p->fd);
                p->fd = -1;
        }
        free(a->fds);
        *a = (struct activation){ 0 };
}
