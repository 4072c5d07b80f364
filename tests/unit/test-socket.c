/* SPDX-License-Identifier: MIT */
/* Unit tests of socket.c's socket-file binder: the stale-file policy, mode and owner, and removal of exactly our file.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "activation.h"
#include "addr.h"
#include "socket.h"
#include "util.h"

static char *dir;

/* The texts unix_listen_addr() parsed: its addresses point into them until the test ends. */
static char *texts[8];
static size_t n_texts;

static void setup(void)
{
        dir = tu_tmpdir();
}

static void teardown(void)
{
        tu_rmtree(dir);
        free(dir);
        while (n_texts)
                free(texts[--n_texts]);
}

TestSuite(socket, .init = setup, .fini = teardown, .timeout = 30);

static const struct socket_options defaults = {.socket_mode = 0666};

static struct sockaddr_un sun_of(const char *path, socklen_t *ret_len)
{
        struct sockaddr_un un = {.sun_family = AF_UNIX};

        cr_assert_lt(strlen(path), sizeof(un.sun_path), "test path too long: %s", path);
        strcpy(un.sun_path, path);
        *ret_len = (socklen_t)sizeof(un);
        return un;
}

/* A socket of the test itself bound at PATH; listening (a live server) unless DGRAM, or closed (stale) if !live. */
static int own_socket(const char *path, int type, bool live)
{
        socklen_t len;
        struct sockaddr_un un = sun_of(path, &len);
        int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

        cr_assert_geq(fd, 0);
        cr_assert_eq(bind(fd, (struct sockaddr *)&un, len), 0, "bind %s: %s", path, strerror(errno));
        if (type != SOCK_DGRAM)
                cr_assert_eq(listen(fd, 8), 0);
        if (!live) {
                close(fd);
                return -1;
        }
        return fd;
}

/* connect(2) to PATH with TYPE: 0 or -errno. */
static int try_connect(const char *path, int type)
{
        socklen_t len;
        struct sockaddr_un un = sun_of(path, &len);
        int fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), r;

        cr_assert_geq(fd, 0);
        r = connect(fd, (struct sockaddr *)&un, len) == 0 ? 0 : -errno;
        close(fd);
        return r;
}

static struct stat must_lstat(const char *path)
{
        struct stat st;

        cr_assert_eq(lstat(path, &st), 0, "lstat %s: %s", path, strerror(errno));
        return st;
}

/* The address of "unix:PATH"; it borrows its text, kept until the test's teardown. */
static struct listen_addr unix_listen_addr(const char *path)
{
        struct listen_addr a;
        const char *error = NULL;
        char *text;

        cr_assert_lt(n_texts, sizeof(texts) / sizeof(texts[0]));
        cr_assert_gt(asprintf(&text, "unix:%s", path), 0);
        texts[n_texts++] = text;
        cr_assert_eq(addr_parse(text, &a, &error), 0, "addr_parse %s: %s", text, error ? error : "");
        return a;
}

Test(socket, new_file_is_recorded_and_serves)
{
        char *path = tu_path(dir, "new.sock");
        struct socket_file f = {.dev = 1, .ino = 1};
        struct listen_addr a = unix_listen_addr(path);
        int fd = socket_listen(&a, SOCK_STREAM, &defaults, &f);
        struct stat st;

        cr_assert_geq(fd, 0, "socket_listen: %s", strerror(-fd));
        st = must_lstat(path);
        cr_assert(S_ISSOCK(st.st_mode));
        cr_assert_eq(f.dev, st.st_dev);
        cr_assert_eq(f.ino, st.st_ino);
        cr_assert_eq(try_connect(path, SOCK_STREAM), 0);
        cr_assert_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
        cr_assert_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
        close(fd);
        free(path);
}

Test(socket, live_stream_socket_is_not_stolen)
{
        char *path = tu_path(dir, "live.sock");
        int theirs = own_socket(path, SOCK_STREAM, true);
        struct stat before = must_lstat(path), after;
        struct listen_addr a = unix_listen_addr(path);
        struct socket_file f = {.dev = 1, .ino = 1};

        cr_assert_eq(socket_listen(&a, SOCK_STREAM, &defaults, &f), -EADDRINUSE);
        cr_assert_eq(f.ino, 0, "a failure records no file");
        cr_assert_eq(socket_listen_unix(path, SOCK_STREAM, &defaults, NULL), -EADDRINUSE);
        after = must_lstat(path);
        cr_assert_eq(after.st_ino, before.st_ino, "the live socket file was replaced");
        cr_assert_eq(try_connect(path, SOCK_STREAM), 0, "the live socket no longer answers");
        close(theirs);
        free(path);
}

Test(socket, live_dgram_socket_is_not_stolen)
{
        char *path = tu_path(dir, "live.dgram");
        int theirs = own_socket(path, SOCK_DGRAM, true);
        struct stat before = must_lstat(path);

        cr_assert_eq(socket_listen_unix(path, SOCK_DGRAM, &defaults, NULL), -EADDRINUSE);
        cr_assert_eq(must_lstat(path).st_ino, before.st_ino);
        close(theirs);
        free(path);
}

Test(socket, live_socket_of_another_type_is_not_stolen)
{
        char *path = tu_path(dir, "other.sock");
        int theirs = own_socket(path, SOCK_STREAM, true);
        struct stat before = must_lstat(path);

        /* A dgram probe of a stream server gets EPROTOTYPE: someone is there. */
        cr_assert_eq(socket_listen_unix(path, SOCK_DGRAM, &defaults, NULL), -EADDRINUSE);
        cr_assert_eq(socket_listen_unix(path, SOCK_SEQPACKET, &defaults, NULL), -EADDRINUSE);
        cr_assert_eq(must_lstat(path).st_ino, before.st_ino);
        close(theirs);
        free(path);
}

Test(socket, stale_socket_file_is_replaced)
{
        static const int types[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};

        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
                char name[32], *path, *keep;
                struct socket_file f;
                struct stat before, after;
                int fd;

                snprintf(name, sizeof(name), "stale%zu.sock", i);
                path = tu_path(dir, name);
                own_socket(path, types[i], false);
                before = must_lstat(path);
                /* A second name keeps the stale inode alive, so that its number cannot be reused for the new file. */
                snprintf(name, sizeof(name), "keep%zu", i);
                keep = tu_path(dir, name);
                cr_assert_eq(link(path, keep), 0);
                fd = socket_listen_unix(path, types[i], &defaults, &f);
                cr_assert_geq(fd, 0, "type %d: %s", types[i], strerror(-fd));
                after = must_lstat(path);
                cr_assert(S_ISSOCK(after.st_mode));
                cr_assert_neq(after.st_ino, before.st_ino, "type %d: the stale file is still there", types[i]);
                cr_assert_eq(must_lstat(keep).st_ino, before.st_ino);
                cr_assert_eq(f.ino, after.st_ino);
                cr_assert_eq(try_connect(path, types[i]), 0);
                close(fd);
                free(keep);
                free(path);
        }
}

Test(socket, other_files_are_never_touched)
{
        char *file = tu_write(dir, "plain", 0600, "keep me\n"), *link = tu_path(dir, "link"),
             *dangling = tu_path(dir, "dangling"), *stale = tu_path(dir, "stale.sock"), *sub = tu_mkdir(dir, "sub");
        struct stat st;
        char buf[16] = {0};
        FILE *in;

        own_socket(stale, SOCK_STREAM, false);
        cr_assert_eq(symlink(stale, link), 0); /* even a symlink to a stale socket is not followed */
        cr_assert_eq(symlink("/nonexistent/x", dangling), 0);

        cr_assert_eq(socket_listen_unix(file, SOCK_STREAM, &defaults, NULL), -EEXIST);
        cr_assert_eq(socket_listen_unix(link, SOCK_STREAM, &defaults, NULL), -EEXIST);
        cr_assert_eq(socket_listen_unix(dangling, SOCK_STREAM, &defaults, NULL), -EEXIST);
        cr_assert_eq(socket_listen_unix(sub, SOCK_STREAM, &defaults, NULL), -EEXIST);

        st = must_lstat(file);
        cr_assert(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600);
        in = fopen(file, "re");
        cr_assert(in && fgets(buf, sizeof(buf), in));
        fclose(in);
        cr_assert_str_eq(buf, "keep me\n");
        cr_assert(S_ISLNK(must_lstat(link).st_mode));
        cr_assert(S_ISLNK(must_lstat(dangling).st_mode));
        cr_assert(S_ISSOCK(must_lstat(stale).st_mode));
        cr_assert(S_ISDIR(must_lstat(sub).st_mode));
        free(file);
        free(link);
        free(dangling);
        free(stale);
        free(sub);
}

Test(socket, failed_open_removes_nothing)
{
        char *missing = tu_path(dir, "no/such/folder.sock"), *slash = tu_path(dir, "x/");
        struct socket_file f = {.dev = 1, .ino = 1};
        char longpath[200];

        cr_assert_eq(socket_listen_unix(missing, SOCK_STREAM, &defaults, &f), -ENOENT);
        cr_assert_eq(f.ino, 0);
        cr_assert_eq(socket_listen_unix(slash, SOCK_STREAM, &defaults, NULL), -EISDIR);
        memset(longpath, 'a', sizeof(longpath) - 1);
        longpath[sizeof(longpath) - 1] = '\0';
        cr_assert_eq(socket_listen_unix(longpath, SOCK_STREAM, &defaults, NULL), -ENAMETOOLONG);
        cr_assert_eq(socket_listen_unix("", SOCK_STREAM, &defaults, NULL), -EINVAL);
        free(missing);
        free(slash);
}

Test(socket, mode_comes_from_the_options_whatever_the_umask)
{
        static const mode_t modes[] = {0600, 0660, 0666, 0640};

        umask(0077);
        for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
                char name[32], *path;
                struct socket_options o = defaults;
                int fd;

                snprintf(name, sizeof(name), "m%zu.sock", i);
                path = tu_path(dir, name);
                o.socket_mode = modes[i];
                fd = socket_listen_unix(path, SOCK_STREAM, &o, NULL);
                cr_assert_geq(fd, 0, "%s", strerror(-fd));
                cr_assert_eq(must_lstat(path).st_mode & 07777, modes[i], "mode %04o, want %04o",
                             must_lstat(path).st_mode & 07777, modes[i]);
                close(fd);
                free(path);
        }
        cr_assert_eq(umask(0022), 0077, "the umask was not restored");
}

Test(socket, owner_is_set_on_the_file)
{
        char *path = tu_path(dir, "owned.sock");
        struct socket_options o = defaults;
        uid_t uid = geteuid() == 0 ? 65534 : geteuid();
        gid_t gid = geteuid() == 0 ? 65534 : getegid();
        struct stat st;
        int fd;

        o.set_owner = true;
        o.socket_uid = uid;
        o.socket_gid = gid;
        fd = socket_listen_unix(path, SOCK_STREAM, &o, NULL);
        cr_assert_geq(fd, 0, "%s", strerror(-fd));
        st = must_lstat(path);
        cr_assert_eq(st.st_uid, uid);
        cr_assert_eq(st.st_gid, gid);
        close(fd);
        free(path);
}

Test(socket, unlink_removes_only_the_recorded_file)
{
        char *path = tu_path(dir, "u.sock"), *aside = tu_path(dir, "aside.sock");
        struct listen_addr a = unix_listen_addr(path);
        struct socket_file ours, none = {0};
        struct stat st;
        int fd = socket_listen(&a, SOCK_STREAM, &defaults, &ours), theirs;

        cr_assert_geq(fd, 0, "%s", strerror(-fd));
        close(fd);

        /*
         * Someone else's socket now has the name: not ours to remove. Ours is
         * renamed aside, not removed: a removed inode's number can be reused
         * at once, and dev/inode cannot tell such a successor from ours.
         */
        cr_assert_eq(rename(path, aside), 0);
        theirs = own_socket(path, SOCK_STREAM, true);
        st = must_lstat(path);
        socket_unlink(&a, &ours);
        cr_assert_eq(must_lstat(path).st_ino, st.st_ino, "someone else's socket was removed");
        close(theirs);
        socket_unlink(&a, &none);
        socket_unlink(&a, NULL);
        cr_assert_eq(must_lstat(path).st_ino, st.st_ino, "a file was removed without a record");
        cr_assert_eq(unlink(path), 0);

        /* A regular file under the name is never removed, whatever is recorded. */
        free(tu_write(dir, "u.sock", 0600, "x"));
        socket_unlink(&a, &ours);
        cr_assert(S_ISREG(must_lstat(path).st_mode));
        cr_assert_eq(unlink(path), 0);

        /* Our own file is. */
        fd = socket_listen(&a, SOCK_STREAM, &defaults, &ours);
        cr_assert_geq(fd, 0, "%s", strerror(-fd));
        socket_unlink(&a, &ours);
        cr_assert(lstat(path, &st) < 0 && errno == ENOENT, "our socket file is still there");
        close(fd);
        free(aside);
        free(path);
}

Test(socket, other_addresses_record_no_file)
{
        struct listen_addr a;
        const char *error = NULL;
        struct socket_file f = {.dev = 1, .ino = 1};
        char text[64];
        int fd;

        snprintf(text, sizeof(text), "unix:@superd-unit-%d", (int)getpid());
        cr_assert_eq(addr_parse(text, &a, &error), 0);
        fd = socket_listen(&a, SOCK_STREAM, &defaults, &f);
        cr_assert_geq(fd, 0, "%s", strerror(-fd));
        cr_assert_eq(f.ino, 0);
        socket_unlink(&a, &f); /* a no-op */
        close(fd);

        /* 127.0.0.1, port 0: any free port (addr_parse() takes 1..65535 only). */
        a = (struct listen_addr){.in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)},
                                 .len = sizeof(struct sockaddr_in)};
        f.ino = 1;
        fd = socket_listen(&a, SOCK_STREAM, &defaults, &f);
        cr_assert_geq(fd, 0, "%s", strerror(-fd));
        cr_assert_eq(f.ino, 0);
        close(fd);
}

/*
 * What socket_listen() binds for unix:/path and unix:@name is the address the
 * entry stands for: getsockname(2) of the socket, as activation_collect()
 * and an upgraded image see it, matches the entry and no other.
 */
Test(socket, unix_listeners_bind_the_address_they_stand_for)
{
        char *path = tu_path(dir, "bound.sock"), name[64];
        struct listen_addr file = unix_listen_addr(path), other = unix_listen_addr("/run/superd-other.sock");
        struct listen_addr abstract;
        const char *error = NULL;
        struct adopted_fd p[2];

        snprintf(name, sizeof(name), "unix:@superd-unit-bound-%d", (int)getpid());
        cr_assert_eq(addr_parse(name, &abstract, &error), 0);
        for (size_t i = 0; i < 2; i++) {
                const struct listen_addr *a = i == 0 ? &file : &abstract;
                p[i] = (struct adopted_fd){.type = SOCK_STREAM, .len = sizeof(p[i].sa)};
                p[i].fd = socket_listen(a, SOCK_STREAM, &defaults, NULL);
                cr_assert_geq(p[i].fd, 0, "%s", strerror(-p[i].fd));
                cr_assert_eq(getsockname(p[i].fd, (struct sockaddr *)&p[i].sa, &p[i].len), 0);
                cr_assert_eq(p[i].len, a->len, "bound %u bytes, the entry stands for %u", (unsigned)p[i].len,
                             (unsigned)a->len);
                cr_assert(activation_matches(&p[i], SOCK_STREAM, a));
                cr_assert_not(activation_matches(&p[i], SOCK_STREAM, i == 0 ? &abstract : &file));
                cr_assert_not(activation_matches(&p[i], SOCK_STREAM, &other));
        }
        cr_assert_eq(try_connect(path, SOCK_STREAM), 0, "nothing accepts on %s", path);
        close(p[0].fd);
        close(p[1].fd);
        unlink(path);
        free(path);
}

Test(socket, relative_path_in_the_current_folder)
{
        struct socket_file f;
        int fd;

        cr_assert_eq(chdir(dir), 0);
        fd = socket_listen_unix("rel.sock", SOCK_STREAM, &defaults, &f);
        cr_assert_geq(fd, 0, "%s", strerror(-fd));
        cr_assert_eq(must_lstat("rel.sock").st_ino, f.ino);
        socket_file_unlink("rel.sock", &f);
        cr_assert(access("rel.sock", F_OK) < 0 && errno == ENOENT);
        close(fd);
}
