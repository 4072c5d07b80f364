/* SPDX-License-Identifier: MIT */
/* The status socket: a local AF_UNIX stream socket that answers one-line requests (superctl) with JSON. */
#include "status.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-c/json.h>

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
        struct socket_file file; /* the socket file we bound, so we never unlink someone else's */
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

/*
 * A JSON string of S, or NULL (no memory). json-c escapes quotes,
 * backslashes and control characters but copies other bytes as they are,
 * so each byte of S that does not start a valid UTF-8 sequence is replaced
 * by U+FFFD (EF BF BD) first: the reply is valid JSON whatever the file
 * names hold.
 */
static json_object *json_utf8(const char *s)
{
        static const char replacement[] = "\xef\xbf\xbd";
        const unsigned char *p = (const unsigned char *)s;
        size_t len = strlen(s), bad = 0, out = 0;
        json_object *j;
        char *fixed;

        for (size_t i = 0, n; i < len; i += n) {
                n = p[i] < 0x80 ? 1 : utf8_len(p + i);
                if (n == 0) {
                        bad++;
                        n = 1;
                }
        }
        if (bad == 0)
                return json_object_new_string_len(s, (int)len);
        fixed = malloc(len + 2 * bad + 1);
        if (!fixed)
                return NULL;
        for (size_t i = 0, n; i < len; i += n) {
                n = p[i] < 0x80 ? 1 : utf8_len(p + i);
                if (n == 0) {
                        memcpy(fixed + out, replacement, 3);
                        out += 3;
                        n = 1;
                } else {
                        memcpy(fixed + out, s + i, n);
                        out += n;
                }
        }
        j = json_object_new_string_len(fixed, (int)out);
        free(fixed);
        return j;
}

/*
 * Add VALUE to object OBJ under KEY (put), or append it to ARRAY (append).
 * VALUE is taken over, and may be NULL: a constructor that ran out of
 * memory. Returns 0 or -ENOMEM (VALUE freed). This keeps the many json-c
 * calls below to one error check each.
 */
static int put(json_object *obj, const char *key, json_object *value)
{
        if (value && json_object_object_add(obj, key, value) == 0)
                return 0;
        json_object_put(value);
        return -ENOMEM;
}

static int append(json_object *array, json_object *value)
{
        if (value && json_object_array_add(array, value) == 0)
                return 0;
        json_object_put(value);
        return -ENOMEM;
}

/* Length of S as json-c writes it: quoted, with its escapes ('/' left alone, see json_write()). */
static size_t escaped_len(const char *s, size_t len)
{
        size_t n = 2;

        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
                        n += 2;
                else if (c < 0x20)
                        n += 6; /* \u00XX */
                else
                        n += 1;
        }
        return n;
}

/* Length of the plain serialization of J, computed from the tree without allocating. */
static size_t json_len(json_object *j)
{
        size_t n = 2, i = 0;

        switch (json_object_get_type(j)) {
        case json_type_null:
                return 4;
        case json_type_boolean:
                return json_object_get_boolean(j) ? 4 : 5;
        case json_type_int:
                /* json_object_get_int64() clamps values above INT64_MAX: those are uint64. */
                if (json_object_get_int64(j) == INT64_MAX)
                        return (size_t)snprintf(NULL, 0, "%" PRIu64, json_object_get_uint64(j));
                return (size_t)snprintf(NULL, 0, "%" PRId64, json_object_get_int64(j));
        case json_type_string:
                return escaped_len(json_object_get_string(j), (size_t)json_object_get_string_len(j));
        case json_type_array:
                for (i = 0; i < json_object_array_length(j); i++)
                        n += (i ? 1 : 0) + json_len(json_object_array_get_idx(j, i));
                return n;
        case json_type_object: {
                struct json_object_iterator it = json_object_iter_begin(j), end = json_object_iter_end(j);
                for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it), i++) {
                        const char *key = json_object_iter_peek_name(&it);
                        n += (i ? 1 : 0) + escaped_len(key, strlen(key)) + 1 +
                             json_len(json_object_iter_peek_value(&it));
                }
                return n;
        }
        default:
                return 0; /* doubles: never written here */
        }
}

/*
 * Print OBJ (taken over; may be NULL when R < 0) to OUT as one line, unless
 * R < 0. Returns 0, R, or -ENOMEM.
 *
 * '/' is not escaped (JSON_C_TO_STRING_NOSLASHESCAPE): "unix:/run/x" reads
 * as it did before json-c. json-c's serializer ignores most failures to
 * grow its buffer: out of memory, it returns text with pieces missing (even
 * invalid JSON) as if all went well. A failed append adds nothing, so the
 * text's length is checked against the length the tree must have; a short
 * text counts as -ENOMEM and nothing is written. (Parsing the text back
 * would not do: json-c's parser crashes when it runs out of memory.) The
 * check walks the tree once more: O(reply), no allocation.
 */
static int json_write(FILE *out, json_object *obj, int r)
{
        const char *text = NULL;
        size_t len = 0;

        if (r == 0)
                text = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
                                                         &len);
        if (text && len == json_len(obj)) {
                fwrite(text, 1, len, out);
                fputc('\n', out);
        } else if (r == 0) {
                r = -ENOMEM;
        }
        json_object_put(obj);
        return r;
}

static bool listener_paused(const struct status_listener *l)
{
        return l->pause_reasons[0] != NULL;
}

/* "pause": the pause reasons of all listeners of SVC, each once, in order. O(listeners × reasons²), a handful. */
static json_object *pause_array(const struct status_service *svc)
{
        json_object *a = json_object_new_array();

        for (size_t i = 0; a && i < svc->n_listeners; i++) {
                const char *const *why = svc->listeners[i].pause_reasons;
                for (size_t k = 0; a && k < sizeof(svc->listeners[i].pause_reasons) / sizeof(*why) && why[k]; k++) {
                        size_t j = 0, n = json_object_array_length(a);
                        while (j < n && strcmp(json_object_get_string(json_object_array_get_idx(a, j)), why[k]) != 0)
                                j++;
                        if (j == n && append(a, json_utf8(why[k])) < 0)
                                a = (json_object_put(a), NULL);
                }
        }
        return a;
}

/* The "workers" array of a pool service, and its "queue", into o. Returns 0 or -ENOMEM. */
static int put_workers(json_object *o, const struct status_service *svc)
{
        json_object *a = json_object_new_array();
        int64_t queue = 0;
        int r = a ? 0 : -ENOMEM;

        for (size_t i = 0; r == 0 && i < svc->n_listeners; i++) {
                const struct status_listener *l = &svc->listeners[i];
                if (l->queue > 0)
                        queue += l->queue;
                for (size_t j = 0; r == 0 && j < l->n_workers; j++) {
                        const struct status_worker *w = &l->workers[j];
                        json_object *wo = json_object_new_object();
                        r = append(a, wo);
                        if (r == 0)
                                r = put(wo, "listen", json_utf8(l->listen));
                        if (r == 0)
                                r = put(wo, "index", json_object_new_int64(w->index));
                        if (r == 0)
                                r = put(wo, "pid", json_object_new_int64(w->pid));
                        if (r == 0)
                                r = put(wo, "uptime", json_object_new_uint64(w->uptime));
                        if (r == 0)
                                r = put(wo, "restarts", json_object_new_int64(w->restarts));
                        if (r == 0)
                                r = put(wo, "backing_off", json_object_new_boolean(w->backing_off));
                }
        }
        if (r == 0) {
                r = put(o, "workers", a);
                a = NULL;
        }
        if (r == 0)
                r = put(o, "queue", json_object_new_int64(queue));
        json_object_put(a);
        return r;
}

static json_object *service_object(const struct status_service *svc)
{
        json_object *o = json_object_new_object(), *listeners = json_object_new_array(),
                    *failing = json_object_new_array(), *refused = json_object_new_object();
        bool paused = false;
        int r = 0;

        if (!o || !listeners || !failing || !refused)
                r = -ENOMEM;
        for (size_t i = 0; r == 0 && i < svc->n_listeners; i++) {
                const struct status_listener *l = &svc->listeners[i];
                paused |= listener_paused(l);
                r = append(listeners, json_utf8(l->listen));
                if (r == 0 && l->open_error) {
                        json_object *f = json_object_new_object();
                        r = append(failing, f);
                        if (r == 0)
                                r = put(f, "listen", json_utf8(l->listen));
                        if (r == 0)
                                r = put(f, "error", json_utf8(strerror(-l->open_error)));
                }
        }
        if (r == 0)
                r = put(refused, "acl", json_object_new_uint64(svc->refused_acl));
        if (r == 0)
                r = put(refused, "per_source", json_object_new_uint64(svc->refused_per_source));
        if (r == 0)
                r = put(refused, "rate", json_object_new_uint64(svc->refused_rate));
        if (r == 0)
                r = put(refused, "proxy", json_object_new_uint64(svc->refused_proxy));
        if (r == 0)
                r = put(o, "name", json_utf8(svc->name));
        if (r == 0) {
                r = put(o, "listeners", listeners);
                listeners = NULL;
        }
        if (r == 0) {
                r = put(o, "not_listening", failing);
                failing = NULL;
        }
        if (r == 0)
                r = put(o, "running", json_object_new_int64(svc->running));
        if (r == 0)
                r = put(o, "accepted", json_object_new_uint64(svc->accepted));
        if (r == 0)
                r = put(o, "failed", json_object_new_uint64(svc->failed));
        if (r == 0) {
                r = put(o, "refused", refused);
                refused = NULL;
        }
        if (r == 0)
                r = put(o, "paused", json_object_new_boolean(paused));
        if (r == 0)
                r = put(o, "pause", pause_array(svc));
        for (size_t i = 0; r == 0 && i < svc->n_listeners; i++)
                if (svc->listeners[i].pool) {
                        r = put_workers(o, svc);
                        break;
                }
        json_object_put(listeners);
        json_object_put(failing);
        json_object_put(refused);
        if (r < 0)
                o = (json_object_put(o), NULL);
        return o;
}

int status_write_status(FILE *out, const struct status_snapshot *s)
{
        json_object *o = json_object_new_object(), *services = json_object_new_array();
        int r = o && services ? 0 : -ENOMEM;

        if (r == 0)
                r = put(o, "pid", json_object_new_int64(s->pid));
        for (size_t i = 0; r == 0 && i < s->n_services; i++)
                r = append(services, service_object(&s->services[i]));
        if (r == 0) {
                r = put(o, "services", services);
                services = NULL;
        }
        if (r == 0)
                r = put(o, "running", json_object_new_uint64(s->running));
        if (r == 0)
                r = put(o, "max_children", json_object_new_int64(s->max_children));
        json_object_put(services);
        return json_write(out, o, r);
}

int status_write_reload(FILE *out, size_t n_services, const char *error_lines, int r)
{
        json_object *o = json_object_new_object(), *errors = NULL;
        int k = o ? 0 : -ENOMEM;

        if (r == 0) {
                if (k == 0)
                        k = put(o, "ok", json_object_new_boolean(true));
                if (k == 0)
                        k = put(o, "services", json_object_new_uint64(n_services));
                return json_write(out, o, k);
        }
        errors = json_object_new_array();
        if (!errors)
                k = -ENOMEM;
        for (const char *line = error_lines; k == 0 && line && *line;) {
                const char *nl = strchrnul(line, '\n');
                if (nl > line) {
                        char *text = strndup(line, (size_t)(nl - line));
                        k = text ? append(errors, json_utf8(text)) : -ENOMEM;
                        free(text);
                }
                line = *nl ? nl + 1 : nl;
        }
        if (k == 0 && json_object_array_length(errors) == 0)
                k = append(errors, json_utf8(strerror(-r)));
        if (k == 0)
                k = put(o, "ok", json_object_new_boolean(false));
        if (k == 0) {
                k = put(o, "errors", errors);
                errors = NULL;
        }
        json_object_put(errors);
        return json_write(out, o, k);
}

size_t status_format_service(char *buf, size_t size, const struct status_service *s)
{
        size_t paused = 0;
        int n;

        if (size == 0)
                return 0;
        for (size_t i = 0; i < s->n_listeners; i++)
                paused += listener_paused(&s->listeners[i]);
        n = snprintf(buf, size,
                     "listeners %zu (paused %zu), running %u, accepted %llu, failed %llu, refused acl %llu "
                     "per-source %llu rate %llu proxy %llu",
                     s->n_listeners, paused, s->running, (unsigned long long)s->accepted, (unsigned long long)s->failed,
                     (unsigned long long)s->refused_acl, (unsigned long long)s->refused_per_source,
                     (unsigned long long)s->refused_rate, (unsigned long long)s->refused_proxy);
        if (n < 0) {
                buf[0] = '\0';
                return 0;
        }
        return (size_t)n < size ? (size_t)n : size - 1;
}

/* ---- clients ---- */

/* Where a client stands after some I/O: what the event callback does with it next. */
enum client_state {
        CLIENT_WAIT,   /* keep it: more of the request to read, or of the reply to send */
        CLIENT_SENT,   /* the whole reply is sent: close it */
        CLIENT_FAILED, /* EOF or an overlong line before a request, an I/O error, no memory: close it */
        CLIENT_FREED,  /* the handler closed the status socket: the client is freed already, touch nothing */
};

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

/* Send what is left of the reply without blocking: CLIENT_SENT, CLIENT_WAIT or CLIENT_FAILED. */
static enum client_state client_send(struct status_client *c)
{
        while (c->sent < c->reply_len) {
                ssize_t n = send(c->fd, c->reply + c->sent, c->reply_len - c->sent, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno == EAGAIN ? CLIENT_WAIT : CLIENT_FAILED;
                }
                c->sent += (size_t)n;
        }
        return CLIENT_SENT;
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

/* A complete request line is in c->request: answer it and start sending the reply. */
static enum client_state client_request(struct status_client *c, size_t line_len)
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
                return CLIENT_FREED;
        }
        if (r < 0 || sd_event_source_set_io_events(c->io, EPOLLOUT) < 0)
                return CLIENT_FAILED;
        client_touch(c);
        return client_send(c);
}

/* Read what is there of the request line, and answer it once it is complete. */
static enum client_state client_read(struct status_client *c)
{
        for (;;) {
                size_t room = sizeof(c->request) - c->request_len;
                char *nl;
                ssize_t n;

                if (room == 0)
                        return CLIENT_FAILED; /* STATUS_REQUEST_MAX bytes and no newline */
                n = recv(c->fd, c->request + c->request_len, room, MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno == EAGAIN ? CLIENT_WAIT : CLIENT_FAILED;
                }
                if (n == 0)
                        return CLIENT_FAILED; /* EOF before a full line */
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
        bool sending = c->reply != NULL;

        switch (sending ? client_send(c) : client_read(c)) {
        case CLIENT_WAIT:
                if (sending)
                        client_touch(c); /* reading touches on every bit of progress itself */
                break;
        case CLIENT_SENT:
        case CLIENT_FAILED:
                /* Done, or failed: a client can fail, superd cannot. Drop it quietly and carry on. */
                client_free(c);
                break;
        case CLIENT_FREED:
                break; /* freed together with its socket */
        }
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

/* Stop listening and remove the socket file; clients stay. */
static void socket_stop(struct status_socket *s)
{
        s->io = sd_event_source_disable_unref(s->io);
        s->retry = sd_event_source_disable_unref(s->retry);
        if (s->fd >= 0) {
                socket_file_unlink(s->path, &s->file);
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
        /* Born 0600 from the umask alone, never chmod'ed: no moment at which another user could connect. */
        const struct socket_options o = {.backlog = LISTEN_BACKLOG, .socket_mode = 0600};
        struct status_socket *s;
        int r;

        if (!e || !path || !*path || !fn || !ret)
                return -EINVAL;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->event = e;
        s->fn = fn;
        s->userdata = userdata;
        s->path = strdup(path);
        if (!s->path) {
                free(s);
                return -ENOMEM;
        }
        s->fd = socket_listen_unix(path, SOCK_STREAM, &o, &s->file);
        r = s->fd < 0 ? s->fd : sd_event_add_io(e, &s->io, s->fd, EPOLLIN, on_accept, s);
        if (r < 0) {
                socket_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

int status_serving_fd(const struct status_socket *s)
{
        return s && s->serving ? s->serving->fd : -1;
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
