/* SPDX-License-Identifier: MIT */
/* Unit tests of status.c: the JSON replies (whole outputs, parsed back), the SIGUSR1 line, and the status socket. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <json-c/json.h>
#include <systemd/sd-event.h>

#include "status.h"
#include "util.h"

TestSuite(status, .timeout = 30);

#define FFFD "\xef\xbf\xbd"

/* Run CALL, which writes to `out`, a memory stream; check that it returned 0 and return the text (malloc'd). */
#define CAPTURE(call)                                                                                                  \
        ({                                                                                                             \
                char *text_ = NULL;                                                                                    \
                size_t len_ = 0;                                                                                       \
                FILE *out = open_memstream(&text_, &len_);                                                             \
                cr_assert(out);                                                                                        \
                cr_assert_eq((call), 0, #call " failed");                                                              \
                cr_assert_eq(fclose(out), 0);                                                                          \
                text_;                                                                                                 \
        })

/* Parse one reply: a JSON object and exactly one '\n' at its end. */
static json_object *parse_reply(const char *text)
{
        size_t n = strlen(text);
        json_object *o;

        cr_assert(n > 0 && text[n - 1] == '\n' && !memchr(text, '\n', n - 1), "not one line: %s", text);
        o = json_tokener_parse(text);
        cr_assert(o && json_object_is_type(o, json_type_object), "not a JSON object: %s", text);
        return o;
}

static json_object *get(json_object *o, const char *key)
{
        json_object *v = NULL;

        cr_assert(json_object_object_get_ex(o, key, &v), "no key %s in %s", key, json_object_to_json_string(o));
        return v;
}

static const struct status_listener echo_listeners[] = {
    {.listen = "127.0.0.1:7"},
    {.listen = "unix:/run/superd/e.sock", .pause_reasons = {"wait"}},
    {.listen = "[::]:7", .open_error = -EADDRINUSE},
};

static const struct status_listener tftp_listeners[] = {
    {.listen = "*:69", .pause_reasons = {"max-instances", "rate"}},
    {.listen = "[::1]:69", .pause_reasons = {"rate", "max-children", "max-instances", "back-off"}},
};

static const struct status_service services[] = {
    {.name = "echo",
     .listeners = echo_listeners,
     .n_listeners = 3,
     .running = 2,
     .accepted = 340,
     .failed = 1,
     .refused_acl = 3,
     .refused_per_source = 5,
     .refused_rate = 7,
     .refused_proxy = 9},
    {.name = "tftp", .listeners = tftp_listeners, .n_listeners = 2, .accepted = UINT64_MAX},
    {.name = "idle"},
};

static const struct status_snapshot snapshot = {
    .pid = 812, .services = services, .n_services = 3, .running = 2, .max_children = 1024};

Test(status, status_reply_whole)
{
        char *text = CAPTURE(status_write_status(out, &snapshot));

        cr_assert_str_eq(
            text, "{\"pid\":812,\"services\":["
                  "{\"name\":\"echo\",\"listeners\":[\"127.0.0.1:7\",\"unix:/run/superd/e.sock\",\"[::]:7\"],"
                  "\"not_listening\":[{\"listen\":\"[::]:7\",\"error\":\"Address already in use\"}],"
                  "\"running\":2,\"accepted\":340,\"failed\":1,\"refused\":{\"acl\":3,\"per_source\":5,\"rate\":7,\"proxy\":9},"
                  "\"paused\":true,\"pause\":[\"wait\"]},"
                  "{\"name\":\"tftp\",\"listeners\":[\"*:69\",\"[::1]:69\"],\"not_listening\":[],"
                  "\"running\":0,\"accepted\":18446744073709551615,\"failed\":0,"
                  "\"refused\":{\"acl\":0,\"per_source\":0,\"rate\":0,\"proxy\":0},"
                  "\"paused\":true,\"pause\":[\"max-instances\",\"rate\",\"max-children\",\"back-off\"]},"
                  "{\"name\":\"idle\",\"listeners\":[],\"not_listening\":[],\"running\":0,\"accepted\":0,\"failed\":0,"
                  "\"refused\":{\"acl\":0,\"per_source\":0,\"rate\":0,\"proxy\":0},\"paused\":false,\"pause\":[]}"
                  "],\"running\":2,\"max_children\":1024}\n");
        free(text);
}

/* What superctl reads (helpers/superctl.c) parses back to the snapshot. */
Test(status, status_reply_parses_back)
{
        char *text = CAPTURE(status_write_status(out, &snapshot));
        json_object *o = parse_reply(text), *svcs = get(o, "services"), *echo, *tftp, *refused, *failing;

        cr_assert_eq(json_object_get_int64(get(o, "pid")), 812);
        cr_assert_eq(json_object_get_int64(get(o, "running")), 2);
        cr_assert_eq(json_object_get_int64(get(o, "max_children")), 1024);
        cr_assert_eq(json_object_array_length(svcs), 3);

        echo = json_object_array_get_idx(svcs, 0);
        cr_assert_str_eq(json_object_get_string(get(echo, "name")), "echo");
        cr_assert_eq(json_object_array_length(get(echo, "listeners")), 3);
        cr_assert_str_eq(json_object_get_string(json_object_array_get_idx(get(echo, "listeners"), 1)),
                         "unix:/run/superd/e.sock");
        failing = get(echo, "not_listening");
        cr_assert_eq(json_object_array_length(failing), 1);
        cr_assert_str_eq(json_object_get_string(get(json_object_array_get_idx(failing, 0), "listen")), "[::]:7");
        cr_assert_str_eq(json_object_get_string(get(json_object_array_get_idx(failing, 0), "error")),
                         strerror(EADDRINUSE));
        cr_assert_eq(json_object_get_int64(get(echo, "running")), 2);
        cr_assert_eq(json_object_get_int64(get(echo, "accepted")), 340);
        cr_assert_eq(json_object_get_int64(get(echo, "failed")), 1);
        refused = get(echo, "refused");
        cr_assert_eq(json_object_get_int64(get(refused, "acl")), 3);
        cr_assert_eq(json_object_get_int64(get(refused, "per_source")), 5);
        cr_assert_eq(json_object_get_int64(get(refused, "rate")), 7);
        cr_assert_eq(json_object_get_int64(get(refused, "proxy")), 9);
        cr_assert(json_object_get_boolean(get(echo, "paused")));

        tftp = json_object_array_get_idx(svcs, 1);
        cr_assert_eq(json_object_get_uint64(get(tftp, "accepted")), UINT64_MAX);
        cr_assert_eq(json_object_array_length(get(tftp, "pause")), 4, "pause reasons are listed once each");

        cr_assert_not(json_object_get_boolean(get(json_object_array_get_idx(svcs, 2), "paused")));
        json_object_put(o);
        free(text);
}

Test(status, status_reply_without_services)
{
        const struct status_snapshot empty = {.pid = 1};
        char *text = CAPTURE(status_write_status(out, &empty));

        cr_assert_str_eq(text, "{\"pid\":1,\"services\":[],\"running\":0,\"max_children\":0}\n");
        free(text);
}

/*
 * Names come from file names and drop-ins: any bytes. Each byte that does
 * not start a valid UTF-8 sequence becomes one U+FFFD; control characters,
 * quotes and backslashes are escaped; valid UTF-8 passes as it is.
 */
Test(status, invalid_utf8_and_control_characters_make_valid_json)
{
        static const char name[] = "a\xff"
                                   "b\xc3("           /* a lead byte without its continuation */
                                   "\x01\t\n\"\\\x7f" /* control characters, quote, backslash, DEL */
                                   "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" /* é € 😀 */
                                   "\xc0\xaf"                             /* overlong '/' */
                                   "\xed\xa0\x80"                         /* a UTF-16 surrogate */
                                   "\xf4\x90\x80\x80"                     /* above U+10FFFF */
                                   "\x80"                                 /* a lone continuation byte */
                                   "\xe2\x82";                            /* cut short at the end */
        static const char want_name[] =
            "a" FFFD "b" FFFD "("
            "\\u0001\\t\\n\\\"\\\\\x7f"
            "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD;
        static const char decoded[] =
            "a" FFFD "b" FFFD "(\x01\t\n\"\\\x7f"
            "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD;
        const struct status_listener l = {
            .listen = "unix:/srv/\xff.sock", .open_error = -ENOENT, .pause_reasons = {"wait"}};
        const struct status_service svc = {.name = name, .listeners = &l, .n_listeners = 1};
        const struct status_snapshot s = {.pid = 7, .services = &svc, .n_services = 1};
        char *text = CAPTURE(status_write_status(out, &s)), *want;
        json_object *o, *got;

        cr_assert(asprintf(&want,
                           "{\"pid\":7,\"services\":[{\"name\":\"%s\",\"listeners\":[\"unix:/srv/" FFFD ".sock\"],"
                           "\"not_listening\":[{\"listen\":\"unix:/srv/" FFFD ".sock\",\"error\":\"%s\"}],"
                           "\"running\":0,\"accepted\":0,\"failed\":0,\"refused\":{\"acl\":0,\"per_source\":0,"
                           "\"rate\":0,\"proxy\":0},\"paused\":true,\"pause\":[\"wait\"]}],\"running\":0,\"max_children\":0}\n",
                           want_name, strerror(ENOENT)) > 0);
        cr_assert_str_eq(text, want);
        o = parse_reply(text);
        got = json_object_array_get_idx(get(o, "services"), 0);
        cr_assert_str_eq(json_object_get_string(get(got, "name")), decoded);
        json_object_put(o);
        free(want);
        free(text);
}

Test(status, reload_reply_ok)
{
        char *text = CAPTURE(status_write_reload(out, 3, NULL, 0));

        cr_assert_str_eq(text, "{\"ok\":true,\"services\":3}\n");
        free(text);
        text = CAPTURE(status_write_reload(out, 0, "ignored\n", 0));
        cr_assert_str_eq(text, "{\"ok\":true,\"services\":0}\n");
        free(text);
}

Test(status, reload_reply_one_error_per_line)
{
        char *text = CAPTURE(
            status_write_reload(out, 3, "a.conf:1: bad \"x\"\n\nb\xff.conf:2: worse\nc.conf:3: no newline", -EINVAL));
        json_object *o, *errors;

        cr_assert_str_eq(text, "{\"ok\":false,\"errors\":[\"a.conf:1: bad \\\"x\\\"\",\"b" FFFD
                               ".conf:2: worse\",\"c.conf:3: no newline\"]}\n");
        o = parse_reply(text);
        errors = get(o, "errors");
        cr_assert_not(json_object_get_boolean(get(o, "ok")));
        cr_assert_eq(json_object_array_length(errors), 3);
        cr_assert_str_eq(json_object_get_string(json_object_array_get_idx(errors, 0)), "a.conf:1: bad \"x\"");
        json_object_put(o);
        free(text);
}

/* No error lines (out of memory, stopping): the errno's text is the one error. */
Test(status, reload_reply_without_lines_names_the_errno)
{
        char *text = CAPTURE(status_write_reload(out, 3, NULL, -ENOMEM)), *want;

        cr_assert(asprintf(&want, "{\"ok\":false,\"errors\":[\"%s\"]}\n", strerror(ENOMEM)) > 0);
        cr_assert_str_eq(text, want);
        free(text);
        free(want);
        text = CAPTURE(status_write_reload(out, 3, "\n\n", -ESHUTDOWN));
        cr_assert(asprintf(&want, "{\"ok\":false,\"errors\":[\"%s\"]}\n", strerror(ESHUTDOWN)) > 0);
        cr_assert_str_eq(text, want);
        free(text);
        free(want);
}

Test(status, sigusr1_line)
{
        char buf[STATUS_SERVICE_LINE_MAX];
        size_t n = status_format_service(buf, sizeof(buf), &services[0]);

        cr_assert_str_eq(buf, "listeners 3 (paused 1), running 2, accepted 340, failed 1, refused acl 3 per-source 5 "
                              "rate 7 proxy 9");
        cr_assert_eq(n, strlen(buf));
        n = status_format_service(buf, sizeof(buf), &services[1]);
        cr_assert_str_eq(buf, "listeners 2 (paused 2), running 0, accepted 18446744073709551615, failed 0, refused acl "
                              "0 per-source 0 rate 0 proxy 0");
        cr_assert_eq(n, strlen(buf));
        n = status_format_service(buf, sizeof(buf), &services[2]);
        cr_assert_str_eq(buf, "listeners 0 (paused 0), running 0, accepted 0, failed 0, refused acl 0 per-source 0 "
                              "rate 0 proxy 0");
        cr_assert_eq(n, strlen(buf));
}

Test(status, sigusr1_line_fits_and_truncates)
{
        const struct status_service big = {.name = "x",
                                           .running = UINT32_MAX,
                                           .accepted = UINT64_MAX,
                                           .failed = UINT64_MAX,
                                           .refused_acl = UINT64_MAX,
                                           .refused_per_source = UINT64_MAX,
                                           .refused_rate = UINT64_MAX,
                                           .refused_proxy = UINT64_MAX};
        char buf[STATUS_SERVICE_LINE_MAX], small[10];
        size_t n = status_format_service(buf, sizeof(buf), &big);

        cr_assert_eq(n, strlen(buf));
        cr_assert_lt(n + 20 + 20, sizeof(buf), "no room left for the listener counts"); /* two size_t at most */
        n = status_format_service(small, sizeof(small), &services[0]);
        cr_assert_str_eq(small, "listeners");
        cr_assert_eq(n, 9);
        cr_assert_eq(status_format_service(small, 0, &services[0]), 0);
}

/* ---- the status socket, over a real unix socket and a real event loop ---- */

struct served {
        struct status_socket **socket; /* closed by the handler when close_self */
        bool close_self;
        int fail; /* -errno to return */
        unsigned calls;
        char last[STATUS_REQUEST_MAX];
};

static int handler(const char *command, FILE *out, void *userdata)
{
        struct served *sv = userdata;

        sv->calls++;
        snprintf(sv->last, sizeof(sv->last), "%s", command);
        if (sv->close_self)
                *sv->socket = status_socket_close(*sv->socket);
        if (sv->fail)
                return sv->fail;
        if (strcmp(command, "status") == 0)
                return status_write_status(out, &snapshot);
        if (strcmp(command, "reload") == 0)
                return status_write_reload(out, 3, NULL, 0);
        fputs("{\"error\":\"unknown command\"}\n", out);
        return 0;
}

/* Send REQUEST to the status socket at PATH, run E until superd's side closes, and return all it sent (malloc'd). */
static char *exchange(sd_event *e, const char *path, const char *request, size_t request_len)
{
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        char *reply = calloc(1, 1);
        size_t len = 0;
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        strcpy(un.sun_path, path);
        cr_assert(reply && fd >= 0);
        cr_assert_eq(connect(fd, (struct sockaddr *)&un, sizeof(un)), 0, "connect %s: %s", path, strerror(errno));
        cr_assert_eq(send(fd, request, request_len, MSG_NOSIGNAL), (ssize_t)request_len);
        for (int i = 0; i < 500; i++) {
                char buf[4096];
                ssize_t n;

                cr_assert_geq(sd_event_run(e, 10000), 0);
                n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (n == 0)
                        break;
                if (n < 0) {
                        cr_assert_eq(errno, EAGAIN, "recv: %s", strerror(errno));
                        continue;
                }
                reply = realloc(reply, len + (size_t)n + 1);
                cr_assert(reply);
                memcpy(reply + len, buf, (size_t)n);
                len += (size_t)n;
                reply[len] = '\0';
        }
        close(fd);
        return reply;
}

static char *dir;
static sd_event *event;

static void socket_setup(void)
{
        dir = tu_tmpdir();
        cr_assert_geq(sd_event_new(&event), 0);
}

static void socket_teardown(void)
{
        event = sd_event_unref(event);
        tu_rmtree(dir);
        free(dir);
}

TestSuite(status_socket, .init = socket_setup, .fini = socket_teardown, .timeout = 30);

Test(status_socket, serves_status_and_reload)
{
        char *path = tu_path(dir, "status.sock"), *reply, *want = CAPTURE(status_write_status(out, &snapshot));
        struct status_socket *s = NULL;
        struct served sv = {.socket = &s};
        struct stat st;

        cr_assert_eq(status_socket_open(event, path, handler, &sv, &s), 0);
        cr_assert_eq(lstat(path, &st), 0);
        cr_assert(S_ISSOCK(st.st_mode));
        cr_assert_eq(st.st_mode & 07777, 0600);

        reply = exchange(event, path, "status\n", 7);
        cr_assert_str_eq(reply, want);
        free(reply);
        reply = exchange(event, path, "reload\r\n", 8);
        cr_assert_str_eq(sv.last, "reload", "the trailing \\r is not part of the command");
        cr_assert_str_eq(reply, "{\"ok\":true,\"services\":3}\n");
        free(reply);
        reply = exchange(event, path, "bogus\n", 6);
        cr_assert_str_eq(reply, "{\"error\":\"unknown command\"}\n");
        free(reply);
        cr_assert_eq(sv.calls, 3);

        cr_assert_null(status_socket_close(s));
        cr_assert(lstat(path, &st) < 0 && errno == ENOENT, "the socket file is still there after close");
        free(want);
        free(path);
}

Test(status_socket, failing_handler_sends_its_errno)
{
        char *path = tu_path(dir, "status.sock"), *out, *want;
        struct status_socket *s = NULL;
        struct served sv = {.socket = &s, .fail = -ENOENT};

        cr_assert_eq(status_socket_open(event, path, handler, &sv, &s), 0);
        out = exchange(event, path, "status\n", 7);
        cr_assert(asprintf(&want, "{\"error\":\"%s\"}\n", strerror(ENOENT)) > 0);
        cr_assert_str_eq(out, want);
        status_socket_close(s);
        free(want);
        free(out);
        free(path);
}

Test(status_socket, overlong_or_unfinished_request_gets_no_reply)
{
        char *path = tu_path(dir, "status.sock"), *out, big[STATUS_REQUEST_MAX + 10];
        struct status_socket *s = NULL;
        struct served sv = {.socket = &s};

        cr_assert_eq(status_socket_open(event, path, handler, &sv, &s), 0);
        memset(big, 'x', sizeof(big));
        out = exchange(event, path, big, sizeof(big));
        cr_assert_str_eq(out, "");
        free(out);
        cr_assert_eq(sv.calls, 0);
        status_socket_close(s);
        free(path);
}

/* A reload may move the status socket: the handler closes the socket it serves, and its client still gets the reply. */
Test(status_socket, handler_closing_its_socket_still_replies)
{
        char *path = tu_path(dir, "status.sock"), *out;
        struct status_socket *s = NULL;
        struct served sv = {.socket = &s, .close_self = true};
        struct stat st;

        cr_assert_eq(status_socket_open(event, path, handler, &sv, &s), 0);
        out = exchange(event, path, "reload\n", 7);
        cr_assert_null(s);
        cr_assert_str_eq(out, "{\"ok\":true,\"services\":3}\n");
        cr_assert(lstat(path, &st) < 0 && errno == ENOENT);
        free(out);
        free(path);
}

/* The status socket goes through the same binder as listeners: the same stale-file policy. */
Test(status_socket, stale_file_policy)
{
        char *path = tu_path(dir, "status.sock"), *plain = tu_write(dir, "plain", 0600, "x");
        struct status_socket *s = NULL, *second = NULL;
        struct served sv = {.socket = &s};
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        struct stat st, now;
        int fd;

        /* A live one (ours) is not stolen. */
        cr_assert_eq(status_socket_open(event, path, handler, &sv, &s), 0);
        cr_assert_eq(lstat(path, &st), 0);
        cr_assert_eq(status_socket_open(event, path, handler, &sv, &second), -EADDRINUSE);
        cr_assert_null(second);
        cr_assert_eq(lstat(path, &now), 0);
        cr_assert_eq(now.st_ino, st.st_ino);

        /* Closing removes only the file it created: not another socket renamed over it. */
        strcpy(un.sun_path, dir);
        strcat(un.sun_path, "/other.sock");
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        cr_assert_eq(bind(fd, (struct sockaddr *)&un, sizeof(un)), 0);
        close(fd); /* now a stale socket file */
        cr_assert_eq(rename(un.sun_path, path), 0);
        cr_assert_eq(lstat(path, &st), 0);
        s = status_socket_close(s);
        cr_assert_eq(lstat(path, &now), 0, "a socket file superd did not create was removed");
        cr_assert_eq(now.st_ino, st.st_ino);

        /* A dead one is replaced. */
        cr_assert_eq(status_socket_open(event, path, handler, &sv, &s), 0);
        cr_assert_eq(lstat(path, &now), 0);
        cr_assert_neq(now.st_ino, st.st_ino);
        s = status_socket_close(s);

        /* Any other file is never touched. */
        cr_assert_eq(status_socket_open(event, plain, handler, &sv, &s), -EEXIST);
        cr_assert_eq(lstat(plain, &st), 0);
        cr_assert(S_ISREG(st.st_mode) && st.st_size == 1);
        free(plain);
        free(path);
}

/* A worker pool's service: "workers" (one entry per slot of each listener) and "queue" after "pause". */
Test(status, status_reply_with_workers)
{
        static const struct status_worker workers[] = {
            {.index = 0, .pid = 901, .uptime = 3605},
            {.index = 1, .restarts = 4, .backing_off = true},
            {.index = 0, .pid = 902, .uptime = 7, .restarts = 1},
        };
        static const struct status_listener listeners[] = {
            {.listen = "*:8081", .pool = true, .workers = workers, .n_workers = 2, .queue = 3},
            {.listen = "unix:/run/w.sock", .pool = true, .workers = workers + 2, .n_workers = 1, .queue = 1,
             .pause_reasons = {"workers"}},
        };
        static const struct status_service web = {.name = "web", .listeners = listeners, .n_listeners = 2, .running = 2};
        static const struct status_snapshot snap = {.pid = 1, .services = &web, .n_services = 1, .running = 2};
        char *text = CAPTURE(status_write_status(out, &snap));
        json_object *o = parse_reply(text), *svc, *w;

        cr_assert(strstr(text, "\"pause\":[\"workers\"],\"workers\":[{\"listen\":\"*:8081\",\"index\":0,\"pid\":901,"
                               "\"uptime\":3605,\"restarts\":0,\"backing_off\":false},"),
                  "%s", text);
        svc = json_object_array_get_idx(get(o, "services"), 0);
        w = get(svc, "workers");
        cr_assert_eq(json_object_array_length(w), 3);
        cr_assert_eq(json_object_get_int(get(json_object_array_get_idx(w, 1), "restarts")), 4);
        cr_assert(json_object_get_boolean(get(json_object_array_get_idx(w, 1), "backing_off")));
        cr_assert_str_eq(json_object_get_string(get(json_object_array_get_idx(w, 2), "listen")), "unix:/run/w.sock");
        cr_assert_eq(json_object_get_int(get(svc, "queue")), 4);
        json_object_put(o);
        free(text);
}
