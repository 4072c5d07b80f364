/* SPDX-License-Identifier: MIT */
/*
 * The protocols of the inetd internal services, without any socket: their
 * names, the answers of chargen (RFC 864), daytime (RFC 867) and time
 * (RFC 868), and which datagrams must not be answered. Pure functions, no
 * event loop: config.h includes this header for `enum builtin`.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

/* The `builtin` key of a service (DESIGN.md §4). BUILTIN_NONE: the service runs `exec`. */
enum builtin {
        BUILTIN_NONE = 0,
        BUILTIN_ECHO,    /* RFC 862 */
        BUILTIN_DISCARD, /* RFC 863 */
        BUILTIN_CHARGEN, /* RFC 864 */
        BUILTIN_DAYTIME, /* RFC 867 */
        BUILTIN_TIME,    /* RFC 868 */
};

/* Bytes of one chargen line: 72 printable characters and "\r\n". */
#define BUILTIN_CHARGEN_LINE 74
/* The chargen stream repeats after 95 lines (one per printable ASCII character): 7030 bytes. */
#define BUILTIN_CHARGEN_PERIOD (95 * BUILTIN_CHARGEN_LINE)
/* Buffer size that builtin_daytime_format() needs: "Sat Nov 21 12:34:56 2026\r\n" and a NUL. */
#define BUILTIN_DAYTIME_SIZE 27

/* "echo", "discard", "chargen", "daytime" or "time" to its enum; BUILTIN_NONE for anything else (also NULL). */
enum builtin builtin_from_name(const char *name);

/* The configuration name of `b` ("echo", ...); NULL for BUILTIN_NONE or an unknown value. */
const char *builtin_name(enum builtin b);

/*
 * Two periods of the chargen stream (2 * BUILTIN_CHARGEN_PERIOD bytes), made
 * at the first call and never freed: a send of up to one period from any
 * position p < BUILTIN_CHARGEN_PERIOD reads stream + p without wrapping.
 */
const char *builtin_chargen_stream(void);

/*
 * Fill `buf` with `size` bytes of the RFC 864 chargen stream, starting at
 * position *offset and advancing it. The stream: lines of 72 of the 95
 * printable ASCII characters (' ' to '~'), each line starting one character
 * later than the one before, each ending in "\r\n"; it repeats after
 * BUILTIN_CHARGEN_PERIOD bytes, so *offset is kept below that (any value is
 * accepted and taken modulo the period). Returns size.
 */
size_t builtin_chargen_fill(char *buf, size_t size, size_t *offset);

/* RFC 868 time of `now` (seconds since 1970, UTC): seconds since 1900-01-01 00:00 UTC, mod 2^32, host order. */
uint32_t builtin_time_value(time_t now);

/*
 * RFC 867 daytime of `now`, as BSD inetd answers it: ctime(3) in superd's
 * local time zone (TZ, /etc/localtime) with "\r\n", e.g.
 * "Sat Nov 21 12:34:56 2026\r\n" (26 characters), NUL-terminated in buf.
 * Returns the length without the NUL, or 0 if size < BUILTIN_DAYTIME_SIZE or
 * the year does not fit in 4 digits (buf is then "" if size > 0).
 */
size_t builtin_daytime_format(time_t now, char *buf, size_t size);

/*
 * True if the IPv4 address `a` (host order) is not one host's: 0.0.0.0,
 * 255.255.255.255 or multicast. Such a source is not answered, and such a
 * destination is not answered from.
 */
bool builtin_v4_not_unicast(uint32_t a);

/*
 * True if a datagram from `from` must not be answered, because the answer
 * could start a loop between two such services or be reflected to many:
 * for AF_INET and AF_INET6 (IPv4-mapped too), a source port below 1024 or
 * equal to one of ports[0..n_ports) (host order), as BSD inetd does, or an
 * unspecified, broadcast or multicast source address, as OpenBSD inetd does.
 * Other families give false (AF_UNIX: the kernel sets the source address,
 * it cannot be forged); NULL gives true (there is nobody to answer).
 */
bool builtin_dgram_reflects(const struct sockaddr *from, const uint16_t *ports, size_t n_ports);
