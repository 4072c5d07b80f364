/* SPDX-License-Identifier: MIT */
/* Single configuration values: the words, numbers and names that a key accepts, and their printed forms. Pure. */
#include "config-values.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/* PROXY_*: set per connection of a proxy-protocol service (env.c). */
static const char *const reserved_vars[] = {
    "PATH",           "SUPERD_SERVICE", "PROTO",         "TCPREMOTEIP",     "TCPREMOTEPORT",   "TCPLOCALIP",
    "TCPLOCALPORT",   "REMOTE_ADDR",    "REMOTE_PORT",   "NOTIFY_SOCKET",   "LISTEN_PID",      "LISTEN_FDS",
    "LISTEN_FDNAMES", "WATCHDOG_PID",   "WATCHDOG_USEC", "PROXY_PEER_ADDR", "PROXY_AUTHORITY", "PROXY_UNIQUE_ID",
};

/* proxy-protocol words, indexed by the set of versions: 1 = PROXY_V1, 2 = PROXY_V2 (proxy.h), 3 = both. */
static const char *const proxy_protocol_names[] = {"no", "v1", "v2", "any"};

static const char *const socket_type_names[] = {
    [SOCK_STREAM] = "stream",
    [SOCK_DGRAM] = "dgram",
    [SOCK_SEQPACKET] = "seqpacket",
};

static const char *const stderr_mode_names[] = {
    [STDERR_LOG] = "log",
    [STDERR_SOCKET] = "socket",
    [STDERR_NULL] = "null",
};

int value_socket_type(const char *s)
{
        for (size_t i = 0; i < ELEMENTS(socket_type_names); i++)
                if (socket_type_names[i] && strcmp(s, socket_type_names[i]) == 0)
                        return (int)i;
        return -EINVAL;
}

const char *value_socket_type_name(int type)
{
        return type >= 0 && (size_t)type < ELEMENTS(socket_type_names) ? socket_type_names[type] : NULL;
}

int value_stderr_mode(const char *s)
{
        for (size_t i = 0; i < ELEMENTS(stderr_mode_names); i++)
                if (strcmp(s, stderr_mode_names[i]) == 0)
                        return (int)i;
        return -EINVAL;
}

const char *value_stderr_mode_name(enum stderr_mode m)
{
        return m == STDERR_SOCKET ? "socket" : m == STDERR_NULL ? "null" : "log";
}

int value_proxy_protocol(const char *s)
{
        for (size_t i = 0; i < ELEMENTS(proxy_protocol_names); i++)
                if (strcmp(s, proxy_protocol_names[i]) == 0)
                        return (int)i;
        return -EINVAL;
}

const char *value_proxy_protocol_name(unsigned versions)
{
        return versions < ELEMENTS(proxy_protocol_names) ? proxy_protocol_names[versions] : NULL;
}

int value_proxy_health(const char *s)
{
        return strcmp(s, "spawn") == 0 ? 0 : strcmp(s, "close") == 0 ? 1 : -EINVAL;
}

const char *value_proxy_health_name(bool close)
{
        return close ? "close" : "spawn";
}

int value_rate(const char *s, unsigned *ret)
{
        char *end;
        unsigned long v;

        if (!isdigit((unsigned char)s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || v > CONFIG_COUNT_MAX || (*end && strcmp(end, "/s") != 0))
                return -EINVAL;
        *ret = (unsigned)v;
        return 0;
}

int value_mode(const char *s, mode_t *ret)
{
        unsigned long v;

        if (!*s || strspn(s, "01234567") != strlen(s))
                return -EINVAL;
        v = strtoul(s, NULL, 8); /* octal digits only: cannot fail, and 0777 is checked below */
        if (v > 0777)
                return -EINVAL;
        *ret = (mode_t)v;
        return 0;
}

bool value_env_name(const char *s, size_t len)
{
        if (len == 0 || isdigit((unsigned char)s[0]))
                return false;
        for (size_t i = 0; i < len; i++)
                if (!isalnum((unsigned char)s[i]) && s[i] != '_')
                        return false;
        return true;
}

bool value_reserved_var(const char *s, size_t len)
{
        for (size_t i = 0; i < ELEMENTS(reserved_vars); i++)
                if (strlen(reserved_vars[i]) == len && strncmp(reserved_vars[i], s, len) == 0)
                        return true;
        return false;
}

bool value_service_name(const char *name)
{
        if (!*name)
                return false;
        for (const char *p = name; *p; p++)
                if (!isalnum((unsigned char)*p) && !strchr("-_.@", *p))
                        return false;
        return true;
}
