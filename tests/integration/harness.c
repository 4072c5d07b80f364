/* SPDX-License-Identifier: MIT */
/* Integration test harness: run the real superd on loopback with a temporary config and real clients. */
#include "harness.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct harness H;

/* Ports handed out in this test, so that two calls never return the same one. */
static uint16_t used_ports[64];
static size_t n_used_ports;

int64_t h_now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleep for MS milliseconds; the polling step of every bounded wait. */
static void nap(int ms)
{
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

void h_setup(void)
{
        struct passwd *pw;

        memset(&H, 0, sizeof(H));
        n_used_ports = 0;
        snprintf(H.dir, sizeof(H.dir), "/tmp/superd-it.XXXXXX");
        cr_assert(mkdtemp(H.dir) != NULL, "mkdtemp: %s", strerror(errno));
        snprintf(H.conf, sizeof(H.conf), "%s/superd.conf", H.dir);
        snprintf(H.services, sizeof(H.services), "%s/services.d", H.dir);
        snprintf(H.log, sizeof(H.log), "%s/superd.log", H.dir);
        cr_assert(mkdir(H.services, 0755) == 0, "mkdir %s: %s", H.services, strerror(errno));
        pw = getpwuid(geteuid());
        cr_assert(pw != NULL, "no passwd entry for euid %d", (int)geteuid());
        snprintf(H.user, sizeof(H.user), "%s", pw->pw_name);
}

/* Append every descendant of PID to LIST (up to MAX), children before grandchildren. */
static int descendants(pid_t pid, pid_t *list, int n, int max)
{
        struct h_proc kids[256];
        int k = h_children(pid, kids, 256);

        if (k > 256)
                k = 256;
        for (int i = 0; i < k && n < max; i++) {
                list[n++] = kids[i].pid;
                n = descendants(kids[i].pid, list, n, max);
        }
        return n;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        remove(path);
        return 0;
}

void h_teardown(void)
{
        if (H.pid > 0) {
                pid_t list[1024];
                int n = descendants(H.pid, list, 0, 1024);

                /* superd first, so that it cannot spawn more while the rest die. */
                kill(H.pid, SIGKILL);
                for (int i = 0; i < n; i++)
                        kill(list[i], SIGKILL);
                waitpid(H.pid, NULL, 0);
                H.pid = 0;
        }
        if (H.dir[0] != '\0' && strncmp(H.dir, "/tmp/superd-it.", 15) == 0)
                nftw(H.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        H.dir[0] = '\0';
}

const char *h_superd(void)
{
        const char *s = getenv("SUPERD");

        cr_assert(s != NULL && *s != '\0', "SUPERD is not set: run through `meson test`");
        cr_assert(access(s, X_OK) == 0, "SUPERD=%s: %s", s, strerror(errno));
        return s;
}

char *h_helper(const char *name)
{
        const char *dir = getenv("HELPERS_DIR");
        char *p;

        cr_assert(dir != NULL && *dir != '\0', "HELPERS_DIR is not set: run through `meson test`");
        cr_assert(asprintf(&p, "%s/%s", dir, name) > 0);
        cr_assert(access(p, X_OK) == 0, "helper %s: %s", p, strerror(errno));
        return p;
}

char *h_path(const char *rel)
{
        char *p;

        cr_assert(asprintf(&p, "%s/%s", H.dir, rel) > 0);
        return p;
}

/* Write PATH with MODE from a format and its arguments. */
static void write_file_v(const char *path, mode_t mode, const char *fmt, va_list ap)
{
        char *text;
        int len = vasprintf(&text, fmt, ap);
        FILE *f;

        cr_assert(len >= 0, "vasprintf");
        unlink(path);
        f = fopen(path, "we");
        cr_assert(f != NULL, "fopen %s: %s", path, strerror(errno));
        cr_assert(fwrite(text, 1, (size_t)len, f) == (size_t)len, "write %s", path);
        cr_assert(fclose(f) == 0, "close %s: %s", path, strerror(errno));
        cr_assert(chmod(path, mode) == 0, "chmod %s: %s", path, strerror(errno));
        free(text);
}

void h_write_file(const char *rel, mode_t mode, const char *fmt, ...)
{
        char *path = h_path(rel);
        va_list ap;

        va_start(ap, fmt);
        write_file_v(path, mode, fmt, ap);
        va_end(ap);
        free(path);
}

void h_main_conf(const char *extra)
{
        h_write_file("superd.conf", 0644,
                     "# superd.conf written by the integration test harness\n"
                     "services-dir = \"services.d\"\n"
                     "log-level = info\n"
                     "%s",
                     extra ? extra : "");
}

void h_dropin(const char *name, const char *fmt, ...)
{
        char *path;
        va_list ap;

        cr_assert(asprintf(&path, "%s/%s", H.services, name) > 0);
        va_start(ap, fmt);
        write_file_v(path, 0644, fmt, ap);
        va_end(ap);
        free(path);
}

/* Bind a fresh TCP socket of FAMILY to loopback PORT (0: any). Returns the fd or -errno. */
static int bind_loopback(int family, uint16_t port)
{
        struct sockaddr_storage ss = { 0 };
        socklen_t len;
        int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -errno;
        if (family == AF_INET) {
                struct sockaddr_in *a = (struct sockaddr_in *)&ss;

                a->sin_family = AF_INET;
                a->sin_port = htons(port);
                a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                len = sizeof(*a);
        } else {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

                a->sin6_family = AF_INET6;
                a->sin6_port = htons(port);
                a->sin6_addr = in6addr_loopback;
                len = sizeof(*a);
        }
        if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
                int r = -errno;

                close(fd);
                return r;
        }
        return fd;
}

uint16_t h_free_port(void)
{
        for (int attempt = 0; attempt < 100; attempt++) {
                struct sockaddr_in6 a;
                socklen_t len = sizeof(a);
                int fd6 = bind_loopback(AF_INET6, 0), fd4;
                uint16_t port;
                bool used = false;

                cr_assert(fd6 >= 0, "bind [::1]:0: %s", strerror(-fd6));
                cr_assert(getsockname(fd6, (struct sockaddr *)&a, &len) == 0, "getsockname: %s", strerror(errno));
                port = ntohs(a.sin6_port);
                fd4 = bind_loopback(AF_INET, port);
                close(fd6);
                if (fd4 < 0)
                        continue;
                close(fd4);
                for (size_t i = 0; i < n_used_ports; i++)
                        used = used || used_ports[i] == port;
                if (used || h_listening(AF_INET, port) || h_listening(AF_INET6, port))
                        continue;
                if (n_used_ports < sizeof(used_ports) / sizeof(used_ports[0]))
                        used_ports[n_used_ports++] = port;
                return port;
        }
        cr_assert_fail("no free loopback port found");
        return 0;
}

bool h_listening(int family, uint16_t port)
{
        const char *path = family == AF_INET ? "/proc/net/tcp" : "/proc/net/tcp6";
        FILE *f = fopen(path, "re");
        char line[512];
        bool found = false;

        if (!f)
                return false;
        /* "  sl  local_address rem_address   st ..." then one socket per line:
         * "   0: 0100007F:1F90 00000000:0000 0A ..."; state 0A is LISTEN. */
        while (!found && fgets(line, sizeof(line), f)) {
                char local[64];
                unsigned lport, state;

                if (sscanf(line, " %*u: %63[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", local, &lport, &state) != 3)
                        continue;
                found = lport == port && state == 0x0A;
        }
        fclose(f);
        return found;
}

pid_t h_spawn_superd(const char *const *args, const char *const *extra_env)
{
        const char *argv[32];
        size_t argc = 0;

        argv[argc++] = h_superd();
        for (size_t i = 0; args && args[i]; i++) {
                cr_assert(argc < 31, "too many arguments");
                argv[argc++] = args[i];
        }
        argv[argc] = NULL;
        return h_spawn_as_superd(argv, extra_env);
}

pid_t h_spawn_as_superd(const char *const *argv, const char *const *extra_env)
{
        char **envp;
        size_t n_env = 0, n_extra = 0;
        pid_t parent = getpid(), pid;
        int logfd, nullfd;

        cr_assert(H.pid == 0, "superd already runs as %d", (int)H.pid);

        /* Build everything before fork: the child only dup2s and execs. */
        while (environ[n_env])
                n_env++;
        while (extra_env && extra_env[n_extra])
                n_extra++;
        envp = calloc(n_env + n_extra + 2, sizeof(*envp));
        cr_assert(envp != NULL);
        /*
         * Sanitizer builds: the test processes run without leak checks (the
         * harness and criterion keep memory until exit), superd with them.
         * The first ASAN_OPTIONS in the environment is the one that counts.
         */
        if (getenv("SUPERD_ASAN_OPTIONS")) {
                cr_assert(asprintf(&envp[0], "ASAN_OPTIONS=%s", getenv("SUPERD_ASAN_OPTIONS")) > 0);
                envp++;
        }
        for (size_t i = 0; i < n_env; i++)
                envp[i] = environ[i];
        for (size_t i = 0; i < n_extra; i++)
                envp[n_env + i] = (char *)extra_env[i];
        if (getenv("SUPERD_ASAN_OPTIONS"))
                envp--;

        logfd = open(H.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        cr_assert(logfd >= 0, "open %s: %s", H.log, strerror(errno));
        nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
        cr_assert(nullfd >= 0, "open /dev/null: %s", strerror(errno));

        pid = fork();
        cr_assert(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0) {
                sigset_t mask;

                /* Never outlive the test process, even when criterion kills it on a timeout. */
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(127);
                /* State a careless daemon would hand down to its handlers. */
                signal(SIGPIPE, SIG_IGN);
                sigemptyset(&mask);
                sigaddset(&mask, SIGUSR2);
                sigprocmask(SIG_SETMASK, &mask, NULL);
                if (dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
                        _exit(127);
                close_range(3, ~0U, 0);
                if (H.leak_fd > 2 && dup2(0, H.leak_fd) < 0)
                        _exit(127);
                execve(argv[0], (char *const *)argv, envp);
                _exit(127);
        }
        close(logfd);
        close(nullfd);
        free(envp);
        H.pid = pid;
        return pid;
}

/* Non-blocking check whether superd exited; reaps it and returns its status, or -1. */
static int poll_exit(void)
{
        int status;
        pid_t r;

        if (H.pid <= 0)
                return -1;
        r = waitpid(H.pid, &status, WNOHANG);
        if (r == H.pid) {
                H.pid = 0;
                return status;
        }
        return -1;
}

pid_t h_start(const char *const *extra_env, ...)
{
        const char *args[] = { "-f", "-c", H.conf, NULL };
        struct {
                int family;
                int port;
        } want[16];
        size_t n = 0;
        int64_t deadline;
        va_list ap;
        pid_t pid;

        va_start(ap, extra_env);
        for (;;) {
                int family = va_arg(ap, int);

                if (family == 0)
                        break;
                cr_assert(n < 16, "too many listeners");
                want[n].family = family;
                want[n].port = va_arg(ap, int);
                n++;
        }
        va_end(ap);

        pid = h_spawn_superd(args, extra_env);
        deadline = h_now_ms() + H_START_MS;
        for (;;) {
                size_t ok = 0;
                int status = poll_exit();

                h_assert(status == -1, "superd exited during start: %s", h_status_str(status));
                for (size_t i = 0; i < n; i++)
                        ok += h_listening(want[i].family, (uint16_t)want[i].port);
                if (ok == n)
                        return pid;
                if (h_now_ms() > deadline) {
                        char missing[256] = "";
                        size_t len = 0;

                        for (size_t i = 0; i < n; i++)
                                if (!h_listening(want[i].family, (uint16_t)want[i].port) && len < sizeof(missing))
                                        len += (size_t)snprintf(missing + len, sizeof(missing) - len, " %s:%d",
                                                                want[i].family == AF_INET ? "127.0.0.1" : "[::1]",
                                                                want[i].port);
                        h_assert(false, "superd did not listen within %d ms on:%s", H_START_MS, missing);
                }
                nap(5);
        }
}

static int count_lines_with(const char *text, const char *needle)
{
        int n = 0;

        for (const char *line = text; *line;) {
                const char *end = strchr(line, '\n');
                size_t len = end ? (size_t)(end - line) : strlen(line);
                if (memmem(line, len, needle, strlen(needle)))
                        n++;
                line += len + (end != NULL);
        }
        return n;
}

bool h_wait_log(const char *needle, int count, int timeout_ms)
{
        int64_t deadline = h_now_ms() + timeout_ms;

        for (;;) {
                char *log = h_log();
                int n = count_lines_with(log, needle);
                free(log);
                if (n >= count)
                        return true;
                if (h_now_ms() > deadline)
                        return false;
                nap(5);
        }
}

pid_t h_start_ready(const char *const *extra_env)
{
        const char *args[] = { "-f", "-c", H.conf, NULL };
        char *log = h_log();
        int before = count_lines_with(log, "superd: ready:");
        int64_t deadline = h_now_ms() + H_START_MS;
        pid_t pid;

        free(log);
        pid = h_spawn_superd(args, extra_env);
        for (;;) {
                int status = poll_exit();
                h_assert(status == -1, "superd exited during start: %s", h_status_str(status));
                if (h_wait_log("superd: ready:", before + 1, 0))
                        return pid;
                h_assert(h_now_ms() < deadline, "superd did not get ready within %d ms", H_START_MS);
                nap(5);
        }
}

int h_wait_exit(int timeout_ms)
{
        int64_t deadline = h_now_ms() + timeout_ms;

        for (;;) {
                int status = poll_exit();

                if (status != -1)
                        return status;
                if (H.pid <= 0 || h_now_ms() > deadline)
                        return -1;
                nap(2);
        }
}

int h_stop(double *ret_seconds)
{
        int64_t start = h_now_ms();
        int status;

        cr_assert(H.pid > 0, "superd is not running");
        cr_assert(kill(H.pid, SIGTERM) == 0, "kill %d: %s", (int)H.pid, strerror(errno));
        status = h_wait_exit(H_STOP_MS);
        if (ret_seconds)
                *ret_seconds = (double)(h_now_ms() - start) / 1000.0;
        return status;
}

const char *h_status_str(int status)
{
        static char buf[64];

        if (status == -1)
                snprintf(buf, sizeof(buf), "still running");
        else if (WIFEXITED(status))
                snprintf(buf, sizeof(buf), "exit status %d", WEXITSTATUS(status));
        else if (WIFSIGNALED(status))
                snprintf(buf, sizeof(buf), "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
        else
                snprintf(buf, sizeof(buf), "wait status 0x%x", status);
        return buf;
}

/* Read all of FD into a malloc'd NUL-terminated string. */
static char *slurp_fd(int fd)
{
        size_t len = 0, cap = 4096;
        char *buf = malloc(cap);

        cr_assert(buf != NULL);
        for (;;) {
                ssize_t n;

                if (cap - len < 4096) {
                        cap *= 2;
                        buf = realloc(buf, cap);
                        cr_assert(buf != NULL);
                }
                n = read(fd, buf + len, cap - len - 1);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t)n;
        }
        buf[len] = '\0';
        return buf;
}

char *h_log(void)
{
        int fd = open(H.log, O_RDONLY | O_CLOEXEC);
        char *s;

        if (fd < 0)
                return strdup("");
        s = slurp_fd(fd);
        close(fd);
        return s;
}

int h_log_count(const char *needle)
{
        char *log = h_log();
        int n = 0;

        for (const char *p = log; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        free(log);
        return n;
}

char *h_log_tail(int lines)
{
        char *log = h_log(), *tail;
        size_t len = strlen(log);
        const char *p = log + len;
        int n = 0;

        if (p > log && p[-1] == '\n')
                p--;
        while (p > log && n < lines)
                if (*--p == '\n')
                        n++;
        if (*p == '\n')
                p++;
        tail = h_format("%s%s", p, len > 0 && log[len - 1] != '\n' ? "\n" : "");
        free(log);
        return tail;
}

char *h_format(const char *fmt, ...)
{
        char *s;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                s = strdup("(out of memory)");
        return s;
}

int h_connect(int family, uint16_t port)
{
        struct sockaddr_storage ss = { 0 };
        struct pollfd pfd;
        socklen_t len;
        int fd, err = 0, flags;

        fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (family == AF_INET) {
                struct sockaddr_in *a = (struct sockaddr_in *)&ss;

                a->sin_family = AF_INET;
                a->sin_port = htons(port);
                a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                len = sizeof(*a);
        } else {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

                a->sin6_family = AF_INET6;
                a->sin6_port = htons(port);
                a->sin6_addr = in6addr_loopback;
                len = sizeof(*a);
        }
        if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
                socklen_t elen = sizeof(err);

                if (errno != EINPROGRESS) {
                        err = errno;
                        goto fail;
                }
                pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
                if (poll(&pfd, 1, H_IO_MS) <= 0) {
                        err = ETIMEDOUT;
                        goto fail;
                }
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
                        err = errno;
                if (err)
                        goto fail;
        }
        flags = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
        return fd;
fail:
        close(fd);
        return -err;
}

/* The engine of h_exchange() and h_read_all(): SHUT says whether to half-close after sending. */
static ssize_t exchange(int fd, const void *buf, size_t len, bool shut, char **ret_out, int timeout_ms)
{
        int64_t deadline = h_now_ms() + timeout_ms;
        size_t sent = 0, got = 0, cap = 65536;
        char *out = malloc(cap);
        bool eof = false, shut_done = !shut;
        ssize_t r = 0;

        cr_assert(out != NULL);
        if (shut && len == 0) {
                shutdown(fd, SHUT_WR);
                shut_done = true;
        }
        while (!eof) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                int64_t left = deadline - h_now_ms();
                int n;

                if (sent < len)
                        pfd.events |= POLLOUT;
                if (left <= 0) {
                        r = -ETIMEDOUT;
                        break;
                }
                n = poll(&pfd, 1, (int)left);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        break;
                }
                if (n == 0)
                        continue;
                if (sent < len && (pfd.revents & (POLLOUT | POLLERR | POLLHUP))) {
                        ssize_t w = send(fd, (const char *)buf + sent, len - sent, MSG_DONTWAIT | MSG_NOSIGNAL);

                        if (w < 0 && errno != EAGAIN && errno != EINTR) {
                                r = -errno;
                                break;
                        }
                        if (w > 0)
                                sent += (size_t)w;
                        if (sent == len && !shut_done) {
                                shutdown(fd, SHUT_WR);
                                shut_done = true;
                        }
                }
                if (pfd.revents & (POLLIN | POLLERR | POLLHUP)) {
                        ssize_t rd;

                        if (cap - got < 65536) {
                                cap *= 2;
                                out = realloc(out, cap);
                                cr_assert(out != NULL);
                        }
                        rd = recv(fd, out + got, cap - got - 1, MSG_DONTWAIT);
                        if (rd < 0 && errno != EAGAIN && errno != EINTR) {
                                r = -errno;
                                break;
                        }
                        if (rd == 0)
                                eof = true;
                        if (rd > 0)
                                got += (size_t)rd;
                }
        }
        out[got] = '\0';
        *ret_out = out;
        return r < 0 ? r : (ssize_t)got;
}

ssize_t h_exchange(int fd, const void *buf, size_t len, char **ret_out, int timeout_ms)
{
        return exchange(fd, buf, len, true, ret_out, timeout_ms);
}

ssize_t h_read_all(int fd, char **ret_out, int timeout_ms)
{
        return exchange(fd, NULL, 0, false, ret_out, timeout_ms);
}

int h_write_all(int fd, const void *buf, size_t len, int timeout_ms)
{
        int64_t deadline = h_now_ms() + timeout_ms;
        size_t sent = 0;

        while (sent < len) {
                struct pollfd pfd = { .fd = fd, .events = POLLOUT };
                int64_t left = deadline - h_now_ms();
                ssize_t w;

                if (left <= 0)
                        return -ETIMEDOUT;
                if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
                        return -errno;
                w = send(fd, (const char *)buf + sent, len - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (w < 0 && errno != EAGAIN && errno != EINTR)
                        return -errno;
                if (w > 0)
                        sent += (size_t)w;
        }
        return 0;
}

ssize_t h_request(int family, uint16_t port, const char *text, char **ret_out)
{
        int fd = h_connect(family, port);
        ssize_t r;

        if (fd < 0) {
                *ret_out = strdup("");
                return fd;
        }
        r = h_exchange(fd, text, strlen(text), ret_out, H_IO_MS);
        close(fd);
        return r;
}

int h_run(const char *const *argv, const char *const *envp, const char *cwd, char **ret_out, char **ret_err,
          int timeout_ms)
{
        int out[2], err[2], nullfd, status;
        int64_t deadline = h_now_ms() + timeout_ms;
        size_t cap[2] = { 4096, 4096 }, len[2] = { 0, 0 };
        char *buf[2];
        bool open_[2] = { true, true };
        pid_t pid;

        cr_assert(pipe2(out, O_CLOEXEC) == 0 && pipe2(err, O_CLOEXEC) == 0, "pipe2: %s", strerror(errno));
        nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        cr_assert(nullfd >= 0);
        pid = fork();
        cr_assert(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (dup2(nullfd, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0)
                        _exit(127);
                if (cwd && chdir(cwd) < 0)
                        _exit(127);
                execve(argv[0], (char *const *)argv, envp ? (char *const *)envp : environ);
                _exit(127);
        }
        close(nullfd);
        close(out[1]);
        close(err[1]);
        buf[0] = malloc(cap[0]);
        buf[1] = malloc(cap[1]);
        cr_assert(buf[0] && buf[1]);
        while (open_[0] || open_[1]) {
                struct pollfd pfd[2] = { { .fd = open_[0] ? out[0] : -1, .events = POLLIN },
                                         { .fd = open_[1] ? err[0] : -1, .events = POLLIN } };
                int64_t left = deadline - h_now_ms();

                if (left <= 0)
                        break;
                if (poll(pfd, 2, (int)left) < 0 && errno != EINTR)
                        break;
                for (int i = 0; i < 2; i++) {
                        ssize_t n;

                        if (!open_[i] || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        if (cap[i] - len[i] < 1024) {
                                cap[i] *= 2;
                                buf[i] = realloc(buf[i], cap[i]);
                                cr_assert(buf[i] != NULL);
                        }
                        n = read(i == 0 ? out[0] : err[0], buf[i] + len[i], cap[i] - len[i] - 1);
                        if (n > 0)
                                len[i] += (size_t)n;
                        else if (n == 0 || errno != EINTR)
                                open_[i] = false;
                }
        }
        close(out[0]);
        close(err[0]);
        buf[0][len[0]] = '\0';
        buf[1][len[1]] = '\0';
        for (;;) {
                pid_t r = waitpid(pid, &status, WNOHANG);

                if (r == pid)
                        break;
                if (h_now_ms() > deadline) {
                        kill(pid, SIGKILL);
                        waitpid(pid, NULL, 0);
                        status = -1;
                        break;
                }
                nap(2);
        }
        if (ret_out)
                *ret_out = buf[0];
        else
                free(buf[0]);
        if (ret_err)
                *ret_err = buf[1];
        else
                free(buf[1]);
        return status;
}

/* Parse /proc/PID/stat into P. Returns false if PID is gone. */
static bool read_stat(pid_t pid, struct h_proc *p)
{
        char path[64], line[1024], *open_paren, *close_paren;
        FILE *f;
        bool ok;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return false;
        ok = fgets(line, sizeof(line), f) != NULL;
        fclose(f);
        if (!ok)
                return false;
        /* "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses, so use the last ')'. */
        open_paren = strchr(line, '(');
        close_paren = strrchr(line, ')');
        if (!open_paren || !close_paren || close_paren < open_paren)
                return false;
        *close_paren = '\0';
        snprintf(p->comm, sizeof(p->comm), "%s", open_paren + 1);
        p->pid = pid;
        return sscanf(close_paren + 1, " %c %d", &p->state, &p->ppid) == 2;
}

int h_children(pid_t ppid, struct h_proc *ret, int max)
{
        DIR *d = opendir("/proc");
        struct dirent *de;
        int n = 0;

        cr_assert(d != NULL, "opendir /proc: %s", strerror(errno));
        while ((de = readdir(d))) {
                struct h_proc p;

                if (!isdigit((unsigned char)de->d_name[0]))
                        continue;
                if (!read_stat((pid_t)atoi(de->d_name), &p) || p.ppid != ppid)
                        continue;
                if (n < max)
                        ret[n] = p;
                n++;
        }
        closedir(d);
        return n;
}

int h_zombies(pid_t ppid)
{
        struct h_proc kids[1024];
        int n = h_children(ppid, kids, 1024), z = 0;

        for (int i = 0; i < n && i < 1024; i++)
                z += kids[i].state == 'Z';
        return z;
}

int h_wait_no_zombies(pid_t ppid, int timeout_ms)
{
        int64_t deadline = h_now_ms() + timeout_ms;
        int z;

        while ((z = h_zombies(ppid)) > 0 && h_now_ms() < deadline)
                nap(10);
        return z;
}

int h_wait_no_children(pid_t ppid, int timeout_ms)
{
        int64_t deadline = h_now_ms() + timeout_ms;
        struct h_proc kid;
        int n;

        while ((n = h_children(ppid, &kid, 1)) > 0 && h_now_ms() < deadline)
                nap(10);
        return n;
}

int h_wait_children(pid_t ppid, int n, int timeout_ms)
{
        int64_t deadline = h_now_ms() + timeout_ms;

        for (;;) {
                struct h_proc kids[1024];
                int k = h_children(ppid, kids, 1024), live = 0;

                for (int i = 0; i < k && i < 1024; i++)
                        live += kids[i].state != 'Z';
                if (live >= n || h_now_ms() > deadline)
                        return live;
                nap(5);
        }
}

pid_t h_wait_child(pid_t ppid, const char *comm, int timeout_ms)
{
        int64_t deadline = h_now_ms() + timeout_ms;

        for (;;) {
                struct h_proc kids[64];
                int k = h_children(ppid, kids, 64);

                for (int i = 0; i < k && i < 64; i++)
                        if (kids[i].state != 'Z' && (!comm || strcmp(kids[i].comm, comm) == 0))
                                return kids[i].pid;
                if (h_now_ms() > deadline)
                        return 0;
                nap(5);
        }
}

bool h_alive(pid_t pid)
{
        struct h_proc p;

        return read_stat(pid, &p) && p.state != 'Z' && p.state != 'X';
}

int h_fd_count(pid_t pid)
{
        char path[64];
        DIR *d;
        struct dirent *de;
        int n = 0;

        snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
        d = opendir(path);
        if (!d)
                return -errno;
        while ((de = readdir(d)))
                n += de->d_name[0] != '.';
        closedir(d);
        return n;
}

bool h_proc_status(pid_t pid, const char *key, char *buf, size_t size)
{
        char path[64], line[512];
        size_t klen = strlen(key);
        bool found = false;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return false;
        while (!found && fgets(line, sizeof(line), f)) {
                char *v, *end;

                if (strncmp(line, key, klen) != 0 || line[klen] != ':')
                        continue;
                v = line + klen + 1;
                while (*v == ' ' || *v == '\t')
                        v++;
                end = v + strlen(v);
                while (end > v && isspace((unsigned char)end[-1]))
                        *--end = '\0';
                snprintf(buf, size, "%s", v);
                found = true;
        }
        fclose(f);
        return found;
}

/* Socket inode of the LISTEN entry for PORT in /proc/net/tcp (FAMILY AF_INET) or tcp6, 0 if none. */
unsigned long h_listen_inode(int family, uint16_t port)
{
        FILE *f = fopen(family == AF_INET ? "/proc/net/tcp" : "/proc/net/tcp6", "re");
        char line[512];
        unsigned long inode = 0;

        h_assert(f != NULL, "cannot open /proc/net/tcp: %s", strerror(errno));
        /* "sl local rem st tx:rx tr:when retrnsmt uid timeout inode ..." */
        while (inode == 0 && fgets(line, sizeof(line), f)) {
                unsigned lport, state;
                unsigned long ino;

                if (sscanf(line, " %*u: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x %*x:%*x %*x:%*x %*x %*u %*d %lu",
                           &lport, &state, &ino) != 3)
                        continue;
                if (lport == port && state == 0x0A)
                        inode = ino;
        }
        fclose(f);
        return inode;
}

/* True if one of PID's fds is the socket with INODE. */
bool h_holds_socket(pid_t pid, unsigned long inode)
{
        char dir[64], want[64];
        struct dirent *de;
        bool found = false;
        DIR *d;

        snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
        snprintf(want, sizeof(want), "socket:[%lu]", inode);
        d = opendir(dir);
        h_assert(d != NULL, "opendir %s: %s", dir, strerror(errno));
        while (!found && (de = readdir(d))) {
                char path[320], target[128];
                ssize_t n;

                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                n = readlink(path, target, sizeof(target) - 1);
                if (n <= 0)
                        continue;
                target[n] = '\0';
                found = strcmp(target, want) == 0;
        }
        closedir(d);
        return found;
}
