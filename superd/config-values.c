/* SPDX-License-Identifier: MIT */
/* Single configuration values: the words, numbers and names that a key accepts, and their printed forms. Pure. */
#include "config-values.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/* PROXY_*: set per connection of a proxy-protocol service (env.c). */
static const char *const reserved_vars[] = {
    "PATH",           "SUPERD_SERVICE", "PROTO",         "TCPREMOTEIP",     "TCPREMOTEPORT",   "TCPLOCALIP",
    "TCPLOCALPORT",   "REMOTE_ADDR",    "REMOTE_PORT",   "REMOTE_HOST",   "NOTIFY_SOCKET",   "LISTEN_PID",      "LISTEN_FDS",
    "LISTEN_FDNAMES", "WATCHDOG_PID",   "WATCHDOG_USEC", "PROXY_PEER_ADDR", "PROXY_AUTHORITY", "PROXY_UNIQUE_ID",
    "SUPERD_WORKER",
};

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
