/* SPDX-License-Identifier: MIT */
/* Unit tests of upgrade-blob.c: the state one image hands the next, round trip and refusal of bad blobs. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "addr.h"
#include "upgrade-blob.h"

static struct listen_addr addr(const char *text)
{
        struct listen_addr a;
        const char *why = NULL;

        cr_assert_eq(addr_parse(text, &a, &why), 0, "addr_parse(%s): %s", text, why ? why : "?");
        return a;
}

/* A state with two listeners, two handlers (one holding listener 1 in wait mode) and two services. */
static void sample(struct upgrade_state *s)
{
        *s = (struct upgrade_state){.reply_fd = 9, .requested_usec = 123456789};
        s->from = strdup("superd 1.2.3");
        s->config_main = strdup("log-level = info\n");
        s->config_services = strdup("service a {\n    exec = { \"/bin/cat\" }\n}\n");
        s->config_retired = strdup("service gone {\n}\n");
        s->n_listeners = 2;
        s->listeners = calloc(2, sizeof(*s->listeners));
        s->listeners[0] = (struct upgrade_listener){.fd = 7,
                                                    .service = strdup("a"),
                                                    .addr = addr("127.0.0.1:7"),
                                                    .socket_type = SOCK_STREAM,
                                                    .options = {.backlog = 128,
                                                                .keepalive = true,
                                                                .socket_mode = 0666,
                                                                .socket_uid = (uid_t)-1,
                                                                .socket_gid = (gid_t)-1}};
        s->listeners[1] = (struct upgrade_listener){.fd = 8,
                                                    .service = strdup("b"),
                                                    .addr = addr("unix:/run/x.sock"),
                                                    .socket_type = SOCK_DGRAM,
                                                    .builtin = true,
                                                    .adopted = true,
                                                    .file = {.dev = 42, .ino = 4242},
                                                    .options = {.socket_mode = 0600}};
        s->n_handlers = 2;
        s->handlers = calloc(2, sizeof(*s->handlers));
        s->handlers[0] = (struct upgrade_handler){.pid = 100,
                                                  .service = strdup("a"),
                                                  .start_usec = 5,
                                                  .deadline_usec = 7000000,
                                                  .term_sent = true,
                                                  .counted_source = true,
                                                  .wait_listener = -1,
                                                  .worker_slot = -1};
        s->handlers[0].remote.sin6_family = AF_INET6;
        s->handlers[0].remote.sin6_port = htons(4242);
        s->handlers[0].remote.sin6_addr.s6_addr[15] = 1;
        s->handlers[1] =
                (struct upgrade_handler){.pid = 101, .service = strdup("b"), .wait_listener = 1, .worker_slot = 3};
        s->n_services = 2;
        s->services = calloc(2, sizeof(*s->services));
        s->services[0] = (struct upgrade_service){.name = strdup("a"),
                                                  .accepted = 10,
                                                  .failed = 1,
                                                  .refused_acl = 2,
                                                  .refused_per_source = 3,
                                                  .refused_rate = 4,
                                                  .refused_proxy = 5,
                                                  .rate = {99, 3},
                                                  .rate_pause_end_usec = 77};
        s->services[1] = (struct upgrade_service){.name = strdup("b"), .accepted = UINT64_MAX};
}

static char *format(const struct upgrade_state *s, size_t *len)
{
        char *text;

        cr_assert_eq(upgrade_format(s, &text, len), 0);
        return text;
}

Test(upgrade_blob, round_trip_keeps_every_field)
{
        struct upgrade_state s, r;
        size_t len;
        char *text;

        sample(&s);
        text = format(&s, &len);
        cr_assert_eq(upgrade_parse(text, len, &r), 0, "%s", text);
        cr_assert_str_eq(r.from, "superd 1.2.3");
        cr_assert_eq(r.requested_usec, 123456789);
        cr_assert_eq(r.reply_fd, 9);
        cr_assert_str_eq(r.config_main, s.config_main);
        cr_assert_str_eq(r.config_services, s.config_services);
        cr_assert_str_eq(r.config_retired, s.config_retired);
        cr_assert_eq(r.n_listeners, 2);
        for (size_t i = 0; i < 2; i++) {
                cr_assert_eq(r.listeners[i].fd, s.listeners[i].fd);
                cr_assert_str_eq(r.listeners[i].service, s.listeners[i].service);
                cr_assert(addr_equal(&r.listeners[i].addr, &s.listeners[i].addr));
                cr_assert_eq(r.listeners[i].socket_type, s.listeners[i].socket_type);
                cr_assert(socket_options_equal(&r.listeners[i].options, &s.listeners[i].options), "options of %zu", i);
                cr_assert_eq(r.listeners[i].builtin, s.listeners[i].builtin);
                cr_assert_eq(r.listeners[i].adopted, s.listeners[i].adopted);
                cr_assert_eq(r.listeners[i].file.dev, s.listeners[i].file.dev);
                cr_assert_eq(r.listeners[i].file.ino, s.listeners[i].file.ino);
        }
        cr_assert_null(r.listeners[0].path, "an IP address has no path");
        cr_assert_str_eq(r.listeners[1].path, "/run/x.sock", "a unix path is kept as its text, owned");
        cr_assert_eq(r.listeners[1].addr.un.path, r.listeners[1].path);
        cr_assert_eq(r.n_handlers, 2);
        for (size_t i = 0; i < 2; i++) {
                cr_assert_eq(r.handlers[i].pid, s.handlers[i].pid);
                cr_assert_str_eq(r.handlers[i].service, s.handlers[i].service);
                cr_assert_eq(memcmp(&r.handlers[i].remote, &s.handlers[i].remote, sizeof(s.handlers[i].remote)), 0);
                cr_assert_eq(r.handlers[i].start_usec, s.handlers[i].start_usec);
                cr_assert_eq(r.handlers[i].deadline_usec, s.handlers[i].deadline_usec);
                cr_assert_eq(r.handlers[i].term_sent, s.handlers[i].term_sent);
                cr_assert_eq(r.handlers[i].counted_source, s.handlers[i].counted_source);
                cr_assert_eq(r.handlers[i].wait_listener, s.handlers[i].wait_listener);
                cr_assert_eq(r.handlers[i].worker_slot, s.handlers[i].worker_slot);
        }
        cr_assert_eq(r.n_services, 2);
        cr_assert_eq(memcmp(&r.services[0].accepted, &s.services[0].accepted, 6 * sizeof(uint64_t)), 0);
        cr_assert_eq(r.services[0].rate.window_start_usec, 99);
        cr_assert_eq(r.services[0].rate.count, 3);
        cr_assert_eq(r.services[0].rate_pause_end_usec, 77);
        cr_assert_eq(r.services[1].accepted, UINT64_MAX);
        free(text);
        upgrade_state_free(&s);
        upgrade_state_free(&r);
}

Test(upgrade_blob, every_truncation_is_refused)
{
        struct upgrade_state s, r;
        size_t len;
        char *text;

        sample(&s);
        text = format(&s, &len);
        for (size_t cut = 0; cut < len; cut++) {
                cr_assert_eq(upgrade_parse(text, cut, &r), -EBADMSG, "truncated to %zu bytes", cut);
                cr_assert_null(r.listeners);
        }
        free(text);
        upgrade_state_free(&s);
}

/* Parse SAMPLE's text with the first FROM replaced by TO: expect -EBADMSG. */
static void refused_with(const char *from, const char *to)
{
        struct upgrade_state s, r;
        size_t len;
        char *text, *p, *edited;

        sample(&s);
        text = format(&s, &len);
        p = strstr(text, from);
        cr_assert_not_null(p, "\"%s\" not in %s", from, text);
        cr_assert(asprintf(&edited, "%.*s%s%s", (int)(p - text), text, to, p + strlen(from)) > 0);
        cr_assert_eq(upgrade_parse(edited, strlen(edited), &r), -EBADMSG, "accepted: %s", edited);
        free(edited);
        free(text);
        upgrade_state_free(&s);
}

Test(upgrade_blob, corrupt_fields_are_refused)
{
        refused_with("\"superd-upgrade\"", "\"superd-upgrad\""); /* magic */
        refused_with("\"version\":1", "\"version\":2");          /* another version */
        refused_with("\"fd\":7", "\"fd\":2");                    /* not an fd superd passes */
        refused_with("\"fd\":7", "\"fd\":8");                    /* one fd twice */
        refused_with("\"fd\":7", "\"fd\":9");                    /* the reply fd as a listener too */
        refused_with("\"fd\":7", "\"fd\":\"7\"");                /* a string */
        refused_with("\"fd\":7", "\"fd\":99999999999");          /* out of range */
        refused_with("\"pid\":100", "\"pid\":0");
        refused_with("\"pid\":100", "\"pid\":-5");
        refused_with("\"wait_listener\":1", "\"wait_listener\":2"); /* no such listener */
        refused_with("\"worker_slot\":3", "\"worker_slot\":1024"); /* beyond WORKERS_MAX */
        refused_with("\"wait_listener\":1,\"worker_slot\":3", "\"wait_listener\":-1,\"worker_slot\":3"); /* no socket */
        refused_with("\"type\":1", "\"type\":7");
        refused_with("\"addr\":\"02", "\"addr\":\"2a");        /* unknown family */
        refused_with("\"addr\":\"02", "\"addr\":\"0");         /* odd hex */
        refused_with("\"addr\":\"02", "\"addr\":\"zz");        /* not hex */
        /* unix:/run/x.sock: only what addr_parse() yields is taken (addr_from_sockaddr()). */
        refused_with("01002f72756e2f782e736f636b00\",\"dual_stack\":false",
                     "01002f72756e2f782e736f636b00\",\"dual_stack\":true"); /* dual-stack */
        refused_with("01002f72756e2f782e736f636b00", "01002f72756e2f782e736f636b"); /* no NUL */
        refused_with("01002f72756e2f782e736f636b00", "01002f72756e002f782e736f636b00"); /* a NUL inside */
        refused_with("01002f72756e2f782e736f636b00", "010072756e2f782e736f636b00"); /* relative */
        refused_with("01002f72756e2f782e736f636b00", "0100007275006e"); /* a NUL in an abstract name */
        refused_with("01002f72756e2f782e736f636b00", "0100");           /* unnamed */
        refused_with("\"service\":\"a\"", "\"service\":\"\""); /* empty name */
        refused_with("\"accepted\":10", "\"accepted\":-10");
        refused_with("\"listeners\":[", "\"listeners\":[1,");      /* not an object */
        refused_with("\"handlers\":[", "\"handlers\":{},\"x\":["); /* not an array */
        refused_with("{", "[");                                    /* not an object at all */
        refused_with("\"reply_fd\":9", "\"reply_fd\":1");
        refused_with(",666\"", ",7777777\"");                    /* socket mode */
        refused_with("\"options\":\"128,", "\"options\":\"128x,");   /* not numbers */
        refused_with("\"options\":\"128,", "\"options\":\"-1,");     /* backlog out of range */
        refused_with(",666\"", ",666,1\"");                       /* one too many */
}

Test(upgrade_blob, trailing_bytes_and_garbage_are_refused)
{
        struct upgrade_state s, r;
        size_t len;
        char *text, *longer;

        sample(&s);
        text = format(&s, &len);
        cr_assert(asprintf(&longer, "%s{}", text) > 0);
        cr_assert_eq(upgrade_parse(longer, strlen(longer), &r), -EBADMSG);
        cr_assert_eq(upgrade_parse("\0\0\0\0", 4, &r), -EBADMSG);
        cr_assert_eq(upgrade_parse("{}", 2, &r), -EBADMSG);
        free(longer);
        free(text);
        upgrade_state_free(&s);
}

Test(upgrade_blob, memfd_is_sealed_and_reads_back)
{
        struct upgrade_state s, r;
        int fd, seals;

        sample(&s);
        fd = upgrade_write_memfd(&s);
        cr_assert_geq(fd, 0, "upgrade_write_memfd: %s", strerror(-fd));
        seals = fcntl(fd, F_GET_SEALS);
        cr_assert_eq(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL),
                     F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
        cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC, "the memfd is born CLOEXEC");
        cr_assert_lt(write(fd, "x", 1), 0, "a sealed memfd took a write");
        cr_assert_eq(upgrade_read_fd(fd, &r), 0);
        cr_assert_eq(r.n_handlers, 2);
        cr_assert_eq(r.listeners[1].fd, 8);
        close(fd);
        upgrade_state_free(&r);
        upgrade_state_free(&s);
}

Test(upgrade_blob, unsealed_file_is_refused)
{
        struct upgrade_state s, r;
        size_t len;
        char *text;
        int fd = memfd_create("t", MFD_CLOEXEC);

        sample(&s);
        text = format(&s, &len);
        cr_assert_eq(write(fd, text, len), (ssize_t)len);
        cr_assert_eq(upgrade_read_fd(fd, &r), -EBADMSG, "a blob anyone could still change was read");
        close(fd);
        free(text);
        upgrade_state_free(&s);
}

/*
 * A blob as superd images before and after listen addresses shrank in
 * memory write it (a unix path, an abstract name, a dual-stack wildcard):
 * the previous image reads what this one writes and the other way round
 * only while the socket addresses travel as the same bytes.
 */
static const char previous_blob[] =
        "{\"magic\":\"superd-upgrade\",\"version\":1,\"from\":\"superd 0.9\",\"requested_usec\":1,\"reply_fd\":-1,"
        "\"config_main_len\":0,\"config_services_len\":0,\"config_retired_len\":0,\"listeners\":["
        "{\"fd\":3,\"service\":\"p\",\"addr\":\"01002f72756e2f7375706572642f782e736f636b00\",\"dual_stack\":false,"
        "\"type\":1,\"options\":\"0,0,0,0,-1,-1,666\",\"builtin\":false,\"adopted\":false,\"file_dev\":1,"
        "\"file_ino\":2},"
        "{\"fd\":4,\"service\":\"a\",\"addr\":\"0100007375706572642f616273\",\"dual_stack\":false,\"type\":5,"
        "\"options\":\"0,0,0,0,-1,-1,666\",\"builtin\":false,\"adopted\":false,\"file_dev\":0,\"file_ino\":0},"
        "{\"fd\":5,\"service\":\"w\",\"addr\":\"0a000007000000000000000000000000000000000000000000000000\","
        "\"dual_stack\":true,\"type\":2,\"options\":\"0,0,0,0,-1,-1,0\",\"builtin\":true,\"adopted\":false,"
        "\"file_dev\":0,\"file_ino\":0}],\"handlers\":[],\"services\":[],\"connections\":[]}";

static const char *const previous_addrs[] = {"unix:/run/superd/x.sock", "unix:@superd/abs", "*:7"};

Test(upgrade_blob, previous_image_blob_reads_and_is_written_the_same)
{
        static const int types[] = {SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM};
        const struct socket_options unix_options = {
            .socket_mode = 0666, .socket_uid = (uid_t)-1, .socket_gid = (gid_t)-1};
        struct upgrade_state r, s = {.reply_fd = -1, .requested_usec = 1};
        size_t len;
        char *text;

        cr_assert_eq(upgrade_parse(previous_blob, strlen(previous_blob), &r), 0);
        cr_assert_eq(r.n_listeners, 3);
        for (size_t i = 0; i < 3; i++) {
                struct listen_addr want = addr(previous_addrs[i]);
                cr_assert(addr_equal(&r.listeners[i].addr, &want), "listener %zu is not %s", i, previous_addrs[i]);
                cr_assert_eq(r.listeners[i].socket_type, types[i]);
                cr_assert_eq(r.listeners[i].fd, (int)i + 3);
        }
        cr_assert(r.listeners[2].addr.dual_stack);
        cr_assert_eq(r.listeners[0].file.ino, 2);

        s.from = strdup("superd 0.9");
        s.config_main = strdup("");
        s.config_services = strdup("");
        s.config_retired = strdup("");
        s.n_listeners = 3;
        s.listeners = calloc(3, sizeof(*s.listeners));
        for (size_t i = 0; i < 3; i++)
                s.listeners[i] = (struct upgrade_listener){.fd = (int)i + 3,
                                                           .service = strdup(i == 0 ? "p" : i == 1 ? "a" : "w"),
                                                           .addr = addr(previous_addrs[i]),
                                                           .socket_type = types[i],
                                                           .options = unix_options};
        s.listeners[0].file = (struct socket_file){.dev = 1, .ino = 2};
        s.listeners[2].builtin = true;
        s.listeners[2].options.socket_mode = 0;
        text = format(&s, &len);
        cr_assert_str_eq(text, previous_blob, "the blob is not written as the previous image wrote it");
        free(text);
        upgrade_state_free(&s);
        upgrade_state_free(&r);
}
