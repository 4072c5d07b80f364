/* SPDX-License-Identifier: MIT */
/* The status socket: a local AF_UNIX stream socket that answers one-line requests (superctl) with JSON. */
#include "status.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "socket.h"

#define ACCEPT_BATCH      (2 * STATUS_CLIENTS_MAX) /* connections accepted per wakeup */
#define LISTEN_BACKLOG    64
#define ACCEPT_PAUSE_USEC (1000 * 1000ULL) /* listener off after EMFILE and friends, instead of spinning */
#define DRAIN_MAX         65536            /* bytes of unread input discarded before close */

struct status_client {
        struct status_socket *owner;
        struct status_client *next, *prev;
        int fd;
        sd_event_source *io;    /* EPOLLIN until the request line is complete, then EPOLLOUT */
        sd_event_source *timer; /* idle timeout, pushed back on every bit of progress */
        char request[STATUS_REQUEST_MAX];
        size_t request_len;
        char *reply; /* NULL while reading the request */
        size_t reply_len, sent;
};

struct status_socket {
        sd_event *event; /* borrowed: our sources hold a reference to it */
        int fd;
        sd_event_source *io;
        sd_event_source *retry; /* only while accept is paused after a resource error */
        char *path;
        dev_t dev; /* identity of the socket file we bound, so we never unlink someone else's */
        ino_t ino; /* 0 until that file is checked: nothing to remove */
        status_handler_fn fn;
        void *userdata;
        struct status_client *clients;
        unsigned n_clients;
        struct status_client *serving; /* the client whose handler runs right now */
        bool closed;                   /* status_socket_close() was called from that handler */
};

/* ---- JSON ---- */

/* Length of the valid UTF-8 sequence of 2 to 4 bytes starting at p, or 0. */
static size_t utf8_len(const unsigned char *p)
{
        unsigned char lo = 0x80, hi = 0xbf;
        size_t n;

        if (p[0] >= 0xc2 && p[0] <= 0xdf)
                n = 2;
        else if (p[0] >= 0xe0 && p[0] <= 0xef)
                n = 3;
        else if (p[0] >= 0xf0 && p[0] <= 0xf4)
                n = 4;
        else
                return 0;
        /* Overlong forms, UTF-16 surrogates and code points above U+10FFFF are invalid. */
        if (p[0] == 0xe0)
                lo = 0xa0;
        else if (p[0] == 0xed)
                hi = 0x9f;
        else if (p[0] == 0xf0)
                lo = 0x90;
        else if (p[0] == 0xf4)
                hi = 0x8f;
        if (p[1] < lo || p[1] > hi)
                return 0;
        for (size_t i = 2; i < n; i++)
                if (p[i] < 0x80 || p[i] > 0xbf)
                        return 0;
        return n;
}

void status_json_string(FILE *out, const char *s)
{
        const unsigned char *p = (const unsigned char *)s;

        if (!s) {
                fputs("null", out);
                return;
        }
        fputc('"', out);
        while (*p) {
                size_t n;

                switch (*p) {
                case '"':
                        fputs("\\\"", out);
                        break;
                case '\\':
                        fputs("\\\\", out);
                        break;
                case '\n':
                        fputs("\\n", out);
                        break;
                case '\r':
                        fputs("\\r", out);
                        break;
                case '\t':
                        fputs("\\t", out);
                        break;
                default:
                        if (*p < 0x20 || *p == 0x7f) {
                                fprintf(out, "\\u%04x", *p);
                        } else if (*p < 0x80) {
                                fputc(*p, out);
                        } else if ((n = utf8_len(p)) > 0) {
                                fwrite(p, 1, n, out);
                                p += n;
                                continue;
                        } else {
                                fputs("\\ufffd", out);
                        }
                }
                p++;
        }
        fputc('"', out);
}

/* ---- clients ---- */

static void socket_free(struct status_socket *s);

/*
 * Close a client. Unread input is discarded first: closing an AF_UNIX
 * socket with data still queued makes the peer's next read fail with
 * ECONNRESET instead of returning the reply and then EOF.
 */
static void client_free(struct status_client *c)
{
        struct status_socket *s = c->owner;
        char scratch[4096];

        if (c->prev)
                c->prev->next = c->next;
        else
                s->clients = c->next;
        if (c->next)
                c->next->prev = c->prev;
        s->n_clients--;
        c->io = sd_event_source_disable_unref(c->io);
        c->timer = sd_event_source_disable_unref(c->timer);
        for (size_t drained = 0; drained < DRAIN_MAX;) {
                ssize_t n = recv(c->fd, scratch, sizeof(scratch), MSG_DONTWAIT);
                if (n <= 0)
                        break;
                drained += (size_t)n;
        }
        close(c->fd);
        free(c->reply);
        free(c);
}

/* The client made progress: give it another full idle timeout. */
static void client_touch(struct status_client *c)
{
        uint64_t now;

        if (sd_event_now(c->owner->event, CLOCK_MONOTONIC, &now) >= 0)
                sd_event_source_set_time(c->timer, now + STATUS_CLIENT_TIMEOUT_USEC);
}

/* Send what is left of the reply without blocking. Returns 1 when all of it is sent, 0 to wait, -errno. */
static int client_send(struct status_client *c)
{
        while (c->sent < c->reply_len) {
                ssize_t n = send(c->fd, c->reply + c->sent, c->reply_len - c->sent, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno == EAGAIN ? 0 : -errno;
                }
                c->sent += (size_t)n;
        }
        return 1;
}

/* Run the handler for COMMAND; leaves the reply in c->reply. Returns 0 or -ENOMEM. */
static int client_serve(struct status_client *c, const char *command)
{
        struct status_socket *s = c->owner;
        FILE *out;
        int r;

        out = open_memstream(&c->reply, &c->reply_len);
        if (!out)
                return -ENOMEM;
        s->serving = c;
        r = s->fn(command, out, s->userdata);
        s->serving = NULL;
        if (fclose(out) != 0 && r >= 0)
                r = -ENOMEM;
        if (r < 0) {
                free(c->reply);
                c->reply = NULL;
                errno = -r;
                if (asprintf(&c->reply, "{\"error\":\"%m\"}\n") < 0) {
                        c->reply = NULL;
                        return -ENOMEM;
                }
                c->reply_len = strlen(c->reply);
        }
        return 0;
}

/* A complete request line is in c->request: answer it. Returns 0 to keep the client, < 0 to drop it. */
static int client_request(struct status_client *c, size_t line_len)
{
        struct status_socket *s = c->owner;
        int r;

        c->request[line_len] = '\0';
        if (line_len > 0 && c->request[line_len - 1] == '\r')
                c->request[line_len - 1] = '\0';
        r = client_serve(c, c->request);
        if (s->closed) {
                /* The handler closed the socket it serves: one last try to deliver, then free it all. */
                if (r >= 0)
                        (void)client_send(c);
                client_free(c);
                socket_free(s);
                return 1; /* already freed: the caller must not touch c */
        }
        if (r < 0)
                return r;
        r = sd_event_source_set_io_events(c->io, EPOLLOUT);
        if (r < 0)
                return r;
        client_touch(c);
        r = client_send(c);
        if (r > 0)
                return -ECONNRESET; /* done: nothing else to do with this client */
        return r;
}

/* Read what is there of the request line. Returns 0 to keep waiting, 1 if c is gone, < 0 to drop c. */
static int client_read(struct status_client *c)
{
        for (;;) {
                size_t room = sizeof(c->request) - c->request_len;
                char *nl;
                ssize_t n;

                if (room == 0)
                        return -EMSGSIZE; /* STATUS_REQUEST_MAX bytes and no newline */
                n = recv(c->fd, c->request + c->request_len, room, MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno == EAGAIN ? 0 : -errno;
                }
                if (n == 0)
                        return -ECONNRESET; /* EOF before a full line */
                nl = memchr(c->request + c->request_len, '\n', (size_t)n);
                c->request_len += (size_t)n;
                client_touch(c);
                if (nl)
                        return client_request(c, (size_t)(nl - c->request));
        }
}

static int on_client_io(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        struct status_client *c = userdata;
        int r;

        if (!c->reply) {
                r = client_read(c);
                if (r > 0)
                        return 0; /* freed together with its socket */
        } else {
                r = client_send(c);
                if (r == 0)
                        client_touch(c);
                else if (r > 0)
                        r = -ECONNRESET; /* all sent */
        }
        /* A client can fail, superd cannot: drop it quietly and carry on. */
        if (r < 0)
                client_free(c);
        return 0;
}

static int on_client_timeout(sd_event_source *src, uint64_t usec, void *userdata)
{
        client_free(userdata);
        return 0;
}

/* Take over FD, a freshly accepted connection. Closes it on failure. */
static void client_new(struct status_socket *s, int fd)
{
        struct status_client *c;

        if (s->n_clients >= STATUS_CLIENTS_MAX) {
                close(fd); /* busy: the client sees EOF without a reply */
                return;
        }
        c = calloc(1, sizeof(*c));
        if (!c) {
                close(fd);
                return;
        }
        c->owner = s;
        c->fd = fd;
        c->next = s->clients;
        if (c->next)
                c->next->prev = c;
        s->clients = c;
        s->n_clients++;
        if (sd_event_add_io(s->event, &c->io, fd, EPOLLIN, on_client_io, c) < 0 ||
            sd_event_add_time_relative(s->event, &c->timer, CLOCK_MONOTONIC, STATUS_CLIENT_TIMEOUT_USEC, 0,
                                       on_client_timeout, c) < 0)
                client_free(c);
}

/* ---- the listening socket ---- */

static int on_retry(sd_event_source *src, uint64_t usec, void *userdata)
{
        struct status_socket *s = userdata;

        s->retry = sd_event_source_unref(s->retry);
        sd_event_source_set_enabled(s->io, SD_EVENT_ON);
        return 0;
}

static int on_accept(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
        struct status_socket *s = userdata;

        for (int i = 0; i < ACCEPT_BATCH; i++) {
                int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

                if (c >= 0) {
                        client_new(s, c);
                        continue;
                }
                switch (errno) {
                case EAGAIN:
                        return 0;
                case EINTR:
                case ECONNABORTED:
                        continue;
                default:
                        /* EMFILE, ENFILE, ENOBUFS, ENOMEM: pause instead of spinning on a readable socket. */
                        if (!s->retry && sd_event_add_time_relative(s->event, &s->retry, CLOCK_MONOTONIC,
                                                                    ACCEPT_PAUSE_USEC, 0, on_retry, s) >= 0)
                                sd_event_source_set_enabled(s->io, SD_EVENT_OFF);
                        return 0;
                }
        }
        return 0;
}

/*
 * Is a socket file at PATH served by a live process? Returns 0 if not (it is
 * stale), -EADDRINUSE if it is, or -errno if we cannot tell.
 */
static int probe_stale(const struct sockaddr_un *sa, socklen_t len)
{
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        int r = 0;

        if (fd < 0)
                return -errno;
        if (connect(fd, (const struct sockaddr *)sa, len) == 0 || errno == EAGAIN)
                r = -EADDRINUSE; /* accepted, or its backlog is full: alive either way */
        else if (errno != ECONNREFUSED && errno != ENOENT)
                r = -errno;
        close(fd);
        return r;
}

/*
 * Remove the socket file, unless it is no longer the one we bound. The name
 * can still be swapped between lstat() and unlink(), but unlink(2) only
 * removes a name from a folder that whoever swapped it can write anyway; it
 * never follows a symlink.
 */
static void unlink_ours(const struct status_socket *s)
{
        struct stat st;

        if (s->path && s->ino && lstat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
                unlink(s->path);
}

/* Stop listening and remove the socket file; clients stay. */
static void socket_stop(struct status_socket *s)
{
        s->io = sd_event_source_disable_unref(s->io);
        s->retry = sd_event_source_disable_unref(s->retry);
        if (s->fd >= 0) {
                unlink_ours(s);
                close(s->fd);
                s->fd = -1;
        }
}

static void socket_free(struct status_socket *s)
{
        socket_stop(s);
        while (s->clients)
                client_free(s->clients);
        free(s->path);
        free(s);
}

int status_socket_open(sd_event *e, const char *path, status_handler_fn fn, void *userdata, struct status_socket **ret)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        struct status_socket *s;
        struct stat st;
        socklen_t len;
        mode_t old_umask;
        int file, r;

        if (!e || !path || !*path || !fn || !ret)
                return -EINVAL;
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);

        if (lstat(path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode))
                        return -EEXIST;
                r = probe_stale(&sa, len);
                if (r < 0)
                        return r;
                /* Swapped since lstat()? unlink(2) removes the name only, never a symlink's target. */
                if (unlink(path) < 0 && errno != ENOENT)
                        return -errno;
        } else if (errno != ENOENT) {
                return -errno;
        }

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->event = e;
        s->fn = fn;
        s->userdata = userdata;
        s->path = strdup(path);
        if (!s->path) {
                r = -ENOMEM;
                goto fail;
        }
        s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (s->fd < 0) {
                r = -errno;
                goto fail;
        }
        /*
         * Born 0600 from the umask alone, never chmod'ed: there is no moment at
         * which another user could connect, and no call on a path that may be
         * a symlink by then. superd is single-threaded.
         */
        old_umask = umask(0177);
        r = bind(s->fd, (const struct sockaddr *)&sa, len) < 0 ? -errno : 0;
        umask(old_umask);
        if (r < 0) {
                close(s->fd);
                s->fd = -1;
                goto fail;
        }
        /*
         * Remember which file is ours, so that we never remove another: the
         * checked inode, or nothing if the name was swapped since bind(2)
         * (then we give up, removing nothing).
         */
        file = socket_file_open_ours(AT_FDCWD, path, &st);
        if (file < 0) {
                r = file;
                goto fail;
        }
        close(file);
        s->dev = st.st_dev;
        s->ino = st.st_ino;
        if (listen(s->fd, LISTEN_BACKLOG) < 0) {
                r = -errno;
                goto fail;
        }
        r = sd_event_add_io(e, &s->io, s->fd, EPOLLIN, on_accept, s);
        if (r < 0)
                goto fail;
        *ret = s;
        return 0;
fail:
        socket_free(s);
        return r;
}

struct status_socket *status_socket_close(struct status_socket *s)
{
        if (!s)
                return NULL;
        if (s->serving) {
                /* Called from the handler: client_request() finishes the job once it returns. */
                struct status_client *c = s->clients;
                s->closed = true;
                socket_stop(s);
                while (c) {
                        struct status_client *next = c->next;
                        if (c != s->serving)
                                client_free(c);
                        c = next;
                }
                return NULL;
        }
        socket_free(s);
        return NULL;
}
