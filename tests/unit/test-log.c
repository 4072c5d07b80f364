/* SPDX-License-Identifier: MIT */
/* Unit tests of log.c: every message is one line, on stderr and in the journal's MESSAGE=. */
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "log.h"
#include "util.h"

TestSuite(log);

/* log_escape() into a buffer of `size` bytes, checking its return value against strlen. */
static const char *esc(const char *s, size_t size)
{
        static char buf[256];
        size_t n;

        cr_assert_leq(size, sizeof(buf));
        memset(buf, 'Z', sizeof(buf));
        n = log_escape(buf, size, s);
        cr_assert_eq(n, strlen(buf), "returned %zu for \"%s\"", n, buf);
        cr_assert_lt(n, size);
        return buf;
}

Test(log, escape_control_characters)
{
        cr_assert_str_eq(esc("plain text: 1/2 \\ 'q' \"dq\"", 256), "plain text: 1/2 \\ 'q' \"dq\"");
        cr_assert_str_eq(esc("a\nb\rc\td", 256), "a\\nb\\rc\\td");
        cr_assert_str_eq(esc("\x1b[2J\x01\x1f\x7f", 256), "\\x1b[2J\\x01\\x1f\\x7f");
        cr_assert_str_eq(esc("UTF-8: \xc3\xbc \xe2\x82\xac", 256), "UTF-8: \xc3\xbc \xe2\x82\xac");
        cr_assert_str_eq(esc("", 256), "");
}

/* A cut never leaves half an escape: "\x1" or a lone '\' could join what follows. */
Test(log, escape_cuts_whole_characters)
{
        cr_assert_str_eq(esc("abc", 1), "");
        cr_assert_str_eq(esc("abc", 3), "ab");
        cr_assert_str_eq(esc("a\nb", 3), "a");
        cr_assert_str_eq(esc("a\nb", 4), "a\\n");
        cr_assert_str_eq(esc("a\x1b", 5), "a");
        cr_assert_str_eq(esc("a\x1b", 6), "a\\x1b");
}

/* Run log_ctx_msg() with fd 2 on a file; returns what was written (malloc'd). */
static char *stderr_of(int level, const struct log_ctx *ctx, const char *msg)
{
        char path[] = "/tmp/superd-unit-log.XXXXXX";
        int fd = mkstemp(path), saved = dup(STDERR_FILENO);
        char *text = malloc(8192);
        ssize_t n;

        cr_assert(fd >= 0 && saved >= 0 && text);
        unlink(path);
        unsetenv("JOURNAL_STREAM");
        log_open(false);
        cr_assert(!log_uses_journal());
        fflush(stderr);
        cr_assert(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
        log_ctx_msg(level, ctx, "%s", msg);
        fflush(stderr);
        cr_assert(dup2(saved, STDERR_FILENO) == STDERR_FILENO);
        close(saved);
        n = pread(fd, text, 8191, 0);
        cr_assert(n >= 0);
        text[n] = '\0';
        close(fd);
        return text;
}

/* A newline from a configured string (an exec path, a listen address) forged a "superd: ready" line. */
Test(log, stderr_line_is_one_line)
{
        const struct log_ctx ctx = { .service = "svc\nsuperd: ready: 1 service(s)" };
        char *out = stderr_of(LOG_ERR, &ctx, "cannot listen on unix:/x\nsuperd: ready: 9\r\x1b[2K");

        cr_assert_str_eq(out, "superd: svc\\nsuperd: ready: 1 service(s): "
                              "cannot listen on unix:/x\\nsuperd: ready: 9\\r\\x1b[2K\n");
        free(out);
        out = stderr_of(LOG_ERR, NULL, "no context\x7f");
        cr_assert_str_eq(out, "superd: no context\\x7f\n");
        free(out);
}

/* A message longer than the line buffer is cut, and still ends in one '\n'. */
Test(log, stderr_long_line_is_cut)
{
        char msg[1100];
        char *out;

        memset(msg, '\n', sizeof(msg) - 1);
        msg[sizeof(msg) - 1] = '\0';
        out = stderr_of(LOG_ERR, NULL, msg);
        cr_assert_eq(tu_count_lines(out), 1, "%zu bytes", strlen(out));
        cr_assert_eq(out[strlen(out) - 1], '\n');
        cr_assert_eq(strchr(out, '\n'), out + strlen(out) - 1);
        free(out);
}

/*
 * The value of FIELD in one native journal datagram: "FIELD=value\n", or
 * "FIELD\n" + 64-bit little-endian length + value + "\n" for a value that
 * holds a newline. Sets *ret_binary to which form was used. Returns a
 * malloc'd copy of the value, or NULL if the field is missing.
 */
static char *journal_field(const char *dgram, size_t len, const char *field, bool *ret_binary)
{
        size_t flen = strlen(field);

        for (size_t i = 0; i < len;) {
                const char *p = dgram + i;
                const char *nl = memchr(p, '\n', len - i);
                const char *eq = memchr(p, '=', len - i);

                cr_assert_not_null(nl, "malformed datagram");
                if (eq && eq < nl) {
                        if ((size_t)(eq - p) == flen && memcmp(p, field, flen) == 0) {
                                *ret_binary = false;
                                return strndup(eq + 1, (size_t)(nl - eq - 1));
                        }
                        i = (size_t)(nl - dgram) + 1;
                        continue;
                }
                /* Binary form: NAME\n, le64 size, data, \n. */
                uint64_t n = 0;
                const unsigned char *q = (const unsigned char *)nl + 1;
                for (int b = 7; b >= 0; b--)
                        n = n << 8 | q[b];
                if ((size_t)(nl - p) == flen && memcmp(p, field, flen) == 0) {
                        *ret_binary = true;
                        return strndup((const char *)q + 8, n);
                }
                i = (size_t)(nl - dgram) + 1 + 8 + n + 1;
        }
        return NULL;
}

/*
 * With a fake journald socket (in a private mount namespace: root only),
 * MESSAGE= is one line in the simple KEY=VALUE form, while SUPERD_SERVICE=
 * keeps the exact value, framed by its length.
 */
Test(log, journal_message_is_one_line)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = "/run/systemd/journal/socket" };
        const struct log_ctx ctx = { .service = "svc\nMESSAGE=forged", .pid = 42 };
        char dgram[65536], *v;
        bool binary;
        ssize_t n;
        int fd;

        if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("tmpfs", "/run", "tmpfs", 0, "mode=0755") < 0)
                cr_skip_test("needs root and a private mount namespace (%s)", strerror(errno));
        cr_assert(mkdir("/run/systemd", 0755) == 0 && mkdir("/run/systemd/journal", 0755) == 0);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        cr_assert(fd >= 0);
        cr_assert(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind: %s", strerror(errno));

        unsetenv("JOURNAL_STREAM");
        log_open(true);
        cr_assert(log_uses_journal());
        log_ctx_msg(LOG_WARNING, &ctx, "exec /x\ny\x1b[0m failed");
        n = recv(fd, dgram, sizeof(dgram), MSG_DONTWAIT);
        cr_assert(n > 0, "nothing sent to the journal socket: %s", strerror(errno));

        v = journal_field(dgram, (size_t)n, "MESSAGE", &binary);
        cr_assert_not_null(v, "no MESSAGE field");
        cr_assert(!binary, "MESSAGE holds a newline: \"%s\"", v);
        cr_assert_str_eq(v, "svc\\nMESSAGE=forged: exec /x\\ny\\x1b[0m failed");
        free(v);
        v = journal_field(dgram, (size_t)n, "SUPERD_SERVICE", &binary);
        cr_assert_not_null(v, "no SUPERD_SERVICE field");
        cr_assert_str_eq(v, "svc\nMESSAGE=forged", "the structured field keeps the exact value");
        free(v);
        v = journal_field(dgram, (size_t)n, "PRIORITY", &binary);
        cr_assert_str_eq(v, "4");
        free(v);
        v = journal_field(dgram, (size_t)n, "HANDLER_PID", &binary);
        cr_assert_str_eq(v, "42");
        free(v);
        close(fd);
}
