/* SPDX-License-Identifier: MIT */
/*
 * HAProxy's PROXY protocol, versions 1 and 2 (doc/proxy-protocol.txt): the
 * pure parser of the header a load balancer puts in front of a stream. No
 * socket, no allocation: proxy-wait.c peeks, calls proxy_parse() and consumes
 * exactly the header's bytes.
 */
#pragma once

#include <stddef.h>
#include <sys/socket.h>

/* Longest v1 header: 107 bytes, "\r\n" included (proxy-protocol.txt 2.1). */
#define PROXY_V1_MAX 107
/*
 * Longest v2 header superd accepts: 16-byte preamble + addresses + TLVs
 * (superd's bound; HAProxy's own headers with TLVs stay well below).
 */
#define PROXY_V2_MAX 1024
/* A buffer of this many bytes holds any header superd accepts. */
#define PROXY_HEADER_MAX PROXY_V2_MAX

/* A set: the versions a service accepts (proxy-protocol = v1 | v2 | any). */
enum proxy_version { PROXY_V1 = 1 << 0, PROXY_V2 = 1 << 1 };

enum proxy_command {
        PROXY_CMD_PROXY, /* addresses in source/destination (AF_INET or AF_INET6) */
        PROXY_CMD_LOCAL, /* v2 LOCAL: the balancer's own connection (health checks); no addresses */
        /* v1 UNKNOWN, or v2 PROXY with a family superd does not use (UNSPEC, UNIX, UDP): keep the balancer's
         * addresses */
        PROXY_CMD_UNKNOWN,
};

struct proxy_header {
        size_t length; /* bytes of the whole header: the caller consumes exactly these */
        int version;   /* 1 or 2 */
        enum proxy_command command;
        struct sockaddr_storage source, destination; /* PROXY_CMD_PROXY only: ports set, families AF_INET or AF_INET6 */
        /* v2 PP2_TYPE_AUTHORITY (SNI / host name) when printable ASCII, else ""; "" if absent */
        char authority[256];
        /* v2 PP2_TYPE_UNIQUE_ID: as is when printable ASCII, else lower-case hex; "" if absent */
        char unique_id[2 * 128 + 1];
};

/*
 * Parse the first `len` bytes of a connection's stream (what MSG_PEEK
 * returned). Returns the header's length (> 0) and fills *ret when `buf`
 * starts with a complete header of a version in `versions`; 0 when `buf` is
 * a proper prefix of a header that may still become valid (read more);
 * -EBADMSG when it cannot be a valid header of an accepted version
 * (including a v1 line without CRLF within PROXY_V1_MAX, bad numbers or
 * addresses, a v2 length that disagrees with its family's address block,
 * a TLV that overruns the header); -EMSGSIZE when a v2 header states a
 * length over PROXY_V2_MAX. Never reads past len; pure (no allocation, no I/O).
 *
 * Details the specification leaves open, decided here:
 *  - v1: ports and IPv4 numbers without leading zeros ("0" itself is fine),
 *    as proxy-protocol.txt 2.1 demands; addresses through inet_pton(3).
 *    After "UNKNOWN" anything but CR and LF may follow up to the CRLF; a CR
 *    or LF that is not part of the first CRLF is malformed.
 *  - v2 PROXY: the family byte must be one of those the specification lists
 *    (0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32); TLVs are read after the
 *    address block of the IPv4, IPv6 and UNIX families, and must fill the
 *    rest of the header exactly. UNSPEC (0x00) has no known address block:
 *    its bytes, whatever they are, are skipped and no TLV is read.
 *  - v2 LOCAL: the family byte and every byte after the preamble are
 *    ignored (the specification: "discard the protocol block including the
 *    family"), so authority and unique_id are "".
 *  - TLVs: the first AUTHORITY and the first UNIQUE_ID count; an AUTHORITY
 *    over 255 bytes or not printable gives ""; a UNIQUE_ID over 128 bytes is
 *    malformed (proxy-protocol.txt 2.2.5). CRC32C is not checked.
 *  - An empty buffer gives 0; `versions` without PROXY_V1 and PROXY_V2 gives
 *    -EBADMSG for anything.
 *
 * On any return but > 0, *ret is left untouched; ret may be NULL (only
 * checks).
 */
int proxy_parse(const void *buf, size_t len, unsigned versions, struct proxy_header *ret);
