/* SPDX-License-Identifier: MIT */
/* Unit tests of fdstore.c: the names listeners get in systemd's fd store, and of upgrade.c's choice of binary. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "addr.h"
#include "fdstore.h"
#include "upgrade.h"

static char *name_of(const char *text, int type, char *buf)
{
        struct listen_addr a;
        const char *why = NULL;

        cr_assert_eq(addr_parse(text, &a, &why), 0, "addr_parse(%s): %s", text, why ? why : "?");
        return fdstore_name(&a, type, buf, FDSTORE_NAME_MAX);
}

/* systemd's fdname_is_valid(): printable ASCII but ':', at most 255 characters. */
static bool valid(const char *n)
{
        if (!*n || strlen(n) > 255)
                return false;
        for (; *n; n++)
                if (*n < ' ' || *n > '~' || *n == ':')
                        return false;
        return true;
}

Test(fdstore, names_are_valid_stable_and_distinct)
{
        static const char *const addrs[] = {"127.0.0.1:7", "127.0.0.1:8",   "[::1]:7",       "*:7",
                                            "[::]:7",      "unix:/run/a:b", "unix:/run/a_b", "unix:@abstract"};
        char names[2 * 8][FDSTORE_NAME_MAX], again[FDSTORE_NAME_MAX];

        for (size_t i = 0; i < 8; i++) {
                name_of(addrs[i], SOCK_STREAM, names[2 * i]);
                name_of(addrs[i], SOCK_DGRAM, names[2 * i + 1]);
                cr_assert(valid(names[2 * i]), "invalid name %s", names[2 * i]);
                cr_assert(strncmp(names[2 * i], FDSTORE_NAME_PREFIX, strlen(FDSTORE_NAME_PREFIX)) == 0);
                cr_assert_str_eq(name_of(addrs[i], SOCK_STREAM, again), names[2 * i], "not stable");
        }
        for (size_t i = 0; i < 16; i++)
                for (size_t j = i + 1; j < 16; j++)
                        cr_assert_str_neq(names[i], names[j], "two identities share the name %s", names[i]);
        cr_assert(strncmp(names[0], "superd-tcp-127.0.0.1_7", 22) == 0, "%s", names[0]);
        cr_assert(strncmp(names[1], "superd-udp-127.0.0.1_7", 22) == 0, "%s", names[1]);
}

/*
 * systemd keeps the stored sockets under these names across a restart, and
 * the next image looks them up by name: a name must never change, the hash
 * included (it covers the socket address as bind(2) gets it). Pinned.
 */
Test(fdstore, names_are_pinned)
{
        char buf[FDSTORE_NAME_MAX];

        cr_assert_str_eq(name_of("127.0.0.1:7", SOCK_STREAM, buf), "superd-tcp-127.0.0.1_7-c7cf3180dfe677fd");
        cr_assert_str_eq(name_of("*:7", SOCK_DGRAM, buf), "superd-udp-*[__]_7-45a00bca3e55037f");
        cr_assert_str_eq(name_of("[::1]:7", SOCK_STREAM, buf), "superd-tcp-[__1]_7-6af40ef83ef48e78");
        cr_assert_str_eq(name_of("unix:/run/superd/x.sock", SOCK_STREAM, buf),
                         "superd-unix-unix__run_superd_x.sock-8fcc2f2997e40742");
        cr_assert_str_eq(name_of("unix:/run/a:b", SOCK_DGRAM, buf), "superd-unix-dgram-unix__run_a_b-c466321a177597ac");
        cr_assert_str_eq(name_of("unix:@superd/abs", SOCK_SEQPACKET, buf),
                         "superd-unix-seqpacket-unix_@superd_abs-808537a8e47700a1");
        cr_assert_str_eq(name_of("unix:@abstract", SOCK_STREAM, buf), "superd-unix-unix_@abstract-673da69150ad3ac9");
}

Test(fdstore, long_unix_path_fits)
{
        char path[120], buf[FDSTORE_NAME_MAX];

        memset(path, 'x', sizeof(path));
        memcpy(path, "unix:/", 6);
        path[sizeof(path) - 14] = '\0';
        name_of(path, SOCK_STREAM, buf);
        cr_assert(valid(buf), "%s", buf);
}

Test(upgrade, binary_rule)
{
        char buf[PATH_MAX];

        cr_assert_str_eq(upgrade_binary("/bin/sh"), "/bin/sh", "an executable start path is used");
        cr_assert_str_eq(upgrade_binary("/nonexistent/superd"), "/proc/self/exe", "a missing one falls back");
        cr_assert_str_eq(upgrade_binary(NULL), "/proc/self/exe");
        cr_assert_str_eq(upgrade_resolve_self("/usr/sbin/superd", buf), "/usr/sbin/superd");
        setenv("PATH", "/nonexistent:/bin", 1);
        cr_assert_str_eq(upgrade_resolve_self("sh", buf), "/bin/sh", "found through PATH");
        cr_assert_null(upgrade_resolve_self("no-such-program-here", buf));
        cr_assert_eq(chdir("/usr"), 0);
        cr_assert_str_eq(upgrade_resolve_self("bin/env", buf), "/usr/bin/env", "relative to the folder");
}
