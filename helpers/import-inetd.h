/* SPDX-License-Identifier: MIT */
/* inetd.conf in the OpenBSD/Debian (openbsd-inetd) format, read and translated into superd services. */
#pragma once

#include "import.h"

/*
 * True when TEXT (a whole file) looks like inetd.conf: its first line that
 * is not a comment has at least six fields with a socket type (stream,
 * dgram, raw, rdm, seqpacket) second, or it has update-inetd's "#<off>#"
 * lines or "#:LABEL:" section markers. Pure.
 */
bool imp_inetd_detect(const char *text);

/*
 * Translates inetd.conf TEXT (read from FILE, for reports; TEXT is modified)
 * and appends one service per entry to SET. The format is inetd(8) of
 * OpenBSD and Debian's openbsd-inetd:
 *
 *   [addr:]service  socket-type  protocol  wait|nowait[.max[.per-ip]]  user[:group|.group]  program|internal  argv...
 *
 * with tcp/udp and tcp4/udp4 meaning IPv4, tcp6/udp6 IPv6 only, tcp46/udp46
 * both on one socket; "addr:" alone on a line sets the address of the
 * entries after it ("*:" resets it); ".max" is inetd's limit of starts per
 * minute (default 256), after which the service rests ten minutes; lines
 * that update-inetd(8) switched off ("#<off># entry") are imported with
 * disable = yes; program /usr/sbin/tcpd is kept. Every field is translated
 * or reported through R as not translated (import.h).
 *
 * Returns 0, or -EINVAL after syntax errors (reported as FILE:LINE: message),
 * -ENOMEM.
 */
int imp_inetd_read(struct imp_set *set, char *text, const char *file, struct imp_report *r);
