/* SPDX-License-Identifier: MIT */
/*
 * Files and ports superd creates as root must not be turned against it by a
 * local user: unix socket files get their mode and owner without a path that
 * can be swapped for a symlink (a racer as nobody replacing the socket during
 * up to a thousand reloads), the status socket and the pidfile likewise, and
 * a UDP listener's port cannot be shared by another user's SO_REUSEADDR
 * socket.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

TestSuite(paths, .init = h_setup, .fini = h_teardown, .timeout = 120);

/* The unprivileged user the attacker runs as. */
#define NOBODY 65534

/* Reloads of the race test, and its bound in time. */
#define RACE_RELOADS 1000
#define RACE_MS      20000

/* Symlinks to "." on the race's socket path; the kernel follows 40 at most in one lookup. */
#define SLOW_LINKS    36
#define SUN_PATH_SIZE sizeof(((struct sockaddr_un *)0)->sun_path)

/* How long a racer runs at most; the test stops it long before. */
#define RACER_MS 30000
/* Iterations of a racer at most (~5 µs each: far more than RACER_MS allows). */
#define RACER_ROUNDS 20000000UL

static void require_root(void)
{
        cr_assert(geteuid() == 0, "this test changes owners and switches to uid %d: run it as root (CI does)", NOBODY);
}

/* Become NOBODY for good (groups, gid, uid); in a forked child only. Exits 90 on failure. */
static void become_nobody(void)
{
        if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0 || getuid() != NOBODY)
                _exit(90);
}

/* H.dir is 0700: let NOBODY through it to its own folder. */
static char *nobody_folder(const char *rel)
{
        char *dir = h_path(rel);

        cr_assert(chmod(H.dir, 0755) == 0, "chmod %s: %s", H.dir, strerror(errno));
        cr_assert(mkdir(dir, 0755) == 0, "mkdir %s: %s", dir, strerror(errno));
        cr_assert(chown(dir, NOBODY, NOBODY) == 0, "chown %s: %s", dir, strerror(errno));
        return dir;
}

static int unix_connect(const char *path)
{
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        cr_assert(fd >= 0, "socket: %s", strerror(errno));
        cr_assert(strlen(path) < sizeof(un.sun_path), "%s is too long for a socket path", path);
        strcpy(un.sun_path, path);
        if (connect(fd, (struct sockaddr *)&un, sizeof(un)) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

/* Send TEXT to the unix stream socket PATH and return everything it answers (malloc'd). */
static char *ask_unix(const char *path, const char *text)
{
        char *out;
        int fd = unix_connect(path);

        h_assert(fd >= 0, "connect %s: %s", path, strerror(-fd));
        h_assert(h_exchange(fd, text, strlen(text), &out, H_IO_MS) >= 0, "no answer on %s", path);
        close(fd);
        return out;
}

/* Reload through the status socket SOCK; returns once superd has answered (the reload is done then). */
static void reload(const char *sock)
{
        char *out = ask_unix(sock, "reload\n");

        h_assert(strstr(out, "\"ok\":true"), "reload through %s answered: %s", sock, out);
        free(out);
}

/* Wait up to H_START_MS until the status socket SOCK accepts a connection. */
static void wait_status_socket(const char *sock)
{
        int64_t deadline = h_now_ms() + H_START_MS;

        for (;;) {
                int fd = unix_connect(sock);

                if (fd >= 0) {
                        close(fd);
                        return;
                }
                h_assert(h_now_ms() < deadline, "nothing accepts on %s: %s", sock, strerror(-fd));
                h_assert(h_wait_exit(0) == -1, "superd exited");
                usleep(5000);
        }
}

/* lstat PATH, failing the test if it is missing. */
static struct stat must_lstat(const char *path)
{
        struct stat st;

        h_assert(lstat(path, &st) == 0, "lstat %s: %s", path, strerror(errno));
        return st;
}

/* ---- the socket-file race ---- */

/*
 * The attacker, as NOBODY, who owns the socket's folder DIR: prepares a
 * symlink LINK to TARGET, renames it over SOCK (the socket file superd has
 * just bound, if the timing is right) and removes it again, so that the next
 * bind(2) can succeed. A chmod(2) or chown(2) of SOCK by root that lands
 * between the rename and the unlink changes TARGET. LINK and SOCK are names
 * in DIR: the racer works there with short relative paths. Runs until
 * killed, at most RACER_MS and RACER_ROUNDS.
 */
static pid_t start_racer(const char *dir, const char *target, const char *sock, const char *link)
{
        pid_t pid = fork();

        cr_assert(pid >= 0, "fork: %s", strerror(errno));
        if (pid > 0)
                return pid;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        become_nobody();
        if (chdir(dir) < 0)
                _exit(93);
        int64_t deadline = h_now_ms() + RACER_MS;
        for (unsigned long i = 0; i < RACER_ROUNDS; i++) {
                if ((i & 1023) == 0 && h_now_ms() > deadline)
                        break;
                if (symlink(target, link) < 0 && errno != EEXIST)
                        _exit(91);
                if (rename(link, sock) == 0)
                        unlink(sock);
        }
        _exit(0);
}

static void stop_racer(pid_t pid)
{
        int status;

        kill(pid, SIGKILL);
        cr_assert(waitpid(pid, &status, 0) == pid, "waitpid racer: %s", strerror(errno));
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the racer ended by itself: %s",
                  h_status_str(status));
}

/*
 * The two race services, with socket files s.sock and o.sock in folder DIR
 * (given as a path through symlinks, see below); BACKLOG changes between
 * reloads so that every reload binds both files anew.
 */
static void race_dropin(const char *dir, int backlog)
{
        const char *info = getenv("CONNECTION_INFO");

        h_dropin("race.conf",
                 "service moded {\n listen = { \"unix:%s/s.sock\" }\n socket-mode = 0666\n backlog = %d\n"
                 " exec = { \"%s\" }\n user = \"%s\"\n}\n"
                 "service owned {\n listen = { \"unix:%s/o.sock\" }\n socket-mode = 0660\n"
                 " socket-user = \"%d\"\n socket-group = \"%d\"\n backlog = %d\n"
                 " exec = { \"%s\" }\n user = \"%s\"\n}\n",
                 dir, backlog, info, H.user, dir, NOBODY, NOBODY, backlog, info, H.user);
}

/* TARGET must still be what the test created: a root-owned 0600 file. */
static void assert_target_untouched(const char *target, int reloads)
{
        struct stat st = must_lstat(target);

        h_assert(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600 && st.st_uid == 0 && st.st_gid == 0,
                 "after %d reloads the root-owned 0600 file %s is mode %04o, owner %u:%u: superd changed it "
                 "through a symlink the racer put in place of its socket",
                 reloads, target, st.st_mode & 07777, st.st_uid, st.st_gid);
}

Test(paths, socket_file_swapped_for_a_symlink_never_changes_the_target)
{
        char *dir, *slow_dir, *sock = h_path("status.sock"), *target = h_path("target"), *extra, *out;
        char *s_sock, *o_sock;
        pid_t racers[2];
        int64_t deadline;
        int reloads = 0;
        struct stat st;

        require_root();
        dir = nobody_folder("run");
        s_sock = h_format("%s/s.sock", dir);
        o_sock = h_format("%s/o.sock", dir);
        /*
         * superd finds the folder through as many symlinks to "." as the
         * socket path has room for (DIR/l/l/.../l/s.sock): every lookup of
         * the path takes it microseconds, which widens the window between
         * bind(2) and a later call on the path, as a deep or slow path does.
         * The racer uses short relative names. Without it the race is still
         * won, only about ten times less often.
         */
        cr_assert(symlink(".", h_format("%s/l", dir)) == 0);
        cr_assert(lchown(h_format("%s/l", dir), NOBODY, NOBODY) == 0);
        slow_dir = dir;
        for (int i = 0; i < SLOW_LINKS && strlen(slow_dir) + strlen("/l/s.sock") < SUN_PATH_SIZE; i++)
                slow_dir = h_format("%s/l", slow_dir);
        h_write_file("target", 0600, "secret\n");
        cr_assert(chown(target, 0, 0) == 0 && chmod(target, 0600) == 0);

        extra = h_format("status-socket = \"%s\"\n", sock);
        h_main_conf(extra);
        race_dropin(slow_dir, 10);
        h_start_ready(NULL);
        wait_status_socket(sock);

        racers[0] = start_racer(dir, target, "s.sock", "s.link");
        racers[1] = start_racer(dir, target, "o.sock", "o.link");
        deadline = h_now_ms() + RACE_MS;
        while (reloads < RACE_RELOADS && h_now_ms() < deadline) {
                race_dropin(slow_dir, 10 + reloads % 2);
                reload(sock);
                reloads++;
                assert_target_untouched(target, reloads);
        }
        stop_racer(racers[0]);
        stop_racer(racers[1]);
        h_assert(reloads >= 100, "only %d reloads in %d ms", reloads, RACE_MS);
        h_assert(h_alive(H.pid), "superd died during the race");

        /* The racer is gone: clear what it left, and superd serves both files again after one more reload. */
        unlink(h_format("%s/s.link", dir));
        unlink(h_format("%s/o.link", dir));
        if (lstat(s_sock, &st) == 0 && !S_ISSOCK(st.st_mode))
                unlink(s_sock);
        if (lstat(o_sock, &st) == 0 && !S_ISSOCK(st.st_mode))
                unlink(o_sock);
        race_dropin(slow_dir, 10 + reloads % 2);
        reload(sock);
        out = ask_unix(s_sock, "");
        h_assert(strstr(out, "ENV SUPERD_SERVICE=moded\n"), "%s after the race:\n%s", s_sock, out);
        free(out);
        out = ask_unix(o_sock, "");
        h_assert(strstr(out, "ENV SUPERD_SERVICE=owned\n"), "%s after the race:\n%s", o_sock, out);
        free(out);
        st = must_lstat(s_sock);
        h_assert(S_ISSOCK(st.st_mode) && (st.st_mode & 07777) == 0666 && st.st_uid == 0,
                 "%s: mode %04o owner %u, want a root-owned 0666 socket", s_sock, st.st_mode & 07777, st.st_uid);
        st = must_lstat(o_sock);
        h_assert(S_ISSOCK(st.st_mode) && (st.st_mode & 07777) == 0660 && st.st_uid == NOBODY && st.st_gid == NOBODY,
                 "%s: mode %04o owner %u:%u, want a 0660 socket of %d:%d", o_sock, st.st_mode & 07777, st.st_uid,
                 st.st_gid, NOBODY, NOBODY);
        assert_target_untouched(target, reloads);
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
        free(extra);
}

/* ---- mode and owner, deterministically ---- */

Test(paths, socket_file_gets_exactly_its_mode_and_owner_whatever_the_umask)
{
        char *plain = h_path("plain.sock"), *owned = h_path("owned.sock"), *out;
        const char *info = getenv("CONNECTION_INFO");
        struct stat st;
        pid_t pid;
        int status;

        require_root();
        cr_assert(chmod(H.dir, 0755) == 0);
        h_main_conf(NULL);
        h_dropin("u.conf",
                 "service plain {\n listen = { \"unix:%s\" }\n socket-mode = 0666\n exec = { \"%s\" }\n"
                 " user = \"%s\"\n}\n"
                 "service owned {\n listen = { \"unix:%s\" }\n socket-mode = 0600\n socket-user = \"%d\"\n"
                 " socket-group = \"%d\"\n exec = { \"%s\" }\n user = \"%s\"\n}\n",
                 plain, info, H.user, owned, NOBODY, NOBODY, info, H.user);
        /* A restrictive umask in superd must not narrow socket-mode, nor a permissive one widen it. */
        umask(0077);
        h_start_ready(NULL);
        umask(0022);

        st = must_lstat(plain);
        h_assert(S_ISSOCK(st.st_mode) && (st.st_mode & 07777) == 0666 && st.st_uid == 0 && st.st_gid == 0,
                 "%s: mode %04o owner %u:%u, want a 0666 socket of root", plain, st.st_mode & 07777, st.st_uid,
                 st.st_gid);
        st = must_lstat(owned);
        h_assert(S_ISSOCK(st.st_mode) && (st.st_mode & 07777) == 0600 && st.st_uid == NOBODY && st.st_gid == NOBODY,
                 "%s: mode %04o owner %u:%u, want a 0600 socket of %d:%d", owned, st.st_mode & 07777, st.st_uid,
                 st.st_gid, NOBODY, NOBODY);

        /* The owner it was given can use it. */
        pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0) {
                struct sockaddr_un un = {.sun_family = AF_UNIX};
                int fd;

                become_nobody();
                strcpy(un.sun_path, owned);
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                _exit(fd >= 0 && connect(fd, (struct sockaddr *)&un, sizeof(un)) == 0 ? 0 : 1);
        }
        cr_assert(waitpid(pid, &status, 0) == pid);
        h_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "uid %d cannot connect to its own socket %s: %s",
                 NOBODY, owned, h_status_str(status));
        out = ask_unix(owned, "");
        h_assert(strstr(out, "ENV SUPERD_SERVICE=owned\n"), "%s:\n%s", owned, out);
        free(out);
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}

Test(paths, status_socket_and_pidfile_are_private_and_never_follow_a_symlink)
{
        char *sock = h_path("status.sock"), *pidfile = h_path("superd.pid"), *target = h_path("target");
        char *extra = h_format("status-socket = \"%s\"\n", sock), buf[32] = "";
        const char *args[] = {"-f", "-c", H.conf, "--pidfile", pidfile, NULL};
        struct stat st;
        FILE *f;

        require_root();
        h_write_file("target", 0600, "secret\n");
        cr_assert(chown(target, 0, 0) == 0 && chmod(target, 0600) == 0);
        /* A symlink where the pidfile goes: it is replaced, its target neither written nor chmod'ed. */
        cr_assert(symlink(target, pidfile) == 0, "symlink: %s", strerror(errno));
        h_main_conf(extra);
        /* umask 0: the status socket must still be 0600, the pidfile 0644. */
        umask(0);
        h_spawn_superd(args, NULL);
        umask(0022);
        h_assert(h_wait_log("superd: ready:", 1, H_START_MS), "superd did not get ready");
        wait_status_socket(sock);

        st = must_lstat(sock);
        h_assert(S_ISSOCK(st.st_mode) && (st.st_mode & 07777) == 0600 && st.st_uid == 0 && st.st_gid == 0,
                 "%s: mode %04o owner %u:%u, want a 0600 socket of root", sock, st.st_mode & 07777, st.st_uid,
                 st.st_gid);
        st = must_lstat(pidfile);
        h_assert(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0644 && st.st_uid == 0 && st.st_nlink == 1,
                 "%s: type/mode %06o owner %u links %lu, want a regular 0644 file of root", pidfile, st.st_mode,
                 st.st_uid, (unsigned long)st.st_nlink);
        f = fopen(pidfile, "re");
        h_assert(f && fgets(buf, sizeof(buf), f), "cannot read %s", pidfile);
        fclose(f);
        h_assert(atoi(buf) == (int)H.pid, "%s holds '%s', superd is %d", pidfile, buf, (int)H.pid);
        st = must_lstat(target);
        h_assert((st.st_mode & 07777) == 0600 && st.st_size == 7, "the symlink's target changed: mode %04o size %lld",
                 st.st_mode & 07777, (long long)st.st_size);
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
        h_assert(lstat(sock, &st) < 0 && errno == ENOENT, "%s is still there after the stop", sock);
        free(extra);
}

Test(paths, status_socket_path_taken_by_a_symlink_is_refused)
{
        char *sock = h_path("status.sock"), *target = h_path("target"), *extra;
        struct stat st;

        h_write_file("target", 0600, "secret\n");
        cr_assert(symlink(target, sock) == 0, "symlink: %s", strerror(errno));
        extra = h_format("status-socket = \"%s\"\n", sock);
        h_main_conf(extra);
        h_start_ready(NULL);
        h_assert(h_wait_log("cannot open the status socket", 1, H_START_MS), "no error for the symlink at %s", sock);
        st = must_lstat(sock);
        h_assert(S_ISLNK(st.st_mode), "the symlink at %s was removed or replaced", sock);
        st = must_lstat(target);
        h_assert(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600, "the symlink's target changed: mode %04o",
                 st.st_mode & 07777);
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
        h_assert(lstat(sock, &st) == 0 && S_ISLNK(st.st_mode), "the stop removed the symlink at %s", sock);
        free(extra);
}

/* ---- UDP port theft ---- */

struct bind_try {
        int family;
        const char *address;
        uint16_t port;
};

/*
 * In a child running as NOBODY, bind a UDP socket with SO_REUSEADDR to each
 * of TRIES; store each bind(2)'s errno (0: it succeeded) in RET_ERRNO.
 */
static void bind_as_nobody(const struct bind_try *tries, size_t n, int *ret_errno)
{
        int p[2], status;
        pid_t pid;

        cr_assert(pipe2(p, O_CLOEXEC) == 0);
        pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0) {
                close(p[0]);
                become_nobody();
                for (size_t i = 0; i < n; i++) {
                        struct sockaddr_storage ss = {0};
                        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
                        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
                        int fd = socket(tries[i].family, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1, e = 0;

                        if (tries[i].family == AF_INET) {
                                s4->sin_family = AF_INET;
                                s4->sin_port = htons(tries[i].port);
                                inet_pton(AF_INET, tries[i].address, &s4->sin_addr);
                        } else {
                                s6->sin6_family = AF_INET6;
                                s6->sin6_port = htons(tries[i].port);
                                inet_pton(AF_INET6, tries[i].address, &s6->sin6_addr);
                        }
                        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
                            bind(fd, (struct sockaddr *)&ss, sizeof(ss)) < 0)
                                e = errno;
                        /* Kept open: each later try must also find the earlier thief's socket in its way. */
                        if (write(p[1], &e, sizeof(e)) != sizeof(e))
                                _exit(92);
                }
                _exit(0);
        }
        close(p[1]);
        for (size_t i = 0; i < n; i++)
                cr_assert(read(p[0], &ret_errno[i], sizeof(int)) == sizeof(int), "the child did not report try %zu", i);
        close(p[0]);
        cr_assert(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "the child failed: %s", h_status_str(status));
}

/* Send TEXT to ADDRESS:PORT over UDP and return whether the same text came back. */
static bool udp_echoes(int family, const char *address, uint16_t port, const char *text)
{
        struct sockaddr_storage ss = {0};
        struct timeval tv = {.tv_sec = H_IO_MS / 1000};
        char buf[64] = "";
        socklen_t len;
        ssize_t n = -1;
        int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        cr_assert(fd >= 0);
        if (family == AF_INET) {
                struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
                s4->sin_family = AF_INET;
                s4->sin_port = htons(port);
                inet_pton(AF_INET, address, &s4->sin_addr);
                len = sizeof(*s4);
        } else {
                struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
                s6->sin6_family = AF_INET6;
                s6->sin6_port = htons(port);
                inet_pton(AF_INET6, address, &s6->sin6_addr);
                len = sizeof(*s6);
        }
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (sendto(fd, text, strlen(text), 0, (struct sockaddr *)&ss, len) >= 0)
                n = recv(fd, buf, sizeof(buf) - 1, 0);
        close(fd);
        return n == (ssize_t)strlen(text) && memcmp(buf, text, (size_t)n) == 0;
}

Test(paths, udp_port_cannot_be_shared_by_another_user)
{
        uint16_t p4 = h_free_port(), p6 = h_free_port();
        const struct bind_try tries[] = {
            {AF_INET, "127.0.0.1", p4}, {AF_INET6, "::", p6},  {AF_INET, "0.0.0.0", p6},
            {AF_INET, "127.0.0.1", p6}, {AF_INET6, "::1", p6},
        };
        int got[sizeof(tries) / sizeof(tries[0])];
        char *wrong = "";

        require_root();
        h_main_conf(NULL);
        h_dropin("udp.conf",
                 "service echo4 {\n listen = { \"127.0.0.1:%u\" }\n socket-type = dgram\n builtin = echo\n}\n"
                 "service echo46 {\n listen = { \"*:%u\" }\n socket-type = dgram\n builtin = echo\n}\n",
                 p4, p6);
        h_start_ready(NULL);
        h_assert(udp_echoes(AF_INET, "127.0.0.1", p4, "four"), "no echo on 127.0.0.1:%u", p4);
        h_assert(udp_echoes(AF_INET6, "::1", p6, "six"), "no echo on [::1]:%u", p6);

        bind_as_nobody(tries, sizeof(tries) / sizeof(tries[0]), got);
        for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++)
                if (got[i] != EADDRINUSE)
                        wrong = h_format("%s\n  %s port %u: %s", wrong, tries[i].address, tries[i].port,
                                         got[i] ? strerror(got[i]) : "bound");
        h_assert(
            !*wrong,
            "uid %d binding superd's UDP ports with SO_REUSEADDR must get EADDRINUSE; instead (such a socket reads "
            "datagrams meant for superd):%s",
            NOBODY, wrong);

        /* superd still gets them. */
        h_assert(udp_echoes(AF_INET, "127.0.0.1", p4, "again"), "no echo on 127.0.0.1:%u after the tries", p4);
        h_assert(udp_echoes(AF_INET, "127.0.0.1", p6, "again"), "no echo on 127.0.0.1:%u after the tries", p6);
        h_assert(h_stop(NULL) == 0, "superd did not stop cleanly");
}
