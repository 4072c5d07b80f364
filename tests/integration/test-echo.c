/* SPDX-License-Identifier: MIT */
/* Echo through /bin/cat: a connection reaches its handler and back, on IPv4 and IPv6, without truncation. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

TestSuite(echo, .init = h_setup, .fini = h_teardown, .timeout = 60);

/* A 1 MiB payload: well above any socket buffer, so a handler that stops early or a half-close that loses data shows. */
#define BIG (1024 * 1024)

/* Write the drop-in with explicit listen entries (LISTEN is the inside of the braces). */
static void cat_dropin(const char *name, const char *listen)
{
        h_main_conf(NULL);
        h_dropin("echo.conf",
                 "service %s {\n"
                 "    listen = { %s }\n"
                 "    exec   = { \"/bin/cat\" }\n"
                 "    user   = \"%s\"\n"
                 "}\n",
                 name, listen, H.user);
}

/* One line through the service on FAMILY, PORT comes back unchanged. */
static void expect_echo_line(int family, uint16_t port, const char *line)
{
        char *out;
        ssize_t n = h_request(family, port, line, &out);

        h_assert(n >= 0, "request to %s port %u failed: %s", family == AF_INET ? "127.0.0.1" : "::1", port,
                 strerror((int)-n));
        h_assert(strcmp(out, line) == 0, "sent \"%s\", got %zd bytes \"%s\"", line, n, out);
        free(out);
}

/* BIG bytes through the service on FAMILY, PORT come back unchanged. */
static void expect_echo_big(int family, uint16_t port)
{
        char *in = malloc(BIG), *out;
        uint32_t x = 2463534242u;
        int fd;
        ssize_t n;

        cr_assert(in != NULL);
        /* xorshift: deterministic, every byte value, no repeating block a lost chunk could hide behind. */
        for (size_t i = 0; i < BIG; i++) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                in[i] = (char)(x >> 24);
        }
        fd = h_connect(family, port);
        h_assert(fd >= 0, "connect to port %u: %s", port, strerror(-fd));
        n = h_exchange(fd, in, BIG, &out, 30000);
        close(fd);
        h_assert(n == BIG, "sent %d bytes, got back %zd (%s)", BIG, n, n < 0 ? strerror((int)-n) : "short");
        for (size_t i = 0; i < BIG; i++)
                h_assert(in[i] == out[i], "echoed payload differs first at byte %zu of %d", i, BIG);
        free(in);
        free(out);
}

Test(echo, ipv4)
{
        uint16_t port = h_free_port();
        char listen[64];

        snprintf(listen, sizeof(listen), "\"127.0.0.1:%u\"", port);
        cat_dropin("echo4", listen);
        h_start(NULL, AF_INET, port, 0);
        expect_echo_line(AF_INET, port, "hello over IPv4\n");
}

Test(echo, ipv6)
{
        uint16_t port = h_free_port();
        char listen[64];

        snprintf(listen, sizeof(listen), "\"[::1]:%u\"", port);
        cat_dropin("echo6", listen);
        h_start(NULL, AF_INET6, port, 0);
        expect_echo_line(AF_INET6, port, "hello over IPv6\n");
}

Test(echo, both_families_one_service)
{
        uint16_t port = h_free_port();
        char listen[96];

        snprintf(listen, sizeof(listen), "\"127.0.0.1:%u\", \"[::1]:%u\"", port, port);
        cat_dropin("echo46", listen);
        h_start(NULL, AF_INET, port, AF_INET6, port, 0);
        expect_echo_line(AF_INET, port, "first v4\n");
        expect_echo_line(AF_INET6, port, "then v6\n");
        expect_echo_line(AF_INET, port, "and v4 again\n");
}

Test(echo, empty_input_gives_empty_output)
{
        uint16_t port = h_free_port();
        char listen[64];

        snprintf(listen, sizeof(listen), "\"127.0.0.1:%u\"", port);
        cat_dropin("echo-empty", listen);
        h_start(NULL, AF_INET, port, 0);
        expect_echo_line(AF_INET, port, "");
}

Test(echo, one_mebibyte_ipv4)
{
        uint16_t port = h_free_port();
        char listen[64];

        snprintf(listen, sizeof(listen), "\"127.0.0.1:%u\"", port);
        cat_dropin("echo-big4", listen);
        h_start(NULL, AF_INET, port, 0);
        expect_echo_big(AF_INET, port);
}

Test(echo, one_mebibyte_ipv6)
{
        uint16_t port = h_free_port();
        char listen[64];

        snprintf(listen, sizeof(listen), "\"[::1]:%u\"", port);
        cat_dropin("echo-big6", listen);
        h_start(NULL, AF_INET6, port, 0);
        expect_echo_big(AF_INET6, port);
}
