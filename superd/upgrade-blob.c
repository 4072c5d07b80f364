/* SPDX-License-Identifier: MIT */
/* The upgrade blob: what one superd image hands the next across execve(2), as plain data; JSON in a sealed memfd. */
#include "upgrade-blob.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "config.h"

#define SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)

void upgrade_state_free(struct upgrade_state *s)
{
        for (size_t i = 0; i < s->n_listeners; i++) {
                free(s->listeners[i].service);
                free(s->listeners[i].path);
        }
        for (size_t i = 0; i < s->n_handlers; i++)
                free(s->handlers[i].service);
        for (size_t i = 0; i < s->n_services; i++)
                free(s->services[i].name);
        for (size_t i = 0; i < s->n_conns; i++) {
                free(s->conns[i].service);
                free(s->conns[i].held);
        }
        free(s->conns);
        free(s->listeners);
        free(s->handlers);
        free(s->services);
        free(s->from);
        free(s->config_main);
        free(s->config_services);
        free(s->config_retired);
        *s = (struct upgrade_state){.reply_fd = -1};
}

/* ---- writing ---- */

/* Add KEY = V to O; a NULL V (json-c out of memory) marks the whole tree failed through *ok. */
static void put(json_object *o, const char *key, json_object *v, bool *ok)
{
        if (!v || json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                *ok = false;
        }
}

static void put_u64(json_object *o, const char *key, uint64_t v, bool *ok)
{
        put(o, key, json_object_new_uint64(v), ok);
}

static void put_int(json_object *o, const char *key, int64_t v, bool *ok)
{
        put(o, key, json_object_new_int64(v), ok);
}

static void put_bool(json_object *o, const char *key, bool v, bool *ok)
{
        put(o, key, json_object_new_boolean(v), ok);
}

static void put_str(json_object *o, const char *key, const char *v, bool *ok)
{
        put(o, key, json_object_new_string(v ? v : ""), ok);
}

/* Binary data (socket addresses, held bytes) as lower-case hex. */
static void put_hex(json_object *o, const char *key, const void *data, size_t len, bool *ok)
{
        static const char digits[] = "0123456789abcdef";
        char small[2 * sizeof(struct sockaddr_storage) + 1];
        char *buf = len < sizeof(small) / 2 ? small : malloc(2 * len + 1);
        const unsigned char *p = data;

        if (!buf) {
                *ok = false;
                return;
        }
        for (size_t i = 0; i < len; i++) {
                buf[2 * i] = digits[p[i] >> 4];
                buf[2 * i + 1] = digits[p[i] & 15];
        }
        buf[2 * len] = '\0';
        put_str(o, key, buf, ok);
        if (buf != small)
                free(buf);
}

/*
 * The socket options as one string of numbers, "backlog,rcvbuf,sndbuf,flags,
 * uid,gid,mode" (flags: reuse_port 1, keepalive 2, nodelay 4, ipv6_only 8,
 * free_bind 16, set_owner 32; mode in octal): a thousand listeners would
 * otherwise cost twelve thousand JSON fields to write and to read.
 */
static void put_options(json_object *j, const struct socket_options *o, bool *ok)
{
        char buf[128];
        unsigned flags = (o->reuse_port ? 1u : 0) | (o->keepalive ? 2u : 0) | (o->nodelay ? 4u : 0) |
                         (o->ipv6_only ? 8u : 0) | (o->free_bind ? 16u : 0) | (o->set_owner ? 32u : 0);

        snprintf(buf, sizeof(buf), "%d,%d,%d,%u,%lld,%lld,%o", o->backlog, o->receive_buffer, o->send_buffer, flags,
                 o->socket_uid == (uid_t)-1 ? -1LL : (long long)o->socket_uid,
                 o->socket_gid == (gid_t)-1 ? -1LL : (long long)o->socket_gid, (unsigned)o->socket_mode);
        put_str(j, "options", buf, ok);
}

static json_object *listener_object(const struct upgrade_listener *l, bool *ok)
{
        json_object *j = json_object_new_object();
        union listen_sockaddr sa;

        if (!j) {
                *ok = false;
                return NULL;
        }
        put_int(j, "fd", l->fd, ok);
        put_str(j, "service", l->service, ok);
        /* The socket address, as every image has written it (unix: built from the path). */
        put_hex(j, "addr", addr_sockaddr(&l->addr, &sa), l->addr.len, ok);
        put_bool(j, "dual_stack", l->addr.dual_stack, ok);
        put_int(j, "type", l->socket_type, ok);
        put_options(j, &l->options, ok);
        put_bool(j, "builtin", l->builtin, ok);
        put_bool(j, "adopted", l->adopted, ok);
        put_u64(j, "file_dev", (uint64_t)l->file.dev, ok);
        put_u64(j, "file_ino", (uint64_t)l->file.ino, ok);
        return j;
}

static json_object *handler_object(const struct upgrade_handler *h, bool *ok)
{
        json_object *j = json_object_new_object();

        if (!j) {
                *ok = false;
                return NULL;
        }
        put_int(j, "pid", h->pid, ok);
        put_str(j, "service", h->service, ok);
        put_hex(j, "remote", &h->remote, sizeof(h->remote), ok);
        put_u64(j, "start_usec", h->start_usec, ok);
        put_u64(j, "deadline_usec", h->deadline_usec, ok);
        put_bool(j, "term_sent", h->term_sent, ok);
        put_bool(j, "counted_source", h->counted_source, ok);
        put_int(j, "wait_listener", h->wait_listener, ok);
        put_int(j, "worker_slot", h->worker_slot, ok);
        return j;
}

static json_object *service_object(const struct upgrade_service *s, bool *ok)
{
        json_object *j = json_object_new_object();

        if (!j) {
                *ok = false;
                return NULL;
        }
        put_str(j, "name", s->name, ok);
        put_u64(j, "accepted", s->accepted, ok);
        put_u64(j, "failed", s->failed, ok);
        put_u64(j, "refused_acl", s->refused_acl, ok);
        put_u64(j, "refused_per_source", s->refused_per_source, ok);
        put_u64(j, "refused_rate", s->refused_rate, ok);
        put_u64(j, "refused_proxy", s->refused_proxy, ok);
        put_u64(j, "rate_window_usec", s->rate.window_start_usec, ok);
        put_u64(j, "rate_count", s->rate.count, ok);
        put_u64(j, "rate_pause_end_usec", s->rate_pause_end_usec, ok);
        return j;
}

static json_object *conn_object(const struct upgrade_conn *c, bool *ok)
{
        json_object *j = json_object_new_object();

        if (!j) {
                *ok = false;
                return NULL;
        }
        put_int(j, "fd", c->fd, ok);
        put_int(j, "kind", c->kind, ok);
        put_str(j, "service", c->service, ok);
        put_int(j, "listener", c->listener, ok);
        put_hex(j, "peer", &c->peer, sizeof(c->peer), ok);
        put_int(j, "builtin", c->builtin, ok);
        put_bool(j, "eof", c->eof, ok);
        put_bool(j, "answered", c->answered, ok);
        put_u64(j, "pos", c->pos, ok);
        put_hex(j, "held", c->held ? c->held : "", c->len, ok);
        return j;
}

int upgrade_format(const struct upgrade_state *s, char **ret_text, size_t *ret_len)
{
        json_object *o = json_object_new_object(), *a;
        const char *text;
        size_t len;
        bool ok = o != NULL;

        if (!ok)
                return -ENOMEM;
        put_str(o, "magic", UPGRADE_BLOB_MAGIC, &ok);
        put_int(o, "version", UPGRADE_BLOB_VERSION, &ok);
        put_str(o, "from", s->from, &ok);
        put_u64(o, "requested_usec", s->requested_usec, &ok);
        put_int(o, "reply_fd", s->reply_fd, &ok);
        /* The configuration texts follow the object as they are: no escaping, no parsing of 100s of KiB. */
        put_u64(o, "config_main_len", s->config_main ? strlen(s->config_main) : 0, &ok);
        put_u64(o, "config_services_len", s->config_services ? strlen(s->config_services) : 0, &ok);
        put_u64(o, "config_retired_len", s->config_retired ? strlen(s->config_retired) : 0, &ok);
        put(o, "listeners", a = json_object_new_array_ext((int)s->n_listeners), &ok);
        for (size_t i = 0; a && ok && i < s->n_listeners; i++)
                if (json_object_array_add(a, listener_object(&s->listeners[i], &ok)) < 0)
                        ok = false;
        put(o, "handlers", a = json_object_new_array_ext((int)s->n_handlers), &ok);
        for (size_t i = 0; a && ok && i < s->n_handlers; i++)
                if (json_object_array_add(a, handler_object(&s->handlers[i], &ok)) < 0)
                        ok = false;
        put(o, "services", a = json_object_new_array_ext((int)s->n_services), &ok);
        for (size_t i = 0; a && ok && i < s->n_services; i++)
                if (json_object_array_add(a, service_object(&s->services[i], &ok)) < 0)
                        ok = false;
        put(o, "connections", a = json_object_new_array_ext((int)s->n_conns), &ok);
        for (size_t i = 0; a && ok && i < s->n_conns; i++)
                if (json_object_array_add(a, conn_object(&s->conns[i], &ok)) < 0)
                        ok = false;
        text = ok ? json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len) : NULL;
        *ret_text = NULL;
        if (text &&
            asprintf(ret_text, "%s%s%s%s", text, s->config_main ? s->config_main : "",
                     s->config_services ? s->config_services : "", s->config_retired ? s->config_retired : "") < 0)
                *ret_text = NULL;
        *ret_len = *ret_text ? strlen(*ret_text) : 0;
        json_object_put(o);
        return *ret_text ? 0 : -ENOMEM;
}

int upgrade_write_memfd(const struct upgrade_state *s)
{
        char *text = NULL;
        size_t len = 0, done = 0;
        int fd, r;

        r = upgrade_format(s, &text, &len);
        if (r < 0)
                return r;
        fd = memfd_create("superd-upgrade", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0) {
                r = -errno;
                free(text);
                return r;
        }
        while (done < len) {
                ssize_t n = write(fd, text + done, len - done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        r = n < 0 ? -errno : -EIO;
                        break;
                }
                done += (size_t)n;
        }
        free(text);
        if (r == 0 && fcntl(fd, F_ADD_SEALS, SEALS) < 0)
                r = -errno;
        if (r == 0 && lseek(fd, 0, SEEK_SET) < 0)
                r = -errno;
        if (r < 0) {
                close(fd);
                return r;
        }
        return fd;
}

/* ---- reading: every field checked, nothing trusted ---- */

struct reader {
        bool ok;
};

static json_object *field(struct reader *rd, json_object *o, const char *key, json_type type)
{
        json_object *v = NULL;

        if (!rd->ok || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, type)) {
                rd->ok = false;
                return NULL;
        }
        return v;
}

static int64_t get_int(struct reader *rd, json_object *o, const char *key, int64_t min, int64_t max)
{
        json_object *v = field(rd, o, key, json_type_int);
        int64_t n;

        if (!v)
                return min;
        errno = 0;
        n = json_object_get_int64(v);
        if (errno || n < min || n > max) {
                rd->ok = false;
                return min;
        }
        return n;
}

static uint64_t get_u64(struct reader *rd, json_object *o, const char *key)
{
        json_object *v = field(rd, o, key, json_type_int);

        if (!v)
                return 0;
        /* json-c keeps negative numbers signed: refuse them rather than wrap. */
        if (json_object_get_int64(v) < 0 && json_object_get_uint64(v) == 0) {
                rd->ok = false;
                return 0;
        }
        return json_object_get_uint64(v);
}

static bool get_bool(struct reader *rd, json_object *o, const char *key)
{
        json_object *v = field(rd, o, key, json_type_boolean);

        return v && json_object_get_boolean(v);
}

/* A copy of string KEY, of 1..max bytes without NUL (0..max when may_be_empty). */
static char *get_str(struct reader *rd, json_object *o, const char *key, size_t max, bool may_be_empty)
{
        json_object *v = field(rd, o, key, json_type_string);
        const char *s;
        size_t len;
        char *copy;

        if (!v)
                return NULL;
        s = json_object_get_string(v);
        len = (size_t)json_object_get_string_len(v);
        if (len > max || (!may_be_empty && len == 0) || memchr(s, '\0', len)) {
                rd->ok = false;
                return NULL;
        }
        copy = strndup(s, len);
        if (!copy)
                rd->ok = false;
        return copy;
}

static int hex_digit(char c)
{
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decode hex KEY into buf (at most size bytes). Returns the length. */
static size_t get_hex(struct reader *rd, json_object *o, const char *key, void *buf, size_t size)
{
        json_object *v = field(rd, o, key, json_type_string);
        const char *s;
        size_t len;

        if (!v)
                return 0;
        s = json_object_get_string(v);
        len = (size_t)json_object_get_string_len(v);
        if (len % 2 || len / 2 > size) {
                rd->ok = false;
                return 0;
        }
        for (size_t i = 0; i < len / 2; i++) {
                int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
                if (hi < 0 || lo < 0) {
                        rd->ok = false;
                        return 0;
                }
                ((unsigned char *)buf)[i] = (unsigned char)(hi << 4 | lo);
        }
        return len / 2;
}

/* An array KEY of at most UPGRADE_ITEMS_MAX objects; its length in *ret_n. */
static json_object *get_array(struct reader *rd, json_object *o, const char *key, size_t *ret_n)
{
        json_object *a = field(rd, o, key, json_type_array);

        *ret_n = a ? json_object_array_length(a) : 0;
        if (*ret_n > UPGRADE_ITEMS_MAX)
                rd->ok = false;
        for (size_t i = 0; rd->ok && i < *ret_n; i++)
                if (!json_object_is_type(json_object_array_get_idx(a, i), json_type_object))
                        rd->ok = false;
        return rd->ok ? a : NULL;
}

static void read_listener(struct reader *rd, json_object *j, struct upgrade_listener *l)
{
        union listen_sockaddr sa;
        socklen_t sa_len;
        bool dual_stack;
        json_object *o;

        l->fd = (int)get_int(rd, j, "fd", 3, UPGRADE_FD_MAX);
        l->service = get_str(rd, j, "service", UPGRADE_STRING_MAX, false);
        sa_len = (socklen_t)get_hex(rd, j, "addr", &sa, sizeof(sa));
        dual_stack = get_bool(rd, j, "dual_stack");
        /* A listen address as socket_listen() binds it: a known family, its length (addr_from_sockaddr()). */
        if (rd->ok && addr_from_sockaddr(&sa.sa, sa_len, dual_stack, &l->addr, &l->path) < 0)
                rd->ok = false;
        l->socket_type = (int)get_int(rd, j, "type", SOCK_STREAM, SOCK_SEQPACKET);
        if (l->socket_type != SOCK_STREAM && l->socket_type != SOCK_DGRAM && l->socket_type != SOCK_SEQPACKET)
                rd->ok = false;
        o = field(rd, j, "options", json_type_string);
        if (o) {
                int backlog, rcv, snd, used = 0;
                unsigned flags, mode;
                long long uid, gid;
                const char *t = json_object_get_string(o);
                if (sscanf(t, "%d,%d,%d,%u,%lld,%lld,%o%n", &backlog, &rcv, &snd, &flags, &uid, &gid, &mode, &used) !=
                        7 ||
                    t[used] != '\0' || backlog < 0 || backlog > 65535 || rcv < 0 || rcv > 1 << 30 || snd < 0 ||
                    snd > 1 << 30 || flags > 63 || uid < -1 || uid > UINT32_MAX || gid < -1 || gid > UINT32_MAX ||
                    mode > 07777)
                        rd->ok = false;
                else
                        l->options = (struct socket_options){.backlog = backlog,
                                                             .receive_buffer = rcv,
                                                             .send_buffer = snd,
                                                             .reuse_port = flags & 1,
                                                             .keepalive = flags & 2,
                                                             .nodelay = flags & 4,
                                                             .ipv6_only = flags & 8,
                                                             .free_bind = flags & 16,
                                                             .set_owner = flags & 32,
                                                             .socket_uid = (uid_t)uid,
                                                             .socket_gid = (gid_t)gid,
                                                             .socket_mode = (mode_t)mode};
        }
        l->builtin = get_bool(rd, j, "builtin");
        l->adopted = get_bool(rd, j, "adopted");
        l->file.dev = (dev_t)get_u64(rd, j, "file_dev");
        l->file.ino = (ino_t)get_u64(rd, j, "file_ino");
}

static void read_handler(struct reader *rd, json_object *j, struct upgrade_handler *h, size_t n_listeners)
{
        h->pid = (pid_t)get_int(rd, j, "pid", 1, INT32_MAX);
        h->service = get_str(rd, j, "service", UPGRADE_STRING_MAX, false);
        if (get_hex(rd, j, "remote", &h->remote, sizeof(h->remote)) != sizeof(h->remote))
                rd->ok = false;
        switch (h->remote.sin6_family) {
        case AF_INET:
        case AF_INET6:
        case AF_UNIX:
        case AF_UNSPEC:
                break;
        default:
                rd->ok = false;
        }
        h->start_usec = get_u64(rd, j, "start_usec");
        h->deadline_usec = get_u64(rd, j, "deadline_usec");
        h->term_sent = get_bool(rd, j, "term_sent");
        h->counted_source = get_bool(rd, j, "counted_source");
        h->wait_listener = (ssize_t)get_int(rd, j, "wait_listener", -1, (int64_t)n_listeners - 1);
        h->worker_slot = (int)get_int(rd, j, "worker_slot", -1, WORKERS_MAX - 1);
        if (h->worker_slot >= 0 && h->wait_listener < 0)
                rd->ok = false;
}

static void read_service(struct reader *rd, json_object *j, struct upgrade_service *s)
{
        s->name = get_str(rd, j, "name", UPGRADE_STRING_MAX, false);
        s->accepted = get_u64(rd, j, "accepted");
        s->failed = get_u64(rd, j, "failed");
        s->refused_acl = get_u64(rd, j, "refused_acl");
        s->refused_per_source = get_u64(rd, j, "refused_per_source");
        s->refused_rate = get_u64(rd, j, "refused_rate");
        s->refused_proxy = get_u64(rd, j, "refused_proxy");
        s->rate.window_start_usec = get_u64(rd, j, "rate_window_usec");
        s->rate.count = (unsigned)get_int(rd, j, "rate_count", 0, UINT32_MAX);
        s->rate_pause_end_usec = get_u64(rd, j, "rate_pause_end_usec");
}

static void read_conn(struct reader *rd, json_object *j, struct upgrade_conn *c, size_t n_listeners)
{
        char held[UPGRADE_HELD_MAX];

        c->fd = (int)get_int(rd, j, "fd", 3, UPGRADE_FD_MAX);
        c->kind = (enum upgrade_conn_kind)get_int(rd, j, "kind", UPGRADE_CONN_BUILTIN, UPGRADE_CONN_PROXY);
        c->service = get_str(rd, j, "service", UPGRADE_STRING_MAX, false);
        c->listener = (ssize_t)get_int(rd, j, "listener", -1, (int64_t)n_listeners - 1);
        if (get_hex(rd, j, "peer", &c->peer, sizeof(c->peer)) != sizeof(c->peer))
                rd->ok = false;
        c->builtin = (int)get_int(rd, j, "builtin", 0, 5);
        c->eof = get_bool(rd, j, "eof");
        c->answered = get_bool(rd, j, "answered");
        c->pos = get_u64(rd, j, "pos");
        c->len = get_hex(rd, j, "held", held, sizeof(held));
        if (rd->ok && c->len && !(c->held = malloc(c->len)))
                rd->ok = false;
        if (rd->ok && c->len)
                memcpy(c->held, held, c->len);
        /* A builtin connection names its builtin; a waiting one its listener and an IP or unix peer. */
        if (c->kind == UPGRADE_CONN_BUILTIN ? c->builtin == 0 : c->listener < 0 || c->len > 0)
                rd->ok = false;
}

static int compare_int(const void *a, const void *b)
{
        return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

/* Every fd of the blob, the reply fd included, is named once. */
static bool fds_unique(const struct upgrade_state *s)
{
        size_t n = s->n_listeners + s->n_conns + 1;
        int *fds = calloc(n, sizeof(*fds));
        bool ok = fds != NULL;

        for (size_t i = 0; ok && i < s->n_listeners; i++)
                fds[i] = s->listeners[i].fd;
        for (size_t i = 0; ok && i < s->n_conns; i++)
                fds[s->n_listeners + i] = s->conns[i].fd;
        if (ok) {
                fds[n - 1] = s->reply_fd;
                qsort(fds, n, sizeof(*fds), compare_int);
                for (size_t i = 1; i < n; i++)
                        if (fds[i] == fds[i - 1] && fds[i] >= 0)
                                ok = false;
        }
        free(fds);
        return ok;
}

int upgrade_parse(const char *text, size_t len, struct upgrade_state *ret)
{
        struct reader rd = {.ok = true};
        struct json_tokener *tok;
        json_object *o, *a;
        char *magic;
        size_t n;

        *ret = (struct upgrade_state){.reply_fd = -1};
        if (len > UPGRADE_BLOB_MAX || len > INT32_MAX)
                return -EBADMSG;
        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        o = json_tokener_parse_ex(tok, text, (int)len);
        /* One complete object; the configuration texts follow it (checked below). */
        if (!o || json_tokener_get_error(tok) != json_tokener_success || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                json_tokener_free(tok);
                return -EBADMSG;
        }

        magic = get_str(&rd, o, "magic", UPGRADE_STRING_MAX, false);
        if (!magic || strcmp(magic, UPGRADE_BLOB_MAGIC) != 0)
                rd.ok = false;
        free(magic);
        (void)get_int(&rd, o, "version", UPGRADE_BLOB_VERSION, UPGRADE_BLOB_VERSION);
        ret->from = get_str(&rd, o, "from", UPGRADE_STRING_MAX, true);
        ret->requested_usec = get_u64(&rd, o, "requested_usec");
        ret->reply_fd = (int)get_int(&rd, o, "reply_fd", -1, UPGRADE_FD_MAX);
        if (ret->reply_fd >= 0 && ret->reply_fd < 3)
                rd.ok = false;
        {
                size_t end = json_tokener_get_parse_end(tok);
                uint64_t main_len = get_u64(&rd, o, "config_main_len");
                uint64_t services_len = get_u64(&rd, o, "config_services_len");
                uint64_t retired_len = get_u64(&rd, o, "config_retired_len");
                /* Exactly the three texts after the object: a truncated or extended blob is refused. */
                if (!rd.ok || main_len > UPGRADE_CONFIG_MAX || services_len > UPGRADE_CONFIG_MAX ||
                    retired_len > UPGRADE_CONFIG_MAX || end + main_len + services_len + retired_len != len ||
                    memchr(text + end, '\0', len - end))
                        rd.ok = false;
                else if (!(ret->config_main = strndup(text + end, main_len)) ||
                         !(ret->config_services = strndup(text + end + main_len, services_len)) ||
                         !(ret->config_retired = strndup(text + end + main_len + services_len, retired_len)))
                        rd.ok = false;
        }

        a = get_array(&rd, o, "listeners", &n);
        if (a && n && !(ret->listeners = calloc(n, sizeof(*ret->listeners))))
                rd.ok = false;
        for (size_t i = 0; rd.ok && i < n; i++, ret->n_listeners++)
                read_listener(&rd, json_object_array_get_idx(a, i), &ret->listeners[i]);

        a = get_array(&rd, o, "handlers", &n);
        if (a && n && !(ret->handlers = calloc(n, sizeof(*ret->handlers))))
                rd.ok = false;
        for (size_t i = 0; rd.ok && i < n; i++, ret->n_handlers++)
                read_handler(&rd, json_object_array_get_idx(a, i), &ret->handlers[i], ret->n_listeners);

        a = get_array(&rd, o, "services", &n);
        if (a && n && !(ret->services = calloc(n, sizeof(*ret->services))))
                rd.ok = false;
        for (size_t i = 0; rd.ok && i < n; i++, ret->n_services++)
                read_service(&rd, json_object_array_get_idx(a, i), &ret->services[i]);

        /* Optional: a blob of an image without it carries no connection. */
        if (rd.ok && json_object_object_get_ex(o, "connections", NULL)) {
                a = get_array(&rd, o, "connections", &n);
                if (a && n && !(ret->conns = calloc(n, sizeof(*ret->conns))))
                        rd.ok = false;
                for (size_t i = 0; rd.ok && i < n; i++, ret->n_conns++)
                        read_conn(&rd, json_object_array_get_idx(a, i), &ret->conns[i], ret->n_listeners);
        }

        if (rd.ok && !fds_unique(ret))
                rd.ok = false;
        json_tokener_free(tok);
        json_object_put(o);
        if (!rd.ok) {
                /* The loops above count an item partly read too: its strings are freed here. */
                upgrade_state_free(ret);
                return -EBADMSG;
        }
        return 0;
}

int upgrade_read_fd(int fd, struct upgrade_state *ret)
{
        struct stat st;
        size_t done = 0, len;
        char *text;
        int seals, r;

        *ret = (struct upgrade_state){.reply_fd = -1};
        if (fstat(fd, &st) < 0)
                return -errno;
        seals = fcntl(fd, F_GET_SEALS);
        if (!S_ISREG(st.st_mode) || st.st_size < 0 || (uint64_t)st.st_size > UPGRADE_BLOB_MAX || seals < 0 ||
            (seals & (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW))
                return -EBADMSG;
        len = (size_t)st.st_size;
        text = malloc(len + 1);
        if (!text)
                return -ENOMEM;
        while (done < len) {
                ssize_t n = pread(fd, text + done, len - done, (off_t)done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        r = n < 0 ? -errno : -EBADMSG;
                        free(text);
                        return r;
                }
                done += (size_t)n;
        }
        text[len] = '\0';
        r = upgrade_parse(text, len, ret);
        free(text);
        return r;
}
