/* SPDX-License-Identifier: MIT */
/* superctl: ask a running superd, through its status socket, for its state or for a reload. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#ifndef VERSION
#define VERSION "unknown"
#endif

#define DEFAULT_SOCKET "/run/superd/status.sock"
#define TIMEOUT_MS     10000              /* whole exchange: connect, request, reply until EOF */
#define REPLY_MAX      (64 * 1024 * 1024) /* a reply larger than this is not from superd */

/* Exit statuses (superctl(1)). */
enum {
        EXIT_OK = 0,
        EXIT_FAILED = 1, /* superd refused (reload errors, error reply), or the exchange broke */
        EXIT_USAGE = 2,
        EXIT_CONNECT = 3, /* the socket cannot be reached */
};

static void usage(FILE *out)
{
        fprintf(out,
                "usage: superctl [-s SOCKET] status|reload|upgrade\n"
                "  -s, --socket SOCKET  superd's status socket (default $SUPERD_STATUS_SOCKET, else %s)\n"
                "  -V, --version        print the version\n"
                "  -h, --help           this text\n"
                "commands:\n"
                "  status               services, listeners, handlers and counters\n"
                "  reload               reload the configuration; print its errors if it is refused\n"
                "  upgrade              re-execute superd in place, keeping listeners and handlers\n",
                DEFAULT_SOCKET);
}

static int64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until FD is ready for EVENTS or DEADLINE (ms) passes. Returns 0, or -ETIMEDOUT, -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
        for (;;) {
                struct pollfd pfd = {.fd = fd, .events = events};
                int64_t left = deadline - now_ms();
                int n;

                if (left <= 0)
                        return -ETIMEDOUT;
                n = poll(&pfd, 1, (int)left);
                if (n > 0)
                        return 0;
                if (n < 0 && errno != EINTR)
                        return -errno;
        }
}

/*
 * Connect to PATH. Returns a socket or -errno. A full backlog makes
 * connect(2) wait; SO_SNDTIMEO bounds that wait.
 */
static int connect_to(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        struct timeval tv = {.tv_sec = TIMEOUT_MS / 1000};
        int fd, r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        do
                r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
        while (r < 0 && errno == EINTR);
        if (r < 0) {
                r = errno == EAGAIN || errno == EINPROGRESS ? -ETIMEDOUT : -errno;
                close(fd);
                return r;
        }
        return fd;
}

/* Send COMMAND and read the reply until EOF, all before DEADLINE. Returns the reply (malloc'd) or NULL with errno. */
static char *exchange(int fd, const char *command, int64_t deadline)
{
        size_t len = 0, cap = 16384;
        char line[64], *buf;
        int n = snprintf(line, sizeof(line), "%s\n", command);
        int r;

        for (int sent = 0; sent < n;) {
                ssize_t w;
                r = wait_fd(fd, POLLOUT, deadline);
                if (r < 0)
                        return errno = -r, NULL;
                w = send(fd, line + sent, (size_t)(n - sent), MSG_DONTWAIT | MSG_NOSIGNAL);
                if (w < 0 && errno != EAGAIN && errno != EINTR)
                        return NULL;
                if (w > 0)
                        sent += (int)w;
        }
        buf = malloc(cap);
        if (!buf)
                return NULL;
        for (;;) {
                ssize_t got;

                if (cap - len < 4096) {
                        char *bigger = cap >= REPLY_MAX ? NULL : realloc(buf, cap * 2);
                        if (!bigger) {
                                free(buf);
                                return errno = EMSGSIZE, NULL;
                        }
                        buf = bigger;
                        cap *= 2;
                }
                r = wait_fd(fd, POLLIN, deadline);
                if (r < 0) {
                        free(buf);
                        return errno = -r, NULL;
                }
                got = recv(fd, buf + len, cap - len - 1, MSG_DONTWAIT);
                if (got == 0)
                        break;
                if (got < 0 && errno != EAGAIN && errno != EINTR) {
                        int e = errno;
                        free(buf);
                        return errno = e, NULL;
                }
                if (got > 0)
                        len += (size_t)got;
        }
        buf[len] = '\0';
        return buf;
}

/* ---- replies ---- */

static int64_t get_int(json_object *o, const char *key)
{
        json_object *v;

        return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

static const char *get_string(json_object *o, const char *key, const char *fallback)
{
        json_object *v;

        return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
                   ? json_object_get_string(v)
                   : fallback;
}

/* A number as a malloc'd string, NULL when out of memory. */
static char *int_cell(int64_t v)
{
        char *s;

        return asprintf(&s, "%" PRId64, v) < 0 ? NULL : s;
}

enum { COL_NAME, COL_LISTENERS, COL_RUNNING, COL_ACCEPTED, COL_FAILED, COL_REFUSED, COL_PAUSED, N_COLS };

static const char *const col_title[N_COLS] = {"NAME",   "LISTENERS", "RUNNING", "ACCEPTED",
                                              "FAILED", "REFUSED",   "PAUSED"};

/* printf width of column c: numbers right-aligned, text left-aligned. */
static int col_width(int c, size_t width)
{
        return c >= COL_RUNNING && c <= COL_REFUSED ? (int)width : -(int)width;
}

/* The cells of one service's row, malloc'd. */
static void status_row(json_object *svc, char *cell[N_COLS])
{
        json_object *listeners, *refused, *paused;
        size_t len = 0;
        FILE *f;

        cell[COL_NAME] = strdup(get_string(svc, "name", "?"));
        f = open_memstream(&cell[COL_LISTENERS], &len);
        if (f) {
                if (json_object_object_get_ex(svc, "listeners", &listeners) &&
                    json_object_is_type(listeners, json_type_array) && json_object_array_length(listeners) > 0) {
                        for (size_t i = 0; i < json_object_array_length(listeners); i++)
                                fprintf(f, "%s%s", i ? "," : "",
                                        json_object_get_string(json_object_array_get_idx(listeners, i)));
                } else {
                        fputs("-", f);
                }
                fclose(f);
        }
        cell[COL_RUNNING] = int_cell(get_int(svc, "running"));
        cell[COL_ACCEPTED] = int_cell(get_int(svc, "accepted"));
        cell[COL_FAILED] = int_cell(get_int(svc, "failed"));
        /* One number: refused by allow/deny, by max-per-source and by max-rate together. */
        cell[COL_REFUSED] =
            int_cell(json_object_object_get_ex(svc, "refused", &refused)
                         ? get_int(refused, "acl") + get_int(refused, "per_source") + get_int(refused, "rate") +
                               get_int(refused, "proxy")
                         : 0);
        cell[COL_PAUSED] =
            strdup(json_object_object_get_ex(svc, "paused", &paused) && json_object_get_boolean(paused) ? "yes" : "no");
        for (int i = 0; i < N_COLS; i++)
                if (!cell[i])
                        cell[i] = strdup("?");
}

/* One line per listener of svc that superd could not open (it retries them). */
static void print_not_listening(json_object *svc)
{
        json_object *failing;

        if (!json_object_object_get_ex(svc, "not_listening", &failing) || !json_object_is_type(failing, json_type_array))
                return;
        for (size_t i = 0; i < json_object_array_length(failing); i++) {
                json_object *f = json_object_array_get_idx(failing, i);
                printf("%s: not listening on %s: %s (retrying)\n", get_string(svc, "name", "?"),
                       get_string(f, "listen", "?"), get_string(f, "error", "?"));
        }
}

/* A worker pool's slots (workers = N): its queue, then one line per worker. */
static void print_workers(json_object *svc)
{
        json_object *workers;

        if (!json_object_object_get_ex(svc, "workers", &workers) || !json_object_is_type(workers, json_type_array))
                return;
        printf("%s: %zu worker slot(s), queue %" PRId64 "\n", get_string(svc, "name", "?"),
               json_object_array_length(workers), get_int(svc, "queue"));
        for (size_t i = 0; i < json_object_array_length(workers); i++) {
                json_object *w = json_object_array_get_idx(workers, i), *b;
                bool backing_off = json_object_object_get_ex(w, "backing_off", &b) && json_object_get_boolean(b);
                int64_t pid = get_int(w, "pid");
                printf("  %s worker %" PRId64 ": ", get_string(w, "listen", "?"), get_int(w, "index"));
                if (pid)
                        printf("pid %" PRId64 ", up %" PRId64 " s", pid, get_int(w, "uptime"));
                else
                        printf("%s", backing_off ? "backing off" : "not running");
                printf(", %" PRId64 " restart(s)\n", get_int(w, "restarts"));
        }
}

/* Print the status reply as a table. Returns an exit status. */
static int print_status(json_object *reply)
{
        json_object *services;
        size_t n, width[N_COLS];
        char *(*rows)[N_COLS];

        if (!json_object_object_get_ex(reply, "services", &services) ||
            !json_object_is_type(services, json_type_array)) {
                fprintf(stderr, "superctl: the status reply has no service list\n");
                return EXIT_FAILED;
        }
        n = json_object_array_length(services);
        rows = calloc(n ? n : 1, sizeof(*rows));
        if (!rows) {
                fprintf(stderr, "superctl: out of memory\n");
                return EXIT_FAILED;
        }
        for (int c = 0; c < N_COLS; c++)
                width[c] = strlen(col_title[c]);
        for (size_t i = 0; i < n; i++) {
                status_row(json_object_array_get_idx(services, i), rows[i]);
                for (int c = 0; c < N_COLS; c++)
                        if (rows[i][c] && strlen(rows[i][c]) > width[c])
                                width[c] = strlen(rows[i][c]);
        }
        for (int c = 0; c < N_COLS; c++)
                printf(c + 1 < N_COLS ? "%*s  " : "%*s\n", col_width(c, width[c]), col_title[c]);
        for (size_t i = 0; i < n; i++)
                for (int c = 0; c < N_COLS; c++) {
                        const char *cell = rows[i][c] ? rows[i][c] : "?";
                        if (c + 1 < N_COLS)
                                printf("%*s  ", col_width(c, width[c]), cell);
                        else
                                printf("%s\n", cell);
                        free(rows[i][c]);
                }
        free(rows);
        for (size_t i = 0; i < n; i++)
                print_not_listening(json_object_array_get_idx(services, i));
        for (size_t i = 0; i < n; i++)
                print_workers(json_object_array_get_idx(services, i));
        printf("\n%zu service(s), %" PRId64 " handler(s) running, max-children %" PRId64 ", superd pid %" PRId64 "\n",
               n, get_int(reply, "running"), get_int(reply, "max_children"), get_int(reply, "pid"));
        return EXIT_OK;
}

/* Print the outcome of a reload. Returns an exit status. */
static int print_reload(json_object *reply)
{
        json_object *ok, *errors;

        if (!json_object_object_get_ex(reply, "ok", &ok)) {
                fprintf(stderr, "superctl: the reload reply says neither ok nor failed\n");
                return EXIT_FAILED;
        }
        if (json_object_get_boolean(ok)) {
                printf("reloaded: %" PRId64 " services\n", get_int(reply, "services"));
                return EXIT_OK;
        }
        if (json_object_object_get_ex(reply, "errors", &errors) && json_object_is_type(errors, json_type_array))
                for (size_t i = 0; i < json_object_array_length(errors); i++)
                        fprintf(stderr, "%s\n", json_object_get_string(json_object_array_get_idx(errors, i)));
        fprintf(stderr, "superctl: reload failed; the running services are unchanged\n");
        return EXIT_FAILED;
}

/* Print the outcome of an upgrade (the new image answers). Returns an exit status. */
static int print_upgrade(json_object *reply)
{
        json_object *ok, *errors;

        if (!json_object_object_get_ex(reply, "ok", &ok)) {
                fprintf(stderr, "superctl: the upgrade reply says neither ok nor failed\n");
                return EXIT_FAILED;
        }
        if (json_object_get_boolean(ok)) {
                printf("upgraded: %s, %" PRId64 " services, %" PRId64 " handlers adopted%s\n",
                       get_string(reply, "upgraded", "superd"), get_int(reply, "services"), get_int(reply, "handlers"),
                       json_object_object_get_ex(reply, "config", NULL)
                               ? " (the configuration was refused: the previous services kept)"
                               : "");
                return EXIT_OK;
        }
        if (json_object_object_get_ex(reply, "errors", &errors) && json_object_is_type(errors, json_type_array))
                for (size_t i = 0; i < json_object_array_length(errors); i++)
                        fprintf(stderr, "%s\n", json_object_get_string(json_object_array_get_idx(errors, i)));
        fprintf(stderr, "superctl: upgrade failed; the running superd is unchanged\n");
        return EXIT_FAILED;
}

int main(int argc, char **argv)
{
        static const struct option longopts[] = {
            {"socket", required_argument, NULL, 's'},
            {"version", no_argument, NULL, 'V'},
            {"help", no_argument, NULL, 'h'},
            {0},
        };
        const char *path = getenv("SUPERD_STATUS_SOCKET"), *command;
        enum json_tokener_error jerr;
        json_object *reply;
        char *text;
        int fd, c, status;

        if (!path || !*path)
                path = DEFAULT_SOCKET;
        while ((c = getopt_long(argc, argv, "s:Vh", longopts, NULL)) != -1)
                switch (c) {
                case 's':
                        path = optarg;
                        break;
                case 'V':
                        printf("superctl %s\n", VERSION);
                        return EXIT_OK;
                case 'h':
                        usage(stdout);
                        return EXIT_OK;
                default:
                        usage(stderr);
                        return EXIT_USAGE;
                }
        if (optind + 1 != argc) {
                fprintf(stderr, optind == argc ? "superctl: missing command\n" : "superctl: too many arguments\n");
                usage(stderr);
                return EXIT_USAGE;
        }
        command = argv[optind];
        if (strcmp(command, "status") != 0 && strcmp(command, "reload") != 0 && strcmp(command, "upgrade") != 0) {
                fprintf(stderr, "superctl: unknown command '%s'\n", command);
                usage(stderr);
                return EXIT_USAGE;
        }

        fd = connect_to(path);
        if (fd < 0) {
                fprintf(stderr, "superctl: cannot connect to %s: %s\n", path, strerror(-fd));
                return EXIT_CONNECT;
        }
        text = exchange(fd, command, now_ms() + TIMEOUT_MS);
        if (!text) {
                fprintf(stderr, "superctl: no reply from %s: %s\n", path,
                        errno == ETIMEDOUT ? "timed out after 10 s" : strerror(errno));
                close(fd);
                return EXIT_FAILED;
        }
        close(fd);

        reply = json_tokener_parse_verbose(text, &jerr);
        if (!reply || !json_object_is_type(reply, json_type_object)) {
                fprintf(stderr, "superctl: unreadable reply from %s: %s\n", path,
                        *text ? (reply ? "not a JSON object" : json_tokener_error_desc(jerr)) : "empty (server busy?)");
                json_object_put(reply);
                free(text);
                return EXIT_FAILED;
        }
        if (json_object_object_get_ex(reply, "error", NULL)) {
                fprintf(stderr, "superctl: superd: %s\n", get_string(reply, "error", "error"));
                status = EXIT_FAILED;
        } else if (strcmp(command, "status") == 0) {
                status = print_status(reply);
        } else if (strcmp(command, "upgrade") == 0) {
                status = print_upgrade(reply);
        } else {
                status = print_reload(reply);
        }
        json_object_put(reply);
        free(text);
        if (fflush(stdout) != 0 && status == EXIT_OK) {
                fprintf(stderr, "superctl: write error: %s\n", strerror(errno));
                status = EXIT_FAILED;
        }
        return status;
}
